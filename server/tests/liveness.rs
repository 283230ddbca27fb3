//! Liveness over real sockets: the server pings a quiet peer and closes one that stays silent
//! (its session detaches, its presence leaves), keeps an honest peer that answers, and gives up
//! on a peer that stopped reading instead of holding its writes forever.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

async fn lively_server(ping_ms: u64, idle_ms: u64, write_ms: u64) -> resocket_server::Server {
    start(move |c| {
        c.feed_interval = Duration::ZERO;
        c.ping_interval = Duration::from_millis(ping_ms);
        c.idle_timeout = Duration::from_millis(idle_ms);
        c.write_timeout = Duration::from_millis(write_ms);
    })
    .await
}

async fn join(ws: &mut Ws, room: &str) {
    send(
        ws,
        &json!({"kind": "join", "id": 1, "room": room}).to_string(),
    )
    .await;
    expect_kind(ws, "joined").await;
}

#[tokio::test]
async fn a_silent_peer_is_closed_and_leaves_while_an_answering_one_stays() {
    let server = lively_server(100, 400, 5_000).await;
    let (mut bob, _) = handshake(&server, Some("bob"), None).await;
    join(&mut bob, "lobby").await;
    let (mut alice, _) = handshake(&server, Some("alice"), None).await;
    join(&mut alice, "lobby").await;
    let seen = expect_kind(&mut bob, "presence").await;
    assert_eq!(seen["payload"]["event"], "join");

    // Alice is not read from from now on, so her pings go unanswered; Bob reads (and so
    // answers his pings) and sends nothing.
    let started = Instant::now();
    let left = match next_event_within(&mut bob, Duration::from_secs(3)).await {
        Some(Event::Text(text)) => json(&text),
        other => panic!("bob should hear alice leave, got {other:?}"),
    };
    assert_eq!(
        (
            &left["kind"],
            &left["payload"]["event"],
            &left["payload"]["member"]["user"]
        ),
        (&json!("presence"), &json!("leave"), &json!("alice")),
        "{left}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "closed too early: {waited:?}"
    );
    let (code, reason) = expect_close(&mut alice).await;
    assert_eq!(
        (code, reason.as_str()),
        (4003, resocket_server::IDLE_REASON)
    );

    // Bob, quiet but answering pings, is still served well past the idle timeout.
    assert!(next_event_within(&mut bob, Duration::from_millis(1_200))
        .await
        .is_none());
    sync(&mut bob).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_given_up_while_others_are_served() {
    let server = lively_server(0, 0, 300).await;
    let addr = server.local_addr();
    let (_stalled, _) = handshake(&server, Some("stalled"), None).await;
    let (mut honest, _) = handshake(&server, Some("honest"), None).await;
    wait_for_stat(addr, "connections", 2).await;
    // Far more than the socket buffers hold, to a peer that reads nothing.
    let response = control_post(addr, "/control/flood?count=400&pad=65536", "").await;
    assert_eq!(response.status, 200, "{}", response.body);
    let started = Instant::now();
    loop {
        // The honest peer keeps getting its pings answered throughout.
        let frame = loop {
            send(&mut honest, r#"{"kind":"ping","id":9}"#).await;
            let frame = next_json(&mut honest).await;
            if frame["kind"] == "pong" {
                break frame;
            }
        };
        assert_eq!(frame["id"], 9);
        let stats = control_get(addr, "/control/stats").await.json();
        if stats["connections"] == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the stalled peer is still held: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await.expect("clean shutdown");
}
