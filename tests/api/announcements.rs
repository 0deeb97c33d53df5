//! Upstream → registry: a `notifications/tools/list_changed` an upstream
//! sends on the session the pack gateway holds with it (Streamable HTTP's GET
//! stream) syncs that server at once, coalesced, instead of at its next
//! scheduled time (the tests' schedule never comes: background syncs are off).

use std::time::Duration;

use mcp_registry::pb;
use tokio::time::{Instant, sleep};

use crate::gateway::{Upstream, call, echo, echo_result, upstream_pack_of};
use crate::helpers::TestApp;
use crate::mcp::{McpServer, tool};

/// An upstream with a session and a GET stream, behind a one-member pack,
/// after one gateway call (which opens the pooled session and its stream).
async fn listened_pack(app: &TestApp) -> Upstream {
    let upstream = McpServer::new()
        .tool("echo", "Echoes its text")
        .bearer("t0k")
        .on("tools/call", echo_result)
        .sessions()
        .announcing();
    let u = upstream_pack_of(app, upstream, "t0k", pb::ApprovalPolicy::RequireNone).await;
    let (_, _, body) = call(&u.url, &u.served.org.member, echo("hello")).await;
    assert_eq!(
        body["result"]["structuredContent"]["echoed"], "hello",
        "{body}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while u.upstream.listeners() == 0 {
        assert!(
            Instant::now() < deadline,
            "the gateway's session opened no GET stream"
        );
        sleep(Duration::from_millis(20)).await;
    }
    u
}

/// The names of the tools the registry stores for the server.
async fn stored_tools(app: &TestApp, u: &Upstream) -> Vec<String> {
    let mut names: Vec<String> = app
        .servers_as(&u.served.org.admin)
        .list_server_tools(pb::ListServerToolsRequest {
            server_id: u.server_id.clone(),
            ..Default::default()
        })
        .await
        .expect("list tools")
        .into_inner()
        .tools
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.sort();
    names
}

/// The server's runs a change announcement caused: (how many, any still running).
pub(crate) async fn announced_runs(app: &TestApp, u: &Upstream) -> (usize, bool) {
    let runs = app.runs(&u.served.org.admin, &u.server_id).await;
    let announced: Vec<_> = runs
        .iter()
        .filter(|r| r.trigger == pb::SyncTrigger::ListChanged as i32)
        .collect();
    let running = announced
        .iter()
        .any(|r| r.outcome == pb::SyncOutcome::Running as i32);
    (announced.len(), running)
}

async fn an_announced_change_is_stored_without_waiting_for_the_schedule(app: TestApp) {
    let u = listened_pack(&app).await;
    assert_eq!(stored_tools(&app, &u).await, ["echo"]);
    u.upstream
        .set_tools([tool("echo", "Echoes its text"), tool("added", "New")]);
    assert_eq!(u.upstream.announce("notifications/tools/list_changed"), 1);
    // The bound: stored within 2 s of the announcement.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if stored_tools(&app, &u).await == ["added", "echo"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the announced change is not stored after 2 s"
        );
        sleep(Duration::from_millis(20)).await;
    }
    let (count, _) = announced_runs(&app, &u).await;
    assert!(count >= 1, "the sync is recorded with trigger LIST_CHANGED");
    // Removing works the same way, and prompts/resources announcements too.
    u.upstream.set_tools([tool("added", "New")]);
    assert_eq!(
        u.upstream.announce("notifications/resources/list_changed"),
        1
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while stored_tools(&app, &u).await != ["added"] {
        assert!(
            Instant::now() < deadline,
            "the removal is not stored after 2 s"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

async fn a_burst_of_announcements_gives_one_or_two_syncs(app: TestApp) {
    let u = listened_pack(&app).await;
    u.upstream
        .set_tools([tool("echo", "Echoes its text"), tool("burst", "New")]);
    for _ in 0..50 {
        assert_eq!(u.upstream.announce("notifications/tools/list_changed"), 1);
    }
    // Quiet: the change is stored and no announced sync is running or due.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (count, running) = announced_runs(&app, &u).await;
        if count > 0 && !running && stored_tools(&app, &u).await == ["burst", "echo"] {
            sleep(Duration::from_millis(500)).await;
            let (later, _) = announced_runs(&app, &u).await;
            if later == count {
                // One sync for the burst; a second only if some of the 50
                // arrived after the first had started.
                assert!((1..=2).contains(&count), "{count} syncs for a burst of 50");
                eprintln!("a burst of 50 announcements gave {count} sync(s)");
                return;
            }
        }
        assert!(Instant::now() < deadline, "the burst's syncs never settled");
        sleep(Duration::from_millis(50)).await;
    }
}

async fn a_disabled_server_is_not_synced_on_announcement(app: TestApp) {
    let u = listened_pack(&app).await;
    // A disabled server is never synced, announcement or not.
    let admin = &u.served.org.admin;
    let change = pb::McpServer {
        id: u.server_id.clone(),
        enabled: Some(false),
        ..Default::default()
    };
    app.servers_as(admin)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(change),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["enabled".into()],
            }),
        })
        .await
        .expect("disable");
    u.upstream.announce("notifications/tools/list_changed");
    sleep(Duration::from_millis(500)).await;
    let (count, _) = announced_runs(&app, &u).await;
    assert_eq!(count, 0, "a disabled server is not synced on announcement");
}

crate::on_both_backends_with!(super::super::gateway::upstreams();
    an_announced_change_is_stored_without_waiting_for_the_schedule,
);

crate::on_sqlite_with!(super::super::gateway::upstreams();
    a_burst_of_announcements_gives_one_or_two_syncs,
    a_disabled_server_is_not_synced_on_announcement,
);

/// Waits until a sync that an announcement caused has run and none is running.
pub(crate) async fn announced_sync_done(app: &TestApp, u: &Upstream) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (count, running) = announced_runs(app, u).await;
        if count > 0 && !running {
            return;
        }
        assert!(Instant::now() < deadline, "no announced sync finished");
        sleep(Duration::from_millis(20)).await;
    }
}

/// [`upstreams`](crate::gateway::upstreams) with watches on.
fn watching() -> crate::helpers::Options {
    crate::helpers::Options {
        upstream_watches: 4,
        ..crate::gateway::upstreams()
    }
}

/// An announcing upstream registered and synced (not used through a pack).
async fn registered(
    app: &TestApp,
    org: &str,
    upstream: McpServer,
) -> (crate::mcp::Running, String, crate::helpers::Auth) {
    let upstream = upstream.start().await;
    let org = app.org(org, mcp_registry::registry::Plan::Pro).await;
    let mut input = crate::helpers::server("watched");
    input.url = upstream.url("/mcp");
    let created = app.create_server(&org.admin, input).await;
    app.sync(&org.admin, &created.id).await;
    (upstream, created.id, org.admin)
}

async fn the_scheduler_watches_a_server_that_announces_changes(app: TestApp) {
    let fake = McpServer::new()
        .tool("echo", "Echoes")
        .sessions()
        .announcing();
    let (upstream, id, admin) = registered(&app, "acme", fake).await;
    // Nobody calls it through the gateway: the scheduler's watch opens the stream.
    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream.listeners() == 0 {
        assert!(
            Instant::now() < deadline,
            "no watch opened the server's GET stream"
        );
        sleep(Duration::from_millis(20)).await;
    }
    upstream.set_tools([tool("echo", "Echoes"), tool("watched", "New")]);
    assert_eq!(upstream.announce("notifications/tools/list_changed"), 1);
    let names = || async {
        let mut names: Vec<String> = app
            .servers_as(&admin)
            .list_server_tools(pb::ListServerToolsRequest {
                server_id: id.clone(),
                ..Default::default()
            })
            .await
            .expect("tools")
            .into_inner()
            .tools
            .into_iter()
            .map(|t| t.name)
            .collect();
        names.sort();
        names
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while names().await != ["echo", "watched"] {
        assert!(
            Instant::now() < deadline,
            "the announced change is not stored after 2 s"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

async fn a_server_that_announces_nothing_is_not_watched(app: TestApp) {
    // It offers a GET stream, but does not announce `listChanged`.
    let fake = McpServer::new().tool("echo", "Echoes").sessions();
    let (upstream, _, _) = registered(&app, "acme", fake).await;
    let announcing = McpServer::new().tool("echo", "Echoes").announcing();
    let (watched, _, _) = registered(&app, "other", announcing).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while watched.listeners() == 0 {
        assert!(
            Instant::now() < deadline,
            "the announcing server is never watched"
        );
        sleep(Duration::from_millis(20)).await;
    }
    // The watch routine has run: the other server got no GET.
    assert_eq!(upstream.count(axum::http::Method::GET), 0);
}

crate::on_both_backends_with!(super::watching();
    the_scheduler_watches_a_server_that_announces_changes,
);

crate::on_sqlite_with!(super::watching();
    a_server_that_announces_nothing_is_not_watched,
);

/// Two replicas watching on one PostgreSQL database: one watch per server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_watch_one_server_twice() {
    use crate::helpers::{Backend, Instance, TestDatabase, org_with_admin_key};
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let master_key = mcp_registry::crypto::Keyring::generate_entry("test").expect("key");
    let options = watching();
    let a = Instance::start(&database, &master_key, &options).await;
    let b = Instance::start(&database, &master_key, &options).await;
    let store = mcp_registry::store::Store::connect(&database.url)
        .await
        .expect("store");
    let (_, admin) = org_with_admin_key(&store, "acme", mcp_registry::registry::Plan::Pro).await;
    let fakes = [
        McpServer::new().tool("a", "A").announcing().start().await,
        McpServer::new().tool("b", "B").announcing().start().await,
        McpServer::new().tool("c", "C").announcing().start().await,
    ];
    for (i, fake) in fakes.iter().enumerate() {
        let client = if i % 2 == 0 { &a } else { &b };
        let mut input = crate::helpers::server(&format!("watched-{i}"));
        input.url = fake.url("/mcp");
        let created = pb::mcp_server_service_client::McpServerServiceClient::with_interceptor(
            client.channel.clone(),
            admin.clone(),
        )
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(input),
        })
        .await
        .expect("create")
        .into_inner();
        pb::sync_service_client::SyncServiceClient::with_interceptor(
            client.channel.clone(),
            admin.clone(),
        )
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: created.id,
            ..Default::default()
        })
        .await
        .expect("sync");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while fakes.iter().any(|f| f.listeners() == 0) {
        assert!(Instant::now() < deadline, "not every server is watched");
        sleep(Duration::from_millis(20)).await;
    }
    // Both replicas claim every second: after a few rounds, still one each.
    sleep(Duration::from_secs(3)).await;
    for fake in &fakes {
        assert_eq!(
            fake.count(axum::http::Method::GET),
            1,
            "one watch per server, across replicas"
        );
    }
    a.stop().await;
    b.stop().await;
    database.drop_database().await;
}
