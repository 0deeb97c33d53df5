//! Per-pack tool settings (curation): `pack_members.tool_settings`, a
//! member's settings as JSON (`{}` for none: every tool offered as is), and
//! `pack_revisions.changed_tools`, the tools a TOOL_SETTINGS_UPDATED
//! revision changed, as a JSON array. A revision's member snapshot
//! (`pack_revisions.members`) carries the settings inside its JSON, so it
//! needs no column; older snapshots read as members without settings.
//! Existing rows get the empty values. One column per statement: SQLite
//! alters one at a time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PackMembers {
    Table,
    ToolSettings,
}

#[derive(DeriveIden)]
enum PackRevisions {
    Table,
    ChangedTools,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PackMembers::Table)
                    .add_column(
                        ColumnDef::new(PackMembers::ToolSettings)
                            .text()
                            .not_null()
                            .default("{}"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PackRevisions::Table)
                    .add_column(
                        ColumnDef::new(PackRevisions::ChangedTools)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PackRevisions::Table)
                    .drop_column(PackRevisions::ChangedTools)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PackMembers::Table)
                    .drop_column(PackMembers::ToolSettings)
                    .to_owned(),
            )
            .await
    }
}
