//! Scheduler leases: which replica is syncing a server, until when, and how
//! many syncs in a row have failed (for the backoff).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum McpServers {
    Table,
    LeaseOwner,
    LeaseExpiresAt,
    ConsecutiveFailures,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for column in [
            ColumnDef::new(McpServers::LeaseOwner)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(McpServers::LeaseExpiresAt)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(McpServers::ConsecutiveFailures)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(McpServers::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            McpServers::LeaseOwner,
            McpServers::LeaseExpiresAt,
            McpServers::ConsecutiveFailures,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(McpServers::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
