//! A simulated outage: while active, WebSocket upgrades are refused with 503 so clients exercise
//! their reconnection backoff.

use crate::lock::Locked;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Default)]
pub struct Outage {
    until: Mutex<Option<Instant>>,
    refused: AtomicU64,
}

impl Outage {
    /// Starts an outage of `length` from now; a zero length ends any outage.
    pub fn start(&self, length: Duration) {
        let until = if length.is_zero() {
            None
        } else {
            Instant::now().checked_add(length)
        };
        *self.until.locked() = until;
    }

    /// Time left in the current outage, if one is running.
    pub fn remaining(&self) -> Option<Duration> {
        let until = (*self.until.locked())?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Records a refused upgrade.
    pub fn refuse(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Upgrades refused since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_outage_ends_by_itself_or_on_demand() {
        let outage = Outage::default();
        assert_eq!(outage.remaining(), None);
        outage.start(Duration::from_millis(100));
        assert!(outage.remaining().is_some());
        tokio::time::advance(Duration::from_millis(101)).await;
        assert_eq!(outage.remaining(), None);
        outage.start(Duration::from_secs(60));
        outage.start(Duration::ZERO);
        assert_eq!(outage.remaining(), None);
    }
}
