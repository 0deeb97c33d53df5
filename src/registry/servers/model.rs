//! MCP server values.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::registry::{Micros, Role};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Returns the stable lowercase name stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parses a name made by `as_str`.
            pub fn parse(value: &str) -> Option<Self> {
                match value { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

string_enum!(
    /// How the service talks to an MCP server.
    Transport { Auto => "auto", StreamableHttp => "streamable_http", Sse => "sse" }
);
string_enum!(
    /// How the service authenticates to an MCP server.
    AuthType {
        None => "none",
        ApiKey => "api_key",
        BearerToken => "bearer_token",
        OAuth2ClientCredentials => "oauth2_client_credentials",
        OAuth2AuthorizationCode => "oauth2_authorization_code",
    }
);
string_enum!(
    /// Whether tools need an approval before packs offer them.
    ApprovalPolicy { RequireNone => "require_none", RequireAll => "require_all" }
);
string_enum!(
    /// Who may see a server.
    Visibility { Private => "private", Catalog => "catalog" }
);
string_enum!(
    /// Where a server is in its sync life cycle.
    ServerStatus {
        Pending => "pending",
        Syncing => "syncing",
        Connected => "connected",
        Error => "error",
        Disabled => "disabled",
    }
);
string_enum!(
    /// What a discovered capability is.
    CapabilityKind {
        Tool => "tool",
        Prompt => "prompt",
        Resource => "resource",
        ResourceTemplate => "resource_template",
    }
);

pub use crate::registry::oauth::{ClientSecret, TokenScope};
pub use crate::registry::secrets::SecretRef;

/// Default header of API_KEY credentials.
pub const DEFAULT_API_KEY_HEADER: &str = "X-API-Key";

/// Secrets for one auth type. Plaintext only in memory; stored sealed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Credentials {
    ApiKey {
        key: String,
        /// Header to send the key in; `X-API-Key` when unset.
        header_name: Option<String>,
    },
    BearerToken {
        token: String,
    },
    /// An API key that is a value of a stored secret, opened at use time.
    ApiKeySecret {
        secret: SecretRef,
        /// Header to send the key in; `X-API-Key` when unset.
        header_name: Option<String>,
    },
    /// A bearer token that is a value of a stored secret, opened at use time.
    BearerTokenSecret {
        secret: SecretRef,
    },
    #[serde(rename = "oauth2_client_credentials")]
    OAuth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
        scopes: Vec<String>,
    },
    /// OAuth 2.1 authorization code: how to reach the authorization server
    /// and which client to be there; the tokens are the connection's
    /// ([`crate::registry::oauth`]), not stored here.
    #[serde(rename = "oauth2_authorization_code")]
    OAuth2AuthorizationCode {
        /// A pre-registered client; `None`: dynamic client registration.
        #[serde(default)]
        client_id: Option<String>,
        #[serde(default)]
        client_secret: Option<ClientSecret>,
        #[serde(default)]
        scopes: Vec<String>,
        /// The authorization server's issuer; `None`: discovered from the
        /// server's 401.
        #[serde(default)]
        issuer: Option<String>,
        #[serde(default)]
        token_scope: TokenScope,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a secret, not even in a debug log.
        write!(f, "Credentials::{}(<redacted>)", self.auth_type().as_str())
    }
}

impl Credentials {
    /// Returns the auth type these credentials are for.
    pub fn auth_type(&self) -> AuthType {
        match self {
            Self::ApiKey { .. } | Self::ApiKeySecret { .. } => AuthType::ApiKey,
            Self::BearerToken { .. } | Self::BearerTokenSecret { .. } => AuthType::BearerToken,
            Self::OAuth2ClientCredentials { .. } => AuthType::OAuth2ClientCredentials,
            Self::OAuth2AuthorizationCode { .. } => AuthType::OAuth2AuthorizationCode,
        }
    }

    /// Returns the (lowercase) header these credentials set on requests.
    pub fn header_name(&self) -> String {
        match self {
            Self::ApiKey { header_name, .. } | Self::ApiKeySecret { header_name, .. } => {
                header_name
                    .as_deref()
                    .unwrap_or(DEFAULT_API_KEY_HEADER)
                    .to_ascii_lowercase()
            }
            Self::BearerToken { .. }
            | Self::BearerTokenSecret { .. }
            | Self::OAuth2ClientCredentials { .. }
            | Self::OAuth2AuthorizationCode { .. } => "authorization".to_owned(),
        }
    }

    /// Returns the secret these credentials take their value from, if any.
    pub fn secret_ref(&self) -> Option<&SecretRef> {
        match self {
            Self::ApiKeySecret { secret, .. } | Self::BearerTokenSecret { secret } => Some(secret),
            Self::OAuth2AuthorizationCode {
                client_secret: Some(ClientSecret::Secret(secret)),
                ..
            } => Some(secret),
            Self::OAuth2AuthorizationCode { .. }
            | Self::ApiKey { .. }
            | Self::BearerToken { .. }
            | Self::OAuth2ClientCredentials { .. } => None,
        }
    }
}

/// The value of a stored request header.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredHeaderValue {
    /// A non-sensitive value, stored as is.
    Plain(String),
    /// A sensitive value, sealed like credentials.
    Sealed(String),
    /// A value of a stored secret, opened at use time.
    Secret(SecretRef),
}

impl fmt::Debug for StoredHeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(value) => write!(f, "Plain({value:?})"),
            Self::Sealed(_) => f.write_str("Sealed(<redacted>)"),
            Self::Secret(reference) => write!(f, "Secret({reference:?})"),
        }
    }
}

/// A stored request header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHeader {
    pub name: String,
    pub value: StoredHeaderValue,
}

/// A request header as a caller sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderInput {
    pub name: String,
    pub value: HeaderInputValue,
    /// Declared secret by the caller (a `server.json` header with
    /// `isSecret`): sealed whatever its name.
    pub secret: bool,
}

/// The value of a header in a request.
#[derive(Clone, PartialEq, Eq)]
pub enum HeaderInputValue {
    /// A new value (plaintext until sealed).
    Value(String),
    /// The mask `********`: keep the value stored under this name.
    KeepStored,
    /// A value of a stored secret, opened at use time.
    Secret(SecretRef),
}

impl fmt::Debug for HeaderInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeaderInput({:?})", self.name)
    }
}

/// What a sensitive header's value looks like in responses.
pub const MASK: &str = "********";

/// Which tools packs may offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolConfiguration {
    pub enabled: bool,
    /// Empty means every tool.
    pub allowed_tools: Vec<String>,
}

/// What a server said about itself in `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ServerInfo {
    pub name: String,
    pub version: String,
    pub protocol_version: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub capabilities: serde_json::Map<String, serde_json::Value>,
}

impl ServerInfo {
    /// Whether the server said it announces changes of its tools, prompts or
    /// resources (`listChanged` in their capabilities).
    pub fn announces_changes(&self) -> bool {
        ["tools", "prompts", "resources"].iter().any(|kind| {
            self.capabilities
                .get(*kind)
                .and_then(|c| c.get("listChanged"))
                .and_then(serde_json::Value::as_bool)
                == Some(true)
        })
    }
}

/// Why the last sync failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// Why it failed (stored as an `ErrorReason` name such as `UPSTREAM_UNREACHABLE`).
    pub reason: crate::registry::runs::SyncFailure,
    pub message: String,
    pub occurred_at: Micros,
    #[serde(default)]
    pub sync_run_id: String,
}

/// A registered MCP server as stored (secrets sealed).
#[derive(Debug, Clone, PartialEq)]
pub struct McpServer {
    pub id: String,
    /// `None` for catalog servers.
    pub organization_id: Option<String>,
    pub visibility: Visibility,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub url: String,
    /// An icon name or URL ([`crate::registry::Icon`]); empty for none.
    pub icon_url: String,
    /// A page documenting the server for humans; empty for none.
    pub documentation_url: String,
    /// The official MCP Registry's name of the server (`io.github.user/weather`)
    /// when it was imported from a `server.json`; empty for none.
    pub registry_name: String,
    /// The `version` of that `server.json`; empty for none.
    pub registry_version: String,
    pub category: String,
    pub transport: Transport,
    pub auth_type: AuthType,
    /// Lowercase header name the auth type sets, when it sets one.
    pub auth_header_name: Option<String>,
    /// Sealed JSON of [`Credentials`].
    pub sealed_credentials: Option<String>,
    /// The stored secret the credentials use (shown; not itself secret).
    pub credentials_secret: Option<SecretRef>,
    pub credentials_updated_at: Option<Micros>,
    pub request_headers: Vec<StoredHeader>,
    pub approval_policy: ApprovalPolicy,
    pub tool_configuration: ToolConfiguration,
    pub config: serde_json::Map<String, serde_json::Value>,
    pub enabled: bool,
    pub status: ServerStatus,
    pub detected_transport: Option<Transport>,
    pub server_info: Option<ServerInfo>,
    pub last_synced_at: Option<Micros>,
    pub last_successful_sync_at: Option<Micros>,
    pub last_error: Option<LastError>,
    pub tool_count: i64,
    pub prompt_count: i64,
    pub resource_count: i64,
    pub resource_template_count: i64,
    /// Tool name → approved definition hash.
    pub tool_approvals: BTreeMap<String, String>,
    pub next_sync_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub created_by: String,
    pub modified_by: String,
    /// The end user a service key acted for when it created the resource
    /// (see [`crate::registry::Owner`]); `None` for a key acting for itself.
    pub created_by_subject: Option<String>,
    /// The end user a service key acted for in the last change.
    pub modified_by_subject: Option<String>,
    pub revision: i64,
}

impl McpServer {
    /// Returns the opaque version tag of this state of the server.
    pub fn etag(&self) -> String {
        crate::registry::etag_of(self.revision)
    }

    /// Returns the ids of the stored secrets the server uses (credentials
    /// and request headers), each once.
    pub fn referenced_secrets(&self) -> std::collections::BTreeSet<&str> {
        let headers = self.request_headers.iter().filter_map(|h| match &h.value {
            StoredHeaderValue::Secret(reference) => Some(reference.secret_id.as_str()),
            StoredHeaderValue::Plain(_) | StoredHeaderValue::Sealed(_) => None,
        });
        self.credentials_secret
            .iter()
            .map(|r| r.secret_id.as_str())
            .chain(headers)
            .collect()
    }

    /// Returns the uniqueness scope of the server's name.
    pub fn scope(&self) -> &str {
        self.organization_id.as_deref().unwrap_or(CATALOG_SCOPE)
    }
}

pub use crate::registry::model::CATALOG_SCOPE;

/// What the caller may do with a server, shown as `access_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The caller's role; `None` for platform-admin keys.
    pub role: Option<Role>,
    pub is_creator: bool,
    pub can_edit: bool,
}

/// A server with the caller's access to it and the packs that hold it.
#[derive(Debug, Clone)]
pub struct ServerView {
    pub server: McpServer,
    pub access: Access,
    pub pack_ids: Vec<String>,
}

/// One discovered tool, prompt, resource or resource template.
#[derive(Debug, Clone, PartialEq)]
pub struct Capability {
    pub kind: CapabilityKind,
    /// Name, URI or URI template.
    pub key: String,
    /// The item's JSON as the server sent it.
    pub definition: serde_json::Value,
    pub definition_hash: String,
    pub discovered_at: Micros,
    pub changed_at: Micros,
}

/// Approval state of a tool under its server's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolApproval {
    NotRequired,
    Approved,
    NotApproved,
    ChangedSinceApproval,
}

impl McpServer {
    /// Returns the approval state of a tool whose current hash is `hash`.
    pub fn tool_approval(&self, name: &str, hash: &str) -> ToolApproval {
        match (self.approval_policy, self.tool_approvals.get(name)) {
            (ApprovalPolicy::RequireNone, _) => ToolApproval::NotRequired,
            (ApprovalPolicy::RequireAll, None) => ToolApproval::NotApproved,
            (ApprovalPolicy::RequireAll, Some(approved)) if approved == hash => {
                ToolApproval::Approved
            }
            (ApprovalPolicy::RequireAll, Some(_)) => ToolApproval::ChangedSinceApproval,
        }
    }
}
