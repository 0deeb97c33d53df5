//! The pack gateway (`--mcp-listen`): a pack's tools served as one MCP
//! endpoint over Streamable HTTP, to raw JSON-RPC and to the Python SDK's
//! client, with the caller's rights.

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use serde_json::{Value, json};

use std::time::Duration;

use crate::helpers::{Auth, Options, Org, TestApp, bearer, loopback, server, synced, tool};
use crate::mcp::{McpServer, Running};

fn gateway() -> Options {
    Options {
        gateway: true,
        ..Options::default()
    }
}

/// An organization, its server "github" with `tools` stored as synced, and
/// a pack "dev" holding it.
pub(crate) struct Served {
    pub org: Org,
    pub pack: pb::Pack,
}

pub(crate) async fn pack_with(app: &TestApp, tools: &[Value]) -> Served {
    let org = app.org("acme", Plan::Pro).await;
    let github = app.create_server(&org.admin, server("github")).await;
    synced(app, &github.id, tools).await;
    let pack = app
        .packs_as(&org.member)
        .create_pack(dev_pack("tools for developers", github.id.clone()))
        .await
        .expect("create pack")
        .into_inner();
    Served { org, pack }
}

/// A request to create pack "dev" of one server.
pub(crate) fn dev_pack(description: &str, server_id: impl Into<String>) -> pb::CreatePackRequest {
    pb::CreatePackRequest {
        pack: Some(pb::Pack {
            name: "dev".into(),
            description: description.into(),
            servers: vec![pb::PackServer {
                server_id: server_id.into(),
                name: String::new(),
            }],
            ..Default::default()
        }),
    }
}

/// The pack's endpoint.
pub(crate) fn endpoint(app: &TestApp, pack_id: &str) -> String {
    let addr = app.gateway_addr.expect("the gateway listens");
    format!("http://{addr}/mcp/packs/{pack_id}")
}

/// POSTs one JSON-RPC message as `auth`; returns the status, the
/// `WWW-Authenticate` header and the body (null when empty).
pub(crate) async fn call(url: &str, auth: &Auth, message: Value) -> (u16, String, Value) {
    call_with(url, auth, &[], message).await
}

/// [`call`] with more request headers.
pub(crate) async fn call_with(
    url: &str,
    auth: &Auth,
    headers: &[(&str, &[u8])],
    message: Value,
) -> (u16, String, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(message.to_string());
    for (name, value) in headers {
        let value = reqwest::header::HeaderValue::from_bytes(value).expect("a header value");
        request = request.header(*name, value);
    }
    match auth {
        Auth::None => {}
        Auth::Pair(key, secret) => {
            request = request
                .header("x-api-key", key)
                .header("x-api-secret", secret)
        }
        Auth::Bearer(key, secret) => request = request.bearer_auth(format!("{key}.{secret}")),
        Auth::Token(key, secret) => {
            request = request.header("x-api-key", format!("{key}.{secret}"))
        }
    }
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    (
        status,
        challenge,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

pub(crate) fn request(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

async fn list_tools(url: &str, auth: &Auth, cursor: Option<&str>) -> Value {
    let params = cursor.map_or(json!({}), |c| json!({"cursor": c}));
    let (status, _, body) = call(url, auth, request("tools/list", params)).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn a_pack_lists_its_resolved_tools_through_the_gateway(app: TestApp) {
    let mut detailed = tool("search");
    detailed["title"] = json!("Search the code");
    detailed["annotations"] = json!({"readOnlyHint": true});
    detailed["x-vendor"] = json!({"kept": [1, 2]});
    let served = pack_with(&app, &[detailed.clone(), tool("issues")]).await;
    let url = endpoint(&app, &served.pack.id);
    let resolved = app
        .packs_as(&served.org.member)
        .resolve_pack(pb::ResolvePackRequest {
            id: served.pack.id.clone(),
            version: 0,
        })
        .await
        .expect("resolve")
        .into_inner();
    let body = list_tools(&url, &served.org.member, None).await;
    let listed = body["result"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = listed.iter().filter_map(|t| t["name"].as_str()).collect();
    let qualified: Vec<&str> = resolved
        .tools
        .iter()
        .map(|t| t.qualified_name.as_str())
        .collect();
    assert_eq!(names, qualified);
    let search = listed
        .iter()
        .find(|t| t["title"] == "Search the code")
        .cloned()
        .expect("search is listed");
    let mut expected = detailed;
    expected["name"] = search["name"].clone();
    assert_eq!(
        search, expected,
        "the definition passes through field for field"
    );
    assert!(body["result"].get("nextCursor").is_none());
}

async fn initialize_answers_the_asked_version_when_the_gateway_speaks_it(app: TestApp) {
    let served = pack_with(&app, &[tool("search")]).await;
    let url = endpoint(&app, &served.pack.id);
    let asked = |version: &str| {
        request(
            "initialize",
            json!({"protocolVersion": version, "capabilities": {}}),
        )
    };
    let (status, _, body) = call(&url, &served.org.viewer, asked("2025-03-26")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["protocolVersion"], "2025-03-26");
    assert_eq!(body["result"]["serverInfo"]["title"], "dev");
    assert!(body["result"]["capabilities"]["tools"].is_object());
    let (_, _, body) = call(&url, &served.org.viewer, asked("1999-01-01")).await;
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
}

async fn a_caller_without_a_valid_key_gets_401_with_a_challenge(app: TestApp) {
    let served = pack_with(&app, &[tool("search")]).await;
    let url = endpoint(&app, &served.pack.id);
    let wrong = Auth::Bearer(served.org.member.key_id().into(), "mcpr_wrong".into());
    for auth in [Auth::None, wrong] {
        let (status, challenge, body) = call(&url, &auth, request("tools/list", json!({}))).await;
        assert_eq!(status, 401, "{body}");
        assert!(challenge.starts_with("Bearer"), "{challenge:?}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
}

async fn a_pack_the_caller_cannot_see_is_not_found(app: TestApp) {
    let served = pack_with(&app, &[tool("search")]).await;
    let unknown = format!("pack_{}", "0".repeat(32));
    for id in [unknown.as_str(), "not-a-pack-id"] {
        let (status, _, _) = call(
            &endpoint(&app, id),
            &served.org.member,
            request("tools/list", json!({})),
        )
        .await;
        assert_eq!(status, 404, "{id}");
    }
}

async fn long_tool_lists_are_paged_with_a_cursor(app: TestApp) {
    let tools: Vec<Value> = (0..120).map(|i| tool(&format!("t{i:03}"))).collect();
    let served = pack_with(&app, &tools).await;
    let url = endpoint(&app, &served.pack.id);
    let first = list_tools(&url, &served.org.member, None).await;
    assert_eq!(first["result"]["tools"].as_array().map(Vec::len), Some(100));
    let cursor = first["result"]["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = list_tools(&url, &served.org.member, Some(&cursor)).await;
    assert_eq!(second["result"]["tools"].as_array().map(Vec::len), Some(20));
    assert!(second["result"].get("nextCursor").is_none());
    let bad = list_tools(&url, &served.org.member, Some("not-a-cursor")).await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
}

async fn what_the_gateway_does_not_serve_is_refused_by_the_protocol(app: TestApp) {
    let served = pack_with(&app, &[tool("search")]).await;
    let url = endpoint(&app, &served.pack.id);
    let member = &served.org.member;
    let (status, _, body) = call(&url, member, request("completion/complete", json!({}))).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (200, json!(-32601))
    );
    let (_, _, body) = call(&url, member, request("tools/call", json!({"name": "nope"}))).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("no tool named"), "{message}");
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, _) = call(&url, member, note).await;
    assert_eq!(status, 202, "a notification is accepted");
    let (status, _, _) = call(&url, member, request("ping", json!({}))).await;
    assert_eq!(status, 200);
    let get = reqwest::Client::new().get(&url).send().await.expect("get");
    assert_eq!(
        get.status().as_u16(),
        405,
        "a GET that does not accept an event stream"
    );
}

/// Runs the Python SDK client against `url` as `auth`, with `extra`
/// arguments (a tool to call and its JSON arguments); returns its JSON.
async fn python_client(url: &str, auth: &Auth, extra: &[&str]) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gateway_tools.py"
    );
    let pythonpath = std::env::var("MCP_REGISTRY_TEST_PYTHONPATH").expect("set by ./scripts/test");
    let output = tokio::process::Command::new("python3")
        .args([script, url, auth.key_id(), auth.secret()])
        .args(extra)
        .env("PYTHONPATH", pythonpath)
        .output()
        .await
        .expect("run the python client");
    assert!(output.status.success(), "python client: {output:?}");
    serde_json::from_slice(&output.stdout).expect("json")
}

async fn the_python_sdk_client_calls_a_tool_through_the_gateway(app: TestApp) {
    let u = upstream_pack(&app, "t0k", pb::ApprovalPolicy::RequireNone).await;
    let arguments = json!({"text": "from python"}).to_string();
    let out = python_client(&u.url, &u.served.org.member, &["echoer__echo", &arguments]).await;
    let call = &out["call"];
    assert_eq!(
        call["content"][0],
        json!({"type": "text", "text": "from python"}),
        "{out}"
    );
    assert_eq!(call["content"][1]["type"], "image", "{out}");
    assert_eq!(
        call["structuredContent"],
        json!({"echoed": "from python"}),
        "{out}"
    );
    assert_eq!(call["isError"], false, "{out}");
}

async fn the_python_sdk_client_lists_a_packs_tools(app: TestApp) {
    let served = pack_with(&app, &[tool("search"), tool("issues")]).await;
    let url = endpoint(&app, &served.pack.id);
    let listing = python_client(&url, &served.org.member, &[]).await;
    assert_eq!(listing["protocolVersion"], "2025-11-25");
    assert_eq!(listing["serverName"], "mcp-registry");
    let mut names: Vec<&str> = (listing["tools"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default())
    .iter()
    .filter_map(|t| t["name"].as_str())
    .collect();
    names.sort_unstable();
    assert_eq!(names, ["github__issues", "github__search"]);
}

/// Options for packs of loopback upstreams: syncs reach 127.0.0.1, and the
/// syncs the service starts itself (a changed tool's) run.
pub(crate) fn upstreams() -> Options {
    Options {
        gateway: true,
        background_sync: true,
        sync_interval: Some(Duration::from_secs(3600)),
        ..loopback()
    }
}

/// What the fake upstream's `echo` answers: every kind of content, with
/// structured content and `_meta`, so that pass-through is visible.
pub(crate) fn echo_result(request: &Value) -> Value {
    let text = request["params"]["arguments"]["text"].clone();
    json!({
        "content": [
            {"type": "text", "text": text},
            {"type": "image", "data": "aGk=", "mimeType": "image/png"},
            {"type": "resource_link", "uri": "file:///echo", "name": "echo"}
        ],
        "structuredContent": {"echoed": text},
        "isError": false,
        "_meta": {"fixture": true}
    })
}

/// A loopback upstream "echo" that demands `token`, registered with it as
/// bearer credentials under `policy`, synced, in pack "dev".
pub(crate) struct Upstream {
    pub served: Served,
    pub upstream: Running,
    pub server_id: String,
    pub url: String,
}

async fn upstream_pack(app: &TestApp, token: &str, policy: pb::ApprovalPolicy) -> Upstream {
    let upstream = McpServer::new()
        .tool("echo", "Echoes its text")
        .bearer(token)
        .on("tools/call", echo_result);
    upstream_pack_of(app, upstream, token, policy).await
}

pub(crate) async fn upstream_pack_of(
    app: &TestApp,
    upstream: McpServer,
    token: &str,
    policy: pb::ApprovalPolicy,
) -> Upstream {
    let upstream = upstream.start().await;
    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("echoer");
    input.url = upstream.url("/mcp");
    input.credentials = bearer(token);
    input.approval_policy = policy as i32;
    let created = app.create_server(&org.admin, input).await;
    app.sync(&org.admin, &created.id).await;
    let pack = app
        .packs_as(&org.member)
        .create_pack(dev_pack("echo", created.id.clone()))
        .await
        .expect("create pack")
        .into_inner();
    let url = endpoint(app, &pack.id);
    Upstream {
        served: Served { org, pack },
        upstream,
        server_id: created.id,
        url,
    }
}

pub(crate) fn echo(text: &str) -> Value {
    request(
        "tools/call",
        json!({"name": "echoer__echo", "arguments": {"text": text}}),
    )
}

async fn a_tool_call_returns_the_upstreams_result_unchanged(app: TestApp) {
    let u = upstream_pack(&app, "s3cret-token", pb::ApprovalPolicy::RequireNone).await;
    let (status, _, body) = call(&u.url, &u.served.org.member, echo("hello")).await;
    assert_eq!(status, 200, "{body}");
    let expected = echo_result(&json!({"params": {"arguments": {"text": "hello"}}}));
    assert_eq!(body["result"], expected);
}

async fn a_tool_call_carries_the_stored_secret_upstream_and_never_back(app: TestApp) {
    let u = upstream_pack(&app, "s3cret-token", pb::ApprovalPolicy::RequireNone).await;
    let (_, _, body) = call(&u.url, &u.served.org.member, echo("hi")).await;
    assert!(!body.to_string().contains("s3cret-token"), "{body}");
    let calls: Vec<_> = u
        .upstream
        .requests()
        .into_iter()
        .filter(|r| r.rpc.as_deref() == Some("tools/call"))
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].header("authorization"), ["Bearer s3cret-token"]);
}

/// Waits until the server has more sync runs than `before`.
async fn runs_after(app: &TestApp, auth: &Auth, server_id: &str, before: usize) -> usize {
    for _ in 0..100 {
        let finished = (app.runs(auth, server_id).await.iter())
            .filter(|r| r.outcome() != pb::SyncOutcome::Running)
            .count();
        if finished > before {
            return finished;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new sync run of {server_id}");
}

async fn approve(app: &TestApp, auth: &Auth, server_id: &str) {
    app.servers_as(auth)
        .approve_tools(pb::ApproveToolsRequest {
            server_id: server_id.into(),
            all_tools: true,
            ..Default::default()
        })
        .await
        .expect("approve");
}

async fn an_unapproved_tool_is_refused_until_it_is_approved(app: TestApp) {
    let u = upstream_pack(&app, "t0k", pb::ApprovalPolicy::RequireAll).await;
    let member = &u.served.org.member;
    let (_, _, body) = call(&u.url, member, echo("x")).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("not approved"), "{message}");
    approve(&app, &u.served.org.admin, &u.server_id).await;
    let (_, _, body) = call(&u.url, member, echo("x")).await;
    assert_eq!(body["result"]["structuredContent"]["echoed"], "x", "{body}");
}

async fn a_tool_changed_since_approval_is_refused_and_its_server_synced(app: TestApp) {
    let u = upstream_pack(&app, "t0k", pb::ApprovalPolicy::RequireAll).await;
    let (admin, member) = (&u.served.org.admin, &u.served.org.member);
    approve(&app, admin, &u.server_id).await;
    let before = runs_after(&app, admin, &u.server_id, 0).await;
    u.upstream
        .set_tools([crate::mcp::tool("echo", "Now also deletes files")]);
    let (_, _, body) = call(&u.url, member, echo("x")).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"echoer__echo\" changed since approval"),
        "{message}"
    );
    assert_eq!(
        u.upstream.paths_of("tools/call").len(),
        0,
        "a changed tool is never called"
    );
    runs_after(&app, admin, &u.server_id, before).await;
    let (_, _, body) = call(&u.url, member, echo("x")).await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("changed since approval"),
        "after the sync: {message}"
    );
    approve(&app, admin, &u.server_id).await;
    let (_, _, body) = call(&u.url, member, echo("x")).await;
    assert_eq!(body["result"]["structuredContent"]["echoed"], "x", "{body}");
}

async fn an_unreachable_upstream_is_a_failed_tool_result(app: TestApp) {
    let u = upstream_pack(&app, "t0k", pb::ApprovalPolicy::RequireNone).await;
    u.upstream.stop();
    let (status, _, body) = call(&u.url, &u.served.org.member, echo("x")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["isError"], true, "{body}");
    let text = body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.starts_with("upstream unreachable"), "{text}");
}

async fn two_hundred_concurrent_calls_all_answer_correctly(app: TestApp) {
    let u = upstream_pack(&app, "t0k", pb::ApprovalPolicy::RequireNone).await;
    let calls = (0..200).map(|i| {
        let (url, member) = (u.url.clone(), u.served.org.member.clone());
        tokio::spawn(async move { (i, call(&url, &member, echo(&format!("call {i}"))).await) })
    });
    for handle in calls.collect::<Vec<_>>() {
        let (i, (status, _, body)) = handle.await.expect("call task");
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["result"]["structuredContent"]["echoed"],
            format!("call {i}"),
            "{body}"
        );
    }
}

/// A 100 MiB answer: the gateway stops reading at the message cap.
async fn an_answer_over_the_message_cap_is_a_failed_result(app: TestApp) {
    let huge = McpServer::new()
        .tool("echo", "Echoes its text")
        .oversized("tools/call", 100 << 20);
    let u = upstream_pack_of(&app, huge, "t0k", pb::ApprovalPolicy::RequireNone).await;
    let (status, _, body) = call(&u.url, &u.served.org.member, echo("x")).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["isError"], true);
    let text = body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.starts_with("upstream protocol error"), "{text}");
    assert!(text.contains("larger than"), "{text}");
}

/// [`upstreams`] with gateway calls cut after three seconds.
fn upstreams_with_short_calls() -> Options {
    Options {
        gateway_call_timeout: Some(Duration::from_secs(3)),
        ..upstreams()
    }
}

async fn a_hanging_member_times_out_while_another_member_answers(app: TestApp) {
    let hanging = McpServer::new()
        .tool("wait", "Never answers")
        .delay("tools/call", Duration::from_secs(3600));
    let u = upstream_pack_of(&app, hanging, "t0k", pb::ApprovalPolicy::RequireNone).await;
    let quick = McpServer::new()
        .tool("echo", "Echoes its text")
        .on("tools/call", echo_result)
        .start()
        .await;
    let org = &u.served.org;
    let mut input = server("quick");
    input.url = quick.url("/mcp");
    let quick_id = app.create_server(&org.admin, input).await.id;
    app.sync(&org.admin, &quick_id).await;
    app.packs_as(&org.member)
        .add_pack_server(pb::AddPackServerRequest {
            pack_id: u.served.pack.id.clone(),
            server: Some(pb::PackServer {
                server_id: quick_id,
                name: String::new(),
            }),
            etag: String::new(),
        })
        .await
        .expect("add the quick member");
    let wait = request(
        "tools/call",
        json!({"name": "echoer__wait", "arguments": {}}),
    );
    let (url, member) = (u.url.clone(), org.member.clone());
    let waiting = tokio::spawn(async move { call(&url, &member, wait).await });
    let quick_call = request(
        "tools/call",
        json!({"name": "quick__echo", "arguments": {"text": "q"}}),
    );
    let (_, _, body) = call(&u.url, &org.member, quick_call).await;
    assert_eq!(body["result"]["structuredContent"]["echoed"], "q", "{body}");
    let (status, _, body) = waiting.await.expect("the hanging call ends");
    assert_eq!(status, 200);
    assert_eq!(body["result"]["isError"], true, "{body}");
    let text = body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.starts_with("upstream timeout"), "{text}");
}

crate::on_sqlite_with!(super::upstreams_with_short_calls();
    a_hanging_member_times_out_while_another_member_answers,
);

/// [`upstreams`] with the metrics listener on.
fn upstreams_with_metrics() -> Options {
    Options {
        metrics: true,
        ..upstreams()
    }
}

async fn gateway_calls_are_counted_by_outcome_and_timed(app: TestApp) {
    let u = upstream_pack(&app, "t0k", pb::ApprovalPolicy::RequireNone).await;
    call(&u.url, &u.served.org.member, echo("x")).await;
    let addr = app.metrics_addr.expect("metrics listener");
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    assert!(
        text.contains("mcp_registry_gateway_calls_total{outcome=\"ok\"}"),
        "{text}"
    );
    assert!(
        text.contains("mcp_registry_gateway_call_seconds_bucket"),
        "{text}"
    );
}

crate::on_sqlite_with!(super::upstreams_with_metrics();
    gateway_calls_are_counted_by_outcome_and_timed,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_serve_one_pack_without_sessions() {
    use crate::helpers::{Backend, Instance, TestDatabase, org_with_admin_key};
    use mcp_registry::pb::{
        mcp_server_service_client::McpServerServiceClient, pack_service_client::PackServiceClient,
        sync_service_client::SyncServiceClient,
    };
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let master_key = mcp_registry::crypto::Keyring::generate_entry("test").expect("key");
    let a = Instance::start(&database, &master_key, &upstreams()).await;
    let b = Instance::start(&database, &master_key, &upstreams()).await;
    let store = mcp_registry::store::Store::connect(&database.url)
        .await
        .expect("store");
    let (_, auth) = org_with_admin_key(&store, "acme", Plan::Pro).await;
    let upstream = McpServer::new()
        .tool("echo", "Echoes its text")
        .on("tools/call", echo_result)
        .start()
        .await;
    let mut input = server("echoer");
    input.url = upstream.url("/mcp");
    let id = crate::helpers::create_id(
        &mut McpServerServiceClient::with_interceptor(a.channel.clone(), auth.clone()),
        input,
    )
    .await;
    SyncServiceClient::with_interceptor(a.channel.clone(), auth.clone())
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("sync");
    let pack = PackServiceClient::with_interceptor(a.channel.clone(), auth.clone())
        .create_pack(dev_pack("echo", id))
        .await
        .expect("pack")
        .into_inner();
    let url = |instance: &Instance| {
        let addr = instance.gateway_addr.expect("gateway");
        format!("http://{addr}/mcp/packs/{}", pack.id)
    };
    let init = request(
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}}),
    );
    let (status, _, _) = call(&url(&a), &auth, init).await;
    assert_eq!(status, 200);
    // No session to carry over: the other replica answers the next calls.
    let (_, _, listed) = call(&url(&b), &auth, request("tools/list", json!({}))).await;
    assert_eq!(
        listed["result"]["tools"][0]["name"], "echoer__echo",
        "{listed}"
    );
    let (_, _, called) = call(&url(&b), &auth, echo("either")).await;
    assert_eq!(
        called["result"]["structuredContent"]["echoed"], "either",
        "{called}"
    );
    a.stop().await;
    b.stop().await;
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_gateway_calls_still_waiting_at_the_end_of_its_grace_period() {
    use crate::helpers::{Backend, TestDatabase, spawn_app};
    let Some(database) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let options = Options {
        shutdown_timeout: Some(Duration::from_secs(1)),
        ..upstreams()
    };
    let (app, guard) = spawn_app(database, options).await;
    let hanging = McpServer::new()
        .tool("echo", "Echoes its text")
        .on("tools/call", echo_result)
        .delay("tools/call", Duration::from_secs(3600));
    let u = upstream_pack_of(&app, hanging, "t0k", pb::ApprovalPolicy::RequireNone).await;
    let (url, member) = (u.url.clone(), u.served.org.member.clone());
    let pending = tokio::spawn(async move { call(&url, &member, echo("x")).await });
    for _ in 0..100 {
        if !u.upstream.paths_of("tools/call").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        u.upstream.paths_of("tools/call").len(),
        1,
        "the call is in flight"
    );
    // The call's own deadline is 60 s: only the grace period can end it sooner.
    let stopped = tokio::time::timeout(Duration::from_secs(20), guard.stop()).await;
    assert!(
        stopped.is_ok(),
        "shutdown waited for a gateway call past its grace period"
    );
    pending.abort();
}

crate::on_both_backends_with!(super::upstreams();
    a_tool_call_returns_the_upstreams_result_unchanged,
    a_tool_changed_since_approval_is_refused_and_its_server_synced,
);

crate::on_sqlite_with!(super::upstreams();
    two_hundred_concurrent_calls_all_answer_correctly,
    an_answer_over_the_message_cap_is_a_failed_result,
    the_python_sdk_client_calls_a_tool_through_the_gateway,
    a_tool_call_carries_the_stored_secret_upstream_and_never_back,
    an_unapproved_tool_is_refused_until_it_is_approved,
    an_unreachable_upstream_is_a_failed_tool_result,
);

crate::on_both_backends_with!(super::gateway();
    a_pack_lists_its_resolved_tools_through_the_gateway,
    a_pack_the_caller_cannot_see_is_not_found,
);

crate::on_sqlite_with!(super::gateway();
    initialize_answers_the_asked_version_when_the_gateway_speaks_it,
    a_caller_without_a_valid_key_gets_401_with_a_challenge,
    long_tool_lists_are_paged_with_a_cursor,
    what_the_gateway_does_not_serve_is_refused_by_the_protocol,
    the_python_sdk_client_lists_a_packs_tools,
);

// Who may use a pack's endpoint (issue 14): keys of another organization,
// platform keys, pack-limited keys, rate budgets and the body limit.

/// Creates a MEMBER key of `org` limited to `packs`, through CreateApiKey.
async fn limited_key(app: &TestApp, org: &str, packs: &[&str]) -> Auth {
    let created = app
        .admin()
        .create_api_key(pb::CreateApiKeyRequest {
            api_key: Some(pb::ApiKey {
                organization_id: org.into(),
                role: pb::Role::Member as i32,
                pack_ids: packs.iter().map(|p| (*p).to_owned()).collect(),
                ..Default::default()
            }),
        })
        .await
        .expect("create limited key")
        .into_inner();
    Auth::Bearer(created.id, created.secret)
}

async fn each_caller_gets_the_documented_answer_from_a_packs_endpoint(app: TestApp) {
    let served = pack_with(&app, &[tool("search")]).await;
    let mut ops = dev_pack("operations", served.pack.servers[0].server_id.clone());
    if let Some(pack) = ops.pack.as_mut() {
        pack.name = "ops".into();
    }
    let ops = app
        .packs_as(&served.org.admin)
        .create_pack(ops)
        .await
        .expect("create ops")
        .into_inner();
    let stranger = app.org("globex", Plan::Pro).await;
    let dev_only = limited_key(&app, &served.org.id, &[&served.pack.id]).await;
    let ops_only = limited_key(&app, &served.org.id, &[&ops.id]).await;
    let dev = endpoint(&app, &served.pack.id);
    let list = || request("tools/list", json!({}));

    for (who, auth, url, expected) in [
        ("another organization's key", &stranger.admin, &dev, 403),
        ("a platform-admin key", &app.platform, &dev, 403),
        ("a key limited to another pack", &ops_only, &dev, 403),
        ("a key limited to this pack", &dev_only, &dev, 200),
        (
            "an unlimited key of the organization",
            &served.org.viewer,
            &dev,
            200,
        ),
    ] {
        let (status, challenge, body) = call(url, auth, list()).await;
        assert_eq!(status, expected, "{who}: {body}");
        assert!(challenge.is_empty(), "{who}: no challenge for a valid key");
        if expected == 403 {
            assert_eq!(body["error"]["code"], -32001, "{who}: {body}");
            assert!(body["error"]["message"].is_string(), "{who}: {body}");
        }
    }
    // The limited key lists its pack's tools, and is refused the other pack
    // for every method, initialize included.
    let body = list_tools(&endpoint(&app, &ops.id), &ops_only, None).await;
    let tools = body["result"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(tools.len(), 1, "{body}");
    let initialize = request("initialize", json!({"protocolVersion": "2025-06-18"}));
    let (status, _, _) = call(&dev, &ops_only, initialize).await;
    assert_eq!(status, 403);
}

async fn a_keys_rate_budget_is_shared_by_the_gateway_and_grpc(app: TestApp) {
    let served = pack_with(&app, &[tool("search")]).await;
    let url = endpoint(&app, &served.pack.id);
    let auth = &served.org.viewer;
    // One call per second, a burst of one: a few calls in a row cannot all pass.
    let mut refused = None;
    for _ in 0..10 {
        let response = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .bearer_auth(format!("{}.{}", auth.key_id(), auth.secret()))
            .body(request("tools/list", json!({})).to_string())
            .send()
            .await
            .expect("gateway answers");
        if response.status().as_u16() == 429 {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status().as_u16(), 200);
    }
    let refused = refused.expect("the limit was reached");
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert_eq!(retry_after, 1, "under a second, rounded up");
    let body: Value = refused.json().await.expect("json body");
    assert_eq!(body["error"]["code"], -32001, "{body}");

    // The same key's budget is spent on gRPC too.
    let status = app
        .packs_as(auth)
        .list_packs(pb::ListPacksRequest::default())
        .await
        .expect_err("the budget is shared");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    // Another key of the organization has its own budget.
    let (status, _, body) = call(&url, &served.org.member2, request("tools/list", json!({}))).await;
    assert_eq!(status, 200, "{body}");
}

async fn a_body_over_the_message_size_limit_is_refused_with_413(app: TestApp) {
    let served = pack_with(&app, &[tool("search")]).await;
    let url = endpoint(&app, &served.pack.id);
    let mut message = request("tools/call", json!({"name": "github__search"}));
    message["params"]["arguments"] = json!({"padding": "x".repeat(4096)});
    let (status, _, _) = call(&url, &served.org.member, message).await;
    assert_eq!(status, 413);
    // A body under the limit is answered.
    let (status, _, _) = call(&url, &served.org.member, request("ping", json!({}))).await;
    assert_eq!(status, 200);
}

async fn a_pack_limited_key_calls_the_tools_of_its_pack(app: TestApp) {
    let u = upstream_pack(&app, "s3cret-token", pb::ApprovalPolicy::RequireNone).await;
    let key = limited_key(&app, &u.served.org.id, &[&u.served.pack.id]).await;
    let (status, _, body) = call(&u.url, &key, echo("limited")).await;
    assert_eq!(status, 200, "{body}");
    let expected = echo_result(&json!({"params": {"arguments": {"text": "limited"}}}));
    assert_eq!(body["result"], expected);
    // A key limited to another pack of the organization cannot call it.
    let mut other = dev_pack("other", u.server_id.clone());
    if let Some(pack) = other.pack.as_mut() {
        pack.name = "other".into();
    }
    let other = app
        .packs_as(&u.served.org.admin)
        .create_pack(other)
        .await
        .expect("create other")
        .into_inner();
    let elsewhere = limited_key(&app, &u.served.org.id, &[&other.id]).await;
    let (status, _, body) = call(&u.url, &elsewhere, echo("refused")).await;
    assert_eq!(status, 403, "{body}");
}

crate::on_both_backends_with!(super::gateway();
    each_caller_gets_the_documented_answer_from_a_packs_endpoint,
);

crate::on_sqlite_with!(super::upstreams();
    a_pack_limited_key_calls_the_tools_of_its_pack,
);

crate::on_sqlite_with!(crate::helpers::Options {
    gateway: true,
    rate_limit: std::num::NonZeroU32::new(1),
    ..crate::helpers::Options::default()
};
    a_keys_rate_budget_is_shared_by_the_gateway_and_grpc,
);

crate::on_sqlite_with!(crate::helpers::Options {
    gateway: true,
    max_message_bytes: Some(2048),
    ..crate::helpers::Options::default()
};
    a_body_over_the_message_size_limit_is_refused_with_413,
);

/// ExportPack's gateway form, used as an MCP client would: the entry's URL
/// and headers, with the key put in for `${MCP_REGISTRY_API_KEY}`, reach the
/// pack's tools.
async fn a_gateway_export_entry_reaches_the_packs_tools(app: TestApp) {
    let served = pack_with(&app, &[tool("search")]).await;
    let exported = app
        .packs_as(&served.org.viewer)
        .export_pack(pb::ExportPackRequest {
            id: served.pack.id.clone(),
            target: pb::ExportTarget::Gateway as i32,
            ..Default::default()
        })
        .await
        .expect("export")
        .into_inner();
    let config: Value = serde_json::from_str(&exported.config_json).expect("JSON");
    let entry = &config["mcpServers"]["dev"];
    assert_eq!(entry["url"], endpoint(&app, &served.pack.id).as_str());
    let key = format!(
        "{}.{}",
        served.org.viewer.key_id(),
        served.org.viewer.secret()
    );
    let mut post = reqwest::Client::new()
        .post(entry["url"].as_str().expect("url"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    for (name, value) in entry["headers"].as_object().expect("headers") {
        let value = value.as_str().expect("text");
        post = post.header(name, value.replace("${MCP_REGISTRY_API_KEY}", &key));
    }
    let response = post
        .body(request("tools/list", json!({})).to_string())
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON-RPC answer");
    assert_eq!(
        body["result"]["tools"][0]["name"], "github__search",
        "{body}"
    );
}

crate::on_both_backends_with!(super::gateway();
    a_gateway_export_entry_reaches_the_packs_tools,
);

/// Seed 002's single header: `x-api-key: <key>.<secret>` alone opens a
/// pack's endpoint like the pair or the bearer form; a lone key that is not
/// the whole token is 401 with the challenge and says what to send.
async fn a_single_x_api_key_header_carrying_the_whole_token_reaches_a_pack(app: TestApp) {
    let served = pack_with(&app, &[tool("search")]).await;
    let url = endpoint(&app, &served.pack.id);
    let body = list_tools(&url, &served.org.viewer.as_token(), None).await;
    assert_eq!(
        body["result"]["tools"][0]["name"], "github__search",
        "{body}"
    );

    let wrong = Auth::Token(served.org.viewer.key_id().into(), "mcpr_wrong".into());
    let (status, challenge, _) = call(&url, &wrong, request("tools/list", json!({}))).await;
    assert_eq!((status, challenge.starts_with("Bearer")), (401, true));

    let response = reqwest::Client::new()
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("x-api-key", served.org.viewer.key_id())
        .body(request("tools/list", json!({})).to_string())
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.expect("JSON-RPC error");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("<key>.<secret>"), "{body}");
}

crate::on_both_backends_with!(super::gateway();
    a_single_x_api_key_header_carrying_the_whole_token_reaches_a_pack,
);
