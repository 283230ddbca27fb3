//! Server-assigned document-op origins over real sockets: each session gets its own random
//! origin in `welcome` (kept on resume), an op under any other origin (another session's, or
//! the reserved `server`) is refused `forbidden` and not applied, and a client whose session was
//! lost learns what became of the ops it made under the old origin (`docs/PROTOCOL.md`).

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

async fn server() -> resocket_server::Server {
    start(|c| c.feed_interval = Duration::ZERO).await
}

/// What a `welcome` said, with the origin.
struct Session {
    id: String,
    token: String,
    resumed: bool,
    origin: String,
}

/// Opens a connection with `hello(user, resume)`; returns it with its welcome.
async fn open(
    server: &resocket_server::Server,
    user: Option<&str>,
    resume: Option<(&str, &str)>,
) -> (Ws, Session) {
    let mut ws = connect(server).await;
    send(&mut ws, &hello(user, resume)).await;
    let welcome = expect_kind(&mut ws, "welcome").await;
    let text = |name: &str| {
        welcome["payload"][name]
            .as_str()
            .unwrap_or_else(|| panic!("welcome without {name}: {welcome}"))
            .to_owned()
    };
    let session = Session {
        id: text("session"),
        token: text("token"),
        origin: text("origin"),
        resumed: welcome["payload"]["resumed"].as_bool() == Some(true),
    };
    (ws, session)
}

async fn sync_doc(ws: &mut Ws, doc: &str) {
    let frame = json!({"kind": "sync", "id": 1, "room": doc, "payload": {}});
    send(ws, &frame.to_string()).await;
    expect_kind(ws, "snapshot").await;
}

async fn op(ws: &mut Ws, origin: &str, cseq: u64, value: Value) {
    let frame = json!({"kind": "op", "room": "d", "seq": cseq,
        "payload": {"origin": origin, "key": "k", "op": "set", "value": value}});
    send(ws, &frame.to_string()).await;
}

/// The next frame must be a `reject` of `(origin, cseq)` with code `forbidden`.
async fn expect_forbidden(ws: &mut Ws, origin: &str, cseq: u64) {
    let reject = expect_kind(ws, "reject").await;
    assert_eq!(reject["room"], "d", "{reject}");
    assert_eq!(reject["payload"]["origin"], origin, "{reject}");
    assert_eq!(reject["payload"]["cseq"], cseq, "{reject}");
    assert_eq!(reject["payload"]["error"]["code"], "forbidden", "{reject}");
}

async fn doc_state(server: &resocket_server::Server) -> Value {
    control_get(server.local_addr(), "/control/doc?name=d")
        .await
        .json()
}

#[tokio::test]
async fn every_session_gets_its_own_random_origin_and_a_resumed_one_keeps_it() {
    let server = server().await;
    // The same hello twice (what two clients with the same seed send): two origins.
    let (a, first) = open(&server, Some("alice"), None).await;
    let (_b, second) = open(&server, Some("alice"), None).await;
    assert_ne!(first.origin, second.origin);
    for origin in [&first.origin, &second.origin] {
        assert!(origin.starts_with("o-") && origin.len() == 34, "{origin}");
        assert_ne!(origin, "server");
    }
    close(a).await;
    let (_again, resumed) = open(&server, Some("alice"), Some((&first.id, &first.token))).await;
    assert!(resumed.resumed);
    assert_eq!(
        resumed.origin, first.origin,
        "a resumed session keeps its origin"
    );
    // A session that cannot be resumed (here: a wrong token) is a new one, with a new origin.
    let (_lost, fresh) = open(&server, Some("alice"), Some((&first.id, "wrong"))).await;
    assert!(!fresh.resumed);
    assert_ne!(fresh.origin, first.origin);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_op_under_another_sessions_origin_is_forbidden_and_not_applied() {
    let server = server().await;
    let (mut victim, v) = open(&server, None, None).await;
    let (mut thief, t) = open(&server, None, None).await;
    sync_doc(&mut victim, "d").await;
    sync_doc(&mut thief, "d").await;
    op(&mut victim, &v.origin, 1, json!("mine")).await;
    expect_kind(&mut victim, "op").await;
    expect_kind(&mut thief, "op").await;

    // The victim's next cseq, and the reserved server origin: refused, nothing applied.
    op(&mut thief, &v.origin, 2, json!("stolen")).await;
    expect_forbidden(&mut thief, &v.origin, 2).await;
    op(&mut thief, "server", 1, json!("as the server")).await;
    expect_forbidden(&mut thief, "server", 1).await;
    expect_quiet(&mut victim).await;
    assert_eq!(
        doc_state(&server).await,
        json!({"rev": 1, "entries": {"k": {"value": "mine", "rev": 1}}})
    );

    // The thief's connection keeps serving, and the victim's cseq 2 was not taken.
    op(&mut thief, &t.origin, 1, json!("thief's own")).await;
    assert_eq!(expect_kind(&mut thief, "op").await["seq"], 2);
    assert_eq!(expect_kind(&mut victim, "op").await["seq"], 2);
    op(&mut victim, &v.origin, 2, json!("mine again")).await;
    let applied = expect_kind(&mut victim, "op").await;
    assert_eq!(applied["seq"], 3);
    assert_eq!(applied["payload"]["origin"], v.origin.as_str());
    assert_eq!(expect_kind(&mut thief, "op").await["seq"], 3);
    sync(&mut thief).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn after_a_lost_session_old_ops_get_their_record_or_forbidden_never_a_second_apply() {
    let server = server().await;
    let (mut old, first) = open(&server, None, None).await;
    sync_doc(&mut old, "d").await;
    // Op 1 was applied; op 2 was lost with the connection (never reached the server).
    op(&mut old, &first.origin, 1, json!(1)).await;
    expect_kind(&mut old, "op").await;
    close(old).await;

    // The session is lost: the client gets a new one, with a new origin.
    let (mut ws, second) = open(&server, None, Some((&first.id, "expired"))).await;
    assert!(!second.resumed);
    sync_doc(&mut ws, "d").await;
    // It re-sends both pending ops as they were: op 1 is answered with its record (not applied
    // again), op 2 is refused, so it is known never to have been applied...
    op(&mut ws, &first.origin, 1, json!(1)).await;
    let record = expect_kind(&mut ws, "op").await;
    assert_eq!(record["seq"], 1);
    assert_eq!(record["payload"]["origin"], first.origin.as_str());
    op(&mut ws, &first.origin, 2, json!(2)).await;
    expect_forbidden(&mut ws, &first.origin, 2).await;
    assert_eq!(doc_state(&server).await["rev"], 1);
    // ...and made again under the new origin, with the same cseq: applied once.
    op(&mut ws, &second.origin, 2, json!(2)).await;
    assert_eq!(expect_kind(&mut ws, "op").await["seq"], 2);
    op(&mut ws, &second.origin, 2, json!(2)).await;
    assert_eq!(
        expect_kind(&mut ws, "op").await["seq"],
        2,
        "the record again"
    );
    assert_eq!(
        doc_state(&server).await,
        json!({"rev": 2, "entries": {"k": {"value": 2, "rev": 2}}})
    );
    server.shutdown().await.expect("clean shutdown");
}
