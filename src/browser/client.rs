//! The exported `Client` class: thin methods that feed the driver's core and pump it.

use super::codec::JsFrame;
use super::driver::{pump, Call, Core, Driver, SharedDriver, TokenFunction};
use super::event_names::{room_key, RoomEvent};
use super::glue::{self, watch_abort, Emitter, PageWatch, TokenFetcher};
use super::js_values;
use super::now_ms;
use super::room::Room;
#[cfg(feature = "docs")]
use super::synced_doc::SyncedDoc;
use super::to_js::{self, invalid_options};
use crate::core::{ClientError, PageEvent, RequestOptions};
use crate::protocol::codec::ClientFrame;
use crate::protocol::Kind;
use alloc::rc::Rc;
use alloc::{borrow::ToOwned, string::String, vec::Vec};
use core::cell::RefCell;
use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;

/// A resilient WebSocket client speaking the resocket protocol.
#[wasm_bindgen]
pub struct Client {
    driver: SharedDriver,
    emitter: Emitter,
    /// `mode: "raw"`: frames as they are, no resocket features.
    raw: bool,
}

#[wasm_bindgen]
impl Client {
    /// Creates a client for `url` and, unless `autoConnect` is false, starts connecting.
    /// Listeners added right after construction still see every event. `url` is `ws://` or
    /// `wss://`, or relative to the page (`"/ws"`: http becomes ws, https wss); anything else
    /// throws `InvalidOptions`. A list of URLs (server nodes) is tried in turn: the client stays
    /// on the one that works, and after a failed attempt or a drop the next attempt (after the
    /// backoff delay) goes to the next URL. An empty list throws `InvalidOptions`. Without a
    /// `WebSocket` class (the option, else the global one) it throws `NoWebSocket`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "string | readonly string[]")] url: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ClientOptions")] options: Option<Object>,
    ) -> Result<Client, JsValue> {
        // Read and checked in JS, which throws the `InvalidOptions` or `NoWebSocket` error.
        let options = js_values::client_options(&url, options.as_ref())?;
        let auto_connect = options.auto_connect;
        // The seed is in the config (the option, else a random one from JS).
        let mut core = Core::with_checked_config(options.config, 0);
        let raw = !options.raw.is_undefined();
        if raw {
            let parsed: &js_sys::Array = options.raw.unchecked_ref();
            core.set_open_frames(js_values::frames(parsed.get(0).unchecked_ref()));
            let ping = parsed.get(1);
            core.set_ping_frame((!ping.is_undefined()).then(|| JsFrame::sized(ping)));
        }
        let driver = Driver::new(
            core,
            options.urls,
            options.socket_class,
            options.protocols,
            options.raw,
        );
        let driver = Rc::new(RefCell::new(driver));
        let emitter = Emitter::new();
        if let Some(function) = options.token_function {
            let fetcher = token_fetcher(&driver, &emitter, &function);
            driver.borrow_mut().token_fetcher = Some(fetcher);
        }
        let weak = Rc::downgrade(&driver);
        let abort_emitter = emitter.clone();
        // One callback for two callers, so they share one closure's code: a request's
        // `AbortSignal` passes the request id (>= 0), the `PageWatch` a page event as
        // `-1 - code` (see `PageEvent::from_code`).
        let abort_listener = Closure::<dyn FnMut(f64)>::new(move |value: f64| {
            if let Some(driver) = weak.upgrade() {
                let now = now_ms();
                let mut d = driver.borrow_mut();
                if value >= 0.0 {
                    d.core.cancel_request(value as u64);
                } else if let Some(event) = PageEvent::from_code((-1.0 - value) as u32) {
                    d.core.handle_page(now, event);
                }
                drop(d);
                pump(&driver, &abort_emitter);
            }
        });
        let page_watch = options
            .page_lifecycle
            .then(|| PageWatch::new(abort_listener.as_ref().unchecked_ref()));
        let mut d = driver.borrow_mut();
        d.abort_listener = Some(abort_listener);
        d.page_watch = page_watch;
        drop(d);
        if auto_connect {
            // The socket opens asynchronously; the `connecting` event waits in the core until
            // the socket's first callback pumps it, so listeners added right after `new` see it.
            let mut d = driver.borrow_mut();
            d.core.connect(now_ms());
            d.execute_actions(&driver, &emitter);
            d.arm_timer(&driver, &emitter);
        }
        Ok(Client {
            driver,
            emitter,
            raw,
        })
    }

    /// Starts connecting (only needed with `autoConnect: false`, or after `close()`).
    pub fn connect(&self) {
        self.driver.borrow_mut().core.connect(now_ms());
        self.pump();
    }

    /// Sends `data` (any JSON-serialisable value) now if open, otherwise queues it. Throws a
    /// `ResocketError` with code `QueueFull`, `MessageTooLarge` or `Closed`. In raw mode a
    /// string is sent as it is, an `ArrayBuffer`, typed array, `DataView` or `Blob` as a binary
    /// frame, anything else as JSON.
    pub fn send(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] data: JsValue,
    ) -> Result<(), JsValue> {
        self.submit(match self.raw {
            true => JsFrame::raw(&data)?,
            false => JsFrame::user(Kind::Msg, None, &data)?,
        })
    }

    /// Like `send`, but the server delivers the message to every connected client.
    pub fn broadcast(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] data: JsValue,
    ) -> Result<(), JsValue> {
        self.supported("broadcast")?;
        self.submit(JsFrame::user(Kind::Broadcast, None, &data)?)
    }

    /// Raw mode: replaces the frames sent on every open (`sendOnOpen`), from the next open on;
    /// send the new subscription itself with `send` if the connection is open now. Throws
    /// `NotSupported` in resocket mode, `InvalidOptions` for a frame that cannot be sent.
    #[wasm_bindgen(js_name = setSendOnOpen)]
    pub fn set_send_on_open(
        &self,
        #[wasm_bindgen(unchecked_param_type = "readonly unknown[]")] frames: JsValue,
    ) -> Result<(), JsValue> {
        if !self.raw {
            return Err(not_supported("setSendOnOpen"));
        }
        let frames = glue::raw_frames(&frames)
            .map_err(|reason| invalid_options(&reason.as_string().unwrap_or_default()))?;
        let frames = js_values::frames(&frames);
        self.driver.borrow_mut().core.set_open_frames(frames);
        Ok(())
    }

    /// Calls `method` on the server. Resolves with the result; rejects with a `ResocketError`
    /// (`Timeout`, `Aborted`, `Disconnected`, `NotFound`, `BadRequest`, ...). Made offline, the
    /// request waits in the queue; in flight when the connection drops, it is re-sent after the
    /// reconnect (`onDisconnect: "retry"`, the default; the server runs it once) or rejected
    /// (`"fail"`).
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn request(
        &self,
        method: &str,
        #[wasm_bindgen(unchecked_param_type = "unknown")] params: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestOptions")] options: Option<Object>,
    ) -> Promise {
        let (options, signal) = match js_values::request_options(options.as_ref()) {
            Ok(parsed) => parsed,
            Err(error) => return Promise::reject(&error),
        };
        if signal
            .as_ref()
            .is_some_and(|s| js_sys::Reflect::get(s, &"aborted".into()).ok() == Some(JsValue::TRUE))
        {
            return Promise::reject(&to_js::client_error(&ClientError::Aborted));
        }
        let (promise, Some(mut call)) = new_call() else {
            return Promise::reject(&JsValue::NULL); // the executor always runs synchronously
        };
        // Everything that calls into JS (and so may throw or re-enter) runs with no borrow held.
        let id = self.driver.borrow_mut().core.allocate_request_id();
        let frame = match JsFrame::client(ClientFrame::Req {
            id,
            method,
            params: (!params.is_undefined()).then_some(params),
        }) {
            Ok(frame) => frame,
            Err(error) => {
                call.settle(Err(error));
                return promise;
            }
        };
        let abort_listener: Option<Function> = self
            .driver
            .borrow()
            .abort_listener
            .as_ref()
            .map(|l| l.as_ref().unchecked_ref::<Function>().clone());
        if let (Some(signal), Some(listener)) = (&signal, abort_listener) {
            match watch_abort(signal, &listener, id as f64) {
                Ok(detach) => call.detach_abort = Some(detach),
                Err(_) => {
                    call.settle(Err(invalid_options("signal must be an AbortSignal")));
                    return promise;
                }
            }
        }
        start_call(&self.driver, id, frame, options, call);
        self.pump();
        promise
    }

    /// Joins `room` (reference-counted: each handle's `leave()` releases one reference, the last
    /// one leaves). `handler(payload, seq)` receives the room's messages, each once, in order
    /// (with `history: N`, first up to the N newest the server holds); after a reconnect the
    /// room is rejoined and missed messages are replayed. Typed in
    /// `contract.d.ts`.
    #[wasm_bindgen(skip_typescript)]
    pub fn join(
        &self,
        room: String,
        handler: Option<Function>,
        options: Option<Object>,
    ) -> Result<Room, JsValue> {
        self.supported("join")?;
        if room.is_empty() {
            return Err(invalid_options("room name is empty"));
        }
        let (meta, history) = js_values::join_options(options.as_ref())?;
        let handle = Room::new(
            Rc::downgrade(&self.driver),
            self.emitter.clone(),
            room.clone(),
        );
        if let Some(handler) = handler {
            handle.subscribe(&room_key(RoomEvent::Message.name(), &room), &handler);
        }
        self.driver
            .borrow_mut()
            .core
            .join_with_history(&room, meta, history);
        self.pump();
        Ok(handle)
    }

    /// Opens the shared document `name` (reference-counted): an optimistic view kept in sync
    /// with the server, rebased on the server's order and resynced after reconnects. With
    /// `persist` (true, or a storage key) the confirmed state and pending ops are saved in
    /// localStorage and restored here, so a reload keeps unsent edits. Only in `resocket/docs`:
    /// the `resocket` entry's `doc` throws `NotSupported`.
    #[cfg(feature = "docs")]
    pub fn doc(
        &self,
        name: String,
        #[wasm_bindgen(unchecked_optional_param_type = "DocOptions")] options: Option<Object>,
    ) -> Result<SyncedDoc, JsValue> {
        self.supported("doc")?;
        if name.is_empty() {
            return Err(invalid_options("document name is empty"));
        }
        let storage_key = glue::doc_storage_key(&name, options.as_ref())?;
        let saved = storage_key.as_deref().and_then(super::doc_storage::load);
        {
            let mut driver = self.driver.borrow_mut();
            if let Some(key) = storage_key {
                driver.persisted.insert(name.clone(), key);
            }
            match saved {
                Some(saved) => driver.core.open_doc_restored(
                    &name,
                    saved.rev,
                    saved.epoch,
                    saved.entries,
                    saved.pending,
                ),
                None => driver.core.open_doc(&name),
            }
        }
        self.pump();
        Ok(SyncedDoc::new(
            Rc::downgrade(&self.driver),
            self.emitter.clone(),
            name,
        ))
    }

    /// Subscribes to an event; returns the function that unsubscribes. Typed in `contract.d.ts`.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: &str, listener: &Function) -> Function {
        self.emitter.on(event, listener, None)
    }

    /// Subscribes to messages (plain and room) whose payload has `type: messageType`. Typed in
    /// `contract.d.ts`.
    #[wasm_bindgen(js_name = onMessage, skip_typescript)]
    pub fn on_message(&self, message_type: &str, listener: &Function) -> Function {
        self.emitter
            .on(&["type:", message_type].concat(), listener, None)
    }

    /// The current connection state.
    #[wasm_bindgen(getter, unchecked_return_type = "ConnectionState")]
    pub fn state(&self) -> JsValue {
        to_js::state(self.driver.borrow().core.state())
    }

    /// The current session id, once the server welcomed a connection.
    #[wasm_bindgen(getter)]
    pub fn session(&self) -> Option<String> {
        self.driver.borrow().core.session().map(str::to_owned)
    }

    /// A snapshot of the counters.
    #[wasm_bindgen(unchecked_return_type = "Metrics")]
    pub fn metrics(&self) -> JsValue {
        to_js::metrics(&self.driver.borrow().core.metrics(now_ms()))
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
    /// Refuses a resocket feature in raw mode.
    fn supported(&self, what: &'static str) -> Result<(), JsValue> {
        match self.raw {
            true => Err(not_supported(what)),
            false => Ok(()),
        }
    }

    fn pump(&self) {
        pump(&self.driver, &self.emitter);
    }

    fn submit(&self, frame: JsFrame) -> Result<(), JsValue> {
        let result = self.driver.borrow_mut().core.send(frame);
        self.pump();
        result.map_err(|e| to_js::client_error(&e))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // `free()` ends everything; pending requests reject so no promise hangs forever.
        let calls = match self.driver.try_borrow_mut() {
            Ok(mut driver) => driver.shut_down(),
            Err(_) => Vec::new(),
        };
        for call in calls {
            call.settle(Err(to_js::client_error(&ClientError::Closed)));
        }
        self.emitter.clear();
    }
}

/// A promise and the call that settles it.
pub(super) fn new_call() -> (Promise, Option<Call>) {
    let mut settle = None;
    let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
    let call = settle.map(|(resolve, reject)| Call {
        resolve,
        reject,
        detach_abort: None,
    });
    (promise, call)
}

/// Starts request `id` (a `req`, or a `publish` awaiting its acknowledgement) in the core; its
/// outcome settles `call`, now when the core refuses it.
fn start_call(driver: &SharedDriver, id: u64, frame: JsFrame, options: RequestOptions, call: Call) {
    let started = driver
        .borrow_mut()
        .core
        .request(now_ms(), id, frame, options);
    track_call(driver, id, started, call);
}

/// Starts publish `id` (a `publish` frame carrying it) in the core; its acknowledgement settles
/// `call`.
pub(super) fn start_publish(driver: &SharedDriver, id: u64, frame: JsFrame, call: Call) {
    let started = driver.borrow_mut().core.publish(now_ms(), id, frame);
    track_call(driver, id, started, call);
}

fn track_call(driver: &SharedDriver, id: u64, started: Result<(), ClientError>, call: Call) {
    match started {
        Ok(()) => {
            driver.borrow_mut().calls.insert(id, call);
        }
        Err(error) => call.settle(Err(to_js::client_error(&error))),
    }
}

/// Hands the app's token function to a `TokenFetcher` whose outcomes feed the core.
fn token_fetcher(
    driver: &SharedDriver,
    emitter: &Emitter,
    function: &js_sys::Function,
) -> TokenFunction {
    let weak = Rc::downgrade(driver);
    let emitter = emitter.clone();
    let done =
        Closure::<dyn FnMut(f64, bool, JsValue)>::new(move |id: f64, ok: bool, value: JsValue| {
            let Some(driver) = weak.upgrade() else {
                return;
            };
            let result = match (ok, value.as_string()) {
                (true, Some(token)) => Ok(token),
                (true, None) => {
                    Err("the token function must return a string or a Promise of one".into())
                }
                (false, reason) => Err(reason.unwrap_or_default()),
            };
            driver
                .borrow_mut()
                .core
                .handle_token(now_ms(), id as u64, result);
            pump(&driver, &emitter);
        });
    let fetcher = TokenFetcher::new(function, done.as_ref().unchecked_ref());
    (fetcher, done)
}

fn not_supported(what: &'static str) -> JsValue {
    to_js::client_error(&ClientError::NotSupported { what })
}
