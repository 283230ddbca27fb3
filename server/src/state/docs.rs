//! Shared documents: the per-document sequencer, its bounded op log, subscriptions and
//! `(origin, cseq)` de-duplication. Ops are applied with the shared `resocket::doc::apply`, the
//! same function the client runs, so both sides compute the same document. Plain data: an op
//! returns the frames to send as [`Delivery`]s.
//!
//! The catch-up a `sync` answers (snapshot, or replay + `synced`) is returned for the
//! connection to write itself; the engine puts whatever was already queued for the connection
//! in front of it, so nothing older can follow it.
//!
//! Each document has an epoch, fixed when it is created (see [`super::epoch`]): a `since` that
//! does not count in it is answered with a snapshot.

use super::delivery::{ConnId, Delivery, Outcome, To};
use super::epoch::Since;
use super::error::EngineError;
use super::history::{self, History};
use super::names::{is_valid_name, CappedMap, ConnIndex};
use super::origins::{Origins, Seen, MAX_ORIGINS};
use crate::protocol::{dispatch, frames};
use axum::extract::ws::Utf8Bytes;
use resocket::doc::{apply, Doc, Op, Rejection};
use resocket::protocol::{ErrorBody, ErrorCode, SnapshotEntry};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

/// Most documents the server keeps (they are never removed); using a new one beyond this is
/// refused with `rate_limited`.
pub const MAX_DOCS: usize = 10_000;
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

/// A document's entries, for `/control/doc`.
pub type Entries = BTreeMap<String, SnapshotEntry<Value>>;

#[derive(Debug)]
pub struct Docs {
    docs: CappedMap<Document>,
    /// The documents each connection is subscribed to, to unsubscribe it when it ends.
    subscriptions: ConnIndex,
    /// Applied ops kept per document for replay.
    history: usize,
    /// The `cseq` of the last server-side op.
    server_cseq: u64,
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
}

impl Docs {
    /// `history`: applied ops kept per document for replay after `since`.
    pub fn new(history: usize) -> Docs {
        Docs {
            docs: CappedMap::new(MAX_DOCS),
            subscriptions: ConnIndex::default(),
            history,
            server_cseq: 0,
        }
    }

    /// These documents count against `total` with every other `Docs` given it (the shards of
    /// one engine), for [`MAX_DOCS`] in all. Call it before any document exists.
    pub fn sharing_cap(mut self, total: Arc<AtomicUsize>) -> Docs {
        self.docs = CappedMap::sharing(MAX_DOCS, total);
        self
    }

    fn doc_or_create(&mut self, name: &str) -> Result<&mut Document, EngineError> {
        let history = self.history;
        self.docs
            .get_or_create(name, || Document {
                doc: Arc::new(Doc::new()),
                epoch: crate::random::epoch(),
                log: History::new(history),
                subscribers: HashSet::new(),
                origins: Origins::default(),
            })
            .ok_or(EngineError::TooManyDocs)
    }

    /// Subscribes `conn` to `name` (again, if it already is) and returns its catch-up: a
    /// `snapshot`, or the logged ops after `since` followed by `synced`. A `since` from another
    /// epoch, or without one, gets the snapshot.
    pub fn sync(
        &mut self,
        conn: ConnId,
        id: Option<u64>,
        name: &str,
        since: Option<Since>,
    ) -> Result<Vec<Utf8Bytes>, EngineError> {
        Ok(self.sync_deferred(conn, id, name, since)?.frames())
    }

    /// [`sync`](Self::sync), but a snapshot is encoded later by [`Synced::frames`], from the
    /// document as it is now (shared, O(1) here), so the engine encodes it outside its lock.
    pub fn sync_deferred(
        &mut self,
        conn: ConnId,
        id: Option<u64>,
        name: &str,
        since: Option<Since>,
    ) -> Result<Synced, EngineError> {
        check_name(name)?;
        let doc = self.doc_or_create(name)?;
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
        Ok(synced)
    }

    /// Ends `conn`'s subscription to `name`; true if it was subscribed.
    pub fn unsync(&mut self, conn: ConnId, name: &str) -> bool {
        self.subscriptions.remove(conn, name);
        self.docs
            .get_mut(name)
            .is_some_and(|doc| doc.subscribers.remove(&conn))
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
        let doc = match self.doc_or_create(name) {
            Ok(doc) => doc,
            Err(err) => return refuse(err.code(), err.to_string()),
        };
        match doc.origins.check(&op.origin, op.cseq) {
            Seen::New => {}
            Seen::Done(frame) => return Ok(Outcome::with(OpOutcome::Repeated, to_sender(frame))),
            Seen::Forgotten => return refuse(ErrorCode::Unexpected, forgotten(op)),
            Seen::Full => return refuse(ErrorCode::RateLimited, too_many_origins(name)),
        }
        match apply(Arc::make_mut(&mut doc.doc), &op.op) {
            Ok(rev) => {
                let frame = Utf8Bytes::from(frames::doc_op(name, rev, &op.origin, op.cseq, &op.op));
                doc.log.push(frame.clone());
                doc.origins.record(&op.origin, op.cseq, frame.clone());
                let sender = (!doc.subscribers.contains(&conn)).then_some(conn);
                let recipients = doc.subscribers.iter().copied().chain(sender).collect();
                let deliveries = vec![Delivery::new(To::Conns(recipients), frame)];
                Ok(Outcome::with(OpOutcome::Applied { rev }, deliveries))
            }
            Err(Rejection::Conflict { expected, actual }) => {
                let error = conflict(op, expected, actual);
                let frame = Utf8Bytes::from(frames::reject(name, &op.origin, op.cseq, error));
                doc.origins.record(&op.origin, op.cseq, frame.clone());
                Ok(Outcome::with(OpOutcome::Rejected, to_sender(frame)))
            }
        }
    }

    /// Applies an op made by the server (origin [`SERVER_ORIGIN`]) in the document's one order,
    /// creating the document if needed; an applied op goes to every subscriber as an `op` frame.
    pub fn server_op(
        &mut self,
        name: &str,
        op: &Op<Value>,
    ) -> Result<Outcome<ServerOpOutcome>, EngineError> {
        check_name(name)?;
        if op.key.is_empty() || op.key.len() > MAX_KEY {
            return Err(EngineError::BadKey);
        }
        let cseq = self.server_cseq + 1;
        let doc = self.doc_or_create(name)?;
        match apply(Arc::make_mut(&mut doc.doc), op) {
            Ok(rev) => {
                let frame = Utf8Bytes::from(frames::doc_op(name, rev, SERVER_ORIGIN, cseq, op));
                doc.log.push(frame.clone());
                let recipients = doc.subscribers.iter().copied().collect();
                let deliveries = vec![Delivery::new(To::Conns(recipients), frame)];
                self.server_cseq = cseq;
                Ok(Outcome::with(ServerOpOutcome::Applied { rev }, deliveries))
            }
            Err(Rejection::Conflict { expected, actual }) => {
                Ok(Outcome::quiet(ServerOpOutcome::Conflict {
                    expected,
                    actual,
                }))
            }
        }
    }

    /// A connection ended: it is unsubscribed from every document.
    pub fn disconnect(&mut self, conn: ConnId) {
        for name in self.subscriptions.take(conn) {
            if let Some(doc) = self.docs.get_mut(&name) {
                doc.subscribers.remove(&conn);
            }
        }
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
        let snapshot = texts(&docs.sync(a, Some(1), "d", None).expect("sync"));
        let epoch = docs.docs.get("d").expect("created").epoch.clone();
        assert_eq!(
            snapshot,
            [json!({"kind":"snapshot","id":1,"room":"d","seq":0,
                    "payload":{"entries":{},"epoch":epoch}})]
        );
        let op = set("a", 1, "k", json!({"x": 1}), Some(0));
        let applied_op = docs.op(a, "a", "d", &op).expect("valid");
        assert_eq!(applied_op.value, OpOutcome::Applied { rev: 1 });
        let applied = json!({"kind":"op","room":"d","seq":1,"payload":
            {"origin":"a","cseq":1,"key":"k","op":"set","value":{"x":1},"ifRev":0}});
        assert_eq!(to(&applied_op, a), std::slice::from_ref(&applied));
        // b is not subscribed: nothing for it.
        assert!(to(&applied_op, b).is_empty());

        // The same (origin, cseq) again: answered to the sender only, not applied.
        let repeated = docs.op(a, "a", "d", &op).expect("valid");
        assert_eq!(repeated.value, OpOutcome::Repeated);
        assert_eq!(to(&repeated, a), std::slice::from_ref(&applied));
        assert!(to(&repeated, b).is_empty());
        assert_eq!(docs.state("d").map(|s| s.0), Some(1));

        // Under another session's origin: forbidden, not applied; a subscriber re-sending a
        // recorded op of another origin (a client whose session was lost) gets the record.
        let stolen = docs.op(b, "b", "d", &op).expect("valid");
        assert_eq!(stolen.value, OpOutcome::Refused(ErrorCode::Forbidden));
        assert_eq!(to(&stolen, b)[0]["payload"]["error"]["code"], "forbidden");
        docs.sync(b, None, "d", None).expect("sync");
        let repeated = docs.op(b, "b", "d", &op).expect("valid");
        assert_eq!(repeated.value, OpOutcome::Repeated);
        assert_eq!(to(&repeated, b), [applied]);
        for origin in ["a", SERVER_ORIGIN] {
            let unknown = set(origin, 2, "k", json!(0), None);
            let refused = docs.op(b, "b", "d", &unknown).expect("valid");
            assert_eq!(refused.value, OpOutcome::Refused(ErrorCode::Forbidden));
        }
        assert!(docs.unsync(b, "d"));
        assert_eq!(docs.state("d").map(|s| s.0), Some(1));

        // A failed compare-and-set goes to the sender only, and is recorded.
        let stale = set("b", 1, "k", json!(2), Some(0));
        let rejected = docs.op(b, "b", "d", &stale).expect("valid");
        assert_eq!(rejected.value, OpOutcome::Rejected);
        let reject = json!({"kind":"reject","room":"d","payload":{"origin":"b","cseq":1,
            "error":{"code":"conflict","message":"k is at revision 1, not 0"}}});
        assert_eq!(to(&rejected, b), std::slice::from_ref(&reject));
        assert!(to(&rejected, a).is_empty());
        let retry = set("b", 1, "k", json!(2), Some(1));
        let repeated = docs.op(b, "b", "d", &retry).expect("valid");
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
        let deleted_op = docs.op(b, "b", "d", &delete).expect("valid");
        assert_eq!(deleted_op.value, OpOutcome::Applied { rev: 2 });
        let deleted = json!({"kind":"op","room":"d","seq":2,"payload":
            {"origin":"b","cseq":2,"key":"k","op":"delete"}});
        assert_eq!(to(&deleted_op, a), std::slice::from_ref(&deleted));
        assert_eq!(to(&deleted_op, b), [deleted]);

        // Unsubscribed: no more ops.
        assert!(docs.unsync(a, "d"));
        assert!(!docs.unsync(a, "d"));
        let later = docs
            .op(b, "b", "d", &set("b", 3, "k", json!(3), None))
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
                .op(a, "a", "d", &set("a", cseq, "k", json!(cseq), None))
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
        let frames = texts(&docs.sync(a, Some(7), "d", at(3)).expect("sync"));
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
            texts(&docs.sync(a, None, "d", at(5)).expect("sync")),
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
            let frames = texts(&docs.sync(a, None, "d", since.clone()).expect("sync"));
            assert_eq!(
                frames,
                [json!({"kind":"snapshot","room":"d","seq":5,
                        "payload":{"entries":{"k":{"value":5,"rev":5}},"epoch":epoch}})],
                "{since:?}"
            );
        }

        // Connection end: unsubscribed everywhere.
        docs.disconnect(a);
        let b = 2;
        let applied = docs
            .op(b, "b", "d", &set("b", 1, "k", json!(0), None))
            .expect("valid");
        assert!(to(&applied, a).is_empty());
        assert_eq!(to(&applied, b).len(), 1);
    }

    #[test]
    fn names_and_refusals() {
        let mut docs = Docs::new(3);
        let a = 1;
        assert_eq!(docs.sync(a, None, "", None), Err(EngineError::BadDocName));
        let long = "d".repeat(MAX_NAME + 1);
        assert_eq!(
            docs.op(a, "a", &long, &set("a", 1, "k", json!(1), None)),
            Err(EngineError::BadDocName)
        );
        assert_eq!(EngineError::BadDocName.code(), ErrorCode::BadRequest);
        assert_eq!(EngineError::TooManyDocs.code(), ErrorCode::RateLimited);

        // Past the de-duplication window: refused, not applied.
        for cseq in 1..=1100 {
            let applied = docs
                .op(a, "a", "d", &set("a", cseq, "k", json!(cseq), None))
                .expect("valid");
            assert_eq!(to(&applied, a).len(), 1);
        }
        let refused = docs
            .op(a, "a", "d", &set("a", 1, "k", json!(0), None))
            .expect("valid");
        assert_eq!(refused.value, OpOutcome::Refused(ErrorCode::Unexpected));
        let reject = to(&refused, a);
        assert_eq!(reject[0]["kind"], "reject");
        assert_eq!(reject[0]["payload"]["error"]["code"], "unexpected");
        assert_eq!(docs.state("d").map(|s| s.0), Some(1100));
    }

    #[test]
    fn a_new_document_beyond_the_bound_is_refused_to_the_sender() {
        let mut docs = Docs::new(0);
        for n in 0..MAX_DOCS {
            docs.sync(1, None, &n.to_string(), None).expect("room");
        }
        assert_eq!(
            docs.sync(1, None, "one more", None),
            Err(EngineError::TooManyDocs)
        );
        let refused = docs
            .op(1, "a", "one more", &set("a", 1, "k", json!(0), None))
            .expect("valid name");
        assert_eq!(refused.value, OpOutcome::Refused(ErrorCode::RateLimited));
        assert_eq!(
            to(&refused, 1)[0]["payload"]["error"]["code"],
            "rate_limited"
        );
    }
}
