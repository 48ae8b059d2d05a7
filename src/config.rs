//! Limits and settings, shared by servers, clients and bare connections.

use std::time::Duration;

use crate::frame::DEFAULT_MAX_FRAME;

/// Limits and settings for a [`Server`](crate::Server) or a
/// [`Client`](crate::Client).
///
/// Start from [`Config::default()`] and change what you need; each setting
/// says which side reads it.
///
/// ```
/// use std::time::Duration;
/// let config = stdrpc::Config::default()
///     .max_frame(1 << 20)
///     .handshake_timeout(Duration::from_secs(2))
///     .strict_auth(true);
/// assert_eq!(config.frame_limit(), 1 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) max_frame: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) strict_auth: bool,
    pub(crate) max_connections: usize,
    pub(crate) max_handshakes: usize,
    pub(crate) memory_budget: usize,
    pub(crate) budget_wait: Duration,
    pub(crate) workers: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) max_write_backlog: usize,
    pub(crate) reconnect: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) python_shutdown: bool,
    pub(crate) shutdown_timeout: Option<Duration>,
    /// A `u32`, so that `Config` stays as small as it was.
    pub(crate) max_python_frame: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_frame: DEFAULT_MAX_FRAME,
            handshake_timeout: Duration::from_secs(5),
            strict_auth: false,
            max_connections: 1024,
            max_handshakes: 256,
            memory_budget: 1 << 30,
            budget_wait: Duration::from_secs(1),
            workers: 64,
            max_in_flight: 128,
            connect_timeout: Some(Duration::from_secs(10)),
            max_write_backlog: 4 * 1024 * 1024,
            reconnect: None,
            write_timeout: Some(Duration::from_secs(30)),
            idle_timeout: None,
            python_shutdown: false,
            shutdown_timeout: Some(Duration::from_secs(30)),
            max_python_frame: 1024 * 1024,
        }
    }
}

impl Config {
    /// How long a shutdown waits for handlers still running before it
    /// abandons them (their callers get
    /// [`RemoteKind::Abandoned`](crate::RemoteKind::Abandoned): outcome
    /// unknown). `None` waits as long as they run.
    ///
    /// Default 30 s: longer than any call a caller would wait for without a
    /// timeout of its own, short enough that a stuck handler cannot hold up a
    /// restart for good (it matches the default write timeout). Used by
    /// [`RunningServer::shutdown`](crate::RunningServer::shutdown),
    /// [`join`](crate::RunningServer::join), dropping the handle, and
    /// [`BoundServer::serve`](crate::BoundServer::serve).
    pub fn shutdown_timeout(mut self, deadline: Option<Duration>) -> Config {
        self.shutdown_timeout = deadline;
        self
    }

    /// The largest frame payload accepted or sent, in bytes (both sides).
    ///
    /// Default 16 MiB. A peer announcing more is disconnected before anything
    /// is allocated; sending more fails locally with
    /// [`Error::FrameTooLarge`](crate::Error::FrameTooLarge).
    pub fn max_frame(mut self, bytes: usize) -> Config {
        self.max_frame = bytes;
        self
    }

    /// The current frame limit.
    pub fn frame_limit(&self) -> usize {
        self.max_frame
    }

    /// How long the whole authkey handshake may take (both sides).
    ///
    /// Default 5 s. A peer that is silent or trickles bytes is disconnected
    /// when it passes, so it cannot hold a server thread.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Config {
        self.handshake_timeout = timeout;
        self
    }

    /// Refuse peers that answer our challenge with legacy HMAC-MD5, which
    /// Python 3.11 and older send (both sides). Default `false`, so that every
    /// CPython since 3.8 can connect.
    pub fn strict_auth(mut self, strict: bool) -> Config {
        self.strict_auth = strict;
        self
    }

    /// The most authenticated connections a server holds at once (server).
    /// Default 1024. While that many are open, a new peer receives
    /// `#FAILURE#` and is closed; a peer that completes its handshake just
    /// as the last slot is taken is closed without a reply.
    ///
    /// Peers still in the authkey handshake do not count here: they have
    /// their own, smaller limit, [`max_handshakes`](Config::max_handshakes),
    /// so peers without the key cannot take the slots of those with it.
    pub fn max_connections(mut self, n: usize) -> Config {
        self.max_connections = n.max(1);
        self
    }

    /// The most peers a server holds in the authkey handshake at once
    /// (server). Default 256.
    ///
    /// When that many are in the handshake, a new connection is not refused:
    /// the *oldest* peer still in the handshake is closed to make room. A
    /// flood of silent peers then only cycles among itself, while a real
    /// client, which proves the key within a round trip, gets through (it
    /// leaves this set, for an authenticated slot, the moment its answer is
    /// verified); an authenticated connection is never closed for a new one.
    ///
    /// Why 256: an attacker must open this many connections within one real
    /// client's first round trip to push it out. That round trip takes well
    /// under a millisecond on an idle machine but 5-20 ms on a loaded one,
    /// and a local flood reached 15,000 connections a second on a loaded
    /// 2-core test machine: 64 slots then left a real client about 4 ms, and
    /// 1-2% of real connections were pushed out; 256 leave it about 17 ms,
    /// and none were. Each slot costs a thread (with little touched stack)
    /// and a socket only while a peer holds it.
    ///
    /// For comparison: sshd's `MaxStartups 10:30:100` also limits
    /// unauthenticated connections apart from sessions, but *refuses* new
    /// ones (at random from 10, always at 100), so a flood keeps real users
    /// out in proportion to its size. Redis's `maxclients` is one limit for
    /// all clients; beyond it a new one gets `-ERR max number of clients
    /// reached`, the lockout this policy avoids. nginx, out of
    /// `worker_connections`, closes idle keep-alive connections to make room
    /// for new ones; this policy does the same with the peers that have not
    /// proved anything yet.
    pub fn max_handshakes(mut self, n: usize) -> Config {
        self.max_handshakes = n.max(1);
        self
    }

    /// The server-wide memory budget for requests being read, in bytes
    /// (server). Default 1 GiB.
    ///
    /// Each request reserves its frame length times a working-memory factor
    /// (covering the frame's bytes and the memory decoding it may take: see
    /// the README's "Security and limits") as soon as its frame header has
    /// arrived, before its payload is read; it shrinks to the request's own
    /// bytes once the arguments are decoded, as the handler starts, and is
    /// released when the handler returns. A request that does not
    /// fit waits up to [`budget_wait`](Config::budget_wait), then is read
    /// and dropped without being buffered and answered with
    /// [`RemoteKind::Overloaded`](crate::RemoteKind::Overloaded) (a Python
    /// client gets a `MemoryError`). A request that needs more than the
    /// whole budget is refused at once: raise the budget with
    /// [`max_frame`](Config::max_frame). The default admits six stdrpc
    /// requests of the maximal 16 MiB frame at once (factor 10); a Python
    /// request, at most `max_python_frame` (1 MiB) by default, is charged
    /// 73 times its length plus 2 MiB.
    ///
    /// Small requests (charged at most 64 KiB: stdrpc requests up to about
    /// 6.5 KB) borrow their connection's standing share instead: 64 KiB
    /// the connection reserves at its first small request and keeps while
    /// it is open, lent to one request at a time, so that the common case
    /// touches no shared counter. 1,024 busy connections hold 64 MiB of the
    /// budget this way.
    pub fn memory_budget(mut self, bytes: usize) -> Config {
        self.memory_budget = bytes;
        self
    }

    /// How long a request waits for room in the memory budget before it is
    /// refused (server). Default 1 s.
    pub fn budget_wait(mut self, wait: Duration) -> Config {
        self.budget_wait = wait;
        self
    }

    /// The most handler threads a server runs at once (server). Default 64.
    ///
    /// Threads start when calls need them and end after a while idle. Calls
    /// beyond this many wait for a thread to become free.
    pub fn workers(mut self, n: usize) -> Config {
        self.workers = n.max(1);
        self
    }

    /// The most calls from one connection a server runs or queues at once
    /// (server). Default 128. Beyond it the server stops reading that
    /// connection until a call finishes: back-pressure, not an unbounded queue.
    pub fn max_in_flight(mut self, n: usize) -> Config {
        self.max_in_flight = n.max(1);
        self
    }

    /// How long a client waits for the TCP connection to open. Default 10 s;
    /// `None` waits as long as the operating system does.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Config {
        self.connect_timeout = timeout;
        self
    }

    /// How many bytes of outgoing frames may wait for a peer that is not
    /// reading before senders block (both sides). Default 4 MiB, or one
    /// frame if that is larger.
    pub fn max_write_backlog(mut self, bytes: usize) -> Config {
        self.max_write_backlog = bytes;
        self
    }

    /// Reconnect automatically after the connection drops (client). Default
    /// `None`: a dropped connection stays dropped.
    ///
    /// With `Some(budget)`, calls in flight when the connection drops fail
    /// with [`Error::ConnectionClosed`](crate::Error::ConnectionClosed); the
    /// next call opens a new connection first, retrying with exponential
    /// backoff (10 ms doubling to 1 s) for at most `budget`, and then goes
    /// through it. An authentication failure is not retried.
    pub fn reconnect(mut self, budget: Option<Duration>) -> Config {
        self.reconnect = budget;
        self
    }

    /// How long a server waits for a peer to take bytes it is sending
    /// (server). Default 30 s; a peer that reads nothing for that long while
    /// replies wait for it is disconnected, so it cannot hold a thread, its
    /// reply backlog, or a shutdown. `None` waits forever.
    ///
    /// It bounds each write, not the whole stall: the kernel's socket
    /// buffers absorb replies first, so a stalled peer is dropped this long
    /// after they fill.
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Config {
        self.write_timeout = timeout;
        self
    }

    /// Closes an authenticated connection that sends nothing for this long
    /// while none of its calls is running (server). Default `None`: Python's
    /// `BaseManager` proxies hold connections open indefinitely, and so may
    /// clients of ours.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Config {
        self.idle_timeout = timeout;
        self
    }

    /// Lets a stock Python `BaseManager` client stop the server with
    /// `manager.shutdown()` (server). Default `false`: the request is
    /// answered with an error and the server goes on.
    pub fn allow_python_shutdown(mut self, allow: bool) -> Config {
        self.python_shutdown = allow;
        self
    }

    /// The largest request a stock Python `BaseManager` client may send
    /// (server), in bytes; at most [`max_frame`](Config::max_frame) applies
    /// too. Default 1 MiB.
    ///
    /// Python requests are small, and decoding a pickle may take up to about
    /// 72 times its length in memory (a pickle of a million empty lists is a
    /// million objects), so the default keeps the worst single Python request
    /// near 72 MiB. A larger request is answered with a `MemoryError`
    /// without being decoded, and the connection goes on.
    pub fn max_python_frame(mut self, bytes: usize) -> Config {
        self.max_python_frame = u32::try_from(bytes).unwrap_or(u32::MAX);
        self
    }
}
