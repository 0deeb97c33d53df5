//! The benchmark's own databases: a temporary SQLite data directory, or a
//! PostgreSQL database `mcpr_bench_<run>_<label>` created and dropped here.

use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, Database, Statement};

pub enum Db {
    Sqlite {
        dir: PathBuf,
    },
    Postgres {
        server: String,
        name: String,
        master_key: String,
    },
}

impl Db {
    pub async fn create(
        backend: &str,
        tmp: &Path,
        postgres: &str,
        run_id: &str,
        label: &str,
    ) -> anyhow::Result<Self> {
        match backend {
            "sqlite" => {
                let dir = tmp.join(format!("sqlite-{label}"));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir)?;
                Ok(Self::Sqlite { dir })
            }
            "postgres" => {
                let name = format!("mcpr_bench_{run_id}_{label}")
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_lowercase()
                        } else {
                            '_'
                        }
                    })
                    .collect::<String>();
                let admin = Database::connect(format!("{postgres}/postgres")).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                admin.close().await?;
                let master_key = mcp_registry::crypto::Keyring::generate_entry("bench")
                    .map_err(|e| anyhow::anyhow!("master key: {e:?}"))?;
                Ok(Self::Postgres {
                    server: postgres.to_owned(),
                    name,
                    master_key,
                })
            }
            other => anyhow::bail!("unknown backend {other}"),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }

    /// Environment of the service for this database. SQLite uses the embedded
    /// default (data dir, generated development master key).
    pub fn service_env(&self) -> Vec<(String, String)> {
        match self {
            Self::Sqlite { dir } => {
                vec![("MCP_REGISTRY_DATA_DIR".into(), dir.display().to_string())]
            }
            Self::Postgres { master_key, .. } => vec![
                ("MCP_REGISTRY_DATABASE_URL".into(), self.url()),
                ("MCP_REGISTRY_MASTER_KEYS".into(), master_key.clone()),
            ],
        }
    }

    /// URL for `mcp_registry::store::Store::connect` from the benchmark itself.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { dir } => format!(
                "sqlite://{}?mode=rwc",
                dir.join("mcp-registry.db").display()
            ),
            Self::Postgres { server, name, .. } => format!("{server}/{name}"),
        }
    }

    /// Bytes on disk: the SQLite file with its WAL, or pg_database_size.
    pub async fn size_bytes(&self) -> anyhow::Result<u64> {
        match self {
            Self::Sqlite { dir } => Ok([
                "mcp-registry.db",
                "mcp-registry.db-wal",
                "mcp-registry.db-shm",
            ]
            .iter()
            .map(|f| crate::procs::file_size(&dir.join(f)))
            .sum()),
            Self::Postgres { server, name, .. } => {
                let admin = Database::connect(format!("{server}/postgres")).await?;
                let row = admin
                    .query_one_raw(Statement::from_string(
                        admin.get_database_backend(),
                        format!("SELECT pg_database_size('{name}') AS size"),
                    ))
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no size"))?;
                let size: i64 = row.try_get("", "size")?;
                admin.close().await?;
                Ok(size as u64)
            }
        }
    }

    /// Runs `sql` on this database and returns every row as text (for query plans).
    pub async fn query_text(&self, sql: &str) -> anyhow::Result<Vec<String>> {
        use sea_orm::{FromQueryResult, JsonValue};
        let db = Database::connect(self.url()).await?;
        let rows = JsonValue::find_by_statement(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .all(&db)
        .await?;
        db.close().await?;
        Ok(rows
            .into_iter()
            .map(|row| match row {
                JsonValue::Object(map) => map
                    .into_iter()
                    .map(|(k, v)| match v {
                        JsonValue::String(s) => format!("{k}={s}"),
                        other => format!("{k}={other}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            })
            .collect())
    }

    /// Runs `sql` `n` times on one connection; returns the mean milliseconds and the row count.
    pub async fn time_query(&self, sql: &str, n: usize) -> anyhow::Result<(f64, usize)> {
        use sea_orm::{FromQueryResult, JsonValue};
        let db = Database::connect(self.url()).await?;
        let stmt = Statement::from_string(db.get_database_backend(), sql.to_owned());
        let mut rows = JsonValue::find_by_statement(stmt.clone())
            .all(&db)
            .await?
            .len();
        let t0 = std::time::Instant::now();
        for _ in 0..n {
            rows = JsonValue::find_by_statement(stmt.clone())
                .all(&db)
                .await?
                .len();
        }
        let mean = t0.elapsed().as_secs_f64() * 1000.0 / n as f64;
        db.close().await?;
        Ok((mean, rows))
    }

    /// Removes the database (the SQLite directory goes with the temp dir).
    pub async fn drop_database(&self) {
        if let Self::Postgres { server, name, .. } = self {
            match Database::connect(format!("{server}/postgres")).await {
                Ok(admin) => {
                    if let Err(e) = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                    {
                        eprintln!("warning: cannot drop database {name}: {e}");
                    }
                    let _ = admin.close().await;
                }
                Err(e) => eprintln!("warning: cannot connect to drop database {name}: {e}"),
            }
        }
    }
}
