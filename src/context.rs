//! What a handler may learn about the call it serves: [`Context`].

use std::cell::RefCell;
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

thread_local! {
    /// The context of the `service!` method this thread runs now.
    static CURRENT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Puts back the context that was current before a `service!` call, even
/// if the method panics.
struct Restore(Option<Context>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Runs `f` (a `service!` method) with `ctx` as [`Context::current`].
pub(crate) fn scope<T>(ctx: &Context, f: impl FnOnce() -> T) -> T {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(ctx.clone()));
    let _restore = Restore(previous);
    f()
}

impl Context {
    /// The context of the call this thread serves, inside a `service!`
    /// method (whose trait signature has no room for it); `None` elsewhere.
    /// Closures registered with [`Server::register`](crate::Server::register)
    /// take `&Context` as their first parameter instead.
    ///
    /// ```
    /// stdrpc::service! {
    ///     trait Who { fn connection(&self) -> u64; }
    ///     struct WhoClient;
    /// }
    /// struct Impl;
    /// impl Who for Impl {
    ///     fn connection(&self) -> u64 {
    ///         stdrpc::Context::current().map_or(0, |ctx| ctx.connection_id())
    ///     }
    /// }
    /// let mut server = stdrpc::Server::new(b"key");
    /// Impl.register_on(&mut server);
    /// let running = server.bind("127.0.0.1:0")?.spawn()?;
    /// let client = WhoClient::new(stdrpc::Client::connect(running.local_addr(), b"key")?);
    /// assert_ne!(client.connection()?, 0);
    /// running.shutdown()?;
    /// # Ok::<(), stdrpc::Error>(())
    /// ```
    pub fn current() -> Option<Context> {
        CURRENT.with(|c| c.borrow().clone())
    }

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

    /// The connection's number, from 1, unique among the server's
    /// connections (0 for a call made outside any connection).
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
