//! How the store hands its statements to the database: [`Db`] (the pool) and [`Txn`] (one
//! transaction) are the [`ConnectionTrait`]s every query of `store` runs on. Both pass each
//! statement on with its trailing `LIMIT` and `OFFSET` written as literals.
//!
//! Why literals: SQLite's planner looks at the value bound to a `LIMIT` parameter, and a
//! statement whose plan looked at a parameter is prepared again (parsed, planned, compiled)
//! every time that parameter is bound, whatever the value. SeaORM binds every limit, `.one()`'s
//! `LIMIT 1` included, so each key lookup and each read by id was compiled anew: a quarter of
//! the service's CPU in an uncached `GetMcpServer`. With a literal the statement text is stable
//! (limits are page sizes, a handful of values) and stays in sqlx's per-connection statement
//! cache. PostgreSQL gets the same text, which only lets its planner see the limit.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement, Value,
};

/// The connection pool, as the store's queries see it.
#[derive(Clone, Debug)]
pub(crate) struct Db(pub(crate) DatabaseConnection);

/// One transaction, as the store's queries see it. Commits only through [`Txn::commit`]; dropped
/// without it, it rolls back.
#[derive(Debug)]
pub(crate) struct Txn(DatabaseTransaction);

impl Txn {
    pub(crate) fn new(txn: DatabaseTransaction) -> Self {
        Self(txn)
    }

    /// Commits the transaction.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        self.0.commit().await
    }

    /// Rolls the transaction back.
    pub(crate) async fn rollback(self) -> Result<(), DbErr> {
        self.0.rollback().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.0.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.0.execute_raw(literal_limits(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.0.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.0.query_one_raw(literal_limits(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.0.query_all_raw(literal_limits(stmt)).await
    }

    fn support_returning(&self) -> bool {
        self.0.support_returning()
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Txn {
    fn get_database_backend(&self) -> DbBackend {
        self.0.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.0.execute_raw(literal_limits(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.0.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.0.query_one_raw(literal_limits(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.0.query_all_raw(literal_limits(stmt)).await
    }

    fn support_returning(&self) -> bool {
        self.0.support_returning()
    }
}

/// Rewrites a trailing ` LIMIT <parameter>` (and ` OFFSET <parameter>` after it) into literals,
/// taking their values off the end of the parameter list. sea-query writes both last in a
/// `SELECT` (before nothing but a locking clause, which leaves the text as it is) and binds them
/// last, so the trailing placeholders are exactly the last values. Anything else is unchanged.
fn literal_limits(mut stmt: Statement) -> Statement {
    let Some(values) = stmt.values.as_mut() else {
        return stmt;
    };
    let count = values.0.len();
    let placeholder = |n: usize| match stmt.db_backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let as_literal = |value: &Value| match value {
        Value::BigUnsigned(Some(n)) => Some(n.to_string()),
        Value::Unsigned(Some(n)) => Some(n.to_string()),
        Value::BigInt(Some(n)) if *n >= 0 => Some(n.to_string()),
        _ => None,
    };
    // `… LIMIT p OFFSET q`: both at once, or neither.
    if count >= 2 {
        let suffix = format!(
            " LIMIT {} OFFSET {}",
            placeholder(count - 1),
            placeholder(count)
        );
        if stmt.sql.ends_with(&suffix)
            && let (Some(limit), Some(offset)) = (
                as_literal(&values.0[count - 2]),
                as_literal(&values.0[count - 1]),
            )
        {
            stmt.sql.truncate(stmt.sql.len() - suffix.len());
            stmt.sql
                .push_str(&format!(" LIMIT {limit} OFFSET {offset}"));
            values.0.truncate(count - 2);
            return stmt;
        }
    }
    if count >= 1 {
        let suffix = format!(" LIMIT {}", placeholder(count));
        if stmt.sql.ends_with(&suffix)
            && let Some(limit) = as_literal(&values.0[count - 1])
        {
            stmt.sql.truncate(stmt.sql.len() - suffix.len());
            stmt.sql.push_str(" LIMIT ");
            stmt.sql.push_str(&limit);
            values.0.truncate(count - 1);
        }
    }
    stmt
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    use sea_orm::{DbBackend, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Value};

    use super::literal_limits;
    use crate::store::entities::api_key;

    #[test]
    fn a_bound_limit_becomes_a_literal_on_both_backends() {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let stmt = api_key::Entity::find_by_id("key_1".to_owned())
                .limit(1)
                .build(backend);
            let stmt = literal_limits(stmt);
            assert!(stmt.sql.ends_with(" LIMIT 1"), "{backend:?}: {}", stmt.sql);
            let values = stmt.values.expect("values").0;
            assert_eq!(values, vec![Value::from("key_1")], "{backend:?}");
        }
    }

    #[test]
    fn limit_and_offset_become_literals_together() {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let stmt = api_key::Entity::find().limit(21).offset(40).build(backend);
            let stmt = literal_limits(stmt);
            assert!(
                stmt.sql.ends_with(" LIMIT 21 OFFSET 40"),
                "{backend:?}: {}",
                stmt.sql
            );
            assert!(stmt.values.expect("values").0.is_empty());
        }
    }

    #[test]
    fn a_limit_inside_a_subquery_stays_a_parameter() {
        let inner = Query::select()
            .column(api_key::Column::Id)
            .from(api_key::Entity)
            .limit(5)
            .to_owned();
        let stmt = api_key::Entity::find()
            .filter(Expr::col(api_key::Column::Id).in_subquery(inner))
            .build(DbBackend::Sqlite);
        let before = stmt.sql.clone();
        let stmt = literal_limits(stmt);
        assert_eq!(stmt.sql, before);
        assert_eq!(
            stmt.values.expect("values").0,
            vec![Value::BigUnsigned(Some(5))]
        );
    }

    #[test]
    fn a_statement_without_a_limit_is_unchanged() {
        let stmt = api_key::Entity::find()
            .filter(Expr::col(api_key::Column::DisplayName).eq(" LIMIT ?"))
            .build(DbBackend::Sqlite);
        let before = (stmt.sql.clone(), stmt.values.clone());
        let stmt = literal_limits(stmt);
        assert_eq!((stmt.sql, stmt.values), before);
    }
}
