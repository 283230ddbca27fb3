//! A list of URLs (server nodes without a load balancer in front), on virtual time: the core
//! stays on the URL that works, moves to the next one after a failed attempt or a drop, wraps
//! round the list, and still waits the backoff delay between attempts.

#![cfg(not(target_arch = "wasm32"))]

mod support;

use resocket::core::{ClientCore, CloseReason, Config, ConfigError, ConnectionState, TokenSource};
use resocket::protocol::close_code;
use support::Harness;

/// `count` URLs, backoff without jitter (100, 200, 400, ... capped at 1000), no heartbeat.
fn config(count: usize) -> Config {
    let mut c = Config {
        url_count: count,
        ..Config::default()
    };
    c.reconnect.initial_delay_ms = 100;
    c.reconnect.max_delay_ms = 1_000;
    c.reconnect.jitter = 0.0;
    c.reconnect.stable_after_ms = 2_000;
    c.heartbeat.interval_ms = 0;
    c
}

fn reconnect_delay(h: &Harness) -> u64 {
    match h.core.state() {
        ConnectionState::Reconnecting { delay_ms, .. } => *delay_ms,
        other => panic!("expected reconnecting, got {other:?}"),
    }
}

/// The pending socket fails before it opens (a node that is down refuses it).
fn refuse(h: &mut Harness) {
    h.server_close(close_code::ABNORMAL);
}

#[test]
fn failed_attempts_go_round_the_list_after_each_backoff_delay() {
    let mut h = Harness::new(config(3));
    h.connect();
    assert_eq!(h.open_urls, vec![0]);
    assert_eq!(
        h.core.state(),
        &ConnectionState::Connecting { attempt: 1, url: 0 }
    );
    let mut expected = vec![0];
    for (delay, url) in [(100, 1), (200, 2), (400, 0), (800, 1), (1_000, 2)] {
        refuse(&mut h);
        assert_eq!(
            reconnect_delay(&h),
            delay,
            "the backoff grows as with one URL"
        );
        assert_eq!(
            h.core.url(),
            url,
            "the next attempt's URL, known while waiting"
        );
        h.advance(delay - 1);
        assert_eq!(
            h.open_urls, expected,
            "no attempt before the delay, on any URL"
        );
        h.advance(1);
        expected.push(url);
        assert_eq!(h.open_urls, expected);
        assert!(matches!(
            h.core.state(),
            ConnectionState::Connecting { url: u, .. } if *u == url
        ));
    }
    h.accept();
    assert_eq!(h.core.state(), &ConnectionState::Open { url: 2 });
}

#[test]
fn the_client_stays_on_the_url_that_works() {
    let mut h = Harness::new(config(2));
    h.connect();
    refuse(&mut h);
    h.advance(100);
    h.accept();
    assert_eq!(h.core.state(), &ConnectionState::Open { url: 1 });
    // Open for a long time, and through `reconnect()` (the app's, not a failure): same URL.
    h.advance(60_000);
    h.send("a").expect("sent");
    h.core.reconnect(h.now);
    h.drive();
    h.accept();
    assert_eq!(h.open_urls, vec![0, 1, 1]);
    assert_eq!(h.core.state(), &ConnectionState::Open { url: 1 });
    // `close()` then `connect()`: still the one that worked.
    h.core.close();
    h.drive();
    h.connect();
    h.accept();
    assert_eq!(h.open_urls, vec![0, 1, 1, 1]);
    assert_eq!(h.delivered, vec!["a"]);
}

#[test]
fn a_drop_of_an_open_connection_moves_to_the_next_url_after_the_delay() {
    let mut h = Harness::new(config(2));
    h.connect();
    h.accept();
    assert_eq!(h.core.state(), &ConnectionState::Open { url: 0 });
    h.send("before").expect("sent");
    // Node 0 dies mid-stream; what is sent meanwhile waits for node 1.
    h.server_close(close_code::ABNORMAL);
    h.send("during").expect("queued");
    assert_eq!(reconnect_delay(&h), 100);
    h.advance(99);
    assert_eq!(
        h.open_urls,
        vec![0],
        "the first retry waits the backoff too"
    );
    h.advance(1);
    assert_eq!(h.open_urls, vec![0, 1]);
    h.accept();
    assert_eq!(h.core.state(), &ConnectionState::Open { url: 1 });
    assert_eq!(h.delivered, vec!["before", "during"]);
    assert_eq!(h.core.metrics(h.now).reconnects, 1);
    // Stable on node 1, then node 1 dies: back to node 0, the delay reset to the first one.
    h.advance(2_000);
    h.server_close(close_code::ABNORMAL);
    assert_eq!(reconnect_delay(&h), 100);
    h.advance(100);
    assert_eq!(h.open_urls, vec![0, 1, 0]);
}

#[test]
fn connect_and_heartbeat_timeouts_are_failures_of_that_url() {
    let mut c = config(2);
    c.connect_timeout_ms = 1_000;
    c.heartbeat.interval_ms = 500;
    c.heartbeat.timeout_ms = 300;
    let mut h = Harness::new(c);
    h.connect();
    // Node 0 accepts TCP but never welcomes.
    h.open_socket();
    h.advance(1_000);
    assert_eq!(h.core.url(), 1);
    assert_eq!(
        h.closes.last().map(|c| c.0),
        Some(close_code::CONNECT_TIMEOUT)
    );
    h.advance(reconnect_delay(&h));
    h.accept();
    assert_eq!(h.core.state(), &ConnectionState::Open { url: 1 });
    // Node 1 goes silent: the missed pong moves the client back to node 0.
    h.advance(800);
    assert_eq!(
        h.closes.last().map(|c| c.0),
        Some(close_code::HEARTBEAT_TIMEOUT)
    );
    assert_eq!(h.core.url(), 0);
    h.advance(reconnect_delay(&h));
    assert_eq!(h.open_urls, vec![0, 1, 0]);
}

#[test]
fn max_attempts_counts_attempts_on_every_url() {
    let mut c = config(2);
    c.reconnect.max_attempts = Some(3);
    let mut h = Harness::new(c);
    h.connect();
    refuse(&mut h);
    h.advance(100);
    refuse(&mut h);
    h.advance(200);
    refuse(&mut h);
    assert_eq!(h.open_urls, vec![0, 1, 0]);
    assert_eq!(
        h.core.state(),
        &ConnectionState::Closed {
            reason: CloseReason::MaxAttempts { attempts: 3 }
        }
    );
    // A later `connect()` starts on the URL after the last one that failed.
    h.connect();
    assert_eq!(h.open_urls, vec![0, 1, 0, 1]);
}

#[test]
fn with_a_token_function_the_socket_opens_on_the_attempts_url() {
    let mut c = config(2);
    c.token = TokenSource::Fetch;
    let mut h = Harness::new(c);
    h.connect();
    h.answer_token(Err("backend down"));
    assert_eq!(h.core.url(), 1, "a failed fetch is a failed attempt");
    assert!(h.open_urls.is_empty());
    h.advance(100);
    assert_eq!(
        h.core.state(),
        &ConnectionState::Connecting { attempt: 2, url: 1 }
    );
    h.answer_token(Ok("t"));
    assert_eq!(h.open_urls, vec![1]);
    h.accept();
    assert_eq!(h.core.state(), &ConnectionState::Open { url: 1 });
}

#[test]
fn one_url_is_always_index_zero() {
    let mut h = Harness::new(config(1));
    h.connect();
    for delay in [100, 200] {
        refuse(&mut h);
        h.advance(delay);
    }
    h.accept();
    assert_eq!(h.open_urls, vec![0, 0, 0]);
    assert_eq!(Config::default().url_count, 1);
}

#[test]
fn an_empty_url_list_is_refused() {
    let error = ClientCore::<String, String>::new(config(0), 1).expect_err("no URL");
    assert_eq!(error, ConfigError::NoUrl);
    assert_eq!(error.message(), "the url list is empty");
}
