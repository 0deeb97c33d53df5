//! The sync engine's handle, [`Syncer`]: one sync of one server, from its
//! stored configuration to a stored run. The work is split by job: the
//! scheduler with its leases and backoff ([`crate::sync::scheduler`]), the
//! request headers and OAuth2 tokens ([`crate::sync::credentials`]) and the
//! lifecycle of one run ([`crate::sync::lifecycle`]). Plaintext secrets exist
//! only inside one sync, in its request headers, and are dropped with them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::Error;
use crate::registry::Caller;
use crate::registry::audit::{Action, AuditEvent};
use crate::registry::oauth::OAuth;
use crate::registry::runs::{SyncRun, Trigger};
use crate::registry::servers::{Lookup, Servers};
use crate::store::Store;
use crate::sync::client::Limits;
use crate::sync::credentials::HeaderBuilder;
use crate::sync::guard::GuardPolicy;
use crate::sync::http::upstream_client;
use crate::sync::locks::ServerLocks;
use crate::sync::oauth::http::OAuthHttp;
use crate::sync::oauth::tokens::OAuthTokens;

/// How syncs connect.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Which upstream addresses a sync may reach (the SSRF guard).
    pub policy: GuardPolicy,
    /// Bounds on one discovery (deadline, pages, sizes), so that no upstream
    /// can hold a sync or its memory without end.
    pub limits: Limits,
    /// Longest wait for a TCP connection, so an unreachable upstream fails fast.
    pub connect_timeout: Duration,
    /// Whether background syncs and the scheduler run at all (`--background-sync`).
    pub background: bool,
    /// Time between two syncs of a healthy server (`--sync-interval`), ±10 %.
    pub interval: Duration,
    /// Longest wait after failures (`--sync-max-backoff`); the first retry
    /// waits min(interval, 30 s), each further failure doubles it.
    pub max_backoff: Duration,
    /// Most syncs at once in this process (`--sync-concurrency`).
    pub concurrency: usize,
    /// Most servers this process watches at once (`--upstream-watches`; 0:
    /// none), see [`crate::sync::watches`].
    pub watches: usize,
}

/// A live sync event, for WatchSyncEvents.
#[derive(Debug, Clone)]
pub struct SyncEvent {
    /// The run as it just started (RUNNING) or finished.
    pub run: SyncRun,
}

/// Runs syncs. Cheap to clone: every clone shares one [`Inner`].
#[derive(Clone)]
pub struct Syncer {
    /// What every clone (and every sync task) shares.
    pub(super) inner: Arc<Inner>,
}

/// The state of the engine, shared by the handle, the scheduler and the syncs.
pub(super) struct Inner {
    /// Where runs, leases and sync results are stored.
    pub(super) store: Store,
    /// Decides who may sync a server.
    pub(super) servers: Servers,
    /// The guarded upstream client every discovery uses, built once so that
    /// connections are pooled across syncs.
    pub(super) client: reqwest::Client,
    /// The request headers of each sync, with the OAuth2 token cache and
    /// the OAuth connections' tokens.
    pub(super) credentials: HeaderBuilder,
    /// OAuth connections: rights, the redirect allow-list, sealing.
    pub(super) oauth: OAuth,
    /// OAuth's requests (discovery, registration, token endpoint), guarded.
    pub(super) oauth_http: OAuthHttp,
    /// Limits, policy, interval and backoff, from the command line.
    pub(super) settings: SyncSettings,
    /// Identifies this process in sync runs and leases (replica id), so that
    /// what it leaves behind at shutdown or after a crash can be found.
    pub(super) instance_id: String,
    /// Every run as it starts and finishes, for WatchSyncEvents.
    pub(super) events: broadcast::Sender<SyncEvent>,
    /// One sync per server at a time in this process (the lease covers the
    /// other replicas).
    pub(super) locks: ServerLocks,
    /// The pack gateway's upstream sessions, one per server.
    pub(super) pool: crate::sync::pool::Pool,
    /// Servers with a sync pending because they announced a change, and
    /// whether another announcement came since that sync started.
    pub(super) announced: std::sync::Mutex<std::collections::HashMap<String, bool>>,
    /// Owner of background syncs (the application's tracker), so shutdown
    /// can wait for them.
    pub(super) tasks: TaskTracker,
    /// Cancelled when shutdown starts: no new sync starts after it.
    pub(super) stopping: CancellationToken,
    /// Cancelled when shutdown's grace period is over: syncs still running
    /// are abandoned (their runs are then failed, their leases released).
    pub(super) abandon: CancellationToken,
}

impl Syncer {
    /// `tasks`, `stopping` and `abandon` are the application's: syncs are
    /// spawned on the tracker, none starts once `stopping` is cancelled, and
    /// those still running when `abandon` is cancelled are dropped.
    pub fn new(
        store: Store,
        servers: Servers,
        oauth: OAuth,
        settings: SyncSettings,
        tasks: TaskTracker,
        stopping: CancellationToken,
        abandon: CancellationToken,
    ) -> anyhow::Result<Self> {
        let client = upstream_client(settings.policy.clone(), settings.connect_timeout)?;
        let (events, _) = broadcast::channel(1024);
        let instance_id = format!("inst_{}", uuid::Uuid::now_v7().simple());
        let oauth_http = OAuthHttp::new(
            client.clone(),
            settings.policy.clone(),
            servers.policy(),
            settings.limits.deadline,
        );
        let credentials = HeaderBuilder::new(
            servers.clone(),
            client.clone(),
            settings.policy.clone(),
            settings.limits.deadline,
            OAuthTokens::new(
                oauth.clone(),
                servers.clone(),
                oauth_http.clone(),
                instance_id.clone(),
                settings.limits.deadline,
            ),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                servers,
                client,
                credentials,
                oauth,
                oauth_http,
                settings,
                instance_id,
                events,
                locks: ServerLocks::new(),
                pool: crate::sync::pool::Pool::default(),
                announced: std::sync::Mutex::default(),
                tasks,
                stopping,
                abandon,
            }),
        })
    }

    /// A SyncMcpServer call: checks the caller may change the server, syncs
    /// it, and turns a failed run into the matching error (the run is stored
    /// either way).
    pub async fn sync_now(&self, caller: &Caller, server_id: &str) -> Result<SyncRun, Error> {
        let view = self
            .inner
            .servers
            .get(caller, Lookup::Id(server_id.to_owned()))
            .await?;
        if !view.access.can_edit {
            return Err(Error::PermissionDenied(
                "only an ADMIN key, the key that created the server, or a platform admin for catalog servers may sync it".into(),
            ));
        }
        if !view.server.enabled {
            return Err(Error::FailedPrecondition(format!(
                "server {server_id} is disabled; enable it to sync"
            )));
        }
        let org = view.server.organization_id.as_deref();
        // The run id is filled in when the run starts (see `Syncer::start`).
        let event = AuditEvent::new(caller, Action::ServerSync, server_id, org, Vec::new());
        let run = (self.sync_exclusively(view.server, Trigger::Manual, Some(event))).await?;
        match &run.error {
            None => Ok(run),
            Some(error) => Err(error.reason.to_error(error.message.clone(), run.id.clone())),
        }
    }

    /// Subscribes to live sync events of this process.
    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.inner.events.subscribe()
    }
}
