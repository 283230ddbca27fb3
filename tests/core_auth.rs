//! Authentication in the sans-IO core under virtual time: tokens fetched before every attempt,
//! refusals at hello (4401), in-band refresh before expiry, expiry (4402), a session resumed
//! elsewhere (4409), the stamped author of room messages and server-assigned op origins.

#![cfg(not(target_arch = "wasm32"))]

mod support;

use resocket::core::{
    refresh_delay_ms, Action, ClientCore, ClientError, CloseReason, Config, ConnectionState,
    DocInbound, Event, Inbound, TokenSource, Transmit,
};
use resocket::doc::{Change, Op};
use resocket::protocol::codec::{encode_client_frame, ClientFrame};
use resocket::protocol::{close_code, ErrorBody, ErrorCode, Welcome};
use serde_json::{json, Value};
use support::Harness;

fn config(token: TokenSource) -> Config {
    let mut c = Config::default();
    c.reconnect.initial_delay_ms = 100;
    c.reconnect.max_delay_ms = 1_000;
    c.reconnect.jitter = 0.0;
    c.reconnect.stable_after_ms = 2_000;
    c.heartbeat.interval_ms = 0;
    c.token = token;
    c
}

fn welcome(session: &str, origin: Option<&str>, expires_in: Option<u64>) -> Welcome {
    Welcome {
        version: 1,
        session: session.into(),
        token: "resume".into(),
        resumed: false,
        origin: origin.map(str::to_owned),
        expires_in,
        request_window: None,
    }
}

fn hello_token(h: &Harness) -> Option<String> {
    h.socket()
        .hello
        .as_ref()
        .and_then(|hello| hello.token.clone())
}

fn unauthorized_errors(h: &Harness) -> usize {
    h.events
        .iter()
        .filter(|e| matches!(e, Event::Error(ClientError::Unauthorized { .. })))
        .count()
}

fn retry_delay(h: &Harness) -> u64 {
    match h.core.state() {
        ConnectionState::Reconnecting { delay_ms, .. } => *delay_ms,
        other => panic!("expected reconnecting, got {other:?}"),
    }
}

/// A client with a token function, connected with token `t1`.
fn open_with_function(expires_in: Option<u64>) -> Harness {
    let mut h = Harness::new(config(TokenSource::Fetch));
    h.connect();
    h.answer_token(Ok("t1"));
    h.open_socket();
    h.welcome_with(welcome("s-1", None, expires_in));
    assert_eq!(h.state_name(), "open");
    h
}

#[test]
fn the_token_function_is_called_before_every_attempt_and_its_token_sent_in_hello() {
    let mut h = Harness::new(config(TokenSource::Fetch));
    h.connect();
    assert_eq!(h.state_name(), "connecting");
    assert_eq!(h.token_fetches.len(), 1, "asked before the socket opens");
    assert_eq!(h.opens, 0, "no socket until the token is there");
    h.answer_token(Ok("t1"));
    assert_eq!(h.opens, 1);
    h.open_socket();
    assert_eq!(hello_token(&h).as_deref(), Some("t1"));
    h.welcome();

    // A drop: the next attempt asks again and sends the fresh token.
    h.server_close(close_code::GOING_AWAY);
    h.advance(retry_delay(&h));
    assert_eq!(h.token_fetches.len(), 1, "asked again for the reconnect");
    h.answer_token(Ok("t2"));
    h.open_socket();
    assert_eq!(hello_token(&h).as_deref(), Some("t2"));
}

#[test]
fn a_static_token_is_sent_in_every_hello_without_fetching() {
    let mut h = Harness::new(config(TokenSource::Static("s3cret".into())));
    h.connect();
    assert!(h.token_fetches.is_empty());
    h.open_socket();
    assert_eq!(hello_token(&h).as_deref(), Some("s3cret"));
    let mut none = Harness::new(config(TokenSource::None));
    none.connect();
    none.open_socket();
    assert_eq!(hello_token(&none), None);
}

#[test]
fn the_connect_timeout_covers_the_token_fetch_and_a_late_token_is_ignored() {
    let mut h = Harness::new(config(TokenSource::Fetch));
    h.connect();
    let timeout = h.core.config().connect_timeout_ms;
    h.advance(timeout);
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::Error(ClientError::ConnectTimeout { .. }))));
    assert_eq!(h.state_name(), "reconnecting");
    assert!(h.closes.is_empty(), "no socket to close");
    // The late answer of the abandoned fetch opens nothing.
    h.answer_token(Ok("late"));
    assert_eq!(h.opens, 0);
    h.advance(retry_delay(&h));
    assert_eq!(h.token_fetches.len(), 1, "the retry asks again");
}

#[test]
fn a_failing_token_function_fails_the_attempt_and_is_retried_with_backoff() {
    let mut h = Harness::new(config(TokenSource::Fetch));
    h.connect();
    h.answer_token(Err("auth server down"));
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::Error(ClientError::TokenUnavailable { reason }) if reason == "auth server down"
    )));
    assert_eq!(h.opens, 0);
    assert_eq!(retry_delay(&h), 100);
    h.advance(100);
    assert_eq!(h.token_fetches.len(), 1);
}

#[test]
fn refused_at_hello_with_a_token_function_retries_with_backoff_and_a_fresh_token() {
    let mut h = Harness::new(config(TokenSource::Fetch));
    h.connect();
    let mut delays = Vec::new();
    for attempt in 1..=4 {
        h.answer_token(Ok(&format!("bad-{attempt}")));
        h.open_socket();
        assert_eq!(hello_token(&h), Some(format!("bad-{attempt}")));
        h.server_close(close_code::UNAUTHORIZED);
        assert_eq!(unauthorized_errors(&h), attempt);
        let delay = retry_delay(&h);
        delays.push(delay);
        // No new attempt before the backoff delay: never a reconnect storm.
        h.advance(delay - 1);
        assert!(h.token_fetches.is_empty(), "attempt {attempt} waits");
        h.advance(1);
        assert_eq!(h.token_fetches.len(), 1, "asked again after the delay");
    }
    assert_eq!(delays, vec![100, 200, 400, 800], "the backoff grows");
    h.answer_token(Ok("good"));
    h.accept();
    assert_eq!(h.state_name(), "open");
}

#[test]
fn refused_at_hello_with_a_static_token_stops_after_one_attempt() {
    for token in [TokenSource::Static("bad".into()), TokenSource::None] {
        let mut h = Harness::new(config(token));
        h.connect();
        h.open_socket();
        h.server_close(close_code::UNAUTHORIZED);
        assert_eq!(unauthorized_errors(&h), 1);
        assert_eq!(
            h.core.state(),
            &ConnectionState::Closed {
                reason: CloseReason::Unauthorized
            }
        );
        h.advance(60_000);
        assert_eq!(h.opens, 1, "one attempt only");
        assert_eq!(h.core.poll_timeout(), None, "nothing scheduled");
    }
}

#[test]
fn the_token_is_refreshed_in_band_before_it_expires_without_reconnecting() {
    assert_eq!(refresh_delay_ms(2_000), 1_000, "a 2 s token after 1 s");
    assert_eq!(refresh_delay_ms(60_000), 51_000, "85 % of a minute");
    assert_eq!(refresh_delay_ms(1_500), 750, "never before half");
    let mut h = open_with_function(Some(2_000));
    h.advance(999);
    assert!(h.token_fetches.is_empty(), "not yet");
    h.advance(1);
    assert_eq!(h.token_fetches.len(), 1, "asked a second before expiry");
    h.answer_token(Ok("t2"));
    let (id, token) = h.socket().refreshes[0].clone();
    assert_eq!(token, "t2");
    h.receive(Inbound::Refreshed {
        id,
        expires_in: Some(2_000),
    });
    // The next refresh follows the new expiry; the connection never dropped.
    h.advance(1_000);
    assert_eq!(h.token_fetches.len(), 1, "refreshed again");
    h.answer_token(Ok("t3"));
    assert_eq!(h.socket().refreshes.len(), 2);
    assert_eq!(h.opens, 1, "no reconnect");
    assert_eq!(h.state_name(), "open");
    assert_eq!(unauthorized_errors(&h), 0);
}

#[test]
fn a_token_without_expiry_or_a_static_token_is_never_refreshed() {
    let mut h = open_with_function(None);
    h.advance(600_000);
    assert!(h.token_fetches.is_empty());
    let mut h = Harness::new(config(TokenSource::Static("s".into())));
    h.connect();
    h.open_socket();
    h.welcome_with(welcome("s-1", None, Some(2_000)));
    h.advance(600_000);
    assert!(h.token_fetches.is_empty());
    assert!(h.socket().refreshes.is_empty(), "nothing to send");
}

#[test]
fn a_refused_refresh_raises_unauthorized_and_expiry_reconnects_with_a_fresh_token() {
    let mut h = open_with_function(Some(2_000));
    h.advance(1_000);
    h.answer_token(Ok("revoked"));
    let (id, _) = h.socket().refreshes[0].clone();
    h.receive(Inbound::Error {
        id: Some(id),
        room: None,
        body: ErrorBody {
            code: ErrorCode::Unauthorized,
            message: "token revoked".into(),
        },
    });
    assert_eq!(unauthorized_errors(&h), 1);
    assert_eq!(h.state_name(), "open", "the server decides at expiry");

    // At expiry the server closes with 4402; the reconnect fetches a fresh token.
    h.advance(1_000);
    h.server_close(close_code::TOKEN_EXPIRED);
    match h.core.state() {
        ConnectionState::Reconnecting { code, .. } => {
            assert_eq!(*code, close_code::TOKEN_EXPIRED)
        }
        other => panic!("expected reconnecting, got {other:?}"),
    }
    h.advance(retry_delay(&h));
    assert_eq!(h.token_fetches.len(), 1);
    h.answer_token(Ok("fresh"));
    h.open_socket();
    assert_eq!(hello_token(&h).as_deref(), Some("fresh"));
}

#[test]
fn a_refresh_answered_after_the_connection_dropped_is_ignored() {
    let mut h = open_with_function(Some(2_000));
    h.advance(1_000);
    assert_eq!(h.token_fetches.len(), 1);
    h.server_close(close_code::GOING_AWAY);
    // The refresh fetch answers late: it neither sends nor opens anything.
    h.answer_token(Ok("late"));
    assert_eq!(h.opens, 1);
    assert!(h.socket.is_none());
}

#[test]
fn a_static_token_that_expired_reconnects_once_and_stops_when_refused() {
    let mut h = Harness::new(config(TokenSource::Static("old".into())));
    h.connect();
    h.accept();
    h.server_close(close_code::TOKEN_EXPIRED);
    assert_eq!(h.state_name(), "reconnecting");
    h.advance(retry_delay(&h));
    h.open_socket();
    h.server_close(close_code::UNAUTHORIZED);
    assert_eq!(
        h.core.state(),
        &ConnectionState::Closed {
            reason: CloseReason::Unauthorized
        }
    );
    assert_eq!(h.opens, 2);
}

#[test]
fn a_static_token_refused_as_expired_at_hello_stops_like_4401() {
    let mut h = Harness::new(config(TokenSource::Static("expired".into())));
    h.connect();
    h.open_socket();
    h.server_close(close_code::TOKEN_EXPIRED);
    assert_eq!(unauthorized_errors(&h), 1);
    assert_eq!(
        h.core.state(),
        &ConnectionState::Closed {
            reason: CloseReason::Unauthorized
        }
    );
}

#[test]
fn resumed_elsewhere_closes_for_good_and_a_manual_reconnect_starts_a_new_session() {
    let mut h = Harness::new(config(TokenSource::None));
    h.connect();
    h.accept();
    h.server_close(close_code::RESUMED_ELSEWHERE);
    match h.core.state() {
        ConnectionState::Closed {
            reason: CloseReason::Rejected { code, .. },
        } => assert_eq!(*code, close_code::RESUMED_ELSEWHERE),
        other => panic!("expected closed, got {other:?}"),
    }
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::Error(ClientError::Rejected { code: 4409, .. }))));
    h.advance(600_000);
    assert_eq!(h.opens, 1, "no reconnect");
    // Taking the session back would close the other connection: a new session instead.
    h.core.reconnect(h.now);
    h.drive();
    h.open_socket();
    assert!(h.socket().hello.as_ref().expect("hello").resume.is_none());
}

#[test]
fn disconnected_by_the_server_closes_for_good() {
    let mut h = Harness::new(config(TokenSource::Fetch));
    h.connect();
    h.answer_token(Ok("t1"));
    h.accept();
    h.server_close(close_code::DISCONNECTED);
    assert!(matches!(
        h.core.state(),
        ConnectionState::Closed {
            reason: CloseReason::Rejected { code: 4410, .. }
        }
    ));
    h.advance(600_000);
    assert!(h.token_fetches.is_empty(), "no new attempt");
}

#[test]
fn room_messages_carry_the_stamped_author() {
    let mut h = Harness::new(config(TokenSource::None));
    h.connect();
    h.accept();
    h.core.join("chat", None);
    h.drive();
    let (id, ..) = h.socket().joins[0].clone();
    h.receive(Inbound::Joined {
        id: Some(id),
        room: "chat".into(),
        seq: 0,
        recovered: true,
        epoch: Some("e1".into()),
        members: Vec::new(),
    });
    for (seq, user) in [(1, Some("\"alice\"")), (2, None)] {
        h.receive(Inbound::RoomMessage {
            room: "chat".into(),
            seq,
            payload: "hi".into(),
            user: user.map(str::to_owned),
        });
    }
    let authors: Vec<Option<String>> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::RoomMessage { user, .. } => Some(user.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(authors, vec![Some("\"alice\"".to_owned()), None]);
}

/// Document ops under a server that assigns origins.
mod origins {
    use super::*;

    type Core = ClientCore<String, Value>;

    fn set(value: i64) -> Op<Value> {
        Op {
            key: "k".into(),
            change: Change::Set(json!(value)),
            if_rev: None,
        }
    }

    fn frame(cseq: u64, origin: &str, op: &Op<Value>) -> String {
        encode_client_frame(ClientFrame::Op {
            doc: "d",
            cseq,
            origin,
            op,
        })
        .to_string()
    }

    /// Connects with `welcome`, answers the document's sync with an empty replay, and returns
    /// the op frames sent after it (as JSON).
    fn connect(core: &mut Core, welcome: Welcome) -> Vec<Value> {
        core.reconnect(0);
        core.handle_socket_open(0);
        core.handle_inbound(0, Inbound::Welcome(welcome), 0);
        let mut synced = false;
        while let Some(action) = core.poll_action() {
            synced |= matches!(action, Action::Send(Transmit::Sync { .. }));
        }
        assert!(synced, "the document syncs");
        // Nothing new on the server: the replay is empty.
        let rev = core.doc("d").expect("open").confirmed.rev;
        core.handle_doc_frame(
            0,
            DocInbound::Synced {
                doc: "d".into(),
                rev,
                epoch: core.doc("d").expect("open").epoch.clone(),
            },
        );
        let mut ops = Vec::new();
        while let Some(action) = core.poll_action() {
            if let Action::Send(Transmit::User { frame, .. }) = action {
                ops.push(serde_json::from_str(&frame).expect("JSON"));
            }
        }
        ops
    }

    fn apply(core: &mut Core, value: i64) -> u64 {
        let cseq = core.allocate_cseq();
        let op = set(value);
        let frame = frame(cseq, core.origin(), &op);
        core.apply_op("d", cseq, op, frame).expect("open");
        cseq
    }

    /// The op frames the core sends now, as JSON.
    fn sent_ops(core: &mut Core) -> Vec<Value> {
        let mut ops = Vec::new();
        while let Some(action) = core.poll_action() {
            if let Action::Send(Transmit::User { frame, .. }) = action {
                ops.push(serde_json::from_str(&frame).expect("JSON"));
            }
        }
        ops
    }

    fn synced_events(core: &mut Core) -> usize {
        std::iter::from_fn(|| core.poll_event())
            .filter(|e| matches!(e, Event::DocSynced { .. }))
            .count()
    }

    #[test]
    fn the_origin_from_welcome_is_used_for_ops_and_the_seed_makes_none() {
        let mut core = Core::new(config(TokenSource::None), 1).expect("config");
        let twin = Core::new(config(TokenSource::None), 1).expect("config");
        assert_eq!(
            (core.origin(), twin.origin()),
            ("", ""),
            "no origin before welcome"
        );
        core.open_doc("d");
        // Made offline before any welcome: never sent, so it takes the session's origin at once.
        let first = apply(&mut core, 1);
        let sent = connect(&mut core, welcome("s-1", Some("o-1"), None));
        assert_eq!(core.origin(), "o-1", "ops made from now on carry it");
        assert_eq!(sent.len(), 1, "the pending op is sent once");
        assert_eq!(sent[0]["payload"]["origin"], json!("o-1"));
        assert_eq!(sent[0]["seq"], json!(first), "keeps its cseq");
        assert_eq!(sent[0]["payload"]["value"], json!(1));
        let second = apply(&mut core, 2);
        let sent = sent_ops(&mut core);
        assert_eq!(sent[0]["payload"]["origin"], json!("o-1"));
        assert_eq!(sent[0]["seq"], json!(second));
    }

    #[test]
    fn a_lost_sessions_op_is_re_sent_as_it_was_and_moves_only_when_refused() {
        let mut core = Core::new(config(TokenSource::None), 1).expect("config");
        core.open_doc("d");
        connect(&mut core, welcome("s-1", Some("o-1"), None));
        let (lost, applied) = (apply(&mut core, 1), apply(&mut core, 2));
        while core.poll_action().is_some() {}
        while core.poll_event().is_some() {}
        // The session is lost: the new one has origin o-2.
        core.handle_socket_closed(0, close_code::ABNORMAL, "gone");
        let sent = connect(&mut core, welcome("s-2", Some("o-2"), None));
        let resent: Vec<(&Value, &Value)> = sent
            .iter()
            .map(|f| (&f["payload"]["origin"], &f["seq"]))
            .collect();
        assert_eq!(
            resent,
            [
                (&json!("o-1"), &json!(lost)),
                (&json!("o-1"), &json!(applied))
            ],
            "re-sent as they were"
        );
        assert_eq!(synced_events(&mut core), 0, "not synced until the verdicts");
        // An op made meanwhile waits behind them, so the order holds.
        let later = apply(&mut core, 3);
        assert!(sent_ops(&mut core).is_empty());
        assert_eq!(core.origin(), "o-2");

        // One was applied before the drop: the server answers with its record.
        core.handle_doc_frame(
            0,
            DocInbound::Applied {
                doc: "d".into(),
                rev: 1,
                origin: "o-1".into(),
                cseq: applied,
                op: set(2),
            },
        );
        assert!(sent_ops(&mut core).is_empty(), "one verdict is still out");
        // The other never was: refused, it moves to o-2 and everything is sent in order.
        core.handle_doc_frame(
            0,
            DocInbound::Rejected {
                doc: "d".into(),
                origin: "o-1".into(),
                cseq: lost,
                error: ErrorBody {
                    code: ErrorCode::Forbidden,
                    message: "not this session's".into(),
                },
            },
        );
        let sent = sent_ops(&mut core);
        let order: Vec<(&Value, &Value)> = sent
            .iter()
            .map(|f| (&f["payload"]["origin"], &f["seq"]))
            .collect();
        assert_eq!(
            order,
            [
                (&json!("o-2"), &json!(lost)),
                (&json!("o-2"), &json!(later))
            ]
        );
        let events: Vec<Event<Value>> = std::iter::from_fn(|| core.poll_event()).collect();
        assert!(events.iter().any(|e| matches!(e, Event::DocSynced { .. })));
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::DocRejected { .. })),
            "a moved op is not reported rejected"
        );
        let pending = &core.doc("d").expect("open").pending;
        assert_eq!(pending.len(), 2);
        assert!(pending.iter().all(|p| p.origin == "o-2"));
    }

    #[test]
    fn a_pending_op_the_replay_confirms_is_not_re_sent_under_the_new_origin() {
        let mut core = Core::new(config(TokenSource::None), 1).expect("config");
        core.open_doc("d");
        connect(&mut core, welcome("s-1", Some("o-1"), None));
        let cseq = apply(&mut core, 1);
        while core.poll_action().is_some() {}
        // Applied by the server, but the confirmation was lost with the socket.
        core.handle_socket_closed(0, close_code::ABNORMAL, "gone");
        core.reconnect(0);
        core.handle_socket_open(0);
        core.handle_inbound(0, Inbound::Welcome(welcome("s-2", Some("o-2"), None)), 0);
        while core.poll_action().is_some() {}
        // The replay confirms it under the origin it was made with.
        core.handle_doc_frame(
            0,
            DocInbound::Applied {
                doc: "d".into(),
                rev: 1,
                origin: "o-1".into(),
                cseq,
                op: set(1),
            },
        );
        core.handle_doc_frame(
            0,
            DocInbound::Synced {
                doc: "d".into(),
                rev: 1,
                epoch: core.doc("d").expect("open").epoch.clone(),
            },
        );
        let mut resent = 0;
        while let Some(action) = core.poll_action() {
            resent += usize::from(matches!(action, Action::Send(Transmit::User { .. })));
        }
        assert_eq!(resent, 0, "applied once, never under a second origin");
    }

    #[test]
    fn without_an_assigned_origin_restored_ops_keep_theirs_and_live_ops_skip_their_cseqs() {
        let mut early = config(TokenSource::None);
        early.origin = Some("c-early".into());
        let mut earlier = Core::new(early, 7).expect("config");
        earlier.open_doc("d");
        apply(&mut earlier, 1);
        apply(&mut earlier, 2);
        let pending = earlier.doc("d").expect("open").pending.clone();

        let mut core = Core::new(config(TokenSource::None), 1).expect("config");
        core.open_doc_restored("d", 0, None, Vec::new(), pending.clone());
        let cseq = core.allocate_cseq();
        assert!(cseq > 2, "a live op never shares a restored op's cseq");
        let sent = connect(&mut core, welcome("s-1", None, None));
        let origins: Vec<&Value> = sent.iter().map(|f| &f["payload"]["origin"]).collect();
        assert_eq!(
            origins,
            vec![&json!(pending[0].origin), &json!(pending[1].origin)]
        );
    }
}
