//! Several welcomed connections driving the server's real state (a [`MemoryEngine`] and its hub)
//! with frames: each frame goes through the server's reader (`dispatch::text_frame`) and is
//! carried out on the engine as a connection does it, and every frame any connection receives
//! is decoded with the client's codec. A reference model checks the outcome after every step:
//! room sequence numbers go up by one, each member gets each message once, a refused frame
//! changes nothing, documents match a reference [`Doc`], and every subscriber's copy (rebuilt
//! from the snapshots and ops it received) matches it too.
//!
//! The glue mirrors `protocol::connection` (private to the server) for the kinds that touch
//! the state; requests and token refreshes need the application and are left out.

use crate::{JsonInput, OpInput, MAX_FRAME};
use resocket::doc::{apply, Doc, Entry, Op, Rejection};
use resocket::protocol::codec::{
    decode_server_frame, encode_client_frame, ClientFrame, ServerFrame,
};
use resocket::protocol::{DocInbound, ErrorCode, Inbound, Resume, SnapshotEntry};
use resocket_server::protocol::dispatch::{self, Action};
use resocket_server::protocol::hub::{Hub, Registration};
use resocket_server::state::{
    Actor, ClientOp, Delivery, Engine, MemoryEngine, OpOutcome, Since, To,
};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Connections in a session run.
const CONNS: usize = 3;
/// Steps run per input.
const MAX_STEPS: usize = 48;
/// Room and document names (the last is not a valid name: names are 1 to 256 bytes).
const NAMES: [&str; 4] = ["r", "d", "chat:1 x", ""];

/// What one connection does in one step.
#[derive(arbitrary::Arbitrary, Debug)]
pub enum StepInput {
    Join {
        id: u16,
        room: u8,
        /// `since` in the epoch this connection last saw for the room (or a made-up one).
        since: Option<(u8, bool)>,
        history: Option<u8>,
        meta: Option<JsonInput>,
    },
    Leave {
        id: u16,
        room: u8,
    },
    Publish {
        room: u8,
        payload: JsonInput,
    },
    Presence {
        room: u8,
        meta: JsonInput,
    },
    Broadcast(JsonInput),
    /// With `resume`, from the revision of the connection's copy in its epoch; with
    /// `Some(false)`, from a made-up epoch (a snapshot follows).
    Sync {
        id: u16,
        doc: u8,
        resume: Option<bool>,
    },
    Unsync {
        doc: u8,
    },
    /// An op under the connection's own origin (or, with `foreign`, another session's).
    Op {
        doc: u8,
        cseq: u8,
        foreign: bool,
        op: OpInput,
    },
    /// Any text, as a hostile client would send it.
    Raw(String),
    /// The socket drops and the session resumes on a new connection.
    Reconnect,
}

#[derive(arbitrary::Arbitrary, Debug)]
pub struct Step {
    pub conn: u8,
    pub input: StepInput,
}

/// The server's end of one connection and what the model knows about it.
struct Conn {
    registration: Registration,
    who: Actor,
    token: String,
    origin: String,
    /// Per room: the last seq this member got (from `joined` or a message).
    rooms: BTreeMap<String, u64>,
    /// Per room: the epoch of the last `joined`.
    epochs: BTreeMap<String, String>,
    /// Documents subscribed to.
    docs: BTreeSet<String>,
    /// Per document: the copy rebuilt from what the connection received (kept after an
    /// unsync, as a client keeps it, to sync again from its revision).
    copies: BTreeMap<String, Doc<Value>>,
    doc_epochs: BTreeMap<String, String>,
}

/// What the model expects of one document.
#[derive(Default, Clone)]
struct DocModel {
    doc: Doc<Value>,
    /// `(origin, cseq)` already answered: `Some(rev)` if applied, `None` if rejected.
    recorded: BTreeMap<(String, u64), Option<u64>>,
}

struct Session {
    hub: Arc<Hub>,
    engine: MemoryEngine,
    runtime: tokio::runtime::Runtime,
    conns: Vec<Conn>,
    docs: BTreeMap<String, DocModel>,
}

/// Everything one step sent: what each connection received, decoded, in order.
type Received = Vec<Vec<(String, ServerFrame<Value>)>>;

fn run<T>(runtime: &tokio::runtime::Runtime, future: impl Future<Output = T>) -> T {
    runtime.block_on(future)
}

fn decode(text: &str) -> ServerFrame<Value> {
    let value: Value = serde_json::from_str(text).expect("the server writes JSON");
    match decode_server_frame(&value) {
        Ok(ServerFrame::Core(Inbound::Unknown { kind })) => {
            panic!("the server sent a kind the client does not know: {kind}")
        }
        Ok(frame) => frame,
        Err(error) => panic!("the client cannot decode {text}: {}", error.reason()),
    }
}

fn is_error(frame: &ServerFrame<Value>) -> bool {
    matches!(frame, ServerFrame::Core(Inbound::Error { .. }))
}

/// The state the engine shows through its trait, for "a refused frame changes nothing".
type Fingerprint = Vec<String>;

impl Session {
    fn new() -> Session {
        let hub = Hub::new();
        let engine = MemoryEngine::new(Arc::clone(&hub), Duration::from_secs(60), 16, 16);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let mut session = Session {
            hub,
            engine,
            runtime,
            conns: Vec::new(),
            docs: BTreeMap::new(),
        };
        for _ in 0..CONNS {
            let conn = session.accept(None);
            session.conns.push(conn);
        }
        session
    }

    /// Registers a socket and opens (or resumes) its session, as the handshake does.
    fn accept(&self, resume: Option<&Conn>) -> Conn {
        let registration = self.hub.register();
        let id = registration.membership.id();
        let resume_with = resume.map(|old| Resume {
            session: old.who.session.clone(),
            token: old.token.clone(),
        });
        let opened = run(
            &self.runtime,
            self.engine.open_session(id, None, resume_with.as_ref()),
        )
        .expect("the memory engine opens sessions");
        if let Some(old) = resume {
            assert!(opened.resumed, "a valid resume was not resumed");
            assert_eq!(
                opened.session.id, old.who.session,
                "resume changed the session"
            );
            assert_eq!(
                opened.session.origin, old.origin,
                "resume changed the origin"
            );
            assert_ne!(opened.session.token, old.token, "resume kept the token");
        } else {
            assert!(!opened.resumed);
        }
        self.hub.welcome(id, &opened.session.id, None);
        Conn {
            registration,
            who: opened.session.actor(id),
            token: opened.session.token,
            origin: opened.session.origin,
            rooms: BTreeMap::new(),
            epochs: BTreeMap::new(),
            docs: BTreeSet::new(),
            copies: resume.map(|old| old.copies.clone()).unwrap_or_default(),
            doc_epochs: resume.map(|old| old.doc_epochs.clone()).unwrap_or_default(),
        }
    }

    fn fingerprint(&self) -> Fingerprint {
        let mut print = Vec::new();
        for name in NAMES {
            let presence = run(&self.runtime, self.engine.presence(name));
            print.push(format!("{presence:?}"));
            let history = run(&self.runtime, self.engine.history(name, 1000));
            print.push(format!("{history:?}"));
            let doc = run(&self.runtime, self.engine.doc_state(name));
            print.push(format!("{doc:?}"));
        }
        print
    }

    /// The frame connection `c` sends for `input`, through the client's codec.
    fn encode(&self, c: usize, input: &StepInput) -> Option<String> {
        let conn = &self.conns[c];
        let name = |n: &u8| NAMES[usize::from(*n) % NAMES.len()];
        let since_of =
            |epochs: &BTreeMap<String, String>, room: &str, since: &Option<(u8, bool)>| {
                since.map(|(seq, known)| {
                    let epoch = match epochs.get(room) {
                        Some(epoch) if known => epoch.clone(),
                        _ => "e-made-up".to_owned(),
                    };
                    (u64::from(seq), epoch)
                })
            };
        let op;
        let origin;
        let value = match input {
            StepInput::Join {
                id,
                room,
                since,
                history,
                meta,
            } => {
                let since = since_of(&conn.epochs, name(room), since);
                encode_client_frame(ClientFrame::Join {
                    id: u64::from(*id),
                    room: name(room),
                    since: since.as_ref().map(|s| s.0),
                    epoch: since.as_ref().map(|s| s.1.as_str()),
                    history: history.map(u64::from),
                    meta: meta.as_ref().map(JsonInput::to_value),
                })
            }
            StepInput::Leave { id, room } => encode_client_frame::<Value>(ClientFrame::Leave {
                id: u64::from(*id),
                room: name(room),
            }),
            StepInput::Publish { room, payload } => encode_client_frame(ClientFrame::Publish {
                id: None,
                room: name(room),
                payload: payload.to_value(),
            }),
            StepInput::Presence { room, meta } => encode_client_frame(ClientFrame::Presence {
                room: name(room),
                meta: meta.to_value(),
            }),
            StepInput::Broadcast(payload) => encode_client_frame(ClientFrame::Broadcast {
                payload: payload.to_value(),
            }),
            StepInput::Sync { id, doc, resume } => {
                let doc = name(doc);
                let since = match (resume, conn.copies.get(doc), conn.doc_epochs.get(doc)) {
                    (Some(true), Some(copy), Some(epoch)) => Some((copy.rev, epoch.as_str())),
                    (Some(_), copy, _) => Some((copy.map_or(0, |c| c.rev), "e-made-up")),
                    (None, _, _) => None,
                };
                encode_client_frame::<Value>(ClientFrame::Sync {
                    id: u64::from(*id),
                    doc,
                    since: since.map(|s| s.0),
                    epoch: since.map(|s| s.1),
                })
            }
            StepInput::Unsync { doc } => encode_client_frame::<Value>(ClientFrame::Unsync {
                id: 1,
                doc: name(doc),
            }),
            StepInput::Op {
                doc,
                cseq,
                foreign,
                op: input,
            } => {
                op = input.to_op();
                origin = if *foreign {
                    self.conns[(c + 1) % CONNS].origin.clone()
                } else {
                    conn.origin.clone()
                };
                encode_client_frame(ClientFrame::Op {
                    doc: name(doc),
                    cseq: u64::from(*cseq).max(1),
                    origin: &origin,
                    op: &op,
                })
            }
            StepInput::Raw(text) => return Some(text.clone()),
            StepInput::Reconnect => return None,
        };
        Some(value.to_string())
    }

    /// Takes what is queued for every connection and decodes it.
    fn drain(&mut self, received: &mut Received) {
        for (c, conn) in self.conns.iter_mut().enumerate() {
            while let Some(frame) = conn.registration.outbound.try_recv() {
                let text = frame.as_str().to_owned();
                let decoded = decode(&text);
                received[c].push((text, decoded));
            }
        }
    }

    fn step(&mut self, step: &Step) {
        let c = usize::from(step.conn) % CONNS;
        let Some(text) = self.encode(c, &step.input) else {
            return self.reconnect(c);
        };
        let before = self.fingerprint();
        let mut received: Received = vec![Vec::new(); CONNS];
        let action = dispatch::text_frame(&text, MAX_FRAME);
        if !matches!(step.input, StepInput::Raw(_)) {
            check_read_back(&step.input, &text, &action);
        }
        let outcome = self.carry_out(c, action, &mut received);
        self.drain(&mut received);
        let refused = received[c].iter().any(|(_, frame)| is_error(frame))
            || matches!(outcome, Outcome::Refused);
        if refused {
            assert_eq!(
                self.fingerprint(),
                before,
                "a refused frame changed the state: {text}"
            );
            for (other, frames) in received.iter().enumerate() {
                assert!(
                    other == c || frames.is_empty(),
                    "a refused frame reached another connection: {text}"
                );
            }
        }
        self.check_deliveries(c, &text, &outcome, &received);
        self.check_docs();
    }

    fn reconnect(&mut self, c: usize) {
        run(&self.runtime, self.engine.disconnect(&self.conns[c].who)).expect("disconnect");
        let fresh = self.accept(Some(&self.conns[c]));
        // The old registration goes with the old socket.
        self.conns[c] = fresh;
        let mut received: Received = vec![Vec::new(); CONNS];
        self.drain(&mut received);
        // Others may get presence `leave`s; the new connection gets nothing yet.
        assert!(
            received[c].is_empty(),
            "a fresh connection got {:?}",
            received[c]
        );
        self.absorb(&received);
    }

    /// Carries an action out as the connection task does.
    fn carry_out(&mut self, c: usize, action: Action, received: &mut Received) -> Outcome {
        let engine = &self.engine;
        let runtime = &self.runtime;
        let who = self.conns[c].who.clone();
        let reply = |received: &mut Received, text: String| {
            let decoded = decode(&text);
            received[c].push((text, decoded));
        };
        match action {
            Action::Reply(text) => {
                reply(received, text);
                Outcome::Nothing
            }
            Action::Broadcast(text) => {
                let sent = run(
                    runtime,
                    engine.deliver(Delivery::new(To::Everyone, text.clone())),
                )
                .expect("deliver");
                assert_eq!(sent, CONNS, "a broadcast reaches every open connection");
                Outcome::Broadcast(text)
            }
            Action::Ignore | Action::Request { .. } | Action::Refresh { .. } => Outcome::Nothing,
            Action::Join {
                id,
                room,
                since,
                history,
                meta,
            } => match run(runtime, engine.join(&who, id, &room, since, history, meta)) {
                Ok(frames) => {
                    for frame in frames {
                        reply(received, frame.as_str().to_owned());
                    }
                    Outcome::Joined(room)
                }
                Err(_) => Outcome::Refused,
            },
            Action::Leave { room, .. } => match run(runtime, engine.leave(&who, &room)) {
                Ok(was) => {
                    assert_eq!(
                        was,
                        self.conns[c].rooms.contains_key(&room),
                        "leave of {room}"
                    );
                    self.conns[c].rooms.remove(&room);
                    Outcome::Nothing
                }
                Err(_) => Outcome::Refused,
            },
            Action::Publish { room, payload, .. } => {
                match run(runtime, engine.publish(&who, &room, &payload)) {
                    Ok(published) => {
                        let payload: Value =
                            serde_json::from_str(payload.get()).expect("a JSON payload");
                        Outcome::Published {
                            room,
                            seq: published.seq,
                            members: published.members,
                            payload,
                        }
                    }
                    Err(_) => {
                        assert!(!self.conns[c].rooms.contains_key(&room) || room == NAMES[3]);
                        Outcome::Refused
                    }
                }
            }
            Action::Presence { room, meta, .. } => {
                match run(runtime, engine.set_meta(&who, &room, meta)) {
                    Ok(()) => Outcome::Nothing,
                    Err(_) => Outcome::Refused,
                }
            }
            Action::Sync { id, room, since } => {
                let outbound = &mut self.conns[c].registration.outbound;
                let queued = || std::iter::from_fn(|| outbound.try_recv()).collect();
                match run(runtime, engine.sync(who.conn, id, &room, since, queued)) {
                    Ok(frames) => {
                        for frame in frames {
                            reply(received, frame.as_str().to_owned());
                        }
                        Outcome::Synced(room)
                    }
                    Err(_) => Outcome::Refused,
                }
            }
            Action::Unsync { room } => {
                let was = run(runtime, engine.unsync(who.conn, &room)).unwrap_or(false);
                assert_eq!(was, self.conns[c].docs.contains(&room), "unsync of {room}");
                self.conns[c].docs.remove(&room);
                Outcome::Nothing
            }
            Action::Op { room, op } => {
                let owner = self.conns[c].origin.clone();
                match run(runtime, engine.op(who.conn, &owner, &room, &op)) {
                    Ok(outcome) => self.expect_op(c, &room, &op, outcome),
                    Err(_) => Outcome::Refused,
                }
            }
        }
    }

    /// Checks an op's outcome against the model and updates it.
    fn expect_op(&mut self, c: usize, room: &str, op: &ClientOp, outcome: OpOutcome) -> Outcome {
        let subscribed = self.conns[c].docs.contains(room);
        let model = self.docs.entry(room.to_owned()).or_default();
        let key = (op.origin.clone(), op.cseq);
        let recorded = model.recorded.get(&key).copied();
        if op.origin != self.conns[c].origin {
            return match (recorded, outcome) {
                (Some(_), OpOutcome::Repeated) if subscribed => Outcome::OpAnswered,
                (_, OpOutcome::Refused(ErrorCode::Forbidden))
                    if !(recorded.is_some() && subscribed) =>
                {
                    Outcome::Refused
                }
                (_, outcome) => panic!("foreign op {op:?} got {outcome:?}"),
            };
        }
        if let Some(previous) = recorded {
            assert_eq!(
                outcome,
                OpOutcome::Repeated,
                "op {op:?} was answered before"
            );
            return Outcome::OpRepeated(previous);
        }
        let before = model.doc.clone();
        let expected = apply(&mut model.doc, &op.op);
        match (expected, outcome) {
            (Ok(rev), OpOutcome::Applied { rev: got }) => {
                assert_eq!(rev, got, "the server applied {op:?} at another revision");
                model.recorded.insert(key, Some(rev));
                Outcome::Applied {
                    room: room.to_owned(),
                    rev,
                    op: op.op.clone(),
                }
            }
            // Over a budget: not applied, not recorded (the fingerprint check sees to it).
            (_, OpOutcome::Refused(_)) => {
                model.doc = before;
                Outcome::Refused
            }
            (Err(Rejection::Conflict { .. }), OpOutcome::Rejected) => {
                assert_eq!(model.doc, before);
                model.recorded.insert(key, None);
                Outcome::OpAnswered
            }
            (expected, got) => panic!("op {op:?}: the model says {expected:?}, the server {got:?}"),
        }
    }

    /// Who got what: messages once to each member with the next seq, ops once to each
    /// subscriber with the next revision, and the copies rebuilt from them.
    fn check_deliveries(&mut self, c: usize, text: &str, outcome: &Outcome, received: &Received) {
        match outcome {
            Outcome::Published {
                room,
                seq,
                members,
                payload,
            } => {
                let last = self.conns[c].rooms.get(room).copied();
                let last = last.unwrap_or_else(|| panic!("published to {room}, not a member"));
                let expected_seq = last + 1;
                assert_eq!(*seq, expected_seq, "room {room}: seq did not go up by one");
                let mut got = 0;
                for (i, frames) in received.iter().enumerate() {
                    let copies = frames
                        .iter()
                        .filter(|(_, f)| matches!(f, ServerFrame::Core(Inbound::RoomMessage { room: r, seq: s, payload: p, .. }) if r == room && s == seq && p == payload))
                        .count();
                    let member = self.conns[i].rooms.contains_key(room);
                    assert_eq!(
                        copies,
                        usize::from(member),
                        "conn {i} got message {seq} of {room} {copies} times"
                    );
                    got += copies;
                }
                assert_eq!(*members, got, "publish counted {members} recipients");
            }
            Outcome::Broadcast(frame) => {
                for (i, frames) in received.iter().enumerate() {
                    let copies = frames.iter().filter(|(t, _)| t == frame).count();
                    assert_eq!(copies, 1, "conn {i} got the broadcast {copies} times");
                }
            }
            Outcome::Applied { room, rev, op } => {
                for (i, frames) in received.iter().enumerate() {
                    let copies = frames
                        .iter()
                        .filter(|(_, f)| matches!(f, ServerFrame::Doc(DocInbound::Applied { doc, rev: r, op: o, .. }) if doc == room && r == rev && o == op))
                        .count();
                    let expected = self.conns[i].docs.contains(room) || i == c;
                    assert_eq!(
                        copies,
                        usize::from(expected),
                        "conn {i} got op {rev} of {room} {copies} times: {text}"
                    );
                }
            }
            Outcome::OpRepeated(_) | Outcome::OpAnswered => {
                for (i, frames) in received.iter().enumerate() {
                    assert!(
                        i == c || frames.is_empty(),
                        "an answered op reached conn {i}"
                    );
                }
                assert_eq!(received[c].len(), 1, "the sender gets one answer: {text}");
                // The recorded answer again: the op at its revision, or the same `reject`.
                if let Outcome::OpRepeated(previous) = outcome {
                    let frame = &received[c][0].1;
                    match previous {
                        Some(rev) => assert!(
                            matches!(frame, ServerFrame::Doc(DocInbound::Applied { rev: r, .. }) if r == rev),
                            "{text} was applied at {rev}, answered {frame:?}"
                        ),
                        None => assert!(
                            matches!(frame, ServerFrame::Doc(DocInbound::Rejected { .. })),
                            "{text} was rejected, answered {frame:?}"
                        ),
                    }
                }
            }
            _ => {}
        }
        self.absorb(received);
        if let Outcome::Joined(room) = outcome {
            assert!(
                self.conns[c].rooms.contains_key(room),
                "joined {room} without a joined frame"
            );
        }
        if let Outcome::Synced(doc) = outcome {
            assert!(
                self.conns[c].docs.contains(doc),
                "synced {doc} without a snapshot or synced"
            );
        }
    }

    /// Updates each connection's view from what it received, checking the order.
    fn absorb(&mut self, received: &Received) {
        for (i, frames) in received.iter().enumerate() {
            let conn = &mut self.conns[i];
            // Ops replayed after a `sync` since a revision, until its `synced`.
            let mut replaying: BTreeMap<String, Vec<(u64, Op<Value>)>> = BTreeMap::new();
            let mut replay_msgs: Option<(String, u64)> = None;
            for (_, frame) in frames {
                match frame {
                    ServerFrame::Core(Inbound::Joined {
                        room, seq, epoch, ..
                    }) => {
                        conn.rooms.insert(room.clone(), *seq);
                        if let Some(epoch) = epoch {
                            conn.epochs.insert(room.clone(), epoch.clone());
                        }
                        replay_msgs = Some((room.clone(), *seq));
                    }
                    ServerFrame::Core(Inbound::RoomMessage { room, seq, .. }) => {
                        let last = conn.rooms.get(room).copied();
                        match (&replay_msgs, last) {
                            // A replay right after `joined`: up to the seq it named.
                            (Some((r, top)), _) if r == room && seq <= top => {}
                            (_, Some(last)) => {
                                assert_eq!(
                                    *seq,
                                    last + 1,
                                    "conn {i}: message {seq} of {room} after {last}"
                                );
                                conn.rooms.insert(room.clone(), *seq);
                            }
                            (_, None) => panic!("conn {i} got a message of {room}, not a member"),
                        }
                    }
                    ServerFrame::Doc(DocInbound::Snapshot {
                        doc,
                        rev,
                        epoch,
                        entries,
                    }) => {
                        let mut copy = Doc::new();
                        for (key, value, key_rev) in entries {
                            let entry = Entry {
                                value: value.clone(),
                                rev: *key_rev,
                            };
                            copy.entries.insert(key.clone(), entry);
                        }
                        copy.rev = *rev;
                        conn.copies.insert(doc.clone(), copy);
                        conn.docs.insert(doc.clone());
                        replaying.remove(doc);
                        if let Some(epoch) = epoch {
                            conn.doc_epochs.insert(doc.clone(), epoch.clone());
                        }
                    }
                    ServerFrame::Doc(DocInbound::Applied { doc, rev, op, .. }) => {
                        match (replaying.get_mut(doc), conn.copies.get_mut(doc)) {
                            (Some(ops), _) => ops.push((*rev, op.clone())),
                            (None, Some(copy)) if conn.docs.contains(doc) => {
                                // One the copy holds already is an answer sent again.
                                if *rev > copy.rev {
                                    let applied = apply(copy, op);
                                    assert_eq!(
                                        applied,
                                        Ok(*rev),
                                        "conn {i}: op {rev} of {doc} out of order"
                                    );
                                }
                            }
                            // The sender of an op that is not subscribed gets it too; a sync's
                            // replay starts with its ops, before `synced`.
                            _ => {
                                replaying.insert(doc.clone(), vec![(*rev, op.clone())]);
                            }
                        }
                    }
                    ServerFrame::Doc(DocInbound::Synced { doc, rev, epoch }) => {
                        let copy = conn.copies.entry(doc.clone()).or_default();
                        for (r, op) in replaying.remove(doc).unwrap_or_default() {
                            if r > copy.rev {
                                assert_eq!(
                                    apply(copy, &op),
                                    Ok(r),
                                    "conn {i}: replayed op {r} of {doc}"
                                );
                            }
                        }
                        assert_eq!(copy.rev, *rev, "conn {i}: {doc} synced at another revision");
                        conn.docs.insert(doc.clone());
                        if let Some(epoch) = epoch {
                            conn.doc_epochs.insert(doc.clone(), epoch.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The server's documents match the model, and so does every subscriber's copy.
    fn check_docs(&self) {
        for (name, model) in &self.docs {
            let state = run(&self.runtime, self.engine.doc_state(name)).expect("doc state");
            let Some((rev, entries)) = state else {
                assert_eq!(model.doc.rev, 0, "{name} is gone");
                continue;
            };
            assert_eq!(rev, model.doc.rev, "{name} is at another revision");
            assert_eq!(
                entries,
                model_entries(&model.doc),
                "{name} differs from the model"
            );
        }
        for (i, conn) in self.conns.iter().enumerate() {
            for name in &conn.docs {
                let copy = &conn.copies[name];
                let model = self.docs.get(name).map(|m| &m.doc);
                let empty = Doc::new();
                let model = model.unwrap_or(&empty);
                assert_eq!(
                    copy.rev, model.rev,
                    "conn {i}: its copy of {name} is behind"
                );
                assert_eq!(
                    copy.entries, model.entries,
                    "conn {i}: its copy of {name} differs"
                );
            }
        }
    }
}

fn model_entries(doc: &Doc<Value>) -> resocket_server::state::Entries {
    doc.entries
        .iter()
        .map(|(key, entry)| {
            let value = entry.value.clone();
            (
                key.clone(),
                SnapshotEntry {
                    value,
                    rev: entry.rev,
                },
            )
        })
        .collect()
}

/// What a step did, for the delivery checks.
enum Outcome {
    Nothing,
    Refused,
    Broadcast(String),
    Joined(String),
    Synced(String),
    Published {
        room: String,
        seq: u64,
        members: usize,
        payload: Value,
    },
    Applied {
        room: String,
        rev: u64,
        op: Op<Value>,
    },
    /// An op answered again from the record (applied at `Some(rev)` or rejected).
    OpRepeated(Option<u64>),
    /// A rejected op, or a foreign one answered from the record.
    OpAnswered,
}

/// The server reads back what the client's codec wrote: decode(encode(x)) == x.
fn check_read_back(input: &StepInput, text: &str, action: &Action) {
    let valid = |n: &u8| usize::from(*n) % NAMES.len() != 3;
    let name = |n: &u8| NAMES[usize::from(*n) % NAMES.len()];
    let raw = |v: &RawValue| serde_json::from_str::<Value>(v.get()).expect("JSON");
    let refused = matches!(action, Action::Reply(reply) if reply.contains("\"kind\":\"error\""));
    match (input, action) {
        (StepInput::Join { room, .. }, _)
        | (StepInput::Leave { room, .. }, _)
        | (StepInput::Publish { room, .. }, _)
        | (StepInput::Presence { room, .. }, _)
        | (StepInput::Sync { doc: room, .. }, _)
        | (StepInput::Unsync { doc: room }, _)
            if !valid(room) =>
        {
            assert!(refused, "an invalid name was accepted: {text}")
        }
        (StepInput::Op { doc, .. }, _) if !valid(doc) => assert!(refused, "{text}"),
        (StepInput::Op { op, .. }, _) if op.key.len() > resocket_server::state::MAX_KEY => {
            assert!(refused, "{text}")
        }
        (
            StepInput::Join {
                id,
                room,
                history,
                meta,
                since,
            },
            Action::Join {
                id: got_id,
                room: got_room,
                since: got_since,
                history: got_history,
                meta: got_meta,
            },
        ) => {
            assert_eq!(*got_id, Some(u64::from(*id)));
            assert_eq!(got_room, name(room));
            assert_eq!(
                got_since.as_ref().map(|s| s.seq),
                since.map(|s| u64::from(s.0))
            );
            assert_eq!(*got_history, history.map(u64::from));
            // A `null` meta reads as none (serde's `Option`): the same to the server.
            let sent = meta
                .as_ref()
                .map(JsonInput::to_value)
                .filter(|m| !m.is_null());
            assert_eq!(got_meta.as_deref().map(raw), sent);
        }
        (
            StepInput::Leave { id, room },
            Action::Leave {
                id: got_id,
                room: got,
            },
        ) => {
            assert_eq!(*got_id, Some(u64::from(*id)));
            assert_eq!(got, name(room));
        }
        (
            StepInput::Publish { room, payload },
            Action::Publish {
                room: got,
                payload: p,
                ..
            },
        ) => {
            assert_eq!(got, name(room));
            assert_eq!(raw(p), payload.to_value());
        }
        (
            StepInput::Presence { room, meta },
            Action::Presence {
                room: got, meta: m, ..
            },
        ) => {
            assert_eq!(got, name(room));
            assert_eq!(raw(m), meta.to_value());
        }
        (StepInput::Broadcast(payload), Action::Broadcast(frame)) => {
            let frame: Value = serde_json::from_str(frame).expect("JSON");
            assert_eq!(frame.get("payload"), Some(&payload.to_value()));
        }
        (
            StepInput::Sync { id, doc, resume },
            Action::Sync {
                id: got_id,
                room,
                since: got,
            },
        ) => {
            assert_eq!(*got_id, Some(u64::from(*id)));
            assert_eq!(room, name(doc));
            assert_eq!(got.is_some(), resume.is_some(), "{text}");
            assert!(
                got.as_ref().is_none_or(|s: &Since| s.epoch.is_some()),
                "{text}"
            );
        }
        (StepInput::Unsync { doc }, Action::Unsync { room }) => assert_eq!(room, name(doc)),
        (StepInput::Op { doc, cseq, op, .. }, Action::Op { room, op: got }) => {
            assert_eq!(room, name(doc));
            assert_eq!(got.cseq, u64::from(*cseq).max(1));
            assert_eq!(got.op, op.to_op(), "{text}");
        }
        (input, action) => panic!("{input:?} was read as {action:?}: {text}"),
    }
}

/// Runs a sequence of steps from several connections against a fresh engine.
pub fn server_session(steps: Vec<Step>) {
    let mut session = Session::new();
    for step in steps.iter().take(MAX_STEPS) {
        session.step(step);
    }
}
