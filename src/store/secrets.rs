//! Queries on `secrets` and `secret_references` (which servers use which
//! secret, rewritten with each server write by [`replace_references`]).

use std::collections::HashMap;

use anyhow::Context;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};

use crate::error::Error;
use crate::pagination::{Page, PageRequest};
use crate::registry::Micros;
use crate::registry::audit::AuditEvent;
use crate::registry::secrets::Secret;
use crate::registry::servers::McpServer;
use crate::store::audit::insert_audit_event;
use crate::store::entities::mcp_server;
use crate::store::entities::secret::{self, Column, Entity};
use crate::store::entities::secret_reference as reference;
use crate::store::{Store, unique_violation};

impl Store {
    /// Inserts a new secret with its audit event; ALREADY_EXISTS when its
    /// name is taken in its organization.
    pub async fn insert_secret(&self, secret: &Secret, event: &AuditEvent) -> Result<(), Error> {
        let row = to_row(secret)?;
        let txn = self.begin_write().await?;
        Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(|err| unique_violation(err, "secret", &secret.name))?;
        insert_audit_event(&txn, event).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Returns the secret with `id`.
    pub async fn get_secret(&self, id: &str) -> Result<Option<Secret>, Error> {
        Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// Returns the secrets with these ids that exist.
    pub async fn get_secrets(&self, ids: &[String]) -> Result<Vec<Secret>, Error> {
        Entity::find()
            .filter(Column::Id.is_in(ids.iter().map(String::as_str)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    /// Returns `organization_id`'s secrets named in `names` (one query on
    /// the unique name index).
    pub async fn get_secrets_by_names(
        &self,
        organization_id: &str,
        names: &[String],
    ) -> Result<Vec<Secret>, Error> {
        Entity::find()
            .filter(Column::OrganizationId.eq(organization_id))
            .filter(Column::Name.is_in(names.iter().map(String::as_str)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    /// Lists an organization's secrets in id (creation) order.
    pub async fn list_secrets(
        &self,
        organization_id: &str,
        page: &PageRequest<String>,
    ) -> Result<Page<Secret, String>, Error> {
        let scope = Column::OrganizationId.eq(organization_id);
        let mut select = Entity::find()
            .filter(scope.clone())
            .order_by_asc(Column::Id);
        if let Some(after) = &page.after {
            select = select.filter(Column::Id.gt(after.as_str()));
        }
        let mut rows = select.limit(page.limit + 1).all(&self.db).await?;
        let total = Entity::find().filter(scope).count(&self.db).await?;
        let next = page.cut(&mut rows, |row| row.id.clone());
        let items = rows.into_iter().map(to_domain).collect::<Result<_, _>>()?;
        Ok(Page { items, next, total })
    }

    /// Returns the ids of the servers referencing each of these secrets, in
    /// id order (one query).
    pub async fn secret_dependents(
        &self,
        secret_ids: &[String],
    ) -> Result<HashMap<String, Vec<String>>, Error> {
        let rows = reference::Entity::find()
            .filter(reference::Column::SecretId.is_in(secret_ids.iter().map(String::as_str)))
            .order_by_asc(reference::Column::ServerId)
            .all(&self.db)
            .await?;
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for row in rows {
            out.entry(row.secret_id).or_default().push(row.server_id);
        }
        Ok(out)
    }

    /// Writes a secret's next state if it still has `expected_revision`,
    /// with its event in the same transaction. With `rearm_at` (a rotation),
    /// every enabled server referencing the secret becomes due at that time
    /// in the same transaction, so a server whose sync is under way (and so
    /// skips the rotation's background sync) is synced again after it.
    pub async fn update_secret(
        &self,
        secret: &Secret,
        expected_revision: i64,
        rearm_at: Option<Micros>,
        event: &AuditEvent,
    ) -> Result<(), Error> {
        let mut row = to_row(secret)?;
        row.id = sea_orm::ActiveValue::NotSet;
        row.organization_id = sea_orm::ActiveValue::NotSet;
        row.created_at = sea_orm::ActiveValue::NotSet;
        row.created_by = sea_orm::ActiveValue::NotSet;
        let txn = self.begin_write().await?;
        let result = Entity::update_many()
            .set(row)
            .filter(Column::Id.eq(secret.id.as_str()))
            .filter(Column::Revision.eq(expected_revision))
            .exec(&txn)
            .await
            .map_err(|err| unique_violation(err, "secret", &secret.name))?;
        if result.rows_affected == 1 {
            if let Some(at) = rearm_at {
                let dependents = reference::Entity::find()
                    .select_only()
                    .column(reference::Column::ServerId)
                    .filter(reference::Column::SecretId.eq(secret.id.as_str()))
                    .into_query();
                mcp_server::Entity::update_many()
                    .col_expr(mcp_server::Column::NextSyncAt, Expr::value(at))
                    .filter(mcp_server::Column::Id.in_subquery(dependents))
                    .filter(mcp_server::Column::Enabled.eq(true))
                    .exec(&txn)
                    .await?;
            }
            insert_audit_event(&txn, event).await?;
            txn.commit().await?;
            return Ok(());
        }
        txn.rollback().await?;
        Err(self.lost_race(&secret.id).await)
    }

    /// Deletes a secret if it still has `expected_revision`. While servers
    /// reference it the answer is IN_USE naming them, unless `force`, which
    /// deletes the references too (the servers keep theirs and fail to
    /// sync). The check and the delete are one transaction, and the
    /// references' foreign key refuses a delete that a concurrent
    /// reference would outlive.
    pub async fn delete_secret(
        &self,
        id: &str,
        expected_revision: i64,
        force: bool,
        event: &AuditEvent,
    ) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        let dependents: Vec<String> = reference::Entity::find()
            .select_only()
            .column(reference::Column::ServerId)
            .filter(reference::Column::SecretId.eq(id))
            .order_by_asc(reference::Column::ServerId)
            .into_tuple()
            .all(&txn)
            .await?;
        if !dependents.is_empty() {
            if !force {
                txn.rollback().await?;
                return Err(in_use(id, &dependents));
            }
            reference::Entity::delete_many()
                .filter(reference::Column::SecretId.eq(id))
                .exec(&txn)
                .await?;
        }
        let result = Entity::delete_many()
            .filter(Column::Id.eq(id))
            .filter(Column::Revision.eq(expected_revision))
            .exec(&txn)
            .await
            .map_err(|err| match err.sql_err() {
                Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => Error::InUse(format!(
                    "secret {id} was referenced by a server meanwhile; retry"
                )),
                _ => Error::from(err),
            })?;
        if result.rows_affected == 1 {
            insert_audit_event(&txn, event).await?;
            txn.commit().await?;
            return Ok(());
        }
        txn.rollback().await?;
        Err(self.lost_race(id).await)
    }

    /// NOT_FOUND when the secret is gone, else ABORTED (its revision moved).
    async fn lost_race(&self, id: &str) -> Error {
        match self.get_secret(id).await {
            Ok(None) => Error::NotFound {
                kind: "secret",
                id: id.to_owned(),
            },
            Ok(Some(_)) => Error::EtagMismatch {
                kind: "secret",
                id: id.to_owned(),
            },
            Err(err) => err,
        }
    }
}

fn in_use(id: &str, dependents: &[String]) -> Error {
    const SHOWN: usize = 20;
    let mut names = dependents
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if dependents.len() > SHOWN {
        names.push_str(&format!(" and {} more", dependents.len() - SHOWN));
    }
    Error::InUse(format!(
        "secret {id} is referenced by {} server(s): {names}; change them or delete with force",
        dependents.len()
    ))
}

/// Rewrites the rows saying which secrets `server` references, inside the
/// server's write transaction. A secret that no longer exists fails the
/// write with NOT_FOUND (its foreign key).
pub(crate) async fn replace_references(
    txn: &impl ConnectionTrait,
    server: &McpServer,
    first_write: bool,
) -> Result<(), Error> {
    if !first_write {
        reference::Entity::delete_many()
            .filter(reference::Column::ServerId.eq(server.id.as_str()))
            .exec(txn)
            .await?;
    }
    let secrets = server.referenced_secrets();
    if secrets.is_empty() {
        return Ok(());
    }
    let rows = secrets.iter().map(|secret_id| reference::ActiveModel {
        secret_id: Set((*secret_id).to_owned()),
        server_id: Set(server.id.clone()),
    });
    reference::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await
        .map_err(|err| match err.sql_err() {
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => Error::NotFound {
                kind: "secret",
                id: secrets
                    .iter()
                    .next()
                    .copied()
                    .unwrap_or_default()
                    .to_owned(),
            },
            _ => Error::from(err),
        })?;
    Ok(())
}

fn to_row(s: &Secret) -> Result<secret::ActiveModel, Error> {
    Ok(secret::ActiveModel {
        id: Set(s.id.clone()),
        organization_id: Set(s.organization_id.clone()),
        name: Set(s.name.clone()),
        description: Set(s.description.clone()),
        value_names: Set(serde_json::to_string(&s.value_names).map_err(Error::internal)?),
        sealed_values: Set(s.sealed_values.clone()),
        created_at: Set(s.created_at),
        created_by: Set(s.created_by.clone()),
        updated_at: Set(s.updated_at),
        updated_by: Set(s.updated_by.clone()),
        rotated_at: Set(s.rotated_at),
        rotated_by: Set(s.rotated_by.clone()),
        revision: Set(s.revision),
    })
}

fn to_domain(row: secret::Model) -> Result<Secret, Error> {
    let value_names = serde_json::from_str(&row.value_names)
        .with_context(|| format!("secret {} has invalid value_names", row.id))
        .map_err(Error::internal)?;
    Ok(Secret {
        id: row.id,
        organization_id: row.organization_id,
        name: row.name,
        description: row.description,
        value_names,
        sealed_values: row.sealed_values,
        created_at: row.created_at,
        created_by: row.created_by,
        updated_at: row.updated_at,
        updated_by: row.updated_by,
        rotated_at: row.rotated_at,
        rotated_by: row.rotated_by,
        revision: row.revision,
    })
}
