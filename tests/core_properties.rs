//! Property tests over random event sequences fed to the sans-IO core.

#![cfg(not(target_arch = "wasm32"))]

mod support;

use proptest::prelude::*;
use resocket::core::{
    backoff, rng::Rng, Config, ConnectionState, Event, Inbound, OverflowPolicy, ReconnectConfig,
};
use support::Harness;

#[derive(Debug, Clone)]
enum Step {
    Connect,
    Send,
    /// The server completes the transport open and handshake of a pending socket.
    Accept,
    /// The server or the network closes the socket with this code.
    ServerClose(u16),
    Advance(u64),
    Reconnect,
    Close,
    Malformed,
    Unknown,
    Pong(u64),
    Message,
    /// The driver sends without draining the core's actions right away.
    LazySend,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => Just(Step::Connect),
        6 => Just(Step::Send),
        3 => Just(Step::Accept),
        2 => prop_oneof![Just(1000u16), Just(1001), Just(1006), Just(1011), Just(4000), Just(4001)]
            .prop_map(Step::ServerClose),
        4 => (0u64..20_000).prop_map(Step::Advance),
        1 => Just(Step::Reconnect),
        1 => Just(Step::Close),
        1 => Just(Step::Malformed),
        1 => Just(Step::Unknown),
        1 => (0u64..5).prop_map(Step::Pong),
        1 => Just(Step::Message),
        2 => Just(Step::LazySend),
    ]
}

fn config(seed: u64, overflow: OverflowPolicy, max_messages: usize) -> Config {
    let mut c = Config {
        seed: Some(seed),
        ..Config::default()
    };
    c.reconnect.initial_delay_ms = 50;
    c.reconnect.max_delay_ms = 2_000;
    c.heartbeat.interval_ms = 1_000;
    c.heartbeat.timeout_ms = 700;
    c.connect_timeout_ms = 3_000;
    c.queue.max_messages = max_messages;
    c.queue.overflow = overflow;
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever happens, accepted messages reach the server in order, at most once, and every
    /// one not reported as dropped arrives once the connection is finally up.
    #[test]
    fn nothing_lost_duplicated_or_reordered_across_reconnects(
        steps in prop::collection::vec(step(), 0..120),
        seed in any::<u64>(),
        drop_oldest in any::<bool>(),
        max_messages in 1usize..20,
    ) {
        let overflow = if drop_oldest { OverflowPolicy::DropOldest } else { OverflowPolicy::Reject };
        let mut h = Harness::new(config(seed, overflow, max_messages));
        let mut accepted = Vec::new();
        let mut next = 0u32;
        for step in steps {
            match step {
                Step::Connect => h.connect(),
                Step::Send | Step::LazySend => {
                    next += 1;
                    let text = next.to_string();
                    let result = h.core.send(text.clone());
                    if matches!(step, Step::Send) { h.drive(); }
                    if result.is_ok() { accepted.push(text); }
                }
                Step::Accept => {
                    if h.socket.as_ref().is_some_and(|s| !s.open) { h.accept(); }
                }
                Step::ServerClose(code) => h.server_close(code),
                Step::Advance(ms) => h.advance(ms),
                Step::Reconnect => { h.core.reconnect(h.now); h.drive(); }
                Step::Close => { h.core.close(); h.drive(); }
                Step::Malformed => { h.core.handle_malformed(h.now, "junk".into()); h.drive(); }
                Step::Unknown => h.receive(Inbound::Unknown { kind: "x".into() }),
                Step::Pong(id) => h.receive(Inbound::Pong { id }),
                Step::Message => h.receive(Inbound::Message("m".into())),
            }
            if let ConnectionState::Reconnecting { delay_ms, .. } = h.core.state() {
                prop_assert!(*delay_ms <= 2_000);
            }
        }
        // Settle: bring the connection up and let it flush.
        h.drive();
        if h.socket.is_none() { h.core.reconnect(h.now); h.drive(); }
        if h.socket.as_ref().is_some_and(|s| !s.open) { h.accept(); }
        prop_assert_eq!(h.state_name(), "open");

        let dropped: usize = h.events.iter().map(|e| match e {
            Event::Dropped { count, .. } => *count,
            _ => 0,
        }).sum();
        let numbers: Vec<u32> = h.delivered.iter().map(|d| d.parse().unwrap_or(0)).collect();
        prop_assert!(numbers.windows(2).all(|w| w[0] < w[1]), "order or duplicates: {:?}", numbers);
        prop_assert!(h.delivered.iter().all(|d| accepted.contains(d)));
        prop_assert_eq!(h.delivered.len() + dropped, accepted.len());
        if !drop_oldest { prop_assert_eq!(dropped, 0); }
    }

    #[test]
    fn backoff_delays_stay_within_zero_and_max(
        initial in 0u64..10_000,
        extra in 0u64..100_000,
        factor in 1.0f64..10.0,
        jitter in 0.0f64..=1.0,
        failures in 0u32..200,
        seed in any::<u64>(),
    ) {
        let config = ReconnectConfig {
            initial_delay_ms: initial,
            max_delay_ms: initial + extra,
            factor,
            jitter,
            ..ReconnectConfig::default()
        };
        let mut rng = Rng::new(seed);
        let delay = backoff::delay_ms(&config, failures, &mut rng);
        prop_assert!(delay <= config.max_delay_ms);
    }

    #[test]
    fn delays_at_the_cap_are_spread(seed in any::<u64>(), jitter in 0.1f64..=1.0) {
        let config = ReconnectConfig {
            initial_delay_ms: 100,
            max_delay_ms: 10_000,
            factor: 2.0,
            jitter,
            ..ReconnectConfig::default()
        };
        let mut rng = Rng::new(seed);
        let delays: std::collections::BTreeSet<u64> =
            (0..20).map(|_| backoff::delay_ms(&config, 40, &mut rng)).collect();
        prop_assert!(delays.len() > 10, "{:?}", delays);
    }
}
