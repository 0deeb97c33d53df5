//! One sync per server at a time in this process: a lock per server id,
//! kept only while somebody holds or waits for it, so the map does not grow
//! with every server ever synced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::OwnedMutexGuard;

/// The per-server locks of this process.
#[derive(Default)]
pub struct ServerLocks {
    /// Locks by server id. An entry exists exactly while its `users` is not
    /// zero; the std mutex is held only for map updates, never across an
    /// `.await`.
    entries: Mutex<HashMap<String, Entry>>,
}

/// The lock of one server and how many hold or wait for it.
struct Entry {
    /// Serializes the syncs of the server.
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Holders and waiters; the entry is removed when it falls to zero.
    users: usize,
}

impl ServerLocks {
    /// Returns an empty set of locks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until no other sync of `server_id` runs in this process, and
    /// returns the guard that keeps others waiting until it drops.
    pub async fn lock(&self, server_id: &str) -> ServerLock<'_> {
        let lock = {
            let mut entries = self.entries();
            let entry = entries
                .entry(server_id.to_owned())
                .or_insert_with(|| Entry {
                    lock: Arc::default(),
                    users: 0,
                });
            entry.users += 1;
            entry.lock.clone()
        };
        // Counted before waiting: a waiter dropped half-way (its sync was
        // abandoned) gives its place back when `held` drops.
        let mut held = ServerLock {
            locks: self,
            server_id: server_id.to_owned(),
            guard: None,
        };
        held.guard = Some(lock.lock_owned().await);
        held
    }

    /// Returns how many servers have a holder or a waiter.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Returns whether no server has a holder or a waiter.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // The map stays consistent even if a holder panicked mid-update: each
        // update is a single insert, increment, decrement or remove.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The right to sync one server; the next waiter goes on when it drops.
pub struct ServerLock<'a> {
    /// The map to give the place back to.
    locks: &'a ServerLocks,
    /// Whose lock this is.
    server_id: String,
    /// Held once the wait is over; `None` while waiting.
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for ServerLock<'_> {
    fn drop(&mut self) {
        self.guard = None;
        let mut entries = self.locks.entries();
        if let Some(entry) = entries.get_mut(&self.server_id) {
            entry.users = entry.users.saturating_sub(1);
            if entry.users == 0 {
                entries.remove(&self.server_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_map_shrinks_after_syncs_end() {
        let locks = ServerLocks::new();
        {
            let _a = locks.lock("mcp_a").await;
            let _b = locks.lock("mcp_b").await;
            assert_eq!(locks.len(), 2);
        }
        assert!(locks.is_empty());
    }

    #[tokio::test]
    async fn a_second_sync_of_a_server_waits_for_the_first() {
        let locks = ServerLocks::new();
        let first = locks.lock("mcp_a").await;
        let second = tokio::time::timeout(Duration::from_millis(50), locks.lock("mcp_a")).await;
        assert!(second.is_err(), "the second sync did not wait");
        drop(first);
        let _second = locks.lock("mcp_a").await;
        assert_eq!(locks.len(), 1);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_no_entry_behind() {
        let locks = ServerLocks::new();
        let first = locks.lock("mcp_a").await;
        let gave_up = tokio::time::timeout(Duration::from_millis(20), locks.lock("mcp_a")).await;
        assert!(gave_up.is_err());
        drop(first);
        assert!(locks.is_empty());
    }
}
