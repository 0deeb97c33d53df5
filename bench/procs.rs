//! Child processes (the service, fixtures, ContextForge) and what /proc says
//! about them. Every child is stopped (SIGTERM, then SIGKILL) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A child process stopped when dropped.
pub struct Proc {
    pub child: std::process::Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> anyhow::Result<Self> {
        let log = std::fs::File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {name}: {e}"))?;
        Ok(Self {
            child,
            name: name.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has already exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("{} exited early: {status}", self.name);
        }
        Ok(())
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub async fn wait_port(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("nothing listens on 127.0.0.1:{port} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A field of /proc/<pid>/status in KiB (VmRSS, VmHWM, ...).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

pub fn rss_mib(pid: u32) -> f64 {
    status_kib(pid, "VmRSS").unwrap_or(0) as f64 / 1024.0
}

pub fn hwm_mib(pid: u32) -> f64 {
    status_kib(pid, "VmHWM").unwrap_or(0) as f64 / 1024.0
}

/// Resets VmHWM to the current RSS (writing 5 to /proc/<pid>/clear_refs).
pub fn reset_hwm(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// PSS of one process in KiB (/proc/<pid>/smaps_rollup).
pub fn pss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// `pid` and all its descendants.
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if let Some(ppid) = stat_fields(p).and_then(|f| f.get(1).and_then(|v| v.parse().ok())) {
                parents.push((p, ppid));
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        for &(p, pp) in &parents {
            if pp == parent && !tree.contains(&p) {
                tree.push(p);
            }
        }
        i += 1;
    }
    tree
}

/// Fields of /proc/<pid>/stat after the command name: [state, ppid, ...].
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of a process in seconds (clock ticks of 1/100 s).
pub fn cpu_seconds(pid: u32) -> f64 {
    // After ')' fields start at stat field 3 (state): utime is field 14, stime 15.
    stat_fields(pid)
        .map(|f| {
            let t = |i: usize| {
                f.get(i - 3)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            (t(14) + t(15)) as f64 / clock_ticks()
        })
        .unwrap_or(0.0)
}

fn clock_ticks() -> f64 {
    // USER_HZ is 100 on every Linux configuration in practice; `getconf` confirms.
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The service under test.
pub struct Service {
    pub proc: Proc,
    pub port: u16,
    /// From spawn to the first SERVING answer of Health/Check.
    pub start_to_serving: Duration,
}

/// How to start the service.
#[derive(Clone)]
pub struct ServiceConfig {
    pub bin: PathBuf,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
}

impl ServiceConfig {
    pub fn with(&self, key: &str, value: impl Into<String>) -> Self {
        let mut c = self.clone();
        c.env.retain(|(k, _)| k != key);
        c.env.push((key.to_owned(), value.into()));
        c
    }
}

impl Service {
    /// Starts `mcp-registry serve` on a free port and polls Health/Check every
    /// millisecond until it answers SERVING.
    pub async fn start(cfg: &ServiceConfig) -> anyhow::Result<Self> {
        let port = free_port();
        let mut cmd = Command::new(&cfg.bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MCP_REGISTRY_METRICS_LISTEN", "off")
            .env("MCP_REGISTRY_MCP_LISTEN", "off")
            .env("MCP_REGISTRY_LOG_LEVEL", "warn")
            .env("MCP_REGISTRY_LOG_FORMAT", "json")
            .env("MCP_REGISTRY_BACKGROUND_SYNC", "false");
        for (k, v) in &cfg.env {
            cmd.env(k, v);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.log)?;
        let t0 = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", cfg.bin.display()))?;
        let mut proc = Proc {
            child,
            name: "mcp-registry".into(),
        };
        let endpoint = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?;
        loop {
            if let Ok(channel) = endpoint.connect().await {
                let mut health = HealthClient::new(channel);
                if let Ok(r) = health
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    && r.into_inner().status == ServingStatus::Serving as i32
                {
                    break;
                }
            }
            if let Err(e) = proc.check_alive() {
                let tail = std::fs::read_to_string(&cfg.log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(5).collect();
                anyhow::bail!("{e}; log tail: {tail:?}");
            }
            if t0.elapsed() > Duration::from_secs(60) {
                anyhow::bail!("the service did not serve within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(Self {
            start_to_serving: t0.elapsed(),
            proc,
            port,
        })
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    pub fn stop(mut self) {
        self.proc.stop(Duration::from_secs(30));
    }
}

/// Bytes in a file, 0 when missing.
pub fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Busy CPU seconds of the whole machine (all CPUs), from /proc/stat.
pub fn machine_busy_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().next() else {
        return 0.0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = [0usize, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| v.get(i).copied().unwrap_or(0))
        .sum::<u64>();
    busy as f64 / clock_ticks()
}

pub fn cpus() -> f64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as f64)
        .unwrap_or(1.0)
}

/// CPU use of the service, of this process, and of the whole machine.
#[derive(Clone, Copy, Debug)]
pub struct CpuSnap {
    pub service: f64,
    /// All `postgres` processes (the PostgreSQL server is shared by the machine).
    pub postgres: f64,
    pub me: f64,
    pub machine: f64,
    pub at: Instant,
}

impl CpuSnap {
    pub fn take(service_pid: u32) -> Self {
        Self {
            service: cpu_seconds(service_pid),
            postgres: postgres_cpu_seconds(),
            me: cpu_seconds(std::process::id()),
            machine: machine_busy_seconds(),
            at: Instant::now(),
        }
    }

    /// (service CPU s, load generator CPU s, PostgreSQL CPU s, other
    /// processes' share of the machine in %).
    pub fn since(&self, earlier: &CpuSnap) -> (f64, f64, f64, f64) {
        let service = self.service - earlier.service;
        let me = self.me - earlier.me;
        let pg = (self.postgres - earlier.postgres).max(0.0);
        let wall = (self.at - earlier.at).as_secs_f64().max(1e-9);
        let other = (self.machine - earlier.machine - service - me - pg).max(0.0);
        (service, me, pg, other * 100.0 / (wall * cpus()))
    }
}

/// CPU seconds of every process named `postgres` (server and backends).
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(cpu_seconds)
        .sum()
}
