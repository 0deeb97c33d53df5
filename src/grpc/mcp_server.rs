//! McpServerService: authenticate, convert (`convert::mcp_server`), call the
//! servers domain, convert back. GetMcpServer and ListMcpServers answers go
//! through the domain's answer caches, encoded once (`grpc::encoded`).

use std::sync::Arc;

use bytes::Bytes;
use tonic::{Request, Response};

use crate::crypto::Keyring;
use crate::error::{Error, Violations};
use crate::grpc::convert::capability::{resources_to_pb, tool_to_pb};
use crate::grpc::convert::import::{ImportRequest, secret_placeholders};
use crate::grpc::convert::mcp_server::{
    ServerUpdate, encode_server, server_answer, server_filter, server_json_to_pb, servers_page,
};
use crate::grpc::convert::search::SearchRequest;
use crate::grpc::convert::{check_id, checked, id};
use crate::grpc::encoded::{self, Encoded, ListMcpServersAnswer, McpServerAnswer};
use crate::grpc::import::placeholder_names;
use crate::grpc::{Reply, caller};
use crate::pagination::{PageRequest, PageTokens};
use crate::pb;
use crate::pb::mcp_server_service_server::McpServerService;
use crate::registry::ServerName;
use crate::registry::cache::Renderer;
use crate::registry::runs::Trigger;
use crate::registry::servers::answers::ServerAnswers;
use crate::registry::servers::{CapabilityKind, Lookup, NewServer, ServerView, Servers};
use crate::sync::engine::Syncer;

/// The McpServerService implementation.
pub struct McpServerApi {
    servers: Servers,
    keyring: Arc<Keyring>,
    /// Starts the background sync that a create or a connection change arms.
    syncer: Syncer,
    /// GetMcpServer and ListMcpServers answers kept in memory.
    answers: ServerAnswers<Bytes>,
}

/// Answers are kept encoded, weighed by their encoded size.
const RENDERER: Renderer<ServerView, Bytes> = Renderer {
    render: encode_server,
    weigh: encoded::weigh,
};

impl McpServerApi {
    pub fn new(servers: Servers, keyring: Arc<Keyring>, syncer: Syncer) -> Self {
        Self {
            answers: ServerAnswers::new(&servers, RENDERER, 0, 0),
            servers,
            keyring,
            syncer,
        }
    }

    /// Keeps up to `servers` bytes of GetMcpServer answers and `lists`
    /// bytes of ListMcpServers pages in memory.
    pub fn with_cache(mut self, servers: u64, lists: u64) -> Self {
        self.answers = ServerAnswers::new(&self.servers, RENDERER, servers, lists);
        self
    }

    /// Syncs in the background when this write armed a sync: a create of an
    /// enabled server, or an update that changed the connection or enabled it
    /// (both set `next_sync_at` to the write's own time).
    fn sync_if_armed(&self, view: &ServerView, trigger: Trigger) {
        let server = &view.server;
        if server.enabled && server.next_sync_at == Some(server.updated_at) {
            self.syncer.spawn_sync(server.clone(), trigger);
        }
    }

    /// The page tokens of a capability listing of `server_id`, and the page
    /// asked for.
    fn capability_page(
        &self,
        server_id: &str,
        what: &str,
        size: i32,
        token: &str,
    ) -> Result<(PageTokens<'_>, PageRequest<(String, String)>), Error> {
        let mut v = Violations::new();
        check_id(&mut v, "server_id", "mcp", server_id);
        let tokens = PageTokens::new(&self.keyring, format!("{what}?server={server_id}"));
        let page = tokens.parse(size, token, &mut v);
        v.finish()?;
        Ok((tokens, page))
    }
}

#[tonic::async_trait]
impl McpServerService for McpServerApi {
    async fn create_mcp_server(
        &self,
        request: Request<pb::CreateMcpServerRequest>,
    ) -> Reply<McpServerAnswer> {
        let caller = caller(&request)?;
        let new = NewServer::try_from((request.into_inner(), self.servers.policy()))?;
        let view = self.servers.create(&caller, new).await?;
        self.sync_if_armed(&view, Trigger::Created);
        Ok(Response::new(Encoded::message(view)))
    }

    async fn get_mcp_server(
        &self,
        request: Request<pb::GetMcpServerRequest>,
    ) -> Reply<McpServerAnswer> {
        use pb::get_mcp_server_request::Lookup as L;
        let caller = caller(&request)?;
        let lookup = match request.into_inner().lookup {
            Some(L::Id(value)) => Lookup::Id(id("id", "mcp", value)?),
            Some(L::Name(name)) => Lookup::Name(
                ServerName::parse(name)
                    .map_err(|err| Error::invalid("name", err))?
                    .into_inner(),
            ),
            None => return Err(Error::invalid("id", "id or name is required").into()),
        };
        let (fields, access) = self.answers.get(&self.servers, &caller, lookup).await?;
        Ok(Response::new(server_answer(fields, access)))
    }

    async fn list_mcp_servers(
        &self,
        request: Request<pb::ListMcpServersRequest>,
    ) -> Reply<ListMcpServersAnswer> {
        let caller = caller(&request)?;
        let pb::ListMcpServersRequest {
            page_size,
            page_token,
            filter,
            include_catalog,
        } = request.into_inner();
        let mut v = Violations::new();
        let filter = server_filter(filter.unwrap_or_default(), include_catalog, &caller, &mut v);
        let query = format!("mcp_servers?caller={}&filter={filter:?}", caller.scope());
        let tokens = PageTokens::new(&self.keyring, query.as_str());
        let page = tokens.parse(page_size, &page_token, &mut v);
        v.finish()?;
        let listed = self
            .answers
            .list(&self.servers, &caller, &filter, &query, &page);
        Ok(Response::new(servers_page(listed.await?, &tokens)))
    }

    async fn search_tools(
        &self,
        request: Request<pb::SearchToolsRequest>,
    ) -> Reply<pb::SearchToolsResponse> {
        let caller = caller(&request)?;
        let mut v = Violations::new();
        let read = SearchRequest::read(request.into_inner(), &mut v);
        let bound = format!("tools?caller={}&search={:?}", caller.scope(), read.search);
        let tokens = PageTokens::new(&self.keyring, bound);
        let page = tokens.parse(read.page_size, &read.page_token, &mut v);
        v.finish()?;
        let search = checked(read.search)?;
        let found = self.servers.search_tools(&caller, &search, &page).await?;
        Ok(Response::new(pb::SearchToolsResponse {
            next_page_token: tokens.next_token(found.next.as_ref()),
            total_size: found.total as i64,
            hits: found.items.into_iter().map(Into::into).collect(),
        }))
    }

    async fn update_mcp_server(
        &self,
        request: Request<pb::UpdateMcpServerRequest>,
    ) -> Reply<McpServerAnswer> {
        let caller = caller(&request)?;
        let ServerUpdate { id, patch, etag } =
            ServerUpdate::try_from((request.into_inner(), self.servers.policy()))?;
        let updated = self.servers.update(&caller, &id, patch, etag.as_deref());
        let view = updated.await?;
        self.sync_if_armed(&view, Trigger::Updated);
        Ok(Response::new(Encoded::message(view)))
    }

    async fn delete_mcp_server(&self, request: Request<pb::DeleteMcpServerRequest>) -> Reply<()> {
        let caller = caller(&request)?;
        let pb::DeleteMcpServerRequest {
            id: server,
            force,
            etag,
        } = request.into_inner();
        let server = id("id", "mcp", server)?;
        let etag = crate::grpc::convert::etag(etag);
        self.servers
            .delete(&caller, &server, force, etag.as_deref())
            .await?;
        Ok(Response::new(()))
    }

    async fn list_server_tools(
        &self,
        request: Request<pb::ListServerToolsRequest>,
    ) -> Reply<pb::ListServerToolsResponse> {
        let caller = caller(&request)?;
        let pb::ListServerToolsRequest {
            page_size,
            page_token,
            server_id,
        } = request.into_inner();
        let (tokens, page) = self.capability_page(&server_id, "tools", page_size, &page_token)?;
        let kinds = [CapabilityKind::Tool];
        let listed = self
            .servers
            .capabilities(&caller, &server_id, &kinds, &page);
        let (server, page) = listed.await?;
        Ok(Response::new(pb::ListServerToolsResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            tools: page.items.iter().map(|c| tool_to_pb(&server, c)).collect(),
        }))
    }

    async fn list_server_prompts(
        &self,
        request: Request<pb::ListServerPromptsRequest>,
    ) -> Reply<pb::ListServerPromptsResponse> {
        let caller = caller(&request)?;
        let pb::ListServerPromptsRequest {
            page_size,
            page_token,
            server_id,
        } = request.into_inner();
        let (tokens, page) = self.capability_page(&server_id, "prompts", page_size, &page_token)?;
        let kinds = [CapabilityKind::Prompt];
        let listed = self
            .servers
            .capabilities(&caller, &server_id, &kinds, &page);
        let (_, page) = listed.await?;
        Ok(Response::new(pb::ListServerPromptsResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            prompts: page.items.iter().map(pb::Prompt::from).collect(),
        }))
    }

    async fn list_server_resources(
        &self,
        request: Request<pb::ListServerResourcesRequest>,
    ) -> Reply<pb::ListServerResourcesResponse> {
        let caller = caller(&request)?;
        let pb::ListServerResourcesRequest {
            page_size,
            page_token,
            server_id,
        } = request.into_inner();
        let (tokens, page) =
            self.capability_page(&server_id, "resources", page_size, &page_token)?;
        let kinds = [CapabilityKind::Resource, CapabilityKind::ResourceTemplate];
        let listed = self
            .servers
            .capabilities(&caller, &server_id, &kinds, &page);
        let (_, page) = listed.await?;
        let (resources, resource_templates) = resources_to_pb(&page.items);
        Ok(Response::new(pb::ListServerResourcesResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            resources,
            resource_templates,
        }))
    }

    async fn approve_tools(
        &self,
        request: Request<pb::ApproveToolsRequest>,
    ) -> Reply<McpServerAnswer> {
        let caller = caller(&request)?;
        let (server_id, approval) = request.into_inner().try_into()?;
        let view = self.servers.approve_tools(&caller, &server_id, approval);
        Ok(Response::new(Encoded::message(view.await?)))
    }

    async fn import_mcp_config(
        &self,
        request: Request<pb::ImportMcpConfigRequest>,
    ) -> Reply<pb::ImportMcpConfigResponse> {
        let caller = caller(&request)?;
        // A viewer is refused before its configuration is read.
        caller.require_write()?;
        let request = request.into_inner();
        let names = placeholder_names(&request.config_json, &request.variables);
        let found = self.servers.secrets().by_names(&caller, &names).await?;
        let secrets = secret_placeholders(found);
        let ImportRequest { entries, options } =
            ImportRequest::try_from((request, self.servers.policy(), &secrets))?;
        let report = self.servers.import(&caller, entries, options).await?;
        for view in report.created_servers() {
            self.sync_if_armed(view, Trigger::Created);
        }
        Ok(Response::new(report.into()))
    }

    async fn export_mcp_server(
        &self,
        request: Request<pb::ExportMcpServerRequest>,
    ) -> Reply<pb::ExportMcpServerResponse> {
        let caller = caller(&request)?;
        let lookup = Lookup::try_from(request.into_inner())?;
        let document = self.servers.export_server_json(&caller, lookup).await?;
        Ok(Response::new(server_json_to_pb(&document)?))
    }
}
