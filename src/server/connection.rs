//! One authenticated connection on the server: reading requests, running
//! them, and handing the reading over when a handler is slow.
//!
//! The thread that reads a request runs it at once ("inline"): no thread hop
//! between reading a call and answering it, and a batch of requests that
//! arrived together is answered with one write. Before running a handler the
//! reader releases the *reader role*; if the handler is still running after
//! [`HANDOFF_AFTER`](super::watchdog::HANDOFF_AFTER), the [`watchdog`](super::watchdog) starts a follower on
//! the handler pool that takes the role and goes on reading, so a slow
//! handler never holds up the calls behind it for longer than that. When the
//! slow handler finishes and finds the role taken, its thread simply leaves.
//!
//! Notifications run on the spot, by the thread that read them and while it
//! keeps the reader role: in the order they arrive, each before the next
//! message is read (PROTOCOL.md §4.4), with no copy of their bytes and no
//! hand-over between threads. A slow one holds up its connection, as the
//! protocol says it does; the watchdog does not move the reading past it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use super::Counters;
use super::watchdog::{Stamp, Watchdog, Watched};
use crate::budget::{self, Budget, Reservation};
use crate::codec::Decoder;
use crate::config::Config;
use crate::context::{ConnInfo, Context};
use crate::envelope::{self, Check, Message};
use crate::error::{Error, RemoteKind};
use crate::frame::FrameReader;
use crate::outbox::{FRAME_HEAD, Outbox, VECTORED_MIN};
use crate::pool::Pool;
use crate::registry::{Args, Callee, MethodId, Registry};
use crate::stop::StopRead;
use crate::stream::Stream;
use crate::sync::{Gauge, lock};
use crate::upgrade::{Upgrade, Upgraded};

/// The longest message of an error reply; longer texts are cut. Handler
/// error and panic texts are already cut to 4 KiB with a note of their
/// length (`registry::MAX_MESSAGE`); this leaves room for the note and a
/// method name around them.
const MAX_ERROR_MESSAGE: usize = 8192;

/// The longest a closing connection waits for its peer to close too, where
/// it must read what the peer still sends to keep the last replies from
/// being reset away (`Stream::close_lingering`).
const LINGER: Duration = Duration::from_secs(1);

/// What a stdrpc request may take in memory while it is read and decoded,
/// as a multiple of its frame length: the frame in the read buffer (1), its
/// copy for the handler (1), and what decoding its arguments may allocate
/// (the codec's bound, [`crate::codec::DECODE_MEMORY_FACTOR`]).
pub(super) const STDRPC_WORKING_MEMORY_FACTOR: usize = 2 + crate::codec::DECODE_MEMORY_FACTOR;

/// What a connection uses of its server, and all it sees of it. The server
/// implements it; the rest of its state (the authkey, the table of
/// connections, the accept loop) stays its own.
pub(super) trait Host: Send + Sync + 'static {
    /// The server's settings.
    fn config(&self) -> &Config;
    /// The registered methods.
    fn registry(&self) -> &Registry;
    /// The memory budget every connection's requests are charged to.
    fn budget(&self) -> &Arc<Budget>;
    /// The counters behind the server's `Stats`.
    fn counters(&self) -> &Counters;
    /// Set once the server is shutting down.
    fn stopping_flag(&self) -> &AtomicBool;
    /// Notices handlers that run long inline.
    fn watchdog(&self) -> &Watchdog;
    /// The threads that followers and handed-off readers run on.
    fn handler_pool(&self) -> &Pool;
    /// The connection `id` has closed: it leaves the server's table.
    fn connection_closed(&self, id: u64);
    /// Starts the server's shutdown (a stock Python client may ask for it).
    fn begin_shutdown(&self);
    /// The protocol a connection is handed to when it claims the first
    /// frame (`upgrade.rs`), if the server has one.
    fn upgrade(&self) -> Option<&dyn Upgrade>;

    /// Whether the server's upgrade claims a connection whose first frame
    /// starts with `first`.
    fn upgrade_claims(&self, first: &[u8]) -> bool {
        self.upgrade().is_some_and(|u| u.claims(first))
    }

    /// Whether the server is shutting down.
    fn stopping(&self) -> bool {
        self.stopping_flag().load(Ordering::Acquire)
    }
}

pub(super) struct Conn {
    pub(super) id: u64,
    shared: Arc<dyn Host>,
    outbox: Outbox,
    reader: Mutex<ReaderRole>,
    /// Handlers of this connection running now, and threads waiting for
    /// that number to change.
    in_flight: Gauge,
    /// What the watchdog knows of the handler running inline.
    stamp: Stamp,
    /// The ids of the calls whose handlers run now, so that a shutdown
    /// deadline can answer them with [`RemoteKind::Abandoned`]; a call whose
    /// id is gone when its handler returns was answered that way already.
    running: Mutex<Vec<u64>>,
    /// What every call's [`Context`] shares; cancelled when the connection
    /// closes or the server shuts down.
    info: Arc<ConnInfo>,
    /// The context of a call without a deadline, built once.
    context: Context,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

struct ReaderRole {
    stream: Arc<Stream>,
    frames: FrameReader,
    /// The first message has been looked at (only it may switch the
    /// connection to another protocol: `upgrade.rs`).
    first_checked: bool,
    /// The connection has ended; a thread that takes the role leaves at once.
    done: bool,
    /// The method of the last request (`Registry::callee_after`).
    last_method: Option<MethodId>,
}

/// What the reader does with a message after releasing the role.
enum Work {
    /// The server's upgrade claims the connection's first message (a
    /// pickle: a stock Python `BaseManager` client). The whole connection
    /// is handed over.
    Upgrade(Vec<u8>),
    /// `data` holds the method name and the arguments.
    Call {
        id: u64,
        check: Check,
        data: Scratch,
        /// The request's share of the memory budget, held until it has run.
        held: Option<Reservation>,
        /// The caller's deadline, from the moment the call was read.
        deadline: Option<Instant>,
    },
}

thread_local! {
    /// Each thread's reusable buffers: a request's method name and
    /// arguments copied out of the read buffer, and a reply being built.
    /// Reusing them keeps allocation off the per-message path.
    static SCRATCH: std::cell::Cell<(String, Vec<u8>, Vec<u8>)> =
        const { std::cell::Cell::new((String::new(), Vec::new(), Vec::new())) };
}

/// Arguments from this size on are not copied out of the read buffer when
/// their frame is all it holds: the handler reads them in the reader's own
/// buffer, taken for the time it runs (`FrameReader::take_last`).
const TAKE_ARGS_MIN: usize = 64 * 1024;

/// A thread's scratch buffers for one message, returned to the thread when
/// dropped (unless they grew large).
struct Scratch {
    /// The method, if a handler has it; else its name is in `name`.
    method: Option<MethodId>,
    /// The name of a method no handler has (checked for UTF-8 once).
    name: String,
    /// Holds the argument bytes (see `held`).
    buf: Vec<u8>,
    /// Where the arguments lie in `buf`.
    args: std::ops::Range<usize>,
    held: Held,
    reply: Vec<u8>,
}

/// Whose buffer a [`Scratch`] holds the arguments in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Held {
    /// The thread's own: a copy.
    Copy,
    /// The frame reader's, to be given back once the call has run.
    Taken,
    /// One byte string's bytes (its length dropped), read into a buffer of
    /// their own (`FrameReader::split_bulk`), for the handler to take.
    ByteString,
}

impl Scratch {
    /// Copies a message's method and arguments into a thread's buffers.
    #[inline(always)]
    fn copy_out(method: Callee<'_>, args: &[u8]) -> Scratch {
        let mut scratch = Scratch::named(method);
        scratch.copy_args(args);
        scratch
    }

    /// Copies the arguments into the thread's buffer.
    #[inline(always)]
    fn copy_args(&mut self, args: &[u8]) {
        self.buf.extend_from_slice(args);
        self.args = 0..args.len();
    }

    /// A message's method in a thread's buffers; no arguments yet.
    fn named(method: Callee<'_>) -> Scratch {
        let (mut name, mut buf, mut reply) = SCRATCH.with(|s| s.take());
        name.clear();
        let method = match method {
            Callee::Found(id) => Some(id),
            Callee::Named(unknown) => {
                name.push_str(unknown);
                None
            }
        };
        buf.clear();
        reply.clear();
        Scratch {
            method,
            name,
            buf,
            args: 0..0,
            held: Held::Copy,
            reply,
        }
    }

    /// Uses the frame reader's buffer, where the arguments lie at `args`.
    fn use_taken(&mut self, buf: Vec<u8>, args: std::ops::Range<usize>) {
        self.buf = buf;
        self.args = args;
        self.held = Held::Taken;
    }

    /// Uses a byte string's own buffer: the arguments are its bytes.
    fn use_byte_string(&mut self, bytes: Vec<u8>) {
        self.args = 0..bytes.len();
        self.buf = bytes;
        self.held = Held::ByteString;
    }

    /// The frame reader's buffer, if the arguments were read in it.
    fn take_back(&mut self) -> Option<Vec<u8>> {
        if self.held != Held::Taken {
            return None;
        }
        self.held = Held::Copy;
        self.args = 0..0;
        Some(std::mem::take(&mut self.buf))
    }

    /// The method and the arguments (a byte string's buffer goes with
    /// them).
    fn parts(&mut self) -> (Callee<'_>, Args<'_>) {
        let args = match self.held {
            Held::ByteString => {
                self.held = Held::Copy;
                self.args = 0..0;
                Args::ByteString(std::mem::take(&mut self.buf))
            }
            Held::Copy | Held::Taken => {
                Args::Bytes(self.buf.get(self.args.clone()).unwrap_or_default())
            }
        };
        let method = match self.method {
            Some(id) => Callee::Found(id),
            None => Callee::Named(&self.name),
        };
        (method, args)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        const KEEP: usize = 64 * 1024;
        if self.held == Held::Copy && self.buf.capacity() <= KEEP && self.reply.capacity() <= KEEP {
            let kept = (
                std::mem::take(&mut self.name),
                std::mem::take(&mut self.buf),
                std::mem::take(&mut self.reply),
            );
            SCRATCH.with(|s| s.set(kept));
        }
    }
}

impl Conn {
    pub(super) fn new(
        id: u64,
        shared: Arc<dyn Host>,
        stream: Arc<Stream>,
    ) -> std::io::Result<Conn> {
        let config = shared.config();
        let outbox = Outbox::new(
            Arc::clone(&stream),
            config.max_frame,
            config.max_write_backlog,
            Arc::clone(&shared.counters().bytes_out),
        );
        let mut frames = FrameReader::new(config.max_frame);
        frames.split_bulk(Some(envelope::call_bulk));
        frames.charge(
            Arc::clone(shared.budget()),
            STDRPC_WORKING_MEMORY_FACTOR,
            config.budget_wait,
        );
        // The read timeout (the idle timeout) was set as the handshake ended.
        if config.write_timeout.is_some() {
            stream.set_write_timeout(config.write_timeout)?;
        }
        let info = ConnInfo::new(id, stream.peer_addr());
        if shared.stopping() {
            info.cancel();
        }
        let context = Context::new(&info, None);
        Ok(Conn {
            id,
            outbox,
            reader: Mutex::new(ReaderRole {
                first_checked: false,
                stream,
                frames,
                done: false,
                last_method: None,
            }),
            in_flight: Gauge::default(),
            stamp: Stamp::default(),
            running: Mutex::new(Vec::new()),
            info,
            context,
            shared,
        })
    }

    fn reader(&self) -> MutexGuard<'_, ReaderRole> {
        lock(&self.reader)
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
                Ok(Some(Work::Upgrade(first))) => {
                    self.serve_upgraded(&mut role, &first);
                    self.finish(role);
                    return;
                }
                Ok(Some(work)) => work,
                Ok(None) => continue,
                Err(()) => {
                    self.finish(role);
                    return;
                }
            };
            // Run it without the role, so a follower can read meanwhile.
            drop(role);
            let read_buf = self.run_inline(work);
            role = match self.reader.try_lock() {
                Ok(role) => role,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    // A follower reads now; our reply must not wait for it.
                    let _ = self.outbox.flush();
                    return;
                }
            };
            if let Some(buf) = read_buf {
                role.frames.give_back(buf);
            }
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
        let ReaderRole {
            stream,
            frames,
            last_method,
            ..
        } = role;
        // Reading ends when the server stops, and when a write has failed
        // (where the outbox's shutdown cannot wake this read; see stop.rs).
        let stop = || shared.stopping() || self.outbox.is_broken();
        let mut src = StopRead::new(&**stream, &stop, shared.config().idle_timeout);
        let (frame, bulk) = loop {
            match frames.next_split(&mut src) {
                Ok(Some(read)) => break read,
                // Idle past the limit: close, unless a call is still running
                // (its caller is waiting, not idle).
                Err(Error::Timeout) if self.in_flight_now() > 0 => {}
                Err(Error::Timeout) => return Err(()),
                Ok(None) | Err(Error::ConnectionClosed) => return Err(()),
                Err(Error::Remote {
                    kind: RemoteKind::Overloaded,
                    message,
                }) => return self.refused(role, &message),
                Err(_) => {
                    if !shared.stopping() {
                        shared.counters().errors.fetch_add(1, Ordering::Relaxed);
                    }
                    return Err(());
                }
            }
        };
        shared
            .counters()
            .bytes_in
            .fetch_add((frame.len() + bulk) as u64 + 4, Ordering::Relaxed);
        let work = match Message::parse(frame) {
            Ok(Message::Call {
                id,
                method,
                check,
                args,
                deadline,
            }) => {
                let Some(method) = shared.registry().callee_after(method, last_method) else {
                    return self.malformed();
                };
                if shared.stopping() {
                    let name = shared.registry().name(method);
                    let message = format!("{name:?} was not run");
                    self.send_error(id, RemoteKind::ShuttingDown, &message);
                    drop(role.frames.take_bulk());
                    return Ok(None);
                }
                // Counted as in flight before the role is released: a thread
                // that takes the role next and finds the connection ended
                // must wait for this call's reply (`finish`), not close the
                // outbox under it (a call that ran would then be reported
                // as closed).
                self.acquire_in_flight();
                let data = if bulk > 0 {
                    // One byte string, read into a buffer of its own (`args`
                    // is its length, checked): the handler takes it as it is.
                    let mut data = Scratch::named(method);
                    data.use_byte_string(role.frames.take_bulk().unwrap_or_default());
                    data
                } else if args.len() >= TAKE_ARGS_MIN {
                    // A large request alone in the read buffer is not
                    // copied: the buffer goes with it to the handler.
                    let at = args.as_ptr() as usize - frame.as_ptr() as usize;
                    let len = args.len();
                    let mut data = Scratch::named(method);
                    match role.frames.take_last() {
                        Some((buf, frame)) => {
                            let from = frame.start + at;
                            data.use_taken(buf, from..from + len);
                        }
                        None => data.copy_args(&role.frames.last_frame()[at..at + len]),
                    }
                    data
                } else {
                    Scratch::copy_out(method, args)
                };
                let held = role.frames.take_reservation();
                let deadline = deadline.and_then(|d| Instant::now().checked_add(d));
                Ok(Some(Work::Call {
                    id,
                    check,
                    data,
                    held,
                    deadline,
                }))
            }
            Ok(Message::Notify {
                method,
                check,
                args,
                ..
            }) => {
                // Run here, keeping the role: the next message is read only
                // after it. Its bytes are read where they lie, and its share
                // of the budget (the frame reader's) is held until then.
                let Some(method) = shared.registry().callee_after(method, last_method) else {
                    return self.malformed();
                };
                self.acquire_in_flight();
                self.run_notify(method, check, args);
                self.release_in_flight();
                Ok(None)
            }
            Ok(Message::Unsupported { id, tag }) => {
                shared.counters().errors.fetch_add(1, Ordering::Relaxed);
                if let Some(id) = id {
                    let message = format!(
                        "protocol error: unsupported must-understand extension 0x{tag:02x}"
                    );
                    self.send_error(id, RemoteKind::Other, &message);
                }
                Ok(None)
            }
            Err(_) if !role.first_checked && shared.upgrade_claims(frame) => {
                Ok(Some(Work::Upgrade(frame.to_vec())))
            }
            Ok(Message::Ok { .. } | Message::Error { .. }) | Err(_) => {
                shared.counters().errors.fetch_add(1, Ordering::Relaxed);
                Err(())
            }
        };
        role.first_checked = true;
        work
    }

    /// A message that does not parse (here: a method name that is not
    /// UTF-8) ends the connection.
    fn malformed(&self) -> Result<Option<Work>, ()> {
        self.shared
            .counters()
            .errors
            .fetch_add(1, Ordering::Relaxed);
        Err(())
    }

    /// A request was refused for lack of memory budget (its payload has
    /// been read and dropped): a call is answered with
    /// [`RemoteKind::Overloaded`], a notification dropped; the connection
    /// goes on. An upgraded connection's first request ends the connection.
    fn refused(&self, role: &mut ReaderRole, message: &str) -> Result<Option<Work>, ()> {
        let shared = &*self.shared;
        shared.counters().overloaded.fetch_add(1, Ordering::Relaxed);
        let head = role.frames.skipped_head();
        let upgrade = !role.first_checked && shared.upgrade_claims(head);
        role.first_checked = true;
        if upgrade {
            return Err(());
        }
        // A call (untyped 0x01, typed 0x05 and 0x15) starts with its id.
        if let Some((&(0x01 | 0x05 | 0x15), rest)) = head.split_first() {
            if let Ok(id) = Decoder::new(rest).read_varint_u64() {
                self.send_error(id, RemoteKind::Overloaded, message);
            }
        }
        Ok(None)
    }

    /// Hands the connection to the server's upgrade, on this thread, until
    /// the peer disconnects.
    fn serve_upgraded(&self, role: &mut ReaderRole, first: &[u8]) {
        let shared = &*self.shared;
        let Some(upgrade) = shared.upgrade() else {
            return;
        };
        let shutdown = || shared.begin_shutdown();
        let ReaderRole { stream, frames, .. } = role;
        // The upgrade reads whole frames of its own protocol.
        frames.split_bulk(None);
        let conn = Upgraded {
            registry: shared.registry(),
            config: shared.config(),
            stream,
            frames,
            bytes_in: &shared.counters().bytes_in,
            bytes_out: &shared.counters().bytes_out,
            overloaded: &shared.counters().overloaded,
            stopping: shared.stopping_flag(),
            shutdown: &shutdown,
            context: &self.context,
        };
        match upgrade.serve(conn, first) {
            Err(_) if !shared.stopping() => {
                shared.counters().errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// Runs one request on this thread, under the watchdog's eye. Returns
    /// the frame reader's buffer if the request was read and run in it.
    fn run_inline(self: &Arc<Self>, work: Work) -> Option<Vec<u8>> {
        match work {
            Work::Call {
                id,
                check,
                mut data,
                held,
                deadline,
            } => {
                self.watch();
                let mut reply = std::mem::take(&mut data.reply);
                // What decoding needed goes back as the handler starts
                // (`registry` calls `budget::decoded`); the request's own
                // bytes, which the handler reads, when it returns.
                let lent = budget::hold_while_running(held, data.buf.len());
                let (method, args) = data.parts();
                let tail = self.run_call(id, method, check, args, &mut reply, deadline);
                budget::finished();
                drop(lent);
                self.stamp.clear();
                // Written after the watch: a write that waits for the peer
                // to read is no reason to hand the reading over.
                if let Some(tail) = tail {
                    // A failed write means the connection is gone; the reader notices.
                    let _ = self.outbox.send_frame_vectored(&mut reply, &tail);
                }
                data.reply = reply;
                // Taken when the call was read (`next_work`).
                self.release_in_flight();
                data.take_back()
            }
            // Never run inline: `serve` hands the connection to `serve_upgraded`.
            Work::Upgrade(_) => None,
        }
    }

    /// Tells the watchdog a handler starts running inline now.
    fn watch(&self) {
        self.shared.watchdog().watch(&self.stamp);
    }

    /// Runs a call and queues its reply, except for a large result the
    /// handler returned as a buffer of its own: that is returned, its
    /// frame's head left in `reply`, for the caller to send without copying
    /// it (`Outbox::send_frame_vectored`).
    fn run_call(
        &self,
        id: u64,
        method: Callee<'_>,
        check: Check,
        args: Args<'_>,
        reply: &mut Vec<u8>,
        deadline: Option<Instant>,
    ) -> Option<Vec<u8>> {
        let shared = &*self.shared;
        // Only a call with a deadline pays for a context of its own.
        let with_deadline;
        let ctx = match deadline {
            None => &self.context,
            Some(at) => {
                if Instant::now() >= at {
                    shared.counters().errors.fetch_add(1, Ordering::Relaxed);
                    let name = shared.registry().name(method);
                    let message =
                        format!("{name:?} was not run: its deadline passed before it started");
                    self.send_error(id, RemoteKind::DeadlineExceeded, &message);
                    return None;
                }
                with_deadline = Context::new(&self.info, deadline);
                &with_deadline
            }
        };
        reply.clear();
        // Room for the frame header, so that the outbox can queue this
        // buffer as it is (`Outbox::queue_frame`) instead of copying it.
        reply.resize(FRAME_HEAD, 0);
        envelope::ok_head(reply, id);
        let head = reply.len();
        lock(&self.running).push(id);
        // A large result the handler owns (a returned `Vec<u8>`) stays in
        // `tail` and goes to the socket from there (`send_frame_vectored`).
        let mut tail = Vec::new();
        let outcome = shared
            .registry()
            .dispatch_split(method, check, args, reply, &mut tail, ctx);
        {
            let mut running = lock(&self.running);
            match running.iter().rposition(|&r| r == id) {
                Some(at) => {
                    running.swap_remove(at);
                }
                // The shutdown deadline abandoned it: the caller has its answer.
                None => return None,
            }
        }
        let failure = match outcome {
            Ok(()) if reply.len() - FRAME_HEAD + tail.len() <= shared.config().max_frame => None,
            // The handler succeeded but its result cannot be sent.
            Ok(()) => Some((
                RemoteKind::ReplyTooLarge,
                format!(
                    "the reply of {} bytes exceeds the maximum frame of {} bytes",
                    reply.len() - head + tail.len(),
                    shared.config().max_frame
                ),
            )),
            Err(f) => Some((f.kind, f.message)),
        };
        match failure {
            None => {
                shared.counters().calls.fetch_add(1, Ordering::Relaxed);
                if tail.len() >= VECTORED_MIN {
                    return Some(tail);
                }
                reply.extend_from_slice(&tail);
                // A failed queue means the connection is gone; the reader notices.
                let _ = self.outbox.queue_frame(reply);
            }
            Some((kind, message)) => {
                shared.counters().errors.fetch_add(1, Ordering::Relaxed);
                if kind == RemoteKind::SignatureMismatch {
                    shared.counters().mismatches.fetch_add(1, Ordering::Relaxed);
                }
                self.send_error(id, kind, &message);
            }
        }
        None
    }

    /// Queues an error reply, cutting the message so the reply always fits
    /// in a frame: a caller is never left without an answer.
    fn send_error(&self, id: u64, kind: RemoteKind, message: &str) {
        let room = self
            .shared
            .config()
            .max_frame
            .saturating_sub(24)
            .min(MAX_ERROR_MESSAGE);
        let message = truncate_utf8(message, room);
        let _ = self
            .outbox
            .queue_with(|buf| envelope::error(buf, id, kind, message));
    }

    /// Runs a notification.
    fn run_notify(&self, method: Callee<'_>, check: Check, args: &[u8]) {
        let shared = &*self.shared;
        let mut scratch = Vec::new();
        let counter =
            match shared
                .registry()
                .dispatch(method, check, args, &mut scratch, &self.context)
            {
                Ok(()) => &shared.counters().calls,
                Err(f) => {
                    if f.kind == RemoteKind::SignatureMismatch {
                        shared.counters().mismatches.fetch_add(1, Ordering::Relaxed);
                    }
                    &shared.counters().errors
                }
            };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn in_flight_now(&self) -> u64 {
        self.in_flight.get()
    }

    /// Takes a slot for a running request, waiting while the connection is
    /// at its limit (back-pressure: meanwhile nobody reads it).
    fn acquire_in_flight(&self) {
        let max = self.shared.config().max_in_flight as u64;
        while !self.in_flight.add_one_below(max) {
            self.in_flight.wait_until(|v| v < max);
        }
    }

    fn release_in_flight(&self) {
        self.in_flight.sub(1);
    }

    /// The connection ended: let the handlers still running answer, send
    /// everything, close, and leave the server's table.
    fn finish(&self, mut role: MutexGuard<'_, ReaderRole>) {
        role.done = true;
        self.info.cancel();
        self.in_flight.wait_until(|v| v == 0);
        let _ = self.outbox.flush();
        self.outbox.wait_drained();
        self.outbox.close();
        role.stream.close_lingering(LINGER);
        drop(role);
        self.shared.connection_closed(self.id);
    }
}

impl Conn {
    /// The server is shutting down: the calls running on this connection
    /// are cancelled (their handlers may see it in their [`Context`]).
    pub(super) fn cancel(&self) {
        self.info.cancel();
    }

    /// The shutdown deadline has passed with handlers still running: answers
    /// their calls with [`RemoteKind::Abandoned`] (outcome unknown), sends
    /// what is queued, and closes the connection. Returns how many handlers
    /// (calls and notifications) were cut off. The handlers' threads go on
    /// until they return; their results are dropped.
    pub(super) fn abandon(&self) -> usize {
        self.info.cancel();
        let cut = self.in_flight_now() as usize;
        let ids = std::mem::take(&mut *lock(&self.running));
        for id in ids {
            self.send_error(
                id,
                RemoteKind::Abandoned,
                "the handler was still running at the shutdown deadline; it may have run",
            );
        }
        let _ = self.outbox.flush();
        self.outbox.close();
        cut
    }
}

impl Watched for Conn {
    fn stamp(&self) -> &Stamp {
        &self.stamp
    }

    /// Starts a follower that takes over the reading (called by the watchdog).
    fn hand_off(self: &Arc<Self>) {
        let conn = Arc::clone(self);
        self.shared.handler_pool().execute(move || conn.serve());
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
