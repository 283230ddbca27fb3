//! No server-wide stalls, over real sockets: while hostile clients keep asking for the heaviest
//! answers there are (the snapshot of a large document, the `joined` frame of a room whose
//! members carry large metadata, a stream of hellos), an honest client in another room keeps
//! getting its pings answered and its room messages delivered. The server and every client
//! share two worker threads, like a 2-core server. The bound is a liveness check, not a
//! performance figure: the observed latencies are printed.

mod common;

use common::*;
use futures_util::StreamExt;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the hostile clients run while the honest one measures.
const HOSTILE_FOR: Duration = Duration::from_secs(3);
/// The honest client's bound on one ping's pong or one message's delivery.
const LIVENESS_BOUND: Duration = Duration::from_secs(2);
/// The large document: this many keys of this many bytes (2 MiB).
const DOC_KEYS: usize = 32;
const VALUE_BYTES: usize = 64 * 1024;
/// The crowded room: this many members with this many bytes of metadata (800 KiB `joined`).
const MEMBERS: usize = 50;
const META_BYTES: usize = 16 * 1024;

/// Reads frames until one starts with `prefix`; false if the connection ends first.
async fn read_until(ws: &mut Ws, prefix: &str) -> bool {
    loop {
        match next_event(ws).await {
            Event::Text(text) if text.starts_with(prefix) => return true,
            Event::Text(_) | Event::Binary(_) => {}
            Event::Close(_) | Event::Abnormal(_) => return false,
        }
    }
}

/// Writes the large document through a client's ops.
async fn fill_document(server: &resocket_server::Server) {
    let mut writer = connect(server).await;
    send(&mut writer, HELLO).await;
    let welcome = expect_kind(&mut writer, "welcome").await;
    let origin = welcome["payload"]["origin"].as_str().expect("origin");
    let value = "v".repeat(VALUE_BYTES);
    for key in 0..DOC_KEYS {
        let op = json!({"kind": "op", "room": "big", "seq": key + 1,
            "payload": {"origin": origin, "key": format!("k{key}"), "op": "set", "value": value}});
        send(&mut writer, &op.to_string()).await;
        assert!(read_until(&mut writer, r#"{"kind":"op""#).await);
    }
    close(writer).await;
}

/// Fills the crowded room with members who each read everything they are sent.
async fn fill_room(server: &resocket_server::Server) -> Vec<tokio::task::JoinHandle<()>> {
    let meta = json!({"bio": "m".repeat(META_BYTES)});
    let mut readers = Vec::new();
    for n in 0..MEMBERS {
        let (mut member, _) = handshake(server, Some(&format!("member-{n}")), None).await;
        let join = json!({"kind": "join", "id": 1, "room": "crowd", "payload": {"meta": meta}});
        send(&mut member, &join.to_string()).await;
        assert!(read_until(&mut member, r#"{"kind":"joined""#).await);
        readers.push(tokio::spawn(async move {
            while let Some(Ok(_)) = member.next().await {}
        }));
    }
    readers
}

/// Loops until `stop`: sync the large document, read its snapshot, unsync.
async fn syncer(server: std::net::SocketAddr, stop: Arc<AtomicBool>, answers: Arc<AtomicU64>) {
    let (mut ws, _) = welcomed_addr(server).await;
    let mut id = 0;
    while !stop.load(Ordering::Relaxed) {
        id += 1;
        let sync = json!({"kind": "sync", "id": id, "room": "big", "payload": {}});
        send(&mut ws, &sync.to_string()).await;
        assert!(read_until(&mut ws, r#"{"kind":"snapshot""#).await);
        send(&mut ws, r#"{"kind":"unsync","room":"big"}"#).await;
        answers.fetch_add(1, Ordering::Relaxed);
    }
}

/// Loops until `stop`: join the crowded room, read its `joined`, leave.
async fn joiner(server: std::net::SocketAddr, stop: Arc<AtomicBool>, answers: Arc<AtomicU64>) {
    let (mut ws, _) = welcomed_addr(server).await;
    let mut id = 0;
    while !stop.load(Ordering::Relaxed) {
        id += 1;
        let join = json!({"kind": "join", "id": id, "room": "crowd"});
        send(&mut ws, &join.to_string()).await;
        assert!(read_until(&mut ws, r#"{"kind":"joined""#).await);
        send(&mut ws, r#"{"kind":"leave","room":"crowd"}"#).await;
        answers.fetch_add(1, Ordering::Relaxed);
    }
}

/// Loops until `stop`: open a connection, say hello, drop it (its session waits for a resume).
async fn greeter(server: std::net::SocketAddr, stop: Arc<AtomicBool>, answers: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        let (ws, _) = welcomed_addr(server).await;
        drop(ws);
        answers.fetch_add(1, Ordering::Relaxed);
    }
}

/// The honest client's round trips until `until`: a ping's pong, then its own published
/// message back; each latency in order.
async fn honest_round_trips(ws: &mut Ws, until: Instant) -> (Vec<Duration>, Vec<Duration>) {
    let (mut pings, mut messages) = (Vec::new(), Vec::new());
    let mut n: u64 = 0;
    while Instant::now() < until {
        n += 1;
        let sent = Instant::now();
        send(ws, &json!({"kind": "ping", "id": n}).to_string()).await;
        let pong = expect_kind(ws, "pong").await;
        assert_eq!(pong["id"], n);
        pings.push(sent.elapsed());

        let sent = Instant::now();
        let publish = json!({"kind": "publish", "room": "chat", "payload": {"n": n}});
        send(ws, &publish.to_string()).await;
        let msg = expect_kind(ws, "msg").await;
        assert_eq!(msg["payload"]["n"], n, "{msg}");
        messages.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (pings, messages)
}

fn summary(latencies: &[Duration]) -> String {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
    format!(
        "{} round trips, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sorted.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_client_is_served_while_others_ask_for_the_heaviest_answers() {
    let server = start(|c| {
        c.feed_interval = Duration::ZERO;
        // Stalls, not rate limits, are under test: the hostile clients are not throttled.
        c.rate_limits = "off".parse().expect("valid spec");
        c.budgets.meta_bytes = 2 * META_BYTES;
        // The large document is over the default budget of a document's bytes.
        c.state_limits.doc_bytes = 4 * 1024 * 1024;
    })
    .await;
    let addr = server.local_addr();
    fill_document(&server).await;
    let readers = fill_room(&server).await;

    let (mut honest, _) = handshake(&server, Some("honest"), None).await;
    send(&mut honest, r#"{"kind":"join","id":1,"room":"chat"}"#).await;
    expect_kind(&mut honest, "joined").await;
    let (pings, messages) =
        honest_round_trips(&mut honest, Instant::now() + Duration::from_millis(300)).await;
    println!("quiet server: pings {}", summary(&pings));
    println!("quiet server: messages {}", summary(&messages));

    let stop = Arc::new(AtomicBool::new(false));
    let counts: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::default()).collect();
    let mut hostile = Vec::new();
    for _ in 0..2 {
        hostile.push(tokio::spawn(syncer(addr, stop.clone(), counts[0].clone())));
        hostile.push(tokio::spawn(joiner(addr, stop.clone(), counts[1].clone())));
    }
    hostile.push(tokio::spawn(greeter(addr, stop.clone(), counts[2].clone())));
    // Once every hostile client is at work: each kind has had an answer.
    let started = Instant::now();
    while counts.iter().any(|c| c.load(Ordering::Relaxed) == 0) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the hostile clients never got going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (pings, messages) = honest_round_trips(&mut honest, Instant::now() + HOSTILE_FOR).await;
    stop.store(true, Ordering::Relaxed);
    for task in hostile {
        tokio::time::timeout(WAIT, task)
            .await
            .expect("hostile client stops in time")
            .expect("hostile client ran");
    }
    let answered = |n: usize| counts[n].load(Ordering::Relaxed);
    println!(
        "hostile clients got {} snapshots of {} KiB, {} joined frames of {} KiB, {} welcomes",
        answered(0),
        DOC_KEYS * VALUE_BYTES / 1024,
        answered(1),
        MEMBERS * META_BYTES / 1024,
        answered(2)
    );
    println!("under load: pings {}", summary(&pings));
    println!("under load: messages {}", summary(&messages));
    assert!(
        answered(0) > 0 && answered(1) > 0 && answered(2) > 0,
        "every hostile client was answered"
    );
    for (what, latencies) in [("pong", &pings), ("message", &messages)] {
        let worst = latencies.iter().max().expect("round trips");
        assert!(
            *worst < LIVENESS_BOUND,
            "an honest {what} took {worst:?} (bound {LIVENESS_BOUND:?})"
        );
    }
    for reader in readers {
        reader.abort();
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_member_that_stops_reading_is_dropped_once_its_queue_holds_too_many_bytes() {
    const QUEUE_BYTES: usize = 256 * 1024;
    const MESSAGES: u64 = 400;
    let server = start(|c| {
        c.feed_interval = Duration::ZERO;
        c.rate_limits = "off".parse().expect("valid spec");
        c.max_outbound_bytes = QUEUE_BYTES;
        // Only the queue's bytes may drop it: no write times out meanwhile.
        c.write_timeout = Duration::from_secs(60);
    })
    .await;
    let addr = server.local_addr();
    let (mut sleeper, _) = handshake(&server, Some("sleeper"), None).await;
    send(&mut sleeper, r#"{"kind":"join","id":1,"room":"feed"}"#).await;
    expect_kind(&mut sleeper, "joined").await;
    let (mut honest, _) = handshake(&server, Some("honest"), None).await;
    send(&mut honest, r#"{"kind":"join","id":1,"room":"feed"}"#).await;
    expect_kind(&mut honest, "joined").await;
    expect_kind(&mut sleeper, "presence").await;

    // 400 messages of 64 KiB (25 MiB): far fewer frames than the queue's 1024, far more bytes
    // than its 256 KiB and the socket buffers together.
    let pad = "x".repeat(64 * 1024);
    for n in 1..=MESSAGES {
        let publish = json!({"kind": "publish", "room": "feed", "payload": {"n": n, "pad": pad}});
        send(&mut honest, &publish.to_string()).await;
        // The sleeper's `leave` comes in between once it is dropped.
        let msg = loop {
            let frame = next_json(&mut honest).await;
            if frame["kind"] != "presence" {
                break frame;
            }
        };
        assert_eq!(msg["kind"], "msg");
        assert_eq!(
            (msg["seq"].as_u64(), msg["payload"]["n"].as_u64()),
            (Some(n), Some(n))
        );
    }
    wait_for_stat(addr, "connections", 1).await;
    // The sleeper reads what reached it, in order and without a gap, then the end without a
    // close frame.
    let mut last = 0;
    let end = loop {
        match next_event(&mut sleeper).await {
            Event::Text(text) => {
                let frame = json(&text);
                if frame["kind"] == "presence" {
                    continue;
                }
                assert_eq!(frame["seq"].as_u64(), Some(last + 1), "{}", frame["kind"]);
                last += 1;
            }
            other => break other,
        }
    };
    assert!(matches!(end, Event::Abnormal(_)), "{end:?}");
    assert!(last < MESSAGES, "dropped before the last message");
    println!("the sleeper got {last} of {MESSAGES} messages before it was dropped");
    sync(&mut honest).await;
    server.shutdown().await.expect("clean shutdown");
}
