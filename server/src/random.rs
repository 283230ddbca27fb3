//! Non-cryptographic randomness for the price feed (resume tokens come from the CSPRNG in
//! `auth::secret`): std's `RandomState`
//! (keyed per process by the OS) hashing the clock and a counter, and a xorshift generator.
//! Unpredictable enough for a test server; not for secrets that matter.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh 64-bit value, different on every call.
pub fn seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// xorshift64*: small, fast, good enough for a random walk.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // The state must never be zero.
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    pub fn symmetric(&mut self) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit * 2.0 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_stays_in_range_and_varies() {
        let mut rng = Rng::new(0);
        let samples: Vec<f64> = (0..10_000).map(|_| rng.symmetric()).collect();
        assert!(samples.iter().all(|x| (-1.0..1.0).contains(x)));
        assert!(samples.iter().any(|x| *x > 0.5));
        assert!(samples.iter().any(|x| *x < -0.5));
    }
}
