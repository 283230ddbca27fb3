//! Scenario tests of the sans-IO client core under virtual time.

#![cfg(not(target_arch = "wasm32"))]

mod support;

use resocket::core::{
    ClientError, CloseReason, Config, ConnectionState, Event, Inbound, OverflowPolicy,
};
use resocket::protocol::{close_code, ErrorBody, ErrorCode};
use support::Harness;

fn config() -> Config {
    let mut c = Config::default();
    c.reconnect.initial_delay_ms = 100;
    c.reconnect.max_delay_ms = 1_000;
    c.reconnect.stable_after_ms = 2_000;
    c.heartbeat.interval_ms = 0;
    c
}

fn open(config: Config) -> Harness {
    let mut h = Harness::new(config);
    h.connect();
    h.accept();
    assert_eq!(h.state_name(), "open");
    h
}

fn reconnect_delay(h: &Harness) -> u64 {
    match h.core.state() {
        ConnectionState::Reconnecting { delay_ms, .. } => *delay_ms,
        other => panic!("expected reconnecting, got {other:?}"),
    }
}

#[test]
fn handshake_then_open_and_every_transition_is_an_event() {
    let mut h = Harness::new(config());
    assert_eq!(h.state_name(), "idle");
    h.connect();
    assert_eq!(h.state_name(), "connecting");
    h.accept();
    assert_eq!(
        h.socket
            .as_ref()
            .and_then(|s| s.hello.clone())
            .map(|x| x.version),
        Some(1)
    );
    let states: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::State(s) => Some(s.name()),
            _ => None,
        })
        .collect();
    assert_eq!(states, vec!["connecting", "open"]);
}

#[test]
fn messages_sent_offline_flush_in_order_before_newer_ones() {
    let mut h = Harness::new(config());
    h.send("a").expect("queued");
    h.connect();
    h.send("b").expect("queued");
    assert!(h.delivered.is_empty());
    assert_eq!(h.core.metrics(h.now).queue_depth, 2);
    h.accept();
    h.send("c").expect("sent");
    assert_eq!(h.delivered, vec!["a", "b", "c"]);
    assert_eq!(h.core.metrics(h.now).messages_sent, 3);
}

#[test]
fn a_drop_reconnects_with_backoff_and_delivers_what_was_sent_meanwhile() {
    let mut h = open(config());
    h.send("before").expect("sent");
    h.server_close(close_code::ABNORMAL);
    let delay = reconnect_delay(&h);
    assert!((50..=100).contains(&delay), "first delay {delay}");
    h.send("during-1").expect("queued");
    h.send("during-2").expect("queued");
    h.advance(delay - 1);
    assert_eq!(h.opens, 1, "no retry before the delay");
    h.advance(1);
    assert_eq!(h.opens, 2);
    h.accept();
    assert_eq!(h.delivered, vec!["before", "during-1", "during-2"]);
    assert_eq!(h.core.metrics(h.now).reconnects, 1);
}

#[test]
fn failures_grow_the_delay_and_a_stable_connection_resets_it() {
    let mut c = config();
    c.reconnect.jitter = 0.0;
    let mut h = open(c);
    h.server_close(1006);
    assert_eq!(reconnect_delay(&h), 100);
    h.advance(100);
    h.server_close(1006);
    assert_eq!(reconnect_delay(&h), 200);
    h.advance(200);
    h.accept();
    h.advance(1_999);
    h.server_close(1006);
    assert_eq!(
        reconnect_delay(&h),
        400,
        "not stable yet: the counter keeps growing"
    );
    h.advance(400);
    h.accept();
    h.advance(2_000);
    h.server_close(1006);
    assert_eq!(
        reconnect_delay(&h),
        100,
        "stable for 2 s: the counter was reset"
    );
}

#[test]
fn max_attempts_closes_the_client() {
    let mut c = config();
    c.reconnect.max_attempts = Some(3);
    let mut h = Harness::new(c);
    h.connect();
    for _ in 0..3 {
        h.server_close(1006);
        h.advance(10_000);
    }
    assert_eq!(
        h.core.state(),
        &ConnectionState::Closed {
            reason: CloseReason::MaxAttempts { attempts: 3 }
        }
    );
    assert_eq!(h.opens, 3);
}

#[test]
fn close_stops_reconnecting_and_refuses_sends() {
    let mut h = open(config());
    h.server_close(1006);
    h.core.close();
    h.drive();
    h.advance(1_000_000);
    assert_eq!(h.opens, 1);
    assert_eq!(h.core.poll_timeout(), None);
    assert_eq!(h.send("late"), Err(ClientError::Closed));
}

#[test]
fn close_while_open_closes_the_socket_normally() {
    let mut h = open(config());
    h.core.close();
    h.drive();
    assert_eq!(
        h.closes,
        vec![(close_code::NORMAL, "client closed".to_owned())]
    );
    assert!(h.socket.is_none());
}

#[test]
fn reconnect_now_skips_the_wait_and_resets_backoff() {
    let mut h = open(config());
    h.server_close(1006);
    h.core.reconnect(h.now);
    h.drive();
    assert_eq!(h.opens, 2);
    assert_eq!(h.state_name(), "connecting");
    h.accept();
    h.core.reconnect(h.now);
    h.drive();
    assert_eq!(h.closes.last().map(|c| c.0), Some(close_code::RECONNECT));
    assert_eq!(h.opens, 3);
}

#[test]
fn connect_timeout_closes_and_retries() {
    let mut h = Harness::new(config());
    h.connect();
    h.advance(10_000);
    assert_eq!(
        h.closes.last().map(|c| c.0),
        Some(close_code::CONNECT_TIMEOUT)
    );
    assert!(h
        .events
        .contains(&Event::Error(ClientError::ConnectTimeout {
            timeout_ms: 10_000
        })));
    assert_eq!(h.state_name(), "reconnecting");
}

#[test]
fn missing_pong_declares_the_connection_dead() {
    let mut c = config();
    c.heartbeat.interval_ms = 1_000;
    c.heartbeat.timeout_ms = 500;
    let mut h = open(c);
    h.advance(1_000);
    let id = h.socket.as_ref().map(|s| s.pings.clone()).expect("socket");
    assert_eq!(id, vec![1]);
    h.now += 40;
    h.receive(Inbound::Pong { id: 1 });
    assert_eq!(h.core.metrics(h.now).rtt_ms, Some(40));
    h.advance(1_000);
    h.advance(500);
    assert_eq!(
        h.closes.last().map(|c| c.0),
        Some(close_code::HEARTBEAT_TIMEOUT)
    );
    assert_eq!(h.state_name(), "reconnecting");
}

#[test]
fn server_pings_are_answered() {
    let mut h = open(config());
    h.receive(Inbound::Ping { id: 9 });
    assert_eq!(h.socket.as_ref().map(|s| s.pongs.clone()), Some(vec![9]));
}

#[test]
fn unsupported_version_is_fatal_not_retried() {
    let mut h = Harness::new(config());
    h.connect();
    h.server_close(close_code::UNSUPPORTED_VERSION);
    assert!(matches!(
        h.core.state(),
        ConnectionState::Closed {
            reason: CloseReason::Rejected { code: 4001, .. }
        }
    ));
    h.advance(100_000);
    assert_eq!(h.opens, 1);
}

#[test]
fn bad_frames_raise_typed_errors_and_the_connection_stays_open() {
    let mut h = open(config());
    h.core.handle_malformed(h.now, "not json".into());
    h.receive(Inbound::Unknown {
        kind: "teleport".into(),
    });
    h.receive(Inbound::Error {
        id: None,
        room: None,
        body: ErrorBody {
            code: ErrorCode::BadFrame,
            message: "bad".into(),
        },
    });
    h.receive(Inbound::Message("still works".into()));
    let errors: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Error(err) => Some(err.code()),
            _ => None,
        })
        .collect();
    assert_eq!(errors, vec!["MalformedFrame", "UnknownKind", "ServerError"]);
    assert!(h.events.contains(&Event::Message("still works".into())));
    assert_eq!(h.state_name(), "open");
    assert_eq!(h.core.metrics(h.now).errors, 3);
}

#[test]
fn overflow_policies_never_drop_silently() {
    let mut c = config();
    c.queue.max_messages = 2;
    let mut h = Harness::new(c.clone());
    h.send("1").expect("queued");
    h.send("2").expect("queued");
    assert_eq!(
        h.send("3"),
        Err(ClientError::QueueFull { depth: 2, bytes: 2 })
    );

    c.queue.overflow = OverflowPolicy::DropOldest;
    let mut h = Harness::new(c);
    for m in ["1", "2", "3"] {
        h.send(m).expect("accepted");
    }
    assert!(h.events.contains(&Event::Dropped { count: 1, bytes: 1 }));
    h.connect();
    h.accept();
    assert_eq!(h.delivered, vec!["2", "3"]);
    assert_eq!(h.core.metrics(h.now).dropped, 1);
}

#[test]
fn oversize_messages_are_refused() {
    let mut c = config();
    c.max_message_bytes = 4;
    let mut h = open(c);
    assert_eq!(
        h.send("12345"),
        Err(ClientError::MessageTooLarge { size: 5, limit: 4 })
    );
    assert!(h.delivered.is_empty());
}

#[test]
fn unsent_frames_of_a_lazy_driver_return_to_the_queue_when_the_socket_dies() {
    let mut h = open(config());
    // The driver has not executed these sends yet when the socket closes.
    h.core.send("x".into()).expect("accepted");
    h.core.send("y".into()).expect("accepted");
    h.socket = None;
    h.core.handle_socket_closed(h.now, 1006, "gone");
    h.drive();
    assert!(h.delivered.is_empty());
    h.advance(1_000);
    h.accept();
    assert_eq!(h.delivered, vec!["x", "y"]);
}

#[test]
fn a_welcome_of_another_version_is_fatal() {
    let mut h = Harness::new(config());
    h.connect();
    h.open_socket();
    let welcome = resocket::protocol::Welcome {
        version: 2,
        session: "s".into(),
        token: String::new(),
        resumed: false,
        origin: None,
        expires_in: None,
        request_window: None,
    };
    h.core.handle_inbound(h.now, Inbound::Welcome(welcome), 0);
    h.drive();
    assert_eq!(
        h.closes.last().map(|c| c.0),
        Some(close_code::UNSUPPORTED_VERSION)
    );
    assert!(matches!(
        h.core.state(),
        ConnectionState::Closed {
            reason: CloseReason::Rejected { .. }
        }
    ));
    h.advance(100_000);
    assert_eq!(h.opens, 1);
}

#[test]
fn quality_is_offline_while_down_and_recovers_once_drops_age_out() {
    use resocket::core::quality::DROP_WINDOW_MS;
    use resocket::core::QualityLevel;

    let mut h = open(config());
    let fresh = h.core.metrics(h.now);
    assert_eq!(
        (fresh.quality_score, fresh.quality),
        (100, QualityLevel::Good)
    );

    h.server_close(close_code::ABNORMAL);
    let down = h.core.metrics(h.now);
    assert_eq!(
        (down.quality_score, down.quality),
        (0, QualityLevel::Offline)
    );

    let delay = reconnect_delay(&h);
    h.advance(delay);
    h.accept();
    let after_drop = h.core.metrics(h.now).quality_score;
    assert!(
        after_drop < 100,
        "a recent drop lowers the score: {after_drop}"
    );

    h.advance(DROP_WINDOW_MS);
    assert_eq!(h.core.metrics(h.now).quality_score, 100);
}
