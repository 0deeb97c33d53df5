//! Authentication of API keys.

use std::time::Duration;

use crate::crypto::{constant_time_eq, hash_secret};
use crate::error::Error;
use crate::registry::{Caller, KeyScope, is_valid_id, now_micros};
use crate::store::Store;

/// `last_used_at` is written at most this often per key, so that a busy key
/// does not turn every read into a database write.
pub const LAST_USED_RESOLUTION: Duration = Duration::from_secs(60);

/// Checks API keys against the store.
#[derive(Clone, Debug)]
pub struct Authenticator {
    store: Store,
}

impl Authenticator {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Returns the caller that `key_id` + `secret` identify, or UNAUTHENTICATED.
    pub async fn authenticate(&self, key_id: &str, secret: &str) -> Result<Caller, Error> {
        const INVALID: &str = "invalid api key or secret";
        let presented = hash_secret(secret);
        if !is_valid_id("key", key_id) {
            return Err(Error::Unauthenticated(INVALID));
        }
        let Some((key, stored)) = self.store.get_api_key_with_hash(key_id).await? else {
            return Err(Error::Unauthenticated(INVALID));
        };
        if !constant_time_eq(presented.as_bytes(), stored.as_bytes()) {
            return Err(Error::Unauthenticated(INVALID));
        }
        if key.revoked_at.is_some() {
            return Err(Error::Unauthenticated("api key is revoked"));
        }
        let now = now_micros();
        let stale = key
            .last_used_at
            .is_none_or(|last| now - last >= LAST_USED_RESOLUTION.as_micros() as i64);
        if stale {
            // Losing this write costs only precision of `last_used_at`; a
            // database hiccup must not fail an otherwise valid call.
            if let Err(err) = self.store.touch_api_key(&key.id, now).await {
                tracing::warn!(api_key_id = %key.id, error = %err, "cannot record api key use");
            }
        }
        Ok(match key.scope {
            KeyScope::PlatformAdmin => Caller::PlatformAdmin { key_id: key.id },
            KeyScope::Organization {
                organization_id,
                role,
            } => Caller::Member {
                key_id: key.id,
                organization_id,
                role,
            },
        })
    }
}
