//! SyncService end to end: real MCP servers on 127.0.0.1, stored results,
//! sync runs, failures, the SSRF guard and live events.

use std::collections::BTreeSet;
use std::time::Duration;

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Instance, Options, TestApp, assert_error, everything, server};
use crate::mcp::{McpServer, Running, tool};

/// What the Python MCP SDK's client lists at `url` (tools, prompts,
/// resources, templates): an implementation independent of the registry's,
/// so a bug shared by the sync and its check cannot hide.
async fn reference_listing(transport: &str, url: &str) -> serde_json::Value {
    let pythonpath = std::env::var("MCP_REGISTRY_TEST_PYTHONPATH").expect("set by ./scripts/test");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/list_tools.py");
    let output = tokio::process::Command::new("python3")
        .args([script, transport, url])
        .env("PYTHONPATH", pythonpath)
        .output()
        .await
        .expect("run the python client");
    assert!(output.status.success(), "python client: {output:?}");
    serde_json::from_slice(&output.stdout).expect("json")
}

fn names_of(listing: &serde_json::Value, key: &str) -> BTreeSet<String> {
    listing[key]
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect()
}

/// Every stored prompt name, and every stored resource URI and template.
async fn stored_others(
    app: &TestApp,
    auth: &crate::helpers::Auth,
    server_id: &str,
) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let prompts = app
        .servers_as(auth)
        .list_server_prompts(pb::ListServerPromptsRequest {
            server_id: server_id.into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("prompts")
        .into_inner()
        .prompts
        .into_iter()
        .map(|p| p.name)
        .collect();
    let resources = app
        .servers_as(auth)
        .list_server_resources(pb::ListServerResourcesRequest {
            server_id: server_id.into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("resources")
        .into_inner();
    (
        prompts,
        resources.resources.into_iter().map(|r| r.uri).collect(),
        resources
            .resource_templates
            .into_iter()
            .map(|t| t.uri_template)
            .collect(),
    )
}

async fn stored_tools(
    app: &TestApp,
    auth: &crate::helpers::Auth,
    server_id: &str,
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut token = String::new();
    loop {
        let page = app
            .servers_as(auth)
            .list_server_tools(pb::ListServerToolsRequest {
                server_id: server_id.into(),
                page_size: 7,
                page_token: token,
            })
            .await
            .expect("tools")
            .into_inner();
        names.extend(page.tools.into_iter().map(|t| t.name));
        if page.next_page_token.is_empty() {
            return names;
        }
        token = page.next_page_token;
    }
}

async fn get(app: &TestApp, auth: &crate::helpers::Auth, id: &str) -> pb::McpServer {
    app.servers_as(auth)
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.into())),
        })
        .await
        .expect("get")
        .into_inner()
}

async fn a_sync_stores_what_the_reference_server_offers_over_both_transports(app: TestApp) {
    for (mode, path, transport, python_transport) in [
        (
            "streamableHttp",
            "/mcp",
            pb::Transport::StreamableHttp,
            "streamable-http",
        ),
        ("sse", "/sse", pb::Transport::Sse, "sse"),
    ] {
        let Some(upstream) = everything(mode).await else {
            return;
        };
        if crate::helpers::python_sdk_path().is_none() {
            return;
        }
        let org = app
            .org(&format!("org-{mode}").to_lowercase(), Plan::Pro)
            .await;
        let url = format!("http://127.0.0.1:{}{path}", upstream.port);
        let mut input = server("everything");
        input.url = url.clone();
        let created = app.create_server(&org.admin, input).await;

        let run = app.sync(&org.admin, &created.id).await;
        assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{run:?}");
        assert_eq!(run.transport(), transport, "{mode}");
        assert_eq!(run.trigger(), pb::SyncTrigger::Manual);
        assert!(!run.protocol_version.is_empty());

        let reference = reference_listing(python_transport, &url).await;
        let expected = names_of(&reference, "tools");
        let stored = stored_tools(&app, &org.viewer, &created.id).await;
        assert_eq!(
            stored, expected,
            "{mode}: stored tools equal an independent listing"
        );
        let (prompts, resources, templates) = stored_others(&app, &org.viewer, &created.id).await;
        assert_eq!(prompts, names_of(&reference, "prompts"), "{mode}: prompts");
        assert_eq!(
            resources,
            names_of(&reference, "resources"),
            "{mode}: resources"
        );
        assert_eq!(
            templates,
            names_of(&reference, "resourceTemplates"),
            "{mode}: templates"
        );
        let tools = run.tools.clone().expect("tools result");
        assert_eq!(tools.outcome(), pb::CapabilityOutcome::Ok);
        assert_eq!(tools.count as usize, expected.len());
        let changes = run.changes.clone().expect("changes");
        assert_eq!(
            changes.tools_added.iter().cloned().collect::<BTreeSet<_>>(),
            expected,
            "first sync adds every tool"
        );

        let now = get(&app, &org.viewer, &created.id).await;
        assert_eq!(now.status(), pb::ServerStatus::Connected);
        assert_eq!(now.detected_transport(), transport);
        assert_eq!(now.tool_count as usize, expected.len());
        assert!(now.prompt_count > 0 && now.resource_count > 0 && now.resource_template_count > 0);
        assert_eq!(
            now.server_info.as_ref().map(|i| i.name.as_str()),
            Some("mcp-servers/everything")
        );
        assert!(now.last_successful_sync_at.is_some() && now.last_error.is_none());
        assert_eq!(now.etag, created.etag, "a sync does not change the etag");

        // Registered with the explicit transport, the server syncs the same way.
        let mut explicit = get(&app, &org.admin, &created.id).await;
        explicit.transport = transport as i32;
        app.servers_as(&org.admin)
            .update_mcp_server(pb::UpdateMcpServerRequest {
                mcp_server: Some(explicit),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["transport".into()],
                }),
            })
            .await
            .expect("explicit transport");
        let explicit_run = app.sync(&org.admin, &created.id).await;
        assert_eq!(
            (explicit_run.outcome(), explicit_run.transport()),
            (pb::SyncOutcome::Succeeded, transport)
        );
        assert_eq!(stored_tools(&app, &org.viewer, &created.id).await, expected);

        // Another sync changes nothing.
        let again = app.sync(&org.admin, &created.id).await;
        let changes = again.changes.expect("changes");
        assert!(
            changes.tools_added.is_empty()
                && changes.tools_removed.is_empty()
                && changes.tools_changed.is_empty()
        );

        let runs = app
            .sync_as(&org.viewer)
            .list_sync_runs(pb::ListSyncRunsRequest {
                server_id: created.id.clone(),
                ..Default::default()
            })
            .await
            .expect("runs")
            .into_inner();
        assert_eq!(runs.total_size, 3);
        assert_eq!(runs.sync_runs[0].id, again.id, "newest first");
        let fetched = app
            .sync_as(&org.viewer)
            .get_sync_run(pb::GetSyncRunRequest { id: run.id.clone() })
            .await
            .expect("get run")
            .into_inner();
        assert_eq!(fetched, run);
    }
}

async fn a_failed_sync_is_recorded_and_answered_unavailable_with_its_run(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    // A port nothing listens on.
    let port = crate::mcp::free_port();
    let mut input = server("gone");
    input.url = format!("http://127.0.0.1:{port}/mcp");
    let created = app.create_server(&org.admin, input).await;
    let result = app.try_sync(&org.admin, &created.id).await;
    let status = assert_error(result, Code::Unavailable, "UPSTREAM_UNREACHABLE");
    let details = status.get_error_details();
    let run_id = details
        .error_info()
        .expect("info")
        .metadata
        .get("sync_run_id")
        .cloned()
        .expect("sync_run_id");
    let run = app
        .sync_as(&org.viewer)
        .get_sync_run(pb::GetSyncRunRequest { id: run_id.clone() })
        .await
        .expect("run")
        .into_inner();
    assert_eq!(run.outcome(), pb::SyncOutcome::Failed);
    assert_eq!(
        run.error.as_ref().map(|e| e.reason()),
        Some(pb::ErrorReason::UpstreamUnreachable)
    );
    let now = get(&app, &org.viewer, &created.id).await;
    assert_eq!(now.status(), pb::ServerStatus::Error);
    assert_eq!(
        now.last_error.as_ref().map(|e| e.sync_run_id.as_str()),
        Some(run_id.as_str())
    );

    // Runs are per organization; another organization sees none of them.
    let other = app.org("other", Plan::Pro).await;
    let result = app
        .sync_as(&other.admin)
        .get_sync_run(pb::GetSyncRunRequest { id: run_id })
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
    let theirs = app
        .sync_as(&other.admin)
        .list_sync_runs(pb::ListSyncRunsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(theirs.total_size, 0);
    let ours = app
        .sync_as(&org.viewer)
        .list_sync_runs(pb::ListSyncRunsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(ours.total_size, 1);

    // Rights: viewers and strangers cannot sync; disabled servers are not synced.
    let result = app.try_sync(&org.viewer, &created.id).await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    let result = app
        .sync_as(&other.admin)
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: created.id.clone(),
            ..Default::default()
        })
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
    let mut off = now.clone();
    off.enabled = Some(false);
    app.servers_as(&org.admin)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(off),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["enabled".into()],
            }),
        })
        .await
        .expect("disable");
    let result = app.try_sync(&org.admin, &created.id).await;
    assert_error(result, Code::FailedPrecondition, "FAILED_PRECONDITION");
}

async fn the_ssrf_guard_refuses_loopback_upstreams_by_default(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    for (name, url) in [
        ("v4", "http://127.0.0.1:9/mcp"),
        ("name", "http://localhost:9/mcp"),
        ("v6", "http://[::1]:9/mcp"),
    ] {
        let mut input = server(name);
        input.url = url.into();
        let created = app.create_server(&org.admin, input).await;
        let result = app.try_sync(&org.admin, &created.id).await;
        let status = assert_error(result, Code::Unavailable, "UPSTREAM_UNREACHABLE");
        assert!(status.message().contains("SSRF guard"), "{url}: {status:?}");
    }
}

async fn watchers_see_their_organizations_syncs_and_nothing_else(app: TestApp) {
    let a = app.org("a", Plan::Pro).await;
    let b = app.org("b", Plan::Pro).await;
    let port = mutable_server().await.port;
    let mut input = server("docs");
    input.url = format!("http://127.0.0.1:{port}/mcp");
    let in_a = app.create_server(&a.admin, input.clone()).await;
    let in_b = app.create_server(&b.admin, input).await;
    let mut watch_b = app
        .sync_as(&b.viewer)
        .watch_sync_events(pb::WatchSyncEventsRequest::default())
        .await
        .expect("watch")
        .into_inner();
    let mut watch_a = app
        .sync_as(&a.viewer)
        .watch_sync_events(pb::WatchSyncEventsRequest::default())
        .await
        .expect("watch")
        .into_inner();
    // Organization a syncs first, then b: b's watcher must see b's events first.
    let _ = app
        .sync_as(&a.admin)
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: in_a.id.clone(),
            ..Default::default()
        })
        .await;
    let _ = app
        .sync_as(&b.admin)
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: in_b.id.clone(),
            ..Default::default()
        })
        .await;
    for (watch, server) in [(&mut watch_a, &in_a), (&mut watch_b, &in_b)] {
        let started = watch.message().await.expect("stream").expect("event");
        assert_eq!(
            (started.kind(), started.server_id.as_str()),
            (pb::SyncEventKind::Started, server.id.as_str())
        );
        let finished = watch.message().await.expect("stream").expect("event");
        assert_eq!(
            (finished.kind(), finished.server_id.as_str()),
            (pb::SyncEventKind::Succeeded, server.id.as_str())
        );
        assert_eq!(
            finished.run.map(|r| r.outcome()),
            Some(pb::SyncOutcome::Succeeded)
        );
    }
    // Watching another organization's server is NOT_FOUND.
    let result = app
        .sync_as(&a.viewer)
        .watch_sync_events(pb::WatchSyncEventsRequest { server_id: in_b.id })
        .await;
    assert_error(result.map(|_| ()), Code::NotFound, "NOT_FOUND");
}

async fn creating_or_reconnecting_a_server_syncs_it_in_the_background(app: TestApp) {
    let Some(upstream) = everything("streamableHttp").await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("everything");
    input.url = format!("http://127.0.0.1:{}/mcp", upstream.port);
    let created = app.create_server(&org.admin, input).await;
    let first = finished_run(&app, &org.viewer, &created.id, 1).await;
    assert_eq!(first.trigger(), pb::SyncTrigger::Created);
    assert_eq!(first.outcome(), pb::SyncOutcome::Succeeded, "{first:?}");

    // A description change arms nothing; a url change does.
    let mut described = get(&app, &org.admin, &created.id).await;
    described.description = "words".into();
    let described = app
        .servers_as(&org.admin)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(described),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["description".into()],
            }),
        })
        .await
        .expect("describe")
        .into_inner();
    let mut moved = described.clone();
    moved.url = format!("http://localhost:{}/mcp", upstream.port);
    app.servers_as(&org.admin)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(moved),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["url".into()],
            }),
        })
        .await
        .expect("move");
    let second = finished_run(&app, &org.viewer, &created.id, 2).await;
    assert_eq!(second.trigger(), pb::SyncTrigger::Updated);
    assert_eq!(second.outcome(), pb::SyncOutcome::Succeeded, "{second:?}");
}

/// Waits (polling, at most 30 s) until the server has `count` finished runs; returns the newest.
async fn finished_run(
    app: &TestApp,
    auth: &crate::helpers::Auth,
    server_id: &str,
    count: usize,
) -> pb::SyncRun {
    for _ in 0..300 {
        let runs = app.runs(auth, server_id).await;
        let finished: Vec<&pb::SyncRun> = runs
            .iter()
            .filter(|r| r.outcome() != pb::SyncOutcome::Running)
            .collect();
        if finished.len() >= count {
            assert_eq!(
                runs.len(),
                count,
                "exactly one run per armed write: {runs:?}"
            );
            return finished[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {count} finished runs for {server_id}");
}

crate::on_both_backends_with!(crate::helpers::Options { background_sync: true, ..crate::helpers::loopback() };
    creating_or_reconnecting_a_server_syncs_it_in_the_background,
);

crate::on_both_backends_with!(crate::helpers::loopback();
    a_sync_stores_what_the_reference_server_offers_over_both_transports,
    a_failed_sync_is_recorded_and_answered_unavailable_with_its_run,
    watchers_see_their_organizations_syncs_and_nothing_else,
);

crate::on_both_backends_with!(crate::helpers::Options { insecure_upstreams: true, ..crate::helpers::Options::default() };
    the_ssrf_guard_refuses_loopback_upstreams_by_default,
);

/// Finished runs of a server, oldest first, once there are at least `count`.
async fn runs_when(
    app: &TestApp,
    auth: &crate::helpers::Auth,
    server_id: &str,
    count: usize,
) -> Vec<pb::SyncRun> {
    for _ in 0..300 {
        let mut runs: Vec<pb::SyncRun> = app
            .sync_as(auth)
            .list_sync_runs(pb::ListSyncRunsRequest {
                server_id: server_id.into(),
                page_size: 100,
                ..Default::default()
            })
            .await
            .expect("runs")
            .into_inner()
            .sync_runs
            .into_iter()
            .filter(|r| r.outcome() != pb::SyncOutcome::Running)
            .collect();
        if runs.len() >= count {
            runs.reverse();
            return runs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{server_id} did not reach {count} finished runs");
}

fn micros(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref()
        .map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
        .expect("timestamp")
}

/// Asserts that /metrics of `app` exports every one of `series`.
async fn assert_exported(app: &TestApp, series: &[&str]) {
    let body = crate::operations::scrape(app.metrics_addr.expect("metrics enabled")).await;
    for series in series {
        assert!(body.contains(series), "{series} missing from /metrics");
    }
}

async fn the_scheduler_resyncs_healthy_servers(app: TestApp) {
    let Some(upstream) = everything("streamableHttp").await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let mut healthy = Vec::new();
    for name in ["one", "two"] {
        let mut input = server(name);
        input.url = format!("http://127.0.0.1:{}/mcp", upstream.port);
        healthy.push(app.create_server(&org.admin, input).await);
    }
    for server in &healthy {
        let runs = runs_when(&app, &org.viewer, &server.id, 3).await;
        assert!(
            runs.iter()
                .all(|r| r.outcome() == pb::SyncOutcome::Succeeded),
            "{runs:?}"
        );
        assert!(
            runs.iter()
                .filter(|r| r.trigger() == pb::SyncTrigger::Scheduled)
                .count()
                >= 2,
            "{runs:?}"
        );
        for pair in runs.windows(2) {
            assert!(
                micros(&pair[1].started_at) >= micros(&pair[0].finished_at),
                "runs of one server overlap: {pair:?}"
            );
        }
    }
    // The sync metrics are exported.
    let series = [
        "mcp_registry_syncs_total{outcome=\"succeeded\"",
        "mcp_registry_sync_duration_seconds",
        "mcp_registry_servers{status=\"connected\"}",
    ];
    assert_exported(&app, &series).await;
}

async fn the_scheduler_backs_off_failing_servers(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let closed = crate::mcp::free_port();
    let mut input = server("failing");
    input.url = format!("http://127.0.0.1:{closed}/mcp");
    let failing = app.create_server(&org.admin, input).await;
    // 300 ms interval: retries wait ~300, ~600, ~1200 ms (±10 %) after each
    // failure; measured from a run's end to the next run's start, so the
    // syncs' own durations do not blur the comparison.
    let runs = runs_when(&app, &org.viewer, &failing.id, 4).await;
    assert!(runs.iter().all(|r| r.outcome() == pb::SyncOutcome::Failed));
    let gaps: Vec<i64> = runs
        .windows(2)
        .map(|p| micros(&p[1].started_at) - micros(&p[0].finished_at))
        .collect();
    assert!(
        gaps[0] < gaps[1] && gaps[1] < gaps[2],
        "backoff gaps grow: {gaps:?}"
    );
    let now = get(&app, &org.viewer, &failing.id).await;
    assert_eq!(now.status(), pb::ServerStatus::Error);
    assert!(now.next_sync_at.is_some());
    let series = [
        "mcp_registry_syncs_total{outcome=\"failed\",reason=\"UPSTREAM_UNREACHABLE\"}",
        "mcp_registry_sync_duration_seconds",
    ];
    assert_exported(&app, &series).await;
}

crate::on_both_backends_with!(crate::helpers::Options {
        background_sync: true,
        metrics: true,
        sync_interval: Some(std::time::Duration::from_millis(300)),
        ..crate::helpers::loopback()
    };
    the_scheduler_resyncs_healthy_servers,
    the_scheduler_backs_off_failing_servers,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_share_the_servers_and_never_overlap() {
    use mcp_registry::pb::mcp_server_service_client::McpServerServiceClient;
    use mcp_registry::pb::sync_service_client::SyncServiceClient;
    use mcp_registry::registry::now_micros;

    let Some(database) =
        crate::helpers::TestDatabase::create(crate::helpers::Backend::Postgres).await
    else {
        return;
    };
    let Some(upstream) = everything("streamableHttp").await else {
        database.drop_database().await;
        return;
    };
    let master_key = mcp_registry::crypto::Keyring::generate_entry("test").expect("key");
    let options = Options {
        background_sync: true,
        sync_interval: Some(Duration::from_millis(400)),
        ..crate::helpers::loopback()
    };
    let a = Instance::start(&database, &master_key, &options).await;
    let b = Instance::start(&database, &master_key, &options).await;

    let store = mcp_registry::store::Store::connect(&database.url)
        .await
        .expect("store");
    let (_, auth) = crate::helpers::org_with_admin_key(&store, "replicas", Plan::Enterprise).await;
    let mut servers = McpServerServiceClient::with_interceptor(a.channel.clone(), auth.clone());
    let mut ids = Vec::new();
    for i in 0..50 {
        let mut input = server(&format!("s{i:02}"));
        input.url = format!("http://127.0.0.1:{}/mcp", upstream.port);
        ids.push(crate::helpers::create_id(&mut servers, input).await);
    }

    // Every one of the 50 servers is synced at least twice, by either replica.
    let mut sync = SyncServiceClient::with_interceptor(b.channel.clone(), auth.clone());
    let mut instances = BTreeSet::new();
    for id in &ids {
        let mut runs = Vec::new();
        for _ in 0..300 {
            runs = sync
                .list_sync_runs(pb::ListSyncRunsRequest {
                    server_id: id.clone(),
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .expect("runs")
                .into_inner()
                .sync_runs
                .into_iter()
                .filter(|r| r.outcome() != pb::SyncOutcome::Running)
                .collect();
            if runs.len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(runs.len() >= 2, "{id} synced {} times", runs.len());
        runs.reverse();
        for pair in runs.windows(2) {
            assert!(
                micros(&pair[1].started_at) >= micros(&pair[0].finished_at),
                "overlapping syncs of {id}: {pair:?}"
            );
        }
        instances.extend(runs.iter().map(|r| r.instance_id.clone()));
    }
    assert_eq!(instances.len(), 2, "both replicas synced: {instances:?}");

    // A replica that died mid-sync leaves a lease behind: nobody syncs that
    // server until the lease expires, then a live replica takes over.
    let target = &ids[0];
    let expires = now_micros() + 1_500_000;
    store
        .execute_unprepared(&format!(
            "UPDATE mcp_servers SET lease_owner = 'inst_dead', lease_expires_at = {expires}, next_sync_at = 0 WHERE id = '{target}'"
        ))
        .await
        .expect("plant a stale lease");
    let planted_at = now_micros();
    let mut taken_over = None;
    for _ in 0..100 {
        let runs = sync
            .list_sync_runs(pb::ListSyncRunsRequest {
                server_id: target.clone(),
                page_size: 100,
                ..Default::default()
            })
            .await
            .expect("runs")
            .into_inner()
            .sync_runs;
        let after: Vec<&pb::SyncRun> = runs
            .iter()
            .filter(|r| micros(&r.started_at) > planted_at)
            .collect();
        if let Some(first) = after.last() {
            taken_over = Some(micros(&first.started_at));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = taken_over.expect("a live replica took over the expired lease");
    assert!(
        started >= expires,
        "synced while the dead replica's lease held ({started} < {expires})"
    );

    for replica in [a, b] {
        replica.stop().await;
    }
    store.close().await.expect("close");
    database.drop_database().await;
}

/// Starts a fake MCP server (JSON answers) with a `search` and a `stable`
/// tool; tests change `search` with [`Running::set_tools`].
async fn mutable_server() -> Running {
    McpServer::new()
        .name("mutable")
        .tool("search", "searches documents")
        .tool("stable", "never changes")
        .start()
        .await
}

async fn a_hanging_upstream_does_not_hold_up_other_syncs_or_health(app: TestApp) {
    let hang_port = crate::helpers::hanging_upstream().await;
    let good_port = mutable_server().await.port;
    let org = app.org("acme", Plan::Pro).await;
    let mut stuck = server("stuck");
    stuck.url = format!("http://127.0.0.1:{hang_port}/mcp");
    let stuck = app.create_server(&org.admin, stuck).await;
    let mut good = server("good");
    good.url = format!("http://127.0.0.1:{good_port}/mcp");
    let good = app.create_server(&org.admin, good).await;

    let mut stuck_client = app.sync_as(&org.admin);
    let stuck_id = stuck.id.clone();
    let stuck_sync = tokio::spawn(async move {
        stuck_client
            .sync_mcp_server(pb::SyncMcpServerRequest {
                id: stuck_id,
                ..Default::default()
            })
            .await
    });
    // While that sync waits for its deadline, another server syncs and health answers.
    let run = app.sync(&org.admin, &good.id).await;
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded);
    assert!(
        !stuck_sync.is_finished(),
        "the hanging sync is still waiting"
    );
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        status.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    // The hanging one ends at its deadline as unreachable.
    let result = stuck_sync.await.expect("task");
    let status = assert_error(result, Code::Unavailable, "UPSTREAM_UNREACHABLE");
    assert!(
        status.message().contains("no complete answer"),
        "{status:?}"
    );
}

async fn a_tool_that_changes_between_syncs_loses_its_approval(app: TestApp) {
    let upstream = mutable_server().await;
    let port = upstream.port;
    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("docs");
    input.url = format!("http://127.0.0.1:{port}/mcp");
    input.approval_policy = pb::ApprovalPolicy::RequireAll as i32;
    let created = app.create_server(&org.admin, input).await;
    let sync = |id: String| {
        let mut client = app.sync_as(&org.admin);
        async move {
            client
                .sync_mcp_server(pb::SyncMcpServerRequest {
                    id,
                    ..Default::default()
                })
                .await
                .expect("sync")
                .into_inner()
        }
    };
    sync(created.id.clone()).await;
    app.servers_as(&org.admin)
        .approve_tools(pb::ApproveToolsRequest {
            server_id: created.id.clone(),
            all_tools: true,
            ..Default::default()
        })
        .await
        .expect("approve");
    let pack = app
        .packs_as(&org.admin)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "docs".into(),
                description: "documents".into(),
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
    let resolve = || {
        let mut client = app.packs_as(&org.viewer);
        let id = pack.id.clone();
        async move {
            client
                .resolve_pack(pb::ResolvePackRequest { id, version: 0 })
                .await
                .expect("resolve")
                .into_inner()
        }
    };
    let before = resolve().await;
    let offered: Vec<&str> = before
        .tools
        .iter()
        .map(|t| t.qualified_name.as_str())
        .collect();
    assert_eq!(offered, vec!["docs__search", "docs__stable"]);

    // The server silently changes `search`.
    upstream.set_tools([
        tool("search", "deletes documents"),
        tool("stable", "never changes"),
    ]);
    let run = sync(created.id.clone()).await;
    let changes = run.changes.expect("changes");
    assert_eq!(changes.tools_changed, vec!["search"]);
    assert_eq!(changes.tools_unapproved, vec!["search"]);
    assert!(changes.tools_added.is_empty() && changes.tools_removed.is_empty());

    let after = resolve().await;
    let offered: Vec<&str> = after
        .tools
        .iter()
        .map(|t| t.qualified_name.as_str())
        .collect();
    assert_eq!(offered, vec!["docs__stable"]);
    assert_eq!(after.excluded_tools[0].tool_name, "search");
    assert_eq!(
        after.excluded_tools[0].reason(),
        pb::ExclusionReason::ChangedSinceApproval
    );

    // The service stayed healthy throughout.
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        status.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
}

crate::on_both_backends_with!(crate::helpers::loopback();
    a_tool_that_changes_between_syncs_loses_its_approval,
    a_hanging_upstream_does_not_hold_up_other_syncs_or_health,
);

async fn every_tool_of_a_paginated_python_sdk_server_is_stored(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    for (transport, path, expected_transport) in [
        ("streamable-http", "/mcp", pb::Transport::StreamableHttp),
        ("sse", "/sse", pb::Transport::Sse),
    ] {
        let Some(upstream) = crate::helpers::python_many_tools(transport).await else {
            return;
        };
        let mut input = server(&format!("many-{}", transport.replace('-', "")));
        input.url = format!("http://127.0.0.1:{}{path}", upstream.port);
        let created = app.create_server(&org.admin, input).await;
        let run = app.sync(&org.admin, &created.id).await;
        assert_eq!(run.transport(), expected_transport);
        let tools = run.tools.expect("tools");
        assert_eq!((tools.count, tools.pages), (250, 25), "{transport}");
        let stored = stored_tools(&app, &org.viewer, &created.id).await;
        let expected: BTreeSet<String> = (0..250).map(|i| format!("tool_{i:03}")).collect();
        assert_eq!(stored, expected, "{transport}: every tool stored");
    }
}

crate::on_both_backends_with!(crate::helpers::loopback();
    every_tool_of_a_paginated_python_sdk_server_is_stored,
);

/// Creates a server `name` at `url` as the organization's admin, and syncs it.
async fn sync_new_server(
    app: &TestApp,
    org: &crate::helpers::Org,
    name: &str,
    url: String,
) -> Result<tonic::Response<pb::SyncRun>, tonic::Status> {
    let mut input = server(name);
    input.url = url;
    let created = app.create_server(&org.admin, input).await;
    app.sync_as(&org.admin)
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: created.id,
            ..Default::default()
        })
        .await
}

async fn with_the_guard_on_only_the_allowed_address_is_reached(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    // 127.0.0.1 is allowed explicitly: a sync to it works.
    let port = mutable_server().await.port;
    let url = format!("http://127.0.0.1:{port}/mcp");
    let run = sync_new_server(&app, &org, "allowed", url).await;
    let run = run.expect("allowed address syncs").into_inner();
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded);

    // Any other loopback address is refused.
    let url = format!("http://127.0.0.3:{port}/mcp");
    let result = sync_new_server(&app, &org, "other", url).await;
    let status = assert_error(result, Code::Unavailable, "UPSTREAM_UNREACHABLE");
    assert!(status.message().contains("SSRF guard"), "{status:?}");
}

async fn with_the_guard_on_a_redirect_to_another_address_is_refused(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    // A redirect from the allowed address to another loopback address is
    // refused before connecting.
    let port = mutable_server().await.port;
    let redirector = McpServer::new()
        .redirect("/", &format!("http://127.0.0.2:{port}/mcp"))
        .start()
        .await;
    let result = sync_new_server(&app, &org, "redirected", redirector.url("/mcp")).await;
    let status = assert_error(result, Code::Unavailable, "UPSTREAM_UNREACHABLE");
    assert!(
        status.message().contains("SSRF guard") && status.message().contains("127.0.0.2"),
        "{status:?}"
    );
}

crate::on_both_backends_with!(crate::helpers::Options {
        insecure_upstreams: true,
        allowed_upstream_addresses: vec!["127.0.0.1".parse().expect("ip")],
        ..crate::helpers::Options::default()
    };
    with_the_guard_on_only_the_allowed_address_is_reached,
    with_the_guard_on_a_redirect_to_another_address_is_refused,
);

async fn a_redirect_to_another_origin_is_refused_so_secrets_never_leave(app: TestApp) {
    // B would receive whatever follows the redirect: its log shows what reaches it.
    let b = McpServer::new().start().await;
    // A redirects every request to B, another origin (localhost, another port).
    let a = McpServer::new()
        .redirect("/", &format!("http://localhost:{}/mcp", b.port))
        .start()
        .await;
    let port_a = a.port;

    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("redirecting");
    input.url = format!("http://127.0.0.1:{port_a}/mcp");
    input.credentials = Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::ApiKey(pb::ApiKeyCredentials {
            key: "sk-live-secret".into(),
            header_name: String::new(),
            key_secret: None,
        })),
    });
    input.request_headers = [("X-Tenant-Token".to_owned(), "tenant-secret".to_owned())].into();
    let created = app.create_server(&org.admin, input).await;
    for transport in [pb::Transport::Auto, pb::Transport::Sse] {
        let mut change = get(&app, &org.admin, &created.id).await;
        change.transport = transport as i32;
        app.servers_as(&org.admin)
            .update_mcp_server(pb::UpdateMcpServerRequest {
                mcp_server: Some(change),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["transport".into()],
                }),
            })
            .await
            .expect("transport");
        let result = app.try_sync(&org.admin, &created.id).await;
        let status = assert_error(result, Code::Unavailable, "UPSTREAM_UNREACHABLE");
        assert!(status.message().contains("another origin"), "{status:?}");
    }
    assert_eq!(
        b.requests().len(),
        0,
        "nothing (and no secret) reached the other origin"
    );
}

crate::on_both_backends_with!(crate::helpers::loopback();
    a_redirect_to_another_origin_is_refused_so_secrets_never_leave,
);

async fn runs_abandoned_by_a_crashed_replica_end_failed(app: TestApp) {
    use mcp_registry::registry::now_micros;
    use mcp_registry::registry::runs::{Changes, Outcome, Results, SyncRun, Trigger};
    let org = app.org("acme", Plan::Pro).await;
    let created = app.create_server(&org.admin, server("crashy")).await;

    // A replica started this run an hour ago and died.
    let run = SyncRun {
        id: mcp_registry::registry::new_id("sync"),
        server_id: created.id.clone(),
        scope: org.id.clone(),
        server_name: "crashy".into(),
        trigger: Trigger::Scheduled,
        started_at: now_micros() - 3_600_000_000,
        finished_at: None,
        outcome: Outcome::Running,
        transport: None,
        protocol_version: String::new(),
        results: Results::default(),
        changes: Changes::default(),
        error: None,
        instance_id: "inst_dead".into(),
    };
    app.store.insert_sync_run(&run, None).await.expect("insert");
    let failed = app
        .store
        .fail_stale_runs(now_micros() - 60_000_000, now_micros())
        .await
        .expect("fail stale");
    assert_eq!(failed, 1);
    let after = app
        .sync_as(&org.viewer)
        .get_sync_run(pb::GetSyncRunRequest { id: run.id })
        .await
        .expect("run")
        .into_inner();
    assert_eq!(after.outcome(), pb::SyncOutcome::Failed);
    assert!(after.finished_at.is_some());
    let error = after.error.expect("error");
    assert_eq!(error.sync_run_id, after.id, "the error names its run");
    assert_eq!(error.reason(), pb::ErrorReason::UpstreamUnreachable);
    assert!(error.message.contains("interrupted"), "{}", error.message);
}

async fn a_new_url_starts_the_backoff_again(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let created = app.create_server(&org.admin, server("crashy")).await;
    // Five failures in a row.
    app.store
        .execute_unprepared(&format!(
            "UPDATE mcp_servers SET consecutive_failures = 5 WHERE id = '{}'",
            created.id
        ))
        .await
        .expect("failures");
    let mut moved = get(&app, &org.admin, &created.id).await;
    moved.url = "https://moved.mcp.example.com/mcp".into();
    app.servers_as(&org.admin)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(moved),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["url".into()],
            }),
        })
        .await
        .expect("move");
    let rows = app.store.dump_table("mcp_servers").await.expect("dump");
    assert!(
        rows.iter()
            .any(|row| row.contains("\"consecutive_failures\":0")),
        "{rows:?}"
    );
}

crate::on_both_backends!(
    runs_abandoned_by_a_crashed_replica_end_failed,
    a_new_url_starts_the_backoff_again,
);

/// Starts a token endpoint (client `cid` / `csecret` gets `tok-live`) and
/// an MCP endpoint that requires that token.
async fn oauth2_fixture() -> Running {
    McpServer::new()
        .name("guarded")
        .tool("secret_tool", "")
        .token_endpoint_for("/token", "tok-live", "cid", "csecret")
        .bearer("tok-live")
        .start()
        .await
}

async fn oauth2_client_credentials_get_a_token_that_is_reused_until_it_expires(app: TestApp) {
    let upstream = oauth2_fixture().await;
    let port = upstream.port;
    let org = app.org("acme", Plan::Pro).await;
    let oauth = |secret: &str| {
        Some(pb::Credentials {
            kind: Some(pb::credentials::Kind::Oauth2ClientCredentials(
                pb::OAuth2ClientCredentials {
                    token_url: format!("http://127.0.0.1:{port}/token"),
                    client_id: "cid".into(),
                    client_secret: secret.into(),
                    scopes: vec!["tools.read".into()],
                },
            )),
        })
    };
    let mut input = server("guarded");
    input.url = format!("http://127.0.0.1:{port}/mcp");
    input.credentials = oauth("csecret");
    let created = app.create_server(&org.admin, input).await;
    for _ in 0..2 {
        let run = app.sync(&org.admin, &created.id).await;
        assert_eq!(run.tools.map(|t| t.count), Some(1));
    }
    assert_eq!(
        upstream.tokens_issued(),
        1,
        "the token is fetched once and reused"
    );

    // A client the token endpoint refuses: an auth failure, not a crash.
    let mut refused = server("refused");
    refused.url = format!("http://127.0.0.1:{port}/mcp");
    refused.credentials = oauth("wrong");
    let refused = app.create_server(&org.admin, refused).await;
    let result = app.try_sync(&org.admin, &refused.id).await;
    let status = assert_error(result, Code::Unavailable, "UPSTREAM_AUTH_FAILED");
    assert!(status.message().contains("token endpoint"), "{status:?}");
}

crate::on_both_backends_with!(crate::helpers::loopback();
    oauth2_client_credentials_get_a_token_that_is_reused_until_it_expires,
);
