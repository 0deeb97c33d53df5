//! Packs, their ordered members and their immutable revisions.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum McpServers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Packs {
    Table,
    Id,
    OrganizationId,
    Name,
    Description,
    /// Raised by exactly one by every change; the etag derives from it.
    Version,
    CreatedAt,
    UpdatedAt,
    CreatedBy,
    ModifiedBy,
}

#[derive(DeriveIden)]
enum PackMembers {
    Table,
    PackId,
    ServerId,
    /// 0-based order of the member in the pack.
    Position,
}

#[derive(DeriveIden)]
enum PackRevisions {
    Table,
    PackId,
    Version,
    Author,
    CreatedAt,
    ChangeKind,
    /// JSON array of {server_id, name}.
    ChangedServers,
    /// JSON array of field names.
    UpdatedFields,
    RestoredFromVersion,
    Name,
    Description,
    /// JSON array of {server_id, name, tools: [{name, definition_hash}]}.
    Members,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Packs::Table)
                    .col(ColumnDef::new(Packs::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(Packs::OrganizationId).string().not_null())
                    .col(ColumnDef::new(Packs::Name).string().not_null())
                    .col(ColumnDef::new(Packs::Description).text().not_null())
                    .col(ColumnDef::new(Packs::Version).big_integer().not_null())
                    .col(ColumnDef::new(Packs::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Packs::UpdatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Packs::CreatedBy).string().not_null())
                    .col(ColumnDef::new(Packs::ModifiedBy).string().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("packs_organization_id_fkey")
                            .from(Packs::Table, Packs::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("packs_organization_id_name_key")
                    .table(Packs::Table)
                    .col(Packs::OrganizationId)
                    .col(Packs::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("packs_organization_id_id_idx")
                    .table(Packs::Table)
                    .col(Packs::OrganizationId)
                    .col(Packs::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PackMembers::Table)
                    .col(ColumnDef::new(PackMembers::PackId).string().not_null())
                    .col(ColumnDef::new(PackMembers::ServerId).string().not_null())
                    .col(ColumnDef::new(PackMembers::Position).integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(PackMembers::PackId)
                            .col(PackMembers::ServerId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("pack_members_pack_id_fkey")
                            .from(PackMembers::Table, PackMembers::PackId)
                            .to(Packs::Table, Packs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // A server in a pack cannot disappear underneath it:
                    // deleting it must go through the pack revisions first.
                    .foreign_key(
                        ForeignKey::create()
                            .name("pack_members_server_id_fkey")
                            .from(PackMembers::Table, PackMembers::ServerId)
                            .to(McpServers::Table, McpServers::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("pack_members_server_id_idx")
                    .table(PackMembers::Table)
                    .col(PackMembers::ServerId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PackRevisions::Table)
                    .col(ColumnDef::new(PackRevisions::PackId).string().not_null())
                    .col(
                        ColumnDef::new(PackRevisions::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(PackRevisions::Author).string().not_null())
                    .col(
                        ColumnDef::new(PackRevisions::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PackRevisions::ChangeKind)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PackRevisions::ChangedServers)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PackRevisions::UpdatedFields)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PackRevisions::RestoredFromVersion)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(PackRevisions::Name).string().not_null())
                    .col(ColumnDef::new(PackRevisions::Description).text().not_null())
                    .col(ColumnDef::new(PackRevisions::Members).text().not_null())
                    // One revision per version, enforced by the database.
                    .primary_key(
                        Index::create()
                            .col(PackRevisions::PackId)
                            .col(PackRevisions::Version),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("pack_revisions_pack_id_fkey")
                            .from(PackRevisions::Table, PackRevisions::PackId)
                            .to(Packs::Table, Packs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PackRevisions::Table.into_iden(),
            PackMembers::Table.into_iden(),
            Packs::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
