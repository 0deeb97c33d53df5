//! Syncing MCP servers: the SSRF guard that decides which addresses a sync
//! may connect to. (The MCP client, transport detection, persistence of sync
//! results, the scheduler and its leases come with the rest of SyncService.)

pub mod client;
pub mod engine;
pub mod guard;
pub mod http;
pub mod run;
pub mod sse;
