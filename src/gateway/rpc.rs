//! The MCP methods the pack gateway serves, whatever the transport:
//! `initialize`, `ping`, `tools/list`, `tools/call`, `prompts/list`,
//! `prompts/get`, `resources/list`, `resources/templates/list`,
//! `resources/read`, and the client's `notifications/cancelled` (the
//! cancelled request is stopped, upstream too, and not answered).
//!
//! Lists are the pack's current version as the store has it (never read
//! from upstreams), a page of [`PAGE`] at a time. Names and URIs are
//! namespaced per member (see `registry::packs::resolve`): tools and prompts
//! `<server>__<name>` (a tool under its alias when the pack's tool settings
//! give one, and with their replacement description), resources
//! `mcp-registry://<server>/<upstream URI>`.
//! Calls are checked against the same rules at call time, then made on the
//! member's pooled upstream session; results pass through unchanged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, UpstreamFailure};
use crate::registry::Caller;
use crate::registry::audit::CallOutcome;
use crate::registry::packs::resolve::RESOURCE_SCHEME;
use crate::registry::packs::{ExcludedTool, Exclusion, Offered, Pack};
use crate::registry::runs::Trigger;
use crate::registry::servers::{ApprovalPolicy, CapabilityKind, Lookup, McpServer};
use crate::sync::calls::{UpstreamOutcome, UpstreamRequest};
use crate::sync::client::{DiscoveryError, PROTOCOL_VERSIONS};
use crate::sync::lifecycle::AttemptFailure;
use crate::sync::session::lock;

use super::records::Recorder;
use super::views::{Offering, with_field};
use super::{Gateway, clip};

/// Most items in one page of a list; `nextCursor` leads to the next.
pub const PAGE: usize = 100;

/// JSON-RPC "invalid params", also used for tools a pack does not offer.
pub const INVALID_PARAMS: i64 = -32602;
/// The error for a request the client cancelled, where the transport must
/// answer something (a JSON-only POST); elsewhere nothing is sent.
pub const CANCELLED: i64 = -32800;

/// Where notifications for the client go while its request runs.
pub type Notify = mpsc::UnboundedSender<Value>;

/// How a method fails: a JSON-RPC error, or an HTTP error (an unknown pack,
/// a refused key, an unavailable database) where the transport has one.
pub enum Answer {
    Rpc(i64, String),
    Http(Error),
    /// The client cancelled the request: the specification says not to
    /// answer it (clients report an answer to a cancelled request as one for
    /// an unknown id).
    Cancelled,
}

impl From<Error> for Answer {
    fn from(err: Error) -> Self {
        Self::Http(err)
    }
}

/// One message from a client of a pack.
pub struct Incoming<'a> {
    pub caller: &'a Caller,
    /// The pack the caller was admitted to.
    pub pack: &'a Pack,
    pub message: &'a Value,
    /// Where progress notifications go, when the transport can send them.
    pub notify: Option<&'a Notify>,
    /// The legacy SSE session the message came on: request ids are the
    /// session's own. Streamable HTTP has none (the gateway keeps no
    /// sessions), so its ids are only the caller's.
    pub session: Option<&'a str>,
}

/// Requests in flight, by (caller, pack, session, request id), so that the
/// client's `notifications/cancelled` can stop them.
///
/// Clients number their requests from the same start, so two clients of one
/// key without sessions (Streamable HTTP) can have a request with the same
/// id in flight: a cancellation is then ambiguous, and stops neither rather
/// than another client's call (each still ends when its client goes away).
#[derive(Default)]
pub struct InFlight {
    calls: Mutex<HashMap<String, Vec<(u64, CancellationToken)>>>,
    next: AtomicU64,
}

impl InFlight {
    fn key(incoming: &Incoming<'_>, id: &Value) -> String {
        format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{id}",
            incoming.caller.actor(),
            incoming.caller.subject().unwrap_or_default(),
            incoming.pack.id,
            incoming.session.unwrap_or_default(),
        )
    }

    /// Records a request in flight under `key` until the guard is dropped
    /// (answered, cancelled, or abandoned by a client that went away).
    fn start(&self, key: String) -> Running<'_> {
        let serial = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        (lock(&self.calls).entry(key.clone()).or_default()).push((serial, token.clone()));
        Running {
            in_flight: self,
            key,
            serial,
            token,
        }
    }

    /// Cancels request `id` of this caller, pack and session, if it is
    /// running here and is the only one with that id.
    fn cancel(&self, incoming: &Incoming<'_>, id: &Value) {
        if let Some([(_, token)]) = lock(&self.calls)
            .get(&Self::key(incoming, id))
            .map(Vec::as_slice)
        {
            token.cancel();
        }
    }

    /// How many requests are in flight.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.calls).values().map(Vec::len).sum()
    }
}

/// A request in [`InFlight`]; forgotten when dropped.
struct Running<'a> {
    in_flight: &'a InFlight,
    key: String,
    serial: u64,
    token: CancellationToken,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut calls = lock(&self.in_flight.calls);
        if let Some(running) = calls.get_mut(&self.key) {
            running.retain(|(serial, _)| *serial != self.serial);
            if running.is_empty() {
                calls.remove(&self.key);
            }
        }
    }
}

/// Answers one message: `Some((id, answer))` for a request, `None` for a
/// notification or a response (nothing to answer).
pub async fn dispatch(
    gateway: &Gateway,
    incoming: Incoming<'_>,
) -> Option<(Value, Result<Value, Answer>)> {
    let message = incoming.message;
    let method = message.get("method").and_then(Value::as_str)?;
    let Some(id) = message.get("id").cloned() else {
        if method == "notifications/cancelled" {
            gateway
                .in_flight
                .cancel(&incoming, &message["params"]["requestId"]);
        }
        return None;
    };
    let answer = match method {
        "initialize" => initialize(&incoming),
        "ping" => Ok(json!({})),
        "tools/list" => tools_list(gateway, &incoming).await,
        "prompts/list" => listed(gateway, &incoming, CapabilityKind::Prompt).await,
        "resources/list" => listed(gateway, &incoming, CapabilityKind::Resource).await,
        "resources/templates/list" => {
            listed(gateway, &incoming, CapabilityKind::ResourceTemplate).await
        }
        "tools/call" | "prompts/get" | "resources/read" => {
            cancellable(gateway, &incoming, &id, method).await
        }
        other => Err(Answer::Rpc(
            -32601,
            format!("the pack gateway does not serve {}", clip(other, 100)),
        )),
    };
    metrics::counter!("mcp_registry_gateway_requests_total", "method" => known(method),
        "outcome" => if answer.is_ok() { "ok" } else { "error" })
    .increment(1);
    Some((id, answer))
}

/// Runs a call that reaches an upstream until it answers or the client
/// cancels it.
async fn cancellable(
    gateway: &Gateway,
    incoming: &Incoming<'_>,
    id: &Value,
    method: &str,
) -> Result<Value, Answer> {
    let running = gateway.in_flight.start(InFlight::key(incoming, id));
    let work = async {
        match method {
            "tools/call" => tools_call(gateway, incoming).await,
            "prompts/get" => prompts_get(gateway, incoming).await,
            _ => resources_read(gateway, incoming).await,
        }
    };
    tokio::select! {
        answer = work => answer,
        () = running.token.cancelled() => Err(Answer::Cancelled),
    }
}

/// `initialize`: the protocol version the client asked for when the gateway
/// speaks it, else the newest it speaks; the pack must be the caller's.
fn initialize(incoming: &Incoming<'_>) -> Result<Value, Answer> {
    let pack = incoming.pack;
    let asked = incoming.message["params"]["protocolVersion"]
        .as_str()
        .unwrap_or_default();
    let version = PROTOCOL_VERSIONS
        .iter()
        .find(|v| **v == asked)
        .unwrap_or(&PROTOCOL_VERSIONS[0]);
    Ok(json!({
        "protocolVersion": version,
        "capabilities": {
            "tools": {"listChanged": true},
            "prompts": {"listChanged": true},
            "resources": {"subscribe": false, "listChanged": true},
        },
        "serverInfo": {"name": "mcp-registry", "title": pack.name, "version": env!("CARGO_PKG_VERSION")},
        "instructions": pack.description,
    }))
}

/// The page of `items` the request's cursor asks for, as `{field: [...]}`
/// with `nextCursor` when more follow.
fn page(incoming: &Incoming<'_>, field: &str, items: &[Value]) -> Result<Value, Answer> {
    let start = match incoming.message["params"]["cursor"].as_str() {
        None => 0,
        Some(cursor) => cursor.parse::<usize>().map_err(|_| {
            Answer::Rpc(
                INVALID_PARAMS,
                format!("cursor {:?} is not one this gateway gave", clip(cursor, 40)),
            )
        })?,
    };
    let total = items.len();
    let end = start.saturating_add(PAGE).min(total);
    let shown = items.get(start..end).unwrap_or_default();
    let mut result = json!({ field: shown });
    if end < total {
        result["nextCursor"] = json!(end.to_string());
    }
    Ok(result)
}

/// `tools/list`: the pack's tools at its current version (ResolvePack).
async fn tools_list(gateway: &Gateway, incoming: &Incoming<'_>) -> Result<Value, Answer> {
    let offering = offering(gateway, incoming).await?;
    page(incoming, "tools", &offering.listed)
}

/// The pack's current resolution, from the answer cache.
async fn offering(gateway: &Gateway, incoming: &Incoming<'_>) -> Result<Arc<Offering>, Answer> {
    let id = incoming.pack.id.clone();
    Ok(gateway
        .resolutions
        .resolve(&gateway.packs, incoming.caller, id, 0)
        .await?)
}

/// `prompts/list`, `resources/list`, `resources/templates/list`.
async fn listed(
    gateway: &Gateway,
    incoming: &Incoming<'_>,
    kind: CapabilityKind,
) -> Result<Value, Answer> {
    let offered = gateway.packs.offer(incoming.pack, kind).await?;
    let (field, key) = shown_field(kind);
    let items: Vec<Value> = offered.iter().map(|o| shown(o, key)).collect();
    page(incoming, field, &items)
}

/// The list field and the item key that the gateway namespaces.
fn shown_field(kind: CapabilityKind) -> (&'static str, &'static str) {
    match kind {
        CapabilityKind::Tool => ("tools", "name"),
        CapabilityKind::Prompt => ("prompts", "name"),
        CapabilityKind::Resource => ("resources", "uri"),
        CapabilityKind::ResourceTemplate => ("resourceTemplates", "uriTemplate"),
    }
}

/// An item as listed: its upstream definition, field for field, under the
/// name or URI the gateway shows.
fn shown(item: &Offered, key: &str) -> Value {
    with_field(&item.definition, key, &item.shown)
}

/// `tools/call`: the tool must be offered by the pack's current version
/// (member, enabled, allowed, not hidden, approved: ResolvePack's rules),
/// then it is called upstream by its own name (an alias is the pack's name
/// for it; approval is judged on the upstream name and definition). The result passes through unchanged; an upstream failure
/// is a result with `isError` naming the failure kind. Every call, refused or
/// cancelled ones too, leaves a call record ([`Recorder`]), never with its
/// arguments or result.
async fn tools_call(gateway: &Gateway, incoming: &Incoming<'_>) -> Result<Value, Answer> {
    let params = &incoming.message["params"];
    let called = params["name"].as_str().unwrap_or_default();
    // Records the call when dropped, whatever the exit (cancelled included).
    let mut record = Recorder::start(&gateway.calls, incoming.caller, incoming.pack, called);
    record.outcome(CallOutcome::Refused, "invalid_params");
    let name = required_str(params, "name", "the tool's name")?;
    let arguments = arguments(params)?;
    record.outcome(CallOutcome::Refused, "unavailable");
    let offering = offering(gateway, incoming).await?;
    let Some(tool) = offering.tool(name) else {
        record.outcome(CallOutcome::Refused, "not_offered");
        return Err(Answer::Rpc(
            INVALID_PARAMS,
            not_offered(name, &offering.resolution.excluded),
        ));
    };
    record.tool(&tool.server_id, &tool.name);
    record.outcome(CallOutcome::Refused, "server_unavailable");
    let server = member(gateway, incoming.caller, &tool.server_id).await?;
    record.outcome(CallOutcome::Error, "cancelled");
    let approved = (server.approval_policy == ApprovalPolicy::RequireAll)
        .then_some(tool.definition_hash.as_str());
    let request = UpstreamRequest::call(&tool.name, arguments, approved);
    let started = Instant::now();
    let called = upstream(gateway, incoming, &server, request).await;
    let outcome = match &called {
        Ok(UpstreamOutcome::Result(result)) if result["isError"] == true => "tool_error",
        Ok(UpstreamOutcome::Result(_)) => "ok",
        Ok(UpstreamOutcome::Error { .. }) => "rpc_error",
        Ok(UpstreamOutcome::Changed { .. }) => "changed",
        Err(_) => "upstream_failed",
    };
    record.outcome(
        match outcome {
            "ok" | "tool_error" => CallOutcome::Ok,
            "changed" => CallOutcome::Refused,
            _ => CallOutcome::Error,
        },
        if outcome == "ok" { "" } else { outcome },
    );
    // Bounded labels only: pack and server ids would make a series each.
    metrics::counter!("mcp_registry_gateway_calls_total", "outcome" => outcome).increment(1);
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!("mcp_registry_gateway_call_seconds").record(seconds);
    // Which pack and server: in the log line, which can name them.
    tracing::info!(pack_id = %incoming.pack.id, server_id = %server.id, tool = %tool.name, outcome,
        ms = seconds * 1000.0, "gateway tools/call");
    match called {
        Ok(UpstreamOutcome::Changed { .. }) => {
            // The registry records the change (approval dropped, a run with
            // the diff, an event) by syncing the server.
            gateway
                .syncer
                .spawn_sync((*server).clone(), Trigger::Manual);
            Err(Answer::Rpc(
                INVALID_PARAMS,
                format!(
                    "tool {name:?} changed since approval: the upstream presents another definition; \
                     a sync records the change, approve the tool again to call it"
                ),
            ))
        }
        other => passed(other, true),
    }
}

/// `prompts/get`: a prompt the pack offers, got from its member.
async fn prompts_get(gateway: &Gateway, incoming: &Incoming<'_>) -> Result<Value, Answer> {
    let params = &incoming.message["params"];
    let name = required_str(params, "name", "the prompt's name")?;
    let offered = gateway
        .packs
        .offer(incoming.pack, CapabilityKind::Prompt)
        .await?;
    let Some(prompt) = offered.iter().find(|p| p.shown == name) else {
        return Err(Answer::Rpc(
            INVALID_PARAMS,
            format!("this pack offers no prompt named {:?}", clip(name, 200)),
        ));
    };
    let server = member(gateway, incoming.caller, &prompt.server_id).await?;
    let mut upstream_params = json!({"name": prompt.key});
    if let Some(arguments) = params.get("arguments").filter(|a| !a.is_null()) {
        upstream_params["arguments"] = arguments.clone();
    }
    let request = UpstreamRequest {
        method: "prompts/get",
        params: upstream_params,
        approved: None,
        progress: None,
        subject: None,
    };
    passed(upstream(gateway, incoming, &server, request).await, false)
}

/// `resources/read`: a resource of a member, by the URI the gateway showed;
/// the contents' URIs are shown the same way.
async fn resources_read(gateway: &Gateway, incoming: &Incoming<'_>) -> Result<Value, Answer> {
    let uri = required_str(&incoming.message["params"], "uri", "the resource's URI")?;
    let (server_id, upstream_uri) = match gateway.packs.resource_server(incoming.pack, uri).await {
        Ok(found) => found,
        Err(Error::NotFound { .. }) => {
            return Err(Answer::Rpc(
                INVALID_PARAMS,
                format!(
                    "resource {:?} is not offered by this pack (its URIs start with {RESOURCE_SCHEME}<server>/)",
                    clip(uri, 200)
                ),
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let server = member(gateway, incoming.caller, &server_id).await?;
    let prefix = uri
        .get(..uri.len().saturating_sub(upstream_uri.len()))
        .unwrap_or_default()
        .to_owned();
    let request = UpstreamRequest {
        method: "resources/read",
        params: json!({"uri": upstream_uri}),
        approved: None,
        progress: None,
        subject: None,
    };
    let mut result = passed(upstream(gateway, incoming, &server, request).await, false)?;
    if let Some(contents) = result.get_mut("contents").and_then(Value::as_array_mut) {
        for content in contents {
            if let Some(own) = content.get("uri").and_then(Value::as_str) {
                content["uri"] = json!(format!("{prefix}{own}"));
            }
        }
    }
    Ok(result)
}

/// A member server with its sealed secrets, read with the caller's rights
/// (from the answer cache).
async fn member(
    gateway: &Gateway,
    caller: &Caller,
    server_id: &str,
) -> Result<Arc<McpServer>, Answer> {
    let lookup = Lookup::Id(server_id.to_owned());
    Ok(gateway
        .members
        .get(&gateway.servers, caller, lookup)
        .await?
        .0)
}

/// Sends `request` upstream for the caller's end user (a per-subject OAuth
/// server is called with that user's own connection); with a client progress
/// token and somewhere to send notifications, the upstream's progress is
/// relayed under the client's token as it arrives.
async fn upstream(
    gateway: &Gateway,
    incoming: &Incoming<'_>,
    server: &McpServer,
    mut request: UpstreamRequest<'_>,
) -> Result<UpstreamOutcome, AttemptFailure> {
    request.subject = incoming.caller.subject();
    let token = incoming.message["params"]["_meta"]["progressToken"].clone();
    let (Some(notify), false) = (incoming.notify, token.is_null()) else {
        return gateway
            .syncer
            .request(server, request, gateway.call_timeout)
            .await;
    };
    let (sink, mut progress) = mpsc::unbounded_channel::<Value>();
    request.progress = Some(&sink);
    let call = gateway
        .syncer
        .request(server, request, gateway.call_timeout);
    tokio::pin!(call);
    let relay = |mut message: Value| {
        if message.get("method").and_then(Value::as_str) == Some("notifications/progress") {
            message["params"]["progressToken"] = token.clone();
            let _ = notify.send(message);
        }
    };
    let outcome = loop {
        tokio::select! {
            outcome = &mut call => break outcome,
            Some(message) = progress.recv() => relay(message),
        }
    };
    while let Ok(message) = progress.try_recv() {
        relay(message);
    }
    outcome
}

/// What the client gets for an upstream's answer: its result unchanged, its
/// JSON-RPC error, or (for tools, as the spec wants) a failed result naming
/// the failure kind; for prompts and resources a JSON-RPC error.
fn passed(outcome: Result<UpstreamOutcome, AttemptFailure>, tool: bool) -> Result<Value, Answer> {
    let failure = match outcome {
        Ok(UpstreamOutcome::Result(result)) => return Ok(result),
        Ok(UpstreamOutcome::Error { code, message }) => return Err(Answer::Rpc(code, message)),
        Ok(UpstreamOutcome::Changed { .. }) => {
            "upstream protocol error: the tool changed".to_owned()
        }
        Err(AttemptFailure::Upstream(err)) => {
            format!("upstream {}: {}", failure_kind(&err), err.message)
        }
        Err(_) => {
            "upstream credentials unusable: the stored credentials cannot be opened".to_owned()
        }
    };
    if tool {
        Ok(json!({"content": [{"type": "text", "text": failure}], "isError": true}))
    } else {
        Err(Answer::Rpc(-32603, failure))
    }
}

fn required_str<'a>(params: &'a Value, field: &str, what: &str) -> Result<&'a str, Answer> {
    params[field].as_str().ok_or_else(|| {
        Answer::Rpc(
            INVALID_PARAMS,
            format!("params.{field} ({what}) is required"),
        )
    })
}

fn arguments(params: &Value) -> Result<Value, Answer> {
    match &params["arguments"] {
        Value::Null => Ok(json!({})),
        Value::Object(_) => Ok(params["arguments"].clone()),
        _ => Err(Answer::Rpc(
            INVALID_PARAMS,
            "params.arguments must be an object".into(),
        )),
    }
}

/// Why `name` (a qualified name or an alias) is not offered: the exclusion
/// ResolvePack gives it, if any.
fn not_offered(name: &str, excluded: &[ExcludedTool]) -> String {
    let reason = excluded
        .iter()
        .find(|e| e.alias.as_deref() == Some(name))
        .or_else(|| {
            excluded.iter().find(|e| {
                !e.tool_name.is_empty() && format!("{}__{}", e.server_name, e.tool_name) == name
            })
        })
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
        Exclusion::Hidden => "this pack hides it",
        Exclusion::NotListed => "this pack offers only the tools its settings list",
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
        UpstreamFailure::AuthRequired => "authorization required (UPSTREAM_AUTH_REQUIRED)",
        UpstreamFailure::ProtocolError => "protocol error",
    }
}

/// The metric label of a method: the known ones, else `other`.
fn known(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/templates/list",
        "resources/read",
    ];
    KNOWN.into_iter().find(|k| *k == method).unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    static PACK: std::sync::LazyLock<Pack> = std::sync::LazyLock::new(|| Pack {
        id: "pack_1".into(),
        organization_id: "org_1".into(),
        name: "dev".into(),
        description: String::new(),
        members: Vec::new(),
        version: 1,
        created_at: Default::default(),
        updated_at: Default::default(),
        created_by: String::new(),
        modified_by: String::new(),
        created_by_subject: None,
        modified_by_subject: None,
    });

    fn incoming<'a>(
        caller: &'a Caller,
        message: &'a Value,
        session: Option<&'a str>,
    ) -> Incoming<'a> {
        Incoming {
            caller,
            pack: &PACK,
            message,
            notify: None,
            session,
        }
    }

    fn member(key_id: &str) -> Caller {
        Caller::Member {
            key_id: key_id.into(),
            organization_id: "org_1".into(),
            role: crate::registry::Role::Member,
            packs: None,
            subject: None,
        }
    }

    #[test]
    fn a_request_is_forgotten_when_its_guard_is_dropped_even_unanswered() {
        let in_flight = InFlight::default();
        let caller = member("key_a");
        let message = json!({});
        let request = incoming(&caller, &message, None);
        let first = in_flight.start(InFlight::key(&request, &json!(1)));
        let second = in_flight.start(InFlight::key(&request, &json!(2)));
        assert_eq!(in_flight.len(), 2);
        drop(first);
        assert_eq!(in_flight.len(), 1);
        drop(second);
        assert_eq!(in_flight.len(), 0);
        assert!(lock(&in_flight.calls).is_empty());
    }

    #[test]
    fn a_cancellation_stops_only_the_request_of_its_own_session() {
        let in_flight = InFlight::default();
        let caller = member("key_a");
        let message = json!({});
        let (a, b) = (
            incoming(&caller, &message, Some("s1")),
            incoming(&caller, &message, Some("s2")),
        );
        let on_a = in_flight.start(InFlight::key(&a, &json!(5)));
        let on_b = in_flight.start(InFlight::key(&b, &json!(5)));
        in_flight.cancel(&a, &json!(5));
        assert!(on_a.token.is_cancelled());
        assert!(!on_b.token.is_cancelled(), "another session's request 5");
    }

    #[test]
    fn an_ambiguous_cancellation_stops_no_request() {
        let in_flight = InFlight::default();
        let (caller, other) = (member("key_a"), member("key_b"));
        let message = json!({});
        let (a, b) = (
            incoming(&caller, &message, None),
            incoming(&other, &message, None),
        );
        let first = in_flight.start(InFlight::key(&a, &json!(5)));
        let second = in_flight.start(InFlight::key(&a, &json!(5)));
        let elsewhere = in_flight.start(InFlight::key(&b, &json!(5)));
        in_flight.cancel(&a, &json!(5));
        assert!(!first.token.is_cancelled() && !second.token.is_cancelled());
        drop(second);
        in_flight.cancel(&a, &json!(5));
        assert!(
            first.token.is_cancelled(),
            "unambiguous once the other ended"
        );
        assert!(!elsewhere.token.is_cancelled(), "another key's request 5");
    }
}
