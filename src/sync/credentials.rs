//! The request headers of a sync: plain headers, sealed (encrypted) headers
//! opened for the one sync, and what the server's credentials add, including
//! OAuth2 client-credentials tokens, cached until shortly before they expire,
//! and the access tokens of OAuth connections ([`OAuthTokens`]: the one the
//! [`Requester`] uses, which for a gateway call to a per-subject server is the
//! calling end user's own). Plaintext secrets live only in the returned
//! [`HeaderMap`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use crate::error::UpstreamFailure;
use crate::registry::oauth::{AuthorizationCode, Requester, TokenScope};
use crate::registry::servers::{
    AuthType, Credentials, DEFAULT_API_KEY_HEADER, McpServer, SecretRef, Servers, StoredHeaderValue,
};
use crate::sync::client::DiscoveryError;
use crate::sync::guard::GuardPolicy;
use crate::sync::http::check_url;
use crate::sync::lifecycle::AttemptFailure;
use crate::sync::oauth::tokens::OAuthTokens;

/// How long before its expiry a cached OAuth2 token is renewed.
const OAUTH2_MARGIN: Duration = Duration::from_secs(30);

/// Where a pooled gateway session belongs, and what it was opened for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// The pool's slot: the server id, plus the end user for a per-subject
    /// OAuth server.
    pub slot: String,
    /// What the session's headers depend on; another value opens a new one.
    pub fingerprint: String,
}

/// Builds the request headers of syncs.
pub struct HeaderBuilder {
    /// Opens sealed headers and credentials (it holds the keyring).
    servers: Servers,
    /// Sends token requests: the guarded upstream client, so that a token
    /// url obeys the same SSRF rules as a server url.
    client: reqwest::Client,
    /// Checked on the token url before any request is sent.
    policy: GuardPolicy,
    /// Longest a token request may take (the sync deadline).
    deadline: Duration,
    /// OAuth2 access tokens by client (a hash of token url, client id,
    /// secret and scopes), each with the instant it stops being reused; so
    /// that every sync does not fetch a new token.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// The access tokens of OAuth connections (authorization code).
    oauth: OAuthTokens,
}

impl HeaderBuilder {
    /// Returns a builder that opens secrets with `servers` and fetches
    /// tokens with `client` under `policy`, each within `deadline`.
    pub fn new(
        servers: Servers,
        client: reqwest::Client,
        policy: GuardPolicy,
        deadline: Duration,
        oauth: OAuthTokens,
    ) -> Self {
        Self {
            servers,
            client,
            policy,
            deadline,
            tokens: Mutex::new(HashMap::new()),
            oauth,
        }
    }

    /// The access tokens of OAuth connections.
    pub fn oauth_tokens(&self) -> &OAuthTokens {
        &self.oauth
    }

    /// After the server refused the credentials in `sent` (the headers of
    /// the refused request; `None`: the ones it would get now): whether to
    /// try once more. OAuth connections refresh the refused token of the
    /// connection `requester` uses (unless it was replaced meanwhile) and say
    /// yes; cached client-credentials tokens are forgotten, for the next sync.
    pub async fn after_refusal(
        &self,
        server: &McpServer,
        sent: Option<&HeaderMap>,
        requester: Requester<'_>,
    ) -> Result<bool, AttemptFailure> {
        if server.auth_type != AuthType::OAuth2AuthorizationCode {
            self.forget_tokens().await;
            return Ok(false);
        }
        let config = self.authorization_code(server)?;
        let sent = sent
            .and_then(|headers| headers.get(AUTHORIZATION))
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::to_owned);
        let refused = match sent {
            Some(token) => token,
            None => {
                self.oauth
                    .current(server, &config, None, requester)
                    .await?
                    .access_token
            }
        };
        (self.oauth)
            .current(server, &config, Some(&refused), requester)
            .await?;
        Ok(true)
    }

    /// The authorization-code configuration of an OAuth server.
    fn authorization_code(&self, server: &McpServer) -> Result<AuthorizationCode, AttemptFailure> {
        let sealed = server.sealed_credentials.as_deref().unwrap_or_default();
        let credentials = self
            .servers
            .open_credentials(&server.id, sealed)
            .map_err(|err| AttemptFailure::Credentials(err.to_string()))?;
        AuthorizationCode::of(credentials).ok_or_else(|| {
            AttemptFailure::Credentials(format!(
                "server {} has no OAuth authorization-code configuration",
                server.id
            ))
        })
    }

    /// Forgets every cached token: a token refused before its expiry
    /// (revoked, rotated) must not keep failing syncs until then.
    pub async fn forget_tokens(&self) {
        self.tokens.lock().await.clear();
    }

    /// Returns the request headers of a request for `requester`: the plain
    /// ones, the opened sealed ones, and what the credentials add.
    pub async fn headers(
        &self,
        server: &McpServer,
        requester: Requester<'_>,
    ) -> Result<HeaderMap, AttemptFailure> {
        let servers = &self.servers;
        let mut headers = HeaderMap::new();
        for header in &server.request_headers {
            let (value, sensitive) = match &header.value {
                StoredHeaderValue::Plain(value) => (value.clone(), false),
                StoredHeaderValue::Sealed(sealed) => (
                    servers
                        .open_secret(&server.id, sealed)
                        .map_err(|err| AttemptFailure::Credentials(err.to_string()))?,
                    true,
                ),
                StoredHeaderValue::Secret(reference) => {
                    (self.open_reference(server, reference).await?, true)
                }
            };
            insert(&mut headers, &header.name, &value, sensitive)?;
        }
        let Some(sealed) = &server.sealed_credentials else {
            return Ok(headers);
        };
        let credentials = servers
            .open_credentials(&server.id, sealed)
            .map_err(|err| AttemptFailure::Credentials(err.to_string()))?;
        match credentials {
            Credentials::ApiKey { key, header_name } => {
                insert(
                    &mut headers,
                    header_name.as_deref().unwrap_or(DEFAULT_API_KEY_HEADER),
                    &key,
                    true,
                )?;
            }
            Credentials::BearerToken { token } => {
                let value = format!("Bearer {token}");
                insert(&mut headers, AUTHORIZATION.as_str(), &value, true)?;
            }
            Credentials::ApiKeySecret {
                secret,
                header_name,
            } => {
                let key = self.open_reference(server, &secret).await?;
                insert(
                    &mut headers,
                    header_name.as_deref().unwrap_or(DEFAULT_API_KEY_HEADER),
                    &key,
                    true,
                )?;
            }
            Credentials::BearerTokenSecret { secret } => {
                let token = self.open_reference(server, &secret).await?;
                let value = format!("Bearer {token}");
                insert(&mut headers, AUTHORIZATION.as_str(), &value, true)?;
            }
            Credentials::OAuth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scopes,
            } => {
                let token = self.oauth2_token(&token_url, &client_id, &client_secret, &scopes);
                let value = format!("Bearer {}", token.await?);
                insert(&mut headers, AUTHORIZATION.as_str(), &value, true)?;
            }
            Credentials::OAuth2AuthorizationCode {
                client_id,
                client_secret,
                scopes,
                issuer,
                token_scope,
            } => {
                let config = AuthorizationCode {
                    client_id,
                    client_secret,
                    scopes,
                    issuer,
                    token_scope,
                };
                let current = self.oauth.current(server, &config, None, requester);
                let value = format!("Bearer {}", current.await?.access_token);
                insert(&mut headers, AUTHORIZATION.as_str(), &value, true)?;
            }
        }
        Ok(headers)
    }

    /// Which pooled session a gateway request for `requester` uses, and
    /// what its headers depend on: the server's `updated_at`, the OAuth
    /// connection and token version it uses, and the revision of each stored
    /// secret it references (one indexed read, only for servers that
    /// reference secrets), so that a rotation or a refresh opens a new
    /// session with the new values. A per-subject server's sessions are the
    /// subject's own: users never share one.
    pub async fn session_key(
        &self,
        server: &McpServer,
        requester: Requester<'_>,
    ) -> Result<SessionKey, AttemptFailure> {
        let mut slot = server.id.clone();
        let mut fingerprint = server.updated_at.to_string();
        if server.auth_type == AuthType::OAuth2AuthorizationCode {
            // A refreshed or reconnected token opens a new session (a fresh
            // token is refreshed here first, if needed).
            let config = self.authorization_code(server)?;
            // Boxed: a large future, and only OAuth servers' calls wait on it.
            let current = Box::pin(self.oauth.current(server, &config, None, requester)).await?;
            fingerprint.push_str(&format!(
                " oauth:{}@{}",
                current.connection_id, current.version
            ));
            if let (TokenScope::Subject, Requester::Caller(Some(subject))) =
                (config.token_scope, requester)
            {
                // Server ids have no spaces: no subject makes another's slot.
                slot.push_str(&format!(" subject:{subject}"));
            }
        }
        let referenced: Vec<String> = (server.referenced_secrets().into_iter())
            .map(str::to_owned)
            .collect();
        if !referenced.is_empty() {
            let revisions = Box::pin(self.servers.secrets().revisions(&referenced))
                .await
                .map_err(|err| AttemptFailure::Credentials(err.to_string()))?;
            for (id, revision) in revisions {
                fingerprint.push_str(&format!(" {id}@{revision}"));
            }
        }
        Ok(SessionKey { slot, fingerprint })
    }

    /// Opens the stored secret value a server's credentials or header name,
    /// now (so a rotation takes effect at the next request).
    async fn open_reference(
        &self,
        server: &McpServer,
        reference: &SecretRef,
    ) -> Result<String, AttemptFailure> {
        self.servers
            .secrets()
            .open(server.organization_id.as_deref(), reference)
            .await
            .map_err(|err| AttemptFailure::Credentials(err.to_string()))
    }

    /// Returns an access token for the client: a cached one while it is
    /// valid, else a new one from the token endpoint.
    async fn oauth2_token(
        &self,
        token_url: &str,
        client_id: &str,
        client_secret: &str,
        scopes: &[String],
    ) -> Result<String, AttemptFailure> {
        let key = hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            format!(
                "{token_url}\n{client_id}\n{client_secret}\n{}",
                scopes.join(" ")
            )
            .as_bytes(),
        ));
        if let Some((token, valid_until)) = self.tokens.lock().await.get(&key)
            && Instant::now() < *valid_until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self
            .fetch_oauth2_token(token_url, client_id, client_secret, scopes)
            .await?;
        // Renew a little early, so a token never expires during a sync.
        let valid_until = Instant::now() + lifetime.saturating_sub(OAUTH2_MARGIN);
        self.tokens
            .lock()
            .await
            .insert(key, (token.clone(), valid_until));
        Ok(token)
    }

    /// Gets an access token with the client-credentials grant (RFC 6749 §4.4)
    /// and its lifetime (`expires_in`, 5 minutes when absent).
    async fn fetch_oauth2_token(
        &self,
        token_url: &str,
        client_id: &str,
        client_secret: &str,
        scopes: &[String],
    ) -> Result<(String, Duration), AttemptFailure> {
        let upstream = |failure, message: String| {
            AttemptFailure::Upstream(DiscoveryError { failure, message })
        };
        let url = Url::parse(token_url).map_err(|err| {
            upstream(
                UpstreamFailure::ProtocolError,
                format!("the OAuth2 token url does not parse: {err}"),
            )
        })?;
        check_url(&url, &self.policy)
            .map_err(|err| upstream(UpstreamFailure::Unreachable, err.to_string()))?;
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            form.append_pair("client_id", client_id);
            form.append_pair("client_secret", client_secret);
            if !scopes.is_empty() {
                form.append_pair("scope", &scopes.join(" "));
            }
            form.finish()
        };
        let response = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .timeout(self.deadline)
            .send()
            .await
            .map_err(|err| {
                upstream(
                    UpstreamFailure::Unreachable,
                    format!("OAuth2 token endpoint: {err}"),
                )
            })?;
        let status = response.status();
        if status.is_client_error() {
            return Err(upstream(
                UpstreamFailure::AuthFailed,
                format!("the OAuth2 token endpoint answered HTTP {status}"),
            ));
        }
        if !status.is_success() {
            return Err(upstream(
                UpstreamFailure::ProtocolError,
                format!("the OAuth2 token endpoint answered HTTP {status}"),
            ));
        }
        let body: Value = response.json().await.map_err(|err| {
            upstream(
                UpstreamFailure::ProtocolError,
                format!("the OAuth2 token answer is not JSON: {err}"),
            )
        })?;
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                upstream(
                    UpstreamFailure::ProtocolError,
                    "the OAuth2 token answer has no access_token".into(),
                )
            })?;
        let lifetime = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .map_or(Duration::from_secs(300), Duration::from_secs);
        Ok((token, lifetime))
    }
}

/// Adds one header; a name or value HTTP cannot carry fails the sync as a
/// protocol error.
fn insert(
    headers: &mut HeaderMap,
    name: &str,
    value: &str,
    sensitive: bool,
) -> Result<(), AttemptFailure> {
    let invalid = || {
        AttemptFailure::Upstream(DiscoveryError {
            failure: UpstreamFailure::ProtocolError,
            message: format!("header {name:?} cannot be sent"),
        })
    };
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
    let mut value = HeaderValue::from_str(value).map_err(|_| invalid())?;
    value.set_sensitive(sensitive);
    headers.insert(name, value);
    Ok(())
}
