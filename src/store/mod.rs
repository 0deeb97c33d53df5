//! Persistence on SeaORM: SQLite (embedded default) or PostgreSQL. This is the
//! only module that knows SQL or entities; it takes and returns domain values.

mod api_keys;
mod audit;
mod conn;
mod entities;
mod generations;
mod group_commit;
mod leases;
mod oauth;
mod organizations;
mod packs;
mod resolutions;
mod search;
mod secrets;
mod servers;
mod sync_runs;
mod watches;

pub use audit::AuditTable;
pub use generations::{Generations, Snapshot, Stamp, Topic};
pub use leases::{Claim, Claimed};
pub use packs::OrgWrite;
pub use resolutions::{PackHead, StoredResolution};
pub use servers::{NewCapability, ServerQuery, SyncState};
pub use sync_runs::{RunQuery, SyncSuccess};

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbBackend, DbErr};

use crate::error::Error;
use crate::store::conn::{Db, Txn};

/// Handle to the database. Cheap to clone: clones share one connection pool.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    generations: Arc<Generations>,
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and checks the connection.
    ///
    /// SQLite runs in WAL mode with `synchronous=FULL`, so a write is on disk
    /// before it is acknowledged and survives a process or machine crash;
    /// foreign keys are enforced and writers wait up to 5 s for the lock.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5));
        // sqlx pings a connection before handing it out unless told not to:
        // a round trip to the SQLite worker thread or to PostgreSQL for every
        // statement. Only a connection idle for a while is checked; one that
        // broke in use is dropped when it is returned.
        options.test_before_acquire_if_idle_for(Duration::from_secs(30));
        if url.starts_with("sqlite:") {
            options
                .max_connections(8)
                .min_connections(1)
                .map_sqlx_sqlite_opts(|opts| {
                    opts.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Full)
                        .foreign_keys(true)
                        .busy_timeout(Duration::from_secs(5))
                });
        } else {
            options.max_connections(16).min_connections(1);
        }
        let db = Database::connect(options)
            .await
            .with_context(|| format!("cannot connect to the database at {}", redact_url(url)))?;
        // SQLite has one serving process per file; on PostgreSQL other
        // replicas write too, so caches wait for the change listener.
        let generations = Arc::new(Generations::new(url.starts_with("sqlite:")));
        Ok(Self {
            db: Db::new(db),
            generations,
        })
    }

    /// The change generations the read caches check against; bumped by
    /// every write of this store after it commits.
    pub fn generations(&self) -> &Arc<Generations> {
        &self.generations
    }

    /// PostgreSQL: keeps this process's caches in step with the writes of
    /// every replica until `stop`. Listens on `mcp_registry_changes` (see
    /// migration 000007) on a connection of its own and marks each topic a
    /// notification names as changed. Caches stay off until the listener is
    /// connected and go off whenever it is lost (notifications may have been
    /// missed), back on with nothing cached once it is listening again.
    /// Does nothing on SQLite.
    pub async fn listen_for_changes(&self, url: &str, stop: tokio_util::sync::CancellationToken) {
        use sea_orm::sqlx::postgres::PgListener;
        if self.backend() != DbBackend::Postgres {
            return;
        }
        const RETRY: Duration = Duration::from_secs(1);
        let generations = &self.generations;
        loop {
            let listening = async {
                let mut listener = PgListener::connect(url).await?;
                listener.listen(CHANGES_CHANNEL).await?;
                Ok::<_, sea_orm::sqlx::Error>(listener)
            };
            let listener = tokio::select! {
                () = stop.cancelled() => return,
                listening = tokio::time::timeout(Duration::from_secs(10), listening) => listening,
            };
            match listener {
                Ok(Ok(mut listener)) => {
                    generations.set_enabled(true);
                    tracing::debug!("listening for changes of other replicas: read caches on");
                    loop {
                        let next = tokio::select! {
                            () = stop.cancelled() => {
                                generations.set_enabled(false);
                                return;
                            }
                            next = listener.try_recv() => next,
                        };
                        match next {
                            Ok(Some(notification)) => {
                                match Topic::from_payload(notification.payload()) {
                                    Some(topic) => generations.changed(topic),
                                    None => generations.changed_everything(),
                                }
                            }
                            Ok(None) | Err(_) => break,
                        }
                    }
                    generations.set_enabled(false);
                    tracing::warn!("lost the change listener: read caches off until it is back");
                }
                Ok(Err(err)) => {
                    tracing::debug!(error = %err, "cannot listen for changes yet");
                }
                Err(_) => tracing::debug!("cannot listen for changes yet: timed out"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    /// Records that a committed write changed `topic`.
    fn changed(&self, topic: Topic<'_>) {
        self.generations.changed(topic);
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.db.pool, None)
            .await
            .context("cannot apply database migrations")
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), Error> {
        self.db.pool.ping().await.map_err(Error::from)
    }

    /// Starts a write transaction. On SQLite it is a savepoint in the open
    /// group commit (`group_commit.rs`), whose transaction is `BEGIN
    /// IMMEDIATE`: a deferred transaction that reads before it writes cannot
    /// wait for the write lock (SQLite answers BUSY at once, whatever the
    /// busy timeout), so a writer of another process would make it fail
    /// instead of queueing. Its commit returns once the group's is durable.
    pub(crate) async fn begin_write(&self) -> Result<Txn, DbErr> {
        use sea_orm::{SqliteTransactionMode, TransactionOptions};
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.db.begin(options, true).await
    }

    /// Starts a read-only transaction whose statements all see one snapshot:
    /// REPEATABLE READ on PostgreSQL; on SQLite (WAL) every read transaction
    /// is a snapshot. For reads that combine rows written together, such as
    /// a pack and its members.
    pub(crate) async fn begin_snapshot(&self) -> Result<Txn, DbErr> {
        use sea_orm::{AccessMode, IsolationLevel, TransactionOptions};
        let options = match self.backend() {
            DbBackend::Postgres => TransactionOptions {
                isolation_level: Some(IsolationLevel::RepeatableRead),
                access_mode: Some(AccessMode::ReadOnly),
                ..TransactionOptions::default()
            },
            _ => TransactionOptions::default(),
        };
        self.db.begin(options, false).await
    }

    /// Whether the database answers a trivial query within `timeout`.
    pub async fn answers_within(&self, timeout: Duration) -> bool {
        matches!(
            tokio::time::timeout(timeout, self.db.pool.ping()).await,
            Ok(Ok(()))
        )
    }

    /// Closes the connection pool, waiting for connections in use to return.
    pub async fn close(self) -> Result<(), DbErr> {
        self.db.pool.close().await
    }

    /// Returns which database engine this store talks to.
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Runs raw SQL; for tests and operational tooling only.
    pub async fn execute_unprepared(&self, sql: &str) -> Result<(), Error> {
        let result = self.db.execute_unprepared(sql).await;
        self.generations.changed_everything();
        result?;
        Ok(())
    }

    /// Returns every row of `table` as text, each column as `name=value`.
    /// For tests that check what is at rest (for example that no secret is).
    pub async fn dump_table(&self, table: &str) -> Result<Vec<String>, Error> {
        use sea_orm::{FromQueryResult, JsonValue, Statement};
        if !table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(Error::invalid("table", "must be a plain table name"));
        }
        let rows = JsonValue::find_by_statement(Statement::from_string(
            self.backend(),
            format!("SELECT * FROM {table}"),
        ))
        .all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|row| row.to_string()).collect())
    }
}

/// The PostgreSQL channel that announces changes (migration 000007).
const CHANGES_CHANNEL: &str = "mcp_registry_changes";

/// Returns `url` without its password, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Maps a unique-constraint violation to ALREADY_EXISTS, anything else to [`Error`].
fn unique_violation(err: DbErr, kind: &'static str, name: &str) -> Error {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::AlreadyExists {
            kind,
            name: name.to_owned(),
        },
        _ => Error::from(err),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redact_url_hides_only_the_password() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/reg"),
            "postgres://app:***@db:5432/reg"
        );
        assert_eq!(redact_url("postgres://app@db/reg"), "postgres://app@db/reg");
        assert_eq!(
            redact_url("sqlite://data/x.db?mode=rwc"),
            "sqlite://data/x.db?mode=rwc"
        );
    }
}
