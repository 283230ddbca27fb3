//! Where the Redis engine keeps each thing. Every key starts with the configured prefix (so
//! several deployments, or test runs, can share one Redis), then the kind of thing, then its
//! name: the kind comes before the name, so no name can make one key look like another's.

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    /// The pub/sub channel every node listens on.
    pub fn bus(&self) -> String {
        format!("{}bus", self.prefix)
    }

    /// A room's hash: `epoch`, `seq` (latest), `evt` (bus events published), `joins`.
    pub fn room(&self, room: &str) -> String {
        self.key("room", room)
    }

    /// A room's history: a stream whose entry ids are the sequence numbers (`<seq>-0`).
    pub fn room_log(&self, room: &str) -> String {
        self.key("room-log", room)
    }

    /// A room's members: session id → member record (see `scripts`).
    pub fn room_members(&self, room: &str) -> String {
        self.key("room-members", room)
    }

    /// Every room that exists (at most `--max-rooms`), scored by when it became empty (ms
    /// since the Unix epoch; `IN_USE` while it has members): the index of idle eviction. (Not
    /// `rooms`: that key was a set before, and a set cannot be read as a sorted set.)
    pub fn rooms_idle(&self) -> String {
        format!("{}rooms-idle", self.prefix)
    }

    /// Rooms with at least one member.
    pub fn active_rooms(&self) -> String {
        format!("{}rooms-active", self.prefix)
    }

    /// Presence leases: `<room>\0<session>` → when it runs out (ms since the Unix epoch).
    pub fn presence(&self) -> String {
        format!("{}presence", self.prefix)
    }

    /// A session's hash: `token`, `user`, `origin`, `node`, `conn`, `attached`, `running`.
    pub fn session(&self, id: &str) -> String {
        self.key("session", id)
    }

    /// A session's requests: id → `r` while running, `d<reply>` once finished.
    pub fn session_requests(&self, id: &str) -> String {
        self.key("session-requests", id)
    }

    /// A session's finished request ids, oldest first (to evict beyond `REPLY_CACHE`).
    pub fn session_finished(&self, id: &str) -> String {
        self.key("session-finished", id)
    }

    /// Session id → when its lease runs out, for the count.
    pub fn sessions(&self) -> String {
        format!("{}sessions", self.prefix)
    }

    /// A document's hash: `epoch`, `rev`, `ver` (writes), `body` (entries as JSON).
    pub fn doc(&self, doc: &str) -> String {
        self.key("doc", doc)
    }

    /// A document's op log: a stream whose entry ids are the revisions.
    pub fn doc_log(&self, doc: &str) -> String {
        self.key("doc-log", doc)
    }

    /// A document's recorded op outcomes: origin → JSON.
    pub fn doc_origins(&self, doc: &str) -> String {
        self.key("doc-origins", doc)
    }

    /// Every document that exists (at most `--max-docs`), scored by when it was last used (ms
    /// since the Unix epoch): its last op, or a lease ahead while a node has subscribers to it
    /// (renewed every third of a lease), so an unused document's score is in the past.
    pub fn docs_idle(&self) -> String {
        format!("{}docs-idle", self.prefix)
    }

    /// What a key of `kind` starts with: the Lua scripts that remove an idle room or document
    /// name its keys from it (see `scripts`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A node's liveness: exists while the node renews it (every third of a lease).
    pub fn node(&self, node: &str) -> String {
        self.key("node", node)
    }

    /// The `cseq` of the server's own ops.
    pub fn server_cseq(&self) -> String {
        format!("{}server-cseq", self.prefix)
    }
}

/// A presence lease's entry: the room and the member's session.
pub fn presence_entry(room: &str, session: &str) -> String {
    format!("{room}\0{session}")
}

/// The room and session of a presence lease's entry (session ids hold no NUL).
pub fn split_presence_entry(entry: &str) -> Option<(&str, &str)> {
    entry.rsplit_once('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_collide_across_kinds() {
        let keys = Keys::new("p:");
        assert_eq!(keys.room("a:log"), "p:room:a:log");
        assert_ne!(keys.room_log("a"), keys.room("a:log"));
        // The scripts name a room's and a document's keys as `prefix .. kind .. ':' .. name`.
        let p = keys.prefix();
        assert_eq!(keys.room_log("a"), format!("{p}room-log:a"));
        assert_eq!(keys.room_members("a"), format!("{p}room-members:a"));
        assert_eq!(keys.doc("a"), format!("{p}doc:a"));
        assert_eq!(keys.doc_log("a"), format!("{p}doc-log:a"));
        assert_eq!(keys.doc_origins("a"), format!("{p}doc-origins:a"));
        let entry = presence_entry("chat:\0x", "s-1");
        assert_eq!(split_presence_entry(&entry), Some(("chat:\0x", "s-1")));
    }
}
