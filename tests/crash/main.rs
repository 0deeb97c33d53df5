//! Crash durability and races: the real binary killed at random moments, and
//! many clients mutating one organization at once.

// Test code fails loudly: unwrap, expect and panic are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code, unused_macros)]
#[path = "../api/helpers.rs"]
mod helpers;
include!("../support/modules.rs");

mod durability;
mod races;
mod support;
