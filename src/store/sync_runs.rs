//! Queries on `sync_runs`, and the one transaction that stores a successful
//! sync (capabilities, server state, changes, run) or a failed one.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;

use crate::error::Error;
use crate::pagination::{Page, PageRequest};
use crate::registry::Micros;
use crate::registry::audit::AuditEvent;
use crate::registry::runs::{Changes, Outcome, Results, RunFilter, SyncFailure, SyncRun, Trigger};
use crate::registry::servers::{CapabilityKind, ServerInfo, Transport};
use crate::store::audit::insert_audit_event;
use crate::store::entities::sync_run::{ActiveModel, Column, Entity, Model};
use crate::store::servers::{
    find_server, record_sync_state_on, replace_capabilities_on, tool_hashes_on,
};
use crate::store::{NewCapability, Store, SyncState, Topic};

/// Which runs a listing covers.
#[derive(Debug, Clone)]
pub enum RunQuery {
    /// One server's runs.
    Server(String),
    /// The runs of every server in a scope (an organization id or `catalog`).
    Scope(String),
}

/// What a successful discovery found, ready to store.
#[derive(Debug, Clone)]
pub struct SyncSuccess {
    pub at: Micros,
    pub server_info: ServerInfo,
    pub transport: Transport,
    pub protocol_version: String,
    pub results: Results,
    /// Every kind, each with its complete item list (empty for none).
    pub capabilities: Vec<(CapabilityKind, Vec<NewCapability>)>,
}

fn json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(Error::internal)
}

fn name<T: Serialize>(value: &T) -> Result<String, Error> {
    match serde_json::to_value(value).map_err(Error::internal)? {
        serde_json::Value::String(text) => Ok(text),
        other => Err(Error::internal(anyhow!("{other} is not a plain name"))),
    }
}

fn row(run: &SyncRun) -> Result<ActiveModel, Error> {
    Ok(ActiveModel {
        id: Set(run.id.clone()),
        server_id: Set(run.server_id.clone()),
        scope: Set(run.scope.clone()),
        server_name: Set(run.server_name.clone()),
        trigger: Set(name(&run.trigger)?),
        started_at: Set(run.started_at),
        finished_at: Set(run.finished_at),
        outcome: Set(name(&run.outcome)?),
        transport: Set(run.transport.map(|t| t.as_str().to_owned())),
        protocol_version: Set(run.protocol_version.clone()),
        results: Set(json(&run.results)?),
        changes: Set(json(&run.changes)?),
        error: Set(run.error.as_ref().map(json).transpose()?),
        instance_id: Set(run.instance_id.clone()),
    })
}

fn to_domain(row: Model) -> Result<SyncRun, Error> {
    let context = |what: &str| format!("sync run {} has invalid {what}", row.id);
    let plain = |text: &str| serde_json::Value::String(text.to_owned());
    Ok(SyncRun {
        trigger: serde_json::from_value::<Trigger>(plain(&row.trigger))
            .with_context(|| context("trigger"))
            .map_err(Error::internal)?,
        outcome: serde_json::from_value::<Outcome>(plain(&row.outcome))
            .with_context(|| context("outcome"))
            .map_err(Error::internal)?,
        transport: row.transport.as_deref().and_then(Transport::parse),
        results: serde_json::from_str(&row.results)
            .with_context(|| context("results"))
            .map_err(Error::internal)?,
        changes: serde_json::from_str(&row.changes)
            .with_context(|| context("changes"))
            .map_err(Error::internal)?,
        error: row
            .error
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .with_context(|| context("error"))
            .map_err(Error::internal)?,
        id: row.id,
        server_id: row.server_id,
        scope: row.scope,
        server_name: row.server_name,
        started_at: row.started_at,
        finished_at: row.finished_at,
        protocol_version: row.protocol_version,
        instance_id: row.instance_id,
    })
}

impl Store {
    /// Records a run that has just started (outcome RUNNING); a run a caller
    /// asked for (SyncMcpServer) comes with its audit event, inserted in the
    /// same transaction.
    pub async fn insert_sync_run(
        &self,
        run: &SyncRun,
        event: Option<&AuditEvent>,
    ) -> Result<(), Error> {
        let Some(event) = event else {
            Entity::insert(row(run)?)
                .exec_without_returning(&self.db)
                .await?;
            return Ok(());
        };
        let txn = self.begin_write().await?;
        Entity::insert(row(run)?)
            .exec_without_returning(&txn)
            .await?;
        insert_audit_event(&txn, event).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Stores a successful sync in one transaction: every kind of capability
    /// replaced, the changes to the tools computed against what was stored,
    /// the server's sync state, and the finished run. Returns the run.
    pub async fn finish_sync_success(
        &self,
        run: &SyncRun,
        success: SyncSuccess,
    ) -> Result<SyncRun, Error> {
        let txn = self.begin_write().await?;
        let server = find_server(&txn, &run.server_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "mcp server",
                id: run.server_id.clone(),
            })?;
        let old_tools = tool_hashes_on(&txn, &run.server_id).await?;
        let new_tools: BTreeMap<String, String> = success
            .capabilities
            .iter()
            .filter(|(kind, _)| *kind == CapabilityKind::Tool)
            .flat_map(|(_, items)| {
                items
                    .iter()
                    .map(|i| (i.key.clone(), i.definition_hash.clone()))
            })
            .collect();
        let changes = Changes::between(
            &old_tools,
            &new_tools,
            server.approval_policy,
            &server.tool_approvals,
        );
        for (kind, items) in &success.capabilities {
            replace_capabilities_on(&txn, &run.server_id, *kind, items, success.at).await?;
        }
        record_sync_state_on(
            &txn,
            &run.server_id,
            &SyncState {
                at: success.at,
                succeeded: true,
                server_info: Some(success.server_info),
                detected_transport: Some(success.transport),
                error: None,
            },
        )
        .await?;
        let finished = SyncRun {
            finished_at: Some(success.at),
            outcome: Outcome::Succeeded,
            transport: Some(success.transport),
            protocol_version: success.protocol_version,
            results: success.results,
            changes,
            error: None,
            ..run.clone()
        };
        Entity::update(row(&finished)?).exec(&txn).await?;
        txn.commit().await?;
        self.changed(Topic::Server(&run.server_id));
        Ok(finished)
    }

    /// Stores a failed sync: the server keeps its capabilities, gets status
    /// ERROR (unless disabled) and the error; the run is finished FAILED.
    pub async fn finish_sync_failure(&self, run: &SyncRun) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        let at = run.finished_at.unwrap_or(run.started_at);
        record_sync_state_on(
            &txn,
            &run.server_id,
            &SyncState {
                at,
                succeeded: false,
                server_info: None,
                detected_transport: None,
                error: run.error.clone(),
            },
        )
        .await?;
        Entity::update(row(run)?).exec(&txn).await?;
        txn.commit().await?;
        self.changed(Topic::Server(&run.server_id));
        Ok(())
    }

    /// Returns one run.
    pub async fn get_sync_run(&self, id: &str) -> Result<Option<SyncRun>, Error> {
        Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// Lists runs newest first (ids are UUIDv7, so id order is start order)
    /// that `filter` keeps. The indexes on `(scope, started_at)`,
    /// `(server_id, started_at)` and `(scope, outcome, id)` keep a filtered
    /// page from reading runs outside the filter.
    pub async fn list_sync_runs(
        &self,
        query: &RunQuery,
        filter: &RunFilter,
        page: &PageRequest<String>,
    ) -> Result<Page<SyncRun, String>, Error> {
        let mut scope = Condition::all().add(match query {
            RunQuery::Server(id) => Column::ServerId.eq(id.as_str()),
            RunQuery::Scope(scope) => Column::Scope.eq(scope.as_str()),
        });
        if !filter.outcomes().is_empty() {
            let outcomes = filter.outcomes().iter().map(name);
            scope = scope.add(Column::Outcome.is_in(outcomes.collect::<Result<Vec<_>, _>>()?));
        }
        if let Some(after) = filter.started_after() {
            scope = scope.add(Column::StartedAt.gte(after));
        }
        if let Some(before) = filter.started_before() {
            scope = scope.add(Column::StartedAt.lt(before));
        }
        let mut select = Entity::find()
            .filter(scope.clone())
            .order_by_desc(Column::Id);
        if let Some(before) = &page.after {
            select = select.filter(Column::Id.lt(before.as_str()));
        }
        let mut rows = select.limit(page.limit + 1).all(&self.db).await?;
        let total = Entity::find().filter(scope).count(&self.db).await?;
        let next = page.cut(&mut rows, |row| row.id.clone());
        Ok(Page {
            items: rows.into_iter().map(to_domain).collect::<Result<_, _>>()?,
            next,
            total,
        })
    }

    /// Marks runs of any replica still RUNNING after `started_before` as
    /// failed: no sync outlives its lease, so their replica died (a crash).
    pub async fn fail_stale_runs(&self, started_before: Micros, at: Micros) -> Result<u64, Error> {
        self.fail_running(
            Column::StartedAt.lt(started_before),
            "the sync was interrupted: its replica stopped before finishing it",
            SyncFailure::UpstreamUnreachable,
            at,
        )
        .await
    }

    /// Marks runs left RUNNING by `instance_id` (a replica that stopped) as failed.
    pub async fn fail_abandoned_runs(&self, instance_id: &str, at: Micros) -> Result<u64, Error> {
        self.fail_running(
            Column::InstanceId.eq(instance_id),
            "the sync was interrupted by a shutdown",
            SyncFailure::UpstreamUnreachable,
            at,
        )
        .await
    }

    /// Fails a RUNNING run whose result could not be stored, so that it does
    /// not stay RUNNING; the server keeps its state until its next sync.
    pub async fn fail_unstored_run(&self, id: &str, at: Micros) -> Result<u64, Error> {
        self.fail_running(
            Column::Id.eq(id),
            "the sync's result could not be stored; the next sync tries again",
            SyncFailure::Internal,
            at,
        )
        .await
    }

    /// Returns the newest RUNNING run of a server, if any.
    pub async fn running_sync_run(&self, server_id: &str) -> Result<Option<SyncRun>, Error> {
        Entity::find()
            .filter(Column::Outcome.eq(name(&Outcome::Running)?))
            .filter(Column::ServerId.eq(server_id))
            .order_by_desc(Column::Id)
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// Fails the RUNNING runs that `which` selects, with `message`; each
    /// run's error names the run. The server's own state is left to its
    /// next sync.
    async fn fail_running(
        &self,
        which: sea_orm::sea_query::SimpleExpr,
        message: &str,
        reason: SyncFailure,
        at: Micros,
    ) -> Result<u64, Error> {
        let running = name(&Outcome::Running)?;
        let ids: Vec<String> = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::Outcome.eq(running.as_str()))
            .filter(which)
            .into_tuple()
            .all(&self.db)
            .await?;
        let failed = name(&Outcome::Failed)?;
        let mut count = 0;
        for id in ids {
            let error = json(&crate::registry::servers::LastError {
                reason,
                message: message.into(),
                occurred_at: at,
                sync_run_id: id.clone(),
            })?;
            // Still RUNNING: a run that finished meanwhile keeps its outcome.
            let result = Entity::update_many()
                .col_expr(Column::Outcome, Expr::value(failed.as_str()))
                .col_expr(Column::FinishedAt, Expr::value(at))
                .col_expr(Column::Error, Expr::value(error))
                .filter(Column::Id.eq(id))
                .filter(Column::Outcome.eq(running.as_str()))
                .exec(&self.db)
                .await?;
            count += result.rows_affected;
        }
        Ok(count)
    }
}
