//! Any byte stream as a connection: a [`Transport`] is a read half and a
//! write half the user supplies, with a [`Control`] saying what else the
//! stream can do (be stopped, time out, close); an [`Accept`] hands a
//! server such transports as peers connect.
//!
//! TCP and Unix sockets are transports too, kept as the library's own
//! `Stream` variants so that their frames go through no box and no dynamic
//! call; a user's stream is the third variant, `Custom`, whose reads and
//! writes go through one uncontended lock and one dynamic call each.
//!
//! # What a stream must provide
//!
//! - **Bytes in order, both ways**, and an end: a read returns `Ok(0)` once
//!   the peer has closed its side, and dropping the write half tells the
//!   peer so. That is all a client and a server need to work.
//! - **A way to be stopped** ([`Control::stop_by`]), or a server's shutdown
//!   waits for the peer: without one, a connection thread blocked in `read`
//!   leaves only when the peer closes, or when the shutdown deadline
//!   ([`Config::shutdown_timeout`](crate::Config::shutdown_timeout)) calls
//!   [`Control::close`] (which must then end the read).
//! - **Read timeouts** ([`Control::set_read_timeout`]), or no deadline
//!   holds while a read blocks: not the handshake deadline
//!   ([`Config::handshake_timeout`](crate::Config::handshake_timeout)), so a
//!   silent peer keeps its thread; not the idle timeout; not
//!   [`Client::call_timeout`](crate::Client::call_timeout), which then waits
//!   as long as the reply takes. Pipes have none: over a worker's pipes
//!   ([`Worker`](crate::Worker)) the peer is a child process the caller
//!   started, and its end is the end of the pipes.
//! - **Write timeouts** ([`Control::set_write_timeout`]), or a peer that
//!   stops reading blocks the writer until it closes.
//!
//! The authkey handshake runs on every transport: a transport adds a way to
//! carry bytes, never a way around the key.
//!
//! # One state machine, two halves (TLS)
//!
//! The halves are read and written from different threads at once. A
//! stream that is one `&mut` state machine (a `rustls` connection) must not
//! be split by a lock held across blocking I/O: a reader blocked in the
//! socket would hold the lock and no reply could go out. Split it so that
//! the halves do their I/O on the raw socket directly (`&TcpStream` reads
//! and writes from either thread) and lock the state machine only to feed
//! it what was read (`read_tls`, `process_new_packets`, then
//! `reader().read`) or to drain what it has to send (`writer().write`,
//! then `write_tls` into a buffer written to the socket after the lock is
//! released). A second lock, taken first and held from sealing to the end
//! of the socket write, keeps records in the order they were sealed. The
//! `stdrpc-tls` workspace member does exactly this.

mod memory;

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::time::Duration;

use crate::address::Address;
use crate::stream::Stream;

pub use memory::pair;

/// How a thread blocked reading a transport is made to leave the read when
/// a server shuts down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopBy {
    /// [`Control::interrupt`] ends reads blocked now and later (they
    /// return `Ok(0)` or an error), as `shutdown(SHUT_RD)` does for a Unix
    /// socket. Reads go straight through.
    Interrupt,
    /// Each read is preceded by [`Control::wait_readable`] in slices of
    /// 100 ms, and the stop is looked for between them (what sockets do on
    /// Windows). Costs a wake-up per slice while idle.
    Poll,
    /// Nothing stops a read: it ends when the peer closes, or when
    /// [`Control::close`] ends it at the shutdown deadline.
    Nothing,
}

/// What a transport can do besides reading and writing: be stopped, time
/// out, close. Every method has a default that does nothing, the right
/// answer for a stream that cannot (see the [module docs](crate::transport)
/// for what is lost).
///
/// Methods are called from any thread while others read or write, so they
/// must not wait for a read or a write to finish.
pub trait Control: Send + Sync {
    /// How a blocked read is stopped; the default is [`StopBy::Nothing`].
    fn stop_by(&self) -> StopBy {
        StopBy::Nothing
    }

    /// With [`StopBy::Interrupt`]: makes reads blocked now, and later ones,
    /// return. Writes should go on working (replies still go out).
    fn interrupt(&self) {}

    /// With [`StopBy::Poll`]: waits until a read would not block, or
    /// `timeout` passes, without consuming anything; `Ok(false)` when the
    /// time ran out.
    ///
    /// # Errors
    /// The transport failed.
    fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let _ = timeout;
        Ok(true)
    }

    /// Makes later reads fail with `TimedOut` or `WouldBlock` after
    /// `timeout` without data (`None`: no limit). The default ignores it.
    ///
    /// # Errors
    /// The transport failed.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Makes later writes fail after `timeout` without progress (`None`:
    /// no limit). The default ignores it.
    ///
    /// # Errors
    /// The transport failed.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }

    /// Closes both directions, ending blocked reads where it can. Called
    /// when a connection is dropped for cause (a failed write, an evicted
    /// peer, the shutdown deadline); the write half is also dropped then,
    /// unless a write is in progress.
    fn close(&self) {}
}

/// A control that can do nothing: for a stream with no stop, no timeouts
/// and no close of its own (pipes).
#[derive(Debug, Clone, Copy, Default)]
struct NoControl;

impl Control for NoControl {}

/// A byte stream to run a connection over: a read half, a write half, and
/// what else it can do ([`Control`]).
///
/// Build one with [`Transport::new`] from any `Read` and `Write` (pipes, a
/// TLS wrapper, a serial line), or from a `TcpStream` or `UnixStream`
/// (which keep their own stop and timeouts, at no cost per frame); then
/// [`Client::over`](crate::Client::over) or
/// [`Server::serve_one`](crate::Server::serve_one) runs a connection over
/// it, and an [`Accept`] hands a server many.
///
/// ```
/// let (client_side, server_side) = stdrpc::transport::pair();
/// let mut server = stdrpc::Server::new(b"key");
/// server.register("square", |x: i64| x * x);
/// let serving = std::thread::spawn(move || server.serve_one(server_side));
///
/// let client = stdrpc::Client::over(client_side, b"key")?;
/// assert_eq!(client.call::<_, i64>("square", 7i64)?, 49);
/// drop(client); // The server's connection ends, and with it `serve_one`.
/// serving.join().unwrap()?;
/// # Ok::<(), stdrpc::Error>(())
/// ```
pub struct Transport(pub(crate) Stream);

impl Transport {
    /// A transport reading from `reader` and writing to `writer`, with no
    /// stop, no timeouts and no close ([`Control`]'s defaults): what pipes
    /// offer.
    ///
    /// Each write is followed by a flush, so a buffered writer
    /// (`std::io::Stdout`) sends every batch at once.
    pub fn new(
        reader: impl Read + Send + 'static,
        writer: impl Write + Send + 'static,
    ) -> Transport {
        Transport(Stream::Custom(Box::new(Custom {
            reader: Mutex::new(Box::new(reader)),
            writer: Mutex::new(Some(Box::new(writer))),
            control: Box::new(NoControl),
            stop_by: StopBy::Nothing,
            peer: String::new(),
        })))
    }

    /// Gives the transport what it can do besides reading and writing.
    /// A `TcpStream` or `UnixStream` transport keeps its own, and ignores
    /// this.
    pub fn with_control(mut self, control: impl Control + 'static) -> Transport {
        if let Stream::Custom(c) = &mut self.0 {
            c.stop_by = control.stop_by();
            c.control = Box::new(control);
        }
        self
    }

    /// Names the peer, as the client's `Debug` output shows it. A socket
    /// names its own, and ignores this.
    pub fn with_peer(mut self, peer: impl Into<String>) -> Transport {
        if let Stream::Custom(c) = &mut self.0 {
            c.peer = peer.into();
        }
        self
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Transport").field(&self.0.peer()).finish()
    }
}

impl From<std::net::TcpStream> for Transport {
    /// The socket as the library's own TCP connections use it
    /// (`TCP_NODELAY` set; a failure to set it only costs latency).
    fn from(s: std::net::TcpStream) -> Transport {
        let _ = s.set_nodelay(true);
        Transport(Stream::Tcp(s))
    }
}

#[cfg(unix)]
impl From<std::os::unix::net::UnixStream> for Transport {
    fn from(s: std::os::unix::net::UnixStream) -> Transport {
        Transport(Stream::Unix(s))
    }
}

/// Where a server's peers come from when they do not come from a socket it
/// binds: [`Server::accept_from`](crate::Server::accept_from) runs its
/// accept loop on one.
///
/// TCP and Unix listeners are the library's own acceptors
/// ([`Server::bind`](crate::Server::bind)); they wake a blocked `accept` at
/// shutdown by connecting to themselves, which a user's acceptor cannot be
/// assumed to allow, hence [`wake`](Accept::wake).
pub trait Accept: Send + Sync + 'static {
    /// Waits for the next peer. An error of kind `WouldBlock`,
    /// `Interrupted`, `ConnectionReset` or `ConnectionAborted` is
    /// transient: the loop tries again (after 10 ms); any other ends the
    /// server's accept loop with it.
    ///
    /// # Errors
    /// No peer could be accepted.
    fn accept(&self) -> io::Result<Transport>;

    /// Makes a thread blocked in [`accept`](Accept::accept) return soon,
    /// with anything (a peer is closed unserved); called once, from another
    /// thread, when the server shuts down. The default does nothing: then
    /// `accept` must return now and then by itself (a `WouldBlock` after a
    /// timeout), or the server stops only when the next peer arrives.
    fn wake(&self) {}

    /// The address peers reach it at, for
    /// [`BoundServer::local_addr`](crate::BoundServer::local_addr).
    ///
    /// # Errors
    /// The address cannot be read.
    fn local_addr(&self) -> io::Result<Address>;
}

/// A user's acceptor inside the library's `Acceptor`.
#[derive(Clone)]
pub(crate) struct UserAccept(pub(crate) std::sync::Arc<dyn Accept>);

impl fmt::Debug for UserAccept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Accept")
    }
}

/// A user-supplied stream inside the library's `Stream`.
pub(crate) struct Custom {
    /// Only the thread holding a connection's reader role reads, so this
    /// lock is never contended.
    reader: Mutex<Box<dyn Read + Send>>,
    /// `None` once the write half was dropped (shutdown).
    writer: Mutex<Option<Box<dyn Write + Send>>>,
    control: Box<dyn Control>,
    /// `control.stop_by()`, asked once.
    stop_by: StopBy,
    peer: String,
}

impl Custom {
    pub(crate) fn control(&self) -> &dyn Control {
        &*self.control
    }

    /// Whether a stop reaches a blocked read without polling: by
    /// interrupting it, or (with nothing to stop it) never, so there is no
    /// point in polling.
    pub(crate) fn wakes_readers(&self) -> bool {
        self.stop_by != StopBy::Poll
    }

    pub(crate) fn peer(&self) -> &str {
        &self.peer
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        crate::sync::lock(&self.reader).read(buf)
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match &mut *crate::sync::lock(&self.writer) {
            Some(w) => {
                w.write_all(buf)?;
                w.flush()?;
                Ok(buf.len())
            }
            None => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the transport's write half is closed",
            )),
        }
    }

    /// Closes the write half (the peer reads the end of the stream), and
    /// with `both` the whole transport. A write in progress keeps its half
    /// (waiting for it could block for as long as the peer likes).
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) {
        use std::net::Shutdown;
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            if let Ok(mut w) = self.writer.try_lock() {
                *w = None;
            }
        }
        match how {
            Shutdown::Read => self.control.interrupt(),
            Shutdown::Both => self.control.close(),
            Shutdown::Write => {}
        }
    }
}

impl fmt::Debug for Custom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Custom")
            .field("peer", &self.peer)
            .field("stop_by", &self.stop_by)
            .finish_non_exhaustive()
    }
}
