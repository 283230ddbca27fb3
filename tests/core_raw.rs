//! Raw mode on virtual time: a client for any WebSocket server. The socket's open event opens
//! the connection (no hello), the open frames go before anything queued, inbound frames are
//! counted and delivered as they are, the heartbeat runs only with a ping frame (its pong is the
//! predicate's verdict, or any frame), and the resocket features are refused.

#![cfg(not(target_arch = "wasm32"))]

mod support;

use resocket::core::{ClientError, Config, Event, HeartbeatConfig, Mode, RequestOptions};
use resocket::protocol::close_code;
use support::Harness;

fn raw_config() -> Config {
    Config {
        mode: Mode::Raw,
        heartbeat: HeartbeatConfig {
            interval_ms: 1_000,
            timeout_ms: 500,
        },
        ..Config::default()
    }
}

fn raw(open_frames: &[&str], ping: Option<&str>) -> Harness {
    let mut h = Harness::new(raw_config());
    h.core
        .set_open_frames(open_frames.iter().map(|f| f.to_string()).collect());
    h.core.set_ping_frame(ping.map(str::to_owned));
    h
}

/// A frame from the server, with the pong verdict a driver's predicate gave (`None`: no
/// predicate).
fn frame(h: &mut Harness, text: &str, pong: Option<bool>) {
    h.core
        .handle_raw_frame(h.now, text.to_owned(), text.len(), pong);
    h.drive();
}

#[test]
fn opens_without_hello_and_sends_open_frames_before_queued_ones() {
    let mut h = raw(&["SUB a", "SUB b"], None);
    h.send("queued 1").unwrap();
    h.send("queued 2").unwrap();
    h.connect();
    assert_eq!(h.state_name(), "connecting");
    h.open_socket();
    assert_eq!(h.state_name(), "open");
    assert!(h.socket().hello.is_none(), "no hello in raw mode");
    assert_eq!(
        h.socket().frames,
        ["SUB a", "SUB b", "queued 1", "queued 2"]
    );
    h.send("live").unwrap();
    assert_eq!(h.socket().frames.last().map(String::as_str), Some("live"));
    // Open frames are control frames: not counted as messages.
    assert_eq!(h.core.metrics(h.now).messages_sent, 3);

    // A drop: the next open re-subscribes first, with the list as changed meanwhile.
    h.server_close(1006);
    assert_eq!(h.state_name(), "reconnecting");
    h.core.set_open_frames(vec!["SUB c".into()]);
    h.send("offline").unwrap();
    h.advance(60_000);
    h.open_socket();
    assert_eq!(h.socket().frames, ["SUB c", "offline"]);
    assert_eq!(h.core.metrics(h.now).reconnects, 1);
}

#[test]
fn inbound_frames_are_counted_and_delivered_as_they_are() {
    let mut h = raw(&[], None);
    h.connect();
    h.open_socket();
    h.take_events();
    frame(&mut h, "{\"e\":\"trade\"}", None);
    frame(&mut h, "pong", None);
    let messages: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(messages, ["{\"e\":\"trade\"}", "pong"]);
    let metrics = h.core.metrics(h.now);
    assert_eq!(metrics.messages_received, 2);
    assert_eq!(metrics.bytes_received, 17);
}

#[test]
fn no_heartbeat_without_a_ping_frame() {
    let mut h = raw(&[], None);
    h.connect();
    h.open_socket();
    h.advance(10_000);
    assert_eq!(h.state_name(), "open");
    assert!(h.socket().raw.is_empty());
}

#[test]
fn heartbeat_with_a_pong_predicate_closes_when_only_other_frames_arrive() {
    let mut h = raw(&[], Some("ping"));
    h.connect();
    h.open_socket();
    h.advance(1_000);
    assert_eq!(h.socket().raw, ["ping"]);
    // The predicate accepts the pong: the next ping comes an interval later.
    h.advance(100);
    frame(&mut h, "pong", Some(true));
    assert!(h
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::Rtt { rtt_ms: 100, .. })));
    h.advance(1_000);
    assert_eq!(h.socket().raw, ["ping", "ping"]);
    // Trades flow but no pong: dead after the timeout, closed with 4003, then reconnecting.
    h.advance(200);
    frame(&mut h, "trade", Some(false));
    h.advance(299);
    assert_eq!(h.state_name(), "open");
    h.advance(1);
    assert_eq!(
        h.closes.last().map(|c| c.0),
        Some(close_code::HEARTBEAT_TIMEOUT)
    );
    assert_eq!(h.state_name(), "reconnecting");
    assert!(h.take_events().iter().any(|e| matches!(
        e,
        Event::Error(ClientError::HeartbeatTimeout { timeout_ms: 500 })
    )));
}

#[test]
fn heartbeat_without_a_predicate_takes_any_frame_as_the_pong() {
    let mut h = raw(&[], Some("{\"op\":\"ping\"}"));
    h.connect();
    h.open_socket();
    h.advance(1_000);
    h.advance(400);
    frame(&mut h, "anything", None);
    h.advance(1_000);
    assert_eq!(h.state_name(), "open");
    assert_eq!(h.socket().raw.len(), 2);
    h.advance(500);
    assert_eq!(h.state_name(), "reconnecting");
}

#[test]
fn server_close_codes_are_drops_never_fatal() {
    let mut h = raw(&[], None);
    h.connect();
    h.open_socket();
    h.server_close(close_code::UNAUTHORIZED);
    assert_eq!(h.state_name(), "reconnecting");
    h.advance(60_000);
    h.open_socket();
    h.server_close(close_code::RESUMED_ELSEWHERE);
    assert_eq!(h.state_name(), "reconnecting");
}

#[test]
fn requests_rooms_and_documents_are_refused() {
    let mut h = raw(&[], None);
    h.connect();
    h.open_socket();
    let id = h.core.allocate_request_id();
    let refused = h
        .core
        .request(h.now, id, "req".into(), RequestOptions::default());
    assert_eq!(refused, Err(ClientError::NotSupported { what: "request" }));
    assert_eq!(
        h.core.publish(h.now, id, "pub".into()),
        Err(ClientError::NotSupported { what: "request" })
    );
    h.core.join("room", None);
    h.core.open_doc("doc");
    h.drive();
    assert!(h.socket().joins.is_empty());
    assert!(h.socket().syncs.is_empty());
    assert!(h.socket().frames.is_empty());
}

#[test]
fn a_token_is_refused_in_raw_mode() {
    let config = Config {
        token: resocket::core::TokenSource::Static("t".into()),
        ..raw_config()
    };
    assert!(resocket::core::ClientCore::<String, String>::new(config, 1).is_err());
}
