//! The application shell: [`Application::build`] connects and migrates the
//! database and binds the listeners (port 0 allowed, see [`Application::port`]);
//! [`Application::run_until_stopped`] serves until the shutdown future
//! resolves, then drains in-flight calls, stops every task it owns and closes
//! the database.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::HealthService;

use crate::config::Settings;
use crate::crypto::Keyring;
use crate::gateway::Gateway;
use crate::gateway::access::Admission;
use crate::grpc::admin::AdminApi;
use crate::grpc::audit::AuditApi;
use crate::grpc::health::DrainingHealth;
use crate::grpc::mcp_server::McpServerApi;
use crate::grpc::middleware::{ApiLayer, KeyRateLimiter, key_rate_limiter};
use crate::grpc::oauth::OAuthApi;
use crate::grpc::pack::PackApi;
use crate::grpc::secret::SecretApi;
use crate::grpc::sync::SyncApi;
use crate::pb;
use crate::registry::audit::Audit;
use crate::registry::auth::Authenticator;
use crate::registry::call_log::CallLog;
use crate::registry::oauth::OAuth;
use crate::registry::packs::Packs;
use crate::registry::retention;
use crate::registry::runs::Runs;
use crate::registry::servers::{Servers, UrlPolicy};
use crate::registry::{Admin, GatewayUrl};
use crate::store::{Store, redact_url};
use crate::sync::client::Limits;
use crate::sync::engine::{SyncSettings, Syncer};
use crate::sync::guard::GuardPolicy;
use crate::telemetry;

/// How often health checks that the database answers.
const DATABASE_PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long the database may take to answer a health probe.
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Names under which health is reported: the whole server ("") and each service.
const HEALTH_SERVICES: &[&str] = &[
    "",
    "mcpregistry.v1.AdminService",
    "mcpregistry.v1.AuditService",
    "mcpregistry.v1.McpServerService",
    "mcpregistry.v1.OAuthService",
    "mcpregistry.v1.PackService",
    "mcpregistry.v1.SecretService",
    "mcpregistry.v1.SyncService",
];

/// A built application, ready to serve.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    /// The pack gateway's listener (`--mcp-listen`), when on.
    gateway_listener: Option<TcpListener>,
    /// Where MCP clients reach the gateway, as gateway exports write it:
    /// `--gateway-public-url`, else the gateway's bound address; `None` when
    /// neither is there.
    gateway_url: Option<GatewayUrl>,
    store: Store,
    keyring: Arc<Keyring>,
    settings: Settings,
}

impl Application {
    /// Loads the master keys, connects to the database, applies migrations and
    /// binds the gRPC and metrics listeners.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let keyring = Arc::new(settings.load_keyring()?);
        if settings.embedded_database {
            std::fs::create_dir_all(&settings.data_dir).with_context(|| {
                format!(
                    "cannot create data directory {}",
                    settings.data_dir.display()
                )
            })?;
        }
        let store = Store::connect(&settings.database_url).await?;
        store.migrate().await?;
        tracing::info!(database = %redact_url(&settings.database_url), "database ready");

        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for metrics on {addr}"))?,
            ),
            None => None,
        };
        let gateway_listener = match settings.mcp_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for the pack gateway on {addr}"))?,
            ),
            None => None,
        };
        let gateway_url = settings.gateway_public_url.clone().or_else(|| {
            let listener = gateway_listener.as_ref()?;
            listener.local_addr().ok().map(GatewayUrl::listening_on)
        });

        if Admin::new(store.clone()).has_no_keys().await? {
            tracing::info!(
                "no api key exists yet; create one with `mcp-registry admin create-key --platform-admin` (same --data-dir or --database-url), then organizations with `mcp-registry admin create-org`"
            );
        }
        Ok(Self {
            listener,
            metrics_listener,
            gateway_listener,
            gateway_url,
            store,
            keyring,
            settings,
        })
    }

    /// Returns the address the gRPC listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has a local address.
        self.listener.local_addr().unwrap_or(self.settings.listen)
    }

    /// Returns the port of the gRPC listener (useful when built with port 0).
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Returns the address of the metrics listener, if enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Returns the address of the pack gateway's listener, if enabled.
    pub fn gateway_addr(&self) -> Option<SocketAddr> {
        self.gateway_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Returns the store, for tests and tooling that inspect what is at rest.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until `shutdown` resolves, then shuts down gracefully: health
    /// turns NOT_SERVING, the listener closes, in-flight calls finish (up to
    /// the configured timeout), owned tasks stop and the database closes.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            metrics_listener,
            gateway_listener,
            gateway_url,
            store,
            keyring,
            settings,
        } = self;
        let addr = listener.local_addr()?;
        let owned = Owned::new();
        let (health, health_service) = start_health(&owned).await;
        let routes = with_reflection(Routes::new(health_service))?;
        if let Some(listener) = metrics_listener {
            serve_metrics(listener, &owned)?;
        }
        let services = start_services(&store, &keyring, &settings, &owned)?;
        if let Some(listener) = gateway_listener {
            serve_gateway(
                listener,
                gateway_url.as_ref(),
                &store,
                &services,
                &settings,
                &owned,
            )?;
        }
        let health_lock = probe_database(&health, &store, &owned);

        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let signal = shutdown_started(shutdown, health, health_lock, &owned);
        let syncer = services.syncer.clone();
        let limiter = services.limiter.clone();
        let packs = Packs::new(store.clone()).with_gateway(gateway_url);
        let routes = with_api(
            routes,
            services,
            packs,
            &keyring,
            &settings,
            &owned.stopping,
        );
        let server = serve(routes, &store, &settings, limiter, incoming, signal);
        tracing::info!(%addr, "serving gRPC");
        let grace_over = serve_until_grace_over(server, &owned, settings.shutdown_timeout).await?;
        drain(owned, grace_over, &syncer, store).await;
        Ok(())
    }
}

/// What the application owns while it serves, and the two phases of its
/// shutdown.
struct Owned {
    /// Cancelled when shutdown starts; every owned task watches it.
    stopping: CancellationToken,
    /// Cancelled when the shutdown grace period is over: syncs still
    /// running then are abandoned.
    abandon: CancellationToken,
    /// Every long-lived task, so that shutdown can wait for all of them.
    tasks: TaskTracker,
}

impl Owned {
    /// Returns tokens that are not cancelled yet and an empty tracker.
    fn new() -> Self {
        Self {
            stopping: CancellationToken::new(),
            abandon: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }
}

/// The domain services and the sync engine the gRPC services wrap.
struct Services {
    /// Organizations and API keys, for AdminService.
    admin: Admin,
    /// MCP servers, for McpServerService.
    servers: Servers,
    /// Run queries, for SyncService.
    runs: Runs,
    /// Audit queries, for AuditService.
    audit: Audit,
    /// The gateway's call records, written in the background.
    calls: CallLog,
    /// The sync engine: McpServerService syncs after writes, SyncService on
    /// demand, and shutdown releases its leases.
    syncer: Syncer,
    /// `--rate-limit`: one budget per key, charged by gRPC calls and gateway
    /// requests alike.
    limiter: Option<Arc<KeyRateLimiter>>,
}

/// Reports every service SERVING; the health service answers NOT_SERVING
/// on its own once shutdown starts.
async fn start_health(
    owned: &Owned,
) -> (
    tonic_health::server::HealthReporter,
    HealthServer<DrainingHealth>,
) {
    let health = tonic_health::server::HealthReporter::new();
    let health_service = HealthServer::new(DrainingHealth::new(
        HealthService::from_health_reporter(health.clone()),
        owned.stopping.clone(),
    ));
    for service in HEALTH_SERVICES {
        health
            .set_service_status(*service, ServingStatus::Serving)
            .await;
    }
    (health, health_service)
}

/// Adds server reflection to `routes`, in v1 and in the v1alpha that
/// grpcurl and other older clients speak.
fn with_reflection(routes: Routes) -> anyhow::Result<Routes> {
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    Ok(routes.add_service(v1).add_service(v1alpha))
}

/// Serves `/metrics` on its own listener until shutdown starts.
fn serve_metrics(listener: TcpListener, owned: &Owned) -> anyhow::Result<()> {
    let metrics_addr = listener.local_addr()?;
    let handle = telemetry::metrics_handle();
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move { handle.render() }),
    );
    let stop = owned.stopping.clone();
    owned.tasks.spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "metrics listener failed");
        }
    });
    tracing::info!(addr = %metrics_addr, "serving metrics on /metrics");
    Ok(())
}

/// Serves the pack gateway on `listener` until shutdown starts; in-flight
/// requests finish within the shutdown grace period, like gRPC calls.
fn serve_gateway(
    listener: TcpListener,
    url: Option<&GatewayUrl>,
    store: &Store,
    services: &Services,
    settings: &Settings,
    owned: &Owned,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let packs = Packs::new(store.clone());
    let gateway = Gateway::new(
        Admission::new(
            Authenticator::new(store.clone()).with_cache(settings.read_cache.keys),
            services.limiter.clone(),
            &packs,
            settings.read_cache.resolutions / 8,
        ),
        packs,
        services.servers.clone(),
        services.syncer.clone(),
        crate::gateway::Calls {
            timeout: settings.gateway_call_timeout,
            log: services.calls.clone(),
        },
        &settings.read_cache,
        owned.stopping.clone(),
    );
    let router = crate::gateway::router(gateway, settings.max_message_bytes);
    let stop = owned.stopping.clone();
    let abandon = owned.abandon.clone();
    owned.tasks.spawn(async move {
        let served = axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned());
        // In-flight calls get the grace period, like gRPC calls; calls still
        // waiting on an upstream then are cut.
        tokio::select! {
            served = served => if let Err(err) = served {
                tracing::error!(error = %err, "pack gateway listener failed");
            },
            () = abandon.cancelled() => {
                tracing::warn!("pack gateway calls still running at the end of the grace period were cut");
            }
        }
    });
    let url = url.map_or("", GatewayUrl::as_str);
    tracing::info!(%addr, url = %url, "serving the pack gateway on /mcp/packs/<pack id>");
    Ok(())
}

/// Builds the domain services and the sync engine, and starts the sync
/// scheduler and (on PostgreSQL) the listener for other replicas' writes.
fn start_services(
    store: &Store,
    keyring: &Arc<Keyring>,
    settings: &Settings,
    owned: &Owned,
) -> anyhow::Result<Services> {
    let admin = Admin::new(store.clone());
    let servers = Servers::new(
        store.clone(),
        keyring.clone(),
        UrlPolicy {
            allow_insecure: settings.allow_insecure_upstreams,
        },
    );
    let oauth = OAuth::new(store.clone(), keyring.clone(), settings.oauth.clone());
    let syncer = Syncer::new(
        store.clone(),
        servers.clone(),
        oauth,
        SyncSettings {
            policy: GuardPolicy {
                allow_private: settings.allow_private_upstreams,
                allowed: settings.allowed_upstream_addresses.clone().into(),
            },
            limits: Limits {
                deadline: settings.sync_timeout,
                ..Limits::default()
            },
            connect_timeout: Duration::from_secs(10).min(settings.sync_timeout),
            background: settings.background_sync,
            interval: settings.sync_interval,
            max_backoff: settings.sync_max_backoff,
            concurrency: settings.sync_concurrency,
            watches: settings.upstream_watches,
        },
        owned.tasks.clone(),
        owned.stopping.clone(),
        owned.abandon.clone(),
    )?;
    syncer.start_scheduler();
    syncer.start_watches();
    // PostgreSQL: the read caches follow the writes of other replicas.
    let listening = store.clone();
    let url = settings.database_url.clone();
    let stop = owned.stopping.clone();
    owned
        .tasks
        .spawn(async move { listening.listen_for_changes(&url, stop).await });
    let runs = Runs::new(store.clone(), servers.clone());
    // The audit trail: its retention, and the gateway's call records.
    let pruned = store.clone();
    let retention = settings.retention.clone();
    let stop = owned.stopping.clone();
    owned
        .tasks
        .spawn(async move { retention::run(pruned, retention, stop).await });
    let calls = CallLog::start(store.clone(), &owned.tasks, owned.abandon.clone());
    Ok(Services {
        admin,
        servers,
        runs,
        audit: Audit::new(store.clone()),
        calls,
        syncer,
        limiter: key_rate_limiter(settings.rate_limit),
    })
}

/// Health follows the database: NOT_SERVING while it does not answer,
/// SERVING again once it does. The returned lock orders this against the
/// shutdown, whose NOT_SERVING must stay.
fn probe_database(
    health: &tonic_health::server::HealthReporter,
    store: &Store,
    owned: &Owned,
) -> Arc<tokio::sync::Mutex<()>> {
    let health_lock = Arc::new(tokio::sync::Mutex::new(()));
    let health = health.clone();
    let store = store.clone();
    let stop = owned.stopping.clone();
    let lock = health_lock.clone();
    owned.tasks.spawn(async move {
        let mut up = true;
        metrics::gauge!("mcp_registry_database_up").set(1.0);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(DATABASE_PROBE_EVERY) => {}
            }
            let now_up = store.answers_within(DATABASE_PROBE_TIMEOUT).await;
            if now_up == up {
                continue;
            }
            let _guard = lock.lock().await;
            if stop.is_cancelled() {
                return;
            }
            up = now_up;
            metrics::gauge!("mcp_registry_database_up").set(if up { 1.0 } else { 0.0 });
            let status = if up {
                tracing::info!("database reachable again: SERVING");
                ServingStatus::Serving
            } else {
                tracing::warn!("database unreachable: NOT_SERVING until it answers");
                ServingStatus::NotServing
            };
            for service in HEALTH_SERVICES {
                health.set_service_status(*service, status).await;
            }
        }
    });
    health_lock
}

/// The first phase of shutdown, as the server's shutdown signal: once
/// `shutdown` resolves, health turns NOT_SERVING for good (after any probe
/// under way) and `stopping` is cancelled.
fn shutdown_started(
    shutdown: impl Future<Output = ()> + Send + 'static,
    health: tonic_health::server::HealthReporter,
    health_lock: Arc<tokio::sync::Mutex<()>>,
    owned: &Owned,
) -> impl Future<Output = ()> + Send + 'static {
    let stop = owned.stopping.clone();
    async move {
        shutdown.await;
        tracing::info!("shutdown started: finishing in-flight calls");
        let _guard = health_lock.lock().await;
        for service in HEALTH_SERVICES {
            health
                .set_service_status(*service, ServingStatus::NotServing)
                .await;
        }
        stop.cancel();
    }
}

/// Adds the seven API services to `routes`. `stopping` ends WatchSyncEvents
/// streams when shutdown starts.
fn with_api(
    routes: Routes,
    services: Services,
    packs: Packs,
    keyring: &Arc<Keyring>,
    settings: &Settings,
    stopping: &CancellationToken,
) -> Routes {
    let max_message = settings.max_message_bytes;
    let cache = &settings.read_cache;
    routes
        .add_service(
            pb::admin_service_server::AdminServiceServer::new(AdminApi::new(
                services.admin,
                keyring.clone(),
            ))
            .max_decoding_message_size(max_message),
        )
        .add_service(
            pb::audit_service_server::AuditServiceServer::new(AuditApi::new(
                services.audit,
                keyring.clone(),
            ))
            .max_decoding_message_size(max_message),
        )
        .add_service(
            pb::mcp_server_service_server::McpServerServiceServer::new(
                McpServerApi::new(
                    services.servers.clone(),
                    keyring.clone(),
                    services.syncer.clone(),
                )
                .with_cache(cache.servers, cache.server_lists),
            )
            .max_decoding_message_size(max_message),
        )
        .add_service(
            pb::pack_service_server::PackServiceServer::new(
                PackApi::new(packs, keyring.clone())
                    .with_cache(cache.resolutions, settings.store_resolutions),
            )
            .max_decoding_message_size(max_message),
        )
        .add_service(
            pb::secret_service_server::SecretServiceServer::new(SecretApi::new(
                services.servers.secrets().clone(),
                keyring.clone(),
                services.syncer.clone(),
            ))
            .max_decoding_message_size(max_message),
        )
        .add_service(
            pb::o_auth_service_server::OAuthServiceServer::new(OAuthApi::new(
                services.syncer.clone(),
            ))
            .max_decoding_message_size(max_message),
        )
        .add_service(
            pb::sync_service_server::SyncServiceServer::new(SyncApi::new(
                services.syncer,
                services.runs,
                services.servers,
                keyring.clone(),
                stopping.clone(),
                settings.max_watchers_per_org,
            ))
            .max_decoding_message_size(max_message),
        )
}

/// Serves `routes` on `incoming`, behind the API layer (authentication, rate
/// limits) and optionally gRPC-Web, until `signal` resolves; then lets
/// in-flight calls finish.
fn serve(
    routes: Routes,
    store: &Store,
    settings: &Settings,
    limiter: Option<Arc<KeyRateLimiter>>,
    incoming: TcpIncoming,
    signal: impl Future<Output = ()> + Send,
) -> impl Future<Output = Result<(), tonic::transport::Error>> {
    // gRPC-Web (`--grpc-web`): HTTP/1.1 accepted, calls translated before
    // the API layer sees them, CORS for browsers on other origins (API
    // keys travel in explicit headers, never in cookies).
    let grpc_web = settings.grpc_web.then(|| {
        tower::ServiceBuilder::new()
            .layer(grpc_web_cors())
            .layer(tonic_web::GrpcWebLayer::new())
    });
    Server::builder()
        .accept_http1(settings.grpc_web)
        .max_concurrent_streams(settings.max_concurrent_streams)
        .layer(tower::util::option_layer(grpc_web))
        // One response body type whether or not gRPC-Web wraps the API.
        .layer(tower::util::MapResponseLayer::new(
            |response: http::Response<_>| response.map(tonic::body::Body::new),
        ))
        .layer(ApiLayer::new(
            Authenticator::new(store.clone()).with_cache(settings.read_cache.keys),
            limiter,
        ))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, signal)
}

/// Serves until the server has drained after its shutdown signal, or until
/// the grace period (`grace` after shutdown started) is over, whichever
/// comes first. Returns the timer that ends the grace period.
async fn serve_until_grace_over(
    server: impl Future<Output = Result<(), tonic::transport::Error>>,
    owned: &Owned,
    grace: Duration,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    // In-flight calls and running syncs get `grace` once shutdown has
    // started; then calls are cut and syncs abandoned.
    let grace_over = {
        let stop = owned.stopping.clone();
        let abandon = owned.abandon.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            tokio::time::sleep(grace).await;
            abandon.cancel();
        })
    };
    tokio::select! {
        served = server => served.context("gRPC server failed")?,
        () = owned.abandon.cancelled() => {
            tracing::warn!(timeout_secs = grace.as_secs(), "in-flight calls did not finish in time; exiting anyway");
        }
    }
    Ok(grace_over)
}

/// Stops every owned task (syncs under way finish, or are abandoned when the
/// grace period ends), releases this replica's leases, fails the runs it
/// abandoned and closes the database.
async fn drain(
    owned: Owned,
    grace_over: tokio::task::JoinHandle<()>,
    syncer: &Syncer,
    store: Store,
) {
    let Owned {
        stopping,
        abandon,
        tasks,
    } = owned;
    // No new sync starts; those under way finish, or are abandoned when
    // the grace period ends.
    stopping.cancel();
    tasks.close();
    if !abandon.is_cancelled() && !tasks.is_empty() {
        tracing::info!(tasks = tasks.len(), "waiting for running syncs to finish");
    }
    tasks.wait().await;
    grace_over.abort();
    match syncer.release_leases().await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "released sync leases"),
        Err(err) => {
            tracing::warn!(error = %err, "cannot release sync leases; they will expire")
        }
    }
    match syncer.fail_abandoned_runs().await {
        Ok(0) => {}
        Ok(count) => {
            tracing::info!(count, "marked syncs interrupted by the shutdown as failed")
        }
        Err(err) => tracing::warn!(error = %err, "cannot mark interrupted syncs as failed"),
    }
    if let Err(err) = store.close().await {
        tracing::warn!(error = %err, "closing the database failed");
    }
    tracing::info!("stopped");
}

/// CORS for gRPC-Web: any origin, the headers gRPC-Web clients send, and the
/// response headers they must read.
fn grpc_web_cors() -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let exposed = [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "x-request-id",
    ]
    .map(http::HeaderName::from_static);
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([http::Method::POST, http::Method::OPTIONS])
        .allow_headers(tower_http::cors::Any)
        .expose_headers(exposed)
        .max_age(std::time::Duration::from_secs(24 * 60 * 60))
}
