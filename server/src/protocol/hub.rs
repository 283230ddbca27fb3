//! Registry of live WebSocket connections: who is connected, how to send them frames and how to
//! end them. Connection tasks own their sockets; the hub only holds the handles to reach them, so
//! a stuck socket never blocks the hub. Sessions, rooms and notifications address connections
//! through it by connection number or by user; the in-memory engine delivers through it.

use crate::lock::{Locked, RwLocked};
use axum::extract::ws::Utf8Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::{watch, Notify};

/// Frames queued for one connection before it counts as a slow consumer and is dropped.
pub const OUTBOUND_QUEUE: usize = 1024;

/// Bytes queued for one connection before it counts as a slow consumer and is dropped
/// (`--max-outbound-bytes`). A frame is always taken into an empty queue, whatever its size.
pub const DEFAULT_OUTBOUND_BYTES: usize = 4 * 1024 * 1024;

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

/// Slots an emptied queue keeps (more, left by a burst, are freed).
const KEPT_SLOTS: usize = 16;

/// A connection's outbound queue, bounded in frames and in bytes. A plain deque behind a
/// mutex: it allocates nothing until a frame is queued, so an idle connection costs no slots
/// (a bounded channel allocates a block of them up front, about 1 KiB per connection).
struct Queue {
    state: Mutex<QueueState>,
    /// Wakes the receiver: a frame arrived, or the last sender left.
    arrived: Notify,
    /// Wakes senders waiting for a free slot: a frame was taken, or the receiver left.
    freed: Notify,
    /// Most frames held.
    capacity: usize,
}

#[derive(Default)]
struct QueueState {
    frames: VecDeque<Utf8Bytes>,
    bytes: usize,
    senders: usize,
    receiver_gone: bool,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, QueueState> {
        self.state.locked()
    }
}

/// The receiving end of a connection's outbound queue.
pub struct Outbound {
    queue: Arc<Queue>,
}

impl Outbound {
    /// The next frame; `None` once every sender is gone and nothing is left. Cancel-safe: a
    /// frame is only taken when it is returned.
    pub async fn recv(&mut self) -> Option<Utf8Bytes> {
        loop {
            let arrived = self.queue.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let mut state = self.queue.state();
                if let Some(frame) = take(&mut state) {
                    drop(state);
                    self.queue.freed.notify_one();
                    return Some(frame);
                }
                if state.senders == 0 {
                    return None;
                }
            }
            arrived.await;
        }
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Option<Utf8Bytes> {
        let frame = take(&mut self.queue.state())?;
        self.queue.freed.notify_one();
        Some(frame)
    }

    /// Bytes of the frames queued now.
    pub fn queued_bytes(&self) -> usize {
        self.queue.state().bytes
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        self.queue.state().receiver_gone = true;
        self.queue.freed.notify_waiters();
    }
}

fn take(state: &mut QueueState) -> Option<Utf8Bytes> {
    let frame = state.frames.pop_front()?;
    state.bytes -= frame.len();
    if state.frames.is_empty() && state.frames.capacity() > KEPT_SLOTS {
        // A burst's slots are given back once it is written; a few stay for steady traffic.
        state.frames = VecDeque::new();
    }
    Some(frame)
}

/// The sending end of a connection's outbound queue.
pub struct OutboundSender {
    queue: Arc<Queue>,
}

impl Clone for OutboundSender {
    fn clone(&self) -> Self {
        self.queue.state().senders += 1;
        OutboundSender {
            queue: Arc::clone(&self.queue),
        }
    }
}

impl Drop for OutboundSender {
    fn drop(&mut self) {
        let last = {
            let mut state = self.queue.state();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.queue.arrived.notify_one();
        }
    }
}

impl OutboundSender {
    /// Queues `frame`, waiting for a free slot instead of counting the connection as slow;
    /// its bytes count like any other frame's. `Err` once the connection is gone.
    pub async fn send(&self, frame: Utf8Bytes) -> Result<(), Utf8Bytes> {
        loop {
            let freed = self.queue.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut state = self.queue.state();
                if state.receiver_gone {
                    return Err(frame);
                }
                if state.frames.len() < self.queue.capacity {
                    state.bytes += frame.len();
                    state.frames.push_back(frame);
                    drop(state);
                    self.queue.arrived.notify_one();
                    return Ok(());
                }
            }
            freed.await;
        }
    }

    /// Queues `frame` if the queue has a free slot and room for its bytes (an empty queue
    /// takes any frame). O(1): a refcount under a short lock, whatever the frame's size.
    fn offer(&self, frame: &Utf8Bytes, max_bytes: usize) -> Offer {
        {
            let mut state = self.queue.state();
            if state.receiver_gone {
                return Offer::Skipped;
            }
            let over_bytes = state.bytes > 0 && state.bytes.saturating_add(frame.len()) > max_bytes;
            if over_bytes || state.frames.len() >= self.queue.capacity {
                return Offer::Full;
            }
            state.bytes += frame.len();
            state.frames.push_back(frame.clone());
        }
        self.queue.arrived.notify_one();
        Offer::Queued
    }
}

/// A queue of `capacity` frames and its two ends.
fn outbound_queue(capacity: usize) -> (OutboundSender, Outbound) {
    let queue = Arc::new(Queue {
        state: Mutex::new(QueueState {
            senders: 1,
            ..QueueState::default()
        }),
        arrived: Notify::new(),
        freed: Notify::new(),
        capacity,
    });
    let sender = OutboundSender {
        queue: Arc::clone(&queue),
    };
    (sender, Outbound { queue })
}

struct Entry {
    outbound: OutboundSender,
    control: watch::Sender<Control>,
    /// Set once the handshake succeeded; only welcomed connections receive frames.
    session: Option<String>,
    /// `hello.user` of a welcomed connection.
    user: Option<String>,
    /// Set when it was found too slow: from then on it gets nothing, so a frame refused for
    /// want of room is never followed by a later one (no gap), even before it is removed.
    slow: AtomicBool,
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

/// The hub's lock is a read-write lock: deliveries only read the map (queueing a frame is a
/// refcount and a few atomics per recipient), so the engine's shards deliver side by side;
/// registering, welcoming and removing connections write.
pub struct Hub {
    conns: RwLock<HashMap<ConnId, Entry>>,
    next_id: AtomicU64,
    accepted: AtomicU64,
    /// Bytes a connection's queue may hold before it counts as slow.
    max_queue_bytes: usize,
    /// Connection tasks still running (killed ones included until their socket is gone), so
    /// shutdown can wait for them.
    live: watch::Sender<usize>,
}

/// What a new connection task gets from [`Hub::register`].
pub struct Registration {
    pub membership: Membership,
    pub outbound: Outbound,
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
        self.hub.write().remove(&self.id);
        self.hub.live.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Hub {
    /// A hub whose connections may queue [`DEFAULT_OUTBOUND_BYTES`].
    pub fn new() -> Arc<Hub> {
        Hub::with_queue_bytes(DEFAULT_OUTBOUND_BYTES)
    }

    /// A hub whose connections may queue `max_queue_bytes` (and [`OUTBOUND_QUEUE`] frames)
    /// before they count as slow consumers.
    pub fn with_queue_bytes(max_queue_bytes: usize) -> Arc<Hub> {
        Arc::new(Hub {
            conns: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            accepted: AtomicU64::new(0),
            max_queue_bytes,
            live: watch::Sender::new(0),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<ConnId, Entry>> {
        self.conns.read_locked()
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<ConnId, Entry>> {
        self.conns.write_locked()
    }

    /// Registers a freshly upgraded socket.
    pub fn register(self: &Arc<Self>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let (sender, outbound) = outbound_queue(OUTBOUND_QUEUE);
        let (control_tx, control_rx) = watch::channel(Control::Run);
        self.write().insert(
            id,
            Entry {
                outbound: sender,
                control: control_tx,
                session: None,
                user: None,
                slow: AtomicBool::new(false),
            },
        );
        self.live.send_modify(|n| *n += 1);
        Registration {
            membership: Membership {
                hub: Arc::clone(self),
                id,
            },
            outbound,
            control: control_rx,
        }
    }

    /// Marks a connection as welcomed by `session` on behalf of `user`.
    pub fn welcome(&self, id: ConnId, session: &str, user: Option<&str>) {
        if let Some(entry) = self.write().get_mut(&id) {
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
        let mut sent = 0;
        let mut slow = Vec::new();
        {
            let conns = self.read();
            for id in ids {
                if let Some(entry) = conns.get(&id) {
                    self.deliver(id, entry, frame, &mut sent, &mut slow);
                }
            }
        }
        self.remove_slow(slow);
        sent
    }

    fn send_where(&self, frame: &Utf8Bytes, select: impl Fn(&Entry) -> bool) -> usize {
        let mut sent = 0;
        let mut slow = Vec::new();
        {
            let conns = self.read();
            for (id, entry) in conns.iter().filter(|(_, e)| select(e)) {
                self.deliver(*id, entry, frame, &mut sent, &mut slow);
            }
        }
        self.remove_slow(slow);
        sent
    }

    /// Offers `frame` to one connection; a slow one is killed at once (under the read lock)
    /// and noted for removal.
    fn deliver(
        &self,
        id: ConnId,
        entry: &Entry,
        frame: &Utf8Bytes,
        sent: &mut usize,
        slow: &mut Vec<ConnId>,
    ) {
        if entry.session.is_none() || entry.slow.load(Ordering::Acquire) {
            return;
        }
        match entry.outbound.offer(frame, self.max_queue_bytes) {
            Offer::Queued => *sent += 1,
            Offer::Full => {
                if !entry.slow.swap(true, Ordering::AcqRel) {
                    tracing::warn!(conn = id, session = ?entry.session, "outbound queue full; dropping slow connection");
                    entry.control.send_replace(Control::Kill);
                    slow.push(id);
                }
            }
            Offer::Skipped => {}
        }
    }

    /// Unregisters connections found too slow (already killed), rather than letting one slow
    /// reader grow memory without bound.
    fn remove_slow(&self, slow: Vec<ConnId>) {
        if slow.is_empty() {
            return;
        }
        let mut conns = self.write();
        for id in slow {
            conns.remove(&id);
        }
    }

    /// Asks one connection to close with `code`; false if it is already gone.
    pub fn close(&self, id: ConnId, code: u16, reason: &str) -> bool {
        match self.read().get(&id) {
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
        let conns = self.read();
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
    pub fn open_outbounds(&self) -> Vec<OutboundSender> {
        self.read()
            .values()
            .filter(|e| e.session.is_some())
            .map(|e| e.outbound.clone())
            .collect()
    }

    /// Drops every connection without a close frame; returns how many there were.
    pub fn drop_all(&self) -> usize {
        let drained: Vec<Entry> = self.write().drain().map(|(_, entry)| entry).collect();
        for entry in &drained {
            entry.control.send_replace(Control::Kill);
        }
        drained.len()
    }

    /// Asks every connection to close with `code`; returns how many were asked.
    pub fn close_all(&self, code: u16, reason: &str) -> usize {
        let conns = self.read();
        for entry in conns.values() {
            entry.control.send_replace(Control::Close {
                code,
                reason: reason.to_owned(),
            });
        }
        conns.len()
    }

    pub fn stats(&self) -> HubStats {
        let conns = self.read();
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
    /// The connection's queue is full, in frames or in bytes: it reads too slowly.
    Full,
    /// Finishing (its membership removes the entry).
    Skipped,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_queue_holds_no_slots_idle_and_its_ends_see_each_other_leave() {
        let (sender, mut outbound) = outbound_queue(2);
        assert_eq!(
            outbound.queue.state().frames.capacity(),
            0,
            "nothing allocated idle"
        );
        let frame = Utf8Bytes::from_static("x");
        sender.send(frame.clone()).await.expect("room");
        sender.send(frame.clone()).await.expect("room");
        // Full: a send waits for a slot, which the receiver frees.
        let waiting = {
            let sender = sender.clone();
            let frame = frame.clone();
            tokio::spawn(async move { sender.send(frame).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "waits for a free slot");
        assert_eq!(outbound.recv().await, Some(frame.clone()));
        let sent = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(sent, Ok(Ok(Ok(())))), "{sent:?}");
        assert_eq!(outbound.queued_bytes(), 2);
        // The last sender gone: what is left is read, then the end.
        drop(sender);
        assert_eq!(outbound.recv().await, Some(frame.clone()));
        assert_eq!(outbound.recv().await, Some(frame.clone()));
        assert_eq!(outbound.recv().await, None);
        // The receiver gone: a sender waiting for a slot gets its frame back.
        let (sender, outbound) = outbound_queue(1);
        sender.send(frame.clone()).await.expect("room");
        let waiting = tokio::spawn(async move { sender.send(Utf8Bytes::from_static("y")).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(outbound);
        let sent = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(sent, Ok(Ok(Err(_)))), "{sent:?}");
    }

    #[tokio::test]
    async fn only_welcomed_connections_receive_frames() {
        let hub = Hub::new();
        let mut a = hub.register();
        let mut b = hub.register();
        hub.welcome(a.membership.id(), "s-1", None);
        let frame = Utf8Bytes::from_static("x");
        assert_eq!(hub.send_to_open(&frame), 1);
        assert_eq!(a.outbound.try_recv(), Some(frame));
        assert!(b.outbound.try_recv().is_none());
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
    async fn a_queue_over_its_bytes_drops_the_slow_connection_and_nothing_after() {
        let hub = Hub::with_queue_bytes(10);
        let mut a = hub.register();
        let mut b = hub.register();
        hub.welcome(a.membership.id(), "s-1", None);
        hub.welcome(b.membership.id(), "s-2", None);
        let four = Utf8Bytes::from_static("abcd");
        assert_eq!(hub.send_to_open(&four), 2);
        assert_eq!(hub.send_to_open(&four), 2);
        assert_eq!(a.outbound.queued_bytes(), 8);
        // b reads; a does not.
        assert_eq!(b.outbound.try_recv(), Some(four.clone()));
        assert_eq!(b.outbound.try_recv(), Some(four.clone()));
        assert_eq!(b.outbound.queued_bytes(), 0);
        assert_eq!(hub.send_to_open(&four), 1, "12 bytes: a is over");
        assert_eq!(*a.control.borrow(), Control::Kill);
        assert_eq!(*b.control.borrow(), Control::Run);
        // Room again in a's queue, yet it gets nothing more: no frame after a gap.
        assert!(a.outbound.try_recv().is_some());
        assert!(a.outbound.try_recv().is_some());
        assert!(!hub.send_to(a.membership.id(), &Utf8Bytes::from_static("x")));
        assert_eq!(hub.stats().open, 1, "a is unregistered");

        // An empty queue takes a frame over the budget, and then nothing until it drains.
        assert_eq!(b.outbound.try_recv(), Some(four.clone()));
        let big = Utf8Bytes::from(String::from("x").repeat(64));
        assert!(hub.send_to(b.membership.id(), &big));
        assert_eq!(b.outbound.queued_bytes(), 64);
        assert!(!hub.send_to(b.membership.id(), &four), "68 bytes");
        assert_eq!(*b.control.borrow(), Control::Kill);
        assert_eq!(b.outbound.recv().await, Some(big));
        assert_eq!(b.outbound.queued_bytes(), 0);
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
        let queued = |r: &mut Registration| std::iter::from_fn(|| r.outbound.try_recv()).count();
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
