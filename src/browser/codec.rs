//! The browser side of the wire codec: frames stay JS strings and payloads stay JS values. A
//! received frame is parsed once with `JSON.parse` (in glue.js's `readFrame`); the shared codec
//! in `crate::protocol::codec` reads its fields. Plain and room messages, the hot path, are
//! checked and read in glue.js instead (see `Driver::on_socket_event`).

use super::glue::{current_frame, encode_frame, frame_size, raw_frame, utf8_length};
use crate::core::{Transmit, WireSize};
use crate::protocol::codec::{
    decode_server_frame, encode_client_frame, ClientFrame, DecodeError, FrameClass, ServerFrame,
};
use crate::protocol::Kind;
use js_sys::JsString;
use wasm_bindgen::prelude::*;
#[cfg(feature = "docs")]
use {crate::core::OpFrame, crate::doc::Op};

#[wasm_bindgen]
extern "C" {
    // Takes and returns JS values so the text never crosses into WASM memory.
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn json_parse(text: &JsValue) -> Result<JsValue, JsValue>;
}

/// An encoded frame (a JS string, or binary in raw mode) and its size in bytes, measured once.
#[derive(Clone)]
pub struct JsFrame {
    pub text: JsValue,
    size: usize,
}

impl JsFrame {
    pub fn new(text: JsString) -> Self {
        let size = utf8_length(&text) as usize;
        JsFrame {
            text: text.into(),
            size,
        }
    }

    /// Raw mode: `data` as it goes on the wire (see `rawFrame` in glue.js). Fails with the JS
    /// error when it has no JSON form.
    pub fn raw(data: &JsValue) -> Result<Self, JsValue> {
        raw_frame(data).map(JsFrame::sized)
    }

    /// A frame already as it goes on the wire (a string or binary), measured.
    pub fn sized(text: JsValue) -> Self {
        let size = frame_size(&text) as usize;
        JsFrame { text, size }
    }

    /// A user message (`msg`, `broadcast`, `publish`) carrying `payload`: the hot path, built
    /// and stringified by glue.js in one call. Fails with the JS error when the payload cannot
    /// be serialised (a BigInt, a cycle).
    pub fn user(kind: Kind, room: Option<&str>, payload: &JsValue) -> Result<Self, JsValue> {
        encode_frame(kind.as_wire(), room, payload).map(JsFrame::new)
    }

    /// Any client frame, encoded by the shared codec. Fails with the JS error when a payload
    /// cannot be serialised.
    pub fn client(frame: ClientFrame<'_, JsValue>) -> Result<Self, JsValue> {
        stringify(&encode_client_frame(frame)).map(JsFrame::new)
    }

    /// The value this frame's text encodes (for metadata kept as JSON text).
    pub fn parse(&self) -> JsValue {
        json_parse(&self.text).unwrap_or(JsValue::NULL)
    }
}

#[cfg(feature = "docs")]
impl OpFrame<JsValue> for JsFrame {
    fn op_frame(doc: &str, cseq: u64, origin: &str, op: &Op<JsValue>) -> Option<Self> {
        let frame = ClientFrame::Op {
            doc,
            cseq,
            origin,
            op,
        };
        JsFrame::client(frame).ok()
    }
}

impl WireSize for JsFrame {
    fn wire_size(&self) -> usize {
        self.size
    }
}

fn stringify(value: &JsValue) -> Result<JsString, JsValue> {
    js_sys::JSON::stringify(value)
}

/// The frame to send for a transmit.
pub fn encode(transmit: &Transmit<JsFrame>) -> JsValue {
    let frame = match transmit {
        Transmit::User { frame, .. } | Transmit::Raw(frame) => return frame.text.clone(),
        Transmit::Hello(hello) => ClientFrame::Hello(hello),
        Transmit::Ping { id } => ClientFrame::Ping { id: *id },
        Transmit::Pong { id } => ClientFrame::Pong { id: *id },
        Transmit::Join {
            id,
            room,
            since,
            epoch,
            history,
            meta,
        } => ClientFrame::Join {
            id: *id,
            room,
            since: *since,
            epoch: epoch.as_deref(),
            history: *history,
            meta: meta.as_ref().map(JsFrame::parse),
        },
        Transmit::Leave { id, room } => ClientFrame::Leave { id: *id, room },
        #[cfg(feature = "docs")]
        Transmit::Sync {
            id,
            doc,
            since,
            epoch,
        } => ClientFrame::Sync {
            id: *id,
            doc,
            since: *since,
            epoch: epoch.as_deref(),
        },
        #[cfg(feature = "docs")]
        Transmit::Unsync { id, doc } => ClientFrame::Unsync { id: *id, doc },
        Transmit::Refresh { id, token } => ClientFrame::Refresh { id: *id, token },
        Transmit::Presence { room, meta } => ClientFrame::Presence {
            room,
            meta: meta.parse(),
        },
    };
    // Control frames hold only strings, numbers and metadata that was JSON already.
    stringify(&encode_client_frame(frame))
        .unwrap_or_else(|_| JsString::from("{}"))
        .into()
}

/// Decodes the frame `readFrame` (glue.js) just read and classified as `class`. Plain and room
/// messages do not come here: the driver hands their few fields, read in JS, to the core.
pub fn decode(class: i32) -> Result<ServerFrame<JsValue>, DecodeError> {
    let class = FrameClass::from_code(class).unwrap_or(FrameClass::NotJson);
    if let Some(error) = class.malformed() {
        return Err(error);
    }
    decode_server_frame(&current_frame())
}
