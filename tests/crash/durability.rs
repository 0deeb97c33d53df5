//! Crash durability: the real binary under concurrent writes from several
//! clients, SIGKILLed at a random moment, restarted on the same database.
//! Every write whose success answer arrived must be there after the
//! restart, and what is at rest must be consistent.
//!
//! `MCP_REGISTRY_CRASH_ROUNDS` (default 20) and `MCP_REGISTRY_CRASH_SEED`
//! change the number of rounds and the seed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_registry::crypto::Keyring;
use mcp_registry::pb;
use mcp_registry::pb::mcp_server_service_client::McpServerServiceClient;
use mcp_registry::pb::pack_service_client::PackServiceClient;
use mcp_registry::registry::admin::NewOrganization;
use mcp_registry::registry::{Admin, Caller, OrganizationName, Plan, etag_of};
use mcp_registry::store::Store;
use serde_json::Value;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Auth, Backend, TestDatabase};
use crate::process::{Served, error_lines};
use crate::support::{Dump, Rng, int, member_ids, seed, text, undocumented};

/// Clients writing at once.
const CLIENTS: usize = 6;

fn rounds() -> usize {
    std::env::var("MCP_REGISTRY_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// Starts the real binary on `url`, its data in `data_dir`.
async fn serve(url: &str, master_key: &str, data_dir: &std::path::Path) -> Served {
    let data_dir = data_dir.to_string_lossy();
    Served::start(&[
        ("MCP_REGISTRY_DATABASE_URL", url),
        ("MCP_REGISTRY_DATA_DIR", &data_dir),
        ("MCP_REGISTRY_MASTER_KEYS", master_key),
        ("MCP_REGISTRY_SHUTDOWN_TIMEOUT", "10"),
    ])
    .await
}

/// A pack state whose success answer arrived.
#[derive(Clone, Debug)]
struct AckedPack {
    version: i64,
    members: Vec<String>,
    name: String,
    description: String,
    rpc: &'static str,
}

/// Every acknowledged write, and the deletes that may have happened.
#[derive(Default)]
struct Ledger {
    /// server id → acknowledged (etag, description).
    servers: HashMap<String, Vec<(String, String)>>,
    /// pack id → acknowledged states.
    packs: HashMap<String, Vec<AckedPack>>,
    /// Deletes that succeeded, or whose answer was lost in the crash.
    servers_maybe_deleted: HashSet<String>,
    servers_deleted: HashSet<String>,
    packs_maybe_deleted: HashSet<String>,
    packs_deleted: HashSet<String>,
    /// Acknowledged writes, per RPC.
    acks: HashMap<&'static str, u64>,
    /// Calls whose answer the crash cut off (outcome unknown).
    in_doubt: u64,
    /// Errors built by a live server that the proto does not document.
    undocumented: Vec<String>,
}

impl Ledger {
    fn ack(&mut self, rpc: &'static str) {
        *self.acks.entry(rpc).or_default() += 1;
    }

    fn pack(&mut self, rpc: &'static str, pack: &pb::Pack) {
        self.ack(rpc);
        self.packs
            .entry(pack.id.clone())
            .or_default()
            .push(AckedPack {
                version: pack.version,
                members: member_ids(pack),
                name: pack.name.clone(),
                description: pack.description.clone(),
                rpc,
            });
    }

    fn total(&self) -> u64 {
        self.acks.values().sum()
    }
}

/// A pack as last seen: etag, version, members.
type PackView = (String, i64, Vec<String>);

/// What the clients know of the objects (possibly stale).
#[derive(Default)]
struct Pools {
    /// server id → last known etag.
    servers: HashMap<String, String>,
    packs: HashMap<String, PackView>,
}

struct Shared {
    ledger: Mutex<Ledger>,
    pools: Mutex<Pools>,
    killed: AtomicBool,
    in_flight: AtomicUsize,
}

impl Shared {
    /// Records a failed call: with the server dead, its outcome is unknown;
    /// alive, it must be an error the proto documents. Returns whether the
    /// outcome is unknown.
    fn failed(&self, rpc: &'static str, status: &Status) -> bool {
        let mut ledger = self.ledger.lock().unwrap();
        if self.killed.load(Ordering::SeqCst) && crate::support::reason(status).is_none() {
            ledger.in_doubt += 1;
            return true;
        }
        if let Some(problem) = undocumented(rpc, status) {
            ledger.undocumented.push(problem);
        }
        false
    }
}

fn pick_server(rng: &mut Rng, pools: &Pools) -> Option<(String, String)> {
    let ids: Vec<&String> = pools.servers.keys().collect();
    rng.pick(&ids)
        .map(|id| ((*id).clone(), pools.servers[*id].clone()))
}

fn pick_pack(rng: &mut Rng, pools: &Pools) -> Option<(String, PackView)> {
    let ids: Vec<&String> = pools.packs.keys().collect();
    rng.pick(&ids)
        .map(|id| ((*id).clone(), pools.packs[*id].clone()))
}

/// One client: random writes until the server dies.
async fn client(channel: Channel, auth: Auth, shared: Arc<Shared>, seed: u64, tag: String) {
    let mut rng = Rng::new(seed);
    let mut servers = McpServerServiceClient::with_interceptor(channel.clone(), auth.clone());
    let mut packs = PackServiceClient::with_interceptor(channel, auth);
    let mut n = 0u64;
    while !shared.killed.load(Ordering::SeqCst) {
        n += 1;
        let roll = rng.below(100);
        let (server, pack, members) = {
            let pools = shared.pools.lock().unwrap();
            let server = pick_server(&mut rng, &pools);
            let pack = pick_pack(&mut rng, &pools);
            let all: Vec<String> = pools.servers.keys().cloned().collect();
            (server, pack, all)
        };
        let etag_or_none = |rng: &mut Rng, etag: &str| {
            if rng.chance(50) {
                etag.to_owned()
            } else {
                String::new()
            }
        };
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        match roll {
            // CreateMcpServer
            0..20 => {
                let name = format!("{tag}x{n}");
                let description = format!("created {tag} {n}");
                let mut input = crate::helpers::server(&name);
                input.description = description.clone();
                match servers
                    .create_mcp_server(pb::CreateMcpServerRequest {
                        mcp_server: Some(input),
                    })
                    .await
                {
                    Ok(answer) => {
                        let s = answer.into_inner();
                        let mut ledger = shared.ledger.lock().unwrap();
                        ledger.ack("CreateMcpServer");
                        ledger
                            .servers
                            .entry(s.id.clone())
                            .or_default()
                            .push((s.etag.clone(), description));
                        shared.pools.lock().unwrap().servers.insert(s.id, s.etag);
                    }
                    Err(status) => {
                        shared.failed("CreateMcpServer", &status);
                    }
                }
            }
            // UpdateMcpServer, conditional on the etag.
            20..45 => {
                let Some((id, etag)) = server else {
                    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                };
                let description = format!("updated {tag} {n}");
                let result = servers
                    .update_mcp_server(pb::UpdateMcpServerRequest {
                        mcp_server: Some(pb::McpServer {
                            id: id.clone(),
                            etag,
                            description: description.clone(),
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["description".into()],
                        }),
                    })
                    .await;
                match result {
                    Ok(answer) => {
                        let s = answer.into_inner();
                        let mut ledger = shared.ledger.lock().unwrap();
                        ledger.ack("UpdateMcpServer");
                        ledger
                            .servers
                            .entry(s.id.clone())
                            .or_default()
                            .push((s.etag.clone(), description));
                        shared.pools.lock().unwrap().servers.insert(s.id, s.etag);
                    }
                    Err(status) => {
                        if !shared.failed("UpdateMcpServer", &status) {
                            refresh_server(&mut servers, &shared, &id, &status).await;
                        }
                    }
                }
            }
            // CreatePack with up to three members.
            45..55 => {
                let chosen = {
                    let n = rng.below(4) as usize;
                    rng.sample(&members, n)
                };
                let result = packs
                    .create_pack(pb::CreatePackRequest {
                        pack: Some(pb::Pack {
                            name: format!("p{tag}x{n}"),
                            description: format!("pack {tag} {n}"),
                            servers: chosen
                                .iter()
                                .map(|id| pb::PackServer {
                                    server_id: id.clone(),
                                    name: String::new(),
                                })
                                .collect(),
                            ..Default::default()
                        }),
                    })
                    .await;
                pack_answer(&shared, "CreatePack", result);
            }
            // AddPackServer
            55..70 => {
                let Some((pack_id, (etag, _, current))) = pack else {
                    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                };
                let candidates: Vec<String> = members
                    .iter()
                    .filter(|id| !current.contains(id))
                    .cloned()
                    .collect();
                let Some(server_id) = rng.pick(&candidates).cloned() else {
                    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                };
                let result = packs
                    .add_pack_server(pb::AddPackServerRequest {
                        pack_id,
                        server: Some(pb::PackServer {
                            server_id,
                            name: String::new(),
                        }),
                        etag: etag_or_none(&mut rng, &etag),
                    })
                    .await;
                pack_answer(&shared, "AddPackServer", result);
            }
            // RemovePackServer
            70..80 => {
                let Some((pack_id, (etag, _, current))) = pack else {
                    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                };
                let Some(server_id) = rng.pick(&current).cloned() else {
                    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                };
                let result = packs
                    .remove_pack_server(pb::RemovePackServerRequest {
                        pack_id,
                        server: Some(pb::PackServer {
                            server_id,
                            name: String::new(),
                        }),
                        etag: etag_or_none(&mut rng, &etag),
                    })
                    .await;
                pack_answer(&shared, "RemovePackServer", result);
            }
            // ReplacePackServers
            80..85 => {
                let Some((pack_id, (etag, _, _))) = pack else {
                    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                };
                let chosen = {
                    let n = rng.below(5) as usize;
                    rng.sample(&members, n)
                };
                let result = packs
                    .replace_pack_servers(pb::ReplacePackServersRequest {
                        pack_id,
                        servers: chosen
                            .into_iter()
                            .map(|server_id| pb::PackServer {
                                server_id,
                                name: String::new(),
                            })
                            .collect(),
                        etag: etag_or_none(&mut rng, &etag),
                    })
                    .await;
                pack_answer(&shared, "ReplacePackServers", result);
            }
            // RestorePackRevision
            85..89 => {
                let Some((pack_id, (etag, version, _))) = pack else {
                    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                };
                let result = packs
                    .restore_pack_revision(pb::RestorePackRevisionRequest {
                        pack_id,
                        version: rng.between(1, version.max(1) as u64) as i64,
                        etag: etag_or_none(&mut rng, &etag),
                    })
                    .await;
                pack_answer(&shared, "RestorePackRevision", result);
            }
            // DeletePack
            89..94 => {
                let Some((pack_id, (etag, _, _))) = pack else {
                    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                };
                let result = packs
                    .delete_pack(pb::DeletePackRequest {
                        id: pack_id.clone(),
                        etag: etag_or_none(&mut rng, &etag),
                    })
                    .await;
                match result {
                    Ok(_) => {
                        let mut ledger = shared.ledger.lock().unwrap();
                        ledger.ack("DeletePack");
                        ledger.packs_deleted.insert(pack_id.clone());
                        ledger.packs_maybe_deleted.insert(pack_id.clone());
                        shared.pools.lock().unwrap().packs.remove(&pack_id);
                    }
                    Err(status) => {
                        if shared.failed("DeletePack", &status) {
                            shared
                                .ledger
                                .lock()
                                .unwrap()
                                .packs_maybe_deleted
                                .insert(pack_id);
                        } else if status.code() == Code::NotFound {
                            shared.pools.lock().unwrap().packs.remove(&pack_id);
                        } else if status.code() == Code::Aborted {
                            refresh_pack(&mut packs, &shared, &pack_id).await;
                        }
                    }
                }
            }
            // DeleteMcpServer, forced half of the time.
            _ => {
                let Some((id, etag)) = server else {
                    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                };
                let result = servers
                    .delete_mcp_server(pb::DeleteMcpServerRequest {
                        id: id.clone(),
                        force: rng.chance(50),
                        etag: etag_or_none(&mut rng, &etag),
                    })
                    .await;
                match result {
                    Ok(_) => {
                        let mut ledger = shared.ledger.lock().unwrap();
                        ledger.ack("DeleteMcpServer");
                        ledger.servers_deleted.insert(id.clone());
                        ledger.servers_maybe_deleted.insert(id.clone());
                        shared.pools.lock().unwrap().servers.remove(&id);
                    }
                    Err(status) => {
                        if shared.failed("DeleteMcpServer", &status) {
                            shared
                                .ledger
                                .lock()
                                .unwrap()
                                .servers_maybe_deleted
                                .insert(id);
                        } else {
                            refresh_server(&mut servers, &shared, &id, &status).await;
                        }
                    }
                }
            }
        }
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

type Servers = McpServerServiceClient<crate::helpers::Authed>;
type Packs = PackServiceClient<crate::helpers::Authed>;

/// After a refused server write: forget a deleted server, or learn its etag.
async fn refresh_server(servers: &mut Servers, shared: &Shared, id: &str, status: &Status) {
    match status.code() {
        Code::NotFound => {
            shared.pools.lock().unwrap().servers.remove(id);
        }
        Code::Aborted => {
            if let Ok(answer) = servers
                .get_mcp_server(pb::GetMcpServerRequest {
                    lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.to_owned())),
                })
                .await
            {
                let s = answer.into_inner();
                shared.pools.lock().unwrap().servers.insert(s.id, s.etag);
            }
        }
        _ => {}
    }
}

async fn refresh_pack(packs: &mut Packs, shared: &Shared, id: &str) {
    if let Ok(answer) = packs
        .get_pack(pb::GetPackRequest { id: id.to_owned() })
        .await
    {
        let p = answer.into_inner();
        let members = member_ids(&p);
        shared
            .pools
            .lock()
            .unwrap()
            .packs
            .insert(p.id, (p.etag, p.version, members));
    }
}

fn pack_answer(
    shared: &Shared,
    rpc: &'static str,
    result: Result<tonic::Response<pb::Pack>, Status>,
) {
    match result {
        Ok(answer) => {
            let p = answer.into_inner();
            shared.ledger.lock().unwrap().pack(rpc, &p);
            let members = member_ids(&p);
            shared
                .pools
                .lock()
                .unwrap()
                .packs
                .insert(p.id, (p.etag, p.version, members));
        }
        Err(status) => {
            shared.failed(rpc, &status);
            // A stale view: the next round's refresh, or a later answer,
            // brings it up to date; ABORTED just costs this call.
        }
    }
}

/// Fills the clients' pools from the freshly started server.
async fn refresh_pools(channel: &Channel, auth: &Auth, shared: &Shared) {
    let mut servers = McpServerServiceClient::with_interceptor(channel.clone(), auth.clone());
    let mut packs = PackServiceClient::with_interceptor(channel.clone(), auth.clone());
    let mut pools = Pools::default();
    let mut token = String::new();
    loop {
        let page = servers
            .list_mcp_servers(pb::ListMcpServersRequest {
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("list servers")
            .into_inner();
        for s in page.mcp_servers {
            pools.servers.insert(s.id, s.etag);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut token = String::new();
    loop {
        let page = packs
            .list_packs(pb::ListPacksRequest {
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("list packs")
            .into_inner();
        for p in page.packs {
            let members = member_ids(&p);
            pools.packs.insert(p.id, (p.etag, p.version, members));
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    *shared.pools.lock().unwrap() = pools;
}

/// Checks every acknowledged write against the restarted service and what
/// is at rest; returns the number of acknowledged writes checked.
async fn verify(served: &Served, url: &str, auth: &Auth, ledger: &Ledger, round: usize) -> u64 {
    let channel = served.channel().await;
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving, "round {round}");

    let store = Store::connect(url).await.expect("store");
    let dump = Dump::read(&store).await;
    store.close().await.expect("close");
    let mut errors = dump.integrity();
    errors.extend(audit_matches_changes(&dump));

    let rows: HashMap<String, &Value> = dump.servers.iter().map(|r| (text(r, "id"), r)).collect();
    let packs: HashMap<String, &Value> = dump.packs.iter().map(|r| (text(r, "id"), r)).collect();
    let revisions = dump.revisions_by_pack();
    let mut checked = 0u64;

    for (id, acked) in &ledger.servers {
        checked += acked.len() as u64;
        let Some(row) = rows.get(id) else {
            if !ledger.servers_maybe_deleted.contains(id) {
                errors.push(format!(
                    "server {id} lost: acknowledged {acked:?}, never deleted"
                ));
            }
            continue;
        };
        if ledger.servers_deleted.contains(id) {
            errors.push(format!(
                "server {id} came back after an acknowledged delete"
            ));
            continue;
        }
        let revision = int(row, "revision");
        for (etag, description) in acked {
            if !(1..=revision).any(|r| etag_of(r) == *etag) {
                errors.push(format!(
                    "server {id}: acknowledged etag {etag}, but the stored revision is only {revision}"
                ));
            }
            if *etag == etag_of(revision) && text(row, "description") != *description {
                errors.push(format!(
                    "server {id} {etag}: acknowledged description {description:?}, stored {:?}",
                    text(row, "description")
                ));
            }
        }
    }
    for id in &ledger.servers_deleted {
        if rows.contains_key(id) {
            errors.push(format!("server {id} exists after an acknowledged delete"));
        }
    }

    for (id, acked) in &ledger.packs {
        checked += acked.len() as u64;
        let Some(pack) = packs.get(id) else {
            if !ledger.packs_maybe_deleted.contains(id) {
                errors.push(format!("pack {id} lost: acknowledged {acked:?}"));
            }
            continue;
        };
        let version = int(pack, "version");
        for state in acked {
            if state.version > version {
                errors.push(format!(
                    "pack {id}: {} acknowledged version {}, stored version {version}",
                    state.rpc, state.version
                ));
                continue;
            }
            match revisions.get(id).and_then(|r| r.get(&state.version)) {
                None => errors.push(format!(
                    "pack {id}: revision {} ({}) is missing",
                    state.version, state.rpc
                )),
                Some(row) => {
                    let frozen = Dump::revision_members(row);
                    if frozen != state.members
                        || text(row, "name") != state.name
                        || text(row, "description") != state.description
                    {
                        errors.push(format!(
                            "pack {id} v{}: {} acknowledged members {:?}, revision holds {frozen:?}",
                            state.version, state.rpc, state.members
                        ));
                    }
                }
            }
        }
    }
    for id in &ledger.packs_deleted {
        checked += 1;
        if packs.contains_key(id) {
            errors.push(format!("pack {id} exists after an acknowledged delete"));
        }
    }

    // The API answers what is at rest.
    let mut client = McpServerServiceClient::with_interceptor(channel.clone(), auth.clone());
    let listed = client
        .list_mcp_servers(pb::ListMcpServersRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("list servers after restart")
        .into_inner();
    for s in &listed.mcp_servers {
        match rows.get(&s.id) {
            Some(row) if s.etag == etag_of(int(row, "revision")) => {}
            other => errors.push(format!("listed {} {} but stored {other:?}", s.id, s.etag)),
        }
    }
    if listed.total_size as usize != rows.len() {
        errors.push(format!(
            "ListMcpServers total {} but {} rows",
            listed.total_size,
            rows.len()
        ));
    }

    assert!(
        errors.is_empty(),
        "round {round}: {} problem(s) after restart:\n{}",
        errors.len(),
        errors.join("\n")
    );
    checked
}

/// The audit trail against what is at rest: every committed change has its
/// event and every event its change. A server's revision counts its writes
/// (create, update, approval), each with one event; a pack's version counts
/// its changes, each with one `pack.*` event except the removals made by a
/// forced server delete (its `server_deleted` revisions, audited as that
/// delete); a resource that is gone has exactly one delete event, one that
/// exists none.
fn audit_matches_changes(dump: &Dump) -> Vec<String> {
    let mut actions: HashMap<String, Vec<String>> = HashMap::new();
    for event in &dump.audit_events {
        actions
            .entry(text(event, "resource_id"))
            .or_default()
            .push(text(event, "action"));
    }
    let count = |id: &str, wanted: &dyn Fn(&str) -> bool| {
        actions.get(id).map_or(0, |a| {
            a.iter().filter(|action| wanted(action)).count() as i64
        })
    };
    let mut errors = Vec::new();
    if !dump.servers.is_empty() && dump.audit_events.is_empty() {
        errors.push("servers at rest, but no audit event".to_owned());
    }
    let mut present = HashSet::new();
    for row in &dump.servers {
        let id = text(row, "id");
        let writes = count(&id, &|a| {
            matches!(
                a,
                "mcp_server.create" | "mcp_server.update" | "mcp_server.approve_tools"
            )
        });
        if writes != int(row, "revision") {
            errors.push(format!(
                "server {id}: revision {} but {writes} write events",
                int(row, "revision")
            ));
        }
        if count(&id, &|a| a == "mcp_server.delete") != 0 {
            errors.push(format!(
                "server {id} exists, but a delete event says it is gone"
            ));
        }
        present.insert(id);
    }
    let deleted_by_server: HashMap<String, i64> = dump
        .revisions
        .iter()
        .filter(|r| text(r, "change_kind") == "server_deleted")
        .fold(HashMap::new(), |mut m, r| {
            *m.entry(text(r, "pack_id")).or_default() += 1;
            m
        });
    for row in &dump.packs {
        let id = text(row, "id");
        let changes = count(&id, &|a| a.starts_with("pack.") && a != "pack.delete");
        let by_deletes = deleted_by_server.get(&id).copied().unwrap_or(0);
        if changes + by_deletes != int(row, "version") {
            errors.push(format!(
                "pack {id}: version {} but {changes} change events (+{by_deletes} removals by server deletes)",
                int(row, "version")
            ));
        }
        if count(&id, &|a| a == "pack.delete") != 0 {
            errors.push(format!(
                "pack {id} exists, but a delete event says it is gone"
            ));
        }
        present.insert(id);
    }
    for (id, list) in &actions {
        let kind = if id.starts_with("mcp_") {
            "mcp_server"
        } else if id.starts_with("pack_") {
            "pack"
        } else {
            continue;
        };
        let deletes = list
            .iter()
            .filter(|a| **a == format!("{kind}.delete"))
            .count();
        let created = list
            .iter()
            .filter(|a| **a == format!("{kind}.create"))
            .count();
        if created != 1 {
            errors.push(format!("{id}: {created} create events: {list:?}"));
        }
        if !present.contains(id) && deletes != 1 {
            errors.push(format!(
                "{id} is gone with {deletes} delete events: {list:?}"
            ));
        }
    }
    errors
}

async fn crash_rounds(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let _exclusive = crate::support::EXCLUSIVE.lock().await;
    let url = database.url.clone();
    let dir = database.dir.path().to_path_buf();
    let master_key = Keyring::generate_entry("test").expect("key");
    let seed = seed(0x5eed_c0de);
    let rounds = rounds();
    println!("crash durability on {backend:?}: seed {seed}, {rounds} rounds, {CLIENTS} clients");

    // The first start applies the migrations.
    let mut served = serve(&url, &master_key, &dir).await;
    let store = Store::connect(&url).await.expect("store");
    let admin = Admin::new(store.clone());
    let org = admin
        .create_organization(
            &Caller::Cli,
            NewOrganization {
                name: OrganizationName::parse("durable").expect("name"),
                // No plan limit: the load may grow as it likes.
                plan: Plan::Enterprise,
            },
        )
        .await
        .expect("org");
    let mut keys = Vec::new();
    for _ in 0..2 {
        keys.push(crate::helpers::admin_key(&admin, &org.id).await);
    }
    store.close().await.expect("close");

    let shared = Arc::new(Shared {
        ledger: Mutex::new(Ledger::default()),
        pools: Mutex::new(Pools::default()),
        killed: AtomicBool::new(false),
        in_flight: AtomicUsize::new(0),
    });
    let mut rng = Rng::new(seed);
    let mut checked = 0u64;
    let mut kill_points = Vec::new();
    let mut server_errors = Vec::new();
    for round in 0..rounds {
        let channel = served.channel().await;
        refresh_pools(&channel, &keys[0], &shared).await;
        shared.killed.store(false, Ordering::SeqCst);
        let acks_before = shared.ledger.lock().unwrap().total();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            // Separate connections, as separate clients would have.
            let channel = served.channel().await;
            tasks.push(tokio::spawn(client(
                channel,
                keys[c % keys.len()].clone(),
                shared.clone(),
                seed ^ ((round as u64) << 16) ^ c as u64,
                format!("r{round}c{c}"),
            )));
        }
        // The load has started once its first write is acknowledged (the
        // server has opened its database connections by then).
        let warm = tokio::time::timeout(Duration::from_secs(30), async {
            while shared.ledger.lock().unwrap().total() == acks_before {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(warm.is_ok(), "round {round}: no write acknowledged");
        let delay = rng.between(50, 500);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(delay)).await;
        shared.killed.store(true, Ordering::SeqCst);
        let in_flight = shared.in_flight.load(Ordering::SeqCst);
        served.kill().await;
        let elapsed = started.elapsed().as_millis();
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("client ends once the server is gone")
                .expect("client task");
        }
        server_errors.extend(served.errors());
        let acked = shared.ledger.lock().unwrap().total() - acks_before;
        kill_points.push((delay, elapsed, acked, in_flight));

        served = serve(&url, &master_key, &dir).await;
        // The clients are done: the ledger is complete for this round.
        let ledger = std::mem::take(&mut *shared.ledger.lock().unwrap());
        assert!(
            ledger.undocumented.is_empty(),
            "round {round}: errors the proto does not document:\n{}",
            ledger.undocumented.join("\n")
        );
        checked += verify(&served, &url, &keys[0], &ledger, round).await;
        *shared.ledger.lock().unwrap() = ledger;
    }
    let (code, logs) = served.stop().await;
    assert_eq!(code, Some(0), "a clean stop after the last round");
    server_errors.extend(error_lines(&logs));

    let ledger = std::mem::take(&mut *shared.ledger.lock().unwrap());
    let mut per_rpc: Vec<_> = ledger.acks.iter().collect();
    per_rpc.sort();
    println!(
        "crash durability on {backend:?}: {rounds} rounds, {} acknowledged writes ({} in doubt at the kills), {checked} acknowledged-write checks after restarts",
        ledger.total(),
        ledger.in_doubt
    );
    println!("  acknowledged per RPC: {per_rpc:?}");
    println!(
        "  kill points (planned ms, actual ms, writes acknowledged in the round, calls in flight at the kill):"
    );
    for (round, point) in kill_points.iter().enumerate() {
        println!("    round {round:2}: {point:?}");
    }
    assert!(
        server_errors.is_empty(),
        "the server logged errors:\n{}",
        server_errors.join("\n")
    );
    assert!(
        ledger.in_doubt > 0,
        "no kill ever caught a call in flight: the test proved little"
    );
    assert!(
        ledger.total() > rounds as u64,
        "the load acknowledged almost nothing: {}",
        ledger.total()
    );
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_on_sqlite() {
    crash_rounds(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_on_postgres() {
    crash_rounds(Backend::Postgres).await;
}
