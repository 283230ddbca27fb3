//! The client core against a hostile server, on virtual time: frames over the inbound size limit,
//! revisions and sequence numbers at and past what the client can count to, merge patches
//! nested too deep, and large member lists. Frames go in as text through a small driver that
//! does what the browser's does: size check first, then parse and decode with the shared codec.

#![cfg(not(target_arch = "wasm32"))]

use resocket::core::{Action, ClientCore, ClientError, Config, DocInbound, Event, Inbound};
use resocket::doc::{merge_depth_ok, Change, Op, MAX_MERGE_DEPTH};
use resocket::protocol::codec::{decode_server_frame, ServerFrame, MAX_SAFE_INTEGER};
use resocket::protocol::{PresenceChange, Welcome};
use serde_json::{json, Value};

type Core = ClientCore<String, Value>;

struct Client {
    core: Core,
    now: u64,
    events: Vec<Event<Value>>,
    /// `sync` frames sent, as `since` (-1 for a snapshot).
    syncs: Vec<i64>,
}

fn config() -> Config {
    let mut c = Config::default();
    c.heartbeat.interval_ms = 0;
    c
}

impl Client {
    fn connected(config: Config) -> Self {
        let mut client = Client {
            core: Core::new(config, 1).expect("config"),
            now: 0,
            events: Vec::new(),
            syncs: Vec::new(),
        };
        client.core.reconnect(0);
        client.core.handle_socket_open(0);
        let welcome = Welcome {
            version: 1,
            session: "s-1".into(),
            token: "t".into(),
            resumed: false,
            origin: Some("c-1".into()),
            expires_in: None,
            request_window: None,
        };
        client.core.handle_inbound(0, Inbound::Welcome(welcome), 0);
        client.drive();
        client
    }

    fn drive(&mut self) {
        use resocket::core::Transmit;
        while let Some(action) = self.core.poll_action() {
            if let Action::Send(Transmit::Sync { since, .. }) = action {
                self.syncs.push(since.map_or(-1, |s| s as i64));
            }
        }
        while let Some(event) = self.core.poll_event() {
            self.events.push(event);
        }
    }

    /// What the browser driver does with a received text frame.
    fn receive_text(&mut self, text: &str) {
        let now = self.now;
        if !self.core.inbound_too_large(now, text.len()) {
            match serde_json::from_str::<Value>(text).map(|v| decode_server_frame(&v)) {
                Ok(Ok(ServerFrame::Core(frame))) => {
                    self.core.handle_inbound(now, frame, text.len())
                }
                Ok(Ok(ServerFrame::Doc(frame))) => self.core.handle_doc_frame(now, frame),
                Ok(Err(error)) => self.core.handle_malformed(now, error.reason()),
                Err(_) => self.core.handle_malformed(now, "not JSON".into()),
            }
        }
        self.drive();
    }

    fn receive_doc(&mut self, frame: DocInbound<Value>) {
        self.core.handle_doc_frame(self.now, frame);
        self.drive();
    }

    /// The reasons of the errors the app sees as `MalformedFrame` raised since the last call
    /// (an oversized frame's: its whole message).
    fn malformed(&mut self) -> Vec<String> {
        let mut reasons = Vec::new();
        for event in std::mem::take(&mut self.events) {
            match event {
                Event::Error(ClientError::MalformedFrame { reason }) => reasons.push(reason),
                Event::Error(error @ ClientError::InboundTooLarge { .. }) => {
                    reasons.push(error.message())
                }
                _ => {}
            }
        }
        reasons
    }

    fn messages(&self) -> Vec<&Value> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(p) | Event::RoomMessage { payload: p, .. } => Some(p),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn a_frame_over_max_inbound_bytes_is_dropped_counted_and_reported() {
    assert_eq!(Config::default().max_inbound_bytes, 4 * 1024 * 1024);
    let mut zero = config();
    zero.max_inbound_bytes = 0;
    assert!(Core::new(zero, 1).is_err(), "a limit of 0 is refused");

    let mut c = config();
    c.max_inbound_bytes = 64;
    let mut client = Client::connected(c);
    let big = format!(r#"{{"kind":"msg","payload":"{}"}}"#, "x".repeat(100));
    client.receive_text(&big);
    assert!(client.messages().is_empty(), "not delivered");
    let metrics = client.core.metrics(0);
    assert_eq!(metrics.oversized_frames, 1);
    assert_eq!(metrics.messages_received, 0);
    let reasons = client.malformed();
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].contains(&format!("frame of {} bytes", big.len()))
            && reasons[0].contains("maxInboundBytes (64)"),
        "{reasons:?}"
    );

    // The connection carries on; a frame of exactly the limit is read.
    let overhead = r#"{"kind":"msg","payload":""}"#.len();
    let fits = format!(
        r#"{{"kind":"msg","payload":"{}"}}"#,
        "y".repeat(64 - overhead)
    );
    assert_eq!(fits.len(), 64);
    client.receive_text(&fits);
    assert_eq!(client.messages(), vec![&json!("y".repeat(64 - overhead))]);
    assert_eq!(client.core.state().name(), "open");
    assert_eq!(client.core.metrics(0).oversized_frames, 1);
}

fn open_doc_at(rev: u64) -> Client {
    let mut client = Client::connected(config());
    client.core.open_doc("d");
    client.drive();
    client.receive_text(&format!(
        r#"{{"kind":"snapshot","id":1,"room":"d","seq":{rev},"payload":{{"entries":{{"k":{{"value":1,"rev":{rev}}}}},"epoch":"e"}}}}"#
    ));
    assert!(client.malformed().is_empty());
    assert_eq!(client.core.doc("d").expect("open").confirmed.rev, rev);
    client
}

#[test]
fn revisions_the_client_cannot_count_past_are_malformed_not_a_panic() {
    // The highest revision a JSON number holds exactly has no successor: refused.
    let mut client = Client::connected(config());
    client.core.open_doc("d");
    client.drive();
    for rev in [
        MAX_SAFE_INTEGER.to_string(),
        (MAX_SAFE_INTEGER + 1).to_string(),
        u64::MAX.to_string(),
        "1e300".into(),
    ] {
        client.receive_text(&format!(
            r#"{{"kind":"snapshot","id":1,"room":"d","seq":{rev},"payload":{{"entries":{{}},"epoch":"e"}}}}"#
        ));
        assert_eq!(client.malformed().len(), 1, "snapshot at {rev}");
        let doc = client.core.doc("d").expect("open");
        assert_eq!((doc.confirmed.rev, doc.synced), (0, false), "untouched");
    }

    // One below: accepted, and a local op on top counts to the last exact revision.
    let top = MAX_SAFE_INTEGER - 1;
    let mut client = open_doc_at(top);
    let cseq = client.core.allocate_cseq();
    let op = Op {
        key: "k".into(),
        change: Change::Set(json!(2)),
        if_rev: Some(top),
    };
    client
        .core
        .apply_op("d", cseq, op, "op".into())
        .expect("applied locally");
    let doc = client.core.doc("d").expect("open");
    assert_eq!(doc.view.rev, MAX_SAFE_INTEGER);
    assert_eq!(doc.view.key_rev("k"), MAX_SAFE_INTEGER);

    // An applied op or a `synced` at that revision is refused too, without a resync loop.
    for frame in [
        format!(
            r#"{{"kind":"op","room":"d","seq":{MAX_SAFE_INTEGER},"payload":{{"origin":"c-2","cseq":1,"key":"k","op":"set","value":3}}}}"#
        ),
        format!(
            r#"{{"kind":"synced","id":2,"room":"d","seq":{MAX_SAFE_INTEGER},"payload":{{"epoch":"e"}}}}"#
        ),
    ] {
        let syncs = client.syncs.len();
        client.receive_text(&frame);
        assert_eq!(client.malformed().len(), 1, "{frame}");
        assert_eq!(client.syncs.len(), syncs, "no resync for a refused frame");
        assert_eq!(client.core.doc("d").expect("open").confirmed.rev, top);
    }
}

#[test]
fn sequence_numbers_from_the_server_and_storage_never_overflow() {
    // A room message numbered past what JSON holds exactly is malformed; at the edge it is fine.
    let mut client = Client::connected(config());
    client.core.join("r", None);
    client.drive();
    client.receive_text(
        r#"{"kind":"joined","id":1,"room":"r","seq":0,"payload":{"recovered":true,"members":[]}}"#,
    );
    client.receive_text(&format!(
        r#"{{"kind":"msg","room":"r","seq":{},"payload":"late"}}"#,
        u64::MAX
    ));
    assert_eq!(client.malformed().len(), 1);
    client.receive_text(&format!(
        r#"{{"kind":"msg","room":"r","seq":{MAX_SAFE_INTEGER},"payload":"edge"}}"#
    ));
    assert_eq!(client.messages(), vec![&json!("edge")]);
    assert_eq!(
        client.core.room("r").expect("joined").last_seq,
        Some(MAX_SAFE_INTEGER)
    );

    // A restored op numbered u64::MAX (a tampered saved copy) leaves the next cseq saturated.
    let mut core = Core::new(config(), 1).expect("config");
    let pending = resocket::core::docs::PendingOp {
        origin: "c-old".into(),
        cseq: u64::MAX,
        op: Op {
            key: "k".into(),
            change: Change::Delete,
            if_rev: None,
        },
        frame: "op".to_owned(),
    };
    core.open_doc_restored("d", 0, None, Vec::new(), vec![pending]);
    assert_eq!(core.allocate_cseq(), u64::MAX);
}

/// An object `depth` levels deep: `{"a":{"a":...{"a":1}}}`.
fn nested(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = json!({ "a": value });
    }
    value
}

fn merge_applied(rev: u64, patch: Value) -> DocInbound<Value> {
    DocInbound::Applied {
        doc: "d".into(),
        rev,
        origin: "c-2".into(),
        cseq: rev,
        op: Op {
            key: "deep".into(),
            change: Change::Merge(patch),
            if_rev: None,
        },
    }
}

#[test]
fn merge_patches_nested_deeper_than_the_limit_are_refused() {
    assert!(merge_depth_ok(&nested(MAX_MERGE_DEPTH)));
    assert!(!merge_depth_ok(&nested(MAX_MERGE_DEPTH + 1)));
    assert!(
        merge_depth_ok(&json!([[[[1]]]])),
        "arrays are replaced, not merged"
    );
    // The check stops at the limit, however deep the value goes.
    assert!(!merge_depth_ok(&nested(1_000)));

    let mut client = open_doc_at(1);
    client.receive_doc(merge_applied(2, nested(MAX_MERGE_DEPTH)));
    assert!(client.malformed().is_empty());
    assert_eq!(client.core.doc("d").expect("open").confirmed.rev, 2);

    // Too deep: dropped as malformed, the document unchanged.
    client.receive_doc(merge_applied(3, nested(MAX_MERGE_DEPTH + 1)));
    let reasons = client.malformed();
    assert_eq!(
        reasons,
        vec!["merge patch nested deeper than 128".to_owned()]
    );
    let doc = client.core.doc("d").expect("open");
    assert_eq!(doc.confirmed.rev, 2);
    assert_eq!(doc.view.get("deep"), Some(&nested(MAX_MERGE_DEPTH)));

    // The gap it leaves makes the next op resync from the last good revision.
    let syncs = client.syncs.len();
    client.receive_doc(merge_applied(4, json!({"b": 1})));
    assert_eq!(client.syncs[syncs..], [2]);
}

fn member(i: usize) -> Value {
    json!({"id": format!("s-{i:06}"), "user": format!("u{i}"), "meta": {"n": i}})
}

#[test]
fn a_large_member_list_is_built_sorted_and_kept_by_presence_events() {
    const N: usize = 50_000;
    let mut client = Client::connected(config());
    client.core.join("r", None);
    client.drive();
    // Unsorted (the server's order), and one session listed twice: it is kept once.
    let mut members: Vec<Value> = (0..N).rev().map(member).collect();
    members.swap(10, N / 2);
    members.push(json!({"id": "s-000007", "meta": {"n": "again"}}));
    let frame = json!({
        "kind": "joined", "id": 1, "room": "r", "seq": 0,
        "payload": {"recovered": true, "members": members},
    });
    client.receive_text(&frame.to_string());
    let room = client.core.room("r").expect("joined");
    assert_eq!(room.members.len(), N);
    let ids: Vec<&String> = room.members.keys().collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
    let twice = room.members.get("s-000007").and_then(|m| m.meta.clone());
    assert!(
        twice == Some(json!({"n": "again"})) || twice == Some(json!({"n": 7})),
        "{twice:?}"
    );

    let change = |event: &str, id: &str| {
        json!({"kind": "presence", "room": "r",
               "payload": {"event": event, "member": {"id": id, "meta": {"n": event}}}})
        .to_string()
    };
    client.receive_text(&change("join", "s-new"));
    client.receive_text(&change("leave", "s-000000"));
    client.receive_text(&change("update", "s-049999"));
    let room = client.core.room("r").expect("joined");
    assert_eq!(room.members.len(), N);
    assert!(room.members.get("s-000000").is_none());
    assert!(room.members.contains_key("s-new"));
    assert_eq!(
        room.members.get("s-049999").and_then(|m| m.meta.clone()),
        Some(json!({"n": "update"}))
    );
    let presence: Vec<PresenceChange> = client
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Presence { change, .. } => Some(*change),
            _ => None,
        })
        .collect();
    assert_eq!(presence.len(), 3);
}
