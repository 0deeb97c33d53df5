//! The exact filters of the list RPCs: ListSyncRuns by outcome and by a
//! half-open range on the run's start, ListPacks by a current member server.
//! Each combines with the caller's visibility and with keyset pagination,
//! whose page tokens are bound to the filter they were issued for.

use mcp_registry::pb;
use mcp_registry::registry::runs::{Changes, Outcome, Results, SyncRun, Trigger};
use mcp_registry::registry::{Plan, new_id};
use tonic::{Code, Status};

use crate::helpers::{Auth, Org, TestApp, assert_error, server, violated_fields};
use crate::on_both_backends;

/// 2026-01-01T00:00:00Z in microseconds: the test runs start after it.
const T0: i64 = 1_767_225_600_000_000;
/// One second in microseconds.
const SECOND: i64 = 1_000_000;

/// The protobuf timestamp of `micros`.
fn at(micros: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: micros.div_euclid(SECOND),
        nanos: (micros.rem_euclid(SECOND) * 1_000) as i32,
    })
}

/// Records a run of `server` (of `scope`) started `seconds` after T0.
async fn record_run(
    app: &TestApp,
    server: &pb::McpServer,
    scope: &str,
    seconds: i64,
    outcome: Outcome,
) -> String {
    let started_at = T0 + seconds * SECOND;
    let run = SyncRun {
        id: new_id("sync"),
        server_id: server.id.clone(),
        scope: scope.to_owned(),
        server_name: server.name.clone(),
        trigger: Trigger::Manual,
        started_at,
        finished_at: (outcome != Outcome::Running).then_some(started_at + 1_000),
        outcome,
        transport: None,
        protocol_version: String::new(),
        results: Results::default(),
        changes: Changes::default(),
        error: None,
        instance_id: "inst_test".into(),
    };
    app.store
        .insert_sync_run(&run, None)
        .await
        .expect("insert run");
    run.id
}

/// Two organizations' run histories. acme's servers `a` and `b` ran, in this
/// order (seconds after T0): r0 a@0 SUCCEEDED, r1 b@10 FAILED, r2 a@20
/// FAILED, r3 b@30 RUNNING, r4 a@40 SUCCEEDED; other's server `c` ran once,
/// `theirs` c@15 FAILED.
struct History {
    acme: Org,
    other: Org,
    a: pb::McpServer,
    b: pb::McpServer,
    r: Vec<String>,
    theirs: String,
}

async fn history(app: &TestApp) -> History {
    let acme = app.org("acme", Plan::Pro).await;
    let other = app.org("other", Plan::Pro).await;
    let a = app.create_server(&acme.admin, server("a")).await;
    let b = app.create_server(&acme.admin, server("b")).await;
    let c = app.create_server(&other.admin, server("c")).await;
    let mut r = Vec::new();
    for (server, seconds, outcome) in [
        (&a, 0, Outcome::Succeeded),
        (&b, 10, Outcome::Failed),
        (&a, 20, Outcome::Failed),
    ] {
        r.push(record_run(app, server, &acme.id, seconds, outcome).await);
    }
    let theirs = record_run(app, &c, &other.id, 15, Outcome::Failed).await;
    for (server, seconds, outcome) in [(&b, 30, Outcome::Running), (&a, 40, Outcome::Succeeded)] {
        r.push(record_run(app, server, &acme.id, seconds, outcome).await);
    }
    History {
        acme,
        other,
        a,
        b,
        r,
        theirs,
    }
}

/// The runs of `r` at `which`, in that order.
fn pick(r: &[String], which: &[usize]) -> Vec<String> {
    which.iter().map(|i| r[*i].clone()).collect()
}

async fn list_runs(
    app: &TestApp,
    auth: &Auth,
    request: pb::ListSyncRunsRequest,
) -> Result<pb::ListSyncRunsResponse, Status> {
    app.sync_as(auth)
        .list_sync_runs(request)
        .await
        .map(|r| r.into_inner())
}

/// The ids of the runs `auth` lists with `request`, after checking that
/// `total_size` counts them.
async fn run_ids(app: &TestApp, auth: &Auth, request: pb::ListSyncRunsRequest) -> Vec<String> {
    let listed = list_runs(app, auth, request).await.expect("list runs");
    assert_eq!(listed.total_size as usize, listed.sync_runs.len());
    listed.sync_runs.into_iter().map(|run| run.id).collect()
}

fn outcomes(outcomes: &[pb::SyncOutcome]) -> pb::ListSyncRunsRequest {
    pb::ListSyncRunsRequest {
        outcomes: outcomes.iter().map(|o| *o as i32).collect(),
        ..Default::default()
    }
}

/// A request for the runs started in `[after, before)`, seconds after T0.
fn started(after: Option<i64>, before: Option<i64>) -> pb::ListSyncRunsRequest {
    pb::ListSyncRunsRequest {
        started_after: after.and_then(|s| at(T0 + s * SECOND)),
        started_before: before.and_then(|s| at(T0 + s * SECOND)),
        ..Default::default()
    }
}

async fn sync_runs_are_listed_by_outcome_within_the_callers_servers(app: TestApp) {
    use pb::SyncOutcome::{Failed, Running, Succeeded};
    let History {
        acme,
        other,
        a,
        r,
        theirs,
        ..
    } = history(&app).await;
    let viewer = &acme.viewer;
    let failed = run_ids(&app, viewer, outcomes(&[Failed])).await;
    assert_eq!(
        failed,
        pick(&r, &[2, 1]),
        "newest first, other organizations' never"
    );
    let others = run_ids(&app, viewer, outcomes(&[Succeeded, Running])).await;
    assert_eq!(others, pick(&r, &[4, 3, 0]));
    let every = run_ids(&app, viewer, outcomes(&[])).await;
    assert_eq!(
        every,
        pick(&r, &[4, 3, 2, 1, 0]),
        "empty keeps every outcome"
    );
    let of_a = pb::ListSyncRunsRequest {
        server_id: a.id.clone(),
        ..outcomes(&[Failed])
    };
    assert_eq!(run_ids(&app, viewer, of_a).await, pick(&r, &[2]));
    assert_eq!(
        run_ids(&app, &other.admin, outcomes(&[Failed])).await,
        [theirs]
    );
    let theirs_of_a = pb::ListSyncRunsRequest {
        server_id: a.id.clone(),
        ..outcomes(&[Failed])
    };
    let result = list_runs(&app, &other.admin, theirs_of_a).await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
}

async fn sync_runs_are_listed_by_a_half_open_range_on_their_start(app: TestApp) {
    let History {
        acme,
        other,
        a,
        b,
        r,
        theirs,
    } = history(&app).await;
    let viewer = &acme.viewer;
    let within = run_ids(&app, viewer, started(Some(10), Some(30))).await;
    assert_eq!(
        within,
        pick(&r, &[2, 1]),
        "the start is included, the end is not"
    );
    assert_eq!(
        run_ids(&app, viewer, started(Some(30), None)).await,
        pick(&r, &[4, 3])
    );
    assert_eq!(
        run_ids(&app, viewer, started(None, Some(10))).await,
        pick(&r, &[0])
    );
    let mut one_nano_later = started(Some(10), Some(30));
    if let Some(after) = one_nano_later.started_after.as_mut() {
        after.nanos += 1;
    }
    assert_eq!(
        run_ids(&app, viewer, one_nano_later).await,
        pick(&r, &[2]),
        "a bound finer than a microsecond counts from the next one"
    );
    let failed_of = |server: &pb::McpServer| pb::ListSyncRunsRequest {
        server_id: server.id.clone(),
        outcomes: vec![pb::SyncOutcome::Failed as i32],
        ..started(Some(15), None)
    };
    assert_eq!(run_ids(&app, viewer, failed_of(&a)).await, pick(&r, &[2]));
    assert!(run_ids(&app, viewer, failed_of(&b)).await.is_empty());
    assert_eq!(
        run_ids(&app, &other.admin, started(Some(10), Some(30))).await,
        [theirs]
    );
}

async fn a_filtered_run_listing_pages_with_tokens_bound_to_its_filter(app: TestApp) {
    use pb::SyncOutcome::{Failed, Succeeded};
    let History { acme, a, r, .. } = history(&app).await;
    let viewer = &acme.viewer;
    let paged = |page_token: String| pb::ListSyncRunsRequest {
        page_size: 1,
        page_token,
        ..outcomes(&[Failed, Succeeded])
    };
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut first_token = None;
    loop {
        let page = list_runs(&app, viewer, paged(token)).await.expect("page");
        assert_eq!(page.total_size, 4);
        seen.extend(page.sync_runs.into_iter().map(|run| run.id));
        if page.next_page_token.is_empty() {
            break;
        }
        first_token.get_or_insert_with(|| page.next_page_token.clone());
        token = page.next_page_token;
    }
    assert_eq!(seen, pick(&r, &[4, 2, 1, 0]));
    let token = first_token.expect("more than one page");

    // The same filter, spelled in another order, takes the token.
    let reordered = pb::ListSyncRunsRequest {
        page_size: 1,
        page_token: token.clone(),
        ..outcomes(&[Succeeded, Failed, Succeeded])
    };
    let page = list_runs(&app, viewer, reordered)
        .await
        .expect("same filter");
    assert_eq!(page.sync_runs[0].id, r[2]);

    // Any other filter refuses it.
    let with = |request: pb::ListSyncRunsRequest| pb::ListSyncRunsRequest {
        page_token: token.clone(),
        ..request
    };
    for other in [
        with(outcomes(&[Failed])),
        with(outcomes(&[])),
        with(pb::ListSyncRunsRequest {
            started_after: at(T0),
            ..outcomes(&[Failed, Succeeded])
        }),
        with(pb::ListSyncRunsRequest {
            server_id: a.id.clone(),
            ..outcomes(&[Failed, Succeeded])
        }),
    ] {
        let status = assert_error(
            list_runs(&app, viewer, other).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(violated_fields(&status), ["page_token"]);
    }
}

async fn invalid_run_filters_are_refused_with_every_field_named(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let refused = |request: pb::ListSyncRunsRequest| {
        let app = &app;
        let auth = &acme.viewer;
        async move {
            let result = list_runs(app, auth, request).await;
            violated_fields(&assert_error(
                result,
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
            ))
        }
    };
    let both = ["started_after", "started_before"];
    assert_eq!(
        refused(started(Some(10), Some(10))).await,
        both,
        "empty range"
    );
    assert_eq!(
        refused(started(Some(10), Some(5))).await,
        both,
        "reversed range"
    );
    let bad_outcomes = pb::ListSyncRunsRequest {
        outcomes: vec![
            pb::SyncOutcome::Failed as i32,
            pb::SyncOutcome::Unspecified as i32,
            99,
        ],
        ..Default::default()
    };
    assert_eq!(refused(bad_outcomes).await, ["outcomes[1]", "outcomes[2]"]);
    let bad_times = pb::ListSyncRunsRequest {
        server_id: "pack_1".into(),
        started_after: Some(prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        }),
        started_before: Some(prost_types::Timestamp {
            seconds: 253_402_300_800,
            nanos: 0,
        }),
        ..Default::default()
    };
    assert_eq!(
        refused(bad_times).await,
        ["started_after", "started_before", "server_id"]
    );
}

on_both_backends!(
    sync_runs_are_listed_by_outcome_within_the_callers_servers,
    sync_runs_are_listed_by_a_half_open_range_on_their_start,
    a_filtered_run_listing_pages_with_tokens_bound_to_its_filter,
    invalid_run_filters_are_refused_with_every_field_named,
);

fn member(id: &str) -> pb::PackServer {
    pb::PackServer {
        server_id: id.into(),
        name: String::new(),
    }
}

async fn create_pack(app: &TestApp, auth: &Auth, name: &str, servers: &[&str]) -> pb::Pack {
    app.packs_as(auth)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: name.into(),
                description: format!("the {name} pack"),
                servers: servers.iter().map(|id| member(id)).collect(),
                ..Default::default()
            }),
        })
        .await
        .expect("create pack")
        .into_inner()
}

async fn list_packs(
    app: &TestApp,
    auth: &Auth,
    request: pb::ListPacksRequest,
) -> Result<pb::ListPacksResponse, Status> {
    app.packs_as(auth)
        .list_packs(request)
        .await
        .map(|r| r.into_inner())
}

/// The names of the packs holding `server_id` that `auth` lists, after
/// checking that `total_size` counts them.
async fn holding(app: &TestApp, auth: &Auth, server_id: &str) -> Vec<String> {
    let request = pb::ListPacksRequest {
        server_id: server_id.into(),
        ..Default::default()
    };
    let listed = list_packs(app, auth, request).await.expect("list packs");
    assert_eq!(listed.total_size as usize, listed.packs.len());
    listed.packs.into_iter().map(|pack| pack.name).collect()
}

async fn packs_are_listed_by_a_current_member_server(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let other = app.org("other", Plan::Pro).await;
    let github = app.create_server(&acme.admin, server("github")).await;
    let jira = app.create_server(&acme.admin, server("jira")).await;
    let mut everything = server("everything");
    everything.visibility = pb::Visibility::Catalog as i32;
    let everything = app.create_server(&app.platform, everything).await;
    let theirs = app.create_server(&other.admin, server("theirs")).await;
    create_pack(&app, &acme.member, "dev", &[&github.id, &everything.id]).await;
    create_pack(&app, &acme.member, "ops", &[&jira.id]).await;
    let all = create_pack(&app, &acme.member, "all", &[&github.id, &jira.id]).await;
    create_pack(&app, &other.admin, "mine", &[&theirs.id, &everything.id]).await;

    let viewer = &acme.viewer;
    assert_eq!(holding(&app, viewer, &github.id).await, ["dev", "all"]);
    assert_eq!(holding(&app, viewer, &jira.id).await, ["ops", "all"]);
    assert_eq!(holding(&app, viewer, &everything.id).await, ["dev"]);
    assert_eq!(holding(&app, &other.viewer, &everything.id).await, ["mine"]);

    // Only current members count: a removed server no longer finds the pack.
    app.packs_as(&acme.member)
        .remove_pack_server(pb::RemovePackServerRequest {
            pack_id: all.id.clone(),
            server: Some(member(&github.id)),
            etag: String::new(),
        })
        .await
        .expect("remove github");
    assert_eq!(holding(&app, viewer, &github.id).await, ["dev"]);

    // A server the caller cannot see, or that does not exist, is in none of
    // its packs: the answer is empty, as for a server in no pack.
    let missing = new_id("mcp");
    for invisible in [&theirs.id, &missing] {
        assert!(holding(&app, viewer, invisible).await.is_empty());
    }
    let alone = app.create_server(&acme.admin, server("alone")).await;
    assert!(holding(&app, viewer, &alone.id).await.is_empty());

    // The filter combines with a pack-limited key's packs.
    let created = app
        .admin()
        .create_api_key(pb::CreateApiKeyRequest {
            api_key: Some(pb::ApiKey {
                organization_id: acme.id.clone(),
                role: pb::Role::Viewer as i32,
                pack_ids: vec![all.id.clone()],
                ..Default::default()
            }),
        })
        .await
        .expect("limited key")
        .into_inner();
    let limited = Auth::Pair(created.id, created.secret);
    assert_eq!(holding(&app, &limited, &jira.id).await, ["all"]);

    let malformed = pb::ListPacksRequest {
        server_id: "pack_1".into(),
        ..Default::default()
    };
    let result = list_packs(&app, viewer, malformed).await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["server_id"]);
}

async fn a_pack_listing_by_server_pages_with_tokens_bound_to_the_server(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let github = app.create_server(&acme.admin, server("github")).await;
    let jira = app.create_server(&acme.admin, server("jira")).await;
    for name in ["p1", "p2", "p3"] {
        create_pack(&app, &acme.member, name, &[&github.id]).await;
    }
    create_pack(&app, &acme.member, "other", &[&jira.id]).await;
    let page = |server_id: &str, page_token: String| pb::ListPacksRequest {
        page_size: 2,
        page_token,
        server_id: server_id.into(),
        ..Default::default()
    };
    let first = list_packs(&app, &acme.viewer, page(&github.id, String::new()))
        .await
        .expect("first page");
    assert_eq!(first.total_size, 3);
    let token = first.next_page_token;
    let second = list_packs(&app, &acme.viewer, page(&github.id, token.clone()))
        .await
        .expect("second page");
    let names: Vec<String> = first
        .packs
        .into_iter()
        .chain(second.packs)
        .map(|pack| pack.name)
        .collect();
    assert_eq!(names, ["p1", "p2", "p3"]);
    assert!(second.next_page_token.is_empty());

    for other in ["", jira.id.as_str()] {
        let result = list_packs(&app, &acme.viewer, page(other, token.clone())).await;
        let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(violated_fields(&status), ["page_token"], "server {other:?}");
    }
}

on_both_backends!(
    packs_are_listed_by_a_current_member_server,
    a_pack_listing_by_server_pages_with_tokens_bound_to_the_server,
);
