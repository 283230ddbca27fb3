//! Sessions and request de-duplication in Redis: any node can resume a session, and a request
//! (or publish) re-sent to another node finds the reply recorded by the first.

use super::bus::BusEvent;
use super::reply::{items, text_at, text_or_nil, unavailable};
use super::scripts;
use super::{millis, now_ms, Inner};
use crate::auth::secrets_match;
use crate::lock::Locked;
use crate::protocol::frames;
use crate::state::dedup::Seen;
use crate::state::sessions::{Actor, Fresh, Opened, Session};
use crate::state::{ConnId, EngineError};
use axum::extract::ws::Utf8Bytes;
use resocket::protocol::{close_code, ErrorBody, ErrorCode, Resume};
use std::collections::HashMap;
use std::sync::Arc;
use tracing::warn;

/// What `begin_request` found.
pub(super) enum Begun {
    Seen(Seen<Utf8Bytes>),
    /// Running on this other node, which is alive.
    RunningOn(String),
}

/// What `finish_request` did.
pub(super) struct Finished {
    /// Whether the reply was recorded (the request was still running).
    pub recorded: bool,
    /// The node and connection holding the session now, if one does.
    pub holder: Option<(String, ConnId)>,
}

/// Why the old connection of a session taken over on another node is closed.
const TAKEN_OVER: &str = "session resumed elsewhere";

impl Inner {
    /// How long an attached session lives without renewal: its TTL plus one lease, so a node
    /// that dies leaves its sessions resumable for at least the TTL.
    fn attached_ttl_ms(&self) -> u64 {
        millis(self.session_ttl.saturating_add(self.lease))
    }

    fn session_keys(&self, id: &str) -> [String; 4] {
        [
            self.keys.session(id),
            self.keys.session_requests(id),
            self.keys.session_finished(id),
            self.keys.sessions(),
        ]
    }

    pub(super) async fn open_session(
        &self,
        conn: ConnId,
        user: Option<&str>,
        resume: Option<&Resume>,
    ) -> Result<Opened, EngineError> {
        self.ensure_bus()?;
        let fresh = Fresh::random();
        if let Some(resume) = resume {
            if let Some(opened) = self.resume(conn, user, resume, &fresh).await? {
                self.local.locked().attach(conn, &opened.session.id);
                return Ok(opened);
            }
        }
        let id = format!("s-{}", crate::random::epoch());
        let ttl = self.attached_ttl_ms();
        let [session, ..] = self.session_keys(&id);
        let mut redis = self.redis();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&session)
            .arg(&[
                ("token", fresh.token.as_str()),
                ("origin", fresh.origin.as_str()),
                ("node", self.node.as_str()),
                ("conn", conn.to_string().as_str()),
                ("attached", "1"),
                ("running", "0"),
            ])
            .ignore();
        if let Some(user) = user {
            pipe.cmd("HSET")
                .arg(&session)
                .arg("user")
                .arg(user)
                .ignore();
        }
        pipe.cmd("PEXPIRE")
            .arg(&session)
            .arg(ttl)
            .ignore()
            .cmd("ZADD")
            .arg(self.keys.sessions())
            .arg(now_ms().saturating_add(ttl))
            .arg(&id)
            .ignore();
        pipe.query_async::<()>(&mut redis)
            .await
            .map_err(unavailable)?;
        self.local.locked().attach(conn, &id);
        Ok(Opened {
            session: Session {
                id,
                token: fresh.token,
                user: user.map(str::to_owned),
                origin: fresh.origin,
            },
            resumed: false,
            replaced: None,
        })
    }

    /// Takes the session `resume` names over, if it is known, its token matches and it belongs
    /// to `user`; the token is rotated. The connection it had on another node is closed there.
    async fn resume(
        &self,
        conn: ConnId,
        user: Option<&str>,
        resume: &Resume,
        fresh: &Fresh,
    ) -> Result<Option<Opened>, EngineError> {
        let keys = self.session_keys(&resume.session);
        let mut redis = self.redis();
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&keys[0])
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        let (Some(token), Some(origin)) = (fields.get("token"), fields.get("origin")) else {
            return Ok(None);
        };
        // Constant time: the comparison must not tell how much of a guess was right.
        if !secrets_match(token, &resume.token) || fields.get("user").map(String::as_str) != user {
            return Ok(None);
        }
        let ttl = self.attached_ttl_ms();
        let reply = scripts::RESUME
            .key(&keys[0])
            .key(&keys[1])
            .key(&keys[2])
            .key(&keys[3])
            .arg(token)
            .arg(&fresh.token)
            .arg(&self.node)
            .arg(conn)
            .arg(ttl)
            .arg(&resume.session)
            .arg(now_ms().saturating_add(ttl))
            .invoke_async(&mut redis)
            .await
            .map_err(unavailable)?;
        let reply = items(reply)?;
        if text_at(&reply, 0)? != "ok" {
            // Another connection resumed it first with this very token.
            return Ok(None);
        }
        let (old_node, old_conn, attached) = (
            text_at(&reply, 1)?,
            text_at(&reply, 2)?,
            text_at(&reply, 3)?,
        );
        let old_conn: Option<ConnId> = old_conn.parse().ok();
        let mut replaced = None;
        if let (Some(old), "1") = (old_conn, attached.as_str()) {
            if old_node == self.node {
                replaced = Some(old).filter(|old| *old != conn);
            } else {
                let close = BusEvent::Close {
                    node: old_node,
                    conn: old,
                    code: close_code::RESUMED_ELSEWHERE,
                    reason: TAKEN_OVER.to_owned(),
                };
                if let Err(err) = self.publish_bus(&close).await {
                    warn!(%err, "could not close the session's connection on its old node");
                }
            }
        }
        Ok(Some(Opened {
            session: Session {
                id: resume.session.clone(),
                token: fresh.token.clone(),
                user: user.map(str::to_owned),
                origin: origin.clone(),
            },
            resumed: true,
            replaced,
        }))
    }

    /// A connection ended: it leaves its rooms here and in Redis, and its session's TTL starts
    /// (unless another connection holds it now).
    pub(super) async fn disconnect(&self, who: &Actor) -> Result<(), EngineError> {
        let left = self.local.locked().disconnect(who.conn);
        let mut first_error = None;
        for room in left.rooms {
            if let Err(err) = self
                .remove_member(&room, &who.session, Some(who.conn), None)
                .await
            {
                first_error.get_or_insert(err);
            }
        }
        let ttl = millis(self.session_ttl);
        if let Err(err) = self.lease_session(&who.session, who.conn, ttl, true).await {
            first_error.get_or_insert(err);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Detaches (`detach`) or renews the session `id` held by `conn` of this node, giving it
    /// `ttl_ms` more.
    async fn lease_session(
        &self,
        id: &str,
        conn: ConnId,
        ttl_ms: u64,
        detach: bool,
    ) -> Result<(), EngineError> {
        let keys = self.session_keys(id);
        let mut redis = self.redis();
        scripts::LEASE
            .key(&keys[0])
            .key(&keys[1])
            .key(&keys[2])
            .key(&keys[3])
            .arg(&self.node)
            .arg(conn)
            .arg(ttl_ms)
            .arg(id)
            .arg(now_ms().saturating_add(ttl_ms))
            .arg(if detach { "1" } else { "0" })
            .invoke_async::<i64>(&mut redis)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Renews the leases of this node's sessions and presence members.
    pub(super) async fn renew_leases(&self) -> Result<(), EngineError> {
        let (sessions, memberships) = {
            let local = self.local.locked();
            (local.sessions(), local.memberships())
        };
        self.renew_node().await?;
        let ttl = self.attached_ttl_ms();
        for (conn, id) in sessions {
            self.lease_session(&id, conn, ttl, false).await?;
        }
        self.renew_presence(memberships).await
    }

    pub(super) async fn begin_request(&self, session: &str, id: u64) -> Result<Begun, EngineError> {
        // Twice at most: a request given up on just as it finished is then read as done.
        for _ in 0..2 {
            let mut redis = self.redis();
            let reply = scripts::BEGIN_REQUEST
                .key(self.keys.session(session))
                .key(self.keys.session_requests(session))
                .arg(id)
                .arg(self.dedup.running)
                .arg(&self.node)
                .invoke_async(&mut redis)
                .await
                .map_err(unavailable)?;
            let reply = items(reply)?;
            let seen = match text_at(&reply, 0)?.as_str() {
                "running" => {
                    let node = text_at(&reply, 1)?;
                    if node == self.node {
                        Seen::Running
                    } else if self.node_alive(&node).await? {
                        return Ok(Begun::RunningOn(node));
                    } else {
                        match self.give_up(session, id).await? {
                            Some((lost, _)) => Seen::Done(lost),
                            None => continue,
                        }
                    }
                }
                "busy" => Seen::Busy,
                "expired" => Seen::Expired,
                "done" => Seen::Done(text_at(&reply, 1)?.into()),
                _ => Seen::New,
            };
            return Ok(Begun::Seen(seen));
        }
        Err(unavailable("request state changing too fast"))
    }

    /// Records `unavailable` as the reply of request `id`, still marked running by a node that
    /// died: whether it took effect is unknown, and it must not run twice. Returns that reply
    /// and where the session is now, or `None` if the request was not running any more.
    pub(super) async fn give_up(
        &self,
        session: &str,
        id: u64,
    ) -> Result<Option<(Utf8Bytes, Option<(String, ConnId)>)>, EngineError> {
        let lost = Inner::lost_reply(id);
        let finished = self.finish_request(session, id, &lost).await?;
        Ok(finished.recorded.then_some((lost, finished.holder)))
    }

    /// The `unavailable` answer of request `id`, recorded when its node died.
    fn lost_reply(id: u64) -> Utf8Bytes {
        let error = ErrorBody {
            code: ErrorCode::Unavailable,
            message: "the server node running this request stopped; its outcome is unknown"
                .to_owned(),
        };
        Utf8Bytes::from(frames::res(id, Err(error)))
    }

    /// Sends the session's connection the recorded answer of request `id` if that is the
    /// `unavailable` of a given-up request; true if it did.
    async fn resend_lost(&self, session: &str, id: u64) -> Result<bool, EngineError> {
        let mut redis = self.redis();
        let recorded: Option<String> = redis::cmd("HGET")
            .arg(self.keys.session_requests(session))
            .arg(id)
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        let lost = Inner::lost_reply(id);
        if recorded.as_deref().and_then(|r| r.strip_prefix('d')) == Some(lost.as_str()) {
            self.send_to_session(session, lost).await
        } else {
            Ok(false)
        }
    }

    /// Follows request `id`, running on node `node`: if that node dies before it finishes, the
    /// request is given up (see [`Self::give_up`]) and the session's connection told. Bounded.
    pub(super) async fn watch_running(self: Arc<Self>, session: String, id: u64, node: String) {
        const ROUNDS: usize = 40;
        for _ in 0..ROUNDS {
            tokio::time::sleep(self.lease / 3).await;
            match self.node_alive(&node).await {
                Ok(true) | Err(_) => continue,
                Ok(false) => {}
            }
            let told = match self.give_up(&session, id).await {
                Ok(Some((lost, Some((node, conn))))) => self.send_to_conn(&node, conn, lost).await,
                Ok(Some((_, None))) => Ok(false),
                // Another watch (one per re-send) gave it up first, perhaps while the session
                // had no connection: this re-send is owed that answer too.
                Ok(None) => self.resend_lost(&session, id).await,
                Err(err) => Err(err),
            };
            if let Err(err) = told {
                warn!(%err, "could not tell a session its request was lost");
            }
            return;
        }
    }

    /// Whether node `node` still renews its liveness key.
    async fn node_alive(&self, node: &str) -> Result<bool, EngineError> {
        let mut redis = self.redis();
        redis::cmd("EXISTS")
            .arg(self.keys.node(node))
            .query_async(&mut redis)
            .await
            .map_err(unavailable)
    }

    /// Says this node is alive for one more lease.
    pub(super) async fn renew_node(&self) -> Result<(), EngineError> {
        let mut redis = self.redis();
        redis::cmd("SET")
            .arg(self.keys.node(&self.node))
            .arg(1)
            .arg("PX")
            .arg(millis(self.lease))
            .query_async::<()>(&mut redis)
            .await
            .map_err(unavailable)
    }

    /// Records the reply of a running request; says whether it did, and which node and
    /// connection hold the session now, if one does.
    pub(super) async fn finish_request(
        &self,
        session: &str,
        id: u64,
        reply: &Utf8Bytes,
    ) -> Result<Finished, EngineError> {
        let mut redis = self.redis();
        let holder = scripts::FINISH_REQUEST
            .key(self.keys.session(session))
            .key(self.keys.session_requests(session))
            .key(self.keys.session_finished(session))
            .arg(id)
            .arg(reply.as_str())
            .arg(self.dedup.replies)
            .arg(self.dedup.reply_bytes)
            .invoke_async(&mut redis)
            .await
            .map_err(unavailable)?;
        let holder = items(holder)?;
        let node = text_or_nil(holder.first().unwrap_or(&redis::Value::Nil))?.unwrap_or_default();
        let conn = text_at(&holder, 1)?.parse::<ConnId>().ok();
        let attached = text_at(&holder, 2)? == "1";
        Ok(Finished {
            recorded: text_at(&holder, 3)? == "1",
            holder: match conn {
                Some(conn) if attached && !node.is_empty() => Some((node, conn)),
                _ => None,
            },
        })
    }
}
