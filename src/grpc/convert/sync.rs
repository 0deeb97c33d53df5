//! SyncService conversions: runs, their failures and events.

use crate::error::Violations;
use crate::grpc::convert::{
    count, micros_at_or_after, optional_server_id, required_enum, wire_enum,
};
use crate::grpc::json::string_field;
use crate::grpc::{opt_timestamp, timestamp};
use crate::pb;
use crate::registry::now_micros;
use crate::registry::runs::{
    CapabilityOutcome, CapabilityResult, Outcome, RunFilter, SyncFailure, SyncRun, Trigger,
};
use crate::registry::servers::{Capability, LastError, Transport};

wire_enum!("error reason", SyncFailure => pb::ErrorReason {
    UpstreamUnreachable = UpstreamUnreachable, UpstreamProtocolError = UpstreamProtocolError,
    UpstreamAuthFailed = UpstreamAuthFailed, CredentialsUnusable = CredentialsUnusable,
    Internal = Internal, Unknown = Unspecified, UpstreamAuthRequired = UpstreamAuthRequired,
});
wire_enum!("trigger", Trigger => pb::SyncTrigger {
    Created = Created, Updated = Updated, Scheduled = Scheduled, Manual = Manual,
    ListChanged = ListChanged,
});
wire_enum!("outcome", Outcome => pb::SyncOutcome {
    Running = Running, Succeeded = Succeeded, Failed = Failed,
});
wire_enum!("capability outcome", CapabilityOutcome => pb::CapabilityOutcome {
    Ok = Ok, Failed = Failed, NotSupported = NotSupported, Skipped = Skipped,
});

/// A ListSyncRuns request, read: the server (if any), the filter and the
/// page parameters. Fields that are invalid are recorded as violations.
pub struct RunListing {
    /// The server given, as sent (empty for every server): bound into page tokens.
    pub server_id: String,
    /// The server, when one was given.
    pub server: Option<String>,
    pub filter: RunFilter,
    pub page_size: i32,
    pub page_token: String,
}

impl RunListing {
    /// Reads `request`, adding a violation for each invalid field.
    pub fn read(request: pb::ListSyncRunsRequest, v: &mut Violations) -> Self {
        let pb::ListSyncRunsRequest {
            page_size,
            page_token,
            server_id,
            outcomes,
            started_after,
            started_before,
        } = request;
        let outcomes = outcomes
            .into_iter()
            .enumerate()
            .filter_map(|(i, outcome)| {
                v.check(format!("outcomes[{i}]"), required_enum::<Outcome>(outcome))
            })
            .collect();
        let after = started_after.and_then(|t| v.check("started_after", micros_at_or_after(&t)));
        let before = started_before.and_then(|t| v.check("started_before", micros_at_or_after(&t)));
        let filter = RunFilter::new(outcomes, after, before).unwrap_or_else(|message| {
            v.add("started_after", message.clone());
            v.add("started_before", message);
            RunFilter::default()
        });
        Self {
            server: optional_server_id(&server_id, v),
            server_id,
            filter,
            page_size,
            page_token,
        }
    }
}

impl From<LastError> for pb::SyncError {
    fn from(error: LastError) -> Self {
        Self {
            reason: pb::ErrorReason::from(error.reason) as i32,
            message: error.message,
            occurred_at: Some(timestamp(error.occurred_at)),
            sync_run_id: error.sync_run_id,
        }
    }
}

impl From<CapabilityResult> for pb::CapabilityResult {
    fn from(result: CapabilityResult) -> Self {
        Self {
            outcome: pb::CapabilityOutcome::from(result.outcome) as i32,
            count: count(i64::from(result.count)),
            pages: count(i64::from(result.pages)),
            error_message: result.error_message,
        }
    }
}

impl From<SyncRun> for pb::SyncRun {
    fn from(run: SyncRun) -> Self {
        Self {
            id: run.id,
            server_id: run.server_id,
            server_name: run.server_name,
            trigger: pb::SyncTrigger::from(run.trigger) as i32,
            started_at: Some(timestamp(run.started_at)),
            finished_at: opt_timestamp(run.finished_at),
            outcome: pb::SyncOutcome::from(run.outcome) as i32,
            // A run reports the transport it used; AUTO is never one.
            transport: match run.transport {
                Some(Transport::StreamableHttp) => pb::Transport::StreamableHttp,
                Some(Transport::Sse) => pb::Transport::Sse,
                Some(Transport::Auto) | None => pb::Transport::Unspecified,
            } as i32,
            protocol_version: run.protocol_version,
            tools: Some(run.results.tools.into()),
            prompts: Some(run.results.prompts.into()),
            resources: Some(run.results.resources.into()),
            resource_templates: Some(run.results.resource_templates.into()),
            changes: Some(pb::SyncChanges {
                tools_added: run.changes.tools_added,
                tools_removed: run.changes.tools_removed,
                tools_changed: run.changes.tools_changed,
                tools_unapproved: run.changes.tools_unapproved,
            }),
            error: run.error.map(Into::into),
            instance_id: run.instance_id,
            // Only SyncMcpServer's answer carries them (`tool_summaries`).
            discovered_tools: Vec::new(),
        }
    }
}

/// A server's tools as SyncMcpServer's `discovered_tools`.
pub fn tool_summaries(tools: Vec<Capability>) -> Vec<pb::ToolSummary> {
    tools
        .into_iter()
        .map(|tool| pb::ToolSummary {
            description: string_field(&tool.definition, "description"),
            name: tool.key,
        })
        .collect()
}

/// The event of a run that started or ended.
pub fn run_event(run: SyncRun) -> pb::SyncEvent {
    pb::SyncEvent {
        kind: match run.outcome {
            Outcome::Running => pb::SyncEventKind::Started,
            Outcome::Succeeded => pb::SyncEventKind::Succeeded,
            Outcome::Failed => pb::SyncEventKind::Failed,
        } as i32,
        server_id: run.server_id.clone(),
        occurred_at: Some(timestamp(run.finished_at.unwrap_or(run.started_at))),
        run: Some(run.into()),
        missed_count: 0,
    }
}

/// The event telling a lagging watcher how many events it missed.
pub fn missed_event(missed: u64) -> pb::SyncEvent {
    pb::SyncEvent {
        kind: pb::SyncEventKind::EventsMissed as i32,
        server_id: String::new(),
        run: None,
        occurred_at: Some(timestamp(now_micros())),
        missed_count: i64::try_from(missed).unwrap_or(i64::MAX),
    }
}
