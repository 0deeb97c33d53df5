//! `server_watches`: the servers that announce changes of their lists
//! (`listChanged` in their capabilities, as their last successful sync found
//! them), which the scheduler may watch with a long-lived stream, and the
//! lease of the replica watching each (at most one per server). A row goes
//! with its server.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum McpServers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ServerWatches {
    Table,
    ServerId,
    /// The replica watching the server, while its lease holds.
    Owner,
    /// When the lease ends; while it is in the future nobody else watches.
    /// Also set, without owner, to the time a failed watch may be tried again.
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ServerWatches::Table)
                    .col(
                        ColumnDef::new(ServerWatches::ServerId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ServerWatches::Owner).string().null())
                    .col(
                        ColumnDef::new(ServerWatches::ExpiresAt)
                            .big_integer()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ServerWatches::Table, ServerWatches::ServerId)
                            .to(McpServers::Table, McpServers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ServerWatches::Table).to_owned())
            .await
    }
}
