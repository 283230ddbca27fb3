//! Reading the plain JS objects the app passes in (options) into the core's Rust types, written
//! by hand for size like `to_js.rs`, which converts the other way.

use super::codec::JsFrame;
use super::event_names::JOIN_OPTIONS;
use crate::core::float::is_whole;
use crate::core::{Config, DisconnectPolicy, Mode, OverflowPolicy, RequestOptions, TokenSource};
use alloc::{borrow::ToOwned, string::String, vec::Vec};
use js_sys::{Object, Reflect};
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

/// Reads one options object, refusing unknown keys and values of the wrong type.
struct Fields {
    object: JsValue,
    path: &'static str,
}

impl Fields {
    fn new(object: JsValue, path: &'static str, known: &[&str]) -> Result<Self, String> {
        if !object.is_object() {
            return Err([path, " must be an object"].concat());
        }
        for key in Object::keys(object.unchecked_ref::<Object>()).iter() {
            let key = key.as_string().unwrap_or_default();
            if !known.contains(&key.as_str()) {
                return Err(["unknown option ", path, ".", &key].concat());
            }
        }
        Ok(Fields { object, path })
    }

    fn get(&self, key: &str) -> Option<JsValue> {
        Reflect::get(&self.object, &key.into())
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    fn number(&self, key: &str) -> Result<Option<f64>, String> {
        self.get(key)
            .map(|v| {
                v.as_f64()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| [self.path, ".", key, " must be a finite number"].concat())
            })
            .transpose()
    }

    fn integer(&self, key: &str) -> Result<Option<u64>, String> {
        match self.number(key)? {
            Some(n) if n < 0.0 || !is_whole(n) || n > 9_007_199_254_740_991.0 => {
                Err([self.path, ".", key, " must be a non-negative integer"].concat())
            }
            other => Ok(other.map(|n| n as u64)),
        }
    }

    fn set_integer(&self, key: &str, target: &mut u64) -> Result<(), String> {
        if let Some(n) = self.integer(key)? {
            *target = n;
        }
        Ok(())
    }

    fn set_size(&self, key: &str, target: &mut usize) -> Result<(), String> {
        if let Some(n) = self.integer(key)? {
            *target = usize::try_from(n).unwrap_or(usize::MAX);
        }
        Ok(())
    }

    fn set_number(&self, key: &str, target: &mut f64) -> Result<(), String> {
        if let Some(n) = self.number(key)? {
            *target = n;
        }
        Ok(())
    }

    fn child(&self, key: &'static str, known: &[&str]) -> Result<Option<Fields>, String> {
        self.get(key)
            .map(|v| Fields::new(v, key, known))
            .transpose()
    }
}

/// Parsed `ClientOptions`: the core's `Config`, and what only the driver uses.
pub struct Options {
    pub config: Config,
    /// Raw mode's options as `glue::raw_options` returned them: `[open frames, ping frame, as
    /// text, pong]`, or `undefined` in resocket mode.
    pub raw: JsValue,
    /// The `protocols` option: a string or an array of strings (checked), else `undefined`.
    pub protocols: JsValue,
    pub auto_connect: bool,
    /// The `token` function, called before every connection attempt and before expiry.
    pub token_function: Option<js_sys::Function>,
    /// The `WebSocket` class, if given (checked by `glue::socket_class`).
    pub socket_class: Option<JsValue>,
    /// Follow the page's lifecycle and network events (`pageLifecycle`, default true).
    pub page_lifecycle: bool,
}

/// Parses `ClientOptions`.
pub fn options(options: JsValue) -> Result<Options, String> {
    let mut config = Config::default();
    let top = Fields::new(
        options,
        "options",
        &[
            "reconnect",
            "queue",
            "heartbeat",
            "connectTimeoutMs",
            "maxMessageBytes",
            "maxInboundBytes",
            "maxBufferedBytes",
            "seed",
            "user",
            "origin",
            "autoConnect",
            "token",
            "WebSocket",
            "mode",
            "receive",
            "sendOnOpen",
            "protocols",
            "pageLifecycle",
        ],
    )?;
    // Raw mode's options are checked in JS (glue.js `rawOptions`): smaller than here.
    let raw =
        super::glue::raw_options(&top.object).map_err(|m| m.as_string().unwrap_or_default())?;
    if !raw.is_undefined() {
        config.mode = Mode::Raw;
    }
    let mut token_function = None;
    config.token = match top.get("token") {
        None => TokenSource::None,
        Some(v) if v.is_function() => {
            token_function = Some(v.into());
            TokenSource::Fetch
        }
        Some(v) => TokenSource::Static(
            v.as_string()
                .ok_or("options.token must be a string or a function")?,
        ),
    };
    config.origin = match top.get("origin") {
        None => None,
        Some(v) => Some(v.as_string().ok_or("options.origin must be a string")?),
    };
    config.user = match top.get("user") {
        None => None,
        Some(v) => Some(v.as_string().ok_or("options.user must be a string")?),
    };
    top.set_integer("connectTimeoutMs", &mut config.connect_timeout_ms)?;
    top.set_size("maxMessageBytes", &mut config.max_message_bytes)?;
    top.set_size("maxInboundBytes", &mut config.max_inbound_bytes)?;
    top.set_size("maxBufferedBytes", &mut config.max_buffered_bytes)?;
    config.seed = top.integer("seed")?;
    let auto_connect = match top.get("autoConnect") {
        None => true,
        Some(v) => v.as_bool().ok_or("options.autoConnect must be a boolean")?,
    };
    let page_lifecycle = match top.get("pageLifecycle") {
        None => true,
        Some(v) => v
            .as_bool()
            .ok_or("options.pageLifecycle must be a boolean")?,
    };
    let reconnect_keys = [
        "initialDelayMs",
        "maxDelayMs",
        "factor",
        "jitter",
        "maxAttempts",
        "stableAfterMs",
    ];
    if let Some(r) = top.child("reconnect", &reconnect_keys)? {
        let c = &mut config.reconnect;
        r.set_integer("initialDelayMs", &mut c.initial_delay_ms)?;
        r.set_integer("maxDelayMs", &mut c.max_delay_ms)?;
        r.set_number("factor", &mut c.factor)?;
        r.set_number("jitter", &mut c.jitter)?;
        r.set_integer("stableAfterMs", &mut c.stable_after_ms)?;
        c.max_attempts = r
            .integer("maxAttempts")?
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    }
    if let Some(q) = top.child("queue", &["maxMessages", "maxBytes", "overflow"])? {
        q.set_size("maxMessages", &mut config.queue.max_messages)?;
        q.set_size("maxBytes", &mut config.queue.max_bytes)?;
        if let Some(policy) = q.get("overflow") {
            config.queue.overflow = match policy.as_string().as_deref() {
                Some("reject") => OverflowPolicy::Reject,
                Some("dropOldest") => OverflowPolicy::DropOldest,
                _ => return Err("queue.overflow must be \"reject\" or \"dropOldest\"".into()),
            };
        }
    }
    if let Some(h) = top.child("heartbeat", &["intervalMs", "timeoutMs", "ping", "pong"])? {
        h.set_integer("intervalMs", &mut config.heartbeat.interval_ms)?;
        h.set_integer("timeoutMs", &mut config.heartbeat.timeout_ms)?;
    }
    let socket_class = top.get("WebSocket");
    Ok(Options {
        config,
        raw,
        protocols: top.get("protocols").unwrap_or(JsValue::UNDEFINED),
        auto_connect,
        token_function,
        socket_class,
        page_lifecycle,
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

/// Parses `RequestOptions` into the core's options and the optional `AbortSignal`.
pub fn request_options(
    options: Option<js_sys::Object>,
) -> Result<(RequestOptions, Option<JsValue>), String> {
    let mut parsed = RequestOptions::default();
    let Some(options) = options else {
        return Ok((parsed, None));
    };
    let fields = Fields::new(
        options.into(),
        "request options",
        &["timeoutMs", "signal", "onDisconnect"],
    )?;
    // `timeoutMs: null` waits forever; absent keeps the default.
    let timeout = Reflect::get(&fields.object, &"timeoutMs".into()).unwrap_or(JsValue::UNDEFINED);
    if timeout.is_null() {
        parsed.timeout_ms = None;
    } else if let Some(ms) = fields.integer("timeoutMs")? {
        parsed.timeout_ms = Some(ms);
    }
    if let Some(policy) = fields.get("onDisconnect") {
        parsed.on_disconnect = match policy.as_string().as_deref() {
            Some("retry") => DisconnectPolicy::Retry,
            Some("fail") => DisconnectPolicy::Fail,
            _ => return Err("onDisconnect must be \"retry\" or \"fail\"".into()),
        };
    }
    Ok((parsed, fields.get("signal")))
}

/// Reads `JoinOptions`: `meta`, encoded as JSON text so the core can keep it for rejoins, and
/// `history`, the newest messages to replay on the first join.
pub fn join_options(
    options: Option<js_sys::Object>,
) -> Result<(Option<JsFrame>, Option<u64>), String> {
    let Some(options) = options else {
        return Ok((None, None));
    };
    let fields = Fields::new(options.into(), "join options", &JOIN_OPTIONS)?;
    let meta = fields
        .get("meta")
        .map(|meta| {
            js_sys::JSON::stringify(&meta)
                .map(JsFrame::new)
                .map_err(|_| "join options.meta must be JSON-serialisable".to_owned())
        })
        .transpose()?;
    Ok((meta, fields.integer("history")?))
}

/// Reads `DocOptions.persist`: the storage key to save document `name` under, if any.
pub fn doc_storage_key(
    name: &str,
    options: Option<js_sys::Object>,
) -> Result<Option<String>, String> {
    let Some(options) = options else {
        return Ok(None);
    };
    let fields = Fields::new(options.into(), "doc options", &["persist"])?;
    Ok(match fields.get("persist") {
        None => None,
        Some(v) if v.as_bool() == Some(true) => Some(["resocket:doc:", name].concat()),
        Some(v) if v.as_bool() == Some(false) => None,
        Some(v) => Some(
            v.as_string()
                .ok_or("persist must be a boolean or a storage key")?,
        ),
    })
}
