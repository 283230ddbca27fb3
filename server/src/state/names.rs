//! What rooms and documents share: their names, a bounded map of them, and the index of which
//! ones each connection uses (so a connection that ends leaves them all).

use super::delivery::ConnId;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Longest room or document name, in bytes.
pub const MAX_NAME: usize = 256;

/// Room and document names are 1 to [`MAX_NAME`] bytes.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME
}

/// Named entries that are never removed, at most `max` of them in this map and the maps that
/// share its count (the shards of one engine).
#[derive(Debug)]
pub struct CappedMap<T> {
    entries: HashMap<String, T>,
    max: usize,
    /// Entries held by this map and every map sharing the count.
    total: Arc<AtomicUsize>,
}

impl<T> CappedMap<T> {
    pub fn new(max: usize) -> CappedMap<T> {
        CappedMap::sharing(max, Arc::default())
    }

    /// A map whose entries count against `total` with those of the other maps given it.
    pub fn sharing(max: usize, total: Arc<AtomicUsize>) -> CappedMap<T> {
        CappedMap {
            entries: HashMap::new(),
            max,
            total,
        }
    }

    /// The entry `name`, created with `make` if needed; `None` when it is new and the map (with
    /// those sharing its count) is full.
    pub fn get_or_create(&mut self, name: &str, make: impl FnOnce() -> T) -> Option<&mut T> {
        if !self.entries.contains_key(name) {
            let max = self.max;
            let counted = self
                .total
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < max).then_some(n + 1)
                });
            counted.ok()?;
        }
        Some(self.entries.entry(name.to_owned()).or_insert_with(make))
    }

    pub fn get(&self, name: &str) -> Option<&T> {
        self.entries.get(name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        self.entries.get_mut(name)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.values()
    }
}

/// The names each connection uses.
#[derive(Debug, Default)]
pub struct ConnIndex {
    by_conn: HashMap<ConnId, HashSet<String>>,
}

impl ConnIndex {
    pub fn add(&mut self, conn: ConnId, name: &str) {
        self.by_conn
            .entry(conn)
            .or_default()
            .insert(name.to_owned());
    }

    pub fn remove(&mut self, conn: ConnId, name: &str) {
        if let Some(names) = self.by_conn.get_mut(&conn) {
            names.remove(name);
            if names.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
    }

    /// Forgets `conn`, returning the names it used.
    pub fn take(&mut self, conn: ConnId) -> HashSet<String> {
        self.by_conn.remove(&conn).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded() {
        assert!(!is_valid_name(""));
        assert!(is_valid_name("r"));
        assert!(is_valid_name(&"r".repeat(MAX_NAME)));
        assert!(!is_valid_name(&"r".repeat(MAX_NAME + 1)));
    }

    #[test]
    fn a_capped_map_refuses_new_names_when_full() {
        let mut map = CappedMap::new(1);
        assert_eq!(map.get_or_create("a", || 1).copied(), Some(1));
        assert_eq!(map.get_or_create("b", || 2), None);
        assert_eq!(
            map.get_or_create("a", || 3).copied(),
            Some(1),
            "existing names go on"
        );
        assert_eq!(map.len(), 1);

        let total = Arc::new(AtomicUsize::new(0));
        let mut shard_a = CappedMap::sharing(2, Arc::clone(&total));
        let mut shard_b = CappedMap::sharing(2, Arc::clone(&total));
        assert!(shard_a.get_or_create("a", || 1).is_some());
        assert!(shard_b.get_or_create("b", || 2).is_some());
        assert_eq!(shard_a.get_or_create("c", || 3), None, "full together");
        assert!(shard_b.get_or_create("b", || 4).is_some());
        assert_eq!(total.load(Ordering::Acquire), 2);
    }

    #[test]
    fn the_index_forgets_a_connection() {
        let mut index = ConnIndex::default();
        index.add(1, "a");
        index.add(1, "b");
        index.remove(1, "a");
        assert_eq!(index.take(1), HashSet::from(["b".to_owned()]));
        assert!(index.take(1).is_empty());
    }
}
