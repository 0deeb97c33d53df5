//! SearchTools: the tools of the servers a caller sees (own organization and
//! catalog, as ListMcpServers with `include_catalog`), found by text.

use crate::error::Error;
use crate::pagination::{Page, PageRequest};
use crate::registry::Caller;
use crate::registry::search::{HitKey, ToolHit, ToolSearch};
use crate::registry::servers::{CATALOG_SCOPE, Servers};

impl Servers {
    /// Returns one page of the tools matching `search`, best first. Filters
    /// narrow: a server or a pack the caller cannot see gives an empty page,
    /// saying nothing about other organizations.
    pub async fn search_tools(
        &self,
        caller: &Caller,
        search: &ToolSearch,
        page: &PageRequest<HitKey>,
    ) -> Result<Page<ToolHit, HitKey>, Error> {
        caller.require_unlimited()?;
        let org = caller.organization_id();
        let mut scopes = vec![CATALOG_SCOPE.to_owned()];
        scopes.extend(org.map(str::to_owned));
        if let Some(pack_id) = &search.pack_id {
            let ours = match org {
                Some(org) => {
                    let ids = std::slice::from_ref(pack_id);
                    !self.store.existing_pack_ids(org, ids).await?.is_empty()
                }
                None => false,
            };
            if !ours {
                scopes.clear();
            }
        }
        let mut page = self.store.search_tools(&scopes, search, page).await?;
        if let (true, Some(org)) = (search.include_packs, org) {
            let mut ids: Vec<String> = page.items.iter().map(|h| h.server_id.clone()).collect();
            ids.sort();
            ids.dedup();
            // One query for the page's servers, not one per hit.
            let packs = self.store.packs_of_servers(org, &ids).await?;
            for hit in &mut page.items {
                hit.pack_ids = packs.get(&hit.server_id).cloned().unwrap_or_default();
            }
        }
        Ok(page)
    }
}
