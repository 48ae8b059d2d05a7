// The README is the crate's front page. Its links to the project's other
// documents are reference-style links defined at its end as relative file
// paths, which work in a checkout and on a forge; the definitions below come
// first, and in Markdown the first definition of a label wins, so in rustdoc
// (and on docs.rs, which has no checkout to point into) the same links lead
// to the documents' copies in `stdrpc::docs`.
//! [protocol]: crate::docs::protocol
//! [architecture]: crate::docs::architecture
//! [benchmarks]: crate::docs::benchmarks
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! # Layers
//!
//! - frames: CPython's 4-byte big-endian length prefix (with its `-1` escape);
//! - the authkey handshake of `multiprocessing.connection`, both roles;
//! - messages: call, notification, reply (see [the protocol][protocol]);
//! - values: the std codec ([`Encode`], [`Decode`]), byte-identical to
//!   bincode 2's standard configuration;
//! - Python, one layer on top of the rest ([`python`]): Python values
//!   ([`python::Value`]), a data-only pickle subset ([`python::from_pickle`],
//!   [`python::to_pickle`]) and both roles of `multiprocessing.managers`.

#[macro_use]
mod service;
#[macro_use]
mod message;

mod address;
mod auth;
mod budget;
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
mod outbox;
mod pool;
pub mod python;
mod quickack;
mod registry;
#[cfg(feature = "serde")]
mod serde_impls;
mod server;
mod stop;
mod stream;
mod upgrade;

pub use address::{Address, ToAddress};
pub use client::{Client, Pending};
pub use codec::{
    Decode, Decoder, Encode, Fields, MAX_DEPTH, MAX_ZERO_SIZED_ELEMENTS, Shape, Signature,
    from_slice, to_vec, write_varint_u64,
};
#[cfg(feature = "bincode")]
pub use compat::Compat;
pub use config::Config;
pub use error::{Error, RemoteKind, Result};
pub use registry::{Handler, Reply};
pub use server::{Bound, Running, Server, ShutdownHandle, Stats};
pub use service::stub;

/// The project's documents, so that they are part of the crate's
/// documentation (on docs.rs too): the wire protocol, the architecture, and
/// the benchmark report. They exist only when documentation is built; there
/// is no code in them.
///
/// Code blocks without a language in these files are byte layouts, not
/// Rust: rustdoc is told not to parse them.
#[cfg(all(doc, not(doctest)))]
#[allow(rustdoc::invalid_rust_codeblocks)]
pub mod docs {
    #[doc = include_str!("../docs/PROTOCOL.md")]
    pub mod protocol {}

    #[doc = include_str!("../ARCHITECTURE.md")]
    pub mod architecture {}

    #[doc = include_str!("../BENCHMARKS.md")]
    pub mod benchmarks {}
}

/// Not public API: items that the crate's macros and its own integration tests
/// need. Nothing here is covered by semver.
#[doc(hidden)]
pub mod __private {
    pub use crate::codec::shape;
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

            /// Charges every frame one byte of `budget` per payload byte,
            /// refusing at once (no wait) what does not fit.
            pub fn charge(&mut self, budget: &Budget) {
                self.0.charge(
                    std::sync::Arc::clone(&budget.0),
                    1,
                    std::time::Duration::ZERO,
                );
            }

            /// The first bytes of the last frame refused for lack of budget.
            pub fn skipped_head(&self) -> &[u8] {
                self.0.skipped_head()
            }
        }

        /// A server's memory budget for requests.
        #[derive(Debug)]
        pub struct Budget(std::sync::Arc<crate::budget::Budget>);

        impl Budget {
            /// A budget of `limit` bytes.
            pub fn new(limit: usize) -> Budget {
                Budget(std::sync::Arc::new(crate::budget::Budget::new(limit)))
            }

            /// Bytes reserved now.
            pub fn in_use(&self) -> usize {
                self.0.in_use()
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
