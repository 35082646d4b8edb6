//! Locks without a panic path. A poisoned `Mutex` means another thread panicked while holding
//! it; m4host's panic hook (`crate::run`) prints the E-DEFECT line and ends the process before
//! any unwinding, so no thread ever observes the poison. Taking the guard either way states
//! that once, instead of an `expect` at every lock.

use std::sync::{Condvar, Mutex, MutexGuard};

/// `lock()` that cannot panic.
pub trait Locked<T> {
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `Condvar::wait` that cannot panic, for the same reason.
pub fn wait<'a, T>(changed: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    changed
        .wait(guard)
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_poisoned_by_a_panicking_thread_still_gives_its_value() {
        let m = std::sync::Arc::new(Mutex::new(7));
        let held = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = held.lock();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*m.locked(), 7);
    }
}
