//! The wire side: one task per WebSocket (`connection`), the reader of client frames
//! ([`dispatch`]), the encoders of server frames ([`frames`]), the registry of live connections
//! ([`hub`]) and the layer's error type ([`ProtocolError`]).

pub mod admission;
pub mod budgets;
pub(crate) mod connection;
pub mod dispatch;
mod error;
pub mod frames;
pub mod head_deadline;
pub mod hub;
pub mod rates;

pub use connection::check_hello;
pub use error::ProtocolError;
#[cfg(test)]
mod wire_tests;
