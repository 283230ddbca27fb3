//! One task per WebSocket: the `hello`/`welcome` handshake (which attaches it to a session),
//! then the frame loop. The task owns its socket; the hub reaches it only through its outbound
//! queue and control channel. Replies to the connection's own frames are written directly;
//! frames from elsewhere (broadcasts, room messages, presence, late request replies) arrive
//! through the queue.

use super::admission::Ticket;
use super::budgets::{Budgets, Held};
use super::dispatch::{self, Action};
use super::error::ProtocolError;
use super::frames;
use super::hub::{ConnId, Control, Membership, Outbound, Registration};
use super::rates::{self, Class, ConnRates, Verdict};
use crate::app::publishes::publish_once;
use crate::app::AppState;
use crate::auth::{AuthError, Denied, Identity};
use crate::state::{Actor, Delivery, Engine, EngineError, OpOutcome, Session, To};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use resocket::protocol::json::{self, RawEnvelope};
use resocket::protocol::{close_code, ErrorBody, ErrorCode, Hello, Kind, PROTOCOL_VERSION};
use serde::Deserialize;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::time::{timeout, timeout_at, Instant};
use tracing::{debug, info, warn};

/// Most frames written before one flush.
const MAX_BURST: usize = 256;

/// How long a close handshake we started may take before the socket is dropped anyway.
const CLOSE_LINGER: Duration = Duration::from_millis(1000);

/// Longest handshake wait honoured, whatever the configuration says.
const MAX_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(86_400);

/// Longest token lifetime a connection's expiry timer honours.
const MAX_EXPIRY: Duration = Duration::from_secs(365 * 86_400);

/// The buckets a client frame takes tokens from, with how many: one of its class, and for
/// the frames delivered to many, its payload's KiB from [`Class::Bytes`].
fn rate_charges(action: &Action) -> [Option<(Class, u32)>; 2] {
    let kib = |bytes: usize| {
        Some((
            Class::Bytes,
            u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX),
        ))
    };
    match action {
        Action::Publish { payload, .. } => [Some((Class::Publish, 1)), kib(payload.get().len())],
        Action::Broadcast(frame) => [Some((Class::Broadcast, 1)), kib(frame.len())],
        Action::Presence { .. } => [Some((Class::Presence, 1)), None],
        Action::Request { .. } => [Some((Class::Request, 1)), None],
        Action::Op { .. } => [Some((Class::Op, 1)), None],
        Action::Join { .. } | Action::Sync { .. } => [Some((Class::Join, 1)), None],
        _ => [None, None],
    }
}

/// The answer to a frame refused for an empty bucket: what the frame's own refusals look like
/// (an error with its id and room, a failed `res`, or a `reject` for an op).
fn rate_refusal(action: &Action, class: Class) -> String {
    let error = ErrorBody {
        code: ErrorCode::RateLimited,
        message: match class {
            Class::Bytes => "too many bytes of room messages a second; slow down".to_owned(),
            _ => format!("too many {} frames; slow down", class.name()),
        },
    };
    match action {
        Action::Request { id, .. } => frames::res(*id, Err(error)),
        Action::Op { room, op } => frames::reject(room, &op.origin, op.cseq, error),
        Action::Publish { id, room, .. }
        | Action::Presence { id, room, .. }
        | Action::Join { id, room, .. }
        | Action::Sync { id, room, .. } => frames::error(*id, Some(room), error),
        _ => frames::error(None, None, error),
    }
}

/// Close reason (4003) for a peer that stayed silent past the idle timeout.
pub const IDLE_REASON: &str = "no frame from the peer within the idle timeout";

/// Runs a write within `limit`; a write that takes longer gives the connection up (a peer
/// that stopped reading must not hold a task and its buffers forever).
async fn within(limit: Duration, write: impl Future<Output = Result<(), End>>) -> Result<(), End> {
    match timeout(limit, write).await {
        Ok(result) => result,
        Err(_) => Err(End::Lost(format!(
            "write timed out after {} ms",
            limit.as_millis()
        ))),
    }
}

/// What the connection's liveness timer asks for.
enum Due {
    /// Send a ping: the peer has been quiet for the ping interval.
    Ping,
    /// Close: the peer has been quiet for the idle timeout.
    Idle,
}

/// When the last frame arrived from the peer, and when the next ping or the idle close is due.
struct Liveness {
    heard: Instant,
    pinged: Option<Instant>,
    ping_interval: Option<Duration>,
    idle_timeout: Option<Duration>,
}

impl Liveness {
    fn new(ping_interval: Duration, idle_timeout: Duration) -> Liveness {
        let positive = |d: Duration| (!d.is_zero()).then_some(d.min(MAX_HANDSHAKE_TIMEOUT));
        Liveness {
            heard: Instant::now(),
            pinged: None,
            ping_interval: positive(ping_interval),
            idle_timeout: positive(idle_timeout),
        }
    }

    fn heard(&mut self) {
        self.heard = Instant::now();
        self.pinged = None;
    }

    fn pinged(&mut self) {
        self.pinged = Some(Instant::now());
    }

    /// Resolves when a ping or the idle close is due; never without either.
    async fn next(&self) -> Due {
        let idle = self.idle_timeout.map(|t| self.heard + t);
        // One ping per quiet spell, `ping_interval` after the last frame heard.
        let ping = match (self.ping_interval, self.pinged) {
            (Some(interval), None) => Some(self.heard + interval),
            _ => None,
        };
        match (ping, idle) {
            (Some(ping), Some(idle)) if ping < idle => {
                tokio::time::sleep_until(ping).await;
                Due::Ping
            }
            (_, Some(idle)) => {
                tokio::time::sleep_until(idle).await;
                Due::Idle
            }
            (Some(ping), None) => {
                tokio::time::sleep_until(ping).await;
                Due::Ping
            }
            (None, None) => std::future::pending().await,
        }
    }
}

/// Close reasons are limited to 123 bytes by RFC 6455.
const MAX_CLOSE_REASON: usize = 123;

/// Close reason for a connection whose session was resumed by a newer connection (code 4409).
pub const TAKEN_OVER: &str = "session resumed elsewhere";

/// Per-connection settings, copied from the server configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub hard_frame_limit: usize,
    pub handshake_timeout: Duration,
    /// A WebSocket ping goes out after this long without a frame from the peer (zero: never).
    pub ping_interval: Duration,
    /// A peer silent this long (no frame, not even a pong) is closed with 4003 (zero: never).
    pub idle_timeout: Duration,
    /// Longest any write (a frame, a burst, a close frame) may take before the connection is
    /// given up on.
    pub write_timeout: Duration,
    /// Rooms, documents and presence metadata per connection.
    pub budgets: Budgets,
    /// The requests a client may have in flight, advertised in `welcome`.
    pub request_window: u64,
}

/// How a connection ended, for the log.
#[derive(Debug)]
enum End {
    /// We sent a close frame with this code.
    ServerClosed(u16),
    /// The peer sent a close frame.
    PeerClosed(Option<u16>),
    /// The hub dropped the socket without a close frame.
    Dropped,
    /// The transport failed or ended without a close frame.
    Lost(String),
}

struct Conn<E> {
    socket: WebSocket,
    app: AppState<E>,
    id: ConnId,
    /// This connection's places under the connection limits.
    ticket: Ticket,
    /// Its token buckets.
    rates: ConnRates,
    /// The rooms and documents it holds against its budgets.
    held: Held,
    outbound: Outbound,
    control: watch::Receiver<Control>,
    /// Who the connection is (from `hello`; a `refresh` replaces it).
    identity: Identity,
    /// When the token expires unrefreshed (its `exp` plus the verifier's leeway).
    expires: Option<Instant>,
    /// The session's document-op origin (`welcome.origin`); ops under another are forbidden.
    origin: String,
}

/// A welcomed connection's hold on its session. [`run`] ends it with an awaited
/// `Engine::disconnect` (the connection leaves its rooms and documents, the session's TTL
/// starts); if the task panics instead, dropping it still does that on another task.
struct Attachment<E: Engine> {
    engine: Arc<E>,
    who: Option<Actor>,
}

impl<E: Engine> Attachment<E> {
    async fn end(mut self) {
        if let Some(who) = self.who.take() {
            leave_state(&*self.engine, &who).await;
        }
    }
}

async fn leave_state<E: Engine>(engine: &E, who: &Actor) {
    if let Err(err) = engine.disconnect(who).await {
        warn!(conn = who.conn, session = who.session, %err, "connection not removed from the state");
    }
}

impl<E: Engine> Drop for Attachment<E> {
    fn drop(&mut self) {
        let Some(who) = self.who.take() else {
            return;
        };
        warn!(
            conn = who.conn,
            "connection task ended abnormally; leaving its state"
        );
        let engine = Arc::clone(&self.engine);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { leave_state(&*engine, &who).await });
        }
    }
}

/// Runs one upgraded socket until it ends.
///
/// The connection is set up here, outside the future that runs it: the arguments of an async
/// fn keep a slot of their own in its future next to the connection they were moved into, and
/// the future of every idle connection stays in memory for as long as it is open.
pub fn run<E: Engine>(
    socket: WebSocket,
    app: AppState<E>,
    peer: SocketAddr,
    ticket: Ticket,
) -> impl Future<Output = ()> + Send {
    let Registration {
        membership,
        outbound,
        control,
    } = app.hub.register();
    let id = membership.id();
    info!(conn = id, %peer, "connection opened");
    let kill = control.clone();
    let attachment = Attachment {
        engine: Arc::clone(&app.engine),
        who: None,
    };
    let rates = ConnRates::new(Arc::clone(&app.user_rates));
    let conn = Conn {
        socket,
        app,
        id,
        ticket,
        rates,
        held: Held::default(),
        outbound,
        control,
        identity: Identity::anonymous(),
        expires: None,
        origin: String::new(),
    };
    drive(conn, attachment, kill, membership)
}

async fn drive<E: Engine>(
    mut conn: Conn<E>,
    mut attachment: Attachment<E>,
    mut kill: watch::Receiver<Control>,
    membership: Membership,
) {
    let id = conn.id;
    // Racing the whole connection against a kill lets the hub drop a socket that is stuck in a
    // write to a peer that stopped reading: cancelling the future drops the socket.
    let end = tokio::select! {
        biased;
        _ = kill.wait_for(|c| *c == Control::Kill) => End::Dropped,
        end = conn.serve(&mut attachment) => end,
    };
    let session = attachment
        .who
        .as_ref()
        .map_or_else(|| "-".to_owned(), |who| who.session.clone());
    // The state forgets the connection before its socket goes, as a peer may look right after.
    Box::pin(attachment.end()).await;
    drop(conn);
    let session = session.as_str();
    match end {
        End::ServerClosed(code) => {
            info!(conn = id, session, code, "connection closed by server")
        }
        End::PeerClosed(code) => info!(conn = id, session, ?code, "connection closed by peer"),
        End::Dropped => info!(conn = id, session, "connection dropped (no close frame)"),
        End::Lost(why) => info!(conn = id, session, why, "connection lost"),
    }
    drop(membership);
}

impl<E: Engine> Conn<E> {
    async fn serve(&mut self, attachment: &mut Attachment<E>) -> End {
        // Boxed, so the idle connection's future does not keep room for the handshake's engine
        // calls (server/benches/idle_memory.rs measures it).
        match Box::pin(self.handshake(attachment)).await {
            Ok(who) => self.frame_loop(&who).await,
            Err(end) => end,
        }
    }

    /// Waits for `hello` and answers `welcome`; any other outcome closes the connection.
    async fn handshake(&mut self, attachment: &mut Attachment<E>) -> Result<Actor, End> {
        // A huge configured timeout must not overflow the clock: cap it at a day.
        let limit = self.app.limits.handshake_timeout.min(MAX_HANDSHAKE_TIMEOUT);
        let deadline = Instant::now() + limit;
        loop {
            let received = tokio::select! {
                biased;
                (code, reason) = close_requested(&mut self.control) => {
                    return Err(self.close(code, &reason).await);
                }
                received = timeout_at(deadline, self.socket.recv()) => received,
            };
            let message = match received {
                Err(_) => {
                    let ms = self.app.limits.handshake_timeout.as_millis();
                    let reason = format!("no hello within {ms} ms");
                    return Err(self.close(close_code::HANDSHAKE_TIMEOUT, &reason).await);
                }
                Ok(None) => return Err(End::Lost("ended before hello".into())),
                Ok(Some(Err(err))) => return Err(self.receive_failed(err).await),
                Ok(Some(Ok(message))) => message,
            };
            let text = match message {
                Message::Text(text) => text,
                Message::Binary(_) => {
                    let reason = "binary frames are not supported; the first frame must be a hello";
                    return Err(self.close(close_code::PROTOCOL_ERROR, reason).await);
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(frame) => return Err(self.peer_closed(frame).await),
            };
            return match check_hello(&text, self.app.limits.max_frame_bytes) {
                Ok(hello) => {
                    let policy = &self.app.auth.policy;
                    let identity =
                        match policy.authenticate(hello.token.as_deref(), hello.user.as_deref()) {
                            Ok(identity) => identity,
                            Err(err) => {
                                self.app.refused_handshakes.fetch_add(1, Ordering::Relaxed);
                                info!(conn = self.id, reason = err.reason(), "hello refused");
                                let code = close_code::UNAUTHORIZED;
                                return Err(self.close(code, err.reason()).await);
                            }
                        };
                    let user = identity.user.clone();
                    if let Some(user) = &user {
                        if let Err(refused) = self.ticket.claim_user(user) {
                            info!(
                                conn = self.id,
                                user = short(user),
                                "hello refused: {refused}"
                            );
                            let reason = refused.to_string();
                            return Err(self.close(close_code::TRY_AGAIN_LATER, &reason).await);
                        }
                    }
                    self.identity = identity;
                    let (session, resumed) =
                        match self.attach(&hello, user.as_deref(), attachment).await {
                            Ok(attached) => attached,
                            // The client retries later, as after a restart.
                            Err(err) => {
                                let reason = err.to_string();
                                return Err(self.close(close_code::GOING_AWAY, &reason).await);
                            }
                        };
                    let expires_in = self.arm_expiry();
                    let origin = Some(session.origin.as_str());
                    let welcome = frames::welcome(
                        &session.id,
                        &session.token,
                        resumed,
                        origin,
                        expires_in,
                        Some(self.app.limits.request_window),
                    );
                    self.origin.clone_from(&session.origin);
                    let who = session.actor(self.id);
                    self.send(welcome.into()).await.map(|()| who)
                }
                Err(err) => Err(self.close(err.close_code(), &err.to_string()).await),
            };
        }
    }

    /// Sets the expiry deadline from the identity's `exp`; returns the ms left (`expiresIn`).
    fn arm_expiry(&mut self) -> Option<u64> {
        let expires_at = self.identity.expires_at?;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // At most a year: a far `exp` must not overflow the clock or exceed 2^53 on the wire.
        let cap = u64::try_from(MAX_EXPIRY.as_millis()).unwrap_or(u64::MAX);
        let left = expires_at
            .saturating_mul(1000)
            .saturating_sub(now_ms)
            .min(cap);
        let leeway = self.app.auth.policy.leeway_secs();
        let wait = (Duration::from_millis(left) + Duration::from_secs(leeway)).min(MAX_EXPIRY);
        self.expires = Some(Instant::now() + wait);
        Some(left)
    }

    /// Checks a `refresh` token: `refreshed` with the new expiry, or an `unauthorized` error.
    fn refresh(&mut self, id: u64, token: &str) -> Utf8Bytes {
        match self.app.auth.policy.refresh(&self.identity, token) {
            Ok(identity) => {
                self.identity = identity;
                let expires_in = self.arm_expiry();
                if expires_in.is_none() {
                    self.expires = None;
                }
                debug!(conn = self.id, expires_in, "token refreshed");
                frames::refreshed(id, expires_in).into()
            }
            Err(err) => {
                info!(conn = self.id, reason = err.reason(), "refresh refused");
                let body = ErrorBody {
                    code: ErrorCode::Unauthorized,
                    message: err.reason().to_owned(),
                };
                frames::error(Some(id), None, body).into()
            }
        }
    }

    /// Attaches the connection to the session `hello` asks for (or a new one) and closes an
    /// older connection of that session. Also says whether the session was resumed.
    async fn attach(
        &mut self,
        hello: &Hello,
        user: Option<&str>,
        attachment: &mut Attachment<E>,
    ) -> Result<(Session, bool), EngineError> {
        let opened = self
            .app
            .engine
            .open_session(self.id, user, hello.resume.as_ref())
            .await?;
        let session = opened.session;
        attachment.who = Some(session.actor(self.id));
        self.app.hub.welcome(self.id, &session.id, user);
        if let Some(old) = opened.replaced {
            info!(
                conn = self.id,
                old,
                session = session.id,
                "session taken over"
            );
            self.app
                .hub
                .close(old, close_code::RESUMED_ELSEWHERE, TAKEN_OVER);
        }
        info!(
            conn = self.id,
            session = session.id,
            user = user.map(short),
            resumed = opened.resumed,
            "handshake complete"
        );
        Ok((session, opened.resumed))
    }

    async fn frame_loop(&mut self, who: &Actor) -> End {
        let mut liveness =
            Liveness::new(self.app.limits.ping_interval, self.app.limits.idle_timeout);
        // What a frame asks for, pings and closes run boxed: an idle connection's future then
        // holds only what it waits on (and a burst's write), not the largest of those states.
        loop {
            // Outbound frames go before the next inbound one, so a client that broadcasts and
            // then sends a msg sees the broadcast's delivery first.
            tokio::select! {
                biased;
                (code, reason) = close_requested(&mut self.control) => {
                    return Box::pin(self.close(code, &reason)).await;
                }
                () = expiry(self.expires) => {
                    info!(conn = self.id, "token expired unrefreshed");
                    let reason = AuthError::Expired.reason();
                    return Box::pin(self.close(close_code::TOKEN_EXPIRED, reason)).await;
                }
                due = liveness.next() => match due {
                    Due::Ping => {
                        let ping = self.socket.send(Message::Ping(Default::default()));
                        match Box::pin(timeout(self.app.limits.write_timeout, ping)).await {
                            Ok(Ok(())) => liveness.pinged(),
                            Ok(Err(err)) => return End::Lost(format!("ping failed: {err}")),
                            Err(_) => return End::Lost("ping write timed out".into()),
                        }
                    }
                    Due::Idle => {
                        info!(conn = self.id, "peer silent past the idle timeout");
                        return Box::pin(self.close(close_code::HEARTBEAT_TIMEOUT, IDLE_REASON)).await;
                    }
                },
                Some(frame) = self.outbound.recv() => {
                    if let Err(end) = self.send_burst(frame).await {
                        return end;
                    }
                }
                received = self.socket.recv() => {
                    liveness.heard();
                    let action = match received {
                        None => return End::Lost("ended without a close frame".into()),
                        Some(Err(err)) => return Box::pin(self.receive_failed(err)).await,
                        Some(Ok(Message::Text(text))) => {
                            dispatch::text_frame(&text, self.app.limits.max_frame_bytes)
                        }
                        Some(Ok(Message::Binary(data))) => {
                            dispatch::binary_frame(data.len(), self.app.limits.max_frame_bytes)
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Action::Ignore,
                        Some(Ok(Message::Close(frame))) => {
                            return Box::pin(self.peer_closed(frame)).await
                        }
                    };
                    if let Err(end) = Box::pin(self.act(action, who)).await {
                        return end;
                    }
                }
            }
        }
    }

    async fn act(&mut self, action: Action, who: &Actor) -> Result<(), End> {
        for (class, cost) in rate_charges(&action).into_iter().flatten() {
            match self.rates.check(class, cost, self.identity.user.as_deref()) {
                Verdict::Pass => {}
                Verdict::Refuse => return self.send(rate_refusal(&action, class).into()).await,
                Verdict::Close => {
                    info!(
                        conn = self.id,
                        class = class.name(),
                        "closed for sustained rate-limit abuse"
                    );
                    return Err(self.close(rates::ABUSE_CLOSE, rates::ABUSE_REASON).await);
                }
            }
        }
        if let Some(refused) = self.held.check(&self.app.limits.budgets, &action) {
            return self.send(refused.into()).await;
        }
        let engine = Arc::clone(&self.app.engine);
        let auth = Arc::clone(&self.app.auth);
        let rules = &auth.namespaces;
        let refused = |id: Option<u64>, room: &str, err: EngineError| {
            Some(Utf8Bytes::from(frames::error(id, Some(room), err.body())))
        };
        let conn = self.id;
        let denied_frame = |id: Option<u64>, room: Option<&str>, denied: Denied| {
            debug!(
                conn,
                room,
                reason = denied.reason(),
                "refused by the namespace rules"
            );
            Some(Utf8Bytes::from(frames::error(id, room, forbidden(denied))))
        };
        let identity = &self.identity;
        let reply: Option<Utf8Bytes> = match action {
            Action::Reply(frame) => Some(frame.into()),
            Action::Broadcast(frame) => {
                if let Err(denied) = rules.can_broadcast(identity) {
                    let reply = denied_frame(None, None, denied);
                    return self.send_reply(reply).await;
                }
                match engine.deliver(Delivery::new(To::Everyone, frame)).await {
                    Ok(sent) => debug!(conn = self.id, sent, "broadcast"),
                    Err(err) => warn!(conn = self.id, %err, "broadcast lost"),
                }
                None
            }
            Action::Ignore => None,
            Action::Refresh { id, token } => Some(self.refresh(id, &token)),
            Action::Request { id, body } => {
                let requests = Arc::clone(&self.app.requests);
                let (engine, who) = (Arc::clone(&engine), who.clone());
                // On a task of its own: once marked running, a request must get its reply
                // recorded even if this connection is dropped mid-way (a remote engine's calls
                // really wait), or every re-send would find it running forever.
                let handled =
                    tokio::spawn(async move { requests.handle(&engine, &who, id, body).await });
                handled.await.unwrap_or(None)
            }
            Action::Join {
                id,
                room,
                since,
                history,
                meta,
            } => match rules.can_join(identity, &room) {
                Err(denied) => denied_frame(id, Some(&room), denied),
                Ok(()) => match engine.join(who, id, &room, since, history, meta).await {
                    Ok(frames) => {
                        self.held.joined(&room);
                        return self.send_all(frames).await;
                    }
                    Err(err) => refused(id, &room, err),
                },
            },
            Action::Leave { id, room } => match engine.leave(who, &room).await {
                Ok(_) => {
                    self.held.left(&room);
                    Some(frames::left(id, &room).into())
                }
                Err(err) => refused(id, &room, err),
            },
            Action::Publish { id, room, payload } => match (rules.can_publish(identity, &room), id)
            {
                (Err(denied), _) => denied_frame(id, Some(&room), denied),
                // With an id: once per session, acknowledged with its seq.
                // On a task of its own, like a request: see above.
                (Ok(()), Some(id)) => {
                    let (engine, who, room) = (Arc::clone(&engine), who.clone(), room.clone());
                    let published = tokio::spawn(async move {
                        publish_once(&*engine, &who, id, &room, &payload).await
                    });
                    published.await.unwrap_or(None)
                }
                (Ok(()), None) => match engine.publish(who, &room, &payload).await {
                    Ok(_) => None,
                    Err(err) => refused(None, &room, err),
                },
            },
            Action::Presence { id, room, meta } => match engine.set_meta(who, &room, meta).await {
                Ok(()) => None,
                Err(err) => refused(id, &room, err),
            },
            Action::Sync { id, room, since } => {
                if let Err(denied) = rules.can_join(identity, &room) {
                    let reply = denied_frame(id, Some(&room), denied);
                    return self.send_reply(reply).await;
                }
                let outbound = &mut self.outbound;
                // What is already queued for this connection is older than the catch-up, so the
                // engine takes it out at the moment of the subscription and it is written first.
                let queued = || std::iter::from_fn(|| outbound.try_recv()).collect();
                match engine.sync(self.id, id, &room, since, queued).await {
                    Ok(frames) => {
                        self.held.synced(&room);
                        return self.send_all(frames).await;
                    }
                    Err(err) => refused(id, &room, err),
                }
            }
            Action::Unsync { room } => {
                self.held.unsynced(&room);
                if let Err(err) = engine.unsync(self.id, &room).await {
                    warn!(conn = self.id, room, %err, "unsync failed");
                }
                None
            }
            // A refused op is answered like any op the server does not apply: a `reject` to
            // the sender, whose client rolls it back.
            Action::Op { room, op } => match rules.can_write_doc(identity, &room) {
                Err(denied) => {
                    debug!(
                        conn,
                        room,
                        reason = denied.reason(),
                        "op refused by the namespace rules"
                    );
                    let frame = frames::reject(&room, &op.origin, op.cseq, forbidden(denied));
                    Some(frame.into())
                }
                Ok(()) => match engine.op(self.id, &self.origin, &room, &op).await {
                    Ok(outcome) => {
                        if let OpOutcome::Refused(code) = outcome {
                            debug!(conn = self.id, room, code = code.as_wire(), "op refused");
                        }
                        None
                    }
                    Err(err) => refused(None, &room, err),
                },
            },
        };
        self.send_reply(reply).await
    }

    async fn send_reply(&mut self, reply: Option<Utf8Bytes>) -> Result<(), End> {
        match reply {
            Some(frame) => self.send(frame).await,
            None => Ok(()),
        }
    }

    /// Writes `frames` in order with one flush, within the write timeout.
    async fn send_all(&mut self, frames: Vec<Utf8Bytes>) -> Result<(), End> {
        let lost = |err: axum::Error| End::Lost(format!("send failed: {err}"));
        let socket = &mut self.socket;
        let write = async {
            for frame in frames {
                socket.feed(Message::Text(frame)).await.map_err(lost)?;
            }
            socket.flush().await.map_err(lost)
        };
        within(self.app.limits.write_timeout, write).await
    }

    /// Writes `first` and whatever else is already queued, then flushes once: a burst of frames
    /// costs one write to the socket, not one per frame. Within the write timeout.
    async fn send_burst(&mut self, first: Utf8Bytes) -> Result<(), End> {
        let lost = |err: axum::Error| End::Lost(format!("send failed: {err}"));
        let (socket, outbound) = (&mut self.socket, &mut self.outbound);
        let write = async {
            socket.feed(Message::Text(first)).await.map_err(lost)?;
            for _ in 1..MAX_BURST {
                let Some(frame) = outbound.try_recv() else {
                    break;
                };
                socket.feed(Message::Text(frame)).await.map_err(lost)?;
            }
            socket.flush().await.map_err(lost)
        };
        within(self.app.limits.write_timeout, write).await
    }

    async fn send(&mut self, frame: Utf8Bytes) -> Result<(), End> {
        let write = self.socket.send(Message::Text(frame));
        within(self.app.limits.write_timeout, async {
            write
                .await
                .map_err(|err| End::Lost(format!("send failed: {err}")))
        })
        .await
    }

    /// Starts the close handshake and waits (bounded) for the peer's answer.
    async fn close(&mut self, code: u16, reason: &str) -> End {
        let frame = CloseFrame {
            code,
            reason: dispatch::truncate(reason, MAX_CLOSE_REASON).into(),
        };
        let sent = timeout(
            self.app.limits.write_timeout,
            self.socket.send(Message::Close(Some(frame))),
        );
        if matches!(sent.await, Ok(Ok(()))) {
            // The library answers nothing more after a close; reading just completes the handshake.
            let _ = timeout(CLOSE_LINGER, async {
                while let Some(Ok(_)) = self.socket.recv().await {}
            })
            .await;
        }
        End::ServerClosed(code)
    }

    /// The peer sent a close frame: the library queues the answer, and reading on flushes it.
    async fn peer_closed(&mut self, frame: Option<CloseFrame>) -> End {
        let _ = timeout(CLOSE_LINGER, async {
            while let Some(Ok(_)) = self.socket.recv().await {}
        })
        .await;
        End::PeerClosed(frame.map(|f| f.code))
    }

    /// A read error ends the stream; close with the matching code where the peer can still hear it.
    async fn receive_failed(&mut self, err: axum::Error) -> End {
        let inner = err.into_inner();
        match inner.downcast_ref::<tungstenite::Error>() {
            Some(tungstenite::Error::Capacity(cap)) => {
                debug!(conn = self.id, %cap, "frame over the hard limit");
                let reason = format!(
                    "frame exceeds the hard limit of {} bytes",
                    self.app.limits.hard_frame_limit
                );
                self.close(close_code::MESSAGE_TOO_BIG, &reason).await
            }
            Some(tungstenite::Error::Utf8(_)) => {
                self.close(INVALID_PAYLOAD, "text frame is not valid UTF-8")
                    .await
            }
            Some(tungstenite::Error::Protocol(err)) => {
                let reason = format!("websocket protocol error: {err}");
                self.close(WS_PROTOCOL_ERROR, &reason).await
            }
            _ => End::Lost(inner.to_string()),
        }
    }
}

/// The `error` of a request the namespace rules refuse: code `forbidden`, message
/// `"<reason>: <explanation>"` (`not_owner: only its owner may use this name`).
fn forbidden(denied: Denied) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Forbidden,
        message: format!("{}: {denied}", denied.reason()),
    }
}

/// RFC 6455 codes for transport-level violations (not part of protocol v1's own codes).
const WS_PROTOCOL_ERROR: u16 = 1002;
const INVALID_PAYLOAD: u16 = 1007;

/// Resolves at `deadline`; never without one.
async fn expiry(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Resolves when the hub asks for a close; never resolves otherwise (a kill is handled by the
/// caller, and a dropped control sender means the hub killed us).
async fn close_requested(control: &mut watch::Receiver<Control>) -> (u16, String) {
    let closing = control
        .wait_for(|c| matches!(c, Control::Close { .. }))
        .await
        .map(|c| c.clone());
    match closing {
        Ok(Control::Close { code, reason }) => (code, reason),
        _ => std::future::pending().await,
    }
}

/// A user id cut short for the log (ids are at most 128 bytes; the log needs less).
fn short(user: &str) -> &str {
    match user.char_indices().nth(32) {
        Some((end, _)) => &user[..end],
        None => user,
    }
}

/// Checks the first frame: the hello of a v1 client, else why not (which says the close code).
pub fn check_hello(text: &str, max_frame_bytes: usize) -> Result<Hello, ProtocolError> {
    let bad = |reason: String| Err(ProtocolError::BadHello(reason));
    if text.len() > max_frame_bytes {
        return bad(format!(
            "first frame must be a hello, got {} bytes",
            text.len()
        ));
    }
    let envelope: RawEnvelope = match json::decode(text) {
        Ok(envelope) => envelope,
        Err(err) => return bad(format!("first frame must be a hello ({err})")),
    };
    if Kind::from_wire(&envelope.kind) != Some(Kind::Hello) {
        let kind = dispatch::truncate(&envelope.kind, 40);
        return bad(format!("first frame must be a hello, got {kind:?}"));
    }
    let payload = envelope.payload.as_deref().map_or("null", |raw| raw.get());
    // The version first: a client of another version gets 4001 whatever else its hello holds.
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let Ok(Version { version }) = serde_json::from_str::<Version>(payload) else {
        return bad(r#"hello payload must be {"version":<integer>}"#.into());
    };
    if version != PROTOCOL_VERSION {
        return Err(ProtocolError::UnsupportedVersion(version));
    }
    serde_json::from_str::<Hello>(payload).or_else(|_| {
        bad(
            r#"hello payload must be {"version":1,"user"?:<string>,"resume"?:{"session":<string>,"token":<string>}}"#
                .into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_rules() {
        assert_eq!(
            check_hello(r#"{"kind":"hello","payload":{"version":1}}"#, 100),
            Ok(Hello {
                version: 1,
                user: None,
                resume: None,
                token: None,
            })
        );
        let full = r#"{"kind":"hello","payload":{"version":1,"user":"alice","resume":{"session":"s-4","token":"t"},"x":0}}"#;
        let hello = check_hello(full, 200).expect("valid hello");
        assert_eq!(hello.user.as_deref(), Some("alice"));
        assert_eq!(
            hello.resume.map(|r| (r.session, r.token)),
            Some(("s-4".into(), "t".into()))
        );
        assert_eq!(
            check_hello(
                r#"{"kind":"hello","payload":{"version":2,"resume":7}}"#,
                100
            )
            .map_err(|e| e.close_code()),
            Err(4001),
            "the version is checked before the rest"
        );
        assert_eq!(
            check_hello(r#"{"kind":"hello","payload":{"version":7}}"#, 100)
                .map_err(|e| (e.close_code(), e.to_string())),
            Err((
                4001,
                "unsupported protocol version 7; this server speaks 1".into()
            ))
        );
        for bad in [
            r#"{"kind":"msg","payload":1}"#,
            r#"{"kind":"hello"}"#,
            r#"{"kind":"hello","payload":{"version":"1"}}"#,
            r#"{"kind":"hello","payload":{"version":1,"user":5}}"#,
            r#"{"kind":"hello","payload":{"version":1,"resume":{"session":"s-1"}}}"#,
            "hello",
        ] {
            let err = check_hello(bad, 100).expect_err(bad);
            let (code, reason) = (err.close_code(), err.to_string());
            assert_eq!(code, 4000, "{bad}");
            assert!(reason.len() <= MAX_CLOSE_REASON, "{reason}");
        }
        let err = check_hello(&"x".repeat(101), 100).expect_err("too big");
        assert_eq!(err.close_code(), 4000);
    }
}
