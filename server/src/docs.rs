//! Shared documents: the per-document sequencer, its bounded op log, subscriptions and
//! `(origin, cseq)` de-duplication. Ops are applied with the shared `resocket::doc::apply`, the
//! same function the client runs, so both sides compute the same document.
//!
//! Every frame about a document is queued while the documents lock is held, so each subscriber
//! receives ops in revision order. The catch-up a `sync` answers (snapshot, or replay + `synced`)
//! is returned for the connection to write itself, preceded by whatever was already queued for
//! it (taken under the same lock), so nothing older can follow it.

use crate::frames;
use crate::history::{self, History};
use crate::hub::{ConnId, Hub};
use crate::lock::Locked;
use crate::origins::{Origins, Seen};
use crate::rooms::MAX_ROOM_NAME;
use axum::extract::ws::Utf8Bytes;
use resocket::doc::{apply, Doc, Op, Rejection};
use resocket::protocol::{ErrorBody, ErrorCode, SnapshotEntry};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// Most documents the server keeps (they are never removed); using a new one beyond this is
/// refused with `rate_limited`.
pub const MAX_DOCS: usize = 10_000;
/// Longest `origin`, in bytes.
pub const MAX_ORIGIN: usize = 128;
/// Longest key, in bytes.
pub const MAX_KEY: usize = 1024;

/// Why a document request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocError {
    #[error("document names (room) must be 1 to {MAX_ROOM_NAME} bytes")]
    BadName,
    #[error("the server holds at most {MAX_DOCS} documents")]
    TooManyDocs,
}

impl DocError {
    pub fn body(&self) -> ErrorBody {
        let code = match self {
            DocError::BadName => ErrorCode::BadRequest,
            DocError::TooManyDocs => ErrorCode::RateLimited,
        };
        ErrorBody {
            code,
            message: self.to_string(),
        }
    }
}

/// Checks a document name (the frame's `room`): same rule as room names.
pub fn check_name(name: &str) -> Result<(), DocError> {
    if name.is_empty() || name.len() > MAX_ROOM_NAME {
        Err(DocError::BadName)
    } else {
        Ok(())
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

/// What became of a client op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpOutcome {
    /// Applied as revision `rev`; the `op` frame was queued for `delivered` connections.
    Applied { rev: u64, delivered: usize },
    /// The compare-and-set failed: recorded, `reject` queued for the sender.
    Rejected,
    /// Already handled: the recorded `op` or `reject` was queued for the sender again.
    Repeated,
    /// Not applied and not recorded (too many documents or origins, or a cseq older than the
    /// de-duplication window): `reject` with this code queued for the sender.
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

/// A document's revision and entries, for `/control/doc`.
pub type Entries = BTreeMap<String, SnapshotEntry<Value>>;

pub struct Docs {
    inner: Mutex<Inner>,
    hub: Arc<Hub>,
    history: usize,
}

#[derive(Default)]
struct Inner {
    docs: HashMap<String, Document>,
    /// The documents each connection is subscribed to, to unsubscribe it when it ends.
    by_conn: HashMap<ConnId, HashSet<String>>,
}

struct Document {
    doc: Doc<Value>,
    /// Encoded applied `op` frames; the newest is revision `doc.rev`.
    log: History<Utf8Bytes>,
    subscribers: HashSet<ConnId>,
    /// The frame each recent `(origin, cseq)` was answered with (`op` or `reject`).
    origins: Origins<Utf8Bytes>,
}

impl Docs {
    /// `history`: applied ops kept per document for replay after `since`.
    pub fn new(hub: Arc<Hub>, history: usize) -> Docs {
        Docs {
            inner: Mutex::new(Inner::default()),
            hub,
            history,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.locked()
    }

    /// Subscribes `conn` to `name` (again, if it already is) and returns what it must write:
    /// the frames `queued()` hands back (called under the lock: what was already queued for
    /// the connection, so it is written first), then a `snapshot`, or the logged ops after
    /// `since` followed by `synced`.
    pub fn sync(
        &self,
        conn: ConnId,
        id: Option<u64>,
        name: &str,
        since: Option<u64>,
        queued: impl FnOnce() -> Vec<Utf8Bytes>,
    ) -> Result<Vec<Utf8Bytes>, DocError> {
        check_name(name)?;
        let mut inner = self.lock();
        let Inner { docs, by_conn } = &mut *inner;
        let doc = doc_entry(docs, name, self.history)?;
        doc.subscribers.insert(conn);
        by_conn.entry(conn).or_default().insert(name.to_owned());

        let mut out = queued();
        let replay = match catch_up(since, doc.doc.rev, doc.log.oldest()) {
            CatchUp::Replay { since } => doc.log.since(since),
            CatchUp::Snapshot => None,
        };
        match replay {
            Some(ops) => {
                out.extend(ops.cloned());
                out.push(frames::synced(id, name, doc.doc.rev).into());
            }
            None => out.push(frames::snapshot(id, name, &doc.doc).into()),
        }
        Ok(out)
    }

    /// Ends `conn`'s subscription to `name`; true if it was subscribed.
    pub fn unsync(&self, conn: ConnId, name: &str) -> bool {
        let mut inner = self.lock();
        let Inner { docs, by_conn } = &mut *inner;
        forget(by_conn, conn, name);
        docs.get_mut(name)
            .is_some_and(|doc| doc.subscribers.remove(&conn))
    }

    /// Applies a client op (once per `(origin, cseq)`) and queues the answers: the applied `op`
    /// for every subscriber and the sender, or a `reject` for the sender.
    pub fn op(&self, conn: ConnId, name: &str, op: &ClientOp) -> Result<OpOutcome, DocError> {
        check_name(name)?;
        let mut inner = self.lock();
        let refuse = |code: ErrorCode, message: String| {
            let frame = frames::reject(name, &op.origin, op.cseq, ErrorBody { code, message });
            self.hub.send_to(conn, &frame.into());
            Ok(OpOutcome::Refused(code))
        };
        let doc = match doc_entry(&mut inner.docs, name, self.history) {
            Ok(doc) => doc,
            Err(err) => return refuse(ErrorCode::RateLimited, err.to_string()),
        };
        match doc.origins.check(&op.origin, op.cseq) {
            Seen::New => {}
            Seen::Done(frame) => {
                self.hub.send_to(conn, &frame);
                return Ok(OpOutcome::Repeated);
            }
            Seen::Forgotten => {
                return refuse(
                    ErrorCode::Unexpected,
                    format!(
                        "op {} of origin {:?} is older than the ops remembered for it; not applied",
                        op.cseq, op.origin
                    ),
                )
            }
            Seen::Full => {
                return refuse(
                    ErrorCode::RateLimited,
                    format!(
                        "document {name:?} already remembers {} origins",
                        crate::origins::MAX_ORIGINS
                    ),
                )
            }
        }
        match apply(&mut doc.doc, &op.op) {
            Ok(rev) => {
                let frame = Utf8Bytes::from(frames::doc_op(name, rev, &op.origin, op.cseq, &op.op));
                doc.log.push(frame.clone());
                doc.origins.record(&op.origin, op.cseq, frame.clone());
                let sender = (!doc.subscribers.contains(&conn)).then_some(conn);
                let recipients = doc.subscribers.iter().copied().chain(sender);
                let delivered = self.hub.send_to_each(recipients, &frame);
                Ok(OpOutcome::Applied { rev, delivered })
            }
            Err(Rejection::Conflict { expected, actual }) => {
                let error = ErrorBody {
                    code: ErrorCode::Conflict,
                    message: format!(
                        "{} is at revision {actual}, not {expected}",
                        crate::dispatch::truncate(&op.op.key, 64)
                    ),
                };
                let frame = Utf8Bytes::from(frames::reject(name, &op.origin, op.cseq, error));
                doc.origins.record(&op.origin, op.cseq, frame.clone());
                self.hub.send_to(conn, &frame);
                Ok(OpOutcome::Rejected)
            }
        }
    }

    /// A connection ended: it is unsubscribed from every document.
    pub fn disconnect(&self, conn: ConnId) {
        let mut inner = self.lock();
        let Inner { docs, by_conn } = &mut *inner;
        for name in by_conn.remove(&conn).unwrap_or_default() {
            if let Some(doc) = docs.get_mut(&name) {
                doc.subscribers.remove(&conn);
            }
        }
    }

    /// Documents held.
    pub fn count(&self) -> usize {
        self.lock().docs.len()
    }

    /// A document's revision and entries; `None` if it does not exist.
    pub fn state(&self, name: &str) -> Option<(u64, Entries)> {
        let inner = self.lock();
        let doc = &inner.docs.get(name)?.doc;
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
        Some((doc.rev, entries))
    }
}

fn doc_entry<'a>(
    docs: &'a mut HashMap<String, Document>,
    name: &str,
    history: usize,
) -> Result<&'a mut Document, DocError> {
    if !docs.contains_key(name) && docs.len() >= MAX_DOCS {
        return Err(DocError::TooManyDocs);
    }
    Ok(docs.entry(name.to_owned()).or_insert_with(|| Document {
        doc: Doc::new(),
        log: History::new(history),
        subscribers: HashSet::new(),
        origins: Origins::default(),
    }))
}

/// Removes `name` from the documents `conn` is subscribed to.
fn forget(by_conn: &mut HashMap<ConnId, HashSet<String>>, conn: ConnId, name: &str) {
    if let Some(names) = by_conn.get_mut(&conn) {
        names.remove(name);
        if names.is_empty() {
            by_conn.remove(&conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Registration;
    use resocket::doc::Change;
    use serde_json::json;

    fn client(hub: &Arc<Hub>, n: u64) -> Registration {
        let reg = hub.register();
        hub.welcome(reg.membership.id(), &format!("s-{n}"), None);
        reg
    }

    fn queued(reg: &mut Registration) -> Vec<Value> {
        std::iter::from_fn(|| reg.outbound.try_recv().ok())
            .map(|f| serde_json::from_str(f.as_str()).expect("JSON frame"))
            .collect()
    }

    fn texts(frames: Vec<Utf8Bytes>) -> Vec<Value> {
        frames
            .iter()
            .map(|f| serde_json::from_str(f.as_str()).expect("JSON frame"))
            .collect()
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

    #[tokio::test]
    async fn ops_are_sequenced_broadcast_and_deduplicated() {
        let hub = Hub::new();
        let docs = Docs::new(Arc::clone(&hub), 10);
        let mut a = client(&hub, 1);
        let mut b = client(&hub, 2);
        let (ida, idb) = (a.membership.id(), b.membership.id());
        let snapshot = texts(docs.sync(ida, Some(1), "d", None, Vec::new).expect("sync"));
        assert_eq!(
            snapshot,
            [json!({"kind":"snapshot","id":1,"room":"d","seq":0,"payload":{"entries":{}}})]
        );
        let op = set("a", 1, "k", json!({"x": 1}), Some(0));
        assert_eq!(
            docs.op(ida, "d", &op),
            Ok(OpOutcome::Applied {
                rev: 1,
                delivered: 1
            })
        );
        let applied = json!({"kind":"op","room":"d","seq":1,"payload":
            {"origin":"a","cseq":1,"key":"k","op":"set","value":{"x":1},"ifRev":0}});
        assert_eq!(queued(&mut a), std::slice::from_ref(&applied));
        // b is not subscribed: nothing for it.
        assert!(queued(&mut b).is_empty());

        // The same (origin, cseq) again, from b: answered to b only, not applied.
        assert_eq!(docs.op(idb, "d", &op), Ok(OpOutcome::Repeated));
        assert_eq!(queued(&mut b), [applied]);
        assert!(queued(&mut a).is_empty());
        assert_eq!(docs.state("d").map(|s| s.0), Some(1));

        // A failed compare-and-set goes to the sender only, and is recorded.
        let stale = set("b", 1, "k", json!(2), Some(0));
        assert_eq!(docs.op(idb, "d", &stale), Ok(OpOutcome::Rejected));
        let reject = json!({"kind":"reject","room":"d","payload":{"origin":"b","cseq":1,
            "error":{"code":"conflict","message":"k is at revision 1, not 0"}}});
        assert_eq!(queued(&mut b), std::slice::from_ref(&reject));
        assert!(queued(&mut a).is_empty());
        let retry = set("b", 1, "k", json!(2), Some(1));
        assert_eq!(docs.op(idb, "d", &retry), Ok(OpOutcome::Repeated));
        assert_eq!(queued(&mut b), [reject]);
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
        assert_eq!(
            docs.op(idb, "d", &delete),
            Ok(OpOutcome::Applied {
                rev: 2,
                delivered: 2
            })
        );
        let deleted = json!({"kind":"op","room":"d","seq":2,"payload":
            {"origin":"b","cseq":2,"key":"k","op":"delete"}});
        assert_eq!(queued(&mut a), std::slice::from_ref(&deleted));
        assert_eq!(queued(&mut b), [deleted]);

        // Unsubscribed: no more ops.
        assert!(docs.unsync(ida, "d"));
        assert!(!docs.unsync(ida, "d"));
        docs.op(idb, "d", &set("b", 3, "k", json!(3), None))
            .expect("valid");
        assert!(queued(&mut a).is_empty());
        assert_eq!(queued(&mut b).len(), 1);
        assert_eq!(docs.count(), 1);
        assert_eq!(docs.state("nope"), None);
    }

    #[tokio::test]
    async fn sync_replays_the_log_or_sends_a_snapshot() {
        let hub = Hub::new();
        let docs = Docs::new(Arc::clone(&hub), 3);
        let mut a = client(&hub, 1);
        let ida = a.membership.id();
        for cseq in 1..=5 {
            docs.op(ida, "d", &set("a", cseq, "k", json!(cseq), None))
                .expect("valid");
        }
        assert_eq!(queued(&mut a).len(), 5, "the sender gets its own ops");

        let frames = texts(
            docs.sync(ida, Some(7), "d", Some(3), Vec::new)
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
            json!({"kind":"synced","id":7,"room":"d","seq":5})
        );
        assert_eq!(
            texts(docs.sync(ida, None, "d", Some(5), Vec::new).expect("sync")),
            [json!({"kind":"synced","room":"d","seq":5})]
        );
        for since in [None, Some(1), Some(6)] {
            let frames = texts(docs.sync(ida, None, "d", since, Vec::new).expect("sync"));
            assert_eq!(
                frames,
                [json!({"kind":"snapshot","room":"d","seq":5,
                        "payload":{"entries":{"k":{"value":5,"rev":5}}}})],
                "{since:?}"
            );
        }
        // What was queued before the sync comes first.
        let earlier = || vec![Utf8Bytes::from_static(r#"{"kind":"msg"}"#)];
        let frames = texts(docs.sync(ida, None, "d", Some(5), earlier).expect("sync"));
        assert_eq!(frames[0], json!({"kind":"msg"}));
        assert_eq!(frames.len(), 2);

        // Connection end: unsubscribed everywhere.
        docs.disconnect(ida);
        let mut b = client(&hub, 2);
        docs.op(b.membership.id(), "d", &set("b", 1, "k", json!(0), None))
            .expect("valid");
        assert!(queued(&mut a).is_empty());
        assert_eq!(queued(&mut b).len(), 1);
    }

    #[tokio::test]
    async fn names_and_refusals() {
        let hub = Hub::new();
        let docs = Docs::new(Arc::clone(&hub), 3);
        let mut a = client(&hub, 1);
        let ida = a.membership.id();
        assert_eq!(
            docs.sync(ida, None, "", None, Vec::new),
            Err(DocError::BadName)
        );
        let long = "d".repeat(MAX_ROOM_NAME + 1);
        assert_eq!(
            docs.op(ida, &long, &set("a", 1, "k", json!(1), None)),
            Err(DocError::BadName)
        );
        assert_eq!(DocError::BadName.body().code, ErrorCode::BadRequest);
        assert_eq!(DocError::TooManyDocs.body().code, ErrorCode::RateLimited);

        // Past the de-duplication window: refused, not applied.
        for cseq in 1..=1100 {
            docs.op(ida, "d", &set("a", cseq, "k", json!(cseq), None))
                .expect("valid");
            assert_eq!(queued(&mut a).len(), 1);
        }
        assert_eq!(
            docs.op(ida, "d", &set("a", 1, "k", json!(0), None)),
            Ok(OpOutcome::Refused(ErrorCode::Unexpected))
        );
        let reject = queued(&mut a);
        assert_eq!(reject[0]["kind"], "reject");
        assert_eq!(reject[0]["payload"]["error"]["code"], "unexpected");
        assert_eq!(docs.state("d").map(|s| s.0), Some(1100));
    }
}
