//! An index for finding RUNNING runs: a manual sync waiting for the one
//! already under way, and the scheduler's census that fails runs of crashed
//! replicas. Without it both scan the whole `sync_runs` table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    Outcome,
    ServerId,
}

const RUNS_RUNNING: &str = "sync_runs_outcome_server_id_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(RUNS_RUNNING)
                    .table(SyncRuns::Table)
                    .col(SyncRuns::Outcome)
                    .col(SyncRuns::ServerId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(RUNS_RUNNING)
                    .table(SyncRuns::Table)
                    .to_owned(),
            )
            .await
    }
}
