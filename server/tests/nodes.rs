//! Several server nodes sharing one Redis (the Redis engine), as real `resocket-server`
//! processes with a real `redis-server` of the test's own: one sequence and one document
//! everywhere, clients of a killed node resuming on the other without loss or duplicates,
//! requests that never run twice, a node restarted on the same Redis, and a Redis outage that
//! is reported and recovered from.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The nodes' server API key.
const API_KEY: &str = "api-key-of-the-nodes-test-0123456789";

/// Presence leases of the test nodes: a dead node's members go within about this.
const LEASE_MS: u64 = 1000;

/// A `resocket-server` process on the Redis engine.
struct Node {
    child: Child,
    addr: SocketAddr,
}

impl Node {
    /// Starts a node on `port` (0: any) sharing `redis` under `prefix`.
    fn start(redis: &RedisServer, prefix: &str, port: u16) -> Node {
        Node::start_with(redis, prefix, port, &[])
    }

    /// [`start`](Self::start) with more command-line arguments.
    fn start_with(redis: &RedisServer, prefix: &str, port: u16, extra: &[&str]) -> Node {
        let config =
            std::env::temp_dir().join(format!("resocket-nodes-{}.toml", std::process::id()));
        std::fs::write(&config, TEST_NAMESPACES).expect("config file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_resocket-server"))
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--redis", &redis.url(), "--redis-prefix", prefix])
            .args(["--redis-lease-ms", &LEASE_MS.to_string()])
            .args([
                "--insecure-trust-client-user",
                "--demo",
                "--feed-interval-ms",
                "0",
            ])
            .args(["--test-controls", "--control-secret", CONTROL_SECRET])
            .arg("--config")
            .arg(&config)
            .args(extra)
            .env("RUST_LOG", "error")
            .env("RESOCKET_API_KEY", API_KEY)
            .stdout(Stdio::piped())
            .spawn()
            .expect("resocket-server runs");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the listening line");
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Node { child, addr }
    }

    /// SIGKILL: no close frames, no goodbye to Redis.
    fn kill(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.addr.port()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send_json(ws: &mut Ws, frame: Value) {
    send(ws, &frame.to_string()).await;
}

async fn join(ws: &mut Ws, id: u64, room: &str, payload: Value) -> Value {
    send_json(
        ws,
        json!({"kind": "join", "id": id, "room": room, "payload": payload}),
    )
    .await;
    expect_kind(ws, "joined").await
}

/// The next frame of `kind`, skipping others (presence, pongs).
async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let frame = next_json(ws).await;
        if frame["kind"] == kind {
            return frame;
        }
    }
}

async fn server_publish(addr: SocketAddr, room: &str, n: u64) {
    let response = control_post(
        addr,
        &format!("/control/publish?room={room}"),
        &json!({"n": n}).to_string(),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
}

fn origin_of(welcome_frame: &Value) -> String {
    welcome_frame["payload"]["origin"]
        .as_str()
        .expect("origin")
        .to_owned()
}

async fn welcomed_origin(addr: SocketAddr, user: &str) -> (Ws, String) {
    let mut ws = connect_addr(addr).await;
    send(&mut ws, &hello(Some(user), None)).await;
    let welcome = expect_kind(&mut ws, "welcome").await;
    (ws, origin_of(&welcome))
}

#[tokio::test]
async fn two_nodes_give_every_client_one_sequence_and_one_document() {
    let redis = RedisServer::start().await;
    let prefix = fresh_prefix();
    let (a, b) = (
        Node::start(&redis, &prefix, 0),
        Node::start(&redis, &prefix, 0),
    );
    let (mut alice, alice_origin) = welcomed_origin(a.addr, "alice").await;
    let (mut bob, bob_origin) = welcomed_origin(b.addr, "bob").await;
    let joined = join(&mut alice, 1, "chat:1", json!({})).await;
    assert_eq!(
        joined["payload"]["members"].as_array().map(Vec::len),
        Some(1),
        "{joined}"
    );
    let joined = join(&mut bob, 1, "chat:1", json!({})).await;
    assert_eq!(
        joined["payload"]["members"].as_array().map(Vec::len),
        Some(2),
        "{joined}"
    );
    // Presence crosses nodes: alice, on node A, sees bob join on node B.
    let seen = next_of(&mut alice, "presence").await;
    assert_eq!(
        (
            seen["payload"]["event"].as_str(),
            seen["payload"]["member"]["user"].as_str()
        ),
        (Some("join"), Some("bob"))
    );

    // Both publish at once, through different nodes.
    for n in 0..20 {
        send_json(
            &mut alice,
            json!({"kind": "publish", "room": "chat:1", "payload": {"by": "alice", "n": n}}),
        )
        .await;
        send_json(
            &mut bob,
            json!({"kind": "publish", "room": "chat:1", "payload": {"by": "bob", "n": n}}),
        )
        .await;
    }
    let mut streams = Vec::new();
    for ws in [&mut alice, &mut bob] {
        let mut got = Vec::new();
        while got.len() < 40 {
            let frame = next_of(ws, "msg").await;
            got.push((
                frame["seq"].as_u64().expect("seq"),
                frame["user"].clone(),
                frame["payload"].clone(),
            ));
        }
        streams.push(got);
    }
    assert_eq!(streams[0], streams[1], "one sequence on both nodes");
    let seqs: Vec<u64> = streams[0].iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    for (_, user, payload) in &streams[0] {
        assert_eq!(user, &payload["by"], "the server stamps the publisher");
    }

    // A notification (the server API on B) reaches the user on A; a broadcast from A
    // reaches B.
    let (status, body) = api_call(
        b.addr,
        API_KEY,
        "POST",
        "/api/v1/users/alice/notify",
        r#"{"payload":{"fill":1}}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        next_of(&mut alice, "notify").await["payload"],
        json!({"fill": 1})
    );
    send_json(
        &mut alice,
        json!({"kind": "broadcast", "payload": {"hello": "all"}}),
    )
    .await;
    assert_eq!(
        next_of(&mut bob, "msg").await["payload"],
        json!({"hello": "all"})
    );

    // One document: concurrent ops through both nodes get one revision order.
    for ws in [&mut alice, &mut bob] {
        send_json(
            ws,
            json!({"kind": "sync", "id": 2, "room": "board", "payload": {}}),
        )
        .await;
        assert_eq!(next_of(ws, "snapshot").await["seq"], 0);
    }
    for cseq in 1..=10u64 {
        let a_op = json!({"origin": alice_origin, "key": format!("a{}", cseq % 3), "op": "set", "value": cseq});
        send_json(
            &mut alice,
            json!({"kind": "op", "room": "board", "seq": cseq, "payload": a_op}),
        )
        .await;
        let b_op = json!({"origin": bob_origin, "key": format!("a{}", cseq % 3), "op": "set", "value": -(cseq as i64)});
        send_json(
            &mut bob,
            json!({"kind": "op", "room": "board", "seq": cseq, "payload": b_op}),
        )
        .await;
    }
    let mut logs = Vec::new();
    for ws in [&mut alice, &mut bob] {
        let mut got = Vec::new();
        while got.len() < 20 {
            let frame = next_of(ws, "op").await;
            got.push(frame);
        }
        logs.push(got);
    }
    assert_eq!(logs[0], logs[1], "one op order on both nodes");
    let revs: Vec<u64> = logs[0]
        .iter()
        .map(|f| f["seq"].as_u64().expect("rev"))
        .collect();
    assert_eq!(revs, (1..=20).collect::<Vec<_>>(), "every revision once");
    let doc_a = control_get(a.addr, "/control/doc?name=board").await.json();
    let doc_b = control_get(b.addr, "/control/doc?name=board").await.json();
    assert_eq!(doc_a, doc_b);
    assert_eq!(doc_a["rev"], 20, "{doc_a}");
}

#[tokio::test]
async fn clients_of_a_killed_node_resume_on_the_other_without_loss_or_reruns() {
    let redis = RedisServer::start().await;
    let prefix = fresh_prefix();
    let (a, b) = (
        Node::start(&redis, &prefix, 0),
        Node::start(&redis, &prefix, 0),
    );
    let b_addr = b.addr;
    let (mut alice, welcome) = handshake_addr(a.addr, Some("alice"), None).await;
    let joined = join(&mut alice, 1, "feed", json!({})).await;
    let epoch = joined["payload"]["epoch"]
        .as_str()
        .expect("epoch")
        .to_owned();
    // Dave, also on A, is only a presence member; bob watches from B.
    let (mut dave, _) = handshake_addr(a.addr, Some("dave"), None).await;
    join(&mut dave, 1, "feed", json!({})).await;
    let (mut bob, _) = handshake_addr(b_addr, Some("bob"), None).await;
    join(&mut bob, 1, "feed", json!({})).await;

    // Published through B, delivered by A.
    for n in 1..=5 {
        server_publish(b_addr, "feed", n).await;
    }
    for n in 1..=5u64 {
        assert_eq!(next_of(&mut alice, "msg").await["seq"], n);
    }
    request(&mut alice, 7, "count", json!({"key": "k"})).await;
    let first = next_of(&mut alice, "res").await;
    assert_eq!(first["payload"], 1, "{first}");
    // An acknowledged publish, re-sent to B later, takes effect once.
    send_json(
        &mut alice,
        json!({"kind": "publish", "id": 11, "room": "feed", "payload": {"mine": 1}}),
    )
    .await;
    // The ack and the message itself, in either order (the message comes through the bus).
    let (mut ack, mut echo) = (Value::Null, Value::Null);
    while ack.is_null() || echo.is_null() {
        let frame = next_json(&mut alice).await;
        match frame["kind"].as_str() {
            Some("res") => ack = frame,
            Some("msg") => echo = frame,
            _ => {}
        }
    }
    assert_eq!(
        (ack["id"].as_u64(), ack["payload"].as_u64()),
        (Some(11), Some(6)),
        "{ack}"
    );
    assert_eq!(echo["seq"], 6, "{echo}");
    // In flight when A dies: its outcome becomes unknown, and it must not run again.
    request(&mut alice, 8, "sleep", json!({"ms": 3000})).await;
    sync(&mut alice).await;

    a.kill();
    for n in 7..=11 {
        server_publish(b_addr, "feed", n).await;
    }
    // A died without a word: the leases of its members (alice's and dave's) run out, and
    // bob is told.
    let mut left = tokio::time::timeout(Duration::from_secs(5), async {
        let mut left = Vec::new();
        while left.len() < 2 {
            let frame = next_of(&mut bob, "presence").await;
            if frame["payload"]["event"] == "leave" {
                left.push(frame["payload"]["member"]["user"].clone());
            }
        }
        left
    })
    .await
    .expect("the leaves within the lease");
    left.sort_by_key(Value::to_string);
    assert_eq!(left, [json!("alice"), json!("dave")]);
    drop(dave);

    // Alice reconnects to B and resumes there.
    let (mut alice, again) = handshake_addr(b_addr, Some("alice"), welcome.resume()).await;
    assert!(
        again.resumed && again.session == welcome.session,
        "{again:?}"
    );
    let rejoined = join(&mut alice, 2, "feed", json!({"since": 6, "epoch": epoch})).await;
    assert_eq!(rejoined["payload"]["recovered"], true, "{rejoined}");
    for n in 7..=11u64 {
        let frame = next_json(&mut alice).await;
        assert_eq!(
            (frame["kind"].as_str(), frame["seq"].as_u64()),
            (Some("msg"), Some(n)),
            "{frame}"
        );
    }
    expect_quiet(&mut alice).await;
    send_json(
        &mut alice,
        json!({"kind": "publish", "id": 11, "room": "feed", "payload": {"mine": 1}}),
    )
    .await;
    assert_eq!(
        next_json(&mut alice).await,
        ack,
        "answered from the record, not published again"
    );
    expect_quiet(&mut alice).await;
    // Request 7 is answered from the record, not run again: B's own counter is still at 0.
    request(&mut alice, 7, "count", json!({"key": "k"})).await;
    assert_eq!(next_of(&mut alice, "res").await, first);
    request(&mut alice, 9, "count", json!({"key": "k"})).await;
    assert_eq!(next_of(&mut alice, "res").await["payload"], 1);
    // Request 8 died with A (whose liveness ran out by now): unknown outcome, said so.
    request(&mut alice, 8, "sleep", json!({"ms": 3000})).await;
    let lost = next_of(&mut alice, "res").await;
    assert_eq!(lost["id"], 8);
    assert_eq!(lost["error"]["code"], "unavailable", "{lost}");
}

#[tokio::test]
async fn a_node_restarted_on_the_same_redis_resumes_its_clients() {
    let redis = RedisServer::start().await;
    let prefix = fresh_prefix();
    let a = Node::start(&redis, &prefix, 0);
    let addr = a.addr;
    let (mut alice, welcome) = handshake_addr(addr, Some("alice"), None).await;
    let joined = join(&mut alice, 1, "feed", json!({})).await;
    let epoch = joined["payload"]["epoch"].clone();
    for n in 1..=3 {
        server_publish(addr, "feed", n).await;
    }
    for n in 1..=3u64 {
        assert_eq!(next_of(&mut alice, "msg").await["seq"], n);
    }
    let port = a.kill();
    let again = Node::start(&redis, &prefix, port);
    server_publish(again.addr, "feed", 4).await;
    let (mut alice, resumed) = handshake_addr(again.addr, Some("alice"), welcome.resume()).await;
    assert!(resumed.resumed, "{resumed:?}");
    let rejoined = join(&mut alice, 2, "feed", json!({"since": 3, "epoch": epoch})).await;
    assert_eq!(
        (
            rejoined["payload"]["recovered"].clone(),
            rejoined["payload"]["epoch"].clone()
        ),
        (json!(true), epoch)
    );
    assert_eq!(next_json(&mut alice).await["seq"], 4);
    server_publish(again.addr, "feed", 5).await;
    assert_eq!(
        next_json(&mut alice).await["seq"],
        5,
        "the stream goes on, not from 1"
    );
}

#[tokio::test]
async fn a_redis_outage_is_reported_and_recovered_from() {
    let redis = RedisServer::start().await;
    let port = redis.port;
    let prefix = fresh_prefix();
    let a = Node::start(&redis, &prefix, 0);
    let (mut alice, _) = handshake_addr(a.addr, Some("alice"), None).await;
    join(&mut alice, 1, "feed", json!({})).await;

    redis.stop();
    // The node lost its bus: its clients are told to come back (and then resume).
    let (code, _) = expect_close(&mut alice).await;
    assert_eq!(code, 1001);
    // While Redis is down, a new client is refused, never welcomed into a state it cannot
    // share, and the server API says `unavailable`.
    let mut refused = connect_addr(a.addr).await;
    send(&mut refused, &hello(Some("alice"), None)).await;
    let (code, reason) = expect_close(&mut refused).await;
    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("unavailable"), "{reason}");
    let (status, body) = api_call(
        a.addr,
        API_KEY,
        "POST",
        "/api/v1/rooms/feed/publish",
        r#"{"payload":1}"#,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("unavailable")),
        "{body}"
    );

    // Redis is back (empty: it kept nothing): the node serves again, and the stream is a new
    // one, which a rejoining client is told about (`recovered: false`).
    let _redis = RedisServer::start_on(port).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut alice = loop {
        let mut ws = connect_addr(a.addr).await;
        send(&mut ws, &hello(Some("alice"), None)).await;
        match next_event(&mut ws).await {
            Event::Text(text) if json(&text)["kind"] == "welcome" => break ws,
            // Still refused (1001, `unavailable`) until the node's bus is back.
            _ => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rejoined = join(
        &mut alice,
        2,
        "feed",
        json!({"since": 0, "epoch": "an-old-epoch"}),
    )
    .await;
    assert_eq!(rejoined["payload"]["recovered"], false, "{rejoined}");
    server_publish(a.addr, "feed", 1).await;
    assert_eq!(next_of(&mut alice, "msg").await["seq"], 1);
}

#[tokio::test]
async fn a_request_running_on_a_node_that_dies_is_answered_unavailable_once() {
    let redis = RedisServer::start().await;
    let prefix = fresh_prefix();
    let (a, b) = (
        Node::start(&redis, &prefix, 0),
        Node::start(&redis, &prefix, 0),
    );
    let (mut alice, welcome) = handshake_addr(a.addr, Some("alice"), None).await;
    request(&mut alice, 1, "sleep", json!({"ms": 3000})).await;
    sync(&mut alice).await;
    a.kill();
    // Straight to B, while A still counts as alive: the re-sent request is running there...
    let (mut alice, again) = handshake_addr(b.addr, Some("alice"), welcome.resume()).await;
    assert!(again.resumed, "{again:?}");
    request(&mut alice, 1, "sleep", json!({"ms": 3000})).await;
    // ...until A's liveness runs out: then B answers it, once.
    let lost = next_json(&mut alice).await;
    assert_eq!(
        (&lost["kind"], &lost["id"]),
        (&json!("res"), &json!(1)),
        "{lost}"
    );
    assert_eq!(lost["error"]["code"], "unavailable", "{lost}");
    expect_quiet(&mut alice).await;
    request(&mut alice, 1, "sleep", json!({"ms": 3000})).await;
    assert_eq!(next_json(&mut alice).await, lost, "the recorded answer");
}

#[tokio::test]
async fn a_document_subscribed_on_one_node_is_never_evicted_to_make_room_on_another() {
    let redis = RedisServer::start().await;
    let prefix = fresh_prefix();
    let one_doc = ["--max-docs", "1"];
    let a = Node::start_with(&redis, &prefix, 0, &one_doc);
    let b = Node::start_with(&redis, &prefix, 0, &one_doc);
    let sync = |id: u64, doc: &str| json!({"kind": "sync", "id": id, "room": doc, "payload": {}});
    let (mut on_b, _) = welcomed_addr(b.addr).await;
    send_json(&mut on_b, sync(1, "held")).await;
    next_of(&mut on_b, "snapshot").await;
    // Longer than a lease: node b's renewals keep "held" in use.
    tokio::time::sleep(Duration::from_millis(2 * LEASE_MS)).await;
    let (mut on_a, _) = welcomed_addr(a.addr).await;
    send_json(&mut on_a, sync(1, "new")).await;
    let refused = next_of(&mut on_a, "error").await;
    assert_eq!(
        (&refused["id"], &refused["error"]["code"]),
        (&json!(1), &json!("rate_limited")),
        "{refused}"
    );
    // Its subscriber leaves: within a lease "held" is unused, and makes room.
    send_json(&mut on_b, json!({"kind": "unsync", "room": "held"})).await;
    tokio::time::sleep(Duration::from_millis(LEASE_MS + 500)).await;
    send_json(&mut on_a, sync(2, "new")).await;
    let snapshot = next_of(&mut on_a, "snapshot").await;
    assert_eq!(snapshot["id"], 2, "{snapshot}");
    let state = control_get(a.addr, "/control/doc?name=held").await;
    assert_eq!(state.status, 404, "held made room: {}", state.body);
}
