//! HTTP control endpoints for tests and demos: fault injection, notifications, room publishing,
//! document state and counters. Routed only with `--test-controls`; every call must carry the
//! control secret in [`CONTROL_SECRET_HEADER`] (compared in constant time) and come from a
//! loopback peer. A custom header cannot be sent cross-site without a CORS preflight, and
//! preflights are answered for the origins `/ws` accepts only, so a foreign page can neither send
//! the secret nor read an answer; a simple cross-site POST arrives without it and is refused (403)
//! before anything happens.

use super::error::AppError;
use super::AppState;
use crate::auth::{OriginPolicy, SharedSecret};
use crate::protocol::frames;
use crate::state::{Delivery, Engine, EngineError, Entries, To};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::ws::Utf8Bytes;
use axum::extract::{Query, Request, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderName, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::{info, warn};

/// The frame `/control/malformed` sends.
pub const MALFORMED_FRAME: &str = "this is not json{";

/// Longest outage `/control/drop` accepts, so a typo cannot take the server away for days.
pub const MAX_OUTAGE: Duration = Duration::from_secs(3600);

/// The header every control call carries the control secret in.
pub const CONTROL_SECRET_HEADER: &str = "x-resocket-control-secret";

/// The control routes, guarded by `secret`; CORS answers the origins `origins` allows.
pub fn router<E: Engine>(secret: SharedSecret, origins: OriginPolicy) -> Router<AppState<E>> {
    Router::new()
        .route("/control/drop", post(drop_connections::<E>))
        .route("/control/malformed", post(send_malformed::<E>))
        .route("/control/send", post(send_text::<E>))
        .route("/control/stats", get(stats::<E>))
        .route("/control/flood", post(flood::<E>))
        .route("/control/notify", post(notify::<E>))
        .route("/control/publish", post(publish::<E>))
        .route("/control/doc", get(doc::<E>))
        // Route layers: other paths (the static files, 404s) are not guarded or CORS-enabled.
        .route_layer(middleware::from_fn_with_state(
            Arc::new(secret),
            require_secret,
        ))
        .route_layer(middleware::from_fn(require_loopback))
        // Outermost, so preflights (which never carry the secret) are answered and a 403 is
        // readable by an allowed page.
        .route_layer(cors(origins))
}

/// CORS for the origins the `/ws` origin policy accepts (judged against the request's `Host`,
/// as for `/ws`); any other origin gets no CORS headers, so its browser neither sends the
/// secret header nor shows the page an answer.
fn cors(origins: OriginPolicy) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, parts| {
            let host = parts.headers.get(HOST).and_then(|h| h.to_str().ok());
            origin
                .to_str()
                .is_ok_and(|origin| origins.check(Some(origin), host).is_ok())
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([CONTENT_TYPE, HeaderName::from_static(CONTROL_SECRET_HEADER)])
}

/// Why a control call was refused (403, `{"error":{"code","message"}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlRefused {
    #[error("control endpoints answer loopback peers only")]
    NotLoopback,
    #[error("the X-Resocket-Control-Secret header is missing")]
    SecretMissing,
    #[error("the X-Resocket-Control-Secret header does not match the control secret")]
    SecretWrong,
}

impl ControlRefused {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            ControlRefused::NotLoopback => "not_loopback",
            ControlRefused::SecretMissing => "control_secret_missing",
            ControlRefused::SecretWrong => "control_secret_wrong",
        }
    }
}

impl IntoResponse for ControlRefused {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {"code": self.code(), "message": self.to_string()}
        });
        (StatusCode::FORBIDDEN, Json(body)).into_response()
    }
}

/// Lets the call through only with the control secret; refused calls never reach a handler.
async fn require_secret(
    State(secret): State<Arc<SharedSecret>>,
    request: Request,
    next: Next,
) -> Response {
    let refused = match request.headers().get(CONTROL_SECRET_HEADER) {
        None => Some(ControlRefused::SecretMissing),
        Some(presented) => match presented.to_str() {
            Ok(presented) if secret.matches(presented) => None,
            _ => Some(ControlRefused::SecretWrong),
        },
    };
    match refused {
        None => next.run(request).await,
        Some(refused) => {
            warn!(
                path = request.uri().path(),
                code = refused.code(),
                "control request refused"
            );
            refused.into_response()
        }
    }
}

/// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback.
pub fn is_loopback(peer: &SocketAddr) -> bool {
    peer.ip().to_canonical().is_loopback()
}

async fn require_loopback(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if is_loopback(&peer) {
        next.run(request).await
    } else {
        warn!(%peer, path = request.uri().path(), "control request from a non-loopback peer refused");
        ControlRefused::NotLoopback.into_response()
    }
}

#[derive(Debug, Deserialize)]
struct DropQuery {
    #[serde(default)]
    outage_ms: u64,
}

#[derive(Debug, Serialize)]
struct Dropped {
    dropped: usize,
}

#[derive(Debug, Serialize)]
struct Sent {
    sent: usize,
}

/// Counters; `connections` counts welcomed connections only, `sessions` those that can still be
/// resumed, `rooms` those with at least one member, `docs` every document held.
#[derive(Debug, Serialize)]
struct Stats {
    connections: usize,
    handshaking: usize,
    sessions: usize,
    rooms: usize,
    docs: usize,
    accepted: u64,
    refused: u64,
    /// Handshakes refused for their credentials (close 4401).
    refused_handshakes: u64,
    outage_remaining_ms: u64,
}

async fn drop_connections<E: Engine>(
    State(app): State<AppState<E>>,
    Query(query): Query<DropQuery>,
) -> Result<Json<Dropped>, AppError> {
    let outage = Duration::from_millis(query.outage_ms);
    if outage > MAX_OUTAGE {
        return Err(AppError::BadRequest(format!(
            "outage_ms must be at most {}",
            MAX_OUTAGE.as_millis()
        )));
    }
    // The outage starts first, so clients that reconnect at once are already refused.
    app.outage.start(outage);
    let dropped = app.hub.drop_all();
    info!(
        dropped,
        outage_ms = query.outage_ms,
        "control: dropped all connections"
    );
    Ok(Json(Dropped { dropped }))
}

async fn send_malformed<E: Engine>(State(app): State<AppState<E>>) -> Result<Json<Sent>, AppError> {
    let malformed = Delivery::new(To::Everyone, Utf8Bytes::from_static(MALFORMED_FRAME));
    let sent = app.engine.deliver(malformed).await?;
    info!(sent, "control: sent a malformed frame");
    Ok(Json(Sent { sent }))
}

async fn send_text<E: Engine>(
    State(app): State<AppState<E>>,
    body: String,
) -> Result<Json<Sent>, AppError> {
    let bytes = body.len();
    let sent = app
        .engine
        .deliver(Delivery::new(To::Everyone, body))
        .await?;
    info!(sent, bytes, "control: sent a raw frame");
    Ok(Json(Sent { sent }))
}

/// Largest flood `/control/flood` accepts.
pub const MAX_FLOOD: u64 = 1_000_000;

#[derive(Debug, Deserialize)]
struct FloodQuery {
    count: u64,
    #[serde(default)]
    pad: usize,
    /// Room messages of this room (`seq` 1..=count, as its members expect after joining it
    /// empty) instead of plain messages.
    room: Option<String>,
}

#[derive(Debug, Serialize)]
struct Flooding {
    connections: usize,
    count: u64,
}

/// Sends `count` numbered `msg` frames (`{"i":n,"pad":"xx.."}`) to every welcomed connection as
/// fast as each one reads them, for receive-throughput benchmarks: plain messages, or with
/// `room`, room messages numbered from 1 (the engine is not involved: nothing is stored).
/// Answers at once; the frames follow in a background task per connection.
async fn flood<E: Engine>(
    State(app): State<AppState<E>>,
    Query(query): Query<FloodQuery>,
) -> Result<Json<Flooding>, AppError> {
    if query.count > MAX_FLOOD || query.pad > 64 * 1024 {
        return Err(AppError::BadRequest(format!(
            "count must be at most {MAX_FLOOD} and pad at most 65536"
        )));
    }
    if query
        .room
        .as_deref()
        .is_some_and(|room| !crate::state::is_valid_name(room))
    {
        return Err(EngineError::BadRoomName.into());
    }
    let outbounds = app.hub.open_outbounds();
    let pad = "x".repeat(query.pad);
    for outbound in &outbounds {
        let outbound = outbound.clone();
        let pad = pad.clone();
        let room = query.room.clone();
        tokio::spawn(async move {
            for i in 0..query.count {
                let payload = format!(r#"{{"i":{i},"pad":"{pad}"}}"#);
                let frame = match (&room, RawValue::from_string(payload)) {
                    (Some(room), Ok(payload)) => frames::room_msg(room, i + 1, None, &payload),
                    (_, Ok(payload)) => format!(r#"{{"kind":"msg","payload":{}}}"#, payload.get()),
                    (_, Err(_)) => break, // cannot happen: the payload is built above
                };
                if outbound.send(frame.into()).await.is_err() {
                    break; // the connection ended
                }
            }
        });
    }
    info!(
        connections = outbounds.len(),
        count = query.count,
        "control: flood"
    );
    Ok(Json(Flooding {
        connections: outbounds.len(),
        count: query.count,
    }))
}

/// The body of `/control/notify` and `/control/publish`: any JSON value, kept raw.
fn json_body(body: &str) -> Result<Box<RawValue>, AppError> {
    serde_json::from_str(body)
        .map_err(|err| AppError::BadRequest(format!("the body must be one JSON value: {err}")))
}

#[derive(Debug, Deserialize)]
struct NotifyQuery {
    user: Option<String>,
}

/// Sends `{"kind":"notify","payload":<body>}` to every welcomed connection of `user`, or to
/// every welcomed connection without `user`.
async fn notify<E: Engine>(
    State(app): State<AppState<E>>,
    Query(query): Query<NotifyQuery>,
    body: String,
) -> Result<Json<Sent>, AppError> {
    let payload = json_body(&body)?;
    let to = match &query.user {
        Some(user) => To::User(user.clone()),
        None => To::Everyone,
    };
    let sent = app
        .engine
        .deliver(Delivery::new(to, frames::notify(&payload)))
        .await?;
    info!(sent, user = ?query.user, "control: notify");
    Ok(Json(Sent { sent }))
}

#[derive(Debug, Deserialize)]
struct PublishQuery {
    room: String,
}

#[derive(Debug, Serialize)]
struct PublishedReply {
    seq: u64,
    members: usize,
}

/// Publishes the body to `room` as if by a member.
async fn publish<E: Engine>(
    State(app): State<AppState<E>>,
    Query(query): Query<PublishQuery>,
    body: String,
) -> Result<Json<PublishedReply>, AppError> {
    let payload = json_body(&body)?;
    let published = app.engine.publish_as_server(&query.room, &payload).await?;
    info!(room = query.room, seq = published.seq, "control: publish");
    Ok(Json(PublishedReply {
        seq: published.seq,
        members: published.members,
    }))
}

#[derive(Debug, Deserialize)]
struct DocQuery {
    name: String,
}

#[derive(Debug, Serialize)]
struct DocState {
    rev: u64,
    entries: Entries,
}

/// The server's truth about a document: `{"rev":n,"entries":{key:{"value":..,"rev":..}}}`.
async fn doc<E: Engine>(
    State(app): State<AppState<E>>,
    Query(query): Query<DocQuery>,
) -> Result<Json<DocState>, AppError> {
    if !crate::state::is_valid_name(&query.name) {
        return Err(EngineError::BadDocName.into());
    }
    match app.engine.doc_state(&query.name).await? {
        Some((rev, entries)) => Ok(Json(DocState { rev, entries })),
        None => Err(AppError::NoDocument(query.name)),
    }
}

async fn stats<E: Engine>(State(app): State<AppState<E>>) -> Result<Json<Stats>, AppError> {
    let hub = app.hub.stats();
    let state = app.engine.stats().await?;
    let remaining = app.outage.remaining().unwrap_or_default();
    Ok(Json(Stats {
        connections: hub.open,
        handshaking: hub.handshaking,
        sessions: state.sessions,
        rooms: state.rooms,
        docs: state.docs,
        accepted: hub.accepted,
        refused: app.outage.refused(),
        refused_handshakes: app
            .refused_handshakes
            .load(std::sync::atomic::Ordering::Relaxed),
        outage_remaining_ms: u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::ServerConfig;
    use axum::extract::connect_info::MockConnectInfo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn loopback_predicate() {
        for addr in [
            "127.0.0.1:1",
            "127.8.9.10:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
        ] {
            let addr: SocketAddr = addr.parse().expect("address");
            assert!(is_loopback(&addr), "{addr}");
        }
        for addr in [
            "10.0.0.1:1",
            "192.168.1.2:1",
            "[::ffff:10.0.0.1]:1",
            "[fe80::1]:1",
        ] {
            let addr: SocketAddr = addr.parse().expect("address");
            assert!(!is_loopback(&addr), "{addr}");
        }
    }

    /// Serves the real app on loopback but makes it believe the peer is remote.
    #[tokio::test]
    async fn a_non_loopback_peer_gets_403() {
        let (_stopping, stopped) = tokio::sync::watch::channel(false);
        let config = ServerConfig {
            control_secret: Some(
                SharedSecret::new("control-secret-for-tests", "test").expect("secret"),
            ),
            ..ServerConfig::default()
        };
        let state = AppState::new(&config, stopped);
        let remote: SocketAddr = "192.0.2.7:5000".parse().expect("address");
        let app = crate::app::router(state, None, None).layer(MockConnectInfo(remote));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let response = tokio::time::timeout(Duration::from_secs(5), async {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream
                .write_all(b"GET /control/stats HTTP/1.1\r\nHost: x\r\nX-Resocket-Control-Secret: control-secret-for-tests\r\nConnection: close\r\n\r\n")
                .await
                .expect("write");
            let mut response = String::new();
            stream.read_to_string(&mut response).await.expect("read");
            response
        })
        .await
        .expect("response in time");
        server.abort();
        assert!(response.starts_with("HTTP/1.1 403"), "{response}");
        assert!(response.contains(r#""code":"not_loopback""#), "{response}");
    }
}
