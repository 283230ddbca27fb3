//! Room subscriptions: reference-counted joins (so React StrictMode's double mount makes one
//! server join), rejoin with the last seen sequence number after a reconnect, duplicate-free
//! delivery by sequence number, and the current presence list.

use super::vec_map::VecMap;
use crate::protocol::Member;

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
    /// Id of the join in flight, to match a refusal.
    pub join_id: Option<u64>,
    /// Encoded presence metadata, re-sent with every (re)join.
    pub meta: Option<F>,
    /// Metadata set while the room was not joined (a join may be in flight with older metadata),
    /// decoded: sent, and shown in this client's entry, once the room is joined.
    pub unsent_meta: Option<P>,
    pub members: VecMap<String, Member<P>>,
}

/// What a delivered room message should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Deliver,
    Duplicate,
    UnknownRoom,
}

#[derive(Debug)]
pub(crate) struct Rooms<F, P> {
    rooms: VecMap<String, Room<F, P>>,
}

impl<F: Clone, P: Clone> Rooms<F, P> {
    pub fn new() -> Self {
        Rooms {
            rooms: VecMap::new(),
        }
    }

    pub fn get(&self, room: &str) -> Option<&Room<F, P>> {
        self.rooms.get(room)
    }

    pub fn get_mut(&mut self, room: &str) -> Option<&mut Room<F, P>> {
        self.rooms.get_mut(room)
    }

    pub fn names(&self) -> Vec<String> {
        self.rooms.keys().cloned().collect()
    }

    /// Adds a reference; true when this is the first, so the server must be asked to join.
    pub fn add_ref(&mut self, room: &str, meta: Option<F>) -> bool {
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
                join_id: None,
                meta,
                unsent_meta: None,
                members: VecMap::new(),
            },
        );
        true
    }

    /// Drops a reference; true when it was the last, so the room is gone and must be left.
    pub fn release(&mut self, room: &str) -> bool {
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
    pub fn accept(&mut self, room: &str, seq: u64) -> Delivery {
        let Some(entry) = self.rooms.get_mut(room) else {
            return Delivery::UnknownRoom;
        };
        if entry.last_seq.is_some_and(|last| seq <= last) {
            return Delivery::Duplicate;
        }
        entry.last_seq = Some(seq);
        Delivery::Deliver
    }

    /// Every room whose state changes because the connection dropped, with its new state.
    pub fn on_disconnect(&mut self) -> Vec<(String, RoomState)> {
        let mut changed = Vec::new();
        for (name, room) in self.rooms.iter_mut() {
            room.members.clear();
            room.join_id = None;
            if matches!(room.state, RoomState::Joined { .. }) {
                room.state = RoomState::Rejoining;
                changed.push((name.clone(), RoomState::Rejoining));
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_count_joins_and_only_the_last_release_leaves() {
        let mut rooms: Rooms<(), ()> = Rooms::new();
        assert!(rooms.add_ref("chat", None));
        assert!(!rooms.add_ref("chat", None));
        assert!(!rooms.release("chat"));
        assert!(rooms.get("chat").is_some());
        assert!(rooms.release("chat"));
        assert!(rooms.get("chat").is_none());
        assert!(!rooms.release("chat"));
    }

    #[test]
    fn duplicates_by_sequence_are_refused() {
        let mut rooms: Rooms<(), ()> = Rooms::new();
        rooms.add_ref("r", None);
        assert_eq!(rooms.accept("r", 5), Delivery::Deliver);
        assert_eq!(rooms.accept("r", 5), Delivery::Duplicate);
        assert_eq!(rooms.accept("r", 3), Delivery::Duplicate);
        assert_eq!(rooms.accept("r", 6), Delivery::Deliver);
        assert_eq!(rooms.accept("other", 1), Delivery::UnknownRoom);
    }
}
