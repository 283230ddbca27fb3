//! Exponential backoff with jitter applied after capping, so delays stay spread at the cap and a
//! crowd of clients does not reconnect in lockstep after a server restart.

use super::config::ReconnectConfig;
use super::float;
use super::rng::Rng;

/// Delay in ms before retrying after `failures` consecutive failed attempts (1 for the first).
pub fn delay_ms(config: &ReconnectConfig, failures: u32, rng: &mut Rng) -> u64 {
    let exponent = failures.saturating_sub(1).min(1_000) as i32;
    let grown = config.initial_delay_ms as f64 * float::powi(config.factor, exponent);
    let max = config.max_delay_ms as f64;
    let capped = if grown.is_finite() {
        grown.min(max)
    } else {
        max
    };
    let delay = capped - capped * config.jitter * rng.next_unit();
    // The clamp keeps rounding and odd configurations inside [0, max].
    float::round_u64(delay).min(config.max_delay_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(jitter: f64) -> ReconnectConfig {
        ReconnectConfig {
            initial_delay_ms: 100,
            max_delay_ms: 1_000,
            factor: 2.0,
            jitter,
            ..ReconnectConfig::default()
        }
    }

    #[test]
    fn without_jitter_grows_exponentially_then_caps() {
        let mut rng = Rng::new(1);
        let delays: Vec<u64> = (1..=6)
            .map(|n| delay_ms(&config(0.0), n, &mut rng))
            .collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn jitter_stays_random_at_the_cap() {
        let mut rng = Rng::new(42);
        let at_cap: Vec<u64> = (0..50)
            .map(|_| delay_ms(&config(0.5), 30, &mut rng))
            .collect();
        assert!(at_cap.iter().all(|d| (500..=1_000).contains(d)));
        let distinct: alloc::collections::BTreeSet<_> = at_cap.iter().collect();
        assert!(
            distinct.len() > 25,
            "delays at the cap should be spread: {at_cap:?}"
        );
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut rng = Rng::new(3);
        let d = delay_ms(&config(1.0), u32::MAX, &mut rng);
        assert!(d <= 1_000);
    }
}
