//! Rate limits: a token bucket (`governor`) per class of client frame, per connection and per
//! user. A frame that finds a bucket empty is refused `rate_limited`; a connection that keeps
//! sending into empty buckets is closed with 4429.
//!
//! A connection's buckets are made on its first frame of each class, so idle connections cost
//! nothing. A user's buckets (twice a connection's rates: a few tabs) live in one keyed limiter
//! per class, shared by the connections of the node, and are forgotten when full again.

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The close code for a connection that kept sending into empty buckets.
pub const ABUSE_CLOSE: u16 = resocket::protocol::close_code::RATE_LIMITED;
/// Its close reason.
pub const ABUSE_REASON: &str = "rate limited: too many frames refused";
/// Refusals within [`ABUSE_WINDOW`] that close the connection.
pub const ABUSE_REFUSALS: u32 = 100;
pub const ABUSE_WINDOW: Duration = Duration::from_secs(10);
/// Checks of a user limiter between two sweeps of its forgotten keys.
const SWEEP_EVERY: u32 = 4096;

const CLASSES: usize = 7;

/// The frame classes that have a bucket each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Publish,
    Broadcast,
    Presence,
    Request,
    Op,
    /// `join` and `sync`.
    Join,
    /// KiB of `publish` and `broadcast` payloads: each is delivered to many, so a few large
    /// ones can fill slower members' queues (bounded in bytes) however few frames they are.
    Bytes,
}

impl Class {
    pub const ALL: [Class; CLASSES] = [
        Class::Publish,
        Class::Broadcast,
        Class::Presence,
        Class::Request,
        Class::Op,
        Class::Join,
        Class::Bytes,
    ];

    fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::Publish => "publish",
            Class::Broadcast => "broadcast",
            Class::Presence => "presence",
            Class::Request => "request",
            Class::Op => "op",
            Class::Join => "join",
            Class::Bytes => "bytes",
        }
    }
}

/// A bucket: `per_second` tokens a second, holding at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    const fn new(per_second: u32, burst: u32) -> Rate {
        match (NonZeroU32::new(per_second), NonZeroU32::new(burst)) {
            (Some(per_second), Some(burst)) => Rate { per_second, burst },
            // Only reached for a zero in the table below, which has none.
            _ => Rate {
                per_second: NonZeroU32::MIN,
                burst: NonZeroU32::MIN,
            },
        }
    }

    fn quota(self, factor: u32) -> Quota {
        let scale =
            |n: NonZeroU32| n.saturating_mul(NonZeroU32::new(factor).unwrap_or(NonZeroU32::MIN));
        Quota::per_second(scale(self.per_second)).allow_burst(scale(self.burst))
    }
}

/// The rate of each class per connection (a user gets twice as much), or none at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    rates: Option<[Rate; CLASSES]>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            rates: Some([
                // Room for 60 Hz cursors and typing in publish and presence.
                Rate::new(100, 200), // publish
                Rate::new(5, 10),    // broadcast
                Rate::new(30, 60),   // presence
                Rate::new(100, 200), // request
                Rate::new(200, 400), // op
                Rate::new(20, 50),   // join
                // KiB: 4 MiB of room messages a second in bursts of 2 MiB, half a slow member's
                // outbound queue (4 MiB by default).
                Rate::new(512, 2048), // bytes
            ]),
        }
    }
}

impl RateLimits {
    pub const OFF: RateLimits = RateLimits { rates: None };

    pub fn rate(&self, class: Class) -> Option<Rate> {
        self.rates.map(|rates| rates[class.index()])
    }
}

impl fmt::Display for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(rates) = self.rates else {
            return f.write_str("off");
        };
        let parts: Vec<String> = Class::ALL
            .iter()
            .map(|c| {
                let r = rates[c.index()];
                format!("{}={}/{}", c.name(), r.per_second, r.burst)
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// `off`, or `class=rate/burst,...` (classes not named keep their default).
impl FromStr for RateLimits {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim() == "off" {
            return Ok(RateLimits::OFF);
        }
        let mut rates = RateLimits::default()
            .rates
            .unwrap_or([Rate::new(1, 1); CLASSES]);
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected class=rate/burst"))?;
            let class = Class::ALL
                .into_iter()
                .find(|c| c.name() == name.trim())
                .ok_or_else(|| format!("{name:?}: not a frame class (publish, broadcast, presence, request, op, join, bytes)"))?;
            let (rate, burst) = value.split_once('/').unwrap_or((value, value));
            let number = |n: &str| {
                n.trim()
                    .parse::<NonZeroU32>()
                    .map_err(|_| format!("{part:?}: rates are whole numbers above 0"))
            };
            rates[class.index()] = Rate {
                per_second: number(rate)?,
                burst: number(burst)?,
            };
        }
        Ok(RateLimits { rates: Some(rates) })
    }
}

/// The per-user buckets of one node: one keyed limiter per class.
pub struct UserRates {
    limits: RateLimits,
    by_class: Vec<Option<DefaultKeyedRateLimiter<String>>>,
    checks: AtomicU32,
}

impl UserRates {
    pub fn new(limits: RateLimits) -> Arc<UserRates> {
        let by_class = Class::ALL
            .iter()
            .map(|c| {
                limits
                    .rate(*c)
                    .map(|r| DefaultKeyedRateLimiter::keyed(r.quota(2)))
            })
            .collect();
        Arc::new(UserRates {
            limits,
            by_class,
            checks: AtomicU32::new(0),
        })
    }

    fn check(&self, class: Class, cost: NonZeroU32, user: &str) -> bool {
        let Some(Some(limiter)) = self.by_class.get(class.index()) else {
            return true;
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        matches!(limiter.check_key_n(&user.to_owned(), cost), Ok(Ok(())))
    }
}

/// A connection's buckets and its recent refusals.
pub struct ConnRates {
    users: Arc<UserRates>,
    /// Boxed: an idle connection holds six empty pointers, not six limiters' room (~400 bytes).
    buckets: [Option<Box<DefaultDirectRateLimiter>>; CLASSES],
    refused: u32,
    window_start: Instant,
}

/// What a frame of a class may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Refuse it `rate_limited`.
    Refuse,
    /// Refuse it and close the connection (4429): it keeps sending into empty buckets.
    Close,
}

impl ConnRates {
    pub fn new(users: Arc<UserRates>) -> ConnRates {
        ConnRates {
            users,
            buckets: Default::default(),
            refused: 0,
            window_start: Instant::now(),
        }
    }

    /// Takes `cost` tokens of `class` from the connection's bucket and from `user`'s, if any
    /// (a cost above the burst never passes).
    pub fn check(&mut self, class: Class, cost: u32, user: Option<&str>) -> Verdict {
        let cost = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
        let Some(rate) = self.users.limits.rate(class) else {
            return Verdict::Pass;
        };
        let bucket = self.buckets[class.index()]
            .get_or_insert_with(|| Box::new(DefaultDirectRateLimiter::direct(rate.quota(1))));
        let passed = matches!(bucket.check_n(cost), Ok(Ok(())))
            && user.is_none_or(|u| self.users.check(class, cost, u));
        if passed {
            return Verdict::Pass;
        }
        let now = Instant::now();
        if now.saturating_duration_since(self.window_start) > ABUSE_WINDOW {
            self.window_start = now;
            self.refused = 0;
        }
        self.refused += 1;
        if self.refused >= ABUSE_REFUSALS {
            Verdict::Close
        } else {
            Verdict::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_parses_and_prints() {
        let limits: RateLimits = "publish=5/7, join=2".parse().expect("valid");
        let publish = limits.rate(Class::Publish).expect("on");
        assert_eq!((publish.per_second.get(), publish.burst.get()), (5, 7));
        let join = limits.rate(Class::Join).expect("on");
        assert_eq!((join.per_second.get(), join.burst.get()), (2, 2));
        assert_eq!(
            limits.rate(Class::Op),
            RateLimits::default().rate(Class::Op)
        );
        assert_eq!("off".parse::<RateLimits>(), Ok(RateLimits::OFF));
        let printed = RateLimits::default().to_string();
        assert_eq!(printed.parse::<RateLimits>(), Ok(RateLimits::default()));
        for bad in ["publish", "nope=1/1", "publish=0/1", "publish=x/2"] {
            assert!(bad.parse::<RateLimits>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_passes_then_refusals_then_a_close() {
        let limits: RateLimits = "publish=1/3".parse().expect("valid");
        let users = UserRates::new(limits);
        let mut conn = ConnRates::new(Arc::clone(&users));
        for _ in 0..3 {
            assert_eq!(conn.check(Class::Publish, 1, Some("alice")), Verdict::Pass);
        }
        assert_eq!(
            conn.check(Class::Publish, 1, Some("alice")),
            Verdict::Refuse
        );
        // Another class has its own bucket.
        assert_eq!(conn.check(Class::Op, 1, Some("alice")), Verdict::Pass);
        let verdicts: Vec<Verdict> = (0..ABUSE_REFUSALS)
            .map(|_| conn.check(Class::Publish, 1, Some("alice")))
            .collect();
        assert_eq!(verdicts.last(), Some(&Verdict::Close));
        // A second connection of alice shares her user bucket (twice a connection's: 6).
        let mut other = ConnRates::new(users);
        let passed = (0..10)
            .filter(|_| other.check(Class::Publish, 1, Some("alice")) == Verdict::Pass)
            .count();
        assert_eq!(passed, 3, "alice's user bucket had 3 of its 6 left");
        assert_eq!(
            other.check(Class::Publish, 1, Some("bob")),
            Verdict::Refuse,
            "the connection's own is empty"
        );
    }

    #[test]
    fn the_bytes_bucket_counts_kib_and_refuses_a_cost_above_its_burst() {
        let limits: RateLimits = "bytes=1/8".parse().expect("valid");
        let mut conn = ConnRates::new(UserRates::new(limits));
        assert_eq!(conn.check(Class::Bytes, 5, None), Verdict::Pass);
        assert_eq!(
            conn.check(Class::Bytes, 5, None),
            Verdict::Refuse,
            "3 KiB left"
        );
        assert_eq!(conn.check(Class::Bytes, 3, None), Verdict::Pass);
        let mut fresh = ConnRates::new(UserRates::new(limits));
        assert_eq!(fresh.check(Class::Bytes, 9, None), Verdict::Refuse);
    }

    #[test]
    fn off_passes_everything() {
        let mut conn = ConnRates::new(UserRates::new(RateLimits::OFF));
        assert!((0..10_000).all(|_| conn.check(Class::Broadcast, 1, None) == Verdict::Pass));
    }
}
