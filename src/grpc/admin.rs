//! AdminService: organizations and API keys, for platform-admin callers.
//! Authenticate, convert (`convert::admin`), call the domain, convert back.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::crypto::Keyring;
use crate::error::Violations;
use crate::grpc::convert::{check_id, id};
use crate::grpc::{Reply, caller};
use crate::pagination::PageTokens;
use crate::pb;
use crate::pb::admin_service_server::AdminService;
use crate::registry::admin::{NewApiKey, NewOrganization, OrganizationUpdate};
use crate::registry::{Admin, Caller};

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

/// Returns the authenticated caller if it has platform rights.
fn platform_admin<T>(request: &Request<T>) -> Result<Caller, Status> {
    let caller = caller(request)?;
    caller.require_platform_admin()?;
    Ok(caller)
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_organization(
        &self,
        request: Request<pb::CreateOrganizationRequest>,
    ) -> Reply<pb::Organization> {
        let caller = platform_admin(&request)?;
        let new = NewOrganization::try_from(request.into_inner())?;
        let org = self.admin.create_organization(&caller, new).await?;
        Ok(Response::new(org.into()))
    }

    async fn get_organization(
        &self,
        request: Request<pb::GetOrganizationRequest>,
    ) -> Reply<pb::Organization> {
        let caller = platform_admin(&request)?;
        let org = id("id", "org", request.into_inner().id)?;
        let org = self.admin.get_organization(&caller, &org).await?;
        Ok(Response::new(org.into()))
    }

    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> Reply<pb::ListOrganizationsResponse> {
        let caller = platform_admin(&request)?;
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
            organizations: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    async fn update_organization(
        &self,
        request: Request<pb::UpdateOrganizationRequest>,
    ) -> Reply<pb::Organization> {
        let caller = platform_admin(&request)?;
        let update = OrganizationUpdate::try_from(request.into_inner())?;
        let org = self.admin.update_organization(&caller, update).await?;
        Ok(Response::new(org.into()))
    }

    async fn create_api_key(&self, request: Request<pb::CreateApiKeyRequest>) -> Reply<pb::ApiKey> {
        let caller = platform_admin(&request)?;
        let new = NewApiKey::try_from(request.into_inner())?;
        let created = self.admin.create_api_key(&caller, new).await?;
        let mut key = pb::ApiKey::from(created.key);
        key.secret = created.secret;
        Ok(Response::new(key))
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Reply<pb::ListApiKeysResponse> {
        let caller = platform_admin(&request)?;
        let pb::ListApiKeysRequest {
            organization_id,
            page_size,
            page_token,
        } = request.into_inner();
        let mut violations = Violations::new();
        if !organization_id.is_empty() {
            check_id(&mut violations, "organization_id", "org", &organization_id);
        }
        let tokens = PageTokens::new(&self.keyring, format!("api_keys?org={organization_id}"));
        let page = tokens.parse(page_size, &page_token, &mut violations);
        violations.finish()?;
        let org = (!organization_id.is_empty()).then_some(organization_id.as_str());
        let page = self.admin.list_api_keys(&caller, org, &page).await?;
        Ok(Response::new(pb::ListApiKeysResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            api_keys: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    async fn revoke_api_key(&self, request: Request<pb::RevokeApiKeyRequest>) -> Reply<pb::ApiKey> {
        let caller = platform_admin(&request)?;
        let key = id("id", "key", request.into_inner().id)?;
        let key = self.admin.revoke_api_key(&caller, &key).await?;
        Ok(Response::new(key.into()))
    }
}
