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
//!   does not wait for a system call per frame and its frames leave in
//!   batches; past 8 KiB queued, the sender writes the batch itself.
//!
//! A sender blocked by a full backlog first runs its `on_full` hook (the
//! client then reads for every call outstanding). A write that blocks in
//! the socket instead is left to the client's stall watch (client/replies.rs),
//! which reads once no reply has been read for 100 ms.
//!
//! A large byte buffer at the end of a frame (`Outbox::send_split`) is not
//! copied into the buffer: the thread that finds nobody writing writes what
//! is queued and then it, with vectored writes.
//!
//! The buffer is bounded: a sender that finds more than the backlog limit
//! queued waits until the writer has drained it, so a peer that stops reading
//! costs at most the limit (plus one frame) in memory.

use std::io::{IoSlice, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::stream::Stream;
use crate::sync::{lock, wait};

/// The bytes a frame built for [`Outbox::queue_frame`] leaves at its front
/// for the header.
pub(crate) const FRAME_HEAD: usize = 4;

/// Trailing payload bytes from which [`Outbox::send_split`] writes them
/// from where they are instead of copying them into the buffer.
pub(crate) const VECTORED_MIN: usize = 64 * 1024;

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

    /// Queues a frame for the background flusher (or writes the batch here
    /// once 8 KiB are queued): [`queue_with`](Outbox::queue_with) and
    /// `flush_soon_locked` under one lock.
    /// `on_full` runs first (without the lock) if the backlog is full, that
    /// is, if sending must wait for the peer to read.
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
    #[inline]
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

    /// Sends one frame whose payload is `head` (after its first
    /// [`FRAME_HEAD`] bytes, left for the header) followed by `tail`,
    /// without copying a large `tail` (see [`send_split`](Outbox::send_split)).
    /// `head` is left empty.
    ///
    /// # Errors
    /// As [`send_split`](Outbox::send_split).
    pub(crate) fn send_frame_vectored(&self, head: &mut Vec<u8>, tail: &[u8]) -> Result<()> {
        let from = FRAME_HEAD.min(head.len());
        let result = self.send_split(
            |buf| {
                buf.extend_from_slice(&head[from..]);
                tail
            },
            true,
            || {},
        );
        head.clear();
        result
    }

    /// Queues one frame whose payload `encode` writes into the buffer,
    /// except for trailing bytes it returns instead (`Encode::encode_split`),
    /// and sends it: at once (`now`: written here, or by the thread already
    /// writing), or as [`send_soon`](Outbox::send_soon) does; `on_full` as
    /// there.
    ///
    /// Trailing bytes of [`VECTORED_MIN`] or more are not copied: when
    /// nobody is writing, this thread writes everything queued and then
    /// them, with vectored writes (one system call where the socket takes
    /// it all), then anything queued meanwhile. When another thread is
    /// writing, they are copied in behind the frame's head, as
    /// [`queue_with`](Outbox::queue_with) would. Either way frames stay in
    /// order: this one leaves after those queued before it and before those
    /// queued while it is written.
    ///
    /// # Errors
    /// [`Error::FrameTooLarge`] (nothing is queued),
    /// [`Error::ConnectionClosed`] once the connection has failed, or the
    /// I/O error of a write made here.
    pub(crate) fn send_split<'t>(
        &self,
        encode: impl FnOnce(&mut Vec<u8>) -> &'t [u8],
        now: bool,
        mut on_full: impl FnMut(),
    ) -> Result<()> {
        let mut tail: &[u8] = &[];
        let mut st = self.append_with(
            |buf| {
                tail = encode(buf);
                if tail.len() < VECTORED_MIN {
                    buf.extend_from_slice(tail);
                    tail = &[];
                }
                tail.len()
            },
            &mut on_full,
        )?;
        if tail.is_empty() {
            // Written at once (or left to the thread already writing), or
            // left to the background flusher.
            return match (now, st.writing) {
                (true, true) => Ok(()),
                (true, false) => self.shared.write_queued(st),
                (false, _) => self.flush_soon_locked(st),
            };
        }
        let sh = &*self.shared;
        if st.writing {
            st.queued.extend_from_slice(tail);
            return Ok(());
        }
        st.writing = true;
        let mut batch = std::mem::take(&mut st.queued);
        st.queued = std::mem::take(&mut st.spare);
        drop(st);
        let outcome = write_all_vectored(&*sh.stream, &mut [&batch, tail]);
        let written = (batch.len() + tail.len()) as u64;
        batch.clear();
        let mut st = sh.lock();
        st.spare = batch;
        sh.after_write(st, outcome, written)
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
        self.append_with(
            |buf| {
                encode(buf);
                0
            },
            on_full,
        )
    }

    /// Appends one frame's header and the part of its payload that
    /// `encode` writes; `encode` returns how many more payload bytes follow
    /// (written by the caller after the buffer). Runs `on_full` as
    /// [`room_or`](Outbox::room_or) does. Returns the lock, still held.
    fn append_with(
        &self,
        encode: impl FnOnce(&mut Vec<u8>) -> usize,
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
        let more = encode(guard.buf);
        guard.armed = false;
        drop(guard);
        let buf = &mut st.queued;
        let len = (buf.len() - start - 4).saturating_add(more);
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

    /// Writes until the queue is empty, holding the writer role, then
    /// gives the role up.
    fn write_queued<'a>(&'a self, mut st: MutexGuard<'a, State>) -> Result<()> {
        st.writing = true;
        loop {
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
            let mut batch = std::mem::take(&mut st.queued);
            st.queued = std::mem::take(&mut st.spare);
            drop(st);
            let outcome = (&*self.stream).write_all(&batch);
            let written = batch.len() as u64;
            batch.clear();
            st = self.lock();
            st.spare = batch;
            st = self.note_written(st, outcome, written)?;
        }
    }

    /// After a write by the thread holding the writer role: wakes waiting
    /// senders and counts the bytes, or marks the outbox broken (giving up
    /// the role) if the write failed.
    fn note_written<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        outcome: std::io::Result<()>,
        written: u64,
    ) -> Result<MutexGuard<'a, State>> {
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
        Ok(st)
    }

    /// After a vectored write (`Outbox::send_split`): as
    /// `write_queued` after each of its writes, and then it writes whatever
    /// was queued meanwhile, still holding the writer role.
    fn after_write<'a>(
        &'a self,
        st: MutexGuard<'a, State>,
        outcome: std::io::Result<()>,
        written: u64,
    ) -> Result<()> {
        let st = self.note_written(st, outcome, written)?;
        self.write_queued(st)
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

/// Writes every byte of `parts`, in order, with as few system calls as the
/// writer allows (`Write::write_all_vectored` is not stable yet).
fn write_all_vectored(mut w: impl Write, parts: &mut [&[u8]]) -> std::io::Result<()> {
    let mut at = 0;
    while at < parts.len() {
        if parts[at].is_empty() {
            at += 1;
            continue;
        }
        let slices: Vec<IoSlice<'_>> = parts[at..].iter().map(|p| IoSlice::new(p)).collect();
        match w.write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(mut n) => {
                while n > 0 {
                    let take = n.min(parts[at].len());
                    parts[at] = &parts[at][take..];
                    n -= take;
                    if parts[at].is_empty() {
                        at += 1;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes at most `max` bytes per call, across buffers, like a socket
    /// whose send buffer is nearly full; sometimes interrupted.
    struct Chunky {
        out: Vec<u8>,
        max: usize,
        calls: usize,
    }

    impl Write for Chunky {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.calls % 5 == 0 {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            let mut left = self.max.min(1 + self.calls * 7);
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(left);
                self.out.extend_from_slice(&b[..take]);
                n += take;
                left -= take;
            }
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn vectored_writes_send_every_byte_in_order() {
        let a: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let b = b"head".to_vec();
        let c: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        for max in [1, 3, 100, 4096, 1 << 20] {
            let mut w = Chunky {
                out: Vec::new(),
                max,
                calls: 0,
            };
            write_all_vectored(&mut w, &mut [&a, &[], &b, &c, &[]]).unwrap();
            assert_eq!(w.out, [&a[..], &b, &c].concat(), "max {max}");
        }
        let mut w = Chunky {
            out: Vec::new(),
            max: 0,
            calls: 0,
        };
        let err = write_all_vectored(&mut w, &mut [&a]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WriteZero);
    }
}
