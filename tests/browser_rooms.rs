//! Browser tests of requests, sessions, rooms, presence and notifications: the real WASM client
//! in headless Chromium against the real test server (started by the test command).
#![cfg(target_arch = "wasm32")]

mod browser_support;

use browser_support::*;
use gloo_timers::future::TimeoutFuture;
use js_sys::Promise;
use resocket::{Client, Room};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn settle(promise: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}

fn code(error: &JsValue) -> String {
    field(error, "code").as_string().unwrap_or_default()
}

const FAST: &str =
    r#"{"reconnect":{"initialDelayMs":50,"maxDelayMs":200},"heartbeat":{"intervalMs":0}}"#;

#[wasm_bindgen_test]
async fn a_request_round_trips_and_server_errors_are_typed() {
    let client = open_client(FAST).await;
    let sum = settle(client.request("sum", json("[1,2,3.5]"), None))
        .await
        .expect("sum");
    assert_eq!(sum.as_f64(), Some(6.5));
    let echo = settle(client.request("echo", json(r#"{"a":[1,"b"]}"#), None))
        .await
        .expect("echo");
    assert_eq!(text(&echo), r#"{"a":[1,"b"]}"#);
    let missing = settle(client.request("nope", JsValue::UNDEFINED, None))
        .await
        .expect_err("not found");
    assert_eq!(code(&missing), "NotFound");
    let limited = settle(client.request(
        "fail",
        json(r#"{"code":"rate_limited","message":"slow down"}"#),
        None,
    ))
    .await
    .expect_err("fails");
    assert_eq!(code(&limited), "RateLimited");
    assert!(field(&limited, "message")
        .as_string()
        .unwrap_or_default()
        .contains("slow down"));
    let bad = settle(client.request("sum", json(r#""x""#), None))
        .await
        .expect_err("bad params");
    assert_eq!(code(&bad), "BadRequest");
    assert_eq!(
        field(&client.metrics(), "pendingRequests").as_f64(),
        Some(0.0)
    );
    client.close();
}

#[wasm_bindgen_test]
async fn a_request_times_out_and_frees_its_slot() {
    let client = open_client(FAST).await;
    let error = settle(client.request(
        "sleep",
        json(r#"{"ms":2000}"#),
        Some(options(r#"{"timeoutMs":150}"#)),
    ))
    .await
    .expect_err("times out");
    assert_eq!(code(&error), "Timeout");
    assert_eq!(
        field(&client.metrics(), "pendingRequests").as_f64(),
        Some(0.0)
    );
    client.close();
}

#[wasm_bindgen_test]
async fn an_abort_signal_cancels_a_request() {
    let client = open_client(FAST).await;
    let controller = web_sys::AbortController::new().expect("AbortController");
    let request_options = js_sys::Object::new();
    js_sys::Reflect::set(&request_options, &"signal".into(), &controller.signal()).unwrap();
    let promise = client.request("sleep", json(r#"{"ms":2000}"#), Some(request_options));
    TimeoutFuture::new(50).await;
    controller.abort();
    let error = settle(promise).await.expect_err("aborted");
    assert_eq!(code(&error), "Aborted");

    // Already aborted: rejects at once.
    let error = {
        let request_options = js_sys::Object::new();
        js_sys::Reflect::set(&request_options, &"signal".into(), &controller.signal()).unwrap();
        settle(client.request("echo", JsValue::from(1), Some(request_options))).await
    }
    .expect_err("aborted before sending");
    assert_eq!(code(&error), "Aborted");
    client.close();
}

#[wasm_bindgen_test]
async fn a_retry_request_survives_a_forced_drop_and_runs_once() {
    let client = client(FAST);
    let sessions = Recorder::new(&client, "session");
    wait_for("open", 5_000, || status(&client) == "open").await;
    assert_eq!(sessions.texts().len(), 1);
    assert_eq!(
        field(&sessions.values()[0], "resumed").as_bool(),
        Some(false)
    );
    let key = unique("count");
    // The server takes 400 ms to answer; the drop comes first, the client re-sends on the new
    // socket with the same id, and the server's de-duplication runs the handler once.
    let first = client.request(
        "count",
        json(&format!(r#"{{"key":"{key}","delay_ms":400}}"#)),
        Some(options(r#"{"onDisconnect":"retry"}"#)),
    );
    TimeoutFuture::new(100).await;
    server_control("/control/drop", Some("")).await;
    let value = settle(first).await.expect("retried request answered");
    assert_eq!(value.as_f64(), Some(1.0));
    let again = settle(client.request("count", json(&format!(r#"{{"key":"{key}"}}"#)), None))
        .await
        .expect("second count");
    assert_eq!(
        again.as_f64(),
        Some(2.0),
        "the first request ran exactly once"
    );
    let resumed = field(&sessions.values()[1], "resumed").as_bool();
    assert_eq!(resumed, Some(true), "the session was resumed");
    assert_eq!(field(&client.metrics(), "reconnects").as_f64(), Some(1.0));
    client.close();
}

#[wasm_bindgen_test]
async fn a_fail_request_rejects_when_the_connection_drops() {
    let client = open_client(FAST).await;
    let promise = client.request(
        "sleep",
        json(r#"{"ms":1000}"#),
        Some(options(r#"{"onDisconnect":"fail"}"#)),
    );
    TimeoutFuture::new(50).await;
    server_control("/control/drop", Some("")).await;
    let error = settle(promise).await.expect_err("disconnected");
    assert_eq!(code(&error), "Disconnected");
    client.close();
}

#[wasm_bindgen_test]
async fn two_clients_join_publish_and_see_each_others_presence() {
    let room = unique("room");
    let alice = open_client(r#"{"user":"alice","heartbeat":{"intervalMs":0}}"#).await;
    let bob = open_client(r#"{"user":"bob","heartbeat":{"intervalMs":0}}"#).await;
    let (alice_messages, alice_handler) = Recorder::handler();
    let alice_room = alice
        .join(
            room.clone(),
            Some(alice_handler),
            Some(options(r#"{"meta":{"name":"Alice"}}"#)),
        )
        .expect("join");
    let alice_presence = Recorder::with(|f| alice_room.on("presence", f));
    wait_for("alice joined", 3_000, || {
        field(&alice_room.state(), "status").as_string().as_deref() == Some("joined")
    })
    .await;

    let (bob_messages, bob_handler) = Recorder::handler();
    let bob_room = bob
        .join(room.clone(), Some(bob_handler), None)
        .expect("join");
    wait_for("bob joined", 3_000, || {
        field(&bob_room.state(), "status").as_string().as_deref() == Some("joined")
    })
    .await;
    assert_eq!(bob_room.members().length(), 2);
    wait_for("alice sees bob join", 3_000, || alice_presence.len() == 1).await;
    let joined = &alice_presence.values()[0];
    assert_eq!(field(joined, "event").as_string().as_deref(), Some("join"));
    assert_eq!(
        field(&field(joined, "member"), "user")
            .as_string()
            .as_deref(),
        Some("bob")
    );
    assert_eq!(alice_room.members().length(), 2);

    let hi = settle(alice_room.publish(json(r#"{"text":"hi"}"#)))
        .await
        .expect("acknowledged");
    assert_eq!(hi.as_f64(), Some(1.0), "resolves with the message's seq");
    let hello = settle(bob_room.publish(json(r#"{"text":"hello"}"#)))
        .await
        .expect("acknowledged");
    assert_eq!(hello.as_f64(), Some(2.0));
    wait_for("both messages at both", 3_000, || {
        alice_messages.len() == 2 && bob_messages.len() == 2
    })
    .await;
    assert_eq!(alice_messages.texts(), bob_messages.texts());
    assert_eq!(alice_messages.seqs(), vec![1, 2]);
    assert_eq!(bob_messages.seqs(), vec![1, 2]);

    bob_room
        .set_presence(json(r#"{"typing":true}"#))
        .expect("presence");
    // Bob's own entry shows his new metadata at once; the server tells only Alice.
    let typing = |room: &Room| {
        room.members()
            .iter()
            .filter(|m| field(&field(m, "meta"), "typing").as_bool() == Some(true))
            .count()
    };
    assert_eq!(typing(&bob_room), 1);
    wait_for("update", 3_000, || alice_presence.len() == 2).await;
    assert_eq!(typing(&alice_room), 1);
    assert_eq!(
        field(&alice_presence.values()[1], "event")
            .as_string()
            .as_deref(),
        Some("update")
    );
    bob_room.leave();
    wait_for("leave", 3_000, || alice_presence.len() == 3).await;
    assert_eq!(
        field(&alice_presence.values()[2], "event")
            .as_string()
            .as_deref(),
        Some("leave")
    );
    assert_eq!(alice_room.members().length(), 1);
    assert_eq!(
        field(&bob_room.state(), "status").as_string().as_deref(),
        Some("left")
    );
    alice.close();
    bob.close();
}

#[wasm_bindgen_test]
async fn joins_are_reference_counted() {
    let room = unique("refs");
    let observer = open_client(r#"{"heartbeat":{"intervalMs":0}}"#).await;
    let watch = observer.join(room.clone(), None, None).expect("join");
    let presence = Recorder::with(|f| watch.on("presence", f));
    let client = open_client(r#"{"heartbeat":{"intervalMs":0}}"#).await;
    // StrictMode mounts twice: two handles, one server join.
    let first = client.join(room.clone(), None, None).expect("join");
    let second = client.join(room.clone(), None, None).expect("join");
    wait_for("joined", 3_000, || {
        field(&second.state(), "status").as_string().as_deref() == Some("joined")
    })
    .await;
    wait_for("one presence join", 3_000, || presence.len() >= 1).await;
    TimeoutFuture::new(200).await;
    assert_eq!(presence.len(), 1, "one server join: {:?}", presence.texts());
    first.leave();
    first.leave(); // idempotent
    TimeoutFuture::new(200).await;
    assert_eq!(presence.len(), 1, "still joined through the second handle");
    second.leave();
    wait_for("presence leave", 3_000, || presence.len() == 2).await;
    observer.close();
    client.close();
}

async fn publish_over_http(room: &str, n: u64) {
    server_control(
        &format!("/control/publish?room={room}"),
        Some(&format!(r#"{{"n":{n}}}"#)),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_subscriber_gets_every_message_once_in_order_across_a_drop() {
    let room = unique("feed");
    let client = open_client(FAST).await;
    let (messages, handler) = Recorder::handler();
    let handle = client
        .join(room.clone(), Some(handler), None)
        .expect("join");
    let states = Recorder::with(|f| handle.on("state", f));
    wait_for("joined", 3_000, || {
        field(&handle.state(), "status").as_string().as_deref() == Some("joined")
    })
    .await;
    for n in 1..=40 {
        publish_over_http(&room, n).await;
        if n == 15 {
            server_control("/control/drop?outage_ms=300", Some("")).await;
        }
    }
    wait_for("all 40", 10_000, || messages.len() >= 40).await;
    TimeoutFuture::new(200).await;
    let expected: Vec<String> = (1..=40).map(|n| format!(r#"{{"n":{n}}}"#)).collect();
    assert_eq!(messages.texts(), expected, "every message once, in order");
    assert_eq!(messages.seqs(), (1..=40).collect::<Vec<u64>>());
    let statuses: Vec<String> = states.values().iter().map(text).collect();
    assert!(
        statuses.contains(&r#"{"status":"rejoining"}"#.to_owned()),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.last().map(String::as_str),
        Some(r#"{"status":"joined","recovered":true}"#)
    );
    client.close();
}

#[wasm_bindgen_test]
async fn history_overflow_reports_recovered_false() {
    let room = unique("overflow");
    let client = open_client(FAST).await;
    let (messages, handler) = Recorder::handler();
    let handle = client
        .join(room.clone(), Some(handler), None)
        .expect("join");
    wait_for("joined", 3_000, || {
        field(&handle.state(), "status").as_string().as_deref() == Some("joined")
    })
    .await;
    publish_over_http(&room, 0).await;
    wait_for("first", 3_000, || messages.len() == 1).await;
    server_control("/control/drop?outage_ms=4000", Some("")).await;
    // More than the server's history (100) while the client cannot reconnect.
    for n in 1..=120 {
        publish_over_http(&room, n).await;
    }
    wait_for("rejoined", 15_000, || {
        field(&handle.state(), "status").as_string().as_deref() == Some("joined")
    })
    .await;
    assert_eq!(
        text(&handle.state()),
        r#"{"status":"joined","recovered":false}"#
    );
    publish_over_http(&room, 121).await;
    wait_for("the next live message", 3_000, || messages.len() == 2).await;
    assert_eq!(messages.seqs(), vec![1, 122]);
    client.close();
}

#[wasm_bindgen_test]
async fn publishes_in_flight_across_a_forced_drop_resolve_once_and_reach_members_once() {
    let room = unique("acked");
    let alice = open_client(&format!(r#"{{"user":"alice",{}"#, &FAST[1..])).await;
    let bob = open_client(&format!(r#"{{"user":"bob",{}"#, &FAST[1..])).await;
    let alice_room = alice.join(room.clone(), None, None).expect("join");
    let (bob_messages, bob_handler) = Recorder::handler();
    let bob_room = bob
        .join(room.clone(), Some(bob_handler), None)
        .expect("join");
    let joined = |r: &Room| field(&r.state(), "status").as_string().as_deref() == Some("joined");
    wait_for("both joined", 3_000, || {
        joined(&alice_room) && joined(&bob_room)
    })
    .await;

    // One publish goes out just before the drop (its acknowledgement may be lost with the
    // socket), one right after (it may be lost on the dying socket, or queued): each is re-sent
    // after the reconnect as needed and takes effect once.
    let before = alice_room.publish(json(r#"{"text":"before"}"#));
    server_control("/control/drop?outage_ms=200", Some("")).await;
    let after = alice_room.publish(json(r#"{"text":"after"}"#));
    let before = settle(before).await.expect("acknowledged").as_f64();
    let after = settle(after).await.expect("acknowledged").as_f64();
    assert_eq!(
        (before, after),
        (Some(1.0), Some(2.0)),
        "one seq each, in order"
    );
    wait_for("bob got both", 5_000, || bob_messages.len() == 2).await;
    assert_eq!(
        bob_messages.texts(),
        vec![r#"{"text":"before"}"#, r#"{"text":"after"}"#]
    );
    // Nothing else was appended: the room's next message is the third.
    let third = settle(alice_room.publish(json(r#"{"text":"third"}"#)))
        .await
        .expect("acknowledged");
    assert_eq!(third.as_f64(), Some(3.0));
    wait_for("bob got the third", 3_000, || bob_messages.len() == 3).await;
    assert_eq!(bob_messages.len(), 3, "each message once");
    assert_eq!(
        field(&alice.metrics(), "pendingRequests").as_f64(),
        Some(0.0)
    );
    alice.close();
    bob.close();
}

#[wasm_bindgen_test]
async fn a_refused_publish_rejects_with_the_typed_error() {
    let client = open_client(FAST).await;
    let prices = client.join("prices".into(), None, None).expect("join");
    wait_for("joined", 3_000, || {
        field(&prices.state(), "status").as_string().as_deref() == Some("joined")
    })
    .await;
    let error = settle(prices.publish(json(r#"{"fake":"tick"}"#)))
        .await
        .expect_err("refused");
    assert_eq!(code(&error), "Forbidden");
    assert_eq!(
        field(&client.metrics(), "pendingRequests").as_f64(),
        Some(0.0)
    );
    client.close();
}

#[wasm_bindgen_test]
async fn a_private_room_refuses_other_users() {
    let client = open_client(r#"{"user":"mallory","heartbeat":{"intervalMs":0}}"#).await;
    let handle = client
        .join("private:alice".into(), None, None)
        .expect("join call");
    wait_for("refused", 3_000, || {
        field(&handle.state(), "status").as_string().as_deref() == Some("error")
    })
    .await;
    assert_eq!(
        field(&handle.state(), "code").as_string().as_deref(),
        Some("forbidden")
    );
    client.close();
}

#[wasm_bindgen_test]
async fn notifications_reach_the_addressed_user_only_and_broadcasts_everyone() {
    let carol = open_client(r#"{"user":"carol","heartbeat":{"intervalMs":0}}"#).await;
    let dave = open_client(r#"{"user":"dave","heartbeat":{"intervalMs":0}}"#).await;
    let carol_notes = Recorder::new(&carol, "notification");
    let dave_notes = Recorder::new(&dave, "notification");
    server_control(
        "/control/notify?user=carol",
        Some(r#"{"title":"order filled"}"#),
    )
    .await;
    wait_for("carol notified", 3_000, || carol_notes.len() == 1).await;
    server_control("/control/notify", Some(r#"{"title":"maintenance"}"#)).await;
    wait_for("everyone notified", 3_000, || {
        carol_notes.len() == 2 && dave_notes.len() == 1
    })
    .await;
    assert_eq!(dave_notes.texts(), vec![r#"{"title":"maintenance"}"#]);
    carol.close();
    dave.close();
}

#[wasm_bindgen_test]
async fn message_type_handlers_see_plain_and_room_messages() {
    let client = open_client(FAST).await;
    let ticks = Recorder::with(|f| client.on_message("tick", f));
    let room = unique("typed");
    let handle = client.join(room.clone(), None, None).expect("join");
    wait_for("joined", 3_000, || {
        field(&handle.state(), "status").as_string().as_deref() == Some("joined")
    })
    .await;
    client.send(json(r#"{"type":"tick","n":1}"#)).expect("send");
    client
        .send(json(r#"{"type":"other","n":2}"#))
        .expect("send");
    settle(handle.publish(json(r#"{"type":"tick","n":3}"#)))
        .await
        .expect("acknowledged");
    wait_for("two ticks", 3_000, || ticks.len() == 2).await;
    assert_eq!(
        ticks.texts(),
        vec![r#"{"type":"tick","n":1}"#, r#"{"type":"tick","n":3}"#]
    );
    client.close();
}

#[wasm_bindgen_test]
async fn freeing_the_client_rejects_pending_requests() {
    let client: Client = open_client(FAST).await;
    let promise = client.request("sleep", json(r#"{"ms":2000}"#), None);
    drop(client); // what `free()` does from JS
    let error = settle(promise).await.expect_err("rejected");
    assert_eq!(code(&error), "Closed");
}

#[wasm_bindgen_test]
async fn unserialisable_params_and_bad_signals_reject_and_the_client_keeps_working() {
    let client = open_client(FAST).await;
    let bigint: JsValue = js_sys::BigInt::from(1u32).into();
    let error = settle(client.request("echo", bigint.clone(), None))
        .await
        .expect_err("BigInt");
    assert_eq!(
        field(&error, "name").as_string().as_deref(),
        Some("TypeError")
    );
    assert!(
        client.send(bigint).is_err(),
        "send throws the TypeError too"
    );
    let error = settle(client.request("echo", JsValue::from(1), Some(options(r#"{"signal":{}}"#))))
        .await
        .expect_err("not an AbortSignal");
    assert_eq!(code(&error), "InvalidOptions");
    let value = settle(client.request("echo", JsValue::from(7), None))
        .await
        .expect("still works");
    assert_eq!(value.as_f64(), Some(7.0));
    assert_eq!(
        field(&client.metrics(), "pendingRequests").as_f64(),
        Some(0.0)
    );
    client.close();
}
