//! The demo's own endpoints, routed with `--demo` only.
//!
//! `GET /demo/token?user=NAME` (demo mode without a configured JWT key) hands out a dev token
//! for any user, signed with the HS256 secret generated at start, which the server then verifies
//! like any token: the demo apps use it as their token function. It proves nothing about who
//! asks (anyone who can load the demo can be anyone), so it exists only in demo mode and is
//! logged as such at start; like the secret below it sends no CORS headers and refuses other
//! sites' pages, so a foreign page cannot read a token.
//!
//! `GET /demo/control-secret` (with `--test-controls` too) hands the control secret to the demo
//! pages, whose drop and outage buttons call `/control/*`. It is safe because only the server's
//! own pages on loopback can read it:
//! - it sends no CORS headers, so another origin's page (even another local port) cannot read
//!   the answer, and its JSON body (`nosniff`) cannot be included as a script;
//! - the peer and the `Host` header must be loopback: a page reached through DNS rebinding sends
//!   its own host name;
//! - a browser's `Sec-Fetch-Site` and `Origin`, when sent, must say same origin.

use super::control::is_loopback;
use super::AppState;
use crate::auth::origin::{is_loopback_host, is_same_host};
use crate::auth::SignError;
use crate::state::Engine;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, HOST, ORIGIN, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use tracing::{info, warn};

/// Where the demo pages read the control secret.
pub const CONTROL_SECRET_PATH: &str = "/demo/control-secret";
/// Where the demo apps get their dev tokens.
pub const TOKEN_PATH: &str = "/demo/token";
/// How long a dev token lives: short, as a real backend's would; the client refreshes it.
pub const DEV_TOKEN_TTL_SECS: u64 = 300;

/// The demo routes this server's configuration enables (none without `--demo`).
pub fn router<E: Engine>(state: &AppState<E>) -> Router<AppState<E>> {
    let mut router = Router::new();
    if state.demo && state.control_secret.is_some() {
        router = router.route(CONTROL_SECRET_PATH, get(control_secret::<E>));
    }
    if state.demo && state.dev_tokens.is_some() {
        warn!("demo mode: {TOKEN_PATH}?user=NAME hands out dev tokens for any user");
        router = router.route(TOKEN_PATH, get(dev_token::<E>));
    }
    router
}

/// Why a demo endpoint refused to answer (403, `{"error":{"code","message"}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DemoRefused {
    #[error("this demo endpoint answers loopback peers and hosts only")]
    NotLoopback,
    #[error("this demo endpoint answers the server's own pages only")]
    ForeignPage,
    #[error("user must be 1 to 128 printable ASCII characters without spaces")]
    BadUser,
}

impl DemoRefused {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            DemoRefused::NotLoopback => "not_loopback",
            DemoRefused::ForeignPage => "foreign_page",
            DemoRefused::BadUser => "bad_request",
        }
    }
}

impl IntoResponse for DemoRefused {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {"code": self.code(), "message": self.to_string()}
        });
        let status = match self {
            DemoRefused::BadUser => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        };
        (status, Json(body)).into_response()
    }
}

/// Accepts a request only from a page this server served on a loopback address.
fn own_loopback_page(peer: &SocketAddr, headers: &HeaderMap) -> Result<(), DemoRefused> {
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_loopback(peer) || !is_loopback_host(host) {
        return Err(DemoRefused::NotLoopback);
    }
    own_page(headers)
}

/// Refuses requests a browser says come from another origin's page (`Sec-Fetch-Site`,
/// `Origin`); requests without them (curl, a test) pass.
fn own_page(headers: &HeaderMap) -> Result<(), DemoRefused> {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or(""));
    let host = header(HOST.as_str()).unwrap_or("");
    // "none": typed into the address bar, which a person may do to look at it.
    if header("sec-fetch-site").is_some_and(|site| site != "same-origin" && site != "none") {
        return Err(DemoRefused::ForeignPage);
    }
    if header(ORIGIN.as_str()).is_some_and(|origin| !is_same_host(origin, host)) {
        return Err(DemoRefused::ForeignPage);
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    #[serde(default)]
    user: Option<String>,
}

/// `{"token","user","expiresIn"}` (seconds), never cached.
async fn dev_token<E: Engine>(
    State(app): State<AppState<E>>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    let Some(signer) = &app.dev_tokens else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Err(refused) = own_page(&headers) {
        warn!(code = refused.code(), "dev token refused");
        return refused.into_response();
    }
    let Some(user) = query.user else {
        return DemoRefused::BadUser.into_response();
    };
    match signer.sign(&user, DEV_TOKEN_TTL_SECS, &[]) {
        Ok(token) => {
            info!(user, "demo: dev token issued");
            (
                [(CACHE_CONTROL, "no-store")],
                Json(serde_json::json!({
                    "token": token,
                    "user": user,
                    "expiresIn": DEV_TOKEN_TTL_SECS,
                })),
            )
                .into_response()
        }
        Err(SignError::BadUser) => DemoRefused::BadUser.into_response(),
        Err(err) => {
            warn!(%err, "dev token not signed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `{"secret": "..."}`, never cached.
async fn control_secret<E: Engine>(
    State(app): State<AppState<E>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(secret) = &app.control_secret else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Err(refused) = own_loopback_page(&peer, &headers) {
        warn!(%peer, code = refused.code(), "demo control secret refused");
        return refused.into_response();
    }
    (
        [
            (CACHE_CONTROL, "no-store"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Json(serde_json::json!({ "secret": secret.expose() })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_the_servers_own_loopback_pages_pass() {
        let local: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let remote: SocketAddr = "192.0.2.7:5000".parse().expect("addr");
        let own = [
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert_eq!(own_loopback_page(&local, &headers(&own)), Ok(()));
        assert_eq!(
            own_loopback_page(&local, &headers(&[("host", "localhost:8080")])),
            Ok(())
        );
        assert_eq!(
            own_loopback_page(&remote, &headers(&own)),
            Err(DemoRefused::NotLoopback)
        );
        // DNS rebinding: the attacker's name in Host.
        assert_eq!(
            own_loopback_page(&local, &headers(&[("host", "evil.example:8080")])),
            Err(DemoRefused::NotLoopback)
        );
        for foreign in [
            [("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")],
            [("host", "127.0.0.1:8080"), ("sec-fetch-site", "same-site")],
            [
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:3000"),
            ],
            [("host", "127.0.0.1:8080"), ("origin", "null")],
        ] {
            assert_eq!(
                own_loopback_page(&local, &headers(&foreign)),
                Err(DemoRefused::ForeignPage),
                "{foreign:?}"
            );
        }
    }
}
