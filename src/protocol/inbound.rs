//! Frames the client receives, as decoded by [`super::codec`]: the types the client core takes
//! as input. Payloads stay in the decoder's value type `P` (a JS value in the browser).

use super::{ErrorBody, Member, PresenceChange, Welcome};
#[cfg(feature = "docs")]
use crate::doc::Op;
use alloc::{string::String, vec::Vec};

/// A decoded frame from the server, as the driver hands it to the core.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound<P> {
    Welcome(Welcome),
    Message(P),
    RoomMessage {
        room: String,
        seq: u64,
        payload: P,
        /// The publisher's user id, stamped by the server (a string); absent for messages the
        /// server fed itself. Kept in the decoder's value type so it is not copied on the hot path.
        user: Option<P>,
    },
    /// The server accepted the token of `refresh` `id`.
    Refreshed {
        id: u64,
        expires_in: Option<u64>,
    },
    Reply {
        id: u64,
        result: Result<P, ErrorBody>,
    },
    Joined {
        /// The id of the `join` this answers, when the server echoes it.
        id: Option<u64>,
        room: String,
        seq: u64,
        recovered: bool,
        /// The room stream's epoch (absent from servers that predate epochs).
        epoch: Option<String>,
        members: Vec<Member<P>>,
    },
    Left {
        room: String,
    },
    Presence {
        room: String,
        change: PresenceChange,
        member: Member<P>,
    },
    Notify(P),
    Ping {
        id: u64,
    },
    Pong {
        id: u64,
    },
    /// An `error` frame; `id` and `room` say which request or room it is about, if any.
    Error {
        id: Option<u64>,
        room: Option<String>,
        body: ErrorBody,
    },
    /// A well-formed envelope whose kind this client does not know.
    Unknown {
        kind: String,
    },
}

/// A decoded document frame from the server.
#[cfg(feature = "docs")]
#[derive(Debug, Clone, PartialEq)]
pub enum DocInbound<P> {
    /// An op the server applied as revision `rev`.
    Applied {
        doc: String,
        rev: u64,
        origin: String,
        cseq: u64,
        op: Op<P>,
    },
    /// The server refused this client's op `cseq`.
    Rejected {
        doc: String,
        origin: String,
        cseq: u64,
        error: ErrorBody,
    },
    /// The replay after `sync` is complete; the document is at `rev` in `epoch`.
    Synced {
        doc: String,
        rev: u64,
        epoch: Option<String>,
    },
    /// The whole document at `rev` in `epoch`: `(key, value, key revision)`.
    Snapshot {
        doc: String,
        rev: u64,
        epoch: Option<String>,
        entries: Vec<(String, P, u64)>,
    },
}
