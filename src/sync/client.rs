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

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

use crate::error::UpstreamFailure;
use crate::registry::canonical::definition_hash;
use crate::sync::guard::GuardPolicy;
use crate::sync::http::check_url;
use crate::sync::sse::{Event, Parser};

/// The protocol version the client asks for: the newest it speaks.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// Every protocol version the client speaks, newest first. A server that
/// does not speak the one asked for answers another it supports; the client
/// goes on with that one when it is listed here.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// How long the legacy SSE transport waits for the `endpoint` event.
const ENDPOINT_WAIT: Duration = Duration::from_secs(5);

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
    fn unreachable(message: impl Into<String>) -> Self {
        Self {
            failure: UpstreamFailure::Unreachable,
            message: message.into(),
        }
    }

    fn protocol(message: impl Into<String>) -> Self {
        Self {
            failure: UpstreamFailure::ProtocolError,
            message: message.into(),
        }
    }

    fn auth(message: impl Into<String>) -> Self {
        Self {
            failure: UpstreamFailure::AuthFailed,
            message: message.into(),
        }
    }

    /// The session did not finish within `deadline`.
    fn timeout(deadline: Duration) -> Self {
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
struct RpcError {
    code: i64,
    message: String,
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
    in_session(
        client,
        url,
        headers,
        wire,
        limits,
        policy,
        |mut connection, init| async move {
            let result = run(&mut connection, init, limits).await;
            (connection, result)
        },
    )
    .await
}

/// Runs `work` on a fresh session with the server at `url` (the guard's
/// decision first; `work` gets the connection and the `initialize` result
/// and hands the connection back to be closed), all within the deadline.
async fn in_session<T, Fut>(
    client: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
    wire: Wire,
    limits: &Limits,
    policy: &GuardPolicy,
    work: impl FnOnce(Connection, Value) -> Fut,
) -> Result<T, DiscoveryError>
where
    Fut: std::future::Future<Output = (Connection, Result<T, DiscoveryError>)>,
{
    check_url(url, policy).map_err(|err| DiscoveryError::unreachable(err.to_string()))?;
    let session = async {
        let (connection, init) = connect(client, url, headers, wire, limits).await?;
        let (mut connection, result) = work(connection, init).await;
        connection.close().await;
        result
    };
    tokio::time::timeout(limits.deadline, session)
        .await
        .unwrap_or_else(|_| Err(DiscoveryError::timeout(limits.deadline)))
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
        let mut session = Streamable {
            client: client.clone(),
            url: url.clone(),
            headers: headers.clone(),
            session_id: None,
            protocol_version: None,
            next_id: 1,
            max_bytes: limits.max_message_bytes,
        };
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
    let mut session = LegacySse::open(client, url, headers, limits.max_message_bytes).await?;
    let result = session
        .request("initialize", init_params)
        .await?
        .map_err(|e| {
            DiscoveryError::protocol(format!("initialize failed: {} ({})", e.message, e.code))
        })?;
    Ok((Connection::Sse(session), result))
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

/// What a `tools/call` made for the pack gateway came to.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCallOutcome {
    /// The tool's result, exactly as the upstream sent it.
    Result(Value),
    /// The upstream answered the call with a JSON-RPC error.
    Error { code: i64, message: String },
    /// The upstream lists the tool with another definition than the
    /// approved one: its hash now (empty when it no longer lists the tool).
    Changed { hash: String },
}

/// Calls tool `name` with `arguments` on the server at `url`, on a session
/// of its own, under the same guard and limits as a discovery. With
/// `approved`, the tool the upstream lists now must hash to it first.
#[allow(clippy::too_many_arguments)]
pub async fn call_tool(
    client: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
    wire: Wire,
    limits: &Limits,
    policy: &GuardPolicy,
    name: &str,
    arguments: Value,
    approved: Option<&str>,
) -> Result<ToolCallOutcome, DiscoveryError> {
    in_session(
        client,
        url,
        headers,
        wire,
        limits,
        policy,
        |mut connection, init| async move {
            let result = call_on(&mut connection, &init, name, arguments, approved, limits).await;
            (connection, result)
        },
    )
    .await
}

async fn call_on(
    connection: &mut Connection,
    init: &Value,
    name: &str,
    arguments: Value,
    approved: Option<&str>,
    limits: &Limits,
) -> Result<ToolCallOutcome, DiscoveryError> {
    let version = negotiated_version(init)?;
    connection.set_protocol_version(&version);
    connection.notify("notifications/initialized").await?;
    if let Some(approved) = approved {
        let listed = match list_all(connection, "tools/list", "tools", "name", limits).await? {
            Listing::Listed { items, .. } => items.into_iter().find(|t| t["name"] == name),
            _ => None,
        };
        let hash = listed.as_ref().map(definition_hash).unwrap_or_default();
        if hash != approved {
            return Ok(ToolCallOutcome::Changed { hash });
        }
    }
    let params = json!({"name": name, "arguments": arguments});
    Ok(match connection.request("tools/call", params).await? {
        Ok(result) => ToolCallOutcome::Result(result),
        Err(error) => ToolCallOutcome::Error {
            code: error.code,
            message: error.message,
        },
    })
}

async fn run(
    connection: &mut Connection,
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
    connection.set_protocol_version(&protocol_version);
    connection.notify("notifications/initialized").await?;

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
async fn list_all(
    connection: &mut Connection,
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
        let result = match connection.request(method, params).await? {
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

enum Connection {
    Streamable(Streamable),
    Sse(LegacySse),
}

impl Connection {
    fn wire(&self) -> Wire {
        match self {
            Self::Streamable(_) => Wire::StreamableHttp,
            Self::Sse(_) => Wire::Sse,
        }
    }

    fn set_protocol_version(&mut self, version: &str) {
        if let Self::Streamable(s) = self {
            s.protocol_version = HeaderValue::from_str(version).ok();
        }
    }

    async fn request(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<Result<Value, RpcError>, DiscoveryError> {
        match self {
            Self::Streamable(s) => s.request(method, params).await,
            Self::Sse(s) => s.request(method, params).await,
        }
    }

    async fn notify(&mut self, method: &str) -> Result<(), DiscoveryError> {
        let body = json!({"jsonrpc": "2.0", "method": method});
        match self {
            Self::Streamable(s) => s.post(&body).await.map(|_| ()),
            Self::Sse(s) => s.post(&body).await,
        }
    }

    async fn close(&mut self) {
        match self {
            Self::Streamable(s) => s.close().await,
            Self::Sse(s) => s.close(),
        }
    }
}

/// Maps a reqwest error (connection, DNS, guard, timeout, redirect) to a failure.
fn transport_error(err: reqwest::Error) -> DiscoveryError {
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

fn status_error(context: &str, status: reqwest::StatusCode, headers: &HeaderMap) -> DiscoveryError {
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
async fn read_capped(
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
fn rpc_outcome(message: &Value) -> Result<Result<Value, RpcError>, DiscoveryError> {
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

fn parse_json(bytes: &[u8]) -> Result<Value, DiscoveryError> {
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
fn answers(message: &Value, id: i64) -> bool {
    message.get("id").and_then(Value::as_i64) == Some(id) && message.get("method").is_none()
}

/// The client's answer to a request the server sent it (a JSON-RPC message
/// with both `method` and `id`): `ping` is answered, anything else refused
/// with "method not found", since the client declares no capability. `None`
/// for responses and notifications.
fn reply_to_server_request(message: &Value) -> Option<Value> {
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
async fn rpc_error_body(response: reqwest::Response) -> Option<RpcError> {
    let body = read_capped(response, ERROR_BODY_BYTES).await.ok()?;
    let message: Value = serde_json::from_slice(&body).ok()?;
    message.get("error")?;
    rpc_outcome(&message).ok()?.err()
}

/// Adds the upstream's own JSON-RPC error to an HTTP error.
fn with_rpc_error(mut error: DiscoveryError, rpc: &RpcError) -> DiscoveryError {
    error.message = format!("{}: {} ({})", error.message, rpc.message, rpc.code);
    error
}

/// The failure an HTTP error answer stands for, with the JSON-RPC error its
/// body holds, if any.
async fn http_error(context: &str, response: reqwest::Response) -> DiscoveryError {
    let status = response.status();
    let headers = response.headers().clone();
    let error = status_error(context, status, &headers);
    match rpc_error_body(response).await {
        Some(rpc) => with_rpc_error(error, &rpc),
        None => error,
    }
}

/// How the first POST of a Streamable HTTP session went.
enum Initialize {
    /// 400, 404 or 405: the endpoint is not Streamable HTTP.
    Fallback(reqwest::StatusCode),
    Failed(DiscoveryError),
}

/// A Streamable HTTP session (spec 2025-03-26 and later).
struct Streamable {
    client: reqwest::Client,
    url: Url,
    headers: HeaderMap,
    session_id: Option<HeaderValue>,
    protocol_version: Option<HeaderValue>,
    next_id: i64,
    max_bytes: usize,
}

impl Streamable {
    async fn initialize(&mut self, params: Value) -> Result<Value, Initialize> {
        let id = self.take_id();
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": params});
        let response = self.send(&body).await.map_err(Initialize::Failed)?;
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            let error = status_error("POST initialize", status, &headers);
            return Err(match (status.as_u16(), rpc_error_body(response).await) {
                // A JSON-RPC error body is a Streamable HTTP endpoint
                // refusing (say, "Server already initialized"), not a sign
                // of another transport; 405 still means "POST not here".
                (405, _) => Initialize::Fallback(status),
                (_, Some(rpc)) => Initialize::Failed(with_rpc_error(error, &rpc)),
                (400 | 404, None) => Initialize::Fallback(status),
                (_, None) => Initialize::Failed(error),
            });
        }
        self.session_id = response.headers().get("mcp-session-id").cloned();
        let answer = self
            .answer(response, id)
            .await
            .map_err(Initialize::Failed)?;
        match rpc_outcome(&answer).map_err(Initialize::Failed)? {
            Ok(result) => Ok(result),
            Err(e) => Err(Initialize::Failed(DiscoveryError::protocol(format!(
                "initialize failed: {} ({})",
                e.message, e.code
            )))),
        }
    }

    fn take_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    async fn send(&self, body: &Value) -> Result<reqwest::Response, DiscoveryError> {
        let mut request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(id) = &self.session_id {
            request = request.header("mcp-session-id", id.clone());
        }
        if let Some(version) = &self.protocol_version {
            request = request.header("mcp-protocol-version", version.clone());
        }
        request.send().await.map_err(transport_error)
    }

    /// POSTs a message that expects no answer (a notification).
    async fn post(&self, body: &Value) -> Result<reqwest::Response, DiscoveryError> {
        let response = self.send(body).await?;
        if !response.status().is_success() {
            return Err(http_error("a notification", response).await);
        }
        Ok(response)
    }

    async fn request(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<Result<Value, RpcError>, DiscoveryError> {
        let id = self.take_id();
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self.send(&body).await?;
        if !response.status().is_success() {
            return Err(http_error(method, response).await);
        }
        let answer = self.answer(response, id).await?;
        rpc_outcome(&answer)
    }

    /// Reads the answer to request `id`: a JSON body, or the first matching
    /// message of an event stream (other messages are skipped).
    async fn answer(
        &self,
        mut response: reqwest::Response,
        id: i64,
    ) -> Result<Value, DiscoveryError> {
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.starts_with("application/json") {
            let message = parse_json(&read_capped(response, self.max_bytes).await?)?;
            return if answers(&message, id) {
                Ok(message)
            } else {
                Err(DiscoveryError::protocol(
                    "a JSON answer does not match its request id",
                ))
            };
        }
        if !content_type.starts_with("text/event-stream") {
            return Err(DiscoveryError::protocol(format!(
                "an answer has content type {content_type:?}, neither JSON nor an event stream"
            )));
        }
        let mut parser = Parser::new(self.max_bytes);
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            let events = parser
                .feed(&chunk)
                .map_err(|err| DiscoveryError::protocol(err.to_string()))?;
            for Event { event, data } in events {
                if event != "message" {
                    continue;
                }
                let message = parse_json(data.as_bytes())?;
                if answers(&message, id) {
                    return Ok(message);
                }
                if let Some(reply) = reply_to_server_request(&message) {
                    self.post(&reply).await?;
                }
            }
        }
        Err(DiscoveryError::protocol(
            "the event stream ended without an answer",
        ))
    }

    /// Ends the session (DELETE with its id); failures do not matter here.
    async fn close(&mut self) {
        if let Some(id) = self.session_id.take() {
            let _ = self
                .client
                .delete(self.url.clone())
                .headers(self.headers.clone())
                .header("mcp-session-id", id)
                .send()
                .await;
        }
    }
}

/// A legacy HTTP+SSE session (spec 2024-11-05): GET opens the stream, its
/// `endpoint` event says where to POST, answers arrive as `message` events.
struct LegacySse {
    client: reqwest::Client,
    endpoint: Url,
    headers: HeaderMap,
    messages: mpsc::Receiver<Result<Value, DiscoveryError>>,
    reader: JoinHandle<()>,
    next_id: i64,
}

impl Drop for LegacySse {
    fn drop(&mut self) {
        // The reader owns the GET stream; it must not outlive the session.
        self.reader.abort();
    }
}

impl LegacySse {
    async fn open(
        client: &reqwest::Client,
        url: &Url,
        headers: &HeaderMap,
        max_bytes: usize,
    ) -> Result<Self, DiscoveryError> {
        let response = client
            .get(url.clone())
            .headers(headers.clone())
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(transport_error)?;
        if !response.status().is_success() {
            return Err(status_error(
                "GET (legacy SSE)",
                response.status(),
                response.headers(),
            ));
        }
        let (endpoint_tx, endpoint_rx) =
            tokio::sync::oneshot::channel::<Result<String, DiscoveryError>>();
        let (tx, messages) = mpsc::channel(64);
        let reader = tokio::spawn(read_stream(response, max_bytes, endpoint_tx, tx));
        let endpoint = match tokio::time::timeout(ENDPOINT_WAIT, endpoint_rx).await {
            Ok(Ok(Ok(endpoint))) => endpoint,
            Ok(Ok(Err(err))) => {
                reader.abort();
                return Err(err);
            }
            Ok(Err(_)) => {
                reader.abort();
                return Err(DiscoveryError::protocol(
                    "the SSE stream ended before its endpoint event",
                ));
            }
            Err(_) => {
                reader.abort();
                return Err(DiscoveryError::protocol(format!(
                    "GET (legacy SSE) sent no endpoint event within {} s: the URL may be a \
                     Streamable HTTP endpoint (try TRANSPORT_STREAMABLE_HTTP)",
                    ENDPOINT_WAIT.as_secs()
                )));
            }
        };
        let endpoint = url.join(&endpoint).map_err(|_| {
            DiscoveryError::protocol(format!("the endpoint event {endpoint:?} is not a URL"))
        })?;
        // Posting elsewhere would bypass every check made on `url`.
        if endpoint.origin() != url.origin() {
            reader.abort();
            return Err(DiscoveryError::protocol(format!(
                "the endpoint event points to another origin ({}); refused",
                endpoint.origin().ascii_serialization()
            )));
        }
        Ok(Self {
            client: client.clone(),
            endpoint,
            headers: headers.clone(),
            messages,
            reader,
            next_id: 1,
        })
    }

    async fn post(&self, body: &Value) -> Result<(), DiscoveryError> {
        let response = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(transport_error)?;
        if !response.status().is_success() {
            return Err(http_error("POST (legacy SSE)", response).await);
        }
        Ok(())
    }

    async fn request(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<Result<Value, RpcError>, DiscoveryError> {
        let id = self.next_id;
        self.next_id += 1;
        self.post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        while let Some(message) = self.messages.recv().await {
            let message = message?;
            if answers(&message, id) {
                return rpc_outcome(&message);
            }
            if let Some(reply) = reply_to_server_request(&message) {
                self.post(&reply).await?;
            }
        }
        Err(DiscoveryError::protocol(
            "the SSE stream ended without an answer",
        ))
    }

    fn close(&mut self) {
        self.reader.abort();
    }
}

/// Reads the legacy SSE stream: the first `endpoint` event goes to
/// `endpoint`, every `message` event (parsed) to `messages`.
async fn read_stream(
    mut response: reqwest::Response,
    max_bytes: usize,
    endpoint: tokio::sync::oneshot::Sender<Result<String, DiscoveryError>>,
    messages: mpsc::Sender<Result<Value, DiscoveryError>>,
) {
    let mut endpoint = Some(endpoint);
    let mut parser = Parser::new(max_bytes);
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return,
            Err(err) => {
                let _ = messages.send(Err(transport_error(err))).await;
                return;
            }
        };
        let events = match parser.feed(&chunk) {
            Ok(events) => events,
            Err(err) => {
                let err = DiscoveryError::protocol(err.to_string());
                if let Some(tx) = endpoint.take() {
                    let _ = tx.send(Err(err));
                } else {
                    let _ = messages.send(Err(err)).await;
                }
                return;
            }
        };
        for Event { event, data } in events {
            if event == "endpoint" {
                if let Some(tx) = endpoint.take() {
                    let _ = tx.send(Ok(data));
                }
            } else if event == "message"
                && messages.send(parse_json(data.as_bytes())).await.is_err()
            {
                // The session is gone: stop reading.
                return;
            }
        }
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
