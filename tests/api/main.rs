//! Integration tests: the real server, in-process on an ephemeral port, over
//! real gRPC, on SQLite and on PostgreSQL (see `helpers`).

// Test code fails loudly: unwrap, expect and panic are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

include!("../support/modules.rs");

mod admin;
mod announcements;
mod audit;
mod auth;
mod binary;
mod cache;
mod gateway;
mod gateway_clients;
mod gateway_notifications;
mod gateway_sessions;
mod grpc_web;
mod import;
mod limits;
mod list_filters;
mod oauth_connections;
mod oauth_fixture;
mod operations;
mod pack_curation;
mod pack_keys;
mod packs;
mod search;
mod secrets;
mod seed_shapes;
mod server_details;
mod server_json;
mod servers;
mod stored_resolutions;
mod subjects;
mod sync;
mod sync_client;
mod sync_fixtures;
mod sync_leases;
