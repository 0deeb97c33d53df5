//! ResolvePack answers computed once per change of what they depend on, and
//! kept encoded in the database (`pack_resolutions`) for every replica and
//! for cold starts.
//!
//! A stored answer records its [`Inputs`]: the pack version it resolved (a
//! pack write, tool settings included, makes a new version; a revision never
//! changes) and each member server's `revision` (a caller's change:
//! configuration, approvals, enabling) and `sync_revision` (a sync's state
//! and capabilities), or its absence (deleted). It is served only while the
//! database still holds exactly those, and only if it was written in the
//! adapter's format; otherwise it is computed again and replaced. The inputs
//! are read before the data the answer is computed from, and they only ever
//! grow, so equal inputs now mean that nothing the answer was computed from
//! has changed since.

use std::collections::HashMap;

use bytes::Bytes;

use crate::error::Error;
use crate::registry::Caller;
use crate::registry::packs::{
    Packs, Resolution, RevisionMember, member_of, not_found, resolve, unpinned,
};

/// A ResolvePack answer as an adapter encoded it, and the member servers it
/// depends on.
#[derive(Debug, Clone)]
pub struct EncodedResolution {
    pub answer: Bytes,
    pub server_ids: Vec<String>,
}

/// What a stored answer was computed from: the resolved pack version and
/// each member's `(revision, sync_revision)`, `None` when it did not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub version: i64,
    pub members: Vec<(String, Option<(i64, i64)>)>,
}

impl Inputs {
    /// The inputs of `ids` (in member order) at pack `version`, from the
    /// servers' revisions.
    pub fn of(version: i64, ids: &[String], revisions: &HashMap<String, (i64, i64)>) -> Self {
        Self {
            version,
            members: ids
                .iter()
                .map(|id| (id.clone(), revisions.get(id).copied()))
                .collect(),
        }
    }

    /// The stored form: `v<version>` then `<server id>@<revision>.<sync
    /// revision>` (or `<server id>@-`) per member, space-separated.
    pub fn to_text(&self) -> String {
        let mut text = format!("v{}", self.version);
        for (id, revisions) in &self.members {
            match revisions {
                Some((revision, sync)) => text.push_str(&format!(" {id}@{revision}.{sync}")),
                None => text.push_str(&format!(" {id}@-")),
            }
        }
        text
    }

    /// Reads [`Self::to_text`]'s form; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut words = text.split(' ');
        let version = words.next()?.strip_prefix('v')?.parse().ok()?;
        let members = words
            .map(|word| {
                let (id, revisions) = word.split_once('@')?;
                let revisions = match revisions {
                    "-" => None,
                    pair => {
                        let (revision, sync) = pair.split_once('.')?;
                        Some((revision.parse().ok()?, sync.parse().ok()?))
                    }
                };
                Some((id.to_owned(), revisions))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { version, members })
    }

    /// The member server ids, in member order.
    pub fn server_ids(&self) -> Vec<String> {
        self.members.iter().map(|(id, _)| id.clone()).collect()
    }
}

impl Packs {
    /// Resolves pack `id` at `version` (0: the current members) as
    /// [`Packs::resolve`] does, encoded by `encode`: from the database's
    /// stored answer while its inputs are current and it has `format`, else
    /// computed, stored and returned. A failure to store is logged, not
    /// returned: the answer is right either way.
    pub async fn resolve_encoded(
        &self,
        caller: &Caller,
        id: &str,
        version: i64,
        format: &str,
        encode: impl FnOnce(Resolution) -> Bytes,
    ) -> Result<EncodedResolution, Error> {
        // As `Packs::get` decides who sees the pack, on the pack's row alone:
        // a version fixes the members and their settings (every pack write
        // makes a new one), so the stored inputs name them.
        let (org, _, _) = member_of(caller)?;
        caller.check_pack(id)?;
        let found = self.store.pack_with_resolution(id, version).await?;
        let Some((head, stored)) = found.filter(|(head, _)| head.organization_id == org) else {
            return Err(not_found(id));
        };
        let at = if version == 0 { head.version } else { version };
        if let Some(stored) = stored
            && stored.format == format
            && let Some(inputs) = Inputs::parse(&stored.inputs)
            && inputs.version == at
        {
            let ids = inputs.server_ids();
            let revisions = self.store.server_revisions(&ids).await?;
            if Inputs::of(at, &ids, &revisions) == inputs {
                return Ok(EncodedResolution {
                    answer: Bytes::from(stored.answer),
                    server_ids: ids,
                });
            }
        }
        let pack = self.get(caller, id).await?;
        let (members, frozen, at): (Vec<RevisionMember>, bool, i64) = if version == 0 {
            (unpinned(&pack), false, pack.version)
        } else {
            let revision = self.store.get_pack_revision(&pack.id, version).await?;
            let revision = revision.ok_or_else(|| Error::NotFound {
                kind: "pack revision",
                id: format!("{id} version {version}"),
            })?;
            (revision.members, true, version)
        };
        let ids: Vec<String> = members.iter().map(|m| m.server_id.clone()).collect();
        // The inputs first: the data read after them is at least as new.
        let inputs = Inputs::of(at, &ids, &self.store.server_revisions(&ids).await?);
        let servers = self.store.get_servers(&ids).await?;
        let tools = self.store.tools_of_servers(&ids).await?;
        let resolution = resolve::resolve(&pack.id, at, &members, frozen, &servers, &tools);
        let answer = encode(resolution);
        let inputs = inputs.to_text();
        let saved = (self.store).save_resolution(&pack.id, version, format, &inputs, &answer);
        if let Err(err) = saved.await {
            tracing::warn!(pack_id = %pack.id, version, error = %err, "could not store a pack resolution");
        }
        Ok(EncodedResolution {
            answer,
            server_ids: ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_round_trip_through_their_stored_form() {
        let revisions: HashMap<String, (i64, i64)> =
            [("mcp_a".to_owned(), (3, 7)), ("mcp_c".to_owned(), (1, 0))].into();
        let ids = ["mcp_a", "mcp_b", "mcp_c"].map(str::to_owned);
        let inputs = Inputs::of(12, &ids, &revisions);
        assert_eq!(inputs.to_text(), "v12 mcp_a@3.7 mcp_b@- mcp_c@1.0");
        assert_eq!(Inputs::parse(&inputs.to_text()), Some(inputs.clone()));
        assert_eq!(inputs.server_ids(), ids);
        let empty = Inputs::of(1, &[], &revisions);
        assert_eq!(Inputs::parse(&empty.to_text()), Some(empty));
        for bad in ["", "12", "v1 mcp_a", "v1 mcp_a@3", "v1 mcp_a@x.1", "vx"] {
            assert_eq!(Inputs::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn any_change_of_a_member_or_the_version_changes_the_inputs() {
        let ids = ["mcp_a".to_owned()];
        let at = |revision: Option<(i64, i64)>, version: i64| {
            let revisions: HashMap<String, (i64, i64)> = revision
                .map(|r| ("mcp_a".to_owned(), r))
                .into_iter()
                .collect();
            Inputs::of(version, &ids, &revisions)
        };
        let base = at(Some((1, 1)), 1);
        assert_ne!(base, at(Some((2, 1)), 1), "a caller's change");
        assert_ne!(base, at(Some((1, 2)), 1), "a sync");
        assert_ne!(base, at(None, 1), "a delete");
        assert_ne!(base, at(Some((1, 1)), 2), "a pack write");
    }
}
