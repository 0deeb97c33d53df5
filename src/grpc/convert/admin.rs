//! AdminService conversions: organizations and API keys.

use crate::error::{Error, Violations};
use crate::grpc::convert::{check_id, etag, required_enum, wire_enum};
use crate::grpc::{opt_timestamp, timestamp};
use crate::pb;
use crate::registry::admin::{
    NewApiKey, NewOrganization, OrganizationChanges, OrganizationUpdate, check_pack_ids,
};
use crate::registry::{ApiKey, DisplayName, KeyScope, Organization, OrganizationName, Plan, Role};

wire_enum!("plan", Plan => pb::Plan {
    Free = Free, Pro = Pro, Enterprise = Enterprise,
});
wire_enum!("role", Role => pb::Role {
    Admin = Admin, Member = Member, Viewer = Viewer,
});

impl TryFrom<pb::CreateOrganizationRequest> for NewOrganization {
    type Error = Error;

    fn try_from(request: pb::CreateOrganizationRequest) -> Result<Self, Error> {
        let Some(org) = request.organization else {
            return Err(Error::invalid("organization", "is required"));
        };
        // Output-only fields (id, created_at, updated_at, etag) are ignored.
        let pb::Organization { name, plan, .. } = org;
        let mut v = Violations::new();
        let name = v.check("organization.name", OrganizationName::parse(name));
        let plan = v.check("organization.plan", required_enum(plan));
        v.finish()?;
        match (name, plan) {
            (Some(name), Some(plan)) => Ok(NewOrganization { name, plan }),
            _ => Err(Error::internal(anyhow::anyhow!(
                "validated organization lost a field"
            ))),
        }
    }
}

impl TryFrom<pb::UpdateOrganizationRequest> for OrganizationUpdate {
    type Error = Error;

    fn try_from(request: pb::UpdateOrganizationRequest) -> Result<Self, Error> {
        let pb::UpdateOrganizationRequest {
            organization,
            update_mask,
        } = request;
        let Some(org) = organization else {
            return Err(Error::invalid("organization", "is required"));
        };
        let pb::Organization {
            id,
            name,
            plan,
            created_at: _,
            updated_at: _,
            etag: tag,
        } = org;
        let mut v = Violations::new();
        check_id(&mut v, "organization.id", "org", &id);
        let paths: Vec<String> = match update_mask {
            Some(mask) if !mask.paths.is_empty() => mask.paths,
            // An empty mask means every field the request sets.
            _ => {
                let mut populated = Vec::new();
                if !name.is_empty() {
                    populated.push("name".to_owned());
                }
                if plan != 0 {
                    populated.push("plan".to_owned());
                }
                if populated.is_empty() {
                    v.add(
                        "update_mask",
                        "names no field to update (updatable: name, plan)",
                    );
                }
                populated
            }
        };
        let mut changes = OrganizationChanges::default();
        for path in &paths {
            match path.as_str() {
                "name" => {
                    changes.name =
                        v.check("organization.name", OrganizationName::parse(name.clone()))
                }
                "plan" => changes.plan = v.check("organization.plan", required_enum(plan)),
                "id" | "created_at" | "updated_at" | "etag" => {
                    v.add("update_mask", format!("{path:?} is output only"));
                }
                other => v.add(
                    "update_mask",
                    format!("{other:?} is not a field of Organization (updatable: name, plan)"),
                ),
            }
        }
        v.finish()?;
        Ok(OrganizationUpdate {
            id,
            changes,
            etag: etag(tag),
        })
    }
}

impl TryFrom<pb::CreateApiKeyRequest> for NewApiKey {
    type Error = Error;

    fn try_from(request: pb::CreateApiKeyRequest) -> Result<Self, Error> {
        let Some(key) = request.api_key else {
            return Err(Error::invalid("api_key", "is required"));
        };
        // Output-only fields (id, secret, timestamps, revoked, created_by) are ignored.
        let pb::ApiKey {
            organization_id,
            role,
            platform_admin,
            display_name,
            pack_ids,
            acts_for_users,
            ..
        } = key;
        let mut v = Violations::new();
        // A key's label is one line: a display name without newlines or tabs.
        if display_name.chars().count() > DisplayName::MAX_CHARS {
            let most = DisplayName::MAX_CHARS;
            v.add(
                "api_key.display_name",
                format!("must be at most {most} characters"),
            );
        }
        if display_name.chars().any(char::is_control) {
            v.add(
                "api_key.display_name",
                "must not contain control characters",
            );
        }
        let scope = if platform_admin {
            if !organization_id.is_empty() {
                v.add(
                    "api_key.organization_id",
                    "must be empty for a platform-admin key",
                );
            }
            if role != 0 {
                v.add("api_key.role", "must be unset for a platform-admin key");
            }
            if acts_for_users {
                v.add(
                    "api_key.acts_for_users",
                    "must be false for a platform-admin key: only organization keys act for users",
                );
            }
            if !pack_ids.is_empty() {
                v.add(
                    "api_key.pack_ids",
                    "must be empty for a platform-admin key: only organization keys are limited to packs",
                );
            }
            Some(KeyScope::PlatformAdmin)
        } else {
            check_id(&mut v, "api_key.organization_id", "org", &organization_id);
            check_pack_ids(&pack_ids, &mut v);
            v.check("api_key.role", required_enum(role))
                .map(|role| KeyScope::Organization {
                    organization_id,
                    role,
                    pack_ids,
                })
        };
        v.finish()?;
        let scope = scope
            .ok_or_else(|| Error::internal(anyhow::anyhow!("validated api key lost its scope")))?;
        Ok(NewApiKey {
            scope,
            display_name,
            acts_for_users,
        })
    }
}

impl From<Organization> for pb::Organization {
    fn from(org: Organization) -> Self {
        pb::Organization {
            etag: org.etag(),
            id: org.id,
            name: org.name.as_str().to_owned(),
            plan: pb::Plan::from(org.plan) as i32,
            created_at: Some(timestamp(org.created_at)),
            updated_at: Some(timestamp(org.updated_at)),
        }
    }
}

impl From<ApiKey> for pb::ApiKey {
    fn from(key: ApiKey) -> Self {
        let (organization_id, role, platform_admin, pack_ids) = match key.scope {
            KeyScope::PlatformAdmin => (String::new(), pb::Role::Unspecified, true, Vec::new()),
            KeyScope::Organization {
                organization_id,
                role,
                pack_ids,
            } => (organization_id, pb::Role::from(role), false, pack_ids),
        };
        pb::ApiKey {
            id: key.id,
            organization_id,
            role: role as i32,
            platform_admin,
            display_name: key.display_name,
            secret: String::new(),
            created_at: Some(timestamp(key.created_at)),
            last_used_at: opt_timestamp(key.last_used_at),
            revoked_at: opt_timestamp(key.revoked_at),
            revoked: key.revoked_at.is_some(),
            created_by: key.created_by,
            pack_ids,
            acts_for_users: key.acts_for_users,
        }
    }
}
