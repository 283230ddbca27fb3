//! Honest-client latency under attack (`make bench`): the release `resocket-server` with its
//! default limits (rate limits, frame sizes, budgets, connection limits), one honest client in a
//! room of its own pinging it, and in each phase a different flood from attacker connections that
//! reconnect whenever they are closed. Prints the honest client's ping round trips (p50, p99,
//! max) per phase, and what the attackers sent and how often they were closed; asserts nothing
//! about timing. An honest client that loses its connection or a pong is reported, and the bench
//! exits non-zero.
//!
//! The honest client runs on a thread and runtime of its own, so the attackers' tasks in this
//! process do not delay its reads; the server, the attackers and it still share the machine.
//! `FLOOD_SECONDS` per phase (default 5), `FLOOD_ATTACKERS` connections per flood (default 50;
//! four times as many members in the busy room).

mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{client, env_number, percentile_ms, recv, resocket_server, send, summary};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// Bound of the honest client's connect, hello and join, and of each of its pongs.
const WAIT: Duration = Duration::from_secs(10);
/// The honest client's pause between a pong and its next ping.
const PING_EVERY: Duration = Duration::from_millis(10);
/// An attacker's pause before reconnecting, so refused connects do not spin.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);
/// The server's default soft frame limit (`--max-frame-bytes`) and hard limit (4 times it).
const MAX_FRAME_BYTES: usize = resocket::protocol::DEFAULT_MAX_FRAME_BYTES;

/// Anyone joins and publishes anywhere; presence on (the default), client broadcasts allowed.
const CONFIG: &str = r#"
client_broadcast = true

[default]
join = "anyone"
publish = true
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    /// No attacker: the baseline.
    None,
    /// Publishes to a room of its own as fast as the socket takes them: refused `rate_limited`
    /// past the bucket, closed with 4429 after sustained refusals.
    RateLimited,
    /// Broadcasts to every connection, as fast as the socket takes them (rate-limited too).
    Broadcasts,
    /// Frames just over the soft limit (`too_large`) and over the hard limit (closed, 1009).
    LargeFrames,
    /// Joins a new room per frame (rate-limited, then over the rooms-per-connection budget).
    Joins,
    /// Four times as many attackers in one busy room the honest client is not in, each
    /// publishing as fast as its bucket lets it: fan-out work for the server.
    BusyRoom,
    /// Connect, hello, welcome, close; again.
    Churn,
}

impl Attack {
    const ALL: [Attack; 7] = [
        Attack::None,
        Attack::RateLimited,
        Attack::Broadcasts,
        Attack::LargeFrames,
        Attack::Joins,
        Attack::BusyRoom,
        Attack::Churn,
    ];

    fn name(self) -> &'static str {
        match self {
            Attack::None => "no attack",
            Attack::RateLimited => "publish flood (rate-limited)",
            Attack::Broadcasts => "broadcast flood (rate-limited)",
            Attack::LargeFrames => "frames over the size limits",
            Attack::Joins => "join flood (new rooms)",
            Attack::BusyRoom => "busy room, honest not in it",
            Attack::Churn => "connect/hello/close churn",
        }
    }

    fn connections(self, attackers: usize) -> usize {
        match self {
            Attack::None => 0,
            Attack::BusyRoom => attackers * 4,
            _ => attackers,
        }
    }

    /// The room an attacker joins before it floods, if any.
    fn room(self, i: usize) -> Option<String> {
        match self {
            Attack::RateLimited => Some(format!("flood-{i}")),
            Attack::BusyRoom => Some("busy".to_owned()),
            _ => None,
        }
    }

    /// The `k`th frame attacker `i` sends.
    fn frame(self, i: usize, k: u64) -> String {
        match self {
            Attack::None | Attack::Churn => String::new(),
            Attack::RateLimited | Attack::BusyRoom => {
                let room = self.room(i).unwrap_or_default();
                json!({"kind": "publish", "room": room, "payload": {"k": k, "pad": "x".repeat(64)}})
                    .to_string()
            }
            Attack::Broadcasts => {
                json!({"kind": "broadcast", "payload": {"k": k, "pad": "x".repeat(64)}}).to_string()
            }
            Attack::LargeFrames => {
                // Every fourth frame is over the hard limit, which closes the connection.
                let size = if k % 4 == 3 {
                    4 * MAX_FRAME_BYTES + 1
                } else {
                    MAX_FRAME_BYTES + 1
                };
                let pad = "x".repeat(size);
                json!({"kind": "publish", "room": "big", "payload": {"pad": pad}}).to_string()
            }
            Attack::Joins => {
                json!({"kind": "join", "id": k, "room": format!("j-{i}-{k}"), "payload": {}})
                    .to_string()
            }
        }
    }
}

/// What the attackers of a phase did.
#[derive(Default)]
struct Counters {
    frames: AtomicU64,
    connections: AtomicU64,
    /// Connections that ended under an attacker (closed by the server or failed).
    ended: AtomicU64,
}

/// One attacker: connects, floods, and when the server ends the connection, does it again.
/// Runs until aborted.
async fn attacker(addr: SocketAddr, attack: Attack, i: usize, counters: Arc<Counters>) {
    let user = format!("attacker-{i}");
    let mut k = 0u64;
    loop {
        let room = attack.room(i);
        let connected = timeout(WAIT, client(addr, Some(&user), room.as_deref())).await;
        let Ok(Ok(ws)) = connected else {
            counters.ended.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(RECONNECT_PAUSE).await;
            continue;
        };
        counters.connections.fetch_add(1, Ordering::Relaxed);
        if attack == Attack::Churn {
            let mut ws = ws;
            let _ = ws.close(None).await;
            continue;
        }
        let (mut tx, mut rx) = ws.split();
        // Reads everything the server sends, so it is never held up by an attacker not reading.
        let drain = async { while rx.next().await.is_some_and(|m| m.is_ok()) {} };
        let flood = async {
            loop {
                k += 1;
                if tx.send(Message::text(attack.frame(i, k))).await.is_err() {
                    break;
                }
                counters.frames.fetch_add(1, Ordering::Relaxed);
            }
        };
        tokio::select! {
            () = drain => {}
            () = flood => {}
        }
        counters.ended.fetch_add(1, Ordering::Relaxed);
    }
}

/// The honest client's round trips in microseconds, or why it failed.
struct Pings {
    round_trips_us: Vec<u64>,
    failure: Option<String>,
}

/// Pings, one at a time, until `stop`; `ready` is signalled once joined.
async fn honest(
    addr: SocketAddr,
    phase: Duration,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) -> Pings {
    let mut pings = Pings {
        round_trips_us: Vec::new(),
        failure: None,
    };
    let mut ws = match timeout(WAIT, client(addr, Some("honest"), Some("honest-room"))).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(err)) => {
            let _ = ready.send(Err(err));
            return pings;
        }
        Err(_) => {
            let _ = ready.send(Err("no join in time".to_owned()));
            return pings;
        }
    };
    let _ = ready.send(Ok(()));
    let end = Instant::now() + phase;
    let mut id = 0;
    while Instant::now() < end {
        id += 1;
        let sent = Instant::now();
        if let Err(err) = send(&mut ws, json!({"kind": "ping", "id": id})).await {
            pings.failure = Some(format!("ping {id} not sent: {err}"));
            break;
        }
        let pong = async {
            loop {
                let frame = recv(&mut ws).await?;
                if frame.kind == "pong" && frame.id == Some(id) {
                    return Ok::<_, String>(());
                }
            }
        };
        match timeout(WAIT, pong).await {
            Ok(Ok(())) => pings
                .round_trips_us
                .push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX)),
            Ok(Err(err)) => {
                pings.failure = Some(format!("waiting for pong {id}: {err}"));
                break;
            }
            Err(_) => {
                pings.failure = Some(format!("no pong {id} within {WAIT:?}"));
                break;
            }
        }
        tokio::time::sleep(PING_EVERY).await;
    }
    let _ = ws.close(None).await;
    pings
}

/// One phase: the honest client pings for `phase` while `attack` runs.
async fn run_phase(
    addr: SocketAddr,
    attack: Attack,
    attackers: usize,
    phase: Duration,
) -> (Pings, Arc<Counters>) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let honest = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the honest client");
        runtime.block_on(honest(addr, phase, ready_tx))
    });
    let counters = Arc::new(Counters::default());
    let joined = tokio::task::spawn_blocking(move || ready_rx.recv_timeout(WAIT * 2))
        .await
        .ok()
        .and_then(Result::ok);
    let tasks: Vec<_> = (0..attack.connections(attackers))
        .map(|i| tokio::spawn(attacker(addr, attack, i, Arc::clone(&counters))))
        .collect();
    let pings = tokio::task::spawn_blocking(move || honest.join())
        .await
        .ok()
        .and_then(Result::ok);
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    let pings = match (joined, pings) {
        (Some(Ok(())), Some(pings)) => pings,
        (Some(Err(err)), _) => Pings {
            round_trips_us: Vec::new(),
            failure: Some(format!("the honest client could not join: {err}")),
        },
        _ => Pings {
            round_trips_us: Vec::new(),
            failure: Some("the honest client's thread failed".to_owned()),
        },
    };
    (pings, counters)
}

#[tokio::main]
async fn main() -> ExitCode {
    let (phase, attackers) = match (
        env_number("FLOOD_SECONDS", 5),
        env_number("FLOOD_ATTACKERS", 50),
    ) {
        (Ok(secs), Ok(n)) => (
            Duration::from_secs(secs),
            usize::try_from(n).unwrap_or(usize::MAX),
        ),
        (secs, n) => {
            for err in [secs.err(), n.err()].into_iter().flatten() {
                eprintln!("flood: {err}");
            }
            return ExitCode::from(2);
        }
    };
    let config = std::env::temp_dir().join(format!("resocket-flood-{}.toml", std::process::id()));
    std::fs::write(&config, CONFIG).expect("the config file");
    let config_arg = config.to_string_lossy().into_owned();
    println!(
        "honest client's ping round trips while attackers flood the server (default limits), \
         {} s per phase, {attackers} attacker connections ({} in the busy room)",
        phase.as_secs(),
        Attack::BusyRoom.connections(attackers)
    );
    println!(
        "{:<32} {:>6} {:>8} {:>8} {:>8} {:>10} {:>8} {:>7}",
        "attack", "pings", "p50 ms", "p99 ms", "max ms", "att frames", "att conns", "closed"
    );
    let mut failures = 0;
    for attack in Attack::ALL {
        // A fresh server per phase: nothing a flood left (rooms, buckets) weighs on the next.
        // Default limits; users as claimed, so each attacker has buckets of its own (the worst
        // case).
        let (server, addr) =
            resocket_server(&["--insecure-trust-client-user", "--config", &config_arg]);
        let (mut pings, counters) = run_phase(addr, attack, attackers, phase).await;
        drop(server);
        pings.round_trips_us.sort_unstable();
        let rtt = &pings.round_trips_us;
        let [p50, p99] = [50, 99].map(|p| percentile_ms(rtt, p));
        let max = rtt.last().map_or(f64::NAN, |&us| us as f64 / 1000.0);
        println!(
            "{:<32} {:>6} {p50:>8.2} {p99:>8.2} {max:>8.2} {:>10} {:>8} {:>7}",
            attack.name(),
            rtt.len(),
            counters.frames.load(Ordering::Relaxed),
            counters.connections.load(Ordering::Relaxed),
            counters.ended.load(Ordering::Relaxed),
        );
        if let Some(failure) = &pings.failure {
            println!("  HONEST CLIENT FAILED: {failure}");
            failures += 1;
        }
        summary(
            &format!("honest ping p50/p99/max ms, {}", attack.name()),
            &format!("{p50:.2} / {p99:.2} / {max:.2}"),
            &format!("{} pings", rtt.len()),
        );
    }
    let _ = std::fs::remove_file(&config);
    if failures > 0 {
        println!("flood: the honest client failed in {failures} phase(s) (see above)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
