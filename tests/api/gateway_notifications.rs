//! Registry → clients: a client's stream on a pack's gateway endpoint (the
//! Streamable HTTP GET stream, a legacy SSE session) hears
//! `notifications/*/list_changed` whenever what the pack offers changes:
//! an approval, a sync that changed a tool, a settings change, a member
//! removed or added, a server disabled — made on this replica or on another.

use std::collections::BTreeSet;
use std::time::Duration;

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

use crate::gateway::{Upstream, call, echo_result, request, upstream_pack_of, upstreams};
use crate::helpers::{Auth, Backend, Instance, TestApp, TestDatabase, org_with_admin_key, server};
use crate::mcp::{McpServer, tool};

/// Opens an event stream at `url` as `auth` and returns the `method` of each
/// JSON-RPC message that arrives on it.
async fn listen(url: &str, auth: &Auth) -> mpsc::UnboundedReceiver<String> {
    let mut response = reqwest::Client::new()
        .get(url)
        .header("accept", "text/event-stream")
        .header("x-api-key", auth.key_id())
        .header("x-api-secret", auth.secret())
        .send()
        .await
        .expect("the gateway answers the GET");
    assert_eq!(response.status().as_u16(), 200, "an event stream for {url}");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                for data in event.lines().filter_map(|l| l.strip_prefix("data: ")) {
                    let message: Value = serde_json::from_str(data).unwrap_or_default();
                    if let Some(method) = message["method"].as_str() {
                        let _ = tx.send(method.to_owned());
                    }
                }
            }
        }
    });
    rx
}

/// Forgets what arrived so far.
fn drain(rx: &mut mpsc::UnboundedReceiver<String>) {
    while rx.try_recv().is_ok() {}
}

/// The notifications of the next change: the first to arrive (within 10 s)
/// and any that follow it within half a second.
async fn next_changes(rx: &mut mpsc::UnboundedReceiver<String>, what: &str) -> BTreeSet<String> {
    let first = timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no notification after {what}"))
        .expect("the stream is open");
    let mut seen = BTreeSet::from([first]);
    let until = Instant::now() + Duration::from_millis(500);
    while let Ok(Some(more)) = tokio::time::timeout_at(until, rx.recv()).await {
        seen.insert(more);
    }
    seen
}

fn short(changes: &BTreeSet<String>) -> Vec<&str> {
    changes
        .iter()
        .map(|m| {
            m.trim_start_matches("notifications/")
                .trim_end_matches("/list_changed")
        })
        .collect()
}

fn upstream() -> McpServer {
    McpServer::new()
        .tool("echo", "Echoes its text")
        .prompt("greet", "Says hello")
        .bearer("t0k")
        .on("tools/call", echo_result)
}

async fn approve_all(app: &TestApp, u: &Upstream) {
    app.servers_as(&u.served.org.admin)
        .approve_tools(pb::ApproveToolsRequest {
            server_id: u.server_id.clone(),
            all_tools: true,
            ..Default::default()
        })
        .await
        .expect("approve");
}

async fn set_enabled(app: &TestApp, u: &Upstream, enabled: bool) {
    app.servers_as(&u.served.org.admin)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(pb::McpServer {
                id: u.server_id.clone(),
                enabled: Some(enabled),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["enabled".into()],
            }),
        })
        .await
        .expect("enable or disable");
}

async fn tool_names(u: &Upstream) -> Vec<String> {
    let (_, _, body) = call(
        &u.url,
        &u.served.org.member,
        request("tools/list", serde_json::json!({})),
    )
    .await;
    body["result"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn a_clients_stream_hears_every_change_of_what_the_pack_offers(app: TestApp) {
    let u = upstream_pack_of(&app, upstream(), "t0k", pb::ApprovalPolicy::RequireAll).await;
    let member = &u.served.org.member;
    let mut stream = listen(&u.url, member).await;
    let mut legacy = listen(&format!("{}/sse", u.url), member).await;
    assert!(tool_names(&u).await.is_empty(), "nothing approved yet");

    approve_all(&app, &u).await;
    assert_eq!(
        short(&next_changes(&mut stream, "an approval").await),
        ["tools"]
    );
    assert_eq!(
        short(&next_changes(&mut legacy, "an approval (legacy)").await),
        ["tools"]
    );
    assert_eq!(tool_names(&u).await, ["echoer__echo"]);

    // A sync finds the tool changed: its approval no longer holds.
    drain(&mut stream);
    u.upstream
        .set_tools([tool("echo", "Now also deletes files")]);
    app.sync(&u.served.org.admin, &u.server_id).await;
    assert!(
        next_changes(&mut stream, "a sync that changed a tool")
            .await
            .contains("notifications/tools/list_changed")
    );
    assert!(tool_names(&u).await.is_empty());
    approve_all(&app, &u).await;
    assert!(
        next_changes(&mut stream, "a second approval")
            .await
            .contains("notifications/tools/list_changed")
    );

    // The pack renames the tool (its curation settings).
    drain(&mut stream);
    app.packs_as(member)
        .update_pack_server_tools(pb::UpdatePackServerToolsRequest {
            pack_id: u.served.pack.id.clone(),
            server: Some(pb::PackServer {
                server_id: u.server_id.clone(),
                name: String::new(),
            }),
            tool_settings: Some(pb::PackToolSettings {
                only_listed_tools: false,
                tools: vec![pb::PackToolSetting {
                    tool_name: "echo".into(),
                    alias: "repeat".into(),
                    ..Default::default()
                }],
            }),
            etag: String::new(),
        })
        .await
        .expect("alias the tool");
    assert_eq!(
        short(&next_changes(&mut stream, "a settings change").await),
        ["tools"]
    );
    assert_eq!(tool_names(&u).await, ["repeat"]);

    // The member leaves the pack, and comes back.
    drain(&mut stream);
    let packs = || app.packs_as(member);
    packs()
        .remove_pack_server(pb::RemovePackServerRequest {
            pack_id: u.served.pack.id.clone(),
            server: Some(pb::PackServer {
                server_id: u.server_id.clone(),
                name: String::new(),
            }),
            etag: String::new(),
        })
        .await
        .expect("remove the member");
    assert_eq!(
        short(&next_changes(&mut stream, "a member removal").await),
        ["prompts", "tools"]
    );
    packs()
        .add_pack_server(pb::AddPackServerRequest {
            pack_id: u.served.pack.id.clone(),
            server: Some(pb::PackServer {
                server_id: u.server_id.clone(),
                name: String::new(),
            }),
            etag: String::new(),
        })
        .await
        .expect("add the member back");
    assert_eq!(
        short(&next_changes(&mut stream, "a member added").await),
        ["prompts", "tools"]
    );

    // The server is disabled.
    drain(&mut stream);
    set_enabled(&app, &u, false).await;
    assert_eq!(
        short(&next_changes(&mut stream, "a server disabled").await),
        ["prompts", "tools"]
    );
}

async fn the_stream_needs_a_key_that_may_use_the_pack(app: TestApp) {
    let u = upstream_pack_of(&app, upstream(), "t0k", pb::ApprovalPolicy::RequireNone).await;
    let no_key = reqwest::Client::new()
        .get(&u.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("answers");
    assert_eq!(no_key.status().as_u16(), 401);
    let other = app.org("other", Plan::Pro).await;
    let foreign = reqwest::Client::new()
        .get(&u.url)
        .header("accept", "text/event-stream")
        .header("x-api-key", other.member.key_id())
        .header("x-api-secret", other.member.secret())
        .send()
        .await
        .expect("answers");
    assert_eq!(foreign.status().as_u16(), 403);
    // The pack is deleted while a client listens: its stream ends.
    let mut stream = listen(&u.url, &u.served.org.member).await;
    app.packs_as(&u.served.org.admin)
        .delete_pack(pb::DeletePackRequest {
            id: u.served.pack.id.clone(),
            ..Default::default()
        })
        .await
        .expect("delete the pack");
    let ended = timeout(Duration::from_secs(10), async {
        while stream.recv().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream of a deleted pack ends");
}

/// The Python SDK's client, listening (tests/fixtures/gateway_listener.py)
/// over `transport`: its first line once it listed the tools.
async fn python_listener(
    u: &Upstream,
    pythonpath: &str,
    transport: &str,
) -> (
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) {
    use tokio::io::AsyncBufReadExt;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gateway_listener.py"
    );
    let auth = &u.served.org.member;
    let mut child = tokio::process::Command::new("python3")
        .args([script, &u.url, auth.key_id(), auth.secret(), transport])
        .env("PYTHONPATH", pythonpath)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the Python client");
    let stdout = child.stdout.take().expect("stdout");
    (child, tokio::io::BufReader::new(stdout).lines())
}

/// The next JSON line the client prints (within a minute).
async fn line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> Value {
    let line = timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the client printed within a minute")
        .expect("read the client")
        .expect("the client printed a line");
    serde_json::from_str(&line).expect("JSON")
}

async fn the_python_sdk_client_hears_an_approval_over_both_transports(app: TestApp) {
    let Some(pythonpath) = crate::helpers::python_sdk_path() else {
        return;
    };
    let u = upstream_pack_of(&app, upstream(), "t0k", pb::ApprovalPolicy::RequireAll).await;
    let (mut http, mut http_lines) = python_listener(&u, &pythonpath, "http").await;
    let (mut sse, mut sse_lines) = python_listener(&u, &pythonpath, "sse").await;
    let nothing: Vec<String> = Vec::new();
    assert_eq!(
        line(&mut http_lines).await["ready"],
        serde_json::json!(nothing)
    );
    assert_eq!(
        line(&mut sse_lines).await["ready"],
        serde_json::json!(nothing)
    );
    approve_all(&app, &u).await;
    assert_eq!(
        line(&mut http_lines).await["changed"],
        serde_json::json!(["echoer__echo"])
    );
    assert_eq!(
        line(&mut sse_lines).await["changed"],
        serde_json::json!(["echoer__echo"])
    );
    for child in [&mut http, &mut sse] {
        let status = timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("ends")
            .expect("status");
        assert!(status.success(), "the Python client ended with {status}");
    }
}

crate::on_both_backends_with!(super::super::gateway::upstreams();
    a_clients_stream_hears_every_change_of_what_the_pack_offers,
);

crate::on_sqlite_with!(super::super::gateway::upstreams();
    the_stream_needs_a_key_that_may_use_the_pack,
    the_python_sdk_client_hears_an_approval_over_both_transports,
);

/// Two replicas on one PostgreSQL database: a change made on one reaches a
/// client listening on the other (through the change notifications).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_another_replica_reaches_a_stream_on_this_one() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let master_key = mcp_registry::crypto::Keyring::generate_entry("test").expect("key");
    let options = upstreams();
    let a = Instance::start(&database, &master_key, &options).await;
    let b = Instance::start(&database, &master_key, &options).await;
    let store = mcp_registry::store::Store::connect(&database.url)
        .await
        .expect("store");
    let (_, admin) = org_with_admin_key(&store, "acme", Plan::Pro).await;
    let fake = upstream().start().await;
    let mut servers = pb::mcp_server_service_client::McpServerServiceClient::with_interceptor(
        a.channel.clone(),
        admin.clone(),
    );
    let mut input = server("echoer");
    input.url = fake.url("/mcp");
    input.credentials = crate::helpers::bearer("t0k");
    input.approval_policy = pb::ApprovalPolicy::RequireAll as i32;
    let created = servers
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(input),
        })
        .await
        .expect("create on a")
        .into_inner();
    pb::sync_service_client::SyncServiceClient::with_interceptor(a.channel.clone(), admin.clone())
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: created.id.clone(),
            ..Default::default()
        })
        .await
        .expect("sync on a");
    let pack = pb::pack_service_client::PackServiceClient::with_interceptor(
        a.channel.clone(),
        admin.clone(),
    )
    .create_pack(crate::gateway::dev_pack("echo", created.id.clone()))
    .await
    .expect("pack on a")
    .into_inner();
    let on_b = format!(
        "http://{}/mcp/packs/{}",
        b.gateway_addr.expect("b's gateway"),
        pack.id
    );
    let mut stream = listen(&on_b, &admin).await;
    servers
        .approve_tools(pb::ApproveToolsRequest {
            server_id: created.id.clone(),
            all_tools: true,
            ..Default::default()
        })
        .await
        .expect("approve on a");
    assert_eq!(
        short(&next_changes(&mut stream, "an approval on the other replica").await),
        ["tools"]
    );
    a.stop().await;
    b.stop().await;
    database.drop_database().await;
}
