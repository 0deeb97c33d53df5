//! The benchmark scenarios and the run that strings them together.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mcp_registry::pb;
use mcp_registry::registry::admin::{NewApiKey, NewOrganization};
use mcp_registry::registry::canonical::definition_hash;
use mcp_registry::registry::servers::CapabilityKind;
use mcp_registry::registry::{Admin, Caller, KeyScope, OrganizationName, Plan, Role, now_micros};
use mcp_registry::store::{NewCapability, Store, SyncState};
use pb::mcp_server_service_client::McpServerServiceClient;
use pb::pack_service_client::PackServiceClient;
use pb::sync_service_client::SyncServiceClient;
use serde_json::{Value, json};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::RunArgs;
use crate::db::Db;
use crate::load::{Measured, connect_many, mix, pick, run_items, run_timed, shape};
use crate::procs::{self, CpuSnap, Proc, Service, ServiceConfig, hwm_mib, reset_hwm, rss_mib};
use crate::report::{Report, Row, Target, f};
use crate::undecoded;

/// `x-api-key` / `x-api-secret` on every call.
#[derive(Clone)]
pub struct Auth {
    key: MetadataValue<Ascii>,
    secret: MetadataValue<Ascii>,
}

impl Auth {
    pub fn new(key: &str, secret: &str) -> anyhow::Result<Self> {
        Ok(Self {
            key: key.parse()?,
            secret: secret.parse()?,
        })
    }
}

impl Auth {
    /// `message` as a request carrying the key.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let m = request.metadata_mut();
        m.insert("x-api-key", self.key.clone());
        m.insert("x-api-secret", self.secret.clone());
        request
    }
}

impl Interceptor for Auth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let m = request.metadata_mut();
        m.insert("x-api-key", self.key.clone());
        m.insert("x-api-secret", self.secret.clone());
        Ok(request)
    }
}

type Servers =
    McpServerServiceClient<tonic::service::interceptor::InterceptedService<Channel, Auth>>;
type Packs = PackServiceClient<tonic::service::interceptor::InterceptedService<Channel, Auth>>;
type Syncs = SyncServiceClient<tonic::service::interceptor::InterceptedService<Channel, Auth>>;

pub fn servers_client(ch: Channel, auth: &Auth) -> Servers {
    servers(ch, auth)
}
pub fn syncs_client(ch: Channel, auth: &Auth) -> Syncs {
    syncs(ch, auth)
}
pub fn packs_client(ch: Channel, auth: &Auth) -> Packs {
    packs(ch, auth)
}
fn servers(ch: Channel, auth: &Auth) -> Servers {
    McpServerServiceClient::with_interceptor(ch, auth.clone())
}
fn packs(ch: Channel, auth: &Auth) -> Packs {
    PackServiceClient::with_interceptor(ch, auth.clone())
}
fn syncs(ch: Channel, auth: &Auth) -> Syncs {
    SyncServiceClient::with_interceptor(ch, auth.clone())
}

pub fn status_text(s: tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

pub struct OrgData {
    pub id: String,
    pub key_id: String,
    pub auth: Auth,
    /// Server ids by local index.
    pub servers: Vec<String>,
    pub packs: Vec<String>,
}

pub struct Data {
    pub orgs: Vec<OrgData>,
    /// Page token of the big organization's listing after `deep_row` rows.
    pub deep_token: String,
}

/// Creates an ENTERPRISE organization and an ADMIN key through the domain, as the CLI does.
pub async fn org_with_key(admin: &Admin, name: &str) -> anyhow::Result<(String, Auth)> {
    let (id, _key, auth) = org_with_key_id(admin, name).await?;
    Ok((id, auth))
}

/// Like [`org_with_key`], also returning the key id.
pub async fn org_with_key_id(admin: &Admin, name: &str) -> anyhow::Result<(String, String, Auth)> {
    let (id, key_id, _secret, auth) = org_with_secret(admin, name).await?;
    Ok((id, key_id, auth))
}

/// Like [`org_with_key_id`], also returning the key's secret (for HTTP callers).
pub async fn org_with_secret(
    admin: &Admin,
    name: &str,
) -> anyhow::Result<(String, String, String, Auth)> {
    let org = admin
        .create_organization(
            &Caller::Cli,
            NewOrganization {
                name: OrganizationName::parse(name)
                    .map_err(|e| anyhow::anyhow!("org name: {e}"))?,
                plan: Plan::Enterprise,
            },
        )
        .await?;
    let key = admin
        .create_api_key(
            &Caller::Cli,
            NewApiKey {
                scope: KeyScope::Organization {
                    organization_id: org.id.clone(),
                    role: Role::Admin,
                    pack_ids: Vec::new(),
                },
                display_name: "bench".into(),
                acts_for_users: false,
            },
        )
        .await?;
    let auth = Auth::new(&key.key.id, &key.secret)?;
    Ok((org.id, key.key.id, key.secret, auth))
}

fn tool_definitions(n: usize) -> Vec<NewCapability> {
    let Value::Array(tools) = crate::fixture::tool_list(n) else {
        unreachable!()
    };
    tools
        .into_iter()
        .map(|d| NewCapability {
            kind: CapabilityKind::Tool,
            key: d["name"].as_str().unwrap_or_default().to_owned(),
            definition_hash: definition_hash(&d),
            definition: d,
        })
        .collect()
}

/// Servers per organization: the first gets `big_org_servers`, the others share the rest.
fn distribution(args: &RunArgs) -> Vec<usize> {
    let orgs = args.orgs.max(1);
    if args.big_org_servers == 0 || orgs == 1 {
        return (0..orgs)
            .map(|i| args.servers / orgs + usize::from(i < args.servers % orgs))
            .collect();
    }
    let big = args.big_org_servers.min(args.servers);
    let rest = args.servers - big;
    let others = orgs - 1;
    let mut v = vec![big];
    v.extend((0..others).map(|i| rest / others + usize::from(i < rest % others)));
    v
}

fn seed_row(report: &mut Report, backend: &str, what: &str, m: &Measured) {
    report.seeding.push(json!({
        "backend": backend, "what": what, "count": m.ops, "concurrency": m.concurrency,
        "seconds": m.seconds, "per_sec": m.ops_per_sec, "errors": m.errors,
        "p50_ms": m.p50_ms, "p99_ms": m.p99_ms, "first_error": m.first_error,
    }));
}

/// Seeds organizations, servers, packs and the pack pool's tools; walks to the deep page token.
async fn seed(
    args: &RunArgs,
    db: &Db,
    channels: &[Channel],
    report: &mut Report,
) -> anyhow::Result<Data> {
    let backend = db.backend();
    let store = Store::connect(&db.url()).await?;
    let admin = Admin::new(store.clone());
    let t0 = Instant::now();
    let mut orgs = Vec::new();
    for i in 0..args.orgs {
        let (id, key_id, auth) = org_with_key_id(&admin, &format!("bench-org-{i:03}")).await?;
        orgs.push(OrgData {
            id,
            key_id,
            auth,
            servers: Vec::new(),
            packs: Vec::new(),
        });
    }
    let secs = t0.elapsed().as_secs_f64();
    report.seeding.push(json!({
        "backend": backend, "what": "organizations + ADMIN keys (registry::Admin)", "count": args.orgs,
        "concurrency": 1, "seconds": secs, "per_sec": args.orgs as f64 / secs, "errors": 0,
    }));

    // Servers, through the API, in a shuffled order of organizations.
    let counts = distribution(args);
    let mut items: Vec<(u32, u32)> = counts
        .iter()
        .enumerate()
        .flat_map(|(o, &n)| (0..n).map(move |l| (o as u32, l as u32)))
        .collect();
    for i in (1..items.len()).rev() {
        let j = (mix(i as u64 ^ 0xBE7C) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
    let items = Arc::new(items);
    let ids: Arc<Vec<OnceLock<String>>> =
        Arc::new((0..items.len()).map(|_| OnceLock::new()).collect());
    let auths: Arc<Vec<Auth>> = Arc::new(orgs.iter().map(|o| o.auth.clone()).collect());
    let (conns, streams) = shape(args.seed_concurrency);
    eprintln!(
        "[{backend}] seeding {} servers over {} organizations …",
        items.len(),
        orgs.len()
    );
    let m = {
        let (items, ids, auths) = (items.clone(), ids.clone(), auths.clone());
        run_items(&channels[..conns], streams, items.len() as u64, move |ch, _w, i| {
            let (items, ids, auths) = (items.clone(), ids.clone(), auths.clone());
            async move {
                let (o, l) = items[i as usize];
                let server = pb::McpServer {
                    name: format!("s{l:06}"),
                    display_name: format!("Server {l} of organization {o}"),
                    description: format!(
                        "Benchmark server {l} of organization {o}: a remote MCP server registered to measure reads and writes."
                    ),
                    url: format!("https://s{i}.mcp.example.com/mcp"),
                    category: ["search", "code", "data", "docs", "ops", "crm", "finance", "misc"][i as usize % 8].into(),
                    ..Default::default()
                };
                let created = servers(ch, &auths[o as usize])
                    .create_mcp_server(pb::CreateMcpServerRequest { mcp_server: Some(server) })
                    .await
                    .map_err(status_text)?
                    .into_inner();
                let _ = ids[i as usize].set(created.id);
                Ok(())
            }
        })
        .await
    };
    seed_row(report, backend, "CreateMcpServer (gRPC)", &m);
    eprintln!(
        "[{backend}]   {} servers in {:.1} s ({:.0}/s)",
        m.ops, m.seconds, m.ops_per_sec
    );
    if m.errors > 0 {
        anyhow::bail!(
            "{} server creations failed, first: {:?}",
            m.errors,
            m.first_error
        );
    }
    for (o, n) in counts.iter().enumerate() {
        orgs[o].servers = vec![String::new(); *n];
    }
    for (i, &(o, l)) in items.iter().enumerate() {
        orgs[o as usize].servers[l as usize] = ids[i].get().cloned().unwrap_or_default();
    }

    // Packs, through the API.
    let per_org = args.packs / args.orgs.max(1);
    let pool = args.pack_pool.max(args.pack_members);
    let pack_items: Arc<Vec<(u32, u32)>> = Arc::new(
        (0..per_org)
            .flat_map(|p| (0..args.orgs).map(move |o| (o as u32, p as u32)))
            .collect(),
    );
    let member_ids: Arc<Vec<Vec<String>>> = Arc::new(
        orgs.iter()
            .map(|o| o.servers.iter().take(pool).cloned().collect())
            .collect(),
    );
    let pack_ids: Arc<Vec<OnceLock<String>>> =
        Arc::new((0..pack_items.len()).map(|_| OnceLock::new()).collect());
    let members = args.pack_members;
    let m = {
        let (pack_items, member_ids, pack_ids, auths) = (
            pack_items.clone(),
            member_ids.clone(),
            pack_ids.clone(),
            auths.clone(),
        );
        run_items(
            &channels[..conns],
            streams,
            pack_items.len() as u64,
            move |ch, _w, i| {
                let (pack_items, member_ids, pack_ids, auths) = (
                    pack_items.clone(),
                    member_ids.clone(),
                    pack_ids.clone(),
                    auths.clone(),
                );
                async move {
                    let (o, p) = pack_items[i as usize];
                    let pool = &member_ids[o as usize];
                    let servers = (0..members)
                        .map(|j| pb::PackServer {
                            server_id: pool[(p as usize * members + j) % pool.len()].clone(),
                            name: String::new(),
                        })
                        .collect();
                    let pack = pb::Pack {
                        name: format!("p{p:05}"),
                        description: format!("Benchmark pack {p} of organization {o}"),
                        servers,
                        ..Default::default()
                    };
                    let created = packs(ch, &auths[o as usize])
                        .create_pack(pb::CreatePackRequest { pack: Some(pack) })
                        .await
                        .map_err(status_text)?
                        .into_inner();
                    let _ = pack_ids[i as usize].set(created.id);
                    Ok(())
                }
            },
        )
        .await
    };
    seed_row(
        report,
        backend,
        &format!("CreatePack with {members} members (gRPC)"),
        &m,
    );
    eprintln!(
        "[{backend}]   {} packs in {:.1} s ({:.0}/s)",
        m.ops, m.seconds, m.ops_per_sec
    );
    if m.errors > 0 {
        anyhow::bail!(
            "{} pack creations failed, first: {:?}",
            m.errors,
            m.first_error
        );
    }
    for (i, &(o, _)) in pack_items.iter().enumerate() {
        orgs[o as usize]
            .packs
            .push(pack_ids[i].get().cloned().unwrap_or_default());
    }

    // The pack pool's tools, stored as a successful sync stores them (the
    // read service runs without background sync and its servers' URLs are
    // not reachable).
    let caps = Arc::new(tool_definitions(args.tools));
    let targets: Arc<Vec<String>> = Arc::new(member_ids.iter().flatten().cloned().collect());
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    // SQLite: one writer (concurrent read-then-write transactions from
    // several connections fail with SQLITE_BUSY instead of waiting).
    let writers = if backend == "sqlite" { 1 } else { 8 };
    for _ in 0..writers {
        let (store, caps, targets, next) =
            (store.clone(), caps.clone(), targets.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = targets.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                let now = now_micros();
                store
                    .replace_capabilities(id, CapabilityKind::Tool, &caps, now)
                    .await?;
                store
                    .record_sync_state(
                        id,
                        &SyncState {
                            at: now,
                            succeeded: true,
                            server_info: None,
                            detected_transport: None,
                            error: None,
                        },
                    )
                    .await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = t0.elapsed().as_secs_f64();
    report.seeding.push(json!({
        "backend": backend, "what": format!("{} tools on each pack-pool server (store)", args.tools),
        "count": targets.len(), "concurrency": writers, "seconds": secs, "per_sec": targets.len() as f64 / secs, "errors": 0,
    }));
    store.close().await?;

    // The deep page token, by walking the big organization's listing.
    let t0 = Instant::now();
    let big = &orgs[0];
    let mut token = String::new();
    let mut walked = 0usize;
    let mut client = servers(channels[0].clone(), &big.auth);
    while walked < args.deep_row {
        let size = (args.deep_row - walked).min(1000);
        let page = client
            .list_mcp_servers(pb::ListMcpServersRequest {
                page_size: size as i32,
                page_token: token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        walked += page.mcp_servers.len();
        token = page.next_page_token;
        if token.is_empty() {
            anyhow::bail!(
                "the big organization's listing ended after {walked} rows (total_size {})",
                page.total_size
            );
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    report.seeding.push(json!({
        "backend": backend, "what": format!("walk ListMcpServers (page_size 1000) to row {walked}"),
        "count": walked.div_ceil(1000), "concurrency": 1, "seconds": secs, "per_sec": walked.div_ceil(1000) as f64 / secs, "errors": 0,
    }));
    Ok(Data {
        orgs,
        deep_token: token,
    })
}

/// Reads every seeded server once (GetMcpServer, 64 concurrent calls).
async fn warm_reads(
    channels: &[Channel],
    data: &Arc<Data>,
    backend: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    const WORKERS: usize = 64;
    let t0 = Instant::now();
    let all: Arc<Vec<(usize, String)>> = Arc::new(
        data.orgs
            .iter()
            .enumerate()
            .flat_map(|(o, org)| org.servers.iter().map(move |id| (o, id.clone())))
            .collect(),
    );
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let all = all.clone();
        let data = data.clone();
        let ch = channels[w % channels.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut errors = 0u64;
            for (o, id) in all.iter().skip(w).step_by(WORKERS) {
                let read = servers(ch.clone(), &data.orgs[*o].auth)
                    .get_mcp_server(pb::GetMcpServerRequest {
                        lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.clone())),
                    })
                    .await;
                errors += u64::from(read.is_err());
            }
            errors
        }));
    }
    let mut errors = 0;
    for t in tasks {
        errors += t.await?;
    }
    let secs = t0.elapsed().as_secs_f64();
    report.seeding.push(json!({
        "backend": backend, "what": "warm the read cache: GetMcpServer of every server",
        "count": all.len(), "concurrency": WORKERS, "seconds": secs,
        "per_sec": all.len() as f64 / secs, "errors": errors,
    }));
    Ok(())
}

/// Resolves every seeded pack once (ResolvePack, 64 concurrent calls): the
/// service computes and stores each answer once per change of what it depends
/// on, as one that has been serving for a while has.
async fn warm_resolutions(
    channels: &[Channel],
    data: &Arc<Data>,
    backend: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    const WORKERS: usize = 64;
    let t0 = Instant::now();
    let all: Arc<Vec<(usize, String)>> = Arc::new(
        data.orgs
            .iter()
            .enumerate()
            .flat_map(|(o, org)| org.packs.iter().map(move |id| (o, id.clone())))
            .collect(),
    );
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let all = all.clone();
        let data = data.clone();
        let ch = channels[w % channels.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut errors = 0u64;
            for (o, id) in all.iter().skip(w).step_by(WORKERS) {
                let read = packs(ch.clone(), &data.orgs[*o].auth)
                    .resolve_pack(pb::ResolvePackRequest {
                        id: id.clone(),
                        version: 0,
                    })
                    .await;
                errors += u64::from(read.is_err());
            }
            errors
        }));
    }
    let mut errors = 0;
    for t in tasks {
        errors += t.await?;
    }
    let secs = t0.elapsed().as_secs_f64();
    report.seeding.push(json!({
        "backend": backend, "what": "warm the resolutions: ResolvePack of every pack",
        "count": all.len(), "concurrency": WORKERS, "seconds": secs,
        "per_sec": all.len() as f64 / secs, "errors": errors,
    }));
    eprintln!("[{backend}] resolved every pack once in {secs:.1} s ({errors} errors)");
    Ok(())
}

/// CPU seconds of the service and of the load generator, and other
/// processes' share of the machine (%), over a cell's recorded window.
pub type Cpu = (f64, f64, f64, f64);

/// Runs one cell and measures CPU use over its recorded window.
pub async fn cell<C, F, Fut>(
    args: &RunArgs,
    pid: u32,
    channels: &[C],
    concurrency: usize,
    call: F,
) -> (Measured, Cpu)
where
    C: Clone + Send + 'static,
    F: Fn(C, usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let (m, cpu, _) = cell_watching(args, pid, None, channels, concurrency, call).await;
    (m, cpu)
}

/// Like [`cell`], also measuring the CPU seconds of process `watched` (a
/// fixture) over the same window; the "other processes" share then
/// excludes it.
pub async fn cell_watching<C, F, Fut>(
    args: &RunArgs,
    pid: u32,
    watched: Option<u32>,
    channels: &[C],
    concurrency: usize,
    call: F,
) -> (Measured, Cpu, f64)
where
    C: Clone + Send + 'static,
    F: Fn(C, usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let (conns, streams) = shape(concurrency);
    let (warm, dur) = (args.warmup(), args.duration());
    let sampler = tokio::spawn(async move {
        tokio::time::sleep(warm).await;
        let watched_cpu = || watched.map_or(0.0, procs::cpu_seconds);
        let (c0, w0) = (CpuSnap::take(pid), watched_cpu());
        tokio::time::sleep(dur).await;
        let (c1, w1) = (CpuSnap::take(pid), watched_cpu());
        let (svc, me, pg, other) = c1.since(&c0);
        let wall = (c1.at - c0.at).as_secs_f64().max(1e-9);
        let extra = (w1 - w0).max(0.0);
        let other = (other - extra * 100.0 / (wall * procs::cpus())).max(0.0);
        ((svc, me, pg, other), extra)
    });
    let m = run_timed(
        &channels[..conns.min(channels.len())],
        streams,
        warm,
        dur,
        call,
    )
    .await;
    let (cpu, extra) = sampler.await.unwrap_or(((0.0, 0.0, 0.0, 0.0), 0.0));
    (m, cpu, extra)
}

pub fn row(backend: &str, op: &str, m: Measured, cpu: Cpu, ceiling: &[Row]) -> Row {
    let (cpu, me, pg, other) = cpu;
    let ratio = ceiling
        .iter()
        .find(|c| c.m.concurrency == m.concurrency)
        .map(|c| m.ops_per_sec / c.m.ops_per_sec);
    let per_op = (m.ops > 0).then(|| cpu * 1e6 / m.ops as f64);
    let me_per_op = (m.ops > 0).then(|| me * 1e6 / m.ops as f64);
    let pg_per_op = (m.ops > 0 && pg > 0.0).then(|| pg * 1e6 / m.ops as f64);
    eprintln!(
        "[{backend}] {op:<28} c={:<4} {:>8.0}/s  p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  other CPU {other:.0} %  errors {}{}",
        m.concurrency,
        m.ops_per_sec,
        m.p50_ms,
        m.p99_ms,
        m.p999_ms,
        m.errors,
        m.first_error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    Row {
        backend: backend.into(),
        op: op.into(),
        m,
        ratio_to_ceiling: ratio,
        service_cpu_seconds: Some(cpu),
        service_cpu_us_per_op: per_op,
        client_cpu_us_per_op: me_per_op,
        postgres_cpu_us_per_op: pg_per_op,
        fixture_cpu_us_per_op: None,
        other_cpu_pct: Some(other),
    }
}

/// The ceiling: Health/Check of a bare tonic server (`bare-health`, started
/// here, measured first), then our own Health/Check as a ratio to it (what
/// our middleware costs). Every later cell's ratio is to the bare server's.
async fn ceiling(
    args: &RunArgs,
    svc: &Service,
    channels: &[Channel],
    tmp: &Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut levels = args.read_concurrency.clone();
    levels.push(args.wide_concurrency);
    let port = procs::free_port();
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["bare-health", "--port", &port.to_string()]);
    let bare = Proc::spawn("bare tonic", &mut cmd, &tmp.join("bare.log"))?;
    procs::wait_port(port, Duration::from_secs(10)).await?;
    let bare_channels = connect_many(&format!("127.0.0.1:{port}"), 32).await?;
    let mut bare_rows = Vec::new();
    for &c in &levels {
        let (m, cpu) = cell(args, bare.pid(), &bare_channels, c, health_check).await;
        bare_rows.push(row("-", "bare tonic Health/Check", m, cpu, &[]));
    }
    drop(bare_channels);
    drop(bare);
    let mut ours = Vec::new();
    for &c in &levels {
        let (m, cpu) = cell(args, svc.pid(), channels, c, health_check).await;
        ours.push(row("-", "our Health/Check", m, cpu, &bare_rows));
    }
    report.ceiling.extend(bare_rows);
    report.ceiling.extend(ours);
    Ok(())
}

/// One Health/Check of the whole server.
async fn health_check(ch: Channel, _worker: usize, _seq: u64) -> Result<(), String> {
    HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|_| ())
        .map_err(status_text)
}

#[derive(Clone, Copy, PartialEq)]
enum ReadOp {
    Get,
    ListFirst,
    ListFirstSmall,
    ListDeep,
    GetPack,
    Resolve,
    /// ResolvePack over 100 packs (the first of each organization): a hot
    /// set that fits the read cache, as agents resolving the same packs.
    ResolveHot,
}

impl ReadOp {
    fn name(self) -> &'static str {
        match self {
            Self::Get => "GetMcpServer",
            Self::ListFirst => "ListMcpServers first page",
            Self::ListFirstSmall => "ListMcpServers first (small org)",
            Self::ListDeep => "ListMcpServers deep page",
            Self::GetPack => "GetPack",
            Self::Resolve => "ResolvePack",
            Self::ResolveHot => "ResolvePack (100 hot packs)",
        }
    }

    /// The name `--read-ops` selects it by.
    fn flag(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::ListFirst => "list-first",
            Self::ListFirstSmall => "list-small",
            Self::ListDeep => "list-deep",
            Self::GetPack => "get-pack",
            Self::Resolve => "resolve",
            Self::ResolveHot => "resolve-hot",
        }
    }
}

const GET_MCP_SERVER: &str = "/mcpregistry.v1.McpServerService/GetMcpServer";
const LIST_MCP_SERVERS: &str = "/mcpregistry.v1.McpServerService/ListMcpServers";
const GET_PACK: &str = "/mcpregistry.v1.PackService/GetPack";
const RESOLVE_PACK: &str = "/mcpregistry.v1.PackService/ResolvePack";

async fn read_cell(
    args: &RunArgs,
    pid: u32,
    channels: &[Channel],
    data: &Arc<Data>,
    op: ReadOp,
    c: usize,
) -> (Measured, Cpu) {
    let d = data.clone();
    let page_size = args.page_size;
    cell(args, pid, channels, c, move |ch, w, seq| {
        let d = d.clone();
        async move {
            // Answers are checked and counted, not decoded (see `undecoded`).
            match op {
                ReadOp::Get => {
                    let org = &d.orgs[pick(w, seq, 1, d.orgs.len())];
                    let id = &org.servers[pick(w, seq, 2, org.servers.len())];
                    let request = pb::GetMcpServerRequest {
                        lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.clone())),
                    };
                    undecoded::call(ch, &org.auth, GET_MCP_SERVER, request).await
                }
                ReadOp::ListFirst | ReadOp::ListDeep | ReadOp::ListFirstSmall => {
                    let org = if op == ReadOp::ListFirstSmall {
                        &d.orgs[d.orgs.len() - 1]
                    } else {
                        &d.orgs[0]
                    };
                    let page_token = if op == ReadOp::ListDeep {
                        d.deep_token.clone()
                    } else {
                        String::new()
                    };
                    let request = pb::ListMcpServersRequest {
                        page_size,
                        page_token,
                        ..Default::default()
                    };
                    undecoded::call(ch, &org.auth, LIST_MCP_SERVERS, request).await
                }
                ReadOp::GetPack | ReadOp::Resolve | ReadOp::ResolveHot => {
                    let org = &d.orgs[pick(w, seq, 3, d.orgs.len())];
                    let id = if op == ReadOp::ResolveHot {
                        org.packs[0].clone()
                    } else {
                        org.packs[pick(w, seq, 4, org.packs.len())].clone()
                    };
                    if op == ReadOp::GetPack {
                        let request = pb::GetPackRequest { id };
                        undecoded::call(ch, &org.auth, GET_PACK, request).await
                    } else {
                        let request = pb::ResolvePackRequest { id, version: 0 };
                        undecoded::call(ch, &org.auth, RESOLVE_PACK, request).await
                    }
                }
            }
            .map(|_| ())
            .map_err(status_text)
        }
    })
    .await
}

/// One response of each read, for the record (sizes, counts).
async fn describe_reads(
    args: &RunArgs,
    channels: &[Channel],
    data: &Data,
) -> anyhow::Result<Value> {
    use prost::Message;
    let org = &data.orgs[1.min(data.orgs.len() - 1)];
    let get = servers(channels[0].clone(), &org.auth)
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Id(
                org.servers[0].clone(),
            )),
        })
        .await?
        .into_inner();
    let big = &data.orgs[0];
    let first = servers(channels[0].clone(), &big.auth)
        .list_mcp_servers(pb::ListMcpServersRequest {
            page_size: args.page_size,
            ..Default::default()
        })
        .await?
        .into_inner();
    let deep = servers(channels[0].clone(), &big.auth)
        .list_mcp_servers(pb::ListMcpServersRequest {
            page_size: args.page_size,
            page_token: data.deep_token.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let pack = packs(channels[0].clone(), &org.auth)
        .get_pack(pb::GetPackRequest {
            id: org.packs[0].clone(),
        })
        .await?
        .into_inner();
    let resolved = packs(channels[0].clone(), &org.auth)
        .resolve_pack(pb::ResolvePackRequest {
            id: org.packs[0].clone(),
            version: 0,
        })
        .await?
        .into_inner();
    if resolved.tools.is_empty() {
        anyhow::bail!(
            "ResolvePack returned no tools: {:?}",
            resolved.excluded_tools.first()
        );
    }
    Ok(json!({
        "GetMcpServer": {"bytes": get.encoded_len()},
        "ListMcpServers first page": {"bytes": first.encoded_len(), "rows": first.mcp_servers.len(), "total_size": first.total_size},
        "ListMcpServers deep page": {"bytes": deep.encoded_len(), "rows": deep.mcp_servers.len(), "total_size": deep.total_size,
            "first_row_name": deep.mcp_servers.first().map(|s| s.name.clone())},
        "GetPack": {"bytes": pack.encoded_len(), "members": pack.servers.len()},
        "ResolvePack": {"bytes": resolved.encoded_len(), "tools": resolved.tools.len(), "excluded": resolved.excluded_tools.len()},
    }))
}

#[derive(Clone, Copy, PartialEq)]
enum WriteOp {
    Create,
    Update,
    AddPackServer,
}

async fn write_cell(
    args: &RunArgs,
    pid: u32,
    channels: &[Channel],
    data: &Arc<Data>,
    counters: &Arc<Vec<AtomicUsize>>,
    op: WriteOp,
    c: usize,
) -> (Measured, Cpu) {
    let d = data.clone();
    let counters = counters.clone();
    cell(args, pid, channels, c, move |ch, w, seq| {
        let d = d.clone();
        let counters = counters.clone();
        async move {
            let o = pick(w, seq, 5, d.orgs.len());
            let org = &d.orgs[o];
            match op {
                WriteOp::Create => {
                    let name = format!("w{c}-{w}-{seq}");
                    let server = pb::McpServer {
                        url: format!("https://{name}.mcp.example.com/mcp"),
                        description: "Created by the write benchmark".into(),
                        name,
                        ..Default::default()
                    };
                    servers(ch, &org.auth)
                        .create_mcp_server(pb::CreateMcpServerRequest {
                            mcp_server: Some(server),
                        })
                        .await
                        .map(|_| ())
                }
                WriteOp::Update => {
                    let id = org.servers[pick(w, seq, 6, org.servers.len())].clone();
                    servers(ch, &org.auth)
                        .update_mcp_server(pb::UpdateMcpServerRequest {
                            mcp_server: Some(pb::McpServer {
                                id,
                                description: format!("Updated by worker {w}, call {seq}"),
                                ..Default::default()
                            }),
                            update_mask: Some(prost_types::FieldMask {
                                paths: vec!["description".into()],
                            }),
                        })
                        .await
                        .map(|_| ())
                }
                WriteOp::AddPackServer => {
                    let n = counters[o].fetch_add(1, Ordering::Relaxed);
                    let Some(server_id) = org.servers.get(n).cloned() else {
                        return Err("organization ran out of servers to add".to_owned());
                    };
                    let pack_id = org.packs[pick(w, seq, 7, org.packs.len())].clone();
                    packs(ch, &org.auth)
                        .add_pack_server(pb::AddPackServerRequest {
                            pack_id,
                            server: Some(pb::PackServer {
                                server_id,
                                name: String::new(),
                            }),
                            etag: String::new(),
                        })
                        .await
                        .map(|_| ())
                }
            }
            .map_err(status_text)
        }
    })
    .await
}

fn foot(report: &mut Report, backend: &str, what: &str, value: f64, unit: &str) {
    eprintln!("[{backend}] {what}: {value:.2} {unit}");
    report
        .footprint
        .push(json!({"backend": backend, "what": what, "value": value, "unit": unit}));
}

/// Ceiling, seeding, reads, writes and footprint on one backend.
async fn backend_suite(
    args: &RunArgs,
    backend: &str,
    base: &ServiceConfig,
    tmp: &Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let db = Db::create(backend, tmp, &args.postgres, &args.run_id, "main").await?;
    let result = backend_suite_on(args, &db, base, tmp, report).await;
    db.drop_database().await;
    result
}

async fn backend_suite_on(
    args: &RunArgs,
    db: &Db,
    base: &ServiceConfig,
    tmp: &Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let backend = db.backend();
    let mut cfg = base.clone();
    cfg.env.extend(db.service_env());
    let svc = Service::start(&cfg).await?;
    let pid = svc.pid();
    tokio::time::sleep(Duration::from_secs(1)).await;
    if args.has("footprint") {
        foot(
            report,
            backend,
            "RSS idle, empty database",
            rss_mib(pid),
            "MiB",
        );
        foot(
            report,
            backend,
            "start to SERVING, new database (incl. migrations)",
            svc.start_to_serving.as_secs_f64() * 1000.0,
            "ms",
        );
    }
    let channels = connect_many(&svc.addr(), 32).await?;
    if args.has("ceiling") && report.ceiling.is_empty() {
        ceiling(args, &svc, &channels, tmp, report).await?;
    }
    if !(args.has("reads") || args.has("writes") || args.has("footprint")) {
        svc.stop();
        return Ok(());
    }
    let data = Arc::new(seed(args, db, &channels, report).await?);
    tokio::time::sleep(Duration::from_secs(2)).await;
    if args.has("footprint") {
        foot(
            report,
            backend,
            &format!("RSS idle after seeding {} servers", args.servers),
            rss_mib(pid),
            "MiB",
        );
        foot(
            report,
            backend,
            "peak RSS while seeding (VmHWM)",
            hwm_mib(pid),
            "MiB",
        );
    }
    if args.has("reads") {
        let shapes = describe_reads(args, &channels, &data).await?;
        report
            .evidence
            .push(json!({"backend": backend, "responses": shapes}));
        reset_hwm(pid);
        if args.warm_reads {
            warm_reads(&channels, &data, backend, report).await?;
            warm_resolutions(&channels, &data, backend, report).await?;
        }
        read_pass(
            args,
            pid,
            &channels,
            &data,
            backend,
            "",
            &args.read_concurrency,
            report,
        )
        .await;
        if args
            .read_ops
            .iter()
            .any(|o| o == ReadOp::ListFirstSmall.flag())
        {
            let c = 32.min(args.read_concurrency.iter().copied().max().unwrap_or(32));
            let (m, cpu) = read_cell(args, pid, &channels, &data, ReadOp::ListFirstSmall, c).await;
            let ceiling = report.ceiling.clone();
            report.reads.push(row(
                backend,
                ReadOp::ListFirstSmall.name(),
                m,
                cpu,
                &ceiling,
            ));
        }
        match query_evidence(db, &data).await {
            Ok(v) => report
                .evidence
                .push(json!({"backend": backend, "queries": v})),
            Err(e) => report.errors.push(format!("{backend} query plans: {e:#}")),
        }
        if args.profile {
            for op in [ReadOp::Get, ReadOp::Resolve, ReadOp::ListFirst] {
                match profile(args, pid, &channels, &data, op, tmp, backend).await {
                    Ok(v) => report.evidence.push(v),
                    Err(e) => report.errors.push(format!("{backend} perf profile: {e:#}")),
                }
            }
        }
        if args.has("footprint") {
            foot(
                report,
                backend,
                "peak RSS under the read load (VmHWM)",
                hwm_mib(pid),
                "MiB",
            );
            foot(
                report,
                backend,
                "RSS after the read load",
                rss_mib(pid),
                "MiB",
            );
        }
    }
    if args.has("writes") {
        let counters: Arc<Vec<AtomicUsize>> = Arc::new(
            (0..data.orgs.len())
                .map(|_| AtomicUsize::new(args.pack_pool))
                .collect(),
        );
        for (op, name, flag) in [
            (WriteOp::Create, "CreateMcpServer", "create"),
            (WriteOp::Update, "UpdateMcpServer", "update"),
            (WriteOp::AddPackServer, "AddPackServer", "add-pack-server"),
        ] {
            if !args.write_ops.iter().any(|o| o == flag) {
                continue;
            }
            for &c in &args.write_concurrency {
                let (m, cpu) = write_cell(args, pid, &channels, &data, &counters, op, c).await;
                report.writes.push(row(backend, name, m, cpu, &[]));
            }
        }
    }
    drop(channels);
    let size = db.size_bytes().await.unwrap_or(0);
    if args.has("footprint") {
        foot(
            report,
            backend,
            "database size after the run",
            size as f64 / 1048576.0,
            "MiB",
        );
    }
    svc.stop();
    if args.has("reads") {
        for mode in &args.cache_modes {
            cache_mode_pass(args, &cfg, &data, backend, mode, report).await?;
        }
    }
    if args.has("footprint") && backend == "sqlite" {
        let mut times = Vec::new();
        for _ in 0..args.start_repeats.max(1) {
            let svc = Service::start(&cfg).await?;
            times.push(svc.start_to_serving.as_secs_f64() * 1000.0);
            svc.stop();
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let median = times[times.len() / 2];
        report.footprint.push(json!({
            "backend": backend, "what": format!("start to SERVING on the existing database (median of {})", times.len()),
            "value": median, "unit": "ms", "all_ms": times,
        }));
        eprintln!("[{backend}] start to SERVING on the existing database: {times:?} ms");
    }
    Ok(())
}

/// The read cells at each of `levels` (plus the 32 × 16 cell for the reads
/// that have targets there), each op named with `suffix`.
#[allow(clippy::too_many_arguments)]
async fn read_pass(
    args: &RunArgs,
    pid: u32,
    channels: &[Channel],
    data: &Arc<Data>,
    backend: &str,
    suffix: &str,
    levels: &[usize],
    report: &mut Report,
) {
    let ceiling = report.ceiling.clone();
    let ops = [
        ReadOp::Get,
        ReadOp::ListFirst,
        ReadOp::ListDeep,
        ReadOp::GetPack,
        ReadOp::Resolve,
        ReadOp::ResolveHot,
    ];
    for op in ops {
        if !args.read_ops.iter().any(|o| o == op.flag()) {
            continue;
        }
        let mut levels = levels.to_vec();
        if op == ReadOp::ResolveHot {
            levels.retain(|&c| c == 32);
        }
        if op != ReadOp::GetPack && !levels.contains(&args.wide_concurrency) {
            levels.push(args.wide_concurrency);
        }
        for c in levels {
            let (m, cpu) = read_cell(args, pid, channels, data, op, c).await;
            let name = format!("{}{suffix}", op.name());
            report.reads.push(row(backend, &name, m, cpu, &ceiling));
        }
    }
}

/// One more read pass on a service restarted over the same database: `all`
/// with a cache every answer fits in (warmed first), `off` without caches.
async fn cache_mode_pass(
    args: &RunArgs,
    cfg: &ServiceConfig,
    data: &Arc<Data>,
    backend: &str,
    mode: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (mib, suffix) = match mode {
        "all" => (args.all_cached_mib, " (all cached)"),
        "off" => (0, " (cache off)"),
        other => anyhow::bail!("unknown cache mode {other:?} (all, off)"),
    };
    let svc = Service::start(&cfg.with("MCP_REGISTRY_READ_CACHE_MIB", mib.to_string())).await?;
    let pid = svc.pid();
    let channels = connect_many(&svc.addr(), 32).await?;
    if mode == "all" {
        // The write cells ran since the main pass's warm-up: without this,
        // the first read of a pack whose members they changed computes it.
        warm_reads(&channels, data, backend, report).await?;
        warm_resolutions(&channels, data, backend, report).await?;
    }
    reset_hwm(pid);
    read_pass(args, pid, &channels, data, backend, suffix, &[32], report).await;
    if args.has("footprint") {
        let what = format!("peak RSS under the read load{suffix} (VmHWM)");
        foot(report, backend, &what, hwm_mib(pid), "MiB");
    }
    drop(channels);
    svc.stop();
    Ok(())
}

/// Creates `n` servers pointing at `url(i)` and returns their ids.
async fn create_sync_servers(
    channels: &[Channel],
    auth: &Auth,
    n: usize,
    url: impl Fn(u64) -> (String, String) + Send + Sync + 'static,
) -> anyhow::Result<Vec<String>> {
    let ids: Arc<Vec<OnceLock<String>>> = Arc::new((0..n).map(|_| OnceLock::new()).collect());
    let url = Arc::new(url);
    let (conns, streams) = shape(64);
    let m = {
        let (ids, auth) = (ids.clone(), auth.clone());
        run_items(&channels[..conns], streams, n as u64, move |ch, _w, i| {
            let (ids, auth, url) = (ids.clone(), auth.clone(), url.clone());
            async move {
                let (name, url) = url(i);
                let created = servers(ch, &auth)
                    .create_mcp_server(pb::CreateMcpServerRequest {
                        mcp_server: Some(pb::McpServer {
                            name,
                            url,
                            ..Default::default()
                        }),
                    })
                    .await
                    .map_err(status_text)?
                    .into_inner();
                let _ = ids[i as usize].set(created.id);
                Ok(())
            }
        })
        .await
    };
    if m.errors > 0 {
        anyhow::bail!("{} creations failed: {:?}", m.errors, m.first_error);
    }
    Ok(ids
        .iter()
        .map(|i| i.get().cloned().unwrap_or_default())
        .collect())
}

/// SyncMcpServer for every id at `concurrency`; returns the row for the report.
async fn sync_round(
    svc: &Service,
    channels: &[Channel],
    auth: &Auth,
    ids: &[String],
    concurrency: usize,
    expect_tools: Option<i32>,
) -> (Measured, Cpu, f64) {
    let ids = Arc::new(ids.to_vec());
    let pid = svc.pid();
    reset_hwm(pid);
    let c0 = CpuSnap::take(pid);
    let (conns, streams) = shape(concurrency);
    let auth = auth.clone();
    let m = run_items(
        &channels[..conns],
        streams,
        ids.len() as u64,
        move |ch, _w, i| {
            let (ids, auth) = (ids.clone(), auth.clone());
            async move {
                let run = syncs(ch, &auth)
                    .sync_mcp_server(pb::SyncMcpServerRequest {
                        id: ids[i as usize].clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(status_text)?
                    .into_inner();
                if run.outcome != pb::SyncOutcome::Succeeded as i32 {
                    return Err(format!(
                        "outcome {}: {:?}",
                        run.outcome,
                        run.error.map(|e| e.message)
                    ));
                }
                let tools = run.tools.map(|t| t.count).unwrap_or(-1);
                if let Some(expected) = expect_tools
                    && tools != expected
                {
                    return Err(format!("{tools} tools, expected {expected}"));
                }
                Ok(())
            }
        },
    )
    .await;
    let cpu = CpuSnap::take(pid).since(&c0);
    (m, cpu, hwm_mib(pid))
}

fn sync_row(
    backend: &str,
    upstream: &str,
    round: &str,
    m: &Measured,
    cpu: Cpu,
    hwm: f64,
    db_mib: Option<f64>,
) -> Value {
    let (cpu, me, pg, other) = cpu;
    eprintln!(
        "[{backend}] sync {upstream} {round}: {} servers at {} in {:.2} s ({:.0}/s), CPU {:.2} ms/sync, peak RSS {:.1} MiB, failed {}{}",
        m.ops + m.errors,
        m.concurrency,
        m.seconds,
        m.ops_per_sec,
        cpu * 1000.0 / (m.ops + m.errors).max(1) as f64,
        hwm,
        m.errors,
        m.first_error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    json!({
        "backend": backend, "upstream": upstream, "round": round, "servers": m.ops + m.errors,
        "concurrency": m.concurrency, "connections": m.connections, "wall_s": m.seconds,
        "syncs_per_s": (m.ops + m.errors) as f64 / m.seconds, "p50_ms": m.p50_ms, "p99_ms": m.p99_ms,
        "cpu_s": cpu, "cpu_ms_per_sync": cpu * 1000.0 / (m.ops + m.errors).max(1) as f64,
        "peak_rss_mib": hwm, "succeeded": m.ops, "failed": m.errors, "first_error": m.first_error,
        "db_size_mib": db_mib, "bench_cpu_s": me, "postgres_cpu_s": pg, "other_cpu_pct": other,
    })
}

/// 1,000 servers on the Rust fixture, synced at each concurrency level.
async fn sync_scale(
    args: &RunArgs,
    backend: &str,
    base: &ServiceConfig,
    tmp: &Path,
    fixture_port: u16,
    report: &mut Report,
) -> anyhow::Result<()> {
    let db = Db::create(backend, tmp, &args.postgres, &args.run_id, "sync").await?;
    let result = async {
        let mut cfg = base
            .with("MCP_REGISTRY_ALLOW_INSECURE_UPSTREAMS", "true")
            .with("MCP_REGISTRY_ALLOW_PRIVATE_UPSTREAMS", "true");
        cfg.env.extend(db.service_env());
        let svc = Service::start(&cfg).await?;
        let store = Store::connect(&db.url()).await?;
        let (_org, auth) = org_with_key(&Admin::new(store.clone()), "bench-sync").await?;
        store.close().await?;
        let channels = connect_many(&svc.addr(), 32).await?;
        let rss_before = rss_mib(svc.pid());
        let mut first_64: Vec<String> = Vec::new();
        for &c in &args.sync_concurrency {
            let ids = create_sync_servers(&channels, &auth, args.sync_servers, move |i| {
                (format!("c{c}-{i:05}"), format!("http://127.0.0.1:{fixture_port}/s/c{c}-{i}/mcp"))
            })
            .await?;
            let (m, cpu, hwm) = sync_round(&svc, &channels, &auth, &ids, c, Some(args.tools as i32)).await;
            let size = db.size_bytes().await.ok().map(|b| b as f64 / 1048576.0);
            report.sync.push(sync_row(backend, "rust fixture", "first sync", &m, cpu, hwm, size));
            if c == 64 || first_64.is_empty() {
                first_64 = ids;
            }
        }
        // Once more, unchanged: the periodic case.
        let c = if args.sync_concurrency.contains(&64) { 64 } else { args.sync_concurrency[0] };
        let (m, cpu, hwm) = sync_round(&svc, &channels, &auth, &first_64, c, Some(args.tools as i32)).await;
        let size = db.size_bytes().await.ok().map(|b| b as f64 / 1048576.0);
        report.sync.push(sync_row(backend, "rust fixture", "re-sync, unchanged", &m, cpu, hwm, size));
        report.footprint.push(json!({"backend": backend, "what": "RSS before the sync benchmark", "value": rss_before, "unit": "MiB"}));
        drop(channels);
        svc.stop();
        anyhow::Ok(())
    }
    .await;
    db.drop_database().await;
    result
}

/// 100 servers pointing at server-everything (node), synced at concurrency 16.
async fn everything(
    args: &RunArgs,
    base: &ServiceConfig,
    tmp: &Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    if !args.everything.exists() {
        anyhow::bail!(
            "server-everything not found at {} (scripts/bench installs it)",
            args.everything.display()
        );
    }
    let port = procs::free_port();
    // Absolute paths: `node --require` resolves a bare relative path as a module name.
    let loopback = std::fs::canonicalize(&args.loopback)?;
    let script = std::fs::canonicalize(&args.everything)?;
    let mut cmd = Command::new("node");
    cmd.arg("--require")
        .arg(&loopback)
        .arg(&script)
        .arg("streamableHttp")
        .env("PORT", port.to_string());
    let _node = Proc::spawn("server-everything", &mut cmd, &tmp.join("everything.log"))?;
    procs::wait_port(port, Duration::from_secs(30)).await?;
    let db = Db::create("sqlite", tmp, &args.postgres, &args.run_id, "everything").await?;
    let mut cfg = base
        .with("MCP_REGISTRY_ALLOW_INSECURE_UPSTREAMS", "true")
        .with("MCP_REGISTRY_ALLOW_PRIVATE_UPSTREAMS", "true");
    cfg.env.extend(db.service_env());
    let svc = Service::start(&cfg).await?;
    let store = Store::connect(&db.url()).await?;
    let (_org, auth) = org_with_key(&Admin::new(store.clone()), "bench-everything").await?;
    store.close().await?;
    let channels = connect_many(&svc.addr(), 32).await?;
    let ids = create_sync_servers(&channels, &auth, args.everything_servers, move |i| {
        (
            format!("everything-{i:04}"),
            format!("http://127.0.0.1:{port}/mcp"),
        )
    })
    .await?;
    let (m, cpu, hwm) = sync_round(&svc, &channels, &auth, &ids, 16, None).await;
    let size = db.size_bytes().await.ok().map(|b| b as f64 / 1048576.0);
    report.sync.push(sync_row(
        "sqlite",
        "server-everything",
        "first sync",
        &m,
        cpu,
        hwm,
        size,
    ));
    let (m, cpu, hwm) = sync_round(&svc, &channels, &auth, &ids, 16, None).await;
    report.sync.push(sync_row(
        "sqlite",
        "server-everything",
        "re-sync",
        &m,
        cpu,
        hwm,
        size,
    ));
    drop(channels);
    svc.stop();
    Ok(())
}

fn cmd_out(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine(service_bin: &Path) -> Value {
    let lscpu = cmd_out("lscpu", &[]);
    let model = lscpu
        .lines()
        .find(|l| l.starts_with("Model name:"))
        .map(|l| l["Model name:".len()..].trim().to_owned())
        .unwrap_or_default();
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("PRETTY_NAME="))
                .map(|l| l["PRETTY_NAME=".len()..].trim_matches('"').to_owned())
        })
        .unwrap_or_default();
    json!({
        "nproc": cmd_out("nproc", &[]),
        "cpu_model": model,
        "hypervisor": lscpu.lines().find(|l| l.starts_with("Hypervisor vendor:")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()),
        "ram_gib": mem_kib as f64 / 1048576.0,
        "os": os,
        "kernel": cmd_out("uname", &["-r"]),
        "rustc": cmd_out("rustc", &["--version"]),
        "git_commit": cmd_out("git", &["rev-parse", "HEAD"]),
        "git_dirty_files": cmd_out("git", &["status", "--porcelain", "--untracked-files=no"]).lines().count(),
        "service_binary": service_bin.display().to_string(),
        "service_binary_bytes": procs::file_size(service_bin),
        "postgres": cmd_out("psql", &["-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"]),
        "node": cmd_out("node", &["--version"]),
        "date_utc": cmd_out("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
    })
}

fn find_read<'a>(report: &'a Report, backend: &str, op: &str, c: usize) -> Option<&'a Row> {
    report
        .reads
        .iter()
        .find(|r| r.backend == backend && r.op == op && r.m.concurrency == c)
}

/// "`row` reaches `min` of bare tonic's throughput at its concurrency."
fn ratio_target(target: &str, row: Option<&Row>, min: f64) -> Target {
    Target {
        target: target.to_owned(),
        measured: row
            .and_then(|r| {
                r.ratio_to_ceiling
                    .map(|x| format!("{x:.2} ({:.0}/s)", r.m.ops_per_sec))
            })
            .unwrap_or_else(|| "-".into()),
        met: row.and_then(|r| r.ratio_to_ceiling).map(|x| x >= min),
    }
}

fn targets(args: &RunArgs, report: &Report) -> Vec<Target> {
    let mut t = Vec::new();
    let wide = args.wide_concurrency;
    let ours = report
        .ceiling
        .iter()
        .find(|r| r.op == "our Health/Check" && r.m.concurrency == wide);
    t.push(ratio_target(
        "our Health/Check, 32 × 16: ≥ 0.9 of bare tonic",
        ours,
        0.9,
    ));
    // (backend, read as named in the table, minimum ratio to bare tonic at 32 × 16).
    let ratios = [
        ("sqlite", "GetMcpServer (all cached)", 0.8),
        ("sqlite", "GetMcpServer (cache off)", 0.3),
        ("postgres", "GetMcpServer (cache off)", 0.15),
        ("sqlite", "GetMcpServer", 0.6),
        ("sqlite", "ResolvePack (100 hot packs)", 0.5),
        ("sqlite", "ResolvePack (cache off)", 0.1),
        ("sqlite", "ResolvePack", 0.25),
        ("sqlite", "ListMcpServers first page", 0.5),
        ("sqlite", "ListMcpServers deep page", 0.5),
    ];
    for (backend, op, min) in ratios {
        let r = find_read(report, backend, op, wide);
        let target = format!("{op}, {backend}, 32 × 16: ≥ {min} of bare tonic");
        t.push(ratio_target(&target, r, min));
    }
    let rss = report
        .footprint
        .iter()
        .find(|v| v["backend"] == "sqlite" && v["what"] == "peak RSS under the read load (VmHWM)");
    t.push(Target {
        target: format!(
            "{} servers, default read cache: service RSS ≤ 256 MiB",
            args.servers
        ),
        measured: rss
            .map(|v| format!("{:.0} MiB", v["value"].as_f64().unwrap_or(0.0)))
            .unwrap_or_else(|| "-".into()),
        met: rss.map(|v| v["value"].as_f64().unwrap_or(f64::MAX) <= 256.0),
    });
    for (backend, min) in [("sqlite", 2500.0), ("postgres", 2000.0)] {
        let r = report
            .writes
            .iter()
            .find(|r| r.backend == backend && r.op == "CreateMcpServer" && r.m.concurrency == 32);
        t.push(Target {
            target: format!("CreateMcpServer, {backend}, 32 concurrent: ≥ {min:.0}/s"),
            measured: r
                .map(|r| format!("{:.0}/s", r.m.ops_per_sec))
                .unwrap_or_else(|| "-".into()),
            met: r.map(|r| r.m.ops_per_sec >= min),
        });
    }
    for backend in ["sqlite", "postgres"] {
        for op in ["GetMcpServer", "ResolvePack", "ResolvePack (100 hot packs)"] {
            let r = find_read(report, backend, op, 32);
            t.push(Target {
                target: format!("{op}, {backend}, 32 concurrent: p99 < 2 ms"),
                measured: r
                    .map(|r| format!("p99 {:.3} ms", r.m.p99_ms))
                    .unwrap_or_else(|| "-".into()),
                met: r.map(|r| r.m.p99_ms < 2.0),
            });
        }
    }
    for backend in ["sqlite", "postgres"] {
        for c in &args.read_concurrency {
            let first = find_read(report, backend, "ListMcpServers first page", *c);
            let deep = find_read(report, backend, "ListMcpServers deep page", *c);
            if let (Some(first), Some(deep)) = (first, deep) {
                let ratio = first.m.ops_per_sec / deep.m.ops_per_sec;
                t.push(Target {
                    target: format!("{backend}, {c} concurrent: page {} rows deep ≤ 1.5× the first page", args.deep_row),
                    measured: format!(
                        "{ratio:.2}× the time (first {:.0}/s p50 {:.2} ms, deep {:.0}/s p50 {:.2} ms)",
                        first.m.ops_per_sec, first.m.p50_ms, deep.m.ops_per_sec, deep.m.p50_ms
                    ),
                    met: Some(ratio <= 1.5),
                });
            }
        }
    }
    let at64 = report.sync.iter().find(|v| {
        v["upstream"] == "rust fixture"
            && v["round"] == "first sync"
            && v["concurrency"] == 64
            && v["backend"] == "sqlite"
    });
    t.push(Target {
        target: format!(
            "{} healthy servers synced in < 10 s at concurrency 64 (SQLite)",
            args.sync_servers
        ),
        measured: at64
            .map(|v| {
                format!(
                    "{:.2} s, {} failed",
                    v["wall_s"].as_f64().unwrap_or(0.0),
                    v["failed"]
                )
            })
            .unwrap_or_else(|| "-".into()),
        met: at64.map(|v| v["wall_s"].as_f64().unwrap_or(f64::MAX) < 10.0 && v["failed"] == 0),
    });
    t.push(Target {
        target: "… with peak RSS < 200 MiB".into(),
        measured: at64
            .map(|v| format!("{:.1} MiB", v["peak_rss_mib"].as_f64().unwrap_or(0.0)))
            .unwrap_or_else(|| "-".into()),
        met: at64.map(|v| v["peak_rss_mib"].as_f64().unwrap_or(f64::MAX) < 200.0),
    });
    let start = report.footprint.iter().find(|v| {
        v["backend"] == "sqlite"
            && v["what"]
                .as_str()
                .is_some_and(|w| w.starts_with("start to SERVING on the existing"))
    });
    t.push(Target {
        target: "start to SERVING < 200 ms on an existing SQLite database".into(),
        measured: start
            .map(|v| format!("{} ms (median)", f(v["value"].as_f64().unwrap_or(0.0), 1)))
            .unwrap_or_else(|| "-".into()),
        met: start.map(|v| v["value"].as_f64().unwrap_or(f64::MAX) < 200.0),
    });
    for (op, min) in [
        ("get by id", 300.0),
        ("list first page", 300.0),
        ("register", 10.0),
        ("refresh", 10.0),
    ] {
        let rows: Vec<&Value> = report
            .contextforge
            .iter()
            .filter(|v| v["op"] == op)
            .collect();
        let measured = rows
            .iter()
            .map(|v| {
                format!(
                    "{:.0}× ({} CF workers)",
                    v["ratio"].as_f64().unwrap_or(0.0),
                    v["workers"]
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        t.push(Target {
            target: format!("≥ {min}× ContextForge on {op}"),
            measured: if measured.is_empty() {
                "-".into()
            } else {
                measured
            },
            met: if rows.is_empty() {
                None
            } else {
                Some(
                    rows.iter()
                        .all(|v| v["ratio"].as_f64().unwrap_or(0.0) >= min),
                )
            },
        });
    }
    t.extend(crate::gateway::targets(report));
    t
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let tmp = std::env::temp_dir().join(format!("mcpr-bench-{}", args.run_id));
    std::fs::create_dir_all(&tmp)?;
    let exe = std::env::current_exe()?;
    let service_bin: PathBuf = args
        .service_bin
        .clone()
        .unwrap_or_else(|| exe.with_file_name("mcp-registry"));
    if !service_bin.exists() {
        anyhow::bail!("no service binary at {}", service_bin.display());
    }
    let mut report = Report {
        machine: machine(&service_bin),
        config: serde_json::to_value(&args)?,
        ..Default::default()
    };
    eprintln!("temporary files in {}", tmp.display());

    let fixture_port = procs::free_port();
    let mut fixture_cmd = Command::new(&exe);
    fixture_cmd.args([
        "fixture",
        "--port",
        &fixture_port.to_string(),
        "--tools",
        &args.tools.to_string(),
    ]);
    let fixture = Proc::spawn("fixture", &mut fixture_cmd, &tmp.join("fixture.log"))?;
    procs::wait_port(fixture_port, Duration::from_secs(10)).await?;

    let mut env = vec![("MCP_REGISTRY_RATE_LIMIT".to_owned(), "0".to_owned())];
    if let Some(mib) = args.read_cache_mib {
        env.push(("MCP_REGISTRY_READ_CACHE_MIB".into(), mib.to_string()));
    }
    if let Some(stored) = args.store_resolutions {
        env.push(("MCP_REGISTRY_STORE_RESOLUTIONS".into(), stored.to_string()));
    }
    let base = ServiceConfig {
        bin: service_bin.clone(),
        env,
        log: tmp.join("service.log"),
    };
    if args.has("footprint") {
        report.footprint.push(json!({
            "backend": "-", "what": "release binary size", "unit": "MiB",
            "value": procs::file_size(&service_bin) as f64 / 1048576.0,
        }));
    }
    for backend in &args.backends {
        if ["ceiling", "reads", "writes", "footprint"]
            .iter()
            .any(|s| args.has(s))
            && let Err(e) = backend_suite(&args, backend, &base, &tmp, &mut report).await
        {
            eprintln!("[{backend}] FAILED: {e:#}");
            report.errors.push(format!("{backend} reads/writes: {e:#}"));
        }
    }
    if args.has("sync") {
        for backend in &args.backends {
            if let Err(e) = sync_scale(&args, backend, &base, &tmp, fixture_port, &mut report).await
            {
                eprintln!("[{backend}] sync FAILED: {e:#}");
                report.errors.push(format!("{backend} sync scale: {e:#}"));
            }
        }
    }
    if args.has("gateway") {
        for backend in &args.backends {
            if let Err(e) = crate::gateway::run(
                &args,
                backend,
                &base,
                &tmp,
                (fixture.pid(), fixture_port),
                &mut report,
            )
            .await
            {
                eprintln!("[{backend}] gateway FAILED: {e:#}");
                report.errors.push(format!("{backend} pack gateway: {e:#}"));
            }
        }
    }
    if args.has("everything")
        && let Err(e) = everything(&args, &base, &tmp, &mut report).await
    {
        eprintln!("server-everything FAILED: {e:#}");
        report.errors.push(format!("server-everything: {e:#}"));
    }
    if args.has("contextforge")
        && let Err(e) =
            crate::contextforge::run(&args, &base, &tmp, fixture_port, &mut report).await
    {
        eprintln!("ContextForge FAILED: {e:#}");
        report.errors.push(format!("ContextForge: {e:#}"));
    }
    drop(fixture);
    report.targets = targets(&args, &report);
    report.print();
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    println!("\nJSON written to {}", args.out.display());
    if !args.keep_temp {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}

/// Query plans and direct timings of the statements behind the hot reads
/// (written by hand after the SeaORM queries in src/store), run on the
/// benchmark's own database.
async fn query_evidence(db: &Db, data: &Data) -> anyhow::Result<Value> {
    let big = &data.orgs[0];
    let small = &data.orgs[data.orgs.len() - 1];
    let server = &small.servers[0];
    let mut sorted = big.servers.clone();
    sorted.sort();
    let after = sorted.get(sorted.len() / 2).cloned().unwrap_or_default();
    let statements = [
        (
            "api key lookup (every call)",
            format!("SELECT * FROM api_keys WHERE id = '{}'", small.key_id),
        ),
        (
            "GetMcpServer: server by id",
            format!("SELECT * FROM mcp_servers WHERE id = '{server}'"),
        ),
        (
            "GetMcpServer: packs of the server",
            format!(
                "SELECT pm.server_id, pm.pack_id FROM pack_members pm JOIN packs p ON p.id = pm.pack_id WHERE p.organization_id = '{}' AND pm.server_id IN ('{server}') ORDER BY pm.pack_id",
                small.id
            ),
        ),
        (
            "ListMcpServers: first page rows (big org)",
            format!(
                "SELECT * FROM mcp_servers WHERE scope IN ('{}') ORDER BY id LIMIT 21",
                big.id
            ),
        ),
        (
            "ListMcpServers: a deep page's rows (big org)",
            format!(
                "SELECT * FROM mcp_servers WHERE scope IN ('{}') AND id > '{after}' ORDER BY id LIMIT 21",
                big.id
            ),
        ),
        (
            "ListMcpServers: total_size (big org, every page)",
            format!(
                "SELECT COUNT(*) AS n FROM mcp_servers WHERE scope IN ('{}')",
                big.id
            ),
        ),
        (
            "ListMcpServers: total_size (small org, every page)",
            format!(
                "SELECT COUNT(*) AS n FROM mcp_servers WHERE scope IN ('{}')",
                small.id
            ),
        ),
    ];
    let explain = if db.backend() == "sqlite" {
        "EXPLAIN QUERY PLAN "
    } else {
        "EXPLAIN (ANALYZE, BUFFERS) "
    };
    let mut out = Vec::new();
    for (what, sql) in statements {
        let plan = db
            .query_text(&format!("{explain}{sql}"))
            .await
            .unwrap_or_else(|e| vec![format!("error: {e}")]);
        let (mean_ms, rows) = db.time_query(&sql, 20).await.unwrap_or((-1.0, 0));
        out.push(json!({"what": what, "sql": sql, "plan": plan, "mean_ms_direct": mean_ms, "rows": rows}));
    }
    Ok(Value::Array(out))
}

/// `perf record` of the service during one more cell of `op` at 32 concurrent
/// calls; returns the top symbols by self time.
async fn profile(
    args: &RunArgs,
    pid: u32,
    channels: &[Channel],
    data: &Arc<Data>,
    op: ReadOp,
    tmp: &Path,
    backend: &str,
) -> anyhow::Result<Value> {
    let file = tmp.join(format!(
        "perf-{backend}-{}.data",
        op.name().replace(' ', "_")
    ));
    let perf = perf_record(pid, args.warmup + args.duration, &file, false)?;
    let (m, _) = read_cell(args, pid, channels, data, op, 32).await;
    let lines = perf_top(perf, &file).await?;
    Ok(
        json!({"backend": backend, "op": op.name(), "concurrency": 32, "ops_per_sec_under_perf": m.ops_per_sec, "top_self_time": lines}),
    )
}

/// Starts `perf record` of process `pid` for `secs` seconds into `file`: 499
/// Hz, or 199 Hz with call graphs (DWARF unwinding, 32 KiB of stack).
pub fn perf_record(
    pid: u32,
    secs: f64,
    file: &Path,
    call_graph: bool,
) -> anyhow::Result<std::process::Child> {
    let sampling: &[&str] = if call_graph {
        &["-F", "199", "--call-graph", "dwarf,32768"]
    } else {
        &["-F", "499"]
    };
    Ok(std::process::Command::new("perf")
        .arg("record")
        .args(sampling)
        .args(["-p", &pid.to_string(), "-o"])
        .arg(file)
        .args(["--", "sleep", &format!("{secs}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?)
}

/// Waits for `perf` to finish.
pub async fn perf_wait(mut perf: std::process::Child) {
    let _ = tokio::task::spawn_blocking(move || perf.wait()).await;
}

/// Waits for `perf` to finish and returns the symbols with at least 1 % of
/// the self time (at most 30 lines); removes `file`.
pub async fn perf_top(perf: std::process::Child, file: &Path) -> anyhow::Result<Vec<String>> {
    perf_wait(perf).await;
    perf_self_time(file)
}

/// The symbols of a finished recording with at least 1 % of the self time
/// (at most 30 lines); removes `file`.
pub fn perf_self_time(file: &Path) -> anyhow::Result<Vec<String>> {
    let out = std::process::Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "dso,symbol",
            "--percent-limit",
            "1",
            "-i",
        ])
        .arg(file)
        .output()?;
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .take(30)
        .map(|l| l.trim().to_owned())
        .collect();
    let _ = std::fs::remove_file(file);
    Ok(lines)
}
