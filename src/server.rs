//! The server: a method table, a listening socket, a thread per new
//! connection that authenticates the peer and then reads and runs its
//! requests, and a pool of threads that take over the reading when a handler
//! runs long.

mod connection;
mod stats;
mod watchdog;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::address::{Address, ToAddress};
use crate::auth;
use crate::budget::Budget;
use crate::config::Config;
#[cfg(doc)]
use crate::error::RemoteKind;
use crate::error::{Error, Result};
use crate::frame;
use crate::pool::Pool;
use crate::quickack;
use crate::registry::{self, Handler, Registry};
use crate::stop::Interrupt;
use crate::stream::{Acceptor, Deadline, Stream, Waker};
use crate::transport::{Accept, Transport, UserAccept};
use crate::upgrade::Upgrade;

use crate::sync::{lock, wait};
use connection::{Conn, Host};
use stats::Counters;
pub use stats::Stats;
use watchdog::Watchdog;

/// A server under construction: an authkey, limits, and registered methods.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
///
/// let store = Arc::new(Mutex::new(HashMap::<String, i64>::new()));
/// let mut server = stdrpc::Server::new(b"password");
/// let s = Arc::clone(&store);
/// server.register("get", move |key: String| s.lock().unwrap().get(&key).copied());
/// let s = Arc::clone(&store);
/// server.register("put", move |key: String, value: i64| {
///     s.lock().unwrap().insert(key, value);
/// });
/// let running = server.bind("127.0.0.1:0")?.spawn()?;
///
/// let client = stdrpc::Client::connect(running.local_addr(), b"password")?;
/// client.call::<_, ()>("put", ("a".to_string(), 10i64))?;
/// let v: Option<i64> = client.call("get", "a".to_string())?;
/// assert_eq!(v, Some(10));
/// running.shutdown()?;
/// # Ok::<(), stdrpc::Error>(())
/// ```
#[derive(Debug)]
pub struct Server {
    authkey: Vec<u8>,
    config: Config,
    registry: Registry,
}

impl Server {
    /// A server that admits peers holding `authkey`, with default limits.
    pub fn new(authkey: &[u8]) -> Server {
        Server::with_config(authkey, Config::default())
    }

    /// A server with the given limits.
    pub fn with_config(authkey: &[u8], config: Config) -> Server {
        Server {
            authkey: authkey.to_vec(),
            config,
            registry: Registry::default(),
        }
    }

    /// The same server admitting peers that hold `authkey` instead (a
    /// worker learns its key from its parent).
    pub(crate) fn with_authkey(mut self, authkey: Vec<u8>) -> Server {
        self.authkey = authkey;
        self
    }

    /// Registers `handler` under `name`.
    ///
    /// The handler is a closure of zero to six arguments, each a type the
    /// codec decodes, returning a value, `()`, or `Result<T, E: Display>`
    /// (an `Err` reaches the caller as [`RemoteKind::Handler`] with its text).
    /// Several arguments travel as one tuple, so `|a: String, b: i64|` is
    /// called with `("x".to_string(), 1i64)`.
    ///
    /// Registering a name again replaces the earlier handler, as assigning a
    /// key of a Python dict or re-registering a `BaseManager` typeid does.
    pub fn register<Args, H: Handler<Args>>(&mut self, name: &str, handler: H) -> &mut Server {
        self.registry.insert(name, handler.into_erased());
        self
    }

    /// Registers a handler already erased (`service!` adds its parameter
    /// names this way).
    pub(crate) fn register_erased(&mut self, name: &str, handler: registry::Erased) -> &mut Server {
        self.registry.insert(name, handler);
        self
    }

    /// Registers a handler that works on raw bytes: it receives the argument
    /// bytes as the caller sent them and returns the reply bytes, which the
    /// caller decodes (or reads with [`Client::call_raw`](crate::Client::call_raw)).
    pub fn register_raw<F, E>(&mut self, name: &str, handler: F) -> &mut Server
    where
        F: Fn(&[u8]) -> Result<Vec<u8>, E> + Send + Sync + 'static,
        E: std::fmt::Display,
    {
        self.registry.insert(name, registry::raw(handler));
        self
    }

    /// Opens the listening socket: a TCP address (`"127.0.0.1:0"` picks a
    /// free port) or, on Unix, a socket path.
    ///
    /// # Errors
    /// The address does not resolve or cannot be bound.
    pub fn bind(self, addr: impl ToAddress) -> Result<BoundServer> {
        let acceptor = Acceptor::bind(&addr.to_addresses()?)?;
        self.start(acceptor)
    }

    /// Serves the peers `acceptor` hands over, each a
    /// [`Transport`](crate::Transport): a listener of the user's own (TLS,
    /// say) in place of the socket [`bind`](Server::bind) opens. Every peer
    /// runs the authkey handshake first, as on a socket.
    ///
    /// # Errors
    /// The acceptor's address cannot be read, or a thread cannot start.
    pub fn accept_from(self, acceptor: impl Accept) -> Result<BoundServer> {
        self.start(Acceptor::Custom(UserAccept(Arc::new(acceptor))))
    }

    /// Serves exactly one connection over `transport`, on this thread: the
    /// authkey handshake, then the peer's calls until it closes its side (or
    /// the transport fails); then waits for the calls in flight, as
    /// [`RunningServer::shutdown`] does, and returns.
    ///
    /// What the transport cannot do is lost (see
    /// [`Transport`](crate::Transport)): over pipes the handshake deadline
    /// does not hold, since nothing can end a read that waits on a silent
    /// peer.
    ///
    /// # Errors
    /// The handshake failed ([`Error::Auth`]: wrong key, protocol error,
    /// deadline), or a thread cannot start.
    pub fn serve_one(self, transport: Transport) -> Result<()> {
        let shared = self.shared(None)?;
        let stream = Arc::new(transport.0);
        let id = shared.conns().admit(&stream);
        shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
        serve_connection(&shared, id, stream);
        // The connection may go on with a follower reading (a handler ran
        // long); it ends when the peer closes.
        shared.finish(None);
        if shared.counters.auth_failures.load(Ordering::Relaxed) > 0 {
            return Err(Error::auth("the peer failed the authkey handshake"));
        }
        Ok(())
    }

    /// Starts serving from `acceptor`.
    fn start(self, acceptor: Acceptor) -> Result<BoundServer> {
        let local = acceptor.local_addr()?;
        let wake = acceptor.waker()?;
        let shared = self.shared(Some(wake))?;
        Ok(BoundServer {
            shared,
            acceptor,
            local,
        })
    }

    /// The state every connection shares, with the watchdog running;
    /// `wake` wakes the accept loop, if there is one.
    fn shared(self, wake: Option<Waker>) -> Result<Arc<Shared>> {
        let shared = Arc::new(Shared {
            pool: Pool::new(self.config.workers, "stdrpc-handler"),
            // A connection's thread outlives it, idle, for a while: the
            // next connection reuses it instead of paying for a new thread.
            conn_threads: Pool::new(
                self.config
                    .max_connections
                    .saturating_add(self.config.max_handshakes),
                "stdrpc-conn",
            ),
            budget: Arc::new(Budget::new(self.config.memory_budget)),
            authkey: self.authkey,
            registry: self.registry,
            config: self.config,
            stopping: AtomicBool::new(false),
            conns: Mutex::new(Conns::default()),
            conns_closed: Condvar::new(),
            counters: Counters::default(),
            watchdog: Arc::new(Watchdog::new()),
            // Connections whose first frame is a pickle go to Python's
            // manager: installed from the one wiring point (wiring.rs).
            upgrade: Some(crate::wiring::default_upgrade()),
            wake,
        });
        let (dog, weak) = (Arc::clone(&shared.watchdog), Arc::downgrade(&shared));
        std::thread::Builder::new()
            .name("stdrpc-watchdog".into())
            .stack_size(64 * 1024)
            .spawn(move || dog.run(|| weak.upgrade().map(|s| s.live_connections())))?;
        Ok(shared)
    }
}

/// A server whose socket is open; [`serve`](BoundServer::serve) or
/// [`spawn`](BoundServer::spawn) it.
#[derive(Debug)]
pub struct BoundServer {
    shared: Arc<Shared>,
    acceptor: Acceptor,
    local: Address,
}

impl BoundServer {
    /// The address the socket is bound to (with the real port when port 0
    /// was asked for).
    pub fn local_addr(&self) -> &Address {
        &self.local
    }

    /// A handle that stops the server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves on the current thread until a [`ShutdownHandle`] stops the
    /// server, then finishes the calls in flight and returns.
    ///
    /// # Errors
    /// An accept error other than a transient one.
    pub fn serve(self) -> Result<()> {
        let shared = self.shared;
        let result = accept_loop(&shared, self.acceptor);
        shared.finish(shared.config.shutdown_timeout);
        result
    }

    /// Serves on a background thread and returns a handle to it.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(self) -> Result<RunningServer> {
        let shared = Arc::clone(&self.shared);
        let acceptor = self.acceptor;
        let thread = std::thread::Builder::new()
            .name("stdrpc-accept".into())
            .spawn(move || {
                let result = accept_loop(&shared, acceptor);
                shared.accept_ended();
                result
            })?;
        Ok(RunningServer {
            shared: self.shared,
            local: self.local,
            thread: Some(thread),
        })
    }
}

/// A server running on background threads.
///
/// Call [`shutdown`](RunningServer::shutdown) to stop it, or
/// [`join`](RunningServer::join) to wait for a [`ShutdownHandle`] to.
///
/// Dropping it stops the server, so a forgotten handle cannot leak a
/// listening server: it stops accepting at once, and its connections wind
/// down in the background within [`Config::shutdown_timeout`](crate::Config::shutdown_timeout).
/// `Drop` does not wait for that (blocking in `Drop` would stall the thread
/// that lets go of the handle, and a panic unwinding through it); call
/// `shutdown` to wait. To keep the server running without a handle, call
/// [`detach`](RunningServer::detach).
#[derive(Debug)]
pub struct RunningServer {
    shared: Arc<Shared>,
    local: Address,
    thread: Option<JoinHandle<Result<()>>>,
}

impl RunningServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> &Address {
        &self.local
    }

    /// Live counters, readable while the server runs.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// A handle that stops the server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Stops accepting, lets every call already received finish and send its
    /// reply, closes every connection, and waits for all of it.
    ///
    /// Requests that arrive after this begins are answered with
    /// [`RemoteKind::ShuttingDown`] or not read at all (the client then sees
    /// [`Error::ConnectionClosed`]); none is run without its reply being sent.
    ///
    /// Handlers still running after [`Config::shutdown_timeout`](crate::Config::shutdown_timeout)
    /// (default 30 s) are abandoned, as with
    /// [`shutdown_timeout`](RunningServer::shutdown_timeout).
    ///
    /// # Errors
    /// The accept loop had failed with an I/O error.
    pub fn shutdown(self) -> Result<()> {
        let deadline = self.shared.config.shutdown_timeout;
        self.shutdown_timeout(deadline).map(|_| ())
    }

    /// Shuts down as [`shutdown`](RunningServer::shutdown) does, but waits
    /// for running handlers at most `deadline` (`None`: as long as they
    /// run). Handlers still running then are abandoned: their callers get
    /// [`RemoteKind::Abandoned`] (the outcome is unknown: the handler may
    /// have run) if their connection can still carry it, else
    /// [`Error::ConnectionClosed`]; their connections close; their threads
    /// go on until the handlers return, and their results are dropped.
    ///
    /// Returns how many handlers were abandoned (0 when all finished).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut server = stdrpc::Server::new(b"key");
    /// server.register("add", |a: i64, b: i64| a + b);
    /// let running = server.bind("127.0.0.1:0")?.spawn()?;
    /// let abandoned = running.shutdown_timeout(Some(Duration::from_secs(5)))?;
    /// assert_eq!(abandoned, 0);
    /// # Ok::<(), stdrpc::Error>(())
    /// ```
    ///
    /// # Errors
    /// The accept loop had failed with an I/O error.
    pub fn shutdown_timeout(mut self, deadline: Option<Duration>) -> Result<usize> {
        self.shared.begin_shutdown();
        let result = self.join_accept();
        let abandoned = self.shared.finish(deadline);
        result.map(|()| abandoned)
    }

    /// Waits until the server stops (through a [`ShutdownHandle`]), then
    /// for its connections, abandoning handlers still running after
    /// [`Config::shutdown_timeout`](crate::Config::shutdown_timeout).
    ///
    /// # Errors
    /// The accept loop failed with an I/O error.
    pub fn join(mut self) -> Result<()> {
        let result = self.join_accept();
        self.shared.finish(self.shared.config.shutdown_timeout);
        result
    }

    /// Lets the server run on without a handle, until a [`ShutdownHandle`]
    /// (taken before) stops it or the process ends. Dropping the handle
    /// would stop it.
    pub fn detach(mut self) {
        // Dropping the join handle detaches the accept thread; with `thread`
        // empty, `Drop` leaves the server alone.
        self.thread = None;
    }

    /// Waits for the accept loop to end. Once the server is stopping, a
    /// wake-up connection that did not reach the loop is repeated, so that
    /// a lost one cannot leave the loop blocked in `accept` (and this wait
    /// with it) for ever.
    fn join_accept(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        {
            // Until a stop is requested nothing can be lost: wait for it.
            let mut conns = self.shared.conns();
            while !self.shared.stopping() && !conns.accept_ended {
                conns.waiting += 1;
                conns = wait(&self.shared.conns_closed, conns);
                conns.waiting -= 1;
            }
        }
        const REWAKE: Duration = Duration::from_millis(200);
        let mut pause = Duration::from_micros(100);
        let mut waited = Duration::ZERO;
        while !thread.is_finished() {
            std::thread::sleep(pause);
            waited += pause;
            pause = (pause * 2).min(Duration::from_millis(20));
            if waited >= REWAKE {
                self.shared.wake_accept();
                waited = Duration::ZERO;
            }
        }
        match thread.join() {
            Ok(r) => r,
            Err(_) => Err(Error::protocol("the accept thread panicked")),
        }
    }
}

impl Drop for RunningServer {
    /// Stops accepting at once and lets the connections wind down on a
    /// background thread, within the shutdown deadline; does not wait.
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.begin_shutdown();
        let shared = Arc::clone(&self.shared);
        let finish = move || {
            let _ = thread.join();
            shared.finish(shared.config.shutdown_timeout);
        };
        // Without a thread to spare, the accept loop is already told to end;
        // the connections end as their peers leave.
        let _ = std::thread::Builder::new()
            .name("stdrpc-shutdown".into())
            .spawn(finish);
    }
}

/// Stops a server from any thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Starts the shutdown and returns at once; [`RunningServer::join`] or the end
    /// of [`BoundServer::serve`] tells when it is complete.
    pub fn shutdown(&self) {
        self.shared.begin_shutdown();
    }
}

#[derive(Debug)]
struct Shared {
    authkey: Vec<u8>,
    config: Config,
    registry: Registry,
    pool: Pool,
    conn_threads: Pool,
    /// The memory budget every connection's requests are charged to.
    budget: Arc<Budget>,
    stopping: AtomicBool,
    conns: Mutex<Conns>,
    conns_closed: Condvar,
    counters: Counters,
    watchdog: Arc<Watchdog>,
    /// Another protocol a connection may switch to with its first frame
    /// (`upgrade.rs`).
    upgrade: Option<Arc<dyn Upgrade>>,
    /// Wakes the accept loop (none when serving one transport).
    wake: Option<Waker>,
}

impl Host for Shared {
    fn config(&self) -> &Config {
        &self.config
    }

    fn registry(&self) -> &Registry {
        &self.registry
    }

    fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn stopping_flag(&self) -> &AtomicBool {
        &self.stopping
    }

    fn watchdog(&self) -> &Watchdog {
        &self.watchdog
    }

    fn handler_pool(&self) -> &Pool {
        &self.pool
    }

    fn connection_closed(&self, id: u64) {
        Shared::connection_closed(self, id);
    }

    fn begin_shutdown(&self) {
        Shared::begin_shutdown(self);
    }

    fn upgrade(&self) -> Option<&dyn Upgrade> {
        self.upgrade.as_deref()
    }
}

/// The open connections, so that shutdown and the watchdog can reach them.
#[derive(Debug, Default)]
struct Conns {
    next_id: u64,
    /// Threads waiting on `conns_closed` (in `finish`, and in
    /// `join_accept` for the stop or the accept loop's end).
    waiting: usize,
    /// The accept loop has returned.
    accept_ended: bool,
    open: HashMap<u64, Entry>,
    /// The peers in the handshake, oldest (lowest id) first.
    handshaking: BTreeSet<u64>,
    /// How many entries of `open` hold an authenticated slot.
    authenticated: usize,
}

impl Conns {
    /// Enters a new peer in the table, in the handshake; returns its id.
    fn admit(&mut self, stream: &Arc<Stream>) -> u64 {
        // Ids start at 1: `Context::connection_id` keeps 0 for none.
        self.next_id += 1;
        let id = self.next_id;
        self.open.insert(
            id,
            Entry {
                stream: Arc::clone(stream),
                conn: None,
                counted: false,
            },
        );
        self.handshaking.insert(id);
        id
    }
}

#[derive(Debug)]
struct Entry {
    /// A handle on the socket, to stop reading at shutdown.
    stream: Arc<Stream>,
    /// Set once the peer has authenticated.
    conn: Option<Arc<Conn>>,
    /// The connection holds one of the `max_connections` slots.
    counted: bool,
}

impl Shared {
    fn conns(&self) -> MutexGuard<'_, Conns> {
        lock(&self.conns)
    }

    fn stats(&self) -> Stats {
        let c = &self.counters;
        let (upgraded_calls, upgraded_errors) =
            self.upgrade.as_ref().map_or((0, 0), |u| u.counts());
        let (open, authenticated, handshaking) = {
            let conns = self.conns();
            (
                conns.open.len(),
                conns.authenticated,
                conns.handshaking.len(),
            )
        };
        Stats {
            open_connections: open as u64,
            accepted: c.accepted.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            auth_failures: c.auth_failures.load(Ordering::Relaxed),
            authenticated: authenticated as u64,
            handshaking: handshaking as u64,
            evicted: c.evicted.load(Ordering::Relaxed),
            overloaded: c.overloaded.load(Ordering::Relaxed),
            budget_in_use: self.budget.in_use() as u64,
            calls: c.calls.load(Ordering::Relaxed) + upgraded_calls,
            errors: c.errors.load(Ordering::Relaxed) + upgraded_errors,
            signature_mismatches: c.mismatches.load(Ordering::Relaxed),
            bytes_in: c.bytes_in.load(Ordering::Relaxed),
            bytes_out: c.bytes_out.load(Ordering::Relaxed),
        }
    }

    fn begin_shutdown(&self) {
        {
            let conns = self.conns();
            if self.stopping.swap(true, Ordering::AcqRel) {
                return;
            }
            if conns.waiting > 0 {
                self.conns_closed.notify_all();
            }
            // Reading stops; replies to calls already read still go out.
            // Where the platform cannot wake a blocked read, the readers
            // see `stopping` within `stop::POLL` instead (see stop.rs).
            for entry in conns.open.values() {
                entry.stream.interrupt();
                if let Some(conn) = &entry.conn {
                    conn.cancel();
                }
            }
        }
        self.wake_accept();
    }

    /// Wakes the accept loop, which is blocked in accept() (sockets: by
    /// connecting to it; a user's acceptor: through its own `wake`). If the
    /// wake-up is lost (a connection refused by a full backlog, say), the
    /// joining side repeats it (`RunningServer::join_accept`).
    fn wake_accept(&self) {
        if let Some(wake) = &self.wake {
            wake.wake();
        }
    }

    /// Waits for every connection to close and every handler to finish, at
    /// most `deadline`; then abandons the handlers still running and closes
    /// their connections. Returns how many handlers were abandoned.
    fn finish(&self, deadline: Option<Duration>) -> usize {
        let until = deadline.and_then(|d| Instant::now().checked_add(d));
        let mut conns = self.conns();
        let mut abandoned = None;
        while !conns.open.is_empty() {
            let left = match until {
                None => None,
                Some(until) => match until.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => {
                        abandoned = Some(Self::abandon(&conns));
                        break;
                    }
                },
            };
            conns.waiting += 1;
            conns = match left {
                None => wait(&self.conns_closed, conns),
                Some(left) => crate::sync::wait_timeout(&self.conns_closed, conns, left).0,
            };
            conns.waiting -= 1;
        }
        drop(conns);
        self.watchdog.stop();
        match abandoned {
            None => {
                self.pool.shutdown();
                self.conn_threads.shutdown();
                0
            }
            Some(n) => {
                // The abandoned handlers' threads end when they return.
                self.pool.stop();
                self.conn_threads.stop();
                n
            }
        }
    }

    /// Cuts off every handler still running and closes every connection.
    fn abandon(conns: &Conns) -> usize {
        let mut cut = 0;
        for entry in conns.open.values() {
            if let Some(conn) = &entry.conn {
                cut += conn.abandon();
            }
            let _ = entry.stream.shutdown(Shutdown::Both);
        }
        cut
    }

    /// The authenticated connections, for the watchdog.
    fn live_connections(&self) -> Vec<Arc<Conn>> {
        self.conns()
            .open
            .values()
            .filter_map(|e| e.conn.clone())
            .collect()
    }

    /// The accept loop has returned: wakes `join_accept`.
    fn accept_ended(&self) {
        let mut conns = self.conns();
        conns.accept_ended = true;
        if conns.waiting > 0 {
            self.conns_closed.notify_all();
        }
    }

    /// Removes a connection from the table once it has closed.
    fn connection_closed(&self, id: u64) {
        let mut conns = self.conns();
        conns.handshaking.remove(&id);
        if conns.open.remove(&id).is_some_and(|e| e.counted) {
            conns.authenticated -= 1;
        }
        // Only a shutdown waits here; a notification nobody awaits would
        // still cost a system call on every close.
        if conns.waiting > 0 {
            self.conns_closed.notify_all();
        }
    }
}

fn accept_loop(shared: &Arc<Shared>, acceptor: Acceptor) -> Result<()> {
    loop {
        let stream = match acceptor.accept() {
            Ok(s) => s,
            Err(_) if shared.stopping() => return Ok(()),
            Err(e) if is_transient(&e) => {
                // Out of descriptors or a connection reset before accept:
                // back off briefly instead of spinning on the error.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let (id, stream) = {
            let mut conns = shared.conns();
            if shared.stopping() {
                return Ok(());
            }
            if conns.authenticated >= shared.config.max_connections {
                drop(conns);
                shared.counters.refused.fetch_add(1, Ordering::Relaxed);
                refuse(&stream);
                continue;
            }
            if conns.handshaking.len() >= shared.config.max_handshakes {
                // Make room: the oldest peer still in the handshake goes.
                // Its thread sees the socket closed and leaves the table.
                if let Some(oldest) = conns.handshaking.pop_first() {
                    if let Some(entry) = conns.open.get(&oldest) {
                        let _ = entry.stream.shutdown(Shutdown::Both);
                    }
                    shared.counters.evicted.fetch_add(1, Ordering::Relaxed);
                }
            }
            let stream = Arc::new(stream);
            (conns.admit(&stream), stream)
        };
        shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
        let for_thread = Arc::clone(shared);
        shared
            .conn_threads
            .execute(move || serve_connection(&for_thread, id, stream));
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | OutOfMemory
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24) // ENFILE, EMFILE on Linux and macOS.
}

/// Tells a peer beyond the connection limit why it is being closed, in the
/// place where it expects the challenge. Python 3.12+ reports it as an
/// `AuthenticationError` quoting the message (3.11 fails an assertion); our
/// client as a refused connection.
fn refuse(stream: &Stream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let mut out = Vec::new();
    frame::append(&mut out, b"#FAILURE# server at its connection limit");
    let _ = (&*stream).write_all(&out);
    let _ = stream.shutdown(Shutdown::Both);
}

/// A new connection's thread: authenticate the peer, then read and run its
/// requests until the connection ends or a follower takes over the reading.
fn serve_connection(shared: &Arc<Shared>, id: u64, stream: Arc<Stream>) {
    let config = &shared.config;
    let mut deadline = Deadline::new(&stream, config.handshake_timeout).stoppable(&shared.stopping);
    // As soon as the peer has proved the key it leaves the handshake set
    // (it can no longer be evicted) and takes an authenticated slot, if one
    // is free; its own challenge to us follows.
    let mut evicted = false;
    let mut full = false;
    let mut proved = false;
    let admit = || {
        proved = true;
        let mut conns = shared.conns();
        evicted = !conns.handshaking.remove(&id);
        full = conns.authenticated >= config.max_connections;
        if evicted || full {
            return Err(Error::ConnectionClosed);
        }
        conns.authenticated += 1;
        if let Some(entry) = conns.open.get_mut(&id) {
            entry.counted = true;
        }
        Ok(())
    };
    let admitted =
        auth::server_then(&mut deadline, &shared.authkey, config.strict_auth, admit).is_ok();
    // The connection's own read timeout (the idle timeout) replaces the
    // handshake deadline's; `Conn::new` sets the write timeout.
    if !admitted || deadline.finish(config.idle_timeout).is_err() {
        // An evicted peer is counted once, as evicted.
        let evicted = evicted || (!proved && !shared.conns().handshaking.contains(&id));
        let counter = if evicted {
            None
        } else if full {
            Some(&shared.counters.refused)
        } else {
            Some(&shared.counters.auth_failures)
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let _ = stream.shutdown(Shutdown::Both);
        shared.connection_closed(id);
        return;
    }
    // A stock Python client's first request would otherwise wait ~40 ms for
    // our delayed acknowledgement of its #WELCOME# (see quickack.rs).
    quickack::enable(&stream);
    let conn = match Conn::new(id, Arc::clone(shared) as Arc<dyn Host>, stream) {
        Ok(conn) => Arc::new(conn),
        Err(_) => {
            shared.connection_closed(id);
            return;
        }
    };
    match shared.conns().open.get_mut(&id) {
        Some(entry) => entry.conn = Some(Arc::clone(&conn)),
        None => return,
    }
    conn.serve();
}
