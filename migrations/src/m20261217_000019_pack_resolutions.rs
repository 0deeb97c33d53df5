//! `pack_resolutions`: ResolvePack answers as the gRPC adapter encoded them,
//! one per pack and requested version (0: the current members), with the
//! inputs they were computed from (the pack's version and each member
//! server's `revision` and `sync_revision`). An answer is served only while
//! those inputs are unchanged; otherwise it is computed again and replaced.
//! So a replica that starts, or has no room for the answer in memory, serves
//! it without reading and converting every tool definition. A row goes with
//! its pack.
//!
//! `mcp_servers.sync_revision` counts what syncs write (the sync state and the
//! capabilities), as `revision` counts a caller's changes: together they say
//! whether anything computed from a server is current.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum McpServers {
    Table,
    SyncRevision,
}

#[derive(DeriveIden)]
enum Packs {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PackResolutions {
    Table,
    PackId,
    /// The version asked for; 0 for the current members.
    Version,
    /// What wrote `answer` (the contract's digest): another binary's answer
    /// is computed again.
    Format,
    /// The pack version and member servers' revisions it was computed from.
    Inputs,
    /// The encoded answer.
    Answer,
    ComputedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(McpServers::Table)
                    .add_column(
                        ColumnDef::new(McpServers::SyncRevision)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PackResolutions::Table)
                    .col(ColumnDef::new(PackResolutions::PackId).string().not_null())
                    .col(
                        ColumnDef::new(PackResolutions::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(PackResolutions::Format).text().not_null())
                    .col(ColumnDef::new(PackResolutions::Inputs).text().not_null())
                    .col(ColumnDef::new(PackResolutions::Answer).blob().not_null())
                    .col(
                        ColumnDef::new(PackResolutions::ComputedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(PackResolutions::PackId)
                            .col(PackResolutions::Version),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PackResolutions::Table, PackResolutions::PackId)
                            .to(Packs::Table, Packs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PackResolutions::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(McpServers::Table)
                    .drop_column(McpServers::SyncRevision)
                    .to_owned(),
            )
            .await
    }
}
