//! Request/response correlation: pending requests by id, how each settles (reply, server error,
//! deadline, abort, session lost) and what happens to them when the connection drops (the
//! per-request disconnect policy).

use super::events::{ClientError, Event};
use super::queue::WireSize;
use super::sink::Sink;
use super::timers::Timer;
use super::vec_map::VecMap;
use crate::protocol::ErrorBody;
use alloc::vec::Vec;

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
    /// Handed to a socket and not yet answered.
    in_flight: bool,
    /// Ever handed to a socket: the server may have run it, so only the session that saw it
    /// may receive it again.
    sent: bool,
}

/// The requests not settled yet. Each settles exactly once, as one [`Event::Reply`]; its
/// deadline lives in the sink's timer table as [`Timer::Request`].
#[derive(Debug)]
pub(crate) struct Requests<F> {
    pending: VecMap<u64, Pending<F>>,
    /// How many of `pending` are in flight: the server's request window bounds it.
    in_flight: usize,
}

impl<F: Clone + WireSize> Requests<F> {
    pub fn new() -> Self {
        Requests {
            pending: VecMap::new(),
            in_flight: 0,
        }
    }

    /// Starts tracking request `id` (called at `now`), its deadline included.
    pub fn start<P>(
        &mut self,
        out: &mut Sink<F, P>,
        now: u64,
        id: u64,
        frame: F,
        options: RequestOptions,
    ) {
        let deadline = options.timeout_ms.map(|t| now.saturating_add(t));
        out.timers.set_or_clear(Timer::Request(id), deadline);
        self.pending.insert(
            id,
            Pending {
                frame,
                options,
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

    /// Requests handed to the socket and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Request `id`'s frame was handed to the socket (`true`) or taken back unsent (`false`).
    pub fn set_in_flight(&mut self, id: u64, in_flight: bool) {
        if let Some(p) = self.pending.get_mut(&id) {
            match (p.in_flight, in_flight) {
                (false, true) => self.in_flight += 1,
                (true, false) => self.in_flight -= 1,
                _ => {}
            }
            p.in_flight = in_flight;
            p.sent |= in_flight;
        }
    }

    /// Stops tracking a request that was never accepted; no reply is due.
    pub fn forget<P>(&mut self, out: &mut Sink<F, P>, id: u64) {
        out.timers.clear(Timer::Request(id));
        self.pending.remove(&id);
    }

    /// Settles request `id` with `result`; false when it had settled already.
    pub fn settle<P>(
        &mut self,
        out: &mut Sink<F, P>,
        id: u64,
        result: Result<P, ClientError>,
    ) -> bool {
        let Some(pending) = self.pending.remove(&id) else {
            return false;
        };
        if pending.in_flight {
            self.in_flight -= 1;
        }
        out.timers.clear(Timer::Request(id));
        // An abort is the app's own doing, not an error to count.
        let failed = matches!(&result, Err(error) if *error != ClientError::Aborted);
        let event = Event::Reply { id, result };
        if failed {
            out.emit_failure(event);
        } else {
            out.emit(event);
        }
        true
    }

    /// The server answered request `id`.
    pub fn on_reply<P>(&mut self, out: &mut Sink<F, P>, id: u64, result: Result<P, ErrorBody>) {
        let result = result.map_err(|body| ClientError::Server {
            code: body.code,
            message: body.message,
        });
        if !self.settle(out, id, result) {
            out.count_unknown_reply();
        }
    }

    /// An `error` frame: settles the request it names, or gives the error back.
    pub fn on_error<P>(
        &mut self,
        out: &mut Sink<F, P>,
        id: Option<u64>,
        body: ErrorBody,
    ) -> Option<ErrorBody> {
        match id.filter(|id| self.is_pending(*id)) {
            Some(id) => {
                let error = ClientError::Server {
                    code: body.code,
                    message: body.message,
                };
                self.settle(out, id, Err(error));
                None
            }
            None => Some(body),
        }
    }

    /// Request `id`'s deadline passed: it settles with `Timeout`.
    pub fn on_deadline<P>(&mut self, out: &mut Sink<F, P>, id: u64) {
        let timeout_ms = self
            .pending
            .get(&id)
            .and_then(|p| p.options.timeout_ms)
            .unwrap_or(0);
        self.settle(out, id, Err(ClientError::Timeout { timeout_ms }));
    }

    /// A new session does not know what the old one ran: every request ever sent settles with
    /// `SessionLost` (re-sending could run it twice). Returns their ids.
    pub fn on_session_lost<P>(&mut self, out: &mut Sink<F, P>) -> Vec<u64> {
        let mut sent = Vec::new();
        for (id, pending) in self.pending.iter() {
            if pending.sent {
                sent.push(*id);
            }
        }
        for id in &sent {
            self.settle(out, *id, Err(ClientError::SessionLost));
        }
        sent
    }

    /// The connection dropped: in-flight requests under the `fail` policy settle with
    /// `Disconnected`; those under `retry` are returned, in id order, to be sent again.
    pub fn on_disconnect<P>(&mut self, out: &mut Sink<F, P>) -> Vec<(u64, F)> {
        let mut failed = Vec::new();
        let mut resend = Vec::new();
        for (id, p) in self.pending.iter_mut().filter(|(_, p)| p.in_flight) {
            p.in_flight = false;
            match p.options.on_disconnect {
                DisconnectPolicy::Fail => failed.push(*id),
                DisconnectPolicy::Retry => resend.push((*id, p.frame.clone())),
            }
        }
        self.in_flight = 0;
        for id in failed {
            self.settle(out, id, Err(ClientError::Disconnected));
        }
        resend
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

    fn replies(out: &mut Sink<String, ()>) -> Vec<(u64, Result<(), ClientError>)> {
        core::iter::from_fn(|| out.poll_event())
            .filter_map(|e| match e {
                Event::Reply { id, result } => Some((id, result)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn disconnect_splits_in_flight_requests_by_policy_and_leaves_queued_ones() {
        let mut out = Sink::new();
        let mut r = Requests::new();
        let (a, b, c) = (1, 2, 3);
        r.start(
            &mut out,
            0,
            a,
            "a".to_owned(),
            options(None, DisconnectPolicy::Retry),
        );
        r.start(
            &mut out,
            0,
            b,
            "b".to_owned(),
            options(None, DisconnectPolicy::Fail),
        );
        r.start(
            &mut out,
            0,
            c,
            "c".to_owned(),
            options(None, DisconnectPolicy::Fail),
        );
        r.set_in_flight(a, true);
        r.set_in_flight(b, true);
        assert_eq!(r.on_disconnect(&mut out), vec![(a, "a".to_owned())]);
        assert_eq!(replies(&mut out), vec![(b, Err(ClientError::Disconnected))]);
        assert!(r.is_pending(a) && !r.is_pending(b) && r.is_pending(c));
        assert_eq!(r.on_session_lost(&mut out), vec![a]);
    }

    #[test]
    fn deadlines_expire_in_order() {
        let mut out = Sink::new();
        let mut r = Requests::new();
        let (a, b) = (1, 2);
        r.start(
            &mut out,
            0,
            a,
            String::new(),
            options(Some(100), DisconnectPolicy::Retry),
        );
        r.start(
            &mut out,
            10,
            b,
            String::new(),
            options(Some(50), DisconnectPolicy::Retry),
        );
        assert_eq!(out.timers.next(), Some(60));
        assert_eq!(out.timers.due(60), vec![Timer::Request(b)]);
        r.on_deadline(&mut out, b);
        assert_eq!(
            replies(&mut out),
            vec![(b, Err(ClientError::Timeout { timeout_ms: 50 }))]
        );
        assert_eq!(out.timers.due(99), vec![]);
        assert_eq!(out.timers.due(100), vec![Timer::Request(a)]);
        r.on_deadline(&mut out, a);
        assert_eq!(r.len(), 0);
        assert_eq!(out.timers.next(), None);
    }
}
