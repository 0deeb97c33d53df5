//! Tool calls for the pack gateway: one upstream session per call, opened
//! with the server's sealed credentials and request headers (plaintext in
//! memory for that call only) through the same guard, transport choice and
//! limits as a sync, within the gateway's own deadline.

use std::time::Duration;

use serde_json::Value;

use crate::error::UpstreamFailure;
use crate::registry::servers::{McpServer, Transport};
use crate::sync::client::{Limits, ToolCallOutcome, Wire, call_tool};
use crate::sync::engine::Syncer;
use crate::sync::lifecycle::{AttemptFailure, stored_url};

impl Syncer {
    /// Calls tool `name` of `server` with `arguments`. With `approved`, the
    /// definition the upstream lists now must hash to it, or nothing is
    /// called ([`ToolCallOutcome::Changed`]).
    pub async fn call_tool(
        &self,
        server: &McpServer,
        name: &str,
        arguments: Value,
        approved: Option<&str>,
        deadline: Duration,
    ) -> Result<ToolCallOutcome, AttemptFailure> {
        let url = stored_url(server)?;
        let headers = self.inner.credentials.headers(server).await?;
        // The transport the last sync found, when the server leaves it open.
        let wire = match (server.transport, server.detected_transport) {
            (Transport::StreamableHttp, _) | (Transport::Auto, Some(Transport::StreamableHttp)) => {
                Wire::StreamableHttp
            }
            (Transport::Sse, _) | (Transport::Auto, Some(Transport::Sse)) => Wire::Sse,
            (Transport::Auto, _) => Wire::Auto,
        };
        let settings = &self.inner.settings;
        let limits = Limits {
            deadline,
            ..settings.limits.clone()
        };
        let client = &self.inner.client;
        let called = call_tool(
            client,
            &url,
            &headers,
            wire,
            &limits,
            &settings.policy,
            name,
            arguments,
            approved,
        )
        .await;
        if let Err(err) = &called
            && err.failure == UpstreamFailure::AuthFailed
        {
            // A refused token must not keep failing calls until it expires.
            self.inner.credentials.forget_tokens().await;
        }
        called.map_err(AttemptFailure::Upstream)
    }
}
