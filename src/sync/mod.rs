//! Syncing MCP servers: the SSRF guard ([`guard`], [`http`]), the bounded
//! MCP discovery client over Streamable HTTP and legacy SSE ([`client`],
//! [`sse`]), sync runs ([`run`]), and the engine with its background syncs
//! and lease-based scheduler ([`engine`]).

pub mod client;
pub mod engine;
pub mod guard;
pub mod http;
pub mod run;
pub mod sse;
