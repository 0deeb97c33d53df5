//! ResolvePack answers stored encoded in the database (`pack_resolutions`):
//! served while what they were computed from is unchanged, on a cold start
//! and by another service on the same database too, and computed again
//! after any change of it (a sync, a tools-only change, a failed sync, an
//! approval, a server update, tool settings, membership, a delete).
//!
//! The service of the first test runs with its memory caches off, so every
//! call reads the database: an answer that a change did not invalidate would
//! be served unchanged. Whether an answer was computed or read is seen in its
//! row's `computed_at`.

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use mcp_registry::registry::servers::CapabilityKind;
use mcp_registry::store::Store;

use crate::helpers::{
    Auth, Backend, Instance, Options, TestApp, TestDatabase, discovered, org_with_admin_key,
    server, synced, synced_in, tool,
};

type Packs = pb::pack_service_client::PackServiceClient<crate::helpers::Authed>;

async fn resolve(packs: &mut Packs, pack_id: &str, version: i64) -> pb::ResolvePackResponse {
    packs
        .resolve_pack(pb::ResolvePackRequest {
            id: pack_id.into(),
            version,
        })
        .await
        .expect("resolve")
        .into_inner()
}

fn offered(answer: &pb::ResolvePackResponse) -> Vec<String> {
    answer
        .tools
        .iter()
        .map(|t| t.qualified_name.clone())
        .collect()
}

fn excluded(answer: &pb::ResolvePackResponse) -> Vec<(String, pb::ExclusionReason)> {
    answer
        .excluded_tools
        .iter()
        .map(|e| (format!("{}__{}", e.server_name, e.tool_name), e.reason()))
        .collect()
}

/// `computed_at` of the stored answer of `pack_id` at `version`, if any.
async fn computed_at(store: &Store, pack_id: &str, version: i64) -> Option<i64> {
    store
        .dump_table("pack_resolutions")
        .await
        .expect("dump")
        .iter()
        .map(|row| serde_json::from_str::<serde_json::Value>(row).expect("json"))
        .find(|row| row["pack_id"] == pack_id && row["version"] == version)
        .and_then(|row| row["computed_at"].as_i64())
}

async fn create_pack(packs: &mut Packs, name: &str, server_ids: &[&str]) -> pb::Pack {
    packs
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: name.into(),
                description: "a pack".into(),
                servers: server_ids
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
        .expect("pack")
        .into_inner()
}

async fn update_server(app: &TestApp, auth: &Auth, id: &str, change: pb::McpServer, path: &str) {
    app.servers_as(auth)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(pb::McpServer {
                id: id.into(),
                ..change
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec![path.into()],
            }),
        })
        .await
        .expect("update");
}

/// The current answer after a change: what it offers, and that it was
/// computed again (a later `computed_at` than `before`).
async fn after_change(
    app: &TestApp,
    packs: &mut Packs,
    pack_id: &str,
    before: &mut i64,
    what: &str,
) -> pb::ResolvePackResponse {
    let answer = resolve(packs, pack_id, 0).await;
    let now = computed_at(&app.store, pack_id, 0).await.expect("stored");
    assert!(now > *before, "{what}: the stored answer was served");
    *before = now;
    // Read again: the new answer is stored and served as it is.
    assert_eq!(resolve(packs, pack_id, 0).await, answer, "{what}");
    assert_eq!(
        computed_at(&app.store, pack_id, 0).await,
        Some(now),
        "{what}"
    );
    answer
}

async fn a_stored_resolution_follows_every_change_it_depends_on(app: TestApp) {
    let org = app.org("acme", Plan::Enterprise).await;
    let one = app.create_server(&org.admin, server("one")).await;
    let two = app.create_server(&org.admin, server("two")).await;
    synced(&app, &one.id, &[tool("a"), tool("b")]).await;
    synced(&app, &two.id, &[tool("c")]).await;
    let mut admin_packs = app.packs_as(&org.admin);
    let pack = create_pack(&mut admin_packs, "p", &[&one.id, &two.id]).await;
    let mut packs = app.packs_as(&org.viewer);

    let first = resolve(&mut packs, &pack.id, 0).await;
    assert_eq!(offered(&first), ["one__a", "one__b", "two__c"]);
    let mut at = computed_at(&app.store, &pack.id, 0).await.expect("stored");
    assert_eq!(resolve(&mut packs, &pack.id, 0).await, first);
    assert_eq!(
        computed_at(&app.store, &pack.id, 0).await,
        Some(at),
        "served as stored"
    );
    let pinned = resolve(&mut packs, &pack.id, 1).await;
    assert_eq!(offered(&pinned), offered(&first));
    assert!(computed_at(&app.store, &pack.id, 1).await.is_some());
    // A stored answer is still only for the pack's organization.
    let other = app.org("other", Plan::Enterprise).await;
    for version in [0, 1] {
        let refused = app
            .packs_as(&other.admin)
            .resolve_pack(pb::ResolvePackRequest {
                id: pack.id.clone(),
                version,
            })
            .await
            .expect_err("another organization");
        assert_eq!(refused.code(), tonic::Code::NotFound);
    }

    synced(&app, &one.id, &[tool("a")]).await;
    let answer = after_change(&app, &mut packs, &pack.id, &mut at, "a sync").await;
    assert_eq!(offered(&answer), ["one__a", "two__c"]);

    discovered(
        &app,
        &two.id,
        CapabilityKind::Tool,
        vec![tool("c"), tool("d")],
    )
    .await;
    let answer = after_change(&app, &mut packs, &pack.id, &mut at, "new tools").await;
    assert_eq!(offered(&answer), ["one__a", "two__c", "two__d"]);

    app.store
        .record_sync_state(
            &one.id,
            &mcp_registry::store::SyncState {
                at: mcp_registry::registry::now_micros(),
                succeeded: false,
                server_info: None,
                detected_transport: None,
                error: None,
            },
        )
        .await
        .expect("failed sync");
    let answer = after_change(&app, &mut packs, &pack.id, &mut at, "a failed sync").await;
    assert_eq!(offered(&answer), ["two__c", "two__d"]);
    assert_eq!(
        excluded(&answer),
        [("one__a".to_owned(), pb::ExclusionReason::ServerError)]
    );
    synced(&app, &one.id, &[tool("a")]).await;
    let answer = after_change(&app, &mut packs, &pack.id, &mut at, "a good sync").await;
    assert_eq!(offered(&answer), ["one__a", "two__c", "two__d"]);

    let require_all = pb::McpServer {
        approval_policy: pb::ApprovalPolicy::RequireAll as i32,
        ..Default::default()
    };
    update_server(&app, &org.admin, &one.id, require_all, "approval_policy").await;
    let answer = after_change(&app, &mut packs, &pack.id, &mut at, "an update").await;
    assert_eq!(offered(&answer), ["two__c", "two__d"]);
    app.servers_as(&org.admin)
        .approve_tools(pb::ApproveToolsRequest {
            server_id: one.id.clone(),
            tool_names: vec!["a".into()],
            ..Default::default()
        })
        .await
        .expect("approve");
    let answer = after_change(&app, &mut packs, &pack.id, &mut at, "an approval").await;
    assert_eq!(offered(&answer), ["one__a", "two__c", "two__d"]);

    admin_packs
        .update_pack_server_tools(pb::UpdatePackServerToolsRequest {
            pack_id: pack.id.clone(),
            server: Some(pb::PackServer {
                server_id: two.id.clone(),
                name: String::new(),
            }),
            tool_settings: Some(pb::PackToolSettings {
                only_listed_tools: false,
                tools: vec![pb::PackToolSetting {
                    tool_name: "d".into(),
                    hidden: true,
                    ..Default::default()
                }],
            }),
            etag: String::new(),
        })
        .await
        .expect("tool settings");
    let answer = after_change(&app, &mut packs, &pack.id, &mut at, "tool settings").await;
    assert_eq!(offered(&answer), ["one__a", "two__c"]);

    let disabled = pb::McpServer {
        enabled: Some(false),
        ..Default::default()
    };
    update_server(&app, &org.admin, &two.id, disabled, "enabled").await;
    let answer = after_change(&app, &mut packs, &pack.id, &mut at, "disabling").await;
    assert_eq!(offered(&answer), ["one__a"]);

    admin_packs
        .remove_pack_server(pb::RemovePackServerRequest {
            pack_id: pack.id.clone(),
            server: Some(pb::PackServer {
                server_id: two.id.clone(),
                name: String::new(),
            }),
            etag: String::new(),
        })
        .await
        .expect("remove");
    let answer = after_change(&app, &mut packs, &pack.id, &mut at, "a member removed").await;
    assert_eq!(offered(&answer), ["one__a"]);
    assert!(excluded(&answer).is_empty(), "{answer:?}");

    // Version 1 keeps its members, and follows their servers.
    let v1_at = computed_at(&app.store, &pack.id, 1).await.expect("stored");
    app.servers_as(&org.admin)
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: one.id.clone(),
            force: true,
            etag: String::new(),
        })
        .await
        .expect("delete");
    let answer = after_change(&app, &mut packs, &pack.id, &mut at, "a delete").await;
    assert!(answer.tools.is_empty(), "{answer:?}");
    let pinned = resolve(&mut packs, &pack.id, 1).await;
    assert!(computed_at(&app.store, &pack.id, 1).await > Some(v1_at));
    assert_eq!(pinned.version, 1);
    assert!(
        excluded(&pinned).contains(&("one__".to_owned(), pb::ExclusionReason::ServerDeleted)),
        "{pinned:?}"
    );
}

crate::on_both_backends_with!(crate::helpers::Options { read_cache_mib: Some(0), ..crate::helpers::Options::default() };
    a_stored_resolution_follows_every_change_it_depends_on);

/// Changes a stored tool's description, and optionally the stored answer's
/// format, without the service knowing (no revision counted, and on
/// PostgreSQL no change notification).
async fn behind_the_back(url: &str, server_id: &str, format: Option<&str>) {
    let store = Store::connect(url).await.expect("own store");
    let definition =
        r#"{"name":"a","description":"changed behind the back","inputSchema":{"type":"object"}}"#;
    let mut sql = format!(
        "UPDATE server_capabilities SET definition = '{definition}' WHERE server_id = '{server_id}';"
    );
    if let Some(format) = format {
        sql.push_str(&format!("UPDATE pack_resolutions SET format = '{format}';"));
    }
    let sql = if url.starts_with("postgres") {
        format!("BEGIN; SET LOCAL session_replication_role = replica; {sql} COMMIT;")
    } else {
        sql
    };
    store.execute_unprepared(&sql).await.expect("raw update");
    store.close().await.expect("close");
}

fn description(answer: &pb::ResolvePackResponse) -> &str {
    answer.tools.first().map_or("", |t| t.description.as_str())
}

async fn a_started_service_serves_the_stored_answer(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let master_key = mcp_registry::crypto::Keyring::generate_entry("test").expect("key");
    let first = Instance::start(&database, &master_key, &Options::default()).await;
    let store = Store::connect(&database.url).await.expect("store");
    let (_, admin) = org_with_admin_key(&store, "acme", Plan::Pro).await;
    let s = pb::mcp_server_service_client::McpServerServiceClient::with_interceptor(
        first.channel.clone(),
        admin.clone(),
    )
    .create_mcp_server(pb::CreateMcpServerRequest {
        mcp_server: Some(server("cold")),
    })
    .await
    .expect("create")
    .into_inner();
    synced_in(&store, &s.id, &[tool("a")]).await;
    let packs_of = |i: &Instance| {
        pb::pack_service_client::PackServiceClient::with_interceptor(
            i.channel.clone(),
            admin.clone(),
        )
    };
    let pack = create_pack(&mut packs_of(&first), "p", &[&s.id]).await;
    let computed = resolve(&mut packs_of(&first), &pack.id, 0).await;
    assert_eq!(description(&computed), "a does it");
    let at = computed_at(&store, &pack.id, 0).await;
    assert!(at.is_some());
    first.stop().await;

    // A new service, nothing in memory: the stored answer, not the tools as
    // they are now.
    behind_the_back(&database.url, &s.id, None).await;
    let second = Instance::start(&database, &master_key, &Options::default()).await;
    let served = resolve(&mut packs_of(&second), &pack.id, 0).await;
    assert_eq!(served, computed);
    assert_eq!(computed_at(&store, &pack.id, 0).await, at);

    // An answer stored in another format is not served.
    behind_the_back(&database.url, &s.id, Some("another binary")).await;
    let third = Instance::start(&database, &master_key, &Options::default()).await;
    let recomputed = resolve(&mut packs_of(&third), &pack.id, 0).await;
    assert_eq!(description(&recomputed), "changed behind the back");
    assert!(computed_at(&store, &pack.id, 0).await > at);

    // On PostgreSQL (SQLite serves one process per file), a sync written by
    // another process reaches both, as soon as its change notification does.
    synced_in(&store, &s.id, &[tool("a"), tool("b")]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let services = if backend == Backend::Postgres {
        vec![&second, &third]
    } else {
        Vec::new()
    };
    for service in services {
        while offered(&resolve(&mut packs_of(service), &pack.id, 0).await).len() != 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "a service kept its answer"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    second.stop().await;
    third.stop().await;
    store.close().await.expect("close");
    database.drop_database().await;
}

mod a_started_service_serves_the_stored_answer {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_started_service_serves_the_stored_answer(crate::helpers::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_started_service_serves_the_stored_answer(crate::helpers::Backend::Postgres).await;
    }
}

/// `--store-resolutions false`: answers are computed, never stored.
async fn without_stored_resolutions_nothing_is_stored(app: TestApp) {
    let org = app.org("acme", Plan::Enterprise).await;
    let s = app.create_server(&org.admin, server("plain")).await;
    synced(&app, &s.id, &[tool("a")]).await;
    let pack = create_pack(&mut app.packs_as(&org.admin), "p", &[&s.id]).await;
    let mut packs = app.packs_as(&org.viewer);
    assert_eq!(
        offered(&resolve(&mut packs, &pack.id, 0).await),
        ["plain__a"]
    );
    synced(&app, &s.id, &[tool("a"), tool("b")]).await;
    let answer = resolve(&mut packs, &pack.id, 0).await;
    assert_eq!(offered(&answer), ["plain__a", "plain__b"]);
    let rows = app
        .store
        .dump_table("pack_resolutions")
        .await
        .expect("dump");
    assert!(rows.is_empty(), "{rows:?}");
}

crate::on_both_backends_with!(crate::helpers::Options { no_stored_resolutions: true, ..crate::helpers::Options::default() };
    without_stored_resolutions_nothing_is_stored);
