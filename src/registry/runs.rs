//! Sync runs: the record of one attempt to sync a server ([`SyncRun`]), why
//! a sync failed ([`SyncFailure`]), and the queries on runs that a caller may
//! make ([`Runs`]). The sync engine writes runs; this module reads them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, UpstreamFailure};
use crate::pagination::{Page, PageRequest};
use crate::registry::servers::{ApprovalPolicy, LastError, Lookup, Servers, Transport};
use crate::registry::{Caller, Micros};
use crate::store::{RunQuery, Store};

/// Why a sync failed. Stored by its [`SyncFailure::as_str`] spelling, an
/// `ErrorReason` name without its prefix; a stored spelling this build does
/// not know reads as [`SyncFailure::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncFailure {
    /// Connection refused, DNS failure, timeout, an address the SSRF guard
    /// refused, or a sync interrupted by a stopping replica.
    UpstreamUnreachable,
    /// The server answered with something that is not valid MCP.
    UpstreamProtocolError,
    /// The server (or its OAuth2 token endpoint) refused the credentials.
    UpstreamAuthFailed,
    /// The server's OAuth connection is missing or must be authorized again.
    UpstreamAuthRequired,
    /// The stored credentials or sealed headers cannot be decrypted.
    CredentialsUnusable,
    /// The sync's result could not be stored.
    Internal,
    /// A stored spelling this build does not know.
    Unknown,
}

impl SyncFailure {
    /// Every failure, in the order of the `ErrorReason` values.
    pub const ALL: [Self; 7] = [
        Self::UpstreamUnreachable,
        Self::UpstreamProtocolError,
        Self::UpstreamAuthFailed,
        Self::CredentialsUnusable,
        Self::Internal,
        Self::Unknown,
        Self::UpstreamAuthRequired,
    ];

    /// Returns the stored spelling (also the metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpstreamUnreachable => UpstreamFailure::Unreachable.reason(),
            Self::UpstreamProtocolError => UpstreamFailure::ProtocolError.reason(),
            Self::UpstreamAuthFailed => UpstreamFailure::AuthFailed.reason(),
            Self::UpstreamAuthRequired => UpstreamFailure::AuthRequired.reason(),
            Self::CredentialsUnusable => "CREDENTIALS_UNUSABLE",
            Self::Internal => "INTERNAL",
            Self::Unknown => "UNSPECIFIED",
        }
    }

    /// Reads a stored spelling; an unknown one is [`SyncFailure::Unknown`].
    pub fn parse(text: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|failure| failure.as_str() == text)
            .unwrap_or(Self::Unknown)
    }

    /// Returns the error a SyncMcpServer call answers for a run that failed
    /// this way (the run itself is stored).
    pub fn to_error(self, message: String, sync_run_id: String) -> Error {
        let failure = match self {
            Self::CredentialsUnusable => return Error::CredentialsUnusable(message),
            Self::UpstreamAuthFailed => UpstreamFailure::AuthFailed,
            Self::UpstreamAuthRequired => UpstreamFailure::AuthRequired,
            Self::UpstreamProtocolError => UpstreamFailure::ProtocolError,
            Self::UpstreamUnreachable | Self::Internal | Self::Unknown => {
                UpstreamFailure::Unreachable
            }
        };
        Error::Upstream {
            failure,
            message,
            sync_run_id,
        }
    }
}

impl From<UpstreamFailure> for SyncFailure {
    fn from(failure: UpstreamFailure) -> Self {
        match failure {
            UpstreamFailure::Unreachable => Self::UpstreamUnreachable,
            UpstreamFailure::ProtocolError => Self::UpstreamProtocolError,
            UpstreamFailure::AuthFailed => Self::UpstreamAuthFailed,
            UpstreamFailure::AuthRequired => Self::UpstreamAuthRequired,
        }
    }
}

/// Reads a stored spelling, like [`SyncFailure::parse`].
impl From<&str> for SyncFailure {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl fmt::Display for SyncFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SyncFailure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SyncFailure {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Ok(Self::parse(&text))
    }
}

/// What started a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Created,
    Updated,
    Scheduled,
    Manual,
    /// The upstream said one of its lists changed (on a gateway session).
    ListChanged,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Running,
    Succeeded,
    Failed,
}

/// What happened to one list method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityOutcome {
    Ok,
    Failed,
    NotSupported,
    Skipped,
}

/// Outcome, count and pages of one list method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityResult {
    pub outcome: CapabilityOutcome,
    pub count: u32,
    pub pages: u32,
    pub error_message: String,
}

impl CapabilityResult {
    /// A list that was not attempted.
    pub fn skipped() -> Self {
        Self {
            outcome: CapabilityOutcome::Skipped,
            count: 0,
            pages: 0,
            error_message: String::new(),
        }
    }
}

/// The four list methods of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Results {
    pub tools: CapabilityResult,
    pub prompts: CapabilityResult,
    pub resources: CapabilityResult,
    pub resource_templates: CapabilityResult,
}

impl Default for Results {
    fn default() -> Self {
        Self {
            tools: CapabilityResult::skipped(),
            prompts: CapabilityResult::skipped(),
            resources: CapabilityResult::skipped(),
            resource_templates: CapabilityResult::skipped(),
        }
    }
}

/// Tools a successful run added, removed or changed, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub tools_added: Vec<String>,
    pub tools_removed: Vec<String>,
    pub tools_changed: Vec<String>,
    /// Changed tools whose approval no longer holds (REQUIRE_ALL servers).
    pub tools_unapproved: Vec<String>,
}

impl Changes {
    /// Compares the stored tools (name → hash) with the new ones.
    pub fn between(
        old: &HashMap<String, String>,
        new: &BTreeMap<String, String>,
        policy: ApprovalPolicy,
        approvals: &BTreeMap<String, String>,
    ) -> Self {
        let mut changes = Self::default();
        for (name, hash) in new {
            match old.get(name) {
                None => changes.tools_added.push(name.clone()),
                Some(previous) if previous != hash => {
                    changes.tools_changed.push(name.clone());
                    if policy == ApprovalPolicy::RequireAll && approvals.contains_key(name) {
                        changes.tools_unapproved.push(name.clone());
                    }
                }
                Some(_) => {}
            }
        }
        let mut removed: Vec<String> = old
            .keys()
            .filter(|name| !new.contains_key(*name))
            .cloned()
            .collect();
        removed.sort();
        changes.tools_removed = removed;
        changes
    }
}

/// One attempt to sync a server.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRun {
    pub id: String,
    pub server_id: String,
    /// The server's organization id, or `catalog`.
    pub scope: String,
    pub server_name: String,
    pub trigger: Trigger,
    pub started_at: Micros,
    pub finished_at: Option<Micros>,
    pub outcome: Outcome,
    pub transport: Option<Transport>,
    pub protocol_version: String,
    pub results: Results,
    pub changes: Changes,
    pub error: Option<LastError>,
    pub instance_id: String,
}

/// Which runs a listing keeps, besides its server or scope. Its `Debug`
/// spelling is canonical (outcomes sorted, each once), so page tokens can be
/// bound to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs with one of these outcomes; empty keeps every outcome.
    outcomes: Vec<Outcome>,
    /// Only runs started at or after this instant.
    started_after: Option<Micros>,
    /// Only runs started before this instant.
    started_before: Option<Micros>,
}

impl RunFilter {
    /// Returns the filter, or the message for both bounds when the range
    /// `[started_after, started_before)` is empty.
    pub fn new(
        mut outcomes: Vec<Outcome>,
        started_after: Option<Micros>,
        started_before: Option<Micros>,
    ) -> Result<Self, String> {
        if let (Some(after), Some(before)) = (started_after, started_before)
            && before <= after
        {
            return Err("started_before must be later than started_after".to_owned());
        }
        outcomes.sort();
        outcomes.dedup();
        Ok(Self {
            outcomes,
            started_after,
            started_before,
        })
    }

    /// The outcomes kept; empty keeps every outcome.
    pub fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }

    /// The inclusive lower bound on the start time.
    pub fn started_after(&self) -> Option<Micros> {
        self.started_after
    }

    /// The exclusive upper bound on the start time.
    pub fn started_before(&self) -> Option<Micros> {
        self.started_before
    }
}

/// Run queries with the caller's visibility applied. Cheap to clone.
#[derive(Clone)]
pub struct Runs {
    /// Where runs are read from.
    store: Store,
    /// Decides which servers (and so whose runs) a caller sees.
    servers: Servers,
}

impl Runs {
    /// Returns the run queries over `store`, seen through `servers`.
    pub fn new(store: Store, servers: Servers) -> Self {
        Self { store, servers }
    }

    /// Returns a run of a server the caller may see; PERMISSION_DENIED for
    /// pack-limited keys, which read no runs.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<SyncRun, Error> {
        caller.require_unlimited()?;
        let not_found = || Error::NotFound {
            kind: "sync run",
            id: id.to_owned(),
        };
        let run = self.store.get_sync_run(id).await?.ok_or_else(not_found)?;
        if !caller.sees_scope(&run.scope) {
            return Err(not_found());
        }
        Ok(run)
    }

    /// Lists runs of one visible server, or of the caller's scope, that
    /// `filter` keeps.
    pub async fn list(
        &self,
        caller: &Caller,
        server_id: Option<&str>,
        filter: &RunFilter,
        page: &PageRequest<String>,
    ) -> Result<Page<SyncRun, String>, Error> {
        caller.require_unlimited()?;
        let query = match server_id {
            Some(id) => {
                self.check_visible(caller, id).await?;
                RunQuery::Server(id.to_owned())
            }
            None => RunQuery::Scope(caller.scope().to_owned()),
        };
        self.store.list_sync_runs(&query, filter, page).await
    }

    /// Checks that the caller may watch the sync events of `server_id`, or
    /// of its own scope when `None`: not a pack-limited key, and the server
    /// visible.
    pub async fn check_watch(&self, caller: &Caller, server_id: Option<&str>) -> Result<(), Error> {
        caller.require_unlimited()?;
        match server_id {
            Some(id) => self.check_visible(caller, id).await,
            None => Ok(()),
        }
    }

    /// Checks that a server (whose runs are asked for or watched) is
    /// visible to the caller.
    async fn check_visible(&self, caller: &Caller, server_id: &str) -> Result<(), Error> {
        self.servers
            .get(caller, Lookup::Id(server_id.to_owned()))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_reads_back_from_its_stored_spelling() {
        for failure in SyncFailure::ALL {
            assert_eq!(SyncFailure::parse(failure.as_str()), failure);
        }
    }

    #[test]
    fn an_unknown_stored_spelling_reads_as_unknown() {
        assert_eq!(SyncFailure::parse("GREMLINS"), SyncFailure::Unknown);
    }

    #[test]
    fn a_failure_is_stored_as_the_string_stored_before_it_had_a_type() {
        let error = LastError {
            reason: SyncFailure::UpstreamAuthFailed,
            message: "refused".into(),
            occurred_at: 1,
            sync_run_id: "sync_1".into(),
        };
        let json = serde_json::to_string(&error).unwrap();
        assert!(
            json.contains(r#""reason":"UPSTREAM_AUTH_FAILED""#),
            "{json}"
        );
    }

    #[test]
    fn an_error_stored_with_a_string_reason_reads_as_its_failure() {
        let stored = r#"{"reason":"CREDENTIALS_UNUSABLE","message":"m","occurred_at":1}"#;
        let read: LastError = serde_json::from_str(stored).unwrap();
        assert_eq!(read.reason, SyncFailure::CredentialsUnusable);
    }

    #[test]
    fn changes_name_added_removed_changed_and_unapproved_tools() {
        let old: HashMap<String, String> = [("a", "1"), ("b", "2"), ("c", "3")]
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let new: BTreeMap<String, String> = [("a", "1"), ("b", "9"), ("d", "4")]
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let approvals: BTreeMap<String, String> = [("b".to_owned(), "2".to_owned())].into();
        let changes = Changes::between(&old, &new, ApprovalPolicy::RequireAll, &approvals);
        assert_eq!(changes.tools_added, vec!["d"]);
        assert_eq!(changes.tools_removed, vec!["c"]);
        assert_eq!(changes.tools_changed, vec!["b"]);
        assert_eq!(changes.tools_unapproved, vec!["b"]);
        let relaxed = Changes::between(&old, &new, ApprovalPolicy::RequireNone, &approvals);
        assert!(relaxed.tools_unapproved.is_empty());
    }
}
