//! Authentication of API keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::crypto::{constant_time_eq, secret_digest};
use crate::error::Error;
use crate::registry::cache::ReadCache;
use crate::registry::{ApiKey, Caller, KeyScope, Subject, is_valid_id, now_micros};

/// Metadata naming the end user a service key acts for.
pub const SUBJECT_HEADER: &str = "x-mcp-registry-subject";
use crate::store::{Store, Topic};

/// `last_used_at` is written at most this often per key, so that a busy key
/// does not turn every read into a database write.
pub const LAST_USED_RESOLUTION: Duration = Duration::from_secs(60);

/// Checks API keys against the store.
#[derive(Clone, Debug)]
pub struct Authenticator {
    store: Store,
    keys: ReadCache<String, CachedKey>,
}

/// A key as stored (with the hash of its secret, never the secret), and when
/// this process last recorded its use.
struct CachedKey {
    key: ApiKey,
    /// The SHA-256 of the secret (stored as hex), as bytes; `None` (no
    /// secret matches) when the stored hash is not 32 bytes of hex.
    secret_digest: Option<[u8; 32]>,
    last_used_at: AtomicI64,
    /// The key's pack limit as callers carry it, shared rather than copied
    /// per call.
    packs: Option<Arc<[String]>>,
}

impl Authenticator {
    /// An authenticator that reads every key from the store.
    pub fn new(store: Store) -> Self {
        let keys = ReadCache::new("api_keys", store.generations().clone(), 0);
        Self { store, keys }
    }

    /// Keeps up to `bytes` of authenticated keys in memory, so that a call
    /// costs no database read for its key. Revoking a key outdates its
    /// entry at once here, and on other replicas when PostgreSQL delivers
    /// the change.
    pub fn with_cache(mut self, bytes: u64) -> Self {
        self.keys = ReadCache::new("api_keys", self.store.generations().clone(), bytes);
        self
    }

    /// Returns the caller that `key_id` + `secret` identify, or UNAUTHENTICATED.
    pub async fn authenticate(&self, key_id: &str, secret: &str) -> Result<Caller, Error> {
        self.authenticate_for(key_id, secret, None).await
    }

    /// [`Self::authenticate`], acting for the end user `subject` (the raw
    /// `x-mcp-registry-subject` metadata) when given: PERMISSION_DENIED unless
    /// the key is a service key, INVALID_ARGUMENT when it is not a valid
    /// [`Subject`]. The key is checked first, so an unknown key learns nothing.
    pub async fn authenticate_for(
        &self,
        key_id: &str,
        secret: &str,
        subject: Option<&[u8]>,
    ) -> Result<Caller, Error> {
        const INVALID: &str = "invalid api key or secret";
        let presented = secret_digest(secret);
        if !is_valid_id("key", key_id) {
            return Err(Error::Unauthenticated(INVALID));
        }
        let cached = match self.keys.get(key_id) {
            Some(hit) => hit,
            None => {
                let stamp = self.keys.generations().stamp([Topic::Key(key_id)]);
                let Some((key, secret_hash)) = self.store.get_api_key_with_hash(key_id).await?
                else {
                    return Err(Error::Unauthenticated(INVALID));
                };
                let packs: Option<Arc<[String]>> = match &key.scope {
                    KeyScope::Organization { pack_ids, .. } if !pack_ids.is_empty() => {
                        Some(Arc::from(pack_ids.as_slice()))
                    }
                    _ => None,
                };
                let pack_bytes: usize = packs
                    .as_deref()
                    .map_or(0, |p| p.iter().map(String::len).sum());
                let weight = (key.id.len() + key.display_name.len() + 32 + 2 * pack_bytes) as u64;
                let mut digest = [0u8; 32];
                let digest = hex::decode_to_slice(&secret_hash, &mut digest)
                    .is_ok()
                    .then_some(digest);
                let entry = CachedKey {
                    last_used_at: AtomicI64::new(key.last_used_at.unwrap_or(i64::MIN)),
                    key,
                    secret_digest: digest,
                    packs,
                };
                self.keys.insert(key_id.to_owned(), stamp, entry, weight)
            }
        };
        let key = &cached.key;
        if !cached
            .secret_digest
            .is_some_and(|stored| constant_time_eq(&presented, &stored))
        {
            return Err(Error::Unauthenticated(INVALID));
        }
        if key.revoked_at.is_some() {
            return Err(Error::Unauthenticated("api key is revoked"));
        }
        let now = now_micros();
        let last = cached.last_used_at.load(Ordering::Relaxed);
        let stale =
            last == i64::MIN || now.saturating_sub(last) >= LAST_USED_RESOLUTION.as_micros() as i64;
        // One call per key and interval records the use.
        let stale = stale
            && cached
                .last_used_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        if stale {
            // Losing this write costs only precision of `last_used_at`; a
            // database hiccup must not fail an otherwise valid call.
            if let Err(err) = self.store.touch_api_key(&key.id, now).await {
                tracing::warn!(api_key_id = %key.id, error = %err, "cannot record api key use");
            }
        }
        let subject = match subject {
            None => None,
            Some(_) if !key.acts_for_users => {
                return Err(Error::PermissionDenied(format!(
                    "only a service key (acts_for_users) may send {SUBJECT_HEADER}"
                )));
            }
            Some(raw) => Some(Arc::<str>::from(
                Subject::parse_bytes(raw)
                    .map_err(|err| Error::invalid(SUBJECT_HEADER, err))?
                    .as_str(),
            )),
        };
        Ok(match &key.scope {
            KeyScope::PlatformAdmin => Caller::PlatformAdmin {
                key_id: key.id.clone(),
            },
            KeyScope::Organization {
                organization_id,
                role,
                pack_ids: _,
            } => Caller::Member {
                key_id: key.id.clone(),
                organization_id: organization_id.clone(),
                role: *role,
                packs: cached.packs.clone(),
                subject,
            },
        })
    }
}
