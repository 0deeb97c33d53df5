//! Queries on `api_keys`.

use anyhow::anyhow;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
};

use crate::error::Error;
use crate::pagination::{Page, PageRequest};
use crate::registry::audit::AuditEvent;
use crate::registry::{ApiKey, KeyScope, Micros, Role};
use crate::store::audit::insert_audit_event;
use crate::store::conn::Shape;
use crate::store::entities::api_key::{ActiveModel, Column, Entity, Model};
use crate::store::{Store, Topic};

impl Store {
    /// Inserts a new key with the hash of its secret, and its audit event.
    pub async fn insert_api_key(
        &self,
        key: &ApiKey,
        secret_hash: &str,
        event: &AuditEvent,
    ) -> Result<(), Error> {
        let (organization_id, role, platform_admin, pack_ids) = match &key.scope {
            KeyScope::PlatformAdmin => (None, None, true, None),
            KeyScope::Organization {
                organization_id,
                role,
                pack_ids,
            } => (
                Some(organization_id.clone()),
                Some(role.as_str().to_owned()),
                false,
                (!pack_ids.is_empty())
                    .then(|| serde_json::to_string(pack_ids))
                    .transpose()
                    .map_err(Error::internal)?,
            ),
        };
        let row = ActiveModel {
            id: Set(key.id.clone()),
            organization_id: Set(organization_id),
            role: Set(role),
            platform_admin: Set(platform_admin),
            display_name: Set(key.display_name.clone()),
            secret_hash: Set(secret_hash.to_owned()),
            created_at: Set(key.created_at),
            created_by: Set(key.created_by.clone()),
            last_used_at: Set(key.last_used_at),
            revoked_at: Set(key.revoked_at),
            pack_ids: Set(pack_ids),
            acts_for_users: Set(key.acts_for_users),
        };
        let txn = self.begin_write().await?;
        Entity::insert(row).exec_without_returning(&txn).await?;
        insert_audit_event(&txn, event).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Returns the key with `id` and the stored hash of its secret.
    pub async fn get_api_key_with_hash(&self, id: &str) -> Result<Option<(ApiKey, String)>, Error> {
        static BY_ID: Shape = Shape::new();
        let backend = self.db.get_database_backend();
        let stmt = BY_ID.statement(backend, vec![id.into()], || by_id(id).build(backend));
        match Entity::find().from_raw_sql(stmt).one(&self.db).await? {
            Some(row) => {
                let hash = row.secret_hash.clone();
                Ok(Some((to_domain(row)?, hash)))
            }
            None => Ok(None),
        }
    }

    /// Returns the key with `id`.
    pub async fn get_api_key(&self, id: &str) -> Result<Option<ApiKey>, Error> {
        Ok(self.get_api_key_with_hash(id).await?.map(|(key, _)| key))
    }

    /// Lists keys in id order, optionally only those of one organization.
    pub async fn list_api_keys(
        &self,
        organization_id: Option<&str>,
        page: &PageRequest<String>,
    ) -> Result<Page<ApiKey, String>, Error> {
        let scope = match organization_id {
            Some(org) => Condition::all().add(Column::OrganizationId.eq(org)),
            None => Condition::all(),
        };
        let mut query = Entity::find()
            .filter(scope.clone())
            .order_by_asc(Column::Id);
        if let Some(after) = &page.after {
            query = query.filter(Column::Id.gt(after.as_str()));
        }
        let mut rows = query.limit(page.limit + 1).all(&self.db).await?;
        let total = Entity::find().filter(scope).count(&self.db).await?;
        let next = page.cut(&mut rows, |row| row.id.clone());
        Ok(Page {
            items: rows.into_iter().map(to_domain).collect::<Result<_, _>>()?,
            next,
            total,
        })
    }

    /// Marks key `id` revoked at `now` unless it already is, with `event`
    /// in the same transaction when it was not; returns the key.
    pub async fn revoke_api_key(
        &self,
        id: &str,
        now: Micros,
        event: &AuditEvent,
    ) -> Result<Option<ApiKey>, Error> {
        let txn = self.begin_write().await?;
        let result = Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(now))
            .filter(Column::Id.eq(id))
            .filter(Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        if result.rows_affected == 1 {
            insert_audit_event(&txn, event).await?;
        }
        txn.commit().await?;
        self.changed(Topic::Key(id));
        self.get_api_key(id).await
    }

    /// Records that key `id` authenticated a call at `now`.
    pub async fn touch_api_key(&self, id: &str, now: Micros) -> Result<(), Error> {
        Entity::update_many()
            .col_expr(Column::LastUsedAt, Expr::value(now))
            .filter(Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Returns whether any API key exists (used for the first-start hint).
    pub async fn any_api_key(&self) -> Result<bool, Error> {
        Ok(Entity::find().limit(1).one(&self.db).await?.is_some())
    }
}

fn to_domain(row: Model) -> Result<ApiKey, Error> {
    let scope = if row.platform_admin {
        KeyScope::PlatformAdmin
    } else {
        let organization_id = row
            .organization_id
            .ok_or_else(|| Error::internal(anyhow!("api key {} has no organization", row.id)))?;
        let role =
            row.role.as_deref().and_then(Role::parse).ok_or_else(|| {
                Error::internal(anyhow!("api key {} has an unknown role", row.id))
            })?;
        // A stored empty array would mean "limited to nothing": read it as
        // that (one id no pack has), never as "not limited".
        let pack_ids = match row.pack_ids.as_deref() {
            None => Vec::new(),
            Some(json) => match serde_json::from_str::<Vec<String>>(json) {
                Ok(ids) if !ids.is_empty() => ids,
                Ok(_) => vec![String::new()],
                Err(err) => {
                    return Err(Error::internal(anyhow!(
                        "api key {} has unreadable pack ids: {err}",
                        row.id
                    )));
                }
            },
        };
        KeyScope::Organization {
            organization_id,
            role,
            pack_ids,
        }
    };
    Ok(ApiKey {
        id: row.id,
        scope,
        display_name: row.display_name,
        created_at: row.created_at,
        created_by: row.created_by,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
        acts_for_users: row.acts_for_users,
    })
}

/// The key with `id`, as [`Store::get_api_key_with_hash`] reads it (its [`Shape`]).
pub(super) fn by_id(id: &str) -> Select<Entity> {
    Entity::find_by_id(id.to_owned()).limit(1)
}
