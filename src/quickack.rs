//! `TCP_QUICKACK` on Linux: the crate's one use of `unsafe`.
//!
//! A stock Python client writes its final `#WELCOME#` and its first request
//! back to back, without `TCP_NODELAY`. Nagle holds the request until the
//! welcome is acknowledged, and a server with nothing to send delays that
//! acknowledgement by about 40 ms. Every short-lived `BaseManager`
//! connection (four per `manager.get()`) pays it. Setting `TCP_QUICKACK` on
//! our side right after the welcome arrives makes the kernel acknowledge at
//! once, and the request follows in well under a millisecond.
//!
//! std exposes no `TCP_QUICKACK`, and nothing the server may legally send at
//! that point would carry the acknowledgement instead: the protocol gives
//! the server no message after the client's welcome. So this module declares
//! `setsockopt` itself (no `libc` dependency) and calls it once per
//! connection. Elsewhere than Linux it does nothing.

#![allow(unsafe_code)] // The one exception to the crate's `deny` (Cargo.toml), documented above.

use crate::stream::Stream;

/// Asks the kernel to acknowledge received data at once (Linux only; a
/// no-op elsewhere). Failure only costs latency, so it is ignored.
pub(crate) fn enable(stream: &Stream) {
    #[cfg(target_os = "linux")]
    if let Stream::Tcp(s) = stream {
        linux::quickack(std::os::fd::AsFd::as_fd(s));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_int, c_void};
    use std::os::fd::{AsRawFd, BorrowedFd};

    const IPPROTO_TCP: c_int = 6;
    const TCP_QUICKACK: c_int = 12;

    unsafe extern "C" {
        fn setsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *const c_void,
            len: u32,
        ) -> c_int;
    }

    pub(super) fn quickack(fd: BorrowedFd<'_>) {
        let on: c_int = 1;
        // SAFETY: `fd` is an open descriptor for the duration of the call,
        // as `BorrowedFd` guarantees (its owner outlives the borrow); `value`
        // points to a live `c_int` and `len` is its exact size, as
        // setsockopt(2) requires. The call writes nothing through the pointer.
        let _ = unsafe {
            setsockopt(
                fd.as_raw_fd(),
                IPPROTO_TCP,
                TCP_QUICKACK,
                (&raw const on).cast::<c_void>(),
                std::mem::size_of::<c_int>() as u32,
            )
        };
    }
}
