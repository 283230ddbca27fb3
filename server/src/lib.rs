//! `resocket-server`: a native test server speaking resocket protocol v1 (see `docs/PROTOCOL.md`).
//!
//! It echoes `msg`, fans out `broadcast`, answers `ping`, keeps resumable sessions, runs requests
//! once per session and id, hosts rooms with history and presence and shared documents with
//! optimistic sync, publishes a simulated price feed, and, with `--test-controls`, offers control
//! endpoints (loopback and a secret header) that inject faults (dropped sockets, outages,
//! malformed frames) and push notifications or room messages for client tests.
//!
//! Layers: [`protocol`] (sockets, the frame reader [`protocol::dispatch`], the frame encoders
//! [`protocol::frames`], the hub of live connections), [`state`] (sessions, rooms and documents
//! as plain data behind the [`state::Engine`] trait, [`state::MemoryEngine`] for one node, [`state::RedisEngine`] for several) and the
//! application (request methods, price feed, control endpoints, configuration).
//!
//! ```no_run
//! # async fn demo() -> Result<(), resocket_server::ServerError> {
//! use resocket_server::{Server, ServerConfig};
//! let server = Server::start(ServerConfig {
//!     addr: "127.0.0.1:0".parse().expect("address"),
//!     ..ServerConfig::default()
//! })
//! .await?;
//! println!("ws://{}/ws", server.local_addr());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```

mod app;
pub mod auth;
mod error;
mod lock;
pub mod protocol;
mod random;
pub mod state;

pub use app::api::{ApiError, API_PREFIX, DISCONNECTED, DISCONNECTED_REASON};
pub use app::config::{
    parse_args, parse_args_with_env, usage, ApiSettings, AuthConfig, Command, ServerConfig,
    HARD_LIMIT_FACTOR,
};
pub use app::control::{ControlRefused, CONTROL_SECRET_HEADER, MALFORMED_FRAME};
pub use app::demo::{CONTROL_SECRET_PATH, DEV_TOKEN_TTL_SECS, TOKEN_PATH};
pub use app::feed::ROOM as PRICES_ROOM;
pub use app::rpc::{RpcConfigError, IDEMPOTENCY_HEADER, SECRET_HEADER};
pub use app::WS_PATH;
pub use error::ServerError;
pub use protocol::connection::IDLE_REASON;

use resocket::protocol::close_code;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Extra time after the grace period for killed sockets and HTTP connections to go away.
const SHUTDOWN_SLACK: Duration = Duration::from_millis(500);

/// Runs the server on `listener` until `shutdown` resolves, then closes every WebSocket with
/// 1001 "server shutting down". Returns within about `config.shutdown_grace` + 0.5 s of the
/// signal, however the peers behave. `config.addr` is ignored.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    check_static_dir(&config)?;
    if let Some(rpc) = &config.rpc {
        app::rpc::RpcForwarder::new(rpc)?;
        info!(url = %rpc.url, timeout_ms = rpc.timeout.as_millis() as u64, "forwarding requests");
    }
    let hub = protocol::hub::Hub::with_queue_bytes(config.max_outbound_bytes);
    match &config.redis {
        None => {
            let engine = app::memory_engine(&config, Arc::clone(&hub));
            serve_with(listener, config, hub, Arc::new(engine), shutdown).await
        }
        Some(settings) => {
            let state = state::RedisStateSettings {
                session_ttl: config.session_ttl,
                history: config.history,
                doc_history: config.doc_history,
                namespaces: config.auth.namespaces.clone(),
                limits: config.state_limits,
                dedup: config.dedup,
            };
            let engine = state::RedisEngine::connect(Arc::clone(&hub), settings, state)
                .await
                .map_err(ServerError::Redis)?;
            info!(
                node = engine.node(),
                prefix = settings.prefix,
                "Redis engine: state shared with the other nodes"
            );
            serve_with(listener, config, hub, Arc::new(engine), shutdown).await
        }
    }
}

/// [`serve`] with the engine chosen.
async fn serve_with<E: state::Engine>(
    listener: TcpListener,
    config: ServerConfig,
    hub: Arc<protocol::hub::Hub>,
    engine: Arc<E>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let local = listener.local_addr()?;
    // Turns true when shutdown starts; dropped (which background tasks also take as a stop) when
    // the HTTP server ends on its own.
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let state = app::AppState::with_engine(hub, engine, &config, stopping_rx.clone());
    let hub = state.hub.clone();
    // The price feed is part of the demo.
    let feed_interval = if config.demo {
        config.feed_interval
    } else {
        Duration::ZERO
    };
    let feed = app::feed::spawn(state.engine.clone(), feed_interval, stopping_rx.clone());
    let api = config.api.as_ref().map(|api| app::api::ApiConfig {
        key: api.key.clone(),
        max_body_bytes: api.max_body_bytes,
    });
    // The API on its own listener, or on the main one.
    let api_task = match (api.clone(), config.api.as_ref().and_then(|a| a.addr)) {
        (Some(api), Some(addr)) => {
            let api_listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { addr, source })?;
            info!(addr = %api_listener.local_addr()?, "server API listening");
            let routes = app::api::router(std::sync::Arc::new(state.clone()), api);
            let mut stopping = stopping_rx.clone();
            Some(tokio::spawn(async move {
                let stop = async move {
                    let _ = stopping.wait_for(|s| *s).await;
                };
                if let Err(err) = axum::serve(api_listener, routes)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    warn!(%err, "server API listener failed");
                }
            }))
        }
        (api, _) => {
            if api.is_some() {
                info!("server API on the main listener ({})", app::api::API_PREFIX);
            }
            None
        }
    };
    let on_main = api.filter(|_| config.api.as_ref().is_some_and(|a| a.addr.is_none()));
    let app = app::router(state, config.static_dir.clone(), on_main);
    let grace = config.shutdown_grace;
    if config.control_secret.is_some() {
        warn!("test controls on: /control/* answers loopback callers with the control secret");
    }
    info!(addr = %local, max_frame_bytes = config.max_frame_bytes, "listening");

    let signal = {
        let hub = hub.clone();
        async move {
            shutdown.await;
            let closing = hub.close_all(close_code::GOING_AWAY, "server shutting down");
            info!(connections = closing, "shutting down");
            stopping_tx.send_replace(true);
        }
    };
    // Request heads come in time or the socket is dropped (a peer sending nothing, or a header
    // a byte at a time, would be held for good).
    let listener =
        protocol::head_deadline::HeadDeadlineListener::new(listener, config.handshake_timeout);
    // Frames go out at once: with Nagle's algorithm a small frame (a pong) written while an
    // earlier one is unacknowledged waits for the peer's delayed ACK, about 40 ms.
    let listener = axum::serve::ListenerExt::tap_io(
        listener,
        |stream: &mut protocol::head_deadline::HeadDeadlineStream| {
            if let Err(err) = stream.tcp().set_nodelay(true) {
                warn!(%err, "TCP_NODELAY not set");
            }
        },
    );
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal)
    .into_future();

    // axum's graceful shutdown does not track upgraded sockets, and waits forever on slow HTTP
    // peers, so WebSockets are drained through the hub and the HTTP side is given a deadline.
    let http = async {
        let mut stopping = stopping_rx.clone();
        tokio::select! {
            result = server => result.map_err(ServerError::from),
            _ = async {
                let _ = stopping.wait_for(|s| *s).await;
                tokio::time::sleep(grace.saturating_add(SHUTDOWN_SLACK)).await;
            } => {
                warn!("HTTP connections still open at the deadline; abandoning them");
                Ok(())
            }
        }
    };
    let websockets = async {
        let mut stopping = stopping_rx.clone();
        if stopping.wait_for(|s| *s).await.is_err() {
            // The signal future was dropped: the HTTP server ended on its own.
            hub.drop_all();
        } else if tokio::time::timeout(grace, hub.wait_idle()).await.is_err() {
            let dropped = hub.drop_all();
            warn!(dropped, "connections did not close in time; dropped them");
        }
        let _ = tokio::time::timeout(SHUTDOWN_SLACK, hub.wait_idle()).await;
    };
    let (result, ()) = tokio::join!(http, websockets);
    if let Some(feed) = feed {
        feed.abort();
        let _ = feed.await;
    }
    if let Some(api_task) = api_task {
        api_task.abort();
        let _ = api_task.await;
    }
    info!("stopped");
    result
}

fn check_static_dir(config: &ServerConfig) -> Result<(), ServerError> {
    match &config.static_dir {
        Some(dir) if !dir.is_dir() => Err(ServerError::StaticDir { path: dir.clone() }),
        _ => Ok(()),
    }
}

/// A server running on a background task, for tests and embedding.
/// Dropping it starts a graceful shutdown (the stop channel closes) without waiting for it.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl Server {
    /// Binds `config.addr` (port 0 picks a free port) and starts serving.
    pub async fn start(config: ServerConfig) -> Result<Server, ServerError> {
        let listener =
            TcpListener::bind(config.addr)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.addr,
                    source,
                })?;
        Server::with_listener(listener, config)
    }

    /// Starts serving on an already bound listener. Must be called within a Tokio runtime.
    pub fn with_listener(
        listener: TcpListener,
        config: ServerConfig,
    ) -> Result<Server, ServerError> {
        check_static_dir(&config)?;
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            // Resolves on `shutdown()` and when the handle is dropped.
            let _ = stopped.await;
        };
        let task = tokio::spawn(serve(listener, config, shutdown));
        Ok(Server {
            local_addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://<addr>/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}{}", self.local_addr, WS_PATH)
    }

    /// Closes every WebSocket with 1001, stops listening and waits until the server has stopped.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}
