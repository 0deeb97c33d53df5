//! Sync runs: the record of one attempt to sync a server.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::registry::Micros;
use crate::registry::servers::{ApprovalPolicy, LastError, Transport};

/// What started a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Created,
    Updated,
    Scheduled,
    Manual,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

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
