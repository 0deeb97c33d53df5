//! Tenancy and secrets: every RPC against every kind of caller, and no
//! credential value anywhere it should not be.

#[allow(dead_code, unused_macros)]
#[path = "../api/helpers.rs"]
mod helpers;

#[allow(dead_code)]
#[path = "../support/mcp.rs"]
mod mcp;
#[allow(dead_code)]
#[path = "../support/process.rs"]
mod process;

mod fixture;
mod matrix;
mod secrets;
