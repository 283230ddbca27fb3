//! Reading the plain JS objects the app passes in (options) into the core's Rust types, written
//! by hand for size like `to_js.rs`, which converts the other way. Options are read and checked
//! in JS (`clientOptions`, `requestOptions`, `joinOptions` in glue.js), which throws the
//! `InvalidOptions` error; only their compact form is read here.

use super::codec::JsFrame;
use crate::core::{
    Config, DisconnectPolicy, HeartbeatConfig, Mode, OverflowPolicy, QueueConfig, ReconnectConfig,
    RequestOptions, TokenSource,
};
use alloc::vec::Vec;
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;

/// Builds a JS object field by field (for `to_js`, the codec and document storage).
pub struct ObjectBuilder(Object);

impl ObjectBuilder {
    pub fn new() -> Self {
        ObjectBuilder(Object::new())
    }

    pub fn set(self, key: &str, value: impl Into<JsValue>) -> Self {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&self.0, &key.into(), &value.into());
        self
    }

    pub fn number(self, key: &str, value: u64) -> Self {
        self.set(key, value as f64)
    }

    pub fn optional_number(self, key: &str, value: Option<u64>) -> Self {
        match value {
            Some(v) => self.number(key, v),
            None => self.set(key, JsValue::NULL),
        }
    }

    pub fn build(self) -> JsValue {
        self.0.into()
    }
}

/// Parsed `new Client` arguments: the core's `Config`, and what only the driver uses.
pub struct Options {
    pub config: Config,
    /// The URLs, checked and resolved (a JS array of strings, at least one).
    pub urls: js_sys::Array,
    /// The `WebSocket` class sockets are opened with (the option, else the global one).
    pub socket_class: Function,
    /// The `protocols` option: a string or an array of strings (checked), else `undefined`.
    pub protocols: JsValue,
    /// Raw mode's options: `[open frames, ping frame, as text, pong]`, or `undefined` in
    /// resocket mode.
    pub raw: JsValue,
    /// The `token` function, called before every connection attempt and before expiry.
    pub token_function: Option<Function>,
    pub auto_connect: bool,
    /// Follow the page's lifecycle and network events (`pageLifecycle`, default true).
    pub page_lifecycle: bool,
}

/// Reads `new Client(url, options)`'s arguments. `clientOptions` (glue.js) reads and checks
/// every option (its defaults, types and `Config::validate`'s rules) and throws the
/// `InvalidOptions` error: smaller there than here, where only its compact result is read.
pub fn client_options(url: &JsValue, options: Option<&Object>) -> Result<Options, JsValue> {
    // In the order `clientOptions` writes them.
    let mut n = [0.0; 18];
    let given = super::glue::client_options(url, options, &mut n)?;
    let urls: js_sys::Array = given.get(0).unchecked_into();
    let raw = given.get(3);
    let function = given.get(4);
    let token_function = (!function.is_undefined()).then(|| function.unchecked_into());
    let token = match (&token_function, given.get(5).as_string()) {
        (Some(_), _) => TokenSource::Fetch,
        (None, Some(token)) => TokenSource::Static(token),
        (None, None) => TokenSource::None,
    };
    // Checked in JS: integers are within [0, 2^53), and `as` saturates what a `usize` or `u32`
    // cannot hold, as before.
    let config = Config {
        mode: if raw.is_undefined() {
            Mode::Resocket
        } else {
            Mode::Raw
        },
        connect_timeout_ms: n[0] as u64,
        max_message_bytes: n[1] as usize,
        max_inbound_bytes: n[2] as usize,
        max_buffered_bytes: n[3] as usize,
        // The option, else a random seed from JS.
        seed: Some(n[4] as u64),
        reconnect: ReconnectConfig {
            initial_delay_ms: n[7] as u64,
            max_delay_ms: n[8] as u64,
            factor: n[9],
            jitter: n[10],
            stable_after_ms: n[11] as u64,
            // -1: none (retry forever).
            max_attempts: (n[12] >= 0.0).then_some(n[12] as u32),
        },
        queue: QueueConfig {
            max_messages: n[13] as usize,
            max_bytes: n[14] as usize,
            overflow: match n[15] == 1.0 {
                true => OverflowPolicy::DropOldest,
                false => OverflowPolicy::Reject,
            },
        },
        heartbeat: HeartbeatConfig {
            interval_ms: n[16] as u64,
            timeout_ms: n[17] as u64,
        },
        user: given.get(6).as_string(),
        origin: given.get(7).as_string(),
        token,
        url_count: urls.length() as usize,
    };
    Ok(Options {
        config,
        urls,
        socket_class: given.get(1).unchecked_into(),
        protocols: given.get(2),
        raw,
        token_function,
        auto_connect: n[5] != 0.0,
        page_lifecycle: n[6] != 0.0,
    })
}

/// Frames `glue.js` made (`rawFrames`), measured for the core.
pub fn frames(list: &js_sys::Array) -> Vec<JsFrame> {
    let mut frames = Vec::new();
    for i in 0..list.length() {
        frames.push(JsFrame::sized(list.get(i)));
    }
    frames
}

/// Reads `RequestOptions` (checked in JS, `requestOptions` in glue.js) into the core's options
/// and the optional `AbortSignal`; the error is the `InvalidOptions` error.
pub fn request_options(
    options: Option<&Object>,
) -> Result<(RequestOptions, Option<JsValue>), JsValue> {
    let read = super::glue::request_options(options)?;
    let mut parsed = RequestOptions::default();
    // `timeoutMs: null` waits forever; absent keeps the default.
    let timeout = read.get(0);
    if timeout.is_null() {
        parsed.timeout_ms = None;
    } else if let Some(ms) = timeout.as_f64() {
        parsed.timeout_ms = Some(ms as u64);
    }
    if read.get(1).as_bool() == Some(true) {
        parsed.on_disconnect = DisconnectPolicy::Fail;
    }
    let signal = read.get(2);
    Ok((parsed, (!signal.is_undefined()).then_some(signal)))
}

/// Reads `JoinOptions` (checked in JS, `joinOptions` in glue.js): `meta`, as JSON text so the
/// core can keep it for rejoins, and `history`, the newest messages to replay on the first join.
pub fn join_options(options: Option<&Object>) -> Result<(Option<JsFrame>, Option<u64>), JsValue> {
    let read = super::glue::join_options(options)?;
    let meta = read.get(0);
    let meta = (!meta.is_undefined()).then(|| JsFrame::new(meta.unchecked_into()));
    Ok((meta, read.get(1).as_f64().map(|n| n as u64)))
}
