//! Backpressure on the socket's send buffer, on virtual time: the core hands messages and
//! requests to the socket only while its `bufferedAmount` is under `max_buffered_bytes`, keeps
//! the rest in the offline queue, sends them in order as the buffer drains, and counts what a
//! socket that dies still held. The driver here models a browser socket's buffer: every frame
//! it sends is buffered, and the "network" drains it only when told to.

#![cfg(not(target_arch = "wasm32"))]

use resocket::core::{
    Action, ClientCore, ClientError, Config, DisconnectPolicy, Event, Inbound, OverflowPolicy,
    RequestOptions, Transmit, UserKind,
};
use resocket::protocol::Welcome;
use std::collections::VecDeque;

type Core = ClientCore<String, String>;

const LIMIT: usize = 1_000;
/// What a control frame (hello, ping, join...) weighs in the modelled buffer.
const CONTROL_BYTES: usize = 20;

/// A frame in the socket's send buffer: its bytes, and the user frame it is, if one.
struct Buffered {
    bytes: usize,
    user: Option<(String, UserKind)>,
}

struct Driver {
    core: Core,
    now: u64,
    open: bool,
    /// The socket's send buffer, oldest first (`bufferedAmount` is its byte sum).
    buffer: VecDeque<Buffered>,
    /// User frames that left the buffer (reached the server), in order.
    delivered: Vec<String>,
    /// Request ids that left the buffer.
    requests_delivered: Vec<u64>,
    /// The largest `bufferedAmount` seen right after a send.
    max_buffered: usize,
    events: Vec<Event<String>>,
}

fn config() -> Config {
    let mut c = Config {
        max_buffered_bytes: LIMIT,
        ..Config::default()
    };
    c.heartbeat.interval_ms = 0;
    c.queue.max_messages = 1_000;
    c.queue.max_bytes = 1024 * 1024;
    c
}

fn welcome(session: &str, resumed: bool) -> Welcome {
    Welcome {
        version: 1,
        session: session.into(),
        token: "t".into(),
        resumed,
        origin: Some("c-1".into()),
        expires_in: None,
        request_window: None,
    }
}

fn message(n: usize) -> String {
    // 100 bytes each.
    format!("{n:0>100}")
}

impl Driver {
    fn connected(config: Config) -> Self {
        let mut driver = Driver {
            core: Core::new(config, 1).expect("valid config"),
            now: 0,
            open: false,
            buffer: VecDeque::new(),
            delivered: Vec::new(),
            requests_delivered: Vec::new(),
            max_buffered: 0,
            events: Vec::new(),
        };
        driver.core.connect(0);
        driver.open_and_welcome("s-1", false);
        driver
    }

    fn open_and_welcome(&mut self, session: &str, resumed: bool) {
        self.drive();
        self.core.handle_socket_open(self.now);
        self.drive();
        self.core
            .handle_inbound(self.now, Inbound::Welcome(welcome(session, resumed)), 0);
        self.drive();
    }

    fn buffered_amount(&self) -> usize {
        self.buffer.iter().map(|b| b.bytes).sum()
    }

    /// What the browser driver does after every call: execute the actions, then report the
    /// send buffer whenever the core asks, until it asks no more.
    fn drive(&mut self) {
        loop {
            while let Some(action) = self.core.poll_action() {
                match action {
                    Action::Open { .. } => {
                        self.open = true;
                        self.buffer.clear();
                    }
                    Action::Close { .. } => {
                        let amount = self.buffered_amount();
                        self.core.handle_unsent_at_close(amount);
                        self.open = false;
                        self.buffer.clear();
                    }
                    Action::FetchToken { .. } => panic!("no token function"),
                    Action::Send(Transmit::User { frame, kind }) => {
                        assert!(self.open, "send without a socket");
                        self.buffer.push_back(Buffered {
                            bytes: frame.len(),
                            user: Some((frame, kind)),
                        });
                    }
                    Action::Send(_) => self.buffer.push_back(Buffered {
                        bytes: CONTROL_BYTES,
                        user: None,
                    }),
                }
                self.max_buffered = self.max_buffered.max(self.buffered_amount());
            }
            if !(self.open && self.core.needs_buffered_amount()) {
                break;
            }
            let amount = self.buffered_amount();
            self.core.handle_buffered(self.now, amount);
        }
        while let Some(event) = self.core.poll_event() {
            self.events.push(event);
        }
    }

    /// The network takes up to `bytes` from the buffer (whole frames).
    fn network_drains(&mut self, mut bytes: usize) {
        while let Some(front) = self.buffer.front() {
            if front.bytes > bytes {
                break;
            }
            bytes -= front.bytes;
            let front = self.buffer.pop_front().expect("front");
            match front.user {
                Some((_, UserKind::Request(id))) => self.requests_delivered.push(id),
                Some((frame, _)) => self.delivered.push(frame),
                None => {}
            }
        }
    }

    fn advance(&mut self, ms: u64) {
        let until = self.now + ms;
        while let Some(at) = self.core.poll_timeout().filter(|at| *at <= until) {
            self.now = self.now.max(at);
            self.core.handle_timeout(self.now);
            self.drive();
        }
        self.now = until;
    }

    /// The socket dies (network), holding what its buffer holds.
    fn socket_dies(&mut self) {
        let amount = self.buffered_amount();
        self.core.handle_unsent_at_close(amount);
        self.open = false;
        self.buffer.clear();
        self.core.handle_socket_closed(self.now, 1006, "gone");
        self.drive();
    }

    fn send(&mut self, frame: String) -> Result<(), ClientError> {
        let result = self.core.send(frame);
        self.drive();
        result
    }
}

#[test]
fn frames_are_held_back_while_the_buffer_is_full_and_sent_in_order_as_it_drains() {
    let mut d = Driver::connected(config());
    d.network_drains(usize::MAX); // the hello
    for n in 0..50 {
        d.send(message(n)).expect("accepted");
    }
    // The buffer never holds more than the limit plus one frame; the rest wait in the queue.
    assert!(d.max_buffered <= LIMIT + 100, "{}", d.max_buffered);
    assert_eq!(d.buffer.len(), 10);
    let metrics = d.core.metrics(d.now);
    assert_eq!(metrics.queue_depth, 40);
    assert_eq!(metrics.write_pauses, 1);
    assert_eq!(
        metrics.messages_sent, 10,
        "held-back messages are not counted sent"
    );
    assert_eq!(metrics.buffered_bytes, 1_000);

    // The network stays stuck: the drain timer keeps polling, nothing more goes out.
    d.advance(1_000);
    assert_eq!(d.buffer.len(), 10);
    assert!(d.delivered.is_empty());
    assert!(d.core.poll_timeout().is_some(), "the drain timer is armed");

    // It drains slowly: each poll releases as much as drained, in order.
    for _ in 0..40 {
        d.network_drains(150);
        d.advance(50);
        assert!(d.max_buffered <= LIMIT + 100, "{}", d.max_buffered);
    }
    d.network_drains(usize::MAX);
    d.advance(50);
    d.network_drains(usize::MAX);
    let expected: Vec<String> = (0..50).map(message).collect();
    assert_eq!(d.delivered, expected);
    let metrics = d.core.metrics(d.now);
    assert_eq!(metrics.queue_depth, 0);
    assert_eq!(metrics.messages_sent, 50);
    assert_eq!(metrics.write_pauses, 1, "one pause, however many polls");
    d.advance(10_000); // past the stable timer
    assert_eq!(
        d.core.poll_timeout(),
        None,
        "no drain timer once the queue is empty"
    );
}

#[test]
fn new_messages_wait_behind_held_back_ones_even_when_the_buffer_has_room() {
    let mut d = Driver::connected(config());
    d.network_drains(usize::MAX);
    for n in 0..15 {
        d.send(message(n)).expect("accepted");
    }
    assert_eq!(d.core.metrics(d.now).queue_depth, 5);
    // The buffer drains but nobody reads it yet: a new send still goes behind the queue.
    d.network_drains(usize::MAX);
    d.send(message(15)).expect("accepted");
    d.network_drains(usize::MAX);
    d.advance(50);
    d.network_drains(usize::MAX);
    let expected: Vec<String> = (0..16).map(message).collect();
    assert_eq!(d.delivered, expected);
}

#[test]
fn a_socket_that_dies_counts_what_it_held_and_the_held_back_frames_go_out_next_time() {
    let mut d = Driver::connected(config());
    d.network_drains(usize::MAX);
    for n in 0..30 {
        d.send(message(n)).expect("accepted");
    }
    // Three frames reach the server; seven are in the buffer when the socket dies.
    d.network_drains(300);
    d.socket_dies();
    let metrics = d.core.metrics(d.now);
    assert_eq!(metrics.unsent_frames, 7);
    assert_eq!(metrics.unsent_bytes, 700);
    assert_eq!(metrics.buffered_bytes, 0);
    assert_eq!(
        metrics.queue_depth, 20,
        "what was held back is still queued"
    );

    d.advance(60_000);
    d.open_and_welcome("s-1", true);
    for _ in 0..10 {
        d.network_drains(usize::MAX);
        d.advance(50);
    }
    // The seven the dead socket held are lost (messages); everything held back arrives, in order.
    let mut expected: Vec<String> = (0..3).map(message).collect();
    expected.extend((10..30).map(message));
    assert_eq!(d.delivered, expected);
}

#[test]
fn a_request_held_back_is_not_in_flight_so_a_drop_does_not_fail_it() {
    let mut d = Driver::connected(config());
    d.network_drains(usize::MAX);
    for n in 0..10 {
        d.send(message(n)).expect("accepted");
    }
    let fail_on_drop = RequestOptions {
        timeout_ms: None,
        on_disconnect: DisconnectPolicy::Fail,
    };
    let id = d.core.allocate_request_id();
    d.core
        .request(d.now, id, r#"{"type":"req"}"#.into(), fail_on_drop)
        .expect("accepted");
    d.drive();
    assert_eq!(d.core.metrics(d.now).queue_depth, 1, "held back");
    d.socket_dies();
    assert!(
        !d.events.iter().any(|e| matches!(e, Event::Reply { .. })),
        "never sent, so the disconnect policy does not apply"
    );
    d.advance(60_000);
    d.open_and_welcome("s-1", true);
    d.network_drains(usize::MAX);
    assert_eq!(d.requests_delivered, vec![id]);
}

#[test]
fn the_queue_bounds_apply_to_frames_held_back() {
    let mut c = config();
    c.queue.max_messages = 5;
    c.queue.overflow = OverflowPolicy::Reject;
    let mut d = Driver::connected(c);
    d.network_drains(usize::MAX);
    for n in 0..15 {
        d.send(message(n))
            .expect("10 in the buffer, 5 in the queue");
    }
    assert!(matches!(
        d.send(message(15)),
        Err(ClientError::QueueFull { depth: 5, .. })
    ));
}

#[test]
fn a_buffer_limit_of_zero_is_refused() {
    let c = Config {
        max_buffered_bytes: 0,
        ..Config::default()
    };
    assert_eq!(
        c.validate().map_err(|e| e.message()),
        Err("maxBufferedBytes must be greater than 0".to_string())
    );
}
