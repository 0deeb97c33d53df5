//! Registry → clients: the streams a client keeps open on the gateway (the
//! Streamable HTTP GET stream at `/mcp/packs/{pack_id}`, a legacy SSE
//! session's stream) carry `notifications/{tools,prompts,resources}/list_changed`
//! whenever what the pack offers changes, for any reason: a member added or
//! removed, a tool approved or not, a sync that changed a tool, a server
//! disabled, a setting changed — on this replica or, through the change
//! notifications that keep the caches fresh, on another.
//!
//! A watcher per stream waits for any change ([`Generations::subscribe`]),
//! skips those its stamp (the pack's organization and members) says do not
//! concern it, and otherwise reads what the pack offers, as `tools/list`,
//! `prompts/list` and `resources/list` would answer, and compares digests:
//! a notification goes out only for a list that really changed.

use std::collections::hash_map::DefaultHasher;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Gateway, access};
use crate::error::Error;
use crate::registry::Caller;
use crate::registry::packs::Offered;
use crate::registry::servers::CapabilityKind;
use crate::store::{Generations, Stamp, Topic};

/// How long a watcher lets a burst of writes settle before it looks.
const SETTLE: Duration = Duration::from_millis(50);

/// How often an idle stream carries a comment, so that proxies keep it and
/// a client that went away is noticed.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What one pack offers, as digests of its three lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Digests {
    tools: u64,
    prompts: u64,
    resources: u64,
}

/// GET `/mcp/packs/{pack_id}` with `Accept: text/event-stream`: the stream
/// of the pack's `list_changed` notifications (nothing else is sent on it:
/// answers go on their POST's own answer).
pub fn stream(gateway: Arc<Gateway>, watcher: Watcher) -> Response {
    let (events, mut messages) = mpsc::unbounded_channel::<Value>();
    let (body, chunks) = mpsc::channel::<Bytes>(16);
    tokio::spawn(watcher.run(events));
    tokio::spawn(async move {
        loop {
            let chunk = tokio::select! {
                message = messages.recv() => match message {
                    Some(message) => Bytes::from(format!("event: message\ndata: {message}\n\n")),
                    None => return,
                },
                () = tokio::time::sleep(KEEP_ALIVE) => Bytes::from_static(b": keep-alive\n\n"),
                () = gateway.stopping.cancelled() => return,
            };
            if body.send(chunk).await.is_err() {
                return;
            }
        }
    });
    let chunks = tokio_stream::wrappers::ReceiverStream::new(chunks);
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(tokio_stream::StreamExt::map(chunks, Ok::<_, Infallible>)),
    )
        .into_response()
}

/// Watches one pack for one stream.
pub struct Watcher {
    gateway: Arc<Gateway>,
    caller: Caller,
    /// The request's, to check its key again at each look.
    headers: HeaderMap,
    pack_id: String,
    changes: tokio::sync::watch::Receiver<u64>,
    /// What the pack offered at the last look, and the stamp of that look.
    seen: (Digests, Option<Stamp>),
}

impl Watcher {
    /// Looks at what the pack offers now, before the stream is answered, so
    /// that every change after the client's stream opened is notified.
    pub async fn start(
        gateway: Arc<Gateway>,
        caller: Caller,
        headers: HeaderMap,
        pack_id: String,
    ) -> Result<Self, Error> {
        let changes = gateway.packs.generations().subscribe();
        let seen = look(&gateway, &caller, &headers, &pack_id).await?;
        Ok(Self {
            gateway,
            caller,
            headers,
            pack_id,
            changes,
            seen,
        })
    }

    /// Sends the pack's `list_changed` notifications to `events` until the
    /// stream closes, shutdown starts, or the caller may no longer use the
    /// pack (its key revoked, the pack deleted or out of its reach): then the
    /// stream ends.
    pub async fn run(mut self, events: mpsc::UnboundedSender<Value>) {
        let generations = self.gateway.packs.generations().clone();
        loop {
            tokio::select! {
                changed = self.changes.changed() => if changed.is_err() { return },
                () = events.closed() => return,
                () = self.gateway.stopping.cancelled() => return,
            }
            tokio::time::sleep(SETTLE).await;
            self.changes.borrow_and_update();
            if (self.seen.1.as_ref()).is_some_and(|stamp| generations.is_current(stamp)) {
                continue;
            }
            let now = match look(&self.gateway, &self.caller, &self.headers, &self.pack_id).await {
                Ok(now) => now,
                Err(err) if ends_stream(&err) => return,
                // A passing failure (the database): look again at the next change.
                Err(err) => {
                    tracing::warn!(pack_id = %self.pack_id, error = %err, "cannot read a watched pack");
                    self.seen.1 = None;
                    continue;
                }
            };
            let (before, after) = (self.seen.0, now.0);
            for (changed, method) in [
                (
                    before.tools != after.tools,
                    "notifications/tools/list_changed",
                ),
                (
                    before.prompts != after.prompts,
                    "notifications/prompts/list_changed",
                ),
                (
                    before.resources != after.resources,
                    "notifications/resources/list_changed",
                ),
            ] {
                if changed
                    && events
                        .send(json!({"jsonrpc": "2.0", "method": method}))
                        .is_err()
                {
                    return;
                }
            }
            self.seen = now;
        }
    }
}

/// Whether `err` means the caller may no longer watch the pack.
fn ends_stream(err: &Error) -> bool {
    matches!(
        err,
        Error::NotFound { .. } | Error::PermissionDenied(_) | Error::Unauthenticated(_)
    )
}

/// What the pack offers now, and the stamp of what that depends on (none
/// while the caches are off: every change is then looked at).
async fn look(
    gateway: &Gateway,
    caller: &Caller,
    headers: &HeaderMap,
    pack_id: &str,
) -> Result<(Digests, Option<Stamp>), Error> {
    let generations: &Generations = gateway.packs.generations();
    let before = generations.snapshot();
    let (_, pack) = access::readmit(&gateway.admission, &gateway.packs, headers, pack_id).await?;
    let offering = gateway
        .resolutions
        .resolve(&gateway.packs, caller, pack_id.to_owned(), 0)
        .await?;
    let prompts = gateway.packs.offer(&pack, CapabilityKind::Prompt).await?;
    let mut resources = gateway.packs.offer(&pack, CapabilityKind::Resource).await?;
    resources.extend(
        gateway
            .packs
            .offer(&pack, CapabilityKind::ResourceTemplate)
            .await?,
    );
    let digests = Digests {
        tools: digest(offering.listed.iter().map(Value::to_string)),
        prompts: digest(prompts.iter().map(shown)),
        resources: digest(resources.iter().map(shown)),
    };
    let topics = std::iter::once(Topic::Packs(&pack.organization_id))
        .chain(
            offering
                .resolution
                .server_ids
                .iter()
                .map(|id| Topic::Server(id)),
        )
        .chain(std::iter::once(Topic::Key(caller.actor())));
    Ok((digests, before.map(|snapshot| snapshot.stamp(topics))))
}

fn shown(item: &Offered) -> (String, String) {
    (item.shown.clone(), item.definition.to_string())
}

/// A digest of a list (order included: a reordered list is a changed list).
fn digest<T: Hash>(items: impl Iterator<Item = T>) -> u64 {
    let mut hasher = DefaultHasher::new();
    for item in items {
        item.hash(&mut hasher);
    }
    hasher.finish()
}
