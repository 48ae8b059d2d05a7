//! stdrpc: Python's `BaseManager`, done in Rust with nothing beyond `std`.
//!
//! (Crate documentation is written as the crate grows.)

mod address;
mod auth;
mod codec;
#[doc(hidden)]
pub mod crypto;
mod error;
mod frame;
mod stream;

pub use address::{Address, ToAddress};
pub use codec::{Decode, Decoder, Encode, from_slice, to_vec, write_varint_u64};
pub use error::{Error, RemoteKind, Result};

/// Not public API: items that the crate's macros and its own integration tests
/// need. Nothing here is covered by semver.
#[doc(hidden)]
pub mod __private {
    pub use crate::crypto;
}
