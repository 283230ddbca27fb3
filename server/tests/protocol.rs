//! Protocol v1 over real sockets: handshake, echo, broadcast, heartbeat and error handling.

mod common;

use common::*;
use futures_util::SinkExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn hello_is_answered_with_welcome() {
    let server = start(|_| {}).await;
    let mut ws = connect(&server).await;
    send(&mut ws, HELLO).await;
    let welcome = json(&next_text(&mut ws).await);
    let token = welcome["payload"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(token.len() >= 16, "{welcome}");
    let origin = welcome["payload"]["origin"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(origin.starts_with("o-"), "{welcome}");
    // Session ids: `s-1`, `s-2`, ... in memory; random on the Redis engine (several nodes).
    let session = welcome["payload"]["session"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(session.starts_with("s-"), "{welcome}");
    // The de-duplication window with the default limits: the request bucket's burst.
    let window = welcome["payload"]["requestWindow"]
        .as_u64()
        .unwrap_or_default();
    assert!((1..=256).contains(&window), "{welcome}");
    assert_eq!(
        welcome,
        serde_json::json!({"kind":"welcome","payload":{"version":1,"session":session,"token":token,"resumed":false,"origin":origin,"requestWindow":window}})
    );
    let (_ws2, second) = welcomed(&server).await;
    assert!(second.starts_with("s-") && second != session, "{second}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn msg_is_echoed_to_the_sender_only() {
    let server = start(|_| {}).await;
    let (mut a, _) = welcomed(&server).await;
    let (mut b, _) = welcomed(&server).await;
    let payload = r#"{"text":"hi","n":[1, 2.50],"u":"\u00e9"}"#;
    send(
        &mut a,
        &format!(r#"{{"kind":"msg","id":5,"payload":{payload}}}"#),
    )
    .await;
    assert_eq!(
        next_text(&mut a).await,
        format!(r#"{{"kind":"msg","payload":{payload}}}"#)
    );
    // Had the msg reached b, it would be queued ahead of b's pong.
    send(&mut b, r#"{"kind":"ping","id":1}"#).await;
    assert_eq!(next_text(&mut b).await, r#"{"kind":"pong","id":1}"#);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn broadcast_reaches_every_open_connection_including_the_sender() {
    let server = start(|_| {}).await;
    let (mut a, _) = welcomed(&server).await;
    let (mut b, _) = welcomed(&server).await;
    let mut pending = connect(&server).await; // no hello yet: not open, so not a recipient
    send(&mut a, r#"{"kind":"broadcast","payload":{"x":1}}"#).await;
    for ws in [&mut a, &mut b] {
        assert_eq!(next_text(ws).await, r#"{"kind":"msg","payload":{"x":1}}"#);
    }
    send(&mut pending, HELLO).await;
    let first = json(&next_text(&mut pending).await);
    assert_eq!(first["kind"], "welcome");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn ping_gets_a_pong_with_the_same_id_and_pong_is_ignored() {
    let server = start(|_| {}).await;
    let (mut ws, _) = welcomed(&server).await;
    send(&mut ws, r#"{"kind":"pong","id":3}"#).await;
    send(&mut ws, r#"{"kind":"ping","id":9007199254740992}"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"{"kind":"pong","id":9007199254740992}"#
    );
    // Beyond 2^53 a JS client could not read the id back exactly: refused, not echoed.
    send(&mut ws, r#"{"kind":"ping","id":18446744073709551615}"#).await;
    let refused = next_text(&mut ws).await;
    assert!(refused.contains(r#""code":"bad_frame""#), "{refused}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_unsupported_version_closes_with_4001() {
    let server = start(|_| {}).await;
    let mut ws = connect(&server).await;
    send(&mut ws, r#"{"kind":"hello","payload":{"version":7}}"#).await;
    assert_eq!(
        expect_close(&mut ws).await,
        (
            4001,
            "unsupported protocol version 7; this server speaks 1".to_owned()
        )
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_first_frame_other_than_hello_closes_with_4000() {
    let server = start(|_| {}).await;
    for first in [
        Message::text(r#"{"kind":"msg","payload":1}"#),
        Message::text("not json"),
        Message::text(r#"{"kind":"hello"}"#),
        Message::binary(vec![1, 2, 3]),
    ] {
        let mut ws = connect(&server).await;
        ws.send(first.clone()).await.expect("send");
        let (code, reason) = expect_close(&mut ws).await;
        assert_eq!(code, 4000, "{first:?}: {reason}");
        assert!(reason.contains("hello"), "{first:?}: {reason}");
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_silent_client_is_closed_with_4002() {
    let server = start(|c| c.handshake_timeout = Duration::from_millis(200)).await;
    let mut ws = connect(&server).await;
    let started = std::time::Instant::now();
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!((code, reason.as_str()), (4002, "no hello within 200 ms"));
    assert!(started.elapsed() >= Duration::from_millis(150));
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn bad_frames_get_typed_errors_and_the_connection_keeps_working() {
    let server = start(|c| c.max_frame_bytes = 1024).await;
    let (mut ws, _) = welcomed(&server).await;

    send(&mut ws, "this is not json{").await;
    let err = json(&next_text(&mut ws).await);
    assert_eq!(
        (err["kind"].as_str(), err["error"]["code"].as_str()),
        (Some("error"), Some("bad_frame"))
    );

    send(&mut ws, r#"{"kind":"teleport","id":9}"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"{"kind":"error","id":9,"error":{"code":"unknown_kind","message":"unknown kind \"teleport\""}}"#
    );

    ws.send(Message::binary(vec![0u8; 10])).await.expect("send");
    let err = json(&next_text(&mut ws).await);
    assert_eq!(err["error"]["code"], "bad_frame");
    assert_eq!(err["error"]["message"], "binary frames are not supported");

    // Between the soft limit and the hard limit (4x): an error frame, not a close.
    let big = format!(r#"{{"kind":"msg","payload":"{}"}}"#, "x".repeat(3000));
    send(&mut ws, &big).await;
    let err = json(&next_text(&mut ws).await);
    assert_eq!(err["error"]["code"], "too_large", "{err}");

    send(
        &mut ws,
        r#"{"kind":"hello","id":4,"payload":{"version":1}}"#,
    )
    .await;
    let err = json(&next_text(&mut ws).await);
    assert_eq!(
        (err["id"].as_u64(), err["error"]["code"].as_str()),
        (Some(4), Some("unexpected"))
    );

    send(&mut ws, r#"{"kind":"msg","payload":"still here"}"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"{"kind":"msg","payload":"still here"}"#
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_frame_over_the_hard_limit_closes_with_1009_and_the_server_goes_on() {
    let server = start(|c| c.max_frame_bytes = 1024).await;
    let (mut ws, _) = welcomed(&server).await;
    let huge = format!(r#"{{"kind":"msg","payload":"{}"}}"#, "x".repeat(5000));
    send(&mut ws, &huge).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("4096"), "{reason}");

    let (mut again, _) = welcomed(&server).await;
    send(&mut again, r#"{"kind":"msg","payload":1}"#).await;
    assert_eq!(next_text(&mut again).await, r#"{"kind":"msg","payload":1}"#);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn any_origin_may_connect() {
    let server = start(|_| {}).await;
    let mut request = server.ws_url().into_client_request().expect("request");
    request.headers_mut().insert(
        "Origin",
        "http://127.0.0.1:9".parse().expect("header value"),
    );
    let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("in time")
        .expect("upgrade accepted");
    send(&mut ws, HELLO).await;
    assert_eq!(json(&next_text(&mut ws).await)["kind"], "welcome");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_peer_close_is_answered() {
    let server = start(|_| {}).await;
    let (ws, _) = welcomed(&server).await;
    close(ws).await;
    let stats = control_get(server.local_addr(), "/control/stats")
        .await
        .json();
    // The server unregisters the connection once the close handshake is done.
    let mut connections = stats["connections"].as_u64();
    for _ in 0..50 {
        if connections == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        connections = control_get(server.local_addr(), "/control/stats")
            .await
            .json()["connections"]
            .as_u64();
    }
    assert_eq!(connections, Some(0));
    server.shutdown().await.expect("clean shutdown");
}
