//! Reading the plain JS objects the app passes in (options) into the core's Rust types, written
//! by hand for size like `to_js.rs`, which converts the other way. The client's options are
//! read and checked in JS (`clientOptions` in glue.js); only their compact form is read here.

use super::codec::JsFrame;
use super::event_names::JOIN_OPTIONS;
use crate::core::float::is_whole;
use crate::core::{
    Config, DisconnectPolicy, HeartbeatConfig, Mode, OverflowPolicy, QueueConfig,
    ReconnectConfig, RequestOptions, TokenSource,
};
use alloc::{borrow::ToOwned, string::String, vec::Vec};
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
        mode: if raw.is_undefined() { Mode::Resocket } else { Mode::Raw },
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
