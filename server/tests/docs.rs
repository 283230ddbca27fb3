//! Shared documents over real sockets: sync (snapshot or replay), ops applied in one order for
//! every subscriber, compare-and-set rejects, `(origin, cseq)` de-duplication across
//! connections, unsync, validation and the `/control/doc` endpoint.

mod common;

use common::*;
use resocket::doc::{apply, Change, Doc, Entry, Op};
use serde_json::{json, Value};
use std::time::Duration;

/// A server without the price feed, keeping `doc_history` ops per document.
async fn server(doc_history: usize) -> resocket_server::Server {
    start(move |c| {
        c.doc_history = doc_history;
        c.feed_interval = Duration::ZERO;
    })
    .await
}

/// Opens a connection; returns it with the origin its session was assigned (`welcome.origin`).
async fn welcomed_with_origin(server: &resocket_server::Server) -> (Ws, String) {
    welcomed_origin_addr(server.local_addr()).await
}

async fn welcomed_origin_addr(addr: std::net::SocketAddr) -> (Ws, String) {
    let mut ws = connect_addr(addr).await;
    send(&mut ws, &hello(None, None)).await;
    let welcome = expect_kind(&mut ws, "welcome").await;
    let origin = welcome["payload"]["origin"]
        .as_str()
        .unwrap_or_else(|| panic!("welcome without origin: {welcome}"))
        .to_owned();
    (ws, origin)
}

async fn send_json(ws: &mut Ws, frame: Value) {
    send(ws, &frame.to_string()).await;
}

async fn sync_doc(ws: &mut Ws, id: u64, doc: &str, since: Option<u64>) {
    let payload = match since {
        Some(since) => json!({"since": since}),
        None => json!({}),
    };
    send_json(
        ws,
        json!({"kind": "sync", "id": id, "room": doc, "payload": payload}),
    )
    .await;
}

/// Syncs from revision `since` of `epoch`: replayed only when `epoch` is the document's.
async fn sync_since(ws: &mut Ws, id: u64, doc: &str, since: u64, epoch: &str) {
    let payload = json!({"since": since, "epoch": epoch});
    send_json(
        ws,
        json!({"kind": "sync", "id": id, "room": doc, "payload": payload}),
    )
    .await;
}

/// The epoch of `doc` (created if needed), as a fresh subscriber's snapshot says.
async fn epoch_of(server: &resocket_server::Server, doc: &str) -> String {
    let (mut ws, _) = welcomed(server).await;
    sync_doc(&mut ws, 1, doc, None).await;
    let snapshot = expect_kind(&mut ws, "snapshot").await;
    close(ws).await;
    snapshot["payload"]["epoch"]
        .as_str()
        .expect("a snapshot has an epoch")
        .to_owned()
}

/// Sends a client op: `body` is `{key, op, value?, ifRev?}`, `origin` is added.
async fn op(ws: &mut Ws, doc: &str, origin: &str, cseq: u64, body: Value) {
    let mut payload = body;
    payload["origin"] = origin.into();
    send_json(
        ws,
        json!({"kind": "op", "room": doc, "seq": cseq, "payload": payload}),
    )
    .await;
}

/// The applied `op` frame the server sends for `body` at `rev`.
fn applied(doc: &str, rev: u64, origin: &str, cseq: u64, body: Value) -> Value {
    let mut payload = body;
    payload["origin"] = origin.into();
    payload["cseq"] = cseq.into();
    json!({"kind": "op", "room": doc, "seq": rev, "payload": payload})
}

fn conflict(doc: &str, origin: &str, cseq: u64, message: &str) -> Value {
    json!({"kind": "reject", "room": doc, "payload": {"origin": origin, "cseq": cseq,
           "error": {"code": "conflict", "message": message}}})
}

async fn control_doc(server: &resocket_server::Server, doc: &str) -> Value {
    let reply = control_get(server.local_addr(), &format!("/control/doc?name={doc}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// A client's copy of a document, maintained with the shared `apply` from a snapshot and the
/// applied ops that follow it.
struct View {
    doc: Doc<Value>,
}

impl View {
    fn from_snapshot(frame: &Value) -> View {
        assert_eq!(frame["kind"], "snapshot", "{frame}");
        let mut doc = Doc::new();
        doc.rev = frame["seq"].as_u64().expect("seq");
        let entries = frame["payload"]["entries"].as_object().expect("entries");
        for (key, entry) in entries {
            let value = entry["value"].clone();
            let rev = entry["rev"].as_u64().expect("rev");
            doc.entries.insert(key.clone(), Entry { value, rev });
        }
        View { doc }
    }

    fn apply_frame(&mut self, frame: &Value) {
        assert_eq!(frame["kind"], "op", "{frame}");
        assert_eq!(
            frame["seq"].as_u64(),
            Some(self.doc.rev + 1),
            "in order: {frame}"
        );
        let payload = &frame["payload"];
        let value = || payload["value"].clone();
        let change = match payload["op"].as_str() {
            Some("set") => Change::Set(value()),
            Some("merge") => Change::Merge(value()),
            Some("delete") => Change::Delete,
            other => panic!("unknown op {other:?}"),
        };
        let op = Op {
            key: payload["key"].as_str().expect("key").to_owned(),
            change,
            if_rev: payload["ifRev"].as_u64(),
        };
        assert_eq!(
            apply(&mut self.doc, &op),
            Ok(frame["seq"].as_u64().expect("seq"))
        );
    }

    /// As `/control/doc` shows it.
    fn json(&self) -> Value {
        let entries: serde_json::Map<String, Value> = self
            .doc
            .entries
            .iter()
            .map(|(k, e)| (k.clone(), json!({"value": e.value, "rev": e.rev})))
            .collect();
        json!({"rev": self.doc.rev, "entries": entries})
    }
}

#[tokio::test]
async fn sync_on_a_new_document_gets_an_empty_snapshot_at_revision_0() {
    let server = server(1000).await;
    let addr = server.local_addr();
    assert_eq!(
        control_get(addr, "/control/doc?name=board").await.status,
        404
    );
    let (mut ws, _) = welcomed(&server).await;
    sync_doc(&mut ws, 9, "board", None).await;
    let snapshot = next_json(&mut ws).await;
    let epoch = snapshot["payload"]["epoch"].as_str().expect("an epoch");
    assert_eq!(
        snapshot,
        json!({"kind":"snapshot","id":9,"room":"board","seq":0,
               "payload":{"entries":{},"epoch":epoch}})
    );
    // `since` ahead of the server also gets a snapshot; `since` 0 is up to date.
    sync_since(&mut ws, 10, "board", 3, epoch).await;
    assert_eq!(expect_kind(&mut ws, "snapshot").await["seq"], 0);
    sync_since(&mut ws, 11, "board", 0, epoch).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"synced","id":11,"room":"board","seq":0,"payload":{"epoch":epoch}})
    );
    // In another epoch, or without one (an old client), `since` 0 means nothing: a snapshot.
    sync_since(&mut ws, 12, "board", 0, "another").await;
    assert_eq!(
        expect_kind(&mut ws, "snapshot").await["payload"]["epoch"],
        epoch
    );
    sync_doc(&mut ws, 13, "board", Some(0)).await;
    assert_eq!(
        expect_kind(&mut ws, "snapshot").await["payload"]["epoch"],
        epoch
    );
    assert_eq!(
        control_doc(&server, "board").await,
        json!({"rev": 0, "entries": {}})
    );
    assert_eq!(control_get(addr, "/control/stats").await.json()["docs"], 1);
    assert_eq!(control_get(addr, "/control/doc?name=").await.status, 400);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn ops_reach_every_subscriber_in_revision_order_with_the_origins_cseq() {
    let server = server(1000).await;
    let (mut a, ca) = welcomed_with_origin(&server).await;
    let (mut b, cb) = welcomed_with_origin(&server).await;
    for ws in [&mut a, &mut b] {
        sync_doc(ws, 1, "board", None).await;
        expect_kind(ws, "snapshot").await;
    }
    let steps = [
        (
            "c-a",
            1,
            json!({"key": "card-1", "op": "set", "value": {"x": 10}}),
        ),
        (
            "c-b",
            1,
            json!({"key": "card-1", "op": "merge", "value": {"y": 2}, "ifRev": 1}),
        ),
        (
            "c-a",
            2,
            json!({"key": "card-2", "op": "set", "value": [1]}),
        ),
        ("c-b", 2, json!({"key": "card-2", "op": "delete"})),
        (
            "c-a",
            3,
            json!({"key": "card-1", "op": "merge", "value": {"x": null}}),
        ),
    ];
    for (rev, (who, cseq, body)) in (1..).zip(steps.iter().cloned()) {
        let (ws, origin) = if who == "c-a" {
            (&mut a, ca.as_str())
        } else {
            (&mut b, cb.as_str())
        };
        op(ws, "board", origin, cseq, body.clone()).await;
        let expected = applied("board", rev, origin, cseq, body);
        assert_eq!(next_json(&mut a).await, expected);
        assert_eq!(next_json(&mut b).await, expected);
    }
    assert_eq!(
        control_doc(&server, "board").await,
        json!({"rev": 5, "entries": {"card-1": {"value": {"y": 2}, "rev": 5}}})
    );

    // Concurrent ops from both: each client sees the same sequence.
    for n in 0..20u64 {
        op(
            &mut a,
            "board",
            &ca,
            4 + n,
            json!({"key": "a", "op": "set", "value": n}),
        )
        .await;
        op(
            &mut b,
            "board",
            &cb,
            3 + n,
            json!({"key": "b", "op": "set", "value": n}),
        )
        .await;
    }
    let mut seen_a = Vec::new();
    let mut seen_b = Vec::new();
    for _ in 0..40 {
        seen_a.push(next_json(&mut a).await);
        seen_b.push(next_json(&mut b).await);
    }
    assert_eq!(seen_a, seen_b);
    let revs: Vec<u64> = seen_a.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(revs, (6..=45).collect::<Vec<_>>());
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_non_subscriber_gets_its_own_applied_op_only() {
    let server = server(1000).await;
    let (mut sub, _) = welcomed(&server).await;
    let (mut writer, w) = welcomed_with_origin(&server).await;
    let (mut bystander, _) = welcomed(&server).await;
    sync_doc(&mut sub, 1, "d", None).await;
    expect_kind(&mut sub, "snapshot").await;
    let body = json!({"key": "k", "op": "set", "value": "v"});
    op(&mut writer, "d", &w, 1, body.clone()).await;
    let expected = applied("d", 1, &w, 1, body);
    assert_eq!(next_json(&mut writer).await, expected);
    assert_eq!(next_json(&mut sub).await, expected);
    expect_quiet(&mut bystander).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_failed_compare_and_set_is_rejected_to_the_origin_only() {
    let server = server(1000).await;
    let (mut a, oa) = welcomed_with_origin(&server).await;
    let (mut b, ob) = welcomed_with_origin(&server).await;
    for ws in [&mut a, &mut b] {
        sync_doc(ws, 1, "d", None).await;
        expect_kind(ws, "snapshot").await;
    }
    op(
        &mut a,
        "d",
        &oa,
        1,
        json!({"key": "k", "op": "set", "value": 1, "ifRev": 0}),
    )
    .await;
    expect_kind(&mut a, "op").await;
    expect_kind(&mut b, "op").await;
    // b still thinks k is absent.
    op(
        &mut b,
        "d",
        &ob,
        1,
        json!({"key": "k", "op": "merge", "value": {"z": 1}, "ifRev": 0}),
    )
    .await;
    assert_eq!(
        next_json(&mut b).await,
        conflict("d", &ob, 1, "k is at revision 1, not 0")
    );
    expect_quiet(&mut a).await;
    assert_eq!(
        control_doc(&server, "d").await,
        json!({"rev": 1, "entries": {"k": {"value": 1, "rev": 1}}})
    );
    // With the right revision it applies.
    op(
        &mut b,
        "d",
        &ob,
        2,
        json!({"key": "k", "op": "set", "value": 2, "ifRev": 1}),
    )
    .await;
    assert_eq!(expect_kind(&mut b, "op").await["seq"], 2);
    assert_eq!(expect_kind(&mut a, "op").await["seq"], 2);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn duplicates_are_answered_from_the_record_and_never_applied_twice() {
    let server = server(1000).await;
    let addr = server.local_addr();
    let (mut a, oa) = welcomed_with_origin(&server).await;
    let (mut watcher, _) = welcomed(&server).await;
    for ws in [&mut a, &mut watcher] {
        sync_doc(ws, 1, "d", None).await;
        expect_kind(ws, "snapshot").await;
    }
    let set = json!({"key": "n", "op": "merge", "value": {"count": 1}});
    op(&mut a, "d", &oa, 1, set.clone()).await;
    let first = applied("d", 1, &oa, 1, set.clone());
    assert_eq!(next_json(&mut a).await, first);
    assert_eq!(next_json(&mut watcher).await, first);
    let stale = json!({"key": "n", "op": "set", "value": 0, "ifRev": 0});
    op(&mut a, "d", &oa, 2, stale.clone()).await;
    let rejected = conflict("d", &oa, 2, "n is at revision 1, not 0");
    assert_eq!(next_json(&mut a).await, rejected);

    // Re-sent on the same connection: the recorded answers, to the sender only.
    op(&mut a, "d", &oa, 1, set.clone()).await;
    assert_eq!(next_json(&mut a).await, first);
    op(&mut a, "d", &oa, 2, json!({"key": "n", "op": "delete"})).await;
    assert_eq!(next_json(&mut a).await, rejected);
    expect_quiet(&mut watcher).await;

    // After a drop, a new session (another origin) re-sends both: not subscribed, it is
    // refused; subscribed (as a client resyncs), it gets the recorded answers, applied once.
    close(a).await;
    let (mut again, origin) = welcomed_origin_addr(addr).await;
    assert_ne!(origin, oa);
    op(&mut again, "d", &oa, 1, set.clone()).await;
    assert_eq!(
        expect_kind(&mut again, "reject").await["payload"]["error"]["code"],
        "forbidden"
    );
    // After syncing from 0 it sees op 1 once in the replay; the re-sends get the records.
    let epoch = epoch_of(&server, "d").await;
    sync_since(&mut again, 2, "d", 0, &epoch).await;
    assert_eq!(next_json(&mut again).await, first);
    assert_eq!(expect_kind(&mut again, "synced").await["seq"], 1);
    op(&mut again, "d", &oa, 1, set.clone()).await;
    assert_eq!(next_json(&mut again).await, first);
    op(&mut again, "d", &oa, 2, stale).await;
    assert_eq!(next_json(&mut again).await, rejected);
    expect_quiet(&mut watcher).await;
    assert_eq!(
        control_doc(&server, "d").await,
        json!({"rev": 1, "entries": {"n": {"value": {"count": 1}, "rev": 1}}})
    );
    // An op of the old origin it never sent is refused; under its own origin it applies.
    op(&mut again, "d", &oa, 3, json!({"key": "n", "op": "delete"})).await;
    assert_eq!(
        expect_kind(&mut again, "reject").await["payload"]["error"]["code"],
        "forbidden"
    );
    expect_quiet(&mut watcher).await;

    // The next cseq is new.
    op(
        &mut again,
        "d",
        &origin,
        3,
        json!({"key": "n", "op": "delete"}),
    )
    .await;
    assert_eq!(expect_kind(&mut again, "op").await["seq"], 2);
    assert_eq!(expect_kind(&mut watcher, "op").await["seq"], 2);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn sync_with_since_in_the_log_replays_then_says_synced() {
    let server = server(1000).await;
    let (mut writer, w) = welcomed_with_origin(&server).await;
    for cseq in 1..=5u64 {
        op(
            &mut writer,
            "d",
            &w,
            cseq,
            json!({"key": "k", "op": "set", "value": cseq}),
        )
        .await;
        expect_kind(&mut writer, "op").await;
    }
    let epoch = epoch_of(&server, "d").await;
    let (mut late, _) = welcomed(&server).await;
    sync_since(&mut late, 4, "d", 2, &epoch).await;
    for rev in 3..=5u64 {
        assert_eq!(
            next_json(&mut late).await,
            applied(
                "d",
                rev,
                &w,
                rev,
                json!({"key": "k", "op": "set", "value": rev})
            )
        );
    }
    assert_eq!(
        next_json(&mut late).await,
        json!({"kind":"synced","id":4,"room":"d","seq":5,"payload":{"epoch":epoch}})
    );
    sync_since(&mut late, 5, "d", 5, &epoch).await;
    assert_eq!(
        next_json(&mut late).await,
        json!({"kind":"synced","id":5,"room":"d","seq":5,"payload":{"epoch":epoch}})
    );
    // Subscribed now: later ops arrive live.
    op(&mut writer, "d", &w, 6, json!({"key": "k", "op": "delete"})).await;
    assert_eq!(expect_kind(&mut late, "op").await["seq"], 6);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn since_older_than_the_log_gets_a_snapshot_that_matches_the_server() {
    let server = server(2).await;
    let (mut writer, w) = welcomed_with_origin(&server).await;
    let bodies = [
        json!({"key": "a", "op": "set", "value": {"x": 1, "y": [1, 2]}}),
        json!({"key": "b", "op": "set", "value": "two"}),
        json!({"key": "a", "op": "merge", "value": {"y": null, "z": {"w": true}}}),
        json!({"key": "b", "op": "delete"}),
        json!({"key": "c", "op": "set", "value": null}),
    ];
    for (cseq, body) in (1..).zip(bodies) {
        op(&mut writer, "d", &w, cseq, body).await;
        expect_kind(&mut writer, "op").await;
    }
    let (mut reader, _) = welcomed(&server).await;
    // The log holds revisions 4 and 5: since 2 is too old, since 3 is not.
    let epoch = epoch_of(&server, "d").await;
    sync_since(&mut reader, 1, "d", 2, &epoch).await;
    let snapshot = expect_kind(&mut reader, "snapshot").await;
    assert_eq!(snapshot["id"], 1);
    assert_eq!(snapshot["seq"], 5);
    let mut view = View::from_snapshot(&snapshot);
    assert_eq!(view.json(), control_doc(&server, "d").await);
    sync_since(&mut reader, 2, "d", 3, &epoch).await;
    assert_eq!(expect_kind(&mut reader, "op").await["seq"], 4);
    assert_eq!(expect_kind(&mut reader, "op").await["seq"], 5);
    assert_eq!(expect_kind(&mut reader, "synced").await["seq"], 5);

    // Snapshot + the ops after it, through the shared apply, equals the server's document.
    let later = [
        json!({"key": "a", "op": "merge", "value": {"x": 2}, "ifRev": 3}),
        json!({"key": "d", "op": "set", "value": [null, {"q": 1}]}),
        json!({"key": "c", "op": "merge", "value": {"k": "v"}}),
        json!({"key": "a", "op": "delete", "ifRev": 6}),
        json!({"key": "e", "op": "merge", "value": 7}),
    ];
    for (cseq, body) in (6..).zip(later) {
        op(&mut writer, "d", &w, cseq, body).await;
        expect_kind(&mut writer, "op").await;
        view.apply_frame(&next_json(&mut reader).await);
    }
    assert_eq!(view.doc.rev, 10);
    assert_eq!(view.json(), control_doc(&server, "d").await);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn bad_frames_get_bad_request_and_the_connection_keeps_working() {
    let server = server(1000).await;
    let (mut ws, origin) = welcomed_with_origin(&server).await;
    let long_room = "r".repeat(257);
    let bad = [
        json!({"kind": "sync", "id": 1}),
        json!({"kind": "sync", "id": 1, "room": ""}),
        json!({"kind": "sync", "id": 1, "room": long_room}),
        json!({"kind": "sync", "id": 1, "room": "d", "payload": {"since": "x"}}),
        json!({"kind": "unsync", "room": ""}),
        json!({"kind": "op", "room": "d", "payload": {"origin": "o", "key": "k", "op": "delete"}}),
        json!({"kind": "op", "room": "d", "seq": 0, "payload": {"origin": "o", "key": "k", "op": "delete"}}),
        json!({"kind": "op", "room": "d", "seq": 1}),
        json!({"kind": "op", "room": "d", "seq": 1, "payload": {"origin": "", "key": "k", "op": "delete"}}),
        json!({"kind": "op", "room": "d", "seq": 1, "payload": {"origin": "o".repeat(129), "key": "k", "op": "delete"}}),
        json!({"kind": "op", "room": "d", "seq": 1, "payload": {"origin": "o", "key": "k".repeat(1025), "op": "delete"}}),
        json!({"kind": "op", "room": "d", "seq": 1, "payload": {"origin": "o", "key": "k", "op": "set"}}),
        json!({"kind": "op", "room": "d", "seq": 1, "payload": {"origin": "o", "key": "k", "op": "merge"}}),
        json!({"kind": "op", "room": "d", "seq": 1, "payload": {"origin": "o", "key": "k", "op": "swap", "value": 1}}),
        json!({"kind": "op", "room": "d", "seq": 1, "payload": {"origin": "o", "key": 5, "op": "delete"}}),
    ];
    for frame in bad {
        send_json(&mut ws, frame.clone()).await;
        let error = expect_kind(&mut ws, "error").await;
        assert_eq!(error["error"]["code"], "bad_request", "{frame} -> {error}");
        if frame["kind"] != "sync" && frame["room"] == "d" {
            assert_eq!(error["room"], "d", "{error}");
        }
    }
    for kind in ["synced", "snapshot", "reject"] {
        send_json(&mut ws, json!({"kind": kind, "room": "d"})).await;
        assert_eq!(
            expect_kind(&mut ws, "error").await["error"]["code"],
            "unexpected"
        );
    }
    // Nothing was applied, and the connection still works.
    assert_eq!(
        control_get(server.local_addr(), "/control/doc?name=d")
            .await
            .status,
        404
    );
    op(
        &mut ws,
        "d",
        &origin,
        1,
        json!({"key": "k", "op": "set", "value": 1}),
    )
    .await;
    assert_eq!(expect_kind(&mut ws, "op").await["seq"], 1);
    sync(&mut ws).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn after_unsync_or_disconnect_no_more_ops_arrive() {
    let server = server(1000).await;
    let (mut a, oa) = welcomed_with_origin(&server).await;
    let (mut b, _) = welcomed(&server).await;
    let (mut gone, _) = welcomed(&server).await;
    for ws in [&mut a, &mut b, &mut gone] {
        sync_doc(ws, 1, "d", None).await;
        expect_kind(ws, "snapshot").await;
    }
    send_json(&mut b, json!({"kind": "unsync", "id": 2, "room": "d"})).await;
    // unsync is not answered: the pong comes first.
    sync(&mut b).await;
    close(gone).await;
    op(
        &mut a,
        "d",
        &oa,
        1,
        json!({"key": "k", "op": "set", "value": 1}),
    )
    .await;
    assert_eq!(expect_kind(&mut a, "op").await["seq"], 1);
    expect_quiet(&mut b).await;
    // Unsync of a document never synced (or unknown) is fine too.
    send_json(&mut b, json!({"kind": "unsync", "room": "other"})).await;
    expect_quiet(&mut b).await;
    server.shutdown().await.expect("clean shutdown");
}
