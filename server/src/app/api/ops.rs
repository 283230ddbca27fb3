//! [`ApiOps`] on the application state: each API call is one engine operation (or, for
//! `disconnect`, a hub call), so the API takes the same paths as clients do.

use super::{ApiError, ApiOps, DocEntry, DocState, HistoryMessage, KeyChange, Member};
use crate::app::AppState;
use crate::protocol::frames;
use crate::state::{Delivery, Engine, EngineError, ServerOpOutcome, To};
use resocket::doc::{Change, Op};
use resocket::protocol::ErrorCode;
use serde::Deserialize;
use serde_json::value::{to_raw_value, RawValue};
use serde_json::Value;
use tracing::warn;

/// The close code of a connection the server API disconnected (`docs/PROTOCOL.md`). Not yet in
/// `resocket::protocol::close_code`: the client crate should add it (and not reconnect on it).
pub const DISCONNECTED: u16 = 4410;
/// The close reason sent with [`DISCONNECTED`].
pub const DISCONNECTED_REASON: &str = "disconnected by the server";

fn engine_error(err: EngineError) -> ApiError {
    let message = err.to_string();
    match err.code() {
        ErrorCode::BadRequest => ApiError::BadRequest(message),
        ErrorCode::Forbidden => ApiError::Forbidden(message),
        ErrorCode::RateLimited => ApiError::RateLimited(message),
        ErrorCode::TooLarge => ApiError::BadRequest(message),
        _ if matches!(err, EngineError::Unavailable(_)) => ApiError::Unavailable(message),
        _ => ApiError::Internal(message),
    }
}

/// The parts of a stored room `msg` frame the history shows.
#[derive(Deserialize)]
struct StoredMsg {
    seq: u64,
    payload: Box<RawValue>,
    #[serde(default)]
    user: Option<String>,
}

impl<E: Engine> ApiOps for AppState<E> {
    async fn publish(&self, room: &str, payload: &RawValue) -> Result<(u64, usize), ApiError> {
        let published = self
            .engine
            .publish_as_server(room, payload)
            .await
            .map_err(engine_error)?;
        Ok((published.seq, published.members))
    }

    async fn notify(&self, user: Option<&str>, payload: &RawValue) -> Result<usize, ApiError> {
        let to = match user {
            Some(user) => To::User(user.to_owned()),
            None => To::Everyone,
        };
        self.engine
            .deliver(Delivery::new(to, frames::notify(payload)))
            .await
            .map_err(engine_error)
    }

    async fn disconnect(&self, user: &str) -> Result<usize, ApiError> {
        Ok(self.hub.close_user(user, DISCONNECTED, DISCONNECTED_REASON))
    }

    async fn presence(&self, room: &str) -> Result<Vec<Member>, ApiError> {
        let members = self.engine.presence(room).await.map_err(engine_error)?;
        Ok(members
            .into_iter()
            .map(|m| Member {
                id: m.id,
                user: m.user,
                meta: m.meta,
            })
            .collect())
    }

    async fn history(&self, room: &str, limit: usize) -> Result<Vec<HistoryMessage>, ApiError> {
        let frames = self
            .engine
            .history(room, limit)
            .await
            .map_err(engine_error)?;
        let mut messages = Vec::with_capacity(frames.len());
        for frame in frames {
            match serde_json::from_str::<StoredMsg>(frame.as_str()) {
                Ok(msg) => messages.push(HistoryMessage {
                    seq: msg.seq,
                    payload: msg.payload,
                    user: msg.user,
                }),
                Err(err) => warn!(room, %err, "history frame not readable; skipped"),
            }
        }
        Ok(messages)
    }

    async fn doc(&self, doc: &str) -> Result<DocState, ApiError> {
        let Some((rev, entries)) = self.engine.doc_state(doc).await.map_err(engine_error)? else {
            return Ok(DocState::default());
        };
        let mut out = Vec::with_capacity(entries.len());
        for (key, entry) in entries {
            let value = to_raw_value(&entry.value)
                .map_err(|err| ApiError::Internal(format!("document value: {err}")))?;
            out.push((
                key,
                DocEntry {
                    value,
                    rev: entry.rev,
                },
            ));
        }
        Ok(DocState { rev, entries: out })
    }

    async fn change_key(
        &self,
        doc: &str,
        key: &str,
        change: KeyChange,
        if_rev: Option<u64>,
    ) -> Result<u64, ApiError> {
        let change = match change {
            KeyChange::Set(value) => Change::Set(
                serde_json::from_str::<Value>(value.get())
                    .map_err(|err| ApiError::BadRequest(format!("value: {err}")))?,
            ),
            KeyChange::Delete => Change::Delete,
        };
        let op = Op {
            key: key.to_owned(),
            change,
            if_rev,
        };
        match self
            .engine
            .server_op(doc, &op)
            .await
            .map_err(engine_error)?
        {
            ServerOpOutcome::Applied { rev } => Ok(rev),
            ServerOpOutcome::Conflict { expected, actual } => Err(ApiError::Conflict(format!(
                "{key} is at revision {actual}, not {expected}"
            ))),
        }
    }
}
