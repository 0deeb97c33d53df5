//! The sync engine: one sync of one server, from its stored configuration to
//! a stored [`SyncRun`]. Plaintext secrets exist only inside [`Syncer::sync`],
//! in the request headers of that sync, and are dropped with them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::{Mutex, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use crate::error::{Error, UpstreamFailure};
use crate::pagination::{Page, PageRequest};
use crate::registry::canonical::definition_hash;
use crate::registry::servers::{
    CapabilityKind, Credentials, DEFAULT_API_KEY_HEADER, LastError, Lookup, McpServer, ServerInfo,
    Servers, StoredHeaderValue, Transport,
};
use crate::registry::{Caller, new_id, now_micros};
use crate::store::{Claim, NewCapability, RunQuery, Store, SyncSuccess};
use crate::sync::client::{Discovery, DiscoveryError, Limits, Listing, Wire, discover};
use crate::sync::guard::GuardPolicy;
use crate::sync::http::{check_url, upstream_client};
use crate::sync::run::{
    CapabilityOutcome, CapabilityResult, Changes, Outcome, Results, SyncRun, Trigger,
};

/// How syncs connect.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub policy: GuardPolicy,
    pub limits: Limits,
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
}

impl SyncSettings {
    /// How long a claim holds: longer than any sync can take (the deadline
    /// bounds the upstream part; the rest covers storing the result).
    fn lease(&self) -> Duration {
        self.limits.deadline * 2 + self.limits.deadline.min(Duration::from_secs(10))
    }

    /// When to sync again after `failures` failed syncs in a row.
    pub fn next_delay(&self, failures: i32) -> Duration {
        let base = if failures <= 0 {
            self.interval
        } else {
            let first_retry = self.interval.min(Duration::from_secs(30));
            let doublings = u32::try_from(failures - 1).unwrap_or(0).min(20);
            first_retry
                .saturating_mul(1 << doublings)
                .min(self.max_backoff)
        };
        // ±10 %, so that servers created together do not stay in lockstep.
        let mut random = [0u8; 2];
        let fraction =
            match ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random) {
                Ok(()) => f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX),
                Err(_) => 0.5,
            };
        base.mul_f64(0.9 + 0.2 * fraction)
    }
}

/// A live sync event, for WatchSyncEvents.
#[derive(Debug, Clone)]
pub struct SyncEvent {
    pub run: SyncRun,
}

/// Runs syncs. Cheap to clone.
#[derive(Clone)]
pub struct Syncer {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    servers: Servers,
    client: reqwest::Client,
    settings: SyncSettings,
    /// Identifies this process in sync runs (replica id).
    instance_id: String,
    events: broadcast::Sender<SyncEvent>,
    /// One sync per server at a time in this process.
    running: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// OAuth2 access tokens by client (a hash of token url, client id,
    /// secret and scopes), reused until shortly before they expire.
    tokens: Mutex<HashMap<String, (String, std::time::Instant)>>,
    /// Owner of background syncs (the application's tracker).
    tasks: TaskTracker,
    /// Cancelled when shutdown starts: no new sync starts after it.
    stopping: CancellationToken,
    /// Cancelled when shutdown's grace period is over: syncs still running
    /// are abandoned (their runs are then failed, their leases released).
    abandon: CancellationToken,
}

impl Syncer {
    /// `tasks`, `stopping` and `abandon` are the application's: syncs are
    /// spawned on the tracker, none starts once `stopping` is cancelled, and
    /// those still running when `abandon` is cancelled are dropped.
    pub fn new(
        store: Store,
        servers: Servers,
        settings: SyncSettings,
        tasks: TaskTracker,
        stopping: CancellationToken,
        abandon: CancellationToken,
    ) -> anyhow::Result<Self> {
        let client = upstream_client(settings.policy.clone(), settings.connect_timeout)?;
        let (events, _) = broadcast::channel(1024);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                servers,
                client,
                settings,
                instance_id: format!("inst_{}", uuid::Uuid::now_v7().simple()),
                events,
                running: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
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
        let run = self.sync_exclusively(view.server).await?;
        match &run.error {
            None => Ok(run),
            Some(error) if error.reason == "CREDENTIALS_UNUSABLE" => {
                Err(Error::CredentialsUnusable(error.message.clone()))
            }
            Some(error) => Err(Error::Upstream {
                failure: match error.reason.as_str() {
                    "UPSTREAM_AUTH_FAILED" => UpstreamFailure::AuthFailed,
                    "UPSTREAM_PROTOCOL_ERROR" => UpstreamFailure::ProtocolError,
                    _ => UpstreamFailure::Unreachable,
                },
                message: error.message.clone(),
                sync_run_id: run.id.clone(),
            }),
        }
    }

    /// Syncs a server now under its lease, so that no replica syncs it at the
    /// same time. When a sync of it is already running (here or on another
    /// replica, scheduled or not), waits for that one and returns its run
    /// instead of starting another. The sync is a task of its own, so a
    /// caller that goes away does not abandon it half-way.
    async fn sync_exclusively(&self, server: McpServer) -> Result<SyncRun, Error> {
        let settings = &self.inner.settings;
        // No lease outlives this: past it a crashed holder's lease is free.
        let give_up = tokio::time::Instant::now() + settings.lease() + WAIT_STEP * 10;
        loop {
            if self.inner.stopping.is_cancelled() {
                return Err(Error::ShuttingDown(
                    "this replica is shutting down and starts no more syncs; retry",
                ));
            }
            let now = now_micros();
            let claimed = self
                .inner
                .store
                .claim_server(
                    &server.id,
                    &self.inner.instance_id,
                    now,
                    now + micros(settings.lease()),
                )
                .await?;
            if let Some(claim) = claimed {
                let syncer = self.clone();
                let task = self
                    .inner
                    .tasks
                    .spawn(async move { syncer.sync_leased(server, Trigger::Manual, claim).await });
                return match task.await {
                    Ok(Some(outcome)) => outcome,
                    Ok(None) => Err(Error::ShuttingDown(
                        "the sync was interrupted by a shutdown of this replica; retry",
                    )),
                    Err(err) => Err(Error::internal(err)),
                };
            }
            // Somebody holds the lease: wait for the run it is making.
            if let Some(running) = self.inner.store.running_sync_run(&server.id).await? {
                return self.wait_for(running, give_up).await;
            }
            // The holder is between its claim and its run (or its release):
            // look again shortly.
            if tokio::time::Instant::now() >= give_up {
                return Err(Error::FailedPrecondition(format!(
                    "server {} is held by another replica that does not sync it; retry later",
                    server.id
                )));
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
    }

    /// Waits until `run` has finished and returns it finished.
    async fn wait_for(
        &self,
        run: SyncRun,
        give_up: tokio::time::Instant,
    ) -> Result<SyncRun, Error> {
        loop {
            tokio::select! {
                () = self.inner.stopping.cancelled() => {
                    return Err(Error::ShuttingDown(
                        "this replica is shutting down; the sync goes on elsewhere, retry",
                    ));
                }
                () = tokio::time::sleep(WAIT_STEP) => {}
            }
            match self.inner.store.get_sync_run(&run.id).await? {
                Some(current) if current.outcome != Outcome::Running => return Ok(current),
                Some(_) if tokio::time::Instant::now() < give_up => {}
                // Deleted with its server, or never finished: its replica died
                // and the census will fail it.
                _ => {
                    return Err(Error::FailedPrecondition(format!(
                        "sync run {} of server {} did not finish; retry",
                        run.id, run.server_id
                    )));
                }
            }
        }
    }

    /// Returns a run of a server the caller may see.
    pub async fn run(&self, caller: &Caller, id: &str) -> Result<SyncRun, Error> {
        let not_found = || Error::NotFound {
            kind: "sync run",
            id: id.to_owned(),
        };
        let run = self
            .inner
            .store
            .get_sync_run(id)
            .await?
            .ok_or_else(not_found)?;
        if !caller.sees_scope(&run.scope) {
            return Err(not_found());
        }
        Ok(run)
    }

    /// Lists runs of one visible server, or of the caller's scope.
    pub async fn runs(
        &self,
        caller: &Caller,
        server_id: Option<&str>,
        page: &PageRequest<String>,
    ) -> Result<Page<SyncRun, String>, Error> {
        let query = match server_id {
            Some(id) => {
                self.inner
                    .servers
                    .get(caller, Lookup::Id(id.to_owned()))
                    .await?;
                RunQuery::Server(id.to_owned())
            }
            None => RunQuery::Scope(caller.scope().to_owned()),
        };
        self.inner.store.list_sync_runs(&query, page).await
    }

    /// Checks that a watched server is visible to the caller.
    pub async fn check_visible(&self, caller: &Caller, server_id: &str) -> Result<(), Error> {
        self.inner
            .servers
            .get(caller, Lookup::Id(server_id.to_owned()))
            .await
            .map(|_| ())
    }

    /// Syncs `server` in the background (after a create or a connection
    /// change). The sync is owned by the application's tracker; shutdown lets
    /// it finish within the grace period (else its run is marked failed by
    /// [`Syncer::fail_abandoned_runs`]).
    pub fn spawn_sync(&self, server: McpServer, trigger: Trigger) {
        if !self.inner.settings.background || self.inner.stopping.is_cancelled() {
            return;
        }
        let syncer = self.clone();
        self.inner.tasks.spawn(async move {
            let now = now_micros();
            let lease_until = now + micros(syncer.inner.settings.lease());
            // When the scheduler (here or on another replica) holds the
            // server, that sync covers the change: do not sync twice.
            match syncer
                .inner
                .store
                .claim_server(&server.id, &syncer.inner.instance_id, now, lease_until)
                .await
            {
                Ok(Some(claim)) => {
                    syncer.sync_leased(server, trigger, claim).await;
                }
                // Held by a sync under way: the write re-armed the server, so
                // the holder's release leaves it due and it is synced again.
                Ok(None) => {}
                Err(err) => tracing::warn!(server_id = %server.id, error = %err, "cannot claim server for a background sync"),
            }
        });
    }

    /// Syncs a server this process holds the lease of, then schedules its
    /// next sync and releases the lease. A sync still running when shutdown's
    /// grace period ends is abandoned (`None`); its lease is released and its
    /// run marked failed on the way out.
    async fn sync_leased(
        &self,
        server: McpServer,
        trigger: Trigger,
        claim: Claim,
    ) -> Option<Result<SyncRun, Error>> {
        let abandon = self.inner.abandon.clone();
        let outcome = tokio::select! {
            () = abandon.cancelled() => return None,
            outcome = self.sync(&server, trigger) => outcome,
        };
        let failures = match &outcome {
            Ok(run) if run.outcome == Outcome::Succeeded => 0,
            Ok(_) => claim.consecutive_failures.saturating_add(1),
            Err(err) => {
                tracing::error!(server_id = %server.id, error = %err, "sync could not be stored");
                claim.consecutive_failures.saturating_add(1)
            }
        };
        let next = now_micros() + micros(self.inner.settings.next_delay(failures));
        if let Err(err) = self
            .inner
            .store
            .release_lease(&server.id, &self.inner.instance_id, &claim, next, failures)
            .await
        {
            tracing::warn!(server_id = %server.id, error = %err, "cannot release sync lease; it will expire");
        }
        Some(outcome)
    }

    /// Starts the scheduler: every tick it claims due servers (up to the free
    /// concurrency) and syncs each under its lease. It stops claiming when
    /// shutdown starts. Nothing runs without `--background-sync`.
    pub fn start_scheduler(&self) {
        if !self.inner.settings.background {
            return;
        }
        let syncer = self.clone();
        self.inner
            .tasks
            .spawn(async move { syncer.schedule().await });
    }

    async fn schedule(&self) {
        let settings = &self.inner.settings;
        let slots = Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1)));
        let tick = (settings.interval / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut last_census: Option<std::time::Instant> = None;
        loop {
            tokio::select! {
                () = self.inner.stopping.cancelled() => return,
                () = tokio::time::sleep(tick) => {}
            }
            if last_census.is_none_or(|at| at.elapsed() >= CENSUS_EVERY) {
                last_census = Some(std::time::Instant::now());
                self.census().await;
            }
            let free = slots.available_permits();
            if free == 0 {
                continue;
            }
            let now = now_micros();
            let claimed = match self
                .inner
                .store
                .claim_due_servers(
                    &self.inner.instance_id,
                    now,
                    now + micros(settings.lease()),
                    free as u64,
                )
                .await
            {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim due servers");
                    continue;
                }
            };
            for claim in claimed {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    break;
                };
                let syncer = self.clone();
                self.inner.tasks.spawn(async move {
                    syncer
                        .sync_leased(claim.server, Trigger::Scheduled, claim.claim)
                        .await;
                    drop(slot);
                });
            }
        }
    }

    /// Sets the `mcp_registry_servers{status}` gauge from the database, and
    /// fails runs that a crashed replica left RUNNING past any possible lease.
    async fn census(&self) {
        let now = now_micros();
        match self
            .inner
            .store
            .fail_stale_runs(now - micros(self.inner.settings.lease()), now)
            .await
        {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "failed sync runs abandoned by a stopped replica"),
            Err(err) => tracing::warn!(error = %err, "cannot fail abandoned sync runs"),
        }
        match self.inner.store.count_servers_by_status().await {
            Ok(counts) => {
                for status in ["pending", "syncing", "connected", "error", "disabled"] {
                    let count = counts
                        .iter()
                        .find(|(s, _)| s == status)
                        .map_or(0, |(_, n)| *n);
                    metrics::gauge!("mcp_registry_servers", "status" => status).set(count as f64);
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot count servers by status"),
        }
    }

    /// Releases the leases this process still holds (after shutdown).
    pub async fn release_leases(&self) -> Result<u64, Error> {
        self.inner
            .store
            .release_all_leases(&self.inner.instance_id)
            .await
    }

    /// Marks the runs this process left RUNNING as failed (after shutdown).
    pub async fn fail_abandoned_runs(&self) -> Result<u64, Error> {
        self.inner
            .store
            .fail_abandoned_runs(&self.inner.instance_id, now_micros())
            .await
    }

    /// Subscribes to live sync events of this process.
    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.inner.events.subscribe()
    }

    /// Syncs `server` now and stores the run; upstream failures are a FAILED
    /// run, not an error. Errors are storage failures only.
    pub async fn sync(&self, server: &McpServer, trigger: Trigger) -> Result<SyncRun, Error> {
        let lock = {
            let mut running = self.inner.running.lock().await;
            running.entry(server.id.clone()).or_default().clone()
        };
        let _one_at_a_time = lock.lock().await;
        let run = SyncRun {
            id: new_id("sync"),
            server_id: server.id.clone(),
            scope: server.scope().to_owned(),
            server_name: server.name.clone(),
            trigger,
            started_at: now_micros(),
            finished_at: None,
            outcome: Outcome::Running,
            transport: None,
            protocol_version: String::new(),
            results: Results::default(),
            changes: Changes::default(),
            error: None,
            instance_id: self.inner.instance_id.clone(),
        };
        self.inner.store.insert_sync_run(&run).await?;
        let _ = self.inner.events.send(SyncEvent { run: run.clone() });
        let finished = match self.attempt_and_store(server, &run).await {
            Ok(finished) => finished,
            Err(err) => {
                // Never leave the run RUNNING because its result was lost.
                if let Err(also) = self
                    .inner
                    .store
                    .fail_unstored_run(&run.id, now_micros())
                    .await
                {
                    tracing::error!(run_id = %run.id, error = %also, "cannot mark an unstored sync run failed");
                }
                return Err(err);
            }
        };
        tracing::info!(
            server_id = %finished.server_id,
            run_id = %finished.id,
            outcome = ?finished.outcome,
            trigger = ?finished.trigger,
            "sync finished"
        );
        metrics::counter!(
            "mcp_registry_syncs_total",
            "outcome" => match finished.outcome { Outcome::Succeeded => "succeeded", _ => "failed" },
            "reason" => finished.error.as_ref().map_or("NONE".to_owned(), |e| e.reason.clone()),
        )
        .increment(1);
        if let Some(end) = finished.finished_at {
            metrics::histogram!("mcp_registry_sync_duration_seconds")
                .record((end - finished.started_at) as f64 / 1e6);
        }
        let _ = self.inner.events.send(SyncEvent {
            run: finished.clone(),
        });
        Ok(finished)
    }

    /// Connects, discovers and stores the outcome of `run`.
    async fn attempt_and_store(&self, server: &McpServer, run: &SyncRun) -> Result<SyncRun, Error> {
        let run = run.clone();
        Ok(match self.attempt(server).await {
            Ok(discovery) => match success(discovery) {
                Ok(success) => self.inner.store.finish_sync_success(&run, success).await?,
                Err(failure) => {
                    let (failure, message, results) = *failure;
                    self.fail(run, failure.reason(), message, results).await?
                }
            },
            Err(Attempt::Upstream(err)) => {
                self.fail(run, err.failure.reason(), err.message, Results::default())
                    .await?
            }
            Err(Attempt::Credentials(message)) => {
                self.fail(run, "CREDENTIALS_UNUSABLE", message, Results::default())
                    .await?
            }
        })
    }

    async fn fail(
        &self,
        run: SyncRun,
        reason: &str,
        message: String,
        results: Results,
    ) -> Result<SyncRun, Error> {
        let at = now_micros();
        let failed = SyncRun {
            finished_at: Some(at),
            outcome: Outcome::Failed,
            results,
            error: Some(LastError {
                reason: reason.to_owned(),
                message,
                occurred_at: at,
                sync_run_id: run.id.clone(),
            }),
            ..run
        };
        self.inner.store.finish_sync_failure(&failed).await?;
        Ok(failed)
    }

    /// Connects with the detected transport when there is one, and detects
    /// again when that no longer works (except after an auth failure).
    async fn attempt(&self, server: &McpServer) -> Result<Discovery, Attempt> {
        let url = Url::parse(&server.url).map_err(|err| {
            Attempt::Upstream(DiscoveryError {
                failure: UpstreamFailure::ProtocolError,
                message: format!("the stored url does not parse: {err}"),
            })
        })?;
        let headers = self.headers(server).await?;
        let settings = &self.inner.settings;
        let configured = match server.transport {
            Transport::StreamableHttp => Wire::StreamableHttp,
            Transport::Sse => Wire::Sse,
            Transport::Auto => Wire::Auto,
        };
        let detected = match (server.transport, server.detected_transport) {
            (Transport::Auto, Some(Transport::StreamableHttp)) => Some(Wire::StreamableHttp),
            (Transport::Auto, Some(Transport::Sse)) => Some(Wire::Sse),
            _ => None,
        };
        let client = &self.inner.client;
        if let Some(wire) = detected {
            match discover(
                client,
                &url,
                &headers,
                wire,
                &settings.limits,
                &settings.policy,
            )
            .await
            {
                Ok(found) => return Ok(found),
                Err(err) if err.failure == UpstreamFailure::AuthFailed => {
                    return Err(Attempt::Upstream(err));
                }
                Err(err) => {
                    tracing::debug!(server_id = %server.id, error = %err, "detected transport failed; detecting again")
                }
            }
        }
        let result = discover(
            client,
            &url,
            &headers,
            configured,
            &settings.limits,
            &settings.policy,
        )
        .await;
        if let Err(err) = &result
            && err.failure == UpstreamFailure::AuthFailed
        {
            // A token refused before its expiry (revoked, rotated) must not
            // keep failing syncs until then: fetch fresh ones next time.
            self.inner.tokens.lock().await.clear();
        }
        result.map_err(Attempt::Upstream)
    }

    /// The request headers of a sync: the plain ones, the opened sealed ones,
    /// and what the credentials add.
    async fn headers(&self, server: &McpServer) -> Result<HeaderMap, Attempt> {
        let servers = &self.inner.servers;
        let mut headers = HeaderMap::new();
        for header in &server.request_headers {
            let (value, sensitive) = match &header.value {
                StoredHeaderValue::Plain(value) => (value.clone(), false),
                StoredHeaderValue::Sealed(sealed) => (
                    servers
                        .open_secret(&server.id, sealed)
                        .map_err(|err| Attempt::Credentials(err.to_string()))?,
                    true,
                ),
            };
            insert(&mut headers, &header.name, &value, sensitive)?;
        }
        let Some(sealed) = &server.sealed_credentials else {
            return Ok(headers);
        };
        let credentials = servers
            .open_credentials(&server.id, sealed)
            .map_err(|err| Attempt::Credentials(err.to_string()))?;
        match credentials {
            Credentials::ApiKey { key, header_name } => {
                insert(
                    &mut headers,
                    header_name.as_deref().unwrap_or(DEFAULT_API_KEY_HEADER),
                    &key,
                    true,
                )?;
            }
            Credentials::BearerToken { token } => {
                insert(
                    &mut headers,
                    AUTHORIZATION.as_str(),
                    &format!("Bearer {token}"),
                    true,
                )?;
            }
            Credentials::OAuth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scopes,
            } => {
                let token = self
                    .oauth2_token(&token_url, &client_id, &client_secret, &scopes)
                    .await?;
                insert(
                    &mut headers,
                    AUTHORIZATION.as_str(),
                    &format!("Bearer {token}"),
                    true,
                )?;
            }
        }
        Ok(headers)
    }

    /// Returns an access token for the client: a cached one while it is
    /// valid, else a new one from the token endpoint.
    async fn oauth2_token(
        &self,
        token_url: &str,
        client_id: &str,
        client_secret: &str,
        scopes: &[String],
    ) -> Result<String, Attempt> {
        let key = hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            format!(
                "{token_url}\n{client_id}\n{client_secret}\n{}",
                scopes.join(" ")
            )
            .as_bytes(),
        ));
        if let Some((token, valid_until)) = self.inner.tokens.lock().await.get(&key)
            && std::time::Instant::now() < *valid_until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self
            .fetch_oauth2_token(token_url, client_id, client_secret, scopes)
            .await?;
        // Renew a little early, so a token never expires during a sync.
        let valid_until = std::time::Instant::now() + lifetime.saturating_sub(OAUTH2_MARGIN);
        self.inner
            .tokens
            .lock()
            .await
            .insert(key, (token.clone(), valid_until));
        Ok(token)
    }

    /// Gets an access token with the client-credentials grant (RFC 6749 §4.4)
    /// and its lifetime (`expires_in`, 5 minutes when absent).
    async fn fetch_oauth2_token(
        &self,
        token_url: &str,
        client_id: &str,
        client_secret: &str,
        scopes: &[String],
    ) -> Result<(String, Duration), Attempt> {
        let upstream =
            |failure, message: String| Attempt::Upstream(DiscoveryError { failure, message });
        let url = Url::parse(token_url).map_err(|err| {
            upstream(
                UpstreamFailure::ProtocolError,
                format!("the OAuth2 token url does not parse: {err}"),
            )
        })?;
        check_url(&url, &self.inner.settings.policy)
            .map_err(|err| upstream(UpstreamFailure::Unreachable, err.to_string()))?;
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            form.append_pair("client_id", client_id);
            form.append_pair("client_secret", client_secret);
            if !scopes.is_empty() {
                form.append_pair("scope", &scopes.join(" "));
            }
            form.finish()
        };
        let response = self
            .inner
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .timeout(self.inner.settings.limits.deadline)
            .send()
            .await
            .map_err(|err| {
                upstream(
                    UpstreamFailure::Unreachable,
                    format!("OAuth2 token endpoint: {err}"),
                )
            })?;
        let status = response.status();
        if status.is_client_error() {
            return Err(upstream(
                UpstreamFailure::AuthFailed,
                format!("the OAuth2 token endpoint answered HTTP {status}"),
            ));
        }
        if !status.is_success() {
            return Err(upstream(
                UpstreamFailure::ProtocolError,
                format!("the OAuth2 token endpoint answered HTTP {status}"),
            ));
        }
        let body: Value = response.json().await.map_err(|err| {
            upstream(
                UpstreamFailure::ProtocolError,
                format!("the OAuth2 token answer is not JSON: {err}"),
            )
        })?;
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                upstream(
                    UpstreamFailure::ProtocolError,
                    "the OAuth2 token answer has no access_token".into(),
                )
            })?;
        let lifetime = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .map_or(Duration::from_secs(300), Duration::from_secs);
        Ok((token, lifetime))
    }
}

/// How often a manual sync looks again at a server another sync holds.
const WAIT_STEP: Duration = Duration::from_millis(100);

/// How long before its expiry a cached OAuth2 token is renewed.
const OAUTH2_MARGIN: Duration = Duration::from_secs(30);

/// How often the scheduler refreshes the servers-by-status gauge.
const CENSUS_EVERY: Duration = Duration::from_secs(10);

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Why an attempt did not produce a discovery.
enum Attempt {
    Upstream(DiscoveryError),
    Credentials(String),
}

fn insert(
    headers: &mut HeaderMap,
    name: &str,
    value: &str,
    sensitive: bool,
) -> Result<(), Attempt> {
    let invalid = || {
        Attempt::Upstream(DiscoveryError {
            failure: UpstreamFailure::ProtocolError,
            message: format!("header {name:?} cannot be sent"),
        })
    };
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
    let mut value = HeaderValue::from_str(value).map_err(|_| invalid())?;
    value.set_sensitive(sensitive);
    headers.insert(name, value);
    Ok(())
}

type Failure = Box<(UpstreamFailure, String, Results)>;

/// Turns a discovery into what to store, or into a failure when a list failed.
fn success(discovery: Discovery) -> Result<SyncSuccess, Failure> {
    let kinds = [
        (CapabilityKind::Tool, &discovery.tools, "name"),
        (CapabilityKind::Prompt, &discovery.prompts, "name"),
        (CapabilityKind::Resource, &discovery.resources, "uri"),
        (
            CapabilityKind::ResourceTemplate,
            &discovery.resource_templates,
            "uriTemplate",
        ),
    ];
    let mut results = Vec::with_capacity(4);
    let mut capabilities = Vec::with_capacity(4);
    let mut failed = None;
    for (kind, listing, key) in kinds {
        let (result, items) = match listing {
            Listing::Listed { items, pages } => (
                CapabilityResult {
                    outcome: CapabilityOutcome::Ok,
                    count: u32::try_from(items.len()).unwrap_or(u32::MAX),
                    pages: *pages,
                    error_message: String::new(),
                },
                items
                    .iter()
                    .map(|item| NewCapability {
                        kind,
                        key: item[key].as_str().unwrap_or_default().to_owned(),
                        definition_hash: definition_hash(item),
                        definition: item.clone(),
                    })
                    .collect(),
            ),
            Listing::NotAnnounced | Listing::NotSupported => (
                CapabilityResult {
                    outcome: CapabilityOutcome::NotSupported,
                    count: 0,
                    pages: 0,
                    error_message: String::new(),
                },
                Vec::new(),
            ),
            Listing::Failed(message) => {
                failed.get_or_insert_with(|| message.clone());
                (
                    CapabilityResult {
                        outcome: CapabilityOutcome::Failed,
                        count: 0,
                        pages: 0,
                        error_message: message.clone(),
                    },
                    Vec::new(),
                )
            }
        };
        results.push(result);
        capabilities.push((kind, items));
    }
    let mut results = results.into_iter();
    let mut next = || results.next().unwrap_or_else(CapabilityResult::skipped);
    let results = Results {
        tools: next(),
        prompts: next(),
        resources: next(),
        resource_templates: next(),
    };
    if let Some(message) = failed {
        return Err(Box::new((UpstreamFailure::ProtocolError, message, results)));
    }
    let info = &discovery.server_info;
    let text = |key: &str| {
        info.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(SyncSuccess {
        at: now_micros(),
        server_info: ServerInfo {
            name: text("name"),
            version: text("version"),
            title: text("title"),
            protocol_version: discovery.protocol_version.clone(),
            instructions: discovery.instructions.clone(),
            capabilities: discovery.capabilities.clone(),
        },
        transport: match discovery.wire {
            Wire::Sse => Transport::Sse,
            Wire::StreamableHttp | Wire::Auto => Transport::StreamableHttp,
        },
        protocol_version: discovery.protocol_version,
        results,
        capabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(interval: u64, max_backoff: u64) -> SyncSettings {
        SyncSettings {
            policy: GuardPolicy::default(),
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(1),
            background: true,
            interval: Duration::from_secs(interval),
            max_backoff: Duration::from_secs(max_backoff),
            concurrency: 1,
        }
    }

    fn within(value: Duration, base: u64) {
        let secs = value.as_secs_f64();
        let base = base as f64;
        assert!(
            secs >= base * 0.9 - 1e-9 && secs <= base * 1.1 + 1e-9,
            "{secs} not within 10 % of {base}"
        );
    }

    #[test]
    fn healthy_servers_wait_one_interval_with_jitter() {
        within(settings(300, 3600).next_delay(0), 300);
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap() {
        let s = settings(300, 3600);
        within(s.next_delay(1), 30);
        within(s.next_delay(2), 60);
        within(s.next_delay(3), 120);
        within(s.next_delay(8), 3600);
        within(s.next_delay(1_000_000), 3600);
        // A short interval retries after one interval.
        within(settings(10, 3600).next_delay(1), 10);
    }
}
