//! ResolvePack answers kept in memory, per organization, pack and requested
//! version. An answer is rendered once for the wire by the adapter (the gRPC
//! adapter encodes it: a hit is a reference-count increment) and depends on
//! the organization's packs (`Topic::Packs`) and on each member server, row
//! and tools (`Topic::Server`). Platform keys have no packs and are not
//! cached. Encoded answers are also kept in the database
//! (`packs::stored`): a miss in memory reads the stored answer while its
//! inputs are current, and computes it only when they are not.

use bytes::Bytes;

use crate::error::Error;
use crate::registry::Caller;
use crate::registry::cache::{ReadCache, Renderer};
use crate::registry::packs::{Packs, Resolution};
use crate::store::Topic;

/// The ResolvePack answer cache of one service instance.
pub struct ResolutionAnswers<V> {
    renderer: Renderer<Resolution, V>,
    /// By (organization, pack id, requested version).
    entries: ReadCache<(String, String, i64), V>,
    /// When answers are bytes the database keeps too.
    stored: Option<Stored<V>>,
}

/// How answers are kept in the database: the adapter's format (answers of
/// another format are computed again) and the answer as bytes and back.
struct Stored<V> {
    format: String,
    to_bytes: fn(&V) -> Bytes,
    from_bytes: fn(Bytes) -> V,
}

impl ResolutionAnswers<Bytes> {
    /// Keeps up to `bytes` of encoded answers in memory (0 keeps none) and
    /// every answer in the database, tagged with `format` (which must change
    /// whenever `renderer` may encode the same resolution differently).
    pub fn stored(
        packs: &Packs,
        renderer: Renderer<Resolution, Bytes>,
        format: String,
        bytes: u64,
    ) -> Self {
        Self {
            stored: Some(Stored {
                format,
                to_bytes: Bytes::clone,
                from_bytes: |bytes| bytes,
            }),
            ..Self::named("resolutions", packs, renderer, bytes)
        }
    }
}

impl<V: Clone> ResolutionAnswers<V> {
    /// Keeps up to `bytes` of answers (0 keeps none), in memory only, under
    /// the metrics name `name`.
    pub fn named(
        name: &'static str,
        packs: &Packs,
        renderer: Renderer<Resolution, V>,
        bytes: u64,
    ) -> Self {
        Self {
            renderer,
            entries: ReadCache::new(name, packs.generations().clone(), bytes),
            stored: None,
        }
    }

    /// Returns the tools pack `id` offers at `version` (0: the current one),
    /// as rendered.
    pub async fn resolve(
        &self,
        packs: &Packs,
        caller: &Caller,
        id: String,
        version: i64,
    ) -> Result<V, Error> {
        // Answers are shared by the organization's keys: a limited key's
        // limit is checked before the cache is.
        caller.check_pack(&id)?;
        let (Some(org), true) = (caller.organization_id(), self.entries.is_on()) else {
            return Ok(self.read(packs, caller, &id, version).await?.0);
        };
        let key = (org.to_owned(), id, version);
        if let Some(hit) = self.entries.get(&key) {
            return Ok((*hit).clone());
        }
        // Members are known only after reading: every generation now.
        let before = self.entries.generations().snapshot();
        let (answer, server_ids) = self.read(packs, caller, &key.1, version).await?;
        let stamp = before.map(|snapshot| {
            snapshot.stamp(
                std::iter::once(Topic::Packs(org))
                    .chain(server_ids.iter().map(|s| Topic::Server(s))),
            )
        });
        let weight = (self.renderer.weigh)(&answer);
        Ok((*self.entries.insert(key, stamp, answer, weight)).clone())
    }

    /// The answer from the database (stored, or computed), and the member
    /// servers it depends on.
    async fn read(
        &self,
        packs: &Packs,
        caller: &Caller,
        id: &str,
        version: i64,
    ) -> Result<(V, Vec<String>), Error> {
        let Some(stored) = &self.stored else {
            let resolution = packs.resolve(caller, id, version).await?;
            let server_ids = resolution.server_ids.clone();
            return Ok(((self.renderer.render)(resolution), server_ids));
        };
        let encode = |resolution| (stored.to_bytes)(&(self.renderer.render)(resolution));
        let encoded = packs.resolve_encoded(caller, id, version, &stored.format, encode);
        let encoded = encoded.await?;
        Ok(((stored.from_bytes)(encoded.answer), encoded.server_ids))
    }
}
