//! The pack gateway: every pack as one MCP endpoint at `/mcp/packs/{pack_id}`
//! on its own listener (`--mcp-listen`), over Streamable HTTP, and over the
//! legacy HTTP+SSE transport at `/mcp/packs/{pack_id}/sse` (+ `/messages`)
//! for older clients.
//!
//! Streamable HTTP is served without session state: `initialize` answers with
//! an `Mcp-Session-Id` (clients that open the GET stream only within a
//! session need one) that no replica checks; every POST carries one JSON-RPC
//! message and gets one answer (JSON, or an event stream when a `tools/call`
//! asks for progress), so any replica can answer any request. GET with
//! `Accept: text/event-stream` is the stream of the pack's `list_changed`
//! notifications ([`notify`]). A legacy SSE session lives on the replica that
//! holds its stream; a POST for it elsewhere gets 404, and the client opens a
//! new one. Callers are the organization's API keys (`Authorization: Bearer
//! <key>.<secret>`, `x-api-key` + `x-api-secret`, or `x-api-key:
//! <key>.<secret>` alone), with the same rights as
//! on gRPC; who may use which pack is decided in [`access`] (401, 429, 404,
//! 403). The methods themselves are in [`rpc`].

pub mod access;
pub mod legacy;
pub mod notify;
pub mod records;
pub mod rpc;
pub mod views;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::gateway::access::Admission;
use crate::grpc::middleware::{REQUEST_ID_HEADER, request_id};
use crate::grpc::status::current_request_id;
use crate::registry::Caller;
use crate::registry::cache::CacheSizes;
use crate::registry::call_log::CallLog;
use crate::registry::packs::answers::ResolutionAnswers;
use crate::registry::packs::{Pack, Packs};
use crate::registry::servers::answers::ServerAnswers;
use crate::registry::servers::{McpServer, Servers};
use crate::sync::engine::Syncer;
use crate::telemetry::{REQUEST, RequestScope};
use rpc::{Answer, CANCELLED, InFlight, Incoming, dispatch};

/// What the gateway needs from the domain and the sync engine.
pub struct Gateway {
    /// Turns the request's API key into a caller and admits it to a pack.
    admission: Admission,
    /// Reads and resolves packs with the caller's rights.
    packs: Packs,
    /// Reads a member server (url, transport, sealed secrets) for a call.
    servers: Servers,
    /// Makes upstream calls (guard, credentials, transports) and records a
    /// changed tool by syncing its server.
    syncer: Syncer,
    /// Where each `tools/call` leaves its record (written in the background).
    calls: CallLog,
    /// `--gateway-call-timeout`: one call, upstream connection included.
    call_timeout: Duration,
    /// Resolutions as the gateway uses them (tools listed, by name).
    resolutions: ResolutionAnswers<Arc<views::Offering>>,
    /// Member servers as the store has them.
    members: ServerAnswers<Arc<McpServer>>,
    /// Calls in flight, for the client's `notifications/cancelled`.
    in_flight: InFlight,
    /// The legacy SSE sessions this replica holds.
    sessions: legacy::Sessions,
    /// Cancelled when shutdown starts: legacy SSE streams end once their
    /// requests are answered.
    stopping: CancellationToken,
}

/// How the gateway's `tools/call`s run.
pub struct Calls {
    /// `--gateway-call-timeout`: one call, upstream connection included.
    pub timeout: Duration,
    /// Where each call leaves its record.
    pub log: CallLog,
}

impl Gateway {
    /// Returns a gateway over these services.
    pub fn new(
        admission: Admission,
        packs: Packs,
        servers: Servers,
        syncer: Syncer,
        calls: Calls,
        cache: &CacheSizes,
        stopping: CancellationToken,
    ) -> Arc<Self> {
        let resolutions = ResolutionAnswers::named(
            "gateway_resolutions",
            &packs,
            views::OFFERING,
            cache.resolutions,
        );
        let members =
            ServerAnswers::by_id_named("gateway_servers", &servers, views::MEMBER, cache.servers);
        Arc::new(Self {
            admission,
            packs,
            servers,
            resolutions,
            members,
            syncer,
            calls: calls.log,
            call_timeout: calls.timeout,
            in_flight: InFlight::default(),
            sessions: legacy::Sessions::default(),
            stopping,
        })
    }
}

/// Returns the gateway's routes; bodies over `max_bytes` are refused.
pub fn router(gateway: Arc<Gateway>, max_bytes: usize) -> Router {
    Router::new()
        .route(
            "/mcp/packs/{pack_id}",
            axum::routing::post(post).get(get).delete(no_stream),
        )
        .route("/mcp/packs/{pack_id}/sse", axum::routing::get(legacy::open))
        .route(
            "/mcp/packs/{pack_id}/messages",
            axum::routing::post(legacy::message),
        )
        .layer(DefaultBodyLimit::max(max_bytes))
        .layer(axum::middleware::from_fn(with_request_id))
        .with_state(gateway)
}

/// Serves a request under its id (the client's `x-request-id` when sane,
/// else a new one): in the logs' span, in every JSON-RPC error's
/// `data.requestId`, and in the answer's `x-request-id` header.
async fn with_request_id(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = request_id(request.headers());
    let header_id = HeaderValue::from_str(&id).ok();
    let scope = RequestScope { id, rpc: "mcp" };
    let mut response = REQUEST.scope(scope, next.run(request)).await;
    if let Some(value) = header_id {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Spawns `work` under the current request's id.
fn spawn_in_request(work: impl Future<Output = ()> + Send + 'static) {
    let scope = REQUEST.try_with(Clone::clone).unwrap_or(RequestScope {
        id: String::new(),
        rpc: "mcp",
    });
    tokio::spawn(REQUEST.scope(scope, work));
}

/// DELETE (ending a session) has no meaning for a gateway that keeps no
/// session state: 405, as the specification allows; so has a GET that does
/// not accept an event stream.
async fn no_stream() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "GET, POST")],
    )
        .into_response()
}

/// GET: the stream of the pack's `list_changed` notifications ([`notify`]),
/// for a client that accepts an event stream.
async fn get(
    State(gateway): State<Arc<Gateway>>,
    Path(pack_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !accepts_stream(&headers) {
        return no_stream().await;
    }
    let watching = match authenticate(&gateway, &headers, &pack_id).await {
        Ok((caller, _)) => notify::Watcher::start(gateway.clone(), caller, headers, pack_id).await,
        Err(err) => Err(err),
    };
    match watching {
        Ok(watcher) => notify::stream(gateway, watcher),
        Err(err) => http_error(&err, Value::Null),
    }
}

/// Answers one JSON-RPC message posted to a pack's endpoint: JSON, or an
/// event stream (progress notifications, then the answer) for a call that
/// asks for progress from a client that accepts event streams.
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
    let message = match parse(&body) {
        Ok(message) => message,
        Err(error) => return json_response(StatusCode::BAD_REQUEST, &error),
    };
    if wants_stream(&headers, &message) {
        return streamed(gateway, caller, pack, message);
    }
    let incoming = Incoming {
        caller: &caller,
        pack: &pack,
        message: &message,
        notify: None,
        session: None,
    };
    match dispatch(&gateway, incoming).await {
        None => StatusCode::ACCEPTED.into_response(),
        Some((id, Err(Answer::Http(err)))) => http_error(&err, id),
        // No answer to a cancelled request: an event stream that ends
        // without one, for a client that accepts it.
        Some((_, Err(Answer::Cancelled))) if accepts_stream(&headers) => {
            event_stream(Body::empty())
        }
        Some((id, answer)) => {
            let initialized = answer.is_ok() && message["method"] == "initialize";
            let mut answer = json_answer(response(id, answer));
            if initialized {
                // Not state: any replica takes any id. Clients that open the
                // GET stream only within a session (the Python SDK) need one.
                let id = format!("mcps_{}", uuid::Uuid::new_v4().simple());
                if let Ok(value) = HeaderValue::from_str(&id) {
                    answer.headers_mut().insert("mcp-session-id", value);
                }
            }
            answer
        }
    }
}

/// One JSON-RPC message, or the parse error to answer.
fn parse(body: &[u8]) -> Result<Value, Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(message) if message.is_object() => Ok(message),
        Ok(_) => Err(rpc_error(
            Value::Null,
            -32600,
            "one JSON-RPC message per request: batches are not supported",
        )),
        Err(err) => Err(rpc_error(
            Value::Null,
            -32700,
            &format!("not valid JSON: {err}"),
        )),
    }
}

/// Whether to answer with an event stream: a call with a progress token
/// from a client that accepts one.
fn wants_stream(headers: &HeaderMap, message: &Value) -> bool {
    accepts_stream(headers)
        && message.get("id").is_some()
        && !message["params"]["_meta"]["progressToken"].is_null()
}

/// Whether the client accepts an event stream as the answer to a POST.
fn accepts_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// Answers on an event stream: notifications while the call runs, then the
/// answer (none for a request the client cancelled: the stream just ends).
/// A client that goes away cancels the call.
fn streamed(gateway: Arc<Gateway>, caller: Caller, pack: Arc<Pack>, message: Value) -> Response {
    let (events, rx) = mpsc::unbounded_channel::<Value>();
    spawn_in_request(async move {
        let incoming = Incoming {
            caller: &caller,
            pack: &pack,
            message: &message,
            notify: Some(&events),
            session: None,
        };
        tokio::select! {
            answered = dispatch(&gateway, incoming) => {
                if let Some(answer) = to_send(answered) {
                    let _ = events.send(answer);
                }
            }
            () = events.closed() => {}
        }
    });
    let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
    event_stream(Body::from_stream(tokio_stream::StreamExt::map(
        stream,
        |message| Ok::<_, Infallible>(Bytes::from(format!("event: message\ndata: {message}\n\n"))),
    )))
}

/// An event-stream answer to a POST with `body`.
fn event_stream(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The JSON-RPC response for request `id`. An HTTP error is reported as a
/// JSON-RPC error where no status can be sent (on a stream).
fn response(id: Value, answer: Result<Value, Answer>) -> Value {
    match answer {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(Answer::Rpc(code, text)) => rpc_error(id, code, &text),
        Err(Answer::Http(err)) => rpc_error(id, -32001, &http_status(&err).1),
        Err(Answer::Cancelled) => rpc_error(id, CANCELLED, "the client cancelled the request"),
    }
}

/// The response to send on a stream for a request's `answered`: none for a
/// notification, or for a request the client cancelled.
fn to_send(answered: Option<(Value, Result<Value, Answer>)>) -> Option<Value> {
    match answered? {
        (_, Err(Answer::Cancelled)) => None,
        (id, answer) => Some(response(id, answer)),
    }
}

/// Returns the caller the request's API key stands for and the pack it may
/// use ([`access::admit`]).
async fn authenticate(
    gateway: &Gateway,
    headers: &HeaderMap,
    pack_id: &str,
) -> Result<(Caller, Arc<Pack>), Error> {
    access::admit(&gateway.admission, &gateway.packs, headers, pack_id).await
}

pub(crate) fn clip(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// A JSON-RPC error answer; its `data.requestId` is the request's id in
/// the logs.
fn rpc_error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message,
        "data": {"requestId": current_request_id()}}})
}

fn json_answer(body: Value) -> Response {
    json_response(StatusCode::OK, &body)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let content_type = [(header::CONTENT_TYPE, "application/json")];
    (status, content_type, body.to_string()).into_response()
}

/// An error that the HTTP status says (a JSON-RPC error in the body too):
/// 400, 401 with a challenge, 403, 404, 429, 503 or 500. Internal causes are logged,
/// never sent.
fn http_error(err: &Error, id: Value) -> Response {
    let (status, message) = http_status(err);
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

/// The HTTP status of an error, and what the client is told.
fn http_status(err: &Error) -> (StatusCode, String) {
    match err {
        Error::Unauthenticated(text) => (StatusCode::UNAUTHORIZED, (*text).to_owned()),
        Error::PermissionDenied(text) => (StatusCode::FORBIDDEN, text.clone()),
        Error::InvalidArgument(violations) => (
            StatusCode::BAD_REQUEST,
            (violations.iter())
                .map(|v| format!("invalid {}: {}", v.field, v.description))
                .collect::<Vec<_>>()
                .join("; "),
        ),
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
    }
}
