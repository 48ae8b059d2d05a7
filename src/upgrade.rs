//! The core's one door for another protocol on the same port: a
//! first-frame *upgrade*.
//!
//! After the handshake, a server connection's first frame is offered to
//! the server's upgrade (if any) before it is parsed as an stdrpc message:
//! when [`Upgrade::claims`] it, the whole connection is handed over to
//! [`Upgrade::serve`] with what the core gives it ([`Upgraded`]), and the
//! core does nothing more with it than close it afterwards. The Python
//! layer implements it to answer stock Python `BaseManager` clients, whose
//! first frame is a pickle; the core knows nothing else of Python.

use std::sync::atomic::{AtomicBool, AtomicU64};

use crate::config::Config;
use crate::context::Context;
use crate::error::Result;
use crate::frame::FrameReader;
use crate::registry::Registry;
use crate::stream::Stream;

/// Another protocol that a connection may switch to with its first frame.
pub(crate) trait Upgrade: Send + Sync + std::fmt::Debug {
    /// Whether a connection whose first frame starts with `first` belongs to
    /// this protocol. `first` is the whole frame, or only its first bytes
    /// when the frame was refused for lack of memory budget (the connection
    /// is then closed, since its first request went unanswered).
    fn claims(&self, first: &[u8]) -> bool;

    /// Serves the rest of the connection, whose first frame was `first`,
    /// until the peer closes it or the server stops.
    ///
    /// # Errors
    /// An I/O error or a frame over the limit; the connection is then
    /// closed and counted in `Stats::errors` (unless the server is stopping).
    fn serve(&self, conn: Upgraded<'_>, first: &[u8]) -> Result<()>;

    /// The calls served and the calls failed so far, added to
    /// `Stats::calls` and `Stats::errors`.
    fn counts(&self) -> (u64, u64);
}

/// What the core gives an upgraded connection.
pub(crate) struct Upgraded<'a> {
    /// The methods registered with `Server::register`.
    pub(crate) registry: &'a Registry,
    /// The server's configuration.
    pub(crate) config: &'a Config,
    /// The authenticated connection.
    pub(crate) stream: &'a Stream,
    /// Its frames, each charged against the server's memory budget (at the
    /// stdrpc rate until `FrameReader::set_charge` changes it).
    pub(crate) frames: &'a mut FrameReader,
    /// The server's traffic counters (`Stats::bytes_in`, `bytes_out`),
    /// which count every frame, header included.
    pub(crate) bytes_in: &'a AtomicU64,
    pub(crate) bytes_out: &'a AtomicU64,
    /// Requests refused for lack of memory budget (`Stats::overloaded`).
    pub(crate) overloaded: &'a AtomicU64,
    /// Set when the server stops: reads end (see `stop.rs`).
    pub(crate) stopping: &'a AtomicBool,
    /// Starts the server's shutdown.
    pub(crate) shutdown: &'a (dyn Fn() + Sync),
    /// The context handlers called on this connection see (no deadline).
    pub(crate) context: &'a Context,
}
