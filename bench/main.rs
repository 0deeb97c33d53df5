//! mcp-registry-bench: the load generator of the benchmark suite (BENCHMARKS.md).
//!
//! `mcp-registry-bench run` starts the release service against fresh SQLite and
//! PostgreSQL databases on 127.0.0.1, seeds them, measures reads, writes,
//! syncs, footprint and the pack gateway (beside the fixture called
//! directly), optionally ContextForge side by side, prints a table and writes
//! a JSON file. `mcp-registry-bench fixture` is the MCP server the sync and
//! gateway benchmarks register (Streamable HTTP, JSON responses, any path).
//!
//! Every byte of traffic goes to 127.0.0.1: the servers registered for the
//! read and write benchmarks have `https://…mcp.example.com` URLs and the
//! service runs with `--background-sync false`, so nothing ever contacts them.

// The load generator fails loudly: unwrap, expect and panic are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bare;
mod contextforge;
mod db;
mod fixture;
mod gateway;
mod load;
mod procs;
mod report;
mod scenarios;
mod search;
mod undecoded;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mcp-registry-bench", about = "Benchmark suite of mcp-registry")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the benchmark suite.
    Run(Box<RunArgs>),
    /// Build the text-search data set in bulk SQL and print its query plans and latencies.
    Search(search::SearchArgs),
    /// Serve a bare tonic Health server (nothing but tonic-health) on 127.0.0.1:
    /// the ceiling every cell is a ratio to.
    BareHealth {
        #[arg(long)]
        port: u16,
    },
    /// Serve the MCP fixture (Streamable HTTP, JSON responses) on 127.0.0.1.
    Fixture {
        #[arg(long)]
        port: u16,
        /// Tools returned by tools/list.
        #[arg(long, default_value_t = 20)]
        tools: usize,
    },
}

#[derive(Parser, Clone, Debug, serde::Serialize)]
pub struct RunArgs {
    /// The release `mcp-registry` binary (default: next to this binary).
    #[arg(long)]
    pub service_bin: Option<PathBuf>,
    /// Measured seconds per cell.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Unrecorded warm-up seconds before each cell.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Smoke run: small data set, 1 s cells, fewer sync servers.
    #[arg(long)]
    pub quick: bool,
    /// Sections to run, comma-separated: ceiling, reads, writes, footprint, sync, gateway, everything,
    /// contextforge.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ceiling,reads,writes,footprint,sync,gateway,everything,contextforge"
    )]
    pub sections: Vec<String>,
    /// Backends, comma-separated: sqlite, postgres.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    pub backends: Vec<String>,
    /// PostgreSQL server (trust auth) where the benchmark creates and drops its databases.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub postgres: String,
    /// Servers registered for the read and write benchmarks.
    #[arg(long, default_value_t = 100_000)]
    pub servers: usize,
    /// Organizations (plan ENTERPRISE) they belong to.
    #[arg(long, default_value_t = 100)]
    pub orgs: usize,
    /// Servers of the first ("big") organization, whose listing is deep enough
    /// for the deep-page benchmark; the rest are spread evenly over the others.
    /// 0 spreads all servers evenly.
    #[arg(long, default_value_t = 50_500)]
    pub big_org_servers: usize,
    /// Row after which the deep page starts (walked with page_size 1000).
    #[arg(long, default_value_t = 50_000)]
    pub deep_row: usize,
    /// Page size of the benchmarked ListMcpServers calls.
    #[arg(long, default_value_t = 20)]
    pub page_size: i32,
    /// Packs, spread evenly over the organizations.
    #[arg(long, default_value_t = 10_000)]
    pub packs: usize,
    /// Members per pack.
    #[arg(long, default_value_t = 5)]
    pub pack_members: usize,
    /// Servers per organization that packs draw their members from; each gets
    /// `tools` stored tools, as a successful sync would leave them.
    #[arg(long, default_value_t = 50)]
    pub pack_pool: usize,
    /// Tools per server (the fixture's tools/list, and the pack pool's stored
    /// tools): 5 members × 25 tools is the 125-tool ResolvePack of the targets.
    #[arg(long, default_value_t = 25)]
    pub tools: usize,
    /// Concurrent calls while seeding.
    #[arg(long, default_value_t = 64)]
    pub seed_concurrency: usize,
    /// Concurrency levels of the read benchmarks.
    #[arg(long, value_delimiter = ',', default_value = "1,32,128")]
    pub read_concurrency: Vec<usize>,
    /// Concurrency of the 32 connections × 16 streams cells (ceiling, GetMcpServer, ResolvePack).
    #[arg(long, default_value_t = 512)]
    pub wide_concurrency: usize,
    /// Read cells to run, comma-separated (all by default): get, list-first, list-deep, get-pack,
    /// resolve, resolve-hot, list-small.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "get,list-first,list-deep,get-pack,resolve,resolve-hot,list-small"
    )]
    pub read_ops: Vec<String>,
    /// Write cells to run, comma-separated (all by default): create, update, add-pack-server.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "create,update,add-pack-server"
    )]
    pub write_ops: Vec<String>,
    /// Concurrency levels of the write benchmarks.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    pub write_concurrency: Vec<usize>,
    /// Servers synced per concurrency level in the sync-scale benchmark.
    #[arg(long, default_value_t = 1000)]
    pub sync_servers: usize,
    /// Concurrency levels of the sync-scale benchmark.
    #[arg(long, value_delimiter = ',', default_value = "16,64,256")]
    pub sync_concurrency: Vec<usize>,
    /// server-everything's dist/index.js (skipped when missing).
    #[arg(
        long,
        default_value = ".deps/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    )]
    pub everything: PathBuf,
    /// The loopback preload for server-everything.
    #[arg(long, default_value = "tests/fixtures/loopback.cjs")]
    pub loopback: PathBuf,
    /// Servers pointing at server-everything.
    #[arg(long, default_value_t = 100)]
    pub everything_servers: usize,
    /// Virtualenv with mcp-contextforge-gateway 1.1.0 (skipped when missing).
    #[arg(long, default_value = ".deps/contextforge")]
    pub contextforge_venv: PathBuf,
    /// Gateways registered and refreshed in the ContextForge comparison.
    #[arg(long, default_value_t = 200)]
    pub cf_servers: usize,
    /// ContextForge worker counts to measure (one run each).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub cf_workers: Vec<usize>,
    /// Concurrency of the ContextForge comparison's reads (both sides).
    #[arg(long, default_value_t = 32)]
    pub cf_read_concurrency: usize,
    /// Concurrency of the ContextForge comparison's register and refresh (both sides).
    #[arg(long, default_value_t = 16)]
    pub cf_write_concurrency: usize,
    /// Before the read cells, read every seeded server once with GetMcpServer
    /// and resolve every pack once (64 concurrent calls each), so that the
    /// read cells measure warm read caches and stored resolutions, as a
    /// service has after serving for a while (`--warm-reads false` to
    /// measure from cold).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub warm_reads: bool,
    /// `--read-cache-mib` of the service (its default when not given).
    #[arg(long)]
    pub read_cache_mib: Option<u64>,
    /// Read passes after the main one (which runs with `--read-cache-mib`),
    /// each on a restarted service over the same database: `all` (a cache of
    /// `--all-cached-mib`, every server read once first, so every entry is
    /// cached) and `off` (`--read-cache-mib 0`, the database path).
    #[arg(long, value_delimiter = ',', default_value = "all,off")]
    pub cache_modes: Vec<String>,
    /// `--read-cache-mib` of the `all` pass: enough for every seeded answer.
    #[arg(long, default_value_t = 2048)]
    pub all_cached_mib: u64,
    /// `--store-resolutions` of the service (its default when not given).
    #[arg(long)]
    pub store_resolutions: Option<bool>,
    /// Also record a `perf` profile of the service during GetMcpServer,
    /// ResolvePack and ListMcpServers at 32 concurrent calls (needs `perf`;
    /// `--profile false` to skip).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub profile: bool,
    /// Start-up measurements on the existing SQLite database.
    #[arg(long, default_value_t = 5)]
    pub start_repeats: usize,
    /// Identifies this run's PostgreSQL databases (`mcpr_bench_<id>_…`) so the script can drop leftovers.
    #[arg(long, default_value = "")]
    pub run_id: String,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench-results.json")]
    pub out: PathBuf,
    /// Keep the temporary directory (databases, logs).
    #[arg(long)]
    pub keep_temp: bool,
}

impl RunArgs {
    fn apply_quick(&mut self) {
        if !self.quick {
            return;
        }
        self.duration = self.duration.min(1.0);
        self.warmup = self.warmup.min(0.3);
        self.servers = self.servers.min(3_000);
        self.orgs = self.orgs.min(10);
        self.big_org_servers = self.big_org_servers.min(1_500);
        self.deep_row = self.deep_row.min(1_000);
        self.packs = self.packs.min(100);
        self.sync_servers = self.sync_servers.min(100);
        self.everything_servers = self.everything_servers.min(10);
        self.cf_servers = self.cf_servers.min(20);
        self.cf_workers.truncate(1);
        self.start_repeats = self.start_repeats.min(2);
    }

    pub fn has(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }

    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Fixture { port, tools } => runtime.block_on(fixture::serve(port, tools)),
        Command::Search(args) => runtime.block_on(search::run(args)),
        Command::BareHealth { port } => runtime.block_on(bare::serve(port)),
        Command::Run(args) => {
            let mut args = *args;
            args.apply_quick();
            if args.run_id.is_empty() {
                args.run_id = std::process::id().to_string();
            }
            let _ = rustls::crypto::ring::default_provider().install_default();
            runtime.block_on(scenarios::run(args))
        }
    }
}
