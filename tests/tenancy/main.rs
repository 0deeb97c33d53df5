//! Tenancy and secrets: every RPC against every kind of caller, and no
//! credential value anywhere it should not be.

// Test code fails loudly: unwrap, expect and panic are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code, unused_macros)]
#[path = "../api/helpers.rs"]
mod helpers;
include!("../support/modules.rs");

mod fixture;
mod matrix;
mod secrets;
