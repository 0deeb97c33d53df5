//! Scheduling syncs across replicas: a sync runs only under its server's
//! lease (a claim in the database), so no two replicas sync one server at
//! once. The background routine claims due servers every tick, up to the
//! free concurrency; each sync schedules the next one with backoff and
//! jitter when it releases its lease. The same routine keeps the
//! servers-by-status gauge (the census) and fails runs of crashed replicas.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::registry::audit::AuditEvent;
use crate::registry::now_micros;
use crate::registry::runs::{Outcome, SyncRun, Trigger};
use crate::registry::servers::McpServer;
use crate::store::Claim;
use crate::sync::engine::{SyncSettings, Syncer};

/// How often a manual sync looks again at a server another sync holds.
const WAIT_STEP: Duration = Duration::from_millis(100);

/// How often the scheduler refreshes the servers-by-status gauge.
const CENSUS_EVERY: Duration = Duration::from_secs(10);

/// Returns `duration` in microseconds, saturating.
fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
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

impl Syncer {
    /// Syncs a server now under its lease, so that no replica syncs it at the
    /// same time. When a sync of it is already running (here or on another
    /// replica, scheduled or not), waits for that one and returns its run
    /// instead of starting another. The sync is a task of its own, so a
    /// caller that goes away does not abandon it half-way.
    pub(super) async fn sync_exclusively(
        &self,
        server: McpServer,
        trigger: Trigger,
        audit: Option<AuditEvent>,
    ) -> Result<SyncRun, Error> {
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
                    .spawn(async move { syncer.sync_leased(server, trigger, claim, audit).await });
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
                    syncer.sync_leased(server, trigger, claim, None).await;
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
        audit: Option<AuditEvent>,
    ) -> Option<Result<SyncRun, Error>> {
        let abandon = self.inner.abandon.clone();
        let outcome = tokio::select! {
            () = abandon.cancelled() => return None,
            outcome = self.sync(&server, trigger, audit) => outcome,
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

    /// The scheduler's routine: runs until shutdown starts.
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
                        .sync_leased(claim.server, Trigger::Scheduled, claim.claim, None)
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

    /// Releases the sync and watch leases this process still holds (after
    /// shutdown); how many sync leases.
    pub async fn release_leases(&self) -> Result<u64, Error> {
        self.inner
            .store
            .release_all_watches(&self.inner.instance_id)
            .await?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::client::Limits;
    use crate::sync::guard::GuardPolicy;

    fn settings(interval: u64, max_backoff: u64) -> SyncSettings {
        SyncSettings {
            policy: GuardPolicy::default(),
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(1),
            background: true,
            interval: Duration::from_secs(interval),
            max_backoff: Duration::from_secs(max_backoff),
            concurrency: 1,
            watches: 0,
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
