//! `mcp-registry admin ...`: bootstraps organizations and API keys straight
//! in the database, with platform rights, and prints one JSON object.

use serde_json::json;

use crate::config::{AdminCommand, PlanArg, RoleArg, Settings};
use crate::error::Error;
use crate::registry::admin::{NewApiKey, NewOrganization, validate_id};
use crate::registry::{Admin, Caller, KeyScope, OrganizationName, Plan, Role};
use crate::store::Store;

/// Runs one admin subcommand and returns the JSON object to print.
pub async fn run(command: AdminCommand, settings: &Settings) -> anyhow::Result<serde_json::Value> {
    if settings.embedded_database {
        std::fs::create_dir_all(&settings.data_dir)?;
    }
    let store = Store::connect(&settings.database_url).await?;
    store.migrate().await?;
    let admin = Admin::new(store.clone());
    let output = execute(&admin, command).await;
    store.close().await?;
    output.map_err(|err| anyhow::anyhow!("{err}"))
}

async fn execute(admin: &Admin, command: AdminCommand) -> Result<serde_json::Value, Error> {
    match command {
        AdminCommand::CreateOrg { name, plan } => {
            let name =
                OrganizationName::parse(name).map_err(|err| Error::invalid("--name", err))?;
            let plan = match plan {
                PlanArg::Free => Plan::Free,
                PlanArg::Pro => Plan::Pro,
                PlanArg::Enterprise => Plan::Enterprise,
            };
            let org = admin
                .create_organization(&Caller::Cli, NewOrganization { name, plan })
                .await?;
            Ok(json!({
                "organization_id": org.id,
                "name": org.name.as_str(),
                "plan": org.plan.as_str(),
            }))
        }
        AdminCommand::CreateKey {
            org,
            role,
            platform_admin,
            packs,
            acts_for_users,
            display_name,
        } => {
            let scope = match (platform_admin, org, role) {
                (true, _, _) => KeyScope::PlatformAdmin,
                (false, Some(organization_id), Some(role)) => {
                    validate_id("--org", "org", &organization_id)
                        .map_err(|v| Error::InvalidArgument(vec![v]))?;
                    let role = match role {
                        RoleArg::Admin => Role::Admin,
                        RoleArg::Member => Role::Member,
                        RoleArg::Viewer => Role::Viewer,
                    };
                    KeyScope::Organization {
                        organization_id,
                        role,
                        pack_ids: packs,
                    }
                }
                _ => {
                    return Err(Error::invalid(
                        "--org",
                        "--org and --role, or --platform-admin, are required",
                    ));
                }
            };
            let created = admin
                .create_api_key(
                    &Caller::Cli,
                    NewApiKey {
                        scope,
                        display_name,
                        acts_for_users,
                    },
                )
                .await?;
            let (organization_id, role, pack_ids) = match &created.key.scope {
                KeyScope::PlatformAdmin => (None, None, None),
                KeyScope::Organization {
                    organization_id,
                    role,
                    pack_ids,
                } => (
                    Some(organization_id.clone()),
                    Some(role.as_str()),
                    (!pack_ids.is_empty()).then_some(pack_ids),
                ),
            };
            let mut output = json!({
                "api_key_id": created.key.id,
                "secret": created.secret,
                "organization_id": organization_id,
                "role": role,
                "platform_admin": matches!(created.key.scope, KeyScope::PlatformAdmin),
            });
            // Only limited keys print the field, so other keys' output is unchanged.
            if let Some(pack_ids) = pack_ids {
                output["pack_ids"] = json!(pack_ids);
            }
            // Likewise only service keys print theirs.
            if created.key.acts_for_users {
                output["acts_for_users"] = json!(true);
            }
            Ok(output)
        }
    }
}
