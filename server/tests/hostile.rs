//! Hostile clients over real sockets (issue 12): one test per attack. Each asserts the typed
//! refusal the attacker gets, and that an honest bystander ([`common::honest`]: a member that
//! pings on a steady cadence and receives a third client's room messages) keeps being served
//! within [`common::honest::BOUND`] with nothing lost, throughout. Each test prints the
//! bystander's figures (`cargo test --test hostile -- --nocapture`).
//!
//! The attacks, and where each is tested:
//!
//! | attack | test |
//! |---|---|
//! | a fast sender of 64 KiB publishes into a room with slower members | [`amplifying_publishes_are_refused_then_closed_and_slower_members_stay`] |
//! | a fast sender of 64 KiB broadcasts | [`amplifying_broadcasts_are_refused_then_closed_and_slower_members_stay`] |
//! | junk rooms and documents from one client | [`junk_rooms_and_documents_stop_at_the_connection_budget_and_others_still_create_theirs`] |
//! | an overlong `user` in `hello` (and its log line) | [`an_overlong_user_is_refused_and_users_are_logged_cut_short`] |
//! | a huge frame, before and after `hello` | [`huge_frames_are_closed_with_1009`] |
//! | malformed and unknown frames in a flood | [`a_flood_of_malformed_and_unknown_frames_gets_one_typed_error_each`] |
//! | a `hello` that never comes (also while sending pings) | [`hellos_that_never_come_are_closed_with_4002`] |
//! | an HTTP request that never completes (before the upgrade), or a head sent a byte at a time | [`an_http_request_that_never_completes_is_closed`] (the head deadline, `protocol/head_deadline.rs`) |
//! | requests beyond `MAX_RUNNING` (`state/dedup.rs`) | [`requests_beyond_max_running_are_refused_rate_limited_and_may_be_sent_again`] |
//! | huge presence metadata | [`huge_presence_metadata_is_refused_too_large_and_never_reaches_members`] |
//! | a sender past its rate limit (small frames; `rate_limited`, then 4429) | `limits.rs`: `an_empty_bucket_refuses_rate_limited_and_sustained_abuse_is_closed_with_4429` |
//! | too many connections in total or per address (503) | `limits.rs`: `past_the_total_or_per_address_limit_upgrades_get_503_until_a_place_frees` |
//! | too many connections of one user (1013) | `limits.rs`: `past_the_per_user_limit_a_hello_is_closed_with_1013` |
//! | a silent (half-open) peer: 4003, its presence leaves | `liveness.rs`: `a_silent_peer_is_closed_and_leaves_while_an_answering_one_stays` |
//! | a peer that stops reading: write timeout | `liveness.rs`: `a_peer_that_stops_reading_is_given_up_while_others_are_served` |
//! | room history and documents by bytes; junk rooms locking others out | `budgets.rs` (each with an honest client) |
//! | heavy snapshots and `joined` frames stalling the server | `stalls.rs`: `an_honest_client_is_served_while_others_ask_for_the_heaviest_answers` |
//! | a slow reader's queue growing without bound | `stalls.rs`: `a_member_that_stops_reading_is_dropped_once_its_queue_holds_too_many_bytes` |
//! | a request burst larger than the de-duplication window | `requests.rs` (window, byte-bounded cache, `expired`); `tests/pkg/burst.test.mjs` (2,000 `count` requests across a drop in Chromium) |
//! | a document key `__proto__`, `constructor`, `prototype` | `tests/pkg/hostile-keys.test.mjs` (Chromium: the honest page's view against the server's) |

mod common;

use common::honest::Honest;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const ROOM: &str = "honest-room";

async fn quiet_server(
    adjust: impl FnOnce(&mut resocket_server::ServerConfig),
) -> resocket_server::Server {
    start(|c| {
        c.feed_interval = Duration::ZERO;
        adjust(c);
    })
    .await
}

/// Everything an attacker's socket received until its close (or [`WAIT`] without one).
#[derive(Debug, Default)]
struct Received {
    /// The `error` frames and failed `res` frames, as JSON.
    refusals: Vec<serde_json::Value>,
    /// Other text frames, by kind.
    frames: std::collections::BTreeMap<String, usize>,
    close: Option<(u16, String)>,
}

impl Received {
    fn codes(&self) -> std::collections::BTreeMap<String, usize> {
        let mut codes = std::collections::BTreeMap::new();
        for refusal in &self.refusals {
            let code = refusal["error"]["code"].as_str().unwrap_or("?").to_owned();
            *codes.entry(code).or_insert(0) += 1;
        }
        codes
    }
}

/// Sends every frame of `frames` on `ws` as fast as the socket takes them while reading what
/// comes back, until the server closes the connection, `expected` refusals have arrived or
/// nothing came for [`WAIT`]. Sending stops at the first failed write (the server closed).
async fn attack(ws: Ws, frames: Vec<Message>, expected: Option<usize>) -> Received {
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        for frame in frames {
            if sink.send(frame).await.is_err() {
                break;
            }
        }
        sink
    });
    let mut received = Received::default();
    loop {
        if expected.is_some_and(|n| received.refusals.len() >= n) {
            break;
        }
        let next = tokio::time::timeout(WAIT, stream.next()).await;
        match next {
            Ok(Some(Ok(Message::Text(text)))) => {
                let frame: serde_json::Value =
                    serde_json::from_str(text.as_str()).unwrap_or_default();
                let kind = frame["kind"].as_str().unwrap_or("unparsed").to_owned();
                if kind == "error" || (kind == "res" && frame.get("error").is_some()) {
                    received.refusals.push(frame);
                } else {
                    *received.frames.entry(kind).or_insert(0) += 1;
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                received.close = frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) | Err(_) => break,
        }
    }
    if let Ok(sink) = tokio::time::timeout(WAIT, writer)
        .await
        .expect("writer ends")
    {
        if let Ok(ws) = sink.reunite(stream) {
            close(ws).await;
        }
    }
    received
}

/// A member that reads slowly: one frame every `pause`, until `stop`; then it checks it is
/// still served (a ping's pong). Returns how many frames it read and whether it is still in.
async fn slow_member(
    mut ws: Ws,
    pause: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (usize, Result<(), String>) {
    let mut read = 0;
    while !*stop.borrow() {
        match next_event_within(&mut ws, Duration::from_millis(100)).await {
            None => continue,
            Some(Event::Text(_)) => read += 1,
            Some(other) => return (read, Err(format!("slow member ended: {other:?}"))),
        }
        tokio::time::sleep(pause).await;
    }
    send(&mut ws, r#"{"kind":"ping","id":777}"#).await;
    loop {
        match next_event(&mut ws).await {
            Event::Text(text) if text == r#"{"kind":"pong","id":777}"# => break,
            Event::Text(_) => read += 1,
            other => return (read, Err(format!("slow member ended: {other:?}"))),
        }
    }
    close(ws).await;
    (read, Ok(()))
}

/// A 64 KiB payload.
fn big_payload() -> String {
    json!({"pad": "x".repeat(64 * 1024)}).to_string()
}

/// One amplification run on a server with the default rate limits: `mallory` (in the room)
/// sends `frame` as fast as it can; `slow` (in the room) reads a frame every 5 ms.
async fn amplify(frame: String, label: &str) {
    captured_log();
    let server = quiet_server(|_| {}).await;
    let addr = server.local_addr();
    let honest = Honest::start(addr, ROOM).await;
    let (mut slow, _) = handshake(&server, Some("slow"), None).await;
    send(
        &mut slow,
        &json!({"kind": "join", "id": 1, "room": ROOM}).to_string(),
    )
    .await;
    expect_kind(&mut slow, "joined").await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let slow = tokio::spawn(slow_member(slow, Duration::from_millis(5), stopped));
    let (mut mallory, _) = handshake(&server, Some("mallory"), None).await;
    send(
        &mut mallory,
        &json!({"kind": "join", "id": 1, "room": ROOM}).to_string(),
    )
    .await;
    expect_kind(&mut mallory, "joined").await;

    let started = Instant::now();
    let frames = vec![Message::text(frame); 2_000];
    let received = attack(mallory, frames, None).await;
    let codes = received.codes();
    println!(
        "{label}: the attacker got {codes:?} and {:?} in {} ms, then {:?}",
        received.frames,
        started.elapsed().as_millis(),
        received.close
    );
    // Refused with a typed error for an empty bucket, then closed for sustained abuse.
    assert_eq!(
        codes.keys().collect::<Vec<_>>(),
        ["rate_limited"],
        "{label}"
    );
    assert_eq!(
        received.close.as_ref().map(|(code, _)| *code),
        Some(4429),
        "{label}: {received:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send_replace(true);
    let (read, still_in) = slow.await.expect("slow member");
    println!("{label}: the slow member read {read} frames");
    still_in.unwrap_or_else(|why| {
        let log = log_text();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("slow") || l.contains("lost"))
            .collect();
        panic!(
            "{label}: the slow member was dropped: {why}\n{}",
            lines.join("\n")
        )
    });
    let report = honest.finish().await;
    assert!(report.largest_frame > 64 * 1024, "{label}: {report:?}");
    report.assert_served(label);
    server.shutdown().await.expect("clean shutdown");
}

/// 64 KiB publishes pay their KiB from the `bytes` bucket too (2 MiB of burst, half a slow
/// member's 4 MiB outbound queue), so the slow member is never dropped.
#[tokio::test]
async fn amplifying_publishes_are_refused_then_closed_and_slower_members_stay() {
    let frame = format!(
        r#"{{"kind":"publish","room":"{ROOM}","payload":{}}}"#,
        big_payload()
    );
    amplify(frame, "64 KiB publishes").await;
}

#[tokio::test]
async fn amplifying_broadcasts_are_refused_then_closed_and_slower_members_stay() {
    let frame = format!(r#"{{"kind":"broadcast","payload":{}}}"#, big_payload());
    amplify(frame, "64 KiB broadcasts").await;
}

#[tokio::test]
async fn junk_rooms_and_documents_stop_at_the_connection_budget_and_others_still_create_theirs() {
    let server = quiet_server(|c| {
        c.budgets.rooms_per_connection = 20;
        c.budgets.docs_per_connection = 20;
    })
    .await;
    let addr = server.local_addr();
    let honest = Honest::start(addr, ROOM).await;
    let (mallory, _) = handshake(&server, Some("mallory"), None).await;
    // 25 junk rooms and 25 junk documents: the 20 first of each are accepted.
    let mut frames = Vec::new();
    for n in 0..25u64 {
        let join = json!({"kind": "join", "id": n, "room": format!("junk-{n}")});
        frames.push(Message::text(join.to_string()));
        let sync =
            json!({"kind": "sync", "id": 100 + n, "room": format!("junk-doc-{n}"), "payload": {}});
        frames.push(Message::text(sync.to_string()));
    }
    let received = attack(mallory, frames, Some(10)).await;
    assert_eq!(
        received.codes().get("rate_limited"),
        Some(&10),
        "{received:?}"
    );
    for refusal in &received.refusals {
        let id = refusal["id"].as_u64().expect("the refusal names its frame");
        assert!((20..25).contains(&(id % 100)), "{refusal}");
    }
    assert_eq!(
        (
            received.frames.get("joined"),
            received.frames.get("snapshot")
        ),
        (Some(&20), Some(&20)),
        "{received:?}"
    );
    // Someone else still creates and joins a room and a document of their own.
    let (mut carol, _) = handshake(&server, Some("carol"), None).await;
    send(
        &mut carol,
        r#"{"kind":"join","id":1,"room":"carols-new-room"}"#,
    )
    .await;
    expect_kind(&mut carol, "joined").await;
    send(
        &mut carol,
        r#"{"kind":"sync","id":2,"room":"carols-new-doc","payload":{}}"#,
    )
    .await;
    expect_kind(&mut carol, "snapshot").await;
    close(carol).await;
    honest
        .finish()
        .await
        .assert_served("junk rooms and documents");
    server.shutdown().await.expect("clean shutdown");
}

/// The server's log lines, captured from the first call on (every test of this binary).
fn captured_log() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(|| {
        struct Capture;
        impl std::io::Write for Capture {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                captured_log()
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
        Mutex::new(Vec::new())
    })
}

fn log_text() -> String {
    let log = captured_log().lock().unwrap_or_else(|e| e.into_inner());
    String::from_utf8_lossy(&log).into_owned()
}

#[tokio::test]
async fn an_overlong_user_is_refused_and_users_are_logged_cut_short() {
    captured_log();
    let server = quiet_server(|_| {}).await;
    let addr = server.local_addr();
    let honest = Honest::start(addr, ROOM).await;
    // Over the 128 bytes of a user id, up to the frame limit: refused 4401 `bad_user`.
    for length in [129, 1_000_000] {
        let mut ws = connect(&server).await;
        send(&mut ws, &hello(Some(&"Q".repeat(length)), None)).await;
        assert_eq!(
            expect_close(&mut ws).await,
            (4401, "bad_user".to_owned()),
            "a user of {length} bytes"
        );
    }
    // The longest user accepted is logged with its first 32 characters only.
    let user = format!("Mallory{}{}", "a".repeat(25), "Z".repeat(96));
    let (mallory, _) = handshake(&server, Some(&user), None).await;
    close(mallory).await;
    let log = log_text();
    assert!(log.contains(&user[..32]), "the user is logged");
    assert!(!log.contains(&user[..33]), "the user is logged cut short");
    assert!(
        !log.contains(&"Q".repeat(33)),
        "a refused user is not logged"
    );
    honest.finish().await.assert_served("overlong users");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn huge_frames_are_closed_with_1009() {
    // A 64 KiB frame limit, so the hard limit is 256 KiB.
    let server = quiet_server(|c| c.max_frame_bytes = 64 * 1024).await;
    let addr = server.local_addr();
    let honest = Honest::start(addr, ROOM).await;
    // 300 KiB, over the hard limit, as the first frame and after the hello.
    let huge = format!(r#"{{"kind":"msg","payload":"{}"}}"#, "x".repeat(300 * 1024));
    let mut before = connect(&server).await;
    let mut after = welcomed(&server).await.0;
    for ws in [&mut before, &mut after] {
        let _ = ws.send(Message::text(huge.clone())).await;
        let (code, reason) = expect_close(ws).await;
        assert_eq!(code, 1009, "{reason}");
        assert!(reason.contains(&(256 * 1024).to_string()), "{reason}");
    }
    honest.finish().await.assert_served("huge frames");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_flood_of_malformed_and_unknown_frames_gets_one_typed_error_each() {
    let server = quiet_server(|_| {}).await;
    let addr = server.local_addr();
    let honest = Honest::start(addr, ROOM).await;
    let (mallory, _) = handshake(&server, Some("mallory"), None).await;
    // Nested deeper than the server's JSON reader goes, in an op's value (which it reads).
    let deep = format!(
        r#"{{"kind":"op","room":"d","seq":1,"payload":{{"origin":"o","key":"k","op":"set","value":{}{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let junk = [
        Message::text("this is not json{"),
        Message::text(r#"{"kind":"teleport","id":1}"#),
        Message::binary(vec![0u8; 64]),
        Message::text(deep),
        Message::text(r#"{"kind":"ping","id":9007199254740993}"#),
        Message::text(r#"{"kind":"ping"}"#),
        Message::text(r#"{"kind":"hello","payload":{"version":1}}"#),
        Message::text(r#"{"kind":"join","id":2}"#),
        Message::text(r#"{"kind":"op","room":"d","payload":{"key":5}}"#),
        Message::text(r#"{"kind":"req","id":3,"payload":{"method":7}}"#),
    ];
    let count = 2_000;
    let frames: Vec<Message> = junk.iter().cycle().take(count).cloned().collect();
    let started = Instant::now();
    let received = attack(mallory, frames, Some(count)).await;
    let codes = received.codes();
    println!(
        "junk flood: {count} frames refused in {} ms: {codes:?}",
        started.elapsed().as_millis()
    );
    assert_eq!(received.refusals.len(), count, "{codes:?} {received:?}");
    assert_eq!(received.close, None);
    for code in codes.keys() {
        assert!(
            ["bad_frame", "bad_request", "unknown_kind", "unexpected"].contains(&code.as_str()),
            "{codes:?}"
        );
    }
    honest.finish().await.assert_served("malformed frames");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn hellos_that_never_come_are_closed_with_4002() {
    let server = quiet_server(|c| c.handshake_timeout = Duration::from_millis(400)).await;
    let addr = server.local_addr();
    let honest = Honest::start(addr, ROOM).await;
    let started = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(connect(&server).await);
    }
    // One more keeps sending WebSocket pings instead of a hello: the deadline stands.
    let mut pinging = connect(&server).await;
    let pings = async {
        loop {
            if pinging
                .send(Message::Ping(Default::default()))
                .await
                .is_err()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(600), pings).await;
    silent.push(pinging);
    for ws in &mut silent {
        let (code, reason) = expect_close(ws).await;
        assert_eq!((code, reason.as_str()), (4002, "no hello within 400 ms"));
    }
    println!(
        "no hello: 51 connections closed within {} ms",
        started.elapsed().as_millis()
    );
    wait_for_stat(addr, "handshaking", 0).await;
    honest.finish().await.assert_served("no hello");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn requests_beyond_max_running_are_refused_rate_limited_and_may_be_sent_again() {
    use resocket_server::state::MAX_RUNNING;
    // The request bucket opened wide, so that the running limit is what refuses.
    let server = quiet_server(|c| {
        c.rate_limits = "request=10000/10000".parse().expect("valid spec");
    })
    .await;
    let addr = server.local_addr();
    let honest = Honest::start(addr, ROOM).await;
    let (mallory, welcome) = handshake(&server, Some("mallory"), None).await;
    let over = 44;
    let total = MAX_RUNNING + over;
    let frames = (1..=total as u64)
        .map(|id| {
            let sleep = json!({"method": "sleep", "params": {"ms": 1000}});
            Message::text(json!({"kind": "req", "id": id, "payload": sleep}).to_string())
        })
        .collect();
    let started = Instant::now();
    let received = attack(mallory, frames, Some(over)).await;
    println!(
        "request flood: {over} of {total} refused in {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(
        received.codes().get("rate_limited"),
        Some(&over),
        "{received:?}"
    );
    let mut refused: Vec<u64> = received
        .refusals
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .collect();
    refused.sort_unstable();
    refused.dedup();
    assert_eq!(refused.len(), over);
    // The session, resumed, gets the replies of the MAX_RUNNING that ran...
    let (mut again, resumed) = handshake(&server, Some("mallory"), welcome.resume()).await;
    assert!(resumed.resumed);
    let mut slept = 0;
    while slept < MAX_RUNNING {
        let reply = expect_kind(&mut again, "res").await;
        assert_eq!(reply["payload"], json!({"slept": 1000}), "{reply}");
        assert!(!refused.contains(&reply["id"].as_u64().expect("id")));
        slept += 1;
    }
    // ...and a refused id was not remembered: sent again, it runs.
    request(&mut again, refused[0], "echo", json!("again")).await;
    let reply = expect_kind(&mut again, "res").await;
    assert_eq!(
        (&reply["id"], &reply["payload"]),
        (&json!(refused[0]), &json!("again"))
    );
    honest
        .finish()
        .await
        .assert_served("requests beyond MAX_RUNNING");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn huge_presence_metadata_is_refused_too_large_and_never_reaches_members() {
    let server = quiet_server(|_| {}).await;
    let addr = server.local_addr();
    let honest = Honest::start(addr, ROOM).await;
    let (mut mallory, _) = handshake(&server, Some("mallory"), None).await;
    let huge = json!({"status": "x".repeat(64 * 1024)});
    let join = json!({"kind": "join", "id": 1, "room": ROOM, "payload": {"meta": huge}});
    send(&mut mallory, &join.to_string()).await;
    let refused = expect_kind(&mut mallory, "error").await;
    assert_eq!(
        (&refused["id"], &refused["error"]["code"]),
        (&json!(1), &json!("too_large")),
        "{refused}"
    );
    let join =
        json!({"kind": "join", "id": 2, "room": ROOM, "payload": {"meta": {"status": "ok"}}});
    send(&mut mallory, &join.to_string()).await;
    expect_kind(&mut mallory, "joined").await;
    let frames = (0..20)
        .map(|id| {
            let update =
                json!({"kind": "presence", "id": 10 + id, "room": ROOM, "payload": {"meta": huge}});
            Message::text(update.to_string())
        })
        .collect();
    let received = attack(mallory, frames, Some(20)).await;
    assert_eq!(received.codes().get("too_large"), Some(&20), "{received:?}");
    let report = honest.finish().await;
    assert!(report.largest_frame < 4096, "{report:?}");
    report.assert_served("huge presence metadata");
    server.shutdown().await.expect("clean shutdown");
}

/// Slowloris before the upgrade: a TCP connection that sends nothing, only part of its request,
/// or its head a byte at a time, or a second keep-alive request that never completes, or nothing
/// after a first request, is dropped once the head deadline (the handshake timeout) passes; a
/// WebSocket that is quiet for longer is not.
#[tokio::test]
async fn an_http_request_that_never_completes_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = quiet_server(|c| c.handshake_timeout = Duration::from_millis(400)).await;
    let addr = server.local_addr();
    let honest = Honest::start(addr, ROOM).await;

    /// Writes `head` a chunk every 50 ms (stopping at an error) while reading; true once the
    /// server has closed the connection, within 3 s.
    async fn closed_while_sending(addr: std::net::SocketAddr, first: &[u8], head: &[u8]) -> bool {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(first).await.expect("write");
        let started = Instant::now();
        let mut chunks = head.chunks(1);
        let mut buffer = [0u8; 4096];
        while started.elapsed() < Duration::from_secs(3) {
            if let Some(chunk) = chunks.next() {
                if tcp.write_all(chunk).await.is_err() {
                    return true;
                }
            }
            match tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) | Err(_) => {}
            }
        }
        false
    }

    let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    assert!(
        closed_while_sending(addr, b"", b"").await,
        "a silent connection is held"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "closed after {:?}",
        started.elapsed()
    );
    assert!(
        closed_while_sending(addr, b"GET /ws HTTP/1.1\r\nHost: x\r\n", b"").await,
        "a partial head is held"
    );
    assert!(
        closed_while_sending(addr, b"", head).await,
        "a head sent a byte every 50 ms (4 s in all) is held"
    );
    // One full request answered, then a second one that never completes.
    assert!(
        closed_while_sending(addr, head, &head[..20]).await,
        "a second keep-alive head that never completes is held"
    );
    // One full request answered, then nothing.
    assert!(
        closed_while_sending(addr, head, b"").await,
        "an idle keep-alive connection is held"
    );

    // A WebSocket quiet for longer than the deadline after its hello is served on.
    let (mut ws, _) = welcomed_addr(addr).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    send(&mut ws, r#"{"kind":"ping","id":7}"#).await;
    let pong = expect_kind(&mut ws, "pong").await;
    assert_eq!(pong["id"], 7, "{pong}");

    honest
        .finish()
        .await
        .assert_served("incomplete HTTP requests");
    server.shutdown().await.expect("clean shutdown");
}
