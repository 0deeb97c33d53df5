//! `secrets`: an organization's stored secrets (one or more named values,
//! sealed together with the secret id as associated data), unique by name in
//! their organization; `secret_references`: which servers use which secret
//! (a row per server and secret, written with the server, gone with it; a
//! secret cannot be deleted while a row names it, so a concurrent reference
//! and delete cannot both succeed); `mcp_servers.credentials_secret`: the
//! secret reference a server's credentials use instead of a value (JSON).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum McpServers {
    Table,
    Id,
    CredentialsSecret,
}

#[derive(DeriveIden)]
enum Secrets {
    Table,
    Id,
    OrganizationId,
    Name,
    Description,
    /// JSON array of the value names (not secret).
    ValueNames,
    /// The sealed JSON object of every value by name.
    SealedValues,
    CreatedAt,
    CreatedBy,
    UpdatedAt,
    UpdatedBy,
    RotatedAt,
    RotatedBy,
    Revision,
}

#[derive(DeriveIden)]
enum SecretReferences {
    Table,
    SecretId,
    ServerId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Secrets::Table)
                    .col(
                        ColumnDef::new(Secrets::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Secrets::OrganizationId).string().not_null())
                    .col(ColumnDef::new(Secrets::Name).string().not_null())
                    .col(ColumnDef::new(Secrets::Description).text().not_null())
                    .col(ColumnDef::new(Secrets::ValueNames).text().not_null())
                    .col(ColumnDef::new(Secrets::SealedValues).text().not_null())
                    .col(ColumnDef::new(Secrets::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Secrets::CreatedBy).string().not_null())
                    .col(ColumnDef::new(Secrets::UpdatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Secrets::UpdatedBy).string().not_null())
                    .col(ColumnDef::new(Secrets::RotatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Secrets::RotatedBy).string().not_null())
                    .col(ColumnDef::new(Secrets::Revision).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // Names are unique per organization; the index also serves the
        // keyset listing (organization, then id) through its prefix.
        manager
            .create_index(
                Index::create()
                    .name("secrets_organization_name")
                    .table(Secrets::Table)
                    .col(Secrets::OrganizationId)
                    .col(Secrets::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("secrets_organization_id")
                    .table(Secrets::Table)
                    .col(Secrets::OrganizationId)
                    .col(Secrets::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SecretReferences::Table)
                    .col(
                        ColumnDef::new(SecretReferences::SecretId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SecretReferences::ServerId)
                            .string()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(SecretReferences::SecretId)
                            .col(SecretReferences::ServerId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SecretReferences::Table, SecretReferences::SecretId)
                            .to(Secrets::Table, Secrets::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SecretReferences::Table, SecretReferences::ServerId)
                            .to(McpServers::Table, McpServers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("secret_references_server")
                    .table(SecretReferences::Table)
                    .col(SecretReferences::ServerId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(McpServers::Table)
                    .add_column(ColumnDef::new(McpServers::CredentialsSecret).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(McpServers::Table)
                    .drop_column(McpServers::CredentialsSecret)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(SecretReferences::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Secrets::Table).to_owned())
            .await
    }
}
