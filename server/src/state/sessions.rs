//! Sessions: what a client gets back when it reconnects with `hello.resume`. A session outlives
//! its connection for the configured TTL, has at most one live connection, and holds the
//! request de-duplication state so a re-sent request is not run twice. Plain data: the caller
//! passes the time and the new session's token.
//!
//! Resuming needs the session id, its token and the same `hello.user` (a client that switched
//! users gets a fresh session). A resume while the session's previous connection is still open
//! takes the session over: the caller closes the old connection (4409 "session resumed
//! elsewhere") and replies of running requests go to the new one.

use super::dedup::{Dedup, DedupLimits, Seen};
use super::delivery::ConnId;
use crate::auth::secrets_match;
use axum::extract::ws::Utf8Bytes;
use resocket::protocol::Resume;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

/// A session as its connection knows it. Its id doubles as the member id in room presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub token: String,
    pub user: Option<String>,
    /// The origin of this session's document ops (`welcome.origin`): random, kept on resume.
    pub origin: String,
}

impl Session {
    /// `conn` acting on behalf of this session.
    pub fn actor(&self, conn: ConnId) -> Actor {
        Actor {
            conn,
            session: self.id.clone(),
            user: self.user.clone(),
        }
    }
}

/// The connection acting, and its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub conn: ConnId,
    pub session: String,
    pub user: Option<String>,
}

/// The outcome of a `hello`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub session: Session,
    pub resumed: bool,
    /// A still-open connection of the same session that the new one replaces.
    pub replaced: Option<ConnId>,
}

/// What a new session gets: its resume token and its document-op origin, both from the CSPRNG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fresh {
    pub token: String,
    pub origin: String,
}

impl Fresh {
    /// A fresh token and origin from the OS CSPRNG. The origin (`o-` and 128 random bits) can
    /// never be [`SERVER_ORIGIN`](super::docs::SERVER_ORIGIN), nor guessed by another client.
    pub fn random() -> Fresh {
        let secret = crate::auth::new_secret();
        let origin = format!("o-{}", secret.get(..32).unwrap_or(&secret));
        Fresh {
            token: crate::auth::new_secret(),
            origin,
        }
    }
}

/// Every session the server still knows, by id.
#[derive(Debug)]
pub struct Sessions {
    by_id: HashMap<String, Entry>,
    /// Detached sessions by the moment they expire, soonest first, so forgetting the expired
    /// ones costs O(expired), not O(sessions). At most one item per session (`Entry::queued`),
    /// however often it is resumed and detached: checked lazily, an item whose session was
    /// resumed since is dropped when it comes up, and one detached again since is put back
    /// with the later deadline.
    deadlines: BinaryHeap<Reverse<(Instant, String)>>,
    /// Bytes held by detached sessions ([`Entry::held_bytes`]), and the most they may hold:
    /// beyond it the longest-detached are forgotten (their resume starts a new session, which
    /// the client reports as lost).
    detached_bytes: usize,
    detached_budget: usize,
    /// Detached sessions forgotten for the budget before their TTL ran out.
    evicted: u64,
    /// Bytes of the reply caches of every session, attached or not, and the most they may hold:
    /// beyond it the largest caches give up their oldest replies first, so a client that fills
    /// its own caches shrinks them before anyone else's. Each session keeps its newest reply.
    reply_bytes: usize,
    reply_budget: usize,
    /// Sessions with cached replies by their cached bytes, largest last.
    reply_holders: BTreeSet<(usize, String)>,
    /// Number of the last session opened.
    opened: u64,
    ttl: Duration,
    /// The bounds of each session's request de-duplication.
    dedup: DedupLimits,
}

#[derive(Debug)]
struct Entry {
    token: String,
    user: Option<String>,
    origin: String,
    /// The connection currently attached, if any.
    conn: Option<ConnId>,
    /// When the last connection went away; `None` while one is attached.
    detached_at: Option<Instant>,
    /// Whether `Sessions::deadlines` holds an item for this session.
    queued: bool,
    requests: Dedup<Utf8Bytes>,
}

/// What a session costs besides its reply cache, counted against the detached budget (the map
/// entry, its id, token, origin and user), so empty sessions are bounded too.
pub const SESSION_OVERHEAD_BYTES: usize = 512;

impl Entry {
    fn held_bytes(&self) -> usize {
        SESSION_OVERHEAD_BYTES + self.requests.cached_bytes()
    }

    /// When this session expires: `None` while a connection is attached (or for a TTL too long
    /// to add to an instant, which never expires).
    fn deadline(&self, ttl: Duration) -> Option<Instant> {
        match self.detached_at {
            Some(since) if self.conn.is_none() => since.checked_add(ttl),
            _ => None,
        }
    }
}

impl Sessions {
    /// `ttl`: how long a session without a connection can still be resumed.
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            by_id: HashMap::new(),
            deadlines: BinaryHeap::new(),
            detached_bytes: 0,
            detached_budget: usize::MAX,
            evicted: 0,
            reply_bytes: 0,
            reply_budget: usize::MAX,
            reply_holders: BTreeSet::new(),
            opened: 0,
            ttl,
            dedup: DedupLimits::default(),
        }
    }

    /// Sessions opened from now on de-duplicate requests within `limits`.
    pub fn set_dedup_limits(&mut self, limits: DedupLimits) {
        self.dedup = limits;
    }

    /// Detached sessions hold at most `bytes` ([`Entry::held_bytes`]).
    pub fn set_detached_budget(&mut self, bytes: usize) {
        self.detached_budget = bytes;
    }

    /// The reply caches of all sessions hold at most `bytes` (besides each one's newest reply).
    pub fn set_reply_budget(&mut self, bytes: usize) {
        self.reply_budget = bytes;
    }

    /// Detached sessions forgotten for the budget so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Bytes held by the reply caches of all sessions.
    #[cfg(test)]
    fn reply_bytes(&self) -> usize {
        self.reply_bytes
    }

    /// Books a change of session `id`'s cached reply bytes from `before` to `after`.
    fn track_replies(&mut self, id: &str, before: usize, after: usize) {
        if before == after {
            return;
        }
        if before > 0 {
            self.reply_holders.remove(&(before, id.to_owned()));
        }
        if after > 0 {
            self.reply_holders.insert((after, id.to_owned()));
        }
        self.reply_bytes = (self.reply_bytes + after).saturating_sub(before);
    }

    /// Removes session `id`, unbooking its replies.
    fn remove(&mut self, id: &str) -> Option<Entry> {
        let entry = self.by_id.remove(id)?;
        self.track_replies(id, entry.requests.cached_bytes(), 0);
        Some(entry)
    }

    /// Takes the oldest reply of the largest caches until all fit the reply budget. A cache down
    /// to its newest reply gives nothing; at most a few are tried per call, so a budget smaller
    /// than the sessions' newest replies costs O(log n) per reply, not a scan.
    fn fit_reply_budget(&mut self) {
        const TRIES: usize = 8;
        let mut tried = 0;
        while self.reply_bytes > self.reply_budget && tried < TRIES {
            let Some((held, id)) = self.reply_holders.iter().rev().nth(tried).cloned() else {
                return;
            };
            let Some(entry) = self.by_id.get_mut(&id) else {
                return;
            };
            if !entry.requests.evict_oldest() {
                tried += 1;
                continue;
            }
            let after = entry.requests.cached_bytes();
            if entry.conn.is_none() {
                self.detached_bytes = self.detached_bytes.saturating_sub(held - after);
            }
            self.track_replies(&id, held, after);
        }
    }

    /// Forgets the longest-detached sessions until the detached ones fit their budget. The
    /// deadline heap orders them by when they detached (one TTL later), so this costs
    /// O(forgotten); items of sessions attached again are dropped on the way.
    fn fit_detached_budget(&mut self) {
        while self.detached_bytes > self.detached_budget {
            let Some(Reverse((_, id))) = self.deadlines.pop() else {
                break;
            };
            let Some(entry) = self.by_id.get_mut(&id) else {
                continue;
            };
            if entry.conn.is_some() {
                entry.queued = false;
            } else if let Some(entry) = self.remove(&id) {
                self.detached_bytes = self.detached_bytes.saturating_sub(entry.held_bytes());
                self.evicted += 1;
            }
        }
    }

    /// Forgets the sessions expired at `now`; returns how many deadlines it looked at (those
    /// due, never the ones still ahead).
    fn forget_expired(&mut self, now: Instant) -> usize {
        let mut visited = 0;
        while let Some(Reverse((deadline, _))) = self.deadlines.peek() {
            if *deadline > now {
                break;
            }
            let Some(Reverse((_, id))) = self.deadlines.pop() else {
                break;
            };
            visited += 1;
            let Some(entry) = self.by_id.get_mut(&id) else {
                continue;
            };
            match entry.deadline(self.ttl) {
                Some(deadline) if deadline <= now => {
                    let held = entry.held_bytes();
                    self.remove(&id);
                    self.detached_bytes = self.detached_bytes.saturating_sub(held);
                }
                // Detached again after this item was queued: it waits for the later deadline.
                Some(deadline) => self.deadlines.push(Reverse((deadline, id))),
                None => entry.queued = false,
            }
        }
        visited
    }

    /// Attaches `conn` to the session `resume` names when it is still known, its token matches
    /// and it belongs to `user`; otherwise to a new session with `fresh`'s token and origin.
    pub fn open(
        &mut self,
        now: Instant,
        user: Option<&str>,
        resume: Option<&Resume>,
        conn: ConnId,
        fresh: Fresh,
    ) -> Opened {
        let Fresh {
            token: new_token,
            origin: new_origin,
        } = fresh;
        self.forget_expired(now);
        let known = resume.and_then(|r| {
            let entry = self.by_id.get_mut(&r.session)?;
            // Constant time: the comparison must not tell how much of a guess was right.
            (secrets_match(&entry.token, &r.token) && entry.user.as_deref() == user)
                .then_some((r, entry))
        });
        if let Some((resume, entry)) = known {
            if entry.conn.is_none() {
                self.detached_bytes = self.detached_bytes.saturating_sub(entry.held_bytes());
            }
            entry.detached_at = None;
            let replaced = entry.conn.replace(conn).filter(|old| *old != conn);
            // Rotated on every resume: a token seen once (a log, a stolen frame) resumes nothing.
            entry.token = new_token;
            return Opened {
                session: Session {
                    id: resume.session.clone(),
                    token: entry.token.clone(),
                    user: entry.user.clone(),
                    origin: entry.origin.clone(),
                },
                resumed: true,
                replaced,
            };
        }
        self.opened += 1;
        let id = format!("s-{}", self.opened);
        let user = user.map(str::to_owned);
        self.by_id.insert(
            id.clone(),
            Entry {
                token: new_token.clone(),
                user: user.clone(),
                origin: new_origin.clone(),
                conn: Some(conn),
                detached_at: None,
                queued: false,
                requests: Dedup::new(self.dedup),
            },
        );
        Opened {
            session: Session {
                id,
                token: new_token,
                user,
                origin: new_origin,
            },
            resumed: false,
            replaced: None,
        }
    }

    /// `conn` ended: the TTL starts, unless another connection has taken the session over.
    pub fn detach(&mut self, now: Instant, session: &str, conn: ConnId) {
        if let Some(entry) = self.by_id.get_mut(session) {
            if entry.conn == Some(conn) {
                entry.conn = None;
                entry.detached_at = Some(now);
                self.detached_bytes += entry.held_bytes();
                if !entry.queued {
                    if let Some(deadline) = entry.deadline(self.ttl) {
                        entry.queued = true;
                        self.deadlines.push(Reverse((deadline, session.to_owned())));
                    }
                }
                self.fit_detached_budget();
            }
        }
    }

    /// Sessions that can still be resumed (attached, or detached for less than the TTL).
    pub fn count(&mut self, now: Instant) -> usize {
        self.forget_expired(now);
        self.by_id.len()
    }

    /// The connection replies (and an anonymous session's order fills) should go to now.
    pub fn connection(&self, session: &str) -> Option<ConnId> {
        self.by_id.get(session)?.conn
    }

    /// Looks a request id up; a new one is marked running. A session that expired while an
    /// old connection of it was still closing runs requests without de-duplication.
    pub fn begin_request(&mut self, session: &str, id: u64) -> Seen<Utf8Bytes> {
        match self.by_id.get_mut(session) {
            Some(entry) => entry.requests.begin(id),
            None => Seen::New,
        }
    }

    /// Caches a running request's reply (one that finishes after its connection ended counts
    /// against the detached budget).
    pub fn finish_request(&mut self, session: &str, id: u64, reply: Utf8Bytes) {
        if let Some(entry) = self.by_id.get_mut(session) {
            let before = entry.requests.cached_bytes();
            entry.requests.finish(id, reply);
            let after = entry.requests.cached_bytes();
            if entry.conn.is_none() {
                self.detached_bytes = (self.detached_bytes + after).saturating_sub(before);
            }
            self.track_replies(session, before, after);
            self.fit_reply_budget();
            self.fit_detached_budget();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resume(session: &Session) -> Resume {
        Resume {
            session: session.id.clone(),
            token: session.token.clone(),
        }
    }

    fn fresh(token: &str) -> Fresh {
        Fresh {
            token: token.to_owned(),
            origin: format!("o-{token}"),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_session_is_resumed_with_its_token_within_the_ttl() {
        let mut sessions = Sessions::new(ms(100));
        let t0 = Instant::now();
        let first = sessions.open(t0, Some("alice"), None, 1, fresh("t1"));
        assert!(!first.resumed);
        assert_eq!(first.session.id, "s-1");
        assert_eq!(first.session.user.as_deref(), Some("alice"));
        sessions.detach(t0, "s-1", 1);

        let again = sessions.open(
            t0 + ms(99),
            Some("alice"),
            Some(&resume(&first.session)),
            2,
            fresh("t2"),
        );
        assert!(again.resumed);
        assert_eq!(again.replaced, None);
        assert_eq!(again.session.id, first.session.id);
        assert_eq!(again.session.token, "t2", "rotated on resume");
        assert_eq!(
            again.session.origin, "o-t1",
            "a resumed session keeps its origin"
        );
        // The old token no longer resumes it.
        sessions.detach(t0 + ms(99), "s-1", 2);
        let stale = sessions.open(
            t0 + ms(100),
            Some("alice"),
            Some(&resume(&first.session)),
            3,
            fresh("t3"),
        );
        assert!(!stale.resumed);
        sessions.detach(t0 + ms(100), &stale.session.id, 3);
        let again = sessions.open(
            t0 + ms(101),
            Some("alice"),
            Some(&resume(&again.session)),
            2,
            fresh("t4"),
        );
        assert!(again.resumed);
        assert_eq!(sessions.connection("s-1"), Some(2));
        assert_eq!(
            sessions.count(t0 + ms(101)),
            2,
            "s-1 and the stale attempt's new session"
        );
    }

    #[test]
    fn a_wrong_token_another_user_or_an_expired_session_gets_a_new_one() {
        let mut sessions = Sessions::new(ms(100));
        let t0 = Instant::now();
        let first = sessions.open(t0, Some("alice"), None, 1, fresh("t"));
        let mut forged = resume(&first.session);
        forged.token.push('x');
        let other = sessions.open(t0, Some("alice"), Some(&forged), 2, fresh("t"));
        assert!(!other.resumed);
        assert_eq!(other.session.id, "s-2");
        let bob = sessions.open(
            t0,
            Some("bob"),
            Some(&resume(&first.session)),
            3,
            fresh("t"),
        );
        assert!(!bob.resumed);
        let unknown = Resume {
            session: "s-99".into(),
            token: "t".into(),
        };
        assert!(
            !sessions
                .open(t0, None, Some(&unknown), 4, fresh("t"))
                .resumed
        );

        sessions.detach(t0, "s-1", 1);
        assert_eq!(sessions.count(t0 + ms(100)), 3, "s-1 expired");
        let late = sessions.open(
            t0 + ms(100),
            Some("alice"),
            Some(&resume(&first.session)),
            5,
            fresh("t"),
        );
        assert!(!late.resumed);
    }

    #[test]
    fn an_attached_session_never_expires_and_a_resume_takes_it_over() {
        let mut sessions = Sessions::new(Duration::ZERO);
        let t0 = Instant::now();
        let first = sessions.open(t0, None, None, 1, fresh("t"));
        let later = t0 + Duration::from_secs(60);
        let second = sessions.open(later, None, Some(&resume(&first.session)), 2, fresh("u"));
        assert!(second.resumed);
        assert_eq!(second.replaced, Some(1));
        // The old connection ending does not detach the new one.
        sessions.detach(later, "s-1", 1);
        assert_eq!(sessions.connection("s-1"), Some(2));
        assert_eq!(sessions.count(later), 1);
        sessions.detach(later, "s-1", 2);
        assert_eq!(sessions.count(later), 0, "a zero TTL forgets at once");
    }

    #[test]
    fn the_sweep_visits_only_the_deadlines_that_are_due() {
        let mut sessions = Sessions::new(ms(100));
        let t0 = Instant::now();
        for conn in 0..1000 {
            let opened = sessions.open(t0, None, None, conn, fresh("t"));
            sessions.detach(t0 + ms(conn % 10), &opened.session.id, conn);
        }
        assert_eq!(sessions.deadlines.len(), 1000);
        assert_eq!(sessions.forget_expired(t0 + ms(99)), 0, "none due yet");
        // A hello sweeps: only the 100 sessions detached at t0 are due at t0 + 100 ms.
        sessions.open(t0 + ms(100), None, None, 5000, fresh("t"));
        assert_eq!(sessions.deadlines.len(), 900);
        assert_eq!(sessions.count(t0 + ms(100)), 901);
        assert_eq!(sessions.forget_expired(t0 + ms(104)), 400);
        assert_eq!(sessions.count(t0 + ms(104)), 501);

        // A resumed session's deadline is dropped when it comes up, without forgetting it.
        let resume = Resume {
            session: "s-1000".into(),
            token: "t".into(),
        };
        // (This hello also forgets the 100 due at t0 + 105 ms.)
        assert!(
            sessions
                .open(t0 + ms(105), None, Some(&resume), 6000, fresh("u"))
                .resumed
        );
        assert_eq!(sessions.forget_expired(t0 + ms(109)), 400);
        assert_eq!(
            sessions.count(t0 + ms(109)),
            2,
            "the resumed one and the hello"
        );
        assert!(sessions.deadlines.is_empty());
    }

    #[test]
    fn a_session_detached_again_and_again_holds_one_deadline() {
        let mut sessions = Sessions::new(ms(100));
        let t0 = Instant::now();
        let opened = sessions.open(t0, None, None, 0, fresh("t"));
        let mut token = opened.session.token;
        sessions.detach(t0, &opened.session.id, 0);
        // A hostile client resuming and dropping in a loop queues no more than one item.
        for conn in 1..1000 {
            let resume = Resume {
                session: opened.session.id.clone(),
                token: token.clone(),
            };
            let now = t0 + ms(conn / 20);
            let resumed = sessions.open(now, None, Some(&resume), conn, fresh("t"));
            assert!(resumed.resumed);
            token = resumed.session.token;
            sessions.detach(now, &opened.session.id, conn);
        }
        assert_eq!(sessions.deadlines.len(), 1);
        // Detached last at t0 + 49 ms: the item due at t0 + 100 ms moves to t0 + 149 ms.
        assert_eq!(sessions.count(t0 + ms(148)), 1);
        assert_eq!(sessions.deadlines.len(), 1);
        assert_eq!(sessions.count(t0 + ms(149)), 0);
        assert!(sessions.deadlines.is_empty());
    }

    #[test]
    fn detached_sessions_beyond_their_byte_budget_are_forgotten_longest_detached_first() {
        let mut sessions = Sessions::new(Duration::from_secs(30));
        sessions.set_detached_budget(3 * SESSION_OVERHEAD_BYTES + 100);
        let t0 = Instant::now();
        let mut ids = Vec::new();
        for conn in 0..5 {
            let opened = sessions.open(t0, None, None, conn, fresh("t"));
            ids.push(opened.session.id.clone());
            sessions.detach(t0 + ms(conn), &opened.session.id, conn);
        }
        assert_eq!(sessions.evicted(), 2);
        assert_eq!(sessions.count(t0), 3, "the three detached last are kept");
        let resume = |id: &str| Resume {
            session: id.to_owned(),
            token: "t".into(),
        };
        assert!(
            !sessions
                .open(t0, None, Some(&resume(&ids[0])), 10, fresh("t"))
                .resumed
        );
        assert!(
            sessions
                .open(t0, None, Some(&resume(&ids[4])), 11, fresh("t"))
                .resumed
        );
        // Attached sessions do not count: the new one (10) and the resumed one (11).
        assert_eq!(sessions.detached_bytes, 2 * SESSION_OVERHEAD_BYTES);

        // A reply finished after its connection ended counts too: 200 bytes put the detached
        // ones over, and the longest-detached goes.
        sessions.detach(t0 + ms(10), &ids[4], 11);
        assert_eq!(sessions.evicted(), 2);
        assert_eq!(sessions.begin_request(&ids[4], 2), Seen::New);
        sessions.finish_request(&ids[4], 2, Utf8Bytes::from("x".repeat(200)));
        assert_eq!(sessions.evicted(), 3);
        assert!(
            !sessions
                .open(t0, None, Some(&resume(&ids[2])), 12, fresh("t"))
                .resumed
        );
        assert!(
            sessions
                .open(t0, None, Some(&resume(&ids[3])), 13, fresh("t"))
                .resumed
        );
    }

    /// Records `count` replies of `size` bytes as requests `first..` of `session`.
    fn reply_to(sessions: &mut Sessions, session: &str, first: u64, count: u64, size: usize) {
        for id in first..first + count {
            assert_eq!(sessions.begin_request(session, id), Seen::New);
            sessions.finish_request(session, id, Utf8Bytes::from("x".repeat(size)));
        }
    }

    #[test]
    fn the_reply_caches_of_all_sessions_fit_one_budget_largest_first() {
        let mut sessions = Sessions::new(Duration::from_secs(1));
        sessions.set_reply_budget(1000);
        let t0 = Instant::now();
        let honest = sessions.open(t0, None, None, 1, fresh("h")).session.id;
        let greedy = sessions.open(t0, None, None, 2, fresh("g")).session.id;
        let waiting = sessions.open(t0, None, None, 3, fresh("w")).session.id;
        reply_to(&mut sessions, &honest, 1, 2, 100);
        reply_to(&mut sessions, &waiting, 1, 2, 100);
        sessions.detach(t0, &waiting, 3);
        // The greedy session fills its cache far past the budget: its own replies go.
        reply_to(&mut sessions, &greedy, 1, 50, 100);
        assert!(sessions.reply_bytes() <= 1000, "{}", sessions.reply_bytes());
        for id in 1..=2 {
            assert!(matches!(sessions.begin_request(&honest, id), Seen::Done(_)));
            assert!(matches!(
                sessions.begin_request(&waiting, id),
                Seen::Done(_)
            ));
        }
        assert_eq!(sessions.begin_request(&greedy, 1), Seen::Expired);
        assert!(matches!(sessions.begin_request(&greedy, 50), Seen::Done(_)));
        // A newest reply is kept whatever its size; the largest cache, now this one, makes room.
        reply_to(&mut sessions, &honest, 3, 1, 900);
        assert!(matches!(sessions.begin_request(&honest, 3), Seen::Done(_)));
        assert!(
            sessions.reply_bytes() <= 1000 + 900,
            "{}",
            sessions.reply_bytes()
        );
        // Forgotten sessions give their bytes back.
        sessions.detach(t0, &greedy, 2);
        sessions.detach(t0, &honest, 1);
        assert_eq!(sessions.count(t0 + Duration::from_secs(2)), 0);
        assert_eq!(sessions.reply_bytes(), 0);
        assert!(sessions.reply_holders.is_empty());
    }

    #[test]
    fn requests_are_deduplicated_per_session() {
        let mut sessions = Sessions::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let opened = sessions.open(t0, None, None, 1, fresh("t"));
        let id = opened.session.id.as_str();
        assert_eq!(sessions.begin_request(id, 5), Seen::New);
        assert_eq!(sessions.begin_request(id, 5), Seen::Running);
        sessions.detach(t0, id, 1);
        let reply = Utf8Bytes::from_static("r");
        sessions.finish_request(id, 5, reply.clone());
        assert_eq!(sessions.connection(id), None);
        assert_eq!(sessions.begin_request(id, 5), Seen::Done(reply));
        assert_eq!(
            sessions.begin_request("s-9", 5),
            Seen::New,
            "unknown: not recorded"
        );
        assert_eq!(sessions.begin_request("s-9", 5), Seen::New);
    }
}
