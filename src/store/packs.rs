//! Queries on `packs`, `pack_members` and `pack_revisions`.
//!
//! Every change to packs happens inside an [`OrgWrite`]: a transaction that
//! starts by writing the organization's row (without changing it). That write
//! takes the row lock on PostgreSQL and the database write lock on SQLite, so
//! the pack writes of one organization are serialized: plan limits are
//! checked against what is committed, and versions cannot interleave.

use std::collections::HashMap;

use anyhow::{Context, anyhow};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

use crate::error::Error;
use crate::pagination::{Page, PageRequest};
use crate::registry::audit::AuditEvent;
use crate::registry::packs::{ChangeKind, Member, Pack, PackFilter, PackRevision, PinnedTool};
use crate::registry::servers::{CapabilityKind, McpServer};
use crate::registry::{Organization, Owner};
use crate::store::audit::insert_audit_event;
use crate::store::entities::{
    mcp_server, organization, pack, pack_member, pack_revision, server_capability,
};
use crate::store::servers::{find_server, find_server_by_name, find_servers};
use std::sync::{Arc, Mutex};

use crate::store::conn::Txn;
use crate::store::search::text_match;
use crate::store::{Generations, Store, Topic, unique_violation};

/// A transaction holding the write lock of one organization's packs.
pub struct OrgWrite {
    txn: Txn,
    organization: Organization,
    generations: Arc<Generations>,
    /// Servers deleted in this transaction, for the caches after commit.
    deleted_servers: Mutex<Vec<String>>,
}

impl Store {
    /// Starts a transaction that serializes pack writes of `organization_id`.
    pub async fn begin_org_write(&self, organization_id: &str) -> Result<OrgWrite, Error> {
        let txn = self.begin_write().await?;
        // A write that changes nothing, to take the lock before any read.
        let locked = organization::Entity::update_many()
            .col_expr(
                organization::Column::Revision,
                Expr::col(organization::Column::Revision),
            )
            .filter(organization::Column::Id.eq(organization_id))
            .exec(&txn)
            .await?;
        if locked.rows_affected != 1 {
            txn.rollback().await?;
            return Err(Error::internal(anyhow!(
                "organization {organization_id} is gone"
            )));
        }
        let organization = self
            .get_organization_on(&txn, organization_id)
            .await?
            .ok_or_else(|| Error::internal(anyhow!("organization {organization_id} is gone")))?;
        Ok(OrgWrite {
            txn,
            organization,
            generations: self.generations.clone(),
            deleted_servers: Mutex::new(Vec::new()),
        })
    }

    /// Returns the pack with `id` and its members.
    /// The pack row and its members come from one statement, hence one
    /// snapshot, so the version (and etag) always matches the members.
    pub async fn get_pack(&self, id: &str) -> Result<Option<Pack>, Error> {
        find_pack(&self.db, id).await
    }

    /// Returns which of `ids` are packs of `organization_id`.
    pub async fn existing_pack_ids(
        &self,
        organization_id: &str,
        ids: &[String],
    ) -> Result<Vec<String>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(pack::Entity::find()
            .select_only()
            .column(pack::Column::Id)
            .filter(pack::Column::OrganizationId.eq(organization_id))
            .filter(pack::Column::Id.is_in(ids.iter().map(String::as_str)))
            .into_tuple::<String>()
            .all(&self.db)
            .await?)
    }

    /// Lists an organization's packs in id (= creation) order; with `only`,
    /// just those of these ids; with `holding`, just those whose current
    /// members include that server (through `pack_members_server_id_idx`);
    /// with `text`, just those whose name or description match it; with
    /// `owner`, just those it created (through `packs_org_subject_idx` for a
    /// subject).
    pub async fn list_packs(
        &self,
        organization_id: &str,
        only: Option<&[String]>,
        filter: &PackFilter,
        page: &PageRequest<String>,
    ) -> Result<Page<Pack, String>, Error> {
        let holding = filter.holding.as_deref();
        let mut scope = Condition::all().add(pack::Column::OrganizationId.eq(organization_id));
        match &filter.owner {
            Some(Owner::Subject(subject)) => {
                scope = scope.add(pack::Column::CreatedBySubject.eq(subject.as_str()));
            }
            Some(Owner::Key(key)) => {
                scope = scope
                    .add(pack::Column::CreatedBySubject.is_null())
                    .add(pack::Column::CreatedBy.eq(key.as_str()));
            }
            None => {}
        }
        if let Some(ids) = only {
            scope = scope.add(pack::Column::Id.is_in(ids.iter().map(String::as_str)));
        }
        if let Some(server_id) = holding {
            let packs = pack_member::Entity::find()
                .select_only()
                .column(pack_member::Column::PackId)
                .filter(pack_member::Column::ServerId.eq(server_id))
                .into_query();
            scope = scope.add(pack::Column::Id.in_subquery(packs));
        }
        if let Some(text) = &filter.text {
            let backend = self.db.get_database_backend();
            scope = scope.add(text_match(backend, "packs", "pack_search", "pack_id", text));
        }
        let mut select = pack::Entity::find()
            .filter(scope.clone())
            .order_by_asc(pack::Column::Id);
        if let Some(after) = &page.after {
            select = select.filter(pack::Column::Id.gt(after.as_str()));
        }
        // One snapshot: each pack's version matches its members.
        let snapshot = self.begin_snapshot().await?;
        let mut rows = select.limit(page.limit + 1).all(&snapshot).await?;
        let total = pack::Entity::find().filter(scope).count(&snapshot).await?;
        let next = page.cut(&mut rows, |row| row.id.clone());
        let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
        let mut members = members_of(&snapshot, &ids).await?;
        snapshot.commit().await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let m = members.remove(&row.id).unwrap_or_default();
                pack_to_domain(row, m)
            })
            .collect();
        Ok(Page { items, next, total })
    }

    /// Lists a pack's revisions, newest first.
    pub async fn list_pack_revisions(
        &self,
        pack_id: &str,
        page: &PageRequest<i64>,
    ) -> Result<Page<PackRevision, i64>, Error> {
        let scope = pack_revision::Column::PackId.eq(pack_id);
        let mut select = pack_revision::Entity::find()
            .filter(scope.clone())
            .order_by_desc(pack_revision::Column::Version);
        if let Some(before) = page.after {
            select = select.filter(pack_revision::Column::Version.lt(before));
        }
        let mut rows = select.limit(page.limit + 1).all(&self.db).await?;
        let total = pack_revision::Entity::find()
            .filter(scope)
            .count(&self.db)
            .await?;
        let next = page.cut(&mut rows, |row| row.version);
        Ok(Page {
            items: rows
                .into_iter()
                .map(revision_to_domain)
                .collect::<Result<_, _>>()?,
            next,
            total,
        })
    }

    /// Returns one revision of a pack.
    pub async fn get_pack_revision(
        &self,
        pack_id: &str,
        version: i64,
    ) -> Result<Option<PackRevision>, Error> {
        pack_revision::Entity::find_by_id((pack_id.to_owned(), version))
            .one(&self.db)
            .await?
            .map(revision_to_domain)
            .transpose()
    }

    /// Returns, for each of these servers, the ids of the packs of
    /// `organization_id` that hold it.
    pub async fn packs_of_servers(
        &self,
        organization_id: &str,
        server_ids: &[String],
    ) -> Result<HashMap<String, Vec<String>>, Error> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        if server_ids.is_empty() {
            return Ok(out);
        }
        // Members by server first (`pack_members_server_id_idx`), then each
        // pack's organization: with a join, SQLite walks every pack of the
        // organization instead, probing each for the servers.
        let rows: Vec<(String, String)> = pack_member::Entity::find()
            .select_only()
            .column(pack_member::Column::ServerId)
            .column(pack_member::Column::PackId)
            .filter(pack_member::Column::ServerId.is_in(server_ids.iter().map(String::as_str)))
            .filter(Expr::exists(
                sea_orm::sea_query::Query::select()
                    .expr(Expr::val(1))
                    .from(pack::Entity)
                    .and_where(
                        Expr::col((pack::Entity, pack::Column::Id))
                            .equals((pack_member::Entity, pack_member::Column::PackId)),
                    )
                    .and_where(
                        Expr::col((pack::Entity, pack::Column::OrganizationId)).eq(organization_id),
                    )
                    .to_owned(),
            ))
            .order_by_asc(pack_member::Column::PackId)
            .into_tuple()
            .all(&self.db)
            .await?;
        for (server_id, pack_id) in rows {
            out.entry(server_id).or_default().push(pack_id);
        }
        Ok(out)
    }

    /// Returns `(pack id, organization id, pack name)` of every pack holding the server.
    pub async fn packs_holding(
        &self,
        server_id: &str,
    ) -> Result<Vec<(String, String, String)>, Error> {
        Ok(pack_member::Entity::find()
            .select_only()
            .column(pack::Column::Id)
            .column(pack::Column::OrganizationId)
            .column(pack::Column::Name)
            .inner_join(pack::Entity)
            .filter(pack_member::Column::ServerId.eq(server_id))
            .order_by_asc(pack::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    async fn get_organization_on<C: ConnectionTrait>(
        &self,
        db: &C,
        id: &str,
    ) -> Result<Option<Organization>, Error> {
        crate::store::organizations::find_organization(db, id).await
    }
}

impl OrgWrite {
    /// The locked organization as committed.
    pub fn organization(&self) -> &Organization {
        &self.organization
    }

    /// Number of packs of the organization.
    pub async fn count_packs(&self) -> Result<u64, Error> {
        Ok(pack::Entity::find()
            .filter(pack::Column::OrganizationId.eq(self.organization.id.as_str()))
            .count(&self.txn)
            .await?)
    }

    /// Returns a pack of this organization.
    pub async fn get_pack(&self, id: &str) -> Result<Option<Pack>, Error> {
        Ok(find_pack(&self.txn, id)
            .await?
            .filter(|p| p.organization_id == self.organization.id))
    }

    /// Returns a server by id.
    pub async fn get_server(&self, id: &str) -> Result<Option<McpServer>, Error> {
        find_server(&self.txn, id).await
    }

    /// Returns a server by scope and name.
    pub async fn get_server_by_name(
        &self,
        scope: &str,
        name: &str,
    ) -> Result<Option<McpServer>, Error> {
        find_server_by_name(&self.txn, scope, name).await
    }

    /// Returns the servers with these ids.
    pub async fn get_servers(&self, ids: &[String]) -> Result<Vec<McpServer>, Error> {
        find_servers(&self.txn, ids).await
    }

    /// Returns each server's tools as (name, definition hash), by name.
    pub async fn pinned_tools(
        &self,
        server_ids: &[String],
    ) -> Result<HashMap<String, Vec<PinnedTool>>, Error> {
        let mut out: HashMap<String, Vec<PinnedTool>> = HashMap::new();
        if server_ids.is_empty() {
            return Ok(out);
        }
        let rows: Vec<(String, String, String)> = pinned_tools_of(server_ids)
            .into_tuple()
            .all(&self.txn)
            .await?;
        for (server_id, name, definition_hash) in rows {
            out.entry(server_id).or_default().push(PinnedTool {
                name,
                definition_hash,
            });
        }
        Ok(out)
    }

    /// Inserts a new pack with its members; ALREADY_EXISTS when the name is taken.
    pub async fn insert_pack(&self, p: &Pack) -> Result<(), Error> {
        pack::Entity::insert(pack_row(p))
            .exec_without_returning(&self.txn)
            .await
            .map_err(|err| unique_violation(err, "pack", &p.name))?;
        self.write_members(p).await
    }

    /// Writes a pack's new state (name, description, members, version) if it
    /// still has `expected_version`.
    pub async fn save_pack(&self, p: &Pack, expected_version: i64) -> Result<(), Error> {
        let result = pack::Entity::update_many()
            .col_expr(pack::Column::Name, Expr::value(p.name.as_str()))
            .col_expr(
                pack::Column::Description,
                Expr::value(p.description.as_str()),
            )
            .col_expr(pack::Column::Version, Expr::value(p.version))
            .col_expr(pack::Column::UpdatedAt, Expr::value(p.updated_at))
            .col_expr(
                pack::Column::ModifiedBy,
                Expr::value(p.modified_by.as_str()),
            )
            .col_expr(
                pack::Column::ModifiedBySubject,
                Expr::value(p.modified_by_subject.clone()),
            )
            .filter(pack::Column::Id.eq(p.id.as_str()))
            .filter(pack::Column::Version.eq(expected_version))
            .exec(&self.txn)
            .await
            .map_err(|err| unique_violation(err, "pack", &p.name))?;
        if result.rows_affected != 1 {
            return Err(Error::EtagMismatch {
                kind: "pack",
                id: p.id.clone(),
            });
        }
        pack_member::Entity::delete_many()
            .filter(pack_member::Column::PackId.eq(p.id.as_str()))
            .exec(&self.txn)
            .await?;
        self.write_members(p).await
    }

    async fn write_members(&self, p: &Pack) -> Result<(), Error> {
        let rows: Vec<pack_member::ActiveModel> =
            p.members
                .iter()
                .enumerate()
                .map(|(position, m)| {
                    Ok(pack_member::ActiveModel {
                        pack_id: Set(p.id.clone()),
                        server_id: Set(m.server_id.clone()),
                        position: Set(position as i32),
                        tool_settings: Set(
                            serde_json::to_string(&m.settings).map_err(Error::internal)?
                        ),
                    })
                })
                .collect::<Result<_, Error>>()?;
        for chunk in rows.chunks(200) {
            pack_member::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&self.txn)
                .await?;
        }
        Ok(())
    }

    /// Records a revision; a second revision of one version is refused by the
    /// primary key and reported as a lost race.
    pub async fn insert_revision(&self, r: &PackRevision) -> Result<(), Error> {
        let row = pack_revision::ActiveModel {
            pack_id: Set(r.pack_id.clone()),
            version: Set(r.version),
            author: Set(r.author.clone()),
            created_at: Set(r.created_at),
            change_kind: Set(r.change_kind.as_str().to_owned()),
            changed_servers: Set(
                serde_json::to_string(&r.changed_servers).map_err(Error::internal)?
            ),
            updated_fields: Set(serde_json::to_string(&r.updated_fields).map_err(Error::internal)?),
            restored_from_version: Set(r.restored_from_version),
            name: Set(r.name.clone()),
            description: Set(r.description.clone()),
            members: Set(serde_json::to_string(&r.members).map_err(Error::internal)?),
            changed_tools: Set(serde_json::to_string(&r.changed_tools).map_err(Error::internal)?),
        };
        pack_revision::Entity::insert(row)
            .exec_without_returning(&self.txn)
            .await
            .map_err(|err| match err.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::EtagMismatch {
                    kind: "pack",
                    id: r.pack_id.clone(),
                },
                _ => Error::from(err),
            })?;
        Ok(())
    }

    /// Deletes a pack with its members and revisions.
    pub async fn delete_pack(&self, id: &str) -> Result<(), Error> {
        pack_revision::Entity::delete_many()
            .filter(pack_revision::Column::PackId.eq(id))
            .exec(&self.txn)
            .await?;
        pack_member::Entity::delete_many()
            .filter(pack_member::Column::PackId.eq(id))
            .exec(&self.txn)
            .await?;
        pack::Entity::delete_many()
            .filter(pack::Column::Id.eq(id))
            .exec(&self.txn)
            .await?;
        Ok(())
    }

    /// Returns the packs of this organization that hold `server_id`.
    pub async fn packs_holding(&self, server_id: &str) -> Result<Vec<Pack>, Error> {
        let ids: Vec<String> = pack_member::Entity::find()
            .select_only()
            .column(pack_member::Column::PackId)
            .inner_join(pack::Entity)
            .filter(pack_member::Column::ServerId.eq(server_id))
            .filter(pack::Column::OrganizationId.eq(self.organization.id.as_str()))
            .order_by_asc(pack_member::Column::PackId)
            .into_tuple()
            .all(&self.txn)
            .await?;
        let mut packs = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(p) = find_pack(&self.txn, &id).await? {
                packs.push(p);
            }
        }
        Ok(packs)
    }

    /// Deletes a server (and its capabilities) inside this transaction.
    pub async fn delete_server(&self, id: &str, expected_revision: i64) -> Result<(), Error> {
        server_capability::Entity::delete_many()
            .filter(server_capability::Column::ServerId.eq(id))
            .exec(&self.txn)
            .await?;
        let result = mcp_server::Entity::delete_many()
            .filter(mcp_server::Column::Id.eq(id))
            .filter(mcp_server::Column::Revision.eq(expected_revision))
            .exec(&self.txn)
            .await
            .map_err(|err| match err.sql_err() {
                Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
                    Error::InUse(format!("server {id} was added to a pack meanwhile; retry"))
                }
                _ => Error::from(err),
            })?;
        if result.rows_affected != 1 {
            return Err(Error::EtagMismatch {
                kind: "mcp server",
                id: id.to_owned(),
            });
        }
        self.deleted_servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(id.to_owned());
        Ok(())
    }

    /// Records `event`, the audit event of this transaction's change: it
    /// commits, or is rolled back, with the change.
    pub async fn record(&self, event: &AuditEvent) -> Result<(), Error> {
        insert_audit_event(&self.txn, event).await
    }

    /// Commits every write of the transaction.
    pub async fn commit(self) -> Result<(), Error> {
        self.txn.commit().await?;
        self.generations
            .changed(Topic::Packs(&self.organization.id));
        let deleted = self
            .deleted_servers
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in &deleted {
            self.generations.changed(Topic::Server(id));
        }
        if !deleted.is_empty() {
            self.generations
                .changed(Topic::Scope(&self.organization.id));
        }
        Ok(())
    }
}

/// Columns of a member in [`find_pack`]'s rows (NULL for a pack without members).
const MEMBER_SERVER: &str = "member_server_id";
const MEMBER_SETTINGS: &str = "member_tool_settings";
const MEMBER_NAME: &str = "member_server_name";

/// Returns the pack with `id` and its members in one statement: the pack's
/// row joined with each member (in position order) and its server's current
/// name; a pack without members is one row whose member columns are NULL.
async fn find_pack<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<Pack>, Error> {
    use sea_orm::{JoinType, RelationTrait};
    let to_server: sea_orm::RelationDef = pack_member::Entity::belongs_to(mcp_server::Entity)
        .from(pack_member::Column::ServerId)
        .to(mcp_server::Column::Id)
        .into();
    let select = pack::Entity::find_by_id(id.to_owned())
        .column_as(pack_member::Column::ServerId, MEMBER_SERVER)
        .column_as(pack_member::Column::ToolSettings, MEMBER_SETTINGS)
        .column_as(mcp_server::Column::Name, MEMBER_NAME)
        .join_rev(JoinType::LeftJoin, pack_member::Relation::Pack.def())
        .join(JoinType::LeftJoin, to_server)
        .order_by_asc(pack_member::Column::Position);
    let rows = db
        .query_all_raw(select.build(db.get_database_backend()))
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let row = pack::Model::from_query_result(first, "")?;
    let mut members = Vec::with_capacity(rows.len());
    for r in &rows {
        let Some(server_id) = r.try_get::<Option<String>>("", MEMBER_SERVER)? else {
            continue;
        };
        let settings: String = r.try_get("", MEMBER_SETTINGS)?;
        let name: Option<String> = r.try_get("", MEMBER_NAME)?;
        members.push(Member {
            settings: parse_settings(&row.id, &server_id, &settings)?,
            name: name.unwrap_or_default(),
            server_id,
        });
    }
    Ok(Some(pack_to_domain(row, members)))
}

fn parse_settings(
    pack_id: &str,
    server_id: &str,
    json: &str,
) -> Result<crate::registry::packs::ToolSettings, Error> {
    serde_json::from_str(json)
        .with_context(|| format!("member {server_id} of pack {pack_id} has invalid tool_settings"))
        .map_err(Error::internal)
}

/// Returns the ordered members (with current server names) of each pack, in
/// two queries whatever the number of packs.
async fn members_of<C: ConnectionTrait>(
    db: &C,
    pack_ids: &[String],
) -> Result<HashMap<String, Vec<Member>>, Error> {
    let mut out: HashMap<String, Vec<Member>> = HashMap::new();
    if pack_ids.is_empty() {
        return Ok(out);
    }
    let rows = pack_member::Entity::find()
        .filter(pack_member::Column::PackId.is_in(pack_ids.iter().map(String::as_str)))
        .order_by_asc(pack_member::Column::PackId)
        .order_by_asc(pack_member::Column::Position)
        .all(db)
        .await?;
    let mut server_ids: Vec<String> = rows.iter().map(|r| r.server_id.clone()).collect();
    server_ids.sort();
    server_ids.dedup();
    let names: HashMap<String, String> = if server_ids.is_empty() {
        HashMap::new()
    } else {
        mcp_server::Entity::find()
            .select_only()
            .column(mcp_server::Column::Id)
            .column(mcp_server::Column::Name)
            .filter(mcp_server::Column::Id.is_in(server_ids.iter().map(String::as_str)))
            .into_tuple::<(String, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    for row in rows {
        let name = names.get(&row.server_id).cloned().unwrap_or_default();
        let settings = parse_settings(&row.pack_id, &row.server_id, &row.tool_settings)?;
        out.entry(row.pack_id).or_default().push(Member {
            server_id: row.server_id,
            name,
            settings,
        });
    }
    Ok(out)
}

fn pack_row(p: &Pack) -> pack::ActiveModel {
    pack::ActiveModel {
        id: Set(p.id.clone()),
        organization_id: Set(p.organization_id.clone()),
        name: Set(p.name.clone()),
        description: Set(p.description.clone()),
        version: Set(p.version),
        created_at: Set(p.created_at),
        updated_at: Set(p.updated_at),
        created_by: Set(p.created_by.clone()),
        modified_by: Set(p.modified_by.clone()),
        created_by_subject: Set(p.created_by_subject.clone()),
        modified_by_subject: Set(p.modified_by_subject.clone()),
    }
}

fn pack_to_domain(row: pack::Model, members: Vec<Member>) -> Pack {
    Pack {
        id: row.id,
        organization_id: row.organization_id,
        name: row.name,
        description: row.description,
        members,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        created_by: row.created_by,
        modified_by: row.modified_by,
        created_by_subject: row.created_by_subject,
        modified_by_subject: row.modified_by_subject,
    }
}

fn revision_to_domain(row: pack_revision::Model) -> Result<PackRevision, Error> {
    let context = |column: &str| {
        format!(
            "revision {} of pack {} has invalid {column}",
            row.version, row.pack_id
        )
    };
    Ok(PackRevision {
        change_kind: ChangeKind::parse(&row.change_kind)
            .ok_or_else(|| Error::internal(anyhow!(context("change_kind"))))?,
        changed_servers: serde_json::from_str(&row.changed_servers)
            .with_context(|| context("changed_servers"))
            .map_err(Error::internal)?,
        updated_fields: serde_json::from_str(&row.updated_fields)
            .with_context(|| context("updated_fields"))
            .map_err(Error::internal)?,
        members: serde_json::from_str(&row.members)
            .with_context(|| context("members"))
            .map_err(Error::internal)?,
        changed_tools: serde_json::from_str(&row.changed_tools)
            .with_context(|| context("changed_tools"))
            .map_err(Error::internal)?,
        pack_id: row.pack_id,
        version: row.version,
        author: row.author,
        created_at: row.created_at,
        restored_from_version: row.restored_from_version,
        name: row.name,
        description: row.description,
    })
}

/// Each of `server_ids`' tools as (server id, name, definition hash), by server
/// and name ([`OrgWrite::pinned_tools`]).
fn pinned_tools_of(server_ids: &[String]) -> sea_orm::Select<server_capability::Entity> {
    server_capability::Entity::find()
        .select_only()
        .column(server_capability::Column::ServerId)
        .column(server_capability::Column::Key)
        .column(server_capability::Column::DefinitionHash)
        .filter(server_capability::Column::ServerId.is_in(server_ids.iter().map(String::as_str)))
        .filter(server_capability::Column::Kind.eq(CapabilityKind::Tool.as_str()))
        // By the primary key's order: `ORDER BY key` alone let SQLite walk
        // `server_capabilities_kind_key_idx` over every tool of every
        // server (30 ms an AddPackServer over 125,000 tools).
        .order_by_asc(server_capability::Column::ServerId)
        .order_by_asc(server_capability::Column::Key)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement};

    use super::pinned_tools_of;
    use crate::store::Store;

    /// SQLite's plan for the tools of a pack's members reads them by the
    /// primary key, never by walking the (kind, key) index over all tools.
    #[tokio::test]
    async fn pinned_tools_are_read_by_server() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/plan.db?mode=rwc", dir.path().display());
        let store = Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let ids = ["srv_a".to_owned(), "srv_b".to_owned()];
        let stmt = pinned_tools_of(&ids).build(DbBackend::Sqlite);
        let explain = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", stmt.sql),
            stmt.values.map(|v| v.0).unwrap_or_default(),
        );
        let rows = store.db.query_all_raw(explain).await.expect("explain");
        let plan: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<String>("", "detail").expect("detail"))
            .collect();
        let plan = plan.join("; ");
        assert!(
            plan.contains("PRIMARY KEY") || plan.contains("sqlite_autoindex"),
            "{plan}"
        );
        assert!(!plan.contains("kind_key_idx"), "{plan}");
        assert!(
            !plan.contains("TEMP B-TREE"),
            "sorted by the index itself: {plan}"
        );
    }
}
