//! This node's share of the shared state: which of its connections are in which rooms and
//! subscribed to which documents, and which sessions it holds. Plain data, behind the engine's
//! lock; the bus task reads it to deliver every event to the local connections that want it.
//!
//! A connection that is joining (or syncing) is *pending* until its `joined` (or catch-up) has
//! been read from Redis: events that arrive meanwhile are kept, and on completion only those
//! newer than what the catch-up covered are handed back, so nothing is missed or doubled.

use crate::state::ConnId;
use axum::extract::ws::Utf8Bytes;
use std::collections::{HashMap, HashSet};

#[derive(Debug)]
struct Listener {
    conn: ConnId,
    /// The member's session (rooms), so presence changes skip the member they are about.
    session: String,
    /// `None` once live; while pending, the events received, with their position.
    pending: Option<Vec<(u64, Utf8Bytes)>>,
}

/// Listeners by room or document name.
#[derive(Debug, Default)]
struct Topics {
    by_name: HashMap<String, Vec<Listener>>,
}

impl Topics {
    fn begin(&mut self, name: &str, conn: ConnId, session: &str) {
        let listeners = self.by_name.entry(name.to_owned()).or_default();
        listeners.retain(|l| l.conn != conn);
        listeners.push(Listener {
            conn,
            session: session.to_owned(),
            pending: Some(Vec::new()),
        });
    }

    /// Makes `conn` live on `name`; returns what it received while pending after `position`.
    fn finish(&mut self, name: &str, conn: ConnId, position: u64) -> Vec<Utf8Bytes> {
        let Some(listener) = self
            .by_name
            .get_mut(name)
            .and_then(|ls| ls.iter_mut().find(|l| l.conn == conn))
        else {
            return Vec::new();
        };
        listener
            .pending
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|(at, _)| *at > position)
            .map(|(_, frame)| frame)
            .collect()
    }

    fn remove(&mut self, name: &str, conn: ConnId) -> bool {
        let Some(listeners) = self.by_name.get_mut(name) else {
            return false;
        };
        let before = listeners.len();
        listeners.retain(|l| l.conn != conn);
        let removed = listeners.len() != before;
        if listeners.is_empty() {
            self.by_name.remove(name);
        }
        removed
    }

    /// The live listeners an event at `position` goes to (all but `except`'s session); pending
    /// ones keep it.
    fn dispatch(
        &mut self,
        name: &str,
        position: u64,
        except: Option<&str>,
        frame: &Utf8Bytes,
    ) -> Vec<ConnId> {
        let Some(listeners) = self.by_name.get_mut(name) else {
            return Vec::new();
        };
        let mut live = Vec::new();
        for listener in listeners
            .iter_mut()
            .filter(|l| Some(l.session.as_str()) != except)
        {
            match &mut listener.pending {
                Some(kept) => kept.push((position, frame.clone())),
                None => live.push(listener.conn),
            }
        }
        live
    }

    fn is_listening(&self, name: &str, conn: ConnId) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|ls| ls.iter().any(|l| l.conn == conn))
    }
}

/// What a connection ended with.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Left {
    pub rooms: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Local {
    rooms: Topics,
    docs: Topics,
    /// Each connection's rooms and documents.
    rooms_of: HashMap<ConnId, HashSet<String>>,
    docs_of: HashMap<ConnId, HashSet<String>>,
    /// Sessions attached to this node's connections, whose leases it keeps alive.
    sessions: HashMap<ConnId, String>,
    /// The last bus event seen of each room with a listener here.
    progress: HashMap<String, u64>,
}

impl Local {
    pub fn attach(&mut self, conn: ConnId, session: &str) {
        self.sessions.insert(conn, session.to_owned());
    }

    /// Starts a join: events of `room` are kept for `conn` until [`Self::joined`].
    pub fn joining(&mut self, room: &str, conn: ConnId, session: &str) {
        self.rooms.begin(room, conn, session);
        self.rooms_of
            .entry(conn)
            .or_default()
            .insert(room.to_owned());
    }

    /// The join read the room at event `evt`: `conn` is live, with what came after.
    pub fn joined(&mut self, room: &str, conn: ConnId, evt: u64) -> Vec<Utf8Bytes> {
        self.rooms.finish(room, conn, evt)
    }

    /// `conn` is no longer in `room` (left, or its join failed); true if it was.
    pub fn leave(&mut self, room: &str, conn: ConnId) -> bool {
        if let Some(rooms) = self.rooms_of.get_mut(&conn) {
            rooms.remove(room);
        }
        let removed = self.rooms.remove(room, conn);
        self.forget_progress_of_empty_rooms();
        removed
    }

    pub fn syncing(&mut self, doc: &str, conn: ConnId) {
        self.docs.begin(doc, conn, "");
        self.docs_of.entry(conn).or_default().insert(doc.to_owned());
    }

    /// The sync read the document at revision `rev`: `conn` is live, with what came after.
    pub fn synced(&mut self, doc: &str, conn: ConnId, rev: u64) -> Vec<Utf8Bytes> {
        self.docs.finish(doc, conn, rev)
    }

    pub fn unsync(&mut self, doc: &str, conn: ConnId) -> bool {
        if let Some(docs) = self.docs_of.get_mut(&conn) {
            docs.remove(doc);
        }
        self.docs.remove(doc, conn)
    }

    /// The documents some connection here subscribes to (or is syncing).
    pub fn docs_listened(&self) -> Vec<String> {
        self.docs.by_name.keys().cloned().collect()
    }

    pub fn is_subscribed(&self, doc: &str, conn: ConnId) -> bool {
        self.docs.is_listening(doc, conn)
    }

    /// `conn` ended: it leaves everything here; returns the rooms it was in.
    pub fn disconnect(&mut self, conn: ConnId) -> Left {
        self.sessions.remove(&conn);
        for doc in self.docs_of.remove(&conn).unwrap_or_default() {
            self.docs.remove(&doc, conn);
        }
        let mut rooms: Vec<String> = self
            .rooms_of
            .remove(&conn)
            .unwrap_or_default()
            .into_iter()
            .collect();
        rooms.retain(|room| self.rooms.remove(room, conn));
        rooms.sort();
        self.forget_progress_of_empty_rooms();
        Left { rooms }
    }

    pub fn room_event(
        &mut self,
        room: &str,
        evt: u64,
        except: Option<&str>,
        frame: &Utf8Bytes,
    ) -> Vec<ConnId> {
        if self.rooms.by_name.contains_key(room) {
            self.progress.insert(room.to_owned(), evt);
        }
        self.rooms.dispatch(room, evt, except, frame)
    }

    /// The last event of `room` this node has delivered (0: none, or no listener here).
    pub fn room_progress(&self, room: &str) -> u64 {
        self.progress.get(room).copied().unwrap_or(0)
    }

    fn forget_progress_of_empty_rooms(&mut self) {
        let rooms = &self.rooms.by_name;
        self.progress.retain(|room, _| rooms.contains_key(room));
    }

    pub fn doc_event(&mut self, doc: &str, rev: u64, frame: &Utf8Bytes) -> Vec<ConnId> {
        self.docs.dispatch(doc, rev, None, frame)
    }

    /// Every `(room, session)` membership held here, to renew their presence leases.
    pub fn memberships(&self) -> Vec<(String, String)> {
        self.rooms
            .by_name
            .iter()
            .flat_map(|(room, ls)| ls.iter().map(move |l| (room.clone(), l.session.clone())))
            .collect()
    }

    /// The sessions attached here and their connections, to renew their leases.
    pub fn sessions(&self) -> Vec<(ConnId, String)> {
        self.sessions
            .iter()
            .map(|(conn, id)| (*conn, id.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &'static str) -> Utf8Bytes {
        Utf8Bytes::from_static(text)
    }

    #[test]
    fn a_pending_member_gets_only_what_its_join_did_not_cover() {
        let mut local = Local::default();
        local.joining("r", 1, "s1");
        local.joining("r", 2, "s2");
        assert_eq!(local.joined("r", 1, 0), Vec::<Utf8Bytes>::new());
        // s2 is still pending: it keeps events 5 and 6, s1 gets them now.
        assert_eq!(local.room_event("r", 5, None, &frame("five")), vec![1]);
        assert_eq!(
            local.room_event("r", 6, Some("s1"), &frame("six")),
            Vec::<ConnId>::new()
        );
        // Its join read the room at event 5.
        assert_eq!(local.joined("r", 2, 5), vec![frame("six")]);
        assert_eq!(local.room_event("r", 7, None, &frame("seven")), vec![1, 2]);
        assert_eq!(local.room_progress("r"), 7);
        local.leave("r", 1);
        local.leave("r", 2);
        assert_eq!(
            local.room_progress("r"),
            0,
            "forgotten with the last listener"
        );
    }

    #[test]
    fn presence_changes_skip_the_member_they_are_about() {
        let mut local = Local::default();
        local.joining("r", 1, "s1");
        local.joined("r", 1, 0);
        local.joining("r", 2, "s2");
        local.joined("r", 2, 0);
        assert_eq!(
            local.room_event("r", 1, Some("s2"), &frame("join")),
            vec![1]
        );
    }

    #[test]
    fn a_connection_that_ends_leaves_everything() {
        let mut local = Local::default();
        local.attach(1, "s1");
        local.joining("a", 1, "s1");
        local.joining("b", 1, "s1");
        local.syncing("d", 1);
        local.synced("d", 1, 0);
        assert!(local.is_subscribed("d", 1));
        assert_eq!(local.sessions(), vec![(1, "s1".to_owned())]);
        let left = local.disconnect(1);
        assert_eq!(left.rooms, vec!["a".to_owned(), "b".to_owned()]);
        assert!(!local.is_subscribed("d", 1));
        assert!(local.sessions().is_empty());
        assert!(local.doc_event("d", 1, &frame("op")).is_empty());
    }

    #[test]
    fn doc_events_buffer_by_revision() {
        let mut local = Local::default();
        local.syncing("d", 1);
        local.doc_event("d", 3, &frame("three"));
        local.doc_event("d", 4, &frame("four"));
        assert_eq!(local.synced("d", 1, 3), vec![frame("four")]);
        assert_eq!(local.doc_event("d", 5, &frame("five")), vec![1]);
        assert!(local.unsync("d", 1));
        assert!(!local.unsync("d", 1));
    }
}
