//! Shared documents: the per-document sequencer, its bounded op log, subscriptions and
//! `(origin, cseq)` de-duplication. Ops are applied with the shared `resocket::doc::apply`, the
//! same function the client runs, so both sides compute the same document. Plain data: an op
//! returns the frames to send as [`Delivery`]s.
//!
//! The catch-up a `sync` answers (snapshot, or replay + `synced`) is returned for the
//! connection to write itself; the engine puts whatever was already queued for the connection
//! in front of it, so nothing older can follow it.
//!
//! Documents are bounded in bytes and keys ([`apply_within`], which the Redis engine uses too),
//! their op logs in ops and bytes. A document without subscribers is removed after
//! `doc_idle_ttl` without an op, or when its place is needed: at `max_docs` a new document
//! replaces the longest-unused one, and is refused only while every one has subscribers.
//!
//! Each document has an epoch, fixed when it is created (see [`super::epoch`]): a `since` that
//! does not count in it is answered with a snapshot.

use super::delivery::{ConnId, Delivery, Outcome, To};
use super::epoch::Since;
use super::error::EngineError;
use super::history::{self, History};
use super::limits::StateLimits;
use super::names::{is_valid_name, ConnIndex, IdleMap, Places};
use super::origins::{Origins, Seen, MAX_ORIGINS};
use crate::protocol::{dispatch, frames};
use axum::extract::ws::Utf8Bytes;
use resocket::doc::{apply, Doc, Op, Rejection};
use resocket::protocol::{ErrorBody, ErrorCode, SnapshotEntry};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::time::Instant;

/// Longest `origin`, in bytes.
pub const MAX_ORIGIN: usize = 128;
/// Longest key, in bytes.
pub const MAX_KEY: usize = 1024;

/// Checks a document name (the frame's `room`): same rule as room names.
pub fn check_name(name: &str) -> Result<(), EngineError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(EngineError::BadDocName)
    }
}

/// A validated client op.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOp {
    pub origin: String,
    /// The origin's op sequence number (≥ 1).
    pub cseq: u64,
    pub op: Op<Value>,
}

/// The origin of ops made by the server (the server API), with their own increasing `cseq`.
pub const SERVER_ORIGIN: &str = "server";

/// What became of a server-side op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerOpOutcome {
    /// Applied as revision `rev` and sent to every subscriber.
    Applied { rev: u64 },
    /// The compare-and-set failed: the key is at revision `actual`; nothing changed.
    Conflict { expected: u64, actual: u64 },
}

/// What became of a client op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpOutcome {
    /// Applied as revision `rev`: the `op` frame goes to every subscriber and the sender.
    Applied { rev: u64 },
    /// The compare-and-set failed: recorded, `reject` for the sender.
    Rejected,
    /// Already handled: the recorded `op` or `reject` goes to the sender again.
    Repeated,
    /// Not applied and not recorded (too many documents or origins, or a cseq older than the
    /// de-duplication window): `reject` with this code for the sender.
    Refused(ErrorCode),
}

/// How a `sync` catches the client up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    /// The whole document.
    Snapshot,
    /// The logged ops after `since` (none when up to date), then `synced`.
    Replay { since: u64 },
}

/// Decides the catch-up for a client at `since`, for a document at revision `rev` whose log
/// holds the ops `oldest..=rev` (`oldest == rev + 1` when it holds none).
pub fn catch_up(since: Option<u64>, rev: u64, oldest: u64) -> CatchUp {
    match since {
        // A client ahead of the server has a view the server never had.
        Some(since) if since <= rev => match history::window(since, rev, oldest) {
            history::Window::UpToDate | history::Window::Replay { .. } => CatchUp::Replay { since },
            history::Window::Gap => CatchUp::Snapshot,
        },
        _ => CatchUp::Snapshot,
    }
}

/// Why an op under another session's origin is refused.
pub fn foreign_origin(op: &ClientOp) -> String {
    format!(
        "op origin {:?} is not this session's; not applied",
        dispatch::truncate(&op.origin, 64)
    )
}

/// Why an op older than what is remembered for its origin is refused.
pub fn forgotten(op: &ClientOp) -> String {
    format!(
        "op {} of origin {:?} is older than the ops remembered for it; not applied",
        op.cseq,
        dispatch::truncate(&op.origin, 64)
    )
}

/// Why an op of a new origin is refused by a document that remembers too many.
pub fn too_many_origins(name: &str) -> String {
    format!("document {name:?} already remembers {MAX_ORIGINS} origins")
}

/// The `reject` error of an op whose compare-and-set failed.
pub fn conflict(op: &ClientOp, expected: u64, actual: u64) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Conflict,
        message: format!(
            "{} is at revision {actual}, not {expected}",
            dispatch::truncate(&op.op.key, 64)
        ),
    }
}

/// What a key and its value cost against a document's byte budget: the key's bytes plus the
/// value's JSON.
pub fn entry_bytes(key: &str, value: &Value) -> usize {
    /// Counts what serde_json writes, without keeping it.
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    key.len() + count.0
}

/// A document's size against its byte budget (see [`entry_bytes`]).
pub fn doc_bytes(doc: &Doc<Value>) -> usize {
    doc.entries
        .iter()
        .map(|(key, entry)| entry_bytes(key, &entry.value))
        .sum()
}

/// [`apply`] within the document budgets of `limits`: `size` is the document's
/// [`doc_bytes`] before the op; the value is the revision and the size after it. An op that
/// would make the document larger than `doc_bytes` or add a key beyond `doc_keys` is refused
/// [`EngineError::TooLarge`] and the document is left as it was (an op that shrinks it is
/// always applied, so a document over a lowered budget can be cleaned up).
pub fn apply_within(
    doc: &mut Doc<Value>,
    op: &Op<Value>,
    size: usize,
    limits: &StateLimits,
) -> Result<Result<(u64, usize), Rejection>, EngineError> {
    let before = doc.entries.get(op.key.as_str()).cloned();
    let rev_before = doc.rev;
    let rev = match apply(doc, op) {
        Ok(rev) => rev,
        Err(rejection) => return Ok(Err(rejection)),
    };
    let old = before
        .as_ref()
        .map_or(0, |entry| entry_bytes(&op.key, &entry.value));
    let new = doc
        .entries
        .get(op.key.as_str())
        .map_or(0, |entry| entry_bytes(&op.key, &entry.value));
    let after = size.saturating_sub(old).saturating_add(new);
    let added_key = before.is_none() && new > 0;
    let refusal = if new > old && after > limits.doc_bytes {
        Some(format!(
            "the document would be {after} bytes, over its budget of {}; not applied",
            limits.doc_bytes
        ))
    } else if added_key && doc.entries.len() > limits.doc_keys {
        Some(format!(
            "the document already holds {} keys, its most; not applied",
            limits.doc_keys
        ))
    } else {
        None
    };
    if let Some(message) = refusal {
        match before {
            Some(entry) => {
                doc.entries.insert(op.key.clone(), entry);
            }
            None => {
                doc.entries.remove(op.key.as_str());
            }
        }
        doc.rev = rev_before;
        return Err(EngineError::TooLarge(message));
    }
    Ok(Ok((rev, after)))
}

/// A document's entries, for `/control/doc`.
pub type Entries = BTreeMap<String, SnapshotEntry<Value>>;

#[derive(Debug)]
pub struct Docs {
    docs: IdleMap<Document>,
    /// The documents each connection is subscribed to, to unsubscribe it when it ends.
    subscriptions: ConnIndex,
    /// Applied ops kept per document for replay.
    history: usize,
    /// The `cseq` of the last server-side op.
    server_cseq: u64,
    limits: StateLimits,
}

#[derive(Debug)]
struct Document {
    /// Shared with the snapshots being encoded outside the engine's lock; an op copies it
    /// (`Arc::make_mut`) only if one still is.
    doc: Arc<Doc<Value>>,
    /// The epoch of this document's history: its revisions count in it.
    epoch: String,
    /// Encoded applied `op` frames; the newest is revision `doc.rev`.
    log: History<Utf8Bytes>,
    subscribers: HashSet<ConnId>,
    /// The frame each recent `(origin, cseq)` was answered with (`op` or `reject`).
    origins: Origins<Utf8Bytes>,
    /// [`doc_bytes`] of `doc`, kept up to date op by op.
    bytes: usize,
}

/// The engine's shards free places for one another (see `MemoryEngine`).
impl Places for Docs {
    fn needs_place(&self, name: &str) -> bool {
        self.docs.needs_place(name)
    }

    fn oldest_idle(&self) -> Option<Instant> {
        self.docs.oldest_idle()
    }

    fn evict_oldest_idle(&mut self) -> Option<String> {
        self.docs.evict_oldest_idle()
    }
}

impl Docs {
    /// `history`: applied ops kept per document for replay after `since`.
    pub fn new(history: usize) -> Docs {
        Docs::with_limits(history, StateLimits::default())
    }

    /// [`new`](Self::new) with the server's byte and count budgets.
    pub fn with_limits(history: usize, limits: StateLimits) -> Docs {
        Docs {
            docs: IdleMap::new(limits.max_docs, limits.doc_idle_ttl),
            subscriptions: ConnIndex::default(),
            history,
            server_cseq: 0,
            limits,
        }
    }

    /// These documents count against `total` with every other `Docs` given it (the shards of
    /// one engine), for `max_docs` in all. Call it before any document exists.
    pub fn sharing_cap(mut self, total: Arc<AtomicUsize>) -> Docs {
        self.docs = IdleMap::sharing(self.limits.max_docs, self.limits.doc_idle_ttl, total);
        self
    }

    /// The document `name`, created at `now` if needed. Also removes the documents unused too
    /// long.
    fn doc_or_create(&mut self, now: Instant, name: &str) -> Result<&mut Document, EngineError> {
        self.docs.expire(now);
        let history = self.history;
        let log_bytes = self.limits.doc_log_bytes;
        self.docs
            .get_or_create(name, now, || Document {
                doc: Arc::new(Doc::new()),
                epoch: crate::random::epoch(),
                log: History::bounded(history, log_bytes, None),
                subscribers: HashSet::new(),
                origins: Origins::default(),
                bytes: 0,
            })
            .map(|(doc, _evicted)| doc)
            .ok_or(EngineError::TooManyDocs)
    }

    /// Records activity on `name` at `now`: in use while it has subscribers, idle otherwise.
    fn touch(&mut self, now: Instant, name: &str) {
        let in_use = self
            .docs
            .get(name)
            .is_some_and(|doc| !doc.subscribers.is_empty());
        self.docs.touch(name, now, in_use);
    }

    /// Subscribes `conn` to `name` (again, if it already is) and returns its catch-up: a
    /// `snapshot`, or the logged ops after `since` followed by `synced`. A `since` from another
    /// epoch, or without one, gets the snapshot.
    pub fn sync(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: Option<u64>,
        name: &str,
        since: Option<Since>,
    ) -> Result<Vec<Utf8Bytes>, EngineError> {
        Ok(self.sync_deferred(now, conn, id, name, since)?.frames())
    }

    /// [`sync`](Self::sync), but a snapshot is encoded later by [`Synced::frames`], from the
    /// document as it is now (shared, O(1) here), so the engine encodes it outside its lock.
    pub fn sync_deferred(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: Option<u64>,
        name: &str,
        since: Option<Since>,
    ) -> Result<Synced, EngineError> {
        check_name(name)?;
        let doc = self.doc_or_create(now, name)?;
        doc.subscribers.insert(conn);
        let rev = doc.doc.rev;
        let since = since.and_then(|since| since.within(&doc.epoch));
        // A block, so the replay's borrow of the log ends before the index is updated.
        let synced = {
            let replay = match catch_up(since, rev, doc.log.oldest()) {
                CatchUp::Replay { since } => doc.log.since(since),
                CatchUp::Snapshot => None,
            };
            match replay {
                Some(ops) => {
                    let mut frames: Vec<Utf8Bytes> = ops.cloned().collect();
                    frames.push(frames::synced(id, name, rev, &doc.epoch).into());
                    Synced::Frames(frames)
                }
                None => Synced::Snapshot {
                    id,
                    name: name.to_owned(),
                    doc: Arc::clone(&doc.doc),
                    epoch: doc.epoch.clone(),
                },
            }
        };
        self.subscriptions.add(conn, name);
        self.docs.touch(name, now, true);
        Ok(synced)
    }

    /// Ends `conn`'s subscription to `name` at `now`; true if it was subscribed.
    pub fn unsync(&mut self, now: Instant, conn: ConnId, name: &str) -> bool {
        self.subscriptions.remove(conn, name);
        let was = self
            .docs
            .get_mut(name)
            .is_some_and(|doc| doc.subscribers.remove(&conn));
        if was {
            self.touch(now, name);
        }
        was
    }

    /// Applies a client op (once per `(origin, cseq)`) and addresses the answers: the applied
    /// `op` to every subscriber and the sender, or a `reject` to the sender.
    ///
    /// `owner` is the origin of the sender's session: an op under another origin is refused
    /// `forbidden` (not applied, not recorded), unless it is already recorded and the sender is
    /// subscribed: then it gets the record (which every subscriber saw), as for a re-sent op. So
    /// a client whose session was lost learns what became of the ops it made under the old
    /// origin: the recorded answer if one was applied (or rejected), `forbidden` if none was,
    /// and it can then make it again under its new origin.
    pub fn op(
        &mut self,
        now: Instant,
        conn: ConnId,
        owner: &str,
        name: &str,
        op: &ClientOp,
    ) -> Result<Outcome<OpOutcome>, EngineError> {
        check_name(name)?;
        let to_sender = |frame: Utf8Bytes| vec![Delivery::new(To::Conn(conn), frame)];
        let refuse = |code: ErrorCode, message: String| {
            let frame = frames::reject(name, &op.origin, op.cseq, ErrorBody { code, message });
            Ok(Outcome::with(
                OpOutcome::Refused(code),
                to_sender(frame.into()),
            ))
        };
        if op.origin != owner {
            let recorded = self
                .docs
                .get(name)
                .filter(|doc| doc.subscribers.contains(&conn))
                .and_then(|doc| match doc.origins.check(&op.origin, op.cseq) {
                    Seen::Done(frame) => Some(frame),
                    _ => None,
                });
            return match recorded {
                Some(frame) => Ok(Outcome::with(OpOutcome::Repeated, to_sender(frame))),
                None => refuse(ErrorCode::Forbidden, foreign_origin(op)),
            };
        }
        let limits = self.limits;
        let doc = match self.doc_or_create(now, name) {
            Ok(doc) => doc,
            Err(err) => return refuse(err.code(), err.to_string()),
        };
        match doc.origins.check(&op.origin, op.cseq) {
            Seen::New => {}
            Seen::Done(frame) => return Ok(Outcome::with(OpOutcome::Repeated, to_sender(frame))),
            Seen::Forgotten => return refuse(ErrorCode::Unexpected, forgotten(op)),
            Seen::Full => return refuse(ErrorCode::RateLimited, too_many_origins(name)),
        }
        let applied = match apply_within(Arc::make_mut(&mut doc.doc), &op.op, doc.bytes, &limits) {
            Ok(applied) => applied,
            // Not recorded: the same op may be sent again once the document has room.
            Err(err) => return refuse(err.code(), err.to_string()),
        };
        let outcome = match applied {
            Ok((rev, bytes)) => {
                doc.bytes = bytes;
                let frame = Utf8Bytes::from(frames::doc_op(name, rev, &op.origin, op.cseq, &op.op));
                doc.log.push(frame.clone());
                doc.origins.record(&op.origin, op.cseq, frame.clone());
                let sender = (!doc.subscribers.contains(&conn)).then_some(conn);
                let recipients = doc.subscribers.iter().copied().chain(sender).collect();
                let deliveries = vec![Delivery::new(To::Conns(recipients), frame)];
                Outcome::with(OpOutcome::Applied { rev }, deliveries)
            }
            Err(Rejection::Conflict { expected, actual }) => {
                let error = conflict(op, expected, actual);
                let frame = Utf8Bytes::from(frames::reject(name, &op.origin, op.cseq, error));
                doc.origins.record(&op.origin, op.cseq, frame.clone());
                Outcome::with(OpOutcome::Rejected, to_sender(frame))
            }
        };
        self.touch(now, name);
        Ok(outcome)
    }

    /// Applies an op made by the server (origin [`SERVER_ORIGIN`]) in the document's one order,
    /// creating the document if needed; an applied op goes to every subscriber as an `op` frame.
    pub fn server_op(
        &mut self,
        now: Instant,
        name: &str,
        op: &Op<Value>,
    ) -> Result<Outcome<ServerOpOutcome>, EngineError> {
        check_name(name)?;
        if op.key.is_empty() || op.key.len() > MAX_KEY {
            return Err(EngineError::BadKey);
        }
        let cseq = self.server_cseq + 1;
        let limits = self.limits;
        let doc = self.doc_or_create(now, name)?;
        let outcome = match apply_within(Arc::make_mut(&mut doc.doc), op, doc.bytes, &limits)? {
            Ok((rev, bytes)) => {
                doc.bytes = bytes;
                let frame = Utf8Bytes::from(frames::doc_op(name, rev, SERVER_ORIGIN, cseq, op));
                doc.log.push(frame.clone());
                let recipients = doc.subscribers.iter().copied().collect();
                let deliveries = vec![Delivery::new(To::Conns(recipients), frame)];
                self.server_cseq = cseq;
                Outcome::with(ServerOpOutcome::Applied { rev }, deliveries)
            }
            Err(Rejection::Conflict { expected, actual }) => {
                Outcome::quiet(ServerOpOutcome::Conflict { expected, actual })
            }
        };
        self.touch(now, name);
        Ok(outcome)
    }

    /// A connection ended at `now`: it is unsubscribed from every document.
    pub fn disconnect(&mut self, now: Instant, conn: ConnId) {
        for name in self.subscriptions.take(conn) {
            if let Some(doc) = self.docs.get_mut(&name) {
                doc.subscribers.remove(&conn);
                self.touch(now, &name);
            }
        }
        self.docs.expire(now);
    }

    /// Documents held.
    pub fn count(&self) -> usize {
        self.docs.len()
    }

    /// A document's revision and entries; `None` if it does not exist.
    pub fn state(&self, name: &str) -> Option<(u64, Entries)> {
        self.shared(name).map(|doc| entries(&doc))
    }

    /// A document as it is now, shared (O(1)), to read outside the engine's lock.
    pub fn shared(&self, name: &str) -> Option<Arc<Doc<Value>>> {
        Some(Arc::clone(&self.docs.get(name)?.doc))
    }
}

/// A document's revision and entries.
pub fn entries(doc: &Doc<Value>) -> (u64, Entries) {
    let entries = doc
        .entries
        .iter()
        .map(|(key, entry)| {
            let entry = SnapshotEntry {
                value: entry.value.clone(),
                rev: entry.rev,
            };
            (key.clone(), entry)
        })
        .collect();
    (doc.rev, entries)
}

/// A `sync`'s catch-up as taken under the lock: [`frames`](Self::frames) encodes it.
#[derive(Debug)]
pub enum Synced {
    /// The logged ops and `synced`, already encoded.
    Frames(Vec<Utf8Bytes>),
    /// A snapshot of `doc`, to encode.
    Snapshot {
        id: Option<u64>,
        name: String,
        doc: Arc<Doc<Value>>,
        epoch: String,
    },
}

impl Synced {
    /// The frames to write. O(document) for a snapshot: call it without a lock.
    pub fn frames(self) -> Vec<Utf8Bytes> {
        match self {
            Synced::Frames(frames) => frames,
            Synced::Snapshot {
                id,
                name,
                doc,
                epoch,
            } => vec![frames::snapshot(id, &name, &doc, &epoch).into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::delivery::tests::sent_to;
    use crate::state::MAX_NAME;
    use resocket::doc::Change;
    use serde_json::json;

    fn parsed(frames: Vec<&str>) -> Vec<Value> {
        frames
            .into_iter()
            .map(|f| serde_json::from_str(f).expect("JSON frame"))
            .collect()
    }

    fn to(outcome: &Outcome<OpOutcome>, conn: ConnId) -> Vec<Value> {
        parsed(sent_to(&outcome.deliveries, conn))
    }

    fn texts(frames: &[Utf8Bytes]) -> Vec<Value> {
        parsed(frames.iter().map(Utf8Bytes::as_str).collect())
    }

    fn set(origin: &str, cseq: u64, key: &str, value: Value, if_rev: Option<u64>) -> ClientOp {
        ClientOp {
            origin: origin.into(),
            cseq,
            op: Op {
                key: key.into(),
                change: Change::Set(value),
                if_rev,
            },
        }
    }

    #[test]
    fn catch_up_window() {
        // New document.
        assert_eq!(catch_up(None, 0, 1), CatchUp::Snapshot);
        assert_eq!(catch_up(Some(0), 0, 1), CatchUp::Replay { since: 0 });
        assert_eq!(catch_up(Some(1), 0, 1), CatchUp::Snapshot, "ahead");
        // Log holds 3..=5.
        assert_eq!(catch_up(Some(5), 5, 3), CatchUp::Replay { since: 5 });
        assert_eq!(catch_up(Some(4), 5, 3), CatchUp::Replay { since: 4 });
        assert_eq!(catch_up(Some(2), 5, 3), CatchUp::Replay { since: 2 });
        assert_eq!(catch_up(Some(1), 5, 3), CatchUp::Snapshot, "2 is gone");
        assert_eq!(catch_up(Some(0), 5, 3), CatchUp::Snapshot);
        assert_eq!(catch_up(Some(6), 5, 3), CatchUp::Snapshot, "ahead");
        assert_eq!(catch_up(None, 5, 3), CatchUp::Snapshot);
        // Empty log (`--doc-history 0`).
        assert_eq!(catch_up(Some(5), 5, 6), CatchUp::Replay { since: 5 });
        assert_eq!(catch_up(Some(4), 5, 6), CatchUp::Snapshot);
    }

    #[test]
    fn ops_are_sequenced_broadcast_and_deduplicated() {
        let mut docs = Docs::new(10);
        let (a, b) = (1, 2);
        let snapshot = texts(
            &docs
                .sync(Instant::now(), a, Some(1), "d", None)
                .expect("sync"),
        );
        let epoch = docs.docs.get("d").expect("created").epoch.clone();
        assert_eq!(
            snapshot,
            [json!({"kind":"snapshot","id":1,"room":"d","seq":0,
                    "payload":{"entries":{},"epoch":epoch}})]
        );
        let op = set("a", 1, "k", json!({"x": 1}), Some(0));
        let applied_op = docs.op(Instant::now(), a, "a", "d", &op).expect("valid");
        assert_eq!(applied_op.value, OpOutcome::Applied { rev: 1 });
        let applied = json!({"kind":"op","room":"d","seq":1,"payload":
            {"origin":"a","cseq":1,"key":"k","op":"set","value":{"x":1},"ifRev":0}});
        assert_eq!(to(&applied_op, a), std::slice::from_ref(&applied));
        // b is not subscribed: nothing for it.
        assert!(to(&applied_op, b).is_empty());

        // The same (origin, cseq) again: answered to the sender only, not applied.
        let repeated = docs.op(Instant::now(), a, "a", "d", &op).expect("valid");
        assert_eq!(repeated.value, OpOutcome::Repeated);
        assert_eq!(to(&repeated, a), std::slice::from_ref(&applied));
        assert!(to(&repeated, b).is_empty());
        assert_eq!(docs.state("d").map(|s| s.0), Some(1));

        // Under another session's origin: forbidden, not applied; a subscriber re-sending a
        // recorded op of another origin (a client whose session was lost) gets the record.
        let stolen = docs.op(Instant::now(), b, "b", "d", &op).expect("valid");
        assert_eq!(stolen.value, OpOutcome::Refused(ErrorCode::Forbidden));
        assert_eq!(to(&stolen, b)[0]["payload"]["error"]["code"], "forbidden");
        docs.sync(Instant::now(), b, None, "d", None).expect("sync");
        let repeated = docs.op(Instant::now(), b, "b", "d", &op).expect("valid");
        assert_eq!(repeated.value, OpOutcome::Repeated);
        assert_eq!(to(&repeated, b), [applied]);
        for origin in ["a", SERVER_ORIGIN] {
            let unknown = set(origin, 2, "k", json!(0), None);
            let refused = docs
                .op(Instant::now(), b, "b", "d", &unknown)
                .expect("valid");
            assert_eq!(refused.value, OpOutcome::Refused(ErrorCode::Forbidden));
        }
        assert!(docs.unsync(Instant::now(), b, "d"));
        assert_eq!(docs.state("d").map(|s| s.0), Some(1));

        // A failed compare-and-set goes to the sender only, and is recorded.
        let stale = set("b", 1, "k", json!(2), Some(0));
        let rejected = docs.op(Instant::now(), b, "b", "d", &stale).expect("valid");
        assert_eq!(rejected.value, OpOutcome::Rejected);
        let reject = json!({"kind":"reject","room":"d","payload":{"origin":"b","cseq":1,
            "error":{"code":"conflict","message":"k is at revision 1, not 0"}}});
        assert_eq!(to(&rejected, b), std::slice::from_ref(&reject));
        assert!(to(&rejected, a).is_empty());
        let retry = set("b", 1, "k", json!(2), Some(1));
        let repeated = docs.op(Instant::now(), b, "b", "d", &retry).expect("valid");
        assert_eq!(repeated.value, OpOutcome::Repeated);
        assert_eq!(to(&repeated, b), [reject]);
        let (rev, entries) = docs.state("d").expect("exists");
        assert_eq!(rev, 1);
        assert_eq!(entries["k"].value, json!({"x": 1}));

        // A non-subscriber's applied op reaches the subscribers and the sender.
        let delete = ClientOp {
            origin: "b".into(),
            cseq: 2,
            op: Op {
                key: "k".into(),
                change: Change::Delete,
                if_rev: None,
            },
        };
        let deleted_op = docs
            .op(Instant::now(), b, "b", "d", &delete)
            .expect("valid");
        assert_eq!(deleted_op.value, OpOutcome::Applied { rev: 2 });
        let deleted = json!({"kind":"op","room":"d","seq":2,"payload":
            {"origin":"b","cseq":2,"key":"k","op":"delete"}});
        assert_eq!(to(&deleted_op, a), std::slice::from_ref(&deleted));
        assert_eq!(to(&deleted_op, b), [deleted]);

        // Unsubscribed: no more ops.
        assert!(docs.unsync(Instant::now(), a, "d"));
        assert!(!docs.unsync(Instant::now(), a, "d"));
        let later = docs
            .op(
                Instant::now(),
                b,
                "b",
                "d",
                &set("b", 3, "k", json!(3), None),
            )
            .expect("valid");
        assert!(to(&later, a).is_empty());
        assert_eq!(to(&later, b).len(), 1);
        assert_eq!(docs.count(), 1);
        assert_eq!(docs.state("nope"), None);
    }

    #[test]
    fn sync_replays_the_log_or_sends_a_snapshot() {
        let mut docs = Docs::new(3);
        let a = 1;
        for cseq in 1..=5 {
            let applied = docs
                .op(
                    Instant::now(),
                    a,
                    "a",
                    "d",
                    &set("a", cseq, "k", json!(cseq), None),
                )
                .expect("valid");
            assert_eq!(to(&applied, a).len(), 1, "the sender gets its own ops");
        }

        let epoch = docs.docs.get("d").expect("created").epoch.clone();
        let at = |seq: u64| {
            Some(Since {
                seq,
                epoch: Some(epoch.clone()),
            })
        };
        let frames = texts(
            &docs
                .sync(Instant::now(), a, Some(7), "d", at(3))
                .expect("sync"),
        );
        let seqs: Vec<_> = frames
            .iter()
            .map(|f| (f["kind"].clone(), f["seq"].clone()))
            .collect();
        assert_eq!(
            seqs,
            [
                (json!("op"), json!(4)),
                (json!("op"), json!(5)),
                (json!("synced"), json!(5))
            ]
        );
        assert_eq!(
            frames[2],
            json!({"kind":"synced","id":7,"room":"d","seq":5,"payload":{"epoch":epoch}})
        );
        assert_eq!(
            texts(
                &docs
                    .sync(Instant::now(), a, None, "d", at(5))
                    .expect("sync")
            ),
            [json!({"kind":"synced","room":"d","seq":5,"payload":{"epoch":epoch}})]
        );
        // No since, a gap, ahead of the document, another epoch, no epoch (an old client).
        let elsewhere = |epoch: Option<&str>| {
            Some(Since {
                seq: 5,
                epoch: epoch.map(str::to_owned),
            })
        };
        for since in [None, at(1), at(6), elsewhere(Some("old")), elsewhere(None)] {
            let frames = texts(
                &docs
                    .sync(Instant::now(), a, None, "d", since.clone())
                    .expect("sync"),
            );
            assert_eq!(
                frames,
                [json!({"kind":"snapshot","room":"d","seq":5,
                        "payload":{"entries":{"k":{"value":5,"rev":5}},"epoch":epoch}})],
                "{since:?}"
            );
        }

        // Connection end: unsubscribed everywhere.
        docs.disconnect(Instant::now(), a);
        let b = 2;
        let applied = docs
            .op(
                Instant::now(),
                b,
                "b",
                "d",
                &set("b", 1, "k", json!(0), None),
            )
            .expect("valid");
        assert!(to(&applied, a).is_empty());
        assert_eq!(to(&applied, b).len(), 1);
    }

    #[test]
    fn names_and_refusals() {
        let mut docs = Docs::new(3);
        let a = 1;
        assert_eq!(
            docs.sync(Instant::now(), a, None, "", None),
            Err(EngineError::BadDocName)
        );
        let long = "d".repeat(MAX_NAME + 1);
        assert_eq!(
            docs.op(
                Instant::now(),
                a,
                "a",
                &long,
                &set("a", 1, "k", json!(1), None)
            ),
            Err(EngineError::BadDocName)
        );
        assert_eq!(EngineError::BadDocName.code(), ErrorCode::BadRequest);
        assert_eq!(EngineError::TooManyDocs.code(), ErrorCode::RateLimited);

        // Past the de-duplication window: refused, not applied.
        for cseq in 1..=1100 {
            let applied = docs
                .op(
                    Instant::now(),
                    a,
                    "a",
                    "d",
                    &set("a", cseq, "k", json!(cseq), None),
                )
                .expect("valid");
            assert_eq!(to(&applied, a).len(), 1);
        }
        let refused = docs
            .op(
                Instant::now(),
                a,
                "a",
                "d",
                &set("a", 1, "k", json!(0), None),
            )
            .expect("valid");
        assert_eq!(refused.value, OpOutcome::Refused(ErrorCode::Unexpected));
        let reject = to(&refused, a);
        assert_eq!(reject[0]["kind"], "reject");
        assert_eq!(reject[0]["payload"]["error"]["code"], "unexpected");
        assert_eq!(docs.state("d").map(|s| s.0), Some(1100));
    }

    #[test]
    fn a_new_document_beyond_the_bound_is_refused_to_the_sender() {
        let mut docs = Docs::with_limits(
            0,
            StateLimits {
                max_docs: 100,
                ..StateLimits::default()
            },
        );
        for n in 0..100 {
            docs.sync(Instant::now(), 1, None, &n.to_string(), None)
                .expect("room");
        }
        assert_eq!(
            docs.sync(Instant::now(), 1, None, "one more", None),
            Err(EngineError::TooManyDocs)
        );
        let refused = docs
            .op(
                Instant::now(),
                1,
                "a",
                "one more",
                &set("a", 1, "k", json!(0), None),
            )
            .expect("valid name");
        assert_eq!(refused.value, OpOutcome::Refused(ErrorCode::RateLimited));
        assert_eq!(
            to(&refused, 1)[0]["payload"]["error"]["code"],
            "rate_limited"
        );
        // An unused document makes room: the longest-unused first.
        assert!(docs.unsync(Instant::now(), 1, "7"));
        assert!(docs.unsync(Instant::now(), 1, "3"));
        docs.sync(Instant::now(), 2, None, "one more", None)
            .expect("7 replaced");
        assert!(docs.state("7").is_none());
        assert!(docs.state("3").is_some());
        assert_eq!(docs.count(), 100);
    }

    #[test]
    fn documents_are_bounded_in_bytes_and_keys_and_a_refused_op_changes_nothing() {
        let limits = StateLimits {
            doc_bytes: 100,
            doc_keys: 3,
            ..StateLimits::default()
        };
        let mut docs = Docs::with_limits(10, limits);
        let a = 1;
        let op = |cseq, key: &str, value: Value| set("a", cseq, key, value, None);
        // "k1" + "\"...\"" : 2 + 42 = 44 bytes.
        let applied = docs
            .op(
                Instant::now(),
                a,
                "a",
                "d",
                &op(1, "k1", json!("x".repeat(40))),
            )
            .expect("valid");
        assert_eq!(applied.value, OpOutcome::Applied { rev: 1 });
        let before = docs.state("d");
        let refused = docs
            .op(
                Instant::now(),
                a,
                "a",
                "d",
                &op(2, "k2", json!("x".repeat(60))),
            )
            .expect("valid");
        assert_eq!(refused.value, OpOutcome::Refused(ErrorCode::TooLarge));
        assert_eq!(to(&refused, a)[0]["payload"]["error"]["code"], "too_large");
        assert_eq!(docs.state("d"), before, "unchanged");
        // Not recorded: the same cseq is applied once it fits.
        let applied = docs
            .op(Instant::now(), a, "a", "d", &op(2, "k2", json!(1)))
            .expect("valid");
        assert_eq!(applied.value, OpOutcome::Applied { rev: 2 });
        // A merge that grows a value past the budget is refused too.
        let grow = ClientOp {
            origin: "a".into(),
            cseq: 3,
            op: Op {
                key: "k1".into(),
                change: Change::Merge(json!({"more": "y".repeat(90)})),
                if_rev: None,
            },
        };
        let refused = docs.op(Instant::now(), a, "a", "d", &grow).expect("valid");
        assert_eq!(refused.value, OpOutcome::Refused(ErrorCode::TooLarge));
        // Keys: 3 at most; replacing one is fine, a fourth is not.
        let _ = docs
            .op(Instant::now(), a, "a", "d", &op(3, "k3", json!(1)))
            .expect("valid");
        let refused = docs
            .op(Instant::now(), a, "a", "d", &op(4, "k4", json!(1)))
            .expect("valid");
        assert_eq!(refused.value, OpOutcome::Refused(ErrorCode::TooLarge));
        let replaced = docs
            .op(Instant::now(), a, "a", "d", &op(4, "k3", json!(2)))
            .expect("valid");
        assert_eq!(replaced.value, OpOutcome::Applied { rev: 4 });
        let (rev, entries) = docs.state("d").expect("exists");
        assert_eq!((rev, entries.len()), (4, 3));
        assert_eq!(
            docs.docs.get("d").map(|d| d.bytes),
            Some(doc_bytes(&docs.docs.get("d").expect("exists").doc))
        );
        // The server API goes through the same budget.
        let big = Op {
            key: "k1".into(),
            change: Change::Set(json!("z".repeat(200))),
            if_rev: None,
        };
        assert!(matches!(
            docs.server_op(Instant::now(), "d", &big),
            Err(EngineError::TooLarge(_))
        ));
        assert_eq!(docs.state("d").map(|s| s.0), Some(4));
    }

    #[test]
    fn the_op_log_is_bounded_in_bytes() {
        let limits = StateLimits {
            doc_log_bytes: 300,
            ..StateLimits::default()
        };
        let mut docs = Docs::with_limits(1000, limits);
        for cseq in 1..=20 {
            let _ = docs
                .op(
                    Instant::now(),
                    1,
                    "a",
                    "d",
                    &set("a", cseq, "k", json!(cseq), None),
                )
                .expect("valid");
        }
        let log = &docs.docs.get("d").expect("exists").log;
        assert!(log.bytes() <= 300, "{}", log.bytes());
        assert!(log.oldest() > 10, "only the newest ops are held");
        assert_eq!(log.latest(), 20);
    }

    #[test]
    fn an_unused_document_is_removed_after_the_idle_ttl() {
        let limits = StateLimits {
            doc_idle_ttl: Some(std::time::Duration::from_secs(60)),
            ..StateLimits::default()
        };
        let mut docs = Docs::with_limits(10, limits);
        let start = Instant::now();
        let at = |secs| start + std::time::Duration::from_secs(secs);
        docs.sync(at(0), 1, None, "kept", None).expect("sync");
        let _ = docs
            .op(at(0), 1, "a", "gone", &set("a", 1, "k", json!(1), None))
            .expect("valid");
        let _ = docs
            .op(at(50), 1, "a", "gone", &set("a", 2, "k", json!(2), None))
            .expect("valid");
        docs.sync(at(109), 2, None, "other", None).expect("sync");
        assert!(
            docs.state("gone").is_some(),
            "an op at 50 restarted its clock"
        );
        docs.sync(at(110), 2, None, "other", None).expect("sync");
        assert!(docs.state("gone").is_none());
        assert!(docs.state("kept").is_some(), "subscribed");
        docs.disconnect(at(200), 1);
        docs.disconnect(at(260), 2);
        assert!(docs.state("kept").is_none(), "unused since 200");
        assert!(docs.state("other").is_some(), "unused since 260");
        assert_eq!(docs.count(), 1);
    }
}
