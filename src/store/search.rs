//! Full-text queries: SearchTools over `tool_search` (SQLite FTS5) or
//! `server_capabilities.search` (PostgreSQL tsvector), and the text and
//! tool-name conditions of the server and pack listings. Migration 11 builds
//! the indexes and keeps them in step with the rows (triggers, generated
//! columns); nothing here writes them.
//!
//! Ranking: SQLite's `bm25` with column weights 100 (name), 10 (title), 1
//! (description), 0 (the scope column, see [`scoped_fts5`]), negated so that higher is better; PostgreSQL's `ts_rank`
//! with weights A 1.0 (name), B 0.1 (title), C 0.01 (description), D 0 (the
//! scope lexeme, see [`scoped_tsquery`]). Scores are
//! comparable within one backend and one search only; the order they give a
//! tool whose name matches before one whose title or description does is the
//! same on both.

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use crate::error::Error;
use crate::pagination::{Page, PageRequest};
use crate::registry::search::{HitKey, TextQuery, ToolHit, ToolSearch};
use crate::registry::servers::{ApprovalPolicy, CapabilityKind, ToolApproval};
use crate::store::Store;

/// Builds an SQL text and its values, with the backend's placeholders.
struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            text: String::new(),
            values: Vec::new(),
        }
    }

    /// Appends SQL text.
    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => {
                let n = self.values.len();
                self.text.push_str(&format!("${n}"));
            }
            _ => self.text.push('?'),
        }
        self
    }

    /// Appends `(v1, v2, …)`, each a placeholder.
    fn bind_list(&mut self, values: &[String]) -> &mut Self {
        self.push("(");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(value.as_str());
        }
        self.push(")")
    }

    fn statement(&self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text.as_str(), self.values.clone())
    }
}

/// A row of the search's inner query.
const HIT_COLUMNS: &str = "server_id, server_name, tool_name, definition, score";

impl Store {
    /// One page of the tools of servers in `scopes` that match `search`,
    /// best first, ties by server id then tool name. `pack_ids` of the hits
    /// are left empty (see [`Store::packs_of_servers`]).
    pub async fn search_tools(
        &self,
        scopes: &[String],
        search: &ToolSearch,
        page: &PageRequest<HitKey>,
    ) -> Result<Page<ToolHit, HitKey>, Error> {
        if scopes.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next: None,
                total: 0,
            });
        }
        let backend = self.db.get_database_backend();
        let mut rows = Sql::new(backend);
        rows.push("SELECT ").push(HIT_COLUMNS).push(" FROM (");
        matches(&mut rows, scopes, search);
        rows.push(") AS hits");
        if let Some((bits, server_id, tool_name)) = &page.after {
            let score = f64::from_bits(*bits);
            let c = collate(backend);
            rows.push(" WHERE score < ")
                .bind(score)
                .push(" OR (score = ")
                .bind(score)
                .push(&format!(" AND (server_id{c} > "))
                .bind(server_id.as_str())
                .push(" OR (server_id = ")
                .bind(server_id.as_str())
                .push(&format!(" AND tool_name{c} > "))
                .bind(tool_name.as_str())
                .push(")))");
        }
        let c = collate(backend);
        rows.push(&format!(
            " ORDER BY score DESC, server_id{c}, tool_name{c} LIMIT "
        ))
        .bind(i64::try_from(page.limit + 1).unwrap_or(i64::MAX));
        let found = self.db.query_all_raw(rows.statement()).await?;
        let mut hits = Vec::with_capacity(found.len());
        for row in &found {
            let definition: String = row.try_get("", "definition")?;
            let definition: serde_json::Value =
                serde_json::from_str(&definition).map_err(Error::internal)?;
            let (title, description) = title_and_description(&definition);
            hits.push(ToolHit {
                server_id: row.try_get("", "server_id")?,
                server_name: row.try_get("", "server_name")?,
                tool_name: row.try_get("", "tool_name")?,
                title,
                description,
                score: row.try_get("", "score")?,
                pack_ids: Vec::new(),
            });
        }
        let mut count = Sql::new(backend);
        count.push("SELECT count(*) AS total FROM (");
        matches(&mut count, scopes, search);
        count.push(") AS hits");
        let total: i64 = match self.db.query_one_raw(count.statement()).await? {
            Some(row) => row.try_get("", "total")?,
            None => 0,
        };
        let next = page.cut(&mut hits, ToolHit::key);
        Ok(Page {
            items: hits,
            next,
            total: u64::try_from(total).unwrap_or(0),
        })
    }
}

/// The FTS5 expression of `query` within `scopes`: the scope column (a
/// tool's server's organization id without its `_`, one token, or `catalog`)
/// must be one of them, so the index intersects the query with the caller's
/// scopes before any join.
fn scoped_fts5(scopes: &[String], query: &TextQuery) -> String {
    let scopes: Vec<String> = scopes
        .iter()
        .map(|scope| TextQuery::phrase_fts5(&scope.replace('_', "")))
        .collect();
    format!(
        "{{scope}} : ({}) AND {{name title description}} : ({})",
        scopes.join(" OR "),
        query.fts5()
    )
}

/// The `tsquery` of `query` within `scopes`: one of the scope lexemes of
/// weight D (a tool's server's organization id without its `_`, or
/// `catalog`), and the query. The rank is computed on the query alone.
fn scoped_tsquery(scopes: &[String], query: &TextQuery) -> String {
    let scopes: Vec<String> = scopes
        .iter()
        .map(|scope| format!("'{}':D", scope.replace('_', "").replace('\'', "''")))
        .collect();
    format!("({}) & ({})", scopes.join(" | "), query.tsquery())
}

/// ` COLLATE "C"` on PostgreSQL, so tool names order by bytes as on SQLite.
fn collate(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => " COLLATE \"C\"",
        _ => "",
    }
}

/// Appends the inner query: every matching tool with its score.
fn matches(sql: &mut Sql, scopes: &[String], search: &ToolSearch) {
    let tool = CapabilityKind::Tool.as_str();
    match sql.backend {
        DbBackend::Postgres => {
            sql.push(
                "SELECT c.server_id AS server_id, s.name AS server_name, c.key AS tool_name, \
                 c.definition AS definition, \
                 ts_rank('{0, 0.01, 0.1, 1.0}', c.search, ",
            )
            .bind(search.query.tsquery())
            .push(
                "::tsquery)::float8 AS score \
                 FROM server_capabilities c JOIN mcp_servers s ON s.id = c.server_id \
                 WHERE c.search @@ ",
            )
            .bind(scoped_tsquery(scopes, &search.query))
            .push("::tsquery AND c.kind = ")
            .bind(tool);
        }
        _ => {
            sql.push(
                "SELECT c.server_id AS server_id, s.name AS server_name, c.key AS tool_name, \
                 c.definition AS definition, -bm25(tool_search, 100.0, 10.0, 1.0, 0.0) AS score \
                 FROM tool_search \
                 JOIN tool_search_rows r ON r.id = tool_search.rowid \
                 JOIN server_capabilities c \
                   ON c.server_id = r.server_id AND c.kind = ",
            )
            .bind(tool)
            .push(
                " AND c.key = r.name \
                 JOIN mcp_servers s ON s.id = c.server_id \
                 WHERE tool_search MATCH ",
            )
            .bind(scoped_fts5(scopes, &search.query));
        }
    }
    sql.push(" AND s.scope IN ").bind_list(scopes);
    if let Some(server_id) = &search.server_id {
        sql.push(" AND c.server_id = ").bind(server_id.as_str());
    }
    if let Some(category) = &search.category {
        sql.push(" AND s.category = ").bind(category.as_str());
    }
    if let Some(pack_id) = &search.pack_id {
        sql.push(" AND c.server_id IN (SELECT server_id FROM pack_members WHERE pack_id = ")
            .bind(pack_id.as_str())
            .push(")");
    }
    approval(sql, &search.approval);
}

/// Appends the approval condition: the states of [`McpServer::tool_approval`]
/// from the server's policy and `tool_approvals` (a JSON object, tool name →
/// approved definition hash) against the tool's current hash.
///
/// [`McpServer::tool_approval`]: crate::registry::servers::McpServer::tool_approval
fn approval(sql: &mut Sql, states: &[ToolApproval]) {
    if states.is_empty() {
        return;
    }
    let (approved, recorded) = match sql.backend {
        DbBackend::Postgres => (
            "(s.tool_approvals::jsonb ->> c.key) = c.definition_hash",
            "(s.tool_approvals::jsonb ->> c.key) IS NOT NULL",
        ),
        _ => (
            "EXISTS (SELECT 1 FROM json_each(s.tool_approvals) a \
             WHERE a.key = c.key AND a.value = c.definition_hash)",
            "EXISTS (SELECT 1 FROM json_each(s.tool_approvals) a WHERE a.key = c.key)",
        ),
    };
    let none = ApprovalPolicy::RequireNone.as_str();
    let all = ApprovalPolicy::RequireAll.as_str();
    sql.push(" AND (");
    for (i, state) in states.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("(s.approval_policy = ");
        match state {
            ToolApproval::NotRequired => sql.bind(none),
            ToolApproval::Approved => sql.bind(all).push(" AND ").push(approved),
            ToolApproval::NotApproved => sql.bind(all).push(" AND NOT ").push(recorded),
            ToolApproval::ChangedSinceApproval => sql
                .bind(all)
                .push(" AND ")
                .push(recorded)
                .push(" AND NOT ")
                .push(approved),
        };
        sql.push(")");
    }
    sql.push(")");
}

/// A tool definition's title (`title`, else `annotations.title`) and
/// description; empty when absent or not strings.
fn title_and_description(definition: &serde_json::Value) -> (String, String) {
    let text = |value: Option<&serde_json::Value>| {
        value.and_then(serde_json::Value::as_str).map(str::to_owned)
    };
    let title = text(definition.get("title"))
        .or_else(|| text(definition.pointer("/annotations/title")))
        .unwrap_or_default();
    let description = text(definition.get("description")).unwrap_or_default();
    (title, description)
}

/// The condition "`table`.`id_column` is the id of a row whose text index
/// matches `query`", for the server and pack listings. `index` names the
/// FTS5 table (SQLite) whose `rows` table maps its rowids to ids; on
/// PostgreSQL the row's own `search` column is matched.
pub(crate) fn text_match(
    backend: DbBackend,
    table: &str,
    index: &str,
    rows_id: &str,
    query: &TextQuery,
) -> SimpleExpr {
    match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            format!("\"{table}\".\"search\" @@ $1::tsquery"),
            [query.tsquery()],
        ),
        _ => Expr::cust_with_values(
            format!(
                "\"{table}\".\"id\" IN (SELECT r.{rows_id} FROM {index} \
                 JOIN {index}_rows r ON r.id = {index}.rowid WHERE {index} MATCH ?)"
            ),
            [query.fts5()],
        ),
    }
}

/// The condition "the server currently has a tool named `name`", through
/// `server_capabilities_kind_key_idx`.
pub(crate) fn has_tool(backend: DbBackend, name: &str) -> SimpleExpr {
    let sql = match backend {
        DbBackend::Postgres => {
            "\"mcp_servers\".\"id\" IN (SELECT server_id FROM server_capabilities \
             WHERE kind = $1 AND key = $2)"
        }
        _ => {
            "\"mcp_servers\".\"id\" IN (SELECT server_id FROM server_capabilities \
             WHERE kind = ? AND key = ?)"
        }
    };
    Expr::cust_with_values(sql, [CapabilityKind::Tool.as_str(), name])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_searches_match_the_scopes_in_the_index() {
        let query = TextQuery::parse("jira").expect("query");
        let scopes = ["org_0189ab".to_owned(), "catalog".to_owned()];
        assert_eq!(
            scoped_fts5(&scopes, &query),
            r#"{scope} : ("org0189ab" OR "catalog") AND {name title description} : ("jira")"#
        );
    }

    #[test]
    fn postgres_searches_match_the_scopes_in_the_index() {
        let query = TextQuery::parse("jira").expect("query");
        let scopes = ["org_0189ab".to_owned(), "catalog".to_owned()];
        assert_eq!(
            scoped_tsquery(&scopes, &query),
            "('org0189ab':D | 'catalog':D) & (('jira'))"
        );
    }

    #[test]
    fn titles_come_from_the_tool_or_its_annotations() {
        let own =
            serde_json::json!({"title": "T", "annotations": {"title": "A"}, "description": "D"});
        assert_eq!(title_and_description(&own), ("T".into(), "D".into()));
        let annotated = serde_json::json!({"annotations": {"title": "A"}});
        assert_eq!(
            title_and_description(&annotated),
            ("A".into(), String::new())
        );
        let odd = serde_json::json!({"title": 3, "description": ["x"]});
        assert_eq!(title_and_description(&odd), (String::new(), String::new()));
    }
}
