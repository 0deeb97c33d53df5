//! No secret anywhere: the real binary (debug JSON logs) handles credentials
//! through every path (create, import, rotation, syncs that use them against
//! a loopback upstream, failed syncs, invalid requests that carry them,
//! export), and afterwards none of the secret values appears in any answer,
//! any error, any log line or the database at rest (the raw SQLite files with
//! their WAL, or every PostgreSQL table).
//!
//! Every secret is `sek_` + 32 random hex digits, so that a hit is never a
//! coincidence. API key secrets (`mcpr_…`) and the master key are scanned
//! too: they may appear only in the one answer that hands a key out
//! (`CreateApiKey`), which is recorded without its `secret` field.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use mcp_registry::crypto::Keyring;
use mcp_registry::pb;
use mcp_registry::pb::admin_service_client::AdminServiceClient;
use mcp_registry::pb::mcp_server_service_client::McpServerServiceClient;
use mcp_registry::pb::pack_service_client::PackServiceClient;
use mcp_registry::pb::sync_service_client::SyncServiceClient;
use mcp_registry::store::Store;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt;

use crate::fixture::Upstream;
use crate::helpers::{Auth, Authed, Backend, TestDatabase};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-registry");

/// A fresh greppable secret.
fn sek() -> String {
    format!("sek_{}", uuid::Uuid::new_v4().simple())
}

/// The binary with a clean environment on `database`.
fn command(database: &TestDatabase, master_key: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("MCP_REGISTRY_DATABASE_URL", &database.url)
        .env("MCP_REGISTRY_DATA_DIR", database.dir.path())
        .env("MCP_REGISTRY_MASTER_KEYS", master_key)
        .env("MCP_REGISTRY_METRICS_LISTEN", "off")
        .env("MCP_REGISTRY_LOG_FORMAT", "json")
        .env("MCP_REGISTRY_LOG_LEVEL", "debug")
        .env("MCP_REGISTRY_SHUTDOWN_TIMEOUT", "30")
        // Syncs only when the test asks, and only of loopback fixtures.
        .env("MCP_REGISTRY_BACKGROUND_SYNC", "false")
        .env("MCP_REGISTRY_ALLOW_INSECURE_UPSTREAMS", "true")
        .env("MCP_REGISTRY_ALLOW_PRIVATE_UPSTREAMS", "true")
        .kill_on_drop(true);
    cmd
}

/// `mcp-registry admin create-key --platform-admin`: the key it prints.
async fn platform_key(database: &TestDatabase, master_key: &str, logs: &Logs) -> Auth {
    let output = command(database, master_key)
        .args(["admin", "create-key", "--platform-admin"])
        .output()
        .await
        .expect("run admin cli");
    logs.push_all("admin cli stderr", &String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "admin cli failed: {output:?}");
    let key: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    Auth::Pair(
        key["api_key_id"].as_str().expect("id").to_owned(),
        key["secret"].as_str().expect("secret").to_owned(),
    )
}

/// Every log line the binary wrote, with where it came from.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<String>>>);

impl Logs {
    fn push_all(&self, _source: &str, text: &str) {
        let mut lines = self.0.lock().expect("logs");
        lines.extend(text.lines().map(str::to_owned));
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().expect("logs").clone()
    }
}

/// The served binary.
struct Served {
    child: Child,
    addr: String,
}

impl Served {
    async fn start(database: &TestDatabase, master_key: &str, logs: &Logs) -> Self {
        let mut child = command(database, master_key)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn the server");
        let stderr = child.stderr.take().expect("stderr");
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let sink = logs.clone();
        tokio::spawn(async move {
            let mut addr_tx = Some(addr_tx);
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(event) = serde_json::from_str::<Value>(&line)
                    && event["message"] == "serving gRPC"
                    && let Some(tx) = addr_tx.take()
                {
                    let _ = tx.send(event["addr"].as_str().unwrap_or_default().to_owned());
                }
                sink.0.lock().expect("logs").push(line);
            }
        });
        let addr = tokio::time::timeout(Duration::from_secs(30), addr_rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("server did not start: {:?}", logs.lines()));
        Self { child, addr }
    }

    /// SIGTERM, then waits for a clean exit.
    async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(40), self.child.wait())
            .await
            .expect("exited in time")
            .expect("wait");
        assert!(exit.success(), "server exit: {exit:?}");
        // Let the reader take the last lines.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Every answer and every error, as text, with the call that produced it.
#[derive(Default)]
struct Capture {
    answers: Vec<(String, String)>,
    errors: Vec<(String, String)>,
}

impl Capture {
    /// Records a successful answer (panics on an error).
    #[track_caller]
    fn ok<T: std::fmt::Debug>(
        &mut self,
        call: &str,
        result: Result<tonic::Response<T>, tonic::Status>,
    ) -> T {
        match result {
            Ok(response) => {
                let message = response.into_inner();
                self.answers.push((call.to_owned(), format!("{message:?}")));
                message
            }
            Err(status) => panic!("{call} failed: {status:?}"),
        }
    }

    /// Records a failed call and checks its code (panics on success).
    #[track_caller]
    fn err<T: std::fmt::Debug>(
        &mut self,
        call: &str,
        result: Result<tonic::Response<T>, tonic::Status>,
        code: Code,
    ) -> tonic::Status {
        let status = match result {
            Ok(response) => panic!(
                "{call} should fail with {code:?}: {:?}",
                response.into_inner()
            ),
            Err(status) => status,
        };
        assert_eq!(status.code(), code, "{call}: {status:?}");
        self.errors.push((call.to_owned(), describe(&status)));
        status
    }
}

/// Everything a status carries, as text: message, decoded details, raw
/// details and metadata.
fn describe(status: &tonic::Status) -> String {
    format!(
        "code={:?} message={:?} details={:?} raw={} metadata={:?}",
        status.code(),
        status.message(),
        status.get_error_details(),
        String::from_utf8_lossy(status.details()),
        status.metadata(),
    )
}

/// The clients of the four services as one caller.
struct Clients {
    admin: AdminServiceClient<Authed>,
    servers: McpServerServiceClient<Authed>,
    packs: PackServiceClient<Authed>,
    sync: SyncServiceClient<Authed>,
}

impl Clients {
    fn new(channel: &Channel, auth: &Auth) -> Self {
        Self {
            admin: AdminServiceClient::with_interceptor(channel.clone(), auth.clone()),
            servers: McpServerServiceClient::with_interceptor(channel.clone(), auth.clone()),
            packs: PackServiceClient::with_interceptor(channel.clone(), auth.clone()),
            sync: SyncServiceClient::with_interceptor(channel.clone(), auth.clone()),
        }
    }
}

fn bearer(token: &str) -> Option<pb::Credentials> {
    Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::BearerToken(
            pb::BearerTokenCredentials {
                token: token.into(),
            },
        )),
    })
}

fn api_key(key: &str, header: &str) -> Option<pb::Credentials> {
    Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::ApiKey(pb::ApiKeyCredentials {
            key: key.into(),
            header_name: header.into(),
        })),
    })
}

fn oauth2(token_url: &str, secret: &str) -> Option<pb::Credentials> {
    Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::Oauth2ClientCredentials(
            pb::OAuth2ClientCredentials {
                token_url: token_url.into(),
                client_id: "registry-client".into(),
                client_secret: secret.into(),
                scopes: vec!["tools.read".into()],
            },
        )),
    })
}

fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn new_server(name: &str, url: String) -> pb::McpServer {
    pb::McpServer {
        name: name.into(),
        url,
        transport: pb::Transport::StreamableHttp as i32,
        ..Default::default()
    }
}

fn create(server: pb::McpServer) -> pb::CreateMcpServerRequest {
    pb::CreateMcpServerRequest {
        mcp_server: Some(server),
    }
}

fn sync_request(id: &str) -> pb::SyncMcpServerRequest {
    pb::SyncMcpServerRequest { id: id.into() }
}

/// The forms in which a secret could sit somewhere: as is, hex-encoded, or
/// base64-encoded at any of the three alignments.
fn encodings(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned(), hex::encode(secret)];
    for skip in 0..3 {
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&secret[skip..]);
        // The last characters depend on what follows the secret.
        let stable = encoded.len().saturating_sub(3);
        forms.push(encoded[..stable].to_owned());
    }
    forms
}

/// Whether `secret` is in `haystack` (the lossy text of some bytes: the
/// forms searched are ASCII, which survives the conversion), in any of its
/// [`encodings`] when `deep`.
fn find(haystack: &str, secret: &str, deep: bool) -> bool {
    if deep {
        encodings(secret)
            .iter()
            .any(|form| haystack.contains(form.as_str()))
    } else {
        haystack.contains(secret)
    }
}

/// Raw bytes of every file under `dir` (the SQLite database, its WAL, …).
fn files_under(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
    out
}

/// Every row of every table of the database, through the store.
async fn dump_database(database: &TestDatabase, backend: Backend) -> Vec<(String, String)> {
    use sea_orm::{ConnectionTrait, Statement};
    let list = match backend {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
        Backend::Postgres => {
            "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = 'public'"
        }
    };
    let raw = sea_orm::Database::connect(&database.url)
        .await
        .expect("connect to list tables");
    let tables: Vec<String> = raw
        .query_all_raw(Statement::from_string(raw.get_database_backend(), list))
        .await
        .expect("list tables")
        .iter()
        .map(|row| row.try_get::<String>("", "name").expect("table name"))
        .collect();
    let _ = raw.close().await;
    let store = Store::connect(&database.url)
        .await
        .expect("connect to dump");
    assert!(
        tables.iter().any(|t| t == "mcp_servers"),
        "tables found: {tables:?}"
    );
    let mut rows = Vec::new();
    for table in tables {
        if !table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            continue;
        }
        for row in store.dump_table(&table).await.expect("dump table") {
            rows.push((format!("table {table}"), row));
        }
    }
    let _ = store.close().await;
    rows
}

/// The named secrets of the run.
struct Secrets {
    bearer: String,
    apikey: String,
    client_secret: String,
    access_token: String,
    cookie: String,
    session: String,
    denied_bearer: String,
    denied_client_secret: String,
    import_variable: String,
    import_header: String,
    import_apikey: String,
    import_local_env: String,
    rotated_bearer: String,
    rotated_session: String,
    rotated_client_secret: String,
    redirected_bearer: String,
    /// Secrets only ever sent in requests that fail.
    in_errors: Vec<(&'static str, String)>,
}

impl Secrets {
    fn new() -> Self {
        Self {
            bearer: sek(),
            apikey: sek(),
            client_secret: sek(),
            access_token: sek(),
            cookie: sek(),
            session: sek(),
            denied_bearer: sek(),
            denied_client_secret: sek(),
            import_variable: sek(),
            import_header: sek(),
            import_apikey: sek(),
            import_local_env: sek(),
            rotated_bearer: sek(),
            rotated_session: sek(),
            rotated_client_secret: sek(),
            redirected_bearer: sek(),
            in_errors: Vec::new(),
        }
    }

    fn error_secret(&mut self, label: &'static str) -> String {
        let secret = sek();
        self.in_errors.push((label, secret.clone()));
        secret
    }

    fn all(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = [
            ("bearer token", &self.bearer),
            ("api key (X-Custom-Auth)", &self.apikey),
            ("oauth2 client secret", &self.client_secret),
            ("oauth2 access token", &self.access_token),
            ("Cookie header", &self.cookie),
            ("X-Session-Token header", &self.session),
            ("bearer token of a refused sync", &self.denied_bearer),
            (
                "client secret refused by the token endpoint",
                &self.denied_client_secret,
            ),
            ("import variable", &self.import_variable),
            ("import sensitive header", &self.import_header),
            ("import api key header", &self.import_apikey),
            ("import stdio env (skipped)", &self.import_local_env),
            ("rotated bearer token", &self.rotated_bearer),
            ("rotated X-Session-Token", &self.rotated_session),
            ("rotated client secret", &self.rotated_client_secret),
            (
                "bearer token of a server redirecting elsewhere",
                &self.redirected_bearer,
            ),
        ]
        .into_iter()
        .map(|(label, secret)| (label.to_owned(), secret.clone()))
        .collect();
        all.extend(
            self.in_errors
                .iter()
                .map(|(label, secret)| (format!("invalid request: {label}"), secret.clone())),
        );
        all
    }
}

/// Requests sent to `path` by the upstream's log.
fn to_path<'a>(
    received: &'a [crate::fixture::Received],
    path: &str,
) -> Vec<&'a crate::fixture::Received> {
    received.iter().filter(|r| r.path == path).collect()
}

async fn no_secret_anywhere(backend: Backend) {
    let started = std::time::Instant::now();
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let mut s = Secrets::new();
    let master_key = Keyring::generate_entry("test").expect("master key");
    let master_material = master_key
        .split_once(':')
        .map(|(_, k)| k.to_owned())
        .expect("id:key");
    let upstream = Upstream::start(s.access_token.clone()).await;
    let logs = Logs::default();
    let platform = platform_key(&database, &master_key, &logs).await;
    let served = Served::start(&database, &master_key, &logs).await;
    let channel = Endpoint::from_shared(format!("http://{}", served.addr))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut c = Capture::default();
    let root = Clients::new(&channel, &platform);

    // An organization and its keys; the secrets handed out are scanned too.
    let org = c.ok(
        "CreateOrganization",
        root.admin
            .clone()
            .create_organization(pb::CreateOrganizationRequest {
                organization: Some(pb::Organization {
                    name: "acme".into(),
                    plan: pb::Plan::Enterprise as i32,
                    ..Default::default()
                }),
            })
            .await,
    );
    let mut api_secrets = vec![(
        "platform api key secret".to_owned(),
        platform.secret().to_owned(),
    )];
    let key = |role: pb::Role| {
        let mut admin = root.admin.clone();
        let org_id = org.id.clone();
        async move {
            admin
                .create_api_key(pb::CreateApiKeyRequest {
                    api_key: Some(pb::ApiKey {
                        organization_id: org_id,
                        role: role as i32,
                        display_name: "scanned".into(),
                        ..Default::default()
                    }),
                })
                .await
                .expect("create key")
                .into_inner()
        }
    };
    let mut handed_out = Vec::new();
    for role in [pb::Role::Admin, pb::Role::Viewer] {
        let mut created = key(role).await;
        assert!(created.secret.starts_with("mcpr_"), "{created:?}");
        api_secrets.push((format!("{role:?} api key secret"), created.secret.clone()));
        handed_out.push(Auth::Pair(created.id.clone(), created.secret.clone()));
        // The one answer allowed to carry the secret is recorded without it.
        created.secret.clear();
        c.answers.push((
            "CreateApiKey (secret field cleared)".into(),
            format!("{created:?}"),
        ));
    }
    let admin_auth = handed_out[0].as_bearer();
    let viewer_auth = handed_out[1].clone();
    let admin = Clients::new(&channel, &admin_auth);
    let viewer = Clients::new(&channel, &viewer_auth);

    // Live events of every sync of the organization.
    let mut events = admin
        .sync
        .clone()
        .watch_sync_events(pb::WatchSyncEventsRequest::default())
        .await
        .expect("watch")
        .into_inner();

    // Servers with every kind of credential and sensitive headers.
    let mut with_bearer = new_server("bearer", upstream.url("/bearer/mcp"));
    with_bearer.credentials = bearer(&s.bearer);
    with_bearer.request_headers = headers(&[
        ("Cookie", &format!("session={}", s.cookie)),
        ("X-Session-Token", &s.session),
        ("X-Trace", "plain-value"),
    ]);
    let with_bearer = c.ok(
        "CreateMcpServer bearer",
        admin
            .servers
            .clone()
            .create_mcp_server(create(with_bearer))
            .await,
    );
    assert!(with_bearer.has_credentials);
    assert_eq!(with_bearer.request_headers["Cookie"], "********");
    assert_eq!(with_bearer.request_headers["X-Trace"], "plain-value");

    let mut with_key = new_server("apikey", upstream.url("/apikey/mcp"));
    with_key.credentials = api_key(&s.apikey, "X-Custom-Auth");
    let with_key = c.ok(
        "CreateMcpServer api key",
        admin
            .servers
            .clone()
            .create_mcp_server(create(with_key))
            .await,
    );

    let mut with_oauth = new_server("oauth", upstream.url("/oauth/mcp"));
    with_oauth.credentials = oauth2(&upstream.url("/token"), &s.client_secret);
    let with_oauth = c.ok(
        "CreateMcpServer oauth2",
        admin
            .servers
            .clone()
            .create_mcp_server(create(with_oauth))
            .await,
    );

    let mut refused = new_server("refused", upstream.url("/refused/deny"));
    refused.credentials = bearer(&s.denied_bearer);
    let refused = c.ok(
        "CreateMcpServer refused",
        admin
            .servers
            .clone()
            .create_mcp_server(create(refused))
            .await,
    );

    let mut token_refused = new_server("token-refused", upstream.url("/token-refused/mcp"));
    token_refused.credentials = oauth2(&upstream.url("/token-deny"), &s.denied_client_secret);
    let token_refused = c.ok(
        "CreateMcpServer oauth2 refused",
        admin
            .servers
            .clone()
            .create_mcp_server(create(token_refused))
            .await,
    );

    // An MCP client configuration with secrets in headers and variables.
    let config = serde_json::json!({"mcpServers": {
        "Imported Bearer": {
            "type": "http",
            "url": "${BASE}/imported/mcp",
            "headers": {
                "Authorization": "Bearer ${IMPORT_TOKEN}",
                "X-Secret-Header": s.import_header,
            },
        },
        "imported-key": {
            "type": "http",
            "url": "${BASE}/imported-key/mcp",
            "headers": {"X-Api-Key": s.import_apikey},
        },
        "local": {"command": "npx", "args": ["tool"], "env": {"TOKEN": s.import_local_env}},
    }});
    let variables: HashMap<String, String> = [
        ("BASE".to_owned(), upstream.url("")),
        ("IMPORT_TOKEN".to_owned(), s.import_variable.clone()),
    ]
    .into();
    let import = |dry_run| pb::ImportMcpConfigRequest {
        config_json: config.to_string(),
        variables: variables.clone(),
        dry_run,
        ..Default::default()
    };
    c.ok(
        "ImportMcpConfig dry run",
        admin.servers.clone().import_mcp_config(import(true)).await,
    );
    let imported = c.ok(
        "ImportMcpConfig",
        admin.servers.clone().import_mcp_config(import(false)).await,
    );
    assert_eq!(imported.created_count, 2, "{imported:?}");
    let imported_ids: Vec<String> = imported
        .entries
        .iter()
        .filter_map(|e| e.mcp_server.as_ref().map(|s| s.id.clone()))
        .collect();

    // Syncs that use every secret, and two that the upstream refuses.
    for (name, id) in [
        ("bearer", &with_bearer.id),
        ("api key", &with_key.id),
        ("oauth2", &with_oauth.id),
        ("imported bearer", &imported_ids[0]),
        ("imported api key", &imported_ids[1]),
    ] {
        let run = c.ok(
            &format!("SyncMcpServer {name}"),
            admin.sync.clone().sync_mcp_server(sync_request(id)).await,
        );
        assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{name}: {run:?}");
    }
    // A second sync of the OAuth2 server reuses the cached access token.
    c.ok(
        "SyncMcpServer oauth2 again",
        admin
            .sync
            .clone()
            .sync_mcp_server(sync_request(&with_oauth.id))
            .await,
    );
    for (name, id) in [
        ("refused", &refused.id),
        ("token refused", &token_refused.id),
    ] {
        let status = c.err(
            &format!("SyncMcpServer {name}"),
            admin.sync.clone().sync_mcp_server(sync_request(id)).await,
            Code::Unavailable,
        );
        let reason = status
            .get_error_details()
            .error_info()
            .map(|i| i.reason.clone());
        assert_eq!(
            reason.as_deref(),
            Some("UPSTREAM_AUTH_FAILED"),
            "{status:?}"
        );
    }

    // A redirect to another origin (another port of 127.0.0.1) is refused:
    // the credentials never reach it.
    let elsewhere = Upstream::start(sek()).await;
    upstream.redirect_to(elsewhere.url("/mcp"));
    let mut redirecting = new_server("redirecting", upstream.url("/redirect/mcp"));
    redirecting.credentials = bearer(&s.redirected_bearer);
    redirecting.request_headers =
        headers(&[("Cookie", &format!("session={}", s.redirected_bearer))]);
    let redirecting = c.ok(
        "CreateMcpServer redirecting",
        admin
            .servers
            .clone()
            .create_mcp_server(create(redirecting))
            .await,
    );
    let status = c.err(
        "SyncMcpServer redirecting",
        admin
            .sync
            .clone()
            .sync_mcp_server(sync_request(&redirecting.id))
            .await,
        Code::Unavailable,
    );
    assert!(status.message().contains("another origin"), "{status:?}");
    assert!(
        elsewhere.received().is_empty(),
        "the other origin was contacted: {:?}",
        elsewhere.received()
    );

    // Rotations: new bearer token and session header, the cookie kept by
    // sending the mask back; a new OAuth2 client secret.
    let mut rotation = pb::McpServer {
        id: with_bearer.id.clone(),
        credentials: bearer(&s.rotated_bearer),
        request_headers: headers(&[
            ("Cookie", "********"),
            ("X-Session-Token", &s.rotated_session),
            ("X-Trace", "plain-value"),
        ]),
        ..Default::default()
    };
    let rotated = c.ok(
        "UpdateMcpServer rotate bearer and headers",
        admin
            .servers
            .clone()
            .update_mcp_server(pb::UpdateMcpServerRequest {
                mcp_server: Some(rotation.clone()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["credentials".into(), "request_headers".into()],
                }),
            })
            .await,
    );
    c.ok(
        "UpdateMcpServer rotate client secret",
        admin
            .servers
            .clone()
            .update_mcp_server(pb::UpdateMcpServerRequest {
                mcp_server: Some(pb::McpServer {
                    id: with_oauth.id.clone(),
                    credentials: oauth2(&upstream.url("/token"), &s.rotated_client_secret),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["credentials".into()],
                }),
            })
            .await,
    );
    for (name, id) in [
        ("rotated bearer", &with_bearer.id),
        ("rotated oauth2", &with_oauth.id),
    ] {
        let run = c.ok(
            &format!("SyncMcpServer {name}"),
            admin.sync.clone().sync_mcp_server(sync_request(id)).await,
        );
        assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{name}: {run:?}");
    }

    // Invalid requests that carry secrets in their other fields.
    let mut bad = new_server("Bad Name!", upstream.url("/x/mcp"));
    bad.credentials = bearer(&s.error_secret("bearer with an invalid name"));
    c.err(
        "CreateMcpServer invalid name",
        admin.servers.clone().create_mcp_server(create(bad)).await,
        Code::InvalidArgument,
    );
    let mut bad = new_server("crlf", upstream.url("/x/mcp"));
    bad.credentials = bearer(&format!(
        "{}\r\nX-Injected: 1",
        s.error_secret("bearer with CR LF")
    ));
    c.err(
        "CreateMcpServer secret with CR LF",
        admin.servers.clone().create_mcp_server(create(bad)).await,
        Code::InvalidArgument,
    );
    let mut bad = new_server("bad-header", upstream.url("/x/mcp"));
    bad.request_headers = headers(&[(
        "X-Api-Token",
        &format!(
            "{}\u{7f}",
            s.error_secret("sensitive header with a control character")
        ),
    )]);
    c.err(
        "CreateMcpServer header value with DEL",
        admin.servers.clone().create_mcp_server(create(bad)).await,
        Code::InvalidArgument,
    );
    let mut bad = new_server("none-with-secret", upstream.url("/x/mcp"));
    bad.auth_type = pb::AuthType::None as i32;
    bad.credentials = bearer(&s.error_secret("bearer with AUTH_TYPE_NONE"));
    c.err(
        "CreateMcpServer credentials with AUTH_TYPE_NONE",
        admin.servers.clone().create_mcp_server(create(bad)).await,
        Code::InvalidArgument,
    );
    let mut bad = new_server("bad-key-header", upstream.url("/x/mcp"));
    bad.credentials = api_key(
        &s.error_secret("api key with a bad header name"),
        "Bad Header:",
    );
    c.err(
        "CreateMcpServer api key header name invalid",
        admin.servers.clone().create_mcp_server(create(bad)).await,
        Code::InvalidArgument,
    );
    let mut bad = new_server("double-auth", upstream.url("/x/mcp"));
    bad.credentials = bearer(&s.error_secret("bearer also sent as a header"));
    bad.request_headers = headers(&[(
        "Authorization",
        &format!(
            "Bearer {}",
            s.error_secret("Authorization header next to a bearer")
        ),
    )]);
    c.err(
        "CreateMcpServer Authorization header and bearer",
        admin.servers.clone().create_mcp_server(create(bad)).await,
        Code::InvalidArgument,
    );
    let mut bad = new_server("bad-token-url", upstream.url("/x/mcp"));
    bad.credentials = oauth2(
        "ftp://127.0.0.1/token",
        &s.error_secret("client secret with a bad token url"),
    );
    c.err(
        "CreateMcpServer oauth2 bad token url",
        admin.servers.clone().create_mcp_server(create(bad)).await,
        Code::InvalidArgument,
    );
    let password = s.error_secret("password in the url's userinfo");
    let bad = new_server(
        "userinfo",
        format!("http://registry:{password}@127.0.0.1:{}/mcp", upstream.port),
    );
    c.err(
        "CreateMcpServer url with userinfo",
        admin.servers.clone().create_mcp_server(create(bad)).await,
        Code::InvalidArgument,
    );
    let mut bad = new_server("token-userinfo", upstream.url("/x/mcp"));
    bad.credentials = oauth2(
        &format!(
            "http://client:{}@127.0.0.1:{}/token",
            s.error_secret("password in the token url's userinfo"),
            upstream.port
        ),
        &s.error_secret("client secret next to a token url with userinfo"),
    );
    c.err(
        "CreateMcpServer token url with userinfo",
        admin.servers.clone().create_mcp_server(create(bad)).await,
        Code::InvalidArgument,
    );
    let userinfo_import = serde_json::json!({"mcpServers": {"userinfo": {
        "url": format!(
            "http://registry:{}@127.0.0.1:{}/mcp",
            s.error_secret("password in an imported url's userinfo"),
            upstream.port
        ),
    }}});
    c.err(
        "ImportMcpConfig url with userinfo",
        admin
            .servers
            .clone()
            .import_mcp_config(pb::ImportMcpConfigRequest {
                config_json: userinfo_import.to_string(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    let mut taken = new_server("bearer", upstream.url("/x/mcp"));
    taken.credentials = bearer(&s.error_secret("bearer on a taken name"));
    c.err(
        "CreateMcpServer taken name",
        admin.servers.clone().create_mcp_server(create(taken)).await,
        Code::AlreadyExists,
    );
    let mut denied = new_server("by-viewer", upstream.url("/x/mcp"));
    denied.credentials = bearer(&s.error_secret("bearer sent by a viewer"));
    c.err(
        "CreateMcpServer as viewer",
        viewer
            .servers
            .clone()
            .create_mcp_server(create(denied))
            .await,
        Code::PermissionDenied,
    );
    rotation.credentials = bearer(&s.error_secret("rotation with a stale etag"));
    rotation.etag = "stale".into();
    c.err(
        "UpdateMcpServer stale etag",
        admin
            .servers
            .clone()
            .update_mcp_server(pb::UpdateMcpServerRequest {
                mcp_server: Some(rotation.clone()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["credentials".into()],
                }),
            })
            .await,
        Code::Aborted,
    );
    rotation.etag = rotated.etag.clone();
    rotation.credentials = bearer(&s.error_secret("rotation with a bad mask"));
    c.err(
        "UpdateMcpServer unknown mask path",
        admin
            .servers
            .clone()
            .update_mcp_server(pb::UpdateMcpServerRequest {
                mcp_server: Some(rotation.clone()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["credentials".into(), "no_such_field".into()],
                }),
            })
            .await,
        Code::InvalidArgument,
    );
    let bad_import = serde_json::json!({"mcpServers": {"broken": {
        "url": "not a url",
        "headers": {"Authorization": format!("Bearer {}", s.error_secret("import entry with a bad url"))},
    }}});
    c.err(
        "ImportMcpConfig invalid entry",
        admin
            .servers
            .clone()
            .import_mcp_config(pb::ImportMcpConfigRequest {
                config_json: bad_import.to_string(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    let missing_variable = serde_json::json!({"mcpServers": {"needs-var": {
        "url": upstream.url("/needs-var/mcp"),
        "headers": {"X-Api-Key": "${MISSING}", "Cookie": s.error_secret("cookie next to a missing variable")},
    }}});
    c.err(
        "ImportMcpConfig missing variable",
        admin
            .servers
            .clone()
            .import_mcp_config(pb::ImportMcpConfigRequest {
                config_json: missing_variable.to_string(),
                variables: [("OTHER".to_owned(), s.error_secret("unused import variable"))].into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    let truncated = format!(
        r#"{{"mcpServers": {{"cut": {{"url": "{}", "headers": {{"Authorization": "Bearer {}"}}"#,
        upstream.url("/cut/mcp"),
        s.error_secret("import JSON that does not parse")
    );
    c.err(
        "ImportMcpConfig JSON does not parse",
        admin
            .servers
            .clone()
            .import_mcp_config(pb::ImportMcpConfigRequest {
                config_json: truncated,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    // A wrong API secret, in both credential forms.
    for (form, auth) in [
        (
            "pair",
            Auth::Pair(
                handed_out[0].key_id().to_owned(),
                s.error_secret("wrong api secret (pair)"),
            ),
        ),
        (
            "bearer",
            Auth::Bearer(
                handed_out[0].key_id().to_owned(),
                s.error_secret("wrong api secret (bearer)"),
            ),
        ),
    ] {
        c.err(
            &format!("ListMcpServers with a wrong secret ({form})"),
            Clients::new(&channel, &auth)
                .servers
                .list_mcp_servers(pb::ListMcpServersRequest::default())
                .await,
            Code::Unauthenticated,
        );
    }

    // Reads of everything.
    let all_servers = [
        &redirecting.id,
        &with_bearer.id,
        &with_key.id,
        &with_oauth.id,
        &refused.id,
        &token_refused.id,
        &imported_ids[0],
        &imported_ids[1],
    ];
    for id in all_servers {
        let shown = c.ok(
            "GetMcpServer",
            admin
                .servers
                .clone()
                .get_mcp_server(pb::GetMcpServerRequest {
                    lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.clone())),
                })
                .await,
        );
        assert!(shown.credentials.is_none(), "{shown:?}");
        c.ok(
            "ListServerTools",
            viewer
                .servers
                .clone()
                .list_server_tools(pb::ListServerToolsRequest {
                    server_id: id.clone(),
                    ..Default::default()
                })
                .await,
        );
    }
    c.ok(
        "ListMcpServers",
        viewer
            .servers
            .clone()
            .list_mcp_servers(pb::ListMcpServersRequest {
                page_size: 100,
                ..Default::default()
            })
            .await,
    );
    let runs = c.ok(
        "ListSyncRuns",
        viewer
            .sync
            .clone()
            .list_sync_runs(pb::ListSyncRunsRequest {
                page_size: 100,
                ..Default::default()
            })
            .await,
    );
    for run in &runs.sync_runs {
        c.ok(
            "GetSyncRun",
            viewer
                .sync
                .clone()
                .get_sync_run(pb::GetSyncRunRequest { id: run.id.clone() })
                .await,
        );
    }
    let pack = c.ok(
        "CreatePack",
        admin
            .packs
            .clone()
            .create_pack(pb::CreatePackRequest {
                pack: Some(pb::Pack {
                    name: "everything".into(),
                    description: "every server with a secret".into(),
                    servers: all_servers
                        .iter()
                        .map(|id| pb::PackServer {
                            server_id: (*id).clone(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }),
            })
            .await,
    );
    c.ok(
        "ResolvePack",
        viewer
            .packs
            .clone()
            .resolve_pack(pb::ResolvePackRequest {
                id: pack.id.clone(),
                ..Default::default()
            })
            .await,
    );
    c.ok(
        "GetPackRevision",
        viewer
            .packs
            .clone()
            .get_pack_revision(pb::GetPackRevisionRequest {
                pack_id: pack.id.clone(),
                version: 1,
            })
            .await,
    );
    let export = c.ok(
        "ExportPack",
        viewer
            .packs
            .clone()
            .export_pack(pb::ExportPackRequest {
                id: pack.id.clone(),
                ..Default::default()
            })
            .await,
    );
    // The export stands placeholders where the secrets were.
    assert!(
        export.config_json.contains("Bearer ${MCP_BEARER_TOKEN}"),
        "{}",
        export.config_json
    );
    assert!(
        export.placeholders.len() >= 8,
        "a placeholder per secret: {:?}",
        export.placeholders
    );
    c.ok(
        "ListApiKeys",
        root.admin
            .clone()
            .list_api_keys(pb::ListApiKeysRequest::default())
            .await,
    );

    // The live events of those syncs.
    let mut seen_events = 0;
    while let Ok(Ok(Some(event))) =
        tokio::time::timeout(Duration::from_millis(500), events.message()).await
    {
        seen_events += 1;
        c.answers
            .push(("WatchSyncEvents event".into(), format!("{event:?}")));
    }
    assert!(
        seen_events >= 2 * 10,
        "a start and an end per sync: {seen_events} events"
    );

    // The secrets were really used: the upstream received each of them.
    let received = upstream.received();
    let sent = |path: &str, header: &str, value: &str| {
        to_path(&received, path)
            .iter()
            .any(|r| r.header(header).contains(&value))
    };
    let checks = [
        (
            "/bearer/mcp",
            "authorization",
            format!("Bearer {}", s.bearer),
        ),
        ("/bearer/mcp", "cookie", format!("session={}", s.cookie)),
        ("/bearer/mcp", "x-session-token", s.session.clone()),
        (
            "/bearer/mcp",
            "authorization",
            format!("Bearer {}", s.rotated_bearer),
        ),
        ("/bearer/mcp", "x-session-token", s.rotated_session.clone()),
        ("/apikey/mcp", "x-custom-auth", s.apikey.clone()),
        (
            "/oauth/mcp",
            "authorization",
            format!("Bearer {}", s.access_token),
        ),
        (
            "/refused/deny",
            "authorization",
            format!("Bearer {}", s.denied_bearer),
        ),
        (
            "/imported/mcp",
            "authorization",
            format!("Bearer {}", s.import_variable),
        ),
        ("/imported/mcp", "x-secret-header", s.import_header.clone()),
        ("/imported-key/mcp", "x-api-key", s.import_apikey.clone()),
    ];
    for (path, header, value) in &checks {
        assert!(
            sent(path, header, value),
            "the sync of {path} did not send {header}: {value}; received {:#?}",
            to_path(&received, path)
        );
    }
    // After the rotation the kept cookie still went out, the old token no more.
    let last_bearer = to_path(&received, "/bearer/mcp")
        .last()
        .map(|r| {
            (
                r.header("authorization").join(","),
                r.header("cookie").join(","),
            )
        })
        .expect("bearer requests");
    assert_eq!(last_bearer.0, format!("Bearer {}", s.rotated_bearer));
    assert_eq!(last_bearer.1, format!("session={}", s.cookie));
    let token_bodies: Vec<&str> = received
        .iter()
        .filter(|r| r.path == "/token" || r.path == "/token-deny")
        .map(|r| r.body.as_str())
        .collect();
    for secret in [
        &s.client_secret,
        &s.rotated_client_secret,
        &s.denied_client_secret,
    ] {
        assert!(
            token_bodies.iter().any(|b| b.contains(secret.as_str())),
            "no token request carried {secret}: {token_bodies:?}"
        );
    }
    assert_eq!(
        to_path(&received, "/token").len(),
        2,
        "one token per client secret, reused in between"
    );

    // What is at rest while the service runs (SQLite's WAL is live), then
    // after a clean stop.
    let mut at_rest: Vec<(String, Vec<u8>)> = Vec::new();
    for (file, bytes) in files_under(database.dir.path()) {
        at_rest.push((format!("{file} (while running)"), bytes));
    }
    served.stop().await;
    for (file, bytes) in files_under(database.dir.path()) {
        at_rest.push((format!("{file} (after stop)"), bytes));
    }
    for (table, row) in dump_database(&database, backend).await {
        at_rest.push((table, row.into_bytes()));
    }
    if backend == Backend::Sqlite {
        assert!(
            at_rest
                .iter()
                .any(|(f, _)| f.ends_with("registry.db-wal (while running)")),
            "the WAL was scanned: {:?}",
            at_rest.iter().map(|(f, _)| f).collect::<Vec<_>>()
        );
    }
    let log_lines = logs.lines();
    assert!(
        log_lines.iter().any(|l| l.contains(r#""level":"DEBUG""#)),
        "debug logs were on"
    );

    // The scan.
    let mut secrets = s.all();
    let org_secrets = secrets.len();
    secrets.extend(api_secrets);
    secrets.push(("master key".into(), master_material));
    let places: Vec<(String, std::borrow::Cow<'_, str>, bool)> = c
        .answers
        .iter()
        .map(|(call, text)| (format!("answer of {call}"), text.as_str().into(), false))
        .chain(
            c.errors
                .iter()
                .map(|(call, text)| (format!("error of {call}"), text.as_str().into(), false)),
        )
        .chain(log_lines.iter().map(|line| {
            (
                format!("service log line {line:.200}"),
                line.as_str().into(),
                false,
            )
        }))
        .chain(at_rest.iter().map(|(place, bytes)| {
            (
                format!("database: {place}"),
                String::from_utf8_lossy(bytes),
                true,
            )
        }))
        .collect();
    // Debugging aid: TENANCY_SECRETS_DUMP=<file> writes every answer, error
    // and log line that was scanned.
    if let Ok(path) = std::env::var("TENANCY_SECRETS_DUMP") {
        let dump: Vec<String> = places
            .iter()
            .filter(|(_, _, deep)| !deep)
            .map(|(place, text, _)| format!("== {place}\n{text}"))
            .collect();
        std::fs::write(path, dump.join("\n")).expect("dump");
    }
    let mut leaks = Vec::new();
    for (label, secret) in &secrets {
        for (place, bytes, deep) in &places {
            if find(bytes, secret, *deep) {
                leaks.push(format!("{label} ({secret}) found in {place}"));
            }
        }
    }
    leaks.dedup();
    println!(
        "no secret anywhere on {backend:?}: {} secrets ({org_secrets} of servers, {} api key \
         secrets, the master key) x {} places ({} answers, {} errors, {} log lines, {} database \
         files and rows) = {} checks in {:.1?}",
        secrets.len(),
        secrets.len() - org_secrets - 1,
        places.len(),
        c.answers.len(),
        c.errors.len(),
        log_lines.len(),
        at_rest.len(),
        secrets.len() * places.len(),
        started.elapsed()
    );
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    database.drop_database().await;
}

mod no_secret_appears_in_answers_errors_logs_or_the_database {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        no_secret_anywhere(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        no_secret_anywhere(Backend::Postgres).await;
    }
}

/// The scan itself finds a secret as is, hex-encoded and base64-encoded at
/// every alignment inside other bytes, and finds nothing that is not there.
#[test]
fn the_scan_finds_a_secret_in_every_encoding() {
    let secret = sek();
    let b64 = |text: String| base64::engine::general_purpose::STANDARD.encode(text);
    for prefix in ["", "a", "ab", "abc"] {
        let embedded = format!("{prefix}{secret}\"}}");
        assert!(
            find(&format!("x{}y", b64(embedded.clone())), &secret, true),
            "{prefix:?}"
        );
        assert!(find(
            &format!("x{}y", hex::encode(&embedded)),
            &secret,
            true
        ));
        assert!(find(&embedded, &secret, false));
    }
    let bytes = [b"\xff\x00".as_slice(), secret.as_bytes(), b"\x80"].concat();
    assert!(find(&String::from_utf8_lossy(&bytes), &secret, false));
    assert!(!find(&b64(sek()), &secret, true));
}
