//! Room subscriptions: reference-counted joins (so React StrictMode's double mount makes one
//! server join), rejoin with the last seen sequence number after a reconnect, duplicate-free
//! delivery by sequence number, and the current presence list (kept, stale, while rejoining).
//! Only this module changes a [`Room`]; the app reads it through `ClientCore::room`.

use super::events::Event;
use super::queue::WireSize;
use super::sink::{Sink, Transmit};
use super::vec_map::VecMap;
use crate::protocol::{ErrorBody, Member, PresenceChange};
use alloc::{borrow::ToOwned, string::String, vec::Vec};

/// A room's subscription state, as the app sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomState {
    /// First join sent or waiting for the connection.
    Joining,
    /// The server acknowledged the join. `recovered` is false when messages were missed for
    /// good during a disconnect (history no longer covered them): the app should resync.
    Joined { recovered: bool },
    /// The connection dropped; the room is rejoined with its last sequence number on reconnect.
    Rejoining,
    /// The last handle left.
    Left,
    /// The server refused the join.
    Error { code: String, message: String },
}

impl RoomState {
    pub fn name(&self) -> &'static str {
        match self {
            RoomState::Joining => "joining",
            RoomState::Joined { .. } => "joined",
            RoomState::Rejoining => "rejoining",
            RoomState::Left => "left",
            RoomState::Error { .. } => "error",
        }
    }
}

#[derive(Debug)]
pub struct Room<F, P> {
    refs: u32,
    pub state: RoomState,
    /// Highest sequence number delivered; `None` until the first `joined` or message.
    pub last_seq: Option<u64>,
    /// The epoch of the stream `last_seq` counts in (from `joined`), sent with it on rejoin.
    epoch: Option<String>,
    /// Id of the join in flight, to match a refusal.
    join_id: Option<u64>,
    /// Encoded presence metadata, re-sent with every (re)join.
    pub meta: Option<F>,
    /// Messages the first join asks the server to replay; a rejoin uses `last_seq` instead.
    history: Option<u64>,
    /// Metadata set while the room was not joined (a join may be in flight with older metadata),
    /// decoded: sent, and shown in this client's entry, once the room is joined.
    unsent_meta: Option<P>,
    /// The members as last known: while rejoining, those of before the drop (see
    /// [`Room::members_stale`]), until the rejoin's `joined` replaces them.
    pub members: VecMap<String, Member<P>>,
}

impl<F, P> Room<F, P> {
    /// True while `members` is the list from before a drop: kept so presence does not flicker
    /// empty during a reconnect, and replaced whole by the rejoin's `joined` (members that left
    /// meanwhile disappear then).
    pub fn members_stale(&self) -> bool {
        matches!(self.state, RoomState::Rejoining)
    }
}

/// What a delivered room message should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Deliver,
    Duplicate,
    UnknownRoom,
}

#[derive(Debug)]
pub(crate) struct Rooms<F, P> {
    rooms: VecMap<String, Room<F, P>>,
    /// This client's session while a connection is open (rooms are joined only then); it finds
    /// this client's own member entry.
    session: Option<String>,
}

impl<F: Clone, P: Clone> Rooms<F, P> {
    pub fn new() -> Self {
        Rooms {
            rooms: VecMap::new(),
            session: None,
        }
    }

    pub fn get(&self, room: &str) -> Option<&Room<F, P>> {
        self.rooms.get(room)
    }

    /// Adds a reference; true when this is the first, so the server must be asked to join.
    fn add_ref(&mut self, room: &str, meta: Option<F>, history: Option<u64>) -> bool {
        if let Some(existing) = self.rooms.get_mut(room) {
            existing.refs += 1;
            if meta.is_some() {
                existing.meta = meta;
            }
            return false;
        }
        self.rooms.insert(
            room.to_owned(),
            Room {
                refs: 1,
                state: RoomState::Joining,
                last_seq: None,
                epoch: None,
                join_id: None,
                meta,
                history,
                unsent_meta: None,
                members: VecMap::new(),
            },
        );
        true
    }

    /// Drops a reference; true when it was the last, so the room is gone and must be left.
    fn release(&mut self, room: &str) -> bool {
        let Some(entry) = self.rooms.get_mut(room) else {
            return false;
        };
        entry.refs = entry.refs.saturating_sub(1);
        if entry.refs > 0 {
            return false;
        }
        self.rooms.remove(room);
        true
    }

    /// Records a room message's sequence number and says whether to deliver it.
    fn accept(&mut self, room: &str, seq: u64) -> Delivery {
        let Some(entry) = self.rooms.get_mut(room) else {
            return Delivery::UnknownRoom;
        };
        if entry.last_seq.is_some_and(|last| seq <= last) {
            return Delivery::Duplicate;
        }
        entry.last_seq = Some(seq);
        Delivery::Deliver
    }
}

impl<F: Clone + WireSize, P: Clone> Rooms<F, P> {
    /// Joins `room`, or adds a reference to it. `meta` is encoded presence metadata; `history`
    /// asks the first join to replay up to that many of the newest messages.
    pub fn join(
        &mut self,
        out: &mut Sink<F, P>,
        room: &str,
        meta: Option<F>,
        history: Option<u64>,
    ) {
        if self.add_ref(room, meta, history) {
            out.emit(Event::Room {
                room: room.to_owned(),
                state: RoomState::Joining,
            });
            if self.session.is_some() {
                self.send_join(out, room);
            }
        }
    }

    /// Drops a reference to `room`; the last one leaves it.
    pub fn leave(&mut self, out: &mut Sink<F, P>, room: &str) {
        if self.release(room) {
            if self.session.is_some() {
                let id = out.next_id();
                out.send(Transmit::Leave {
                    id,
                    room: room.to_owned(),
                });
            }
            out.emit(Event::Room {
                room: room.to_owned(),
                state: RoomState::Left,
            });
        }
    }

    /// Sets this client's presence metadata in `room`: `meta` is sent (now, or with the next
    /// join) and `local`, the same value decoded, shows at once in this client's own member
    /// entry, with a local `update` event, since the server tells only the other members.
    pub fn set_presence(&mut self, out: &mut Sink<F, P>, room: &str, meta: F, local: P) {
        let open = self.session.is_some();
        let Some(entry) = self.rooms.get_mut(room) else {
            return;
        };
        entry.meta = Some(meta.clone());
        if !(open && matches!(entry.state, RoomState::Joined { .. })) {
            entry.unsent_meta = Some(local);
            return;
        }
        out.send(Transmit::Presence {
            room: room.to_owned(),
            meta,
        });
        self.show_own_meta(out, room, local);
    }

    /// A connection opened as `session`: every room is joined again, with its last sequence
    /// number.
    pub fn on_open(&mut self, out: &mut Sink<F, P>, session: &str) {
        self.session = Some(session.to_owned());
        let mut names = Vec::new();
        for name in self.rooms.keys() {
            names.push(name.clone());
        }
        for room in names {
            self.send_join(out, &room);
        }
    }

    /// The connection dropped: joined rooms are rejoining and keep their last known members,
    /// stale until the rejoin answers; other rooms have none.
    pub fn on_disconnect(&mut self, out: &mut Sink<F, P>) {
        self.session = None;
        for (name, room) in self.rooms.iter_mut() {
            room.join_id = None;
            if !matches!(room.state, RoomState::Joined { .. } | RoomState::Rejoining) {
                room.members.clear();
            }
            if matches!(room.state, RoomState::Joined { .. }) {
                room.state = RoomState::Rejoining;
                out.emit(Event::Room {
                    room: name.clone(),
                    state: RoomState::Rejoining,
                });
            }
        }
    }

    /// A room message of `wire_size` bytes: true when it is to be delivered (once, in sequence
    /// order), counted as received; a duplicate is counted as one.
    pub fn on_message(
        &mut self,
        out: &mut Sink<F, P>,
        room: &str,
        seq: u64,
        wire_size: usize,
    ) -> bool {
        match self.accept(room, seq) {
            Delivery::Deliver => {
                out.count_received(wire_size);
                true
            }
            Delivery::Duplicate => {
                out.count_duplicate();
                false
            }
            Delivery::UnknownRoom => false,
        }
    }

    /// The server acknowledged a join (`id` names it when the server echoes it); `(seq, epoch)`
    /// is the room's latest sequence number and its stream's epoch.
    pub fn on_joined(
        &mut self,
        out: &mut Sink<F, P>,
        id: Option<u64>,
        room: String,
        (seq, epoch): (u64, Option<String>),
        recovered: bool,
        members: Vec<Member<P>>,
    ) {
        let Some(entry) = self.rooms.get_mut(&room) else {
            return; // left meanwhile
        };
        if id.is_some() && id != entry.join_id {
            return; // answers an earlier join of a room left and joined again since
        }
        entry.join_id = None;
        if entry.epoch.is_some() && entry.epoch != epoch {
            // Another stream (the server restarted): its numbers start over, and every message
            // of it that arrives (a replay from its start, then live ones) is new.
            entry.last_seq = Some(0);
        } else if entry.last_seq.is_none() {
            // A fresh join starts from now, less the history it asked for (the replay follows,
            // all above that).
            entry.last_seq = Some(seq.saturating_sub(entry.history.unwrap_or(0)));
        } else if !recovered {
            // An unrecovered rejoin continues from the server's position, which is
            // authoritative (even below ours: nothing above it exists).
            entry.last_seq = Some(seq);
        }
        entry.epoch = epoch;
        entry.members = members.into_iter().map(|m| (m.id.clone(), m)).collect();
        entry.state = RoomState::Joined { recovered };
        // Metadata set while joining may be newer than what the join carried.
        let unsent = entry.unsent_meta.take().zip(entry.meta.clone());
        out.emit(Event::Room {
            room: room.clone(),
            state: RoomState::Joined { recovered },
        });
        if let Some((local, meta)) = unsent {
            out.send(Transmit::Presence {
                room: room.clone(),
                meta,
            });
            self.show_own_meta(out, &room, local);
        }
    }

    pub fn on_presence(
        &mut self,
        out: &mut Sink<F, P>,
        room: String,
        change: PresenceChange,
        member: Member<P>,
    ) {
        let Some(entry) = self.rooms.get_mut(&room) else {
            return;
        };
        match change {
            PresenceChange::Join | PresenceChange::Update => {
                entry.members.insert(member.id.clone(), member.clone());
            }
            PresenceChange::Leave => {
                entry.members.remove(&member.id);
            }
        }
        out.emit(Event::Presence {
            room,
            change,
            member,
        });
    }

    /// An `error` frame: if it refuses the join in flight for `room`, the room is in error;
    /// otherwise the error is given back.
    pub fn on_error(
        &mut self,
        out: &mut Sink<F, P>,
        id: Option<u64>,
        room: Option<&str>,
        body: ErrorBody,
    ) -> Option<ErrorBody> {
        let (Some(id), Some(name)) = (id, room) else {
            return Some(body);
        };
        let Some(entry) = self.rooms.get_mut(name).filter(|e| e.join_id == Some(id)) else {
            return Some(body);
        };
        entry.join_id = None;
        // A refused rejoin: the members kept from before the drop are not known any more.
        entry.members.clear();
        let state = RoomState::Error {
            code: body.code.as_wire().to_owned(),
            message: body.message,
        };
        entry.state = state.clone();
        out.emit_failure(Event::Room {
            room: name.to_owned(),
            state,
        });
        None
    }

    fn send_join(&mut self, out: &mut Sink<F, P>, room: &str) {
        let id = out.next_id();
        let Some(entry) = self.rooms.get_mut(room) else {
            return;
        };
        entry.join_id = Some(id);
        out.send(Transmit::Join {
            id,
            room: room.to_owned(),
            since: entry.last_seq,
            epoch: entry.epoch.clone(),
            // Once anything was seen, `since` recovers what was missed instead.
            history: entry.history.filter(|_| entry.last_seq.is_none()),
            meta: entry.meta.clone(),
        });
    }

    /// Shows this client's new presence metadata in its own member entry, with a local `update`.
    fn show_own_meta(&mut self, out: &mut Sink<F, P>, room: &str, local: P) {
        let own = self
            .session
            .as_deref()
            .and_then(|session| self.rooms.get(room)?.members.get(session))
            .cloned();
        if let Some(mut own) = own {
            own.meta = Some(local);
            self.on_presence(out, room.to_owned(), PresenceChange::Update, own);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_count_joins_and_only_the_last_release_leaves() {
        let mut rooms: Rooms<(), ()> = Rooms::new();
        assert!(rooms.add_ref("chat", None, None));
        assert!(!rooms.add_ref("chat", None, None));
        assert!(!rooms.release("chat"));
        assert!(rooms.get("chat").is_some());
        assert!(rooms.release("chat"));
        assert!(rooms.get("chat").is_none());
        assert!(!rooms.release("chat"));
    }

    #[test]
    fn duplicates_by_sequence_are_refused() {
        let mut rooms: Rooms<(), ()> = Rooms::new();
        rooms.add_ref("r", None, None);
        assert_eq!(rooms.accept("r", 5), Delivery::Deliver);
        assert_eq!(rooms.accept("r", 5), Delivery::Duplicate);
        assert_eq!(rooms.accept("r", 3), Delivery::Duplicate);
        assert_eq!(rooms.accept("r", 6), Delivery::Deliver);
        assert_eq!(rooms.accept("other", 1), Delivery::UnknownRoom);
    }
}
