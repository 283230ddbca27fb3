//! A map kept as a sorted `Vec`. The core's maps are small (rooms, members, pending requests),
//! and `BTreeMap` cost the WASM build ~40 KB of node-balancing code per key and value type.

use alloc::vec::Vec;
use core::borrow::Borrow;

#[derive(Debug, Clone, PartialEq)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Inserts or replaces; returns the replaced value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(core::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn into_values(self) -> impl Iterator<Item = V> {
        self.entries.into_iter().map(|(_, v)| v)
    }
}

/// Sorts once instead of inserting one by one: O(n log n), not O(n²) for unsorted input such
/// as a room's members from the server. A repeated key (never sent by a correct server) keeps
/// one of its values.
impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut entries: Vec<(K, V)> = iter.into_iter().collect();
        heap_sort(&mut entries);
        // Drops repeats in place (smaller than `dedup_by` in the WASM build).
        let mut kept = 0;
        for i in 0..entries.len() {
            if kept == 0 || entries[kept - 1].0 != entries[i].0 {
                entries.swap(kept, i);
                kept += 1;
            }
        }
        entries.truncate(kept);
        VecMap { entries }
    }
}

/// Heap sort by key: in place, O(n log n), and far smaller in the WASM build than the
/// standard library's sorts.
fn heap_sort<K: Ord, V>(items: &mut [(K, V)]) {
    fn sift<K: Ord, V>(items: &mut [(K, V)], mut root: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= items.len() {
                return;
            }
            if child + 1 < items.len() && items[child].0 < items[child + 1].0 {
                child += 1;
            }
            if items[root].0 >= items[child].0 {
                return;
            }
            items.swap(root, child);
            root = child;
        }
    }
    for start in (0..items.len() / 2).rev() {
        sift(items, start);
    }
    for end in (1..items.len()).rev() {
        items.swap(0, end);
        sift(&mut items[..end], 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_an_ordered_map() {
        let mut m = VecMap::new();
        assert_eq!(m.insert("b".to_owned(), 2), None);
        assert_eq!(m.insert("a".to_owned(), 1), None);
        assert_eq!(m.insert("b".to_owned(), 3), Some(2));
        assert_eq!(m.get("b"), Some(&3));
        assert!(m.contains_key("a"));
        assert_eq!(m.keys().cloned().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(m.remove("a"), Some(1));
        assert_eq!(m.remove("a"), None);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn collecting_sorts_and_keeps_a_repeated_key_once() {
        let m: VecMap<u32, &str> = [(3, "c"), (1, "a"), (3, "c"), (2, "b"), (1, "a"), (3, "c")]
            .into_iter()
            .collect();
        let entries: Vec<(u32, &str)> = m.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(entries, vec![(1, "a"), (2, "b"), (3, "c")]);
        // Scrambled: every key once, in order.
        let scrambled: VecMap<u32, ()> = (0..1000u32).map(|i| ((i * 7919) % 1000, ())).collect();
        assert!(scrambled.keys().copied().eq(0..1000));
        let big: VecMap<u32, u32> = (0..100_000).rev().map(|k| (k, k * 2)).collect();
        assert_eq!(big.len(), 100_000);
        assert!(big.keys().zip(big.keys().skip(1)).all(|(a, b)| a < b));
        assert_eq!(big.get(&77_777), Some(&155_554));
    }
}
