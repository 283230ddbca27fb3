//! Connection limits over real sockets: in total and per address, refused with 503 before the
//! upgrade; per user, a hello closed with 1013. A place comes back when its connection ends,
//! and other clients are served throughout.

mod common;

use common::*;
use futures_util::SinkExt;
use resocket_server::protocol::admission::ConnectionLimits;
use std::time::Duration;

async fn limited(limits: ConnectionLimits) -> resocket_server::Server {
    start(move |c| {
        c.feed_interval = Duration::ZERO;
        c.connection_limits = limits;
    })
    .await
}

/// The HTTP status of a WebSocket upgrade (101 when accepted).
async fn upgrade_status(addr: std::net::SocketAddr) -> u16 {
    match tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(err) => panic!("upgrade failed otherwise: {err}"),
    }
}

#[tokio::test]
async fn past_the_total_or_per_address_limit_upgrades_get_503_until_a_place_frees() {
    for limits in [
        ConnectionLimits {
            total: 2,
            per_ip: 0,
            per_user: 0,
        },
        ConnectionLimits {
            total: 0,
            per_ip: 2,
            per_user: 0,
        },
    ] {
        let server = limited(limits).await;
        let addr = server.local_addr();
        let (first, _) = welcomed(&server).await;
        let (mut second, _) = welcomed(&server).await;
        assert_eq!(upgrade_status(addr).await, 503, "{limits:?}");
        // The connections in place are served as before.
        sync(&mut second).await;
        close(first).await;
        wait_for_stat(addr, "connections", 1).await;
        let (mut third, _) = welcomed(&server).await;
        sync(&mut third).await;
        server.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn past_the_per_user_limit_a_hello_is_closed_with_1013() {
    let server = limited(ConnectionLimits {
        total: 0,
        per_ip: 0,
        per_user: 2,
    })
    .await;
    let addr = server.local_addr();
    let (first, _) = handshake(&server, Some("alice"), None).await;
    let (_second, _) = handshake(&server, Some("alice"), None).await;
    let mut third = connect(&server).await;
    send(&mut third, &hello(Some("alice"), None)).await;
    let (code, reason) = expect_close(&mut third).await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("at most 2"), "{reason}");
    // Another user is not affected, and alice gets a place back when one of hers ends.
    let (mut bob, _) = handshake(&server, Some("bob"), None).await;
    sync(&mut bob).await;
    close(first).await;
    wait_for_stat(addr, "connections", 2).await;
    let (mut again, _) = handshake(&server, Some("alice"), None).await;
    sync(&mut again).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_empty_bucket_refuses_rate_limited_and_sustained_abuse_is_closed_with_4429() {
    let server = start(|c| {
        c.feed_interval = Duration::ZERO;
        c.rate_limits = "publish=1/3".parse().expect("valid spec");
    })
    .await;
    let (mut honest, _) = handshake(&server, Some("honest"), None).await;
    let (mut flooder, _) = handshake(&server, Some("flooder"), None).await;
    for ws in [&mut honest, &mut flooder] {
        send(ws, r#"{"kind":"join","id":1,"room":"lobby"}"#).await;
        expect_kind(ws, "joined").await;
    }
    expect_kind(&mut honest, "presence").await;
    for n in 0..5 {
        let frame =
            serde_json::json!({"kind": "publish", "id": 10 + n, "room": "lobby", "payload": n});
        send(&mut flooder, &frame.to_string()).await;
    }
    // The burst of 3 goes through; the next two are refused with their ids.
    let mut acks = Vec::new();
    let mut refused = Vec::new();
    while acks.len() + refused.len() < 5 {
        let frame = next_json(&mut flooder).await;
        match frame["kind"].as_str() {
            Some("res") => acks.push(frame["id"].clone()),
            Some("error") => {
                assert_eq!(
                    (&frame["room"], &frame["error"]["code"]),
                    (
                        &serde_json::json!("lobby"),
                        &serde_json::json!("rate_limited")
                    ),
                    "{frame}"
                );
                refused.push(frame["id"].clone());
            }
            _ => {}
        }
    }
    assert_eq!(
        (acks.len(), refused.len()),
        (3, 2),
        "acks {acks:?}, refused {refused:?}"
    );
    for _ in 0..3 {
        assert_eq!(expect_kind(&mut honest, "msg").await["room"], "lobby");
    }
    // Keeping on sending into the empty bucket closes the connection; the honest client is
    // served throughout.
    for n in 0..200 {
        let frame = serde_json::json!({"kind": "publish", "room": "lobby", "payload": n});
        if flooder
            .send(tokio_tungstenite::tungstenite::Message::text(
                frame.to_string(),
            ))
            .await
            .is_err()
        {
            break;
        }
    }
    let closed = loop {
        match next_event(&mut flooder).await {
            Event::Close(close) => break close,
            Event::Text(_) => continue,
            other => panic!("expected the 4429 close, got {other:?}"),
        }
    };
    assert_eq!(closed.map(|(code, _)| code), Some(4429));
    // (A token may have come back meanwhile: a message or two can precede the pong.)
    send(&mut honest, r#"{"kind":"ping","id":5}"#).await;
    while next_json(&mut honest).await["kind"] != "pong" {}
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn rooms_documents_and_presence_metadata_per_connection_are_bounded() {
    let server = start(|c| {
        c.feed_interval = Duration::ZERO;
        c.budgets = resocket_server::protocol::budgets::Budgets {
            rooms_per_connection: 2,
            docs_per_connection: 1,
            meta_bytes: 32,
        };
    })
    .await;
    let (mut ws, _) = handshake(&server, Some("alice"), None).await;
    let join = |id: u64, room: &str, meta: serde_json::Value| {
        serde_json::json!({"kind": "join", "id": id, "room": room, "payload": {"meta": meta}})
            .to_string()
    };
    for (id, room) in [(1, "a"), (2, "b")] {
        send(&mut ws, &join(id, room, serde_json::json!({"n": 1}))).await;
        expect_kind(&mut ws, "joined").await;
    }
    send(&mut ws, &join(3, "c", serde_json::json!(null))).await;
    let refused = expect_kind(&mut ws, "error").await;
    assert_eq!(
        (&refused["id"], &refused["room"], &refused["error"]["code"]),
        (
            &serde_json::json!(3),
            &serde_json::json!("c"),
            &serde_json::json!("rate_limited")
        ),
        "{refused}"
    );
    send(&mut ws, r#"{"kind":"leave","id":4,"room":"a"}"#).await;
    expect_kind(&mut ws, "left").await;
    send(&mut ws, &join(5, "c", serde_json::json!(null))).await;
    expect_kind(&mut ws, "joined").await;
    // Metadata over 32 bytes, in a presence update or a join.
    let big = serde_json::json!({"status": "x".repeat(64)});
    send(
        &mut ws,
        &serde_json::json!({"kind": "presence", "id": 6, "room": "b", "payload": {"meta": big}})
            .to_string(),
    )
    .await;
    let refused = expect_kind(&mut ws, "error").await;
    assert_eq!(
        (&refused["id"], &refused["error"]["code"]),
        (&serde_json::json!(6), &serde_json::json!("too_large")),
        "{refused}"
    );
    // One document at most.
    for (id, doc) in [(7, "d1"), (8, "d2")] {
        send(
            &mut ws,
            &serde_json::json!({"kind": "sync", "id": id, "room": doc, "payload": {}}).to_string(),
        )
        .await;
    }
    expect_kind(&mut ws, "snapshot").await;
    let refused = expect_kind(&mut ws, "error").await;
    assert_eq!(
        (&refused["id"], &refused["error"]["code"]),
        (&serde_json::json!(8), &serde_json::json!("rate_limited")),
        "{refused}"
    );
    server.shutdown().await.expect("clean shutdown");
}
