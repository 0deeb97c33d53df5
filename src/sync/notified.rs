//! Syncs the upstreams ask for: a `notifications/{tools,prompts,resources}/list_changed`
//! on a session the pack gateway holds ([`crate::sync::pool`]) syncs that
//! server after [`SETTLE`], instead of at its next scheduled time. Coalesced
//! per server: notifications that arrive while its sync is pending join it;
//! any that arrive once that sync has started give one more sync after it
//! (the running one may have listed before the change). The sync runs under
//! the server's lease like any other, so replicas never sync it twice at once;
//! when another sync holds it, this one waits for that run and, if that run
//! started before the announcement, syncs again.

use std::time::Duration;

use crate::registry::now_micros;
use crate::registry::runs::Trigger;
use crate::sync::engine::Syncer;
use crate::sync::session::lock;

/// How long a first announcement waits for the rest of its burst.
pub const SETTLE: Duration = Duration::from_millis(100);

/// Most syncs one burst of announcements can cause back to back (an
/// upstream announcing without end is synced at most this often per burst).
const MOST_ROUNDS: usize = 4;

impl Syncer {
    /// Notes that server `server_id` announced a change of its lists and
    /// syncs it soon (see the module documentation).
    pub fn lists_changed(&self, server_id: &str) {
        {
            let mut announced = lock(&self.inner.announced);
            if let Some(again) = announced.get_mut(server_id) {
                *again = true;
                return;
            }
            if self.inner.stopping.is_cancelled() {
                return;
            }
            announced.insert(server_id.to_owned(), false);
        }
        let syncer = self.clone();
        let server_id = server_id.to_owned();
        self.inner.tasks.spawn(async move {
            tokio::time::sleep(SETTLE).await;
            for round in 1.. {
                lock(&syncer.inner.announced).insert(server_id.clone(), false);
                let stale = syncer.sync_announced(&server_id).await;
                // Decided and forgotten under one lock: an announcement
                // either sees the entry (and is covered by another round) or
                // finds none (and starts its own).
                let mut announced = lock(&syncer.inner.announced);
                let again = stale || announced.get(&server_id) == Some(&true);
                if !again || round >= MOST_ROUNDS {
                    announced.remove(&server_id);
                    break;
                }
            }
        });
    }

    /// Syncs `server_id` now (if it exists and is enabled); whether the run
    /// it got began before this call, so that it may not have seen the change.
    async fn sync_announced(&self, server_id: &str) -> bool {
        let asked = now_micros();
        let server = match self.inner.store.get_server(server_id).await {
            Ok(Some(server)) if server.enabled => server,
            Ok(_) => return false,
            Err(err) => {
                tracing::warn!(server_id, error = %err, "cannot read a server that announced a change");
                return false;
            }
        };
        metrics::counter!("mcp_registry_list_changed_syncs_total").increment(1);
        match self
            .sync_exclusively(server, Trigger::ListChanged, None)
            .await
        {
            Ok(run) => run.started_at < asked,
            Err(err) => {
                tracing::warn!(server_id, error = %err, "the sync a change announcement asked for failed");
                false
            }
        }
    }
}
