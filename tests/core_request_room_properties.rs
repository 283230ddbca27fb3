//! Property tests of request correlation and room delivery over random event sequences.

#![cfg(not(target_arch = "wasm32"))]

mod support;

use proptest::prelude::*;
use resocket::core::{Config, DisconnectPolicy, Event, Inbound, RequestOptions};
use std::collections::{BTreeMap, VecDeque};
use support::Harness;

fn config(seed: u64) -> Config {
    let mut c = Config {
        seed: Some(seed),
        ..Config::default()
    };
    c.reconnect.initial_delay_ms = 10;
    c.reconnect.max_delay_ms = 200;
    c.heartbeat.interval_ms = 0;
    c.queue.max_messages = 10_000;
    c
}

#[derive(Debug, Clone)]
enum RequestStep {
    Request {
        timeout: Option<u64>,
        retry: bool,
    },
    /// The server answers one of the requests it received (maybe again).
    Reply(prop::sample::Index),
    Cancel(prop::sample::Index),
    Drop,
    Accept,
    Advance(u64),
}

fn request_step() -> impl Strategy<Value = RequestStep> {
    prop_oneof![
        4 => (prop::option::of(1u64..2_000), any::<bool>())
            .prop_map(|(timeout, retry)| RequestStep::Request { timeout, retry }),
        4 => any::<prop::sample::Index>().prop_map(RequestStep::Reply),
        1 => any::<prop::sample::Index>().prop_map(RequestStep::Cancel),
        2 => Just(RequestStep::Drop),
        3 => Just(RequestStep::Accept),
        2 => (0u64..1_000).prop_map(RequestStep::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Under random reply order, duplicate replies, timeouts, cancellations and drops, every
    /// accepted request settles exactly once.
    #[test]
    fn every_request_settles_exactly_once(
        steps in prop::collection::vec(request_step(), 0..100),
        seed in any::<u64>(),
    ) {
        let mut h = Harness::new(config(seed));
        h.connect();
        let mut accepted = Vec::new();
        // Ids the server received, across sockets: what it may answer.
        let mut received: Vec<u64> = Vec::new();
        let mut seen_on_sockets = 0;
        for step in steps {
            match step {
                RequestStep::Request { timeout, retry } => {
                    let id = h.core.allocate_request_id();
                    let options = RequestOptions {
                        timeout_ms: timeout,
                        on_disconnect: if retry { DisconnectPolicy::Retry } else { DisconnectPolicy::Fail },
                    };
                    if h.core.request(h.now, id, format!("r{id}"), options).is_ok() {
                        accepted.push(id);
                    }
                    h.drive();
                }
                RequestStep::Reply(pick) if !received.is_empty() => {
                    let id = received[pick.index(received.len())];
                    if h.socket.as_ref().is_some_and(|s| s.open && s.hello.is_some()) {
                        h.receive(Inbound::Reply { id, result: Ok(format!("ok{id}")) });
                    }
                }
                RequestStep::Reply(_) => {}
                RequestStep::Cancel(pick) if !accepted.is_empty() => {
                    h.core.cancel_request(accepted[pick.index(accepted.len())]);
                    h.drive();
                }
                RequestStep::Cancel(_) => {}
                RequestStep::Drop => { seen_on_sockets = 0; h.server_close(1006) }
                RequestStep::Accept => {
                    if h.socket.as_ref().is_some_and(|s| !s.open) { seen_on_sockets = 0; h.accept(); }
                }
                RequestStep::Advance(ms) => h.advance(ms),
            }
            if let Some(socket) = &h.socket {
                if seen_on_sockets > socket.requests.len() {
                    seen_on_sockets = 0; // a new socket replaced the old one
                }
                received.extend(socket.requests[seen_on_sockets..].iter().copied());
                seen_on_sockets = socket.requests.len();
            }
        }
        // Settle: connect, answer everything the server ever saw, let every timeout pass.
        if h.socket.is_none() { h.core.reconnect(h.now); h.drive(); }
        if h.socket.as_ref().is_some_and(|s| !s.open) { h.accept(); }
        let on_socket = h.socket.as_ref().map(|s| s.requests.clone()).unwrap_or_default();
        for id in received.iter().chain(on_socket.iter()) {
            h.receive(Inbound::Reply { id: *id, result: Ok(format!("ok{id}")) });
        }
        h.advance(10_000);

        let mut settled: BTreeMap<u64, usize> = BTreeMap::new();
        for event in &h.events {
            if let Event::Reply { id, .. } = event {
                *settled.entry(*id).or_default() += 1;
            }
        }
        for id in &accepted {
            prop_assert_eq!(settled.get(id).copied(), Some(1), "request {} settled {:?}", id, settled.get(id));
        }
        prop_assert_eq!(settled.len(), accepted.len());
        prop_assert_eq!(h.core.metrics(h.now).pending_requests, 0);
    }
}

#[derive(Debug, Clone)]
enum RoomStep {
    Publish,
    /// The server sends an old message again.
    Duplicate(prop::sample::Index),
    Drop,
    Accept,
    Advance(u64),
}

fn room_step() -> impl Strategy<Value = RoomStep> {
    prop_oneof![
        6 => Just(RoomStep::Publish),
        2 => any::<prop::sample::Index>().prop_map(RoomStep::Duplicate),
        1 => Just(RoomStep::Drop),
        2 => Just(RoomStep::Accept),
        1 => (0u64..500).prop_map(RoomStep::Advance),
    ]
}

/// A server room: sequence numbers, a bounded history and whether the client is a member.
struct ServerRoom {
    latest: u64,
    history: VecDeque<u64>,
    capacity: usize,
    member: bool,
    unrecovered: bool,
}

impl ServerRoom {
    /// Answers the client's latest join on the current socket, replaying when history covers it.
    fn answer_join(&mut self, h: &mut Harness) {
        let Some((_, room, since, _)) = h.socket.as_ref().and_then(|s| s.joins.last().cloned())
        else {
            return;
        };
        let oldest = self.history.front().copied().unwrap_or(self.latest + 1);
        let recovered = since.is_none_or(|s| s + 1 >= oldest);
        self.unrecovered |= !recovered;
        h.receive(Inbound::Joined {
            id: None,
            room: room.clone(),
            seq: self.latest,
            recovered,
            epoch: Some("e1".into()),
            members: vec![],
        });
        if let (true, Some(since)) = (recovered, since) {
            for seq in self
                .history
                .iter()
                .copied()
                .filter(|s| *s > since)
                .collect::<Vec<_>>()
            {
                h.receive(Inbound::RoomMessage {
                    room: room.clone(),
                    seq,
                    payload: seq.to_string(),
                    user: None,
                });
            }
        }
        self.member = true;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Room delivery never duplicates or reorders, and is gap-free whenever history covered
    /// every disconnect.
    #[test]
    fn room_delivery_is_ordered_duplicate_free_and_gap_free_when_covered(
        steps in prop::collection::vec(room_step(), 0..150),
        capacity in 1usize..40,
        seed in any::<u64>(),
    ) {
        let mut h = Harness::new(config(seed));
        h.core.join("room", None);
        h.connect();
        h.accept();
        let mut server = ServerRoom { latest: 0, history: VecDeque::new(), capacity, member: false, unrecovered: false };
        server.answer_join(&mut h);
        for step in steps {
            match step {
                RoomStep::Publish => {
                    server.latest += 1;
                    server.history.push_back(server.latest);
                    if server.history.len() > server.capacity { server.history.pop_front(); }
                    if server.member {
                        let seq = server.latest;
                        h.receive(Inbound::RoomMessage { room: "room".into(), seq, payload: seq.to_string(), user: None });
                    }
                }
                RoomStep::Duplicate(pick) if server.member && !server.history.is_empty() => {
                    let seq = server.history[pick.index(server.history.len())];
                    h.receive(Inbound::RoomMessage { room: "room".into(), seq, payload: seq.to_string(), user: None });
                }
                RoomStep::Duplicate(_) => {}
                RoomStep::Drop => { server.member = false; h.server_close(1006); }
                RoomStep::Accept => {
                    if h.socket.as_ref().is_some_and(|s| !s.open) { h.accept(); server.answer_join(&mut h); }
                }
                RoomStep::Advance(ms) => h.advance(ms),
            }
        }
        if h.socket.is_none() { h.core.reconnect(h.now); h.drive(); }
        if h.socket.as_ref().is_some_and(|s| !s.open) { h.accept(); server.answer_join(&mut h); }

        let seqs: Vec<u64> = h.events.iter().filter_map(|e| match e {
            Event::RoomMessage { seq, payload, .. } => { assert_eq!(payload, &seq.to_string()); Some(*seq) }
            _ => None,
        }).collect();
        prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]), "ordered, no duplicates: {:?}", seqs);
        if !server.unrecovered {
            let expected: Vec<u64> = (1..=server.latest).collect();
            prop_assert_eq!(seqs, expected, "gap-free while history covered every drop");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The browser driver's hot path: a room message that `handle_message` lets the driver
    /// deliver itself leaves the core quiet, whatever else is pending (pings, requests, a drop,
    /// a rejoin): no action, no event, and no deadline earlier than before. The driver relies on
    /// it to skip its pump after such a message (`_pump` in js/wasm/client.ts). Messages it
    /// delivers and those queued as events keep one order.
    #[test]
    fn a_message_delivered_directly_leaves_the_core_quiet(
        steps in prop::collection::vec(room_step(), 0..150),
        requests in prop::collection::vec(prop::option::of(1u64..3_000), 0..4),
        seed in any::<u64>(),
    ) {
        let mut config = config(seed);
        config.heartbeat.interval_ms = 400;
        config.heartbeat.timeout_ms = 300;
        let mut h = Harness::new(config);
        h.core.join("room", None);
        h.connect();
        h.accept();
        let mut server = ServerRoom { latest: 0, history: VecDeque::new(), capacity: 20, member: false, unrecovered: false };
        server.answer_join(&mut h);
        for timeout in requests {
            let id = h.core.allocate_request_id();
            let options = RequestOptions { timeout_ms: timeout, on_disconnect: DisconnectPolicy::Retry };
            h.core.request(h.now, id, format!("req-{id}"), options).expect("accepted");
            h.drive();
        }
        // Room messages as the app gets them: delivered directly, or handed out as events.
        let mut seqs = Vec::new();
        let handed_out = |h: &mut Harness, seqs: &mut Vec<u64>| {
            seqs.extend(h.take_events().into_iter().filter_map(|e| match e {
                Event::RoomMessage { seq, .. } => Some(seq),
                _ => None,
            }));
        };
        for step in steps {
            handed_out(&mut h, &mut seqs);
            let seq = match step {
                RoomStep::Publish => {
                    server.latest += 1;
                    server.history.push_back(server.latest);
                    if server.history.len() > server.capacity { server.history.pop_front(); }
                    server.latest
                }
                RoomStep::Duplicate(pick) if !server.history.is_empty() => {
                    server.history[pick.index(server.history.len())]
                }
                RoomStep::Duplicate(_) => continue,
                RoomStep::Drop => { server.member = false; h.server_close(1006); continue; }
                RoomStep::Accept => {
                    if h.socket.as_ref().is_some_and(|s| !s.open) { h.accept(); server.answer_join(&mut h); }
                    continue;
                }
                RoomStep::Advance(ms) => { h.advance(ms); continue; }
            };
            if !server.member { continue; }
            let deadline = h.core.poll_timeout();
            let now = h.now;
            if h.core.handle_message(|| now, Some(("room", seq)), 10, true, || (seq.to_string(), None)) {
                prop_assert!(h.core.poll_action().is_none(), "an action after a direct delivery");
                prop_assert!(h.core.poll_event().is_none(), "an event after a direct delivery");
                let after = h.core.poll_timeout();
                prop_assert!(after.is_none() || after >= deadline && deadline.is_some(), "deadline {:?} became {:?}", deadline, after);
                seqs.push(seq);
            } else {
                h.drive();
            }
        }
        handed_out(&mut h, &mut seqs);
        prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]), "ordered, no duplicates: {:?}", seqs);
    }
}
