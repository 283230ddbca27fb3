//! The offline side of user frames (messages and requests): the size limit, and the bounded
//! queue that holds them while the connection is not open, flushed in order on the next one.
//! While open, it holds the requests beyond the server's request window, which go out as
//! replies come back.

use super::config::Config;
use super::events::{ClientError, Event};
use super::queue::{OutboundQueue, WireSize};
use super::sink::Sink;
use alloc::vec::Vec;

/// A user frame waiting for a connection; `request` is its request id, if it is one.
#[derive(Debug)]
pub(crate) struct Queued<F> {
    pub frame: F,
    pub request: Option<u64>,
}

impl<F: WireSize> WireSize for Queued<F> {
    fn wire_size(&self) -> usize {
        self.frame.wire_size()
    }
}

#[derive(Debug)]
pub(crate) struct Outbox<F> {
    queue: OutboundQueue<Queued<F>>,
    max_message_bytes: usize,
}

impl<F: WireSize> Outbox<F> {
    pub fn new(config: &Config) -> Self {
        Outbox {
            queue: OutboundQueue::new(config.queue.clone()),
            max_message_bytes: config.max_message_bytes,
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn bytes(&self) -> usize {
        self.queue.bytes()
    }

    /// Refuses a frame above `maxMessageBytes`, wherever it would go.
    pub fn check_size(&self, frame: &F) -> Result<(), ClientError> {
        let size = frame.wire_size();
        if size > self.max_message_bytes {
            return Err(ClientError::MessageTooLarge {
                size,
                limit: self.max_message_bytes,
            });
        }
        Ok(())
    }

    /// Queues a frame until the next connection. Frames dropped to make room are reported as
    /// one `Dropped` event; the requests among them are returned, to be settled.
    pub fn queue<P>(
        &mut self,
        out: &mut Sink<F, P>,
        queued: Queued<F>,
    ) -> Result<Vec<u64>, ClientError> {
        let size = queued.frame.wire_size();
        let dropped = self.queue.push(queued, size)?;
        if dropped.items.is_empty() {
            return Ok(Vec::new());
        }
        let count = dropped.items.len();
        out.count_dropped(count);
        out.emit(Event::Dropped {
            count,
            bytes: dropped.bytes,
        });
        let mut requests = Vec::new();
        for queued in dropped.items {
            requests.extend(queued.request);
        }
        Ok(requests)
    }

    /// The error a request dropped from a full queue settles with.
    pub fn full(&self) -> ClientError {
        ClientError::QueueFull {
            depth: self.queue.len(),
            bytes: self.queue.bytes(),
        }
    }

    /// Puts frames (with their sizes) back at the front, ahead of everything queued later, in
    /// the given order.
    pub fn restore_front(&mut self, frames: Vec<(Queued<F>, usize)>) {
        self.queue.restore_front(frames);
    }

    /// Takes request `id` out, if it is still waiting (it settled and must never be sent).
    pub fn unqueue_request(&mut self, id: u64) {
        self.queue.retain(|q| q.request != Some(id));
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether any plain message (not a request) waits.
    pub fn holds_messages(&self) -> bool {
        self.queue.any(|queued| queued.request.is_none())
    }

    /// The oldest frame, with its size.
    pub fn pop_front(&mut self) -> Option<(Queued<F>, usize)> {
        self.queue.pop_front()
    }
}
