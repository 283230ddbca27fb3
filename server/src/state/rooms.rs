//! Rooms: membership, sequence numbers, bounded history and presence. Plain data: operations
//! return the frames for the other members as [`Delivery`]s.
//!
//! Memberships belong to connections (a connection that ends leaves its rooms), presence
//! members are sessions: a room holds at most one slot per session, and a connection that took
//! its session over and joins again simply takes the slot (others see an `update` if the meta
//! changed, nothing otherwise).
//!
//! The joiner's own `joined` and replay are returned for the connection to write before
//! anything delivered after the join.
//!
//! Each room takes its history bounds and presence setting from its namespace when it is
//! created (`--config`, see `docs/AUTH.md`). Who may join or publish is decided before the
//! state is asked (the protocol layer checks the namespace rules).
//!
//! An empty room keeps its history (for members that rejoin) until it has been idle for
//! `room_idle_ttl`, or until its place is needed: at `max_rooms`, a new room replaces the
//! longest-idle empty one, and is refused only while every room has members
//! ([`IdleMap`]). A room created again starts a new epoch, so rejoiners resync.
//!
//! Each room's stream has an epoch, fixed when the room is created (see [`super::epoch`]): a
//! rejoin replays after `since` only when `since` counts in this epoch.

use super::delivery::{ConnId, Delivery, Outcome, To};
use super::epoch::Since;
use super::error::EngineError;
use super::history::History;
use super::limits::StateLimits;
use super::names::{is_valid_name, ConnIndex, IdleMap, Places};
use super::sessions::Actor;
use crate::auth::Namespaces;
use crate::protocol::frames;
use axum::extract::ws::Utf8Bytes;
use resocket::protocol::{Member, PresenceChange};
use serde_json::value::RawValue;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::time::Instant;

/// Most messages a `join` with `history` gets replayed, whatever it asks for (the room's
/// history bounds what is held anyway).
pub const MAX_JOIN_HISTORY: u64 = 1000;

/// Checks a room name's length.
pub fn check_name(name: &str) -> Result<(), EngineError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(EngineError::BadRoomName)
    }
}

/// Where a joiner's replay starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Start {
    /// Replay what came after this position (a rejoin), if it counts in the room's epoch and
    /// the history holds all of it.
    pub since: Option<Since>,
    /// Without `since`: replay the newest this many messages held (a late joiner).
    pub history: Option<u64>,
}

/// A joiner's answer as taken under the lock: [`frames`](Self::frames) encodes it.
#[derive(Debug)]
pub struct Joined {
    id: Option<u64>,
    room: String,
    latest: u64,
    recovered: bool,
    epoch: String,
    /// Each member's session, user and metadata, in join order.
    members: Vec<(String, Option<String>, Option<Arc<RawValue>>)>,
    replay: Vec<Utf8Bytes>,
}

impl Joined {
    /// About how many bytes [`frames`](Self::frames) encodes for the member list.
    pub fn members_bytes(&self) -> usize {
        self.members
            .iter()
            .map(|(id, user, meta)| {
                let user = user.as_deref().map_or(0, str::len);
                let meta = meta.as_deref().map_or(0, |m| m.get().len());
                id.len() + user + meta + 32
            })
            .sum()
    }

    /// The `joined` frame followed by the replay. O(members' bytes): call it without a lock.
    pub fn frames(self) -> Vec<Utf8Bytes> {
        let (people, metas): (Vec<_>, Vec<_>) = self
            .members
            .into_iter()
            .map(|(id, user, meta)| ((id, user), meta))
            .unzip();
        let members = people
            .into_iter()
            .zip(&metas)
            .map(|((id, user), meta)| Member {
                id,
                user,
                meta: meta.as_deref(),
            })
            .collect();
        let joined = frames::joined(
            self.id,
            &self.room,
            self.latest,
            self.recovered,
            &self.epoch,
            members,
        );
        let mut frames = Vec::with_capacity(1 + self.replay.len());
        frames.push(Utf8Bytes::from(joined));
        frames.extend(self.replay);
        frames
    }
}

#[derive(Debug)]
pub struct Rooms {
    rooms: IdleMap<Room>,
    /// The rooms each connection is in, to leave them when it ends.
    memberships: ConnIndex,
    /// Messages kept per room for replay, where the namespace does not say.
    history: usize,
    /// Each room's history bounds and presence setting.
    namespaces: Namespaces,
    limits: StateLimits,
}

#[derive(Debug)]
struct Room {
    /// Encoded `msg` frames, replayed as they are.
    history: History<Utf8Bytes>,
    /// The epoch of this room's stream: its sequence numbers count in it.
    epoch: String,
    /// In join order.
    members: Vec<Slot>,
    /// Whether members are told about each other (the namespace's `presence`).
    presence: bool,
}

#[derive(Debug)]
struct Slot {
    conn: ConnId,
    session: String,
    user: Option<String>,
    /// Shared, so a `joined` frame can be built outside the engine's lock from a cheap copy.
    meta: Option<Arc<RawValue>>,
}

impl Slot {
    fn member(&self) -> Member<&RawValue> {
        Member {
            id: self.session.clone(),
            user: self.user.clone(),
            meta: self.meta.as_deref(),
        }
    }
}

impl Room {
    fn conns(&self) -> Vec<ConnId> {
        self.members.iter().map(|s| s.conn).collect()
    }

    /// Tells every member but `session` what happened to `slot` (nobody with presence off).
    fn presence(&self, name: &str, slot: &Slot, change: PresenceChange) -> Option<Delivery> {
        if !self.presence {
            return None;
        }
        let others = self
            .members
            .iter()
            .filter(|s| s.session != slot.session)
            .map(|s| s.conn)
            .collect();
        Some(Delivery::new(
            To::Conns(others),
            frames::presence(name, change, slot.member()),
        ))
    }
}

/// The engine's shards free places for one another (see `MemoryEngine`).
impl Places for Rooms {
    fn needs_place(&self, name: &str) -> bool {
        self.rooms.needs_place(name)
    }

    fn oldest_idle(&self) -> Option<Instant> {
        self.rooms.oldest_idle()
    }

    fn evict_oldest_idle(&mut self) -> Option<String> {
        self.rooms.evict_oldest_idle()
    }
}

impl Rooms {
    /// `history`: messages kept per room for replay after `since`; presence on everywhere.
    pub fn new(history: usize) -> Rooms {
        Rooms::with_namespaces(history, Namespaces::default())
    }

    /// Rooms whose history bounds and presence follow their namespace in `namespaces`;
    /// `history` is the size where a namespace sets no `history_size`.
    pub fn with_namespaces(history: usize, namespaces: Namespaces) -> Rooms {
        Rooms::with_limits(history, namespaces, StateLimits::default())
    }

    /// [`with_namespaces`](Self::with_namespaces) with the server's byte and count budgets.
    pub fn with_limits(history: usize, namespaces: Namespaces, limits: StateLimits) -> Rooms {
        Rooms {
            rooms: IdleMap::new(limits.max_rooms, limits.room_idle_ttl),
            memberships: ConnIndex::default(),
            history,
            namespaces,
            limits,
        }
    }

    /// These rooms count against `total` with every other `Rooms` given it (the shards of one
    /// engine), for `max_rooms` in all. Call it before any room exists.
    pub fn sharing_cap(mut self, total: Arc<AtomicUsize>) -> Rooms {
        self.rooms = IdleMap::sharing(self.limits.max_rooms, self.limits.room_idle_ttl, total);
        self
    }

    /// Rooms held, idle ones included.
    pub fn held(&self) -> usize {
        self.rooms.len()
    }

    /// The room `name`, created at `now` if needed. Also removes the rooms idle too long.
    fn room_or_create(&mut self, now: Instant, name: &str) -> Result<&mut Room, EngineError> {
        self.rooms.expire(now);
        let bounds = self.namespaces.history_limits(name);
        let size = bounds.size.unwrap_or(self.history);
        let bytes = bounds.bytes.unwrap_or(self.limits.history_bytes);
        let ttl = bounds.ttl.or(self.limits.history_ttl);
        let presence = self.namespaces.presence_enabled(name);
        self.rooms
            .get_or_create(name, now, || Room {
                history: History::bounded(size, bytes, ttl),
                epoch: crate::random::epoch(),
                members: Vec::new(),
                presence,
            })
            .map(|(room, _evicted)| room)
            .ok_or(EngineError::TooManyRooms)
    }

    /// Records activity in `name` at `now`: in use while it has members, idle otherwise.
    fn touch(&mut self, now: Instant, name: &str) {
        let in_use = self
            .rooms
            .get(name)
            .is_some_and(|room| !room.members.is_empty());
        self.rooms.touch(name, now, in_use);
    }

    /// Joins (or joins again) `name` at `now`: the value is the `joined` frame followed by the
    /// replay of what came after `start.since`, if the history still holds all of it, or else (no
    /// `since`) of the newest `start.history` messages held (at most [`MAX_JOIN_HISTORY`]). A
    /// `since` from another epoch is not recovered, and the stream is replayed from its start if
    /// the history holds it all; one without an epoch is not recovered and gets no replay. Other
    /// members get a presence `join` (or `update` when a re-join changes the meta). With presence off,
    /// `joined` lists no members and nobody is told.
    pub fn join(
        &mut self,
        now: Instant,
        who: &Actor,
        id: Option<u64>,
        name: &str,
        start: Start,
        meta: Option<Box<RawValue>>,
    ) -> Result<Outcome<Vec<Utf8Bytes>>, EngineError> {
        let outcome = self.join_deferred(now, who, id, name, start, meta)?;
        Ok(Outcome::with(outcome.value.frames(), outcome.deliveries))
    }

    /// [`join`](Self::join), but the joiner's frames are built later by [`Joined::frames`]:
    /// the `joined` frame lists every member's metadata, so the engine builds it after
    /// releasing its lock (from refcounted copies, taken here in O(members)).
    pub fn join_deferred(
        &mut self,
        now: Instant,
        who: &Actor,
        id: Option<u64>,
        name: &str,
        start: Start,
        meta: Option<Box<RawValue>>,
    ) -> Result<Outcome<Joined>, EngineError> {
        check_name(name)?;
        let meta: Option<Arc<RawValue>> = meta.map(Arc::from);
        let taken_over = {
            let room = self.room_or_create(now, name)?;
            room.members
                .iter()
                .find(|s| s.session == who.session && s.conn != who.conn)
                .map(|s| s.conn)
        };
        if let Some(old) = taken_over {
            // The session's previous connection was in the room: this one takes over its slot.
            self.memberships.remove(old, name);
        }
        self.memberships.add(who.conn, name);
        self.rooms.touch(name, now, true);
        let room = self.room_or_create(now, name)?;
        let change = match room.members.iter_mut().find(|s| s.session == who.session) {
            Some(slot) => {
                slot.conn = who.conn;
                meta.map(|meta| {
                    slot.meta = Some(meta);
                    PresenceChange::Update
                })
            }
            None => {
                room.members.push(Slot {
                    conn: who.conn,
                    session: who.session.clone(),
                    user: who.user.clone(),
                    meta,
                });
                Some(PresenceChange::Join)
            }
        };
        let mut deliveries = Vec::new();
        if let Some(change) = change {
            if let Some(slot) = room.members.iter().find(|s| s.session == who.session) {
                deliveries.extend(room.presence(name, slot, change));
            }
        }

        room.history.expire(now);
        let replay = |from: u64| -> Option<Vec<Utf8Bytes>> {
            Some(room.history.since(from)?.cloned().collect())
        };
        let (recovered, replay) = match &start.since {
            // A first join: from now, after the newest `history` messages held.
            None => {
                let newest = start.history.unwrap_or(0).min(MAX_JOIN_HISTORY) as usize;
                (true, Some(room.history.last(newest).cloned().collect()))
            }
            Some(since) => match since.within(&room.epoch) {
                Some(seq) => {
                    let replay = replay(seq);
                    (replay.is_some(), replay)
                }
                // Another stream: its messages are new to the client, from the first on.
                None if since.epoch.is_some() => (false, replay(0)),
                // An old client's `since` may count in any stream: recover nothing.
                None => (false, None),
            },
        };
        let members = if room.presence {
            room.members
                .iter()
                .map(|s| (s.session.clone(), s.user.clone(), s.meta.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let joined = Joined {
            id,
            room: name.to_owned(),
            latest: room.history.latest(),
            recovered,
            epoch: room.epoch.clone(),
            members,
            replay: replay.unwrap_or_default(),
        };
        Ok(Outcome::with(joined, deliveries))
    }

    /// Leaves `name`; the value is true if the connection was a member. Others get a presence
    /// `leave`.
    pub fn leave(&mut self, now: Instant, conn: ConnId, name: &str) -> Outcome<bool> {
        self.memberships.remove(conn, name);
        let left = match self.rooms.get_mut(name) {
            Some(room) => remove_member(name, room, conn),
            None => Outcome::quiet(false),
        };
        if left.value {
            self.touch(now, name);
        }
        left
    }

    /// Publishes `payload` to `name` on behalf of a member; the value is its sequence number.
    pub fn publish(
        &mut self,
        now: Instant,
        conn: ConnId,
        name: &str,
        payload: &RawValue,
    ) -> Result<Outcome<u64>, EngineError> {
        check_name(name)?;
        let not_member = || EngineError::NotMember(name.to_owned());
        self.rooms.expire(now);
        let room = self.rooms.get_mut(name).ok_or_else(not_member)?;
        // The author is the member's verified user, never anything the client wrote.
        let user = room
            .members
            .iter()
            .find(|s| s.conn == conn)
            .ok_or_else(not_member)?
            .user
            .clone();
        append(now, name, room, user.as_deref(), payload)
    }

    /// Publishes `payload` to `name` on behalf of the server (control endpoint, price feed),
    /// creating the room if needed; the value is its sequence number.
    pub fn publish_as_server(
        &mut self,
        now: Instant,
        name: &str,
        payload: &RawValue,
    ) -> Result<Outcome<u64>, EngineError> {
        check_name(name)?;
        let room = self.room_or_create(now, name)?;
        let published = append(now, name, room, None, payload)?;
        self.touch(now, name);
        Ok(published)
    }

    /// Replaces a member's presence metadata; others get a presence `update` (with presence
    /// on).
    pub fn set_meta(
        &mut self,
        conn: ConnId,
        name: &str,
        meta: Box<RawValue>,
    ) -> Result<Outcome<()>, EngineError> {
        check_name(name)?;
        let not_member = || EngineError::NotMember(name.to_owned());
        let room = self.rooms.get_mut(name).ok_or_else(not_member)?;
        let index = room
            .members
            .iter()
            .position(|s| s.conn == conn)
            .ok_or_else(not_member)?;
        room.members[index].meta = Some(Arc::from(meta));
        let update = room.presence(name, &room.members[index], PresenceChange::Update);
        Ok(Outcome::with((), update.into_iter().collect()))
    }

    /// The members of `name` in join order (none for a room that does not exist), whatever
    /// its presence setting: this is the server's view (the server API).
    pub fn members(&self, name: &str) -> Result<Vec<Member<Box<RawValue>>>, EngineError> {
        check_name(name)?;
        let Some(room) = self.rooms.get(name) else {
            return Ok(Vec::new());
        };
        Ok(room
            .members
            .iter()
            .map(|slot| Member {
                id: slot.session.clone(),
                user: slot.user.clone(),
                meta: slot.meta.as_deref().map(RawValue::to_owned),
            })
            .collect())
    }

    /// The newest `limit` messages `name` holds at `now` as encoded `msg` frames, oldest first.
    pub fn recent(
        &mut self,
        now: Instant,
        name: &str,
        limit: usize,
    ) -> Result<Vec<Utf8Bytes>, EngineError> {
        check_name(name)?;
        Ok(self
            .rooms
            .get_mut(name)
            .map(|room| {
                room.history.expire(now);
                room.history.last(limit).cloned().collect()
            })
            .unwrap_or_default())
    }

    /// A connection ended at `now`: it leaves every room it was in.
    pub fn disconnect(&mut self, now: Instant, conn: ConnId) -> Outcome<()> {
        let mut deliveries = Vec::new();
        for name in self.memberships.take(conn) {
            if let Some(room) = self.rooms.get_mut(&name) {
                deliveries.extend(remove_member(&name, room, conn).deliveries);
                self.touch(now, &name);
            }
        }
        self.rooms.expire(now);
        Outcome::with((), deliveries)
    }

    /// Rooms with at least one member.
    pub fn active(&self) -> usize {
        self.rooms.in_use()
    }

    /// Rooms held, empty ones included.
    pub fn count(&self) -> usize {
        self.rooms.len()
    }
}

/// Appends a message (by `user`, when a member published it) and addresses it to every member;
/// refused `too_large` when it alone is over the room's history budget (nothing is sent).
fn append(
    now: Instant,
    name: &str,
    room: &mut Room,
    user: Option<&str>,
    payload: &RawValue,
) -> Result<Outcome<u64>, EngineError> {
    let seq = room.history.next_seq();
    let frame = Utf8Bytes::from(frames::room_msg(name, seq, user, payload));
    if !room.history.admits(frame.len()) {
        return Err(too_large_for_history(frame.len()));
    }
    let seq = room.history.push_at(frame.clone(), now);
    Ok(Outcome::with(
        seq,
        vec![Delivery::new(To::Conns(room.conns()), frame)],
    ))
}

/// Why a message is refused: it alone is larger than the room's history budget.
pub fn too_large_for_history(bytes: usize) -> EngineError {
    EngineError::TooLarge(format!(
        "a message of {bytes} bytes is larger than this room's history budget; not published"
    ))
}

fn remove_member(name: &str, room: &mut Room, conn: ConnId) -> Outcome<bool> {
    let Some(index) = room.members.iter().position(|s| s.conn == conn) else {
        return Outcome::quiet(false);
    };
    let slot = room.members.remove(index);
    if !room.presence {
        return Outcome::quiet(true);
    }
    let frame = frames::presence(name, PresenceChange::Leave, slot.member());
    Outcome::with(true, vec![Delivery::new(To::Conns(room.conns()), frame)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::delivery::tests::sent_to;
    use resocket::protocol::ErrorCode;

    /// A rejoin (or first join) without history.
    fn from(since: Option<Since>) -> Start {
        Start {
            since,
            history: None,
        }
    }

    fn actor(conn: ConnId, session: &str, user: Option<&str>) -> Actor {
        Actor {
            conn,
            session: session.into(),
            user: user.map(str::to_owned),
        }
    }

    fn now() -> Instant {
        Instant::now()
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("valid JSON")
    }

    fn texts(frames: &[Utf8Bytes]) -> Vec<&str> {
        frames.iter().map(Utf8Bytes::as_str).collect()
    }

    #[test]
    fn join_publish_and_presence() {
        let mut rooms = Rooms::new(10);
        let a = actor(1, "s-1", Some("alice"));
        let b = actor(2, "s-2", None);
        let joined = rooms
            .join(
                now(),
                &a,
                Some(1),
                "chat",
                Start::default(),
                Some(raw(r#"{"n":"A"}"#)),
            )
            .expect("joined");
        let epoch = epoch_of(&joined.value[0]);
        assert_eq!(
            texts(&joined.value),
            [format!(
                r#"{{"kind":"joined","id":1,"room":"chat","seq":0,"payload":{{"recovered":true,"epoch":"{epoch}","members":[{{"id":"s-1","user":"alice","meta":{{"n":"A"}}}}]}}}}"#
            )]
        );
        let joined = rooms
            .join(now(), &b, None, "chat", Start::default(), None)
            .expect("joined");
        assert_eq!(
            texts(&joined.value),
            [format!(
                r#"{{"kind":"joined","room":"chat","seq":0,"payload":{{"recovered":true,"epoch":"{epoch}","members":[{{"id":"s-1","user":"alice","meta":{{"n":"A"}}}},{{"id":"s-2"}}]}}}}"#
            )]
        );
        assert_eq!(
            sent_to(&joined.deliveries, 1),
            [
                r#"{"kind":"presence","room":"chat","payload":{"event":"join","member":{"id":"s-2"}}}"#
            ]
        );
        assert!(sent_to(&joined.deliveries, 2).is_empty());
        assert_eq!(rooms.active(), 1);

        let published = rooms.publish(now(), 2, "chat", &raw("1")).expect("member");
        assert_eq!(published.value, 1);
        let msg = r#"{"kind":"msg","room":"chat","seq":1,"payload":1}"#;
        assert_eq!(sent_to(&published.deliveries, 1), [msg]);
        assert_eq!(sent_to(&published.deliveries, 2), [msg]);

        let updated = rooms.set_meta(2, "chat", raw("{}")).expect("member");
        assert_eq!(
            sent_to(&updated.deliveries, 1),
            [
                r#"{"kind":"presence","room":"chat","payload":{"event":"update","member":{"id":"s-2","meta":{}}}}"#
            ]
        );
        assert!(
            sent_to(&updated.deliveries, 2).is_empty(),
            "no presence echo to the member itself"
        );

        let left = rooms.leave(now(), 2, "chat");
        assert!(left.value);
        assert!(!rooms.leave(now(), 2, "chat").value);
        assert_eq!(
            sent_to(&left.deliveries, 1),
            [
                r#"{"kind":"presence","room":"chat","payload":{"event":"leave","member":{"id":"s-2","meta":{}}}}"#
            ]
        );
        assert_eq!(
            rooms.publish(now(), 2, "chat", &raw("2")),
            Err(EngineError::NotMember("chat".into()))
        );
        assert_eq!(
            rooms.set_meta(2, "chat", raw("{}")),
            Err(EngineError::NotMember("chat".into()))
        );
        let _ = rooms.disconnect(now(), 1);
        assert_eq!(rooms.active(), 0);
    }

    #[test]
    fn rejoining_replays_what_was_missed_or_reports_a_gap() {
        let mut rooms = Rooms::new(3);
        let a = actor(1, "s-1", None);
        let joined = rooms
            .join(now(), &a, None, "r", Start::default(), None)
            .expect("joined");
        let epoch = epoch_of(&joined.value[0]);
        for i in 1..=5 {
            let published = rooms
                .publish_as_server(now(), "r", &raw(&i.to_string()))
                .expect("ok");
            assert_eq!(published.value, i);
            assert_eq!(published.deliveries[0].to, To::Conns(vec![1]));
        }
        let frames = rooms.join(now(), &a, Some(2), "r", from(since(3, &epoch)), None);
        let frames = frames.expect("joined").value;
        let frames = texts(&frames);
        assert_eq!(frames.len(), 3);
        assert!(
            frames[0].contains(r#""seq":5,"payload":{"recovered":true"#),
            "{}",
            frames[0]
        );
        assert_eq!(
            frames[1],
            r#"{"kind":"msg","room":"r","seq":4,"payload":4}"#
        );
        assert_eq!(
            frames[2],
            r#"{"kind":"msg","room":"r","seq":5,"payload":5}"#
        );

        let frames = rooms.join(now(), &a, None, "r", from(since(1, &epoch)), None);
        let frames = frames.expect("joined");
        assert_eq!(frames.value.len(), 1, "2 was evicted: no replay");
        assert!(frames.value[0]
            .as_str()
            .contains(r#""seq":5,"payload":{"recovered":false"#));
        let frames = rooms.join(now(), &a, None, "r", from(since(5, &epoch)), None);
        let frames = frames.expect("joined");
        assert_eq!(frames.value.len(), 1);
        assert!(frames.value[0].as_str().contains(r#""recovered":true"#));
        assert!(
            frames.deliveries.is_empty(),
            "a re-join without meta changes nothing"
        );
    }

    fn since(seq: u64, epoch: &str) -> Option<Since> {
        Some(Since {
            seq,
            epoch: Some(epoch.to_owned()),
        })
    }

    fn epoch_of(joined: &str) -> String {
        let joined: serde_json::Value = serde_json::from_str(joined).expect("JSON");
        joined["payload"]["epoch"]
            .as_str()
            .expect("joined has an epoch")
            .to_owned()
    }

    #[test]
    fn a_since_from_another_epoch_or_none_or_ahead_is_never_recovered() {
        let mut rooms = Rooms::new(10);
        let a = actor(1, "s-1", None);
        let joined = rooms
            .join(now(), &a, None, "r", Start::default(), None)
            .expect("joined");
        let epoch = epoch_of(&joined.value[0]);
        for i in 1..=3 {
            let _ = rooms.publish_as_server(now(), "r", &raw(&i.to_string()));
        }
        let mut other = Rooms::new(10);
        let joined = other
            .join(now(), &a, None, "r", Start::default(), None)
            .expect("joined");
        assert_ne!(
            epoch_of(&joined.value[0]),
            epoch,
            "a new stream, a new epoch"
        );

        // A restarted client's position (500, another epoch): the whole stream is new to it.
        let frames = rooms.join(now(), &a, None, "r", from(since(500, "old")), None);
        let frames = frames.expect("joined").value;
        let frames = texts(&frames);
        assert!(frames[0].contains(r#""seq":3,"payload":{"recovered":false"#));
        assert_eq!(epoch_of(frames[0]), epoch);
        let replayed: Vec<&str> = frames[1..].to_vec();
        assert_eq!(
            replayed,
            [
                r#"{"kind":"msg","room":"r","seq":1,"payload":1}"#,
                r#"{"kind":"msg","room":"r","seq":2,"payload":2}"#,
                r#"{"kind":"msg","room":"r","seq":3,"payload":3}"#
            ]
        );
        // Ahead of the stream in its own epoch: not up to date, nothing replayed.
        let frames = rooms.join(now(), &a, None, "r", from(since(9, &epoch)), None);
        let frames = frames.expect("joined").value;
        let frames = texts(&frames);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].contains(r#""recovered":false"#));
        // An old client without an epoch: its number may count in any stream.
        let old = Some(Since {
            seq: 1,
            epoch: None,
        });
        let frames = rooms
            .join(now(), &a, None, "r", from(old), None)
            .expect("joined")
            .value;
        let frames = texts(&frames);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].contains(r#""recovered":false"#));
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name(""), Err(EngineError::BadRoomName));
        assert_eq!(
            check_name(&"r".repeat(crate::state::MAX_NAME + 1)),
            Err(EngineError::BadRoomName)
        );
        assert_eq!(EngineError::BadRoomName.code(), ErrorCode::BadRequest);
        assert_eq!(EngineError::TooManyRooms.code(), ErrorCode::RateLimited);
    }

    #[test]
    fn namespaces_set_presence_and_history_bounds() {
        let namespaces = Namespaces::from_toml_str(
            "[namespaces.quiet]\npresence = false\n\
             [namespaces.short]\nhistory_size = 2\nhistory_ttl_secs = 60\n",
        )
        .expect("valid config");
        let mut rooms = Rooms::with_namespaces(10, namespaces);
        let a = actor(1, "s-1", Some("alice"));
        let b = actor(2, "s-2", Some("bob"));

        let _ = rooms
            .join(now(), &a, None, "quiet:1", Start::default(), None)
            .expect("joined");
        let joined = rooms
            .join(now(), &b, None, "quiet:1", Start::default(), None)
            .expect("joined");
        assert!(
            joined.value[0].as_str().contains(r#""members":[]"#),
            "{}",
            joined.value[0].as_str()
        );
        assert!(joined.deliveries.is_empty(), "no presence join");
        let updated = rooms.set_meta(2, "quiet:1", raw("{}")).expect("member");
        assert!(updated.deliveries.is_empty(), "no presence update");
        assert!(
            rooms.leave(now(), 2, "quiet:1").deliveries.is_empty(),
            "no leave"
        );
        assert_eq!(rooms.members("quiet:1").expect("name").len(), 1);

        let start = now();
        let at = |secs| start + std::time::Duration::from_secs(secs);
        for (i, secs) in [(1, 0), (2, 10), (3, 20)] {
            let _ = rooms
                .publish_as_server(at(secs), "short:1", &raw(&i.to_string()))
                .expect("room");
        }
        // The size (2) evicted message 1; the TTL (60 s) expires 2 at 70 s.
        assert_eq!(rooms.recent(at(69), "short:1", 10).expect("name").len(), 2);
        let joined = rooms.join(at(70), &a, None, "short:1", Start::default(), None);
        let epoch = epoch_of(&joined.expect("joined").value[0]);
        let frames = rooms
            .join(at(70), &a, None, "short:1", from(since(1, &epoch)), None)
            .expect("joined");
        assert!(frames.value[0].as_str().contains(r#""recovered":false"#));
        let frames = rooms
            .join(at(70), &a, None, "short:1", from(since(2, &epoch)), None)
            .expect("joined");
        assert_eq!(
            texts(&frames.value)[1],
            r#"{"kind":"msg","room":"short:1","seq":3,"payload":3}"#
        );
        // Other namespaces take the `history` given to the rooms (10).
        for i in 0..12 {
            let _ = rooms
                .publish_as_server(now(), "lobby", &raw(&i.to_string()))
                .expect("room");
        }
        assert_eq!(rooms.recent(now(), "lobby", 100).expect("name").len(), 10);
    }

    #[test]
    fn a_takeover_connection_inherits_the_slot_without_a_second_join() {
        let mut rooms = Rooms::new(3);
        let a = actor(1, "s-1", None);
        let old = actor(2, "s-2", None);
        let _ = rooms
            .join(now(), &a, None, "r", Start::default(), None)
            .expect("joined");
        let _ = rooms
            .join(now(), &old, None, "r", Start::default(), None)
            .expect("joined");
        // Same session, new connection.
        let new = actor(3, "s-2", None);
        let joined = rooms
            .join(now(), &new, None, "r", Start::default(), None)
            .expect("joined");
        assert!(
            joined.value[0]
                .as_str()
                .contains(r#""members":[{"id":"s-1"},{"id":"s-2"}]"#),
            "{}",
            joined.value[0].as_str()
        );
        assert!(
            joined.deliveries.is_empty(),
            "nothing changed for the others"
        );
        // The old connection ending does not remove the session's slot.
        assert!(rooms.disconnect(now(), 2).deliveries.is_empty());
        let published = rooms.publish(now(), 3, "r", &raw("1")).expect("member");
        assert_eq!(published.deliveries[0].to, To::Conns(vec![1, 3]));
    }

    fn limited(limits: StateLimits) -> Rooms {
        Rooms::with_limits(10, Namespaces::default(), limits)
    }

    #[test]
    fn at_the_bound_a_new_room_replaces_the_longest_idle_one_or_is_refused() {
        let mut rooms = limited(StateLimits {
            max_rooms: 3,
            ..StateLimits::default()
        });
        let start = now();
        let at = |secs| start + std::time::Duration::from_secs(secs);
        let a = actor(1, "s-1", None);
        let _ = rooms
            .join(at(0), &a, None, "busy", Start::default(), None)
            .expect("room");
        for (name, secs) in [("junk-1", 1), ("junk-2", 2)] {
            let _ = rooms
                .publish_as_server(at(secs), name, &raw("1"))
                .expect("room");
        }
        assert_eq!((rooms.count(), rooms.active()), (3, 1));
        // The longest-idle empty room (junk-1) makes room; the busy one is never taken.
        let _ = rooms
            .publish_as_server(at(3), "new", &raw("1"))
            .expect("junk-1 replaced");
        assert_eq!(rooms.recent(at(3), "junk-1", 10).expect("name").len(), 0);
        assert_eq!(rooms.recent(at(3), "busy", 10).expect("name").len(), 0);
        let b = actor(2, "s-2", None);
        for name in ["junk-2", "new"] {
            let _ = rooms
                .join(at(4), &b, None, name, Start::default(), None)
                .expect("room");
        }
        assert_eq!(rooms.active(), 3);
        assert_eq!(
            rooms.publish_as_server(at(5), "one more", &raw("1")),
            Err(EngineError::TooManyRooms),
            "every room has members"
        );
        assert_eq!(
            rooms
                .join(at(5), &a, None, "one more", Start::default(), None)
                .map(|_| ()),
            Err(EngineError::TooManyRooms)
        );
        // A member leaving frees a place again.
        assert!(rooms.leave(at(6), 2, "new").value);
        let _ = rooms
            .join(at(7), &a, None, "one more", Start::default(), None)
            .expect("new replaced");
        assert!(rooms.publish_as_server(at(8), "busy", &raw("1")).is_ok());
    }

    #[test]
    fn an_empty_room_is_removed_after_the_idle_ttl_and_comes_back_in_a_new_epoch() {
        let mut rooms = limited(StateLimits {
            room_idle_ttl: Some(std::time::Duration::from_secs(60)),
            ..StateLimits::default()
        });
        let start = now();
        let at = |secs| start + std::time::Duration::from_secs(secs);
        let a = actor(1, "s-1", None);
        let joined = rooms
            .join(at(0), &a, None, "r", Start::default(), None)
            .expect("room");
        let epoch = epoch_of(&joined.value[0]);
        let _ = rooms.publish(at(1), 1, "r", &raw("1")).expect("member");
        let _ = rooms.disconnect(at(10), 1);
        // Idle since 10: still there at 69, with its history.
        assert_eq!(rooms.recent(at(69), "r", 10).expect("name").len(), 1);
        let _ = rooms.publish_as_server(at(69), "other", &raw("1"));
        assert_eq!(rooms.count(), 2);
        let _ = rooms.publish_as_server(at(70), "other", &raw("2"));
        assert_eq!(rooms.count(), 1, "r expired at 70");
        let joined = rooms
            .join(at(71), &a, None, "r", from(since(1, &epoch)), None)
            .expect("room");
        assert_ne!(epoch_of(&joined.value[0]), epoch, "a new stream");
        assert!(joined.value[0].as_str().contains(r#""recovered":false"#));
    }

    #[test]
    fn history_is_bounded_in_bytes_and_a_larger_message_is_refused() {
        let mut rooms = limited(StateLimits {
            history_bytes: 200,
            ..StateLimits::default()
        });
        let a = actor(1, "s-1", None);
        let _ = rooms
            .join(now(), &a, None, "r", Start::default(), None)
            .expect("room");
        // Each message is a frame of about 60 bytes: 3 fit in 200.
        for i in 0..10 {
            let _ = rooms
                .publish(now(), 1, "r", &raw(&format!("\"{i:020}\"")))
                .expect("member");
        }
        let held = rooms.recent(now(), "r", 100).expect("name");
        assert_eq!(held.len(), 3, "{held:?}");
        assert!(held.iter().map(|frame| frame.len()).sum::<usize>() <= 200);
        let big = format!("\"{}\"", "x".repeat(200));
        let refused = rooms.publish(now(), 1, "r", &raw(&big));
        assert!(
            matches!(&refused, Err(EngineError::TooLarge(_))),
            "{refused:?}"
        );
        assert_eq!(refused.map(|_| ()).unwrap_err().code(), ErrorCode::TooLarge);
        let held_after = rooms.recent(now(), "r", 100).expect("name");
        assert_eq!(held_after, held, "nothing evicted for a refused message");
        assert_eq!(
            rooms
                .publish(now(), 1, "r", &raw("1"))
                .expect("member")
                .value,
            11,
            "the refused message took no number"
        );
        // A namespace may set its own byte budget; without history anything is accepted.
        let namespaces = Namespaces::from_toml_str(
            "[namespaces.tiny]\nhistory_bytes = 10\n[namespaces.none]\nhistory_size = 0\n",
        )
        .expect("valid config");
        let mut rooms = Rooms::with_limits(10, namespaces, StateLimits::default());
        assert!(matches!(
            rooms.publish_as_server(now(), "tiny:1", &raw("1")),
            Err(EngineError::TooLarge(_))
        ));
        assert!(rooms.publish_as_server(now(), "none:1", &raw(&big)).is_ok());
    }
}
