//! The Python layer: Python values, pickle, and Python's
//! `multiprocessing.managers` protocol (`BaseManager`), both roles.
//!
//! It builds on the RPC core and the core knows nothing of it: a connection
//! whose first message is a pickle reaches the manager through the core's
//! first-frame upgrade (`src/upgrade.rs`): the one wiring point,
//! `src/wiring.rs`, hands `ManagerUpgrade` to every server (see
//! ARCHITECTURE.md).
//!
//! * [`Value`], [`Object`], [`BigInt`]: Python data as Rust sees it;
//! * [`from_pickle`], [`from_pickle_with`] (bounded by [`PickleLimits`]) and
//!   [`to_pickle`]: a data-only subset of pickle (`pickle`);
//! * [`Manager`] and [`Proxy`]: a client of a stock Python manager server;
//! * the server side, which answers stock Python `BaseManager` clients on
//!   an stdrpc server's port (`manager`), with Python's `str`, `bytes`,
//!   `int`, `list`, `dict` and `set` methods for the objects it shares
//!   (`methods`).

mod convert;
mod manager;
mod methods;
mod pickle;
mod pyerr;

pub(crate) use manager::ManagerUpgrade;
pub use manager::{Manager, Proxy};
pub use pickle::{BigInt, Object, PickleLimits, Value, from_pickle, from_pickle_with, to_pickle};
