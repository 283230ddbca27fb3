//! Requests over real sockets: every handler, errors, and de-duplication across reconnects.

mod common;

use common::*;
use resocket_server::Server;
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

/// The `welcome` payload of a fresh connection to `server`, resuming `resume` if given.
async fn raw_welcome(server: &Server, resume: Option<(&str, &str)>) -> (Ws, serde_json::Value) {
    let mut ws = connect(server).await;
    send(&mut ws, &hello(None, resume)).await;
    let welcome = expect_kind(&mut ws, "welcome").await;
    (ws, welcome["payload"].clone())
}

#[tokio::test]
async fn welcome_advertises_the_request_window() {
    let server = start(|_| {}).await;
    let (_ws, welcome) = raw_welcome(&server, None).await;
    // The default reply cache keeps 1,024, 256 may run, a connection's request bucket holds 200.
    assert_eq!(welcome["requestWindow"], 200, "{welcome}");
    server.shutdown().await.expect("clean shutdown");

    let server = start(|c| c.rate_limits = "off".parse().expect("valid spec")).await;
    let (_ws, welcome) = raw_welcome(&server, None).await;
    assert_eq!(welcome["requestWindow"], 256, "{welcome}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_full_window_resent_after_a_drop_runs_each_request_once() {
    let server = start(|c| c.rate_limits = "off".parse().expect("valid spec")).await;
    let (mut first, welcome) = raw_welcome(&server, None).await;
    let window = welcome["requestWindow"].as_u64().expect("a window");
    let resume = (
        welcome["session"].as_str().expect("session").to_owned(),
        welcome["token"].as_str().expect("token").to_owned(),
    );
    // Ids 1..=1000 answered (the cache keeps up to 1,024 and 4 MiB: plenty), then a full window
    // sent and the connection dropped before any of its replies is read.
    for id in 1..=1000 {
        request(&mut first, id, "count", json!({"key": "window"})).await;
        assert_eq!(next_json(&mut first).await["payload"], id);
    }
    for id in 1001..=1000 + window {
        request(&mut first, id, "count", json!({"key": "window"})).await;
    }
    // Let the server run them (each id still answers once however many it ran by the drop).
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(first);

    let (mut second, resumed) = raw_welcome(&server, Some((&resume.0, &resume.1))).await;
    assert_eq!(resumed["resumed"], true);
    for id in 1001..=1000 + window {
        request(&mut second, id, "count", json!({"key": "window"})).await;
        let reply = next_json(&mut second).await;
        assert_eq!(reply["id"], id);
        assert_eq!(reply["payload"], id, "ran once, in order: {reply}");
    }
    request(&mut second, 2000, "count", json!({"key": "window"})).await;
    assert_eq!(
        next_json(&mut second).await["payload"],
        1001 + window,
        "every count ran exactly once"
    );
    server.shutdown().await.expect("clean shutdown");
}

/// The reply caches of all sessions share one byte budget (memory engine; Redis bounds them per
/// session and by TTL): a client filling its own cache gives up its own oldest replies, and an
/// honest client's cached replies still answer its re-sent requests without running them again.
#[tokio::test]
async fn a_client_filling_its_reply_cache_past_the_shared_budget_loses_its_own_replies_first() {
    if engine_redis_url().is_some() {
        return;
    }
    let server = start(|c| c.state_limits.reply_cache_total_bytes = 400).await;
    let (mut honest, _) = handshake(&server, None, None).await;
    let (mut greedy, _) = handshake(&server, None, None).await;
    for id in 1..=2 {
        request(&mut honest, id, "count", json!({"key": "honest"})).await;
        assert_eq!(next_json(&mut honest).await["payload"], id);
    }
    // About 35 bytes a reply: 50 of them are four times the whole budget.
    for id in 1..=50 {
        request(&mut greedy, id, "count", json!({"key": "greedy"})).await;
        assert_eq!(next_json(&mut greedy).await["payload"], id);
    }
    for id in 1..=2 {
        request(&mut honest, id, "count", json!({"key": "honest"})).await;
        assert_eq!(
            next_json(&mut honest).await,
            json!({"kind":"res","id":id,"payload":id}),
            "answered from the cache"
        );
    }
    request(&mut honest, 3, "count", json!({"key": "honest"})).await;
    assert_eq!(next_json(&mut honest).await["payload"], 3, "ran once each");
    request(&mut greedy, 1, "count", json!({"key": "greedy"})).await;
    assert_eq!(next_json(&mut greedy).await["error"]["code"], "expired");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_id_evicted_from_the_byte_bounded_cache_expires_instead_of_running_again() {
    // Each `count` reply is `{"kind":"res","id":N,"payload":N}`, 33 bytes for one-digit ids:
    // 70 bytes hold two of them.
    let server = start(|c| c.dedup.reply_bytes = 70).await;
    let (mut ws, _) = handshake(&server, None, None).await;
    for id in 1..=4 {
        request(&mut ws, id, "count", json!({"key": "bytes"})).await;
        assert_eq!(next_json(&mut ws).await["payload"], id);
    }
    for id in [1, 2] {
        request(&mut ws, id, "count", json!({"key": "bytes"})).await;
        let reply = next_json(&mut ws).await;
        assert_eq!(reply["id"], id);
        assert_eq!(reply["error"]["code"], "expired", "{reply}");
    }
    // Still cached: answered, not run.
    request(&mut ws, 4, "count", json!({"key": "bytes"})).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"res","id":4,"payload":4})
    );
    // A new id runs: the expired ones did not run again.
    request(&mut ws, 5, "count", json!({"key": "bytes"})).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"res","id":5,"payload":5})
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_expired_publish_id_is_refused_and_not_published_again() {
    let server = start(|c| c.dedup.replies = 1).await;
    let (mut ws, _) = handshake(&server, Some("alice"), None).await;
    send(&mut ws, r#"{"kind":"join","id":1,"room":"chat:dedup"}"#).await;
    expect_kind(&mut ws, "joined").await;
    for id in [2, 3] {
        let publish = json!({"kind":"publish","id":id,"room":"chat:dedup","payload":{"n":id}});
        send(&mut ws, &publish.to_string()).await;
        expect_kind(&mut ws, "msg").await;
        assert_eq!(next_json(&mut ws).await["id"], id);
    }
    // 2 was evicted when 3 finished.
    let publish = json!({"kind":"publish","id":2,"room":"chat:dedup","payload":{"n":2}});
    send(&mut ws, &publish.to_string()).await;
    let refused = expect_kind(&mut ws, "error").await;
    assert_eq!(refused["id"], 2);
    assert_eq!(refused["error"]["code"], "expired", "{refused}");
    expect_quiet(&mut ws).await;
    server.shutdown().await.expect("clean shutdown");
}
