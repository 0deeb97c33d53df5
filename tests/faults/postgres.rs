//! A PostgreSQL cluster of the test's own (its own `initdb` directory and
//! port, run as the `postgres` user), never the machine's shared instance.

use std::path::{Path, PathBuf};
use std::process::Stdio;

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
        let port = crate::mcp::free_port();
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
