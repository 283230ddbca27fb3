//! Browser tests: the real WASM client in headless Chromium against the real test server, which
//! the test command starts on `RESOCKET_TEST_SERVER` (host:port) before running these.
#![cfg(target_arch = "wasm32")]

mod browser_support;

use browser_support::*;
use gloo_timers::future::TimeoutFuture;
use js_sys::JSON;
use resocket::Client;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const FAST_RECONNECT: &str =
    r#"{"reconnect":{"initialDelayMs":100,"maxDelayMs":400,"jitter":0.5}}"#;

#[wasm_bindgen_test]
async fn connects_sends_and_receives_payloads_as_js_values() {
    let client = client("{}");
    let states = Recorder::new(&client, "state");
    let messages = Recorder::new(&client, "message");
    wait_for("open", 5_000, || status(&client) == "open").await;
    let statuses: Vec<String> = states
        .values()
        .iter()
        .map(|s| field(s, "status").as_string().unwrap_or_default())
        .collect();
    assert_eq!(statuses, vec!["connecting", "open"]);

    let payload = JSON::parse(r#"{"text":"héllo","n":[1,2.5,null],"nested":{"ok":true}}"#).unwrap();
    client.send(payload.clone()).expect("send");
    wait_for("echo", 5_000, || messages.len() == 1).await;
    assert_eq!(messages.texts(), vec![text(&payload)]);
    let metrics = client.metrics();
    assert_eq!(field(&metrics, "messagesSent").as_f64(), Some(1.0));
    assert_eq!(field(&metrics, "messagesReceived").as_f64(), Some(1.0));
    client.close();
}

#[wasm_bindgen_test]
async fn reconnects_with_backoff_and_delivers_messages_sent_meanwhile_once_in_order() {
    let client = open_client(FAST_RECONNECT).await;
    let states = Recorder::new(&client, "state");
    let messages = Recorder::new(&client, "message");

    // The server drops every socket and refuses new ones for 600 ms: several attempts fail.
    server_control("/control/drop?outage_ms=600", Some("")).await;
    wait_for("reconnecting", 5_000, || status(&client) == "reconnecting").await;
    for n in 0..20 {
        client.send(JsValue::from(n)).expect("queued while offline");
    }
    assert_eq!(field(&client.metrics(), "queueDepth").as_f64(), Some(20.0));
    wait_for("all 20 echoes", 10_000, || messages.len() >= 20).await;
    TimeoutFuture::new(200).await; // a duplicate would arrive right behind the last one
    let received: Vec<String> = messages.texts();
    let expected: Vec<String> = (0..20).map(|n| n.to_string()).collect();
    assert_eq!(received, expected, "exactly once and in order");

    let reconnecting: Vec<(f64, f64)> = states
        .values()
        .iter()
        .filter(|s| field(s, "status").as_string().as_deref() == Some("reconnecting"))
        .map(|s| {
            (
                field(s, "attempt").as_f64().unwrap_or(0.0),
                field(s, "delayMs").as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    assert!(
        reconnecting.len() >= 2,
        "the outage makes attempts fail: {reconnecting:?}"
    );
    for (i, (attempt, delay)) in reconnecting.iter().enumerate() {
        assert_eq!(
            *attempt,
            i as f64 + 2.0,
            "attempts count up: {reconnecting:?}"
        );
        assert!(
            (0.0..=400.0).contains(delay),
            "delay within [0, max]: {reconnecting:?}"
        );
    }
    assert!(
        reconnecting[0].1 <= 100.0,
        "first delay is the initial one: {reconnecting:?}"
    );
    assert_eq!(status(&client), "open");
    assert_eq!(field(&client.metrics(), "reconnects").as_f64(), Some(1.0));
    client.close();
}

#[wasm_bindgen_test]
async fn close_stops_reconnecting() {
    let client = open_client(FAST_RECONNECT).await;
    let states = Recorder::new(&client, "state");
    client.close();
    assert_eq!(status(&client), "closed");
    assert_eq!(
        text(&field(&client.state(), "reason")),
        r#"{"kind":"client"}"#
    );
    server_control("/control/drop", Some("")).await;
    TimeoutFuture::new(700).await; // longer than the largest backoff delay
    assert_eq!(
        states.len(),
        1,
        "no transition after close: {:?}",
        states.texts()
    );
    let error = client
        .send(JsValue::from(1))
        .expect_err("sending after close fails");
    assert_eq!(field(&error, "code").as_string().as_deref(), Some("Closed"));
}

#[wasm_bindgen_test]
async fn close_during_backoff_cancels_the_pending_attempt() {
    let client =
        open_client(r#"{"reconnect":{"initialDelayMs":300,"maxDelayMs":300,"jitter":0}}"#).await;
    let states = Recorder::new(&client, "state");
    server_control("/control/drop", Some("")).await;
    wait_for("reconnecting", 5_000, || status(&client) == "reconnecting").await;
    client.close();
    TimeoutFuture::new(600).await;
    let statuses: Vec<String> = states
        .values()
        .iter()
        .map(|s| field(s, "status").as_string().unwrap_or_default())
        .collect();
    assert_eq!(statuses, vec!["reconnecting", "closed"]);
}

#[wasm_bindgen_test]
async fn a_malformed_server_frame_raises_an_error_and_the_client_keeps_working() {
    let client = open_client("{}").await;
    let errors = Recorder::new(&client, "error");
    let messages = Recorder::new(&client, "message");
    server_control("/control/malformed", Some("")).await;
    wait_for("error event", 5_000, || errors.len() == 1).await;
    let error = &errors.values()[0];
    assert_eq!(
        field(error, "code").as_string().as_deref(),
        Some("MalformedFrame")
    );
    assert_eq!(
        field(error, "name").as_string().as_deref(),
        Some("ResocketError")
    );

    server_control("/control/send", Some(r#"{"kind":"teleport"}"#)).await;
    wait_for("second error", 5_000, || errors.len() == 2).await;
    assert_eq!(
        field(&errors.values()[1], "code").as_string().as_deref(),
        Some("UnknownKind")
    );

    assert_eq!(status(&client), "open");
    client.send(JsValue::from_str("still here")).expect("send");
    wait_for("echo", 5_000, || messages.len() == 1).await;
    assert_eq!(messages.texts(), vec![r#""still here""#]);
    assert_eq!(field(&client.metrics(), "errors").as_f64(), Some(2.0));
    client.close();
}

#[wasm_bindgen_test]
async fn unsubscribed_listeners_hear_nothing_more() {
    let client = open_client("{}").await;
    let kept = Recorder::new(&client, "message");
    let dropped = Recorder::new(&client, "message");
    client.send(JsValue::from(1)).expect("send");
    wait_for("first echo", 5_000, || kept.len() == 1).await;
    drop(dropped);
    let late = Recorder::new(&client, "message");
    client.send(JsValue::from(2)).expect("send");
    wait_for("second echo", 5_000, || kept.len() == 2).await;
    assert_eq!(late.len(), 1);
    client.close();
}

#[wasm_bindgen_test]
async fn heartbeat_measures_round_trip_time() {
    let client = open_client(r#"{"heartbeat":{"intervalMs":50,"timeoutMs":2000}}"#).await;
    let rtts = Recorder::new(&client, "rtt");
    wait_for("two pongs", 5_000, || rtts.len() >= 2).await;
    let rtt = field(&client.metrics(), "rttMs")
        .as_f64()
        .expect("rtt measured");
    assert!((0.0..2_000.0).contains(&rtt));
    assert!(field(&rtts.values()[1], "smoothedMs").as_f64().is_some());
    client.close();
}

#[wasm_bindgen_test]
async fn free_closes_the_socket_on_the_server() {
    let before = field(&server_control("/control/stats", None).await, "connections")
        .as_f64()
        .unwrap_or(-1.0);
    let client = open_client("{}").await;
    wait_for("server sees the connection", 5_000, || true).await;
    let during = field(&server_control("/control/stats", None).await, "connections").as_f64();
    assert_eq!(during, Some(before + 1.0));
    drop(client); // what `free()` does from JS
    let mut after = None;
    for _ in 0..100 {
        after = field(&server_control("/control/stats", None).await, "connections").as_f64();
        if after == Some(before) {
            break;
        }
        TimeoutFuture::new(20).await;
    }
    assert_eq!(after, Some(before), "the freed client's socket closed");
}

#[wasm_bindgen_test]
fn bad_options_and_urls_throw_typed_errors() {
    for (url, json) in [
        ("http://127.0.0.1:1/ws", "{}"),
        ("ws://127.0.0.1:1/ws", r#"{"reconnect":{"jitter":2}}"#),
        (
            "ws://127.0.0.1:1/ws",
            r#"{"queue":{"overflow":"sometimes"}}"#,
        ),
        ("ws://127.0.0.1:1/ws", r#"{"reconect":{}}"#),
        ("ws://127.0.0.1:1/ws", r#"{"connectTimeoutMs":-5}"#),
    ] {
        let error = Client::new(url.into(), Some(options(json)))
            .err()
            .expect(json);
        assert_eq!(
            field(&error, "code").as_string().as_deref(),
            Some("InvalidOptions"),
            "{json}"
        );
    }
}

/// `new Client` reads and checks its options in JS (glue.js `clientOptions`): every message is
/// the one the Rust reader gave, and `Config::validate`'s are the core's own.
#[wasm_bindgen_test]
fn every_option_error_keeps_its_message() {
    use resocket::core::ConfigError;
    let url = "ws://127.0.0.1:1/ws";
    let validate = [
        (
            url,
            r#"{"reconnect":{"factor":0.5}}"#,
            ConfigError::Factor(0.5),
        ),
        (
            url,
            r#"{"reconnect":{"jitter":2}}"#,
            ConfigError::Jitter(2.0),
        ),
        (
            url,
            r#"{"reconnect":{"maxDelayMs":10}}"#,
            ConfigError::DelayOrder {
                initial: 500,
                max: 10,
            },
        ),
        (
            url,
            r#"{"queue":{"maxMessages":0}}"#,
            ConfigError::Zero("queue.maxMessages"),
        ),
        (
            url,
            r#"{"queue":{"maxBytes":0}}"#,
            ConfigError::Zero("queue.maxBytes"),
        ),
        (
            url,
            r#"{"maxMessageBytes":0}"#,
            ConfigError::Zero("maxMessageBytes"),
        ),
        (
            url,
            r#"{"maxInboundBytes":0}"#,
            ConfigError::Zero("maxInboundBytes"),
        ),
        (
            url,
            r#"{"maxBufferedBytes":0}"#,
            ConfigError::Zero("maxBufferedBytes"),
        ),
        (
            url,
            r#"{"connectTimeoutMs":0}"#,
            ConfigError::Zero("connectTimeoutMs"),
        ),
        (
            url,
            r#"{"heartbeat":{"timeoutMs":0}}"#,
            ConfigError::Zero("heartbeat.timeoutMs"),
        ),
        (
            url,
            r#"{"mode":"raw","token":"t"}"#,
            ConfigError::NotInRaw("token"),
        ),
    ];
    let mut cases: Vec<(JsValue, &str, String)> = validate
        .into_iter()
        .map(|(url, json, error)| (url.into(), json, error.message()))
        .collect();
    cases.push((
        js_sys::Array::new().into(),
        "{}",
        ConfigError::NoUrl.message(),
    ));
    for (json, message) in [
        (
            r#"{"connectTimeoutMs":-5}"#,
            "options.connectTimeoutMs must be a non-negative integer",
        ),
        (r#"{"seed":"x"}"#, "options.seed must be a finite number"),
        (
            r#"{"reconnect":{"maxAttempts":1.5}}"#,
            "reconnect.maxAttempts must be a non-negative integer",
        ),
        (
            r#"{"reconnect":{"factor":"2"}}"#,
            "reconnect.factor must be a finite number",
        ),
        (r#"{"reconect":{}}"#, "unknown option options.reconect"),
        (r#"{"queue":{"max":1}}"#, "unknown option queue.max"),
        (r#"{"reconnect":5}"#, "reconnect must be an object"),
        (
            r#"{"queue":{"overflow":"sometimes"}}"#,
            r#"queue.overflow must be "reject" or "dropOldest""#,
        ),
        (
            r#"{"autoConnect":"yes"}"#,
            "options.autoConnect must be a boolean",
        ),
        (
            r#"{"pageLifecycle":1}"#,
            "options.pageLifecycle must be a boolean",
        ),
        (r#"{"user":5}"#, "options.user must be a string"),
        (r#"{"origin":false}"#, "options.origin must be a string"),
        (
            r#"{"token":5}"#,
            "options.token must be a string or a function",
        ),
        (r#"{"WebSocket":"ws"}"#, "options.WebSocket must be a class"),
        (
            r#"{"mode":"plain"}"#,
            r#"options.mode must be "resocket" or "raw""#,
        ),
    ] {
        cases.push((url.into(), json, message.to_owned()));
    }
    for (url, json, message) in cases {
        let error = Client::new(url, Some(options(json))).err().expect(json);
        assert_eq!(
            field(&error, "code").as_string().as_deref(),
            Some("InvalidOptions"),
            "{json}"
        );
        assert_eq!(
            field(&error, "name").as_string().as_deref(),
            Some("ResocketError"),
            "{json}"
        );
        assert_eq!(
            field(&error, "message").as_string(),
            Some(message),
            "{json}"
        );
    }
    // Absent, null and in-range values are accepted; null `maxAttempts` retries forever.
    let accepted = r#"{"autoConnect":false,"seed":0,"user":null,"token":null,
        "reconnect":{"maxAttempts":null,"factor":1,"jitter":0,"initialDelayMs":0,"maxDelayMs":0},
        "queue":{"overflow":"dropOldest"},"heartbeat":{"intervalMs":0,"timeoutMs":0}}"#;
    let client = Client::new(url.into(), Some(options(accepted))).expect("valid");
    Client::new(url.into(), None).expect("no options");
    // The options of `join` and `doc` are read in JS too (`joinOptions`, `docStorageKey`).
    let message = |error: JsValue| {
        assert_eq!(
            field(&error, "code").as_string().as_deref(),
            Some("InvalidOptions")
        );
        field(&error, "message").as_string().unwrap_or_default()
    };
    for (json, expected) in [
        (
            r#"{"history":-1}"#,
            "join options.history must be a non-negative integer",
        ),
        (r#"{"metta":{}}"#, "unknown option join options.metta"),
    ] {
        let error = client.join("r".into(), None, Some(options(json))).err();
        assert_eq!(error.map(message).as_deref(), Some(expected), "{json}");
    }
    let error = client
        .doc("d".into(), Some(options(r#"{"persist":5}"#)))
        .err();
    let expected = "persist must be a boolean or a storage key";
    assert_eq!(error.map(message).as_deref(), Some(expected));
}

#[wasm_bindgen_test]
async fn a_full_queue_rejects_or_drops_oldest_with_an_event() {
    let rejecting = client(r#"{"autoConnect":false,"queue":{"maxMessages":2}}"#);
    rejecting.send(JsValue::from(1)).expect("queued");
    rejecting.send(JsValue::from(2)).expect("queued");
    let error = rejecting.send(JsValue::from(3)).expect_err("full");
    assert_eq!(
        field(&error, "code").as_string().as_deref(),
        Some("QueueFull")
    );

    let dropping =
        client(r#"{"autoConnect":false,"queue":{"maxMessages":2,"overflow":"dropOldest"}}"#);
    let dropped = Recorder::new(&dropping, "dropped");
    let messages = Recorder::new(&dropping, "message");
    for n in 1..=3 {
        dropping.send(JsValue::from(n)).expect("accepted");
    }
    assert_eq!(dropped.texts(), vec![r#"{"count":1,"bytes":26}"#]);
    dropping.connect();
    wait_for("two echoes", 5_000, || messages.len() == 2).await;
    assert_eq!(messages.texts(), vec!["2", "3"]);
    dropping.close();
}

#[wasm_bindgen_test]
fn message_sizes_are_counted_in_utf8_bytes() {
    // `{"kind":"msg","payload":"€€€€€€"}` is 33 UTF-16 units but 45 UTF-8 bytes.
    let client = client(r#"{"autoConnect":false,"maxMessageBytes":40}"#);
    let error = client
        .send(JsValue::from_str("€€€€€€"))
        .expect_err("over the byte limit");
    assert_eq!(
        field(&error, "code").as_string().as_deref(),
        Some("MessageTooLarge")
    );
    client.send(JsValue::from_str("€€€")).expect("36 bytes fit");
    assert_eq!(field(&client.metrics(), "queueBytes").as_f64(), Some(36.0));
}

/// A token function (`options.token`) that counts its calls in `state.calls` and answers with a
/// promise of `"token-<n>"`, after throwing on call `state.failOn` if set.
fn token_function(state: &js_sys::Object) -> JsValue {
    let make = js_sys::Function::new_with_args(
        "state",
        "return () => { state.calls++; \
         if (state.calls === state.failOn) throw new Error('auth server down'); \
         return new Promise((resolve) => setTimeout(() => resolve('token-' + state.calls), 10)); }",
    );
    make.call1(&JsValue::NULL, state).expect("token function")
}

fn with_token(json_options: &str, token: &JsValue) -> Client {
    let options = options(json_options);
    js_sys::Reflect::set(&options, &"token".into(), token).expect("set token");
    Client::new(format!("ws://{SERVER}/ws").into(), Some(options)).expect("client")
}

fn calls(state: &js_sys::Object) -> f64 {
    field(state, "calls").as_f64().unwrap_or(-1.0)
}

#[wasm_bindgen_test]
async fn the_token_function_is_called_before_every_connection_attempt() {
    let state: js_sys::Object = json(r#"{"calls":0}"#).unchecked_into();
    let client = with_token(FAST, &token_function(&state));
    wait_for("open", 5_000, || status(&client) == "open").await;
    assert_eq!(calls(&state), 1.0, "once before the first attempt");
    // The server ignores hello.token for now; a forced drop makes the client reconnect.
    server_control("/control/drop", Some("")).await;
    wait_for("asked again", 5_000, || calls(&state) == 2.0).await;
    wait_for("open again", 5_000, || status(&client) == "open").await;
    assert_eq!(field(&client.metrics(), "reconnects").as_f64(), Some(1.0));
    assert_eq!(calls(&state), 2.0, "once per attempt");
    client.close();
}

#[wasm_bindgen_test]
async fn a_failing_token_function_raises_token_unavailable_and_the_attempt_is_retried() {
    let state: js_sys::Object = json(r#"{"calls":0,"failOn":1}"#).unchecked_into();
    let client = with_token(FAST, &token_function(&state));
    let errors = Recorder::new(&client, "error");
    wait_for("open", 5_000, || status(&client) == "open").await;
    let codes: Vec<String> = errors
        .values()
        .iter()
        .map(|e| field(e, "code").as_string().unwrap_or_default())
        .collect();
    assert_eq!(codes, vec!["TokenUnavailable"]);
    let message = field(&errors.values()[0], "message")
        .as_string()
        .unwrap_or_default();
    assert!(message.ends_with("auth server down"), "{message}");
    assert_eq!(calls(&state), 2.0, "asked again for the retry");
    client.close();
}

#[wasm_bindgen_test]
async fn a_static_token_connects_and_a_token_of_another_type_is_refused() {
    let client = with_token(FAST, &JsValue::from_str("static-token"));
    wait_for("open", 5_000, || status(&client) == "open").await;
    client.close();
    let options = options(FAST);
    js_sys::Reflect::set(&options, &"token".into(), &JsValue::from(5)).expect("set");
    let refused = Client::new(format!("ws://{SERVER}/ws").into(), Some(options)).err();
    let code = refused.map(|e| field(&e, "code").as_string().unwrap_or_default());
    assert_eq!(code.as_deref(), Some("InvalidOptions"));
}

#[wasm_bindgen_test]
async fn a_token_promise_settling_after_free_does_not_reach_the_freed_client() {
    let state: js_sys::Object = json(r#"{"calls":0}"#).unchecked_into();
    let client = with_token(FAST, &token_function(&state));
    // The token promise settles 10 ms later; the client is gone by then.
    drop(client);
    TimeoutFuture::new(50).await;
    assert_eq!(calls(&state), 1.0);
}

#[wasm_bindgen_test]
async fn a_frame_over_max_inbound_bytes_is_dropped_unread_and_the_connection_carries_on() {
    // Room for the `welcome` (about 200 bytes with its token and request window).
    let client = open_client(r#"{"maxInboundBytes":400}"#).await;
    let messages = Recorder::new(&client, "message");
    let errors = Recorder::new(&client, "error");
    // The server echoes it back as a frame of more than 400 bytes.
    client.send(JsValue::from("x".repeat(500))).expect("send");
    wait_for("the error", 5_000, || errors.len() == 1).await;
    let error = &errors.values()[0];
    assert_eq!(
        field(error, "code").as_string().as_deref(),
        Some("MalformedFrame")
    );
    let message = field(error, "message").as_string().unwrap_or_default();
    assert!(
        message.contains("exceeds maxInboundBytes (400)"),
        "{message}"
    );
    assert_eq!(
        field(&client.metrics(), "oversizedFrames").as_f64(),
        Some(1.0)
    );
    client.send(JsValue::from("small")).expect("send");
    wait_for("the small echo", 5_000, || messages.len() == 1).await;
    assert_eq!(messages.texts(), vec![r#""small""#.to_owned()]);
    assert_eq!(status(&client), "open");
    assert_eq!(
        field(&client.metrics(), "messagesReceived").as_f64(),
        Some(1.0)
    );
    client.close();
}
