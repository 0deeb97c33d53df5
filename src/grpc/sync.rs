//! SyncService: authenticate, convert (`convert::sync`), call the sync
//! engine (syncs, events) or the domain's run queries, convert back.
//! WatchSyncEvents streams are forwarded by one task each, counted per scope.

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
use crate::grpc::convert::id;
use crate::grpc::convert::sync::{RunListing, missed_event, run_event, tool_summaries};
use crate::grpc::{Reply, caller};
use crate::pagination::PageTokens;
use crate::pb;
use crate::pb::sync_service_server::SyncService;
use crate::registry::runs::Runs;
use crate::registry::scope_visible_from;
use crate::registry::servers::Servers;
use crate::sync::engine::{SyncEvent, Syncer};

/// The SyncService implementation.
pub struct SyncApi {
    syncer: Syncer,
    runs: Runs,
    /// Reads a server's tools for SyncMcpServer's `include_tools`.
    servers: Servers,
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
        servers: Servers,
        keyring: Arc<Keyring>,
        stopping: CancellationToken,
        max_watchers: usize,
    ) -> Self {
        Self {
            syncer,
            runs,
            servers,
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
    ) -> Reply<pb::SyncRun> {
        let caller = caller(&request)?;
        let pb::SyncMcpServerRequest {
            id: given,
            include_tools,
        } = request.into_inner();
        let server = id("id", "mcp", given)?;
        let mut run = pb::SyncRun::from(self.syncer.sync_now(&caller, &server).await?);
        if include_tools {
            run.discovered_tools = tool_summaries(self.servers.tools(&caller, &server).await?);
        }
        Ok(Response::new(run))
    }

    async fn get_sync_run(&self, request: Request<pb::GetSyncRunRequest>) -> Reply<pb::SyncRun> {
        let caller = caller(&request)?;
        let run = id("id", "sync", request.into_inner().id)?;
        Ok(Response::new(self.runs.get(&caller, &run).await?.into()))
    }

    async fn list_sync_runs(
        &self,
        request: Request<pb::ListSyncRunsRequest>,
    ) -> Reply<pb::ListSyncRunsResponse> {
        let caller = caller(&request)?;
        let mut v = Violations::new();
        let listing = RunListing::read(request.into_inner(), &mut v);
        let (server_id, filter) = (&listing.server_id, &listing.filter);
        let query = format!(
            "sync_runs?scope={}&server={server_id}&filter={filter:?}",
            caller.scope()
        );
        let tokens = PageTokens::new(&self.keyring, query);
        let page = tokens.parse(listing.page_size, &listing.page_token, &mut v);
        v.finish()?;
        let server = listing.server.as_deref();
        let page = self.runs.list(&caller, server, filter, &page).await?;
        Ok(Response::new(pb::ListSyncRunsResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            sync_runs: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    async fn watch_sync_events(
        &self,
        request: Request<pb::WatchSyncEventsRequest>,
    ) -> Reply<EventStream> {
        let caller = caller(&request)?;
        let pb::WatchSyncEventsRequest { server_id } = request.into_inner();
        let watched = match server_id.as_str() {
            "" => None,
            given => Some(id("server_id", "mcp", given.to_owned())?),
        };
        self.runs.check_watch(&caller, watched.as_deref()).await?;
        let own_scope = caller.scope().to_owned();
        let slot = self.admit_watcher(&own_scope)?;
        let events = self.syncer.subscribe();
        let (tx, rx) = mpsc::channel(64);
        let watch = Watch {
            own_scope,
            server_id,
        };
        tokio::spawn(forward(events, tx, self.stopping.clone(), watch, slot));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// What one WatchSyncEvents stream wants to see.
struct Watch {
    /// The watcher's own scope: without a server, its runs only.
    own_scope: String,
    /// One server's runs (visible to the watcher), or empty for the scope's.
    server_id: String,
}

impl Watch {
    fn wants(&self, event: &SyncEvent) -> bool {
        let run = &event.run;
        if self.server_id.is_empty() {
            run.scope == self.own_scope
        } else {
            run.server_id == self.server_id && scope_visible_from(&self.own_scope, &run.scope)
        }
    }
}

/// Forwards the events `watch` wants to one stream until the client goes
/// away or shutdown starts; a lagging subscriber is told how many events it
/// missed. Holds the organization's watcher slot until it ends.
async fn forward(
    mut events: broadcast::Receiver<SyncEvent>,
    tx: mpsc::Sender<Result<pb::SyncEvent, Status>>,
    stopping: CancellationToken,
    watch: Watch,
    slot: WatcherSlot,
) {
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
            // The client went away: free its place at once, even when no
            // event comes to find out.
            () = tx.closed() => return,
            event = events.recv() => event,
        };
        let message = match event {
            Ok(event) if watch.wants(&event) => run_event(event.run),
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(missed)) => missed_event(missed),
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if tx.send(Ok(message)).await.is_err() {
            return;
        }
    }
}
