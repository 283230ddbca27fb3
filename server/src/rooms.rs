//! Rooms: membership, sequence numbers, bounded history and presence.
//!
//! Memberships belong to connections (a connection that ends leaves its rooms), presence
//! members are sessions: a room holds at most one slot per session, and a connection that took
//! its session over and joins again simply takes the slot (others see an `update` if the meta
//! changed, nothing otherwise).
//!
//! Frames to other members are queued while the room lock is held, so every member receives a
//! room's messages in sequence order; the joiner's own `joined` and replay are returned for the
//! connection to write before anything queued after the join.

use crate::frames;
use crate::history::History;
use crate::hub::{ConnId, Hub};
use crate::lock::Locked;
use crate::session::Session;
use axum::extract::ws::Utf8Bytes;
use resocket::protocol::{ErrorBody, ErrorCode, Member, PresenceChange};
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// Longest room name, in bytes.
pub const MAX_ROOM_NAME: usize = 256;
/// Most rooms the server keeps (rooms keep their history when empty, so they are never
/// removed); joining or publishing to a new room beyond this is refused with `rate_limited`.
pub const MAX_ROOMS: usize = 10_000;
/// Rooms named `private:<user>` admit only `<user>`.
pub const PRIVATE_PREFIX: &str = "private:";

/// Why a room operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("room names must be 1 to {MAX_ROOM_NAME} bytes")]
    BadName,
    #[error("room {room:?} admits only user {owner:?}")]
    Private { room: String, owner: String },
    #[error("not a member of room {0:?}; join it first")]
    NotMember(String),
    #[error("the server holds at most {MAX_ROOMS} rooms")]
    TooManyRooms,
}

impl RoomError {
    pub fn body(&self) -> ErrorBody {
        let code = match self {
            RoomError::BadName => ErrorCode::BadRequest,
            RoomError::Private { .. } | RoomError::NotMember(_) => ErrorCode::Forbidden,
            RoomError::TooManyRooms => ErrorCode::RateLimited,
        };
        ErrorBody {
            code,
            message: self.to_string(),
        }
    }
}

/// Checks a room name's length.
pub fn check_name(name: &str) -> Result<(), RoomError> {
    if name.is_empty() || name.len() > MAX_ROOM_NAME {
        Err(RoomError::BadName)
    } else {
        Ok(())
    }
}

/// Checks that `user` may join `room`.
pub fn check_access(room: &str, user: Option<&str>) -> Result<(), RoomError> {
    match room.strip_prefix(PRIVATE_PREFIX) {
        Some(owner) if user != Some(owner) => Err(RoomError::Private {
            room: room.to_owned(),
            owner: owner.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// The connection acting, and its session.
#[derive(Clone, Copy)]
pub struct Actor<'a> {
    pub conn: ConnId,
    pub session: &'a Session,
}

/// The result of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub seq: u64,
    /// Members the message was delivered to.
    pub members: usize,
}

pub struct Rooms {
    inner: Mutex<Inner>,
    hub: Arc<Hub>,
    history: usize,
}

#[derive(Default)]
struct Inner {
    rooms: HashMap<String, Room>,
    /// The rooms each connection is in, to leave them when it ends.
    by_conn: HashMap<ConnId, HashSet<String>>,
}

struct Room {
    /// Encoded `msg` frames, replayed as they are.
    history: History<Utf8Bytes>,
    /// In join order.
    members: Vec<Slot>,
}

struct Slot {
    conn: ConnId,
    session: String,
    user: Option<String>,
    meta: Option<Box<RawValue>>,
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

impl Rooms {
    pub fn new(hub: Arc<Hub>, history: usize) -> Rooms {
        Rooms {
            inner: Mutex::new(Inner::default()),
            hub,
            history,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.locked()
    }

    /// Joins (or joins again) `name`: returns the `joined` frame followed by the replay of what
    /// came after `since`, if the history still holds all of it. Other members get a presence
    /// `join` (or `update` when a re-join changes the meta).
    pub fn join(
        &self,
        who: Actor<'_>,
        id: Option<u64>,
        name: &str,
        since: Option<u64>,
        meta: Option<Box<RawValue>>,
    ) -> Result<Vec<Utf8Bytes>, RoomError> {
        check_name(name)?;
        check_access(name, who.session.user())?;
        let mut inner = self.lock();
        let Inner { rooms, by_conn } = &mut *inner;
        let room = room_entry(rooms, name, self.history)?;
        let me = who.session.id();
        let change = match room.members.iter_mut().find(|s| s.session == me) {
            Some(slot) => {
                if slot.conn != who.conn {
                    // The session's previous connection was in the room: this one takes over.
                    forget(by_conn, slot.conn, name);
                    slot.conn = who.conn;
                }
                meta.map(|meta| {
                    slot.meta = Some(meta);
                    PresenceChange::Update
                })
            }
            None => {
                room.members.push(Slot {
                    conn: who.conn,
                    session: me.to_owned(),
                    user: who.session.user().map(str::to_owned),
                    meta,
                });
                Some(PresenceChange::Join)
            }
        };
        by_conn.entry(who.conn).or_default().insert(name.to_owned());
        if let Some(change) = change {
            self.announce(name, room, me, change);
        }

        let replay = match since {
            None => Some(Vec::new()),
            Some(since) => room
                .history
                .since(since)
                .map(|frames| frames.cloned().collect()),
        };
        let members = room.members.iter().map(Slot::member).collect();
        let joined = frames::joined(id, name, room.history.latest(), replay.is_some(), members);
        let mut frames = vec![Utf8Bytes::from(joined)];
        frames.extend(replay.unwrap_or_default());
        Ok(frames)
    }

    /// Leaves `name`; true if the connection was a member. Others get a presence `leave`.
    pub fn leave(&self, who: Actor<'_>, name: &str) -> bool {
        let mut inner = self.lock();
        let Inner { rooms, by_conn } = &mut *inner;
        forget(by_conn, who.conn, name);
        match rooms.get_mut(name) {
            Some(room) => self.remove_member(name, room, who.conn),
            None => false,
        }
    }

    /// Publishes `payload` to `name` on behalf of a member.
    pub fn publish(
        &self,
        who: Actor<'_>,
        name: &str,
        payload: &RawValue,
    ) -> Result<Published, RoomError> {
        check_name(name)?;
        let mut inner = self.lock();
        let room = inner
            .rooms
            .get_mut(name)
            .filter(|room| room.members.iter().any(|s| s.conn == who.conn))
            .ok_or_else(|| RoomError::NotMember(name.to_owned()))?;
        Ok(self.append(name, room, payload))
    }

    /// Publishes `payload` to `name` on behalf of the server (control endpoint, price feed),
    /// creating the room if needed.
    pub fn publish_as_server(
        &self,
        name: &str,
        payload: &RawValue,
    ) -> Result<Published, RoomError> {
        check_name(name)?;
        let mut inner = self.lock();
        let room = room_entry(&mut inner.rooms, name, self.history)?;
        Ok(self.append(name, room, payload))
    }

    /// Replaces a member's presence metadata; others get a presence `update`.
    pub fn set_meta(
        &self,
        who: Actor<'_>,
        name: &str,
        meta: Box<RawValue>,
    ) -> Result<(), RoomError> {
        check_name(name)?;
        let mut inner = self.lock();
        let not_member = || RoomError::NotMember(name.to_owned());
        let room = inner.rooms.get_mut(name).ok_or_else(not_member)?;
        let slot = room
            .members
            .iter_mut()
            .find(|s| s.conn == who.conn)
            .ok_or_else(not_member)?;
        slot.meta = Some(meta);
        let me = slot.session.clone();
        self.announce(name, room, &me, PresenceChange::Update);
        Ok(())
    }

    /// A connection ended: it leaves every room it was in.
    pub fn disconnect(&self, conn: ConnId) {
        let mut inner = self.lock();
        let Inner { rooms, by_conn } = &mut *inner;
        for name in by_conn.remove(&conn).unwrap_or_default() {
            if let Some(room) = rooms.get_mut(&name) {
                self.remove_member(&name, room, conn);
            }
        }
    }

    /// Rooms with at least one member.
    pub fn active(&self) -> usize {
        self.lock()
            .rooms
            .values()
            .filter(|room| !room.members.is_empty())
            .count()
    }

    fn append(&self, name: &str, room: &mut Room, payload: &RawValue) -> Published {
        let frame = Utf8Bytes::from(frames::room_msg(name, room.history.next_seq(), payload));
        let seq = room.history.push(frame.clone());
        let members = self
            .hub
            .send_to_each(room.members.iter().map(|s| s.conn), &frame);
        Published { seq, members }
    }

    fn remove_member(&self, name: &str, room: &mut Room, conn: ConnId) -> bool {
        let Some(index) = room.members.iter().position(|s| s.conn == conn) else {
            return false;
        };
        let slot = room.members.remove(index);
        let frame = frames::presence(name, PresenceChange::Leave, slot.member());
        self.hub
            .send_to_each(room.members.iter().map(|s| s.conn), &frame.into());
        true
    }

    /// Tells every member but `session` what happened to `session`'s slot.
    fn announce(&self, name: &str, room: &Room, session: &str, change: PresenceChange) {
        let Some(slot) = room.members.iter().find(|s| s.session == session) else {
            return;
        };
        let frame = frames::presence(name, change, slot.member());
        let others = room
            .members
            .iter()
            .filter(|s| s.session != session)
            .map(|s| s.conn);
        self.hub.send_to_each(others, &frame.into());
    }
}

fn room_entry<'a>(
    rooms: &'a mut HashMap<String, Room>,
    name: &str,
    history: usize,
) -> Result<&'a mut Room, RoomError> {
    if !rooms.contains_key(name) && rooms.len() >= MAX_ROOMS {
        return Err(RoomError::TooManyRooms);
    }
    Ok(rooms.entry(name.to_owned()).or_insert_with(|| Room {
        history: History::new(history),
        members: Vec::new(),
    }))
}

/// Removes `name` from the rooms `conn` is in.
fn forget(by_conn: &mut HashMap<ConnId, HashSet<String>>, conn: ConnId, name: &str) {
    if let Some(names) = by_conn.get_mut(&conn) {
        names.remove(name);
        if names.is_empty() {
            by_conn.remove(&conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Registration;
    use crate::session::Sessions;
    use std::time::Duration;

    struct Client {
        reg: Registration,
        session: Arc<Session>,
    }

    impl Client {
        fn who(&self) -> Actor<'_> {
            Actor {
                conn: self.reg.membership.id(),
                session: &self.session,
            }
        }

        fn queued(&mut self) -> Vec<String> {
            std::iter::from_fn(|| self.reg.outbound.try_recv().ok())
                .map(|f| f.as_str().to_owned())
                .collect()
        }
    }

    fn client(hub: &Arc<Hub>, sessions: &Sessions, user: Option<&str>) -> Client {
        let reg = hub.register();
        let opened = sessions.open(user, None, reg.membership.id());
        hub.welcome(reg.membership.id(), opened.session.id(), user);
        Client {
            reg,
            session: opened.session,
        }
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("valid JSON")
    }

    fn texts(frames: Vec<Utf8Bytes>) -> Vec<String> {
        frames.iter().map(|f| f.as_str().to_owned()).collect()
    }

    fn setup(history: usize) -> (Rooms, Client, Client) {
        let hub = Hub::new();
        let sessions = Sessions::new(Duration::from_secs(1));
        let a = client(&hub, &sessions, Some("alice"));
        let b = client(&hub, &sessions, None);
        (Rooms::new(hub, history), a, b)
    }

    #[tokio::test]
    async fn join_publish_and_presence() {
        let (rooms, mut a, mut b) = setup(10);
        let joined = rooms
            .join(a.who(), Some(1), "chat", None, Some(raw(r#"{"n":"A"}"#)))
            .expect("joined");
        assert_eq!(
            texts(joined),
            [
                r#"{"kind":"joined","id":1,"room":"chat","seq":0,"payload":{"recovered":true,"members":[{"id":"s-1","user":"alice","meta":{"n":"A"}}]}}"#
            ]
        );
        let joined = rooms
            .join(b.who(), None, "chat", None, None)
            .expect("joined");
        assert_eq!(
            texts(joined),
            [
                r#"{"kind":"joined","room":"chat","seq":0,"payload":{"recovered":true,"members":[{"id":"s-1","user":"alice","meta":{"n":"A"}},{"id":"s-2"}]}}"#
            ]
        );
        assert_eq!(
            a.queued(),
            [
                r#"{"kind":"presence","room":"chat","payload":{"event":"join","member":{"id":"s-2"}}}"#
            ]
        );
        assert_eq!(rooms.active(), 1);

        let published = rooms.publish(b.who(), "chat", &raw("1")).expect("member");
        assert_eq!(published, Published { seq: 1, members: 2 });
        let msg = r#"{"kind":"msg","room":"chat","seq":1,"payload":1}"#;
        assert_eq!(a.queued(), [msg]);
        assert_eq!(b.queued(), [msg]);

        rooms.set_meta(b.who(), "chat", raw("{}")).expect("member");
        assert_eq!(
            a.queued(),
            [
                r#"{"kind":"presence","room":"chat","payload":{"event":"update","member":{"id":"s-2","meta":{}}}}"#
            ]
        );
        assert!(
            b.queued().is_empty(),
            "no presence echo to the member itself"
        );

        assert!(rooms.leave(b.who(), "chat"));
        assert!(!rooms.leave(b.who(), "chat"));
        assert_eq!(
            a.queued(),
            [
                r#"{"kind":"presence","room":"chat","payload":{"event":"leave","member":{"id":"s-2","meta":{}}}}"#
            ]
        );
        assert_eq!(
            rooms.publish(b.who(), "chat", &raw("2")),
            Err(RoomError::NotMember("chat".into()))
        );
        assert_eq!(
            rooms.set_meta(b.who(), "chat", raw("{}")),
            Err(RoomError::NotMember("chat".into()))
        );
        rooms.disconnect(a.reg.membership.id());
        assert_eq!(rooms.active(), 0);
    }

    #[tokio::test]
    async fn rejoining_replays_what_was_missed_or_reports_a_gap() {
        let (rooms, a, _b) = setup(3);
        rooms.join(a.who(), None, "r", None, None).expect("joined");
        for i in 1..=5 {
            let published = rooms
                .publish_as_server("r", &raw(&i.to_string()))
                .expect("ok");
            assert_eq!(published.seq, i);
        }
        let frames = texts(
            rooms
                .join(a.who(), Some(2), "r", Some(3), None)
                .expect("joined"),
        );
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

        let frames = texts(
            rooms
                .join(a.who(), None, "r", Some(1), None)
                .expect("joined"),
        );
        assert_eq!(frames.len(), 1, "2 was evicted: no replay");
        assert!(
            frames[0].contains(r#""seq":5,"payload":{"recovered":false"#),
            "{}",
            frames[0]
        );
        let frames = texts(
            rooms
                .join(a.who(), None, "r", Some(5), None)
                .expect("joined"),
        );
        assert_eq!(frames.len(), 1);
        assert!(frames[0].contains(r#""recovered":true"#));
    }

    #[tokio::test]
    async fn private_rooms_and_names_are_checked() {
        let (rooms, a, b) = setup(3);
        assert!(rooms
            .join(a.who(), None, "private:alice", None, None)
            .is_ok());
        assert_eq!(
            rooms
                .join(b.who(), None, "private:alice", None, None)
                .map(|_| ())
                .map_err(|e| e.body().code),
            Err(ErrorCode::Forbidden)
        );
        assert!(check_access("private:", Some("")).is_ok());
        assert!(check_access("private:", None).is_err());
        assert_eq!(check_name(""), Err(RoomError::BadName));
        assert_eq!(
            check_name(&"r".repeat(MAX_ROOM_NAME + 1)),
            Err(RoomError::BadName)
        );
        assert_eq!(RoomError::BadName.body().code, ErrorCode::BadRequest);
        assert_eq!(RoomError::TooManyRooms.body().code, ErrorCode::RateLimited);
    }

    #[tokio::test]
    async fn a_takeover_connection_inherits_the_slot_without_a_second_join() {
        let hub = Hub::new();
        let sessions = Sessions::new(Duration::from_secs(1));
        let mut a = client(&hub, &sessions, None);
        let old = client(&hub, &sessions, None);
        let rooms = Rooms::new(Arc::clone(&hub), 3);
        rooms.join(a.who(), None, "r", None, None).expect("joined");
        rooms
            .join(old.who(), None, "r", None, None)
            .expect("joined");
        a.queued();
        // Same session, new connection.
        let reg = hub.register();
        hub.welcome(reg.membership.id(), old.session.id(), None);
        let new = Client {
            reg,
            session: Arc::clone(&old.session),
        };
        let frames = texts(
            rooms
                .join(new.who(), None, "r", None, None)
                .expect("joined"),
        );
        assert!(
            frames[0].contains(r#""members":[{"id":"s-1"},{"id":"s-2"}]"#),
            "{}",
            frames[0]
        );
        assert!(a.queued().is_empty(), "nothing changed for the others");
        // The old connection ending does not remove the session's slot.
        rooms.disconnect(old.reg.membership.id());
        assert!(a.queued().is_empty());
        assert_eq!(
            rooms.publish(new.who(), "r", &raw("1")).map(|p| p.members),
            Ok(2)
        );
    }
}
