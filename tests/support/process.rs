//! The real `mcp-registry` binary as a child process, for the suites that
//! need a process of their own (signals, SIGKILL, the admin CLI): a command
//! with a clean environment, the admin CLI, and [`Served`], a `serve` on an
//! ephemeral loopback port whose log lines are kept.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

pub const BIN: &str = env!("CARGO_BIN_EXE_mcp-registry");

/// Returns a command for the binary with a clean environment: JSON logs, no
/// metrics listener, no pack gateway (its default port, 8080, may be taken or
/// used by a parallel test), no background sync (servers with example.com
/// URLs are never synced), then `env` on top. The child is killed when dropped.
pub fn command(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("MCP_REGISTRY_METRICS_LISTEN", "off")
        .env("MCP_REGISTRY_MCP_LISTEN", "off")
        .env("MCP_REGISTRY_LOG_FORMAT", "json")
        .env("MCP_REGISTRY_BACKGROUND_SYNC", "false")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    command
}

/// Runs `mcp-registry admin …` with `env` and returns the one JSON object it prints.
pub async fn admin_cli(env: &[(&str, &str)], args: &[&str]) -> Value {
    let output = command(env)
        .arg("admin")
        .args(args)
        .output()
        .await
        .expect("run admin cli");
    assert!(output.status.success(), "admin {args:?} failed: {output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object: {stdout}"
    );
    serde_json::from_str(stdout.trim()).expect("json")
}

/// Sends SIGTERM to a running child.
pub fn sigterm(child: &Child) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Returns the lines logged at level ERROR.
pub fn error_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains("\"level\":\"ERROR\""))
        .cloned()
        .collect()
}

/// A served binary; killed when dropped. Every log line is kept.
pub struct Served {
    pub child: Child,
    /// The address it serves gRPC on (`127.0.0.1:<port>`).
    pub addr: String,
    lines: Arc<Mutex<Vec<String>>>,
    /// Reads stderr until the process closes it.
    reader: JoinHandle<()>,
}

impl Served {
    /// Starts `serve` on a free loopback port with `env` (see [`command`])
    /// and waits (30 s at most) until it listens.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let mut child = command(env)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn server");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut fresh) = mpsc::unbounded_channel();
        let kept = lines.clone();
        let reader = tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if let Ok(mut kept) = kept.lock() {
                    kept.push(line.clone());
                }
                let _ = tx.send(line);
            }
        });
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = fresh.recv().await {
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
        .flatten();
        let Some(addr) = addr else {
            panic!(
                "server did not start: {:#?}",
                lines.lock().map(|l| l.clone())
            );
        };
        Self {
            child,
            addr,
            lines,
            reader,
        }
    }

    /// Returns a channel to the served address.
    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect")
    }

    /// Returns every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Returns the lines logged at level ERROR so far.
    pub fn errors(&self) -> Vec<String> {
        error_lines(&self.logs())
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        sigterm(&self.child);
    }

    /// SIGKILL: no shutdown sequence, no flush, nothing.
    pub async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("killed");
    }

    /// Waits (30 s at most) for the process to exit; returns its exit code
    /// and every log line, the last ones included.
    pub async fn wait(mut self) -> (Option<i32>, Vec<String>) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("exited in time")
            .expect("wait");
        // The reader ends at the end of stderr, right after the exit.
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.reader).await;
        (status.code(), self.logs())
    }

    /// Sends SIGTERM and waits, as [`Served::wait`].
    pub async fn stop(self) -> (Option<i32>, Vec<String>) {
        self.sigterm();
        self.wait().await
    }
}
