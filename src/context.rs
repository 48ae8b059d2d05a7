//! What a handler may learn about the call it serves: [`Context`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The call a handler is serving: who called, on which connection, until
/// when, and whether the call has been cancelled.
///
/// A handler receives it by taking `&Context` as its first parameter; the
/// context is not part of the method's signature (callers pass only the
/// other arguments). Write the type out, `|ctx: &Context, key: String|`:
/// a closure's reference parameter needs its annotation for the closure to
/// be a handler.
///
/// ```
/// use stdrpc::Context;
///
/// let mut server = stdrpc::Server::new(b"key");
/// server.register("whoami", |ctx: &Context, greeting: String| {
///     format!("{greeting}, connection {}", ctx.connection_id())
/// });
/// let running = server.bind("127.0.0.1:0")?.spawn()?;
/// let client = stdrpc::Client::connect(running.local_addr(), b"key")?;
/// let text: String = client.call("whoami", "hello".to_string())?;
/// assert!(text.starts_with("hello, connection "));
/// running.shutdown()?;
/// # Ok::<(), stdrpc::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Context {
    conn: Option<Arc<ConnInfo>>,
    deadline: Option<Instant>,
}

/// What every call on one connection shares.
#[derive(Debug)]
pub(crate) struct ConnInfo {
    id: u64,
    peer: Option<SocketAddr>,
    /// Set when the connection closes or the server shuts down.
    cancelled: AtomicBool,
}

impl ConnInfo {
    pub(crate) fn new(id: u64, peer: Option<SocketAddr>) -> Arc<ConnInfo> {
        Arc::new(ConnInfo {
            id,
            peer,
            cancelled: AtomicBool::new(false),
        })
    }

    /// The connection closed or the server began shutting down: every call
    /// on it is cancelled.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }
}

impl Context {
    /// A context for calls on the connection `conn`, with the caller's
    /// deadline.
    pub(crate) fn new(conn: &Arc<ConnInfo>, deadline: Option<Instant>) -> Context {
        Context {
            conn: Some(Arc::clone(conn)),
            deadline,
        }
    }

    /// The caller's address: `None` on a Unix socket (or when the server
    /// could not read it).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.conn.as_ref().and_then(|c| c.peer)
    }

    /// The connection's number, unique among the server's connections
    /// while it runs (0 for a call made outside any connection).
    pub fn connection_id(&self) -> u64 {
        self.conn.as_ref().map_or(0, |c| c.id)
    }

    /// When the caller stops waiting, if it said
    /// ([`Client::call_timeout`](crate::Client::call_timeout) sends it; a
    /// Python caller has none). The deadline travels as a relative timeout
    /// and is measured from the moment the server read the call.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the call has been cancelled: its deadline has passed, its
    /// connection has closed (the caller left), or the server is shutting
    /// down. A long handler may check it and stop early; its result is
    /// still sent if the connection can carry it.
    pub fn is_cancelled(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| c.cancelled.load(Ordering::Acquire))
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}
