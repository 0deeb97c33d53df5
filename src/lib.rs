//! mcp-registry: the system of record for an organisation's remote MCP servers.
//!
//! # Layout
//!
//! - [`app`]: builds the application (store, services, listeners) and runs it
//!   until a shutdown signal; owns every long-lived task.
//! - [`config`]: command line and `MCP_REGISTRY_*` settings, validated once.
//! - [`cli`]: the `admin` subcommands used to bootstrap organizations and keys.
//! - [`gateway`]: the pack gateway, every pack as one MCP endpoint over
//!   Streamable HTTP (`--mcp-listen`).
//! - [`grpc`]: the tonic layer. One file per service that only translates
//!   between protobuf and the domain, `status` (domain errors → `tonic::Status`)
//!   and `middleware` (request ids, authentication, metrics, logs).
//! - [`registry`]: the domain: organizations, API keys, callers and their
//!   rights, validation rules. It knows neither protobuf nor SQL.
//! - [`store`]: SeaORM entities and queries; the only module that knows SQL.
//! - [`crypto`]: credential encryption (AES-256-GCM) and secret hashing.
//! - [`pagination`]: page sizes and signed, query-bound keyset page tokens.
//! - [`error`]: the one domain error type.
//! - [`telemetry`]: logs and the Prometheus recorder.
//! - [`pb`]: the generated protobuf and tonic code.

pub mod app;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod error;
#[doc(hidden)]
pub mod fuzz_targets;
pub mod gateway;
pub mod grpc;
pub mod pagination;
pub mod pb;
pub mod registry;
pub mod store;
pub mod sync;
pub mod telemetry;

pub use app::Application;
pub use error::Error;
