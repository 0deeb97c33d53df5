//! The pack gateway (`--mcp-listen`): a pack's tools served as one MCP
//! endpoint over Streamable HTTP, to raw JSON-RPC and to the Python SDK's
//! client, with the caller's rights.

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use serde_json::{Value, json};

use crate::helpers::{Auth, Options, Org, TestApp, server, synced, tool};

fn gateway() -> Options {
    Options {
        gateway: true,
        ..Options::default()
    }
}

/// An organization, its server "github" with `tools` stored as synced, and
/// a pack "dev" holding it.
struct Served {
    org: Org,
    pack: pb::Pack,
}

async fn pack_with(app: &TestApp, tools: &[Value]) -> Served {
    let org = app.org("acme", Plan::Pro).await;
    let github = app.create_server(&org.admin, server("github")).await;
    synced(app, &github.id, tools).await;
    let pack = app
        .packs_as(&org.member)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "dev".into(),
                description: "tools for developers".into(),
                servers: vec![pb::PackServer {
                    server_id: github.id.clone(),
                    name: String::new(),
                }],
                ..Default::default()
            }),
        })
        .await
        .expect("create pack")
        .into_inner();
    Served { org, pack }
}

/// The pack's endpoint.
fn endpoint(app: &TestApp, pack_id: &str) -> String {
    let addr = app.gateway_addr.expect("the gateway listens");
    format!("http://{addr}/mcp/packs/{pack_id}")
}

/// POSTs one JSON-RPC message as `auth`; returns the status, the
/// `WWW-Authenticate` header and the body (null when empty).
async fn call(url: &str, auth: &Auth, message: Value) -> (u16, String, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(message.to_string());
    match auth {
        Auth::None => {}
        Auth::Pair(key, secret) => {
            request = request
                .header("x-api-key", key)
                .header("x-api-secret", secret)
        }
        Auth::Bearer(key, secret) => request = request.bearer_auth(format!("{key}.{secret}")),
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

fn request(method: &str, params: Value) -> Value {
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
    let stranger = app.org("globex", Plan::Pro).await;
    let (status, _, _) = call(
        &endpoint(&app, &served.pack.id),
        &stranger.admin,
        request("tools/list", json!({})),
    )
    .await;
    assert_eq!(status, 404, "another organization's pack");
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
    let (status, _, body) = call(&url, member, request("tools/call", json!({"name": "x"}))).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (200, json!(-32601))
    );
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, _) = call(&url, member, note).await;
    assert_eq!(status, 202, "a notification is accepted");
    let (status, _, _) = call(&url, member, request("ping", json!({}))).await;
    assert_eq!(status, 200);
    let get = reqwest::Client::new().get(&url).send().await.expect("get");
    assert_eq!(get.status().as_u16(), 405, "no server-to-client stream");
}

async fn the_python_sdk_client_lists_a_packs_tools(app: TestApp) {
    let served = pack_with(&app, &[tool("search"), tool("issues")]).await;
    let url = endpoint(&app, &served.pack.id);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gateway_tools.py"
    );
    let pythonpath = std::env::var("MCP_REGISTRY_TEST_PYTHONPATH").expect("set by ./scripts/test");
    let member = &served.org.member;
    let output = tokio::process::Command::new("python3")
        .args([script, url.as_str(), member.key_id(), member.secret()])
        .env("PYTHONPATH", pythonpath)
        .output()
        .await
        .expect("run the python client");
    assert!(output.status.success(), "python client: {output:?}");
    let listing: Value = serde_json::from_slice(&output.stdout).expect("json");
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
