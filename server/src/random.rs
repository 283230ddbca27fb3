//! Non-cryptographic randomness for the price feed (resume tokens come from the CSPRNG in
//! `auth::secret`): std's `RandomState`
//! (keyed per process by the OS) hashing the clock and a counter, and a xorshift generator.
//! Unpredictable enough for a test server; not for secrets that matter. Stream epochs
//! ([`epoch`]) come from the OS CSPRNG.

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

/// A fresh stream epoch: 64 bits from the OS CSPRNG as 16 hex digits. Epochs only need to
/// differ between a stream's lives (a restart), not to be secret: should the OS source fail,
/// [`seed`] (keyed per process, clock and counter) stands in rather than failing the caller.
pub fn epoch() -> String {
    let mut bytes = [0u8; 8];
    let value = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => seed(),
    };
    format!("{value:016x}")
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
    fn epochs_are_16_hex_digits_and_distinct() {
        let (a, b) = (epoch(), epoch());
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn symmetric_stays_in_range_and_varies() {
        let mut rng = Rng::new(0);
        let samples: Vec<f64> = (0..10_000).map(|_| rng.symmetric()).collect();
        assert!(samples.iter().all(|x| (-1.0..1.0).contains(x)));
        assert!(samples.iter().any(|x| *x > 0.5));
        assert!(samples.iter().any(|x| *x < -0.5));
    }
}
