//! A server-wide memory budget for requests: every connection's frame
//! reader reserves a request's bytes (times a working-memory factor) here
//! before it reads the payload; the reservation shrinks to the request's own
//! bytes when its arguments are decoded and goes when its handler returns.
//!
//! Reserving and releasing are one atomic operation each while the budget
//! has room; the lock and condition variable are only touched by a request
//! that has to wait, and by a release while someone waits.
//!
//! Small requests, the common case, do not touch the shared counter at all:
//! a connection reserves a [`Standing`] share once ([`STANDING`] bytes) and
//! lends it to one small request at a time; a request that finds it lent
//! out reserves its own bytes as before. Every byte a request may use is
//! still reserved from the budget, by it or by its connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// The most a connection's [`Standing`] share holds: a request charged at
/// most this much borrows it instead of reserving its own bytes. With
/// stdrpc's factor of 10 that is every request up to 6.5 KB; 1,024
/// connections hold 64 MiB of the budget this way.
pub(crate) const STANDING: usize = 64 * 1024;

/// Bytes reserved from a [`Budget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    held: Held,
}

impl Reservation {
    /// Whether this is a connection's standing share (which any request
    /// small enough may hold, whatever its size).
    pub(crate) fn is_standing(&self) -> bool {
        matches!(self.held, Held::Lent(_))
    }
}

#[derive(Debug)]
enum Held {
    /// Bytes of the budget's shared counter.
    Own { budget: Arc<Budget>, bytes: usize },
    /// The connection's standing share, lent to this request.
    Lent(Arc<Standing>),
}

/// A connection's standing share of the budget: [`STANDING`] bytes reserved
/// once, lent to one small request at a time.
#[derive(Debug)]
pub(crate) struct Standing {
    /// Held for the connection's life; dropping it gives the bytes back.
    _share: Reservation,
    lent: AtomicBool,
}

impl Standing {
    /// Reserves a standing share of `budget`, if it has room now.
    pub(crate) fn new(budget: &Arc<Budget>) -> Option<Arc<Standing>> {
        budget.try_take(STANDING).then(|| {
            Arc::new(Standing {
                _share: Reservation {
                    held: Held::Own {
                        budget: Arc::clone(budget),
                        bytes: STANDING,
                    },
                },
                lent: AtomicBool::new(false),
            })
        })
    }

    /// Lends the share to a request of `bytes`, if it is that large and not
    /// lent out already.
    #[inline]
    pub(crate) fn lend(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        (bytes <= STANDING && !self.lent.swap(true, Ordering::Acquire)).then(|| Reservation {
            held: Held::Lent(Arc::clone(self)),
        })
    }
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

    #[inline]
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
            held: Held::Own {
                budget: Arc::clone(self),
                bytes,
            },
        };
        // Room now: no clock to read.
        if self.try_take(bytes) {
            return Ok(granted());
        }
        // A wait too long for the clock has no deadline.
        let deadline = Instant::now().checked_add(wait);
        if self.freed.wait_until(|| self.try_take(bytes), deadline) {
            Ok(granted())
        } else {
            Err(Refused::Busy)
        }
    }

    #[inline]
    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::SeqCst);
        self.freed.notify();
    }
}

impl Reservation {
    /// The bytes this reservation holds.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        match &self.held {
            Held::Own { bytes, .. } => *bytes,
            Held::Lent(_) => STANDING,
        }
    }
}

impl Drop for Reservation {
    #[inline]
    fn drop(&mut self) {
        match &self.held {
            Held::Own { budget, bytes } => budget.release(*bytes),
            Held::Lent(standing) => standing.lent.store(false, Ordering::Release),
        }
    }
}

thread_local! {
    /// The reservation of the request this thread is running, and what of
    /// it to keep once its arguments are decoded.
    static RUNNING: std::cell::RefCell<Option<(Reservation, usize)>> =
        const { std::cell::RefCell::new(None) };
    /// Whether `RUNNING` holds one: a flag without a destructor, so that a
    /// small request (whose lent share has nothing to give back early) pays
    /// for no more than reading it.
    static HOLDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Holds `reservation` while this thread runs a request. When its arguments
/// are decoded ([`decoded`]) it shrinks to `keep` bytes (the request's own
/// bytes, which stay with the handler); [`finished`] releases the rest.
///
/// A lent standing share is small and cannot shrink: it is handed back,
/// for the caller to drop when the request has run.
#[must_use = "a lent share is handed back: drop it when the request has run"]
#[inline]
pub(crate) fn hold_while_running(
    reservation: Option<Reservation>,
    keep: usize,
) -> Option<Reservation> {
    match reservation {
        Some(r) if matches!(r.held, Held::Own { .. }) => {
            let old = RUNNING.with(|slot| slot.replace(Some((r, keep))));
            HOLDING.set(true);
            drop(old);
            None
        }
        lent => lent,
    }
}

/// The arguments of the request running on this thread are decoded: what
/// decoding them needed goes back to the budget.
#[inline]
pub(crate) fn decoded() {
    if !HOLDING.get() {
        return;
    }
    RUNNING.with(|r| {
        if let Some((res, keep)) = r.borrow_mut().as_mut() {
            res.shrink_to(*keep);
        }
    });
}

/// The request running on this thread has finished: its reservation goes.
#[inline]
pub(crate) fn finished() {
    if !HOLDING.replace(false) {
        return;
    }
    let held = RUNNING.with(|r| r.borrow_mut().take());
    drop(held);
}

impl Reservation {
    /// Gives back everything above `bytes`.
    pub(crate) fn shrink_to(&mut self, to: usize) {
        if let Held::Own { budget, bytes } = &mut self.held {
            if to < *bytes {
                budget.release(*bytes - to);
                *bytes = to;
            }
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
    fn a_standing_share_is_lent_to_one_small_request_at_a_time() {
        let b = Arc::new(Budget::new(STANDING + 100));
        let share = Standing::new(&b).unwrap();
        assert_eq!(b.in_use(), STANDING);
        // Too large to borrow it.
        assert!(share.lend(STANDING + 1).is_none());
        let first = share.lend(10).unwrap();
        assert!(share.lend(10).is_none(), "lent twice at once");
        // Held by the request: nothing shrinks early, nothing is held twice.
        let lent = hold_while_running(Some(first), 1);
        decoded();
        finished();
        assert_eq!(b.in_use(), STANDING);
        drop(lent);
        let again = share.lend(STANDING).unwrap();
        assert_eq!(again.bytes(), STANDING);
        drop(again);
        drop(share);
        assert_eq!(b.in_use(), 0);
        // No room for a share: none is made.
        let _other = b.reserve(200, Duration::ZERO).unwrap();
        assert!(Standing::new(&b).is_none());
    }

    #[test]
    fn a_running_request_keeps_its_own_bytes_after_decoding() {
        let b = Arc::new(Budget::new(100));
        let lent = hold_while_running(Some(b.reserve(100, Duration::ZERO).unwrap()), 10);
        assert!(lent.is_none());
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
