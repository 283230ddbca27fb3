//! The client state machine. It owns no socket, timer, clock or randomness: the driver calls
//! `handle_*` with the current time, then drains `poll_action`, `poll_event` and `poll_timeout`.
//!
//! `F` is an encoded outbound frame (a `String` natively, a JS string in the browser) and `P` an
//! inbound payload (a JS value in the browser), so payloads are never converted here.

use super::backoff;
use super::config::{Config, ConfigError};
use super::docs::{DocState, Docs, PendingOp};
use super::events::{ClientError, CloseReason, ConnectionState, Event};
use super::fifo::Fifo;
use super::heartbeat::{Beat, Heartbeat};
use super::metrics::Metrics;
use super::quality::{self, DropLog};
use super::queue::{OutboundQueue, WireSize};
use super::requests::{RequestOptions, Requests};
use super::rng::Rng;
use super::rooms::{Delivery, Room, RoomState, Rooms};
use crate::doc::{apply, Json, Op};
use crate::protocol::{
    close_code, DocInbound, ErrorBody, Hello, Inbound, Member, PresenceChange, Resume, Welcome,
    PROTOCOL_VERSION,
};

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
    /// A frame the driver encoded earlier (a message, publish or request; `request` says which).
    User {
        frame: F,
        request: Option<u64>,
    },
    /// `meta` is the encoded presence metadata.
    Join {
        id: u64,
        room: String,
        since: Option<u64>,
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
    /// Subscribe to document `doc` and catch up from revision `since` (a snapshot when `None`).
    Sync {
        id: u64,
        doc: String,
        since: Option<u64>,
    },
    Unsync {
        id: u64,
        doc: String,
    },
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

/// An outbound frame waiting in the offline queue.
#[derive(Debug)]
struct Queued<F> {
    frame: F,
    request: Option<u64>,
}

impl<F: WireSize> WireSize for Queued<F> {
    fn wire_size(&self) -> usize {
        self.frame.wire_size()
    }
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
    /// The session to resume on the next connection.
    session: Option<Resume>,
    rng: Rng,
    queue: OutboundQueue<Queued<F>>,
    requests: Requests<F>,
    rooms: Rooms<F, P>,
    docs: Docs<P, F>,
    /// Stable id of this client in document ops (outlives sessions).
    origin: String,
    next_cseq: u64,
    /// Ids for requests, joins and leaves: one counter, so an `error` frame's id is unambiguous.
    next_id: u64,
    heartbeat: Heartbeat,
    metrics: Metrics,
    /// When the connection was lost lately, for the quality score.
    drops: DropLog,
    actions: Fifo<Action<F>>,
    events: Fifo<Event<P>>,
}

impl<F: WireSize + Clone, P: Clone> ClientCore<F, P> {
    /// A new client in the `Idle` state. `seed` feeds backoff jitter when the config has none.
    pub fn new(config: Config, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = Rng::new(config.seed.unwrap_or(seed));
        let origin = config.origin.clone().unwrap_or_else(|| {
            let mut origin = String::from("c-");
            for shift in (0..64).step_by(4).rev() {
                let digit = ((rng.next_u64() >> shift) & 0xf) as u32;
                origin.push(char::from_digit(digit, 16).unwrap_or('0'));
            }
            origin
        });
        Ok(ClientCore {
            rng,
            queue: OutboundQueue::new(config.queue.clone()),
            heartbeat: Heartbeat::new(config.heartbeat.clone()),
            config,
            state: ConnectionState::Idle,
            link: Link::None,
            failures: 0,
            retry_at: None,
            stable_at: None,
            was_open: false,
            session: None,
            requests: Requests::new(),
            rooms: Rooms::new(),
            docs: Docs::new(),
            origin,
            next_cseq: 1,
            next_id: 1,
            metrics: Metrics::default(),
            drops: DropLog::default(),
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

    /// The current session id, once a connection was welcomed.
    pub fn session(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.session.as_str())
    }

    pub fn metrics(&self, now: u64) -> Metrics {
        let open = matches!(self.link, Link::Open { .. });
        let quality_score = quality::score(
            open,
            self.heartbeat.smoothed_rtt_ms(),
            self.drops.recent(now),
        );
        Metrics {
            quality_score,
            quality: quality::level(quality_score),
            queue_depth: self.queue.len() as u64,
            queue_bytes: self.queue.bytes() as u64,
            pending_requests: self.requests.len() as u64,
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

    /// Closes the connection and stops reconnecting. Queued messages stay queued; requests in
    /// flight are settled by their disconnect policy.
    pub fn close(&mut self) {
        self.close_socket(close_code::NORMAL, "client closed");
        self.retry_at = None;
        self.set_state(ConnectionState::Closed {
            reason: CloseReason::Client,
        });
    }

    /// Sends an encoded frame now when open, otherwise queues it.
    pub fn send(&mut self, frame: F) -> Result<(), ClientError> {
        self.submit(frame, None)
    }

    /// A fresh request id, for the driver to encode into the request frame.
    pub fn allocate_request_id(&mut self) -> u64 {
        self.next_id()
    }

    /// Starts request `id` (from `allocate_request_id`) whose encoded frame is `frame`. The
    /// outcome arrives as exactly one [`Event::Reply`] unless this returns an error.
    pub fn request(
        &mut self,
        now: u64,
        id: u64,
        frame: F,
        options: RequestOptions,
    ) -> Result<(), ClientError> {
        self.requests.insert(id, frame.clone(), options, now);
        let result = self.submit(frame, Some(id));
        if result.is_err() {
            self.requests.remove(id);
        }
        result
    }

    /// Cancels a pending request: it settles with `Aborted` (nothing happens if it had settled).
    pub fn cancel_request(&mut self, id: u64) {
        if self.requests.remove(id).is_some() {
            self.unqueue_request(id);
            self.settle(id, Err(ClientError::Aborted));
        }
    }

    /// Joins `room`, or adds a reference to it. `meta` is encoded presence metadata.
    pub fn join(&mut self, room: &str, meta: Option<F>) {
        if self.rooms.add_ref(room, meta) {
            self.events.push_back(Event::Room {
                room: room.to_owned(),
                state: RoomState::Joining,
            });
            if matches!(self.link, Link::Open { .. }) {
                self.send_join(room);
            }
        }
    }

    /// Drops a reference to `room`; the last one leaves it.
    pub fn leave(&mut self, room: &str) {
        if self.rooms.release(room) {
            if matches!(self.link, Link::Open { .. }) {
                let id = self.next_id();
                self.push_send(Transmit::Leave {
                    id,
                    room: room.to_owned(),
                });
            }
            self.events.push_back(Event::Room {
                room: room.to_owned(),
                state: RoomState::Left,
            });
        }
    }

    /// Changes this client's presence metadata in `room` (kept for rejoins).
    /// Sets this client's presence metadata in `room`: `meta` is sent (now, or with the next
    /// join) and `local`, the same value decoded, shows at once in this client's own member entry,
    /// with a local `update` event, since the server tells only the other members.
    pub fn set_presence(&mut self, room: &str, meta: F, local: P) {
        let open = matches!(self.link, Link::Open { .. });
        let Some(entry) = self.rooms.get_mut(room) else {
            return;
        };
        entry.meta = Some(meta.clone());
        if !(open && matches!(entry.state, RoomState::Joined { .. })) {
            entry.unsent_meta = Some(local);
            return;
        }
        self.push_send(Transmit::Presence {
            room: room.to_owned(),
            meta,
        });
        self.show_own_meta(room, local);
    }

    /// Shows this client's new presence metadata in its own member entry, with a local `update`.
    fn show_own_meta(&mut self, room: &str, local: P) {
        let own = self
            .session
            .as_ref()
            .and_then(|resume| self.rooms.get(room)?.members.get(&resume.session))
            .cloned();
        if let Some(mut own) = own {
            own.meta = Some(local);
            self.on_presence(room.to_owned(), PresenceChange::Update, own);
        }
    }

    pub fn room(&self, room: &str) -> Option<&Room<F, P>> {
        self.rooms.get(room)
    }

    /// This client's id in document ops.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Opens document `name`, or adds a reference to it; the first opening syncs it.
    pub fn open_doc(&mut self, name: &str) {
        if self.docs.open(name) && matches!(self.link, Link::Open { .. }) {
            self.send_sync(name);
        }
    }

    /// Drops a reference to document `name`; the last one closes it (pending ops are dropped).
    pub fn close_doc(&mut self, name: &str) {
        if self.docs.close(name) && matches!(self.link, Link::Open { .. }) {
            let id = self.next_id();
            self.push_send(Transmit::Unsync {
                id,
                doc: name.to_owned(),
            });
        }
    }

    pub fn doc(&self, name: &str) -> Option<&DocState<P, F>> {
        self.docs.get(name)
    }

    /// A fresh op sequence number, for the driver to encode into the op frame.
    pub fn allocate_cseq(&mut self) -> u64 {
        let cseq = self.next_cseq;
        self.next_cseq += 1;
        cseq
    }

    /// The driver's socket opened: start the handshake.
    pub fn handle_socket_open(&mut self, _now: u64) {
        if let Link::Opening { deadline } = self.link {
            self.link = Link::Handshaking { deadline };
            self.push_send(Transmit::Hello(Hello {
                version: PROTOCOL_VERSION,
                user: self.config.user.clone(),
                resume: self.session.clone(),
            }));
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
            self.handle_fatal(code, reason);
            return;
        }
        self.connection_lost(now, code, reason);
    }

    /// The server refused us for good: close without retrying.
    fn handle_fatal(&mut self, code: u16, reason: &str) {
        self.teardown();
        self.retry_at = None;
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
    }

    /// A frame arrived. `wire_size` is its encoded length.
    pub fn handle_inbound(&mut self, now: u64, frame: Inbound<P>, wire_size: usize) {
        if self.link == Link::None {
            return;
        }
        match frame {
            Inbound::Welcome(welcome) => {
                if let Link::Handshaking { .. } = self.link {
                    if welcome.version == PROTOCOL_VERSION {
                        self.on_welcome(now, welcome);
                    } else {
                        // A server speaking another version cannot be talked to: do not retry.
                        self.close_socket(close_code::UNSUPPORTED_VERSION, "unsupported version");
                        self.handle_fatal(
                            close_code::UNSUPPORTED_VERSION,
                            "the server welcomed with another protocol version",
                        );
                    }
                }
            }
            Inbound::Message(payload) => {
                self.count_received(wire_size);
                self.events.push_back(Event::Message(payload));
            }
            Inbound::RoomMessage { room, seq, payload } => match self.rooms.accept(&room, seq) {
                Delivery::Deliver => {
                    self.count_received(wire_size);
                    self.events
                        .push_back(Event::RoomMessage { room, seq, payload });
                }
                Delivery::Duplicate => self.metrics.duplicates += 1,
                Delivery::UnknownRoom => {}
            },
            Inbound::Reply { id, result } => {
                if self.requests.remove(id).is_none() {
                    self.metrics.unknown_replies += 1;
                    return;
                }
                let result = result.map_err(|body| ClientError::Server {
                    code: body.code,
                    message: body.message,
                });
                self.settle(id, result);
            }
            Inbound::Joined {
                id,
                room,
                seq,
                recovered,
                members,
            } => self.on_joined(id, room, seq, recovered, members),
            Inbound::Left { .. } => {}
            Inbound::Presence {
                room,
                change,
                member,
            } => self.on_presence(room, change, member),
            Inbound::Notify(payload) => self.events.push_back(Event::Notification(payload)),
            Inbound::Ping { id } => self.push_send(Transmit::Pong { id }),
            Inbound::Pong { id } => {
                if let Some(sample) = self.heartbeat.on_pong(id, now) {
                    self.events.push_back(Event::Rtt {
                        rtt_ms: sample.rtt_ms,
                        smoothed_ms: sample.smoothed_ms,
                    });
                }
            }
            Inbound::Error { id, room, body } => self.on_error_frame(id, room, body),
            Inbound::Unknown { kind } => self.raise(ClientError::UnknownKind { kind }),
        }
    }

    /// A frame arrived that the driver could not decode. The connection carries on.
    pub fn handle_malformed(&mut self, reason: String) {
        self.raise(ClientError::MalformedFrame { reason });
    }

    /// Time passed: fire whatever deadline is due.
    pub fn handle_timeout(&mut self, now: u64) {
        for (id, timeout_ms) in self.requests.take_expired(now) {
            self.unqueue_request(id);
            self.settle(id, Err(ClientError::Timeout { timeout_ms }));
        }
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
                    Beat::SendPing { id } => self.push_send(Transmit::Ping { id }),
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
        let link = match self.link {
            Link::None => [self.retry_at, None],
            Link::Opening { deadline } | Link::Handshaking { deadline } => [Some(deadline), None],
            Link::Open { .. } => [self.stable_at, self.heartbeat.next_deadline()],
        };
        link.into_iter()
            .chain([self.requests.next_deadline()])
            .flatten()
            .min()
    }

    fn submit(&mut self, frame: F, request: Option<u64>) -> Result<(), ClientError> {
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
                self.transmit_user(frame, size, request);
                Ok(())
            }
            _ => {
                let dropped = self.queue.push(Queued { frame, request }, size)?;
                if !dropped.items.is_empty() {
                    let count = dropped.items.len();
                    self.metrics.dropped += count as u64;
                    self.events.push_back(Event::Dropped {
                        count,
                        bytes: dropped.bytes,
                    });
                    // A dropped request settles, so its promise does not wait forever.
                    let (depth, bytes) = (self.queue.len(), self.queue.bytes());
                    for id in dropped.items.into_iter().filter_map(|q| q.request) {
                        if self.requests.remove(id).is_some() {
                            self.settle(id, Err(ClientError::QueueFull { depth, bytes }));
                        }
                    }
                }
                Ok(())
            }
        }
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

    fn on_welcome(&mut self, now: u64, welcome: Welcome) {
        self.link = Link::Open { since: now };
        self.stable_at = Some(now + self.config.reconnect.stable_after_ms);
        if self.was_open {
            self.metrics.reconnects += 1;
        }
        self.was_open = true;
        self.heartbeat.start(now);
        let lost = self.session.is_some() && !welcome.resumed;
        if lost {
            // The new session has no record of what the old one ran: do not re-send.
            for id in self.requests.take_sent() {
                self.unqueue_request(id);
                self.settle(id, Err(ClientError::SessionLost));
            }
        }
        self.session = Some(Resume {
            session: welcome.session.clone(),
            token: welcome.token,
        });
        self.events.push_back(Event::Session {
            id: welcome.session,
            resumed: welcome.resumed,
            lost,
        });
        self.set_state(ConnectionState::Open);
        // Rooms first, so messages published right after the reconnect reach joined rooms.
        for room in self.rooms.names() {
            self.send_join(&room);
        }
        for doc in self.docs.names() {
            self.send_sync(&doc);
        }
        // Everything queued while offline goes next, in order, before anything newer.
        for (queued, size) in self.queue.take_all() {
            if queued
                .request
                .is_some_and(|id| !self.requests.is_pending(id))
            {
                continue; // cancelled or timed out while waiting
            }
            self.transmit_user(queued.frame, size, queued.request);
        }
    }

    fn send_sync(&mut self, name: &str) {
        let id = self.next_id();
        let Some(doc) = self.docs.get_mut(name) else {
            return;
        };
        doc.synced = false;
        doc.sync_id = Some(id);
        let since = doc.has_base.then_some(doc.confirmed.rev);
        self.push_send(Transmit::Sync {
            id,
            doc: name.to_owned(),
            since,
        });
    }

    fn send_join(&mut self, room: &str) {
        let id = self.next_id();
        let Some(entry) = self.rooms.get_mut(room) else {
            return;
        };
        entry.join_id = Some(id);
        let transmit = Transmit::Join {
            id,
            room: room.to_owned(),
            since: entry.last_seq,
            meta: entry.meta.clone(),
        };
        self.push_send(transmit);
    }

    fn on_joined(
        &mut self,
        id: Option<u64>,
        room: String,
        seq: u64,
        recovered: bool,
        members: Vec<Member<P>>,
    ) {
        let Some(entry) = self.rooms.get_mut(&room) else {
            return; // left meanwhile
        };
        if id.is_some() && id != entry.join_id {
            return; // answers an earlier join of a room left and joined again since
        }
        entry.join_id = None;
        // A fresh join starts from now; an unrecovered rejoin skips what is gone for good.
        if entry.last_seq.is_none() || !recovered {
            entry.last_seq = Some(entry.last_seq.map_or(seq, |last| last.max(seq)));
        }
        entry.members = members.into_iter().map(|m| (m.id.clone(), m)).collect();
        entry.state = RoomState::Joined { recovered };
        // Metadata set while joining may be newer than what the join carried.
        let unsent = entry.unsent_meta.take().zip(entry.meta.clone());
        self.events.push_back(Event::Room {
            room: room.clone(),
            state: RoomState::Joined { recovered },
        });
        if let Some((local, meta)) = unsent {
            self.push_send(Transmit::Presence {
                room: room.clone(),
                meta,
            });
            self.show_own_meta(&room, local);
        }
    }

    fn on_presence(&mut self, room: String, change: PresenceChange, member: Member<P>) {
        let Some(entry) = self.rooms.get_mut(&room) else {
            return;
        };
        match change {
            PresenceChange::Join | PresenceChange::Update => {
                entry.members.insert(member.id.clone(), member.clone());
            }
            PresenceChange::Leave => {
                entry.members.remove(&member.id);
            }
        }
        self.events.push_back(Event::Presence {
            room,
            change,
            member,
        });
    }

    fn on_error_frame(&mut self, id: Option<u64>, room: Option<String>, body: ErrorBody) {
        if let (Some(id), Some(name)) = (id, room.as_deref()) {
            if let Some(entry) = self.rooms.get_mut(name).filter(|e| e.join_id == Some(id)) {
                entry.join_id = None;
                let state = RoomState::Error {
                    code: body.code.as_wire().to_owned(),
                    message: body.message,
                };
                entry.state = state.clone();
                self.metrics.errors += 1;
                self.events.push_back(Event::Room {
                    room: name.to_owned(),
                    state,
                });
                return;
            }
        }
        let error = ClientError::Server {
            code: body.code,
            message: body.message,
        };
        if let Some(id) = id.filter(|id| self.requests.is_pending(*id)) {
            self.requests.remove(id);
            self.settle(id, Err(error));
            return;
        }
        self.raise(error);
    }

    /// Takes a request that will never be sent out of the offline queue.
    fn unqueue_request(&mut self, id: u64) {
        self.queue.retain(|q| q.request != Some(id));
    }

    fn transmit_user(&mut self, frame: F, size: usize, request: Option<u64>) {
        match request {
            Some(id) => self.requests.set_in_flight(id, true),
            None => {
                self.metrics.messages_sent += 1;
                self.metrics.bytes_sent += size as u64;
            }
        }
        self.push_send(Transmit::User { frame, request });
    }

    fn settle(&mut self, id: u64, result: Result<P, ClientError>) {
        if let Err(error) = &result {
            if !matches!(error, ClientError::Aborted) {
                self.metrics.errors += 1;
            }
        }
        self.events.push_back(Event::Reply { id, result });
    }

    /// Schedules the next attempt after a failure, or gives up after `max_attempts`.
    fn connection_lost(&mut self, now: u64, code: u16, reason: &str) {
        self.teardown();
        self.drops.record(now);
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

    /// Forgets everything tied to the socket that is gone.
    fn teardown(&mut self) {
        self.heartbeat.stop();
        self.stable_at = None;
        let (failed, resend) = self.requests.on_disconnect();
        for id in failed {
            self.settle(id, Err(ClientError::Disconnected));
        }
        // In-flight retries go first: they were sent before anything still queued.
        let resend = resend
            .into_iter()
            .map(|(id, frame)| {
                let size = frame.wire_size();
                (
                    Queued {
                        frame,
                        request: Some(id),
                    },
                    size,
                )
            })
            .collect();
        self.queue.restore_front(resend);
        for (room, state) in self.rooms.on_disconnect() {
            self.events.push_back(Event::Room { room, state });
        }
        self.docs.on_disconnect();
    }

    /// User frames still waiting for a socket that is gone go back to the front of the queue, so
    /// a lazy driver cannot lose them. Control frames for the dead socket are meaningless.
    fn reclaim_unsent(&mut self) {
        let mut unsent = Vec::new();
        for action in self.actions.take_all() {
            match action {
                Action::Send(Transmit::User { frame, request }) => {
                    let size = frame.wire_size();
                    match request {
                        // Not sent, so not in flight: the disconnect policy does not apply.
                        Some(id) => self.requests.set_in_flight(id, false),
                        None => {
                            self.metrics.messages_sent -= 1;
                            self.metrics.bytes_sent -= size as u64;
                        }
                    }
                    unsent.push((Queued { frame, request }, size));
                }
                Action::Send(_) => {}
                other => self.actions.push_back(other),
            }
        }
        self.queue.restore_front(unsent);
    }

    fn push_send(&mut self, transmit: Transmit<F>) {
        self.actions.push_back(Action::Send(transmit));
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn count_received(&mut self, wire_size: usize) {
        self.metrics.messages_received += 1;
        self.metrics.bytes_received += wire_size as u64;
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

/// Document sync: needs the payload type to be a JSON value the shared `apply` can work on.
impl<F: WireSize + Clone, P: Clone + Json + PartialEq> ClientCore<F, P> {
    /// Applies a local op at once (optimistically) and sends its encoded `frame` (which carries
    /// `cseq` from `allocate_cseq` and this client's origin) when the document is synced;
    /// otherwise it is sent once the document is synced.
    pub fn apply_op(
        &mut self,
        name: &str,
        cseq: u64,
        op: Op<P>,
        frame: F,
    ) -> Result<(), ClientError> {
        let send = matches!(self.link, Link::Open { .. });
        let Some(doc) = self.docs.get_mut(name) else {
            return Err(ClientError::DocNotOpen {
                doc: name.to_owned(),
            });
        };
        doc.pending.push(PendingOp {
            origin: self.origin.clone(),
            cseq,
            op,
            frame: frame.clone(),
        });
        let changed = doc.rebase();
        let synced = doc.synced;
        self.doc_changed(name, changed);
        if send && synced {
            self.push_send(Transmit::User {
                frame,
                request: None,
            });
        }
        Ok(())
    }

    /// Opens document `name` with state saved earlier (by an earlier page): the confirmed
    /// entries at `rev` and the ops that were still pending. It catches up from `rev` and then
    /// re-sends the pending ops, which the server applies once each.
    pub fn open_doc_restored(
        &mut self,
        name: &str,
        rev: u64,
        entries: Vec<(String, P, u64)>,
        pending: Vec<PendingOp<P, F>>,
    ) {
        if !self.docs.open(name) {
            return; // already open: the live state wins over the saved one
        }
        if let Some(state) = self.docs.get_mut(name) {
            state.pending = pending;
            let changed = state.reset_confirmed(rev, entries);
            self.doc_changed(name, changed);
        }
        if matches!(self.link, Link::Open { .. }) {
            self.send_sync(name);
        }
    }

    /// A document frame arrived.
    pub fn handle_doc_frame(&mut self, frame: DocInbound<P>) {
        if self.link == Link::None {
            return;
        }
        match frame {
            DocInbound::Applied {
                doc,
                rev,
                origin,
                cseq,
                op,
            } => self.on_applied(&doc, rev, &origin, cseq, &op),
            DocInbound::Rejected {
                doc,
                origin,
                cseq,
                error,
            } => {
                let Some(state) = self.docs.get_mut(&doc) else {
                    return;
                };
                let Some(pending) = state.take_pending(&origin, cseq) else {
                    return; // not ours, or settled already
                };
                let changed = state.rebase();
                self.doc_changed(&doc, changed);
                self.metrics.errors += 1;
                self.events.push_back(Event::DocRejected {
                    doc,
                    cseq,
                    op: pending.op,
                    error: ClientError::Server {
                        code: error.code,
                        message: error.message,
                    },
                });
            }
            DocInbound::Synced { doc, rev } => {
                let Some(state) = self.docs.get_mut(&doc) else {
                    return;
                };
                if rev != state.confirmed.rev {
                    // The replay did not bring us to the server's revision: start over.
                    state.has_base = false;
                    self.send_sync(&doc);
                    return;
                }
                state.has_base = true;
                self.on_synced(&doc);
            }
            DocInbound::Snapshot { doc, rev, entries } => {
                let Some(state) = self.docs.get_mut(&doc) else {
                    return;
                };
                let changed = state.reset_confirmed(rev, entries);
                self.doc_changed(&doc, changed);
                self.on_synced(&doc);
            }
        }
    }

    fn on_applied(&mut self, name: &str, rev: u64, origin: &str, cseq: u64, op: &Op<P>) {
        let Some(state) = self.docs.get_mut(name) else {
            return;
        };
        if rev > state.confirmed.rev {
            if rev != state.confirmed.rev + 1 || apply(&mut state.confirmed, op) != Ok(rev) {
                // A gap or a disagreement: never guess, resync from the last good revision.
                if rev == state.confirmed.rev + 1 {
                    state.has_base = false;
                }
                self.send_sync(name);
                return;
            }
            state.has_base = true;
        }
        // At or below the confirmed revision: already applied (a replay overlap or the server
        // answering a re-sent op); it can still confirm one of ours.
        let confirmed = state.take_pending(origin, cseq).is_some();
        let changed = state.rebase();
        self.doc_changed(name, changed);
        if confirmed {
            self.events.push_back(Event::DocConfirmed {
                doc: name.to_owned(),
                cseq,
                rev,
            });
        }
    }

    /// The document caught up: re-send every op still pending, in order (the server applies
    /// each `(origin, cseq)` once).
    fn on_synced(&mut self, name: &str) {
        let Some(state) = self.docs.get_mut(name) else {
            return;
        };
        state.synced = true;
        state.sync_id = None;
        let rev = state.confirmed.rev;
        let frames: Vec<F> = state.pending.iter().map(|p| p.frame.clone()).collect();
        for frame in frames {
            self.push_send(Transmit::User {
                frame,
                request: None,
            });
        }
        self.events.push_back(Event::DocSynced {
            doc: name.to_owned(),
            rev,
        });
    }

    fn doc_changed(&mut self, name: &str, keys: Vec<String>) {
        if !keys.is_empty() {
            self.events.push_back(Event::DocChanged {
                doc: name.to_owned(),
                keys,
            });
        }
    }
}
