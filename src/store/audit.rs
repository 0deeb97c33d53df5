//! Queries on `audit_events` and `tool_calls` (migration 000015).
//!
//! Audit events are inserted by the write functions of the other modules,
//! inside their transactions ([`insert_audit_event`]); call records in
//! batches by the gateway's background writer. Listings are keyset pages
//! newest first on `(at, id)`, each filter served by an index that starts
//! with the scope; pruning deletes the oldest rows by `at`, a bounded batch
//! per statement.

use anyhow::anyhow;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

use crate::error::Error;
use crate::pagination::{Page, PageRequest};
use crate::registry::CATALOG_SCOPE;
use crate::registry::Micros;
use crate::registry::audit::{
    AuditEvent, CallFilter, CallOutcome, Cursor, EventFilter, ResourceType, ToolCall,
};
use crate::store::Store;
use crate::store::entities::{audit_event, tool_call};

/// Most call records one insert statement takes (a power of two; 13
/// parameters a row).
const INSERT_ROWS: usize = 128;

/// Inserts `event` on `db`: the transaction of the change it records.
pub(crate) async fn insert_audit_event<C: ConnectionTrait>(
    db: &C,
    event: &AuditEvent,
) -> Result<(), Error> {
    let row = audit_event::ActiveModel {
        id: Set(event.id.clone()),
        scope: Set(event.scope().to_owned()),
        at: Set(event.at),
        actor: Set(event.actor.clone()),
        actor_subject: Set(event.actor_subject.clone()),
        request_id: Set(event.request_id.clone()),
        action: Set(event.action.clone()),
        resource_type: Set(event.resource_type.as_str().to_owned()),
        resource_id: Set(event.resource_id.clone()),
        changes: Set(serde_json::to_string(&event.changes).map_err(Error::internal)?),
    };
    audit_event::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Which table a pruning statement deletes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditTable {
    AuditEvents,
    ToolCalls,
}

impl AuditTable {
    /// The table's name (also the metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuditEvents => "audit_events",
            Self::ToolCalls => "tool_calls",
        }
    }
}

/// The time range `[start, end)` of a listing and, on a later page, the rows
/// after the cursor in `(at, id)` order newest first: the part both listings
/// share, on either table's `at` and `id` columns.
fn newest_first<C: ColumnTrait>(
    (at, id): (C, C),
    (start, end): (Option<Micros>, Option<Micros>),
    after: Option<&Cursor>,
) -> Condition {
    let mut condition = Condition::all();
    if let Some(start) = start {
        condition = condition.add(at.gte(start));
    }
    if let Some(end) = end {
        condition = condition.add(at.lt(end));
    }
    if let Some((last_at, last_id)) = after {
        condition = condition.add(
            Condition::any().add(at.lt(*last_at)).add(
                Condition::all()
                    .add(at.eq(*last_at))
                    .add(id.lt(last_id.as_str())),
            ),
        );
    }
    condition
}

impl Store {
    /// Lists the audit events of `scope` that match `filter`, newest first.
    pub async fn list_audit_events(
        &self,
        scope: &str,
        filter: &EventFilter,
        page: &PageRequest<Cursor>,
    ) -> Result<Page<AuditEvent, Cursor>, Error> {
        use audit_event::Column;
        let mut condition = Condition::all().add(Column::Scope.eq(scope));
        if let Some((kind, id)) = &filter.resource {
            condition = condition.add(Column::ResourceType.eq(kind.as_str()));
            if let Some(id) = id {
                condition = condition.add(Column::ResourceId.eq(id.as_str()));
            }
        }
        if let Some(actor) = &filter.actor {
            condition = condition.add(Column::Actor.eq(actor.as_str()));
        }
        if let Some(action) = &filter.action {
            condition = condition.add(Column::Action.eq(action.as_str()));
        }
        condition = condition.add(newest_first(
            (Column::At, Column::Id),
            (filter.start, filter.end),
            page.after.as_ref(),
        ));
        let mut rows = audit_event::Entity::find()
            .filter(condition)
            .order_by_desc(Column::At)
            .order_by_desc(Column::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let next = page.cut(&mut rows, |row| (row.at, row.id.clone()));
        Ok(Page {
            items: rows
                .into_iter()
                .map(event_to_domain)
                .collect::<Result<_, _>>()?,
            next,
            total: 0,
        })
    }

    /// Lists the call records of organization `scope` matching `filter`,
    /// newest first. The catalog scope has no calls.
    pub async fn list_tool_calls(
        &self,
        scope: &str,
        filter: &CallFilter,
        page: &PageRequest<Cursor>,
    ) -> Result<Page<ToolCall, Cursor>, Error> {
        use tool_call::Column;
        if scope == CATALOG_SCOPE {
            return Ok(Page {
                items: Vec::new(),
                next: None,
                total: 0,
            });
        }
        let mut condition = Condition::all().add(Column::OrganizationId.eq(scope));
        for (column, value) in [
            (Column::PackId, &filter.pack_id),
            (Column::ServerId, &filter.server_id),
            (Column::KeyId, &filter.key_id),
        ] {
            if let Some(value) = value {
                condition = condition.add(column.eq(value.as_str()));
            }
        }
        if let Some(outcome) = filter.outcome {
            condition = condition.add(Column::Outcome.eq(outcome.as_str()));
        }
        condition = condition.add(newest_first(
            (Column::At, Column::Id),
            (filter.start, filter.end),
            page.after.as_ref(),
        ));
        let mut rows = tool_call::Entity::find()
            .filter(condition)
            .order_by_desc(Column::At)
            .order_by_desc(Column::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let next = page.cut(&mut rows, |row| (row.at, row.id.clone()));
        Ok(Page {
            items: rows
                .into_iter()
                .map(call_to_domain)
                .collect::<Result<_, _>>()?,
            next,
            total: 0,
        })
    }

    /// Inserts call records in one transaction (on SQLite one savepoint of
    /// the group commit), in statements of 128, 64, … 1 rows: a handful of
    /// statement texts, each prepared once per connection and then taken from
    /// the statement cache (a statement for any count would be parsed and
    /// compiled anew every time, thousands of placeholders).
    pub async fn insert_tool_calls(&self, calls: &[ToolCall]) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        let mut rest = calls;
        while !rest.is_empty() {
            let size = rest.len().min(INSERT_ROWS);
            let size = 1 << size.ilog2();
            let (chunk, after) = rest.split_at(size);
            rest = after;
            let rows = chunk.iter().map(|c| tool_call::ActiveModel {
                id: Set(c.id.clone()),
                organization_id: Set(c.organization_id.clone()),
                at: Set(c.at),
                key_id: Set(c.key_id.clone()),
                pack_id: Set(c.pack_id.clone()),
                pack_version: Set(c.pack_version),
                server_id: Set(c.server_id.clone()),
                tool_name: Set(c.tool_name.clone()),
                called_name: Set(c.called_name.clone()),
                outcome: Set(c.outcome.as_str().to_owned()),
                detail: Set(c.detail.clone()),
                duration_micros: Set(c.duration_micros),
                request_id: Set(c.request_id.clone()),
            });
            tool_call::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Deletes at most `limit` rows of `table` older than `before`, oldest
    /// first, in one short statement (the index on `at` finds them); returns
    /// how many it deleted. Writers wait at most for one batch.
    pub async fn prune(&self, table: AuditTable, before: Micros, limit: u64) -> Result<u64, Error> {
        let name = table.as_str();
        let sql = format!(
            "DELETE FROM {name} WHERE id IN \
             (SELECT id FROM {name} WHERE at < $1 ORDER BY at LIMIT $2)"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let result = self
            .db
            .execute_raw(Statement::from_sql_and_values(
                self.backend(),
                sql,
                [before.into(), limit.into()],
            ))
            .await?;
        Ok(result.rows_affected())
    }
}

fn event_to_domain(row: audit_event::Model) -> Result<AuditEvent, Error> {
    let resource_type = ResourceType::parse(&row.resource_type).ok_or_else(|| {
        Error::internal(anyhow!(
            "audit event {} has unknown resource type {:?}",
            row.id,
            row.resource_type
        ))
    })?;
    let changes = serde_json::from_str(&row.changes).map_err(|err| {
        Error::internal(anyhow!(
            "audit event {} has unreadable changes: {err}",
            row.id
        ))
    })?;
    Ok(AuditEvent {
        organization_id: (row.scope != CATALOG_SCOPE).then_some(row.scope),
        id: row.id,
        at: row.at,
        actor: row.actor,
        actor_subject: row.actor_subject,
        request_id: row.request_id,
        action: row.action,
        resource_type,
        resource_id: row.resource_id,
        changes,
    })
}

fn call_to_domain(row: tool_call::Model) -> Result<ToolCall, Error> {
    let outcome = CallOutcome::parse(&row.outcome).ok_or_else(|| {
        Error::internal(anyhow!(
            "tool call {} has unknown outcome {:?}",
            row.id,
            row.outcome
        ))
    })?;
    Ok(ToolCall {
        id: row.id,
        organization_id: row.organization_id,
        at: row.at,
        key_id: row.key_id,
        pack_id: row.pack_id,
        pack_version: row.pack_version,
        server_id: row.server_id,
        tool_name: row.tool_name,
        called_name: row.called_name,
        outcome,
        detail: row.detail,
        duration_micros: row.duration_micros,
        request_id: row.request_id,
    })
}
