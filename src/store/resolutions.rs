//! `pack_resolutions`: ResolvePack answers kept encoded with the inputs they
//! were computed from (see `registry::packs::stored`), and the member
//! servers' revisions those inputs are compared with.

use std::collections::HashMap;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::error::Error;
use crate::registry::now_micros;
use crate::store::Store;
use crate::store::entities::{mcp_server, pack_resolution};

/// A stored answer: who wrote it, from what, and its bytes.
#[derive(Debug, Clone)]
pub struct StoredResolution {
    pub format: String,
    pub inputs: String,
    pub answer: Vec<u8>,
}

impl Store {
    /// The stored answer of pack `pack_id` at `version` (0: the current
    /// members), if any.
    pub async fn stored_resolution(
        &self,
        pack_id: &str,
        version: i64,
    ) -> Result<Option<StoredResolution>, Error> {
        let row = pack_resolution::Entity::find_by_id((pack_id.to_owned(), version))
            .one(&self.db)
            .await?;
        Ok(row.map(|row| StoredResolution {
            format: row.format,
            inputs: row.inputs,
            answer: row.answer,
        }))
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
        use mcp_server::{Column, Entity};
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = Entity::find()
            .select_only()
            .column(Column::Id)
            .column(Column::Revision)
            .column(Column::SyncRevision)
            .filter(Column::Id.is_in(ids.iter().map(String::as_str)))
            .into_tuple::<(String, i64, i64)>()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, revision, sync)| (id, (revision, sync)))
            .collect())
    }
}
