//! One fake MCP server for every suite: a builder for what it offers (tools,
//! prompts, resources, pages), how it misbehaves (delays, hangs, status
//! codes, redirects, invalid or oversized answers), what it demands (a
//! bearer token or an API key header) and how it answers (JSON or SSE
//! replies over Streamable HTTP), plus OAuth2 token endpoints. It listens on
//! 127.0.0.1:0 only and logs every request it receives, for tests to assert
//! on what a sync sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

/// Returns a tool as `tools/list` lists it (an object input schema).
pub fn tool(name: &str, description: &str) -> Value {
    json!({"name": name, "description": description, "inputSchema": {"type": "object"}})
}

/// Returns a loopback port nothing listens on (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts a TCP listener on 127.0.0.1 that reads the first bytes of every
/// connection and closes it without answering (no HTTP at all: an upstream
/// that dies in the middle of a request); returns its port.
pub async fn closing_listener() -> u16 {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await;
            drop(stream);
        }
    });
    port
}

/// How the server answers a JSON-RPC request it accepts.
#[derive(Clone, Copy, Debug, Default)]
pub enum Reply {
    /// `application/json`, one JSON-RPC response.
    #[default]
    Json,
    /// `text/event-stream`, one `message` event holding the response.
    Sse,
    /// `text/event-stream` that opens with a priming event (an `id` and an
    /// empty `data`, as 2025-11-25 servers send), then the response.
    SsePrimed,
    /// `text/event-stream` that first sends the client a `ping` request and
    /// answers only once the client has answered it (within 10 s; else the
    /// stream ends without an answer).
    SsePing,
    /// `text/event-stream` that, for a request with a progress token, first
    /// sends two `notifications/progress` (1 of 2, 2 of 2), then the response.
    SseProgress,
    /// `text/event-stream` that sends `notifications/tools/list_changed`,
    /// then the response.
    SseListChanged,
    /// `application/json` that does not parse.
    InvalidJson,
    /// `application/json` of this many spaces, streamed lazily.
    Oversized(usize),
}

/// A hook answering one JSON-RPC method: takes the request, returns `result`.
type Handler = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// An OAuth2 token endpoint.
#[derive(Clone)]
struct TokenEndpoint {
    path: String,
    /// The token handed out; `None` refuses every client (401 `invalid_client`).
    token: Option<String>,
    /// The only client (`client_id`, `client_secret`) served; `None` serves any.
    client: Option<(String, String)>,
}

/// The fake MCP server to start; see [`McpServer::start`].
#[derive(Clone)]
pub struct McpServer {
    name: String,
    tools: Vec<Value>,
    prompts: Option<Vec<Value>>,
    resources: Option<Vec<Value>>,
    page_size: Option<usize>,
    handlers: Vec<(String, Handler)>,
    delays: Vec<(String, Duration)>,
    hang: bool,
    statuses: Vec<(Method, StatusCode)>,
    challenge: String,
    auth: Option<(String, String)>,
    reply: Reply,
    redirect: Option<(String, String)>,
    deny_suffix: Option<String>,
    tokens: Vec<TokenEndpoint>,
    rpc_error: Option<(StatusCode, i64, String)>,
    protocol_version: String,
    silent_sse: bool,
    sessions: bool,
    oversized: Option<(String, usize)>,
    announcing: bool,
}

impl Default for McpServer {
    fn default() -> Self {
        Self::new()
    }
}

impl McpServer {
    /// Returns a server that answers `initialize` and an empty tool list on any path.
    pub fn new() -> Self {
        Self {
            name: "fixture".into(),
            tools: Vec::new(),
            prompts: None,
            resources: None,
            page_size: None,
            handlers: Vec::new(),
            delays: Vec::new(),
            hang: false,
            statuses: Vec::new(),
            challenge: "Bearer".into(),
            auth: None,
            reply: Reply::Json,
            redirect: None,
            deny_suffix: None,
            tokens: Vec::new(),
            rpc_error: None,
            protocol_version: "2025-06-18".into(),
            silent_sse: false,
            sessions: false,
            oversized: None,
            announcing: false,
        }
    }

    /// Answers every POST with HTTP `status` and a JSON-RPC error body.
    pub fn rpc_error(mut self, status: StatusCode, code: i64, message: &str) -> Self {
        self.rpc_error = Some((status, code, message.into()));
        self
    }

    /// Answers `initialize` with this protocol version (default 2025-06-18).
    pub fn protocol_version(mut self, version: &str) -> Self {
        self.protocol_version = version.into();
        self
    }

    /// Answers JSON-RPC `method` with `bytes` of JSON (spaces), streamed
    /// lazily so that the test does not hold them.
    pub fn oversized(mut self, method: &str, bytes: usize) -> Self {
        self.oversized = Some((method.to_owned(), bytes));
        self
    }

    /// Issues an `Mcp-Session-Id` on `initialize` and answers 404 to a
    /// request without a live one (see [`Running::expire_sessions`]).
    pub fn sessions(mut self) -> Self {
        self.sessions = true;
        self
    }

    /// Answers GET (Streamable HTTP's stream for what is not an answer) with
    /// an event stream that carries each [`Running::announce`]; without this,
    /// GET is 405 (no such stream), as many servers answer.
    pub fn announcing(mut self) -> Self {
        self.announcing = true;
        self
    }

    /// Answers GET with an event stream that never sends an event (a legacy
    /// SSE client waits in vain for its `endpoint`).
    pub fn silent_sse(mut self) -> Self {
        self.silent_sse = true;
        self
    }

    /// Sets the name in `serverInfo`.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// Adds a tool with an object input schema.
    pub fn tool(mut self, name: &str, description: &str) -> Self {
        self.tools.push(tool(name, description));
        self
    }

    /// Adds tools as `tools/list` lists them.
    pub fn tools(mut self, tools: impl IntoIterator<Item = Value>) -> Self {
        self.tools.extend(tools);
        self
    }

    /// Adds a prompt (and the `prompts` capability).
    pub fn prompt(mut self, name: &str, description: &str) -> Self {
        self.prompts
            .get_or_insert_with(Vec::new)
            .push(json!({"name": name, "description": description}));
        self
    }

    /// Adds a resource (and the `resources` capability, with no templates).
    pub fn resource(mut self, uri: &str, name: &str) -> Self {
        self.resources
            .get_or_insert_with(Vec::new)
            .push(json!({"uri": uri, "name": name}));
        self
    }

    /// Lists `size` items per page, with an opaque `nextCursor` between pages.
    pub fn page_size(mut self, size: usize) -> Self {
        self.page_size = Some(size.max(1));
        self
    }

    /// Answers JSON-RPC `method` with what `handler` returns as its `result`.
    pub fn on(
        mut self,
        method: &str,
        handler: impl Fn(&Value) -> Value + Send + Sync + 'static,
    ) -> Self {
        self.handlers.push((method.into(), Arc::new(handler)));
        self
    }

    /// Waits `delay` before answering JSON-RPC `method` (logged on arrival).
    pub fn delay(mut self, method: &str, delay: Duration) -> Self {
        self.delays.push((method.into(), delay));
        self
    }

    /// Never answers: every request waits an hour.
    pub fn hang(mut self) -> Self {
        self.hang = true;
        self
    }

    /// Answers every request of HTTP `method` with `status` (401 carries the challenge).
    pub fn status(mut self, method: Method, status: StatusCode) -> Self {
        self.statuses.push((method, status));
        self
    }

    /// Sets the `WWW-Authenticate` value of 401 answers (default `Bearer`).
    pub fn challenge(mut self, value: &str) -> Self {
        self.challenge = value.into();
        self
    }

    /// Demands `Authorization: Bearer <token>` on MCP requests, else 401.
    pub fn bearer(self, token: &str) -> Self {
        self.require_header("authorization", &format!("Bearer {token}"))
    }

    /// Demands header `name` with `value` on MCP requests, else 401.
    pub fn require_header(mut self, name: &str, value: &str) -> Self {
        self.auth = Some((name.into(), value.into()));
        self
    }

    /// Sets how accepted JSON-RPC requests are answered.
    pub fn reply(mut self, reply: Reply) -> Self {
        self.reply = reply;
        self
    }

    /// Answers paths starting with `prefix` with 307 to `location`
    /// (changed later with [`Running::redirect_to`]).
    pub fn redirect(mut self, prefix: &str, location: &str) -> Self {
        self.redirect = Some((prefix.into(), location.into()));
        self
    }

    /// Answers paths ending with `suffix` with 401 and the challenge.
    pub fn deny_paths_ending(mut self, suffix: &str) -> Self {
        self.deny_suffix = Some(suffix.into());
        self
    }

    /// Serves an OAuth2 token endpoint at `path` handing out `token` to any client.
    pub fn token_endpoint(mut self, path: &str, token: &str) -> Self {
        self.tokens.push(TokenEndpoint {
            path: path.into(),
            token: Some(token.into()),
            client: None,
        });
        self
    }

    /// Serves an OAuth2 token endpoint at `path` handing out `token` only
    /// for the `client_credentials` grant of one client.
    pub fn token_endpoint_for(mut self, path: &str, token: &str, id: &str, secret: &str) -> Self {
        self.tokens.push(TokenEndpoint {
            path: path.into(),
            token: Some(token.into()),
            client: Some((id.into(), secret.into())),
        });
        self
    }

    /// Serves an OAuth2 token endpoint at `path` that refuses every client.
    pub fn refusing_token_endpoint(mut self, path: &str) -> Self {
        self.tokens.push(TokenEndpoint {
            path: path.into(),
            token: None,
            client: None,
        });
        self
    }

    /// Starts serving on 127.0.0.1:0 and returns the running server.
    pub async fn start(self) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake MCP server");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Shared {
            tools: Mutex::new(self.tools.clone()),
            auth: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            location: Mutex::new(
                self.redirect
                    .as_ref()
                    .map(|(_, l)| l.clone())
                    .unwrap_or_default(),
            ),
            issued: AtomicUsize::new(0),
            pings: AtomicUsize::new(0),
            sessions: Mutex::new(Vec::new()),
            announcements: tokio::sync::broadcast::channel(64).0,
            config: self,
        });
        let state = shared.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
                let state = state.clone();
                async move { state.answer(method, uri, headers, body).await }
            },
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Running {
            port,
            shared,
            task: task.abort_handle(),
        }
    }
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Request {
    /// The HTTP method (`POST`, `GET`, ...).
    pub method: String,
    pub path: String,
    /// Every header, lower-case name and value (lossy UTF-8).
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The JSON-RPC method, when the body is a JSON-RPC message.
    pub rpc: Option<String>,
}

impl Request {
    /// Returns the values of header `name` (any case).
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A started server; it serves until [`Running::stop`] or the end of the test.
pub struct Running {
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::AbortHandle,
}

impl Running {
    /// Returns `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Returns every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Returns the paths of the requests carrying JSON-RPC `method`, in order.
    pub fn paths_of(&self, method: &str) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.rpc.as_deref() == Some(method))
            .map(|r| r.path)
            .collect()
    }

    /// Returns how many requests of HTTP `method` arrived.
    pub fn count(&self, method: Method) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method.as_str())
            .count()
    }

    /// Returns how many tokens the token endpoints handed out.
    pub fn tokens_issued(&self) -> usize {
        self.shared.issued.load(Ordering::SeqCst)
    }

    /// Replaces the tools the server lists from now on.
    pub fn set_tools(&self, tools: impl IntoIterator<Item = Value>) {
        if let Ok(mut current) = self.shared.tools.lock() {
            *current = tools.into_iter().collect();
        }
    }

    /// Demands header `name` with `value` on MCP requests from now on,
    /// instead of what the server was started with.
    pub fn require_header(&self, name: &str, value: &str) {
        if let Ok(mut current) = self.shared.auth.lock() {
            *current = Some((name.into(), value.into()));
        }
    }

    /// Changes where the redirecting paths send their clients.
    pub fn redirect_to(&self, location: String) {
        if let Ok(mut current) = self.shared.location.lock() {
            *current = location;
        }
    }

    /// Sends notification `method` on every open GET stream (see
    /// [`McpServer::announcing`]); returns how many streams it reached.
    pub fn announce(&self, method: &str) -> usize {
        let note = json!({"jsonrpc": "2.0", "method": method});
        self.shared
            .announcements
            .send(format!("event: message\ndata: {note}\n\n"))
            .unwrap_or(0)
    }

    /// Returns how many GET streams are open now (see [`McpServer::announcing`]).
    pub fn listeners(&self) -> usize {
        self.shared.announcements.receiver_count()
    }

    /// Forgets every session issued so far: their next request gets 404.
    pub fn expire_sessions(&self) {
        if let Ok(mut sessions) = self.shared.sessions.lock() {
            sessions.clear();
        }
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// What the request handler shares with the test.
struct Shared {
    config: McpServer,
    tools: Mutex<Vec<Value>>,
    /// Replaces the configured required header from now on (see
    /// [`Running::require_header`]).
    auth: Mutex<Option<(String, String)>>,
    log: Mutex<Vec<Request>>,
    location: Mutex<String>,
    issued: AtomicUsize,
    /// Pings sent so far (each gets its own id).
    pings: AtomicUsize,
    /// The session ids issued and not expired (with `sessions`).
    sessions: Mutex<Vec<String>>,
    /// What [`Running::announce`] sends on the open GET streams.
    announcements: tokio::sync::broadcast::Sender<String>,
}

impl Shared {
    /// Logs the request, then answers it.
    async fn answer(
        self: Arc<Self>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: String,
    ) -> Response {
        let path = uri.path().to_owned();
        let request: Value = serde_json::from_str(&body).unwrap_or_default();
        let rpc = request["method"].as_str().map(str::to_owned);
        if let Ok(mut log) = self.log.lock() {
            log.push(Request {
                method: method.to_string(),
                path: path.clone(),
                headers: headers
                    .iter()
                    .map(|(n, v)| {
                        let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                        (n.as_str().to_owned(), value)
                    })
                    .collect(),
                body: body.clone(),
                rpc: rpc.clone(),
            });
        }
        let config = &self.config;
        if config.hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if let Some((prefix, _)) = &config.redirect
            && path.starts_with(prefix.as_str())
        {
            let location = self.location.lock().map(|l| l.clone()).unwrap_or_default();
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
        if let Some((_, status)) = config.statuses.iter().find(|(m, _)| *m == method) {
            return self.status(*status);
        }
        if method == Method::GET && config.silent_sse {
            let never = tokio_stream::pending::<Result<Bytes, std::io::Error>>();
            return (
                [(header::CONTENT_TYPE, "text/event-stream")],
                Body::from_stream(never),
            )
                .into_response();
        }
        if let (Some((status, code, message)), true) = (&config.rpc_error, method == Method::POST)
        {
            let error = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
            let mut response = json_body(&error.to_string());
            *response.status_mut() = *status;
            return response;
        }
        if method == Method::GET && config.announcing {
            let mut announcements = self.announcements.subscribe();
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
            tokio::spawn(async move {
                loop {
                    match announcements.recv().await {
                        Ok(event) => {
                            if tx.send(Ok(Bytes::from(event))).await.is_err() {
                                return;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    }
                }
            });
            let events = tokio_stream::wrappers::ReceiverStream::new(rx);
            return (
                [(header::CONTENT_TYPE, "text/event-stream")],
                Body::from_stream(events),
            )
                .into_response();
        }
        if method != Method::POST {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
        if let Some(endpoint) = config.tokens.iter().find(|t| t.path == path) {
            return self.token(endpoint, &body);
        }
        if let Some(suffix) = &config.deny_suffix
            && path.ends_with(suffix.as_str())
        {
            return self.status(StatusCode::UNAUTHORIZED);
        }
        let auth = self
            .auth
            .lock()
            .ok()
            .and_then(|a| a.clone())
            .or_else(|| config.auth.clone());
        if let Some((name, value)) = &auth
            && headers.get(name.as_str()).and_then(|v| v.to_str().ok()) != Some(value.as_str())
        {
            return self.status(StatusCode::UNAUTHORIZED);
        }
        if config.sessions && rpc.as_deref() != Some("initialize") {
            let id = headers.get("mcp-session-id").and_then(|v| v.to_str().ok());
            let known = self.sessions.lock().map(|s| s.iter().any(|k| Some(k.as_str()) == id));
            if !known.unwrap_or(false) {
                return StatusCode::NOT_FOUND.into_response();
            }
        }
        if let Some(method) = &rpc
            && let Some((_, delay)) = config.delays.iter().find(|(m, _)| m == method)
        {
            tokio::time::sleep(*delay).await;
        }
        if let Some((method, bytes)) = &config.oversized
            && rpc.as_deref() == Some(method.as_str())
        {
            return oversized(*bytes);
        }
        match config.reply {
            Reply::InvalidJson => return json_body("{this is not json"),
            Reply::Oversized(bytes) => return oversized(bytes),
            Reply::Json
            | Reply::Sse
            | Reply::SsePrimed
            | Reply::SsePing
            | Reply::SseProgress
            | Reply::SseListChanged => {}
        }
        let Some(result) = rpc.as_deref().and_then(|m| self.result(m, &request)) else {
            // Notifications, and anything else the server does not answer.
            return StatusCode::ACCEPTED.into_response();
        };
        let response = json!({"jsonrpc": "2.0", "id": request["id"], "result": result});
        let mut answer = self.reply(&request, response);
        if config.sessions && rpc.as_deref() == Some("initialize") {
            let id = format!("session-{}", self.log.lock().map(|l| l.len()).unwrap_or_default());
            if let Ok(mut sessions) = self.sessions.lock() {
                sessions.push(id.clone());
            }
            if let Ok(value) = header::HeaderValue::from_str(&id) {
                answer.headers_mut().insert("mcp-session-id", value);
            }
        }
        answer
    }

    /// Returns `response` the way the server is set to reply.
    fn reply(self: &Arc<Self>, request: &Value, response: Value) -> Response {
        match self.config.reply {
            Reply::SseProgress => {
                let token = &request["params"]["_meta"]["progressToken"];
                let mut events = String::new();
                if !token.is_null() {
                    for progress in 1..=2 {
                        let note = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                            "params": {"progressToken": token, "progress": progress, "total": 2}});
                        events.push_str(&format!("event: message\ndata: {note}\n\n"));
                    }
                }
                events.push_str(&format!("event: message\ndata: {response}\n\n"));
                event_stream(events)
            }
            Reply::Sse => event_stream(format!("event: message\ndata: {response}\n\n")),
            Reply::SsePrimed => {
                event_stream(format!("id: 0\ndata:\n\nevent: message\ndata: {response}\n\n"))
            }
            Reply::SsePing => self.answer_after_ping(response),
            Reply::SseListChanged => {
                let note = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
                event_stream(format!(
                    "event: message\ndata: {note}\n\nevent: message\ndata: {response}\n\n"
                ))
            }
            _ => json_body(&response.to_string()),
        }
    }

    /// Returns a stream that sends the client a `ping` request, then
    /// `response` once the client's answer to it has arrived.
    fn answer_after_ping(self: &Arc<Self>, response: Value) -> Response {
        let shared = self.clone();
        let ping_id = format!("ping-{}", self.pings.fetch_add(1, Ordering::SeqCst));
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
        tokio::spawn(async move {
            let ping = json!({"jsonrpc": "2.0", "id": ping_id, "method": "ping"});
            let event = format!("event: message\ndata: {ping}\n\n");
            if tx.send(Ok(Bytes::from(event))).await.is_err() {
                return;
            }
            let answered = |log: &[Request]| {
                log.iter().any(|r| {
                    let message: Value = serde_json::from_str(&r.body).unwrap_or_default();
                    message["id"] == ping_id.as_str() && message.get("result").is_some()
                })
            };
            for _ in 0..500 {
                if shared.log.lock().map(|l| answered(&l)).unwrap_or(false) {
                    let event = format!("event: message\ndata: {response}\n\n");
                    let _ = tx.send(Ok(Bytes::from(event))).await;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
        ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
    }

    /// Returns the `result` for JSON-RPC `method`, or `None` to answer 202.
    fn result(&self, method: &str, request: &Value) -> Option<Value> {
        let config = &self.config;
        if let Some((_, handler)) = config.handlers.iter().find(|(m, _)| m == method) {
            return Some(handler(request));
        }
        let cursor = request["params"]["cursor"].as_str();
        match method {
            "initialize" => {
                // An announcing server says so, as servers that send
                // `list_changed` must.
                let mut capabilities = if config.announcing {
                    json!({"tools": {"listChanged": true}})
                } else {
                    json!({"tools": {}})
                };
                if config.prompts.is_some() {
                    capabilities["prompts"] = json!({});
                }
                if config.resources.is_some() {
                    capabilities["resources"] = json!({});
                }
                Some(json!({
                    "protocolVersion": config.protocol_version,
                    "capabilities": capabilities,
                    "serverInfo": {"name": config.name, "version": "1"},
                }))
            }
            "tools/list" => {
                let tools = self.tools.lock().map(|t| t.clone()).unwrap_or_default();
                Some(self.page("tools", &tools, cursor))
            }
            "prompts/list" => Some(self.page("prompts", config.prompts.as_deref()?, cursor)),
            "resources/list" => Some(self.page("resources", config.resources.as_deref()?, cursor)),
            "resources/templates/list" => {
                config.resources.as_ref()?;
                Some(json!({"resourceTemplates": []}))
            }
            _ => None,
        }
    }

    /// Returns one page of `items` under `key`, from the offset in `cursor`.
    fn page(&self, key: &str, items: &[Value], cursor: Option<&str>) -> Value {
        let start = cursor.and_then(|c| c.parse().ok()).unwrap_or(0usize);
        let size = self.config.page_size.unwrap_or(usize::MAX);
        let end = start.saturating_add(size).min(items.len());
        let mut page = json!({ key: items.get(start..end).unwrap_or_default() });
        if end < items.len() {
            page["nextCursor"] = json!(end.to_string());
        }
        page
    }

    /// Returns an answer with `status`; a 401 carries the challenge.
    fn status(&self, status: StatusCode) -> Response {
        if status == StatusCode::UNAUTHORIZED {
            let challenge = self.config.challenge.clone();
            return (status, [(header::WWW_AUTHENTICATE, challenge)]).into_response();
        }
        status.into_response()
    }

    /// Returns the token endpoint's answer to a form `body`.
    fn token(&self, endpoint: &TokenEndpoint, body: &str) -> Response {
        let fields: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
        let field = |name: &str| fields.get(name).map(String::as_str);
        let allowed = endpoint.client.as_ref().is_none_or(|(id, secret)| {
            field("grant_type") == Some("client_credentials")
                && field("client_id") == Some(id.as_str())
                && field("client_secret") == Some(secret.as_str())
        });
        let Some(token) = endpoint.token.as_ref().filter(|_| allowed) else {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"error":"invalid_client"}"#,
            )
                .into_response();
        };
        self.issued.fetch_add(1, Ordering::SeqCst);
        json_body(
            &json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}).to_string(),
        )
    }
}

/// Returns a 200 `text/event-stream` answer with `body`.
fn event_stream(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// Returns a 200 `application/json` answer with `body`.
fn json_body(body: &str) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_owned(),
    )
        .into_response()
}

/// Returns a 200 `application/json` answer of `bytes` spaces, streamed in 64 KiB chunks.
fn oversized(bytes: usize) -> Response {
    static CHUNK: [u8; 64 * 1024] = [b' '; 64 * 1024];
    let chunks = (0..bytes.div_ceil(CHUNK.len()))
        .map(|_| Ok::<_, std::io::Error>(Bytes::from_static(&CHUNK)));
    let body = Body::from_stream(tokio_stream::iter(chunks));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
