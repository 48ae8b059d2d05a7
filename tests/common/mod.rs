//! Helpers shared by the integration tests. Each test crate uses a subset.

pub mod process;
pub mod python;
pub mod seeds;
