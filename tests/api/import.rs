//! McpServerService.ImportMcpConfig: MCP client configurations as users have
//! them (Claude Desktop, Cursor, VS Code, ExportPack), dry runs, name
//! conflicts, invalid input, and export → import round trips.

use std::collections::HashMap;

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use tonic::Code;

use crate::helpers::{Auth, TestApp, assert_error, bearer, server, violated_fields};

const TOKEN: &str = "lin_import_secret_7f3a";
const API_KEY: &str = "sk_import_secret_91c2";
const SESSION: &str = "sess_import_secret_55d0";

/// A Claude-Desktop-style configuration: two local servers and three remote
/// ones, secrets in headers, one of them through a placeholder.
fn desktop_config() -> String {
    serde_json::json!({
        "mcpServers": {
            "filesystem": {
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]
            },
            "Linear": {
                "url": "https://mcp.linear.example.com/sse",
                "type": "sse",
                "headers": {"Authorization": "Bearer ${LINEAR_TOKEN}"}
            },
            "search": {
                "url": "https://search.example.com/mcp",
                "type": "http",
                "headers": {"X-Api-Key": API_KEY, "X-Team": "core"}
            },
            "git": {"command": "uvx", "args": ["mcp-server-git"], "type": "stdio"},
            "docs": {
                "url": "https://docs.example.com/mcp",
                "headers": {"X-Session-Token": SESSION}
            }
        }
    })
    .to_string()
}

fn import(config: String) -> pb::ImportMcpConfigRequest {
    pb::ImportMcpConfigRequest {
        config_json: config,
        variables: [("LINEAR_TOKEN".to_owned(), TOKEN.to_owned())].into(),
        ..Default::default()
    }
}

async fn names(app: &TestApp, auth: &Auth) -> Vec<String> {
    app.servers_as(auth)
        .list_mcp_servers(pb::ListMcpServersRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .mcp_servers
        .into_iter()
        .map(|s| s.name)
        .collect()
}

async fn a_desktop_config_registers_every_remote_server_and_skips_local_ones(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let response = app
        .servers_as(&org.member)
        .import_mcp_config(import(desktop_config()))
        .await
        .expect("import")
        .into_inner();
    let outcomes: Vec<(String, pb::ImportOutcome)> = response
        .entries
        .iter()
        .map(|e| (e.key.clone(), e.outcome()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("filesystem".into(), pb::ImportOutcome::SkippedLocal),
            ("Linear".into(), pb::ImportOutcome::Created),
            ("search".into(), pb::ImportOutcome::Created),
            ("git".into(), pb::ImportOutcome::SkippedLocal),
            ("docs".into(), pb::ImportOutcome::Created),
        ]
    );
    assert_eq!((response.created_count, response.skipped_count), (3, 2));

    let by_name: HashMap<String, pb::McpServer> = response
        .entries
        .iter()
        .filter_map(|e| e.mcp_server.clone())
        .map(|s| (s.name.clone(), s))
        .collect();
    let linear = &by_name["linear"];
    assert!(linear.id.starts_with("mcp_"), "{linear:?}");
    assert_eq!(linear.transport(), pb::Transport::Sse);
    assert_eq!(linear.auth_type(), pb::AuthType::BearerToken);
    assert!(linear.has_credentials);
    let search = &by_name["search"];
    assert_eq!(search.transport(), pb::Transport::StreamableHttp);
    assert_eq!(search.auth_type(), pb::AuthType::ApiKey);
    assert_eq!(
        search.request_headers,
        HashMap::from([("X-Team".to_owned(), "core".to_owned())])
    );
    let docs = &by_name["docs"];
    assert_eq!(docs.transport(), pb::Transport::Auto);
    assert_eq!(docs.auth_type(), pb::AuthType::None);
    assert_eq!(
        docs.request_headers
            .get("X-Session-Token")
            .map(String::as_str),
        Some(mcp_registry::registry::servers::MASK),
        "a sensitive header is sealed and masked"
    );
    // The stored servers are what the response said.
    let stored = app
        .servers_as(&org.member)
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Name("linear".into())),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(stored, *linear);

    // No secret in the response or at rest.
    let rendered = format!("{response:?}");
    let rows = app.store.dump_table("mcp_servers").await.expect("dump");
    for secret in [TOKEN, API_KEY, SESSION] {
        assert!(!rendered.contains(secret), "{secret} in the response");
        assert!(
            rows.iter().all(|row| !row.contains(secret)),
            "{secret} stored in plaintext"
        );
    }
}

async fn a_dry_run_reports_without_creating(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut request = import(desktop_config());
    request.dry_run = true;
    let response = app
        .servers_as(&org.admin)
        .import_mcp_config(request)
        .await
        .expect("dry run")
        .into_inner();
    assert_eq!((response.created_count, response.skipped_count), (3, 2));
    for entry in &response.entries {
        if let Some(server) = &entry.mcp_server {
            assert!(server.id.is_empty() && server.etag.is_empty(), "{server:?}");
        }
    }
    let linear = response.entries[1].mcp_server.as_ref().expect("linear");
    assert_eq!(linear.auth_type(), pb::AuthType::BearerToken);
    assert!(names(&app, &org.viewer).await.is_empty(), "nothing created");
}

async fn name_conflicts_are_skipped_renamed_or_refused(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    app.create_server(&org.admin, server("search")).await;
    let mut request = import(desktop_config());

    // SKIP (the default): the existing server stays as it was.
    request.dry_run = true;
    let skipped = app
        .servers_as(&org.admin)
        .import_mcp_config(request.clone())
        .await
        .expect("skip")
        .into_inner();
    assert_eq!(
        skipped.entries[2].outcome(),
        pb::ImportOutcome::SkippedExists
    );
    assert!(skipped.entries[2].mcp_server.is_none());

    // FAIL: ALREADY_EXISTS naming the name, nothing created.
    request.dry_run = false;
    request.on_conflict = pb::ImportConflict::Fail as i32;
    let status = assert_error(
        app.servers_as(&org.admin)
            .import_mcp_config(request.clone())
            .await,
        Code::AlreadyExists,
        "ALREADY_EXISTS",
    );
    assert!(status.message().contains("search"), "{status:?}");
    assert_eq!(names(&app, &org.viewer).await, vec!["search"]);

    // RENAME: created as search-2; importing again gives search-3.
    request.on_conflict = pb::ImportConflict::Rename as i32;
    for expected in ["search-2", "search-3"] {
        let renamed = app
            .servers_as(&org.admin)
            .import_mcp_config(request.clone())
            .await
            .expect("rename")
            .into_inner();
        let entry = &renamed.entries[2];
        assert_eq!(entry.outcome(), pb::ImportOutcome::Renamed);
        assert_eq!(entry.mcp_server.as_ref().expect("server").name, expected);
    }

    // Two keys giving one name, in one configuration.
    let twice = serde_json::json!({"mcpServers": {
        "Wiki": {"url": "https://wiki.example.com/mcp"},
        "wiki": {"url": "https://wiki2.example.com/mcp"},
    }})
    .to_string();
    let mut request = import(twice);
    request.on_conflict = pb::ImportConflict::Fail as i32;
    assert_error(
        app.servers_as(&org.admin)
            .import_mcp_config(request.clone())
            .await,
        Code::AlreadyExists,
        "ALREADY_EXISTS",
    );
    request.on_conflict = pb::ImportConflict::Skip as i32;
    let response = app
        .servers_as(&org.admin)
        .import_mcp_config(request)
        .await
        .expect("skip duplicate")
        .into_inner();
    assert_eq!(response.entries[0].outcome(), pb::ImportOutcome::Created);
    assert_eq!(
        response.entries[1].outcome(),
        pb::ImportOutcome::SkippedExists
    );
}

async fn invalid_configs_name_every_problem_by_json_path(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let call = |config: &str| {
        let mut client = app.servers_as(&org.admin);
        let request = pb::ImportMcpConfigRequest {
            config_json: config.to_owned(),
            ..Default::default()
        };
        async move { client.import_mcp_config(request).await }
    };

    let status = assert_error(
        call("{\"mcpServers\": {\n  \"a\": {\"url\": }}}").await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), vec!["config_json"]);
    assert!(status.message().contains("line 2"), "{status:?}");

    let status = assert_error(call("[]").await, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["config_json"]);

    let bad = serde_json::json!({"mcpServers": {
        "plain": {"url": "http://insecure.example.com/mcp"},
        "my tools": {"url": "https://tools.example.com/${TOOLS_PATH}"},
        "typo": {"url": "https://typo.example.com/mcp", "type": "websocket"},
        "nourl": {"headers": {}},
        "ok": {"url": "https://ok.example.com/mcp"},
    }})
    .to_string();
    let status = assert_error(call(&bad).await, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        vec![
            "config_json.mcpServers[\"my tools\"].url",
            "config_json.mcpServers.typo.type",
            "config_json.mcpServers.nourl.url",
            "config_json.mcpServers.plain.url",
        ]
    );
    assert!(
        names(&app, &org.viewer).await.is_empty(),
        "nothing created when any entry is invalid"
    );

    let status = assert_error(
        app.servers_as(&org.admin)
            .import_mcp_config(pb::ImportMcpConfigRequest {
                config_json: "{\"servers\": {}}".into(),
                on_conflict: 99,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), vec!["on_conflict"]);
}

async fn viewers_cannot_import(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut request = import(desktop_config());
    request.dry_run = true;
    assert_error(
        app.servers_as(&org.viewer).import_mcp_config(request).await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
}

async fn free_plans_cannot_import(app: TestApp) {
    let request = import(desktop_config());
    let free = app.org("free", Plan::Free).await;
    assert_error(
        app.servers_as(&free.admin).import_mcp_config(request).await,
        Code::FailedPrecondition,
        "PLAN_LIMIT_EXCEEDED",
    );
    assert!(names(&app, &free.viewer).await.is_empty());
}

async fn what_export_pack_writes_imports_back(app: TestApp) {
    let source = app.org("source", Plan::Pro).await;
    let mut github = server("github");
    github.credentials = bearer("ghp_roundtrip_1");
    github.transport = pb::Transport::StreamableHttp as i32;
    github.request_headers = [("X-Trace".to_owned(), "on".to_owned())].into();
    let mut keyed = server("keyed");
    keyed.transport = pb::Transport::Sse as i32;
    keyed.credentials = Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::ApiKey(pb::ApiKeyCredentials {
            key: "key_roundtrip_2".into(),
            header_name: "X-Service-Key".into(),
            key_secret: None,
        })),
    });
    // AUTO exports as "http", which imports as STREAMABLE_HTTP: explicit here.
    let mut plain = server("plain");
    plain.transport = pb::Transport::StreamableHttp as i32;
    let mut originals = Vec::new();
    for input in [github, keyed, plain] {
        originals.push(app.create_server(&source.admin, input).await);
    }
    let pack = app
        .packs_as(&source.admin)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "everything".into(),
                description: "round trip".into(),
                servers: originals
                    .iter()
                    .map(|s| pb::PackServer {
                        server_id: s.id.clone(),
                        name: String::new(),
                    })
                    .collect(),
                ..Default::default()
            }),
        })
        .await
        .expect("pack")
        .into_inner();
    let exported = app
        .packs_as(&source.viewer)
        .export_pack(pb::ExportPackRequest {
            id: pack.id,
            version: 0,
            ..Default::default()
        })
        .await
        .expect("export")
        .into_inner();

    // Another organization imports it, giving a value for every placeholder.
    let target = app.org("target", Plan::Pro).await;
    let variables = exported
        .placeholders
        .iter()
        .map(|p| (p.name.clone(), format!("value-of-{}", p.name)))
        .collect();
    let imported = app
        .servers_as(&target.admin)
        .import_mcp_config(pb::ImportMcpConfigRequest {
            config_json: exported.config_json.clone(),
            variables,
            ..Default::default()
        })
        .await
        .expect("import")
        .into_inner();
    assert_eq!(imported.created_count, 3);
    for (original, entry) in originals.iter().zip(&imported.entries) {
        let copy = entry.mcp_server.as_ref().expect("created");
        assert_eq!(copy.name, original.name);
        assert_eq!(copy.url, original.url);
        assert_eq!(copy.transport, original.transport, "{}", original.name);
        assert_eq!(copy.auth_type, original.auth_type, "{}", original.name);
        assert_eq!(copy.has_credentials, original.has_credentials);
        assert_eq!(copy.request_headers, original.request_headers);
    }

    // Exported again, the copy gives the same configuration.
    let pack = app
        .packs_as(&target.admin)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "everything".into(),
                description: "round trip".into(),
                servers: imported
                    .entries
                    .iter()
                    .map(|e| pb::PackServer {
                        server_id: e.mcp_server.as_ref().expect("server").id.clone(),
                        name: String::new(),
                    })
                    .collect(),
                ..Default::default()
            }),
        })
        .await
        .expect("pack")
        .into_inner();
    let again = app
        .packs_as(&target.viewer)
        .export_pack(pb::ExportPackRequest {
            id: pack.id,
            version: 0,
            ..Default::default()
        })
        .await
        .expect("export")
        .into_inner();
    assert_eq!(again.config_json, exported.config_json);
}

/// What ImportMcpConfig makes of ExportPack's gateway form today: the API key
/// placeholder must be given like any other; given, the entry is a server at
/// the pack's gateway endpoint with the key as its bearer token (an import
/// does not recognise the registry's own gateway).
async fn a_gateway_export_imports_only_with_its_api_key_given(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let github = app.create_server(&org.admin, server("github")).await;
    let pack = app
        .packs_as(&org.admin)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "dev".into(),
                description: "through the gateway".into(),
                servers: vec![pb::PackServer {
                    server_id: github.id,
                    name: String::new(),
                }],
                ..Default::default()
            }),
        })
        .await
        .expect("pack")
        .into_inner();
    let exported = app
        .packs_as(&org.viewer)
        .export_pack(pb::ExportPackRequest {
            id: pack.id.clone(),
            version: 0,
            target: pb::ExportTarget::Gateway as i32,
        })
        .await
        .expect("export")
        .into_inner();
    let mut request = pb::ImportMcpConfigRequest {
        config_json: exported.config_json,
        dry_run: true,
        ..Default::default()
    };
    let status = assert_error(
        app.servers_as(&org.admin)
            .import_mcp_config(request.clone())
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        violated_fields(&status),
        vec!["config_json.mcpServers.dev.headers.Authorization"]
    );
    assert!(
        status.message().contains("MCP_REGISTRY_API_KEY"),
        "{status:?}"
    );
    request.variables = [(
        "MCP_REGISTRY_API_KEY".to_owned(),
        "key_x.mcpr_secret".to_owned(),
    )]
    .into();
    let planned = app
        .servers_as(&org.admin)
        .import_mcp_config(request)
        .await
        .expect("dry run")
        .into_inner();
    let entry = planned.entries[0].mcp_server.as_ref().expect("planned");
    assert_eq!(
        entry.url,
        format!("https://mcp.example.com/mcp/packs/{}", pack.id)
    );
    assert_eq!(entry.auth_type, pb::AuthType::BearerToken as i32);
}

crate::on_both_backends_with!(crate::helpers::Options {
        gateway_public_url: Some("https://mcp.example.com"),
        ..Default::default()
    };
    a_gateway_export_imports_only_with_its_api_key_given,
);

crate::on_both_backends!(
    a_desktop_config_registers_every_remote_server_and_skips_local_ones,
    a_dry_run_reports_without_creating,
    name_conflicts_are_skipped_renamed_or_refused,
    invalid_configs_name_every_problem_by_json_path,
    viewers_cannot_import,
    free_plans_cannot_import,
    what_export_pack_writes_imports_back,
);
