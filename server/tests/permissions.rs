//! The per-namespace permissions (`--config`, docs/AUTH.md) over real sockets: refused joins,
//! syncs, publishes, doc ops and broadcasts answer `forbidden` with a reason and leave the
//! connection (and everyone else) working; presence off; history size and TTL; server-side
//! publishes and ops (the server API, the price feed) stay allowed.
//! Identities are the users the clients claim (`--insecure-trust-client-user`).

mod common;

use common::*;
use resocket_server::auth::{ApiKey, Namespaces};
use resocket_server::{ApiSettings, Server};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

const KEY: &str = "permissions-test-key-0123456789";

/// Production-like rules: names without ':' (`lobby`, `prices`) need a user id and refuse
/// client publishes; client broadcast is off (the default).
const RULES: &str = r#"
[default]
join = "authenticated"

[namespaces.chat]
publish = true

[namespaces.news]
join = "anyone"

[namespaces.board]
doc_write = "none"

[namespaces.notes]
doc_write = "owner"

[namespaces.quiet]
publish = true
presence = false

[namespaces.short]
publish = true
history_size = 3

[namespaces.brief]
publish = true
history_ttl_secs = 1
"#;

async fn start_with_rules(feed: Duration) -> Server {
    start(|config| {
        config.auth.namespaces = Namespaces::from_toml_str(RULES).expect("valid rules");
        config.feed_interval = feed;
        config.api = Some(ApiSettings {
            key: ApiKey::new(KEY, "test").expect("key"),
            addr: None,
            max_body_bytes: 4096,
        });
    })
    .await
}

async fn user(server: &Server, name: &str) -> Ws {
    handshake(server, Some(name), None).await.0
}

async fn api(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    api_call(addr, KEY, method, path, body).await
}

/// Sends `join` with `id` and returns the answer (`joined` or `error`).
async fn join(ws: &mut Ws, id: u64, room: &str, since: Option<u64>) -> Value {
    let mut frame = json!({"kind": "join", "id": id, "room": room});
    if let Some(since) = since {
        frame["payload"] = json!({ "since": since });
    }
    send(ws, &frame.to_string()).await;
    next_json(ws).await
}

/// Joins with `since` counted in `epoch` (a `joined` frame's).
async fn join_since(ws: &mut Ws, id: u64, room: &str, since: u64, epoch: &Value) -> Value {
    let payload = json!({"since": since, "epoch": epoch});
    let frame = json!({"kind": "join", "id": id, "room": room, "payload": payload});
    send(ws, &frame.to_string()).await;
    next_json(ws).await
}

/// Asserts a `forbidden` error frame with this id, room and reason.
fn assert_forbidden(frame: &Value, id: Option<u64>, room: Option<&str>, reason: &str) {
    assert_eq!(frame["kind"], "error", "{frame}");
    assert_eq!(frame["id"], id.map_or(Value::Null, Value::from), "{frame}");
    assert_eq!(
        frame["room"],
        room.map_or(Value::Null, Value::from),
        "{frame}"
    );
    assert_eq!(frame["error"]["code"], "forbidden", "{frame}");
    let message = frame["error"]["message"].as_str().expect("message");
    assert!(message.starts_with(&format!("{reason}: ")), "{frame}");
}

/// The connection still answers and can still do what it may.
async fn still_works(ws: &mut Ws, id: u64) {
    sync(ws).await;
    let joined = join(ws, id, "chat:still-works", None).await;
    assert_eq!(joined["kind"], "joined", "{joined}");
}

#[tokio::test]
async fn private_rooms_admit_their_owner_only_and_anonymous_needs_anyone() {
    let server = start_with_rules(Duration::ZERO).await;
    let mut alice = user(&server, "alice").await;
    let mut bob = user(&server, "bob").await;

    let refused = join(&mut bob, 1, "private:alice", None).await;
    assert_forbidden(&refused, Some(1), Some("private:alice"), "not_owner");
    let joined = join(&mut alice, 1, "private:alice", None).await;
    assert_eq!(joined["kind"], "joined", "{joined}");
    // A document of the same name is refused the same way.
    send(&mut bob, r#"{"kind":"sync","id":2,"room":"private:alice"}"#).await;
    let refused = next_json(&mut bob).await;
    assert_forbidden(&refused, Some(2), Some("private:alice"), "not_owner");
    still_works(&mut bob, 3).await;
    expect_quiet(&mut alice).await;

    let (mut anonymous, _) = welcomed(&server).await;
    let refused = join(&mut anonymous, 1, "lobby", None).await;
    assert_forbidden(&refused, Some(1), Some("lobby"), "not_authenticated");
    let joined = join(&mut anonymous, 2, "news:1", None).await;
    assert_eq!(joined["kind"], "joined", "{joined}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn nobody_publishes_into_prices_while_the_feed_reaches_members() {
    let server = start_with_rules(Duration::from_millis(20)).await;
    let mut alice = user(&server, "alice").await;
    let mut bob = user(&server, "bob").await;
    for ws in [&mut alice, &mut bob] {
        let joined = join(ws, 1, "prices", None).await;
        assert_eq!(joined["kind"], "joined", "{joined}");
    }
    send(
        &mut bob,
        r#"{"kind":"publish","id":2,"room":"prices","payload":{"type":"tick","price":0}}"#,
    )
    .await;
    // Ticks may come first; the refusal comes among them.
    let mut refused = None;
    for _ in 0..200 {
        let frame = next_json(&mut bob).await;
        if frame["kind"] == "error" {
            refused = Some(frame);
            break;
        }
        assert_eq!(frame["kind"], "msg", "{frame}");
    }
    let refused = refused.expect("the publish is refused");
    assert_forbidden(&refused, Some(2), Some("prices"), "publish_disabled");
    // The feed goes on for both, and nothing from bob ever reaches alice (who also hears
    // that bob joined).
    for ws in [&mut alice, &mut bob] {
        let mut ticks = 0;
        while ticks < 10 {
            let msg = next_json(ws).await;
            if msg["kind"] == "presence" {
                continue;
            }
            ticks += 1;
            assert_eq!(msg["kind"], "msg", "{msg}");
            assert_eq!(msg["room"], "prices", "{msg}");
            assert_eq!(msg["payload"]["type"], "tick", "{msg}");
            assert!(msg.get("user").is_none(), "{msg}");
        }
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_publish_false_namespace_refuses_clients_but_not_the_server_api() {
    let server = start_with_rules(Duration::ZERO).await;
    let addr = server.local_addr();
    let mut alice = user(&server, "alice").await;
    let mut bob = user(&server, "bob").await;
    for ws in [&mut alice, &mut bob] {
        let joined = join(ws, 1, "lobby", None).await;
        assert_eq!(joined["kind"], "joined", "{joined}");
    }
    expect_kind(&mut alice, "presence").await;
    send(
        &mut alice,
        r#"{"kind":"publish","id":2,"room":"lobby","payload":"hi"}"#,
    )
    .await;
    let refused = next_json(&mut alice).await;
    assert_forbidden(&refused, Some(2), Some("lobby"), "publish_disabled");
    expect_quiet(&mut bob).await;

    let (status, body) = api(
        addr,
        "POST",
        "/api/v1/rooms/lobby/publish",
        r#"{"payload":"from the backend"}"#,
    )
    .await;
    assert_eq!((status, body), (200, json!({"seq": 1, "members": 2})));
    for ws in [&mut alice, &mut bob] {
        let msg = expect_kind(ws, "msg").await;
        assert_eq!(
            msg,
            json!({"kind": "msg", "room": "lobby", "seq": 1, "payload": "from the backend"})
        );
    }
    // Where clients may publish, they can.
    let joined = join(&mut alice, 3, "chat:1", None).await;
    assert_eq!(joined["kind"], "joined", "{joined}");
    send(
        &mut alice,
        r#"{"kind":"publish","room":"chat:1","payload":1}"#,
    )
    .await;
    let msg = expect_kind(&mut alice, "msg").await;
    assert_eq!(msg["user"], "alice", "{msg}");
    server.shutdown().await.expect("clean shutdown");
}

/// Sends an op under the origin the welcome assigned (or a made-up one without).
async fn op(ws: &mut Ws, doc: &str, origin: &str, cseq: u64, key: &str, value: Value) {
    let frame = json!({"kind": "op", "room": doc, "seq": cseq,
        "payload": {"origin": origin, "key": key, "op": "set", "value": value}});
    send(ws, &frame.to_string()).await;
}

/// Opens a connection as `name` and syncs `doc`; returns it with its op origin.
async fn synced(server: &Server, name: &str, doc: &str) -> (Ws, String) {
    let mut ws = connect(server).await;
    send(&mut ws, &hello(Some(name), None)).await;
    let welcome = expect_kind(&mut ws, "welcome").await;
    let origin = welcome["payload"]["origin"]
        .as_str()
        .map_or_else(|| format!("c-{name}"), str::to_owned);
    let frame = json!({"kind": "sync", "id": 1, "room": doc});
    send(&mut ws, &frame.to_string()).await;
    let snapshot = expect_kind(&mut ws, "snapshot").await;
    assert_eq!(snapshot["room"], doc, "{snapshot}");
    (ws, origin)
}

#[tokio::test]
async fn doc_ops_need_the_write_right_while_sync_and_server_ops_work() {
    let server = start_with_rules(Duration::ZERO).await;
    let addr = server.local_addr();

    // doc_write = "none": members sync and see server ops, their own ops are rejected.
    let (mut alice, origin) = synced(&server, "alice", "board:1").await;
    op(&mut alice, "board:1", &origin, 1, "card", json!(1)).await;
    let reject = expect_kind(&mut alice, "reject").await;
    assert_eq!(reject["room"], "board:1", "{reject}");
    assert_eq!(reject["payload"]["origin"], origin.as_str(), "{reject}");
    assert_eq!(reject["payload"]["cseq"], 1, "{reject}");
    assert_eq!(reject["payload"]["error"]["code"], "forbidden", "{reject}");
    let message = reject["payload"]["error"]["message"]
        .as_str()
        .expect("text");
    assert!(message.starts_with("doc_read_only: "), "{reject}");
    let (status, _) = api(
        addr,
        "PUT",
        "/api/v1/docs/board:1/keys/card",
        r#"{"value":2}"#,
    )
    .await;
    assert_eq!(status, 200);
    let applied = expect_kind(&mut alice, "op").await;
    assert_eq!(
        (applied["seq"].clone(), applied["payload"]["value"].clone()),
        (json!(1), json!(2))
    );

    // doc_write = "owner": bob may sync alice's notes but not write them; alice may.
    let (mut owner, owner_origin) = synced(&server, "alice", "notes:alice").await;
    let (mut bob, bob_origin) = synced(&server, "bob", "notes:alice").await;
    op(&mut bob, "notes:alice", &bob_origin, 1, "todo", json!("x")).await;
    let reject = expect_kind(&mut bob, "reject").await;
    assert_eq!(reject["payload"]["error"]["code"], "forbidden", "{reject}");
    let message = reject["payload"]["error"]["message"]
        .as_str()
        .expect("text");
    assert!(message.starts_with("not_owner: "), "{reject}");
    expect_quiet(&mut owner).await;
    op(
        &mut owner,
        "notes:alice",
        &owner_origin,
        1,
        "todo",
        json!("milk"),
    )
    .await;
    for ws in [&mut owner, &mut bob] {
        let applied = expect_kind(ws, "op").await;
        assert_eq!(applied["payload"]["value"], "milk", "{applied}");
    }
    // Bob's connection keeps working.
    still_works(&mut bob, 7).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn presence_off_lists_no_members_and_announces_nothing() {
    let server = start_with_rules(Duration::ZERO).await;
    let addr = server.local_addr();
    let mut alice = user(&server, "alice").await;
    let mut bob = user(&server, "bob").await;
    let joined = join(&mut alice, 1, "quiet:1", None).await;
    assert_eq!(joined["payload"]["members"], json!([]), "{joined}");
    let joined = join(&mut bob, 1, "quiet:1", None).await;
    assert_eq!(joined["payload"]["members"], json!([]), "{joined}");
    send(
        &mut bob,
        r#"{"kind":"presence","room":"quiet:1","payload":{"meta":{"typing":true}}}"#,
    )
    .await;
    send(&mut bob, r#"{"kind":"leave","id":2,"room":"quiet:1"}"#).await;
    assert_eq!(expect_kind(&mut bob, "left").await["id"], 2);
    expect_quiet(&mut alice).await;
    // Messages still flow.
    let joined = join(&mut bob, 3, "quiet:1", None).await;
    assert_eq!(joined["kind"], "joined", "{joined}");
    send(
        &mut bob,
        r#"{"kind":"publish","room":"quiet:1","payload":"hi"}"#,
    )
    .await;
    let msg = expect_kind(&mut alice, "msg").await;
    assert_eq!(msg["user"], "bob", "{msg}");
    // The server API still sees who is there.
    let (status, members) = api(addr, "GET", "/api/v1/rooms/quiet:1/presence", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        members["members"].as_array().map(Vec::len),
        Some(2),
        "{members}"
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn history_keeps_the_namespaces_size_and_drops_expired_messages() {
    let server = start_with_rules(Duration::ZERO).await;
    let mut alice = user(&server, "alice").await;
    let joined = join(&mut alice, 1, "short:1", None).await;
    assert_eq!(joined["kind"], "joined", "{joined}");
    let epoch = joined["payload"]["epoch"].clone();
    for n in 1..=5 {
        let frame = json!({"kind": "publish", "room": "short:1", "payload": n});
        send(&mut alice, &frame.to_string()).await;
        expect_kind(&mut alice, "msg").await;
    }
    let mut bob = user(&server, "bob").await;
    // history_size = 3 holds 3..=5.
    let gap = join_since(&mut bob, 1, "short:1", 1, &epoch).await;
    assert_eq!(gap["payload"]["recovered"], false, "{gap}");
    let joined = join_since(&mut bob, 2, "short:1", 2, &epoch).await;
    assert_eq!(joined["payload"]["recovered"], true, "{joined}");
    for n in 3..=5 {
        assert_eq!(expect_kind(&mut bob, "msg").await["payload"], n);
    }
    expect_kind(&mut alice, "presence").await;

    // history_ttl_secs = 1: a message kept is replayed, once expired it is not.
    let joined = join(&mut alice, 3, "brief:1", None).await;
    assert_eq!(joined["kind"], "joined", "{joined}");
    let epoch = joined["payload"]["epoch"].clone();
    send(
        &mut alice,
        r#"{"kind":"publish","room":"brief:1","payload":1}"#,
    )
    .await;
    expect_kind(&mut alice, "msg").await;
    let kept = join_since(&mut bob, 3, "brief:1", 0, &epoch).await;
    assert_eq!(kept["payload"]["recovered"], true, "{kept}");
    assert_eq!(expect_kind(&mut bob, "msg").await["payload"], 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = join_since(&mut bob, 4, "brief:1", 0, &epoch).await;
    assert_eq!(expired["seq"], 1, "{expired}");
    assert_eq!(expired["payload"]["recovered"], false, "{expired}");
    expect_quiet(&mut bob).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn client_broadcast_is_refused_by_default() {
    let server = start_with_rules(Duration::ZERO).await;
    let mut alice = user(&server, "alice").await;
    let mut bob = user(&server, "bob").await;
    send(
        &mut alice,
        r#"{"kind":"broadcast","payload":"to everyone"}"#,
    )
    .await;
    let refused = next_json(&mut alice).await;
    assert_forbidden(&refused, None, None, "broadcast_disabled");
    expect_quiet(&mut bob).await;
    still_works(&mut alice, 1).await;
    server.shutdown().await.expect("clean shutdown");
}
