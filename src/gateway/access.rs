//! Who may use a pack's gateway endpoint, decided once per request before
//! the JSON-RPC message is read.
//!
//! In order: the API key (the gRPC middleware's credential parsing and the
//! same [`Authenticator`]; 401 with a challenge) with the end user of
//! `x-mcp-registry-subject`, checked exactly as on gRPC (403 unless the key is
//! a service key, 400 when invalid), the key's rate budget (the
//! very limiter gRPC charges, so a key has one budget on both; 429 with
//! `Retry-After`), then the pack, looked up by its id alone (ids are random,
//! so the lookup reveals nothing): unknown or malformed 404, another
//! organization's or outside a pack-limited key's packs 403. The decisions
//! themselves are the domain's (`Packs::admits`, `Caller::check_pack`); the pack comes
//! from a cache that the organization's pack changes invalidate.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};

use crate::error::Error;
use crate::grpc::middleware::{KeyRateLimiter, credentials, rate_limit};
use crate::registry::auth::{Authenticator, SUBJECT_HEADER};
use crate::registry::cache::ReadCache;
use crate::registry::packs::{Pack, Packs};
use crate::registry::{Caller, is_valid_id};
use crate::store::Topic;

/// What admitting a request needs besides the packs.
pub struct Admission {
    /// Turns the request's API key into a caller.
    authenticator: Authenticator,
    /// `--rate-limit`: the per-key limiter shared with gRPC, or none.
    limiter: Option<Arc<KeyRateLimiter>>,
    /// Packs by id as the store has them, dropped when their organization's
    /// packs change (here or on another replica).
    packs: ReadCache<String, Arc<Pack>>,
}

impl Admission {
    /// Admits with `authenticator`, charging each request to `limiter`,
    /// keeping up to `cache_bytes` of packs.
    pub fn new(
        authenticator: Authenticator,
        limiter: Option<Arc<KeyRateLimiter>>,
        packs: &Packs,
        cache_bytes: u64,
    ) -> Self {
        Self {
            authenticator,
            limiter,
            packs: ReadCache::new("gateway_packs", packs.generations().clone(), cache_bytes),
        }
    }

    /// Pack `id` from the cache, else from the store.
    async fn pack(&self, packs: &Packs, id: &str) -> Result<Arc<Pack>, Error> {
        if let Some(hit) = self.packs.get(id) {
            return Ok((*hit).clone());
        }
        let before = self.packs.generations().snapshot();
        let pack = Arc::new(packs.find(id).await?);
        let stamp = before.map(|s| s.stamp([Topic::Packs(&pack.organization_id)]));
        let weight = 512 + 128 * pack.members.len() as u64 + pack.description.len() as u64;
        Ok((*self.packs.insert(id.to_owned(), stamp, pack, weight)).clone())
    }
}

/// Returns the caller (with its subject) and the pack of a request to
/// `/mcp/packs/{pack_id}`, or the error whose HTTP status answers it:
/// UNAUTHENTICATED (401), PERMISSION_DENIED (403: a subject from a key that
/// is not a service key, or a pack out of reach), INVALID_ARGUMENT (400: an
/// invalid subject), RATE_LIMITED (429), NOT_FOUND (404).
pub async fn admit(
    admission: &Admission,
    packs: &Packs,
    headers: &HeaderMap,
    pack_id: &str,
) -> Result<(Caller, Arc<Pack>), Error> {
    let caller = authenticate(admission, headers).await?;
    rate_limit(admission.limiter.as_deref(), &caller)?;
    pack_for(admission, packs, caller, pack_id).await
}

/// [`admit`] again for a request already admitted (a stream held open),
/// without charging its key's rate budget: whether its key still stands and
/// the pack is still in its reach.
pub async fn readmit(
    admission: &Admission,
    packs: &Packs,
    headers: &HeaderMap,
    pack_id: &str,
) -> Result<(Caller, Arc<Pack>), Error> {
    let caller = authenticate(admission, headers).await?;
    pack_for(admission, packs, caller, pack_id).await
}

/// The caller the request's API key stands for (401 when none), acting for
/// the end user its `x-mcp-registry-subject` names, if any.
async fn authenticate(admission: &Admission, headers: &HeaderMap) -> Result<Caller, Error> {
    let (key_id, secret) = credentials(headers)?;
    let subject = headers.get(SUBJECT_HEADER).map(HeaderValue::as_bytes);
    (admission.authenticator)
        .authenticate_for(key_id, secret, subject)
        .await
}

async fn pack_for(
    admission: &Admission,
    packs: &Packs,
    caller: Caller,
    pack_id: &str,
) -> Result<(Caller, Arc<Pack>), Error> {
    if !is_valid_id("pack", pack_id) {
        // No pack has a malformed id.
        return Err(Error::NotFound {
            kind: "pack",
            id: pack_id.chars().take(80).collect(),
        });
    }
    let pack = admission.pack(packs, pack_id).await?;
    Packs::admits(&caller, &pack)?;
    Ok((caller, pack))
}
