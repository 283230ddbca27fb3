//! Helpers shared by the browser test binaries: the test server's address and control
//! endpoints, clients, event recorders and bounded waits.
#![allow(dead_code)]

use gloo_timers::future::TimeoutFuture;
use js_sys::{Function, Reflect, JSON};
use resocket::Client;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

pub const SERVER: &str = match option_env!("RESOCKET_TEST_SERVER") {
    Some(addr) => addr,
    None => "127.0.0.1:9431",
};

/// The server's control secret: `scripts/with-server.sh` exports it while these tests compile.
pub const CONTROL_SECRET: &str = match option_env!("RESOCKET_CONTROL_SECRET") {
    Some(secret) => secret,
    None => "",
};

#[wasm_bindgen(inline_js = "
export async function control(url, secret, body) {
  const init = {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'X-Resocket-Control-Secret': secret },
  };
  if (body !== undefined && body !== null) init.body = body;
  const response = await fetch(url, init);
  if (!response.ok) throw new Error(url + ' answered ' + response.status);
  return response.json();
}
")]
extern "C" {
    #[wasm_bindgen(catch)]
    pub async fn control(url: &str, secret: &str, body: JsValue) -> Result<JsValue, JsValue>;
}

/// Calls a control endpoint of the test server: `POST` with `body`, or `GET` when `None`.
pub async fn server_control(path: &str, body: Option<&str>) -> JsValue {
    let body = match body {
        None => JsValue::UNDEFINED,
        Some(text) => JsValue::from_str(text),
    };
    control(&format!("http://{SERVER}{path}"), CONTROL_SECRET, body)
        .await
        .unwrap_or_else(|e| panic!("control {path} failed: {e:?}"))
}

pub fn options(json: &str) -> js_sys::Object {
    JSON::parse(json)
        .expect("options are JSON")
        .unchecked_into()
}

pub fn client(json_options: &str) -> Client {
    Client::new(
        format!("ws://{SERVER}/ws").into(),
        Some(options(json_options)),
    )
    .expect("client")
}

pub fn field(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

pub fn text(value: &JsValue) -> String {
    JSON::stringify(value).map(String::from).unwrap_or_default()
}

pub fn status(client: &Client) -> String {
    field(&client.state(), "status")
        .as_string()
        .unwrap_or_default()
}

/// Every value an event carried, in order, with the listener's second argument (a room
/// message's sequence number).
pub struct Recorder {
    seen: Rc<RefCell<Vec<(JsValue, JsValue)>>>,
    _listener: Closure<dyn FnMut(JsValue, JsValue)>,
    unsubscribe: Function,
}

impl Recorder {
    pub fn new(client: &Client, event: &str) -> Self {
        Recorder::with(|listener| client.on(event, listener))
    }

    /// Records whatever `subscribe` hooks the listener to; it returns the unsubscriber.
    pub fn with(subscribe: impl FnOnce(&Function) -> Function) -> Self {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = seen.clone();
        let listener = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |v, extra| {
            sink.borrow_mut().push((v, extra))
        });
        let unsubscribe = subscribe(listener.as_ref().unchecked_ref());
        Recorder {
            seen,
            _listener: listener,
            unsubscribe,
        }
    }

    /// A recorder whose listener is passed to `attach` (e.g. as a join handler) and detached by
    /// whoever owns that subscription.
    pub fn handler() -> (Self, Function) {
        let recorder = Recorder::with(|_| Function::new_no_args(""));
        let function: Function = recorder._listener.as_ref().clone().unchecked_into();
        (recorder, function)
    }

    pub fn len(&self) -> usize {
        self.seen.borrow().len()
    }

    pub fn values(&self) -> Vec<JsValue> {
        self.seen.borrow().iter().map(|(v, _)| v.clone()).collect()
    }

    pub fn texts(&self) -> Vec<String> {
        self.seen.borrow().iter().map(|(v, _)| text(v)).collect()
    }

    /// The second arguments as numbers (room sequence numbers).
    pub fn seqs(&self) -> Vec<u64> {
        self.seen
            .borrow()
            .iter()
            .filter_map(|(_, s)| s.as_f64().map(|n| n as u64))
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.unsubscribe.call0(&JsValue::NULL);
    }
}

/// Polls `condition` every 10 ms; fails the test after `timeout_ms`.
pub async fn wait_for(what: &str, timeout_ms: u32, mut condition: impl FnMut() -> bool) {
    let mut waited = 0;
    while !condition() {
        assert!(
            waited < timeout_ms,
            "timed out after {timeout_ms} ms waiting for {what}"
        );
        TimeoutFuture::new(10).await;
        waited += 10;
    }
}

pub async fn open_client(json_options: &str) -> Client {
    let client = client(json_options);
    wait_for("open", 5_000, || status(&client) == "open").await;
    client
}

/// Reconnects fast and sends no heartbeats, so tests stay short.
pub const FAST: &str =
    r#"{"reconnect":{"initialDelayMs":50,"maxDelayMs":200},"heartbeat":{"intervalMs":0}}"#;

/// A name no other test (or earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", (js_sys::Math::random() * 1e12) as u64)
}

pub fn json(text: &str) -> JsValue {
    JSON::parse(text).expect("valid JSON")
}
