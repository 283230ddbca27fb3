//! A room's bounded message history and the window math that decides what a rejoining member
//! gets replayed. Pure, no I/O.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// What a `join` with `since` (in the same epoch) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Nothing was missed.
    UpToDate,
    /// Every missed message is still held: replay sequence numbers `from..=latest`.
    Replay { from: u64 },
    /// Some missed messages were evicted, or `since` is ahead of the stream (a position it never
    /// reached): replay nothing, the client must resync.
    Gap,
}

/// Decides the replay for a member that last saw `since`, in a room whose latest sequence number
/// is `latest` and whose history holds `oldest..=latest` (`oldest == latest + 1` when empty).
pub fn window(since: u64, latest: u64, oldest: u64) -> Window {
    if since == latest {
        Window::UpToDate
    } else if since > latest {
        // Never "up to date": the client would wait for numbers this stream already used.
        Window::Gap
    } else if since + 1 >= oldest {
        // `since < latest`, so `since + 1` cannot overflow.
        Window::Replay { from: since + 1 }
    } else {
        Window::Gap
    }
}

/// What an item costs against a history's byte budget.
pub trait Weight {
    fn bytes(&self) -> usize;
}

impl Weight for axum::extract::ws::Utf8Bytes {
    fn bytes(&self) -> usize {
        self.len()
    }
}

/// The last `capacity` items of a room, at most `max_bytes` of them in all, with their
/// consecutive sequence numbers; with a time limit, items older than it are dropped by
/// [`expire`](Self::expire). A window: the oldest items are evicted to make room.
#[derive(Debug)]
pub struct History<T> {
    items: VecDeque<T>,
    /// When each item was pushed (same order as `items`), kept only with a time limit.
    pushed_at: VecDeque<Instant>,
    capacity: usize,
    /// Most bytes held (the sum of the items' [`Weight`]).
    max_bytes: usize,
    /// Bytes held now.
    bytes: usize,
    ttl: Option<Duration>,
    /// Sequence number of the newest item pushed (0 before any).
    latest: u64,
}

impl<T: Weight> History<T> {
    /// At most `capacity` items, no byte bound beyond that, no time limit.
    #[cfg(test)]
    pub fn new(capacity: usize) -> History<T> {
        History::bounded(capacity, usize::MAX, None)
    }

    /// A history that also drops items older than `ttl` (`None`: no time limit).
    #[cfg(test)]
    pub fn with_ttl(capacity: usize, ttl: Option<Duration>) -> History<T> {
        History::bounded(capacity, usize::MAX, ttl)
    }

    /// At most `capacity` items and `max_bytes` bytes, none older than `ttl`.
    pub fn bounded(capacity: usize, max_bytes: usize, ttl: Option<Duration>) -> History<T> {
        History {
            items: VecDeque::with_capacity(capacity.min(1024)),
            pushed_at: VecDeque::new(),
            capacity,
            max_bytes,
            bytes: 0,
            ttl,
            latest: 0,
        }
    }

    /// Whether an item of `bytes` can be held: always when nothing is kept (capacity 0), else
    /// when it fits the byte budget on its own.
    pub fn admits(&self, bytes: usize) -> bool {
        self.capacity == 0 || bytes <= self.max_bytes
    }

    /// Bytes held now.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn pop_oldest(&mut self) {
        if let Some(item) = self.items.pop_front() {
            self.bytes -= item.bytes();
        }
        self.pushed_at.pop_front();
    }

    /// Drops the items pushed `ttl` or longer before `now` (oldest first, so the rest stay
    /// consecutive); nothing without a time limit.
    pub fn expire(&mut self, now: Instant) {
        let Some(ttl) = self.ttl else {
            return;
        };
        while let Some(&at) = self.pushed_at.front() {
            if now.saturating_duration_since(at) < ttl {
                break;
            }
            self.pop_oldest();
        }
    }

    /// Sequence number of the newest message (0 when nothing was published yet).
    pub fn latest(&self) -> u64 {
        self.latest
    }

    /// Sequence number of the oldest message held; `latest + 1` when none is.
    pub fn oldest(&self) -> u64 {
        self.latest + 1 - self.items.len() as u64
    }

    /// The sequence number the next [`push`](Self::push) assigns.
    pub fn next_seq(&self) -> u64 {
        self.latest + 1
    }

    /// Appends `item` as message [`next_seq`](Self::next_seq), which it returns, evicting the
    /// oldest beyond the capacity or the byte budget. An item the budget does not
    /// [`admit`](Self::admits) still takes its number but empties the window (callers that must
    /// refuse it check first).
    /// For histories without a time limit (use [`push_at`](Self::push_at) with one).
    pub fn push(&mut self, item: T) -> u64 {
        self.push_stamped(item, None)
    }

    /// [`push`](Self::push) at `now`, which also expires what is too old by then.
    pub fn push_at(&mut self, item: T, now: Instant) -> u64 {
        self.expire(now);
        self.push_stamped(item, Some(now))
    }

    fn push_stamped(&mut self, item: T, now: Option<Instant>) -> u64 {
        self.latest += 1;
        let bytes = item.bytes();
        if !self.admits(bytes) {
            // Every older item must go too, or the window would not be consecutive.
            while !self.items.is_empty() {
                self.pop_oldest();
            }
            return self.latest;
        }
        if self.capacity > 0 {
            while self.items.len() >= self.capacity
                || (!self.items.is_empty() && self.bytes + bytes > self.max_bytes)
            {
                self.pop_oldest();
            }
            self.bytes += bytes;
            self.items.push_back(item);
            if let (Some(now), Some(_)) = (now, self.ttl) {
                self.pushed_at.push_back(now);
            }
        }
        self.latest
    }

    /// The newest `n` items held, oldest first.
    pub fn last(&self, n: usize) -> impl Iterator<Item = &T> {
        self.items.iter().skip(self.items.len().saturating_sub(n))
    }

    /// What a member that last saw `since` misses, if the history still holds all of it:
    /// `Some(items after since)` (empty when up to date), `None` on a gap.
    pub fn since(&self, since: u64) -> Option<impl Iterator<Item = &T>> {
        let skip = match window(since, self.latest, self.oldest()) {
            Window::UpToDate => self.items.len(),
            Window::Replay { from } => (from - self.oldest()) as usize,
            Window::Gap => return None,
        };
        Some(self.items.iter().skip(skip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weight for u64 {
        /// Tests weigh a number as its value, so byte budgets are easy to follow.
        fn bytes(&self) -> usize {
            *self as usize
        }
    }

    #[test]
    fn window_math() {
        // Empty room.
        assert_eq!(window(0, 0, 1), Window::UpToDate);
        // Holds 3..=5.
        assert_eq!(window(5, 5, 3), Window::UpToDate);
        assert_eq!(window(9, 5, 3), Window::Gap, "ahead of the server");
        assert_eq!(window(4, 5, 3), Window::Replay { from: 5 });
        assert_eq!(
            window(2, 5, 3),
            Window::Replay { from: 3 },
            "exactly the oldest"
        );
        assert_eq!(window(1, 5, 3), Window::Gap, "message 2 was evicted");
        assert_eq!(window(0, 5, 3), Window::Gap);
        // No history at all.
        assert_eq!(window(4, 5, 6), Window::Gap);
        assert_eq!(
            window(u64::MAX - 1, u64::MAX, 1),
            Window::Replay { from: u64::MAX }
        );
    }

    fn replay(history: &History<u64>, since: u64) -> Option<Vec<u64>> {
        history.since(since).map(|items| items.copied().collect())
    }

    #[test]
    fn history_keeps_the_last_items_with_their_sequence_numbers() {
        let mut history = History::new(3);
        assert_eq!((history.latest(), history.oldest()), (0, 1));
        assert_eq!(replay(&history, 0), Some(vec![]));
        for expected in 1..=5 {
            assert_eq!(history.next_seq(), expected);
            assert_eq!(history.push(expected * 10), expected);
        }
        assert_eq!((history.latest(), history.oldest()), (5, 3));
        assert_eq!(replay(&history, 2), Some(vec![30, 40, 50]));
        assert_eq!(replay(&history, 4), Some(vec![50]));
        assert_eq!(replay(&history, 5), Some(vec![]));
        assert_eq!(replay(&history, 50), None, "ahead of the history");
        assert_eq!(replay(&history, 1), None);
        assert_eq!(replay(&history, 0), None);
    }

    #[test]
    fn a_time_limit_drops_old_items_and_keeps_the_numbering() {
        let start = Instant::now();
        let later = |secs| start + Duration::from_secs(secs);
        let mut history = History::with_ttl(10, Some(Duration::from_secs(60)));
        assert_eq!(history.push_at(10, later(0)), 1);
        assert_eq!(history.push_at(20, later(30)), 2);
        history.expire(later(59));
        assert_eq!(replay(&history, 0), Some(vec![10, 20]));
        history.expire(later(60));
        assert_eq!((history.latest(), history.oldest()), (2, 2));
        assert_eq!(replay(&history, 1), Some(vec![20]));
        assert_eq!(replay(&history, 0), None, "message 1 expired: a gap");
        assert_eq!(history.push_at(30, later(200)), 3, "pushing expires 2");
        assert_eq!(replay(&history, 2), Some(vec![30]));
        assert_eq!(replay(&history, 1), None);
        // A full history evicts by count as well, keeping the times in step.
        let mut small = History::with_ttl(2, Some(Duration::from_secs(60)));
        for (i, at) in [(0, 0), (1, 10), (2, 20)] {
            small.push_at(i, later(at));
        }
        small.expire(later(69));
        assert_eq!(small.oldest(), 2, "0 was evicted, 1 is young enough");
        small.expire(later(70));
        assert_eq!(small.oldest(), 3);
        assert_eq!(replay(&small, 2), Some(vec![2]));
    }

    #[test]
    fn a_byte_budget_evicts_the_oldest_to_fit() {
        // Items weigh their value: at most 100 bytes.
        let mut history = History::bounded(10, 100, None);
        for item in [30, 30, 30] {
            history.push(item);
        }
        assert_eq!((history.bytes(), history.oldest()), (90, 1));
        assert_eq!(history.push(40), 4, "evicts 1 (30 bytes) to fit");
        assert_eq!((history.bytes(), history.oldest()), (100, 2));
        assert_eq!(replay(&history, 1), Some(vec![30, 30, 40]));
        assert_eq!(
            history.push(100),
            5,
            "exactly the budget: everything else goes"
        );
        assert_eq!((history.bytes(), history.oldest()), (100, 5));
        assert!(history.admits(100));
        assert!(!history.admits(101));
        // Not admitted: numbered, but the window empties (a gap for everyone behind).
        assert_eq!(history.push(101), 6);
        assert_eq!(
            (history.bytes(), history.oldest(), history.latest()),
            (0, 7, 6)
        );
        assert_eq!(replay(&history, 5), None);
        assert_eq!(replay(&history, 6), Some(vec![]));
        // A history that keeps nothing admits anything.
        assert!(History::<u64>::bounded(0, 1, None).admits(1000));
    }

    #[test]
    fn a_zero_capacity_history_only_counts() {
        let mut history = History::new(0);
        assert_eq!(history.push(1), 1);
        assert_eq!(history.push(2), 2);
        assert_eq!((history.latest(), history.oldest()), (2, 3));
        assert_eq!(replay(&history, 2), Some(vec![]));
        assert_eq!(replay(&history, 1), None);
    }
}
