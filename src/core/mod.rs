//! The sans-IO client core: a deterministic state machine driven with virtual time.
//! See [`ClientCore`] for the driving contract.

pub mod backoff;
mod client;
pub mod config;
#[cfg(feature = "docs")]
pub mod docs;
pub mod events;
mod fifo;
pub mod float;
pub mod heartbeat;
pub mod lifecycle;
pub mod metrics;
mod outbox;
pub mod quality;
pub mod queue;
pub mod requests;
pub mod rng;
pub mod rooms;
mod sink;
mod text;
mod timers;
mod vec_map;
mod write_budget;

#[cfg(feature = "docs")]
pub use crate::protocol::DocInbound;
pub use crate::protocol::Inbound;
pub use client::refresh_delay_ms;
pub use client::ClientCore;
pub use config::{
    Config, ConfigError, HeartbeatConfig, Mode, OverflowPolicy, QueueConfig, ReconnectConfig,
    TokenSource,
};
#[cfg(feature = "docs")]
pub use docs::OpFrame;
pub use events::{ClientError, CloseReason, ConnectionState, Event};
pub use lifecycle::PageEvent;
pub use metrics::Metrics;
pub use quality::QualityLevel;
pub use queue::WireSize;
pub use requests::{DisconnectPolicy, RequestOptions};
pub use rooms::RoomState;
pub use sink::{Action, Transmit, UserKind};
pub use vec_map::VecMap;
