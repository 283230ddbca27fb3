//! Optimistic document sync in the sans-IO core: several simulated clients against a model
//! server that sequences ops with the shared `apply`, under virtual time.

#![cfg(not(target_arch = "wasm32"))]

mod support;

use proptest::prelude::*;
use resocket::core::{ClientCore, Config, DocInbound, Event};
use resocket::doc::{apply, Change, Doc, Op};
use resocket::protocol::{ErrorBody, ErrorCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

type Core = ClientCore<String, Value>;

/// One client: its core, whether it holds an open socket, and how much of it the server read.
struct Client {
    core: Core,
    connected: bool,
    /// Frames the client sent on its current socket that the server has not read yet.
    outbox: Vec<String>,
    events: Vec<Event<Value>>,
    now: u64,
}

/// The model server: one document sequenced with the shared `apply`, an op log, and the
/// recorded outcome of every `(origin, cseq)`.
#[derive(Default)]
struct Server {
    doc: Doc<Value>,
    log: Vec<(u64, String, u64, Op<Value>)>,
    outcomes: BTreeMap<(String, u64), Option<u64>>,
    subscribed: Vec<bool>,
    log_capacity: usize,
}

fn config(origin: &str) -> Config {
    let mut c = Config::default();
    c.heartbeat.interval_ms = 0;
    c.reconnect.initial_delay_ms = 10;
    c.reconnect.max_delay_ms = 10;
    c.reconnect.jitter = 0.0;
    c.origin = Some(origin.into());
    c
}

impl Client {
    fn new(origin: &str) -> Self {
        let mut core = Core::new(config(origin), 1).expect("config");
        core.open_doc("d");
        Client {
            core,
            connected: false,
            outbox: Vec::new(),
            events: Vec::new(),
            now: 0,
        }
    }

    /// Drains actions like a driver; sync and op frames go to the outbox as text.
    fn drive(&mut self) {
        use resocket::core::{Action, Transmit};
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Open | Action::FetchToken { .. } => {}
                Action::Close { .. } => self.connected = false,
                Action::Send(Transmit::User { frame, .. }) => self.outbox.push(frame),
                Action::Send(Transmit::Sync { since, .. }) => self
                    .outbox
                    .push(format!("sync|{}", since.map_or(-1, |s| s as i64))),
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
            origin: None,
            expires_in: None,
        };
        self.core
            .handle_inbound(self.now, resocket::core::Inbound::Welcome(welcome), 0);
        self.connected = true;
        self.outbox.clear(); // only frames sent on this socket from now on
        self.drive();
    }

    fn local(&mut self, op: Op<Value>, ops: &mut BTreeMap<(String, u64), Op<Value>>) {
        let cseq = self.core.allocate_cseq();
        let origin = self.core.origin().to_owned();
        ops.insert((origin.clone(), cseq), op.clone());
        self.core
            .apply_op("d", cseq, op, format!("op|{origin}|{cseq}"))
            .expect("doc is open");
        self.drive();
        self.check_view();
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

impl Server {
    /// Reads everything client `i` sent and answers like the real server.
    fn read(&mut self, clients: &mut [Client], i: usize, ops: &BTreeMap<(String, u64), Op<Value>>) {
        if !clients[i].connected {
            clients[i].outbox.clear();
            return;
        }
        let frames = std::mem::take(&mut clients[i].outbox);
        for frame in frames {
            let parts: Vec<&str> = frame.split('|').collect();
            match parts.as_slice() {
                ["sync", since] => {
                    self.subscribed[i] = true;
                    let since: i64 = since.parse().expect("number");
                    let oldest = self.log.first().map_or(self.doc.rev + 1, |e| e.0);
                    if since < 0 || (since as u64) + 1 < oldest || since as u64 > self.doc.rev {
                        let entries = self
                            .doc
                            .entries
                            .iter()
                            .map(|(k, e)| (k.clone(), e.value.clone(), e.rev))
                            .collect();
                        clients[i].receive(DocInbound::Snapshot {
                            doc: "d".into(),
                            rev: self.doc.rev,
                            entries,
                        });
                    } else {
                        for (rev, origin, cseq, op) in self.log.clone() {
                            if rev > since as u64 {
                                clients[i].receive(DocInbound::Applied {
                                    doc: "d".into(),
                                    rev,
                                    origin,
                                    cseq,
                                    op,
                                });
                            }
                        }
                        clients[i].receive(DocInbound::Synced {
                            doc: "d".into(),
                            rev: self.doc.rev,
                        });
                    }
                }
                ["op", origin, cseq] => {
                    let cseq: u64 = cseq.parse().expect("number");
                    let key = (origin.to_string(), cseq);
                    let op = ops[&key].clone();
                    match self.outcomes.get(&key).copied() {
                        Some(Some(rev)) => {
                            clients[i].receive(DocInbound::Applied {
                                doc: "d".into(),
                                rev,
                                origin: origin.to_string(),
                                cseq,
                                op,
                            });
                        }
                        Some(None) => clients[i].receive(reject(origin, cseq)),
                        None => match apply(&mut self.doc, &op) {
                            Ok(rev) => {
                                self.outcomes.insert(key, Some(rev));
                                self.log.push((rev, origin.to_string(), cseq, op.clone()));
                                if self.log.len() > self.log_capacity {
                                    self.log.remove(0);
                                }
                                for (j, client) in clients.iter_mut().enumerate() {
                                    if self.subscribed[j] || j == i {
                                        client.receive(DocInbound::Applied {
                                            doc: "d".into(),
                                            rev,
                                            origin: origin.to_string(),
                                            cseq,
                                            op: op.clone(),
                                        });
                                    }
                                }
                            }
                            Err(_) => {
                                self.outcomes.insert(key, None);
                                clients[i].receive(reject(origin, cseq));
                            }
                        },
                    }
                }
                _ => panic!("unexpected frame {frame}"),
            }
        }
    }
}

fn reject(origin: &str, cseq: u64) -> DocInbound<Value> {
    DocInbound::Rejected {
        doc: "d".into(),
        origin: origin.into(),
        cseq,
        error: ErrorBody {
            code: ErrorCode::Conflict,
            message: "conflict".into(),
        },
    }
}

#[derive(Debug, Clone)]
enum Step {
    Local { client: usize, op: Op<Value> },
    Read(usize),
    Drop(usize),
    Connect(usize),
}

fn op_strategy() -> impl Strategy<Value = Op<Value>> {
    let value = prop_oneof![
        (0i64..5).prop_map(|n| json!(n)),
        (0i64..5).prop_map(|n| json!({"n": n})),
        Just(json!({"a": null, "b": [1]})),
    ];
    let change = prop_oneof![
        value.clone().prop_map(Change::Set),
        Just(Change::Delete),
        value.prop_map(Change::Merge),
    ];
    ("[xy]", change, prop::option::of(0u64..4)).prop_map(|(key, change, if_rev)| Op {
        key,
        change,
        if_rev,
    })
}

fn step(clients: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..clients, op_strategy()).prop_map(|(client, op)| Step::Local { client, op }),
        4 => (0..clients).prop_map(Step::Read),
        1 => (0..clients).prop_map(Step::Drop),
        2 => (0..clients).prop_map(Step::Connect),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// With random local ops, reads, drops and reconnects: the view is always confirmed +
    /// pending; when all is settled every client's view and confirmed state equal the server's
    /// document; every op took effect at most once; rejected ops left no trace.
    #[test]
    fn clients_converge_on_the_servers_document(
        steps in prop::collection::vec(step(3), 0..80),
        log_capacity in 1usize..20,
    ) {
        let mut clients: Vec<Client> = ["c-a", "c-b", "c-c"].iter().map(|o| Client::new(o)).collect();
        let mut server = Server { subscribed: vec![false; 3], log_capacity, ..Server::default() };
        let mut ops = BTreeMap::new();
        for client in clients.iter_mut() { client.connect(); }
        for step in steps {
            match step {
                Step::Local { client, op } => clients[client].local(op, &mut ops),
                Step::Read(i) => server.read(&mut clients, i, &ops),
                Step::Drop(i) => {
                    if clients[i].connected {
                        clients[i].connected = false;
                        server.subscribed[i] = false;
                        let now = clients[i].now;
                        clients[i].core.handle_socket_closed(now, 1006, "drop");
                        clients[i].drive();
                    }
                }
                Step::Connect(i) => {
                    if !clients[i].connected { server.subscribed[i] = false; clients[i].connect(); }
                }
            }
        }
        // Settle: everyone connected, the server reads until nothing moves.
        for client in clients.iter_mut() { if !client.connected { client.connect(); } }
        for _ in 0..10 { for i in 0..3 { server.read(&mut clients, i, &ops); } }

        for client in &clients {
            let state = client.core.doc("d").expect("open");
            prop_assert!(state.pending.is_empty(), "settled: nothing pending");
            prop_assert_eq!(&state.confirmed, &server.doc);
            prop_assert_eq!(&state.view.entries, &server.doc.entries);
            // Every confirmation and rejection is reported once per op.
            let mut verdicts = BTreeMap::new();
            for event in &client.events {
                match event {
                    Event::DocConfirmed { cseq, .. } | Event::DocRejected { cseq, .. } => {
                        *verdicts.entry(*cseq).or_insert(0) += 1;
                    }
                    _ => {}
                }
            }
            prop_assert!(verdicts.values().all(|n| *n == 1), "{:?}", verdicts);
        }
        let mut seen = std::collections::BTreeSet::new();
        for (_, origin, cseq, _) in &server.log {
            prop_assert!(seen.insert((origin.clone(), *cseq)), "applied at most once");
        }
        prop_assert_eq!(server.outcomes.values().filter(|o| o.is_some()).count() as u64, server.doc.rev);
    }
}

#[test]
fn a_conflicting_op_rolls_back_with_an_event() {
    let mut clients = vec![Client::new("c-a"), Client::new("c-b")];
    let mut server = Server {
        subscribed: vec![false; 2],
        log_capacity: 100,
        ..Server::default()
    };
    let mut ops = BTreeMap::new();
    for client in clients.iter_mut() {
        client.connect();
    }
    server.read(&mut clients, 0, &ops);
    server.read(&mut clients, 1, &ops);
    let set = |v: Value, if_rev| Op {
        key: "k".into(),
        change: Change::Set(v),
        if_rev,
    };
    clients[0].local(set(json!("a"), Some(0)), &mut ops);
    clients[1].local(set(json!("b"), Some(0)), &mut ops);
    assert_eq!(
        clients[1].core.doc("d").expect("open").view.get("k"),
        Some(&json!("b")),
        "optimistic"
    );
    server.read(&mut clients, 0, &ops);
    server.read(&mut clients, 1, &ops);
    let loser = clients[1].core.doc("d").expect("open");
    assert_eq!(
        loser.view.get("k"),
        Some(&json!("a")),
        "rolled back to the winner's value"
    );
    assert!(clients[1].events.iter().any(
        |e| matches!(e, Event::DocRejected { cseq: 1, error, .. } if error.code() == "Conflict")
    ));
    assert!(clients[0].events.iter().any(|e| matches!(
        e,
        Event::DocConfirmed {
            cseq: 1,
            rev: 1,
            ..
        }
    )));
}

#[test]
fn pending_ops_restored_after_a_reload_are_applied_once_and_confirmed() {
    let mut ops = BTreeMap::new();
    let mut server = Server {
        subscribed: vec![false; 1],
        log_capacity: 100,
        ..Server::default()
    };
    // The first page makes two edits offline, then goes away.
    let mut first = Client::new("c-old");
    let set = |v: Value| Op {
        key: "k".into(),
        change: Change::Set(v),
        if_rev: None,
    };
    first.local(set(json!(1)), &mut ops);
    first.local(set(json!(2)), &mut ops);
    let saved = first.core.doc("d").expect("open");
    let (rev, entries, pending) = (
        saved.confirmed.rev,
        saved
            .confirmed
            .entries
            .iter()
            .map(|(k, e)| (k.clone(), e.value.clone(), e.rev))
            .collect::<Vec<_>>(),
        saved.pending.clone(),
    );
    assert_eq!(pending.len(), 2);

    // The reloaded page has another origin but restores the saved state.
    let mut core = Core::new(config("c-new"), 1).expect("config");
    core.open_doc_restored("d", rev, entries, pending);
    let mut clients = vec![Client {
        core,
        connected: false,
        outbox: Vec::new(),
        events: Vec::new(),
        now: 0,
    }];
    assert_eq!(
        clients[0].core.doc("d").expect("open").view.get("k"),
        Some(&json!(2)),
        "restored view"
    );
    clients[0].connect();
    for _ in 0..3 {
        server.read(&mut clients, 0, &ops);
    }
    // Re-sending twice more must not apply twice either.
    for cseq in [1, 2] {
        clients[0].outbox.push(format!("op|c-old|{cseq}"));
    }
    server.read(&mut clients, 0, &ops);
    let state = clients[0].core.doc("d").expect("open");
    assert!(state.pending.is_empty(), "both confirmed");
    assert_eq!(server.doc.rev, 2, "each applied once");
    assert_eq!(state.confirmed, server.doc);
    let confirmed = clients[0]
        .events
        .iter()
        .filter(|e| matches!(e, Event::DocConfirmed { .. }))
        .count();
    assert_eq!(confirmed, 2);
}

/// Opens a client on a fresh socket and answers its sync with an empty snapshot.
fn synced_client() -> Client {
    let mut client = Client::new("c-a");
    client.connect();
    assert_eq!(client.outbox, vec!["sync|-1".to_owned()]);
    client.receive(DocInbound::Snapshot {
        doc: "d".into(),
        rev: 0,
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
        origin: None,
        expires_in: None,
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
        entries: Vec::new(),
    });
    assert_eq!(
        client.outbox,
        vec!["sync|-1".to_owned(), format!("op|c-a|{cseq}")]
    );
    assert!(client.core.doc("d").expect("open").synced);
}
