//! Shared by the crash and race suites: a seeded RNG, the error contract of
//! each RPC as the proto documents it, state fingerprints for the etag
//! check, and the integrity checks of what is at rest.

use std::collections::{BTreeMap, HashMap, HashSet};

use mcp_registry::pb;
use mcp_registry::store::Store;
use serde_json::Value;
use tonic::{Code, Status};

/// Held by each load test for its whole run: on a 2-core machine, loads
/// that compete for the CPU mostly measure each other.
pub static EXCLUSIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// xorshift64*: small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Never zero, and nearby seeds give unrelated streams.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03 | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len() as u64) as usize])
        }
    }

    /// Up to `n` distinct elements of `items`, in random order.
    pub fn sample<T: Clone>(&mut self, items: &[T], n: usize) -> Vec<T> {
        let mut pool: Vec<T> = items.to_vec();
        let mut out = Vec::new();
        while out.len() < n && !pool.is_empty() {
            let i = self.below(pool.len() as u64) as usize;
            out.push(pool.swap_remove(i));
        }
        out
    }
}

/// The seed of a run: `MCP_REGISTRY_CRASH_SEED` when set, else `default`.
pub fn seed(default: u64) -> u64 {
    std::env::var("MCP_REGISTRY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The `ErrorInfo` reason of a status built by the service, if it has one.
pub fn reason(status: &Status) -> Option<String> {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    let info = details.error_info()?;
    (info.domain == "mcpregistry").then(|| info.reason.clone())
}

/// The QuotaFailure subject of a PLAN_LIMIT_EXCEEDED status.
pub fn quota_subject(status: &Status) -> Option<String> {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    let quota = details.quota_failure()?;
    quota.violations.first().map(|v| v.subject.clone())
}

/// `CODE/REASON`, as the proto comments write errors.
pub fn label(status: &Status) -> String {
    format!(
        "{:?}/{}",
        status.code(),
        reason(status).unwrap_or_else(|| "-".into())
    )
}

const INVALID: (Code, &str) = (Code::InvalidArgument, "INVALID_ARGUMENT");
const NOT_FOUND: (Code, &str) = (Code::NotFound, "NOT_FOUND");
const EXISTS: (Code, &str) = (Code::AlreadyExists, "ALREADY_EXISTS");
const ETAG: (Code, &str) = (Code::Aborted, "ETAG_MISMATCH");
const DENIED: (Code, &str) = (Code::PermissionDenied, "PERMISSION_DENIED");
const PLAN: (Code, &str) = (Code::FailedPrecondition, "PLAN_LIMIT_EXCEEDED");
const IN_USE: (Code, &str) = (Code::FailedPrecondition, "IN_USE");
const PRECONDITION: (Code, &str) = (Code::FailedPrecondition, "FAILED_PRECONDITION");
const CREDENTIALS: (Code, &str) = (Code::FailedPrecondition, "CREDENTIALS_UNUSABLE");

/// The errors each RPC documents in `proto/mcpregistry/v1/*.proto`, besides
/// UNAUTHENTICATED and UNAVAILABLE/STORAGE_UNAVAILABLE, which every RPC may
/// return. INTERNAL is documented too, but it is always a bug.
fn documented(rpc: &str) -> &'static [(Code, &'static str)] {
    match rpc {
        "CreateMcpServer" => &[INVALID, EXISTS, PLAN, DENIED],
        "GetMcpServer" => &[INVALID, NOT_FOUND],
        "ListMcpServers" | "ListPacks" => &[INVALID],
        "UpdateMcpServer" => &[INVALID, NOT_FOUND, EXISTS, ETAG, DENIED, CREDENTIALS],
        "DeleteMcpServer" => &[NOT_FOUND, IN_USE, ETAG, DENIED],
        "ApproveTools" => &[INVALID, NOT_FOUND, PRECONDITION, ETAG, DENIED],
        "CreatePack" => &[INVALID, NOT_FOUND, EXISTS, PLAN, DENIED],
        "GetPack" => &[NOT_FOUND],
        "UpdatePack" => &[INVALID, NOT_FOUND, EXISTS, ETAG, DENIED],
        "DeletePack" => &[NOT_FOUND, ETAG, DENIED],
        "AddPackServer" => &[INVALID, NOT_FOUND, EXISTS, PLAN, ETAG, DENIED],
        "RemovePackServer" => &[INVALID, NOT_FOUND, ETAG, DENIED],
        "ReplacePackServers" => &[INVALID, NOT_FOUND, PLAN, ETAG, DENIED],
        "RestorePackRevision" => &[INVALID, NOT_FOUND, PRECONDITION, PLAN, ETAG, DENIED],
        "GetPackRevision" | "ListPackRevisions" => &[INVALID, NOT_FOUND],
        // admin.proto: ALREADY_EXISTS for a taken name, ABORTED when stale.
        "UpdateOrganization" => &[INVALID, NOT_FOUND, EXISTS, ETAG, DENIED],
        _ => &[],
    }
}

/// Checks that `status`, returned by `rpc`, is an error the proto documents
/// for it, built by the service (ErrorInfo in domain `mcpregistry`), and
/// never INTERNAL or UNKNOWN. Returns a description of what is wrong.
pub fn undocumented(rpc: &str, status: &Status) -> Option<String> {
    let code = status.code();
    let Some(reason) = reason(status) else {
        return Some(format!(
            "{rpc}: {code:?} without an mcpregistry ErrorInfo: {status:?}"
        ));
    };
    if matches!(code, Code::Internal | Code::Unknown) {
        return Some(format!("{rpc}: {code:?}/{reason}: {}", status.message()));
    }
    let common = [
        (Code::Unauthenticated, "UNAUTHENTICATED"),
        (Code::Unavailable, "STORAGE_UNAVAILABLE"),
    ];
    let ok = documented(rpc)
        .iter()
        .chain(common.iter())
        .any(|(c, r)| *c == code && *r == reason);
    if !ok {
        return Some(format!(
            "{rpc}: {code:?}/{reason} is not documented for it: {}",
            status.message()
        ));
    }
    if reason == "PLAN_LIMIT_EXCEEDED"
        && !matches!(
            quota_subject(status).as_deref(),
            Some("packs" | "servers_per_pack" | "private_servers")
        )
    {
        return Some(format!(
            "{rpc}: PLAN_LIMIT_EXCEEDED without a known QuotaFailure subject: {status:?}"
        ));
    }
    None
}

/// What identifies one state of a server's configuration: everything a
/// write changes, nothing that syncs or pack membership change.
pub fn server_state(s: &pb::McpServer) -> String {
    let headers: BTreeMap<&String, &String> = s.request_headers.iter().collect();
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{:?}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{}",
        s.name,
        s.display_name,
        s.description,
        s.url,
        s.icon_url,
        s.documentation_url,
        s.category,
        s.transport,
        s.auth_type,
        s.has_credentials,
        headers,
        s.approval_policy,
        s.tool_configuration,
        s.config,
        s.enabled,
        s.tool_approval_hashes,
        s.updated_at,
        s.modified_by,
    )
}

/// What identifies one state of a pack (member names are the servers'
/// current names, which renames change without a new pack version).
pub fn pack_state(p: &pb::Pack) -> String {
    let ids: Vec<&str> = p.servers.iter().map(|m| m.server_id.as_str()).collect();
    format!(
        "{}|{}|{:?}|{}|{:?}|{}",
        p.name, p.description, ids, p.version, p.updated_at, p.modified_by
    )
}

pub fn organization_state(o: &pb::Organization) -> String {
    format!("{}|{}|{:?}", o.name, o.plan, o.updated_at)
}

/// Every (object, etag) seen, with the state it was seen with and the RPC
/// that showed it.
#[derive(Default)]
pub struct EtagBook {
    seen: HashMap<String, HashMap<String, (String, &'static str)>>,
    pub observations: u64,
}

impl EtagBook {
    /// Records that `source`'s answer showed `id` in `state` under `etag`;
    /// returns a description when that etag was seen before with another state.
    pub fn observe(
        &mut self,
        id: &str,
        etag: &str,
        state: String,
        source: &'static str,
    ) -> Option<String> {
        self.observations += 1;
        let states = self.seen.entry(id.to_owned()).or_default();
        match states.get(etag) {
            Some((before, first)) if *before != state => Some(format!(
                "etag {etag} of {id} reused for another state:\n  {first:>20}: {before}\n  {source:>20}: {state}"
            )),
            Some(_) => None,
            None => {
                states.insert(etag.to_owned(), (state, source));
                None
            }
        }
    }

    /// The state first seen under `etag` of `id`, and the RPC that showed it.
    pub fn get(&self, id: &str, etag: &str) -> Option<&(String, &'static str)> {
        self.seen.get(id)?.get(etag)
    }

    pub fn distinct(&self) -> usize {
        self.seen.values().map(HashMap::len).sum()
    }
}

/// The rows of the tables the checks read, as JSON objects.
pub struct Dump {
    pub organizations: Vec<Value>,
    pub api_keys: Vec<Value>,
    pub servers: Vec<Value>,
    pub capabilities: Vec<Value>,
    pub packs: Vec<Value>,
    pub members: Vec<Value>,
    pub revisions: Vec<Value>,
    pub sync_runs: Vec<Value>,
    pub audit_events: Vec<Value>,
}

async fn table(store: &Store, name: &str) -> Vec<Value> {
    store
        .dump_table(name)
        .await
        .unwrap_or_else(|e| panic!("dump {name}: {e:?}"))
        .iter()
        .map(|row| serde_json::from_str(row).expect("row is JSON"))
        .collect()
}

impl Dump {
    pub async fn read(store: &Store) -> Self {
        Self {
            organizations: table(store, "organizations").await,
            api_keys: table(store, "api_keys").await,
            servers: table(store, "mcp_servers").await,
            capabilities: table(store, "server_capabilities").await,
            packs: table(store, "packs").await,
            members: table(store, "pack_members").await,
            revisions: table(store, "pack_revisions").await,
            sync_runs: table(store, "sync_runs").await,
            audit_events: table(store, "audit_events").await,
        }
    }

    /// The server ids of a revision row's `members` (stored as JSON text).
    pub fn revision_members(row: &Value) -> Vec<String> {
        let members: Value = match &row["members"] {
            Value::String(text) => serde_json::from_str(text).expect("members JSON"),
            other => other.clone(),
        };
        members
            .as_array()
            .expect("members array")
            .iter()
            .map(|m| m["server_id"].as_str().expect("server_id").to_owned())
            .collect()
    }

    /// pack id → version → revision row.
    pub fn revisions_by_pack(&self) -> HashMap<String, BTreeMap<i64, &Value>> {
        let mut out: HashMap<String, BTreeMap<i64, &Value>> = HashMap::new();
        for row in &self.revisions {
            out.entry(text(row, "pack_id"))
                .or_default()
                .insert(int(row, "version"), row);
        }
        out
    }

    /// pack id → member server ids in position order.
    pub fn members_by_pack(&self) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<(i64, String)>> = HashMap::new();
        for row in &self.members {
            out.entry(text(row, "pack_id"))
                .or_default()
                .push((int(row, "position"), text(row, "server_id")));
        }
        out.into_iter()
            .map(|(pack, mut members)| {
                members.sort();
                (pack, members.into_iter().map(|(_, id)| id).collect())
            })
            .collect()
    }

    /// Checks the invariants of what is at rest; returns every breach.
    /// - every pack's revisions are exactly 1..=version, one each;
    /// - its members are those of its latest revision, at distinct positions;
    /// - no member, revision, capability or sync run points to a missing row;
    /// - server names are unique per organization (or in the catalog) and
    ///   pack names per organization.
    pub fn integrity(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let orgs: HashSet<String> = self.organizations.iter().map(|r| text(r, "id")).collect();
        let servers: HashSet<String> = self.servers.iter().map(|r| text(r, "id")).collect();
        let packs: HashMap<String, &Value> =
            self.packs.iter().map(|r| (text(r, "id"), r)).collect();
        let revisions = self.revisions_by_pack();
        let members = self.members_by_pack();

        for (id, pack) in &packs {
            let version = int(pack, "version");
            let versions: Vec<i64> = revisions
                .get(id)
                .map(|r| r.keys().copied().collect())
                .unwrap_or_default();
            if versions != (1..=version).collect::<Vec<_>>() {
                errors.push(format!(
                    "pack {id} at version {version} has revisions {versions:?}"
                ));
            }
            let current = members.get(id).cloned().unwrap_or_default();
            if let Some(latest) = revisions.get(id).and_then(|r| r.get(&version)) {
                let frozen = Self::revision_members(latest);
                if frozen != current {
                    errors.push(format!(
                        "pack {id} v{version}: members {current:?} but its revision says {frozen:?}"
                    ));
                }
                if text(latest, "name") != text(pack, "name")
                    || text(latest, "description") != text(pack, "description")
                {
                    errors.push(format!(
                        "pack {id} v{version}: name/description differ from its revision"
                    ));
                }
            }
            if !orgs.contains(&text(pack, "organization_id")) {
                errors.push(format!("pack {id} of a missing organization"));
            }
        }
        let mut positions: HashSet<(String, i64)> = HashSet::new();
        for row in &self.members {
            let pack = text(row, "pack_id");
            let server = text(row, "server_id");
            if !packs.contains_key(&pack) {
                errors.push(format!("orphan pack_members row of missing pack {pack}"));
            }
            if !servers.contains(&server) {
                errors.push(format!(
                    "pack {pack} has member {server}, which does not exist"
                ));
            }
            if !positions.insert((pack.clone(), int(row, "position"))) {
                errors.push(format!("pack {pack} has two members at one position"));
            }
        }
        for row in &self.revisions {
            let pack = text(row, "pack_id");
            if !packs.contains_key(&pack) {
                errors.push(format!(
                    "orphan revision {} of missing pack {pack}",
                    int(row, "version")
                ));
            }
        }
        for row in &self.capabilities {
            if !servers.contains(&text(row, "server_id")) {
                errors.push(format!("orphan capability {row}"));
            }
        }
        for row in &self.sync_runs {
            if !servers.contains(&text(row, "server_id")) {
                errors.push(format!("orphan sync run {row}"));
            }
        }
        let mut names = HashSet::new();
        for row in &self.servers {
            if let Some(org) = row["organization_id"].as_str()
                && !orgs.contains(org)
            {
                errors.push(format!(
                    "server {} of a missing organization",
                    text(row, "id")
                ));
            }
            if !names.insert((text(row, "scope"), text(row, "name"))) {
                errors.push(format!(
                    "two servers named {} in scope {}",
                    text(row, "name"),
                    text(row, "scope")
                ));
            }
        }
        let mut pack_names = HashSet::new();
        for row in &self.packs {
            if !pack_names.insert((text(row, "organization_id"), text(row, "name"))) {
                errors.push(format!("two packs named {}", text(row, "name")));
            }
        }
        for row in &self.api_keys {
            if let Some(org) = row["organization_id"].as_str()
                && !orgs.contains(org)
            {
                errors.push(format!(
                    "api key {} of a missing organization",
                    text(row, "id")
                ));
            }
        }
        errors
    }
}

pub fn text(row: &Value, column: &str) -> String {
    row[column]
        .as_str()
        .unwrap_or_else(|| panic!("{column} is not text in {row}"))
        .to_owned()
}

pub fn int(row: &Value, column: &str) -> i64 {
    match &row[column] {
        Value::Number(n) => n.as_i64().expect("integer"),
        Value::String(s) => s.parse().expect("integer text"),
        other => panic!("{column} is not an integer: {other} in {row}"),
    }
}

/// The member ids of a pack answer.
pub fn member_ids(pack: &pb::Pack) -> Vec<String> {
    pack.servers.iter().map(|m| m.server_id.clone()).collect()
}
