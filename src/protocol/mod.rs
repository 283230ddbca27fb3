//! Protocol v1: the wire envelope shared by the client and the test server.
//!
//! Every frame is one JSON text frame holding one [`Envelope`]. The payload type is generic so
//! that each side keeps payloads in its cheapest form: the browser keeps them as JS values, the
//! server relays them as raw JSON without re-parsing. `docs/PROTOCOL.md` documents the format.

use alloc::{borrow::ToOwned, string::String, vec::Vec};
use serde::{Deserialize, Serialize};

pub mod codec;
mod inbound;
#[cfg(not(target_arch = "wasm32"))]
pub mod json;

#[cfg(feature = "docs")]
pub use inbound::DocInbound;
pub use inbound::Inbound;

/// The protocol version this crate speaks. The client announces it in its `hello` frame.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame the test server accepts by default, in bytes.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1024 * 1024;

/// The kind of a frame, carried in the envelope's `kind` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Client → server, first frame of a connection: `payload` is a [`Hello`].
    Hello,
    /// Server → client, the answer to `hello`: `payload` is a [`Welcome`].
    Welcome,
    /// A user message. Client → server: echoed back to the sender. Server → client: delivered;
    /// with `room` and `seq` when it was published to a room.
    Msg,
    /// Client → server: delivered as a `msg` to every open connection, the sender included.
    Broadcast,
    /// Heartbeat probe, either direction; `id` is echoed in the `pong`.
    Ping,
    /// Heartbeat answer carrying the `id` of the `ping`.
    Pong,
    /// Server → client: something the client sent could not be handled; `error` says why.
    Error,
    /// Client → server request: `id` correlates, `payload` is a [`RequestBody`].
    Req,
    /// Server → client reply to `req` with the same `id`: `payload` is the result, or `error`.
    Res,
    /// Client → server: join `room`; `payload` is a [`JoinBody`]. Answered by `joined` or an
    /// `error` with the same `id` and `room`.
    Join,
    /// Server → client: `room` joined; `seq` is the room's latest sequence number, `payload` a
    /// [`JoinedBody`]. Replayed messages, if any, follow it.
    Joined,
    /// Client → server: leave `room`. Answered by `left` with the same `id`.
    Leave,
    /// Server → client: `room` left.
    Left,
    /// Client → server: publish `payload` to `room`; members receive it as `msg` with a `seq`.
    Publish,
    /// Presence in `room`. Client → server: `payload` is a [`PresenceUpdate`] of the sender's
    /// metadata. Server → client: `payload` is a [`PresenceEvent`].
    Presence,
    /// Server → client: a notification addressed to this connection's user, or to everyone.
    Notify,
    /// Client → server: subscribe to document `room` and catch up from `payload.since` (a
    /// [`SyncBody`], with the epoch `since` counts in).
    Sync,
    /// Server → client: the replay after `sync` is complete; `seq` is the document revision,
    /// `payload` a [`SyncedBody`] (the document's epoch).
    Synced,
    /// Server → client: the whole document (`payload` is a [`SnapshotBody`]) at revision `seq`.
    Snapshot,
    /// Client → server: end the subscription to document `room`.
    Unsync,
    /// A document op (`payload` is a [`DocOpBody`]). Client → server: `seq` is the client's op
    /// sequence number. Server → client: applied, `seq` is the op's revision.
    Op,
    /// Server → client: the origin's op was not applied; `payload` is a [`RejectBody`].
    Reject,
    /// Client → server: a fresh token for this connection (`payload` is `{token}`), answered by
    /// `refreshed` with the same `id`, or an `error` with that `id` and code `unauthorized`.
    Refresh,
    /// Server → client: the refreshed token is accepted; `payload` is a [`RefreshedBody`].
    Refreshed,
}

impl Kind {
    pub const ALL: [Kind; 24] = [
        Kind::Hello,
        Kind::Welcome,
        Kind::Msg,
        Kind::Broadcast,
        Kind::Ping,
        Kind::Pong,
        Kind::Error,
        Kind::Req,
        Kind::Res,
        Kind::Join,
        Kind::Joined,
        Kind::Leave,
        Kind::Left,
        Kind::Publish,
        Kind::Presence,
        Kind::Notify,
        Kind::Sync,
        Kind::Synced,
        Kind::Snapshot,
        Kind::Unsync,
        Kind::Op,
        Kind::Reject,
        Kind::Refresh,
        Kind::Refreshed,
    ];

    /// The string used on the wire.
    pub const fn as_wire(self) -> &'static str {
        match self {
            Kind::Hello => "hello",
            Kind::Welcome => "welcome",
            Kind::Msg => "msg",
            Kind::Broadcast => "broadcast",
            Kind::Ping => "ping",
            Kind::Pong => "pong",
            Kind::Error => "error",
            Kind::Req => "req",
            Kind::Res => "res",
            Kind::Join => "join",
            Kind::Joined => "joined",
            Kind::Leave => "leave",
            Kind::Left => "left",
            Kind::Publish => "publish",
            Kind::Presence => "presence",
            Kind::Notify => "notify",
            Kind::Sync => "sync",
            Kind::Synced => "synced",
            Kind::Snapshot => "snapshot",
            Kind::Unsync => "unsync",
            Kind::Op => "op",
            Kind::Reject => "reject",
            Kind::Refresh => "refresh",
            Kind::Refreshed => "refreshed",
        }
    }

    /// Parses a wire kind; `None` for kinds this version does not know.
    pub fn from_wire(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_wire() == kind)
    }
}

/// One frame on the wire. Absent optional fields are omitted from the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de>"))]
pub struct Envelope<P> {
    /// The frame kind as a string, so unknown kinds decode and can be reported by name.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// A `null` payload is present (`Some`), unlike a missing one: apps may send `null`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload: Option<P>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// Deserializes a field that is there, `null` included, as `Some` (serde's `Option` reads `null`
/// as `None`); a missing field is `None` through `#[serde(default)]`.
fn present<'de, D: serde::Deserializer<'de>, P: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<P>, D::Error> {
    P::deserialize(deserializer).map(Some)
}

impl<P> Envelope<P> {
    /// An envelope of `kind` with every optional field empty.
    pub fn new(kind: Kind) -> Self {
        Envelope {
            kind: kind.as_wire().to_owned(),
            id: None,
            room: None,
            seq: None,
            payload: None,
            error: None,
        }
    }

    pub fn with_id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    pub fn with_payload(mut self, payload: P) -> Self {
        self.payload = Some(payload);
        self
    }

    pub fn with_error(mut self, error: ErrorBody) -> Self {
        self.error = Some(error);
        self
    }
}

/// Payload of the client's `hello` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    /// Who the client says it is; the test server trusts it (no authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The session to resume after a reconnect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
    /// The credential (a JWT). It travels here, never in the URL (URLs end up in logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A session the client wants back: the id and the token from its last `welcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub session: String,
    pub token: String,
}

/// Payload of the server's `welcome` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub version: u32,
    /// The session this connection belongs to; also the member id in presence.
    pub session: String,
    /// Secret that lets the client resume this session after a reconnect.
    #[serde(default)]
    pub token: String,
    /// True when the `hello` asked to resume this session and the server still knew it.
    #[serde(default)]
    pub resumed: bool,
    /// The document-op origin the server assigns to this session; ops with another origin are
    /// refused. Absent: the client uses its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Milliseconds until this connection's token expires; absent: it does not expire.
    #[serde(default, rename = "expiresIn", skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// The server's request de-duplication window: how many requests (and acknowledged
    /// publishes) the client may have in flight at once and still have each run exactly once
    /// across a drop. Absent (an older server): no limit is advertised.
    #[serde(
        default,
        rename = "requestWindow",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_window: Option<u64>,
}

/// Payload of a `refreshed` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshedBody {
    /// Milliseconds until the refreshed token expires; absent: it does not expire.
    #[serde(default, rename = "expiresIn", skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

/// Payload of a `req` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de>"))]
pub struct RequestBody<P> {
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<P>,
}

/// Payload of a `join` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de>"))]
pub struct JoinBody<P> {
    /// Last sequence number the client saw in this room: the server replays what came after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// The room stream's epoch `since` counts in (the last `joined.epoch` seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// Without `since`: how many of the newest messages the server should replay (a late
    /// joiner's history; capped by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<u64>,
    /// The member's presence metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<P>,
}

/// Payload of a `joined` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de>"))]
pub struct JoinedBody<P> {
    /// False when messages may have been missed for good: `since` was older than the room's
    /// history, ahead of it, or counted in another epoch (or came without one).
    pub recovered: bool,
    /// The room stream's epoch: a random id fixed when its history started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// Current members, the joiner included.
    pub members: Vec<Member<P>>,
}

/// One member of a room's presence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de>"))]
pub struct Member<P> {
    /// The member's session id.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<P>,
}

/// Payload of a client's `presence` frame: its new metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de>"))]
pub struct PresenceUpdate<P> {
    pub meta: P,
}

/// Payload of a server's `presence` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de>"))]
pub struct PresenceEvent<P> {
    pub event: PresenceChange,
    pub member: Member<P>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceChange {
    Join,
    Leave,
    Update,
}

impl PresenceChange {
    pub const fn as_wire(self) -> &'static str {
        match self {
            PresenceChange::Join => "join",
            PresenceChange::Leave => "leave",
            PresenceChange::Update => "update",
        }
    }
}

/// Payload of a `sync` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncBody {
    /// The document revision the client has; absent asks for a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// The document epoch `since` counts in (the last `snapshot`/`synced` epoch seen); a
    /// `since` without the document's current epoch is answered with a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// Payload of a `synced` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedBody {
    /// The document's epoch: a random id fixed when its history started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// The change an `op` makes to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpName {
    Set,
    Delete,
    Merge,
}

impl OpName {
    pub const fn as_wire(self) -> &'static str {
        match self {
            OpName::Set => "set",
            OpName::Delete => "delete",
            OpName::Merge => "merge",
        }
    }

    pub fn from_wire(name: &str) -> Option<OpName> {
        [OpName::Set, OpName::Delete, OpName::Merge]
            .into_iter()
            .find(|n| n.as_wire() == name)
    }
}

/// Payload of an `op` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de>"))]
pub struct DocOpBody<P> {
    /// Stable id of the client that made the op (outlives sessions).
    pub origin: String,
    /// The origin's op sequence number; present in applied ops the server sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cseq: Option<u64>,
    pub key: String,
    pub op: OpName,
    /// The value (`set`) or merge patch (`merge`); absent for `delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<P>,
    #[serde(default, rename = "ifRev", skip_serializing_if = "Option::is_none")]
    pub if_rev: Option<u64>,
}

/// One key of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEntry<P> {
    pub value: P,
    pub rev: u64,
}

/// Payload of a `snapshot` frame: every key of the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de>"))]
pub struct SnapshotBody<P> {
    pub entries: alloc::collections::BTreeMap<String, SnapshotEntry<P>>,
    /// The document's epoch: a random id fixed when its history started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// Payload of a `reject` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectBody {
    pub origin: String,
    pub cseq: u64,
    pub error: ErrorBody,
}

/// Body of an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// Machine-readable error codes carried in `error` frames and failed `res` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not a JSON envelope.
    BadFrame,
    /// The envelope's kind is unknown to the receiver.
    UnknownKind,
    /// The frame exceeded the receiver's size limit and was discarded.
    TooLarge,
    /// The frame is valid but not allowed now (for example a second `hello`).
    Unexpected,
    /// A request named a method the server does not have.
    NotFound,
    /// A request's params, or a frame's fields, are invalid.
    BadRequest,
    /// The client is sending too much; retry later.
    RateLimited,
    /// The handler failed.
    Internal,
    /// Not allowed, for example joining a private room.
    Forbidden,
    /// A document op's compare-and-set revision did not match.
    Conflict,
    /// A token was missing, invalid or expired (a refused `refresh`).
    Unauthorized,
    /// The server cannot reach the state it shares with other nodes (its Redis) right now; the
    /// operation did not take effect and can be retried.
    Unavailable,
    /// A re-sent request (or publish) id older than any the session still remembers: it may
    /// have run, and it is not run again. Ids must increase within a session.
    Expired,
    /// Any other error this version does not name.
    #[serde(other)]
    Other,
}

impl ErrorCode {
    const NAMED: [ErrorCode; 13] = [
        ErrorCode::BadFrame,
        ErrorCode::UnknownKind,
        ErrorCode::TooLarge,
        ErrorCode::Unexpected,
        ErrorCode::NotFound,
        ErrorCode::BadRequest,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Forbidden,
        ErrorCode::Conflict,
        ErrorCode::Unauthorized,
        ErrorCode::Unavailable,
        ErrorCode::Expired,
    ];

    pub const fn as_wire(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnknownKind => "unknown_kind",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unexpected => "unexpected",
            ErrorCode::NotFound => "not_found",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Expired => "expired",
            ErrorCode::Other => "other",
        }
    }

    pub fn from_wire(code: &str) -> ErrorCode {
        ErrorCode::NAMED
            .into_iter()
            .find(|c| c.as_wire() == code)
            .unwrap_or(ErrorCode::Other)
    }
}

/// WebSocket close codes used by protocol v1.
pub mod close_code {
    /// Normal closure: the client called `close()`.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The connection ended without a close frame (reported by browsers, never sent).
    pub const ABNORMAL: u16 = 1006;
    /// A frame exceeded the server's hard size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The peer broke the protocol (for example it sent something other than `hello` first).
    pub const PROTOCOL_ERROR: u16 = 4000;
    /// The client asked for a protocol version the server does not speak. Not retried.
    pub const UNSUPPORTED_VERSION: u16 = 4001;
    /// The client did not send `hello` in time.
    pub const HANDSHAKE_TIMEOUT: u16 = 4002;
    /// The client closed because the server stopped answering pings.
    pub const HEARTBEAT_TIMEOUT: u16 = 4003;
    /// The client closed because the connection did not open in time.
    pub const CONNECT_TIMEOUT: u16 = 4004;
    /// The client closed to reconnect at once (`reconnect()`), or because the page entered the
    /// back-forward cache (it reconnects when restored).
    pub const RECONNECT: u16 = 4005;
    /// The `hello` carried no token, or a bad or expired one. A client with a token function
    /// fetches a new one and retries with backoff; with a static token it stops.
    pub const UNAUTHORIZED: u16 = 4401;
    /// The connection's token expired without a successful `refresh`. The client reconnects
    /// (fetching a fresh token).
    pub const TOKEN_EXPIRED: u16 = 4402;
    /// Another connection resumed this session. Not retried: the two would steal it back and
    /// forth.
    pub const RESUMED_ELSEWHERE: u16 = 4409;
    /// The app's backend disconnected this user (server API). Not retried: that is the intent.
    pub const DISCONNECTED: u16 = 4410;
    /// The connection kept sending frames the server refused `rate_limited`. The client
    /// reconnects after its backoff.
    pub const RATE_LIMITED: u16 = 4429;
    /// The server refused the connection for now (RFC 6455 "Try Again Later"), e.g. the user
    /// is at its connection limit. The client reconnects after its backoff.
    pub const TRY_AGAIN_LATER: u16 = 1013;

    /// Close codes after which reconnecting cannot help.
    pub fn is_fatal(code: u16) -> bool {
        matches!(code, UNSUPPORTED_VERSION | RESUMED_ELSEWHERE | DISCONNECTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_wire_names() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_wire(kind.as_wire()), Some(kind));
        }
        assert_eq!(Kind::from_wire("teleport"), None);
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn the_request_window_round_trips_and_is_optional() {
        let welcome = Welcome {
            version: 1,
            session: "s-1".into(),
            token: "t".into(),
            resumed: false,
            origin: None,
            expires_in: None,
            request_window: Some(256),
        };
        let text = serde_json::to_string(&welcome).expect("encodes");
        assert!(text.contains(r#""requestWindow":256"#), "{text}");
        assert_eq!(serde_json::from_str::<Welcome>(&text).ok(), Some(welcome));
        // An older server sends none; an older client's type has no such field and ignores it.
        let old = r#"{"version":1,"session":"s-1","token":"t"}"#;
        let decoded: Welcome = serde_json::from_str(old).expect("decodes");
        assert_eq!(decoded.request_window, None);
        let new = r#"{"version":1,"session":"s-1","requestWindow":9,"futureField":true}"#;
        let decoded: Welcome = serde_json::from_str(new).expect("unknown fields are ignored");
        assert_eq!(decoded.request_window, Some(9));
    }

    #[test]
    fn unknown_error_codes_decode_as_other() {
        assert_eq!(ErrorCode::from_wire("bad_frame"), ErrorCode::BadFrame);
        assert_eq!(ErrorCode::from_wire("nope"), ErrorCode::Other);
        for code in ErrorCode::NAMED {
            assert_eq!(ErrorCode::from_wire(code.as_wire()), code);
        }
    }
}
