//! The server's handler threads: started when calls need them, up to a
//! maximum, and ended after a while idle.
//!
//! The rule that keeps a slow call from delaying a fast one: a new thread
//! starts whenever more jobs are queued than threads are idle, so a queued
//! job waits only when the maximum is reached.

use crate::sync::{self, lock, wait};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// How long an idle handler thread waits for work before it ends.
const IDLE_EXIT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    work: Condvar,
    exited: Condvar,
    max: usize,
    name: &'static str,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    idle: usize,
    threads: usize,
    stopping: bool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("queued", &self.queue.len())
            .field("idle", &self.idle)
            .field("threads", &self.threads)
            .field("stopping", &self.stopping)
            .finish()
    }
}

impl Pool {
    pub(crate) fn new(max: usize, name: &'static str) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                exited: Condvar::new(),
                max: max.max(1),
                name,
            }),
        }
    }

    /// Runs `job` on a handler thread. Never blocks on the job itself.
    ///
    /// If no thread can be started (the OS refuses), the job still runs once
    /// an existing thread is free; with no thread at all it runs here.
    pub(crate) fn execute(&self, job: impl FnOnce() + Send + 'static) {
        let mut st = self.inner.lock();
        st.queue.push_back(Box::new(job));
        if st.queue.len() > st.idle && st.threads < self.inner.max {
            st.threads += 1;
            let inner = Arc::clone(&self.inner);
            let spawned = std::thread::Builder::new()
                .name(self.inner.name.into())
                .spawn(move || inner.work_loop());
            if spawned.is_err() {
                st.threads -= 1;
                if st.threads == 0 {
                    let job = st.queue.pop_back();
                    drop(st);
                    if let Some(job) = job {
                        job();
                    }
                    return;
                }
            }
        }
        // Waking costs a system call: only when a thread is waiting to be woken.
        let wake = st.idle > 0;
        drop(st);
        if wake {
            self.inner.work.notify_one();
        }
    }

    /// Lets the threads finish the queued jobs and end, without waiting for
    /// them (a shutdown whose deadline abandoned a handler still running).
    pub(crate) fn stop(&self) {
        self.inner.lock().stopping = true;
        self.inner.work.notify_all();
    }

    /// Lets the threads finish the queued jobs, then waits until all have ended.
    pub(crate) fn shutdown(&self) {
        let mut st = self.inner.lock();
        st.stopping = true;
        self.inner.work.notify_all();
        while st.threads > 0 {
            st = wait(&self.inner.exited, st);
        }
    }

    /// The number of handler threads alive now.
    #[cfg(test)]
    pub(crate) fn threads(&self) -> usize {
        self.inner.lock().threads
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock, so a poisoned lock only means a panic
        // elsewhere while the state was consistent.
        lock(&self.state)
    }

    fn work_loop(&self) {
        let mut st = self.lock();
        loop {
            if let Some(job) = st.queue.pop_front() {
                drop(st);
                // Handler panics are caught where the handler runs; this keeps
                // the thread alive should anything else in a job panic.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                st = self.lock();
                continue;
            }
            if st.stopping {
                break;
            }
            st.idle += 1;
            let (next, timeout) = sync::wait_timeout(&self.work, st, IDLE_EXIT);
            st = next;
            st.idle -= 1;
            if timeout && st.queue.is_empty() {
                break;
            }
        }
        st.threads -= 1;
        drop(st);
        self.exited.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn slow_job_does_not_delay_the_next() {
        let pool = Pool::new(4, "test");
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        let d1 = done_tx.clone();
        pool.execute(move || {
            release_rx.recv().unwrap();
            d1.send("slow").unwrap();
        });
        pool.execute(move || done_tx.send("fast").unwrap());
        assert_eq!(
            done_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            "fast"
        );
        release_tx.send(()).unwrap();
        assert_eq!(
            done_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            "slow"
        );
        pool.shutdown();
        assert_eq!(pool.threads(), 0);
    }

    #[test]
    fn shutdown_runs_queued_jobs_first() {
        let pool = Pool::new(1, "test");
        let (tx, rx) = mpsc::channel();
        for i in 0..100 {
            let tx = tx.clone();
            pool.execute(move || tx.send(i).unwrap());
        }
        pool.shutdown();
        drop(tx);
        assert_eq!(rx.iter().count(), 100);
    }
}
