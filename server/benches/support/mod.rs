//! Helpers shared by the benchmarks: processes under test (the release `resocket-server`, a bare
//! Node `ws` server from `benches/ws-baseline.mjs`) started on a free loopback port and found by
//! their listening line, their resident memory, the bench's settings from the environment, and
//! the summary rows `scripts/bench.sh` prints as one table at the end of `make bench`, and a
//! protocol client (hello, join, frames in and out).
#![allow(dead_code)] // Each bench uses a different subset.

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Bound of a process's start, until its listening line.
pub const START_WAIT: Duration = Duration::from_secs(20);

/// A child process, killed when dropped (on panic too).
pub struct Guard(pub Child);

impl Guard {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `resocket-server` with `args` (its address is given here: `127.0.0.1:0`), logging errors only.
pub fn resocket_server(args: &[&str]) -> (Guard, SocketAddr) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_resocket-server"));
    command
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "error");
    listening(command)
}

/// The bare Node `ws` server of `benches/ws-baseline.mjs` (the repository's `node_modules`, from
/// `scripts/install-deps.sh`), speaking just enough of the protocol for the same load generator.
pub fn node_ws_server() -> (Guard, SocketAddr) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/ws-baseline.mjs");
    let mut command = Command::new("node");
    command.arg(script);
    listening(command)
}

/// Spawns `command` and waits, within [`START_WAIT`], for its first stdout line, which ends with
/// the address it listens on (`... listening on 127.0.0.1:PORT`).
fn listening(mut command: Command) -> (Guard, SocketAddr) {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} does not start: {e}"));
    let stdout = child.stdout.take().expect("stdout is piped");
    let guard = Guard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    // A thread, so the wait for the line is bounded; it then drains stdout to the end.
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        lines.for_each(drop);
    });
    let line = rx
        .recv_timeout(START_WAIT)
        .unwrap_or_else(|_| panic!("no listening line from {command:?}"));
    let addr = line
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (guard, addr)
}

/// Resident memory of a process (VmRSS in `/proc/<pid>/status`), in KiB; 0 if unreadable.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A positive number from the environment variable `name`, or `default` when it is unset.
pub fn env_number(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{name}={v:?} is not a positive number")),
    }
}

/// Appends a row (figure, value, what it is held against) to the file `BENCH_SUMMARY` names, if
/// any: `scripts/bench.sh` prints them as a table at the end.
pub fn summary(figure: &str, value: &str, against: &str) {
    let Ok(path) = std::env::var("BENCH_SUMMARY") else {
        return;
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path);
    let written = file.and_then(|mut f| writeln!(f, "{figure}\t{value}\t{against}"));
    if let Err(err) = written {
        eprintln!("cannot append to BENCH_SUMMARY={path}: {err}");
    }
}

/// The value at percentile `p` (0–100) of sorted microseconds, in milliseconds (NaN if empty).
pub fn percentile_ms(sorted_us: &[u64], p: usize) -> f64 {
    let at = (sorted_us.len() * p / 100).min(sorted_us.len().saturating_sub(1));
    sorted_us.get(at).map_or(f64::NAN, |&us| us as f64 / 1000.0)
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The parts of a server frame the benches read.
#[derive(Deserialize)]
pub struct Frame {
    pub kind: String,
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default)]
    pub payload: Value,
}

/// The next text frame, parsed; a close or the end of the stream is an error.
pub async fn recv<S>(rx: &mut S) -> Result<Frame, String>
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    loop {
        match rx.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text).map_err(|e| format!("bad frame {text}: {e}"))
            }
            Some(Ok(Message::Close(close))) => {
                return Err(format!("closed by the server: {close:?}"))
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err.to_string()),
            None => return Err("the connection ended".to_owned()),
        }
    }
}

pub async fn send<S>(tx: &mut S, frame: Value) -> Result<(), String>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    tx.send(Message::text(frame.to_string()))
        .await
        .map_err(|e| e.to_string())
}

/// Connects, says hello (as `user` if any) and waits for the welcome; then joins `room` if any
/// and waits for `joined`. Unbounded: callers put it under a timeout.
pub async fn client(
    addr: SocketAddr,
    user: Option<&str>,
    room: Option<&str>,
) -> Result<Ws, String> {
    let url = format!("ws://{addr}/ws");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let hello = match user {
        Some(user) => json!({"kind": "hello", "payload": {"version": 1, "user": user}}),
        None => json!({"kind": "hello", "payload": {"version": 1}}),
    };
    let join = room.map(|room| json!({"kind": "join", "id": 1, "room": room, "payload": {}}));
    let who = user.unwrap_or("anonymous");
    for (frame, answer) in [(Some(hello), "welcome"), (join, "joined")] {
        let Some(frame) = frame else {
            continue;
        };
        send(&mut ws, frame).await?;
        loop {
            let got = recv(&mut ws).await?;
            if got.kind == answer {
                break;
            }
            if got.kind == "error" {
                return Err(format!("{who}: error {} instead of {answer}", got.payload));
            }
        }
    }
    Ok(ws)
}
