//! The client state machine. It owns no socket, timer, clock or randomness: the driver calls
//! `handle_*` with the current time, then drains `poll_action`, `poll_event` and `poll_timeout`.
//!
//! `F` is an encoded outbound frame (a `String` natively, a JS string in the browser) and `P` an
//! inbound payload (a JS value in the browser), so payloads are never converted here.
//!
//! This file keeps the connection lifecycle (connect, handshake, heartbeat, backoff, close) and
//! routes every other input to the part that owns it: [`Outbox`] (offline queue), [`Requests`],
//! [`Rooms`] and [`Docs`]. Each writes its outputs to the one [`Sink`].

use super::backoff;
use super::config::{Config, ConfigError, Mode, TokenSource};
#[cfg(feature = "docs")]
use super::docs::{DocState, Docs, OpFrame, PendingOp};
use super::events::{ClientError, CloseReason, ConnectionState, Event};
use super::heartbeat::{Beat, Heartbeat};
use super::lifecycle::{Page, PageEvent, AWAY_WITHOUT_HEARTBEAT_MS, SOON_JITTER_MAX_MS};
use super::metrics::Metrics;
use super::outbox::{Outbox, Queued};
use super::quality::{self, DropLog};
use super::queue::WireSize;
use super::requests::{DisconnectPolicy, RequestOptions, Requests};
use super::rng::Rng;
use super::rooms::{Room, Rooms};
use super::sink::{Action, Sink, Transmit, UserKind};
use super::timers::Timer;
use super::write_budget::DRAIN_POLL_MS;
#[cfg(feature = "docs")]
use crate::doc::{Json, Op};
#[cfg(feature = "docs")]
use crate::protocol::DocInbound;
use crate::protocol::{close_code, ErrorCode, Hello, Inbound, Resume, Welcome, PROTOCOL_VERSION};
use alloc::{borrow::ToOwned, string::String, vec::Vec};

/// Where the current socket is, internally finer than [`ConnectionState`]. The connect deadline
/// of `Opening` and `Handshaking` (and of the token fetch before them) is [`Timer::Connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    None,
    Opening,
    Handshaking,
    Open { since: u64 },
}

#[derive(Debug)]
pub struct ClientCore<F, P> {
    config: Config,
    state: ConnectionState,
    link: Link,
    /// Consecutive failed attempts since the last stable connection.
    failures: u32,
    /// The index in the driver's URL list of the current attempt's URL, or of the next
    /// attempt's while none is under way: kept while it works, moved on after a failure.
    url: usize,
    /// Whether a connection was ever open, so later openings count as reconnects.
    was_open: bool,
    /// The session to resume on the next connection.
    session: Option<Resume>,
    /// The token fetched last (with [`TokenSource::Fetch`]): sent in the next `hello`.
    token: Option<String>,
    /// The id of the token fetch in flight: before an attempt while `Connecting` with no link,
    /// or a refresh while open. Cleared on teardown, so a late answer is ignored.
    token_fetch: Option<u64>,
    /// The id of the `refresh` awaiting the server's answer.
    refresh_id: Option<u64>,
    /// How many requests may be in flight at once: the server's de-duplication window from its
    /// last `welcome` (`None`: it advertised none). The rest wait in the outbox.
    request_window: Option<usize>,
    rng: Rng,
    heartbeat: Heartbeat,
    /// What the page reported last (`handle_page`): online or not, in front or away since when.
    page: Page,
    /// When the connection was lost lately, for the quality score.
    drops: DropLog,
    outbox: Outbox<F>,
    requests: Requests<F>,
    rooms: Rooms<F, P>,
    #[cfg(feature = "docs")]
    docs: Docs<P, F>,
    /// Raw mode: the frames sent first on every open (subscriptions), and the ping frame.
    open_frames: Vec<F>,
    ping_frame: Option<F>,
    /// Actions, events, timers and counters: everything the parts above output.
    out: Sink<F, P>,
}

impl<F: WireSize + Clone, P: Clone> ClientCore<F, P> {
    /// A new client in the `Idle` state. `seed` feeds backoff jitter when the config has none.
    pub fn new(config: Config, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::with_checked_config(config, seed))
    }

    /// `new` for a `config` its caller has already checked with `validate`'s rules (not checked
    /// again): the browser checks its options in JS (`clientOptions` in js/wasm/options.ts, the
    /// same rules and messages), so the WASM module carries no second validator.
    pub fn with_checked_config(config: Config, seed: u64) -> Self {
        let rng = Rng::new(config.seed.unwrap_or(seed));
        // Until the server assigns one (`welcome.origin`), ops carry the configured origin or
        // none: the seed never makes an origin.
        #[cfg(feature = "docs")]
        let origin = config.origin.clone().unwrap_or_default();
        ClientCore {
            rng,
            outbox: Outbox::new(&config),
            heartbeat: Heartbeat::new(config.heartbeat.clone()),
            page: Page::default(),
            config,
            state: ConnectionState::Idle,
            link: Link::None,
            failures: 0,
            url: 0,
            was_open: false,
            session: None,
            token: None,
            token_fetch: None,
            refresh_id: None,
            request_window: None,
            drops: DropLog::default(),
            requests: Requests::new(),
            rooms: Rooms::new(),
            #[cfg(feature = "docs")]
            docs: Docs::new(origin),
            open_frames: Vec::new(),
            ping_frame: None,
            out: Sink::new(),
        }
    }

    pub fn state(&self) -> &ConnectionState {
        &self.state
    }

    /// The index in the driver's URL list of the URL the current attempt or connection uses,
    /// or the next attempt will.
    pub fn url(&self) -> usize {
        self.url
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn raw(&self) -> bool {
        self.config.mode == Mode::Raw
    }

    /// Raw mode: the frames sent on every open, before anything queued (subscriptions, so a
    /// reconnect re-subscribes). Takes effect from the next open.
    pub fn set_open_frames(&mut self, frames: Vec<F>) {
        self.open_frames = frames;
    }

    /// Raw mode: the keepalive frame sent every `heartbeat.interval_ms` while open; its pong is
    /// what `handle_raw_frame` says it is. Without one, raw mode has no heartbeat.
    pub fn set_ping_frame(&mut self, frame: Option<F>) {
        self.ping_frame = frame;
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
            queue_depth: self.outbox.len() as u64,
            queue_bytes: self.outbox.bytes() as u64,
            buffered_bytes: match self.link {
                Link::Open { .. } => self.out.budget.reported() as u64,
                _ => 0,
            },
            pending_requests: self.requests.len() as u64,
            rtt_ms: self.heartbeat.last_rtt_ms(),
            smoothed_rtt_ms: self.heartbeat.smoothed_rtt_ms(),
            uptime_ms: match self.link {
                Link::Open { since } => now.saturating_sub(since),
                _ => 0,
            },
            ..self.out.counters().clone()
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

    /// Closes any socket and connects again at once, resetting the backoff. It stays on the
    /// current URL (while reconnecting, the one the retry would have used).
    pub fn reconnect(&mut self, now: u64) {
        self.close_socket(close_code::RECONNECT, "reconnect requested");
        self.failures = 0;
        self.start_attempt(now);
    }

    /// Closes the connection and stops reconnecting. Queued messages stay queued; requests in
    /// flight are settled by their disconnect policy.
    pub fn close(&mut self) {
        self.close_socket(close_code::NORMAL, "client closed");
        self.out.timers.clear(Timer::Retry);
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
        self.out.next_id()
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
        if self.raw() {
            return Err(ClientError::NotSupported { what: "request" });
        }
        self.requests
            .start(&mut self.out, now, id, frame.clone(), options);
        let result = self.submit(frame, Some(id));
        if result.is_err() {
            self.requests.forget(&mut self.out, id);
        }
        result
    }

    /// Publishes `frame`, a room `publish` carrying `id` (from `allocate_request_id`), as a
    /// request: it settles as one [`Event::Reply`] with the message's seq (the server's
    /// acknowledgement), is re-sent after a drop (the server applies it once per session) and
    /// waits for a connection however long it takes; sent and then the session lost, it settles
    /// with `SessionLost`.
    pub fn publish(&mut self, now: u64, id: u64, frame: F) -> Result<(), ClientError> {
        let options = RequestOptions {
            timeout_ms: None,
            on_disconnect: DisconnectPolicy::Retry,
        };
        self.request(now, id, frame, options)
    }

    /// Cancels a pending request: it settles with `Aborted` (nothing happens if it had settled).
    pub fn cancel_request(&mut self, id: u64) {
        if self
            .requests
            .settle(&mut self.out, id, Err(ClientError::Aborted))
        {
            self.outbox.unqueue_request(id);
            self.flush_outbox(None);
        }
    }

    /// Joins `room`, or adds a reference to it. `meta` is encoded presence metadata.
    pub fn join(&mut self, room: &str, meta: Option<F>) {
        self.join_with_history(room, meta, None);
    }

    /// [`join`](Self::join) that first replays up to `history` of the newest messages the
    /// server holds, then goes live (the first join only: a rejoin recovers with `since`).
    pub fn join_with_history(&mut self, room: &str, meta: Option<F>, history: Option<u64>) {
        // Raw mode has no rooms: the driver refuses the call with `NotSupported` first.
        if self.raw() {
            return;
        }
        self.rooms.join(&mut self.out, room, meta, history);
    }

    /// Drops a reference to `room`; the last one leaves it.
    pub fn leave(&mut self, room: &str) {
        self.rooms.leave(&mut self.out, room);
    }

    /// Sets this client's presence metadata in `room`: `meta` is sent (now, or with the next
    /// join) and `local`, the same value decoded, shows at once in this client's own member entry,
    /// with a local `update` event, since the server tells only the other members.
    pub fn set_presence(&mut self, room: &str, meta: F, local: P) {
        self.rooms.set_presence(&mut self.out, room, meta, local);
    }

    pub fn room(&self, room: &str) -> Option<&Room<F, P>> {
        self.rooms.get(room)
    }

    /// This client's id in document ops.
    #[cfg(feature = "docs")]
    pub fn origin(&self) -> &str {
        self.docs.origin()
    }

    /// Opens document `name`, or adds a reference to it; the first opening syncs it.
    #[cfg(feature = "docs")]
    pub fn open_doc(&mut self, name: &str) {
        if self.raw() {
            return;
        }
        self.docs.open(&mut self.out, name);
    }

    /// Drops a reference to document `name`; the last one closes it (pending ops are dropped).
    #[cfg(feature = "docs")]
    pub fn close_doc(&mut self, name: &str) {
        self.docs.close(&mut self.out, name);
    }

    #[cfg(feature = "docs")]
    pub fn doc(&self, name: &str) -> Option<&DocState<P, F>> {
        self.docs.get(name)
    }

    /// A fresh op sequence number, for the driver to encode into the op frame.
    #[cfg(feature = "docs")]
    pub fn allocate_cseq(&mut self) -> u64 {
        self.docs.allocate_cseq()
    }

    /// The driver's socket opened: start the handshake. In raw mode the connection is open at
    /// once: the open frames go first, then what was queued.
    pub fn handle_socket_open(&mut self, now: u64) {
        if self.link == Link::Opening && self.raw() {
            self.begin_open(now);
            self.set_state(ConnectionState::Open { url: self.url });
            for frame in &self.open_frames {
                self.out.send(Transmit::Raw(frame.clone()));
            }
            self.flush_outbox(Some(now));
        } else if self.link == Link::Opening {
            self.link = Link::Handshaking;
            let token = match &self.config.token {
                TokenSource::None => None,
                TokenSource::Static(token) => Some(token.clone()),
                TokenSource::Fetch => self.token.clone(),
            };
            self.out.send(Transmit::Hello(Hello {
                version: PROTOCOL_VERSION,
                user: self.config.user.clone(),
                resume: self.session.clone(),
                token,
            }));
        }
    }

    /// The token function of [`Action::FetchToken`] `id` returned a token (`Ok`) or failed
    /// (`Err` with the reason). Answers to fetches the core no longer waits for are ignored.
    pub fn handle_token(&mut self, now: u64, id: u64, result: Result<String, String>) {
        if self.token_fetch != Some(id) {
            return;
        }
        self.token_fetch = None;
        match (self.link, result) {
            // Before an attempt: connect with it, or count a failed attempt.
            (Link::None, Ok(token)) => {
                self.token = Some(token);
                self.link = Link::Opening;
                self.out.open_socket(self.url);
            }
            (Link::None, Err(reason)) => {
                self.out.raise(ClientError::TokenUnavailable {
                    reason: reason.clone(),
                });
                self.connection_lost(now, close_code::UNAUTHORIZED, &reason);
            }
            // While open: refresh in-band, no reconnect.
            (Link::Open { .. }, Ok(token)) => {
                let id = self.out.next_id();
                self.refresh_id = Some(id);
                self.token = Some(token.clone());
                self.out.send(Transmit::Refresh { id, token });
            }
            // The server closes with 4402 at expiry; that reconnect fetches again.
            (_, Err(reason)) => self.out.raise(ClientError::TokenUnavailable { reason }),
            (_, Ok(_)) => {}
        }
    }

    /// The driver's socket closed (by the server or the network).
    pub fn handle_socket_closed(&mut self, now: u64, code: u16, reason: &str) {
        if self.link == Link::None {
            return;
        }
        // A token refused as expired before `welcome` is a refusal at hello like 4401.
        let at_hello = self.link == Link::Handshaking;
        self.link = Link::None;
        self.reclaim_unsent();
        // A raw server's close codes mean nothing to us: every close is a drop, retried.
        let resocket = !self.raw();
        let refused =
            code == close_code::UNAUTHORIZED || (code == close_code::TOKEN_EXPIRED && at_hello);
        if resocket && refused {
            self.out.raise(ClientError::Unauthorized {
                reason: reason.to_owned(),
            });
            // Only a token function can come up with a different token: retry with backoff.
            if self.config.token != TokenSource::Fetch {
                self.stop(CloseReason::Unauthorized);
                return;
            }
        } else if resocket && close_code::is_fatal(code) {
            if code == close_code::RESUMED_ELSEWHERE {
                // The session lives on elsewhere: a later `reconnect()` starts a new one
                // instead of stealing it back.
                self.session = None;
            }
            self.handle_fatal(code, reason);
            return;
        }
        self.connection_lost(now, code, reason);
    }

    /// A user message (`msg`) that a driver delivers itself when it can (the browser's hot path:
    /// no event built, the room name borrowed): the same decisions and counters as
    /// [`handle_inbound`](Self::handle_inbound) with `Inbound::Message` (`room` `None`) or
    /// `Inbound::RoomMessage` (`Some((room, seq))`). True when the driver must deliver it now:
    /// accepted, `direct` (the driver can deliver now) and no event waiting ahead of it. The
    /// core is then left quiet: no action, no event and no earlier deadline, so the driver needs
    /// no pump after it (a property test holds it to that). Otherwise an accepted message is
    /// queued as its event, with the payload and author `read` returns, behind those that wait.
    /// `now` is called only when the time matters (a ping awaits its pong): the browser reads its
    /// clock through a call out of WASM.
    pub fn handle_message(
        &mut self,
        now: impl FnOnce() -> u64,
        room: Option<(&str, u64)>,
        wire_size: usize,
        direct: bool,
        read: impl FnOnce() -> (P, Option<P>),
    ) -> bool {
        if self.link == Link::None {
            return false;
        }
        self.heartbeat.on_inbound(now);
        let out = &mut self.out;
        let accepted = match room {
            Some((room, seq)) => self.rooms.on_message(out, room, seq, wire_size),
            None => {
                out.count_received(wire_size);
                true
            }
        };
        if !accepted {
            return false;
        }
        if direct && !out.has_events() {
            return true;
        }
        let (payload, user) = read();
        out.emit(match room {
            Some((room, seq)) => Event::RoomMessage {
                room: room.to_owned(),
                seq,
                payload,
                user,
            },
            None => Event::Message(payload),
        });
        false
    }

    /// A frame arrived. `wire_size` is its encoded length.
    pub fn handle_inbound(&mut self, now: u64, frame: Inbound<P>, wire_size: usize) {
        if self.link == Link::None {
            return;
        }
        self.heartbeat.on_inbound(|| now);
        let out = &mut self.out;
        match frame {
            Inbound::Welcome(welcome) => {
                if self.link == Link::Handshaking {
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
                out.count_received(wire_size);
                out.emit(Event::Message(payload));
            }
            Inbound::RoomMessage {
                room,
                seq,
                payload,
                user,
            } => {
                if self.rooms.on_message(out, &room, seq, wire_size) {
                    out.emit(Event::RoomMessage {
                        room,
                        seq,
                        payload,
                        user,
                    });
                }
            }
            Inbound::Refreshed { id, expires_in } => {
                if self.refresh_id == Some(id) {
                    self.refresh_id = None;
                    self.schedule_refresh(now, expires_in);
                }
            }
            Inbound::Reply { id, result } => {
                self.requests.on_reply(out, id, result);
                self.flush_outbox(Some(now));
            }
            Inbound::Joined {
                id,
                room,
                seq,
                recovered,
                epoch,
                members,
            } => self
                .rooms
                .on_joined(out, id, room, (seq, epoch), recovered, members),
            Inbound::Left { .. } => {}
            Inbound::Presence {
                room,
                change,
                member,
            } => self.rooms.on_presence(out, room, change, member),
            Inbound::Notify(payload) => out.emit(Event::Notification(payload)),
            Inbound::Ping { id } => out.send(Transmit::Pong { id }),
            Inbound::Pong { id } => self.on_pong(now, Some(id)),
            Inbound::Error { id, room, body } => {
                if id.is_some() && id == self.refresh_id {
                    // A refused refresh: the server closes with 4402 at expiry, and the
                    // reconnect fetches a fresh token.
                    self.refresh_id = None;
                    out.raise(match body.code {
                        ErrorCode::Unauthorized => ClientError::Unauthorized {
                            reason: body.message,
                        },
                        code => ClientError::Server {
                            code,
                            message: body.message,
                        },
                    });
                    return;
                }
                // A refused join, a refused sync, a failed request, or else the connection's.
                let room = room.as_deref();
                let Some(body) = self.rooms.on_error(out, id, room, body) else {
                    return;
                };
                #[cfg(feature = "docs")]
                let Some(body) = self.docs.on_error(out, id, room, body) else {
                    return;
                };
                let Some(body) = self.requests.on_error(out, id, body) else {
                    self.flush_outbox(Some(now));
                    return;
                };
                out.raise(ClientError::Server {
                    code: body.code,
                    message: body.message,
                });
            }
            Inbound::Unknown { kind } => out.raise(ClientError::UnknownKind { kind }),
        }
    }

    /// Raw mode: a frame of `size` bytes arrived whose value (parsed JSON, a string or an
    /// `ArrayBuffer`) is `payload`. `pong` is the driver's pong predicate's verdict, `None`
    /// without a predicate: then any frame answers the outstanding ping.
    pub fn handle_raw_frame(&mut self, now: u64, payload: P, size: usize, pong: Option<bool>) {
        if !matches!(self.link, Link::Open { .. }) {
            return;
        }
        self.out.count_received(size);
        if pong.unwrap_or(true) {
            self.on_pong(now, None);
        }
        self.out.emit(Event::Message(payload));
    }

    fn on_pong(&mut self, now: u64, id: Option<u64>) {
        if let Some(sample) = self.heartbeat.on_pong(id, now) {
            self.out.emit(Event::Rtt {
                rtt_ms: sample.rtt_ms,
                smoothed_ms: sample.smoothed_ms,
            });
        }
        self.arm_heartbeat();
    }

    /// Checks a received frame's size (UTF-8 bytes) before the driver parses it: true when it
    /// is over `max_inbound_bytes`, and then it is counted and reported (`InboundTooLarge`, a
    /// `MalformedFrame` to the app), and the driver drops it unread. The connection carries on.
    pub fn inbound_too_large(&mut self, _now: u64, size: usize) -> bool {
        let limit = self.config.max_inbound_bytes;
        if size <= limit {
            return false;
        }
        self.out.count_oversized();
        self.out.raise(ClientError::InboundTooLarge { size, limit });
        true
    }

    /// A frame arrived that the driver could not decode. The connection carries on.
    pub fn handle_malformed(&mut self, _now: u64, reason: String) {
        self.out.raise(ClientError::MalformedFrame { reason });
    }

    /// The driver read the current socket's `bufferedAmount` (bytes it accepted and has not
    /// sent yet): after sending, and while writes are paused when
    /// [`needs_buffered_amount`](Self::needs_buffered_amount) says so. Under
    /// `max_buffered_bytes`, the messages and requests held back go out, oldest first, until
    /// the budget is spent again.
    pub fn handle_buffered(&mut self, now: u64, amount: usize) {
        if !matches!(self.link, Link::Open { .. }) {
            return;
        }
        self.out.budget.on_measured(amount);
        self.flush_outbox(Some(now));
    }

    /// Whether the driver should read `bufferedAmount` and call
    /// [`handle_buffered`](Self::handle_buffered): user frames went out since it last did, or
    /// writes are paused and the drain timer fired.
    pub fn needs_buffered_amount(&self) -> bool {
        matches!(self.link, Link::Open { .. }) && self.out.budget.needs_measure()
    }

    /// A socket the driver had is gone (it closed, failed, or the core closed it) and its send
    /// buffer still held `amount` bytes (`bufferedAmount`): counted in the metrics
    /// (`unsent_frames`, `unsent_bytes`). Call it before reporting the close, or after
    /// executing [`Action::Close`].
    pub fn handle_unsent_at_close(&mut self, amount: usize) {
        let (frames, bytes) = self.out.budget.on_lost(amount);
        if bytes > 0 {
            self.out.count_unsent(frames, bytes);
        }
    }

    /// Time passed: fire whatever deadline is due.
    pub fn handle_timeout(&mut self, now: u64) {
        for timer in self.out.timers.due(now) {
            // A timer fired before may have cleared this one (a connect timeout tears down).
            if !self.out.timers.is_due(timer, now) {
                continue;
            }
            self.out.timers.clear(timer);
            match timer {
                Timer::Request(id) => {
                    self.requests.on_deadline(&mut self.out, id);
                    self.outbox.unqueue_request(id);
                    self.flush_outbox(Some(now));
                }
                Timer::Connect => {
                    let timeout_ms = self.config.connect_timeout_ms;
                    self.close_socket(close_code::CONNECT_TIMEOUT, "connect timeout");
                    self.out.raise(ClientError::ConnectTimeout { timeout_ms });
                    self.connection_lost(now, close_code::CONNECT_TIMEOUT, "connect timeout");
                }
                Timer::Stable => self.failures = 0,
                Timer::Heartbeat => match self.heartbeat.on_timeout(now) {
                    Beat::SendPing { id } => {
                        self.send_ping(id);
                        self.arm_heartbeat();
                    }
                    Beat::Dead => {
                        let timeout_ms = self.config.heartbeat.timeout_ms;
                        self.close_socket(close_code::HEARTBEAT_TIMEOUT, "heartbeat timeout");
                        self.out.raise(ClientError::HeartbeatTimeout { timeout_ms });
                        self.connection_lost(
                            now,
                            close_code::HEARTBEAT_TIMEOUT,
                            "heartbeat timeout",
                        );
                    }
                    Beat::Nothing => self.arm_heartbeat(),
                },
                Timer::Retry => self.start_attempt(now),
                // The driver reads the buffer next (`needs_buffered_amount`).
                Timer::Drain => self.out.budget.set_measure_due(),
                Timer::Refresh => {
                    if matches!(self.link, Link::Open { .. }) && self.token_fetch.is_none() {
                        self.fetch_token();
                    }
                }
            }
        }
    }

    /// The page reported `event` (see [`PageEvent`]; the browser driver forwards them, and
    /// reports `Offline` and `Hidden` at start when they hold). Every reaction is bounded: at
    /// most one ping in flight, at most one retry brought forward per change, no failure
    /// counted.
    /// - `Offline`: a pending retry is cancelled and the state becomes `Offline`; an attempt
    ///   under way goes on, and a drop while offline waits there too (see `connection_lost`).
    ///   An open socket is kept (the event is a hint) and probed.
    /// - `Online`: from `Offline` or `Reconnecting`, the retry comes within
    ///   [`SOON_JITTER_MAX_MS`] (see `retry_soon`); an open socket is probed (the network
    ///   changed under it).
    /// - `Visible`, `Resume` after more than a heartbeat interval away: an open socket is probed,
    ///   a pending retry brought forward.
    /// - `Stored` (entering the back-forward cache): the socket is closed (`RECONNECT`, the
    ///   session kept for resuming), so the page stays eligible; `Restored` connects at once.
    /// - `Hidden`, `Freeze`: only remembered (a frozen page cannot answer anyway; its return
    ///   probes).
    pub fn handle_page(&mut self, now: u64, event: PageEvent) {
        let away = self.page.on_event(now, event);
        let changed = match event {
            PageEvent::Online => self.page.set_online(true),
            PageEvent::Offline => self.page.set_online(false),
            _ => false,
        };
        match event {
            // Only a change of the hint counts: repeated events do nothing more.
            PageEvent::Offline if changed => {
                if let ConnectionState::Reconnecting { code, reason, .. } = &self.state {
                    // Offline now, so this cancels the retry.
                    let (code, reason) = (*code, reason.clone());
                    self.wait_for_retry(now, 0, code, reason);
                }
                self.probe(now);
            }
            PageEvent::Online if changed => {
                self.retry_soon(now);
                self.probe(now);
            }
            PageEvent::Stored => {
                if matches!(
                    self.state,
                    ConnectionState::Connecting { .. } | ConnectionState::Open { .. }
                ) {
                    let reason = "page stored";
                    self.close_socket(close_code::RECONNECT, reason);
                    // Not a failure. `Restored` reconnects; timers stop in the cache, and the
                    // long delay keeps a page that is not frozen at once from reopening a socket
                    // (which would make it ineligible again).
                    let delay_ms = self.config.reconnect.max_delay_ms;
                    self.wait_for_retry(now, delay_ms, close_code::RECONNECT, reason.to_owned());
                }
            }
            PageEvent::Restored if matches!(self.state, ConnectionState::Reconnecting { .. }) => {
                self.start_attempt(now);
            }
            _ => {}
        }
        let threshold = match self.config.heartbeat.interval_ms {
            0 => AWAY_WITHOUT_HEARTBEAT_MS,
            interval => interval,
        };
        if event == PageEvent::Restored || away.is_some_and(|ms| ms > threshold) {
            self.retry_soon(now);
            self.probe(now);
        }
    }

    /// Gives back a transmit the driver polled but could not send because its socket had died;
    /// the driver then reports the close, and the frame is queued again ahead of newer ones.
    pub fn return_unsent(&mut self, transmit: Transmit<F>) {
        self.out.return_unsent(transmit);
    }

    pub fn poll_action(&mut self) -> Option<Action<F>> {
        self.out.poll_action()
    }

    pub fn poll_event(&mut self) -> Option<Event<P>> {
        self.out.poll_event()
    }

    /// The earliest time at which `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.out.timers.next()
    }

    /// The way a message or request leaves: to the socket when open and its send buffer has
    /// room (and nothing older waits), else to the offline queue.
    fn submit(&mut self, frame: F, request: Option<u64>) -> Result<(), ClientError> {
        self.outbox.check_size(&frame)?;
        match (&self.state, self.link) {
            (ConnectionState::Closed { .. }, _) => Err(ClientError::Closed),
            (_, Link::Open { .. }) if self.may_send_now(request.is_some()) => {
                self.transmit(frame, request);
                Ok(())
            }
            // Offline, or a request beyond the window (or behind one that waits): queued.
            _ => {
                if matches!(self.link, Link::Open { .. }) {
                    // Held back by a full send buffer: the driver reads it after this call,
                    // and `handle_buffered` flushes or arms the drain timer.
                    self.out.budget.set_measure_due();
                }
                let dropped = self
                    .outbox
                    .queue(&mut self.out, Queued { frame, request })?;
                // A dropped request settles, so its promise does not wait forever.
                for id in dropped {
                    let full = self.outbox.full();
                    self.requests.settle(&mut self.out, id, Err(full));
                }
                Ok(())
            }
        }
    }

    /// Hands a message or request to the socket.
    fn transmit(&mut self, frame: F, request: Option<u64>) {
        let kind = match request {
            Some(id) => {
                self.requests.set_in_flight(id, true);
                UserKind::Request(id)
            }
            None => UserKind::Message,
        };
        self.out.send(Transmit::User { frame, kind });
    }

    /// The server refused us for good: close without retrying.
    fn handle_fatal(&mut self, code: u16, reason: &str) {
        self.out.raise(ClientError::Rejected {
            code,
            reason: reason.to_owned(),
        });
        self.stop(CloseReason::Rejected {
            code,
            reason: reason.to_owned(),
        });
    }

    /// Gives up without a retry: the socket is gone already.
    fn stop(&mut self, reason: CloseReason) {
        self.teardown();
        self.out.timers.clear(Timer::Retry);
        self.set_state(ConnectionState::Closed { reason });
    }

    /// Starts an attempt: fetches a token first with a token function (the connect deadline
    /// covers the wait), else opens the socket at once.
    fn start_attempt(&mut self, now: u64) {
        self.out.timers.clear(Timer::Retry);
        self.out
            .timers
            .set(Timer::Connect, now + self.config.connect_timeout_ms);
        if self.config.token == TokenSource::Fetch {
            self.fetch_token();
        } else {
            self.link = Link::Opening;
            self.out.open_socket(self.url);
        }
        self.set_state(ConnectionState::Connecting {
            attempt: self.failures + 1,
            url: self.url,
        });
    }

    fn fetch_token(&mut self) {
        let id = self.out.next_id();
        self.token_fetch = Some(id);
        self.out.fetch_token(id);
    }

    /// Arms the refresh of a token that expires in `expires_in` ms (only a token function can
    /// give a fresh one; a static token just expires, and the server closes with 4402).
    fn schedule_refresh(&mut self, now: u64, expires_in: Option<u64>) {
        let at = expires_in
            .filter(|_| self.config.token == TokenSource::Fetch)
            .map(|ms| now + refresh_delay_ms(ms));
        self.out.timers.set_or_clear(Timer::Refresh, at);
    }

    /// The link is open (welcomed, or a raw socket's open event): the parts every mode shares.
    fn begin_open(&mut self, now: u64) {
        self.link = Link::Open { since: now };
        // A new socket: its send buffer starts empty (a dead one was counted by now).
        self.out.budget.reset();
        self.out.timers.clear(Timer::Connect);
        self.out
            .timers
            .set(Timer::Stable, now + self.config.reconnect.stable_after_ms);
        if self.was_open {
            self.out.count_reconnect();
        }
        self.was_open = true;
        // Raw mode pings only with a ping frame to send.
        if !self.raw() || self.ping_frame.is_some() {
            self.heartbeat.start(now);
        }
        self.arm_heartbeat();
    }

    fn on_welcome(&mut self, now: u64, welcome: Welcome) {
        self.begin_open(now);
        self.schedule_refresh(now, welcome.expires_in);
        #[cfg(feature = "docs")]
        if let Some(origin) = welcome.origin {
            // Before the syncs below: their pending ops are re-sent under this origin.
            self.docs.set_origin(origin);
        }
        let lost = self.session.is_some() && !welcome.resumed;
        if lost {
            // The new session has no record of what the old one ran: do not re-send.
            for id in self.requests.on_session_lost(&mut self.out) {
                self.outbox.unqueue_request(id);
            }
        }
        self.session = Some(Resume {
            session: welcome.session.clone(),
            token: welcome.token,
        });
        self.out.emit(Event::Session {
            id: welcome.session.clone(),
            resumed: welcome.resumed,
            lost,
        });
        self.set_state(ConnectionState::Open { url: self.url });
        // Rooms first, so messages published right after the reconnect reach joined rooms.
        self.rooms.on_open(&mut self.out, &welcome.session);
        #[cfg(feature = "docs")]
        self.docs.on_open(&mut self.out);
        // Everything queued while offline goes next, in order, before anything newer, as far
        // as the send buffer allows; requests beyond the server's window keep waiting (in
        // order) for replies to free a place.
        self.request_window = welcome
            .request_window
            .map(|window| usize::try_from(window).unwrap_or(usize::MAX).max(1));
        self.flush_outbox(Some(now));
    }

    fn has_write_room(&self) -> bool {
        self.out.budget.estimate() < self.config.max_buffered_bytes
    }

    fn window_has_room(&self) -> bool {
        self.request_window
            .is_none_or(|window| self.requests.in_flight() < window)
    }

    /// Whether a new message or request may go to the socket at once: the send buffer has
    /// room, nothing it must not overtake waits, and (for a request) the server's window has
    /// room. After a flush with room to spare the outbox holds only requests waiting for the
    /// window: a message passes them, a request queues behind them.
    fn may_send_now(&self, is_request: bool) -> bool {
        if !self.has_write_room() {
            return false;
        }
        if is_request {
            self.outbox.is_empty() && self.window_has_room()
        } else {
            !self.outbox.holds_messages()
        }
    }

    /// Hands queued messages and requests to the open socket, oldest first, while its send
    /// buffer has room. Requests beyond the server's window stay queued in order (messages
    /// behind them go on). If the send buffer holds frames back, writes pause and the drain
    /// timer is armed (at `now`; without it, the driver is asked to measure, and
    /// `handle_buffered` arms it).
    fn flush_outbox(&mut self, now: Option<u64>) {
        if !matches!(self.link, Link::Open { .. }) {
            return;
        }
        let mut waiting_for_window = Vec::new();
        let mut held_back = false;
        while let Some((queued, size)) = self.outbox.pop_front() {
            match queued.request {
                Some(id) if !self.requests.is_pending(id) => continue, // settled meanwhile
                Some(_) if !self.window_has_room() => {
                    waiting_for_window.push((queued, size));
                    continue;
                }
                _ => {}
            }
            if !self.has_write_room() {
                self.outbox.restore_front(alloc::vec![(queued, size)]);
                held_back = true;
                break;
            }
            self.transmit(queued.frame, queued.request);
        }
        self.outbox.restore_front(waiting_for_window);
        if self.out.budget.set_paused(held_back) {
            // One count per pause, not per frame held back or per poll.
            self.out.count_write_pause();
        }
        match now {
            Some(now) => {
                let drain_at = held_back.then_some(now + DRAIN_POLL_MS);
                self.out.timers.set_or_clear(Timer::Drain, drain_at);
            }
            None if held_back => self.out.budget.set_measure_due(),
            None => {}
        }
    }

    /// Schedules the next attempt after a failure, or gives up after `max_attempts`. The next
    /// attempt goes to the next URL of the list: this one failed or dropped (its node may be
    /// down), and the backoff delay still spaces the attempts, whichever URL they go to.
    fn connection_lost(&mut self, now: u64, code: u16, reason: &str) {
        self.teardown();
        self.drops.record(now);
        if !self.page.online() {
            // The network is down, not the server: no failure counted, same URL, and no
            // attempt until the page is online again.
            self.set_state(ConnectionState::Offline {
                code,
                reason: reason.to_owned(),
            });
            return;
        }
        self.failures = self.failures.saturating_add(1);
        // `validate` keeps the count above 0; `max` spares a division by zero all the same.
        self.url = (self.url + 1) % self.config.url_count.max(1);
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
        self.wait_for_retry(now, delay_ms, code, reason.to_owned());
    }

    /// Waits `delay_ms` before the next attempt (`Reconnecting`), or, while the page is
    /// offline, for it to be online again (`Offline`, no timer).
    fn wait_for_retry(&mut self, now: u64, delay_ms: u64, code: u16, reason: String) {
        let state = if self.page.online() {
            self.out.timers.set(Timer::Retry, now + delay_ms);
            ConnectionState::Reconnecting {
                attempt: self.failures + 1,
                delay_ms,
                retry_at: now + delay_ms,
                code,
                reason,
            }
        } else {
            self.out.timers.clear(Timer::Retry);
            ConnectionState::Offline { code, reason }
        };
        self.set_state(state);
    }

    /// Brings the next attempt forward, skipping what is left of the backoff: it comes after a
    /// delay drawn uniformly from `[0, min(initialDelayMs, 1 s)]`, unless it was due sooner.
    /// Only from `Offline` (once online) or `Reconnecting`; the failure count is kept, so a
    /// server still down is retried with the backoff it had reached.
    fn retry_soon(&mut self, now: u64) {
        let bound = self
            .config
            .reconnect
            .initial_delay_ms
            .min(SOON_JITTER_MAX_MS);
        let delay_ms = self.rng.next_u64() % (bound + 1);
        let (code, reason) = match &self.state {
            ConnectionState::Reconnecting {
                retry_at,
                code,
                reason,
                ..
            } if *retry_at > now + delay_ms => (*code, reason),
            ConnectionState::Offline { code, reason } if self.page.online() => (*code, reason),
            _ => return,
        };
        let reason = reason.clone();
        self.wait_for_retry(now, delay_ms, code, reason);
    }

    /// Checks an open socket now with a ping whose pong window is short (see
    /// [`Heartbeat::probe`]): a dead one is replaced well before the heartbeat timeout.
    fn probe(&mut self, now: u64) {
        if matches!(self.link, Link::Open { .. }) {
            if let Some(id) = self.heartbeat.probe(now) {
                self.send_ping(id);
            }
            self.arm_heartbeat();
        }
    }

    /// Sends heartbeat ping `id`: a `ping` frame, or in raw mode the app's ping frame (whose
    /// pong carries no id).
    fn send_ping(&mut self, id: u64) {
        let ping = match &self.ping_frame {
            Some(frame) if self.raw() => Transmit::Raw(frame.clone()),
            _ => Transmit::Ping { id },
        };
        self.out.send(ping);
    }

    /// Asks the driver to close the current socket, if any.
    fn close_socket(&mut self, code: u16, reason: &str) {
        if self.link != Link::None {
            self.link = Link::None;
            self.out.close_socket(code, reason);
        }
        self.teardown();
    }

    /// Forgets everything tied to the socket that is gone.
    fn teardown(&mut self) {
        self.heartbeat.stop();
        self.arm_heartbeat();
        self.out.timers.clear(Timer::Connect);
        self.out.timers.clear(Timer::Stable);
        self.out.timers.clear(Timer::Refresh);
        self.out.timers.clear(Timer::Drain);
        self.token_fetch = None;
        self.refresh_id = None;
        // In-flight retries go first: they were sent before anything still queued.
        let resend = self.requests.on_disconnect(&mut self.out);
        let mut frames = Vec::new();
        for (id, frame) in resend {
            let size = frame.wire_size();
            let queued = Queued {
                frame,
                request: Some(id),
            };
            frames.push((queued, size));
        }
        self.outbox.restore_front(frames);
        self.rooms.on_disconnect(&mut self.out);
        #[cfg(feature = "docs")]
        self.docs.on_disconnect();
    }

    /// Frames still waiting for a socket that is gone: messages and requests go back to the
    /// front of the queue, so a lazy driver cannot lose them. Doc ops are still pending in their
    /// document, which re-sends them after its next sync. Control frames are meaningless now.
    fn reclaim_unsent(&mut self) {
        let mut unsent = Vec::new();
        for (frame, kind) in self.out.take_unsent() {
            let request = match kind {
                UserKind::Message => None,
                UserKind::Request(id) => {
                    // Not sent, so not in flight: the disconnect policy does not apply.
                    self.requests.set_in_flight(id, false);
                    Some(id)
                }
                #[cfg(feature = "docs")]
                UserKind::DocOp => continue,
            };
            let size = frame.wire_size();
            unsent.push((Queued { frame, request }, size));
        }
        self.outbox.restore_front(unsent);
    }

    /// Mirrors the heartbeat's next deadline (a ping or a pong deadline) in the timer table.
    fn arm_heartbeat(&mut self) {
        self.out
            .timers
            .set_or_clear(Timer::Heartbeat, self.heartbeat.next_deadline());
    }

    fn set_state(&mut self, state: ConnectionState) {
        if self.state != state {
            self.state = state.clone();
            self.out.emit(Event::State(state));
        }
    }
}

/// When to fetch a fresh token for a connection whose token expires in `expires_in` ms: at 85 %
/// of its lifetime and at least a second before expiry, but never before half of it (so a short
/// lifetime does not refresh in a loop). A 2 s token is refreshed after 1 s.
pub fn refresh_delay_ms(expires_in: u64) -> u64 {
    (expires_in / 20 * 17)
        .min(expires_in.saturating_sub(1000))
        .max(expires_in / 2)
}

/// Document sync (the `docs` feature): needs the payload type to be a JSON value the shared
/// `apply` can work on, and frames the core can re-encode when the server assigns another origin.
#[cfg(feature = "docs")]
impl<F: WireSize + Clone + OpFrame<P>, P: Clone + Json + PartialEq> ClientCore<F, P> {
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
        self.docs.apply_op(&mut self.out, name, cseq, op, frame)
    }

    /// Opens document `name` with state saved earlier (by an earlier page): the confirmed
    /// entries at `rev` of `epoch` and the ops that were still pending. It catches up from
    /// `rev` and then re-sends the pending ops, which the server applies once each. A saved
    /// copy of another epoch (or saved without one) is replaced by the server's snapshot, with
    /// [`Event::DocReset`].
    pub fn open_doc_restored(
        &mut self,
        name: &str,
        rev: u64,
        epoch: Option<String>,
        entries: Vec<(String, P, u64)>,
        pending: Vec<PendingOp<P, F>>,
    ) {
        self.docs
            .open_restored(&mut self.out, name, rev, epoch, entries, pending);
    }

    /// A document frame arrived.
    pub fn handle_doc_frame(&mut self, now: u64, frame: DocInbound<P>) {
        if self.link == Link::None {
            return;
        }
        self.heartbeat.on_inbound(|| now);
        self.docs.on_frame(&mut self.out, frame);
    }
}
