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
