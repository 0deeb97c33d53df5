//! The MCP discovery client against real MCP servers on 127.0.0.1.

use std::time::Duration;

use mcp_registry::error::UpstreamFailure;
use mcp_registry::sync::client::{Discovery, Limits, Listing, Wire, discover};
use mcp_registry::sync::guard::GuardPolicy;
use mcp_registry::sync::http::upstream_client;
use reqwest::header::HeaderMap;
use url::Url;

use crate::helpers::everything;

async fn run(
    url: &str,
    wire: Wire,
) -> Result<Discovery, mcp_registry::sync::client::DiscoveryError> {
    let policy = GuardPolicy {
        allow_private: true,
        ..GuardPolicy::default()
    };
    let client = upstream_client(policy.clone(), Duration::from_secs(5)).expect("client");
    discover(
        &client,
        &Url::parse(url).expect("url"),
        &HeaderMap::new(),
        wire,
        &Limits::default(),
        &policy,
    )
    .await
}

fn names(listing: &Listing, key: &str) -> Vec<String> {
    match listing {
        Listing::Listed { items, .. } => items
            .iter()
            .map(|item| item[key].as_str().expect("key").to_owned())
            .collect(),
        other => panic!("not listed: {other:?}"),
    }
}

fn assert_complete(discovery: &Discovery) {
    assert_eq!(discovery.server_info["name"], "mcp-servers/everything");
    assert!(!discovery.protocol_version.is_empty());
    let tools = names(&discovery.tools, "name");
    assert!(tools.iter().any(|t| t == "echo"), "{tools:?}");
    assert!(!names(&discovery.prompts, "name").is_empty());
    assert!(!names(&discovery.resources, "uri").is_empty());
    assert!(!names(&discovery.resource_templates, "uriTemplate").is_empty());
    // Every tool keeps its raw JSON, schema included.
    if let Listing::Listed { items, .. } = &discovery.tools {
        assert!(items.iter().all(|t| t["inputSchema"].is_object()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_over_streamable_http_lists_everything_the_reference_server_offers() {
    let Some(server) = everything("streamableHttp").await else {
        return;
    };
    let url = format!("http://127.0.0.1:{}/mcp", server.port);
    for wire in [Wire::Auto, Wire::StreamableHttp] {
        let found = run(&url, wire).await.expect("discovery");
        assert_eq!(found.wire, Wire::StreamableHttp, "{wire:?}");
        assert_complete(&found);
    }
    // Explicit SSE against a Streamable HTTP server fails clearly, without a panic.
    let err = run(&url, Wire::Sse).await.expect_err("not an SSE endpoint");
    assert_eq!(err.failure, UpstreamFailure::ProtocolError, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_falls_back_to_legacy_sse_and_lists_the_same_capabilities() {
    let Some(server) = everything("sse").await else {
        return;
    };
    let url = format!("http://127.0.0.1:{}/sse", server.port);
    for wire in [Wire::Auto, Wire::Sse] {
        let found = run(&url, wire).await.expect("discovery");
        assert_eq!(found.wire, Wire::Sse, "{wire:?}");
        assert_complete(&found);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_guard_on_a_loopback_upstream_is_refused_before_connecting() {
    let strict = GuardPolicy::default();
    let client = upstream_client(strict.clone(), Duration::from_secs(5)).expect("client");
    for url in [
        "http://127.0.0.1:9/mcp",
        "http://localhost:9/mcp",
        "http://[::1]:9/mcp",
    ] {
        let err = discover(
            &client,
            &Url::parse(url).expect("url"),
            &HeaderMap::new(),
            Wire::Auto,
            &Limits::default(),
            &strict,
        )
        .await
        .expect_err("refused");
        assert_eq!(err.failure, UpstreamFailure::Unreachable, "{url}: {err}");
        assert!(err.message.contains("SSRF guard"), "{url}: {err}");
    }
}
