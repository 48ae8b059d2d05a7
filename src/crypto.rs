//! The few cryptographic primitives the authkey handshake needs, written
//! against `std` alone.
//!
//! Python's `multiprocessing.connection` authenticates a connection with an
//! HMAC challenge/response: Python 3.11 and older use HMAC-MD5, Python 3.12
//! and newer announce their digest (normally `{sha256}`) and accept HMAC-MD5
//! from older peers. This module provides exactly what that needs:
//!
//! - [`Sha256`] / [`sha256()`] (FIPS 180-4) and [`Md5`] / [`md5()`] (RFC 1321),
//!   both incremental and one-shot;
//! - [`hmac_sha256`] and [`hmac_md5`] (RFC 2104);
//! - [`constant_time_eq`] for comparing MACs without leaking where they differ;
//! - [`fill_random`] for the challenge nonces.
//!
//! It is not a general-purpose cryptography library. MD5 is here only for
//! compatibility with the HMAC-MD5 handshake of older Pythons.
//!
//! # Where random bytes come from
//!
//! [`fill_random`] produces the handshake challenges, so it must be
//! unpredictable to a network attacker.
//!
//! - **Unix** (Linux, macOS, the BSDs, ...): the bytes are read from
//!   `/dev/urandom`, opened afresh on each call. If the device cannot be opened
//!   or read, the `io::Error` is returned and the handshake fails with it.
//!   There is never a fallback to predictable bytes.
//! - **Everywhere else** (notably Windows): `std` has no public interface to
//!   the operating system's random generator, but it seeds the SipHash keys of
//!   [`std::collections::hash_map::RandomState`] from it (`ProcessPrng` /
//!   `BCryptGenRandom` on Windows). [`fill_random`] hashes several fresh
//!   `RandomState` outputs, a process-wide counter, the thread id and the
//!   current `SystemTime` / `Instant` with SHA-256 into a seed, then expands
//!   the seed with SHA-256 in counter mode, 32 bytes per block. The
//!   unpredictability therefore rests on `std`'s OS-seeded 128-bit SipHash
//!   keys; the counter and clocks only make successive outputs distinct.

mod blocks;
mod hmac;
mod md5;
mod random;
mod sha256;

pub use hmac::{constant_time_eq, hmac_md5, hmac_sha256};
pub use md5::{Md5, md5};
pub use random::fill_random;
pub use sha256::{Sha256, sha256};

/// Lowercase hex of `bytes`, for the unit tests' expected values.
#[cfg(test)]
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
