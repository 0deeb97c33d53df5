//! The legacy HTTP+SSE transport (MCP 2024-11-05) for older clients: GET
//! `/mcp/packs/{pack_id}/sse` opens a session's event stream, whose first
//! event (`endpoint`) names `/mcp/packs/{pack_id}/messages?sessionId=…`;
//! each message POSTed there is accepted (202) and answered on the stream,
//! progress notifications first.
//!
//! A session lives on the replica that holds its stream: a POST that lands
//! elsewhere, or from another key, or for another pack, gets 404 and the
//! client opens a new session. At shutdown a stream ends once the requests
//! it carries are answered (within the grace period).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::mpsc;

use super::notify::{KEEP_ALIVE, Watcher};
use super::rpc::{Incoming, dispatch};
use super::{Gateway, authenticate, http_error, json_response, parse, to_send};
use crate::error::Error;
use crate::sync::session::lock;

/// The sessions this replica holds, by session id.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

struct Session {
    /// The API key that opened it: only it may post to it.
    actor: String,
    pack_id: String,
    /// Messages for the client's stream.
    events: mpsc::UnboundedSender<Value>,
    /// Requests being answered.
    busy: Arc<AtomicUsize>,
}

/// GET `…/sse`: opens a session on a pack the caller may use.
pub async fn open(
    State(gateway): State<Arc<Gateway>>,
    Path(pack_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let caller = match authenticate(&gateway, &headers, &pack_id).await {
        Ok((caller, _)) => caller,
        Err(err) => return http_error(&err, Value::Null),
    };
    let watcher =
        match Watcher::start(gateway.clone(), caller.clone(), headers, pack_id.clone()).await {
            Ok(watcher) => watcher,
            Err(err) => return http_error(&err, Value::Null),
        };
    let session_id = uuid::Uuid::new_v4().simple().to_string();
    let (events, messages) = mpsc::unbounded_channel();
    tokio::spawn(watcher.run(events.clone()));
    let busy = Arc::new(AtomicUsize::new(0));
    lock(&gateway.sessions.0).insert(
        session_id.clone(),
        Session {
            actor: caller.actor().to_owned(),
            pack_id: pack_id.clone(),
            events,
            busy: busy.clone(),
        },
    );
    let (body, stream) = mpsc::channel::<Bytes>(64);
    let endpoint = format!("/mcp/packs/{pack_id}/messages?sessionId={session_id}");
    tokio::spawn(write(gateway, session_id, endpoint, messages, busy, body));
    let stream = tokio_stream::wrappers::ReceiverStream::new(stream);
    let body = Body::from_stream(tokio_stream::StreamExt::map(stream, Ok::<_, Infallible>));
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Writes a session's stream until the client goes away, or shutdown starts
/// and its requests are answered; then forgets the session.
async fn write(
    gateway: Arc<Gateway>,
    session_id: String,
    endpoint: String,
    mut messages: mpsc::UnboundedReceiver<Value>,
    busy: Arc<AtomicUsize>,
    body: mpsc::Sender<Bytes>,
) {
    let event = |name: &str, data: &str| Bytes::from(format!("event: {name}\ndata: {data}\n\n"));
    if body.send(event("endpoint", &endpoint)).await.is_ok() {
        loop {
            let stopping = gateway.stopping.is_cancelled();
            if stopping && busy.load(Ordering::Acquire) == 0 && messages.is_empty() {
                break;
            }
            let wait = if stopping {
                Duration::from_millis(50)
            } else {
                KEEP_ALIVE
            };
            let chunk = tokio::select! {
                Some(message) = messages.recv() => event("message", &message.to_string()),
                () = tokio::time::sleep(wait) => Bytes::from_static(b": keep-alive\n\n"),
                () = gateway.stopping.cancelled(), if !stopping => continue,
            };
            if body.send(chunk).await.is_err() {
                break;
            }
        }
    }
    lock(&gateway.sessions.0).remove(&session_id);
}

/// POST `…/messages?sessionId=…`: a message for a session of this caller
/// and pack, answered on its stream.
pub async fn message(
    State(gateway): State<Arc<Gateway>>,
    Path(pack_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (caller, pack) = match authenticate(&gateway, &headers, &pack_id).await {
        Ok(admitted) => admitted,
        Err(err) => return http_error(&err, Value::Null),
    };
    let session_id = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "sessionId")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let session = lock(&gateway.sessions.0)
        .get(&session_id)
        .filter(|s| s.actor == caller.actor() && s.pack_id == pack_id)
        .map(|s| (s.events.clone(), s.busy.clone()));
    let Some((events, busy)) = session else {
        let unknown = Error::NotFound {
            kind: "session",
            id: super::clip(&session_id, 80),
        };
        return http_error(&unknown, Value::Null);
    };
    let message = match parse(&body) {
        Ok(message) => message,
        Err(error) => return json_response(StatusCode::BAD_REQUEST, &error),
    };
    busy.fetch_add(1, Ordering::AcqRel);
    super::spawn_in_request(async move {
        let incoming = Incoming {
            caller: &caller,
            pack: &pack,
            message: &message,
            notify: Some(&events),
            session: Some(&session_id),
        };
        tokio::select! {
            answered = dispatch(&gateway, incoming) => {
                if let Some(answer) = to_send(answered) {
                    let _ = events.send(answer);
                }
            }
            // The stream is gone: nobody waits for the answer.
            () = events.closed() => {}
        }
        busy.fetch_sub(1, Ordering::AcqRel);
    });
    StatusCode::ACCEPTED.into_response()
}
