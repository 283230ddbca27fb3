//! A first-in first-out queue built from two `Vec`s. It does what the core needs of a
//! `VecDeque` at a fraction of the WASM code size (`VecDeque` monomorphises a ring buffer per
//! element type).

use alloc::vec::Vec;

#[derive(Debug)]
pub struct Fifo<T> {
    /// Newest last.
    back: Vec<T>,
    /// Oldest last, so the next item to pop is at the end.
    front: Vec<T>,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo {
            back: Vec::new(),
            front: Vec::new(),
        }
    }
}

impl<T> Fifo<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.back.len() + self.front.len()
    }

    /// Every item, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.front.iter().chain(self.back.iter())
    }

    pub fn is_empty(&self) -> bool {
        self.back.is_empty() && self.front.is_empty()
    }

    pub fn push_back(&mut self, item: T) {
        self.back.push(item);
    }

    /// Puts `item` ahead of everything queued.
    pub fn push_front(&mut self, item: T) {
        self.front.push(item);
    }

    pub fn pop_front(&mut self) -> Option<T> {
        if self.front.is_empty() {
            // Amortised O(1): each item moves from `back` to `front` once.
            self.back.reverse();
            core::mem::swap(&mut self.front, &mut self.back);
        }
        self.front.pop()
    }

    /// Removes every item, oldest first.
    pub fn take_all(&mut self) -> Vec<T> {
        let mut all = core::mem::take(&mut self.front);
        all.reverse();
        all.append(&mut self.back);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_across_interleaved_pushes_and_pops() {
        let mut q = Fifo::new();
        q.push_back(1);
        q.push_back(2);
        assert_eq!(q.pop_front(), Some(1));
        q.push_back(3);
        q.push_front(0);
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop_front(), Some(0));
        assert_eq!(q.pop_front(), Some(2));
        q.push_back(4);
        assert_eq!(q.take_all(), vec![3, 4]);
        assert!(q.is_empty());
        assert_eq!(q.pop_front(), None);
    }
}
