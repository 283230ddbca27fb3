//! Mutexes whose poisoning is ignored. No code in this server can panic half-way through an
//! update while holding one of its locks, so a poisoned lock still guards consistent data.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub trait Locked<T> {
    /// Locks, taking over the guard of a poisoned lock.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
