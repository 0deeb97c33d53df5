//! How the store hands its statements to the database: [`Db`] (the pool) and [`Txn`] (one
//! transaction) are the [`ConnectionTrait`]s every query of `store` runs on.
//!
//! Two things happen on the way.
//!
//! **Literal limits.** Each statement's trailing `LIMIT` and `OFFSET` are written as literals.
//! SQLite's planner looks at the value bound to a `LIMIT` parameter, and a statement whose plan
//! looked at a parameter is prepared again (parsed, planned, compiled) every time that parameter
//! is bound, whatever the value. SeaORM binds every limit, `.one()`'s `LIMIT 1` included, so each
//! key lookup and each read by id was compiled anew: a quarter of the service's CPU in an
//! uncached `GetMcpServer`. With a literal the statement text is stable (limits are page sizes,
//! a handful of values) and stays in sqlx's per-connection statement cache. PostgreSQL gets the
//! same text, which only lets its planner see the limit.
//!
//! **SQLite writes go through [`GroupCommit`].** Every write transaction, and every writing
//! statement on the pool, is a savepoint in a shared transaction that one `COMMIT` ends (see
//! `group_commit.rs`). PostgreSQL writes are plain transactions: it locks rows, not the
//! database, and syncs concurrent commits together by itself.

use std::sync::OnceLock;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement, Value,
};

use crate::store::group_commit::{GroupCommit, Member};

/// The connection pool, as the store's queries see it.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    pub(crate) pool: DatabaseConnection,
    /// SQLite only.
    group: Option<GroupCommit>,
}

impl Db {
    pub(crate) fn new(pool: DatabaseConnection) -> Self {
        let group = (pool.get_database_backend() == DbBackend::Sqlite)
            .then(|| GroupCommit::new(pool.clone()));
        Self { pool, group }
    }

    /// Starts a transaction with `options`; on SQLite a write transaction (`write`) is a
    /// savepoint in the open group commit instead.
    pub(crate) async fn begin(
        &self,
        options: sea_orm::TransactionOptions,
        write: bool,
    ) -> Result<Txn, DbErr> {
        use sea_orm::TransactionTrait;
        match (&self.group, write) {
            (Some(group), true) => {
                let (txn, member) = group.begin().await?;
                Ok(Txn {
                    txn,
                    member: Some(member),
                })
            }
            _ => Ok(Txn {
                txn: self.pool.begin_with_options(options).await?,
                member: None,
            }),
        }
    }

    /// A writing statement on the pool, on SQLite: a write of its own in the group commit.
    fn group_for(&self, sql: &str) -> Option<&GroupCommit> {
        self.group.as_ref().filter(|_| writes(sql))
    }
}

/// Whether `sql` changes rows (`INSERT`, `UPDATE`, `DELETE`, `REPLACE`).
fn writes(sql: &str) -> bool {
    let verb = sql.trim_start().get(..7).unwrap_or_default();
    ["INSERT ", "UPDATE ", "DELETE ", "REPLACE"]
        .iter()
        .any(|w| verb.eq_ignore_ascii_case(w))
}

/// Runs `run` as a write of its own in `group` and commits it.
async fn alone<T, F>(group: &GroupCommit, run: F) -> Result<T, DbErr>
where
    F: AsyncFnOnce(&Txn) -> Result<T, DbErr>,
{
    let (txn, member) = group.begin().await?;
    let txn = Txn {
        txn,
        member: Some(member),
    };
    let out = run(&txn).await?;
    txn.commit().await?;
    Ok(out)
}

/// One transaction, as the store's queries see it. Commits only through [`Txn::commit`]; dropped
/// without it, it rolls back. On SQLite a write transaction is a savepoint of a group commit.
#[derive(Debug)]
pub(crate) struct Txn {
    /// Declared first, so that when dropped it rolls back before `member` gives the turn up.
    txn: DatabaseTransaction,
    member: Option<Member>,
}

impl Txn {
    /// Commits the transaction: on SQLite, releases the savepoint and returns once the group
    /// commit holding it is durable.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        let Self { txn, member } = self;
        let released = txn.commit().await;
        match member {
            Some(member) => {
                if let Err(err) = &released {
                    member.failed(err);
                }
                released?;
                member.committed().await
            }
            None => released,
        }
    }

    /// Rolls the transaction back.
    pub(crate) async fn rollback(self) -> Result<(), DbErr> {
        let Self { txn, member } = self;
        let result = txn.rollback().await;
        if let (Some(member), Err(err)) = (&member, &result) {
            member.failed(err);
        }
        drop(member);
        result
    }

    /// Notes a failed statement for the group commit.
    fn check<T>(&self, result: Result<T, DbErr>) -> Result<T, DbErr> {
        if let (Some(member), Err(err)) = (&self.member, &result) {
            member.failed(err);
        }
        result
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self.group_for(&stmt.sql) {
            Some(group) => alone(group, async |txn| txn.execute_raw(stmt).await).await,
            None => self.pool.execute_raw(literal_limits(stmt)).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.pool.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        // `UPDATE … RETURNING` is a write read through a query.
        match self.group_for(&stmt.sql) {
            Some(group) => alone(group, async |txn| txn.query_one_raw(stmt).await).await,
            None => self.pool.query_one_raw(literal_limits(stmt)).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self.group_for(&stmt.sql) {
            Some(group) => alone(group, async |txn| txn.query_all_raw(stmt).await).await,
            None => self.pool.query_all_raw(literal_limits(stmt)).await,
        }
    }

    fn support_returning(&self) -> bool {
        self.pool.support_returning()
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Txn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.check(self.txn.execute_raw(literal_limits(stmt)).await)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.check(self.txn.execute_unprepared(sql).await)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.check(self.txn.query_one_raw(literal_limits(stmt)).await)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.check(self.txn.query_all_raw(literal_limits(stmt)).await)
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// A statement whose text sea-query builds once per backend. Building a `SELECT` of every
/// column costs more than the indexed read it runs (about 100,000 instructions for a server by id
/// under callgrind, a fifth of an uncached `GetMcpServer`), so the hottest reads keep their text:
/// the first use builds the statement with its own values (limits made literal) and keeps the
/// text; later uses bind their values to that text. `values` must be exactly what `build` binds,
/// in order; the first use checks it and, if they differ, keeps nothing (and logs an error), so
/// a wrong shape costs speed, never a wrong answer. Each shape's test builds it both ways.
pub(crate) struct Shape {
    sqlite: OnceLock<String>,
    postgres: OnceLock<String>,
}

impl Shape {
    pub(crate) const fn new() -> Self {
        Self {
            sqlite: OnceLock::new(),
            postgres: OnceLock::new(),
        }
    }

    /// The statement with `values` bound, built by `build` only on the backend's first use.
    pub(crate) fn statement(
        &self,
        backend: DbBackend,
        values: Vec<Value>,
        build: impl FnOnce() -> Statement,
    ) -> Statement {
        let text = match backend {
            DbBackend::Postgres => &self.postgres,
            _ => &self.sqlite,
        };
        if let Some(sql) = text.get() {
            return Statement::from_sql_and_values(backend, sql.clone(), values);
        }
        let built = literal_limits(build());
        let same = built
            .values
            .as_ref()
            .map_or(values.is_empty(), |v| v.0 == values);
        if same {
            let _ = text.set(built.sql.clone());
        } else {
            tracing::error!(sql = %built.sql, "a statement shape binds other values than its statement; not kept");
        }
        built
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

    use super::{Shape, literal_limits, writes};
    use crate::store::entities::api_key;
    use crate::store::{api_keys, resolutions, servers};

    /// Uses a fresh shape with `first`, then with `second`: the second statement (from the
    /// kept text) must be what building it anew gives, on both backends.
    fn assert_shape(
        first: (Vec<Value>, &dyn Fn(DbBackend) -> sea_orm::Statement),
        second: (Vec<Value>, &dyn Fn(DbBackend) -> sea_orm::Statement),
    ) {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let shape = Shape::new();
            let built = shape.statement(backend, first.0.clone(), || (first.1)(backend));
            assert_eq!(built.sql, literal_limits((first.1)(backend)).sql);
            let kept = shape.statement(backend, second.0.clone(), || unreachable!("kept"));
            let fresh = literal_limits((second.1)(backend));
            assert_eq!(kept.sql, fresh.sql, "{backend:?}");
            assert_eq!(kept.values, fresh.values, "{backend:?}");
            assert_eq!(
                kept.values.map(|v| v.0),
                Some(second.0.clone()),
                "{backend:?}"
            );
        }
    }

    #[test]
    fn kept_statements_bind_what_building_them_binds() {
        assert_shape(
            (vec!["key_a".into()], &|b| api_keys::by_id("key_a").build(b)),
            (vec!["key_b".into()], &|b| api_keys::by_id("key_b").build(b)),
        );
        for org in [None, Some("org_x")] {
            let values = |id: &str| servers::pack_ids_values(org, [id.into()]);
            assert_shape(
                (values("srv_a"), &|b| {
                    servers::select_with_pack_ids(servers::by_id("srv_a"), org, b)
                }),
                (values("srv_b"), &|b| {
                    servers::select_with_pack_ids(servers::by_id("srv_b"), org, b)
                }),
            );
            let values = |scope: &str, name: &str| {
                servers::pack_ids_values(org, [scope.into(), name.into()])
            };
            let build = |scope: &'static str, name: &'static str| {
                move |b| servers::select_with_pack_ids(servers::by_name(scope, name), org, b)
            };
            assert_shape(
                (values("o1", "n1"), &build("o1", "n1")),
                (values("o2", "n2"), &build("o2", "n2")),
            );
        }
        let ids = |n: usize, tag: &str| (0..n).map(|i| format!("srv_{tag}{i}")).collect::<Vec<_>>();
        for n in [1, 5] {
            let (a, b) = (ids(n, "a"), ids(n, "b"));
            let values = |ids: &[String]| ids.iter().map(|id| id.as_str().into()).collect();
            assert_shape(
                (values(&a), &|x| resolutions::revisions_of(&a).build(x)),
                (values(&b), &|x| resolutions::revisions_of(&b).build(x)),
            );
        }
        assert_shape(
            (vec![0i64.into(), "pk_a".into()], &|b| {
                b.build(&resolutions::pack_with_resolution("pk_a", 0))
            }),
            (vec![7i64.into(), "pk_b".into()], &|b| {
                b.build(&resolutions::pack_with_resolution("pk_b", 7))
            }),
        );
    }

    #[test]
    fn a_shape_given_other_values_keeps_nothing() {
        let shape = Shape::new();
        let build = |b| api_keys::by_id("key_a").build(b);
        let wrong = shape.statement(DbBackend::Sqlite, vec!["other".into()], || {
            build(DbBackend::Sqlite)
        });
        assert_eq!(wrong.values.map(|v| v.0), Some(vec![Value::from("key_a")]));
        let again = shape.statement(DbBackend::Sqlite, vec!["key_b".into()], || {
            api_keys::by_id("key_b").build(DbBackend::Sqlite)
        });
        assert_eq!(again.values.map(|v| v.0), Some(vec![Value::from("key_b")]));
    }

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

    #[test]
    fn writing_statements_are_told_from_reads() {
        assert!(writes("INSERT INTO t VALUES (1)"));
        assert!(writes("  update t SET a = 1"));
        assert!(writes("DELETE FROM t"));
        assert!(writes(
            "UPDATE mcp_servers SET lease_owner = $1 WHERE id IN (SELECT id FROM x) RETURNING id"
        ));
        assert!(!writes("SELECT * FROM t"));
        assert!(!writes("WITH x AS (SELECT 1) SELECT * FROM x"));
        assert!(!writes("UPD"));
    }
}
