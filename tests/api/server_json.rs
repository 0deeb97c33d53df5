//! The official MCP Registry's server.json: ImportMcpConfig reads documents
//! as publishers write them (tests/fixtures/server_json/) and registry list
//! answers, checks them against the schema's rules with JSON paths, and
//! ExportMcpServer writes a server back (import → export → import).

use std::collections::HashMap;

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use mcp_registry::registry::servers::MASK;
use serde_json::Value;
use tonic::Code;

use crate::helpers::{Auth, TestApp, assert_error, bearer, server, violated_fields};

const STREAMABLE_HTTP: &str = include_str!("../fixtures/server_json/streamable_http.json");
const SSE: &str = include_str!("../fixtures/server_json/sse.json");
const SECRET_HEADERS: &str = include_str!("../fixtures/server_json/secret_headers.json");
const REQUIRED_VARIABLES: &str = include_str!("../fixtures/server_json/required_variables.json");
const SEVERAL_REMOTES: &str = include_str!("../fixtures/server_json/several_remotes.json");
const REGISTRY_LIST: &str = include_str!("../fixtures/server_json/registry_list.json");
const INVALID: &str = include_str!("../fixtures/server_json/invalid.json");

const TOKEN: &str = "sek_serverjson_token_4b1e90";
const PASSPHRASE: &str = "sek_serverjson_passphrase_7d22";
const CRM_KEY: &str = "sek_serverjson_crm_key_0c5f";

fn request(document: &str, variables: &[(&str, &str)]) -> pb::ImportMcpConfigRequest {
    pb::ImportMcpConfigRequest {
        config_json: document.to_owned(),
        variables: variables
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    }
}

async fn import(
    app: &TestApp,
    auth: &Auth,
    request: pb::ImportMcpConfigRequest,
) -> pb::ImportMcpConfigResponse {
    app.servers_as(auth)
        .import_mcp_config(request)
        .await
        .expect("import")
        .into_inner()
}

/// The one server an import created.
fn only(response: &pb::ImportMcpConfigResponse) -> pb::McpServer {
    assert_eq!(response.entries.len(), 1, "{response:?}");
    response.entries[0].mcp_server.clone().expect("created")
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

async fn export(app: &TestApp, auth: &Auth, id: &str) -> (String, Value) {
    let text = app
        .servers_as(auth)
        .export_mcp_server(pb::ExportMcpServerRequest {
            lookup: Some(pb::export_mcp_server_request::Lookup::Id(id.into())),
        })
        .await
        .expect("export")
        .into_inner()
        .server_json;
    let document = serde_json::from_str(&text).expect("export is JSON");
    (text, document)
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

fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn a_streamable_http_document_becomes_a_server_with_its_registry_metadata(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let response = import(&app, &org.member, request(STREAMABLE_HTTP, &[])).await;
    assert_eq!(response.entries[0].key, "remotes[0]");
    assert_eq!(response.entries[0].outcome(), pb::ImportOutcome::Created);
    let created = only(&response);
    assert_eq!(created.name, "io-github-acme-labs-weather");
    assert_eq!(created.display_name, "Acme Weather");
    assert_eq!(
        created.description,
        "Forecasts, severe weather alerts and historical observations for any location"
    );
    assert_eq!(created.url, "https://weather.acme.example.com/mcp");
    assert_eq!(created.transport(), pb::Transport::StreamableHttp);
    assert_eq!(created.auth_type(), pb::AuthType::None);
    assert_eq!(
        created.documentation_url,
        "https://weather.acme.example.com/docs/mcp"
    );
    assert_eq!(created.registry_name, "io.github.acme-labs/weather");
    assert_eq!(created.registry_version, "1.4.2");
    assert_eq!(created.visibility(), pb::Visibility::Private);
    // GetMcpServer shows the same, registry metadata included.
    assert_eq!(get(&app, &org.member, &created.id).await, created);
}

async fn an_sse_document_keeps_its_plain_headers_and_drops_an_http_website(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = only(&import(&app, &org.admin, request(SSE, &[])).await);
    assert_eq!(created.name, "com-example-helpdesk-tickets");
    assert_eq!(created.transport(), pb::Transport::Sse);
    assert_eq!(created.url, "https://mcp.helpdesk.example.com/sse");
    assert_eq!(
        created.request_headers,
        headers(&[
            ("X-Helpdesk-Locale", "en-GB"),
            ("X-Client-Name", "mcp-registry")
        ]),
        "a fixed value and a default"
    );
    assert_eq!(created.documentation_url, "", "plain http is not kept");
    assert_eq!(created.registry_version, "2025.11.3");
}

async fn secret_headers_are_sealed_and_never_returned(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let variables = [("api_token", TOKEN), ("X-Workspace-Passphrase", PASSPHRASE)];
    let response = import(&app, &org.member, request(SECRET_HEADERS, &variables)).await;
    let created = only(&response);
    assert_eq!(created.auth_type(), pb::AuthType::BearerToken);
    assert!(created.has_credentials);
    assert_eq!(
        created.request_headers,
        headers(&[("X-Workspace-Passphrase", MASK), ("X-Search-Region", "eu")]),
        "isSecret seals a header whatever its name; an optional header without value is left out"
    );
    assert_eq!(
        created.icon_url,
        "https://search.example-ai.com/static/icon-96.png"
    );
    let fetched = get(&app, &org.viewer, &created.id).await;
    assert_eq!(fetched.request_headers, created.request_headers);

    // A header declared secret stays sealed through updates: a connection
    // change re-seals it, and a new value for it is sealed too.
    let update = |server: pb::McpServer, paths: &[&str]| pb::UpdateMcpServerRequest {
        mcp_server: Some(server),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    };
    let moved = pb::McpServer {
        id: created.id.clone(),
        url: "https://mcp2.search.example-ai.com/v1/mcp".into(),
        ..Default::default()
    };
    app.servers_as(&org.member)
        .update_mcp_server(update(moved, &["url"]))
        .await
        .expect("connection change");
    let new_value = pb::McpServer {
        id: created.id.clone(),
        request_headers: headers(&[
            ("X-Workspace-Passphrase", CRM_KEY),
            ("X-Search-Region", "us"),
        ]),
        ..Default::default()
    };
    let updated = app
        .servers_as(&org.member)
        .update_mcp_server(update(new_value, &["request_headers"]))
        .await
        .expect("new header value")
        .into_inner();
    assert_eq!(
        updated.request_headers,
        headers(&[("X-Workspace-Passphrase", MASK), ("X-Search-Region", "us")])
    );

    let (text, _) = export(&app, &org.viewer, &created.id).await;
    let rows = app.store.dump_table("mcp_servers").await.expect("dump");
    for secret in [TOKEN, PASSPHRASE, CRM_KEY] {
        for (what, rendered) in [
            ("the import answer", format!("{response:?}")),
            ("GetMcpServer", format!("{fetched:?}")),
            ("the export", text.clone()),
        ] {
            assert!(!rendered.contains(secret), "{secret} in {what}");
        }
        assert!(
            rows.iter().all(|row| !row.contains(secret)),
            "{secret} stored in plaintext"
        );
    }
}

async fn required_values_come_from_variables_or_are_reported_at_their_path(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let status = assert_error(
        app.servers_as(&org.admin)
            .import_mcp_config(request(REQUIRED_VARIABLES, &[]))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        violated_fields(&status),
        vec![
            "config_json.remotes[0].variables.tenant",
            "config_json.remotes[0].headers[0].value",
        ]
    );
    let status = assert_error(
        app.servers_as(&org.admin)
            .import_mcp_config(request(
                SECRET_HEADERS,
                &[("X-Search-Region", "mars"), ("X-Safe-Search", "maybe")],
            ))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        violated_fields(&status),
        vec![
            "config_json.remotes[0].headers[0].variables.api_token",
            "config_json.remotes[0].headers[1].value",
            "config_json.remotes[0].headers[2].value",
            "config_json.remotes[0].headers[3].value",
        ]
    );
    assert!(names(&app, &org.viewer).await.is_empty());

    let variables = [("tenant", "acme"), ("X-API-Key", CRM_KEY)];
    let created = only(&import(&app, &org.admin, request(REQUIRED_VARIABLES, &variables)).await);
    assert_eq!(created.url, "https://acme.crm.example.com/mcp/eu-west-1");
    assert_eq!(created.auth_type(), pb::AuthType::ApiKey);
    assert!(
        created.request_headers.is_empty(),
        "the key is the credentials"
    );
    assert_eq!(created.registry_version, "0.9.0-beta.2");
}

async fn each_remote_becomes_a_server_and_packages_are_skipped(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let response = import(
        &app,
        &org.admin,
        request(SEVERAL_REMOTES, &[("token", TOKEN)]),
    )
    .await;
    let outcomes: Vec<(&str, pb::ImportOutcome, Option<&str>)> = response
        .entries
        .iter()
        .map(|e| {
            (
                e.key.as_str(),
                e.outcome(),
                e.mcp_server.as_ref().map(|s| s.name.as_str()),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("packages[0]", pb::ImportOutcome::SkippedLocal, None),
            (
                "remotes[0]",
                pb::ImportOutcome::Created,
                Some("io-github-taskflow-taskflow-http")
            ),
            (
                "remotes[1]",
                pb::ImportOutcome::Created,
                Some("io-github-taskflow-taskflow-sse")
            ),
        ]
    );
    assert_eq!((response.created_count, response.skipped_count), (2, 1));
    let transports: Vec<pb::Transport> = response.entries[1..]
        .iter()
        .map(|e| e.mcp_server.as_ref().expect("created").transport())
        .collect();
    assert_eq!(
        transports,
        vec![pb::Transport::StreamableHttp, pb::Transport::Sse]
    );
    for entry in &response.entries[1..] {
        let server = entry.mcp_server.as_ref().expect("created");
        assert_eq!(server.auth_type(), pb::AuthType::BearerToken);
        assert_eq!(server.registry_name, "io.github.taskflow/taskflow");
    }
}

async fn a_registry_list_answer_imports_every_server_of_the_page(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let response = import(&app, &org.admin, request(REGISTRY_LIST, &[])).await;
    let outcomes: Vec<(&str, pb::ImportOutcome)> = response
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.outcome()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("servers[0].server.remotes[0]", pb::ImportOutcome::Created),
            (
                "servers[1].server.packages[0]",
                pb::ImportOutcome::SkippedLocal
            ),
            ("servers[2].server.remotes[0]", pb::ImportOutcome::Created),
        ]
    );
    let mut listed = names(&app, &org.viewer).await;
    listed.sort();
    assert_eq!(
        listed,
        vec![
            "com-example-helpdesk-tickets",
            "io-github-acme-labs-weather"
        ]
    );

    // The older list shape: documents directly in `servers`.
    let older: Value = serde_json::from_str(REGISTRY_LIST).expect("json");
    let documents: Vec<Value> = older["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|item| item["server"].clone())
        .collect();
    let older = serde_json::json!({ "servers": documents }).to_string();
    let other = app.org("other", Plan::Pro).await;
    let response = import(&app, &other.admin, request(&older, &[])).await;
    assert_eq!(response.entries[0].key, "servers[0].remotes[0]");
    assert_eq!((response.created_count, response.skipped_count), (2, 1));
}

async fn invalid_documents_name_every_problem_by_json_path(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let status = assert_error(
        app.servers_as(&org.admin)
            .import_mcp_config(request(INVALID, &[]))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let doc = "config_json.servers[0].server";
    let remote = format!("{doc}.remotes[1]");
    assert_eq!(
        violated_fields(&status),
        vec![
            format!("{doc}.name"),
            format!("{doc}.version"),
            format!("{doc}.description"),
            format!("{doc}.remotes[0].type"),
            format!("{doc}.remotes[0].url"),
            format!("{remote}.url"),
            format!("{remote}.headers[0].name"),
            format!("{remote}.headers[1].value"),
            format!("{remote}.headers[2].value"),
            "config_json.servers[1].server.description".to_owned(),
            "config_json.servers[1].server.remotes".to_owned(),
        ]
    );
    assert!(names(&app, &org.viewer).await.is_empty());

    // Rules checked after reading, as CreateMcpServer checks them, are
    // reported in the document too.
    let mut document: Value = serde_json::from_str(STREAMABLE_HTTP).expect("json");
    document["title"] = "Tab\u{7}Bell".into();
    document["remotes"][0]["headers"] = serde_json::json!([{"name": "Host", "value": "x"}]);
    let status = assert_error(
        app.servers_as(&org.admin)
            .import_mcp_config(request(&document.to_string(), &[]))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        violated_fields(&status),
        vec![
            "config_json.remotes[0].headers[0].name",
            "config_json.title"
        ]
    );

    // An explicit format is obeyed; an unknown one is refused.
    let mut as_config = request(STREAMABLE_HTTP, &[]);
    as_config.format = pb::ImportFormat::McpClientConfig as i32;
    let status = assert_error(
        app.servers_as(&org.admin)
            .import_mcp_config(as_config.clone())
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), vec!["config_json"]);
    as_config.format = 42;
    let status = assert_error(
        app.servers_as(&org.admin)
            .import_mcp_config(as_config)
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), vec!["format"]);
    let empty = serde_json::json!({"servers": [], "metadata": {"count": 0}}).to_string();
    let status = assert_error(
        app.servers_as(&org.admin)
            .import_mcp_config(request(&empty, &[]))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), vec!["config_json"]);
}

async fn a_dry_run_reports_the_servers_and_creates_nothing(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut dry = request(
        SECRET_HEADERS,
        &[("api_token", TOKEN), ("X-Workspace-Passphrase", PASSPHRASE)],
    );
    dry.dry_run = true;
    dry.format = pb::ImportFormat::ServerJson as i32;
    let response = import(&app, &org.admin, dry).await;
    assert_eq!((response.created_count, response.skipped_count), (1, 0));
    let planned = only(&response);
    assert!(
        planned.id.is_empty() && planned.etag.is_empty(),
        "{planned:?}"
    );
    assert_eq!(planned.name, "ai-example-search-web-search");
    assert_eq!(planned.registry_name, "ai.example-search/web-search");
    assert_eq!(planned.display_name, "Example Web Search");
    assert_eq!(
        planned
            .request_headers
            .get("X-Workspace-Passphrase")
            .map(String::as_str),
        Some(MASK)
    );
    assert!(!format!("{response:?}").contains(PASSPHRASE));
    assert!(names(&app, &org.viewer).await.is_empty(), "nothing created");
}

async fn name_conflicts_follow_the_requested_policy(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    import(&app, &org.admin, request(STREAMABLE_HTTP, &[])).await;

    let skipped = import(&app, &org.admin, request(STREAMABLE_HTTP, &[])).await;
    assert_eq!(
        skipped.entries[0].outcome(),
        pb::ImportOutcome::SkippedExists
    );

    let mut fail = request(STREAMABLE_HTTP, &[]);
    fail.on_conflict = pb::ImportConflict::Fail as i32;
    let status = assert_error(
        app.servers_as(&org.admin).import_mcp_config(fail).await,
        Code::AlreadyExists,
        "ALREADY_EXISTS",
    );
    assert!(
        status.message().contains("io-github-acme-labs-weather"),
        "{status:?}"
    );

    let mut rename = request(STREAMABLE_HTTP, &[]);
    rename.on_conflict = pb::ImportConflict::Rename as i32;
    let renamed = import(&app, &org.admin, rename).await;
    assert_eq!(renamed.entries[0].outcome(), pb::ImportOutcome::Renamed);
    let copy = only(&renamed);
    assert_eq!(copy.name, "io-github-acme-labs-weather-2");
    assert_eq!(copy.registry_name, "io.github.acme-labs/weather");
    assert_eq!(
        names(&app, &org.viewer).await,
        vec![
            "io-github-acme-labs-weather",
            "io-github-acme-labs-weather-2"
        ]
    );
}

async fn platform_keys_import_into_the_catalog_and_organizations_cannot(app: TestApp) {
    let response = import(&app, &app.platform, request(REGISTRY_LIST, &[])).await;
    assert_eq!(response.created_count, 2);
    let weather = response.entries[0].mcp_server.clone().expect("created");
    assert_eq!(weather.visibility(), pb::Visibility::Catalog);
    assert!(weather.organization_id.is_empty());

    // Every organization reads the catalog entry and its export.
    let org = app.org("acme", Plan::Free).await;
    assert_eq!(
        get(&app, &org.viewer, &weather.id).await.registry_name,
        "io.github.acme-labs/weather"
    );
    let (_, document) = export(&app, &org.viewer, &weather.id).await;
    assert_eq!(document["name"], "io.github.acme-labs/weather");

    // An organization's key cannot import into the catalog.
    let pro = app.org("pro", Plan::Pro).await;
    let mut catalog = request(STREAMABLE_HTTP, &[]);
    catalog.visibility = pb::Visibility::Catalog as i32;
    assert_error(
        app.servers_as(&pro.admin).import_mcp_config(catalog).await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert!(names(&app, &pro.viewer).await.is_empty());
    assert_error(
        app.servers_as(&pro.viewer)
            .import_mcp_config(request(STREAMABLE_HTTP, &[]))
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
}

async fn export_writes_one_remote_with_secrets_as_required_inputs(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let variables = [("api_token", TOKEN), ("X-Workspace-Passphrase", PASSPHRASE)];
    let created = only(&import(&app, &org.member, request(SECRET_HEADERS, &variables)).await);
    let (text, document) = export(&app, &org.viewer, &created.id).await;
    assert!(
        !text.contains(TOKEN) && !text.contains(PASSPHRASE),
        "{text}"
    );
    assert_eq!(
        document,
        serde_json::json!({
            "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
            "name": "ai.example-search/web-search",
            "description": "Web and news search with snippets, ranked for LLM agents",
            "title": "Example Web Search",
            "version": "3.1.0",
            "icons": [{"src": "https://search.example-ai.com/static/icon-96.png"}],
            "remotes": [{
                "type": "streamable-http",
                "url": "https://mcp.search.example-ai.com/v1/mcp",
                "headers": [
                    {"name": "Authorization", "description": "Bearer token: `Bearer <token>`",
                     "isRequired": true, "isSecret": true},
                    {"name": "X-Search-Region", "value": "eu"},
                    {"name": "X-Workspace-Passphrase", "description": "A secret value",
                     "isRequired": true, "isSecret": true},
                ],
            }],
        })
    );

    // A server made by CreateMcpServer gets a derived registry name.
    let mut plain = server("github");
    plain.credentials = bearer(TOKEN);
    plain.description = "x".repeat(150);
    let plain = app.create_server(&org.admin, plain).await;
    let (text, document) = export(&app, &org.admin, &plain.id).await;
    assert!(!text.contains(TOKEN));
    assert_eq!(document["name"], "com.example.mcp.github/github");
    assert_eq!(document["version"], "0.0.0");
    assert_eq!(
        document["description"].as_str().map(|d| d.chars().count()),
        Some(100),
        "cut to the schema's limit"
    );
    assert_eq!(document["remotes"][0]["type"], "streamable-http");

    // By name too; other organizations see nothing; a lookup is required.
    let by_name = app
        .servers_as(&org.viewer)
        .export_mcp_server(pb::ExportMcpServerRequest {
            lookup: Some(pb::export_mcp_server_request::Lookup::Name("github".into())),
        })
        .await
        .expect("by name")
        .into_inner();
    assert_eq!(by_name.server_json, text);
    let other = app.org("other", Plan::Pro).await;
    assert_error(
        app.servers_as(&other.admin)
            .export_mcp_server(pb::ExportMcpServerRequest {
                lookup: Some(pb::export_mcp_server_request::Lookup::Id(plain.id.clone())),
            })
            .await,
        Code::NotFound,
        "NOT_FOUND",
    );
    let status = assert_error(
        app.servers_as(&org.admin)
            .export_mcp_server(pb::ExportMcpServerRequest { lookup: None })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), vec!["id"]);
    let status = assert_error(
        app.servers_as(&org.admin)
            .export_mcp_server(pb::ExportMcpServerRequest {
                lookup: Some(pb::export_mcp_server_request::Lookup::Id("pack_1".into())),
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), vec!["id"]);
}

/// The fields an import → export → import round trip keeps.
fn kept(server: &pb::McpServer) -> impl PartialEq + std::fmt::Debug {
    (
        server.name.clone(),
        server.display_name.clone(),
        server.description.clone(),
        server.url.clone(),
        server.transport,
        server.auth_type,
        server.has_credentials,
        server.request_headers.clone(),
        server.documentation_url.clone(),
        server.icon_url.clone(),
        server.registry_name.clone(),
        server.registry_version.clone(),
    )
}

async fn import_export_import_round_trips(app: TestApp) {
    let source = app.org("source", Plan::Pro).await;
    let target = app.org("target", Plan::Pro).await;
    let cases: [(&str, Vec<(&str, &str)>); 4] = [
        (STREAMABLE_HTTP, vec![]),
        (SSE, vec![]),
        (
            SECRET_HEADERS,
            vec![("api_token", TOKEN), ("X-Workspace-Passphrase", PASSPHRASE)],
        ),
        (
            REQUIRED_VARIABLES,
            vec![("tenant", "acme"), ("X-API-Key", CRM_KEY)],
        ),
    ];
    for (document, variables) in cases {
        let original = only(&import(&app, &source.admin, request(document, &variables)).await);
        let (text, exported) = export(&app, &source.viewer, &original.id).await;
        // The export names its secrets; the importer gives them by header name.
        let secrets: Vec<(String, String)> = exported["remotes"][0]["headers"]
            .as_array()
            .map(|headers| {
                headers
                    .iter()
                    .filter(|h| h["isSecret"] == true)
                    .map(|h| {
                        let name = h["name"].as_str().expect("name").to_owned();
                        let value = if name == "Authorization" {
                            format!("Bearer {TOKEN}")
                        } else if name.eq_ignore_ascii_case("x-api-key") {
                            CRM_KEY.to_owned()
                        } else {
                            PASSPHRASE.to_owned()
                        };
                        (name, value)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let variables: Vec<(&str, &str)> = secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let copy = only(&import(&app, &target.admin, request(&text, &variables)).await);
        assert_eq!(kept(&copy), kept(&original), "{text}");
        let (again, _) = export(&app, &target.viewer, &copy.id).await;
        assert_eq!(again, text, "the copy exports the same document");
    }
}

crate::on_both_backends!(
    a_streamable_http_document_becomes_a_server_with_its_registry_metadata,
    an_sse_document_keeps_its_plain_headers_and_drops_an_http_website,
    secret_headers_are_sealed_and_never_returned,
    required_values_come_from_variables_or_are_reported_at_their_path,
    each_remote_becomes_a_server_and_packages_are_skipped,
    a_registry_list_answer_imports_every_server_of_the_page,
    invalid_documents_name_every_problem_by_json_path,
    a_dry_run_reports_the_servers_and_creates_nothing,
    name_conflicts_follow_the_requested_policy,
    platform_keys_import_into_the_catalog_and_organizations_cannot,
    export_writes_one_remote_with_secrets_as_required_inputs,
    import_export_import_round_trips,
);
