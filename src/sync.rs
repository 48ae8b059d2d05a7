//! Locking that survives a panic elsewhere, and waiting on atomics.
//!
//! Every lock in the crate guards state that stays consistent when a thread
//! panics while holding it (handlers run outside locks), so a poisoned lock
//! is taken as it is: [`lock`], [`wait`] and [`wait_timeout`] say so once,
//! here, instead of at every call site.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Locks `m`, also when another thread panicked while holding it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `c`, also when another thread panicked while holding the lock.
pub(crate) fn wait<'a, T>(c: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    c.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `c` for at most `timeout`; also returns whether it timed out.
pub(crate) fn wait_timeout<'a, T>(
    c: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> (MutexGuard<'a, T>, bool) {
    let (guard, result) = c
        .wait_timeout(guard, timeout)
        .unwrap_or_else(PoisonError::into_inner);
    (guard, result.timed_out())
}

/// Threads waiting for a condition on atomics that other threads change.
///
/// The common case, nobody waiting, costs [`notify`](Waiters::notify) one
/// atomic load: no lock, and no `futex` call for a wake-up nobody needs
/// (std's condition variables make one per `notify` otherwise).
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    count: AtomicUsize,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Waiters {
    /// Blocks until `done` returns true, or `deadline` passes; returns the
    /// last answer of `done`. Whoever makes `done` true calls
    /// [`notify`](Waiters::notify) afterwards.
    pub(crate) fn wait_until(
        &self,
        mut done: impl FnMut() -> bool,
        deadline: Option<Instant>,
    ) -> bool {
        if done() {
            return true;
        }
        let mut guard = lock(&self.lock);
        // Registering before the re-check pairs with `notify`'s order
        // (change, then look for waiters): one of the two sees the other.
        self.count.fetch_add(1, Ordering::SeqCst);
        let outcome = loop {
            if done() {
                break true;
            }
            guard = match deadline {
                None => wait(&self.changed, guard),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break false;
                    }
                    wait_timeout(&self.changed, guard, left).0
                }
            };
        };
        self.count.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    /// Wakes the waiting threads, if there are any, to look again.
    #[inline]
    pub(crate) fn notify(&self) {
        if self.count.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&self.lock);
            self.changed.notify_all();
        }
    }
}

/// A counter that threads can wait on.
#[derive(Debug, Default)]
pub(crate) struct Gauge {
    value: AtomicU64,
    waiters: Waiters,
}

impl Gauge {
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.value.load(Ordering::SeqCst)
    }

    /// Blocks until `done` holds for the value.
    pub(crate) fn wait_until(&self, done: impl Fn(u64) -> bool) {
        self.waiters.wait_until(|| done(self.get()), None);
    }

    #[inline]
    pub(crate) fn sub(&self, n: u64) {
        self.value.fetch_sub(n, Ordering::SeqCst);
        self.waiters.notify();
    }

    /// Adds one if the value is below `max`; returns whether it did.
    #[inline]
    pub(crate) fn add_one_below(&self, max: u64) -> bool {
        if self.value.fetch_add(1, Ordering::SeqCst) < max {
            return true;
        }
        self.sub(1);
        false
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{Gauge, Waiters};

    #[test]
    fn a_gauge_wakes_its_waiter() {
        // `sub` is what wakes waiters (`add_one_below` does not notify):
        // the waiter waits for the gauge to drain.
        let gauge = Arc::new(Gauge::default());
        assert!(gauge.add_one_below(2));
        assert!(gauge.add_one_below(2));
        let waiter = {
            let gauge = Arc::clone(&gauge);
            std::thread::spawn(move || gauge.wait_until(|v| v == 0))
        };
        gauge.sub(1);
        gauge.sub(1);
        waiter.join().unwrap();
        assert_eq!(gauge.get(), 0);
    }

    #[test]
    fn add_one_below_stops_at_the_limit() {
        let gauge = Gauge::default();
        assert!(gauge.add_one_below(2));
        assert!(gauge.add_one_below(2));
        assert!(!gauge.add_one_below(2));
        assert_eq!(gauge.get(), 2);
    }

    #[test]
    fn a_wait_with_a_past_deadline_gives_up() {
        let waiters = Waiters::default();
        assert!(!waiters.wait_until(|| false, Some(Instant::now())));
        let later = Instant::now() + Duration::from_secs(60);
        assert!(waiters.wait_until(|| true, Some(later)));
    }
}
