//! Domain values shared by the services.

use std::fmt;
use std::sync::Arc;

use crate::error::Error;

/// An organization's subscription level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plan {
    Free,
    Pro,
    Enterprise,
}

impl Plan {
    /// Returns the stable lowercase name stored in the database and used by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Pro => "pro",
            Self::Enterprise => "enterprise",
        }
    }

    /// Parses a name made by [`Plan::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "free" => Some(Self::Free),
            "pro" => Some(Self::Pro),
            "enterprise" => Some(Self::Enterprise),
            _ => None,
        }
    }
}

/// What an organization's API key may do inside its organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Member,
    Viewer,
}

impl Role {
    /// Returns the stable lowercase name stored in the database and used by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }

    /// Parses a name made by [`Role::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

/// Microseconds since the Unix epoch.
pub type Micros = i64;

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub name: OrganizationName,
    pub plan: Plan,
    pub created_at: Micros,
    pub updated_at: Micros,
    /// Number of updates so far; the etag is derived from it, so an etag is never reused.
    pub revision: i64,
}

impl Organization {
    /// Returns the opaque version tag of this state of the organization.
    pub fn etag(&self) -> String {
        etag_of(self.revision)
    }
}

/// Renders a row revision as an etag.
pub fn etag_of(revision: i64) -> String {
    format!("r{revision}")
}

/// An organization's name: 1 to 200 characters, no control characters, no
/// leading or trailing whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationName(String);

impl OrganizationName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(value: impl Into<String>) -> Result<Self, &'static str> {
        let value = value.into();
        if value.is_empty() {
            return Err("is required");
        }
        if value.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 200 characters");
        }
        if value.trim() != value {
            return Err("must not start or end with whitespace");
        }
        if value.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrganizationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whom an API key speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyScope {
    /// A platform-admin key: AdminService and catalog servers, no organization.
    PlatformAdmin,
    /// A key of one organization with a role.
    Organization {
        organization_id: String,
        role: Role,
        /// The packs a pack-limited key is confined to (at most
        /// [`MAX_KEY_PACKS`]); empty for a key that is not limited. A limited
        /// key only reads, whatever its role: those packs, and their current
        /// member servers (see [`Caller::pack_limit`]).
        pack_ids: Vec<String>,
    },
}

/// Most packs one API key may be limited to.
pub const MAX_KEY_PACKS: usize = 100;

/// An API key as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub scope: KeyScope,
    pub display_name: String,
    pub created_at: Micros,
    /// Id of the key that created this one, or `cli`.
    pub created_by: String,
    pub last_used_at: Option<Micros>,
    pub revoked_at: Option<Micros>,
    /// A service key (organization keys only): its calls may name the end
    /// user they act for in `x-mcp-registry-subject`.
    pub acts_for_users: bool,
}

/// The authenticated party of a request (or the local CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// `mcp-registry admin ...` on the machine: full platform rights.
    Cli,
    /// A call made with a platform-admin key.
    PlatformAdmin { key_id: String },
    /// A call made with an organization's key.
    Member {
        key_id: String,
        organization_id: String,
        role: Role,
        /// `Some`: a pack-limited key, confined to these packs (never empty);
        /// `None`: the key reaches its whole organization.
        packs: Option<Arc<[String]>>,
        /// The end user a service key acts for in this call; `None` when the
        /// key acts for itself (always for keys that are not service keys).
        subject: Option<Arc<str>>,
    },
}

/// Who owns (created) a server or pack: the end user a service key acted
/// for, or else the key. Ownership follows the subject when there is one,
/// so a rotated service key keeps its users' servers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    Subject(String),
    Key(String),
}

impl Owner {
    /// The owner recorded as `created_by` / `created_by_subject`.
    pub fn of(created_by: &str, created_by_subject: Option<&str>) -> Self {
        match created_by_subject {
            Some(subject) => Self::Subject(subject.to_owned()),
            None => Self::Key(created_by.to_owned()),
        }
    }

    /// Whether `created_by` / `created_by_subject` name this owner.
    pub fn owns(&self, created_by: &str, created_by_subject: Option<&str>) -> bool {
        match self {
            Self::Subject(subject) => created_by_subject == Some(subject.as_str()),
            Self::Key(key) => created_by_subject.is_none() && created_by == key,
        }
    }
}

/// Scope of what belongs to no organization: catalog servers' names and their runs.
pub const CATALOG_SCOPE: &str = "catalog";

/// [`Caller::sees_scope`] for a caller known only by its own scope.
pub fn scope_visible_from(own_scope: &str, scope: &str) -> bool {
    scope == own_scope || scope == CATALOG_SCOPE
}

impl Caller {
    /// Returns the organization of an organization key; `None` for platform
    /// keys and the CLI.
    pub fn organization_id(&self) -> Option<&str> {
        match self {
            Caller::Member {
                organization_id, ..
            } => Some(organization_id),
            Caller::PlatformAdmin { .. } | Caller::Cli => None,
        }
    }

    /// Returns the caller's own scope: its organization's id, or
    /// [`CATALOG_SCOPE`] for platform keys and the CLI. Page tokens, watcher
    /// counts and default run listings are keyed by it.
    pub fn scope(&self) -> &str {
        self.organization_id().unwrap_or(CATALOG_SCOPE)
    }

    /// Returns whether things of `scope` (runs, names) are visible to the
    /// caller: its own scope and the catalog.
    pub fn sees_scope(&self, scope: &str) -> bool {
        scope_visible_from(self.scope(), scope)
    }

    /// Returns who to record as author of a change: the key id, or `cli`.
    pub fn actor(&self) -> &str {
        match self {
            Self::Cli => "cli",
            Self::PlatformAdmin { key_id } | Self::Member { key_id, .. } => key_id,
        }
    }

    /// Returns the end user the caller acts for, if any.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Self::Member {
                subject: Some(subject),
                ..
            } => Some(subject),
            _ => None,
        }
    }

    /// Returns whom what the caller creates belongs to: its subject, or its key.
    pub fn owner(&self) -> Owner {
        match self.subject() {
            Some(subject) => Owner::Subject(subject.to_owned()),
            None => Owner::Key(self.actor().to_owned()),
        }
    }

    /// Whether the caller is `owner`: the same subject, or the same key
    /// acting for itself.
    pub fn is_owner(&self, owner: &Owner) -> bool {
        match (owner, self.subject()) {
            (Owner::Subject(owner), Some(subject)) => owner == subject,
            (Owner::Key(owner), None) => owner == self.actor(),
            _ => false,
        }
    }

    /// Fails with PERMISSION_DENIED for VIEWER keys and pack-limited keys,
    /// which may only read.
    pub fn require_write(&self) -> Result<(), Error> {
        match self {
            Self::Member {
                role: Role::Viewer, ..
            } => Err(Error::PermissionDenied(
                "viewer api keys may only read".into(),
            )),
            Self::Member { packs: Some(_), .. } => Err(limited()),
            _ => Ok(()),
        }
    }

    /// Returns the packs a pack-limited key is confined to; `None` when the
    /// caller is not limited. A limited key reads those packs (get, list,
    /// revisions, resolve, export), the servers that are current members of
    /// them (get and capability listings), and calls them through the pack
    /// gateway; everything else is PERMISSION_DENIED.
    pub fn pack_limit(&self) -> Option<&[String]> {
        match self {
            Self::Member {
                packs: Some(packs), ..
            } => Some(packs),
            _ => None,
        }
    }

    /// Fails with PERMISSION_DENIED when the caller is a pack-limited key
    /// and `pack_id` is not one of its packs. Decided from the key alone,
    /// before any lookup, so it says nothing about the pack.
    pub fn check_pack(&self, pack_id: &str) -> Result<(), Error> {
        match self.pack_limit() {
            Some(packs) if !packs.iter().any(|p| p == pack_id) => Err(Error::PermissionDenied(
                format!("this api key is limited to other packs than {pack_id}"),
            )),
            _ => Ok(()),
        }
    }

    /// Fails with PERMISSION_DENIED for pack-limited keys: for what is not
    /// reached through a pack (server listings, sync runs and events).
    pub fn require_unlimited(&self) -> Result<(), Error> {
        match self.pack_limit() {
            Some(_) => Err(limited()),
            None => Ok(()),
        }
    }

    /// Fails with PERMISSION_DENIED unless the caller has platform rights.
    pub fn require_platform_admin(&self) -> Result<(), Error> {
        match self {
            Self::Cli | Self::PlatformAdmin { .. } => Ok(()),
            Self::Member { .. } => Err(Error::PermissionDenied(
                "this call needs a platform-admin API key".into(),
            )),
        }
    }
}

/// The refusal of what a pack-limited key may not do.
fn limited() -> Error {
    Error::PermissionDenied(
        "pack-limited api keys may only read their packs and those packs' servers".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role, packs: Option<&[&str]>) -> Caller {
        Caller::Member {
            key_id: "key_1".into(),
            organization_id: "org_1".into(),
            role,
            packs: packs.map(|p| p.iter().map(|s| (*s).to_owned()).collect()),
            subject: None,
        }
    }

    #[test]
    fn ownership_follows_the_subject_when_there_is_one() {
        let acting = |key_id: &str, subject: Option<&str>| Caller::Member {
            key_id: key_id.into(),
            organization_id: "org_1".into(),
            role: Role::Member,
            packs: None,
            subject: subject.map(Arc::from),
        };
        let alices = Owner::of("key_old", Some("alice"));
        assert!(acting("key_new", Some("alice")).is_owner(&alices));
        assert!(!acting("key_old", Some("bob")).is_owner(&alices));
        assert!(!acting("key_old", None).is_owner(&alices));
        let keys = Owner::of("key_old", None);
        assert!(acting("key_old", None).is_owner(&keys));
        assert!(!acting("key_old", Some("alice")).is_owner(&keys));
        assert!(!acting("key_new", None).is_owner(&keys));
        assert_eq!(acting("key_new", Some("alice")).owner(), alices);
    }

    #[test]
    fn a_pack_limited_key_only_reads_whatever_its_role() {
        let limited = key(Role::Admin, Some(&["pack_a"]));
        assert!(matches!(
            limited.require_write(),
            Err(Error::PermissionDenied(_))
        ));
        assert!(key(Role::Admin, None).require_write().is_ok());
        assert!(key(Role::Viewer, None).require_write().is_err());
    }

    #[test]
    fn a_pack_limited_key_reaches_its_packs_only() {
        let limited = key(Role::Member, Some(&["pack_a", "pack_b"]));
        assert!(limited.check_pack("pack_b").is_ok());
        assert!(matches!(
            limited.check_pack("pack_c"),
            Err(Error::PermissionDenied(_))
        ));
        assert!(matches!(
            limited.require_unlimited(),
            Err(Error::PermissionDenied(_))
        ));
        let unlimited = key(Role::Member, None);
        assert!(unlimited.check_pack("pack_c").is_ok());
        assert!(unlimited.require_unlimited().is_ok());
        assert!(Caller::Cli.check_pack("pack_c").is_ok());
    }
}
