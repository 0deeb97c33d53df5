//! McpServerService: discovered capabilities, approvals, validation of every
//! field, and secrets (never at rest in plaintext, never in an answer).

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use mcp_registry::registry::canonical::definition_hash;
use mcp_registry::registry::now_micros;
use mcp_registry::registry::servers::CapabilityKind;
use prost_types::{FieldMask, Struct, Value, value::Kind};
use serde_json::json;
use tonic::Code;

use mcp_registry::pb::mcp_server_service_client::McpServerServiceClient;

use crate::helpers::{Authed, TestApp, assert_error, bearer, discovered, server, violated_fields};
use crate::on_both_backends;

fn tool(name: &str, description: &str) -> serde_json::Value {
    json!({
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}},
        "annotations": {"readOnlyHint": true},
    })
}

/// A member's "github" (REQUIRE_ALL) whose last sync found 25 tools.
struct Synced {
    org: crate::helpers::Org,
    created: pb::McpServer,
    tools: Vec<serde_json::Value>,
}

/// Creates a member's "github" that requires approval of every tool.
async fn require_all(app: &TestApp, org: &crate::helpers::Org) -> pb::McpServer {
    let mut input = server("github");
    input.approval_policy = pb::ApprovalPolicy::RequireAll as i32;
    app.create_server(&org.member, input).await
}

async fn synced_github(app: &TestApp) -> Synced {
    let org = app.org("acme", Plan::Pro).await;
    let created = require_all(app, &org).await;
    let tools: Vec<serde_json::Value> = (0..25)
        .map(|i| tool(&format!("tool_{i:02}"), "does things"))
        .collect();
    discovered(app, &created.id, CapabilityKind::Tool, tools.clone()).await;
    Synced {
        org,
        created,
        tools,
    }
}

/// Returns the first `count` tools of `server_id`.
async fn first_tools(
    client: &mut McpServerServiceClient<Authed>,
    server_id: &str,
    count: i32,
) -> Vec<pb::Tool> {
    client
        .list_server_tools(pb::ListServerToolsRequest {
            server_id: server_id.into(),
            page_size: count,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .tools
}

/// Returns an approval request for `server_id` with nothing set.
fn approve(server_id: &str) -> pb::ApproveToolsRequest {
    pb::ApproveToolsRequest {
        server_id: server_id.into(),
        ..Default::default()
    }
}

async fn a_server_lists_no_tools_before_its_first_sync(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = require_all(&app, &org).await;
    let empty = app
        .servers_as(&org.member)
        .list_server_tools(pb::ListServerToolsRequest {
            server_id: created.id.clone(),
            ..Default::default()
        })
        .await
        .expect("empty")
        .into_inner();
    assert_eq!((empty.tools.len(), empty.total_size), (0, 0));
}

async fn tools_are_listed_in_pages_with_their_hashes(app: TestApp) {
    let Synced { org, created, .. } = synced_github(&app).await;
    let mut client = app.servers_as(&org.member);
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_server_tools(pb::ListServerToolsRequest {
                server_id: created.id.clone(),
                page_size: 10,
                page_token: token,
            })
            .await
            .expect("page")
            .into_inner();
        assert_eq!(page.total_size, 25);
        for t in &page.tools {
            assert_eq!(t.approval_state(), pb::ToolApprovalState::NotApproved);
            assert_eq!(t.definition_hash.len(), 64);
            assert_eq!(t.description, "does things");
            assert!(
                t.input_schema
                    .as_ref()
                    .is_some_and(|s| s.fields.contains_key("properties"))
            );
        }
        names.extend(page.tools.into_iter().map(|t| t.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let expected: Vec<String> = (0..25).map(|i| format!("tool_{i:02}")).collect();
    assert_eq!(names, expected);
}

async fn tools_are_approved_by_name_or_by_hash(app: TestApp) {
    let Synced {
        org,
        created,
        tools,
    } = synced_github(&app).await;
    let mut client = app.servers_as(&org.member);
    let approved = client
        .approve_tools(pb::ApproveToolsRequest {
            tool_names: vec!["tool_00".into()],
            definition_hashes: vec![definition_hash(&tools[1])],
            ..approve(&created.id)
        })
        .await
        .expect("approve")
        .into_inner();
    assert_eq!(approved.tool_approval_hashes.len(), 2);
    assert_ne!(approved.etag, created.etag);
    let listed = first_tools(&mut client, &created.id, 3).await;
    let states: Vec<pb::ToolApprovalState> = listed.iter().map(|t| t.approval_state()).collect();
    assert_eq!(
        states,
        vec![
            pb::ToolApprovalState::Approved,
            pb::ToolApprovalState::Approved,
            pb::ToolApprovalState::NotApproved
        ]
    );
}

async fn a_tool_that_changes_silently_loses_its_approval(app: TestApp) {
    let Synced {
        org,
        created,
        tools,
    } = synced_github(&app).await;
    let mut client = app.servers_as(&org.member);
    client
        .approve_tools(pb::ApproveToolsRequest {
            tool_names: vec!["tool_00".into()],
            ..approve(&created.id)
        })
        .await
        .expect("approve");
    // The server silently changes tool_00: its approval no longer holds.
    let mut changed = tools.clone();
    changed[0] = tool("tool_00", "now deletes things");
    discovered(&app, &created.id, CapabilityKind::Tool, changed).await;
    let listed = first_tools(&mut client, &created.id, 1).await;
    assert_eq!(
        listed[0].approval_state(),
        pb::ToolApprovalState::ChangedSinceApproval
    );
    assert_eq!(
        listed[0].approved_definition_hash,
        definition_hash(&tools[0])
    );
    // Approving the old hash is refused.
    let result = client
        .approve_tools(pb::ApproveToolsRequest {
            definition_hashes: vec![definition_hash(&tools[0])],
            ..approve(&created.id)
        })
        .await;
    assert_error(result, Code::FailedPrecondition, "FAILED_PRECONDITION");
}

async fn approving_an_unknown_tool_is_not_found_naming_it(app: TestApp) {
    let Synced { org, created, .. } = synced_github(&app).await;
    let result = app
        .servers_as(&org.member)
        .approve_tools(pb::ApproveToolsRequest {
            tool_names: vec!["no_such_tool".into()],
            ..approve(&created.id)
        })
        .await;
    let status = assert_error(result, Code::NotFound, "NOT_FOUND");
    assert!(status.message().contains("no_such_tool"), "{status:?}");
}

async fn revoking_a_tool_follows_the_etag_of_the_approvals(app: TestApp) {
    let Synced { org, created, .. } = synced_github(&app).await;
    let mut client = app.servers_as(&org.member);
    let all = client
        .approve_tools(pb::ApproveToolsRequest {
            all_tools: true,
            ..approve(&created.id)
        })
        .await
        .expect("all")
        .into_inner();
    assert_eq!(all.tool_approval_hashes.len(), 25);
    let revoked = client
        .approve_tools(pb::ApproveToolsRequest {
            revoke_tool_names: vec!["tool_03".into()],
            etag: all.etag.clone(),
            ..approve(&created.id)
        })
        .await
        .expect("revoke")
        .into_inner();
    assert_eq!(revoked.tool_approval_hashes.len(), 24);
    let result = client
        .approve_tools(pb::ApproveToolsRequest {
            all_tools: true,
            etag: all.etag,
            ..approve(&created.id)
        })
        .await;
    assert_error(result, Code::Aborted, "ETAG_MISMATCH");
}

async fn an_approval_request_reports_every_invalid_field(app: TestApp) {
    let Synced { org, created, .. } = synced_github(&app).await;
    let mut client = app.servers_as(&org.member);
    let result = client.approve_tools(approve(&created.id)).await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["tool_names"]);
    let result = client
        .approve_tools(pb::ApproveToolsRequest {
            server_id: created.id.clone(),
            all_tools: true,
            tool_names: vec!["tool_01".into()],
            revoke_tool_names: vec!["tool_01".into()],
            definition_hashes: vec!["XYZ".into()],
            etag: String::new(),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        vec!["all_tools", "revoke_tool_names", "definition_hashes"]
    );
}

async fn under_require_none_no_approval_is_needed(app: TestApp) {
    let Synced { org, created, .. } = synced_github(&app).await;
    let mut client = app.servers_as(&org.member);
    let mut relaxed = created.clone();
    relaxed.approval_policy = pb::ApprovalPolicy::RequireNone as i32;
    relaxed.etag.clear();
    client
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(relaxed),
            update_mask: Some(FieldMask {
                paths: vec!["approval_policy".into()],
            }),
        })
        .await
        .expect("relax");
    let listed = first_tools(&mut client, &created.id, 1).await;
    assert_eq!(
        listed[0].approval_state(),
        pb::ToolApprovalState::NotRequired
    );
}

/// Creates "everything" with one prompt, three resources and two resource
/// templates from its last sync.
async fn everything_discovered(app: &TestApp, org: &crate::helpers::Org) -> pb::McpServer {
    let created = app.create_server(&org.admin, server("everything")).await;
    discovered(
        app,
        &created.id,
        CapabilityKind::Prompt,
        vec![json!({"name": "greet", "description": "says hi", "arguments": [{"name": "who", "required": true}]})],
    )
    .await;
    discovered(
        app,
        &created.id,
        CapabilityKind::Resource,
        (0..3).map(|i| json!({"uri": format!("test://r/{i}"), "name": format!("r{i}"), "mimeType": "text/plain"})).collect(),
    )
    .await;
    discovered(
        app,
        &created.id,
        CapabilityKind::ResourceTemplate,
        vec![
            json!({"uriTemplate": "test://t/{id}", "name": "t"}),
            json!({"uriTemplate": "test://u/{id}", "name": "u"}),
        ],
    )
    .await;
    created
}

async fn prompts_are_listed_from_the_last_sync(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = everything_discovered(&app, &org).await;
    let prompts = app
        .servers_as(&org.viewer)
        .list_server_prompts(pb::ListServerPromptsRequest {
            server_id: created.id.clone(),
            ..Default::default()
        })
        .await
        .expect("prompts")
        .into_inner();
    assert_eq!(prompts.total_size, 1);
    assert_eq!(prompts.prompts[0].name, "greet");
    assert!(prompts.prompts[0].arguments[0].required);
}

async fn pages_walk_resources_then_templates_across_the_boundary(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = everything_discovered(&app, &org).await;
    let mut client = app.servers_as(&org.viewer);
    // Pages of 2 walk resources, then templates, across the boundary.
    let mut resources = Vec::new();
    let mut templates = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_server_resources(pb::ListServerResourcesRequest {
                server_id: created.id.clone(),
                page_size: 2,
                page_token: token,
            })
            .await
            .expect("resources")
            .into_inner();
        pages += 1;
        assert_eq!(page.total_size, 5);
        assert!(page.resources.len() + page.resource_templates.len() <= 2);
        resources.extend(page.resources.into_iter().map(|r| r.uri));
        templates.extend(page.resource_templates.into_iter().map(|t| t.uri_template));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(resources, vec!["test://r/0", "test://r/1", "test://r/2"]);
    assert_eq!(templates, vec!["test://t/{id}", "test://u/{id}"]);
}

async fn a_server_counts_what_its_last_sync_found(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = everything_discovered(&app, &org).await;
    let got = app
        .servers_as(&org.viewer)
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Id(created.id.clone())),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        (
            got.prompt_count,
            got.resource_count,
            got.resource_template_count
        ),
        (1, 3, 2)
    );
}

async fn a_token_of_the_tools_listing_does_not_page_the_resources(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = everything_discovered(&app, &org).await;
    discovered(
        &app,
        &created.id,
        CapabilityKind::Tool,
        (0..3).map(|i| tool(&format!("t{i}"), "d")).collect(),
    )
    .await;
    let mut client = app.servers_as(&org.viewer);
    let tools = client
        .list_server_tools(pb::ListServerToolsRequest {
            server_id: created.id.clone(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("tools")
        .into_inner();
    let result = client
        .list_server_resources(pb::ListServerResourcesRequest {
            server_id: created.id.clone(),
            page_size: 1,
            page_token: tools.next_page_token,
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["page_token"]);
}

fn string_value(s: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.into())),
    }
}

/// One invalid CreateMcpServer input and the field it must be reported under.
struct Case {
    what: &'static str,
    field: &'static str,
    change: fn(&mut pb::McpServer),
}

const CASES: &[Case] = &[
    Case {
        what: "empty name",
        field: "mcp_server.name",
        change: |s| s.name.clear(),
    },
    Case {
        what: "name too long",
        field: "mcp_server.name",
        change: |s| s.name = "a".repeat(65),
    },
    Case {
        what: "upper-case name",
        field: "mcp_server.name",
        change: |s| s.name = "GitHub".into(),
    },
    Case {
        what: "confusable (Cyrillic i) name",
        field: "mcp_server.name",
        change: |s| s.name = "g\u{0456}thub".into(),
    },
    Case {
        what: "name with a space",
        field: "mcp_server.name",
        change: |s| s.name = "git hub".into(),
    },
    Case {
        what: "name starting with a dash",
        field: "mcp_server.name",
        change: |s| s.name = "-github".into(),
    },
    Case {
        what: "empty url",
        field: "mcp_server.url",
        change: |s| s.url.clear(),
    },
    Case {
        what: "http url",
        field: "mcp_server.url",
        change: |s| s.url = "http://mcp.example.com/mcp".into(),
    },
    Case {
        what: "javascript url",
        field: "mcp_server.url",
        change: |s| s.url = "javascript:alert(1)".into(),
    },
    Case {
        what: "file url",
        field: "mcp_server.url",
        change: |s| s.url = "file:///etc/passwd".into(),
    },
    Case {
        what: "relative url",
        field: "mcp_server.url",
        change: |s| s.url = "/mcp".into(),
    },
    Case {
        what: "url with credentials",
        field: "mcp_server.url",
        change: |s| s.url = "https://user:pass@mcp.example.com/".into(),
    },
    Case {
        what: "url with fragment",
        field: "mcp_server.url",
        change: |s| s.url = "https://mcp.example.com/#x".into(),
    },
    Case {
        what: "url too long",
        field: "mcp_server.url",
        change: |s| s.url = format!("https://mcp.example.com/{}", "a".repeat(2100)),
    },
    Case {
        what: "icon url with ftp",
        field: "mcp_server.icon_url",
        change: |s| s.icon_url = "ftp://x.example.com/i.png".into(),
    },
    Case {
        what: "header value with CR/LF",
        field: "mcp_server.request_headers",
        change: |s| {
            s.request_headers
                .insert("X-Trace".into(), "a\r\nInjected: yes".into());
        },
    },
    Case {
        what: "hop-by-hop header",
        field: "mcp_server.request_headers",
        change: |s| {
            s.request_headers
                .insert("Connection".into(), "close".into());
        },
    },
    Case {
        what: "invalid header name",
        field: "mcp_server.request_headers",
        change: |s| {
            s.request_headers.insert("Bad Header".into(), "x".into());
        },
    },
    Case {
        what: "header duplicated ignoring case",
        field: "mcp_server.request_headers",
        change: |s| {
            s.request_headers.insert("X-A".into(), "1".into());
            s.request_headers.insert("x-a".into(), "2".into());
        },
    },
    Case {
        what: "credentials with auth NONE",
        field: "mcp_server.credentials",
        change: |s| {
            s.auth_type = pb::AuthType::None as i32;
            s.credentials = bearer("t");
        },
    },
    Case {
        what: "bearer auth without credentials",
        field: "mcp_server.credentials",
        change: |s| s.auth_type = pb::AuthType::BearerToken as i32,
    },
    Case {
        what: "api key credentials for bearer auth",
        field: "mcp_server.credentials",
        change: |s| {
            s.auth_type = pb::AuthType::BearerToken as i32;
            s.credentials = Some(pb::Credentials {
                kind: Some(pb::credentials::Kind::ApiKey(pb::ApiKeyCredentials {
                    key: "k".into(),
                    header_name: String::new(),
                    key_secret: None,
                })),
            });
        },
    },
    Case {
        what: "empty bearer token",
        field: "mcp_server.credentials.bearer_token.token",
        change: |s| s.credentials = bearer(""),
    },
    Case {
        what: "oauth token url over http",
        field: "mcp_server.credentials.oauth2_client_credentials.token_url",
        change: |s| {
            s.credentials = Some(pb::Credentials {
                kind: Some(pb::credentials::Kind::Oauth2ClientCredentials(
                    pb::OAuth2ClientCredentials {
                        token_url: "http://auth.example.com/token".into(),
                        client_id: "id".into(),
                        client_secret: "secret".into(),
                        scopes: vec![],
                    },
                )),
            });
        },
    },
    Case {
        what: "credentials with no kind",
        field: "mcp_server.credentials",
        change: |s| s.credentials = Some(pb::Credentials { kind: None }),
    },
    Case {
        what: "bearer header also given as a header",
        field: "mcp_server.request_headers",
        change: |s| {
            s.credentials = bearer("tok");
            s.request_headers
                .insert("Authorization".into(), "Bearer other".into());
        },
    },
    Case {
        what: "unknown transport",
        field: "mcp_server.transport",
        change: |s| s.transport = 42,
    },
    Case {
        what: "unknown auth type",
        field: "mcp_server.auth_type",
        change: |s| s.auth_type = 42,
    },
    Case {
        what: "unknown approval policy",
        field: "mcp_server.approval_policy",
        change: |s| s.approval_policy = 42,
    },
    Case {
        what: "invalid category",
        field: "mcp_server.category",
        change: |s| s.category = "Dev Tools".into(),
    },
    Case {
        what: "description too long",
        field: "mcp_server.description",
        change: |s| s.description = "d".repeat(2001),
    },
    Case {
        what: "allowed tool with a space",
        field: "mcp_server.tool_configuration.allowed_tools",
        change: |s| {
            s.tool_configuration = Some(pb::ToolConfiguration {
                enabled: None,
                allowed_tools: vec!["bad name".into()],
            });
        },
    },
    Case {
        what: "allowed tools duplicated",
        field: "mcp_server.tool_configuration.allowed_tools",
        change: |s| {
            s.tool_configuration = Some(pb::ToolConfiguration {
                enabled: None,
                allowed_tools: vec!["a".into(), "a".into()],
            });
        },
    },
    Case {
        what: "oversized config",
        field: "mcp_server.config",
        change: |s| {
            s.config = Some(Struct {
                fields: [("blob".to_owned(), string_value(&"x".repeat(70 * 1024)))].into(),
            });
        },
    },
    Case {
        what: "masked header value on create",
        field: "mcp_server.request_headers",
        change: |s| {
            s.request_headers
                .insert("X-Token".into(), "********".into());
        },
    },
];

async fn each_invalid_input_is_reported_under_its_field(app: TestApp) {
    assert!(CASES.len() >= 25);
    let org = app.org("acme", Plan::Pro).await;
    let mut client = app.servers_as(&org.admin);
    for case in CASES {
        let mut input = server("valid-name");
        (case.change)(&mut input);
        let result = client
            .create_mcp_server(pb::CreateMcpServerRequest {
                mcp_server: Some(input),
            })
            .await;
        let status = result.expect_err(case.what);
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{}: {status:?}",
            case.what
        );
        let fields = violated_fields(&status);
        assert!(
            fields.iter().any(|f| f == case.field),
            "{}: expected {} in {fields:?}",
            case.what,
            case.field
        );
    }

    // Several problems at once are all reported.
    let mut input = server("Bad Name");
    input.url = "ftp://x".into();
    input.category = "NO".into();
    let result = client
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(input),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        vec!["mcp_server.name", "mcp_server.url", "mcp_server.category"]
    );

    // Listing and updating: negative size, tampered token, bad filter, unknown mask path.
    let result = client
        .list_mcp_servers(pb::ListMcpServersRequest {
            page_size: -3,
            ..Default::default()
        })
        .await;
    assert_eq!(
        violated_fields(&assert_error(
            result,
            Code::InvalidArgument,
            "INVALID_ARGUMENT"
        )),
        vec!["page_size"]
    );
    let result = client
        .list_mcp_servers(pb::ListMcpServersRequest {
            page_token: "eyJ4Ijo.AAAA".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        violated_fields(&assert_error(
            result,
            Code::InvalidArgument,
            "INVALID_ARGUMENT"
        )),
        vec!["page_token"]
    );
    let result = client
        .list_mcp_servers(pb::ListMcpServersRequest {
            filter: Some(pb::McpServerFilter {
                name_prefix: "Git%".into(),
                status: 99,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    assert_eq!(
        violated_fields(&assert_error(
            result,
            Code::InvalidArgument,
            "INVALID_ARGUMENT"
        )),
        vec!["filter.status", "filter.name_prefix"]
    );
    let created = app.create_server(&org.admin, server("real")).await;
    let result = client
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(created),
            update_mask: Some(FieldMask {
                paths: vec!["colour".into()],
            }),
        })
        .await;
    assert_eq!(
        violated_fields(&assert_error(
            result,
            Code::InvalidArgument,
            "INVALID_ARGUMENT"
        )),
        vec!["update_mask"]
    );
    let result = client
        .create_mcp_server(pb::CreateMcpServerRequest { mcp_server: None })
        .await;
    assert_eq!(
        violated_fields(&assert_error(
            result,
            Code::InvalidArgument,
            "INVALID_ARGUMENT"
        )),
        vec!["mcp_server"]
    );
}

/// The secret values used below; none may ever be stored or returned.
const SECRETS: &[&str] = &[
    "ghp_bearer_7f3a9c1e",
    "apikey_5d2b8e4f",
    "oauth_client_secret_9e1c",
    "Bearer hdr_auth_3b7d",
    "cookie_val_6a2f",
];

/// Servers holding every kind of secret: a bearer token, an API key, an
/// OAuth2 client secret and sensitive headers.
fn servers_with_every_secret() -> Vec<pb::McpServer> {
    let mut with_bearer = server("bearer");
    with_bearer.credentials = bearer(SECRETS[0]);
    let mut with_api_key = server("apikey");
    with_api_key.credentials = Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::ApiKey(pb::ApiKeyCredentials {
            key: SECRETS[1].into(),
            header_name: "X-Service-Key".into(),
            key_secret: None,
        })),
    });
    let mut with_oauth = server("oauth");
    with_oauth.credentials = Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::Oauth2ClientCredentials(
            pb::OAuth2ClientCredentials {
                token_url: "https://auth.example.com/token".into(),
                client_id: "client-1".into(),
                client_secret: SECRETS[2].into(),
                scopes: vec!["read".into()],
            },
        )),
    });
    let mut with_headers = server("headers");
    with_headers.request_headers = [
        ("Authorization".to_owned(), SECRETS[3].to_owned()),
        ("Cookie".to_owned(), SECRETS[4].to_owned()),
    ]
    .into();
    vec![with_bearer, with_api_key, with_oauth, with_headers]
}

/// Every answer about `created` (get, an update that re-seals, approval,
/// tools, prompts, resources), as text.
async fn answers_about(
    client: &mut McpServerServiceClient<Authed>,
    created: &pb::McpServer,
) -> Vec<String> {
    let id = created.id.clone();
    let got = client
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.clone())),
        })
        .await
        .expect("get");
    let mut moved = created.clone();
    moved.url = "https://moved.example.com/mcp".into();
    let updated = client
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(moved),
            update_mask: Some(FieldMask {
                paths: vec!["url".into(), "request_headers".into()],
            }),
        })
        .await
        .expect("update keeps masked headers");
    let approved = client
        .approve_tools(pb::ApproveToolsRequest {
            all_tools: true,
            ..approve(&id)
        })
        .await
        .expect("approve");
    let tools = client
        .list_server_tools(pb::ListServerToolsRequest {
            server_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("tools");
    let prompts = client
        .list_server_prompts(pb::ListServerPromptsRequest {
            server_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("prompts");
    let resources = client
        .list_server_resources(pb::ListServerResourcesRequest {
            server_id: id,
            ..Default::default()
        })
        .await
        .expect("resources");
    vec![
        format!("{got:?}"),
        format!("{updated:?}"),
        format!("{approved:?}"),
        format!("{tools:?}"),
        format!("{prompts:?}"),
        format!("{resources:?}"),
    ]
}

async fn secrets_are_never_at_rest_or_in_answers(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut answers: Vec<String> = Vec::new();
    let mut client = app.servers_as(&org.admin);
    let mut ids = Vec::new();
    for input in servers_with_every_secret() {
        let created = client
            .create_mcp_server(pb::CreateMcpServerRequest {
                mcp_server: Some(input),
            })
            .await
            .expect("create");
        answers.push(format!("{created:?}"));
        ids.push(created.into_inner());
    }
    // Every RPC that returns a server, including an update that re-seals.
    for created in &ids {
        answers.extend(answers_about(&mut client, created).await);
    }
    answers.push(format!(
        "{:?}",
        client
            .list_mcp_servers(pb::ListMcpServersRequest::default())
            .await
            .expect("list")
    ));
    let headers = &ids[3];
    assert_eq!(headers.request_headers["Authorization"], "********");
    assert_eq!(headers.request_headers["Cookie"], "********");

    let mut at_rest = Vec::new();
    for table in [
        "organizations",
        "api_keys",
        "mcp_servers",
        "server_capabilities",
    ] {
        at_rest.extend(app.store.dump_table(table).await.expect("dump"));
    }
    assert!(
        at_rest.iter().any(|row| row.contains("v1:test:")),
        "sealed values are stored"
    );
    for secret in SECRETS {
        let bare = secret.trim_start_matches("Bearer ");
        for row in &at_rest {
            assert!(!row.contains(bare), "secret {secret:?} at rest: {row}");
        }
        for answer in &answers {
            assert!(
                !answer.contains(bare),
                "secret {secret:?} in an answer: {answer}"
            );
        }
    }
}

async fn a_ciphertext_copied_to_another_server_is_reported_unusable(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut first = server("first");
    first.credentials = bearer("token-of-first");
    let first = app.create_server(&org.admin, first).await;
    let mut second = server("second");
    second.credentials = bearer("token-of-second");
    let second = app.create_server(&org.admin, second).await;

    // Someone with database access moves first's ciphertext into second's row.
    app.store
        .execute_unprepared(&format!(
            "UPDATE mcp_servers SET credentials = (SELECT credentials FROM mcp_servers WHERE id = '{}') WHERE id = '{}'",
            first.id, second.id
        ))
        .await
        .expect("copy ciphertext");

    let mut client = app.servers_as(&org.admin);
    // Reading still works; nothing needs the plaintext.
    let got = client
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Id(second.id.clone())),
        })
        .await
        .expect("get still works")
        .into_inner();
    assert!(got.has_credentials);

    // Changes that do not touch the connection never need the plaintext.
    let mut described = got.clone();
    described.description = "only words".into();
    let got = client
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(described),
            update_mask: Some(FieldMask {
                paths: vec!["description".into()],
            }),
        })
        .await
        .expect("a description change works")
        .into_inner();

    // Re-sealing needs the plaintext: a clear error, not a crash.
    let mut moved = got.clone();
    moved.url = "https://moved.example.com/mcp".into();
    let result = client
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(moved.clone()),
            update_mask: Some(FieldMask {
                paths: vec!["url".into()],
            }),
        })
        .await;
    let status = assert_error(result, Code::FailedPrecondition, "CREDENTIALS_UNUSABLE");
    assert!(
        status.message().contains(&second.id) && status.message().contains("cannot be decrypted"),
        "{status:?}"
    );

    // Setting new credentials repairs it.
    moved.credentials = bearer("fresh-token");
    let repaired = client
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(moved),
            update_mask: Some(FieldMask {
                paths: vec!["url".into(), "credentials".into()],
            }),
        })
        .await
        .expect("new credentials")
        .into_inner();
    assert!(repaired.has_credentials);
    let mut again = repaired.clone();
    again.url = "https://again.example.com/mcp".into();
    client
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(again),
            update_mask: Some(FieldMask {
                paths: vec!["url".into()],
            }),
        })
        .await
        .expect("usable again");
    let _ = first;
}

async fn an_update_based_on_a_stale_read_does_not_undo_a_sync(app: TestApp) {
    use mcp_registry::registry::servers::{ServerStatus, Transport};
    use mcp_registry::store::SyncState;
    let org = app.org("acme", Plan::Pro).await;
    let created = app.create_server(&org.admin, server("github")).await;
    // An update reads the server ...
    let stale = app
        .store
        .get_server(&created.id)
        .await
        .expect("read")
        .expect("exists");
    // ... a sync finishes meanwhile ...
    app.store
        .record_sync_state(
            &created.id,
            &SyncState {
                at: now_micros(),
                succeeded: true,
                server_info: None,
                detected_transport: Some(Transport::StreamableHttp),
                error: None,
            },
        )
        .await
        .expect("sync recorded");
    // ... and the update writes a description change from its stale read.
    let mut changed = stale.clone();
    changed.description = "changed".into();
    changed.revision += 1;
    let event = mcp_registry::registry::audit::AuditEvent::new(
        &mcp_registry::registry::Caller::Cli,
        mcp_registry::registry::audit::Action::ServerUpdate,
        &created.id,
        None,
        Vec::new(),
    );
    app.store
        .update_server(&changed, stale.revision, false, &event)
        .await
        .expect("update");
    let now = app
        .store
        .get_server(&created.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(now.description, "changed");
    assert_eq!(
        now.status,
        ServerStatus::Connected,
        "the sync's status survives"
    );
    assert_eq!(now.detected_transport, Some(Transport::StreamableHttp));
}

on_both_backends!(
    an_update_based_on_a_stale_read_does_not_undo_a_sync,
    a_server_lists_no_tools_before_its_first_sync,
    tools_are_listed_in_pages_with_their_hashes,
    tools_are_approved_by_name_or_by_hash,
    a_tool_that_changes_silently_loses_its_approval,
    approving_an_unknown_tool_is_not_found_naming_it,
    revoking_a_tool_follows_the_etag_of_the_approvals,
    an_approval_request_reports_every_invalid_field,
    under_require_none_no_approval_is_needed,
    prompts_are_listed_from_the_last_sync,
    pages_walk_resources_then_templates_across_the_boundary,
    a_server_counts_what_its_last_sync_found,
    a_token_of_the_tools_listing_does_not_page_the_resources,
    each_invalid_input_is_reported_under_its_field,
    secrets_are_never_at_rest_or_in_answers,
    a_ciphertext_copied_to_another_server_is_reported_unusable,
);
