//! The one place the core's parts write their outputs: actions for the driver, events for the
//! app, the timer table and the counters. `ClientCore` lends `&mut Sink` to the module an input
//! is for; modules never reach into each other's state.

use super::events::{ClientError, Event};
use super::fifo::Fifo;
use super::metrics::Metrics;
use super::queue::WireSize;
use super::timers::Timers;
use super::write_budget::WriteBudget;
use crate::protocol::Hello;
use alloc::{borrow::ToOwned, string::String, vec::Vec};

/// A frame for the driver to encode and send on the current socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Transmit<F> {
    Hello(Hello),
    Ping {
        id: u64,
    },
    Pong {
        id: u64,
    },
    /// A frame the driver encoded earlier; `kind` says what it carries.
    User {
        frame: F,
        kind: UserKind,
    },
    /// `meta` is the encoded presence metadata; `epoch` is the stream `since` counts in.
    Join {
        id: u64,
        room: String,
        since: Option<u64>,
        epoch: Option<String>,
        /// Newest messages to replay on a first join (`since` is `None` then).
        history: Option<u64>,
        meta: Option<F>,
    },
    Leave {
        id: u64,
        room: String,
    },
    Presence {
        room: String,
        meta: F,
    },
    /// Subscribe to document `doc` and catch up from revision `since` of `epoch` (a snapshot
    /// when `None`, or when the server's document has another epoch).
    #[cfg(feature = "docs")]
    Sync {
        id: u64,
        doc: String,
        since: Option<u64>,
        epoch: Option<String>,
    },
    #[cfg(feature = "docs")]
    Unsync {
        id: u64,
        doc: String,
    },
    /// A fresh token for this connection, in-band.
    Refresh {
        id: u64,
        token: String,
    },
    /// Raw mode's own control frame, sent as it is: an open frame (`set_open_frames`) or the
    /// ping (`set_ping_frame`). Not counted and not queued again if its socket dies: the next
    /// open sends the open frames again.
    Raw(F),
}

/// What a [`Transmit::User`] frame carries, so a frame taken back from a dead socket goes back
/// where it belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    /// A message or room publish: counted in `messages_sent`, queued again if never sent.
    Message,
    /// Request `id`: queued again if never sent.
    Request(u64),
    /// A document op. It stays pending in its document until the server's verdict and is
    /// re-sent after every sync, so one that was never sent is dropped, not queued.
    #[cfg(feature = "docs")]
    DocOp,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action<F> {
    /// Open a new socket to the server at `url`, an index in the driver's URL list
    /// (`Config::url_count` long).
    Open { url: usize },
    /// Call the token function and hand its outcome to `handle_token` with this `id`. Before a
    /// connection attempt (the connect timeout covers the wait) and before the token expires.
    FetchToken { id: u64 },
    /// Send a frame on the current socket.
    Send(Transmit<F>),
    /// Detach from the current socket and close it. No close event for it is expected after this.
    Close { code: u16, reason: String },
}

#[derive(Debug)]
pub(crate) struct Sink<F, P> {
    actions: Fifo<Action<F>>,
    events: Fifo<Event<P>>,
    pub timers: Timers,
    /// What the current socket's send buffer holds: user frames handed out, `bufferedAmount`.
    pub budget: WriteBudget,
    /// The counters of [`Metrics`]; its gauges are read from the parts when asked for.
    counters: Metrics,
    /// Ids for requests, joins, leaves and syncs: one counter, so an `error` frame's id names
    /// one thing.
    next_id: u64,
}

impl<F: WireSize, P> Sink<F, P> {
    pub fn new() -> Self {
        Sink {
            actions: Fifo::new(),
            events: Fifo::new(),
            timers: Timers::new(),
            budget: WriteBudget::new(),
            counters: Metrics::default(),
            next_id: 1,
        }
    }

    /// The one way a frame reaches the socket. Messages are counted here and un-counted by
    /// `take_unsent`, so the counters match what the driver really sent.
    pub fn send(&mut self, transmit: Transmit<F>) {
        if let Transmit::User { frame, kind } = &transmit {
            let size = frame.wire_size();
            self.budget.on_queued_for_socket(size);
            if *kind == UserKind::Message {
                self.counters.messages_sent += 1;
                self.counters.bytes_sent += size as u64;
            }
        }
        self.actions.push_back(Action::Send(transmit));
    }

    pub fn fetch_token(&mut self, id: u64) {
        self.actions.push_back(Action::FetchToken { id });
    }

    pub fn open_socket(&mut self, url: usize) {
        self.actions.push_back(Action::Open { url });
    }

    pub fn close_socket(&mut self, code: u16, reason: &str) {
        self.actions.push_back(Action::Close {
            code,
            reason: reason.to_owned(),
        });
    }

    /// Takes back the user frames not yet polled (their socket is gone); control frames for it
    /// are meaningless and dropped, other actions stay.
    pub fn take_unsent(&mut self) -> Vec<(F, UserKind)> {
        let mut unsent = Vec::new();
        for action in self.actions.take_all() {
            match action {
                Action::Send(Transmit::User { frame, kind }) => {
                    if kind == UserKind::Message {
                        // Saturating: a driver returning a frame twice must not panic the core.
                        let counters = &mut self.counters;
                        counters.messages_sent = counters.messages_sent.saturating_sub(1);
                        counters.bytes_sent =
                            counters.bytes_sent.saturating_sub(frame.wire_size() as u64);
                    }
                    unsent.push((frame, kind));
                }
                Action::Send(_) => {}
                other => self.actions.push_back(other),
            }
        }
        unsent
    }

    /// A frame the driver polled but could not send goes back ahead of everything.
    pub fn return_unsent(&mut self, transmit: Transmit<F>) {
        if let Transmit::User { frame, .. } = &transmit {
            self.budget.on_given_back(frame.wire_size());
        }
        self.actions.push_front(Action::Send(transmit));
    }

    pub fn poll_action(&mut self) -> Option<Action<F>> {
        let action = self.actions.pop_front();
        if let Some(Action::Send(Transmit::User { frame, .. })) = &action {
            self.budget.on_taken(frame.wire_size());
        }
        action
    }

    pub fn poll_event(&mut self) -> Option<Event<P>> {
        self.events.pop_front()
    }

    /// True while events wait for the driver: a message delivered directly must not pass them.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    pub fn emit(&mut self, event: Event<P>) {
        self.events.push_back(event);
    }

    /// Emits an event that reports an error (counted in `errors`).
    pub fn emit_failure(&mut self, event: Event<P>) {
        self.counters.errors += 1;
        self.events.push_back(event);
    }

    /// Raises an error of the connection as a whole.
    pub fn raise(&mut self, error: ClientError) {
        self.emit_failure(Event::Error(error));
    }

    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn counters(&self) -> &Metrics {
        &self.counters
    }

    pub fn count_oversized(&mut self) {
        self.counters.oversized_frames += 1;
    }

    pub fn count_received(&mut self, wire_size: usize) {
        self.counters.messages_received += 1;
        self.counters.bytes_received += wire_size as u64;
    }

    pub fn count_duplicate(&mut self) {
        self.counters.duplicates += 1;
    }

    pub fn count_unknown_reply(&mut self) {
        self.counters.unknown_replies += 1;
    }

    pub fn count_dropped(&mut self, count: usize) {
        self.counters.dropped += count as u64;
    }

    pub fn count_write_pause(&mut self) {
        self.counters.write_pauses += 1;
    }

    /// A socket died holding `frames` user frames and `bytes` bytes in its send buffer.
    pub fn count_unsent(&mut self, frames: usize, bytes: usize) {
        self.counters.unsent_frames += frames as u64;
        self.counters.unsent_bytes += bytes as u64;
    }

    pub fn count_reconnect(&mut self) {
        self.counters.reconnects += 1;
    }
}

#[cfg(all(test, feature = "docs"))]
mod tests {
    use super::*;

    #[test]
    fn messages_taken_back_unsent_are_uncounted_and_doc_ops_never_counted() {
        let mut sink: Sink<String, ()> = Sink::new();
        sink.send(Transmit::User {
            frame: "hello".into(),
            kind: UserKind::Message,
        });
        sink.send(Transmit::User {
            frame: "op".into(),
            kind: UserKind::DocOp,
        });
        sink.close_socket(1000, "bye");
        assert_eq!(sink.counters().messages_sent, 1);
        assert_eq!(sink.counters().bytes_sent, 5);
        assert_eq!(sink.take_unsent().len(), 2);
        assert_eq!(sink.counters().messages_sent, 0);
        assert_eq!(sink.counters().bytes_sent, 0);
        assert!(matches!(sink.poll_action(), Some(Action::Close { .. })));
        assert_eq!(sink.poll_action(), None);
    }
}
