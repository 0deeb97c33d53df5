//! OAuthService's use cases on the engine: start an authorization
//! (discovery, the registered or configured client, PKCE, a state stored
//! hashed with its sealed verifier), complete it (the state taken once, the
//! code exchanged, the connection stored, a sync), read a connection, and
//! disconnect (RFC 7009 revocation, then the delete). Rights and the model
//! are [`crate::registry::oauth`]'s; every request goes through
//! [`crate::sync::oauth::http::OAuthHttp`].

use url::Url;

use crate::crypto::hash_secret;
use crate::error::{Error, UpstreamFailure};
use crate::registry::audit::{Action, AuditEvent, FieldChange};
use crate::registry::oauth::{
    AuthorizationCode, AuthorizationRequest, ClientAuth, ClientIdentity, Connection,
    ConnectionStatus, ConnectionView, OAuth, PendingAuthorization, RegisteredClient, Requester,
    Tokens, connection_changes, require_authorization_code,
};
use crate::registry::runs::Trigger;
use crate::registry::servers::{Lookup, McpServer};
use crate::registry::{Caller, Micros, new_id, now_micros};
use crate::sync::client::DiscoveryError;
use crate::sync::engine::Syncer;
use crate::sync::oauth::discovery::{Discovered, discover};
use crate::sync::oauth::http::Refusal;
use crate::sync::oauth::pkce_challenge;

/// Random bytes of a state and of a PKCE verifier (256 bits each).
const RANDOM_BYTES: usize = 32;

/// A started authorization, as StartOAuthAuthorization answers it.
pub struct Authorization {
    /// Where to send the person.
    pub url: String,
    /// The state (plaintext only in this answer; stored hashed).
    pub state: String,
    pub expires_at: Micros,
}

impl Syncer {
    /// StartOAuthAuthorization: checks the redirect URI and the caller's
    /// rights, discovers the authorization server, registers a client if
    /// needed, and stores the pending authorization.
    pub async fn start_oauth(
        &self,
        caller: &Caller,
        server_id: &str,
        redirect_uri: &str,
        scopes: Vec<String>,
    ) -> Result<Authorization, Error> {
        self.inner.oauth.check_redirect(redirect_uri)?;
        let (server, config) = self.oauth_server(caller, server_id).await?;
        let subject = OAuth::owner_for_write(caller, &server, config.token_scope)?;
        let started = self
            .authorize(caller, &server, &config, &subject, redirect_uri, scopes)
            .await;
        count(if started.is_ok() {
            "started"
        } else {
            "start_failed"
        });
        started
    }

    async fn authorize(
        &self,
        caller: &Caller,
        server: &McpServer,
        config: &AuthorizationCode,
        subject: &str,
        redirect_uri: &str,
        requested: Vec<String>,
    ) -> Result<Authorization, Error> {
        let inner = &self.inner;
        let oauth = &inner.oauth;
        let server_url = Url::parse(&server.url).map_err(Error::internal)?;
        let found = discover(&inner.oauth_http, &server_url, config.issuer.as_deref())
            .await
            .map_err(upstream)?;
        let mut authorization_url = inner
            .oauth_http
            .endpoint(&found.authorization_endpoint, "authorization endpoint")
            .map_err(upstream)?;
        let (client, identity) = self
            .client_for(server, config, &found, redirect_uri)
            .await?;
        let verifier = oauth.random_token(RANDOM_BYTES)?;
        let state = oauth.random_token(RANDOM_BYTES)?;
        let state_hash = hash_secret(&state);
        let scopes = [
            requested,
            config.scopes.clone(),
            found.suggested_scopes.clone(),
        ]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_default();
        let challenge = pkce_challenge(&verifier);
        let request = AuthorizationRequest {
            verifier,
            issuer: found.issuer.clone(),
            token_endpoint: found.token_endpoint.clone(),
            revocation_endpoint: found.revocation_endpoint.clone(),
            resource: found.resource.clone(),
            scopes: scopes.clone(),
            client,
        };
        let now = now_micros();
        let ttl = i64::try_from(oauth.settings().state_ttl.as_micros()).unwrap_or(i64::MAX);
        let pending = PendingAuthorization {
            sealed: oauth.seal_request(&state_hash, &request)?,
            state_hash,
            server_id: server.id.clone(),
            scope: server.scope().to_owned(),
            subject: subject.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            created_by: caller.actor().to_owned(),
            created_at: now,
            expires_at: now.saturating_add(ttl),
        };
        let changes = connection_changes(subject, &found.issuer, &scopes);
        let org = server.organization_id.as_deref();
        let event = AuditEvent::new(caller, Action::ServerOAuthStart, &server.id, org, changes);
        inner.store.insert_oauth_state(&pending, &event).await?;
        {
            let mut query = authorization_url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &identity.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair("state", &state)
                .append_pair("resource", &found.resource);
            if !scopes.is_empty() {
                query.append_pair("scope", &scopes.join(" "));
            }
        }
        tracing::info!(server_id = %server.id, actor = caller.actor(), issuer = %found.issuer, "oauth authorization started");
        Ok(Authorization {
            url: authorization_url.into(),
            state,
            expires_at: pending.expires_at,
        })
    }

    /// The client to authorize as: the configured one, else the newest one
    /// registered for the server at this issuer with this redirect URI,
    /// else one registered now (RFC 7591) for every allowed redirect URI.
    /// Returns the registered client's id (`None`: the configured one).
    async fn client_for(
        &self,
        server: &McpServer,
        config: &AuthorizationCode,
        found: &Discovered,
        redirect_uri: &str,
    ) -> Result<(Option<String>, ClientIdentity), Error> {
        let inner = &self.inner;
        let tokens = inner.credentials.oauth_tokens();
        if config.client_id.is_some() {
            return Ok((None, tokens.identity(server, config, None).await?));
        }
        let store = &inner.store;
        if let Some(client) = store.latest_oauth_client(&server.id, &found.issuer).await?
            && client.redirect_uris.iter().any(|r| r == redirect_uri)
        {
            let identity = inner.oauth.open_client(&client)?;
            return Ok((Some(client.id), identity));
        }
        let Some(endpoint) = &found.registration_endpoint else {
            return Err(Error::FailedPrecondition(format!(
                "the authorization server {} offers no dynamic client registration: configure \
                 credentials.oauth2_authorization_code.client_id (a client registered there)",
                found.issuer
            )));
        };
        let supports = |m: &str| found.auth_methods.iter().any(|s| s == m);
        let auth = if found.auth_methods.is_empty() || supports("client_secret_basic") {
            ClientAuth::Basic
        } else if supports("client_secret_post") {
            ClientAuth::Post
        } else {
            ClientAuth::None
        };
        let redirect_uris = inner.oauth.settings().redirect_uris.clone();
        let identity = inner
            .oauth_http
            .register(endpoint, &redirect_uris, auth)
            .await
            .map_err(|refusal| refused(&refusal, "client registration"))?;
        let id = new_id("ocl");
        let client = RegisteredClient {
            sealed: inner.oauth.seal_client(&id, &identity)?,
            id: id.clone(),
            server_id: server.id.clone(),
            issuer: found.issuer.clone(),
            redirect_uris,
            created_at: now_micros(),
        };
        store.insert_oauth_client(&client).await?;
        tracing::info!(server_id = %server.id, client = %id, issuer = %found.issuer, "registered an oauth client");
        Ok((Some(id), identity))
    }

    /// CompleteOAuthAuthorization: takes the state (once), exchanges the
    /// code, stores the connection and syncs the server in the background.
    pub async fn complete_oauth(
        &self,
        caller: &Caller,
        state: &str,
        code: &str,
    ) -> Result<ConnectionView, Error> {
        let completed = self.complete(caller, state, code).await;
        count(if completed.is_ok() {
            "completed"
        } else {
            "complete_failed"
        });
        completed
    }

    async fn complete(
        &self,
        caller: &Caller,
        state: &str,
        code: &str,
    ) -> Result<ConnectionView, Error> {
        let inner = &self.inner;
        let pending = inner
            .store
            .take_oauth_state(&hash_secret(state), caller.scope())
            .await?
            .ok_or_else(|| {
                Error::invalid(
                    "state",
                    "is unknown or was already used; start the authorization again",
                )
            })?;
        if pending.expires_at <= now_micros() {
            return Err(Error::invalid(
                "state",
                format!(
                    "has expired (an authorization must be completed within {} s); start it again",
                    inner.oauth.settings().state_ttl.as_secs()
                ),
            ));
        }
        let (server, config) = self.oauth_server(caller, &pending.server_id).await?;
        let subject = OAuth::owner_for_write(caller, &server, config.token_scope)?;
        if subject != pending.subject {
            return Err(Error::PermissionDenied(
                "this authorization was started for another subject".into(),
            ));
        }
        let request = inner.oauth.open_request(&pending)?;
        let tokens = inner.credentials.oauth_tokens();
        let identity = tokens
            .identity(&server, &config, request.client.as_deref())
            .await?;
        let answer = inner
            .oauth_http
            .exchange_code(
                &request.token_endpoint,
                &identity,
                code,
                &request.verifier,
                &pending.redirect_uri,
                &request.resource,
            )
            .await
            .map_err(|refusal| refused(&refusal, "authorization code"))?;
        let id = new_id("otk");
        let now = now_micros();
        let scopes = answer.scopes.unwrap_or(request.scopes);
        let sealed_tokens = inner.oauth.seal_tokens(
            &id,
            &Tokens {
                access_token: answer.access_token,
                refresh_token: answer.refresh_token,
            },
        )?;
        let connection = Connection {
            id,
            server_id: server.id.clone(),
            scope: server.scope().to_owned(),
            subject,
            issuer: request.issuer,
            token_endpoint: request.token_endpoint,
            revocation_endpoint: request.revocation_endpoint,
            resource: request.resource,
            client: request.client,
            sealed_tokens,
            access_expires_at: answer.expires_in.map(|s| {
                now.saturating_add(
                    i64::try_from(s)
                        .unwrap_or(i64::MAX)
                        .saturating_mul(1_000_000),
                )
            }),
            scopes,
            status: ConnectionStatus::Connected,
            reason: String::new(),
            connected_by: caller.actor().to_owned(),
            connected_at: now,
            refreshed_at: None,
            version: 1,
        };
        let changes =
            connection_changes(&connection.subject, &connection.issuer, &connection.scopes);
        let org = server.organization_id.as_deref();
        let event = AuditEvent::new(caller, Action::ServerOAuthConnect, &server.id, org, changes);
        inner
            .store
            .save_oauth_connection(&connection, &event)
            .await?;
        tracing::info!(server_id = %server.id, actor = caller.actor(), connection_id = %connection.id, "oauth connection made");
        if server.enabled {
            self.spawn_sync(server.clone(), Trigger::Updated);
        }
        Ok(ConnectionView {
            server_id: server.id,
            connection: Some(connection),
        })
    }

    /// GetOAuthConnection: the caller's (or, for a per-subject server read
    /// without a subject, the one syncs use).
    pub async fn oauth_connection(
        &self,
        caller: &Caller,
        server_id: &str,
    ) -> Result<ConnectionView, Error> {
        let (server, config) = self.oauth_server(caller, server_id).await?;
        let connection = match OAuth::owner_for_read(caller, config.token_scope) {
            Some(subject) => {
                (self.inner.store)
                    .get_oauth_connection(&server.id, &subject)
                    .await?
            }
            None => {
                (self.inner.oauth)
                    .connection_in_use(&server, config.token_scope, Requester::Sync)
                    .await?
            }
        };
        Ok(ConnectionView {
            server_id: server.id,
            connection,
        })
    }

    /// DeleteOAuthConnection: revokes at the authorization server when it
    /// can (a failure is logged), then deletes the connection.
    pub async fn delete_oauth(&self, caller: &Caller, server_id: &str) -> Result<(), Error> {
        let (server, config) = self.oauth_server(caller, server_id).await?;
        let subject = OAuth::owner_for_write(caller, &server, config.token_scope)?;
        let inner = &self.inner;
        let not_found = || Error::NotFound {
            kind: "oauth connection of server",
            id: server.id.clone(),
        };
        let connection = inner
            .store
            .get_oauth_connection(&server.id, &subject)
            .await?
            .ok_or_else(not_found)?;
        let revoked = match &connection.revocation_endpoint {
            Some(endpoint) => match self.revoke(&server, &config, &connection, endpoint).await {
                Ok(()) => true,
                Err(err) => {
                    tracing::warn!(server_id = %server.id, error = %err, "oauth token revocation failed; deleting the connection anyway");
                    false
                }
            },
            None => false,
        };
        let mut changes = connection_changes(&subject, &connection.issuer, &[]);
        changes.push(FieldChange {
            field: "oauth_connection.revoked".into(),
            old: None,
            new: Some(revoked.into()),
            secret: false,
        });
        let org = server.organization_id.as_deref();
        let event = AuditEvent::new(
            caller,
            Action::ServerOAuthDisconnect,
            &server.id,
            org,
            changes,
        );
        if !inner
            .store
            .delete_oauth_connection(&connection.id, &event)
            .await?
        {
            return Err(not_found());
        }
        tracing::info!(server_id = %server.id, actor = caller.actor(), revoked, "oauth connection deleted");
        Ok(())
    }

    /// Revokes the connection's refresh token (else its access token).
    async fn revoke(
        &self,
        server: &McpServer,
        config: &AuthorizationCode,
        connection: &Connection,
        endpoint: &str,
    ) -> Result<(), Error> {
        let inner = &self.inner;
        let tokens = inner.oauth.open_tokens(connection)?;
        let identity = inner
            .credentials
            .oauth_tokens()
            .identity(server, config, connection.client.as_deref())
            .await?;
        let (token, hint) = match &tokens.refresh_token {
            Some(refresh) => (refresh.as_str(), "refresh_token"),
            None => (tokens.access_token.as_str(), "access_token"),
        };
        inner
            .oauth_http
            .revoke(endpoint, &identity, token, hint)
            .await
            .map_err(|refusal| refused(&refusal, "revocation"))
    }

    /// The server the caller sees (NOT_FOUND otherwise) with its
    /// authorization-code configuration (FAILED_PRECONDITION for another
    /// auth type).
    async fn oauth_server(
        &self,
        caller: &Caller,
        server_id: &str,
    ) -> Result<(McpServer, AuthorizationCode), Error> {
        let servers = &self.inner.servers;
        let server = servers
            .get(caller, Lookup::Id(server_id.to_owned()))
            .await?
            .server;
        require_authorization_code(&server)?;
        let config = match &server.sealed_credentials {
            Some(sealed) => AuthorizationCode::of(servers.open_credentials(&server.id, sealed)?),
            None => None,
        }
        .ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "server {} has no OAuth authorization-code configuration",
                server.id
            ))
        })?;
        Ok((server, config))
    }
}

/// An upstream failure of a step (discovery, an endpoint URL).
fn upstream(err: DiscoveryError) -> Error {
    Error::OAuth {
        failure: err.failure,
        message: err.message,
    }
}

/// A registration or token request that failed: a refusal by the
/// authorization server is UPSTREAM_AUTH_FAILED.
fn refused(refusal: &Refusal, what: &str) -> Error {
    Error::OAuth {
        failure: match refusal {
            Refusal::Refused { .. } => UpstreamFailure::AuthFailed,
            Refusal::Failed(err) => err.failure,
        },
        message: refusal.message(what),
    }
}

/// Counts an authorization step by outcome.
fn count(outcome: &'static str) {
    metrics::counter!("mcp_registry_oauth_authorizations_total", "outcome" => outcome).increment(1);
}
