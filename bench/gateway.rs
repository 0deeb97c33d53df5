//! The pack gateway section: one server on the MCP fixture (REQUIRE_NONE,
//! synced) in one pack, then at each concurrency, side by side in one run:
//! `tools/call` of the fixture's echo tool POSTed straight to the fixture,
//! the same call through the gateway (`/mcp/packs/{pack_id}`), the gateway's
//! `tools/list`, and gRPC `ResolvePack` of the same pack; the gateway's
//! `ping` (authentication and the HTTP hop, no pack, no upstream) shows
//! where the added latency goes. HTTP callers use
//! HTTP/1.1 keep-alive, one connection per worker; every answer is parsed
//! and checked, and a failed check counts as an error.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mcp_registry::pb;
use mcp_registry::registry::Admin;
use mcp_registry::store::Store;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::RunArgs;
use crate::db::Db;
use crate::load::connect_many;
use crate::procs::{self, Service, ServiceConfig, hwm_mib, reset_hwm, rss_mib};
use crate::report::{Report, Row};
use crate::scenarios::{
    cell, cell_watching, org_with_secret, packs_client, perf_record, perf_self_time, perf_wait,
    row, servers_client, status_text, syncs_client,
};

/// Concurrency levels of the section.
const LEVELS: [usize; 2] = [1, 32];

/// The text the echo tool is asked to return.
const QUERY: &str = "benchmark";

/// One measured call of the section.
#[derive(Clone, Copy, PartialEq)]
pub enum GatewayOp {
    /// `tools/call` POSTed to the fixture itself: the baseline.
    DirectCall,
    /// `ping` through the gateway: its fixed cost, without pack or upstream.
    GatewayPing,
    /// The same `tools/call` through the pack gateway.
    GatewayCall,
    /// `tools/list` of the pack through the gateway.
    GatewayList,
    /// gRPC `ResolvePack` of the same pack.
    Resolve,
}

impl GatewayOp {
    pub fn name(self) -> &'static str {
        match self {
            Self::DirectCall => "tools/call, fixture direct",
            Self::GatewayPing => "ping, gateway",
            Self::GatewayCall => "tools/call, gateway",
            Self::GatewayList => "tools/list, gateway",
            Self::Resolve => "ResolvePack, same pack",
        }
    }
}

/// Where the HTTP calls go and what they send.
struct Endpoints {
    /// The fixture's URL of the registered server.
    direct: String,
    /// The pack's gateway URL.
    gateway: String,
    /// `Bearer <key id>.<secret>` of the organization's ADMIN key.
    bearer: HeaderValue,
    /// The `tools/call` bodies: upstream tool name, qualified tool name.
    direct_call: Bytes,
    gateway_call: Bytes,
    list: Bytes,
    ping: Bytes,
    /// Tools the pack lists (the fixture's `tools/list`).
    tools: usize,
}

/// The pack under test and who may call it.
struct Setup {
    auth: crate::scenarios::Auth,
    pack_id: String,
    endpoints: Arc<Endpoints>,
}

/// Runs the section on `backend`; `fixture` is the fixture's (pid, port).
pub async fn run(
    args: &RunArgs,
    backend: &str,
    base: &ServiceConfig,
    tmp: &Path,
    fixture: (u32, u16),
    report: &mut Report,
) -> anyhow::Result<()> {
    let db = Db::create(backend, tmp, &args.postgres, &args.run_id, "gateway").await?;
    let result = measure(args, &db, base, tmp, fixture, report).await;
    db.drop_database().await;
    result
}

async fn measure(
    args: &RunArgs,
    db: &Db,
    base: &ServiceConfig,
    tmp: &Path,
    (fixture_pid, fixture_port): (u32, u16),
    report: &mut Report,
) -> anyhow::Result<()> {
    let backend = db.backend();
    let gateway_port = procs::free_port();
    let mut cfg = base
        .with("MCP_REGISTRY_ALLOW_INSECURE_UPSTREAMS", "true")
        .with("MCP_REGISTRY_ALLOW_PRIVATE_UPSTREAMS", "true")
        .with(
            "MCP_REGISTRY_MCP_LISTEN",
            format!("127.0.0.1:{gateway_port}"),
        );
    cfg.env.extend(db.service_env());
    let svc = Service::start(&cfg).await?;
    let pid = svc.pid();
    let channels = connect_many(&svc.addr(), 32).await?;
    let setup = set_up(args, db, &channels, fixture_port, gateway_port).await?;
    let http = http_clients(32)?;
    // The first call opens the gateway's pooled upstream session; the
    // warm-up of each cell does the rest.
    check_once(&http[0], &setup.endpoints).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_mib(pid);
    reset_hwm(pid);
    let ceiling = report.ceiling.clone();
    let ops = [
        GatewayOp::DirectCall,
        GatewayOp::GatewayPing,
        GatewayOp::GatewayCall,
        GatewayOp::GatewayList,
        GatewayOp::Resolve,
    ];
    for c in LEVELS {
        for op in ops {
            let (m, cpu, fixture_cpu) = match op {
                GatewayOp::Resolve => {
                    let (m, cpu) = resolve_cell(args, pid, &channels, &setup, c).await;
                    (m, cpu, 0.0)
                }
                _ => http_cell(args, pid, fixture_pid, &http, &setup.endpoints, op, c).await,
            };
            let ops_done = m.ops;
            let mut r = row(backend, op.name(), m, cpu, &ceiling);
            if op != GatewayOp::Resolve && ops_done > 0 {
                r.fixture_cpu_us_per_op = Some(fixture_cpu * 1e6 / ops_done as f64);
            }
            report.gateway.push(r);
        }
    }
    let peak = hwm_mib(pid);
    let rss_after = rss_mib(pid);
    for (what, value) in [
        ("RSS before the gateway cells", rss_before),
        ("peak RSS during the gateway cells (VmHWM)", peak),
        ("RSS after the gateway cells", rss_after),
    ] {
        eprintln!("[{backend}] {what}: {value:.1} MiB");
        report
            .footprint
            .push(json!({"backend": backend, "what": what, "value": value, "unit": "MiB"}));
    }
    compare(backend, report);
    if args.profile {
        match profile(
            args,
            pid,
            fixture_pid,
            &http,
            &setup.endpoints,
            tmp,
            backend,
        )
        .await
        {
            Ok(v) => report.evidence.push(v),
            Err(e) => report
                .errors
                .push(format!("{backend} gateway perf profile: {e:#}")),
        }
    }
    drop(channels);
    svc.stop();
    Ok(())
}

/// An organization with an ADMIN key, the fixture registered as server
/// `echo` (Streamable HTTP, REQUIRE_NONE) and synced, and pack `gateway`
/// holding it.
async fn set_up(
    args: &RunArgs,
    db: &Db,
    channels: &[Channel],
    fixture_port: u16,
    gateway_port: u16,
) -> anyhow::Result<Setup> {
    let store = Store::connect(&db.url()).await?;
    let (_org, key_id, secret, auth) =
        org_with_secret(&Admin::new(store.clone()), "bench-gateway").await?;
    store.close().await?;
    let ch = channels[0].clone();
    let direct = format!("http://127.0.0.1:{fixture_port}/s/gateway/mcp");
    let server = servers_client(ch.clone(), &auth)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(pb::McpServer {
                name: "echo".into(),
                url: direct.clone(),
                transport: pb::Transport::StreamableHttp as i32,
                approval_policy: pb::ApprovalPolicy::RequireNone as i32,
                ..Default::default()
            }),
        })
        .await
        .map_err(|s| anyhow::anyhow!("CreateMcpServer: {}", status_text(s)))?
        .into_inner();
    let run = syncs_client(ch.clone(), &auth)
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: server.id.clone(),
            ..Default::default()
        })
        .await
        .map_err(|s| anyhow::anyhow!("SyncMcpServer: {}", status_text(s)))?
        .into_inner();
    let tools = run.tools.map(|t| t.count).unwrap_or(-1);
    if run.outcome != pb::SyncOutcome::Succeeded as i32 || tools != args.tools as i32 {
        anyhow::bail!(
            "the sync of the fixture did not list its {} tools: outcome {}, {tools} tools, {:?}",
            args.tools,
            run.outcome,
            run.error.map(|e| e.message)
        );
    }
    let pack = packs_client(ch.clone(), &auth)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "gateway".into(),
                description: "The fixture's tools through the pack gateway".into(),
                servers: vec![pb::PackServer {
                    server_id: server.id.clone(),
                    name: String::new(),
                }],
                ..Default::default()
            }),
        })
        .await
        .map_err(|s| anyhow::anyhow!("CreatePack: {}", status_text(s)))?
        .into_inner();
    let resolved = packs_client(ch, &auth)
        .resolve_pack(pb::ResolvePackRequest {
            id: pack.id.clone(),
            version: 0,
        })
        .await
        .map_err(|s| anyhow::anyhow!("ResolvePack: {}", status_text(s)))?
        .into_inner();
    let tool = resolved
        .tools
        .first()
        .ok_or_else(|| anyhow::anyhow!("the pack resolves to no tools"))?;
    let call = |name: &str| {
        Bytes::from(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": name, "arguments": {"query": QUERY}}})
            .to_string(),
        )
    };
    let endpoints = Endpoints {
        gateway: format!("http://127.0.0.1:{gateway_port}/mcp/packs/{}", pack.id),
        bearer: HeaderValue::from_str(&format!("Bearer {key_id}.{secret}"))?,
        direct_call: call(&tool.name),
        gateway_call: call(&tool.qualified_name),
        list: Bytes::from(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).to_string(),
        ),
        ping: Bytes::from(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string()),
        tools: resolved.tools.len(),
        direct,
    };
    Ok(Setup {
        auth,
        pack_id: pack.id,
        endpoints: Arc::new(endpoints),
    })
}

/// One HTTP/1.1 client per worker: each keeps one connection alive.
fn http_clients(n: usize) -> anyhow::Result<Vec<reqwest::Client>> {
    (0..n)
        .map(|_| {
            reqwest::Client::builder()
                .http1_only()
                .tcp_nodelay(true)
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(anyhow::Error::from)
        })
        .collect()
}

/// POSTs one JSON-RPC message and returns the answer's `result`; an HTTP
/// error, a body that is not JSON or a JSON-RPC error is an error.
async fn post(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&HeaderValue>,
    body: Bytes,
) -> Result<Value, String> {
    let mut request = http
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .body(body);
    if let Some(bearer) = bearer {
        request = request.header(AUTHORIZATION, bearer.clone());
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        return Err(format!("HTTP {status}: {text}"));
    }
    let mut message: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if let Some(error) = message.get("error") {
        return Err(format!("JSON-RPC error: {error}"));
    }
    Ok(message["result"].take())
}

/// An echo call's result: the query back as text, not an error.
fn check_call(result: &Value) -> Result<(), String> {
    if result["isError"] == true || result["content"][0]["text"] != QUERY {
        return Err(format!("unexpected tools/call result: {result}"));
    }
    Ok(())
}

fn check_list(result: &Value, tools: usize) -> Result<(), String> {
    let listed = result["tools"].as_array().map_or(0, Vec::len);
    if listed != tools {
        return Err(format!(
            "tools/list listed {listed} tools, expected {tools}"
        ));
    }
    Ok(())
}

/// One call of `op` (an HTTP one) with its answer checked.
async fn http_call(http: &reqwest::Client, e: &Endpoints, op: GatewayOp) -> Result<(), String> {
    match op {
        GatewayOp::DirectCall => {
            check_call(&post(http, &e.direct, None, e.direct_call.clone()).await?)
        }
        GatewayOp::GatewayCall => {
            check_call(&post(http, &e.gateway, Some(&e.bearer), e.gateway_call.clone()).await?)
        }
        GatewayOp::GatewayPing => {
            let result = post(http, &e.gateway, Some(&e.bearer), e.ping.clone()).await?;
            if !result.is_object() {
                return Err(format!("unexpected ping result: {result}"));
            }
            Ok(())
        }
        GatewayOp::GatewayList => check_list(
            &post(http, &e.gateway, Some(&e.bearer), e.list.clone()).await?,
            e.tools,
        ),
        GatewayOp::Resolve => Err("ResolvePack is a gRPC call".into()),
    }
}

/// Each HTTP call once, before anything is measured.
async fn check_once(http: &reqwest::Client, e: &Endpoints) -> anyhow::Result<()> {
    for op in [
        GatewayOp::DirectCall,
        GatewayOp::GatewayPing,
        GatewayOp::GatewayCall,
        GatewayOp::GatewayList,
    ] {
        http_call(http, e, op)
            .await
            .map_err(|err| anyhow::anyhow!("{}: {err}", op.name()))?;
    }
    Ok(())
}

async fn http_cell(
    args: &RunArgs,
    pid: u32,
    fixture_pid: u32,
    http: &[reqwest::Client],
    endpoints: &Arc<Endpoints>,
    op: GatewayOp,
    c: usize,
) -> (crate::load::Measured, crate::scenarios::Cpu, f64) {
    let e = endpoints.clone();
    cell_watching(
        args,
        pid,
        Some(fixture_pid),
        http,
        c,
        move |client, _w, _seq| {
            let e = e.clone();
            async move { http_call(&client, &e, op).await }
        },
    )
    .await
}

async fn resolve_cell(
    args: &RunArgs,
    pid: u32,
    channels: &[Channel],
    setup: &Setup,
    c: usize,
) -> (crate::load::Measured, crate::scenarios::Cpu) {
    let (auth, id, tools) = (
        setup.auth.clone(),
        setup.pack_id.clone(),
        setup.endpoints.tools,
    );
    cell(args, pid, channels, c, move |ch, _w, _seq| {
        let (auth, id) = (auth.clone(), id.clone());
        async move {
            let resolved = packs_client(ch, &auth)
                .resolve_pack(pb::ResolvePackRequest { id, version: 0 })
                .await
                .map_err(status_text)?
                .into_inner();
            if resolved.tools.len() != tools {
                return Err(format!(
                    "ResolvePack returned {} tools, expected {tools}",
                    resolved.tools.len()
                ));
            }
            Ok(())
        }
    })
    .await
}

fn find<'a>(report: &'a Report, backend: &str, op: GatewayOp, c: usize) -> Option<&'a Row> {
    report
        .gateway
        .iter()
        .find(|r| r.backend == backend && r.op == op.name() && r.m.concurrency == c)
}

/// The gateway's call against the direct call, and its `tools/list` against
/// `ResolvePack`, at each level: throughput ratio, added p50 and p99.
fn compare(backend: &str, report: &mut Report) {
    let mut rows = Vec::new();
    for (comparison, op, baseline) in [
        (
            "tools/call: gateway vs fixture direct",
            GatewayOp::GatewayCall,
            GatewayOp::DirectCall,
        ),
        (
            "gateway tools/list vs ResolvePack",
            GatewayOp::GatewayList,
            GatewayOp::Resolve,
        ),
    ] {
        for c in LEVELS {
            let (Some(ours), Some(base)) = (
                find(report, backend, op, c),
                find(report, backend, baseline, c),
            ) else {
                continue;
            };
            let ratio = ours.m.ops_per_sec / base.m.ops_per_sec.max(1e-9);
            let (p50, p99) = (ours.m.p50_ms - base.m.p50_ms, ours.m.p99_ms - base.m.p99_ms);
            eprintln!(
                "[{backend}] {comparison}, c={c}: {:.1} % of the throughput, p50 {p50:+.3} ms, p99 {p99:+.3} ms",
                ratio * 100.0
            );
            rows.push(json!({
                "backend": backend, "comparison": comparison, "concurrency": c,
                "ratio": ratio, "added_p50_ms": p50, "added_p99_ms": p99,
                "ops_per_sec": ours.m.ops_per_sec, "baseline_ops_per_sec": base.m.ops_per_sec,
                "p50_ms": ours.m.p50_ms, "baseline_p50_ms": base.m.p50_ms,
                "p99_ms": ours.m.p99_ms, "baseline_p99_ms": base.m.p99_ms,
            }));
        }
    }
    report.gateway_compared.extend(rows);
}

/// `perf record` (with call graphs) of the service during one more gateway
/// `tools/call` cell at 32 concurrent calls: where its CPU went
/// ([`breakdown`]) and the top symbols by self time.
async fn profile(
    args: &RunArgs,
    pid: u32,
    fixture_pid: u32,
    http: &[reqwest::Client],
    endpoints: &Arc<Endpoints>,
    tmp: &Path,
    backend: &str,
) -> anyhow::Result<Value> {
    let file = tmp.join(format!("perf-{backend}-gateway-call.data"));
    let perf = perf_record(pid, args.warmup + args.duration, &file, true)?;
    let op = GatewayOp::GatewayCall;
    let (m, (cpu, _, pg, _), _) = http_cell(args, pid, fixture_pid, http, endpoints, op, 32).await;
    perf_wait(perf).await;
    let per_call = |seconds: f64| seconds * 1e6 / m.ops.max(1) as f64;
    let parts: Vec<Value> = breakdown(&file)?
        .into_iter()
        .map(|(part, share)| {
            json!({"part": part, "share": share, "service_cpu_us_per_call": share * per_call(cpu)})
        })
        .collect();
    for p in &parts {
        eprintln!(
            "[{backend}] gateway tools/call at 32, service CPU: {:>5.1} % {:>6.0} µs/call  {}",
            p["share"].as_f64().unwrap_or(0.0) * 100.0,
            p["service_cpu_us_per_call"].as_f64().unwrap_or(0.0),
            p["part"].as_str().unwrap_or("")
        );
    }
    let lines = perf_self_time(&file)?;
    Ok(
        json!({"backend": backend, "op": op.name(), "concurrency": 32,
        "ops_per_sec_under_perf": m.ops_per_sec, "service_cpu_us_per_call": per_call(cpu),
        "postgres_cpu_us_per_call": per_call(pg), "service_cpu_breakdown": parts,
        "top_self_time": lines}),
    )
}

/// The parts of a gateway call, each named by the frames that mark it; a
/// sample counts for the first part whose frames its stack holds (or, for
/// the first, whose thread it ran on).
const PARTS: [(&str, &[&str]); 9] = [
    ("SQLite statements (sqlx worker threads)", &[]),
    (
        "Packs::resolve (pack, members, servers, tool rows; the resolution)",
        &["Packs::resolve"],
    ),
    (
        "member server read (Servers::get with its pack ids)",
        &["gateway::rpc::member"],
    ),
    (
        "upstream call on the pooled session",
        &["gateway::rpc::upstream", "sync::session", "sync::calls"],
    ),
    ("authentication", &["gateway::authenticate"]),
    (
        "rest of the gateway (dispatch, JSON in and out)",
        &["mcp_registry::gateway"],
    ),
    (
        "HTTP/1.1 server (hyper, axum)",
        &["hyper::proto::h1", "axum::serve", "hyper_util::server"],
    ),
    (
        "database driver outside a named part (pool, channels)",
        &["sqlx", "sea_orm", "flume"],
    ),
    ("other (runtime, kernel, stacks not unwound)", &[]),
];

/// Shares of the samples in `file` per part of [`PARTS`].
fn breakdown(file: &Path) -> anyhow::Result<Vec<(&'static str, f64)>> {
    let out = std::process::Command::new("perf")
        .args(["script", "-F", "comm,ip,sym", "-i"])
        .arg(file)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut counts = [0u64; PARTS.len()];
    let mut total = 0u64;
    // A sample: a line with the thread name, then one tab-indented line per frame.
    let mut classify = |thread: &str, frames: &[&str]| {
        let part = if thread.starts_with("sqlx-sqlite") {
            0
        } else {
            PARTS
                .iter()
                .enumerate()
                .skip(1)
                .find(|(_, (_, marks))| marks.iter().any(|m| frames.iter().any(|f| f.contains(m))))
                .map_or(PARTS.len() - 1, |(i, _)| i)
        };
        counts[part] += 1;
        total += 1;
    };
    let mut thread = String::new();
    let mut frames: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.starts_with('\t') {
            frames.push(line);
        } else if !line.trim().is_empty() {
            if !thread.is_empty() {
                classify(&thread, &frames);
            }
            thread = line.trim().to_owned();
            frames.clear();
        }
    }
    if !thread.is_empty() {
        classify(&thread, &frames);
    }
    if total == 0 {
        anyhow::bail!("perf recorded no samples");
    }
    Ok(PARTS
        .iter()
        .zip(counts)
        .map(|((part, _), n)| (*part, n as f64 / total as f64))
        .collect())
}

/// The section's targets: throughput at 32 and added p50, per backend.
pub fn targets(report: &Report) -> Vec<crate::report::Target> {
    let mut t = Vec::new();
    let mut backends: Vec<&str> = report.gateway.iter().map(|r| r.backend.as_str()).collect();
    backends.dedup();
    for backend in backends {
        let pair = |c| {
            find(report, backend, GatewayOp::GatewayCall, c).zip(find(
                report,
                backend,
                GatewayOp::DirectCall,
                c,
            ))
        };
        let at32 = pair(32);
        t.push(crate::report::Target {
            target: format!(
                "gateway tools/call, {backend}, 32 concurrent: ≥ 70 % of the direct throughput"
            ),
            measured: at32
                .map(|(g, d)| {
                    format!(
                        "{:.1} % ({:.0}/s vs {:.0}/s)",
                        g.m.ops_per_sec * 100.0 / d.m.ops_per_sec.max(1e-9),
                        g.m.ops_per_sec,
                        d.m.ops_per_sec
                    )
                })
                .unwrap_or_else(|| "-".into()),
            met: at32.map(|(g, d)| g.m.ops_per_sec >= 0.7 * d.m.ops_per_sec),
        });
        for c in LEVELS {
            let p = pair(c);
            t.push(crate::report::Target {
                target: format!(
                    "gateway tools/call, {backend}, {c} concurrent: ≤ 0.5 ms added p50"
                ),
                measured: p
                    .map(|(g, d)| {
                        format!(
                            "{:+.3} ms (p50 {:.3} vs {:.3} ms)",
                            g.m.p50_ms - d.m.p50_ms,
                            g.m.p50_ms,
                            d.m.p50_ms
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
                met: p.map(|(g, d)| g.m.p50_ms - d.m.p50_ms <= 0.5),
            });
        }
    }
    t
}
