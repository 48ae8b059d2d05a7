//! Python's `multiprocessing.managers` protocol, both roles.
//!
//! # Serving stock Python clients
//!
//! A connection whose first message is a pickle (byte `0x80`) comes from a
//! stock Python `BaseManager` client; the server hands it to
//! [`ManagerUpgrade`] (the core's first-frame upgrade),
//! which answers it as Python's manager server would:
//!
//! * `create(typeid, *args)` runs the handler registered as `typeid` (the
//!   same closure Rust callers use, Python's positional arguments converted
//!   to its argument bytes as its signature's shape says, `shaped.rs`) and
//!   keeps the result as a *referent* under an opaque ident,
//!   with one reference; the reply lists the methods a proxy may call
//!   (see `methods.rs`: Python's list for numbers, the non-mutating methods
//!   for containers and strings);
//! * `incref`/`decref` count references; a referent is freed at zero, and
//!   the table is bounded ([`objects::DEFAULT_MAX_OBJECTS`]);
//! * `accept_connection` turns the connection into a proxy's method-call
//!   channel: `#GETVALUE`, `__repr__`, `__str__` and the exposed methods;
//! * `get_methods`, `number_of_objects`, `debug_info`, `dummy`, and
//!   `shutdown` when the server allows it;
//! * `stdrpc.methods`, ours: every method with its signature as Python sees
//!   it, `[("Kv.get", "(key: str) -> Optional[int]"), ...]`, as a server
//!   function or a typeid (a shared list).
//!
//! Errors reach Python as it expects them: a method that raises answers
//! `#ERROR` with the builtin exception (the proxy raises it as is), and so
//! do wrong arguments to an object type's method (a `TypeError` naming the
//! method, its parameters and what was given); every other failure (unknown
//! typeid, wrong arguments to `create`, a handler's `Err` or panic) answers
//! `#TRACEBACK`, which Python raises as `RemoteError`.
//!
//! # Object types: the fast path
//!
//! Handlers registered as `Type.method` (which `service!` does for its
//! methods) make `Type` an *object type*: `create('Type')` answers a
//! referent exposing those methods, and each proxy method call runs the
//! handler `Type.method` on the proxy's persistent connection:
//!
//! ```python
//! from multiprocessing.managers import BaseManager
//! BaseManager.register("Counter")
//! m = BaseManager(("127.0.0.1", 4343), authkey=b"password"); m.connect()
//! counter = m.Counter()            # one create, incref, decref
//! for _ in range(1000):
//!     counter.inc("hikakin")       # one round trip each, one connection
//! print(counter.get("hikakin"))
//! ```
//!
//! # Calling stock Python servers
//!
//! [`Manager`] and [`Proxy`] are the client side: create a registered
//! typeid, call its methods, fetch its value, with references counted as
//! Python's `AutoProxy` counts them.

mod client;
pub(crate) mod objects;
mod server;
mod shaped;

use std::sync::atomic::AtomicU64;

use crate::error::Result;
use crate::registry::Registry;
use crate::upgrade::{Upgrade, Upgraded};

pub use client::{Manager, Proxy};
use objects::Objects;

/// What the BaseManager protocol needs from the server that hosts it.
pub(crate) struct Host<'a> {
    /// The methods registered with `Server::register`: `create(typeid, ...)`
    /// calls the one named `typeid`.
    pub(crate) registry: &'a Registry,
    /// The shared objects ("referents") of all Python connections.
    pub(crate) objects: &'a Objects,
    /// Whether a Python client may shut the server down (`shutdown`).
    pub(crate) allow_shutdown: bool,
    /// Starts the server's shutdown.
    pub(crate) shutdown: &'a (dyn Fn() + Sync),
    /// The largest frame accepted or sent.
    pub(crate) max_frame: usize,
    /// The largest request decoded (`Config::max_python_frame`): a larger
    /// one is answered with a `MemoryError` and not decoded.
    pub(crate) max_request: usize,
    /// The server's traffic counters (`Stats::bytes_in`, `bytes_out`), which
    /// count Python frames too, header included.
    pub(crate) bytes_in: &'a AtomicU64,
    pub(crate) bytes_out: &'a AtomicU64,
    /// Requests refused for lack of memory budget (`Stats::overloaded`).
    pub(crate) overloaded: &'a AtomicU64,
    /// Set when the server stops: the connection's reads end (see `stop.rs`).
    pub(crate) stopping: &'a std::sync::atomic::AtomicBool,
    /// How long the connection may be idle (`Config::idle_timeout`).
    pub(crate) idle_timeout: Option<std::time::Duration>,
    /// What handlers called on this connection see (no deadline: Python
    /// callers send none).
    pub(crate) context: &'a crate::context::Context,
}

/// The Python layer's upgrade: a connection whose first frame is a pickle
/// (byte `0x80`, which never starts an stdrpc message) comes from a stock
/// Python `BaseManager` client and is served by [`server`]. It owns the
/// objects ("referents") that all Python connections share.
#[derive(Debug, Default)]
pub(crate) struct ManagerUpgrade {
    objects: Objects,
}

impl Upgrade for ManagerUpgrade {
    fn claims(&self, first: &[u8]) -> bool {
        first.first() == Some(&0x80)
    }

    fn serve(&self, conn: Upgraded<'_>, first: &[u8]) -> Result<()> {
        let host = Host {
            registry: conn.registry,
            objects: &self.objects,
            allow_shutdown: conn.config.python_shutdown,
            shutdown: conn.shutdown,
            max_frame: conn.config.max_frame,
            max_request: conn.config.max_python_frame as usize,
            bytes_in: conn.bytes_in,
            bytes_out: conn.bytes_out,
            overloaded: conn.overloaded,
            stopping: conn.stopping,
            idle_timeout: conn.config.idle_timeout,
            context: conn.context,
        };
        server::serve(&host, conn.stream, conn.frames, first)
    }

    fn counts(&self) -> (u64, u64) {
        (self.objects.calls(), self.objects.errors())
    }
}
