//! Counters an app can show or export. Updated by the core as frames and transitions happen.

use serde::Serialize;

use super::quality::QualityLevel;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// User messages handed to the socket, and their encoded bytes.
    pub messages_sent: u64,
    pub bytes_sent: u64,
    /// User messages received, and their encoded bytes.
    pub messages_received: u64,
    pub bytes_received: u64,
    /// Times the connection was re-established after being lost.
    pub reconnects: u64,
    /// Error events raised.
    pub errors: u64,
    /// Messages dropped by the `dropOldest` overflow policy.
    pub dropped: u64,
    /// Room messages discarded because their sequence number was already delivered.
    pub duplicates: u64,
    /// Frames from the server over `max_inbound_bytes`, dropped without being read.
    pub oversized_frames: u64,
    /// Replies whose request id was unknown (settled already, or never sent), ignored.
    pub unknown_replies: u64,
    /// Times messages and requests were held back in the queue because the socket's send
    /// buffer (`bufferedAmount`) was over `max_buffered_bytes`.
    pub write_pauses: u64,
    /// User frames (messages, requests, doc ops) and bytes that sockets still held in their send
    /// buffers when they closed or were found dead: never confirmed sent. Messages among them
    /// are lost; requests follow their disconnect policy; doc ops are re-sent after the next sync.
    /// The frames are the newest ones handed to the socket that cover its `bufferedAmount`.
    pub unsent_frames: u64,
    pub unsent_bytes: u64,
    /// The current socket's `bufferedAmount` when the driver last read it; 0 when not open.
    pub buffered_bytes: u64,
    /// Requests not settled yet.
    pub pending_requests: u64,
    /// Messages and bytes waiting in the offline queue.
    pub queue_depth: u64,
    pub queue_bytes: u64,
    /// Last and smoothed heartbeat round-trip time; `None` before the first pong.
    pub rtt_ms: Option<u64>,
    pub smoothed_rtt_ms: Option<u64>,
    /// Time the current connection has been open; 0 when not open.
    pub uptime_ms: u64,
    /// 0 (not open) to 100, from the smoothed round-trip time and drops in the last minute.
    pub quality_score: u8,
    pub quality: QualityLevel,
}
