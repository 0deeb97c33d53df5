//! OAuthService: authenticate, convert (`convert::oauth`), call the sync
//! engine's OAuth use cases (`sync::oauth::flow`), convert back.

use tonic::{Request, Response};

use crate::grpc::convert::id;
use crate::grpc::convert::oauth::{Complete, Start};
use crate::grpc::{Reply, caller};
use crate::pb;
use crate::pb::o_auth_service_server::OAuthService;
use crate::sync::engine::Syncer;

/// The OAuthService implementation.
pub struct OAuthApi {
    syncer: Syncer,
}

impl OAuthApi {
    pub fn new(syncer: Syncer) -> Self {
        Self { syncer }
    }
}

#[tonic::async_trait]
impl OAuthService for OAuthApi {
    async fn start_o_auth_authorization(
        &self,
        request: Request<pb::StartOAuthAuthorizationRequest>,
    ) -> Reply<pb::StartOAuthAuthorizationResponse> {
        let caller = caller(&request)?;
        let start = Start::try_from(request.into_inner())?;
        let started = (self.syncer)
            .start_oauth(&caller, &start.server_id, &start.redirect_uri, start.scopes)
            .await?;
        Ok(Response::new(started.into()))
    }

    async fn complete_o_auth_authorization(
        &self,
        request: Request<pb::CompleteOAuthAuthorizationRequest>,
    ) -> Reply<pb::OAuthConnection> {
        let caller = caller(&request)?;
        let complete = Complete::try_from(request.into_inner())?;
        let connection = (self.syncer)
            .complete_oauth(&caller, &complete.state, &complete.code)
            .await?;
        Ok(Response::new(connection.into()))
    }

    async fn get_o_auth_connection(
        &self,
        request: Request<pb::GetOAuthConnectionRequest>,
    ) -> Reply<pb::OAuthConnection> {
        let caller = caller(&request)?;
        let server = id("server_id", "mcp", request.into_inner().server_id)?;
        let connection = self.syncer.oauth_connection(&caller, &server).await?;
        Ok(Response::new(connection.into()))
    }

    async fn delete_o_auth_connection(
        &self,
        request: Request<pb::DeleteOAuthConnectionRequest>,
    ) -> Reply<()> {
        let caller = caller(&request)?;
        let server = id("server_id", "mcp", request.into_inner().server_id)?;
        self.syncer.delete_oauth(&caller, &server).await?;
        Ok(Response::new(()))
    }
}
