//! `mcp_servers.registry_name` and `registry_version`: the official MCP
//! Registry's `name` (`io.github.user/weather`) and `version` of a server
//! imported from a `server.json`, kept so ExportMcpServer writes them back.
//! Empty for none; existing servers get the empty string. Two statements,
//! since SQLite alters one column at a time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum McpServers {
    Table,
    RegistryName,
    RegistryVersion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [McpServers::RegistryName, McpServers::RegistryVersion] {
            manager
                .alter_table(
                    Table::alter()
                        .table(McpServers::Table)
                        .add_column(ColumnDef::new(column).text().not_null().default(""))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [McpServers::RegistryVersion, McpServers::RegistryName] {
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
