//! Faults under load: the service's own PostgreSQL restarted while clients
//! read and write, and hostile bytes on the wire to every RPC.

// Test code fails loudly: unwrap, expect and panic are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code, unused_macros)]
#[path = "../api/helpers.rs"]
mod helpers;
include!("../support/modules.rs");

mod fuzz_corpus;
mod pg_restart;
mod postgres;
mod wire_fuzz;
