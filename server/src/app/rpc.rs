//! Requests answered by the app: a client request that no local method handles is forwarded
//! (`--rpc-url`) as an HTTP POST to the app's backend, and the backend's answer becomes the
//! request's reply. See `docs/SERVER_API.md` ("Requests answered by the app").
//!
//! The POST carries `{"method","params","user","session","id"}` with
//! - `Idempotency-Key: <session>:<id>`: the same for every delivery of one client request (the
//!   server's per-session de-duplication already runs before forwarding, so a backend sees a
//!   request once unless the server itself restarts);
//! - `X-Resocket-Secret: <secret>`: the shared secret (`--rpc-secret-file` or
//!   `$RESOCKET_RPC_SECRET`) the backend checks, in constant time, to know the call comes from
//!   this server.
//!
//! A 2xx JSON body is the result (an empty body is `null`). Other statuses map to typed codes:
//! 400 and 422 `bad_request`, 401 and 403 `forbidden`, 404 `not_found`, 409 `conflict`, 429
//! `rate_limited`, anything else `internal`. A JSON error body `{"error":{"message"}}` (or
//! `{"message"}`) passes its message through, cut to [`MAX_ERROR_MESSAGE`] bytes. A timeout,
//! an unreachable backend, a body over the size limit or a 2xx body that is not JSON are
//! `internal`, with a message saying which.
//!
//! Plain `http://` only: the backend is expected on a private network or the same host (no TLS
//! stack is compiled in; put a TLS-originating proxy next to the server for an https backend).

use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use resocket::protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tracing::{debug, warn};

use crate::auth::{RpcSetup, SharedSecret};

/// Largest backend answer read, in bytes; a larger one fails the request (`internal`).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Longest backend error message passed through to the client, in bytes.
pub const MAX_ERROR_MESSAGE: usize = 256;
/// The header carrying the idempotency key `<session>:<id>`.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// The header carrying the shared secret.
pub const SECRET_HEADER: &str = "x-resocket-secret";
/// Idle connections to the backend are kept this long for reuse.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// One client request to forward.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RpcCall<'a> {
    pub method: &'a str,
    /// The request's `params`; `null` when it had none.
    pub params: Option<&'a RawValue>,
    /// The connection's verified user; `null` for an anonymous one.
    pub user: Option<&'a str>,
    pub session: &'a str,
    pub id: u64,
}

/// A forwarded request that failed: the typed code and message of the client's error reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
}

impl RpcError {
    fn internal(message: impl Into<String>) -> RpcError {
        RpcError {
            code: ErrorCode::Internal,
            message: message.into(),
        }
    }
}

/// Why `--rpc-url` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcConfigError {
    #[error("--rpc-url {0:?} is not a valid URL")]
    Url(String),
    #[error(
        "--rpc-url {0:?}: https is not supported by this build; reach the backend over http:// \
         on a private network, or through a local TLS-originating proxy"
    )]
    Https(String),
}

/// Forwards requests to the app backend over a pool of HTTP/1.1 connections.
#[derive(Debug, Clone)]
pub struct RpcForwarder {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
    secret: SharedSecret,
    timeout: Duration,
    max_response: usize,
}

impl RpcForwarder {
    /// A forwarder for the configured backend. Only `http://` URLs are accepted.
    pub fn new(setup: &RpcSetup) -> Result<RpcForwarder, RpcConfigError> {
        let uri: Uri = setup
            .url
            .parse()
            .map_err(|_| RpcConfigError::Url(setup.url.clone()))?;
        match uri.scheme_str() {
            Some("http") if uri.host().is_some() => {}
            Some("https") => return Err(RpcConfigError::Https(setup.url.clone())),
            _ => return Err(RpcConfigError::Url(setup.url.clone())),
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(setup.timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        Ok(RpcForwarder {
            client,
            uri,
            secret: setup.secret.clone(),
            timeout: setup.timeout,
            max_response: MAX_RESPONSE_BYTES,
        })
    }

    /// The same forwarder with another answer size limit (tests).
    #[cfg(test)]
    pub fn with_max_response(mut self, bytes: usize) -> RpcForwarder {
        self.max_response = bytes;
        self
    }

    /// Forwards `call` and waits for the backend's answer, at most the configured timeout.
    pub async fn forward(&self, call: RpcCall<'_>) -> Result<Box<RawValue>, RpcError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.exchange(call)).await {
            Ok(result) => result,
            Err(_) => {
                warn!(
                    method = call.method,
                    session = call.session,
                    id = call.id,
                    "rpc timeout"
                );
                Err(RpcError::internal(format!(
                    "the app backend did not answer within {} ms",
                    timeout.as_millis()
                )))
            }
        }
    }

    async fn exchange(&self, call: RpcCall<'_>) -> Result<Box<RawValue>, RpcError> {
        let request = self.request(&call)?;
        let response = self.client.request(request).await.map_err(|err| {
            warn!(method = call.method, %err, "rpc backend unreachable");
            RpcError::internal("the app backend is unreachable")
        })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), self.max_response)
            .collect()
            .await
            .map_err(|err| {
                if err.is::<http_body_util::LengthLimitError>() {
                    warn!(
                        method = call.method,
                        limit = self.max_response,
                        "rpc answer too large"
                    );
                    RpcError::internal(format!(
                        "the app backend's answer is larger than {} bytes",
                        self.max_response
                    ))
                } else {
                    warn!(method = call.method, %err, "rpc answer unreadable");
                    RpcError::internal("the app backend's answer could not be read")
                }
            })?
            .to_bytes();
        debug!(method = call.method, %status, bytes = body.len(), "rpc answered");
        answer(status, &body)
    }

    fn request(&self, call: &RpcCall<'_>) -> Result<Request<Full<Bytes>>, RpcError> {
        let body = serde_json::to_vec(call)
            .map_err(|_| RpcError::internal("the request could not be encoded"))?;
        let key = HeaderValue::try_from(format!("{}:{}", call.session, call.id))
            .map_err(|_| RpcError::internal("the request could not be encoded"))?;
        let secret = HeaderValue::try_from(self.secret.expose())
            .map_err(|_| RpcError::internal("the request could not be encoded"))?;
        Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .header(
                USER_AGENT,
                concat!("resocket-server/", env!("CARGO_PKG_VERSION")),
            )
            .header(HeaderName::from_static(IDEMPOTENCY_HEADER), key)
            .header(HeaderName::from_static(SECRET_HEADER), secret)
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| RpcError::internal("the request could not be encoded"))
    }
}

/// The typed code a backend's error status maps to.
pub fn status_code(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        400 | 422 => ErrorCode::BadRequest,
        401 | 403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        429 => ErrorCode::RateLimited,
        _ => ErrorCode::Internal,
    }
}

/// The reply a backend answer makes.
fn answer(status: StatusCode, body: &[u8]) -> Result<Box<RawValue>, RpcError> {
    if status.is_success() {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(null());
        }
        return serde_json::from_slice::<Box<RawValue>>(body)
            .map_err(|_| RpcError::internal("the app backend answered with invalid JSON"));
    }
    let code = status_code(status);
    let message = error_message(body)
        .unwrap_or_else(|| format!("the app backend answered {}", status.as_u16()));
    Err(RpcError { code, message })
}

/// The message of `{"error":{"message"}}`, `{"error":"..."}` or `{"message"}`, cut to
/// [`MAX_ERROR_MESSAGE`] bytes.
fn error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorField {
        Text(String),
        Object { message: Option<String> },
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        error: Option<ErrorField>,
        message: Option<String>,
    }
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    let message = match parsed.error {
        Some(ErrorField::Text(text)) => Some(text),
        Some(ErrorField::Object { message }) => message,
        None => None,
    }
    .or(parsed.message)?;
    let message = bounded(message.trim());
    (!message.is_empty()).then_some(message)
}

/// `text` without control characters, cut at a char boundary to [`MAX_ERROR_MESSAGE`] bytes.
fn bounded(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_ERROR_MESSAGE {
            break;
        }
        out.push(c);
    }
    out
}

fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable!("null is JSON"))
}

#[cfg(test)]
mod tests;
