//! The driver loop around [`ClientCore`]: one socket, one timer, pending request promises.
//!
//! Every entry point (a JS call, a socket event, the timer) feeds the core, then [`pump`]
//! executes the core's actions, re-arms the timer and dispatches events. Events are dispatched
//! with no borrow held, so listeners may call back into the client.

use super::codec::{self, JsFrame};
#[cfg(feature = "docs")]
use super::event_names::{doc_key, DocEvent};
use super::event_names::{room_key, ClientEvent, RoomEvent};
use super::glue::{Emitter, PageWatch, TokenFetcher};
use super::now_ms;
use super::socket::{SocketEvent, SocketHandle};
use super::timer::Timeout;
use super::to_js::{self, Deliver};
use crate::core::VecMap;
use crate::core::{Action, ClientCore, ClientError, Event, Mode, Transmit};
use crate::protocol::close_code;
use crate::protocol::codec::{FrameClass, ServerFrame};
use crate::protocol::Inbound;
use alloc::rc::Rc;
use alloc::{string::String, vec::Vec};
use core::cell::RefCell;
use js_sys::{Function, JsString};
use wasm_bindgen::prelude::*;

pub type Core = ClientCore<JsFrame, JsValue>;
pub type SharedDriver = Rc<RefCell<Driver>>;

/// The app's token function in its fetcher, with the callback the fetcher hands outcomes to.
pub type TokenFunction = (TokenFetcher, Closure<dyn FnMut(f64, bool, JsValue)>);

/// A request's promise, settled when the core reports its reply.
pub struct Call {
    pub resolve: Function,
    pub reject: Function,
    /// Removes the request's abort listener from its `AbortSignal`.
    pub detach_abort: Option<Function>,
}

impl Call {
    pub fn settle(self, result: Result<JsValue, JsValue>) {
        if let Some(detach) = &self.detach_abort {
            let _ = detach.call0(&JsValue::NULL);
        }
        let _ = match result {
            Ok(value) => self.resolve.call1(&JsValue::NULL, &value),
            Err(error) => self.reject.call1(&JsValue::NULL, &error),
        };
    }
}

pub struct Driver {
    pub core: Core,
    /// Raw mode's options as `glue::client_options` returned them (how `readRaw` reads frames);
    /// `undefined` in resocket mode.
    raw: JsValue,
    /// The `protocols` option (`undefined`: none), passed to every socket.
    protocols: JsValue,
    /// The URLs (JS strings) `Action::Open` picks from by index: at least one.
    urls: js_sys::Array,
    /// The `WebSocket` class sockets are opened with.
    socket_class: Function,
    socket: Option<SocketHandle>,
    /// The browser timer and the deadline it was armed for.
    timer: Option<(u64, Timeout)>,
    /// What the timer calls, made on first use and kept (declared after `timer`, so a pending
    /// timer is cleared before its callback is dropped).
    timer_callback: Option<Closure<dyn FnMut()>>,
    /// The room of the last room message received and the key of its message listeners: a
    /// room name crosses into WASM only when it changes (glue.js keeps it per socket).
    room: String,
    room_key: JsValue,
    /// True while the outermost `pump` hands out events; nested pumps (from listeners calling
    /// back into the client) leave event delivery to it, so events keep their order.
    dispatching: bool,
    pub calls: VecMap<u64, Call>,
    /// Documents saved in browser storage, by name: their storage key.
    #[cfg(feature = "docs")]
    pub persisted: VecMap<String, String>,
    /// One listener for every request's `AbortSignal`, called with the request id, and for
    /// the page's events (`page_watch`), called with `-1 - code`.
    pub abort_listener: Option<Closure<dyn FnMut(f64)>>,
    /// The app's token function with the callback its outcomes go to (`options.token`).
    pub token_fetcher: Option<TokenFunction>,
    /// The page's lifecycle and network events (`pageLifecycle`), kept while the client lives,
    /// closed or not, so it knows the page's state when it connects again.
    pub page_watch: Option<PageWatch>,
}

impl Driver {
    pub fn new(
        core: Core,
        urls: js_sys::Array,
        socket_class: Function,
        protocols: JsValue,
        raw: JsValue,
    ) -> Self {
        Driver {
            core,
            raw,
            protocols,
            urls,
            socket_class,
            socket: None,
            timer: None,
            timer_callback: None,
            room: String::new(),
            room_key: JsValue::UNDEFINED,
            dispatching: false,
            calls: VecMap::new(),
            #[cfg(feature = "docs")]
            persisted: VecMap::new(),
            abort_listener: None,
            token_fetcher: None,
            page_watch: None,
        }
    }

    /// Ends everything: the socket closes with its handlers detached, the timer is cancelled,
    /// pending requests reject with `Closed`.
    pub fn shut_down(&mut self) -> Vec<Call> {
        self.timer = None;
        if let Some((fetcher, _)) = self.token_fetcher.take() {
            // A token promise that settles later must not call the dropped callback.
            fetcher.detach();
        }
        if let Some(watch) = self.page_watch.take() {
            // No page event may call the dropped callback.
            watch.detach();
        }
        if let Some(socket) = self.socket.take() {
            socket.close(close_code::NORMAL, "client freed");
        }
        let mut calls = Vec::new();
        for call in core::mem::take(&mut self.calls).into_values() {
            calls.push(call);
        }
        calls
    }

    pub fn execute_actions(&mut self, driver_rc: &SharedDriver, emitter: &Emitter) {
        loop {
            self.execute_polled(driver_rc, emitter);
            // After sends, and on the drain timer while writes are paused: report the send
            // buffer, which may release frames held back (executed on the next turn).
            match &self.socket {
                Some(socket) if self.core.needs_buffered_amount() => {
                    let amount = socket.buffered_amount();
                    self.core.handle_buffered(now_ms(), amount);
                }
                _ => break,
            }
        }
    }

    fn execute_polled(&mut self, driver_rc: &SharedDriver, emitter: &Emitter) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Open { url } => self.open_socket(url, driver_rc, emitter),
                Action::FetchToken { id } => match &self.token_fetcher {
                    Some((fetcher, _)) => fetcher.fetch(id as f64),
                    None => self
                        .core
                        .handle_token(now_ms(), id, Err("no token function".into())),
                },
                Action::Close { code, reason } => {
                    if let Some(socket) = self.socket.take() {
                        // A close the app asked for still sends what is buffered first.
                        if code != close_code::NORMAL && code != close_code::RECONNECT {
                            self.core.handle_unsent_at_close(socket.buffered_amount());
                        }
                        socket.close(code, &reason);
                    }
                }
                Action::Send(transmit) => self.send(transmit),
            }
        }
    }

    fn send(&mut self, transmit: Transmit<JsFrame>) {
        let Some(socket) = self.socket.as_ref().filter(|s| s.is_open()) else {
            // The socket died before its close event arrived: tell the core now so it takes
            // back this and every later unsent frame instead of losing them.
            self.core.return_unsent(transmit);
            self.drop_dead_socket();
            self.core.handle_socket_closed(
                now_ms(),
                close_code::ABNORMAL,
                "socket closed before send",
            );
            return;
        };
        if socket.send_frame(&codec::encode(&transmit)).is_err() {
            // Give the frame back before reporting the close, so it is queued again, not lost.
            self.core.return_unsent(transmit);
            self.drop_dead_socket();
            self.core
                .handle_socket_closed(now_ms(), close_code::ABNORMAL, "send failed");
        }
    }

    /// Forgets a socket that died, counting what its send buffer still held.
    fn drop_dead_socket(&mut self) {
        if let Some(socket) = self.socket.take() {
            self.core.handle_unsent_at_close(socket.buffered_amount());
        }
    }

    fn open_socket(&mut self, url: usize, driver_rc: &SharedDriver, emitter: &Emitter) {
        self.socket = None;
        let weak = Rc::downgrade(driver_rc);
        let emitter: Emitter = emitter.clone();
        let on_event = move |event: SocketEvent| {
            if let Some(driver) = weak.upgrade() {
                let deliver = driver.borrow_mut().on_socket_event(event);
                pump_delivering(&driver, &emitter, deliver);
            }
        };
        // The core picks indices below the count it was given, the length of `urls` (else the
        // socket constructor throws for `undefined`, a failed attempt).
        let url = self.urls.get(url as u32);
        let limit = self.core.config().max_inbound_bytes as f64;
        let reading = (limit, &self.raw);
        match SocketHandle::open(&self.socket_class, &url, &self.protocols, reading, on_event) {
            Ok(socket) => self.socket = Some(socket),
            Err(err) => {
                let reason = js_sys::Error::from(err)
                    .message()
                    .as_string()
                    .unwrap_or_default();
                self.core
                    .handle_socket_closed(now_ms(), close_code::ABNORMAL, &reason);
            }
        }
    }

    /// Feeds a socket event to the core. Returns the listener key to deliver the message just
    /// read to, when the core says it goes to the app now (see `ClientCore::handle_message`).
    fn on_socket_event(&mut self, event: SocketEvent) -> Option<JsValue> {
        let (read, seq) = match event {
            SocketEvent::Message { read, seq } => (read, seq),
            SocketEvent::Open => {
                self.core.handle_socket_open(now_ms());
                return None;
            }
            SocketEvent::Closed { code, reason } => {
                self.drop_dead_socket();
                self.core.handle_socket_closed(now_ms(), code, &reason);
                return None;
            }
        };
        if self.core.config().mode == Mode::Raw {
            // The value stays in JS: only its size and the pong verdict reach the core.
            let now = now_ms();
            let size = (read / 4.0) as usize;
            if self.core.inbound_too_large(now, size) {
                return None;
            }
            let pong = match read % 4.0 {
                0.0 => None,
                verdict => Some(verdict == 2.0),
            };
            let payload = super::glue::current_frame();
            self.core.handle_raw_frame(now, payload, size, pong);
            return None;
        }
        let size = (read / 8.0) as usize;
        let class = (read % 8.0) as i32 - 4;
        // The hot path: messages are checked and read in JS; the core decides (reading the
        // clock only if it needs the time), and a message it lets through now goes from JS to
        // the listeners (`emit_current`). While events are being dispatched it is queued behind
        // them instead.
        let direct = !self.dispatching;
        let message = || {
            let user = super::glue::current_user();
            let user = (!user.is_undefined()).then_some(user);
            (super::glue::current_payload(), user)
        };
        if class == FrameClass::Message as i32 {
            return self
                .core
                .handle_message(now_ms, None, size, direct, message)
                .then(|| MESSAGE_KEY.with(|key| key.clone().into()));
        }
        if class == FrameClass::RoomMessage as i32 {
            let mut seq = seq;
            if seq < 0.0 {
                seq = -1.0 - seq;
                self.room = super::glue::current_room();
                self.room_key = room_key(RoomEvent::Message.name(), &self.room).into();
            }
            let room = Some((self.room.as_str(), seq as u64));
            return self
                .core
                .handle_message(now_ms, room, size, direct, message)
                .then(|| self.room_key.clone());
        }
        let now = now_ms();
        if class == FrameClass::TooLarge as i32 {
            self.core.inbound_too_large(now, size);
        } else if class == FrameClass::Reply as i32 {
            // A missing payload reads as null, as in the shared codec.
            let payload = super::glue::current_payload();
            let payload = if payload.is_undefined() {
                JsValue::NULL
            } else {
                payload
            };
            let id = seq as u64;
            let reply = Inbound::Reply {
                id,
                result: Ok(payload),
            };
            self.core.handle_inbound(now, reply, size);
        } else {
            match codec::decode(class) {
                Ok(ServerFrame::Core(frame)) => self.core.handle_inbound(now, frame, size),
                #[cfg(feature = "docs")]
                Ok(ServerFrame::Doc(frame)) => self.core.handle_doc_frame(now, frame),
                Err(error) => self.core.handle_malformed(now, error.reason()),
            }
        }
        None
    }

    /// Keeps exactly one browser timer armed, due no later than the core's next deadline. One
    /// armed earlier stays (it fires early and re-arms), so a request's deadline does not cost
    /// a `setTimeout` and a `clearTimeout` while the heartbeat's timer is due first.
    pub fn arm_timer(&mut self, driver_rc: &SharedDriver, emitter: &Emitter) {
        let Some(deadline) = self.core.poll_timeout() else {
            self.timer = None;
            return;
        };
        if self.timer.as_ref().is_some_and(|(at, _)| *at <= deadline) {
            return;
        }
        let callback = self.timer_callback.get_or_insert_with(|| {
            let weak = Rc::downgrade(driver_rc);
            let emitter: Emitter = emitter.clone();
            Closure::new(move || {
                if let Some(driver) = weak.upgrade() {
                    {
                        let mut driver = driver.borrow_mut();
                        driver.timer = None;
                        driver.core.handle_timeout(now_ms());
                    }
                    pump(&driver, &emitter);
                }
            })
        });
        // Browsers treat delays above 2^31-1 ms as 0; a shorter timer just re-arms on firing.
        let delay = deadline.saturating_sub(now_ms()).min(i32::MAX as u64) as u32;
        let timeout = Timeout::new(delay, callback.as_ref().unchecked_ref());
        self.timer = Some((deadline, timeout));
    }
}

/// Executes the core's actions, re-arms the timer and dispatches events until all are drained.
pub fn pump(driver_rc: &SharedDriver, emitter: &Emitter) {
    pump_delivering(driver_rc, emitter, None);
}

/// `pump`, delivering first the message glue.js read last to the listeners of `deliver` (the
/// core found no event ahead of it, and none is being dispatched).
fn pump_delivering(driver_rc: &SharedDriver, emitter: &Emitter, deliver: Option<JsValue>) {
    let outermost = {
        let mut driver = driver_rc.borrow_mut();
        driver.execute_actions(driver_rc, emitter);
        driver.arm_timer(driver_rc, emitter);
        !core::mem::replace(&mut driver.dispatching, true)
    };
    if !outermost {
        return;
    }
    if let Some(key) = deliver {
        super::glue::emit_current(emitter, &key);
    }
    loop {
        let event = driver_rc.borrow_mut().core.poll_event();
        let Some(event) = event else { break };
        dispatch(driver_rc, emitter, event);
    }
    driver_rc.borrow_mut().dispatching = false;
}

// rustfmt would drop the string: an extern static has no value in Rust's own syntax.
#[rustfmt::skip]
#[wasm_bindgen]
extern "C" {
    /// The client's `message` event key (`ClientEvent::Message`) as a JS string, created once.
    #[wasm_bindgen(thread_local_v2, static_string)]
    static MESSAGE_KEY: JsString = "message";
}

/// Saves document `name` if it is persisted.
#[cfg(feature = "docs")]
fn persist(driver_rc: &SharedDriver, name: &str) {
    let driver = driver_rc.borrow();
    if let (Some(key), Some(state)) = (driver.persisted.get(name), driver.core.doc(name)) {
        super::doc_storage::save(key, state);
    }
}

fn dispatch(driver_rc: &SharedDriver, emitter: &Emitter, event: Event<JsValue>) {
    to_js::event(event, &mut Listeners { driver_rc, emitter });
}

/// Delivers converted events to the emitter's listeners and settles request promises. Its
/// methods are inlined into each arm of `to_js::event`, as a hand-written dispatch would be: a
/// call per arm costs more WASM than the emit it wraps.
struct Listeners<'a> {
    driver_rc: &'a SharedDriver,
    emitter: &'a Emitter,
}

impl Deliver for Listeners<'_> {
    #[inline(always)]
    fn client(&mut self, event: ClientEvent, value: &JsValue) {
        self.emitter.emit(event.name(), value);
    }

    #[inline(always)]
    fn room(&mut self, room: &str, event: RoomEvent, value: &JsValue) {
        self.emitter.emit(&room_key(event.name(), room), value);
    }

    #[cfg(feature = "docs")]
    #[inline(always)]
    fn doc(&mut self, doc: &str, event: DocEvent, value: &JsValue) {
        persist(self.driver_rc, doc);
        self.emitter.emit(&doc_key(event.name(), doc), value);
    }

    #[inline(always)]
    fn message(&mut self, room: Option<(&str, u64)>, payload: &JsValue, user: Option<&JsValue>) {
        match room {
            None => MESSAGE_KEY.with(|key| self.emitter.emit_message(key, payload, None, None)),
            Some((room, seq)) => self.emitter.emit_message(
                &JsValue::from_str(&room_key(RoomEvent::Message.name(), room)),
                payload,
                Some(seq as f64),
                user,
            ),
        }
    }

    #[inline(always)]
    fn reply(&mut self, id: u64, result: Result<JsValue, ClientError>) {
        let call = self.driver_rc.borrow_mut().calls.remove(&id);
        if let Some(call) = call {
            call.settle(result.map_err(|e| to_js::client_error(&e)));
        }
    }
}
