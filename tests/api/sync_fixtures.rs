//! The discovery client against fake MCP servers that misbehave on
//! purpose, each on 127.0.0.1.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use mcp_registry::error::UpstreamFailure;
use mcp_registry::sync::client::{
    Discovery, DiscoveryError, Limits, Listing, PROTOCOL_VERSION, Wire, discover,
};
use mcp_registry::sync::guard::GuardPolicy;
use mcp_registry::sync::http::upstream_client;
use reqwest::header::HeaderMap;
use serde_json::json;
use url::Url;

use crate::mcp::{McpServer, Reply, tool};

/// Discovers what the fixture on `port` offers, over `wire`.
async fn discover_at(port: u16, wire: Wire, limits: Limits) -> Result<Discovery, DiscoveryError> {
    let policy = GuardPolicy {
        allow_private: true,
        ..GuardPolicy::default()
    };
    let client = upstream_client(policy.clone(), Duration::from_secs(2)).expect("client");
    let url = Url::parse(&format!("http://127.0.0.1:{port}/mcp")).expect("url");
    discover(&client, &url, &HeaderMap::new(), wire, &limits, &policy).await
}

async fn run(port: u16, limits: Limits) -> DiscoveryError {
    discover_at(port, Wire::Auto, limits)
        .await
        .expect_err("the fixture misbehaves")
}

/// The names of the tools a discovery listed.
fn tool_names(discovery: &Discovery) -> Vec<String> {
    match &discovery.tools {
        Listing::Listed { items, .. } => items
            .iter()
            .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
            .collect(),
        _ => Vec::new(),
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priming_event_without_data_before_the_answer_is_ignored() {
    let upstream = McpServer::new()
        .tool("echo", "Echoes")
        .reply(Reply::SsePrimed)
        .start()
        .await;
    let discovery = discover_at(upstream.port, Wire::Auto, Limits::default()).await;
    let discovery = discovery.expect("a primed stream still carries the answer");
    assert_eq!(tool_names(&discovery), ["echo"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_from_the_server_is_answered_before_its_answer_arrives() {
    let upstream = McpServer::new()
        .tool("echo", "Echoes")
        .reply(Reply::SsePing)
        .start()
        .await;
    let quick = Limits {
        deadline: Duration::from_secs(5),
        ..Limits::default()
    };
    let discovery = discover_at(upstream.port, Wire::Auto, quick).await;
    let discovery = discovery.expect("the sync answers the server's pings");
    assert_eq!(tool_names(&discovery), ["echo"]);
    let pongs = upstream
        .requests()
        .into_iter()
        .filter(|r| r.body.contains("\"ping-") && r.body.contains("\"result\""))
        .count();
    assert!(pongs >= 2, "every request's ping was answered ({pongs})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_error_with_a_json_rpc_body_reports_the_upstreams_own_error() {
    let upstream = McpServer::new()
        .rpc_error(
            StatusCode::BAD_REQUEST,
            -32600,
            "Server already initialized",
        )
        .start()
        .await;
    let err = run(upstream.port, Limits::default()).await;
    assert_eq!(err.failure, UpstreamFailure::ProtocolError, "{err}");
    assert!(
        err.message.contains("Server already initialized (-32600)"),
        "{err}"
    );
    assert!(
        !err.message.contains("not a Streamable HTTP endpoint"),
        "{err}"
    );
    // A Streamable HTTP endpoint that refused is not a reason to try SSE.
    assert_eq!(upstream.count(Method::GET), 0, "no SSE fallback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_asks_for_the_newest_version_and_goes_on_with_an_older_one() {
    let upstream = McpServer::new()
        .tool("echo", "Echoes")
        .protocol_version("2025-03-26")
        .start()
        .await;
    let discovery = discover_at(upstream.port, Wire::Auto, Limits::default()).await;
    let discovery = discovery.expect("an older version the client speaks");
    assert_eq!(discovery.protocol_version, "2025-03-26");
    let requests = upstream.requests();
    let asked: serde_json::Value = serde_json::from_str(&requests[0].body).expect("json");
    assert_eq!(asked["params"]["protocolVersion"], PROTOCOL_VERSION);
    assert_eq!(PROTOCOL_VERSION, "2025-11-25");
    let listed = requests
        .iter()
        .find(|r| r.rpc.as_deref() == Some("tools/list"));
    let header = listed.map(|r| r.header("mcp-protocol-version"));
    assert_eq!(header, Some(vec!["2025-03-26"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_version_the_client_does_not_speak_is_refused() {
    let upstream = McpServer::new()
        .protocol_version("1999-01-01")
        .start()
        .await;
    let err = run(upstream.port, Limits::default()).await;
    assert_eq!(err.failure, UpstreamFailure::ProtocolError, "{err}");
    assert!(err.message.contains("\"1999-01-01\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_sse_stream_without_an_endpoint_event_fails_early_with_a_hint() {
    let upstream = McpServer::new().silent_sse().start().await;
    let started = std::time::Instant::now();
    let err = discover_at(upstream.port, Wire::Sse, Limits::default())
        .await
        .expect_err("no endpoint event");
    assert_eq!(err.failure, UpstreamFailure::ProtocolError, "{err}");
    assert!(
        err.message.contains("may be a Streamable HTTP endpoint"),
        "{err}"
    );
    assert!(
        started.elapsed() < Limits::default().deadline,
        "failed before the sync deadline"
    );
}
