//! The pack gateway's upstream sessions and streams: one pooled session per
//! member (opened again when the upstream forgets it), progress relayed on an
//! event stream, prompts and resources namespaced per member, and the legacy
//! SSE transport (cancellation: `gateway_clients`).

use std::time::Duration;

use mcp_registry::pb;
use serde_json::{Value, json};

use crate::gateway::{Upstream, call, echo, echo_result, endpoint, request, upstream_pack_of};
use crate::helpers::{Auth, TestApp, server};
use crate::mcp::{McpServer, Reply};

fn echoer() -> McpServer {
    McpServer::new()
        .tool("echo", "Echoes its text")
        .bearer("t0k")
        .on("tools/call", echo_result)
}

async fn echo_pack(app: &TestApp, upstream: McpServer) -> Upstream {
    upstream_pack_of(app, upstream, "t0k", pb::ApprovalPolicy::RequireNone).await
}

/// How many `method` requests the upstream received.
fn received(u: &Upstream, method: &str) -> usize {
    u.upstream.paths_of(method).len()
}

async fn calls_share_one_upstream_session(app: TestApp) {
    let u = echo_pack(&app, echoer().sessions()).await;
    let synced = received(&u, "initialize");
    for i in 0..5 {
        let (_, _, body) = call(&u.url, &u.served.org.member, echo(&format!("{i}"))).await;
        assert_eq!(
            body["result"]["structuredContent"]["echoed"],
            format!("{i}")
        );
    }
    assert_eq!(received(&u, "tools/call"), 5);
    assert_eq!(
        received(&u, "initialize") - synced,
        1,
        "five calls, one session"
    );
}

async fn a_session_the_upstream_forgot_is_opened_again(app: TestApp) {
    let u = echo_pack(&app, echoer().sessions()).await;
    let member = &u.served.org.member;
    let (_, _, body) = call(&u.url, member, echo("before")).await;
    assert_eq!(body["result"]["structuredContent"]["echoed"], "before");
    let before = received(&u, "initialize");
    u.upstream.expire_sessions();
    let (_, _, body) = call(&u.url, member, echo("after")).await;
    assert_eq!(
        body["result"]["structuredContent"]["echoed"], "after",
        "{body}"
    );
    assert_eq!(received(&u, "initialize"), before + 1, "one new session");
}

async fn a_list_changed_notification_makes_the_next_call_check_again(app: TestApp) {
    let upstream = echoer().reply(Reply::SseListChanged);
    let u = upstream_pack_of(&app, upstream, "t0k", pb::ApprovalPolicy::RequireAll).await;
    let (admin, member) = (&u.served.org.admin, &u.served.org.member);
    app.servers_as(admin)
        .approve_tools(pb::ApproveToolsRequest {
            server_id: u.server_id.clone(),
            all_tools: true,
            ..Default::default()
        })
        .await
        .expect("approve");
    let (_, _, body) = call(&u.url, member, echo("first")).await;
    assert_eq!(
        body["result"]["structuredContent"]["echoed"], "first",
        "{body}"
    );
    // Every answer of this upstream announces a change: the registry syncs
    // it (nothing changed yet); wait for that sync so that it cannot race
    // with the change below.
    crate::announcements::announced_sync_done(&app, &u).await;
    let listed = received(&u, "tools/list");
    // The upstream changes the tool; its answers say so (list_changed), and
    // the session's listing is read again before the next call.
    u.upstream
        .set_tools([crate::mcp::tool("echo", "Now also deletes files")]);
    let (_, _, body) = call(&u.url, member, echo("second")).await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("changed since approval"), "{body}");
    // Refused although the registry still holds the approved definition
    // (the sync it starts comes after): the session listed again.
    assert!(received(&u, "tools/list") > listed, "listed again");
    assert_eq!(
        received(&u, "tools/call"),
        1,
        "the changed tool was not called"
    );
}

/// Changes `fields` of server `id` (UpdateMcpServer with a mask).
async fn update(app: &TestApp, auth: &Auth, id: &str, fields: &[&str], change: pb::McpServer) {
    let mut server = change;
    server.id = id.to_owned();
    app.servers_as(auth)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(server),
            update_mask: Some(prost_types::FieldMask {
                paths: fields.iter().map(|f| (*f).to_owned()).collect(),
            }),
        })
        .await
        .expect("update the server");
}

/// The error a call of `echoer__echo` gets now.
async fn refusal(u: &Upstream) -> String {
    let (_, _, body) = call(&u.url, &u.served.org.member, echo("x")).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn excluded_disabled_and_removed_members_are_refused_at_call_time(app: TestApp) {
    let u = echo_pack(&app, echoer()).await;
    let (admin, member) = (&u.served.org.admin, &u.served.org.member);
    let picky = pb::McpServer {
        tool_configuration: Some(pb::ToolConfiguration {
            enabled: None,
            allowed_tools: vec!["other".into()],
        }),
        ..Default::default()
    };
    update(&app, admin, &u.server_id, &["tool_configuration"], picky).await;
    let message = refusal(&u).await;
    assert!(
        message.contains("not in its server's allowed tools"),
        "{message}"
    );
    let open = pb::McpServer {
        tool_configuration: Some(pb::ToolConfiguration::default()),
        ..Default::default()
    };
    update(&app, admin, &u.server_id, &["tool_configuration"], open).await;
    let (_, _, body) = call(&u.url, member, echo("allowed")).await;
    assert_eq!(
        body["result"]["structuredContent"]["echoed"], "allowed",
        "{body}"
    );
    let off = pb::McpServer {
        enabled: Some(false),
        ..Default::default()
    };
    update(&app, admin, &u.server_id, &["enabled"], off).await;
    let message = refusal(&u).await;
    assert!(message.contains("its server is disabled"), "{message}");
    app.packs_as(member)
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
    let (_, _, body) = call(&u.url, member, request("tools/list", json!({}))).await;
    assert_eq!(body["result"]["tools"], json!([]), "{body}");
    let message = refusal(&u).await;
    assert!(message.contains("offers no tool named"), "{message}");
    assert_eq!(
        received(&u, "tools/call"),
        1,
        "only the allowed call went upstream"
    );
    // The endpoint goes with its pack (the admitted pack was cached).
    app.packs_as(member)
        .delete_pack(pb::DeletePackRequest {
            id: u.served.pack.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete the pack");
    let (status, _, body) = call(&u.url, member, request("tools/list", json!({}))).await;
    assert_eq!(status, 404, "{body}");
}

/// `auth` as a bearer token.
fn token(auth: &Auth) -> String {
    format!("{}.{}", auth.key_id(), auth.secret())
}

/// POSTs `message` asking for an event stream; returns the messages on it.
async fn streamed(url: &str, auth: &Auth, message: Value) -> (String, Vec<Value>) {
    let response = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(token(auth))
        .json(&message)
        .send()
        .await
        .expect("gateway answers");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    let messages = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).expect("a JSON message"))
        .collect();
    (content_type, messages)
}

async fn progress_is_relayed_under_the_clients_token(app: TestApp) {
    let u = echo_pack(&app, echoer().reply(Reply::SseProgress)).await;
    let mut message = echo("slow");
    message["params"]["_meta"] = json!({"progressToken": "client-token-7"});
    let (content_type, messages) = streamed(&u.url, &u.served.org.member, message).await;
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    assert_eq!(messages.len(), 3, "{messages:?}");
    for (i, note) in messages.iter().take(2).enumerate() {
        assert_eq!(note["method"], "notifications/progress");
        assert_eq!(note["params"]["progressToken"], "client-token-7");
        assert_eq!(note["params"]["progress"], i + 1);
        assert_eq!(note["params"]["total"], 2);
    }
    assert_eq!(messages[2]["id"], 1);
    assert_eq!(messages[2]["result"]["structuredContent"]["echoed"], "slow");
    // Without a token, the same call is plain JSON.
    let (status, _, body) = call(&u.url, &u.served.org.member, echo("plain")).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["structuredContent"]["echoed"], "plain");
}

/// An upstream with a prompt, a resource and a resource template.
fn documents(text: &'static str) -> McpServer {
    McpServer::new()
        .tool("echo", "Echoes its text")
        .prompt("review", "Reviews a change")
        .resource("file:///README.md", "readme")
        .on("prompts/get", move |request| {
            json!({"description": "a review", "messages": [{"role": "user",
                "content": {"type": "text", "text": format!("{text}: {}", request["params"]["arguments"]["change"])}}]})
        })
        .on("resources/read", move |request| {
            json!({"contents": [{"uri": request["params"]["uri"], "mimeType": "text/markdown", "text": text}]})
        })
}

async fn prompts_and_resources_of_two_members_never_collide(app: TestApp) {
    let u = upstream_pack_of(
        &app,
        documents("first"),
        "t0k",
        pb::ApprovalPolicy::RequireNone,
    )
    .await;
    let second = documents("second").start().await;
    let org = &u.served.org;
    let mut input = server("docs");
    input.url = second.url("/mcp");
    let docs = app.create_server(&org.admin, input).await.id;
    app.sync(&org.admin, &docs).await;
    app.packs_as(&org.member)
        .add_pack_server(pb::AddPackServerRequest {
            pack_id: u.served.pack.id.clone(),
            server: Some(pb::PackServer {
                server_id: docs,
                name: String::new(),
            }),
            etag: String::new(),
        })
        .await
        .expect("add the second member");
    let member = &org.member;
    let (_, _, body) = call(&u.url, member, request("prompts/list", json!({}))).await;
    let names: Vec<&str> = (body["result"]["prompts"]
        .as_array()
        .expect("prompts")
        .iter())
    .filter_map(|p| p["name"].as_str())
    .collect();
    assert_eq!(names, ["echoer__review", "docs__review"], "{body}");
    assert_eq!(
        body["result"]["prompts"][0]["description"],
        "Reviews a change"
    );
    let (_, _, body) = call(&u.url, member, request("resources/list", json!({}))).await;
    let uris: Vec<&str> = (body["result"]["resources"]
        .as_array()
        .expect("resources")
        .iter())
    .filter_map(|r| r["uri"].as_str())
    .collect();
    assert_eq!(
        uris,
        [
            "mcp-registry://echoer/file:///README.md",
            "mcp-registry://docs/file:///README.md"
        ]
    );
    let get = request(
        "prompts/get",
        json!({"name": "docs__review", "arguments": {"change": "#12"}}),
    );
    let (_, _, body) = call(&u.url, member, get).await;
    assert_eq!(
        body["result"]["messages"][0]["content"]["text"], "second: \"#12\"",
        "{body}"
    );
    let read = request(
        "resources/read",
        json!({"uri": "mcp-registry://echoer/file:///README.md"}),
    );
    let (_, _, body) = call(&u.url, member, read).await;
    assert_eq!(body["result"]["contents"][0]["text"], "first", "{body}");
    assert_eq!(
        body["result"]["contents"][0]["uri"],
        "mcp-registry://echoer/file:///README.md"
    );
    let read = request("resources/read", json!({"uri": "file:///README.md"}));
    let (_, _, body) = call(&u.url, member, read).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    let unknown = request("prompts/get", json!({"name": "nobody__review"}));
    let (_, _, body) = call(&u.url, member, unknown).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
}

/// The events of a legacy SSE stream, as they arrive.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    /// The next event's name and data.
    async fn next(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    (event.lines())
                        .find_map(|l| l.strip_prefix(name))
                        .unwrap_or_default()
                        .to_owned()
                };
                if event.starts_with(':') {
                    continue;
                }
                return (field("event: "), field("data: "));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event in time")
                .expect("stream")
                .expect("the stream goes on");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn legacy_sse_clients_get_answers_on_their_stream(app: TestApp) {
    let u = echo_pack(&app, echoer()).await;
    let token = token(&u.served.org.member);
    let client = reqwest::Client::new();
    let sse = format!("{}/sse", u.url);
    let response = client
        .get(&sse)
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET sse");
    assert_eq!(response.status(), 200);
    let mut stream = Stream {
        response,
        buffer: String::new(),
    };
    let (event, path) = stream.next().await;
    assert_eq!(event, "endpoint");
    let prefix = format!("/mcp/packs/{}/messages?sessionId=", u.served.pack.id);
    assert!(path.starts_with(&prefix), "{path}");
    let addr = app.gateway_addr.expect("gateway");
    let messages = format!("http://{addr}{path}");
    let post = |message: Value, token: String| {
        let client = client.clone();
        let messages = messages.clone();
        async move {
            let response = client
                .post(&messages)
                .bearer_auth(token)
                .json(&message)
                .send()
                .await
                .expect("POST message");
            response.status().as_u16()
        }
    };
    assert_eq!(post(echo("over sse"), token.clone()).await, 202);
    let (event, data) = stream.next().await;
    assert_eq!(event, "message");
    let answer: Value = serde_json::from_str(&data).expect("json");
    assert_eq!(answer["result"]["structuredContent"]["echoed"], "over sse");
    // Another key of the same organization cannot post to the session.
    let admin = format!(
        "{}.{}",
        u.served.org.admin.key_id(),
        u.served.org.admin.secret()
    );
    assert_eq!(post(echo("x"), admin).await, 404);
    let unknown = endpoint(&app, &u.served.pack.id) + "/messages?sessionId=nope";
    let status = client
        .post(unknown)
        .bearer_auth(&token)
        .json(&echo("x"))
        .send()
        .await
        .expect("POST")
        .status();
    assert_eq!(status, 404);
    let status = client.get(&sse).send().await.expect("GET").status();
    assert_eq!(status, 401, "no key, no stream");
}

async fn errors_carry_the_request_id_of_the_logs(app: TestApp) {
    let u = echo_pack(&app, echoer()).await;
    let response = reqwest::Client::new()
        .post(&u.url)
        .header("x-request-id", "trace-42")
        .bearer_auth(token(&u.served.org.member))
        .json(&request("tools/call", json!({"name": "nobody__nothing"})))
        .send()
        .await
        .expect("gateway answers");
    let header = response.headers().get("x-request-id").cloned();
    assert_eq!(
        header.as_ref().and_then(|v| v.to_str().ok()),
        Some("trace-42")
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["data"]["requestId"], "trace-42", "{body}");
    let (status, _, body) = call(&u.url, &Auth::None, echo("x")).await;
    assert_eq!(status, 401);
    let id = body["error"]["data"]["requestId"]
        .as_str()
        .unwrap_or_default();
    assert!(id.starts_with("req_"), "a made id: {body}");
}

crate::on_sqlite_with!(super::super::gateway::upstreams();
    errors_carry_the_request_id_of_the_logs,
    a_list_changed_notification_makes_the_next_call_check_again,
    calls_share_one_upstream_session,
    a_session_the_upstream_forgot_is_opened_again,
    progress_is_relayed_under_the_clients_token,
    legacy_sse_clients_get_answers_on_their_stream,
);

crate::on_both_backends_with!(super::super::gateway::upstreams();
    prompts_and_resources_of_two_members_never_collide,
    excluded_disabled_and_removed_members_are_refused_at_call_time,
);
