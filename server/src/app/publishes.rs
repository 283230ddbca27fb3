//! Acknowledged publishes: a `publish` with an `id` takes effect once per `(session, id)`, like a
//! request, and is answered `{"kind":"res","id":..,"payload":<seq>}`. The de-duplication is the
//! requests' own (one id space per session), so a publish the client re-sends after a
//! reconnect is not appended again: it gets the recorded answer, with the same `seq`.
//!
//! The answer to a new publish goes through the session's delivery queue, after the message
//! itself, so the publisher sees its message before its acknowledgement.

use super::error::AppError;
use crate::protocol::frames;
use crate::state::{Actor, Engine, Seen, MAX_RUNNING};
use axum::extract::ws::Utf8Bytes;
use serde_json::value::RawValue;
use tracing::{debug, warn};

/// Publishes `payload` to `room` once for publish `id` of `who`'s session; returns what to write
/// on the calling connection now, if anything.
pub async fn publish_once<E: Engine>(
    engine: &E,
    who: &Actor,
    id: u64,
    room: &str,
    payload: &RawValue,
) -> Option<Utf8Bytes> {
    let refused = |body| Some(Utf8Bytes::from(frames::error(Some(id), Some(room), body)));
    match engine.begin_request(&who.session, id).await {
        // Not recorded: the client may send it again.
        Err(err) => refused(err.body()),
        Ok(Seen::Done(answer)) => {
            debug!(
                session = who.session,
                id, "duplicate publish: recorded answer"
            );
            Some(answer)
        }
        Ok(Seen::Running) => None,
        Ok(Seen::Busy) => refused(
            AppError::RateLimited(format!("at most {MAX_RUNNING} requests may run at once")).body(),
        ),
        Ok(Seen::Expired) => refused(AppError::Expired(id).body()),
        Ok(Seen::New) => match engine.publish(who, room, payload).await {
            Ok(published) => {
                let ack = Utf8Bytes::from(frames::published(id, published.seq));
                match engine.finish_request_later(&who.session, id, ack).await {
                    Ok(_) => None,
                    Err(err) => {
                        warn!(session = who.session, id, %err, "publish acknowledgement lost");
                        None
                    }
                }
            }
            Err(err) => {
                // Recorded too, so a re-sent refused publish is refused the same way.
                let answer = refused(err.body())?;
                if let Err(err) = engine
                    .finish_request(&who.session, id, answer.clone())
                    .await
                {
                    warn!(session = who.session, id, %err, "publish refusal not recorded");
                }
                Some(answer)
            }
        },
    }
}
