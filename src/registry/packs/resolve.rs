//! ResolvePack: which tools of a pack's members an agent may call now.

use std::collections::{HashMap, HashSet};

use crate::registry::packs::model::{
    ExcludedTool, Exclusion, Offered, Resolution, ResolvedTool, RevisionMember, SettingIssue,
    SettingIssueKind, ToolSetting,
};
use crate::registry::servers::{Capability, CapabilityKind, McpServer, ServerStatus, ToolApproval};

/// Prefix of the URIs under which a pack offers its members' resources:
/// `mcp-registry://<server label>/<the upstream's own URI>`.
pub const RESOURCE_SCHEME: &str = "mcp-registry://";

/// Resolves `members` (current members, or a revision's when `frozen`).
/// `servers` and `tools` hold what exists now; a revision's member that no
/// longer exists is reported as SERVER_DELETED.
///
/// The members' tool settings apply after the server's own rules and before
/// the revision's and the approvals' (see [`exclusion`]); an offered tool is
/// shown under its alias, with its replacement description. Names are
/// given deterministically: every alias of an existing member is taken
/// first, then each other offered tool, in member order, gets
/// `<server>__<tool>` or, when that is taken (by an alias too, which is then
/// reported as [`SettingIssueKind::NameTakenByAlias`]), the smallest free
/// suffix `_2`, `_3`… Settings naming a tool the server's last successful
/// sync did not find are reported as [`SettingIssueKind::UnknownTool`].
pub fn resolve(
    pack_id: &str,
    version: i64,
    members: &[RevisionMember],
    frozen: bool,
    servers: &[McpServer],
    tools: &HashMap<String, Vec<Capability>>,
) -> Resolution {
    let by_id: HashMap<&str, &McpServer> = servers.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut resolved = Vec::new();
    let mut excluded = Vec::new();
    let mut issues = Vec::new();
    // Aliases are unique within a pack (UpdatePackServerTools checks it), so
    // taking them all first makes no alias depend on member order.
    let aliases: HashSet<String> = members
        .iter()
        .filter(|m| by_id.contains_key(m.server_id.as_str()))
        .flat_map(|m| m.settings.tools.iter().filter_map(|t| t.alias.clone()))
        .collect();
    let mut used_names: HashSet<String> = aliases.clone();
    let mut shown_aliases: HashSet<&str> = HashSet::new();
    for member in members {
        let Some(server) = by_id.get(member.server_id.as_str()) else {
            excluded.push(whole(
                &member.server_id,
                &member.name,
                Exclusion::ServerDeleted,
            ));
            continue;
        };
        if server.last_successful_sync_at.is_none() {
            let reason = if server.enabled {
                Exclusion::ServerNeverSynced
            } else {
                Exclusion::ServerDisabled
            };
            excluded.push(whole(&server.id, &server.name, reason));
            continue;
        }
        let pinned: Option<HashMap<&str, &str>> = frozen.then(|| {
            member
                .tools
                .iter()
                .map(|t| (t.name.as_str(), t.definition_hash.as_str()))
                .collect()
        });
        let empty = Vec::new();
        let server_tools = tools.get(&server.id).unwrap_or(&empty);
        for tool in server_tools {
            let setting = member.settings.tool(&tool.key);
            let listed = !member.settings.only_listed || setting.is_some();
            if let Some(reason) = exclusion(server, tool, pinned.as_ref(), setting, listed) {
                excluded.push(ExcludedTool {
                    server_id: server.id.clone(),
                    server_name: server.name.clone(),
                    tool_name: tool.key.clone(),
                    reason,
                    definition_hash: tool.definition_hash.clone(),
                    alias: setting.and_then(|s| s.alias.clone()),
                });
                continue;
            }
            let alias = setting
                .and_then(|s| s.alias.as_deref())
                .filter(|alias| shown_aliases.insert(alias));
            let qualified_name = match alias {
                Some(alias) => alias.to_owned(),
                None => {
                    let natural = format!("{}__{}", server.name, tool.key);
                    let shown = unique_name(&mut used_names, natural.clone());
                    if aliases.contains(&natural) {
                        issues.push(SettingIssue {
                            server_id: server.id.clone(),
                            server_name: server.name.clone(),
                            tool_name: tool.key.clone(),
                            kind: SettingIssueKind::NameTakenByAlias,
                            shown_name: shown.clone(),
                        });
                    }
                    shown
                }
            };
            let (definition, description_replaced) = described(&tool.definition, setting);
            resolved.push(ResolvedTool {
                qualified_name,
                server_id: server.id.clone(),
                server_name: server.name.clone(),
                name: tool.key.clone(),
                definition,
                definition_hash: tool.definition_hash.clone(),
                aliased: alias.is_some(),
                description_replaced,
            });
        }
        let known: HashSet<&str> = server_tools.iter().map(|t| t.key.as_str()).collect();
        issues.extend(
            (member.settings.tools.iter())
                .filter(|s| !known.contains(s.tool_name.as_str()))
                .map(|s| SettingIssue {
                    server_id: server.id.clone(),
                    server_name: server.name.clone(),
                    tool_name: s.tool_name.clone(),
                    kind: SettingIssueKind::UnknownTool,
                    shown_name: String::new(),
                }),
        );
    }
    Resolution {
        pack_id: pack_id.to_owned(),
        version,
        server_ids: members.iter().map(|m| m.server_id.clone()).collect(),
        tools: resolved,
        excluded,
        issues,
    }
}

/// `definition` with the setting's replacement description, if it has one,
/// and whether it had.
fn described(
    definition: &serde_json::Value,
    setting: Option<&ToolSetting>,
) -> (serde_json::Value, bool) {
    match setting.and_then(|s| s.description.as_deref()) {
        Some(description) if !description.is_empty() => {
            let mut definition = definition.clone();
            if let serde_json::Value::Object(map) = &mut definition {
                map.insert("description".into(), description.into());
            }
            (definition, true)
        }
        _ => (definition.clone(), false),
    }
}

/// The prompts, resources or resource templates (`kind`) that `members`
/// offer, under the names or URIs the pack gateway shows: prompts as
/// `<server name>__<prompt name>` (made unique like tool names), resources
/// and templates as `mcp-registry://<server label>/<upstream URI>`, where
/// the label is the server's name, suffixed `_2`, `_3`… when two members
/// share it. A member offers them while its server exists, is enabled, and
/// its last sync succeeded (ResolvePack's whole-server rules; tool settings
/// and approvals concern tools only).
pub fn offer(
    members: &[RevisionMember],
    servers: &[McpServer],
    items: &HashMap<String, Vec<Capability>>,
    kind: CapabilityKind,
) -> Vec<Offered> {
    let by_id: HashMap<&str, &McpServer> = servers.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut offered = Vec::new();
    let mut used_names: HashSet<String> = HashSet::new();
    let empty = Vec::new();
    for (server, label) in labelled(members, &by_id) {
        if !server.enabled
            || server.status == ServerStatus::Error
            || server.last_successful_sync_at.is_none()
        {
            continue;
        }
        for item in items.get(&server.id).unwrap_or(&empty) {
            let shown = match kind {
                CapabilityKind::Prompt | CapabilityKind::Tool => {
                    unique_name(&mut used_names, format!("{}__{}", server.name, item.key))
                }
                CapabilityKind::Resource | CapabilityKind::ResourceTemplate => {
                    format!("{RESOURCE_SCHEME}{label}/{}", item.key)
                }
            };
            offered.push(Offered {
                shown,
                server_id: server.id.clone(),
                key: item.key.clone(),
                definition: item.definition.clone(),
            });
        }
    }
    offered
}

/// The member a resource URI shown by the gateway names, and the
/// upstream's own URI; `None` when it is not of that form or names no member.
pub fn resource_of<'a>(
    uri: &'a str,
    members: &[RevisionMember],
    servers: &'a [McpServer],
) -> Option<(&'a McpServer, &'a str)> {
    let (label, upstream_uri) = uri.strip_prefix(RESOURCE_SCHEME)?.split_once('/')?;
    let by_id: HashMap<&str, &McpServer> = servers.iter().map(|s| (s.id.as_str(), s)).collect();
    labelled(members, &by_id)
        .into_iter()
        .find(|(_, l)| l == label)
        .map(|(server, _)| (server, upstream_uri))
}

/// The existing member servers with their labels, in member order.
fn labelled<'a>(
    members: &[RevisionMember],
    by_id: &HashMap<&str, &'a McpServer>,
) -> Vec<(&'a McpServer, String)> {
    let mut used: HashSet<String> = HashSet::new();
    members
        .iter()
        .filter_map(|m| by_id.get(m.server_id.as_str()).copied())
        .map(|server| (server, unique_name(&mut used, server.name.clone())))
        .collect()
}

/// The first reason (in the enum's order) to leave `tool` out, if any:
/// the server's own rules, then the pack's settings (`setting` for the tool;
/// `listed` false when the member offers only listed tools and this one is
/// not), then the revision's pins, then approval (always of the upstream
/// name and definition, whatever the alias).
fn exclusion(
    server: &McpServer,
    tool: &Capability,
    pinned: Option<&HashMap<&str, &str>>,
    setting: Option<&ToolSetting>,
    listed: bool,
) -> Option<Exclusion> {
    if !server.enabled {
        return Some(Exclusion::ServerDisabled);
    }
    if server.status == ServerStatus::Error {
        return Some(Exclusion::ServerError);
    }
    if !server.tool_configuration.enabled {
        return Some(Exclusion::ToolsDisabled);
    }
    let allowed = &server.tool_configuration.allowed_tools;
    if !allowed.is_empty() && !allowed.contains(&tool.key) {
        return Some(Exclusion::NotAllowed);
    }
    if setting.is_some_and(|s| s.hidden) {
        return Some(Exclusion::Hidden);
    }
    if !listed {
        return Some(Exclusion::NotListed);
    }
    if let Some(pinned) = pinned {
        match pinned.get(tool.key.as_str()) {
            None => return Some(Exclusion::AddedSinceRevision),
            Some(hash) if *hash != tool.definition_hash => {
                return Some(Exclusion::ChangedSinceRevision);
            }
            Some(_) => {}
        }
    }
    match server.tool_approval(&tool.key, &tool.definition_hash) {
        ToolApproval::NotApproved => Some(Exclusion::NotApproved),
        ToolApproval::ChangedSinceApproval => Some(Exclusion::ChangedSinceApproval),
        ToolApproval::NotRequired | ToolApproval::Approved => None,
    }
}

fn whole(server_id: &str, server_name: &str, reason: Exclusion) -> ExcludedTool {
    ExcludedTool {
        server_id: server_id.to_owned(),
        server_name: server_name.to_owned(),
        tool_name: String::new(),
        reason,
        definition_hash: String::new(),
        alias: None,
    }
}

/// Returns `base`, or `base_2`, `base_3`, … whichever is free first, and marks it used.
pub fn unique_name(used: &mut HashSet<String>, base: String) -> String {
    if used.insert(base.clone()) {
        return base;
    }
    let mut n = 2;
    loop {
        let candidate = format!("{base}_{n}");
        if used.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_take_the_smallest_free_suffix() {
        let mut used = HashSet::new();
        assert_eq!(unique_name(&mut used, "a__b".into()), "a__b");
        assert_eq!(unique_name(&mut used, "a__b".into()), "a__b_2");
        used.insert("a__b_3".into());
        assert_eq!(unique_name(&mut used, "a__b".into()), "a__b_4");
    }
}
