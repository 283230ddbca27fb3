//! A document's recovery in the sans-IO core, on virtual time: ops taken back from a dead socket
//! and a refused sync. (Clients against the real server's state: `server/tests/doc_pairs.rs`.)

#![cfg(not(target_arch = "wasm32"))]

use resocket::core::{ClientCore, Config, DocInbound, Event};
use resocket::doc::{apply, Change, Op};
use resocket::protocol::{ErrorBody, ErrorCode};
use serde_json::{json, Value};

type Core = ClientCore<String, Value>;

/// One client: its core, whether it holds an open socket, and how much of it the server read.
struct Client {
    /// The origin the server assigns this client's session (`welcome.origin`).
    origin: String,
    core: Core,
    connected: bool,
    /// Frames the client sent on its current socket that the server has not read yet.
    outbox: Vec<String>,
    /// The epoch each `sync` in the outbox carried.
    sync_epochs: Vec<Option<String>>,
    events: Vec<Event<Value>>,
    now: u64,
}

fn config() -> Config {
    let mut c = Config::default();
    c.heartbeat.interval_ms = 0;
    c.reconnect.initial_delay_ms = 10;
    c.reconnect.max_delay_ms = 10;
    c.reconnect.jitter = 0.0;
    c
}

impl Client {
    fn new(origin: &str) -> Self {
        let mut core = Core::new(config(), 1).expect("config");
        core.open_doc("d");
        Client::with_core(core, origin)
    }

    fn with_core(core: Core, origin: &str) -> Self {
        Client {
            origin: origin.to_owned(),
            core,
            connected: false,
            outbox: Vec::new(),
            sync_epochs: Vec::new(),
            events: Vec::new(),
            now: 0,
        }
    }

    /// Drains actions like a driver; sync and op frames go to the outbox as text.
    fn drive(&mut self) {
        use resocket::core::{Action, Transmit};
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Open { .. } | Action::FetchToken { .. } => {}
                Action::Close { .. } => self.connected = false,
                Action::Send(Transmit::User { frame, .. }) => self.outbox.push(frame),
                Action::Send(Transmit::Sync { since, epoch, .. }) => {
                    self.outbox
                        .push(format!("sync|{}", since.map_or(-1, |s| s as i64)));
                    self.sync_epochs.push(epoch);
                }
                Action::Send(_) => {}
            }
        }
        while let Some(event) = self.core.poll_event() {
            self.events.push(event);
        }
    }

    fn connect(&mut self) {
        self.core.reconnect(self.now);
        self.core.handle_socket_open(self.now);
        let welcome = resocket::protocol::Welcome {
            version: 1,
            session: "s".into(),
            token: "t".into(),
            resumed: true,
            // The session is resumed every time: its origin stays.
            origin: Some(self.origin.clone()),
            expires_in: None,
            request_window: None,
        };
        self.core
            .handle_inbound(self.now, resocket::core::Inbound::Welcome(welcome), 0);
        self.connected = true;
        self.outbox.clear(); // only frames sent on this socket from now on
        self.sync_epochs.clear();
        self.drive();
    }

    fn receive(&mut self, frame: DocInbound<Value>) {
        if self.connected {
            self.core.handle_doc_frame(self.now, frame);
            self.drive();
            self.check_view();
        }
    }

    /// The invariant: view == confirmed + pending.
    fn check_view(&self) {
        let state = self.core.doc("d").expect("open");
        let mut expected = state.confirmed.clone();
        for pending in &state.pending {
            let _ = apply(&mut expected, &pending.op);
        }
        assert_eq!(
            state.view.entries, expected.entries,
            "view == confirmed + pending"
        );
    }
}

/// Opens a client on a fresh socket and answers its sync with an empty snapshot.
fn synced_client() -> Client {
    let mut client = Client::new("c-a");
    client.connect();
    assert_eq!(client.outbox, vec!["sync|-1".to_owned()]);
    client.receive(DocInbound::Snapshot {
        doc: "d".into(),
        rev: 0,
        epoch: Some("e1".into()),
        entries: Vec::new(),
    });
    client.outbox.clear();
    client
}

#[test]
fn a_doc_op_reclaimed_from_a_dead_socket_is_resent_once_after_the_resync() {
    let mut client = synced_client();
    let cseq = client.core.allocate_cseq();
    let op = Op {
        key: "k".into(),
        change: Change::Set(json!(1)),
        if_rev: None,
    };
    client
        .core
        .apply_op("d", cseq, op, format!("op|c-a|{cseq}"))
        .expect("doc is open");
    // The socket dies before the driver polled the op's frame.
    let now = client.now;
    client.core.handle_socket_closed(now, 1006, "gone");
    client.connected = false;
    client.drive();
    assert!(client.outbox.is_empty(), "nothing goes out while offline");
    let metrics = client.core.metrics(now);
    assert_eq!((metrics.messages_sent, metrics.bytes_sent), (0, 0));
    assert_eq!(
        metrics.queue_depth, 0,
        "doc ops never enter the offline queue"
    );

    client.connect();
    assert_eq!(
        client.outbox,
        vec!["sync|0".to_owned()],
        "the op waits until the document has caught up"
    );
    client.receive(DocInbound::Synced {
        doc: "d".into(),
        rev: 0,
        epoch: Some("e1".into()),
    });
    assert_eq!(
        client.outbox,
        vec!["sync|0".to_owned(), format!("op|c-a|{cseq}")],
        "re-sent exactly once, after the resync"
    );
    let metrics = client.core.metrics(client.now);
    assert_eq!((metrics.messages_sent, metrics.bytes_sent), (0, 0));
}

#[test]
fn a_doc_op_the_driver_gives_back_unsent_also_waits_for_the_resync() {
    use resocket::core::{Action, Transmit, UserKind};
    let mut client = synced_client();
    let cseq = client.core.allocate_cseq();
    let op = Op {
        key: "k".into(),
        change: Change::Set(json!(1)),
        if_rev: None,
    };
    client
        .core
        .apply_op("d", cseq, op, format!("op|c-a|{cseq}"))
        .expect("doc is open");
    // The driver polls the op, finds its socket dead, gives the frame back and reports the close.
    match client.core.poll_action() {
        Some(Action::Send(
            transmit @ Transmit::User {
                kind: UserKind::DocOp,
                ..
            },
        )) => client.core.return_unsent(transmit),
        other => panic!("expected the op's frame, got {other:?}"),
    }
    let now = client.now;
    client
        .core
        .handle_socket_closed(now, 1006, "socket closed before send");
    client.connected = false;
    client.drive();
    let metrics = client.core.metrics(now);
    assert_eq!((metrics.messages_sent, metrics.queue_depth), (0, 0));

    client.connect();
    assert_eq!(client.outbox, vec!["sync|0".to_owned()]);
    client.receive(DocInbound::Synced {
        doc: "d".into(),
        rev: 0,
        epoch: Some("e1".into()),
    });
    assert_eq!(
        client.outbox,
        vec!["sync|0".to_owned(), format!("op|c-a|{cseq}")]
    );
}

#[test]
fn a_refused_sync_raises_the_documents_error_and_is_retried_on_the_next_connection() {
    use resocket::core::{Action, Inbound, Transmit};
    let mut client = Client::new("c-a");
    client.core.reconnect(0);
    client.core.handle_socket_open(0);
    let welcome = resocket::protocol::Welcome {
        version: 1,
        session: "s".into(),
        token: "t".into(),
        resumed: false,
        origin: Some("c-a".into()),
        expires_in: None,
        request_window: None,
    };
    client.core.handle_inbound(0, Inbound::Welcome(welcome), 0);
    let mut sync_id = None;
    while let Some(action) = client.core.poll_action() {
        if let Action::Send(Transmit::Sync { id, doc, .. }) = action {
            assert_eq!(doc, "d");
            sync_id = Some(id);
        }
    }
    assert!(sync_id.is_some(), "the open document is synced");
    client.connected = true;
    client.core.handle_inbound(
        0,
        Inbound::Error {
            id: sync_id,
            room: Some("d".into()),
            body: ErrorBody {
                code: ErrorCode::Forbidden,
                message: "no access".into(),
            },
        },
        0,
    );
    client.drive();
    assert!(
        client.events.iter().any(|e| matches!(
            e,
            Event::DocError { doc, error } if doc == "d" && error.code() == "Forbidden"
        )),
        "the document's own error: {:?}",
        client.events
    );
    assert!(
        !client.events.iter().any(|e| matches!(e, Event::Error(_))),
        "not a generic error"
    );
    assert!(!client.core.doc("d").expect("open").synced);

    // An edit made meanwhile shows at once but waits: the document is not synced.
    let cseq = client.core.allocate_cseq();
    let op = Op {
        key: "k".into(),
        change: Change::Set(json!(1)),
        if_rev: None,
    };
    client
        .core
        .apply_op("d", cseq, op, format!("op|c-a|{cseq}"))
        .expect("doc is open");
    client.drive();
    assert!(
        client.outbox.is_empty(),
        "nothing sent to a refused document"
    );

    // The next connection asks again.
    client.core.handle_socket_closed(0, 1006, "gone");
    client.connected = false;
    client.drive();
    client.connect();
    assert_eq!(client.outbox, vec!["sync|-1".to_owned()]);
    client.receive(DocInbound::Snapshot {
        doc: "d".into(),
        rev: 0,
        epoch: Some("e1".into()),
        entries: Vec::new(),
    });
    assert_eq!(
        client.outbox,
        vec!["sync|-1".to_owned(), format!("op|c-a|{cseq}")]
    );
    assert!(client.core.doc("d").expect("open").synced);
}

fn set(key: &str, value: Value) -> Op<Value> {
    Op {
        key: key.into(),
        change: Change::Set(value),
        if_rev: None,
    }
}

fn snapshot(rev: u64, epoch: &str, entries: Vec<(&str, Value, u64)>) -> DocInbound<Value> {
    DocInbound::Snapshot {
        doc: "d".into(),
        rev,
        epoch: Some(epoch.into()),
        entries: entries
            .into_iter()
            .map(|(k, v, r)| (k.to_owned(), v, r))
            .collect(),
    }
}

/// The document events, by name, raised since the last `take`.
fn doc_events(client: &mut Client) -> Vec<&'static str> {
    std::mem::take(&mut client.events)
        .into_iter()
        .filter_map(|e| match e {
            Event::DocReset { .. } => Some("reset"),
            Event::DocChanged { .. } => Some("changed"),
            Event::DocSynced { .. } => Some("synced"),
            Event::DocConfirmed { .. } => Some("confirmed"),
            _ => None,
        })
        .collect()
}

#[test]
fn a_snapshot_of_another_epoch_raises_reset_and_pending_ops_are_resent_on_top_of_it() {
    let mut client = synced_client();
    // Three ops of another client: the document is at revision 3 of epoch e1.
    for rev in 1..=3 {
        client.receive(DocInbound::Applied {
            doc: "d".into(),
            rev,
            origin: "c-b".into(),
            cseq: rev,
            op: set("old", json!(rev)),
        });
    }
    let cseq = client.core.allocate_cseq();
    client
        .core
        .apply_op("d", cseq, set("mine", json!(1)), format!("op|c-a|{cseq}"))
        .expect("doc is open");
    client.drive();

    // The server restarts: the new one has another history, already past our revision.
    client.core.handle_socket_closed(client.now, 1006, "gone");
    client.connected = false;
    client.drive();
    client.connect();
    assert_eq!(client.outbox, vec!["sync|3".to_owned()]);
    assert_eq!(client.sync_epochs, vec![Some("e1".to_owned())]);
    client.events.clear();
    client.receive(snapshot(5, "e2", vec![("new", json!("x"), 5)]));
    assert_eq!(
        doc_events(&mut client),
        ["reset", "changed", "synced"],
        "the reset comes first"
    );
    let state = client.core.doc("d").expect("open");
    assert_eq!(
        (state.confirmed.rev, state.epoch.as_deref()),
        (5, Some("e2"))
    );
    assert_eq!(state.confirmed.get("old"), None, "the old history is gone");
    assert_eq!(state.pending.len(), 1, "the pending op is kept");
    assert_eq!(state.view.get("mine"), Some(&json!(1)));
    assert_eq!(state.view.get("new"), Some(&json!("x")));
    assert_eq!(
        client.outbox,
        vec!["sync|3".to_owned(), format!("op|c-a|{cseq}")],
        "re-sent on top of the snapshot"
    );
    // The new server applies it: converged, nothing pending.
    client.receive(DocInbound::Applied {
        doc: "d".into(),
        rev: 6,
        origin: "c-a".into(),
        cseq,
        op: set("mine", json!(1)),
    });
    assert_eq!(doc_events(&mut client), ["confirmed"]);
    let state = client.core.doc("d").expect("open");
    assert!(state.pending.is_empty());
    assert_eq!(state.view.entries, state.confirmed.entries);
    assert_eq!(state.confirmed.get("mine"), Some(&json!(1)));

    // The next sync counts in the new epoch.
    client.core.handle_socket_closed(client.now, 1006, "gone");
    client.connected = false;
    client.drive();
    client.connect();
    assert_eq!(client.outbox, vec!["sync|6".to_owned()]);
    assert_eq!(client.sync_epochs, vec![Some("e2".to_owned())]);
}

/// A client restored from a saved copy at revision 3 of `epoch` (`None`: saved before epochs),
/// connected: its sync is in the outbox.
fn restored(rev: u64, epoch: Option<&str>) -> Client {
    let mut core = Core::new(config(), 1).expect("config");
    let entries = if rev > 0 {
        vec![("saved".to_owned(), json!(true), rev)]
    } else {
        Vec::new()
    };
    core.open_doc_restored("d", rev, epoch.map(str::to_owned), entries, Vec::new());
    let mut client = Client::with_core(core, "c-a");
    client.connect();
    client.events.clear();
    client
}

#[test]
fn a_saved_copy_of_another_epoch_is_replaced_only_with_a_reset() {
    // Same epoch: caught up by replay, no reset.
    let mut same = restored(3, Some("e1"));
    assert_eq!(same.sync_epochs, vec![Some("e1".to_owned())]);
    same.receive(DocInbound::Synced {
        doc: "d".into(),
        rev: 3,
        epoch: Some("e1".into()),
    });
    assert_eq!(doc_events(&mut same), ["synced"]);

    // Another epoch: the snapshot replaces the saved copy, and the reset is the first event (a
    // persisted copy is saved on document events, so it is never replaced before it).
    let mut other = restored(3, Some("e1"));
    other.receive(snapshot(1, "e2", vec![("fresh", json!(1), 1)]));
    assert_eq!(doc_events(&mut other), ["reset", "changed", "synced"]);

    // A copy saved before epochs counts in an unknown one: its `since` goes with the empty
    // epoch, which no server epoch matches (the server answers a snapshot), and the snapshot is
    // a reset.
    let mut unknown = restored(3, None);
    assert_eq!(unknown.outbox, vec!["sync|3".to_owned()]);
    assert_eq!(unknown.sync_epochs, vec![Some(String::new())]);
    unknown.receive(snapshot(3, "e2", vec![("saved", json!(true), 3)]));
    assert_eq!(doc_events(&mut unknown), ["reset", "synced"]);

    // A copy that never had server state (revision 0) loses nothing: no reset.
    let mut empty = restored(0, None);
    empty.receive(snapshot(2, "e2", vec![("fresh", json!(1), 2)]));
    assert_eq!(doc_events(&mut empty), ["changed", "synced"]);
}

#[test]
fn a_synced_of_another_epoch_starts_over_with_a_snapshot() {
    let mut client = restored(3, Some("e1"));
    client.receive(DocInbound::Synced {
        doc: "d".into(),
        rev: 3,
        epoch: Some("e2".into()),
    });
    assert_eq!(doc_events(&mut client), Vec::<&str>::new(), "not synced");
    assert_eq!(
        client.outbox,
        vec!["sync|3".to_owned(), "sync|-1".to_owned()]
    );
    client.receive(snapshot(3, "e2", vec![]));
    assert_eq!(doc_events(&mut client), ["reset", "changed", "synced"]);
}
