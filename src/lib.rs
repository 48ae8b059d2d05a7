// The README is the crate's front page. Its links to the project's other
// documents are reference-style links defined at its end as relative file
// paths, which work in a checkout and on a forge; the definitions below come
// first, and in Markdown the first definition of a label wins, so in rustdoc
// (and on docs.rs, which has no checkout to point into) the same links lead
// to the documents' copies in `stdrpc::docs`.
//! [protocol]: crate::docs::protocol
//! [architecture]: crate::docs::architecture
//! [benchmarks]: crate::docs::benchmarks
//! [security]: crate::docs::security
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
mod context;
mod crypto;
mod envelope;
mod error;
mod frame;
mod fuzz;
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
mod sync;
pub mod transport;
mod upgrade;
mod wiring;
mod worker;

pub use address::{Address, ToAddress};
pub use client::{Client, Pending};
pub use codec::{Decode, Decoder, Encode, Fields, Shape, Signature, from_slice, to_vec};
#[cfg(feature = "bincode")]
pub use compat::Compat;
pub use config::Config;
pub use context::Context;
pub use error::{Error, RemoteKind, Result};
pub use registry::{Handler, Reply};
pub use server::{BoundServer, RunningServer, Server, ShutdownHandle, Stats};
pub use service::stub;
pub use transport::Transport;
pub use worker::Worker;

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

    #[doc = include_str!("../docs/SECURITY.md")]
    pub mod security {}
}

/// Not public API: items that the crate's macros and its own integration tests
/// need. Nothing here is covered by semver.
#[doc(hidden)]
pub mod __private {
    pub use crate::codec::{shape, write_varint_u64};
    pub use crate::message::private as message;
    pub use crate::service::private as service;

    /// The hash functions, for the tests that compare them with Python's.
    pub mod crypto {
        pub use crate::crypto::{Md5, Sha256, hmac_md5, hmac_sha256, md5, sha256};
    }

    /// Entry points for the fuzz targets in `fuzz/` (see src/fuzz.rs).
    pub mod fuzz {
        pub use crate::fuzz::{
            Budget, FrameReader, auth_client, auth_server, parse_message, read_frame,
        };
    }
}
