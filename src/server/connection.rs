//! One authenticated connection on the server: reading requests, running
//! them, and handing the reading over when a handler is slow.
//!
//! The thread that reads a request runs it at once ("inline"): no thread hop
//! between reading a call and answering it, and a batch of requests that
//! arrived together is answered with one write. Before running a handler the
//! reader releases the *reader role*; if the handler is still running after
//! [`HANDOFF_AFTER`], the [`watchdog`](super::watchdog) starts a follower on
//! the handler pool that takes the role and goes on reading, so a slow
//! handler never holds up the calls behind it for longer than that. When the
//! slow handler finishes and finds the role taken, its thread simply leaves.
//!
//! Notifications take a ticket when read and run strictly in ticket order,
//! whichever thread ends up running them.

use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use super::Shared;
use crate::envelope::{self, Message};
use crate::error::{Error, RemoteKind};
use crate::frame::FrameReader;
use crate::outbox::Outbox;
use crate::stream::Stream;

/// How long a handler runs inline before the reading moves to another thread.
pub(super) const HANDOFF_AFTER: Duration = Duration::from_millis(1);

/// The longest message of an error reply; longer texts are cut.
const MAX_ERROR_MESSAGE: usize = 4096;

pub(super) struct Conn {
    pub(super) id: u64,
    shared: Arc<Shared>,
    outbox: Outbox,
    reader: Mutex<ReaderRole>,
    /// Handlers of this connection running now, and threads waiting for
    /// that number to change.
    in_flight: Mutex<Waited>,
    in_flight_changed: Condvar,
    /// When the handler the last reader started inline began, in nanoseconds
    /// since the server's epoch; 0 while no handler runs inline.
    pub(super) inline_since: AtomicU64,
    /// A follower has been requested for the current inline run.
    pub(super) handed_off: AtomicBool,
    /// How many requests have run inline (the watchdog's sign of activity).
    pub(super) runs: AtomicU64,
    /// The ticket of the next notification to run.
    notify_turn: Mutex<Waited>,
    notify_turn_changed: Condvar,
}

/// A counter and how many threads wait for it to change: notifying a
/// condition variable costs a system call even with nobody waiting, so it
/// is only done when somebody is.
#[derive(Default)]
struct Waited {
    value: u64,
    waiters: u32,
}

impl Waited {
    /// Waits on `cv` until `done` holds.
    fn wait_until<'a>(
        mut guard: MutexGuard<'a, Waited>,
        cv: &Condvar,
        done: impl Fn(u64) -> bool,
    ) -> MutexGuard<'a, Waited> {
        while !done(guard.value) {
            guard.waiters += 1;
            guard = cv.wait(guard).unwrap_or_else(|e| e.into_inner());
            guard.waiters -= 1;
        }
        guard
    }
}

struct ReaderRole {
    stream: Stream,
    frames: FrameReader,
    /// The next notification ticket to hand out.
    next_ticket: u64,
    /// The connection has ended; a thread that takes the role leaves at once.
    done: bool,
}

/// What the reader does with a message after releasing the role.
enum Work {
    Call {
        id: u64,
        method: String,
        args: Vec<u8>,
    },
    Notify {
        ticket: u64,
        method: String,
        args: Vec<u8>,
    },
}

impl Conn {
    pub(super) fn new(id: u64, shared: Arc<Shared>, stream: Stream) -> std::io::Result<Conn> {
        let config = &shared.config;
        let outbox = Outbox::new(
            stream.try_clone()?,
            config.max_frame,
            config.max_write_backlog,
            Arc::clone(&shared.counters.bytes_out),
        );
        let frames = FrameReader::new(config.max_frame);
        stream.set_write_timeout(config.write_timeout)?;
        stream.set_read_timeout(config.idle_timeout)?;
        Ok(Conn {
            id,
            outbox,
            reader: Mutex::new(ReaderRole {
                stream,
                frames,
                next_ticket: 0,
                done: false,
            }),
            in_flight: Mutex::default(),
            in_flight_changed: Condvar::new(),
            inline_since: AtomicU64::new(0),
            handed_off: AtomicBool::new(false),
            runs: AtomicU64::new(0),
            notify_turn: Mutex::default(),
            notify_turn_changed: Condvar::new(),
            shared,
        })
    }

    fn reader(&self) -> MutexGuard<'_, ReaderRole> {
        self.reader.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads and runs requests while this thread holds the reader role.
    /// Returns when the connection has ended or another thread took over.
    pub(super) fn serve(self: &Arc<Self>) {
        let mut role = self.reader();
        loop {
            if role.done {
                return;
            }
            let work = match self.next_work(&mut role) {
                Ok(Some(work)) => work,
                Ok(None) => continue,
                Err(()) => {
                    self.finish(role);
                    return;
                }
            };
            // Run it without the role, so a follower can read meanwhile.
            drop(role);
            self.run_inline(work);
            role = match self.reader.try_lock() {
                Ok(role) => role,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    // A follower reads now; our reply must not wait for it.
                    let _ = self.outbox.flush();
                    return;
                }
            };
        }
    }

    /// Reads the next message; `Ok(None)` for one handled on the spot,
    /// `Err(())` when the connection must end.
    fn next_work(&self, role: &mut ReaderRole) -> Result<Option<Work>, ()> {
        let shared = &*self.shared;
        if !role.frames.has_frame() {
            // About to block: the replies of the batch just run go out now.
            if self.outbox.flush().is_err() {
                return Err(());
            }
        }
        let ReaderRole { stream, frames, .. } = role;
        let mut src = &*stream;
        let frame = loop {
            match frames.next(&mut src) {
                Ok(Some(frame)) => break frame,
                // Idle past the limit: close, unless a call is still running
                // (its caller is waiting, not idle).
                Err(Error::Timeout) if self.in_flight_now() > 0 => {}
                Err(Error::Timeout) => return Err(()),
                Ok(None) | Err(Error::ConnectionClosed) => return Err(()),
                Err(_) => {
                    if !shared.stopping() {
                        shared.counters.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    return Err(());
                }
            }
        };
        shared
            .counters
            .bytes_in
            .fetch_add(frame.len() as u64 + 4, Ordering::Relaxed);
        match Message::parse(frame) {
            Ok(Message::Call { id, method, args }) => {
                if shared.stopping() {
                    let message = format!("{method:?} was not run");
                    self.send_error(id, RemoteKind::ShuttingDown, &message);
                    return Ok(None);
                }
                Ok(Some(Work::Call {
                    id,
                    method: method.to_owned(),
                    args: args.to_vec(),
                }))
            }
            Ok(Message::Notify { method, args }) => {
                let ticket = role.next_ticket;
                role.next_ticket += 1;
                Ok(Some(Work::Notify {
                    ticket,
                    method: method.to_owned(),
                    args: args.to_vec(),
                }))
            }
            Ok(Message::Ok { .. } | Message::Error { .. }) | Err(_) => {
                shared.counters.errors.fetch_add(1, Ordering::Relaxed);
                Err(())
            }
        }
    }

    /// Runs one request on this thread, under the watchdog's eye.
    fn run_inline(self: &Arc<Self>, work: Work) {
        self.acquire_in_flight();
        self.handed_off.store(false, Ordering::Relaxed);
        self.shared.watchdog.watch(self);
        match work {
            Work::Call { id, method, args } => self.run_call(id, &method, &args),
            Work::Notify {
                ticket,
                method,
                args,
            } => self.run_notify(ticket, &method, &args),
        }
        self.inline_since.store(0, Ordering::SeqCst);
        self.release_in_flight();
    }

    fn run_call(&self, id: u64, method: &str, args: &[u8]) {
        let shared = &*self.shared;
        let mut reply = Vec::with_capacity(64);
        envelope::ok_head(&mut reply, id);
        let head = reply.len();
        let outcome = shared.registry.dispatch(method, args, &mut reply);
        let failure = match outcome {
            Ok(()) if reply.len() <= shared.config.max_frame => None,
            // The handler succeeded but its result cannot be sent.
            Ok(()) => Some((
                RemoteKind::Handler,
                format!(
                    "the reply of {} bytes exceeds the maximum frame of {} bytes",
                    reply.len() - head,
                    shared.config.max_frame
                ),
            )),
            Err(f) => Some((f.kind, f.message)),
        };
        match failure {
            None => {
                shared.counters.calls.fetch_add(1, Ordering::Relaxed);
                // A failed queue means the connection is gone; the reader notices.
                let _ = self.outbox.queue(&reply);
            }
            Some((kind, message)) => {
                shared.counters.errors.fetch_add(1, Ordering::Relaxed);
                self.send_error(id, kind, &message);
            }
        }
    }

    /// Queues an error reply, cutting the message so the reply always fits
    /// in a frame: a caller is never left without an answer.
    fn send_error(&self, id: u64, kind: RemoteKind, message: &str) {
        let room = self
            .shared
            .config
            .max_frame
            .saturating_sub(24)
            .min(MAX_ERROR_MESSAGE);
        let message = truncate_utf8(message, room);
        let _ = self
            .outbox
            .queue_with(|buf| envelope::error(buf, id, kind, message));
    }

    fn run_notify(&self, ticket: u64, method: &str, args: &[u8]) {
        let shared = &*self.shared;
        let turn = self.notify_turn.lock().unwrap_or_else(|e| e.into_inner());
        drop(Waited::wait_until(turn, &self.notify_turn_changed, |t| {
            t == ticket
        }));
        let mut scratch = Vec::new();
        let counter = match shared.registry.dispatch(method, args, &mut scratch) {
            Ok(()) => &shared.counters.calls,
            Err(_) => &shared.counters.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let mut turn = self.notify_turn.lock().unwrap_or_else(|e| e.into_inner());
        turn.value += 1;
        if turn.waiters > 0 {
            self.notify_turn_changed.notify_all();
        }
    }

    fn in_flight_now(&self) -> u64 {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).value
    }

    fn acquire_in_flight(&self) {
        let max = self.shared.config.max_in_flight as u64;
        let n = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = Waited::wait_until(n, &self.in_flight_changed, |v| v < max);
        n.value += 1;
    }

    fn release_in_flight(&self) {
        let mut n = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        n.value -= 1;
        if n.waiters > 0 {
            self.in_flight_changed.notify_all();
        }
    }

    /// The connection ended: let the handlers still running answer, send
    /// everything, close, and leave the server's table.
    fn finish(&self, mut role: MutexGuard<'_, ReaderRole>) {
        role.done = true;
        let n = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        drop(Waited::wait_until(n, &self.in_flight_changed, |v| v == 0));
        let _ = self.outbox.flush();
        self.outbox.wait_drained();
        self.outbox.close();
        let _ = role.stream.shutdown(Shutdown::Both);
        drop(role);
        self.shared.connection_closed(self.id);
    }

    /// Starts a follower that takes over the reading (called by the watchdog).
    pub(super) fn hand_off(self: &Arc<Self>) {
        let conn = Arc::clone(self);
        self.shared.pool.execute(move || conn.serve());
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character
/// boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate_utf8;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("héllo", 3), "hé");
        assert_eq!(truncate_utf8("abc", 10), "abc");
    }
}
