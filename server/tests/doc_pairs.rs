//! Optimistic document sync end to end, without sockets: several sans-IO clients
//! (`resocket::core::ClientCore`) against the server's real document state (the in-memory
//! engine and its hub), with the server's own frame reader (`dispatch::text_frame`) and frame
//! encoders in between. Each client's socket is its hub registration; reads, drops and
//! reconnects are steps a test chooses.

use proptest::prelude::*;
use resocket::core::{
    Action as CoreAction, ClientCore, Config, DocInbound, Event, Inbound, Transmit,
};
use resocket::doc::{apply, Change, Op};
use resocket::protocol::codec::{
    decode_server_frame, encode_client_frame, ClientFrame, ServerFrame,
};
use resocket::protocol::Welcome;
use resocket_server::protocol::dispatch::{self, Action};
use resocket_server::protocol::hub::{Hub, Registration};
use resocket_server::state::{Actor, Engine, MemoryEngine};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

type Core = ClientCore<String, Value>;

const DOC: &str = "d";
const MAX_FRAME_BYTES: usize = 1 << 20;

/// `(key, value, key revision)` of every entry, by key.
type Entries = Vec<(String, Value, u64)>;

/// The server: the real in-memory engine, and every applied op seen on the wire.
struct Server {
    hub: Arc<Hub>,
    engine: MemoryEngine,
    runtime: tokio::runtime::Runtime,
    /// Revision → `(origin, cseq)` of each `op` frame any client received.
    applied: RefCell<BTreeMap<u64, (String, u64)>>,
}

/// The server's end of a client's socket.
struct Link {
    registration: Registration,
    who: Actor,
    /// The session's origin, which the server assigned (`welcome.origin`).
    origin: String,
}

/// One client: its core, its socket (if open) and the frames it sent that the server has not
/// read yet.
struct Client {
    core: Core,
    link: Option<Link>,
    outbox: Vec<String>,
    events: Vec<Event<Value>>,
    now: u64,
    /// Every origin a session of this client had.
    origins: Vec<String>,
}

fn config(origin: &str) -> Config {
    let mut c = Config::default();
    c.heartbeat.interval_ms = 0;
    c.reconnect.initial_delay_ms = 10;
    c.reconnect.max_delay_ms = 10;
    c.reconnect.jitter = 0.0;
    // Only a page that never connected keeps this origin: the server assigns one per session.
    c.origin = Some(origin.into());
    c
}

/// The `op` frame a driver sends for `op`, through the client's codec.
fn op_frame(origin: &str, cseq: u64, op: &Op<Value>) -> String {
    encode_client_frame(ClientFrame::Op {
        doc: DOC,
        cseq,
        origin,
        op,
    })
    .to_string()
}

/// The `sync` frame a driver sends, through the client's codec.
fn sync_frame(id: u64, doc: &str, since: Option<u64>, epoch: Option<&str>) -> String {
    encode_client_frame::<Value>(ClientFrame::Sync {
        id,
        doc,
        since,
        epoch,
    })
    .to_string()
}

/// Decodes a document frame the server wrote, with the client's codec.
fn decode(text: &str) -> DocInbound<Value> {
    let frame: Value = serde_json::from_str(text).expect("JSON frame");
    match decode_server_frame(&frame) {
        Ok(ServerFrame::Doc(frame)) => frame,
        other => panic!("not a document frame: {other:?} in {text}"),
    }
}

impl Server {
    fn new(doc_history: usize) -> Server {
        let hub = Hub::new();
        let engine = MemoryEngine::new(Arc::clone(&hub), Duration::from_secs(60), 0, doc_history);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        Server {
            hub,
            engine,
            runtime,
            applied: RefCell::default(),
        }
    }

    fn run<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// Accepts a socket: registers it and opens a session, as the handshake does.
    fn accept(&self) -> Link {
        let registration = self.hub.register();
        let conn = registration.membership.id();
        let opened = self
            .run(self.engine.open_session(conn, None, None))
            .expect("opened");
        self.hub.welcome(conn, &opened.session.id, None);
        Link {
            registration,
            who: opened.session.actor(conn),
            origin: opened.session.origin,
        }
    }

    /// The socket ended: the connection's state goes, and so do the frames queued for it.
    fn close(&self, link: Link) {
        self.run(self.engine.disconnect(&link.who)).expect("left");
    }

    /// Reads everything client `i` sent, like its connection task: a `sync`'s answer is written
    /// at once, everything else is queued in the hub until a [`Server::deliver`].
    fn read(&self, clients: &mut [Client], i: usize) {
        let Some((conn, owner)) = clients[i]
            .link
            .as_ref()
            .map(|link| (link.who.conn, link.origin.clone()))
        else {
            clients[i].outbox.clear();
            return;
        };
        for frame in std::mem::take(&mut clients[i].outbox) {
            match dispatch::text_frame(&frame, MAX_FRAME_BYTES) {
                Action::Sync { id, room, since } => {
                    let Some(link) = clients[i].link.as_mut() else {
                        return;
                    };
                    let outbound = &mut link.registration.outbound;
                    let queued = || std::iter::from_fn(|| outbound.try_recv()).collect();
                    let frames = self
                        .run(self.engine.sync(conn, id, &room, since, queued))
                        .expect("a valid document");
                    for frame in frames {
                        clients[i].receive(self, frame.as_str());
                    }
                }
                Action::Op { room, op } => {
                    self.run(self.engine.op(conn, &owner, &room, &op))
                        .expect("a valid document");
                }
                other => panic!("unexpected frame {frame}: {other:?}"),
            }
        }
    }

    /// Client `i` reads the frames queued for it (a drop before this loses them).
    fn deliver(&self, client: &mut Client) {
        while let Some(frame) = client
            .link
            .as_mut()
            .and_then(|link| link.registration.outbound.try_recv())
        {
            client.receive(self, frame.as_str());
        }
    }

    /// Reads every client, then lets every client read.
    fn round(&self, clients: &mut [Client]) {
        for i in 0..clients.len() {
            self.read(clients, i);
        }
        for client in clients.iter_mut() {
            self.deliver(client);
        }
    }

    /// Records an applied op seen on the wire; one revision always carries the same op.
    fn saw(&self, frame: &DocInbound<Value>) {
        if let DocInbound::Applied {
            rev, origin, cseq, ..
        } = frame
        {
            let mut applied = self.applied.borrow_mut();
            let seen = applied
                .entry(*rev)
                .or_insert_with(|| (origin.clone(), *cseq));
            assert_eq!(seen, &(origin.clone(), *cseq), "revision {rev} is one op");
        }
    }

    /// The server's document: revision and entries.
    fn doc(&self) -> (u64, Entries) {
        let (rev, entries) = self
            .run(self.engine.doc_state(DOC))
            .expect("state")
            .unwrap_or((0, BTreeMap::new()));
        let entries = entries
            .into_iter()
            .map(|(key, entry)| (key, entry.value, entry.rev))
            .collect();
        (rev, entries)
    }
}

impl Client {
    fn new(origin: &str) -> Self {
        let mut core = Core::new(config(origin), 1).expect("config");
        core.open_doc(DOC);
        Client::with_core(core)
    }

    fn with_core(core: Core) -> Self {
        Client {
            core,
            link: None,
            outbox: Vec::new(),
            events: Vec::new(),
            now: 0,
            origins: Vec::new(),
        }
    }

    fn connected(&self) -> bool {
        self.link.is_some()
    }

    /// Drains actions like a driver; frames go to the outbox as text.
    fn drive(&mut self, server: &Server) {
        while let Some(action) = self.core.poll_action() {
            match action {
                // No token function here: the core never asks for one.
                CoreAction::Open { .. } | CoreAction::FetchToken { .. } => {}
                CoreAction::Close { .. } => {
                    if let Some(link) = self.link.take() {
                        server.close(link);
                    }
                }
                CoreAction::Send(Transmit::User { frame, .. }) => self.outbox.push(frame),
                CoreAction::Send(Transmit::Sync {
                    id,
                    doc,
                    since,
                    epoch,
                }) => self
                    .outbox
                    .push(sync_frame(id, &doc, since, epoch.as_deref())),
                CoreAction::Send(_) => {}
            }
        }
        while let Some(event) = self.core.poll_event() {
            self.events.push(event);
        }
    }

    fn connect(&mut self, server: &Server) {
        self.core.reconnect(self.now);
        self.core.handle_socket_open(self.now);
        let link = server.accept();
        let welcome = Welcome {
            version: 1,
            session: link.who.session.clone(),
            token: "t".into(),
            resumed: true,
            origin: Some(link.origin.clone()),
            expires_in: None,
            request_window: None,
        };
        self.origins.push(link.origin.clone());
        self.link = Some(link);
        self.core
            .handle_inbound(self.now, Inbound::Welcome(welcome), 0);
        self.outbox.clear(); // only frames sent on this socket from now on
        self.drive(server);
    }

    fn drop_link(&mut self, server: &Server) {
        if let Some(link) = self.link.take() {
            server.close(link);
            self.core.handle_socket_closed(self.now, 1006, "drop");
            self.drive(server);
        }
    }

    /// A local edit: applied optimistically and sent as a real `op` frame.
    fn local(&mut self, server: &Server, op: Op<Value>) {
        let cseq = self.core.allocate_cseq();
        let frame = op_frame(self.core.origin(), cseq, &op);
        self.core
            .apply_op(DOC, cseq, op, frame)
            .expect("doc is open");
        self.drive(server);
        self.check_view();
    }

    fn receive(&mut self, server: &Server, text: &str) {
        if self.connected() {
            let frame = decode(text);
            server.saw(&frame);
            self.core.handle_doc_frame(self.now, frame);
            self.drive(server);
            self.check_view();
        }
    }

    /// The invariant: view == confirmed + pending.
    fn check_view(&self) {
        let state = self.core.doc(DOC).expect("open");
        let mut expected = state.confirmed.clone();
        for pending in &state.pending {
            let _ = apply(&mut expected, &pending.op);
        }
        assert_eq!(
            state.view.entries, expected.entries,
            "view == confirmed + pending"
        );
    }

    /// The confirmed document: revision and entries.
    fn confirmed(&self) -> (u64, Entries) {
        let state = self.core.doc(DOC).expect("open");
        let mut entries: Entries = state
            .confirmed
            .entries
            .iter()
            .map(|(key, entry)| (key.clone(), entry.value.clone(), entry.rev))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        (state.confirmed.rev, entries)
    }
}

#[derive(Debug, Clone)]
enum Step {
    Local {
        client: usize,
        op: Op<Value>,
    },
    Read(usize),
    /// The client reads what the server queued for it.
    Deliver(usize),
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
        4 => (0..clients).prop_map(Step::Deliver),
        1 => (0..clients).prop_map(Step::Drop),
        2 => (0..clients).prop_map(Step::Connect),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// With random local ops, reads, deliveries, drops and reconnects (a drop loses what was
    /// queued for the client, so confirmed ops are re-sent and answered from the server's
    /// record): the view is always confirmed + pending; when all is settled every client's view
    /// and confirmed state equal the server's document; every op took effect at most once;
    /// rejected ops left no trace.
    #[test]
    fn clients_converge_on_the_servers_document(
        steps in prop::collection::vec(step(3), 0..80),
        log_capacity in 1usize..20,
    ) {
        let server = Server::new(log_capacity);
        let mut clients: Vec<Client> = ["c-a", "c-b", "c-c"].iter().map(|o| Client::new(o)).collect();
        for client in clients.iter_mut() { client.connect(&server); }
        for step in steps {
            match step {
                Step::Local { client, op } => clients[client].local(&server, op),
                Step::Read(i) => server.read(&mut clients, i),
                Step::Deliver(i) => server.deliver(&mut clients[i]),
                Step::Drop(i) => clients[i].drop_link(&server),
                Step::Connect(i) => {
                    if !clients[i].connected() { clients[i].connect(&server); }
                }
            }
        }
        // Settle: everyone connected, the server reads until nothing moves.
        for client in clients.iter_mut() { if !client.connected() { client.connect(&server); } }
        for _ in 0..10 { server.round(&mut clients); }

        let (rev, entries) = server.doc();
        for client in &clients {
            let state = client.core.doc(DOC).expect("open");
            prop_assert!(state.pending.is_empty(), "settled: nothing pending");
            prop_assert_eq!(client.confirmed(), (rev, entries.clone()));
            prop_assert_eq!(&state.view.entries, &state.confirmed.entries);
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
        // Every revision was seen on the wire, each carrying a different op (a client's cseqs
        // are its own whatever origin it had, so an op moved to a new origin counts as the same
        // op): applied at most once.
        let applied = server.applied.borrow();
        prop_assert_eq!(applied.keys().copied().collect::<Vec<_>>(), (1..=rev).collect::<Vec<_>>());
        let made_by = |origin: &str| clients.iter().position(|c| c.origins.iter().any(|o| o == origin));
        let distinct: BTreeSet<_> = applied.values().map(|(origin, cseq)| (made_by(origin), *cseq)).collect();
        prop_assert!(applied.values().all(|(origin, _)| made_by(origin).is_some()), "every origin was assigned");
        prop_assert_eq!(distinct.len() as u64, rev, "applied at most once");
    }
}

#[test]
fn a_conflicting_op_rolls_back_with_an_event() {
    let server = Server::new(100);
    let mut clients = vec![Client::new("c-a"), Client::new("c-b")];
    for client in clients.iter_mut() {
        client.connect(&server);
    }
    server.round(&mut clients);
    let set = |v: Value, if_rev| Op {
        key: "k".into(),
        change: Change::Set(v),
        if_rev,
    };
    clients[0].local(&server, set(json!("a"), Some(0)));
    clients[1].local(&server, set(json!("b"), Some(0)));
    assert_eq!(
        clients[1].core.doc(DOC).expect("open").view.get("k"),
        Some(&json!("b")),
        "optimistic"
    );
    server.round(&mut clients);
    let loser = clients[1].core.doc(DOC).expect("open");
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
    let server = Server::new(100);
    // The first page makes two edits offline, then goes away.
    let mut first = Client::new("c-old");
    let set = |v: Value| Op {
        key: "k".into(),
        change: Change::Set(v),
        if_rev: None,
    };
    first.local(&server, set(json!(1)));
    first.local(&server, set(json!(2)));
    let saved = first.core.doc(DOC).expect("open");
    let (rev, epoch, entries, pending) = (
        saved.confirmed.rev,
        saved.epoch.clone(),
        saved
            .confirmed
            .entries
            .iter()
            .map(|(k, e)| (k.clone(), e.value.clone(), e.rev))
            .collect::<Vec<_>>(),
        saved.pending.clone(),
    );
    assert_eq!(pending.len(), 2);
    let resent: Vec<String> = pending.iter().map(|p| p.frame.clone()).collect();

    // The reloaded page has another origin but restores the saved state.
    let mut core = Core::new(config("c-new"), 1).expect("config");
    core.open_doc_restored(DOC, rev, epoch, entries, pending);
    let mut clients = vec![Client::with_core(core)];
    assert_eq!(
        clients[0].core.doc(DOC).expect("open").view.get("k"),
        Some(&json!(2)),
        "restored view"
    );
    clients[0].connect(&server);
    for _ in 0..3 {
        server.round(&mut clients);
    }
    // Re-sending twice more must not apply twice either.
    clients[0].outbox.extend(resent);
    server.round(&mut clients);
    let state = clients[0].core.doc(DOC).expect("open");
    assert!(state.pending.is_empty(), "both confirmed");
    let (server_rev, server_entries) = server.doc();
    assert_eq!(server_rev, 2, "each applied once");
    assert_eq!(clients[0].confirmed(), (server_rev, server_entries));
    let confirmed = clients[0]
        .events
        .iter()
        .filter(|e| matches!(e, Event::DocConfirmed { .. }))
        .count();
    assert_eq!(confirmed, 2);
}
