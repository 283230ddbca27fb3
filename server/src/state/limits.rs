//! The byte and count budgets of the shared state: how much a room's history, a document and its
//! op log may hold, how many rooms and documents the server keeps, and how long an empty room or
//! an unused document is kept. One value for the whole server (`--history-bytes`, `--doc-bytes`,
//! ...; `docs/PROTOCOL.md`, "Limits"); a namespace may set its rooms' history bounds.

use std::time::Duration;

/// 1 MiB: a room's history, a document and its op log each hold at least one frame of the
/// default `--max-frame-bytes`.
const MIB: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateLimits {
    /// Most rooms held. At the bound a new room replaces the longest-idle empty one; only when
    /// every room has members is it refused (`rate_limited`).
    pub max_rooms: usize,
    /// Most documents held, with the same rule (an unused document has no subscribers).
    pub max_docs: usize,
    /// Most bytes of `msg` frames a room's history holds, where its namespace sets no
    /// `history_bytes`: the oldest are evicted to fit, a larger message is refused `too_large`.
    pub history_bytes: usize,
    /// Messages older than this leave the history, where the namespace sets no
    /// `history_ttl_secs` (`None`: no time limit).
    pub history_ttl: Option<Duration>,
    /// An empty room is removed (history and epoch with it) after this long without activity
    /// (`None`: only when its place is needed).
    pub room_idle_ttl: Option<Duration>,
    /// Largest document: the bytes of its keys plus their values' JSON. An op that would make
    /// it larger is refused `too_large` and the document is unchanged.
    pub doc_bytes: usize,
    /// Most keys a document holds; an op adding one more is refused `too_large`.
    pub doc_keys: usize,
    /// Most bytes of `op` frames a document's log holds for replay (oldest evicted; beyond it a
    /// `sync` gets a snapshot).
    pub doc_log_bytes: usize,
    /// A document without subscribers is removed after this long without an op (`None`: only
    /// when its place is needed).
    pub doc_idle_ttl: Option<Duration>,
    /// Most bytes sessions waiting for a resume may hold (memory engine): their reply caches
    /// plus [`SESSION_OVERHEAD_BYTES`](super::sessions::SESSION_OVERHEAD_BYTES) each. Beyond it
    /// the longest-detached are forgotten before their TTL, and their resume starts a new
    /// session (the client is told: `lost`). The Redis engine's sessions expire by TTL in Redis.
    pub detached_session_bytes: usize,
    /// Most bytes the reply caches of all sessions, attached or waiting, may hold together
    /// (memory engine), besides each session's newest reply. Beyond it the largest caches give up
    /// their oldest replies first; a re-sent request whose reply went is answered `expired`,
    /// never run twice. The Redis engine's caches are bounded per session and by TTL.
    pub reply_cache_total_bytes: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        StateLimits {
            max_rooms: 10_000,
            max_docs: 10_000,
            history_bytes: MIB,
            history_ttl: None,
            room_idle_ttl: Some(Duration::from_secs(600)),
            doc_bytes: MIB,
            doc_keys: 10_000,
            doc_log_bytes: MIB,
            doc_idle_ttl: Some(Duration::from_secs(3600)),
            detached_session_bytes: 256 * MIB,
            reply_cache_total_bytes: 256 * MIB,
        }
    }
}
