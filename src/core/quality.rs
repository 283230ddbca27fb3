//! Connection quality: one 0–100 score and a level an app can show, derived from whether the
//! link is open, the smoothed heartbeat round-trip time and how often it dropped recently.

use serde::Serialize;

/// Drops older than this no longer lower the score.
pub const DROP_WINDOW_MS: u64 = 60_000;
/// How many recent drop times are remembered (more drops than this score as many).
pub const DROPS_REMEMBERED: usize = 4;
/// Round-trip times up to this cost nothing.
const GOOD_RTT_MS: u64 = 100;
/// Every this many milliseconds above `GOOD_RTT_MS` cost one point.
const MS_PER_POINT: u64 = 10;
/// Each drop within the window costs this many points.
const DROP_PENALTY: u64 = 20;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum QualityLevel {
    #[default]
    Offline,
    Poor,
    Fair,
    Good,
}

impl QualityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            QualityLevel::Offline => "offline",
            QualityLevel::Poor => "poor",
            QualityLevel::Fair => "fair",
            QualityLevel::Good => "good",
        }
    }
}

/// 0 when not open; otherwise 1..=100, lower for slow round trips and recent drops.
pub fn score(open: bool, smoothed_rtt_ms: Option<u64>, recent_drops: usize) -> u8 {
    if !open {
        return 0;
    }
    let rtt_cost = smoothed_rtt_ms.map_or(0, |rtt| rtt.saturating_sub(GOOD_RTT_MS) / MS_PER_POINT);
    let drop_cost = DROP_PENALTY.saturating_mul(recent_drops as u64);
    let score = 100u64.saturating_sub(rtt_cost.saturating_add(drop_cost));
    score.clamp(1, 100) as u8
}

pub fn level(score: u8) -> QualityLevel {
    match score {
        0 => QualityLevel::Offline,
        1..=39 => QualityLevel::Poor,
        40..=69 => QualityLevel::Fair,
        _ => QualityLevel::Good,
    }
}

/// The times of the last few connection drops.
#[derive(Debug, Default)]
pub struct DropLog {
    times: [Option<u64>; DROPS_REMEMBERED],
    next: usize,
}

impl DropLog {
    pub fn record(&mut self, now: u64) {
        self.times[self.next] = Some(now);
        self.next = (self.next + 1) % DROPS_REMEMBERED;
    }

    pub fn recent(&self, now: u64) -> usize {
        self.times
            .iter()
            .flatten()
            .filter(|&&at| now.saturating_sub(at) < DROP_WINDOW_MS)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_scores_zero_whatever_the_rtt() {
        assert_eq!(score(false, Some(20), 0), 0);
        assert_eq!(level(score(false, None, 0)), QualityLevel::Offline);
    }

    #[test]
    fn fast_and_stable_is_good_and_slow_is_poor() {
        assert_eq!(score(true, Some(40), 0), 100);
        assert_eq!(score(true, None, 0), 100);
        assert_eq!(score(true, Some(600), 0), 50);
        assert_eq!(level(score(true, Some(600), 0)), QualityLevel::Fair);
        assert_eq!(level(score(true, Some(900), 0)), QualityLevel::Poor);
        // An open link never scores as offline, however slow.
        assert_eq!(score(true, Some(60_000), 3), 1);
    }

    #[test]
    fn recent_drops_lower_the_score_until_they_age_out() {
        let mut drops = DropLog::default();
        drops.record(1_000);
        drops.record(2_000);
        assert_eq!(drops.recent(3_000), 2);
        assert_eq!(score(true, Some(50), drops.recent(3_000)), 60);
        assert_eq!(drops.recent(1_000 + DROP_WINDOW_MS), 1);
        assert_eq!(drops.recent(2_000 + DROP_WINDOW_MS), 0);
    }

    #[test]
    fn the_log_keeps_only_the_latest_drops() {
        let mut drops = DropLog::default();
        for at in 0..10 {
            drops.record(at);
        }
        assert_eq!(drops.recent(10), DROPS_REMEMBERED);
    }
}
