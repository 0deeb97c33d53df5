//! Stored secrets (SecretService): values sealed and never returned, servers
//! referencing them from credentials and request headers, rotation re-syncing
//! every dependent server with the new value, deletes refused while
//! referenced, other organizations' secrets out of reach, roles and audit.

use std::time::Duration;

use mcp_registry::pb;
use mcp_registry::pb::audit_service_client::AuditServiceClient;
use mcp_registry::registry::Plan;
use tonic::Code;

use crate::helpers::{Auth, TestApp, assert_error, server, violated_fields};
use crate::mcp::McpServer;
use crate::{on_both_backends, on_both_backends_with};

const OLD: &str = "tok-old-2c9f1e";
const NEW: &str = "tok-new-7a41d0";

fn value(name: &str, value: &str) -> pb::SecretValue {
    pb::SecretValue {
        name: name.into(),
        value: value.into(),
    }
}

fn reference(secret_id: &str, value: &str) -> pb::SecretReference {
    pb::SecretReference {
        secret_id: secret_id.into(),
        value: value.into(),
    }
}

async fn create(
    app: &TestApp,
    auth: &Auth,
    name: &str,
    values: Vec<pb::SecretValue>,
) -> pb::Secret {
    app.secrets_as(auth)
        .create_secret(pb::CreateSecretRequest {
            secret: Some(pb::Secret {
                name: name.into(),
                description: format!("{name} for tests"),
                values,
                ..Default::default()
            }),
        })
        .await
        .expect("create secret")
        .into_inner()
}

async fn get(app: &TestApp, auth: &Auth, id: &str) -> Result<pb::Secret, tonic::Status> {
    app.secrets_as(auth)
        .get_secret(pb::GetSecretRequest { id: id.into() })
        .await
        .map(tonic::Response::into_inner)
}

fn bearer_ref(secret_id: &str) -> Option<pb::Credentials> {
    Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::BearerToken(
            pb::BearerTokenCredentials {
                token: String::new(),
                token_secret: Some(reference(secret_id, "token")),
            },
        )),
    })
}

fn api_key_ref(secret_id: &str) -> Option<pb::Credentials> {
    Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::ApiKey(pb::ApiKeyCredentials {
            key: String::new(),
            header_name: "X-API-Key".into(),
            key_secret: Some(reference(secret_id, "token")),
        })),
    })
}

async fn server_state(app: &TestApp, auth: &Auth, id: &str) -> pb::McpServer {
    app.servers_as(auth)
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.into())),
        })
        .await
        .expect("get server")
        .into_inner()
}

/// Waits until server `id` has a finished background run started at or
/// after `after` (the creation's, the rotation's, or the scheduler's when it
/// claimed the server first); returns it. The wait is bounded so that a
/// broken build fails instead of hanging.
async fn finished_run(
    app: &TestApp,
    auth: &Auth,
    id: &str,
    after: &Option<prost_types::Timestamp>,
) -> pb::SyncRun {
    let after = after.as_ref().map_or((0, 0), |t| (t.seconds, t.nanos));
    for _ in 0..600 {
        let runs = app.runs(auth, id).await;
        if let Some(run) = runs.into_iter().find(|r| {
            let started = r
                .started_at
                .as_ref()
                .map_or((0, 0), |t| (t.seconds, t.nanos));
            started >= after && r.outcome != pb::SyncOutcome::Running as i32
        }) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server {id} never finished a sync");
}

async fn a_rotation_reaches_every_server_that_references_the_secret(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let bearer_fixture = McpServer::new()
        .tool("search", "Searches")
        .bearer(OLD)
        .start()
        .await;
    let key_fixture = McpServer::new()
        .tool("lookup", "Looks up")
        .require_header("x-api-key", OLD)
        .start()
        .await;
    let secret = create(
        &app,
        &org.admin,
        "UPSTREAM_TOKEN",
        vec![value("token", OLD)],
    )
    .await;
    assert_eq!(secret.value_names, ["token"]);
    assert!(secret.values.is_empty());

    let mut by_bearer = server("by-bearer");
    by_bearer.url = bearer_fixture.url("/mcp");
    by_bearer.credentials = bearer_ref(&secret.id);
    let mut by_api_key = server("by-api-key");
    by_api_key.url = key_fixture.url("/mcp");
    by_api_key.credentials = api_key_ref(&secret.id);
    let mut by_header = server("by-header");
    by_header.url = key_fixture.url("/mcp");
    by_header.secret_request_headers =
        [("X-API-Key".to_owned(), reference(&secret.id, "token"))].into();
    let mut ids = Vec::new();
    for input in [by_bearer, by_api_key, by_header] {
        let created = app.create_server(&org.admin, input).await;
        ids.push(created.id);
    }
    for id in &ids {
        let run = finished_run(&app, &org.admin, id, &None).await;
        assert_eq!(run.outcome, pb::SyncOutcome::Succeeded as i32, "{run:?}");
    }

    // GetMcpServer shows the references, never a value.
    let shown = server_state(&app, &org.admin, &ids[0]).await;
    assert_eq!(
        shown.credentials_secret,
        Some(reference(&secret.id, "token"))
    );
    assert!(shown.has_credentials);
    let shown = server_state(&app, &org.admin, &ids[2]).await;
    assert_eq!(
        shown.secret_request_headers.get("X-API-Key"),
        Some(&reference(&secret.id, "token"))
    );
    assert!(shown.request_headers.is_empty());
    let mut dependents = ids.clone();
    dependents.sort();
    let fetched = get(&app, &org.viewer, &secret.id)
        .await
        .expect("viewer reads");
    assert_eq!(fetched.dependent_servers, dependents);

    // From now on the fixtures accept only the new value.
    bearer_fixture.require_header("authorization", &format!("Bearer {NEW}"));
    key_fixture.require_header("x-api-key", NEW);
    let rotated = app
        .secrets_as(&org.admin)
        .rotate_secret(pb::RotateSecretRequest {
            id: secret.id.clone(),
            values: vec![value("token", NEW)],
            etag: secret.etag.clone(),
        })
        .await
        .expect("rotate")
        .into_inner();
    assert_ne!(rotated.etag, secret.etag);
    assert_ne!(rotated.rotate_time, secret.rotate_time);
    for id in &ids {
        let run = finished_run(&app, &org.admin, id, &rotated.rotate_time).await;
        assert_eq!(run.outcome, pb::SyncOutcome::Succeeded as i32, "{run:?}");
        let state = server_state(&app, &org.admin, id).await;
        assert_eq!(state.status, pb::ServerStatus::Connected as i32);
    }
    let saw = |fixture: &crate::mcp::Running, header: &str, expected: &str| {
        fixture
            .requests()
            .iter()
            .any(|r| r.header(header).contains(&expected))
    };
    assert!(saw(
        &bearer_fixture,
        "authorization",
        &format!("Bearer {NEW}")
    ));
    assert!(saw(&key_fixture, "x-api-key", NEW));
    // Every request after the rotation carried the new value, none the old.
    let last = key_fixture.requests();
    assert_eq!(last.last().map(|r| r.header("x-api-key")), Some(vec![NEW]));
}

async fn a_referenced_secret_is_deleted_only_with_force(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let secret = create(&app, &org.admin, "shared", vec![value("token", OLD)]).await;
    let mut first = server("first");
    first.credentials = bearer_ref(&secret.id);
    first.enabled = Some(false);
    let mut second = server("second");
    second.secret_request_headers =
        [("X-Team-Token".to_owned(), reference(&secret.id, "token"))].into();
    second.enabled = Some(false);
    let first = app.create_server(&org.admin, first).await;
    let second = app.create_server(&org.admin, second).await;

    let refused = app
        .secrets_as(&org.admin)
        .delete_secret(pb::DeleteSecretRequest {
            id: secret.id.clone(),
            ..Default::default()
        })
        .await;
    let status = assert_error(refused, Code::FailedPrecondition, "IN_USE");
    assert!(status.message().contains(&first.id), "{status:?}");
    assert!(status.message().contains(&second.id), "{status:?}");
    assert!(get(&app, &org.admin, &secret.id).await.is_ok());

    // A server that stops referencing the secret is no longer a dependent.
    app.servers_as(&org.admin)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(pb::McpServer {
                id: second.id.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["request_headers".into()],
            }),
        })
        .await
        .expect("drop the header");
    let fetched = get(&app, &org.admin, &secret.id).await.expect("get");
    assert_eq!(fetched.dependent_servers, vec![first.id.clone()]);

    app.secrets_as(&org.admin)
        .delete_secret(pb::DeleteSecretRequest {
            id: secret.id.clone(),
            etag: fetched.etag,
            force: true,
        })
        .await
        .expect("forced delete");
    assert_error(
        get(&app, &org.admin, &secret.id).await,
        Code::NotFound,
        "NOT_FOUND",
    );
    // The server keeps its reference (shown), and deleting it still works.
    let kept = server_state(&app, &org.admin, &first.id).await;
    assert_eq!(
        kept.credentials_secret,
        Some(reference(&secret.id, "token"))
    );
    app.servers_as(&org.admin)
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: first.id.clone(),
            ..Default::default()
        })
        .await
        .expect("delete server");
}

async fn another_organizations_secret_is_not_found(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let other = app.org("other", Plan::Pro).await;
    let theirs = create(&app, &other.admin, "theirs", vec![value("token", OLD)]).await;

    assert_error(
        get(&app, &acme.admin, &theirs.id).await,
        Code::NotFound,
        "NOT_FOUND",
    );
    let mut input = server("borrower");
    input.credentials = bearer_ref(&theirs.id);
    let refused = app
        .servers_as(&acme.admin)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(input),
        })
        .await;
    assert_error(refused, Code::NotFound, "NOT_FOUND");
    let mut input = server("header-borrower");
    input.secret_request_headers = [("X-Token".to_owned(), reference(&theirs.id, "token"))].into();
    let refused = app
        .servers_as(&acme.admin)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(input),
        })
        .await;
    assert_error(refused, Code::NotFound, "NOT_FOUND");
    let rotate = app
        .secrets_as(&acme.admin)
        .rotate_secret(pb::RotateSecretRequest {
            id: theirs.id.clone(),
            values: vec![value("token", NEW)],
            etag: String::new(),
        })
        .await;
    assert_error(rotate, Code::NotFound, "NOT_FOUND");
    let delete = app
        .secrets_as(&acme.admin)
        .delete_secret(pb::DeleteSecretRequest {
            id: theirs.id.clone(),
            ..Default::default()
        })
        .await;
    assert_error(delete, Code::NotFound, "NOT_FOUND");
    let listed = app
        .secrets_as(&acme.admin)
        .list_secrets(pb::ListSecretsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.secrets.is_empty());
    assert_eq!(listed.total_size, 0);
}

async fn secrets_are_listed_updated_and_validated(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut made = Vec::new();
    for name in ["one", "two", "three"] {
        made.push(
            create(
                &app,
                &org.admin,
                name,
                vec![value("token", OLD), value("extra", NEW)],
            )
            .await,
        );
    }
    let duplicate = app
        .secrets_as(&org.admin)
        .create_secret(pb::CreateSecretRequest {
            secret: Some(pb::Secret {
                name: "one".into(),
                values: vec![value("token", OLD)],
                ..Default::default()
            }),
        })
        .await;
    assert_error(duplicate, Code::AlreadyExists, "ALREADY_EXISTS");

    let invalid = app
        .secrets_as(&org.admin)
        .create_secret(pb::CreateSecretRequest {
            secret: Some(pb::Secret {
                name: "bad name".into(),
                values: vec![
                    value("token", ""),
                    value("token", "x"),
                    value("no/slash", "y"),
                ],
                ..Default::default()
            }),
        })
        .await;
    let status = assert_error(invalid, Code::InvalidArgument, "INVALID_ARGUMENT");
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        [
            "secret.name",
            "secret.values[0].value",
            "secret.values[1].name",
            "secret.values[2].name",
        ]
    );
    let empty = app
        .secrets_as(&org.admin)
        .create_secret(pb::CreateSecretRequest {
            secret: Some(pb::Secret {
                name: "empty".into(),
                ..Default::default()
            }),
        })
        .await;
    let status = assert_error(empty, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["secret.values"]);

    // Keyset pages, oldest first.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .secrets_as(&org.member)
            .list_secrets(pb::ListSecretsRequest {
                page_size: 2,
                page_token: token,
            })
            .await
            .expect("list")
            .into_inner();
        assert_eq!(page.total_size, 3);
        seen.extend(page.secrets.into_iter().map(|s| s.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["one", "two", "three"]);
    let bad_token = app
        .secrets_as(&org.admin)
        .list_secrets(pb::ListSecretsRequest {
            page_size: 2,
            page_token: "forged".into(),
        })
        .await;
    assert_error(bad_token, Code::InvalidArgument, "INVALID_ARGUMENT");

    let updated = app
        .secrets_as(&org.admin)
        .update_secret(pb::UpdateSecretRequest {
            secret: Some(pb::Secret {
                id: made[0].id.clone(),
                name: "renamed".into(),
                description: "ignored: not in the mask".into(),
                etag: made[0].etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.name, "renamed");
    assert_eq!(updated.description, made[0].description);
    assert_eq!(updated.rotate_time, made[0].rotate_time);
    assert_eq!(updated.value_names, ["token", "extra"]);
    let stale = app
        .secrets_as(&org.admin)
        .update_secret(pb::UpdateSecretRequest {
            secret: Some(pb::Secret {
                id: made[0].id.clone(),
                description: "again".into(),
                etag: made[0].etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["description".into()],
            }),
        })
        .await;
    assert_error(stale, Code::Aborted, "ETAG_MISMATCH");
    let taken = app
        .secrets_as(&org.admin)
        .update_secret(pb::UpdateSecretRequest {
            secret: Some(pb::Secret {
                id: made[1].id.clone(),
                name: "renamed".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
        })
        .await;
    assert_error(taken, Code::AlreadyExists, "ALREADY_EXISTS");
    let values_path = app
        .secrets_as(&org.admin)
        .update_secret(pb::UpdateSecretRequest {
            secret: Some(pb::Secret {
                id: made[1].id.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["values".into()],
            }),
        })
        .await;
    let status = assert_error(values_path, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["update_mask"]);
    let bad_rotation = app
        .secrets_as(&org.admin)
        .rotate_secret(pb::RotateSecretRequest {
            id: made[1].id.clone(),
            values: Vec::new(),
            etag: String::new(),
        })
        .await;
    let status = assert_error(bad_rotation, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["values"]);
    let missing = get(&app, &org.admin, "sec_0123456789abcdef0123456789abcdef").await;
    assert_error(missing, Code::NotFound, "NOT_FOUND");
    let malformed = get(&app, &org.admin, "nope").await;
    assert_error(malformed, Code::InvalidArgument, "INVALID_ARGUMENT");

    // A reference to a value the secret does not have is refused.
    let mut input = server("wrong-value");
    input.secret_request_headers = [("X-Token".to_owned(), reference(&made[1].id, "nope"))].into();
    let refused = app
        .servers_as(&org.admin)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(input),
        })
        .await;
    let status = assert_error(refused, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        ["mcp_server.secret_request_headers[X-Token]"]
    );
}

async fn only_admin_keys_change_secrets_and_every_change_is_audited(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let secret = create(&app, &org.admin, "audited", vec![value("token", OLD)]).await;
    for auth in [&org.member, &org.viewer] {
        let refused = app
            .secrets_as(auth)
            .create_secret(pb::CreateSecretRequest {
                secret: Some(pb::Secret {
                    name: "nope".into(),
                    values: vec![value("token", OLD)],
                    ..Default::default()
                }),
            })
            .await;
        assert_error(refused, Code::PermissionDenied, "PERMISSION_DENIED");
        let refused = app
            .secrets_as(auth)
            .rotate_secret(pb::RotateSecretRequest {
                id: secret.id.clone(),
                values: vec![value("token", NEW)],
                etag: String::new(),
            })
            .await;
        assert_error(refused, Code::PermissionDenied, "PERMISSION_DENIED");
        assert!(get(&app, auth, &secret.id).await.is_ok());
    }
    let platform = app
        .secrets_as(&app.platform)
        .list_secrets(pb::ListSecretsRequest::default())
        .await;
    assert_error(platform, Code::PermissionDenied, "PERMISSION_DENIED");

    app.secrets_as(&org.admin)
        .rotate_secret(pb::RotateSecretRequest {
            id: secret.id.clone(),
            values: vec![value("token", NEW)],
            etag: String::new(),
        })
        .await
        .expect("rotate");
    app.secrets_as(&org.admin)
        .delete_secret(pb::DeleteSecretRequest {
            id: secret.id.clone(),
            ..Default::default()
        })
        .await
        .expect("delete");
    let events = AuditServiceClient::with_interceptor(app.channel.clone(), org.admin.clone())
        .list_audit_events(pb::ListAuditEventsRequest {
            resource_type: pb::AuditResourceType::Secret as i32,
            resource_id: secret.id.clone(),
            ..Default::default()
        })
        .await
        .expect("events")
        .into_inner()
        .events;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["secret.delete", "secret.rotate", "secret.create"]);
    let rotate = &events[1];
    assert!(
        rotate
            .changes
            .iter()
            .any(|c| c.field == "values" && c.secret)
    );
    let text = format!("{events:?}");
    assert!(!text.contains(OLD) && !text.contains(NEW), "{text}");
}

async fn imported_placeholders_take_secrets_of_the_same_name(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let other = app.org("other", Plan::Pro).await;
    let token = create(&app, &org.admin, "GITHUB_TOKEN", vec![value("token", OLD)]).await;
    let team = create(
        &app,
        &org.admin,
        "TEAM",
        vec![value("value", NEW), value("spare", OLD)],
    )
    .await;
    create(&app, &other.admin, "THEIRS", vec![value("token", OLD)]).await;
    let config = serde_json::json!({"mcpServers": {"github": {
        "type": "http",
        "url": "https://github.mcp.example.com/mcp",
        "headers": {
            "Authorization": "Bearer ${GITHUB_TOKEN}",
            "X-Team-Token": "${env:TEAM}",
            "X-Plain": "${PLAIN}",
        },
    }}});
    let import = |config: &serde_json::Value| {
        let request = pb::ImportMcpConfigRequest {
            config_json: config.to_string(),
            variables: [("PLAIN".to_owned(), "given".to_owned())].into(),
            ..Default::default()
        };
        let mut client = app.servers_as(&org.admin);
        async move { client.import_mcp_config(request).await }
    };
    let report = import(&config).await.expect("import").into_inner();
    let created = report.entries[0].mcp_server.clone().expect("created");
    assert_eq!(
        created.credentials_secret,
        Some(reference(&token.id, "token"))
    );
    assert_eq!(
        created.secret_request_headers.get("X-Team-Token"),
        Some(&reference(&team.id, "value"))
    );
    assert_eq!(
        created.request_headers.get("X-Plain").map(String::as_str),
        Some("given")
    );
    let fetched = get(&app, &org.admin, &token.id).await.expect("get");
    assert_eq!(fetched.dependent_servers, vec![created.id.clone()]);

    // Another organization's secret is no placeholder value.
    let config = serde_json::json!({"mcpServers": {"borrowed": {
        "type": "http",
        "url": "https://borrowed.mcp.example.com/mcp",
        "headers": {"Authorization": "Bearer ${THEIRS}"},
    }}});
    let status = assert_error(
        import(&config).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        violated_fields(&status),
        ["config_json.mcpServers.borrowed.headers.Authorization"]
    );
}

/// After a master-key rotation (a new first key, the old one kept), an
/// update moves a secret's values to the new key, and syncs still open them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_after_a_master_key_rotation_reseals_the_values_with_the_new_key() {
    use crate::helpers::{Backend, Instance, TestDatabase, org_with_admin_key};
    use mcp_registry::crypto::Keyring;
    use mcp_registry::pb::mcp_server_service_client::McpServerServiceClient;
    use mcp_registry::pb::secret_service_client::SecretServiceClient;
    use mcp_registry::pb::sync_service_client::SyncServiceClient;
    let Some(database) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let old_key = Keyring::generate_entry("k1").expect("key");
    let new_key = Keyring::generate_entry("k2").expect("key");
    let options = crate::helpers::loopback();
    let fixture = McpServer::new()
        .tool("search", "Searches")
        .bearer(OLD)
        .start()
        .await;
    let store = mcp_registry::store::Store::connect(&database.url)
        .await
        .expect("store");

    let first = Instance::start(&database, &old_key, &options).await;
    let (_, admin) = org_with_admin_key(&store, "acme", Plan::Pro).await;
    let secret = SecretServiceClient::with_interceptor(first.channel.clone(), admin.clone())
        .create_secret(pb::CreateSecretRequest {
            secret: Some(pb::Secret {
                name: "token".into(),
                values: vec![value("token", OLD)],
                ..Default::default()
            }),
        })
        .await
        .expect("create")
        .into_inner();
    let mut input = server("rotating");
    input.url = fixture.url("/mcp");
    input.credentials = bearer_ref(&secret.id);
    let created = McpServerServiceClient::with_interceptor(first.channel.clone(), admin.clone())
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(input),
        })
        .await
        .expect("server")
        .into_inner();
    first.stop().await;
    let sealed = || async {
        let rows = store.dump_table("secrets").await.expect("rows");
        assert_eq!(rows.len(), 1);
        rows[0].clone()
    };
    assert!(sealed().await.contains("v1:k1:"));

    let second = Instance::start(&database, &format!("{new_key},{old_key}"), &options).await;
    SecretServiceClient::with_interceptor(second.channel.clone(), admin.clone())
        .update_secret(pb::UpdateSecretRequest {
            secret: Some(pb::Secret {
                id: secret.id.clone(),
                description: "after the key rotation".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["description".into()],
            }),
        })
        .await
        .expect("update");
    let row = sealed().await;
    assert!(row.contains("v1:k2:") && !row.contains("v1:k1:"), "{row}");
    assert!(!row.contains(OLD));
    let run = SyncServiceClient::with_interceptor(second.channel.clone(), admin.clone())
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: created.id.clone(),
            ..Default::default()
        })
        .await
        .expect("sync")
        .into_inner();
    assert_eq!(run.outcome, pb::SyncOutcome::Succeeded as i32, "{run:?}");
    second.stop().await;
    database.drop_database().await;
}

async fn gateway_calls_use_the_rotated_value_at_once(app: TestApp) {
    use crate::gateway::{call, dev_pack, echo, echo_result, endpoint};
    let org = app.org("acme", Plan::Pro).await;
    let upstream = McpServer::new()
        .tool("echo", "Echoes its text")
        .bearer(OLD)
        .on("tools/call", echo_result)
        .start()
        .await;
    let secret = create(&app, &org.admin, "ECHO_TOKEN", vec![value("token", OLD)]).await;
    let mut input = server("echoer");
    input.url = upstream.url("/mcp");
    input.credentials = bearer_ref(&secret.id);
    let created = app.create_server(&org.admin, input).await;
    app.sync(&org.admin, &created.id).await;
    let pack = app
        .packs_as(&org.admin)
        .create_pack(dev_pack("echo", created.id.clone()))
        .await
        .expect("pack")
        .into_inner();
    let url = endpoint(&app, &pack.id);
    let (status, _, body) = call(&url, &org.member, echo("before")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("result").is_some(), "{body}");

    upstream.require_header("authorization", &format!("Bearer {NEW}"));
    app.secrets_as(&org.admin)
        .rotate_secret(pb::RotateSecretRequest {
            id: secret.id.clone(),
            values: vec![value("token", NEW)],
            etag: String::new(),
        })
        .await
        .expect("rotate");
    // The pooled upstream session of the first call is not reused: the next
    // call opens one with the new value.
    let (status, _, body) = call(&url, &org.member, echo("after")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("result").is_some(), "{body}");
    let last = upstream.requests();
    let last = last.last().expect("requests");
    assert_eq!(
        last.header("authorization"),
        [format!("Bearer {NEW}").as_str()]
    );
}

fn background() -> crate::helpers::Options {
    crate::helpers::Options {
        background_sync: true,
        ..crate::helpers::loopback()
    }
}

on_both_backends_with!(crate::secrets::background(); a_rotation_reaches_every_server_that_references_the_secret);
on_both_backends_with!(crate::gateway::upstreams(); gateway_calls_use_the_rotated_value_at_once);
on_both_backends!(
    imported_placeholders_take_secrets_of_the_same_name,
    a_referenced_secret_is_deleted_only_with_force,
    another_organizations_secret_is_not_found,
    secrets_are_listed_updated_and_validated,
    only_admin_keys_change_secrets_and_every_change_is_audited,
);
