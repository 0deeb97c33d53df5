//! No secret anywhere: the real binary (debug JSON logs) handles credentials
//! through every path (create, import, rotation, syncs that use them against
//! a loopback upstream, failed syncs, invalid requests that carry them,
//! export), and afterwards none of the secret values appears in any answer,
//! any error, any log line or the database at rest (the raw SQLite files with
//! their WAL, or every PostgreSQL table).
//!
//! OAuth connections go through it too (against the OAuth fixture: a real
//! authorization server): a configured client secret, the client secret of a
//! dynamically registered client, every access and refresh token, code and
//! state issued are scanned for.
//!
//! Every secret is `sek_` + 32 random hex digits, so that a hit is never a
//! coincidence (the fixture's own tokens are random too). API key secrets (`mcpr_…`) and the master key are scanned
//! too: they may appear only in the one answer that hands a key out
//! (`CreateApiKey`), which is recorded without its `secret` field.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use mcp_registry::crypto::Keyring;
use mcp_registry::pb;
use mcp_registry::pb::admin_service_client::AdminServiceClient;
use mcp_registry::pb::audit_service_client::AuditServiceClient;
use mcp_registry::pb::mcp_server_service_client::McpServerServiceClient;
use mcp_registry::pb::o_auth_service_client::OAuthServiceClient;
use mcp_registry::pb::pack_service_client::PackServiceClient;
use mcp_registry::pb::secret_service_client::SecretServiceClient;
use mcp_registry::pb::sync_service_client::SyncServiceClient;
use mcp_registry::store::Store;
use serde_json::Value;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::fixture::upstream;
use crate::helpers::{Auth, Authed, Backend, TestDatabase};
use crate::mcp::Running;
use crate::process::Served;

/// A fresh greppable secret.
fn sek() -> String {
    format!("sek_{}", uuid::Uuid::new_v4().simple())
}

/// The environment of the binary on `database`: debug JSON logs, syncs only
/// when the test asks, and only of loopback fixtures; the pack gateway on
/// `gateway`.
fn env<'a>(
    database: &'a TestDatabase,
    data_dir: &'a str,
    master_key: &'a str,
    gateway: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("MCP_REGISTRY_MCP_LISTEN", gateway),
        ("MCP_REGISTRY_DATABASE_URL", database.url.as_str()),
        ("MCP_REGISTRY_DATA_DIR", data_dir),
        ("MCP_REGISTRY_MASTER_KEYS", master_key),
        ("MCP_REGISTRY_LOG_LEVEL", "debug"),
        ("MCP_REGISTRY_SHUTDOWN_TIMEOUT", "30"),
        ("MCP_REGISTRY_ALLOW_INSECURE_UPSTREAMS", "true"),
        ("MCP_REGISTRY_ALLOW_PRIVATE_UPSTREAMS", "true"),
        ("MCP_REGISTRY_OAUTH_REDIRECT_URIS", OAUTH_REDIRECT),
    ]
}

/// The redirect URI OAuth authorizations use (never contacted).
const OAUTH_REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";

/// `mcp-registry admin create-key --platform-admin`: the key it prints, and
/// the lines it logged.
async fn platform_key(env: &[(&str, &str)]) -> (Auth, Vec<String>) {
    let output = crate::process::command(env)
        .args(["admin", "create-key", "--platform-admin"])
        .output()
        .await
        .expect("run admin cli");
    let logged = String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(output.status.success(), "admin cli failed: {output:?}");
    let key: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let auth = Auth::Pair(
        key["api_key_id"].as_str().expect("id").to_owned(),
        key["secret"].as_str().expect("secret").to_owned(),
    );
    (auth, logged)
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

/// The clients of the services as one caller.
struct Clients {
    admin: AdminServiceClient<Authed>,
    servers: McpServerServiceClient<Authed>,
    packs: PackServiceClient<Authed>,
    sync: SyncServiceClient<Authed>,
    audit: AuditServiceClient<Authed>,
    secrets: SecretServiceClient<Authed>,
    oauth: OAuthServiceClient<Authed>,
}

impl Clients {
    fn new(channel: &Channel, auth: &Auth) -> Self {
        Self {
            admin: AdminServiceClient::with_interceptor(channel.clone(), auth.clone()),
            servers: McpServerServiceClient::with_interceptor(channel.clone(), auth.clone()),
            packs: PackServiceClient::with_interceptor(channel.clone(), auth.clone()),
            audit: AuditServiceClient::with_interceptor(channel.clone(), auth.clone()),
            sync: SyncServiceClient::with_interceptor(channel.clone(), auth.clone()),
            secrets: SecretServiceClient::with_interceptor(channel.clone(), auth.clone()),
            oauth: OAuthServiceClient::with_interceptor(channel.clone(), auth.clone()),
        }
    }
}

fn bearer(token: &str) -> Option<pb::Credentials> {
    Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::BearerToken(
            pb::BearerTokenCredentials {
                token: token.into(),
                token_secret: None,
            },
        )),
    })
}

fn api_key(key: &str, header: &str) -> Option<pb::Credentials> {
    Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::ApiKey(pb::ApiKeyCredentials {
            key: key.into(),
            header_name: header.into(),
            key_secret: None,
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
    pb::SyncMcpServerRequest {
        id: id.into(),
        ..Default::default()
    }
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
    registry_token: String,
    registry_passphrase: String,
    rotated_bearer: String,
    rotated_session: String,
    rotated_client_secret: String,
    redirected_bearer: String,
    /// The values of a stored secret (SecretService), before and after its
    /// rotation, used by reference as a bearer token and a header.
    stored_token: String,
    stored_header: String,
    rotated_stored_token: String,
    rotated_stored_header: String,
    /// The client secret of a pre-registered OAuth client.
    oauth_client_secret: String,
    /// What the OAuth flow handed out: states (from StartOAuthAuthorization)
    /// and, read from the fixture at the end, every token, code and
    /// registered client secret.
    oauth_issued: Vec<(String, String)>,
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
            registry_token: sek(),
            registry_passphrase: sek(),
            rotated_bearer: sek(),
            rotated_session: sek(),
            rotated_client_secret: sek(),
            redirected_bearer: sek(),
            stored_token: sek(),
            stored_header: sek(),
            rotated_stored_token: sek(),
            rotated_stored_header: sek(),
            oauth_client_secret: sek(),
            oauth_issued: Vec::new(),
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
            ("server.json bearer variable", &self.registry_token),
            (
                "server.json isSecret header (plain name)",
                &self.registry_passphrase,
            ),
            ("rotated bearer token", &self.rotated_bearer),
            ("rotated X-Session-Token", &self.rotated_session),
            ("rotated client secret", &self.rotated_client_secret),
            (
                "bearer token of a server redirecting elsewhere",
                &self.redirected_bearer,
            ),
            ("stored secret value (bearer)", &self.stored_token),
            ("stored secret value (header)", &self.stored_header),
            (
                "rotated stored secret value (bearer)",
                &self.rotated_stored_token,
            ),
            (
                "rotated stored secret value (header)",
                &self.rotated_stored_header,
            ),
            ("configured OAuth client secret", &self.oauth_client_secret),
        ]
        .into_iter()
        .map(|(label, secret)| (label.to_owned(), secret.clone()))
        .collect();
        all.extend(self.oauth_issued.iter().cloned());
        all.extend(
            self.in_errors
                .iter()
                .map(|(label, secret)| (format!("invalid request: {label}"), secret.clone())),
        );
        all
    }
}

/// Requests sent to `path` by the upstream's log.
fn to_path<'a>(received: &'a [crate::mcp::Request], path: &str) -> Vec<&'a crate::mcp::Request> {
    received.iter().filter(|r| r.path == path).collect()
}

/// One run of the scan: the service, its callers, and everything recorded so
/// far for the scan at the end.
struct Session {
    backend: Backend,
    database: TestDatabase,
    s: Secrets,
    /// The master key's material (scanned for too).
    master_material: String,
    upstream: Running,
    served: Served,
    /// The pack gateway's address.
    gateway: String,
    channel: Channel,
    c: Capture,
    root: Clients,
    admin: Clients,
    viewer: Clients,
    /// The organization admin's key (its id is sent with wrong secrets).
    admin_key: Auth,
    /// The secrets of the API keys handed out.
    api_secrets: Vec<(String, String)>,
    /// Lines the admin CLI logged.
    cli_logs: Vec<String>,
    /// Live events of every sync of the organization.
    events: tonic::Streaming<pb::SyncEvent>,
    /// The OAuth fixture (`None` outside CI without its packages).
    oauth: Option<crate::oauth::OAuthFixture>,
}

/// The OAuth fixture with two-second access tokens, when installed.
async fn oauth_fixture() -> Option<crate::oauth::OAuthFixture> {
    if !crate::oauth::OAuthFixture::installed() {
        return None;
    }
    Some(
        crate::oauth::OAuthFixture::start(2)
            .await
            .expect("the OAuth fixture starts"),
    )
}

/// The servers that hold the secrets.
struct Servers {
    with_bearer: pb::McpServer,
    with_key: pb::McpServer,
    with_oauth: pb::McpServer,
    refused: pb::McpServer,
    token_refused: pb::McpServer,
    /// The two servers imported from an MCP client configuration.
    imported: Vec<String>,
}

impl Session {
    /// Starts the binary on a fresh database, with a platform key from the
    /// admin CLI, an organization, an admin and a viewer key.
    async fn start(backend: Backend) -> Option<Self> {
        let database = TestDatabase::create(backend).await?;
        let s = Secrets::new();
        let master_key = Keyring::generate_entry("test").expect("master key");
        let master_material = master_key
            .split_once(':')
            .map(|(_, k)| k.to_owned())
            .expect("id:key");
        let upstream = upstream(&s.access_token).await;
        let data_dir = database.dir.path().to_string_lossy().into_owned();
        let gateway = format!("127.0.0.1:{}", crate::mcp::free_port());
        let env = env(&database, &data_dir, &master_key, &gateway);
        let (platform, cli_logs) = platform_key(&env).await;
        let served = Served::start(&env).await;
        let channel = served.channel().await;
        let mut c = Capture::default();
        let root = Clients::new(&channel, &platform);
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
        let mut handed_out = Vec::new();
        for role in [pb::Role::Admin, pb::Role::Viewer] {
            let mut created = root
                .admin
                .clone()
                .create_api_key(pb::CreateApiKeyRequest {
                    api_key: Some(pb::ApiKey {
                        organization_id: org.id.clone(),
                        role: role as i32,
                        display_name: "scanned".into(),
                        ..Default::default()
                    }),
                })
                .await
                .expect("create key")
                .into_inner();
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
        let admin_key = handed_out[0].clone();
        let admin = Clients::new(&channel, &admin_key.as_bearer());
        let viewer = Clients::new(&channel, &handed_out[1]);
        let events = admin
            .sync
            .clone()
            .watch_sync_events(pb::WatchSyncEventsRequest::default())
            .await
            .expect("watch")
            .into_inner();
        Some(Self {
            backend,
            database,
            s,
            master_material,
            upstream,
            served,
            gateway,
            channel,
            c,
            root,
            admin,
            viewer,
            admin_key,
            api_secrets,
            cli_logs,
            events,
            oauth: oauth_fixture().await,
        })
    }

    /// Creates a server as the admin, recording the answer.
    async fn create(&mut self, call: &str, server: pb::McpServer) -> pb::McpServer {
        let result = self
            .admin
            .servers
            .clone()
            .create_mcp_server(create(server))
            .await;
        self.c.ok(call, result)
    }

    /// Creates a server as the admin and expects `code`.
    async fn refuse(&mut self, call: &str, server: pb::McpServer, code: Code) {
        let result = self
            .admin
            .servers
            .clone()
            .create_mcp_server(create(server))
            .await;
        self.c.err(call, result, code);
    }

    /// Imports an MCP client configuration as the admin and expects `code`.
    async fn refuse_import(&mut self, call: &str, request: pb::ImportMcpConfigRequest) {
        let result = self.admin.servers.clone().import_mcp_config(request).await;
        self.c.err(call, result, Code::InvalidArgument);
    }

    /// Syncs a server as the admin; it succeeds.
    async fn sync(&mut self, name: &str, id: &str) {
        let result = self
            .admin
            .sync
            .clone()
            .sync_mcp_server(sync_request(id))
            .await;
        let run = self.c.ok(&format!("SyncMcpServer {name}"), result);
        assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{name}: {run:?}");
    }

    /// Syncs a server as the admin; it fails UNAVAILABLE.
    async fn sync_fails(&mut self, name: &str, id: &str) -> tonic::Status {
        let result = self
            .admin
            .sync
            .clone()
            .sync_mcp_server(sync_request(id))
            .await;
        self.c
            .err(&format!("SyncMcpServer {name}"), result, Code::Unavailable)
    }

    /// Updates a server as the admin with `paths`.
    async fn update(
        &mut self,
        server: pb::McpServer,
        paths: &[&str],
    ) -> Result<tonic::Response<pb::McpServer>, tonic::Status> {
        self.admin
            .servers
            .clone()
            .update_mcp_server(pb::UpdateMcpServerRequest {
                mcp_server: Some(server),
                update_mask: Some(prost_types::FieldMask {
                    paths: paths.iter().map(|p| (*p).to_owned()).collect(),
                }),
            })
            .await
    }
}

/// Servers with every kind of credential and sensitive headers, and two
/// imported from a configuration with secrets in headers and variables.
async fn create_servers(session: &mut Session) -> Servers {
    let url = |path: &str| session.upstream.url(path);
    let s = &session.s;
    let mut with_bearer = new_server("bearer", url("/bearer/mcp"));
    with_bearer.credentials = bearer(&s.bearer);
    with_bearer.request_headers = headers(&[
        ("Cookie", &format!("session={}", s.cookie)),
        ("X-Session-Token", &s.session),
        ("X-Trace", "plain-value"),
    ]);
    let mut with_key = new_server("apikey", url("/apikey/mcp"));
    with_key.credentials = api_key(&s.apikey, "X-Custom-Auth");
    let mut with_oauth = new_server("oauth", url("/oauth/mcp"));
    with_oauth.credentials = oauth2(&url("/token"), &s.client_secret);
    let mut refused = new_server("refused", url("/refused/deny"));
    refused.credentials = bearer(&s.denied_bearer);
    let mut token_refused = new_server("token-refused", url("/token-refused/mcp"));
    token_refused.credentials = oauth2(&url("/token-deny"), &s.denied_client_secret);

    let with_bearer = session.create("CreateMcpServer bearer", with_bearer).await;
    assert!(with_bearer.has_credentials);
    assert_eq!(with_bearer.request_headers["Cookie"], "********");
    assert_eq!(with_bearer.request_headers["X-Trace"], "plain-value");
    let with_key = session.create("CreateMcpServer api key", with_key).await;
    let with_oauth = session.create("CreateMcpServer oauth2", with_oauth).await;
    let refused = session.create("CreateMcpServer refused", refused).await;
    let token_refused = session
        .create("CreateMcpServer oauth2 refused", token_refused)
        .await;
    let imported = import_servers(session).await;
    Servers {
        with_bearer,
        with_key,
        with_oauth,
        refused,
        token_refused,
        imported,
    }
}

/// Imports (dry run, then for real) a configuration with secrets in headers
/// and variables; returns the ids of the two servers created.
async fn import_servers(session: &mut Session) -> Vec<String> {
    let s = &session.s;
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
        ("BASE".to_owned(), session.upstream.url("")),
        ("IMPORT_TOKEN".to_owned(), s.import_variable.clone()),
    ]
    .into();
    let import = |dry_run| pb::ImportMcpConfigRequest {
        config_json: config.to_string(),
        variables: variables.clone(),
        dry_run,
        ..Default::default()
    };
    let mut servers = session.admin.servers.clone();
    let result = servers.import_mcp_config(import(true)).await;
    session.c.ok("ImportMcpConfig dry run", result);
    let result = servers.import_mcp_config(import(false)).await;
    let imported = session.c.ok("ImportMcpConfig", result);
    assert_eq!(imported.created_count, 2, "{imported:?}");
    let mut ids: Vec<String> = imported
        .entries
        .iter()
        .filter_map(|e| e.mcp_server.as_ref().map(|s| s.id.clone()))
        .collect();
    ids.push(import_server_json(session).await);
    ids
}

/// Imports a server.json whose secrets are a bearer token variable and an
/// `isSecret` header with a name not sensitive by itself (dry run, then for
/// real), and exports it; returns the server's id.
async fn import_server_json(session: &mut Session) -> String {
    let s = &session.s;
    let document = serde_json::json!({
        "name": "com.example/registry-import",
        "description": "a server.json with secrets",
        "version": "1.0.0",
        "remotes": [{
            "type": "streamable-http",
            "url": "{base}/registry/mcp",
            "variables": {"base": {"isRequired": true}},
            "headers": [
                {"name": "Authorization", "value": "Bearer {token}", "isRequired": true, "isSecret": true,
                 "variables": {"token": {"isRequired": true, "isSecret": true}}},
                {"name": "X-Workspace-Passphrase", "isRequired": true, "isSecret": true},
            ],
        }],
    });
    let variables: HashMap<String, String> = [
        (
            "base".to_owned(),
            session.upstream.url("").trim_end_matches('/').to_owned(),
        ),
        ("token".to_owned(), s.registry_token.clone()),
        (
            "X-Workspace-Passphrase".to_owned(),
            s.registry_passphrase.clone(),
        ),
    ]
    .into();
    let import = |dry_run| pb::ImportMcpConfigRequest {
        config_json: document.to_string(),
        variables: variables.clone(),
        dry_run,
        ..Default::default()
    };
    let mut servers = session.admin.servers.clone();
    let result = servers.import_mcp_config(import(true)).await;
    session.c.ok("ImportMcpConfig server.json dry run", result);
    let result = servers.import_mcp_config(import(false)).await;
    let imported = session.c.ok("ImportMcpConfig server.json", result);
    let server = imported.entries[0].mcp_server.clone().expect("created");
    assert_eq!(server.request_headers["X-Workspace-Passphrase"], "********");
    let result = servers
        .export_mcp_server(pb::ExportMcpServerRequest {
            lookup: Some(pb::export_mcp_server_request::Lookup::Id(server.id.clone())),
        })
        .await;
    session.c.ok("ExportMcpServer", result);
    server.id
}

/// Syncs that use every secret, and two that the upstream refuses.
async fn sync_with_every_secret(session: &mut Session, servers: &Servers) {
    for (name, id) in [
        ("bearer", &servers.with_bearer.id),
        ("api key", &servers.with_key.id),
        ("oauth2", &servers.with_oauth.id),
        ("imported bearer", &servers.imported[0]),
        ("imported api key", &servers.imported[1]),
        ("imported server.json", &servers.imported[2]),
    ] {
        session.sync(name, id).await;
    }
    // A second sync of the OAuth2 server reuses the cached access token.
    let result = session
        .admin
        .sync
        .clone()
        .sync_mcp_server(sync_request(&servers.with_oauth.id))
        .await;
    session.c.ok("SyncMcpServer oauth2 again", result);
    for (name, id) in [
        ("refused", &servers.refused.id),
        ("token refused", &servers.token_refused.id),
    ] {
        let status = session.sync_fails(name, id).await;
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
}

/// A redirect to another origin (another port of 127.0.0.1) is refused: the
/// credentials never reach it. Returns the redirecting server's id.
async fn redirect_elsewhere(session: &mut Session) -> String {
    let elsewhere = upstream(&sek()).await;
    session.upstream.redirect_to(elsewhere.url("/mcp"));
    let secret = session.s.redirected_bearer.clone();
    let mut redirecting = new_server("redirecting", session.upstream.url("/redirect/mcp"));
    redirecting.credentials = bearer(&secret);
    redirecting.request_headers = headers(&[("Cookie", &format!("session={secret}"))]);
    let redirecting = session
        .create("CreateMcpServer redirecting", redirecting)
        .await;
    let status = session.sync_fails("redirecting", &redirecting.id).await;
    assert!(status.message().contains("another origin"), "{status:?}");
    assert!(
        elsewhere.requests().is_empty(),
        "the other origin was contacted: {:?}",
        elsewhere.requests()
    );
    redirecting.id
}

/// Rotations: new bearer token and session header, the cookie kept by
/// sending the mask back; a new OAuth2 client secret. Returns the bearer
/// server's rotation request and its new etag.
async fn rotate(session: &mut Session, servers: &Servers) -> (pb::McpServer, String) {
    let s = &session.s;
    let rotation = pb::McpServer {
        id: servers.with_bearer.id.clone(),
        credentials: bearer(&s.rotated_bearer),
        request_headers: headers(&[
            ("Cookie", "********"),
            ("X-Session-Token", &s.rotated_session),
            ("X-Trace", "plain-value"),
        ]),
        ..Default::default()
    };
    let oauth = pb::McpServer {
        id: servers.with_oauth.id.clone(),
        credentials: oauth2(&session.upstream.url("/token"), &s.rotated_client_secret),
        ..Default::default()
    };
    let result = session
        .update(rotation.clone(), &["credentials", "request_headers"])
        .await;
    let rotated = session
        .c
        .ok("UpdateMcpServer rotate bearer and headers", result);
    let result = session.update(oauth, &["credentials"]).await;
    session.c.ok("UpdateMcpServer rotate client secret", result);
    session
        .sync("rotated bearer", &servers.with_bearer.id)
        .await;
    session.sync("rotated oauth2", &servers.with_oauth.id).await;
    (rotation, rotated.etag)
}

/// Invalid server definitions that carry secrets in their other fields.
async fn create_invalid_servers(session: &mut Session) {
    let url = session.upstream.url("/x/mcp");
    let port = session.upstream.port;
    let s = &mut session.s;
    let mut invalid = Vec::new();
    let mut bad = new_server("Bad Name!", url.clone());
    bad.credentials = bearer(&s.error_secret("bearer with an invalid name"));
    invalid.push(("CreateMcpServer invalid name", bad));
    let mut bad = new_server("crlf", url.clone());
    let secret = s.error_secret("bearer with CR LF");
    bad.credentials = bearer(&format!("{secret}\r\nX-Injected: 1"));
    invalid.push(("CreateMcpServer secret with CR LF", bad));
    let mut bad = new_server("bad-header", url.clone());
    let secret = s.error_secret("sensitive header with a control character");
    bad.request_headers = headers(&[("X-Api-Token", &format!("{secret}\u{7f}"))]);
    invalid.push(("CreateMcpServer header value with DEL", bad));
    let mut bad = new_server("none-with-secret", url.clone());
    bad.auth_type = pb::AuthType::None as i32;
    bad.credentials = bearer(&s.error_secret("bearer with AUTH_TYPE_NONE"));
    invalid.push(("CreateMcpServer credentials with AUTH_TYPE_NONE", bad));
    let mut bad = new_server("bad-key-header", url.clone());
    let secret = s.error_secret("api key with a bad header name");
    bad.credentials = api_key(&secret, "Bad Header:");
    invalid.push(("CreateMcpServer api key header name invalid", bad));
    let mut bad = new_server("double-auth", url.clone());
    bad.credentials = bearer(&s.error_secret("bearer also sent as a header"));
    let secret = s.error_secret("Authorization header next to a bearer");
    bad.request_headers = headers(&[("Authorization", &format!("Bearer {secret}"))]);
    invalid.push(("CreateMcpServer Authorization header and bearer", bad));
    let mut bad = new_server("bad-token-url", url.clone());
    let secret = s.error_secret("client secret with a bad token url");
    bad.credentials = oauth2("ftp://127.0.0.1/token", &secret);
    invalid.push(("CreateMcpServer oauth2 bad token url", bad));
    let password = s.error_secret("password in the url's userinfo");
    let bad = new_server(
        "userinfo",
        format!("http://registry:{password}@127.0.0.1:{port}/mcp"),
    );
    invalid.push(("CreateMcpServer url with userinfo", bad));
    let mut bad = new_server("token-userinfo", url.clone());
    let password = s.error_secret("password in the token url's userinfo");
    let secret = s.error_secret("client secret next to a token url with userinfo");
    bad.credentials = oauth2(
        &format!("http://client:{password}@127.0.0.1:{port}/token"),
        &secret,
    );
    invalid.push(("CreateMcpServer token url with userinfo", bad));
    for (call, server) in invalid {
        session.refuse(call, server, Code::InvalidArgument).await;
    }
    let mut taken = new_server("bearer", url.clone());
    taken.credentials = bearer(&session.s.error_secret("bearer on a taken name"));
    session
        .refuse("CreateMcpServer taken name", taken, Code::AlreadyExists)
        .await;
    let mut denied = new_server("by-viewer", url);
    denied.credentials = bearer(&session.s.error_secret("bearer sent by a viewer"));
    let result = session
        .viewer
        .servers
        .clone()
        .create_mcp_server(create(denied))
        .await;
    session
        .c
        .err("CreateMcpServer as viewer", result, Code::PermissionDenied);
}

/// Updates that fail (a stale etag, an unknown mask path) carrying secrets.
async fn update_invalidly(session: &mut Session, mut rotation: pb::McpServer, etag: String) {
    rotation.credentials = bearer(&session.s.error_secret("rotation with a stale etag"));
    rotation.etag = "stale".into();
    let result = session.update(rotation.clone(), &["credentials"]).await;
    session
        .c
        .err("UpdateMcpServer stale etag", result, Code::Aborted);
    rotation.etag = etag;
    rotation.credentials = bearer(&session.s.error_secret("rotation with a bad mask"));
    let result = session
        .update(rotation, &["credentials", "no_such_field"])
        .await;
    session.c.err(
        "UpdateMcpServer unknown mask path",
        result,
        Code::InvalidArgument,
    );
}

/// Imports that fail, carrying secrets in URLs, headers and variables.
async fn import_invalidly(session: &mut Session) {
    let port = session.upstream.port;
    let s = &mut session.s;
    let userinfo = serde_json::json!({"mcpServers": {"userinfo": {
        "url": format!(
            "http://registry:{}@127.0.0.1:{port}/mcp",
            s.error_secret("password in an imported url's userinfo"),
        ),
    }}});
    let secret = s.error_secret("import entry with a bad url");
    let bad_url = serde_json::json!({"mcpServers": {"broken": {
        "url": "not a url",
        "headers": {"Authorization": format!("Bearer {secret}")},
    }}});
    let cookie = s.error_secret("cookie next to a missing variable");
    let missing_variable = serde_json::json!({"mcpServers": {"needs-var": {
        "url": session.upstream.url("/needs-var/mcp"),
        "headers": {"X-Api-Key": "${MISSING}", "Cookie": cookie},
    }}});
    let unused = s.error_secret("unused import variable");
    let truncated = format!(
        r#"{{"mcpServers": {{"cut": {{"url": "{}", "headers": {{"Authorization": "Bearer {}"}}"#,
        session.upstream.url("/cut/mcp"),
        s.error_secret("import JSON that does not parse")
    );
    let config = |json: String| pb::ImportMcpConfigRequest {
        config_json: json,
        ..Default::default()
    };
    session
        .refuse_import(
            "ImportMcpConfig url with userinfo",
            config(userinfo.to_string()),
        )
        .await;
    session
        .refuse_import("ImportMcpConfig invalid entry", config(bad_url.to_string()))
        .await;
    let request = pb::ImportMcpConfigRequest {
        variables: [("OTHER".to_owned(), unused)].into(),
        ..config(missing_variable.to_string())
    };
    session
        .refuse_import("ImportMcpConfig missing variable", request)
        .await;
    session
        .refuse_import("ImportMcpConfig JSON does not parse", config(truncated))
        .await;
}

/// A wrong API secret, in both credential forms.
async fn authenticate_wrongly(session: &mut Session) {
    let key_id = session.admin_key.key_id().to_owned();
    for (form, auth) in [
        (
            "pair",
            Auth::Pair(
                key_id.clone(),
                session.s.error_secret("wrong api secret (pair)"),
            ),
        ),
        (
            "bearer",
            Auth::Bearer(key_id, session.s.error_secret("wrong api secret (bearer)")),
        ),
    ] {
        let result = Clients::new(&session.channel, &auth)
            .servers
            .list_mcp_servers(pb::ListMcpServersRequest::default())
            .await;
        session.c.err(
            &format!("ListMcpServers with a wrong secret ({form})"),
            result,
            Code::Unauthenticated,
        );
    }
}

/// Reads of every server, run, pack and key, and the export of a pack.
async fn read_everything(session: &mut Session, all_servers: &[String]) {
    let (admin, viewer, c) = (&session.admin, &session.viewer, &mut session.c);
    for id in all_servers {
        let lookup = Some(pb::get_mcp_server_request::Lookup::Id(id.clone()));
        let result = admin
            .servers
            .clone()
            .get_mcp_server(pb::GetMcpServerRequest { lookup })
            .await;
        let shown = c.ok("GetMcpServer", result);
        assert!(shown.credentials.is_none(), "{shown:?}");
        let result = viewer
            .servers
            .clone()
            .list_server_tools(pb::ListServerToolsRequest {
                server_id: id.clone(),
                ..Default::default()
            })
            .await;
        c.ok("ListServerTools", result);
    }
    let result = viewer
        .servers
        .clone()
        .list_mcp_servers(pb::ListMcpServersRequest {
            page_size: 100,
            ..Default::default()
        })
        .await;
    c.ok("ListMcpServers", result);
    let result = viewer
        .sync
        .clone()
        .list_sync_runs(pb::ListSyncRunsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await;
    let runs = c.ok("ListSyncRuns", result);
    for run in &runs.sync_runs {
        let id = run.id.clone();
        let result = viewer
            .sync
            .clone()
            .get_sync_run(pb::GetSyncRunRequest { id })
            .await;
        c.ok("GetSyncRun", result);
    }
    let result = session
        .root
        .admin
        .clone()
        .list_api_keys(pb::ListApiKeysRequest::default())
        .await;
    c.ok("ListApiKeys", result);
    let pack_id = read_a_pack_of_everything(session, all_servers).await;
    call_through_the_gateway(session, &pack_id).await;
}

/// Every tool of the pack listed and called through the pack gateway, which
/// opens the servers' secrets for each call: every answer recorded.
async fn call_through_the_gateway(session: &mut Session, pack_id: &str) {
    let url = format!("http://{}/mcp/packs/{pack_id}", session.gateway);
    let key = &session.admin_key;
    // This process builds no upstream client that would have installed one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let post = |message: serde_json::Value| {
        reqwest::Client::new()
            .post(&url)
            .header("x-api-key", key.key_id())
            .header("x-api-secret", key.secret())
            .header("content-type", "application/json")
            .body(message.to_string())
            .send()
    };
    let list = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let listed = post(list)
        .await
        .expect("tools/list")
        .text()
        .await
        .expect("body");
    let listing: serde_json::Value = serde_json::from_str(&listed).expect("json");
    session
        .c
        .answers
        .push(("gateway tools/list".into(), listed));
    let names: Vec<String> = (listing["result"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default())
    .iter()
    .filter_map(|t| t["name"].as_str().map(str::to_owned))
    .collect();
    assert!(!names.is_empty(), "the pack offers tools: {listing}");
    for name in names {
        let message = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": name, "arguments": {}}});
        let answer = post(message)
            .await
            .expect("tools/call")
            .text()
            .await
            .expect("body");
        session
            .c
            .answers
            .push((format!("gateway tools/call {name}"), answer));
    }
}

/// A pack of every server: resolved, its revision read, exported.
async fn read_a_pack_of_everything(session: &mut Session, all_servers: &[String]) -> String {
    let (admin, viewer, c) = (&session.admin, &session.viewer, &mut session.c);
    let servers = all_servers
        .iter()
        .map(|id| pb::PackServer {
            server_id: id.clone(),
            ..Default::default()
        })
        .collect();
    let pack = pb::Pack {
        name: "everything".into(),
        description: "every server with a secret".into(),
        servers,
        ..Default::default()
    };
    let result = admin
        .packs
        .clone()
        .create_pack(pb::CreatePackRequest { pack: Some(pack) })
        .await;
    let pack = c.ok("CreatePack", result);
    let mut packs = viewer.packs.clone();
    let result = packs
        .resolve_pack(pb::ResolvePackRequest {
            id: pack.id.clone(),
            ..Default::default()
        })
        .await;
    c.ok("ResolvePack", result);
    let result = packs
        .get_pack_revision(pb::GetPackRevisionRequest {
            pack_id: pack.id.clone(),
            version: 1,
        })
        .await;
    c.ok("GetPackRevision", result);
    let result = packs
        .export_pack(pb::ExportPackRequest {
            id: pack.id.clone(),
            ..Default::default()
        })
        .await;
    let export = c.ok("ExportPack", result);
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
    // The gateway form holds no server secret either, only the key placeholder.
    let result = packs
        .export_pack(pb::ExportPackRequest {
            id: pack.id.clone(),
            target: pb::ExportTarget::Gateway as i32,
            ..Default::default()
        })
        .await;
    let export = c.ok("ExportPack to the gateway", result);
    assert!(
        export
            .config_json
            .contains("Bearer ${MCP_REGISTRY_API_KEY}"),
        "{}",
        export.config_json
    );
    pack.id
}

/// The audit trail as the organization's admin and the platform admin read
/// it (every page), and the gateway's call records: answers to scan too.
async fn read_the_audit_trail(session: &mut Session) {
    let c = &mut session.c;
    let mut events = 0;
    let mut secret_fields = 0;
    for (who, clients) in [("admin", &session.admin), ("platform", &session.root)] {
        let mut token = String::new();
        loop {
            let result = (clients.audit.clone())
                .list_audit_events(pb::ListAuditEventsRequest {
                    page_size: 50,
                    page_token: token,
                    ..Default::default()
                })
                .await;
            let page = c.ok(&format!("ListAuditEvents as {who}"), result);
            events += page.events.len();
            secret_fields += (page.events.iter().flat_map(|e| &e.changes))
                .filter(|change| change.secret)
                .count();
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let result = (clients.audit.clone())
            .list_tool_calls(pb::ListToolCallsRequest::default())
            .await;
        c.ok(&format!("ListToolCalls as {who}"), result);
    }
    // Servers with credentials and secret headers were created, rotated and
    // imported: their events name those fields, and say nothing else of them.
    assert!(events >= 10, "{events} audit events");
    assert!(
        secret_fields >= 5,
        "{secret_fields} secret fields in the trail"
    );
}

/// The audit tables hold no secret in any form, nor its SHA-256 (hex or
/// base64): a secret field is recorded by name alone.
fn scan_the_audit_tables(recorded: &Recorded) {
    let audit_rows: Vec<&str> = (recorded.at_rest.iter())
        .filter(|(place, _)| place == "table audit_events" || place == "table tool_calls")
        .filter_map(|(_, bytes)| std::str::from_utf8(bytes).ok())
        .collect();
    assert!(
        audit_rows.iter().any(|row| row.contains("secret")),
        "the audit tables were scanned, with secret fields in them"
    );
    let mut leaks = Vec::new();
    for (label, secret) in &recorded.secrets {
        let hash = mcp_registry::crypto::hash_secret(secret);
        let raw = hex::decode(&hash).unwrap_or_default();
        let mut forms = encodings(secret);
        forms.push(hash.clone());
        forms.push(base64::engine::general_purpose::STANDARD_NO_PAD.encode(&raw));
        forms.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw));
        for row in &audit_rows {
            if let Some(form) = forms.iter().find(|form| row.contains(form.as_str())) {
                leaks.push(format!("{label} (as {form}) in audit row {row:.200}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets in the audit trail: {leaks:#?}");
}

/// The live events of those syncs.
async fn record_events(session: &mut Session) {
    let mut seen_events = 0;
    while let Ok(Ok(Some(event))) =
        tokio::time::timeout(Duration::from_millis(500), session.events.message()).await
    {
        seen_events += 1;
        session
            .c
            .answers
            .push(("WatchSyncEvents event".into(), format!("{event:?}")));
    }
    assert!(
        seen_events >= 2 * 10,
        "a start and an end per sync: {seen_events} events"
    );
}

/// The secrets were really used: the upstream received each of them.
fn check_the_upstream_received_every_secret(session: &Session) {
    let s = &session.s;
    let received = session.upstream.requests();
    let sent = |path: &str, header: &str, value: &str| {
        to_path(&received, path)
            .iter()
            .any(|r| r.header(header).contains(&value))
    };
    let bearer = |token: &str| format!("Bearer {token}");
    let checks = [
        ("/bearer/mcp", "authorization", bearer(&s.bearer)),
        ("/bearer/mcp", "cookie", format!("session={}", s.cookie)),
        ("/bearer/mcp", "x-session-token", s.session.clone()),
        ("/bearer/mcp", "authorization", bearer(&s.rotated_bearer)),
        ("/bearer/mcp", "x-session-token", s.rotated_session.clone()),
        ("/apikey/mcp", "x-custom-auth", s.apikey.clone()),
        ("/oauth/mcp", "authorization", bearer(&s.access_token)),
        ("/refused/deny", "authorization", bearer(&s.denied_bearer)),
        ("/imported/mcp", "authorization", bearer(&s.import_variable)),
        ("/imported/mcp", "x-secret-header", s.import_header.clone()),
        ("/imported-key/mcp", "x-api-key", s.import_apikey.clone()),
        ("/registry/mcp", "authorization", bearer(&s.registry_token)),
        (
            "/registry/mcp",
            "x-workspace-passphrase",
            s.registry_passphrase.clone(),
        ),
        ("/stored/mcp", "authorization", bearer(&s.stored_token)),
        ("/stored/mcp", "x-stored-token", s.stored_header.clone()),
        (
            "/stored/mcp",
            "authorization",
            bearer(&s.rotated_stored_token),
        ),
        (
            "/stored/mcp",
            "x-stored-token",
            s.rotated_stored_header.clone(),
        ),
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
    assert_eq!(last_bearer.0, bearer(&s.rotated_bearer));
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
}

/// A stored secret (SecretService) with two values, referenced by a server's
/// bearer credentials and a header; synced, rotated, synced again, read;
/// invalid secret requests carrying values. Returns the server's id.
/// OAuth: a server with a pre-registered client (its secret configured),
/// and one connected end to end against the fixture: discovery, dynamic
/// registration, authorization, a wrong code refused, the right one, syncs
/// (one after the two-second token expired: a refresh). Every
/// StartOAuthAuthorization answer is recorded without its state, which is
/// scanned for. Returns the connected server, for the reads and the gateway
/// calls that follow; `None` without the fixture.
async fn connect_with_oauth(session: &mut Session) -> Option<String> {
    let fixture = session.oauth.take()?;
    let oauth_credentials = |config: pb::OAuth2AuthorizationCode| {
        Some(pb::Credentials {
            kind: Some(pb::credentials::Kind::Oauth2AuthorizationCode(config)),
        })
    };
    let mut configured = new_server("oauth-configured", fixture.mcp_url.clone());
    configured.credentials = oauth_credentials(pb::OAuth2AuthorizationCode {
        client_id: "pre-registered".into(),
        client_secret: session.s.oauth_client_secret.clone(),
        issuer: fixture.issuer.clone(),
        ..Default::default()
    });
    let configured = session
        .create("CreateMcpServer oauth (configured client)", configured)
        .await;
    let mut connected = new_server("oauth-connected", fixture.mcp_url.clone());
    connected.credentials = oauth_credentials(pb::OAuth2AuthorizationCode::default());
    let connected = session
        .create("CreateMcpServer oauth (discovered)", connected)
        .await;
    start_oauth(session, &configured.id).await;

    // A wrong code is refused (and uses the state up); the right one connects.
    start_oauth(session, &connected.id).await;
    let state = session.s.oauth_issued.last().expect("a state").1.clone();
    let wrong = session.s.error_secret("oauth authorization code");
    let result = (session.admin.oauth.clone())
        .complete_o_auth_authorization(pb::CompleteOAuthAuthorizationRequest { state, code: wrong })
        .await;
    session.c.err(
        "CompleteOAuthAuthorization with a wrong code",
        result,
        Code::FailedPrecondition,
    );
    let url = start_oauth(session, &connected.id).await;
    let redirect = fixture.authorize(&url, "alice").await.expect("authorize");
    let code = redirect
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let state = session.s.oauth_issued.last().expect("a state").1.clone();
    let result = (session.admin.oauth.clone())
        .complete_o_auth_authorization(pb::CompleteOAuthAuthorizationRequest { state, code })
        .await;
    session.c.ok("CompleteOAuthAuthorization", result);
    session.sync("oauth-connected", &connected.id).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    session.sync("oauth (refreshed)", &connected.id).await;
    let stats = fixture.stats().await.expect("stats");
    assert!(stats.refresh_token_grants >= 1, "{stats:?}");
    let result = (session.viewer.oauth.clone())
        .get_o_auth_connection(pb::GetOAuthConnectionRequest {
            server_id: connected.id.clone(),
        })
        .await;
    session.c.ok("GetOAuthConnection", result);
    session.oauth = Some(fixture);
    Some(connected.id)
}

/// StartOAuthAuthorization as the admin: the answer is recorded without its
/// state, which joins the scanned secrets. Returns the authorization URL.
async fn start_oauth(session: &mut Session, server_id: &str) -> String {
    let result = (session.admin.oauth.clone())
        .start_o_auth_authorization(pb::StartOAuthAuthorizationRequest {
            server_id: server_id.into(),
            redirect_uri: OAUTH_REDIRECT.into(),
            scopes: Vec::new(),
        })
        .await;
    let mut started = result.expect("StartOAuthAuthorization").into_inner();
    let state = std::mem::take(&mut started.state);
    // The state is in the URL too: the answer is recorded without either.
    let url = std::mem::take(&mut started.authorization_url);
    session.c.answers.push((
        "StartOAuthAuthorization (state and URL cleared)".into(),
        format!("{started:?}"),
    ));
    session.s.oauth_issued.push(("oauth state".into(), state));
    url
}

/// Disconnects the OAuth server (revoked at the fixture), reads it again,
/// and adds everything the fixture issued to the scanned secrets.
async fn disconnect_oauth(session: &mut Session, server_id: &str) {
    let Some(fixture) = session.oauth.take() else {
        return;
    };
    let result = (session.admin.oauth.clone())
        .delete_o_auth_connection(pb::DeleteOAuthConnectionRequest {
            server_id: server_id.into(),
        })
        .await;
    session.c.ok("DeleteOAuthConnection", result);
    assert_eq!(fixture.stats().await.expect("stats").revocations, 1);
    let result = (session.admin.sync.clone())
        .sync_mcp_server(sync_request(server_id))
        .await;
    session.c.err(
        "SyncMcpServer oauth (disconnected)",
        result,
        Code::FailedPrecondition,
    );
    let issued = fixture.issued_secrets().await.expect("issued secrets");
    assert!(!issued.client_secrets.is_empty() && issued.refresh_tokens.len() >= 2);
    session.s.oauth_issued.extend(
        issued
            .all()
            .into_iter()
            .map(|(kind, value)| (format!("{kind} issued by the fixture"), value)),
    );
}

async fn use_stored_secrets(session: &mut Session) -> String {
    let value = |name: &str, value: &str| pb::SecretValue {
        name: name.into(),
        value: value.into(),
    };
    let secret = pb::Secret {
        name: "STORED_TOKEN".into(),
        values: vec![
            value("token", &session.s.stored_token),
            value("header", &session.s.stored_header),
        ],
        ..Default::default()
    };
    let result = (session.admin.secrets.clone())
        .create_secret(pb::CreateSecretRequest {
            secret: Some(secret),
        })
        .await;
    let secret = session.c.ok("CreateSecret", result);
    let reference = |value: &str| pb::SecretReference {
        secret_id: secret.id.clone(),
        value: value.into(),
    };
    let mut input = new_server("stored", session.upstream.url("/stored/mcp"));
    input.credentials = Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::BearerToken(
            pb::BearerTokenCredentials {
                token: String::new(),
                token_secret: Some(reference("token")),
            },
        )),
    });
    input.secret_request_headers = [("X-Stored-Token".to_owned(), reference("header"))].into();
    let server = session.create("CreateMcpServer stored secret", input).await;
    session.sync("stored secret", &server.id).await;
    let rotated = vec![
        value("token", &session.s.rotated_stored_token),
        value("header", &session.s.rotated_stored_header),
    ];
    let result = (session.admin.secrets.clone())
        .rotate_secret(pb::RotateSecretRequest {
            id: secret.id.clone(),
            values: rotated,
            etag: String::new(),
        })
        .await;
    session.c.ok("RotateSecret", result);
    session.sync("stored secret, rotated", &server.id).await;
    let result = (session.viewer.secrets.clone())
        .get_secret(pb::GetSecretRequest {
            id: secret.id.clone(),
        })
        .await;
    session.c.ok("GetSecret (viewer)", result);
    let result = (session.admin.secrets.clone())
        .list_secrets(pb::ListSecretsRequest::default())
        .await;
    session.c.ok("ListSecrets", result);

    // Invalid requests that carry values.
    let invalid = session.s.error_secret("CreateSecret with an invalid name");
    let result = (session.admin.secrets.clone())
        .create_secret(pb::CreateSecretRequest {
            secret: Some(pb::Secret {
                name: "not a name".into(),
                values: vec![value("token", &invalid)],
                ..Default::default()
            }),
        })
        .await;
    session
        .c
        .err("CreateSecret invalid", result, Code::InvalidArgument);
    let invalid = session
        .s
        .error_secret("RotateSecret with a repeated value name");
    let result = (session.admin.secrets.clone())
        .rotate_secret(pb::RotateSecretRequest {
            id: secret.id.clone(),
            values: vec![value("token", &invalid), value("token", &invalid)],
            etag: String::new(),
        })
        .await;
    session
        .c
        .err("RotateSecret invalid", result, Code::InvalidArgument);
    let invalid = session.s.error_secret("RotateSecret by a viewer");
    let result = (session.viewer.secrets.clone())
        .rotate_secret(pb::RotateSecretRequest {
            id: secret.id.clone(),
            values: vec![value("token", &invalid)],
            etag: String::new(),
        })
        .await;
    session
        .c
        .err("RotateSecret viewer", result, Code::PermissionDenied);
    server.id
}

/// Everything the scan looks at, once the service has stopped.
struct Recorded {
    backend: Backend,
    database: TestDatabase,
    secrets: Vec<(String, String)>,
    /// How many of `secrets` are the organization's (not API keys, not the master key).
    org_secrets: usize,
    c: Capture,
    log_lines: Vec<String>,
    /// Raw files and rows, with where they were.
    at_rest: Vec<(String, Vec<u8>)>,
}

/// What is at rest while the service runs (SQLite's WAL is live), then after
/// a clean stop; and every log line.
async fn stop(session: Session) -> Recorded {
    let Session {
        backend,
        database,
        s,
        master_material,
        served,
        c,
        api_secrets,
        cli_logs,
        ..
    } = session;
    let mut at_rest: Vec<(String, Vec<u8>)> = Vec::new();
    for (file, bytes) in files_under(database.dir.path()) {
        at_rest.push((format!("{file} (while running)"), bytes));
    }
    let (code, served_logs) = served.stop().await;
    assert_eq!(code, Some(0), "server exit");
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
    let mut log_lines = cli_logs;
    log_lines.extend(served_logs);
    assert!(
        log_lines.iter().any(|l| l.contains(r#""level":"DEBUG""#)),
        "debug logs were on"
    );
    let mut secrets = s.all();
    let org_secrets = secrets.len();
    secrets.extend(api_secrets);
    secrets.push(("master key".into(), master_material));
    Recorded {
        backend,
        database,
        secrets,
        org_secrets,
        c,
        log_lines,
        at_rest,
    }
}

/// The scan: every secret against every answer, error, log line and
/// database file or row.
fn scan(recorded: &Recorded, started: std::time::Instant) {
    let Recorded {
        backend,
        secrets,
        org_secrets,
        c,
        log_lines,
        at_rest,
        ..
    } = recorded;
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
    for (label, secret) in secrets {
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
}

/// Sends every secret through every path, then scans every place for them.
async fn no_secret_anywhere(backend: Backend) {
    let started = std::time::Instant::now();
    let Some(mut session) = Session::start(backend).await else {
        return;
    };
    let servers = create_servers(&mut session).await;
    sync_with_every_secret(&mut session, &servers).await;
    let redirecting = redirect_elsewhere(&mut session).await;
    let (rotation, etag) = rotate(&mut session, &servers).await;
    let stored = use_stored_secrets(&mut session).await;
    let oauth = connect_with_oauth(&mut session).await;
    create_invalid_servers(&mut session).await;
    update_invalidly(&mut session, rotation, etag).await;
    import_invalidly(&mut session).await;
    authenticate_wrongly(&mut session).await;
    let mut all_servers = vec![
        redirecting,
        servers.with_bearer.id.clone(),
        servers.with_key.id.clone(),
        servers.with_oauth.id.clone(),
        servers.refused.id.clone(),
        servers.token_refused.id.clone(),
        servers.imported[0].clone(),
        servers.imported[1].clone(),
        stored,
    ];
    all_servers.extend(oauth.clone());
    read_everything(&mut session, &all_servers).await;
    if let Some(oauth) = &oauth {
        disconnect_oauth(&mut session, oauth).await;
    }
    read_the_audit_trail(&mut session).await;
    record_events(&mut session).await;
    check_the_upstream_received_every_secret(&session);
    let recorded = stop(session).await;
    scan(&recorded, started);
    scan_the_audit_tables(&recorded);
    recorded.database.drop_database().await;
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
