//! Pack-limited API keys: `api_keys.pack_ids` holds the packs a key is
//! confined to, as a JSON array of pack ids; NULL for a key that is not
//! limited. A column rather than a side table, so that authenticating a key
//! stays one read of one row. A deleted pack's id stays in the array: the
//! key then reaches one pack fewer, never more.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    PackIds,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(ColumnDef::new(ApiKeys::PackIds).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .drop_column(ApiKeys::PackIds)
                    .to_owned(),
            )
            .await
    }
}
