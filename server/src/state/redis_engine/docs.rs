//! Documents in Redis. An op is read, decided and applied in Rust with the same functions the
//! memory engine and the client use, then written back by a script only if the document was
//! not written meanwhile (its `ver`); otherwise it is read and decided again. So every
//! revision is assigned once, whichever node applies the op.

use super::bus::BusEvent;
use super::reply::{entries, items, text_at, unavailable};
use super::scripts;
use super::{idle_cutoff, millis, now_ms, Inner};
use crate::lock::Locked;
use crate::protocol::frames;
use crate::state::docs::{
    apply_within, catch_up, check_name, conflict, doc_bytes, foreign_origin, forgotten,
    too_many_origins, CatchUp, ClientOp, Entries, OpOutcome, ServerOpOutcome, MAX_KEY,
    SERVER_ORIGIN,
};
use crate::state::epoch::Since;
use crate::state::origins::{
    Outcomes, Seen, MAX_ORIGINS, OUTCOMES_PER_ORIGIN, OUTCOME_BYTES_PER_ORIGIN,
};
use crate::state::{ConnId, EngineError};
use axum::extract::ws::Utf8Bytes;
use resocket::doc::{Doc, Entry, Op, Rejection};
use resocket::protocol::{ErrorBody, ErrorCode, SnapshotEntry};
use serde_json::Value;

/// Times an op is decided again after losing a race for its document before it is refused
/// `unavailable`.
const MAX_ATTEMPTS: usize = 64;

/// A document as read for an op.
struct Read {
    doc: Doc<Value>,
    /// The write count the commit must still find.
    ver: String,
    /// The op's origin's recorded outcomes.
    outcomes: Option<Outcomes<String>>,
    origins: usize,
}

/// A document's `rev`, `ver` and `body`, as `HMGET` reads them.
type DocFields = (Option<u64>, Option<String>, Option<String>);

fn doc_from(rev: u64, body: &str) -> Result<Doc<Value>, EngineError> {
    let entries: Entries = serde_json::from_str(body).map_err(unavailable)?;
    let mut doc = Doc {
        rev,
        ..Doc::default()
    };
    for (key, entry) in entries {
        doc.entries.insert(
            key,
            Entry {
                value: entry.value,
                rev: entry.rev,
            },
        );
    }
    Ok(doc)
}

fn entries_of(doc: &Doc<Value>) -> Entries {
    doc.entries
        .iter()
        .map(|(key, entry)| {
            let entry = SnapshotEntry {
                value: entry.value.clone(),
                rev: entry.rev,
            };
            (key.clone(), entry)
        })
        .collect()
}

/// What a commit writes besides the version bump.
struct Commit<'a> {
    /// The new revision and entries, if the op was applied.
    applied: Option<(u64, String)>,
    /// The origin and its outcomes, if recorded.
    origin: Option<(&'a str, String)>,
    /// The `op` frame for the log and the subscribers, if applied.
    frame: Option<&'a str>,
}

enum Committed {
    Ok,
    Retry,
    Full,
}

impl Inner {
    async fn read_doc(&self, doc: &str, origin: &str) -> Result<Read, EngineError> {
        let mut redis = self.redis();
        let (fields, record, origins): (DocFields, Option<String>, usize) = redis::pipe()
            .cmd("HMGET")
            .arg(self.keys.doc(doc))
            .arg(&["rev", "ver", "body"])
            .cmd("HGET")
            .arg(self.keys.doc_origins(doc))
            .arg(origin)
            .cmd("HLEN")
            .arg(self.keys.doc_origins(doc))
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        let (rev, ver, body) = fields;
        let outcomes = record
            .map(|json| serde_json::from_str(&json).map_err(unavailable))
            .transpose()?;
        Ok(Read {
            doc: doc_from(rev.unwrap_or(0), body.as_deref().unwrap_or("{}"))?,
            ver: ver.unwrap_or_else(|| "0".to_owned()),
            outcomes,
            origins,
        })
    }

    async fn commit(
        &self,
        doc: &str,
        read: &Read,
        commit: Commit<'_>,
    ) -> Result<Committed, EngineError> {
        let (rev, body) = commit.applied.unwrap_or((0, String::new()));
        let (origin, record) = commit.origin.unwrap_or(("", String::new()));
        let now = now_ms();
        let mut redis = self.redis();
        let outcome: String = scripts::DOC_COMMIT
            .key(self.keys.doc(doc))
            .key(self.keys.doc_log(doc))
            .key(self.keys.doc_origins(doc))
            .key(self.keys.docs_idle())
            .arg(&read.ver)
            .arg(crate::random::epoch())
            .arg(rev)
            .arg(body)
            .arg(origin)
            .arg(record)
            .arg(commit.frame.unwrap_or(""))
            .arg(self.doc_history)
            .arg(self.limits.max_docs)
            .arg(doc)
            .arg(self.keys.bus())
            .arg(now)
            .arg(idle_cutoff(now, self.limits.doc_idle_ttl))
            .arg(self.keys.prefix())
            .arg(self.limits.doc_log_bytes)
            .invoke_async(&mut redis)
            .await
            .map_err(unavailable)?;
        Ok(match outcome.as_str() {
            "ok" => Committed::Ok,
            "full" => Committed::Full,
            _ => Committed::Retry,
        })
    }

    /// Sends the sender its answer through the bus, so it follows every op of the document
    /// committed before it, as the memory engine orders them.
    async fn answer(&self, conn: ConnId, frame: Utf8Bytes) -> Result<(), EngineError> {
        let node = self.node.clone();
        self.publish_bus(&BusEvent::Conn { node, conn, frame })
            .await
    }

    pub(super) async fn op(
        &self,
        conn: ConnId,
        owner: &str,
        doc: &str,
        op: &ClientOp,
    ) -> Result<OpOutcome, EngineError> {
        check_name(doc)?;
        let (outcome, answer) = self.decide_op(conn, owner, doc, op).await?;
        if let Some(frame) = answer {
            self.answer(conn, frame.into()).await?;
        }
        Ok(outcome)
    }

    /// Applies (or refuses) a client op; returns its outcome and what the sender must get
    /// besides the subscribers' `op` frame.
    async fn decide_op(
        &self,
        conn: ConnId,
        owner: &str,
        doc: &str,
        op: &ClientOp,
    ) -> Result<(OpOutcome, Option<String>), EngineError> {
        let refuse = |code: ErrorCode, message: String| {
            let error = ErrorBody { code, message };
            let frame = frames::reject(doc, &op.origin, op.cseq, error);
            Ok((OpOutcome::Refused(code), Some(frame)))
        };
        if op.origin != owner {
            // Another session's op: only its record, to a subscriber re-sending it.
            if self.local.locked().is_subscribed(doc, conn) {
                let read = self.read_doc(doc, &op.origin).await?;
                if let Some(Seen::Done(frame)) = read.outcomes.map(|o| o.check(op.cseq)) {
                    return Ok((OpOutcome::Repeated, Some(frame)));
                }
            }
            return refuse(ErrorCode::Forbidden, foreign_origin(op));
        }
        for _ in 0..MAX_ATTEMPTS {
            let read = self.read_doc(doc, &op.origin).await?;
            let mut outcomes = match &read.outcomes {
                None if read.origins >= MAX_ORIGINS => {
                    return refuse(ErrorCode::RateLimited, too_many_origins(doc))
                }
                None => Outcomes::default(),
                Some(outcomes) => outcomes.clone(),
            };
            match outcomes.check(op.cseq) {
                Seen::New => {}
                Seen::Done(frame) => return Ok((OpOutcome::Repeated, Some(frame))),
                Seen::Forgotten | Seen::Full => {
                    return refuse(ErrorCode::Unexpected, forgotten(op))
                }
            }
            let mut state = read.doc.clone();
            let applied = match apply_within(&mut state, &op.op, doc_bytes(&read.doc), &self.limits)
            {
                Ok(applied) => applied.map(|(rev, _)| rev),
                // Not recorded, as with the memory engine.
                Err(err) => return refuse(err.code(), err.to_string()),
            };
            let (frame, applied) = match applied {
                Ok(rev) => (
                    frames::doc_op(doc, rev, &op.origin, op.cseq, &op.op),
                    Some(rev),
                ),
                Err(Rejection::Conflict { expected, actual }) => {
                    let error = conflict(op, expected, actual);
                    (frames::reject(doc, &op.origin, op.cseq, error), None)
                }
            };
            outcomes.record(
                op.cseq,
                frame.clone(),
                OUTCOMES_PER_ORIGIN,
                OUTCOME_BYTES_PER_ORIGIN,
            );
            let record = serde_json::to_string(&outcomes).map_err(unavailable)?;
            let body = serde_json::to_string(&entries_of(&state)).map_err(unavailable)?;
            let commit = Commit {
                applied: applied.map(|rev| (rev, body)),
                origin: Some((&op.origin, record)),
                frame: applied.map(|_| frame.as_str()),
            };
            match self.commit(doc, &read, commit).await? {
                Committed::Retry => continue,
                Committed::Full => {
                    let full = EngineError::TooManyDocs;
                    return refuse(full.code(), full.to_string());
                }
                Committed::Ok => {}
            }
            return Ok(match applied {
                // Subscribers (the sender too, if it is one) get it from the bus.
                Some(rev) if self.local.locked().is_subscribed(doc, conn) => {
                    (OpOutcome::Applied { rev }, None)
                }
                Some(rev) => (OpOutcome::Applied { rev }, Some(frame)),
                None => (OpOutcome::Rejected, Some(frame)),
            });
        }
        Err(unavailable("document too contended; op not applied"))
    }

    pub(super) async fn server_op(
        &self,
        doc: &str,
        op: &Op<Value>,
    ) -> Result<ServerOpOutcome, EngineError> {
        check_name(doc)?;
        if op.key.is_empty() || op.key.len() > MAX_KEY {
            return Err(EngineError::BadKey);
        }
        // Taken when the op first applies (a conflict takes none), kept across retries.
        let mut cseq: Option<u64> = None;
        for _ in 0..MAX_ATTEMPTS {
            let read = self.read_doc(doc, SERVER_ORIGIN).await?;
            let mut state = read.doc.clone();
            let rev = match apply_within(&mut state, op, doc_bytes(&read.doc), &self.limits)? {
                Ok((rev, _)) => rev,
                Err(Rejection::Conflict { expected, actual }) => {
                    return Ok(ServerOpOutcome::Conflict { expected, actual })
                }
            };
            let cseq = match cseq {
                Some(cseq) => cseq,
                None => {
                    let mut redis = self.redis();
                    let next: u64 = redis::cmd("INCR")
                        .arg(self.keys.server_cseq())
                        .query_async(&mut redis)
                        .await
                        .map_err(unavailable)?;
                    *cseq.insert(next)
                }
            };
            let frame = frames::doc_op(doc, rev, SERVER_ORIGIN, cseq, op);
            let body = serde_json::to_string(&entries_of(&state)).map_err(unavailable)?;
            let commit = Commit {
                applied: Some((rev, body)),
                origin: None,
                frame: Some(&frame),
            };
            match self.commit(doc, &read, commit).await? {
                Committed::Ok => return Ok(ServerOpOutcome::Applied { rev }),
                Committed::Full => return Err(EngineError::TooManyDocs),
                Committed::Retry => {}
            }
        }
        Err(unavailable("document too contended; op not applied"))
    }

    pub(super) async fn doc_state(&self, doc: &str) -> Result<Option<(u64, Entries)>, EngineError> {
        check_name(doc)?;
        let mut redis = self.redis();
        let (rev, body): (Option<u64>, Option<String>) = redis::cmd("HMGET")
            .arg(self.keys.doc(doc))
            .arg(&["rev", "body"])
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        match (rev, body) {
            (Some(rev), Some(body)) => {
                let entries = serde_json::from_str(&body).map_err(unavailable)?;
                Ok(Some((rev, entries)))
            }
            _ => Ok(None),
        }
    }

    pub(super) async fn sync<Q>(
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
        check_name(doc)?;
        self.ensure_bus()?;
        // What is already queued is older than the subscription, so it is written first.
        let mut frames = {
            let mut local = self.local.locked();
            local.syncing(doc, conn);
            queued()
        };
        let caught_up = self.catch_up(id, doc, since).await;
        let mut local = self.local.locked();
        match caught_up {
            Ok((catch_up, rev)) => {
                frames.extend(catch_up);
                frames.extend(local.synced(doc, conn, rev));
                Ok(frames)
            }
            Err(err) => {
                local.unsync(doc, conn);
                Err(err)
            }
        }
    }

    /// A syncing client's catch-up (snapshot, or replay and `synced`) and the revision it
    /// reaches; creates the document if needed.
    async fn catch_up(
        &self,
        id: Option<u64>,
        doc: &str,
        since: Option<Since>,
    ) -> Result<(Vec<Utf8Bytes>, u64), EngineError> {
        let now = now_ms();
        let mut redis = self.redis();
        let reply = scripts::DOC_OPEN
            .key(self.keys.doc(doc))
            .key(self.keys.docs_idle())
            .arg(crate::random::epoch())
            .arg(self.limits.max_docs)
            .arg(doc)
            .arg(now)
            .arg(now.saturating_add(millis(self.lease)))
            .arg(idle_cutoff(now, self.limits.doc_idle_ttl))
            .arg(self.keys.prefix())
            .invoke_async(&mut redis)
            .await
            .map_err(unavailable)?;
        let reply = items(reply)?;
        if text_at(&reply, 0)? != "ok" {
            return Err(EngineError::TooManyDocs);
        }
        let epoch = text_at(&reply, 1)?;
        let rev: u64 = text_at(&reply, 2)?.parse().map_err(unavailable)?;
        let state = doc_from(rev, &text_at(&reply, 4)?)?;
        let since = since.and_then(|since| since.within(&epoch));
        if let Some(since) = since.filter(|since| *since < rev) {
            let read = redis::cmd("XRANGE")
                .arg(self.keys.doc_log(doc))
                .arg(format!("{}-0", since + 1))
                .arg(format!("{rev}-0"))
                .query_async(&mut redis)
                .await
                .map_err(unavailable)?;
            let held = entries(read)?;
            let oldest = held.first().map_or(rev + 1, |e| e.number);
            let complete = held.len() as u64 == rev - since;
            if complete && matches!(catch_up(Some(since), rev, oldest), CatchUp::Replay { .. }) {
                let mut frames: Vec<Utf8Bytes> = held.into_iter().map(|e| e.frame).collect();
                frames.push(frames::synced(id, doc, rev, &epoch).into());
                return Ok((frames, rev));
            }
        } else if since == Some(rev) {
            return Ok((vec![frames::synced(id, doc, rev, &epoch).into()], rev));
        }
        let snapshot = frames::snapshot(id, doc, &state, &epoch);
        Ok((vec![snapshot.into()], rev))
    }
}
