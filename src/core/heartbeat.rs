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
    /// How long the pong may take (`timeout_ms`, or the probe's shorter window): any inbound
    /// frame moves the deadline to this long after it.
    window: u64,
    /// A late timer already gave this ping a second look (see `on_timeout`).
    reprieved: bool,
}

/// A timer firing more than this after its deadline was delayed (a throttled background tab,
/// a frozen page): events queued meanwhile, the pong among them, may not have been handled yet.
pub const LATE_MS: u64 = 1_000;

/// The shortest pong window of a probe (see [`Heartbeat::probe_window`]).
pub const PROBE_FLOOR_MS: u64 = 2_000;

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

    /// Deadlines are judged by timestamps, not by the timer having fired: a late firing
    /// (more than [`LATE_MS`] after the pong deadline) does not declare the socket dead, since
    /// the pong may sit in the event queue behind it; it gives the ping one more short window
    /// (the probe's) from now instead, once per ping. An on-time firing past the deadline, or the
    /// second look, does.
    pub fn on_timeout(&mut self, now: u64) -> Beat {
        let second_look = self.probe_window();
        if let Some(o) = self.outstanding.as_mut() {
            if now < o.deadline {
                return Beat::Nothing;
            }
            if now - o.deadline > LATE_MS && !o.reprieved {
                o.reprieved = true;
                o.deadline = now + second_look;
                return Beat::Nothing;
            }
            self.stop();
            return Beat::Dead;
        }
        match self.next_ping_at {
            // However late the timer, one ping: no burst for the intervals it missed.
            Some(at) if now >= at => Beat::SendPing {
                id: self.send_ping(now, self.config.timeout_ms),
            },
            _ => Beat::Nothing,
        }
    }

    /// Starts awaiting the pong of a new ping; its id.
    fn send_ping(&mut self, now: u64, window: u64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.next_ping_at = None;
        self.outstanding = Some(Outstanding {
            id,
            sent_at: now,
            deadline: now + window,
            window,
            reprieved: false,
        });
        id
    }

    /// The pong window of a probe: four smoothed round trips, at least [`PROBE_FLOOR_MS`]
    /// (the floor before any sample), at most `timeout_ms`. Much shorter than the timeout on a
    /// healthy link (2 s against 10 s by default), so a dead socket is found quickly.
    pub fn probe_window(&self) -> u64 {
        let rtt = self.smoothed_rtt_ms().unwrap_or(0);
        rtt.saturating_mul(4)
            .max(PROBE_FLOOR_MS)
            .min(self.config.timeout_ms)
    }

    /// Checks the socket now (the page came back, or the network changed): a ping with the
    /// probe's window, whose id is returned to send, or, with a ping awaiting its pong, that
    /// ping's deadline brought forward to the probe's. Never a second ping in flight, so
    /// probes make no bursts. Nothing while the heartbeat is off or stopped.
    pub fn probe(&mut self, now: u64) -> Option<u64> {
        if !self.enabled() {
            return None;
        }
        let window = self.probe_window();
        match self.outstanding.as_mut() {
            Some(o) => {
                if o.deadline > now + window || o.deadline <= now {
                    o.deadline = now + window;
                }
                None
            }
            None if self.next_ping_at.is_some() => Some(self.send_ping(now, window)),
            None => None,
        }
    }

    /// A frame arrived: the socket is alive, so a ping awaiting its pong gets its whole window
    /// again from now (a busy socket whose pong lags behind other frames is not dead). `now` is
    /// read only then: on the browser's hot path each reading of the clock is a call out of WASM.
    pub fn on_inbound(&mut self, now: impl FnOnce() -> u64) {
        if let Some(o) = self.outstanding.as_mut() {
            o.deadline = o.deadline.max(now() + o.window);
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
    fn a_probe_never_puts_a_second_ping_in_flight_and_its_window_is_bounded() {
        let mut hb = Heartbeat::new(HeartbeatConfig {
            interval_ms: 1_000,
            timeout_ms: 10_000,
        });
        hb.start(0);
        assert_eq!(
            hb.probe_window(),
            PROBE_FLOOR_MS,
            "the floor before any sample"
        );
        assert_eq!(hb.probe(100), Some(1));
        assert_eq!(hb.next_deadline(), Some(100 + PROBE_FLOOR_MS));
        assert_eq!(hb.probe(200), None, "one ping in flight");
        assert_eq!(hb.next_deadline(), Some(100 + PROBE_FLOOR_MS));
        hb.on_pong(Some(1), 1_100);
        assert_eq!(hb.probe_window(), 4_000, "four smoothed round trips");
        assert_eq!(hb.on_timeout(2_100), Beat::SendPing { id: 2 });
        // A probe brings the ping's 10 s deadline forward to its own window.
        assert_eq!(hb.probe(2_200), None);
        assert_eq!(hb.next_deadline(), Some(6_200));
        // Smoothed: 7/8 of 1 s and 1/8 of 10 s, times four.
        hb.on_pong(Some(2), 12_100);
        assert_eq!(hb.probe_window(), 8_500);
        let capped = Heartbeat::new(HeartbeatConfig {
            interval_ms: 1_000,
            timeout_ms: 500,
        });
        assert_eq!(capped.probe_window(), 500, "never past the timeout");
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
