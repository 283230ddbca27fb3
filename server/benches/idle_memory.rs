//! Server memory per idle connection: N welcomed, idle WebSocket connections on loopback to the
//! release `resocket-server`, then the same to a bare Node `ws` server (`benches/ws-baseline.mjs`)
//! in the same run, by the same client code; each server's resident set (VmRSS, /proc) is read
//! before and after. Prints figures; asserts nothing. `IDLE_CONNECTIONS` (default 10000),
//! `IDLE_SETTLE_MS` (1000).

mod support;

use futures_util::StreamExt;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;
use support::{client, env_number, node_ws_server, resocket_server, rss_kib, summary, Guard, Ws};

/// Clients connecting at once: well under the listen backlog.
const CONNECT_CONCURRENCY: usize = 64;
/// Bound of one client's connect, hello and welcome.
const SETUP_WAIT: Duration = Duration::from_secs(20);

/// A connection that said hello and got its welcome.
async fn welcomed(addr: SocketAddr) -> Result<Ws, String> {
    tokio::time::timeout(SETUP_WAIT, client(addr, None, None))
        .await
        .map_err(|_| format!("no welcome within {SETUP_WAIT:?}"))?
}

/// The server's growth in KiB per connection with `count` idle ones open.
async fn per_connection(
    name: &str,
    (server, addr): (Guard, SocketAddr),
    count: usize,
    settle: Duration,
) -> Result<f64, String> {
    tokio::time::sleep(settle).await;
    let before = rss_kib(server.pid());
    let sockets: Vec<Ws> = futures_util::stream::iter(0..count)
        .map(|_| welcomed(addr))
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{name}: {e}"))?;
    tokio::time::sleep(settle).await;
    let after = rss_kib(server.pid());
    let per = after.saturating_sub(before) as f64 / count as f64;
    println!(
        "{name:<16} {before:>10} {after:>10} {:>10.1} {per:>10.1}",
        after.saturating_sub(before) as f64 / 1024.0
    );
    drop(sockets);
    drop(server);
    Ok(per)
}

#[tokio::main]
async fn main() -> ExitCode {
    let (count, settle) = match (
        env_number("IDLE_CONNECTIONS", 10_000),
        env_number("IDLE_SETTLE_MS", 1000),
    ) {
        (Ok(count), Ok(ms)) => (
            usize::try_from(count).unwrap_or(usize::MAX),
            Duration::from_millis(ms),
        ),
        (count, ms) => {
            for err in [count.err(), ms.err()].into_iter().flatten() {
                eprintln!("idle_memory: {err}");
            }
            return ExitCode::from(2);
        }
    };
    println!("memory per idle connection: {count} welcomed, idle WebSockets on loopback");
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>10}",
        "server", "RSS0 KiB", "RSS1 KiB", "grew MiB", "KiB/conn"
    );
    let server = resocket_server(&["--allow-anonymous", "--handshake-timeout-ms", "60000"]);
    let ours = per_connection("resocket-server", server, count, settle).await;
    let node = per_connection("node ws", node_ws_server(), count, settle).await;
    let (ours, node) = match (ours, node) {
        (Ok(ours), Ok(node)) => (ours, node),
        (ours, node) => {
            for err in [ours.err(), node.err()].into_iter().flatten() {
                eprintln!("idle_memory: {err}");
            }
            return ExitCode::FAILURE;
        }
    };
    println!(
        "resocket-server: {ours:.1} KiB per idle connection (budget 8 KiB); node ws: {node:.1} KiB"
    );
    let conns = format!("{count} idle connections");
    summary(
        &format!("server RSS per connection, {conns}"),
        &format!("{ours:.1} KiB"),
        &format!("budget 8 KiB; node ws {node:.1} KiB"),
    );
    ExitCode::SUCCESS
}
