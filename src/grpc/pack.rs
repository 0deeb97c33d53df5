//! PackService: authenticate, convert (`convert::pack`), call the packs
//! domain, convert back. ResolvePack answers go through the domain's answer
//! cache, encoded once (`grpc::encoded`).

use std::sync::Arc;

use bytes::Bytes;
use tonic::{Request, Response};

use crate::crypto::Keyring;
use crate::error::Violations;
use crate::grpc::convert::pack::{
    ExportRequest, PackListing, PackUpdate, ToolSettingsUpdate, encode_resolution, one_ref,
    server_refs, version,
};
use crate::grpc::convert::{check_id, etag, id};
use crate::grpc::encoded::{self, Encoded, ResolvePackAnswer};
use crate::grpc::{Reply, caller};
use crate::pagination::PageTokens;
use crate::pb;
use crate::pb::pack_service_server::PackService;
use crate::registry::cache::Renderer;
use crate::registry::packs::answers::ResolutionAnswers;
use crate::registry::packs::{NewPack, Packs, Resolution, ServerRef};

/// The PackService implementation.
pub struct PackApi {
    packs: Packs,
    keyring: Arc<Keyring>,
    /// ResolvePack answers kept in memory and in the database.
    resolutions: ResolutionAnswers<Bytes>,
}

/// Answers are kept encoded, weighed by their encoded size.
const RENDERER: Renderer<Resolution, Bytes> = Renderer {
    render: encode_resolution,
    weigh: encoded::weigh,
};

/// The format of the answers this binary stores in the database.
fn format() -> String {
    format!("pb:{}", pb::RESOLUTION_FORMAT)
}

/// A membership edit: the pack, the reference(s) and the etag.
fn membership<R>(
    pack_id: &str,
    refs: impl FnOnce(&mut Violations) -> R,
) -> Result<R, crate::error::Error> {
    let mut v = Violations::new();
    check_id(&mut v, "pack_id", "pack", pack_id);
    let refs = refs(&mut v);
    v.finish()?;
    Ok(refs)
}

impl PackApi {
    pub fn new(packs: Packs, keyring: Arc<Keyring>) -> Self {
        Self {
            resolutions: ResolutionAnswers::stored(&packs, RENDERER, format(), 0),
            packs,
            keyring,
        }
    }

    /// Keeps up to `bytes` of ResolvePack answers in memory, and, when
    /// `stored`, every answer in the database.
    pub fn with_cache(mut self, bytes: u64, stored: bool) -> Self {
        self.resolutions = if stored {
            ResolutionAnswers::stored(&self.packs, RENDERER, format(), bytes)
        } else {
            ResolutionAnswers::named("resolutions", &self.packs, RENDERER, bytes)
        };
        self
    }
}

#[tonic::async_trait]
impl PackService for PackApi {
    async fn create_pack(&self, request: Request<pb::CreatePackRequest>) -> Reply<pb::Pack> {
        let caller = caller(&request)?;
        let new = NewPack::try_from(request.into_inner())?;
        Ok(Response::new(self.packs.create(&caller, new).await?.into()))
    }

    async fn get_pack(&self, request: Request<pb::GetPackRequest>) -> Reply<pb::Pack> {
        let caller = caller(&request)?;
        let pack = id("id", "pack", request.into_inner().id)?;
        Ok(Response::new(self.packs.get(&caller, &pack).await?.into()))
    }

    async fn list_packs(
        &self,
        request: Request<pb::ListPacksRequest>,
    ) -> Reply<pb::ListPacksResponse> {
        let caller = caller(&request)?;
        let mut v = Violations::new();
        let listing = PackListing::read(request.into_inner(), &caller, &mut v);
        let bound = format!("packs?caller={}&{}", caller.scope(), listing.bound());
        let tokens = PageTokens::new(&self.keyring, bound);
        let page = tokens.parse(listing.page_size, &listing.page_token, &mut v);
        v.finish()?;
        let page = self.packs.list(&caller, &listing.filter, &page).await?;
        Ok(Response::new(pb::ListPacksResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            packs: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    async fn update_pack(&self, request: Request<pb::UpdatePackRequest>) -> Reply<pb::Pack> {
        let caller = caller(&request)?;
        let PackUpdate { id, changes, etag } = request.into_inner().try_into()?;
        let pack = self.packs.update(&caller, &id, changes, etag.as_deref());
        Ok(Response::new(pack.await?.into()))
    }

    async fn delete_pack(&self, request: Request<pb::DeletePackRequest>) -> Reply<()> {
        let caller = caller(&request)?;
        let pb::DeletePackRequest {
            id: pack,
            etag: tag,
        } = request.into_inner();
        let pack = id("id", "pack", pack)?;
        self.packs
            .delete(&caller, &pack, etag(tag).as_deref())
            .await?;
        Ok(Response::new(()))
    }

    async fn add_pack_server(&self, request: Request<pb::AddPackServerRequest>) -> Reply<pb::Pack> {
        let caller = caller(&request)?;
        let pb::AddPackServerRequest {
            pack_id,
            server,
            etag: tag,
        } = request.into_inner();
        let server: ServerRef = membership(&pack_id, |v| one_ref(server, v))?;
        let tag = etag(tag);
        let pack = self
            .packs
            .add_server(&caller, &pack_id, server, tag.as_deref());
        Ok(Response::new(pack.await?.into()))
    }

    async fn remove_pack_server(
        &self,
        request: Request<pb::RemovePackServerRequest>,
    ) -> Reply<pb::Pack> {
        let caller = caller(&request)?;
        let pb::RemovePackServerRequest {
            pack_id,
            server,
            etag: tag,
        } = request.into_inner();
        let server = membership(&pack_id, |v| one_ref(server, v))?;
        let tag = etag(tag);
        let pack = self
            .packs
            .remove_server(&caller, &pack_id, server, tag.as_deref());
        Ok(Response::new(pack.await?.into()))
    }

    async fn replace_pack_servers(
        &self,
        request: Request<pb::ReplacePackServersRequest>,
    ) -> Reply<pb::Pack> {
        let caller = caller(&request)?;
        let pb::ReplacePackServersRequest {
            pack_id,
            servers,
            etag: tag,
        } = request.into_inner();
        let servers = membership(&pack_id, |v| server_refs(servers, "servers", v))?;
        let tag = etag(tag);
        let pack = self
            .packs
            .replace_servers(&caller, &pack_id, servers, tag.as_deref());
        Ok(Response::new(pack.await?.into()))
    }

    async fn update_pack_server_tools(
        &self,
        request: Request<pb::UpdatePackServerToolsRequest>,
    ) -> Reply<pb::Pack> {
        let caller = caller(&request)?;
        let ToolSettingsUpdate {
            pack_id,
            server,
            settings,
            etag,
        } = request.into_inner().try_into()?;
        let pack =
            (self.packs).update_tool_settings(&caller, &pack_id, server, settings, etag.as_deref());
        Ok(Response::new(pack.await?.into()))
    }

    async fn list_pack_revisions(
        &self,
        request: Request<pb::ListPackRevisionsRequest>,
    ) -> Reply<pb::ListPackRevisionsResponse> {
        let caller = caller(&request)?;
        let pb::ListPackRevisionsRequest {
            page_size,
            page_token,
            pack_id,
        } = request.into_inner();
        let tokens = PageTokens::new(&self.keyring, format!("pack_revisions?pack={pack_id}"));
        let page = membership(&pack_id, |v| tokens.parse(page_size, &page_token, v))?;
        let page = self.packs.revisions(&caller, &pack_id, &page).await?;
        Ok(Response::new(pb::ListPackRevisionsResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            revisions: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    async fn get_pack_revision(
        &self,
        request: Request<pb::GetPackRevisionRequest>,
    ) -> Reply<pb::PackRevision> {
        let caller = caller(&request)?;
        let pb::GetPackRevisionRequest {
            pack_id,
            version: v,
        } = request.into_inner();
        let at = membership(&pack_id, |violations| version(v, false, violations))?;
        let revision = self.packs.revision(&caller, &pack_id, at).await?;
        Ok(Response::new(revision.into()))
    }

    async fn restore_pack_revision(
        &self,
        request: Request<pb::RestorePackRevisionRequest>,
    ) -> Reply<pb::Pack> {
        let caller = caller(&request)?;
        let pb::RestorePackRevisionRequest {
            pack_id,
            version: v,
            etag: tag,
        } = request.into_inner();
        let at = membership(&pack_id, |violations| version(v, false, violations))?;
        let tag = etag(tag);
        let pack = self.packs.restore(&caller, &pack_id, at, tag.as_deref());
        Ok(Response::new(pack.await?.into()))
    }

    async fn resolve_pack(
        &self,
        request: Request<pb::ResolvePackRequest>,
    ) -> Reply<ResolvePackAnswer> {
        let caller = caller(&request)?;
        let pb::ResolvePackRequest { id, version: v } = request.into_inner();
        let mut violations = Violations::new();
        check_id(&mut violations, "id", "pack", &id);
        let at = version(v, true, &mut violations);
        violations.finish()?;
        let answer = self.resolutions.resolve(&self.packs, &caller, id, at);
        Ok(Response::new(Encoded::Ready(answer.await?.into())))
    }

    async fn export_pack(
        &self,
        request: Request<pb::ExportPackRequest>,
    ) -> Reply<pb::ExportPackResponse> {
        let caller = caller(&request)?;
        let ExportRequest {
            id,
            version,
            target,
        } = request.into_inner().try_into()?;
        let export = self.packs.export(&caller, &id, version, target).await?;
        Ok(Response::new(export.try_into()?))
    }
}
