//! Per-pack tool settings (issue 15, point 1): two packs share a server and
//! offer its tools differently (hidden, aliased, described anew, only the
//! listed ones), through ResolvePack and through the pack gateway to the
//! Python SDK's client; settings live in revisions (GetPackRevision shows
//! them, RestorePackRevision brings them back); UpdatePackServerTools'
//! errors; settings naming a missing tool and names taken by an alias later
//! are reported, not dropped.

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;

use crate::gateway::{call, request};
use crate::helpers::{
    Auth, Options, Org, TestApp, assert_error, loopback, python_sdk_path, server, synced, tool,
    violated_fields,
};
use crate::mcp::McpServer;
use crate::{on_both_backends, on_both_backends_with};

fn member(server_id: &str) -> pb::PackServer {
    pb::PackServer {
        server_id: server_id.into(),
        name: String::new(),
    }
}

fn new_pack(name: &str, servers: Vec<pb::PackServer>) -> pb::CreatePackRequest {
    pb::CreatePackRequest {
        pack: Some(pb::Pack {
            name: name.into(),
            description: format!("the {name} pack"),
            servers,
            ..Default::default()
        }),
    }
}

fn hidden(tool_name: &str) -> pb::PackToolSetting {
    pb::PackToolSetting {
        tool_name: tool_name.into(),
        hidden: true,
        ..Default::default()
    }
}

fn aliased(tool_name: &str, alias: &str, description: &str) -> pb::PackToolSetting {
    pb::PackToolSetting {
        tool_name: tool_name.into(),
        alias: alias.into(),
        description: description.into(),
        ..Default::default()
    }
}

fn listed(tool_name: &str) -> pb::PackToolSetting {
    pb::PackToolSetting {
        tool_name: tool_name.into(),
        ..Default::default()
    }
}

/// An UpdatePackServerTools request for the member `server_id`.
fn settings(
    pack_id: &str,
    server_id: &str,
    tools: Vec<pb::PackToolSetting>,
    etag: &str,
) -> pb::UpdatePackServerToolsRequest {
    pb::UpdatePackServerToolsRequest {
        pack_id: pack_id.into(),
        server: Some(member(server_id)),
        tool_settings: Some(pb::PackToolSettings {
            only_listed_tools: false,
            tools,
        }),
        etag: etag.into(),
    }
}

/// The curated view: `delete` hidden, `echo` renamed `say` and described
/// anew.
fn curation() -> Vec<pb::PackToolSetting> {
    vec![
        hidden("delete"),
        aliased("echo", "say", "Says the text back"),
    ]
}

async fn update(app: &TestApp, auth: &Auth, request: pb::UpdatePackServerToolsRequest) -> pb::Pack {
    app.packs_as(auth)
        .update_pack_server_tools(request)
        .await
        .expect("update tool settings")
        .into_inner()
}

async fn resolve(
    app: &TestApp,
    auth: &Auth,
    pack_id: &str,
    version: i64,
) -> pb::ResolvePackResponse {
    app.packs_as(auth)
        .resolve_pack(pb::ResolvePackRequest {
            id: pack_id.into(),
            version,
        })
        .await
        .expect("resolve")
        .into_inner()
}

fn offered(resolved: &pb::ResolvePackResponse) -> Vec<(&str, &str, &str)> {
    (resolved.tools.iter())
        .map(|t| {
            (
                t.qualified_name.as_str(),
                t.name.as_str(),
                t.description.as_str(),
            )
        })
        .collect()
}

fn excluded(resolved: &pb::ResolvePackResponse) -> Vec<(&str, pb::ExclusionReason)> {
    (resolved.excluded_tools.iter())
        .map(|e| (e.tool_name.as_str(), e.reason()))
        .collect()
}

/// What the upstream's `tools/call` answers: which of its tools was called.
fn called(request: &Value) -> Value {
    let name = request["params"]["name"].as_str().unwrap_or_default();
    let text = request["params"]["arguments"]["text"].clone();
    json!({
        "content": [{"type": "text", "text": format!("{name} was called")}],
        "structuredContent": {"tool": name, "text": text},
        "isError": false
    })
}

/// An organization, a loopback upstream "shared" (tools delete, echo,
/// search; approval required, all approved), synced, and two packs holding
/// it: "curated" with [`curation`] applied, and "plain".
struct Shared {
    org: Org,
    upstream: crate::mcp::Running,
    server_id: String,
    curated: pb::Pack,
    plain: pb::Pack,
}

async fn shared(app: &TestApp) -> Shared {
    let upstream = McpServer::new()
        .tool("delete", "Deletes everything")
        .tool("echo", "Echoes its text")
        .tool("search", "Searches")
        .on("tools/call", called)
        .start()
        .await;
    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("shared");
    input.url = upstream.url("/mcp");
    input.approval_policy = pb::ApprovalPolicy::RequireAll as i32;
    let server_id = app.create_server(&org.admin, input).await.id;
    let run = app.sync(&org.admin, &server_id).await;
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{run:?}");
    app.servers_as(&org.admin)
        .approve_tools(pb::ApproveToolsRequest {
            server_id: server_id.clone(),
            all_tools: true,
            ..Default::default()
        })
        .await
        .expect("approve");
    let mut packs = app.packs_as(&org.member);
    let mut made = Vec::new();
    for name in ["curated", "plain"] {
        let request = new_pack(name, vec![member(&server_id)]);
        made.push(
            packs
                .create_pack(request)
                .await
                .expect("create")
                .into_inner(),
        );
    }
    let [curated, plain] = <[pb::Pack; 2]>::try_from(made).expect("two packs");
    let curated = update(
        app,
        &org.member,
        settings(&curated.id, &server_id, curation(), &curated.etag),
    )
    .await;
    Shared {
        org,
        upstream,
        server_id,
        curated,
        plain,
    }
}

fn with_upstreams() -> Options {
    Options {
        gateway: true,
        ..loopback()
    }
}

/// Runs `gateway_tools.py` (the Python SDK's client) against `url` as
/// `auth`: lists the tools and calls `tool` with `arguments`.
async fn python_client(url: &str, auth: &Auth, tool: &str, arguments: Value) -> Option<Value> {
    let pythonpath = python_sdk_path()?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gateway_tools.py"
    );
    let output = tokio::process::Command::new("python3")
        .args([script, url, auth.key_id(), auth.secret(), tool])
        .arg(arguments.to_string())
        .env("PYTHONPATH", pythonpath)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the python client");
    assert!(output.status.success(), "python client: {output:?}");
    Some(serde_json::from_slice(&output.stdout).expect("json"))
}

/// The pack's gateway endpoint, as ExportPack's gateway target gives it.
async fn exported_endpoint(app: &TestApp, auth: &Auth, pack_id: &str) -> String {
    let exported = app
        .packs_as(auth)
        .export_pack(pb::ExportPackRequest {
            id: pack_id.into(),
            version: 0,
            target: pb::ExportTarget::Gateway as i32,
        })
        .await
        .expect("export")
        .into_inner();
    exported.servers[0].url.clone()
}

fn listed_tools(out: &Value) -> Vec<(String, String)> {
    (out["tools"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default())
    .iter()
    .map(|t| {
        let text = |f: &str| t[f].as_str().unwrap_or_default().to_owned();
        (text("name"), text("description"))
    })
    .collect()
}

async fn two_packs_sharing_a_server_offer_its_tools_each_their_own_way(app: TestApp) {
    let s = shared(&app).await;
    let (curated_url, plain_url) = (
        exported_endpoint(&app, &s.org.viewer, &s.curated.id).await,
        exported_endpoint(&app, &s.org.viewer, &s.plain.id).await,
    );
    let arguments = json!({"text": "hi"});
    let Some(curated) = python_client(&curated_url, &s.org.member, "say", arguments.clone()).await
    else {
        return;
    };
    assert_eq!(
        listed_tools(&curated),
        [
            ("say".to_owned(), "Says the text back".to_owned()),
            ("shared__search".to_owned(), "Searches".to_owned()),
        ],
        "{curated}"
    );
    assert_eq!(
        curated["call"]["structuredContent"],
        json!({"tool": "echo", "text": "hi"}),
        "the alias calls the upstream tool by its own name: {curated}"
    );
    let plain = python_client(&plain_url, &s.org.member, "shared__echo", arguments)
        .await
        .expect("python");
    assert_eq!(
        listed_tools(&plain),
        [
            ("shared__delete".to_owned(), "Deletes everything".to_owned()),
            ("shared__echo".to_owned(), "Echoes its text".to_owned()),
            ("shared__search".to_owned(), "Searches".to_owned()),
        ],
        "{plain}"
    );
    assert_eq!(
        plain["call"]["structuredContent"]["tool"], "echo",
        "{plain}"
    );
    let upstream_calls: Vec<String> = (s.upstream.requests().iter())
        .filter(|r| r.rpc.as_deref() == Some("tools/call"))
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).expect("JSON-RPC");
            body["params"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(upstream_calls, ["echo", "echo"]);

    // The curated pack offers neither the hidden tool nor the aliased
    // tool's own qualified name.
    for (name, says) in [
        ("shared__delete", "this pack hides it"),
        ("shared__echo", "offers no tool named"),
    ] {
        let (_, _, body) = call(
            &curated_url,
            &s.org.member,
            request("tools/call", json!({"name": name, "arguments": {}})),
        )
        .await;
        assert_eq!(body["error"]["code"], -32602, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{name}: {message}");
    }

    // ResolvePack shows the same views.
    let resolved = resolve(&app, &s.org.viewer, &s.curated.id, 0).await;
    assert_eq!(
        offered(&resolved),
        [
            ("say", "echo", "Says the text back"),
            ("shared__search", "search", "Searches"),
        ]
    );
    let say = &resolved.tools[0];
    assert!(say.aliased && say.description_replaced, "{say:?}");
    assert_eq!(
        excluded(&resolved),
        [("delete", pb::ExclusionReason::Hidden)]
    );
    assert!(resolved.setting_issues.is_empty(), "{resolved:?}");
    let plain = resolve(&app, &s.org.viewer, &s.plain.id, 0).await;
    assert_eq!(
        offered(&plain),
        [
            ("shared__delete", "delete", "Deletes everything"),
            ("shared__echo", "echo", "Echoes its text"),
            ("shared__search", "search", "Searches"),
        ]
    );
    assert_eq!(plain.tools[1].definition_hash, say.definition_hash);
    assert!(!plain.tools[1].aliased && !plain.tools[1].description_replaced);
}

async fn an_alias_never_bypasses_approval(app: TestApp) {
    let s = shared(&app).await;
    let url = exported_endpoint(&app, &s.org.viewer, &s.curated.id).await;
    // The upstream changes `echo`: its approval no longer holds.
    s.upstream
        .set_tools([crate::mcp::tool("echo", "Now also deletes files")]);
    app.sync(&s.org.admin, &s.server_id).await;
    let resolved = resolve(&app, &s.org.viewer, &s.curated.id, 0).await;
    assert!(offered(&resolved).is_empty(), "{resolved:?}");
    assert_eq!(
        excluded(&resolved),
        [("echo", pb::ExclusionReason::ChangedSinceApproval)]
    );
    assert_eq!(resolved.excluded_tools[0].alias, "say");
    let (_, _, body) = call(
        &url,
        &s.org.member,
        request("tools/call", json!({"name": "say", "arguments": {}})),
    )
    .await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"say\" is not offered by this pack: it changed since approval"),
        "{message}"
    );
    let calls = (s.upstream.requests().iter())
        .filter(|r| r.rpc.as_deref() == Some("tools/call"))
        .count();
    assert_eq!(calls, 0, "the upstream was never called");
}

on_both_backends_with!(super::with_upstreams();
    two_packs_sharing_a_server_offer_its_tools_each_their_own_way,
    an_alias_never_bypasses_approval,
);

/// An organization, server "github" (tools issues, search, delete; stored
/// as synced, no approval needed) and "jira" (tools issues), and pack "dev"
/// of both, made by the member.
struct Dev {
    org: Org,
    github: String,
    jira: String,
    pack: pb::Pack,
}

async fn dev(app: &TestApp) -> Dev {
    let org = app.org("acme", Plan::Pro).await;
    let github = app.create_server(&org.admin, server("github")).await.id;
    let jira = app.create_server(&org.admin, server("jira")).await.id;
    synced(
        app,
        &github,
        &[tool("issues"), tool("search"), tool("delete")],
    )
    .await;
    synced(app, &jira, &[tool("issues")]).await;
    let pack = app
        .packs_as(&org.member)
        .create_pack(new_pack("dev", vec![member(&github), member(&jira)]))
        .await
        .expect("create")
        .into_inner();
    Dev {
        org,
        github,
        jira,
        pack,
    }
}

async fn revision(app: &TestApp, auth: &Auth, pack_id: &str, version: i64) -> pb::PackRevision {
    app.packs_as(auth)
        .get_pack_revision(pb::GetPackRevisionRequest {
            pack_id: pack_id.into(),
            version,
        })
        .await
        .expect("revision")
        .into_inner()
}

async fn settings_are_versioned_shown_and_restored(app: TestApp) {
    let d = dev(&app).await;
    let first = vec![aliased("issues", "gh_issues", "GitHub issues")];
    let v2 = update(
        &app,
        &d.org.member,
        settings(&d.pack.id, &d.github, first, ""),
    )
    .await;
    assert_eq!(v2.version, 2);
    let shown = &v2.tool_settings;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].server_id, d.github);
    let same = vec![aliased("issues", "gh_issues", "GitHub issues")];
    let unchanged = update(
        &app,
        &d.org.member,
        settings(&d.pack.id, &d.github, same, ""),
    )
    .await;
    assert_eq!(unchanged.version, 2, "the same settings make no version");

    let second = vec![hidden("delete"), aliased("issues", "bugs", "")];
    let v3 = update(
        &app,
        &d.org.admin,
        settings(&d.pack.id, &d.github, second, &v2.etag),
    )
    .await;
    assert_eq!(v3.version, 3);
    let rev3 = revision(&app, &d.org.viewer, &d.pack.id, 3).await;
    assert_eq!(rev3.change_kind(), pb::PackChangeKind::ToolSettingsUpdated);
    let changed: Vec<&str> = rev3
        .changed_servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(changed, ["github"]);
    assert_eq!(rev3.changed_tools, ["delete", "issues"]);
    assert!(rev3.updated_fields.is_empty(), "{rev3:?}");
    let frozen = rev3.members[0].tool_settings.clone().expect("settings");
    assert_eq!(
        frozen.tools,
        [hidden("delete"), aliased("issues", "bugs", "")],
        "sorted by tool name"
    );
    assert_eq!(rev3.members[1].tool_settings, None, "jira has none");
    let rev2 = revision(&app, &d.org.viewer, &d.pack.id, 2).await;
    let old = rev2.members[0].tool_settings.clone().expect("settings");
    assert_eq!(old.tools, [aliased("issues", "gh_issues", "GitHub issues")]);

    // Resolving a version uses that version's settings.
    let at2 = resolve(&app, &d.org.viewer, &d.pack.id, 2).await;
    let names: Vec<&str> = at2
        .tools
        .iter()
        .map(|t| t.qualified_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "github__delete",
            "gh_issues",
            "github__search",
            "jira__issues"
        ]
    );

    // A member that stays through ReplacePackServers keeps its settings.
    let replaced = app
        .packs_as(&d.org.member)
        .replace_pack_servers(pb::ReplacePackServersRequest {
            pack_id: d.pack.id.clone(),
            servers: vec![member(&d.github)],
            etag: String::new(),
        })
        .await
        .expect("replace")
        .into_inner();
    assert_eq!(replaced.version, 4);
    assert_eq!(replaced.tool_settings, v3.tool_settings);

    let restored = app
        .packs_as(&d.org.member)
        .restore_pack_revision(pb::RestorePackRevisionRequest {
            pack_id: d.pack.id.clone(),
            version: 2,
            etag: replaced.etag.clone(),
        })
        .await
        .expect("restore")
        .into_inner();
    assert_eq!(restored.version, 5);
    assert_eq!(
        restored.tool_settings, v2.tool_settings,
        "version 2's settings"
    );
    let current = resolve(&app, &d.org.viewer, &d.pack.id, 0).await;
    let names: Vec<&str> = current
        .tools
        .iter()
        .map(|t| t.qualified_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "github__delete",
            "gh_issues",
            "github__search",
            "jira__issues"
        ]
    );
    assert_eq!(current.tools[1].description, "GitHub issues");
}

async fn an_alias_that_collides_is_invalid_and_names_both(app: TestApp) {
    let d = dev(&app).await;
    let mut packs = app.packs_as(&d.org.member);
    // Another tool's qualified name.
    let request = settings(
        &d.pack.id,
        &d.github,
        vec![aliased("search", "jira__issues", "")],
        "",
    );
    let status = assert_error(
        packs.update_pack_server_tools(request).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), ["tool_settings.tools[0].alias"]);
    let description = status
        .get_error_details()
        .bad_request()
        .expect("details")
        .field_violations[0]
        .description
        .clone();
    assert!(
        description.contains("tool \"search\" of server \"github\"")
            && description.contains("tool \"issues\" of server \"jira\""),
        "{description}"
    );

    // Another member's alias.
    let jira = vec![aliased("issues", "tickets", "")];
    update(&app, &d.org.member, settings(&d.pack.id, &d.jira, jira, "")).await;
    let request = settings(
        &d.pack.id,
        &d.github,
        vec![aliased("issues", "tickets", "")],
        "",
    );
    let status = assert_error(
        packs.update_pack_server_tools(request).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let violation = status
        .get_error_details()
        .bad_request()
        .expect("details")
        .field_violations[0]
        .clone();
    assert_eq!(violation.field, "tool_settings.tools[0].alias");
    assert!(
        violation
            .description
            .contains("the alias of tool \"issues\" of server \"jira\""),
        "{violation:?}"
    );

    // Every invalid field at once.
    let request = settings(
        &d.pack.id,
        &d.github,
        vec![
            aliased("issues", "has space", ""),
            aliased("search", "", &"x".repeat(4001)),
            listed("issues"),
            listed(""),
        ],
        "",
    );
    let status = assert_error(
        packs.update_pack_server_tools(request).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        violated_fields(&status),
        [
            "tool_settings.tools[0].alias",
            "tool_settings.tools[1].description",
            "tool_settings.tools[2].tool_name",
            "tool_settings.tools[3].tool_name",
        ]
    );
}

async fn settings_edits_fail_like_other_pack_edits(app: TestApp) {
    let d = dev(&app).await;
    let v2 = update(
        &app,
        &d.org.member,
        settings(&d.pack.id, &d.github, curation(), ""),
    )
    .await;
    let stale = settings(&d.pack.id, &d.github, vec![], &d.pack.etag);
    let result = app
        .packs_as(&d.org.member)
        .update_pack_server_tools(stale)
        .await;
    assert_error(result, Code::Aborted, "ETAG_MISMATCH");

    let unknown_pack = settings(
        "pack_0123456789abcdef0123456789abcdef",
        &d.github,
        vec![],
        "",
    );
    let result = app
        .packs_as(&d.org.member)
        .update_pack_server_tools(unknown_pack)
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
    let outsider = app.create_server(&d.org.admin, server("outsider")).await.id;
    let not_member = settings(&d.pack.id, &outsider, vec![], "");
    let result = app
        .packs_as(&d.org.member)
        .update_pack_server_tools(not_member)
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");

    for auth in [&d.org.viewer, &d.org.member2] {
        let request = settings(&d.pack.id, &d.github, vec![], "");
        let result = app.packs_as(auth).update_pack_server_tools(request).await;
        assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    }
    let other = app.org("other", Plan::Pro).await;
    let request = settings(&d.pack.id, &d.github, vec![], "");
    let result = app
        .packs_as(&other.admin)
        .update_pack_server_tools(request)
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");

    let status = assert_error(
        (app.packs_as(&d.org.member))
            .update_pack_server_tools(pb::UpdatePackServerToolsRequest::default())
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), ["pack_id", "server"]);
    let pack = app
        .packs_as(&d.org.viewer)
        .get_pack(pb::GetPackRequest {
            id: d.pack.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(pack.version, v2.version, "no failed edit made a version");
}

async fn settings_naming_missing_tools_are_kept_and_reported(app: TestApp) {
    let d = dev(&app).await;
    let mut github = settings(
        &d.pack.id,
        &d.github,
        vec![
            listed("gone"),
            aliased("issues", "github__new", ""),
            listed("search"),
        ],
        "",
    );
    if let Some(s) = github.tool_settings.as_mut() {
        s.only_listed_tools = true;
    }
    let pack = update(&app, &d.org.member, github).await;
    let kept = pack.tool_settings[0]
        .tool_settings
        .clone()
        .expect("settings");
    assert!(kept.only_listed_tools);
    let names: Vec<&str> = kept.tools.iter().map(|t| t.tool_name.as_str()).collect();
    assert_eq!(names, ["gone", "issues", "search"]);

    let resolved = resolve(&app, &d.org.viewer, &d.pack.id, 0).await;
    let names: Vec<&str> = resolved
        .tools
        .iter()
        .map(|t| t.qualified_name.as_str())
        .collect();
    assert_eq!(names, ["github__new", "github__search", "jira__issues"]);
    assert_eq!(
        excluded(&resolved),
        [("delete", pb::ExclusionReason::NotListed)]
    );
    let issues: Vec<(&str, pb::SettingIssueKind)> = (resolved.setting_issues.iter())
        .map(|i| (i.tool_name.as_str(), i.kind()))
        .collect();
    assert_eq!(issues, [("gone", pb::SettingIssueKind::UnknownTool)]);

    // A sync brings a tool whose qualified name is an alias: the alias
    // keeps its name, the new tool gets a suffix, and both are reported.
    synced(
        &app,
        &d.github,
        &[tool("issues"), tool("search"), tool("new"), tool("gone")],
    )
    .await;
    let mut all = settings(
        &d.pack.id,
        &d.github,
        vec![aliased("issues", "github__new", ""), listed("new")],
        "",
    );
    if let Some(s) = all.tool_settings.as_mut() {
        s.only_listed_tools = true;
    }
    let status = assert_error(
        app.packs_as(&d.org.member)
            .update_pack_server_tools(all)
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), ["tool_settings.tools[0].alias"]);
    let resolved = resolve(&app, &d.org.viewer, &d.pack.id, 0).await;
    let names: Vec<&str> = resolved
        .tools
        .iter()
        .map(|t| t.qualified_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "github__gone",
            "github__new",
            "github__search",
            "jira__issues"
        ],
        "only the listed tools; the settings were not changed"
    );
    assert!(resolved.tools[1].aliased, "{resolved:?}");
    assert!(resolved.setting_issues.is_empty(), "{resolved:?}");

    let jira_alias = settings(
        &d.pack.id,
        &d.jira,
        vec![aliased("issues", "github__search", "")],
        "",
    );
    let status = assert_error(
        app.packs_as(&d.org.member)
            .update_pack_server_tools(jira_alias)
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), ["tool_settings.tools[0].alias"]);
}

async fn a_tool_that_appears_under_an_alias_name_is_offered_suffixed_and_reported(app: TestApp) {
    let d = dev(&app).await;
    let jira = vec![aliased("issues", "github__new", "")];
    update(&app, &d.org.member, settings(&d.pack.id, &d.jira, jira, "")).await;
    synced(&app, &d.github, &[tool("issues"), tool("new")]).await;
    let resolved = resolve(&app, &d.org.viewer, &d.pack.id, 0).await;
    assert_eq!(
        offered(&resolved)
            .iter()
            .map(|(shown, name, _)| (*shown, *name))
            .collect::<Vec<_>>(),
        [
            ("github__issues", "issues"),
            ("github__new_2", "new"),
            ("github__new", "issues"),
        ]
    );
    let [issue] = resolved.setting_issues.as_slice() else {
        panic!("one issue: {resolved:?}");
    };
    assert_eq!(
        (
            issue.server_name.as_str(),
            issue.tool_name.as_str(),
            issue.kind()
        ),
        ("github", "new", pb::SettingIssueKind::NameTakenByAlias)
    );
    assert_eq!(issue.shown_name, "github__new_2");
}

on_both_backends!(
    settings_are_versioned_shown_and_restored,
    an_alias_that_collides_is_invalid_and_names_both,
    settings_edits_fail_like_other_pack_edits,
    settings_naming_missing_tools_are_kept_and_reported,
    a_tool_that_appears_under_an_alias_name_is_offered_suffixed_and_reported,
);
