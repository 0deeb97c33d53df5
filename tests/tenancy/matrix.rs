//! The tenancy matrix: every RPC of the contract, called by every kind of
//! caller (three organizations, every role, a platform-admin key, two
//! pack-limited keys, no key and bad keys), each cell asserting the exact
//! gRPC code (and `ErrorInfo` reason) that the proto comments and the README
//! document.
//!
//! Each cell is independent: writes act on objects made for that cell alone
//! (a fresh server or pack created by A's first MEMBER just before the call),
//! creates use fresh names, and the few writes on shared objects are
//! idempotent (approving the same tool, setting A's plan to its plan, syncing).
//!
//! Run with `--nocapture` to see the matrix (it goes into RELIABILITY.md).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_registry::pb;
use mcp_registry::pb::audit_service_client::AuditServiceClient;
use mcp_registry::registry::Plan;
use mcp_registry::registry::servers::CapabilityKind;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

use crate::fixture::upstream;
use crate::helpers::{Auth, Backend, Options, Org, TestApp, discovered, run_with, server, tool};

const ADMIN: &str = "mcpregistry.v1.AdminService";
const AUDIT: &str = "mcpregistry.v1.AuditService";
const SERVERS: &str = "mcpregistry.v1.McpServerService";
const PACKS: &str = "mcpregistry.v1.PackService";
const SECRETS: &str = "mcpregistry.v1.SecretService";
const OAUTH: &str = "mcpregistry.v1.OAuthService";
const SYNC: &str = "mcpregistry.v1.SyncService";
const HEALTH: &str = "grpc.health.v1.Health";
const REFLECTION: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// The callers, in column order. `A:lim1` is an ADMIN key of A limited to
/// A's pack; `A:lim2` an ADMIN key of A limited to another (empty) pack of A.
const CALLERS: [&str; 15] = [
    "A:admin", "A:mem1", "A:mem2", "A:view", "B:admin", "B:mem", "B:view", "C:admin", "platfm",
    "A:lim1", "A:lim2", "nokey", "badsec", "unkkey", "revoked",
];

/// Index of the first pack-limited key.
const FIRST_LIMITED: usize = 9;

/// Index of the first unauthenticated caller (no key, bad secret, unknown
/// key, revoked key).
const FIRST_UNAUTHENTICATED: usize = 11;

const OK: Code = Code::Ok;
const PD: Code = Code::PermissionDenied;
const NF: Code = Code::NotFound;

/// Expected codes of the eleven authenticated callers, by pattern. The
/// pack-limited keys (last two) only read: their packs, and the servers
/// those packs hold; every write is refused by the middleware.
/// A's private server in A's pack, read: A's keys only (B, C and the
/// platform see no such object), of the limited ones the one limited to the pack.
const READ_A: [Code; 11] = [OK, OK, OK, OK, NF, NF, NF, NF, NF, OK, PD];
/// A's run, read: A's unlimited keys only (limited keys read no runs).
const RUNS_A: [Code; 11] = [OK, OK, OK, OK, NF, NF, NF, NF, NF, PD, PD];
/// A's private server (or run), changed: ADMIN and the creating MEMBER.
/// B's VIEWER is refused by the middleware before any lookup.
const WRITE_A: [Code; 11] = [OK, OK, PD, PD, NF, NF, PD, NF, NF, PD, PD];
/// A's pack, read: packs refuse platform-admin keys and keys limited to other packs.
const PACK_READ: [Code; 11] = [OK, OK, OK, OK, NF, NF, NF, NF, PD, OK, PD];
/// A's pack, changed.
const PACK_WRITE: [Code; 11] = [OK, OK, PD, PD, NF, NF, PD, NF, PD, PD, PD];
/// No key needed.
const ALL: [Code; 11] = [OK; 11];
/// A catalog object or the caller's own scope, read: every unlimited key.
const CATALOG_READ: [Code; 11] = [OK, OK, OK, OK, OK, OK, OK, OK, OK, PD, PD];
/// A catalog server, changed: platform-admin keys only.
const CATALOG_WRITE: [Code; 11] = [PD, PD, PD, PD, PD, PD, PD, PD, OK, PD, PD];
/// AdminService: platform-admin keys only.
const PLATFORM: [Code; 11] = [PD, PD, PD, PD, PD, PD, PD, PD, OK, PD, PD];
/// A create in the caller's own organization (or the catalog): not VIEWERs,
/// not limited keys.
const CREATE: [Code; 11] = [OK, OK, OK, PD, OK, OK, PD, OK, OK, PD, PD];

/// AuditService, the caller's own rows: unlimited ADMIN keys and platform
/// admins (catalog and platform rows).
const AUDIT_OWN: [Code; 11] = [OK, PD, PD, PD, OK, PD, PD, OK, OK, PD, PD];
/// AuditService naming organization A: A's ADMIN and platform admins; another
/// organization's ADMIN is NOT_FOUND, any other key PERMISSION_DENIED.
const AUDIT_OF_A: [Code; 11] = [OK, PD, PD, PD, NF, PD, PD, NF, OK, PD, PD];

/// SecretService, a create or a listing in the caller's own organization:
/// ADMIN keys create, every unlimited organization key lists.
const SECRET_CREATE: [Code; 11] = [OK, PD, PD, PD, OK, PD, PD, OK, PD, PD, PD];
const SECRET_LIST: [Code; 11] = [OK, OK, OK, OK, OK, OK, OK, OK, PD, PD, PD];
/// A's secret, read: A's unlimited keys; other organizations see no such
/// object; platform-admin and pack-limited keys have no secrets.
const SECRET_READ: [Code; 11] = [OK, OK, OK, OK, NF, NF, NF, NF, PD, PD, PD];
/// A's secret, changed: A's ADMIN; another organization's ADMIN finds no
/// such object; every other role is refused before any lookup.
const SECRET_WRITE: [Code; 11] = [OK, PD, PD, PD, NF, PD, PD, NF, PD, PD, PD];

const UV: Code = Code::Unavailable;
const IA: Code = Code::InvalidArgument;

/// A's OAuth server (in no pack), its connection read: A's unlimited keys.
const OAUTH_READ: [Code; 11] = [OK, OK, OK, OK, NF, NF, NF, NF, NF, PD, PD];
/// A's OAuth server, an authorization started: ADMIN and the owning MEMBER
/// get as far as the authorization server, which the SSRF guard refuses
/// (UNAVAILABLE/UPSTREAM_UNREACHABLE); the others never get there.
const OAUTH_START: [Code; 11] = [UV, UV, PD, PD, NF, NF, PD, NF, NF, PD, PD];
/// An unknown state completed: INVALID_ARGUMENT on `state` for every key that
/// may write (whatever its organization), refused first for the others.
const OAUTH_COMPLETE: [Code; 11] = [IA, IA, IA, PD, IA, IA, PD, IA, IA, PD, PD];

/// One row: an RPC with one way of calling it.
struct Row {
    service: &'static str,
    method: &'static str,
    /// What the request targets; also selects the request builder.
    target: &'static str,
    /// Whether the RPC needs an API key (else the unauthenticated callers pass too).
    needs_key: bool,
    /// Expected codes of the eleven authenticated callers.
    expect: [Code; 11],
}

const fn row(
    service: &'static str,
    method: &'static str,
    target: &'static str,
    expect: [Code; 11],
) -> Row {
    Row {
        service,
        method,
        target,
        needs_key: true,
        expect,
    }
}

const fn open(service: &'static str, method: &'static str, target: &'static str) -> Row {
    Row {
        service,
        method,
        target,
        needs_key: false,
        expect: ALL,
    }
}

const ROWS: &[Row] = &[
    row(ADMIN, "CreateOrganization", "new org", PLATFORM),
    row(ADMIN, "GetOrganization", "org A", PLATFORM),
    row(ADMIN, "ListOrganizations", "all", PLATFORM),
    row(ADMIN, "UpdateOrganization", "org A (same plan)", PLATFORM),
    row(ADMIN, "CreateApiKey", "key of org A", PLATFORM),
    row(ADMIN, "ListApiKeys", "keys of org A", PLATFORM),
    row(ADMIN, "RevokeApiKey", "fresh key of A", PLATFORM),
    row(AUDIT, "ListAuditEvents", "own", AUDIT_OWN),
    row(AUDIT, "ListAuditEvents", "org A", AUDIT_OF_A),
    row(AUDIT, "ListToolCalls", "own", AUDIT_OWN),
    row(AUDIT, "ListToolCalls", "org A", AUDIT_OF_A),
    row(SERVERS, "CreateMcpServer", "private", CREATE),
    row(SERVERS, "CreateMcpServer", "catalog", CATALOG_WRITE),
    row(SERVERS, "GetMcpServer", "A's by id", READ_A),
    row(SERVERS, "GetMcpServer", "A's by name", READ_A),
    row(SERVERS, "GetMcpServer", "catalog by id", CATALOG_READ),
    row(SERVERS, "ListMcpServers", "own + catalog", CATALOG_READ),
    row(SERVERS, "SearchTools", "own + catalog", CATALOG_READ),
    row(SERVERS, "UpdateMcpServer", "fresh of A", WRITE_A),
    row(SERVERS, "UpdateMcpServer", "fresh catalog", CATALOG_WRITE),
    row(SERVERS, "DeleteMcpServer", "fresh of A", WRITE_A),
    row(SERVERS, "DeleteMcpServer", "fresh catalog", CATALOG_WRITE),
    row(SERVERS, "ListServerTools", "A's", READ_A),
    row(SERVERS, "ListServerTools", "catalog", CATALOG_READ),
    row(SERVERS, "ListServerPrompts", "A's", READ_A),
    row(SERVERS, "ListServerResources", "A's", READ_A),
    row(SERVERS, "ApproveTools", "A's", WRITE_A),
    row(SERVERS, "ApproveTools", "catalog", CATALOG_WRITE),
    row(SERVERS, "ImportMcpConfig", "one entry", CREATE),
    row(SERVERS, "ImportMcpConfig", "one entry, dry run", CREATE),
    row(SERVERS, "ImportMcpConfig", "one server.json", CREATE),
    row(SERVERS, "ExportMcpServer", "A's by id", READ_A),
    row(SERVERS, "ExportMcpServer", "catalog by id", CATALOG_READ),
    row(
        PACKS,
        "CreatePack",
        "holding A's server",
        [OK, OK, OK, PD, NF, NF, PD, NF, PD, PD, PD],
    ),
    row(
        PACKS,
        "CreatePack",
        "holding B's server",
        [NF, NF, NF, PD, OK, OK, PD, NF, PD, PD, PD],
    ),
    row(
        PACKS,
        "CreatePack",
        "holding a catalog server",
        [OK, OK, OK, PD, OK, OK, PD, OK, PD, PD, PD],
    ),
    row(PACKS, "GetPack", "A's", PACK_READ),
    row(
        PACKS,
        "ListPacks",
        "own",
        [OK, OK, OK, OK, OK, OK, OK, OK, PD, OK, OK],
    ),
    row(PACKS, "UpdatePack", "fresh of A", PACK_WRITE),
    row(PACKS, "DeletePack", "fresh of A", PACK_WRITE),
    row(PACKS, "AddPackServer", "fresh of A", PACK_WRITE),
    row(PACKS, "RemovePackServer", "fresh of A", PACK_WRITE),
    row(PACKS, "ReplacePackServers", "fresh of A", PACK_WRITE),
    row(PACKS, "UpdatePackServerTools", "fresh of A", PACK_WRITE),
    row(PACKS, "ListPackRevisions", "A's", PACK_READ),
    row(PACKS, "GetPackRevision", "A's v1", PACK_READ),
    row(PACKS, "RestorePackRevision", "fresh of A, v1", PACK_WRITE),
    row(PACKS, "ResolvePack", "A's", PACK_READ),
    row(PACKS, "ExportPack", "A's", PACK_READ),
    row(SECRETS, "CreateSecret", "own", SECRET_CREATE),
    row(SECRETS, "GetSecret", "A's", SECRET_READ),
    row(SECRETS, "ListSecrets", "own", SECRET_LIST),
    row(SECRETS, "UpdateSecret", "fresh of A", SECRET_WRITE),
    row(SECRETS, "RotateSecret", "fresh of A", SECRET_WRITE),
    row(SECRETS, "DeleteSecret", "fresh of A", SECRET_WRITE),
    row(OAUTH, "StartOAuthAuthorization", "fresh of A", OAUTH_START),
    row(
        OAUTH,
        "CompleteOAuthAuthorization",
        "unknown state",
        OAUTH_COMPLETE,
    ),
    row(OAUTH, "GetOAuthConnection", "A's", OAUTH_READ),
    row(OAUTH, "DeleteOAuthConnection", "fresh of A", WRITE_A),
    row(SYNC, "SyncMcpServer", "A's (loopback)", WRITE_A),
    row(SYNC, "SyncMcpServer", "catalog (loopback)", CATALOG_WRITE),
    row(SYNC, "GetSyncRun", "A's run", RUNS_A),
    row(SYNC, "ListSyncRuns", "A's server", RUNS_A),
    row(SYNC, "ListSyncRuns", "own scope", CATALOG_READ),
    row(SYNC, "WatchSyncEvents", "A's server", RUNS_A),
    row(SYNC, "WatchSyncEvents", "catalog server", CATALOG_READ),
    row(SYNC, "WatchSyncEvents", "own scope", CATALOG_READ),
    open(HEALTH, "Check", "no key needed"),
    open(HEALTH, "Watch", "no key needed"),
    open(REFLECTION, "ServerReflectionInfo", "no key needed (v1)"),
    open(
        REFLECTION_ALPHA,
        "ServerReflectionInfo",
        "no key needed (v1alpha)",
    ),
];

impl Row {
    fn expected(&self, column: usize) -> Code {
        if column >= FIRST_UNAUTHENTICATED {
            if self.needs_key {
                Code::Unauthenticated
            } else {
                Code::Ok
            }
        } else {
            self.expect[column]
        }
    }
}

/// The objects the rows act on, and the callers.
struct World {
    app: TestApp,
    a: Org,
    b: Org,
    c: Org,
    callers: Vec<Auth>,
    upstream: crate::mcp::Running,
    /// A's server, created by A's first MEMBER, in `pack`, with a tool.
    a_server: pb::McpServer,
    /// B's server.
    b_server: pb::McpServer,
    /// A catalog server with a tool.
    catalog: pb::McpServer,
    /// A's server on the loopback upstream, created by A's first MEMBER.
    a_loopback: pb::McpServer,
    /// A catalog server on the loopback upstream.
    catalog_loopback: pb::McpServer,
    /// A's pack, created by A's first MEMBER, holding `a_server`.
    pack: pb::Pack,
    /// A sync run of `a_loopback`.
    a_run: String,
    /// A's secret, referenced by nothing.
    a_secret: pb::Secret,
    /// A's OAuth server (created by A's first MEMBER, in no pack), connected.
    a_oauth: pb::McpServer,
    /// The pack each pack-limited column is limited to: `pack`, and another
    /// (empty) pack of A.
    limited_to: [String; 2],
    /// Ids of every private object of A (servers, packs, runs): no answer to
    /// a caller outside A may contain one.
    a_ids: Mutex<Vec<String>>,
    counter: AtomicUsize,
}

impl World {
    async fn new(app: TestApp) -> Self {
        let a = app.org("tenant-a", Plan::Enterprise).await;
        let b = app.org("tenant-b", Plan::Pro).await;
        let c = app.org("tenant-c", Plan::Enterprise).await;
        let upstream = upstream("unused-access-token").await;

        let a_server = app.create_server(&a.member, server("alpha")).await;
        discovered(&app, &a_server.id, CapabilityKind::Tool, vec![tool("echo")]).await;
        let b_server = app.create_server(&b.member, server("beta")).await;
        let catalog = app.create_server(&app.platform, server("shared")).await;
        discovered(&app, &catalog.id, CapabilityKind::Tool, vec![tool("look")]).await;
        let mut loopback = server("alpha-loop");
        loopback.url = upstream.url("/a/mcp");
        let a_loopback = app.create_server(&a.member, loopback).await;
        let mut loopback = server("shared-loop");
        loopback.url = upstream.url("/catalog/mcp");
        let catalog_loopback = app.create_server(&app.platform, loopback).await;

        let pack = app
            .packs_as(&a.member)
            .create_pack(pb::CreatePackRequest {
                pack: Some(pb::Pack {
                    name: "alpha-pack".into(),
                    description: "A's pack".into(),
                    servers: vec![member(&a_server.id)],
                    ..Default::default()
                }),
            })
            .await
            .expect("A's pack")
            .into_inner();
        let a_run = app
            .sync_as(&a.member)
            .sync_mcp_server(pb::SyncMcpServerRequest {
                id: a_loopback.id.clone(),
                ..Default::default()
            })
            .await
            .expect("a sync of A's loopback server")
            .into_inner();
        assert_eq!(a_run.outcome(), pb::SyncOutcome::Succeeded, "{a_run:?}");

        // Two ADMIN keys of A limited to packs: A's pack, and another one.
        let other_pack = app
            .packs_as(&a.member)
            .create_pack(pb::CreatePackRequest {
                pack: Some(pb::Pack {
                    name: "alpha-other".into(),
                    description: "another pack of A".into(),
                    ..Default::default()
                }),
            })
            .await
            .expect("A's other pack")
            .into_inner();
        let limited_to = [pack.id.clone(), other_pack.id.clone()];
        let mut limited = Vec::new();
        for pack_id in &limited_to {
            let key = app
                .admin()
                .create_api_key(pb::CreateApiKeyRequest {
                    api_key: Some(pb::ApiKey {
                        organization_id: a.id.clone(),
                        role: pb::Role::Admin as i32,
                        pack_ids: vec![pack_id.clone()],
                        ..Default::default()
                    }),
                })
                .await
                .expect("pack-limited key of A")
                .into_inner();
            limited.push(Auth::Pair(key.id, key.secret));
        }

        // A real ADMIN key of A, revoked.
        let revoked = app
            .create_key(&a.id, mcp_registry::registry::Role::Admin)
            .await;
        app.admin()
            .revoke_api_key(pb::RevokeApiKeyRequest {
                id: revoked.key_id().to_owned(),
            })
            .await
            .expect("revoke");
        let callers = vec![
            a.admin.clone(),
            a.member.clone(),
            a.member2.clone(),
            a.viewer.clone(),
            b.admin.clone(),
            b.member.clone(),
            b.viewer.clone(),
            c.admin.clone(),
            app.platform.clone(),
            limited[0].clone(),
            limited[1].clone(),
            Auth::None,
            // A real key id with a wrong (well-formed) secret.
            Auth::Pair(
                a.admin.key_id().to_owned(),
                "mcpr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            ),
            // A well-formed key id that does not exist, with a real secret.
            Auth::Pair(
                "key_0123456789abcdef0123456789abcdef".into(),
                a.admin.secret().to_owned(),
            ),
            revoked,
        ];
        assert_eq!(callers.len(), CALLERS.len());
        let a_secret = fresh_secret(&app, &a.admin, "a-secret").await;
        let a_oauth = oauth_server(&app, &a.member, "alpha-oauth").await;
        let a_ids = vec![
            a_oauth.id.clone(),
            a_secret.id.clone(),
            a_server.id.clone(),
            a_loopback.id.clone(),
            pack.id.clone(),
            other_pack.id.clone(),
            a_run.id.clone(),
        ];
        Self {
            a,
            b,
            c,
            callers,
            upstream,
            a_server,
            b_server,
            catalog,
            a_loopback,
            catalog_loopback,
            pack,
            a_run: a_run.id,
            a_secret,
            a_oauth,
            limited_to,
            a_ids: Mutex::new(a_ids),
            counter: AtomicUsize::new(0),
            app,
        }
    }

    /// A fresh name (`<prefix>-<n>`).
    fn name(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.counter.fetch_add(1, Ordering::SeqCst))
    }

    fn remember(&self, id: &str) {
        self.a_ids.lock().expect("ids").push(id.to_owned());
    }

    /// A new server of A, created by A's first MEMBER.
    async fn fresh_server(&self) -> pb::McpServer {
        let created = self
            .app
            .create_server(&self.a.member, server(&self.name("fresh")))
            .await;
        self.remember(&created.id);
        created
    }

    /// A new catalog server with one tool.
    async fn fresh_catalog(&self) -> pb::McpServer {
        let created = self
            .app
            .create_server(&self.app.platform, server(&self.name("cat")))
            .await;
        discovered(
            &self.app,
            &created.id,
            CapabilityKind::Tool,
            vec![tool("look")],
        )
        .await;
        created
    }

    /// A new pack of A, created by A's first MEMBER, holding `servers`.
    async fn fresh_pack(&self, servers: &[&str]) -> pb::Pack {
        let pack = self
            .app
            .packs_as(&self.a.member)
            .create_pack(pb::CreatePackRequest {
                pack: Some(pb::Pack {
                    name: self.name("pack"),
                    description: "fresh".into(),
                    servers: servers.iter().map(|id| member(id)).collect(),
                    ..Default::default()
                }),
            })
            .await
            .expect("fresh pack")
            .into_inner();
        self.remember(&pack.id);
        pack
    }
}

/// The redirect URI the matrix's deployment allows.
const REDIRECT: &str = "https://app.example.com/oauth/callback";

/// A new OAuth server of `auth`'s organization whose issuer is an address the
/// SSRF guard always refuses (so no authorization gets past it), with a
/// connection stored as CompleteOAuthAuthorization would (its tokens are
/// never opened: no revocation endpoint).
async fn oauth_server(app: &TestApp, auth: &Auth, name: &str) -> pb::McpServer {
    use mcp_registry::registry::audit::{Action, AuditEvent};
    use mcp_registry::registry::oauth::{Connection, ConnectionStatus};
    let mut input = server(name);
    input.credentials = Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::Oauth2AuthorizationCode(
            pb::OAuth2AuthorizationCode {
                issuer: "https://169.254.169.254/".into(),
                ..Default::default()
            },
        )),
    });
    let created = app.create_server(auth, input).await;
    let now = mcp_registry::registry::now_micros();
    let connection = Connection {
        id: mcp_registry::registry::new_id("otk"),
        server_id: created.id.clone(),
        scope: created.organization_id.clone(),
        subject: String::new(),
        issuer: "https://169.254.169.254/".into(),
        token_endpoint: "https://169.254.169.254/token".into(),
        revocation_endpoint: None,
        resource: created.url.clone(),
        client: None,
        sealed_tokens: "v1:none:never-opened".into(),
        access_expires_at: None,
        scopes: Vec::new(),
        status: ConnectionStatus::Connected,
        reason: String::new(),
        connected_by: auth.key_id().to_owned(),
        connected_at: now,
        refreshed_at: None,
        version: 1,
    };
    let event = AuditEvent::new(
        &mcp_registry::registry::Caller::Cli,
        Action::ServerOAuthConnect,
        &created.id,
        Some(&created.organization_id),
        Vec::new(),
    );
    app.store
        .save_oauth_connection(&connection, &event)
        .await
        .expect("a stored connection");
    created
}

/// A new secret of `auth`'s organization.
async fn fresh_secret(app: &TestApp, auth: &Auth, name: &str) -> pb::Secret {
    app.secrets_as(auth)
        .create_secret(pb::CreateSecretRequest {
            secret: Some(pb::Secret {
                name: name.into(),
                values: vec![pb::SecretValue {
                    name: "token".into(),
                    value: "matrix-secret-value".into(),
                }],
                ..Default::default()
            }),
        })
        .await
        .expect("fresh secret")
        .into_inner()
}

impl World {
    /// A new connected OAuth server of A, created by A's first MEMBER.
    async fn fresh_oauth(&self) -> pb::McpServer {
        let created = oauth_server(&self.app, &self.a.member, &self.name("oauth")).await;
        self.remember(&created.id);
        created
    }

    /// A new secret of A, created by A's ADMIN.
    async fn fresh_secret(&self) -> pb::Secret {
        let secret = fresh_secret(&self.app, &self.a.admin, &self.name("secret")).await;
        self.remember(&secret.id);
        secret
    }
}

fn member(id: &str) -> pb::PackServer {
    pb::PackServer {
        server_id: id.into(),
        ..Default::default()
    }
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

/// The answer of a call, Debug-formatted, or its status.
type Answer = Result<String, tonic::Status>;

fn answer<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>) -> Answer {
    result.map(|r| format!("{:?}", r.into_inner()))
}

/// Makes the row's call as `auth` (column `column`), preparing fresh objects first.
async fn call(w: &World, row: &Row, auth: &Auth) -> Answer {
    let app = &w.app;
    let admin = || app.admin_as(auth);
    let servers = || app.servers_as(auth);
    let packs = || app.packs_as(auth);
    let sync = || app.sync_as(auth);
    let secrets = || app.secrets_as(auth);
    match (row.method, row.target) {
        ("CreateSecret", _) => answer(
            secrets()
                .create_secret(pb::CreateSecretRequest {
                    secret: Some(pb::Secret {
                        name: w.name("new-secret"),
                        values: vec![pb::SecretValue {
                            name: "token".into(),
                            value: "matrix-secret-value".into(),
                        }],
                        ..Default::default()
                    }),
                })
                .await,
        ),
        ("GetSecret", _) => answer(
            secrets()
                .get_secret(pb::GetSecretRequest {
                    id: w.a_secret.id.clone(),
                })
                .await,
        ),
        ("ListSecrets", _) => answer(
            secrets()
                .list_secrets(pb::ListSecretsRequest::default())
                .await,
        ),
        ("UpdateSecret", _) => {
            let secret = w.fresh_secret().await;
            answer(
                secrets()
                    .update_secret(pb::UpdateSecretRequest {
                        secret: Some(pb::Secret {
                            id: secret.id,
                            description: "changed".into(),
                            ..Default::default()
                        }),
                        update_mask: mask(&["description"]),
                    })
                    .await,
            )
        }
        ("RotateSecret", _) => {
            let secret = w.fresh_secret().await;
            answer(
                secrets()
                    .rotate_secret(pb::RotateSecretRequest {
                        id: secret.id,
                        values: vec![pb::SecretValue {
                            name: "token".into(),
                            value: "matrix-rotated-value".into(),
                        }],
                        etag: String::new(),
                    })
                    .await,
            )
        }
        ("DeleteSecret", _) => {
            let secret = w.fresh_secret().await;
            answer(
                secrets()
                    .delete_secret(pb::DeleteSecretRequest {
                        id: secret.id,
                        ..Default::default()
                    })
                    .await,
            )
        }
        ("CreateOrganization", _) => answer(
            admin()
                .create_organization(pb::CreateOrganizationRequest {
                    organization: Some(pb::Organization {
                        name: w.name("org"),
                        plan: pb::Plan::Pro as i32,
                        ..Default::default()
                    }),
                })
                .await,
        ),
        ("GetOrganization", _) => answer(
            admin()
                .get_organization(pb::GetOrganizationRequest { id: w.a.id.clone() })
                .await,
        ),
        ("ListOrganizations", _) => answer(
            admin()
                .list_organizations(pb::ListOrganizationsRequest::default())
                .await,
        ),
        ("UpdateOrganization", _) => answer(
            admin()
                .update_organization(pb::UpdateOrganizationRequest {
                    organization: Some(pb::Organization {
                        id: w.a.id.clone(),
                        plan: pb::Plan::Enterprise as i32,
                        ..Default::default()
                    }),
                    update_mask: mask(&["plan"]),
                })
                .await,
        ),
        ("CreateApiKey", _) => answer(
            admin()
                .create_api_key(pb::CreateApiKeyRequest {
                    api_key: Some(pb::ApiKey {
                        organization_id: w.a.id.clone(),
                        role: pb::Role::Viewer as i32,
                        ..Default::default()
                    }),
                })
                .await,
        ),
        ("ListApiKeys", _) => answer(
            admin()
                .list_api_keys(pb::ListApiKeysRequest {
                    organization_id: w.a.id.clone(),
                    ..Default::default()
                })
                .await,
        ),
        ("RevokeApiKey", _) => {
            let key = app
                .create_key(&w.a.id, mcp_registry::registry::Role::Member)
                .await;
            answer(
                admin()
                    .revoke_api_key(pb::RevokeApiKeyRequest {
                        id: key.key_id().to_owned(),
                    })
                    .await,
            )
        }
        ("CreateMcpServer", target) => {
            let mut new = server(&w.name("created"));
            if target == "catalog" {
                new.visibility = pb::Visibility::Catalog as i32;
            }
            answer(
                servers()
                    .create_mcp_server(pb::CreateMcpServerRequest {
                        mcp_server: Some(new),
                    })
                    .await,
            )
        }
        ("GetMcpServer", target) => {
            let lookup = match target {
                "A's by id" => pb::get_mcp_server_request::Lookup::Id(w.a_server.id.clone()),
                "A's by name" => pb::get_mcp_server_request::Lookup::Name(w.a_server.name.clone()),
                _ => pb::get_mcp_server_request::Lookup::Id(w.catalog.id.clone()),
            };
            answer(
                servers()
                    .get_mcp_server(pb::GetMcpServerRequest {
                        lookup: Some(lookup),
                    })
                    .await,
            )
        }
        ("ListMcpServers", _) => answer(
            servers()
                .list_mcp_servers(pb::ListMcpServersRequest {
                    include_catalog: true,
                    page_size: 1000,
                    ..Default::default()
                })
                .await,
        ),
        ("SearchTools", _) => answer(
            servers()
                .search_tools(pb::SearchToolsRequest {
                    query: "tool*".into(),
                    page_size: 1000,
                    ..Default::default()
                })
                .await,
        ),
        ("UpdateMcpServer", target) => {
            let target = if target == "fresh catalog" {
                w.fresh_catalog().await
            } else {
                w.fresh_server().await
            };
            answer(
                servers()
                    .update_mcp_server(pb::UpdateMcpServerRequest {
                        mcp_server: Some(pb::McpServer {
                            id: target.id,
                            description: "changed".into(),
                            ..Default::default()
                        }),
                        update_mask: mask(&["description"]),
                    })
                    .await,
            )
        }
        ("DeleteMcpServer", target) => {
            let target = if target == "fresh catalog" {
                w.fresh_catalog().await
            } else {
                w.fresh_server().await
            };
            answer(
                servers()
                    .delete_mcp_server(pb::DeleteMcpServerRequest {
                        id: target.id,
                        ..Default::default()
                    })
                    .await,
            )
        }
        ("ListServerTools", target) => {
            let id = if target == "catalog" {
                &w.catalog.id
            } else {
                &w.a_server.id
            };
            answer(
                servers()
                    .list_server_tools(pb::ListServerToolsRequest {
                        server_id: id.clone(),
                        ..Default::default()
                    })
                    .await,
            )
        }
        ("ListServerPrompts", _) => answer(
            servers()
                .list_server_prompts(pb::ListServerPromptsRequest {
                    server_id: w.a_server.id.clone(),
                    ..Default::default()
                })
                .await,
        ),
        ("ListServerResources", _) => answer(
            servers()
                .list_server_resources(pb::ListServerResourcesRequest {
                    server_id: w.a_server.id.clone(),
                    ..Default::default()
                })
                .await,
        ),
        ("ApproveTools", target) => {
            let (id, tool) = if target == "catalog" {
                (w.catalog.id.clone(), "look")
            } else {
                (w.a_server.id.clone(), "echo")
            };
            answer(
                servers()
                    .approve_tools(pb::ApproveToolsRequest {
                        server_id: id,
                        tool_names: vec![tool.into()],
                        ..Default::default()
                    })
                    .await,
            )
        }
        ("ImportMcpConfig", "one server.json") => {
            let name = w.name("registry");
            let document = serde_json::json!({
                "name": format!("com.example/{name}"),
                "description": "a matrix cell's server.json",
                "version": "1.0.0",
                "remotes": [{"type": "streamable-http", "url": format!("https://{name}.mcp.example.com/mcp")}],
            });
            answer(
                servers()
                    .import_mcp_config(pb::ImportMcpConfigRequest {
                        config_json: document.to_string(),
                        ..Default::default()
                    })
                    .await,
            )
        }
        ("ExportMcpServer", target) => {
            let id = if target == "A's by id" {
                w.a_server.id.clone()
            } else {
                w.catalog.id.clone()
            };
            answer(
                servers()
                    .export_mcp_server(pb::ExportMcpServerRequest {
                        lookup: Some(pb::export_mcp_server_request::Lookup::Id(id)),
                    })
                    .await,
            )
        }
        ("ImportMcpConfig", target) => {
            let name = w.name("imported");
            let url = format!("https://{name}.mcp.example.com/mcp");
            let config = serde_json::json!({"mcpServers": {
                name: {"type": "http", "url": url},
            }});
            answer(
                servers()
                    .import_mcp_config(pb::ImportMcpConfigRequest {
                        config_json: config.to_string(),
                        dry_run: target.contains("dry run"),
                        ..Default::default()
                    })
                    .await,
            )
        }
        ("CreatePack", target) => {
            let held = match target {
                "holding A's server" => &w.a_server.id,
                "holding B's server" => &w.b_server.id,
                _ => &w.catalog.id,
            };
            answer(
                packs()
                    .create_pack(pb::CreatePackRequest {
                        pack: Some(pb::Pack {
                            name: w.name("new-pack"),
                            description: "made by a matrix cell".into(),
                            servers: vec![member(held)],
                            ..Default::default()
                        }),
                    })
                    .await,
            )
        }
        ("GetPack", _) => answer(
            packs()
                .get_pack(pb::GetPackRequest {
                    id: w.pack.id.clone(),
                })
                .await,
        ),
        ("ListPacks", _) => answer(packs().list_packs(pb::ListPacksRequest::default()).await),
        ("UpdatePack", _) => {
            let pack = w.fresh_pack(&[]).await;
            answer(
                packs()
                    .update_pack(pb::UpdatePackRequest {
                        pack: Some(pb::Pack {
                            id: pack.id,
                            description: "changed".into(),
                            ..Default::default()
                        }),
                        update_mask: mask(&["description"]),
                    })
                    .await,
            )
        }
        ("DeletePack", _) => {
            let pack = w.fresh_pack(&[]).await;
            answer(
                packs()
                    .delete_pack(pb::DeletePackRequest {
                        id: pack.id,
                        ..Default::default()
                    })
                    .await,
            )
        }
        ("AddPackServer", _) => {
            let pack = w.fresh_pack(&[]).await;
            answer(
                packs()
                    .add_pack_server(pb::AddPackServerRequest {
                        pack_id: pack.id,
                        server: Some(member(&w.a_server.id)),
                        ..Default::default()
                    })
                    .await,
            )
        }
        ("RemovePackServer", _) => {
            let pack = w.fresh_pack(&[&w.a_server.id]).await;
            answer(
                packs()
                    .remove_pack_server(pb::RemovePackServerRequest {
                        pack_id: pack.id,
                        server: Some(member(&w.a_server.id)),
                        ..Default::default()
                    })
                    .await,
            )
        }
        ("ReplacePackServers", _) => {
            let pack = w.fresh_pack(&[&w.a_server.id]).await;
            answer(
                packs()
                    .replace_pack_servers(pb::ReplacePackServersRequest {
                        pack_id: pack.id,
                        servers: vec![member(&w.a_loopback.id)],
                        ..Default::default()
                    })
                    .await,
            )
        }
        ("UpdatePackServerTools", _) => {
            let pack = w.fresh_pack(&[&w.a_server.id]).await;
            answer(
                packs()
                    .update_pack_server_tools(pb::UpdatePackServerToolsRequest {
                        pack_id: pack.id,
                        server: Some(member(&w.a_server.id)),
                        tool_settings: Some(pb::PackToolSettings {
                            only_listed_tools: true,
                            tools: Vec::new(),
                        }),
                        ..Default::default()
                    })
                    .await,
            )
        }
        ("ListPackRevisions", _) => answer(
            packs()
                .list_pack_revisions(pb::ListPackRevisionsRequest {
                    pack_id: w.pack.id.clone(),
                    ..Default::default()
                })
                .await,
        ),
        ("GetPackRevision", _) => answer(
            packs()
                .get_pack_revision(pb::GetPackRevisionRequest {
                    pack_id: w.pack.id.clone(),
                    version: 1,
                })
                .await,
        ),
        ("RestorePackRevision", _) => {
            // Version 1 holds A's server, version 2 nothing: restoring 1 changes the pack.
            let pack = w.fresh_pack(&[&w.a_server.id]).await;
            app.packs_as(&w.a.member)
                .replace_pack_servers(pb::ReplacePackServersRequest {
                    pack_id: pack.id.clone(),
                    servers: Vec::new(),
                    ..Default::default()
                })
                .await
                .expect("empty the fresh pack");
            answer(
                packs()
                    .restore_pack_revision(pb::RestorePackRevisionRequest {
                        pack_id: pack.id,
                        version: 1,
                        ..Default::default()
                    })
                    .await,
            )
        }
        ("ResolvePack", _) => answer(
            packs()
                .resolve_pack(pb::ResolvePackRequest {
                    id: w.pack.id.clone(),
                    ..Default::default()
                })
                .await,
        ),
        ("ExportPack", _) => answer(
            packs()
                .export_pack(pb::ExportPackRequest {
                    id: w.pack.id.clone(),
                    ..Default::default()
                })
                .await,
        ),
        ("StartOAuthAuthorization", _) => {
            let server = w.fresh_oauth().await;
            answer(
                app.oauth_as(auth)
                    .start_o_auth_authorization(pb::StartOAuthAuthorizationRequest {
                        server_id: server.id,
                        redirect_uri: REDIRECT.into(),
                        scopes: Vec::new(),
                    })
                    .await,
            )
        }
        ("CompleteOAuthAuthorization", _) => answer(
            app.oauth_as(auth)
                .complete_o_auth_authorization(pb::CompleteOAuthAuthorizationRequest {
                    state: "an-unknown-state".into(),
                    code: "a-code".into(),
                })
                .await,
        ),
        ("GetOAuthConnection", _) => {
            let result = app
                .oauth_as(auth)
                .get_o_auth_connection(pb::GetOAuthConnectionRequest {
                    server_id: w.a_oauth.id.clone(),
                })
                .await;
            if let Ok(found) = &result {
                assert_eq!(
                    found.get_ref().status(),
                    pb::ConnectionStatus::Connected,
                    "{found:?}"
                );
            }
            answer(result)
        }
        ("DeleteOAuthConnection", _) => {
            let server = w.fresh_oauth().await;
            answer(
                app.oauth_as(auth)
                    .delete_o_auth_connection(pb::DeleteOAuthConnectionRequest {
                        server_id: server.id,
                    })
                    .await,
            )
        }
        ("SyncMcpServer", target) => {
            let id = if target.starts_with("catalog") {
                &w.catalog_loopback.id
            } else {
                &w.a_loopback.id
            };
            let result = sync()
                .sync_mcp_server(pb::SyncMcpServerRequest {
                    id: id.clone(),
                    ..Default::default()
                })
                .await;
            if let Ok(run) = &result {
                let run = run.get_ref();
                assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{run:?}");
                if !target.starts_with("catalog") {
                    w.remember(&run.id);
                }
            }
            answer(result)
        }
        ("ListAuditEvents", target) => answer(
            AuditServiceClient::with_interceptor(app.channel.clone(), auth.clone())
                .list_audit_events(pb::ListAuditEventsRequest {
                    organization_id: if target == "org A" {
                        w.a.id.clone()
                    } else {
                        String::new()
                    },
                    page_size: 1000,
                    ..Default::default()
                })
                .await,
        ),
        ("ListToolCalls", target) => answer(
            AuditServiceClient::with_interceptor(app.channel.clone(), auth.clone())
                .list_tool_calls(pb::ListToolCallsRequest {
                    organization_id: if target == "org A" {
                        w.a.id.clone()
                    } else {
                        String::new()
                    },
                    page_size: 1000,
                    ..Default::default()
                })
                .await,
        ),
        ("GetSyncRun", _) => answer(
            sync()
                .get_sync_run(pb::GetSyncRunRequest {
                    id: w.a_run.clone(),
                })
                .await,
        ),
        ("ListSyncRuns", target) => answer(
            sync()
                .list_sync_runs(pb::ListSyncRunsRequest {
                    server_id: if target == "A's server" {
                        w.a_loopback.id.clone()
                    } else {
                        String::new()
                    },
                    page_size: 1000,
                    ..Default::default()
                })
                .await,
        ),
        ("WatchSyncEvents", target) => {
            let server_id = match target {
                "A's server" => w.a_loopback.id.clone(),
                "catalog server" => w.catalog_loopback.id.clone(),
                _ => String::new(),
            };
            // The stream opens (OK) or the call fails at once; no event is awaited.
            sync()
                .watch_sync_events(pb::WatchSyncEventsRequest { server_id })
                .await
                .map(|_stream| "stream opened".to_owned())
        }
        ("Check", _) => answer(
            HealthClient::with_interceptor(app.channel.clone(), auth.clone())
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await,
        ),
        ("Watch", _) => HealthClient::with_interceptor(app.channel.clone(), auth.clone())
            .watch(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|_stream| "stream opened".to_owned()),
        ("ServerReflectionInfo", _) if row.service == REFLECTION => {
            use tonic_reflection::pb::v1 as r;
            let request = r::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(r::server_reflection_request::MessageRequest::ListServices(
                    String::new(),
                )),
            };
            reflect(
                r::server_reflection_client::ServerReflectionClient::with_interceptor(
                    app.channel.clone(),
                    auth.clone(),
                )
                .server_reflection_info(tokio_stream::iter([request]))
                .await,
            )
            .await
        }
        ("ServerReflectionInfo", _) => {
            use tonic_reflection::pb::v1alpha as r;
            let request = r::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(r::server_reflection_request::MessageRequest::ListServices(
                    String::new(),
                )),
            };
            reflect(
                r::server_reflection_client::ServerReflectionClient::with_interceptor(
                    app.channel.clone(),
                    auth.clone(),
                )
                .server_reflection_info(tokio_stream::iter([request]))
                .await,
            )
            .await
        }
        (method, target) => panic!("no request builder for {method} ({target})"),
    }
}

/// The first answer of a reflection stream.
async fn reflect<T: std::fmt::Debug>(
    result: Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>,
) -> Answer {
    let mut stream = result?.into_inner();
    match stream.message().await? {
        Some(first) => Ok(format!("{first:?}")),
        None => Ok("empty stream".into()),
    }
}

fn short(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::PermissionDenied => "PD",
        Code::NotFound => "NF",
        Code::Unauthenticated => "UA",
        Code::InvalidArgument => "IA",
        Code::FailedPrecondition => "FP",
        Code::AlreadyExists => "AE",
        Code::Internal => "IN",
        Code::Unavailable => "UV",
        Code::Unimplemented => "UI",
        Code::Aborted => "AB",
        Code::ResourceExhausted => "RE",
        _ => "??",
    }
}

/// The `ErrorInfo` reason that goes with `code` in these cells.
fn reason_of(code: Code) -> &'static str {
    match code {
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::NotFound => "NOT_FOUND",
        Code::Unauthenticated => "UNAUTHENTICATED",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::Unavailable => "UPSTREAM_UNREACHABLE",
        _ => "",
    }
}

/// Checks one cell's answer; returns what is wrong with it.
fn check(w: &World, row: &Row, column: usize, answer: &Answer) -> Option<String> {
    let expected = row.expected(column);
    match answer {
        Ok(debug) => {
            if expected != Code::Ok {
                return Some(format!("expected {expected:?}, got OK: {debug:.300}"));
            }
            // A caller outside organization A must never see one of its
            // objects; but ListApiKeys shows platform admins the packs that
            // A's keys are limited to, and a platform admin reads A's audit
            // trail by naming A.
            let platform_reads_a = column == 8 && row.service == AUDIT && row.target == "org A";
            let outsider = (4..FIRST_LIMITED).contains(&column)
                && row.method != "ListApiKeys"
                && !platform_reads_a;
            let ids = w.a_ids.lock().expect("ids");
            if outsider && let Some(id) = ids.iter().find(|id| debug.contains(id.as_str())) {
                return Some(format!("OK, but the answer shows A's object {id}"));
            }
            // A pack-limited key must never see a pack of A outside its limit.
            if let Some(own) = column
                .checked_sub(FIRST_LIMITED)
                .and_then(|i| w.limited_to.get(i))
                && let Some(id) = ids
                    .iter()
                    .find(|id| id.starts_with("pack_") && *id != own && debug.contains(id.as_str()))
            {
                return Some(format!(
                    "OK, but the answer shows A's pack {id} outside the key's limit"
                ));
            }
            None
        }
        Err(status) => {
            if status.code() != expected {
                return Some(format!(
                    "expected {expected:?}, got {:?}: {}",
                    status.code(),
                    status.message()
                ));
            }
            let details = status.get_error_details();
            let reason = details.error_info().map(|i| i.reason.as_str());
            if reason != Some(reason_of(expected)) {
                return Some(format!(
                    "{expected:?} as expected, but ErrorInfo reason is {reason:?}"
                ));
            }
            if details
                .request_info()
                .is_none_or(|r| r.request_id.is_empty())
            {
                return Some("no RequestInfo with a request id".into());
            }
            None
        }
    }
}

async fn tenancy_matrix(app: TestApp, backend: Backend) {
    let started = std::time::Instant::now();
    let w = World::new(app).await;

    // Every RPC the server answers has a row, and every row is a real RPC.
    let known: BTreeSet<String> = mcp_registry::grpc::KNOWN_RPCS
        .iter()
        .map(|(service, method)| format!("/{service}/{method}"))
        .collect();
    let covered: BTreeSet<String> = ROWS
        .iter()
        .map(|r| format!("/{}/{}", r.service, r.method))
        .collect();
    let missing: Vec<_> = known.difference(&covered).collect();
    let unknown: Vec<_> = covered.difference(&known).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "the matrix must have a row for every RPC: without a row {missing:?}; rows for no RPC {unknown:?}"
    );

    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<38} {:<25} {}",
        "RPC",
        "target",
        CALLERS.map(|c| format!("{c:<8}")).join("")
    );
    let mut failures = Vec::new();
    let mut cells = 0;
    for row in ROWS {
        let mut line = format!(
            "{:<38} {:<25} ",
            format!(
                "{}/{}",
                row.service.rsplit('.').next().unwrap_or(row.service),
                row.method
            ),
            row.target
        );
        for (column, auth) in w.callers.iter().enumerate() {
            let answer = call(&w, row, auth).await;
            cells += 1;
            let actual = match &answer {
                Ok(_) => Code::Ok,
                Err(status) => status.code(),
            };
            let wrong = check(&w, row, column, &answer);
            let mark = if wrong.is_some() { "!" } else { "" };
            let _ = write!(line, "{:<8}", format!("{}{mark}", short(actual)));
            if let Some(wrong) = wrong {
                failures.push(format!(
                    "{}/{} ({}) as {}: {wrong}",
                    row.service, row.method, row.target, CALLERS[column]
                ));
            }
        }
        let _ = writeln!(table, "{}", line.trim_end());
    }
    println!(
        "tenancy matrix on {backend:?}: {} rows ({} RPCs) x {} callers = {cells} cells in {:.1?}\n\
         OK ok, PD PERMISSION_DENIED, NF NOT_FOUND, UA UNAUTHENTICATED, IA INVALID_ARGUMENT, \
         UV UNAVAILABLE; ! = not as documented\n{table}",
        ROWS.len(),
        covered.len(),
        CALLERS.len(),
        started.elapsed(),
    );
    // Sanity: the fixtures were what the cells needed.
    assert!(
        w.upstream
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path == "/a/mcp"),
        "the loopback upstream saw A's syncs"
    );
    let _ = (&w.b, &w.c);
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ from the documented behaviour:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn loopback() -> Options {
    Options {
        insecure_upstreams: true,
        private_upstreams: true,
        oauth_redirect_uris: vec![REDIRECT.into()],
        ..Options::default()
    }
}

mod every_rpc_by_every_caller_answers_the_documented_code {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run_with(Backend::Sqlite, loopback(), |app| {
            tenancy_matrix(app, Backend::Sqlite)
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run_with(Backend::Postgres, loopback(), |app| {
            tenancy_matrix(app, Backend::Postgres)
        })
        .await;
    }
}
