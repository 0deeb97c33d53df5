//! The seeds' request shapes in gRPC form (issue 18, point 3): a server
//! named only by its display name (seed 001), the documentation URL and icon
//! names of seed 000, and tools answered inline by a sync (seed 004's
//! connect). Seed 002's single `x-api-key` header is in `auth` and `gateway`.

use std::collections::BTreeSet;

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use prost_types::FieldMask;
use serde_json::json;
use tonic::Code;

use crate::helpers::{Auth, TestApp, assert_error, everything, server, violated_fields};
use crate::mcp::McpServer;

/// A server with no name, only a display name.
fn named_for_humans(display_name: &str, host: &str) -> pb::McpServer {
    pb::McpServer {
        display_name: display_name.into(),
        url: format!("https://{host}.mcp.example.com/mcp"),
        ..Default::default()
    }
}

async fn try_create(
    app: &TestApp,
    auth: &Auth,
    server: pb::McpServer,
) -> Result<pb::McpServer, tonic::Status> {
    app.servers_as(auth)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(server),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn get(app: &TestApp, auth: &Auth, id: &str) -> pb::McpServer {
    app.servers_as(auth)
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.into())),
        })
        .await
        .expect("get")
        .into_inner()
}

async fn try_update(
    app: &TestApp,
    auth: &Auth,
    server: pb::McpServer,
    paths: &[&str],
) -> Result<pb::McpServer, tonic::Status> {
    app.servers_as(auth)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(server),
            update_mask: Some(FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn a_server_named_only_by_its_display_name_gets_a_free_derived_name(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let first = app
        .create_server(&org.member, named_for_humans("Everything MCP Server", "a"))
        .await;
    assert_eq!(first.name, "everything-mcp-server");
    assert_eq!(first.display_name, "Everything MCP Server");
    // Another display name with the same slug, and the same one again.
    let second = app
        .create_server(
            &org.member,
            named_for_humans("everything: MCP server!", "b"),
        )
        .await;
    assert_eq!(second.name, "everything-mcp-server-2");
    let third = app
        .create_server(&org.admin, named_for_humans("Everything MCP Server", "c"))
        .await;
    assert_eq!(third.name, "everything-mcp-server-3");
    // A deleted name is free again for the next derived one.
    app.servers_as(&org.member)
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: first.id.clone(),
            ..Default::default()
        })
        .await
        .expect("delete");
    let again = app
        .create_server(&org.member, named_for_humans("Everything MCP Server", "d"))
        .await;
    assert_eq!(again.name, "everything-mcp-server");
    // Accents and letters without a decomposition are spelt in ASCII.
    let accented = app
        .create_server(&org.member, named_for_humans("Café Straße – Søk", "e"))
        .await;
    assert_eq!(accented.name, "cafe-strasse-sok");
    // Names are unique per scope: another organization and the catalog get the base name.
    let other = app.org("other", Plan::Pro).await;
    let theirs = app
        .create_server(&other.admin, named_for_humans("Everything MCP Server", "f"))
        .await;
    assert_eq!(theirs.name, "everything-mcp-server");
    let catalog = app
        .create_server(
            &app.platform,
            named_for_humans("Everything MCP Server", "g"),
        )
        .await;
    assert_eq!(
        (catalog.name.as_str(), catalog.visibility()),
        ("everything-mcp-server", pb::Visibility::Catalog)
    );
    // A name given explicitly is still taken as it is, or refused.
    let mut explicit = named_for_humans("Everything MCP Server", "h");
    explicit.name = "everything-mcp-server".into();
    let result = try_create(&app, &org.admin, explicit).await;
    assert_error(result, Code::AlreadyExists, "ALREADY_EXISTS");
    // The derived name is the server's name everywhere, for example in a lookup.
    let found = app
        .servers_as(&org.viewer)
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Name(
                "everything-mcp-server-2".into(),
            )),
        })
        .await
        .expect("by derived name")
        .into_inner();
    assert_eq!(found.id, second.id);
}

async fn a_create_without_a_usable_name_is_invalid_under_the_right_field(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    // Neither name nor display name.
    let mut nameless = server("x");
    nameless.name.clear();
    let status = assert_error(
        try_create(&app, &org.admin, nameless).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), vec!["mcp_server.name"]);
    // A display name with nothing to derive a name from.
    for display_name in ["🚀✨", "北京", "-- !! --"] {
        let status = assert_error(
            try_create(&app, &org.admin, named_for_humans(display_name, "a")).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(
            violated_fields(&status),
            vec!["mcp_server.display_name"],
            "{display_name}"
        );
    }
    // An invalid display name is reported once, as itself, with the other fields.
    let mut long = named_for_humans(&"x".repeat(201), "a");
    long.url = "ftp://x".into();
    let status = assert_error(
        try_create(&app, &org.admin, long).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        violated_fields(&status),
        vec!["mcp_server.display_name", "mcp_server.url"]
    );
    // An update still needs a name: deriving is for creates.
    let created = app.create_server(&org.admin, server("kept")).await;
    let mut renamed = created.clone();
    renamed.name.clear();
    renamed.display_name = "Other Name".into();
    let status = assert_error(
        try_update(&app, &org.admin, renamed, &["name", "display_name"]).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), vec!["mcp_server.name"]);
}

async fn concurrent_creates_with_one_display_name_all_get_distinct_names(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut creates = tokio::task::JoinSet::new();
    for i in 0..8 {
        let mut client = app.servers_as(&org.admin);
        creates.spawn(async move {
            let server = named_for_humans("Shared Tools", &format!("h{i}"));
            client
                .create_mcp_server(pb::CreateMcpServerRequest {
                    mcp_server: Some(server),
                })
                .await
        });
    }
    let mut names = BTreeSet::new();
    while let Some(created) = creates.join_next().await {
        let created = created.expect("task").expect("every create succeeds");
        names.insert(created.into_inner().name);
    }
    let expected: BTreeSet<String> = std::iter::once("shared-tools".to_owned())
        .chain((2..=8).map(|n| format!("shared-tools-{n}")))
        .collect();
    assert_eq!(names, expected);
}

async fn a_documentation_url_is_kept_shown_and_changed_with_its_mask(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("docs");
    input.description = "kept".into();
    input.documentation_url = "https://docs.example.com/mcp/docs".into();
    let created = app.create_server(&org.member, input).await;
    assert_eq!(
        created.documentation_url,
        "https://docs.example.com/mcp/docs"
    );
    assert_eq!(
        get(&app, &org.viewer, &created.id).await.documentation_url,
        created.documentation_url
    );
    let listed = app
        .servers_as(&org.viewer)
        .list_mcp_servers(pb::ListMcpServersRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed.mcp_servers[0].documentation_url,
        created.documentation_url
    );

    // Changed by its path (other fields untouched), cleared by naming it empty.
    let mut change = created.clone();
    change.documentation_url = "https://docs.example.com/v2".into();
    change.description = "not in the mask".into();
    let changed = try_update(&app, &org.member, change, &["documentation_url"])
        .await
        .expect("update");
    assert_eq!(changed.documentation_url, "https://docs.example.com/v2");
    assert_eq!(changed.description, "kept");
    let mut clear = changed.clone();
    clear.documentation_url.clear();
    let cleared = try_update(&app, &org.member, clear, &["documentation_url"])
        .await
        .expect("clear");
    assert_eq!(cleared.documentation_url, "");
    assert_eq!(
        get(&app, &org.viewer, &created.id).await.documentation_url,
        ""
    );

    let too_long = format!("https://docs.example.com/{}", "a".repeat(2048));
    let bad = [
        "http://docs.example.com/",
        "ftp://docs.example.com/",
        "docs.example.com",
        "https://user:pw@docs.example.com/",
        "https://docs.example.com/#top",
        &too_long,
    ];
    let set = |s: &mut pb::McpServer, value: &str| s.documentation_url = value.to_owned();
    refused_under_its_field(&app, &org.admin, &cleared, "documentation_url", set, &bad).await;
}

/// Asserts that each of `values`, put in `path` by `set`, is INVALID_ARGUMENT
/// naming only `mcp_server.<path>`: in a create, and in an update of
/// `existing` whose mask names `path`.
async fn refused_under_its_field(
    app: &TestApp,
    auth: &Auth,
    existing: &pb::McpServer,
    path: &str,
    set: impl Fn(&mut pb::McpServer, &str),
    values: &[&str],
) {
    let field = format!("mcp_server.{path}");
    for value in values {
        let mut input = server("refused");
        set(&mut input, value);
        let created = try_create(app, auth, input).await;
        let status = assert_error(created, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(violated_fields(&status), vec![field.clone()], "{value}");
        let mut change = existing.clone();
        set(&mut change, value);
        let updated = try_update(app, auth, change, &[path]).await;
        let status = assert_error(updated, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(violated_fields(&status), vec![field.clone()], "{value}");
    }
}

async fn an_icon_is_one_of_the_documented_names_or_a_url(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("named-icon");
    input.icon_url = "database".into();
    let created = app.create_server(&org.admin, input).await;
    assert_eq!(created.icon_url, "database");
    let mut input = server("url-icon");
    input.icon_url = "https://cdn.example.com/icons/search.svg".into();
    let with_url = app.create_server(&org.admin, input).await;
    assert_eq!(
        with_url.icon_url,
        "https://cdn.example.com/icons/search.svg"
    );

    let mut change = with_url.clone();
    change.icon_url = "terminal".into();
    let changed = try_update(&app, &org.admin, change, &["icon_url"])
        .await
        .expect("icon by name");
    assert_eq!(
        get(&app, &org.viewer, &changed.id).await.icon_url,
        "terminal"
    );

    let bad = [
        "rocket",
        "Database",
        "data base",
        "ftp://cdn.example.com/i.svg",
    ];
    let set = |s: &mut pb::McpServer, value: &str| s.icon_url = value.to_owned();
    refused_under_its_field(&app, &org.admin, &changed, "icon_url", set, &bad).await;
}

/// Every tool ListServerTools lists for `server_id`, as (name, description),
/// in its order, read in small pages.
async fn listed_tools(app: &TestApp, auth: &Auth, server_id: &str) -> Vec<(String, String)> {
    let mut tools = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .servers_as(auth)
            .list_server_tools(pb::ListServerToolsRequest {
                server_id: server_id.into(),
                page_size: 7,
                page_token,
            })
            .await
            .expect("tools")
            .into_inner();
        tools.extend(page.tools.into_iter().map(|t| (t.name, t.description)));
        if page.next_page_token.is_empty() {
            return tools;
        }
        page_token = page.next_page_token;
    }
}

fn inline_tools(run: &pb::SyncRun) -> Vec<(String, String)> {
    run.discovered_tools
        .iter()
        .map(|t| (t.name.clone(), t.description.clone()))
        .collect()
}

/// Seed 001's create body, field by field in gRPC form (the mapping the
/// README writes out): `config.name` → `display_name` (the name is derived),
/// `url`, `description`, `approval_policy: require_approval_all` →
/// APPROVAL_POLICY_REQUIRE_ALL, `transport: SSE` → TRANSPORT_SSE,
/// `request_headers` as they are, `secret_token` → `credentials` (the
/// secret itself: sealed at rest). The seed's URL is a package.json, not an
/// MCP endpoint, so the test points it at the reference server's SSE endpoint.
async fn seed_001s_create_body_succeeds_and_syncs(app: TestApp) {
    let Some(upstream) = everything("sse").await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let body = pb::McpServer {
        display_name: "Everything MCP Server".into(),
        url: format!("http://127.0.0.1:{}/sse", upstream.port),
        description: "Reference implementation MCP server with all features".into(),
        approval_policy: pb::ApprovalPolicy::RequireAll as i32,
        transport: pb::Transport::Sse as i32,
        request_headers: [
            ("User-Agent".to_owned(), "MCP-Client/1.0".to_owned()),
            ("Accept".to_owned(), "application/json".to_owned()),
        ]
        .into(),
        credentials: crate::helpers::bearer("secret_token_123"),
        ..Default::default()
    };
    let created = app.create_server(&org.admin, body).await;
    assert_eq!(created.name, "everything-mcp-server");
    assert_eq!(created.approval_policy(), pb::ApprovalPolicy::RequireAll);
    assert_eq!(created.transport(), pb::Transport::Sse);
    assert_eq!(created.auth_type(), pb::AuthType::BearerToken);
    assert!(created.has_credentials && created.credentials.is_none());
    let access = created.access_info.expect("access_info");
    assert!(access.is_creator && access.role() == pb::Role::Admin);
    assert!(created.tool_approval_hashes.is_empty());

    let run = app
        .sync_as(&org.admin)
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: created.id.clone(),
            include_tools: true,
        })
        .await
        .expect("sync")
        .into_inner();
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{run:?}");
    assert_eq!(run.transport(), pb::Transport::Sse);
    let inline = inline_tools(&run);
    assert!(inline.len() >= 10, "{inline:?}");
    assert!(
        inline
            .iter()
            .all(|(_, description)| !description.is_empty())
    );
    assert_eq!(inline, listed_tools(&app, &org.viewer, &created.id).await);
    let now = get(&app, &org.viewer, &created.id).await;
    assert_eq!(now.status(), pb::ServerStatus::Connected);
    assert_eq!(now.tool_count as usize, inline.len());
}

async fn a_sync_asked_for_its_tools_answers_what_list_server_tools_lists(app: TestApp) {
    let mut upstream = McpServer::new().page_size(4);
    for i in 0..23 {
        upstream = upstream.tool(&format!("tool_{i:02}"), &format!("does thing {i}"));
    }
    // A tool without a description has an empty one.
    let upstream = upstream
        .tools([json!({"name": "bare", "inputSchema": {"type": "object"}})])
        .start()
        .await;
    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("fixture");
    input.url = upstream.url("/mcp");
    let created = app.create_server(&org.member, input).await;

    let run = app
        .sync_as(&org.member)
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: created.id.clone(),
            include_tools: true,
        })
        .await
        .expect("sync")
        .into_inner();
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{run:?}");
    let inline = inline_tools(&run);
    assert_eq!(inline.len(), 24);
    assert!(inline.contains(&("bare".to_owned(), String::new())));
    assert!(inline.contains(&("tool_07".to_owned(), "does thing 7".to_owned())));
    assert_eq!(inline, listed_tools(&app, &org.viewer, &created.id).await);

    // A later sync answers the tools as they are then.
    upstream.set_tools([crate::mcp::tool("only", "the one left")]);
    let run = app
        .sync_as(&org.member)
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: created.id.clone(),
            include_tools: true,
        })
        .await
        .expect("sync")
        .into_inner();
    assert_eq!(
        inline_tools(&run),
        vec![("only".to_owned(), "the one left".to_owned())]
    );
    assert_eq!(
        inline_tools(&run),
        listed_tools(&app, &org.viewer, &created.id).await
    );

    // Without the flag, and in the stored run, there are none.
    let plain = app.sync(&org.member, &created.id).await;
    assert!(plain.discovered_tools.is_empty());
    let stored = app
        .sync_as(&org.viewer)
        .get_sync_run(pb::GetSyncRunRequest { id: run.id.clone() })
        .await
        .expect("run")
        .into_inner();
    assert!(stored.discovered_tools.is_empty());

    // A failed sync is still UNAVAILABLE with its run, tools or not.
    let mut gone = server("gone");
    gone.url = format!("http://127.0.0.1:{}/mcp", crate::mcp::free_port());
    let gone = app.create_server(&org.member, gone).await;
    let result = app
        .sync_as(&org.member)
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: gone.id,
            include_tools: true,
        })
        .await;
    assert_error(result, Code::Unavailable, "UPSTREAM_UNREACHABLE");
}

crate::on_both_backends!(
    a_server_named_only_by_its_display_name_gets_a_free_derived_name,
    a_create_without_a_usable_name_is_invalid_under_the_right_field,
    concurrent_creates_with_one_display_name_all_get_distinct_names,
    a_documentation_url_is_kept_shown_and_changed_with_its_mask,
    an_icon_is_one_of_the_documented_names_or_a_url,
);

crate::on_both_backends_with!(crate::helpers::loopback();
    seed_001s_create_body_succeeds_and_syncs,
    a_sync_asked_for_its_tools_answers_what_list_server_tools_lists,
);
