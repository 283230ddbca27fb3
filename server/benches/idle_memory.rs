//! Server memory per idle connection: the release `resocket-server` with N welcomed, idle
//! WebSocket connections on loopback, its resident set (VmRSS) read from /proc before and after.
//! Prints figures; asserts nothing. `IDLE_CONNECTIONS` (default 10000), `IDLE_SETTLE_MS` (1000).

use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let count = env_number("IDLE_CONNECTIONS", 10_000) as usize;
    let settle = Duration::from_millis(env_number("IDLE_SETTLE_MS", 1000));
    let mut child = Command::new(env!("CARGO_BIN_EXE_resocket-server"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--allow-anonymous",
            "--handshake-timeout-ms",
            "60000",
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("resocket-server runs");
    let stdout = child.stdout.take().expect("stdout");
    let pid = child.id();
    let server = ServerProcess(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the listening line");
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    tokio::time::sleep(settle).await;
    let before = rss_kib(pid);

    let url = format!("ws://{addr}/ws");
    let mut sockets = Vec::with_capacity(count);
    let hello = r#"{"kind":"hello","payload":{"version":1}}"#;
    for _ in 0..count {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("connect");
        ws.send(Message::text(hello)).await.expect("hello");
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.contains("\"welcome\"") => {}
            other => panic!("no welcome: {other:?}"),
        }
        sockets.push(ws);
    }
    tokio::time::sleep(settle).await;
    let after = rss_kib(pid);
    let per = (after.saturating_sub(before)) as f64 / count as f64;
    println!("idle connections: {count} welcomed on {addr}");
    println!("server RSS: {before} KiB before, {after} KiB after");
    println!("server memory per idle connection: {per:.1} KiB (budget 8 KiB)");
    drop(sockets);
    drop(server);
}
