//! Settings from command-line flags and their `MCP_REGISTRY_*` environment
//! equivalents, validated once at start-up into [`Settings`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::crypto::Keyring;
use crate::registry::GatewayUrl;
use crate::registry::retention::retention_days;

/// Command line of the `mcp-registry` binary.
#[derive(Debug, Parser)]
#[command(
    name = "mcp-registry",
    version,
    about = "gRPC registry of remote MCP servers, packs and their synced capabilities"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Applies migrations and serves gRPC until SIGTERM or SIGINT (the default).
    Serve,
    /// Applies pending database migrations and exits.
    Migrate,
    /// Bootstraps organizations and API keys; prints one JSON object.
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// `mcp-registry admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Creates an organization.
    CreateOrg {
        /// Organization name (1-200 characters, unique).
        #[arg(long)]
        name: String,
        /// Subscription plan.
        #[arg(long, value_enum)]
        plan: PlanArg,
    },
    /// Creates an API key and prints its secret (shown only this once).
    CreateKey {
        /// Organization the key belongs to.
        #[arg(
            long,
            required_unless_present = "platform_admin",
            conflicts_with = "platform_admin"
        )]
        org: Option<String>,
        /// Role of the key inside its organization.
        #[arg(
            long,
            value_enum,
            required_unless_present = "platform_admin",
            conflicts_with = "platform_admin"
        )]
        role: Option<RoleArg>,
        /// Creates a platform-admin key (AdminService, catalog servers) instead.
        #[arg(long)]
        platform_admin: bool,
        /// Limits the key to this pack of its organization (repeatable, at most
        /// 100): it then only reads those packs and calls them through the gateway.
        #[arg(
            long = "pack",
            value_name = "PACK_ID",
            conflicts_with = "platform_admin"
        )]
        packs: Vec<String>,
        /// Creates a service key: an internal service that relays its own
        /// users names the end user of each call in `x-mcp-registry-subject`.
        #[arg(long, conflicts_with = "platform_admin")]
        acts_for_users: bool,
        /// Optional label for humans.
        #[arg(long, default_value = "")]
        display_name: String,
    },
}

/// Plans as written on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlanArg {
    Free,
    Pro,
    Enterprise,
}

/// Roles as written on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Member,
    Viewer,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Flags shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Address of the gRPC listener.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_LISTEN",
        default_value = "127.0.0.1:50051"
    )]
    pub listen: String,
    /// Database URL (`postgres://…` or `sqlite://…`). Default: a SQLite file in the data directory.
    #[arg(long, global = true, env = "MCP_REGISTRY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory of the embedded SQLite database and the generated dev master key.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_DATA_DIR",
        default_value = "data"
    )]
    pub data_dir: PathBuf,
    /// Address of the Prometheus metrics listener (`/metrics`); `off` disables it.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_METRICS_LISTEN",
        default_value = "127.0.0.1:9464"
    )]
    pub metrics_listen: String,
    /// Address of the pack gateway (every pack as an MCP endpoint at
    /// `/mcp/packs/<pack id>`); `off` disables it.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_MCP_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub mcp_listen: String,
    /// Base URL under which MCP clients reach the pack gateway, as ExportPack
    /// writes it (for example `https://mcp.example.com`). Default: `http://<--mcp-listen address>`.
    #[arg(long, global = true, env = "MCP_REGISTRY_GATEWAY_PUBLIC_URL")]
    pub gateway_public_url: Option<String>,
    /// Master keys for credential encryption, `<id>:<base64 32 bytes>`, comma-separated; the first encrypts, all decrypt.
    #[arg(
        long = "master-key",
        global = true,
        env = "MCP_REGISTRY_MASTER_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub master_keys: Vec<String>,
    /// File with master keys, one `<id>:<base64>` per line; the first encrypts, all decrypt.
    #[arg(long, global = true, env = "MCP_REGISTRY_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Log format.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Log level or `tracing` filter directives (for example `info,mcp_registry=debug`).
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_LOG_LEVEL",
        default_value = "info"
    )]
    pub log_level: String,
    /// Accept plain `http://` upstream URLs (development and tests only).
    #[arg(long, global = true, env = "MCP_REGISTRY_ALLOW_INSECURE_UPSTREAMS", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub allow_insecure_upstreams: bool,
    /// Let syncs reach loopback, private, link-local and CGNAT addresses (never cloud metadata).
    #[arg(long, global = true, env = "MCP_REGISTRY_ALLOW_PRIVATE_UPSTREAMS", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub allow_private_upstreams: bool,
    /// Also serve gRPC-Web (HTTP/1.1 and HTTP/2, CORS open to any origin) for browser clients.
    #[arg(long, global = true, env = "MCP_REGISTRY_GRPC_WEB", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub grpc_web: bool,
    /// Calls per second each API key may make (a burst of as many is allowed); 0 means no limit.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_RATE_LIMIT",
        default_value = "0"
    )]
    pub rate_limit: u32,
    /// Largest request message accepted, in bytes.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_MAX_MESSAGE_BYTES",
        default_value = "4194304"
    )]
    pub max_message_bytes: usize,
    /// Most concurrent HTTP/2 streams (calls) one client connection may open.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_MAX_CONCURRENT_STREAMS",
        default_value = "256"
    )]
    pub max_concurrent_streams: u32,
    /// Most WatchSyncEvents streams one organization may hold open on this replica.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_MAX_WATCHERS_PER_ORG",
        default_value = "64"
    )]
    pub max_watchers_per_org: usize,
    /// Memory for the read caches (keys, servers by id, pack resolutions), in MiB; 0 turns them off.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_READ_CACHE_MIB",
        default_value = "128"
    )]
    pub read_cache_mib: u64,
    /// Keep ResolvePack answers encoded in the database too (computed once per change, read by every replica).
    #[arg(long, global = true, env = "MCP_REGISTRY_STORE_RESOLUTIONS", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_value = "true", default_missing_value = "true")]
    pub store_resolutions: bool,
    /// Sync servers in the background after they are created or their connection changes.
    #[arg(long, global = true, env = "MCP_REGISTRY_BACKGROUND_SYNC", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_value = "true", default_missing_value = "true")]
    pub background_sync: bool,
    /// Private-network addresses syncs may reach while private upstreams are otherwise refused (repeatable or comma-separated; never cloud metadata).
    #[arg(
        long = "allow-upstream-address",
        global = true,
        env = "MCP_REGISTRY_ALLOW_UPSTREAM_ADDRESSES",
        value_delimiter = ','
    )]
    pub allowed_upstream_addresses: Vec<String>,
    /// Seconds between two syncs of a healthy server (±10 % jitter).
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_SYNC_INTERVAL",
        default_value = "300"
    )]
    pub sync_interval: u64,
    /// Longest wait, in seconds, between retries of a failing server.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_SYNC_MAX_BACKOFF",
        default_value = "3600"
    )]
    pub sync_max_backoff: u64,
    /// Most syncs at once in this process.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_SYNC_CONCURRENCY",
        default_value = "16"
    )]
    pub sync_concurrency: usize,
    /// Most servers announcing changes that this process watches with a
    /// long-lived stream, so their changes sync at once (0: none). Needs
    /// `--background-sync`.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_UPSTREAM_WATCHES",
        default_value = "64"
    )]
    pub upstream_watches: usize,
    /// Seconds one sync may take, connection to last list page.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_SYNC_TIMEOUT",
        default_value = "30"
    )]
    pub sync_timeout: u64,
    /// Seconds to wait for in-flight calls after SIGTERM before exiting anyway.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_SHUTDOWN_TIMEOUT",
        default_value = "30"
    )]
    pub shutdown_timeout: u64,
    /// Seconds one `tools/call` through the pack gateway may take, upstream
    /// connection included.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_GATEWAY_CALL_TIMEOUT",
        default_value = "60",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub gateway_call_timeout: u64,
    /// Days audit events are kept; older ones are deleted by a background
    /// task (0: kept forever).
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_AUDIT_RETENTION",
        default_value = "365"
    )]
    pub audit_retention: u64,
    /// Days gateway call records are kept; older ones are deleted by a
    /// background task (0: kept forever).
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_CALL_LOG_RETENTION",
        default_value = "30"
    )]
    pub call_log_retention: u64,
    /// Redirect URIs StartOAuthAuthorization accepts (comma-separated,
    /// compared exactly): where your service receives the authorization
    /// server's `code` and `state`. None: OAuth connections cannot be made.
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_OAUTH_REDIRECT_URIS",
        value_delimiter = ','
    )]
    pub oauth_redirect_uris: Vec<String>,
    /// Seconds a started OAuth authorization may be completed (tests shorten it).
    #[arg(
        long,
        global = true,
        env = "MCP_REGISTRY_OAUTH_STATE_TTL",
        default_value = "600",
        hide = true,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub oauth_state_ttl: u64,
}

const NO_MASTER_KEY: &str = "no master key configured: set MCP_REGISTRY_MASTER_KEYS or --master-key-file (a generated key is only used with the embedded SQLite default)";

/// A configuration problem, reported as one line before exiting non-zero.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Where the master keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// Given directly (flag or environment).
    Inline(Vec<String>),
    /// Read from a file.
    File(PathBuf),
    /// The embedded default's development key, made on first start.
    Generated(PathBuf),
    /// None configured; fine for commands that never touch credentials
    /// (`migrate`, `admin`), refused by `serve`.
    Missing,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    /// Whether the database is the embedded default (SQLite in the data directory).
    pub embedded_database: bool,
    pub data_dir: PathBuf,
    pub metrics_listen: Option<SocketAddr>,
    /// The pack gateway's listener (`--mcp-listen`); `None` when off.
    pub mcp_listen: Option<SocketAddr>,
    /// `--gateway-public-url`: where clients reach the gateway; `None` means
    /// `http://` and the gateway's bound address.
    pub gateway_public_url: Option<GatewayUrl>,
    pub master_keys: MasterKeySource,
    pub log_format: LogFormat,
    pub log_level: String,
    pub shutdown_timeout: Duration,
    /// `--gateway-call-timeout`.
    pub gateway_call_timeout: Duration,
    /// Whether plain `http` upstream URLs are accepted.
    pub allow_insecure_upstreams: bool,
    /// Whether syncs may connect to private-network addresses.
    pub allow_private_upstreams: bool,
    /// Serve gRPC-Web too (`--grpc-web`).
    pub grpc_web: bool,
    /// Calls per second per API key; `None` means no limit.
    pub rate_limit: Option<std::num::NonZeroU32>,
    /// Largest request message, in bytes.
    pub max_message_bytes: usize,
    /// Most concurrent streams per connection.
    pub max_concurrent_streams: u32,
    /// Most open WatchSyncEvents streams per organization.
    pub max_watchers_per_org: usize,
    /// Memory of the read caches, shared out by `CacheSizes`.
    pub read_cache: crate::registry::cache::CacheSizes,
    /// Keep ResolvePack answers in the database (`--store-resolutions`).
    pub store_resolutions: bool,
    /// Deadline of one sync.
    pub sync_timeout: Duration,
    /// Whether changes start background syncs and the scheduler runs.
    pub background_sync: bool,
    pub sync_interval: Duration,
    pub sync_max_backoff: Duration,
    pub sync_concurrency: usize,
    /// Most servers watched at once (0: none).
    pub upstream_watches: usize,
    /// Private-network addresses syncs may reach anyway.
    pub allowed_upstream_addresses: Vec<std::net::IpAddr>,
    /// `--audit-retention`, `--call-log-retention` and how pruning runs.
    pub retention: crate::registry::retention::Retention,
    /// `--oauth-redirect-uris` and how long an authorization may take.
    pub oauth: crate::registry::oauth::OAuthSettings,
}

impl Settings {
    /// Validates the flags. `serving` says whether the command will serve and
    /// therefore needs master keys when the database is not the embedded default.
    pub fn from_args(args: SettingsArgs, serving: bool) -> Result<Self, ConfigError> {
        let listen = parse_addr("--listen", &args.listen)?;
        let metrics_listen = match args.metrics_listen.as_str() {
            "off" | "" => None,
            addr => Some(parse_addr("--metrics-listen", addr)?),
        };
        let mcp_listen = match args.mcp_listen.as_str() {
            "off" | "" => None,
            addr => Some(parse_addr("--mcp-listen", addr)?),
        };
        let gateway_public_url = match args.gateway_public_url.as_deref() {
            None | Some("") => None,
            Some(url) => Some(
                GatewayUrl::parse(url)
                    .map_err(|err| ConfigError(format!("--gateway-public-url {url:?} {err}")))?,
            ),
        };
        let (database_url, embedded_database) = match args.database_url {
            Some(url) if !url.is_empty() => {
                if !(url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || url.starts_with("sqlite:"))
                {
                    return Err(ConfigError(
                        "--database-url must start with postgres://, postgresql:// or sqlite:"
                            .into(),
                    ));
                }
                (url, false)
            }
            _ => (embedded_url(&args.data_dir)?, true),
        };
        let master_keys = match (args.master_keys.is_empty(), args.master_key_file) {
            (false, Some(_)) => {
                return Err(ConfigError(
                    "give master keys either inline (--master-key) or as a file (--master-key-file), not both".into(),
                ));
            }
            (false, None) => MasterKeySource::Inline(args.master_keys),
            (true, Some(path)) => MasterKeySource::File(path),
            (true, None) if embedded_database => {
                MasterKeySource::Generated(args.data_dir.join("master.key"))
            }
            (true, None) if serving => return Err(ConfigError(NO_MASTER_KEY.into())),
            (true, None) => MasterKeySource::Missing,
        };
        tracing_subscriber::EnvFilter::try_new(&args.log_level)
            .map_err(|err| ConfigError(format!("--log-level {:?}: {err}", args.log_level)))?;
        Ok(Self {
            listen,
            database_url,
            embedded_database,
            data_dir: args.data_dir,
            metrics_listen,
            mcp_listen,
            gateway_public_url,
            master_keys,
            log_format: args.log_format,
            log_level: args.log_level,
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
            gateway_call_timeout: Duration::from_secs(args.gateway_call_timeout),
            allow_insecure_upstreams: args.allow_insecure_upstreams,
            allow_private_upstreams: args.allow_private_upstreams,
            grpc_web: args.grpc_web,
            rate_limit: std::num::NonZeroU32::new(args.rate_limit),
            max_message_bytes: args.max_message_bytes.max(1024),
            max_concurrent_streams: args.max_concurrent_streams.max(1),
            max_watchers_per_org: args.max_watchers_per_org.max(1),
            read_cache: crate::registry::cache::CacheSizes::from_mib(args.read_cache_mib),
            store_resolutions: args.store_resolutions,
            sync_timeout: Duration::from_secs(args.sync_timeout.max(1)),
            background_sync: args.background_sync,
            sync_interval: Duration::from_secs(args.sync_interval.max(1)),
            sync_max_backoff: Duration::from_secs(args.sync_max_backoff.max(1)),
            sync_concurrency: args.sync_concurrency.max(1),
            upstream_watches: args.upstream_watches,
            allowed_upstream_addresses: args
                .allowed_upstream_addresses
                .iter()
                .map(|text| {
                    text.trim().parse().map_err(|_| {
                        ConfigError(format!(
                            "--allow-upstream-address {text:?} is not an IP address"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            retention: crate::registry::retention::Retention {
                audit: retention_days(args.audit_retention),
                calls: retention_days(args.call_log_retention),
                ..crate::registry::retention::Retention::default()
            },
            oauth: crate::registry::oauth::OAuthSettings {
                redirect_uris: redirect_uris(&args.oauth_redirect_uris)?,
                state_ttl: Duration::from_secs(args.oauth_state_ttl),
            },
        })
    }

    /// Loads the master keys, generating the development key file when the
    /// embedded default has none yet.
    pub fn load_keyring(&self) -> Result<Keyring, ConfigError> {
        let keyring = match &self.master_keys {
            MasterKeySource::Inline(entries) => Keyring::parse(entries.iter().map(String::as_str)),
            MasterKeySource::File(path) => Keyring::parse(read_key_file(path)?.lines()),
            MasterKeySource::Generated(path) => {
                if !path.exists() {
                    generate_key_file(path)?;
                    tracing::warn!(
                        path = %path.display(),
                        "generated a development master key; configure MCP_REGISTRY_MASTER_KEYS or --master-key-file in production and keep a backup: credentials cannot be decrypted without it"
                    );
                }
                Keyring::parse(read_key_file(path)?.lines())
            }
            MasterKeySource::Missing => return Err(ConfigError(NO_MASTER_KEY.into())),
        };
        keyring.map_err(|err| ConfigError(format!("master keys: {err}")))
    }
}

/// Reads `--oauth-redirect-uris`: each an http(s) URL without fragment;
/// blanks are skipped, repeats kept once.
fn redirect_uris(given: &[String]) -> Result<Vec<String>, ConfigError> {
    let mut uris: Vec<String> = Vec::new();
    for uri in given.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        crate::registry::oauth::check_redirect_uri(uri)
            .map_err(|err| ConfigError(format!("--oauth-redirect-uris: {err}")))?;
        if !uris.iter().any(|u| u == uri) {
            uris.push(uri.to_owned());
        }
    }
    Ok(uris)
}

fn parse_addr(flag: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        ConfigError(format!(
            "{flag} {value:?} is not a socket address such as 127.0.0.1:50051"
        ))
    })
}

fn embedded_url(data_dir: &Path) -> Result<String, ConfigError> {
    let path = data_dir.join("mcp-registry.db");
    let path = path
        .to_str()
        .ok_or_else(|| ConfigError("--data-dir must be valid UTF-8".into()))?;
    Ok(format!("sqlite://{path}?mode=rwc"))
}

fn read_key_file(path: &Path) -> Result<String, ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "master key file is readable by other users; chmod 600 it");
        }
    }
    std::fs::read_to_string(path).map_err(|err| {
        ConfigError(format!(
            "cannot read master key file {}: {err}",
            path.display()
        ))
    })
}

fn generate_key_file(path: &Path) -> Result<(), ConfigError> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|err| {
            ConfigError(format!(
                "cannot create data directory {}: {err}",
                dir.display()
            ))
        })?;
    }
    let entry = Keyring::generate_entry(&format!("dev-{}", chrono::Utc::now().format("%Y%m%d")))
        .map_err(|err| ConfigError(format!("cannot generate a master key: {err}")))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|err| {
        ConfigError(format!(
            "cannot create master key file {}: {err}",
            path.display()
        ))
    })?;
    file.write_all(format!("{entry}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|err| {
            ConfigError(format!(
                "cannot write master key file {}: {err}",
                path.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> SettingsArgs {
        let mut argv = vec!["mcp-registry"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).expect("parse").settings
    }

    #[test]
    fn defaults_are_the_embedded_sqlite_on_localhost() {
        let settings = Settings::from_args(args(&[]), true).expect("valid");
        assert_eq!(settings.listen.to_string(), "127.0.0.1:50051");
        assert!(settings.embedded_database);
        assert_eq!(
            settings.database_url,
            "sqlite://data/mcp-registry.db?mode=rwc"
        );
        assert_eq!(
            settings.master_keys,
            MasterKeySource::Generated(PathBuf::from("data/master.key"))
        );
        assert!(settings.background_sync && !settings.allow_private_upstreams);
        assert_eq!(settings.sync_timeout, Duration::from_secs(30));
    }

    #[test]
    fn insecure_upstreams_are_off_unless_asked_for() {
        assert!(
            !Settings::from_args(args(&[]), true)
                .expect("valid")
                .allow_insecure_upstreams
        );
        let on = Settings::from_args(args(&["--allow-insecure-upstreams"]), true).expect("valid");
        assert!(on.allow_insecure_upstreams);
        let off =
            Settings::from_args(args(&["--allow-insecure-upstreams=false"]), true).expect("valid");
        assert!(!off.allow_insecure_upstreams);
    }

    #[test]
    fn only_serving_needs_a_master_key_outside_the_embedded_default() {
        let pg = ["--database-url", "postgres://db/registry"];
        let err = Settings::from_args(args(&pg), true).expect_err("serve needs keys");
        assert!(err.to_string().contains("no master key"));
        let admin = Settings::from_args(args(&pg), false).expect("admin needs none");
        assert_eq!(admin.master_keys, MasterKeySource::Missing);
        assert!(admin.load_keyring().is_err());
    }

    #[test]
    fn the_pack_gateway_listens_on_8080_unless_turned_off() {
        let on = Settings::from_args(args(&[]), true).expect("defaults");
        assert_eq!(on.mcp_listen, Some("127.0.0.1:8080".parse().expect("addr")));
        assert_eq!(on.gateway_public_url, None);
        let elsewhere =
            Settings::from_args(args(&["--mcp-listen", "0.0.0.0:9000"]), true).expect("valid");
        assert_eq!(
            elsewhere.mcp_listen,
            Some("0.0.0.0:9000".parse().expect("addr"))
        );
        for off in ["off", ""] {
            let off = Settings::from_args(args(&["--mcp-listen", off]), true).expect("off");
            assert_eq!(off.mcp_listen, None);
        }
    }

    #[test]
    fn the_gateway_public_url_is_an_http_base_url() {
        let set = Settings::from_args(
            args(&["--gateway-public-url", "https://mcp.example.com/registry/"]),
            true,
        )
        .expect("valid");
        assert_eq!(
            set.gateway_public_url.map(GatewayUrl::into_inner),
            Some("https://mcp.example.com/registry".to_owned())
        );
        for bad in [
            "mcp.example.com",
            "ftp://mcp.example.com",
            "https://mcp.example.com/?key=1",
            "https://mcp.example.com/#top",
        ] {
            let err = Settings::from_args(args(&["--gateway-public-url", bad]), true)
                .expect_err("invalid");
            assert!(err.to_string().contains("--gateway-public-url"), "{err}");
        }
    }

    #[test]
    fn invalid_settings_are_one_line_errors() {
        for bad in [
            &["--listen", "nowhere"][..],
            &["--metrics-listen", "x:y"],
            &["--mcp-listen", "x:y"],
            &["--gateway-public-url", "https://x.example.com/?q"],
            &["--database-url", "mysql://x"],
            &["--database-url", "postgres://x/y"],
            &["--log-level", "info,[=bad"],
            &["--master-key", "k:AAAA", "--master-key-file", "f"],
        ] {
            let err = Settings::from_args(args(bad), true).expect_err("invalid");
            assert!(!err.to_string().contains('\n'), "{err}");
        }
    }

    #[test]
    fn generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("nested");
        let settings =
            Settings::from_args(args(&["--data-dir", data.to_str().expect("utf8")]), true)
                .expect("valid");
        let first = settings.load_keyring().expect("generated");
        let path = data.join("master.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = settings.load_keyring().expect("reused");
        let sealed = first.seal(b"x", b"ad").expect("seal");
        assert_eq!(second.open(&sealed, b"ad").expect("same key"), b"x");
    }
}
