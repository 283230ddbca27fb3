//! Browser tests of shared documents: the real WASM client in headless Chromium against the real
//! test server (started by the test command).
#![cfg(target_arch = "wasm32")]

mod browser_support;

use browser_support::*;
use resocket::{Client, SyncedDoc};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const FAST: &str =
    r#"{"reconnect":{"initialDelayMs":50,"maxDelayMs":200},"heartbeat":{"intervalMs":0}}"#;

async fn server_doc(name: &str) -> JsValue {
    server_control(&format!("/control/doc?name={name}"), None).await
}

/// The view as a JSON string with sorted keys, comparable across clients.
fn view(doc: &SyncedDoc) -> String {
    let keys = doc.keys();
    let parts: Vec<String> = keys
        .iter()
        .map(|k| {
            let key = k.as_string().unwrap_or_default();
            format!("{}:{}", key, text(&doc.get(&key)))
        })
        .collect();
    parts.join(",")
}

/// The server's document in the same form.
fn server_view(doc: &JsValue) -> String {
    let entries = field(doc, "entries");
    let keys = js_sys::Object::keys(entries.unchecked_ref::<js_sys::Object>());
    keys.sort();
    keys.iter()
        .map(|k| {
            let key = k.as_string().unwrap_or_default();
            format!("{}:{}", key, text(&field(&field(&entries, &key), "value")))
        })
        .collect::<Vec<_>>()
        .join(",")
}

async fn settled(doc: &SyncedDoc) {
    wait_for("synced and nothing pending", 5_000, || {
        doc.synced() && doc.pending() == 0
    })
    .await;
}

/// Two connected clients with document `name` open and synced on both.
async fn two_clients_on(name: &str) -> (Client, Client, SyncedDoc, SyncedDoc) {
    let alice = open_client(FAST).await;
    let bob = open_client(FAST).await;
    let a = alice.doc(name.to_owned(), None).expect("doc");
    let b = bob.doc(name.to_owned(), None).expect("doc");
    settled(&a).await;
    settled(&b).await;
    (alice, bob, a, b)
}

#[wasm_bindgen_test]
async fn concurrent_edits_converge_on_both_clients_and_the_server() {
    let name = unique("board");
    let (alice, bob, a, b) = two_clients_on(&name).await;
    a.set("card-1".into(), json(r#"{"x":1,"y":1}"#), None)
        .expect("set");
    assert_eq!(
        text(&a.get("card-1")),
        r#"{"x":1,"y":1}"#,
        "applied at once"
    );
    b.merge("card-1".into(), json(r#"{"y":2,"z":3}"#), None)
        .expect("merge");
    b.set("card-2".into(), json(r#""b""#), None).expect("set");
    a.delete("card-2".into(), None).expect("delete");
    settled(&a).await;
    settled(&b).await;
    wait_for("same view", 5_000, || view(&a) == view(&b)).await;
    let truth = server_doc(&name).await;
    assert_eq!(view(&a), server_view(&truth));
    assert_eq!(a.rev(), field(&truth, "rev").as_f64().unwrap_or(-1.0));
    alice.close();
    bob.close();
}

#[wasm_bindgen_test]
async fn a_compare_and_set_conflict_rolls_back_on_the_losers_side() {
    let name = unique("cas");
    let (alice, bob, a, b) = two_clients_on(&name).await;
    let a_rejected = Recorder::with(|f| a.on("rejected", f));
    let b_rejected = Recorder::with(|f| b.on("rejected", f));
    // Both claim the free key at once; the server takes one and rejects the other.
    let if_free = options(r#"{"ifRev":0}"#);
    a.set("owner".into(), json(r#""alice""#), Some(if_free.clone()))
        .expect("set");
    b.set("owner".into(), json(r#""bob""#), Some(if_free))
        .expect("set");
    assert_eq!(
        text(&b.get("owner")),
        r#""bob""#,
        "optimistic on bob's side"
    );
    settled(&a).await;
    settled(&b).await;
    wait_for("same view", 5_000, || view(&a) == view(&b)).await;
    assert_eq!(a_rejected.len() + b_rejected.len(), 1, "exactly one loser");
    let (loser_events, winner) = if b_rejected.len() == 1 {
        (&b_rejected, "alice")
    } else {
        (&a_rejected, "bob")
    };
    let rejection = &loser_events.values()[0];
    assert_eq!(
        field(&field(rejection, "error"), "code")
            .as_string()
            .as_deref(),
        Some("Conflict")
    );
    assert_eq!(
        field(rejection, "key").as_string().as_deref(),
        Some("owner")
    );
    assert_eq!(text(&a.get("owner")), format!("\"{winner}\""));
    assert_eq!(server_view(&server_doc(&name).await), view(&a));
    alice.close();
    bob.close();
}

#[wasm_bindgen_test]
async fn edits_made_offline_are_applied_once_after_the_reconnect() {
    let name = unique("offline");
    let (alice, bob, a, b) = two_clients_on(&name).await;
    a.set("n".into(), json("0"), None).expect("set");
    settled(&a).await;
    server_control("/control/drop?outage_ms=400", Some("")).await;
    wait_for("offline", 3_000, || status(&alice) != "open").await;
    for i in 1..=3 {
        a.merge("log".into(), json(&format!(r#"{{"e{i}":{i}}}"#)), None)
            .expect("offline merge");
    }
    a.set("n".into(), json("4"), None).expect("offline set");
    assert_eq!(a.pending(), 4);
    assert_eq!(text(&a.get("log")), r#"{"e1":1,"e2":2,"e3":3}"#);
    settled(&a).await;
    settled(&b).await;
    wait_for("bob sees it", 5_000, || view(&a) == view(&b)).await;
    let truth = server_doc(&name).await;
    assert_eq!(
        field(&truth, "rev").as_f64(),
        Some(5.0),
        "1 + 4 ops, each applied once"
    );
    assert_eq!(view(&b), server_view(&truth));
    assert_eq!(text(&b.get("log")), r#"{"e1":1,"e2":2,"e3":3}"#);
    alice.close();
    bob.close();
}

#[wasm_bindgen_test]
async fn a_reload_keeps_unsent_edits_and_they_apply_once() {
    let name = unique("saved");
    let key = format!("test:{name}");
    let persist = options(&format!(r#"{{"persist":"{key}"}}"#));
    // The first page never reaches the server: its edits stay pending, saved in storage.
    {
        let offline = client(r#"{"autoConnect":false}"#);
        let doc = offline
            .doc(name.clone(), Some(persist.clone()))
            .expect("doc");
        doc.set("a".into(), json("1"), None).expect("set");
        doc.merge("b".into(), json(r#"{"x":1}"#), None)
            .expect("merge");
        assert_eq!(doc.pending(), 2);
        drop(doc);
        drop(offline); // the page goes away
    }
    // The reloaded page restores them, shows them at once, and sends them once.
    let online = client(FAST);
    let doc = online
        .doc(name.clone(), Some(persist.clone()))
        .expect("doc");
    assert_eq!(doc.pending(), 2, "restored before any network");
    assert_eq!(text(&doc.get("b")), r#"{"x":1}"#);
    settled(&doc).await;
    let truth = server_doc(&name).await;
    assert_eq!(field(&truth, "rev").as_f64(), Some(2.0));
    assert_eq!(server_view(&truth), view(&doc));
    // A third page starts from the saved confirmed state, nothing pending.
    online.close();
    drop(doc);
    drop(online);
    let third = client(r#"{"autoConnect":false}"#);
    let doc = third.doc(name.clone(), Some(persist)).expect("doc");
    assert_eq!((doc.pending(), doc.rev()), (0, 2.0));
    assert_eq!(text(&doc.get("a")), "1");
}

#[wasm_bindgen_test]
async fn a_rejected_event_carries_the_op_for_reapplying() {
    let name = unique("reapply");
    let alice = open_client(FAST).await;
    let doc = alice.doc(name.clone(), None).expect("doc");
    settled(&doc).await;
    doc.set("k".into(), json("1"), None).expect("set");
    settled(&doc).await;
    let rejected = Recorder::with(|f| doc.on("rejected", f));
    doc.merge(
        "k".into(),
        json(r#"{"y":1}"#),
        Some(options(r#"{"ifRev":99}"#)),
    )
    .expect("merge");
    wait_for("rejected", 5_000, || rejected.len() == 1).await;
    let event = &rejected.values()[0];
    assert_eq!(field(event, "op").as_string().as_deref(), Some("merge"));
    assert_eq!(text(&field(event, "value")), r#"{"y":1}"#);
    // Re-apply on the new state, without the stale revision.
    doc.merge("k".into(), field(event, "value"), None)
        .expect("re-apply");
    settled(&doc).await;
    assert_eq!(text(&doc.get("k")), r#"{"y":1}"#);
    alice.close();
}

#[wasm_bindgen_test]
async fn a_refused_sync_is_the_documents_own_error_and_it_stays_unsynced() {
    let alice = open_client(FAST).await;
    let client_errors = Recorder::new(&alice, "error");
    // Longer than the server accepts: it refuses the sync.
    let doc = alice.doc("d".repeat(300), None).expect("doc");
    let doc_errors = Recorder::with(|f| doc.on("error", f));
    wait_for("the document's error", 5_000, || doc_errors.len() == 1).await;
    let error = &doc_errors.values()[0];
    assert_eq!(
        field(error, "code").as_string().as_deref(),
        Some("BadRequest")
    );
    assert!(!doc.synced());
    assert_eq!(client_errors.len(), 0, "not reported as the client's error");
    // Edits still show at once; they wait, unsent, for a sync that succeeds.
    doc.set("k".into(), json("1"), None).expect("set");
    assert_eq!(text(&doc.get("k")), "1");
    assert_eq!(doc.pending(), 1);
    alice.close();
}

/// Whether `object` has the plain object prototype and `key` as an own property.
fn own_key_plain(object: &JsValue, key: &str) -> bool {
    let object: &js_sys::Object = object.unchecked_ref();
    let plain = js_sys::Object::get_prototype_of(&js_sys::Object::new().into());
    js_sys::Object::is(&js_sys::Object::get_prototype_of(object), &plain)
        && js_sys::Object::has_own(object, &key.into())
}

#[wasm_bindgen_test]
async fn a_key_named_proto_stays_an_ordinary_key_in_views_merges_and_saved_copies() {
    let name = unique("proto");
    let (alice, bob, a, b) = two_clients_on(&name).await;
    // Another client writes a top-level key "__proto__" and a nested one, then merges into both.
    a.set("__proto__".into(), json(r#"{"claimedBy":"mallory"}"#), None)
        .expect("set");
    a.set(
        "card".into(),
        json(r#"{"__proto__":{"claimedBy":"mallory"},"title":"t"}"#),
        None,
    )
    .expect("set");
    a.merge("card".into(), json(r#"{"__proto__":{"x":1}}"#), None)
        .expect("merge");
    settled(&a).await;
    wait_for("bob has both keys", 5_000, || b.rev() == 3.0).await;

    let truth = server_doc(&name).await;
    assert_eq!(server_view(&truth), view(&b));
    assert_eq!(view(&a), view(&b));
    let keys: Vec<String> = b.keys().iter().filter_map(|k| k.as_string()).collect();
    assert_eq!(keys, vec!["__proto__", "card"]);
    assert_eq!(text(&b.get("__proto__")), r#"{"claimedBy":"mallory"}"#);
    let card = b.get("card");
    assert_eq!(
        text(&card),
        r#"{"__proto__":{"claimedBy":"mallory","x":1},"title":"t"}"#
    );
    assert!(
        own_key_plain(&card, "__proto__"),
        "merged: own key, plain prototype"
    );
    assert!(
        field(&card, "claimedBy").is_undefined(),
        "nothing inherited"
    );

    for doc in [&a, &b] {
        let object = doc.to_object();
        assert!(
            own_key_plain(&object, "__proto__"),
            "toObject: own key, plain prototype"
        );
        assert!(field(&object, "claimedBy").is_undefined());
        assert_eq!(
            text(&object),
            r#"{"__proto__":{"claimedBy":"mallory"},"card":{"__proto__":{"claimedBy":"mallory","x":1},"title":"t"}}"#
        );
    }
    // The plain object prototype itself is untouched.
    assert!(field(&js_sys::Object::new().into(), "claimedBy").is_undefined());

    // Saved copies keep the keys too: a page restoring it from storage sees the same view.
    let key = format!("test:{name}");
    let persist = options(&format!(r#"{{"persist":"{key}"}}"#));
    let saved = bob
        .doc(format!("{name}-saved"), Some(persist.clone()))
        .expect("doc");
    settled(&saved).await;
    saved
        .set("__proto__".into(), json(r#"{"claimedBy":"mallory"}"#), None)
        .expect("set");
    settled(&saved).await;
    drop(saved);
    let offline = client(r#"{"autoConnect":false}"#);
    let restored = offline
        .doc(format!("{name}-saved"), Some(persist))
        .expect("doc");
    assert_eq!(restored.rev(), 1.0);
    let object = restored.to_object();
    assert!(own_key_plain(&object, "__proto__"), "restored: own key");
    assert_eq!(text(&object), r#"{"__proto__":{"claimedBy":"mallory"}}"#);
    offline.close();
    alice.close();
    bob.close();
}

#[wasm_bindgen_test]
async fn a_local_merge_patch_nested_too_deep_is_refused() {
    let alice = open_client(FAST).await;
    let doc = alice.doc(unique("deep"), None).expect("doc");
    settled(&doc).await;
    let deep = format!("{}1{}", r#"{"a":"#.repeat(129), "}".repeat(129));
    let error = doc
        .merge("k".into(), json(&deep), None)
        .expect_err("refused");
    assert_eq!(
        field(&error, "code").as_string().as_deref(),
        Some("InvalidOptions")
    );
    let fits = format!("{}1{}", r#"{"a":"#.repeat(100), "}".repeat(100));
    doc.merge("k".into(), json(&fits), None).expect("accepted");
    settled(&doc).await;
    assert_eq!(doc.pending(), 0);
    alice.close();
}
