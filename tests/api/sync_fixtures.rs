//! The discovery client against MCP servers that misbehave on purpose, all
//! served by one axum app on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap as AxumHeaders, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use mcp_registry::error::UpstreamFailure;
use mcp_registry::sync::client::{DiscoveryError, Limits, Wire, discover};
use mcp_registry::sync::guard::GuardPolicy;
use mcp_registry::sync::http::upstream_client;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use url::Url;

/// Counts GET requests, to see whether a fallback to legacy SSE was tried.
#[derive(Clone, Default)]
struct Counters {
    gets: Arc<AtomicUsize>,
}

fn rpc(body: &Value, result: Value) -> Response {
    let id = body["id"].clone();
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
    )
        .into_response()
}

fn initialized(body: &Value) -> Response {
    rpc(
        body,
        json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "fixture", "version": "1"}}),
    )
}

/// Accepts notifications, answers initialize, and hands other requests to `list`.
fn mcp(body: &Value, list: impl FnOnce(&Value) -> Response) -> Response {
    match body["method"].as_str() {
        Some("initialize") => initialized(body),
        Some(method) if method.starts_with("notifications/") => {
            StatusCode::ACCEPTED.into_response()
        }
        _ => list(body),
    }
}

async fn fixtures() -> (u16, Counters) {
    let counters = Counters::default();
    let gets = counters.gets.clone();
    static CHUNK: [u8; 64 * 1024] = [b' '; 64 * 1024];
    let app = Router::new()
        .route(
            "/unauthorized",
            post(|| async {
                (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer realm=\"fixture\"")]).into_response()
            })
            .get({
                let gets = gets.clone();
                move || async move {
                    gets.fetch_add(1, Ordering::SeqCst);
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }),
        )
        .route(
            "/method-not-allowed",
            post(|| async { StatusCode::METHOD_NOT_ALLOWED }).get({
                let gets = gets.clone();
                move || async move {
                    gets.fetch_add(1, Ordering::SeqCst);
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }),
        )
        .route(
            "/repeating-cursor",
            post(|body: String| async move {
                let body: Value = serde_json::from_str(&body).unwrap_or_default();
                mcp(&body, |body| {
                    let page = body["params"]["cursor"].as_str().map_or(0, |_| 1);
                    rpc(body, json!({"tools": [{"name": format!("t{page}"), "inputSchema": {"type": "object"}}], "nextCursor": "again"}))
                })
            }),
        )
        .route(
            "/hang",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                StatusCode::OK
            }),
        )
        .route(
            "/huge",
            post(|_: AxumHeaders| async {
                // 100 MiB, produced lazily from one static chunk.
                let chunks = (0..1600).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(&CHUNK)));
                ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(tokio_stream::iter(chunks))).into_response()
            }),
        )
        .route(
            "/invalid-json",
            post(|| async { ([(header::CONTENT_TYPE, "application/json")], "{this is not json").into_response() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, counters)
}

async fn run(port: u16, path: &str, limits: Limits) -> DiscoveryError {
    let policy = GuardPolicy {
        allow_private: true,
        ..GuardPolicy::default()
    };
    let client = upstream_client(policy.clone(), Duration::from_secs(2)).expect("client");
    let url = Url::parse(&format!("http://127.0.0.1:{port}{path}")).expect("url");
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
async fn misbehaving_servers_fail_cleanly_with_the_right_reason() {
    let (port, counters) = fixtures().await;

    // 401 is an auth failure, never a reason to try legacy SSE.
    let err = run(port, "/unauthorized", Limits::default()).await;
    assert_eq!(err.failure, UpstreamFailure::AuthFailed, "{err}");
    assert!(
        err.message.contains("WWW-Authenticate: Bearer realm"),
        "{err}"
    );
    assert_eq!(
        counters.gets.load(Ordering::SeqCst),
        0,
        "no SSE fallback after 401"
    );

    // 405 on POST: the legacy SSE transport is tried (its GET fails here).
    let err = run(port, "/method-not-allowed", Limits::default()).await;
    assert_eq!(
        counters.gets.load(Ordering::SeqCst),
        1,
        "SSE fallback after 405"
    );
    assert_eq!(err.failure, UpstreamFailure::ProtocolError, "{err}");

    // A cursor that repeats forever stops at the first repeat.
    let err = run(port, "/repeating-cursor", Limits::default()).await;
    assert_eq!(err.failure, UpstreamFailure::ProtocolError, "{err}");
    assert!(err.message.contains("repeated the cursor"), "{err}");

    // A server that never answers hits the deadline.
    let quick = Limits {
        deadline: Duration::from_millis(500),
        ..Limits::default()
    };
    let err = run(port, "/hang", quick).await;
    assert_eq!(err.failure, UpstreamFailure::Unreachable, "{err}");
    assert!(err.message.contains("no complete answer"), "{err}");

    // A 100 MiB answer is cut off at the message cap.
    let err = run(port, "/huge", Limits::default()).await;
    assert_eq!(err.failure, UpstreamFailure::ProtocolError, "{err}");
    assert!(err.message.contains("larger than"), "{err}");

    let err = run(port, "/invalid-json", Limits::default()).await;
    assert_eq!(err.failure, UpstreamFailure::ProtocolError, "{err}");
    assert!(err.message.contains("not valid JSON"), "{err}");
}
