//! Helpers shared by the reliability and security suites
//! (`hostile_input`, `slow_peers`, `faults`, `exactly_once`). Each test crate
//! uses a subset.

#![allow(dead_code)]

pub mod child;
pub mod examples;
pub mod raw;
pub mod rng;
pub mod sys;
