//! The server API for app backends (`docs/SERVER_API.md`): HTTP + JSON under `/api/v1/`,
//! authenticated with `Authorization: Bearer <api key>` (compared in constant time), typed
//! errors `{"error":{"code","message"}}` with HTTP statuses, and a request body size limit.
//!
//! This module is the HTTP layer only: paths, authentication, body limits, validation and error
//! mapping. What each call does to the server's state is behind [`ApiOps`], implemented on the
//! application state (publishing takes the same path as a client publish, and so on).

mod error;
mod ops;
#[cfg(test)]
mod tests;

pub use error::ApiError;
pub use ops::{DISCONNECTED, DISCONNECTED_REASON};

use crate::auth::{valid_user_id, ApiKey};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use std::future::Future;
use std::sync::Arc;
use tracing::{debug, info};

/// Every API path starts with this.
pub const API_PREFIX: &str = "/api/v1";
/// Default `--api-max-body-bytes`: the largest request body accepted.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest room or document name, in bytes (as for clients).
pub const MAX_NAME: usize = crate::state::MAX_NAME;
/// Longest document key, in bytes (as for clients).
pub const MAX_KEY: usize = crate::state::MAX_KEY;
/// `history` without `limit` returns at most this many messages.
pub const DEFAULT_HISTORY_LIMIT: usize = 100;
/// Largest `limit` accepted by `history`.
pub const MAX_HISTORY_LIMIT: usize = 10_000;

/// A room member, as clients see it in `joined.members`.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// The member's session id.
    pub id: String,
    /// The member's user id; absent for an anonymous member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Box<RawValue>>,
}

/// A room message kept in history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryMessage {
    pub seq: u64,
    pub payload: Box<RawValue>,
    /// The publisher's user id, when the server stamped one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// One document key.
#[derive(Debug, Clone, Serialize)]
pub struct DocEntry {
    pub value: Box<RawValue>,
    /// The revision that last wrote the key.
    pub rev: u64,
}

/// A document's state: its revision and every key (a missing document is revision 0, empty).
#[derive(Debug, Clone, Default)]
pub struct DocState {
    pub rev: u64,
    pub entries: Vec<(String, DocEntry)>,
}

/// What a server-side document op does to its key.
#[derive(Debug, Clone)]
pub enum KeyChange {
    Set(Box<RawValue>),
    Delete,
}

/// The state operations behind the API. Each is one call into the server's state; errors are
/// typed ([`ApiError`]) and become the HTTP answer.
pub trait ApiOps: Send + Sync + 'static {
    /// Appends `payload` to `room` as the server (creating the room if needed) and delivers it
    /// to the members, exactly as a client publish is; returns `(seq, members reached)`.
    fn publish(
        &self,
        room: &str,
        payload: &RawValue,
    ) -> impl Future<Output = Result<(u64, usize), ApiError>> + Send;

    /// Sends `notify` with `payload` to every connection of `user` (`None`: of everyone);
    /// returns how many connections got it.
    fn notify(
        &self,
        user: Option<&str>,
        payload: &RawValue,
    ) -> impl Future<Output = Result<usize, ApiError>> + Send;

    /// Closes every connection of `user` with the "disconnected by the server" close code;
    /// returns how many were closed.
    fn disconnect(&self, user: &str) -> impl Future<Output = Result<usize, ApiError>> + Send;

    /// The members of `room` (empty for a room without members).
    fn presence(&self, room: &str) -> impl Future<Output = Result<Vec<Member>, ApiError>> + Send;

    /// The last `limit` messages of `room`'s history, oldest first.
    fn history(
        &self,
        room: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<HistoryMessage>, ApiError>> + Send;

    /// A document's revision and keys.
    fn doc(&self, doc: &str) -> impl Future<Output = Result<DocState, ApiError>> + Send;

    /// Applies a server-side op to `doc`'s `key` (a compare-and-set when `if_rev` is given),
    /// broadcast to subscribers like a client op; returns the new document revision.
    fn change_key(
        &self,
        doc: &str,
        key: &str,
        change: KeyChange,
        if_rev: Option<u64>,
    ) -> impl Future<Output = Result<u64, ApiError>> + Send;
}

/// The API's configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub key: ApiKey,
    /// Largest request body accepted, in bytes (larger: 413 `too_large`).
    pub max_body_bytes: usize,
}

struct Api<O> {
    ops: Arc<O>,
    key: ApiKey,
    max_body_bytes: usize,
}

// Not derived: that would ask for `O: Clone`.
impl<O> Clone for Api<O> {
    fn clone(&self) -> Self {
        Api {
            ops: Arc::clone(&self.ops),
            key: self.key.clone(),
            max_body_bytes: self.max_body_bytes,
        }
    }
}

/// The API routes, under [`API_PREFIX`]; every call is authenticated before its body is read.
pub fn router<O: ApiOps>(ops: Arc<O>, config: ApiConfig) -> Router {
    let api = Api {
        ops,
        key: config.key,
        max_body_bytes: config.max_body_bytes,
    };
    let routes = Router::new()
        .route("/rooms/{room}/publish", post(publish::<O>))
        .route("/rooms/{room}/presence", get(presence::<O>))
        .route("/rooms/{room}/history", get(history::<O>))
        .route("/users/{user}/notify", post(notify_user::<O>))
        .route("/users/{user}/disconnect", post(disconnect::<O>))
        .route("/notify", post(notify_all::<O>))
        .route("/docs/{doc}", get(doc::<O>))
        .route(
            "/docs/{doc}/keys/{key}",
            put(set_key::<O>).delete(delete_key::<O>),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            api.clone(),
            authenticate::<O>,
        ))
        .with_state(api);
    Router::new().nest(API_PREFIX, routes)
}

/// Refuses a call without the API key (401) before anything else is looked at.
async fn authenticate<O: ApiOps>(
    State(api): State<Api<O>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if !api.key.authorizes(presented) {
        debug!(path = %request.uri().path(), "api call refused: bad or missing key");
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// `{"payload": <any JSON>}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayloadBody {
    payload: Box<RawValue>,
}

#[derive(Serialize)]
struct Published {
    seq: u64,
    members: usize,
}

#[derive(Serialize)]
struct Delivered {
    delivered: usize,
}

#[derive(Serialize)]
struct Disconnected {
    disconnected: usize,
}

#[derive(Serialize)]
struct Presence {
    room: String,
    members: Vec<Member>,
}

#[derive(Serialize)]
struct History {
    room: String,
    messages: Vec<HistoryMessage>,
}

#[derive(Serialize)]
struct DocView {
    doc: String,
    rev: u64,
    #[serde(serialize_with = "entries_map")]
    entries: Vec<(String, DocEntry)>,
}

fn entries_map<S: Serializer>(entries: &[(String, DocEntry)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(entries.iter().map(|(key, entry)| (key, entry)))
}

#[derive(Serialize)]
struct Revision {
    rev: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    limit: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetKeyBody {
    value: Box<RawValue>,
    if_rev: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeleteKeyQuery {
    if_rev: Option<u64>,
}

/// The request body as JSON of type `T`: 413 over the limit, 400 if it is not that JSON.
fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    max: usize,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(max)
        } else {
            ApiError::BadRequest("the request body could not be read".to_owned())
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|err| ApiError::BadRequest(format!("invalid JSON body: {err}")))
}

/// An optional JSON body: empty is `None`.
fn optional_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    max: usize,
) -> Result<Option<T>, ApiError> {
    match body {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(None),
        other => json_body(other, max).map(Some),
    }
}

/// Path parameters, or a typed 400.
struct ApiPath<T>(T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|err| ApiError::BadRequest(format!("invalid path: {}", err.body_text())))
    }
}

/// Query parameters, or a typed 400.
struct ApiQuery<T>(T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|err| ApiError::BadRequest(format!("invalid query: {}", err.body_text())))
    }
}

fn check_name(kind: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(ApiError::BadRequest(format!(
            "a {kind} name is 1 to {MAX_NAME} bytes"
        )));
    }
    Ok(())
}

fn check_user(user: &str) -> Result<(), ApiError> {
    if !valid_user_id(user) {
        return Err(ApiError::BadRequest(
            "a user id is 1 to 128 bytes of printable ASCII without spaces".to_owned(),
        ));
    }
    Ok(())
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(ApiError::BadRequest(format!(
            "a document key is 1 to {MAX_KEY} bytes"
        )));
    }
    Ok(())
}

async fn publish<O: ApiOps>(
    State(api): State<Api<O>>,
    ApiPath(room): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Published>, ApiError> {
    check_name("room", &room)?;
    let body: PayloadBody = json_body(body, api.max_body_bytes)?;
    let (seq, members) = api.ops.publish(&room, &body.payload).await?;
    info!(room, seq, members, "api publish");
    Ok(Json(Published { seq, members }))
}

async fn notify_user<O: ApiOps>(
    State(api): State<Api<O>>,
    ApiPath(user): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Delivered>, ApiError> {
    check_user(&user)?;
    let body: PayloadBody = json_body(body, api.max_body_bytes)?;
    let delivered = api.ops.notify(Some(&user), &body.payload).await?;
    debug!(user, delivered, "api notify");
    Ok(Json(Delivered { delivered }))
}

async fn notify_all<O: ApiOps>(
    State(api): State<Api<O>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Delivered>, ApiError> {
    let body: PayloadBody = json_body(body, api.max_body_bytes)?;
    let delivered = api.ops.notify(None, &body.payload).await?;
    debug!(delivered, "api notify all");
    Ok(Json(Delivered { delivered }))
}

async fn disconnect<O: ApiOps>(
    State(api): State<Api<O>>,
    ApiPath(user): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Disconnected>, ApiError> {
    check_user(&user)?;
    // No body, or `{}`.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Empty {}
    let _: Option<Empty> = optional_body(body, api.max_body_bytes)?;
    let disconnected = api.ops.disconnect(&user).await?;
    info!(user, disconnected, "api disconnect");
    Ok(Json(Disconnected { disconnected }))
}

async fn presence<O: ApiOps>(
    State(api): State<Api<O>>,
    ApiPath(room): ApiPath<String>,
) -> Result<Json<Presence>, ApiError> {
    check_name("room", &room)?;
    let members = api.ops.presence(&room).await?;
    Ok(Json(Presence { room, members }))
}

async fn history<O: ApiOps>(
    State(api): State<Api<O>>,
    ApiPath(room): ApiPath<String>,
    ApiQuery(params): ApiQuery<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    check_name("room", &room)?;
    let limit = params.limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
    if limit == 0 || limit > MAX_HISTORY_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "limit is 1 to {MAX_HISTORY_LIMIT}"
        )));
    }
    let messages = api.ops.history(&room, limit).await?;
    Ok(Json(History { room, messages }))
}

async fn doc<O: ApiOps>(
    State(api): State<Api<O>>,
    ApiPath(doc): ApiPath<String>,
) -> Result<Json<DocView>, ApiError> {
    check_name("document", &doc)?;
    let state = api.ops.doc(&doc).await?;
    Ok(Json(DocView {
        doc,
        rev: state.rev,
        entries: state.entries,
    }))
}

async fn set_key<O: ApiOps>(
    State(api): State<Api<O>>,
    ApiPath((doc, key)): ApiPath<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Revision>, ApiError> {
    check_name("document", &doc)?;
    check_key(&key)?;
    let body: SetKeyBody = json_body(body, api.max_body_bytes)?;
    let rev = api
        .ops
        .change_key(&doc, &key, KeyChange::Set(body.value), body.if_rev)
        .await?;
    debug!(doc, key, rev, "api set key");
    Ok(Json(Revision { rev }))
}

async fn delete_key<O: ApiOps>(
    State(api): State<Api<O>>,
    ApiPath((doc, key)): ApiPath<(String, String)>,
    ApiQuery(params): ApiQuery<DeleteKeyQuery>,
) -> Result<Json<Revision>, ApiError> {
    check_name("document", &doc)?;
    check_key(&key)?;
    let if_rev = params.if_rev;
    let rev = api
        .ops
        .change_key(&doc, &key, KeyChange::Delete, if_rev)
        .await?;
    debug!(doc, key, rev, "api delete key");
    Ok(Json(Revision { rev }))
}
