//! The in-memory engine: one server's state, delivered through its hub.
//!
//! Locks: rooms and documents are split by name into [`SHARDS`] shards each, every shard behind
//! its own lock, and the sessions have one of their own. An operation on a room or document
//! locks its one shard, changes it and hands its deliveries to the hub before unlocking, so
//! every recipient's queue gets a room's messages and a document's ops in sequence order.
//!
//! Nothing done under a lock costs more than O(members) cheap copies: snapshots and `joined`
//! frames (which grow with a document's or a member list's bytes) are taken as refcounted
//! copies under the lock and encoded after it is released. That keeps the order too: the
//! connection writes them before anything queued for it later. A large one (over
//! [`HEAVY_BYTES`]) is encoded on a blocking thread, at most [`ENCODERS`] at once, so the async
//! workers stay free for every other connection. The session sweep is O(expired). No
//! operation awaits while holding a lock. Lock order: a shard, then the sessions, then the
//! hub's; never the other way.

use super::dedup::{DedupLimits, Seen};
use super::delivery::{ConnId, Delivery, Outcome, To};
use super::docs::{self, ClientOp, Docs, Entries, OpOutcome, ServerOpOutcome, Synced};
use super::engine::{Engine, Published, StateStats};
use super::epoch::Since;
use super::error::EngineError;
use super::limits::StateLimits;
use super::names::Places;
use super::rooms::{Rooms, Start};
use super::sessions::{Actor, Fresh, Opened, Sessions};
use crate::auth::Namespaces;
use crate::lock::Locked;
use crate::protocol::hub::Hub;
use axum::extract::ws::Utf8Bytes;
use resocket::doc::{Doc, Op};
use resocket::protocol::{Member, Resume};
use serde_json::value::RawValue;
use serde_json::Value;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Shards of rooms, and of documents, each behind its own lock.
pub const SHARDS: usize = 16;

/// A snapshot or `joined` frame of about this many bytes or more is encoded on a blocking
/// thread rather than on an async worker.
pub const HEAVY_BYTES: usize = 64 * 1024;

/// Heavy answers encoded at once; more wait their turn (without holding a worker).
pub const ENCODERS: usize = 2;

pub struct MemoryEngine {
    sessions: Mutex<Sessions>,
    rooms: Box<[Mutex<Rooms>]>,
    docs: Box<[Mutex<Docs>]>,
    /// Picks a name's shard, with random keys: nobody can choose names that share one.
    shard_of: RandomState,
    /// Permits to encode a heavy answer.
    encoders: Semaphore,
    hub: Arc<Hub>,
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
            sessions: Mutex::new(Sessions::new(session_ttl)),
            rooms: room_shards(|| Rooms::new(history)),
            docs: doc_shards(|| Docs::new(doc_history)),
            shard_of: RandomState::new(),
            encoders: Semaphore::new(ENCODERS),
            hub,
        }
    }

    /// Rooms take their history bounds and presence from their namespace in `namespaces`
    /// (`history`, given to [`new`](Self::new), where a namespace sets no `history_size`).
    /// Call it before the engine is used: rooms that exist already are dropped.
    pub fn with_namespaces(mut self, history: usize, namespaces: Namespaces) -> MemoryEngine {
        self.rooms = room_shards(|| Rooms::with_namespaces(history, namespaces.clone()));
        self
    }

    /// Rooms and documents within the byte and count budgets of `limits` (and rooms following
    /// their namespace, as [`with_namespaces`](Self::with_namespaces)). Call it before the
    /// engine is used: rooms and documents that exist already are dropped.
    pub fn with_limits(
        mut self,
        history: usize,
        doc_history: usize,
        namespaces: Namespaces,
        limits: StateLimits,
    ) -> MemoryEngine {
        self.rooms = room_shards(|| Rooms::with_limits(history, namespaces.clone(), limits));
        self.docs = doc_shards(|| Docs::with_limits(doc_history, limits));
        let mut sessions = self.sessions();
        sessions.set_detached_budget(limits.detached_session_bytes);
        sessions.set_reply_budget(limits.reply_cache_total_bytes);
        drop(sessions);
        self
    }

    /// Sessions de-duplicate requests within `limits` (call it before the engine is used).
    pub fn with_dedup_limits(self, limits: DedupLimits) -> MemoryEngine {
        self.sessions().set_dedup_limits(limits);
        self
    }

    fn shard_index(&self, name: &str) -> usize {
        // The remainder is below SHARDS, so it fits.
        (self.shard_of.hash_one(name) % SHARDS as u64) as usize
    }

    /// The shard of room `name`, locked.
    fn rooms(&self, name: &str) -> MutexGuard<'_, Rooms> {
        self.rooms[self.shard_index(name)].locked()
    }

    /// The shard of document `name`, locked.
    fn docs(&self, name: &str) -> MutexGuard<'_, Docs> {
        self.docs[self.shard_index(name)].locked()
    }

    /// The shard of room `name`, locked, with a place made for it if it is new.
    fn rooms_with_place(&self, name: &str) -> MutexGuard<'_, Rooms> {
        let home = self.shard_index(name);
        make_place(&self.rooms, home, name);
        self.rooms[home].locked()
    }

    /// The shard of document `name`, locked, with a place made for it if it is new.
    fn docs_with_place(&self, name: &str) -> MutexGuard<'_, Docs> {
        let home = self.shard_index(name);
        make_place(&self.docs, home, name);
        self.docs[home].locked()
    }

    fn sessions(&self) -> MutexGuard<'_, Sessions> {
        self.sessions.locked()
    }

    /// Runs a state operation on the shard `shard` guards and hands its deliveries to the hub
    /// in order before the shard is unlocked; returns its value and how many connections got a
    /// frame (counting each delivery).
    fn run<S, T>(
        &self,
        mut shard: MutexGuard<'_, S>,
        operation: impl FnOnce(&mut S) -> Result<Outcome<T>, EngineError>,
    ) -> Result<(T, usize), EngineError> {
        let Outcome { value, deliveries } = operation(&mut shard)?;
        let sent = deliveries.into_iter().map(|d| self.send(d)).sum();
        drop(shard);
        Ok((value, sent))
    }

    fn send(&self, Delivery { to, frame }: Delivery) -> usize {
        match to {
            To::Conn(conn) => usize::from(self.hub.send_to(conn, &frame)),
            To::Conns(conns) => self.hub.send_to_each(conns, &frame),
            To::Session(session) => self.send_to_session(&self.sessions(), &session, &frame),
            To::User(user) => self.hub.send_to_user(&user, &frame),
            To::Everyone => self.hub.send_to_open(&frame),
        }
    }

    /// Runs `encode` here if it is light, or else on a blocking thread once an encoder is free.
    async fn encode<T: Send + 'static>(
        &self,
        heavy: bool,
        encode: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, EngineError> {
        if !heavy {
            return Ok(encode());
        }
        let stopping = || EngineError::Unavailable("the server is stopping".into());
        // The semaphore is never closed.
        let _permit = self.encoders.acquire().await.map_err(|_| stopping())?;
        match tokio::task::spawn_blocking(encode).await {
            Ok(value) => Ok(value),
            // A panic while encoding is a bug: it goes on as this task's own.
            Err(err) => match err.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => Err(stopping()),
            },
        }
    }

    /// Queues `frame` for the connection `session` has at this moment (its lock held, so a
    /// resume is either before, and gets it, or after).
    fn send_to_session(&self, sessions: &Sessions, session: &str, frame: &Utf8Bytes) -> usize {
        sessions
            .connection(session)
            .map_or(0, |conn| usize::from(self.hub.send_to(conn, frame)))
    }
}

/// About how many bytes `doc` encodes to, counted up to `limit` only: O(min(size, limit)).
fn encoded_bytes_up_to(doc: &Doc<Value>, limit: usize) -> usize {
    let mut total = 0;
    let mut values = Vec::new();
    for (key, entry) in doc.entries.iter() {
        total += key.len() + 16;
        values.push(&entry.value);
        while let Some(value) = values.pop() {
            total += match value {
                Value::String(text) => text.len() + 2,
                Value::Array(items) => {
                    values.extend(items);
                    2
                }
                Value::Object(members) => {
                    for (key, value) in members {
                        total += key.len() + 4;
                        values.push(value);
                    }
                    2
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => 8,
            };
            if total >= limit {
                return total;
            }
        }
    }
    total
}

fn room_shards(make: impl Fn() -> Rooms) -> Box<[Mutex<Rooms>]> {
    let total = Arc::new(AtomicUsize::new(0));
    (0..SHARDS)
        .map(|_| Mutex::new(make().sharing_cap(Arc::clone(&total))))
        .collect()
}

/// The shards share one count of rooms (or documents). When it is full, a new name takes the
/// place of the longest-idle entry of all shards, so idle junk in one shard never refuses a
/// name of another. Each shard is locked alone, briefly; this runs only at the bound. A place
/// taken meanwhile by someone else is a `rate_limited` refusal, as when all are in use.
fn make_place<S: Places>(shards: &[Mutex<S>], home: usize, name: &str) {
    if !shards[home].locked().needs_place(name) {
        return;
    }
    let oldest = shards
        .iter()
        .enumerate()
        .filter_map(|(index, shard)| shard.locked().oldest_idle().map(|since| (since, index)))
        .min();
    if let Some((_, index)) = oldest {
        shards[index].locked().evict_oldest_idle();
    }
}

fn doc_shards(make: impl Fn() -> Docs) -> Box<[Mutex<Docs>]> {
    let total = Arc::new(AtomicUsize::new(0));
    (0..SHARDS)
        .map(|_| Mutex::new(make().sharing_cap(Arc::clone(&total))))
        .collect()
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
        Ok(self
            .sessions()
            .open(Instant::now(), user, resume, conn, fresh))
    }

    async fn disconnect(&self, who: &Actor) -> Result<(), EngineError> {
        let now = Instant::now();
        for shard in self.rooms.iter() {
            self.run(shard.locked(), |rooms| Ok(rooms.disconnect(now, who.conn)))?;
        }
        for shard in self.docs.iter() {
            shard.locked().disconnect(now, who.conn);
        }
        self.sessions().detach(now, &who.session, who.conn);
        Ok(())
    }

    async fn begin_request(&self, session: &str, id: u64) -> Result<Seen<Utf8Bytes>, EngineError> {
        Ok(self.sessions().begin_request(session, id))
    }

    async fn finish_request(
        &self,
        session: &str,
        id: u64,
        reply: Utf8Bytes,
    ) -> Result<(), EngineError> {
        self.sessions().finish_request(session, id, reply);
        Ok(())
    }

    async fn finish_request_later(
        &self,
        session: &str,
        id: u64,
        reply: Utf8Bytes,
    ) -> Result<bool, EngineError> {
        let mut sessions = self.sessions();
        sessions.finish_request(session, id, reply.clone());
        Ok(self.send_to_session(&sessions, session, &reply) == 1)
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
        let start = Start { since, history };
        let (joined, _) = self.run(self.rooms_with_place(room), |rooms| {
            rooms.join_deferred(Instant::now(), who, id, room, start, meta)
        })?;
        // Encoded unlocked; the connection writes it before anything queued after the join.
        let heavy = joined.members_bytes() >= HEAVY_BYTES;
        self.encode(heavy, move || joined.frames()).await
    }

    async fn leave(&self, who: &Actor, room: &str) -> Result<bool, EngineError> {
        self.run(self.rooms(room), |rooms| {
            Ok(rooms.leave(Instant::now(), who.conn, room))
        })
        .map(|(left, _)| left)
    }

    async fn publish(
        &self,
        who: &Actor,
        room: &str,
        payload: &RawValue,
    ) -> Result<Published, EngineError> {
        let (seq, members) = self.run(self.rooms(room), |rooms| {
            rooms.publish(Instant::now(), who.conn, room, payload)
        })?;
        Ok(Published { seq, members })
    }

    async fn publish_as_server(
        &self,
        room: &str,
        payload: &RawValue,
    ) -> Result<Published, EngineError> {
        let (seq, members) = self.run(self.rooms_with_place(room), |rooms| {
            rooms.publish_as_server(Instant::now(), room, payload)
        })?;
        Ok(Published { seq, members })
    }

    async fn presence(&self, room: &str) -> Result<Vec<Member<Box<RawValue>>>, EngineError> {
        self.rooms(room).members(room)
    }

    async fn history(&self, room: &str, limit: usize) -> Result<Vec<Utf8Bytes>, EngineError> {
        self.rooms(room).recent(Instant::now(), room, limit)
    }

    async fn set_meta(
        &self,
        who: &Actor,
        room: &str,
        meta: Box<RawValue>,
    ) -> Result<(), EngineError> {
        self.run(self.rooms(room), |rooms| {
            rooms.set_meta(who.conn, room, meta)
        })
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
        let (mut frames, catch_up) = {
            let mut docs = self.docs_with_place(doc);
            let catch_up = docs.sync_deferred(Instant::now(), conn, id, doc, since)?;
            // Under the lock: nothing newer than the catch-up can have been queued yet.
            (queued(), catch_up)
        };
        // A snapshot is encoded unlocked, from the document as it was at the subscription.
        let heavy = match &catch_up {
            Synced::Frames(_) => false,
            Synced::Snapshot { doc, .. } => encoded_bytes_up_to(doc, HEAVY_BYTES) >= HEAVY_BYTES,
        };
        frames.extend(self.encode(heavy, move || catch_up.frames()).await?);
        Ok(frames)
    }

    async fn unsync(&self, conn: ConnId, doc: &str) -> Result<bool, EngineError> {
        Ok(self.docs(doc).unsync(Instant::now(), conn, doc))
    }

    async fn op(
        &self,
        conn: ConnId,
        owner: &str,
        doc: &str,
        op: &ClientOp,
    ) -> Result<OpOutcome, EngineError> {
        self.run(self.docs_with_place(doc), |docs| {
            docs.op(Instant::now(), conn, owner, doc, op)
        })
        .map(|(outcome, _)| outcome)
    }

    async fn server_op(&self, doc: &str, op: &Op<Value>) -> Result<ServerOpOutcome, EngineError> {
        self.run(self.docs_with_place(doc), |docs| {
            docs.server_op(Instant::now(), doc, op)
        })
        .map(|(outcome, _)| outcome)
    }

    async fn doc_state(&self, doc: &str) -> Result<Option<(u64, Entries)>, EngineError> {
        let shared = self.docs(doc).shared(doc);
        Ok(shared.map(|doc| docs::entries(&doc)))
    }

    async fn deliver(&self, delivery: Delivery) -> Result<usize, EngineError> {
        Ok(self.send(delivery))
    }

    async fn stats(&self) -> Result<StateStats, EngineError> {
        Ok(StateStats {
            sessions: self.sessions().count(Instant::now()),
            rooms: self.rooms.iter().map(|shard| shard.locked().active()).sum(),
            docs: self.docs.iter().map(|shard| shard.locked().count()).sum(),
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
            std::iter::from_fn(|| self.reg.outbound.try_recv())
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

    /// Rooms held by all shards.
    fn rooms_held(engine: &MemoryEngine) -> usize {
        engine.rooms.iter().map(|shard| shard.locked().held()).sum()
    }

    #[tokio::test]
    async fn the_shards_share_one_cap_and_the_longest_idle_anywhere_makes_room() {
        let hub = Hub::new();
        let limits = StateLimits {
            max_rooms: 40,
            max_docs: 40,
            ..StateLimits::default()
        };
        let engine = MemoryEngine::new(Arc::clone(&hub), Duration::from_secs(1), 10, 10)
            .with_limits(10, 10, Namespaces::default(), limits);
        // 40 idle rooms, spread over the shards: each new one beyond takes the place of the
        // longest-idle, whichever shard holds it.
        for n in 0..40 {
            let room = format!("r{n}");
            engine
                .publish_as_server(&room, &raw("1"))
                .await
                .expect("room");
        }
        for n in 0..40 {
            let room = format!("new{n}");
            engine
                .publish_as_server(&room, &raw("1"))
                .await
                .expect("a place");
            assert_eq!(rooms_held(&engine), 40);
            let evicted = format!("r{n}");
            let history = engine.history(&evicted, 10).await.expect("history");
            assert!(history.is_empty(), "{evicted} made room");
        }
        // Every room in use: a new one is refused.
        let a = client(&engine, &hub, None).await;
        for n in 0..40 {
            let room = format!("new{n}");
            engine
                .join(&a.who, None, &room, None, None, None)
                .await
                .expect("joined");
        }
        assert_eq!(
            engine.publish_as_server("one-more", &raw("1")).await,
            Err(EngineError::TooManyRooms)
        );
        assert!(engine.publish_as_server("new7", &raw("1")).await.is_ok());

        let op: Op<Value> = Op {
            key: "k".into(),
            change: resocket::doc::Change::Set(json!(1)),
            if_rev: None,
        };
        for n in 0..40 {
            engine.server_op(&format!("d{n}"), &op).await.expect("doc");
        }
        engine.server_op("one-more", &op).await.expect("a place");
        assert_eq!(engine.doc_state("d0").await, Ok(None), "d0 made room");
        assert_eq!(engine.stats().await.map(|s| s.docs), Ok(40));
    }

    #[tokio::test]
    async fn a_snapshot_encoded_after_the_lock_shows_the_document_at_the_sync() {
        let (hub, engine) = setup();
        let mut a = client(&engine, &hub, None).await;
        let set = |value: Value| Op {
            key: "k".into(),
            change: resocket::doc::Change::Set(value),
            if_rev: None,
        };
        engine.server_op("d", &set(json!("old"))).await.expect("op");
        let catch_up = engine
            .docs("d")
            .sync_deferred(Instant::now(), a.who.conn, None, "d", None)
            .expect("sync");
        // An op lands between the subscription and the encoding: it goes to the queue...
        engine.server_op("d", &set(json!("new"))).await.expect("op");
        let queued = a.queued();
        assert_eq!(queued.len(), 1);
        assert_eq!(
            (queued[0]["kind"].clone(), queued[0]["seq"].clone()),
            (json!("op"), json!(2))
        );
        // ... and the snapshot, written before it, is of revision 1.
        let snapshot: Value =
            serde_json::from_str(catch_up.frames()[0].as_str()).expect("JSON frame");
        assert_eq!(snapshot["seq"], 1);
        assert_eq!(snapshot["payload"]["entries"]["k"]["value"], "old");
        assert_eq!(
            engine.doc_state("d").await.map(|s| s.map(|s| s.0)),
            Ok(Some(2))
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
