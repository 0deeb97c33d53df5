//! Scheduler leases on `mcp_servers`: a replica claims due servers by writing
//! its id and an expiry; while the lease holds, no other replica syncs them.
//! A crashed replica's leases simply expire. On PostgreSQL the claim uses
//! `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait on, or take,
//! each other's rows; on SQLite the single writer serializes claims.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement,
};

use crate::error::Error;
use crate::registry::Micros;
use crate::registry::servers::McpServer;
use crate::store::entities::mcp_server::{Column, Entity};
use crate::store::servers::find_servers;
use crate::store::{Store, Topic};

/// A claimed server and its count of failed syncs in a row.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub server: McpServer,
    pub claim: Claim,
}

/// What a lease was taken on: the backoff state, and the scheduled time the
/// release compares with to see whether a write re-armed the server.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub consecutive_failures: i32,
    pub next_sync_at: Option<Micros>,
}

impl Store {
    /// Claims up to `limit` enabled servers whose sync is due at `now` and
    /// that nobody holds, oldest due first, until `lease_until`.
    pub async fn claim_due_servers(
        &self,
        owner: &str,
        now: Micros,
        lease_until: Micros,
        limit: u64,
    ) -> Result<Vec<Claimed>, Error> {
        let backend = self.backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "UPDATE mcp_servers SET lease_owner = $1, lease_expires_at = $2 \
                 WHERE id IN (SELECT id FROM mcp_servers \
                   WHERE enabled = TRUE AND next_sync_at IS NOT NULL AND next_sync_at <= $3 \
                   AND (lease_expires_at IS NULL OR lease_expires_at < $3) \
                   ORDER BY next_sync_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, consecutive_failures"
            }
            _ => {
                "UPDATE mcp_servers SET lease_owner = $1, lease_expires_at = $2 \
                 WHERE id IN (SELECT id FROM mcp_servers \
                   WHERE enabled = TRUE AND next_sync_at IS NOT NULL AND next_sync_at <= $3 \
                   AND (lease_expires_at IS NULL OR lease_expires_at < $3) \
                   ORDER BY next_sync_at LIMIT $4) \
                 RETURNING id, consecutive_failures"
            }
        };
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [
                    owner.into(),
                    lease_until.into(),
                    now.into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            ))
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("", "id")?;
            let failures: i32 = row.try_get("", "consecutive_failures")?;
            claimed.push((id, failures));
        }
        for (id, _) in &claimed {
            self.changed(Topic::Server(id));
        }
        let ids: Vec<String> = claimed.iter().map(|(id, _)| id.clone()).collect();
        let servers = find_servers(&self.db, &ids).await?;
        Ok(servers
            .into_iter()
            .filter_map(|server| {
                let failures = claimed.iter().find(|(id, _)| *id == server.id)?.1;
                let next_sync_at = server.next_sync_at;
                Some(Claimed {
                    server,
                    claim: Claim {
                        consecutive_failures: failures,
                        next_sync_at,
                    },
                })
            })
            .collect())
    }

    /// Claims one server (a background or manual sync) unless another lease
    /// holds it.
    pub async fn claim_server(
        &self,
        server_id: &str,
        owner: &str,
        now: Micros,
        lease_until: Micros,
    ) -> Result<Option<Claim>, Error> {
        let result = Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(owner))
            .col_expr(Column::LeaseExpiresAt, Expr::value(lease_until))
            .filter(Column::Id.eq(server_id))
            .filter(
                Condition::any()
                    .add(Column::LeaseExpiresAt.is_null())
                    .add(Column::LeaseExpiresAt.lt(now)),
            )
            .exec(&self.db)
            .await?;
        if result.rows_affected != 1 {
            return Ok(None);
        }
        self.changed(Topic::Server(server_id));
        Ok(Entity::find_by_id(server_id.to_owned())
            .one(&self.db)
            .await?
            .map(|row| Claim {
                consecutive_failures: row.consecutive_failures,
                next_sync_at: row.next_sync_at,
            }))
    }

    /// Releases `owner`'s lease and schedules the next sync at
    /// `next_sync_at` — unless a write re-armed the server while it was held
    /// (its `next_sync_at` is no longer `claim.next_sync_at`): that sync
    /// stays due, so a connection changed during a sync is synced again at
    /// once. A disabled server gets no next sync.
    pub async fn release_lease(
        &self,
        server_id: &str,
        owner: &str,
        claim: &Claim,
        next_sync_at: Micros,
        consecutive_failures: i32,
    ) -> Result<(), Error> {
        let unchanged = match claim.next_sync_at {
            Some(at) => Expr::col(Column::NextSyncAt).eq(at),
            None => Expr::col(Column::NextSyncAt).is_null(),
        };
        Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(Column::LeaseExpiresAt, Expr::value(Option::<i64>::None))
            .col_expr(
                Column::NextSyncAt,
                Expr::case(
                    Expr::col(Column::Enabled).eq(true).and(unchanged),
                    next_sync_at,
                )
                .case(
                    Expr::col(Column::Enabled).eq(true),
                    Expr::col(Column::NextSyncAt),
                )
                .finally(Expr::value(Option::<i64>::None))
                .into(),
            )
            .col_expr(
                Column::ConsecutiveFailures,
                Expr::value(consecutive_failures),
            )
            .filter(Column::Id.eq(server_id))
            .filter(Column::LeaseOwner.eq(owner))
            .exec(&self.db)
            .await?;
        self.changed(Topic::Server(server_id));
        Ok(())
    }

    /// Releases every lease `owner` still holds (shutdown), leaving them due.
    pub async fn release_all_leases(&self, owner: &str) -> Result<u64, Error> {
        let result = Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(Column::LeaseExpiresAt, Expr::value(Option::<i64>::None))
            .filter(Column::LeaseOwner.eq(owner))
            .exec(&self.db)
            .await?;
        if result.rows_affected > 0 {
            self.generations.changed_everything();
        }
        Ok(result.rows_affected)
    }
}
