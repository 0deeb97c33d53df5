//! The read caches (keys, GetMcpServer by id, ResolvePack): answers are
//! served from memory, and every write through the service — on this
//! replica or, on PostgreSQL, on another — is seen by the next read.
//!
//! To show that an answer really came from the cache, the tests change a row
//! behind the service's back (a store of their own on SQLite; on PostgreSQL a
//! session with triggers off, so no change notification is sent): a cached
//! answer still shows the old value.

use std::time::{Duration, Instant};

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use mcp_registry::store::Store;
use tonic::Code;

use crate::helpers::{
    Backend, Instance, Options, TestApp, TestDatabase, org_with_admin_key, server, synced, tool,
};
use crate::on_both_backends;

/// Sets a server's description without the service knowing.
async fn behind_the_back(database_url: &str, server_id: &str, description: &str) {
    let store = Store::connect(database_url).await.expect("own store");
    let update =
        format!("UPDATE mcp_servers SET description = '{description}' WHERE id = '{server_id}'");
    let sql = if database_url.starts_with("postgres") {
        // No trigger, so no NOTIFY: only this session knows.
        format!("BEGIN; SET LOCAL session_replication_role = replica; {update}; COMMIT;")
    } else {
        update
    };
    store.execute_unprepared(&sql).await.expect("raw update");
    store.close().await.expect("close");
}

async fn description(
    client: &mut pb::mcp_server_service_client::McpServerServiceClient<crate::helpers::Authed>,
    id: &str,
) -> String {
    client
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.into())),
        })
        .await
        .expect("get")
        .into_inner()
        .description
}

/// Waits until caching is on (on PostgreSQL the listener connects after
/// start-up): once a change behind the back stays unseen. Returns the
/// description the cache serves.
async fn wait_until_cached(
    database_url: &str,
    client: &mut pb::mcp_server_service_client::McpServerServiceClient<crate::helpers::Authed>,
    id: &str,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut round = 0;
    loop {
        round += 1;
        let before = description(client, id).await;
        let _ = description(client, id).await;
        behind_the_back(database_url, id, &format!("hidden {round}")).await;
        if description(client, id).await == before {
            return before;
        }
        assert!(Instant::now() < deadline, "the cache never came on");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn offered(resolved: &pb::ResolvePackResponse) -> Vec<String> {
    resolved
        .tools
        .iter()
        .map(|t| t.qualified_name.clone())
        .collect()
}

/// A server of "acme" whose GetMcpServer answers come from the cache.
struct Cached {
    org: crate::helpers::Org,
    s: pb::McpServer,
    servers: pb::mcp_server_service_client::McpServerServiceClient<crate::helpers::Authed>,
    /// The description the cache serves.
    cached: String,
}

async fn cached_server(app: &TestApp) -> Cached {
    let org = app.org("acme", Plan::Enterprise).await;
    let s = app.create_server(&org.admin, server("cached")).await;
    let mut servers = app.servers_as(&org.admin);
    let cached = wait_until_cached(&app.database_url, &mut servers, &s.id).await;
    Cached {
        org,
        s,
        servers,
        cached,
    }
}

/// Creates the pack "p" holding `server_id`.
async fn pack_of(app: &TestApp, auth: &crate::helpers::Auth, server_id: &str) -> pb::Pack {
    app.packs_as(auth)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "p".into(),
                description: "a pack".into(),
                servers: vec![pb::PackServer {
                    server_id: server_id.into(),
                    name: String::new(),
                }],
                ..Default::default()
            }),
        })
        .await
        .expect("pack")
        .into_inner()
}

fn get_by_id(id: &str) -> pb::GetMcpServerRequest {
    pb::GetMcpServerRequest {
        lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.into())),
    }
}

async fn get_mcp_server_is_served_from_memory(app: TestApp) {
    let Cached {
        s,
        mut servers,
        cached,
        ..
    } = cached_server(&app).await;
    // Served from memory: the row already says something else.
    assert_eq!(description(&mut servers, &s.id).await, cached);
}

async fn a_cached_answer_stays_within_its_organization(app: TestApp) {
    let Cached { s, .. } = cached_server(&app).await;
    let other = app.org("other", Plan::Enterprise).await;
    let err = app
        .servers_as(&other.admin)
        .get_mcp_server(get_by_id(&s.id))
        .await
        .expect_err("other organization");
    assert_eq!(err.code(), Code::NotFound);
}

async fn a_cached_answer_carries_the_access_of_each_key(app: TestApp) {
    let Cached { org, s, .. } = cached_server(&app).await;
    let viewer = app
        .servers_as(&org.viewer)
        .get_mcp_server(get_by_id(&s.id))
        .await
        .expect("viewer")
        .into_inner();
    let access = viewer.access_info.expect("access");
    assert_eq!(access.role, pb::Role::Viewer as i32);
    assert!(!access.can_edit);
}

async fn an_update_is_seen_by_the_next_get(app: TestApp) {
    let Cached {
        org,
        s,
        mut servers,
        ..
    } = cached_server(&app).await;
    let change = pb::McpServer {
        description: "updated".into(),
        ..Default::default()
    };
    update(&app, &org.admin, &s.id, change, "description").await;
    assert_eq!(description(&mut servers, &s.id).await, "updated");
}

async fn a_pack_write_is_seen_by_the_next_get(app: TestApp) {
    let Cached {
        org,
        s,
        mut servers,
        ..
    } = cached_server(&app).await;
    let pack = pack_of(&app, &org.admin, &s.id).await;
    let get = servers
        .get_mcp_server(get_by_id(&s.id))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(get.pack_ids, vec![pack.id.clone()]);
}

async fn a_cached_resolution_follows_every_change_it_depends_on(app: TestApp) {
    let Cached { org, s, .. } = cached_server(&app).await;
    let pack = pack_of(&app, &org.admin, &s.id).await;
    // ResolvePack follows syncs (tools, state) and pack changes.
    let mut packs = app.packs_as(&org.viewer);
    let resolve = |version: i64| pb::ResolvePackRequest {
        id: pack.id.clone(),
        version,
    };
    let first = packs
        .resolve_pack(resolve(0))
        .await
        .expect("resolve")
        .into_inner();
    assert!(first.tools.is_empty());
    let again = packs.resolve_pack(resolve(0)).await.expect("again");
    assert_eq!(first, again.into_inner());
    synced(&app, &s.id, &[tool("a"), tool("b")]).await;
    let after_sync = packs
        .resolve_pack(resolve(0))
        .await
        .expect("resolve")
        .into_inner();
    assert_eq!(offered(&after_sync), vec!["cached__a", "cached__b"]);
    synced(&app, &s.id, &[tool("a")]).await;
    let after_resync = packs
        .resolve_pack(resolve(0))
        .await
        .expect("resolve")
        .into_inner();
    assert_eq!(offered(&after_resync), vec!["cached__a"]);
    let tools_off = pb::McpServer {
        tool_configuration: Some(pb::ToolConfiguration {
            enabled: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    update(
        &app,
        &org.admin,
        &s.id,
        tools_off,
        "tool_configuration.enabled",
    )
    .await;
    let tools_off = packs
        .resolve_pack(resolve(0))
        .await
        .expect("resolve")
        .into_inner();
    assert!(tools_off.tools.is_empty(), "{tools_off:?}");
    app.packs_as(&org.admin)
        .remove_pack_server(pb::RemovePackServerRequest {
            pack_id: pack.id.clone(),
            server: Some(pb::PackServer {
                server_id: s.id.clone(),
                name: String::new(),
            }),
            etag: String::new(),
        })
        .await
        .expect("remove");
    let emptied = packs
        .resolve_pack(resolve(0))
        .await
        .expect("resolve")
        .into_inner();
    assert_eq!(emptied.version, 2);
    assert!(emptied.excluded_tools.is_empty(), "{emptied:?}");
    // A pinned version keeps its own answer.
    let pinned = packs
        .resolve_pack(resolve(1))
        .await
        .expect("v1")
        .into_inner();
    assert_eq!(pinned.version, 1);
}

async fn revoking_a_cached_key_takes_effect_at_once(app: TestApp) {
    let Cached { org, s, .. } = cached_server(&app).await;
    let pack = pack_of(&app, &org.admin, &s.id).await;
    let mut packs = app.packs_as(&org.viewer);
    let resolve = || pb::ResolvePackRequest {
        id: pack.id.clone(),
        version: 0,
    };
    // The viewer's key is cached by these calls.
    packs.resolve_pack(resolve()).await.expect("resolve");
    packs.resolve_pack(resolve()).await.expect("again");
    let key_id = org.viewer.key_id().to_owned();
    app.admin()
        .revoke_api_key(pb::RevokeApiKeyRequest { id: key_id })
        .await
        .expect("revoke");
    let err = packs.resolve_pack(resolve()).await.expect_err("revoked");
    assert_eq!(err.code(), Code::Unauthenticated);
}

/// A server with most fields set, as answers show it.
fn rich(name: &str) -> pb::McpServer {
    pb::McpServer {
        display_name: format!("{name} server"),
        description: "kept encoded".into(),
        category: "search".into(),
        request_headers: [("x-team".to_owned(), "blue".to_owned())].into(),
        config: Some(prost_types::Struct {
            fields: [(
                "region".to_owned(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::StringValue("eu".into())),
                },
            )]
            .into(),
        }),
        ..server(name)
    }
}

async fn a_cached_answer_is_the_fresh_one_field_for_field(app: TestApp) {
    let org = app.org("acme", Plan::Enterprise).await;
    let created = app.create_server(&org.member, rich("rich")).await;
    synced(&app, &created.id, &[tool("a"), tool("b")]).await;
    let pack = pack_of(&app, &org.admin, &created.id).await;
    let mut servers = app.servers_as(&org.member);
    wait_until_cached(&app.database_url, &mut servers, &created.id).await;
    // An update answers a message built now (not from the cache), and
    // drops the cached answer.
    let fresh = servers
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(pb::McpServer {
                id: created.id.clone(),
                description: "kept encoded, again".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["description".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(fresh.pack_ids, vec![pack.id.clone()]);
    let miss = servers
        .get_mcp_server(get_by_id(&created.id))
        .await
        .expect("get");
    let hit = servers
        .get_mcp_server(get_by_id(&created.id))
        .await
        .expect("get");
    assert_eq!(miss.into_inner(), fresh);
    assert_eq!(hit.into_inner(), fresh);
    let by_name = servers
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Name("rich".into())),
        })
        .await
        .expect("by name");
    assert_eq!(by_name.into_inner(), fresh);
    for _ in 0..2 {
        let listed = servers
            .list_mcp_servers(pb::ListMcpServersRequest::default())
            .await
            .expect("list")
            .into_inner();
        assert_eq!(listed.mcp_servers, vec![fresh.clone()]);
        assert_eq!(
            (listed.total_size, listed.next_page_token.as_str()),
            (1, "")
        );
    }

    // ResolvePack: the cached bytes decode to the message the domain's
    // resolution converts to.
    let mut packs = app.packs_as(&org.viewer);
    let request = || pb::ResolvePackRequest {
        id: pack.id.clone(),
        version: 0,
    };
    let first = packs.resolve_pack(request()).await.expect("resolve");
    let hit = packs.resolve_pack(request()).await.expect("resolve");
    let caller = mcp_registry::registry::Caller::Member {
        key_id: org.viewer.key_id().to_owned(),
        organization_id: org.id.clone(),
        role: mcp_registry::registry::Role::Viewer,
        packs: None,
        subject: None,
    };
    let resolution = mcp_registry::registry::packs::Packs::new(app.store.clone())
        .resolve(&caller, &pack.id, 0)
        .await
        .expect("resolution");
    let expected = pb::ResolvePackResponse::from(resolution);
    assert_eq!(offered(&expected), vec!["rich__a", "rich__b"]);
    assert_eq!(first.into_inner(), expected);
    assert_eq!(hit.into_inner(), expected);
}

async fn a_hit_carries_each_callers_own_access(app: TestApp) {
    let org = app.org("acme", Plan::Enterprise).await;
    let created = app.create_server(&org.member, rich("mine")).await;
    let mut by_member = app.servers_as(&org.member);
    wait_until_cached(&app.database_url, &mut by_member, &created.id).await;
    let as_caller = |auth: &crate::helpers::Auth| {
        let mut client = app.servers_as(auth);
        let id = created.id.clone();
        async move {
            let got = client.get_mcp_server(get_by_id(&id)).await.expect("get");
            let listed = client
                .list_mcp_servers(pb::ListMcpServersRequest::default())
                .await
                .expect("list")
                .into_inner();
            (got.into_inner(), listed.mcp_servers)
        }
    };
    let (mine, mine_listed) = as_caller(&org.member).await;
    let access = |s: &pb::McpServer| {
        let a = s.access_info.expect("access");
        (a.role(), a.is_creator, a.can_edit)
    };
    assert_eq!(access(&mine), (pb::Role::Member, true, true));
    for (auth, expected) in [
        (&org.member2, (pb::Role::Member, false, false)),
        (&org.admin, (pb::Role::Admin, false, true)),
        (&org.viewer, (pb::Role::Viewer, false, false)),
        (&org.member, (pb::Role::Member, true, true)),
    ] {
        let (got, listed) = as_caller(auth).await;
        assert_eq!(access(&got), expected);
        assert_eq!(listed.iter().map(access).collect::<Vec<_>>(), [expected]);
        // Everything else is the same cached answer.
        let same = pb::McpServer {
            access_info: mine.access_info,
            ..got
        };
        assert_eq!(same, mine);
        let same_listed = pb::McpServer {
            access_info: mine.access_info,
            ..listed[0].clone()
        };
        assert_eq!(vec![same_listed], mine_listed);
    }
}

on_both_backends!(
    a_cached_answer_is_the_fresh_one_field_for_field,
    a_hit_carries_each_callers_own_access,
);

on_both_backends!(
    get_mcp_server_is_served_from_memory,
    a_cached_answer_stays_within_its_organization,
    a_cached_answer_carries_the_access_of_each_key,
    an_update_is_seen_by_the_next_get,
    a_pack_write_is_seen_by_the_next_get,
    a_cached_resolution_follows_every_change_it_depends_on,
    revoking_a_cached_key_takes_effect_at_once,
);

async fn update(
    app: &TestApp,
    auth: &crate::helpers::Auth,
    id: &str,
    change: pb::McpServer,
    path: &str,
) {
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

/// Servers "a" (the admin's) and "b" (the member's) of "acme", listed
/// through the cache.
struct Listed {
    org: crate::helpers::Org,
    a: pb::McpServer,
    b: pb::McpServer,
    servers: pb::mcp_server_service_client::McpServerServiceClient<crate::helpers::Authed>,
}

async fn listed(app: &TestApp) -> Listed {
    let org = app.org("acme", Plan::Enterprise).await;
    let a = app.create_server(&org.admin, server("a")).await;
    let b = app.create_server(&org.member, server("b")).await;
    let mut servers = app.servers_as(&org.admin);
    wait_until_cached(&app.database_url, &mut servers, &a.id).await;
    Listed { org, a, b, servers }
}

/// Returns the page of one server after `page_token`, in `category` (any when empty).
async fn page(
    servers: &mut pb::mcp_server_service_client::McpServerServiceClient<crate::helpers::Authed>,
    page_token: String,
    category: &str,
) -> pb::ListMcpServersResponse {
    servers
        .list_mcp_servers(pb::ListMcpServersRequest {
            page_size: 1,
            page_token,
            filter: Some(pb::McpServerFilter {
                category: category.into(),
                ..Default::default()
            }),
            include_catalog: false,
        })
        .await
        .expect("list")
        .into_inner()
}

async fn a_listing_is_served_from_memory(app: TestApp) {
    let Listed { a, mut servers, .. } = listed(&app).await;
    let first = page(&mut servers, String::new(), "").await;
    assert_eq!(
        (first.total_size, first.mcp_servers[0].id.as_str()),
        (2, a.id.as_str())
    );
    // Served from memory: a change behind the service's back stays unseen.
    behind_the_back(&app.database_url, &a.id, "behind").await;
    assert_eq!(page(&mut servers, String::new(), "").await, first);
}

async fn a_new_server_counts_at_once_in_a_cached_listing(app: TestApp) {
    let Listed {
        org, mut servers, ..
    } = listed(&app).await;
    page(&mut servers, String::new(), "").await;
    app.create_server(&org.admin, server("c")).await;
    assert_eq!(page(&mut servers, String::new(), "").await.total_size, 3);
}

async fn a_cached_page_shows_a_changed_server(app: TestApp) {
    let Listed {
        org,
        b,
        mut servers,
        ..
    } = listed(&app).await;
    let first = page(&mut servers, String::new(), "").await;
    let second = page(&mut servers, first.next_page_token.clone(), "").await;
    assert_eq!(second.mcp_servers[0].id, b.id);
    let change = pb::McpServer {
        description: "changed".into(),
        ..Default::default()
    };
    update(&app, &org.admin, &b.id, change, "description").await;
    let second = page(&mut servers, first.next_page_token, "").await;
    assert_eq!(second.mcp_servers[0].description, "changed");
}

async fn a_cached_filter_follows_a_change_of_category(app: TestApp) {
    let Listed {
        org,
        b,
        mut servers,
        ..
    } = listed(&app).await;
    let none = page(&mut servers, String::new(), "tools").await;
    assert_eq!(none.total_size, 0);
    let change = pb::McpServer {
        category: "tools".into(),
        ..Default::default()
    };
    update(&app, &org.admin, &b.id, change, "category").await;
    let one = page(&mut servers, String::new(), "tools").await;
    assert_eq!(
        (one.total_size, one.mcp_servers[0].id.as_str()),
        (1, b.id.as_str())
    );
}

async fn a_cached_listing_shows_the_latest_tool_and_pack_counts(app: TestApp) {
    let Listed {
        org,
        a,
        mut servers,
        ..
    } = listed(&app).await;
    page(&mut servers, String::new(), "").await;
    // A sync and a pack show on the listed server.
    synced(&app, &a.id, &[tool("t")]).await;
    pack_of(&app, &org.admin, &a.id).await;
    let first = page(&mut servers, String::new(), "").await;
    let listed = &first.mcp_servers[0];
    assert_eq!((listed.tool_count, listed.pack_ids.len()), (1, 1));
}

async fn a_deleted_server_leaves_the_cached_count(app: TestApp) {
    let Listed {
        org, mut servers, ..
    } = listed(&app).await;
    let c = app.create_server(&org.admin, server("c")).await;
    assert_eq!(page(&mut servers, String::new(), "").await.total_size, 3);
    app.servers_as(&org.admin)
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: c.id.clone(),
            force: false,
            etag: String::new(),
        })
        .await
        .expect("delete");
    assert_eq!(page(&mut servers, String::new(), "").await.total_size, 2);
}

async fn a_cached_page_carries_the_access_of_each_caller(app: TestApp) {
    let Listed {
        org, mut servers, ..
    } = listed(&app).await;
    page(&mut servers, String::new(), "").await;
    // access_info is the caller's own, even from a cached page.
    let mut as_member = app.servers_as(&org.member);
    for _ in 0..2 {
        let page = as_member
            .list_mcp_servers(pb::ListMcpServersRequest::default())
            .await
            .expect("member list")
            .into_inner();
        let editable: Vec<bool> = page
            .mcp_servers
            .iter()
            .map(|s| s.access_info.as_ref().expect("access").can_edit)
            .collect();
        assert_eq!(editable, vec![false, true], "the member created b only");
    }
}

on_both_backends!(
    a_listing_is_served_from_memory,
    a_new_server_counts_at_once_in_a_cached_listing,
    a_cached_page_shows_a_changed_server,
    a_cached_filter_follows_a_change_of_category,
    a_cached_listing_shows_the_latest_tool_and_pack_counts,
    a_deleted_server_leaves_the_cached_count,
    a_cached_page_carries_the_access_of_each_caller,
);

/// Runs the service with the caches off.
async fn with_the_caches_off_every_read_goes_to_the_database(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let s = app.create_server(&org.admin, server("plain")).await;
    let mut servers = app.servers_as(&org.admin);
    assert_eq!(description(&mut servers, &s.id).await, "");
    behind_the_back(&app.database_url, &s.id, "seen").await;
    assert_eq!(description(&mut servers, &s.id).await, "seen");
}

crate::on_both_backends_with!(crate::helpers::Options { read_cache_mib: Some(0), ..crate::helpers::Options::default() };
    with_the_caches_off_every_read_goes_to_the_database);

/// Two replicas on one PostgreSQL database: what one writes, the other's
/// caches drop as soon as the change notification arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_drop_cached_answers_when_another_replica_writes() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let master_key = mcp_registry::crypto::Keyring::generate_entry("test").expect("key");
    let options = Options::default();
    let a = Instance::start(&database, &master_key, &options).await;
    let b = Instance::start(&database, &master_key, &options).await;
    let store = Store::connect(&database.url).await.expect("store");
    let (_, admin) = org_with_admin_key(&store, "acme", Plan::Pro).await;
    let (_, member) = org_with_admin_key(&store, "acme-two", Plan::Pro).await;
    let on = |instance: &Instance, auth: &crate::helpers::Auth| {
        pb::mcp_server_service_client::McpServerServiceClient::with_interceptor(
            instance.channel.clone(),
            auth.clone(),
        )
    };
    let created = on(&a, &admin)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(server("shared")),
        })
        .await
        .expect("create")
        .into_inner();
    let mut on_b = on(&b, &admin);
    wait_until_cached(&database.url, &mut on_b, &created.id).await;

    // A write on A reaches B's cache.
    on(&a, &admin)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(pb::McpServer {
                id: created.id.clone(),
                description: "written on a".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["description".into()],
            }),
        })
        .await
        .expect("update on a");
    let deadline = Instant::now() + Duration::from_secs(10);
    while description(&mut on_b, &created.id).await != "written on a" {
        assert!(
            Instant::now() < deadline,
            "B kept serving its cached answer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A server created on A is counted by B's cached listing.
    let count_on_b = |mut client: pb::mcp_server_service_client::McpServerServiceClient<
        crate::helpers::Authed,
    >| async move {
        client
            .list_mcp_servers(pb::ListMcpServersRequest::default())
            .await
            .expect("list on b")
            .into_inner()
            .total_size
    };
    assert_eq!(count_on_b(on(&b, &admin)).await, 1);
    assert_eq!(count_on_b(on(&b, &admin)).await, 1);
    on(&a, &admin)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(server("second")),
        })
        .await
        .expect("create on a");
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_on_b(on(&b, &admin)).await != 2 {
        assert!(Instant::now() < deadline, "B kept counting one server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A sync written by another process reaches B's cached resolution.
    let packs_on_b = || {
        pb::pack_service_client::PackServiceClient::with_interceptor(
            b.channel.clone(),
            admin.clone(),
        )
    };
    let pack = packs_on_b()
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "p".into(),
                description: "a pack".into(),
                servers: vec![pb::PackServer {
                    server_id: created.id.clone(),
                    name: String::new(),
                }],
                ..Default::default()
            }),
        })
        .await
        .expect("pack")
        .into_inner();
    let resolved_on_b = || async {
        packs_on_b()
            .resolve_pack(pb::ResolvePackRequest {
                id: pack.id.clone(),
                version: 0,
            })
            .await
            .expect("resolve on b")
            .into_inner()
    };
    assert!(resolved_on_b().await.tools.is_empty());
    assert!(resolved_on_b().await.tools.is_empty());
    crate::helpers::synced_in(&store, &created.id, &[tool("a")]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while offered(&resolved_on_b().await) != ["shared__a"] {
        assert!(Instant::now() < deadline, "B kept its resolution");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A key revoked on A stops working on B.
    let mut b_member = on(&b, &member);
    b_member
        .list_mcp_servers(pb::ListMcpServersRequest::default())
        .await
        .expect("member key works on b");
    let platform = mcp_registry::registry::Admin::new(store.clone())
        .create_api_key(
            &mcp_registry::registry::Caller::Cli,
            mcp_registry::registry::admin::NewApiKey {
                scope: mcp_registry::registry::KeyScope::PlatformAdmin,
                display_name: String::new(),
                acts_for_users: false,
            },
        )
        .await
        .expect("platform key");
    let mut admin_on_a = pb::admin_service_client::AdminServiceClient::with_interceptor(
        a.channel.clone(),
        crate::helpers::Auth::Pair(platform.key.id, platform.secret),
    );
    admin_on_a
        .revoke_api_key(pb::RevokeApiKeyRequest {
            id: member.key_id().to_owned(),
        })
        .await
        .expect("revoke on a");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match b_member
            .list_mcp_servers(pb::ListMcpServersRequest::default())
            .await
        {
            Err(status) if status.code() == Code::Unauthenticated => break,
            Ok(_) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the revoked key still works on B"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    store.close().await.expect("close");
    a.stop().await;
    b.stop().await;
    database.drop_database().await;
}
