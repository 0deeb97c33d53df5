//! The access tokens syncs and gateway calls send: the connection's token
//! while it is fresh, else a refreshed one. A refresh is shared: in this
//! process, concurrent requests for one connection wait for one refresh (a
//! lock per connection); across replicas, the refresh is claimed on the
//! connection's version in the database, and a replica that finds it claimed
//! polls (bounded) until the version moves on and uses the new token. The new
//! refresh token replaces the old one when the authorization server rotates
//! it. A refused refresh (`invalid_grant`…) marks the connection
//! REAUTHORIZATION_REQUIRED, with an audit event: syncs then fail with
//! UPSTREAM_AUTH_REQUIRED until someone authorizes again.
//!
//! Which connection a request uses is [`OAuth::connection_in_use`]'s rule for
//! its [`Requester`]: a gateway call to a per-subject server uses the calling
//! subject's own connection, and fails with UPSTREAM_AUTH_REQUIRED when that
//! subject (or the call) has none; refreshes are of that connection too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, UpstreamFailure};
use crate::registry::audit::{Action, FieldChange};
use crate::registry::oauth::{
    AuthorizationCode, ClientAuth, ClientIdentity, ClientSecret, Connection, ConnectionStatus,
    OAuth, Refreshed, Requester, TokenScope, Tokens, system_event,
};
use crate::registry::servers::{McpServer, Servers};
use crate::registry::{Micros, now_micros};
use crate::sync::client::DiscoveryError;
use crate::sync::lifecycle::AttemptFailure;
use crate::sync::oauth::http::{OAuthHttp, Refusal};

/// Longest time before its expiry at which an access token is refreshed
/// (less for short-lived tokens: a third of their lifetime).
const MARGIN: Duration = Duration::from_secs(30);
/// How much longer than a token request may take a refresh claim holds: a
/// replica that dies while refreshing leaves a claim that expires then, and a
/// live one always finishes (or gives up) before its claim expires.
const CLAIM_SLACK: Duration = Duration::from_secs(10);
/// First and longest pause while another replica's refresh is awaited.
const POLL_FIRST: Duration = Duration::from_millis(25);
const POLL_MAX: Duration = Duration::from_millis(500);

/// Access tokens for servers with OAuth connections.
pub struct OAuthTokens {
    oauth: OAuth,
    /// Opens the servers' configured client secrets (stored secrets too).
    servers: Servers,
    http: OAuthHttp,
    /// This replica, as recorded in refresh claims.
    instance_id: String,
    /// Longest a token request, and a wait for another replica's refresh,
    /// may take (the sync deadline).
    wait: Duration,
    /// One lock per connection being refreshed in this process.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A token to send and the connection version it belongs to.
pub struct Current {
    pub access_token: String,
    pub connection_id: String,
    pub version: i64,
}

impl OAuthTokens {
    pub fn new(
        oauth: OAuth,
        servers: Servers,
        http: OAuthHttp,
        instance_id: String,
        wait: Duration,
    ) -> Self {
        Self {
            oauth,
            servers,
            http,
            instance_id,
            wait,
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// The access token to send to `server` now, refreshed if it is about to
    /// expire, from the connection `requester` uses. With `refused`, the
    /// token the server just refused: unless the connection holds another one
    /// by now, it is refreshed anyway.
    pub async fn current(
        &self,
        server: &McpServer,
        config: &AuthorizationCode,
        refused: Option<&str>,
        requester: Requester<'_>,
    ) -> Result<Current, AttemptFailure> {
        let connection = self
            .oauth
            .connection_in_use(server, config.token_scope, requester)
            .await
            .map_err(unusable)?
            .ok_or_else(|| missing(server, config.token_scope, requester))?;
        let tokens = self.usable(server, &connection)?;
        let stale = refused == Some(tokens.access_token.as_str());
        if !stale && fresh(&connection, now_micros()) {
            return Ok(Current {
                access_token: tokens.access_token,
                connection_id: connection.id,
                version: connection.version,
            });
        }
        let refused_version = stale.then_some(connection.version);
        self.refresh(server, config, connection, refused_version)
            .await
    }

    /// The connection's tokens, when it is connected.
    fn usable(
        &self,
        server: &McpServer,
        connection: &Connection,
    ) -> Result<Tokens, AttemptFailure> {
        if connection.status == ConnectionStatus::ReauthorizationRequired {
            return Err(required_of(server, &connection.reason, &connection.subject));
        }
        self.oauth.open_tokens(connection).map_err(unusable)
    }

    /// Refreshes `seen` unless someone else did: one refresh per connection
    /// in this process (the lock), one across replicas (the claim).
    async fn refresh(
        &self,
        server: &McpServer,
        config: &AuthorizationCode,
        seen: Connection,
        refused_version: Option<i64>,
    ) -> Result<Current, AttemptFailure> {
        let flight = {
            let mut flights = self.flights.lock().map_err(|_| poisoned())?;
            flights.entry(seen.id.clone()).or_default().clone()
        };
        let outcome = {
            let _one_at_a_time = flight.lock().await;
            self.refresh_once(server, config, &seen, refused_version)
                .await
        };
        // The last one out removes the lock (the map holds one reference).
        if let Ok(mut flights) = self.flights.lock()
            && Arc::strong_count(&flight) == 2
        {
            flights.remove(&seen.id);
        }
        outcome
    }

    async fn refresh_once(
        &self,
        server: &McpServer,
        config: &AuthorizationCode,
        seen: &Connection,
        refused_version: Option<i64>,
    ) -> Result<Current, AttemptFailure> {
        let give_up = Instant::now() + self.wait;
        let mut pause = POLL_FIRST;
        loop {
            // Read again: a refresh this process or another replica finished
            // while we waited is used, not repeated. A reconnection replaces
            // the row (a new id): it is read by server and subject.
            let connection = self
                .oauth
                .store()
                .get_oauth_connection(&seen.server_id, &seen.subject)
                .await
                .map_err(unusable)?
                .ok_or_else(|| {
                    required_of(server, "the OAuth connection was deleted", &seen.subject)
                })?;
            let tokens = self.usable(server, &connection)?;
            let now = now_micros();
            let moved_on = connection.id != seen.id || Some(connection.version) != refused_version;
            if moved_on && fresh(&connection, now) {
                return Ok(Current {
                    access_token: tokens.access_token,
                    connection_id: connection.id,
                    version: connection.version,
                });
            }
            let claimed = self
                .oauth
                .store()
                .claim_oauth_refresh(
                    &connection.id,
                    connection.version,
                    &self.instance_id,
                    now,
                    now + micros(self.wait + CLAIM_SLACK),
                )
                .await
                .map_err(unusable)?;
            if claimed {
                return self
                    .refresh_claimed(server, config, connection, tokens)
                    .await;
            }
            // Another replica is refreshing: wait for its new version.
            if Instant::now() + pause > give_up {
                return Err(AttemptFailure::Upstream(DiscoveryError {
                    failure: UpstreamFailure::Unreachable,
                    message: "timed out waiting for another replica's OAuth token refresh".into(),
                }));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    /// Refreshes a connection this replica claimed, and stores the outcome.
    async fn refresh_claimed(
        &self,
        server: &McpServer,
        config: &AuthorizationCode,
        connection: Connection,
        tokens: Tokens,
    ) -> Result<Current, AttemptFailure> {
        let store = self.oauth.store();
        let owner = &self.instance_id;
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            let reason = "the access token expired and the authorization server issued no \
                          refresh token";
            self.refused(server, &connection, reason).await?;
            return Err(required_of(server, reason, &connection.subject));
        };
        let client = match self
            .identity(server, config, connection.client.as_deref())
            .await
        {
            Ok(client) => client,
            Err(err) => {
                let _ = store
                    .release_oauth_claim(&connection.id, connection.version, owner)
                    .await;
                return Err(unusable(err));
            }
        };
        let answer = self
            .http
            .refresh(
                &connection.token_endpoint,
                &client,
                &refresh_token,
                &connection.resource,
            )
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(refusal @ Refusal::Refused { .. }) => {
                let reason = refusal.message("refresh token");
                self.refused(server, &connection, &reason).await?;
                return Err(required_of(server, &reason, &connection.subject));
            }
            Err(Refusal::Failed(err)) => {
                count("failed");
                tracing::warn!(server_id = %server.id, error = %err, "oauth token refresh failed; next request retries");
                let _ = store
                    .release_oauth_claim(&connection.id, connection.version, owner)
                    .await;
                return Err(AttemptFailure::Upstream(err));
            }
        };
        let at = now_micros();
        let renewed = Tokens {
            access_token: answer.access_token.clone(),
            // Rotation: a new refresh token replaces the old one.
            refresh_token: answer.refresh_token.or(tokens.refresh_token),
        };
        let outcome = Refreshed::Tokens {
            sealed_tokens: self
                .oauth
                .seal_tokens(&connection.id, &renewed)
                .map_err(unusable)?,
            access_expires_at: answer.expires_in.map(|s| at + seconds(s)),
            scopes: answer.scopes.unwrap_or_else(|| connection.scopes.clone()),
            at,
        };
        let stored = store
            .finish_oauth_refresh(&connection.id, connection.version, owner, &outcome, None)
            .await
            .map_err(unusable)?;
        if !stored {
            // Our claim expired and another replica moved on: its tokens are
            // the connection's; ours still work until they expire.
            tracing::warn!(server_id = %server.id, "an oauth refresh outlived its claim");
        }
        count("succeeded");
        tracing::info!(server_id = %server.id, connection_id = %connection.id, "oauth access token refreshed");
        Ok(Current {
            access_token: renewed.access_token,
            connection_id: connection.id,
            version: connection.version + 1,
        })
    }

    /// Records a refused refresh: the connection needs re-authorization.
    async fn refused(
        &self,
        server: &McpServer,
        connection: &Connection,
        reason: &str,
    ) -> Result<(), AttemptFailure> {
        count("reauthorization_required");
        tracing::warn!(server_id = %server.id, connection_id = %connection.id, reason, "oauth refresh refused: re-authorization required");
        let changes = vec![FieldChange {
            field: "oauth_connection.status".into(),
            old: Some("connected".into()),
            new: Some(ConnectionStatus::ReauthorizationRequired.as_str().into()),
            secret: false,
        }];
        let event = system_event(Action::ServerOAuthRefreshFailed, server, changes);
        let outcome = Refreshed::Refused {
            reason: reason.to_owned(),
        };
        self.oauth
            .store()
            .finish_oauth_refresh(
                &connection.id,
                connection.version,
                &self.instance_id,
                &outcome,
                Some(&event),
            )
            .await
            .map_err(unusable)?;
        Ok(())
    }

    /// The identity the service presents at the token endpoint: the
    /// registered client `registered`, or the configured one.
    pub async fn identity(
        &self,
        server: &McpServer,
        config: &AuthorizationCode,
        registered: Option<&str>,
    ) -> Result<ClientIdentity, Error> {
        if let Some(id) = registered {
            let client = self
                .oauth
                .store()
                .get_oauth_client(id)
                .await?
                .ok_or_else(|| {
                    Error::CredentialsUnusable(format!(
                        "the OAuth client {id} registered for server {} is gone; authorize again",
                        server.id
                    ))
                })?;
            return self.oauth.open_client(&client);
        }
        let client_id = config.client_id.clone().ok_or_else(|| {
            Error::CredentialsUnusable(format!(
                "server {} no longer has the client_id its OAuth connection was made with; \
                 authorize again",
                server.id
            ))
        })?;
        let client_secret = match &config.client_secret {
            None => None,
            Some(ClientSecret::Value(value)) => Some(value.clone()),
            Some(ClientSecret::Secret(reference)) => Some(
                self.servers
                    .secrets()
                    .open(server.organization_id.as_deref(), reference)
                    .await?,
            ),
        };
        Ok(ClientIdentity {
            auth: if client_secret.is_some() {
                ClientAuth::Basic
            } else {
                ClientAuth::None
            },
            client_id,
            client_secret,
        })
    }
}

/// Whether the connection's access token may still be sent at `now`: it
/// does not expire within the margin (a third of its lifetime when shorter
/// than that), or its expiry is unknown.
pub fn fresh(connection: &Connection, now: Micros) -> bool {
    let Some(expires) = connection.access_expires_at else {
        return true;
    };
    let issued = connection.refreshed_at.unwrap_or(connection.connected_at);
    let lifetime = (expires - issued).max(0);
    let margin = micros(MARGIN).min(lifetime / 3);
    now < expires - margin
}

/// A sync or call that cannot go on until someone authorizes the server.
fn required(server: &McpServer, why: &str) -> AttemptFailure {
    required_of(server, why, "")
}

/// [`required`] for the connection of `subject` (empty: the organization's),
/// which that end user must make again.
fn required_of(server: &McpServer, why: &str, subject: &str) -> AttemptFailure {
    let who = if subject.is_empty() {
        String::new()
    } else {
        format!(" as end user {subject:?} (x-mcp-registry-subject)")
    };
    auth_required(format!(
        "server {} needs an OAuth authorization: {why}; run StartOAuthAuthorization and \
         CompleteOAuthAuthorization (OAuthService){who}",
        server.id
    ))
}

/// No connection serves a request of `requester`: nobody connected the
/// server, or, for a per-subject server called through the gateway, the
/// call names no end user or its end user has not connected.
fn missing(server: &McpServer, scope: TokenScope, requester: Requester<'_>) -> AttemptFailure {
    match (scope, requester) {
        (TokenScope::Subject, Requester::Caller(None)) => auth_required(format!(
            "server {} keeps one OAuth connection per end user (token scope SUBJECT) and this call \
             acts for none: call with a service key (acts_for_users) naming the user in \
             x-mcp-registry-subject, once that user has connected with StartOAuthAuthorization and \
             CompleteOAuthAuthorization (OAuthService)",
            server.id
        )),
        (TokenScope::Subject, Requester::Caller(Some(subject))) => required_of(
            server,
            &format!("end user {subject:?} has not connected it (token scope SUBJECT)"),
            subject,
        ),
        _ => required(
            server,
            "nobody has authorized the service yet (no OAuth connection)",
        ),
    }
}

fn auth_required(message: String) -> AttemptFailure {
    AttemptFailure::Upstream(DiscoveryError {
        failure: UpstreamFailure::AuthRequired,
        message,
    })
}

fn unusable(err: Error) -> AttemptFailure {
    AttemptFailure::Credentials(err.to_string())
}

fn poisoned() -> AttemptFailure {
    AttemptFailure::Credentials("the oauth refresh locks are poisoned".into())
}

/// Counts a refresh by outcome.
fn count(outcome: &'static str) {
    metrics::counter!("mcp_registry_oauth_token_refreshes_total", "outcome" => outcome)
        .increment(1);
}

fn micros(duration: Duration) -> Micros {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn seconds(s: u64) -> Micros {
    i64::try_from(s)
        .unwrap_or(i64::MAX / 2_000_000)
        .saturating_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(connected_at: Micros, expires: Option<Micros>) -> Connection {
        Connection {
            id: "otk_1".into(),
            server_id: "mcp_1".into(),
            scope: "org_1".into(),
            subject: String::new(),
            issuer: "https://as.example.com".into(),
            token_endpoint: "https://as.example.com/token".into(),
            revocation_endpoint: None,
            resource: "https://mcp.example.com/mcp".into(),
            client: None,
            sealed_tokens: String::new(),
            access_expires_at: expires,
            scopes: Vec::new(),
            status: ConnectionStatus::Connected,
            reason: String::new(),
            connected_by: "key_1".into(),
            connected_at,
            refreshed_at: None,
            version: 1,
        }
    }

    #[test]
    fn tokens_are_refreshed_a_margin_before_they_expire() {
        let hour = 3_600_000_000;
        let long = connection(0, Some(hour));
        assert!(fresh(&long, hour - 31_000_000));
        assert!(!fresh(&long, hour - 29_000_000));
        // A six-second token is refreshed after four seconds.
        let short = connection(0, Some(6_000_000));
        assert!(fresh(&short, 3_900_000));
        assert!(!fresh(&short, 4_100_000));
        // Without an expiry a token is used until refused.
        assert!(fresh(&connection(0, None), i64::MAX));
    }
}
