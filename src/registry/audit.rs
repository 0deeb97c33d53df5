//! The audit trail: one [`AuditEvent`] per mutation, written by the store in
//! the transaction of the change it records, and one [`ToolCall`] record per
//! gateway `tools/call`, written after the call by a background writer.
//!
//! The change list of an event is built here, from the domain objects before
//! and after the change (one function per resource type). A secret field
//! (credentials, sealed header values, an API key's secret) appears by name
//! only: never its value, a hash of it or its sealed form.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::Error;
use crate::pagination::{Page, PageRequest};
use crate::registry::packs::Pack;
use crate::registry::secrets::Secret;
use crate::registry::servers::{McpServer, StoredHeaderValue};
use crate::registry::{
    ApiKey, CATALOG_SCOPE, Caller, KeyScope, Micros, Organization, Role, new_id, now_micros,
};
use crate::store::Store;

/// What an audit event's resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    McpServer,
    Pack,
    Organization,
    ApiKey,
    Secret,
}

impl ResourceType {
    /// Every resource type, in the order of the proto enum.
    pub const ALL: [Self; 5] = [
        Self::McpServer,
        Self::Pack,
        Self::Organization,
        Self::ApiKey,
        Self::Secret,
    ];

    /// Returns the stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::McpServer => "mcp_server",
            Self::Pack => "pack",
            Self::Organization => "organization",
            Self::ApiKey => "api_key",
            Self::Secret => "secret",
        }
    }

    /// Parses a name made by [`ResourceType::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// One changed field of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field's path, such as `name` or `request_headers.x-team`.
    pub field: String,
    /// The value before; `None` when the field did not exist or is secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value after; `None` when the field is gone or is secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// A secret field: it changed, and nothing else is said about it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// One mutation as the audit trail records it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// `aud_` + UUIDv7: ids sort by time.
    pub id: String,
    /// The organization the resource belongs to; `None` for catalog servers,
    /// organizations and platform-admin keys.
    pub organization_id: Option<String>,
    pub at: Micros,
    /// The key id, or `cli`.
    pub actor: String,
    /// The end user the actor (a service key) acted for, if any.
    pub actor_subject: Option<String>,
    /// The gRPC or gateway request id; empty for the admin CLI.
    pub request_id: String,
    /// `<resource type>.<verb>`, such as `mcp_server.update`.
    pub action: String,
    pub resource_type: ResourceType,
    pub resource_id: String,
    pub changes: Vec<FieldChange>,
}

impl AuditEvent {
    /// An event of `caller` now, under the request being served.
    pub fn new(
        caller: &Caller,
        action: Action,
        resource_id: &str,
        organization_id: Option<&str>,
        changes: Vec<FieldChange>,
    ) -> Self {
        Self {
            id: new_id("aud"),
            organization_id: organization_id.map(str::to_owned),
            at: now_micros(),
            actor: caller.actor().to_owned(),
            actor_subject: caller.subject().map(str::to_owned),
            request_id: crate::telemetry::current_request_id(),
            action: action.as_str().to_owned(),
            resource_type: action.resource_type(),
            resource_id: resource_id.to_owned(),
            changes,
        }
    }

    /// The visibility scope the event is stored under: its organization or
    /// [`CATALOG_SCOPE`].
    pub fn scope(&self) -> &str {
        self.organization_id.as_deref().unwrap_or(CATALOG_SCOPE)
    }
}

macro_rules! actions {
    ($($variant:ident => ($type:ident, $text:literal)),+ $(,)?) => {
        /// Every action the audit trail records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Action { $($variant),+ }

        impl Action {
            /// Returns the stored name, `<resource type>.<verb>`.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Returns the type of the resource the action changes.
            pub fn resource_type(self) -> ResourceType {
                match self { $(Self::$variant => ResourceType::$type),+ }
            }
        }
    };
}

actions! {
    ServerCreate => (McpServer, "mcp_server.create"),
    ServerImport => (McpServer, "mcp_server.import"),
    ServerUpdate => (McpServer, "mcp_server.update"),
    ServerDelete => (McpServer, "mcp_server.delete"),
    ServerApproveTools => (McpServer, "mcp_server.approve_tools"),
    ServerSync => (McpServer, "mcp_server.sync"),
    ServerOAuthStart => (McpServer, "mcp_server.oauth_start"),
    ServerOAuthConnect => (McpServer, "mcp_server.oauth_connect"),
    ServerOAuthDisconnect => (McpServer, "mcp_server.oauth_disconnect"),
    ServerOAuthRefreshFailed => (McpServer, "mcp_server.oauth_refresh_failed"),
    PackCreate => (Pack, "pack.create"),
    PackUpdate => (Pack, "pack.update"),
    PackDelete => (Pack, "pack.delete"),
    PackAddServer => (Pack, "pack.add_server"),
    PackRemoveServer => (Pack, "pack.remove_server"),
    PackReplaceServers => (Pack, "pack.replace_servers"),
    PackRestore => (Pack, "pack.restore"),
    PackUpdateTools => (Pack, "pack.update_tools"),
    OrganizationCreate => (Organization, "organization.create"),
    OrganizationUpdate => (Organization, "organization.update"),
    ApiKeyCreate => (ApiKey, "api_key.create"),
    ApiKeyRevoke => (ApiKey, "api_key.revoke"),
    SecretCreate => (Secret, "secret.create"),
    SecretUpdate => (Secret, "secret.update"),
    SecretRotate => (Secret, "secret.rotate"),
    SecretDelete => (Secret, "secret.delete"),
}

/// A field of a resource as the diff sees it.
enum Field {
    Plain(Value),
    /// A secret, by something that changes when it does (a sealed blob or
    /// a hash); compared in memory, never recorded.
    Secret(String),
}

/// The changes between two lists of named fields; `None` is "no resource"
/// (a create or a delete).
fn diff(old: Option<Vec<(String, Field)>>, new: Option<Vec<(String, Field)>>) -> Vec<FieldChange> {
    let old = old.unwrap_or_default();
    let mut new = new.unwrap_or_default();
    let mut changes = Vec::new();
    for (name, before) in old {
        let after = new
            .iter()
            .position(|(n, _)| *n == name)
            .map(|i| new.remove(i).1);
        match (before, after) {
            (Field::Plain(a), Some(Field::Plain(b))) if a == b => {}
            (Field::Secret(a), Some(Field::Secret(b))) if a == b => {}
            (Field::Plain(a), Some(Field::Plain(b))) => changes.push(plain(name, Some(a), Some(b))),
            (Field::Plain(a), None) => changes.push(plain(name, Some(a), None)),
            _ => changes.push(secret(name)),
        }
    }
    for (name, after) in new {
        changes.push(match after {
            Field::Plain(b) => plain(name, None, Some(b)),
            Field::Secret(_) => secret(name),
        });
    }
    changes
}

fn plain(field: String, old: Option<Value>, new: Option<Value>) -> FieldChange {
    FieldChange {
        field,
        old,
        new,
        secret: false,
    }
}

fn secret(field: String) -> FieldChange {
    FieldChange {
        field,
        old: None,
        new: None,
        secret: true,
    }
}

fn field(name: &str, value: Value) -> (String, Field) {
    (name.to_owned(), Field::Plain(value))
}

/// The changes of a server between `old` and `new` (`None`: created or deleted).
/// What syncs own (status, counts, server info) is not the caller's change
/// and is left out; so are the revision and timestamps.
pub fn server_changes(old: Option<&McpServer>, new: Option<&McpServer>) -> Vec<FieldChange> {
    diff(old.map(server_fields), new.map(server_fields))
}

fn server_fields(s: &McpServer) -> Vec<(String, Field)> {
    let mut fields = vec![
        field("name", json!(s.name)),
        field("display_name", json!(s.display_name)),
        field("description", json!(s.description)),
        field("url", json!(s.url)),
        field("icon_url", json!(s.icon_url)),
        field("documentation_url", json!(s.documentation_url)),
        field("registry_name", json!(s.registry_name)),
        field("registry_version", json!(s.registry_version)),
        field("category", json!(s.category)),
        field("visibility", json!(s.visibility.as_str())),
        field("transport", json!(s.transport.as_str())),
        field("auth_type", json!(s.auth_type.as_str())),
        field("approval_policy", json!(s.approval_policy.as_str())),
        field(
            "tool_configuration.enabled",
            json!(s.tool_configuration.enabled),
        ),
        field(
            "tool_configuration.allowed_tools",
            json!(s.tool_configuration.allowed_tools),
        ),
        field("config", Value::Object(s.config.clone())),
        field("enabled", json!(s.enabled)),
        field("tool_approvals", json!(s.tool_approvals)),
    ];
    if let Some(sealed) = &s.sealed_credentials {
        fields.push(("credentials".to_owned(), Field::Secret(sealed.clone())));
    }
    if let Some(reference) = &s.credentials_secret {
        fields.push(field("credentials_secret", json!(reference)));
    }
    for header in &s.request_headers {
        let name = format!("request_headers.{}", header.name);
        fields.push(match &header.value {
            StoredHeaderValue::Plain(value) => (name, Field::Plain(json!(value))),
            StoredHeaderValue::Sealed(sealed) => (name, Field::Secret(sealed.clone())),
            StoredHeaderValue::Secret(reference) => (name, Field::Plain(json!(reference))),
        });
    }
    fields
}

/// The changes of a pack between `old` and `new` (`None`: created or deleted):
/// name, description, version, the ordered members and each member's tool
/// settings (`members.<server id>.tool_settings`).
pub fn pack_changes(old: Option<&Pack>, new: Option<&Pack>) -> Vec<FieldChange> {
    diff(old.map(pack_fields), new.map(pack_fields))
}

fn pack_fields(p: &Pack) -> Vec<(String, Field)> {
    let members: Vec<Value> = (p.members.iter())
        .map(|m| json!({"server_id": m.server_id, "name": m.name}))
        .collect();
    let mut fields = vec![
        field("name", json!(p.name)),
        field("description", json!(p.description)),
        field("version", json!(p.version)),
        field("members", Value::Array(members)),
    ];
    for m in p.members.iter().filter(|m| !m.settings.is_empty()) {
        let settings = serde_json::to_value(&m.settings).unwrap_or(Value::Null);
        fields.push(field(
            &format!("members.{}.tool_settings", m.server_id),
            settings,
        ));
    }
    fields
}

/// The changes of a stored secret between `old` and `new` (`None`: created
/// or deleted): its metadata and value names, and `values`, a secret field
/// (set or rotated: never a value, a hash or the sealed form).
pub fn secret_changes(old: Option<&Secret>, new: Option<&Secret>) -> Vec<FieldChange> {
    let fields = |s: &Secret| {
        vec![
            field("name", json!(s.name)),
            field("description", json!(s.description)),
            field("value_names", json!(s.value_names)),
            // Set at the create and each rotation; a re-seal under a new
            // master key is no change of the values.
            ("values".to_owned(), Field::Secret(s.rotated_at.to_string())),
        ]
    };
    diff(old.map(fields), new.map(fields))
}

/// The changes of an organization between `old` and `new`.
pub fn organization_changes(
    old: Option<&Organization>,
    new: Option<&Organization>,
) -> Vec<FieldChange> {
    let fields = |o: &Organization| {
        vec![
            field("name", json!(o.name.as_str())),
            field("plan", json!(o.plan.as_str())),
        ]
    };
    diff(old.map(fields), new.map(fields))
}

/// The changes of an API key between `old` and `new`. A new key's secret is
/// named (`secret`, a secret field) and nothing more.
pub fn api_key_changes(old: Option<&ApiKey>, new: Option<&ApiKey>) -> Vec<FieldChange> {
    let fields = |k: &ApiKey| {
        let (organization_id, role, pack_ids) = match &k.scope {
            KeyScope::PlatformAdmin => (Value::Null, json!("platform_admin"), json!([])),
            KeyScope::Organization {
                organization_id,
                role,
                pack_ids,
            } => (
                json!(organization_id),
                json!(Role::as_str(*role)),
                json!(pack_ids),
            ),
        };
        vec![
            field("display_name", json!(k.display_name)),
            field("organization_id", organization_id),
            field("role", role),
            field("pack_ids", pack_ids),
            field("revoked_at", json!(k.revoked_at)),
            // The key's id stands for its secret: it changes only with a new key.
            ("secret".to_owned(), Field::Secret(k.id.clone())),
        ]
    };
    diff(old.map(fields), new.map(fields))
}

/// How a gateway call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    /// The upstream answered with a result (`isError` results included: the
    /// call itself worked).
    Ok,
    /// The upstream failed or answered with an error.
    Error,
    /// The gateway refused the call before or instead of forwarding it.
    Refused,
}

impl CallOutcome {
    /// Every outcome, in the order of the proto enum.
    pub const ALL: [Self; 3] = [Self::Ok, Self::Error, Self::Refused];

    /// Returns the stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Refused => "refused",
        }
    }

    /// Parses a name made by [`CallOutcome::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// One gateway `tools/call`: who called what through which pack, and how it
/// ended; never its arguments or its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// `call_` + UUIDv7.
    pub id: String,
    pub organization_id: String,
    /// When the call arrived.
    pub at: Micros,
    pub key_id: String,
    pub pack_id: String,
    pub pack_version: i64,
    /// Empty when the call was refused before a server was chosen.
    pub server_id: String,
    /// The upstream tool's name; empty when refused before resolution.
    pub tool_name: String,
    /// The name the client called: a qualified name or an alias.
    pub called_name: String,
    pub outcome: CallOutcome,
    /// The error kind or the refusal reason; empty for [`CallOutcome::Ok`].
    pub detail: String,
    pub duration_micros: i64,
    pub request_id: String,
}

/// Which audit events a listing returns (besides the caller's scope).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// A platform admin's choice of organization (empty: catalog and
    /// platform events); an organization key may only name its own.
    pub organization_id: Option<String>,
    pub resource: Option<(ResourceType, Option<String>)>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// `[start, end)` on the event time.
    pub start: Option<Micros>,
    pub end: Option<Micros>,
}

/// Which call records a listing returns (besides the caller's organization).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    /// A platform admin's choice of organization (required to see any).
    pub organization_id: Option<String>,
    pub pack_id: Option<String>,
    pub server_id: Option<String>,
    pub key_id: Option<String>,
    pub outcome: Option<CallOutcome>,
    pub start: Option<Micros>,
    pub end: Option<Micros>,
}

/// The keyset cursor of both listings: (time, id) of the last row, newest first.
pub type Cursor = (Micros, String);

/// The audit queries, with their visibility rules.
#[derive(Clone, Debug)]
pub struct Audit {
    store: Store,
}

impl Audit {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Lists audit events newest first: an organization's ADMIN key those of
    /// its organization; a platform admin (or the CLI) catalog and platform
    /// events, or one organization's when the filter names it.
    pub async fn events(
        &self,
        caller: &Caller,
        filter: &EventFilter,
        page: &PageRequest<Cursor>,
    ) -> Result<Page<AuditEvent, Cursor>, Error> {
        let scope = scope_of(caller, filter.organization_id.as_deref())?;
        self.store.list_audit_events(&scope, filter, page).await
    }

    /// Lists gateway call records newest first, under the rules of
    /// [`Audit::events`]; a platform admin sees none unless it names an
    /// organization (every call belongs to one).
    pub async fn calls(
        &self,
        caller: &Caller,
        filter: &CallFilter,
        page: &PageRequest<Cursor>,
    ) -> Result<Page<ToolCall, Cursor>, Error> {
        let scope = scope_of(caller, filter.organization_id.as_deref())?;
        self.store.list_tool_calls(&scope, filter, page).await
    }
}

/// The scope a caller's audit listing covers: PERMISSION_DENIED for any key
/// but an unlimited ADMIN key or a platform admin; NOT_FOUND when an
/// organization key names another organization.
pub fn scope_of(caller: &Caller, named: Option<&str>) -> Result<String, Error> {
    match caller {
        Caller::Cli | Caller::PlatformAdmin { .. } => Ok(named.unwrap_or(CATALOG_SCOPE).to_owned()),
        Caller::Member {
            organization_id,
            role: Role::Admin,
            packs: None,
            ..
        } => match named {
            Some(other) if other != organization_id => Err(Error::NotFound {
                kind: "organization",
                id: other.to_owned(),
            }),
            _ => Ok(organization_id.clone()),
        },
        Caller::Member { .. } => Err(Error::PermissionDenied(
            "the audit trail is read with an ADMIN key (not pack-limited) or a platform-admin key"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_field_is_named_without_any_value() {
        let old = vec![("credentials".to_owned(), Field::Secret("v1:a".into()))];
        let new = vec![("credentials".to_owned(), Field::Secret("v1:b".into()))];
        let changes = diff(Some(old), Some(new));
        assert_eq!(changes, vec![secret("credentials".into())]);
        let json = serde_json::to_string(&changes).unwrap_or_default();
        assert!(!json.contains("v1:"), "{json}");
    }

    #[test]
    fn unchanged_fields_are_left_out_and_removed_ones_keep_their_old_value() {
        let old = vec![field("name", json!("a")), field("x", json!(1))];
        let new = vec![field("name", json!("a")), field("y", json!(2))];
        assert_eq!(
            diff(Some(old), Some(new)),
            vec![
                plain("x".into(), Some(json!(1)), None),
                plain("y".into(), None, Some(json!(2))),
            ]
        );
    }
}
