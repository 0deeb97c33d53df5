//! Faults under load: the service's own PostgreSQL restarted while clients
//! read and write, and hostile bytes on the wire to every RPC.

#[allow(dead_code, unused_macros)]
#[path = "../api/helpers.rs"]
mod helpers;

#[allow(dead_code)]
#[path = "../support/mcp.rs"]
mod mcp;
#[allow(dead_code)]
#[path = "../support/process.rs"]
mod process;

mod fuzz_corpus;
mod pg_restart;
mod postgres;
mod wire_fuzz;
