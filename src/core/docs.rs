//! Optimistic document sync: each open document holds the server-confirmed state and the
//! client's pending ops; the view the app sees is always the confirmed state with the pending
//! ops applied on top (rebased whenever the confirmed state moves).

use super::vec_map::VecMap;
use crate::doc::{apply, Doc, Entry, Json, Op};

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
    pub has_base: bool,
    /// Id of the `sync` in flight.
    pub sync_id: Option<u64>,
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
            sync_id: None,
        }
    }
}

impl<V: Json + PartialEq, F> DocState<V, F> {
    /// Takes the pending op `(origin, cseq)` out, if it is still pending.
    pub fn take_pending(&mut self, origin: &str, cseq: u64) -> Option<PendingOp<V, F>> {
        let index = self
            .pending
            .iter()
            .position(|p| p.cseq == cseq && p.origin == origin)?;
        Some(self.pending.remove(index))
    }

    /// Replaces the confirmed state with the server's `(key, value, key revision)` entries at
    /// `rev`; returns the keys whose value in the view changed.
    pub fn reset_confirmed(&mut self, rev: u64, entries: Vec<(String, V, u64)>) -> Vec<String> {
        let mut confirmed = Doc::new();
        confirmed.rev = rev;
        for (key, value, key_rev) in entries {
            confirmed.entries.insert(
                key,
                Entry {
                    value,
                    rev: key_rev,
                },
            );
        }
        self.confirmed = confirmed;
        self.has_base = true;
        self.rebase()
    }

    /// Recomputes the view as confirmed + pending; returns the keys whose value changed.
    pub fn rebase(&mut self) -> Vec<String> {
        let mut view = self.confirmed.clone();
        for pending in &self.pending {
            // An op that fails here fails on the server too: it stays out of the view until
            // its rejection arrives.
            let _ = apply(&mut view, &pending.op);
        }
        let old = std::mem::replace(&mut self.view, view);
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
}

impl<V, F> Docs<V, F> {
    pub fn new() -> Self {
        Docs {
            docs: VecMap::new(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&DocState<V, F>> {
        self.docs.get(name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut DocState<V, F>> {
        self.docs.get_mut(name)
    }

    pub fn names(&self) -> Vec<String> {
        self.docs.keys().cloned().collect()
    }

    /// Adds a reference; true when the document was not open (it must be synced).
    pub fn open(&mut self, name: &str) -> bool {
        if let Some(doc) = self.docs.get_mut(name) {
            doc.refs += 1;
            return false;
        }
        self.docs.insert(name.to_owned(), DocState::new());
        true
    }

    /// Drops a reference; true when it was the last and the document is closed.
    pub fn close(&mut self, name: &str) -> bool {
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

    pub fn on_disconnect(&mut self) {
        for (_, doc) in self.docs.iter_mut() {
            doc.synced = false;
            doc.sync_id = None;
        }
    }
}
