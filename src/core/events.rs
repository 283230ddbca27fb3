//! What the core reports to the app: connection states, messages, errors.

use super::rooms::RoomState;
use super::text::Text;
#[cfg(feature = "docs")]
use crate::doc::Op;
use crate::protocol::{ErrorCode, Member, PresenceChange};
use alloc::string::String;
#[cfg(feature = "docs")]
use alloc::vec::Vec;
use serde::Serialize;

/// The connection state the app sees. Every change is reported as [`Event::State`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum ConnectionState {
    /// Created, `connect` not called yet.
    Idle,
    /// A socket is opening or the handshake is under way. `attempt` counts from 1; `url` is
    /// the index of the socket's URL in the client's URL list.
    Connecting { attempt: u32, url: usize },
    /// Handshake done: messages flow, on the URL of index `url`.
    Open { url: usize },
    /// Waiting `delay_ms` before attempt `attempt`; the last socket closed with `code`.
    #[serde(rename_all = "camelCase")]
    Reconnecting {
        attempt: u32,
        delay_ms: u64,
        retry_at: u64,
        code: u16,
        reason: String,
    },
    /// The page reports no network (`offline`): no attempt is made, and none counts against
    /// `maxAttempts`, until it reports `online` (then the retry comes at once). The last socket
    /// closed with `code`.
    Offline { code: u16, reason: String },
    /// Not connected and not trying; `reconnect()` starts again.
    Closed { reason: CloseReason },
}

impl ConnectionState {
    /// The state's name as JS sees it in `state.status`.
    pub fn name(&self) -> &'static str {
        match self {
            ConnectionState::Idle => "idle",
            ConnectionState::Connecting { .. } => "connecting",
            ConnectionState::Open { .. } => "open",
            ConnectionState::Reconnecting { .. } => "reconnecting",
            ConnectionState::Offline { .. } => "offline",
            ConnectionState::Closed { .. } => "closed",
        }
    }
}

/// Why the client is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum CloseReason {
    /// The app called `close()`.
    Client,
    /// `reconnect.maxAttempts` consecutive attempts failed.
    MaxAttempts { attempts: u32 },
    /// The server closed with a code after which retrying cannot help.
    Rejected { code: u16, reason: String },
    /// The server refused the static token (close 4401): another attempt would be refused too.
    Unauthorized,
}

impl CloseReason {
    /// The reason's name as JS sees it in `reason.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            CloseReason::Client => "client",
            CloseReason::MaxAttempts { .. } => "maxAttempts",
            CloseReason::Rejected { .. } => "rejected",
            CloseReason::Unauthorized => "unauthorized",
        }
    }
}

/// Typed errors: returned by `send` or raised as [`Event::Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    QueueFull {
        depth: usize,
        bytes: usize,
    },
    MessageTooLarge {
        size: usize,
        limit: usize,
    },
    Closed,
    MalformedFrame {
        reason: String,
    },
    /// A received frame over `maxInboundBytes`, dropped unread: a `MalformedFrame` to the app
    /// (its code), with the figures kept as numbers so the WASM client builds no text for it.
    InboundTooLarge {
        size: usize,
        limit: usize,
    },
    UnknownKind {
        kind: String,
    },
    Server {
        code: ErrorCode,
        message: String,
    },
    ConnectTimeout {
        timeout_ms: u64,
    },
    HeartbeatTimeout {
        timeout_ms: u64,
    },
    Rejected {
        code: u16,
        reason: String,
    },
    Timeout {
        timeout_ms: u64,
    },
    Disconnected,
    /// The request was sent, the connection dropped, and the server no longer knew the session
    /// on reconnect: re-sending could run it twice, so it is settled with this instead.
    SessionLost,
    Aborted,
    /// A document op on a document that is not open.
    #[cfg(feature = "docs")]
    DocNotOpen {
        doc: String,
    },
    /// The server refused the token: at `hello` (close 4401) or in-band (`refresh`).
    Unauthorized {
        reason: String,
    },
    /// The token function failed (threw or rejected): the attempt failed and is retried.
    TokenUnavailable {
        reason: String,
    },
    /// A resocket feature (requests, rooms, documents, broadcast) called in raw mode.
    NotSupported {
        what: &'static str,
    },
}

impl core::error::Error for ClientError {}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message())
    }
}

/// How the message of every error the app sees as `MalformedFrame` begins.
const MALFORMED: &str = "malformed frame from the server: ";

impl ClientError {
    /// The human-readable message (also the `Display` text), built without `core::fmt`.
    pub fn message(&self) -> String {
        let t = Text::new;
        match self {
            ClientError::QueueFull { depth, bytes } => t("outbound queue is full (")
                .num(*depth as u64)
                .add(" messages, ")
                .num(*bytes as u64)
                .add(" bytes)"),
            ClientError::MessageTooLarge { size, limit } => t("message of ")
                .num(*size as u64)
                .add(" bytes exceeds maxMessageBytes (")
                .num(*limit as u64)
                .add(")"),
            ClientError::Closed => t("the client is closed; call reconnect() first"),
            ClientError::MalformedFrame { reason } => t(MALFORMED).add(reason),
            ClientError::InboundTooLarge { size, limit } => t(MALFORMED)
                .add("frame of ")
                .num(*size as u64)
                .add(" bytes exceeds maxInboundBytes (")
                .num(*limit as u64)
                .add(")"),
            ClientError::UnknownKind { kind } => t("unknown frame kind \"")
                .add(kind)
                .add("\" from the server"),
            ClientError::Server { code, message } => t("server error ")
                .add(code.as_wire())
                .add(": ")
                .add(message),
            ClientError::ConnectTimeout { timeout_ms } => t("connection did not open within ")
                .num(*timeout_ms)
                .add(" ms"),
            ClientError::HeartbeatTimeout { timeout_ms } => t("no pong within ")
                .num(*timeout_ms)
                .add(" ms; connection presumed dead"),
            ClientError::Rejected { code, reason } => t("server refused the connection (close ")
                .num(u64::from(*code))
                .add("): ")
                .add(reason),
            ClientError::Timeout { timeout_ms } => {
                t("no reply within ").num(*timeout_ms).add(" ms")
            }
            ClientError::Disconnected => {
                t("the connection dropped while the request was in flight")
            }
            ClientError::SessionLost => {
                t("the server lost the session while the request was in flight")
            }
            ClientError::Aborted => t("the request was aborted"),
            #[cfg(feature = "docs")]
            ClientError::DocNotOpen { doc } => t("document \"").add(doc).add("\" is not open"),
            ClientError::Unauthorized { reason } => t("the server refused the token: ").add(reason),
            ClientError::TokenUnavailable { reason } => {
                t("the token function failed: ").add(reason)
            }
            ClientError::NotSupported { what } => t(what).add(" is not available in raw mode"),
        }
        .done()
    }

    /// The error as the package's JS builds it (`ERRORS` in js/wasm/values.ts): its position
    /// in that table, then its numbers and its strings, in the order its message uses them (for
    /// a server error, its code first), to `number` and `text`. `tests/ts_contract.rs` checks
    /// the table against `code` and `message`.
    pub fn parts(&self, mut number: impl FnMut(u64), mut text: impl FnMut(&str)) {
        use ClientError::*;
        number(match self {
            QueueFull { .. } => 0,
            MessageTooLarge { .. } => 1,
            Closed => 2,
            MalformedFrame { .. } => 3,
            UnknownKind { .. } => 4,
            Server { .. } => 5,
            ConnectTimeout { .. } => 6,
            HeartbeatTimeout { .. } => 7,
            Rejected { .. } => 8,
            Timeout { .. } => 9,
            Disconnected => 10,
            SessionLost => 11,
            Aborted => 12,
            #[cfg(feature = "docs")]
            DocNotOpen { .. } => 13,
            Unauthorized { .. } => 14,
            TokenUnavailable { .. } => 15,
            NotSupported { .. } => 16,
            InboundTooLarge { .. } => 17,
        });
        match self {
            QueueFull { depth: a, bytes: b }
            | MessageTooLarge { size: a, limit: b }
            | InboundTooLarge { size: a, limit: b } => {
                number(*a as u64);
                number(*b as u64);
            }
            ConnectTimeout { timeout_ms }
            | HeartbeatTimeout { timeout_ms }
            | Timeout { timeout_ms } => number(*timeout_ms),
            Rejected { code, reason } => {
                number(u64::from(*code));
                text(reason);
            }
            Server { code, message } => {
                text(server_error_name(*code));
                text(code.as_wire());
                text(message);
            }
            MalformedFrame { reason: t }
            | UnknownKind { kind: t }
            | Unauthorized { reason: t }
            | TokenUnavailable { reason: t } => text(t),
            #[cfg(feature = "docs")]
            DocNotOpen { doc } => text(doc),
            NotSupported { what } => text(what),
            Closed | Disconnected | SessionLost | Aborted => {}
        }
    }

    /// Stable name of the error, exposed to JS as `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::QueueFull { .. } => "QueueFull",
            ClientError::MessageTooLarge { .. } => "MessageTooLarge",
            ClientError::Closed => "Closed",
            ClientError::MalformedFrame { .. } | ClientError::InboundTooLarge { .. } => {
                "MalformedFrame"
            }
            ClientError::UnknownKind { .. } => "UnknownKind",
            ClientError::Server { code, .. } => server_error_name(*code),
            ClientError::ConnectTimeout { .. } => "ConnectTimeout",
            ClientError::HeartbeatTimeout { .. } => "HeartbeatTimeout",
            ClientError::Rejected { .. } => "Rejected",
            ClientError::Timeout { .. } => "Timeout",
            ClientError::Disconnected => "Disconnected",
            ClientError::SessionLost => "SessionLost",
            #[cfg(feature = "docs")]
            ClientError::DocNotOpen { .. } => "DocNotOpen",
            ClientError::Aborted => "Aborted",
            ClientError::Unauthorized { .. } => "Unauthorized",
            ClientError::TokenUnavailable { .. } => "TokenUnavailable",
            ClientError::NotSupported { .. } => "NotSupported",
        }
    }
}

/// Server errors carry the server's code as their name, e.g. `NotFound`.
fn server_error_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotFound => "NotFound",
        ErrorCode::BadRequest => "BadRequest",
        ErrorCode::RateLimited => "RateLimited",
        ErrorCode::Internal => "Internal",
        ErrorCode::Forbidden => "Forbidden",
        ErrorCode::Conflict => "Conflict",
        ErrorCode::Unauthorized => "Unauthorized",
        ErrorCode::Unavailable => "Unavailable",
        ErrorCode::Expired => "Expired",
        ErrorCode::BadFrame
        | ErrorCode::UnknownKind
        | ErrorCode::TooLarge
        | ErrorCode::Unexpected
        | ErrorCode::Other => "ServerError",
    }
}

/// Something the app should hear about, drained with `poll_event`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<P> {
    State(ConnectionState),
    Message(P),
    Error(ClientError),
    /// Queued messages dropped by the `dropOldest` overflow policy.
    Dropped {
        count: usize,
        bytes: usize,
    },
    /// A heartbeat round trip completed.
    Rtt {
        rtt_ms: u64,
        smoothed_ms: u64,
    },
    /// The connection was welcomed into a session. `lost` is true when the previous session
    /// could not be resumed (the app may need to resync).
    Session {
        id: String,
        resumed: bool,
        lost: bool,
    },
    /// A request settled: exactly one per accepted request.
    Reply {
        id: u64,
        result: Result<P, ClientError>,
    },
    Room {
        room: String,
        state: RoomState,
    },
    /// A room message, delivered once, in sequence order. `user` is its author as the server
    /// stamped it (a string value); `None` for messages the server fed itself.
    RoomMessage {
        room: String,
        seq: u64,
        payload: P,
        user: Option<P>,
    },
    Presence {
        room: String,
        change: PresenceChange,
        member: Member<P>,
    },
    Notification(P),
    /// Keys whose value in the document's view changed (local op, server op, rollback, resync).
    #[cfg(feature = "docs")]
    DocChanged {
        doc: String,
        keys: Vec<String>,
    },
    /// The server applied this client's op `cseq` as revision `rev`.
    #[cfg(feature = "docs")]
    DocConfirmed {
        doc: String,
        cseq: u64,
        rev: u64,
    },
    /// The server refused this client's op: it is gone from the view (rolled back).
    #[cfg(feature = "docs")]
    DocRejected {
        doc: String,
        cseq: u64,
        op: Op<P>,
        error: ClientError,
    },
    /// The server's document has another history (its epoch changed: the server restarted, or
    /// the document was created again): the confirmed state was replaced by its snapshot at
    /// `rev`, and pending ops are re-sent on top of it. Emitted before the `DocChanged` and
    /// `DocSynced` of that snapshot.
    #[cfg(feature = "docs")]
    DocReset {
        doc: String,
        rev: u64,
    },
    /// The document caught up with the server (after opening or a reconnect).
    #[cfg(feature = "docs")]
    DocSynced {
        doc: String,
        rev: u64,
    },
    /// The server refused to sync the document (e.g. `Forbidden`). It stays open and unsynced:
    /// local ops still show in its view and stay pending, unsent. The sync is tried again on the
    /// next connection, or when the document is opened again after its last handle closed.
    #[cfg(feature = "docs")]
    DocError {
        doc: String,
        error: ClientError,
    },
}
