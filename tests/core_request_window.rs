//! The server's request window in the sans-IO core, under virtual time: a burst never has more
//! requests in flight than `welcome.requestWindow`, the rest wait in the queue, and after a drop
//! each request in flight is re-sent once.

#![cfg(not(target_arch = "wasm32"))]

mod support;

use resocket::core::{ClientError, Config, Event, Inbound, OverflowPolicy, RequestOptions};
use resocket::protocol::{ErrorBody, ErrorCode, Welcome};
use std::collections::{BTreeMap, BTreeSet};
use support::Harness;

const WINDOW: u64 = 256;
const BURST: u64 = 2000;

fn config() -> Config {
    let mut c = Config::default();
    c.reconnect.initial_delay_ms = 100;
    c.reconnect.max_delay_ms = 100;
    c.reconnect.jitter = 0.0;
    c.heartbeat.interval_ms = 0;
    c.queue.max_messages = 4096;
    c.queue.max_bytes = 1 << 20;
    c
}

fn welcome(session: &str, resumed: bool, request_window: Option<u64>) -> Welcome {
    Welcome {
        version: 1,
        session: session.into(),
        token: format!("token-{session}"),
        resumed,
        origin: None,
        expires_in: None,
        request_window,
    }
}

fn open(request_window: Option<u64>) -> Harness {
    let mut h = Harness::new(config());
    h.connect();
    h.open_socket();
    h.welcome_with(welcome("s-1", false, request_window));
    h
}

fn no_timeout() -> RequestOptions {
    RequestOptions {
        timeout_ms: None,
        ..RequestOptions::default()
    }
}

fn request(h: &mut Harness, options: RequestOptions) -> Result<u64, ClientError> {
    let id = h.core.allocate_request_id();
    h.core
        .request(h.now, id, format!("req-{id}"), options)
        .map(|()| id)
}

/// The settled replies by id.
fn replies(h: &Harness) -> BTreeMap<u64, Result<String, &'static str>> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::Reply { id, result } => Some((*id, result.clone().map_err(|e| e.code()))),
            _ => None,
        })
        .collect()
}

/// A server that runs each request id once per session and answers from its record, playing
/// the far end of the harness's socket. `sent` counts how often each id reached it.
#[derive(Default)]
struct Server {
    /// Requests the socket delivered, position in `socket.requests` already read.
    read: usize,
    /// Received and not answered, oldest first.
    unanswered: Vec<u64>,
    ran: BTreeSet<u64>,
    sent: BTreeMap<u64, u32>,
    most_in_flight: usize,
}

impl Server {
    /// Reads what the current socket delivered since the last call.
    fn receive(&mut self, h: &Harness) {
        let Some(socket) = h.socket.as_ref() else {
            return;
        };
        for id in &socket.requests[self.read..] {
            *self.sent.entry(*id).or_default() += 1;
            self.ran.insert(*id);
            if !self.unanswered.contains(id) {
                self.unanswered.push(*id);
            }
        }
        self.read = socket.requests.len();
        self.most_in_flight = self.most_in_flight.max(self.unanswered.len());
    }

    /// Answers the `n` oldest requests it holds.
    fn answer(&mut self, h: &mut Harness, n: usize) {
        let batch: Vec<u64> = self
            .unanswered
            .drain(..n.min(self.unanswered.len()))
            .collect();
        for id in batch {
            h.receive(Inbound::Reply {
                id,
                result: Ok(format!("ran-{id}")),
            });
            self.receive(h);
        }
    }

    /// A new socket: delivered requests are counted from its start.
    fn reconnected(&mut self) {
        self.read = 0;
    }
}

#[test]
fn a_burst_never_has_more_requests_in_flight_than_the_window() {
    let mut h = open(Some(WINDOW));
    let mut server = Server::default();
    for _ in 0..BURST {
        request(&mut h, no_timeout()).expect("accepted");
        h.drive();
        server.receive(&h);
    }
    assert_eq!(server.unanswered.len() as u64, WINDOW);
    assert_eq!(h.core.metrics(h.now).queue_depth, BURST - WINDOW);
    // Replies come back in uneven batches; each frees a place for the next waiting request.
    let mut batch = 1;
    while !server.unanswered.is_empty() {
        server.answer(&mut h, batch);
        batch = batch % 97 + 13;
    }
    assert_eq!(server.most_in_flight as u64, WINDOW);
    let replies = replies(&h);
    assert_eq!(replies.len() as u64, BURST);
    assert!(replies.values().all(Result::is_ok));
    assert!(server.sent.values().all(|n| *n == 1), "each id sent once");
    assert_eq!(h.core.metrics(h.now).queue_depth, 0);
}

#[test]
fn after_a_drop_each_request_in_flight_is_resent_once_and_the_rest_still_wait() {
    let mut h = open(Some(WINDOW));
    let mut server = Server::default();
    for _ in 0..BURST {
        request(&mut h, no_timeout()).expect("accepted");
    }
    h.drive();
    server.receive(&h);
    // 100 answered, then the connection drops before any other reply.
    server.answer(&mut h, 100);
    let in_flight: Vec<u64> = server.unanswered.clone();
    assert_eq!(in_flight.len() as u64, WINDOW);

    h.server_close(1006);
    h.advance(100);
    h.open_socket();
    server.reconnected();
    h.welcome_with(welcome("s-1", true, Some(WINDOW)));
    server.receive(&h);
    // The new socket carries exactly the requests that were in flight, once each, first.
    let resent = h.socket().requests.clone();
    assert_eq!(resent, in_flight);

    while !server.unanswered.is_empty() {
        server.answer(&mut h, 50);
    }
    assert_eq!(server.most_in_flight as u64, WINDOW);
    let replies = replies(&h);
    assert_eq!(replies.len() as u64, BURST);
    assert!(replies.values().all(Result::is_ok));
    assert_eq!(server.ran.len() as u64, BURST);
    let twice: Vec<u64> = server
        .sent
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(
        twice, in_flight,
        "only the requests in flight were sent again, once"
    );
}

#[test]
fn without_a_window_every_request_goes_out_at_once() {
    let mut h = open(None);
    let mut server = Server::default();
    for _ in 0..BURST {
        request(&mut h, no_timeout()).expect("accepted");
    }
    h.drive();
    server.receive(&h);
    assert_eq!(server.unanswered.len() as u64, BURST);
}

#[test]
fn a_zero_window_still_lets_one_request_through() {
    let mut h = open(Some(0));
    let mut server = Server::default();
    for _ in 0..3 {
        request(&mut h, no_timeout()).expect("accepted");
    }
    h.drive();
    server.receive(&h);
    assert_eq!(server.unanswered.len(), 1);
    server.answer(&mut h, 1);
    assert_eq!(server.unanswered.len(), 1);
}

#[test]
fn waiting_requests_time_out_or_cancel_without_going_out_and_free_nothing() {
    let mut h = open(Some(2));
    let mut server = Server::default();
    let short = RequestOptions {
        timeout_ms: Some(1000),
        ..RequestOptions::default()
    };
    let first = request(&mut h, no_timeout()).expect("accepted");
    let second = request(&mut h, no_timeout()).expect("accepted");
    let times_out = request(&mut h, short).expect("accepted");
    let cancelled = request(&mut h, no_timeout()).expect("accepted");
    let last = request(&mut h, no_timeout()).expect("accepted");
    h.drive();
    server.receive(&h);
    assert_eq!(server.unanswered, vec![first, second]);
    h.core.cancel_request(cancelled);
    h.advance(1000);
    server.receive(&h);
    assert_eq!(
        server.unanswered,
        vec![first, second],
        "the window is still full"
    );
    server.answer(&mut h, 1);
    assert_eq!(server.unanswered, vec![second, last]);
    let replies = replies(&h);
    assert_eq!(replies[&times_out], Err("Timeout"));
    assert_eq!(replies[&cancelled], Err("Aborted"));
    assert!(!server.sent.contains_key(&times_out) && !server.sent.contains_key(&cancelled));
}

#[test]
fn a_full_queue_refuses_requests_beyond_the_window_with_a_typed_error() {
    let mut c = config();
    c.queue.max_messages = 2;
    c.queue.overflow = OverflowPolicy::Reject;
    let mut h = Harness::new(c);
    h.connect();
    h.open_socket();
    h.welcome_with(welcome("s-1", false, Some(1)));
    request(&mut h, no_timeout()).expect("in flight");
    request(&mut h, no_timeout()).expect("waits");
    request(&mut h, no_timeout()).expect("waits");
    assert!(matches!(
        request(&mut h, no_timeout()),
        Err(ClientError::QueueFull { depth: 2, .. })
    ));
}

#[test]
fn an_expired_request_settles_with_the_typed_error_and_frees_its_place() {
    let mut h = open(Some(1));
    let mut server = Server::default();
    let old = request(&mut h, no_timeout()).expect("accepted");
    let next = request(&mut h, no_timeout()).expect("accepted");
    h.drive();
    server.receive(&h);
    h.receive(Inbound::Reply {
        id: old,
        result: Err(ErrorBody {
            code: ErrorCode::Expired,
            message: "too old".into(),
        }),
    });
    server.receive(&h);
    assert_eq!(replies(&h)[&old], Err("Expired"));
    assert!(server.sent.contains_key(&next));
}
