//! OAuth 2.1 authorization code for upstream servers (issue 17): the service
//! is the OAuth client of servers with `auth_type = oauth2_authorization_code`.
//!
//! - `oauth_clients`: clients the service registered itself at an
//!   authorization server (RFC 7591) for a server, reused by later
//!   authorizations; the client id and secret are sealed (AES-256-GCM,
//!   the row id as associated data), the redirect URIs registered are plain.
//! - `oauth_states`: authorizations started and not completed yet, by the
//!   SHA-256 of their `state` (the state itself is never stored), with the
//!   server, scope, subject, redirect URI and expiry plain and the PKCE
//!   verifier sealed (the hash as associated data). Used once: completing
//!   deletes the row; expired rows are pruned.
//! - `oauth_tokens`: connections, one per server and subject (`''` for an
//!   organization-wide one), with the access and refresh tokens sealed (the
//!   row id as associated data). `version` counts token changes; a refresh is
//!   claimed with `refresh_claimed_until`/`refresh_claimed_by` on the version
//!   it read, so that only one replica refreshes a token at a time.
//!
//! Every row goes with its server (`ON DELETE CASCADE`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum McpServers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    Id,
    ServerId,
    Issuer,
    /// JSON array of the redirect URIs registered with the client.
    RedirectUris,
    /// The sealed JSON of the client id, secret and authentication method.
    SealedClient,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    /// Hex SHA-256 of the state.
    StateHash,
    ServerId,
    /// The server's organization, or `catalog`.
    Scope,
    /// The subject the connection will belong to; `''` for the organization.
    Subject,
    RedirectUri,
    /// The sealed JSON of the PKCE verifier and the endpoints found.
    SealedRequest,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum OauthTokens {
    Table,
    Id,
    ServerId,
    Scope,
    Subject,
    Issuer,
    TokenEndpoint,
    RevocationEndpoint,
    /// The RFC 8707 resource the tokens are for.
    Resource,
    /// The `oauth_clients` row the tokens were issued to; NULL for the
    /// client configured in the server's credentials.
    ClientId,
    /// The sealed JSON of the access and refresh tokens.
    SealedTokens,
    AccessExpiresAt,
    /// JSON array of the scopes granted.
    Scopes,
    /// `connected` or `reauthorization_required`.
    Status,
    Reason,
    ConnectedBy,
    ConnectedAt,
    RefreshedAt,
    Version,
    RefreshClaimedUntil,
    RefreshClaimedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthClients::Table)
                    .col(
                        ColumnDef::new(OauthClients::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OauthClients::ServerId).string().not_null())
                    .col(ColumnDef::new(OauthClients::Issuer).text().not_null())
                    .col(ColumnDef::new(OauthClients::RedirectUris).text().not_null())
                    .col(ColumnDef::new(OauthClients::SealedClient).text().not_null())
                    .col(
                        ColumnDef::new(OauthClients::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OauthClients::Table, OauthClients::ServerId)
                            .to(McpServers::Table, McpServers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The clients of a server at an issuer, newest last (a client is
        // registered again when the deployment's redirect URIs change; the
        // older one stays while connections use it).
        manager
            .create_index(
                Index::create()
                    .name("oauth_clients_server_issuer")
                    .table(OauthClients::Table)
                    .col(OauthClients::ServerId)
                    .col(OauthClients::Issuer)
                    .col(OauthClients::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthStates::Table)
                    .col(
                        ColumnDef::new(OauthStates::StateHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OauthStates::ServerId).string().not_null())
                    .col(ColumnDef::new(OauthStates::Scope).string().not_null())
                    .col(ColumnDef::new(OauthStates::Subject).string().not_null())
                    .col(ColumnDef::new(OauthStates::RedirectUri).text().not_null())
                    .col(ColumnDef::new(OauthStates::SealedRequest).text().not_null())
                    .col(ColumnDef::new(OauthStates::CreatedBy).string().not_null())
                    .col(
                        ColumnDef::new(OauthStates::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OauthStates::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OauthStates::Table, OauthStates::ServerId)
                            .to(McpServers::Table, McpServers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Pruning deletes the expired states, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("oauth_states_expires_at")
                    .table(OauthStates::Table)
                    .col(OauthStates::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        // A server's delete cascades here (PostgreSQL does not index a
        // foreign key by itself).
        manager
            .create_index(
                Index::create()
                    .name("oauth_states_server")
                    .table(OauthStates::Table)
                    .col(OauthStates::ServerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthTokens::Table)
                    .col(
                        ColumnDef::new(OauthTokens::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OauthTokens::ServerId).string().not_null())
                    .col(ColumnDef::new(OauthTokens::Scope).string().not_null())
                    .col(ColumnDef::new(OauthTokens::Subject).string().not_null())
                    .col(ColumnDef::new(OauthTokens::Issuer).text().not_null())
                    .col(ColumnDef::new(OauthTokens::TokenEndpoint).text().not_null())
                    .col(
                        ColumnDef::new(OauthTokens::RevocationEndpoint)
                            .text()
                            .null(),
                    )
                    .col(ColumnDef::new(OauthTokens::Resource).text().not_null())
                    .col(ColumnDef::new(OauthTokens::ClientId).string().null())
                    .col(ColumnDef::new(OauthTokens::SealedTokens).text().not_null())
                    .col(
                        ColumnDef::new(OauthTokens::AccessExpiresAt)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(OauthTokens::Scopes).text().not_null())
                    .col(ColumnDef::new(OauthTokens::Status).string().not_null())
                    .col(ColumnDef::new(OauthTokens::Reason).text().not_null())
                    .col(ColumnDef::new(OauthTokens::ConnectedBy).string().not_null())
                    .col(
                        ColumnDef::new(OauthTokens::ConnectedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OauthTokens::RefreshedAt)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(OauthTokens::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OauthTokens::RefreshClaimedUntil)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(OauthTokens::RefreshClaimedBy)
                            .string()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OauthTokens::Table, OauthTokens::ServerId)
                            .to(McpServers::Table, McpServers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OauthTokens::Table, OauthTokens::ClientId)
                            .to(OauthClients::Table, OauthClients::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // One connection per server and subject; its prefix finds a server's
        // connections (the one syncs use, the cascade of a delete).
        manager
            .create_index(
                Index::create()
                    .name("oauth_tokens_server_subject")
                    .table(OauthTokens::Table)
                    .col(OauthTokens::ServerId)
                    .col(OauthTokens::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("oauth_tokens_client")
                    .table(OauthTokens::Table)
                    .col(OauthTokens::ClientId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OauthTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OauthStates::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OauthClients::Table).to_owned())
            .await
    }
}
