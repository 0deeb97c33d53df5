//! Tenancy and secrets: every RPC against every kind of caller, and no
//! credential value anywhere it should not be.

#[allow(dead_code, unused_macros)]
#[path = "../api/helpers.rs"]
mod helpers;
include!("../support/modules.rs");

mod fixture;
mod matrix;
mod secrets;
