//! McpServerService: create, read, list, update and delete, with tenancy.

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use prost_types::FieldMask;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Auth, TestApp, assert_error, bearer, server, violated_fields};
use crate::on_both_backends;

fn get_by_id(id: &str) -> pb::GetMcpServerRequest {
    pb::GetMcpServerRequest {
        lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.into())),
    }
}

fn get_by_name(name: &str) -> pb::GetMcpServerRequest {
    pb::GetMcpServerRequest {
        lookup: Some(pb::get_mcp_server_request::Lookup::Name(name.into())),
    }
}

fn update(server: pb::McpServer, paths: &[&str]) -> pb::UpdateMcpServerRequest {
    pb::UpdateMcpServerRequest {
        mcp_server: Some(server),
        update_mask: Some(FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    }
}

async fn creating_a_server_returns_it_pending_with_access_info_and_no_secret(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("github");
    input.display_name = "GitHub".into();
    input.description = "Issues and pull requests".into();
    input.category = "development".into();
    input.auth_type = pb::AuthType::BearerToken as i32;
    input.credentials = bearer("ghp_supersecret");
    input.request_headers = [
        ("X-Trace".to_owned(), "abc".to_owned()),
        ("X-Custom-Token".to_owned(), "tok_hidden".to_owned()),
    ]
    .into();
    let created = app.create_server(&org.member, input).await;
    assert!(
        created.id.starts_with("mcp_") && created.id.len() == 36,
        "{}",
        created.id
    );
    assert_eq!(created.organization_id, org.id);
    assert_eq!(created.status(), pb::ServerStatus::Pending);
    assert_eq!(created.visibility(), pb::Visibility::Private);
    assert_eq!(created.transport(), pb::Transport::Auto);
    assert_eq!(created.auth_type(), pb::AuthType::BearerToken);
    assert_eq!(created.approval_policy(), pb::ApprovalPolicy::RequireNone);
    assert!(created.credentials.is_none());
    assert!(created.has_credentials && created.credentials_updated_at.is_some());
    assert_eq!(created.request_headers["X-Trace"], "abc");
    assert_eq!(created.request_headers["X-Custom-Token"], "********");
    assert_eq!(created.enabled, Some(true));
    assert_eq!(
        created.tool_configuration.as_ref().and_then(|t| t.enabled),
        Some(true)
    );
    assert_eq!(created.created_by, org.member.key_id());
    assert_eq!(created.modified_by, org.member.key_id());
    assert!(!created.etag.is_empty() && created.created_at.is_some());
    let access = created.access_info.expect("access info");
    assert_eq!(access.role(), pb::Role::Member);
    assert!(access.is_creator && access.can_edit);
    assert!(!format!("{:?}", created.request_headers).contains("tok_hidden"));
}

async fn a_server_created_disabled_is_disabled(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("off");
    input.enabled = Some(false);
    let created = app.create_server(&org.admin, input).await;
    assert_eq!(created.status(), pb::ServerStatus::Disabled);
    assert_eq!(created.enabled, Some(false));
    assert!(created.next_sync_at.is_none());
}

async fn a_duplicate_name_already_exists_only_within_the_organization(app: TestApp) {
    let a = app.org("a", Plan::Pro).await;
    let b = app.org("b", Plan::Pro).await;
    app.create_server(&a.admin, server("github")).await;
    let result = app
        .servers_as(&a.member)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(server("github")),
        })
        .await;
    assert_error(result, Code::AlreadyExists, "ALREADY_EXISTS");
    app.create_server(&b.admin, server("github")).await;
}

/// Concurrent writes share commits on SQLite (group commit): a write that
/// fails in the same commit as others (here a taken name) fails alone, and
/// every write that succeeded is stored with its audit event.
async fn concurrent_creates_succeed_or_fail_each_on_its_own(app: TestApp) {
    let org = app.org("busy", Plan::Enterprise).await;
    app.create_server(&org.admin, server("taken")).await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..48 {
        let mut servers = app.servers_as(&org.admin);
        let name = if i % 4 == 0 {
            "taken".to_owned()
        } else {
            format!("s-{i}")
        };
        calls.spawn(async move {
            let result = servers
                .create_mcp_server(pb::CreateMcpServerRequest {
                    mcp_server: Some(server(&name)),
                })
                .await;
            (name, result)
        });
    }
    let mut created = Vec::new();
    while let Some(joined) = calls.join_next().await {
        let (name, result) = joined.expect("call");
        if name == "taken" {
            assert_error(result, Code::AlreadyExists, "ALREADY_EXISTS");
        } else {
            created.push(result.expect("a free name is created").into_inner().id);
        }
    }
    assert_eq!(created.len(), 36);
    let listed = app
        .servers_as(&org.admin)
        .list_mcp_servers(pb::ListMcpServersRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.total_size, 37);
    let events = app.store.dump_table("audit_events").await.expect("events");
    for id in &created {
        let create_events = events
            .iter()
            .filter(|row| row.contains(id.as_str()) && row.contains("mcp_server.create"))
            .count();
        assert_eq!(create_events, 1, "one audit event for {id}");
    }
    let all_creates = events
        .iter()
        .filter(|row| row.contains("mcp_server.create"))
        .count();
    assert_eq!(all_creates, 37, "no event for a failed create");
}

async fn a_free_plan_cannot_create_private_servers(app: TestApp) {
    let org = app.org("free", Plan::Free).await;
    let result = app
        .servers_as(&org.admin)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(server("github")),
        })
        .await;
    let status = assert_error(result, Code::FailedPrecondition, "PLAN_LIMIT_EXCEEDED");
    let quota = status.get_error_details();
    let quota = quota.quota_failure().expect("QuotaFailure detail");
    assert_eq!(quota.violations[0].subject, "private_servers");
}

/// Returns the catalog server "everything", created by the platform admin.
async fn catalog_server(app: &TestApp) -> pb::McpServer {
    let mut catalog = server("everything");
    catalog.visibility = pb::Visibility::Catalog as i32;
    app.create_server(&app.platform, catalog).await
}

async fn only_a_platform_admin_creates_catalog_servers(app: TestApp) {
    let b = app.org("b", Plan::Pro).await;
    let mut catalog = server("everything");
    catalog.visibility = pb::Visibility::Catalog as i32;
    let result = app
        .servers_as(&b.admin)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(catalog.clone()),
        })
        .await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");

    let created = app.create_server(&app.platform, catalog).await;
    assert_eq!(created.visibility(), pb::Visibility::Catalog);
    assert!(created.organization_id.is_empty());
}

async fn the_platform_admin_creates_no_private_servers(app: TestApp) {
    let mut private = server("mine");
    private.visibility = pb::Visibility::Private as i32;
    let result = app
        .servers_as(&app.platform)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(private),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["mcp_server.visibility"]);
}

async fn catalog_servers_are_read_only_to_every_organization(app: TestApp) {
    let a = app.org("a", Plan::Free).await;
    let b = app.org("b", Plan::Pro).await;
    let created = catalog_server(&app).await;
    for key in [&a.viewer, &b.member] {
        let mut client = app.servers_as(key);
        let by_id = client
            .get_mcp_server(get_by_id(&created.id))
            .await
            .expect("by id")
            .into_inner();
        assert_eq!(by_id.id, created.id);
        let access = by_id.access_info.expect("access");
        assert!(!access.can_edit && !access.is_creator);
        let by_name = client
            .get_mcp_server(get_by_name("everything"))
            .await
            .expect("by name")
            .into_inner();
        assert_eq!(by_name.id, created.id);
        let mut change = by_id.clone();
        change.description = "mine now".into();
        let result = client
            .update_mcp_server(update(change, &["description"]))
            .await;
        assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    }
    let result = app
        .servers_as(&b.admin)
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: created.id.clone(),
            ..Default::default()
        })
        .await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
}

async fn a_free_organization_lists_the_catalog_only_when_asked(app: TestApp) {
    let a = app.org("a", Plan::Free).await;
    catalog_server(&app).await;
    let mut client = app.servers_as(&a.admin);
    let listed = client
        .list_mcp_servers(pb::ListMcpServersRequest {
            include_catalog: true,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.mcp_servers.len(), 1);
    let own_only = client
        .list_mcp_servers(pb::ListMcpServersRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(own_only.total_size, 0);
}

async fn an_organizations_server_shadows_the_catalog_entry_of_its_name(app: TestApp) {
    let b = app.org("b", Plan::Pro).await;
    catalog_server(&app).await;
    let own = app.create_server(&b.admin, server("everything")).await;
    let by_name = app
        .servers_as(&b.member)
        .get_mcp_server(get_by_name("everything"))
        .await
        .expect("by name")
        .into_inner();
    assert_eq!(by_name.id, own.id);
}

async fn the_platform_admin_sees_the_catalog_and_nothing_else(app: TestApp) {
    let b = app.org("b", Plan::Pro).await;
    let created = catalog_server(&app).await;
    let own = app.create_server(&b.admin, server("everything")).await;
    let mut platform = app.servers_as(&app.platform);
    let listed = platform
        .list_mcp_servers(pb::ListMcpServersRequest::default())
        .await
        .expect("platform list")
        .into_inner();
    let ids: Vec<&str> = listed.mcp_servers.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec![created.id.as_str()]);
    let result = platform.get_mcp_server(get_by_id(&own.id)).await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
}

async fn the_platform_admin_may_edit_catalog_servers(app: TestApp) {
    let created = catalog_server(&app).await;
    let mut platform = app.servers_as(&app.platform);
    let mut change = created.clone();
    change.description = "reference server".into();
    let changed = platform
        .update_mcp_server(update(change, &["description"]))
        .await
        .expect("platform update")
        .into_inner();
    assert_eq!(changed.description, "reference server");
    platform
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: created.id,
            ..Default::default()
        })
        .await
        .expect("platform delete");
}

async fn get_finds_servers_by_id_or_name(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = app.create_server(&org.admin, server("github")).await;
    let mut client = app.servers_as(&org.viewer);
    let mut expected = created.clone();
    // Same server, seen by another key.
    expected.access_info = Some(pb::AccessInfo {
        role: pb::Role::Viewer as i32,
        is_creator: false,
        can_edit: false,
    });
    let by_id = client.get_mcp_server(get_by_id(&created.id)).await;
    assert_eq!(by_id.expect("id").into_inner(), expected);
    let by_name = client.get_mcp_server(get_by_name("github")).await;
    assert_eq!(by_name.expect("name").into_inner().id, created.id);
}

async fn get_rejects_bad_lookups(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    app.create_server(&org.admin, server("github")).await;
    let mut client = app.servers_as(&org.viewer);
    let result = client.get_mcp_server(get_by_name("gitlab")).await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
    let result = client
        .get_mcp_server(get_by_id("mcp_0123456789abcdef0123456789abcdef"))
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
    for (lookup, field) in [
        (pb::GetMcpServerRequest { lookup: None }, "id"),
        (get_by_id("github"), "id"),
        (get_by_name("Not A Name"), "name"),
    ] {
        let result = client.get_mcp_server(lookup).await;
        let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(violated_fields(&status), vec![field]);
    }
}

async fn listing_1050_servers_by_100_returns_each_once_in_order(app: TestApp) {
    let org = app.org("big", Plan::Enterprise).await;
    let mut created = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for batch in 0..15 {
        let mut client = app.servers_as(&org.admin);
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for i in 0..70 {
                let made = client
                    .create_mcp_server(pb::CreateMcpServerRequest {
                        mcp_server: Some(server(&format!("s{batch:02}-{i:03}"))),
                    })
                    .await
                    .expect("create")
                    .into_inner();
                ids.push(made.id);
            }
            ids
        });
    }
    while let Some(ids) = tasks.join_next().await {
        created.extend(ids.expect("batch"));
    }
    assert_eq!(created.len(), 1050);
    created.sort();

    let mut client = app.servers_as(&org.viewer);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_mcp_servers(pb::ListMcpServersRequest {
                page_size: 100,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert_eq!(page.total_size, 1050);
        assert!(page.mcp_servers.len() <= 100);
        seen.extend(page.mcp_servers.into_iter().map(|s| s.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen, created,
        "every server exactly once, in id (creation) order"
    );
}

/// Creates dev and chat servers (one dev server disabled) for the filter tests.
async fn categorized_servers(app: &TestApp, org: &crate::helpers::Org) {
    for (name, category) in [
        ("git_hub", "dev"),
        ("gitxhub", "dev"),
        ("git-lab", "dev"),
        ("slack", "chat"),
    ] {
        let mut s = server(name);
        s.category = category.into();
        app.create_server(&org.admin, s).await;
    }
    let mut off = server("git-off");
    off.enabled = Some(false);
    off.category = "dev".into();
    app.create_server(&org.admin, off).await;
}

/// Returns a request for one page of `category`, after `page_token`.
fn one_page_of(category: &str, page_token: String) -> pb::ListMcpServersRequest {
    pb::ListMcpServersRequest {
        page_size: 1,
        page_token,
        filter: Some(pb::McpServerFilter {
            category: category.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn list_filters_combine(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    categorized_servers(&app, &org).await;
    let mut client = app.servers_as(&org.member);
    let mut list = async |filter: pb::McpServerFilter| {
        let request = pb::ListMcpServersRequest {
            filter: Some(filter),
            ..Default::default()
        };
        let response = client.list_mcp_servers(request).await.expect("list");
        let response = response.into_inner();
        let mut names: Vec<String> = response.mcp_servers.into_iter().map(|s| s.name).collect();
        names.sort();
        (response.total_size, names)
    };
    let (dev, _) = list(pb::McpServerFilter {
        category: "dev".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(dev, 4);
    // `_` in a prefix is a literal, not a LIKE wildcard.
    let (_, prefixed) = list(pb::McpServerFilter {
        name_prefix: "git_".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(prefixed, vec!["git_hub"]);
    let (_, disabled) = list(pb::McpServerFilter {
        status: pb::ServerStatus::Disabled as i32,
        category: "dev".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(disabled, vec!["git-off"]);
}

async fn page_tokens_stay_bound_to_their_filter(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    categorized_servers(&app, &org).await;
    let mut client = app.servers_as(&org.member);
    let first = client
        .list_mcp_servers(one_page_of("dev", String::new()))
        .await
        .expect("first")
        .into_inner();
    let result = client
        .list_mcp_servers(one_page_of("chat", first.next_page_token.clone()))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["page_token"]);
}

async fn page_tokens_stay_bound_to_their_organization(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    categorized_servers(&app, &org).await;
    let first = app
        .servers_as(&org.member)
        .list_mcp_servers(one_page_of("dev", String::new()))
        .await
        .expect("first")
        .into_inner();
    // Another organization's token (same filter) is refused.
    let other = app.org("other", Plan::Pro).await;
    let result = app
        .servers_as(&other.admin)
        .list_mcp_servers(one_page_of("dev", first.next_page_token))
        .await;
    assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
}

/// Creates "github" (a member's, with a bearer token and two headers).
async fn github(app: &TestApp, org: &crate::helpers::Org) -> pb::McpServer {
    let mut input = server("github");
    input.auth_type = pb::AuthType::BearerToken as i32;
    input.credentials = bearer("ghp_one");
    input.request_headers = [
        ("X-Api-Key-Extra".to_owned(), "k-1".to_owned()),
        ("X-Trace".to_owned(), "t".to_owned()),
    ]
    .into();
    app.create_server(&org.member, input).await
}

async fn updating_a_server_changes_only_the_fields_in_its_mask(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = github(&app, &org).await;
    let mut admin = app.servers_as(&org.admin);

    // The description changes; the url in the request is ignored (not in the mask).
    let mut change = created.clone();
    change.description = "new words".into();
    change.url = "https://ignored.example.com/mcp".into();
    let updated = admin
        .update_mcp_server(update(change, &["description"]))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.description, "new words");
    assert_eq!(updated.url, created.url);
    assert_eq!(updated.status(), pb::ServerStatus::Pending);
    assert_ne!(updated.etag, created.etag);
    assert_eq!(updated.modified_by, org.admin.key_id());
    assert_eq!(updated.created_by, org.member.key_id());
    let micros = |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| (t.seconds, t.nanos));
    assert!(micros(&updated.updated_at) > micros(&created.updated_at));
    assert_eq!(updated.created_at, created.created_at);

    // Masked header values keep what is stored; the url change re-arms the sync.
    let mut change = updated.clone();
    change.url = "https://moved.example.com/mcp".into();
    change.request_headers.insert("X-Trace".into(), "t2".into());
    let moved = admin
        .update_mcp_server(update(change, &["url", "request_headers"]))
        .await
        .expect("move")
        .into_inner();
    assert_eq!(moved.url, "https://moved.example.com/mcp");
    assert_eq!(moved.request_headers["X-Api-Key-Extra"], "********");
    assert_eq!(moved.request_headers["X-Trace"], "t2");
    assert!(moved.has_credentials);
    // The credentials themselves did not change.
    assert_eq!(moved.credentials_updated_at, created.credentials_updated_at);

    // An empty mask updates the populated fields only.
    let renamed = admin
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(pb::McpServer {
                id: created.id.clone(),
                name: "github-2".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("rename")
        .into_inner();
    assert_eq!(renamed.name, "github-2");
    assert_eq!(renamed.url, moved.url);
    assert_eq!(renamed.request_headers, moved.request_headers);
}

async fn updating_a_server_with_a_stale_etag_is_aborted(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = github(&app, &org).await;
    let mut admin = app.servers_as(&org.admin);
    let mut change = created.clone();
    change.description = "new words".into();
    admin
        .update_mcp_server(update(change, &["description"]))
        .await
        .expect("update");
    let mut stale = created.clone();
    stale.display_name = "late".into();
    let result = admin
        .update_mcp_server(update(stale, &["display_name"]))
        .await;
    assert_error(result, Code::Aborted, "ETAG_MISMATCH");
}

async fn switching_to_no_auth_drops_the_credentials(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut none = github(&app, &org).await;
    none.auth_type = pb::AuthType::None as i32;
    let cleared = app
        .servers_as(&org.admin)
        .update_mcp_server(update(none, &["auth_type"]))
        .await
        .expect("none")
        .into_inner();
    assert!(!cleared.has_credentials);
    assert_eq!(cleared.auth_type(), pb::AuthType::None);
}

async fn switching_back_to_a_bearer_token_needs_credentials_in_the_same_update(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut none = github(&app, &org).await;
    none.auth_type = pb::AuthType::None as i32;
    let mut admin = app.servers_as(&org.admin);
    let cleared = admin
        .update_mcp_server(update(none, &["auth_type"]))
        .await
        .expect("none")
        .into_inner();
    let mut back = cleared.clone();
    back.auth_type = pb::AuthType::BearerToken as i32;
    let result = admin
        .update_mcp_server(update(back.clone(), &["auth_type"]))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["mcp_server.credentials"]);
    back.credentials = bearer("ghp_two");
    let restored = admin
        .update_mcp_server(update(back, &["auth_type", "credentials"]))
        .await
        .expect("bearer again")
        .into_inner();
    assert!(restored.has_credentials);
}

async fn a_disabled_server_is_pending_again_once_enabled(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut off = github(&app, &org).await;
    let mut admin = app.servers_as(&org.admin);
    off.enabled = Some(false);
    let disabled = admin
        .update_mcp_server(update(off, &["enabled"]))
        .await
        .expect("off")
        .into_inner();
    assert_eq!(disabled.status(), pb::ServerStatus::Disabled);
    let mut on = disabled.clone();
    on.enabled = Some(true);
    let enabled = admin
        .update_mcp_server(update(on, &["enabled"]))
        .await
        .expect("on")
        .into_inner();
    assert_eq!(enabled.status(), pb::ServerStatus::Pending);
}

async fn updating_a_server_rejects_bad_masks(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = app.create_server(&org.member, server("github")).await;
    let mut admin = app.servers_as(&org.admin);

    let result = admin
        .update_mcp_server(update(
            created.clone(),
            &["status", "visibility", "owner", "description"],
        ))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        vec!["update_mask", "update_mask", "update_mask"]
    );

    let result = admin
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(pb::McpServer {
                id: created.id.clone(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["update_mask"]);
}

async fn renaming_a_server_to_a_taken_name_already_exists(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = app.create_server(&org.member, server("github")).await;
    app.create_server(&org.admin, server("gitlab")).await;
    let mut taken = created.clone();
    taken.name = "gitlab".into();
    let result = app
        .servers_as(&org.admin)
        .update_mcp_server(update(taken, &["name"]))
        .await;
    assert_error(result, Code::AlreadyExists, "ALREADY_EXISTS");
}

async fn strangers_cannot_update_a_server(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = app.create_server(&org.member, server("github")).await;
    // Another member may not change it; another organization cannot see it.
    let mut change = created.clone();
    change.description = "x".into();
    let result = app
        .servers_as(&org.member2)
        .update_mcp_server(update(change.clone(), &["description"]))
        .await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    let other = app.org("other", Plan::Pro).await;
    let result = app
        .servers_as(&other.admin)
        .update_mcp_server(update(change, &["description"]))
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
}

async fn deleting_a_server_needs_its_creator_or_an_admin(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let other = app.org("other", Plan::Pro).await;
    let first = app.create_server(&org.member, server("one")).await;
    let second = app.create_server(&org.member, server("two")).await;
    let delete = |id: &str, etag: &str| pb::DeleteMcpServerRequest {
        id: id.into(),
        force: false,
        etag: etag.into(),
    };

    let result = app
        .servers_as(&org.member2)
        .delete_mcp_server(delete(&first.id, ""))
        .await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    let result = app
        .servers_as(&org.viewer)
        .delete_mcp_server(delete(&first.id, ""))
        .await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    let result = app
        .servers_as(&other.admin)
        .delete_mcp_server(delete(&first.id, ""))
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
    let result = app
        .servers_as(&org.member)
        .delete_mcp_server(delete(&first.id, "r999"))
        .await;
    assert_error(result, Code::Aborted, "ETAG_MISMATCH");

    app.servers_as(&org.member)
        .delete_mcp_server(delete(&first.id, &first.etag))
        .await
        .expect("creator deletes");
    app.servers_as(&org.admin)
        .delete_mcp_server(delete(&second.id, ""))
        .await
        .expect("admin deletes");
    let result = app
        .servers_as(&org.admin)
        .get_mcp_server(get_by_id(&first.id))
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
    let result = app
        .servers_as(&org.admin)
        .delete_mcp_server(delete(&second.id, ""))
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
    let result = app
        .servers_as(&org.admin)
        .delete_mcp_server(delete("nope", ""))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["id"]);
}

/// Every RPC of McpServerService, called by `auth` on `server_id`; returns the codes.
async fn every_rpc(
    app: &TestApp,
    auth: &Auth,
    server: &pb::McpServer,
) -> Vec<(&'static str, Code)> {
    let mut client = app.servers_as(auth);
    let code = |r: Result<tonic::Code, tonic::Status>| r.unwrap_or_else(|s| s.code());
    let id = server.id.clone();
    let mut change = server.clone();
    change.description = "changed".into();
    change.etag.clear();
    vec![
        (
            "CreateMcpServer",
            code(
                client
                    .create_mcp_server(pb::CreateMcpServerRequest {
                        mcp_server: Some(crate::helpers::server("fresh-one")),
                    })
                    .await
                    .map(|_| Code::Ok),
            ),
        ),
        (
            "GetMcpServer",
            code(
                client
                    .get_mcp_server(get_by_id(&id))
                    .await
                    .map(|_| Code::Ok),
            ),
        ),
        (
            "ListServerTools",
            code(
                client
                    .list_server_tools(pb::ListServerToolsRequest {
                        server_id: id.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| Code::Ok),
            ),
        ),
        (
            "ListServerPrompts",
            code(
                client
                    .list_server_prompts(pb::ListServerPromptsRequest {
                        server_id: id.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| Code::Ok),
            ),
        ),
        (
            "ListServerResources",
            code(
                client
                    .list_server_resources(pb::ListServerResourcesRequest {
                        server_id: id.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| Code::Ok),
            ),
        ),
        (
            "ApproveTools",
            code(
                client
                    .approve_tools(pb::ApproveToolsRequest {
                        server_id: id.clone(),
                        all_tools: true,
                        ..Default::default()
                    })
                    .await
                    .map(|_| Code::Ok),
            ),
        ),
        (
            "UpdateMcpServer",
            code(
                client
                    .update_mcp_server(update(change, &["description"]))
                    .await
                    .map(|_| Code::Ok),
            ),
        ),
        (
            "DeleteMcpServer",
            code(
                client
                    .delete_mcp_server(pb::DeleteMcpServerRequest {
                        id,
                        ..Default::default()
                    })
                    .await
                    .map(|_| Code::Ok),
            ),
        ),
    ]
}

async fn tenancy_holds_for_every_rpc(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let other = app.org("other", Plan::Pro).await;

    // Another organization: NOT_FOUND everywhere except its own create.
    let target = app.create_server(&org.member, server("target")).await;
    for (rpc, code) in every_rpc(&app, &other.admin, &target).await {
        let expected = if rpc == "CreateMcpServer" {
            Code::Ok
        } else {
            Code::NotFound
        };
        assert_eq!(code, expected, "{rpc} by another organization");
    }
    // A viewer reads, never writes.
    for (rpc, code) in every_rpc(&app, &org.viewer, &target).await {
        let expected = if rpc.starts_with("Get") || rpc.starts_with("List") {
            Code::Ok
        } else {
            Code::PermissionDenied
        };
        assert_eq!(code, expected, "{rpc} by a viewer");
    }
    // Another member reads and creates, but cannot change the creator's server.
    for (rpc, code) in every_rpc(&app, &org.member2, &target).await {
        let expected = match rpc {
            "ApproveTools" | "UpdateMcpServer" | "DeleteMcpServer" => Code::PermissionDenied,
            _ => Code::Ok,
        };
        assert_eq!(code, expected, "{rpc} by another member");
    }
    // The creator may do everything (the name it creates is taken by now).
    for (rpc, code) in every_rpc(&app, &org.member, &target).await {
        let expected = if rpc == "CreateMcpServer" {
            Code::AlreadyExists
        } else {
            Code::Ok
        };
        assert_eq!(code, expected, "{rpc} by the creator");
    }
}

on_both_backends!(
    creating_a_server_returns_it_pending_with_access_info_and_no_secret,
    a_server_created_disabled_is_disabled,
    a_duplicate_name_already_exists_only_within_the_organization,
    concurrent_creates_succeed_or_fail_each_on_its_own,
    a_free_plan_cannot_create_private_servers,
    only_a_platform_admin_creates_catalog_servers,
    the_platform_admin_creates_no_private_servers,
    catalog_servers_are_read_only_to_every_organization,
    a_free_organization_lists_the_catalog_only_when_asked,
    an_organizations_server_shadows_the_catalog_entry_of_its_name,
    the_platform_admin_sees_the_catalog_and_nothing_else,
    the_platform_admin_may_edit_catalog_servers,
    get_finds_servers_by_id_or_name,
    get_rejects_bad_lookups,
    listing_1050_servers_by_100_returns_each_once_in_order,
    list_filters_combine,
    page_tokens_stay_bound_to_their_filter,
    page_tokens_stay_bound_to_their_organization,
    updating_a_server_changes_only_the_fields_in_its_mask,
    updating_a_server_with_a_stale_etag_is_aborted,
    switching_to_no_auth_drops_the_credentials,
    switching_back_to_a_bearer_token_needs_credentials_in_the_same_update,
    a_disabled_server_is_pending_again_once_enabled,
    updating_a_server_rejects_bad_masks,
    renaming_a_server_to_a_taken_name_already_exists,
    strangers_cannot_update_a_server,
    deleting_a_server_needs_its_creator_or_an_admin,
    tenancy_holds_for_every_rpc,
);
