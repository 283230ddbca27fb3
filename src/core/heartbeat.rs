//! Application-level heartbeat: browsers cannot send WebSocket pings, so the client sends `ping`
//! frames and expects a `pong` with the same id. Also measures and smooths the round-trip time.

use super::config::HeartbeatConfig;
use super::float;

#[derive(Debug)]
pub struct Heartbeat {
    config: HeartbeatConfig,
    next_ping_at: Option<u64>,
    outstanding: Option<Outstanding>,
    next_id: u64,
    last_rtt_ms: Option<u64>,
    smoothed_rtt_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    id: u64,
    sent_at: u64,
    deadline: u64,
}

/// What the heartbeat asks for when its timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    SendPing { id: u64 },
    Dead,
    Nothing,
}

/// A round-trip sample and the smoothed estimate after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttSample {
    pub rtt_ms: u64,
    pub smoothed_ms: u64,
}

impl Heartbeat {
    pub fn new(config: HeartbeatConfig) -> Self {
        Heartbeat {
            config,
            next_ping_at: None,
            outstanding: None,
            next_id: 1,
            last_rtt_ms: None,
            smoothed_rtt_ms: None,
        }
    }

    fn enabled(&self) -> bool {
        self.config.interval_ms > 0
    }

    pub fn start(&mut self, now: u64) {
        self.outstanding = None;
        self.next_ping_at = self.enabled().then(|| now + self.config.interval_ms);
    }

    pub fn stop(&mut self) {
        self.outstanding = None;
        self.next_ping_at = None;
    }

    pub fn next_deadline(&self) -> Option<u64> {
        match self.outstanding {
            Some(o) => Some(o.deadline),
            None => self.next_ping_at,
        }
    }

    pub fn on_timeout(&mut self, now: u64) -> Beat {
        if let Some(o) = self.outstanding {
            if now >= o.deadline {
                self.stop();
                return Beat::Dead;
            }
            return Beat::Nothing;
        }
        match self.next_ping_at {
            Some(at) if now >= at => {
                let id = self.next_id;
                self.next_id += 1;
                self.next_ping_at = None;
                self.outstanding = Some(Outstanding {
                    id,
                    sent_at: now,
                    deadline: now + self.config.timeout_ms,
                });
                Beat::SendPing { id }
            }
            _ => Beat::Nothing,
        }
    }

    /// Records a pong; stale or unknown ids are ignored. `None` (raw mode, whose pongs carry no
    /// id) answers whichever ping is outstanding.
    pub fn on_pong(&mut self, id: Option<u64>, now: u64) -> Option<RttSample> {
        let o = self
            .outstanding
            .filter(|o| id.is_none_or(|id| o.id == id))?;
        self.outstanding = None;
        self.next_ping_at = Some(now + self.config.interval_ms);
        let rtt = now.saturating_sub(o.sent_at);
        // RFC 6298 smoothing: new = 7/8 old + 1/8 sample.
        let smoothed = match self.smoothed_rtt_ms {
            Some(s) => s * 0.875 + rtt as f64 * 0.125,
            None => rtt as f64,
        };
        self.last_rtt_ms = Some(rtt);
        self.smoothed_rtt_ms = Some(smoothed);
        Some(RttSample {
            rtt_ms: rtt,
            smoothed_ms: float::round_u64(smoothed),
        })
    }

    pub fn last_rtt_ms(&self) -> Option<u64> {
        self.last_rtt_ms
    }

    pub fn smoothed_rtt_ms(&self) -> Option<u64> {
        self.smoothed_rtt_ms.map(float::round_u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat() -> Heartbeat {
        Heartbeat::new(HeartbeatConfig {
            interval_ms: 1_000,
            timeout_ms: 500,
        })
    }

    #[test]
    fn pings_on_interval_and_smooths_rtt() {
        let mut hb = heartbeat();
        hb.start(0);
        assert_eq!(hb.next_deadline(), Some(1_000));
        assert_eq!(hb.on_timeout(1_000), Beat::SendPing { id: 1 });
        assert_eq!(
            hb.on_pong(Some(1), 1_080),
            Some(RttSample {
                rtt_ms: 80,
                smoothed_ms: 80
            })
        );
        assert_eq!(hb.next_deadline(), Some(2_080));
        assert_eq!(hb.on_timeout(2_080), Beat::SendPing { id: 2 });
        assert_eq!(
            hb.on_pong(Some(2), 2_240),
            Some(RttSample {
                rtt_ms: 160,
                smoothed_ms: 90
            })
        );
    }

    #[test]
    fn a_missing_pong_declares_the_connection_dead_and_stale_pongs_are_ignored() {
        let mut hb = heartbeat();
        hb.start(0);
        assert_eq!(hb.on_timeout(1_000), Beat::SendPing { id: 1 });
        assert_eq!(hb.on_pong(Some(99), 1_100), None);
        assert_eq!(hb.on_timeout(1_499), Beat::Nothing);
        assert_eq!(hb.on_timeout(1_500), Beat::Dead);
        assert_eq!(hb.next_deadline(), None);
    }

    #[test]
    fn zero_interval_disables_it() {
        let mut hb = Heartbeat::new(HeartbeatConfig {
            interval_ms: 0,
            timeout_ms: 0,
        });
        hb.start(0);
        assert_eq!(hb.next_deadline(), None);
    }
}
