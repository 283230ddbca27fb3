//! Rooms in Redis: membership and presence records, sequence numbers, history streams.

use super::keys::{presence_entry, split_presence_entry};
use super::reply::{entries, items, number_at, text, text_at, unavailable, Entry, Record};
use super::scripts;
use super::{idle_cutoff, millis, now_ms, Inner};
use crate::lock::Locked;
use crate::protocol::frames;
use crate::state::engine::Published;
use crate::state::epoch::Since;
use crate::state::history::{window, Window};
use crate::state::rooms::{check_name, too_large_for_history, MAX_JOIN_HISTORY};
use crate::state::sessions::Actor;
use crate::state::{ConnId, EngineError};
use axum::extract::ws::Utf8Bytes;
use redis::Value;
use resocket::protocol::{Member, PresenceChange};
use serde_json::value::RawValue;

/// Longest a member's publish waits for its own message to come back from the bus.
const DELIVERY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Expired presence members removed per sweep and per node (the rest wait for the next one).
const SWEEP_BATCH: usize = 256;

fn flag(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        "0"
    }
}

/// A member's presence JSON, as records hold it and `joined` lists it.
fn member_json(who: &Actor, meta: Option<&RawValue>) -> Result<String, EngineError> {
    let member = Member {
        id: who.session.clone(),
        user: who.user.clone(),
        meta,
    };
    serde_json::to_string(&member).map_err(unavailable)
}

fn parse_member(json: &str) -> Result<Member<Box<RawValue>>, EngineError> {
    serde_json::from_str(json).map_err(unavailable)
}

fn as_ref(member: &Member<Box<RawValue>>) -> Member<&RawValue> {
    Member {
        id: member.id.clone(),
        user: member.user.clone(),
        meta: member.meta.as_deref(),
    }
}

/// Members from their records, in join order.
fn members_in_order(records: &[Value]) -> Result<Vec<Member<Box<RawValue>>>, EngineError> {
    let mut ordered = Vec::with_capacity(records.len());
    for record in records {
        let text = text(record)?;
        let record = Record::parse(&text)?;
        ordered.push((record.order, parse_member(record.member)?));
    }
    ordered.sort_by_key(|(order, _)| *order);
    Ok(ordered.into_iter().map(|(_, member)| member).collect())
}

impl Inner {
    fn history_ttl_ms(&self, room: &str) -> Option<u64> {
        self.namespaces
            .history_limits(room)
            .ttl
            .or(self.limits.history_ttl)
            .map(millis)
    }

    fn history_bytes(&self, room: &str) -> usize {
        self.namespaces
            .history_limits(room)
            .bytes
            .unwrap_or(self.limits.history_bytes)
    }

    fn history_size(&self, room: &str) -> usize {
        self.namespaces
            .history_limits(room)
            .size
            .unwrap_or(self.history)
    }

    /// Drops the entries a history TTL has expired (the oldest ones).
    fn unexpired(&self, room: &str, mut entries: Vec<Entry>) -> Vec<Entry> {
        if let Some(ttl) = self.history_ttl_ms(room) {
            let now = now_ms();
            entries.retain(|e| e.at_ms.is_none_or(|at| at.saturating_add(ttl) > now));
        }
        entries
    }

    /// The messages after `since` up to `latest`, if the history still holds all of them.
    async fn replay_after(
        &self,
        room: &str,
        since: u64,
        latest: u64,
    ) -> Result<Option<Vec<Utf8Bytes>>, EngineError> {
        if since >= latest {
            return Ok((since == latest).then(Vec::new));
        }
        let mut redis = self.redis();
        let read = redis::cmd("XRANGE")
            .arg(self.keys.room_log(room))
            .arg(format!("{}-0", since + 1))
            .arg(format!("{latest}-0"))
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        let held = self.unexpired(room, entries(read)?);
        let oldest = held.first().map_or(latest + 1, |e| e.number);
        let complete = held.len() as u64 == latest - since;
        Ok(match window(since, latest, oldest) {
            Window::Replay { .. } if complete => Some(held.into_iter().map(|e| e.frame).collect()),
            Window::UpToDate => Some(Vec::new()),
            _ => None,
        })
    }

    /// The newest `count` messages up to `latest` that the history holds, oldest first.
    async fn newest(
        &self,
        room: &str,
        latest: u64,
        count: usize,
    ) -> Result<Vec<Utf8Bytes>, EngineError> {
        if count == 0 || latest == 0 {
            return Ok(Vec::new());
        }
        let mut redis = self.redis();
        let read = redis::cmd("XREVRANGE")
            .arg(self.keys.room_log(room))
            .arg(format!("{latest}-0"))
            .arg("-")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        let mut held = entries(read)?;
        held.reverse();
        Ok(self
            .unexpired(room, held)
            .into_iter()
            .map(|e| e.frame)
            .collect())
    }

    pub(super) async fn join(
        &self,
        who: &Actor,
        id: Option<u64>,
        room: &str,
        since: Option<Since>,
        history: Option<u64>,
        meta: Option<Box<RawValue>>,
    ) -> Result<Vec<Utf8Bytes>, EngineError> {
        check_name(room)?;
        self.ensure_bus()?;
        self.local.locked().joining(room, who.conn, &who.session);
        let joined = self.join_pending(who, id, room, since, history, meta).await;
        let mut local = self.local.locked();
        match joined {
            Ok((mut frames, evt)) => {
                frames.extend(local.joined(room, who.conn, evt));
                Ok(frames)
            }
            Err(err) => {
                local.leave(room, who.conn);
                Err(err)
            }
        }
    }

    /// The join itself, while the connection's events of the room are kept: its `joined` and
    /// replay, and the room's event number they cover.
    async fn join_pending(
        &self,
        who: &Actor,
        id: Option<u64>,
        room: &str,
        since: Option<Since>,
        history: Option<u64>,
        meta: Option<Box<RawValue>>,
    ) -> Result<(Vec<Utf8Bytes>, u64), EngineError> {
        let presence = self.namespaces.presence_enabled(room);
        let member = member_json(who, meta.as_deref())?;
        let parsed = parse_member(&member)?;
        let join_frame = frames::presence(room, PresenceChange::Join, as_ref(&parsed));
        let update_frame = match meta {
            Some(_) => frames::presence(room, PresenceChange::Update, as_ref(&parsed)),
            None => String::new(),
        };
        let now = now_ms();
        let deadline = now.saturating_add(millis(self.lease));
        let mut redis = self.redis();
        let reply = scripts::JOIN
            .key(self.keys.room(room))
            .key(self.keys.room_members(room))
            .key(self.keys.presence())
            .key(self.keys.rooms_idle())
            .key(self.keys.active_rooms())
            .arg(room)
            .arg(&who.session)
            .arg(&self.node)
            .arg(who.conn)
            .arg(&member)
            .arg(&join_frame)
            .arg(&update_frame)
            .arg(flag(presence))
            .arg(crate::random::epoch())
            .arg(self.limits.max_rooms)
            .arg(presence_entry(room, &who.session))
            .arg(deadline)
            .arg(self.keys.bus())
            .arg(now)
            .arg(idle_cutoff(now, self.limits.room_idle_ttl))
            .arg(self.keys.prefix())
            .invoke_async(&mut redis)
            .await
            .map_err(unavailable)?;
        let reply = items(reply)?;
        if text_at(&reply, 0)? != "ok" {
            return Err(EngineError::TooManyRooms);
        }
        let epoch = text_at(&reply, 1)?;
        let latest = number_at(&reply, 2)?;
        let evt = number_at(&reply, 3)?;
        let records = items(reply.into_iter().nth(4).unwrap_or(Value::Nil))?;
        let (recovered, replay) = match &since {
            // A first join: from now, after the newest `history` messages held.
            None => {
                let newest = history.unwrap_or(0).min(MAX_JOIN_HISTORY) as usize;
                (true, Some(self.newest(room, latest, newest).await?))
            }
            Some(since) => match since.within(&epoch) {
                Some(seq) => {
                    let replay = self.replay_after(room, seq, latest).await?;
                    (replay.is_some(), replay)
                }
                // Another stream: its messages are new to the client, from the first on.
                None if since.epoch.is_some() => (false, self.replay_after(room, 0, latest).await?),
                // An old client's `since` may count in any stream: recover nothing.
                None => (false, None),
            },
        };
        let members = if presence {
            members_in_order(&records)?
        } else {
            Vec::new()
        };
        let listed = members.iter().map(as_ref).collect();
        let joined = frames::joined(id, room, latest, recovered, &epoch, listed);
        let mut frames = vec![Utf8Bytes::from(joined)];
        frames.extend(replay.unwrap_or_default());
        Ok((frames, evt))
    }

    pub(super) async fn leave(&self, who: &Actor, room: &str) -> Result<bool, EngineError> {
        check_name(room)?;
        self.local.locked().leave(room, who.conn);
        self.remove_member(room, &who.session, Some(who.conn), None)
            .await
    }

    /// Removes `session` from `room` if this node's `conn` holds it (`None`: whoever does, for
    /// an expired lease, then only if its lease ran out before `expired_before`); the others
    /// are told. True if it was removed.
    pub(super) async fn remove_member(
        &self,
        room: &str,
        session: &str,
        conn: Option<ConnId>,
        expired_before: Option<u64>,
    ) -> Result<bool, EngineError> {
        let mut redis = self.redis();
        let record: Option<String> = redis::cmd("HGET")
            .arg(self.keys.room_members(room))
            .arg(session)
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        let Some(text) = record else {
            return Ok(false);
        };
        let record = Record::parse(&text)?;
        if conn.is_some_and(|conn| !record.is_held_by(&self.node, conn)) {
            return Ok(false);
        }
        let member = parse_member(record.member)?;
        let frame = frames::presence(room, PresenceChange::Leave, as_ref(&member));
        let removed: i64 = scripts::LEAVE
            .key(self.keys.room(room))
            .key(self.keys.room_members(room))
            .key(self.keys.presence())
            .key(self.keys.active_rooms())
            .key(self.keys.rooms_idle())
            .arg(room)
            .arg(session)
            .arg(&text)
            .arg(&frame)
            .arg(flag(self.namespaces.presence_enabled(room)))
            .arg(presence_entry(room, session))
            .arg(self.keys.bus())
            .arg(expired_before.map_or(String::new(), |at| at.to_string()))
            .arg(now_ms())
            .invoke_async(&mut redis)
            .await
            .map_err(unavailable)?;
        Ok(removed == 1)
    }

    /// Appends `payload` to `room` as the member `who` (checked against its record) or, with
    /// `None`, as the server (creating the room if needed).
    pub(super) async fn publish(
        &self,
        who: Option<&Actor>,
        room: &str,
        payload: &RawValue,
    ) -> Result<Published, EngineError> {
        check_name(room)?;
        let user = who.and_then(|w| w.user.as_deref());
        let (before, after) = frames::room_msg_around_seq(room, user, payload);
        let ttl = self.history_ttl_ms(room).unwrap_or(0);
        let (mode, session, conn) = match who {
            Some(who) => ("m", who.session.as_str(), who.conn),
            None => ("s", "", 0),
        };
        let now = now_ms();
        let mut redis = self.redis();
        let reply = scripts::PUBLISH
            .key(self.keys.room(room))
            .key(self.keys.room_log(room))
            .key(self.keys.room_members(room))
            .key(self.keys.rooms_idle())
            .arg(room)
            .arg(before)
            .arg(after)
            .arg(self.history_size(room))
            .arg(now)
            .arg(ttl)
            .arg(self.keys.bus())
            .arg(mode)
            .arg(session)
            .arg(&self.node)
            .arg(conn)
            .arg(crate::random::epoch())
            .arg(self.limits.max_rooms)
            .arg(self.history_bytes(room))
            .arg(idle_cutoff(now, self.limits.room_idle_ttl))
            .arg(self.keys.prefix())
            .invoke_async(&mut redis)
            .await
            .map_err(unavailable)?;
        let reply = items(reply)?;
        match text_at(&reply, 0)?.as_str() {
            "too_large" => Err(too_large_for_history(number_at(&reply, 1)? as usize)),
            "ok" => {
                if who.is_some() {
                    // As with the memory engine, the member's own copy of the message is on its
                    // way before the acknowledgement the caller writes.
                    self.delivered(room, number_at(&reply, 3)?).await;
                }
                Ok(Published {
                    seq: number_at(&reply, 1)?,
                    members: number_at(&reply, 2)? as usize,
                })
            }
            "full" => Err(EngineError::TooManyRooms),
            _ => Err(EngineError::NotMember(room.to_owned())),
        }
    }

    /// Waits (briefly) until this node has delivered event `evt` of `room` from the bus.
    async fn delivered(&self, room: &str, evt: u64) {
        let deadline = tokio::time::Instant::now() + DELIVERY_WAIT;
        loop {
            let notified = self.bus_progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.local.locked().room_progress(room) >= evt {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// The members of `room` in join order.
    pub(super) async fn members(
        &self,
        room: &str,
    ) -> Result<Vec<Member<Box<RawValue>>>, EngineError> {
        check_name(room)?;
        let mut redis = self.redis();
        let records = redis::cmd("HVALS")
            .arg(self.keys.room_members(room))
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        members_in_order(&items(records)?)
    }

    /// The newest `limit` messages `room` holds, oldest first.
    pub(super) async fn recent(
        &self,
        room: &str,
        limit: usize,
    ) -> Result<Vec<Utf8Bytes>, EngineError> {
        check_name(room)?;
        let mut redis = self.redis();
        let latest: Option<u64> = redis::cmd("HGET")
            .arg(self.keys.room(room))
            .arg("seq")
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        self.newest(room, latest.unwrap_or(0), limit).await
    }

    pub(super) async fn set_meta(
        &self,
        who: &Actor,
        room: &str,
        meta: Box<RawValue>,
    ) -> Result<(), EngineError> {
        check_name(room)?;
        let not_member = || EngineError::NotMember(room.to_owned());
        let member = member_json(who, Some(&meta))?;
        let frame = frames::presence(
            room,
            PresenceChange::Update,
            as_ref(&parse_member(&member)?),
        );
        let mut redis = self.redis();
        // The record changes only under this connection (its own set_meta) or when another
        // connection takes the slot over: one retry covers a race with the former.
        for _ in 0..2 {
            let record: Option<String> = redis::cmd("HGET")
                .arg(self.keys.room_members(room))
                .arg(&who.session)
                .query_async(&mut redis)
                .await
                .map_err(unavailable)?;
            let text = record.ok_or_else(not_member)?;
            let record = Record::parse(&text)?;
            if !record.is_held_by(&self.node, who.conn) {
                return Err(not_member());
            }
            let updated = Record::format(&self.node, who.conn, record.order, &member);
            let done: i64 = scripts::SET_META
                .key(self.keys.room(room))
                .key(self.keys.room_members(room))
                .arg(room)
                .arg(&who.session)
                .arg(&text)
                .arg(&updated)
                .arg(&frame)
                .arg(flag(self.namespaces.presence_enabled(room)))
                .arg(self.keys.bus())
                .invoke_async(&mut redis)
                .await
                .map_err(unavailable)?;
            if done == 1 {
                return Ok(());
            }
        }
        Err(not_member())
    }

    /// Pushes the presence leases of this node's members a lease ahead.
    pub(super) async fn renew_presence(
        &self,
        memberships: Vec<(String, String)>,
    ) -> Result<(), EngineError> {
        if memberships.is_empty() {
            return Ok(());
        }
        let deadline = now_ms().saturating_add(millis(self.lease));
        let mut pipe = redis::pipe();
        for chunk in memberships.chunks(512) {
            pipe.cmd("ZADD").arg(self.keys.presence()).arg("XX");
            for (room, session) in chunk {
                pipe.arg(deadline).arg(presence_entry(room, session));
            }
            pipe.ignore();
        }
        let mut redis = self.redis();
        pipe.query_async::<()>(&mut redis)
            .await
            .map_err(unavailable)
    }

    /// Removes members whose lease ran out (their node died or lost Redis), and forgets
    /// sessions whose lease ran out from the count.
    pub(super) async fn expire_members(&self) -> Result<(), EngineError> {
        let now = now_ms();
        let mut redis = self.redis();
        let expired: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.presence())
            .arg("-inf")
            .arg(now)
            .arg("LIMIT")
            .arg(0)
            .arg(SWEEP_BATCH)
            .query_async(&mut redis)
            .await
            .map_err(unavailable)?;
        for entry in &expired {
            let Some((room, session)) = split_presence_entry(entry) else {
                continue;
            };
            if self.remove_member(room, session, None, Some(now)).await? {
                tracing::info!(room, session, "presence lease ran out; member removed");
                continue;
            }
            // Not removed: renewed meanwhile, or no record (then the lease entry is stale).
            let member: bool = redis::cmd("HEXISTS")
                .arg(self.keys.room_members(room))
                .arg(session)
                .query_async(&mut redis)
                .await
                .map_err(unavailable)?;
            if !member {
                let _: i64 = redis::cmd("ZREM")
                    .arg(self.keys.presence())
                    .arg(entry)
                    .query_async(&mut redis)
                    .await
                    .map_err(unavailable)?;
            }
        }
        redis::cmd("ZREMRANGEBYSCORE")
            .arg(self.keys.sessions())
            .arg("-inf")
            .arg(now)
            .query_async::<()>(&mut redis)
            .await
            .map_err(unavailable)
    }
}
