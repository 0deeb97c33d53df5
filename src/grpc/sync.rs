//! SyncService: translation between protobuf and the sync engine (syncs,
//! events) and the domain's run queries.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::crypto::Keyring;
use crate::error::{Error, Violations};
use crate::grpc::{caller, opt_timestamp, timestamp};
use crate::pagination::PageTokens;
use crate::pb;
use crate::pb::sync_service_server::SyncService;
use crate::registry::admin::validate_id;
use crate::registry::now_micros;
use crate::registry::runs::{
    CapabilityOutcome, CapabilityResult, Outcome, Runs, SyncFailure, SyncRun, Trigger,
};
use crate::registry::servers::Transport;
use crate::sync::engine::Syncer;

/// The SyncService implementation.
pub struct SyncApi {
    syncer: Syncer,
    runs: Runs,
    keyring: Arc<Keyring>,
    /// Cancelled when shutdown starts: event streams end then.
    stopping: CancellationToken,
    /// Open WatchSyncEvents streams by scope (organization id or catalog).
    watchers: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    /// Most open streams per scope (`--max-watchers-per-org`).
    max_watchers: usize,
}

impl SyncApi {
    pub fn new(
        syncer: Syncer,
        runs: Runs,
        keyring: Arc<Keyring>,
        stopping: CancellationToken,
        max_watchers: usize,
    ) -> Self {
        Self {
            syncer,
            runs,
            keyring,
            stopping,
            watchers: Arc::default(),
            max_watchers,
        }
    }

    /// Counts one more stream of `scope`, or TOO_MANY_WATCHERS at the cap.
    /// The stream is uncounted when the returned guard drops.
    fn admit_watcher(&self, scope: &str) -> Result<WatcherSlot, Error> {
        let mut open = self
            .watchers
            .lock()
            .map_err(|_| Error::internal(anyhow::anyhow!("watcher count poisoned")))?;
        let count = open.entry(scope.to_owned()).or_default();
        if *count >= self.max_watchers {
            return Err(Error::TooManyWatchers(format!(
                "this organization already has {count} WatchSyncEvents streams open on this replica (the limit); close one first"
            )));
        }
        *count += 1;
        Ok(WatcherSlot {
            watchers: self.watchers.clone(),
            scope: scope.to_owned(),
        })
    }
}

/// One admitted WatchSyncEvents stream; frees its place when dropped.
struct WatcherSlot {
    watchers: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    scope: String,
}

impl Drop for WatcherSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.watchers.lock()
            && let Some(count) = open.get_mut(&self.scope)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.scope);
            }
        }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::SyncEvent, Status>> + Send>>;

#[tonic::async_trait]
impl SyncService for SyncApi {
    async fn sync_mcp_server(
        &self,
        request: Request<pb::SyncMcpServerRequest>,
    ) -> Result<Response<pb::SyncRun>, Status> {
        let caller = caller(&request)?;
        let pb::SyncMcpServerRequest { id } = request.into_inner();
        validate_id("id", "mcp", &id).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let run = self.syncer.sync_now(&caller, &id).await?;
        Ok(Response::new(run_to_pb(run)))
    }

    async fn get_sync_run(
        &self,
        request: Request<pb::GetSyncRunRequest>,
    ) -> Result<Response<pb::SyncRun>, Status> {
        let caller = caller(&request)?;
        let pb::GetSyncRunRequest { id } = request.into_inner();
        validate_id("id", "sync", &id).map_err(|v| Error::InvalidArgument(vec![v]))?;
        Ok(Response::new(run_to_pb(self.runs.get(&caller, &id).await?)))
    }

    async fn list_sync_runs(
        &self,
        request: Request<pb::ListSyncRunsRequest>,
    ) -> Result<Response<pb::ListSyncRunsResponse>, Status> {
        let caller = caller(&request)?;
        let pb::ListSyncRunsRequest {
            page_size,
            page_token,
            server_id,
        } = request.into_inner();
        let mut v = Violations::new();
        if !server_id.is_empty()
            && let Err(violation) = validate_id("server_id", "mcp", &server_id)
        {
            v.add(violation.field, violation.description);
        }
        let tokens = PageTokens::new(
            &self.keyring,
            format!("sync_runs?scope={}&server={server_id}", caller.scope()),
        );
        let page = tokens.parse(page_size, &page_token, &mut v);
        v.finish()?;
        let server = (!server_id.is_empty()).then_some(server_id.as_str());
        let page = self.runs.list(&caller, server, &page).await?;
        Ok(Response::new(pb::ListSyncRunsResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            sync_runs: page.items.into_iter().map(run_to_pb).collect(),
        }))
    }

    async fn watch_sync_events(
        &self,
        request: Request<pb::WatchSyncEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let caller = caller(&request)?;
        let pb::WatchSyncEventsRequest { server_id } = request.into_inner();
        if !server_id.is_empty() {
            validate_id("server_id", "mcp", &server_id)
                .map_err(|v| Error::InvalidArgument(vec![v]))?;
            self.runs.check_visible(&caller, &server_id).await?;
        }
        let own_scope = caller.scope().to_owned();
        let slot = self.admit_watcher(&own_scope)?;
        let mut events = self.syncer.subscribe();
        let stopping = self.stopping.clone();
        let (tx, rx) = mpsc::channel(64);
        // The forwarder ends when the client goes away or shutdown starts; a
        // lagging subscriber is told how many events it missed. It holds the
        // organization's watcher slot until it ends.
        tokio::spawn(async move {
            let _slot = slot;
            loop {
                let event = tokio::select! {
                    () = stopping.cancelled() => {
                        let status = Status::from(Error::ShuttingDown(
                            "this replica is shutting down; reconnect to watch on",
                        ));
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                    // The client went away: free its place at once, even
                    // when no event comes to find out.
                    () = tx.closed() => return,
                    event = events.recv() => event,
                };
                let message = match event {
                    Ok(event) => {
                        let run = event.run;
                        let wanted = if server_id.is_empty() {
                            run.scope == own_scope
                        } else {
                            run.server_id == server_id
                                && crate::registry::scope_visible_from(&own_scope, &run.scope)
                        };
                        if !wanted {
                            continue;
                        }
                        pb::SyncEvent {
                            kind: match run.outcome {
                                Outcome::Running => pb::SyncEventKind::Started,
                                Outcome::Succeeded => pb::SyncEventKind::Succeeded,
                                Outcome::Failed => pb::SyncEventKind::Failed,
                            } as i32,
                            server_id: run.server_id.clone(),
                            occurred_at: Some(timestamp(run.finished_at.unwrap_or(run.started_at))),
                            run: Some(run_to_pb(run)),
                            missed_count: 0,
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => pb::SyncEvent {
                        kind: pb::SyncEventKind::EventsMissed as i32,
                        server_id: String::new(),
                        run: None,
                        occurred_at: Some(timestamp(now_micros())),
                        missed_count: i64::try_from(missed).unwrap_or(i64::MAX),
                    },
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

impl From<SyncFailure> for pb::ErrorReason {
    fn from(failure: SyncFailure) -> Self {
        match failure {
            SyncFailure::UpstreamUnreachable => Self::UpstreamUnreachable,
            SyncFailure::UpstreamProtocolError => Self::UpstreamProtocolError,
            SyncFailure::UpstreamAuthFailed => Self::UpstreamAuthFailed,
            SyncFailure::CredentialsUnusable => Self::CredentialsUnusable,
            SyncFailure::Internal => Self::Internal,
            SyncFailure::Unknown => Self::Unspecified,
        }
    }
}

fn result_to_pb(result: CapabilityResult) -> pb::CapabilityResult {
    pb::CapabilityResult {
        outcome: match result.outcome {
            CapabilityOutcome::Ok => pb::CapabilityOutcome::Ok,
            CapabilityOutcome::Failed => pb::CapabilityOutcome::Failed,
            CapabilityOutcome::NotSupported => pb::CapabilityOutcome::NotSupported,
            CapabilityOutcome::Skipped => pb::CapabilityOutcome::Skipped,
        } as i32,
        count: i32::try_from(result.count).unwrap_or(i32::MAX),
        pages: i32::try_from(result.pages).unwrap_or(i32::MAX),
        error_message: result.error_message,
    }
}

/// Converts a run for a response.
pub fn run_to_pb(run: SyncRun) -> pb::SyncRun {
    pb::SyncRun {
        id: run.id,
        server_id: run.server_id,
        server_name: run.server_name,
        trigger: match run.trigger {
            Trigger::Created => pb::SyncTrigger::Created,
            Trigger::Updated => pb::SyncTrigger::Updated,
            Trigger::Scheduled => pb::SyncTrigger::Scheduled,
            Trigger::Manual => pb::SyncTrigger::Manual,
        } as i32,
        started_at: Some(timestamp(run.started_at)),
        finished_at: opt_timestamp(run.finished_at),
        outcome: match run.outcome {
            Outcome::Running => pb::SyncOutcome::Running,
            Outcome::Succeeded => pb::SyncOutcome::Succeeded,
            Outcome::Failed => pb::SyncOutcome::Failed,
        } as i32,
        transport: match run.transport {
            Some(Transport::StreamableHttp) => pb::Transport::StreamableHttp,
            Some(Transport::Sse) => pb::Transport::Sse,
            Some(Transport::Auto) | None => pb::Transport::Unspecified,
        } as i32,
        protocol_version: run.protocol_version,
        tools: Some(result_to_pb(run.results.tools)),
        prompts: Some(result_to_pb(run.results.prompts)),
        resources: Some(result_to_pb(run.results.resources)),
        resource_templates: Some(result_to_pb(run.results.resource_templates)),
        changes: Some(pb::SyncChanges {
            tools_added: run.changes.tools_added,
            tools_removed: run.changes.tools_removed,
            tools_changed: run.changes.tools_changed,
            tools_unapproved: run.changes.tools_unapproved,
        }),
        error: run.error.map(|e| pb::SyncError {
            reason: pb::ErrorReason::from(e.reason) as i32,
            message: e.message,
            occurred_at: Some(timestamp(e.occurred_at)),
            sync_run_id: e.sync_run_id,
        }),
        instance_id: run.instance_id,
    }
}
