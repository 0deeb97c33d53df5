//! `mcp-registry-bench search`: the text-search data set and its figures
//! (BENCHMARKS.md, "Text search"). Builds 100 organizations, 100,000 servers
//! (1 % in the catalog), 2,000,000 tools and 1,000 packs in bulk SQL (one
//! `INSERT … SELECT` per table over a generated series; the migration's
//! triggers or generated columns index them as they land), then prints the
//! query plan of each search and the p50/p99 of a few representative ones,
//! called through `Store` as the service calls it. The data set is dropped
//! at the end; nothing is committed.

use std::time::Instant;

use mcp_registry::pagination::PageRequest;
use mcp_registry::registry::packs::PackFilter;
use mcp_registry::registry::search::{TextQuery, ToolSearch};
use mcp_registry::store::{ServerQuery, Store};
use sea_orm::DbBackend;

use crate::db::Db;

#[derive(clap::Parser, Clone, Debug)]
pub struct SearchArgs {
    /// Backends, comma-separated: sqlite, postgres.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    pub backends: Vec<String>,
    /// PostgreSQL server (trust auth) where the benchmark creates and drops its database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub postgres: String,
    /// Servers (the last 1 % in the catalog, the rest spread over 100 organizations).
    #[arg(long, default_value_t = 100_000)]
    pub servers: usize,
    /// Tools per server.
    #[arg(long, default_value_t = 20)]
    pub tools: usize,
    /// Timed calls per query (after 3 untimed ones).
    #[arg(long, default_value_t = 30)]
    pub samples: usize,
    /// Keep the data set (print where it is) instead of dropping it.
    #[arg(long)]
    pub keep: bool,
}

const ORGS: usize = 100;
const PRODUCTS: &[&str] = &[
    "jira",
    "github",
    "gitlab",
    "slack",
    "notion",
    "linear",
    "confluence",
    "salesforce",
    "hubspot",
    "zendesk",
    "stripe",
    "shopify",
    "figma",
    "asana",
    "trello",
    "dropbox",
    "box",
    "gmail",
    "outlook",
    "calendar",
    "drive",
    "sheets",
    "postgres",
    "mysql",
    "redis",
    "kafka",
    "datadog",
    "sentry",
    "pagerduty",
    "grafana",
    "aws",
    "azure",
    "gcp",
    "vercel",
    "netlify",
    "docker",
    "kubernetes",
    "terraform",
    "twilio",
    "discord",
];
const VERBS: &[&str] = &[
    "create",
    "get",
    "list",
    "update",
    "delete",
    "search",
    "send",
    "read",
    "write",
    "sync",
    "fetch",
    "run",
    "query",
    "export",
    "import",
    "approve",
    "deploy",
    "notify",
    "archive",
    "summarize",
];
const NOUNS: &[&str] = &[
    "issue",
    "ticket",
    "page",
    "file",
    "user",
    "repo",
    "branch",
    "commit",
    "comment",
    "message",
    "channel",
    "project",
    "task",
    "event",
    "invoice",
    "customer",
    "order",
    "payment",
    "document",
    "folder",
    "record",
    "table",
    "row",
    "metric",
    "alert",
    "incident",
    "dashboard",
    "log",
    "trace",
    "span",
    "build",
    "release",
    "deployment",
    "cluster",
    "pod",
    "secret",
    "key",
    "token",
    "report",
    "note",
    "label",
    "milestone",
    "sprint",
    "board",
    "card",
    "thread",
    "email",
    "contact",
    "team",
    "workspace",
];
const CATEGORIES: &[&str] = &[
    "dev", "ops", "data", "sales", "support", "finance", "design", "chat",
];

pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    let tmp = std::env::temp_dir().join(format!("mcpr-bench-search-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let mut outcome = Ok(());
    for backend in &args.backends {
        let run_id = std::process::id().to_string();
        let db = Db::create(backend, &tmp, &args.postgres, &run_id, "search").await?;
        outcome = measure(&db, &args).await;
        if args.keep {
            println!("kept: {}", db.url());
        } else {
            db.drop_database().await;
        }
        if outcome.is_err() {
            break;
        }
    }
    if !args.keep {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    outcome
}

async fn measure(db: &Db, args: &SearchArgs) -> anyhow::Result<()> {
    let store = Store::connect(&db.url()).await?;
    store.migrate().await?;
    let backend = store.backend();
    println!(
        "\n## {} ({} servers, {} tools)",
        db.backend(),
        args.servers,
        args.servers * args.tools
    );
    let t0 = Instant::now();
    for sql in load_sql(backend, args) {
        store
            .execute_unprepared(&sql)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}\n{sql}"))?;
    }
    println!(
        "load: {:.1} s (bulk SQL, indexes written by the migration's triggers/columns)",
        t0.elapsed().as_secs_f64()
    );
    println!("size: {:.0} MiB", db.size_bytes().await? as f64 / 1048576.0);

    // Organization 7 sees its 990 servers and the 1,000 catalog servers.
    let org = format!("org_{:032x}", 7);
    let scopes = vec![org.clone(), "catalog".to_owned()];
    let first_hits = PageRequest {
        limit: 20,
        after: None,
    };
    let first = PageRequest::<String> {
        limit: 20,
        after: None,
    };

    println!("\n### plans");
    for (label, sql) in plans(backend, &org) {
        let explain = match backend {
            DbBackend::Postgres => format!("EXPLAIN {sql}"),
            _ => format!("EXPLAIN QUERY PLAN {sql}"),
        };
        println!("\n{label}:\n```");
        for line in db.query_text(&explain).await? {
            println!("{line}");
        }
        println!("```");
    }

    println!(
        "\n### latency (first page of 20 with total_size, {} calls)",
        args.samples
    );
    println!("| call | hits | p50 ms | p99 ms |\n|---|---|---|---|");
    for text in [
        "kubernetes",
        "create",
        "deplo*",
        "\"create issue\"",
        "jira ticket",
    ] {
        let search = ToolSearch {
            query: TextQuery::parse(text).map_err(anyhow::Error::msg)?,
            server_id: None,
            category: None,
            approval: Vec::new(),
            pack_id: None,
            include_packs: false,
        };
        let (hits, p50, p99) = timed(args.samples, || {
            store.search_tools(&scopes, &search, &first_hits)
        })
        .await?;
        println!("| SearchTools `{text}` | {hits} | {p50:.1} | {p99:.1} |");
    }
    let servers = |text: Option<&str>, tool: Option<&str>| ServerQuery {
        scopes: scopes.clone(),
        text: text.map(|t| TextQuery::parse(t).expect("query")),
        tool_name: tool.map(str::to_owned),
        ..ServerQuery::default()
    };
    for (label, query) in [
        ("ListMcpServers query `jira`", servers(Some("jira"), None)),
        ("ListMcpServers query `kube*`", servers(Some("kube*"), None)),
        (
            "ListMcpServers tool_name `create_issue`",
            servers(None, Some("create_issue")),
        ),
    ] {
        let (hits, p50, p99) = timed(args.samples, || {
            store.list_servers(&query, &first, Some(&org))
        })
        .await?;
        println!("| {label} | {hits} | {p50:.1} | {p99:.1} |");
    }
    let team = PackFilter {
        text: Some(TextQuery::parse("team").map_err(anyhow::Error::msg)?),
        ..PackFilter::default()
    };
    let (hits, p50, p99) =
        timed(args.samples, || store.list_packs(&org, None, &team, &first)).await?;
    println!("| ListPacks query `team` | {hits} | {p50:.1} | {p99:.1} |");
    store.close().await?;
    Ok(())
}

/// Calls `call` 3 times untimed, then `samples` times; returns the total of
/// the last page and the p50 and p99 in milliseconds.
async fn timed<T, K, F, Fut>(samples: usize, call: F) -> anyhow::Result<(u64, f64, f64)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<
            Output = Result<mcp_registry::pagination::Page<T, K>, mcp_registry::error::Error>,
        >,
{
    let mut total = 0;
    for _ in 0..3 {
        total = call().await.map_err(|e| anyhow::anyhow!("{e:?}"))?.total;
    }
    let mut ms = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        call().await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    Ok((total, at(0.5), at(0.99)))
}

/// `VALUES (0, 'a'), (1, 'b'), …` of `words`.
fn values(words: &[&str]) -> String {
    words
        .iter()
        .enumerate()
        .map(|(i, w)| format!("({i}, '{w}')"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statements that load the data set.
fn load_sql(backend: DbBackend, args: &SearchArgs) -> Vec<String> {
    let pg = backend == DbBackend::Postgres;
    let last = args.servers - 1;
    let catalog_from = args.servers - args.servers / 100;
    let series = |n: usize| {
        if pg {
            format!("(SELECT generate_series(0::bigint, {n}) AS n) AS seq")
        } else {
            format!(
                "(WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < {n}) \
                 SELECT n FROM s) AS seq"
            )
        }
    };
    let hex = |prefix: &str, n: &str| {
        if pg {
            format!("'{prefix}_' || lpad(to_hex({n}), 32, '0')")
        } else {
            format!("printf('{prefix}_%032x', {n})")
        }
    };
    let cap = "upper(substr(v.w, 1, 1)) || substr(v.w, 2)";
    let definition = if pg {
        format!(
            "json_build_object('name', v.w || '_' || o.w, 'title', {cap} || ' ' || o.w, \
             'description', {cap} || 's a ' || o.w || ' in ' || p.w || ' for workspace ' || (s.n % 1000), \
             'inputSchema', json_build_object('type', 'object'))::text"
        )
    } else {
        format!(
            "json_object('name', v.w || '_' || o.w, 'title', {cap} || ' ' || o.w, \
             'description', {cap} || 's a ' || o.w || ' in ' || p.w || ' for workspace ' || (s.n % 1000), \
             'inputSchema', json_object('type', 'object'))"
        )
    };
    let t = if pg { "TRUE" } else { "1" };
    let mut sql = Vec::new();
    // Word tables (dropped at the end); plain tables, as the pool may run
    // each statement on another connection.
    for name in ["products", "verbs", "nouns", "categories"] {
        sql.push(format!(
            "CREATE TABLE bench_{name} (i INTEGER PRIMARY KEY, w TEXT)"
        ));
    }
    let table = |name: &str| format!("bench_{name}");
    for (name, words) in [
        ("products", PRODUCTS),
        ("verbs", VERBS),
        ("nouns", NOUNS),
        ("categories", CATEGORIES),
    ] {
        sql.push(format!(
            "INSERT INTO {} (i, w) VALUES {}",
            table(name),
            values(words)
        ));
    }
    let (products, verbs, nouns, categories) = (
        table("products"),
        table("verbs"),
        table("nouns"),
        table("categories"),
    );
    sql.push(format!(
        "INSERT INTO organizations (id, name, plan, created_at, updated_at, revision) \
         SELECT {}, 'org' || n, 'enterprise', 0, 0, 1 FROM {}",
        hex("org", "n"),
        series(ORGS - 1)
    ));
    let org = hex("org", "(s.n % 100)");
    sql.push(format!(
        "INSERT INTO mcp_servers (id, organization_id, scope, visibility, name, display_name, description, \
           url, icon_url, documentation_url, category, transport, auth_type, request_headers, approval_policy, \
           tools_enabled, allowed_tools, config, enabled, status, tool_count, prompt_count, resource_count, \
           resource_template_count, tool_approvals, created_at, updated_at, created_by, modified_by, revision, \
           consecutive_failures) \
         SELECT {id}, CASE WHEN s.n >= {catalog_from} THEN NULL ELSE {org} END, \
           CASE WHEN s.n >= {catalog_from} THEN 'catalog' ELSE {org} END, \
           CASE WHEN s.n >= {catalog_from} THEN 'catalog' ELSE 'private' END, \
           'srv-' || s.n, {pcap} || ' ' || o.w || 's', \
           'Connects ' || p.w || ' ' || o.w || 's to agents', \
           'https://srv-' || s.n || '.mcp.example.com/mcp', '', '', c.w, 'auto', 'none', '[]', 'require_none', \
           {t}, '[]', '{{}}', {t}, 'connected', {tools}, 0, 0, 0, '{{}}', s.n, s.n, 'bench', 'bench', 1, 0 \
         FROM {series} \
         JOIN {products} p ON p.i = ((s.n * 2654435761) % 1000003) % {np} \
         JOIN {nouns} o ON o.i = ((s.n * 40503) % 1000003) % {nn} \
         JOIN {categories} c ON c.i = s.n % {nc}",
        id = hex("mcp", "s.n"),
        pcap = "upper(substr(p.w, 1, 1)) || substr(p.w, 2)",
        tools = args.tools,
        series = series(last).replace("AS seq", "AS s"),
        np = PRODUCTS.len(),
        nn = NOUNS.len(),
        nc = CATEGORIES.len(),
    ));
    // Tools: server n's tool j is verb (n + j) % 20 (distinct per server),
    // noun and product from a multiplicative hash of n and j.
    sql.push(format!(
        "INSERT INTO server_capabilities (server_id, kind, key, definition, definition_hash, \
           discovered_at, changed_at) \
         SELECT {id}, 'tool', v.w || '_' || o.w, {definition}, 'h' || s.n || '_' || j.n, 0, 0 \
         FROM {series} \
         CROSS JOIN {tools} \
         JOIN {verbs} v ON v.i = (s.n + j.n) % {nv} \
         JOIN {nouns} o ON o.i = ((s.n * 2654435761 + j.n * 40503) % 1000003) % {nn} \
         JOIN {products} p ON p.i = (((s.n * 97 + j.n * 31) * 2654435761) % 1000003) % {np}",
        id = hex("mcp", "s.n"),
        series = series(last).replace("AS seq", "AS s"),
        tools = series(args.tools - 1).replace("AS seq", "AS j"),
        nv = VERBS.len(),
        nn = NOUNS.len(),
        np = PRODUCTS.len(),
    ));
    // Ten packs per organization, five of its servers each.
    sql.push(format!(
        "INSERT INTO packs (id, organization_id, name, description, version, created_at, updated_at, \
           created_by, modified_by) \
         SELECT {id}, {org}, p.w || '-' || s.n, 'Tools for the ' || o.w || ' team', 1, 0, 0, 'bench', 'bench' \
         FROM {series} \
         JOIN {products} p ON p.i = ((s.n * 2654435761) % 1000003) % {np} \
         JOIN {nouns} o ON o.i = ((s.n * 40503) % 1000003) % {nn}",
        id = hex("pack", "s.n"),
        org = hex("org", "(s.n % 100)"),
        series = series(ORGS * 10 - 1).replace("AS seq", "AS s"),
        np = PRODUCTS.len(),
        nn = NOUNS.len(),
    ));
    sql.push(format!(
        "INSERT INTO pack_members (pack_id, server_id, position) \
         SELECT {pack}, {server}, m.n FROM {series} CROSS JOIN {members}",
        pack = hex("pack", "s.n"),
        // Server k * 100 + (pack % 100) belongs to the pack's organization.
        server = hex(
            "mcp",
            &format!(
                "(((s.n / 100) * 5 + m.n) % {}) * 100 + s.n % 100",
                catalog_from / 100
            ),
        ),
        series = series(ORGS * 10 - 1).replace("AS seq", "AS s"),
        members = series(4).replace("AS seq", "AS m"),
    ));
    for name in ["products", "verbs", "nouns", "categories"] {
        sql.push(format!("DROP TABLE bench_{name}"));
    }
    sql.push("ANALYZE".into());
    sql
}

/// The statements whose plans BENCHMARKS.md shows, as the store builds
/// them (first page, literals inlined).
fn plans(backend: DbBackend, org: &str) -> Vec<(&'static str, String)> {
    let scopes = format!("('{org}', 'catalog')");
    let hexorg = org.trim_start_matches("org_");
    match backend {
        DbBackend::Postgres => vec![
            (
                "SearchTools `create`",
                format!(
                    "SELECT server_id, server_name, tool_name, definition, score FROM (\
                     SELECT c.server_id AS server_id, s.name AS server_name, c.key AS tool_name, \
                     c.definition AS definition, \
                     ts_rank('{{0, 0.01, 0.1, 1.0}}', c.search, '(''create'')'::tsquery)::float8 AS score \
                     FROM server_capabilities c JOIN mcp_servers s ON s.id = c.server_id \
                     WHERE c.search @@ '(''org{hexorg}'':D | ''catalog'':D) & ((''create''))'::tsquery \
                     AND c.kind = 'tool' AND s.scope IN {scopes}\
                     ) AS hits ORDER BY score DESC, server_id COLLATE \"C\", tool_name COLLATE \"C\" LIMIT 21"
                ),
            ),
            (
                "ListMcpServers query `jira`",
                format!(
                    "SELECT id FROM mcp_servers WHERE scope IN {scopes} \
                     AND mcp_servers.search @@ '(''jira'')'::tsquery ORDER BY id LIMIT 21"
                ),
            ),
            (
                "ListMcpServers tool_name `create_issue`",
                format!(
                    "SELECT id FROM mcp_servers WHERE scope IN {scopes} AND mcp_servers.id IN \
                     (SELECT server_id FROM server_capabilities WHERE kind = 'tool' AND key = 'create_issue') \
                     ORDER BY id LIMIT 21"
                ),
            ),
            (
                "ListPacks query `jira`",
                format!(
                    "SELECT id FROM packs WHERE organization_id = '{org}' \
                     AND packs.search @@ '(''jira'')'::tsquery ORDER BY id LIMIT 21"
                ),
            ),
        ],
        _ => vec![
            (
                "SearchTools `create`",
                format!(
                    "SELECT server_id, server_name, tool_name, definition, score FROM (\
                     SELECT c.server_id AS server_id, s.name AS server_name, c.key AS tool_name, \
                     c.definition AS definition, -bm25(tool_search, 100.0, 10.0, 1.0, 0.0) AS score \
                     FROM tool_search JOIN tool_search_rows r ON r.id = tool_search.rowid \
                     JOIN server_capabilities c ON c.server_id = r.server_id AND c.kind = 'tool' AND c.key = r.name \
                     JOIN mcp_servers s ON s.id = c.server_id \
                     WHERE tool_search MATCH '{{scope}} : (\"org{hexorg}\" OR \"catalog\") \
                     AND {{name title description}} : (\"create\")' AND s.scope IN {scopes}\
                     ) AS hits ORDER BY score DESC, server_id, tool_name LIMIT 21"
                ),
            ),
            (
                "ListMcpServers query `jira`",
                format!(
                    "SELECT id FROM mcp_servers WHERE scope IN {scopes} AND mcp_servers.id IN \
                     (SELECT r.server_id FROM server_search JOIN server_search_rows r \
                     ON r.id = server_search.rowid WHERE server_search MATCH '\"jira\"') ORDER BY id LIMIT 21"
                ),
            ),
            (
                "ListMcpServers tool_name `create_issue`",
                format!(
                    "SELECT id FROM mcp_servers WHERE scope IN {scopes} AND mcp_servers.id IN \
                     (SELECT server_id FROM server_capabilities WHERE kind = 'tool' AND key = 'create_issue') \
                     ORDER BY id LIMIT 21"
                ),
            ),
            (
                "ListPacks query `jira`",
                format!(
                    "SELECT id FROM packs WHERE organization_id = '{org}' AND packs.id IN \
                     (SELECT r.pack_id FROM pack_search JOIN pack_search_rows r \
                     ON r.id = pack_search.rowid WHERE pack_search MATCH '\"jira\"') ORDER BY id LIMIT 21"
                ),
            ),
        ],
    }
}
