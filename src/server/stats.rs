//! What a server counts: [`Stats`], the snapshot users read, and the
//! counters behind it that connections update.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// A snapshot of a server's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Sockets open now: authenticated connections, peers in the handshake,
    /// and peers being closed.
    pub open_connections: u64,
    /// Connections accepted since the start.
    pub accepted: u64,
    /// Connections refused at the connection limit
    /// ([`Config::max_connections`](crate::Config::max_connections)).
    pub refused: u64,
    /// Handshakes that failed (wrong key, protocol error, deadline), not
    /// counting peers evicted.
    pub auth_failures: u64,
    /// Authenticated connections open now: what
    /// [`Config::max_connections`](crate::Config::max_connections) limits.
    pub authenticated: u64,
    /// Peers in the authkey handshake now: what
    /// [`Config::max_handshakes`](crate::Config::max_handshakes) limits.
    pub handshaking: u64,
    /// Peers closed in the handshake to make room for a newer one.
    pub evicted: u64,
    /// Requests refused because the memory budget had no room for them
    /// ([`RemoteKind::Overloaded`](crate::RemoteKind::Overloaded)).
    pub overloaded: u64,
    /// Bytes of the memory budget reserved now: by requests being read and
    /// run, and the standing shares (64 KiB each) of the connections that
    /// have sent a small request ([`Config::memory_budget`](crate::Config::memory_budget)).
    pub budget_in_use: u64,
    /// Calls and notifications that ran to completion with a result.
    pub calls: u64,
    /// Calls and notifications that failed, and connections closed for
    /// breaking the protocol.
    pub errors: u64,
    /// Typed calls and notifications refused because their signature did
    /// not match the handler's (the handler did not run). Also counted in
    /// `errors`.
    pub signature_mismatches: u64,
    /// Bytes received on authenticated connections, frame headers included
    /// (stdrpc and stock Python clients alike); frames skipped unread for
    /// lack of memory budget are not counted.
    pub bytes_in: u64,
    /// Bytes sent on authenticated connections, frame headers included
    /// (stdrpc and stock Python clients alike).
    pub bytes_out: u64,
}

/// The counters behind [`Stats`]; connections count their own events here.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) accepted: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) auth_failures: AtomicU64,
    pub(super) evicted: AtomicU64,
    pub(super) overloaded: AtomicU64,
    pub(super) calls: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) mismatches: AtomicU64,
    pub(super) bytes_in: AtomicU64,
    pub(super) bytes_out: Arc<AtomicU64>,
}
