//! Faults under load: the service's own PostgreSQL restarted while clients
//! read and write, and hostile bytes on the wire to every RPC.

#[allow(dead_code, unused_macros)]
#[path = "../api/helpers.rs"]
mod helpers;
include!("../support/modules.rs");

mod fuzz_corpus;
mod pg_restart;
mod postgres;
mod wire_fuzz;
