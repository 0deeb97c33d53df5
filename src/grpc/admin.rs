//! AdminService: organizations and API keys, for platform-admin callers.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::crypto::Keyring;
use crate::error::{Error, Violations};
use crate::grpc::{caller, opt_timestamp, timestamp};
use crate::pagination::PageTokens;
use crate::pb;
use crate::pb::admin_service_server::AdminService;
use crate::registry::admin::{
    NewApiKey, NewOrganization, OrganizationChanges, OrganizationUpdate, validate_id,
};
use crate::registry::{Admin, ApiKey, KeyScope, Organization, OrganizationName, Plan, Role};

/// The AdminService implementation.
pub struct AdminApi {
    admin: Admin,
    keyring: Arc<Keyring>,
}

impl AdminApi {
    pub fn new(admin: Admin, keyring: Arc<Keyring>) -> Self {
        Self { admin, keyring }
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_organization(
        &self,
        request: Request<pb::CreateOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let caller = caller(&request)?;
        caller.require_platform_admin()?;
        let new = new_organization(request.into_inner())?;
        let org = self.admin.create_organization(&caller, new).await?;
        Ok(Response::new(organization_to_pb(org)))
    }

    async fn get_organization(
        &self,
        request: Request<pb::GetOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let caller = caller(&request)?;
        caller.require_platform_admin()?;
        let pb::GetOrganizationRequest { id } = request.into_inner();
        validate_id("id", "org", &id).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let org = self.admin.get_organization(&caller, &id).await?;
        Ok(Response::new(organization_to_pb(org)))
    }

    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> Result<Response<pb::ListOrganizationsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_platform_admin()?;
        let pb::ListOrganizationsRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let tokens = PageTokens::new(&self.keyring, "organizations");
        let mut violations = Violations::new();
        let page = tokens.parse(page_size, &page_token, &mut violations);
        violations.finish()?;
        let page = self.admin.list_organizations(&caller, &page).await?;
        Ok(Response::new(pb::ListOrganizationsResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            organizations: page.items.into_iter().map(organization_to_pb).collect(),
        }))
    }

    async fn update_organization(
        &self,
        request: Request<pb::UpdateOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let caller = caller(&request)?;
        caller.require_platform_admin()?;
        let update = organization_update(request.into_inner())?;
        let org = self.admin.update_organization(&caller, update).await?;
        Ok(Response::new(organization_to_pb(org)))
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let caller = caller(&request)?;
        caller.require_platform_admin()?;
        let new = new_api_key(request.into_inner())?;
        let created = self.admin.create_api_key(&caller, new).await?;
        let mut key = api_key_to_pb(created.key);
        key.secret = created.secret;
        Ok(Response::new(key))
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_platform_admin()?;
        let pb::ListApiKeysRequest {
            organization_id,
            page_size,
            page_token,
        } = request.into_inner();
        let mut violations = Violations::new();
        if !organization_id.is_empty()
            && let Err(v) = validate_id("organization_id", "org", &organization_id)
        {
            violations.add(v.field, v.description);
        }
        let tokens = PageTokens::new(&self.keyring, format!("api_keys?org={organization_id}"));
        let page = tokens.parse(page_size, &page_token, &mut violations);
        violations.finish()?;
        let org = (!organization_id.is_empty()).then_some(organization_id.as_str());
        let page = self.admin.list_api_keys(&caller, org, &page).await?;
        Ok(Response::new(pb::ListApiKeysResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            api_keys: page.items.into_iter().map(api_key_to_pb).collect(),
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let caller = caller(&request)?;
        caller.require_platform_admin()?;
        let pb::RevokeApiKeyRequest { id } = request.into_inner();
        validate_id("id", "key", &id).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let key = self.admin.revoke_api_key(&caller, &id).await?;
        Ok(Response::new(api_key_to_pb(key)))
    }
}

fn plan_from_pb(value: i32) -> Result<Plan, &'static str> {
    match pb::Plan::try_from(value) {
        Ok(pb::Plan::Free) => Ok(Plan::Free),
        Ok(pb::Plan::Pro) => Ok(Plan::Pro),
        Ok(pb::Plan::Enterprise) => Ok(Plan::Enterprise),
        Ok(pb::Plan::Unspecified) => Err("is required (PLAN_FREE, PLAN_PRO or PLAN_ENTERPRISE)"),
        Err(_) => Err("is not a known plan (PLAN_FREE, PLAN_PRO or PLAN_ENTERPRISE)"),
    }
}

fn plan_to_pb(plan: Plan) -> pb::Plan {
    match plan {
        Plan::Free => pb::Plan::Free,
        Plan::Pro => pb::Plan::Pro,
        Plan::Enterprise => pb::Plan::Enterprise,
    }
}

fn role_from_pb(value: i32) -> Result<Role, &'static str> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        Ok(pb::Role::Member) => Ok(Role::Member),
        Ok(pb::Role::Viewer) => Ok(Role::Viewer),
        Ok(pb::Role::Unspecified) => Err("is required (ROLE_ADMIN, ROLE_MEMBER or ROLE_VIEWER)"),
        Err(_) => Err("is not a known role (ROLE_ADMIN, ROLE_MEMBER or ROLE_VIEWER)"),
    }
}

/// Converts a role to its protobuf enum.
pub fn role_to_pb(role: Role) -> pb::Role {
    match role {
        Role::Admin => pb::Role::Admin,
        Role::Member => pb::Role::Member,
        Role::Viewer => pb::Role::Viewer,
    }
}

fn new_organization(request: pb::CreateOrganizationRequest) -> Result<NewOrganization, Error> {
    let Some(org) = request.organization else {
        return Err(Error::invalid("organization", "is required"));
    };
    // Output-only fields (id, created_at, updated_at, etag) are ignored.
    let pb::Organization { name, plan, .. } = org;
    let mut v = Violations::new();
    let name = v.check("organization.name", OrganizationName::parse(name));
    let plan = v.check("organization.plan", plan_from_pb(plan));
    v.finish()?;
    match (name, plan) {
        (Some(name), Some(plan)) => Ok(NewOrganization { name, plan }),
        _ => Err(Error::internal(anyhow::anyhow!(
            "validated organization lost a field"
        ))),
    }
}

fn organization_update(
    request: pb::UpdateOrganizationRequest,
) -> Result<OrganizationUpdate, Error> {
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
        etag,
    } = org;
    let mut v = Violations::new();
    if let Err(violation) = validate_id("organization.id", "org", &id) {
        v.add(violation.field, violation.description);
    }
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
                changes.name = v.check("organization.name", OrganizationName::parse(name.clone()))
            }
            "plan" => changes.plan = v.check("organization.plan", plan_from_pb(plan)),
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
        etag: (!etag.is_empty()).then_some(etag),
    })
}

fn new_api_key(request: pb::CreateApiKeyRequest) -> Result<NewApiKey, Error> {
    let Some(key) = request.api_key else {
        return Err(Error::invalid("api_key", "is required"));
    };
    // Output-only fields (id, secret, timestamps, revoked, created_by) are ignored.
    let pb::ApiKey {
        organization_id,
        role,
        platform_admin,
        display_name,
        ..
    } = key;
    let mut v = Violations::new();
    if display_name.chars().count() > 200 {
        v.add("api_key.display_name", "must be at most 200 characters");
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
        Some(KeyScope::PlatformAdmin)
    } else {
        if let Err(violation) = validate_id("api_key.organization_id", "org", &organization_id) {
            v.add(violation.field, violation.description);
        }
        v.check("api_key.role", role_from_pb(role))
            .map(|role| KeyScope::Organization {
                organization_id,
                role,
            })
    };
    v.finish()?;
    let scope = scope
        .ok_or_else(|| Error::internal(anyhow::anyhow!("validated api key lost its scope")))?;
    Ok(NewApiKey {
        scope,
        display_name,
    })
}

fn organization_to_pb(org: Organization) -> pb::Organization {
    pb::Organization {
        etag: org.etag(),
        id: org.id,
        name: org.name.as_str().to_owned(),
        plan: plan_to_pb(org.plan) as i32,
        created_at: Some(timestamp(org.created_at)),
        updated_at: Some(timestamp(org.updated_at)),
    }
}

fn api_key_to_pb(key: ApiKey) -> pb::ApiKey {
    let (organization_id, role, platform_admin) = match key.scope {
        KeyScope::PlatformAdmin => (String::new(), pb::Role::Unspecified, true),
        KeyScope::Organization {
            organization_id,
            role,
        } => (organization_id, role_to_pb(role), false),
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
    }
}
