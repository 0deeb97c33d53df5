//! AuditService: authenticate, convert (`convert::audit`), call the domain's
//! audit queries (`registry::audit::Audit`), convert back.

use std::sync::Arc;

use tonic::{Request, Response};

use crate::crypto::Keyring;
use crate::error::Violations;
use crate::grpc::convert::audit::Listing;
use crate::grpc::{Reply, caller};
use crate::pagination::PageTokens;
use crate::pb;
use crate::pb::audit_service_server::AuditService;
use crate::registry::audit::{Audit, CallFilter, EventFilter};

/// The AuditService implementation.
pub struct AuditApi {
    audit: Audit,
    /// Signs page tokens.
    keyring: Arc<Keyring>,
}

impl AuditApi {
    pub fn new(audit: Audit, keyring: Arc<Keyring>) -> Self {
        Self { audit, keyring }
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Reply<pb::ListAuditEventsResponse> {
        let caller = caller(&request)?;
        let mut v = Violations::new();
        let listing = Listing::<EventFilter>::read(request.into_inner(), &mut v);
        let query = format!("audit?by={}&{:?}", caller.actor(), listing.filter);
        let tokens = PageTokens::new(&self.keyring, query);
        let page = tokens.parse(listing.page_size, &listing.page_token, &mut v);
        v.finish()?;
        let page = self.audit.events(&caller, &listing.filter, &page).await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            events: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    async fn list_tool_calls(
        &self,
        request: Request<pb::ListToolCallsRequest>,
    ) -> Reply<pb::ListToolCallsResponse> {
        let caller = caller(&request)?;
        let mut v = Violations::new();
        let listing = Listing::<CallFilter>::read(request.into_inner(), &mut v);
        let query = format!("calls?by={}&{:?}", caller.actor(), listing.filter);
        let tokens = PageTokens::new(&self.keyring, query);
        let page = tokens.parse(listing.page_size, &listing.page_token, &mut v);
        v.finish()?;
        let page = self.audit.calls(&caller, &listing.filter, &page).await?;
        Ok(Response::new(pb::ListToolCallsResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            tool_calls: page.items.into_iter().map(Into::into).collect(),
        }))
    }
}
