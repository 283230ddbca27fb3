//! Scenario tests of requests, sessions and rooms in the sans-IO core, under virtual time.

#![cfg(not(target_arch = "wasm32"))]

mod support;

use resocket::core::{
    ClientError, Config, DisconnectPolicy, Event, Inbound, RequestOptions, RoomState,
};
use resocket::protocol::{ErrorBody, ErrorCode, Member, PresenceChange};
use support::Harness;

fn config() -> Config {
    let mut c = Config::default();
    c.reconnect.initial_delay_ms = 100;
    c.reconnect.max_delay_ms = 100;
    c.reconnect.jitter = 0.0;
    c.heartbeat.interval_ms = 0;
    c
}

fn open() -> Harness {
    let mut h = Harness::new(config());
    h.connect();
    h.accept();
    h
}

fn options(timeout_ms: Option<u64>, on_disconnect: DisconnectPolicy) -> RequestOptions {
    RequestOptions {
        timeout_ms,
        on_disconnect,
    }
}

fn request(h: &mut Harness, options: RequestOptions) -> u64 {
    let id = h.core.allocate_request_id();
    h.core
        .request(h.now, id, format!("req-{id}"), options)
        .expect("accepted");
    h.drive();
    id
}

fn replies(h: &Harness) -> Vec<(u64, Result<String, &'static str>)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::Reply { id, result } => Some((*id, result.clone().map_err(|e| e.code()))),
            _ => None,
        })
        .collect()
}

fn room_states(h: &Harness, room: &str) -> Vec<RoomState> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::Room { room: r, state } if r == room => Some(state.clone()),
            _ => None,
        })
        .collect()
}

fn room_messages(h: &Harness) -> Vec<(String, u64, String)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::RoomMessage {
                room, seq, payload, ..
            } => Some((room.clone(), *seq, payload.clone())),
            _ => None,
        })
        .collect()
}

fn reconnect(h: &mut Harness) {
    h.server_close(1006);
    h.advance(100);
    h.accept();
}

#[test]
fn a_reply_settles_its_request_once_and_unknown_replies_are_counted() {
    let mut h = open();
    let id = request(&mut h, RequestOptions::default());
    assert_eq!(h.socket().requests, vec![id]);
    h.receive(Inbound::Reply {
        id,
        result: Ok("6".into()),
    });
    h.receive(Inbound::Reply {
        id,
        result: Ok("6".into()),
    });
    h.receive(Inbound::Reply {
        id: 99,
        result: Ok("?".into()),
    });
    assert_eq!(replies(&h), vec![(id, Ok("6".into()))]);
    assert_eq!(h.core.metrics(h.now).unknown_replies, 2);
    assert_eq!(h.core.metrics(h.now).pending_requests, 0);
}

#[test]
fn server_errors_are_typed_by_code() {
    let mut h = open();
    let id = request(&mut h, RequestOptions::default());
    let body = ErrorBody {
        code: ErrorCode::NotFound,
        message: "no method".into(),
    };
    h.receive(Inbound::Reply {
        id,
        result: Err(body),
    });
    assert_eq!(replies(&h), vec![(id, Err("NotFound"))]);
}

#[test]
fn a_timeout_settles_once_and_frees_the_slot() {
    let mut h = open();
    let id = request(&mut h, options(Some(500), DisconnectPolicy::Retry));
    h.advance(499);
    assert!(replies(&h).is_empty());
    h.advance(1);
    assert_eq!(replies(&h), vec![(id, Err("Timeout"))]);
    h.receive(Inbound::Reply {
        id,
        result: Ok("late".into()),
    });
    assert_eq!(replies(&h).len(), 1);
    assert_eq!(h.core.metrics(h.now).pending_requests, 0);
}

#[test]
fn cancel_aborts_and_a_cancelled_queued_request_is_never_sent() {
    let mut h = Harness::new(config());
    let id = request(&mut h, RequestOptions::default());
    h.core.cancel_request(id);
    h.core.cancel_request(id);
    h.drive();
    h.connect();
    h.accept();
    assert!(h.socket().requests.is_empty());
    assert_eq!(replies(&h), vec![(id, Err("Aborted"))]);
}

#[test]
fn retry_requests_are_resent_with_the_same_id_first_and_fail_requests_reject() {
    let mut h = open();
    let retry = request(&mut h, options(None, DisconnectPolicy::Retry));
    let fail = request(&mut h, options(None, DisconnectPolicy::Fail));
    h.server_close(1006);
    assert_eq!(replies(&h), vec![(fail, Err("Disconnected"))]);
    let queued = request(&mut h, options(None, DisconnectPolicy::Fail));
    h.send("msg").expect("queued");
    h.advance(100);
    h.accept();
    assert_eq!(
        h.socket().requests,
        vec![retry, queued],
        "retry first, in order"
    );
    assert_eq!(h.delivered, vec!["msg"]);
    h.receive(Inbound::Reply {
        id: retry,
        result: Ok("done".into()),
    });
    assert_eq!(replies(&h).last(), Some(&(retry, Ok("done".into()))));
}

#[test]
fn sent_requests_are_not_resent_to_a_new_session() {
    let mut h = open();
    let sent = request(&mut h, options(None, DisconnectPolicy::Retry));
    h.server_close(1006);
    let queued = request(&mut h, options(None, DisconnectPolicy::Retry));
    h.advance(100);
    h.open_socket();
    h.welcome_session("s-2", false); // the server forgot the session
    assert_eq!(
        h.socket().requests,
        vec![queued],
        "never sent before, so safe to send"
    );
    assert_eq!(replies(&h), vec![(sent, Err("SessionLost"))]);
}

#[test]
fn the_session_is_resumed_and_a_lost_one_is_reported() {
    let mut h = Harness::new(config());
    h.connect();
    h.open_socket();
    assert_eq!(
        h.socket().hello.as_ref().and_then(|x| x.resume.clone()),
        None
    );
    h.welcome_session("s-7", false);
    h.server_close(1006);
    h.advance(100);
    h.open_socket();
    let resume = h
        .socket()
        .hello
        .as_ref()
        .and_then(|x| x.resume.clone())
        .expect("resume");
    assert_eq!(
        (resume.session.as_str(), resume.token.as_str()),
        ("s-7", "token-s-7")
    );
    h.welcome_session("s-8", false);
    let sessions: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Session { id, resumed, lost } => Some((id.clone(), *resumed, *lost)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sessions,
        vec![("s-7".into(), false, false), ("s-8".into(), false, true)]
    );
}

#[test]
fn joins_are_ref_counted() {
    let mut h = open();
    h.core.join("chat", None);
    h.core.join("chat", None);
    h.drive();
    assert_eq!(h.socket().joins.len(), 1);
    h.core.leave("chat");
    h.drive();
    assert!(h.socket().leaves.is_empty());
    h.core.leave("chat");
    h.drive();
    assert_eq!(h.socket().leaves, vec!["chat"]);
    assert_eq!(
        room_states(&h, "chat"),
        vec![RoomState::Joining, RoomState::Left]
    );
}

#[test]
fn rooms_join_on_open_deliver_by_sequence_and_rejoin_with_since_after_a_drop() {
    let mut h = Harness::new(config());
    h.core.join("chat", Some("{\"name\":\"a\"}".into()));
    h.connect();
    h.accept();
    let (join_id, _, since, meta) = h.socket().joins[0].clone();
    assert_eq!((since, meta.as_deref()), (None, Some("{\"name\":\"a\"}")));
    let _ = join_id;
    h.receive(joined("chat", 10, true, "e1"));
    for seq in [11, 12, 12, 11] {
        h.receive(Inbound::RoomMessage {
            room: "chat".into(),
            seq,
            payload: format!("m{seq}"),
            user: None,
        });
    }
    reconnect(&mut h);
    assert_eq!(
        h.socket().joins[0].2,
        Some(12),
        "rejoin from the last seen sequence"
    );
    h.receive(joined("chat", 14, true, "e1"));
    for seq in [12, 13, 14] {
        h.receive(Inbound::RoomMessage {
            room: "chat".into(),
            seq,
            payload: format!("m{seq}"),
            user: None,
        });
    }
    let seqs: Vec<u64> = room_messages(&h).iter().map(|m| m.1).collect();
    assert_eq!(seqs, vec![11, 12, 13, 14]);
    assert_eq!(h.core.metrics(h.now).duplicates, 3);
    assert_eq!(
        room_states(&h, "chat"),
        vec![
            RoomState::Joining,
            RoomState::Joined { recovered: true },
            RoomState::Rejoining,
            RoomState::Joined { recovered: true }
        ]
    );
}

#[test]
fn a_join_with_history_replays_the_newest_messages_once_and_a_rejoin_uses_since() {
    let mut h = open();
    h.core.join_with_history("chat", None, Some(3));
    h.drive();
    assert_eq!(h.socket().join_histories, vec![Some(3)]);
    assert_eq!(h.socket().joins[0].2, None);
    h.receive(joined("chat", 5, true, "e1"));
    // The replay (3..=5), a duplicate, then live messages.
    for seq in [3, 4, 5, 5, 6] {
        h.receive(Inbound::RoomMessage {
            room: "chat".into(),
            seq,
            payload: format!("m{seq}"),
            user: Some("\"alice\"".into()),
        });
    }
    let seqs: Vec<u64> = room_messages(&h).iter().map(|m| m.1).collect();
    assert_eq!(seqs, vec![3, 4, 5, 6]);
    reconnect(&mut h);
    assert_eq!(
        h.socket().joins[0].2,
        Some(6),
        "a rejoin recovers with since"
    );
    assert_eq!(h.socket().join_histories, vec![None], "not history again");
}

#[test]
fn history_is_asked_again_when_the_connection_drops_before_joined() {
    let mut h = open();
    h.core.join_with_history("chat", None, Some(50));
    h.drive();
    reconnect(&mut h);
    assert_eq!(h.socket().join_histories, vec![Some(50)]);
    // Fewer messages than asked for: the room's first message is still delivered.
    h.receive(joined("chat", 2, true, "e1"));
    for seq in [1, 2] {
        h.receive(Inbound::RoomMessage {
            room: "chat".into(),
            seq,
            payload: format!("m{seq}"),
            user: None,
        });
    }
    let seqs: Vec<u64> = room_messages(&h).iter().map(|m| m.1).collect();
    assert_eq!(seqs, vec![1, 2]);
}

#[test]
fn an_unrecovered_rejoin_is_reported_and_continues_from_the_server_position() {
    let mut h = open();
    h.core.join("feed", None);
    h.drive();
    h.receive(joined("feed", 0, true, "e1"));
    h.receive(Inbound::RoomMessage {
        room: "feed".into(),
        seq: 1,
        payload: "a".into(),
        user: None,
    });
    reconnect(&mut h);
    h.receive(Inbound::Joined {
        id: None,
        room: "feed".into(),
        seq: 500,
        recovered: false,
        epoch: Some("e1".into()),
        members: vec![],
    });
    h.receive(Inbound::RoomMessage {
        room: "feed".into(),
        seq: 500,
        payload: "old".into(),
        user: None,
    });
    h.receive(Inbound::RoomMessage {
        room: "feed".into(),
        seq: 501,
        payload: "new".into(),
        user: None,
    });
    let seqs: Vec<u64> = room_messages(&h).iter().map(|m| m.1).collect();
    assert_eq!(seqs, vec![1, 501]);
    assert_eq!(
        room_states(&h, "feed").last(),
        Some(&RoomState::Joined { recovered: false })
    );
}

#[test]
fn a_refused_join_is_an_error_state() {
    let mut h = open();
    h.core.join("private:bob", None);
    h.drive();
    let id = h.socket().joins[0].0;
    h.receive(Inbound::Error {
        id: Some(id),
        room: Some("private:bob".into()),
        body: ErrorBody {
            code: ErrorCode::Forbidden,
            message: "not yours".into(),
        },
    });
    assert_eq!(
        room_states(&h, "private:bob").last(),
        Some(&RoomState::Error {
            code: "forbidden".into(),
            message: "not yours".into()
        })
    );
}

#[test]
fn presence_tracks_members() {
    let mut h = open();
    h.core.join("chat", None);
    h.drive();
    let me = Member {
        id: "s-1".into(),
        user: Some("me".into()),
        meta: None,
    };
    h.receive(Inbound::Joined {
        id: None,
        room: "chat".into(),
        seq: 0,
        recovered: true,
        epoch: Some("e1".into()),
        members: vec![me],
    });
    let other = |meta: &str| Member {
        id: "s-2".into(),
        user: Some("bo".into()),
        meta: Some(meta.into()),
    };
    h.receive(Inbound::Presence {
        room: "chat".into(),
        change: PresenceChange::Join,
        member: other("idle"),
    });
    h.receive(Inbound::Presence {
        room: "chat".into(),
        change: PresenceChange::Update,
        member: other("typing"),
    });
    let members = |h: &Harness| -> Vec<(String, Option<String>)> {
        h.core
            .room("chat")
            .expect("room")
            .members
            .values()
            .map(|m| (m.id.clone(), m.meta.clone()))
            .collect()
    };
    assert_eq!(
        members(&h),
        vec![("s-1".into(), None), ("s-2".into(), Some("typing".into()))]
    );
    h.receive(Inbound::Presence {
        room: "chat".into(),
        change: PresenceChange::Leave,
        member: other("typing"),
    });
    assert_eq!(members(&h), vec![("s-1".into(), None)]);
    h.take_events();
    h.core.set_presence("chat", "away".into(), "away".into());
    h.drive();
    assert_eq!(h.socket().presence, vec![("chat".into(), "away".into())]);
    // The server tells only the others; this client sees its own update at once.
    assert_eq!(members(&h), vec![("s-1".into(), Some("away".into()))]);
    assert!(h.take_events().iter().any(|e| matches!(
        e,
        Event::Presence { change: PresenceChange::Update, member, .. } if member.id == "s-1"
    )));
}

#[test]
fn presence_set_while_the_join_is_in_flight_is_sent_once_joined() {
    let mut h = open();
    h.core.join("chat", Some("idle".into()));
    h.drive();
    h.core.set_presence("chat", "busy".into(), "busy".into());
    h.drive();
    assert!(
        h.socket().presence.is_empty(),
        "not joined yet: the join carries older metadata"
    );
    // The server answers the join with the metadata the join carried.
    h.receive(Inbound::Joined {
        id: None,
        room: "chat".into(),
        seq: 0,
        recovered: true,
        epoch: Some("e1".into()),
        members: vec![Member {
            id: "s-1".into(),
            user: None,
            meta: Some("idle".into()),
        }],
    });
    assert_eq!(h.socket().presence, vec![("chat".into(), "busy".into())]);
    let own = h
        .core
        .room("chat")
        .expect("room")
        .members
        .values()
        .next()
        .cloned();
    assert_eq!(own.and_then(|m| m.meta), Some("busy".into()));
}

#[test]
fn requests_refused_when_closed_are_not_pending() {
    let mut h = open();
    h.core.close();
    h.drive();
    let id = h.core.allocate_request_id();
    assert_eq!(
        h.core
            .request(h.now, id, "r".into(), RequestOptions::default()),
        Err(ClientError::Closed)
    );
    assert_eq!(h.core.metrics(h.now).pending_requests, 0);
}

#[test]
fn a_request_dropped_from_a_full_queue_settles() {
    let mut c = config();
    c.queue.max_messages = 1;
    c.queue.overflow = resocket::core::OverflowPolicy::DropOldest;
    let mut h = Harness::new(c);
    let id = request(&mut h, options(None, DisconnectPolicy::Retry));
    h.send("newer").expect("accepted, dropping the request");
    assert_eq!(replies(&h), vec![(id, Err("QueueFull"))]);
    assert_eq!(h.core.metrics(h.now).pending_requests, 0);
}

fn joined(room: &str, seq: u64, recovered: bool, epoch: &str) -> Inbound<String> {
    Inbound::Joined {
        id: None,
        room: room.into(),
        seq,
        recovered,
        epoch: Some(epoch.into()),
        members: vec![],
    }
}

fn room_message(room: &str, seq: u64) -> Inbound<String> {
    Inbound::RoomMessage {
        room: room.into(),
        seq,
        payload: format!("m{seq}"),
        user: None,
    }
}

#[test]
fn a_rejoin_into_another_epoch_resets_the_position_and_delivers_the_new_stream_from_seq_1() {
    let mut h = open();
    h.core.join("prices", None);
    h.drive();
    assert_eq!(h.socket().join_epochs, vec![None]);
    h.receive(joined("prices", 497, true, "e1"));
    for seq in 498..=500 {
        h.receive(room_message("prices", seq));
    }
    // The server restarts: the rejoin sends its position with the epoch it counts in.
    reconnect(&mut h);
    assert_eq!(h.socket().joins[0].2, Some(500));
    assert_eq!(h.socket().join_epochs, vec![Some("e1".to_owned())]);
    h.take_events();
    // The new stream published 3 messages before the rejoin: replayed from its start, then live.
    h.receive(joined("prices", 3, false, "e2"));
    for seq in [1, 2, 3, 3, 4, 5] {
        h.receive(room_message("prices", seq));
    }
    let seqs: Vec<u64> = room_messages(&h).iter().map(|m| m.1).collect();
    assert_eq!(
        seqs,
        vec![1, 2, 3, 4, 5],
        "every message of the new stream, once"
    );
    assert_eq!(
        room_states(&h, "prices"),
        vec![RoomState::Joined { recovered: false }]
    );
    // The next rejoin counts in the new epoch.
    reconnect(&mut h);
    assert_eq!(h.socket().joins[0].2, Some(5));
    assert_eq!(h.socket().join_epochs, vec![Some("e2".to_owned())]);
}

#[test]
fn an_unrecovered_rejoin_in_the_same_epoch_follows_the_server_position_even_below_ours() {
    let mut h = open();
    h.core.join("r", None);
    h.drive();
    h.receive(joined("r", 10, true, "e1"));
    h.receive(room_message("r", 11));
    reconnect(&mut h);
    // Whatever made the server answer below our position, nothing above it exists: continue
    // from the server's position rather than wait for numbers it already used.
    h.receive(joined("r", 8, false, "e1"));
    h.receive(room_message("r", 9));
    let seqs: Vec<u64> = room_messages(&h).iter().map(|m| m.1).collect();
    assert_eq!(seqs, vec![11, 9]);
}

/// Publishes to `room` as the browser does: a `publish` frame carrying a request id.
fn publish(h: &mut Harness, room: &str) -> u64 {
    let id = h.core.allocate_request_id();
    h.core
        .publish(h.now, id, format!("publish-{room}-{id}"))
        .expect("accepted");
    h.drive();
    id
}

fn ack(h: &mut Harness, id: u64, seq: u64) {
    h.receive(Inbound::Reply {
        id,
        result: Ok(seq.to_string()),
    });
}

#[test]
fn a_publish_resolves_with_the_seq_of_its_acknowledgement_once() {
    let mut h = open();
    h.core.join("chat", None);
    let id = publish(&mut h, "chat");
    assert_eq!(h.socket().requests, vec![id]);
    assert_eq!(h.core.metrics(h.now).pending_requests, 1);
    ack(&mut h, id, 46);
    ack(&mut h, id, 46); // a duplicate answer is only counted
    assert_eq!(replies(&h), vec![(id, Ok("46".into()))]);
    assert_eq!(h.core.metrics(h.now).pending_requests, 0);
}

#[test]
fn an_unacknowledged_publish_is_resent_after_a_resume_and_settles_once() {
    let mut h = open();
    h.core.join("chat", None);
    h.drive();
    let sent = publish(&mut h, "chat");
    h.server_close(1006);
    let offline = publish(&mut h, "chat");
    // Offline for far longer than a request's default timeout: publishes wait.
    h.advance(120_000);
    h.accept(); // resumed
    assert_eq!(
        h.socket().joins.len(),
        1,
        "the room is rejoined before the publishes are re-sent"
    );
    assert_eq!(
        h.socket().requests,
        vec![sent, offline],
        "same ids, in order"
    );
    ack(&mut h, sent, 7);
    ack(&mut h, offline, 8);
    assert_eq!(
        replies(&h),
        vec![(sent, Ok("7".into())), (offline, Ok("8".into()))]
    );
}

#[test]
fn a_sent_publish_rejects_with_session_lost_and_a_refused_one_with_the_servers_code() {
    let mut h = open();
    h.core.join("chat", None);
    h.drive();
    let sent = publish(&mut h, "chat");
    h.server_close(1006);
    let queued = publish(&mut h, "chat");
    h.advance(100);
    h.open_socket();
    h.welcome_session("s-new", false); // the server forgot the session
    assert_eq!(replies(&h), vec![(sent, Err("SessionLost"))]);
    assert_eq!(h.socket().requests, vec![queued], "never sent, so sent now");
    h.receive(Inbound::Error {
        id: Some(queued),
        room: Some("chat".into()),
        body: ErrorBody {
            code: ErrorCode::Forbidden,
            message: "publish_disabled: clients may not publish here".into(),
        },
    });
    assert_eq!(
        replies(&h),
        vec![(sent, Err("SessionLost")), (queued, Err("Forbidden"))]
    );
    assert_eq!(
        room_states(&h, "chat").last(),
        Some(&RoomState::Joining),
        "a refused publish leaves the room as it was"
    );
}

/// The browser's hot path (`handle_message`): the same decisions as `handle_inbound` (a room's
/// duplicates and unknown rooms dropped, counters), delivered by the driver only when nothing
/// is queued ahead and it can deliver now; otherwise queued as the event, in order.
#[test]
fn messages_the_driver_delivers_itself_keep_the_core_decisions_and_order() {
    let mut h = open();
    h.core.join("feed", None);
    h.drive();
    h.receive(joined("feed", 0, true, "e1"));
    h.take_events();
    let read = |payload: &str| {
        let payload = payload.to_owned();
        move || (payload, Some("alice".to_owned()))
    };
    let before = h.core.metrics(h.now).messages_received;
    // Nothing queued: delivered now, no event built.
    assert!(h
        .core
        .handle_message(|| h.now, Some(("feed", 1)), 10, true, read("a")));
    // A duplicate and a message of a room never joined: dropped.
    assert!(!h
        .core
        .handle_message(|| h.now, Some(("feed", 1)), 10, true, read("dup")));
    assert!(!h
        .core
        .handle_message(|| h.now, Some(("other", 2)), 10, true, read("x")));
    assert!(h
        .core
        .handle_message(|| h.now, None, 10, true, read("plain")));
    h.drive();
    assert!(h.take_events().is_empty());
    assert_eq!(h.core.metrics(h.now).messages_received, before + 2);
    assert_eq!(h.core.metrics(h.now).duplicates, 1);

    // An event waits (the new room's `joining` state): the message queues behind it, with its
    // author.
    h.core.join("side", None);
    assert!(!h
        .core
        .handle_message(|| h.now, Some(("feed", 2)), 10, true, read("b")));
    // The driver cannot deliver now (it is dispatching): queued too.
    assert!(!h.core.handle_message(|| h.now, None, 10, false, read("c")));
    h.drive();
    let events = h.take_events();
    assert!(
        matches!(&events[0], Event::Room { room, state: RoomState::Joining } if room == "side")
    );
    assert!(matches!(
        &events[1],
        Event::RoomMessage { room, seq: 2, payload, user: Some(user) }
            if room == "feed" && payload == "b" && user == "alice"
    ));
    assert!(matches!(&events[2], Event::Message(payload) if payload == "c"));
    assert_eq!(events.len(), 3);
    // And the room's position moved on: seq 2 again is a duplicate.
    assert!(!h
        .core
        .handle_message(|| h.now, Some(("feed", 2)), 10, true, read("b")));
}
