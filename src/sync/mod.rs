//! Syncing MCP servers: the SSRF guard ([`guard`], [`http`]), the bounded
//! MCP discovery client over Streamable HTTP and legacy SSE ([`client`],
//! [`sse`]), and the engine: its handle [`engine::Syncer`], the scheduler
//! with leases and backoff ([`scheduler`]), the request headers and OAuth2
//! tokens of a sync ([`credentials`]), the lifecycle of one run
//! ([`lifecycle`]), the per-server locks ([`locks`]) and the syncs upstreams ask
//! for with `list_changed` ([`notified`]), and the long-lived watches of those that
//! announce changes ([`watches`]), and the service as the OAuth client of
//! protected servers ([`oauth`]). The run model lives in the domain
//! (`registry::runs`).

pub mod calls;
pub mod client;
pub mod credentials;
pub mod engine;
pub mod guard;
pub mod http;
pub mod lifecycle;
pub mod locks;
pub mod notified;
pub mod oauth;
pub mod pool;
pub mod scheduler;
pub mod session;
pub mod sse;
pub mod watches;
