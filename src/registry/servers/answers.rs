//! GetMcpServer and ListMcpServers answers kept in memory, per organization.
//!
//! An answer is rendered once for the wire by the adapter's `render` (the
//! gRPC adapter encodes it, so a hit is a reference-count increment) and
//! depends on what it was read from:
//! the server (`Topic::Server`), the scopes a listing covers (`Topic::Scope`)
//! and the organization's packs (`Topic::Packs`, for `pack_ids`). What
//! depends on the caller (its [`Access`]) is computed per call. Platform keys,
//! pack-limited keys (whose answers depend on their packs) and look-ups by
//! name always read the store; so do listings filtered by status (a sync
//! changes a status without knowing the scope).

use crate::error::Error;
use crate::pagination::{Page, PageRequest};
use crate::registry::cache::{ReadCache, Renderer};
use crate::registry::servers::{
    Access, Lookup, ServerFilter, ServerView, Servers, access_to, list_scopes, owner_of,
};
use crate::registry::{Caller, Owner, compact_id};
use crate::store::Topic;

/// An answer as the wire shows it, with the caller's access to it.
pub type Shown<V> = (V, Access);

/// One server's answer without what depends on the caller.
struct Rendered<V> {
    value: V,
    /// A catalog server; else one of the caller's organization (entries are
    /// per organization, so its id need not be kept).
    catalog: bool,
    owner: Owner,
}

impl<V: Clone> Rendered<V> {
    fn new(view: ServerView, renderer: &Renderer<ServerView, V>) -> Self {
        Self {
            catalog: view.server.organization_id.is_none(),
            owner: owner_of(&view.server),
            value: (renderer.render)(view),
        }
    }

    fn weight(&self, renderer: &Renderer<ServerView, V>) -> u64 {
        let owner = match &self.owner {
            Owner::Key(id) | Owner::Subject(id) => id.capacity(),
        };
        (std::mem::size_of::<Self>() + owner) as u64 + (renderer.weigh)(&self.value)
    }

    fn shown(&self, caller: &Caller) -> Shown<V> {
        let organization_id = (!self.catalog).then(|| caller.organization_id()).flatten();
        let access = access_to(caller, organization_id, &self.owner);
        (self.value.clone(), access)
    }
}

/// The key of a single answer: the caller's organization and the server,
/// as the 128 bits of their ids (no allocation per entry).
type ByIdKey = (u128, u128);

/// One listing page without what depends on the caller.
struct RenderedPage<V> {
    servers: Vec<Rendered<V>>,
    next: Option<String>,
    total: u64,
}

/// The server answer caches of one service instance.
pub struct ServerAnswers<V> {
    renderer: Renderer<ServerView, V>,
    /// By (organization, server id).
    by_id: ReadCache<ByIdKey, Rendered<V>>,
    /// By the listing's query (caller scope and filter) and cursor.
    pages: ReadCache<String, RenderedPage<V>>,
}

impl<V: Clone> ServerAnswers<V> {
    /// Keeps up to `by_id` bytes of single answers and `pages` bytes of
    /// listing pages (0 keeps none).
    pub fn new(
        servers: &Servers,
        renderer: Renderer<ServerView, V>,
        by_id: u64,
        pages: u64,
    ) -> Self {
        let generations = servers.generations().clone();
        Self {
            renderer,
            by_id: ReadCache::new("servers", generations.clone(), by_id),
            pages: ReadCache::new("server_lists", generations, pages),
        }
    }

    /// Single answers only (no listings), for another rendering, under its
    /// own metrics name.
    pub fn by_id_named(
        name: &'static str,
        servers: &Servers,
        renderer: Renderer<ServerView, V>,
        bytes: u64,
    ) -> Self {
        let generations = servers.generations().clone();
        Self {
            renderer,
            by_id: ReadCache::new(name, generations.clone(), bytes),
            pages: ReadCache::new("unused", generations, 0),
        }
    }

    /// Returns the server `lookup` names, as rendered.
    pub async fn get(
        &self,
        servers: &Servers,
        caller: &Caller,
        lookup: Lookup,
    ) -> Result<Shown<V>, Error> {
        let (Lookup::Id(id), Some(org), true, None) = (
            &lookup,
            caller.organization_id(),
            self.by_id.is_on(),
            caller.pack_limit(),
        ) else {
            return self.uncached(servers, caller, lookup).await;
        };
        let (Some(org_key), Some(id_key)) = (compact_id("org", org), compact_id("mcp", id)) else {
            return self.uncached(servers, caller, lookup).await;
        };
        let key = (org_key, id_key);
        if let Some(hit) = self.by_id.get(&key) {
            return Ok(hit.shown(caller));
        }
        let stamp = self
            .by_id
            .generations()
            .stamp([Topic::Server(id), Topic::Packs(org)]);
        let view = servers.get(caller, lookup.clone()).await?;
        let entry = Rendered::new(view, &self.renderer);
        let weight = entry.weight(&self.renderer);
        Ok(self.by_id.insert(key, stamp, entry, weight).shown(caller))
    }

    /// Reads and renders the server `lookup` names, caching nothing.
    async fn uncached(
        &self,
        servers: &Servers,
        caller: &Caller,
        lookup: Lookup,
    ) -> Result<Shown<V>, Error> {
        let view = servers.get(caller, lookup).await?;
        let access = view.access;
        Ok(((self.renderer.render)(view), access))
    }

    /// Returns one listing page, as rendered. `query` identifies the caller's
    /// scope and the filter (the cache key, with the cursor).
    pub async fn list(
        &self,
        servers: &Servers,
        caller: &Caller,
        filter: &ServerFilter,
        query: &str,
        page: &PageRequest<String>,
    ) -> Result<Page<Shown<V>, String>, Error> {
        // Syncs change statuses and tools without announcing the scope, and
        // a text match may start on any server of it: such listings are read
        // every time.
        let (Some(org), None, true, None, None, None) = (
            caller.organization_id(),
            filter.status,
            self.pages.is_on(),
            caller.pack_limit(),
            &filter.tool_name,
            &filter.text,
        ) else {
            let listed = servers.list(caller, filter, page).await?;
            return Ok(Page {
                items: listed
                    .items
                    .into_iter()
                    .map(|view| {
                        let access = view.access;
                        ((self.renderer.render)(view), access)
                    })
                    .collect(),
                next: listed.next,
                total: listed.total,
            });
        };
        let key = format!("{query}&limit={}&after={:?}", page.limit, page.after);
        let hit = match self.pages.get(&key) {
            Some(hit) => hit,
            None => {
                // The servers listed are known only after reading: every
                // generation now, the topics after.
                let before = self.pages.generations().snapshot();
                let scopes = list_scopes(caller, filter);
                let listed = servers.list(caller, filter, page).await?;
                let stamp = before.map(|snapshot| {
                    snapshot.stamp(
                        scopes
                            .iter()
                            .map(|s| Topic::Scope(s))
                            .chain(std::iter::once(Topic::Packs(org)))
                            .chain(listed.items.iter().map(|v| Topic::Server(&v.server.id))),
                    )
                });
                let entry = RenderedPage {
                    next: listed.next,
                    total: listed.total,
                    servers: listed
                        .items
                        .into_iter()
                        .map(|view| Rendered::new(view, &self.renderer))
                        .collect(),
                };
                let weight = entry
                    .servers
                    .iter()
                    .map(|s| s.weight(&self.renderer))
                    .sum::<u64>()
                    + entry.next.as_ref().map_or(0, |n| n.len() as u64)
                    + key.len() as u64;
                self.pages.insert(key, stamp, entry, weight)
            }
        };
        Ok(Page {
            items: hit.servers.iter().map(|s| s.shown(caller)).collect(),
            next: hit.next.clone(),
            total: hit.total,
        })
    }
}
