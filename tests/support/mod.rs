//! The integration tests' one support module. Each test crate declares
//! `mod support;` and uses a subset, hence the `allow` below.
//!
//! * [`child`]: child processes through one wrapper, `Proc` (this test
//!   binary in a child role, an example binary, a Python interpreter);
//! * [`examples`]: the example binaries, built fresh;
//! * [`python`]: the real CPython interpreters the cross-checks run against;
//! * [`basemanager_example`]: the stock Python clients stdrpc must serve;
//! * [`raw`]: the wire by hand;
//! * [`rng`]: a deterministic generator for fuzz-like tests;
//! * [`ticks`]: `message!` structs of one name and different shapes;
//! * [`sys`]: process figures (memory, threads, descriptors) and bounded
//!   waiting.

// A test crate uses only some of these helpers.
#![allow(dead_code)]

pub mod basemanager_example;
pub mod child;
pub mod examples;
pub mod python;
pub mod raw;
pub mod rng;
pub mod sys;
pub mod ticks;
