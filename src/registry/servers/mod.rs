//! MCP servers: who may see and change them, how their secrets are sealed,
//! and the rules a configuration must satisfy as a whole.

pub mod answers;
pub mod import;
pub mod model;
mod naming;
mod search;
pub mod server_json;
pub mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use model::*;
pub use validate::UrlPolicy;

use crate::crypto::Keyring;
use crate::error::{Error, Violations};
use crate::pagination::{Page, PageRequest};
use crate::registry::audit::{self, Action, AuditEvent};
use crate::registry::packs;
use crate::registry::search::TextQuery;
use crate::registry::secrets::Secrets;
use crate::registry::{
    Caller, Category, Description, DisplayName, HeaderSet, Icon, Owner, Plan, RegistryName,
    RegistryVersion, Role, ServerName, UpstreamUrl, new_id, now_micros,
};
use crate::store::{ServerQuery, Store};

/// A validated request to register a server. Secrets are plaintext here and
/// sealed before anything is stored; deliberately not `Debug`.
#[derive(Clone)]
pub struct NewServer {
    /// `None`: private for organization keys, catalog for platform admins.
    pub visibility: Option<Visibility>,
    pub name: ServerName,
    /// `name` was derived from `display_name` rather than given: when it is
    /// taken, the server gets the first free alternative (`<name>-2`, …)
    /// instead of ALREADY_EXISTS.
    pub name_derived: bool,
    pub display_name: DisplayName,
    pub description: Description,
    pub url: UpstreamUrl,
    pub icon_url: Option<Icon>,
    pub documentation_url: Option<UpstreamUrl>,
    /// The official MCP Registry's name and version, for a server imported
    /// from a `server.json` (ImportMcpConfig only; CreateMcpServer sets none).
    pub registry: Option<(RegistryName, RegistryVersion)>,
    pub category: Category,
    pub transport: Transport,
    /// `None`: inferred from `credentials`.
    pub auth_type: Option<AuthType>,
    pub credentials: Option<Credentials>,
    pub request_headers: HeaderSet,
    pub approval_policy: ApprovalPolicy,
    pub tool_configuration: ToolConfiguration,
    pub config: serde_json::Map<String, serde_json::Value>,
    pub enabled: bool,
}

/// A validated change: `Some` fields replace the stored ones.
#[derive(Debug, Clone, Default)]
pub struct ServerPatch {
    pub name: Option<ServerName>,
    pub display_name: Option<DisplayName>,
    pub description: Option<Description>,
    pub url: Option<UpstreamUrl>,
    /// `Some(None)` removes the icon.
    pub icon_url: Option<Option<Icon>>,
    /// `Some(None)` removes the documentation URL.
    pub documentation_url: Option<Option<UpstreamUrl>>,
    pub category: Option<Category>,
    pub transport: Option<Transport>,
    /// `Some(None)`: AUTH_TYPE_UNSPECIFIED, i.e. inferred from the credentials.
    pub auth_type: Option<Option<AuthType>>,
    /// `Some(None)` clears the credentials.
    pub credentials: Option<Option<Credentials>>,
    pub request_headers: Option<HeaderSet>,
    pub approval_policy: Option<ApprovalPolicy>,
    pub tools_enabled: Option<bool>,
    pub allowed_tools: Option<Vec<String>>,
    pub config: Option<serde_json::Map<String, serde_json::Value>>,
    pub enabled: Option<bool>,
}

/// How to find a server.
#[derive(Debug, Clone)]
pub enum Lookup {
    Id(String),
    Name(String),
}

/// Filters of a server listing.
#[derive(Debug, Clone, Default)]
pub struct ServerFilter {
    pub status: Option<ServerStatus>,
    pub category: Option<String>,
    pub visibility: Option<Visibility>,
    pub name_prefix: Option<String>,
    /// Text over name, display name and description.
    pub text: Option<TextQuery>,
    /// Only servers that currently have a tool with exactly this name.
    pub tool_name: Option<String>,
    pub include_catalog: bool,
    /// Only what this owner created (`created_by_subject`, or `mine`
    /// resolved to the caller); part of the filter's cache key.
    pub owner: Option<Owner>,
}

/// A validated ApproveTools request.
#[derive(Debug, Clone, Default)]
pub struct Approval {
    pub tool_names: Vec<String>,
    pub definition_hashes: Vec<String>,
    pub all_tools: bool,
    pub revoke_tool_names: Vec<String>,
    pub etag: Option<String>,
}

/// Registration and administration of MCP servers.
#[derive(Clone, Debug)]
pub struct Servers {
    store: Store,
    keyring: Arc<Keyring>,
    policy: UrlPolicy,
    /// Checks the references to stored secrets a write adds, and opens them
    /// for syncs.
    secrets: Secrets,
}

/// How often an update without an etag retries after losing a race to
/// another update of the same server.
const UPDATE_ATTEMPTS: usize = 5;

impl Servers {
    pub fn new(store: Store, keyring: Arc<Keyring>, policy: UrlPolicy) -> Self {
        Self {
            secrets: Secrets::new(store.clone(), keyring.clone()),
            store,
            keyring,
            policy,
        }
    }

    /// The stored secrets servers reference.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The change generations of the store, for caches of answers.
    pub fn generations(&self) -> &Arc<crate::store::Generations> {
        self.store.generations()
    }

    /// Returns the URL rules in force.
    pub fn policy(&self) -> UrlPolicy {
        self.policy
    }

    /// Which of `names` are taken in the scope the caller creates servers
    /// in (its organization, or the catalog for platform admins).
    pub async fn taken_names(
        &self,
        caller: &Caller,
        names: &[String],
    ) -> Result<std::collections::HashSet<String>, Error> {
        let scope = caller.scope();
        Ok(self
            .store
            .taken_server_names(scope, names)
            .await?
            .into_iter()
            .collect())
    }

    /// Registers a server; a derived name that is taken becomes the first
    /// free alternative.
    pub async fn create(&self, caller: &Caller, new: NewServer) -> Result<ServerView, Error> {
        self.create_as(caller, new, Action::ServerCreate).await
    }

    /// [`Servers::create`], audited as `action` (a create or an import).
    pub(super) async fn create_as(
        &self,
        caller: &Caller,
        new: NewServer,
        action: Action,
    ) -> Result<ServerView, Error> {
        if new.name_derived {
            self.create_under_free_name(caller, new, action).await
        } else {
            self.create_named(caller, new, action).await
        }
    }

    /// Registers a server under exactly its name (ALREADY_EXISTS when taken).
    async fn create_named(
        &self,
        caller: &Caller,
        new: NewServer,
        action: Action,
    ) -> Result<ServerView, Error> {
        caller.require_write()?;
        let organization_id = match (caller, new.visibility) {
            (Caller::Member { .. }, Some(Visibility::Catalog)) => {
                return Err(Error::PermissionDenied(
                    "only platform-admin api keys create catalog servers".into(),
                ));
            }
            (
                Caller::Member {
                    organization_id, ..
                },
                _,
            ) => Some(organization_id.clone()),
            (Caller::PlatformAdmin { .. } | Caller::Cli, Some(Visibility::Private)) => {
                return Err(Error::invalid(
                    "mcp_server.visibility",
                    "platform-admin keys create catalog servers only (VISIBILITY_CATALOG)",
                ));
            }
            (Caller::PlatformAdmin { .. } | Caller::Cli, _) => None,
        };
        let auth_type = new.auth_type.unwrap_or_else(|| {
            new.credentials
                .as_ref()
                .map_or(AuthType::None, Credentials::auth_type)
        });
        let headers: Vec<HeaderInput> = new.request_headers.into_inner();
        let mut v = Violations::new();
        check_auth(
            auth_type,
            new.credentials.as_ref().map(Credentials::auth_type),
            new.credentials
                .as_ref()
                .map(Credentials::header_name)
                .as_deref(),
            &headers,
            &mut v,
        );
        v.finish()?;

        if let Some(org) = &organization_id {
            let plan = self
                .store
                .get_organization(org)
                .await?
                .ok_or_else(|| {
                    Error::internal(anyhow::anyhow!("caller's organization {org} is gone"))
                })?
                .plan;
            if plan == Plan::Free {
                return Err(Error::PlanLimitExceeded {
                    subject: "private_servers".into(),
                    description: "the FREE plan allows no private servers (catalog servers only); upgrade to PRO".into(),
                });
            }
        }

        let now = now_micros();
        let id = new_id("mcp");
        let sealed_credentials = new
            .credentials
            .as_ref()
            .map(|c| self.seal_credentials(&id, c))
            .transpose()?;
        let request_headers = self.seal_headers(&id, headers, &[], false)?;
        let status = if new.enabled {
            ServerStatus::Pending
        } else {
            ServerStatus::Disabled
        };
        let server = McpServer {
            auth_header_name: new.credentials.as_ref().map(Credentials::header_name),
            credentials_secret: new
                .credentials
                .as_ref()
                .and_then(Credentials::secret_ref)
                .cloned(),
            credentials_updated_at: sealed_credentials.as_ref().map(|_| now),
            sealed_credentials,
            id,
            organization_id,
            visibility: if caller_is_platform(caller) {
                Visibility::Catalog
            } else {
                Visibility::Private
            },
            name: new.name.into_inner(),
            display_name: new.display_name.into_inner(),
            description: new.description.into_inner(),
            url: new.url.into_inner(),
            icon_url: new.icon_url.map(Icon::into_inner).unwrap_or_default(),
            documentation_url: new
                .documentation_url
                .map(UpstreamUrl::into_inner)
                .unwrap_or_default(),
            registry_name: new
                .registry
                .as_ref()
                .map(|(name, _)| name.as_str().to_owned())
                .unwrap_or_default(),
            registry_version: new
                .registry
                .map(|(_, version)| version.into_inner())
                .unwrap_or_default(),
            category: new.category.into_inner(),
            transport: new.transport,
            auth_type,
            request_headers,
            approval_policy: new.approval_policy,
            tool_configuration: new.tool_configuration,
            config: new.config,
            enabled: new.enabled,
            status,
            detected_transport: None,
            server_info: None,
            last_synced_at: None,
            last_successful_sync_at: None,
            last_error: None,
            tool_count: 0,
            prompt_count: 0,
            resource_count: 0,
            resource_template_count: 0,
            tool_approvals: BTreeMap::new(),
            next_sync_at: new.enabled.then_some(now),
            created_at: now,
            updated_at: now,
            created_by: caller.actor().to_owned(),
            modified_by: caller.actor().to_owned(),
            created_by_subject: caller.subject().map(str::to_owned),
            modified_by_subject: caller.subject().map(str::to_owned),
            revision: 1,
        };
        self.secrets.check_references(&server, None).await?;
        let changes = audit::server_changes(None, Some(&server));
        let org = server.organization_id.as_deref();
        let event = AuditEvent::new(caller, action, &server.id, org, changes);
        self.store.insert_server(&server, &event).await?;
        tracing::info!(server_id = %server.id, name = %server.name, actor = caller.actor(), "mcp server created");
        // A server created just now, under a new id, is in no pack.
        Ok(ServerView {
            access: access(caller, &server),
            pack_ids: Vec::new(),
            server,
        })
    }

    /// Returns one server the caller may see.
    pub async fn get(&self, caller: &Caller, lookup: Lookup) -> Result<ServerView, Error> {
        let org = caller.organization_id();
        let found = match &lookup {
            Lookup::Id(id) => self.store.get_server_with_packs(id, org).await?,
            Lookup::Name(name) => {
                let own = match org {
                    Some(org) => {
                        self.store
                            .get_server_by_name_with_packs(org, name, Some(org))
                            .await?
                    }
                    None => None,
                };
                match own {
                    Some(found) => Some(found),
                    None => {
                        self.store
                            .get_server_by_name_with_packs(CATALOG_SCOPE, name, org)
                            .await?
                    }
                }
            }
        };
        let (server, pack_ids) = found
            .filter(|(s, _)| is_visible(caller, s))
            .ok_or_else(|| {
                not_found(match &lookup {
                    Lookup::Id(id) | Lookup::Name(id) => id,
                })
            })?;
        let view = view_with(caller, server, pack_ids);
        // A pack-limited key's view lists only its packs holding the server.
        if caller.pack_limit().is_some() && view.pack_ids.is_empty() {
            return Err(outside_packs(&view.server.id));
        }
        Ok(view)
    }

    /// Lists the servers the caller may see that match `filter`.
    pub async fn list(
        &self,
        caller: &Caller,
        filter: &ServerFilter,
        page: &PageRequest<String>,
    ) -> Result<Page<ServerView, String>, Error> {
        caller.require_unlimited()?;
        let query = ServerQuery {
            scopes: list_scopes(caller, filter),
            status: filter.status,
            category: filter.category.clone(),
            name_prefix: filter.name_prefix.clone(),
            text: filter.text.clone(),
            tool_name: filter.tool_name.clone(),
            owner: filter.owner.clone(),
        };
        let page = self
            .store
            .list_servers(&query, page, caller.organization_id())
            .await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|(server, pack_ids)| view_with(caller, server, pack_ids))
                .collect(),
            next: page.next,
            total: page.total,
        })
    }

    /// Applies `patch` to server `id`.
    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        patch: ServerPatch,
        etag: Option<&str>,
    ) -> Result<ServerView, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.editable(caller, id).await?;
            check_etag(&current, etag)?;
            let expected = current.revision;
            let updated = self.apply(caller, current.clone(), patch.clone())?;
            self.secrets
                .check_references(&updated, Some(&current))
                .await?;
            let resets_sync = updated.status != current.status
                || updated.next_sync_at != current.next_sync_at
                || updated.detected_transport != current.detected_transport;
            let changes = audit::server_changes(Some(&current), Some(&updated));
            let org = updated.organization_id.as_deref();
            let event = AuditEvent::new(caller, Action::ServerUpdate, id, org, changes);
            match self
                .store
                .update_server(&updated, expected, resets_sync, &event)
                .await
            {
                Ok(()) => {
                    tracing::info!(server_id = %updated.id, actor = caller.actor(), "mcp server updated");
                    return self.view(caller, updated).await;
                }
                // Without an etag the caller did not ask for a conditional
                // update: re-read and re-apply after losing a race.
                Err(Error::EtagMismatch { .. }) if etag.is_none() && attempt < UPDATE_ATTEMPTS => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Deletes server `id`. A server held by packs is IN_USE unless `force`,
    /// which first removes it from each pack (one SERVER_DELETED revision each).
    pub async fn delete(
        &self,
        caller: &Caller,
        id: &str,
        force: bool,
        etag: Option<&str>,
    ) -> Result<(), Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.delete_once(caller, id, force, etag).await {
                // Without an etag the delete was not conditional: a concurrent
                // update only changed the revision to check against.
                Err(Error::EtagMismatch { .. }) if etag.is_none() && attempt < UPDATE_ATTEMPTS => {}
                other => return other,
            }
        }
    }

    async fn delete_once(
        &self,
        caller: &Caller,
        id: &str,
        force: bool,
        etag: Option<&str>,
    ) -> Result<(), Error> {
        let server = self.editable(caller, id).await?;
        check_etag(&server, etag)?;
        let holders = self.store.packs_holding(id).await?;
        if !holders.is_empty() && !force {
            let own = caller.organization_id();
            let named: Vec<String> = holders
                .iter()
                .filter(|(_, org, _)| Some(org.as_str()) == own)
                .map(|(pack_id, _, name)| format!("{name} ({pack_id})"))
                .collect();
            let others = holders.len() - named.len();
            let mut message = format!("server {id} is in use by packs: {}", named.join(", "));
            match (own.is_some(), named.is_empty()) {
                _ if others == 0 => {}
                // A platform admin has no packs of its own: just count them.
                (false, _) => message.push_str(&format!("{others} pack(s)")),
                (true, true) => {
                    message.push_str(&format!("{others} pack(s) of other organizations"))
                }
                (true, false) => {
                    message.push_str(&format!("; and {others} pack(s) of other organizations"))
                }
            }
            message.push_str("; delete with force to remove it from them");
            return Err(Error::InUse(message));
        }
        let changes = audit::server_changes(Some(&server), None);
        let org = server.organization_id.as_deref();
        let event = AuditEvent::new(caller, Action::ServerDelete, id, org, changes);
        match &server.organization_id {
            // A private server's packs are all in its organization: removing
            // it from them and deleting it is one transaction.
            Some(org) => {
                let tx = self.store.begin_org_write(org).await?;
                // A pack may have taken the server since the check above;
                // without `force` that is IN_USE, never a silent removal.
                if !force && !tx.packs_holding(id).await?.is_empty() {
                    return Err(Error::InUse(format!(
                        "server {id} was added to a pack meanwhile; delete with force to remove it from packs"
                    )));
                }
                packs::remove_deleted_server(&tx, id, caller).await?;
                tx.delete_server(id, server.revision).await?;
                tx.record(&event).await?;
                tx.commit().await?;
            }
            // A catalog server may be in packs of many organizations.
            None => {
                let mut orgs: Vec<&str> = holders.iter().map(|(_, org, _)| org.as_str()).collect();
                orgs.sort_unstable();
                orgs.dedup();
                for org in orgs {
                    let tx = self.store.begin_org_write(org).await?;
                    packs::remove_deleted_server(&tx, id, caller).await?;
                    tx.commit().await?;
                }
                self.store
                    .delete_server(server.scope(), id, server.revision, &event)
                    .await?;
            }
        }
        tracing::info!(server_id = %id, actor = caller.actor(), removed_from_packs = holders.len(), "mcp server deleted");
        Ok(())
    }

    /// Lists a visible server's capabilities of `kinds`; returns the server too
    /// (approval states depend on it).
    pub async fn capabilities(
        &self,
        caller: &Caller,
        server_id: &str,
        kinds: &[CapabilityKind],
        page: &PageRequest<(String, String)>,
    ) -> Result<(McpServer, Page<Capability, (String, String)>), Error> {
        let server = self.visible(caller, server_id).await?;
        let page = self.store.list_capabilities(server_id, kinds, page).await?;
        Ok((server, page))
    }

    /// Returns every tool of a visible server, by name (what ListServerTools
    /// pages through).
    pub async fn tools(&self, caller: &Caller, server_id: &str) -> Result<Vec<Capability>, Error> {
        self.visible(caller, server_id).await?;
        self.store.server_tools(server_id).await
    }

    /// Records approvals (and revocations) of a server's tools.
    pub async fn approve_tools(
        &self,
        caller: &Caller,
        server_id: &str,
        approval: Approval,
    ) -> Result<ServerView, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.approve_tools_once(caller, server_id, &approval).await {
                // Without an etag the change was not conditional: re-read and
                // re-apply after losing a race to another update.
                Err(Error::EtagMismatch { .. })
                    if approval.etag.is_none() && attempt < UPDATE_ATTEMPTS => {}
                other => return other,
            }
        }
    }

    async fn approve_tools_once(
        &self,
        caller: &Caller,
        server_id: &str,
        approval: &Approval,
    ) -> Result<ServerView, Error> {
        let mut server = self.editable(caller, server_id).await?;
        check_etag(&server, approval.etag.as_deref())?;
        let tools = self.store.server_tools(server_id).await?;
        let current: BTreeMap<&str, &str> = tools
            .iter()
            .map(|t| (t.key.as_str(), t.definition_hash.as_str()))
            .collect();
        let mut approvals = server.tool_approvals.clone();
        for name in &approval.tool_names {
            let hash = current.get(name.as_str()).ok_or_else(|| Error::NotFound {
                kind: "tool",
                id: format!("{name:?} of server {server_id}"),
            })?;
            approvals.insert(name.clone(), (*hash).to_owned());
        }
        for hash in &approval.definition_hashes {
            let Some((name, _)) = current.iter().find(|(_, h)| **h == hash.as_str()) else {
                return Err(Error::FailedPrecondition(format!(
                    "no tool of server {server_id} currently has definition hash {hash}: it changed since it was read, or never existed"
                )));
            };
            approvals.insert((*name).to_owned(), hash.clone());
        }
        if approval.all_tools {
            for (name, hash) in &current {
                approvals.insert((*name).to_owned(), (*hash).to_owned());
            }
        }
        for name in &approval.revoke_tool_names {
            approvals.remove(name);
        }
        let expected = server.revision;
        let before = server.clone();
        server.tool_approvals = approvals;
        server.revision += 1;
        server.updated_at = now_micros();
        server.modified_by = caller.actor().to_owned();
        server.modified_by_subject = caller.subject().map(str::to_owned);
        let changes = audit::server_changes(Some(&before), Some(&server));
        let org = server.organization_id.as_deref();
        let event = AuditEvent::new(caller, Action::ServerApproveTools, server_id, org, changes);
        self.store
            .update_server(&server, expected, false, &event)
            .await?;
        tracing::info!(server_id = %server.id, actor = caller.actor(), "tool approvals changed");
        self.view(caller, server).await
    }

    /// Returns the server if the caller may see it, else NOT_FOUND; for a
    /// pack-limited key, PERMISSION_DENIED unless one of its packs holds it.
    async fn visible(&self, caller: &Caller, id: &str) -> Result<McpServer, Error> {
        // Only a pack-limited key needs the server's packs.
        let packs_of = caller.pack_limit().and(caller.organization_id());
        let (server, packs) = self
            .store
            .get_server_with_packs(id, packs_of)
            .await?
            .filter(|(s, _)| is_visible(caller, s))
            .ok_or_else(|| not_found(id))?;
        if let Some(limit) = caller.pack_limit()
            && !packs.iter().any(|p| limit.contains(p))
        {
            return Err(outside_packs(id));
        }
        Ok(server)
    }

    /// Returns the server if the caller may change it: NOT_FOUND when the
    /// caller cannot see it, PERMISSION_DENIED when it can only see it.
    async fn editable(&self, caller: &Caller, id: &str) -> Result<McpServer, Error> {
        let server = self.visible(caller, id).await?;
        if !can_edit(caller, &server) {
            return Err(Error::PermissionDenied(match caller {
                Caller::Member {
                    role: Role::Viewer, ..
                } => "viewer api keys may only read".into(),
                Caller::Member { packs: Some(_), .. } => {
                    "pack-limited api keys may only read".into()
                }
                _ if server.visibility == Visibility::Catalog => {
                    "catalog servers are changed only with a platform-admin api key".into()
                }
                _ => "only an ADMIN key or the key that created the server may change it".into(),
            }));
        }
        Ok(server)
    }

    /// Returns `current` with `patch` applied, validated as a whole and with
    /// secrets sealed (re-sealed with the primary key when the connection changes).
    fn apply(
        &self,
        caller: &Caller,
        current: McpServer,
        patch: ServerPatch,
    ) -> Result<McpServer, Error> {
        let mut server = current.clone();
        let ServerPatch {
            name,
            display_name,
            description,
            url,
            icon_url,
            documentation_url,
            category,
            transport,
            auth_type,
            credentials,
            request_headers,
            approval_policy,
            tools_enabled,
            allowed_tools,
            config,
            enabled,
        } = patch;
        let connection_changed = url.as_ref().is_some_and(|u| u.as_str() != current.url)
            || transport.is_some_and(|t| t != current.transport)
            || auth_type.is_some()
            || credentials.is_some();
        if let Some(value) = name {
            server.name = value.into_inner();
        }
        if let Some(value) = display_name {
            server.display_name = value.into_inner();
        }
        if let Some(value) = description {
            server.description = value.into_inner();
        }
        if let Some(value) = url {
            server.url = value.into_inner();
        }
        if let Some(value) = icon_url {
            server.icon_url = value.map(Icon::into_inner).unwrap_or_default();
        }
        if let Some(value) = documentation_url {
            server.documentation_url = value.map(UpstreamUrl::into_inner).unwrap_or_default();
        }
        if let Some(value) = category {
            server.category = value.into_inner();
        }
        if let Some(value) = transport {
            server.transport = value;
        }
        if let Some(value) = approval_policy {
            server.approval_policy = value;
        }
        if let Some(value) = tools_enabled {
            server.tool_configuration.enabled = value;
        }
        if let Some(value) = allowed_tools {
            server.tool_configuration.allowed_tools = value;
        }
        if let Some(value) = config {
            server.config = value;
        }

        // The stored credentials are opened only when the connection changes
        // (they are re-sealed with the primary key then); any other change
        // keeps the ciphertext as it is, even one that no longer opens.
        let mut v = Violations::new();
        let replaced = credentials.is_some();
        let plaintext: Option<Option<Credentials>> = match credentials {
            Some(replacement) => Some(replacement),
            None if matches!(auth_type, Some(Some(AuthType::None))) => Some(None),
            None if connection_changed => match &current.sealed_credentials {
                Some(sealed) => Some(Some(self.open_credentials(&current.id, sealed)?)),
                None => Some(None),
            },
            None => None,
        };
        let (kind, auth_header) = match &plaintext {
            Some(c) => (
                c.as_ref().map(Credentials::auth_type),
                c.as_ref().map(Credentials::header_name),
            ),
            None => (
                current
                    .sealed_credentials
                    .as_ref()
                    .map(|_| current.auth_type),
                current.auth_header_name.clone(),
            ),
        };
        let effective_auth = match auth_type {
            Some(Some(explicit)) => explicit,
            Some(None) => kind.unwrap_or(AuthType::None),
            None if kind.is_none() => AuthType::None,
            None => current.auth_type,
        };
        let headers: Option<Vec<HeaderInput>> = request_headers.map(HeaderSet::into_inner);
        let checked: Vec<HeaderInput> = match &headers {
            Some(headers) => headers.clone(),
            None => current
                .request_headers
                .iter()
                .map(|h| HeaderInput {
                    name: h.name.clone(),
                    value: HeaderInputValue::KeepStored,
                    secret: false,
                })
                .collect(),
        };
        check_auth(
            effective_auth,
            kind,
            auth_header.as_deref(),
            &checked,
            &mut v,
        );
        v.finish()?;

        let now = now_micros();
        if let Some(plaintext) = plaintext {
            server.sealed_credentials = plaintext
                .as_ref()
                .map(|c| self.seal_credentials(&current.id, c))
                .transpose()?;
            server.credentials_secret = plaintext
                .as_ref()
                .and_then(Credentials::secret_ref)
                .cloned();
            server.credentials_updated_at = match (&server.sealed_credentials, replaced) {
                (None, _) => None,
                (Some(_), true) => Some(now),
                (Some(_), false) => current.credentials_updated_at,
            };
        }
        server.auth_type = effective_auth;
        server.auth_header_name = auth_header;
        if headers.is_some() || connection_changed {
            server.request_headers = self.seal_headers(
                &current.id,
                checked,
                &current.request_headers,
                connection_changed,
            )?;
        }

        if let Some(value) = enabled {
            server.enabled = value;
        }
        if !server.enabled {
            server.status = ServerStatus::Disabled;
            server.next_sync_at = None;
        } else if connection_changed || !current.enabled {
            // A new connection must be proven by a new sync.
            server.status = ServerStatus::Pending;
            server.next_sync_at = Some(now);
            if current.url != server.url || current.transport != server.transport {
                server.detected_transport = None;
            }
        }
        server.revision = current.revision + 1;
        server.updated_at = now;
        server.modified_by = caller.actor().to_owned();
        server.modified_by_subject = caller.subject().map(str::to_owned);
        Ok(server)
    }

    fn seal_credentials(
        &self,
        server_id: &str,
        credentials: &Credentials,
    ) -> Result<String, Error> {
        let plaintext = serde_json::to_vec(credentials).map_err(Error::internal)?;
        self.keyring
            .seal(&plaintext, server_id.as_bytes())
            .map_err(Error::internal)
    }

    /// Opens a server's stored credentials (for re-sealing now, for syncs later).
    pub fn open_credentials(&self, server_id: &str, sealed: &str) -> Result<Credentials, Error> {
        let plaintext = self
            .keyring
            .open(sealed, server_id.as_bytes())
            .map_err(|err| credentials_unusable(server_id, &err.to_string()))?;
        serde_json::from_slice(&plaintext).map_err(|_| {
            credentials_unusable(server_id, "the decrypted value is not valid credentials")
        })
    }

    /// Opens one sealed header value of a server (for syncs).
    pub fn open_secret(&self, server_id: &str, sealed: &str) -> Result<String, Error> {
        let bytes = self
            .keyring
            .open(sealed, server_id.as_bytes())
            .map_err(|err| credentials_unusable(server_id, &err.to_string()))?;
        String::from_utf8(bytes)
            .map_err(|_| credentials_unusable(server_id, "a stored header is not text"))
    }

    /// Seals sensitive header values; `KeepStored` takes the value stored
    /// under the same name, as it is, or opened and re-sealed with the
    /// primary key when `reseal` (the connection changes).
    fn seal_headers(
        &self,
        server_id: &str,
        headers: Vec<HeaderInput>,
        stored: &[StoredHeader],
        reseal: bool,
    ) -> Result<Vec<StoredHeader>, Error> {
        let mut out = Vec::with_capacity(headers.len());
        for header in headers {
            // A header stays sealed once it is: declared secret at import, or
            // stored sealed before, whatever its name.
            let previously_sealed = stored.iter().any(|h| {
                h.name.eq_ignore_ascii_case(&header.name)
                    && matches!(h.value, StoredHeaderValue::Sealed(_))
            });
            let secret =
                header.secret || previously_sealed || validate::is_sensitive_header(&header.name);
            let plaintext = match header.value {
                HeaderInputValue::Value(value) => value,
                HeaderInputValue::Secret(reference) => {
                    out.push(StoredHeader {
                        name: header.name,
                        value: StoredHeaderValue::Secret(reference),
                    });
                    continue;
                }
                HeaderInputValue::KeepStored => {
                    let previous = stored
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(&header.name))
                        .ok_or_else(|| {
                            Error::invalid(
                                "mcp_server.request_headers",
                                format!("{:?} has the value {MASK} but no value is stored under that name", header.name),
                            )
                        })?;
                    match &previous.value {
                        StoredHeaderValue::Plain(value) => value.clone(),
                        StoredHeaderValue::Secret(_) => {
                            out.push(StoredHeader {
                                name: header.name,
                                value: previous.value.clone(),
                            });
                            continue;
                        }
                        StoredHeaderValue::Sealed(_) if !reseal => {
                            out.push(StoredHeader {
                                name: header.name,
                                value: previous.value.clone(),
                            });
                            continue;
                        }
                        StoredHeaderValue::Sealed(sealed) => {
                            let bytes = self
                                .keyring
                                .open(sealed, server_id.as_bytes())
                                .map_err(|err| credentials_unusable(server_id, &err.to_string()))?;
                            String::from_utf8(bytes).map_err(|_| {
                                credentials_unusable(server_id, "a stored header is not text")
                            })?
                        }
                    }
                }
            };
            let value = if secret {
                StoredHeaderValue::Sealed(
                    self.keyring
                        .seal(plaintext.as_bytes(), server_id.as_bytes())
                        .map_err(Error::internal)?,
                )
            } else {
                StoredHeaderValue::Plain(plaintext)
            };
            out.push(StoredHeader {
                name: header.name,
                value,
            });
        }
        Ok(out)
    }

    /// Adds the caller's access and the ids of the caller's packs holding
    /// each server, with one query for the whole list.
    async fn views(
        &self,
        caller: &Caller,
        servers: Vec<McpServer>,
    ) -> Result<Vec<ServerView>, Error> {
        let mut pack_ids = match caller.organization_id() {
            Some(org) => {
                let ids: Vec<String> = servers.iter().map(|s| s.id.clone()).collect();
                self.store.packs_of_servers(org, &ids).await?
            }
            None => Default::default(),
        };
        Ok(servers
            .into_iter()
            .map(|server| {
                let packs = pack_ids.remove(&server.id).unwrap_or_default();
                view_with(caller, server, packs)
            })
            .collect())
    }

    async fn view(&self, caller: &Caller, server: McpServer) -> Result<ServerView, Error> {
        self.views(caller, vec![server])
            .await?
            .pop()
            .ok_or_else(|| Error::internal(anyhow::anyhow!("view of one server is empty")))
    }
}

/// The caller's view of `server`, held by the packs `pack_ids` of the
/// caller's organization: a pack-limited key sees only its own packs.
fn view_with(caller: &Caller, server: McpServer, mut pack_ids: Vec<String>) -> ServerView {
    if let Some(limit) = caller.pack_limit() {
        pack_ids.retain(|p| limit.contains(p));
    }
    ServerView {
        access: access(caller, &server),
        pack_ids,
        server,
    }
}

fn credentials_unusable(server_id: &str, cause: &str) -> Error {
    Error::CredentialsUnusable(format!(
        "the stored credentials of server {server_id} cannot be decrypted ({cause}); set new credentials, and re-send sensitive request headers, with UpdateMcpServer"
    ))
}

fn not_found(id: &str) -> Error {
    Error::NotFound {
        kind: "mcp server",
        id: id.to_owned(),
    }
}

/// A pack-limited key asking for a server none of its packs holds.
fn outside_packs(id: &str) -> Error {
    Error::PermissionDenied(format!(
        "this api key is limited to packs, and none of them holds server {id}"
    ))
}

fn check_etag(server: &McpServer, etag: Option<&str>) -> Result<(), Error> {
    match etag {
        Some(etag) if etag != server.etag() => Err(Error::EtagMismatch {
            kind: "mcp server",
            id: server.id.clone(),
        }),
        _ => Ok(()),
    }
}

/// Checks the auth type, the credentials and the headers together.
fn check_auth(
    auth_type: AuthType,
    credentials: Option<AuthType>,
    auth_header: Option<&str>,
    headers: &[HeaderInput],
    v: &mut Violations,
) {
    match (auth_type, credentials) {
        (AuthType::None, Some(_)) => v.add(
            "mcp_server.credentials",
            "must be empty when auth_type is AUTH_TYPE_NONE",
        ),
        (AuthType::None, None) => {}
        (expected, None) => v.add(
            "mcp_server.credentials",
            format!("are required for auth_type {}", expected.as_str()),
        ),
        (expected, Some(given)) if given != expected => v.add(
            "mcp_server.credentials",
            format!(
                "are for {} but auth_type is {}",
                given.as_str(),
                expected.as_str()
            ),
        ),
        (_, Some(_)) => {}
    }
    if let Some(auth_header) = auth_header
        && headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(auth_header))
    {
        v.add(
            "mcp_server.request_headers",
            format!(
                "{auth_header:?} is set by the credentials and cannot also be a request header"
            ),
        );
    }
}

/// The scopes (organization ids, `catalog`) a listing by `caller` with
/// `filter` covers.
pub fn list_scopes(caller: &Caller, filter: &ServerFilter) -> Vec<String> {
    let own = caller.organization_id().map(str::to_owned);
    match (own, filter.visibility) {
        (Some(_), Some(Visibility::Catalog)) | (None, None | Some(Visibility::Catalog)) => {
            vec![CATALOG_SCOPE.to_owned()]
        }
        (Some(org), Some(Visibility::Private)) => vec![org],
        (Some(org), None) if filter.include_catalog => vec![org, CATALOG_SCOPE.to_owned()],
        (Some(org), None) => vec![org],
        (None, Some(Visibility::Private)) => Vec::new(),
    }
}

fn caller_is_platform(caller: &Caller) -> bool {
    caller.organization_id().is_none()
}

/// Organization keys see their organization's servers and the catalog;
/// platform admins see the catalog only.
pub fn is_visible(caller: &Caller, server: &McpServer) -> bool {
    match (caller.organization_id(), &server.organization_id) {
        (_, None) => true,
        (Some(org), Some(owner)) => org == owner,
        (None, Some(_)) => false,
    }
}

/// ADMIN keys change their organization's servers, MEMBER keys those they
/// created, platform admins the catalog.
pub fn can_edit(caller: &Caller, server: &McpServer) -> bool {
    can_edit_server_of(caller, server.organization_id.as_deref(), &owner_of(server))
}

/// Who owns `server`: the subject that created it, or else the key.
pub fn owner_of(server: &McpServer) -> Owner {
    Owner::of(&server.created_by, server.created_by_subject.as_deref())
}

fn can_edit_server_of(caller: &Caller, organization_id: Option<&str>, owner: &Owner) -> bool {
    match (caller, organization_id) {
        (Caller::PlatformAdmin { .. } | Caller::Cli, None) => true,
        // A pack-limited key only reads.
        (Caller::Member { packs: Some(_), .. }, _) => false,
        (
            Caller::Member {
                organization_id,
                role,
                packs: None,
                ..
            },
            Some(server_org),
        ) if organization_id == server_org => match role {
            Role::Admin => true,
            // Ownership follows the subject when there is one.
            Role::Member => caller.is_owner(owner),
            Role::Viewer => false,
        },
        _ => false,
    }
}

fn access(caller: &Caller, server: &McpServer) -> Access {
    access_to(caller, server.organization_id.as_deref(), &owner_of(server))
}

/// What `caller` may do with a server of `organization_id` (`None`: the
/// catalog) that `owner` created.
pub fn access_to(caller: &Caller, organization_id: Option<&str>, owner: &Owner) -> Access {
    Access {
        role: match caller {
            Caller::Member { role, .. } => Some(*role),
            Caller::PlatformAdmin { .. } | Caller::Cli => None,
        },
        is_creator: caller.is_owner(owner),
        can_edit: can_edit_server_of(caller, organization_id, owner),
    }
}
