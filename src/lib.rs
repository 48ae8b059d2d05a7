#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! # Layers
//!
//! - frames: CPython's 4-byte big-endian length prefix (with its `-1` escape);
//! - the authkey handshake of `multiprocessing.connection`, both roles;
//! - messages: call, notification, reply (see `docs/PROTOCOL.md`);
//! - values: the std codec ([`Encode`], [`Decode`]), byte-identical to
//!   bincode 2's standard configuration;
//! - Python values: [`Value`], a data-only pickle subset ([`from_pickle`],
//!   [`to_pickle`]) for stock `multiprocessing.managers` peers.

#[macro_use]
mod service;
#[macro_use]
mod message;

mod address;
mod auth;
mod client;
mod codec;
#[cfg(feature = "bincode")]
mod compat;
mod config;
#[doc(hidden)]
pub mod crypto;
mod envelope;
mod error;
mod frame;
mod manager;
mod outbox;
mod pickle;
mod pool;
mod quickack;
mod registry;
#[cfg(feature = "serde")]
mod serde_impls;
mod server;
mod stop;
mod stream;

pub use address::{Address, ToAddress};
pub use client::{Client, Pending};
pub use codec::{Decode, Decoder, Encode, MAX_DEPTH, from_slice, to_vec, write_varint_u64};
#[cfg(feature = "bincode")]
pub use compat::Compat;
pub use config::Config;
pub use error::{Error, RemoteKind, Result};
pub use manager::{PyManager, PyProxy};
pub use pickle::{BigInt, Object, PickleLimits, Value, from_pickle, from_pickle_with, to_pickle};
pub use registry::{Handler, Reply};
pub use server::{Bound, Running, Server, ShutdownHandle, Stats};
pub use service::stub;

/// Not public API: items that the crate's macros and its own integration tests
/// need. Nothing here is covered by semver.
#[doc(hidden)]
pub mod __private {
    pub use crate::crypto;
    pub use crate::message::private as message;
    pub use crate::service::private as service;

    /// Entry points for the fuzz targets in `fuzz/`.
    pub mod fuzz {
        use std::io::{Read, Write};

        use crate::error::Result;

        /// Reads one frame of at most `max` bytes, as the handshake does;
        /// `Ok(None)` at a clean end.
        pub fn read_frame<R: Read + ?Sized>(r: &mut R, max: usize) -> Result<Option<Vec<u8>>> {
            crate::frame::read(r, max)
        }

        /// The buffered frame reader of established connections.
        #[derive(Debug)]
        pub struct FrameReader(crate::frame::FrameReader);

        impl FrameReader {
            /// A reader of frames of at most `max` bytes.
            pub fn new(max: usize) -> FrameReader {
                FrameReader(crate::frame::FrameReader::new(max))
            }

            /// The next frame; `Ok(None)` at a clean end of stream.
            pub fn next<R: Read + ?Sized>(&mut self, r: &mut R) -> Result<Option<&[u8]>> {
                self.0.next(r)
            }
        }

        /// The accepting side of the handshake.
        pub fn auth_server<S: Read + Write + ?Sized>(
            s: &mut S,
            authkey: &[u8],
            strict: bool,
        ) -> Result<()> {
            crate::auth::server(s, authkey, strict)
        }

        /// The connecting side of the handshake.
        pub fn auth_client<S: Read + Write + ?Sized>(
            s: &mut S,
            authkey: &[u8],
            strict: bool,
        ) -> Result<()> {
            crate::auth::client(s, authkey, strict)
        }

        /// Parses one message; its `Debug` form when valid.
        pub fn parse_message(frame: &[u8]) -> Result<String> {
            crate::envelope::Message::parse(frame).map(|m| format!("{m:?}"))
        }
    }
}
