//! ResolvePack: which tools of a pack's members an agent may call now.

use std::collections::{HashMap, HashSet};

use crate::registry::packs::model::{
    ExcludedTool, Exclusion, Offered, Resolution, ResolvedTool, RevisionMember,
};
use crate::registry::servers::{Capability, CapabilityKind, McpServer, ServerStatus, ToolApproval};

/// Prefix of the URIs under which a pack offers its members' resources:
/// `mcp-registry://<server label>/<the upstream's own URI>`.
pub const RESOURCE_SCHEME: &str = "mcp-registry://";

/// Resolves `members` (current members, or a revision's when `frozen`).
/// `servers` and `tools` hold what exists now; a revision's member that no
/// longer exists is reported as SERVER_DELETED.
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
    let mut used_names: HashSet<String> = HashSet::new();
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
        for tool in tools.get(&server.id).unwrap_or(&empty) {
            match exclusion(server, tool, pinned.as_ref()) {
                Some(reason) => excluded.push(ExcludedTool {
                    server_id: server.id.clone(),
                    server_name: server.name.clone(),
                    tool_name: tool.key.clone(),
                    reason,
                    definition_hash: tool.definition_hash.clone(),
                }),
                None => resolved.push(ResolvedTool {
                    qualified_name: unique_name(
                        &mut used_names,
                        format!("{}__{}", server.name, tool.key),
                    ),
                    server_id: server.id.clone(),
                    server_name: server.name.clone(),
                    name: tool.key.clone(),
                    definition: tool.definition.clone(),
                    definition_hash: tool.definition_hash.clone(),
                }),
            }
        }
    }
    Resolution {
        pack_id: pack_id.to_owned(),
        version,
        server_ids: members.iter().map(|m| m.server_id.clone()).collect(),
        tools: resolved,
        excluded,
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

/// The first reason (in the enum's order) to leave `tool` out, if any.
fn exclusion(
    server: &McpServer,
    tool: &Capability,
    pinned: Option<&HashMap<&str, &str>>,
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
