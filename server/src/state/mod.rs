//! Server state behind the [`Engine`] boundary.
//!
//! The data structures here ([`Rooms`], [`Docs`], [`Sessions`] and their parts) are plain data:
//! no locks, no sockets, no clock. Each operation changes the state and returns what must be
//! sent to whom as [`Delivery`]s, so the rules are testable without tokio. [`MemoryEngine`] is
//! the thin layer that owns the lock and the [`Hub`](crate::protocol::hub::Hub) and carries the
//! deliveries out; other engines (a shared store for several nodes) implement the same trait.

mod dedup;
mod delivery;
mod docs;
mod engine;
mod epoch;
mod error;
mod history;
mod limits;
mod memory;
mod names;
mod origins;
mod redis_engine;
mod rooms;
mod sessions;

pub use dedup::{DedupLimits, Seen, MAX_RUNNING, REPLY_CACHE, REPLY_CACHE_BYTES};
pub use delivery::{ConnId, Delivery, Outcome, To};
pub use docs::{
    apply_within, catch_up, doc_bytes, CatchUp, ClientOp, Docs, Entries, OpOutcome,
    ServerOpOutcome, MAX_KEY, MAX_ORIGIN, SERVER_ORIGIN,
};
pub use engine::{Engine, Published, StateStats};
pub use epoch::Since;
pub use error::EngineError;
pub use limits::StateLimits;
pub use memory::MemoryEngine;
pub use names::{is_valid_name, MAX_NAME};
pub use origins::{MAX_ORIGINS, OUTCOMES_PER_ORIGIN};
pub use redis_engine::{RedisEngine, RedisSettings, StateSettings as RedisStateSettings};
pub use rooms::Rooms;
pub use sessions::{Actor, Fresh, Opened, Session, Sessions};
