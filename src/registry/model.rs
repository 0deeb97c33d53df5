//! Domain values shared by the services.

use std::fmt;

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
    Organization { organization_id: String, role: Role },
}

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
    },
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

    /// Fails with PERMISSION_DENIED for VIEWER keys, which may only read.
    pub fn require_write(&self) -> Result<(), Error> {
        match self {
            Self::Member {
                role: Role::Viewer, ..
            } => Err(Error::PermissionDenied(
                "viewer api keys may only read".into(),
            )),
            _ => Ok(()),
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
