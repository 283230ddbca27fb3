//! Byte and count budgets of the state over real sockets: a room's history by bytes, a document
//! by bytes and keys, the user id, and rooms held (junk rooms cannot lock a new one out). Each
//! hostile client gets its typed refusal while an honest client's pings are answered and its room
//! messages delivered.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// On the Redis engine, a short lease: a document stays in use for a lease after its last
/// subscriber leaves (another node may still have some), so the tests need not wait 15 s.
fn short_lease(config: &mut resocket_server::ServerConfig) {
    if let Some(redis) = config.redis.as_mut() {
        redis.lease = Duration::from_millis(300);
    }
}

async fn send_json(ws: &mut Ws, frame: Value) {
    send(ws, &frame.to_string()).await;
}

/// The next frame of `kind`, skipping others (presence, own messages).
async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let frame = next_json(ws).await;
        if frame["kind"] == kind {
            return frame;
        }
    }
}

/// The honest client is still served: its ping is answered and its message delivered to it.
/// The next `error` frame answers request `id` with `code`.
async fn expect_refused(ws: &mut Ws, id: u64, code: &str) {
    let refused = next_of(ws, "error").await;
    assert_eq!(
        (&refused["id"], &refused["error"]["code"]),
        (&json!(id), &json!(code)),
        "{refused}"
    );
}

async fn still_served(honest: &mut Ws, room: &str, id: u64) {
    send_json(honest, json!({"kind": "ping", "id": id})).await;
    while next_json(honest).await["kind"] != "pong" {}
    send_json(
        honest,
        json!({"kind": "publish", "id": id + 1, "room": room, "payload": "still here"}),
    )
    .await;
    loop {
        let frame = next_json(honest).await;
        if frame["kind"] == "msg" && frame["payload"] == "still here" {
            break;
        }
    }
}

#[tokio::test]
async fn a_message_over_the_history_bytes_is_refused_too_large_and_older_ones_make_room() {
    let server = start(|c| {
        c.feed_interval = Duration::ZERO;
        c.state_limits.history_bytes = 2048;
    })
    .await;
    let (mut honest, _) = handshake(&server, Some("honest"), None).await;
    let (mut hostile, _) = handshake(&server, Some("hostile"), None).await;
    for ws in [&mut honest, &mut hostile] {
        send_json(ws, json!({"kind": "join", "id": 1, "room": "lobby"})).await;
        next_of(ws, "joined").await;
    }
    let big = "x".repeat(3000);
    send_json(
        &mut hostile,
        json!({"kind": "publish", "id": 2, "room": "lobby", "payload": big}),
    )
    .await;
    let refused = next_of(&mut hostile, "error").await;
    assert_eq!(
        (&refused["id"], &refused["room"], &refused["error"]["code"]),
        (&json!(2), &json!("lobby"), &json!("too_large")),
        "{refused}"
    );
    // Ten messages of about 560 bytes: the history keeps the newest three (2048 bytes).
    for n in 0..10 {
        let payload = format!("{n}{}", "y".repeat(500));
        send_json(
            &mut hostile,
            json!({"kind": "publish", "id": 10 + n, "room": "lobby", "payload": payload}),
        )
        .await;
        next_of(&mut hostile, "res").await;
    }
    still_served(&mut honest, "lobby", 30).await;
    let (mut late, _) = handshake(&server, Some("late"), None).await;
    send_json(
        &mut late,
        json!({"kind": "join", "id": 1, "room": "lobby", "payload": {"history": 100}}),
    )
    .await;
    let joined = next_of(&mut late, "joined").await;
    assert_eq!(joined["seq"], 11, "the refused message took no number");
    let mut replayed = Vec::new();
    while replayed.last() != Some(&json!(11)) {
        let msg = next_of(&mut late, "msg").await;
        replayed.push(msg["seq"].clone());
    }
    assert_eq!(replayed, [json!(8), json!(9), json!(10), json!(11)]);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_op_over_the_document_bytes_or_keys_is_refused_too_large_and_changes_nothing() {
    let server = start(|c| {
        c.feed_interval = Duration::ZERO;
        c.state_limits.doc_bytes = 1000;
        c.state_limits.doc_keys = 2;
    })
    .await;
    let (mut honest, _) = handshake(&server, Some("honest"), None).await;
    send_json(
        &mut honest,
        json!({"kind": "join", "id": 1, "room": "lobby"}),
    )
    .await;
    next_of(&mut honest, "joined").await;
    send_json(
        &mut honest,
        json!({"kind": "sync", "id": 2, "room": "board", "payload": {}}),
    )
    .await;
    next_of(&mut honest, "snapshot").await;

    let mut hostile = connect(&server).await;
    send(&mut hostile, &hello(Some("hostile"), None)).await;
    let welcome = next_of(&mut hostile, "welcome").await;
    let origin = welcome["payload"]["origin"]
        .as_str()
        .expect("welcome has an origin")
        .to_owned();
    let op = |cseq: u64, key: &str, value: Value| {
        json!({"kind": "op", "room": "board", "seq": cseq,
               "payload": {"origin": origin, "key": key, "op": "set", "value": value}})
    };
    send_json(&mut hostile, op(1, "a", json!("x".repeat(2000)))).await;
    let reject = next_of(&mut hostile, "reject").await;
    assert_eq!(reject["payload"]["error"]["code"], "too_large", "{reject}");
    for (cseq, key) in [(2, "a"), (3, "b")] {
        send_json(&mut hostile, op(cseq, key, json!(1))).await;
        next_of(&mut hostile, "op").await;
    }
    send_json(&mut hostile, op(4, "c", json!(1))).await;
    let reject = next_of(&mut hostile, "reject").await;
    assert_eq!(
        (
            &reject["payload"]["cseq"],
            &reject["payload"]["error"]["code"]
        ),
        (&json!(4), &json!("too_large")),
        "{reject}"
    );
    // The honest subscriber saw the two applied ops only, and is served throughout.
    for rev in [1, 2] {
        assert_eq!(next_of(&mut honest, "op").await["seq"], rev);
    }
    still_served(&mut honest, "lobby", 10).await;
    let state = control_get(server.local_addr(), "/control/doc?name=board").await;
    let state: Value = serde_json::from_str(&state.body).expect("JSON");
    assert_eq!(state["rev"], 2, "{state}");
    assert_eq!(
        state["entries"].as_object().map(|e| e.len()),
        Some(2),
        "{state}"
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn junk_rooms_cannot_lock_out_a_new_room() {
    let server = start(|c| {
        c.feed_interval = Duration::ZERO;
        c.state_limits.max_rooms = 3;
    })
    .await;
    let (mut hostile, _) = handshake(&server, Some("hostile"), None).await;
    // Twenty rooms created and left empty: far more than the server holds.
    for n in 0..20u64 {
        let room = format!("junk-{n}");
        send_json(
            &mut hostile,
            json!({"kind": "join", "id": 100 + n, "room": room}),
        )
        .await;
        next_of(&mut hostile, "joined").await;
        send_json(
            &mut hostile,
            json!({"kind": "leave", "id": 200 + n, "room": room}),
        )
        .await;
        next_of(&mut hostile, "left").await;
    }
    let (mut honest, _) = handshake(&server, Some("honest"), None).await;
    for (id, room) in [(1, "lobby"), (2, "private:honest")] {
        send_json(&mut honest, json!({"kind": "join", "id": id, "room": room})).await;
        next_of(&mut honest, "joined").await;
    }
    still_served(&mut honest, "lobby", 3).await;
    // Rooms that are in use are never taken: with every place held, a new room is refused.
    send_json(
        &mut hostile,
        json!({"kind": "join", "id": 5, "room": "held"}),
    )
    .await;
    next_of(&mut hostile, "joined").await;
    send_json(
        &mut hostile,
        json!({"kind": "join", "id": 6, "room": "one more"}),
    )
    .await;
    expect_refused(&mut hostile, 6, "rate_limited").await;
    still_served(&mut honest, "lobby", 10).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_empty_room_is_removed_after_its_idle_ttl() {
    let server = start(|c| {
        c.feed_interval = Duration::ZERO;
        c.state_limits.room_idle_ttl = Some(Duration::from_millis(200));
    })
    .await;
    let (mut ws, _) = handshake(&server, Some("alice"), None).await;
    send_json(&mut ws, json!({"kind": "join", "id": 1, "room": "r"})).await;
    let joined = next_of(&mut ws, "joined").await;
    let epoch = joined["payload"]["epoch"].clone();
    send_json(
        &mut ws,
        json!({"kind": "publish", "id": 2, "room": "r", "payload": 1}),
    )
    .await;
    next_of(&mut ws, "res").await;
    send_json(&mut ws, json!({"kind": "leave", "id": 3, "room": "r"})).await;
    next_of(&mut ws, "left").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let since = json!({"since": 1, "epoch": epoch});
    send_json(
        &mut ws,
        json!({"kind": "join", "id": 4, "room": "r", "payload": since}),
    )
    .await;
    let joined = next_of(&mut ws, "joined").await;
    assert_ne!(joined["payload"]["epoch"], epoch, "a new stream: {joined}");
    assert_eq!(
        (&joined["seq"], &joined["payload"]["recovered"]),
        (&json!(0), &json!(false)),
        "{joined}"
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_user_id_too_long_or_outside_the_charset_is_refused_at_hello() {
    let server = start(|c| c.feed_interval = Duration::ZERO).await;
    let (mut honest, _) = handshake(&server, Some("honest"), None).await;
    send_json(
        &mut honest,
        json!({"kind": "join", "id": 1, "room": "lobby"}),
    )
    .await;
    next_of(&mut honest, "joined").await;
    for user in [
        "x".repeat(129),
        "a b".to_owned(),
        "é".to_owned(),
        "a\u{7}".to_owned(),
    ] {
        let mut hostile = connect(&server).await;
        send(&mut hostile, &hello(Some(&user), None)).await;
        let (code, reason) = expect_close(&mut hostile).await;
        assert_eq!((code, reason.as_str()), (4401, "bad_user"), "{user:?}");
    }
    let longest = "x".repeat(128);
    handshake(&server, Some(&longest), None).await;
    still_served(&mut honest, "lobby", 2).await;
    server.shutdown().await.expect("clean shutdown");
}

/// Syncs `doc` as `ws` (from `since` of `epoch`, if given), returning the first catch-up frame.
async fn sync_doc(ws: &mut Ws, id: u64, doc: &str, since: Option<(u64, &Value)>) -> Value {
    let payload = match since {
        Some((since, epoch)) => json!({"since": since, "epoch": epoch}),
        None => json!({}),
    };
    send_json(
        ws,
        json!({"kind": "sync", "id": id, "room": doc, "payload": payload}),
    )
    .await;
    loop {
        let frame = next_json(ws).await;
        if frame["kind"] == "snapshot" || frame["kind"] == "op" || frame["kind"] == "synced" {
            return frame;
        }
        assert_ne!(frame["kind"], "error", "{frame}");
    }
}

/// Welcomes a client and returns it with its op origin.
async fn with_origin(server: &resocket_server::Server, user: &str) -> (Ws, String) {
    let mut ws = connect(server).await;
    send(&mut ws, &hello(Some(user), None)).await;
    let welcome = next_of(&mut ws, "welcome").await;
    let origin = welcome["payload"]["origin"]
        .as_str()
        .expect("welcome has an origin")
        .to_owned();
    (ws, origin)
}

async fn set_key(ws: &mut Ws, origin: &str, doc: &str, cseq: u64, value: Value) {
    send_json(
        ws,
        json!({"kind": "op", "room": doc, "seq": cseq,
               "payload": {"origin": origin, "key": "k", "op": "set", "value": value}}),
    )
    .await;
}

#[tokio::test]
async fn an_unused_document_is_removed_after_its_idle_ttl() {
    let server = start(|c| {
        c.feed_interval = Duration::ZERO;
        c.state_limits.doc_idle_ttl = Some(Duration::from_millis(200));
        short_lease(c);
    })
    .await;
    let (mut ws, origin) = with_origin(&server, "alice").await;
    let snapshot = sync_doc(&mut ws, 1, "d", None).await;
    let epoch = snapshot["payload"]["epoch"].clone();
    set_key(&mut ws, &origin, "d", 1, json!(1)).await;
    assert_eq!(next_of(&mut ws, "op").await["seq"], 1);
    send_json(&mut ws, json!({"kind": "unsync", "room": "d"})).await;
    // Idle TTL, plus a lease on Redis (and its sweep), with room to spare.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    if engine_redis_url().is_some() {
        // Redis sweeps it away (the memory engine removes it at its next use of the map).
        let state = control_get(server.local_addr(), "/control/doc?name=d").await;
        assert_eq!(state.status, 404, "removed by the sweep: {}", state.body);
    }
    let caught_up = sync_doc(&mut ws, 2, "d", Some((1, &epoch))).await;
    assert_eq!(caught_up["kind"], "snapshot", "{caught_up}");
    assert_ne!(
        caught_up["payload"]["epoch"], epoch,
        "a new epoch: {caught_up}"
    );
    assert_eq!(caught_up["seq"], 0, "it starts again empty: {caught_up}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn junk_documents_cannot_lock_out_a_new_one() {
    let server = start(|c| {
        c.feed_interval = Duration::ZERO;
        c.state_limits.max_docs = 3;
        short_lease(c);
    })
    .await;
    let (mut hostile, origin) = with_origin(&server, "hostile").await;
    // Twenty documents written to without subscribing: far more than the server holds.
    for n in 0..20u64 {
        let doc = format!("junk-{n}");
        set_key(&mut hostile, &origin, &doc, 1, json!(n)).await;
        let applied = next_json(&mut hostile).await;
        assert_eq!(applied["kind"], "op", "{applied}");
    }
    let (mut honest, _) = handshake(&server, Some("honest"), None).await;
    send_json(
        &mut honest,
        json!({"kind": "join", "id": 1, "room": "lobby"}),
    )
    .await;
    next_of(&mut honest, "joined").await;
    for (id, doc) in [(2, "board"), (3, "notes")] {
        let snapshot = sync_doc(&mut honest, id, doc, None).await;
        assert_eq!(snapshot["kind"], "snapshot", "{snapshot}");
    }
    still_served(&mut honest, "lobby", 4).await;
    // Documents with subscribers are never taken: with every place held, a new one is refused.
    sync_doc(&mut hostile, 5, "held", None).await;
    send_json(
        &mut hostile,
        json!({"kind": "sync", "id": 6, "room": "one more", "payload": {}}),
    )
    .await;
    expect_refused(&mut hostile, 6, "rate_limited").await;
    still_served(&mut honest, "lobby", 10).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_op_log_is_trimmed_by_bytes_and_a_sync_from_before_it_gets_a_snapshot() {
    let server = start(|c| {
        c.feed_interval = Duration::ZERO;
        c.state_limits.doc_log_bytes = 1000;
    })
    .await;
    let (mut ws, origin) = with_origin(&server, "alice").await;
    let snapshot = sync_doc(&mut ws, 1, "d", None).await;
    let epoch = snapshot["payload"]["epoch"].clone();
    // Ten ops of about 300 bytes each: the log holds the newest three.
    for cseq in 1..=10u64 {
        set_key(&mut ws, &origin, "d", cseq, json!("v".repeat(200))).await;
        assert_eq!(next_of(&mut ws, "op").await["seq"], cseq);
    }
    let (mut late, _) = handshake(&server, Some("late"), None).await;
    let replay = sync_doc(&mut late, 1, "d", Some((8, &epoch))).await;
    assert_eq!(
        (&replay["kind"], &replay["seq"]),
        (&json!("op"), &json!(9)),
        "{replay}"
    );
    assert_eq!(next_of(&mut late, "op").await["seq"], 10);
    next_of(&mut late, "synced").await;
    let (mut older, _) = handshake(&server, Some("older"), None).await;
    let caught_up = sync_doc(&mut older, 1, "d", Some((2, &epoch))).await;
    assert_eq!(
        (&caught_up["kind"], &caught_up["seq"]),
        (&json!("snapshot"), &json!(10)),
        "op 3 is no longer held: {caught_up}"
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_origins_recorded_outcomes_are_bounded_in_bytes() {
    let server = start(|c| c.feed_interval = Duration::ZERO).await;
    let (mut ws, origin) = with_origin(&server, "alice").await;
    sync_doc(&mut ws, 1, "d", None).await;
    // 320 ops whose frames are over 1 KiB: more than the 256 KiB of outcomes an origin keeps,
    // though fewer than the 1,024 outcomes it would keep by count.
    let value = json!("v".repeat(1024));
    for cseq in 1..=320u64 {
        set_key(&mut ws, &origin, "d", cseq, value.clone()).await;
        assert_eq!(next_of(&mut ws, "op").await["seq"], cseq);
    }
    // The newest is answered again from the record, not applied again.
    set_key(&mut ws, &origin, "d", 320, value.clone()).await;
    let repeated = next_json(&mut ws).await;
    assert_eq!(
        (&repeated["kind"], &repeated["seq"]),
        (&json!("op"), &json!(320)),
        "{repeated}"
    );
    // The oldest was evicted: refused, never applied again.
    set_key(&mut ws, &origin, "d", 1, value).await;
    let refused = next_json(&mut ws).await;
    assert_eq!(
        (&refused["kind"], &refused["payload"]["cseq"]),
        (&json!("reject"), &json!(1)),
        "{refused}"
    );
    assert_eq!(
        refused["payload"]["error"]["code"], "unexpected",
        "{refused}"
    );
    let state = control_get(server.local_addr(), "/control/doc?name=d").await;
    let state: Value = serde_json::from_str(&state.body).expect("JSON");
    assert_eq!(state["rev"], 320, "{state}");
    server.shutdown().await.expect("clean shutdown");
}

/// Sessions waiting for a resume are bounded in bytes (memory engine; Redis expires them by
/// TTL): past `--detached-session-bytes` the longest-detached is forgotten, and its resume is
/// told so (`resumed: false`), while the ones detached last still resume.
#[tokio::test]
async fn detached_sessions_past_their_byte_budget_are_forgotten_longest_detached_first() {
    if engine_redis_url().is_some() {
        return;
    }
    let server = start(|c| c.state_limits.detached_session_bytes = 4 * 512).await;
    let addr = server.local_addr();
    let mut welcomes = Vec::new();
    // A hello-and-drop loop: each session detaches before the next one is opened.
    for _ in 0..8 {
        let (ws, welcome) = handshake(&server, None, None).await;
        close(ws).await;
        wait_for_stat(addr, "connections", 0).await;
        welcomes.push(welcome);
    }
    let (_first, first) = handshake(&server, None, welcomes[0].resume()).await;
    assert!(!first.resumed, "the longest-detached session was forgotten");
    let (_last, last) = handshake(&server, None, welcomes[7].resume()).await;
    assert!(last.resumed, "the session detached last is kept");
    server.shutdown().await.expect("clean shutdown");
}
