//! Upstream sessions for the pack gateway, one per server (per server and end
//! user for a per-subject OAuth server: [`SessionKey::slot`]), shared by every
//! call to it: initialized once (guard, transport, `initialize`, then the
//! `initialized` notification), reused while the server's configuration is
//! unchanged, and opened again when the upstream forgets it (404), its stream
//! ends, it grows old, or it sits idle. The tool listing used for approval
//! checks is the session's own `tools/list`, read again when the upstream
//! says `notifications/tools/list_changed` or the listing is older than
//! [`LISTING_TTL`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::registry::canonical::definition_hash;
use crate::sync::client::{DiscoveryError, Listing, list_all};
use crate::sync::credentials::SessionKey;
use crate::sync::session::{Connection, lock};

/// How long a session's tool listing is trusted without a `list_changed`.
pub const LISTING_TTL: Duration = Duration::from_secs(15);
/// A session is opened again after this long, used or not.
pub const MAX_AGE: Duration = Duration::from_secs(30 * 60);
/// A session nobody used for this long is closed.
pub const MAX_IDLE: Duration = Duration::from_secs(5 * 60);

/// An open upstream session and what is known of it.
pub struct Pooled {
    connection: Option<Connection>,
    /// Its slot, and the server configuration it was opened for (see
    /// [`Pool::session`]).
    key: SessionKey,
    opened: Instant,
    last_used: Mutex<Instant>,
    /// Tool name → definition hash, and when it was listed.
    listing: tokio::sync::Mutex<Option<(Instant, HashMap<String, String>)>>,
    /// The task that turns the session's `list_changed` notifications into
    /// syncs ([`Pooled::watch`]); it ends with the session.
    watcher: Option<tokio::task::AbortHandle>,
}

impl Pooled {
    pub fn new(connection: Connection, key: SessionKey) -> Self {
        let now = Instant::now();
        Self {
            connection: Some(connection),
            key,
            opened: now,
            last_used: Mutex::new(now),
            listing: tokio::sync::Mutex::new(None),
            watcher: None,
        }
    }

    /// Calls `changed` after each wake-up of the session's `list_changed`
    /// signal (a burst of notifications may wake it once), for as long as the
    /// session is pooled.
    pub fn watch(mut self, changed: impl Fn() + Send + 'static) -> Self {
        if let Some(connection) = &self.connection {
            let signals = connection.signals().clone();
            let task = tokio::spawn(async move {
                loop {
                    signals.lists_changed.notified().await;
                    changed();
                }
            });
            self.watcher = Some(task.abort_handle());
        }
        self
    }

    /// The session's connection (present until it is dropped).
    pub fn connection(&self) -> Result<&Connection, DiscoveryError> {
        self.connection
            .as_ref()
            .ok_or_else(|| DiscoveryError::protocol("the upstream session is closed"))
    }

    /// Whether the upstream no longer has the session.
    pub fn is_gone(&self) -> bool {
        self.connection
            .as_ref()
            .is_none_or(|c| c.signals().gone.load(Ordering::Acquire))
    }

    fn usable(&self, fingerprint: &str, now: Instant) -> bool {
        self.key.fingerprint == fingerprint
            && !self.is_gone()
            && now.duration_since(self.opened) < MAX_AGE
            && now.duration_since(*lock(&self.last_used)) < MAX_IDLE
    }

    /// The hash of tool `name`'s definition as the session lists it now
    /// (empty when it does not list the tool).
    pub async fn tool_hash(
        &self,
        name: &str,
        limits: &crate::sync::client::Limits,
    ) -> Result<String, DiscoveryError> {
        let connection = self.connection()?;
        let changed = connection
            .signals()
            .tools_changed
            .swap(false, Ordering::AcqRel);
        let mut listing = self.listing.lock().await;
        let fresh = listing
            .as_ref()
            .is_some_and(|(at, _)| !changed && at.elapsed() < LISTING_TTL);
        if !fresh {
            // Boxed: listing is rare next to the calls whose futures hold this one.
            let listed = Box::pin(list_all(connection, "tools/list", "tools", "name", limits));
            let hashes = match listed.await? {
                Listing::Listed { items, .. } => items
                    .iter()
                    .filter_map(|t| Some((t["name"].as_str()?.to_owned(), definition_hash(t))))
                    .collect(),
                _ => HashMap::new(),
            };
            *listing = Some((Instant::now(), hashes));
        }
        Ok(listing
            .as_ref()
            .and_then(|(_, hashes)| hashes.get(name).cloned())
            .unwrap_or_default())
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
        // Ends the session upstream (a DELETE, or closing the SSE stream).
        if let Some(mut connection) = self.connection.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move { connection.close().await });
        }
    }
}

/// The sessions, by slot (a server id, or a server id and an end user).
#[derive(Default)]
pub struct Pool {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    last_sweep: Mutex<Option<Instant>>,
}

/// One slot's session; its lock makes concurrent first calls share one
/// `initialize`.
#[derive(Default)]
struct Slot(tokio::sync::Mutex<Option<Arc<Pooled>>>);

impl Pool {
    /// The session of `key`'s slot for its configuration fingerprint: the
    /// pooled one while usable, else one `open()` makes (and the pool keeps).
    pub async fn session<O, F, E>(&self, key: &SessionKey, open: O) -> Result<Arc<Pooled>, E>
    where
        O: FnOnce() -> F,
        F: Future<Output = Result<Pooled, E>>,
    {
        self.sweep();
        let fingerprint = key.fingerprint.as_str();
        let slot = lock(&self.slots)
            .entry(key.slot.clone())
            .or_default()
            .clone();
        let mut held = slot.0.lock().await;
        let now = Instant::now();
        if let Some(pooled) = held.as_ref().filter(|p| p.usable(fingerprint, now)) {
            *lock(&pooled.last_used) = now;
            return Ok(pooled.clone());
        }
        *held = None;
        let pooled = Arc::new(open().await?);
        *held = Some(pooled.clone());
        self.report();
        Ok(pooled)
    }

    /// Drops `pooled` from its slot if it is still there (it failed).
    pub fn forget(&self, pooled: &Arc<Pooled>) {
        let slot = lock(&self.slots).get(&pooled.key.slot).cloned();
        if let Some(slot) = slot
            && let Ok(mut held) = slot.0.try_lock()
            && held.as_ref().is_some_and(|p| Arc::ptr_eq(p, pooled))
        {
            *held = None;
        }
    }

    /// Sets the gauge of open sessions (a slot in use counts as open).
    fn report(&self) {
        let open = lock(&self.slots)
            .values()
            .filter(|slot| slot.0.try_lock().map_or(true, |held| held.is_some()))
            .count();
        metrics::gauge!("mcp_registry_gateway_upstream_sessions").set(open as f64);
    }

    /// Closes idle and expired sessions, at most every few seconds.
    fn sweep(&self) {
        let now = Instant::now();
        {
            let mut last = lock(&self.last_sweep);
            if last.is_some_and(|at| now.duration_since(at) < Duration::from_secs(10)) {
                return;
            }
            *last = Some(now);
        }
        lock(&self.slots).retain(|_, slot| match slot.0.try_lock() {
            Ok(mut held) => {
                let keep = held.as_ref().is_some_and(|p| {
                    now.duration_since(p.opened) < MAX_AGE
                        && now.duration_since(*lock(&p.last_used)) < MAX_IDLE
                        && !p.is_gone()
                });
                if !keep {
                    *held = None;
                }
                keep
            }
            // In use: kept.
            Err(_) => true,
        });
        self.report();
    }
}
