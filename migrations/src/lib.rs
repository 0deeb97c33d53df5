//! Database schema of mcp-registry as SeaORM migrations, applied in order at
//! start-up (and by `mcp-registry migrate`). Migrations are append-only: a
//! released migration is never edited, a change is a new migration.
//!
//! Conventions shared by every table:
//! - ids are text (`org_…`, `key_…`, …) built from UUIDv7, so ordering by id is
//!   ordering by creation time and keyset pagination can use the primary key;
//! - timestamps are `BIGINT` microseconds since the Unix epoch, identical on
//!   SQLite and PostgreSQL and cheap to compare;
//! - `revision` counts the updates of a row; the API's etag is derived from it.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_organizations_and_api_keys;
mod m20261122_000002_mcp_servers;
mod m20261122_000003_packs;
mod m20261122_000004_sync_runs;
mod m20261122_000005_sync_leases;
mod m20261130_000006_running_runs_index;
mod m20261201_000007_change_notifications;
mod m20261206_000008_api_key_packs;
mod m20261207_000009_server_documentation_url;
mod m20261208_000010_sync_run_filter_indexes;
mod m20261209_000011_tool_search;
mod m20261210_000012_server_registry_metadata;
mod m20261211_000013_pack_member_tool_settings;
mod m20261212_000014_server_watches;
mod m20261213_000015_audit;
mod m20261214_000016_secrets;
mod m20261215_000017_subjects;
mod m20261216_000018_oauth;
mod m20261217_000019_pack_resolutions;

/// Runs every migration of this crate, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_organizations_and_api_keys::Migration),
            Box::new(m20261122_000002_mcp_servers::Migration),
            Box::new(m20261122_000003_packs::Migration),
            Box::new(m20261122_000004_sync_runs::Migration),
            Box::new(m20261122_000005_sync_leases::Migration),
            Box::new(m20261130_000006_running_runs_index::Migration),
            Box::new(m20261201_000007_change_notifications::Migration),
            Box::new(m20261206_000008_api_key_packs::Migration),
            Box::new(m20261207_000009_server_documentation_url::Migration),
            Box::new(m20261208_000010_sync_run_filter_indexes::Migration),
            Box::new(m20261209_000011_tool_search::Migration),
            Box::new(m20261210_000012_server_registry_metadata::Migration),
            Box::new(m20261211_000013_pack_member_tool_settings::Migration),
            Box::new(m20261212_000014_server_watches::Migration),
            Box::new(m20261213_000015_audit::Migration),
            Box::new(m20261214_000016_secrets::Migration),
            Box::new(m20261215_000017_subjects::Migration),
            Box::new(m20261216_000018_oauth::Migration),
            Box::new(m20261217_000019_pack_resolutions::Migration),
        ]
    }
}
