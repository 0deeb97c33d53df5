//! SyncService conversions: runs, their failures and events.

use crate::error::Violations;
use crate::grpc::convert::{check_id, count, wire_enum};
use crate::grpc::json::string_field;
use crate::grpc::{opt_timestamp, timestamp};
use crate::pb;
use crate::registry::now_micros;
use crate::registry::runs::{
    CapabilityOutcome, CapabilityResult, Outcome, SyncFailure, SyncRun, Trigger,
};
use crate::registry::servers::{Capability, LastError, Transport};

wire_enum!("error reason", SyncFailure => pb::ErrorReason {
    UpstreamUnreachable = UpstreamUnreachable, UpstreamProtocolError = UpstreamProtocolError,
    UpstreamAuthFailed = UpstreamAuthFailed, CredentialsUnusable = CredentialsUnusable,
    Internal = Internal, Unknown = Unspecified,
});
wire_enum!("trigger", Trigger => pb::SyncTrigger {
    Created = Created, Updated = Updated, Scheduled = Scheduled, Manual = Manual,
});
wire_enum!("outcome", Outcome => pb::SyncOutcome {
    Running = Running, Succeeded = Succeeded, Failed = Failed,
});
wire_enum!("capability outcome", CapabilityOutcome => pb::CapabilityOutcome {
    Ok = Ok, Failed = Failed, NotSupported = NotSupported, Skipped = Skipped,
});

/// A server id that may be empty (meaning every server).
pub fn optional_server_id(server_id: &str, v: &mut Violations) -> Option<String> {
    if server_id.is_empty() {
        return None;
    }
    check_id(v, "server_id", "mcp", server_id);
    Some(server_id.to_owned())
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
