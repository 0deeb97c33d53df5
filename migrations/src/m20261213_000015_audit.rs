//! `audit_events`, one row per mutation, written in the transaction of the
//! change it records; and `tool_calls`, one row per gateway `tools/call`,
//! written after the call by a background writer. Both are append-only and
//! pruned by age (`--audit-retention`, `--call-log-retention`).
//!
//! Every list filter has an index that starts with the visibility scope and
//! ends with the keyset order (`at`, `id`, newest first), and each table has
//! an index on `at` alone for the pruning task: no listing and no pruning
//! statement scans a table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    /// `aud_` + UUIDv7.
    Id,
    /// The organization the resource belongs to, or `catalog` for catalog
    /// servers, organizations and platform keys.
    Scope,
    At,
    /// The API key id, or `cli`.
    Actor,
    /// The gRPC or gateway request id; empty for the admin CLI.
    RequestId,
    /// `mcp_server.create`, `pack.update`, …
    Action,
    ResourceType,
    ResourceId,
    /// JSON array of `{field, old, new}`; a secret field has neither.
    Changes,
}

#[derive(DeriveIden)]
enum ToolCalls {
    Table,
    /// `call_` + UUIDv7.
    Id,
    OrganizationId,
    At,
    KeyId,
    PackId,
    PackVersion,
    /// Empty when the call was refused before a server was chosen.
    ServerId,
    /// The upstream tool's name; empty when refused before resolution.
    ToolName,
    /// The name the client called (qualified name or alias).
    CalledName,
    /// `ok`, `error` or `refused`.
    Outcome,
    /// The error kind or the refusal reason; empty for `ok`.
    Detail,
    DurationMicros,
    RequestId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditEvents::Scope).string().not_null())
                    .col(ColumnDef::new(AuditEvents::At).big_integer().not_null())
                    .col(ColumnDef::new(AuditEvents::Actor).string().not_null())
                    .col(ColumnDef::new(AuditEvents::RequestId).string().not_null())
                    .col(ColumnDef::new(AuditEvents::Action).string().not_null())
                    .col(
                        ColumnDef::new(AuditEvents::ResourceType)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::ResourceId).string().not_null())
                    .col(ColumnDef::new(AuditEvents::Changes).text().not_null())
                    .to_owned(),
            )
            .await?;
        let audit_indexes: [(&str, Vec<AuditEvents>); 5] = [
            ("idx_audit_events_scope", vec![]),
            (
                "idx_audit_events_resource",
                vec![AuditEvents::ResourceType, AuditEvents::ResourceId],
            ),
            ("idx_audit_events_actor", vec![AuditEvents::Actor]),
            ("idx_audit_events_action", vec![AuditEvents::Action]),
            ("idx_audit_events_at", vec![]),
        ];
        for (name, middle) in audit_indexes {
            let mut index = Index::create();
            index.name(name).table(AuditEvents::Table);
            if name != "idx_audit_events_at" {
                index.col(AuditEvents::Scope);
            }
            for col in middle {
                index.col(col);
            }
            index.col(AuditEvents::At).col(AuditEvents::Id);
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ToolCalls::Table)
                    .col(
                        ColumnDef::new(ToolCalls::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ToolCalls::OrganizationId)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ToolCalls::At).big_integer().not_null())
                    .col(ColumnDef::new(ToolCalls::KeyId).string().not_null())
                    .col(ColumnDef::new(ToolCalls::PackId).string().not_null())
                    .col(
                        ColumnDef::new(ToolCalls::PackVersion)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ToolCalls::ServerId).string().not_null())
                    .col(ColumnDef::new(ToolCalls::ToolName).string().not_null())
                    .col(ColumnDef::new(ToolCalls::CalledName).string().not_null())
                    .col(ColumnDef::new(ToolCalls::Outcome).string().not_null())
                    .col(ColumnDef::new(ToolCalls::Detail).string().not_null())
                    .col(
                        ColumnDef::new(ToolCalls::DurationMicros)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ToolCalls::RequestId).string().not_null())
                    .to_owned(),
            )
            .await?;
        let call_indexes: [(&str, Option<ToolCalls>); 6] = [
            ("idx_tool_calls_organization", None),
            ("idx_tool_calls_pack", Some(ToolCalls::PackId)),
            ("idx_tool_calls_server", Some(ToolCalls::ServerId)),
            ("idx_tool_calls_key", Some(ToolCalls::KeyId)),
            ("idx_tool_calls_outcome", Some(ToolCalls::Outcome)),
            ("idx_tool_calls_at", None),
        ];
        for (name, middle) in call_indexes {
            let mut index = Index::create();
            index.name(name).table(ToolCalls::Table);
            if name != "idx_tool_calls_at" {
                index.col(ToolCalls::OrganizationId);
            }
            if let Some(col) = middle {
                index.col(col);
            }
            index.col(ToolCalls::At).col(ToolCalls::Id);
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ToolCalls::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}
