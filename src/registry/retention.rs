//! Retention of the audit trail: a background task that deletes audit events
//! older than `--audit-retention` and call records older than
//! `--call-log-retention`, in bounded batches with a pause between them, so
//! that no statement holds the tables (or SQLite's write lock) for long and
//! writes go on while old rows go. Counted in
//! `mcp_registry_audit_rows_pruned_total{table}`. The same pass deletes OAuth
//! authorizations that expired without being completed (`oauth_states`).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::registry::now_micros;
use crate::store::{AuditTable, Store};

/// How long rows are kept and how the pruning runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Age past which audit events are deleted; `None` keeps them forever.
    pub audit: Option<Duration>,
    /// Age past which call records are deleted; `None` keeps them forever.
    pub calls: Option<Duration>,
    /// How often a pass runs (the first one at start-up).
    pub every: Duration,
    /// Rows deleted per statement.
    pub batch: u64,
    /// Pause between two statements of one pass.
    pub pause: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            audit: Some(days(365)),
            calls: Some(days(30)),
            every: Duration::from_secs(3600),
            batch: 1000,
            pause: Duration::from_millis(100),
        }
    }
}

/// `n` days; 0 means forever (`None`).
pub fn retention_days(n: u64) -> Option<Duration> {
    (n > 0).then(|| days(n))
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n.saturating_mul(86_400))
}

/// Prunes both tables every `retention.every` until `stop`.
pub async fn run(store: Store, retention: Retention, stop: CancellationToken) {
    loop {
        if let Err(err) = prune_states(&store, &retention, &stop).await {
            tracing::warn!(error = %err, "cannot prune expired oauth states; next pass retries");
        }
        for (table, keep) in [
            (AuditTable::AuditEvents, retention.audit),
            (AuditTable::ToolCalls, retention.calls),
        ] {
            let Some(keep) = keep else { continue };
            if let Err(err) = prune(&store, table, keep, &retention, &stop).await {
                tracing::warn!(table = table.as_str(), error = %err, "cannot prune expired rows; next pass retries");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(retention.every) => {}
        }
    }
}

/// Deletes the OAuth authorizations that expired, one batch per statement.
async fn prune_states(
    store: &Store,
    retention: &Retention,
    stop: &CancellationToken,
) -> Result<(), Error> {
    loop {
        let deleted = store
            .prune_oauth_states(now_micros(), retention.batch)
            .await?;
        if deleted > 0 {
            tracing::debug!(deleted, "pruned expired oauth states");
        }
        if deleted < retention.batch {
            return Ok(());
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(retention.pause) => {}
        }
    }
}

/// Deletes the rows of `table` older than `keep`, one batch per statement,
/// until a batch comes back short or `stop`.
async fn prune(
    store: &Store,
    table: AuditTable,
    keep: Duration,
    retention: &Retention,
    stop: &CancellationToken,
) -> Result<(), Error> {
    let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
    let before = now_micros().saturating_sub(keep);
    loop {
        let deleted = store.prune(table, before, retention.batch).await?;
        metrics::counter!("mcp_registry_audit_rows_pruned_total", "table" => table.as_str())
            .increment(deleted);
        if deleted > 0 {
            tracing::debug!(table = table.as_str(), deleted, "pruned expired rows");
        }
        if deleted < retention.batch {
            return Ok(());
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(retention.pause) => {}
        }
    }
}
