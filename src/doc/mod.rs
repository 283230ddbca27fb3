//! Shared documents: the one pure [`apply`] that both the client and the server run, so their
//! views of a document cannot disagree.
//!
//! A document is a map of keys to JSON values with a revision number. The server applies ops in
//! one order per document; each applied op gets the next revision, which also becomes the
//! revision of the key it touched (for compare-and-set). The value type is generic ([`Json`]) so
//! the server works on `serde_json::Value` and the browser on JS values.

#[cfg(not(target_arch = "wasm32"))]
mod serde_json_value;

use crate::core::VecMap;
use alloc::{string::String, vec::Vec};

/// The JSON operations `apply` needs from a value type.
pub trait Json: Clone {
    fn null() -> Self;
    fn empty_object() -> Self;
    fn is_null(&self) -> bool;
    fn is_object(&self) -> bool;
    /// The object's members in order; empty for non-objects.
    fn entries(&self) -> Vec<(String, Self)>;
    fn get(&self, key: &str) -> Option<Self>;
    /// Sets a member; `self` is an object.
    fn insert(&mut self, key: &str, value: Self);
    /// Removes a member; `self` is an object.
    fn remove(&mut self, key: &str);
}

/// What an op does to its key.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<V> {
    Set(V),
    Delete,
    /// RFC 7386 JSON merge patch applied to the key's current value (null when absent).
    Merge(V),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Op<V> {
    pub key: String,
    pub change: Change<V>,
    /// Compare-and-set: apply only if the key's revision is this (0 for an absent key).
    pub if_rev: Option<u64>,
}

/// A key's value and the revision of the op that last wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<V> {
    pub value: V,
    pub rev: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Doc<V> {
    /// Revision of the last applied op; 0 for a new document.
    pub rev: u64,
    pub entries: VecMap<String, Entry<V>>,
}

/// Why an op was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The compare-and-set revision did not match.
    Conflict { expected: u64, actual: u64 },
}

impl<V> Default for Doc<V> {
    fn default() -> Self {
        Doc {
            rev: 0,
            entries: VecMap::new(),
        }
    }
}

impl<V> Doc<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key).map(|e| &e.value)
    }

    /// Revision of `key`: of the op that last wrote it, 0 when absent.
    pub fn key_rev(&self, key: &str) -> u64 {
        self.entries.get(key).map_or(0, |e| e.rev)
    }
}

/// Applies `op` as revision `doc.rev + 1`, or leaves `doc` untouched and says why not.
pub fn apply<V: Json>(doc: &mut Doc<V>, op: &Op<V>) -> Result<u64, Rejection> {
    if let Some(expected) = op.if_rev {
        let actual = doc.key_rev(&op.key);
        if actual != expected {
            return Err(Rejection::Conflict { expected, actual });
        }
    }
    // Saturating: a revision this high never comes from the codec (at most 2^53), and a hostile
    // one must not panic; the client refuses such revisions before applying (`core::docs`).
    let rev = doc.rev.saturating_add(1);
    match &op.change {
        Change::Set(value) => {
            doc.entries.insert(
                op.key.clone(),
                Entry {
                    value: value.clone(),
                    rev,
                },
            );
        }
        Change::Delete => {
            doc.entries.remove(&op.key);
        }
        Change::Merge(patch) => {
            let current = doc.get(&op.key).cloned().unwrap_or_else(V::null);
            let value = merge_patch(&current, patch);
            doc.entries.insert(op.key.clone(), Entry { value, rev });
        }
    }
    doc.rev = rev;
    Ok(rev)
}

/// Deepest object nesting a merge patch may have: [`merge_patch`] recurses once per level, so a
/// deeper patch is refused before it is applied (see [`merge_depth_ok`]). Servers parsing JSON
/// with `serde_json` (whose limit is 128 levels for the whole frame) never send a deeper one.
pub const MAX_MERGE_DEPTH: usize = 128;

/// Whether `patch` nests objects at most [`MAX_MERGE_DEPTH`] levels deep (a non-object is 0).
/// Its own recursion stops one level past the limit, however deep the value goes.
pub fn merge_depth_ok<V: Json>(patch: &V) -> bool {
    depth_within(patch, MAX_MERGE_DEPTH)
}

fn depth_within<V: Json>(value: &V, levels: usize) -> bool {
    !value.is_object()
        || (levels > 0
            && value
                .entries()
                .iter()
                .all(|(_, child)| depth_within(child, levels - 1)))
}

/// RFC 7386 JSON merge patch. Builds new objects rather than changing `target`, so values that
/// share structure (JS objects held by both the confirmed state and the view) stay intact.
pub fn merge_patch<V: Json>(target: &V, patch: &V) -> V {
    if !patch.is_object() {
        return patch.clone();
    }
    let mut result = V::empty_object();
    if target.is_object() {
        for (name, value) in target.entries() {
            result.insert(&name, value);
        }
    }
    for (name, value) in patch.entries() {
        if value.is_null() {
            result.remove(&name);
        } else {
            let current = result.get(&name).unwrap_or_else(V::null);
            result.insert(&name, merge_patch(&current, &value));
        }
    }
    result
}
