//! The application: the HTTP router (the WebSocket endpoint, the control endpoints with
//! `--test-controls`, the demo endpoints with `--demo`, and optional static files) and what the test server offers on top of the protocol: request methods, the
//! price feed, fault injection and its configuration.

pub mod api;
pub mod config;
pub mod control;
pub mod demo;
mod error;
pub mod feed;
pub mod methods;
pub mod outage;
pub mod publishes;
pub mod requests;
pub mod rpc;
#[cfg(test)]
mod unreachable_tests;

use crate::auth::{SharedSecret, TokenSigner};
use crate::protocol::admission::Admission;
use crate::protocol::connection::{self, Limits};
use crate::protocol::hub::Hub;
use crate::protocol::rates::UserRates;
use crate::state::{Engine, MemoryEngine};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use config::{AuthConfig, ServerConfig};
use outage::Outage;
use requests::Requests;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio::sync::watch;
use tower_http::services::ServeDir;
use tracing::{debug, info};

/// Bytes read from a socket at a time (tungstenite's read buffer, kept per connection).
pub const SOCKET_READ_BUFFER: usize = 1024;
/// Bytes gathered before tungstenite writes to the socket (without a flush).
pub const SOCKET_WRITE_BUFFER: usize = 1024;

/// The path clients open WebSockets on.
pub const WS_PATH: &str = "/ws";

/// Shared by every handler.
pub struct AppState<E> {
    /// This server's live connections.
    pub hub: Arc<Hub>,
    /// Sessions, rooms and documents.
    pub engine: Arc<E>,
    pub requests: Arc<Requests>,
    pub outage: Arc<Outage>,
    pub limits: Limits,
    /// Authentication, origins and permissions.
    pub auth: Arc<AuthConfig>,
    /// Handshakes refused for their credentials (`/control/stats`).
    pub refused_handshakes: Arc<AtomicU64>,
    /// `--test-controls`: the secret every `/control/*` call must carry; `None`: not routed.
    pub control_secret: Option<SharedSecret>,
    /// `--demo`: the demo's own endpoints (`/demo/*`).
    pub demo: bool,
    /// `--demo` without a JWT key: what `/demo/token` signs with.
    pub dev_tokens: Option<TokenSigner>,
    /// The connection limits and the connections counted against them.
    pub admission: Arc<Admission>,
    /// The per-user token buckets (each connection has its own too).
    pub user_rates: Arc<UserRates>,
}

// Not derived: that would ask for `E: Clone`.
impl<E> Clone for AppState<E> {
    fn clone(&self) -> Self {
        AppState {
            hub: Arc::clone(&self.hub),
            engine: Arc::clone(&self.engine),
            requests: Arc::clone(&self.requests),
            outage: Arc::clone(&self.outage),
            limits: self.limits,
            auth: Arc::clone(&self.auth),
            refused_handshakes: Arc::clone(&self.refused_handshakes),
            control_secret: self.control_secret.clone(),
            demo: self.demo,
            dev_tokens: self.dev_tokens.clone(),
            admission: Arc::clone(&self.admission),
            user_rates: Arc::clone(&self.user_rates),
        }
    }
}

/// The engine of a single server holding everything in memory, delivering through `hub`.
pub fn memory_engine(config: &ServerConfig, hub: Arc<Hub>) -> MemoryEngine {
    MemoryEngine::new(hub, config.session_ttl, config.history, config.doc_history)
        .with_limits(
            config.history,
            config.doc_history,
            config.auth.namespaces.clone(),
            config.state_limits,
        )
        .with_dedup_limits(config.dedup)
}

#[cfg(test)]
impl AppState<MemoryEngine> {
    /// The state of a single server holding everything in memory. `stopping` turns true (or is
    /// dropped) when the server stops; background work ends then.
    pub fn new(config: &ServerConfig, stopping: watch::Receiver<bool>) -> Self {
        let hub = Hub::with_queue_bytes(config.max_outbound_bytes);
        let engine = memory_engine(config, Arc::clone(&hub));
        AppState::with_engine(hub, Arc::new(engine), config, stopping)
    }
}

impl<E: Engine> AppState<E> {
    /// The state of a server whose engine delivers through `hub`.
    pub fn with_engine(
        hub: Arc<Hub>,
        engine: Arc<E>,
        config: &ServerConfig,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        // `serve` has checked the URL, so this only leaves a rejected URL off.
        let rpc = config
            .rpc
            .as_ref()
            .and_then(|setup| rpc::RpcForwarder::new(setup).ok());
        AppState {
            requests: Arc::new(Requests::new(stopping, config.demo, rpc)),
            hub,
            engine,
            outage: Arc::new(Outage::default()),
            limits: Limits {
                max_frame_bytes: config.max_frame_bytes,
                hard_frame_limit: config.hard_frame_limit(),
                handshake_timeout: config.handshake_timeout,
                ping_interval: config.ping_interval,
                idle_timeout: config.idle_timeout,
                write_timeout: config.write_timeout,
                budgets: config.budgets,
                request_window: config.request_window(),
            },
            auth: Arc::new(config.auth.clone()),
            refused_handshakes: Arc::new(AtomicU64::new(0)),
            control_secret: config.control_secret.clone(),
            demo: config.demo,
            dev_tokens: config.dev_tokens.clone(),
            admission: Admission::new(config.connection_limits),
            user_rates: UserRates::new(config.rate_limits),
        }
    }
}

/// The main listener's routes; with `api`, the server API too.
pub fn router<E: Engine>(
    state: AppState<E>,
    static_dir: Option<PathBuf>,
    api: Option<api::ApiConfig>,
) -> Router {
    let mut app = Router::new()
        .route(WS_PATH, get(upgrade))
        .merge(demo::router(&state));
    if let Some(secret) = &state.control_secret {
        app = app.merge(control::router(secret.clone(), state.auth.origins.clone()));
    }
    let app = match static_dir {
        Some(dir) => app.fallback_service(ServeDir::new(dir)),
        None => app,
    };
    match api {
        Some(api) => api::router(Arc::new(state.clone()), api).merge(app.with_state(state)),
        None => app.with_state(state),
    }
}

/// Accepts a WebSocket whose `Origin` the policy allows (403 otherwise, before upgrading:
/// cross-site WebSocket hijacking), unless an outage is being simulated.
async fn upgrade<E: Engine>(
    State(app): State<AppState<E>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // A header that is not text cannot be an allowed origin: checked as an unparsable one.
    let text = |name| {
        headers
            .get(name)
            .map(|v: &HeaderValue| v.to_str().unwrap_or(""))
    };
    if let Err(refused) = app.auth.origins.check(text(ORIGIN), text(HOST)) {
        info!(%peer, origin = refused.origin, "upgrade refused: origin not allowed");
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    let ticket = match app.admission.admit(peer.ip()) {
        Ok(ticket) => ticket,
        Err(refused) => {
            info!(%peer, "upgrade refused: {refused}");
            return (StatusCode::SERVICE_UNAVAILABLE, format!("{refused}\n")).into_response();
        }
    };
    if let Some(left) = app.outage.remaining() {
        app.outage.refuse();
        debug!(%peer, "upgrade refused: simulated outage");
        let body = format!("simulated outage, {} ms left\n", left.as_millis());
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    }
    let limits = app.limits;
    ws.max_message_size(limits.hard_frame_limit)
        .max_frame_size(limits.hard_frame_limit)
        // tungstenite's 128 KiB defaults are allocated per connection; larger frames still
        // arrive (the read buffer grows for them), and bursts are flushed explicitly.
        .read_buffer_size(SOCKET_READ_BUFFER)
        .write_buffer_size(SOCKET_WRITE_BUFFER)
        // The connection runs on a task of its own, not in the one axum spawned for the upgrade:
        // that one keeps room for the socket and this closure beside the connection's future
        // for as long as it lives (measured with server/benches/idle_memory.rs).
        .on_upgrade(move |socket| {
            tokio::spawn(connection::run(socket, app, peer, ticket));
            std::future::ready(())
        })
}
