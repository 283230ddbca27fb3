//! Runs `req` frames once per `(session, id)`: a new id runs its method, a running one is not
//! run again (its reply goes to the session's connection at the time it is ready), a finished
//! one is answered from the session's reply cache (both kept by the engine). `sleep` runs on
//! its own task so the connection keeps serving meanwhile.
//!
//! The demo methods run only in demo mode. Any other method is forwarded to the app backend
//! when `--rpc-url` is set (on its own task; the reply is cached and sent like a late `sleep`),
//! and answers `not_found` otherwise. The de-duplication above runs first, so a request re-sent
//! after a reconnect reaches the backend once.

use super::error::AppError;
use super::methods::{self, MethodResult, MethodState, Plan, DEMO_METHODS};
use super::rpc::{RpcCall, RpcForwarder};
use crate::protocol::frames;
use crate::state::{Actor, Engine, Seen, MAX_RUNNING};
use axum::extract::ws::Utf8Bytes;
use resocket::protocol::RequestBody;
use serde_json::value::RawValue;
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{debug, warn};

pub struct Requests {
    methods: MethodState,
    /// Becomes true (or is dropped) when the server stops; pending sleeps then end silently.
    stopping: watch::Receiver<bool>,
    /// Demo mode: the demo methods answer.
    demo: bool,
    /// Where methods no local handler answers go.
    rpc: Option<Arc<RpcForwarder>>,
}

impl Requests {
    pub fn new(stopping: watch::Receiver<bool>, demo: bool, rpc: Option<RpcForwarder>) -> Requests {
        Requests {
            methods: MethodState::default(),
            stopping,
            demo,
            rpc: rpc.map(Arc::new),
        }
    }

    /// Handles request `id` of `who`'s session; returns the reply to send on the calling
    /// connection now, if there is one.
    pub async fn handle<E: Engine>(
        &self,
        engine: &Arc<E>,
        who: &Actor,
        id: u64,
        body: RequestBody<Box<RawValue>>,
    ) -> Option<Utf8Bytes> {
        let seen = match engine.begin_request(&who.session, id).await {
            Ok(seen) => seen,
            // Not recorded: the client may send it again.
            Err(err) => return Some(frames::res(id, Err(err.body())).into()),
        };
        match seen {
            Seen::Done(reply) => {
                debug!(session = who.session, id, "duplicate request: cached reply");
                Some(reply)
            }
            Seen::Running => {
                debug!(
                    session = who.session,
                    id, "duplicate request: still running"
                );
                None
            }
            Seen::Busy => {
                let error = AppError::RateLimited(format!(
                    "at most {MAX_RUNNING} requests may run at once"
                ));
                Some(frames::res(id, Err(error.body())).into())
            }
            Seen::Expired => {
                debug!(session = who.session, id, "re-sent request expired");
                Some(frames::res(id, Err(AppError::Expired(id).body())).into())
            }
            Seen::New if !(self.demo && DEMO_METHODS.contains(&body.method.as_str())) => {
                match &self.rpc {
                    Some(rpc) => {
                        self.forward(engine, who, id, body, rpc);
                        None
                    }
                    None => {
                        let reply = reply_frame(id, Err(methods::no_method(&body.method)));
                        record(&**engine, who, id, &reply).await;
                        Some(reply)
                    }
                }
            }
            Seen::New => match methods::plan(&body.method, body.params.as_deref(), &self.methods) {
                Plan::Reply(result) => {
                    let reply = reply_frame(id, result);
                    record(&**engine, who, id, &reply).await;
                    Some(reply)
                }
                Plan::Later { after, outcome } => {
                    let engine = Arc::clone(engine);
                    let session = who.session.clone();
                    let mut stopping = self.stopping.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = tokio::time::sleep(after) => {}
                            () = stopped(&mut stopping) => return,
                        }
                        let reply = reply_frame(id, outcome);
                        match engine.finish_request_later(&session, id, reply).await {
                            Ok(true) => {}
                            Ok(false) => debug!(session, id, "reply cached only"),
                            Err(err) => warn!(session, id, %err, "late reply lost"),
                        }
                    });
                    None
                }
            },
        }
    }

    /// Forwards request `id` to the app backend on its own task; its reply (result or typed
    /// error) is cached and sent to the session's connection of that moment.
    fn forward<E: Engine>(
        &self,
        engine: &Arc<E>,
        who: &Actor,
        id: u64,
        body: RequestBody<Box<RawValue>>,
        rpc: &Arc<RpcForwarder>,
    ) {
        let engine = Arc::clone(engine);
        let rpc = Arc::clone(rpc);
        let who = who.clone();
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            let call = RpcCall {
                method: &body.method,
                params: body.params.as_deref(),
                user: who.user.as_deref(),
                session: &who.session,
                id,
            };
            let outcome = tokio::select! {
                outcome = rpc.forward(call) => outcome,
                () = stopped(&mut stopping) => return,
            };
            let outcome = outcome.map_err(|err| AppError::Failed {
                code: err.code,
                message: err.message,
            });
            let reply = reply_frame(id, outcome);
            match engine.finish_request_later(&who.session, id, reply).await {
                Ok(true) => {}
                Ok(false) => debug!(session = who.session, id, "rpc reply cached only"),
                Err(err) => warn!(session = who.session, id, %err, "rpc reply lost"),
            }
        });
    }
}

/// Caches the reply the caller writes itself; if that fails, a resend runs the request again.
async fn record<E: Engine>(engine: &E, who: &Actor, id: u64, reply: &Utf8Bytes) {
    if let Err(err) = engine.finish_request(&who.session, id, reply.clone()).await {
        warn!(session = who.session, id, %err, "reply not cached");
    }
}

fn reply_frame(id: u64, result: MethodResult) -> Utf8Bytes {
    let frame = match result {
        Ok(result) => frames::res(id, Ok(&result)),
        Err(error) => frames::res(id, Err(error.body())),
    };
    frame.into()
}

/// Resolves once the server is stopping (or its stop signal is gone).
pub async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}
