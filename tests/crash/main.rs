//! Crash durability and races: the real binary killed at random moments, and
//! many clients mutating one organization at once.

#[allow(dead_code, unused_macros)]
#[path = "../api/helpers.rs"]
mod helpers;
include!("../support/modules.rs");

mod durability;
mod races;
mod support;
