//! Tests of the real `mcp-registry` binary: the admin CLI, configuration
//! errors, and graceful shutdown on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use mcp_registry::crypto::Keyring;
use mcp_registry::pagination::PageRequest;
use mcp_registry::pb;
use mcp_registry::pb::admin_service_client::AdminServiceClient;
use mcp_registry::store::Store;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Auth, Backend, TestDatabase};
use crate::process::{self, Served};

/// Returns the environment of a binary on `database` with `master_key`.
fn env<'a>(database: &'a TestDatabase, master_key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("MCP_REGISTRY_DATABASE_URL", database.url.as_str()),
        ("MCP_REGISTRY_MASTER_KEYS", master_key),
        ("MCP_REGISTRY_SHUTDOWN_TIMEOUT", "60"),
    ]
}

/// Returns a command for the binary on `database` (background sync off).
fn command(database: &TestDatabase, master_key: &str) -> Command {
    process::command(&env(database, master_key))
}

/// Runs `mcp-registry admin …` and returns the JSON object it prints.
async fn admin_cli(database: &TestDatabase, master_key: &str, args: &[&str]) -> Value {
    process::admin_cli(&env(database, master_key), args).await
}

/// Starts `serve` on `database`, with `extra` environment variables on top.
async fn serve(database: &TestDatabase, master_key: &str, extra: &[(&str, &str)]) -> Served {
    let mut env = env(database, master_key);
    env.extend_from_slice(extra);
    Served::start(&env).await
}

async fn sigterm_lets_in_flight_calls_complete_and_exits_zero(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let master_key = Keyring::generate_entry("test").expect("key");
    let key = admin_cli(&database, &master_key, &["create-key", "--platform-admin"]).await;
    let auth = Auth::Pair(
        key["api_key_id"].as_str().expect("id").to_owned(),
        key["secret"].as_str().expect("secret").to_owned(),
    );
    let served = serve(&database, &master_key, &[]).await;
    let channel = served.channel().await;

    // Many writes at once on one connection; SIGTERM as soon as the first
    // answer shows the server is working through them.
    const CALLS: usize = 200;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..CALLS {
        let mut client = AdminServiceClient::with_interceptor(channel.clone(), auth.clone());
        let done = done_tx.clone();
        calls.spawn(async move {
            let result = client
                .create_organization(pb::CreateOrganizationRequest {
                    organization: Some(pb::Organization {
                        name: format!("org {i}"),
                        plan: pb::Plan::Pro as i32,
                        ..Default::default()
                    }),
                })
                .await;
            let _ = done.send(());
            result.map(|_| ())
        });
    }
    // A health watcher on another connection sees SERVING now.
    let watch_channel = served.channel().await;
    let mut watch = HealthClient::new(watch_channel)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.message().await.expect("watch item").expect("status");
    assert_eq!(first.status(), ServingStatus::Serving);

    done_rx.recv().await.expect("a first call completed");
    served.sigterm();

    let mut ok = 0;
    while let Some(joined) = calls.join_next().await {
        joined
            .expect("call task")
            .expect("in-flight call completed successfully");
        ok += 1;
    }
    assert_eq!(ok, CALLS);
    // The watcher is told NOT_SERVING, then its stream ends instead of
    // holding the shutdown open (the timeout is 60 s; `wait` allows 30 s).
    let mut statuses = Vec::new();
    while let Ok(Some(item)) = watch.message().await {
        statuses.push(item.status());
    }
    assert_eq!(
        statuses.last(),
        Some(&ServingStatus::NotServing),
        "{statuses:?}"
    );
    let (code, logs) = served.wait().await;
    assert_eq!(code, Some(0), "exit code; logs: {logs:#?}");
    assert!(
        logs.iter().any(|l| l.contains("shutdown started")),
        "{logs:#?}"
    );
    assert!(logs.iter().any(|l| l.contains("\"stopped\"")), "{logs:#?}");

    // Every acknowledged write is in the database.
    let store = Store::connect(&database.url).await.expect("reopen");
    let page = store
        .list_organizations(&PageRequest {
            limit: 1,
            after: None,
        })
        .await
        .expect("count");
    assert_eq!(page.total, CALLS as u64);
    store.close().await.expect("close");
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_calls_complete_and_exits_zero_on_sqlite() {
    sigterm_lets_in_flight_calls_complete_and_exits_zero(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_calls_complete_and_exits_zero_on_postgres() {
    sigterm_lets_in_flight_calls_complete_and_exits_zero(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_cli_bootstraps_an_organization_and_a_working_key_on_sqlite() {
    the_admin_cli_bootstraps_an_organization_and_a_working_key(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_cli_bootstraps_an_organization_and_a_working_key_on_postgres() {
    the_admin_cli_bootstraps_an_organization_and_a_working_key(Backend::Postgres).await;
}

async fn the_admin_cli_bootstraps_an_organization_and_a_working_key(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let master_key = Keyring::generate_entry("test").expect("key");
    let org = admin_cli(
        &database,
        &master_key,
        &["create-org", "--name", "Acme", "--plan", "pro"],
    )
    .await;
    let org_id = org["organization_id"].as_str().expect("org id").to_owned();
    assert!(org_id.starts_with("org_"));
    assert_eq!(org["plan"], "pro");
    let member = admin_cli(
        &database,
        &master_key,
        &["create-key", "--org", &org_id, "--role", "member"],
    )
    .await;
    assert_eq!(member["organization_id"], org_id.as_str());
    assert_eq!(member["role"], "member");
    assert!(
        member["secret"]
            .as_str()
            .expect("secret")
            .starts_with("mcpr_")
    );
    assert!(member.get("acts_for_users").is_none(), "{member}");
    // A service key, which may act for its users (x-mcp-registry-subject).
    let service = admin_cli(
        &database,
        &master_key,
        &[
            "create-key",
            "--org",
            &org_id,
            "--role",
            "member",
            "--acts-for-users",
        ],
    )
    .await;
    assert_eq!(service["acts_for_users"], true);
    let platform = admin_cli(&database, &master_key, &["create-key", "--platform-admin"]).await;
    let auth = Auth::Bearer(
        platform["api_key_id"].as_str().expect("id").to_owned(),
        platform["secret"].as_str().expect("secret").to_owned(),
    );

    let served = serve(&database, &master_key, &[]).await;
    let channel = served.channel().await;
    let fetched = AdminServiceClient::with_interceptor(channel.clone(), auth.clone())
        .get_organization(pb::GetOrganizationRequest { id: org_id.clone() })
        .await
        .expect("platform key from the CLI works")
        .into_inner();
    assert_eq!(fetched.name, "Acme");
    // The CLI's changes are in the audit trail, made by `cli`, outside any request.
    let mut audit =
        mcp_registry::pb::audit_service_client::AuditServiceClient::with_interceptor(channel, auth);
    let of_acme = audit
        .list_audit_events(pb::ListAuditEventsRequest {
            organization_id: org_id.clone(),
            ..Default::default()
        })
        .await
        .expect("audit trail of the organization")
        .into_inner()
        .events;
    let actions: Vec<(&str, &str, &str)> = (of_acme.iter().rev())
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.request_id.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("organization.create", "cli", ""),
            ("api_key.create", "cli", ""),
            ("api_key.create", "cli", "")
        ]
    );
    let platform_rows = audit
        .list_audit_events(pb::ListAuditEventsRequest::default())
        .await
        .expect("platform rows")
        .into_inner()
        .events;
    assert_eq!(platform_rows.len(), 1, "{platform_rows:?}");
    assert_eq!(
        platform_rows[0].resource_id,
        platform["api_key_id"].as_str().expect("id")
    );
    let (code, _) = served.stop().await;
    assert_eq!(code, Some(0));

    // Unknown organization: a clear error and a non-zero exit.
    let output = command(&database, &master_key)
        .args([
            "admin",
            "create-key",
            "--org",
            "org_0123456789abcdef0123456789abcdef",
            "--role",
            "admin",
        ])
        .output()
        .await
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not exist"));

    // The admin CLI and migrate need no master key (they never touch credentials).
    let output = command(&database, &master_key)
        .env_remove("MCP_REGISTRY_MASTER_KEYS")
        .args(["admin", "create-org", "--name", "Keyless", "--plan", "free"])
        .output()
        .await
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let output = command(&database, &master_key)
        .env_remove("MCP_REGISTRY_MASTER_KEYS")
        .arg("migrate")
        .output()
        .await
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    database.drop_database().await;
}

/// Path of the grpcurl binary the test command installs; `None` outside it
/// (the test is then skipped, except with CI=true where it is required).
fn grpcurl() -> Option<String> {
    match std::env::var("MCP_REGISTRY_TEST_GRPCURL") {
        Ok(path) if std::path::Path::new(&path).exists() => Some(path),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true needs grpcurl: run ./scripts/test, which installs it")
        }
        _ => {
            eprintln!("skipping: MCP_REGISTRY_TEST_GRPCURL is not set (./scripts/test sets it)");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_talks_to_the_service_through_reflection() {
    let Some(grpcurl) = grpcurl() else {
        return;
    };
    let database = TestDatabase::create(Backend::Sqlite).await.expect("sqlite");
    let master_key = Keyring::generate_entry("test").expect("key");
    let served = serve(&database, &master_key, &[]).await;
    let run = |args: &[&str]| {
        let output = std::process::Command::new(&grpcurl)
            .args(args)
            .output()
            .expect("run grpcurl");
        assert!(output.status.success(), "grpcurl {args:?}: {output:?}");
        String::from_utf8(output.stdout).expect("utf8")
    };
    let listed = run(&["-plaintext", &served.addr, "list"]);
    for service in [
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "mcpregistry.v1.AdminService",
        "mcpregistry.v1.McpServerService",
        "mcpregistry.v1.PackService",
        "mcpregistry.v1.SyncService",
    ] {
        assert!(
            listed.lines().any(|line| line == service),
            "{service} missing: {listed}"
        );
    }
    let health = run(&["-plaintext", &served.addr, "grpc.health.v1.Health/Check"]);
    assert!(health.contains("\"SERVING\""), "{health}");
    // grpcurl can also describe the error-detail types it must decode.
    let described = run(&[
        "-plaintext",
        &served.addr,
        "describe",
        "google.rpc.BadRequest",
    ]);
    assert!(described.contains("field_violations"), "{described}");
    let (code, _) = served.stop().await;
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_on_an_empty_database_says_how_to_get_a_key() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("sqlite");
    let master_key = Keyring::generate_entry("test").expect("key");
    let served = serve(&database, &master_key, &[]).await;
    let logs = served.logs();
    assert!(
        logs.iter()
            .any(|line| line.contains("mcp-registry admin create-key --platform-admin")),
        "{logs:#?}"
    );
    let (code, _) = served.stop().await;
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_log_names_the_pack_gateways_address_and_url() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("sqlite");
    let master_key = Keyring::generate_entry("test").expect("key");
    let served = serve(
        &database,
        &master_key,
        &[("MCP_REGISTRY_MCP_LISTEN", "127.0.0.1:0")],
    )
    .await;
    let logs = served.logs();
    let line = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["message"] == "serving the pack gateway on /mcp/packs/<pack id>")
        .unwrap_or_else(|| panic!("no gateway line: {logs:#?}"));
    let addr = line["addr"].as_str().expect("addr");
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{line}"
    );
    assert_eq!(line["url"], format!("http://{addr}"), "{line}");
    let (code, _) = served.stop().await;
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configuration_is_a_one_line_error_and_a_non_zero_exit() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("sqlite");
    let master_key = Keyring::generate_entry("test").expect("key");
    for (env, value) in [
        ("MCP_REGISTRY_LISTEN", "not-an-address"),
        ("MCP_REGISTRY_DATABASE_URL", "mysql://localhost/db"),
        ("MCP_REGISTRY_MASTER_KEYS", "k1:tooshort"),
        ("MCP_REGISTRY_LOG_FORMAT", "xml"),
        ("MCP_REGISTRY_MCP_LISTEN", "nowhere"),
        (
            "MCP_REGISTRY_GATEWAY_PUBLIC_URL",
            "https://mcp.example.com/?key=1",
        ),
    ] {
        let output = command(&database, &master_key)
            .env(env, value)
            .arg("serve")
            .output()
            .await
            .expect("run");
        assert!(!output.status.success(), "{env}={value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty(), "{env}: no error printed");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("invalid") || l.contains("error")),
            "{env}: {stderr}"
        );
    }

    // PostgreSQL without a master key is refused (no silent dev key there).
    let output = Command::new(process::BIN)
        .env_clear()
        .args(["serve", "--database-url", "postgres://127.0.0.1:1/none"])
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no master key"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_during_start_up_is_still_a_graceful_exit() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("sqlite");
    let master_key = Keyring::generate_entry("test").expect("key");
    let mut child = command(&database, &master_key)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    // The first log line comes before migrations and before the listener:
    // the signal handlers must already be in place.
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("a log line in time")
        .expect("read")
        .expect("a first line");
    process::sigterm(&child);
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exited in time")
        .expect("wait");
    assert_eq!(
        exit.code(),
        Some(0),
        "killed by the signal instead of shutting down (first line: {first})"
    );
}

/// A replica killed (SIGKILL) in the middle of its syncs: its leases hold
/// until they expire, nobody syncs those servers meanwhile, then the live
/// replicas take over; the dead replica's runs end FAILED, each naming
/// itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_leaves_its_leases_to_expire_and_the_others_take_over() {
    use mcp_registry::pb::mcp_server_service_client::McpServerServiceClient;
    use mcp_registry::registry::Plan;
    use mcp_registry::registry::runs::Outcome;

    use crate::helpers::{Instance, Options};
    use crate::sync_leases::{runs_of, slow_server};

    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let master_key = Keyring::generate_entry("test").expect("key");
    let store = Store::connect(&database.url).await.expect("store");
    // Migrations first, so that the admin writes below find their tables.
    let dead = serve(
        &database,
        &master_key,
        &[
            ("MCP_REGISTRY_BACKGROUND_SYNC", "true"),
            ("MCP_REGISTRY_ALLOW_INSECURE_UPSTREAMS", "true"),
            ("MCP_REGISTRY_ALLOW_PRIVATE_UPSTREAMS", "true"),
            // A lease lasts 2 × 3 s + 3 s.
            ("MCP_REGISTRY_SYNC_TIMEOUT", "3"),
        ],
    )
    .await;
    let (_, auth) = crate::helpers::org_with_admin_key(&store, "replicas", Plan::Pro).await;
    let dead_channel = dead.channel().await;

    // Each sync takes 2 s: the replica is killed while it runs them.
    let upstream = slow_server(Duration::from_secs(2)).await;
    let mut servers = McpServerServiceClient::with_interceptor(dead_channel.clone(), auth.clone());
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut input = crate::helpers::server(&format!("s{i}"));
        input.url = upstream.url("/mcp");
        ids.push(crate::helpers::create_id(&mut servers, input).await);
    }
    let mut interrupted = Vec::new();
    for id in &ids {
        interrupted.push(crate::sync_leases::running_run(&dead_channel, &auth, id).await);
    }
    let mut dead = dead;
    dead.kill().await;
    let mut expiries = Vec::new();
    for row in store.dump_table("mcp_servers").await.expect("dump") {
        let row: Value = serde_json::from_str(&row).expect("json");
        assert_eq!(
            row["lease_owner"],
            interrupted[0].instance_id.as_str(),
            "{row}"
        );
        expiries.push((
            row["id"].as_str().expect("id").to_owned(),
            row["lease_expires_at"].as_i64().expect("expiry"),
        ));
    }

    let options = Options {
        background_sync: true,
        insecure_upstreams: true,
        private_upstreams: true,
        sync_timeout: Some(Duration::from_secs(3)),
        ..Options::default()
    };
    let b = Instance::start(&database, &master_key, &options).await;
    let c = Instance::start(&database, &master_key, &options).await;

    // Every server is synced again by a live replica, never before the dead
    // replica's lease expired.
    let micros = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
            .expect("timestamp")
    };
    for (id, expires) in &expiries {
        let mut taken_over = None;
        for _ in 0..300 {
            let runs = runs_of(&b.channel, &auth, id).await;
            taken_over = runs.into_iter().find(|r| {
                r.instance_id != interrupted[0].instance_id
                    && r.outcome() == pb::SyncOutcome::Succeeded
            });
            if taken_over.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let run = taken_over.unwrap_or_else(|| panic!("nobody took {id} over"));
        assert!(
            micros(&run.started_at) >= *expires,
            "{id} synced while the dead replica's lease held: {run:?}"
        );
    }
    // The dead replica's runs ended FAILED, each error naming its run.
    for run in &interrupted {
        let mut ended = None;
        for _ in 0..300 {
            let current = store
                .get_sync_run(&run.id)
                .await
                .expect("read")
                .expect("run");
            if current.outcome != Outcome::Running {
                ended = Some(current);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ended = ended.unwrap_or_else(|| panic!("{} stayed RUNNING", run.id));
        assert_eq!(ended.outcome, Outcome::Failed, "{ended:?}");
        let error = ended.error.expect("error");
        assert_eq!(error.sync_run_id, run.id);
        assert!(error.message.contains("interrupted"), "{}", error.message);
    }

    b.stop().await;
    c.stop().await;
    store.close().await.expect("close");
    database.drop_database().await;
}
