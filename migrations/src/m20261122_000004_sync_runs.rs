//! Sync runs: one row per attempt to sync a server.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum McpServers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    Id,
    ServerId,
    /// The server's organization id, or `catalog`: org-wide listings use it.
    Scope,
    ServerName,
    Trigger,
    StartedAt,
    FinishedAt,
    Outcome,
    Transport,
    ProtocolVersion,
    /// JSON: the four capability results.
    Results,
    /// JSON: tools added, removed, changed, unapproved.
    Changes,
    /// JSON: reason, message, occurred_at (failed runs).
    Error,
    InstanceId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use SyncRuns as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(ColumnDef::new(R::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(R::ServerId).string().not_null())
                    .col(ColumnDef::new(R::Scope).string().not_null())
                    .col(ColumnDef::new(R::ServerName).string().not_null())
                    .col(ColumnDef::new(R::Trigger).string().not_null())
                    .col(ColumnDef::new(R::StartedAt).big_integer().not_null())
                    .col(ColumnDef::new(R::FinishedAt).big_integer().null())
                    .col(ColumnDef::new(R::Outcome).string().not_null())
                    .col(ColumnDef::new(R::Transport).string().null())
                    .col(ColumnDef::new(R::ProtocolVersion).string().not_null())
                    .col(ColumnDef::new(R::Results).text().not_null())
                    .col(ColumnDef::new(R::Changes).text().not_null())
                    .col(ColumnDef::new(R::Error).text().null())
                    .col(ColumnDef::new(R::InstanceId).string().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("sync_runs_server_id_fkey")
                            .from(R::Table, R::ServerId)
                            .to(McpServers::Table, McpServers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Newest-first keyset pages per server and per organization.
        for (name, column) in [
            ("sync_runs_server_id_id_idx", R::ServerId),
            ("sync_runs_scope_id_idx", R::Scope),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(R::Table)
                        .col(column)
                        .col(R::Id)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SyncRuns::Table).to_owned())
            .await
    }
}
