//! Per-session request de-duplication: which request ids are running, and the replies of the
//! last finished ones. Pure bookkeeping, no I/O; the session holds one behind its lock.
//!
//! The reply cache is bounded by count and by bytes, evicting the oldest finished first. Ids
//! increase within a session, so the highest evicted id is a low-water mark: an id at or below
//! it that is not remembered any more is [`Seen::Expired`], never run again.

use std::collections::{HashMap, VecDeque};

/// Finished replies kept per session, at most.
pub const REPLY_CACHE: usize = 1024;

/// Bytes of finished replies kept per session, at most (the newest reply is kept whatever its
/// size, so that it can be answered once).
pub const REPLY_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Requests that may run at once per session; more are refused with `rate_limited` (and not
/// remembered, so the client may send them again later).
pub const MAX_RUNNING: usize = 256;

/// The bounds of one session's de-duplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupLimits {
    /// Finished replies kept.
    pub replies: usize,
    /// Bytes of finished replies kept.
    pub reply_bytes: usize,
    /// Requests running at once.
    pub running: usize,
}

impl Default for DedupLimits {
    fn default() -> Self {
        DedupLimits {
            replies: REPLY_CACHE,
            reply_bytes: REPLY_CACHE_BYTES,
            running: MAX_RUNNING,
        }
    }
}

impl DedupLimits {
    /// How many requests a client may have in flight (the `requestWindow` of `welcome`): no
    /// more than may run at once, and no more than the replies kept, so that a burst re-sent
    /// after a drop finds every reply still cached (replies larger than the byte bound allows
    /// can still expire; they are then answered `expired`, never run twice).
    pub fn window(&self) -> usize {
        self.replies.min(self.running).max(1)
    }
}

/// Something the byte bound can measure.
pub trait ReplySize {
    fn reply_size(&self) -> usize;
}

impl ReplySize for axum::extract::ws::Utf8Bytes {
    fn reply_size(&self) -> usize {
        self.len()
    }
}

/// What a request id means to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen<R> {
    /// First time: the caller must run it and then record its reply.
    New,
    /// Already running: its reply will go to the session's current connection.
    Running,
    /// Already finished: this is its reply.
    Done(R),
    /// Too many requests running; not recorded.
    Busy,
    /// At or below the highest id evicted from the reply cache and not remembered: it may have
    /// run, so it does not run again (answered `expired`).
    Expired,
}

#[derive(Debug)]
pub struct Dedup<R> {
    /// `None` while running, the reply once finished.
    slots: HashMap<u64, Option<R>>,
    /// Finished ids with their reply sizes, oldest first.
    finished: VecDeque<(u64, usize)>,
    /// Sum of the sizes in `finished`.
    bytes: usize,
    /// The highest id evicted so far (0: none; ids start at 1).
    floor: u64,
    limits: DedupLimits,
}

impl<R: Clone + ReplySize> Default for Dedup<R> {
    fn default() -> Self {
        Dedup::new(DedupLimits::default())
    }
}

impl<R: Clone + ReplySize> Dedup<R> {
    pub fn new(limits: DedupLimits) -> Dedup<R> {
        Dedup {
            slots: HashMap::new(),
            finished: VecDeque::new(),
            bytes: 0,
            floor: 0,
            limits,
        }
    }

    /// Looks `id` up and, when it is new, marks it running.
    pub fn begin(&mut self, id: u64) -> Seen<R> {
        match self.slots.get(&id) {
            Some(None) => Seen::Running,
            Some(Some(reply)) => Seen::Done(reply.clone()),
            None if id <= self.floor => Seen::Expired,
            None if self.running() >= self.limits.running => Seen::Busy,
            None => {
                self.slots.insert(id, None);
                Seen::New
            }
        }
    }

    /// Records the reply of a running request, evicting the oldest finished ones beyond the
    /// count or byte bound (never the newest). Ids that are not running are ignored.
    pub fn finish(&mut self, id: u64, reply: R) {
        let Some(slot @ None) = self.slots.get_mut(&id) else {
            return;
        };
        let size = reply.reply_size();
        *slot = Some(reply);
        self.finished.push_back((id, size));
        self.bytes += size;
        while self.finished.len() > self.limits.replies
            || (self.bytes > self.limits.reply_bytes && self.finished.len() > 1)
        {
            if !self.evict_oldest() {
                break;
            }
        }
    }

    /// Forgets the oldest finished reply, never the newest (so that it can be answered once);
    /// returns whether one was forgotten. Its id then reads [`Seen::Expired`].
    pub fn evict_oldest(&mut self) -> bool {
        if self.finished.len() < 2 {
            return false;
        }
        let Some((old, old_size)) = self.finished.pop_front() else {
            return false;
        };
        self.slots.remove(&old);
        self.bytes -= old_size;
        self.floor = self.floor.max(old);
        true
    }

    pub fn running(&self) -> usize {
        self.slots.len() - self.finished.len()
    }

    /// The highest id evicted so far: older ids not remembered are [`Seen::Expired`].
    #[cfg(test)]
    pub fn floor(&self) -> u64 {
        self.floor
    }

    #[cfg(test)]
    pub fn cached(&self) -> (usize, usize) {
        (self.finished.len(), self.bytes)
    }

    /// Bytes of the replies kept.
    pub fn cached_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl ReplySize for &str {
        fn reply_size(&self) -> usize {
            self.len()
        }
    }

    impl ReplySize for u64 {
        fn reply_size(&self) -> usize {
            8
        }
    }

    impl ReplySize for char {
        fn reply_size(&self) -> usize {
            self.len_utf8()
        }
    }

    fn limits(replies: usize, reply_bytes: usize, running: usize) -> DedupLimits {
        DedupLimits {
            replies,
            reply_bytes,
            running,
        }
    }

    #[test]
    fn a_request_runs_once_and_its_reply_is_cached() {
        let mut dedup = Dedup::new(limits(4, 1000, 4));
        assert_eq!(dedup.begin(1), Seen::New);
        assert_eq!(dedup.begin(1), Seen::Running);
        dedup.finish(1, "one");
        assert_eq!(dedup.begin(1), Seen::Done("one"));
        // Finishing again (or something never begun) changes nothing.
        dedup.finish(1, "other");
        dedup.finish(9, "nine");
        assert_eq!(dedup.begin(1), Seen::Done("one"));
        assert_eq!((dedup.running(), dedup.cached()), (0, (1, 3)));
    }

    #[test]
    fn evicted_ids_expire_instead_of_running_again() {
        let mut dedup = Dedup::new(limits(3, 1000, 10));
        for id in 1..=5 {
            assert_eq!(dedup.begin(id), Seen::New);
        }
        for id in 1..=5 {
            dedup.finish(id, id * 10);
        }
        assert_eq!(dedup.cached(), (3, 24));
        assert_eq!(dedup.floor(), 2);
        assert_eq!(dedup.begin(1), Seen::Expired);
        assert_eq!(dedup.begin(2), Seen::Expired);
        for id in 3..=5 {
            assert_eq!(dedup.begin(id), Seen::Done(id * 10));
        }
        assert_eq!(dedup.begin(6), Seen::New, "newer ids still run");
    }

    #[test]
    fn the_cache_is_bounded_in_bytes_oldest_first_keeping_the_newest() {
        let mut dedup = Dedup::new(limits(100, 10, 10));
        for (id, reply) in [(1, "aaaa"), (2, "bbbb"), (3, "cccc")] {
            assert_eq!(dedup.begin(id), Seen::New);
            dedup.finish(id, reply);
        }
        // 12 bytes > 10: the oldest went.
        assert_eq!(dedup.cached(), (2, 8));
        assert_eq!(dedup.begin(1), Seen::Expired);
        assert_eq!(dedup.begin(2), Seen::Done("bbbb"));
        // A reply larger than the whole bound evicts everything older and stays.
        assert_eq!(dedup.begin(4), Seen::New);
        dedup.finish(4, "a reply of 25 bytes here.");
        assert_eq!(dedup.cached(), (1, 25));
        assert_eq!(dedup.floor(), 3);
        assert_eq!(dedup.begin(4), Seen::Done("a reply of 25 bytes here."));
        assert_eq!(dedup.begin(3), Seen::Expired);
    }

    #[test]
    fn running_requests_are_never_evicted_and_are_bounded() {
        let mut dedup = Dedup::new(limits(1, 1000, 2));
        assert_eq!(dedup.begin(1), Seen::New);
        assert_eq!(dedup.begin(2), Seen::New);
        assert_eq!(dedup.begin(3), Seen::Busy);
        assert_eq!(dedup.begin(3), Seen::Busy, "a refused id is not remembered");
        dedup.finish(2, 'b');
        assert_eq!(dedup.begin(3), Seen::New);
        dedup.finish(3, 'c'); // evicts 2, keeps the running 1
        assert_eq!(dedup.begin(1), Seen::Running);
        assert_eq!(dedup.begin(2), Seen::Expired, "evicted: never runs again");
        assert_eq!(dedup.begin(4), Seen::New);
        assert_eq!(dedup.begin(5), Seen::Busy);
        // The running 1 finishes below the floor: it is still cached and answered.
        dedup.finish(1, 'a');
        assert_eq!(dedup.begin(3), Seen::Expired);
        assert_eq!(dedup.begin(1), Seen::Done('a'));
    }

    #[test]
    fn a_burst_within_the_window_is_answered_from_the_cache_after_a_drop() {
        // 2,000 requests, never more than the window in flight; the drop comes when the last
        // window's worth ran but none of their replies arrived: all are still cached.
        let limits = DedupLimits::default();
        let window = limits.window() as u64;
        assert_eq!(window, MAX_RUNNING as u64);
        let mut dedup: Dedup<u64> = Dedup::new(limits);
        for id in 1..=2000 {
            assert_eq!(dedup.begin(id), Seen::New);
            dedup.finish(id, id);
        }
        for id in 2001 - window..=2000 {
            assert_eq!(dedup.begin(id), Seen::Done(id));
        }
        assert_eq!(dedup.cached().0, REPLY_CACHE);
        assert_eq!(
            dedup.begin(976),
            Seen::Expired,
            "the old bug: id 976 ran twice"
        );
    }
}
