//! The bounded outbound queue that holds messages while the connection is not open.
//! It never drops silently: overflow is either refused or reported with the dropped count.

use super::config::{OverflowPolicy, QueueConfig};
use super::events::ClientError;
use super::fifo::Fifo;
use alloc::{string::String, vec::Vec};

/// Size of an encoded frame as it counts against the queue's byte bound.
pub trait WireSize {
    fn wire_size(&self) -> usize;
}

impl WireSize for String {
    fn wire_size(&self) -> usize {
        self.len()
    }
}

impl WireSize for Vec<u8> {
    fn wire_size(&self) -> usize {
        self.len()
    }
}

/// Items dropped to make room under [`OverflowPolicy::DropOldest`], oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped<F> {
    pub items: Vec<F>,
    pub bytes: usize,
}

impl<F> Default for Dropped<F> {
    fn default() -> Self {
        Dropped {
            items: Vec::new(),
            bytes: 0,
        }
    }
}

#[derive(Debug)]
pub struct OutboundQueue<F> {
    items: Fifo<(F, usize)>,
    bytes: usize,
    config: QueueConfig,
}

impl<F> OutboundQueue<F> {
    pub fn new(config: QueueConfig) -> Self {
        OutboundQueue {
            items: Fifo::new(),
            bytes: 0,
            config,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends a frame of `size` bytes, applying the overflow policy when it does not fit.
    pub fn push(&mut self, frame: F, size: usize) -> Result<Dropped<F>, ClientError> {
        let fits = |len: usize, bytes: usize| {
            len < self.config.max_messages && bytes + size <= self.config.max_bytes
        };
        if size > self.config.max_bytes {
            return Err(self.full());
        }
        let mut dropped = Dropped::default();
        if !fits(self.items.len(), self.bytes) {
            if self.config.overflow == OverflowPolicy::Reject {
                return Err(self.full());
            }
            while !fits(self.items.len(), self.bytes) {
                let Some((item, old)) = self.items.pop_front() else {
                    break;
                };
                self.bytes -= old;
                dropped.items.push(item);
                dropped.bytes += old;
            }
        }
        self.items.push_back((frame, size));
        self.bytes += size;
        Ok(dropped)
    }

    /// Puts frames that could not be sent back at the front, ahead of everything queued later.
    pub fn restore_front(&mut self, frames: Vec<(F, usize)>) {
        for (frame, size) in frames.into_iter().rev() {
            self.bytes += size;
            self.items.push_front((frame, size));
        }
    }

    /// Takes the oldest frame out, with its size.
    pub fn pop_front(&mut self) -> Option<(F, usize)> {
        let (frame, size) = self.items.pop_front()?;
        self.bytes -= size;
        Some((frame, size))
    }

    /// Whether any frame satisfies `test`.
    pub fn any(&self, mut test: impl FnMut(&F) -> bool) -> bool {
        self.items.iter().any(|(frame, _)| test(frame))
    }

    /// Keeps only the frames `keep` accepts, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&F) -> bool) {
        for (frame, size) in self.items.take_all() {
            if keep(&frame) {
                self.items.push_back((frame, size));
            } else {
                self.bytes -= size;
            }
        }
    }

    /// Removes every frame, oldest first.
    pub fn take_all(&mut self) -> Vec<(F, usize)> {
        self.bytes = 0;
        self.items.take_all()
    }

    fn full(&self) -> ClientError {
        ClientError::QueueFull {
            depth: self.items.len(),
            bytes: self.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(
        max_messages: usize,
        max_bytes: usize,
        overflow: OverflowPolicy,
    ) -> OutboundQueue<u32> {
        OutboundQueue::new(QueueConfig {
            max_messages,
            max_bytes,
            overflow,
        })
    }

    #[test]
    fn reject_policy_refuses_with_a_typed_error_and_keeps_what_it_has() {
        let mut q = queue(2, 100, OverflowPolicy::Reject);
        assert_eq!(q.push(1, 10), Ok(Dropped::default()));
        assert_eq!(q.push(2, 10), Ok(Dropped::default()));
        q.retain(|_| true);
        assert_eq!(
            q.push(3, 10),
            Err(ClientError::QueueFull {
                depth: 2,
                bytes: 20
            })
        );
        assert_eq!(
            q.take_all().into_iter().map(|(f, _)| f).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }

    #[test]
    fn drop_oldest_reports_what_it_dropped() {
        let mut q = queue(10, 30, OverflowPolicy::DropOldest);
        for n in 0..3 {
            q.push(n, 10).expect("fits");
        }
        assert_eq!(
            q.push(3, 20),
            Ok(Dropped {
                items: vec![0, 1],
                bytes: 20
            })
        );
        q.retain(|f| *f != 2);
        assert_eq!(q.bytes(), 20);
        assert_eq!(
            q.take_all().into_iter().map(|(f, _)| f).collect::<Vec<_>>(),
            vec![3]
        );
    }

    #[test]
    fn a_frame_larger_than_the_whole_queue_is_refused_even_when_dropping() {
        let mut q = queue(10, 30, OverflowPolicy::DropOldest);
        q.push(1, 10).expect("fits");
        assert!(matches!(q.push(2, 31), Err(ClientError::QueueFull { .. })));
        assert_eq!(q.len(), 1);
    }
}
