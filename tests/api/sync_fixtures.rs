//! The discovery client against fake MCP servers that misbehave on
//! purpose, each on 127.0.0.1.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use mcp_registry::error::UpstreamFailure;
use mcp_registry::sync::client::{DiscoveryError, Limits, Wire, discover};
use mcp_registry::sync::guard::GuardPolicy;
use mcp_registry::sync::http::upstream_client;
use reqwest::header::HeaderMap;
use serde_json::json;
use url::Url;

use crate::mcp::{McpServer, Reply, tool};

async fn run(port: u16, limits: Limits) -> DiscoveryError {
    let policy = GuardPolicy {
        allow_private: true,
        ..GuardPolicy::default()
    };
    let client = upstream_client(policy.clone(), Duration::from_secs(2)).expect("client");
    let url = Url::parse(&format!("http://127.0.0.1:{port}/mcp")).expect("url");
    discover(
        &client,
        &url,
        &HeaderMap::new(),
        Wire::Auto,
        &limits,
        &policy,
    )
    .await
    .expect_err("the fixture misbehaves")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_is_an_auth_failure_naming_the_challenge() {
    let upstream = McpServer::new()
        .status(Method::POST, StatusCode::UNAUTHORIZED)
        .status(Method::GET, StatusCode::INTERNAL_SERVER_ERROR)
        .challenge("Bearer realm=\"fixture\"")
        .start()
        .await;
    let err = run(upstream.port, Limits::default()).await;
    assert_eq!(err.failure, UpstreamFailure::AuthFailed, "{err}");
    assert!(
        err.message.contains("WWW-Authenticate: Bearer realm"),
        "{err}"
    );
    // 401 is an auth failure, never a reason to try legacy SSE.
    assert_eq!(upstream.count(Method::GET), 0, "no SSE fallback after 401");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_405_on_post_falls_back_to_legacy_sse() {
    let upstream = McpServer::new()
        .status(Method::POST, StatusCode::METHOD_NOT_ALLOWED)
        .status(Method::GET, StatusCode::INTERNAL_SERVER_ERROR)
        .start()
        .await;
    // The legacy SSE transport is tried (its GET fails here).
    let err = run(upstream.port, Limits::default()).await;
    assert_eq!(upstream.count(Method::GET), 1, "SSE fallback after 405");
    assert_eq!(err.failure, UpstreamFailure::ProtocolError, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_that_repeats_forever_stops_at_the_first_repeat() {
    let upstream = McpServer::new()
        .on("tools/list", |request| {
            let page = request["params"]["cursor"].as_str().map_or(0, |_| 1);
            json!({"tools": [tool(&format!("t{page}"), "")], "nextCursor": "again"})
        })
        .start()
        .await;
    let err = run(upstream.port, Limits::default()).await;
    assert_eq!(err.failure, UpstreamFailure::ProtocolError, "{err}");
    assert!(err.message.contains("repeated the cursor"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_hits_the_deadline() {
    let upstream = McpServer::new().hang().start().await;
    let quick = Limits {
        deadline: Duration::from_millis(500),
        ..Limits::default()
    };
    let err = run(upstream.port, quick).await;
    assert_eq!(err.failure, UpstreamFailure::Unreachable, "{err}");
    assert!(err.message.contains("no complete answer"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_answer_is_cut_off_at_the_message_cap() {
    let upstream = McpServer::new()
        .reply(Reply::Oversized(100 << 20))
        .start()
        .await;
    let err = run(upstream.port, Limits::default()).await;
    assert_eq!(err.failure, UpstreamFailure::ProtocolError, "{err}");
    assert!(err.message.contains("larger than"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_is_not_json_is_a_protocol_error() {
    let upstream = McpServer::new().reply(Reply::InvalidJson).start().await;
    let err = run(upstream.port, Limits::default()).await;
    assert_eq!(err.failure, UpstreamFailure::ProtocolError, "{err}");
    assert!(err.message.contains("not valid JSON"), "{err}");
}
