//! Page lifecycle on virtual time: network hints (`offline`/`online`), the page going to the
//! background and coming back, frozen pages, the back-forward cache, and heartbeat deadlines
//! judged by timestamps when timers fire late.

#![cfg(not(target_arch = "wasm32"))]

mod support;

use proptest::prelude::*;
use resocket::core::{CloseReason, Config, ConnectionState, Event, Inbound, PageEvent};
use resocket::protocol::close_code;
use support::Harness;

fn config() -> Config {
    let mut c = Config::default();
    c.reconnect.initial_delay_ms = 100;
    c.reconnect.max_delay_ms = 1_000;
    c.reconnect.stable_after_ms = 2_000;
    c.heartbeat.interval_ms = 0;
    c
}

fn heartbeat_config() -> Config {
    let mut c = config();
    c.heartbeat.interval_ms = 15_000;
    c.heartbeat.timeout_ms = 10_000;
    c
}

/// `config` with a long, unjittered first retry delay, so a retry that comes early shows.
fn long_backoff(mut config: Config, initial_delay_ms: u64) -> Config {
    config.reconnect.initial_delay_ms = initial_delay_ms;
    config.reconnect.max_delay_ms = 60_000;
    config.reconnect.jitter = 0.0;
    config
}

fn open(config: Config) -> Harness {
    let mut h = Harness::new(config);
    h.connect();
    h.accept();
    assert_eq!(h.state_name(), "open");
    h
}

fn page(h: &mut Harness, event: PageEvent) {
    h.core.handle_page(h.now, event);
    h.drive();
}

fn states(h: &mut Harness) -> Vec<&'static str> {
    h.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::State(s) => Some(s.name()),
            _ => None,
        })
        .collect()
}

fn pings(h: &Harness) -> usize {
    h.socket.as_ref().map_or(0, |s| s.pings.len())
}

/// Answers the newest ping after `rtt_ms`.
fn pong(h: &mut Harness, rtt_ms: u64) {
    let id = *h.socket().pings.last().expect("a ping to answer");
    h.advance(rtt_ms);
    h.receive(Inbound::Pong { id });
}

#[test]
fn offline_pauses_retries_without_burning_attempts() {
    let mut c = config();
    c.reconnect.max_attempts = Some(3);
    let mut h = open(c);
    page(&mut h, PageEvent::Offline);
    assert_eq!(
        h.state_name(),
        "open",
        "an open socket is kept: offline is a hint"
    );
    h.take_events();
    h.server_close(close_code::ABNORMAL);
    assert_eq!(
        h.core.state(),
        &ConnectionState::Offline {
            code: close_code::ABNORMAL,
            reason: "server closed".into()
        }
    );
    // Far longer than maxAttempts backoffs: no attempt, and the client does not give up.
    h.advance(600_000);
    assert_eq!(h.opens, 1, "no socket while offline");
    assert_eq!(states(&mut h), vec!["offline"], "entered once, no churn");
    page(&mut h, PageEvent::Online);
    let ConnectionState::Reconnecting {
        attempt, delay_ms, ..
    } = h.core.state().clone()
    else {
        panic!("expected reconnecting, got {:?}", h.core.state());
    };
    assert_eq!(attempt, 1, "offline burnt no attempt");
    assert!(
        delay_ms <= 100,
        "online retries within min(initialDelay, 1 s): {delay_ms}"
    );
    h.advance(delay_ms);
    assert_eq!(h.opens, 2);
    // Online, the three attempts count again and the client gives up after them.
    for _ in 0..3 {
        h.server_close(close_code::ABNORMAL);
        h.advance(1_000);
    }
    assert_eq!(
        h.core.state(),
        &ConnectionState::Closed {
            reason: CloseReason::MaxAttempts { attempts: 3 }
        }
    );
    assert_eq!(h.opens, 4);
}

#[test]
fn going_offline_while_reconnecting_cancels_the_retry_and_online_skips_the_backoff() {
    let mut h = open(long_backoff(config(), 20_000));
    h.take_events();
    h.server_close(close_code::ABNORMAL);
    assert!(matches!(
        h.core.state(),
        ConnectionState::Reconnecting {
            delay_ms: 20_000,
            ..
        }
    ));
    h.advance(5_000);
    page(&mut h, PageEvent::Offline);
    assert_eq!(h.state_name(), "offline");
    h.advance(120_000);
    assert_eq!(h.opens, 1);
    let start = h.now;
    page(&mut h, PageEvent::Online);
    // Repeated `online` events change nothing more.
    page(&mut h, PageEvent::Online);
    h.advance(1_000);
    assert_eq!(h.opens, 2, "retried within 1 s, not after the 20 s backoff");
    assert!(h.now - start <= 1_000);
    assert_eq!(
        states(&mut h),
        vec!["reconnecting", "offline", "reconnecting", "connecting"]
    );
}

#[test]
fn online_while_reconnecting_brings_the_retry_forward_once() {
    let c = long_backoff(config(), 20_000);
    // Offline from the start (the driver reports `navigator.onLine`): the first attempt is the
    // app's own `connect`, and its failure waits for the network without counting.
    let mut h = Harness::new(c);
    page(&mut h, PageEvent::Offline);
    h.connect();
    assert_eq!(h.opens, 1);
    h.server_close(close_code::ABNORMAL);
    assert_eq!(h.state_name(), "offline");
    page(&mut h, PageEvent::Online);
    let retry_at = match h.core.state() {
        ConnectionState::Reconnecting {
            attempt, retry_at, ..
        } => {
            assert_eq!(*attempt, 1);
            *retry_at
        }
        other => panic!("expected reconnecting, got {other:?}"),
    };
    assert!(retry_at <= h.now + 1_000);
}

#[test]
fn visible_after_a_long_hidden_spell_pings_at_once_and_a_missing_pong_closes_within_the_probe_window(
) {
    let mut h = open(heartbeat_config());
    page(&mut h, PageEvent::Hidden);
    h.advance(15_000);
    assert_eq!(pings(&h), 1);
    pong(&mut h, 40);
    h.advance(5_000);
    page(&mut h, PageEvent::Visible);
    assert_eq!(pings(&h), 2, "a ping at once on return");
    let sent = h.now;
    h.take_events();
    // No pong: the probe window is 4 smoothed round trips with a 2 s floor, not the 10 s timeout.
    h.advance(1_999);
    assert_eq!(h.closes.len(), 0);
    h.advance(1);
    assert_eq!(
        h.closes,
        vec![(close_code::HEARTBEAT_TIMEOUT, "heartbeat timeout".into())]
    );
    assert_eq!(h.now - sent, 2_000);
    assert_eq!(h.state_name(), "reconnecting");
}

#[test]
fn a_short_hidden_spell_sends_no_ping_and_a_probe_pong_keeps_the_socket() {
    let mut h = open(heartbeat_config());
    page(&mut h, PageEvent::Hidden);
    h.advance(3_000);
    page(&mut h, PageEvent::Visible);
    assert_eq!(pings(&h), 0);
    // Frozen for longer than an interval: the timers did not run, the resume probes.
    page(&mut h, PageEvent::Freeze);
    h.now += 40_000;
    page(&mut h, PageEvent::Resume);
    assert_eq!(pings(&h), 1);
    pong(&mut h, 30);
    h.advance(14_000);
    assert!(h.closes.is_empty());
    assert_eq!(h.state_name(), "open");
}

#[test]
fn a_late_timer_does_not_kill_a_live_socket_nor_burst_pings() {
    let mut c = config();
    c.heartbeat.interval_ms = 1_000;
    c.heartbeat.timeout_ms = 500;
    let mut h = open(c);
    h.advance(1_000);
    assert_eq!(pings(&h), 1);
    // The page is frozen with the ping out; on resume the timer fires a minute late, before
    // the pong queued meanwhile is handled.
    h.now = 61_000;
    h.core.handle_timeout(h.now);
    h.drive();
    assert!(h.closes.is_empty(), "a late timer is no proof of death");
    assert_eq!(pings(&h), 1, "no burst for the missed intervals");
    let id = h.socket().pings[0];
    h.receive(Inbound::Pong { id });
    h.advance(999);
    assert!(h.closes.is_empty());
    assert_eq!(pings(&h), 1);
    h.advance(1);
    assert_eq!(pings(&h), 2);
    // The ping timer itself fires late: still one ping.
    let id = h.socket().pings[1];
    h.receive(Inbound::Pong { id });
    h.now += 300_000;
    h.core.handle_timeout(h.now);
    h.drive();
    assert_eq!(pings(&h), 3);
}

#[test]
fn a_late_timer_gives_one_second_look_and_then_a_silent_socket_dies() {
    let mut c = config();
    c.heartbeat.interval_ms = 1_000;
    c.heartbeat.timeout_ms = 500;
    let mut h = open(c);
    h.advance(1_000);
    h.now = 61_000;
    h.core.handle_timeout(h.now);
    h.drive();
    assert!(h.closes.is_empty());
    // The second look is the probe window (at most the timeout) from the late firing.
    h.now += 100_000;
    h.core.handle_timeout(h.now);
    h.drive();
    assert_eq!(h.closes.len(), 1, "late again, but the second look decides");
    assert_eq!(h.closes[0].0, close_code::HEARTBEAT_TIMEOUT);
}

#[test]
fn any_inbound_frame_is_proof_of_life() {
    let mut c = config();
    c.heartbeat.interval_ms = 1_000;
    c.heartbeat.timeout_ms = 500;
    let mut h = open(c);
    h.advance(1_000);
    assert_eq!(pings(&h), 1);
    h.advance(400);
    h.receive(Inbound::Message("busy".into()));
    h.advance(400);
    assert!(
        h.closes.is_empty(),
        "a frame 100 ms before the deadline moves it"
    );
    h.advance(100);
    assert_eq!(
        h.closes.len(),
        1,
        "then silence for a whole window is death"
    );
}

#[test]
fn offline_while_open_probes_and_a_dead_socket_waits_offline_without_counting() {
    let mut c = heartbeat_config();
    c.reconnect.max_attempts = Some(1);
    let mut h = open(c);
    page(&mut h, PageEvent::Offline);
    assert_eq!(pings(&h), 1, "probed at once");
    // Repeated hints make no burst.
    page(&mut h, PageEvent::Online);
    page(&mut h, PageEvent::Offline);
    assert_eq!(pings(&h), 1);
    h.advance(2_000);
    assert_eq!(h.closes.len(), 1);
    assert_eq!(
        h.state_name(),
        "offline",
        "maxAttempts 1 is not reached while offline"
    );
    h.advance(600_000);
    assert_eq!(h.opens, 1);
}

#[test]
fn the_back_forward_cache_closes_the_socket_and_a_restore_reconnects_and_resumes() {
    let mut h = open(heartbeat_config());
    page(&mut h, PageEvent::Stored);
    assert_eq!(
        h.closes,
        vec![(close_code::RECONNECT, "page stored".into())]
    );
    assert_eq!(h.state_name(), "reconnecting");
    // Timers do not run in the cache; the restore reconnects at once.
    h.now += 3_600_000;
    page(&mut h, PageEvent::Restored);
    assert_eq!(h.opens, 2);
    h.open_socket();
    let resume = h
        .socket()
        .hello
        .as_ref()
        .and_then(|hello| hello.resume.clone());
    assert_eq!(resume.map(|r| r.session), Some("s-1".into()));
    h.welcome();
    assert_eq!(h.state_name(), "open");
    assert_eq!(
        match h.core.state() {
            ConnectionState::Open { .. } => h.core.metrics(h.now).reconnects,
            _ => 0,
        },
        1
    );
}

#[test]
fn a_restore_without_the_store_probes_the_open_socket() {
    let mut h = open(heartbeat_config());
    page(&mut h, PageEvent::Restored);
    assert_eq!(pings(&h), 1);
    assert_eq!(h.opens, 1);
}

#[test]
fn a_return_while_reconnecting_brings_the_retry_forward() {
    let mut h = open(long_backoff(heartbeat_config(), 30_000));
    page(&mut h, PageEvent::Hidden);
    h.server_close(close_code::ABNORMAL);
    h.advance(20_000);
    assert_eq!(h.opens, 1);
    page(&mut h, PageEvent::Visible);
    h.advance(1_000);
    assert_eq!(h.opens, 2, "retried within 1 s of the return, not at 30 s");
}

#[derive(Debug, Clone)]
enum Step {
    Page(u32),
    Advance(u64),
    Accept,
    Drop,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u32..8).prop_map(Step::Page),
        (0u64..40_000).prop_map(Step::Advance),
        Just(Step::Accept),
        Just(Step::Drop),
    ]
}

proptest! {
    /// Whatever the page does: no socket is opened by a retry while offline, no attempt is
    /// counted while offline, a socket never has two pings in flight (no pong ever comes
    /// here), and no state is emitted twice in a row.
    #[test]
    fn page_events_are_bounded(steps in proptest::collection::vec(step(), 1..60)) {
        let mut c = heartbeat_config();
        c.heartbeat.interval_ms = 5_000;
        c.heartbeat.timeout_ms = 3_000;
        c.reconnect.max_attempts = Some(1_000);
        let mut h = Harness::new(c);
        h.connect();
        let mut online = true;
        let mut last_state: Option<ConnectionState> = None;
        for step in steps {
            let opens = h.opens;
            match step {
                Step::Page(code) => {
                    let event = PageEvent::from_code(code).expect("a page event");
                    match event {
                        PageEvent::Online => online = true,
                        PageEvent::Offline => online = false,
                        _ => {}
                    }
                    page(&mut h, event);
                }
                Step::Advance(ms) => h.advance(ms),
                Step::Accept => {
                    if h.socket.as_ref().is_some_and(|s| !s.open) {
                        h.accept();
                    }
                }
                Step::Drop => h.server_close(close_code::ABNORMAL),
            }
            if !online {
                prop_assert_eq!(h.opens, opens, "opened a socket while offline");
                let reconnecting = matches!(h.core.state(), ConnectionState::Reconnecting { .. });
                prop_assert!(!reconnecting, "a retry scheduled while offline");
            }
            prop_assert!(pings(&h) <= 1, "two pings in flight");
            for event in h.take_events() {
                if let Event::State(state) = event {
                    prop_assert_ne!(Some(&state), last_state.as_ref(), "state emitted twice");
                    last_state = Some(state);
                }
            }
        }
    }
}
