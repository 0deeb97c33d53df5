//! Packs: named, ordered, versioned sets of servers under plan limits, what
//! an agent may call through them, and their export as client configuration.

pub mod answers;
pub mod export;
pub mod model;
pub mod resolve;
pub mod settings;
pub mod stored;

use std::collections::{HashMap, HashSet};

pub use model::*;

use crate::error::{Error, Violations};
use crate::pagination::{Page, PageRequest};
use crate::registry::audit::{self, Action, AuditEvent};
use crate::registry::search::TextQuery;
use crate::registry::servers::{CATALOG_SCOPE, CapabilityKind, McpServer, Visibility, is_visible};
use crate::registry::{Caller, Description, GatewayUrl, Owner, PackName, Role, new_id, now_micros};
use crate::store::{OrgWrite, Store};

/// A validated request to create a pack.
#[derive(Debug, Clone)]
pub struct NewPack {
    pub name: PackName,
    pub description: Description,
    pub servers: Vec<ServerRef>,
}

/// A validated change of name and/or description.
#[derive(Debug, Clone, Default)]
pub struct PackChanges {
    pub name: Option<PackName>,
    pub description: Option<Description>,
}

/// Filters of a pack listing.
#[derive(Debug, Clone, Default)]
pub struct PackFilter {
    /// Only the packs whose current members include this server.
    pub holding: Option<String>,
    /// Only the packs whose name or description match this text.
    pub text: Option<TextQuery>,
    /// Only what this owner created (`created_by_subject`, or `mine`
    /// resolved to the caller).
    pub owner: Option<Owner>,
}

/// Pack administration and use.
#[derive(Clone, Debug)]
pub struct Packs {
    store: Store,
    /// Where MCP clients reach the pack gateway, for gateway exports; `None`
    /// when this service knows no gateway (off, and no public URL set).
    gateway: Option<GatewayUrl>,
}

/// The organization and role of an organization's key; packs belong to
/// organizations, so platform-admin keys have no packs.
fn member_of(caller: &Caller) -> Result<(&str, Role, &str), Error> {
    match caller {
        Caller::Member {
            organization_id,
            role,
            key_id,
            ..
        } => Ok((organization_id, *role, key_id)),
        Caller::PlatformAdmin { .. } | Caller::Cli => Err(Error::PermissionDenied(
            "packs belong to organizations: use an organization's api key".into(),
        )),
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound {
        kind: "pack",
        id: id.to_owned(),
    }
}

fn check_etag(pack: &Pack, etag: Option<&str>) -> Result<(), Error> {
    match etag {
        Some(etag) if etag != pack.etag() => Err(Error::EtagMismatch {
            kind: "pack",
            id: pack.id.clone(),
        }),
        _ => Ok(()),
    }
}

impl Packs {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            gateway: None,
        }
    }

    /// Exports with [`ExportTarget::Gateway`] point at `gateway`.
    pub fn with_gateway(mut self, gateway: Option<GatewayUrl>) -> Self {
        self.gateway = gateway;
        self
    }

    /// Creates a pack, optionally with members.
    pub async fn create(&self, caller: &Caller, new: NewPack) -> Result<Pack, Error> {
        let (org, _, key) = member_of(caller)?;
        caller.require_write()?;
        let tx = self.store.begin_org_write(org).await?;
        let limits = PlanLimits::of(tx.organization().plan);
        if let Some(max) = limits.packs
            && tx.count_packs().await? >= max
        {
            return Err(Error::PlanLimitExceeded {
                subject: "packs".into(),
                description: format!(
                    "the {} plan allows {max} pack(s) per organization",
                    plan_name(tx.organization().plan)
                ),
            });
        }
        let servers = resolve_refs(&tx, caller, &new.servers, "pack.servers").await?;
        check_members(tx.organization().plan, &[], &servers)?;
        let now = now_micros();
        let pack = Pack {
            id: new_id("pack"),
            organization_id: org.to_owned(),
            name: new.name.into_inner(),
            description: new.description.into_inner(),
            members: servers.iter().map(member).collect(),
            version: 1,
            created_at: now,
            updated_at: now,
            created_by: key.to_owned(),
            modified_by: key.to_owned(),
            created_by_subject: caller.subject().map(str::to_owned),
            modified_by_subject: caller.subject().map(str::to_owned),
        };
        tx.insert_pack(&pack).await?;
        let change = Change::of(ChangeKind::Created, pack.members.clone());
        let revision = revision_of(&tx, &pack, change).await?;
        tx.insert_revision(&revision).await?;
        let changes = audit::pack_changes(None, Some(&pack));
        let event = AuditEvent::new(caller, Action::PackCreate, &pack.id, Some(org), changes);
        tx.record(&event).await?;
        tx.commit().await?;
        tracing::info!(pack_id = %pack.id, actor = key, "pack created");
        Ok(pack)
    }

    /// Returns a pack of the caller's organization; PERMISSION_DENIED for a
    /// pack-limited key outside its packs.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Pack, Error> {
        let (org, _, _) = member_of(caller)?;
        caller.check_pack(id)?;
        self.store
            .get_pack(id)
            .await?
            .filter(|p| p.organization_id == org)
            .ok_or_else(|| not_found(id))
    }

    /// The pack a gateway endpoint names, looked up by id alone (ids are
    /// random, so this reveals nothing), whoever it belongs to (NOT_FOUND
    /// when none): [`Self::admits`] decides who may use it.
    pub async fn find(&self, id: &str) -> Result<Pack, Error> {
        self.store.get_pack(id).await?.ok_or_else(|| not_found(id))
    }

    /// Whether `caller` may use `pack` through the gateway: PERMISSION_DENIED
    /// when it belongs to another organization, is outside a pack-limited
    /// key's packs, or the caller is no organization key.
    pub fn admits(caller: &Caller, pack: &Pack) -> Result<(), Error> {
        let (org, _, _) = member_of(caller)?;
        if pack.organization_id != org {
            return Err(Error::PermissionDenied(
                "this pack belongs to another organization".into(),
            ));
        }
        caller.check_pack(&pack.id)
    }

    /// Lists the caller's organization's packs (a pack-limited key's only);
    /// with `holding`, only those whose current members include that server;
    /// with `text`, only those whose name or description match it.
    /// A server the caller cannot see is in none of its packs, so the page is
    /// empty: the filter narrows and tells nothing about other organizations.
    pub async fn list(
        &self,
        caller: &Caller,
        filter: &PackFilter,
        page: &PageRequest<String>,
    ) -> Result<Page<Pack, String>, Error> {
        let (org, _, _) = member_of(caller)?;
        let only = caller.pack_limit();
        self.store.list_packs(org, only, filter, page).await
    }

    /// Changes name and/or description; a change to nothing makes no version.
    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        changes: PackChanges,
        etag: Option<&str>,
    ) -> Result<Pack, Error> {
        self.mutate(caller, id, etag, |_, pack| {
            let mut fields = Vec::new();
            if let Some(name) = changes.name.clone()
                && name.as_str() != pack.name
            {
                pack.name = name.into_inner();
                fields.push("name".to_owned());
            }
            if let Some(description) = changes.description.clone()
                && description.as_str() != pack.description
            {
                pack.description = description.into_inner();
                fields.push("description".to_owned());
            }
            Ok((!fields.is_empty()).then_some(Change {
                fields,
                ..Change::of(ChangeKind::Updated, Vec::new())
            }))
        })
        .await
    }

    /// Deletes a pack with its revisions.
    pub async fn delete(&self, caller: &Caller, id: &str, etag: Option<&str>) -> Result<(), Error> {
        let (org, _, key) = member_of(caller)?;
        caller.require_write()?;
        let tx = self.store.begin_org_write(org).await?;
        let pack = tx.get_pack(id).await?.ok_or_else(|| not_found(id))?;
        require_editor(caller, &pack)?;
        check_etag(&pack, etag)?;
        tx.delete_pack(id).await?;
        let changes = audit::pack_changes(Some(&pack), None);
        let event = AuditEvent::new(caller, Action::PackDelete, id, Some(org), changes);
        tx.record(&event).await?;
        tx.commit().await?;
        tracing::info!(pack_id = %id, actor = key, "pack deleted");
        Ok(())
    }

    /// Appends a server to a pack.
    pub async fn add_server(
        &self,
        caller: &Caller,
        id: &str,
        server: ServerRef,
        etag: Option<&str>,
    ) -> Result<Pack, Error> {
        let caller_for_refs = caller.clone();
        self.mutate_async(caller, id, etag, move |tx, pack| {
            let server = server.clone();
            let caller = caller_for_refs.clone();
            Box::pin(async move {
                let found =
                    resolve_refs(tx, &caller, std::slice::from_ref(&server), "server").await?;
                let Some(found) = found.into_iter().next() else {
                    return Ok(None);
                };
                if pack.contains(&found.id) {
                    return Err(Error::AlreadyExists {
                        kind: "pack member",
                        name: found.name.clone(),
                    });
                }
                let mut next = pack.members.clone();
                next.push(member(&found));
                let plan = tx.organization().plan;
                check_growth(plan, pack.members.len(), &next)?;
                check_private(plan, &pack.members, std::slice::from_ref(&found))?;
                pack.members = next;
                Ok(Some(Change::of(
                    ChangeKind::ServerAdded,
                    vec![member(&found)],
                )))
            })
        })
        .await
    }

    /// Removes a member from a pack.
    pub async fn remove_server(
        &self,
        caller: &Caller,
        id: &str,
        server: ServerRef,
        etag: Option<&str>,
    ) -> Result<Pack, Error> {
        self.mutate(caller, id, etag, |_, pack| {
            let position = pack.members.iter().position(|m| {
                server.id.as_deref().is_none_or(|sid| sid == m.server_id)
                    && server.name.as_deref().is_none_or(|name| name == m.name)
            });
            let Some(position) = position else {
                return Err(Error::NotFound {
                    kind: "pack member",
                    id: format!("{} in pack {}", server.describe(), pack.id),
                });
            };
            let removed = pack.members.remove(position);
            Ok(Some(Change::of(
                ChangeKind::ServerRemoved,
                vec![removed.bare()],
            )))
        })
        .await
    }

    /// Replaces the whole ordered member list atomically.
    pub async fn replace_servers(
        &self,
        caller: &Caller,
        id: &str,
        servers: Vec<ServerRef>,
        etag: Option<&str>,
    ) -> Result<Pack, Error> {
        let caller_for_refs = caller.clone();
        self.mutate_async(caller, id, etag, move |tx, pack| {
            let servers = servers.clone();
            let caller = caller_for_refs.clone();
            Box::pin(async move {
                let found = resolve_refs(tx, &caller, &servers, "servers").await?;
                // Members that stay keep their tool settings.
                let mut kept: HashMap<&str, &ToolSettings> = (pack.members.iter())
                    .map(|m| (m.server_id.as_str(), &m.settings))
                    .collect();
                let next: Vec<Member> = (found.iter())
                    .map(|server| Member {
                        settings: kept.remove(server.id.as_str()).cloned().unwrap_or_default(),
                        ..member(server)
                    })
                    .collect();
                if next == pack.members {
                    return Ok(None);
                }
                check_members(tx.organization().plan, &pack.members, &found)?;
                let changed = symmetric_difference(&pack.members, &next);
                pack.members = next;
                Ok(Some(Change::of(ChangeKind::ServersReplaced, changed)))
            })
        })
        .await
    }

    /// Lists a pack's revisions, newest first.
    pub async fn revisions(
        &self,
        caller: &Caller,
        id: &str,
        page: &PageRequest<i64>,
    ) -> Result<Page<PackRevision, i64>, Error> {
        self.get(caller, id).await?;
        self.store.list_pack_revisions(id, page).await
    }

    /// Returns one revision.
    pub async fn revision(
        &self,
        caller: &Caller,
        id: &str,
        version: i64,
    ) -> Result<PackRevision, Error> {
        self.get(caller, id).await?;
        self.store
            .get_pack_revision(id, version)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "pack revision",
                id: format!("{id} version {version}"),
            })
    }

    /// Makes an earlier revision's members current again, as a new version.
    pub async fn restore(
        &self,
        caller: &Caller,
        id: &str,
        version: i64,
        etag: Option<&str>,
    ) -> Result<Pack, Error> {
        let old = self.revision(caller, id, version).await?;
        self.mutate_async(caller, id, etag, move |tx, pack| {
            let old = old.clone();
            Box::pin(async move {
                let ids: Vec<String> = old.members.iter().map(|m| m.server_id.clone()).collect();
                let servers = tx.get_servers(&ids).await?;
                let by_id: HashMap<&str, &McpServer> =
                    servers.iter().map(|s| (s.id.as_str(), s)).collect();
                let mut found = Vec::with_capacity(ids.len());
                for m in &old.members {
                    let server = by_id.get(m.server_id.as_str()).ok_or_else(|| {
                        Error::FailedPrecondition(format!(
                            "server {} ({:?}) of version {} no longer exists",
                            m.server_id, m.name, old.version
                        ))
                    })?;
                    found.push((*server).clone());
                }
                check_members(tx.organization().plan, &pack.members, &found)?;
                // The revision's tool settings come back with its members.
                let next: Vec<Member> = (found.iter().zip(&old.members))
                    .map(|(server, m)| Member {
                        settings: m.settings.clone(),
                        ..member(server)
                    })
                    .collect();
                let changed = symmetric_difference(&pack.members, &next);
                pack.members = next;
                Ok(Some(Change {
                    restored_from: old.version,
                    ..Change::of(ChangeKind::Restored, changed)
                }))
            })
        })
        .await
    }

    /// Replaces the tool settings of one member (`server`), as a new version
    /// naming the server and the tools whose settings changed; settings equal
    /// to the current ones make no version. An alias must differ from every
    /// other alias of the pack and from the qualified name of every other
    /// tool its members have now (INVALID_ARGUMENT naming both, under
    /// `tool_settings.tools[i].alias`, `i` indexing `settings.tools`).
    pub async fn update_tool_settings(
        &self,
        caller: &Caller,
        id: &str,
        server: ServerRef,
        settings: ToolSettings,
        etag: Option<&str>,
    ) -> Result<Pack, Error> {
        self.mutate_async(caller, id, etag, move |tx, pack| {
            let mut settings = settings.clone();
            let server = server.clone();
            Box::pin(async move {
                let position = pack.members.iter().position(|m| {
                    server.id.as_deref().is_none_or(|sid| sid == m.server_id)
                        && server.name.as_deref().is_none_or(|name| name == m.name)
                });
                let Some(position) = position else {
                    return Err(Error::NotFound {
                        kind: "pack member",
                        id: format!("{} in pack {}", server.describe(), pack.id),
                    });
                };
                let ids: Vec<String> = pack.members.iter().map(|m| m.server_id.clone()).collect();
                let tools = tx.pinned_tools(&ids).await?;
                settings::check_aliases(&pack.members, position, &settings, &tools)?;
                settings.tools.sort_by(|a, b| a.tool_name.cmp(&b.tool_name));
                let Some(current) = pack.members.get_mut(position) else {
                    return Ok(None);
                };
                if current.settings == settings {
                    return Ok(None);
                }
                let (fields, changed_tools) = settings::difference(&current.settings, &settings);
                current.settings = settings;
                Ok(Some(Change {
                    fields,
                    tools: changed_tools,
                    ..Change::of(ChangeKind::ToolSettingsUpdated, vec![current.bare()])
                }))
            })
        })
        .await
    }

    /// The change generations of the store, for caches of answers.
    pub fn generations(&self) -> &std::sync::Arc<crate::store::Generations> {
        self.store.generations()
    }

    /// Resolves the tools an agent may call through a pack.
    pub async fn resolve(
        &self,
        caller: &Caller,
        id: &str,
        version: i64,
    ) -> Result<Resolution, Error> {
        let pack = self.get(caller, id).await?;
        let (members, frozen, resolved_version) = if version == 0 {
            (unpinned(&pack), false, pack.version)
        } else {
            let revision = self.revision(caller, id, version).await?;
            (revision.members, true, version)
        };
        let ids: Vec<String> = members.iter().map(|m| m.server_id.clone()).collect();
        let servers = self.store.get_servers(&ids).await?;
        let tools = self.store.tools_of_servers(&ids).await?;
        Ok(resolve::resolve(
            &pack.id,
            resolved_version,
            &members,
            frozen,
            &servers,
            &tools,
        ))
    }

    /// The prompts, resources or resource templates (`kind`) that the
    /// current members of `pack` (one the caller was admitted to) offer
    /// through the gateway ([`resolve::offer`]).
    pub async fn offer(&self, pack: &Pack, kind: CapabilityKind) -> Result<Vec<Offered>, Error> {
        let members = unpinned(pack);
        let ids: Vec<String> = members.iter().map(|m| m.server_id.clone()).collect();
        let servers = self.store.get_servers(&ids).await?;
        let items = self.store.capabilities_of_servers(&ids, kind).await?;
        Ok(resolve::offer(&members, &servers, &items, kind))
    }

    /// The id of the member server of `pack` that a resource URI the
    /// gateway showed names, with the upstream's own URI; NOT_FOUND when it
    /// names no member that offers resources now.
    pub async fn resource_server(&self, pack: &Pack, uri: &str) -> Result<(String, String), Error> {
        let members = unpinned(pack);
        let ids: Vec<String> = members.iter().map(|m| m.server_id.clone()).collect();
        let servers = self.store.get_servers(&ids).await?;
        let found = resolve::resource_of(uri, &members, &servers)
            .filter(|(s, _)| s.enabled && s.last_successful_sync_at.is_some())
            .map(|(server, upstream)| (server.id.clone(), upstream.to_owned()));
        found.ok_or_else(|| Error::NotFound {
            kind: "resource",
            id: uri.chars().take(200).collect(),
        })
    }

    /// Exports a pack as an MCP client configuration pointing at `target`:
    /// version `version` of its members (0: the current one), or, for the
    /// gateway, which serves the current version only, the pack itself.
    pub async fn export(
        &self,
        caller: &Caller,
        id: &str,
        version: i64,
        target: ExportTarget,
    ) -> Result<Export, Error> {
        match target {
            ExportTarget::Direct => self.export_direct(caller, id, version).await,
            ExportTarget::Gateway => self.export_gateway(caller, id, version).await,
        }
    }

    /// Exports the pack's endpoint on the gateway: one entry for the whole
    /// pack, with a registry API key as its one placeholder.
    async fn export_gateway(
        &self,
        caller: &Caller,
        id: &str,
        version: i64,
    ) -> Result<Export, Error> {
        if version != 0 {
            return Err(Error::invalid(
                "version",
                "must be 0 for the gateway target: the gateway serves the pack's current version",
            ));
        }
        let pack = self.get(caller, id).await?;
        let gateway = self.gateway.as_ref().ok_or_else(|| {
            Error::FailedPrecondition(
                "this service knows no pack gateway URL: its gateway is off and no public URL is \
                 set (start it with --mcp-listen, or set --gateway-public-url)"
                    .into(),
            )
        })?;
        Ok(export::gateway(&pack, gateway))
    }

    /// Exports the members' own URLs, with their secrets as placeholders.
    async fn export_direct(
        &self,
        caller: &Caller,
        id: &str,
        version: i64,
    ) -> Result<Export, Error> {
        let pack = self.get(caller, id).await?;
        let (members, exported_version): (Vec<Member>, i64) = if version == 0 {
            (pack.members.clone(), pack.version)
        } else {
            let revision = self.revision(caller, id, version).await?;
            (
                revision
                    .members
                    .into_iter()
                    .map(|m| Member {
                        server_id: m.server_id,
                        name: m.name,
                        settings: m.settings,
                    })
                    .collect(),
                version,
            )
        };
        let ids: Vec<String> = members.iter().map(|m| m.server_id.clone()).collect();
        let servers = self.store.get_servers(&ids).await?;
        let by_id: HashMap<&str, &McpServer> = servers.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut ordered = Vec::with_capacity(members.len());
        for m in &members {
            let server = by_id.get(m.server_id.as_str()).ok_or_else(|| {
                Error::FailedPrecondition(format!(
                    "server {} ({:?}) of version {exported_version} no longer exists",
                    m.server_id, m.name
                ))
            })?;
            ordered.push(*server);
        }
        Ok(export::export(&pack.id, exported_version, &ordered))
    }

    /// Runs one change of a pack in the organization's write transaction:
    /// checks rights and etag, applies `change`, and when it changed
    /// something raises the version by one and records the revision.
    async fn mutate(
        &self,
        caller: &Caller,
        id: &str,
        etag: Option<&str>,
        change: impl FnOnce(&OrgWrite, &mut Pack) -> Result<Option<Change>, Error> + Send,
    ) -> Result<Pack, Error> {
        self.mutate_async(caller, id, etag, move |tx, pack| {
            let result = change(tx, pack);
            Box::pin(async move { result })
        })
        .await
    }

    /// Like [`Packs::mutate`] for changes that read the database.
    async fn mutate_async<F>(
        &self,
        caller: &Caller,
        id: &str,
        etag: Option<&str>,
        change: F,
    ) -> Result<Pack, Error>
    where
        F: for<'a> FnOnce(
                &'a OrgWrite,
                &'a mut Pack,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<Option<Change>, Error>> + Send + 'a>,
            > + Send,
    {
        let (org, _, _) = member_of(caller)?;
        caller.require_write()?;
        let tx = self.store.begin_org_write(org).await?;
        let mut pack = tx.get_pack(id).await?.ok_or_else(|| not_found(id))?;
        require_editor(caller, &pack)?;
        check_etag(&pack, etag)?;
        let old = pack.clone();
        let Some(change) = change(&tx, &mut pack).await? else {
            return Ok(pack);
        };
        self.record(tx, caller, &old, pack, change).await
    }

    /// Stores the changed `pack` as the version after `old`'s, with its
    /// revision and its audit event, and commits.
    async fn record(
        &self,
        tx: OrgWrite,
        caller: &Caller,
        old: &Pack,
        mut pack: Pack,
        change: Change,
    ) -> Result<Pack, Error> {
        let key = caller.actor();
        let before = old.version;
        pack.version = before + 1;
        pack.updated_at = now_micros();
        pack.modified_by = key.to_owned();
        pack.modified_by_subject = caller.subject().map(str::to_owned);
        tx.save_pack(&pack, before).await?;
        let kind = change.kind;
        let revision = revision_of(&tx, &pack, change).await?;
        tx.insert_revision(&revision).await?;
        let changes = audit::pack_changes(Some(old), Some(&pack));
        let org = Some(pack.organization_id.as_str());
        let event = AuditEvent::new(caller, action_of(kind), &pack.id, org, changes);
        tx.record(&event).await?;
        tx.commit().await?;
        tracing::info!(pack_id = %pack.id, version = pack.version, kind = kind.as_str(), actor = key, "pack changed");
        Ok(pack)
    }
}

/// The audit action of a pack change made by a pack RPC.
fn action_of(kind: ChangeKind) -> Action {
    match kind {
        ChangeKind::Created => Action::PackCreate,
        ChangeKind::Updated => Action::PackUpdate,
        ChangeKind::ServerAdded => Action::PackAddServer,
        ChangeKind::ServerRemoved => Action::PackRemoveServer,
        ChangeKind::ServersReplaced => Action::PackReplaceServers,
        ChangeKind::Restored => Action::PackRestore,
        ChangeKind::ToolSettingsUpdated => Action::PackUpdateTools,
        // Made by DeleteMcpServer with force, audited as that delete.
        ChangeKind::ServerDeleted => Action::ServerDelete,
    }
}

/// What one mutation changed, for its revision.
pub struct Change {
    kind: ChangeKind,
    changed: Vec<Member>,
    fields: Vec<String>,
    restored_from: i64,
    /// The tools whose settings changed.
    tools: Vec<String>,
}

impl Change {
    /// A change of `kind` concerning the servers `changed`, and nothing else.
    fn of(kind: ChangeKind, changed: Vec<Member>) -> Self {
        Self {
            kind,
            changed: changed.iter().map(Member::bare).collect(),
            fields: Vec::new(),
            restored_from: 0,
            tools: Vec::new(),
        }
    }
}

/// Removes `server_id` from every pack of the transaction's organization
/// that holds it, one new version (kind SERVER_DELETED) per pack.
pub async fn remove_deleted_server(
    tx: &OrgWrite,
    server_id: &str,
    caller: &Caller,
) -> Result<(), Error> {
    for mut pack in tx.packs_holding(server_id).await? {
        let before = pack.version;
        let Some(position) = pack.members.iter().position(|m| m.server_id == server_id) else {
            continue;
        };
        let removed = pack.members.remove(position);
        pack.version = before + 1;
        pack.updated_at = now_micros();
        pack.modified_by = caller.actor().to_owned();
        pack.modified_by_subject = caller.subject().map(str::to_owned);
        tx.save_pack(&pack, before).await?;
        let change = Change::of(ChangeKind::ServerDeleted, vec![removed]);
        let revision = revision_of(tx, &pack, change).await?;
        tx.insert_revision(&revision).await?;
    }
    Ok(())
}

async fn revision_of(tx: &OrgWrite, pack: &Pack, change: Change) -> Result<PackRevision, Error> {
    let ids: Vec<String> = pack.members.iter().map(|m| m.server_id.clone()).collect();
    let mut tools = tx.pinned_tools(&ids).await?;
    Ok(PackRevision {
        pack_id: pack.id.clone(),
        version: pack.version,
        author: pack.modified_by.clone(),
        created_at: pack.updated_at,
        change_kind: change.kind,
        changed_servers: change.changed,
        updated_fields: change.fields,
        restored_from_version: change.restored_from,
        name: pack.name.clone(),
        description: pack.description.clone(),
        members: pack
            .members
            .iter()
            .map(|m| RevisionMember {
                server_id: m.server_id.clone(),
                name: m.name.clone(),
                tools: tools.remove(&m.server_id).unwrap_or_default(),
                settings: m.settings.clone(),
            })
            .collect(),
        changed_tools: change.tools,
    })
}

/// A new member: `server`, with no tool settings.
fn member(server: &McpServer) -> Member {
    Member {
        server_id: server.id.clone(),
        name: server.name.clone(),
        settings: ToolSettings::default(),
    }
}

fn symmetric_difference(before: &[Member], after: &[Member]) -> Vec<Member> {
    let old: HashSet<&str> = before.iter().map(|m| m.server_id.as_str()).collect();
    let new: HashSet<&str> = after.iter().map(|m| m.server_id.as_str()).collect();
    after
        .iter()
        .filter(|m| !old.contains(m.server_id.as_str()))
        .chain(
            before
                .iter()
                .filter(|m| !new.contains(m.server_id.as_str())),
        )
        .cloned()
        .collect()
}

fn require_editor(caller: &Caller, pack: &Pack) -> Result<(), Error> {
    match caller {
        Caller::Member {
            role: Role::Admin, ..
        } => Ok(()),
        Caller::Member {
            role: Role::Member, ..
        } if caller.is_owner(&Owner::of(
            &pack.created_by,
            pack.created_by_subject.as_deref(),
        )) =>
        {
            Ok(())
        }
        _ => Err(Error::PermissionDenied(
            "only an ADMIN key or the key (or, for a service key, the subject) that created the \
             pack may change it"
                .into(),
        )),
    }
}

fn plan_name(plan: crate::registry::Plan) -> &'static str {
    match plan {
        crate::registry::Plan::Free => "FREE",
        crate::registry::Plan::Pro => "PRO",
        crate::registry::Plan::Enterprise => "ENTERPRISE",
    }
}

/// Refuses a member list that grows past the plan's size limit, or that adds
/// private servers on a plan without them. Shrinking is always allowed, so a
/// downgraded organization keeps what it has.
fn check_members(
    plan: crate::registry::Plan,
    current: &[Member],
    next: &[McpServer],
) -> Result<(), Error> {
    let members: Vec<Member> = next.iter().map(member).collect();
    check_growth(plan, current.len(), &members)?;
    check_private(plan, current, next)
}

fn check_growth(plan: crate::registry::Plan, current: usize, next: &[Member]) -> Result<(), Error> {
    if let Some(max) = PlanLimits::of(plan).servers_per_pack
        && next.len() > max
        && next.len() > current
    {
        return Err(Error::PlanLimitExceeded {
            subject: "servers_per_pack".into(),
            description: format!("the {} plan allows {max} servers per pack", plan_name(plan)),
        });
    }
    Ok(())
}

fn check_private(
    plan: crate::registry::Plan,
    current: &[Member],
    added: &[McpServer],
) -> Result<(), Error> {
    if PlanLimits::of(plan).private_servers {
        return Ok(());
    }
    let present: HashSet<&str> = current.iter().map(|m| m.server_id.as_str()).collect();
    if let Some(private) = added
        .iter()
        .find(|s| s.visibility == Visibility::Private && !present.contains(s.id.as_str()))
    {
        return Err(Error::PlanLimitExceeded {
            subject: "private_servers".into(),
            description: format!(
                "the {} plan allows catalog servers only in packs; {:?} is private",
                plan_name(plan),
                private.name
            ),
        });
    }
    Ok(())
}

/// Resolves server references to servers the caller may see, in order;
/// NOT_FOUND names the first missing one, INVALID_ARGUMENT reports
/// duplicates and id/name mismatches under `field`.
async fn resolve_refs(
    tx: &OrgWrite,
    caller: &Caller,
    refs: &[ServerRef],
    field: &str,
) -> Result<Vec<McpServer>, Error> {
    let org = tx.organization().id.clone();
    let mut found: Vec<McpServer> = Vec::with_capacity(refs.len());
    let mut v = Violations::new();
    for reference in refs {
        let by_id = match &reference.id {
            Some(id) => Some(tx.get_server(id).await?.filter(|s| is_visible(caller, s))),
            None => None,
        };
        let server = match (by_id, &reference.name) {
            (Some(Some(server)), Some(name)) if server.name != *name => {
                v.add(
                    field,
                    format!(
                        "server {} is named {:?}, not {name:?}",
                        server.id, server.name
                    ),
                );
                continue;
            }
            (Some(server), _) => server,
            (None, Some(name)) => match tx.get_server_by_name(&org, name).await? {
                Some(own) => Some(own),
                None => tx.get_server_by_name(CATALOG_SCOPE, name).await?,
            },
            (None, None) => {
                v.add(field, "each server needs a server_id or a name");
                continue;
            }
        };
        let Some(server) = server else {
            return Err(Error::NotFound {
                kind: "mcp server",
                id: reference.describe(),
            });
        };
        if found.iter().any(|s| s.id == server.id) {
            v.add(
                field,
                format!("server {} ({:?}) is given twice", server.id, server.name),
            );
            continue;
        }
        found.push(server);
    }
    v.finish()?;
    Ok(found)
}

/// The current members of `pack`, as a revision's members without pinned tools.
fn unpinned(pack: &Pack) -> Vec<RevisionMember> {
    pack.members
        .iter()
        .map(|m| RevisionMember {
            server_id: m.server_id.clone(),
            name: m.name.clone(),
            tools: Vec::new(),
            settings: m.settings.clone(),
        })
        .collect()
}
