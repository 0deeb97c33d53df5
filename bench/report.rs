//! Results: collected as the run goes, printed as tables and written as JSON.

use serde::Serialize;
use serde_json::Value;

use crate::load::Measured;

/// One measured cell of a load benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub backend: String,
    pub op: String,
    #[serde(flatten)]
    pub m: Measured,
    /// Throughput divided by the ceiling's at the same concurrency.
    pub ratio_to_ceiling: Option<f64>,
    /// Service CPU seconds used during the measured cell (incl. warm-up).
    pub service_cpu_seconds: Option<f64>,
    /// Service CPU per call, in microseconds.
    pub service_cpu_us_per_op: Option<f64>,
    /// Load generator CPU per call, in microseconds.
    pub client_cpu_us_per_op: Option<f64>,
    /// PostgreSQL server CPU per call, in microseconds (PostgreSQL runs only).
    pub postgres_cpu_us_per_op: Option<f64>,
    /// MCP fixture process CPU per call, in microseconds (gateway cells only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixture_cpu_us_per_op: Option<f64>,
    /// CPU used by other processes during the cell, in % of the machine
    /// (noise: anything above a few % makes the cell suspect).
    pub other_cpu_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub target: String,
    pub measured: String,
    /// `true` met, `false` missed, `null` not measured.
    pub met: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub machine: Value,
    pub config: Value,
    pub ceiling: Vec<Row>,
    pub reads: Vec<Row>,
    pub writes: Vec<Row>,
    pub seeding: Vec<Value>,
    pub sync: Vec<Value>,
    pub footprint: Vec<Value>,
    pub contextforge: Vec<Value>,
    /// The pack gateway's cells (and the fixture called directly).
    pub gateway: Vec<Row>,
    /// The gateway's cells side by side with their baselines.
    pub gateway_compared: Vec<Value>,
    pub targets: Vec<Target>,
    pub evidence: Vec<Value>,
    pub errors: Vec<String>,
}

fn table(title: &str, header: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        return;
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    println!("\n## {title}\n");
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:>w$}", c, w = widths[i]))
            .collect();
        println!("| {} |", parts.join(" | "));
    };
    line(header.iter().map(|s| s.to_string()).collect());
    println!(
        "|{}|",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        line(r.clone());
    }
}

pub fn f(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

fn opt(v: Option<f64>, decimals: usize, suffix: &str) -> String {
    v.map(|v| format!("{v:.decimals$}{suffix}"))
        .unwrap_or_else(|| "-".into())
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => {
            let x = n.as_f64().unwrap_or(0.0);
            if x.fract() == 0.0 && x.abs() < 1e12 {
                format!("{}", x as i64)
            } else if x.abs() >= 100.0 {
                format!("{x:.0}")
            } else if x.abs() >= 1.0 {
                format!("{x:.2}")
            } else {
                format!("{x:.3}")
            }
        }
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

fn load_rows(rows: &[Row], ratio: bool) -> Vec<Vec<String>> {
    load_rows_with(rows, ratio, false)
}

/// Load rows, with the fixture's CPU per call after the service's when `fixture`.
fn load_rows_with(rows: &[Row], ratio: bool, fixture: bool) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            let mut v = vec![
                r.backend.clone(),
                r.op.clone(),
                format!("{}×{}", r.m.connections, r.m.streams_per_connection),
                f(r.m.ops_per_sec, 0),
                f(r.m.p50_ms, 3),
                f(r.m.p99_ms, 3),
                f(r.m.p999_ms, 3),
            ];
            if ratio {
                v.push(opt(r.ratio_to_ceiling.map(|x| x * 100.0), 1, " %"));
            }
            v.push(opt(r.service_cpu_us_per_op, 0, ""));
            if fixture {
                v.push(opt(r.fixture_cpu_us_per_op, 0, ""));
            }
            v.push(opt(r.postgres_cpu_us_per_op, 0, ""));
            v.push(opt(r.client_cpu_us_per_op, 0, ""));
            v.push(opt(r.other_cpu_pct, 0, " %"));
            v.push(r.m.errors.to_string());
            v
        })
        .collect()
}

impl Report {
    pub fn print(&self) {
        let load_header = [
            "backend",
            "call",
            "conns×streams",
            "calls/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
        ];
        let mut h: Vec<&str> = load_header.to_vec();
        h.extend([
            "svc CPU µs/call",
            "PG CPU µs/call",
            "bench CPU µs/call",
            "other procs CPU",
            "errors",
        ]);
        h.insert(load_header.len(), "of bare tonic");
        table(
            "Ceiling: grpc.health.v1.Health/Check, bare tonic and ours",
            &h,
            &load_rows(&self.ceiling, true),
        );
        let mut h: Vec<&str> = load_header.to_vec();
        h.extend([
            "of ceiling",
            "svc CPU µs/call",
            "PG CPU µs/call",
            "bench CPU µs/call",
            "other procs CPU",
            "errors",
        ]);
        table("Reads", &h, &load_rows(&self.reads, true));
        let mut h: Vec<&str> = load_header.to_vec();
        h.extend([
            "svc CPU µs/call",
            "PG CPU µs/call",
            "bench CPU µs/call",
            "other procs CPU",
            "errors",
        ]);
        table("Writes", &h, &load_rows(&self.writes, false));
        let rows: Vec<Vec<String>> = self
            .seeding
            .iter()
            .map(|v| {
                [
                    "backend",
                    "what",
                    "count",
                    "concurrency",
                    "seconds",
                    "per_sec",
                    "errors",
                ]
                .iter()
                .map(|k| s(v, k))
                .collect()
            })
            .collect();
        table(
            "Seeding",
            &[
                "backend",
                "what",
                "count",
                "concurrency",
                "seconds",
                "per s",
                "errors",
            ],
            &rows,
        );
        let keys = [
            "backend",
            "upstream",
            "round",
            "servers",
            "concurrency",
            "wall_s",
            "syncs_per_s",
            "p50_ms",
            "p99_ms",
            "cpu_ms_per_sync",
            "peak_rss_mib",
            "succeeded",
            "failed",
            "db_size_mib",
            "other_cpu_pct",
        ];
        let rows: Vec<Vec<String>> = self
            .sync
            .iter()
            .map(|v| keys.iter().map(|k| s(v, k)).collect())
            .collect();
        table(
            "Sync scale (SyncMcpServer for every server)",
            &[
                "backend",
                "upstream",
                "round",
                "servers",
                "conc",
                "wall s",
                "syncs/s",
                "p50 ms",
                "p99 ms",
                "CPU ms/sync",
                "peak RSS MiB",
                "ok",
                "failed",
                "DB MiB",
                "other procs CPU %",
            ],
            &rows,
        );
        let rows: Vec<Vec<String>> = self
            .footprint
            .iter()
            .map(|v| {
                ["backend", "what", "value", "unit"]
                    .iter()
                    .map(|k| s(v, k))
                    .collect()
            })
            .collect();
        table("Footprint", &["backend", "what", "value", "unit"], &rows);
        let keys = [
            "workers",
            "op",
            "n_or_conc",
            "ours_per_s",
            "theirs_per_s",
            "ratio",
            "ours_p99_ms",
            "theirs_p99_ms",
            "theirs_errors",
        ];
        let rows: Vec<Vec<String>> = self
            .contextforge
            .iter()
            .filter(|v| v.get("op").is_some())
            .map(|v| keys.iter().map(|k| s(v, k)).collect())
            .collect();
        table(
            "Side by side with IBM ContextForge 1.1.0 (SQLite, same upstream fixture)",
            &[
                "CF workers",
                "operation",
                "N / conc",
                "ours /s",
                "ContextForge /s",
                "ours/theirs",
                "ours p99 ms",
                "CF p99 ms",
                "CF errors",
            ],
            &rows,
        );
        let mut h: Vec<&str> = load_header.to_vec();
        h.extend([
            "of ceiling",
            "svc CPU µs/call",
            "fixture CPU µs/call",
            "PG CPU µs/call",
            "bench CPU µs/call",
            "other procs CPU",
            "errors",
        ]);
        table(
            "Pack gateway (HTTP/1.1 keep-alive, one connection per worker; same echo tool and pack)",
            &h,
            &load_rows_with(&self.gateway, true, true),
        );
        let keys = [
            "backend",
            "comparison",
            "concurrency",
            "ratio",
            "added_p50_ms",
            "added_p99_ms",
        ];
        let rows: Vec<Vec<String>> = self
            .gateway_compared
            .iter()
            .map(|v| keys.iter().map(|k| s(v, k)).collect())
            .collect();
        table(
            "Pack gateway side by side",
            &[
                "backend",
                "comparison",
                "concurrency",
                "throughput ratio",
                "added p50 ms",
                "added p99 ms",
            ],
            &rows,
        );
        let rows: Vec<Vec<String>> = self
            .targets
            .iter()
            .map(|t| {
                vec![
                    t.target.clone(),
                    t.measured.clone(),
                    match t.met {
                        Some(true) => "met".into(),
                        Some(false) => "MISSED".into(),
                        None => "not measured".into(),
                    },
                ]
            })
            .collect();
        table("Targets", &["target", "measured", "result"], &rows);
        if !self.errors.is_empty() {
            println!("\n## Errors\n");
            for e in &self.errors {
                println!("- {e}");
            }
        }
    }
}
