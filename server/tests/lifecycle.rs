//! Starting, stopping and restarting the server; static files; the binary's CLI and signals.

mod common;

use common::*;
use resocket_server::{Server, ServerConfig, ServerError};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn graceful_shutdown_closes_every_socket_with_1001() {
    let server = start(|_| {}).await;
    let (mut open, _) = welcomed(&server).await;
    let mut pending = connect(&server).await;
    let started = Instant::now();
    let stopping = tokio::spawn(server.shutdown());
    for ws in [&mut open, &mut pending] {
        assert_eq!(
            expect_close(ws).await,
            (1001, "server shutting down".to_owned())
        );
    }
    let result = tokio::time::timeout(WAIT, stopping)
        .await
        .expect("stops in time");
    result.expect("task").expect("clean shutdown");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn shutdown_is_bounded_when_clients_do_not_answer() {
    let server = start(|c| c.shutdown_grace = Duration::from_millis(300)).await;
    // These clients are never polled again, so they never answer the close frame.
    let (_deaf, _) = welcomed(&server).await;
    let _silent = connect(&server).await;
    let started = Instant::now();
    tokio::time::timeout(WAIT, server.shutdown())
        .await
        .expect("stops in time")
        .expect("clean shutdown");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_port_can_be_bound_again_right_after_a_stop() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    // A live connection at shutdown leaves the server side in TIME_WAIT; rebinding must work.
    let (mut ws, _) = welcomed(&server).await;
    send(&mut ws, r#"{"kind":"msg","payload":1}"#).await;
    assert_eq!(next_text(&mut ws).await, r#"{"kind":"msg","payload":1}"#);
    let stopping = tokio::spawn(server.shutdown());
    assert_eq!(expect_close(&mut ws).await.0, 1001);
    drop(ws);
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("stops in time")
        .expect("task")
        .expect("clean shutdown");

    let again = Server::start(ServerConfig {
        addr,
        ..ServerConfig::default()
    })
    .await
    .expect("rebinding the same port works");
    assert_eq!(again.local_addr(), addr);
    let (_ws, session) = welcomed(&again).await;
    assert_eq!(session, "s-1", "a restarted server counts sessions afresh");
    again.shutdown().await.expect("clean shutdown");
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "resocket-server-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn static_files_are_served_next_to_the_websocket_and_control_endpoints() {
    let dir = TempDir::new("static");
    std::fs::write(dir.0.join("index.html"), "<h1>demo</h1>").expect("write");
    std::fs::write(dir.0.join("app.js"), "console.log(1)").expect("write");
    let static_dir = dir.0.clone();
    let server = start(move |c| c.static_dir = Some(static_dir)).await;
    let addr = server.local_addr();

    let index = get(addr, "/").await;
    assert_eq!((index.status, index.body.as_str()), (200, "<h1>demo</h1>"));
    assert!(index
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    let script = get(addr, "/app.js").await;
    assert_eq!(
        (script.status, script.body.as_str()),
        (200, "console.log(1)")
    );
    assert_eq!(get(addr, "/missing.css").await.status, 404);
    assert_eq!(
        control_get(addr, "/control/stats").await.json()["connections"],
        0
    );
    let (_ws, _) = welcomed(&server).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_missing_static_directory_is_a_typed_error() {
    let config = ServerConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        static_dir: Some(PathBuf::from("/definitely/not/here")),
        ..ServerConfig::default()
    };
    match Server::start(config).await {
        Err(ServerError::StaticDir { path }) => {
            assert_eq!(path, PathBuf::from("/definitely/not/here"))
        }
        other => panic!("expected StaticDir, got {other:?}"),
    }
}

#[tokio::test]
async fn binding_a_busy_port_is_a_typed_error() {
    let server = start(|_| {}).await;
    let config = ServerConfig {
        addr: server.local_addr(),
        ..ServerConfig::default()
    };
    assert!(matches!(
        Server::start(config).await,
        Err(ServerError::Bind { .. })
    ));
    server.shutdown().await.expect("clean shutdown");
}

const BIN: &str = env!("CARGO_BIN_EXE_resocket-server");

#[test]
fn the_binary_prints_help_and_rejects_bad_arguments() {
    let help = Command::new(BIN).arg("--help").output().expect("run");
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--max-frame-bytes"));

    let bad = Command::new(BIN).arg("--bogus").output().expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--bogus"));
}

#[test]
fn the_binary_refuses_to_start_without_an_auth_mode() {
    let out = Command::new(BIN)
        .args(["--addr", "127.0.0.1:0"])
        .env_remove("RESOCKET_JWT_SECRET")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no authentication configured"), "{stderr}");
    assert!(stderr.contains("--insecure-trust-client-user"), "{stderr}");
}

/// Kills the child on drop so a failing test leaves no process behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn sigterm_closes_clients_with_1001_and_exits_0() {
    let mut child = Child(
        Command::new(BIN)
            .args(["--addr", "127.0.0.1:0", "--insecure-trust-client-user"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let line = tokio::time::timeout(
        WAIT,
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }),
    )
    .await
    .expect("startup line in time")
    .expect("reader task")
    .expect("read stdout");
    let addr: SocketAddr = line
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    let (mut ws, _) = welcomed_addr(addr).await;
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    assert_eq!(
        expect_close(&mut ws).await,
        (1001, "server shutting down".to_owned())
    );
    drop(ws);

    let exit = loop {
        if let Some(exit) = child.0.try_wait().expect("wait") {
            break exit;
        }
        assert!(started.elapsed() < WAIT, "the server did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
