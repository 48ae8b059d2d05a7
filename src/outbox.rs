//! One connection's outgoing frames, shared by every thread that sends on it.
//!
//! Senders append whole frames to a buffer. The first sender to find nobody
//! writing becomes the writer: it takes the buffer and writes it with one
//! system call, then writes whatever others appended meanwhile, until the
//! buffer is empty. Under load this batches many frames into each write;
//! alone, a sender writes its own frame at once. Nobody waits for a timer.
//!
//! The buffer is bounded: a sender that finds more than the backlog limit
//! queued waits until the writer has drained it, so a peer that stops reading
//! costs at most the limit (plus one frame) in memory.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::frame;
use crate::stream::Stream;

#[derive(Debug)]
pub(crate) struct Outbox {
    stream: Stream,
    max_frame: usize,
    backlog: usize,
    state: Mutex<State>,
    drained: Condvar,
    /// Bytes written to the socket, shared with whoever reports them.
    written: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct State {
    queued: Vec<u8>,
    spare: Vec<u8>,
    writing: bool,
    /// Set once a write fails; later sends fail at once.
    broken: bool,
}

impl Outbox {
    pub(crate) fn new(
        stream: Stream,
        max_frame: usize,
        backlog: usize,
        written: Arc<AtomicU64>,
    ) -> Outbox {
        Outbox {
            written,
            stream,
            max_frame,
            backlog: backlog.max(max_frame.saturating_add(12)),
            state: Mutex::new(State::default()),
            drained: Condvar::new(),
        }
    }

    /// Queues one frame and, if nobody else is writing, writes everything
    /// queued. Returns once the frame has been written or handed to the
    /// thread that is writing.
    ///
    /// # Errors
    /// [`Error::FrameTooLarge`] (nothing is sent), or
    /// [`Error::ConnectionClosed`] once the connection has failed.
    pub(crate) fn send(&self, payload: &[u8]) -> Result<()> {
        if payload.len() > self.max_frame {
            return Err(Error::FrameTooLarge {
                len: payload.len() as u64,
                max: self.max_frame as u64,
            });
        }
        let mut st = self.lock();
        while !st.broken && st.writing && st.queued.len() >= self.backlog {
            st = self.drained.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if st.broken {
            return Err(Error::ConnectionClosed);
        }
        frame::append(&mut st.queued, payload);
        if st.writing {
            return Ok(());
        }
        st.writing = true;
        self.write_queued(st)
    }

    /// Writes until the queue is empty; called holding the writer role.
    fn write_queued<'a>(&'a self, mut st: MutexGuard<'a, State>) -> Result<()> {
        loop {
            let mut batch = std::mem::take(&mut st.queued);
            st.queued = std::mem::take(&mut st.spare);
            drop(st);
            let outcome = (&self.stream).write_all(&batch);
            let written = batch.len() as u64;
            batch.clear();
            st = self.lock();
            st.spare = batch;
            self.drained.notify_all();
            match outcome {
                Ok(()) => {
                    self.written.fetch_add(written, Ordering::Relaxed);
                }
                Err(e) => {
                    st.broken = true;
                    st.writing = false;
                    st.queued = Vec::new();
                    return Err(Error::from_io(e));
                }
            }
            if st.queued.is_empty() {
                st.writing = false;
                // Give back memory after a burst of large frames.
                if st.spare.capacity() > 1 << 20 {
                    st.spare = Vec::new();
                }
                return Ok(());
            }
        }
    }

    /// Waits until everything queued has been written (or the connection
    /// failed).
    pub(crate) fn wait_drained(&self) {
        let mut st = self.lock();
        while st.writing && !st.broken {
            st = self.drained.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Marks the outbox broken, waking blocked senders. Used when the
    /// connection is being torn down.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.broken = true;
        self.drained.notify_all();
    }

    pub(crate) fn stream(&self) -> &Stream {
        &self.stream
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state inconsistent
        // (every field is valid at every await point), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
