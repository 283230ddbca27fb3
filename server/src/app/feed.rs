//! The simulated price feed: every interval, one `tick` message per symbol is published to the
//! `prices` room (so each tick has its own sequence number and history slot):
//! `{"type":"tick","symbol":"BTC","price":64250.5,"open":64000.0,"at":1732240000000}`.
//! Prices follow a bounded random walk from their opening price. (The demo backend fills
//! orders at the latest tick, read from the room's history through the server API.)

use super::requests::stopped;
use crate::random::{self, Rng};
use crate::state::Engine;
use resocket::protocol::json::raw_payload;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::warn;

/// The room the feed publishes to.
pub const ROOM: &str = "prices";

/// A simulated instrument.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub symbol: &'static str,
    pub open: f64,
    pub price: f64,
    /// Decimal places prices are rounded to.
    decimals: i32,
    /// Largest relative move per tick.
    step: f64,
}

impl Quote {
    const fn new(symbol: &'static str, open: f64, decimals: i32, step: f64) -> Quote {
        Quote {
            symbol,
            open,
            price: open,
            decimals,
            step,
        }
    }

    /// Moves the price by up to `step` of itself, rounded, and kept within 50%..200% of the open.
    pub fn walk(&mut self, rng: &mut Rng) {
        let moved = self.price * (1.0 + self.step * rng.symmetric());
        let bounded = moved.clamp(self.open * 0.5, self.open * 2.0);
        let scale = 10f64.powi(self.decimals);
        self.price = (bounded * scale).round() / scale;
    }
}

/// The instruments at their opening prices.
const QUOTES: [Quote; 5] = [
    Quote::new("BTC", 64_000.0, 2, 0.002),
    Quote::new("ETH", 3_200.0, 2, 0.0025),
    Quote::new("AAPL", 190.0, 2, 0.001),
    Quote::new("MSFT", 420.0, 2, 0.001),
    Quote::new("EUR/USD", 1.085, 5, 0.0002),
];

/// The instruments at their opening prices.
pub fn quotes() -> Vec<Quote> {
    QUOTES.to_vec()
}

/// The payload of one tick.
#[derive(Debug, Serialize)]
pub struct Tick<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub symbol: &'a str,
    pub price: f64,
    pub open: f64,
    /// Unix time in milliseconds.
    pub at: u64,
}

impl<'a> Tick<'a> {
    pub fn of(quote: &'a Quote, at: u64) -> Tick<'a> {
        Tick {
            kind: "tick",
            symbol: quote.symbol,
            price: quote.price,
            open: quote.open,
            at,
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Starts the feed, which also keeps `prices` current; `None` when `interval` is zero
/// (disabled). The task ends when the server stops (or its stop signal is dropped); the caller
/// also aborts it after shutdown.
pub fn spawn<E: Engine>(
    engine: Arc<E>,
    interval: Duration,
    mut stopping: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if interval.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut rng = Rng::new(random::seed());
        let mut quotes = quotes();
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stopped(&mut stopping) => return,
                _ = ticks.tick() => {}
            }
            let at = unix_ms();
            for quote in &mut quotes {
                quote.walk(&mut rng);
            }
            for quote in &quotes {
                let payload = raw_payload(&Tick::of(quote, at));
                if let Err(err) = engine.publish_as_server(ROOM, &payload).await {
                    warn!(%err, "price feed cannot publish");
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_walk_stays_rounded_and_bounded() {
        let mut rng = Rng::new(7);
        for mut quote in quotes() {
            let mut moved = false;
            for _ in 0..10_000 {
                let before = quote.price;
                quote.walk(&mut rng);
                assert!(quote.price >= quote.open * 0.5 && quote.price <= quote.open * 2.0);
                let change = (quote.price - before).abs() / before;
                assert!(
                    change <= quote.step * 1.01 + 1e-4,
                    "{quote:?} moved {change}"
                );
                let scaled = quote.price * 10f64.powi(quote.decimals);
                assert!((scaled - scaled.round()).abs() < 1e-6, "{quote:?}");
                moved |= quote.price != before;
            }
            assert!(moved, "{} never moved", quote.symbol);
        }
    }

    #[test]
    fn a_tick_has_the_documented_shape() {
        let quote = &quotes()[0];
        let payload = raw_payload(&Tick::of(quote, 1_732_240_000_000));
        assert_eq!(
            payload.get(),
            r#"{"type":"tick","symbol":"BTC","price":64000.0,"open":64000.0,"at":1732240000000}"#
        );
    }
}
