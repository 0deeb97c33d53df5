//! ImportMcpConfig conversions: the request read into entries to create
//! (each problem at its JSON path, for client configurations and
//! server.json alike) and the report of what became of them.

use std::collections::{BTreeMap, HashMap};

use crate::error::{Error, Violations};
use crate::grpc::convert::{count, enum_field, enum_or, wire_enum};
use crate::grpc::import::{self, Format, SecretPlaceholders};
use crate::grpc::server_json::Remote;
use crate::pb;
use crate::registry::secrets::SecretRef;
use crate::registry::servers::import::{
    ImportEntry, ImportOptions, ImportOutcome, ImportReport, Imported, OnConflict,
};
use crate::registry::servers::{AuthType, Credentials, MASK, NewServer, UrlPolicy, Visibility};

wire_enum!("conflict strategy", OnConflict => pb::ImportConflict {
    Skip = Skip, Fail = Fail, Rename = Rename,
});
wire_enum!("import format", Format => pb::ImportFormat {
    ClientConfig = McpClientConfig, ServerJson = ServerJson,
});

/// An ImportMcpConfig request: the configuration read into entries (every
/// problem at its JSON path) and how to import them.
pub struct ImportRequest {
    pub entries: Vec<ImportEntry>,
    pub options: ImportOptions,
}

impl TryFrom<(pb::ImportMcpConfigRequest, UrlPolicy, &SecretPlaceholders)> for ImportRequest {
    type Error = Error;

    /// Reads the request; `secrets` are the organization's secrets that
    /// placeholders without a value in `variables` may stand for.
    fn try_from(
        (request, policy, secrets): (pb::ImportMcpConfigRequest, UrlPolicy, &SecretPlaceholders),
    ) -> Result<Self, Error> {
        let pb::ImportMcpConfigRequest {
            config_json,
            variables,
            on_conflict,
            dry_run,
            visibility,
            format,
        } = request;
        let mut v = Violations::new();
        let format = v.check("format", enum_field::<Format>(format)).flatten();
        let visibility = match enum_field::<Visibility>(visibility) {
            Ok(_) => visibility,
            Err(err) => {
                v.add("visibility", err);
                0
            }
        };
        let on_conflict = v
            .check("on_conflict", enum_or(on_conflict, OnConflict::Skip))
            .unwrap_or(OnConflict::Skip);
        let variables: HashMap<String, String> = variables.into_iter().collect();
        let mut entries = Vec::new();
        let read = import::read_document(&config_json, format, &variables, secrets, policy, &mut v);
        for entry in read {
            // Every remote entry is validated as CreateMcpServer would, its
            // problems reported at its JSON path. An invalid entry is left
            // out; the violations fail the request below.
            let server = match entry.kind {
                import::EntryKind::Local => None,
                import::EntryKind::Remote(mut server) => {
                    server.visibility = visibility;
                    let path = entry.path;
                    let Some(new) = validated(*server, policy, &mut v, |f| import_field(&path, f))?
                    else {
                        continue;
                    };
                    Some(new)
                }
                import::EntryKind::Registry(remote) => {
                    let Some(new) = registry_server(*remote, visibility, policy, &mut v)? else {
                        continue;
                    };
                    Some(new)
                }
            };
            entries.push(ImportEntry {
                key: entry.key,
                server,
            });
        }
        v.finish()?;
        let options = ImportOptions {
            on_conflict,
            dry_run,
        };
        Ok(ImportRequest { entries, options })
    }
}

/// `server` read as CreateMcpServer reads it; `None` when it is invalid,
/// each violation added at the JSON path `path_of` gives its field.
fn validated(
    server: pb::McpServer,
    policy: UrlPolicy,
    v: &mut Violations,
    path_of: impl Fn(&str) -> String,
) -> Result<Option<NewServer>, Error> {
    match NewServer::try_from((server, policy)) {
        Ok(new) => Ok(Some(new)),
        Err(Error::InvalidArgument(violations)) => {
            for violation in violations {
                v.add(path_of(&violation.field), violation.description);
            }
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

/// A server.json remote as a server to create: validated like any entry,
/// with its registry name and version, its `isSecret` headers sealed.
fn registry_server(
    remote: Remote,
    visibility: i32,
    policy: UrlPolicy,
    v: &mut Violations,
) -> Result<Option<NewServer>, Error> {
    let Remote {
        mut server,
        registry_name,
        registry_version,
        secret_headers,
        paths,
    } = remote;
    server.visibility = visibility;
    let Some(mut new) = validated(server, policy, v, |field| paths.field(field))? else {
        return Ok(None);
    };
    new.registry = Some((registry_name, registry_version));
    new.request_headers.mark_secret(&secret_headers);
    Ok(Some(new))
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

impl From<ImportReport> for pb::ImportMcpConfigResponse {
    fn from(report: ImportReport) -> Self {
        let ImportReport {
            entries,
            created,
            skipped,
        } = report;
        Self {
            entries: entries.into_iter().map(imported_entry).collect(),
            created_count: count(created as i64),
            skipped_count: count(skipped as i64),
        }
    }
}

fn imported_entry((key, outcome): (String, ImportOutcome)) -> pb::ImportedEntry {
    let (outcome, mcp_server, detail) = match outcome {
        ImportOutcome::SkippedLocal => (
            pb::ImportOutcome::SkippedLocal,
            None,
            "a local (stdio) server: the registry keeps remote servers only".to_owned(),
        ),
        ImportOutcome::SkippedExists { name } => (
            pb::ImportOutcome::SkippedExists,
            None,
            format!("a server named {name:?} exists"),
        ),
        ImportOutcome::Created { wanted, server } => {
            let server = match server {
                Imported::Created(view) => pb::McpServer::from(*view),
                Imported::Planned(new) => would_create(&new),
            };
            if server.name == wanted {
                (pb::ImportOutcome::Created, Some(server), String::new())
            } else {
                let detail = format!("{wanted:?} is taken; created as {:?}", server.name);
                (pb::ImportOutcome::Renamed, Some(server), detail)
            }
        }
    };
    pb::ImportedEntry {
        key,
        outcome: outcome as i32,
        mcp_server,
        detail,
    }
}

/// What a dry run reports for an entry: the server as it would be created,
/// without id, etag, times or secrets.
fn would_create(new: &NewServer) -> pb::McpServer {
    let auth_type = new
        .credentials
        .as_ref()
        .map_or(AuthType::None, Credentials::auth_type);
    let (registry_name, registry_version) = new
        .registry
        .as_ref()
        .map(|(name, version)| (name.as_str().to_owned(), version.as_str().to_owned()))
        .unwrap_or_default();
    pb::McpServer {
        name: new.name.as_str().to_owned(),
        display_name: new.display_name.as_str().to_owned(),
        description: new.description.as_str().to_owned(),
        icon_url: new
            .icon_url
            .as_ref()
            .map(|icon| icon.as_str().to_owned())
            .unwrap_or_default(),
        documentation_url: new
            .documentation_url
            .as_ref()
            .map(|url| url.as_str().to_owned())
            .unwrap_or_default(),
        registry_name,
        registry_version,
        url: new.url.as_str().to_owned(),
        transport: pb::Transport::from(new.transport) as i32,
        auth_type: pb::AuthType::from(auth_type) as i32,
        has_credentials: new.credentials.is_some(),
        request_headers: new
            .request_headers
            .iter()
            .map(|header| {
                let shown = match &header.value {
                    crate::registry::servers::HeaderInputValue::Value(value)
                        if !new.request_headers.is_secret(&header.name) =>
                    {
                        value.clone()
                    }
                    _ => MASK.to_owned(),
                };
                (header.name.clone(), shown)
            })
            .collect(),
        visibility: new
            .visibility
            .map_or(pb::Visibility::Unspecified, pb::Visibility::from) as i32,
        enabled: Some(true),
        ..Default::default()
    }
}

/// The secrets placeholders may stand for, for [`ImportRequest`].
pub fn secret_placeholders(found: BTreeMap<String, SecretRef>) -> SecretPlaceholders {
    found
        .into_iter()
        .map(|(name, r)| {
            let reference = pb::SecretReference {
                secret_id: r.secret_id,
                value: r.value,
            };
            (name, reference)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_fields_are_reported_at_their_json_path() {
        let path = "config_json.mcpServers.search";
        assert_eq!(import_field(path, "mcp_server.url"), format!("{path}.url"));
        assert_eq!(
            import_field(path, "mcp_server.request_headers[\"X\"]"),
            format!("{path}.headers[\"X\"]")
        );
        assert_eq!(import_field(path, "mcp_server.name"), path);
    }
}
