//! Helpers shared by the integration tests: an in-process server on a free loopback port, a
//! WebSocket client with bounded waits, and a minimal HTTP/1.1 client for the control endpoints.
#![allow(dead_code)] // Each test binary uses a different subset.

pub mod honest;

use futures_util::{SinkExt, StreamExt};
use resocket_server::auth::{AuthPolicy, Namespaces, SharedSecret};
use resocket_server::state::RedisSettings;
use resocket_server::{AuthConfig, Server, ServerConfig};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Upper bound for any single wait in a test.
pub const WAIT: Duration = Duration::from_secs(5);

pub const HELLO: &str = r#"{"kind":"hello","payload":{"version":1}}"#;

/// The control secret of the servers [`start`] runs (`--test-controls --control-secret`).
pub const CONTROL_SECRET: &str = "control-secret-of-the-server-tests";

/// What the tests may do: anyone joins, publishes and writes anywhere and broadcasts;
/// `private:<user>` stays owner-only. `server/tests/permissions.rs` tests stricter rules.
pub const TEST_NAMESPACES: &str = r#"
client_broadcast = true

[default]
join = "anyone"
publish = true

[namespaces.private]
join = "owner"
doc_write = "owner"
"#;

pub fn test_namespaces() -> Namespaces {
    Namespaces::from_toml_str(TEST_NAMESPACES).expect("valid test config")
}

/// Starts a server on 127.0.0.1 with a free port, after `adjust` tweaks the defaults.
pub async fn start(adjust: impl FnOnce(&mut ServerConfig)) -> Server {
    let mut config = ServerConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        // Tests often hold clients they no longer poll, which never answer the shutdown close.
        shutdown_grace: Duration::from_millis(250),
        // The tests use the demo methods and the price feed.
        demo: true,
        // Today's tests identify as the user they claim (--insecure-trust-client-user), and
        // use rooms and documents the way `server/resocket.demo.toml` allows.
        auth: AuthConfig {
            policy: AuthPolicy::insecure_trust_claimed_user(),
            namespaces: test_namespaces(),
            ..AuthConfig::default()
        },
        control_secret: Some(SharedSecret::new(CONTROL_SECRET, "tests").expect("secret")),
        ..ServerConfig::default()
    };
    if let Some(url) = engine_redis_url() {
        config.redis = Some(redis_settings(&url, &fresh_prefix()));
    }
    adjust(&mut config);
    Server::start(config).await.expect("server starts")
}

/// `RESOCKET_TEST_ENGINE=redis` with `RESOCKET_TEST_REDIS=<url>`: [`start`] runs every server on
/// the Redis engine (each with keys of its own), so the whole suite tests that engine too.
pub fn engine_redis_url() -> Option<String> {
    let redis = std::env::var("RESOCKET_TEST_ENGINE").is_ok_and(|e| e == "redis");
    redis.then(|| {
        std::env::var("RESOCKET_TEST_REDIS")
            .expect("RESOCKET_TEST_REDIS with RESOCKET_TEST_ENGINE=redis")
    })
}

/// A key prefix no other server of this test run uses.
pub fn fresh_prefix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "test-{}-{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn redis_settings(url: &str, prefix: &str) -> RedisSettings {
    RedisSettings {
        prefix: prefix.to_owned(),
        ..RedisSettings::new(url)
    }
}

/// A `redis-server` of the test's own on a free loopback port, without persistence; killed
/// when dropped.
pub struct RedisServer {
    child: std::process::Child,
    pub port: u16,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        RedisServer::start_on(port).await
    }

    /// Starts one on `port` (again, after [`Self::stop`]).
    pub async fn start_on(port: u16) -> RedisServer {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/install-deps.sh installs it)");
        let server = RedisServer { child, port };
        let deadline = tokio::time::Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it at once (a Redis outage).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a WebSocket without sending anything.
pub async fn connect(server: &Server) -> Ws {
    connect_addr(server.local_addr()).await
}

pub async fn connect_addr(addr: SocketAddr) -> Ws {
    let url = format!("ws://{addr}/ws");
    let (ws, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("connect");
    ws
}

/// Opens a WebSocket and completes the handshake; returns it with its session id.
pub async fn welcomed(server: &Server) -> (Ws, String) {
    welcomed_addr(server.local_addr()).await
}

pub async fn welcomed_addr(addr: SocketAddr) -> (Ws, String) {
    let mut ws = connect_addr(addr).await;
    send(&mut ws, HELLO).await;
    let welcome = json(&next_text(&mut ws).await);
    assert_eq!(welcome["kind"], "welcome", "{welcome}");
    assert_eq!(welcome["payload"]["version"], 1, "{welcome}");
    let session = welcome["payload"]["session"]
        .as_str()
        .expect("session string")
        .to_owned();
    (ws, session)
}

/// A `hello` frame with an optional user and session to resume (`(session, token)`).
pub fn hello(user: Option<&str>, resume: Option<(&str, &str)>) -> String {
    let mut payload = serde_json::json!({"version": 1});
    if let Some(user) = user {
        payload["user"] = user.into();
    }
    if let Some((session, token)) = resume {
        payload["resume"] = serde_json::json!({"session": session, "token": token});
    }
    serde_json::json!({"kind": "hello", "payload": payload}).to_string()
}

/// What a `welcome` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub session: String,
    pub token: String,
    pub resumed: bool,
}

impl Welcome {
    /// The `(session, token)` pair to resume this session with.
    pub fn resume(&self) -> Option<(&str, &str)> {
        Some((&self.session, &self.token))
    }
}

/// Opens a WebSocket, sends `hello(user, resume)` and returns the socket with the welcome.
pub async fn handshake(
    server: &Server,
    user: Option<&str>,
    resume: Option<(&str, &str)>,
) -> (Ws, Welcome) {
    handshake_addr(server.local_addr(), user, resume).await
}

/// [`handshake`] with the server at `addr`.
pub async fn handshake_addr(
    addr: SocketAddr,
    user: Option<&str>,
    resume: Option<(&str, &str)>,
) -> (Ws, Welcome) {
    let mut ws = connect_addr(addr).await;
    send(&mut ws, &hello(user, resume)).await;
    let welcome = expect_kind(&mut ws, "welcome").await;
    let field = |name: &str| {
        welcome["payload"][name]
            .as_str()
            .unwrap_or_else(|| panic!("welcome without {name}: {welcome}"))
            .to_owned()
    };
    let welcome = Welcome {
        session: field("session"),
        token: field("token"),
        resumed: welcome["payload"]["resumed"]
            .as_bool()
            .unwrap_or_else(|| panic!("welcome without resumed: {welcome}")),
    };
    (ws, welcome)
}

/// The next frame as JSON.
pub async fn next_json(ws: &mut Ws) -> serde_json::Value {
    json(&next_text(ws).await)
}

/// The next frame, which must be of `kind`.
pub async fn expect_kind(ws: &mut Ws, kind: &str) -> serde_json::Value {
    let frame = next_json(ws).await;
    assert_eq!(frame["kind"], kind, "expected a {kind} frame, got {frame}");
    frame
}

/// Asserts that nothing is on its way to `ws`: after a short pause, a ping's pong is the very
/// next frame (frames queued for a connection are written before it handles the next one).
pub async fn expect_quiet(ws: &mut Ws) {
    tokio::time::sleep(Duration::from_millis(100)).await;
    send(ws, r#"{"kind":"ping","id":424242}"#).await;
    assert_eq!(next_text(ws).await, r#"{"kind":"pong","id":424242}"#);
}

/// A ping round trip: once the pong is back, the server has handled everything sent before.
pub async fn sync(ws: &mut Ws) {
    send(ws, r#"{"kind":"ping","id":434343}"#).await;
    assert_eq!(next_text(ws).await, r#"{"kind":"pong","id":434343}"#);
}

/// Sends `{"kind":"req","id":id,"payload":{"method":method,"params":params}}`.
pub async fn request(ws: &mut Ws, id: u64, method: &str, params: serde_json::Value) {
    let frame = serde_json::json!({
        "kind": "req", "id": id, "payload": {"method": method, "params": params}
    });
    send(ws, &frame.to_string()).await;
}

/// Polls `/control/stats` until `field` equals `value`; panics after [`WAIT`].
pub async fn wait_for_stat(addr: SocketAddr, field: &str, value: u64) {
    let started = std::time::Instant::now();
    loop {
        let stats = control_get(addr, "/control/stats").await.json();
        if stats[field].as_u64() == Some(value) {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "{field} never became {value}: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn send(ws: &mut Ws, text: &str) {
    timeout(WAIT, ws.send(Message::text(text)))
        .await
        .expect("send in time")
        .expect("send");
}

/// What the client saw next, WebSocket pings and pongs skipped.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Text(String),
    Binary(usize),
    /// A close frame with its code and reason.
    Close(Option<(u16, String)>),
    /// The stream ended or failed without a close frame (what browsers report as 1006).
    Abnormal(String),
}

pub async fn next_event(ws: &mut Ws) -> Event {
    next_event_within(ws, WAIT).await.expect("an event in time")
}

pub async fn next_event_within(ws: &mut Ws, wait: Duration) -> Option<Event> {
    timeout(wait, async {
        loop {
            return match ws.next().await {
                Some(Ok(Message::Text(text))) => Event::Text(text.as_str().to_owned()),
                Some(Ok(Message::Binary(data))) => Event::Binary(data.len()),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => {
                    Event::Close(frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())))
                }
                Some(Err(err)) => Event::Abnormal(err.to_string()),
                None => Event::Abnormal("stream ended".into()),
            };
        }
    })
    .await
    .ok()
}

pub async fn next_text(ws: &mut Ws) -> String {
    match next_event(ws).await {
        Event::Text(text) => text,
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Expects a close frame; returns its code and reason.
/// Reads on afterwards so the client's close reply is flushed, as a browser would.
pub async fn expect_close(ws: &mut Ws) -> (u16, String) {
    let close = match next_event(ws).await {
        Event::Close(Some(close)) => close,
        other => panic!("expected a close frame, got {other:?}"),
    };
    let _ = timeout(WAIT, async { while ws.next().await.is_some() {} }).await;
    close
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not JSON: {e}"))
}

/// Closes a client politely (ignoring errors: the server may already be gone).
pub async fn close(mut ws: Ws) {
    let _ = timeout(WAIT, ws.close(None)).await;
    let _ = timeout(WAIT, async { while ws.next().await.is_some() {} }).await;
}

pub struct HttpResponse {
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        json(&self.body)
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    timeout(WAIT, async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        parse_response(&String::from_utf8_lossy(&raw))
    })
    .await
    .expect("HTTP response in time")
}

fn parse_response(raw: &str) -> HttpResponse {
    let (head, body) = raw.split_once("\r\n\r\n").expect("header terminator");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    assert!(!chunked, "chunked responses are not expected here");
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

pub async fn post(addr: SocketAddr, path: &str, body: &str) -> HttpResponse {
    http(addr, "POST", path, &[], body).await
}

pub async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    http(addr, "GET", path, &[], "").await
}

/// The control secret header of [`start`]'s servers.
pub const CONTROL: (&str, &str) = ("X-Resocket-Control-Secret", CONTROL_SECRET);

/// A control call: `POST` with the control secret.
/// A server API call with `Authorization: Bearer <key>`: its status and JSON body (`null` when
/// empty).
pub async fn api_call(
    addr: SocketAddr,
    key: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {key}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let response = http(addr, method, path, &headers, body).await;
    let value = if response.body.is_empty() {
        serde_json::Value::Null
    } else {
        response.json()
    };
    (response.status, value)
}

pub async fn control_post(addr: SocketAddr, path: &str, body: &str) -> HttpResponse {
    http(addr, "POST", path, &[CONTROL], body).await
}

/// A control call: `GET` with the control secret.
pub async fn control_get(addr: SocketAddr, path: &str) -> HttpResponse {
    http(addr, "GET", path, &[CONTROL], "").await
}
