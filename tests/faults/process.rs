//! The real binary as a child process, and a PostgreSQL cluster of the
//! test's own (its own `initdb` directory and port, run as the `postgres`
//! user), never the machine's shared instance.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

pub const BIN: &str = env!("CARGO_BIN_EXE_mcp-registry");

/// A served binary; killed when dropped. Its log lines are kept, for a
/// failing test to show.
pub struct Served {
    pub child: Child,
    pub addr: String,
    pub logs: mpsc::UnboundedReceiver<String>,
}

impl Served {
    /// The log lines written so far.
    pub fn drain_logs(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.logs.try_recv() {
            lines.push(line);
        }
        lines
    }
}

impl Served {
    /// Starts `serve` on a free loopback port with `env`, and waits for it to listen.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(BIN)
            .env_clear()
            .env("MCP_REGISTRY_METRICS_LISTEN", "off")
            .env("MCP_REGISTRY_LOG_FORMAT", "json")
            .env("MCP_REGISTRY_BACKGROUND_SYNC", "false")
            .envs(env.iter().copied())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn server");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, mut logs) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = logs.recv().await {
                seen.push(line.clone());
                if let Ok(event) = serde_json::from_str::<Value>(&line)
                    && event["message"] == "serving gRPC"
                {
                    return event["addr"].as_str().map(str::to_owned);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("server did not start: {seen:?}"));
        Self { child, addr, logs }
    }

    pub fn sigterm(&self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

/// Runs `mcp-registry admin …` and returns the JSON object it prints.
pub async fn admin_cli(env: &[(&str, &str)], args: &[&str]) -> Value {
    let output = Command::new(BIN)
        .env_clear()
        .envs(env.iter().copied())
        .arg("admin")
        .args(args)
        .output()
        .await
        .expect("run admin cli");
    assert!(output.status.success(), "admin {args:?} failed: {output:?}");
    serde_json::from_slice(&output.stdout).expect("json")
}

/// A PostgreSQL cluster of the test's own on 127.0.0.1, stopped when dropped.
pub struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl OwnPostgres {
    /// Makes and starts a cluster, or `None` when this machine cannot
    /// (no PostgreSQL binaries, not root, no `postgres` user).
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .find(|bin| bin.join("initdb").exists())?;
        let dir = tempfile::tempdir().ok()?;
        // The cluster runs as `postgres`, which must reach the directory.
        let opened = std::process::Command::new("chmod")
            .arg("777")
            .arg(dir.path())
            .status()
            .ok()?;
        if !opened.success() {
            return None;
        }
        let data = dir.path().join("data");
        let initdb = as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !initdb.success() {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let cluster = Self { dir, bin, port };
        cluster.up().then_some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&self) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("postgres.log"))
            .args(["-o", &options, "-w", "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the server (fast shutdown: connections are terminated).
    pub fn down(&self) -> bool {
        as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.down();
    }
}

fn as_postgres(program: &Path) -> std::process::Command {
    let mut command = std::process::Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

/// Whether a missing prerequisite must fail the test instead of skipping it.
pub fn required() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))
}
