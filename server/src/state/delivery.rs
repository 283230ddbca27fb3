//! What a state operation asks to be sent, and to whom. State operations never send: they
//! return deliveries, and the engine carries them out (through the hub, or another node).

use axum::extract::ws::Utf8Bytes;

/// Server-internal connection number (distinct from the session id given in `welcome`).
pub type ConnId = u64;

/// Who a frame is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum To {
    /// One connection.
    Conn(ConnId),
    /// Each of these connections, in this order.
    Conns(Vec<ConnId>),
    /// The connection a session has now, if any.
    Session(String),
    /// Every connection of a user.
    User(String),
    /// Every welcomed connection.
    Everyone,
}

/// One frame and its recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub to: To,
    pub frame: Utf8Bytes,
}

impl Delivery {
    pub fn new(to: To, frame: impl Into<Utf8Bytes>) -> Delivery {
        Delivery {
            to,
            frame: frame.into(),
        }
    }
}

/// The result of a state operation and the frames it asks to be sent, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the deliveries must be carried out"]
pub struct Outcome<T> {
    pub value: T,
    pub deliveries: Vec<Delivery>,
}

impl<T> Outcome<T> {
    /// A result with nothing to send.
    pub fn quiet(value: T) -> Outcome<T> {
        Outcome {
            value,
            deliveries: Vec::new(),
        }
    }

    pub fn with(value: T, deliveries: Vec<Delivery>) -> Outcome<T> {
        Outcome { value, deliveries }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The frames of `deliveries` addressed to connection `conn` by number, in order.
    pub fn sent_to(deliveries: &[Delivery], conn: ConnId) -> Vec<&str> {
        deliveries
            .iter()
            .filter(|d| match &d.to {
                To::Conn(c) => *c == conn,
                To::Conns(cs) => cs.contains(&conn),
                To::Session(_) | To::User(_) | To::Everyone => false,
            })
            .map(|d| d.frame.as_str())
            .collect()
    }
}
