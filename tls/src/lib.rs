//! TLS for stdrpc: [rustls] connections as [`stdrpc::Transport`]s, so a
//! client and a server talk through an encrypted, authenticated channel,
//! with stdrpc's authkey handshake on top.
//!
//! A workspace member of its own, so the `stdrpc` library stays free of
//! dependencies; it uses rustls with its `ring` provider.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! # fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) { unimplemented!() }
//! let (server_config, client_config) = configs(); // certificates: see rustls
//! let mut server = stdrpc::Server::new(b"key");
//! server.register("add", |a: i64, b: i64| a + b);
//! let acceptor = stdrpc_tls::Acceptor::bind("127.0.0.1:0", server_config)?;
//! let running = server.accept_from(acceptor)?.spawn()?;
//!
//! let addr = running.local_addr().as_tcp().unwrap();
//! let tls = stdrpc_tls::connect(addr, client_config, "localhost")?;
//! let client = stdrpc::Client::over(tls, b"key")?;
//! assert_eq!(client.call::<_, i64>("add", (2i64, 3i64))?, 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How the connection is split
//!
//! A rustls connection is one `&mut` state machine, but stdrpc reads and
//! writes a connection from two threads at once. The two halves here do
//! their I/O on the TCP socket's own halves and lock the state machine only
//! to feed it bytes read (`read_tls`, `process_new_packets`, then take the
//! plaintext) or to drain what it has to send (`writer().write`, then
//! `write_tls` into a buffer): the lock is never held across a blocking
//! read or write, so a reader waiting for the peer never holds up a reply.
//! A second lock orders the socket writes, so TLS records leave in the
//! order they were sealed.
//!
//! The TLS handshake runs inside the first reads and writes, so it runs
//! on the connection's thread, not the accept loop's, and stdrpc's
//! handshake deadline bounds it (the socket's read timeout).
//!
//! A blocked read is stopped as a TCP socket's is: `shutdown(SHUT_RD)`
//! where that wakes it (Linux, macOS), else by polling (Windows).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};
use stdrpc::Address;
use stdrpc::transport::{Accept, Control, StopBy};

pub use stdrpc::Transport;

/// Connects to `addr` over TCP and starts a TLS client session that
/// expects the server's certificate to be valid for `server_name`.
///
/// The TLS handshake itself runs in the connection's first reads, under
/// stdrpc's handshake deadline.
///
/// # Errors
/// The TCP connection cannot be opened, or `server_name` is not a valid
/// DNS name or IP address.
pub fn connect(
    addr: impl ToSocketAddrs,
    config: Arc<ClientConfig>,
    server_name: &str,
) -> io::Result<Transport> {
    let tcp = TcpStream::connect(addr)?;
    client(tcp, config, server_name)
}

/// A TLS client session over an open TCP connection.
///
/// # Errors
/// `server_name` is not a valid DNS name or IP address, or rustls refuses
/// the configuration.
pub fn client(
    tcp: TcpStream,
    config: Arc<ClientConfig>,
    server_name: &str,
) -> io::Result<Transport> {
    let name = ServerName::try_from(server_name.to_owned()).map_err(invalid)?;
    let conn = ClientConnection::new(config, name).map_err(invalid)?;
    wrap(tcp, conn.into())
}

/// A TLS server session over an accepted TCP connection.
///
/// # Errors
/// rustls refuses the configuration.
pub fn server(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<Transport> {
    let conn = ServerConnection::new(config).map_err(invalid)?;
    wrap(tcp, conn.into())
}

/// A TCP listener whose peers speak TLS: an acceptor for
/// [`stdrpc::Server::accept_from`].
#[derive(Debug)]
pub struct Acceptor {
    listener: TcpListener,
    config: Arc<ServerConfig>,
    local: SocketAddr,
}

impl Acceptor {
    /// Listens on `addr` (port 0 picks a free port).
    ///
    /// # Errors
    /// The address cannot be bound.
    pub fn bind(addr: impl ToSocketAddrs, config: Arc<ServerConfig>) -> io::Result<Acceptor> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        Ok(Acceptor {
            listener,
            config,
            local,
        })
    }
}

impl Accept for Acceptor {
    fn accept(&self) -> io::Result<Transport> {
        let (tcp, _) = self.listener.accept()?;
        server(tcp, Arc::clone(&self.config))
    }

    /// Connects to the listener itself (a wildcard address through the
    /// loopback): the listener is ours, so this is allowed.
    fn wake(&self) {
        let mut a = self.local;
        if a.ip().is_unspecified() {
            a.set_ip(match a {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&a, Duration::from_secs(1));
    }

    fn local_addr(&self) -> io::Result<Address> {
        Ok(Address::Tcp(self.local))
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// What both halves share.
struct Shared {
    tcp: TcpStream,
    /// The state machine and the TLS bytes read but not yet fed to it.
    /// Never held across socket I/O.
    state: Mutex<State>,
    /// Held while sealing and writing, so that records leave in order.
    /// Taken before `state`, never after.
    send: Mutex<()>,
}

struct State {
    conn: Connection,
    /// TLS bytes read from the socket that the connection has not taken
    /// yet (its plaintext buffer was full).
    raw: Vec<u8>,
    /// The socket reached its end.
    eof: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn wrap(tcp: TcpStream, mut conn: Connection) -> io::Result<Transport> {
    // Whole frames are sealed at once; stdrpc bounds them itself.
    conn.set_buffer_limit(None);
    tcp.set_nodelay(true)?;
    let shared = Arc::new(Shared {
        tcp,
        state: Mutex::new(State {
            conn,
            raw: Vec::new(),
            eof: false,
        }),
        send: Mutex::new(()),
    });
    let peer = shared
        .tcp
        .peer_addr()
        .map(|a| format!("tls:{a}"))
        .unwrap_or_default();
    Ok(
        Transport::new(Reader(Arc::clone(&shared)), Writer(Arc::clone(&shared)))
            .with_control(Tls(shared))
            .with_peer(peer),
    )
}

impl Shared {
    /// Sends what the state machine has to send (handshake messages,
    /// sealed records, alerts), in order.
    fn flush(&self) -> io::Result<()> {
        let _send = lock(&self.send);
        let out = {
            let mut st = lock(&self.state);
            drain(&mut st.conn)
        };
        (&self.tcp).write_all(&out)
    }
}

/// The TLS bytes the connection has to send.
fn drain(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        // Writing into a Vec cannot fail.
        if conn.write_tls(&mut out).is_err() {
            break;
        }
    }
    out
}

/// Feeds the connection the raw bytes it can take, and processes them.
fn feed(st: &mut State) -> io::Result<()> {
    while !st.raw.is_empty() {
        let mut rest = &st.raw[..];
        let Ok(taken) = st.conn.read_tls(&mut rest) else {
            // Its buffers are full: the reader takes some plaintext first.
            break;
        };
        st.raw.drain(..taken);
        st.conn.process_new_packets().map_err(invalid)?;
        if taken == 0 {
            break;
        }
    }
    if st.eof && st.raw.is_empty() {
        // Tells the connection the transport ended.
        let _ = st.conn.read_tls(&mut &[][..]);
        st.conn.process_new_packets().map_err(invalid)?;
    }
    Ok(())
}

struct Reader(Arc<Shared>);

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let shared = &*self.0;
        let mut tmp = [0u8; 16 * 1024];
        loop {
            let (wants_write, eof) = {
                let mut st = lock(&shared.state);
                if let Err(e) = feed(&mut st) {
                    drop(st);
                    // The alert that says why, best effort.
                    let _ = shared.flush();
                    return Err(e);
                }
                match st.conn.reader().read(buf) {
                    Ok(n) => {
                        // A handshake message still to go (the client's
                        // Finished) must not wait for our next write.
                        let pending = st.conn.wants_write();
                        drop(st);
                        if pending {
                            shared.flush()?;
                        }
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The peer closed without close_notify: the end.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                (st.conn.wants_write(), st.eof)
            };
            if eof {
                return Ok(0);
            }
            if wants_write {
                shared.flush()?;
            }
            // The only blocking read, with no lock held.
            let n = (&shared.tcp).read(&mut tmp)?;
            let mut st = lock(&shared.state);
            if n == 0 {
                st.eof = true;
            } else {
                st.raw.extend_from_slice(&tmp[..n]);
            }
        }
    }
}

struct Writer(Arc<Shared>);

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let shared = &*self.0;
        let _send = lock(&shared.send);
        let out = {
            let mut st = lock(&shared.state);
            // Before the TLS handshake ends this is buffered, and the
            // reader's next flush sends it once it can.
            st.conn.writer().write_all(buf)?;
            drain(&mut st.conn)
        };
        (&shared.tcp).write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Writer {
    /// Ends the session cleanly: close_notify, then the socket's write side.
    fn drop(&mut self) {
        let shared = &*self.0;
        let _send = lock(&shared.send);
        let out = {
            let mut st = lock(&shared.state);
            st.conn.send_close_notify();
            drain(&mut st.conn)
        };
        let _ = (&shared.tcp).write_all(&out);
        let _ = shared.tcp.shutdown(Shutdown::Write);
    }
}

/// The stop and the timeouts: the TCP socket's.
struct Tls(Arc<Shared>);

impl Control for Tls {
    fn stop_by(&self) -> StopBy {
        // As for stdrpc's own TCP streams (see its stop.rs).
        if cfg!(unix) {
            StopBy::Interrupt
        } else {
            StopBy::Poll
        }
    }

    fn interrupt(&self) {
        let _ = self.0.tcp.shutdown(Shutdown::Read);
    }

    fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        {
            let mut st = lock(&self.0.state);
            if !st.raw.is_empty() || st.eof {
                return Ok(true);
            }
            let state = st.conn.process_new_packets().map_err(invalid)?;
            if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() {
                return Ok(true);
            }
        }
        self.0.tcp.set_read_timeout(Some(timeout))?;
        match self.0.tcp.peek(&mut [0u8; 1]) {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.tcp.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.tcp.set_write_timeout(timeout)
    }

    fn close(&self) {
        let _ = self.0.tcp.shutdown(Shutdown::Both);
    }
}
