//! Organizations and API keys: the rules behind AdminService and the
//! `mcp-registry admin` subcommands.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::hash_secret;
use crate::error::{Error, FieldViolation, Violations};
use crate::pagination::{Page, PageRequest};
use crate::registry::audit::{self, Action, AuditEvent};
use crate::registry::{
    ApiKey, Caller, KeyScope, MAX_KEY_PACKS, Organization, OrganizationName, Plan, is_valid_id,
    new_id, now_micros,
};
use crate::store::Store;

/// Prefix of every API key secret, so leaked secrets are easy to recognise
/// by secret scanners.
pub const SECRET_PREFIX: &str = "mcpr_";

/// A validated request to create an organization.
#[derive(Debug)]
pub struct NewOrganization {
    pub name: OrganizationName,
    pub plan: Plan,
}

/// Changes to apply to an organization; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct OrganizationChanges {
    pub name: Option<OrganizationName>,
    pub plan: Option<Plan>,
}

/// A validated request to change an organization.
#[derive(Debug)]
pub struct OrganizationUpdate {
    pub id: String,
    pub changes: OrganizationChanges,
    /// The etag the caller last read; the update fails with ABORTED when stale.
    pub etag: Option<String>,
}

/// A validated request to create an API key.
#[derive(Debug)]
pub struct NewApiKey {
    pub scope: KeyScope,
    pub display_name: String,
    /// A service key (organization keys only): see [`ApiKey::acts_for_users`].
    pub acts_for_users: bool,
}

/// A freshly created key and its secret, which exists nowhere else.
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

/// Organization and key administration.
#[derive(Clone, Debug)]
pub struct Admin {
    store: Store,
}

impl Admin {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates an organization.
    pub async fn create_organization(
        &self,
        caller: &Caller,
        new: NewOrganization,
    ) -> Result<Organization, Error> {
        caller.require_platform_admin()?;
        let now = now_micros();
        let org = Organization {
            id: new_id("org"),
            name: new.name,
            plan: new.plan,
            created_at: now,
            updated_at: now,
            revision: 1,
        };
        let changes = audit::organization_changes(None, Some(&org));
        let event = AuditEvent::new(
            caller,
            Action::OrganizationCreate,
            &org.id,
            Some(&org.id),
            changes,
        );
        self.store.insert_organization(&org, &event).await?;
        tracing::info!(organization_id = %org.id, plan = org.plan.as_str(), actor = caller.actor(), "organization created");
        Ok(org)
    }

    /// Returns one organization.
    pub async fn get_organization(&self, caller: &Caller, id: &str) -> Result<Organization, Error> {
        caller.require_platform_admin()?;
        self.store
            .get_organization(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "organization",
                id: id.to_owned(),
            })
    }

    /// Lists organizations in creation order.
    pub async fn list_organizations(
        &self,
        caller: &Caller,
        page: &PageRequest<String>,
    ) -> Result<Page<Organization, String>, Error> {
        caller.require_platform_admin()?;
        self.store.list_organizations(page).await
    }

    /// Changes an organization's name or plan. A downgrade deletes nothing.
    pub async fn update_organization(
        &self,
        caller: &Caller,
        update: OrganizationUpdate,
    ) -> Result<Organization, Error> {
        caller.require_platform_admin()?;
        // An etag that does not parse can never match: -1 is no revision.
        let expected = update.etag.as_deref().map(|etag| {
            etag.strip_prefix('r')
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(-1)
        });
        let mut attempt = 0;
        let org = loop {
            attempt += 1;
            // The changes are recorded against the state read here; the
            // update is conditional on its revision, so nothing slips between.
            let current = self.get_organization(caller, &update.id).await?;
            let mut next = current.clone();
            if let Some(name) = &update.changes.name {
                next.name = name.clone();
            }
            if let Some(plan) = update.changes.plan {
                next.plan = plan;
            }
            let changes = audit::organization_changes(Some(&current), Some(&next));
            let event = AuditEvent::new(
                caller,
                Action::OrganizationUpdate,
                &current.id,
                Some(&current.id),
                changes,
            );
            let changes = OrganizationChanges {
                name: update.changes.name.clone(),
                plan: update.changes.plan,
            };
            let revision = expected.unwrap_or(current.revision);
            match (self.store)
                .update_organization(&update.id, changes, Some(revision), now_micros(), &event)
                .await
            {
                // Without an etag the update was not conditional: re-read.
                Err(Error::EtagMismatch { .. }) if expected.is_none() && attempt < 5 => {}
                other => break other?,
            }
        };
        tracing::info!(organization_id = %org.id, plan = org.plan.as_str(), actor = caller.actor(), "organization updated");
        Ok(org)
    }

    /// Creates an API key and returns it with its secret.
    pub async fn create_api_key(
        &self,
        caller: &Caller,
        new: NewApiKey,
    ) -> Result<CreatedApiKey, Error> {
        caller.require_platform_admin()?;
        if let KeyScope::Organization {
            organization_id,
            pack_ids,
            ..
        } = &new.scope
        {
            if self
                .store
                .get_organization(organization_id)
                .await?
                .is_none()
            {
                return Err(Error::InvalidArgument(vec![FieldViolation::new(
                    "api_key.organization_id",
                    format!("organization {organization_id} does not exist"),
                )]));
            }
            self.check_key_packs(organization_id, pack_ids).await?;
        }
        let secret = generate_secret()?;
        let key = ApiKey {
            id: new_id("key"),
            scope: new.scope,
            display_name: new.display_name,
            created_at: now_micros(),
            created_by: caller.actor().to_owned(),
            last_used_at: None,
            revoked_at: None,
            acts_for_users: new.acts_for_users,
        };
        let changes = audit::api_key_changes(None, Some(&key));
        let org = match &key.scope {
            KeyScope::Organization {
                organization_id, ..
            } => Some(organization_id.as_str()),
            KeyScope::PlatformAdmin => None,
        };
        let event = AuditEvent::new(caller, Action::ApiKeyCreate, &key.id, org, changes);
        self.store
            .insert_api_key(&key, &hash_secret(&secret), &event)
            .await?;
        tracing::info!(api_key_id = %key.id, actor = caller.actor(), "api key created");
        Ok(CreatedApiKey { key, secret })
    }

    /// Checks a key's pack limit: well-formed, distinct ids, at most
    /// [`MAX_KEY_PACKS`], each a pack of the key's organization; every bad
    /// id is reported under `api_key.pack_ids[i]`.
    async fn check_key_packs(
        &self,
        organization_id: &str,
        pack_ids: &[String],
    ) -> Result<(), Error> {
        let mut v = Violations::new();
        check_pack_ids(pack_ids, &mut v);
        v.finish()?;
        let existing = self
            .store
            .existing_pack_ids(organization_id, pack_ids)
            .await?;
        let mut v = Violations::new();
        for (i, id) in pack_ids.iter().enumerate() {
            if !existing.contains(id) {
                v.add(
                    format!("api_key.pack_ids[{i}]"),
                    format!("pack {id} does not exist in organization {organization_id}"),
                );
            }
        }
        v.finish()
    }

    /// Lists keys, optionally those of one organization (which must exist).
    pub async fn list_api_keys(
        &self,
        caller: &Caller,
        organization_id: Option<&str>,
        page: &PageRequest<String>,
    ) -> Result<Page<ApiKey, String>, Error> {
        caller.require_platform_admin()?;
        if let Some(org) = organization_id
            && self.store.get_organization(org).await?.is_none()
        {
            return Err(Error::invalid(
                "organization_id",
                format!("organization {org} does not exist"),
            ));
        }
        self.store.list_api_keys(organization_id, page).await
    }

    /// Revokes a key; revoking a revoked key changes nothing.
    pub async fn revoke_api_key(&self, caller: &Caller, id: &str) -> Result<ApiKey, Error> {
        caller.require_platform_admin()?;
        let not_found = || Error::NotFound {
            kind: "api key",
            id: id.to_owned(),
        };
        let current = self.store.get_api_key(id).await?.ok_or_else(not_found)?;
        if current.revoked_at.is_some() {
            return Ok(current);
        }
        let now = now_micros();
        let revoked = ApiKey {
            revoked_at: Some(now),
            ..current.clone()
        };
        let org = match &current.scope {
            KeyScope::Organization {
                organization_id, ..
            } => Some(organization_id.as_str()),
            KeyScope::PlatformAdmin => None,
        };
        let changes = audit::api_key_changes(Some(&current), Some(&revoked));
        let event = AuditEvent::new(caller, Action::ApiKeyRevoke, id, org, changes);
        let key = (self.store)
            .revoke_api_key(id, now, &event)
            .await?
            .ok_or_else(not_found)?;
        tracing::info!(api_key_id = %key.id, actor = caller.actor(), "api key revoked");
        Ok(key)
    }

    /// Returns whether the database has no API key yet (a fresh install).
    pub async fn has_no_keys(&self) -> Result<bool, Error> {
        Ok(!self.store.any_api_key().await?)
    }
}

/// Makes a new secret: the prefix and 256 random bits, base64url.
fn generate_secret() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| Error::internal(anyhow::anyhow!("random number generator failed")))?;
    Ok(format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Checks the form of a key's pack limit (`api_key.pack_ids`): at most
/// [`MAX_KEY_PACKS`] ids, each a pack id, none twice. Whether the packs
/// exist is the domain's check at creation.
pub fn check_pack_ids(pack_ids: &[String], v: &mut Violations) {
    if pack_ids.len() > MAX_KEY_PACKS {
        v.add(
            "api_key.pack_ids",
            format!(
                "has {} ids; a key may be limited to at most {MAX_KEY_PACKS} packs",
                pack_ids.len()
            ),
        );
        return;
    }
    for (i, id) in pack_ids.iter().enumerate() {
        let field = format!("api_key.pack_ids[{i}]");
        if let Err(violation) = validate_id(&field, "pack", id) {
            v.add(violation.field, violation.description);
        } else if pack_ids[..i].contains(id) {
            v.add(field, format!("pack {id} is given twice"));
        }
    }
}

/// Validates an id argument: required, and of the documented shape.
pub fn validate_id(field: &str, prefix: &str, id: &str) -> Result<(), FieldViolation> {
    if id.is_empty() {
        Err(FieldViolation::new(field, "is required"))
    } else if !is_valid_id(prefix, id) {
        Err(FieldViolation::new(
            field,
            format!("must be an id of the form {prefix}_ followed by 32 lowercase hex digits"),
        ))
    } else {
        Ok(())
    }
}
