//! PackService: packs, membership, plan limits (also under concurrency),
//! revisions and restore, resolution and export.

use std::collections::HashMap;

use mcp_registry::pb;
use mcp_registry::pb::pack_service_client::PackServiceClient;
use mcp_registry::registry::Plan;
use mcp_registry::registry::now_micros;
use mcp_registry::registry::servers::LastError;
use mcp_registry::store::SyncState;
use prost_types::FieldMask;
use serde_json::json;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{
    Authed, TestApp, assert_error, bearer, server, synced, tool, violated_fields,
};
use crate::on_both_backends;

fn new_pack(name: &str, servers: Vec<pb::PackServer>) -> pb::CreatePackRequest {
    pb::CreatePackRequest {
        pack: Some(pb::Pack {
            name: name.into(),
            description: format!("the {name} pack"),
            servers,
            ..Default::default()
        }),
    }
}

fn by_id(id: &str) -> pb::PackServer {
    pb::PackServer {
        server_id: id.into(),
        name: String::new(),
    }
}

fn by_name(name: &str) -> pb::PackServer {
    pb::PackServer {
        server_id: String::new(),
        name: name.into(),
    }
}

fn add(pack_id: &str, server: pb::PackServer) -> pb::AddPackServerRequest {
    pb::AddPackServerRequest {
        pack_id: pack_id.into(),
        server: Some(server),
        etag: String::new(),
    }
}

fn names(pack: &pb::Pack) -> Vec<&str> {
    pack.servers.iter().map(|s| s.name.as_str()).collect()
}

/// A catalog server made by the platform admin.
async fn catalog(app: &TestApp, name: &str) -> pb::McpServer {
    let mut input = server(name);
    input.visibility = pb::Visibility::Catalog as i32;
    app.create_server(&app.platform, input).await
}

/// The pack "dev" created by the member, holding "github" (by id) and the
/// catalog's "everything" (by name).
struct DevPack {
    org: crate::helpers::Org,
    github: pb::McpServer,
    everything: pb::McpServer,
    pack: pb::Pack,
}

async fn dev_pack(app: &TestApp) -> DevPack {
    let org = app.org("acme", Plan::Pro).await;
    let github = app.create_server(&org.admin, server("github")).await;
    let everything = catalog(app, "everything").await;
    let pack = app
        .packs_as(&org.member)
        .create_pack(new_pack(
            "dev",
            vec![by_id(&github.id), by_name("everything")],
        ))
        .await
        .expect("create")
        .into_inner();
    DevPack {
        org,
        github,
        everything,
        pack,
    }
}

/// Returns an update of the pack's description to `description`.
fn describe(id: &str, description: &str, etag: &str) -> pb::UpdatePackRequest {
    pb::UpdatePackRequest {
        pack: Some(pb::Pack {
            id: id.into(),
            description: description.into(),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["description".into()],
        }),
    }
}

async fn a_created_pack_holds_its_servers_by_id_or_name(app: TestApp) {
    let DevPack {
        org,
        everything,
        pack: created,
        ..
    } = dev_pack(&app).await;
    assert!(created.id.starts_with("pack_"));
    assert_eq!(created.version, 1);
    assert_eq!(names(&created), vec!["github", "everything"]);
    assert_eq!(created.servers[1].server_id, everything.id);
    assert_eq!(
        (
            created.created_by.as_str(),
            created.organization_id.as_str()
        ),
        (org.member.key_id(), org.id.as_str())
    );
}

async fn a_pack_is_read_and_listed_by_its_organization(app: TestApp) {
    let DevPack {
        org, pack: created, ..
    } = dev_pack(&app).await;
    let mut client = app.packs_as(&org.viewer);
    let fetched = client
        .get_pack(pb::GetPackRequest {
            id: created.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(fetched, created);
    let listed = app
        .packs_as(&org.member)
        .list_packs(pb::ListPacksRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!((listed.total_size, listed.packs.len()), (1, 1));
    assert_eq!(listed.packs[0], created);
}

async fn a_server_shows_the_packs_that_hold_it(app: TestApp) {
    let DevPack {
        org, github, pack, ..
    } = dev_pack(&app).await;
    let got = app
        .servers_as(&org.viewer)
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Id(github.id.clone())),
        })
        .await
        .expect("server")
        .into_inner();
    assert_eq!(got.pack_ids, vec![pack.id.clone()]);
}

async fn updating_a_pack_makes_a_new_version(app: TestApp) {
    let DevPack { org, pack, .. } = dev_pack(&app).await;
    let updated = app
        .packs_as(&org.member)
        .update_pack(describe(&pack.id, "tools for developers", &pack.etag))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(
        (updated.version, updated.description.as_str()),
        (2, "tools for developers")
    );
}

async fn an_update_with_the_same_values_makes_no_version(app: TestApp) {
    let DevPack { org, pack, .. } = dev_pack(&app).await;
    let mut client = app.packs_as(&org.member);
    client
        .update_pack(describe(&pack.id, "tools for developers", &pack.etag))
        .await
        .expect("update");
    let same = client
        .update_pack(pb::UpdatePackRequest {
            pack: Some(pb::Pack {
                id: pack.id.clone(),
                description: "tools for developers".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("no-op")
        .into_inner();
    assert_eq!(same.version, 2);
}

async fn updating_a_pack_with_a_stale_etag_is_aborted(app: TestApp) {
    let DevPack { org, pack, .. } = dev_pack(&app).await;
    let mut client = app.packs_as(&org.member);
    client
        .update_pack(describe(&pack.id, "tools for developers", &pack.etag))
        .await
        .expect("update");
    let result = client
        .update_pack(pb::UpdatePackRequest {
            pack: Some(pb::Pack {
                id: pack.id.clone(),
                name: "x".into(),
                etag: pack.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["name".into()],
            }),
        })
        .await;
    assert_error(result, Code::Aborted, "ETAG_MISMATCH");
}

async fn updating_a_pack_rejects_bad_masks(app: TestApp) {
    let DevPack { org, pack, .. } = dev_pack(&app).await;
    let result = app
        .packs_as(&org.member)
        .update_pack(pb::UpdatePackRequest {
            pack: Some(pb::Pack {
                id: pack.id.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["servers".into(), "version".into(), "colour".into()],
            }),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        vec!["update_mask", "update_mask", "update_mask"]
    );
}

async fn strangers_cannot_touch_a_pack(app: TestApp) {
    let DevPack { org, pack, .. } = dev_pack(&app).await;
    // Only the creator or an ADMIN changes it; others cannot see it.
    let result = app
        .packs_as(&org.member2)
        .delete_pack(pb::DeletePackRequest {
            id: pack.id.clone(),
            etag: String::new(),
        })
        .await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    let other = app.org("other", Plan::Pro).await;
    let result = app
        .packs_as(&other.admin)
        .get_pack(pb::GetPackRequest {
            id: pack.id.clone(),
        })
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
    let result = app
        .packs_as(&app.platform)
        .list_packs(pb::ListPacksRequest::default())
        .await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
}

async fn an_admin_deletes_a_pack_at_its_etag(app: TestApp) {
    let DevPack { org, pack, .. } = dev_pack(&app).await;
    let updated = app
        .packs_as(&org.member)
        .update_pack(describe(&pack.id, "tools for developers", &pack.etag))
        .await
        .expect("update")
        .into_inner();
    app.packs_as(&org.admin)
        .delete_pack(pb::DeletePackRequest {
            id: pack.id.clone(),
            etag: updated.etag,
        })
        .await
        .expect("delete");
    let result = app
        .packs_as(&org.member)
        .get_pack(pb::GetPackRequest { id: pack.id })
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
}

async fn creating_a_pack_reports_every_invalid_field(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let github = app.create_server(&org.admin, server("github")).await;
    let mut client = app.packs_as(&org.admin);
    let result = client
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "Bad Name".into(),
                description: String::new(),
                servers: vec![by_id(&github.id), by_id(&github.id)],
                ..Default::default()
            }),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        vec!["pack.name", "pack.description", "pack.servers"]
    );
    // An id and a name that disagree.
    let result = client
        .create_pack(new_pack(
            "dev",
            vec![pb::PackServer {
                server_id: github.id.clone(),
                name: "other".into(),
            }],
        ))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["pack.servers"]);
}

async fn creating_a_pack_of_an_unknown_server_is_not_found(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut client = app.packs_as(&org.admin);
    let result = client
        .create_pack(new_pack("dev", vec![by_name("nope")]))
        .await;
    let status = assert_error(result, Code::NotFound, "NOT_FOUND");
    assert!(status.message().contains("nope"), "{status:?}");
    // Another organization's server does not exist for this one.
    let other = app.org("other", Plan::Pro).await;
    let theirs = app.create_server(&other.admin, server("theirs")).await;
    let result = client
        .create_pack(new_pack("x", vec![by_id(&theirs.id)]))
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
}

async fn a_pack_name_already_exists_within_the_organization(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut client = app.packs_as(&org.admin);
    client
        .create_pack(new_pack("dev", vec![]))
        .await
        .expect("first");
    let result = client.create_pack(new_pack("dev", vec![])).await;
    assert_error(result, Code::AlreadyExists, "ALREADY_EXISTS");
}

async fn viewers_cannot_create_packs(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let result = app
        .packs_as(&org.viewer)
        .create_pack(new_pack("view", vec![]))
        .await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
}

/// Servers "a" to "d" of "acme", and the pack "p" holding "a" (version 1).
async fn pack_of_a(app: &TestApp) -> (PackServiceClient<Authed>, pb::Pack) {
    let org = app.org("acme", Plan::Pro).await;
    for name in ["a", "b", "c", "d"] {
        app.create_server(&org.admin, server(name)).await;
    }
    let mut client = app.packs_as(&org.admin);
    let pack = client
        .create_pack(new_pack("p", vec![by_name("a")]))
        .await
        .expect("create")
        .into_inner();
    (client, pack)
}

/// Returns a replacement of the members of `pack_id` by `servers`.
fn replace(pack_id: &str, servers: Vec<pb::PackServer>) -> pb::ReplacePackServersRequest {
    pb::ReplacePackServersRequest {
        pack_id: pack_id.into(),
        servers,
        etag: String::new(),
    }
}

/// Returns a removal of `name` from `pack_id` at `etag` (any when empty).
fn remove(pack_id: &str, name: &str, etag: &str) -> pb::RemovePackServerRequest {
    pb::RemovePackServerRequest {
        pack_id: pack_id.into(),
        server: Some(by_name(name)),
        etag: etag.into(),
    }
}

async fn adding_a_server_makes_one_version(app: TestApp) {
    let (mut client, pack) = pack_of_a(&app).await;
    let pack = client
        .add_pack_server(add(&pack.id, by_name("b")))
        .await
        .expect("add")
        .into_inner();
    assert_eq!((names(&pack), pack.version), (vec!["a", "b"], 2));
}

async fn a_bad_add_is_refused(app: TestApp) {
    let (mut client, pack) = pack_of_a(&app).await;
    let result = client.add_pack_server(add(&pack.id, by_name("a"))).await;
    assert_error(result, Code::AlreadyExists, "ALREADY_EXISTS");
    let result = client.add_pack_server(add(&pack.id, by_name("zzz"))).await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
    let result = client
        .add_pack_server(pb::AddPackServerRequest {
            pack_id: pack.id.clone(),
            server: None,
            etag: String::new(),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["server"]);
    client
        .add_pack_server(add(&pack.id, by_name("b")))
        .await
        .expect("add");
    let result = client
        .add_pack_server(pb::AddPackServerRequest {
            etag: "r1".into(),
            ..add(&pack.id, by_name("c"))
        })
        .await;
    assert_error(result, Code::Aborted, "ETAG_MISMATCH");
}

async fn removing_a_member_makes_one_version(app: TestApp) {
    let (mut client, pack) = pack_of_a(&app).await;
    let pack = client
        .add_pack_server(add(&pack.id, by_name("b")))
        .await
        .expect("add")
        .into_inner();
    let pack = client
        .remove_pack_server(remove(&pack.id, "a", &pack.etag))
        .await
        .expect("remove")
        .into_inner();
    assert_eq!((names(&pack), pack.version), (vec!["b"], 3));
}

async fn removing_a_non_member_is_not_found(app: TestApp) {
    let (mut client, pack) = pack_of_a(&app).await;
    let result = client.remove_pack_server(remove(&pack.id, "b", "")).await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
}

async fn replacing_the_members_is_atomic(app: TestApp) {
    let (mut client, pack) = pack_of_a(&app).await;
    // One unknown server and nothing changes.
    let result = client
        .replace_pack_servers(replace(&pack.id, vec![by_name("c"), by_name("nope")]))
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
    let unchanged = client
        .get_pack(pb::GetPackRequest {
            id: pack.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!((names(&unchanged), unchanged.version), (vec!["a"], 1));
}

async fn replacing_the_members_makes_one_version_per_change(app: TestApp) {
    let (mut client, pack) = pack_of_a(&app).await;
    let members = || vec![by_name("d"), by_name("c"), by_name("b")];
    let replaced = client
        .replace_pack_servers(replace(&pack.id, members()))
        .await
        .expect("replace")
        .into_inner();
    assert_eq!(
        (names(&replaced), replaced.version),
        (vec!["d", "c", "b"], 2)
    );
    let same = client
        .replace_pack_servers(replace(&pack.id, members()))
        .await
        .expect("same")
        .into_inner();
    assert_eq!(same.version, 2);
    let emptied = client
        .replace_pack_servers(replace(&pack.id, vec![]))
        .await
        .expect("empty")
        .into_inner();
    assert_eq!((emptied.servers.len(), emptied.version), (0, 3));
}

async fn replacing_the_members_with_a_duplicate_is_invalid(app: TestApp) {
    let (mut client, pack) = pack_of_a(&app).await;
    let result = client
        .replace_pack_servers(replace(&pack.id, vec![by_name("c"), by_name("c")]))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["servers"]);
}

async fn every_membership_change_leaves_a_revision_of_its_kind(app: TestApp) {
    let (mut client, pack) = pack_of_a(&app).await;
    client
        .add_pack_server(add(&pack.id, by_name("b")))
        .await
        .expect("add");
    client
        .remove_pack_server(remove(&pack.id, "a", ""))
        .await
        .expect("remove");
    let members = vec![by_name("d"), by_name("c"), by_name("b")];
    client
        .replace_pack_servers(replace(&pack.id, members))
        .await
        .expect("replace");
    client
        .replace_pack_servers(replace(&pack.id, vec![]))
        .await
        .expect("empty");
    let revisions = client
        .list_pack_revisions(pb::ListPackRevisionsRequest {
            pack_id: pack.id.clone(),
            ..Default::default()
        })
        .await
        .expect("revisions")
        .into_inner();
    let kinds: Vec<(i64, pb::PackChangeKind)> = revisions
        .revisions
        .iter()
        .map(|r| (r.version, r.change_kind()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (5, pb::PackChangeKind::ServersReplaced),
            (4, pb::PackChangeKind::ServersReplaced),
            (3, pb::PackChangeKind::ServerRemoved),
            (2, pb::PackChangeKind::ServerAdded),
            (1, pb::PackChangeKind::Created),
        ]
    );
    assert_eq!(revisions.revisions[2].changed_servers[0].name, "a");
}

fn quota_subject(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .quota_failure()
        .map(|q| q.violations[0].subject.clone())
        .unwrap_or_default()
}

async fn plan_limits_block_growth_but_a_downgrade_deletes_nothing(app: TestApp) {
    let org = app.org("growing", Plan::Pro).await;
    let mut private = Vec::new();
    for i in 0..7 {
        private.push(
            app.create_server(&org.admin, server(&format!("p{i}")))
                .await,
        );
    }
    for i in 0..6 {
        catalog(&app, &format!("c{i}")).await;
    }
    let mut client = app.packs_as(&org.admin);
    let pack = client
        .create_pack(new_pack(
            "big",
            private.iter().map(|s| by_id(&s.id)).collect(),
        ))
        .await
        .expect("PRO allows 7 private members")
        .into_inner();
    client
        .create_pack(new_pack("second", vec![]))
        .await
        .expect("PRO allows 10 packs");

    // Downgrade to FREE: nothing is deleted.
    app.admin()
        .update_organization(pb::UpdateOrganizationRequest {
            organization: Some(pb::Organization {
                id: org.id.clone(),
                plan: pb::Plan::Free as i32,
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("downgrade");
    let kept = client
        .get_pack(pb::GetPackRequest {
            id: pack.id.clone(),
        })
        .await
        .expect("kept")
        .into_inner();
    assert_eq!(kept.servers.len(), 7);
    assert_eq!(
        client
            .list_packs(pb::ListPacksRequest::default())
            .await
            .expect("list")
            .into_inner()
            .total_size,
        2
    );

    // But it cannot grow: no third pack, no eighth member, no new private member.
    let result = client.create_pack(new_pack("third", vec![])).await;
    let status = assert_error(result, Code::FailedPrecondition, "PLAN_LIMIT_EXCEEDED");
    assert_eq!(quota_subject(&status), "packs");
    let result = client.add_pack_server(add(&pack.id, by_name("c0"))).await;
    let status = assert_error(result, Code::FailedPrecondition, "PLAN_LIMIT_EXCEEDED");
    assert_eq!(quota_subject(&status), "servers_per_pack");
    // Shrinking is fine.
    let shrunk = client
        .replace_pack_servers(pb::ReplacePackServersRequest {
            pack_id: pack.id.clone(),
            servers: private.iter().take(2).map(|s| by_id(&s.id)).collect(),
            etag: String::new(),
        })
        .await
        .expect("shrink")
        .into_inner();
    assert_eq!(shrunk.servers.len(), 2);
    // A private server that is not already a member is refused on FREE.
    let result = client
        .add_pack_server(add(&pack.id, by_id(&private[5].id)))
        .await;
    let status = assert_error(result, Code::FailedPrecondition, "PLAN_LIMIT_EXCEEDED");
    assert_eq!(quota_subject(&status), "private_servers");
    // Catalog servers fill it up to 5, not beyond.
    for name in ["c0", "c1", "c2"] {
        client
            .add_pack_server(add(&pack.id, by_name(name)))
            .await
            .expect("catalog member");
    }
    let result = client.add_pack_server(add(&pack.id, by_name("c3"))).await;
    let status = assert_error(result, Code::FailedPrecondition, "PLAN_LIMIT_EXCEEDED");
    assert_eq!(quota_subject(&status), "servers_per_pack");
}

async fn fifty_parallel_creates_on_a_free_plan_make_exactly_one_pack(app: TestApp) {
    let org = app.org("free", Plan::Free).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let mut client = app.packs_as(&org.admin);
        tasks.spawn(async move {
            client
                .create_pack(new_pack(&format!("p{i}"), vec![]))
                .await
                .map(|_| ())
        });
    }
    let (mut created, mut refused) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(()) => created += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert_eq!(quota_subject(&status), "packs");
                refused += 1;
            }
        }
    }
    assert_eq!((created, refused), (1, 49));
    let listed = app
        .packs_as(&org.admin)
        .list_packs(pb::ListPacksRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.total_size, 1);
}

async fn twenty_parallel_adds_on_a_free_pack_stop_at_five_members(app: TestApp) {
    let org = app.org("free", Plan::Free).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(catalog(&app, &format!("cat{i:02}")).await.id);
    }
    let pack = app
        .packs_as(&org.admin)
        .create_pack(new_pack("p", vec![]))
        .await
        .expect("create")
        .into_inner();
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids {
        let mut client = app.packs_as(&org.admin);
        let pack_id = pack.id.clone();
        tasks.spawn(async move {
            client
                .add_pack_server(add(&pack_id, by_id(&id)))
                .await
                .map(|_| ())
        });
    }
    let (mut added, mut refused) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(()) => added += 1,
            Err(status) => {
                assert_eq!(quota_subject(&status), "servers_per_pack", "{status:?}");
                refused += 1;
            }
        }
    }
    assert_eq!((added, refused), (5, 15));
    let final_pack = app
        .packs_as(&org.admin)
        .get_pack(pb::GetPackRequest { id: pack.id })
        .await
        .expect("get")
        .into_inner();
    assert_eq!((final_pack.servers.len(), final_pack.version), (5, 6));
}

async fn a_hundred_parallel_mutations_make_contiguous_versions_with_one_revision_each(
    app: TestApp,
) {
    let org = app.org("pro", Plan::Pro).await;
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(
            app.create_server(&org.admin, server(&format!("s{i:02}")))
                .await
                .id,
        );
    }
    let pack = app
        .packs_as(&org.admin)
        .create_pack(new_pack("busy", vec![]))
        .await
        .expect("create")
        .into_inner();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let mut client = app.packs_as(&org.admin);
        let pack_id = pack.id.clone();
        let server_id = ids[i % 50].clone();
        tasks.spawn(async move {
            if i < 50 {
                client
                    .add_pack_server(add(&pack_id, by_id(&server_id)))
                    .await
                    .map(|p| p.into_inner().version)
            } else {
                client
                    .update_pack(pb::UpdatePackRequest {
                        pack: Some(pb::Pack {
                            id: pack_id,
                            description: format!("description {i}"),
                            ..Default::default()
                        }),
                        update_mask: None,
                    })
                    .await
                    .map(|p| p.into_inner().version)
            }
        });
    }
    let mut versions = Vec::new();
    while let Some(result) = tasks.join_next().await {
        versions.push(result.expect("task").expect("every mutation succeeds"));
    }
    versions.sort_unstable();
    assert_eq!(
        versions,
        (2..=101).collect::<Vec<i64>>(),
        "each call made its own version"
    );

    let mut client = app.packs_as(&org.viewer);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_pack_revisions(pb::ListPackRevisionsRequest {
                pack_id: pack.id.clone(),
                page_size: 30,
                page_token: token,
            })
            .await
            .expect("revisions")
            .into_inner();
        assert_eq!(page.total_size, 101);
        seen.extend(page.revisions.iter().map(|r| r.version));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        (1..=101).rev().collect::<Vec<i64>>(),
        "versions 1..101, newest first, each once"
    );
    let final_pack = client
        .get_pack(pb::GetPackRequest { id: pack.id })
        .await
        .expect("get")
        .into_inner();
    assert_eq!((final_pack.version, final_pack.servers.len()), (101, 50));
}

/// Servers "a", "b" and "c" of "acme", and the pack "p" created with "a"
/// and "b" (version 1) whose members were then replaced by "c" (version 2).
async fn replaced_pack(
    app: &TestApp,
) -> (crate::helpers::Org, PackServiceClient<Authed>, pb::Pack) {
    let org = app.org("acme", Plan::Pro).await;
    for name in ["a", "b", "c"] {
        app.create_server(&org.admin, server(name)).await;
    }
    let mut client = app.packs_as(&org.admin);
    let pack = client
        .create_pack(new_pack("p", vec![by_name("a"), by_name("b")]))
        .await
        .expect("create")
        .into_inner();
    client
        .replace_pack_servers(replace(&pack.id, vec![by_name("c")]))
        .await
        .expect("replace");
    (org, client, pack)
}

/// Returns a restore of `version` of `pack_id`.
fn restore(pack_id: &str, version: i64) -> pb::RestorePackRevisionRequest {
    pb::RestorePackRevisionRequest {
        pack_id: pack_id.into(),
        version,
        etag: String::new(),
    }
}

/// Returns a read of revision `version` of `pack_id`.
fn revision(pack_id: &str, version: i64) -> pb::GetPackRevisionRequest {
    pb::GetPackRevisionRequest {
        pack_id: pack_id.into(),
        version,
    }
}

async fn restoring_a_revision_brings_back_its_members(app: TestApp) {
    let (_, mut client, pack) = replaced_pack(&app).await;
    let v1 = client
        .get_pack_revision(revision(&pack.id, 1))
        .await
        .expect("v1")
        .into_inner();
    let frozen: Vec<(String, String)> = v1
        .members
        .iter()
        .map(|m| (m.server_id.clone(), m.name.clone()))
        .collect();
    let frozen_names: Vec<&str> = frozen.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(frozen_names, vec!["a", "b"]);
    let restored = client
        .restore_pack_revision(restore(&pack.id, 1))
        .await
        .expect("restore")
        .into_inner();
    assert_eq!(restored.version, 3);
    let current = client
        .get_pack(pb::GetPackRequest {
            id: pack.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    let members: Vec<(String, String)> = current
        .servers
        .iter()
        .map(|s| (s.server_id.clone(), s.name.clone()))
        .collect();
    assert_eq!(members, frozen);
}

async fn a_restore_is_a_revision_naming_its_source(app: TestApp) {
    let (_, mut client, pack) = replaced_pack(&app).await;
    client
        .restore_pack_revision(restore(&pack.id, 1))
        .await
        .expect("restore");
    let v3 = client
        .get_pack_revision(revision(&pack.id, 3))
        .await
        .expect("v3")
        .into_inner();
    assert_eq!(
        (v3.change_kind(), v3.restored_from_version),
        (pb::PackChangeKind::Restored, 1)
    );
}

async fn reading_a_revision_that_cannot_exist_fails(app: TestApp) {
    let (_, mut client, pack) = replaced_pack(&app).await;
    let result = client.get_pack_revision(revision(&pack.id, 0)).await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["version"]);
    let result = client.get_pack_revision(revision(&pack.id, 99)).await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
}

async fn a_revision_with_a_deleted_member_cannot_be_restored(app: TestApp) {
    let (org, mut client, pack) = replaced_pack(&app).await;
    // A member of version 2 is deleted (with force): version 2 cannot be restored.
    let mut servers = app.servers_as(&org.admin);
    let c = servers
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Name("c".into())),
        })
        .await
        .expect("c")
        .into_inner();
    servers
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: c.id.clone(),
            force: true,
            etag: String::new(),
        })
        .await
        .expect("delete c");
    let result = client.restore_pack_revision(restore(&pack.id, 2)).await;
    let status = assert_error(result, Code::FailedPrecondition, "FAILED_PRECONDITION");
    assert!(status.message().contains(&c.id), "{status:?}");
}

/// Creates "github" and "other", and the packs "first" (both) and "second"
/// (github only); returns github and the packs.
async fn github_in_two_packs(
    app: &TestApp,
    org: &crate::helpers::Org,
) -> (pb::McpServer, pb::Pack, pb::Pack) {
    let github = app.create_server(&org.admin, server("github")).await;
    app.create_server(&org.admin, server("other")).await;
    let mut packs = app.packs_as(&org.admin);
    let first = packs
        .create_pack(new_pack("first", vec![by_name("github"), by_name("other")]))
        .await
        .expect("first")
        .into_inner();
    let second = packs
        .create_pack(new_pack("second", vec![by_name("github")]))
        .await
        .expect("second")
        .into_inner();
    (github, first, second)
}

async fn deleting_a_server_in_packs_needs_force(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let (github, _, _) = github_in_two_packs(&app, &org).await;
    let result = app
        .servers_as(&org.admin)
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: github.id.clone(),
            force: false,
            etag: String::new(),
        })
        .await;
    let status = assert_error(result, Code::FailedPrecondition, "IN_USE");
    assert!(
        status.message().contains("first") && status.message().contains("second"),
        "{status:?}"
    );
}

async fn force_deleting_a_server_leaves_a_revision_in_each_pack(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let (github, first, second) = github_in_two_packs(&app, &org).await;
    app.servers_as(&org.admin)
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: github.id.clone(),
            force: true,
            etag: String::new(),
        })
        .await
        .expect("force");
    let mut packs = app.packs_as(&org.admin);
    for (pack, remaining) in [(&first, vec!["other"]), (&second, vec![])] {
        let now = packs
            .get_pack(pb::GetPackRequest {
                id: pack.id.clone(),
            })
            .await
            .expect("get")
            .into_inner();
        assert_eq!(names(&now), remaining);
        assert_eq!(now.version, 2);
        let revision = packs
            .get_pack_revision(pb::GetPackRevisionRequest {
                pack_id: pack.id.clone(),
                version: 2,
            })
            .await
            .expect("rev")
            .into_inner();
        assert_eq!(revision.change_kind(), pb::PackChangeKind::ServerDeleted);
        assert_eq!(revision.changed_servers[0].server_id, github.id);
    }
}

fn reasons(response: &pb::ResolvePackResponse) -> HashMap<(String, String), pb::ExclusionReason> {
    response
        .excluded_tools
        .iter()
        .map(|e| ((e.server_name.clone(), e.tool_name.clone()), e.reason()))
        .collect()
}

/// A pack "all" of nine servers, each synced into the state that one
/// exclusion reason (or none) describes.
struct Resolvable {
    org: crate::helpers::Org,
    pack: pb::Pack,
    ok: pb::McpServer,
    a_b: pb::McpServer,
}

/// Creates the nine members of [`Resolvable`], in pack order.
async fn create_members(app: &TestApp, org: &crate::helpers::Org) -> Vec<pb::McpServer> {
    let create = |name: &str, change: fn(&mut pb::McpServer)| {
        let mut s = server(name);
        change(&mut s);
        s
    };
    let ok = app.create_server(&org.admin, server("ok")).await;
    let a = app.create_server(&org.admin, server("a")).await;
    let a_b = app.create_server(&org.admin, server("a__b")).await;
    let off = app
        .create_server(&org.admin, create("off", |s| s.enabled = Some(false)))
        .await;
    let never = app.create_server(&org.admin, server("never")).await;
    let broken = app.create_server(&org.admin, server("broken")).await;
    let quiet = app
        .create_server(
            &org.admin,
            create("quiet", |s| {
                s.tool_configuration = Some(pb::ToolConfiguration {
                    enabled: Some(false),
                    allowed_tools: vec![],
                })
            }),
        )
        .await;
    let picky = app
        .create_server(
            &org.admin,
            create("picky", |s| {
                s.tool_configuration = Some(pb::ToolConfiguration {
                    enabled: None,
                    allowed_tools: vec!["yes".into()],
                })
            }),
        )
        .await;
    let strict = app
        .create_server(
            &org.admin,
            create("strict", |s| {
                s.approval_policy = pb::ApprovalPolicy::RequireAll as i32
            }),
        )
        .await;

    vec![ok, a, a_b, off, never, broken, quiet, picky, strict]
}

/// Records the syncs that put each member in its state.
async fn sync_members(app: &TestApp, org: &crate::helpers::Org, members: &[pb::McpServer]) {
    let [ok, a, a_b, off, _never, broken, quiet, picky, strict] = members else {
        panic!("nine members");
    };
    synced(app, &ok.id, &[tool("t1"), tool("t2")]).await;
    synced(app, &a.id, &[tool("b__c")]).await;
    synced(app, &a_b.id, &[tool("c")]).await;
    synced(app, &off.id, &[tool("x")]).await;
    synced(app, &broken.id, &[tool("y")]).await;
    app.store
        .record_sync_state(
            &broken.id,
            &SyncState {
                at: now_micros(),
                succeeded: false,
                server_info: None,
                detected_transport: None,
                error: Some(LastError {
                    reason: "UPSTREAM_UNREACHABLE".into(),
                    message: "connection refused".into(),
                    occurred_at: now_micros(),
                    sync_run_id: String::new(),
                }),
            },
        )
        .await
        .expect("failed sync");
    synced(app, &quiet.id, &[tool("z")]).await;
    synced(app, &picky.id, &[tool("no"), tool("yes")]).await;
    synced(
        app,
        &strict.id,
        &[tool("approved"), tool("changed"), tool("unapproved")],
    )
    .await;
    app.servers_as(&org.admin)
        .approve_tools(pb::ApproveToolsRequest {
            server_id: strict.id.clone(),
            tool_names: vec!["approved".into(), "changed".into()],
            ..Default::default()
        })
        .await
        .expect("approve");
    // `changed` changes after its approval.
    let mut changed_tool = tool("changed");
    changed_tool["description"] = json!("now does something else");
    synced(
        app,
        &strict.id,
        &[tool("approved"), changed_tool, tool("unapproved")],
    )
    .await;
}

async fn resolvable(app: &TestApp) -> Resolvable {
    let org = app.org("acme", Plan::Enterprise).await;
    let servers = create_members(app, &org).await;
    sync_members(app, &org, &servers).await;
    let members = [
        "ok", "a", "a__b", "off", "never", "broken", "quiet", "picky", "strict",
    ];
    let pack = app
        .packs_as(&org.admin)
        .create_pack(new_pack(
            "all",
            members.iter().map(|n| by_name(n)).collect(),
        ))
        .await
        .expect("pack")
        .into_inner();
    Resolvable {
        org,
        pack,
        ok: servers[0].clone(),
        a_b: servers[2].clone(),
    }
}

/// Resolves the pack "all" at its latest version.
async fn resolve_latest(app: &TestApp, r: &Resolvable) -> pb::ResolvePackResponse {
    app.packs_as(&r.org.viewer)
        .resolve_pack(pb::ResolvePackRequest {
            id: r.pack.id.clone(),
            version: 0,
        })
        .await
        .expect("resolve")
        .into_inner()
}

async fn resolve_offers_the_usable_tools(app: TestApp) {
    let r = resolvable(&app).await;
    let resolved = resolve_latest(&app, &r).await;
    assert_eq!(resolved.version, 1);
    let offered: Vec<&str> = resolved
        .tools
        .iter()
        .map(|t| t.qualified_name.as_str())
        .collect();
    assert_eq!(
        offered,
        vec![
            "ok__t1",
            "ok__t2",
            "a__b__c",
            "a__b__c_2",
            "picky__yes",
            "strict__approved"
        ]
    );
    let collided = &resolved.tools[3];
    assert_eq!(
        (collided.server_name.as_str(), collided.name.as_str()),
        ("a__b", "c")
    );
    assert_eq!(resolved.tools[0].description, "t1 does it");
    assert!(resolved.tools[0].input_schema.is_some());
}

async fn resolve_explains_every_exclusion(app: TestApp) {
    let r = resolvable(&app).await;
    let resolved = resolve_latest(&app, &r).await;
    let why = reasons(&resolved);
    let expect = |server: &str, tool: &str, reason: pb::ExclusionReason| {
        assert_eq!(
            why.get(&(server.to_owned(), tool.to_owned())),
            Some(&reason),
            "{server}/{tool}: {why:?}"
        );
    };
    expect("off", "x", pb::ExclusionReason::ServerDisabled);
    expect("never", "", pb::ExclusionReason::ServerNeverSynced);
    expect("broken", "y", pb::ExclusionReason::ServerError);
    expect("quiet", "z", pb::ExclusionReason::ToolsDisabled);
    expect("picky", "no", pb::ExclusionReason::NotAllowed);
    expect("strict", "unapproved", pb::ExclusionReason::NotApproved);
    expect(
        "strict",
        "changed",
        pb::ExclusionReason::ChangedSinceApproval,
    );
    assert_eq!(why.len(), 7);
}

async fn resolving_a_version_uses_its_frozen_definitions(app: TestApp) {
    let Resolvable { org, pack, ok, a_b } = resolvable(&app).await;
    // Against version 1's frozen definitions: a changed tool and a new tool are
    // left out; after a forced delete the member is SERVER_DELETED.
    let mut ok_changed = tool("t1");
    ok_changed["description"] = json!("different");
    synced(&app, &ok.id, &[ok_changed, tool("t2"), tool("t3")]).await;
    app.servers_as(&org.admin)
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: a_b.id.clone(),
            force: true,
            etag: String::new(),
        })
        .await
        .expect("delete a__b");
    let pinned = app
        .packs_as(&org.viewer)
        .resolve_pack(pb::ResolvePackRequest {
            id: pack.id.clone(),
            version: 1,
        })
        .await
        .expect("resolve v1")
        .into_inner();
    let why = reasons(&pinned);
    assert_eq!(
        why.get(&("ok".to_owned(), "t1".to_owned())),
        Some(&pb::ExclusionReason::ChangedSinceRevision)
    );
    assert_eq!(
        why.get(&("ok".to_owned(), "t3".to_owned())),
        Some(&pb::ExclusionReason::AddedSinceRevision)
    );
    assert_eq!(
        why.get(&("a__b".to_owned(), String::new())),
        Some(&pb::ExclusionReason::ServerDeleted)
    );
    let offered: Vec<&str> = pinned
        .tools
        .iter()
        .map(|t| t.qualified_name.as_str())
        .collect();
    assert_eq!(
        offered,
        vec!["ok__t2", "a__b__c", "picky__yes", "strict__approved"]
    );
}

async fn resolving_a_bad_version_fails(app: TestApp) {
    let Resolvable { org, pack, .. } = resolvable(&app).await;
    let result = app
        .packs_as(&org.viewer)
        .resolve_pack(pb::ResolvePackRequest {
            id: pack.id.clone(),
            version: -1,
        })
        .await;
    assert_eq!(
        violated_fields(&assert_error(
            result,
            Code::InvalidArgument,
            "INVALID_ARGUMENT"
        )),
        vec!["version"]
    );
    let result = app
        .packs_as(&org.viewer)
        .resolve_pack(pb::ResolvePackRequest {
            id: pack.id.clone(),
            version: 42,
        })
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
}

const SECRETS: &[&str] = &[
    "ghp_export_secret_1",
    "apikey_export_2",
    "oauth_export_3",
    "cookie_export_4",
];

async fn export_is_client_configuration_without_secrets(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut github = server("github");
    github.credentials = bearer(SECRETS[0]);
    github.transport = pb::Transport::StreamableHttp as i32;
    github.request_headers = [("X-Trace".to_owned(), "on".to_owned())].into();
    let mut keyed = server("keyed");
    keyed.transport = pb::Transport::Sse as i32;
    keyed.credentials = Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::ApiKey(pb::ApiKeyCredentials {
            key: SECRETS[1].into(),
            header_name: "X-Service-Key".into(),
            key_secret: None,
        })),
    });
    let mut oauth = server("oauth");
    oauth.credentials = Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::Oauth2ClientCredentials(
            pb::OAuth2ClientCredentials {
                token_url: "https://auth.example.com/token".into(),
                client_id: "cid".into(),
                client_secret: SECRETS[2].into(),
                scopes: vec![],
            },
        )),
    });
    let mut cookie = server("cookie-jar");
    cookie.request_headers = [("Cookie".to_owned(), SECRETS[3].to_owned())].into();
    for input in [github, keyed, oauth, cookie] {
        app.create_server(&org.admin, input).await;
    }
    let pack = app
        .packs_as(&org.admin)
        .create_pack(new_pack(
            "export",
            ["github", "keyed", "oauth", "cookie-jar"]
                .iter()
                .map(|n| by_name(n))
                .collect(),
        ))
        .await
        .expect("pack")
        .into_inner();
    let exported = app
        .packs_as(&org.viewer)
        .export_pack(pb::ExportPackRequest {
            id: pack.id.clone(),
            version: 0,
            ..Default::default()
        })
        .await
        .expect("export")
        .into_inner();
    let config: serde_json::Value =
        serde_json::from_str(&exported.config_json).expect("valid JSON");
    let servers = config["mcpServers"].as_object().expect("mcpServers");
    assert_eq!(
        servers.keys().collect::<Vec<_>>(),
        vec!["github", "keyed", "oauth", "cookie-jar"],
        "member order"
    );
    assert_eq!(servers["github"]["type"], "http");
    assert_eq!(
        servers["github"]["url"],
        "https://github.mcp.example.com/mcp"
    );
    assert_eq!(
        servers["github"]["headers"]["Authorization"],
        "Bearer ${MCP_GITHUB_TOKEN}"
    );
    assert_eq!(servers["github"]["headers"]["X-Trace"], "on");
    assert_eq!(servers["keyed"]["type"], "sse");
    assert_eq!(
        servers["keyed"]["headers"]["x-service-key"],
        "${MCP_KEYED_API_KEY}"
    );
    assert_eq!(
        servers["oauth"]["headers"]["Authorization"],
        "Bearer ${MCP_OAUTH_TOKEN}"
    );
    assert_eq!(
        servers["cookie-jar"]["headers"]["Cookie"],
        "${MCP_COOKIE_JAR_COOKIE}"
    );
    let placeholders: Vec<&str> = exported
        .placeholders
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        placeholders,
        vec![
            "MCP_GITHUB_TOKEN",
            "MCP_KEYED_API_KEY",
            "MCP_OAUTH_TOKEN",
            "MCP_COOKIE_JAR_COOKIE"
        ]
    );
    assert_eq!(exported.servers.len(), 4);
    let whole = format!("{exported:?}");
    for secret in SECRETS {
        assert!(!whole.contains(secret), "secret {secret} exported");
    }
    let result = app
        .packs_as(&org.viewer)
        .export_pack(pb::ExportPackRequest {
            id: pack.id,
            version: -2,
            ..Default::default()
        })
        .await;
    assert_eq!(
        violated_fields(&assert_error(
            result,
            Code::InvalidArgument,
            "INVALID_ARGUMENT"
        )),
        vec!["version"]
    );
}

fn export(id: &str, version: i64, target: pb::ExportTarget) -> pb::ExportPackRequest {
    pb::ExportPackRequest {
        id: id.into(),
        version,
        target: target as i32,
    }
}

/// [`dev_pack`] at version 2: "jira" (with a bearer token) added to it.
async fn dev_pack_at_version_2(app: &TestApp) -> DevPack {
    let dev = dev_pack(app).await;
    let mut jira = server("jira");
    jira.credentials = bearer(SECRETS[0]);
    app.create_server(&dev.org.admin, jira).await;
    let pack = app
        .packs_as(&dev.org.member)
        .add_pack_server(add(&dev.pack.id, by_name("jira")))
        .await
        .expect("add")
        .into_inner();
    assert_eq!(pack.version, 2);
    DevPack { pack, ..dev }
}

fn with_gateway() -> crate::helpers::Options {
    crate::helpers::Options {
        gateway: true,
        ..Default::default()
    }
}

async fn a_gateway_export_is_one_entry_at_the_packs_endpoint(app: TestApp) {
    let DevPack { org, pack, .. } = dev_pack_at_version_2(&app).await;
    let url = format!(
        "http://{}/mcp/packs/{}",
        app.gateway_addr.expect("the gateway listens"),
        pack.id
    );
    let exported = app
        .packs_as(&org.viewer)
        .export_pack(export(&pack.id, 0, pb::ExportTarget::Gateway))
        .await
        .expect("export")
        .into_inner();
    let config: serde_json::Value = serde_json::from_str(&exported.config_json).expect("JSON");
    assert_eq!(
        config,
        json!({"mcpServers": {"dev": {
            "type": "http",
            "url": url,
            "headers": {"Authorization": "Bearer ${MCP_REGISTRY_API_KEY}"},
        }}})
    );
    assert_eq!(exported.pack_id, pack.id);
    assert_eq!(
        exported.version, 2,
        "the current version, which the gateway serves"
    );
    assert_eq!(
        exported.servers,
        vec![pb::ExportedServer {
            key: "dev".into(),
            server_id: String::new(),
            transport: pb::ExportTransport::Http as i32,
            url,
            server_name: String::new(),
        }]
    );
    let [placeholder] = exported.placeholders.as_slice() else {
        panic!("one placeholder: {:?}", exported.placeholders);
    };
    assert_eq!(placeholder.name, "MCP_REGISTRY_API_KEY");
    assert_eq!(placeholder.server_id, "");
    assert_eq!(placeholder.header_name, "Authorization");
    assert!(
        placeholder.description.contains("KEY_ID.SECRET"),
        "{placeholder:?}"
    );
    assert!(!format!("{exported:?}").contains(SECRETS[0]));

    // DIRECT is what an unset target gives: one entry per member.
    let direct = app
        .packs_as(&org.viewer)
        .export_pack(export(&pack.id, 0, pb::ExportTarget::Direct))
        .await
        .expect("export")
        .into_inner();
    let unset = app
        .packs_as(&org.viewer)
        .export_pack(export(&pack.id, 0, pb::ExportTarget::Unspecified))
        .await
        .expect("export")
        .into_inner();
    assert_eq!(direct, unset);
    let keys: Vec<&str> = direct.servers.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["github", "everything", "jira"]);
}

async fn a_gateway_export_uses_the_public_url_even_with_the_gateway_off(app: TestApp) {
    assert_eq!(app.gateway_addr, None);
    let DevPack { org, pack, .. } = dev_pack(&app).await;
    let exported = app
        .packs_as(&org.member)
        .export_pack(export(&pack.id, 0, pb::ExportTarget::Gateway))
        .await
        .expect("export")
        .into_inner();
    let url = format!("https://mcp.example.com/registry/mcp/packs/{}", pack.id);
    let config: serde_json::Value = serde_json::from_str(&exported.config_json).expect("JSON");
    assert_eq!(config["mcpServers"]["dev"]["url"], url.as_str());
    assert_eq!(exported.servers[0].url, url);
}

async fn a_gateway_export_without_a_gateway_fails_its_precondition(app: TestApp) {
    assert_eq!(app.gateway_addr, None);
    let DevPack { org, pack, .. } = dev_pack(&app).await;
    let result = app
        .packs_as(&org.viewer)
        .export_pack(export(&pack.id, 0, pb::ExportTarget::Gateway))
        .await;
    let status = assert_error(result, Code::FailedPrecondition, "FAILED_PRECONDITION");
    for flag in ["--mcp-listen", "--gateway-public-url"] {
        assert!(status.message().contains(flag), "{status:?}");
    }
    // The direct form needs no gateway.
    app.packs_as(&org.viewer)
        .export_pack(export(&pack.id, 0, pb::ExportTarget::Direct))
        .await
        .expect("direct export");
}

async fn a_bad_gateway_export_is_refused(app: TestApp) {
    let DevPack { org, pack, .. } = dev_pack_at_version_2(&app).await;
    let mut client = app.packs_as(&org.viewer);
    // The gateway serves the current version only.
    let result = client
        .export_pack(export(&pack.id, 1, pb::ExportTarget::Gateway))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["version"]);
    let mut request = export(&pack.id, 0, pb::ExportTarget::Gateway);
    request.target = 9;
    let status = assert_error(
        client.export_pack(request).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), vec!["target"]);
    assert!(
        status.message().contains("EXPORT_TARGET_GATEWAY"),
        "names the accepted values: {status:?}"
    );
    let mut request = export("pack_x", -1, pb::ExportTarget::Gateway);
    request.target = 9;
    let status = assert_error(
        client.export_pack(request).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), vec!["id", "version", "target"]);
    let unknown = format!("pack_{}", uuid::Uuid::now_v7().simple());
    assert_error(
        client
            .export_pack(export(&unknown, 0, pb::ExportTarget::Gateway))
            .await,
        Code::NotFound,
        "NOT_FOUND",
    );
    let other = app.org("other", Plan::Pro).await;
    assert_error(
        app.packs_as(&other.admin)
            .export_pack(export(&pack.id, 0, pb::ExportTarget::Gateway))
            .await,
        Code::NotFound,
        "NOT_FOUND",
    );
    assert_error(
        app.packs_as(&app.platform)
            .export_pack(export(&pack.id, 0, pb::ExportTarget::Gateway))
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
}

crate::on_both_backends_with!(super::with_gateway();
    a_gateway_export_is_one_entry_at_the_packs_endpoint,
    a_bad_gateway_export_is_refused,
);

crate::on_both_backends_with!(crate::helpers::Options {
        gateway_public_url: Some("https://mcp.example.com/registry/"),
        ..Default::default()
    };
    a_gateway_export_uses_the_public_url_even_with_the_gateway_off,
);

on_both_backends!(
    a_created_pack_holds_its_servers_by_id_or_name,
    a_pack_is_read_and_listed_by_its_organization,
    a_server_shows_the_packs_that_hold_it,
    updating_a_pack_makes_a_new_version,
    an_update_with_the_same_values_makes_no_version,
    updating_a_pack_with_a_stale_etag_is_aborted,
    updating_a_pack_rejects_bad_masks,
    strangers_cannot_touch_a_pack,
    an_admin_deletes_a_pack_at_its_etag,
    creating_a_pack_reports_every_invalid_field,
    creating_a_pack_of_an_unknown_server_is_not_found,
    a_pack_name_already_exists_within_the_organization,
    viewers_cannot_create_packs,
    adding_a_server_makes_one_version,
    a_bad_add_is_refused,
    removing_a_member_makes_one_version,
    removing_a_non_member_is_not_found,
    replacing_the_members_is_atomic,
    replacing_the_members_makes_one_version_per_change,
    replacing_the_members_with_a_duplicate_is_invalid,
    every_membership_change_leaves_a_revision_of_its_kind,
    plan_limits_block_growth_but_a_downgrade_deletes_nothing,
    fifty_parallel_creates_on_a_free_plan_make_exactly_one_pack,
    twenty_parallel_adds_on_a_free_pack_stop_at_five_members,
    a_hundred_parallel_mutations_make_contiguous_versions_with_one_revision_each,
    restoring_a_revision_brings_back_its_members,
    a_restore_is_a_revision_naming_its_source,
    reading_a_revision_that_cannot_exist_fails,
    a_revision_with_a_deleted_member_cannot_be_restored,
    deleting_a_server_in_packs_needs_force,
    force_deleting_a_server_leaves_a_revision_in_each_pack,
    resolve_offers_the_usable_tools,
    resolve_explains_every_exclusion,
    resolving_a_version_uses_its_frozen_definitions,
    resolving_a_bad_version_fails,
    export_is_client_configuration_without_secrets,
    a_gateway_export_without_a_gateway_fails_its_precondition,
);
