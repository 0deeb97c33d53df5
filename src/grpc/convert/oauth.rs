//! OAuthService conversions: requests into the engine's arguments (every
//! bad field reported at once), connections into responses (never a token).

use crate::error::{Error, Violations};
use crate::grpc::convert::check_id;
use crate::grpc::{opt_timestamp, timestamp};
use crate::pb;
use crate::registry::oauth::{ConnectionStatus, ConnectionView};
use crate::registry::servers::validate::oauth_scopes;
use crate::sync::oauth::flow::Authorization;

/// Longest `state` accepted (the service's are 43 characters).
const MAX_STATE: usize = 512;
/// Longest `code` accepted.
const MAX_CODE: usize = 4096;

/// A StartOAuthAuthorization request.
pub struct Start {
    pub server_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
}

impl TryFrom<pb::StartOAuthAuthorizationRequest> for Start {
    type Error = Error;

    fn try_from(request: pb::StartOAuthAuthorizationRequest) -> Result<Self, Error> {
        let pb::StartOAuthAuthorizationRequest {
            server_id,
            redirect_uri,
            scopes,
        } = request;
        let mut v = Violations::new();
        check_id(&mut v, "server_id", "mcp", &server_id);
        if redirect_uri.is_empty() {
            v.add("redirect_uri", "is required");
        }
        if let Err(err) = oauth_scopes(&scopes) {
            v.add("scopes", err);
        }
        v.finish()?;
        Ok(Self {
            server_id,
            redirect_uri,
            scopes,
        })
    }
}

/// A CompleteOAuthAuthorization request: the state and the code.
pub struct Complete {
    pub state: String,
    pub code: String,
}

impl TryFrom<pb::CompleteOAuthAuthorizationRequest> for Complete {
    type Error = Error;

    fn try_from(request: pb::CompleteOAuthAuthorizationRequest) -> Result<Self, Error> {
        let pb::CompleteOAuthAuthorizationRequest { state, code } = request;
        let mut v = Violations::new();
        for (field, value, max) in [("state", &state, MAX_STATE), ("code", &code, MAX_CODE)] {
            if value.is_empty() {
                v.add(field, "is required");
            } else if value.len() > max || value.chars().any(char::is_control) {
                v.add(
                    field,
                    format!("must be at most {max} characters without control characters"),
                );
            }
        }
        v.finish()?;
        Ok(Self { state, code })
    }
}

impl From<Authorization> for pb::StartOAuthAuthorizationResponse {
    fn from(started: Authorization) -> Self {
        Self {
            authorization_url: started.url,
            state: started.state,
            expire_time: Some(timestamp(started.expires_at)),
        }
    }
}

impl From<ConnectionView> for pb::OAuthConnection {
    fn from(view: ConnectionView) -> Self {
        let Some(connection) = view.connection else {
            return Self {
                server_id: view.server_id,
                status: pb::ConnectionStatus::NotConnected.into(),
                ..Self::default()
            };
        };
        let status = match connection.status {
            ConnectionStatus::Connected => pb::ConnectionStatus::Connected,
            ConnectionStatus::ReauthorizationRequired => {
                pb::ConnectionStatus::ReauthorizationRequired
            }
        };
        Self {
            server_id: view.server_id,
            status: status.into(),
            expire_time: opt_timestamp(connection.access_expires_at),
            scopes: connection.scopes,
            issuer: connection.issuer,
            connected_by: connection.connected_by,
            subject: connection.subject,
            reason: connection.reason,
            connect_time: Some(timestamp(connection.connected_at)),
            refresh_time: opt_timestamp(connection.refreshed_at),
        }
    }
}
