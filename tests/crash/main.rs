//! Crash durability and races: the real binary killed at random moments, and
//! many clients mutating one organization at once.

#[allow(dead_code, unused_macros)]
#[path = "../api/helpers.rs"]
mod helpers;

#[allow(dead_code)]
#[path = "../support/mcp.rs"]
mod mcp;
#[allow(dead_code)]
#[path = "../support/process.rs"]
mod process;

mod durability;
mod races;
mod support;
