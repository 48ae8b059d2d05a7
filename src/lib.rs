//! stdrpc: Python's `BaseManager`, done in Rust with nothing beyond `std`.
//!
//! (Crate documentation is written as the crate grows.)

mod address;
mod auth;
mod client;
mod codec;
mod config;
#[doc(hidden)]
pub mod crypto;
mod envelope;
mod error;
mod frame;
mod outbox;
mod pool;
mod registry;
mod server;
mod stream;

pub use address::{Address, ToAddress};
pub use client::{Client, Pending};
pub use codec::{Decode, Decoder, Encode, from_slice, to_vec, write_varint_u64};
pub use config::Config;
pub use error::{Error, RemoteKind, Result};
pub use registry::{Handler, Reply};
pub use server::{Bound, Running, Server, ShutdownHandle, Stats};

/// Not public API: items that the crate's macros and its own integration tests
/// need. Nothing here is covered by semver.
#[doc(hidden)]
pub mod __private {
    pub use crate::crypto;
}
