//! SecretService: authenticate, convert (`convert::secret`), call the
//! secrets domain, convert back; a rotation re-syncs the dependent servers
//! in the background.

use std::sync::Arc;

use tonic::{Request, Response};

use crate::crypto::Keyring;
use crate::error::Violations;
use crate::grpc::convert::secret::{SecretRotation, SecretUpdate};
use crate::grpc::convert::{etag, id};
use crate::grpc::{Reply, caller};
use crate::pagination::PageTokens;
use crate::pb;
use crate::pb::secret_service_server::SecretService;
use crate::registry::runs::Trigger;
use crate::registry::secrets::{NewSecret, Secrets};
use crate::sync::engine::Syncer;

/// The SecretService implementation.
pub struct SecretApi {
    secrets: Secrets,
    keyring: Arc<Keyring>,
    /// Re-syncs the servers of a rotated secret.
    syncer: Syncer,
}

impl SecretApi {
    pub fn new(secrets: Secrets, keyring: Arc<Keyring>, syncer: Syncer) -> Self {
        Self {
            secrets,
            keyring,
            syncer,
        }
    }
}

#[tonic::async_trait]
impl SecretService for SecretApi {
    async fn create_secret(&self, request: Request<pb::CreateSecretRequest>) -> Reply<pb::Secret> {
        let caller = caller(&request)?;
        let new = NewSecret::try_from(request.into_inner())?;
        Ok(Response::new(
            self.secrets.create(&caller, new).await?.into(),
        ))
    }

    async fn get_secret(&self, request: Request<pb::GetSecretRequest>) -> Reply<pb::Secret> {
        let caller = caller(&request)?;
        let secret = id("id", "sec", request.into_inner().id)?;
        Ok(Response::new(
            self.secrets.get(&caller, &secret).await?.into(),
        ))
    }

    async fn list_secrets(
        &self,
        request: Request<pb::ListSecretsRequest>,
    ) -> Reply<pb::ListSecretsResponse> {
        let caller = caller(&request)?;
        let pb::ListSecretsRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let mut v = Violations::new();
        let tokens = PageTokens::new(&self.keyring, format!("secrets?caller={}", caller.scope()));
        let page = tokens.parse(page_size, &page_token, &mut v);
        v.finish()?;
        let page = self.secrets.list(&caller, &page).await?;
        Ok(Response::new(pb::ListSecretsResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            secrets: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    async fn update_secret(&self, request: Request<pb::UpdateSecretRequest>) -> Reply<pb::Secret> {
        let caller = caller(&request)?;
        let SecretUpdate { id, patch, etag } = request.into_inner().try_into()?;
        let secret = self.secrets.update(&caller, &id, patch, etag.as_deref());
        Ok(Response::new(secret.await?.into()))
    }

    async fn rotate_secret(&self, request: Request<pb::RotateSecretRequest>) -> Reply<pb::Secret> {
        let caller = caller(&request)?;
        let SecretRotation { id, values, etag } = request.into_inner().try_into()?;
        let rotation = self.secrets.rotate(&caller, &id, values, etag.as_deref());
        let rotation = rotation.await?;
        for server in rotation.servers {
            self.syncer.spawn_sync(server, Trigger::Updated);
        }
        Ok(Response::new(rotation.view.into()))
    }

    async fn delete_secret(&self, request: Request<pb::DeleteSecretRequest>) -> Reply<()> {
        let caller = caller(&request)?;
        let pb::DeleteSecretRequest {
            id: secret,
            etag: tag,
            force,
        } = request.into_inner();
        let secret = id("id", "sec", secret)?;
        let tag = etag(tag);
        let deleted = self.secrets.delete(&caller, &secret, force, tag.as_deref());
        deleted.await?;
        Ok(Response::new(()))
    }
}
