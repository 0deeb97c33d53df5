//! ResolvePack answers kept in memory, per organization, pack and requested
//! version. An answer is rendered once for the wire by the adapter (a hit
//! costs a clone) and depends on the organization's packs
//! (`Topic::Packs`) and on each member server, row and tools
//! (`Topic::Server`). Platform keys have no packs and are not cached.

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
}

impl<V: Clone> ResolutionAnswers<V> {
    /// Keeps up to `bytes` of answers (0 keeps none).
    pub fn new(packs: &Packs, renderer: Renderer<Resolution, V>, bytes: u64) -> Self {
        Self::named("resolutions", packs, renderer, bytes)
    }

    /// [`Self::new`] for another rendering, under its own metrics name.
    pub fn named(
        name: &'static str,
        packs: &Packs,
        renderer: Renderer<Resolution, V>,
        bytes: u64,
    ) -> Self {
        Self {
            renderer,
            entries: ReadCache::new(name, packs.generations().clone(), bytes),
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
            return Ok((self.renderer.render)(
                packs.resolve(caller, &id, version).await?,
            ));
        };
        let key = (org.to_owned(), id, version);
        if let Some(hit) = self.entries.get(&key) {
            return Ok((*hit).clone());
        }
        // Members are known only after reading: every generation now.
        let before = self.entries.generations().snapshot();
        let resolution = packs.resolve(caller, &key.1, version).await?;
        let stamp = before.map(|snapshot| {
            snapshot.stamp(
                std::iter::once(Topic::Packs(org))
                    .chain(resolution.server_ids.iter().map(|s| Topic::Server(s))),
            )
        });
        let answer = (self.renderer.render)(resolution);
        let weight = (self.renderer.weigh)(&answer);
        Ok((*self.entries.insert(key, stamp, answer, weight)).clone())
    }
}
