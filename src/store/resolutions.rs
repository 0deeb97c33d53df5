//! `pack_resolutions`: ResolvePack answers kept encoded with the inputs they
//! were computed from (see `registry::packs::stored`), and the member
//! servers' revisions those inputs are compared with.

use std::collections::HashMap;

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait,
};

use crate::error::Error;
use crate::registry::now_micros;
use crate::store::Store;
use crate::store::conn::Shape;
use crate::store::entities::{mcp_server, pack, pack_resolution};

/// A stored answer: who wrote it, from what, and its bytes.
#[derive(Debug, Clone)]
pub struct StoredResolution {
    pub format: String,
    pub inputs: String,
    pub answer: Vec<u8>,
}

/// What the stored answer of a pack is checked against: the pack's
/// organization and current version.
#[derive(Debug, Clone)]
pub struct PackHead {
    pub organization_id: String,
    pub version: i64,
}

impl Store {
    /// Pack `pack_id`'s organization and version, and its stored answer at
    /// `version` (0: the current members) if there is one, in one statement;
    /// `None` when there is no such pack.
    pub async fn pack_with_resolution(
        &self,
        pack_id: &str,
        version: i64,
    ) -> Result<Option<(PackHead, Option<StoredResolution>)>, Error> {
        static SHAPE: Shape = Shape::new();
        let backend = self.db.get_database_backend();
        let values = vec![version.into(), pack_id.into()];
        let stmt = SHAPE.statement(backend, values, || {
            backend.build(&pack_with_resolution(pack_id, version))
        });
        let Some(row) = self.db.query_one_raw(stmt).await? else {
            return Ok(None);
        };
        let head = PackHead {
            organization_id: row.try_get("", "organization_id")?,
            version: row.try_get("", "version")?,
        };
        let format: Option<String> = row.try_get("", "format")?;
        let inputs: Option<String> = row.try_get("", "inputs")?;
        let answer: Option<Vec<u8>> = row.try_get("", "answer")?;
        let stored = match (format, inputs, answer) {
            (Some(format), Some(inputs), Some(answer)) => Some(StoredResolution {
                format,
                inputs,
                answer,
            }),
            _ => None,
        };
        Ok(Some((head, stored)))
    }

    /// Stores (or replaces) the answer of pack `pack_id` at `version`. One
    /// statement: a concurrent writer's answer is replaced whole, and the
    /// next reader recomputes whichever is outdated.
    pub async fn save_resolution(
        &self,
        pack_id: &str,
        version: i64,
        format: &str,
        inputs: &str,
        answer: &[u8],
    ) -> Result<(), Error> {
        use pack_resolution::{ActiveModel, Column, Entity};
        let row = ActiveModel {
            pack_id: Set(pack_id.to_owned()),
            version: Set(version),
            format: Set(format.to_owned()),
            inputs: Set(inputs.to_owned()),
            answer: Set(answer.to_vec()),
            computed_at: Set(now_micros()),
        };
        let upsert = OnConflict::columns([Column::PackId, Column::Version])
            .update_columns([
                Column::Format,
                Column::Inputs,
                Column::Answer,
                Column::ComputedAt,
            ])
            .to_owned();
        Entity::insert(row)
            .on_conflict(upsert)
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Each existing server of `ids` with its `(revision, sync_revision)`.
    pub async fn server_revisions(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, (i64, i64)>, Error> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        // A pack has a handful of members: the text for each count up to
        // `SHAPES` is kept.
        const SHAPES: usize = 16;
        static BY_COUNT: [Shape; SHAPES] = [const { Shape::new() }; SHAPES];
        let backend = self.db.get_database_backend();
        let stmt = match BY_COUNT.get(ids.len() - 1) {
            Some(shape) => {
                let values = ids.iter().map(|id| id.as_str().into()).collect();
                shape.statement(backend, values, || revisions_of(ids).build(backend))
            }
            None => revisions_of(ids).build(backend),
        };
        let rows = self.db.query_all_raw(stmt).await?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get::<String>("", "id")?,
                    row.try_get::<i64>("", "revision")?,
                    row.try_get::<i64>("", "sync_revision")?,
                ))
            })
            .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
        Ok(rows
            .into_iter()
            .map(|(id, revision, sync)| (id, (revision, sync)))
            .collect())
    }
}

/// Pack `pack_id` (organization, version) with its stored answer at
/// `version`, as [`Store::pack_with_resolution`] reads it (its [`Shape`]).
pub(super) fn pack_with_resolution(
    pack_id: &str,
    version: i64,
) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{Expr, ExprTrait, JoinType, Query};
    use {pack::Column as P, pack_resolution::Column as R};
    Query::select()
        .column((pack::Entity, P::OrganizationId))
        .column((pack::Entity, P::Version))
        .column((pack_resolution::Entity, R::Format))
        .column((pack_resolution::Entity, R::Inputs))
        .column((pack_resolution::Entity, R::Answer))
        .from(pack::Entity)
        .join(
            JoinType::LeftJoin,
            pack_resolution::Entity,
            Expr::col((pack_resolution::Entity, R::PackId))
                .equals((pack::Entity, P::Id))
                .and(Expr::col((pack_resolution::Entity, R::Version)).eq(version)),
        )
        .and_where(Expr::col((pack::Entity, P::Id)).eq(pack_id))
        .to_owned()
}

/// The revisions of servers `ids`, as [`Store::server_revisions`] reads them (a [`Shape`] per
/// count of ids).
pub(super) fn revisions_of(ids: &[String]) -> sea_orm::Select<mcp_server::Entity> {
    use mcp_server::{Column, Entity};
    Entity::find()
        .select_only()
        .column(Column::Id)
        .column(Column::Revision)
        .column(Column::SyncRevision)
        .filter(Column::Id.is_in(ids.iter().map(String::as_str)))
}
