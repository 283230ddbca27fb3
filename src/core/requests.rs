//! Request/response correlation: pending requests by id, their deadlines and what happens to
//! them when the connection drops (the per-request disconnect policy).

use super::vec_map::VecMap;

/// What happens to a request that is in flight when the connection drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectPolicy {
    /// Re-send it after the reconnect with the same id; the server runs it once per session.
    Retry,
    /// Settle it with a `Disconnected` error.
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestOptions {
    /// Time from the call to the reply, offline waiting included; `None` waits forever.
    pub timeout_ms: Option<u64>,
    pub on_disconnect: DisconnectPolicy,
}

impl Default for RequestOptions {
    fn default() -> Self {
        RequestOptions {
            timeout_ms: Some(30_000),
            on_disconnect: DisconnectPolicy::Retry,
        }
    }
}

#[derive(Debug)]
struct Pending<F> {
    /// Kept to re-send the request after a reconnect.
    frame: F,
    options: RequestOptions,
    deadline: Option<u64>,
    /// Handed to a socket and not yet answered.
    in_flight: bool,
    /// Ever handed to a socket: the server may have run it, so only the session that saw it
    /// may receive it again.
    sent: bool,
}

#[derive(Debug)]
pub(crate) struct Requests<F> {
    pending: VecMap<u64, Pending<F>>,
}

impl<F: Clone> Requests<F> {
    pub fn new() -> Self {
        Requests {
            pending: VecMap::new(),
        }
    }

    pub fn insert(&mut self, id: u64, frame: F, options: RequestOptions, now: u64) {
        let deadline = options.timeout_ms.map(|t| now.saturating_add(t));
        self.pending.insert(
            id,
            Pending {
                frame,
                options,
                deadline,
                in_flight: false,
                sent: false,
            },
        );
    }

    pub fn is_pending(&self, id: u64) -> bool {
        self.pending.contains_key(&id)
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn set_in_flight(&mut self, id: u64, in_flight: bool) {
        if let Some(p) = self.pending.get_mut(&id) {
            p.in_flight = in_flight;
            p.sent |= in_flight;
        }
    }

    /// Removes a request (answered, cancelled or timed out); false if it was not pending.
    pub fn remove(&mut self, id: u64) -> Option<RequestOptions> {
        self.pending.remove(&id).map(|p| p.options)
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.pending.values().filter_map(|p| p.deadline).min()
    }

    /// Removes and returns the requests whose deadline has passed, with their timeouts.
    pub fn take_expired(&mut self, now: u64) -> Vec<(u64, u64)> {
        let expired: Vec<(u64, u64)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline.is_some_and(|d| now >= d))
            .map(|(id, p)| (*id, p.options.timeout_ms.unwrap_or(0)))
            .collect();
        for (id, _) in &expired {
            self.pending.remove(id);
        }
        expired
    }

    /// Removes and returns the requests that were ever sent (a new session must not see them).
    pub fn take_sent(&mut self) -> Vec<u64> {
        let sent: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.sent)
            .map(|(id, _)| *id)
            .collect();
        for id in &sent {
            self.pending.remove(id);
        }
        sent
    }

    /// The connection dropped: in-flight requests either fail (returned first) or are to be
    /// re-sent, in id order (returned second).
    pub fn on_disconnect(&mut self) -> (Vec<u64>, Vec<(u64, F)>) {
        let mut failed = Vec::new();
        let mut resend = Vec::new();
        for (id, p) in self.pending.iter_mut().filter(|(_, p)| p.in_flight) {
            p.in_flight = false;
            match p.options.on_disconnect {
                DisconnectPolicy::Fail => failed.push(*id),
                DisconnectPolicy::Retry => resend.push((*id, p.frame.clone())),
            }
        }
        for id in &failed {
            self.pending.remove(id);
        }
        (failed, resend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(timeout_ms: Option<u64>, on_disconnect: DisconnectPolicy) -> RequestOptions {
        RequestOptions {
            timeout_ms,
            on_disconnect,
        }
    }

    #[test]
    fn disconnect_splits_in_flight_requests_by_policy_and_leaves_queued_ones() {
        let mut r = Requests::new();
        let (a, b, c) = (1, 2, 3);
        r.insert(a, "a", options(None, DisconnectPolicy::Retry), 0);
        r.insert(b, "b", options(None, DisconnectPolicy::Fail), 0);
        r.insert(c, "c", options(None, DisconnectPolicy::Fail), 0);
        r.set_in_flight(a, true);
        r.set_in_flight(b, true);
        assert_eq!(r.on_disconnect(), (vec![b], vec![(a, "a")]));
        assert!(r.is_pending(a) && !r.is_pending(b) && r.is_pending(c));
        assert_eq!(r.take_sent(), vec![a]);
    }

    #[test]
    fn deadlines_expire_in_order() {
        let mut r = Requests::new();
        let (a, b) = (1, 2);
        r.insert(a, (), options(Some(100), DisconnectPolicy::Retry), 0);
        r.insert(b, (), options(Some(50), DisconnectPolicy::Retry), 10);
        assert_eq!(r.next_deadline(), Some(60));
        assert_eq!(r.take_expired(60), vec![(b, 50)]);
        assert_eq!(r.take_expired(99), vec![]);
        assert_eq!(r.take_expired(100), vec![(a, 100)]);
        assert_eq!(r.len(), 0);
    }
}
