//! Watch leases on `server_watches`: which servers announce changes of their
//! lists (a row exists), and which replica holds a long-lived stream to each
//! (`owner` until `expires_at`). Claims work like the sync leases
//! (`leases.rs`): one conditional UPDATE, `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so no two replicas ever watch one server.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::error::Error;
use crate::registry::Micros;
use crate::registry::servers::McpServer;
use crate::store::Store;
use crate::store::servers::find_servers;

/// Records whether server `server_id` announces changes of its lists, on
/// any connection (a sync's transaction).
pub(crate) async fn set_announcing_on<C: ConnectionTrait>(
    db: &C,
    server_id: &str,
    announcing: bool,
) -> Result<(), Error> {
    let backend = db.get_database_backend();
    let sql = if announcing {
        "INSERT INTO server_watches (server_id) VALUES ($1) ON CONFLICT (server_id) DO NOTHING"
    } else {
        "DELETE FROM server_watches WHERE server_id = $1"
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [server_id.into()],
    ))
    .await?;
    Ok(())
}

impl Store {
    /// Claims up to `limit` enabled servers that announce changes and that
    /// nobody watches (nor waits to retry) at `now`, until `until`.
    pub async fn claim_watches(
        &self,
        owner: &str,
        now: Micros,
        until: Micros,
        limit: u64,
    ) -> Result<Vec<McpServer>, Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let backend = self.backend();
        let lock = match backend {
            DbBackend::Postgres => " FOR UPDATE OF w SKIP LOCKED",
            _ => "",
        };
        let sql = format!(
            "UPDATE server_watches SET owner = $1, expires_at = $2 \
             WHERE server_id IN (SELECT w.server_id FROM server_watches w \
               JOIN mcp_servers s ON s.id = w.server_id \
               WHERE s.enabled = TRUE AND (w.expires_at IS NULL OR w.expires_at < $3) \
               ORDER BY w.server_id LIMIT $4{lock}) \
             RETURNING server_id"
        );
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [
                    owner.into(),
                    until.into(),
                    now.into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            ))
            .await?;
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            ids.push(row.try_get::<String>("", "server_id")?);
        }
        find_servers(&self.db, &ids).await
    }

    /// Extends `owner`'s watch of `server_id` until `until`; false when the
    /// lease is no longer its own (it lapsed and another replica took it, or
    /// the server stopped announcing or was deleted).
    pub async fn renew_watch(
        &self,
        server_id: &str,
        owner: &str,
        until: Micros,
    ) -> Result<bool, Error> {
        let result = self
            .db
            .execute_raw(Statement::from_sql_and_values(
                self.backend(),
                "UPDATE server_watches SET expires_at = $1 WHERE server_id = $2 AND owner = $3",
                [until.into(), server_id.into(), owner.into()],
            ))
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Ends `owner`'s watch of `server_id`; nobody watches it again before
    /// `retry_at` (none: at once).
    pub async fn release_watch(
        &self,
        server_id: &str,
        owner: &str,
        retry_at: Option<Micros>,
    ) -> Result<(), Error> {
        self.db
            .execute_raw(Statement::from_sql_and_values(
                self.backend(),
                "UPDATE server_watches SET owner = NULL, expires_at = $1 \
                 WHERE server_id = $2 AND owner = $3",
                [retry_at.into(), server_id.into(), owner.into()],
            ))
            .await?;
        Ok(())
    }

    /// Ends every watch `owner` holds (at shutdown).
    pub async fn release_all_watches(&self, owner: &str) -> Result<u64, Error> {
        let result = self
            .db
            .execute_raw(Statement::from_sql_and_values(
                self.backend(),
                "UPDATE server_watches SET owner = NULL, expires_at = NULL WHERE owner = $1",
                [owner.into()],
            ))
            .await?;
        Ok(result.rows_affected())
    }
}
