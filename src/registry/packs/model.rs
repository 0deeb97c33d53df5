//! Pack values.

use serde::{Deserialize, Serialize};

use crate::registry::{Micros, Plan};

/// A member of a pack: a server, its current name, and how the pack offers
/// its tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub server_id: String,
    pub name: String,
    /// Left out of revisions' `changed_servers` (which name servers only).
    #[serde(default, skip_serializing_if = "ToolSettings::is_empty")]
    pub settings: ToolSettings,
}

impl Member {
    /// The member as a revision names a changed server: without settings.
    pub fn bare(&self) -> Self {
        Self {
            server_id: self.server_id.clone(),
            name: self.name.clone(),
            settings: ToolSettings::default(),
        }
    }
}

/// How a pack offers one member's tools (its curation): per tool, hidden,
/// renamed or described differently; with `only_listed`, only the tools
/// named here are offered. Stored as JSON on the member row and in every
/// revision's member snapshot. Valid by construction when it comes from a
/// request (`grpc::convert::pack` parses aliases and descriptions with
/// [`crate::registry::ToolAlias`] and [`crate::registry::ToolDescription`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSettings {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub only_listed: bool,
    /// Sorted by tool name, each name once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSetting>,
}

impl ToolSettings {
    /// Whether these are no settings at all (every tool offered as is).
    pub fn is_empty(&self) -> bool {
        !self.only_listed && self.tools.is_empty()
    }

    /// The setting for tool `name`, if any.
    pub fn tool(&self, name: &str) -> Option<&ToolSetting> {
        self.tools
            .binary_search_by(|t| t.tool_name.as_str().cmp(name))
            .ok()
            .and_then(|i| self.tools.get(i))
    }
}

/// A pack's setting for one tool of a member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSetting {
    /// The tool's name on its server.
    pub tool_name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// The name agents see instead of `<server>__<tool>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The description agents see instead of the upstream's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A pack as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pack {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    pub members: Vec<Member>,
    pub version: i64,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub created_by: String,
    pub modified_by: String,
    /// The end user a service key acted for when it created the resource
    /// (see [`crate::registry::Owner`]); `None` for a key acting for itself.
    pub created_by_subject: Option<String>,
    /// The end user a service key acted for in the last change.
    pub modified_by_subject: Option<String>,
}

impl Pack {
    /// Returns the opaque version tag of this state of the pack.
    pub fn etag(&self) -> String {
        crate::registry::etag_of(self.version)
    }

    /// Returns whether `server_id` is a member.
    pub fn contains(&self, server_id: &str) -> bool {
        self.members.iter().any(|m| m.server_id == server_id)
    }
}

/// What a revision changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    ServerAdded,
    ServerRemoved,
    ServersReplaced,
    Restored,
    ServerDeleted,
    ToolSettingsUpdated,
}

impl ChangeKind {
    /// Returns the stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::ServerAdded => "server_added",
            Self::ServerRemoved => "server_removed",
            Self::ServersReplaced => "servers_replaced",
            Self::Restored => "restored",
            Self::ServerDeleted => "server_deleted",
            Self::ToolSettingsUpdated => "tool_settings_updated",
        }
    }

    /// Parses a name made by [`ChangeKind::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Created,
            Self::Updated,
            Self::ServerAdded,
            Self::ServerRemoved,
            Self::ServersReplaced,
            Self::Restored,
            Self::ServerDeleted,
            Self::ToolSettingsUpdated,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }
}

/// A tool definition frozen in a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedTool {
    pub name: String,
    pub definition_hash: String,
}

/// A member as a revision froze it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionMember {
    pub server_id: String,
    pub name: String,
    pub tools: Vec<PinnedTool>,
    /// The pack's tool settings for it (none in revisions made before
    /// settings existed).
    #[serde(default, skip_serializing_if = "ToolSettings::is_empty")]
    pub settings: ToolSettings,
}

/// The immutable record of one version of a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackRevision {
    pub pack_id: String,
    pub version: i64,
    pub author: String,
    pub created_at: Micros,
    pub change_kind: ChangeKind,
    pub changed_servers: Vec<Member>,
    pub updated_fields: Vec<String>,
    pub restored_from_version: i64,
    pub name: String,
    pub description: String,
    pub members: Vec<RevisionMember>,
    /// For [`ChangeKind::ToolSettingsUpdated`], the tools whose settings changed.
    pub changed_tools: Vec<String>,
}

/// A reference to a server in a request: by id, by name, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

impl ServerRef {
    /// How the reference reads in messages.
    pub fn describe(&self) -> String {
        match (&self.id, &self.name) {
            (Some(id), _) => id.clone(),
            (None, Some(name)) => format!("named {name:?}"),
            (None, None) => "(none)".into(),
        }
    }
}

/// The limits of a plan; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    pub packs: Option<u64>,
    pub servers_per_pack: Option<usize>,
    pub private_servers: bool,
}

impl PlanLimits {
    /// Returns the limits of `plan` (seed 000).
    pub fn of(plan: Plan) -> Self {
        match plan {
            Plan::Free => Self {
                packs: Some(1),
                servers_per_pack: Some(5),
                private_servers: false,
            },
            Plan::Pro => Self {
                packs: Some(10),
                servers_per_pack: Some(50),
                private_servers: true,
            },
            Plan::Enterprise => Self {
                packs: None,
                servers_per_pack: None,
                private_servers: true,
            },
        }
    }
}

/// Why ResolvePack leaves a tool (or a whole member) out, in reporting order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exclusion {
    ServerDeleted,
    ServerDisabled,
    ServerNeverSynced,
    ServerError,
    ToolsDisabled,
    NotAllowed,
    Hidden,
    NotListed,
    AddedSinceRevision,
    ChangedSinceRevision,
    NotApproved,
    ChangedSinceApproval,
}

/// A tool an agent may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedTool {
    pub qualified_name: String,
    pub server_id: String,
    pub server_name: String,
    pub name: String,
    /// The upstream definition, with the pack's replacement description
    /// when it has one (`definition_hash` is always the upstream's).
    pub definition: serde_json::Value,
    pub definition_hash: String,
    /// Whether `qualified_name` is the pack's alias.
    pub aliased: bool,
    /// Whether the description is the pack's replacement.
    pub description_replaced: bool,
}

/// A tool, or a whole member (empty `tool_name`), left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcludedTool {
    pub server_id: String,
    pub server_name: String,
    pub tool_name: String,
    pub reason: Exclusion,
    pub definition_hash: String,
    /// The alias the pack's tool settings give the tool, if any.
    pub alias: Option<String>,
}

/// A prompt, resource or resource template a pack offers through the
/// gateway (see [`crate::registry::packs::resolve::offer`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Offered {
    /// Its name (prompts) or URI (resources, templates) as the gateway shows it.
    pub shown: String,
    pub server_id: String,
    /// Its name, URI or URI template upstream.
    pub key: String,
    /// Its definition as the upstream declared it.
    pub definition: serde_json::Value,
}

/// What ResolvePack answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub pack_id: String,
    pub version: i64,
    /// Every member resolved (existing or not), in pack order: what the
    /// answer depends on besides the pack.
    pub server_ids: Vec<String>,
    pub tools: Vec<ResolvedTool>,
    pub excluded: Vec<ExcludedTool>,
    /// Settings that could not be applied as written.
    pub issues: Vec<SettingIssue>,
}

/// What is wrong with a tool setting in a resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingIssueKind {
    /// The setting names a tool the server does not have.
    UnknownTool,
    /// The tool's qualified name is another tool's alias; it is shown
    /// suffixed.
    NameTakenByAlias,
}

/// A tool setting a resolution could not apply as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingIssue {
    pub server_id: String,
    pub server_name: String,
    pub tool_name: String,
    pub kind: SettingIssueKind,
    /// For [`SettingIssueKind::NameTakenByAlias`], the name it is shown
    /// under (empty when it is not offered).
    pub shown_name: String,
}

/// What an exported configuration points MCP clients at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportTarget {
    /// Each member's own URL, with the servers' secrets as placeholders.
    Direct,
    /// The pack's endpoint on the pack gateway, with a registry API key as
    /// the one placeholder.
    Gateway,
}

/// Transport of an exported entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportTransport {
    Http,
    Sse,
}

/// One entry of an exported configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedServer {
    pub key: String,
    pub server_id: String,
    pub server_name: String,
    pub transport: ExportTransport,
    pub url: String,
}

/// An environment variable standing for a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub name: String,
    pub server_id: String,
    pub header_name: String,
    pub description: String,
}

/// What ExportPack answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    pub pack_id: String,
    pub version: i64,
    pub config: serde_json::Value,
    pub servers: Vec<ExportedServer>,
    pub placeholders: Vec<Placeholder>,
}
