//! The exported `Client`: the driver loop around [`ClientCore`].
//!
//! Every entry point (a JS call, a socket event, the timer) feeds the core, then `pump` executes
//! the core's actions, re-arms the single timer and dispatches events. Events are dispatched with
//! no borrow held, so listeners may call back into the client.

use super::codec::{self, JsFrame, Keys};
use super::emitter::Emitter;
use super::errors;
use super::js_values::{self, ObjectBuilder};
use super::now_ms;
use super::socket::{SocketEvent, SocketHandle};
use crate::core::{Action, ClientCore, Config, Event, Transmit};
use crate::protocol::{close_code, Kind};
use gloo_timers::callback::Timeout;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

type Core = ClientCore<JsFrame, JsValue>;

struct Driver {
    core: Core,
    url: String,
    socket: Option<SocketHandle>,
    timer: Option<(u64, Timeout)>,
    keys: Keys,
}

/// A resilient WebSocket client speaking the resocket protocol.
#[wasm_bindgen]
pub struct Client {
    driver: Rc<RefCell<Driver>>,
    emitter: Emitter,
}

#[wasm_bindgen]
impl Client {
    /// Creates a client for `url` (`ws://` or `wss://`) and, unless `autoConnect` is false,
    /// starts connecting. Listeners added right after construction still see every event.
    #[wasm_bindgen(constructor)]
    pub fn new(
        url: String,
        #[wasm_bindgen(unchecked_optional_param_type = "ClientOptions")] options: Option<
            js_sys::Object,
        >,
    ) -> Result<Client, JsValue> {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(errors::named_error(
                "InvalidOptions",
                &format!("url must start with ws:// or wss://, got \"{url}\""),
            ));
        }
        let (config, auto_connect) = parse_options(options)?;
        let core = Core::new(config, random_seed()).map_err(|e| errors::config_error(&e))?;
        let driver = Rc::new(RefCell::new(Driver {
            core,
            url,
            socket: None,
            timer: None,
            keys: Keys::new(),
        }));
        let client = Client {
            driver,
            emitter: Emitter::new(),
        };
        if auto_connect {
            // The socket opens asynchronously; the `connecting` event waits in the core until
            // the socket's first callback pumps it, so listeners added right after `new` see it.
            let mut driver = client.driver.borrow_mut();
            driver.core.connect(now_ms());
            driver.execute_actions(&client.driver, &client.emitter);
            driver.arm_timer(&client.driver, &client.emitter);
        }
        Ok(client)
    }

    /// Starts connecting (only needed with `autoConnect: false`, or after `close()`).
    pub fn connect(&self) {
        self.driver.borrow_mut().core.connect(now_ms());
        self.pump();
    }

    /// Sends `data` (any JSON-serialisable value) now if open, otherwise queues it. Throws a
    /// `ResocketError` with code `QueueFull`, `MessageTooLarge` or `Closed`.
    pub fn send(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] data: JsValue,
    ) -> Result<(), JsValue> {
        self.send_kind(Kind::Msg, &data)
    }

    /// Like `send`, but the server delivers the message to every connected client.
    pub fn broadcast(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] data: JsValue,
    ) -> Result<(), JsValue> {
        self.send_kind(Kind::Broadcast, &data)
    }

    /// Subscribes to an event; returns the function that unsubscribes.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "keyof ClientEvents")] event: &str,
        #[wasm_bindgen(unchecked_param_type = "(value: any) => void")] listener: &js_sys::Function,
    ) -> js_sys::Function {
        self.emitter.on(event, listener)
    }

    /// The current connection state.
    #[wasm_bindgen(getter, unchecked_return_type = "ConnectionState")]
    pub fn state(&self) -> JsValue {
        js_values::state(self.driver.borrow().core.state())
    }

    /// A snapshot of the counters.
    #[wasm_bindgen(unchecked_return_type = "Metrics")]
    pub fn metrics(&self) -> JsValue {
        js_values::metrics(&self.driver.borrow().core.metrics(now_ms()))
    }

    /// Reconnects now, skipping any backoff wait; also restarts a closed client.
    pub fn reconnect(&self) {
        self.driver.borrow_mut().core.reconnect(now_ms());
        self.pump();
    }

    /// Closes the connection and stops reconnecting. Queued messages stay queued.
    pub fn close(&self) {
        self.driver.borrow_mut().core.close();
        self.pump();
    }
}

impl Client {
    fn pump(&self) {
        pump(&self.driver, &self.emitter);
    }

    fn send_kind(&self, kind: Kind, data: &JsValue) -> Result<(), JsValue> {
        let frame = JsFrame::new(super::emitter::encode_frame(kind.as_wire(), data));
        let result = self.driver.borrow_mut().core.send(frame);
        self.pump();
        result.map_err(|e| errors::client_error(&e))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // `free()` ends everything: the socket closes with its handlers detached, the timer is
        // cancelled, listeners are released.
        if let Ok(mut driver) = self.driver.try_borrow_mut() {
            driver.timer = None;
            if let Some(socket) = driver.socket.take() {
                socket.close(close_code::NORMAL, "client freed");
            }
        }
        self.emitter.clear();
    }
}

/// Executes the core's actions, re-arms the timer and dispatches events until all are drained.
fn pump(driver_rc: &Rc<RefCell<Driver>>, emitter: &Emitter) {
    {
        let mut driver = driver_rc.borrow_mut();
        driver.execute_actions(driver_rc, emitter);
        driver.arm_timer(driver_rc, emitter);
    }
    loop {
        let event = driver_rc.borrow_mut().core.poll_event();
        let Some(event) = event else { break };
        dispatch(emitter, event);
    }
}

fn dispatch(emitter: &Emitter, event: Event<JsValue>) {
    match event {
        Event::Message(payload) => emitter.emit("message", &payload),
        Event::State(state) => emitter.emit("state", &js_values::state(&state)),
        Event::Error(error) => emitter.emit("error", &errors::client_error(&error)),
        Event::Dropped { count, bytes } => {
            let value = ObjectBuilder::new()
                .number("count", count as u64)
                .number("bytes", bytes as u64);
            emitter.emit("dropped", &value.build())
        }
        Event::Rtt {
            rtt_ms,
            smoothed_ms,
        } => emitter.emit(
            "rtt",
            &ObjectBuilder::new()
                .number("rttMs", rtt_ms)
                .number("smoothedMs", smoothed_ms)
                .build(),
        ),
    }
}

impl Driver {
    fn execute_actions(&mut self, driver_rc: &Rc<RefCell<Driver>>, emitter: &Emitter) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Open => self.open_socket(driver_rc, emitter),
                Action::Close { code, reason } => {
                    if let Some(socket) = self.socket.take() {
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
            self.socket = None;
            self.core.handle_socket_closed(
                now_ms(),
                close_code::ABNORMAL,
                "socket closed before send",
            );
            return;
        };
        let sent = match &transmit {
            Transmit::User(frame) => socket.send_text(&frame.text),
            control => match codec::encode_control(control) {
                Some(text) => socket.send_str(&text),
                None => Ok(()),
            },
        };
        if sent.is_err() {
            self.socket = None;
            self.core
                .handle_socket_closed(now_ms(), close_code::ABNORMAL, "send failed");
        }
    }

    fn open_socket(&mut self, driver_rc: &Rc<RefCell<Driver>>, emitter: &Emitter) {
        self.socket = None;
        let weak = Rc::downgrade(driver_rc);
        let emitter: Emitter = emitter.clone();
        let on_event = move |event: SocketEvent| {
            if let Some(driver) = weak.upgrade() {
                driver.borrow_mut().on_socket_event(event);
                pump(&driver, &emitter);
            }
        };
        match SocketHandle::open(&self.url, on_event) {
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

    fn on_socket_event(&mut self, event: SocketEvent) {
        let now = now_ms();
        match event {
            SocketEvent::Open => self.core.handle_socket_open(now),
            SocketEvent::Message(data) => {
                if !data.is_string() {
                    self.core
                        .handle_malformed("binary frames are not part of the protocol".into());
                    return;
                }
                let size = js_sys::JsString::from(data.clone()).length() as usize;
                match codec::decode(&self.keys, &data) {
                    Ok(frame) => self.core.handle_inbound(now, frame, size),
                    Err(reason) => self.core.handle_malformed(reason),
                }
            }
            SocketEvent::Closed { code, reason } => {
                self.socket = None;
                self.core.handle_socket_closed(now, code, &reason);
            }
        }
    }

    /// Keeps exactly one browser timer armed for the core's next deadline.
    fn arm_timer(&mut self, driver_rc: &Rc<RefCell<Driver>>, emitter: &Emitter) {
        let Some(deadline) = self.core.poll_timeout() else {
            self.timer = None;
            return;
        };
        if self.timer.as_ref().is_some_and(|(at, _)| *at == deadline) {
            return;
        }
        let weak = Rc::downgrade(driver_rc);
        let emitter: Emitter = emitter.clone();
        let delay = deadline.saturating_sub(now_ms()).min(u32::MAX as u64) as u32;
        let timeout = Timeout::new(delay, move || {
            if let Some(driver) = weak.upgrade() {
                {
                    let mut driver = driver.borrow_mut();
                    driver.timer = None;
                    driver.core.handle_timeout(now_ms());
                }
                pump(&driver, &emitter);
            }
        });
        self.timer = Some((deadline, timeout));
    }
}

fn parse_options(options: Option<js_sys::Object>) -> Result<(Config, bool), JsValue> {
    match options {
        None => Ok((Config::default(), true)),
        Some(options) => js_values::options(options.into())
            .map_err(|reason| errors::named_error("InvalidOptions", &reason)),
    }
}

fn random_seed() -> u64 {
    // Jitter needs spread, not secrecy: Math.random is enough and costs no extra imports.
    let high = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let low = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    (high << 32) | low
}
