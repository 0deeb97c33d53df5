//! IBM ContextForge 1.1.0 side by side with mcp-registry: same machine, same
//! upstream (the Rust fixture, 20 tools), SQLite on both sides, the same
//! concurrency. ContextForge is driven over its REST API with reqwest:
//!
//! | operation        | mcp-registry                          | ContextForge                          |
//! |------------------|---------------------------------------|---------------------------------------|
//! | register         | CreateMcpServer + SyncMcpServer       | POST /gateways (connects, lists tools)|
//! | get by id        | GetMcpServer                          | GET /gateways/{id}                    |
//! | list first page  | ListMcpServers, page_size = CF's page | GET /gateways (its default page)      |
//! | refresh          | SyncMcpServer                         | POST /gateways/{id}/tools/refresh     |

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mcp_registry::pb;
use mcp_registry::registry::Admin;
use mcp_registry::store::Store;
use serde_json::{Value, json};

use crate::RunArgs;
use crate::db::Db;
use crate::load::{Measured, connect_many, pick, run_items, run_timed, shape};
use crate::procs::{self, Proc, Service, ServiceConfig};
use crate::report::Report;
use crate::scenarios::{org_with_key, servers_client, status_text, syncs_client};

struct Side {
    register: Measured,
    get: Measured,
    list: Measured,
    refresh: Measured,
    memory_mib: f64,
    memory_kind: &'static str,
    page_rows: usize,
}

fn secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// ContextForge with `workers` uvicorn workers on a fresh SQLite database.
async fn theirs(
    args: &RunArgs,
    tmp: &Path,
    fixture_port: u16,
    workers: usize,
    run: usize,
) -> anyhow::Result<(Side, Value)> {
    let venv = absolute(&args.contextforge_venv);
    let dir = tmp.join(format!("contextforge-{workers}-{run}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let port = procs::free_port();
    let jwt_secret = secret();
    let env: Vec<(&str, String)> = vec![
        ("HOST", "127.0.0.1".into()),
        ("PORT", port.to_string()),
        ("MCG_HOST", "127.0.0.1".into()),
        ("MCG_PORT", port.to_string()),
        (
            "DATABASE_URL",
            format!("sqlite:///{}", dir.join("mcp.db").display()),
        ),
        ("JWT_SECRET_KEY", jwt_secret.clone()),
        ("AUTH_ENCRYPTION_SECRET", secret()),
        ("BASIC_AUTH_USER", "admin".into()),
        ("BASIC_AUTH_PASSWORD", format!("Ab1!{}", secret())),
        ("PLATFORM_ADMIN_EMAIL", "admin@example.com".into()),
        ("PLATFORM_ADMIN_PASSWORD", format!("Ab1!{}", secret())),
        ("DEFAULT_USER_PASSWORD", format!("Ab1!{}", secret())),
        ("AUTH_REQUIRED", "true".into()),
        ("MCPGATEWAY_UI_ENABLED", "false".into()),
        ("MCPGATEWAY_ADMIN_API_ENABLED", "false".into()),
        // Rate limiting off, as the comparison requires.
        ("RATE_LIMITING_ENABLED", "false".into()),
        // Its own MCP transport, given explicitly.
        ("TRANSPORT_TYPE", "streamablehttp".into()),
        // The upstream fixture is on 127.0.0.1.
        ("SSRF_ALLOW_LOCALHOST", "true".into()),
        // No periodic health checks of the 200 gateways during the measurements
        // (mcp-registry runs without its scheduler too).
        ("HEALTH_CHECK_INTERVAL", "3600".into()),
        ("LOG_LEVEL", "ERROR".into()),
        ("PLUGINS_ENABLED", "false".into()),
        ("HOME", dir.display().to_string()),
        ("PATH", std::env::var("PATH").unwrap_or_default()),
    ];
    let mut cmd = Command::new(venv.join("bin/mcpgateway"));
    cmd.args([
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--workers",
        &workers.to_string(),
    ])
    .current_dir(&dir)
    .env_clear();
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let t0 = Instant::now();
    let mut proc = Proc::spawn("contextforge", &mut cmd, &dir.join("contextforge.log"))?;
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(180))
        .build()?;
    let base = format!("http://127.0.0.1:{port}");
    loop {
        if let Ok(r) = http.get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            break;
        }
        if let Err(e) = proc.check_alive() {
            let log = std::fs::read_to_string(dir.join("contextforge.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(8).collect();
            anyhow::bail!("{e}; log tail: {tail:#?}");
        }
        if t0.elapsed() > Duration::from_secs(300) {
            anyhow::bail!("ContextForge did not answer /health within 300 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let startup_s = t0.elapsed().as_secs_f64();
    eprintln!("[contextforge] {workers} worker(s) up in {startup_s:.1} s on {base}");
    let mut token_cmd = Command::new(venv.join("bin/python"));
    token_cmd
        .args([
            "-m",
            "mcpgateway.utils.create_jwt_token",
            "--username",
            "admin@example.com",
            "--exp",
            "240",
            "--secret",
            &jwt_secret,
        ])
        .current_dir(&dir)
        .env_clear();
    for (k, v) in &env {
        token_cmd.env(k, v);
    }
    let out = token_cmd.output()?;
    let token = String::from_utf8_lossy(&out.stdout)
        .trim()
        .lines()
        .last()
        .unwrap_or("")
        .to_owned();
    if token.split('.').count() != 3 {
        anyhow::bail!(
            "no JWT from create_jwt_token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bearer = format!("Bearer {token}");

    // Register N gateways (each connects to the fixture and lists its tools).
    let n = args.cf_servers;
    let ids: Arc<Vec<OnceLock<String>>> = Arc::new((0..n).map(|_| OnceLock::new()).collect());
    let clients = vec![http.clone(); args.cf_write_concurrency];
    let register = {
        let (ids, base, bearer) = (ids.clone(), base.clone(), bearer.clone());
        run_items(
            &clients,
            1,
            n as u64,
            move |http: reqwest::Client, _w, i| {
                let (ids, base, bearer) = (ids.clone(), base.clone(), bearer.clone());
                async move {
                    let r = http
                        .post(format!("{base}/gateways"))
                        .header("authorization", bearer)
                        .json(&json!({
                            "name": format!("fx-{i:04}"),
                            "url": format!("http://127.0.0.1:{fixture_port}/s/cf-{run}-{i}/mcp"),
                            "transport": "STREAMABLEHTTP",
                            "description": "benchmark fixture",
                        }))
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let status = r.status();
                    let body: Value = r.json().await.map_err(|e| e.to_string())?;
                    if !status.is_success() {
                        return Err(format!("{status}: {body}"));
                    }
                    let id = body["id"]
                        .as_str()
                        .ok_or_else(|| format!("no id in {body}"))?;
                    let _ = ids[i as usize].set(id.to_owned());
                    Ok(())
                }
            },
        )
        .await
    };
    eprintln!(
        "[contextforge] register {n}: {:.1}/s, errors {} {:?}",
        register.ops_per_sec, register.errors, register.first_error
    );
    let ids: Arc<Vec<String>> = Arc::new(ids.iter().filter_map(|i| i.get().cloned()).collect());
    if ids.is_empty() {
        anyhow::bail!("no gateway registered: {:?}", register.first_error);
    }
    // Tools discovered by the first gateway (sanity check).
    let first: Value = http
        .get(format!("{base}/gateways/{}", ids[0]))
        .header("authorization", &bearer)
        .send()
        .await?
        .json()
        .await?;
    let listed: Value = http
        .get(format!("{base}/gateways"))
        .header("authorization", &bearer)
        .send()
        .await?
        .json()
        .await?;
    let page_rows = listed.as_array().map(|a| a.len()).unwrap_or(0);
    let tools: Value = http
        .get(format!("{base}/tools?gateway_id={}", ids[0]))
        .header("authorization", &bearer)
        .send()
        .await?
        .json()
        .await
        .unwrap_or(Value::Null);
    let tool_count = tools
        .as_array()
        .map(|a| a.len())
        .or_else(|| tools["tools"].as_array().map(|a| a.len()));

    let reads = vec![http.clone(); args.cf_read_concurrency];
    let get = {
        let (ids, base, bearer) = (ids.clone(), base.clone(), bearer.clone());
        run_timed(
            &reads,
            1,
            args.warmup(),
            args.duration(),
            move |http: reqwest::Client, w, seq| {
                let (ids, base, bearer) = (ids.clone(), base.clone(), bearer.clone());
                async move {
                    let id = &ids[pick(w, seq, 11, ids.len())];
                    let r = http
                        .get(format!("{base}/gateways/{id}"))
                        .header("authorization", bearer)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let status = r.status();
                    let _ = r.bytes().await.map_err(|e| e.to_string())?;
                    if status.is_success() {
                        Ok(())
                    } else {
                        Err(status.to_string())
                    }
                }
            },
        )
        .await
    };
    eprintln!(
        "[contextforge] get by id: {:.1}/s p99 {:.1} ms, errors {}",
        get.ops_per_sec, get.p99_ms, get.errors
    );
    let list = {
        let (base, bearer) = (base.clone(), bearer.clone());
        run_timed(
            &reads,
            1,
            args.warmup(),
            args.duration(),
            move |http: reqwest::Client, _w, _seq| {
                let (base, bearer) = (base.clone(), bearer.clone());
                async move {
                    let r = http
                        .get(format!("{base}/gateways"))
                        .header("authorization", bearer)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let status = r.status();
                    let _ = r.bytes().await.map_err(|e| e.to_string())?;
                    if status.is_success() {
                        Ok(())
                    } else {
                        Err(status.to_string())
                    }
                }
            },
        )
        .await
    };
    eprintln!(
        "[contextforge] list first page ({page_rows} rows): {:.1}/s p99 {:.1} ms, errors {}",
        list.ops_per_sec, list.p99_ms, list.errors
    );
    let pss_kib: u64 = procs::process_tree(proc.pid())
        .iter()
        .filter_map(|p| procs::pss_kib(*p))
        .sum();
    let refresh = {
        let (ids, base, bearer) = (ids.clone(), base.clone(), bearer.clone());
        run_items(
            &clients,
            1,
            ids.len() as u64,
            move |http: reqwest::Client, _w, i| {
                let (ids, base, bearer) = (ids.clone(), base.clone(), bearer.clone());
                async move {
                    let r = http
                        .post(format!("{base}/gateways/{}/tools/refresh", ids[i as usize]))
                        .header("authorization", bearer)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let status = r.status();
                    let body = r.text().await.map_err(|e| e.to_string())?;
                    if status.is_success() {
                        Ok(())
                    } else {
                        Err(format!("{status}: {body}"))
                    }
                }
            },
        )
        .await
    };
    eprintln!(
        "[contextforge] refresh {}: {:.1}/s, errors {} {:?}",
        ids.len(),
        refresh.ops_per_sec,
        refresh.errors,
        refresh.first_error
    );
    let pss_after_kib: u64 = procs::process_tree(proc.pid())
        .iter()
        .filter_map(|p| procs::pss_kib(*p))
        .sum();
    proc.stop(Duration::from_secs(20));
    let info = json!({
        "workers": workers, "startup_s": startup_s, "registered": ids.len(), "page_rows": page_rows,
        "tools_of_first_gateway": tool_count, "first_gateway_keys": first.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
        "pss_mib_after_reads": pss_kib as f64 / 1024.0, "pss_mib_after_refresh": pss_after_kib as f64 / 1024.0,
    });
    Ok((
        Side {
            register,
            get,
            list,
            refresh,
            memory_mib: pss_kib.max(pss_after_kib) as f64 / 1024.0,
            memory_kind: "PSS (all processes)",
            page_rows,
        },
        info,
    ))
}

/// mcp-registry on a fresh SQLite database, the same operations.
async fn ours(
    args: &RunArgs,
    base: &ServiceConfig,
    tmp: &Path,
    fixture_port: u16,
    page_rows: usize,
) -> anyhow::Result<Side> {
    let db = Db::create("sqlite", tmp, &args.postgres, &args.run_id, "cf-ours").await?;
    let mut cfg = base
        .with("MCP_REGISTRY_ALLOW_INSECURE_UPSTREAMS", "true")
        .with("MCP_REGISTRY_ALLOW_PRIVATE_UPSTREAMS", "true");
    cfg.env.extend(db.service_env());
    let svc = Service::start(&cfg).await?;
    let store = Store::connect(&db.url()).await?;
    let (_org, auth) = org_with_key(&Admin::new(store.clone()), "bench-contextforge").await?;
    store.close().await?;
    let channels = connect_many(&svc.addr(), 32).await?;
    let n = args.cf_servers;
    let ids: Arc<Vec<OnceLock<String>>> = Arc::new((0..n).map(|_| OnceLock::new()).collect());
    let (conns, streams) = shape(args.cf_write_concurrency);
    let register = {
        let (ids, auth) = (ids.clone(), auth.clone());
        run_items(&channels[..conns], streams, n as u64, move |ch, _w, i| {
            let (ids, auth) = (ids.clone(), auth.clone());
            async move {
                let created = servers_client(ch.clone(), &auth)
                    .create_mcp_server(pb::CreateMcpServerRequest {
                        mcp_server: Some(pb::McpServer {
                            name: format!("fx-{i:04}"),
                            url: format!("http://127.0.0.1:{fixture_port}/s/ours-{i}/mcp"),
                            description: "benchmark fixture".into(),
                            transport: pb::Transport::StreamableHttp as i32,
                            ..Default::default()
                        }),
                    })
                    .await
                    .map_err(status_text)?
                    .into_inner();
                let run = syncs_client(ch, &auth)
                    .sync_mcp_server(pb::SyncMcpServerRequest {
                        id: created.id.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(status_text)?
                    .into_inner();
                if run.outcome != pb::SyncOutcome::Succeeded as i32 {
                    return Err(format!("sync outcome {}", run.outcome));
                }
                let _ = ids[i as usize].set(created.id);
                Ok(())
            }
        })
        .await
    };
    let ids: Arc<Vec<String>> = Arc::new(ids.iter().filter_map(|i| i.get().cloned()).collect());
    let (conns, streams) = shape(args.cf_read_concurrency);
    let get = {
        let (ids, auth) = (ids.clone(), auth.clone());
        run_timed(
            &channels[..conns],
            streams,
            args.warmup(),
            args.duration(),
            move |ch, w, seq| {
                let (ids, auth) = (ids.clone(), auth.clone());
                async move {
                    let id = ids[pick(w, seq, 11, ids.len())].clone();
                    servers_client(ch, &auth)
                        .get_mcp_server(pb::GetMcpServerRequest {
                            lookup: Some(pb::get_mcp_server_request::Lookup::Id(id)),
                        })
                        .await
                        .map(|_| ())
                        .map_err(status_text)
                }
            },
        )
        .await
    };
    let page_size = page_rows.max(1) as i32;
    let list = {
        let auth = auth.clone();
        run_timed(
            &channels[..conns],
            streams,
            args.warmup(),
            args.duration(),
            move |ch, _w, _seq| {
                let auth = auth.clone();
                async move {
                    servers_client(ch, &auth)
                        .list_mcp_servers(pb::ListMcpServersRequest {
                            page_size,
                            ..Default::default()
                        })
                        .await
                        .map(|_| ())
                        .map_err(status_text)
                }
            },
        )
        .await
    };
    let pss = procs::pss_kib(svc.pid()).unwrap_or(0) as f64 / 1024.0;
    let (conns, streams) = shape(args.cf_write_concurrency);
    let refresh = {
        let (ids, auth) = (ids.clone(), auth.clone());
        run_items(
            &channels[..conns],
            streams,
            ids.len() as u64,
            move |ch, _w, i| {
                let (ids, auth) = (ids.clone(), auth.clone());
                async move {
                    let run = syncs_client(ch, &auth)
                        .sync_mcp_server(pb::SyncMcpServerRequest {
                            id: ids[i as usize].clone(),
                            ..Default::default()
                        })
                        .await
                        .map_err(status_text)?
                        .into_inner();
                    if run.outcome != pb::SyncOutcome::Succeeded as i32 {
                        return Err(format!("sync outcome {}", run.outcome));
                    }
                    Ok(())
                }
            },
        )
        .await
    };
    let pss = pss.max(procs::pss_kib(svc.pid()).unwrap_or(0) as f64 / 1024.0);
    drop(channels);
    svc.stop();
    db.drop_database().await;
    Ok(Side {
        register,
        get,
        list,
        refresh,
        memory_mib: pss,
        memory_kind: "PSS",
        page_rows,
    })
}

pub async fn run(
    args: &RunArgs,
    base: &ServiceConfig,
    tmp: &Path,
    fixture_port: u16,
    report: &mut Report,
) -> anyhow::Result<()> {
    let venv = absolute(&args.contextforge_venv);
    if !venv.join("bin/mcpgateway").exists() {
        anyhow::bail!(
            "no ContextForge at {} (scripts/bench installs it)",
            venv.display()
        );
    }
    let version = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('mcp-contextforge-gateway'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    report
        .contextforge
        .push(json!({"contextforge_version": version}));
    let mut ours_side: Option<Side> = None;
    for (run, &workers) in args.cf_workers.iter().enumerate() {
        let (theirs, info) = match theirs(args, tmp, fixture_port, workers, run).await {
            Ok(x) => x,
            Err(e) => {
                report
                    .errors
                    .push(format!("ContextForge with {workers} worker(s): {e:#}"));
                report
                    .contextforge
                    .push(json!({"workers": workers, "error": format!("{e:#}")}));
                continue;
            }
        };
        report.contextforge.push(info);
        if ours_side.is_none() {
            let o = ours(args, base, tmp, fixture_port, theirs.page_rows).await?;
            eprintln!(
                "[contextforge] ours: register {:.0}/s, get {:.0}/s, list {:.0}/s, refresh {:.0}/s",
                o.register.ops_per_sec,
                o.get.ops_per_sec,
                o.list.ops_per_sec,
                o.refresh.ops_per_sec
            );
            ours_side = Some(o);
        }
        let o = ours_side.as_ref().expect("ours measured");
        for (op, a, b, n_or_conc) in [
            (
                "get by id",
                &o.get,
                &theirs.get,
                args.cf_read_concurrency.to_string(),
            ),
            (
                "list first page",
                &o.list,
                &theirs.list,
                format!("{} ({} rows)", args.cf_read_concurrency, theirs.page_rows),
            ),
            (
                "register",
                &o.register,
                &theirs.register,
                format!("{} at {}", args.cf_servers, args.cf_write_concurrency),
            ),
            (
                "refresh",
                &o.refresh,
                &theirs.refresh,
                format!("{} at {}", args.cf_servers, args.cf_write_concurrency),
            ),
        ] {
            report.contextforge.push(json!({
                "workers": workers, "op": op, "n_or_conc": n_or_conc,
                "ours_per_s": a.ops_per_sec, "theirs_per_s": b.ops_per_sec,
                "ratio": if b.ops_per_sec > 0.0 { a.ops_per_sec / b.ops_per_sec } else { 0.0 },
                "ours_p99_ms": a.p99_ms, "theirs_p99_ms": b.p99_ms,
                "ours_errors": a.errors, "theirs_errors": b.errors, "theirs_first_error": b.first_error,
                "ours": a, "theirs": b,
            }));
        }
        report.contextforge.push(json!({
            "workers": workers, "op": "memory", "n_or_conc": "after the loads",
            "ours_per_s": o.memory_mib, "theirs_per_s": theirs.memory_mib,
            "note": format!("MiB, ours {} / ContextForge {}", o.memory_kind, theirs.memory_kind),
        }));
    }
    Ok(())
}
