//! What rooms and documents share: their names, a bounded map of them, and the index of which
//! ones each connection uses (so a connection that ends leaves them all).

use super::delivery::ConnId;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Longest room or document name, in bytes.
pub const MAX_NAME: usize = 256;

/// Room and document names are 1 to [`MAX_NAME`] bytes.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME
}

/// Named entries, at most `max` in this map and the maps that share its count (the shards of
/// one engine), each in use (a room with members, a document with subscribers) or idle since
/// some instant. An entry idle for `idle_ttl` is removed by [`expire`](Self::expire), which
/// only looks at the expired ones (an index ordered by idle time). When the count is full, a
/// new name takes the place of this map's longest-idle entry: a new name is refused only while
/// every entry of its map is in use, so idle junk cannot lock anyone out.
#[derive(Debug)]
pub struct IdleMap<T> {
    entries: HashMap<String, Held<T>>,
    /// The idle entries, by when they became idle (then by name).
    idle: BTreeSet<(Instant, String)>,
    max: usize,
    /// How long an entry may stay idle (`None`: until its place is needed).
    idle_ttl: Option<Duration>,
    /// Entries held by this map and every map sharing the count.
    total: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct Held<T> {
    value: T,
    /// `None` while in use.
    idle_since: Option<Instant>,
}

impl<T> IdleMap<T> {
    pub fn new(max: usize, idle_ttl: Option<Duration>) -> IdleMap<T> {
        IdleMap::sharing(max, idle_ttl, Arc::default())
    }

    /// A map whose entries count against `total` with those of the other maps given it.
    pub fn sharing(max: usize, idle_ttl: Option<Duration>, total: Arc<AtomicUsize>) -> IdleMap<T> {
        IdleMap {
            entries: HashMap::new(),
            idle: BTreeSet::new(),
            max,
            idle_ttl,
            total,
        }
    }

    /// Counts one more entry unless the shared count is full.
    fn count_one(&self) -> bool {
        let mut held = self.total.load(Ordering::Acquire);
        while held < self.max {
            match self.total.compare_exchange_weak(
                held,
                held + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => held = now,
            }
        }
        false
    }

    fn remove(&mut self, name: &str) {
        if self.entries.remove(name).is_some() {
            self.total.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The entry `name`, created with `make` if needed (idle at `now` until [`touch`]ed as in
    /// use); `None` when it is new and every one of the `max` entries is in use. The value's
    /// second part is the name of the entry evicted to make room, if any.
    ///
    /// [`touch`]: Self::touch
    pub fn get_or_create(
        &mut self,
        name: &str,
        now: Instant,
        make: impl FnOnce() -> T,
    ) -> Option<(&mut T, Option<String>)> {
        let mut evicted = None;
        if !self.entries.contains_key(name) {
            if !self.count_one() {
                let (_, oldest) = self.idle.pop_first()?;
                // Its place in the count goes to the new entry.
                self.entries.remove(&oldest);
                evicted = Some(oldest);
            }
            self.idle.insert((now, name.to_owned()));
            let held = Held {
                value: make(),
                idle_since: Some(now),
            };
            self.entries.insert(name.to_owned(), held);
        }
        let held = self.entries.get_mut(name)?;
        Some((&mut held.value, evicted))
    }

    /// Records that `name` was used at `now`: in use, or idle from `now` on.
    pub fn touch(&mut self, name: &str, now: Instant, in_use: bool) {
        let Some(held) = self.entries.get_mut(name) else {
            return;
        };
        if let Some(since) = held.idle_since.take() {
            self.idle.remove(&(since, name.to_owned()));
        }
        if !in_use {
            held.idle_since = Some(now);
            self.idle.insert((now, name.to_owned()));
        }
    }

    /// Removes the entries idle for `idle_ttl` or longer at `now`; returns their names.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let Some(ttl) = self.idle_ttl else {
            return Vec::new();
        };
        let mut expired = Vec::new();
        while let Some((since, _)) = self.idle.first() {
            if now.saturating_duration_since(*since) < ttl {
                break;
            }
            if let Some((_, name)) = self.idle.pop_first() {
                self.remove(&name);
                expired.push(name);
            }
        }
        expired
    }

    pub fn get(&self, name: &str) -> Option<&T> {
        self.entries.get(name).map(|held| &held.value)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        self.entries.get_mut(name).map(|held| &mut held.value)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries in use (not idle).
    pub fn in_use(&self) -> usize {
        self.entries.len() - self.idle.len()
    }
}

/// What an engine with several maps sharing one count needs to free the place of the
/// longest-idle entry of them all for a new name.
pub trait Places {
    /// True when `name` is new here and the shared count is full.
    fn needs_place(&self, name: &str) -> bool;
    /// Since when the longest-idle entry here has been idle.
    fn oldest_idle(&self) -> Option<Instant>;
    /// Removes the longest-idle entry here, freeing its place in the shared count.
    fn evict_oldest_idle(&mut self) -> Option<String>;
}

impl<T> Places for IdleMap<T> {
    fn needs_place(&self, name: &str) -> bool {
        !self.entries.contains_key(name) && self.total.load(Ordering::Acquire) >= self.max
    }

    fn oldest_idle(&self) -> Option<Instant> {
        self.idle.first().map(|(since, _)| *since)
    }

    fn evict_oldest_idle(&mut self) -> Option<String> {
        let (_, name) = self.idle.pop_first()?;
        self.remove(&name);
        Some(name)
    }
}

impl<T> Drop for IdleMap<T> {
    /// A map replaced (for example a shard rebuilt with new settings) frees its places.
    fn drop(&mut self) {
        self.total.fetch_sub(self.entries.len(), Ordering::AcqRel);
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
    fn a_full_map_replaces_its_longest_idle_entry_and_refuses_only_when_all_are_in_use() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let mut map = IdleMap::new(2, None);
        let (value, evicted) = map.get_or_create("a", at(0), || 1).expect("room");
        assert_eq!((*value, evicted), (1, None));
        map.touch("a", at(0), true);
        assert!(map.get_or_create("b", at(1), || 2).is_some());
        // "b" is idle since 1: it makes room for "c".
        let (_, evicted) = map.get_or_create("c", at(2), || 3).expect("room");
        assert_eq!(evicted.as_deref(), Some("b"));
        assert_eq!(map.get("b"), None);
        map.touch("c", at(2), true);
        assert!(map.get_or_create("d", at(3), || 4).is_none(), "all in use");
        let (value, _) = map.get_or_create("a", at(3), || 5).expect("existing");
        assert_eq!(*value, 1, "existing names go on");
        // "a" idle since 4, "c" since 5: "a" goes first.
        map.touch("a", at(4), false);
        map.touch("c", at(5), false);
        let (_, evicted) = map.get_or_create("d", at(6), || 4).expect("room");
        assert_eq!(evicted.as_deref(), Some("a"));
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn maps_sharing_a_count_are_full_together_and_expiry_frees_places() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let total = Arc::new(AtomicUsize::new(0));
        let ttl = Some(Duration::from_secs(60));
        let mut shard_a = IdleMap::sharing(2, ttl, Arc::clone(&total));
        let mut shard_b = IdleMap::sharing(2, ttl, Arc::clone(&total));
        assert!(shard_a.get_or_create("a", at(0), || 1).is_some());
        shard_a.touch("a", at(0), true);
        assert!(shard_b.get_or_create("b", at(0), || 2).is_some());
        shard_b.touch("b", at(0), true);
        assert!(
            shard_a.get_or_create("c", at(1), || 3).is_none(),
            "full together"
        );
        assert!(shard_b.get_or_create("b", at(1), || 4).is_some());
        assert_eq!(total.load(Ordering::Acquire), 2);
        shard_b.touch("b", at(1), false);
        assert_eq!(shard_b.expire(at(61)), ["b"]);
        assert_eq!(total.load(Ordering::Acquire), 1);
        assert!(shard_a.get_or_create("c", at(62), || 3).is_some());
        assert_eq!(total.load(Ordering::Acquire), 2);
        drop(shard_a);
        assert_eq!(total.load(Ordering::Acquire), 0);
    }

    #[test]
    fn a_map_gets_a_place_from_another_sharing_the_count() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let total = Arc::new(AtomicUsize::new(0));
        let mut busy = IdleMap::sharing(2, None, Arc::clone(&total));
        let mut idle = IdleMap::sharing(2, None, Arc::clone(&total));
        assert!(busy.get_or_create("a", at(0), || 1).is_some());
        busy.touch("a", at(0), true);
        assert!(idle.get_or_create("b", at(1), || 2).is_some());
        assert!(!busy.needs_place("a"), "existing names have theirs");
        assert!(busy.needs_place("c"));
        assert_eq!(busy.oldest_idle(), None);
        assert_eq!(idle.oldest_idle(), Some(at(1)));
        assert_eq!(idle.evict_oldest_idle().as_deref(), Some("b"));
        assert!(!busy.needs_place("c"));
        assert!(busy.get_or_create("c", at(2), || 3).is_some());
        assert_eq!(total.load(Ordering::Acquire), 2);
    }

    #[test]
    fn idle_entries_expire_after_the_ttl_and_activity_restarts_the_clock() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let mut map = IdleMap::new(10, Some(Duration::from_secs(60)));
        for (name, secs) in [("a", 0), ("b", 10), ("c", 20)] {
            map.get_or_create(name, at(secs), || 0).expect("room");
        }
        map.touch("c", at(20), true);
        map.touch("a", at(30), false);
        assert!(map.expire(at(69)).is_empty());
        assert_eq!(map.expire(at(70)), ["b"]);
        assert_eq!(map.expire(at(90)), ["a"]);
        assert!(map.expire(at(1000)).is_empty(), "c is in use");
        map.touch("c", at(1000), false);
        assert_eq!(map.expire(at(1060)), ["c"]);
        assert_eq!(map.len(), 0);
        // Without a TTL nothing expires.
        let mut forever = IdleMap::new(1, None);
        forever.get_or_create("a", at(0), || 0).expect("room");
        assert!(forever.expire(at(1_000_000)).is_empty());
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
