//! MCP servers and what their syncs discover.

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
    OrganizationId,
    /// The organization id, or `catalog`: names are unique per scope.
    Scope,
    Visibility,
    Name,
    DisplayName,
    Description,
    Url,
    IconUrl,
    Category,
    Transport,
    AuthType,
    /// Header the auth type sets (`authorization` or the API key's header), lower case.
    AuthHeaderName,
    /// Sealed JSON of the credentials (see crypto.rs), never plaintext.
    Credentials,
    CredentialsUpdatedAt,
    /// JSON array of {name, value} or {name, sealed}.
    RequestHeaders,
    ApprovalPolicy,
    ToolsEnabled,
    /// JSON array of tool names; empty means all.
    AllowedTools,
    /// JSON object.
    Config,
    Enabled,
    Status,
    DetectedTransport,
    /// JSON object.
    ServerInfo,
    LastSyncedAt,
    LastSuccessfulSyncAt,
    /// JSON object.
    LastError,
    ToolCount,
    PromptCount,
    ResourceCount,
    ResourceTemplateCount,
    /// JSON object: tool name → approved definition hash.
    ToolApprovals,
    NextSyncAt,
    CreatedAt,
    UpdatedAt,
    CreatedBy,
    ModifiedBy,
    Revision,
}

#[derive(DeriveIden)]
enum ServerCapabilities {
    Table,
    ServerId,
    /// `tool`, `prompt`, `resource` or `resource_template`.
    Kind,
    /// Name (tools, prompts), URI (resources) or URI template.
    Key,
    /// The item's JSON exactly as canonicalized at discovery.
    Definition,
    /// Hex SHA-256 of the canonical JSON.
    DefinitionHash,
    DiscoveredAt,
    ChangedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use McpServers as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(ColumnDef::new(S::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(S::OrganizationId).string().null())
                    .col(ColumnDef::new(S::Scope).string().not_null())
                    .col(ColumnDef::new(S::Visibility).string().not_null())
                    .col(ColumnDef::new(S::Name).string().not_null())
                    .col(ColumnDef::new(S::DisplayName).text().not_null())
                    .col(ColumnDef::new(S::Description).text().not_null())
                    .col(ColumnDef::new(S::Url).text().not_null())
                    .col(ColumnDef::new(S::IconUrl).text().not_null())
                    .col(ColumnDef::new(S::Category).string().not_null())
                    .col(ColumnDef::new(S::Transport).string().not_null())
                    .col(ColumnDef::new(S::AuthType).string().not_null())
                    .col(ColumnDef::new(S::AuthHeaderName).string().null())
                    .col(ColumnDef::new(S::Credentials).text().null())
                    .col(ColumnDef::new(S::CredentialsUpdatedAt).big_integer().null())
                    .col(ColumnDef::new(S::RequestHeaders).text().not_null())
                    .col(ColumnDef::new(S::ApprovalPolicy).string().not_null())
                    .col(ColumnDef::new(S::ToolsEnabled).boolean().not_null())
                    .col(ColumnDef::new(S::AllowedTools).text().not_null())
                    .col(ColumnDef::new(S::Config).text().not_null())
                    .col(ColumnDef::new(S::Enabled).boolean().not_null())
                    .col(ColumnDef::new(S::Status).string().not_null())
                    .col(ColumnDef::new(S::DetectedTransport).string().null())
                    .col(ColumnDef::new(S::ServerInfo).text().null())
                    .col(ColumnDef::new(S::LastSyncedAt).big_integer().null())
                    .col(ColumnDef::new(S::LastSuccessfulSyncAt).big_integer().null())
                    .col(ColumnDef::new(S::LastError).text().null())
                    .col(ColumnDef::new(S::ToolCount).big_integer().not_null())
                    .col(ColumnDef::new(S::PromptCount).big_integer().not_null())
                    .col(ColumnDef::new(S::ResourceCount).big_integer().not_null())
                    .col(
                        ColumnDef::new(S::ResourceTemplateCount)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(S::ToolApprovals).text().not_null())
                    .col(ColumnDef::new(S::NextSyncAt).big_integer().null())
                    .col(ColumnDef::new(S::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(S::UpdatedAt).big_integer().not_null())
                    .col(ColumnDef::new(S::CreatedBy).string().not_null())
                    .col(ColumnDef::new(S::ModifiedBy).string().not_null())
                    .col(ColumnDef::new(S::Revision).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("mcp_servers_organization_id_fkey")
                            .from(S::Table, S::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mcp_servers_scope_name_key")
                    .table(S::Table)
                    .col(S::Scope)
                    .col(S::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Keyset pagination within a scope.
        manager
            .create_index(
                Index::create()
                    .name("mcp_servers_scope_id_idx")
                    .table(S::Table)
                    .col(S::Scope)
                    .col(S::Id)
                    .to_owned(),
            )
            .await?;
        // The scheduler's "which servers are due" query.
        manager
            .create_index(
                Index::create()
                    .name("mcp_servers_next_sync_at_idx")
                    .table(S::Table)
                    .col(S::NextSyncAt)
                    .to_owned(),
            )
            .await?;

        use ServerCapabilities as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(ColumnDef::new(C::ServerId).string().not_null())
                    .col(ColumnDef::new(C::Kind).string().not_null())
                    .col(ColumnDef::new(C::Key).text().not_null())
                    .col(ColumnDef::new(C::Definition).text().not_null())
                    .col(ColumnDef::new(C::DefinitionHash).string().not_null())
                    .col(ColumnDef::new(C::DiscoveredAt).big_integer().not_null())
                    .col(ColumnDef::new(C::ChangedAt).big_integer().not_null())
                    .primary_key(Index::create().col(C::ServerId).col(C::Kind).col(C::Key))
                    .foreign_key(
                        ForeignKey::create()
                            .name("server_capabilities_server_id_fkey")
                            .from(C::Table, C::ServerId)
                            .to(S::Table, S::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ServerCapabilities::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(McpServers::Table).to_owned())
            .await
    }
}
