//! Every deadline of the core in one table, keyed by what it is for: `poll_timeout` is the
//! table's minimum and `handle_timeout` fires the entries that are due, in key order.

use alloc::vec::Vec;

/// What a deadline is for. The declaration order is the firing order of timers due together:
/// requests settle before a connect or heartbeat timeout tears the connection down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// Request `id` gets no reply after this.
    Request(u64),
    /// The socket must be open and welcomed by then.
    Connect,
    /// Open this long, the connection counts as stable and the backoff resets.
    Stable,
    /// The next ping, or the deadline of the pong awaited.
    Heartbeat,
    /// Time to fetch a fresh token for the open connection, before its token expires.
    Refresh,
    /// Writes are paused on a full send buffer: time for the driver to read it again.
    Drain,
    /// The next connection attempt.
    Retry,
}

/// A handful of entries (four connection timers and the pending requests), so a sorted `Vec`
/// with linear scans: less WASM code than another `VecMap` instantiation.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    /// Sorted by timer, so due timers fire in declaration order.
    deadlines: Vec<(Timer, u64)>,
}

impl Timers {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, timer: Timer, at: u64) {
        let index = self
            .deadlines
            .iter()
            .position(|(t, _)| *t >= timer)
            .unwrap_or(self.deadlines.len());
        match self.deadlines.get_mut(index) {
            Some(entry) if entry.0 == timer => entry.1 = at,
            _ => self.deadlines.insert(index, (timer, at)),
        }
    }

    /// Sets `timer` to `at`, or clears it when `at` is `None`.
    pub fn set_or_clear(&mut self, timer: Timer, at: Option<u64>) {
        match at {
            Some(at) => self.set(timer, at),
            None => self.clear(timer),
        }
    }

    pub fn clear(&mut self, timer: Timer) {
        if let Some(index) = self.deadlines.iter().position(|(t, _)| *t == timer) {
            self.deadlines.remove(index);
        }
    }

    /// True when `timer` is set and its deadline has come.
    pub fn is_due(&self, timer: Timer, now: u64) -> bool {
        self.deadlines
            .iter()
            .any(|(t, at)| *t == timer && now >= *at)
    }

    /// The timers due at `now`, in firing order.
    pub fn due(&self, now: u64) -> Vec<Timer> {
        let mut due = Vec::new();
        for (timer, at) in &self.deadlines {
            if now >= *at {
                due.push(*timer);
            }
        }
        due
    }

    /// The earliest deadline of all.
    pub fn next(&self) -> Option<u64> {
        self.deadlines.iter().map(|(_, at)| *at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_deadline_is_the_minimum_and_due_timers_fire_in_key_order() {
        let mut timers = Timers::new();
        timers.set(Timer::Retry, 50);
        timers.set(Timer::Request(2), 30);
        timers.set(Timer::Request(1), 40);
        timers.set_or_clear(Timer::Heartbeat, Some(10));
        assert_eq!(timers.next(), Some(10));
        timers.set_or_clear(Timer::Heartbeat, None);
        assert_eq!(timers.next(), Some(30));
        assert_eq!(
            timers.due(50),
            vec![Timer::Request(1), Timer::Request(2), Timer::Retry]
        );
        assert!(!timers.is_due(Timer::Retry, 49));
        timers.clear(Timer::Retry);
        assert!(!timers.is_due(Timer::Retry, 50));
    }
}
