//! Backpressure on the socket's send buffer. The browser's `WebSocket` accepts every `send` and
//! buffers without bound (`bufferedAmount`); whatever it holds when the socket dies is lost.
//! So the core hands messages and requests to the socket only while the buffer is under
//! `maxBufferedBytes`, and keeps the rest in its bounded offline queue.
//!
//! The driver reads `bufferedAmount` after it sends and, while writes are paused, on the drain
//! timer (the WebSocket API has no drain event), and reports it with `handle_buffered`. Between
//! two reports the bytes handed out since the last one are added, so one flush cannot overshoot.

use super::fifo::Fifo;

/// How often the driver re-reads `bufferedAmount` while writes are paused.
pub(crate) const DRAIN_POLL_MS: u64 = 50;

#[derive(Debug)]
pub(crate) struct WriteBudget {
    /// `bufferedAmount` as the driver last reported it for the current socket.
    reported: usize,
    /// Bytes of user frames handed out since that report.
    unreported: usize,
    /// The drain timer fired: the driver should read `bufferedAmount` again.
    measure_due: bool,
    /// Frames are held back until the buffer drains.
    paused: bool,
    /// Sizes of the user frames the driver took for the current socket, oldest first, trimmed
    /// at each report to the newest ones that cover the reported amount (the buffer drains in
    /// order), so it says which frames a socket that dies still held.
    in_buffer: Fifo<usize>,
    in_buffer_bytes: usize,
}

impl WriteBudget {
    pub fn new() -> Self {
        WriteBudget {
            reported: 0,
            unreported: 0,
            measure_due: false,
            paused: false,
            in_buffer: Fifo::new(),
            in_buffer_bytes: 0,
        }
    }

    /// Records whether frames are held back; true when a pause starts.
    pub fn set_paused(&mut self, paused: bool) -> bool {
        let started = paused && !self.paused;
        self.paused = paused;
        started
    }

    /// What the socket holds, as far as the core knows: the last report plus what went since.
    pub fn estimate(&self) -> usize {
        self.reported.saturating_add(self.unreported)
    }

    pub fn reported(&self) -> usize {
        self.reported
    }

    /// A user frame of `size` bytes went to the sink for the current socket.
    pub fn on_queued_for_socket(&mut self, size: usize) {
        self.unreported = self.unreported.saturating_add(size);
    }

    /// The driver took a user frame of `size` bytes to send.
    pub fn on_taken(&mut self, size: usize) {
        self.in_buffer.push_back(size);
        self.in_buffer_bytes = self.in_buffer_bytes.saturating_add(size);
    }

    /// The driver gave back the frame it took last (its socket had died).
    pub fn on_given_back(&mut self, size: usize) {
        // The frame just taken is the newest: drop it from the back by rebuilding (rare path).
        let mut sizes = self.in_buffer.take_all();
        if sizes.last() == Some(&size) {
            sizes.pop();
        }
        self.in_buffer_bytes = 0;
        for size in sizes {
            self.on_taken(size);
        }
    }

    pub fn needs_measure(&self) -> bool {
        self.unreported > 0 || self.measure_due
    }

    pub fn set_measure_due(&mut self) {
        self.measure_due = true;
    }

    /// The driver read `bufferedAmount`.
    pub fn on_measured(&mut self, amount: usize) {
        self.reported = amount;
        self.unreported = 0;
        self.measure_due = false;
        self.trim(amount);
    }

    /// The socket died holding `amount` bytes: the user frames that cover them, and the
    /// bytes. Forgets the socket.
    pub fn on_lost(&mut self, amount: usize) -> (usize, usize) {
        self.trim(amount);
        let frames = if amount == 0 { 0 } else { self.in_buffer.len() };
        self.reset();
        (frames, amount)
    }

    /// A new socket (or none): nothing buffered.
    pub fn reset(&mut self) {
        self.reported = 0;
        self.unreported = 0;
        self.measure_due = false;
        self.paused = false;
        self.in_buffer = Fifo::new();
        self.in_buffer_bytes = 0;
    }

    /// Keeps the fewest newest frames whose sizes add up to `amount` or more.
    fn trim(&mut self, amount: usize) {
        while let Some(oldest) = self.in_buffer.pop_front() {
            if self.in_buffer_bytes - oldest < amount {
                self.in_buffer.push_front(oldest);
                break;
            }
            self.in_buffer_bytes -= oldest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_socket_counts_the_newest_frames_covering_its_buffer() {
        let mut budget = WriteBudget::new();
        for size in [100, 200, 300] {
            budget.on_queued_for_socket(size);
            budget.on_taken(size);
        }
        assert_eq!(budget.estimate(), 600);
        assert!(budget.needs_measure());
        budget.on_measured(350);
        assert_eq!(budget.estimate(), 350);
        assert!(!budget.needs_measure());
        // 300 alone does not cover 350; 200 + 300 does.
        assert_eq!(budget.on_lost(350), (2, 350));
        assert_eq!(budget.on_lost(0), (0, 0));
    }

    #[test]
    fn a_frame_given_back_is_not_counted_as_held() {
        let mut budget = WriteBudget::new();
        budget.on_taken(10);
        budget.on_taken(20);
        budget.on_given_back(20);
        assert_eq!(budget.on_lost(10), (1, 10));
    }
}
