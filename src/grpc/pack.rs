//! PackService: translation between protobuf and the packs domain.

use std::collections::HashSet;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::crypto::Keyring;
use crate::error::{Error, Violations};
use crate::grpc::json::{object_field, string_field};
use crate::grpc::{caller, timestamp};
use crate::pagination::PageTokens;
use crate::pb;
use crate::pb::pack_service_server::PackService;
use crate::registry::Caller;
use crate::registry::admin::validate_id;
use crate::registry::cache::ReadCache;
use crate::registry::packs::{
    ChangeKind, Exclusion, Export, ExportTransport, Member, NewPack, Pack, PackChanges,
    PackRevision, Packs, Resolution, ServerRef,
};
use crate::registry::servers::validate;
use crate::store::Topic;

/// The PackService implementation.
pub struct PackApi {
    packs: Packs,
    keyring: Arc<Keyring>,
    /// ResolvePack answers per (organization, pack id, requested version).
    resolutions: ReadCache<(String, String, i64), pb::ResolvePackResponse>,
}

impl PackApi {
    pub fn new(packs: Packs, keyring: Arc<Keyring>) -> Self {
        let resolutions = ReadCache::new("resolutions", packs.generations().clone(), 0);
        Self {
            packs,
            keyring,
            resolutions,
        }
    }

    /// Keeps up to `bytes` of ResolvePack answers in memory.
    pub fn with_cache(mut self, bytes: u64) -> Self {
        self.resolutions = ReadCache::new("resolutions", self.packs.generations().clone(), bytes);
        self
    }

    /// ResolvePack for an organization key, through the cache. The answer
    /// depends on the pack and on each member server (row and tools).
    async fn resolve_cached(
        &self,
        caller: &Caller,
        organization_id: &str,
        id: String,
        version: i64,
    ) -> Result<pb::ResolvePackResponse, Error> {
        let key = (organization_id.to_owned(), id, version);
        if let Some(hit) = self.resolutions.get(&key) {
            return Ok((*hit).clone());
        }
        // Members are known only after reading: every generation now.
        let before = self.resolutions.generations().snapshot();
        let resolution = self.packs.resolve(caller, &key.1, version).await?;
        let stamp = before.map(|snapshot| {
            snapshot.stamp(
                std::iter::once(Topic::Packs(organization_id))
                    .chain(resolution.server_ids.iter().map(|s| Topic::Server(s))),
            )
        });
        let answer = resolution_to_pb(resolution);
        let weight = resolution_heap_bytes(&answer);
        let hit = self.resolutions.insert(key, stamp, answer, weight);
        Ok((*hit).clone())
    }
}

fn id_violation(v: &mut Violations, field: &str, prefix: &str, id: &str) {
    if let Err(violation) = validate_id(field, prefix, id) {
        v.add(violation.field, violation.description);
    }
}

fn etag(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

#[tonic::async_trait]
impl PackService for PackApi {
    async fn create_pack(
        &self,
        request: Request<pb::CreatePackRequest>,
    ) -> Result<Response<pb::Pack>, Status> {
        let caller = caller(&request)?;
        let Some(pack) = request.into_inner().pack else {
            return Err(Error::invalid("pack", "is required").into());
        };
        // Output-only fields are ignored.
        let pb::Pack {
            name,
            description,
            servers,
            ..
        } = pack;
        let mut v = Violations::new();
        v.check("pack.name", validate::server_name(&name));
        v.check("pack.description", description_rule(&description));
        let servers = server_refs(servers, "pack.servers", &mut v);
        v.finish()?;
        let pack = self
            .packs
            .create(
                &caller,
                NewPack {
                    name,
                    description,
                    servers,
                },
            )
            .await?;
        Ok(Response::new(pack_to_pb(pack)))
    }

    async fn get_pack(
        &self,
        request: Request<pb::GetPackRequest>,
    ) -> Result<Response<pb::Pack>, Status> {
        let caller = caller(&request)?;
        let pb::GetPackRequest { id } = request.into_inner();
        validate_id("id", "pack", &id).map_err(|v| Error::InvalidArgument(vec![v]))?;
        Ok(Response::new(pack_to_pb(
            self.packs.get(&caller, &id).await?,
        )))
    }

    async fn list_packs(
        &self,
        request: Request<pb::ListPacksRequest>,
    ) -> Result<Response<pb::ListPacksResponse>, Status> {
        let caller = caller(&request)?;
        let pb::ListPacksRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let tokens = PageTokens::new(&self.keyring, format!("packs?caller={}", caller.scope()));
        let mut v = Violations::new();
        let page = tokens.parse(page_size, &page_token, &mut v);
        v.finish()?;
        let page = self.packs.list(&caller, &page).await?;
        Ok(Response::new(pb::ListPacksResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            packs: page.items.into_iter().map(pack_to_pb).collect(),
        }))
    }

    async fn update_pack(
        &self,
        request: Request<pb::UpdatePackRequest>,
    ) -> Result<Response<pb::Pack>, Status> {
        let caller = caller(&request)?;
        let pb::UpdatePackRequest { pack, update_mask } = request.into_inner();
        let Some(pack) = pack else {
            return Err(Error::invalid("pack", "is required").into());
        };
        let pb::Pack {
            id,
            name,
            description,
            etag: tag,
            ..
        } = pack;
        let mut v = Violations::new();
        id_violation(&mut v, "pack.id", "pack", &id);
        let paths: Vec<String> = match update_mask {
            Some(mask) if !mask.paths.is_empty() => mask.paths,
            _ => {
                let mut paths = Vec::new();
                if !name.is_empty() {
                    paths.push("name".to_owned());
                }
                if !description.is_empty() {
                    paths.push("description".to_owned());
                }
                if paths.is_empty() {
                    v.add(
                        "update_mask",
                        "names no field to update (updatable: name, description)",
                    );
                }
                paths
            }
        };
        let mut changes = PackChanges::default();
        for path in &paths {
            match path.as_str() {
                "name" => {
                    v.check("pack.name", validate::server_name(&name));
                    changes.name = Some(name.clone());
                }
                "description" => {
                    v.check("pack.description", description_rule(&description));
                    changes.description = Some(description.clone());
                }
                "servers" => v.add(
                    "update_mask",
                    "\"servers\" changes with AddPackServer, RemovePackServer, ReplacePackServers or RestorePackRevision",
                ),
                "id" | "organization_id" | "version" | "created_at" | "updated_at" | "created_by" | "modified_by" | "etag" => {
                    v.add("update_mask", format!("{path:?} is output only"));
                }
                other => v.add(
                    "update_mask",
                    format!("{other:?} is not a field of Pack (updatable: name, description)"),
                ),
            }
        }
        v.finish()?;
        let pack = self
            .packs
            .update(&caller, &id, changes, etag(tag).as_deref())
            .await?;
        Ok(Response::new(pack_to_pb(pack)))
    }

    async fn delete_pack(
        &self,
        request: Request<pb::DeletePackRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = caller(&request)?;
        let pb::DeletePackRequest { id, etag: tag } = request.into_inner();
        validate_id("id", "pack", &id).map_err(|v| Error::InvalidArgument(vec![v]))?;
        self.packs
            .delete(&caller, &id, etag(tag).as_deref())
            .await?;
        Ok(Response::new(()))
    }

    async fn add_pack_server(
        &self,
        request: Request<pb::AddPackServerRequest>,
    ) -> Result<Response<pb::Pack>, Status> {
        let caller = caller(&request)?;
        let pb::AddPackServerRequest {
            pack_id,
            server,
            etag: tag,
        } = request.into_inner();
        let mut v = Violations::new();
        id_violation(&mut v, "pack_id", "pack", &pack_id);
        let server = one_ref(server, &mut v);
        v.finish()?;
        let pack = self
            .packs
            .add_server(&caller, &pack_id, server, etag(tag).as_deref())
            .await?;
        Ok(Response::new(pack_to_pb(pack)))
    }

    async fn remove_pack_server(
        &self,
        request: Request<pb::RemovePackServerRequest>,
    ) -> Result<Response<pb::Pack>, Status> {
        let caller = caller(&request)?;
        let pb::RemovePackServerRequest {
            pack_id,
            server,
            etag: tag,
        } = request.into_inner();
        let mut v = Violations::new();
        id_violation(&mut v, "pack_id", "pack", &pack_id);
        let server = one_ref(server, &mut v);
        v.finish()?;
        let pack = self
            .packs
            .remove_server(&caller, &pack_id, server, etag(tag).as_deref())
            .await?;
        Ok(Response::new(pack_to_pb(pack)))
    }

    async fn replace_pack_servers(
        &self,
        request: Request<pb::ReplacePackServersRequest>,
    ) -> Result<Response<pb::Pack>, Status> {
        let caller = caller(&request)?;
        let pb::ReplacePackServersRequest {
            pack_id,
            servers,
            etag: tag,
        } = request.into_inner();
        let mut v = Violations::new();
        id_violation(&mut v, "pack_id", "pack", &pack_id);
        let servers = server_refs(servers, "servers", &mut v);
        v.finish()?;
        let pack = self
            .packs
            .replace_servers(&caller, &pack_id, servers, etag(tag).as_deref())
            .await?;
        Ok(Response::new(pack_to_pb(pack)))
    }

    async fn list_pack_revisions(
        &self,
        request: Request<pb::ListPackRevisionsRequest>,
    ) -> Result<Response<pb::ListPackRevisionsResponse>, Status> {
        let caller = caller(&request)?;
        let pb::ListPackRevisionsRequest {
            page_size,
            page_token,
            pack_id,
        } = request.into_inner();
        let mut v = Violations::new();
        id_violation(&mut v, "pack_id", "pack", &pack_id);
        let tokens = PageTokens::new(&self.keyring, format!("pack_revisions?pack={pack_id}"));
        let page = tokens.parse(page_size, &page_token, &mut v);
        v.finish()?;
        let page = self.packs.revisions(&caller, &pack_id, &page).await?;
        Ok(Response::new(pb::ListPackRevisionsResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            revisions: page.items.into_iter().map(revision_to_pb).collect(),
        }))
    }

    async fn get_pack_revision(
        &self,
        request: Request<pb::GetPackRevisionRequest>,
    ) -> Result<Response<pb::PackRevision>, Status> {
        let caller = caller(&request)?;
        let pb::GetPackRevisionRequest { pack_id, version } = request.into_inner();
        let mut v = Violations::new();
        id_violation(&mut v, "pack_id", "pack", &pack_id);
        if version < 1 {
            v.add("version", "must be 1 or more");
        }
        v.finish()?;
        let revision = self.packs.revision(&caller, &pack_id, version).await?;
        Ok(Response::new(revision_to_pb(revision)))
    }

    async fn restore_pack_revision(
        &self,
        request: Request<pb::RestorePackRevisionRequest>,
    ) -> Result<Response<pb::Pack>, Status> {
        let caller = caller(&request)?;
        let pb::RestorePackRevisionRequest {
            pack_id,
            version,
            etag: tag,
        } = request.into_inner();
        let mut v = Violations::new();
        id_violation(&mut v, "pack_id", "pack", &pack_id);
        if version < 1 {
            v.add("version", "must be 1 or more");
        }
        v.finish()?;
        let pack = self
            .packs
            .restore(&caller, &pack_id, version, etag(tag).as_deref())
            .await?;
        Ok(Response::new(pack_to_pb(pack)))
    }

    async fn resolve_pack(
        &self,
        request: Request<pb::ResolvePackRequest>,
    ) -> Result<Response<pb::ResolvePackResponse>, Status> {
        let caller = caller(&request)?;
        let pb::ResolvePackRequest { id, version } = request.into_inner();
        let mut v = Violations::new();
        id_violation(&mut v, "id", "pack", &id);
        if version < 0 {
            v.add(
                "version",
                "must not be negative (0 means the current version)",
            );
        }
        v.finish()?;
        if let (Some(org), true) = (caller.organization_id(), self.resolutions.is_on()) {
            let answer = self.resolve_cached(&caller, org, id, version).await?;
            return Ok(Response::new(answer));
        }
        let resolution = self.packs.resolve(&caller, &id, version).await?;
        Ok(Response::new(resolution_to_pb(resolution)))
    }

    async fn export_pack(
        &self,
        request: Request<pb::ExportPackRequest>,
    ) -> Result<Response<pb::ExportPackResponse>, Status> {
        let caller = caller(&request)?;
        let pb::ExportPackRequest { id, version } = request.into_inner();
        let mut v = Violations::new();
        id_violation(&mut v, "id", "pack", &id);
        if version < 0 {
            v.add(
                "version",
                "must not be negative (0 means the current version)",
            );
        }
        v.finish()?;
        let export = self.packs.export(&caller, &id, version).await?;
        Ok(Response::new(export_to_pb(export)?))
    }
}

/// A pack description: 1 to 2000 characters (seed 000 requires one).
fn description_rule(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is required".into());
    }
    validate::text(value, 2000)
}

fn server_ref(server: pb::PackServer, field: &str, v: &mut Violations) -> Option<ServerRef> {
    let pb::PackServer { server_id, name } = server;
    let mut ok = true;
    if server_id.is_empty() && name.is_empty() {
        v.add(field, "needs a server_id or a name");
        return None;
    }
    if !server_id.is_empty()
        && let Err(violation) = validate_id(field, "mcp", &server_id)
    {
        v.add(violation.field, violation.description);
        ok = false;
    }
    if !name.is_empty()
        && let Err(err) = validate::server_name(&name)
    {
        v.add(field, format!("name: {err}"));
        ok = false;
    }
    ok.then_some(ServerRef {
        id: (!server_id.is_empty()).then_some(server_id),
        name: (!name.is_empty()).then_some(name),
    })
}

fn one_ref(server: Option<pb::PackServer>, v: &mut Violations) -> ServerRef {
    match server {
        Some(server) => server_ref(server, "server", v).unwrap_or_default(),
        None => {
            v.add("server", "is required");
            ServerRef::default()
        }
    }
}

fn server_refs(servers: Vec<pb::PackServer>, field: &str, v: &mut Violations) -> Vec<ServerRef> {
    if servers.len() > 1000 {
        v.add(field, "must hold at most 1000 servers");
    }
    let mut seen = HashSet::new();
    let mut refs = Vec::with_capacity(servers.len());
    for server in servers {
        if let Some(reference) = server_ref(server, field, v) {
            let key = (reference.id.clone(), reference.name.clone());
            if !seen.insert(key) {
                v.add(
                    field,
                    format!("server {} is given twice", reference.describe()),
                );
                continue;
            }
            refs.push(reference);
        }
    }
    refs
}

fn member_to_pb(member: Member) -> pb::PackServer {
    pb::PackServer {
        server_id: member.server_id,
        name: member.name,
    }
}

fn pack_to_pb(pack: Pack) -> pb::Pack {
    pb::Pack {
        etag: pack.etag(),
        id: pack.id,
        organization_id: pack.organization_id,
        name: pack.name,
        description: pack.description,
        servers: pack.members.into_iter().map(member_to_pb).collect(),
        version: pack.version,
        created_at: Some(timestamp(pack.created_at)),
        updated_at: Some(timestamp(pack.updated_at)),
        created_by: pack.created_by,
        modified_by: pack.modified_by,
    }
}

fn change_kind_to_pb(kind: ChangeKind) -> pb::PackChangeKind {
    match kind {
        ChangeKind::Created => pb::PackChangeKind::Created,
        ChangeKind::Updated => pb::PackChangeKind::Updated,
        ChangeKind::ServerAdded => pb::PackChangeKind::ServerAdded,
        ChangeKind::ServerRemoved => pb::PackChangeKind::ServerRemoved,
        ChangeKind::ServersReplaced => pb::PackChangeKind::ServersReplaced,
        ChangeKind::Restored => pb::PackChangeKind::Restored,
        ChangeKind::ServerDeleted => pb::PackChangeKind::ServerDeleted,
    }
}

fn revision_to_pb(revision: PackRevision) -> pb::PackRevision {
    pb::PackRevision {
        pack_id: revision.pack_id,
        version: revision.version,
        author: revision.author,
        created_at: Some(timestamp(revision.created_at)),
        change_kind: change_kind_to_pb(revision.change_kind) as i32,
        changed_servers: revision
            .changed_servers
            .into_iter()
            .map(member_to_pb)
            .collect(),
        updated_fields: revision.updated_fields,
        restored_from_version: revision.restored_from_version,
        name: revision.name,
        description: revision.description,
        members: revision
            .members
            .into_iter()
            .map(|m| pb::PackRevisionMember {
                server_id: m.server_id,
                name: m.name,
                tools: m
                    .tools
                    .into_iter()
                    .map(|t| pb::PinnedTool {
                        name: t.name,
                        definition_hash: t.definition_hash,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn exclusion_to_pb(reason: Exclusion) -> pb::ExclusionReason {
    match reason {
        Exclusion::ServerDeleted => pb::ExclusionReason::ServerDeleted,
        Exclusion::ServerDisabled => pb::ExclusionReason::ServerDisabled,
        Exclusion::ServerNeverSynced => pb::ExclusionReason::ServerNeverSynced,
        Exclusion::ServerError => pb::ExclusionReason::ServerError,
        Exclusion::ToolsDisabled => pb::ExclusionReason::ToolsDisabled,
        Exclusion::NotAllowed => pb::ExclusionReason::NotAllowed,
        Exclusion::AddedSinceRevision => pb::ExclusionReason::AddedSinceRevision,
        Exclusion::ChangedSinceRevision => pb::ExclusionReason::ChangedSinceRevision,
        Exclusion::NotApproved => pb::ExclusionReason::NotApproved,
        Exclusion::ChangedSinceApproval => pb::ExclusionReason::ChangedSinceApproval,
    }
}

fn resolution_to_pb(resolution: Resolution) -> pb::ResolvePackResponse {
    pb::ResolvePackResponse {
        pack_id: resolution.pack_id,
        version: resolution.version,
        tools: resolution
            .tools
            .into_iter()
            .map(|t| pb::ResolvedTool {
                title: string_field(&t.definition, "title"),
                description: string_field(&t.definition, "description"),
                input_schema: object_field(&t.definition, "inputSchema"),
                output_schema: object_field(&t.definition, "outputSchema"),
                annotations: object_field(&t.definition, "annotations"),
                qualified_name: t.qualified_name,
                server_id: t.server_id,
                server_name: t.server_name,
                name: t.name,
                definition_hash: t.definition_hash,
            })
            .collect(),
        excluded_tools: resolution
            .excluded
            .into_iter()
            .map(|e| pb::ExcludedTool {
                server_id: e.server_id,
                server_name: e.server_name,
                tool_name: e.tool_name,
                reason: exclusion_to_pb(e.reason) as i32,
                definition_hash: e.definition_hash,
            })
            .collect(),
    }
}

fn export_to_pb(export: Export) -> Result<pb::ExportPackResponse, Error> {
    Ok(pb::ExportPackResponse {
        pack_id: export.pack_id,
        version: export.version,
        config_json: serde_json::to_string_pretty(&export.config).map_err(Error::internal)?,
        servers: export
            .servers
            .into_iter()
            .map(|s| pb::ExportedServer {
                key: s.key,
                server_id: s.server_id,
                transport: match s.transport {
                    ExportTransport::Http => pb::ExportTransport::Http,
                    ExportTransport::Sse => pb::ExportTransport::Sse,
                } as i32,
                url: s.url,
                server_name: s.server_name,
            })
            .collect(),
        placeholders: export
            .placeholders
            .into_iter()
            .map(|p| pb::ExportPlaceholder {
                name: p.name,
                server_id: p.server_id,
                header_name: p.header_name,
                description: p.description,
            })
            .collect(),
    })
}

/// Estimated heap bytes of a ResolvePack answer, to weigh its cache entry.
fn resolution_heap_bytes(answer: &pb::ResolvePackResponse) -> u64 {
    use crate::grpc::json::{string_heap_bytes as s, struct_heap_bytes};
    let tools: u64 = answer
        .tools
        .iter()
        .map(|t| {
            std::mem::size_of::<pb::ResolvedTool>() as u64
                + s(&t.qualified_name)
                + s(&t.server_id)
                + s(&t.server_name)
                + s(&t.name)
                + s(&t.title)
                + s(&t.description)
                + s(&t.definition_hash)
                + [&t.input_schema, &t.output_schema, &t.annotations]
                    .into_iter()
                    .flatten()
                    .map(struct_heap_bytes)
                    .sum::<u64>()
        })
        .sum();
    let excluded: u64 = answer
        .excluded_tools
        .iter()
        .map(|e| {
            std::mem::size_of::<pb::ExcludedTool>() as u64
                + s(&e.server_id)
                + s(&e.server_name)
                + s(&e.tool_name)
                + s(&e.definition_hash)
        })
        .sum();
    std::mem::size_of::<pb::ResolvePackResponse>() as u64 + s(&answer.pack_id) + tools + excluded
}
