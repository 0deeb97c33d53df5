//! Watches: besides the sessions the pack gateway opens on demand, the
//! scheduler keeps a long-lived session with up to `--upstream-watches`
//! servers that announce changes of their lists (`listChanged`, as their last
//! sync found), reading the stream on which they send them (Streamable
//! HTTP's GET stream, or the legacy SSE stream), so that their changes are
//! synced at once ([`crate::sync::notified`]) whether or not anyone uses them
//! through the gateway.
//!
//! A watch runs under a lease in `server_watches` (never two replicas on one
//! server), renewed while the stream holds. A server that offers no stream
//! is not tried again for [`RETRY_REFUSED`]; a watch that fails or whose
//! stream ends, for [`RETRY_FAILED`]. Watches run beside the sync scheduler,
//! never in its way: they take no sync slot and claim in their own routine.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::registry::now_micros;
use crate::registry::oauth::Requester;
use crate::registry::servers::McpServer;
use crate::sync::engine::Syncer;

/// How long a watch lease holds without renewal (renewed every third of it).
pub const WATCH_LEASE: Duration = Duration::from_secs(60);
/// How often the routine looks for servers to watch.
const WATCH_TICK: Duration = Duration::from_secs(1);
/// When a server that offers no stream is tried again.
pub const RETRY_REFUSED: Duration = Duration::from_secs(30 * 60);
/// When a server whose watch failed or ended is tried again.
pub const RETRY_FAILED: Duration = Duration::from_secs(60);

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl Syncer {
    /// Starts the watch routine (with `--background-sync` and a nonzero
    /// `--upstream-watches`).
    pub fn start_watches(&self) {
        let settings = &self.inner.settings;
        if !settings.background || settings.watches == 0 {
            return;
        }
        let syncer = self.clone();
        self.inner
            .tasks
            .spawn(async move { syncer.watch_upstreams().await });
    }

    /// Claims servers to watch while fewer than the maximum are watched,
    /// until shutdown starts.
    async fn watch_upstreams(&self) {
        let open = Arc::new(AtomicUsize::new(0));
        loop {
            tokio::select! {
                () = self.inner.stopping.cancelled() => return,
                () = tokio::time::sleep(WATCH_TICK) => {}
            }
            let free = self
                .inner
                .settings
                .watches
                .saturating_sub(open.load(Ordering::Acquire));
            if free == 0 {
                continue;
            }
            let now = now_micros();
            let claimed = self
                .inner
                .store
                .claim_watches(
                    &self.inner.instance_id,
                    now,
                    now + micros(WATCH_LEASE),
                    free as u64,
                )
                .await;
            let servers = match claimed {
                Ok(servers) => servers,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim servers to watch");
                    continue;
                }
            };
            for server in servers {
                let watched = open.fetch_add(1, Ordering::AcqRel) + 1;
                metrics::gauge!("mcp_registry_upstream_watches").set(watched as f64);
                let syncer = self.clone();
                let open = open.clone();
                self.inner.tasks.spawn(async move {
                    syncer.watch(server).await;
                    let watched = open.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
                    metrics::gauge!("mcp_registry_upstream_watches").set(watched as f64);
                });
            }
        }
    }

    /// Watches one server until its stream ends, its lease is lost or
    /// shutdown starts; then releases the lease (with a retry time).
    async fn watch(&self, server: McpServer) {
        let owner = &self.inner.instance_id;
        let limits = &self.inner.settings.limits;
        let retry = match self.connect(&server, Requester::Sync, limits).await {
            Err(_) => Some(RETRY_FAILED),
            Ok(mut connection) => {
                let signals = connection.signals().clone();
                let renew = WATCH_LEASE / 3;
                let retry = loop {
                    tokio::select! {
                        () = self.inner.stopping.cancelled() => break None,
                        () = signals.lists_changed.notified() => self.lists_changed(&server.id),
                        () = signals.stream_ended.notified() => {
                            break Some(if signals.stream_refused.load(Ordering::Acquire) {
                                RETRY_REFUSED
                            } else {
                                RETRY_FAILED
                            });
                        }
                        () = tokio::time::sleep(renew) => {
                            let until = now_micros() + micros(WATCH_LEASE);
                            match self.inner.store.renew_watch(&server.id, owner, until).await {
                                Ok(true) => {}
                                // Lost (or the server no longer announces): stop.
                                Ok(false) => break None,
                                Err(err) => {
                                    tracing::warn!(server_id = %server.id, error = %err, "cannot renew a watch");
                                }
                            }
                        }
                    }
                };
                connection.close().await;
                retry
            }
        };
        let retry_at = retry.map(|after| now_micros() + micros(after));
        if let Err(err) = self
            .inner
            .store
            .release_watch(&server.id, owner, retry_at)
            .await
        {
            tracing::warn!(server_id = %server.id, error = %err, "cannot release a watch; it will expire");
        }
    }
}
