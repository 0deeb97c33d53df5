//! McpServerService: translation between protobuf and the servers domain.

use std::collections::HashSet;
use std::sync::Arc;

use prost_types::FieldMask;
use tonic::{Request, Response, Status};

use crate::crypto::Keyring;
use crate::error::{Error, Violations};
use crate::grpc::admin::role_to_pb;
use crate::grpc::import;
use crate::grpc::json::{json_to_struct, object_field, string_field, struct_to_json};
use crate::grpc::{caller, opt_timestamp, timestamp};
use crate::pagination::{PageRequest, PageTokens};
use crate::pb;
use crate::pb::mcp_server_service_server::McpServerService;
use crate::registry::Caller;
use crate::registry::admin::validate_id;
use crate::registry::cache::ReadCache;
use crate::registry::runs::Trigger;
use crate::registry::servers::{
    Approval, ApprovalPolicy, AuthType, Capability, CapabilityKind, Credentials, HeaderInput,
    HeaderInputValue, Lookup, MASK, McpServer, NewServer, ServerFilter, ServerPatch, ServerStatus,
    ServerView, Servers, StoredHeaderValue, ToolApproval, ToolConfiguration, Transport, UrlPolicy,
    Visibility, validate,
};
use crate::store::Topic;
use crate::sync::engine::Syncer;

/// The McpServerService implementation.
pub struct McpServerApi {
    servers: Servers,
    keyring: Arc<Keyring>,
    /// Starts the background sync that a create or a connection change arms.
    syncer: Syncer,
    /// GetMcpServer by id, per (organization, server id); platform keys and
    /// look-ups by name always read the store.
    cache: ReadCache<(String, String), CachedServer>,
    /// ListMcpServers pages of organization keys, per query and cursor;
    /// listings filtered by status always read the store (a sync changes a
    /// status without knowing the scope).
    lists: ReadCache<String, CachedList>,
}

/// A server as answered, without what depends on the key (`access_info`).
struct CachedServer {
    answer: pb::McpServer,
    organization_id: Option<String>,
    created_by: String,
}

impl CachedServer {
    fn new(view: ServerView) -> Self {
        let organization_id = view.server.organization_id.clone();
        let created_by = view.server.created_by.clone();
        Self {
            answer: server_to_pb(view),
            organization_id,
            created_by,
        }
    }

    /// Estimated heap bytes: strings and small messages take about twice
    /// their encoded size; `config` is a Struct, weighed as one.
    fn weight(&self) -> u64 {
        std::mem::size_of::<Self>() as u64
            + 2 * prost::Message::encoded_len(&self.answer) as u64
            + self
                .answer
                .config
                .as_ref()
                .map_or(0, crate::grpc::json::struct_heap_bytes)
    }

    /// The answer for `caller`.
    fn for_caller(&self, caller: &Caller) -> pb::McpServer {
        let mut answer = self.answer.clone();
        answer.access_info = Some(access_info_pb(crate::registry::servers::access_to(
            caller,
            self.organization_id.as_deref(),
            &self.created_by,
        )));
        answer
    }
}

/// A ListMcpServers page as answered, without the keys' `access_info`.
struct CachedList {
    servers: Vec<CachedServer>,
    next_page_token: String,
    total_size: i64,
}

impl McpServerApi {
    pub fn new(servers: Servers, keyring: Arc<Keyring>, syncer: Syncer) -> Self {
        Self {
            cache: ReadCache::new("servers", servers.generations().clone(), 0),
            lists: ReadCache::new("server_lists", servers.generations().clone(), 0),
            servers,
            keyring,
            syncer,
        }
    }

    /// Keeps up to `servers` bytes of GetMcpServer answers and `lists`
    /// bytes of ListMcpServers pages in memory.
    pub fn with_cache(mut self, servers: u64, lists: u64) -> Self {
        let generations = self.servers.generations().clone();
        self.cache = ReadCache::new("servers", generations.clone(), servers);
        self.lists = ReadCache::new("server_lists", generations, lists);
        self
    }

    /// GetMcpServer by id for an organization key, through the cache.
    async fn get_by_id_cached(
        &self,
        caller: &Caller,
        organization_id: &str,
        id: String,
    ) -> Result<pb::McpServer, Error> {
        let key = (organization_id.to_owned(), id);
        let hit = match self.cache.get(&key) {
            Some(hit) => hit,
            None => {
                let stamp = self
                    .cache
                    .generations()
                    .stamp([Topic::Server(&key.1), Topic::Packs(organization_id)]);
                let view = self.servers.get(caller, Lookup::Id(key.1.clone())).await?;
                let entry = CachedServer::new(view);
                let weight = entry.weight();
                self.cache.insert(key, stamp, entry, weight)
            }
        };
        Ok(hit.for_caller(caller))
    }

    /// One ListMcpServers page for an organization key, through the cache.
    /// `query` identifies the caller and the filter. A page depends on the
    /// scopes listed (which servers they hold), on each server on it, and on
    /// the organization's packs (`pack_ids`).
    async fn list_cached(
        &self,
        caller: &Caller,
        organization_id: &str,
        filter: &ServerFilter,
        query: &str,
        tokens: &PageTokens<'_>,
        page: &PageRequest<String>,
    ) -> Result<pb::ListMcpServersResponse, Error> {
        let key = format!("{query}&limit={}&after={:?}", page.limit, page.after);
        let hit = match self.lists.get(&key) {
            Some(hit) => hit,
            None => {
                let before = self.lists.generations().snapshot();
                let scopes = crate::registry::servers::list_scopes(caller, filter);
                let listed = self.servers.list(caller, filter, page).await?;
                let stamp = before.map(|snapshot| {
                    snapshot.stamp(
                        scopes
                            .iter()
                            .map(|s| Topic::Scope(s))
                            .chain(std::iter::once(Topic::Packs(organization_id)))
                            .chain(listed.items.iter().map(|v| Topic::Server(&v.server.id))),
                    )
                });
                let entry = CachedList {
                    next_page_token: tokens.next_token(listed.next.as_ref()),
                    total_size: listed.total as i64,
                    servers: listed.items.into_iter().map(CachedServer::new).collect(),
                };
                let weight = entry.servers.iter().map(CachedServer::weight).sum::<u64>()
                    + entry.next_page_token.len() as u64;
                self.lists.insert(key, stamp, entry, weight)
            }
        };
        Ok(pb::ListMcpServersResponse {
            mcp_servers: hit.servers.iter().map(|s| s.for_caller(caller)).collect(),
            next_page_token: hit.next_page_token.clone(),
            total_size: hit.total_size,
        })
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
}

#[tonic::async_trait]
impl McpServerService for McpServerApi {
    async fn create_mcp_server(
        &self,
        request: Request<pb::CreateMcpServerRequest>,
    ) -> Result<Response<pb::McpServer>, Status> {
        let caller = caller(&request)?;
        let Some(server) = request.into_inner().mcp_server else {
            return Err(Error::invalid("mcp_server", "is required").into());
        };
        let new = new_server(server, self.servers.policy())?;
        let view = self.servers.create(&caller, new).await?;
        self.sync_if_armed(&view, Trigger::Created);
        Ok(Response::new(server_to_pb(view)))
    }

    async fn get_mcp_server(
        &self,
        request: Request<pb::GetMcpServerRequest>,
    ) -> Result<Response<pb::McpServer>, Status> {
        use pb::get_mcp_server_request::Lookup as L;
        let caller = caller(&request)?;
        let lookup = match request.into_inner().lookup {
            Some(L::Id(id)) => {
                validate_id("id", "mcp", &id).map_err(|v| Error::InvalidArgument(vec![v]))?;
                Lookup::Id(id)
            }
            Some(L::Name(name)) => {
                validate::server_name(&name).map_err(|err| Error::invalid("name", err))?;
                Lookup::Name(name)
            }
            None => return Err(Error::invalid("id", "id or name is required").into()),
        };
        if let (Lookup::Id(id), Some(org), true) =
            (&lookup, caller.organization_id(), self.cache.is_on())
        {
            let answer = self.get_by_id_cached(&caller, org, id.clone()).await?;
            return Ok(Response::new(answer));
        }
        let view = self.servers.get(&caller, lookup).await?;
        Ok(Response::new(server_to_pb(view)))
    }

    async fn list_mcp_servers(
        &self,
        request: Request<pb::ListMcpServersRequest>,
    ) -> Result<Response<pb::ListMcpServersResponse>, Status> {
        let caller = caller(&request)?;
        let pb::ListMcpServersRequest {
            page_size,
            page_token,
            filter,
            include_catalog,
        } = request.into_inner();
        let mut v = Violations::new();
        let filter = server_filter(filter.unwrap_or_default(), include_catalog, &mut v);
        let query = format!("mcp_servers?caller={}&filter={filter:?}", caller.scope());
        let tokens = PageTokens::new(&self.keyring, query.clone());
        let page = tokens.parse(page_size, &page_token, &mut v);
        v.finish()?;
        if let (Some(org), None, true) =
            (caller.organization_id(), filter.status, self.lists.is_on())
        {
            let answer = self
                .list_cached(&caller, org, &filter, &query, &tokens, &page)
                .await?;
            return Ok(Response::new(answer));
        }
        let page = self.servers.list(&caller, &filter, &page).await?;
        Ok(Response::new(pb::ListMcpServersResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            mcp_servers: page.items.into_iter().map(server_to_pb).collect(),
        }))
    }

    async fn update_mcp_server(
        &self,
        request: Request<pb::UpdateMcpServerRequest>,
    ) -> Result<Response<pb::McpServer>, Status> {
        let caller = caller(&request)?;
        let pb::UpdateMcpServerRequest {
            mcp_server,
            update_mask,
        } = request.into_inner();
        let Some(server) = mcp_server else {
            return Err(Error::invalid("mcp_server", "is required").into());
        };
        let (id, patch, etag) = server_patch(server, update_mask, self.servers.policy())?;
        let view = self
            .servers
            .update(&caller, &id, patch, etag.as_deref())
            .await?;
        self.sync_if_armed(&view, Trigger::Updated);
        Ok(Response::new(server_to_pb(view)))
    }

    async fn delete_mcp_server(
        &self,
        request: Request<pb::DeleteMcpServerRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = caller(&request)?;
        let pb::DeleteMcpServerRequest { id, force, etag } = request.into_inner();
        validate_id("id", "mcp", &id).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let etag = (!etag.is_empty()).then_some(etag);
        self.servers
            .delete(&caller, &id, force, etag.as_deref())
            .await?;
        Ok(Response::new(()))
    }

    async fn list_server_tools(
        &self,
        request: Request<pb::ListServerToolsRequest>,
    ) -> Result<Response<pb::ListServerToolsResponse>, Status> {
        let caller = caller(&request)?;
        let pb::ListServerToolsRequest {
            page_size,
            page_token,
            server_id,
        } = request.into_inner();
        let (tokens, page) = self.capability_page(&server_id, "tools", page_size, &page_token)?;
        let (server, page) = self
            .servers
            .capabilities(&caller, &server_id, &[CapabilityKind::Tool], &page)
            .await?;
        Ok(Response::new(pb::ListServerToolsResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            tools: page.items.iter().map(|c| tool_to_pb(&server, c)).collect(),
        }))
    }

    async fn list_server_prompts(
        &self,
        request: Request<pb::ListServerPromptsRequest>,
    ) -> Result<Response<pb::ListServerPromptsResponse>, Status> {
        let caller = caller(&request)?;
        let pb::ListServerPromptsRequest {
            page_size,
            page_token,
            server_id,
        } = request.into_inner();
        let (tokens, page) = self.capability_page(&server_id, "prompts", page_size, &page_token)?;
        let (_, page) = self
            .servers
            .capabilities(&caller, &server_id, &[CapabilityKind::Prompt], &page)
            .await?;
        Ok(Response::new(pb::ListServerPromptsResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            prompts: page.items.iter().map(prompt_to_pb).collect(),
        }))
    }

    async fn list_server_resources(
        &self,
        request: Request<pb::ListServerResourcesRequest>,
    ) -> Result<Response<pb::ListServerResourcesResponse>, Status> {
        let caller = caller(&request)?;
        let pb::ListServerResourcesRequest {
            page_size,
            page_token,
            server_id,
        } = request.into_inner();
        let (tokens, page) =
            self.capability_page(&server_id, "resources", page_size, &page_token)?;
        let kinds = [CapabilityKind::Resource, CapabilityKind::ResourceTemplate];
        let (_, page) = self
            .servers
            .capabilities(&caller, &server_id, &kinds, &page)
            .await?;
        let mut response = pb::ListServerResourcesResponse {
            next_page_token: tokens.next_token(page.next.as_ref()),
            total_size: page.total as i64,
            ..Default::default()
        };
        for item in &page.items {
            match item.kind {
                CapabilityKind::ResourceTemplate => {
                    response.resource_templates.push(template_to_pb(item));
                }
                _ => response.resources.push(resource_to_pb(item)),
            }
        }
        Ok(Response::new(response))
    }

    async fn approve_tools(
        &self,
        request: Request<pb::ApproveToolsRequest>,
    ) -> Result<Response<pb::McpServer>, Status> {
        let caller = caller(&request)?;
        let (server_id, approval) = approval(request.into_inner())?;
        let view = self
            .servers
            .approve_tools(&caller, &server_id, approval)
            .await?;
        Ok(Response::new(server_to_pb(view)))
    }

    async fn import_mcp_config(
        &self,
        request: Request<pb::ImportMcpConfigRequest>,
    ) -> Result<Response<pb::ImportMcpConfigResponse>, Status> {
        let caller = caller(&request)?;
        if matches!(
            caller,
            Caller::Member {
                role: crate::registry::Role::Viewer,
                ..
            }
        ) {
            return Err(Error::PermissionDenied("viewer api keys may only read".into()).into());
        }
        let pb::ImportMcpConfigRequest {
            config_json,
            variables,
            on_conflict,
            dry_run,
            visibility,
        } = request.into_inner();
        let mut v = Violations::new();
        let visibility = match visibility_from_pb(visibility) {
            Ok(_) => visibility,
            Err(err) => {
                v.add("visibility", err);
                0
            }
        };
        let on_conflict = match pb::ImportConflict::try_from(on_conflict) {
            Ok(pb::ImportConflict::Unspecified) => pb::ImportConflict::Skip,
            Ok(known) => known,
            Err(_) => {
                v.add(
                    "on_conflict",
                    "is not a known strategy (IMPORT_CONFLICT_SKIP, _FAIL or _RENAME)",
                );
                pb::ImportConflict::Skip
            }
        };
        let variables: std::collections::HashMap<String, String> = variables.into_iter().collect();
        let entries = import::read(&config_json, &variables, &mut v);

        // Every remote entry is validated as CreateMcpServer would, its
        // problems reported at its JSON path.
        let mut planned = Vec::with_capacity(entries.len());
        for entry in entries {
            let import::EntryKind::Remote(server) = entry.kind else {
                planned.push((entry.key, None));
                continue;
            };
            let mut server = *server;
            server.visibility = visibility;
            match new_server(server.clone(), self.servers.policy()) {
                Ok(new) => planned.push((entry.key, Some((server, new)))),
                Err(Error::InvalidArgument(violations)) => {
                    for violation in violations {
                        v.add(
                            import_field(&entry.path, &violation.field),
                            violation.description,
                        );
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
        v.finish()?;

        let names: Vec<String> = planned
            .iter()
            .filter_map(|(_, p)| p.as_ref().map(|(_, new)| new.name.clone()))
            .collect();
        let mut taken = self.servers.taken_names(&caller, &names).await?;
        if on_conflict == pb::ImportConflict::Fail {
            let mut seen = HashSet::new();
            let clashes: Vec<&str> = names
                .iter()
                .filter(|name| taken.contains(*name) || !seen.insert(name.as_str()))
                .map(String::as_str)
                .collect();
            if !clashes.is_empty() {
                return Err(Error::AlreadyExists {
                    kind: "mcp server",
                    name: clashes.join(", "),
                }
                .into());
            }
        }

        let mut response = pb::ImportMcpConfigResponse::default();
        for (key, plan) in planned {
            let Some((input, mut new)) = plan else {
                response.skipped_count += 1;
                response.entries.push(pb::ImportedEntry {
                    key,
                    outcome: pb::ImportOutcome::SkippedLocal as i32,
                    mcp_server: None,
                    detail: "a local (stdio) server: the registry keeps remote servers only".into(),
                });
                continue;
            };
            let wanted = new.name.clone();
            let mut attempt = 1;
            let created = loop {
                if taken.contains(&new.name) {
                    if on_conflict == pb::ImportConflict::Skip {
                        break None;
                    }
                    attempt += 1;
                    new.name = import::alternative_name(&wanted, attempt);
                    continue;
                }
                taken.insert(new.name.clone());
                if dry_run {
                    break Some(would_create(&input, &new.name));
                }
                match self.servers.create(&caller, new.clone()).await {
                    Ok(view) => {
                        self.sync_if_armed(&view, Trigger::Created);
                        break Some(server_to_pb(view));
                    }
                    // Created by somebody else since the check.
                    Err(Error::AlreadyExists { .. })
                        if on_conflict != pb::ImportConflict::Fail && attempt < 1000 =>
                    {
                        continue;
                    }
                    Err(err) => return Err(err.into()),
                }
            };
            let entry = match created {
                None => {
                    response.skipped_count += 1;
                    pb::ImportedEntry {
                        key,
                        outcome: pb::ImportOutcome::SkippedExists as i32,
                        mcp_server: None,
                        detail: format!("a server named {wanted:?} exists"),
                    }
                }
                Some(server) => {
                    response.created_count += 1;
                    let renamed = server.name != wanted;
                    pb::ImportedEntry {
                        key,
                        outcome: if renamed {
                            pb::ImportOutcome::Renamed
                        } else {
                            pb::ImportOutcome::Created
                        } as i32,
                        detail: if renamed {
                            format!("{wanted:?} is taken; created as {:?}", server.name)
                        } else {
                            String::new()
                        },
                        mcp_server: Some(server),
                    }
                }
            };
            response.entries.push(entry);
        }
        Ok(Response::new(response))
    }
}

/// The JSON path of a CreateMcpServer field of an imported entry.
fn import_field(entry_path: &str, field: &str) -> String {
    let rest = field.strip_prefix("mcp_server.").unwrap_or(field);
    let (head, tail) = rest
        .find(['.', '['])
        .map_or((rest, ""), |at| rest.split_at(at));
    match head {
        "url" => format!("{entry_path}.url"),
        "transport" => format!("{entry_path}.type"),
        "request_headers" => format!("{entry_path}.headers{tail}"),
        "credentials" | "auth_type" => format!("{entry_path}.headers"),
        _ => entry_path.to_owned(),
    }
}

/// What a dry run reports for an entry: the server as it would be created,
/// without id, etag, times or secrets.
fn would_create(input: &pb::McpServer, name: &str) -> pb::McpServer {
    let auth_type = match input.credentials.as_ref().and_then(|c| c.kind.as_ref()) {
        Some(pb::credentials::Kind::ApiKey(_)) => pb::AuthType::ApiKey,
        Some(pb::credentials::Kind::BearerToken(_)) => pb::AuthType::BearerToken,
        Some(pb::credentials::Kind::Oauth2ClientCredentials(_)) => {
            pb::AuthType::Oauth2ClientCredentials
        }
        None => pb::AuthType::None,
    };
    pb::McpServer {
        name: name.to_owned(),
        url: input.url.clone(),
        transport: match pb::Transport::try_from(input.transport) {
            Ok(pb::Transport::Unspecified) | Err(_) => pb::Transport::Auto as i32,
            Ok(known) => known as i32,
        },
        auth_type: auth_type as i32,
        has_credentials: input.credentials.is_some(),
        request_headers: input
            .request_headers
            .iter()
            .map(|(header, value)| {
                let shown = if validate::is_sensitive_header(header) {
                    MASK.to_owned()
                } else {
                    value.clone()
                };
                (header.clone(), shown)
            })
            .collect(),
        visibility: input.visibility,
        enabled: Some(true),
        ..Default::default()
    }
}

impl McpServerApi {
    /// Validates the paging of a capability listing of `server_id`.
    #[allow(clippy::type_complexity)]
    fn capability_page(
        &self,
        server_id: &str,
        what: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<(PageTokens<'_>, PageRequest<(String, String)>), Error> {
        let mut v = Violations::new();
        if let Err(violation) = validate_id("server_id", "mcp", server_id) {
            v.add(violation.field, violation.description);
        }
        let tokens = PageTokens::new(&self.keyring, format!("{what}?server={server_id}"));
        let page = tokens.parse(page_size, page_token, &mut v);
        v.finish()?;
        Ok((tokens, page))
    }
}

// ---------------------------------------------------------------- enums

fn transport_from_pb(value: i32) -> Result<Transport, &'static str> {
    match pb::Transport::try_from(value) {
        Ok(pb::Transport::Unspecified | pb::Transport::Auto) => Ok(Transport::Auto),
        Ok(pb::Transport::StreamableHttp) => Ok(Transport::StreamableHttp),
        Ok(pb::Transport::Sse) => Ok(Transport::Sse),
        Err(_) => Err(
            "is not a known transport (TRANSPORT_AUTO, TRANSPORT_STREAMABLE_HTTP or TRANSPORT_SSE)",
        ),
    }
}

fn transport_to_pb(value: Transport) -> pb::Transport {
    match value {
        Transport::Auto => pb::Transport::Auto,
        Transport::StreamableHttp => pb::Transport::StreamableHttp,
        Transport::Sse => pb::Transport::Sse,
    }
}

/// `None` for AUTH_TYPE_UNSPECIFIED (inferred from the credentials).
fn auth_type_from_pb(value: i32) -> Result<Option<AuthType>, &'static str> {
    match pb::AuthType::try_from(value) {
        Ok(pb::AuthType::Unspecified) => Ok(None),
        Ok(pb::AuthType::None) => Ok(Some(AuthType::None)),
        Ok(pb::AuthType::ApiKey) => Ok(Some(AuthType::ApiKey)),
        Ok(pb::AuthType::BearerToken) => Ok(Some(AuthType::BearerToken)),
        Ok(pb::AuthType::Oauth2ClientCredentials) => Ok(Some(AuthType::OAuth2ClientCredentials)),
        Err(_) => Err("is not a known auth type"),
    }
}

fn auth_type_to_pb(value: AuthType) -> pb::AuthType {
    match value {
        AuthType::None => pb::AuthType::None,
        AuthType::ApiKey => pb::AuthType::ApiKey,
        AuthType::BearerToken => pb::AuthType::BearerToken,
        AuthType::OAuth2ClientCredentials => pb::AuthType::Oauth2ClientCredentials,
    }
}

fn approval_policy_from_pb(value: i32) -> Result<ApprovalPolicy, &'static str> {
    match pb::ApprovalPolicy::try_from(value) {
        Ok(pb::ApprovalPolicy::Unspecified | pb::ApprovalPolicy::RequireNone) => {
            Ok(ApprovalPolicy::RequireNone)
        }
        Ok(pb::ApprovalPolicy::RequireAll) => Ok(ApprovalPolicy::RequireAll),
        Err(_) => Err("is not a known approval policy"),
    }
}

fn approval_policy_to_pb(value: ApprovalPolicy) -> pb::ApprovalPolicy {
    match value {
        ApprovalPolicy::RequireNone => pb::ApprovalPolicy::RequireNone,
        ApprovalPolicy::RequireAll => pb::ApprovalPolicy::RequireAll,
    }
}

fn visibility_from_pb(value: i32) -> Result<Option<Visibility>, &'static str> {
    match pb::Visibility::try_from(value) {
        Ok(pb::Visibility::Unspecified) => Ok(None),
        Ok(pb::Visibility::Private) => Ok(Some(Visibility::Private)),
        Ok(pb::Visibility::Catalog) => Ok(Some(Visibility::Catalog)),
        Err(_) => Err("is not a known visibility"),
    }
}

fn visibility_to_pb(value: Visibility) -> pb::Visibility {
    match value {
        Visibility::Private => pb::Visibility::Private,
        Visibility::Catalog => pb::Visibility::Catalog,
    }
}

fn status_from_pb(value: i32) -> Result<Option<ServerStatus>, &'static str> {
    match pb::ServerStatus::try_from(value) {
        Ok(pb::ServerStatus::Unspecified) => Ok(None),
        Ok(pb::ServerStatus::Pending) => Ok(Some(ServerStatus::Pending)),
        Ok(pb::ServerStatus::Syncing) => Ok(Some(ServerStatus::Syncing)),
        Ok(pb::ServerStatus::Connected) => Ok(Some(ServerStatus::Connected)),
        Ok(pb::ServerStatus::Error) => Ok(Some(ServerStatus::Error)),
        Ok(pb::ServerStatus::Disabled) => Ok(Some(ServerStatus::Disabled)),
        Err(_) => Err("is not a known server status"),
    }
}

fn status_to_pb(value: ServerStatus) -> pb::ServerStatus {
    match value {
        ServerStatus::Pending => pb::ServerStatus::Pending,
        ServerStatus::Syncing => pb::ServerStatus::Syncing,
        ServerStatus::Connected => pb::ServerStatus::Connected,
        ServerStatus::Error => pb::ServerStatus::Error,
        ServerStatus::Disabled => pb::ServerStatus::Disabled,
    }
}

// ---------------------------------------------------------------- fields

/// Validates credentials and converts them; `None` when the oneof is unset.
fn credentials_from_pb(
    value: pb::Credentials,
    policy: UrlPolicy,
    v: &mut Violations,
) -> Option<Credentials> {
    use pb::credentials::Kind;
    let credentials = match value.kind {
        Some(Kind::ApiKey(c)) => Credentials::ApiKey {
            key: c.key,
            header_name: (!c.header_name.is_empty()).then_some(c.header_name),
        },
        Some(Kind::BearerToken(c)) => Credentials::BearerToken { token: c.token },
        Some(Kind::Oauth2ClientCredentials(c)) => Credentials::OAuth2ClientCredentials {
            token_url: c.token_url,
            client_id: c.client_id,
            client_secret: c.client_secret,
            scopes: c.scopes,
        },
        None => {
            v.add(
                "mcp_server.credentials",
                "must set one of api_key, bearer_token or oauth2_client_credentials",
            );
            return None;
        }
    };
    let problems = validate::credentials(&credentials, policy);
    let valid = problems.is_empty();
    for (suffix, problem) in problems {
        v.add(format!("mcp_server.credentials{suffix}"), problem);
    }
    valid.then_some(credentials)
}

/// Validates request headers; `allow_keep` accepts the mask as "keep stored".
fn headers_from_pb(
    headers: std::collections::HashMap<String, String>,
    allow_keep: bool,
    v: &mut Violations,
) -> Vec<HeaderInput> {
    const FIELD: &str = "mcp_server.request_headers";
    if headers.len() > validate::MAX_HEADERS {
        v.add(
            FIELD,
            format!("must hold at most {} headers", validate::MAX_HEADERS),
        );
    }
    let mut seen = HashSet::new();
    let mut out: Vec<HeaderInput> = Vec::with_capacity(headers.len());
    let mut names: Vec<String> = headers.keys().cloned().collect();
    names.sort();
    let mut headers = headers;
    for name in names {
        let value = headers.remove(&name).unwrap_or_default();
        if let Err(err) = validate::header_name(&name) {
            v.add(FIELD, err);
            continue;
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            v.add(
                FIELD,
                format!("{name:?} is given twice (header names ignore case)"),
            );
            continue;
        }
        let value = if allow_keep && value == MASK {
            HeaderInputValue::KeepStored
        } else {
            if let Err(err) = validate::header_value(&name, &value) {
                v.add(FIELD, err);
                continue;
            }
            HeaderInputValue::Value(value)
        };
        out.push(HeaderInput { name, value });
    }
    out
}

fn allowed_tools(names: Vec<String>, v: &mut Violations) -> Vec<String> {
    const FIELD: &str = "mcp_server.tool_configuration.allowed_tools";
    if names.len() > validate::MAX_ALLOWED_TOOLS {
        v.add(
            FIELD,
            format!("must hold at most {} names", validate::MAX_ALLOWED_TOOLS),
        );
    }
    let mut seen = HashSet::new();
    for name in &names {
        if let Err(err) = validate::tool_name(name) {
            v.add(FIELD, err);
        } else if !seen.insert(name.as_str()) {
            v.add(FIELD, format!("{name:?} is listed twice"));
        }
    }
    names
}

fn config_from_pb(
    value: prost_types::Struct,
    v: &mut Violations,
) -> serde_json::Map<String, serde_json::Value> {
    const FIELD: &str = "mcp_server.config";
    match struct_to_json(value) {
        Ok(map) => {
            let size = serde_json::to_vec(&map)
                .map(|b| b.len())
                .unwrap_or(usize::MAX);
            if size > validate::MAX_CONFIG_BYTES {
                v.add(
                    FIELD,
                    format!(
                        "must be at most {} bytes as JSON, is {size}",
                        validate::MAX_CONFIG_BYTES
                    ),
                );
            }
            map
        }
        Err(err) => {
            v.add(FIELD, err);
            serde_json::Map::new()
        }
    }
}

/// Converts and validates a CreateMcpServer resource, reporting every problem.
fn new_server(server: pb::McpServer, policy: UrlPolicy) -> Result<NewServer, Error> {
    // Output-only fields are ignored on create.
    let pb::McpServer {
        name,
        display_name,
        description,
        url,
        icon_url,
        category,
        transport,
        auth_type,
        credentials,
        request_headers,
        approval_policy,
        tool_configuration,
        config,
        enabled,
        visibility,
        ..
    } = server;
    let mut v = Violations::new();
    v.check("mcp_server.name", validate::server_name(&name));
    v.check(
        "mcp_server.display_name",
        validate::text(&display_name, 200),
    );
    v.check("mcp_server.description", validate::text(&description, 2000));
    v.check("mcp_server.url", validate::upstream_url(&url, policy));
    v.check(
        "mcp_server.icon_url",
        validate::optional_url(&icon_url, policy),
    );
    v.check("mcp_server.category", validate::category(&category));
    let transport = v.check("mcp_server.transport", transport_from_pb(transport));
    let auth_type = v.check("mcp_server.auth_type", auth_type_from_pb(auth_type));
    let approval_policy = v.check(
        "mcp_server.approval_policy",
        approval_policy_from_pb(approval_policy),
    );
    let visibility = v.check("mcp_server.visibility", visibility_from_pb(visibility));
    let credentials = credentials.and_then(|c| credentials_from_pb(c, policy, &mut v));
    let headers: Vec<(String, String)> = headers_from_pb(request_headers, false, &mut v)
        .into_iter()
        .filter_map(|h| match h.value {
            HeaderInputValue::Value(value) => Some((h.name, value)),
            HeaderInputValue::KeepStored => None,
        })
        .collect();
    let tool_configuration = tool_configuration.unwrap_or_default();
    let allowed = allowed_tools(tool_configuration.allowed_tools, &mut v);
    let config = config
        .map(|c| config_from_pb(c, &mut v))
        .unwrap_or_default();
    v.finish()?;
    let (Some(transport), Some(auth_type), Some(approval_policy), Some(visibility)) =
        (transport, auth_type, approval_policy, visibility)
    else {
        return Err(Error::internal(anyhow::anyhow!(
            "validated server lost a field"
        )));
    };
    Ok(NewServer {
        visibility,
        name,
        display_name,
        description,
        url,
        icon_url,
        category,
        transport,
        auth_type,
        credentials,
        request_headers: headers,
        approval_policy,
        tool_configuration: ToolConfiguration {
            enabled: tool_configuration.enabled.unwrap_or(true),
            allowed_tools: allowed,
        },
        config,
        enabled: enabled.unwrap_or(true),
    })
}

/// Paths of McpServer a caller may name in `update_mask`.
const UPDATABLE: &[&str] = &[
    "name",
    "display_name",
    "description",
    "url",
    "icon_url",
    "category",
    "transport",
    "auth_type",
    "credentials",
    "request_headers",
    "approval_policy",
    "tool_configuration",
    "tool_configuration.enabled",
    "tool_configuration.allowed_tools",
    "config",
    "enabled",
];

/// Paths of McpServer that only the service writes.
const OUTPUT_ONLY: &[&str] = &[
    "id",
    "organization_id",
    "has_credentials",
    "credentials_updated_at",
    "status",
    "detected_transport",
    "server_info",
    "last_synced_at",
    "last_successful_sync_at",
    "last_error",
    "tool_count",
    "prompt_count",
    "resource_count",
    "resource_template_count",
    "tool_approval_hashes",
    "pack_ids",
    "created_at",
    "updated_at",
    "created_by",
    "modified_by",
    "etag",
    "access_info",
    "next_sync_at",
];

/// Converts an UpdateMcpServer request into (id, patch, etag).
fn server_patch(
    server: pb::McpServer,
    mask: Option<FieldMask>,
    policy: UrlPolicy,
) -> Result<(String, ServerPatch, Option<String>), Error> {
    let mut v = Violations::new();
    if let Err(violation) = validate_id("mcp_server.id", "mcp", &server.id) {
        v.add(violation.field, violation.description);
    }
    let paths: Vec<String> = match mask {
        Some(mask) if !mask.paths.is_empty() => mask.paths,
        _ => {
            let s = &server;
            let populated = [
                ("name", !s.name.is_empty()),
                ("display_name", !s.display_name.is_empty()),
                ("description", !s.description.is_empty()),
                ("url", !s.url.is_empty()),
                ("icon_url", !s.icon_url.is_empty()),
                ("category", !s.category.is_empty()),
                ("transport", s.transport != 0),
                ("auth_type", s.auth_type != 0),
                ("credentials", s.credentials.is_some()),
                ("request_headers", !s.request_headers.is_empty()),
                ("approval_policy", s.approval_policy != 0),
                ("tool_configuration", s.tool_configuration.is_some()),
                ("config", s.config.is_some()),
                ("enabled", s.enabled.is_some()),
            ];
            let paths: Vec<String> = populated
                .into_iter()
                .filter(|(_, set)| *set)
                .map(|(path, _)| path.to_owned())
                .collect();
            if paths.is_empty() {
                v.add(
                    "update_mask",
                    "names no field to update and the request sets none",
                );
            }
            paths
        }
    };
    let pb::McpServer {
        id,
        name,
        display_name,
        description,
        url,
        icon_url,
        category,
        transport,
        auth_type,
        credentials,
        request_headers,
        approval_policy,
        tool_configuration,
        config,
        enabled,
        etag,
        ..
    } = server;
    let mut patch = ServerPatch::default();
    let mut headers = Some(request_headers);
    let mut credentials = Some(credentials);
    let mut config = Some(config);
    let tool_configuration = tool_configuration.unwrap_or_default();
    let mut tools_allowed = Some(tool_configuration.allowed_tools);
    let mut seen = HashSet::new();
    for path in &paths {
        if !seen.insert(path.as_str()) {
            v.add("update_mask", format!("{path:?} is named twice"));
            continue;
        }
        match path.as_str() {
            "name" => {
                v.check("mcp_server.name", validate::server_name(&name));
                patch.name = Some(name.clone());
            }
            "display_name" => {
                v.check(
                    "mcp_server.display_name",
                    validate::text(&display_name, 200),
                );
                patch.display_name = Some(display_name.clone());
            }
            "description" => {
                v.check("mcp_server.description", validate::text(&description, 2000));
                patch.description = Some(description.clone());
            }
            "url" => {
                v.check("mcp_server.url", validate::upstream_url(&url, policy));
                patch.url = Some(url.clone());
            }
            "icon_url" => {
                v.check(
                    "mcp_server.icon_url",
                    validate::optional_url(&icon_url, policy),
                );
                patch.icon_url = Some(icon_url.clone());
            }
            "category" => {
                v.check("mcp_server.category", validate::category(&category));
                patch.category = Some(category.clone());
            }
            "transport" => {
                patch.transport = v.check("mcp_server.transport", transport_from_pb(transport))
            }
            "auth_type" => {
                patch.auth_type = v.check("mcp_server.auth_type", auth_type_from_pb(auth_type))
            }
            "credentials" => {
                patch.credentials = Some(
                    credentials
                        .take()
                        .flatten()
                        .and_then(|c| credentials_from_pb(c, policy, &mut v)),
                );
            }
            "request_headers" => {
                patch.request_headers = Some(headers_from_pb(
                    headers.take().unwrap_or_default(),
                    true,
                    &mut v,
                ));
            }
            "approval_policy" => {
                patch.approval_policy = v.check(
                    "mcp_server.approval_policy",
                    approval_policy_from_pb(approval_policy),
                );
            }
            "tool_configuration" => {
                patch.tools_enabled = Some(tool_configuration.enabled.unwrap_or(true));
                patch.allowed_tools = Some(allowed_tools(
                    tools_allowed.take().unwrap_or_default(),
                    &mut v,
                ));
            }
            "tool_configuration.enabled" => {
                patch.tools_enabled = Some(tool_configuration.enabled.unwrap_or(true));
            }
            "tool_configuration.allowed_tools" => {
                patch.allowed_tools = Some(allowed_tools(
                    tools_allowed.take().unwrap_or_default(),
                    &mut v,
                ));
            }
            "config" => {
                patch.config = Some(
                    config
                        .take()
                        .flatten()
                        .map(|c| config_from_pb(c, &mut v))
                        .unwrap_or_default(),
                );
            }
            "enabled" => patch.enabled = Some(enabled.unwrap_or(true)),
            "visibility" => v.add("update_mask", "\"visibility\" cannot change after creation"),
            other if OUTPUT_ONLY.contains(&other) => {
                v.add("update_mask", format!("{other:?} is output only"));
            }
            other => v.add(
                "update_mask",
                format!(
                    "{other:?} is not an updatable field of McpServer (updatable: {})",
                    UPDATABLE.join(", ")
                ),
            ),
        }
    }
    v.finish()?;
    Ok((id, patch, (!etag.is_empty()).then_some(etag)))
}

fn server_filter(
    filter: pb::McpServerFilter,
    include_catalog: bool,
    v: &mut Violations,
) -> ServerFilter {
    let pb::McpServerFilter {
        status,
        category,
        visibility,
        name_prefix,
    } = filter;
    let status = v.check("filter.status", status_from_pb(status)).flatten();
    let visibility = v
        .check("filter.visibility", visibility_from_pb(visibility))
        .flatten();
    if !category.is_empty() {
        v.check("filter.category", validate::category(&category));
    }
    if !name_prefix.is_empty() {
        let valid = name_prefix.len() <= 64
            && name_prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid {
            v.add(
                "filter.name_prefix",
                "must be at most 64 characters of [a-z0-9_-] (server names never hold others)",
            );
        }
    }
    ServerFilter {
        status,
        category: (!category.is_empty()).then_some(category),
        visibility,
        name_prefix: (!name_prefix.is_empty()).then_some(name_prefix),
        include_catalog,
    }
}

fn approval(request: pb::ApproveToolsRequest) -> Result<(String, Approval), Error> {
    let pb::ApproveToolsRequest {
        server_id,
        tool_names,
        definition_hashes,
        all_tools,
        revoke_tool_names,
        etag,
    } = request;
    let mut v = Violations::new();
    if let Err(violation) = validate_id("server_id", "mcp", &server_id) {
        v.add(violation.field, violation.description);
    }
    if tool_names.is_empty()
        && definition_hashes.is_empty()
        && !all_tools
        && revoke_tool_names.is_empty()
    {
        v.add(
            "tool_names",
            "one of tool_names, definition_hashes, all_tools or revoke_tool_names is required",
        );
    }
    if all_tools && (!tool_names.is_empty() || !definition_hashes.is_empty()) {
        v.add(
            "all_tools",
            "cannot be combined with tool_names or definition_hashes",
        );
    }
    for name in tool_names.iter() {
        v.check("tool_names", validate::tool_name(name));
    }
    for name in revoke_tool_names.iter() {
        v.check("revoke_tool_names", validate::tool_name(name));
        if tool_names.contains(name) {
            v.add(
                "revoke_tool_names",
                format!("{name:?} is both approved and revoked"),
            );
        }
    }
    for hash in &definition_hashes {
        let valid = hash.len() == 64
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            v.add(
                "definition_hashes",
                format!("{hash:?} is not 64 lower-case hex digits"),
            );
        }
    }
    v.finish()?;
    Ok((
        server_id,
        Approval {
            tool_names,
            definition_hashes,
            all_tools,
            revoke_tool_names,
            etag: (!etag.is_empty()).then_some(etag),
        },
    ))
}

// ---------------------------------------------------------------- responses

/// Converts a server for a response: no secret, sensitive headers masked.
fn server_to_pb(view: ServerView) -> pb::McpServer {
    let ServerView {
        server,
        access,
        pack_ids,
    } = view;
    let etag = server.etag();
    let mut tool_approval_hashes: Vec<String> = server.tool_approvals.values().cloned().collect();
    tool_approval_hashes.sort_unstable();
    tool_approval_hashes.dedup();
    let McpServer {
        id,
        organization_id,
        visibility,
        name,
        display_name,
        description,
        url,
        icon_url,
        category,
        transport,
        auth_type,
        auth_header_name: _,
        sealed_credentials,
        credentials_updated_at,
        request_headers,
        approval_policy,
        tool_configuration,
        config,
        enabled,
        status,
        detected_transport,
        server_info,
        last_synced_at,
        last_successful_sync_at,
        last_error,
        tool_count,
        prompt_count,
        resource_count,
        resource_template_count,
        tool_approvals: _,
        next_sync_at,
        created_at,
        updated_at,
        created_by,
        modified_by,
        revision: _,
    } = server;
    pb::McpServer {
        id,
        organization_id: organization_id.unwrap_or_default(),
        name,
        display_name,
        description,
        url,
        icon_url,
        category,
        transport: transport_to_pb(transport) as i32,
        auth_type: auth_type_to_pb(auth_type) as i32,
        credentials: None,
        has_credentials: sealed_credentials.is_some(),
        credentials_updated_at: opt_timestamp(credentials_updated_at),
        request_headers: request_headers
            .into_iter()
            .map(|h| {
                let value = match h.value {
                    StoredHeaderValue::Plain(value) => value,
                    StoredHeaderValue::Sealed(_) => MASK.to_owned(),
                };
                (h.name, value)
            })
            .collect(),
        approval_policy: approval_policy_to_pb(approval_policy) as i32,
        tool_configuration: Some(pb::ToolConfiguration {
            enabled: Some(tool_configuration.enabled),
            allowed_tools: tool_configuration.allowed_tools,
        }),
        config: Some(json_to_struct(&config)),
        enabled: Some(enabled),
        visibility: visibility_to_pb(visibility) as i32,
        status: status_to_pb(status) as i32,
        detected_transport: detected_transport.map_or(pb::Transport::Unspecified, transport_to_pb)
            as i32,
        server_info: server_info.map(|info| pb::ServerInfo {
            name: info.name,
            version: info.version,
            protocol_version: info.protocol_version,
            title: info.title,
            instructions: info.instructions,
            capabilities: Some(json_to_struct(&info.capabilities)),
        }),
        last_synced_at: opt_timestamp(last_synced_at),
        last_successful_sync_at: opt_timestamp(last_successful_sync_at),
        last_error: last_error.map(|e| pb::SyncError {
            reason: pb::ErrorReason::from(e.reason) as i32,
            message: e.message,
            occurred_at: Some(timestamp(e.occurred_at)),
            sync_run_id: e.sync_run_id,
        }),
        tool_count: count(tool_count),
        prompt_count: count(prompt_count),
        resource_count: count(resource_count),
        resource_template_count: count(resource_template_count),
        tool_approval_hashes,
        pack_ids,
        created_at: Some(timestamp(created_at)),
        updated_at: Some(timestamp(updated_at)),
        created_by,
        modified_by,
        etag,
        access_info: Some(access_info_pb(access)),
        next_sync_at: opt_timestamp(next_sync_at),
    }
}

fn access_info_pb(access: crate::registry::servers::Access) -> pb::AccessInfo {
    pb::AccessInfo {
        role: access.role.map_or(pb::Role::Unspecified, role_to_pb) as i32,
        is_creator: access.is_creator,
        can_edit: access.can_edit,
    }
}

fn count(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn tool_to_pb(server: &McpServer, tool: &Capability) -> pb::Tool {
    let d = &tool.definition;
    let approval_state = match server.tool_approval(&tool.key, &tool.definition_hash) {
        ToolApproval::NotRequired => pb::ToolApprovalState::NotRequired,
        ToolApproval::Approved => pb::ToolApprovalState::Approved,
        ToolApproval::NotApproved => pb::ToolApprovalState::NotApproved,
        ToolApproval::ChangedSinceApproval => pb::ToolApprovalState::ChangedSinceApproval,
    };
    pb::Tool {
        name: tool.key.clone(),
        title: string_field(d, "title"),
        description: string_field(d, "description"),
        input_schema: object_field(d, "inputSchema"),
        output_schema: object_field(d, "outputSchema"),
        annotations: object_field(d, "annotations"),
        definition_hash: tool.definition_hash.clone(),
        approval_state: approval_state as i32,
        approved_definition_hash: server
            .tool_approvals
            .get(&tool.key)
            .cloned()
            .unwrap_or_default(),
        discovered_at: Some(timestamp(tool.discovered_at)),
        changed_at: Some(timestamp(tool.changed_at)),
    }
}

fn prompt_to_pb(prompt: &Capability) -> pb::Prompt {
    let d = &prompt.definition;
    let arguments = d
        .get("arguments")
        .and_then(serde_json::Value::as_array)
        .map(|args| {
            args.iter()
                .map(|a| pb::PromptArgument {
                    name: string_field(a, "name"),
                    title: string_field(a, "title"),
                    description: string_field(a, "description"),
                    required: a
                        .get("required")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default();
    pb::Prompt {
        name: prompt.key.clone(),
        title: string_field(d, "title"),
        description: string_field(d, "description"),
        arguments,
        definition_hash: prompt.definition_hash.clone(),
        discovered_at: Some(timestamp(prompt.discovered_at)),
    }
}

fn resource_to_pb(resource: &Capability) -> pb::Resource {
    let d = &resource.definition;
    pb::Resource {
        uri: resource.key.clone(),
        name: string_field(d, "name"),
        title: string_field(d, "title"),
        description: string_field(d, "description"),
        mime_type: string_field(d, "mimeType"),
        size: d.get("size").and_then(serde_json::Value::as_i64),
        annotations: object_field(d, "annotations"),
        definition_hash: resource.definition_hash.clone(),
        discovered_at: Some(timestamp(resource.discovered_at)),
    }
}

fn template_to_pb(template: &Capability) -> pb::ResourceTemplate {
    let d = &template.definition;
    pb::ResourceTemplate {
        uri_template: template.key.clone(),
        name: string_field(d, "name"),
        title: string_field(d, "title"),
        description: string_field(d, "description"),
        mime_type: string_field(d, "mimeType"),
        annotations: object_field(d, "annotations"),
        definition_hash: template.definition_hash.clone(),
        discovered_at: Some(timestamp(template.discovered_at)),
    }
}
