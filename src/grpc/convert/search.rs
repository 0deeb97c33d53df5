//! Text search conversions: SearchTools requests and hits, and the `query`
//! fields of the ListMcpServers and ListPacks filters.

use crate::error::Violations;
use crate::grpc::convert::{check_id, required_enum};
use crate::pb;
use crate::registry::Category;
use crate::registry::search::{TextQuery, ToolHit, ToolSearch};
use crate::registry::servers::ToolApproval;

/// Reads an optional text query (empty: no text filter) under `field`.
pub fn optional_text(text: &str, field: &str, v: &mut Violations) -> Option<TextQuery> {
    if text.is_empty() {
        return None;
    }
    v.check(field, TextQuery::parse(text))
}

/// A SearchTools request, read: the search (`None` when the query is
/// invalid: a violation says why) and the page parameters.
pub struct SearchRequest {
    pub search: Option<ToolSearch>,
    pub page_size: i32,
    pub page_token: String,
}

impl SearchRequest {
    /// Reads `request`, adding a violation for each invalid field.
    pub fn read(request: pb::SearchToolsRequest, v: &mut Violations) -> Self {
        let pb::SearchToolsRequest {
            query,
            page_size,
            page_token,
            server_id,
            category,
            approval_states,
            pack_id,
            include_packs,
        } = request;
        let query = if query.is_empty() {
            v.add("query", "is required");
            None
        } else {
            v.check("query", TextQuery::parse(&query))
        };
        if !server_id.is_empty() {
            check_id(v, "server_id", "mcp", &server_id);
        }
        if !pack_id.is_empty() {
            check_id(v, "pack_id", "pack", &pack_id);
        }
        if !category.is_empty() {
            v.check("category", Category::parse(category.as_str()));
        }
        let mut approval: Vec<ToolApproval> = approval_states
            .into_iter()
            .enumerate()
            .filter_map(|(i, state)| v.check(format!("approval_states[{i}]"), required_enum(state)))
            .collect();
        approval.sort_by_key(|state| pb::ToolApprovalState::from(*state) as i32);
        approval.dedup();
        Self {
            search: query.map(|query| ToolSearch {
                query,
                server_id: (!server_id.is_empty()).then_some(server_id),
                category: (!category.is_empty()).then_some(category),
                approval,
                pack_id: (!pack_id.is_empty()).then_some(pack_id),
                include_packs,
            }),
            page_size,
            page_token,
        }
    }
}

impl From<ToolHit> for pb::ToolHit {
    fn from(hit: ToolHit) -> Self {
        let ToolHit {
            server_id,
            server_name,
            tool_name,
            title,
            description,
            score,
            pack_ids,
        } = hit;
        Self {
            server_id,
            server_name,
            tool_name,
            title,
            description,
            score,
            pack_ids,
        }
    }
}
