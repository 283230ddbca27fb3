//! The HTTP application: the WebSocket endpoint, the control endpoints and optional static files.

use crate::config::ServerConfig;
use crate::connection::{self, Limits};
use crate::control;
use crate::docs::Docs;
use crate::feed::Prices;
use crate::hub::Hub;
use crate::outage::Outage;
use crate::requests::Requests;
use crate::rooms::Rooms;
use crate::session::Sessions;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;
use tower_http::services::ServeDir;
use tracing::debug;

/// The path clients open WebSockets on.
pub const WS_PATH: &str = "/ws";

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub sessions: Arc<Sessions>,
    pub rooms: Arc<Rooms>,
    pub docs: Arc<Docs>,
    pub requests: Arc<Requests>,
    /// The price feed's latest prices (orders are filled at them).
    pub prices: Arc<Prices>,
    pub outage: Arc<Outage>,
    pub limits: Limits,
}

impl AppState {
    /// `stopping` turns true (or is dropped) when the server stops; background work ends then.
    pub fn new(config: &ServerConfig, stopping: watch::Receiver<bool>) -> AppState {
        let hub = Hub::new();
        let prices = Arc::new(Prices::default());
        AppState {
            sessions: Arc::new(Sessions::new(config.session_ttl)),
            rooms: Arc::new(Rooms::new(Arc::clone(&hub), config.history)),
            docs: Arc::new(Docs::new(Arc::clone(&hub), config.doc_history)),
            requests: Arc::new(Requests::new(
                Arc::clone(&hub),
                Arc::clone(&prices),
                stopping,
            )),
            prices,
            hub,
            outage: Arc::new(Outage::default()),
            limits: Limits {
                max_frame_bytes: config.max_frame_bytes,
                hard_frame_limit: config.hard_frame_limit(),
                handshake_timeout: config.handshake_timeout,
            },
        }
    }
}

pub fn router(state: AppState, static_dir: Option<PathBuf>) -> Router {
    let app = Router::new()
        .route(WS_PATH, get(upgrade))
        .merge(control::router());
    let app = match static_dir {
        Some(dir) => app.fallback_service(ServeDir::new(dir)),
        None => app,
    };
    app.with_state(state)
}

/// Accepts a WebSocket from any origin (browser tests run on other ports), unless an outage is
/// being simulated.
async fn upgrade(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(left) = app.outage.remaining() {
        app.outage.refuse();
        debug!(%peer, "upgrade refused: simulated outage");
        let body = format!("simulated outage, {} ms left\n", left.as_millis());
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    }
    let limits = app.limits;
    ws.max_message_size(limits.hard_frame_limit)
        .max_frame_size(limits.hard_frame_limit)
        .on_upgrade(move |socket| connection::run(socket, app, peer))
}
