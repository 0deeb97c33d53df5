//! The pack gateway: every pack as one MCP endpoint at `/mcp/packs/{pack_id}`
//! on its own listener (`--mcp-listen`), speaking Streamable HTTP.
//!
//! It is stateless: no `Mcp-Session-Id` is issued, every POST carries one
//! JSON-RPC message and gets one JSON answer, so any replica can answer any
//! request. Callers are the organization's API keys (`Authorization: Bearer
//! <key>.<secret>` or `x-api-key` + `x-api-secret`), admitted by `access`:
//! 401 without a valid key, 429 over the key's rate budget, 404 for an
//! unknown pack, 403 for another organization's pack or one outside a
//! pack-limited key's packs.
//!
//! Served so far: `initialize`, `ping`, `tools/list` (the pack's resolution
//! at its current version, exactly ResolvePack's qualified names and
//! exclusions, each tool's definition as its upstream declared it but for the
//! name, read from the store, never from upstreams) and `tools/call` (checked
//! against that resolution at call time, then made upstream by the sync
//! engine with the server's sealed credentials; under REQUIRE_ALL the
//! definition the upstream presents now must hash to the approved one).
//! Prompts and resources are not served yet: "method not found".

pub mod access;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::{Error, UpstreamFailure};
use crate::gateway::access::Admission;
use crate::registry::Caller;
use crate::registry::admin::validate_id;
use crate::registry::packs::{ExcludedTool, Exclusion, Pack, Packs, ResolvedTool};
use crate::registry::runs::Trigger;
use crate::registry::servers::{ApprovalPolicy, Lookup, Servers};
use crate::sync::client::{DiscoveryError, PROTOCOL_VERSIONS, ToolCallOutcome};
use crate::sync::engine::Syncer;
use crate::sync::lifecycle::AttemptFailure;

/// Most tools in one `tools/list` page; `nextCursor` leads to the next.
pub const TOOLS_PAGE: usize = 100;

/// What the gateway needs from the domain and the sync engine.
pub struct Gateway {
    /// Turns the request's API key into a caller, within its rate budget.
    admission: Admission,
    /// Reads and resolves packs with the caller's rights.
    packs: Packs,
    /// Reads a member server (url, transport, sealed secrets) for a call.
    servers: Servers,
    /// Makes upstream calls (guard, credentials, transports) and records a
    /// changed tool by syncing its server.
    syncer: Syncer,
    /// `--gateway-call-timeout`: one call, upstream connection included.
    call_timeout: Duration,
}

impl Gateway {
    /// Returns a gateway over these services.
    pub fn new(
        admission: Admission,
        packs: Packs,
        servers: Servers,
        syncer: Syncer,
        call_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            admission,
            packs,
            servers,
            syncer,
            call_timeout,
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
    let (caller, pack) = match authenticate(&gateway, &headers, &pack_id).await {
        Ok(admitted) => admitted,
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
        "initialize" => initialize(&pack, &message),
        "ping" => Ok(json!({})),
        "tools/list" => tools_list(&gateway, &caller, &pack_id, &message).await,
        "tools/call" => tools_call(&gateway, &caller, &pack_id, &message).await,
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

/// Returns the caller the request's API key stands for and the pack it may
/// use (see `access`).
async fn authenticate(
    gateway: &Gateway,
    headers: &HeaderMap,
    pack_id: &str,
) -> Result<(Caller, Pack), Error> {
    access::admit(&gateway.admission, &gateway.packs, headers, pack_id).await
}

/// `initialize`: the protocol version the client asked for when the gateway
/// speaks it, else the newest it speaks, for the admitted pack.
fn initialize(pack: &Pack, message: &Value) -> Result<Value, Answer> {
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

/// `tools/call`: the tool must be offered by the pack's current version
/// (member, enabled, allowed, approved: ResolvePack's rules), then it is
/// called upstream. The result passes through unchanged; an upstream failure
/// is a result with `isError` naming the failure kind.
async fn tools_call(
    gateway: &Gateway,
    caller: &Caller,
    pack_id: &str,
    message: &Value,
) -> Result<Value, Answer> {
    let params = &message["params"];
    let Some(name) = params["name"].as_str() else {
        return Err(Answer::Rpc(
            -32602,
            "params.name (the tool's name) is required".into(),
        ));
    };
    let arguments = match &params["arguments"] {
        Value::Null => json!({}),
        Value::Object(_) => params["arguments"].clone(),
        _ => {
            return Err(Answer::Rpc(
                -32602,
                "params.arguments must be an object".into(),
            ));
        }
    };
    let resolution = gateway
        .packs
        .resolve(caller, &checked_pack_id(pack_id)?, 0)
        .await?;
    let Some(tool) = resolution.tools.iter().find(|t| t.qualified_name == name) else {
        return Err(Answer::Rpc(-32602, not_offered(name, &resolution.excluded)));
    };
    let view = gateway
        .servers
        .get(caller, Lookup::Id(tool.server_id.clone()))
        .await?;
    let server = view.server;
    let approved = (server.approval_policy == ApprovalPolicy::RequireAll)
        .then_some(tool.definition_hash.as_str());
    let started = std::time::Instant::now();
    let called = gateway
        .syncer
        .call_tool(
            &server,
            &tool.name,
            arguments,
            approved,
            gateway.call_timeout,
        )
        .await;
    let outcome = match &called {
        Ok(ToolCallOutcome::Result(result)) if result["isError"] == true => "tool_error",
        Ok(ToolCallOutcome::Result(_)) => "ok",
        Ok(ToolCallOutcome::Error { .. }) => "rpc_error",
        Ok(ToolCallOutcome::Changed { .. }) => "changed",
        Err(_) => "upstream_failed",
    };
    // Bounded labels only: pack and server ids would make a series each.
    metrics::counter!("mcp_registry_gateway_calls_total", "outcome" => outcome).increment(1);
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!("mcp_registry_gateway_call_seconds").record(seconds);
    match called {
        Ok(ToolCallOutcome::Result(result)) => Ok(result),
        Ok(ToolCallOutcome::Error { code, message }) => Err(Answer::Rpc(code, message)),
        Ok(ToolCallOutcome::Changed { .. }) => {
            // The registry records the change (approval dropped, a run with
            // the diff, an event) by syncing the server.
            gateway.syncer.spawn_sync(server, Trigger::Manual);
            Err(Answer::Rpc(
                -32602,
                format!(
                    "tool {name:?} changed since approval: the upstream presents another definition; \
                     a sync records the change, approve the tool again to call it"
                ),
            ))
        }
        Err(AttemptFailure::Upstream(err)) => Ok(failed_result(&format!(
            "upstream {}: {}",
            failure_kind(&err),
            err.message
        ))),
        Err(AttemptFailure::Credentials(_)) => Ok(failed_result(
            "upstream credentials unusable: the stored credentials cannot be opened",
        )),
    }
}

/// Why `name` is not offered: the exclusion ResolvePack gives it, if any.
fn not_offered(name: &str, excluded: &[ExcludedTool]) -> String {
    let reason = excluded
        .iter()
        .find(|e| !e.tool_name.is_empty() && format!("{}__{}", e.server_name, e.tool_name) == name)
        .or_else(|| {
            excluded.iter().find(|e| {
                e.tool_name.is_empty() && name.starts_with(&format!("{}__", e.server_name))
            })
        });
    match reason {
        Some(e) => format!(
            "tool {name:?} is not offered by this pack: {}",
            exclusion(e.reason)
        ),
        None => format!("this pack offers no tool named {:?}", clip(name, 200)),
    }
}

/// An exclusion as the error names it (ResolvePack's reasons).
fn exclusion(reason: Exclusion) -> &'static str {
    match reason {
        Exclusion::ServerDeleted => "its server was deleted",
        Exclusion::ServerDisabled => "its server is disabled",
        Exclusion::ServerNeverSynced => "its server was never synced",
        Exclusion::ServerError => "its server's last sync failed",
        Exclusion::ToolsDisabled => "its server's tools are disabled",
        Exclusion::NotAllowed => "it is not in its server's allowed tools",
        Exclusion::AddedSinceRevision => "it was added since the pinned revision",
        Exclusion::ChangedSinceRevision => "it changed since the pinned revision",
        Exclusion::NotApproved => "it is not approved",
        Exclusion::ChangedSinceApproval => "it changed since approval",
    }
}

/// The failure kind an `isError` result names.
fn failure_kind(err: &DiscoveryError) -> &'static str {
    match err.failure {
        _ if err.is_timeout() => "timeout",
        UpstreamFailure::Unreachable => "unreachable",
        UpstreamFailure::AuthFailed => "auth failed",
        UpstreamFailure::ProtocolError => "protocol error",
    }
}

/// A tool result that reports a failure to the model (`isError`).
fn failed_result(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
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
        "tools/call" => "tools/call",
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
    if let Error::RateLimited { retry_after } = err {
        // Whole seconds, rounded up: a client waiting this long has budget.
        let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
