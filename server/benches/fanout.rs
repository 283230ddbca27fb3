//! Fan-out benchmark (`make bench`): how fast one publisher's messages reach N clients in one room,
//! through real `resocket-server` processes: one node on the memory engine, and two nodes sharing
//! one `redis-server` (receivers split evenly, the publisher on the first node), and a bare Node
//! `ws` broadcast server (`benches/ws-baseline.mjs`) under the same load generator, in the same run.
//!
//! It prints figures and asserts nothing about timing. A message lost, repeated or out of order is
//! a bug, not a figure: it is reported and the bench exits non-zero.
//!
//! `FANOUT_CLIENTS` receivers (default 1000), `FANOUT_MESSAGES` messages of about 100 bytes
//! (default 200), `FANOUT_RUNS` runs of each setup (default 3), alternating setups.

mod support;

use futures_util::{Stream, StreamExt};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::{
    client, env_number, node_ws_server, percentile_ms, recv, resocket_server, send, summary, Guard,
    Ws,
};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const ROOM: &str = "bench";
/// Bound of one client's connect, hello and join, and of a node's or Redis's start.
const SETUP_WAIT: Duration = Duration::from_secs(20);
/// Bound of one run's delivery of every message to every receiver.
const DELIVERY_WAIT: Duration = Duration::from_secs(120);
/// Clients connecting at once: well under the listen backlog.
const CONNECT_CONCURRENCY: usize = 64;
/// Makes each payload about 100 bytes with its timestamp.
const PAD: &str = "fan-out benchmark payload, padded to about one hundred bytes of JSON..";

/// Clients publish to `bench`; presence off, so joins send no presence frames to 1,000 members.
const CONFIG: &str = r#"
[default]
join = "anyone"
publish = true
presence = false
"#;

/// Microseconds since the bench started: publish timestamps, read back by the receivers.
fn micros() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let elapsed = EPOCH.get_or_init(Instant::now).elapsed();
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

fn start_redis() -> (Guard, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--dir", &std::env::temp_dir().to_string_lossy()])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server runs (scripts/install-deps.sh installs it)");
    let guard = Guard(child);
    let deadline = Instant::now() + SETUP_WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (guard, format!("redis://127.0.0.1:{port}"))
}

/// A node on a free port; on the Redis engine with `redis` = `(url, key prefix)`.
fn start_node(config: &Path, redis: Option<(&str, &str)>) -> (Guard, SocketAddr) {
    let config = config.to_string_lossy();
    let mut args = vec!["--insecure-trust-client-user", "--config", &config];
    // One publisher sends back to back, far past a client's publish bucket.
    args.extend(["--rate-limits", "off", "--max-connections-per-user", "0"]);
    if let Some((url, prefix)) = redis {
        args.extend(["--redis", url, "--redis-prefix", prefix]);
    }
    resocket_server(&args)
}

/// Connects, says hello as `user` and joins the room, within [`SETUP_WAIT`].
async fn joined_client(addr: SocketAddr, user: String) -> Result<Ws, String> {
    timeout(SETUP_WAIT, client(addr, Some(&user), Some(ROOM)))
        .await
        .map_err(|_| format!("{addr}: no join within {SETUP_WAIT:?}"))?
}

/// What one receiver saw.
struct Received<S> {
    done: Instant,
    latencies_us: Vec<u64>,
    anomalies: Vec<String>,
    /// Kept open until every receiver is done, so closes do not load the nodes mid-run.
    _rx: S,
}

/// Reads `m` messages; seqs must be 1..=m in order.
async fn receive<S>(mut rx: S, m: u64, deadline: tokio::time::Instant) -> Received<S>
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let (mut got, mut due) = (0, 1);
    let mut latencies_us = Vec::with_capacity(usize::try_from(m).unwrap_or(0));
    let mut anomalies = Vec::new();
    while got < m {
        match tokio::time::timeout_at(deadline, recv(&mut rx)).await {
            Err(_) => {
                anomalies.push(format!("timed out with {got} of {m} messages"));
                break;
            }
            Ok(Err(err)) => {
                anomalies.push(format!("{err} after {got} of {m} messages"));
                break;
            }
            Ok(Ok(frame)) if frame.kind == "msg" => {
                let seq = frame.seq.unwrap_or(0);
                if seq != due {
                    anomalies.push(format!("seq {seq} where {due} was due"));
                }
                due = seq + 1;
                got += 1;
                if let Some(sent) = frame.payload["t"].as_u64() {
                    latencies_us.push(micros().saturating_sub(sent));
                }
            }
            Ok(Ok(_)) => {}
        }
    }
    Received {
        done: Instant::now(),
        latencies_us,
        anomalies,
        _rx: rx,
    }
}

/// One run's figures.
struct Run {
    time: Duration,
    p50_ms: f64,
    p99_ms: f64,
    anomalies: Vec<String>,
}

/// Connects `n` receivers round-robin over `nodes` and a publisher on the first, publishes `m`
/// messages as fast as the socket takes them, and waits for every receiver to have them all.
async fn run_once(nodes: &[SocketAddr], n: usize, m: u64) -> Run {
    let receivers: Vec<Ws> = futures_util::stream::iter(0..n)
        .map(|i| joined_client(nodes[i % nodes.len()], format!("u{i}")))
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("a receiver could not join: {e}"));
    let publisher = joined_client(nodes[0], "publisher".to_owned())
        .await
        .unwrap_or_else(|e| panic!("the publisher could not join: {e}"));
    let (mut tx, rx) = publisher.split();

    let deadline = tokio::time::Instant::now() + DELIVERY_WAIT;
    let tasks: Vec<_> = receivers
        .into_iter()
        .map(|ws| tokio::spawn(receive(ws, m, deadline)))
        .collect();
    // The publisher receives its own messages too: read them so its queue never fills.
    let own = tokio::spawn(receive(rx, m, deadline));
    let start = Instant::now();
    let mut anomalies = Vec::new();
    for _ in 0..m {
        let frame =
            json!({"kind": "publish", "room": ROOM, "payload": {"t": micros(), "pad": PAD}});
        if let Err(err) = send(&mut tx, frame).await {
            anomalies.push(format!("publisher: {err}"));
            break;
        }
    }
    let mut last = start;
    let mut latencies = Vec::with_capacity(n * usize::try_from(m).unwrap_or(0));
    let mut done = Vec::with_capacity(n);
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(received) => {
                last = last.max(received.done);
                latencies.extend_from_slice(&received.latencies_us);
                let node = i % nodes.len();
                anomalies.extend(
                    received
                        .anomalies
                        .iter()
                        .map(|a| format!("u{i} (node {node}): {a}")),
                );
                done.push(received);
            }
            Err(err) => anomalies.push(format!("u{i}: {err}")),
        }
    }
    match own.await {
        Ok(received) => anomalies.extend(
            received
                .anomalies
                .into_iter()
                .map(|a| format!("publisher: {a}")),
        ),
        Err(err) => anomalies.push(format!("publisher: {err}")),
    }
    latencies.sort_unstable();
    Run {
        time: last - start,
        p50_ms: percentile_ms(&latencies, 50),
        p99_ms: percentile_ms(&latencies, 99),
        anomalies,
    }
}

fn print_row(setup: &str, nodes: usize, n: usize, m: u64, run: &Run) {
    let secs = run.time.as_secs_f64().max(1e-9);
    println!(
        "{setup:<16} {nodes:>5} {n:>7} {m:>8} {:>9.1} {:>9.0} {:>12.0} {:>7.1} {:>7.1}",
        secs * 1000.0,
        m as f64 / secs,
        (m as f64) * (n as f64) / secs,
        run.p50_ms,
        run.p99_ms,
    );
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> ExitCode {
    let numbers = (
        env_number("FANOUT_CLIENTS", 1000),
        env_number("FANOUT_MESSAGES", 200),
        env_number("FANOUT_RUNS", 3),
    );
    let (n, m, runs) = match numbers {
        (Ok(n), Ok(m), Ok(runs)) => (usize::try_from(n).unwrap_or(usize::MAX), m, runs),
        (n, m, runs) => {
            for err in [n.err(), m.err(), runs.err()].into_iter().flatten() {
                eprintln!("fanout: {err}");
            }
            return ExitCode::from(2);
        }
    };
    let config = std::env::temp_dir().join(format!("resocket-fanout-{}.toml", std::process::id()));
    std::fs::write(&config, CONFIG).expect("the config file");
    let (_redis, redis_url) = start_redis();

    println!(
        "fan-out: {n} receivers (+1 publisher) in one room, {m} messages of ~100 bytes published \
         back to back, {runs} run(s) per setup; nodes, Redis and clients share this machine"
    );
    let header = format!(
        "{:<16} {:>5} {:>7} {:>8} {:>9} {:>9} {:>12} {:>7} {:>7}",
        "setup",
        "nodes",
        "clients",
        "messages",
        "time ms",
        "msgs/s",
        "deliveries/s",
        "p50 ms",
        "p99 ms"
    );
    println!("{header}");
    let setups = [("memory", 1), ("redis", 2), ("node ws", 1)];
    let mut results: Vec<Vec<Run>> = setups.iter().map(|_| Vec::new()).collect();
    let mut anomalies = 0;
    for r in 0..runs {
        for (s, &(setup, count)) in setups.iter().enumerate() {
            // Fresh nodes and keys each run: nothing left over from the one before.
            let prefix = format!("fanout-{}-{r}:", std::process::id());
            let redis = (setup == "redis").then_some((redis_url.as_str(), prefix.as_str()));
            let nodes: Vec<(Guard, SocketAddr)> = match setup {
                "node ws" => vec![node_ws_server()],
                _ => (0..count).map(|_| start_node(&config, redis)).collect(),
            };
            let addrs: Vec<SocketAddr> = nodes.iter().map(|(_, addr)| *addr).collect();
            let run = run_once(&addrs, n, m).await;
            print_row(&format!("{setup} #{}", r + 1), count, n, m, &run);
            for anomaly in run.anomalies.iter().take(10) {
                println!("  ANOMALY: {anomaly}");
            }
            if run.anomalies.len() > 10 {
                println!("  ... {} anomalies in all", run.anomalies.len());
            }
            anomalies += run.anomalies.len();
            results[s].push(run);
        }
    }
    println!("{header}");
    let medians: Vec<Run> = results
        .iter()
        .map(|runs| {
            let mut times: Vec<f64> = runs.iter().map(|r| r.time.as_secs_f64()).collect();
            let mut p50: Vec<f64> = runs.iter().map(|r| r.p50_ms).collect();
            let mut p99: Vec<f64> = runs.iter().map(|r| r.p99_ms).collect();
            Run {
                time: Duration::from_secs_f64(median(&mut times)),
                p50_ms: median(&mut p50),
                p99_ms: median(&mut p99),
                anomalies: Vec::new(),
            }
        })
        .collect();
    for (run, &(setup, count)) in medians.iter().zip(&setups) {
        print_row(&format!("{setup} median"), count, n, m, run);
    }
    // Same clients and messages: the ratio of deliveries/s is the inverse ratio of times.
    let deliveries = |run: &Run| (m as f64) * (n as f64) / run.time.as_secs_f64().max(1e-9);
    let [memory, redis, node] = [0, 1, 2].map(|i| deliveries(&medians[i]));
    let ratio = memory / node;
    println!(
        "memory engine / node ws deliveries per second: {ratio:.2}x (goal at least 3x); \
         redis (2 nodes) / node ws: {:.2}x",
        redis / node
    );
    let room = format!("1 room of {n}, {m} msgs, median of {runs}");
    summary(
        &format!("fan-out deliveries/s, memory engine ({room})"),
        &format!("{memory:.0}"),
        &format!("{ratio:.2}x node ws (goal >= 3x)"),
    );
    summary(
        &format!("fan-out deliveries/s, redis, 2 nodes ({room})"),
        &format!("{redis:.0}"),
        &format!("{:.2}x node ws", redis / node),
    );
    summary(
        &format!("fan-out deliveries/s, node ws ({room})"),
        &format!("{node:.0}"),
        "baseline",
    );
    let _ = std::fs::remove_file(&config);
    if anomalies > 0 {
        println!("fanout: {anomalies} delivery anomalies (see above)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
