//! Notices handlers that run long on a connection's reading thread and
//! moves the reading elsewhere (see [`connection`](super::connection)).
//!
//! While connections are active it looks every millisecond; after
//! [`IDLE_AFTER`] without any request it sleeps on a condition variable, so
//! an idle server costs nothing, and the first request after that wakes it.
//! (Waking it for every request would add a context switch to each call.)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::sync::{self, lock, wait};

/// How long a handler runs inline (at least; at most twice this) before the
/// reading moves to another thread.
pub(super) const HANDOFF_AFTER: Duration = Duration::from_millis(1);

/// How often the watchdog looks while connections are active.
const TICK: Duration = HANDOFF_AFTER;

/// How long without requests before the watchdog stops ticking.
const IDLE_AFTER: Duration = Duration::from_millis(200);

/// What the watchdog knows of one connection's inline handler. Each
/// connection holds one; the connection says a handler starts through
/// [`Watchdog::watch`] and that it ended through [`Stamp::clear`], and only
/// the watchdog reads it.
#[derive(Debug, Default)]
pub(super) struct Stamp {
    /// The watchdog's tick (see [`Watchdog::ticks`]) at which the handler
    /// running inline began; 0 while no handler runs inline.
    since: AtomicU64,
    /// A follower has been requested for the current inline run.
    handed_off: AtomicBool,
    /// How many requests have run inline (the watchdog's sign of activity).
    runs: AtomicU64,
}

impl Stamp {
    /// The handler that ran inline has returned.
    #[inline]
    pub(super) fn clear(&self) {
        self.since.store(0, Ordering::SeqCst);
    }
}

/// What the watchdog watches: a connection whose reading can move to
/// another thread.
pub(super) trait Watched {
    /// What the watchdog knows of the handler running inline.
    fn stamp(&self) -> &Stamp;

    /// Starts a follower that takes over the reading.
    fn hand_off(self: &Arc<Self>);
}

#[derive(Debug)]
pub(super) struct Watchdog {
    /// Counts the watchdog's looks, from 1. A handler's start is stamped
    /// with it instead of a clock reading: one atomic load per request
    /// instead of a clock read (tens of nanoseconds on the per-call path).
    /// A handler stamped `t` is seen at tick `t + 1` less than a tick after
    /// it started, and at `t + 2` at least a tick after: it is then handed
    /// off, between one and two ticks after it began.
    ticks: AtomicU64,
    /// The watchdog waits on `wake` with this lock; it holds `stopping`.
    state: Mutex<bool>,
    wake: Condvar,
    /// The watchdog is (about to be) waiting with no timeout.
    sleeping: AtomicBool,
}

impl Watchdog {
    pub(super) fn new() -> Watchdog {
        Watchdog {
            ticks: AtomicU64::new(1),
            state: Mutex::new(false),
            wake: Condvar::new(),
            sleeping: AtomicBool::new(false),
        }
    }

    /// Marks the connection of `stamp` as running a handler inline from now on.
    #[inline]
    pub(super) fn watch(&self, stamp: &Stamp) {
        stamp.handed_off.store(false, Ordering::Relaxed);
        stamp.runs.fetch_add(1, Ordering::Relaxed);
        stamp
            .since
            .store(self.ticks.load(Ordering::SeqCst), Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            let _guard = lock(&self.state);
            self.wake.notify_one();
        }
    }

    pub(super) fn stop(&self) {
        *lock(&self.state) = true;
        self.wake.notify_all();
    }

    /// The watchdog thread's body; ends after [`stop`](Watchdog::stop) or
    /// once `connections`, which lists the server's authenticated
    /// connections, returns `None` (the server is gone).
    pub(super) fn run<W: Watched>(&self, connections: impl Fn() -> Option<Vec<Arc<W>>>) {
        let mut stopping = lock(&self.state);
        let mut runs = 0;
        let mut last_active = Instant::now();
        loop {
            if *stopping {
                return;
            }
            let Some(live) = connections() else {
                return;
            };
            let (busy, now_runs) = self.scan(live);
            if busy || now_runs != runs {
                last_active = Instant::now();
            }
            runs = now_runs;
            if last_active.elapsed() < IDLE_AFTER {
                stopping = sync::wait_timeout(&self.wake, stopping, TICK).0;
                continue;
            }
            // Nothing runs inline: sleep until `watch` says otherwise. The
            // flag is raised before a last look, so a handler that starts
            // after that look sees the flag and wakes us.
            self.sleeping.store(true, Ordering::SeqCst);
            let Some(live) = connections() else {
                return;
            };
            let (busy, _) = self.scan(live);
            if !busy {
                stopping = wait(&self.wake, stopping);
            }
            self.sleeping.store(false, Ordering::SeqCst);
        }
    }

    /// Hands off every connection whose inline handler has run too long;
    /// returns whether any handler runs inline, and the total of inline runs
    /// so far (which tells whether there was any activity since last time).
    /// The connections are dropped on return: the watchdog holds none of
    /// them (nor, through them, the server) while it waits.
    fn scan<W: Watched>(&self, live: Vec<Arc<W>>) -> (bool, u64) {
        let now = self.ticks.fetch_add(1, Ordering::SeqCst) + 1;
        let mut busy = false;
        let mut runs = 0u64;
        for conn in live {
            let stamp = conn.stamp();
            runs = runs.wrapping_add(stamp.runs.load(Ordering::Relaxed));
            let since = stamp.since.load(Ordering::SeqCst);
            if since == 0 {
                continue;
            }
            busy = true;
            if now.saturating_sub(since) >= 2 && !stamp.handed_off.swap(true, Ordering::AcqRel) {
                conn.hand_off();
            }
        }
        (busy, runs)
    }
}
