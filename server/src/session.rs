//! Sessions: what a client gets back when it reconnects with `hello.resume`. A session outlives
//! its connection for the configured TTL, has at most one live connection, and holds the
//! request de-duplication state so a re-sent request is not run twice.
//!
//! Resuming needs the session id, its token and the same `hello.user` (a client that switched
//! users gets a fresh session). A resume while the session's previous connection is still open
//! takes the session over: the caller closes the old connection (4000 "session resumed
//! elsewhere") and replies of running requests go to the new one.

use crate::dedup::{Dedup, Seen};
use crate::hub::ConnId;
use crate::lock::Locked;
use crate::random;
use axum::extract::ws::Utf8Bytes;
use resocket::protocol::Resume;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Every session the server still knows, by id.
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
    next: AtomicU64,
    ttl: Duration,
}

/// One session. Its id doubles as the member id in room presence.
pub struct Session {
    id: String,
    token: String,
    user: Option<String>,
    state: Mutex<State>,
}

struct State {
    /// The connection currently attached, if any.
    conn: Option<ConnId>,
    /// When the last connection went away; `None` while one is attached.
    detached_at: Option<Instant>,
    requests: Dedup<Utf8Bytes>,
}

/// The outcome of a `hello`.
pub struct Opened {
    pub session: Arc<Session>,
    pub resumed: bool,
    /// A still-open connection of the same session that the new one replaces.
    pub replaced: Option<ConnId>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            ttl,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.map.locked()
    }

    /// Attaches `conn` to the session `resume` names when it is still known, its token matches
    /// and it belongs to `user`; otherwise to a new session.
    pub fn open(&self, user: Option<&str>, resume: Option<&Resume>, conn: ConnId) -> Opened {
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, session| !session.expired(now, self.ttl));
        let known = resume.and_then(|r| {
            map.get(&r.session)
                .filter(|s| s.token == r.token && s.user.as_deref() == user)
        });
        if let Some(session) = known {
            let replaced = session.attach(conn);
            return Opened {
                session: Arc::clone(session),
                resumed: true,
                replaced,
            };
        }
        let id = format!("s-{}", self.next.fetch_add(1, Ordering::Relaxed));
        let session = Arc::new(Session {
            id: id.clone(),
            token: random::token(),
            user: user.map(str::to_owned),
            state: Mutex::new(State {
                conn: Some(conn),
                detached_at: None,
                requests: Dedup::default(),
            }),
        });
        map.insert(id, Arc::clone(&session));
        Opened {
            session,
            resumed: false,
            replaced: None,
        }
    }

    /// Sessions that can still be resumed (attached, or detached for less than the TTL).
    pub fn count(&self) -> usize {
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, session| !session.expired(now, self.ttl));
        map.len()
    }
}

impl Session {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.locked()
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Makes `conn` the session's connection; returns the one it replaces, if any.
    fn attach(&self, conn: ConnId) -> Option<ConnId> {
        let mut state = self.lock();
        state.detached_at = None;
        state.conn.replace(conn).filter(|old| *old != conn)
    }

    /// `conn` ended: the TTL starts, unless another connection has taken the session over.
    pub fn detach(&self, conn: ConnId) {
        let mut state = self.lock();
        if state.conn == Some(conn) {
            state.conn = None;
            state.detached_at = Some(Instant::now());
        }
    }

    fn expired(&self, now: Instant, ttl: Duration) -> bool {
        let state = self.lock();
        match state.detached_at {
            Some(since) if state.conn.is_none() => now.saturating_duration_since(since) >= ttl,
            _ => false,
        }
    }

    /// The connection replies (and an anonymous session's order fills) should go to now.
    pub fn connection(&self) -> Option<ConnId> {
        self.lock().conn
    }

    /// Looks a request id up; a new one is marked running.
    pub fn begin_request(&self, id: u64) -> Seen<Utf8Bytes> {
        self.lock().requests.begin(id)
    }

    /// Caches a running request's reply and returns the connection to send it to, looked up in
    /// the same critical section so a concurrent resume cannot miss it.
    pub fn finish_request(&self, id: u64, reply: Utf8Bytes) -> Option<ConnId> {
        let mut state = self.lock();
        state.requests.finish(id, reply);
        state.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resume(session: &Session) -> Resume {
        Resume {
            session: session.id().to_owned(),
            token: session.token().to_owned(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_is_resumed_with_its_token_within_the_ttl() {
        let sessions = Sessions::new(Duration::from_millis(100));
        let first = sessions.open(Some("alice"), None, 1);
        assert!(!first.resumed);
        assert_eq!(first.session.id(), "s-1");
        assert_eq!(first.session.user(), Some("alice"));
        first.session.detach(1);
        tokio::time::advance(Duration::from_millis(99)).await;

        let again = sessions.open(Some("alice"), Some(&resume(&first.session)), 2);
        assert!(again.resumed);
        assert_eq!(again.replaced, None);
        assert_eq!(again.session.id(), "s-1");
        assert_eq!(again.session.connection(), Some(2));
        assert_eq!(sessions.count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wrong_token_another_user_or_an_expired_session_gets_a_new_one() {
        let sessions = Sessions::new(Duration::from_millis(100));
        let first = sessions.open(Some("alice"), None, 1);
        let mut forged = resume(&first.session);
        forged.token.push('x');
        let other = sessions.open(Some("alice"), Some(&forged), 2);
        assert!(!other.resumed);
        assert_eq!(other.session.id(), "s-2");
        let bob = sessions.open(Some("bob"), Some(&resume(&first.session)), 3);
        assert!(!bob.resumed);
        let unknown = Resume {
            session: "s-99".into(),
            token: "t".into(),
        };
        assert!(!sessions.open(None, Some(&unknown), 4).resumed);

        first.session.detach(1);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(sessions.count(), 3, "s-1 expired");
        let late = sessions.open(Some("alice"), Some(&resume(&first.session)), 5);
        assert!(!late.resumed);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attached_session_never_expires_and_a_resume_takes_it_over() {
        let sessions = Sessions::new(Duration::ZERO);
        let first = sessions.open(None, None, 1);
        tokio::time::advance(Duration::from_secs(60)).await;
        let second = sessions.open(None, Some(&resume(&first.session)), 2);
        assert!(second.resumed);
        assert_eq!(second.replaced, Some(1));
        // The old connection ending does not detach the new one.
        first.session.detach(1);
        assert_eq!(second.session.connection(), Some(2));
        assert_eq!(sessions.count(), 1);
        second.session.detach(2);
        assert_eq!(sessions.count(), 0, "a zero TTL forgets at once");
    }

    #[test]
    fn replies_go_to_the_current_connection() {
        let sessions = Sessions::new(Duration::from_secs(1));
        let opened = sessions.open(None, None, 1);
        let session = opened.session;
        assert_eq!(session.begin_request(5), Seen::New);
        assert_eq!(session.begin_request(5), Seen::Running);
        session.detach(1);
        let reply = Utf8Bytes::from_static("r");
        assert_eq!(session.finish_request(5, reply.clone()), None);
        assert_eq!(session.begin_request(5), Seen::Done(reply));
    }
}
