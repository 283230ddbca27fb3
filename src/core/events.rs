//! What the core reports to the app: connection states, messages, errors.

use super::rooms::RoomState;
use crate::protocol::{ErrorCode, Member, PresenceChange};
use serde::Serialize;
use thiserror::Error;

/// The connection state the app sees. Every change is reported as [`Event::State`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum ConnectionState {
    /// Created, `connect` not called yet.
    Idle,
    /// A socket is opening or the handshake is under way. `attempt` counts from 1.
    Connecting { attempt: u32 },
    /// Handshake done: messages flow.
    Open,
    /// Waiting `delay_ms` before attempt `attempt`; the last socket closed with `code`.
    #[serde(rename_all = "camelCase")]
    Reconnecting {
        attempt: u32,
        delay_ms: u64,
        retry_at: u64,
        code: u16,
        reason: String,
    },
    /// Not connected and not trying; `reconnect()` starts again.
    Closed { reason: CloseReason },
}

impl ConnectionState {
    /// The state's name as JS sees it in `state.status`.
    pub fn name(&self) -> &'static str {
        match self {
            ConnectionState::Idle => "idle",
            ConnectionState::Connecting { .. } => "connecting",
            ConnectionState::Open => "open",
            ConnectionState::Reconnecting { .. } => "reconnecting",
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
}

/// Typed errors: returned by `send` or raised as [`Event::Error`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    #[error("outbound queue is full ({depth} messages, {bytes} bytes)")]
    QueueFull { depth: usize, bytes: usize },
    #[error("message of {size} bytes exceeds maxMessageBytes ({limit})")]
    MessageTooLarge { size: usize, limit: usize },
    #[error("the client is closed; call reconnect() first")]
    Closed,
    #[error("malformed frame from the server: {reason}")]
    MalformedFrame { reason: String },
    #[error("unknown frame kind \"{kind}\" from the server")]
    UnknownKind { kind: String },
    #[error("server error {}: {message}", code.as_wire())]
    Server { code: ErrorCode, message: String },
    #[error("connection did not open within {timeout_ms} ms")]
    ConnectTimeout { timeout_ms: u64 },
    #[error("no pong within {timeout_ms} ms; connection presumed dead")]
    HeartbeatTimeout { timeout_ms: u64 },
    #[error("server refused the connection (close {code}): {reason}")]
    Rejected { code: u16, reason: String },
    #[error("no reply within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("the connection dropped while the request was in flight")]
    Disconnected,
    #[error("the request was aborted")]
    Aborted,
}

impl ClientError {
    /// Stable name of the error, exposed to JS as `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::QueueFull { .. } => "QueueFull",
            ClientError::MessageTooLarge { .. } => "MessageTooLarge",
            ClientError::Closed => "Closed",
            ClientError::MalformedFrame { .. } => "MalformedFrame",
            ClientError::UnknownKind { .. } => "UnknownKind",
            ClientError::Server { code, .. } => server_error_name(*code),
            ClientError::ConnectTimeout { .. } => "ConnectTimeout",
            ClientError::HeartbeatTimeout { .. } => "HeartbeatTimeout",
            ClientError::Rejected { .. } => "Rejected",
            ClientError::Timeout { .. } => "Timeout",
            ClientError::Disconnected => "Disconnected",
            ClientError::Aborted => "Aborted",
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
    /// A room message, delivered once, in sequence order.
    RoomMessage {
        room: String,
        seq: u64,
        payload: P,
    },
    Presence {
        room: String,
        change: PresenceChange,
        member: Member<P>,
    },
    Notification(P),
}
