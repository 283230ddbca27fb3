//! The client state machine. It owns no socket, timer, clock or randomness: the driver calls
//! `handle_*` with the current time, then drains `poll_action`, `poll_event` and `poll_timeout`.
//!
//! `F` is an encoded outbound user frame (a `String` natively, a JS string in the browser) and
//! `P` an inbound payload (a JS value in the browser), so payloads are never converted here.

use super::backoff;
use super::config::{Config, ConfigError};
use super::events::{ClientError, CloseReason, ConnectionState, Event};
use super::fifo::Fifo;
use super::heartbeat::{Beat, Heartbeat};
use super::metrics::Metrics;
use super::queue::{OutboundQueue, WireSize};
use super::rng::Rng;
use crate::protocol::{close_code, ErrorBody, Hello, Welcome, PROTOCOL_VERSION};

/// A decoded frame from the server, as the driver hands it to the core.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound<P> {
    Welcome(Welcome),
    Message(P),
    Ping {
        id: u64,
    },
    Pong {
        id: u64,
    },
    Error(ErrorBody),
    /// A well-formed envelope whose kind this client does not know.
    Unknown {
        kind: String,
    },
}

/// A frame for the driver to encode and send on the current socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Transmit<F> {
    Hello(Hello),
    Ping { id: u64 },
    Pong { id: u64 },
    User(F),
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action<F> {
    /// Open a new socket to the server.
    Open,
    /// Send a frame on the current socket.
    Send(Transmit<F>),
    /// Detach from the current socket and close it. No close event for it is expected after this.
    Close { code: u16, reason: String },
}

/// Where the current socket is, internally finer than [`ConnectionState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    None,
    Opening { deadline: u64 },
    Handshaking { deadline: u64 },
    Open { since: u64 },
}

#[derive(Debug)]
pub struct ClientCore<F, P> {
    config: Config,
    state: ConnectionState,
    link: Link,
    /// Consecutive failed attempts since the last stable connection.
    failures: u32,
    retry_at: Option<u64>,
    stable_at: Option<u64>,
    /// Whether a connection was ever open, so later openings count as reconnects.
    was_open: bool,
    rng: Rng,
    queue: OutboundQueue<F>,
    heartbeat: Heartbeat,
    metrics: Metrics,
    actions: Fifo<Action<F>>,
    events: Fifo<Event<P>>,
}

impl<F: WireSize, P> ClientCore<F, P> {
    /// A new client in the `Idle` state. `seed` feeds backoff jitter when the config has none.
    pub fn new(config: Config, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(ClientCore {
            rng: Rng::new(config.seed.unwrap_or(seed)),
            queue: OutboundQueue::new(config.queue.clone()),
            heartbeat: Heartbeat::new(config.heartbeat.clone()),
            config,
            state: ConnectionState::Idle,
            link: Link::None,
            failures: 0,
            retry_at: None,
            stable_at: None,
            was_open: false,
            metrics: Metrics::default(),
            actions: Fifo::new(),
            events: Fifo::new(),
        })
    }

    pub fn state(&self) -> &ConnectionState {
        &self.state
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self, now: u64) -> Metrics {
        Metrics {
            queue_depth: self.queue.len() as u64,
            queue_bytes: self.queue.bytes() as u64,
            rtt_ms: self.heartbeat.last_rtt_ms(),
            smoothed_rtt_ms: self.heartbeat.smoothed_rtt_ms(),
            uptime_ms: match self.link {
                Link::Open { since } => now.saturating_sub(since),
                _ => 0,
            },
            ..self.metrics.clone()
        }
    }

    /// Starts connecting from `Idle` or `Closed`; does nothing otherwise.
    pub fn connect(&mut self, now: u64) {
        if matches!(
            self.state,
            ConnectionState::Idle | ConnectionState::Closed { .. }
        ) {
            self.failures = 0;
            self.start_attempt(now);
        }
    }

    /// Closes any socket and connects again at once, resetting the backoff.
    pub fn reconnect(&mut self, now: u64) {
        self.close_socket(close_code::RECONNECT, "reconnect requested");
        self.failures = 0;
        self.start_attempt(now);
    }

    /// Closes the connection and stops reconnecting. Queued messages stay queued.
    pub fn close(&mut self) {
        self.close_socket(close_code::NORMAL, "client closed");
        self.retry_at = None;
        self.set_state(ConnectionState::Closed {
            reason: CloseReason::Client,
        });
    }

    /// Sends a user frame now when open, otherwise queues it.
    pub fn send(&mut self, frame: F) -> Result<(), ClientError> {
        let size = frame.wire_size();
        if size > self.config.max_message_bytes {
            return Err(ClientError::MessageTooLarge {
                size,
                limit: self.config.max_message_bytes,
            });
        }
        match (&self.state, self.link) {
            (ConnectionState::Closed { .. }, _) => Err(ClientError::Closed),
            (_, Link::Open { .. }) => {
                self.transmit_user(frame, size);
                Ok(())
            }
            _ => {
                let dropped = self.queue.push(frame, size)?;
                if dropped.count > 0 {
                    self.metrics.dropped += dropped.count as u64;
                    self.events.push_back(Event::Dropped {
                        count: dropped.count,
                        bytes: dropped.bytes,
                    });
                }
                Ok(())
            }
        }
    }

    /// The driver's socket opened: start the handshake.
    pub fn handle_socket_open(&mut self, _now: u64) {
        if let Link::Opening { deadline } = self.link {
            self.link = Link::Handshaking { deadline };
            self.actions.push_back(Action::Send(Transmit::Hello(Hello {
                version: PROTOCOL_VERSION,
            })));
        }
    }

    /// The driver's socket closed (by the server or the network).
    pub fn handle_socket_closed(&mut self, now: u64, code: u16, reason: &str) {
        if self.link == Link::None {
            return;
        }
        self.link = Link::None;
        self.reclaim_unsent();
        if close_code::is_fatal(code) {
            self.teardown();
            self.raise(ClientError::Rejected {
                code,
                reason: reason.to_owned(),
            });
            self.set_state(ConnectionState::Closed {
                reason: CloseReason::Rejected {
                    code,
                    reason: reason.to_owned(),
                },
            });
            return;
        }
        self.connection_lost(now, code, reason);
    }

    /// A frame arrived. `wire_size` is its encoded length.
    pub fn handle_inbound(&mut self, now: u64, frame: Inbound<P>, wire_size: usize) {
        if self.link == Link::None {
            return;
        }
        match frame {
            Inbound::Welcome(_) => {
                if let Link::Handshaking { .. } = self.link {
                    self.on_welcome(now);
                }
            }
            Inbound::Message(payload) => {
                self.metrics.messages_received += 1;
                self.metrics.bytes_received += wire_size as u64;
                self.events.push_back(Event::Message(payload));
            }
            Inbound::Ping { id } => self.actions.push_back(Action::Send(Transmit::Pong { id })),
            Inbound::Pong { id } => {
                if let Some(sample) = self.heartbeat.on_pong(id, now) {
                    self.events.push_back(Event::Rtt {
                        rtt_ms: sample.rtt_ms,
                        smoothed_ms: sample.smoothed_ms,
                    });
                }
            }
            Inbound::Error(body) => self.raise(ClientError::Server {
                code: body.code,
                message: body.message,
            }),
            Inbound::Unknown { kind } => self.raise(ClientError::UnknownKind { kind }),
        }
    }

    /// A frame arrived that the driver could not decode. The connection carries on.
    pub fn handle_malformed(&mut self, reason: String) {
        self.raise(ClientError::MalformedFrame { reason });
    }

    /// Time passed: fire whatever deadline is due.
    pub fn handle_timeout(&mut self, now: u64) {
        match self.link {
            Link::Opening { deadline } | Link::Handshaking { deadline } if now >= deadline => {
                let timeout_ms = self.config.connect_timeout_ms;
                self.close_socket(close_code::CONNECT_TIMEOUT, "connect timeout");
                self.raise(ClientError::ConnectTimeout { timeout_ms });
                self.connection_lost(now, close_code::CONNECT_TIMEOUT, "connect timeout");
            }
            Link::Open { .. } => {
                if self.stable_at.is_some_and(|at| now >= at) {
                    self.stable_at = None;
                    self.failures = 0;
                }
                match self.heartbeat.on_timeout(now) {
                    Beat::SendPing { id } => {
                        self.actions.push_back(Action::Send(Transmit::Ping { id }))
                    }
                    Beat::Dead => {
                        let timeout_ms = self.config.heartbeat.timeout_ms;
                        self.close_socket(close_code::HEARTBEAT_TIMEOUT, "heartbeat timeout");
                        self.raise(ClientError::HeartbeatTimeout { timeout_ms });
                        self.connection_lost(
                            now,
                            close_code::HEARTBEAT_TIMEOUT,
                            "heartbeat timeout",
                        );
                    }
                    Beat::Nothing => {}
                }
            }
            Link::None if self.retry_at.is_some_and(|at| now >= at) => {
                self.retry_at = None;
                self.start_attempt(now);
            }
            _ => {}
        }
    }

    /// Gives back a transmit the driver polled but could not send because its socket had died;
    /// the driver then reports the close, and the frame is queued again ahead of newer ones.
    pub fn return_unsent(&mut self, transmit: Transmit<F>) {
        self.actions.push_front(Action::Send(transmit));
    }

    pub fn poll_action(&mut self) -> Option<Action<F>> {
        self.actions.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event<P>> {
        self.events.pop_front()
    }

    /// The earliest time at which `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        let deadlines = match self.link {
            Link::None => [self.retry_at, None],
            Link::Opening { deadline } | Link::Handshaking { deadline } => [Some(deadline), None],
            Link::Open { .. } => [self.stable_at, self.heartbeat.next_deadline()],
        };
        deadlines.into_iter().flatten().min()
    }

    fn start_attempt(&mut self, now: u64) {
        self.retry_at = None;
        self.link = Link::Opening {
            deadline: now + self.config.connect_timeout_ms,
        };
        self.actions.push_back(Action::Open);
        self.set_state(ConnectionState::Connecting {
            attempt: self.failures + 1,
        });
    }

    fn on_welcome(&mut self, now: u64) {
        self.link = Link::Open { since: now };
        self.stable_at = Some(now + self.config.reconnect.stable_after_ms);
        if self.was_open {
            self.metrics.reconnects += 1;
        }
        self.was_open = true;
        self.heartbeat.start(now);
        self.set_state(ConnectionState::Open);
        // Everything queued while offline goes first, in order, before anything newer.
        for (frame, size) in self.queue.take_all() {
            self.transmit_user(frame, size);
        }
    }

    fn transmit_user(&mut self, frame: F, size: usize) {
        self.metrics.messages_sent += 1;
        self.metrics.bytes_sent += size as u64;
        self.actions.push_back(Action::Send(Transmit::User(frame)));
    }

    /// Schedules the next attempt after a failure, or gives up after `max_attempts`.
    fn connection_lost(&mut self, now: u64, code: u16, reason: &str) {
        self.teardown();
        self.failures = self.failures.saturating_add(1);
        if let Some(max) = self.config.reconnect.max_attempts {
            if self.failures >= max {
                self.set_state(ConnectionState::Closed {
                    reason: CloseReason::MaxAttempts {
                        attempts: self.failures,
                    },
                });
                return;
            }
        }
        let delay_ms = backoff::delay_ms(&self.config.reconnect, self.failures, &mut self.rng);
        self.retry_at = Some(now + delay_ms);
        self.set_state(ConnectionState::Reconnecting {
            attempt: self.failures + 1,
            delay_ms,
            retry_at: now + delay_ms,
            code,
            reason: reason.to_owned(),
        });
    }

    /// Asks the driver to close the current socket, if any.
    fn close_socket(&mut self, code: u16, reason: &str) {
        if self.link != Link::None {
            self.link = Link::None;
            self.actions.push_back(Action::Close {
                code,
                reason: reason.to_owned(),
            });
        }
        self.teardown();
    }

    fn teardown(&mut self) {
        self.heartbeat.stop();
        self.stable_at = None;
    }

    /// User frames still waiting for a socket that is gone go back to the front of the queue, so
    /// a lazy driver cannot lose them. Control frames for the dead socket are meaningless.
    fn reclaim_unsent(&mut self) {
        let mut unsent = Vec::new();
        for action in self.actions.take_all() {
            match action {
                Action::Send(Transmit::User(frame)) => {
                    let size = frame.wire_size();
                    self.metrics.messages_sent -= 1;
                    self.metrics.bytes_sent -= size as u64;
                    unsent.push((frame, size));
                }
                Action::Send(_) => {}
                other => self.actions.push_back(other),
            }
        }
        self.queue.restore_front(unsent);
    }

    fn raise(&mut self, error: ClientError) {
        self.metrics.errors += 1;
        self.events.push_back(Event::Error(error));
    }

    fn set_state(&mut self, state: ConnectionState) {
        if self.state != state {
            self.state = state.clone();
            self.events.push_back(Event::State(state));
        }
    }
}
