//! MCP discovery client: connects to a server over Streamable HTTP or the
//! legacy HTTP+SSE transport, runs `initialize`, and lists tools, prompts,
//! resources and resource templates, keeping each item's raw JSON (so that
//! definition hashes cover every field the server sent).
//!
//! Written on the guarded reqwest client ([`crate::sync::http`]) rather than
//! on rmcp's client: detection needs the exact HTTP status of the first POST,
//! every read must be size-bounded, and rmcp's typed list results drop fields
//! it does not know, which would hide definition changes from the hashes.
//!
//! Bounds: the whole discovery runs under one deadline; every message is
//! capped; a list stops at a page cap, an item cap, or a repeated cursor.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use url::Url;

use crate::error::UpstreamFailure;
use crate::sync::guard::GuardPolicy;
use crate::sync::http::check_url;
use crate::sync::session::{Connection, Initialize, LegacySse, Streamable};

/// The protocol version the client asks for: the newest it speaks.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// Every protocol version the client speaks, newest first. A server that
/// does not speak the one asked for answers another it supports; the client
/// goes on with that one when it is listed here.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// How long the legacy SSE transport waits for the `endpoint` event.
pub(super) const ENDPOINT_WAIT: Duration = Duration::from_secs(5);

/// Most bytes of an HTTP error's body read to find a JSON-RPC error in it.
const ERROR_BODY_BYTES: usize = 64 * 1024;

/// Bounds of one discovery.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The whole discovery, connection to close.
    pub deadline: Duration,
    /// Largest JSON-RPC message (or event) accepted.
    pub max_message_bytes: usize,
    /// Most items of one kind.
    pub max_items: usize,
    /// Most pages of one list.
    pub max_pages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(30),
            max_message_bytes: 8 * 1024 * 1024,
            max_items: 10_000,
            max_pages: 1_000,
        }
    }
}

/// Which transport to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Streamable HTTP first; legacy SSE when the POST answers 400, 404 or 405.
    Auto,
    StreamableHttp,
    Sse,
}

/// Why a discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DiscoveryError {
    pub failure: UpstreamFailure,
    pub message: String,
}

impl DiscoveryError {
    pub(super) fn unreachable(message: impl Into<String>) -> Self {
        Self {
            failure: UpstreamFailure::Unreachable,
            message: message.into(),
        }
    }

    pub(super) fn protocol(message: impl Into<String>) -> Self {
        Self {
            failure: UpstreamFailure::ProtocolError,
            message: message.into(),
        }
    }

    pub(super) fn auth(message: impl Into<String>) -> Self {
        Self {
            failure: UpstreamFailure::AuthFailed,
            message: message.into(),
        }
    }

    /// The session did not finish within `deadline`.
    pub(super) fn timeout(deadline: Duration) -> Self {
        Self::unreachable(format!(
            "{TIMEOUT}: no complete answer within {} s",
            deadline.as_secs_f64()
        ))
    }

    /// Returns whether the session ran out of time (an unreachable upstream
    /// otherwise refused or failed to connect).
    pub fn is_timeout(&self) -> bool {
        self.failure == UpstreamFailure::Unreachable && self.message.starts_with(TIMEOUT)
    }
}

/// How a session that ran out of time is reported.
const TIMEOUT: &str = "timeout";

/// The outcome of listing one kind of capability.
#[derive(Debug, Clone, PartialEq)]
pub enum Listing {
    /// Every item, in the server's order, and the number of pages read.
    Listed { items: Vec<Value>, pages: u32 },
    /// The server's capabilities do not announce it: not asked.
    NotAnnounced,
    /// Asked, and the server answered -32601 (method not found): none.
    NotSupported,
    /// Asked, and the server answered another JSON-RPC error.
    Failed(String),
}

/// What a discovery found.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// The transport that worked.
    pub wire: Wire,
    pub protocol_version: String,
    /// `serverInfo` as sent.
    pub server_info: Value,
    pub capabilities: serde_json::Map<String, Value>,
    pub instructions: String,
    pub tools: Listing,
    pub prompts: Listing,
    pub resources: Listing,
    pub resource_templates: Listing,
}

/// A JSON-RPC error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

/// Connects to `url` and discovers what the server offers.
pub async fn discover(
    client: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
    wire: Wire,
    limits: &Limits,
    policy: &GuardPolicy,
) -> Result<Discovery, DiscoveryError> {
    within(limits.deadline, async {
        let (mut connection, init) = open(client, url, headers, wire, limits, policy).await?;
        let result = run(&connection, init, limits).await;
        connection.close().await;
        result
    })
    .await
}

/// Runs `work` within `deadline`; after it, a timeout error.
pub async fn within<T, E: From<DiscoveryError>>(
    deadline: Duration,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    tokio::time::timeout(deadline, work)
        .await
        .unwrap_or_else(|_| Err(DiscoveryError::timeout(deadline).into()))
}

/// Opens a session with the server at `url`: the guard's decision, the
/// transport, `initialize` answered with a version this client speaks, then
/// `notifications/initialized`. Returns the session and the `initialize`
/// result.
pub async fn open(
    client: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
    wire: Wire,
    limits: &Limits,
    policy: &GuardPolicy,
) -> Result<(Connection, Value), DiscoveryError> {
    check_url(url, policy).map_err(|err| DiscoveryError::unreachable(err.to_string()))?;
    let (mut connection, init) = connect(client, url, headers, wire, limits).await?;
    let version = negotiated_version(&init)?;
    connection.set_protocol_version(&version);
    connection.notify("notifications/initialized").await?;
    Ok((connection, init))
}

/// Connects and initializes; returns the connection and the `initialize` result.
async fn connect(
    client: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
    wire: Wire,
    limits: &Limits,
) -> Result<(Connection, Value), DiscoveryError> {
    let init_params = json!({
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "mcp-registry", "version": env!("CARGO_PKG_VERSION")},
    });
    if wire != Wire::Sse {
        let mut session = Streamable::new(client, url, headers, limits.max_message_bytes);
        match session.initialize(init_params.clone()).await {
            Ok(result) => return Ok((Connection::Streamable(session), result)),
            // The spec's backwards-compatibility rule: only these statuses
            // mean "not a Streamable HTTP endpoint".
            Err(Initialize::Fallback(status)) if wire == Wire::Auto => {
                tracing::debug!(%status, "streamable http refused; trying the legacy sse transport");
            }
            Err(Initialize::Fallback(status)) => {
                return Err(DiscoveryError::protocol(format!(
                    "POST initialize answered HTTP {status}: not a Streamable HTTP endpoint"
                )));
            }
            Err(Initialize::Failed(err)) => return Err(err),
        }
    }
    let session = LegacySse::open(client, url, headers, limits.max_message_bytes).await?;
    let connection = Connection::Sse(session);
    let init = connection
        .request("initialize", init_params, None)
        .await?
        .map_err(|e| {
            DiscoveryError::protocol(format!("initialize failed: {} ({})", e.message, e.code))
        })?;
    Ok((connection, init))
}

/// The protocol version `initialize` answered, if the client speaks it.
fn negotiated_version(init: &Value) -> Result<String, DiscoveryError> {
    let version = init
        .get("protocolVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| DiscoveryError::protocol("initialize result has no protocolVersion"))?;
    if !PROTOCOL_VERSIONS.contains(&version) {
        return Err(DiscoveryError::protocol(format!(
            "the server answered protocol version {:?}, which this client does not speak ({})",
            version.chars().take(40).collect::<String>(),
            PROTOCOL_VERSIONS.join(", ")
        )));
    }
    Ok(version.to_owned())
}

async fn run(
    connection: &Connection,
    init: Value,
    limits: &Limits,
) -> Result<Discovery, DiscoveryError> {
    let protocol_version = negotiated_version(&init)?;
    let capabilities = init
        .get("capabilities")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| DiscoveryError::protocol("initialize result has no capabilities object"))?;
    let server_info = init
        .get("serverInfo")
        .filter(|v| v.is_object())
        .cloned()
        .ok_or_else(|| DiscoveryError::protocol("initialize result has no serverInfo object"))?;
    let instructions = init
        .get("instructions")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();

    let announced = |key: &str| capabilities.contains_key(key);
    let tools = if announced("tools") {
        list_all(connection, "tools/list", "tools", "name", limits).await?
    } else {
        Listing::NotAnnounced
    };
    let prompts = if announced("prompts") {
        list_all(connection, "prompts/list", "prompts", "name", limits).await?
    } else {
        Listing::NotAnnounced
    };
    let (resources, resource_templates) = if announced("resources") {
        (
            list_all(connection, "resources/list", "resources", "uri", limits).await?,
            list_all(
                connection,
                "resources/templates/list",
                "resourceTemplates",
                "uriTemplate",
                limits,
            )
            .await?,
        )
    } else {
        (Listing::NotAnnounced, Listing::NotAnnounced)
    };
    Ok(Discovery {
        wire: connection.wire(),
        protocol_version,
        server_info,
        capabilities,
        instructions,
        tools,
        prompts,
        resources,
        resource_templates,
    })
}

/// Follows `nextCursor` to the end, bounded by pages, items and cursor repeats.
pub async fn list_all(
    connection: &Connection,
    method: &str,
    field: &str,
    key: &str,
    limits: &Limits,
) -> Result<Listing, DiscoveryError> {
    let mut items: Vec<Value> = Vec::new();
    let mut keys: HashSet<String> = HashSet::new();
    let mut cursors: HashSet<String> = HashSet::new();
    let mut cursor: Option<String> = None;
    for page_number in 1..=limits.max_pages {
        let params = match &cursor {
            Some(cursor) => json!({ "cursor": cursor }),
            None => json!({}),
        };
        let result = match connection.request(method, params, None).await? {
            Ok(result) => result,
            Err(e) if e.code == -32601 => return Ok(Listing::NotSupported),
            Err(e) => {
                return Ok(Listing::Failed(format!(
                    "{method}: {} ({})",
                    e.message, e.code
                )));
            }
        };
        let page = result.get(field).and_then(Value::as_array).ok_or_else(|| {
            DiscoveryError::protocol(format!("{method} answer has no {field:?} array"))
        })?;
        for item in page {
            let name = item.get(key).and_then(Value::as_str).ok_or_else(|| {
                DiscoveryError::protocol(format!("an item of {method} has no {key:?}"))
            })?;
            if !keys.insert(name.to_owned()) {
                return Err(DiscoveryError::protocol(format!(
                    "{method} lists {key} {name:?} twice"
                )));
            }
            if items.len() >= limits.max_items {
                return Err(DiscoveryError::protocol(format!(
                    "{method} lists more than {} items",
                    limits.max_items
                )));
            }
            items.push(item.clone());
        }
        match result.get("nextCursor").and_then(Value::as_str) {
            None | Some("") => {
                return Ok(Listing::Listed {
                    items,
                    pages: u32::try_from(page_number).unwrap_or(u32::MAX),
                });
            }
            Some(next) => {
                if !cursors.insert(next.to_owned()) {
                    return Err(DiscoveryError::protocol(format!(
                        "{method} repeated the cursor {next:?}; stopped"
                    )));
                }
                cursor = Some(next.to_owned());
            }
        }
    }
    Err(DiscoveryError::protocol(format!(
        "{method} has more than {} pages; stopped",
        limits.max_pages
    )))
}

/// Maps a reqwest error (connection, DNS, guard, timeout, redirect) to a failure.
pub(super) fn transport_error(err: reqwest::Error) -> DiscoveryError {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if err.is_decode() || err.is_body() {
        DiscoveryError::protocol(message)
    } else {
        DiscoveryError::unreachable(message)
    }
}

pub(super) fn status_error(
    context: &str,
    status: reqwest::StatusCode,
    headers: &HeaderMap,
) -> DiscoveryError {
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        let challenge = headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                format!(
                    " (WWW-Authenticate: {})",
                    v.chars().take(200).collect::<String>()
                )
            })
            .unwrap_or_default();
        DiscoveryError::auth(format!("{context} answered HTTP {status}{challenge}"))
    } else {
        DiscoveryError::protocol(format!("{context} answered HTTP {status}"))
    }
}

/// Reads a whole body, refusing more than `max` bytes.
pub(super) async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, DiscoveryError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(DiscoveryError::protocol(format!(
            "an answer is larger than {max} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > max {
            return Err(DiscoveryError::protocol(format!(
                "an answer is larger than {max} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Splits a JSON-RPC response into result or error.
pub(super) fn rpc_outcome(message: &Value) -> Result<Result<Value, RpcError>, DiscoveryError> {
    if let Some(result) = message.get("result") {
        return Ok(Ok(result.clone()));
    }
    if let Some(error) = message.get("error") {
        return Ok(Err(RpcError {
            code: error
                .get("code")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .chars()
                .take(500)
                .collect(),
        }));
    }
    Err(DiscoveryError::protocol(
        "a JSON-RPC answer has neither result nor error",
    ))
}

pub(super) fn parse_json(bytes: &[u8]) -> Result<Value, DiscoveryError> {
    serde_json::from_slice(bytes)
        .map_err(|err| DiscoveryError::protocol(format!("an answer is not valid JSON: {err}")))
}

/// A JSON-RPC answer: its result, or its error's code and message.
pub type JsonRpcOutcome = Result<Value, (i64, String)>;

/// Reads one JSON-RPC message as the client does while it waits for the
/// answer to request `id`: `None` when the message is not that answer (a
/// notification, a server request, another id), else its result, or the
/// error's code and message. For the fuzzers (`crate::fuzz_targets`).
pub fn jsonrpc_outcome(bytes: &[u8], id: i64) -> Result<Option<JsonRpcOutcome>, DiscoveryError> {
    let message = parse_json(bytes)?;
    if !answers(&message, id) {
        return Ok(None);
    }
    Ok(Some(
        rpc_outcome(&message)?.map_err(|error| (error.code, error.message)),
    ))
}

/// Whether `message` answers request `id`.
pub(super) fn answers(message: &Value, id: i64) -> bool {
    message.get("id").and_then(Value::as_i64) == Some(id) && message.get("method").is_none()
}

/// The client's answer to a request the server sent it (a JSON-RPC message
/// with both `method` and `id`): `ping` is answered, anything else refused
/// with "method not found", since the client declares no capability. `None`
/// for responses and notifications.
pub(super) fn reply_to_server_request(message: &Value) -> Option<Value> {
    let method = message.get("method")?.as_str()?;
    let id = message.get("id")?.clone();
    Some(if method == "ping" {
        json!({"jsonrpc": "2.0", "id": id, "result": {}})
    } else {
        json!({"jsonrpc": "2.0", "id": id, "error": {
            "code": -32601,
            "message": format!("the mcp-registry client does not serve {}", method.chars().take(100).collect::<String>()),
        }})
    })
}

/// The JSON-RPC error in an HTTP error's body, if it holds one.
pub(super) async fn rpc_error_body(response: reqwest::Response) -> Option<RpcError> {
    let body = read_capped(response, ERROR_BODY_BYTES).await.ok()?;
    let message: Value = serde_json::from_slice(&body).ok()?;
    message.get("error")?;
    rpc_outcome(&message).ok()?.err()
}

/// Adds the upstream's own JSON-RPC error to an HTTP error.
pub(super) fn with_rpc_error(mut error: DiscoveryError, rpc: &RpcError) -> DiscoveryError {
    error.message = format!("{}: {} ({})", error.message, rpc.message, rpc.code);
    error
}

/// The failure an HTTP error answer stands for, with the JSON-RPC error its
/// body holds, if any.
pub(super) async fn http_error(context: &str, response: reqwest::Response) -> DiscoveryError {
    let status = response.status();
    let headers = response.headers().clone();
    let error = status_error(context, status, &headers);
    match rpc_error_body(response).await {
        Some(rpc) => with_rpc_error(error, &rpc),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_ping_is_answered_with_an_empty_result() {
        let reply =
            reply_to_server_request(&json!({"jsonrpc": "2.0", "id": "p1", "method": "ping"}));
        assert_eq!(
            reply,
            Some(json!({"jsonrpc": "2.0", "id": "p1", "result": {}}))
        );
    }

    #[test]
    fn other_server_requests_are_refused_as_unknown_methods() {
        let request = json!({"jsonrpc": "2.0", "id": 7, "method": "sampling/createMessage"});
        let reply = reply_to_server_request(&request).unwrap_or_default();
        assert_eq!(reply["id"], 7);
        assert_eq!(reply["error"]["code"], -32601);
    }

    #[test]
    fn responses_and_notifications_get_no_reply() {
        let notification = json!({"jsonrpc": "2.0", "method": "notifications/progress"});
        assert_eq!(reply_to_server_request(&notification), None);
        assert_eq!(
            reply_to_server_request(&json!({"jsonrpc": "2.0", "id": 1, "result": {}})),
            None
        );
    }

    #[test]
    fn the_newest_protocol_version_is_asked_for_first() {
        assert_eq!(PROTOCOL_VERSIONS.first(), Some(&PROTOCOL_VERSION));
    }
}
