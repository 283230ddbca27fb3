//! A real restart over real sockets: a server is stopped and a new one (empty state) starts on
//! the same port. A client that rejoins with its last `since` and epoch is told the stream
//! restarted (`recovered: false`, a new epoch) and gets every message published after the
//! restart; a document client gets a snapshot instead of a replay of another history.

mod common;

use common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

/// A server without the price feed on `addr` (port 0: a free one).
async fn server_on(addr: SocketAddr) -> resocket_server::Server {
    start(move |c| {
        c.addr = addr;
        c.feed_interval = Duration::ZERO;
    })
    .await
}

/// Stops `server` and starts a new one on the same port: everything it held is gone.
async fn restart(server: resocket_server::Server) -> resocket_server::Server {
    let addr = server.local_addr();
    server.shutdown().await.expect("clean shutdown");
    server_on(addr).await
}

async fn send_json(ws: &mut Ws, frame: Value) {
    send(ws, &frame.to_string()).await;
}

async fn publish(server: &resocket_server::Server, room: &str, n: u64) {
    let path = format!("/control/publish?room={room}");
    let reply = control_post(server.local_addr(), &path, &n.to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
}

fn epoch(frame: &Value) -> String {
    frame["payload"]["epoch"]
        .as_str()
        .unwrap_or_else(|| panic!("no epoch in {frame}"))
        .to_owned()
}

#[tokio::test]
async fn a_rejoin_after_a_restart_is_not_recovered_and_gets_every_message_published_since() {
    let server = server_on(SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let (mut ws, _) = handshake(&server, None, None).await;
    send_json(&mut ws, json!({"kind": "join", "id": 1, "room": "news"})).await;
    let old_epoch = epoch(&expect_kind(&mut ws, "joined").await);
    for n in 1..=3 {
        publish(&server, "news", n).await;
        assert_eq!(expect_kind(&mut ws, "msg").await["seq"], n);
    }
    let last_seq = 3;

    let server = restart(server).await;
    assert_eq!(
        expect_close(&mut ws).await.0,
        1001,
        "the old server went away"
    );
    // Published after the restart, before the client is back.
    for n in 1..=2 {
        publish(&server, "news", 100 + n).await;
    }
    let (mut ws, _) = handshake(&server, None, None).await;
    let join = json!({"kind": "join", "id": 2, "room": "news",
                      "payload": {"since": last_seq, "epoch": old_epoch}});
    send_json(&mut ws, join).await;
    let joined = expect_kind(&mut ws, "joined").await;
    assert_eq!(joined["payload"]["recovered"], false, "{joined}");
    let new_epoch = epoch(&joined);
    assert_ne!(new_epoch, old_epoch, "a new stream, a new epoch");
    // Then live ones.
    for n in 3..=5 {
        publish(&server, "news", 100 + n).await;
    }
    let mut received = Vec::new();
    for _ in 1..=5 {
        let msg = expect_kind(&mut ws, "msg").await;
        received.push((msg["seq"].clone(), msg["payload"].clone()));
    }
    let expected: Vec<(Value, Value)> = (1..=5u64).map(|n| (json!(n), json!(100 + n))).collect();
    assert_eq!(
        received, expected,
        "every message published after the restart"
    );
    expect_quiet(&mut ws).await;

    // The same `since` without an epoch (an old client) is not trusted either.
    let join = json!({"kind": "join", "id": 3, "room": "news", "payload": {"since": last_seq}});
    send_json(&mut ws, join).await;
    assert_eq!(
        expect_kind(&mut ws, "joined").await["payload"]["recovered"],
        false
    );
    expect_quiet(&mut ws).await;
    server.shutdown().await.expect("clean shutdown");
}

fn set(key: &str, value: Value) -> Value {
    json!({"key": key, "op": "set", "value": value})
}

/// A connection and the document-op origin its session was assigned (`welcome.origin`).
async fn welcomed_origin(server: &resocket_server::Server) -> (Ws, String) {
    let mut ws = connect(server).await;
    send(&mut ws, &hello(None, None)).await;
    let welcome = expect_kind(&mut ws, "welcome").await;
    let origin = welcome["payload"]["origin"]
        .as_str()
        .unwrap_or_else(|| panic!("welcome without origin: {welcome}"))
        .to_owned();
    (ws, origin)
}

async fn op(ws: &mut Ws, origin: &str, cseq: u64, body: Value) {
    let mut payload = body;
    payload["origin"] = origin.into();
    send_json(
        ws,
        json!({"kind": "op", "room": "board", "seq": cseq, "payload": payload}),
    )
    .await;
}

#[tokio::test]
async fn a_document_resync_after_a_restart_gets_a_snapshot_not_another_historys_ops() {
    let server = server_on(SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let (mut ws, old_origin) = welcomed_origin(&server).await;
    send_json(&mut ws, json!({"kind": "sync", "id": 1, "room": "board"})).await;
    let old_epoch = epoch(&expect_kind(&mut ws, "snapshot").await);
    for cseq in 1..=3 {
        op(&mut ws, &old_origin, cseq, set("old", json!(cseq))).await;
        assert_eq!(expect_kind(&mut ws, "op").await["seq"], cseq);
    }

    let server = restart(server).await;
    assert_eq!(expect_close(&mut ws).await.0, 1001);
    // Another client pushes the new document past the first client's revision (3).
    let (mut other, other_origin) = welcomed_origin(&server).await;
    for cseq in 1..=5 {
        op(&mut other, &other_origin, cseq, set("new", json!(cseq))).await;
        expect_kind(&mut other, "op").await;
    }
    let (mut ws, origin) = welcomed_origin(&server).await;
    let sync = json!({"kind": "sync", "id": 2, "room": "board",
                      "payload": {"since": 3, "epoch": old_epoch}});
    send_json(&mut ws, sync).await;
    let snapshot = expect_kind(&mut ws, "snapshot").await;
    assert_ne!(epoch(&snapshot), old_epoch);
    assert_eq!(snapshot["seq"], 5);
    assert_eq!(
        snapshot["payload"]["entries"],
        json!({"new": {"value": 5, "rev": 5}}),
        "the new history, nothing of the old"
    );
    // The client's pending op, re-sent on top of the snapshot: under the lost session's origin
    // it is refused (nothing recorded it here), moved to the new session's origin it applies.
    op(&mut ws, &old_origin, 4, set("mine", json!(true))).await;
    let refused = expect_kind(&mut ws, "reject").await;
    assert_eq!(
        refused["payload"]["error"]["code"], "forbidden",
        "{refused}"
    );
    op(&mut ws, &origin, 4, set("mine", json!(true))).await;
    assert_eq!(expect_kind(&mut ws, "op").await["seq"], 6);
    // Later ops arrive live.
    op(&mut other, &other_origin, 6, set("new", json!(6))).await;
    assert_eq!(expect_kind(&mut ws, "op").await["seq"], 7);
    let doc = control_get(server.local_addr(), "/control/doc?name=board")
        .await
        .json();
    assert_eq!(
        doc,
        json!({"rev": 7, "entries": {"new": {"value": 6, "rev": 7},
                                     "mine": {"value": true, "rev": 6}}})
    );
    server.shutdown().await.expect("clean shutdown");
}
