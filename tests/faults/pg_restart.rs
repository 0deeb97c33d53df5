//! The service's PostgreSQL restarted under a bounded mixed load: during the
//! outage calls answer UNAVAILABLE and health is NOT_SERVING; afterwards the
//! service recovers by itself and no acknowledged write is missing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mcp_registry::pb;
use mcp_registry::pb::mcp_server_service_client::McpServerServiceClient;
use tokio::sync::Mutex;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Auth, server};
use crate::postgres::{OwnPostgres, required};
use crate::process::{Served, admin_cli};

async fn health(channel: &tonic::transport::Channel) -> Option<ServingStatus> {
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .ok()
        .map(|r| r.into_inner().status())
}

async fn wait_for_health(channel: &tonic::transport::Channel, wanted: ServingStatus) {
    for _ in 0..600 {
        if health(channel).await == Some(wanted) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("health never became {wanted:?}");
}

#[derive(Default)]
struct Outcomes {
    acknowledged: BTreeSet<String>,
    ok: u64,
    unavailable: u64,
    other: Vec<String>,
}

/// Creates an ENTERPRISE organization and an ADMIN key with the admin CLI.
async fn admin_key(env: &[(&str, &str)]) -> Auth {
    let org = admin_cli(
        env,
        &["create-org", "--name", "load", "--plan", "enterprise"],
    )
    .await;
    let org_id = org["organization_id"].as_str().expect("org id");
    let args = ["create-key", "--org", org_id, "--role", "admin"];
    let key = admin_cli(env, &args).await;
    Auth::Pair(
        key["api_key_id"].as_str().expect("id").to_owned(),
        key["secret"].as_str().expect("secret").to_owned(),
    )
}

/// Starts a bounded load: four writers, two readers, until `stop`; each
/// outcome goes to `outcomes`.
fn start_load(
    channel: &tonic::transport::Channel,
    auth: &Auth,
    stop: &Arc<AtomicBool>,
    outcomes: &Arc<Mutex<Outcomes>>,
) -> tokio::task::JoinSet<()> {
    let mut load = tokio::task::JoinSet::new();
    for writer in 0..6 {
        let stop = Arc::clone(stop);
        let outcomes = Arc::clone(outcomes);
        let mut client = McpServerServiceClient::with_interceptor(channel.clone(), auth.clone());
        load.spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 5_000 {
                n += 1;
                let result = if writer < 4 {
                    client
                        .create_mcp_server(pb::CreateMcpServerRequest {
                            mcp_server: Some(server(&format!("w{writer}-{n}"))),
                        })
                        .await
                        .map(|r| Some(r.into_inner().id))
                } else {
                    client
                        .list_mcp_servers(pb::ListMcpServersRequest::default())
                        .await
                        .map(|_| None)
                };
                let mut seen = outcomes.lock().await;
                match result {
                    Ok(created) => {
                        seen.ok += 1;
                        seen.acknowledged.extend(created);
                    }
                    Err(status) if status.code() == Code::Unavailable => seen.unavailable += 1,
                    Err(status) => seen.other.push(format!("{status:?}")),
                }
                drop(seen);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    load
}

/// Returns the id of every stored server.
async fn stored_ids(channel: &tonic::transport::Channel, auth: &Auth) -> BTreeSet<String> {
    let mut stored = BTreeSet::new();
    let mut page_token = String::new();
    let mut client = McpServerServiceClient::with_interceptor(channel.clone(), auth.clone());
    loop {
        let page = client
            .list_mcp_servers(pb::ListMcpServersRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        stored.extend(page.mcp_servers.into_iter().map(|s| s.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_loses_no_acknowledged_write() {
    let Some(postgres) = OwnPostgres::start() else {
        assert!(
            !required(),
            "CI=true needs PostgreSQL binaries and the postgres user to run a cluster of the test's own"
        );
        eprintln!("skipping: cannot run a PostgreSQL cluster of the test's own here");
        return;
    };
    let master_key = mcp_registry::crypto::Keyring::generate_entry("test").expect("key");
    let url = postgres.url();
    let env = [
        ("MCP_REGISTRY_DATABASE_URL", url.as_str()),
        ("MCP_REGISTRY_MASTER_KEYS", master_key.as_str()),
    ];
    let served = Served::start(&env).await;
    let auth = admin_key(&env).await;
    let channel = served.channel().await;
    wait_for_health(&channel, ServingStatus::Serving).await;

    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let mut load = start_load(&channel, &auth, &stop, &outcomes);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before_outage = outcomes.lock().await.ok;
    assert!(before_outage > 0, "the load ran before the outage");

    // The outage.
    assert!(postgres.down(), "stop PostgreSQL");
    wait_for_health(&channel, ServingStatus::NotServing).await;
    let status = McpServerServiceClient::with_interceptor(channel.clone(), auth.clone())
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(server("during-outage")),
        })
        .await
        .expect_err("no database, no write");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    // The recovery, without a restart of the service.
    assert!(postgres.up(), "start PostgreSQL again");
    wait_for_health(&channel, ServingStatus::Serving).await;
    let mut recovered = false;
    for _ in 0..100 {
        if McpServerServiceClient::with_interceptor(channel.clone(), auth.clone())
            .create_mcp_server(pb::CreateMcpServerRequest {
                mcp_server: Some(server("after-outage")),
            })
            .await
            .is_ok()
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "writes work again after the restart");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(joined) = load.join_next().await {
        joined.expect("load task");
    }

    let outcomes = outcomes.lock().await;
    assert!(
        outcomes.other.is_empty(),
        "only UNAVAILABLE during the outage: {:?}\nlogs: {:?}",
        outcomes.other,
        served.logs()
    );
    // Every acknowledged create is there, whatever the outage did.
    let stored = stored_ids(&channel, &auth).await;
    let missing: Vec<&String> = outcomes.acknowledged.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    println!(
        "postgres restart: {} calls ok ({} acknowledged creates, all present), {} UNAVAILABLE during the outage, 0 other errors",
        outcomes.ok,
        outcomes.acknowledged.len(),
        outcomes.unavailable
    );

    let (code, logs) = served.stop().await;
    assert_eq!(code, Some(0), "clean exit after the outage: {logs:?}");
}
