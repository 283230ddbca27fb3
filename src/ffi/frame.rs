//! Frames as the socket sends them: a JS string (or, in raw mode, binary) with its size in
//! bytes, measured once. Control frames are encoded by the shared codec into a JS object and
//! stringified in JS; user frames arrive encoded (`js/wasm/frames.ts`).

use super::value::Val;
use crate::core::{Transmit, WireSize};
use crate::protocol::codec::{encode_client_frame, ClientFrame};
#[cfg(feature = "docs")]
use {crate::core::OpFrame, crate::doc::Op};

#[link(wasm_import_module = "v")]
extern "C" {
    /// `JSON.stringify`: a string slot, 0 when the value has no JSON form (a BigInt, a cycle).
    fn stringify(h: u32) -> u32;
    /// `JSON.parse` of a string slot (metadata kept as JSON text); null when it is not JSON.
    fn parse(h: u32) -> u32;
    /// Bytes a frame (string or binary) takes on the wire.
    fn wire_size(h: u32) -> usize;
}

/// An encoded frame and its size in bytes.
#[derive(Clone, Debug)]
pub struct Frame {
    pub text: Val,
    size: usize,
}

impl Frame {
    /// A frame already as it goes on the wire, measured.
    pub fn sized(text: Val) -> Frame {
        let size = unsafe { wire_size(text.raw()) };
        Frame { text, size }
    }

    /// Any client frame, encoded by the shared codec; `None` when a payload has no JSON form.
    pub fn client(frame: ClientFrame<'_, Val>) -> Option<Frame> {
        let value = encode_client_frame(frame);
        Val::optional(unsafe { stringify(value.raw()) }).map(Frame::sized)
    }

    /// The value this frame's text encodes (metadata kept as JSON text).
    pub fn parse(&self) -> Val {
        Val::from_raw(unsafe { parse(self.text.raw()) })
    }
}

impl WireSize for Frame {
    fn wire_size(&self) -> usize {
        self.size
    }
}

#[cfg(feature = "docs")]
impl OpFrame<Val> for Frame {
    fn op_frame(doc: &str, cseq: u64, origin: &str, op: &Op<Val>) -> Option<Self> {
        Frame::client(ClientFrame::Op {
            doc,
            cseq,
            origin,
            op,
        })
    }
}

/// The text to send for a transmit: a user frame's own, or a control frame encoded now.
pub fn encode(transmit: &Transmit<Frame>) -> Val {
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
            meta: meta.as_ref().map(Frame::parse),
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
    let value = encode_client_frame(frame);
    Val::from_raw(unsafe { stringify(value.raw()) })
}
