//! McpServerService conversions: requests into servers, patches, filters
//! and approvals; servers into responses (no secret, sensitive headers
//! masked). Imports are in `convert::import`, capabilities in
//! `convert::capability`.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use prost_types::FieldMask;

use crate::error::{Error, Violations};
use crate::grpc::convert::search::optional_text;
use crate::grpc::convert::{
    check_id, checked, count, creator_filter, enum_field, enum_or, etag, wire_enum,
};
use crate::grpc::encoded::{
    Encoded, ListMcpServersAnswer, McpServerAnswer, Ready, field_len, tags,
};
use crate::grpc::json::{json_to_struct, struct_to_json};
use crate::grpc::{opt_timestamp, timestamp};
use crate::pagination::{Page, PageTokens};
use crate::pb;
use crate::registry::servers::answers::Shown;
use crate::registry::servers::{
    Access, Approval, ApprovalPolicy, AuthType, ClientSecret, Credentials, Lookup, MASK, McpServer,
    NewServer, SecretRef, ServerFilter, ServerPatch, ServerStatus, ServerView, StoredHeaderValue,
    TokenScope, ToolConfiguration, Transport, UrlPolicy, Visibility, validate,
};
use crate::registry::{
    Caller, Category, Description, DisplayName, HeaderSet, Icon, SecretName, ServerName,
    UpstreamUrl,
};

wire_enum!("transport", Transport => pb::Transport {
    Auto = Auto, StreamableHttp = StreamableHttp, Sse = Sse,
});
wire_enum!("auth type", AuthType => pb::AuthType {
    None = None, ApiKey = ApiKey, BearerToken = BearerToken,
    OAuth2ClientCredentials = Oauth2ClientCredentials,
    OAuth2AuthorizationCode = Oauth2AuthorizationCode,
});
wire_enum!("token scope", TokenScope => pb::TokenScope {
    Organization = Organization, Subject = Subject,
});
wire_enum!("approval policy", ApprovalPolicy => pb::ApprovalPolicy {
    RequireNone = RequireNone, RequireAll = RequireAll,
});
wire_enum!("visibility", Visibility => pb::Visibility {
    Private = Private, Catalog = Catalog,
});
wire_enum!("server status", ServerStatus => pb::ServerStatus {
    Pending = Pending, Syncing = Syncing, Connected = Connected, Error = Error,
    Disabled = Disabled,
});

// ---------------------------------------------------------------- inputs

/// A CreateMcpServer request under the service's URL policy.
impl TryFrom<(pb::CreateMcpServerRequest, UrlPolicy)> for NewServer {
    type Error = Error;

    fn try_from((request, policy): (pb::CreateMcpServerRequest, UrlPolicy)) -> Result<Self, Error> {
        let pb::CreateMcpServerRequest { mcp_server } = request;
        let server = mcp_server.ok_or_else(|| Error::invalid("mcp_server", "is required"))?;
        Self::try_from((server, policy))
    }
}

/// A server resource to create (CreateMcpServer, or an imported entry).
impl TryFrom<(pb::McpServer, UrlPolicy)> for NewServer {
    type Error = Error;

    /// Reads every field a create takes with the rules of an update, so the
    /// two cannot drift apart; output-only fields are ignored. Without a
    /// name, one is derived from the display name.
    fn try_from((server, policy): (pb::McpServer, UrlPolicy)) -> Result<Self, Error> {
        let mut v = Violations::new();
        let visibility = v.check("mcp_server.visibility", enum_field(server.visibility));
        let name_derived = derives_name(&server);
        let patch = server_patch(server, CREATE_PATHS, policy, Mode::Create, &mut v);
        v.finish()?;
        Ok(NewServer {
            visibility: checked(visibility)?,
            name: checked(patch.name)?,
            name_derived,
            display_name: checked(patch.display_name)?,
            description: checked(patch.description)?,
            url: checked(patch.url)?,
            icon_url: checked(patch.icon_url)?,
            documentation_url: checked(patch.documentation_url)?,
            // Set only by ImportMcpConfig from a server.json (output only here).
            registry: None,
            category: checked(patch.category)?,
            transport: checked(patch.transport)?,
            auth_type: checked(patch.auth_type)?,
            credentials: checked(patch.credentials)?,
            request_headers: checked(patch.request_headers)?,
            approval_policy: checked(patch.approval_policy)?,
            tool_configuration: ToolConfiguration {
                enabled: checked(patch.tools_enabled)?,
                allowed_tools: checked(patch.allowed_tools)?,
            },
            config: checked(patch.config)?,
            enabled: checked(patch.enabled)?,
        })
    }
}

/// Whether a create derives the server's name from its display name: it
/// has one, and no name.
fn derives_name(server: &pb::McpServer) -> bool {
    server.name.is_empty() && !server.display_name.is_empty()
}

/// Whether fields are read for a create or for an update (where the mask
/// keeps a stored header value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Update,
}

/// The paths a create reads; an update may name each of them too.
const CREATE_PATHS: &[&str] = &[
    "name",
    "display_name",
    "description",
    "url",
    "icon_url",
    "documentation_url",
    "category",
    "transport",
    "auth_type",
    "credentials",
    "request_headers",
    "approval_policy",
    "tool_configuration",
    "config",
    "enabled",
];

/// An UpdateMcpServer request: which server, what changes, and the etag the
/// change is conditional on.
pub struct ServerUpdate {
    pub id: String,
    pub patch: ServerPatch,
    pub etag: Option<String>,
}

/// Paths of McpServer an update may name besides [`CREATE_PATHS`].
const SUBPATHS: &[&str] = &[
    "tool_configuration.enabled",
    "tool_configuration.allowed_tools",
];

/// Paths of McpServer that only the service writes.
const OUTPUT_ONLY: &[&str] = &[
    "id",
    "organization_id",
    "has_credentials",
    "credentials_updated_at",
    "status",
    "detected_transport",
    "server_info",
    "last_synced_at",
    "last_successful_sync_at",
    "last_error",
    "tool_count",
    "prompt_count",
    "resource_count",
    "resource_template_count",
    "tool_approval_hashes",
    "pack_ids",
    "created_at",
    "updated_at",
    "created_by",
    "modified_by",
    "etag",
    "access_info",
    "next_sync_at",
    "registry_name",
    "registry_version",
    "credentials_secret",
];

/// The paths an update without a mask names: the fields it sets.
fn populated_paths(s: &pb::McpServer) -> Vec<String> {
    [
        ("name", !s.name.is_empty()),
        ("display_name", !s.display_name.is_empty()),
        ("description", !s.description.is_empty()),
        ("url", !s.url.is_empty()),
        ("icon_url", !s.icon_url.is_empty()),
        ("documentation_url", !s.documentation_url.is_empty()),
        ("category", !s.category.is_empty()),
        ("transport", s.transport != 0),
        ("auth_type", s.auth_type != 0),
        ("credentials", s.credentials.is_some()),
        (
            "request_headers",
            !s.request_headers.is_empty() || !s.secret_request_headers.is_empty(),
        ),
        ("approval_policy", s.approval_policy != 0),
        ("tool_configuration", s.tool_configuration.is_some()),
        ("config", s.config.is_some()),
        ("enabled", s.enabled.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(path, _)| path.to_owned())
    .collect()
}

impl TryFrom<(pb::UpdateMcpServerRequest, UrlPolicy)> for ServerUpdate {
    type Error = Error;

    fn try_from((request, policy): (pb::UpdateMcpServerRequest, UrlPolicy)) -> Result<Self, Error> {
        let pb::UpdateMcpServerRequest {
            mcp_server,
            update_mask,
        } = request;
        let server = mcp_server.ok_or_else(|| Error::invalid("mcp_server", "is required"))?;
        let mut v = Violations::new();
        check_id(&mut v, "mcp_server.id", "mcp", &server.id);
        let paths = match update_mask {
            Some(FieldMask { paths }) if !paths.is_empty() => paths,
            _ => {
                let paths = populated_paths(&server);
                if paths.is_empty() {
                    v.add(
                        "update_mask",
                        "names no field to update and the request sets none",
                    );
                }
                paths
            }
        };
        let id = server.id.clone();
        let etag = etag(server.etag.clone());
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let patch = server_patch(server, &paths, policy, Mode::Update, &mut v);
        v.finish()?;
        Ok(ServerUpdate { id, patch, etag })
    }
}

/// The patch that `paths` of `server` describe. A create without a name
/// derives it from the display name.
fn server_patch(
    mut server: pb::McpServer,
    paths: &[&str],
    policy: UrlPolicy,
    mode: Mode,
    v: &mut Violations,
) -> ServerPatch {
    let mut patch = ServerPatch::default();
    let mut headers = Some(std::mem::take(&mut server.request_headers));
    let mut secret_headers = Some(std::mem::take(&mut server.secret_request_headers));
    let mut credentials = Some(server.credentials.take());
    let mut config = Some(server.config.take());
    let tool_configuration = server.tool_configuration.take().unwrap_or_default();
    let s = &server;
    let mut tools_allowed = Some(tool_configuration.allowed_tools);
    let tools_enabled = tool_configuration.enabled.unwrap_or(true);
    let mut seen = HashSet::new();
    for &path in paths {
        if !seen.insert(path) {
            v.add("update_mask", format!("{path:?} is named twice"));
            continue;
        }
        match path {
            "name" if mode == Mode::Create && derives_name(s) => {
                // A display name that is invalid is reported once, as itself.
                if let Ok(display_name) = DisplayName::parse(s.display_name.clone()) {
                    patch.name = v.check(
                        "mcp_server.display_name",
                        ServerName::from_display_name(&display_name),
                    );
                }
            }
            "name" => patch.name = v.check("mcp_server.name", ServerName::parse(s.name.clone())),
            "display_name" => {
                patch.display_name = v.check(
                    "mcp_server.display_name",
                    DisplayName::parse(s.display_name.clone()),
                );
            }
            "description" => {
                patch.description = v.check(
                    "mcp_server.description",
                    Description::parse(s.description.clone()),
                );
            }
            "url" => {
                patch.url = v.check("mcp_server.url", UpstreamUrl::parse(s.url.clone(), policy))
            }
            "icon_url" => {
                patch.icon_url = v.check(
                    "mcp_server.icon_url",
                    Icon::parse_optional(s.icon_url.clone(), policy),
                );
            }
            "documentation_url" => {
                patch.documentation_url = v.check(
                    "mcp_server.documentation_url",
                    UpstreamUrl::parse_optional(s.documentation_url.clone(), policy),
                );
            }
            "category" => {
                patch.category =
                    v.check("mcp_server.category", Category::parse(s.category.clone()));
            }
            "transport" => {
                patch.transport = v.check(
                    "mcp_server.transport",
                    enum_or(s.transport, Transport::Auto),
                );
            }
            "auth_type" => {
                patch.auth_type = v.check("mcp_server.auth_type", enum_field(s.auth_type))
            }
            "credentials" => {
                patch.credentials = Some(
                    credentials
                        .take()
                        .flatten()
                        .and_then(|c| credentials_from_pb(c, policy, v)),
                );
            }
            "request_headers" => {
                let given = headers.take().unwrap_or_default();
                let secret_given = secret_headers.take().unwrap_or_default();
                let parse = match mode {
                    Mode::Create => HeaderSet::parse,
                    Mode::Update => HeaderSet::parse_update,
                };
                patch.request_headers = headers_from_pb(given, secret_given, parse, v);
            }
            "approval_policy" => {
                patch.approval_policy = v.check(
                    "mcp_server.approval_policy",
                    enum_or(s.approval_policy, ApprovalPolicy::RequireNone),
                );
            }
            "tool_configuration" => {
                patch.tools_enabled = Some(tools_enabled);
                let names = tools_allowed.take().unwrap_or_default();
                patch.allowed_tools = Some(allowed_tools(names, v));
            }
            "tool_configuration.enabled" => patch.tools_enabled = Some(tools_enabled),
            "tool_configuration.allowed_tools" => {
                let names = tools_allowed.take().unwrap_or_default();
                patch.allowed_tools = Some(allowed_tools(names, v));
            }
            "config" => {
                let given = config.take().flatten();
                patch.config = Some(given.map(|c| config_from_pb(c, v)).unwrap_or_default());
            }
            "enabled" => patch.enabled = Some(s.enabled.unwrap_or(true)),
            "visibility" => v.add("update_mask", "\"visibility\" cannot change after creation"),
            other if OUTPUT_ONLY.contains(&other) => {
                v.add("update_mask", format!("{other:?} is output only"));
            }
            other => v.add(
                "update_mask",
                format!(
                    "{other:?} is not an updatable field of McpServer (updatable: {}, {})",
                    CREATE_PATHS.join(", "),
                    SUBPATHS.join(", ")
                ),
            ),
        }
    }
    patch
}

/// Validates credentials and converts them; `None` when invalid.
fn credentials_from_pb(
    value: pb::Credentials,
    policy: UrlPolicy,
    v: &mut Violations,
) -> Option<Credentials> {
    use pb::credentials::Kind;
    let credentials = match value.kind {
        Some(Kind::ApiKey(c)) => {
            let header_name = (!c.header_name.is_empty()).then_some(c.header_name);
            match c.key_secret {
                Some(_) if !c.key.is_empty() => {
                    v.add(
                        "mcp_server.credentials.api_key",
                        "set key or key_secret, not both",
                    );
                    return None;
                }
                Some(reference) => Credentials::ApiKeySecret {
                    secret: secret_ref_from_pb(
                        reference,
                        "mcp_server.credentials.api_key.key_secret",
                        v,
                    )?,
                    header_name,
                },
                None => Credentials::ApiKey {
                    key: c.key,
                    header_name,
                },
            }
        }
        Some(Kind::BearerToken(c)) => match c.token_secret {
            Some(_) if !c.token.is_empty() => {
                v.add(
                    "mcp_server.credentials.bearer_token",
                    "set token or token_secret, not both",
                );
                return None;
            }
            Some(reference) => Credentials::BearerTokenSecret {
                secret: secret_ref_from_pb(
                    reference,
                    "mcp_server.credentials.bearer_token.token_secret",
                    v,
                )?,
            },
            None => Credentials::BearerToken { token: c.token },
        },
        Some(Kind::Oauth2ClientCredentials(c)) => Credentials::OAuth2ClientCredentials {
            token_url: c.token_url,
            client_id: c.client_id,
            client_secret: c.client_secret,
            scopes: c.scopes,
        },
        Some(Kind::Oauth2AuthorizationCode(c)) => authorization_code_from_pb(c, v)?,
        None => {
            v.add(
                "mcp_server.credentials",
                "must set one of api_key, bearer_token, oauth2_client_credentials or \
                 oauth2_authorization_code",
            );
            return None;
        }
    };
    let problems = validate::credentials(&credentials, policy);
    let valid = problems.is_empty();
    for (suffix, problem) in problems {
        v.add(format!("mcp_server.credentials{suffix}"), problem);
    }
    valid.then_some(credentials)
}

/// Reads an authorization-code configuration (empty strings are "not set");
/// `None` when invalid.
fn authorization_code_from_pb(
    c: pb::OAuth2AuthorizationCode,
    v: &mut Violations,
) -> Option<Credentials> {
    const FIELD: &str = "mcp_server.credentials.oauth2_authorization_code";
    let pb::OAuth2AuthorizationCode {
        client_id,
        client_secret,
        client_secret_secret,
        scopes,
        issuer,
        token_scope,
    } = c;
    let client_secret = match client_secret_secret {
        Some(_) if !client_secret.is_empty() => {
            v.add(FIELD, "set client_secret or client_secret_secret, not both");
            return None;
        }
        Some(reference) => Some(ClientSecret::Secret(secret_ref_from_pb(
            reference,
            &format!("{FIELD}.client_secret_secret"),
            v,
        )?)),
        None => (!client_secret.is_empty()).then_some(ClientSecret::Value(client_secret)),
    };
    let token_scope = v.check(
        format!("{FIELD}.token_scope"),
        enum_or(token_scope, TokenScope::Organization),
    )?;
    Some(Credentials::OAuth2AuthorizationCode {
        client_id: (!client_id.is_empty()).then_some(client_id),
        client_secret,
        scopes,
        issuer: (!issuer.is_empty()).then_some(issuer),
        token_scope,
    })
}

/// Reads a reference to a stored secret's value; `None` when invalid.
pub fn secret_ref_from_pb(
    reference: pb::SecretReference,
    field: &str,
    v: &mut Violations,
) -> Option<SecretRef> {
    let before = v.len();
    check_id(
        v,
        &format!("{field}.secret_id"),
        "sec",
        &reference.secret_id,
    );
    if let Err(err) = SecretName::parse(reference.value.clone()) {
        v.add(format!("{field}.value"), err);
    }
    (v.len() == before).then_some(SecretRef {
        secret_id: reference.secret_id,
        value: reference.value,
    })
}

/// Parses request headers with `parse` (create or update rules), then adds
/// the headers whose values are stored secrets' values.
fn headers_from_pb(
    headers: HashMap<String, String>,
    secret_headers: HashMap<String, pb::SecretReference>,
    parse: fn(HashMap<String, String>) -> Result<HeaderSet, Vec<String>>,
    v: &mut Violations,
) -> Option<HeaderSet> {
    let mut refs = HashMap::with_capacity(secret_headers.len());
    for (name, reference) in secret_headers {
        let field = format!("mcp_server.secret_request_headers[{name}]");
        if let Some(reference) = secret_ref_from_pb(reference, &field, v) {
            refs.insert(name, reference);
        }
    }
    let added = parse(headers).and_then(|mut set| set.add_secret_refs(refs).map(|()| set));
    match added {
        Ok(set) => Some(set),
        Err(problems) => {
            for problem in problems {
                v.add("mcp_server.request_headers", problem);
            }
            None
        }
    }
}

fn allowed_tools(names: Vec<String>, v: &mut Violations) -> Vec<String> {
    const FIELD: &str = "mcp_server.tool_configuration.allowed_tools";
    if names.len() > validate::MAX_ALLOWED_TOOLS {
        v.add(
            FIELD,
            format!("must hold at most {} names", validate::MAX_ALLOWED_TOOLS),
        );
    }
    let mut seen = HashSet::new();
    for name in &names {
        if let Err(err) = validate::tool_name(name) {
            v.add(FIELD, err);
        } else if !seen.insert(name.as_str()) {
            v.add(FIELD, format!("{name:?} is listed twice"));
        }
    }
    names
}

fn config_from_pb(
    value: prost_types::Struct,
    v: &mut Violations,
) -> serde_json::Map<String, serde_json::Value> {
    const FIELD: &str = "mcp_server.config";
    match struct_to_json(value) {
        Ok(map) => {
            let size = serde_json::to_vec(&map).map_or(usize::MAX, |b| b.len());
            if size > validate::MAX_CONFIG_BYTES {
                v.add(
                    FIELD,
                    format!(
                        "must be at most {} bytes as JSON, is {size}",
                        validate::MAX_CONFIG_BYTES
                    ),
                );
            }
            map
        }
        Err(err) => {
            v.add(FIELD, err);
            serde_json::Map::new()
        }
    }
}

/// Longest `name_prefix` of a listing filter.
const MAX_NAME_PREFIX: usize = ServerName::MAX_LEN;

/// Reads a ListMcpServers filter.
pub fn server_filter(
    filter: pb::McpServerFilter,
    include_catalog: bool,
    caller: &Caller,
    v: &mut Violations,
) -> ServerFilter {
    let pb::McpServerFilter {
        status,
        category,
        visibility,
        name_prefix,
        query,
        tool_name,
        created_by_subject,
        mine,
    } = filter;
    let owner = creator_filter(
        "filter.created_by_subject",
        created_by_subject,
        mine,
        caller,
        v,
    );
    let status = v.check("filter.status", enum_field(status)).flatten();
    let visibility = v
        .check("filter.visibility", enum_field(visibility))
        .flatten();
    if !category.is_empty() {
        v.check("filter.category", Category::parse(category.as_str()));
    }
    if !name_prefix.is_empty() {
        let valid = name_prefix.len() <= MAX_NAME_PREFIX
            && name_prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid {
            v.add(
                "filter.name_prefix",
                "must be at most 64 characters of [a-z0-9_-] (server names never hold others)",
            );
        }
    }
    let text = optional_text(&query, "filter.query", v);
    if !tool_name.is_empty() {
        v.check("filter.tool_name", validate::tool_name(&tool_name));
    }
    ServerFilter {
        status,
        category: (!category.is_empty()).then_some(category),
        visibility,
        name_prefix: (!name_prefix.is_empty()).then_some(name_prefix),
        text,
        tool_name: (!tool_name.is_empty()).then_some(tool_name),
        include_catalog,
        owner,
    }
}

/// An ApproveTools request: the server and the approval.
impl TryFrom<pb::ApproveToolsRequest> for (String, Approval) {
    type Error = Error;

    fn try_from(request: pb::ApproveToolsRequest) -> Result<Self, Error> {
        let pb::ApproveToolsRequest {
            server_id,
            tool_names,
            definition_hashes,
            all_tools,
            revoke_tool_names,
            etag: tag,
        } = request;
        let mut v = Violations::new();
        check_id(&mut v, "server_id", "mcp", &server_id);
        if tool_names.is_empty()
            && definition_hashes.is_empty()
            && !all_tools
            && revoke_tool_names.is_empty()
        {
            v.add(
                "tool_names",
                "one of tool_names, definition_hashes, all_tools or revoke_tool_names is required",
            );
        }
        if all_tools && (!tool_names.is_empty() || !definition_hashes.is_empty()) {
            v.add(
                "all_tools",
                "cannot be combined with tool_names or definition_hashes",
            );
        }
        for name in &tool_names {
            v.check("tool_names", validate::tool_name(name));
        }
        for name in &revoke_tool_names {
            v.check("revoke_tool_names", validate::tool_name(name));
            if tool_names.contains(name) {
                v.add(
                    "revoke_tool_names",
                    format!("{name:?} is both approved and revoked"),
                );
            }
        }
        for hash in &definition_hashes {
            let valid = hash.len() == 64
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !valid {
                v.add(
                    "definition_hashes",
                    format!("{hash:?} is not 64 lower-case hex digits"),
                );
            }
        }
        v.finish()?;
        let approval = Approval {
            tool_names,
            definition_hashes,
            all_tools,
            revoke_tool_names,
            etag: etag(tag),
        };
        Ok((server_id, approval))
    }
}

impl From<Access> for pb::AccessInfo {
    fn from(access: Access) -> Self {
        Self {
            role: access.role.map_or(pb::Role::Unspecified, pb::Role::from) as i32,
            is_creator: access.is_creator,
            can_edit: access.can_edit,
        }
    }
}

/// A reference to a stored secret's value, for a response.
fn secret_ref_to_pb(reference: SecretRef) -> pb::SecretReference {
    pb::SecretReference {
        secret_id: reference.secret_id,
        value: reference.value,
    }
}

/// A server for a response: no secret, sensitive headers masked.
impl From<ServerView> for pb::McpServer {
    fn from(view: ServerView) -> Self {
        let ServerView {
            server,
            access,
            pack_ids,
        } = view;
        let etag = server.etag();
        let mut tool_approval_hashes: Vec<String> =
            server.tool_approvals.values().cloned().collect();
        tool_approval_hashes.sort_unstable();
        tool_approval_hashes.dedup();
        let McpServer {
            id,
            organization_id,
            visibility,
            name,
            display_name,
            description,
            url,
            icon_url,
            documentation_url,
            registry_name,
            registry_version,
            category,
            transport,
            auth_type,
            auth_header_name: _,
            sealed_credentials,
            credentials_secret,
            credentials_updated_at,
            request_headers,
            approval_policy,
            tool_configuration,
            config,
            enabled,
            status,
            detected_transport,
            server_info,
            last_synced_at,
            last_successful_sync_at,
            last_error,
            tool_count,
            prompt_count,
            resource_count,
            resource_template_count,
            tool_approvals: _,
            next_sync_at,
            created_at,
            updated_at,
            created_by,
            modified_by,
            created_by_subject,
            modified_by_subject,
            revision: _,
        } = server;
        let (secret_headers, request_headers): (Vec<_>, Vec<_>) = request_headers
            .into_iter()
            .partition(|h| matches!(h.value, StoredHeaderValue::Secret(_)));
        pb::McpServer {
            id,
            organization_id: organization_id.unwrap_or_default(),
            name,
            display_name,
            description,
            url,
            icon_url,
            category,
            transport: pb::Transport::from(transport) as i32,
            auth_type: pb::AuthType::from(auth_type) as i32,
            credentials: None,
            has_credentials: sealed_credentials.is_some(),
            credentials_updated_at: opt_timestamp(credentials_updated_at),
            request_headers: request_headers
                .into_iter()
                .map(|h| {
                    let value = match h.value {
                        StoredHeaderValue::Plain(value) => value,
                        StoredHeaderValue::Sealed(_) | StoredHeaderValue::Secret(_) => {
                            MASK.to_owned()
                        }
                    };
                    (h.name, value)
                })
                .collect(),
            secret_request_headers: secret_headers
                .into_iter()
                .filter_map(|h| match h.value {
                    StoredHeaderValue::Secret(reference) => {
                        Some((h.name, secret_ref_to_pb(reference)))
                    }
                    StoredHeaderValue::Plain(_) | StoredHeaderValue::Sealed(_) => None,
                })
                .collect(),
            credentials_secret: credentials_secret.map(secret_ref_to_pb),
            approval_policy: pb::ApprovalPolicy::from(approval_policy) as i32,
            tool_configuration: Some(pb::ToolConfiguration {
                enabled: Some(tool_configuration.enabled),
                allowed_tools: tool_configuration.allowed_tools,
            }),
            config: Some(json_to_struct(&config)),
            enabled: Some(enabled),
            visibility: pb::Visibility::from(visibility) as i32,
            status: pb::ServerStatus::from(status) as i32,
            detected_transport: detected_transport
                .map_or(pb::Transport::Unspecified, pb::Transport::from)
                as i32,
            server_info: server_info.map(|info| pb::ServerInfo {
                name: info.name,
                version: info.version,
                protocol_version: info.protocol_version,
                title: info.title,
                instructions: info.instructions,
                capabilities: Some(json_to_struct(&info.capabilities)),
            }),
            last_synced_at: opt_timestamp(last_synced_at),
            last_successful_sync_at: opt_timestamp(last_successful_sync_at),
            last_error: last_error.map(|e| pb::SyncError {
                reason: pb::ErrorReason::from(e.reason) as i32,
                message: e.message,
                occurred_at: Some(timestamp(e.occurred_at)),
                sync_run_id: e.sync_run_id,
            }),
            tool_count: count(tool_count),
            prompt_count: count(prompt_count),
            resource_count: count(resource_count),
            resource_template_count: count(resource_template_count),
            tool_approval_hashes,
            pack_ids,
            created_at: Some(timestamp(created_at)),
            updated_at: Some(timestamp(updated_at)),
            created_by,
            modified_by,
            created_by_subject: created_by_subject.unwrap_or_default(),
            modified_by_subject: modified_by_subject.unwrap_or_default(),
            etag,
            access_info: Some(access.into()),
            next_sync_at: opt_timestamp(next_sync_at),
            documentation_url,
            registry_name,
            registry_version,
        }
    }
}

/// Which server ExportMcpServer writes.
impl TryFrom<pb::ExportMcpServerRequest> for Lookup {
    type Error = Error;

    fn try_from(request: pb::ExportMcpServerRequest) -> Result<Self, Error> {
        use pb::export_mcp_server_request::Lookup as L;
        match request.lookup {
            Some(L::Id(value)) => {
                let mut v = Violations::new();
                check_id(&mut v, "id", "mcp", &value);
                v.finish()?;
                Ok(Lookup::Id(value))
            }
            Some(L::Name(name)) => Ok(Lookup::Name(
                ServerName::parse(name)
                    .map_err(|err| Error::invalid("name", err))?
                    .into_inner(),
            )),
            None => Err(Error::invalid("id", "id or name is required")),
        }
    }
}

/// An ExportMcpServer answer: the document as indented JSON text.
pub fn server_json_to_pb(
    document: &serde_json::Value,
) -> Result<pb::ExportMcpServerResponse, Error> {
    Ok(pb::ExportMcpServerResponse {
        server_json: serde_json::to_string_pretty(document).map_err(Error::internal)?,
    })
}

/// A server as the answer caches keep it: encoded, without what depends
/// on the caller (`access_info`, appended per call by [`server_answer`]).
pub fn encode_server(view: ServerView) -> Bytes {
    let server = pb::McpServer {
        access_info: None,
        ..pb::McpServer::from(view)
    };
    Bytes::from(prost::Message::encode_to_vec(&server))
}

/// A GetMcpServer answer: the server's encoded fields, then the caller's
/// access as its own field.
pub fn server_answer(fields: Bytes, access: Access) -> McpServerAnswer {
    let mut ready = Ready::with_capacity(2);
    ready
        .shared(fields)
        .message(tags::ACCESS_INFO, &pb::AccessInfo::from(access));
    Encoded::Ready(ready)
}

/// A ListMcpServers page: each server's encoded fields with the caller's
/// access to it appended inside the element, then the token and the total.
pub fn servers_page(
    listed: Page<Shown<Bytes>, String>,
    tokens: &PageTokens<'_>,
) -> ListMcpServersAnswer {
    let mut ready = Ready::with_capacity(2 * listed.items.len() + 1);
    for (fields, access) in listed.items {
        let access = pb::AccessInfo::from(access);
        let len = fields.len() + field_len(tags::ACCESS_INFO, &access);
        ready
            .header(tags::MCP_SERVERS, len)
            .shared(fields)
            .message(tags::ACCESS_INFO, &access);
    }
    ready
        .string(
            tags::NEXT_PAGE_TOKEN,
            &tokens.next_token(listed.next.as_ref()),
        )
        .int64(tags::TOTAL_SIZE, listed.total as i64);
    Encoded::Ready(ready)
}

/// Names the enum values a field accepts (for documentation tests).
#[cfg(test)]
fn accepted<D: crate::grpc::convert::WireEnum>() -> Vec<&'static str> {
    D::names()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transport_has_a_wire_name() {
        assert_eq!(
            accepted::<Transport>(),
            [
                "TRANSPORT_AUTO",
                "TRANSPORT_STREAMABLE_HTTP",
                "TRANSPORT_SSE"
            ]
        );
    }
}
