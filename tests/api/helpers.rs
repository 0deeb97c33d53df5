//! Test harness: a fresh database per test (a temporary SQLite file, or a new
//! PostgreSQL database on 127.0.0.1:5432), the real server started in-process
//! on an ephemeral port, and typed gRPC clients carrying credentials.
//!
//! PostgreSQL tests are skipped with a message when no server answers, unless
//! `CI=true`, where a missing PostgreSQL fails them.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use mcp_registry::Application;
use mcp_registry::config::{LogFormat, MasterKeySource, Settings};
use mcp_registry::crypto::Keyring;
use mcp_registry::pb::admin_service_client::AdminServiceClient;
use mcp_registry::pb::mcp_server_service_client::McpServerServiceClient;
use mcp_registry::pb::o_auth_service_client::OAuthServiceClient;
use mcp_registry::pb::pack_service_client::PackServiceClient;
use mcp_registry::pb::secret_service_client::SecretServiceClient;
use mcp_registry::pb::sync_service_client::SyncServiceClient;

use mcp_registry::pb;
use mcp_registry::registry::admin::{NewApiKey, NewOrganization};
use mcp_registry::registry::canonical::definition_hash;
use mcp_registry::registry::now_micros;
use mcp_registry::registry::servers::CapabilityKind;
use mcp_registry::registry::{Admin, Caller, KeyScope, OrganizationName, Plan, Role};
use mcp_registry::store::NewCapability;
use mcp_registry::store::Store;
use sea_orm::{ConnectionTrait, Database};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `test` once against a freshly spawned app on `backend`, then stops the
/// app and drops its database.
pub async fn run_on<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    run_with(backend, Options::default(), test).await;
}

/// Like [`run_on`], with settings from `options`.
pub async fn run_with<F, Fut>(backend: Backend, options: Options, test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let (app, guard) = spawn_app(database, options).await;
    test(app).await;
    guard.stop().await;
}

/// Declares each listed `async fn(TestApp)` as two tests, `<name>::sqlite` and
/// `<name>::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::run_on($crate::helpers::Backend::Sqlite, super::$name).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::helpers::run_on($crate::helpers::Backend::Postgres, super::$name).await;
            }
        }
    )*};
}

/// Like [`on_both_backends!`], with the app started with `$options`:
/// `on_both_backends_with!(Options { .. }; fn_a, fn_b)`.
#[macro_export]
macro_rules! on_both_backends_with {
    ($options:expr; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::run_with($crate::helpers::Backend::Sqlite, $options, super::$name).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::helpers::run_with($crate::helpers::Backend::Postgres, $options, super::$name).await;
            }
        }
    )*};
}

/// Like [`on_both_backends_with!`], on SQLite only (for what does not depend
/// on the database: limits, transports).
#[macro_export]
macro_rules! on_sqlite_with {
    ($options:expr; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::run_with($crate::helpers::Backend::Sqlite, $options, super::$name).await;
            }
        }
    )*};
}

/// Settings for syncing loopback fixtures (plain http, private addresses).
pub fn loopback() -> Options {
    Options {
        insecure_upstreams: true,
        private_upstreams: true,
        ..Options::default()
    }
}

/// Starts a fake MCP server on 127.0.0.1 that never answers; returns its port.
pub async fn hanging_upstream() -> u16 {
    crate::mcp::McpServer::new().hang().start().await.port
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: String,
    /// Holds the SQLite file (and the data directory) until the test ends.
    pub dir: tempfile::TempDir,
    /// Name of the PostgreSQL database to drop afterwards.
    postgres_name: Option<String>,
}

fn postgres_admin_url() -> String {
    std::env::var("MCP_REGISTRY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl TestDatabase {
    /// Makes a fresh database, or `None` when PostgreSQL is unreachable outside CI.
    pub async fn create(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => {
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("registry.db").display()
                );
                Some(Self {
                    url,
                    dir,
                    postgres_name: None,
                })
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let admin = match tokio::time::timeout(
                    Duration::from_secs(5),
                    Database::connect(&admin_url),
                )
                .await
                {
                    Ok(Ok(db)) => db,
                    failure => {
                        if ci() {
                            panic!(
                                "PostgreSQL at {admin_url} is required when CI=true: {failure:?}"
                            );
                        }
                        eprintln!("skipping: PostgreSQL at {admin_url} is not reachable");
                        return None;
                    }
                };
                let name = format!("mcpr_test_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.expect("close admin connection");
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(base, _)| base)
                    .unwrap_or(&admin_url);
                Some(Self {
                    url: format!("{base}/{name}"),
                    dir,
                    postgres_name: Some(name),
                })
            }
        }
    }

    /// Drops the PostgreSQL database (the SQLite file goes with the directory).
    pub async fn drop_database(&self) {
        if let Some(name) = &self.postgres_name {
            let admin = Database::connect(postgres_admin_url())
                .await
                .expect("connect to drop");
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .expect("drop test database");
            let _ = admin.close().await;
        }
    }
}

/// Knobs for [`spawn_app`].
#[derive(Default)]
pub struct Options {
    pub metrics: bool,
    /// `--allow-insecure-upstreams` (plain http URLs).
    pub insecure_upstreams: bool,
    /// `--allow-private-upstreams` (loopback fixtures).
    pub private_upstreams: bool,
    /// `--background-sync`: off by default in tests, whose servers mostly
    /// have example.com URLs that must never be resolved or contacted.
    pub background_sync: bool,
    /// `--upstream-watches` (0 unless set: most tests want no watches).
    pub upstream_watches: usize,
    /// `--sync-interval` (sub-second in scheduler tests).
    pub sync_interval: Option<Duration>,
    /// `--allow-upstream-address`.
    pub allowed_upstream_addresses: Vec<std::net::IpAddr>,
    /// Retention and pruning (the defaults when unset).
    pub retention: Option<mcp_registry::registry::retention::Retention>,
    /// `--grpc-web`.
    pub grpc_web: bool,
    /// `--rate-limit` (none when unset).
    pub rate_limit: Option<std::num::NonZeroU32>,
    /// `--max-message-bytes` (4 MiB when unset).
    pub max_message_bytes: Option<usize>,
    /// `--max-concurrent-streams` (256 when unset).
    pub max_concurrent_streams: Option<u32>,
    /// `--max-watchers-per-org` (64 when unset).
    pub max_watchers_per_org: Option<usize>,
    /// `--shutdown-timeout` (10 s when unset).
    pub shutdown_timeout: Option<Duration>,
    /// `--sync-timeout` (10 s when unset).
    pub sync_timeout: Option<Duration>,
    /// `--read-cache-mib` (the default, 128, when unset).
    pub read_cache_mib: Option<u64>,
    /// `--store-resolutions false`.
    pub no_stored_resolutions: bool,
    /// `--mcp-listen` on a free loopback port (`off` when false).
    pub gateway: bool,
    /// `--gateway-public-url` (unset when `None`).
    pub gateway_public_url: Option<&'static str>,
    /// `--gateway-call-timeout` (60 s when unset).
    pub gateway_call_timeout: Option<Duration>,
    /// `--oauth-redirect-uris`.
    pub oauth_redirect_uris: Vec<String>,
    /// The hidden `--oauth-state-ttl` (10 minutes when unset).
    pub oauth_state_ttl: Option<Duration>,
}

/// Settings for the app under test on `database`.
pub fn test_settings(database: &TestDatabase, master_key: String, options: &Options) -> Settings {
    let metrics = options.metrics;
    Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        database_url: database.url.clone(),
        embedded_database: false,
        data_dir: database.dir.path().to_path_buf(),
        metrics_listen: metrics.then(|| "127.0.0.1:0".parse().expect("addr")),
        mcp_listen: options
            .gateway
            .then(|| "127.0.0.1:0".parse().expect("addr")),
        gateway_public_url: options
            .gateway_public_url
            .map(|url| mcp_registry::registry::GatewayUrl::parse(url).expect("gateway url")),
        // Several keys are given comma-separated (base64 has no comma).
        master_keys: MasterKeySource::Inline(master_key.split(',').map(str::to_owned).collect()),
        log_format: LogFormat::Text,
        log_level: "warn".into(),
        shutdown_timeout: options.shutdown_timeout.unwrap_or(Duration::from_secs(10)),
        gateway_call_timeout: options
            .gateway_call_timeout
            .unwrap_or(Duration::from_secs(60)),
        allow_insecure_upstreams: options.insecure_upstreams,
        allow_private_upstreams: options.private_upstreams,
        grpc_web: options.grpc_web,
        rate_limit: options.rate_limit,
        max_message_bytes: options.max_message_bytes.unwrap_or(4 << 20),
        max_concurrent_streams: options.max_concurrent_streams.unwrap_or(256),
        max_watchers_per_org: options.max_watchers_per_org.unwrap_or(64),
        read_cache: mcp_registry::registry::cache::CacheSizes::from_mib(
            options
                .read_cache_mib
                .unwrap_or(mcp_registry::registry::cache::DEFAULT_MIB),
        ),
        store_resolutions: !options.no_stored_resolutions,
        sync_timeout: options.sync_timeout.unwrap_or(Duration::from_secs(10)),
        background_sync: options.background_sync,
        sync_interval: options.sync_interval.unwrap_or(Duration::from_secs(300)),
        sync_max_backoff: Duration::from_secs(3600),
        sync_concurrency: 4,
        upstream_watches: options.upstream_watches,
        allowed_upstream_addresses: options.allowed_upstream_addresses.clone(),
        retention: options.retention.clone().unwrap_or_default(),
        oauth: mcp_registry::registry::oauth::OAuthSettings {
            redirect_uris: options.oauth_redirect_uris.clone(),
            state_ttl: options
                .oauth_state_ttl
                .unwrap_or(mcp_registry::registry::oauth::DEFAULT_STATE_TTL),
        },
    }
}

/// A running app and clients for it.
pub struct TestApp {
    /// The gRPC listener.
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    /// The pack gateway's listener, when `Options::gateway` is on.
    pub gateway_addr: Option<SocketAddr>,
    pub channel: Channel,
    pub store: Store,
    /// The database the app runs on.
    pub database_url: String,
    /// Credentials of a platform-admin key made for the test.
    pub platform: Auth,
}

/// Stops the app and drops the database when the test is done.
pub struct AppGuard {
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<anyhow::Result<()>>,
    database: TestDatabase,
}

impl AppGuard {
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        self.server
            .await
            .expect("server task")
            .expect("server stopped cleanly");
        self.database.drop_database().await;
    }
}

/// A service instance on an existing database (one more replica), stopped
/// by sending on `shutdown`.
pub struct Instance {
    pub channel: Channel,
    /// The pack gateway's listener, when `Options::gateway` is on.
    pub gateway_addr: Option<SocketAddr>,
    pub shutdown: oneshot::Sender<()>,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl Instance {
    /// Starts an instance in-process on `database`.
    pub async fn start(database: &TestDatabase, master_key: &str, options: &Options) -> Self {
        let settings = test_settings(database, master_key.to_owned(), options);
        let app = Application::build(settings).await.expect("build");
        let addr = app.local_addr();
        let gateway_addr = app.gateway_addr();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        Self {
            channel,
            gateway_addr,
            shutdown,
            task,
        }
    }

    /// Shuts the instance down and waits until it has stopped cleanly.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        self.task.await.expect("task").expect("clean stop");
    }
}

/// Builds and starts the app in-process, with a platform-admin key.
pub async fn spawn_app(database: TestDatabase, options: Options) -> (TestApp, AppGuard) {
    let master_key = Keyring::generate_entry("test").expect("master key");
    let settings = test_settings(&database, master_key, &options);
    let app = Application::build(settings).await.expect("build app");
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let gateway_addr = app.gateway_addr();
    let store = app.store().clone();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let created = Admin::new(store.clone())
        .create_api_key(
            &Caller::Cli,
            NewApiKey {
                scope: KeyScope::PlatformAdmin,
                display_name: "test platform admin".into(),
                acts_for_users: false,
            },
        )
        .await
        .expect("platform key");
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let app = TestApp {
        addr,
        metrics_addr,
        gateway_addr,
        channel,
        store,
        database_url: database.url.clone(),
        platform: Auth::Pair(created.key.id, created.secret),
    };
    (
        app,
        AppGuard {
            shutdown,
            server,
            database,
        },
    )
}

/// Creates an organization and an ADMIN key for it through the domain (as
/// the CLI does), for tests that start their own instances; returns the
/// organization's id and the key's credentials.
pub async fn org_with_admin_key(store: &Store, name: &str, plan: Plan) -> (String, Auth) {
    let admin = Admin::new(store.clone());
    let org = admin
        .create_organization(
            &Caller::Cli,
            NewOrganization {
                name: OrganizationName::parse(name).expect("name"),
                plan,
            },
        )
        .await
        .expect("org");
    let key = admin_key(&admin, &org.id).await;
    (org.id, key)
}

/// Creates an ADMIN key of organization `org_id` through the domain (as the
/// CLI does); returns its credentials.
pub async fn admin_key(admin: &Admin, org_id: &str) -> Auth {
    let key = admin
        .create_api_key(
            &Caller::Cli,
            NewApiKey {
                scope: KeyScope::Organization {
                    organization_id: org_id.into(),
                    role: Role::Admin,
                    pack_ids: Vec::new(),
                },
                display_name: String::new(),
                acts_for_users: false,
            },
        )
        .await
        .expect("key");
    Auth::Pair(key.key.id, key.secret)
}

/// Credentials a client sends.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    /// `x-api-key` + `x-api-secret`.
    Pair(String, String),
    /// `authorization: Bearer <key>.<secret>`.
    Bearer(String, String),
    /// `x-api-key: <key>.<secret>` alone (seed 002's single header).
    Token(String, String),
}

impl Auth {
    pub fn key_id(&self) -> &str {
        match self {
            Self::None => "",
            Self::Pair(key, _) | Self::Bearer(key, _) | Self::Token(key, _) => key,
        }
    }

    pub fn secret(&self) -> &str {
        match self {
            Self::None => "",
            Self::Pair(_, secret) | Self::Bearer(_, secret) | Self::Token(_, secret) => secret,
        }
    }

    /// The same key presented as a bearer token.
    pub fn as_bearer(&self) -> Self {
        Self::Bearer(self.key_id().to_owned(), self.secret().to_owned())
    }

    /// The same key presented as one `x-api-key` header.
    pub fn as_token(&self) -> Self {
        Self::Token(self.key_id().to_owned(), self.secret().to_owned())
    }
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata_mut();
        match self {
            Self::None => {}
            Self::Pair(key, secret) => {
                metadata.insert("x-api-key", key.parse().expect("ascii key"));
                metadata.insert("x-api-secret", secret.parse().expect("ascii secret"));
            }
            Self::Bearer(key, secret) => {
                metadata.insert(
                    "authorization",
                    format!("Bearer {key}.{secret}")
                        .parse()
                        .expect("ascii token"),
                );
            }
            Self::Token(key, secret) => {
                let token = format!("{key}.{secret}");
                metadata.insert("x-api-key", token.parse().expect("ascii token"));
            }
        }
        Ok(request)
    }
}

pub type Authed = InterceptedService<Channel, Auth>;

impl TestApp {
    pub fn admin(&self) -> AdminServiceClient<Authed> {
        self.admin_as(&self.platform)
    }

    pub fn admin_as(&self, auth: &Auth) -> AdminServiceClient<Authed> {
        AdminServiceClient::with_interceptor(self.channel.clone(), auth.clone())
    }

    pub fn servers_as(&self, auth: &Auth) -> McpServerServiceClient<Authed> {
        McpServerServiceClient::with_interceptor(self.channel.clone(), auth.clone())
    }

    pub fn packs_as(&self, auth: &Auth) -> PackServiceClient<Authed> {
        PackServiceClient::with_interceptor(self.channel.clone(), auth.clone())
    }

    pub fn secrets_as(&self, auth: &Auth) -> SecretServiceClient<Authed> {
        SecretServiceClient::with_interceptor(self.channel.clone(), auth.clone())
    }

    pub fn sync_as(&self, auth: &Auth) -> SyncServiceClient<Authed> {
        SyncServiceClient::with_interceptor(self.channel.clone(), auth.clone())
    }

    pub fn oauth_as(&self, auth: &Auth) -> OAuthServiceClient<Authed> {
        OAuthServiceClient::with_interceptor(self.channel.clone(), auth.clone())
    }

    /// Creates an organization through the domain (as the CLI would).
    pub async fn create_org(&self, name: &str, plan: Plan) -> String {
        Admin::new(self.store.clone())
            .create_organization(
                &Caller::Cli,
                NewOrganization {
                    name: OrganizationName::parse(name).expect("valid name"),
                    plan,
                },
            )
            .await
            .expect("create organization")
            .id
    }

    /// Creates a key of `org` with `role` through the domain.
    pub async fn create_key(&self, org: &str, role: Role) -> Auth {
        let created = Admin::new(self.store.clone())
            .create_api_key(
                &Caller::Cli,
                NewApiKey {
                    scope: KeyScope::Organization {
                        organization_id: org.to_owned(),
                        role,
                        pack_ids: Vec::new(),
                    },
                    display_name: String::new(),
                    acts_for_users: false,
                },
            )
            .await
            .expect("create key");
        Auth::Pair(created.key.id, created.secret)
    }
}

/// Asserts the code and `ErrorInfo` reason of a failed call; returns the status.
#[track_caller]
pub fn assert_error<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    reason: &str,
) -> Status {
    use tonic_types::StatusExt;
    let status = result.expect_err("call should fail");
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "mcpregistry");
    let request_id = &details.request_info().expect("RequestInfo").request_id;
    assert!(!request_id.is_empty(), "RequestInfo without id: {status:?}");
    status
}

/// Returns the field paths of the `BadRequest` violations of `status`.
pub fn violated_fields(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| v.field.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// An organization with one key of each role (two members).
pub struct Org {
    pub id: String,
    pub admin: Auth,
    pub member: Auth,
    pub member2: Auth,
    pub viewer: Auth,
}

impl TestApp {
    /// Creates an organization and a key of each role.
    pub async fn org(&self, name: &str, plan: Plan) -> Org {
        let id = self.create_org(name, plan).await;
        Org {
            admin: self.create_key(&id, Role::Admin).await,
            member: self.create_key(&id, Role::Member).await,
            member2: self.create_key(&id, Role::Member).await,
            viewer: self.create_key(&id, Role::Viewer).await,
            id,
        }
    }

    /// Creates a server as `auth` and returns it.
    pub async fn create_server(&self, auth: &Auth, server: pb::McpServer) -> pb::McpServer {
        self.servers_as(auth)
            .create_mcp_server(pb::CreateMcpServerRequest {
                mcp_server: Some(server),
            })
            .await
            .expect("create server")
            .into_inner()
    }

    /// Syncs server `id` as `auth`.
    pub async fn try_sync(
        &self,
        auth: &Auth,
        id: &str,
    ) -> Result<tonic::Response<pb::SyncRun>, tonic::Status> {
        self.sync_as(auth)
            .sync_mcp_server(pb::SyncMcpServerRequest {
                id: id.into(),
                ..Default::default()
            })
            .await
    }

    /// Returns the runs of server `id` that `auth` sees, newest first.
    pub async fn runs(&self, auth: &Auth, id: &str) -> Vec<pb::SyncRun> {
        self.sync_as(auth)
            .list_sync_runs(pb::ListSyncRunsRequest {
                server_id: id.into(),
                ..Default::default()
            })
            .await
            .expect("runs")
            .into_inner()
            .sync_runs
    }

    /// Syncs server `id` as `auth` and returns its run (any outcome but an error answer).
    pub async fn sync(&self, auth: &Auth, id: &str) -> pb::SyncRun {
        self.try_sync(auth, id).await.expect("sync").into_inner()
    }
}

/// Creates `server` through `servers` and returns its id.
pub async fn create_id(
    servers: &mut McpServerServiceClient<Authed>,
    server: pb::McpServer,
) -> String {
    servers
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(server),
        })
        .await
        .expect("create")
        .into_inner()
        .id
}

/// A minimal valid server.
pub fn server(name: &str) -> pb::McpServer {
    pb::McpServer {
        name: name.into(),
        url: format!("https://{name}.mcp.example.com/mcp"),
        ..Default::default()
    }
}

/// Bearer-token credentials.
pub fn bearer(token: &str) -> Option<pb::Credentials> {
    Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::BearerToken(
            pb::BearerTokenCredentials {
                token: token.into(),
                token_secret: None,
            },
        )),
    })
}

/// Stores capabilities as a successful sync would.
pub async fn discovered(
    app: &TestApp,
    server_id: &str,
    kind: CapabilityKind,
    items: Vec<serde_json::Value>,
) {
    discovered_in(&app.store, server_id, kind, items).await;
}

/// [`discovered`] through any store (another replica's, say).
pub async fn discovered_in(
    store: &Store,
    server_id: &str,
    kind: CapabilityKind,
    items: Vec<serde_json::Value>,
) {
    let key_field = match kind {
        CapabilityKind::Tool | CapabilityKind::Prompt => "name",
        CapabilityKind::Resource => "uri",
        CapabilityKind::ResourceTemplate => "uriTemplate",
    };
    let items: Vec<NewCapability> = items
        .into_iter()
        .map(|definition| NewCapability {
            kind,
            key: definition[key_field].as_str().expect("key").to_owned(),
            definition_hash: definition_hash(&definition),
            definition,
        })
        .collect();
    store
        .replace_capabilities(server_id, kind, &items, now_micros())
        .await
        .expect("store capabilities");
}

/// A tool definition named `name`, as an upstream would list it.
pub fn tool(name: &str) -> serde_json::Value {
    serde_json::json!({"name": name, "description": format!("{name} does it"), "inputSchema": {"type": "object"}})
}

/// Stores tools for a server as a successful sync would, and marks it synced.
pub async fn synced(app: &TestApp, server_id: &str, tools: &[serde_json::Value]) {
    synced_in(&app.store, server_id, tools).await;
}

/// [`synced`] through any store (another replica's, say).
pub async fn synced_in(store: &Store, server_id: &str, tools: &[serde_json::Value]) {
    discovered_in(store, server_id, CapabilityKind::Tool, tools.to_vec()).await;
    store
        .record_sync_state(
            server_id,
            &mcp_registry::store::SyncState {
                at: now_micros(),
                succeeded: true,
                server_info: None,
                detected_transport: None,
                error: None,
            },
        )
        .await
        .expect("synced");
}

/// An MCP server of another implementation, run as a child process on
/// 127.0.0.1 (killed when dropped).
pub struct FixtureProcess {
    _child: tokio::process::Child,
    pub port: u16,
}

/// server-everything running on 127.0.0.1 in one transport mode.
pub type Everything = FixtureProcess;

/// The Python SDK fixture (`tests/fixtures/many_tools.py`) on 127.0.0.1.
pub type PythonServer = FixtureProcess;

impl FixtureProcess {
    /// Waits (for `tries` × 100 ms at most) until `child` listens on `port`.
    pub async fn listening(
        child: tokio::process::Child,
        port: u16,
        tries: u32,
        what: &str,
    ) -> Self {
        for _ in 0..tries {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self {
                    _child: child,
                    port,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what} did not listen on 127.0.0.1:{port}");
    }
}

/// Starts the reference server, or `None` outside the test command (required with CI=true).
pub async fn everything(mode: &str) -> Option<Everything> {
    let script = match std::env::var("MCP_REGISTRY_TEST_EVERYTHING") {
        Ok(path) if std::path::Path::new(&path).exists() => path,
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true needs server-everything: run ./scripts/test, which installs it")
        }
        _ => {
            eprintln!("skipping: MCP_REGISTRY_TEST_EVERYTHING is not set (./scripts/test sets it)");
            return None;
        }
    };
    // A free port: bind, read, release (the server binds it right after).
    let port = crate::mcp::free_port();
    let preload = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/loopback.cjs");
    let child = tokio::process::Command::new("node")
        .args(["--require", preload, &script, mode])
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start server-everything");
    Some(FixtureProcess::listening(child, port, 150, "server-everything").await)
}

/// The Python MCP SDK's path, or `None` outside the test command (required with CI=true).
pub fn python_sdk_path() -> Option<String> {
    match std::env::var("MCP_REGISTRY_TEST_PYTHONPATH") {
        Ok(path) if std::path::Path::new(&path).join("mcp").exists() => Some(path),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true needs the Python MCP SDK: run ./scripts/test, which installs it")
        }
        _ => {
            eprintln!("skipping: MCP_REGISTRY_TEST_PYTHONPATH is not set (./scripts/test sets it)");
            None
        }
    }
}

/// Starts `many_tools.py` in `transport` (`streamable-http` or `sse`), or
/// `None` outside the test command (required with CI=true).
pub async fn python_many_tools(transport: &str) -> Option<PythonServer> {
    let pythonpath = python_sdk_path()?;
    let port = crate::mcp::free_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/many_tools.py");
    let child = tokio::process::Command::new("python3")
        .args([script, transport, &port.to_string()])
        .env("PYTHONPATH", pythonpath)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the python fixture");
    Some(FixtureProcess::listening(child, port, 300, "the python fixture").await)
}
