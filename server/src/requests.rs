//! Runs `req` frames once per `(session, id)`: a new id runs its handler, a running one is not
//! run again (its reply goes to the session's connection at the time it is ready), a finished
//! one is answered from the session's reply cache. `sleep` runs on its own task so the
//! connection keeps serving meanwhile.

use crate::dedup::Seen;
use crate::frames;
use crate::handlers::{self, Counters, Plan, RequestError};
use crate::hub::Hub;
use crate::session::Session;
use axum::extract::ws::Utf8Bytes;
use resocket::protocol::RequestBody;
use serde_json::value::RawValue;
use std::sync::Arc;
use tokio::sync::watch;
use tracing::debug;

pub struct Requests {
    counters: Counters,
    hub: Arc<Hub>,
    /// Becomes true (or is dropped) when the server stops; pending sleeps then end silently.
    stopping: watch::Receiver<bool>,
}

impl Requests {
    pub fn new(hub: Arc<Hub>, stopping: watch::Receiver<bool>) -> Requests {
        Requests {
            counters: Counters::default(),
            hub,
            stopping,
        }
    }

    /// Handles request `id` of `session`; returns the reply to send on the calling connection
    /// now, if there is one.
    pub fn handle(
        &self,
        session: &Arc<Session>,
        id: u64,
        body: RequestBody<Box<RawValue>>,
    ) -> Option<Utf8Bytes> {
        match session.begin_request(id) {
            Seen::Done(reply) => {
                debug!(
                    session = session.id(),
                    id, "duplicate request: cached reply"
                );
                Some(reply)
            }
            Seen::Running => {
                debug!(
                    session = session.id(),
                    id, "duplicate request: still running"
                );
                None
            }
            Seen::Busy => {
                let error = RequestError::RateLimited(format!(
                    "at most {} requests may run at once",
                    crate::dedup::MAX_RUNNING
                ));
                Some(frames::res(id, Err(error.body())).into())
            }
            Seen::New => match handlers::plan(&body.method, body.params.as_deref(), &self.counters)
            {
                Plan::Reply(outcome) => {
                    let reply = reply_frame(id, outcome);
                    session.finish_request(id, reply.clone());
                    Some(reply)
                }
                Plan::Later { after, outcome } => {
                    let session = Arc::clone(session);
                    let hub = Arc::clone(&self.hub);
                    let mut stopping = self.stopping.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = tokio::time::sleep(after) => {}
                            () = stopped(&mut stopping) => return,
                        }
                        let reply = reply_frame(id, outcome);
                        match session.finish_request(id, reply.clone()) {
                            Some(conn) => {
                                hub.send_to(conn, &reply);
                            }
                            None => debug!(session = session.id(), id, "reply cached only"),
                        }
                    });
                    None
                }
            },
        }
    }
}

fn reply_frame(id: u64, outcome: handlers::Outcome) -> Utf8Bytes {
    let frame = match outcome {
        Ok(result) => frames::res(id, Ok(&result)),
        Err(error) => frames::res(id, Err(error.body())),
    };
    frame.into()
}

/// Resolves once the server is stopping (or its stop signal is gone).
pub async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}
