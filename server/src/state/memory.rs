//! The in-memory engine: one server's state behind one lock, delivered through its hub.
//!
//! Deliveries are handed to the hub while the lock is held, so every recipient's queue gets a
//! room's messages and a document's ops in sequence order. No operation awaits while holding
//! the lock. The state itself is three independent structures, so finer locks (one per room or
//! document shard) can replace the single one without changing the trait.

use super::dedup::{DedupLimits, Seen};
use super::delivery::{ConnId, Delivery, Outcome, To};
use super::docs::{ClientOp, Docs, Entries, OpOutcome, ServerOpOutcome};
use super::engine::{Engine, Published, StateStats};
use super::epoch::Since;
use super::error::EngineError;
use super::rooms::{Rooms, Start};
use super::sessions::{Actor, Fresh, Opened, Sessions};
use crate::auth::Namespaces;
use crate::lock::Locked;
use crate::protocol::hub::Hub;
use axum::extract::ws::Utf8Bytes;
use resocket::doc::Op;
use resocket::protocol::{Member, Resume};
use serde_json::value::RawValue;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

pub struct MemoryEngine {
    state: Mutex<State>,
    hub: Arc<Hub>,
}

struct State {
    sessions: Sessions,
    rooms: Rooms,
    docs: Docs,
}

impl MemoryEngine {
    /// `session_ttl`: how long a session outlives its connection; `history` and `doc_history`:
    /// messages kept per room and ops kept per document for replay.
    pub fn new(
        hub: Arc<Hub>,
        session_ttl: Duration,
        history: usize,
        doc_history: usize,
    ) -> MemoryEngine {
        MemoryEngine {
            state: Mutex::new(State {
                sessions: Sessions::new(session_ttl),
                rooms: Rooms::new(history),
                docs: Docs::new(doc_history),
            }),
            hub,
        }
    }

    /// Rooms take their history bounds and presence from their namespace in `namespaces`
    /// (`history`, given to [`new`](Self::new), where a namespace sets no `history_size`).
    /// Call it before the engine is used: rooms that exist already are dropped.
    pub fn with_namespaces(self, history: usize, namespaces: Namespaces) -> MemoryEngine {
        self.lock().rooms = Rooms::with_namespaces(history, namespaces);
        self
    }

    /// Sessions de-duplicate requests within `limits` (call it before the engine is used).
    pub fn with_dedup_limits(self, limits: DedupLimits) -> MemoryEngine {
        self.lock().sessions.set_dedup_limits(limits);
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.locked()
    }

    /// Runs a state operation and hands its deliveries to the hub in order under the same
    /// lock; returns its value and how many connections got a frame (counting each delivery).
    fn run<T>(
        &self,
        operation: impl FnOnce(&mut State) -> Result<Outcome<T>, EngineError>,
    ) -> Result<(T, usize), EngineError> {
        let mut state = self.lock();
        let Outcome { value, deliveries } = operation(&mut state)?;
        let sent = deliveries
            .into_iter()
            .map(|delivery| self.send(&state.sessions, delivery))
            .sum();
        Ok((value, sent))
    }

    fn send(&self, sessions: &Sessions, Delivery { to, frame }: Delivery) -> usize {
        let one =
            |conn: Option<ConnId>| conn.map_or(0, |c| usize::from(self.hub.send_to(c, &frame)));
        match to {
            To::Conn(conn) => one(Some(conn)),
            To::Conns(conns) => self.hub.send_to_each(conns, &frame),
            To::Session(session) => one(sessions.connection(&session)),
            To::User(user) => self.hub.send_to_user(&user, &frame),
            To::Everyone => self.hub.send_to_open(&frame),
        }
    }
}

impl Engine for MemoryEngine {
    async fn open_session(
        &self,
        conn: ConnId,
        user: Option<&str>,
        resume: Option<&Resume>,
    ) -> Result<Opened, EngineError> {
        // CSPRNG; a resume gets a fresh token too (rotation) but keeps its origin.
        let fresh = Fresh::random();
        let mut state = self.lock();
        Ok(state
            .sessions
            .open(Instant::now(), user, resume, conn, fresh))
    }

    async fn disconnect(&self, who: &Actor) -> Result<(), EngineError> {
        self.run(|state| {
            let left = state.rooms.disconnect(who.conn);
            state.docs.disconnect(who.conn);
            state
                .sessions
                .detach(Instant::now(), &who.session, who.conn);
            Ok(left)
        })
        .map(|((), _)| ())
    }

    async fn begin_request(&self, session: &str, id: u64) -> Result<Seen<Utf8Bytes>, EngineError> {
        Ok(self.lock().sessions.begin_request(session, id))
    }

    async fn finish_request(
        &self,
        session: &str,
        id: u64,
        reply: Utf8Bytes,
    ) -> Result<(), EngineError> {
        self.lock().sessions.finish_request(session, id, reply);
        Ok(())
    }

    async fn finish_request_later(
        &self,
        session: &str,
        id: u64,
        reply: Utf8Bytes,
    ) -> Result<bool, EngineError> {
        self.run(|state| {
            state.sessions.finish_request(session, id, reply.clone());
            let to = To::Session(session.to_owned());
            Ok(Outcome::with((), vec![Delivery::new(to, reply)]))
        })
        .map(|((), sent)| sent == 1)
    }

    async fn join(
        &self,
        who: &Actor,
        id: Option<u64>,
        room: &str,
        since: Option<Since>,
        history: Option<u64>,
        meta: Option<Box<RawValue>>,
    ) -> Result<Vec<Utf8Bytes>, EngineError> {
        self.run(|state| {
            let start = Start { since, history };
            state.rooms.join(Instant::now(), who, id, room, start, meta)
        })
        .map(|(frames, _)| frames)
    }

    async fn leave(&self, who: &Actor, room: &str) -> Result<bool, EngineError> {
        self.run(|state| Ok(state.rooms.leave(who.conn, room)))
            .map(|(left, _)| left)
    }

    async fn publish(
        &self,
        who: &Actor,
        room: &str,
        payload: &RawValue,
    ) -> Result<Published, EngineError> {
        let (seq, members) =
            self.run(|state| state.rooms.publish(Instant::now(), who.conn, room, payload))?;
        Ok(Published { seq, members })
    }

    async fn publish_as_server(
        &self,
        room: &str,
        payload: &RawValue,
    ) -> Result<Published, EngineError> {
        let (seq, members) =
            self.run(|state| state.rooms.publish_as_server(Instant::now(), room, payload))?;
        Ok(Published { seq, members })
    }

    async fn presence(&self, room: &str) -> Result<Vec<Member<Box<RawValue>>>, EngineError> {
        self.lock().rooms.members(room)
    }

    async fn history(&self, room: &str, limit: usize) -> Result<Vec<Utf8Bytes>, EngineError> {
        self.lock().rooms.recent(Instant::now(), room, limit)
    }

    async fn set_meta(
        &self,
        who: &Actor,
        room: &str,
        meta: Box<RawValue>,
    ) -> Result<(), EngineError> {
        self.run(|state| state.rooms.set_meta(who.conn, room, meta))
            .map(|((), _)| ())
    }

    async fn sync<Q>(
        &self,
        conn: ConnId,
        id: Option<u64>,
        doc: &str,
        since: Option<Since>,
        queued: Q,
    ) -> Result<Vec<Utf8Bytes>, EngineError>
    where
        Q: FnOnce() -> Vec<Utf8Bytes> + Send,
    {
        let mut state = self.lock();
        let catch_up = state.docs.sync(conn, id, doc, since)?;
        // Under the lock: nothing newer than the catch-up can have been queued yet.
        let mut frames = queued();
        frames.extend(catch_up);
        Ok(frames)
    }

    async fn unsync(&self, conn: ConnId, doc: &str) -> Result<bool, EngineError> {
        Ok(self.lock().docs.unsync(conn, doc))
    }

    async fn op(
        &self,
        conn: ConnId,
        owner: &str,
        doc: &str,
        op: &ClientOp,
    ) -> Result<OpOutcome, EngineError> {
        self.run(|state| state.docs.op(conn, owner, doc, op))
            .map(|(outcome, _)| outcome)
    }

    async fn server_op(&self, doc: &str, op: &Op<Value>) -> Result<ServerOpOutcome, EngineError> {
        self.run(|state| state.docs.server_op(doc, op))
            .map(|(outcome, _)| outcome)
    }

    async fn doc_state(&self, doc: &str) -> Result<Option<(u64, Entries)>, EngineError> {
        Ok(self.lock().docs.state(doc))
    }

    async fn deliver(&self, delivery: Delivery) -> Result<usize, EngineError> {
        self.run(|_| Ok(Outcome::with((), vec![delivery])))
            .map(|((), sent)| sent)
    }

    async fn stats(&self) -> Result<StateStats, EngineError> {
        let mut state = self.lock();
        Ok(StateStats {
            sessions: state.sessions.count(Instant::now()),
            rooms: state.rooms.active(),
            docs: state.docs.count(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::hub::Registration;
    use serde_json::{json, Value};

    struct Client {
        reg: Registration,
        who: Actor,
    }

    impl Client {
        fn queued(&mut self) -> Vec<Value> {
            std::iter::from_fn(|| self.reg.outbound.try_recv().ok())
                .map(|f| serde_json::from_str(f.as_str()).expect("JSON frame"))
                .collect()
        }
    }

    async fn client(engine: &MemoryEngine, hub: &Arc<Hub>, user: Option<&str>) -> Client {
        let reg = hub.register();
        let conn = reg.membership.id();
        let opened = engine.open_session(conn, user, None).await.expect("opened");
        hub.welcome(conn, &opened.session.id, user);
        Client {
            reg,
            who: opened.session.actor(conn),
        }
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("valid JSON")
    }

    fn setup() -> (Arc<Hub>, MemoryEngine) {
        let hub = Hub::new();
        let engine = MemoryEngine::new(Arc::clone(&hub), Duration::from_secs(1), 10, 10);
        (hub, engine)
    }

    #[tokio::test]
    async fn deliveries_reach_the_hub_queues_in_order() {
        let (hub, engine) = setup();
        let mut a = client(&engine, &hub, Some("alice")).await;
        let mut b = client(&engine, &hub, None).await;
        engine
            .join(&a.who, None, "r", None, None, None)
            .await
            .expect("joined");
        engine
            .join(&b.who, None, "r", None, None, None)
            .await
            .expect("joined");
        assert_eq!(a.queued()[0]["payload"]["event"], "join");
        for n in 1..=3 {
            let published = engine
                .publish(&b.who, "r", &raw("1"))
                .await
                .expect("member");
            assert_eq!(published, Published { seq: n, members: 2 });
        }
        let seqs = |frames: Vec<Value>| frames.iter().map(|f| f["seq"].clone()).collect::<Vec<_>>();
        assert_eq!(seqs(a.queued()), [json!(1), json!(2), json!(3)]);
        assert_eq!(seqs(b.queued()), [json!(1), json!(2), json!(3)]);

        let stats = engine.stats().await.expect("stats");
        assert_eq!((stats.sessions, stats.rooms, stats.docs), (2, 1, 0));
        engine.disconnect(&b.who).await.expect("left");
        assert_eq!(a.queued()[0]["payload"]["event"], "leave");
        assert_eq!(engine.leave(&b.who, "r").await, Ok(false));
        let frame = Utf8Bytes::from_static(r#"{"kind":"notify"}"#);
        assert_eq!(
            engine
                .deliver(Delivery::new(To::User("alice".into()), frame.clone()))
                .await,
            Ok(1)
        );
        drop(b);
        assert_eq!(
            engine.deliver(Delivery::new(To::Everyone, frame)).await,
            Ok(1),
            "b is gone"
        );
    }

    #[tokio::test]
    async fn a_late_reply_goes_to_the_sessions_connection_of_that_moment() {
        let (hub, engine) = setup();
        let mut a = client(&engine, &hub, None).await;
        assert_eq!(engine.begin_request(&a.who.session, 1).await, Ok(Seen::New));
        let reply = Utf8Bytes::from_static(r#"{"kind":"res","id":1}"#);
        assert_eq!(
            engine
                .finish_request_later(&a.who.session, 1, reply.clone())
                .await,
            Ok(true)
        );
        assert_eq!(a.queued().len(), 1);
        assert_eq!(
            engine.begin_request(&a.who.session, 1).await,
            Ok(Seen::Done(reply.clone()))
        );
        engine.disconnect(&a.who).await.expect("left");
        assert_eq!(engine.begin_request(&a.who.session, 2).await, Ok(Seen::New));
        assert_eq!(
            engine.finish_request_later(&a.who.session, 2, reply).await,
            Ok(false),
            "detached"
        );
    }

    #[tokio::test]
    async fn a_sync_writes_what_was_queued_before_its_catch_up() {
        let (hub, engine) = setup();
        let a = client(&engine, &hub, None).await;
        let earlier = || vec![Utf8Bytes::from_static(r#"{"kind":"msg"}"#)];
        let frames = engine
            .sync(a.who.conn, None, "d", None, earlier)
            .await
            .expect("sync");
        let kinds: Vec<&str> = frames.iter().map(Utf8Bytes::as_str).collect();
        assert_eq!(kinds.len(), 2);
        assert_eq!(kinds[0], r#"{"kind":"msg"}"#);
        assert!(
            kinds[1].starts_with(r#"{"kind":"snapshot","room":"d","seq":0,"#),
            "{}",
            kinds[1]
        );
        assert_eq!(
            engine.sync(a.who.conn, None, "", None, Vec::new).await,
            Err(EngineError::BadDocName)
        );
        assert_eq!(
            engine.doc_state("d").await.map(|s| s.map(|s| s.0)),
            Ok(Some(0))
        );
    }
}
