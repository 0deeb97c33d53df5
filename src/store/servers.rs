//! Queries on `mcp_servers` and `server_capabilities`.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, anyhow};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::pagination::{Page, PageRequest};
use crate::registry::audit::AuditEvent;
use crate::registry::search::TextQuery;
use crate::registry::servers::{
    ApprovalPolicy, AuthType, Capability, CapabilityKind, McpServer, ServerStatus,
    ToolConfiguration, Transport, Visibility,
};
use crate::registry::{Micros, Owner};
use crate::store::audit::insert_audit_event;
use crate::store::conn::Shape;
use crate::store::entities::mcp_server::{self, Column, Entity};
use crate::store::entities::server_capability as cap;
use crate::store::search::{has_tool, text_match};
use crate::store::secrets::replace_references;
use crate::store::{Store, Topic, unique_violation};

/// Which servers a listing covers.
#[derive(Debug, Clone, Default)]
pub struct ServerQuery {
    /// Name scopes to include: organization ids and/or `catalog`.
    pub scopes: Vec<String>,
    pub status: Option<ServerStatus>,
    pub category: Option<String>,
    pub name_prefix: Option<String>,
    /// Only servers whose name, display name or description match.
    pub text: Option<TextQuery>,
    /// Only servers that currently have a tool with exactly this name.
    pub tool_name: Option<String>,
    /// Only what this owner created (through `mcp_servers_scope_subject_idx`
    /// for a subject).
    pub owner: Option<Owner>,
}

/// What a finished sync writes on its server: only columns that syncs own,
/// never the configuration, the revision or the etag.
#[derive(Debug, Clone)]
pub struct SyncState {
    pub at: Micros,
    pub succeeded: bool,
    /// Set by a successful sync.
    pub server_info: Option<crate::registry::servers::ServerInfo>,
    pub detected_transport: Option<Transport>,
    /// Set by a failed sync.
    pub error: Option<crate::registry::servers::LastError>,
}

/// A capability to store, from a sync.
#[derive(Debug, Clone)]
pub struct NewCapability {
    pub kind: CapabilityKind,
    pub key: String,
    pub definition: serde_json::Value,
    pub definition_hash: String,
}

impl Store {
    /// Inserts a new server with its audit event; ALREADY_EXISTS when its
    /// name is taken in its scope.
    pub async fn insert_server(&self, server: &McpServer, event: &AuditEvent) -> Result<(), Error> {
        let row = to_row(server)?;
        let txn = self.begin_write().await?;
        Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(|err| unique_violation(err, "mcp server", &server.name))?;
        replace_references(&txn, server, true).await?;
        insert_audit_event(&txn, event).await?;
        txn.commit().await?;
        self.changed(Topic::Scope(server.scope()));
        Ok(())
    }

    /// Returns the server with `id`.
    pub async fn get_server(&self, id: &str) -> Result<Option<McpServer>, Error> {
        find_server(&self.db, id).await
    }

    /// Returns the server with `id` and, when `packs_of` names an
    /// organization, the ids of its packs holding the server (in id order),
    /// read in one statement.
    pub async fn get_server_with_packs(
        &self,
        id: &str,
        packs_of: Option<&str>,
    ) -> Result<Option<(McpServer, Vec<String>)>, Error> {
        static BY_ID: [Shape; 2] = [Shape::new(), Shape::new()];
        let backend = self.db.get_database_backend();
        let values = pack_ids_values(packs_of, [id.into()]);
        let stmt = BY_ID[usize::from(packs_of.is_some())].statement(backend, values, || {
            select_with_pack_ids(by_id(id), packs_of, backend)
        });
        Ok(read_with_pack_ids(&self.db, stmt, packs_of).await?.pop())
    }

    /// Returns the server named `name` in `scope`, with its pack ids as
    /// [`Store::get_server_with_packs`] does.
    pub async fn get_server_by_name_with_packs(
        &self,
        scope: &str,
        name: &str,
        packs_of: Option<&str>,
    ) -> Result<Option<(McpServer, Vec<String>)>, Error> {
        static BY_NAME: [Shape; 2] = [Shape::new(), Shape::new()];
        let backend = self.db.get_database_backend();
        let values = pack_ids_values(packs_of, [scope.into(), name.into()]);
        let stmt = BY_NAME[usize::from(packs_of.is_some())].statement(backend, values, || {
            select_with_pack_ids(by_name(scope, name), packs_of, backend)
        });
        Ok(read_with_pack_ids(&self.db, stmt, packs_of).await?.pop())
    }

    /// Returns the server named `name` in `scope` (an organization id or `catalog`).
    pub async fn get_server_by_name(
        &self,
        scope: &str,
        name: &str,
    ) -> Result<Option<McpServer>, Error> {
        find_server_by_name(&self.db, scope, name).await
    }

    /// Which of `names` are taken in `scope` (one query).
    pub async fn taken_server_names(
        &self,
        scope: &str,
        names: &[String],
    ) -> Result<Vec<String>, Error> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        Ok(Entity::find()
            .select_only()
            .column(Column::Name)
            .filter(Column::Scope.eq(scope))
            .filter(Column::Name.is_in(names.iter().cloned()))
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// Counts servers by status (for the `mcp_registry_servers` gauge).
    pub async fn count_servers_by_status(&self) -> Result<Vec<(String, i64)>, Error> {
        Ok(Entity::find()
            .select_only()
            .column(Column::Status)
            .column_as(Column::Id.count(), "count")
            .group_by(Column::Status)
            .into_tuple::<(String, i64)>()
            .all(&self.db)
            .await?)
    }

    /// Returns the servers with these ids (missing ones are left out).
    pub async fn get_servers(&self, ids: &[String]) -> Result<Vec<McpServer>, Error> {
        find_servers(&self.db, ids).await
    }

    /// Returns the tools of each of these servers, by name.
    pub async fn tools_of_servers(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<Capability>>, Error> {
        self.capabilities_of_servers(ids, CapabilityKind::Tool)
            .await
    }

    /// Returns the capabilities of `kind` of each of these servers, by key.
    pub async fn capabilities_of_servers(
        &self,
        ids: &[String],
        kind: CapabilityKind,
    ) -> Result<HashMap<String, Vec<Capability>>, Error> {
        let mut out: HashMap<String, Vec<Capability>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let rows = cap::Entity::find()
            .filter(cap::Column::ServerId.is_in(ids.iter().map(String::as_str)))
            .filter(cap::Column::Kind.eq(kind.as_str()))
            .order_by_asc(cap::Column::ServerId)
            .order_by_asc(cap::Column::Key)
            .all(&self.db)
            .await?;
        for row in rows {
            let server_id = row.server_id.clone();
            out.entry(server_id)
                .or_default()
                .push(capability_to_domain(row)?);
        }
        Ok(out)
    }

    /// Lists servers in id (= creation) order after the page cursor, each
    /// with the ids of `packs_of`'s packs holding it (empty without
    /// `packs_of`), read in the page's statement.
    pub async fn list_servers(
        &self,
        query: &ServerQuery,
        page: &PageRequest<String>,
        packs_of: Option<&str>,
    ) -> Result<Page<(McpServer, Vec<String>), String>, Error> {
        if query.scopes.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next: None,
                total: 0,
            });
        }
        let mut condition = Condition::all().add(Column::Scope.is_in(query.scopes.clone()));
        if let Some(status) = query.status {
            condition = condition.add(Column::Status.eq(status.as_str()));
        }
        if let Some(category) = &query.category {
            condition = condition.add(Column::Category.eq(category.as_str()));
        }
        match &query.owner {
            Some(Owner::Subject(subject)) => {
                condition = condition.add(Column::CreatedBySubject.eq(subject.as_str()));
            }
            Some(Owner::Key(key)) => {
                condition = condition
                    .add(Column::CreatedBySubject.is_null())
                    .add(Column::CreatedBy.eq(key.as_str()));
            }
            None => {}
        }
        if let Some(prefix) = &query.name_prefix {
            // `_` is a LIKE wildcard and may appear in names: escape it.
            let escaped = prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            condition = condition.add(
                Expr::col(Column::Name).like(LikeExpr::new(format!("{escaped}%")).escape('\\')),
            );
        }
        let backend = self.db.get_database_backend();
        if let Some(text) = &query.text {
            let matched = text_match(backend, "mcp_servers", "server_search", "server_id", text);
            condition = condition.add(matched);
        }
        if let Some(name) = &query.tool_name {
            condition = condition.add(has_tool(backend, name));
        }
        let mut select = Entity::find()
            .filter(condition.clone())
            .order_by_asc(Column::Id);
        if let Some(after) = &page.after {
            select = select.filter(Column::Id.gt(after.as_str()));
        }
        let stmt = select_with_pack_ids(select.limit(page.limit + 1), packs_of, backend);
        let mut rows = read_with_pack_ids(&self.db, stmt, packs_of).await?;
        let total = Entity::find().filter(condition).count(&self.db).await?;
        let next = page.cut(&mut rows, |(server, _)| server.id.clone());
        Ok(Page {
            items: rows,
            next,
            total,
        })
    }

    /// Writes what a caller may change (configuration, approvals), only while
    /// the row still has `expected_revision`; the server's `revision` must be
    /// the next one. The sync state (`status`, `detected_transport`,
    /// `next_sync_at`) is written only with `reset_sync_state`, when this
    /// change decides it (a new connection, enabling, disabling), so that an
    /// update never undoes what a concurrent sync recorded. `event` is
    /// inserted in the same transaction when the update happens.
    pub async fn update_server(
        &self,
        server: &McpServer,
        expected_revision: i64,
        reset_sync_state: bool,
        event: &AuditEvent,
    ) -> Result<(), Error> {
        let mut row = to_row(server)?;
        if reset_sync_state {
            // A new connection (or re-enabling) starts a fresh backoff.
            row.consecutive_failures = Set(0);
        } else {
            row.status = NotSet;
            row.detected_transport = NotSet;
            row.next_sync_at = NotSet;
        }
        // Identity, ownership and what syncs write are not the caller's to change.
        row.server_info = NotSet;
        row.last_error = NotSet;
        row.id = NotSet;
        row.organization_id = NotSet;
        row.scope = NotSet;
        row.visibility = NotSet;
        row.last_synced_at = NotSet;
        row.last_successful_sync_at = NotSet;
        row.tool_count = NotSet;
        row.prompt_count = NotSet;
        row.resource_count = NotSet;
        row.resource_template_count = NotSet;
        row.created_at = NotSet;
        row.created_by = NotSet;
        row.created_by_subject = NotSet;
        let txn = self.begin_write().await?;
        let result = Entity::update_many()
            .set(row)
            .filter(Column::Id.eq(server.id.as_str()))
            .filter(Column::Revision.eq(expected_revision))
            .exec(&txn)
            .await
            .map_err(|err| unique_violation(err, "mcp server", &server.name))?;
        if result.rows_affected == 1 {
            replace_references(&txn, server, false).await?;
            insert_audit_event(&txn, event).await?;
            txn.commit().await?;
            self.changed(Topic::Server(&server.id));
            self.changed(Topic::Scope(server.scope()));
            return Ok(());
        }
        txn.rollback().await?;
        match self.get_server(&server.id).await? {
            None => Err(Error::NotFound {
                kind: "mcp server",
                id: server.id.clone(),
            }),
            Some(_) => Err(Error::EtagMismatch {
                kind: "mcp server",
                id: server.id.clone(),
            }),
        }
    }

    /// Deletes a server of `scope` (its capabilities go with it) if it still
    /// has `expected_revision`, with its audit event in the same transaction.
    pub async fn delete_server(
        &self,
        scope: &str,
        id: &str,
        expected_revision: i64,
        event: &AuditEvent,
    ) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        cap::Entity::delete_many()
            .filter(cap::Column::ServerId.eq(id))
            .exec(&txn)
            .await?;
        let result = Entity::delete_many()
            .filter(Column::Id.eq(id))
            .filter(Column::Revision.eq(expected_revision))
            .exec(&txn)
            .await
            .map_err(|err| match err.sql_err() {
                Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
                    Error::InUse(format!("server {id} was added to a pack meanwhile; retry"))
                }
                _ => Error::from(err),
            })?;
        if result.rows_affected == 1 {
            insert_audit_event(&txn, event).await?;
            txn.commit().await?;
            self.changed(Topic::Server(id));
            self.changed(Topic::Scope(scope));
            return Ok(());
        }
        txn.rollback().await?;
        match self.get_server(id).await? {
            None => Err(Error::NotFound {
                kind: "mcp server",
                id: id.to_owned(),
            }),
            Some(_) => Err(Error::EtagMismatch {
                kind: "mcp server",
                id: id.to_owned(),
            }),
        }
    }

    /// Lists a server's capabilities of `kinds`, ordered by (kind, key).
    pub async fn list_capabilities(
        &self,
        server_id: &str,
        kinds: &[CapabilityKind],
        page: &PageRequest<(String, String)>,
    ) -> Result<Page<Capability, (String, String)>, Error> {
        let scope = Condition::all()
            .add(cap::Column::ServerId.eq(server_id))
            .add(cap::Column::Kind.is_in(kinds.iter().map(|k| k.as_str())));
        let mut select = cap::Entity::find()
            .filter(scope.clone())
            .order_by_asc(cap::Column::Kind)
            .order_by_asc(cap::Column::Key);
        if let Some((kind, key)) = &page.after {
            select = select.filter(
                Condition::any()
                    .add(cap::Column::Kind.gt(kind.as_str()))
                    .add(
                        Condition::all()
                            .add(cap::Column::Kind.eq(kind.as_str()))
                            .add(cap::Column::Key.gt(key.as_str())),
                    ),
            );
        }
        let mut rows = select.limit(page.limit + 1).all(&self.db).await?;
        let total = cap::Entity::find().filter(scope).count(&self.db).await?;
        let next = page.cut(&mut rows, |row| (row.kind.clone(), row.key.clone()));
        Ok(Page {
            items: rows
                .into_iter()
                .map(capability_to_domain)
                .collect::<Result<_, _>>()?,
            next,
            total,
        })
    }

    /// Returns every tool of a server, by name.
    pub async fn server_tools(&self, server_id: &str) -> Result<Vec<Capability>, Error> {
        cap::Entity::find()
            .filter(cap::Column::ServerId.eq(server_id))
            .filter(cap::Column::Kind.eq(CapabilityKind::Tool.as_str()))
            .order_by_asc(cap::Column::Key)
            .all(&self.db)
            .await?
            .into_iter()
            .map(capability_to_domain)
            .collect()
    }

    /// Records the outcome of a sync: status CONNECTED or ERROR (a disabled
    /// server stays DISABLED), times, error, server info, detected transport.
    pub async fn record_sync_state(&self, server_id: &str, state: &SyncState) -> Result<(), Error> {
        record_sync_state_on(&self.db, server_id, state).await?;
        self.changed(Topic::Server(server_id));
        Ok(())
    }

    /// Replaces a server's stored capabilities of `kind` with `items` in one
    /// transaction: unchanged items keep their times, changed ones get a new
    /// `changed_at`, missing ones are deleted; the server's count is updated.
    pub async fn replace_capabilities(
        &self,
        server_id: &str,
        kind: CapabilityKind,
        items: &[NewCapability],
        now: Micros,
    ) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        replace_capabilities_on(&txn, server_id, kind, items, now).await?;
        txn.commit().await?;
        self.changed(Topic::Server(server_id));
        Ok(())
    }
}

/// Writes a sync's outcome on the server row, on any connection, and counts
/// the write in its `sync_revision`.
pub(crate) async fn record_sync_state_on<C: ConnectionTrait>(
    db: &C,
    server_id: &str,
    state: &SyncState,
) -> Result<(), Error> {
    let status = if state.succeeded {
        ServerStatus::Connected
    } else {
        ServerStatus::Error
    };
    let mut update = Entity::update_many()
        .col_expr(
            Column::Status,
            Expr::case(
                Expr::col(Column::Enabled).eq(false),
                ServerStatus::Disabled.as_str(),
            )
            .finally(status.as_str())
            .into(),
        )
        .col_expr(Column::LastSyncedAt, Expr::value(state.at))
        .col_expr(Column::SyncRevision, Expr::col(Column::SyncRevision).add(1))
        .col_expr(
            Column::LastError,
            Expr::value(state.error.as_ref().map(json).transpose()?),
        )
        .filter(Column::Id.eq(server_id));
    if state.succeeded {
        update = update.col_expr(Column::LastSuccessfulSyncAt, Expr::value(state.at));
    }
    if let Some(info) = &state.server_info {
        update = update.col_expr(Column::ServerInfo, Expr::value(json(info)?));
        crate::store::watches::set_announcing_on(db, server_id, info.announces_changes()).await?;
    }
    if let Some(transport) = state.detected_transport {
        update = update.col_expr(Column::DetectedTransport, Expr::value(transport.as_str()));
    }
    update.exec(db).await?;
    Ok(())
}

/// Returns a server's tools as name → definition hash, on any connection.
pub(crate) async fn tool_hashes_on<C: ConnectionTrait>(
    db: &C,
    server_id: &str,
) -> Result<HashMap<String, String>, Error> {
    Ok(cap::Entity::find()
        .select_only()
        .column(cap::Column::Key)
        .column(cap::Column::DefinitionHash)
        .filter(cap::Column::ServerId.eq(server_id))
        .filter(cap::Column::Kind.eq(CapabilityKind::Tool.as_str()))
        .into_tuple::<(String, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// Replaces one kind of capability of a server, on any connection, and
/// counts the write in the server's `sync_revision`.
pub(crate) async fn replace_capabilities_on<C: ConnectionTrait>(
    txn: &C,
    server_id: &str,
    kind: CapabilityKind,
    items: &[NewCapability],
    now: Micros,
) -> Result<(), Error> {
    let existing: HashMap<String, cap::Model> = cap::Entity::find()
        .filter(cap::Column::ServerId.eq(server_id))
        .filter(cap::Column::Kind.eq(kind.as_str()))
        .all(txn)
        .await?
        .into_iter()
        .map(|row| (row.key.clone(), row))
        .collect();
    cap::Entity::delete_many()
        .filter(cap::Column::ServerId.eq(server_id))
        .filter(cap::Column::Kind.eq(kind.as_str()))
        .exec(txn)
        .await?;
    let mut rows = Vec::with_capacity(items.len());
    for item in items {
        let (discovered_at, changed_at) = match existing.get(&item.key) {
            Some(old) if old.definition_hash == item.definition_hash => {
                (old.discovered_at, old.changed_at)
            }
            Some(old) => (old.discovered_at, now),
            None => (now, now),
        };
        rows.push(cap::ActiveModel {
            server_id: Set(server_id.to_owned()),
            kind: Set(kind.as_str().to_owned()),
            key: Set(item.key.clone()),
            definition: Set(item.definition.to_string()),
            definition_hash: Set(item.definition_hash.clone()),
            discovered_at: Set(discovered_at),
            changed_at: Set(changed_at),
        });
    }
    // Bounded batches keep every statement under the backends' bind limits.
    for chunk in rows.chunks(200) {
        cap::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    let count_column = match kind {
        CapabilityKind::Tool => Column::ToolCount,
        CapabilityKind::Prompt => Column::PromptCount,
        CapabilityKind::Resource => Column::ResourceCount,
        CapabilityKind::ResourceTemplate => Column::ResourceTemplateCount,
    };
    Entity::update_many()
        .col_expr(count_column, Expr::value(items.len() as i64))
        .col_expr(Column::SyncRevision, Expr::col(Column::SyncRevision).add(1))
        .filter(Column::Id.eq(server_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// The column [`read_with_pack_ids`] adds: the pack ids, comma-separated.
const PACK_IDS: &str = "pack_ids";

/// The server with `id` (one row at most).
pub(super) fn by_id(id: &str) -> sea_orm::Select<Entity> {
    Entity::find_by_id(id.to_owned())
}

/// The server named `name` in `scope` (one row at most).
pub(super) fn by_name(scope: &str, name: &str) -> sea_orm::Select<Entity> {
    Entity::find()
        .filter(Column::Scope.eq(scope))
        .filter(Column::Name.eq(name))
}

/// The values [`select_with_pack_ids`] binds: the organization's id (in the
/// select list) before the condition's `values`.
pub(super) fn pack_ids_values<const N: usize>(
    packs_of: Option<&str>,
    values: [sea_orm::Value; N],
) -> Vec<sea_orm::Value> {
    packs_of
        .map(sea_orm::Value::from)
        .into_iter()
        .chain(values)
        .collect()
}

/// `select` (servers), with each server's pack ids of organization
/// `packs_of` in column [`PACK_IDS`] (see [`read_with_pack_ids`]).
pub(super) fn select_with_pack_ids(
    mut select: sea_orm::Select<Entity>,
    packs_of: Option<&str>,
    backend: sea_orm::DbBackend,
) -> sea_orm::Statement {
    if let Some(org) = packs_of {
        // sea-query numbers `$1` into the statement's placeholders on
        // PostgreSQL, where `?` is an operator.
        let (aggregate, org_param) = match backend {
            sea_orm::DbBackend::Postgres => ("string_agg(pm.pack_id, ',')", "$1"),
            _ => ("group_concat(pm.pack_id, ',')", "?"),
        };
        select = select.expr_as(
            Expr::cust_with_values(
                // Members by server first (`pack_members_server_id_idx`), then each
                // pack's organization: a join lets SQLite walk all the
                // organization's packs instead, probing each for the server.
                format!(
                    "(SELECT {aggregate} FROM pack_members AS pm WHERE pm.server_id = mcp_servers.id \
                     AND EXISTS (SELECT 1 FROM packs AS p WHERE p.id = pm.pack_id AND p.organization_id = {org_param}))"
                ),
                [org],
            ),
            PACK_IDS,
        );
    }
    select.build(backend)
}

/// Runs `stmt` (servers, from [`select_with_pack_ids`]) and returns each server
/// with the ids of the packs of organization `packs_of` holding it, sorted;
/// without `packs_of`, with none. The ids come from a correlated subquery in
/// the same statement (ids have no commas), so a read by id is one statement.
async fn read_with_pack_ids<C: ConnectionTrait>(
    db: &C,
    stmt: sea_orm::Statement,
    packs_of: Option<&str>,
) -> Result<Vec<(McpServer, Vec<String>)>, Error> {
    let rows = db.query_all_raw(stmt).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let server = to_domain(mcp_server::Model::from_query_result(&row, "")?)?;
        let mut packs: Vec<String> = match packs_of {
            Some(_) => row
                .try_get::<Option<String>>("", PACK_IDS)?
                .map(|ids| ids.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        packs.sort_unstable();
        out.push((server, packs));
    }
    Ok(out)
}

/// Returns the server with `id` on any connection (pool or transaction).
pub(crate) async fn find_server<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<McpServer>, Error> {
    Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// Returns the server named `name` in `scope` on any connection.
pub(crate) async fn find_server_by_name<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    name: &str,
) -> Result<Option<McpServer>, Error> {
    Entity::find()
        .filter(Column::Scope.eq(scope))
        .filter(Column::Name.eq(name))
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// Returns the servers with these ids on any connection.
pub(crate) async fn find_servers<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
) -> Result<Vec<McpServer>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Entity::find()
        .filter(Column::Id.is_in(ids.iter().map(String::as_str)))
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

fn json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(Error::internal)
}

fn parse<T: DeserializeOwned>(id: &str, column: &str, text: &str) -> Result<T, Error> {
    serde_json::from_str(text)
        .with_context(|| format!("server {id} has invalid {column}"))
        .map_err(Error::internal)
}

fn to_row(s: &McpServer) -> Result<mcp_server::ActiveModel, Error> {
    Ok(mcp_server::ActiveModel {
        id: Set(s.id.clone()),
        organization_id: Set(s.organization_id.clone()),
        scope: Set(s.scope().to_owned()),
        visibility: Set(s.visibility.as_str().to_owned()),
        name: Set(s.name.clone()),
        display_name: Set(s.display_name.clone()),
        description: Set(s.description.clone()),
        url: Set(s.url.clone()),
        icon_url: Set(s.icon_url.clone()),
        documentation_url: Set(s.documentation_url.clone()),
        registry_name: Set(s.registry_name.clone()),
        registry_version: Set(s.registry_version.clone()),
        category: Set(s.category.clone()),
        transport: Set(s.transport.as_str().to_owned()),
        auth_type: Set(s.auth_type.as_str().to_owned()),
        auth_header_name: Set(s.auth_header_name.clone()),
        credentials: Set(s.sealed_credentials.clone()),
        credentials_updated_at: Set(s.credentials_updated_at),
        request_headers: Set(json(&s.request_headers)?),
        approval_policy: Set(s.approval_policy.as_str().to_owned()),
        tools_enabled: Set(s.tool_configuration.enabled),
        allowed_tools: Set(json(&s.tool_configuration.allowed_tools)?),
        config: Set(json(&s.config)?),
        enabled: Set(s.enabled),
        status: Set(s.status.as_str().to_owned()),
        detected_transport: Set(s.detected_transport.map(|t| t.as_str().to_owned())),
        server_info: Set(s.server_info.as_ref().map(json).transpose()?),
        last_synced_at: Set(s.last_synced_at),
        last_successful_sync_at: Set(s.last_successful_sync_at),
        last_error: Set(s.last_error.as_ref().map(json).transpose()?),
        tool_count: Set(s.tool_count),
        prompt_count: Set(s.prompt_count),
        resource_count: Set(s.resource_count),
        resource_template_count: Set(s.resource_template_count),
        tool_approvals: Set(json(&s.tool_approvals)?),
        next_sync_at: Set(s.next_sync_at),
        created_at: Set(s.created_at),
        updated_at: Set(s.updated_at),
        created_by: Set(s.created_by.clone()),
        modified_by: Set(s.modified_by.clone()),
        created_by_subject: Set(s.created_by_subject.clone()),
        modified_by_subject: Set(s.modified_by_subject.clone()),
        revision: Set(s.revision),
        // Scheduler state is written only by store/leases.rs.
        lease_owner: NotSet,
        lease_expires_at: NotSet,
        consecutive_failures: NotSet,
        credentials_secret: Set(s.credentials_secret.as_ref().map(json).transpose()?),
        // Counted by the writes of syncs only (`record_sync_state_on`,
        // `replace_capabilities_on`); 0 on insert.
        sync_revision: NotSet,
    })
}

fn enum_column<T>(
    id: &str,
    column: &str,
    value: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, Error> {
    parse(value)
        .ok_or_else(|| Error::internal(anyhow!("server {id} has unknown {column} {value:?}")))
}

fn to_domain(row: mcp_server::Model) -> Result<McpServer, Error> {
    let id = row.id.clone();
    let id = id.as_str();
    Ok(McpServer {
        visibility: enum_column(id, "visibility", &row.visibility, Visibility::parse)?,
        transport: enum_column(id, "transport", &row.transport, Transport::parse)?,
        auth_type: enum_column(id, "auth_type", &row.auth_type, AuthType::parse)?,
        approval_policy: enum_column(
            id,
            "approval_policy",
            &row.approval_policy,
            ApprovalPolicy::parse,
        )?,
        status: enum_column(id, "status", &row.status, ServerStatus::parse)?,
        detected_transport: row
            .detected_transport
            .as_deref()
            .map(|t| enum_column(id, "detected_transport", t, Transport::parse))
            .transpose()?,
        request_headers: parse(id, "request_headers", &row.request_headers)?,
        tool_configuration: ToolConfiguration {
            enabled: row.tools_enabled,
            allowed_tools: parse(id, "allowed_tools", &row.allowed_tools)?,
        },
        config: parse(id, "config", &row.config)?,
        server_info: row
            .server_info
            .as_deref()
            .map(|text| parse(id, "server_info", text))
            .transpose()?,
        last_error: row
            .last_error
            .as_deref()
            .map(|text| parse(id, "last_error", text))
            .transpose()?,
        tool_approvals: parse::<BTreeMap<String, String>>(
            id,
            "tool_approvals",
            &row.tool_approvals,
        )?,
        id: row.id,
        organization_id: row.organization_id,
        name: row.name,
        display_name: row.display_name,
        description: row.description,
        url: row.url,
        icon_url: row.icon_url,
        documentation_url: row.documentation_url,
        registry_name: row.registry_name,
        registry_version: row.registry_version,
        category: row.category,
        auth_header_name: row.auth_header_name,
        sealed_credentials: row.credentials,
        credentials_secret: row
            .credentials_secret
            .as_deref()
            .map(|text| parse(id, "credentials_secret", text))
            .transpose()?,
        credentials_updated_at: row.credentials_updated_at,
        enabled: row.enabled,
        last_synced_at: row.last_synced_at,
        last_successful_sync_at: row.last_successful_sync_at,
        tool_count: row.tool_count,
        prompt_count: row.prompt_count,
        resource_count: row.resource_count,
        resource_template_count: row.resource_template_count,
        next_sync_at: row.next_sync_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
        created_by: row.created_by,
        modified_by: row.modified_by,
        created_by_subject: row.created_by_subject,
        modified_by_subject: row.modified_by_subject,
        revision: row.revision,
    })
}

fn capability_to_domain(row: cap::Model) -> Result<Capability, Error> {
    Ok(Capability {
        kind: enum_column(
            &row.server_id,
            "capability kind",
            &row.kind,
            CapabilityKind::parse,
        )?,
        definition: parse(&row.server_id, "capability definition", &row.definition)?,
        key: row.key,
        definition_hash: row.definition_hash,
        discovered_at: row.discovered_at,
        changed_at: row.changed_at,
    })
}
