//! Registry of live WebSocket connections: who is connected, how to send them frames and how to
//! end them. Connection tasks own their sockets; the hub only holds the handles to reach them, so
//! a stuck socket never blocks the hub. Sessions, rooms and notifications address connections
//! through it by connection number or by user; the in-memory engine delivers through it.

use crate::lock::Locked;
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, watch};

/// Frames queued for one connection before it counts as a slow consumer and is dropped.
pub const OUTBOUND_QUEUE: usize = 1024;

pub use crate::state::ConnId;

/// What the hub asks of a connection task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Run,
    /// Send a close frame with this code and reason, then finish.
    Close {
        code: u16,
        reason: String,
    },
    /// Stop at once: the socket is dropped without a close frame (browsers report 1006).
    Kill,
}

struct Entry {
    outbound: mpsc::Sender<Utf8Bytes>,
    control: watch::Sender<Control>,
    /// Set once the handshake succeeded; only welcomed connections receive frames.
    session: Option<String>,
    /// `hello.user` of a welcomed connection.
    user: Option<String>,
}

/// Counters reported by `/control/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubStats {
    /// Welcomed connections.
    pub open: usize,
    /// Connections still waiting for their `hello`.
    pub handshaking: usize,
    /// WebSocket upgrades accepted since start.
    pub accepted: u64,
}

pub struct Hub {
    conns: Mutex<HashMap<ConnId, Entry>>,
    next_id: AtomicU64,
    accepted: AtomicU64,
    /// Connection tasks still running (killed ones included until their socket is gone), so
    /// shutdown can wait for them.
    live: watch::Sender<usize>,
}

/// What a new connection task gets from [`Hub::register`].
pub struct Registration {
    pub membership: Membership,
    pub outbound: mpsc::Receiver<Utf8Bytes>,
    pub control: watch::Receiver<Control>,
}

/// Keeps a connection registered; dropping it (normal end, kill or panic) unregisters it.
pub struct Membership {
    hub: Arc<Hub>,
    id: ConnId,
}

impl Membership {
    pub fn id(&self) -> ConnId {
        self.id
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.lock().remove(&self.id);
        self.hub.live.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub {
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            accepted: AtomicU64::new(0),
            live: watch::Sender::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ConnId, Entry>> {
        self.conns.locked()
    }

    /// Registers a freshly upgraded socket.
    pub fn register(self: &Arc<Self>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let (outbound_tx, outbound_rx) = mpsc::channel(OUTBOUND_QUEUE);
        let (control_tx, control_rx) = watch::channel(Control::Run);
        self.lock().insert(
            id,
            Entry {
                outbound: outbound_tx,
                control: control_tx,
                session: None,
                user: None,
            },
        );
        self.live.send_modify(|n| *n += 1);
        Registration {
            membership: Membership {
                hub: Arc::clone(self),
                id,
            },
            outbound: outbound_rx,
            control: control_rx,
        }
    }

    /// Marks a connection as welcomed by `session` on behalf of `user`.
    pub fn welcome(&self, id: ConnId, session: &str, user: Option<&str>) {
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.session = Some(session.to_owned());
            entry.user = user.map(str::to_owned);
        }
    }

    /// Queues `frame` for every welcomed connection; returns how many got it.
    pub fn send_to_open(&self, frame: &Utf8Bytes) -> usize {
        self.send_where(frame, |_| true)
    }

    /// Queues `frame` for every welcomed connection of `user`; returns how many got it.
    pub fn send_to_user(&self, user: &str, frame: &Utf8Bytes) -> usize {
        self.send_where(frame, |entry| entry.user.as_deref() == Some(user))
    }

    /// Queues `frame` for one welcomed connection; false if it is gone (or was too slow).
    pub fn send_to(&self, id: ConnId, frame: &Utf8Bytes) -> bool {
        self.send_to_each([id], frame) == 1
    }

    /// Queues `frame` for each of `ids` that is a welcomed connection; returns how many got it.
    pub fn send_to_each(&self, ids: impl IntoIterator<Item = ConnId>, frame: &Utf8Bytes) -> usize {
        let mut conns = self.lock();
        let mut sent = 0;
        for id in ids {
            match conns.get(&id).map(|entry| offer(entry, frame)) {
                Some(Offer::Queued) => sent += 1,
                Some(Offer::Full) => drop_slow(&mut conns, id),
                Some(Offer::Skipped) | None => {}
            }
        }
        sent
    }

    fn send_where(&self, frame: &Utf8Bytes, select: impl Fn(&Entry) -> bool) -> usize {
        let mut conns = self.lock();
        let mut sent = 0;
        let mut slow = Vec::new();
        for (id, entry) in conns.iter().filter(|(_, e)| select(e)) {
            match offer(entry, frame) {
                Offer::Queued => sent += 1,
                Offer::Full => slow.push(*id),
                Offer::Skipped => {}
            }
        }
        for id in slow {
            drop_slow(&mut conns, id);
        }
        sent
    }

    /// Asks one connection to close with `code`; false if it is already gone.
    pub fn close(&self, id: ConnId, code: u16, reason: &str) -> bool {
        match self.lock().get(&id) {
            Some(entry) => {
                entry.control.send_replace(Control::Close {
                    code,
                    reason: reason.to_owned(),
                });
                true
            }
            None => false,
        }
    }

    /// Asks every welcomed connection of `user` to close with `code`; returns how many.
    pub fn close_user(&self, user: &str, code: u16, reason: &str) -> usize {
        let conns = self.lock();
        let mut closed = 0;
        for entry in conns
            .values()
            .filter(|e| e.session.is_some() && e.user.as_deref() == Some(user))
        {
            entry.control.send_replace(Control::Close {
                code,
                reason: reason.to_owned(),
            });
            closed += 1;
        }
        closed
    }

    /// Outbound queues of every welcomed connection, for senders that wait for room (with
    /// `send().await`) instead of dropping slow readers, such as the benchmark flood.
    pub fn open_outbounds(&self) -> Vec<mpsc::Sender<Utf8Bytes>> {
        self.lock()
            .values()
            .filter(|e| e.session.is_some())
            .map(|e| e.outbound.clone())
            .collect()
    }

    /// Drops every connection without a close frame; returns how many there were.
    pub fn drop_all(&self) -> usize {
        let drained: Vec<Entry> = self.lock().drain().map(|(_, entry)| entry).collect();
        for entry in &drained {
            entry.control.send_replace(Control::Kill);
        }
        drained.len()
    }

    /// Asks every connection to close with `code`; returns how many were asked.
    pub fn close_all(&self, code: u16, reason: &str) -> usize {
        let conns = self.lock();
        for entry in conns.values() {
            entry.control.send_replace(Control::Close {
                code,
                reason: reason.to_owned(),
            });
        }
        conns.len()
    }

    pub fn stats(&self) -> HubStats {
        let conns = self.lock();
        let open = conns.values().filter(|e| e.session.is_some()).count();
        HubStats {
            open,
            handshaking: conns.len() - open,
            accepted: self.accepted.load(Ordering::Relaxed),
        }
    }

    /// Resolves once no connection task is running.
    pub async fn wait_idle(&self) {
        let mut live = self.live.subscribe();
        // The hub owns the sender, so this cannot fail while `self` is borrowed.
        let _ = live.wait_for(|n| *n == 0).await;
    }
}

enum Offer {
    Queued,
    /// The connection's queue is full: it reads too slowly.
    Full,
    /// Not welcomed yet, or finishing (its membership removes the entry).
    Skipped,
}

fn offer(entry: &Entry, frame: &Utf8Bytes) -> Offer {
    if entry.session.is_none() {
        return Offer::Skipped;
    }
    match entry.outbound.try_send(frame.clone()) {
        Ok(()) => Offer::Queued,
        Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
        Err(mpsc::error::TrySendError::Closed(_)) => Offer::Skipped,
    }
}

/// Drops a connection whose queue is full rather than letting one slow reader grow memory
/// without bound.
fn drop_slow(conns: &mut HashMap<ConnId, Entry>, id: ConnId) {
    if let Some(entry) = conns.remove(&id) {
        tracing::warn!(conn = id, session = ?entry.session, "outbound queue full; dropping slow connection");
        entry.control.send_replace(Control::Kill);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_welcomed_connections_receive_frames() {
        let hub = Hub::new();
        let mut a = hub.register();
        let mut b = hub.register();
        hub.welcome(a.membership.id(), "s-1", None);
        let frame = Utf8Bytes::from_static("x");
        assert_eq!(hub.send_to_open(&frame), 1);
        assert_eq!(a.outbound.try_recv().ok(), Some(frame));
        assert!(b.outbound.try_recv().is_err());
        let stats = hub.stats();
        assert_eq!((stats.open, stats.handshaking, stats.accepted), (1, 1, 2));
    }

    #[tokio::test]
    async fn drop_all_kills_and_unregisters_at_once() {
        let hub = Hub::new();
        let a = hub.register();
        assert_eq!(hub.drop_all(), 1);
        assert_eq!(*a.control.borrow(), Control::Kill);
        assert_eq!(hub.stats().open + hub.stats().handshaking, 0);
        // The task is still live until its membership goes.
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), hub.wait_idle())
                .await
                .is_err()
        );
        drop(a);
        hub.wait_idle().await;
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_slow_connection() {
        let hub = Hub::new();
        let a = hub.register();
        hub.welcome(a.membership.id(), "s-1", None);
        let frame = Utf8Bytes::from_static("x");
        for _ in 0..OUTBOUND_QUEUE {
            assert_eq!(hub.send_to_open(&frame), 1);
        }
        assert_eq!(hub.send_to_open(&frame), 0);
        assert_eq!(*a.control.borrow(), Control::Kill);

        let b = hub.register();
        hub.welcome(b.membership.id(), "s-2", None);
        for _ in 0..OUTBOUND_QUEUE {
            assert!(hub.send_to(b.membership.id(), &frame));
        }
        assert!(!hub.send_to(b.membership.id(), &frame));
        assert_eq!(*b.control.borrow(), Control::Kill);
    }

    #[tokio::test]
    async fn frames_reach_one_connection_a_set_or_one_users_connections() {
        let hub = Hub::new();
        let mut a = hub.register();
        let mut b = hub.register();
        let mut c = hub.register();
        let pending = hub.register();
        hub.welcome(a.membership.id(), "s-1", Some("alice"));
        hub.welcome(b.membership.id(), "s-2", Some("alice"));
        hub.welcome(c.membership.id(), "s-3", Some("bob"));
        let frame = Utf8Bytes::from_static("x");
        assert_eq!(hub.send_to_user("alice", &frame), 2);
        assert_eq!(hub.send_to_user("carol", &frame), 0);
        assert!(hub.send_to(c.membership.id(), &frame));
        assert!(
            !hub.send_to(pending.membership.id(), &frame),
            "not welcomed"
        );
        assert!(!hub.send_to(999, &frame));
        let ids = [
            a.membership.id(),
            c.membership.id(),
            pending.membership.id(),
        ];
        assert_eq!(hub.send_to_each(ids, &frame), 2);
        let queued =
            |r: &mut Registration| std::iter::from_fn(|| r.outbound.try_recv().ok()).count();
        assert_eq!((queued(&mut a), queued(&mut b), queued(&mut c)), (2, 1, 2));
        assert!(hub.close(b.membership.id(), 4000, "bye"));
        assert!(matches!(
            *b.control.borrow(),
            Control::Close { code: 4000, .. }
        ));
        assert!(!hub.close(999, 4000, "bye"));
    }

    #[tokio::test]
    async fn close_all_reaches_handshaking_connections_too() {
        let hub = Hub::new();
        let a = hub.register();
        assert_eq!(hub.close_all(1001, "bye"), 1);
        assert_eq!(
            *a.control.borrow(),
            Control::Close {
                code: 1001,
                reason: "bye".into()
            }
        );
    }
}
