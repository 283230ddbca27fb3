//! Requests over real sockets: every handler, errors, and de-duplication across reconnects.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn every_method_answers_with_a_res_of_the_same_id() {
    let server = start(|_| {}).await;
    let (mut ws, _) = handshake(&server, None, None).await;
    let cases = [
        (
            "echo",
            json!({"a": [1, "x"]}),
            json!({"kind":"res","id":1,"payload":{"a":[1,"x"]}}),
        ),
        (
            "sum",
            json!([1, 2, 3]),
            json!({"kind":"res","id":2,"payload":6}),
        ),
        (
            "sum",
            json!([0.5, 2]),
            json!({"kind":"res","id":3,"payload":2.5}),
        ),
        (
            "count",
            json!({"key": "k"}),
            json!({"kind":"res","id":4,"payload":1}),
        ),
        (
            "count",
            json!({"key": "k"}),
            json!({"kind":"res","id":5,"payload":2}),
        ),
        (
            "sleep",
            json!({"ms": 10}),
            json!({"kind":"res","id":6,"payload":{"slept":10}}),
        ),
        (
            "fail",
            json!({"code": "internal", "message": "boom"}),
            json!({"kind":"res","id":7,"error":{"code":"internal","message":"boom"}}),
        ),
        (
            "fail",
            json!({"code": "forbidden", "message": "nope"}),
            json!({"kind":"res","id":8,"error":{"code":"forbidden","message":"nope"}}),
        ),
    ];
    for (id, (method, params, expected)) in (1..).zip(cases) {
        request(&mut ws, id, method, params).await;
        assert_eq!(next_json(&mut ws).await, expected, "{method}");
    }
    // The echoed params are relayed byte for byte.
    send(
        &mut ws,
        r#"{"kind":"req","id":9,"payload":{"method":"echo","params":{"b": [1, 2.50]}}}"#,
    )
    .await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"{"kind":"res","id":9,"payload":{"b": [1, 2.50]}}"#
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn bad_requests_get_typed_errors_and_the_connection_goes_on() {
    let server = start(|_| {}).await;
    let (mut ws, _) = handshake(&server, None, None).await;
    let failing = [
        ("nope", json!(null), "not_found"),
        ("sum", json!(["1"]), "bad_request"),
        ("sum", json!(null), "bad_request"),
        ("sleep", json!({"ms": 60001}), "bad_request"),
        ("sleep", json!({"ms": "x"}), "bad_request"),
        ("fail", json!({}), "bad_request"),
        ("count", json!({"key": 5}), "bad_request"),
    ];
    for (id, (method, params, code)) in (1..).zip(failing) {
        request(&mut ws, id, method, params).await;
        let res = expect_kind(&mut ws, "res").await;
        assert_eq!(
            (res["id"].as_u64(), &res["error"]["code"]),
            (Some(id), &json!(code)),
            "{res}"
        );
        assert!(res.get("payload").is_none(), "{res}");
    }
    // Frames that are not requests at all: `error` frames, with the id when there is one.
    send(&mut ws, r#"{"kind":"req","payload":{"method":"echo"}}"#).await;
    let err = expect_kind(&mut ws, "error").await;
    assert_eq!(
        (err.get("id"), &err["error"]["code"]),
        (None, &json!("bad_request"))
    );
    send(&mut ws, r#"{"kind":"req","id":20}"#).await;
    let err = expect_kind(&mut ws, "error").await;
    assert_eq!(
        (&err["id"], &err["error"]["code"]),
        (&json!(20), &json!("bad_request"))
    );
    send(&mut ws, r#"{"kind":"req","id":21,"payload":{"params":1}}"#).await;
    let err = expect_kind(&mut ws, "error").await;
    assert_eq!(
        (&err["id"], &err["error"]["code"]),
        (&json!(21), &json!("bad_request"))
    );

    request(&mut ws, 22, "sum", json!([2, 2])).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"res","id":22,"payload":4})
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn sleep_does_not_block_the_connection() {
    let server = start(|_| {}).await;
    let (mut ws, _) = handshake(&server, None, None).await;
    request(&mut ws, 1, "sleep", json!({"ms": 300})).await;
    request(&mut ws, 2, "sleep", json!({"ms": 50})).await;
    send(&mut ws, r#"{"kind":"ping","id":3}"#).await;
    assert_eq!(next_text(&mut ws).await, r#"{"kind":"pong","id":3}"#);
    assert_eq!(next_json(&mut ws).await["id"], 2);
    assert_eq!(next_json(&mut ws).await["id"], 1);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_repeated_id_runs_once_and_is_answered_from_the_cache() {
    let server = start(|_| {}).await;
    let (mut ws, _) = handshake(&server, None, None).await;
    request(&mut ws, 1, "count", json!({"key": "same"})).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"res","id":1,"payload":1})
    );
    // Same id, even with other params: the cached reply, not a second run.
    request(&mut ws, 1, "count", json!({"key": "other"})).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"res","id":1,"payload":1})
    );
    request(&mut ws, 2, "count", json!({"key": "same"})).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"res","id":2,"payload":2})
    );

    // A duplicate of a running request gets no second reply.
    request(&mut ws, 3, "sleep", json!({"ms": 100})).await;
    request(&mut ws, 3, "sleep", json!({"ms": 100})).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"res","id":3,"payload":{"slept":100}})
    );
    expect_quiet(&mut ws).await;

    // Ids are per session: another session runs its own id 1.
    let (mut other, _) = handshake(&server, None, None).await;
    request(&mut other, 1, "count", json!({"key": "same"})).await;
    assert_eq!(
        next_json(&mut other).await,
        json!({"kind":"res","id":1,"payload":3})
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_request_resent_after_a_reconnect_is_not_run_twice() {
    let server = start(|_| {}).await;
    let (mut first, welcome) = handshake(&server, Some("alice"), None).await;
    request(&mut first, 5, "count", json!({"key": "k"})).await;
    // The connection dies before the client reads the reply.
    drop(first);

    let (mut second, resumed) = handshake(&server, Some("alice"), welcome.resume()).await;
    assert!(resumed.resumed);
    request(&mut second, 5, "count", json!({"key": "k"})).await;
    assert_eq!(
        next_json(&mut second).await,
        json!({"kind":"res","id":5,"payload":1})
    );
    request(&mut second, 6, "count", json!({"key": "k"})).await;
    assert_eq!(
        next_json(&mut second).await,
        json!({"kind":"res","id":6,"payload":2}),
        "the first count ran exactly once"
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_running_request_resent_on_the_resumed_connection_gets_one_reply_there() {
    let server = start(|_| {}).await;
    let (mut first, welcome) = handshake(&server, None, None).await;
    let sent = Instant::now();
    request(&mut first, 1, "sleep", json!({"ms": 1500})).await;
    // Let the server start it, then lose the connection.
    sync(&mut first).await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(600)).await;

    let (mut second, resumed) = handshake(&server, None, welcome.resume()).await;
    assert!(resumed.resumed);
    request(&mut second, 1, "sleep", json!({"ms": 1500})).await;
    assert_eq!(
        next_json(&mut second).await,
        json!({"kind":"res","id":1,"payload":{"slept":1500}})
    );
    // A second run would have finished 1.5 s after the re-send, 2.1 s or more after the first.
    assert!(
        sent.elapsed() < Duration::from_millis(2050),
        "{:?}",
        sent.elapsed()
    );
    expect_quiet(&mut second).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_reply_finished_while_disconnected_waits_in_the_cache() {
    let server = start(|_| {}).await;
    let (mut first, welcome) = handshake(&server, None, None).await;
    request(&mut first, 9, "sleep", json!({"ms": 200})).await;
    sync(&mut first).await;
    close(first).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // finishes with no connection

    let (mut second, _) = handshake(&server, None, welcome.resume()).await;
    expect_quiet(&mut second).await; // not pushed on resume
    request(&mut second, 9, "sleep", json!({"ms": 200})).await;
    assert_eq!(
        next_json(&mut second).await,
        json!({"kind":"res","id":9,"payload":{"slept":200}})
    );
    server.shutdown().await.expect("clean shutdown");
}
