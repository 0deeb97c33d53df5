//! Text search: SearchTools over 2,000 tools of 100 servers synced from fake
//! upstreams (90 of organization acme, 10 in the catalog) plus another
//! organization's server whose tools must never appear; and the text and
//! tool-name filters of ListMcpServers and ListPacks.
//!
//! The fixture makes the rank order unambiguous on both backends: every tool
//! has a two-token name, a two-token title and a three-token description
//! (SQLite's bm25 weighs a match by the length of the whole document), so
//! tools that match in the same column score the same, and their order is
//! the tie-break (server id, then tool name; servers are created in index
//! order).

use std::collections::HashSet;

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use serde_json::{Value, json};
use tonic::{Code, Status};

use crate::helpers::{Auth, Org, TestApp, assert_error, server, violated_fields};
use crate::mcp::{McpServer, Running};

/// Servers of acme (`s00`…`s89`); `c90`…`c99` are catalog servers.
const OWN: usize = 90;
const SERVERS: usize = 100;
const TOOLS: usize = 20;

/// Tool `j` of server `i`: a filler unless the fixture gives it a part.
fn fixture_tool(i: usize, j: usize) -> Value {
    let plain = |name: String, description: &str| {
        json!({"name": name, "title": "Filler tool", "description": description,
            "inputSchema": {"type": "object"}})
    };
    match (i, j) {
        // "jira" in the name.
        (3 | 17 | 42, 0) => plain("jira_sync".into(), "plain filler text"),
        // "jira" in the title (the MCP `title`, or `annotations.title`).
        (5, 0) => json!({"name": "board_sync", "title": "Jira board",
            "description": "plain filler text", "inputSchema": {"type": "object"}}),
        (60, 0) => json!({"name": "board_sync", "annotations": {"title": "Jira board"},
            "description": "plain filler text", "inputSchema": {"type": "object"}}),
        // "jira" in the description.
        (8 | 77 | 90, 0) => plain("feed_sync".into(), "plain jira text"),
        // The phrase "create issue", its words in the other order, and apart.
        (10 | 11, 1) => plain("create_issue".into(), "plain filler text"),
        (12, 1) => plain("issue_create".into(), "plain filler text"),
        (13, 1) => plain("triage_tool".into(), "create plain issue"),
        // Prefix "deplo*".
        (20, 2) => plain("deploy_app".into(), "plain filler text"),
        (21, 2) => plain("deployment_status".into(), "plain filler text"),
        // Twice "plain": ranks before every other "plain" tool.
        (_, 19) => plain(format!("t{i}_{j}"), "plain plain text"),
        _ => plain(format!("t{i}_{j}"), "plain filler text"),
    }
}

fn server_name(i: usize) -> String {
    if i < OWN {
        format!("s{i:02}")
    } else {
        format!("c{i:02}")
    }
}

/// The fixture: its organizations, its servers' ids by index, the
/// upstreams (kept alive) and a pack of acme holding s17 and s60.
struct Fixture {
    acme: Org,
    other: Org,
    ids: Vec<String>,
    upstreams: Vec<Running>,
    theirs: String,
    pack: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let acme = app.org("acme", Plan::Enterprise).await;
    let other = app.org("other", Plan::Enterprise).await;
    let mut ids = Vec::new();
    let mut upstreams = Vec::new();
    for i in 0..SERVERS {
        let upstream = McpServer::new()
            .tools((0..TOOLS).map(|j| fixture_tool(i, j)))
            .start()
            .await;
        let mut s = server(&server_name(i));
        s.url = upstream.url("/mcp");
        s.category = if i < 50 { "dev" } else { "ops" }.into();
        if i == 3 {
            s.display_name = "Jira Cloud".into();
        }
        if i == 60 {
            s.description = "Tracks jira tickets".into();
        }
        if i == 17 || i == 42 {
            s.approval_policy = pb::ApprovalPolicy::RequireAll as i32;
        }
        let owner = if i < OWN {
            &acme.admin
        } else {
            s.visibility = pb::Visibility::Catalog as i32;
            &app.platform
        };
        let created = app.create_server(owner, s).await;
        let run = app.sync(owner, &created.id).await;
        assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{run:?}");
        ids.push(created.id);
        upstreams.push(upstream);
    }
    // Another organization's server with the same words.
    let upstream = McpServer::new()
        .tools([fixture_tool(3, 0), fixture_tool(10, 1), fixture_tool(20, 2)])
        .start()
        .await;
    let mut s = server("theirs");
    s.url = upstream.url("/mcp");
    s.display_name = "Jira Cloud".into();
    let theirs = app.create_server(&other.admin, s).await.id;
    app.sync(&other.admin, &theirs).await;
    upstreams.push(upstream);
    // s17's jira_sync is approved; s42's is not.
    approve(app, &acme.admin, &ids[17]).await;
    let pack = app
        .packs_as(&acme.admin)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "trackers".into(),
                description: "Issue trackers for the support team".into(),
                servers: [17, 60]
                    .iter()
                    .map(|i| pb::PackServer {
                        server_id: ids[*i].clone(),
                        name: String::new(),
                    })
                    .collect(),
                ..Default::default()
            }),
        })
        .await
        .expect("create pack")
        .into_inner()
        .id;
    Fixture {
        acme,
        other,
        ids,
        upstreams,
        theirs,
        pack,
    }
}

async fn approve(app: &TestApp, auth: &Auth, server_id: &str) {
    app.servers_as(auth)
        .approve_tools(pb::ApproveToolsRequest {
            server_id: server_id.into(),
            all_tools: true,
            ..Default::default()
        })
        .await
        .expect("approve");
}

async fn search(
    app: &TestApp,
    auth: &Auth,
    request: pb::SearchToolsRequest,
) -> Result<pb::SearchToolsResponse, Status> {
    app.servers_as(auth)
        .search_tools(request)
        .await
        .map(|r| r.into_inner())
}

fn query(text: &str) -> pb::SearchToolsRequest {
    pb::SearchToolsRequest {
        query: text.into(),
        page_size: 1000,
        ..Default::default()
    }
}

/// `server/tool` of every hit of `request` (one page), after checking that
/// `total_size` counts them and that scores never rise.
async fn found(app: &TestApp, auth: &Auth, request: pb::SearchToolsRequest) -> Vec<String> {
    let answer = search(app, auth, request).await.expect("search");
    assert_eq!(answer.total_size as usize, answer.hits.len());
    assert!(answer.next_page_token.is_empty());
    for pair in answer.hits.windows(2) {
        assert!(pair[0].score >= pair[1].score, "{pair:?}");
    }
    answer
        .hits
        .into_iter()
        .map(|hit| format!("{}/{}", hit.server_name, hit.tool_name))
        .collect()
}

async fn tools_are_found_by_word_prefix_and_phrase_in_rank_order(app: TestApp) {
    let f = fixture(&app).await;
    let viewer = &f.acme.viewer;
    // Name outranks title outranks description; ties by server id.
    let jira = [
        "s03/jira_sync",
        "s17/jira_sync",
        "s42/jira_sync",
        "s05/board_sync",
        "s60/board_sync",
        "s08/feed_sync",
        "s77/feed_sync",
        "c90/feed_sync",
    ];
    assert_eq!(found(&app, viewer, query("jira")).await, jira);
    assert_eq!(found(&app, viewer, query("JIRA")).await, jira);
    // Every word must match; punctuation separates words.
    assert_eq!(
        found(&app, viewer, query("create issue")).await,
        [
            "s10/create_issue",
            "s11/create_issue",
            "s12/issue_create",
            "s13/triage_tool"
        ]
    );
    assert_eq!(
        found(&app, viewer, query("jira board")).await,
        ["s05/board_sync", "s60/board_sync"]
    );
    // A phrase keeps its words together and in order.
    assert_eq!(
        found(&app, viewer, query("\"create issue\"")).await,
        ["s10/create_issue", "s11/create_issue"]
    );
    assert_eq!(
        found(&app, viewer, query("create_issue")).await,
        ["s10/create_issue", "s11/create_issue"]
    );
    // A prefix.
    assert_eq!(
        found(&app, viewer, query("deplo*")).await,
        ["s20/deploy_app", "s21/deployment_status"]
    );
    assert_eq!(
        found(&app, viewer, query("deplo")).await,
        Vec::<String>::new()
    );
    // Another organization's tools never appear; it sees the catalog's.
    assert_eq!(
        found(&app, &f.other.viewer, query("jira")).await,
        ["theirs/jira_sync", "c90/feed_sync"]
    );
    // A platform-admin key sees the catalog.
    assert_eq!(
        found(&app, &app.platform, query("jira")).await,
        ["c90/feed_sync"]
    );
    drop(f.upstreams);
}

async fn tool_searches_filter_by_server_category_approval_and_pack(app: TestApp) {
    let f = fixture(&app).await;
    let viewer = &f.acme.viewer;
    let by = |tweak: fn(&mut pb::SearchToolsRequest, &Fixture)| {
        let mut request = query("jira");
        tweak(&mut request, &f);
        request
    };
    let server = by(|r, f| r.server_id = f.ids[60].clone());
    assert_eq!(found(&app, viewer, server).await, ["s60/board_sync"]);
    let theirs = by(|r, f| r.server_id = f.theirs.clone());
    assert_eq!(found(&app, viewer, theirs).await, Vec::<String>::new());
    let dev = by(|r, _| r.category = "dev".into());
    assert_eq!(
        found(&app, viewer, dev).await,
        [
            "s03/jira_sync",
            "s17/jira_sync",
            "s42/jira_sync",
            "s05/board_sync",
            "s08/feed_sync"
        ]
    );
    let approved = by(|r, _| r.approval_states = vec![pb::ToolApprovalState::Approved as i32]);
    assert_eq!(found(&app, viewer, approved).await, ["s17/jira_sync"]);
    let pending = by(|r, _| r.approval_states = vec![pb::ToolApprovalState::NotApproved as i32]);
    assert_eq!(found(&app, viewer, pending).await, ["s42/jira_sync"]);
    let either = by(|r, _| {
        r.approval_states = vec![
            pb::ToolApprovalState::NotApproved as i32,
            pb::ToolApprovalState::Approved as i32,
        ]
    });
    assert_eq!(
        found(&app, viewer, either).await,
        ["s17/jira_sync", "s42/jira_sync"]
    );
    let free = by(|r, _| r.approval_states = vec![pb::ToolApprovalState::NotRequired as i32]);
    assert_eq!(found(&app, viewer, free).await.len(), 6);
    let pack = by(|r, f| r.pack_id = f.pack.clone());
    assert_eq!(
        found(&app, viewer, pack).await,
        ["s17/jira_sync", "s60/board_sync"]
    );
    // Another organization's pack holds nothing for this caller.
    let foreign = by(|r, f| r.pack_id = f.pack.clone());
    assert_eq!(
        found(&app, &f.other.viewer, foreign).await,
        Vec::<String>::new()
    );
    // include_packs: each hit names the caller's packs holding its server.
    let mut request = query("jira");
    request.include_packs = true;
    let answer = search(&app, viewer, request).await.expect("search");
    for hit in &answer.hits {
        let expected = if hit.server_id == f.ids[17] || hit.server_id == f.ids[60] {
            vec![f.pack.clone()]
        } else {
            Vec::new()
        };
        assert_eq!(hit.pack_ids, expected, "{hit:?}");
    }
    let titled = answer.hits.iter().find(|h| h.server_id == f.ids[60]);
    assert_eq!(titled.map(|h| h.title.as_str()), Some("Jira board"));
    assert_eq!(answer.hits[0].description, "plain filler text");
    drop(f.upstreams);
}

async fn a_search_pages_through_every_hit_once_in_rank_order(app: TestApp) {
    let f = fixture(&app).await;
    let mut seen = Vec::new();
    let mut token = String::new();
    let total = loop {
        let answer = search(
            &app,
            &f.acme.viewer,
            pb::SearchToolsRequest {
                query: "plain".into(),
                page_size: 150,
                page_token: token,
                ..Default::default()
            },
        )
        .await
        .expect("page");
        let total = answer.total_size;
        seen.extend(
            (answer.hits.into_iter()).map(|h| (h.server_id, h.tool_name, h.score.to_bits())),
        );
        token = answer.next_page_token;
        if token.is_empty() {
            break total;
        }
    };
    assert_eq!(total as usize, SERVERS * TOOLS);
    assert_eq!(seen.len(), SERVERS * TOOLS);
    let unique: HashSet<_> = seen.iter().map(|(s, t, _)| (s, t)).collect();
    assert_eq!(unique.len(), seen.len(), "a hit came twice");
    // The "plain plain" tools first (by server, then name), then the others.
    let mut expected: Vec<(bool, String, String)> = Vec::new();
    for (i, id) in f.ids.iter().enumerate() {
        for j in 0..TOOLS {
            let name = fixture_tool(i, j)["name"].as_str().unwrap().to_owned();
            expected.push((j != 19, id.clone(), name));
        }
    }
    expected.sort();
    let got: Vec<(String, String)> = seen.into_iter().map(|(s, t, _)| (s, t)).collect();
    let expected: Vec<(String, String)> = expected.into_iter().map(|(_, s, t)| (s, t)).collect();
    if let Some(at) = (0..expected.len()).find(|i| got.get(*i) != expected.get(*i)) {
        let window = at.saturating_sub(2)..(at + 3).min(got.len());
        panic!(
            "hit {at} differs: got {:?}, expected {:?}",
            &got[window.clone()],
            &expected[window.start..(at + 3).min(expected.len())]
        );
    }
    drop(f.upstreams);
}

async fn search_results_follow_syncs_that_add_change_and_remove_tools(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let tool = |name: &str, description: &str| json!({"name": name, "description": description, "inputSchema": {"type": "object"}});
    let upstream = McpServer::new()
        .tools([tool("alpha", "old words"), tool("beta", "gone soon")])
        .start()
        .await;
    let mut s = server("moving");
    s.url = upstream.url("/mcp");
    s.approval_policy = pb::ApprovalPolicy::RequireAll as i32;
    let s = app.create_server(&acme.admin, s).await;
    app.sync(&acme.admin, &s.id).await;
    approve(&app, &acme.admin, &s.id).await;
    let viewer = &acme.viewer;
    assert_eq!(found(&app, viewer, query("old")).await, ["moving/alpha"]);
    assert_eq!(found(&app, viewer, query("gone")).await, ["moving/beta"]);

    upstream.set_tools([tool("alpha", "new words"), tool("gamma", "fresh arrival")]);
    let run = app.sync(&acme.admin, &s.id).await;
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded);
    // As soon as the sync answers: changed, added and removed tools follow.
    assert_eq!(
        found(&app, viewer, query("old")).await,
        Vec::<String>::new()
    );
    assert_eq!(found(&app, viewer, query("new")).await, ["moving/alpha"]);
    assert_eq!(
        found(&app, viewer, query("gone")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        found(&app, viewer, query("beta")).await,
        Vec::<String>::new()
    );
    assert_eq!(found(&app, viewer, query("fresh")).await, ["moving/gamma"]);
    // alpha changed since its approval; gamma was never approved.
    let state = |state: pb::ToolApprovalState| {
        let mut request = query("words");
        request.approval_states = vec![state as i32];
        request
    };
    let changed = state(pb::ToolApprovalState::ChangedSinceApproval);
    assert_eq!(found(&app, viewer, changed).await, ["moving/alpha"]);
    let mut fresh = query("fresh");
    fresh.approval_states = vec![pb::ToolApprovalState::NotApproved as i32];
    assert_eq!(found(&app, viewer, fresh).await, ["moving/gamma"]);
    let approved = state(pb::ToolApprovalState::Approved);
    assert_eq!(found(&app, viewer, approved).await, Vec::<String>::new());

    // A deleted server's tools go with it.
    app.servers_as(&acme.admin)
        .delete_mcp_server(pb::DeleteMcpServerRequest {
            id: s.id.clone(),
            ..Default::default()
        })
        .await
        .expect("delete");
    assert_eq!(
        found(&app, viewer, query("new")).await,
        Vec::<String>::new()
    );
}

async fn invalid_searches_are_refused_with_the_field_named(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let viewer = &acme.viewer;
    let refused = |request: pb::SearchToolsRequest| {
        let app = &app;
        async move {
            let status = assert_error(
                search(app, viewer, request).await,
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
            );
            violated_fields(&status)
        }
    };
    for bad in ["", "   ", "*", "-- !!", "\"unclosed", &"x".repeat(257)] {
        assert_eq!(refused(query(bad)).await, ["query"], "{bad:?}");
    }
    let many = vec!["w"; 17].join(" ");
    assert_eq!(refused(query(&many)).await, ["query"]);
    let bad_filters = pb::SearchToolsRequest {
        query: "jira".into(),
        page_size: -1,
        page_token: "not-a-token".into(),
        server_id: "pack_0123".into(),
        category: "Not A Category!".into(),
        approval_states: vec![0, 99],
        pack_id: "mcp_x".into(),
        include_packs: false,
    };
    assert_eq!(
        refused(bad_filters).await,
        [
            "server_id",
            "pack_id",
            "category",
            "approval_states[0]",
            "approval_states[1]",
            "page_size",
            "page_token"
        ]
    );
    // A token is bound to the query and the filters it was issued for.
    let upstream = McpServer::new()
        .tools((0..3).map(|i| json!({"name": format!("same_{i}"), "inputSchema": {}})))
        .start()
        .await;
    let mut s = server("tools");
    s.url = upstream.url("/mcp");
    let s = app.create_server(&acme.admin, s).await;
    app.sync(&acme.admin, &s.id).await;
    let mut first = query("same");
    first.page_size = 1;
    let token = search(&app, viewer, first.clone())
        .await
        .expect("first page")
        .next_page_token;
    assert!(!token.is_empty());
    let mut next = first.clone();
    next.page_token = token.clone();
    assert_eq!(
        search(&app, viewer, next).await.expect("next").hits.len(),
        1
    );
    let mut moved = query("same*");
    moved.page_size = 1;
    moved.page_token = token.clone();
    assert_eq!(refused(moved).await, ["page_token"]);
    let mut filtered = first.clone();
    filtered.server_id = s.id.clone();
    filtered.page_token = token;
    assert_eq!(refused(filtered).await, ["page_token"]);
    drop(upstream);
}

async fn servers_are_listed_by_text_and_by_tool_name(app: TestApp) {
    let f = fixture(&app).await;
    let list = |filter: pb::McpServerFilter, include_catalog: bool| {
        let app = &app;
        let viewer = f.acme.viewer.clone();
        async move {
            let listed = app
                .servers_as(&viewer)
                .list_mcp_servers(pb::ListMcpServersRequest {
                    page_size: 1000,
                    filter: Some(filter),
                    include_catalog,
                    ..Default::default()
                })
                .await
                .expect("list")
                .into_inner();
            assert_eq!(listed.total_size as usize, listed.mcp_servers.len());
            listed
                .mcp_servers
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
        }
    };
    let text = |q: &str| pb::McpServerFilter {
        query: q.into(),
        ..Default::default()
    };
    // Display name (s03) and description (s60); oldest first; not theirs.
    assert_eq!(list(text("jira"), true).await, ["s03", "s60"]);
    assert_eq!(list(text("jira clo*"), true).await, ["s03"]);
    assert_eq!(list(text("\"jira tickets\""), true).await, ["s60"]);
    assert_eq!(list(text("s42"), true).await, ["s42"]);
    let tool = |name: &str| pb::McpServerFilter {
        tool_name: name.into(),
        ..Default::default()
    };
    assert_eq!(list(tool("jira_sync"), false).await, ["s03", "s17", "s42"]);
    assert_eq!(list(tool("feed_sync"), true).await, ["s08", "s77", "c90"]);
    assert_eq!(list(tool("feed_sync"), false).await, ["s08", "s77"]);
    assert_eq!(list(tool("jira"), true).await, Vec::<String>::new());
    let both = pb::McpServerFilter {
        query: "jira".into(),
        tool_name: "board_sync".into(),
        category: "ops".into(),
        ..Default::default()
    };
    assert_eq!(list(both, false).await, ["s60"]);

    // A change of description moves the server in and out of the results.
    let mut patch = server("s42");
    patch.id = f.ids[42].clone();
    patch.description = "Mirrors jira projects".into();
    app.servers_as(&f.acme.admin)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(patch),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["description".into()],
            }),
        })
        .await
        .expect("update");
    assert_eq!(list(text("jira"), true).await, ["s03", "s42", "s60"]);
    // A tool a sync removes stops naming its server.
    f.upstreams[42].set_tools([fixture_tool(0, 5)]);
    app.sync(&f.acme.admin, &f.ids[42]).await;
    assert_eq!(list(tool("jira_sync"), false).await, ["s03", "s17"]);

    let status = assert_error(
        app.servers_as(&f.acme.viewer)
            .list_mcp_servers(pb::ListMcpServersRequest {
                filter: Some(pb::McpServerFilter {
                    query: "\"open".into(),
                    tool_name: "has space".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        violated_fields(&status),
        ["filter.query", "filter.tool_name"]
    );
}

async fn packs_are_listed_by_text(app: TestApp) {
    let acme = app.org("acme", Plan::Enterprise).await;
    let other = app.org("other", Plan::Enterprise).await;
    let create = |auth: &Auth, name: &str, description: &str| {
        let mut packs = app.packs_as(auth);
        let request = pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: name.into(),
                description: description.into(),
                ..Default::default()
            }),
        };
        async move { packs.create_pack(request).await.expect("pack").into_inner() }
    };
    create(&acme.admin, "trackers", "Issue trackers for support").await;
    create(&acme.admin, "deploys", "Release and deployment tools").await;
    let renamed = create(&acme.admin, "misc", "Odds and ends").await;
    create(&other.admin, "trackers", "Issue trackers").await;
    let list = |q: &str| {
        let mut packs = app.packs_as(&acme.viewer);
        let request = pb::ListPacksRequest {
            query: q.into(),
            ..Default::default()
        };
        async move {
            let listed = packs.list_packs(request).await.expect("list").into_inner();
            assert_eq!(listed.total_size as usize, listed.packs.len());
            listed.packs.into_iter().map(|p| p.name).collect::<Vec<_>>()
        }
    };
    assert_eq!(list("issue").await, ["trackers"]);
    assert_eq!(list("deploy*").await, ["deploys"]);
    assert_eq!(list("\"release and\"").await, ["deploys"]);
    assert_eq!(list("tools").await, ["deploys"]);
    assert_eq!(list("nothing").await, Vec::<String>::new());
    // A rename is searchable at once.
    app.packs_as(&acme.admin)
        .update_pack(pb::UpdatePackRequest {
            pack: Some(pb::Pack {
                id: renamed.id.clone(),
                name: "incident-trackers".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
        })
        .await
        .expect("rename");
    assert_eq!(list("trackers").await, ["trackers", "incident-trackers"]);
    assert_eq!(list("misc").await, Vec::<String>::new());
    let status = assert_error(
        app.packs_as(&acme.viewer)
            .list_packs(pb::ListPacksRequest {
                query: "\"open".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), ["query"]);
}

crate::on_both_backends_with!(crate::helpers::loopback();
    tools_are_found_by_word_prefix_and_phrase_in_rank_order,
    tool_searches_filter_by_server_category_approval_and_pack,
    a_search_pages_through_every_hit_once_in_rank_order,
    search_results_follow_syncs_that_add_change_and_remove_tools,
    invalid_searches_are_refused_with_the_field_named,
    servers_are_listed_by_text_and_by_tool_name,
    packs_are_listed_by_text,
);
