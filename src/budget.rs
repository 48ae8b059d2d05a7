//! A server-wide memory budget for requests: every connection's frame
//! reader reserves a request's bytes (times a working-memory factor) here
//! before it reads the payload; the reservation shrinks to the request's own
//! bytes when its arguments are decoded and goes when its handler returns.
//!
//! Reserving and releasing are one atomic operation each while the budget
//! has room; the lock and condition variable are only touched by a request
//! that has to wait, and by a release while someone waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::sync::Waiters;

/// A counter of reserved bytes with a fixed limit, shared by all the
/// connections of one server.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
    /// Requests waiting for bytes to be released.
    freed: Waiters,
}

/// Why a reservation was not granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The request alone needs more than the whole budget: it never fits.
    Never,
    /// Other requests held the budget for the whole wait.
    Busy,
}

/// Bytes reserved from a [`Budget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Budget {
        Budget {
            limit,
            used: AtomicUsize::new(0),
            freed: Waiters::default(),
        }
    }

    /// The configured limit in bytes.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes reserved now.
    pub(crate) fn in_use(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|&n| n <= self.limit)
            })
            .is_ok()
    }

    /// Reserves `bytes`, waiting up to `wait` for other requests to release
    /// theirs.
    pub(crate) fn reserve(
        self: &Arc<Self>,
        bytes: usize,
        wait: Duration,
    ) -> Result<Reservation, Refused> {
        if bytes > self.limit {
            return Err(Refused::Never);
        }
        let granted = || Reservation {
            budget: Arc::clone(self),
            bytes,
        };
        // A wait too long for the clock has no deadline.
        let deadline = Instant::now().checked_add(wait);
        if self.freed.wait_until(|| self.try_take(bytes), deadline) {
            Ok(granted())
        } else {
            Err(Refused::Busy)
        }
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::SeqCst);
        self.freed.notify();
    }
}

impl Reservation {
    /// The bytes this reservation holds.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

thread_local! {
    /// The reservation of the request this thread is running, and what of
    /// it to keep once its arguments are decoded.
    static RUNNING: std::cell::RefCell<Option<(Reservation, usize)>> =
        const { std::cell::RefCell::new(None) };
}

/// Holds `reservation` while this thread runs a request. When its arguments
/// are decoded ([`decoded`]) it shrinks to `keep` bytes (the request's own
/// bytes, which stay with the handler); [`finished`] releases the rest.
pub(crate) fn hold_while_running(reservation: Option<Reservation>, keep: usize) {
    let old = RUNNING.with(|r| r.replace(reservation.map(|res| (res, keep))));
    drop(old);
}

/// The arguments of the request running on this thread are decoded: what
/// decoding them needed goes back to the budget.
pub(crate) fn decoded() {
    RUNNING.with(|r| {
        if let Some((res, keep)) = r.borrow_mut().as_mut() {
            res.shrink_to(*keep);
        }
    });
}

/// The request running on this thread has finished: its reservation goes.
pub(crate) fn finished() {
    let held = RUNNING.with(|r| r.borrow_mut().take());
    drop(held);
}

impl Reservation {
    /// Gives back everything above `bytes`.
    pub(crate) fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.budget.release(self.bytes - bytes);
            self.bytes = bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_up_to_the_limit_and_releases_on_drop() {
        let b = Arc::new(Budget::new(100));
        let a = b.reserve(60, Duration::ZERO).unwrap();
        assert_eq!(b.in_use(), 60);
        assert_eq!(
            b.reserve(50, Duration::from_millis(10)).unwrap_err(),
            Refused::Busy
        );
        assert_eq!(b.reserve(101, Duration::ZERO).unwrap_err(), Refused::Never);
        let c = b.reserve(40, Duration::ZERO).unwrap();
        assert_eq!(b.in_use(), 100);
        drop((a, c));
        assert_eq!(b.in_use(), 0);
    }

    #[test]
    fn a_running_request_keeps_its_own_bytes_after_decoding() {
        let b = Arc::new(Budget::new(100));
        hold_while_running(Some(b.reserve(100, Duration::ZERO).unwrap()), 10);
        assert_eq!(b.in_use(), 100);
        decoded();
        assert_eq!(b.in_use(), 10);
        finished();
        assert_eq!(b.in_use(), 0);
    }

    #[test]
    fn a_waiter_gets_the_bytes_another_releases() {
        let b = Arc::new(Budget::new(10));
        let held = b.reserve(10, Duration::ZERO).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let b2 = Arc::clone(&b);
        let waiter = std::thread::spawn(move || {
            tx.send(()).unwrap();
            b2.reserve(5, Duration::from_secs(20)).map(|r| r.bytes())
        });
        rx.recv().unwrap();
        drop(held);
        assert_eq!(waiter.join().unwrap(), Ok(5));
        assert_eq!(b.in_use(), 0);
    }
}
