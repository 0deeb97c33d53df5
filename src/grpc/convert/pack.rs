//! PackService conversions: pack requests and member references in; packs,
//! revisions, resolutions and exports out.

use std::collections::HashSet;

use bytes::Bytes;

use crate::error::{Error, Violations};
use crate::grpc::convert::search::optional_text;
use crate::grpc::convert::{
    check_id, creator_filter, enum_or, etag, optional_server_id, wire_enum,
};
use crate::grpc::json::{encode_struct_field, object_field, string_field, struct_field_len};
use crate::grpc::timestamp;
use crate::pb;
use crate::registry::admin::validate_id;
use crate::registry::packs::{
    ChangeKind, ExcludedTool, Exclusion, Export, ExportTarget, ExportTransport, Member, NewPack,
    Pack, PackChanges, PackFilter, PackRevision, Resolution, ResolvedTool, ServerRef, SettingIssue,
    SettingIssueKind, ToolSetting, ToolSettings,
};
use crate::registry::servers::validate;
use crate::registry::{Caller, Description, PackName, ServerName, ToolAlias, ToolDescription};

wire_enum!("change kind", ChangeKind => pb::PackChangeKind {
    Created = Created, Updated = Updated, ServerAdded = ServerAdded,
    ServerRemoved = ServerRemoved, ServersReplaced = ServersReplaced, Restored = Restored,
    ServerDeleted = ServerDeleted, ToolSettingsUpdated = ToolSettingsUpdated,
});
wire_enum!("exclusion reason", Exclusion => pb::ExclusionReason {
    ServerDeleted = ServerDeleted, ServerDisabled = ServerDisabled,
    ServerNeverSynced = ServerNeverSynced, ServerError = ServerError,
    ToolsDisabled = ToolsDisabled, NotAllowed = NotAllowed, Hidden = Hidden,
    NotListed = NotListed, AddedSinceRevision = AddedSinceRevision, ChangedSinceRevision = ChangedSinceRevision,
    NotApproved = NotApproved, ChangedSinceApproval = ChangedSinceApproval,
});
wire_enum!("setting issue kind", SettingIssueKind => pb::SettingIssueKind {
    UnknownTool = UnknownTool, NameTakenByAlias = NameTakenByAlias,
});
wire_enum!("export transport", ExportTransport => pb::ExportTransport {
    Http = Http, Sse = Sse,
});
wire_enum!("export target", ExportTarget => pb::ExportTarget {
    Direct = Direct, Gateway = Gateway,
});

/// Most servers in one pack request.
const MAX_SERVERS: usize = 1000;
/// Most tool settings of one member.
const MAX_TOOL_SETTINGS: usize = 1000;

/// An UpdatePackServerTools request: which pack and member, the new
/// settings (in request order, so that violations name request indexes),
/// and the etag the change is conditional on.
pub struct ToolSettingsUpdate {
    pub pack_id: String,
    pub server: ServerRef,
    pub settings: ToolSettings,
    pub etag: Option<String>,
}

impl TryFrom<pb::UpdatePackServerToolsRequest> for ToolSettingsUpdate {
    type Error = Error;

    fn try_from(request: pb::UpdatePackServerToolsRequest) -> Result<Self, Error> {
        let pb::UpdatePackServerToolsRequest {
            pack_id,
            server,
            tool_settings,
            etag: tag,
        } = request;
        let mut v = Violations::new();
        check_id(&mut v, "pack_id", "pack", &pack_id);
        let server = one_ref(server, &mut v);
        let settings = tool_settings_in(tool_settings.unwrap_or_default(), &mut v);
        v.finish()?;
        Ok(Self {
            pack_id,
            server,
            settings,
            etag: etag(tag),
        })
    }
}

/// Reads a member's tool settings, reporting every bad entry under
/// `tool_settings.tools[i].<field>`.
fn tool_settings_in(settings: pb::PackToolSettings, v: &mut Violations) -> ToolSettings {
    let pb::PackToolSettings {
        only_listed_tools,
        tools,
    } = settings;
    if tools.len() > MAX_TOOL_SETTINGS {
        v.add(
            "tool_settings.tools",
            format!("must hold at most {MAX_TOOL_SETTINGS} settings"),
        );
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(tools.len());
    for (i, setting) in tools.into_iter().enumerate() {
        let pb::PackToolSetting {
            tool_name,
            hidden,
            alias,
            description,
        } = setting;
        let field = |name: &str| format!("tool_settings.tools[{i}].{name}");
        if let Err(err) = validate::tool_name(&tool_name) {
            v.add(field("tool_name"), err);
        } else if !seen.insert(tool_name.clone()) {
            v.add(
                field("tool_name"),
                format!("tool {tool_name:?} has a setting already"),
            );
        }
        let alias = match alias.is_empty() {
            true => None,
            false => v.check(field("alias"), ToolAlias::parse(alias)),
        };
        let description = match description.is_empty() {
            true => None,
            false => v.check(field("description"), ToolDescription::parse(description)),
        };
        out.push(ToolSetting {
            tool_name,
            hidden,
            alias: alias.map(ToolAlias::into_inner),
            description: description.map(ToolDescription::into_inner),
        });
    }
    ToolSettings {
        only_listed: only_listed_tools,
        tools: out,
    }
}

fn tool_settings_to_pb(settings: ToolSettings) -> pb::PackToolSettings {
    pb::PackToolSettings {
        only_listed_tools: settings.only_listed,
        tools: (settings.tools.into_iter())
            .map(|t| pb::PackToolSetting {
                tool_name: t.tool_name,
                hidden: t.hidden,
                alias: t.alias.unwrap_or_default(),
                description: t.description.unwrap_or_default(),
            })
            .collect(),
    }
}

impl TryFrom<pb::CreatePackRequest> for NewPack {
    type Error = Error;

    fn try_from(request: pb::CreatePackRequest) -> Result<Self, Error> {
        let pack = request
            .pack
            .ok_or_else(|| Error::invalid("pack", "is required"))?;
        // Output-only fields are ignored.
        let pb::Pack {
            name,
            description,
            servers,
            ..
        } = pack;
        let mut v = Violations::new();
        let name = v.check("pack.name", PackName::parse(name));
        let description = v.check("pack.description", Description::parse_required(description));
        let servers = server_refs(servers, "pack.servers", &mut v);
        v.finish()?;
        match (name, description) {
            (Some(name), Some(description)) => Ok(NewPack {
                name,
                description,
                servers,
            }),
            _ => Err(Error::internal(anyhow::anyhow!(
                "validated pack lost a field"
            ))),
        }
    }
}

/// An UpdatePack request: which pack, what changes, and the etag the change
/// is conditional on.
pub struct PackUpdate {
    pub id: String,
    pub changes: PackChanges,
    pub etag: Option<String>,
}

impl TryFrom<pb::UpdatePackRequest> for PackUpdate {
    type Error = Error;

    fn try_from(request: pb::UpdatePackRequest) -> Result<Self, Error> {
        let pb::UpdatePackRequest { pack, update_mask } = request;
        let pack = pack.ok_or_else(|| Error::invalid("pack", "is required"))?;
        let pb::Pack {
            id,
            name,
            description,
            etag: tag,
            ..
        } = pack;
        let mut v = Violations::new();
        check_id(&mut v, "pack.id", "pack", &id);
        let paths: Vec<String> = match update_mask {
            Some(mask) if !mask.paths.is_empty() => mask.paths,
            _ => {
                let mut paths = Vec::new();
                if !name.is_empty() {
                    paths.push("name".to_owned());
                }
                if !description.is_empty() {
                    paths.push("description".to_owned());
                }
                if paths.is_empty() {
                    v.add(
                        "update_mask",
                        "names no field to update (updatable: name, description)",
                    );
                }
                paths
            }
        };
        let mut changes = PackChanges::default();
        for path in &paths {
            match path.as_str() {
                "name" => changes.name = v.check("pack.name", PackName::parse(name.as_str())),
                "description" => {
                    changes.description = v.check(
                        "pack.description",
                        Description::parse_required(description.as_str()),
                    );
                }
                "servers" => v.add(
                    "update_mask",
                    "\"servers\" changes with AddPackServer, RemovePackServer, ReplacePackServers \
                     or RestorePackRevision",
                ),
                "id" | "organization_id" | "version" | "created_at" | "updated_at"
                | "created_by" | "modified_by" | "etag" => {
                    v.add("update_mask", format!("{path:?} is output only"));
                }
                other => v.add(
                    "update_mask",
                    format!("{other:?} is not a field of Pack (updatable: name, description)"),
                ),
            }
        }
        v.finish()?;
        Ok(PackUpdate {
            id,
            changes,
            etag: etag(tag),
        })
    }
}

/// A pack version to read: 1 or more, or with `current_allowed`, 0 for the
/// current version.
pub fn version(version: i64, current_allowed: bool, v: &mut Violations) -> i64 {
    if current_allowed && version < 0 {
        v.add(
            "version",
            "must not be negative (0 means the current version)",
        );
    } else if !current_allowed && version < 1 {
        v.add("version", "must be 1 or more");
    }
    version
}

fn server_ref(server: pb::PackServer, field: &str, v: &mut Violations) -> Option<ServerRef> {
    let pb::PackServer { server_id, name } = server;
    let mut ok = true;
    if server_id.is_empty() && name.is_empty() {
        v.add(field, "needs a server_id or a name");
        return None;
    }
    if !server_id.is_empty() && validate_id(field, "mcp", &server_id).is_err() {
        check_id(v, field, "mcp", &server_id);
        ok = false;
    }
    if !name.is_empty()
        && let Err(err) = ServerName::parse(name.as_str())
    {
        v.add(field, format!("name: {err}"));
        ok = false;
    }
    ok.then_some(ServerRef {
        id: (!server_id.is_empty()).then_some(server_id),
        name: (!name.is_empty()).then_some(name),
    })
}

pub fn one_ref(server: Option<pb::PackServer>, v: &mut Violations) -> ServerRef {
    match server {
        Some(server) => server_ref(server, "server", v).unwrap_or_default(),
        None => {
            v.add("server", "is required");
            ServerRef::default()
        }
    }
}

pub fn server_refs(
    servers: Vec<pb::PackServer>,
    field: &str,
    v: &mut Violations,
) -> Vec<ServerRef> {
    if servers.len() > MAX_SERVERS {
        v.add(field, format!("must hold at most {MAX_SERVERS} servers"));
    }
    let mut seen = HashSet::new();
    let mut refs = Vec::with_capacity(servers.len());
    for server in servers {
        if let Some(reference) = server_ref(server, field, v) {
            let key = (reference.id.clone(), reference.name.clone());
            if !seen.insert(key) {
                v.add(
                    field,
                    format!("server {} is given twice", reference.describe()),
                );
                continue;
            }
            refs.push(reference);
        }
    }
    refs
}

fn member_to_pb(member: Member) -> pb::PackServer {
    pb::PackServer {
        server_id: member.server_id,
        name: member.name,
    }
}

impl From<Pack> for pb::Pack {
    fn from(pack: Pack) -> Self {
        let tool_settings = (pack.members.iter())
            .filter(|m| !m.settings.is_empty())
            .map(|m| pb::MemberToolSettings {
                server_id: m.server_id.clone(),
                tool_settings: Some(tool_settings_to_pb(m.settings.clone())),
            })
            .collect();
        pb::Pack {
            tool_settings,
            etag: pack.etag(),
            id: pack.id,
            organization_id: pack.organization_id,
            name: pack.name,
            description: pack.description,
            servers: pack.members.into_iter().map(member_to_pb).collect(),
            version: pack.version,
            created_at: Some(timestamp(pack.created_at)),
            updated_at: Some(timestamp(pack.updated_at)),
            created_by: pack.created_by,
            modified_by: pack.modified_by,
            created_by_subject: pack.created_by_subject.unwrap_or_default(),
            modified_by_subject: pack.modified_by_subject.unwrap_or_default(),
        }
    }
}

impl From<PackRevision> for pb::PackRevision {
    fn from(revision: PackRevision) -> Self {
        pb::PackRevision {
            pack_id: revision.pack_id,
            version: revision.version,
            author: revision.author,
            created_at: Some(timestamp(revision.created_at)),
            change_kind: pb::PackChangeKind::from(revision.change_kind) as i32,
            changed_servers: revision
                .changed_servers
                .into_iter()
                .map(member_to_pb)
                .collect(),
            updated_fields: revision.updated_fields,
            restored_from_version: revision.restored_from_version,
            name: revision.name,
            description: revision.description,
            members: revision
                .members
                .into_iter()
                .map(|m| pb::PackRevisionMember {
                    // Absent rather than empty when there are none.
                    tool_settings: (!m.settings.is_empty())
                        .then(|| tool_settings_to_pb(m.settings)),
                    server_id: m.server_id,
                    name: m.name,
                    tools: m
                        .tools
                        .into_iter()
                        .map(|t| pb::PinnedTool {
                            name: t.name,
                            definition_hash: t.definition_hash,
                        })
                        .collect(),
                })
                .collect(),
            changed_tools: revision.changed_tools,
        }
    }
}

impl From<Resolution> for pb::ResolvePackResponse {
    fn from(resolution: Resolution) -> Self {
        pb::ResolvePackResponse {
            pack_id: resolution.pack_id,
            version: resolution.version,
            tools: resolution
                .tools
                .into_iter()
                .map(|t| pb::ResolvedTool {
                    input_schema: object_field(&t.definition, "inputSchema"),
                    output_schema: object_field(&t.definition, "outputSchema"),
                    annotations: object_field(&t.definition, "annotations"),
                    ..tool_without_schemas(&t)
                })
                .collect(),
            excluded_tools: resolution
                .excluded
                .into_iter()
                .map(excluded_to_pb)
                .collect(),
            setting_issues: resolution.issues.into_iter().map(issue_to_pb).collect(),
        }
    }
}

/// `ResolvedTool`'s Struct fields, written straight from the definition's JSON.
const SCHEMAS: [(u32, &str); 3] = [(7, "inputSchema"), (8, "outputSchema"), (9, "annotations")];

/// A ResolvePack answer, encoded once: what the answer caches and the
/// database keep, and every call sends as it is. Decodes to
/// `pb::ResolvePackResponse::from(resolution)`, but the tools' schemas are
/// written straight from their JSON, not built as `Struct` trees first.
pub fn encode_resolution(resolution: Resolution) -> Bytes {
    use prost::Message;
    use prost::encoding::{WireType, encode_key, encode_varint};
    let Resolution {
        pack_id,
        version,
        server_ids: _,
        tools,
        excluded,
        issues,
    } = resolution;
    let head = pb::ResolvePackResponse {
        pack_id,
        version,
        ..Default::default()
    };
    let mut buf = Vec::with_capacity(head.encoded_len() + tools.len() * 512);
    head.encode_raw(&mut buf);
    for tool in &tools {
        let schemas: Vec<(u32, &serde_json::Map<String, serde_json::Value>)> = SCHEMAS
            .iter()
            .filter_map(|(tag, key)| Some((*tag, tool.definition.get(*key)?.as_object()?)))
            .collect();
        let schemas_len: usize = schemas.iter().map(|(t, m)| struct_field_len(*t, m)).sum();
        let bare = tool_without_schemas(tool);
        encode_key(3, WireType::LengthDelimited, &mut buf);
        encode_varint((bare.encoded_len() + schemas_len) as u64, &mut buf);
        bare.encode_raw(&mut buf);
        for (tag, map) in schemas {
            encode_struct_field(tag, map, &mut buf);
        }
    }
    for e in excluded {
        prost::encoding::message::encode(4, &excluded_to_pb(e), &mut buf);
    }
    for i in issues {
        prost::encoding::message::encode(5, &issue_to_pb(i), &mut buf);
    }
    Bytes::from(buf)
}

/// A resolved tool without its schemas.
fn tool_without_schemas(t: &ResolvedTool) -> pb::ResolvedTool {
    pb::ResolvedTool {
        title: string_field(&t.definition, "title"),
        description: string_field(&t.definition, "description"),
        input_schema: None,
        output_schema: None,
        annotations: None,
        qualified_name: t.qualified_name.clone(),
        server_id: t.server_id.clone(),
        server_name: t.server_name.clone(),
        name: t.name.clone(),
        definition_hash: t.definition_hash.clone(),
        aliased: t.aliased,
        description_replaced: t.description_replaced,
    }
}

fn excluded_to_pb(e: ExcludedTool) -> pb::ExcludedTool {
    pb::ExcludedTool {
        server_id: e.server_id,
        server_name: e.server_name,
        tool_name: e.tool_name,
        reason: pb::ExclusionReason::from(e.reason) as i32,
        definition_hash: e.definition_hash,
        alias: e.alias.unwrap_or_default(),
    }
}

fn issue_to_pb(issue: SettingIssue) -> pb::SettingIssue {
    pb::SettingIssue {
        server_id: issue.server_id,
        server_name: issue.server_name,
        tool_name: issue.tool_name,
        kind: pb::SettingIssueKind::from(issue.kind) as i32,
        shown_name: issue.shown_name,
    }
}

/// An ExportPack request, read: which pack, which version (0: the current
/// one) and what the configuration points at.
pub struct ExportRequest {
    pub id: String,
    pub version: i64,
    pub target: ExportTarget,
}

impl TryFrom<pb::ExportPackRequest> for ExportRequest {
    type Error = Error;

    fn try_from(request: pb::ExportPackRequest) -> Result<Self, Error> {
        let pb::ExportPackRequest {
            id,
            version: v,
            target,
        } = request;
        let mut violations = Violations::new();
        check_id(&mut violations, "id", "pack", &id);
        let version = version(v, true, &mut violations);
        let target = violations
            .check("target", enum_or(target, ExportTarget::Direct))
            .unwrap_or(ExportTarget::Direct);
        violations.finish()?;
        Ok(Self {
            id,
            version,
            target,
        })
    }
}

impl TryFrom<Export> for pb::ExportPackResponse {
    type Error = Error;

    fn try_from(export: Export) -> Result<Self, Error> {
        Ok(pb::ExportPackResponse {
            pack_id: export.pack_id,
            version: export.version,
            config_json: serde_json::to_string_pretty(&export.config).map_err(Error::internal)?,
            servers: export
                .servers
                .into_iter()
                .map(|s| pb::ExportedServer {
                    key: s.key,
                    server_id: s.server_id,
                    transport: pb::ExportTransport::from(s.transport) as i32,
                    url: s.url,
                    server_name: s.server_name,
                })
                .collect(),
            placeholders: export
                .placeholders
                .into_iter()
                .map(|p| pb::ExportPlaceholder {
                    name: p.name,
                    server_id: p.server_id,
                    header_name: p.header_name,
                    description: p.description,
                })
                .collect(),
        })
    }
}

/// A ListPacks request, read: the filters (`server_id`, `query`,
/// `created_by_subject`, `mine`, the latter resolved for the caller) and the
/// page parameters.
pub struct PackListing {
    pub filter: PackFilter,
    pub page_size: i32,
    pub page_token: String,
}

impl PackListing {
    /// Reads `request` for `caller`, adding a violation for each invalid field.
    pub fn read(request: pb::ListPacksRequest, caller: &Caller, v: &mut Violations) -> Self {
        let pb::ListPacksRequest {
            page_size,
            page_token,
            server_id,
            query,
            created_by_subject,
            mine,
        } = request;
        let filter = PackFilter {
            holding: optional_server_id(&server_id, v),
            text: optional_text(&query, "query", v),
            owner: creator_filter("created_by_subject", created_by_subject, mine, caller, v),
        };
        Self {
            filter,
            page_size,
            page_token,
        }
    }

    /// The filters as page tokens are bound to them (every filter, the owner
    /// as resolved for the caller).
    pub fn bound(&self) -> String {
        format!("filter={:?}", self.filter)
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use serde_json::json;

    use super::*;

    fn tool(name: &str, definition: serde_json::Value) -> ResolvedTool {
        ResolvedTool {
            qualified_name: format!("s__{name}"),
            server_id: "mcp_1".into(),
            server_name: "s".into(),
            name: name.into(),
            definition,
            definition_hash: "h".repeat(64),
            aliased: name == "b",
            description_replaced: false,
        }
    }

    #[test]
    fn an_encoded_resolution_decodes_to_the_converted_message() {
        let resolution = Resolution {
            pack_id: "pack_1".into(),
            version: 3,
            server_ids: vec!["mcp_1".into()],
            tools: vec![
                tool(
                    "a",
                    json!({"name": "a", "title": "A", "description": "does a",
                        "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}},
                        "outputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}}),
                ),
                tool("b", json!({"name": "b", "inputSchema": {}})),
                tool("c", json!({"name": "c", "inputSchema": "not an object"})),
            ],
            excluded: vec![ExcludedTool {
                server_id: "mcp_2".into(),
                server_name: "t".into(),
                tool_name: String::new(),
                reason: Exclusion::ServerDeleted,
                definition_hash: String::new(),
                alias: Some("x".into()),
            }],
            issues: vec![SettingIssue {
                server_id: "mcp_1".into(),
                server_name: "s".into(),
                tool_name: "gone".into(),
                kind: SettingIssueKind::UnknownTool,
                shown_name: String::new(),
            }],
        };
        let bytes = encode_resolution(resolution.clone());
        let converted = pb::ResolvePackResponse::from(resolution);
        assert_eq!(bytes.len(), converted.encoded_len());
        let decoded = pb::ResolvePackResponse::decode(bytes).expect("decode");
        assert_eq!(decoded, converted);
        let empty = Resolution {
            pack_id: "pack_2".into(),
            version: 1,
            server_ids: Vec::new(),
            tools: Vec::new(),
            excluded: Vec::new(),
            issues: Vec::new(),
        };
        let converted = pb::ResolvePackResponse::from(empty.clone());
        assert_eq!(encode_resolution(empty).to_vec(), converted.encode_to_vec());
    }
}
