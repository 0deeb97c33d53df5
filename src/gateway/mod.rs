//! The pack gateway: every pack as one MCP endpoint at `/mcp/packs/{pack_id}`
//! on its own listener (`--mcp-listen`), speaking Streamable HTTP.
//!
//! It is stateless: no `Mcp-Session-Id` is issued, every POST carries one
//! JSON-RPC message and gets one JSON answer, so any replica can answer any
//! request. Callers are the organization's API keys (`Authorization: Bearer
//! <key>.<secret>` or `x-api-key` + `x-api-secret`), with the same rights as
//! on gRPC: a pack of another organization is not found.
//!
//! Served so far: `initialize`, `ping` and `tools/list` (the pack's
//! resolution at its current version, exactly ResolvePack's qualified names
//! and exclusions, each tool's definition as its upstream declared it but
//! for the name), read from the store, never from upstreams. `tools/call`,
//! prompts and resources are not served yet: they answer "method not found".

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::Error;
use crate::registry::Caller;
use crate::registry::admin::validate_id;
use crate::registry::auth::Authenticator;
use crate::registry::packs::{Packs, ResolvedTool};
use crate::sync::client::PROTOCOL_VERSIONS;

/// Most tools in one `tools/list` page; `nextCursor` leads to the next.
pub const TOOLS_PAGE: usize = 100;

/// What the gateway needs from the domain.
pub struct Gateway {
    /// Turns the request's API key into a caller.
    authenticator: Authenticator,
    /// Reads and resolves packs with the caller's rights.
    packs: Packs,
}

impl Gateway {
    /// Returns a gateway over these domain services.
    pub fn new(authenticator: Authenticator, packs: Packs) -> Arc<Self> {
        Arc::new(Self {
            authenticator,
            packs,
        })
    }
}

/// Returns the gateway's routes; bodies over `max_bytes` are refused.
pub fn router(gateway: Arc<Gateway>, max_bytes: usize) -> Router {
    Router::new()
        .route(
            "/mcp/packs/{pack_id}",
            axum::routing::post(post).get(no_stream).delete(no_stream),
        )
        .layer(DefaultBodyLimit::max(max_bytes))
        .with_state(gateway)
}

/// GET (a server-to-client stream) and DELETE (ending a session) have no
/// meaning for a gateway without sessions: 405, as the specification allows.
async fn no_stream() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response()
}

/// Answers one JSON-RPC message posted to a pack's endpoint.
async fn post(
    State(gateway): State<Arc<Gateway>>,
    Path(pack_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match authenticate(&gateway, &headers).await {
        Ok(caller) => caller,
        Err(err) => return http_error(&err, Value::Null),
    };
    let message: Value = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(err) => {
            let error = rpc_error(Value::Null, -32700, &format!("not valid JSON: {err}"));
            return json_response(StatusCode::BAD_REQUEST, &error);
        }
    };
    let (Some(method), Some(id)) = (
        message.get("method").and_then(Value::as_str),
        message.get("id"),
    ) else {
        // A notification or a response: nothing to answer.
        return StatusCode::ACCEPTED.into_response();
    };
    let id = id.clone();
    let answer = match method {
        "initialize" => initialize(&gateway, &caller, &pack_id, &message).await,
        "ping" => Ok(json!({})),
        "tools/list" => tools_list(&gateway, &caller, &pack_id, &message).await,
        other => {
            let text = format!("the pack gateway does not serve {}", clip(other, 100));
            return json_answer(rpc_error(id, -32601, &text));
        }
    };
    metrics::counter!("mcp_registry_gateway_requests_total", "method" => known(method),
        "outcome" => if answer.is_ok() { "ok" } else { "error" })
    .increment(1);
    match answer {
        Ok(result) => json_answer(json!({"jsonrpc": "2.0", "id": id, "result": result})),
        Err(Answer::Rpc(code, text)) => json_answer(rpc_error(id, code, &text)),
        Err(Answer::Http(err)) => http_error(&err, id),
    }
}

/// How a method fails: a JSON-RPC error in a 200 answer, or an HTTP error
/// (an unknown pack, an unavailable database).
enum Answer {
    Rpc(i64, String),
    Http(Error),
}

impl From<Error> for Answer {
    fn from(err: Error) -> Self {
        Self::Http(err)
    }
}

/// Returns the caller the request's API key stands for.
async fn authenticate(gateway: &Gateway, headers: &HeaderMap) -> Result<Caller, Error> {
    let (key_id, secret) = crate::grpc::middleware::credentials(headers)?;
    gateway.authenticator.authenticate(key_id, secret).await
}

/// `initialize`: the protocol version the client asked for when the gateway
/// speaks it, else the newest it speaks; the pack must be the caller's.
async fn initialize(
    gateway: &Gateway,
    caller: &Caller,
    pack_id: &str,
    message: &Value,
) -> Result<Value, Answer> {
    let pack = gateway
        .packs
        .get(caller, &checked_pack_id(pack_id)?)
        .await?;
    let asked = message["params"]["protocolVersion"]
        .as_str()
        .unwrap_or_default();
    let version = PROTOCOL_VERSIONS
        .iter()
        .find(|v| **v == asked)
        .unwrap_or(&PROTOCOL_VERSIONS[0]);
    Ok(json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": "mcp-registry", "title": pack.name, "version": env!("CARGO_PKG_VERSION")},
        "instructions": pack.description,
    }))
}

/// `tools/list`: the pack's tools at its current version, a page at a time.
async fn tools_list(
    gateway: &Gateway,
    caller: &Caller,
    pack_id: &str,
    message: &Value,
) -> Result<Value, Answer> {
    let start = match message["params"]["cursor"].as_str() {
        None => 0,
        Some(cursor) => cursor.parse::<usize>().map_err(|_| {
            Answer::Rpc(
                -32602,
                format!("cursor {:?} is not one this gateway gave", clip(cursor, 40)),
            )
        })?,
    };
    let resolution = gateway
        .packs
        .resolve(caller, &checked_pack_id(pack_id)?, 0)
        .await?;
    let end = start.saturating_add(TOOLS_PAGE).min(resolution.tools.len());
    let tools: Vec<Value> = resolution
        .tools
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(listed_tool)
        .collect();
    let mut result = json!({"tools": tools});
    if end < resolution.tools.len() {
        result["nextCursor"] = json!(end.to_string());
    }
    Ok(result)
}

/// A tool as listed: its upstream definition, field for field, under its
/// qualified name.
fn listed_tool(tool: &ResolvedTool) -> Value {
    let mut definition = match &tool.definition {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    definition.insert("name".into(), Value::String(tool.qualified_name.clone()));
    Value::Object(definition)
}

/// A pack id of the right form, or NOT_FOUND (no pack has a malformed id).
fn checked_pack_id(pack_id: &str) -> Result<String, Error> {
    validate_id("pack_id", "pack", pack_id)
        .map(|()| pack_id.to_owned())
        .map_err(|_| Error::NotFound {
            kind: "pack",
            id: clip(pack_id, 80),
        })
}

/// The metric label of a method: the known ones, else `other`.
fn known(method: &str) -> &'static str {
    match method {
        "initialize" => "initialize",
        "ping" => "ping",
        "tools/list" => "tools/list",
        _ => "other",
    }
}

fn clip(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

fn rpc_error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn json_answer(body: Value) -> Response {
    json_response(StatusCode::OK, &body)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let content_type = [(header::CONTENT_TYPE, "application/json")];
    (status, content_type, body.to_string()).into_response()
}

/// An error that the HTTP status says (a JSON-RPC error in the body too):
/// 401 with a challenge, 403, 404, 503 or 500. Internal causes are logged,
/// never sent.
fn http_error(err: &Error, id: Value) -> Response {
    let (status, message) = match err {
        Error::Unauthenticated(text) => (StatusCode::UNAUTHORIZED, (*text).to_owned()),
        Error::PermissionDenied(text) => (StatusCode::FORBIDDEN, text.clone()),
        Error::NotFound { kind, id } => (StatusCode::NOT_FOUND, format!("{kind} {id:?} not found")),
        Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, err.to_string()),
        Error::StorageUnavailable(_) | Error::ShuttingDown(_) => {
            tracing::warn!(error = %err, "pack gateway request failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the registry is unavailable; retry".to_owned(),
            )
        }
        other => {
            tracing::error!(error = ?other, "pack gateway request failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".to_owned(),
            )
        }
    };
    let mut response = json_response(status, &rpc_error(id, -32001, &message));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"mcp-registry\""),
        );
    }
    response
}
