//! Per-document op de-duplication: for each origin, the recorded outcome of its recent op
//! sequence numbers (`cseq`). Pure bookkeeping, no I/O; a document holds one behind its lock.
//!
//! Each origin keeps its last [`OUTCOMES_PER_ORIGIN`] cseqs (the highest ones; clients count
//! from 1 upwards), and at most [`OUTCOME_BYTES_PER_ORIGIN`] of their frames (the newest one
//! always). A cseq at or below the highest one evicted is [`Seen::Forgotten`]: it was handled
//! long ago (or skipped), so it must not be applied now.

use super::history::Weight;
use std::collections::{BTreeMap, HashMap};

/// Outcomes kept per origin.
pub const OUTCOMES_PER_ORIGIN: usize = 1024;
/// Bytes of outcome frames kept per origin (the newest outcome is kept whatever its size): 1,024
/// op frames of 256 bytes, or fewer larger ones. A client has few ops in flight, and only
/// those are re-sent after a drop.
pub const OUTCOME_BYTES_PER_ORIGIN: usize = 256 * 1024;
/// Origins a document remembers; ops of new origins beyond this are refused.
pub const MAX_ORIGINS: usize = 10_000;

/// What an `(origin, cseq)` means to the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen<T> {
    /// First time: apply it, then [`Origins::record`] the outcome.
    New,
    /// Already handled: this is the recorded outcome.
    Done(T),
    /// Older than what is remembered for this origin: not applied, outcome unknown.
    Forgotten,
    /// A new origin, and the document already remembers [`MAX_ORIGINS`].
    Full,
}

#[derive(Debug)]
pub struct Origins<T> {
    by_origin: HashMap<String, Outcomes<T>>,
    per_origin: usize,
    /// Bytes of outcomes kept per origin.
    max_bytes: usize,
    max_origins: usize,
}

/// One origin's recorded outcomes (an engine that keeps documents elsewhere stores it per
/// origin, hence serde).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outcomes<T> {
    by_cseq: BTreeMap<u64, T>,
    /// Highest cseq evicted (0: none), so older cseqs are not taken for new ones.
    floor: u64,
}

impl<T> Default for Outcomes<T> {
    fn default() -> Self {
        Outcomes {
            by_cseq: BTreeMap::new(),
            floor: 0,
        }
    }
}

impl Weight for String {
    fn bytes(&self) -> usize {
        self.len()
    }
}

impl<T: Clone + Weight> Outcomes<T> {
    /// What `cseq` means to this origin: [`Seen::Done`], [`Seen::Forgotten`] or [`Seen::New`].
    pub fn check(&self, cseq: u64) -> Seen<T> {
        match self.by_cseq.get(&cseq) {
            Some(outcome) => Seen::Done(outcome.clone()),
            None if cseq <= self.floor => Seen::Forgotten,
            None => Seen::New,
        }
    }

    /// Records `cseq`'s outcome, evicting the lowest cseqs beyond `per_origin` outcomes or
    /// `max_bytes` of them (the newest stays). The bytes are summed again each time (at most
    /// `per_origin` lengths), so a record stored elsewhere needs no count of its own.
    pub fn record(&mut self, cseq: u64, outcome: T, per_origin: usize, max_bytes: usize) {
        self.by_cseq.insert(cseq, outcome);
        let mut bytes: usize = self.by_cseq.values().map(Weight::bytes).sum();
        while self.by_cseq.len() > per_origin.max(1)
            || (self.by_cseq.len() > 1 && bytes > max_bytes)
        {
            if let Some((evicted, outcome)) = self.by_cseq.pop_first() {
                bytes -= outcome.bytes();
                self.floor = self.floor.max(evicted);
            }
        }
    }
}

impl<T: Clone + Weight> Default for Origins<T> {
    fn default() -> Self {
        Origins::new(OUTCOMES_PER_ORIGIN, MAX_ORIGINS)
    }
}

impl<T: Clone + Weight> Origins<T> {
    pub fn new(per_origin: usize, max_origins: usize) -> Origins<T> {
        Origins {
            by_origin: HashMap::new(),
            per_origin: per_origin.max(1),
            max_bytes: OUTCOME_BYTES_PER_ORIGIN,
            max_origins,
        }
    }

    /// [`new`](Self::new) with another byte budget per origin.
    #[cfg(test)]
    fn with_bytes(per_origin: usize, max_bytes: usize, max_origins: usize) -> Origins<T> {
        Origins {
            max_bytes,
            ..Origins::new(per_origin, max_origins)
        }
    }

    /// Looks `(origin, cseq)` up without changing anything.
    pub fn check(&self, origin: &str, cseq: u64) -> Seen<T> {
        match self.by_origin.get(origin) {
            None if self.by_origin.len() >= self.max_origins => Seen::Full,
            None => Seen::New,
            Some(outcomes) => outcomes.check(cseq),
        }
    }

    /// Records the outcome of a [`Seen::New`] op, evicting the origin's lowest cseqs beyond the
    /// bound. Does nothing for a new origin when [`Seen::Full`].
    pub fn record(&mut self, origin: &str, cseq: u64, outcome: T) {
        if !self.by_origin.contains_key(origin) && self.by_origin.len() >= self.max_origins {
            return;
        }
        self.by_origin.entry(origin.to_owned()).or_default().record(
            cseq,
            outcome,
            self.per_origin,
            self.max_bytes,
        );
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        self.by_origin.len()
    }

    #[cfg(test)]
    fn kept(&self, origin: &str) -> usize {
        self.by_origin.get(origin).map_or(0, |o| o.by_cseq.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weight for &str {
        fn bytes(&self) -> usize {
            self.len()
        }
    }

    impl Weight for () {
        fn bytes(&self) -> usize {
            0
        }
    }

    #[test]
    fn each_origin_keeps_at_most_its_bytes_of_outcomes_and_always_the_newest() {
        let mut origins = Origins::with_bytes(100, 10, 10);
        for cseq in 1..=5 {
            origins.record("a", cseq, "xxxx");
        }
        // 10 bytes hold two outcomes of 4.
        assert_eq!(origins.kept("a"), 2);
        assert_eq!(origins.check("a", 5), Seen::Done("xxxx"));
        assert_eq!(origins.check("a", 4), Seen::Done("xxxx"));
        assert_eq!(
            origins.check("a", 3),
            Seen::Forgotten,
            "evicted: never applied again"
        );
        origins.record("a", 6, "a frame larger than the budget");
        assert_eq!(origins.kept("a"), 1, "the newest stays");
        assert_eq!(
            origins.check("a", 6),
            Seen::Done("a frame larger than the budget")
        );
        assert_eq!(origins.check("a", 5), Seen::Forgotten);
    }

    #[test]
    fn an_op_is_new_once_then_answered_from_the_record() {
        let mut origins = Origins::new(4, 10);
        assert_eq!(origins.check("a", 1), Seen::New);
        origins.record("a", 1, "applied");
        assert_eq!(origins.check("a", 1), Seen::Done("applied"));
        assert_eq!(origins.check("b", 1), Seen::New, "origins are separate");
        assert_eq!(origins.check("a", 2), Seen::New);
        origins.record("a", 2, "rejected");
        assert_eq!(origins.check("a", 2), Seen::Done("rejected"));
        assert_eq!(origins.count(), 1);
    }

    #[test]
    fn each_origin_keeps_its_last_cseqs_and_forgets_older_ones() {
        let mut origins = Origins::new(3, 10);
        for cseq in 1..=5 {
            origins.record("a", cseq, cseq * 10);
        }
        assert_eq!(origins.kept("a"), 3);
        for cseq in 3..=5 {
            assert_eq!(origins.check("a", cseq), Seen::Done(cseq * 10));
        }
        // 1 and 2 were evicted: never applied again.
        assert_eq!(origins.check("a", 1), Seen::Forgotten);
        assert_eq!(origins.check("a", 2), Seen::Forgotten);
        assert_eq!(origins.check("a", 6), Seen::New);
        // A gap above the floor that arrives late is still new.
        origins.record("a", 9, 90);
        assert_eq!(origins.check("a", 7), Seen::New);
        assert_eq!(origins.check("a", 3), Seen::Forgotten, "evicted by 9");
    }

    #[test]
    fn the_number_of_origins_is_bounded() {
        let mut origins = Origins::new(2, 2);
        origins.record("a", 1, ());
        origins.record("b", 1, ());
        assert_eq!(origins.check("c", 1), Seen::Full);
        origins.record("c", 1, ());
        assert_eq!(origins.count(), 2, "a full table records nothing new");
        assert_eq!(origins.check("c", 1), Seen::Full);
        // Known origins go on.
        assert_eq!(origins.check("a", 2), Seen::New);
        origins.record("a", 2, ());
        assert_eq!(origins.check("a", 2), Seen::Done(()));
    }

    #[test]
    fn the_default_bounds_are_the_documented_ones() {
        // Small frames: the count bounds them.
        let mut origins: Origins<String> = Origins::default();
        for cseq in 1..=2000 {
            origins.record("a", cseq, cseq.to_string());
        }
        assert_eq!(origins.kept("a"), OUTCOMES_PER_ORIGIN);
        let oldest = 2000 - OUTCOMES_PER_ORIGIN as u64 + 1;
        assert_eq!(origins.check("a", oldest), Seen::Done(oldest.to_string()));
        assert_eq!(origins.check("a", oldest - 1), Seen::Forgotten);
        // Frames of 1 KiB: the bytes do.
        for cseq in 1..=2000 {
            origins.record("b", cseq, "x".repeat(1024));
        }
        assert_eq!(origins.kept("b"), OUTCOME_BYTES_PER_ORIGIN / 1024);
        for n in 2..MAX_ORIGINS {
            origins.record(&n.to_string(), 1, String::new());
        }
        assert_eq!(origins.count(), MAX_ORIGINS);
        assert_eq!(origins.check("one more", 1), Seen::Full);
    }
}
