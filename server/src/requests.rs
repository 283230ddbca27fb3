//! Runs `req` frames once per `(session, id)`: a new id runs its handler, a running one is not
//! run again (its reply goes to the session's connection at the time it is ready), a finished
//! one is answered from the session's reply cache. `sleep` runs on its own task so the
//! connection keeps serving meanwhile, and so does the delayed fill of an `order`.

use crate::dedup::Seen;
use crate::feed::Prices;
use crate::frames;
use crate::handlers::{self, MethodState, Order, Plan, RequestError, FILL_DELAY};
use crate::hub::Hub;
use crate::session::Session;
use axum::extract::ws::Utf8Bytes;
use resocket::protocol::RequestBody;
use serde_json::value::RawValue;
use std::sync::Arc;
use tokio::sync::watch;
use tracing::debug;

pub struct Requests {
    methods: MethodState,
    /// The price feed's latest prices: what an order is filled at.
    prices: Arc<Prices>,
    hub: Arc<Hub>,
    /// Becomes true (or is dropped) when the server stops; pending sleeps then end silently.
    stopping: watch::Receiver<bool>,
}

impl Requests {
    pub fn new(hub: Arc<Hub>, prices: Arc<Prices>, stopping: watch::Receiver<bool>) -> Requests {
        Requests {
            methods: MethodState::default(),
            prices,
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
            Seen::New => {
                match handlers::plan(&body.method, body.params.as_deref(), &self.methods) {
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
                    Plan::Fill { reply, order } => {
                        let reply = reply_frame(id, Ok(reply));
                        session.finish_request(id, reply.clone());
                        self.fill_later(session, order);
                        Some(reply)
                    }
                }
            }
        }
    }

    /// After [`FILL_DELAY`], pushes the order's fill at the price of that moment as a `notify`
    /// to every connection of the session's user, or to the session's connection when it has no
    /// user. Nothing is queued: a fill made while disconnected is not delivered.
    fn fill_later(&self, session: &Arc<Session>, order: Order) {
        let session = Arc::clone(session);
        let hub = Arc::clone(&self.hub);
        let prices = Arc::clone(&self.prices);
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(FILL_DELAY) => {}
                () = stopped(&mut stopping) => return,
            }
            // An order's symbol is always one of the feed's, so the lookup cannot miss.
            let price = prices.get(order.symbol).unwrap_or_default();
            let frame: Utf8Bytes = frames::notify(&order.fill(price)).into();
            let sent = match session.user() {
                Some(user) => hub.send_to_user(user, &frame),
                None => session
                    .connection()
                    .map_or(0, |conn| usize::from(hub.send_to(conn, &frame))),
            };
            debug!(
                session = session.id(),
                order = order.id,
                sent,
                "order filled"
            );
        });
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
