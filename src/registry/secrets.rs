//! Stored secrets: an organization's named sets of values, sealed once with
//! the secret id as associated data, referenced by servers' credentials and
//! request headers ([`SecretRef`]) and opened only when a sync or a gateway
//! call sends them. Values never leave this module except into a request's
//! headers: no answer, log line or audit event carries them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::crypto::Keyring;
use crate::error::Error;
use crate::pagination::{Page, PageRequest};
use crate::registry::audit::{self, Action, AuditEvent};
use crate::registry::servers::McpServer;
use crate::registry::{
    Caller, Description, Micros, Role, SecretName, SecretValues, etag_of, new_id, now_micros,
};
use crate::store::Store;

/// One value of a stored secret, named by a server's credentials or header
/// (not itself secret: it is shown in GetMcpServer).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SecretRef {
    /// `sec_…`.
    pub secret_id: String,
    /// The value's name in the secret.
    pub value: String,
}

/// A stored secret (values sealed).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    /// The names of the values, as given.
    pub value_names: Vec<String>,
    /// The sealed JSON object of the values by name.
    pub sealed_values: String,
    pub created_at: Micros,
    pub created_by: String,
    pub updated_at: Micros,
    pub updated_by: String,
    pub rotated_at: Micros,
    pub rotated_by: String,
    pub revision: i64,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The sealed values stay out of logs, even sealed.
        f.debug_struct("Secret")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("value_names", &self.value_names)
            .finish_non_exhaustive()
    }
}

impl Secret {
    /// Returns the opaque version tag of this state of the secret.
    pub fn etag(&self) -> String {
        etag_of(self.revision)
    }
}

/// A secret with the servers that reference it.
#[derive(Debug, Clone)]
pub struct SecretView {
    pub secret: Secret,
    /// Server ids, in id order.
    pub dependent_servers: Vec<String>,
}

/// A validated CreateSecret request (plaintext values: not `Debug`).
#[derive(Clone)]
pub struct NewSecret {
    pub name: SecretName,
    pub description: Description,
    pub values: SecretValues,
}

/// A validated UpdateSecret request: `Some` fields replace the stored ones.
#[derive(Debug, Clone, Default)]
pub struct SecretPatch {
    pub name: Option<SecretName>,
    pub description: Option<Description>,
}

/// What a rotation returns: the secret, and the enabled servers that use
/// it, for the caller to re-sync.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub view: SecretView,
    pub servers: Vec<McpServer>,
}

/// The stored secrets of organizations.
#[derive(Clone, Debug)]
pub struct Secrets {
    store: Store,
    keyring: Arc<Keyring>,
}

/// The organization of an organization key; secrets belong to organizations.
fn organization_of(caller: &Caller) -> Result<&str, Error> {
    caller.require_unlimited()?;
    caller.organization_id().ok_or_else(|| {
        Error::PermissionDenied(
            "secrets belong to organizations: use an organization's api key".into(),
        )
    })
}

/// The organization of an ADMIN key (viewers and pack-limited keys are
/// refused first, before any lookup).
fn admin_of(caller: &Caller) -> Result<&str, Error> {
    caller.require_write()?;
    let org = organization_of(caller)?;
    match caller {
        Caller::Member {
            role: Role::Admin, ..
        } => Ok(org),
        _ => Err(Error::PermissionDenied(
            "only ADMIN api keys change secrets".into(),
        )),
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound {
        kind: "secret",
        id: id.to_owned(),
    }
}

fn check_etag(secret: &Secret, etag: Option<&str>) -> Result<(), Error> {
    match etag {
        Some(etag) if etag != secret.etag() => Err(Error::EtagMismatch {
            kind: "secret",
            id: secret.id.clone(),
        }),
        _ => Ok(()),
    }
}

impl Secrets {
    pub fn new(store: Store, keyring: Arc<Keyring>) -> Self {
        Self { store, keyring }
    }

    /// Stores a new secret.
    pub async fn create(&self, caller: &Caller, new: NewSecret) -> Result<SecretView, Error> {
        let org = admin_of(caller)?;
        let now = now_micros();
        let id = new_id("sec");
        let secret = Secret {
            value_names: new.values.names(),
            sealed_values: self.seal(&id, new.values)?,
            id,
            organization_id: org.to_owned(),
            name: new.name.into_inner(),
            description: new.description.into_inner(),
            created_at: now,
            created_by: caller.actor().to_owned(),
            updated_at: now,
            updated_by: caller.actor().to_owned(),
            rotated_at: now,
            rotated_by: caller.actor().to_owned(),
            revision: 1,
        };
        let changes = audit::secret_changes(None, Some(&secret));
        let event = AuditEvent::new(caller, Action::SecretCreate, &secret.id, Some(org), changes);
        self.store.insert_secret(&secret, &event).await?;
        tracing::info!(secret_id = %secret.id, actor = caller.actor(), "secret created");
        Ok(SecretView {
            secret,
            dependent_servers: Vec::new(),
        })
    }

    /// Returns one of the caller's organization's secrets.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<SecretView, Error> {
        let org = organization_of(caller)?;
        let secret = self.find(org, id).await?;
        self.view(secret).await
    }

    /// Lists the caller's organization's secrets, oldest first.
    pub async fn list(
        &self,
        caller: &Caller,
        page: &PageRequest<String>,
    ) -> Result<Page<SecretView, String>, Error> {
        let org = organization_of(caller)?;
        let page = self.store.list_secrets(org, page).await?;
        let ids: Vec<String> = page.items.iter().map(|s| s.id.clone()).collect();
        let mut dependents = self.store.secret_dependents(&ids).await?;
        let items = page
            .items
            .into_iter()
            .map(|secret| SecretView {
                dependent_servers: dependents.remove(&secret.id).unwrap_or_default(),
                secret,
            })
            .collect();
        Ok(Page {
            items,
            next: page.next,
            total: page.total,
        })
    }

    /// Changes a secret's name and/or description.
    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        patch: SecretPatch,
        etag: Option<&str>,
    ) -> Result<SecretView, Error> {
        let org = admin_of(caller)?;
        let current = self.find(org, id).await?;
        check_etag(&current, etag)?;
        let mut secret = current.clone();
        if let Some(name) = patch.name {
            secret.name = name.into_inner();
        }
        if let Some(description) = patch.description {
            secret.description = description.into_inner();
        }
        if secret == current {
            return self.view(secret).await;
        }
        // After a master-key rotation, values sealed with an older key move
        // to the primary one with the next write (they stay as they are if no
        // configured key opens them).
        if !self.keyring.sealed_with_primary(&secret.sealed_values)
            && let Ok(plaintext) = self.keyring.open(&secret.sealed_values, id.as_bytes())
        {
            secret.sealed_values = self
                .keyring
                .seal(&plaintext, id.as_bytes())
                .map_err(Error::internal)?;
        }
        self.write(caller, &current, secret, Action::SecretUpdate)
            .await
    }

    /// Replaces every value of a secret; returns it with the enabled servers
    /// that reference it, which the caller re-syncs.
    pub async fn rotate(
        &self,
        caller: &Caller,
        id: &str,
        values: SecretValues,
        etag: Option<&str>,
    ) -> Result<Rotation, Error> {
        let org = admin_of(caller)?;
        let current = self.find(org, id).await?;
        check_etag(&current, etag)?;
        let mut secret = current.clone();
        secret.value_names = values.names();
        // Sealed with the primary key: a rotation also moves the secret to
        // the newest master key.
        secret.sealed_values = self.seal(id, values)?;
        secret.rotated_at = now_micros();
        secret.rotated_by = caller.actor().to_owned();
        let view = self
            .write(caller, &current, secret, Action::SecretRotate)
            .await?;
        // The servers were re-armed (due now) in the rotation's transaction;
        // the caller syncs them at once.
        let servers = self.store.get_servers(&view.dependent_servers).await?;
        let servers = servers.into_iter().filter(|s| s.enabled).collect();
        Ok(Rotation { view, servers })
    }

    /// Deletes a secret; IN_USE naming the servers that reference it unless
    /// `force`.
    pub async fn delete(
        &self,
        caller: &Caller,
        id: &str,
        force: bool,
        etag: Option<&str>,
    ) -> Result<(), Error> {
        let org = admin_of(caller)?;
        let current = self.find(org, id).await?;
        check_etag(&current, etag)?;
        let changes = audit::secret_changes(Some(&current), None);
        let event = AuditEvent::new(caller, Action::SecretDelete, id, Some(org), changes);
        self.store
            .delete_secret(id, current.revision, force, &event)
            .await?;
        tracing::info!(secret_id = %id, actor = caller.actor(), force, "secret deleted");
        Ok(())
    }

    /// Returns the values that the secrets named `names` of the caller's
    /// organization stand for, by name (ImportMcpConfig's placeholders):
    /// each secret's value named `value`, else its only value; a secret with
    /// several values and none named `value`, and any name without a secret,
    /// are left out. Platform-admin keys have no secrets (empty).
    pub async fn by_names(
        &self,
        caller: &Caller,
        names: &[String],
    ) -> Result<BTreeMap<String, SecretRef>, Error> {
        let Some(org) = caller.organization_id() else {
            return Ok(BTreeMap::new());
        };
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let found = self.store.get_secrets_by_names(org, names).await?;
        Ok(found
            .into_iter()
            .filter_map(|secret| {
                let value = match secret.value_names.as_slice() {
                    [only] => only.clone(),
                    many => many.iter().find(|n| *n == "value")?.clone(),
                };
                let reference = SecretRef {
                    secret_id: secret.id,
                    value,
                };
                Some((secret.name, reference))
            })
            .collect())
    }

    /// Returns the revision of each of these secrets that exists, in id
    /// order (what a pooled upstream session's headers depend on).
    pub async fn revisions(&self, ids: &[String]) -> Result<Vec<(String, i64)>, Error> {
        let mut found: Vec<(String, i64)> = (self.store.get_secrets(ids).await?.into_iter())
            .map(|s| (s.id, s.revision))
            .collect();
        found.sort();
        Ok(found)
    }

    /// Opens the value a reference names, for a request of a server of
    /// `organization_id` (`None`: a catalog server, which may not use
    /// secrets). Fails as CREDENTIALS_UNUSABLE when the secret is gone, is
    /// another organization's, lacks the value, or does not open.
    pub async fn open(
        &self,
        organization_id: Option<&str>,
        reference: &SecretRef,
    ) -> Result<String, Error> {
        let unusable = |why: &str| {
            Error::CredentialsUnusable(format!(
                "secret {} value {:?}: {why}",
                reference.secret_id, reference.value
            ))
        };
        let secret = self
            .store
            .get_secret(&reference.secret_id)
            .await?
            .filter(|s| Some(s.organization_id.as_str()) == organization_id)
            .ok_or_else(|| unusable("the secret does not exist"))?;
        let plaintext = self
            .keyring
            .open(&secret.sealed_values, secret.id.as_bytes())
            .map_err(|err| unusable(&err.to_string()))?;
        let mut values: BTreeMap<String, String> =
            serde_json::from_slice(&plaintext).map_err(|_| unusable("the values do not parse"))?;
        values
            .remove(&reference.value)
            .ok_or_else(|| unusable("the secret has no such value"))
    }

    /// Checks that the references `server` adds (those `previous` did not
    /// have) name existing values of the server's organization's secrets:
    /// NOT_FOUND for a secret of another organization or none, INVALID_ARGUMENT
    /// for an unknown value name.
    pub async fn check_references(
        &self,
        server: &McpServer,
        previous: Option<&McpServer>,
    ) -> Result<(), Error> {
        let old = previous.map(references).unwrap_or_default();
        let new: Vec<(String, SecretRef)> = references(server)
            .into_iter()
            .filter(|r| !old.contains(r))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let Some(org) = server.organization_id.as_deref() else {
            return Err(Error::invalid(
                "mcp_server.credentials",
                "catalog servers cannot use an organization's secrets",
            ));
        };
        let ids: Vec<String> = new.iter().map(|(_, r)| r.secret_id.clone()).collect();
        let found = self.store.get_secrets(&ids).await?;
        for (field, reference) in &new {
            let secret = found
                .iter()
                .find(|s| s.id == reference.secret_id && s.organization_id == org)
                .ok_or_else(|| not_found(&reference.secret_id))?;
            if !secret.value_names.contains(&reference.value) {
                return Err(Error::invalid(
                    field.clone(),
                    format!(
                        "secret {} has no value {:?} (it has {:?})",
                        secret.id, reference.value, secret.value_names
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn find(&self, org: &str, id: &str) -> Result<Secret, Error> {
        self.store
            .get_secret(id)
            .await?
            .filter(|s| s.organization_id == org)
            .ok_or_else(|| not_found(id))
    }

    async fn view(&self, secret: Secret) -> Result<SecretView, Error> {
        let mut dependents = self
            .store
            .secret_dependents(std::slice::from_ref(&secret.id))
            .await?;
        Ok(SecretView {
            dependent_servers: dependents.remove(&secret.id).unwrap_or_default(),
            secret,
        })
    }

    /// Writes `secret` (the next revision of `current`) with its event.
    async fn write(
        &self,
        caller: &Caller,
        current: &Secret,
        mut secret: Secret,
        action: Action,
    ) -> Result<SecretView, Error> {
        secret.revision = current.revision + 1;
        secret.updated_at = now_micros();
        secret.updated_by = caller.actor().to_owned();
        let changes = audit::secret_changes(Some(current), Some(&secret));
        let org = secret.organization_id.clone();
        let event = AuditEvent::new(caller, action, &secret.id, Some(&org), changes);
        let rearm_at = (action == Action::SecretRotate).then_some(secret.updated_at);
        self.store
            .update_secret(&secret, current.revision, rearm_at, &event)
            .await?;
        tracing::info!(secret_id = %secret.id, actor = caller.actor(), action = action.as_str(), "secret changed");
        self.view(secret).await
    }

    fn seal(&self, id: &str, values: SecretValues) -> Result<String, Error> {
        let plaintext = serde_json::to_vec(&values.into_map()).map_err(Error::internal)?;
        self.keyring
            .seal(&plaintext, id.as_bytes())
            .map_err(Error::internal)
    }
}

/// The references of a server with the field each is under.
fn references(server: &McpServer) -> Vec<(String, SecretRef)> {
    use crate::registry::servers::StoredHeaderValue;
    let credentials = server
        .credentials_secret
        .iter()
        .map(|r| ("mcp_server.credentials".to_owned(), r.clone()));
    let headers = server
        .request_headers
        .iter()
        .filter_map(|h| match &h.value {
            StoredHeaderValue::Secret(r) => Some((
                format!("mcp_server.secret_request_headers[{}]", h.name),
                r.clone(),
            )),
            StoredHeaderValue::Plain(_) | StoredHeaderValue::Sealed(_) => None,
        });
    credentials.chain(headers).collect()
}
