//! OAuth connections to upstream servers (`AuthType::OAuth2AuthorizationCode`):
//! the model ([`Connection`], [`PendingAuthorization`], [`RegisteredClient`]),
//! who may make, read and delete a connection ([`OAuth::owner_for_write`],
//! [`OAuth::owner_for_read`]), the redirect URI allow-list, and the sealing of
//! everything secret in them: tokens (the connection id as associated data),
//! registered clients (the client row id) and the PKCE verifier of a pending
//! authorization (the state's hash). The HTTP side of the flow (discovery,
//! registration, token endpoint) is the sync engine's (`crate::sync::oauth`).
//!
//! Plaintext tokens, client secrets and verifiers exist only in memory, in
//! types without a `Debug` that prints them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::crypto::Keyring;
use crate::error::Error;
use crate::registry::audit::{AuditEvent, FieldChange};
use crate::registry::servers::{AuthType, Credentials, McpServer, can_edit};
use crate::registry::{Caller, Micros};
use crate::store::Store;

/// Who a connection belongs to (the server's `token_scope`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// One connection for the organization (subject `''`).
    #[default]
    Organization,
    /// One connection per end-user subject.
    Subject,
}

/// Where a stored connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    Connected,
    /// The refresh token was refused: a person must authorize again.
    ReauthorizationRequired,
}

impl ConnectionStatus {
    /// Returns the stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::ReauthorizationRequired => "reauthorization_required",
        }
    }

    /// Reads a stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "connected" => Some(Self::Connected),
            "reauthorization_required" => Some(Self::ReauthorizationRequired),
            _ => None,
        }
    }
}

/// The client secret of a pre-registered client: a value, or a stored
/// secret's value opened at use time.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientSecret {
    Value(String),
    Secret(crate::registry::secrets::SecretRef),
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value(<redacted>)"),
            Self::Secret(reference) => write!(f, "Secret({reference:?})"),
        }
    }
}

/// How the service authenticates to a token endpoint (RFC 6749 2.3, the
/// `token_endpoint_auth_method` of RFC 7591).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientAuth {
    /// A public client: `client_id` in the form, no secret.
    #[serde(rename = "none")]
    None,
    /// HTTP Basic with the client id and secret (the default of RFC 7591).
    #[default]
    #[serde(rename = "client_secret_basic")]
    Basic,
    /// `client_id` and `client_secret` in the form.
    #[serde(rename = "client_secret_post")]
    Post,
}

/// A client's identity at a token endpoint, in plaintext (not `Debug`).
#[derive(Clone, Serialize, Deserialize)]
pub struct ClientIdentity {
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub auth: ClientAuth,
}

/// A client the service registered at an authorization server (RFC 7591)
/// for a server; its identity is sealed with the row id.
#[derive(Clone, PartialEq, Eq)]
pub struct RegisteredClient {
    /// `ocl_…`.
    pub id: String,
    pub server_id: String,
    pub issuer: String,
    /// The redirect URIs it was registered with.
    pub redirect_uris: Vec<String>,
    pub sealed: String,
    pub created_at: Micros,
}

impl fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("id", &self.id)
            .field("server_id", &self.server_id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// What an authorization found and needs again to exchange its code, sealed
/// in its pending row (not `Debug`: it holds the PKCE verifier).
#[derive(Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The PKCE code verifier (RFC 7636).
    pub verifier: String,
    pub issuer: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// The RFC 8707 resource: the server's canonical URI.
    pub resource: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The registered client used (`ocl_…`); `None` for the configured one.
    #[serde(default)]
    pub client: Option<String>,
}

/// An authorization started and not completed yet, by the hash of its state.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    /// Hex SHA-256 of the state.
    pub state_hash: String,
    pub server_id: String,
    /// The server's organization, or `catalog`.
    pub scope: String,
    /// The subject the connection will belong to; empty for the organization.
    pub subject: String,
    pub redirect_uri: String,
    /// The sealed [`AuthorizationRequest`].
    pub sealed: String,
    pub created_by: String,
    pub created_at: Micros,
    pub expires_at: Micros,
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("server_id", &self.server_id)
            .field("subject", &self.subject)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An access token and the refresh token that renews it, in plaintext (not
/// `Debug`).
#[derive(Clone, Serialize, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// A stored connection (tokens sealed with its id).
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// `otk_…`.
    pub id: String,
    pub server_id: String,
    pub scope: String,
    /// Empty for the organization's connection.
    pub subject: String,
    pub issuer: String,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub resource: String,
    /// The registered client the tokens were issued to; `None` for the one
    /// configured in the server's credentials.
    pub client: Option<String>,
    /// The sealed [`Tokens`].
    pub sealed_tokens: String,
    pub access_expires_at: Option<Micros>,
    pub scopes: Vec<String>,
    pub status: ConnectionStatus,
    /// Why re-authorization is required; empty otherwise.
    pub reason: String,
    pub connected_by: String,
    pub connected_at: Micros,
    pub refreshed_at: Option<Micros>,
    /// Counts token changes; a refresh is claimed on the version it read.
    pub version: i64,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("server_id", &self.server_id)
            .field("subject", &self.subject)
            .field("status", &self.status)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A connection as GetOAuthConnection shows it; `connection` is `None`
/// when there is none.
#[derive(Debug, Clone)]
pub struct ConnectionView {
    pub server_id: String,
    pub connection: Option<Connection>,
}

/// What a refresh of a connection came to, to store.
pub enum Refreshed {
    /// New tokens (the refresh token kept when none came back).
    Tokens {
        sealed_tokens: String,
        access_expires_at: Option<Micros>,
        scopes: Vec<String>,
        at: Micros,
    },
    /// The authorization server refused the refresh token.
    Refused { reason: String },
}

/// The deployment's OAuth settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// `--oauth-redirect-uris`: the only redirect URIs an authorization may
    /// use, compared exactly.
    pub redirect_uris: Vec<String>,
    /// How long a started authorization may be completed (10 minutes).
    pub state_ttl: Duration,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            redirect_uris: Vec::new(),
            state_ttl: DEFAULT_STATE_TTL,
        }
    }
}

/// How long a started authorization may be completed.
pub const DEFAULT_STATE_TTL: Duration = Duration::from_secs(600);

/// Checks one `--oauth-redirect-uris` entry: an absolute `http` or `https`
/// URL without fragment.
pub fn check_redirect_uri(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|err| format!("{text:?} is not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{text:?} is not an http or https URL"));
    }
    if url.fragment().is_some() {
        return Err(format!("{text:?} has a fragment"));
    }
    Ok(())
}

/// The server's authorization-code configuration.
#[derive(Clone)]
pub struct AuthorizationCode {
    pub client_id: Option<String>,
    pub client_secret: Option<ClientSecret>,
    pub scopes: Vec<String>,
    pub issuer: Option<String>,
    pub token_scope: TokenScope,
}

impl AuthorizationCode {
    /// The configuration in `credentials`, when they are for this auth type.
    pub fn of(credentials: Credentials) -> Option<Self> {
        match credentials {
            Credentials::OAuth2AuthorizationCode {
                client_id,
                client_secret,
                scopes,
                issuer,
                token_scope,
            } => Some(Self {
                client_id,
                client_secret,
                scopes,
                issuer,
                token_scope,
            }),
            _ => None,
        }
    }
}

/// The OAuth connections of servers: rights, the allow-list, sealing, and
/// the store's rows.
#[derive(Clone, Debug)]
pub struct OAuth {
    store: Store,
    keyring: Arc<Keyring>,
    settings: Arc<OAuthSettings>,
}

impl OAuth {
    pub fn new(store: Store, keyring: Arc<Keyring>, settings: OAuthSettings) -> Self {
        Self {
            store,
            keyring,
            settings: Arc::new(settings),
        }
    }

    /// The deployment's settings.
    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }

    /// The store, for the engine's reads and writes of connections.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// INVALID_ARGUMENT on `redirect_uri` unless it is exactly one of the
    /// allowed redirect URIs.
    pub fn check_redirect(&self, redirect_uri: &str) -> Result<(), Error> {
        if redirect_uri.is_empty() {
            return Err(Error::invalid("redirect_uri", "is required"));
        }
        if self
            .settings
            .redirect_uris
            .iter()
            .any(|r| r == redirect_uri)
        {
            return Ok(());
        }
        Err(Error::invalid(
            "redirect_uri",
            if self.settings.redirect_uris.is_empty() {
                "is not allowed: this deployment allows no redirect URI (--oauth-redirect-uris)"
                    .to_owned()
            } else {
                format!(
                    "is not one of the deployment's --oauth-redirect-uris ({} allowed)",
                    self.settings.redirect_uris.len()
                )
            },
        ))
    }

    /// The subject (empty: the organization) whose connection `caller` makes
    /// or deletes on `server`: the rights of a write. An organization-wide
    /// connection needs a key that may change the server; a per-subject one a
    /// writing key of the server's organization acting for a subject.
    pub fn owner_for_write(
        caller: &Caller,
        server: &McpServer,
        scope: TokenScope,
    ) -> Result<String, Error> {
        caller.require_write()?;
        match scope {
            TokenScope::Organization => {
                if !can_edit(caller, server) {
                    return Err(Error::PermissionDenied(
                        "only an ADMIN key or the server's owner may connect or disconnect it \
                         (organization-wide OAuth connection)"
                            .into(),
                    ));
                }
                Ok(String::new())
            }
            TokenScope::Subject => {
                if caller.organization_id().is_none()
                    || caller.organization_id() != server.organization_id.as_deref()
                {
                    return Err(Error::PermissionDenied(
                        "per-subject OAuth connections belong to the end users of the server's \
                         organization"
                            .into(),
                    ));
                }
                subject_of(caller).map(str::to_owned)
            }
        }
    }

    /// The subject whose connection `caller` reads on a server it sees:
    /// `Some("")` for an organization-wide one, `Some(subject)` for the
    /// caller's own, `None` for "the one syncs use" (a per-subject server
    /// read without a subject).
    pub fn owner_for_read(caller: &Caller, scope: TokenScope) -> Option<String> {
        match scope {
            TokenScope::Organization => Some(String::new()),
            TokenScope::Subject => caller.subject().map(str::to_owned),
        }
    }

    /// Seals a pending authorization's request with its state's hash.
    pub fn seal_request(
        &self,
        state_hash: &str,
        request: &AuthorizationRequest,
    ) -> Result<String, Error> {
        self.seal(request, state_hash)
    }

    /// Opens a pending authorization's request.
    pub fn open_request(
        &self,
        pending: &PendingAuthorization,
    ) -> Result<AuthorizationRequest, Error> {
        self.open(
            &pending.sealed,
            &pending.state_hash,
            "authorization request",
        )
    }

    /// Seals a connection's tokens with its id.
    pub fn seal_tokens(&self, connection_id: &str, tokens: &Tokens) -> Result<String, Error> {
        self.seal(tokens, connection_id)
    }

    /// Opens a connection's tokens.
    pub fn open_tokens(&self, connection: &Connection) -> Result<Tokens, Error> {
        self.open(&connection.sealed_tokens, &connection.id, "tokens")
    }

    /// Seals a registered client's identity with its row id.
    pub fn seal_client(&self, client_id: &str, identity: &ClientIdentity) -> Result<String, Error> {
        self.seal(identity, client_id)
    }

    /// Opens a registered client's identity.
    pub fn open_client(&self, client: &RegisteredClient) -> Result<ClientIdentity, Error> {
        self.open(&client.sealed, &client.id, "registered client")
    }

    fn seal(&self, value: &impl Serialize, associated: &str) -> Result<String, Error> {
        let plaintext = serde_json::to_vec(value).map_err(Error::internal)?;
        self.keyring
            .seal(&plaintext, associated.as_bytes())
            .map_err(Error::internal)
    }

    fn open<T: serde::de::DeserializeOwned>(
        &self,
        sealed: &str,
        associated: &str,
        what: &str,
    ) -> Result<T, Error> {
        let unusable = |cause: String| {
            Error::CredentialsUnusable(format!(
                "the stored OAuth {what} cannot be decrypted ({cause}); authorize the server again"
            ))
        };
        let plaintext = self
            .keyring
            .open(sealed, associated.as_bytes())
            .map_err(|err| unusable(err.to_string()))?;
        serde_json::from_slice(&plaintext).map_err(|_| unusable("it does not parse".into()))
    }

    /// Returns a random string of `bytes` random bytes, base64url without
    /// padding (states, PKCE verifiers).
    pub fn random_token(&self, bytes: usize) -> Result<String, Error> {
        use base64::Engine;
        let mut buf = vec![0u8; bytes];
        self.keyring.random(&mut buf).map_err(Error::internal)?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
    }

    /// The connection an upstream request for `requester` uses on `server`:
    /// the organization's whoever asks; for a per-subject server, a caller's
    /// subject's own (none without a subject: never another user's), and for
    /// a sync the connection of the subject that connected most recently (a
    /// connected one first).
    pub async fn connection_in_use(
        &self,
        server: &McpServer,
        scope: TokenScope,
        requester: Requester<'_>,
    ) -> Result<Option<Connection>, Error> {
        match (scope, requester) {
            (TokenScope::Organization, _) => self.store.get_oauth_connection(&server.id, "").await,
            (TokenScope::Subject, Requester::Caller(None)) => Ok(None),
            (TokenScope::Subject, Requester::Caller(Some(subject))) => {
                self.store.get_oauth_connection(&server.id, subject).await
            }
            (TokenScope::Subject, Requester::Sync) => {
                let mut all = self.store.oauth_connections_of(&server.id).await?;
                all.retain(|c| !c.subject.is_empty());
                all.sort_by_key(|c| (c.status == ConnectionStatus::Connected, c.connected_at));
                Ok(all.pop())
            }
        }
    }
}

/// Who an upstream request is made for, which decides the connection a
/// per-subject server's request uses ([`OAuth::connection_in_use`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester<'a> {
    /// A sync, a watch or a read without a subject: no end user; a
    /// per-subject server uses the subject that connected most recently.
    Sync,
    /// A pack gateway caller, acting for this end user (`None`: for nobody):
    /// a per-subject server uses only that subject's own connection.
    Caller(Option<&'a str>),
}

/// The subject a per-subject connection belongs to: the caller's, which it
/// must have.
fn subject_of(caller: &Caller) -> Result<&str, Error> {
    caller.subject().ok_or_else(|| {
        Error::FailedPrecondition(
            "this server keeps one OAuth connection per end user (token scope SUBJECT): call \
             with a service key and the user in x-mcp-registry-subject"
                .into(),
        )
    })
}

/// FAILED_PRECONDITION unless `server` authenticates with OAuth 2.1
/// authorization codes.
pub fn require_authorization_code(server: &McpServer) -> Result<(), Error> {
    if server.auth_type == AuthType::OAuth2AuthorizationCode {
        return Ok(());
    }
    Err(Error::FailedPrecondition(format!(
        "server {} has auth type {}; OAuth connections are for AUTH_TYPE_OAUTH2_AUTHORIZATION_CODE",
        server.id,
        server.auth_type.as_str()
    )))
}

/// The change list of an OAuth audit event: what is not secret about the
/// connection (never a token, code, state or verifier).
pub fn connection_changes(subject: &str, issuer: &str, scopes: &[String]) -> Vec<FieldChange> {
    let field = |name: &str, value: serde_json::Value| FieldChange {
        field: format!("oauth_connection.{name}"),
        old: None,
        new: Some(value),
        secret: false,
    };
    let mut changes = vec![field("issuer", issuer.into())];
    if !subject.is_empty() {
        changes.push(field("subject", subject.into()));
    }
    if !scopes.is_empty() {
        changes.push(field("scopes", scopes.into()));
    }
    changes
}

/// An audit event the service records on its own (a refresh refused in a
/// sync or a gateway call), with actor `system`.
pub fn system_event(
    action: crate::registry::audit::Action,
    server: &McpServer,
    changes: Vec<FieldChange>,
) -> AuditEvent {
    AuditEvent {
        id: crate::registry::new_id("aud"),
        organization_id: server.organization_id.clone(),
        at: crate::registry::now_micros(),
        actor: SYSTEM_ACTOR.to_owned(),
        actor_subject: None,
        request_id: crate::telemetry::current_request_id(),
        action: action.as_str().to_owned(),
        resource_type: action.resource_type(),
        resource_id: server.id.clone(),
        changes,
    }
}

/// The actor of what the service does on its own.
pub const SYSTEM_ACTOR: &str = "system";
