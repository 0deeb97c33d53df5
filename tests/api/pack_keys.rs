//! Pack-limited API keys: created with `pack_ids` (validated against the
//! organization's packs), they read only those packs and the servers those
//! packs hold, and change nothing whatever their role.

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use tonic::Code;

use crate::helpers::{Auth, Org, TestApp, assert_error, server, synced, tool, violated_fields};
use crate::on_both_backends;

/// A request for a key of `org` with `role`, limited to `packs`.
fn limited(org: &str, role: pb::Role, packs: &[&str]) -> pb::CreateApiKeyRequest {
    pb::CreateApiKeyRequest {
        api_key: Some(pb::ApiKey {
            organization_id: org.into(),
            role: role as i32,
            pack_ids: packs.iter().map(|p| (*p).to_owned()).collect(),
            ..Default::default()
        }),
    }
}

/// Creates a key of `org` limited to `packs` through CreateApiKey.
async fn limited_key(app: &TestApp, org: &str, role: pb::Role, packs: &[&str]) -> Auth {
    let created = app
        .admin()
        .create_api_key(limited(org, role, packs))
        .await
        .expect("create limited key")
        .into_inner();
    Auth::Pair(created.id, created.secret)
}

/// Creates pack `name` of `org`'s ADMIN key holding `servers`.
async fn pack(app: &TestApp, org: &Org, name: &str, servers: &[&str]) -> pb::Pack {
    app.packs_as(&org.admin)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: name.into(),
                description: format!("pack {name}"),
                servers: servers
                    .iter()
                    .map(|id| pb::PackServer {
                        server_id: (*id).into(),
                        name: String::new(),
                    })
                    .collect(),
                ..Default::default()
            }),
        })
        .await
        .expect("create pack")
        .into_inner()
}

/// Organization "acme" with servers "github" (in packs "dev" and "ops") and
/// "jira" (in "ops" only), a catalog server "shared" in no pack, and a key
/// limited to "dev" (ADMIN role: the limit wins over the role).
struct World {
    org: Org,
    dev: pb::Pack,
    ops: pb::Pack,
    github: pb::McpServer,
    jira: pb::McpServer,
    shared: pb::McpServer,
    key: Auth,
}

async fn world(app: &TestApp) -> World {
    let org = app.org("acme", Plan::Pro).await;
    let github = app.create_server(&org.admin, server("github")).await;
    synced(app, &github.id, &[tool("search")]).await;
    let jira = app.create_server(&org.admin, server("jira")).await;
    synced(app, &jira.id, &[tool("issues")]).await;
    let shared = app.create_server(&app.platform, server("shared")).await;
    let dev = pack(app, &org, "dev", &[&github.id]).await;
    let ops = pack(app, &org, "ops", &[&github.id, &jira.id]).await;
    let key = limited_key(app, &org.id, pb::Role::Admin, &[&dev.id]).await;
    World {
        org,
        dev,
        ops,
        github,
        jira,
        shared,
        key,
    }
}

async fn a_pack_limited_key_is_created_listed_and_shows_its_packs(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let dev = pack(&app, &org, "dev", &[]).await;
    let ops = pack(&app, &org, "ops", &[]).await;
    let created = app
        .admin()
        .create_api_key(limited(&org.id, pb::Role::Viewer, &[&ops.id, &dev.id]))
        .await
        .expect("create")
        .into_inner();
    assert_eq!(created.pack_ids, vec![ops.id.clone(), dev.id.clone()]);
    assert!(created.secret.starts_with("mcpr_"));
    let listed = app
        .admin()
        .list_api_keys(pb::ListApiKeysRequest {
            organization_id: org.id.clone(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let key = listed
        .api_keys
        .iter()
        .find(|k| k.id == created.id)
        .expect("listed");
    assert_eq!(key.pack_ids, vec![ops.id.clone(), dev.id.clone()]);
    let unlimited = listed
        .api_keys
        .iter()
        .find(|k| k.id == org.admin.key_id())
        .expect("admin key listed");
    assert!(unlimited.pack_ids.is_empty(), "not limited: no pack ids");
}

async fn creating_a_pack_limited_key_reports_every_malformed_or_repeated_id(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let dev = pack(&app, &org, "dev", &[]).await;
    let result = app
        .admin()
        .create_api_key(limited(
            &org.id,
            pb::Role::Viewer,
            &[
                "pack-dev",
                &dev.id,
                &dev.id,
                "",
                "org_0123456789abcdef0123456789abcdef",
            ],
        ))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        vec![
            "api_key.pack_ids[0]",
            "api_key.pack_ids[2]",
            "api_key.pack_ids[3]",
            "api_key.pack_ids[4]",
        ]
    );
}

async fn creating_a_pack_limited_key_reports_every_pack_not_of_its_organization(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let other = app.org("globex", Plan::Pro).await;
    let dev = pack(&app, &org, "dev", &[]).await;
    let theirs = pack(&app, &other, "theirs", &[]).await;
    let unknown = format!("pack_{}", "0".repeat(32));
    let result = app
        .admin()
        .create_api_key(limited(
            &org.id,
            pb::Role::Viewer,
            &[&theirs.id, &dev.id, &unknown],
        ))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        vec!["api_key.pack_ids[0]", "api_key.pack_ids[2]"]
    );
    let described = {
        use tonic_types::StatusExt;
        let details = status.get_error_details();
        let bad = details.bad_request().expect("BadRequest");
        bad.field_violations[0].description.clone()
    };
    assert!(
        described.contains(&theirs.id) && described.contains("does not exist"),
        "{described}"
    );
    // Nothing was created.
    let keys = app
        .admin()
        .list_api_keys(pb::ListApiKeysRequest {
            organization_id: org.id.clone(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(keys.total_size, 4, "the four keys of the organization only");
}

async fn a_key_is_limited_to_at_most_a_hundred_packs(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let ids: Vec<String> = (0..101).map(|i| format!("pack_{i:032x}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let result = app
        .admin()
        .create_api_key(limited(&org.id, pb::Role::Viewer, &ids))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["api_key.pack_ids"]);
}

async fn a_platform_admin_key_cannot_be_limited_to_packs(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let dev = pack(&app, &org, "dev", &[]).await;
    let result = app
        .admin()
        .create_api_key(pb::CreateApiKeyRequest {
            api_key: Some(pb::ApiKey {
                platform_admin: true,
                pack_ids: vec![dev.id],
                ..Default::default()
            }),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["api_key.pack_ids"]);
}

async fn a_pack_limited_key_reads_only_its_packs(app: TestApp) {
    let w = world(&app).await;
    // The organization's own keys warm the read caches first: a cached
    // answer must not reach the limited key.
    let mut admin = app.packs_as(&w.org.admin);
    let mut limited = app.packs_as(&w.key);
    for id in [&w.dev.id, &w.ops.id] {
        admin
            .resolve_pack(pb::ResolvePackRequest {
                id: id.clone(),
                version: 0,
            })
            .await
            .expect("admin resolves");
    }

    let listed = limited
        .list_packs(pb::ListPacksRequest::default())
        .await
        .expect("list")
        .into_inner();
    let ids: Vec<&str> = listed.packs.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, vec![w.dev.id.as_str()]);
    assert_eq!(listed.total_size, 1);

    let get = |id: &str| pb::GetPackRequest { id: id.into() };
    limited.get_pack(get(&w.dev.id)).await.expect("its pack");
    let resolved = limited
        .resolve_pack(pb::ResolvePackRequest {
            id: w.dev.id.clone(),
            version: 0,
        })
        .await
        .expect("resolve its pack")
        .into_inner();
    assert_eq!(resolved.tools.len(), 1);
    limited
        .export_pack(pb::ExportPackRequest {
            id: w.dev.id.clone(),
            ..Default::default()
        })
        .await
        .expect("export its pack");
    limited
        .list_pack_revisions(pb::ListPackRevisionsRequest {
            pack_id: w.dev.id.clone(),
            ..Default::default()
        })
        .await
        .expect("its revisions");

    let ops = &w.ops.id;
    assert_error(
        limited.get_pack(get(ops)).await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert_error(
        limited
            .resolve_pack(pb::ResolvePackRequest {
                id: ops.clone(),
                version: 0,
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert_error(
        limited
            .export_pack(pb::ExportPackRequest {
                id: ops.clone(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert_error(
        limited
            .get_pack_revision(pb::GetPackRevisionRequest {
                pack_id: ops.clone(),
                version: 1,
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
}

async fn a_pack_limited_key_reads_only_the_servers_its_packs_hold(app: TestApp) {
    let w = world(&app).await;
    let mut admin = app.servers_as(&w.org.admin);
    let mut limited = app.servers_as(&w.key);
    let by_id = |id: &str| pb::GetMcpServerRequest {
        lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.into())),
    };
    // Warm the caches with the unlimited key.
    for id in [&w.github.id, &w.jira.id] {
        admin.get_mcp_server(by_id(id)).await.expect("admin reads");
    }
    admin
        .list_mcp_servers(pb::ListMcpServersRequest::default())
        .await
        .expect("admin lists");

    let github = limited
        .get_mcp_server(by_id(&w.github.id))
        .await
        .expect("a member of its pack")
        .into_inner();
    assert_eq!(
        github.pack_ids,
        vec![w.dev.id.clone()],
        "only its packs are shown, not ops"
    );
    limited
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Name("github".into())),
        })
        .await
        .expect("by name too");
    let tools = limited
        .list_server_tools(pb::ListServerToolsRequest {
            server_id: w.github.id.clone(),
            ..Default::default()
        })
        .await
        .expect("its tools")
        .into_inner();
    assert_eq!(tools.tools.len(), 1);

    for id in [&w.jira.id, &w.shared.id] {
        assert_error(
            limited.get_mcp_server(by_id(id)).await,
            Code::PermissionDenied,
            "PERMISSION_DENIED",
        );
        assert_error(
            limited
                .list_server_tools(pb::ListServerToolsRequest {
                    server_id: id.clone(),
                    ..Default::default()
                })
                .await,
            Code::PermissionDenied,
            "PERMISSION_DENIED",
        );
    }
    assert_error(
        limited
            .list_mcp_servers(pb::ListMcpServersRequest::default())
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    let mut sync = app.sync_as(&w.key);
    assert_error(
        sync.list_sync_runs(pb::ListSyncRunsRequest {
            server_id: w.github.id.clone(),
            ..Default::default()
        })
        .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert_error(
        sync.watch_sync_events(pb::WatchSyncEventsRequest::default())
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
}

async fn a_pack_limited_admin_key_changes_nothing(app: TestApp) {
    let w = world(&app).await;
    let mut packs = app.packs_as(&w.key);
    let mut servers = app.servers_as(&w.key);
    assert_error(
        packs
            .update_pack(pb::UpdatePackRequest {
                pack: Some(pb::Pack {
                    id: w.dev.id.clone(),
                    description: "changed".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["description".into()],
                }),
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert_error(
        packs
            .create_pack(pb::CreatePackRequest {
                pack: Some(pb::Pack {
                    name: "mine".into(),
                    ..Default::default()
                }),
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert_error(
        servers
            .create_mcp_server(pb::CreateMcpServerRequest {
                mcp_server: Some(server("new")),
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert_error(
        servers
            .approve_tools(pb::ApproveToolsRequest {
                server_id: w.github.id.clone(),
                all_tools: true,
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert_error(
        app.sync_as(&w.key)
            .sync_mcp_server(pb::SyncMcpServerRequest {
                id: w.github.id.clone(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    let dev = app
        .packs_as(&w.org.admin)
        .get_pack(pb::GetPackRequest {
            id: w.dev.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!((dev.version, dev.description.as_str()), (1, "pack dev"));
}

async fn a_key_whose_packs_are_all_deleted_reaches_no_pack(app: TestApp) {
    let w = world(&app).await;
    app.packs_as(&w.org.admin)
        .delete_pack(pb::DeletePackRequest {
            id: w.dev.id.clone(),
            ..Default::default()
        })
        .await
        .expect("delete dev");
    let listed = app
        .packs_as(&w.key)
        .list_packs(pb::ListPacksRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.packs.is_empty(), "{listed:?}");
    assert_eq!(listed.total_size, 0);
    assert_error(
        app.packs_as(&w.key)
            .get_pack(pb::GetPackRequest {
                id: w.ops.id.clone(),
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert_error(
        app.servers_as(&w.key)
            .get_mcp_server(pb::GetMcpServerRequest {
                lookup: Some(pb::get_mcp_server_request::Lookup::Id(w.github.id.clone())),
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
}

async fn the_admin_cli_creates_a_pack_limited_key(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let dev = pack(&app, &org, "dev", &[]).await;
    let _ops = pack(&app, &org, "ops", &[]).await;
    let env = [("MCP_REGISTRY_DATABASE_URL", app.database_url.as_str())];
    let created = crate::process::admin_cli(
        &env,
        &[
            "create-key",
            "--org",
            &org.id,
            "--role",
            "viewer",
            "--pack",
            &dev.id,
        ],
    )
    .await;
    assert_eq!(created["pack_ids"], serde_json::json!([dev.id]));
    let key = Auth::Pair(
        created["api_key_id"].as_str().expect("id").to_owned(),
        created["secret"].as_str().expect("secret").to_owned(),
    );
    let listed = app
        .packs_as(&key)
        .list_packs(pb::ListPacksRequest::default())
        .await
        .expect("list")
        .into_inner();
    let ids: Vec<&str> = listed.packs.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, vec![dev.id.as_str()]);

    let output = crate::process::command(&env)
        .args([
            "admin",
            "create-key",
            "--org",
            &org.id,
            "--role",
            "viewer",
            "--pack",
            &format!("pack_{}", "0".repeat(32)),
        ])
        .output()
        .await
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("api_key.pack_ids[0]"), "{stderr}");
}

on_both_backends!(
    a_pack_limited_key_is_created_listed_and_shows_its_packs,
    creating_a_pack_limited_key_reports_every_malformed_or_repeated_id,
    creating_a_pack_limited_key_reports_every_pack_not_of_its_organization,
    a_key_is_limited_to_at_most_a_hundred_packs,
    a_platform_admin_key_cannot_be_limited_to_packs,
    a_pack_limited_key_reads_only_its_packs,
    a_pack_limited_key_reads_only_the_servers_its_packs_hold,
    a_pack_limited_admin_key_changes_nothing,
    a_key_whose_packs_are_all_deleted_reaches_no_pack,
    the_admin_cli_creates_a_pack_limited_key,
);
