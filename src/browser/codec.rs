//! Browser codec: frames stay JS strings and payloads stay JS values. A received frame is parsed
//! once with `JSON.parse`; only the envelope's small fields cross into Rust.

use crate::core::{Inbound, Transmit, WireSize};
use crate::protocol::{ErrorBody, ErrorCode, Kind};
use js_sys::{JsString, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    // Take and return JS values so the text never crosses into WASM memory.
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn json_parse(text: &JsValue) -> Result<JsValue, JsValue>;
}

/// An encoded user frame and its length, measured once.
#[derive(Clone)]
pub struct JsFrame {
    pub text: JsString,
    size: usize,
}

impl JsFrame {
    pub fn new(text: JsString) -> Self {
        let size = text.length() as usize;
        JsFrame { text, size }
    }
}

impl WireSize for JsFrame {
    fn wire_size(&self) -> usize {
        self.size
    }
}

/// Envelope field names, created once instead of per frame.
pub struct Keys {
    kind: JsValue,
    /// The `msg` kind as a JS string: the hot path compares handles instead of copying text.
    msg: JsValue,
    id: JsValue,
    payload: JsValue,
    error: JsValue,
    code: JsValue,
    message: JsValue,
}

impl Keys {
    pub fn new() -> Self {
        Keys {
            kind: "kind".into(),
            msg: Kind::Msg.as_wire().into(),
            id: "id".into(),
            payload: "payload".into(),
            error: "error".into(),
            code: "code".into(),
            message: "message".into(),
        }
    }
}

/// Encodes a control frame. User frames are encoded when `send` is called (see `JsFrame`).
pub fn encode_control(transmit: &Transmit<JsFrame>) -> Option<String> {
    Some(match transmit {
        Transmit::Hello(hello) => format!(
            r#"{{"kind":"hello","payload":{{"version":{}}}}}"#,
            hello.version
        ),
        Transmit::Ping { id } => format!(r#"{{"kind":"ping","id":{id}}}"#),
        Transmit::Pong { id } => format!(r#"{{"kind":"pong","id":{id}}}"#),
        Transmit::User(_) => return None,
    })
}

/// Decodes one text frame; the error is a human-readable reason.
pub fn decode(keys: &Keys, text: &JsValue) -> Result<Inbound<JsValue>, String> {
    let frame = json_parse(text).map_err(|_| "frame is not valid JSON".to_owned())?;
    if !frame.is_object() || js_sys::Array::is_array(&frame) {
        return Err("frame is not a JSON object".into());
    }
    let get = |key: &JsValue| Reflect::get(&frame, key).unwrap_or(JsValue::UNDEFINED);
    let kind = get(&keys.kind);
    if kind == keys.msg {
        return Ok(Inbound::Message(get(&keys.payload)));
    }
    let kind = kind
        .as_string()
        .ok_or_else(|| "frame has no string \"kind\"".to_owned())?;
    let id = || {
        get(&keys.id)
            .as_f64()
            .filter(|n| n.fract() == 0.0 && *n >= 0.0)
            .map(|n| n as u64)
            .ok_or_else(|| format!("{kind} frame has no integer \"id\""))
    };
    Ok(match Kind::from_wire(&kind) {
        Some(Kind::Msg) => Inbound::Message(get(&keys.payload)),
        Some(Kind::Ping) => Inbound::Ping { id: id()? },
        Some(Kind::Pong) => Inbound::Pong { id: id()? },
        Some(Kind::Welcome) => Inbound::Welcome(
            super::js_values::welcome(&get(&keys.payload))
                .ok_or("welcome frame has no valid payload")?,
        ),
        Some(Kind::Error) => {
            let body = get(&keys.error);
            let field = |key: &JsValue| {
                Reflect::get(&body, key)
                    .ok()
                    .and_then(|v| v.as_string())
                    .unwrap_or_default()
            };
            Inbound::Error(ErrorBody {
                code: ErrorCode::from_wire(&field(&keys.code)),
                message: field(&keys.message),
            })
        }
        // Client-to-server kinds make no sense coming back; report them like unknown ones.
        Some(Kind::Hello | Kind::Broadcast) | None => Inbound::Unknown { kind },
    })
}
