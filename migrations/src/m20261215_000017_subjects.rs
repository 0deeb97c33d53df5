//! End-user subjects (issue 17): a service key (`api_keys.acts_for_users`)
//! may act for the users of an internal service, naming each in the
//! `x-mcp-registry-subject` metadata. Servers and packs record the subject
//! that created and last modified them (NULL when the change came from a key
//! acting for itself), and audit events the subject of their actor.
//!
//! Listings filtered by creator subject ("my servers") read
//! `mcp_servers_scope_subject_idx` / `packs_org_subject_idx`, which start
//! with the visibility scope and end with the keyset order (`id`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    ActsForUsers,
}

#[derive(DeriveIden)]
enum McpServers {
    Table,
    Scope,
    Id,
    CreatedBySubject,
    ModifiedBySubject,
}

#[derive(DeriveIden)]
enum Packs {
    Table,
    OrganizationId,
    Id,
    CreatedBySubject,
    ModifiedBySubject,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    ActorSubject,
}

const SERVER_INDEX: &str = "mcp_servers_scope_subject_idx";
const PACK_INDEX: &str = "packs_org_subject_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE statement.
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(
                        ColumnDef::new(ApiKeys::ActsForUsers)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        for column in [McpServers::CreatedBySubject, McpServers::ModifiedBySubject] {
            manager
                .alter_table(
                    Table::alter()
                        .table(McpServers::Table)
                        .add_column(ColumnDef::new(column).string().null())
                        .to_owned(),
                )
                .await?;
        }
        for column in [Packs::CreatedBySubject, Packs::ModifiedBySubject] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Packs::Table)
                        .add_column(ColumnDef::new(column).string().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(ColumnDef::new(AuditEvents::ActorSubject).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(SERVER_INDEX)
                    .table(McpServers::Table)
                    .col(McpServers::Scope)
                    .col(McpServers::CreatedBySubject)
                    .col(McpServers::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(PACK_INDEX)
                    .table(Packs::Table)
                    .col(Packs::OrganizationId)
                    .col(Packs::CreatedBySubject)
                    .col(Packs::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(PACK_INDEX)
                    .table(Packs::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(SERVER_INDEX)
                    .table(McpServers::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::ActorSubject)
                    .to_owned(),
            )
            .await?;
        for column in [Packs::CreatedBySubject, Packs::ModifiedBySubject] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Packs::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [McpServers::CreatedBySubject, McpServers::ModifiedBySubject] {
            manager
                .alter_table(
                    Table::alter()
                        .table(McpServers::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .drop_column(ApiKeys::ActsForUsers)
                    .to_owned(),
            )
            .await
    }
}
