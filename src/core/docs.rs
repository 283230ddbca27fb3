//! Optimistic document sync: each open document holds the server-confirmed state and the
//! client's pending ops; the view the app sees is always the confirmed state with the pending
//! ops applied on top (rebased whenever the confirmed state moves). Only this module changes a
//! [`DocState`]; the app reads it through `ClientCore::doc`.

use super::events::{ClientError, Event};
use super::queue::WireSize;
use super::sink::{Sink, Transmit, UserKind};
use super::text::Text;
use super::vec_map::VecMap;
use crate::doc::{apply, merge_depth_ok, Change, Doc, Entry, Json, Op, MAX_MERGE_DEPTH};
use crate::protocol::codec::MAX_SAFE_INTEGER;
use crate::protocol::{DocInbound, ErrorBody, ErrorCode};
use alloc::{borrow::ToOwned, string::String, vec::Vec};

/// How the core encodes an op frame itself: when the server assigns this session another origin,
/// ops still pending under the old one are re-encoded before they are re-sent (the server
/// refuses ops whose origin is not the session's).
pub trait OpFrame<V>: Sized {
    /// The `op` frame for `op` as `origin`'s op `cseq` in document `doc`; `None` if it cannot
    /// be encoded (the pending op is then re-sent as it was).
    fn op_frame(doc: &str, cseq: u64, origin: &str, op: &Op<V>) -> Option<Self>;
}

/// A local op waiting for the server's verdict, with its encoded frame for (re)sending.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingOp<V, F> {
    /// The client id the op was made under (an earlier page's, for ops restored from storage).
    pub origin: String,
    pub cseq: u64,
    pub op: Op<V>,
    pub frame: F,
}

#[derive(Debug)]
pub struct DocState<V, F> {
    refs: u32,
    pub confirmed: Doc<V>,
    pub pending: Vec<PendingOp<V, F>>,
    pub view: Doc<V>,
    /// A snapshot or replay has brought `confirmed` up to the server since the last connect.
    pub synced: bool,
    /// `confirmed` came from the server at least once, so a resync can ask for ops `since` it.
    has_base: bool,
    /// The epoch `confirmed` counts in: the server's (from `snapshot`/`synced`) or the saved
    /// copy's (`""` for a copy saved without one). A snapshot of another epoch is a reset.
    pub epoch: Option<String>,
    /// Id of the `sync` in flight, to match a refusal.
    sync_id: Option<u64>,
    /// Synced, but ops made under another session's origin await the server's verdict; the
    /// others wait behind them.
    resolving: bool,
}

impl<V, F: OpFrame<V>> PendingOp<V, F> {
    /// Re-encodes this op under `origin`, keeping its cseq; false if it cannot be encoded.
    fn move_to(&mut self, doc: &str, origin: &str) -> bool {
        let Some(frame) = F::op_frame(doc, self.cseq, origin, &self.op) else {
            return false;
        };
        self.frame = frame;
        self.origin = origin.to_owned();
        true
    }
}

impl<V, F> DocState<V, F> {
    fn new() -> Self {
        DocState {
            refs: 1,
            confirmed: Doc::new(),
            pending: Vec::new(),
            view: Doc::new(),
            synced: false,
            has_base: false,
            epoch: None,
            sync_id: None,
            resolving: false,
        }
    }
}

impl<V: Json + PartialEq, F> DocState<V, F> {
    /// Takes the pending op `(origin, cseq)` out, if it is still pending.
    fn take_pending(&mut self, origin: &str, cseq: u64) -> Option<PendingOp<V, F>> {
        let index = self
            .pending
            .iter()
            .position(|p| p.cseq == cseq && p.origin == origin)?;
        Some(self.pending.remove(index))
    }

    /// Replaces the confirmed state with the server's `(key, value, key revision)` entries at
    /// `rev`; returns the keys whose value in the view changed.
    fn reset_confirmed(&mut self, rev: u64, entries: Vec<(String, V, u64)>) -> Vec<String> {
        // Collected in one go (sorted once), not inserted key by key: O(n log n).
        self.confirmed = Doc {
            rev,
            entries: entries
                .into_iter()
                .map(|(key, value, rev)| (key, Entry { value, rev }))
                .collect(),
        };
        self.has_base = true;
        self.rebase()
    }

    /// Recomputes the view as confirmed + pending; returns the keys whose value changed.
    fn rebase(&mut self) -> Vec<String> {
        let mut view = self.confirmed.clone();
        for pending in &self.pending {
            // An op that fails here fails on the server too: it stays out of the view until
            // its rejection arrives.
            let _ = apply(&mut view, &pending.op);
        }
        let old = core::mem::replace(&mut self.view, view);
        // Both key lists are sorted: walk them together instead of sorting (smaller WASM).
        let old_keys: Vec<&String> = old.entries.keys().collect();
        let new_keys: Vec<&String> = self.view.entries.keys().collect();
        let (mut i, mut j) = (0, 0);
        let mut changed: Vec<String> = Vec::new();
        while i < old_keys.len() || j < new_keys.len() {
            let key = match (old_keys.get(i), new_keys.get(j)) {
                (Some(x), Some(y)) if x == y => {
                    i += 1;
                    j += 1;
                    *x
                }
                (Some(x), Some(y)) if x < y => {
                    i += 1;
                    *x
                }
                (Some(x), None) => {
                    i += 1;
                    *x
                }
                (_, Some(y)) => {
                    j += 1;
                    *y
                }
                (None, None) => break,
            };
            if old.get(key) != self.view.get(key) {
                changed.push(key.clone());
            }
        }
        changed
    }
}

#[derive(Debug)]
pub(crate) struct Docs<V, F> {
    docs: VecMap<String, DocState<V, F>>,
    /// This client's id in document ops: the one the server assigned to the current session
    /// (it refuses ops under any other), or the configured one (or none) before that.
    origin: String,
    next_cseq: u64,
    /// A connection is open: syncs and ops can be sent.
    online: bool,
}

impl<V, F> Docs<V, F> {
    pub fn new(origin: String) -> Self {
        Docs {
            docs: VecMap::new(),
            origin,
            next_cseq: 1,
            online: false,
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The server assigned this session `origin`: ops made from now on carry it, and pending
    /// ops are moved to it when they are re-sent after their document's next sync.
    pub fn set_origin(&mut self, origin: String) {
        self.origin = origin;
    }

    /// A fresh op sequence number, for the driver to encode into the op frame.
    pub fn allocate_cseq(&mut self) -> u64 {
        let cseq = self.next_cseq;
        // Saturating: restored ops (storage) can set it anywhere.
        self.next_cseq = self.next_cseq.saturating_add(1);
        cseq
    }

    pub fn get(&self, name: &str) -> Option<&DocState<V, F>> {
        self.docs.get(name)
    }

    /// Adds a reference; true when the document was not open (it must be synced).
    fn add_ref(&mut self, name: &str) -> bool {
        if let Some(doc) = self.docs.get_mut(name) {
            doc.refs += 1;
            return false;
        }
        self.docs.insert(name.to_owned(), DocState::new());
        true
    }

    /// Drops a reference; true when it was the last and the document is closed.
    fn release(&mut self, name: &str) -> bool {
        let Some(doc) = self.docs.get_mut(name) else {
            return false;
        };
        doc.refs = doc.refs.saturating_sub(1);
        if doc.refs > 0 {
            return false;
        }
        self.docs.remove(name);
        true
    }
}

impl<V: Clone, F: Clone + WireSize> Docs<V, F> {
    /// Opens document `name`, or adds a reference to it; the first opening syncs it.
    pub fn open(&mut self, out: &mut Sink<F, V>, name: &str) {
        if self.add_ref(name) && self.online {
            self.send_sync(out, name);
        }
    }

    /// Drops a reference to document `name`; the last one closes it (pending ops are dropped).
    pub fn close(&mut self, out: &mut Sink<F, V>, name: &str) {
        if self.release(name) && self.online {
            let id = out.next_id();
            out.send(Transmit::Unsync {
                id,
                doc: name.to_owned(),
            });
        }
    }

    /// A connection opened: every document syncs again.
    pub fn on_open(&mut self, out: &mut Sink<F, V>) {
        self.online = true;
        let mut names = Vec::new();
        for name in self.docs.keys() {
            names.push(name.clone());
        }
        for name in names {
            self.send_sync(out, &name);
        }
    }

    /// The connection dropped: no document is synced until its next sync completes.
    pub fn on_disconnect(&mut self) {
        self.online = false;
        for (_, doc) in self.docs.iter_mut() {
            doc.synced = false;
            doc.resolving = false;
            doc.sync_id = None;
        }
    }

    /// An `error` frame: if it refuses the `sync` in flight for a document, that document
    /// reports it as [`Event::DocError`] and stays unsynced until the next connection (or
    /// until it is opened again); otherwise the error is given back.
    pub fn on_error(
        &mut self,
        out: &mut Sink<F, V>,
        id: Option<u64>,
        room: Option<&str>,
        body: ErrorBody,
    ) -> Option<ErrorBody> {
        let Some(id) = id else {
            return Some(body);
        };
        let refused = self
            .docs
            .iter_mut()
            .find(|(name, doc)| doc.sync_id == Some(id) && room.is_none_or(|r| r == *name));
        let Some((name, doc)) = refused else {
            return Some(body);
        };
        doc.sync_id = None;
        out.emit_failure(Event::DocError {
            doc: name.clone(),
            error: ClientError::Server {
                code: body.code,
                message: body.message,
            },
        });
        None
    }

    fn send_sync(&mut self, out: &mut Sink<F, V>, name: &str) {
        let id = out.next_id();
        let Some(doc) = self.docs.get_mut(name) else {
            return;
        };
        doc.synced = false;
        doc.resolving = false;
        doc.sync_id = Some(id);
        let since = doc.has_base.then_some(doc.confirmed.rev);
        // A saved copy's unknown epoch goes as `""`, which no server epoch matches.
        out.send(Transmit::Sync {
            id,
            doc: name.to_owned(),
            since,
            epoch: doc.epoch.clone(),
        });
    }
}

/// Applying ops needs the payload type to be a JSON value the shared `apply` can work on.
impl<V: Clone + Json + PartialEq, F: Clone + WireSize + OpFrame<V>> Docs<V, F> {
    /// Applies a local op at once (optimistically) and sends its encoded `frame` (which carries
    /// `cseq` from `allocate_cseq` and this client's origin) when the document is synced;
    /// otherwise it is sent once the document is synced.
    pub fn apply_op(
        &mut self,
        out: &mut Sink<F, V>,
        name: &str,
        cseq: u64,
        op: Op<V>,
        frame: F,
    ) -> Result<(), ClientError> {
        let Some(doc) = self.docs.get_mut(name) else {
            return Err(ClientError::DocNotOpen {
                doc: name.to_owned(),
            });
        };
        doc.pending.push(PendingOp {
            origin: self.origin.clone(),
            cseq,
            op,
            frame: frame.clone(),
        });
        let changed = doc.rebase();
        let synced = doc.synced;
        doc_changed(out, name, changed);
        if self.online && synced {
            out.send(Transmit::User {
                frame,
                kind: UserKind::DocOp,
            });
        }
        Ok(())
    }

    /// Opens document `name` with state saved earlier (by an earlier page): the confirmed
    /// entries at `rev` of `epoch` and the ops that were still pending. It catches up from
    /// `rev` and then re-sends the pending ops, which the server applies once each. A saved
    /// copy of another epoch (or of none) is replaced by the server's snapshot with a reset.
    pub fn open_restored(
        &mut self,
        out: &mut Sink<F, V>,
        name: &str,
        rev: u64,
        epoch: Option<String>,
        entries: Vec<(String, V, u64)>,
        pending: Vec<PendingOp<V, F>>,
    ) {
        if !self.add_ref(name) {
            return; // already open: the live state wins over the saved one
        }
        // Live ops must not reuse a restored op's cseq: moved to this session's origin, the
        // two would be one `(origin, cseq)` to the server.
        for op in &pending {
            self.next_cseq = self.next_cseq.max(op.cseq.saturating_add(1));
        }
        if let Some(state) = self.docs.get_mut(name) {
            state.pending = pending;
            // A copy with server state but no epoch (saved before epochs) counts in an unknown
            // one: `""`, which no server epoch matches.
            state.epoch = epoch.or_else(|| (rev > 0).then(String::new));
            let changed = state.reset_confirmed(rev, entries);
            doc_changed(out, name, changed);
        }
        if self.online {
            self.send_sync(out, name);
        }
    }

    /// A document frame arrived. One the client cannot apply safely (see [`unsafe_frame`]) is
    /// reported as malformed and dropped: the gap it leaves makes the next op resync.
    pub fn on_frame(&mut self, out: &mut Sink<F, V>, frame: DocInbound<V>) {
        if let Some(reason) = unsafe_frame(&frame) {
            out.raise(ClientError::MalformedFrame { reason });
            return;
        }
        match frame {
            DocInbound::Applied {
                doc,
                rev,
                origin,
                cseq,
                op,
            } => self.on_applied(out, &doc, rev, &origin, cseq, &op),
            DocInbound::Rejected {
                doc,
                origin,
                cseq,
                error,
            } => {
                let Some(state) = self.docs.get_mut(&doc) else {
                    return;
                };
                if error.code == ErrorCode::Forbidden && state.resolving {
                    // Another session's origin the server never applied this op under: it
                    // takes this session's, keeping its place and cseq.
                    let own = &self.origin;
                    let pending = state
                        .pending
                        .iter_mut()
                        .find(|p| p.cseq == cseq && p.origin == origin && p.origin != *own);
                    if pending.is_some_and(|p| p.move_to(&doc, own)) {
                        return self.resolved(out, &doc);
                    }
                }
                let Some(pending) = state.take_pending(&origin, cseq) else {
                    return; // not ours, or settled already
                };
                let changed = state.rebase();
                doc_changed(out, &doc, changed);
                out.emit_failure(Event::DocRejected {
                    doc: doc.clone(),
                    cseq,
                    op: pending.op,
                    error: ClientError::Server {
                        code: error.code,
                        message: error.message,
                    },
                });
                self.resolved(out, &doc);
            }
            DocInbound::Synced { doc, rev, epoch } => {
                let Some(state) = self.docs.get_mut(&doc) else {
                    return;
                };
                if rev != state.confirmed.rev || epoch != state.epoch {
                    // The replay did not bring us to the server's revision (or its epoch): start
                    // over with a snapshot.
                    state.has_base = false;
                    self.send_sync(out, &doc);
                    return;
                }
                state.has_base = true;
                self.on_synced(out, &doc);
            }
            DocInbound::Snapshot {
                doc,
                rev,
                epoch,
                entries,
            } => {
                let Some(state) = self.docs.get_mut(&doc) else {
                    return;
                };
                if state.epoch.is_some() && state.epoch != epoch {
                    // Another history (the server restarted): what was confirmed is gone. The
                    // event comes first, so a saved copy is only replaced along with it; the
                    // pending ops stay and are re-sent on top of the snapshot.
                    out.emit(Event::DocReset {
                        doc: doc.clone(),
                        rev,
                    });
                }
                state.epoch = epoch;
                let changed = state.reset_confirmed(rev, entries);
                doc_changed(out, &doc, changed);
                self.on_synced(out, &doc);
            }
        }
    }

    fn on_applied(
        &mut self,
        out: &mut Sink<F, V>,
        name: &str,
        rev: u64,
        origin: &str,
        cseq: u64,
        op: &Op<V>,
    ) {
        let Some(state) = self.docs.get_mut(name) else {
            return;
        };
        if rev > state.confirmed.rev {
            if rev != state.confirmed.rev + 1 || apply(&mut state.confirmed, op) != Ok(rev) {
                // A gap or a disagreement: never guess, resync from the last good revision.
                if rev == state.confirmed.rev + 1 {
                    state.has_base = false;
                }
                self.send_sync(out, name);
                return;
            }
            state.has_base = true;
        }
        // At or below the confirmed revision: already applied (a replay overlap or the server
        // answering a re-sent op); it can still confirm one of ours.
        let confirmed = state.take_pending(origin, cseq).is_some();
        let changed = state.rebase();
        doc_changed(out, name, changed);
        if confirmed {
            out.emit(Event::DocConfirmed {
                doc: name.to_owned(),
                cseq,
                rev,
            });
            self.resolved(out, name);
        }
    }

    /// A verdict arrived while resolving: once no op under another origin is left, the
    /// document completes its sync.
    fn resolved(&mut self, out: &mut Sink<F, V>, name: &str) {
        let own = &self.origin;
        if let Some(state) = self.docs.get_mut(name) {
            if state.resolving && state.pending.iter().all(|p| p.origin == *own) {
                state.resolving = false;
                self.on_synced(out, name);
            }
        }
    }

    /// The document caught up: re-send every op still pending, in order (the server applies
    /// each `(origin, cseq)` once). Ops made under another origin than the session's (a lost
    /// session's, or restored from storage) go first, as they were, and the rest waits: the
    /// server answers one it applied (or rejected) with its record, and refuses one it never
    /// applied with `forbidden`, which moves it to this session's origin (`on_frame`). Ops made
    /// before any origin was known were never sent and move at once. See PROTOCOL.md.
    fn on_synced(&mut self, out: &mut Sink<F, V>, name: &str) {
        let Some(state) = self.docs.get_mut(name) else {
            return;
        };
        state.sync_id = None;
        state.resolving = false;
        for pending in state.pending.iter_mut() {
            if pending.origin == self.origin {
                continue;
            }
            if pending.origin.is_empty() {
                pending.move_to(name, &self.origin);
            } else {
                state.resolving = true;
                out.send(Transmit::User {
                    frame: pending.frame.clone(),
                    kind: UserKind::DocOp,
                });
            }
        }
        if state.resolving {
            return;
        }
        state.synced = true;
        for pending in &state.pending {
            out.send(Transmit::User {
                frame: pending.frame.clone(),
                kind: UserKind::DocOp,
            });
        }
        out.emit(Event::DocSynced {
            doc: name.to_owned(),
            rev: state.confirmed.rev,
        });
    }
}

/// Why a document frame must not be applied, if so: a revision with no successor the client
/// can count to exactly (`rev + 1` past 2^53 would not survive a JS number), or a merge patch
/// nested deeper than [`MAX_MERGE_DEPTH`] (applying it recurses once per level).
fn unsafe_frame<V: Json>(frame: &DocInbound<V>) -> Option<String> {
    let too_high = |rev: u64| rev >= MAX_SAFE_INTEGER;
    let revs_ok = match frame {
        DocInbound::Applied { rev, .. }
        | DocInbound::Synced { rev, .. }
        | DocInbound::Snapshot { rev, .. } => !too_high(*rev),
        DocInbound::Rejected { .. } => true,
    };
    if !revs_ok {
        return Some("document revision out of range".into());
    }
    match frame {
        DocInbound::Applied {
            op: Op {
                change: Change::Merge(patch),
                ..
            },
            ..
        } if !merge_depth_ok(patch) => Some(
            Text::new("merge patch nested deeper than ")
                .num(MAX_MERGE_DEPTH as u64)
                .done(),
        ),
        _ => None,
    }
}

fn doc_changed<F: WireSize, V>(out: &mut Sink<F, V>, name: &str, keys: Vec<String>) {
    if !keys.is_empty() {
        out.emit(Event::DocChanged {
            doc: name.to_owned(),
            keys,
        });
    }
}

/// Native frames are JSON text, encoded by the shared codec (as the browser's are).
#[cfg(not(target_arch = "wasm32"))]
impl OpFrame<serde_json::Value> for String {
    fn op_frame(doc: &str, cseq: u64, origin: &str, op: &Op<serde_json::Value>) -> Option<Self> {
        use crate::protocol::codec::{encode_client_frame, ClientFrame};
        let frame = ClientFrame::Op {
            doc,
            cseq,
            origin,
            op,
        };
        Some(encode_client_frame(frame).to_string())
    }
}
