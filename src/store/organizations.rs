//! Queries on `organizations`.

use anyhow::anyhow;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::error::Error;
use crate::pagination::{Page, PageRequest};
use crate::registry::admin::OrganizationChanges;
use crate::registry::audit::AuditEvent;
use crate::registry::{Micros, Organization, OrganizationName, Plan};
use crate::store::audit::insert_audit_event;
use crate::store::entities::organization::{ActiveModel, Column, Entity, Model};
use crate::store::{Store, unique_violation};

impl Store {
    /// Inserts a new organization with its audit event; ALREADY_EXISTS when
    /// the name is taken.
    pub async fn insert_organization(
        &self,
        org: &Organization,
        event: &AuditEvent,
    ) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        let row = ActiveModel {
            id: Set(org.id.clone()),
            name: Set(org.name.as_str().to_owned()),
            plan: Set(org.plan.as_str().to_owned()),
            created_at: Set(org.created_at),
            updated_at: Set(org.updated_at),
            revision: Set(org.revision),
        };
        Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(|err| unique_violation(err, "organization", org.name.as_str()))?;
        insert_audit_event(&txn, event).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Returns the organization with `id`, if any.
    pub async fn get_organization(&self, id: &str) -> Result<Option<Organization>, Error> {
        find_organization(&self.db, id).await
    }

    /// Lists organizations in id (= creation) order after the page cursor.
    pub async fn list_organizations(
        &self,
        page: &PageRequest<String>,
    ) -> Result<Page<Organization, String>, Error> {
        let mut query = Entity::find().order_by_asc(Column::Id);
        if let Some(after) = &page.after {
            query = query.filter(Column::Id.gt(after.as_str()));
        }
        let mut rows = query.limit(page.limit + 1).all(&self.db).await?;
        let total = Entity::find().count(&self.db).await?;
        let next = page.cut(&mut rows, |row| row.id.clone());
        Ok(Page {
            items: rows.into_iter().map(to_domain).collect::<Result<_, _>>()?,
            next,
            total,
        })
    }

    /// Applies `changes` to organization `id` and returns the new state.
    ///
    /// With `expected_revision`, the update only happens while the row still
    /// has that revision (ABORTED otherwise). The check and the write are one
    /// `UPDATE … WHERE revision = ?`, so concurrent updates cannot both win.
    /// `event` is inserted in the same transaction when the update happens.
    pub async fn update_organization(
        &self,
        id: &str,
        changes: OrganizationChanges,
        expected_revision: Option<i64>,
        now: Micros,
        event: &AuditEvent,
    ) -> Result<Organization, Error> {
        let txn = self.begin_write().await?;
        let mut update = Entity::update_many()
            .col_expr(Column::Revision, Expr::col(Column::Revision).add(1))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(id));
        if let Some(name) = &changes.name {
            update = update.col_expr(Column::Name, Expr::value(name.as_str()));
        }
        if let Some(plan) = changes.plan {
            update = update.col_expr(Column::Plan, Expr::value(plan.as_str()));
        }
        if let Some(revision) = expected_revision {
            update = update.filter(Column::Revision.eq(revision));
        }
        let name = changes.name.as_ref().map(|n| n.as_str()).unwrap_or("");
        let result = update
            .exec(&txn)
            .await
            .map_err(|err| unique_violation(err, "organization", name))?;
        if result.rows_affected == 1 {
            insert_audit_event(&txn, event).await?;
        }
        let current = find_organization(&txn, id).await?;
        txn.commit().await?;
        match (result.rows_affected, current) {
            (_, None) => Err(Error::NotFound {
                kind: "organization",
                id: id.to_owned(),
            }),
            (0, Some(_)) => Err(Error::EtagMismatch {
                kind: "organization",
                id: id.to_owned(),
            }),
            (_, Some(org)) => Ok(org),
        }
    }
}

/// Returns the organization with `id` on any connection (pool or transaction).
pub(crate) async fn find_organization<C: sea_orm::ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<Organization>, Error> {
    Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

fn to_domain(row: Model) -> Result<Organization, Error> {
    let plan = Plan::parse(&row.plan).ok_or_else(|| {
        Error::internal(anyhow!(
            "organization {} has unknown plan {:?}",
            row.id,
            row.plan
        ))
    })?;
    let name = OrganizationName::parse(row.name.clone()).map_err(|err| {
        Error::internal(anyhow!(
            "organization {} has an invalid name: {err}",
            row.id
        ))
    })?;
    Ok(Organization {
        id: row.id,
        name,
        plan,
        created_at: row.created_at,
        updated_at: row.updated_at,
        revision: row.revision,
    })
}
