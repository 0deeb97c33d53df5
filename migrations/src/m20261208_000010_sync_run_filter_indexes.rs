//! Indexes for ListSyncRuns' filters: a time range on the start of the runs of
//! one organization (or the catalog) or of one server, and outcomes within an
//! organization newest first. Without them, a filtered listing walks every run
//! of the organization, newest first, to find the few it keeps.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    Id,
    Scope,
    ServerId,
    Outcome,
    StartedAt,
}

/// Each index by name, with its columns.
fn indexes() -> [(&'static str, Vec<SyncRuns>); 3] {
    [
        (
            "sync_runs_scope_started_at_idx",
            vec![SyncRuns::Scope, SyncRuns::StartedAt],
        ),
        (
            "sync_runs_server_id_started_at_idx",
            vec![SyncRuns::ServerId, SyncRuns::StartedAt],
        ),
        (
            "sync_runs_scope_outcome_id_idx",
            vec![SyncRuns::Scope, SyncRuns::Outcome, SyncRuns::Id],
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, columns) in indexes() {
            let mut index = Index::create();
            index.name(name).table(SyncRuns::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in indexes() {
            manager
                .drop_index(Index::drop().name(name).table(SyncRuns::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
