//! The Redis engine (`--redis URL`): the state several server nodes share, kept in one Redis.
//!
//! - **Rooms.** Sequence numbers come from a Lua script that also appends the message to the
//!   room's stream (`XADD` with `MAXLEN`, ids = sequence numbers) and publishes it on the bus,
//!   so every node delivers the same numbers in the same order. The epoch sits beside them.
//! - **Presence** is a hash of member records per room, with a lease per member that the node
//!   holding the connection renews; any node removes members whose lease ran out (a dead node's).
//! - **Sessions** (tokens, the connection holding each) and request / publish de-duplication
//!   live in Redis, so a client that reconnects to another node resumes there.
//! - **Documents**: entries, op log (a stream) and op outcomes per origin; an op is applied in
//!   Rust and written back by a script only if nothing was written since it was read, so no
//!   revision is ever assigned twice.
//! - **Fan-out**: one pub/sub channel (the *bus*) that every node subscribes to. The node's own
//!   share (which local connections listen to what) is [`local::Local`].
//!
//! When the bus connection is lost, the node cannot know what it missed: it closes its
//! connections with 1001 so their clients resume (and are replayed what they missed from the
//! streams) once it, or another node, is back. Commands that fail while Redis is unreachable
//! are refused with `unavailable`.

mod bus;
mod docs;
mod keys;
mod local;
mod reply;
mod rooms;
mod scripts;
mod sessions;

use super::dedup::{DedupLimits, Seen};
use super::delivery::{ConnId, Delivery, To};
use super::docs::{ClientOp, Entries, OpOutcome, ServerOpOutcome};
use super::engine::{Engine, Published, StateStats};
use super::epoch::Since;
use super::error::EngineError;
use super::limits::StateLimits;
use super::sessions::{Actor, Opened};
use crate::auth::Namespaces;
use crate::lock::Locked;
use crate::protocol::hub::Hub;
use axum::extract::ws::Utf8Bytes;
use bus::BusEvent;
use futures_util::StreamExt;
use keys::Keys;
use local::Local;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use reply::unavailable;
use resocket::doc::Op;
use resocket::protocol::{close_code, Member, Resume};
use serde_json::value::RawValue;
use serde_json::Value;
use sessions::{Begun, Finished};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Where the Redis engine connects and how it names its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://host:port/db` (or `rediss://`, `redis+unix://`).
    pub url: String,
    /// Put before every key and the bus channel.
    pub prefix: String,
    /// How long a node's sessions and presence members outlive it when it dies without
    /// saying so; renewed every third of it.
    pub lease: Duration,
}

impl RedisSettings {
    pub const DEFAULT_PREFIX: &'static str = "resocket:";
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

    pub fn new(url: &str) -> RedisSettings {
        RedisSettings {
            url: url.to_owned(),
            prefix: RedisSettings::DEFAULT_PREFIX.to_owned(),
            lease: RedisSettings::DEFAULT_LEASE,
        }
    }
}

/// How long a Redis command may take before the operation is refused `unavailable`.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a node waits for its first bus subscription before it gives up starting.
const START_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RedisEngine {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for RedisEngine {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Inner {
    redis: ConnectionManager,
    keys: Keys,
    /// This node's id: where member records and sessions say a connection is.
    node: String,
    hub: Arc<Hub>,
    local: Mutex<Local>,
    /// Whether the bus subscription is live: without it, joins and syncs are refused.
    bus_up: AtomicBool,
    /// Woken after each bus event is delivered.
    bus_progress: tokio::sync::Notify,
    /// Requests of other nodes being watched (one watch each, however often they are re-sent).
    watching: Mutex<std::collections::HashSet<(String, u64)>>,
    session_ttl: Duration,
    lease: Duration,
    history: usize,
    doc_history: usize,
    namespaces: Namespaces,
    /// Byte and count budgets (rooms, documents, histories).
    limits: StateLimits,
    /// Each session's request de-duplication bounds.
    dedup: DedupLimits,
}

/// The state's settings, as for the memory engine.
pub struct StateSettings {
    /// How long a session outlives its connection.
    pub session_ttl: Duration,
    /// Messages kept per room, where a namespace sets no `history_size`.
    pub history: usize,
    /// Ops kept per document for replay.
    pub doc_history: usize,
    /// Rooms take their history bounds and presence from their namespace.
    pub namespaces: Namespaces,
    /// Byte and count budgets (rooms, documents, histories).
    pub limits: StateLimits,
    /// Each session's request de-duplication bounds.
    pub dedup: DedupLimits,
}

/// Milliseconds since the Unix epoch: the clock leases and history TTLs are kept in, shared by
/// every node (their clocks must agree to well within a lease).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The idle-eviction scripts' cutoff at `now` for an idle TTL: what has been idle since then
/// or before is removed ('' without a TTL: only when its place is needed).
fn idle_cutoff(now: u64, ttl: Option<Duration>) -> String {
    ttl.map_or(String::new(), |ttl| {
        now.saturating_sub(millis(ttl)).to_string()
    })
}

/// Idle rooms and documents removed per sweep and per node (the rest wait for the next one).
const IDLE_SWEEP_BATCH: usize = 256;

impl RedisEngine {
    /// Connects to Redis and subscribes to the bus; fails if either does not work within a few
    /// seconds.
    pub async fn connect(
        hub: Arc<Hub>,
        settings: &RedisSettings,
        state: StateSettings,
    ) -> Result<RedisEngine, EngineError> {
        let StateSettings {
            session_ttl,
            history,
            doc_history,
            namespaces,
            limits,
            dedup,
        } = state;
        use redis::io::tcp::{socket2::TcpKeepalive, TcpSettings};
        use redis::IntoConnectionInfo;
        // No Nagle delay on small commands; keepalive and a user timeout so that a Redis host
        // that vanishes is noticed (the bus connection otherwise waits forever).
        let tcp = TcpSettings::default()
            .set_nodelay(true)
            .set_keepalive(
                TcpKeepalive::new()
                    .with_time(Duration::from_secs(5))
                    .with_interval(Duration::from_secs(2)),
            )
            .set_user_timeout(Duration::from_secs(10));
        let info = settings
            .url
            .as_str()
            .into_connection_info()
            .map_err(unavailable)?
            .set_tcp_settings(tcp);
        let client = redis::Client::open(info).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(2);
        let redis = tokio::time::timeout(
            START_TIMEOUT,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| unavailable("timed out connecting to Redis"))?
        .map_err(unavailable)?;
        let inner = Arc::new(Inner {
            redis,
            keys: Keys::new(&settings.prefix),
            node: format!("n-{}", crate::random::epoch()),
            hub,
            local: Mutex::new(Local::default()),
            bus_up: AtomicBool::new(false),
            bus_progress: tokio::sync::Notify::new(),
            watching: Mutex::new(std::collections::HashSet::new()),
            session_ttl,
            lease: settings.lease.max(Duration::from_millis(300)),
            history,
            doc_history,
            namespaces,
            limits,
            dedup,
        });
        inner.renew_node().await?;
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let bus = tokio::spawn(Arc::clone(&inner).run_bus(client, ready_tx));
        let upkeep = tokio::spawn(Arc::clone(&inner).run_upkeep());
        let engine = RedisEngine {
            inner,
            tasks: vec![bus, upkeep],
        };
        match tokio::time::timeout(START_TIMEOUT, ready_rx).await {
            Ok(Ok(())) => {
                info!(node = engine.inner.node, "Redis engine ready");
                Ok(engine)
            }
            _ => Err(unavailable("could not subscribe to the Redis bus")),
        }
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.inner.node
    }
}

impl Inner {
    fn redis(&self) -> ConnectionManager {
        self.redis.clone()
    }

    fn ensure_bus(&self) -> Result<(), EngineError> {
        if self.bus_up.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(unavailable("not subscribed to the Redis bus"))
        }
    }

    async fn publish_bus(&self, event: &BusEvent) -> Result<(), EngineError> {
        let mut redis = self.redis();
        redis::cmd("PUBLISH")
            .arg(self.keys.bus())
            .arg(event.encode())
            .query_async::<()>(&mut redis)
            .await
            .map_err(unavailable)
    }

    /// Follows the bus for as long as the engine lives, subscribing again after a loss.
    async fn run_bus(
        self: Arc<Self>,
        client: redis::Client,
        ready: tokio::sync::oneshot::Sender<()>,
    ) {
        let mut ready = Some(ready);
        let mut delay = Duration::from_millis(100);
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(self.keys.bus()).await {
                    Ok(()) => {
                        self.bus_up.store(true, Ordering::Release);
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(());
                        } else {
                            info!(node = self.node, "Redis bus back");
                        }
                        delay = Duration::from_millis(100);
                        let mut messages = pubsub.on_message();
                        while let Some(message) = messages.next().await {
                            self.on_bus(message.get_payload_bytes());
                        }
                        self.bus_up.store(false, Ordering::Release);
                        // What was published meanwhile is unknown: the clients resume, and are
                        // replayed what they missed, rather than be left with a silent gap.
                        let closed = self
                            .hub
                            .close_all(close_code::GOING_AWAY, "lost the shared state; reconnect");
                        warn!(
                            node = self.node,
                            closed, "lost the Redis bus; closed the connections"
                        );
                    }
                    Err(err) => warn!(%err, "cannot subscribe to the Redis bus"),
                },
                Err(err) => warn!(%err, "cannot connect to Redis for the bus"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Delivers one bus event to the local connections it is for. Under the local lock, so a
    /// join or sync completing meanwhile sees it either as pending or as delivered.
    fn on_bus(&self, bytes: &[u8]) {
        let event = match BusEvent::decode(bytes) {
            Ok(event) => event,
            Err(err) => {
                warn!(%err, "ignored a bus message");
                return;
            }
        };
        let mut local = self.local.locked();
        match event {
            BusEvent::Room {
                room,
                evt,
                except,
                frame,
            } => {
                let conns = local.room_event(&room, evt, except.as_deref(), &frame);
                self.hub.send_to_each(conns, &frame);
                drop(local);
                self.bus_progress.notify_waiters();
            }
            BusEvent::Doc { doc, rev, frame } => {
                let conns = local.doc_event(&doc, rev, &frame);
                self.hub.send_to_each(conns, &frame);
            }
            BusEvent::Conn { node, conn, frame } if node == self.node => {
                self.hub.send_to(conn, &frame);
            }
            BusEvent::Close {
                node,
                conn,
                code,
                reason,
            } if node == self.node => {
                self.hub.close(conn, code, &reason);
            }
            BusEvent::User { from, user, frame } if from != self.node => {
                self.hub.send_to_user(&user, &frame);
            }
            BusEvent::Everyone { from, frame } if from != self.node => {
                self.hub.send_to_open(&frame);
            }
            BusEvent::Conn { .. }
            | BusEvent::Close { .. }
            | BusEvent::User { .. }
            | BusEvent::Everyone { .. } => {}
        }
    }

    /// Renews this node's leases and removes the members whose lease ran out, every third of
    /// a lease.
    async fn run_upkeep(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.lease / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = self.renew_leases().await {
                warn!(%err, "could not renew leases");
            }
            if let Err(err) = self.expire_members().await {
                warn!(%err, "could not expire presence members");
            }
            if let Err(err) = self.renew_docs_in_use().await {
                warn!(%err, "could not mark documents in use");
            }
            if let Err(err) = self.sweep_idle().await {
                warn!(%err, "could not remove idle rooms and documents");
            }
        }
    }

    /// Keeps the documents this node's connections subscribe to in use for another lease.
    async fn renew_docs_in_use(&self) -> Result<(), EngineError> {
        let docs = self.local.locked().docs_listened();
        if docs.is_empty() {
            return Ok(());
        }
        let until = now_ms().saturating_add(millis(self.lease));
        let mut pipe = redis::pipe();
        for chunk in docs.chunks(512) {
            // XX: a document removed meanwhile is not brought back into the index.
            pipe.cmd("ZADD")
                .arg(self.keys.docs_idle())
                .arg("XX")
                .arg("GT");
            for doc in chunk {
                pipe.arg(until).arg(doc);
            }
            pipe.ignore();
        }
        let mut redis = self.redis();
        pipe.query_async::<()>(&mut redis)
            .await
            .map_err(unavailable)
    }

    /// Removes the rooms and documents idle for their TTL (a batch of each).
    async fn sweep_idle(&self) -> Result<(), EngineError> {
        let now = now_ms();
        let room_cutoff = idle_cutoff(now, self.limits.room_idle_ttl);
        let doc_cutoff = idle_cutoff(now, self.limits.doc_idle_ttl);
        if room_cutoff.is_empty() && doc_cutoff.is_empty() {
            return Ok(());
        }
        let mut redis = self.redis();
        let removed: usize = scripts::SWEEP
            .key(self.keys.rooms_idle())
            .key(self.keys.docs_idle())
            .arg(self.keys.prefix())
            .arg(room_cutoff)
            .arg(doc_cutoff)
            .arg(IDLE_SWEEP_BATCH)
            .invoke_async(&mut redis)
            .await
            .map_err(unavailable)?;
        if removed > 0 {
            info!(removed, "removed idle rooms and documents");
        }
        Ok(())
    }

    /// Sends `frame` to the connection session `session` has now, on whichever node.
    async fn send_to_session(&self, session: &str, frame: Utf8Bytes) -> Result<bool, EngineError> {
        let mut redis = self.redis();
        let holder: (Option<String>, Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(self.keys.session(session))
            .arg("node")
            .arg("conn")
            .arg("attached")
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        match holder {
            (Some(node), Some(conn), Some(attached)) if attached == "1" => {
                let conn: ConnId = conn.parse().map_err(unavailable)?;
                self.send_to_conn(&node, conn, frame).await
            }
            _ => Ok(false),
        }
    }

    async fn send_to_conn(
        &self,
        node: &str,
        conn: ConnId,
        frame: Utf8Bytes,
    ) -> Result<bool, EngineError> {
        if node == self.node {
            return Ok(self.hub.send_to(conn, &frame));
        }
        let event = BusEvent::Conn {
            node: node.to_owned(),
            conn,
            frame,
        };
        self.publish_bus(&event).await.map(|()| true)
    }
}

impl Engine for RedisEngine {
    async fn open_session(
        &self,
        conn: ConnId,
        user: Option<&str>,
        resume: Option<&Resume>,
    ) -> Result<Opened, EngineError> {
        self.inner.open_session(conn, user, resume).await
    }

    async fn disconnect(&self, who: &Actor) -> Result<(), EngineError> {
        self.inner.disconnect(who).await
    }

    async fn begin_request(&self, session: &str, id: u64) -> Result<Seen<Utf8Bytes>, EngineError> {
        match self.inner.begin_request(session, id).await? {
            Begun::Seen(seen) => Ok(seen),
            Begun::RunningOn(node) => {
                // Its reply will come from that node; should the node die first, the watch
                // answers it.
                let key = (session.to_owned(), id);
                if self.inner.watching.locked().insert(key.clone()) {
                    let inner = Arc::clone(&self.inner);
                    tokio::spawn(async move {
                        Arc::clone(&inner)
                            .watch_running(key.0.clone(), id, node)
                            .await;
                        inner.watching.locked().remove(&key);
                    });
                }
                Ok(Seen::Running)
            }
        }
    }

    async fn finish_request(
        &self,
        session: &str,
        id: u64,
        reply: Utf8Bytes,
    ) -> Result<(), EngineError> {
        self.inner
            .finish_request(session, id, &reply)
            .await
            .map(|_| ())
    }

    async fn finish_request_later(
        &self,
        session: &str,
        id: u64,
        reply: Utf8Bytes,
    ) -> Result<bool, EngineError> {
        match self.inner.finish_request(session, id, &reply).await? {
            // Not recorded: it was given up (its answer, `unavailable`, went out instead).
            Finished {
                recorded: true,
                holder: Some((node, conn)),
            } => self.inner.send_to_conn(&node, conn, reply).await,
            Finished { .. } => Ok(false),
        }
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
        self.inner.join(who, id, room, since, history, meta).await
    }

    async fn leave(&self, who: &Actor, room: &str) -> Result<bool, EngineError> {
        self.inner.leave(who, room).await
    }

    async fn publish(
        &self,
        who: &Actor,
        room: &str,
        payload: &RawValue,
    ) -> Result<Published, EngineError> {
        self.inner.publish(Some(who), room, payload).await
    }

    async fn publish_as_server(
        &self,
        room: &str,
        payload: &RawValue,
    ) -> Result<Published, EngineError> {
        self.inner.publish(None, room, payload).await
    }

    async fn presence(&self, room: &str) -> Result<Vec<Member<Box<RawValue>>>, EngineError> {
        self.inner.members(room).await
    }

    async fn history(&self, room: &str, limit: usize) -> Result<Vec<Utf8Bytes>, EngineError> {
        self.inner.recent(room, limit).await
    }

    async fn set_meta(
        &self,
        who: &Actor,
        room: &str,
        meta: Box<RawValue>,
    ) -> Result<(), EngineError> {
        self.inner.set_meta(who, room, meta).await
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
        self.inner.sync(conn, id, doc, since, queued).await
    }

    async fn unsync(&self, conn: ConnId, doc: &str) -> Result<bool, EngineError> {
        Ok(self.inner.local.locked().unsync(doc, conn))
    }

    async fn op(
        &self,
        conn: ConnId,
        owner: &str,
        doc: &str,
        op: &ClientOp,
    ) -> Result<OpOutcome, EngineError> {
        self.inner.op(conn, owner, doc, op).await
    }

    async fn server_op(&self, doc: &str, op: &Op<Value>) -> Result<ServerOpOutcome, EngineError> {
        self.inner.server_op(doc, op).await
    }

    async fn doc_state(&self, doc: &str) -> Result<Option<(u64, Entries)>, EngineError> {
        self.inner.doc_state(doc).await
    }

    async fn deliver(&self, delivery: Delivery) -> Result<usize, EngineError> {
        let inner = &self.inner;
        let Delivery { to, frame } = delivery;
        match to {
            To::Conn(conn) => Ok(usize::from(inner.hub.send_to(conn, &frame))),
            To::Conns(conns) => Ok(inner.hub.send_to_each(conns, &frame)),
            To::Session(session) => inner
                .send_to_session(&session, frame)
                .await
                .map(usize::from),
            // This node's connections at once, the others' through the bus; the count is of
            // this node's connections (the others do not report theirs).
            To::User(user) => {
                let here = inner.hub.send_to_user(&user, &frame);
                let from = inner.node.clone();
                inner
                    .publish_bus(&BusEvent::User { from, user, frame })
                    .await?;
                Ok(here)
            }
            To::Everyone => {
                let here = inner.hub.send_to_open(&frame);
                let from = inner.node.clone();
                inner
                    .publish_bus(&BusEvent::Everyone { from, frame })
                    .await?;
                Ok(here)
            }
        }
    }

    async fn stats(&self) -> Result<StateStats, EngineError> {
        let inner = &self.inner;
        let mut redis = inner.redis();
        let (sessions, rooms, docs): (usize, usize, usize) = redis::pipe()
            .cmd("ZCOUNT")
            .arg(inner.keys.sessions())
            .arg(now_ms())
            .arg("+inf")
            .cmd("SCARD")
            .arg(inner.keys.active_rooms())
            .cmd("ZCARD")
            .arg(inner.keys.docs_idle())
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        Ok(StateStats {
            sessions,
            rooms,
            docs,
        })
    }
}
