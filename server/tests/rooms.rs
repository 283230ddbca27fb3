//! Rooms over real sockets: join, publish, history replay, private rooms, presence, the control
//! publish endpoint and the price feed.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// A server without the price feed, so room counts are exact.
async fn quiet_server(history: usize) -> resocket_server::Server {
    start(move |c| {
        c.history = history;
        c.feed_interval = Duration::ZERO;
    })
    .await
}

async fn join(ws: &mut Ws, id: u64, room: &str, payload: Value) -> Value {
    let frame = json!({"kind": "join", "id": id, "room": room, "payload": payload});
    send(ws, &frame.to_string()).await;
    expect_kind(ws, "joined").await
}

async fn publish(ws: &mut Ws, room: &str, payload: Value) {
    let frame = json!({"kind": "publish", "room": room, "payload": payload});
    send(ws, &frame.to_string()).await;
}

fn msg(room: &str, seq: u64, payload: Value) -> Value {
    json!({"kind": "msg", "room": room, "seq": seq, "payload": payload})
}

fn presence(room: &str, event: &str, member: Value) -> Value {
    json!({"kind": "presence", "room": room, "payload": {"event": event, "member": member}})
}

#[tokio::test]
async fn joined_lists_the_members_and_the_others_see_a_presence_join() {
    let server = quiet_server(100).await;
    let (mut alice, a) = handshake(&server, Some("alice"), None).await;
    let (mut bob, b) = handshake(&server, Some("bob"), None).await;

    let joined = join(&mut alice, 3, "chat", json!({"meta": {"name": "Alice"}})).await;
    let alice_member = json!({"id": a.session, "user": "alice", "meta": {"name": "Alice"}});
    let epoch = joined["payload"]["epoch"].as_str().expect("an epoch");
    assert_eq!(
        joined,
        json!({"kind":"joined","id":3,"room":"chat","seq":0,
               "payload":{"recovered":true,"epoch":epoch,"members":[alice_member]}})
    );
    let joined = join(&mut bob, 1, "chat", json!(null)).await;
    assert_eq!(joined["payload"]["epoch"], epoch, "one stream, one epoch");
    let bob_member = json!({"id": b.session, "user": "bob"});
    assert_eq!(
        joined["payload"]["members"],
        json!([alice_member, bob_member])
    );
    assert_eq!(
        next_json(&mut alice).await,
        presence("chat", "join", bob_member)
    );
    expect_quiet(&mut bob).await; // no presence about itself
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn publish_numbers_messages_and_reaches_every_member_including_the_publisher() {
    let server = quiet_server(100).await;
    let (mut a, _) = handshake(&server, None, None).await;
    let (mut b, _) = handshake(&server, None, None).await;
    let (mut outsider, _) = handshake(&server, None, None).await;
    join(&mut a, 1, "chat", json!({})).await;
    join(&mut b, 1, "chat", json!({})).await;
    expect_kind(&mut a, "presence").await;
    for n in 1..=3 {
        publish(&mut a, "chat", json!({"n": n})).await;
    }
    for seq in 1..=3 {
        assert_eq!(next_json(&mut a).await, msg("chat", seq, json!({"n": seq})));
    }
    publish(&mut b, "chat", json!({"n": 4})).await;
    for seq in 1..=4 {
        assert_eq!(next_json(&mut b).await, msg("chat", seq, json!({"n": seq})));
    }
    assert_eq!(next_json(&mut a).await, msg("chat", 4, json!({"n": 4})));
    expect_quiet(&mut outsider).await;
    // The payload is relayed byte for byte.
    send(
        &mut a,
        r#"{"kind":"publish","room":"chat","payload":{"x": 1.50}}"#,
    )
    .await;
    assert_eq!(
        next_text(&mut a).await,
        r#"{"kind":"msg","room":"chat","seq":5,"payload":{"x": 1.50}}"#
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_rejoin_with_since_replays_what_was_missed() {
    let server = quiet_server(100).await;
    let addr = server.local_addr();
    let (mut a, welcome) = handshake(&server, None, None).await;
    let joined = join(&mut a, 1, "news", json!({})).await;
    let epoch = joined["payload"]["epoch"].clone();
    for n in 1..=2 {
        publish(&mut a, "news", json!(n)).await;
        assert_eq!(next_json(&mut a).await, msg("news", n, json!(n)));
    }
    drop(a);
    wait_for_stat(addr, "rooms", 0).await;
    for n in 3..=5 {
        let reply = control_post(addr, "/control/publish?room=news", &n.to_string()).await;
        assert_eq!(reply.json(), json!({"seq": n, "members": 0}));
    }

    let (mut a, _) = handshake(&server, None, welcome.resume()).await;
    let joined = join(&mut a, 2, "news", json!({"since": 2, "epoch": epoch})).await;
    assert_eq!(
        (&joined["seq"], &joined["payload"]["recovered"]),
        (&json!(5), &json!(true))
    );
    for n in 3..=5 {
        assert_eq!(next_json(&mut a).await, msg("news", n, json!(n)));
    }
    expect_quiet(&mut a).await;

    // Joining again is idempotent: another joined, a replay per since, no duplicate member.
    let joined = join(&mut a, 3, "news", json!({"since": 4, "epoch": epoch})).await;
    assert_eq!(
        joined["payload"]["members"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(next_json(&mut a).await, msg("news", 5, json!(5)));
    let joined = join(&mut a, 4, "news", json!({"since": 5, "epoch": epoch})).await;
    assert_eq!(joined["payload"]["recovered"], true);
    expect_quiet(&mut a).await;
    // Ahead of the stream (a position it never reached) is never up to date.
    let joined = join(&mut a, 5, "news", json!({"since": 500, "epoch": epoch})).await;
    assert_eq!(joined["payload"]["recovered"], false);
    expect_quiet(&mut a).await;
    // Without an epoch (an old client) `since` may count in another stream: not recovered.
    let joined = join(&mut a, 6, "news", json!({"since": 4})).await;
    assert_eq!(joined["payload"]["recovered"], false);
    expect_quiet(&mut a).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_gap_beyond_the_history_is_not_recovered_and_nothing_is_replayed() {
    let server = quiet_server(3).await;
    let addr = server.local_addr();
    for n in 1..=6 {
        control_post(addr, "/control/publish?room=r", &n.to_string()).await;
    }
    let (mut ws, _) = handshake(&server, None, None).await;
    let epoch = join(&mut ws, 9, "r", json!({})).await["payload"]["epoch"].clone();
    let joined = join(&mut ws, 1, "r", json!({"since": 1, "epoch": epoch})).await;
    assert_eq!(
        (&joined["seq"], &joined["payload"]["recovered"]),
        (&json!(6), &json!(false))
    );
    expect_quiet(&mut ws).await;
    // Exactly at the edge of the history: recovered.
    let joined = join(&mut ws, 2, "r", json!({"since": 3, "epoch": epoch})).await;
    assert_eq!(joined["payload"]["recovered"], true);
    for n in 4..=6 {
        assert_eq!(next_json(&mut ws).await, msg("r", n, json!(n)));
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn private_rooms_admit_only_their_user() {
    let server = quiet_server(100).await;
    let (mut bob, _) = handshake(&server, Some("bob"), None).await;
    send(&mut bob, r#"{"kind":"join","id":7,"room":"private:alice"}"#).await;
    let err = expect_kind(&mut bob, "error").await;
    assert_eq!(
        (&err["id"], &err["room"], &err["error"]["code"]),
        (&json!(7), &json!("private:alice"), &json!("forbidden")),
        "{err}"
    );
    let (mut anonymous, _) = handshake(&server, None, None).await;
    send(
        &mut anonymous,
        r#"{"kind":"join","id":1,"room":"private:alice"}"#,
    )
    .await;
    assert_eq!(
        expect_kind(&mut anonymous, "error").await["error"]["code"],
        "forbidden"
    );

    let (mut alice, _) = handshake(&server, Some("alice"), None).await;
    let joined = join(&mut alice, 1, "private:alice", json!(null)).await;
    assert_eq!(joined["room"], "private:alice");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn room_frames_need_a_room_and_membership() {
    let server = quiet_server(100).await;
    let (mut ws, _) = handshake(&server, None, None).await;
    send(
        &mut ws,
        r#"{"kind":"publish","id":4,"room":"chat","payload":1}"#,
    )
    .await;
    let err = expect_kind(&mut ws, "error").await;
    assert_eq!(
        (&err["id"], &err["room"], &err["error"]["code"]),
        (&json!(4), &json!("chat"), &json!("forbidden"))
    );
    send(
        &mut ws,
        r#"{"kind":"presence","room":"chat","payload":{"meta":1}}"#,
    )
    .await;
    let err = expect_kind(&mut ws, "error").await;
    assert_eq!(
        (&err["room"], &err["error"]["code"]),
        (&json!("chat"), &json!("forbidden"))
    );
    for frame in [
        r#"{"kind":"join","id":5}"#,
        r#"{"kind":"publish","payload":1}"#,
        r#"{"kind":"leave","id":5}"#,
        r#"{"kind":"join","id":5,"room":"chat","payload":{"since":-1}}"#,
    ] {
        send(&mut ws, frame).await;
        let err = expect_kind(&mut ws, "error").await;
        assert_eq!(err["error"]["code"], "bad_request", "{frame}: {err}");
    }
    // Leaving a room one is not in is harmless.
    send(&mut ws, r#"{"kind":"leave","id":6,"room":"chat"}"#).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"left","id":6,"room":"chat"})
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn presence_follows_joins_updates_leaves_and_disconnects() {
    let server = quiet_server(100).await;
    let (mut a, _) = handshake(&server, Some("ann"), None).await;
    let (mut b, wb) = handshake(&server, Some("ben"), None).await;
    let (mut c, wc) = handshake(&server, None, None).await;
    join(&mut a, 1, "r", json!({})).await;
    join(&mut b, 1, "r", json!({"meta": {"typing": false}})).await;
    join(&mut c, 1, "r", json!(null)).await;
    let ben = |meta: Value| json!({"id": wb.session, "user": "ben", "meta": meta});
    assert_eq!(
        next_json(&mut a).await,
        presence("r", "join", ben(json!({"typing": false})))
    );
    let carl = json!({"id": wc.session});
    assert_eq!(next_json(&mut a).await, presence("r", "join", carl.clone()));
    assert_eq!(next_json(&mut b).await, presence("r", "join", carl.clone()));

    send(
        &mut b,
        r#"{"kind":"presence","room":"r","payload":{"meta":{"typing":true}}}"#,
    )
    .await;
    let update = presence("r", "update", ben(json!({"typing": true})));
    assert_eq!(next_json(&mut a).await, update);
    assert_eq!(next_json(&mut c).await, update);
    expect_quiet(&mut b).await;

    send(&mut b, r#"{"kind":"leave","id":2,"room":"r"}"#).await;
    assert_eq!(
        next_json(&mut b).await,
        json!({"kind":"left","id":2,"room":"r"})
    );
    let leave = presence("r", "leave", ben(json!({"typing": true})));
    assert_eq!(next_json(&mut a).await, leave);
    assert_eq!(next_json(&mut c).await, leave);

    drop(c); // lost without a close frame
    assert_eq!(next_json(&mut a).await, presence("r", "leave", carl));
    // b left: it hears nothing more from the room.
    publish(&mut a, "r", json!("after")).await;
    let mut stamped = msg("r", 1, json!("after"));
    stamped["user"] = json!("ann"); // the publisher's user, stamped by the server
    assert_eq!(next_json(&mut a).await, stamped);
    expect_quiet(&mut b).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn control_publish_reaches_the_members() {
    let server = quiet_server(100).await;
    let addr = server.local_addr();
    let (mut a, _) = handshake(&server, None, None).await;
    let (mut b, _) = handshake(&server, None, None).await;
    join(&mut a, 1, "alerts", json!({})).await;
    join(&mut b, 1, "alerts", json!({})).await;
    expect_kind(&mut a, "presence").await;
    let reply = control_post(addr, "/control/publish?room=alerts", r#"{"level": "high"}"#).await;
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"seq": 1, "members": 2}))
    );
    for ws in [&mut a, &mut b] {
        assert_eq!(
            next_text(ws).await,
            r#"{"kind":"msg","room":"alerts","seq":1,"payload":{"level": "high"}}"#
        );
    }
    for (path, body) in [
        ("/control/publish?room=alerts", "not json"),
        ("/control/publish?room=alerts", ""),
        ("/control/publish", "1"),
        ("/control/publish?room=", "1"),
    ] {
        let reply = control_post(addr, path, body).await;
        assert_eq!(reply.status, 400, "{path} {body:?}: {}", reply.body);
    }
    expect_quiet(&mut a).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_price_feed_ticks_into_the_prices_room() {
    let server = start(|c| c.feed_interval = Duration::from_millis(20)).await;
    let (mut ws, _) = handshake(&server, None, None).await;
    let joined = join(&mut ws, 1, resocket_server::PRICES_ROOM, json!(null)).await;
    let mut last = joined["seq"].as_u64().expect("seq");
    let mut symbols = std::collections::BTreeSet::new();
    for _ in 0..15 {
        let tick = expect_kind(&mut ws, "msg").await;
        assert_eq!(tick["room"], "prices");
        let seq = tick["seq"].as_u64().expect("seq");
        assert_eq!(seq, last + 1, "{tick}");
        last = seq;
        let payload = &tick["payload"];
        assert_eq!(payload["type"], "tick", "{tick}");
        assert!(payload["price"].as_f64().is_some_and(|p| p > 0.0), "{tick}");
        assert!(payload["open"].as_f64().is_some_and(|p| p > 0.0), "{tick}");
        assert!(
            payload["at"]
                .as_u64()
                .is_some_and(|t| t > 1_700_000_000_000),
            "{tick}"
        );
        symbols.insert(payload["symbol"].as_str().expect("symbol").to_owned());
    }
    assert_eq!(
        symbols.into_iter().collect::<Vec<_>>(),
        ["AAPL", "BTC", "ETH", "EUR/USD", "MSFT"]
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_late_joiner_with_history_gets_the_newest_messages_then_live_ones() {
    let server = quiet_server(100).await;
    let (mut alice, _) = handshake(&server, Some("alice"), None).await;
    join(&mut alice, 1, "chat", json!({})).await;
    for n in 1..=5 {
        publish(&mut alice, "chat", json!({"n": n})).await;
        expect_kind(&mut alice, "msg").await;
    }

    let (mut bob, _) = handshake(&server, Some("bob"), None).await;
    let joined = join(&mut bob, 1, "chat", json!({"history": 3})).await;
    assert_eq!(
        (&joined["seq"], &joined["payload"]["recovered"]),
        (&json!(5), &json!(true))
    );
    // The replay keeps each message's seq and stamped author, oldest first.
    for seq in 3..=5 {
        let replayed = next_json(&mut bob).await;
        assert_eq!(
            (&replayed["seq"], &replayed["user"], &replayed["payload"]),
            (&json!(seq), &json!("alice"), &json!({"n": seq}))
        );
    }
    publish(&mut alice, "chat", json!({"n": 6})).await;
    let live = next_json(&mut bob).await;
    assert_eq!(
        (&live["seq"], &live["payload"]),
        (&json!(6), &json!({"n": 6}))
    );
    expect_quiet(&mut bob).await;

    // More than the room holds is what it holds; with `since`, `history` is ignored.
    let (mut carol, _) = handshake(&server, None, None).await;
    join(&mut carol, 1, "chat", json!({"history": 1_000_000})).await;
    let seqs: Vec<Value> = room_seqs(&mut carol, 6).await;
    assert_eq!(seqs, (1..=6).map(|n| json!(n)).collect::<Vec<_>>());
    expect_quiet(&mut carol).await;
    let (mut dave, _) = handshake(&server, None, None).await;
    join(&mut dave, 1, "chat", json!({"since": 6, "history": 3})).await;
    expect_quiet(&mut dave).await;
    server.shutdown().await.expect("clean shutdown");
}

/// The `seq`s of the next `count` room messages (skipping presence frames).
async fn room_seqs(ws: &mut Ws, count: usize) -> Vec<Value> {
    let mut seqs = Vec::new();
    while seqs.len() < count {
        let frame = next_json(ws).await;
        if frame["kind"] == "msg" {
            seqs.push(frame["seq"].clone());
        }
    }
    seqs
}

async fn publish_with_id(ws: &mut Ws, id: u64, room: &str, payload: Value) {
    let frame = json!({"kind": "publish", "id": id, "room": room, "payload": payload});
    send(ws, &frame.to_string()).await;
}

fn ack(id: u64, seq: u64) -> Value {
    json!({"kind": "res", "id": id, "payload": seq})
}

#[tokio::test]
async fn a_publish_with_an_id_is_acknowledged_and_takes_effect_once_across_a_drop() {
    let server = quiet_server(100).await;
    let addr = server.local_addr();
    let (mut alice, a) = handshake(&server, Some("alice"), None).await;
    let (mut bob, b) = handshake(&server, Some("bob"), None).await;
    join(&mut alice, 1, "chat", json!({})).await;
    join(&mut bob, 1, "chat", json!({})).await;
    expect_kind(&mut alice, "presence").await;

    // The message first, then its acknowledgement with the message's seq.
    publish_with_id(&mut alice, 7, "chat", json!({"text": "once"})).await;
    let stamped =
        json!({"kind":"msg","room":"chat","seq":1,"user":"alice","payload":{"text":"once"}});
    assert_eq!(next_json(&mut alice).await, stamped);
    assert_eq!(next_json(&mut alice).await, ack(7, 1));
    assert_eq!(next_json(&mut bob).await, stamped);

    // A forced drop; Alice never saw the acknowledgement, so her client sends it again.
    control_post(addr, "/control/drop", "").await;
    let (mut alice, resumed) = handshake(&server, Some("alice"), a.resume()).await;
    assert_eq!(resumed.session, a.session);
    let (mut bob, _) = handshake(&server, Some("bob"), b.resume()).await;
    join(&mut bob, 2, "chat", json!({"since": 1})).await;
    let joined = join(&mut alice, 2, "chat", json!({"since": 1})).await;
    assert_eq!(joined["seq"], 1);
    expect_kind(&mut bob, "presence").await;
    publish_with_id(&mut alice, 7, "chat", json!({"text": "once"})).await;
    assert_eq!(next_json(&mut alice).await, ack(7, 1), "the same seq");
    expect_quiet(&mut alice).await;
    expect_quiet(&mut bob).await;

    // Another id takes effect; a refused publish is an error with its id, recorded too.
    publish_with_id(&mut alice, 8, "chat", json!({"text": "twice"})).await;
    assert_eq!(next_json(&mut alice).await["seq"], 2);
    assert_eq!(next_json(&mut alice).await, ack(8, 2));
    assert_eq!(next_json(&mut bob).await["seq"], 2);
    for _ in 0..2 {
        publish_with_id(&mut alice, 9, "elsewhere", json!(1)).await;
        let refused = expect_kind(&mut alice, "error").await;
        assert_eq!(
            (&refused["id"], &refused["room"], &refused["error"]["code"]),
            (&json!(9), &json!("elsewhere"), &json!("forbidden"))
        );
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_publish_refused_by_the_namespace_rules_is_an_error_with_its_id() {
    let server = start(|c| {
        c.feed_interval = Duration::ZERO;
        c.auth.namespaces = resocket_server::auth::Namespaces::from_toml_str(
            "[default]\njoin = \"anyone\"\npublish = false\n",
        )
        .expect("valid rules");
    })
    .await;
    let (mut alice, _) = handshake(&server, Some("alice"), None).await;
    join(&mut alice, 1, "news", json!({})).await;
    publish_with_id(&mut alice, 5, "news", json!({"text": "no"})).await;
    let refused = expect_kind(&mut alice, "error").await;
    assert_eq!(
        (&refused["id"], &refused["room"], &refused["error"]["code"]),
        (&json!(5), &json!("news"), &json!("forbidden"))
    );
    expect_quiet(&mut alice).await;
    server.shutdown().await.expect("clean shutdown");
}
