//! A minimal MCP server for the sync benchmarks: Streamable HTTP with plain
//! JSON responses, stateless (no session id), on any path, so that
//! `http://127.0.0.1:<port>/s/<n>/mcp` is a distinct URL per registered server.
//! `initialize` announces only `tools`; `tools/list` returns `tools` tools;
//! `tools/call` of one of them echoes its `query` argument as text (the pack
//! gateway benchmark calls it directly and through the gateway).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

struct Fixture {
    tools: Value,
    /// How many tools `tools/list` returns (`tool_00` .. `tool_<n-1>`).
    count: usize,
    requests: AtomicU64,
}

pub fn tool_list(n: usize) -> Value {
    let tools: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "name": format!("tool_{i:02}"),
                "title": format!("Tool {i}"),
                "description": format!("Benchmark tool number {i}: looks something up and returns it as text."),
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "What to look up"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 100}
                    },
                    "required": ["query"]
                },
                "annotations": {"readOnlyHint": true}
            })
        })
        .collect();
    Value::Array(tools)
}

fn json_response(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(State(fx): State<Arc<Fixture>>, method: Method, body: Bytes) -> Response {
    fx.requests.fetch_add(1, Ordering::Relaxed);
    if method != Method::POST {
        // No server-initiated stream (GET) and no session to end (DELETE).
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let Some(id) = message.get("id").cloned() else {
        // A notification (notifications/initialized) or a response.
        return StatusCode::ACCEPTED.into_response();
    };
    let rpc = message.get("method").and_then(Value::as_str).unwrap_or("");
    let result = match rpc {
        "initialize" => {
            let version = message
                .pointer("/params/protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or("2025-06-18")
                .to_owned();
            json!({
                "protocolVersion": version,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "mcp-registry-bench-fixture", "version": "1.0.0"}
            })
        }
        "tools/list" => json!({"tools": fx.tools}),
        "tools/call" => match echo(&message, fx.count) {
            Ok(result) => result,
            Err(text) => {
                return json_response(json!({
                    "jsonrpc": "2.0", "id": id,
                    "error": {"code": -32602, "message": text}
                }));
            }
        },
        "prompts/list" => json!({"prompts": []}),
        "resources/list" => json!({"resources": []}),
        "resources/templates/list" => json!({"resourceTemplates": []}),
        "ping" => json!({}),
        _ => {
            return json_response(json!({
                "jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("method not found: {rpc}")}
            }));
        }
    };
    json_response(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// The result of `tools/call` for a listed tool: its `query` argument as
/// text; an unknown tool is an invalid-params error.
fn echo(message: &Value, count: usize) -> Result<Value, String> {
    let name = message
        .pointer("/params/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let listed = name
        .strip_prefix("tool_")
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n < count);
    if !listed {
        return Err(format!("unknown tool: {name}"));
    }
    let query = message
        .pointer("/params/arguments/query")
        .and_then(Value::as_str)
        .unwrap_or("");
    Ok(json!({"content": [{"type": "text", "text": query}], "isError": false}))
}

/// Serves the fixture on 127.0.0.1:`port` until the process ends.
pub async fn serve(port: u16, tools: usize) -> anyhow::Result<()> {
    let fx = Arc::new(Fixture {
        tools: tool_list(tools),
        count: tools,
        requests: AtomicU64::new(0),
    });
    let app = Router::new().fallback(handle).with_state(fx);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "fixture: MCP server with {tools} tools on http://{}/<any path>",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
