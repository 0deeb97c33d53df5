//! One sync per server at a time, whoever asks: concurrent SyncMcpServer
//! calls share a run, a write made during a sync is synced again right after
//! it, and a shutdown lets running syncs finish within its grace period.

use std::time::Duration;

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Backend, Instance, Options, TestApp, TestDatabase, server};
use crate::mcp::{McpServer, Running};

/// Starts a fake MCP server (JSON answers, one tool) whose `initialize`
/// takes `delay`, on any path: a sync of it runs for about that long. Its
/// request log says which paths were initialized.
pub async fn slow_server(delay: Duration) -> Running {
    McpServer::new()
        .name("slow")
        .tool("wait", "waits")
        .delay("initialize", delay)
        .start()
        .await
}

/// Every run of a server, newest first.
pub async fn runs_of(
    channel: &tonic::transport::Channel,
    auth: &crate::helpers::Auth,
    server_id: &str,
) -> Vec<pb::SyncRun> {
    pb::sync_service_client::SyncServiceClient::with_interceptor(channel.clone(), auth.clone())
        .list_sync_runs(pb::ListSyncRunsRequest {
            server_id: server_id.into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("runs")
        .into_inner()
        .sync_runs
}

/// Waits (at most 30 s) until the server has a RUNNING run, and returns it.
pub async fn running_run(
    channel: &tonic::transport::Channel,
    auth: &crate::helpers::Auth,
    server_id: &str,
) -> pb::SyncRun {
    for _ in 0..600 {
        let runs = runs_of(channel, auth, server_id).await;
        if let Some(run) = runs
            .into_iter()
            .find(|r| r.outcome() == pb::SyncOutcome::Running)
        {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no sync of {server_id} started");
}

async fn concurrent_manual_syncs_of_one_server_share_one_run(app: TestApp) {
    let slow = slow_server(Duration::from_millis(800)).await;
    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("slow");
    input.url = slow.url("/mcp");
    let id = app.create_server(&org.admin, input).await.id;

    let mut first = app.sync_as(&org.admin);
    let first = {
        let id = id.clone();
        tokio::spawn(async move {
            first
                .sync_mcp_server(pb::SyncMcpServerRequest {
                    id,
                    ..Default::default()
                })
                .await
        })
    };
    let running = running_run(&app.channel, &org.viewer, &id).await;
    // A second caller while the first sync runs: no second sync.
    let second = app.sync(&org.admin, &running.server_id).await;
    let first = first.await.expect("task").expect("first call").into_inner();
    assert_eq!(first.id, running.id);
    assert_eq!(
        second.id, first.id,
        "the second call returned the run under way"
    );
    assert_eq!(second.outcome(), pb::SyncOutcome::Succeeded);
    assert_eq!(
        runs_of(&app.channel, &org.viewer, &first.server_id)
            .await
            .len(),
        1
    );
    assert_eq!(
        slow.paths_of("initialize").len(),
        1,
        "the upstream was synced once"
    );

    // Once it is over, the next call syncs again.
    let third = app.sync(&org.admin, &first.server_id).await;
    assert_ne!(third.id, first.id);
    assert_eq!(slow.paths_of("initialize").len(), 2);
}

async fn a_connection_changed_during_a_sync_is_synced_again_right_after_it(app: TestApp) {
    let slow = slow_server(Duration::from_millis(1500)).await;
    let org = app.org("acme", Plan::Pro).await;
    let mut input = server("slow");
    input.url = slow.url("/first");
    let created = app.create_server(&org.admin, input).await;
    // The background sync after the create is under way …
    running_run(&app.channel, &org.viewer, &created.id).await;
    // … when the url changes. The UPDATED sync cannot take the lease; the
    // server stays due, so the scheduler syncs the new url as soon as the
    // lease is released, not an interval (5 minutes here) later.
    let mut moved = created.clone();
    moved.url = slow.url("/second");
    app.servers_as(&org.admin)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(moved),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["url".into()],
            }),
        })
        .await
        .expect("move");
    for _ in 0..300 {
        if slow
            .paths_of("initialize")
            .iter()
            .any(|path| path == "/second")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        slow.paths_of("initialize"),
        vec!["/first".to_owned(), "/second".to_owned()],
        "the new url was synced after the running sync, and nothing overlapped"
    );
    let runs = runs_of(&app.channel, &org.viewer, &created.id).await;
    for pair in runs.windows(2) {
        if let (Some(newer), Some(older)) = (&pair[0].started_at, &pair[1].finished_at) {
            assert!(
                (newer.seconds, newer.nanos) >= (older.seconds, older.nanos),
                "runs overlap: {pair:?}"
            );
        }
    }
}

crate::on_both_backends_with!(crate::helpers::loopback();
    concurrent_manual_syncs_of_one_server_share_one_run,
);

crate::on_both_backends_with!(crate::helpers::Options { background_sync: true, ..crate::helpers::loopback() };
    a_connection_changed_during_a_sync_is_synced_again_right_after_it,
);

/// A shutdown stops starting syncs, lets those under way finish within the
/// grace period, cuts off the rest (their runs end FAILED, naming
/// themselves), releases every lease, and ends event streams with
/// UNAVAILABLE/SHUTTING_DOWN.
async fn shutdown_finishes_running_syncs_within_its_grace_period(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let quick = slow_server(Duration::from_millis(1500)).await;
    let stuck = slow_server(Duration::from_secs(25)).await;
    let master_key = mcp_registry::crypto::Keyring::generate_entry("test").expect("key");
    let options = Options {
        background_sync: true,
        shutdown_timeout: Some(Duration::from_secs(4)),
        sync_timeout: Some(Duration::from_secs(30)),
        ..crate::helpers::loopback()
    };
    let instance = Instance::start(&database, &master_key, &options).await;
    let store = mcp_registry::store::Store::connect(&database.url)
        .await
        .expect("store");
    let (_, auth) = crate::helpers::org_with_admin_key(&store, "acme", Plan::Pro).await;
    let mut servers = pb::mcp_server_service_client::McpServerServiceClient::with_interceptor(
        instance.channel.clone(),
        auth.clone(),
    );
    let mut watch = pb::sync_service_client::SyncServiceClient::with_interceptor(
        instance.channel.clone(),
        auth.clone(),
    )
    .watch_sync_events(pb::WatchSyncEventsRequest::default())
    .await
    .expect("watch")
    .into_inner();
    let mut ids = Vec::new();
    for (name, url) in [("quick", quick.url("/mcp")), ("stuck", stuck.url("/mcp"))] {
        let mut input = server(name);
        input.url = url;
        ids.push(crate::helpers::create_id(&mut servers, input).await);
    }
    let quick_run = running_run(&instance.channel, &auth, &ids[0]).await;
    let stuck_run = running_run(&instance.channel, &auth, &ids[1]).await;

    instance.stop().await;

    // The stream ended with SHUTTING_DOWN (after whatever events it carried).
    let ended = loop {
        match watch.message().await {
            Ok(Some(_event)) => {}
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert_eq!(
        ended
            .get_error_details()
            .error_info()
            .expect("error info")
            .reason,
        "SHUTTING_DOWN"
    );

    let quick_done = store
        .get_sync_run(&quick_run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(
        quick_done.outcome,
        mcp_registry::registry::runs::Outcome::Succeeded,
        "a sync shorter than the grace period finished: {quick_done:?}"
    );
    let stuck_done = store
        .get_sync_run(&stuck_run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(
        stuck_done.outcome,
        mcp_registry::registry::runs::Outcome::Failed,
        "{stuck_done:?}"
    );
    let error = stuck_done.error.expect("error");
    assert!(error.message.contains("shutdown"), "{}", error.message);
    assert_eq!(error.sync_run_id, stuck_run.id);
    let rows = store.dump_table("mcp_servers").await.expect("dump");
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert!(
            row.contains("\"lease_owner\":null"),
            "lease released: {row}"
        );
    }
    store.close().await.expect("close");
    database.drop_database().await;
}

mod shutdown_finishes_running_syncs_within_its_grace_period {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::shutdown_finishes_running_syncs_within_its_grace_period(super::Backend::Sqlite)
            .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::shutdown_finishes_running_syncs_within_its_grace_period(super::Backend::Postgres)
            .await;
    }
}

/// Many first syncs at once (one per new server) all store their results:
/// on SQLite a sync's transaction reads before it writes, and must wait for
/// the write lock rather than fail (none may end FAILED or stay RUNNING).
async fn concurrent_syncs_all_store_their_results(app: TestApp) {
    let upstream = slow_server(Duration::from_millis(100)).await;
    let org = app.org("acme", Plan::Pro).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let mut input = server(&format!("s{i}"));
        input.url = upstream.url(&format!("/s{i}"));
        ids.push(app.create_server(&org.admin, input).await.id);
    }
    for id in &ids {
        let mut finished = None;
        for _ in 0..300 {
            let runs = runs_of(&app.channel, &org.viewer, id).await;
            if let Some(run) = runs
                .iter()
                .find(|r| r.outcome() != pb::SyncOutcome::Running)
            {
                finished = Some(run.clone());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let run = finished.unwrap_or_else(|| panic!("no finished sync of {id}"));
        assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{run:?}");
    }
}

crate::on_both_backends_with!(crate::helpers::Options { background_sync: true, ..crate::helpers::loopback() };
    concurrent_syncs_all_store_their_results,
);

async fn the_scheduler_keeps_syncing_healthy_servers_while_others_hang_or_die(app: TestApp) {
    let healthy = slow_server(Duration::from_millis(20)).await;
    let dying = crate::mcp::closing_listener().await;
    let hanging = crate::helpers::hanging_upstream().await;
    let org = app.org("acme", Plan::Pro).await;
    let mut ids = Vec::new();
    for (name, url) in [
        ("healthy", healthy.url("/mcp")),
        ("dying", format!("http://127.0.0.1:{dying}/mcp")),
        ("hanging", format!("http://127.0.0.1:{hanging}/mcp")),
    ] {
        let mut input = server(name);
        input.url = url;
        ids.push(app.create_server(&org.admin, input).await.id);
    }
    // The healthy server is synced again and again, whatever the others do.
    let mut succeeded = 0;
    for _ in 0..300 {
        succeeded = runs_of(&app.channel, &org.viewer, &ids[0])
            .await
            .iter()
            .filter(|r| r.outcome() == pb::SyncOutcome::Succeeded)
            .count();
        if succeeded >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(succeeded >= 4, "healthy server synced {succeeded} times");
    // The dying one failed cleanly, as UNREACHABLE or a protocol error.
    let dying_runs = runs_of(&app.channel, &org.viewer, &ids[1]).await;
    let failed = dying_runs
        .iter()
        .find(|r| r.outcome() == pb::SyncOutcome::Failed)
        .expect("the dying server's sync failed");
    let reason = failed.error.as_ref().expect("error").reason();
    assert!(
        matches!(
            reason,
            pb::ErrorReason::UpstreamUnreachable | pb::ErrorReason::UpstreamProtocolError
        ),
        "{failed:?}"
    );
    assert!(
        dying_runs
            .iter()
            .all(|r| r.outcome() != pb::SyncOutcome::Succeeded)
    );
}

crate::on_both_backends_with!(crate::helpers::Options {
        background_sync: true,
        sync_interval: Some(std::time::Duration::from_millis(300)),
        sync_timeout: Some(std::time::Duration::from_secs(2)),
        ..crate::helpers::loopback()
    };
    the_scheduler_keeps_syncing_healthy_servers_while_others_hang_or_die,
);

/// Two replicas asked to sync one server at the same time: one sync, one run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_asked_to_sync_one_server_at_once_share_one_run() {
    use mcp_registry::crypto::Keyring;
    use mcp_registry::pb::mcp_server_service_client::McpServerServiceClient;
    use mcp_registry::pb::sync_service_client::SyncServiceClient;
    use mcp_registry::store::Store;

    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let master_key = Keyring::generate_entry("test").expect("key");
    let options = Options {
        sync_timeout: Some(Duration::from_secs(3)),
        ..crate::helpers::loopback()
    };
    // The replicas migrate the database before the admin writes below.
    let b = Instance::start(&database, &master_key, &options).await;
    let c = Instance::start(&database, &master_key, &options).await;
    let store = Store::connect(&database.url).await.expect("store");
    let (_, auth) = crate::helpers::org_with_admin_key(&store, "replicas", Plan::Pro).await;
    // Each sync takes 2 s: the second caller arrives while the first runs.
    let upstream = slow_server(Duration::from_secs(2)).await;
    let mut input = server("s0");
    input.url = upstream.url("/mcp");
    let target = McpServerServiceClient::with_interceptor(b.channel.clone(), auth.clone())
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(input),
        })
        .await
        .expect("create")
        .into_inner()
        .id;

    let mut on_b = SyncServiceClient::with_interceptor(b.channel.clone(), auth.clone());
    let first = {
        let target = target.clone();
        tokio::spawn(async move {
            on_b.sync_mcp_server(pb::SyncMcpServerRequest {
                id: target,
                ..Default::default()
            })
            .await
        })
    };
    let running = running_run(&c.channel, &auth, &target).await;
    let second = SyncServiceClient::with_interceptor(c.channel.clone(), auth.clone())
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: target,
            ..Default::default()
        })
        .await
        .expect("sync on c")
        .into_inner();
    let first = first.await.expect("task").expect("sync on b").into_inner();
    assert_eq!(first.id, running.id);
    assert_eq!(second.id, first.id, "both callers got the one run");
    assert_eq!(upstream.paths_of("initialize").len(), 1, "one sync");

    b.stop().await;
    c.stop().await;
    store.close().await.expect("close");
    database.drop_database().await;
}
