//! One MCP session with an upstream, over either transport, usable by many
//! requests at once: Streamable HTTP (a POST per message; the answer comes as
//! JSON or on an event stream) and the legacy HTTP+SSE transport (one GET
//! stream whose messages a reader task routes to the waiting request by id).
//!
//! Both answer the server's own requests (`ping`; anything else is refused),
//! skip events without data, hand the notifications that concern a request
//! (its progress) to that request's sink, and note `list_changed`
//! notifications in [`Signals`]. A request whose future is dropped before its
//! answer (a timeout, a cancelled gateway call) tells the upstream with
//! `notifications/cancelled`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

use crate::sync::client::{
    DiscoveryError, ENDPOINT_WAIT, RpcError, Wire, answers, http_error, parse_json, read_capped,
    reply_to_server_request, rpc_error_body, rpc_outcome, status_error, transport_error,
    with_rpc_error,
};
use crate::sync::sse::{Event, Parser};

/// Where the notifications that concern one request go (its progress).
pub type Sink = mpsc::UnboundedSender<Value>;

/// What a session has learnt outside of any one answer.
#[derive(Debug, Default)]
pub struct Signals {
    /// The upstream said `notifications/tools/list_changed`.
    pub tools_changed: AtomicBool,
    /// Woken by every `notifications/{tools,prompts,resources}/list_changed`;
    /// notifications nobody waited for leave one wake-up, so a burst wakes a
    /// waiter once.
    pub lists_changed: tokio::sync::Notify,
    /// The upstream no longer knows the session (HTTP 404 on its id), or its
    /// stream ended: it must be initialized again.
    pub gone: AtomicBool,
    /// Woken when the stream that carries the upstream's own messages ends
    /// (Streamable HTTP's GET stream, or the legacy SSE stream) or could not
    /// be opened ([`Signals::stream_refused`]).
    pub stream_ended: tokio::sync::Notify,
    /// The upstream offers no GET stream (it answered 405, or no event stream).
    pub stream_refused: AtomicBool,
}

impl Signals {
    /// Notes what a notification from the upstream says about the session.
    fn note(&self, message: &Value) {
        let method = message.get("method").and_then(Value::as_str);
        if method == Some("notifications/tools/list_changed") {
            self.tools_changed.store(true, Ordering::Release);
        }
        if matches!(
            method,
            Some(
                "notifications/tools/list_changed"
                    | "notifications/prompts/list_changed"
                    | "notifications/resources/list_changed"
            )
        ) {
            metrics::counter!("mcp_registry_upstream_list_changed_total").increment(1);
            self.lists_changed.notify_one();
        }
    }
}

/// A session over either transport.
pub enum Connection {
    Streamable(Streamable),
    Sse(LegacySse),
}

impl Connection {
    pub fn wire(&self) -> Wire {
        match self {
            Self::Streamable(_) => Wire::StreamableHttp,
            Self::Sse(_) => Wire::Sse,
        }
    }

    pub fn signals(&self) -> &Arc<Signals> {
        match self {
            Self::Streamable(s) => &s.signals,
            Self::Sse(s) => &s.signals,
        }
    }

    /// Sends the `MCP-Protocol-Version` header from now on (Streamable HTTP).
    pub fn set_protocol_version(&mut self, version: &str) {
        if let Self::Streamable(s) = self {
            s.protocol_version = HeaderValue::from_str(version).ok();
        }
    }

    /// Sends a request and waits for its answer. With a `sink`, the request
    /// asks for progress (its id is the progress token) and every
    /// notification that concerns it goes to the sink.
    pub async fn request(
        &self,
        method: &str,
        params: Value,
        sink: Option<&Sink>,
    ) -> Result<Result<Value, RpcError>, DiscoveryError> {
        match self {
            Self::Streamable(s) => s.request(method, params, sink).await,
            Self::Sse(s) => s.request(method, params, sink).await,
        }
    }

    pub async fn notify(&self, method: &str) -> Result<(), DiscoveryError> {
        let body = json!({"jsonrpc": "2.0", "method": method});
        match self {
            Self::Streamable(s) => s.post(&body).await.map(|_| ()),
            Self::Sse(s) => s.post(&body).await,
        }
    }

    pub async fn close(&mut self) {
        match self {
            Self::Streamable(s) => s.close().await,
            Self::Sse(s) => s.close(),
        }
    }
}

/// Puts the request id in `params._meta.progressToken`.
fn ask_progress(params: &mut Value, id: i64) {
    if !params.is_object() {
        *params = json!({});
    }
    if !params["_meta"].is_object() {
        params["_meta"] = json!({});
    }
    params["_meta"]["progressToken"] = json!(id);
}

/// Whether `message` is a notification about request `id` (its progress).
fn concerns(message: &Value, id: i64) -> bool {
    message.get("id").is_none()
        && (message["params"]["progressToken"].as_i64() == Some(id)
            || message["params"]["requestId"].as_i64() == Some(id))
}

/// Tells the upstream that request `id` is no longer wanted, unless
/// [`Cancel::answered`] was called first. The POST is built (`post()`) only
/// then: most requests are answered.
struct Cancel<F: FnOnce() -> reqwest::RequestBuilder> {
    post: Option<(F, i64)>,
}

impl<F: FnOnce() -> reqwest::RequestBuilder> Cancel<F> {
    fn answered(mut self) {
        self.post = None;
    }
}

impl<F: FnOnce() -> reqwest::RequestBuilder> Drop for Cancel<F> {
    fn drop(&mut self) {
        let Some((post, id)) = self.post.take() else {
            return;
        };
        let request = post();
        let body = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": id, "reason": "the caller gave up waiting"}});
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = request.body(body.to_string()).send().await;
            });
        }
    }
}

/// How the first POST of a Streamable HTTP session went.
pub enum Initialize {
    /// 400, 404 or 405: the endpoint is not Streamable HTTP.
    Fallback(reqwest::StatusCode),
    Failed(DiscoveryError),
}

/// A Streamable HTTP session (spec 2025-03-26 and later).
pub struct Streamable {
    client: reqwest::Client,
    url: Url,
    headers: HeaderMap,
    session_id: Option<HeaderValue>,
    protocol_version: Option<HeaderValue>,
    next_id: AtomicI64,
    max_bytes: usize,
    signals: Arc<Signals>,
    /// The reader of the GET stream the server may send messages on
    /// ([`Streamable::listen`]).
    listener: Option<JoinHandle<()>>,
}

impl Drop for Streamable {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
    }
}

impl Streamable {
    pub fn new(client: &reqwest::Client, url: &Url, headers: &HeaderMap, max_bytes: usize) -> Self {
        Self {
            client: client.clone(),
            url: url.clone(),
            headers: headers.clone(),
            session_id: None,
            protocol_version: None,
            next_id: AtomicI64::new(1),
            max_bytes,
            signals: Arc::default(),
            listener: None,
        }
    }

    /// Opens, in the background, the GET stream on which the server sends
    /// what is not an answer (its `list_changed` notifications, pings), when
    /// it offers one (405 when it does not), and reads it until it ends or
    /// the session closes. Adds nothing to the caller's latency.
    pub fn listen(&mut self) {
        let mut request = self
            .client
            .get(self.url.clone())
            .headers(self.headers.clone())
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = &self.session_id {
            request = request.header("mcp-session-id", id.clone());
        }
        if let Some(version) = &self.protocol_version {
            request = request.header("mcp-protocol-version", version.clone());
        }
        let signals = self.signals.clone();
        let post = self.builder();
        let max_bytes = self.max_bytes;
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
        self.listener = Some(tokio::spawn(async move {
            let Ok(mut response) = request.send().await else {
                signals.stream_ended.notify_one();
                return;
            };
            let is_stream = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"));
            if !response.status().is_success() || !is_stream {
                signals.stream_refused.store(true, Ordering::Release);
                signals.stream_ended.notify_one();
                return;
            }
            let mut parser = Parser::new(max_bytes);
            while let Ok(Some(chunk)) = response.chunk().await {
                let Ok(events) = parser.feed(&chunk) else {
                    break;
                };
                for Event { event, data } in events {
                    if event != "message" {
                        continue;
                    }
                    let Ok(message) = parse_json(data.as_bytes()) else {
                        continue;
                    };
                    if let Some(reply) = reply_to_server_request(&message) {
                        if let Some(request) = post.try_clone() {
                            let _ = request.body(reply.to_string()).send().await;
                        }
                        continue;
                    }
                    signals.note(&message);
                }
            }
            signals.stream_ended.notify_one();
        }));
    }

    pub async fn initialize(&mut self, params: Value) -> Result<Value, Initialize> {
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
            .answer(response, id, None)
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

    fn take_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn builder(&self) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json");
        if let Some(id) = &self.session_id {
            request = request.header("mcp-session-id", id.clone());
        }
        if let Some(version) = &self.protocol_version {
            request = request.header("mcp-protocol-version", version.clone());
        }
        request
    }

    async fn send(&self, body: &Value) -> Result<reqwest::Response, DiscoveryError> {
        let response = self
            .builder()
            .body(body.to_string())
            .send()
            .await
            .map_err(transport_error)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND && self.session_id.is_some() {
            // The spec's answer to a session the server no longer has.
            self.signals.gone.store(true, Ordering::Release);
        }
        Ok(response)
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
        &self,
        method: &str,
        mut params: Value,
        sink: Option<&Sink>,
    ) -> Result<Result<Value, RpcError>, DiscoveryError> {
        let id = self.take_id();
        if sink.is_some() {
            ask_progress(&mut params, id);
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let cancel = Cancel {
            post: Some((|| self.builder(), id)),
        };
        let response = match self.send(&body).await {
            Ok(response) => response,
            Err(err) => {
                cancel.answered();
                return Err(err);
            }
        };
        if !response.status().is_success() {
            cancel.answered();
            return Err(http_error(method, response).await);
        }
        let answer = self.answer(response, id, sink).await;
        cancel.answered();
        rpc_outcome(&answer?)
    }

    /// Reads the answer to request `id`: a JSON body, or the first matching
    /// message of an event stream. On the way, the server's requests are
    /// answered and the notifications about `id` go to `sink`.
    async fn answer(
        &self,
        mut response: reqwest::Response,
        id: i64,
        sink: Option<&Sink>,
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
                    continue;
                }
                self.signals.note(&message);
                if let Some(sink) = sink.filter(|_| concerns(&message, id)) {
                    let _ = sink.send(message);
                }
            }
        }
        Err(DiscoveryError::protocol(
            "the event stream ended without an answer",
        ))
    }

    /// Ends the session (DELETE with its id); failures do not matter here.
    pub async fn close(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
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

/// The requests of a legacy SSE session waiting for messages, by id.
type Waiting = Arc<Mutex<HashMap<i64, mpsc::UnboundedSender<Result<Value, DiscoveryError>>>>>;

/// A legacy HTTP+SSE session (spec 2024-11-05): GET opens the stream, its
/// `endpoint` event says where to POST, answers arrive as `message` events.
pub struct LegacySse {
    client: reqwest::Client,
    endpoint: Url,
    headers: HeaderMap,
    waiting: Waiting,
    reader: JoinHandle<()>,
    next_id: AtomicI64,
    signals: Arc<Signals>,
}

impl Drop for LegacySse {
    fn drop(&mut self) {
        // The reader owns the GET stream; it must not outlive the session.
        self.reader.abort();
    }
}

impl LegacySse {
    pub async fn open(
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
        let waiting = Waiting::default();
        let signals = Arc::<Signals>::default();
        let (replies_tx, replies) = mpsc::unbounded_channel();
        let stream = Stream {
            max_bytes,
            waiting: waiting.clone(),
            signals: signals.clone(),
            replies: replies_tx,
        };
        let reader = tokio::spawn(stream.read(response, endpoint_tx));
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
        let endpoint = match url.join(&endpoint) {
            Ok(endpoint) => endpoint,
            Err(_) => {
                reader.abort();
                return Err(DiscoveryError::protocol(format!(
                    "the endpoint event {endpoint:?} is not a URL"
                )));
            }
        };
        // Posting elsewhere would bypass every check made on `url`.
        if endpoint.origin() != url.origin() {
            reader.abort();
            return Err(DiscoveryError::protocol(format!(
                "the endpoint event points to another origin ({}); refused",
                endpoint.origin().ascii_serialization()
            )));
        }
        let session = Self {
            client: client.clone(),
            endpoint,
            headers: headers.clone(),
            waiting,
            reader,
            next_id: AtomicI64::new(1),
            signals,
        };
        session.answer_server_requests(replies);
        Ok(session)
    }

    /// Posts the replies the reader makes to the server's own requests.
    fn answer_server_requests(&self, mut replies: mpsc::UnboundedReceiver<Value>) {
        let post = self.builder();
        tokio::spawn(async move {
            while let Some(reply) = replies.recv().await {
                if let Some(request) = post.try_clone() {
                    let _ = request.body(reply.to_string()).send().await;
                }
            }
        });
    }

    fn builder(&self) -> reqwest::RequestBuilder {
        self.client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
    }

    async fn post(&self, body: &Value) -> Result<(), DiscoveryError> {
        let response = self
            .builder()
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
        &self,
        method: &str,
        mut params: Value,
        sink: Option<&Sink>,
    ) -> Result<Result<Value, RpcError>, DiscoveryError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if sink.is_some() {
            ask_progress(&mut params, id);
        }
        let (tx, mut messages) = mpsc::unbounded_channel();
        lock(&self.waiting).insert(id, tx);
        let _forget = Forget {
            waiting: &self.waiting,
            id,
        };
        let cancel = Cancel {
            post: Some((|| self.builder(), id)),
        };
        let sent = self
            .post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        if let Err(err) = sent {
            cancel.answered();
            return Err(err);
        }
        while let Some(message) = messages.recv().await {
            let message = message?;
            if answers(&message, id) {
                cancel.answered();
                return rpc_outcome(&message);
            }
            if let Some(sink) = sink {
                let _ = sink.send(message);
            }
        }
        cancel.answered();
        Err(DiscoveryError::protocol(
            "the SSE stream ended without an answer",
        ))
    }

    fn close(&mut self) {
        self.reader.abort();
    }
}

/// Removes request `id` from the waiting requests when dropped (answered,
/// failed or abandoned).
struct Forget<'a> {
    waiting: &'a Waiting,
    id: i64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.waiting).remove(&self.id);
    }
}

/// Locks a mutex no code panics while holding.
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The reader of a legacy SSE stream.
struct Stream {
    max_bytes: usize,
    waiting: Waiting,
    signals: Arc<Signals>,
    /// Replies to the server's requests, for the session to post.
    replies: mpsc::UnboundedSender<Value>,
}

impl Stream {
    /// Reads the stream: the first `endpoint` event goes to `endpoint`; each
    /// `message` to the request it answers or concerns; server requests get
    /// a reply. When the stream ends, every waiting request learns it.
    async fn read(
        self,
        mut response: reqwest::Response,
        endpoint: tokio::sync::oneshot::Sender<Result<String, DiscoveryError>>,
    ) {
        let mut endpoint = Some(endpoint);
        let mut parser = Parser::new(self.max_bytes);
        let failure = loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break DiscoveryError::protocol("the SSE stream ended"),
                Err(err) => break transport_error(err),
            };
            let events = match parser.feed(&chunk) {
                Ok(events) => events,
                Err(err) => break DiscoveryError::protocol(err.to_string()),
            };
            for Event { event, data } in events {
                if event == "endpoint" {
                    if let Some(tx) = endpoint.take() {
                        let _ = tx.send(Ok(data));
                    }
                } else if event == "message" {
                    self.route(parse_json(data.as_bytes()));
                }
            }
        };
        self.signals.gone.store(true, Ordering::Release);
        self.signals.stream_ended.notify_one();
        if let Some(tx) = endpoint.take() {
            let _ = tx.send(Err(failure));
            return;
        }
        for (_, waiting) in lock(&self.waiting).drain() {
            let _ = waiting.send(Err(failure.clone()));
        }
    }

    fn route(&self, message: Result<Value, DiscoveryError>) {
        let message = match message {
            Ok(message) => message,
            Err(err) => {
                // Which request a message that is not JSON was for is unknown.
                for waiting in lock(&self.waiting).values() {
                    let _ = waiting.send(Err(err.clone()));
                }
                return;
            }
        };
        if let Some(reply) = reply_to_server_request(&message) {
            let _ = self.replies.send(reply);
            return;
        }
        self.signals.note(&message);
        let id = match message.get("id") {
            Some(id) => id.as_i64(),
            None => message["params"]["progressToken"]
                .as_i64()
                .or_else(|| message["params"]["requestId"].as_i64()),
        };
        if let Some(waiting) = id.and_then(|id| lock(&self.waiting).get(&id).cloned()) {
            let _ = waiting.send(Ok(message));
        }
    }
}
