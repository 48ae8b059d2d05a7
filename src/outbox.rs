//! One connection's outgoing frames, shared by every thread that sends on it.
//!
//! Senders append whole frames to a buffer, encoding straight into it. Then
//! either:
//!
//! - [`Outbox::flush`]: the first thread to find nobody writing becomes the
//!   writer and writes everything queued with one system call, then whatever
//!   others appended meanwhile, until the buffer is empty; or
//! - [`Outbox::send_soon`]: a background flusher thread is woken (only if it
//!   is asleep) to do the same, so a thread streaming calls or notifications
//!   never waits for a system call and its frames leave in large batches.
//!
//! The buffer is bounded: a sender that finds more than the backlog limit
//! queued waits until the writer has drained it, so a peer that stops reading
//! costs at most the limit (plus one frame) in memory.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::stream::Stream;
use crate::sync::{lock, wait};

/// The bytes a frame built for [`Outbox::queue_frame`] leaves at its front
/// for the header.
pub(crate) const FRAME_HEAD: usize = 4;

/// Bytes at which a sender stops queueing for the flusher and writes itself
/// (as `BufWriter` does at its capacity). A thread streaming calls or
/// notifications then writes its own batches while it outruns the flusher:
/// with 256 KiB here, the pipelined row swung between 2.3 and 4.5 M calls/s
/// from run to run, depending on whether the flusher shared a core with the
/// producer and waited for it; with 8 KiB it ran at 4.2 M (1.56x, same-run
/// A/B, 5 rounds), notifications and fan-in unchanged.
const EAGER_FLUSH: usize = 8 * 1024;

#[derive(Debug)]
pub(crate) struct Outbox {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    stream: Arc<Stream>,
    max_frame: usize,
    backlog: usize,
    state: Mutex<State>,
    /// Signalled when a batch has been written or the outbox breaks.
    drained: Condvar,
    /// Signalled to wake the background flusher.
    wake_flusher: Condvar,
    /// Bytes written to the socket, shared with whoever reports them.
    written: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct State {
    queued: Vec<u8>,
    spare: Vec<u8>,
    writing: bool,
    /// Set once a write fails or the outbox is closed; sends then fail.
    broken: bool,
    /// Threads waiting on `drained` (a notification costs a system call, so
    /// it is only sent when somebody waits).
    waiting: usize,
    flusher: Flusher,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum Flusher {
    #[default]
    NotStarted,
    Asleep,
    Awake,
    Gone,
}

impl Outbox {
    pub(crate) fn new(
        stream: Arc<Stream>,
        max_frame: usize,
        backlog: usize,
        written: Arc<AtomicU64>,
    ) -> Outbox {
        Outbox {
            shared: Arc::new(Shared {
                stream,
                max_frame,
                backlog: backlog.max(max_frame.saturating_add(12)),
                state: Mutex::new(State::default()),
                drained: Condvar::new(),
                wake_flusher: Condvar::new(),
                written,
            }),
        }
    }

    /// Appends one frame whose payload `encode` writes into the buffer, and
    /// does not write it yet: follow with [`flush`](Outbox::flush) or
    /// [`send_soon`](Outbox::send_soon).
    ///
    /// # Errors
    /// [`Error::FrameTooLarge`] (nothing is queued), or
    /// [`Error::ConnectionClosed`] once the connection has failed.
    pub(crate) fn queue_with(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        self.append(encode).map(drop)
    }

    /// Queues a frame and writes everything queued at once (or leaves it to
    /// the thread already writing): [`queue_with`](Outbox::queue_with) and
    /// [`flush`](Outbox::flush) under one lock.
    /// `on_full` runs first (without the lock) if the backlog is full, that
    /// is, if sending must wait for the peer to read.
    pub(crate) fn send_now(
        &self,
        encode: impl FnOnce(&mut Vec<u8>),
        mut on_full: impl FnMut(),
    ) -> Result<()> {
        let st = self.append_or(encode, &mut on_full)?;
        if st.writing {
            return Ok(());
        }
        self.shared.write_queued(st)
    }

    /// Queues a frame for the background flusher:
    /// [`queue_with`](Outbox::queue_with) and
    /// [`send_soon`](Outbox::send_soon) under one lock.
    /// `on_full`: as for [`send_now`](Outbox::send_now).
    pub(crate) fn send_soon(
        &self,
        encode: impl FnOnce(&mut Vec<u8>),
        mut on_full: impl FnMut(),
    ) -> Result<()> {
        let st = self.append_or(encode, &mut on_full)?;
        self.flush_soon_locked(st)
    }

    /// Takes the lock once the backlog leaves room for another frame.
    fn room(&self) -> Result<MutexGuard<'_, State>> {
        self.room_or(&mut || {})
    }

    /// [`room`](Outbox::room), running `on_full` once before waiting.
    fn room_or(&self, on_full: &mut dyn FnMut()) -> Result<MutexGuard<'_, State>> {
        let sh = &*self.shared;
        let mut st = sh.lock();
        let mut told = false;
        while !st.broken && st.queued.len() >= sh.backlog {
            if !told {
                told = true;
                drop(st);
                on_full();
                st = sh.lock();
                continue;
            }
            if st.writing {
                st.waiting += 1;
                st = wait(&sh.drained, st);
                st.waiting -= 1;
            } else {
                // Over the limit and nobody writing: write the backlog here
                // before adding to it.
                sh.write_queued(st)?;
                st = sh.lock();
            }
        }
        if st.broken {
            return Err(Error::ConnectionClosed);
        }
        Ok(st)
    }

    /// Queues a frame built in `frame`: its first [`FRAME_HEAD`] bytes are
    /// left for the header (filled in here), the rest is the payload. When
    /// nothing else is queued, the buffer itself is queued and `frame` gets
    /// the outbox's empty buffer in exchange: no copy, which is most of
    /// what a large reply costs. Otherwise the frame is copied in behind the
    /// others. `frame` is left empty either way.
    ///
    /// # Errors
    /// As [`queue_with`](Outbox::queue_with).
    pub(crate) fn queue_frame(&self, frame: &mut Vec<u8>) -> Result<()> {
        let Some(len) = frame.len().checked_sub(FRAME_HEAD) else {
            return self.queue(frame);
        };
        if len > 0x7fff_ffff || len > self.shared.max_frame {
            // Needs the long header, or is refused: the copying path does both.
            let result = self.queue(&frame[FRAME_HEAD..]);
            frame.clear();
            return result;
        }
        frame[..FRAME_HEAD].copy_from_slice(&(len as u32).to_be_bytes());
        let mut st = self.room()?;
        if st.queued.is_empty() {
            std::mem::swap(&mut st.queued, frame);
        } else {
            st.queued.extend_from_slice(frame);
        }
        drop(st);
        frame.clear();
        Ok(())
    }

    /// Appends one frame and returns the lock, still held.
    fn append(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<MutexGuard<'_, State>> {
        self.append_or(encode, &mut || {})
    }

    /// [`append`](Outbox::append), running `on_full` as
    /// [`room_or`](Outbox::room_or) does.
    fn append_or(
        &self,
        encode: impl FnOnce(&mut Vec<u8>),
        on_full: &mut dyn FnMut(),
    ) -> Result<MutexGuard<'_, State>> {
        let sh = &*self.shared;
        let mut st = self.room_or(on_full)?;
        let start = st.queued.len();
        st.queued.extend_from_slice(&[0; 4]);
        // Should `encode` panic, the partial frame must not stay queued.
        let mut guard = Truncate {
            buf: &mut st.queued,
            to: start,
            armed: true,
        };
        encode(guard.buf);
        guard.armed = false;
        drop(guard);
        let buf = &mut st.queued;
        let len = buf.len() - start - 4;
        if len > sh.max_frame {
            buf.truncate(start);
            return Err(Error::FrameTooLarge {
                len: len as u64,
                max: sh.max_frame as u64,
            });
        }
        if len <= 0x7fff_ffff {
            buf[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
        } else {
            // The -1 escape and an 8-byte length: make room for 8 more bytes.
            buf[start..start + 4].copy_from_slice(&(-1i32).to_be_bytes());
            let at = start + 4;
            buf.splice(at..at, (len as u64).to_be_bytes());
        }
        Ok(st)
    }

    /// Appends one frame with the given payload; see [`queue_with`](Outbox::queue_with).
    pub(crate) fn queue(&self, payload: &[u8]) -> Result<()> {
        self.queue_with(|buf| buf.extend_from_slice(payload))
    }

    /// Writes everything queued, unless another thread is already writing,
    /// in which case that thread writes it.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] or an I/O error if the write failed.
    pub(crate) fn flush(&self) -> Result<()> {
        let sh = &*self.shared;
        let st = sh.lock();
        if st.broken {
            return Err(Error::ConnectionClosed);
        }
        if st.writing || st.queued.is_empty() {
            return Ok(());
        }
        sh.write_queued(st)
    }

    /// Makes sure what is queued gets written soon by the background
    /// flusher, without waiting for a system call here. Past a threshold of
    /// queued bytes the caller writes itself, which also paces a producer
    /// that outruns the connection.
    ///
    /// # Errors
    /// As [`flush`](Outbox::flush).
    fn flush_soon_locked<'a>(&'a self, mut st: MutexGuard<'a, State>) -> Result<()> {
        let sh = &self.shared;
        if st.broken {
            return Err(Error::ConnectionClosed);
        }
        if st.writing {
            return Ok(());
        }
        if st.queued.len() >= EAGER_FLUSH {
            return sh.write_queued(st);
        }
        match st.flusher {
            Flusher::Asleep => {
                st.flusher = Flusher::Awake;
                drop(st);
                sh.wake_flusher.notify_one();
                Ok(())
            }
            Flusher::Awake => Ok(()),
            Flusher::NotStarted => {
                st.flusher = Flusher::Awake;
                drop(st);
                let for_thread = Arc::clone(sh);
                let spawned = std::thread::Builder::new()
                    .name("stdrpc-flush".into())
                    .stack_size(64 * 1024)
                    .spawn(move || for_thread.flusher_loop());
                if spawned.is_err() {
                    sh.lock().flusher = Flusher::Gone;
                    return self.flush();
                }
                Ok(())
            }
            Flusher::Gone => sh.write_queued(st),
        }
    }

    /// Waits until everything queued has been written (or the connection
    /// failed).
    pub(crate) fn wait_drained(&self) {
        let sh = &*self.shared;
        let mut st = sh.lock();
        while !st.broken && (st.writing || !st.queued.is_empty() || st.flusher == Flusher::Awake) {
            if !st.writing && !st.queued.is_empty() && st.flusher != Flusher::Awake {
                // Nobody is going to write it: do it here.
                let _ = sh.write_queued(st);
                st = sh.lock();
                continue;
            }
            st.waiting += 1;
            st = wait(&sh.drained, st);
            st.waiting -= 1;
        }
    }

    /// Marks the outbox broken, waking blocked senders and ending the
    /// flusher. Used when the connection is being torn down.
    pub(crate) fn close(&self) {
        let sh = &*self.shared;
        let mut st = sh.lock();
        st.broken = true;
        drop(st);
        sh.drained.notify_all();
        sh.wake_flusher.notify_all();
    }

    pub(crate) fn stream(&self) -> &Stream {
        &self.shared.stream
    }

    /// A write failed (or the outbox was closed): the connection is unusable.
    pub(crate) fn is_broken(&self) -> bool {
        self.shared.lock().broken
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // Ends the flusher thread, which holds the other reference.
        let sh = &*self.shared;
        let mut st = sh.lock();
        st.flusher = Flusher::Gone;
        drop(st);
        sh.wake_flusher.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state inconsistent
        // (a partial frame is removed by `Truncate`), so poisoning is ignored.
        lock(&self.state)
    }

    /// Writes until the queue is empty, holding the writer role.
    fn write_queued<'a>(&'a self, mut st: MutexGuard<'a, State>) -> Result<()> {
        st.writing = true;
        loop {
            let mut batch = std::mem::take(&mut st.queued);
            st.queued = std::mem::take(&mut st.spare);
            drop(st);
            let outcome = (&*self.stream).write_all(&batch);
            let written = batch.len() as u64;
            batch.clear();
            st = self.lock();
            st.spare = batch;
            if st.waiting > 0 {
                self.drained.notify_all();
            }
            if let Err(e) = outcome {
                st.broken = true;
                st.writing = false;
                st.queued = Vec::new();
                drop(st);
                // The connection is unusable: wake whoever is blocked reading
                // it, so it is torn down rather than left half alive.
                let _ = self.stream.shutdown(std::net::Shutdown::Both);
                self.wake_flusher.notify_all();
                return Err(Error::from_io(e));
            }
            self.written.fetch_add(written, Ordering::Relaxed);
            if st.queued.is_empty() {
                st.writing = false;
                // Give back memory after a burst of large frames; keep
                // what frames of a MiB or so need, so that a stream of them
                // does not allocate, fault in and free a buffer per frame.
                if st.spare.capacity() > crate::frame::KEEP_BUF {
                    st.spare = Vec::new();
                }
                return Ok(());
            }
        }
    }

    fn flusher_loop(&self) {
        let mut st = self.lock();
        loop {
            if st.flusher == Flusher::Gone || st.broken {
                st.flusher = Flusher::Gone;
                drop(st);
                self.drained.notify_all();
                return;
            }
            if !st.writing && !st.queued.is_empty() {
                // Errors mark the outbox broken; the loop then ends.
                let _ = self.write_queued(st);
                st = self.lock();
                continue;
            }
            st.flusher = Flusher::Asleep;
            if st.waiting > 0 {
                self.drained.notify_all();
            }
            while st.flusher == Flusher::Asleep && !st.broken {
                st = wait(&self.wake_flusher, st);
            }
            // Woken by the first frame of a batch: let the threads that are
            // about to append theirs (callers just handed their replies,
            // a producer mid-stream) run first, so that one write carries
            // many frames. Under fan-in the batches were ~3 frames without
            // this, and every small write woke the peer for little work.
            // (Yielding again while the batch grows measured no better.)
            drop(st);
            std::thread::yield_now();
            st = self.lock();
        }
    }
}

/// Truncates a buffer back to a mark unless disarmed: undoes a partial frame
/// if encoding panics.
struct Truncate<'a> {
    buf: &'a mut Vec<u8>,
    to: usize,
    armed: bool,
}

impl Drop for Truncate<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.buf.truncate(self.to);
        }
    }
}
