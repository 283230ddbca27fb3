//! Per-session request de-duplication: which request ids are running, and the replies of the
//! last finished ones. Pure bookkeeping, no I/O; the session holds one behind its lock.

use std::collections::{HashMap, VecDeque};

/// Finished replies kept per session.
pub const REPLY_CACHE: usize = 1024;

/// Requests that may run at once per session; more are refused with `rate_limited` (and not
/// remembered, so the client may send them again later).
pub const MAX_RUNNING: usize = 256;

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
}

#[derive(Debug)]
pub struct Dedup<R> {
    /// `None` while running, the reply once finished.
    slots: HashMap<u64, Option<R>>,
    /// Finished ids, oldest first.
    finished: VecDeque<u64>,
    capacity: usize,
    max_running: usize,
}

impl<R: Clone> Default for Dedup<R> {
    fn default() -> Self {
        Dedup::new(REPLY_CACHE, MAX_RUNNING)
    }
}

impl<R: Clone> Dedup<R> {
    pub fn new(capacity: usize, max_running: usize) -> Dedup<R> {
        Dedup {
            slots: HashMap::new(),
            finished: VecDeque::new(),
            capacity,
            max_running,
        }
    }

    /// Looks `id` up and, when it is new, marks it running.
    pub fn begin(&mut self, id: u64) -> Seen<R> {
        match self.slots.get(&id) {
            Some(None) => Seen::Running,
            Some(Some(reply)) => Seen::Done(reply.clone()),
            None if self.running() >= self.max_running => Seen::Busy,
            None => {
                self.slots.insert(id, None);
                Seen::New
            }
        }
    }

    /// Records the reply of a running request, evicting the oldest finished ones beyond the
    /// capacity. Ids that are not running are ignored.
    pub fn finish(&mut self, id: u64, reply: R) {
        let Some(slot @ None) = self.slots.get_mut(&id) else {
            return;
        };
        *slot = Some(reply);
        self.finished.push_back(id);
        while self.finished.len() > self.capacity {
            if let Some(old) = self.finished.pop_front() {
                self.slots.remove(&old);
            }
        }
    }

    pub fn running(&self) -> usize {
        self.slots.len() - self.finished.len()
    }

    #[cfg(test)]
    pub fn cached(&self) -> usize {
        self.finished.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_runs_once_and_its_reply_is_cached() {
        let mut dedup = Dedup::new(4, 4);
        assert_eq!(dedup.begin(1), Seen::New);
        assert_eq!(dedup.begin(1), Seen::Running);
        dedup.finish(1, "one");
        assert_eq!(dedup.begin(1), Seen::Done("one"));
        // Finishing again (or something never begun) changes nothing.
        dedup.finish(1, "other");
        dedup.finish(9, "nine");
        assert_eq!(dedup.begin(1), Seen::Done("one"));
        assert_eq!((dedup.running(), dedup.cached()), (0, 1));
    }

    #[test]
    fn the_cache_keeps_only_the_last_finished_replies() {
        let mut dedup = Dedup::new(3, 10);
        for id in 0..5 {
            assert_eq!(dedup.begin(id), Seen::New);
        }
        for id in 0..5 {
            dedup.finish(id, id * 10);
        }
        assert_eq!(dedup.cached(), 3);
        // 0 and 1 were evicted: they count as new again.
        assert_eq!(dedup.begin(0), Seen::New);
        assert_eq!(dedup.begin(1), Seen::New);
        for id in 2..5 {
            assert_eq!(dedup.begin(id), Seen::Done(id * 10));
        }
    }

    #[test]
    fn running_requests_are_never_evicted_and_are_bounded() {
        let mut dedup = Dedup::new(1, 2);
        assert_eq!(dedup.begin(1), Seen::New);
        assert_eq!(dedup.begin(2), Seen::New);
        assert_eq!(dedup.begin(3), Seen::Busy);
        assert_eq!(dedup.begin(3), Seen::Busy, "a refused id is not remembered");
        dedup.finish(2, 'b');
        assert_eq!(dedup.begin(3), Seen::New);
        dedup.finish(3, 'c'); // evicts 2, keeps the running 1
        assert_eq!(dedup.begin(1), Seen::Running);
        assert_eq!(dedup.begin(2), Seen::New, "evicted, so new again");
        assert_eq!(dedup.begin(4), Seen::Busy);
    }

    #[test]
    fn the_default_bounds_are_the_documented_ones() {
        let mut dedup: Dedup<u64> = Dedup::default();
        for id in 0..2000 {
            assert_eq!(dedup.begin(id), Seen::New);
            dedup.finish(id, id);
        }
        assert_eq!(dedup.cached(), REPLY_CACHE);
        assert_eq!(dedup.begin(2000 - REPLY_CACHE as u64), Seen::Done(976));
        assert_eq!(dedup.begin(975), Seen::New);
    }
}
