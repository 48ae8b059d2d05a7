//! The byte streams underneath a connection: TCP, or a Unix domain socket,
//! behind one type; listeners for both; and a deadline that bounds a whole
//! exchange rather than each read.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
#[cfg(unix)]
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::address::{Address, lowercase_first};
use crate::error::Context;
use crate::stop::{Interrupt, StopRead};
use crate::transport::{Custom, UserAccept};

/// The addresses tried, for error messages: `127.0.0.1:1`, or
/// `[::1]:1 or 127.0.0.1:1` when a name resolved to several.
fn names(addrs: &[Address]) -> String {
    addrs
        .iter()
        .map(Address::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

/// `err` from connecting to `addrs`, saying where and what to try:
/// `connecting to 127.0.0.1:1: connection refused — is the server running?`.
fn connect_error(addrs: &[Address], err: io::Error) -> io::Error {
    use io::ErrorKind as K;
    if addrs.is_empty() {
        return err;
    }
    let what = match err.kind() {
        K::ConnectionRefused => "connection refused — is the server running?".to_owned(),
        K::NotFound => {
            "no such socket file — is the server running, and is the path right?".to_owned()
        }
        K::PermissionDenied => "permission denied — may this user open the socket file?".to_owned(),
        K::TimedOut | K::WouldBlock => {
            "timed out — is the server running, and is the address reachable?".to_owned()
        }
        K::AddrNotAvailable | K::HostUnreachable | K::NetworkUnreachable => format!(
            "{} — is the address right?",
            lowercase_first(&err.to_string())
        ),
        _ => lowercase_first(&err.to_string()),
    };
    let message = format!("connecting to {}: {what}", names(addrs));
    Context::wrap(err, message)
}

/// `err` from binding `addrs`, saying where and what to try.
fn bind_error(addrs: &[Address], err: io::Error) -> io::Error {
    use io::ErrorKind as K;
    if addrs.is_empty() {
        return err;
    }
    let unix = addrs.iter().any(|a| a.as_tcp().is_none());
    let what = match err.kind() {
        K::AddrInUse if unix => {
            "the path exists — is a server running, or is it a stale socket file to remove?"
                .to_owned()
        }
        K::AddrInUse => {
            "address in use — is another server listening there? (port 0 picks a free port)"
                .to_owned()
        }
        K::AddrNotAvailable => {
            "address not available — is it one of this host's addresses?".to_owned()
        }
        _ => lowercase_first(&err.to_string()),
    };
    let message = format!("binding {}: {what}", names(addrs));
    Context::wrap(err, message)
}

/// A connection's byte stream: a socket, or a user's transport.
///
/// The sockets are variants of their own so that their reads and writes
/// cost no dynamic call; only a user's stream goes through `Custom`.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
    Custom(Box<Custom>),
}

impl Stream {
    /// Connects to the first address that accepts; `TCP_NODELAY` is set,
    /// since the library batches its own writes.
    pub(crate) fn connect(addrs: &[Address], timeout: Option<Duration>) -> io::Result<Stream> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
        for addr in addrs {
            let attempt = match addr {
                Address::Tcp(a) => match timeout {
                    Some(t) => TcpStream::connect_timeout(a, t),
                    None => TcpStream::connect(a),
                }
                .and_then(|s| {
                    s.set_nodelay(true)?;
                    Ok(Stream::Tcp(s))
                }),
                #[cfg(unix)]
                Address::Unix(p) => UnixStream::connect(p).map(Stream::Unix),
            };
            match attempt {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(connect_error(addrs, last))
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            #[cfg(unix)]
            Stream::Unix(s) => s.shutdown(how),
            Stream::Custom(c) => {
                c.shutdown(how);
                Ok(())
            }
        }
    }

    /// Closes the connection after everything written so far, without
    /// destroying what the peer has not read yet.
    ///
    /// Closing a TCP socket with unread bytes in its receive buffer resets
    /// the connection: the kernel drops what it had not sent yet (Linux),
    /// and a Windows peer discards what it had received but not read. Either
    /// way replies already written could be lost, and a call the server ran
    /// be reported to its caller as closed. So a TCP socket ends with a
    /// lingering close:
    /// the sending side is shut first (everything written goes out, then
    /// the end), and what the peer still sends is read and dropped until it
    /// closes too, or `linger` passes. A peer that closed first costs
    /// nothing more: its end is read at once. Unix sockets (whose bytes are
    /// in the peer's queue once written) and user transports shut both
    /// directions at once.
    pub(crate) fn close_lingering(&self, linger: Duration) {
        if let Stream::Tcp(s) = self {
            let _ = s.shutdown(Shutdown::Write);
            let until = Instant::now() + linger;
            let mut sink = [0u8; 4096];
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
                    break;
                }
                match (&*s).read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        let _ = self.shutdown(Shutdown::Both);
    }

    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Custom(c) => c.control().set_read_timeout(t),
        }
    }

    /// Reads without consuming (TCP). A Unix socket cannot peek with
    /// stable std; it reports one byte without looking, which is right for
    /// its only user, [`crate::stop`], since Unix sockets wake blocked
    /// readers and are never polled.
    pub(crate) fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.peek(buf),
            #[cfg(unix)]
            Stream::Unix(_) => Ok(buf.len().min(1)),
            Stream::Custom(_) => Ok(buf.len().min(1)),
        }
    }

    pub(crate) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(t),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_write_timeout(t),
            Stream::Custom(c) => c.control().set_write_timeout(t),
        }
    }

    /// The peer's TCP address; `None` on a Unix socket.
    pub(crate) fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Stream::Tcp(s) => s.peer_addr().ok(),
            #[cfg(unix)]
            Stream::Unix(_) => None,
            Stream::Custom(_) => None,
        }
    }

    /// The peer's address, for logs and counters.
    pub(crate) fn peer(&self) -> String {
        match self {
            Stream::Tcp(s) => s.peer_addr().map(|a| a.to_string()).unwrap_or_default(),
            #[cfg(unix)]
            Stream::Unix(_) => "unix".to_owned(),
            Stream::Custom(c) => c.peer().to_owned(),
        }
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match *self {
            Stream::Tcp(s) => (&*s).read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => (&*s).read(buf),
            Stream::Custom(c) => c.read(buf),
        }
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match *self {
            Stream::Tcp(s) => (&*s).write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => (&*s).write(buf),
            Stream::Custom(c) => c.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match *self {
            Stream::Tcp(s) => (&*s).write_vectored(bufs),
            #[cfg(unix)]
            Stream::Unix(s) => (&*s).write_vectored(bufs),
            Stream::Custom(c) => {
                // One buffer at a time, as `Write`'s default does.
                let buf = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
                c.write(buf)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Interrupt for Stream {
    fn wakes_readers(&self) -> bool {
        match self {
            Stream::Custom(c) => c.wakes_readers(),
            _ => cfg!(unix),
        }
    }

    fn interrupt(&self) {
        if self.wakes_readers() {
            let _ = self.shutdown(Shutdown::Read);
        }
    }

    fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        if let Stream::Custom(c) = self {
            return c.control().wait_readable(timeout);
        }
        self.set_read_timeout(Some(timeout))?;
        match self.peek(&mut [0u8; 1]) {
            // Data, or the end of the stream: either way a read returns now.
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A listening socket.
#[derive(Debug)]
pub(crate) enum Acceptor {
    Tcp(TcpListener),
    /// The path is removed again when the listener is dropped.
    #[cfg(unix)]
    Unix(UnixListener, PathBuf),
    /// A user's acceptor (`Server::accept_from`).
    Custom(UserAccept),
}

impl Acceptor {
    pub(crate) fn bind(addrs: &[Address]) -> io::Result<Acceptor> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
        for addr in addrs {
            let attempt = match addr {
                Address::Tcp(a) => TcpListener::bind(a).map(Acceptor::Tcp),
                #[cfg(unix)]
                Address::Unix(p) => UnixListener::bind(p).map(|l| Acceptor::Unix(l, p.clone())),
            };
            match attempt {
                Ok(l) => return Ok(l),
                Err(e) => last = e,
            }
        }
        Err(bind_error(addrs, last))
    }

    pub(crate) fn local_addr(&self) -> io::Result<Address> {
        match self {
            Acceptor::Tcp(l) => l.local_addr().map(Address::Tcp),
            #[cfg(unix)]
            Acceptor::Unix(_, p) => Ok(Address::Unix(p.clone())),
            Acceptor::Custom(a) => a.0.local_addr(),
        }
    }

    pub(crate) fn accept(&self) -> io::Result<Stream> {
        match self {
            Acceptor::Tcp(l) => {
                let (s, _) = l.accept()?;
                // A failure here only costs latency; the connection still works.
                let _ = s.set_nodelay(true);
                Ok(Stream::Tcp(s))
            }
            #[cfg(unix)]
            Acceptor::Unix(l, _) => l.accept().map(|(s, _)| Stream::Unix(s)),
            Acceptor::Custom(a) => a.0.accept().map(|t| t.0),
        }
    }

    /// What wakes a thread blocked in [`Acceptor::accept`]: for a socket, a
    /// connection to itself (std offers no other way to interrupt it).
    pub(crate) fn waker(&self) -> io::Result<Waker> {
        Ok(match self {
            Acceptor::Custom(a) => Waker::Custom(a.clone()),
            _ => Waker::Connect(self.wake_address()?),
        })
    }

    /// An address a local client can connect to in order to wake a thread
    /// blocked in [`Acceptor::accept`]. A wildcard bind address is replaced
    /// by the loopback address.
    pub(crate) fn wake_address(&self) -> io::Result<Address> {
        Ok(match self.local_addr()? {
            Address::Tcp(mut a) => {
                if a.ip().is_unspecified() {
                    a.set_ip(match a {
                        std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                        std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                    });
                }
                Address::Tcp(a)
            }
            #[cfg(unix)]
            other => other,
        })
    }
}

/// Wakes an accept loop at shutdown.
#[derive(Debug)]
pub(crate) enum Waker {
    /// Connect to the listener's own address.
    Connect(Address),
    /// Ask the user's acceptor.
    Custom(UserAccept),
}

impl Waker {
    /// Wakes the loop; if this fails the listener is already broken and the
    /// loop has ended anyway.
    pub(crate) fn wake(&self) {
        match self {
            Waker::Connect(addr) => {
                let _ = Stream::connect(std::slice::from_ref(addr), Some(Duration::from_secs(1)));
            }
            Waker::Custom(a) => a.0.wake(),
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Acceptor::Unix(_, path) = self {
            // The socket file is ours; a failure leaves a stale file behind,
            // which the next bind reports.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A stream whose reads all end by one instant, so a peer trickling one byte
/// at a time cannot stretch the exchange.
///
/// Only reads are bounded: the handshake's writes are frames of at most 256
/// bytes into a fresh socket's empty send buffer, which the kernel takes at
/// once. The socket's read timeout is set only when the time left drops
/// below half of the one in force, so a handshake costs one or two
/// `setsockopt` calls rather than one per read; a read begun just before the
/// deadline can overrun it by at most half the time that was left, so the
/// exchange ends within one and a half times the deadline at worst.
#[derive(Debug)]
pub(crate) struct Deadline<'a> {
    stream: &'a Stream,
    until: Instant,
    read_set: Option<Duration>,
    /// Ends the reads (as at the end of the stream) once set.
    stop: Option<&'a AtomicBool>,
}

impl<'a> Deadline<'a> {
    pub(crate) fn new(stream: &'a Stream, timeout: Duration) -> Deadline<'a> {
        Deadline {
            stream,
            until: Instant::now() + timeout,
            read_set: None,
            stop: None,
        }
    }

    /// Makes the reads end once `stop` is set, also where the platform
    /// cannot wake a blocked read (see [`crate::stop`]).
    pub(crate) fn stoppable(mut self, stop: &'a AtomicBool) -> Deadline<'a> {
        self.stop = Some(stop);
        self
    }

    /// The time left, or a timeout error once it is gone.
    fn remaining(&self) -> io::Result<Duration> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "handshake deadline passed",
            ))
        } else {
            Ok(left)
        }
    }

    /// Sets the read timeout the connection keeps after the handshake
    /// (`None`: reads block), replacing the deadline's.
    pub(crate) fn finish(self, read_timeout: Option<Duration>) -> io::Result<()> {
        if self.read_set != read_timeout {
            self.stream.set_read_timeout(read_timeout)?;
        }
        Ok(())
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        if let Some(stop) = self.stop.filter(|_| !self.stream.wakes_readers()) {
            // The socket's read timeout is the poller's to set from here on.
            self.read_set = None;
            let stop = || stop.load(Ordering::Acquire);
            return StopRead::new(self.stream, &stop, Some(left)).read(buf);
        }
        if self.read_set.is_none_or(|t| left < t / 2) {
            self.stream.set_read_timeout(Some(left))?;
            self.read_set = Some(left);
        }
        let mut s = self.stream;
        s.read(buf)
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Checked, not enforced: see the type's documentation.
        self.remaining()?;
        let mut s = self.stream;
        s.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that gave up waiting (platforms report it either way).
    fn assert_timed_out(err: io::Error) {
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err}"
        );
    }

    #[test]
    fn deadline_bounds_a_silent_peer() {
        let l = Acceptor::bind(&[Address::Tcp("127.0.0.1:0".parse().unwrap())]).unwrap();
        let addr = l.local_addr().unwrap();
        let c = Stream::connect(&[addr], None).unwrap();
        let _server_side = l.accept().unwrap();
        let mut d = Deadline::new(&c, Duration::from_millis(50));
        let started = Instant::now();
        assert_timed_out(d.read(&mut [0u8; 4]).unwrap_err());
        // The deadline is the bound, generously: the assertion is that the read
        // returned at all instead of blocking forever.
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_timed_out(d.read(&mut [0u8; 4]).unwrap_err());
    }

    #[cfg(unix)]
    #[test]
    fn unix_listener_removes_its_path() {
        let dir = std::env::temp_dir().join(format!("stdrpc-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        {
            let l = Acceptor::bind(&[Address::Unix(path.clone())]).unwrap();
            let c = Stream::connect(&[l.wake_address().unwrap()], None).unwrap();
            let s = l.accept().unwrap();
            (&c).write_all(b"x").unwrap();
            let mut b = [0u8; 1];
            (&s).read_exact(&mut b).unwrap();
            assert_eq!(&b, b"x");
        }
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
