//! The audit trail (AuditService): one event per mutation, written with the
//! change; none for a failed mutation; who may read which rows; the gateway's
//! call records; filters and pagination; retention.

use std::time::Duration;

use mcp_registry::pb;
use mcp_registry::pb::audit_service_client::AuditServiceClient;
use mcp_registry::registry::retention::Retention;
use mcp_registry::registry::{Plan, now_micros};
use serde_json::{Value, json};
use tonic::Code;

use crate::gateway::{call, echo, request, upstream_pack_of};
use crate::helpers::{
    Auth, Authed, Options, TestApp, assert_error, bearer, server, violated_fields,
};
use crate::mcp::McpServer;
use crate::{on_both_backends, on_both_backends_with};

/// The upstream credential and header secrets of the script; no event may
/// carry them.
const TOKEN: &str = "s3cret-upstream-token";
const HEADER_SECRET: &str = "hdr-secret-value-42";

fn audit_as(app: &TestApp, auth: &Auth) -> AuditServiceClient<Authed> {
    AuditServiceClient::with_interceptor(app.channel.clone(), auth.clone())
}

/// Every event `auth` sees with `request` (all pages), newest first.
async fn events(
    app: &TestApp,
    auth: &Auth,
    request: pb::ListAuditEventsRequest,
) -> Vec<pb::AuditEvent> {
    let mut client = audit_as(app, auth);
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_audit_events(pb::ListAuditEventsRequest {
                page_token: token,
                page_size: 7,
                ..request.clone()
            })
            .await
            .expect("list audit events")
            .into_inner();
        out.extend(page.events);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

async fn all_events(app: &TestApp, auth: &Auth) -> Vec<pb::AuditEvent> {
    events(app, auth, pb::ListAuditEventsRequest::default()).await
}

fn change<'a>(event: &'a pb::AuditEvent, field: &str) -> &'a pb::AuditChange {
    event
        .changes
        .iter()
        .find(|c| c.field == field)
        .unwrap_or_else(|| panic!("no change of {field} in {event:?}"))
}

fn string_value(value: &Option<prost_types::Value>) -> Option<String> {
    match value.as_ref()?.kind.as_ref()? {
        prost_types::value::Kind::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

async fn every_mutation_writes_one_event_in_order_with_its_actor_and_changes(app: TestApp) {
    let upstream = McpServer::new()
        .tool("echo", "Echoes")
        .bearer(TOKEN)
        .start()
        .await;
    let acme = app.org("acme", Plan::Pro).await;
    let admin = &acme.admin;
    let (servers, packs) = (app.servers_as(admin), app.packs_as(admin));
    let (mut servers, mut packs) = (servers, packs);
    let mut expected: Vec<(&str, String)> = Vec::new();

    // Servers: create, update, sync, approve, import.
    let mut input = server("echoer");
    input.url = upstream.url("/mcp");
    input.credentials = bearer(TOKEN);
    input.approval_policy = pb::ApprovalPolicy::RequireAll as i32;
    let echoer = app.create_server(admin, input).await;
    expected.push(("mcp_server.create", echoer.id.clone()));
    servers
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(pb::McpServer {
                id: echoer.id.clone(),
                description: "echoes things".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("update");
    expected.push(("mcp_server.update", echoer.id.clone()));
    let run = app.sync(admin, &echoer.id).await;
    expected.push(("mcp_server.sync", echoer.id.clone()));
    servers
        .approve_tools(pb::ApproveToolsRequest {
            server_id: echoer.id.clone(),
            all_tools: true,
            ..Default::default()
        })
        .await
        .expect("approve");
    expected.push(("mcp_server.approve_tools", echoer.id.clone()));
    let config = json!({"mcpServers": {"search": {
        "url": "https://search.example.com/mcp", "type": "http",
        "headers": {"X-Api-Key": HEADER_SECRET, "X-Team": "core"}}}});
    let imported = servers
        .import_mcp_config(pb::ImportMcpConfigRequest {
            config_json: config.to_string(),
            ..Default::default()
        })
        .await
        .expect("import")
        .into_inner();
    let search = imported.entries[0].mcp_server.clone().expect("imported").id;
    expected.push(("mcp_server.import", search.clone()));

    // Packs: every mutation.
    let pack = packs
        .create_pack(crate::gateway::dev_pack("echo", echoer.id.clone()))
        .await
        .expect("create pack")
        .into_inner();
    expected.push(("pack.create", pack.id.clone()));
    packs
        .update_pack(pb::UpdatePackRequest {
            pack: Some(pb::Pack {
                id: pack.id.clone(),
                description: "echo and more".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("update pack");
    expected.push(("pack.update", pack.id.clone()));
    packs
        .update_pack_server_tools(pb::UpdatePackServerToolsRequest {
            pack_id: pack.id.clone(),
            server: Some(member(&echoer.id)),
            tool_settings: Some(pb::PackToolSettings {
                only_listed_tools: false,
                tools: vec![pb::PackToolSetting {
                    tool_name: "echo".into(),
                    alias: "say".into(),
                    ..Default::default()
                }],
            }),
            etag: String::new(),
        })
        .await
        .expect("update tools");
    expected.push(("pack.update_tools", pack.id.clone()));
    packs
        .add_pack_server(pb::AddPackServerRequest {
            pack_id: pack.id.clone(),
            server: Some(member(&search)),
            etag: String::new(),
        })
        .await
        .expect("add");
    expected.push(("pack.add_server", pack.id.clone()));
    packs
        .remove_pack_server(pb::RemovePackServerRequest {
            pack_id: pack.id.clone(),
            server: Some(member(&search)),
            etag: String::new(),
        })
        .await
        .expect("remove");
    expected.push(("pack.remove_server", pack.id.clone()));
    packs
        .replace_pack_servers(pb::ReplacePackServersRequest {
            pack_id: pack.id.clone(),
            servers: vec![member(&search)],
            etag: String::new(),
        })
        .await
        .expect("replace");
    expected.push(("pack.replace_servers", pack.id.clone()));
    packs
        .restore_pack_revision(pb::RestorePackRevisionRequest {
            pack_id: pack.id.clone(),
            version: 3,
            etag: String::new(),
        })
        .await
        .expect("restore");
    expected.push(("pack.restore", pack.id.clone()));
    packs
        .delete_pack(pb::DeletePackRequest {
            id: pack.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete pack");
    expected.push(("pack.delete", pack.id.clone()));
    servers
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: search.clone(),
            ..Default::default()
        })
        .await
        .expect("delete server");
    expected.push(("mcp_server.delete", search.clone()));

    // Organizations and keys, by a platform admin.
    let mut platform = app.admin();
    platform
        .update_organization(pb::UpdateOrganizationRequest {
            organization: Some(pb::Organization {
                id: acme.id.clone(),
                plan: pb::Plan::Enterprise as i32,
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("update organization");
    expected.push(("organization.update", acme.id.clone()));
    let key = platform
        .create_api_key(pb::CreateApiKeyRequest {
            api_key: Some(pb::ApiKey {
                organization_id: acme.id.clone(),
                role: pb::Role::Member as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("create key")
        .into_inner();
    let key_id = key.id.clone();
    expected.push(("api_key.create", key_id.clone()));
    platform
        .revoke_api_key(pb::RevokeApiKeyRequest { id: key_id.clone() })
        .await
        .expect("revoke");
    expected.push(("api_key.revoke", key_id.clone()));
    // Revoking again changes nothing, and records nothing.
    platform
        .revoke_api_key(pb::RevokeApiKeyRequest { id: key_id.clone() })
        .await
        .expect("revoke again");

    let mut seen = all_events(&app, admin).await;
    seen.reverse();
    // The organization and its four keys were made with the CLI's domain path.
    let (cli, api): (Vec<_>, Vec<_>) = seen.iter().partition(|e| e.actor == "cli");
    let cli_actions: Vec<&str> = cli.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        cli_actions,
        [
            "organization.create",
            "api_key.create",
            "api_key.create",
            "api_key.create",
            "api_key.create"
        ]
    );
    assert!(cli.iter().all(|e| e.request_id.is_empty()), "{cli:?}");
    let got: Vec<(&str, String)> = api
        .iter()
        .map(|e| (e.action.as_str(), e.resource_id.clone()))
        .collect();
    assert_eq!(got, expected);
    for event in &api {
        let by_platform =
            event.action.starts_with("organization") || event.action.starts_with("api_key");
        let actor = if by_platform {
            app.platform.key_id()
        } else {
            admin.key_id()
        };
        assert_eq!(event.actor, actor, "{event:?}");
        assert!(event.request_id.len() > 8, "{event:?}");
        assert_eq!(event.organization_id, acme.id, "{event:?}");
        assert!(event.id.starts_with("aud_"), "{event:?}");
    }

    // What changed.
    let by_action = |action: &str| *api.iter().find(|e| e.action == action).expect(action);
    let created = by_action("mcp_server.create");
    let credentials = change(created, "credentials");
    assert!(
        credentials.secret && credentials.old_value.is_none() && credentials.new_value.is_none()
    );
    assert_eq!(
        string_value(&change(created, "name").new_value).as_deref(),
        Some("echoer")
    );
    let updated = by_action("mcp_server.update");
    assert_eq!(updated.changes.len(), 1, "{updated:?}");
    assert_eq!(updated.changes[0].field, "description");
    assert_eq!(
        string_value(&updated.changes[0].old_value).as_deref(),
        Some("")
    );
    assert_eq!(
        string_value(&updated.changes[0].new_value).as_deref(),
        Some("echoes things")
    );
    assert_eq!(
        string_value(&change(by_action("mcp_server.sync"), "sync_run_id").new_value),
        Some(run.id.clone())
    );
    assert_eq!(
        by_action("mcp_server.approve_tools").changes[0].field,
        "tool_approvals"
    );
    let import = by_action("mcp_server.import");
    // The key header became the server's API_KEY credentials.
    assert!(change(import, "credentials").secret);
    assert_eq!(
        string_value(&change(import, "request_headers.X-Team").new_value).as_deref(),
        Some("core")
    );
    let tools = by_action("pack.update_tools");
    assert!(
        tools
            .changes
            .iter()
            .any(|c| c.field == format!("members.{}.tool_settings", echoer.id)),
        "{tools:?}"
    );
    let plan = change(by_action("organization.update"), "plan");
    assert_eq!(string_value(&plan.old_value).as_deref(), Some("pro"));
    assert_eq!(string_value(&plan.new_value).as_deref(), Some("enterprise"));
    assert!(change(by_action("api_key.create"), "secret").secret);
    let revoked = by_action("api_key.revoke");
    assert_eq!(revoked.changes.len(), 1, "{revoked:?}");
    assert_eq!(revoked.changes[0].field, "revoked_at");

    // No secret, in any form, in any event.
    let text = format!("{seen:?}");
    for secret in [TOKEN, HEADER_SECRET, key.secret.as_str(), "v1:"] {
        assert!(!text.contains(secret), "{secret} in the trail");
    }

    // One resource's history.
    let history = events(
        &app,
        admin,
        pb::ListAuditEventsRequest {
            resource_type: pb::AuditResourceType::McpServer as i32,
            resource_id: echoer.id.clone(),
            ..Default::default()
        },
    )
    .await;
    let actions: Vec<&str> = history.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "mcp_server.create",
            "mcp_server.update",
            "mcp_server.sync",
            "mcp_server.approve_tools"
        ]
    );
}

fn member(server_id: &str) -> pb::PackServer {
    pb::PackServer {
        server_id: server_id.into(),
        name: String::new(),
    }
}

async fn a_failed_mutation_writes_no_event(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let admin = &acme.admin;
    let created = app.create_server(admin, server("github")).await;
    let before = all_events(&app, admin).await.len();
    let mut servers = app.servers_as(admin);
    let stale = servers
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(pb::McpServer {
                id: created.id.clone(),
                description: "x".into(),
                etag: "r7".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await;
    assert_error(stale, Code::Aborted, "ETAG_MISMATCH");
    let invalid = servers
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(pb::McpServer {
                name: "Not A Name!".into(),
                url: "ftp://x".into(),
                ..Default::default()
            }),
        })
        .await;
    assert_error(invalid, Code::InvalidArgument, "INVALID_ARGUMENT");
    let taken = servers
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(server("github")),
        })
        .await;
    assert_error(taken, Code::AlreadyExists, "ALREADY_EXISTS");
    let pack = app
        .packs_as(admin)
        .create_pack(crate::gateway::dev_pack("d", created.id.clone()))
        .await
        .expect("pack")
        .into_inner();
    let stale_pack = app
        .packs_as(admin)
        .delete_pack(pb::DeletePackRequest {
            id: pack.id.clone(),
            etag: "r9".into(),
        })
        .await;
    assert_error(stale_pack, Code::Aborted, "ETAG_MISMATCH");
    let viewer = app
        .servers_as(&acme.viewer)
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: created.id.clone(),
            ..Default::default()
        })
        .await;
    assert_error(viewer, Code::PermissionDenied, "PERMISSION_DENIED");
    let after = all_events(&app, admin).await;
    assert_eq!(
        after.len(),
        before + 1,
        "only the pack's creation: {after:?}"
    );
    assert_eq!(after[0].action, "pack.create");
}

async fn only_admin_keys_read_their_organizations_trail(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let other = app.org("other", Plan::Pro).await;
    let ours = app.create_server(&acme.admin, server("ours")).await;
    app.create_server(&other.admin, server("theirs")).await;
    for auth in [&acme.viewer, &acme.member] {
        let result = audit_as(&app, auth)
            .list_audit_events(pb::ListAuditEventsRequest::default())
            .await;
        assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
        let result = audit_as(&app, auth)
            .list_tool_calls(pb::ListToolCallsRequest::default())
            .await;
        assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    }
    // Another organization's admin sees its own rows only, and cannot name ours.
    let theirs = all_events(&app, &other.admin).await;
    assert!(
        theirs.iter().all(|e| e.organization_id == other.id),
        "{theirs:?}"
    );
    assert!(!theirs.iter().any(|e| e.resource_id == ours.id));
    let named = audit_as(&app, &other.admin)
        .list_audit_events(pb::ListAuditEventsRequest {
            organization_id: acme.id.clone(),
            ..Default::default()
        })
        .await;
    assert_error(named, Code::NotFound, "NOT_FOUND");
    let named = audit_as(&app, &other.admin)
        .list_tool_calls(pb::ListToolCallsRequest {
            organization_id: acme.id.clone(),
            ..Default::default()
        })
        .await;
    assert_error(named, Code::NotFound, "NOT_FOUND");
    // A platform admin: catalog and platform rows, or one organization's by name.
    let catalog = app.create_server(&app.platform, server("shared")).await;
    let platform = all_events(&app, &app.platform).await;
    assert_eq!(platform[0].resource_id, catalog.id, "{platform:?}");
    assert!(
        platform.iter().all(|e| e.organization_id.is_empty()),
        "{platform:?}"
    );
    assert!(
        !platform
            .iter()
            .any(|e| e.resource_id == ours.id || e.resource_id == acme.id)
    );
    let named = events(
        &app,
        &app.platform,
        pb::ListAuditEventsRequest {
            organization_id: acme.id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert!(named.iter().any(|e| e.resource_id == ours.id));
    assert!(named.iter().all(|e| e.organization_id == acme.id));
}

async fn filters_combine_and_page_tokens_are_bound_to_them(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let start = now_micros();
    for i in 0..5 {
        app.create_server(&acme.admin, server(&format!("s{i}")))
            .await;
        app.create_server(&acme.member, server(&format!("m{i}")))
            .await;
    }
    let by_member = events(
        &app,
        &acme.admin,
        pb::ListAuditEventsRequest {
            actor: acme.member.key_id().into(),
            action: "mcp_server.create".into(),
            start: Some(timestamp(start)),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_member.len(), 5);
    assert!(by_member.iter().all(|e| e.actor == acme.member.key_id()));
    let before_start = events(
        &app,
        &acme.admin,
        pb::ListAuditEventsRequest {
            end: Some(timestamp(start)),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(before_start.len(), 5, "the organization and its keys");
    // Pages, newest first, no repeats.
    let mut client = audit_as(&app, &acme.admin);
    let first = client
        .list_audit_events(pb::ListAuditEventsRequest {
            page_size: 4,
            start: Some(timestamp(start)),
            ..Default::default()
        })
        .await
        .expect("first page")
        .into_inner();
    assert_eq!(first.events.len(), 4);
    let times: Vec<_> = first.events.iter().map(|e| e.time.expect("time")).collect();
    assert!(
        times
            .windows(2)
            .all(|w| (w[0].seconds, w[0].nanos) >= (w[1].seconds, w[1].nanos))
    );
    // The token belongs to its filter.
    let other_filter = client
        .list_audit_events(pb::ListAuditEventsRequest {
            page_size: 4,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await;
    let status = assert_error(other_filter, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["page_token"]);
    // Bad filters, each named.
    let bad = client
        .list_audit_events(pb::ListAuditEventsRequest {
            resource_id: "mcp_x".into(),
            resource_type: 99,
            start: Some(timestamp(start)),
            end: Some(timestamp(start)),
            page_size: -1,
            ..Default::default()
        })
        .await;
    let status = assert_error(bad, Code::InvalidArgument, "INVALID_ARGUMENT");
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        ["end", "page_size", "resource_id", "resource_type", "start"]
    );
    // Free-text filters: no control character (PostgreSQL refuses a NUL;
    // the wire fuzzer found it), bounded length.
    let bad = client
        .list_audit_events(pb::ListAuditEventsRequest {
            actor: "key\0".into(),
            action: "a".repeat(129),
            ..Default::default()
        })
        .await;
    let status = assert_error(bad, Code::InvalidArgument, "INVALID_ARGUMENT");
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, ["action", "actor"]);
}

fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// Every call record `auth` sees, newest first, once there are `count`
/// (the writer is in the background).
async fn tool_calls(app: &TestApp, auth: &Auth, count: usize) -> Vec<pb::ToolCall> {
    let mut client = audit_as(app, auth);
    for _ in 0..100 {
        let calls = client
            .list_tool_calls(pb::ListToolCallsRequest {
                page_size: 100,
                ..Default::default()
            })
            .await
            .expect("list calls")
            .into_inner()
            .tool_calls;
        if calls.len() >= count {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} call records");
}

async fn every_gateway_tool_call_leaves_a_record_without_its_arguments(app: TestApp) {
    let upstream = McpServer::new()
        .tool("echo", "Echoes its text")
        .bearer("t0k")
        .on("tools/call", crate::gateway::echo_result);
    let u = upstream_pack_of(&app, upstream, "t0k", pb::ApprovalPolicy::RequireNone).await;
    let (admin, member) = (&u.served.org.admin, &u.served.org.member);
    let (status, _, body) = call(&u.url, member, echo("private words")).await;
    assert_eq!(status, 200, "{body}");
    let (_, _, body) = call(
        &u.url,
        member,
        request(
            "tools/call",
            json!({"name": "echoer__nope", "arguments": {}}),
        ),
    )
    .await;
    assert!(body["error"].is_object(), "{body}");
    u.upstream.stop();
    let (_, _, body) = call(&u.url, member, echo("unreachable")).await;
    assert!(
        body.get("error").is_some() || body["result"]["isError"] == Value::Bool(true),
        "{body}"
    );

    let calls = tool_calls(&app, admin, 3).await;
    assert_eq!(calls.len(), 3, "{calls:?}");
    let outcomes: Vec<(pb::ToolCallOutcome, &str)> = calls
        .iter()
        .rev()
        .map(|c| (c.outcome(), c.detail.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (pb::ToolCallOutcome::Ok, ""),
            (pb::ToolCallOutcome::Refused, "not_offered"),
            (pb::ToolCallOutcome::Error, "upstream_failed"),
        ]
    );
    let ok = &calls[2];
    assert_eq!(ok.key_id, member.key_id());
    assert_eq!(ok.organization_id, u.served.org.id);
    assert_eq!(
        (ok.pack_id.as_str(), ok.pack_version),
        (u.served.pack.id.as_str(), 1)
    );
    assert_eq!(ok.server_id, u.server_id);
    assert_eq!(
        (ok.tool_name.as_str(), ok.called_name.as_str()),
        ("echo", "echoer__echo")
    );
    assert!(ok.duration_micros > 0 && ok.request_id.len() > 8, "{ok:?}");
    let refused = &calls[1];
    assert_eq!(refused.called_name, "echoer__nope");
    assert!(refused.server_id.is_empty() && refused.tool_name.is_empty());
    assert!(!format!("{calls:?}").contains("private words"));

    // Filters and pages.
    let mut client = audit_as(&app, admin);
    let refused_only = client
        .list_tool_calls(pb::ListToolCallsRequest {
            outcome: pb::ToolCallOutcome::Refused as i32,
            ..Default::default()
        })
        .await
        .expect("refused")
        .into_inner()
        .tool_calls;
    assert_eq!(refused_only.len(), 1);
    let to_server = client
        .list_tool_calls(pb::ListToolCallsRequest {
            server_id: u.server_id.clone(),
            key_id: member.key_id().into(),
            pack_id: u.served.pack.id.clone(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("to server")
        .into_inner();
    assert_eq!(to_server.tool_calls.len(), 1);
    let rest = client
        .list_tool_calls(pb::ListToolCallsRequest {
            server_id: u.server_id.clone(),
            key_id: member.key_id().into(),
            pack_id: u.served.pack.id.clone(),
            page_size: 1,
            page_token: to_server.next_page_token,
            ..Default::default()
        })
        .await
        .expect("next page")
        .into_inner();
    assert_eq!(rest.tool_calls.len(), 1);
    assert!(rest.next_page_token.is_empty());
    assert_ne!(rest.tool_calls[0].id, to_server.tool_calls[0].id);
    // A platform admin sees calls only by naming the organization.
    let platform = audit_as(&app, &app.platform)
        .list_tool_calls(pb::ListToolCallsRequest::default())
        .await
        .expect("platform")
        .into_inner();
    assert!(platform.tool_calls.is_empty());
    let named = audit_as(&app, &app.platform)
        .list_tool_calls(pb::ListToolCallsRequest {
            organization_id: u.served.org.id.clone(),
            ..Default::default()
        })
        .await
        .expect("named")
        .into_inner();
    assert_eq!(named.tool_calls.len(), 3);
}

/// Inserts `n` audit events and call records of `org`, `age_days` old.
async fn old_rows(app: &TestApp, org: &str, n: usize, age_days: i64) {
    let at = now_micros() - age_days * 86_400_000_000;
    for i in 0..n {
        let id = mcp_registry::registry::new_id("aud");
        app.store
            .execute_unprepared(&format!(
                "INSERT INTO audit_events (id, scope, at, actor, request_id, action, resource_type, \
                 resource_id, changes) VALUES ('{id}', '{org}', {}, 'cli', '', 'pack.update', 'pack', \
                 'pack_old', '[]')",
                at + i as i64
            ))
            .await
            .expect("old event");
        let id = mcp_registry::registry::new_id("call");
        app.store
            .execute_unprepared(&format!(
                "INSERT INTO tool_calls (id, organization_id, at, key_id, pack_id, pack_version, \
                 server_id, tool_name, called_name, outcome, detail, duration_micros, request_id) \
                 VALUES ('{id}', '{org}', {}, 'key_old', 'pack_old', 1, '', '', 'x', 'ok', '', 1, '')",
                at + i as i64
            ))
            .await
            .expect("old call");
    }
}

fn pruning() -> Options {
    Options {
        metrics: true,
        retention: Some(Retention {
            audit: Some(Duration::from_secs(86_400)),
            calls: Some(Duration::from_secs(86_400)),
            every: Duration::from_millis(200),
            batch: 10,
            pause: Duration::from_millis(20),
        }),
        ..Options::default()
    }
}

async fn retention_prunes_old_rows_in_batches_while_writes_go_on(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    old_rows(&app, &acme.id, 45, 3).await;
    // Writes during the pruning succeed, and their events stay.
    for i in 0..10 {
        app.create_server(&acme.admin, server(&format!("s{i}")))
            .await;
    }
    let mut left = usize::MAX;
    for _ in 0..100 {
        let old_events = app.store.dump_table("audit_events").await.expect("dump");
        let old_calls = app.store.dump_table("tool_calls").await.expect("dump");
        left = old_events
            .iter()
            .chain(&old_calls)
            .filter(|r| r.contains("pack_old"))
            .count();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "expired rows remain");
    let kept = all_events(&app, &acme.admin).await;
    assert_eq!(
        kept.len(),
        5 + 10,
        "the organization, its keys and the servers"
    );
    let metrics = reqwest::get(format!(
        "http://{}/metrics",
        app.metrics_addr.expect("metrics")
    ))
    .await
    .expect("metrics")
    .text()
    .await
    .expect("text");
    for table in ["audit_events", "tool_calls"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "mcp_registry_audit_rows_pruned_total{{table=\"{table}\"}}"
                ))
            })
            .unwrap_or_else(|| panic!("no pruned counter for {table}"));
        let count: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        assert!(count >= 45.0, "{line}");
    }
}

on_both_backends_with!(crate::helpers::loopback();
    every_mutation_writes_one_event_in_order_with_its_actor_and_changes,
);

on_both_backends!(
    a_failed_mutation_writes_no_event,
    only_admin_keys_read_their_organizations_trail,
    filters_combine_and_page_tokens_are_bound_to_them,
);

on_both_backends_with!(crate::helpers::Options { gateway: true, ..crate::helpers::loopback() };
    every_gateway_tool_call_leaves_a_record_without_its_arguments,
);

on_both_backends_with!(super::pruning();
    retention_prunes_old_rows_in_batches_while_writes_go_on,
);
