//! Real MCP clients against the pack gateway (issue 14): the TypeScript
//! SDK's client over Streamable HTTP and SSE, the MCP Inspector's CLI and
//! the Python SDK's client, each using one pack of real servers:
//! server-everything as a Streamable HTTP member ("everything") and as an
//! SSE member ("legacy"), and a Python SDK server ("python",
//! `tests/fixtures/pack_member.py`). They list tools, prompts, resources and
//! templates, call tools (exact results, an image, progress relayed from a
//! long-running tool), cancel a slow call (the upstream sees it; no answer
//! comes for it; another client's call with the same id goes on), read a
//! resource and get prompts. The last test pins the cancellation down on
//! raw HTTP.
//!
//! The clients are installed by `./scripts/test`, which sets the variables
//! naming them; without them the tests are skipped with a message, except
//! with `CI=true`, where they fail.

use std::process::Stdio;
use std::time::Duration;

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use serde_json::{Value, json};

use crate::helpers::{
    Auth, Everything, FixtureProcess, Options, Org, TestApp, everything, loopback, python_sdk_path,
    server,
};
use crate::mcp::McpServer;

/// The path in variable `var` (set by `./scripts/test`), or `None` outside
/// the test command (required with CI=true).
fn installed(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(path) if std::path::Path::new(&path).exists() => Some(path),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true needs {what}: run ./scripts/test, which installs it")
        }
        _ => {
            eprintln!("skipping: {var} is not set (./scripts/test sets it)");
            None
        }
    }
}

/// The TypeScript SDK's package folder.
fn typescript_sdk() -> Option<String> {
    installed(
        "MCP_REGISTRY_TEST_TS_SDK",
        "the TypeScript MCP SDK (@modelcontextprotocol/sdk)",
    )
}

/// The MCP Inspector's command-line entry (`cli/build/cli.js`).
fn inspector() -> Option<String> {
    installed(
        "MCP_REGISTRY_TEST_INSPECTOR",
        "the MCP Inspector (@modelcontextprotocol/inspector)",
    )
}

/// Starts `pack_member.py` (Streamable HTTP at `/mcp`), or `None` outside
/// the test command (required with CI=true).
async fn python_member() -> Option<FixtureProcess> {
    let pythonpath = python_sdk_path()?;
    let port = crate::mcp::free_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pack_member.py");
    let child = tokio::process::Command::new("python3")
        .args([script, &port.to_string()])
        .env("PYTHONPATH", pythonpath)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the python pack member");
    Some(FixtureProcess::listening(child, port, 300, "the python pack member").await)
}

/// A pack "real" of three real servers, synced, and the processes serving
/// them (stopped when dropped).
struct RealPack {
    org: Org,
    /// The pack's Streamable HTTP endpoint (`…/sse` for legacy SSE).
    url: String,
    _members: (Everything, Everything, FixtureProcess),
}

/// Starts the members, registers and syncs them, and makes the pack; `None`
/// when a member is not installed (outside the test command).
async fn real_pack(app: &TestApp) -> Option<RealPack> {
    let (Some(streamable), Some(sse), Some(python)) = tokio::join!(
        everything("streamableHttp"),
        everything("sse"),
        python_member(),
    ) else {
        return None;
    };
    let org = app.org("acme", Plan::Pro).await;
    let mut ids = Vec::new();
    for (name, port, path) in [
        ("everything", streamable.port, "/mcp"),
        ("legacy", sse.port, "/sse"),
        ("python", python.port, "/mcp"),
    ] {
        let mut input = server(name);
        input.url = format!("http://127.0.0.1:{port}{path}");
        let id = app.create_server(&org.admin, input).await.id;
        let run = app.sync(&org.admin, &id).await;
        assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{name}: {run:?}");
        ids.push(id);
    }
    Some(RealPack {
        url: pack_endpoint(app, &org, "real", ids).await,
        org,
        _members: (streamable, sse, python),
    })
}

/// Makes pack `name` of the servers `ids` as the organization's member;
/// returns its gateway endpoint.
async fn pack_endpoint(app: &TestApp, org: &Org, name: &str, ids: Vec<String>) -> String {
    let servers = ids
        .into_iter()
        .map(|server_id| pb::PackServer {
            server_id,
            name: String::new(),
        })
        .collect();
    let pack = app
        .packs_as(&org.member)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: name.into(),
                description: format!("the {name} pack"),
                servers,
                ..Default::default()
            }),
        })
        .await
        .expect("create pack")
        .into_inner();
    let addr = app.gateway_addr.expect("the gateway listens");
    format!("http://{addr}/mcp/packs/{}", pack.id)
}

/// Options for a pack of loopback upstreams.
fn upstreams() -> Options {
    Options {
        gateway: true,
        ..loopback()
    }
}

/// Runs `program` with `args` (and `env`); returns the JSON it prints.
async fn json_of(program: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::process::Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{program} {args:?} did not end within 2 minutes"))
    .expect("run the client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{program} {args:?}: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("not JSON ({err}): {stdout}"))
}

/// The text of a result's content block `i`.
fn text(result: &Value, i: usize) -> &str {
    result["content"][i]["text"].as_str().unwrap_or_default()
}

/// What every client must have seen, whatever its language and transport.
fn assert_used_the_pack(out: &Value) {
    let names = |field: &str| -> Vec<String> {
        (out[field].as_array().map(Vec::as_slice).unwrap_or_default())
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let tools = names("tools");
    for tool in [
        "everything__echo",
        "everything__get-sum",
        "everything__trigger-long-running-operation",
        "legacy__echo",
        "legacy__get-tiny-image",
        "python__add",
        "python__slow",
        "python__cancelled_calls",
    ] {
        assert!(tools.iter().any(|t| t == tool), "{tool} in {tools:?}");
    }
    let prompts = names("prompts");
    for prompt in [
        "everything__simple-prompt",
        "legacy__simple-prompt",
        "python__greeting",
    ] {
        assert!(
            prompts.iter().any(|p| p == prompt),
            "{prompt} in {prompts:?}"
        );
    }
    let resources = names("resources");
    assert!(
        resources
            .iter()
            .any(|r| r == "mcp-registry://python/memo://notes"),
        "{resources:?}"
    );
    assert!(
        resources
            .iter()
            .any(|r| r.starts_with("mcp-registry://everything/")),
        "{resources:?}"
    );
    let templates = names("templates");
    assert!(
        templates
            .iter()
            .any(|t| t.starts_with("mcp-registry://legacy/")),
        "{templates:?}"
    );

    assert_eq!(text(&out["sum"], 0), "The sum of 2 and 40 is 42.", "{out}");
    assert_eq!(
        out["add"]["structuredContent"],
        json!({"result": 42}),
        "{out}"
    );
    assert_eq!(text(&out["add"], 0), "42", "{out}");
    let image = &out["image"]["content"][1];
    assert_eq!(image["type"], "image", "{out}");
    assert_eq!(image["mimeType"], "image/png", "{out}");
    assert!(
        image["data"].as_str().is_some_and(|d| d.len() > 100),
        "{image}"
    );

    assert_eq!(
        text(&out["long"], 0),
        "Long running operation completed. Duration: 1 seconds, Steps: 3.",
        "{out}"
    );
    let progress = out["longProgress"].as_array().cloned().unwrap_or_default();
    assert!(!progress.is_empty(), "progress was relayed: {out}");
    assert!(
        progress.iter().all(|p| p["total"].as_f64() == Some(3.0)),
        "the upstream's progress: {progress:?}"
    );

    let counted = &out["cancelledCalls"];
    assert_eq!(
        counted["after"].as_i64(),
        counted["before"].as_i64().map(|n| n + 1),
        "the cancellation reached the upstream: {out}"
    );

    let notes = &out["notes"]["contents"][0];
    assert_eq!(notes["text"], "remember the milk", "{out}");
    assert_eq!(notes["uri"], "mcp-registry://python/memo://notes", "{out}");
    assert_eq!(
        out["greeting"]["messages"][0]["content"]["text"], "Say hello to Ada.",
        "{out}"
    );
}

/// Runs `gateway_client.mjs` over `transport` against the pack.
async fn typescript_client(pack: &RealPack, sdk: &str, transport: &str) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gateway_client.mjs"
    );
    let auth = &pack.org.member;
    json_of(
        "node",
        &[script, &pack.url, auth.key_id(), auth.secret(), transport],
        &[("MCP_REGISTRY_TEST_TS_SDK", sdk)],
    )
    .await
}

async fn the_typescript_sdk_client_uses_a_pack_of_real_servers_over_both_transports(app: TestApp) {
    let Some(sdk) = typescript_sdk() else { return };
    let Some(pack) = real_pack(&app).await else {
        return;
    };
    let both = tokio::join!(
        typescript_client(&pack, &sdk, "http"),
        typescript_client(&pack, &sdk, "sse"),
    );
    for (transport, out) in [("http", both.0), ("sse", both.1)] {
        assert_eq!(out["server"]["name"], "mcp-registry", "{out}");
        assert_used_the_pack(&out);
        assert_eq!(
            text(&out["echo"], 0),
            format!("Echo: hello over {transport}"),
            "{out}"
        );
        assert!(
            !out["slowProgress"].as_array().is_none_or(Vec::is_empty),
            "{out}"
        );
        assert_eq!(text(&out["slow"], 0), "waited 0.3 s", "{out}");
        let aborted = out["cancelled"]["error"].as_str().unwrap_or_default();
        assert!(aborted.contains("the test gave up"), "{out}");
        // A cancelled request is not answered: the SDK reports an answer to
        // one as an error ("a response for an unknown message ID").
        let errors = out["errors"].as_array().cloned().unwrap_or_default();
        assert!(
            !errors
                .iter()
                .any(|e| e.as_str().is_some_and(|e| e.contains("unknown message ID"))),
            "{errors:?}"
        );
        // Another client of the same key, with a call of the same id, is
        // not cancelled with it.
        let two = &out["twoClients"];
        assert_eq!(text(&two["b"]["result"], 0), "waited 1.5 s", "{two}");
        let aborted = two["a"]["error"].as_str().unwrap_or_default();
        assert!(aborted.contains("a gave up"), "{two}");
        if transport == "sse" {
            let counted = &two["cancelledCalls"];
            assert_eq!(
                counted["after"].as_i64(),
                counted["before"].as_i64().map(|n| n + 1),
                "the session's cancellation reached the upstream: {two}"
            );
        }
        assert_eq!(
            out["simplePrompt"]["messages"][0]["content"]["text"],
            "This is a simple prompt without arguments.",
            "{out}"
        );
    }
}

/// Runs `gateway_python_client.py` over `transport` against the pack.
async fn python_client(pack: &RealPack, pythonpath: &str, transport: &str) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gateway_python_client.py"
    );
    let auth = &pack.org.member;
    json_of(
        "python3",
        &[script, &pack.url, auth.key_id(), auth.secret(), transport],
        &[("PYTHONPATH", pythonpath)],
    )
    .await
}

async fn the_python_sdk_client_uses_a_pack_of_real_servers_over_both_transports(app: TestApp) {
    let Some(pythonpath) = python_sdk_path() else {
        return;
    };
    let Some(pack) = real_pack(&app).await else {
        return;
    };
    let both = tokio::join!(
        python_client(&pack, &pythonpath, "http"),
        python_client(&pack, &pythonpath, "sse"),
    );
    for out in [both.0, both.1] {
        assert_eq!(out["serverName"], "mcp-registry", "{out}");
        assert_used_the_pack(&out);
        assert_eq!(text(&out["echo"], 0), "Echo: hello from python", "{out}");
    }
}

/// Runs the Inspector's CLI (`--cli`) against the pack as `auth`.
async fn inspector_cli(cli: &str, url: &str, auth: &Auth, transport: &str, rest: &[&str]) -> Value {
    let header = format!("Authorization: Bearer {}.{}", auth.key_id(), auth.secret());
    let mut args = vec![
        cli,
        "--cli",
        url,
        "--transport",
        transport,
        "--header",
        &header,
    ];
    args.extend_from_slice(rest);
    json_of("node", &args, &[]).await
}

/// Lists the pack's tools and calls two with the Inspector's CLI over
/// `transport` (`http` at the pack's URL, `sse` at its `/sse`).
async fn inspect(cli: &str, url: &str, auth: &Auth, transport: &str) {
    let listed = inspector_cli(cli, url, auth, transport, &["--method", "tools/list"]).await;
    let names: Vec<&str> = (listed["tools"].as_array().map(Vec::as_slice))
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for tool in ["everything__echo", "legacy__get-sum", "python__add"] {
        assert!(names.contains(&tool), "{transport}: {tool} in {names:?}");
    }
    let echoed = inspector_cli(
        cli,
        url,
        auth,
        transport,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "everything__echo",
            "--tool-arg",
            "message=from the inspector",
        ],
    )
    .await;
    assert_eq!(
        text(&echoed, 0),
        "Echo: from the inspector",
        "{transport}: {echoed}"
    );
    let added = inspector_cli(
        cli,
        url,
        auth,
        transport,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "python__add",
            "--tool-arg",
            "a=20",
            "b=22",
        ],
    )
    .await;
    assert_eq!(
        added["structuredContent"],
        json!({"result": 42}),
        "{transport}: {added}"
    );
}

async fn the_inspector_cli_lists_and_calls_a_packs_tools(app: TestApp) {
    let Some(cli) = inspector() else { return };
    let Some(pack) = real_pack(&app).await else {
        return;
    };
    let auth = &pack.org.member;
    let sse = format!("{}/sse", pack.url);
    tokio::join!(
        inspect(&cli, &pack.url, auth, "http"),
        inspect(&cli, &sse, auth, "sse"),
    );
}

/// POSTs one JSON-RPC message to `url` as `auth`, accepting `accept`;
/// returns the status, the content type and the body.
async fn post(url: &str, auth: &Auth, accept: &str, message: Value) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .post(url)
        .header("accept", accept)
        .header("content-type", "application/json")
        .bearer_auth(format!("{}.{}", auth.key_id(), auth.secret()))
        .body(message.to_string())
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    let content_type = (response.headers().get("content-type"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

async fn a_cancelled_call_is_not_answered_and_its_upstream_is_told(app: TestApp) {
    let upstream = McpServer::new()
        .tool("wait", "Never answers")
        .delay("tools/call", Duration::from_secs(3600))
        .start()
        .await;
    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("hanging");
    input.url = upstream.url("/mcp");
    let server_id = app.create_server(&org.admin, input).await.id;
    app.sync(&org.admin, &server_id).await;
    let url = pack_endpoint(&app, &org, "hanging", vec![server_id]).await;
    let both = "application/json, text/event-stream";
    for (n, accept) in [(1, both), (2, "application/json")] {
        let call = json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
            "params": {"name": "hanging__wait", "arguments": {}}});
        let (pending_url, member) = (url.clone(), org.member.clone());
        let pending = tokio::spawn(async move { post(&pending_url, &member, accept, call).await });
        for _ in 0..100 {
            if upstream.paths_of("tools/call").len() == n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            upstream.paths_of("tools/call").len(),
            n,
            "the call is in flight"
        );
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": n, "reason": "the user gave up"}});
        let (status, _, _) = post(&url, &org.member, both, cancel).await;
        assert_eq!(status, 202);
        let (status, content_type, body) = tokio::time::timeout(Duration::from_secs(10), pending)
            .await
            .expect("the cancelled call ends")
            .expect("the call task");
        assert_eq!(status, 200, "{body}");
        if accept == both {
            // An event stream that ends without an answer: the spec's "do
            // not answer a cancelled request".
            assert_eq!(content_type, "text/event-stream", "{body}");
            assert_eq!(body, "", "no answer to a cancelled request");
        } else {
            // A client that takes JSON only gets an answer all the same.
            let answer: Value = serde_json::from_str(&body).expect("json");
            assert_eq!(answer["id"], n, "{answer}");
            assert_eq!(answer["error"]["code"], -32800, "{answer}");
        }
    }
    let mut told = Vec::new();
    for _ in 0..100 {
        told = upstream.paths_of("notifications/cancelled");
        if told.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(told.len(), 2, "the upstream was told of both cancellations");
    // Each under the id the gateway gave the call upstream.
    let ids = |method: &str, field: &dyn Fn(&Value) -> Value| -> Vec<String> {
        let mut ids: Vec<String> = (upstream.requests().into_iter())
            .filter(|r| r.rpc.as_deref() == Some(method))
            .map(|r| field(&serde_json::from_str::<Value>(&r.body).expect("json")).to_string())
            .collect();
        ids.sort();
        ids
    };
    let called = ids("tools/call", &|m| m["id"].clone());
    let cancelled = ids("notifications/cancelled", &|m| {
        m["params"]["requestId"].clone()
    });
    assert_eq!(called, cancelled);
}

crate::on_both_backends_with!(super::upstreams();
    the_typescript_sdk_client_uses_a_pack_of_real_servers_over_both_transports,
);

crate::on_sqlite_with!(super::upstreams();
    a_cancelled_call_is_not_answered_and_its_upstream_is_told,
    the_python_sdk_client_uses_a_pack_of_real_servers_over_both_transports,
    the_inspector_cli_lists_and_calls_a_packs_tools,
);
