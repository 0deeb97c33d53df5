//! Reading ImportMcpConfig's document: MCP client configurations (the
//! `mcpServers` JSON of Claude Desktop, Cursor and ExportPack, VS Code's
//! `servers`, also inside `mcp`) here, the official MCP Registry's
//! server.json in `grpc::server_json`; either turned into servers to create.
//! Every problem is reported at its JSON path
//! (`config_json.mcpServers.search.url`), all at once.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::Violations;
use crate::grpc::server_json::{self, Remote};
use crate::pb;
use crate::registry::servers::UrlPolicy;

/// Largest configuration accepted.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
/// Most entries in one configuration.
pub const MAX_ENTRIES: usize = 500;
/// The request field the JSON paths start from.
pub const ROOT: &str = "config_json";

/// What kind of document to read (`None`: tell by the document's shape,
/// [`server_json::detect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An MCP client configuration (`mcpServers`, VS Code's `servers`).
    ClientConfig,
    /// The official MCP Registry's server.json, one or a list.
    ServerJson,
}

/// One entry of the configuration, in its order.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The entry's key.
    pub key: String,
    /// Its JSON path, for error messages.
    pub path: String,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EntryKind {
    /// A stdio server the client starts itself (`command`): not importable.
    Local,
    /// A remote server, as a CreateMcpServer input (name derived from the key).
    Remote(Box<pb::McpServer>),
    /// A `remotes[]` entry of a server.json.
    Registry(Box<Remote>),
}

/// The organization's stored secrets that `${NAME}` placeholders without a
/// value in `variables` stand for, by name (see [`secret_placeholder`]).
pub type SecretPlaceholders = HashMap<String, pb::SecretReference>;

/// Reads `json` as `format`. Problems go to `v` under JSON paths; what
/// could be read is returned.
pub fn read_document(
    json: &str,
    format: Option<Format>,
    variables: &HashMap<String, String>,
    secrets: &SecretPlaceholders,
    policy: UrlPolicy,
    v: &mut Violations,
) -> Vec<Entry> {
    let Some(value) = parse(json, v) else {
        return Vec::new();
    };
    let server_json = match format {
        None => server_json::detect(&value),
        Some(Format::ClientConfig) => false,
        Some(Format::ServerJson) => true,
    };
    if server_json {
        server_json::read(&value, variables, policy, v)
    } else {
        read_config(value, variables, secrets, v)
    }
}

/// The names of the `${NAME}` (and `${env:NAME}`) placeholders of `json`
/// that `variables` gives no value for, each once, at most
/// [`MAX_ENTRIES`]: the ones a stored secret may stand for.
pub fn placeholder_names(json: &str, variables: &HashMap<String, String>) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = json;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            break;
        };
        let name = &after[..end];
        let key = name.strip_prefix("env:").unwrap_or(name);
        if !variables.contains_key(key) && !names.iter().any(|n| n == key) {
            names.push(key.to_owned());
            if names.len() == MAX_ENTRIES {
                break;
            }
        }
        rest = &after[end + 1..];
    }
    names
}

/// The stored secret a header value stands for: the whole value is one
/// placeholder (`${NAME}`, `${env:NAME}`, or `Bearer ${NAME}` in
/// `Authorization`) that `variables` gives no value for and `secrets` names.
/// Returns the reference and whether it is a bearer token.
fn secret_placeholder(
    name: &str,
    value: &str,
    variables: &HashMap<String, String>,
    secrets: &SecretPlaceholders,
) -> Option<(pb::SecretReference, bool)> {
    let (bearer, placeholder) = match value.split_once(' ') {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("bearer")
                && name.eq_ignore_ascii_case("authorization") =>
        {
            (true, rest.trim())
        }
        _ => (false, value),
    };
    let key = placeholder.strip_prefix("${")?.strip_suffix('}')?;
    let key = key.strip_prefix("env:").unwrap_or(key);
    if key.contains(['$', '{', '}']) || variables.contains_key(key) {
        return None;
    }
    secrets
        .get(key)
        .map(|reference| (reference.clone(), bearer))
}

/// Parses the request's JSON text, within [`MAX_CONFIG_BYTES`].
fn parse(json: &str, v: &mut Violations) -> Option<Value> {
    if json.trim().is_empty() {
        v.add(
            ROOT,
            "is required: the MCP client configuration or server.json as JSON",
        );
        return None;
    }
    if json.len() > MAX_CONFIG_BYTES {
        v.add(ROOT, format!("must be at most {MAX_CONFIG_BYTES} bytes"));
        return None;
    }
    match serde_json::from_str(json) {
        Ok(value) => Some(value),
        Err(err) => {
            v.add(
                ROOT,
                format!(
                    "is not valid JSON: {} at line {}, column {}",
                    describe(&err),
                    err.line(),
                    err.column()
                ),
            );
            None
        }
    }
}

/// Reads an MCP client configuration, replacing `${NAME}` (or
/// `${env:NAME}`) placeholders from `variables`.
fn read_config(
    value: Value,
    variables: &HashMap<String, String>,
    secrets: &SecretPlaceholders,
    v: &mut Violations,
) -> Vec<Entry> {
    let Value::Object(root) = value else {
        v.add(ROOT, "must be a JSON object");
        return Vec::new();
    };
    let (servers, path) = if let Some(found) = root.get("mcpServers") {
        (found, format!("{ROOT}.mcpServers"))
    } else if let Some(found) = root.get("servers") {
        (found, format!("{ROOT}.servers"))
    } else if let Some(found) = root.get("mcp").and_then(|mcp| mcp.get("servers")) {
        (found, format!("{ROOT}.mcp.servers"))
    } else {
        v.add(
            ROOT,
            "has no `mcpServers` object (Claude Desktop, Cursor, ExportPack), `servers` object (VS Code) \
             or server.json shape (`name`, `remotes`, a `servers` array)",
        );
        return Vec::new();
    };
    let Value::Object(servers) = servers else {
        v.add(path, "must be an object of servers by name");
        return Vec::new();
    };
    if servers.len() > MAX_ENTRIES {
        v.add(path, format!("must have at most {MAX_ENTRIES} entries"));
        return Vec::new();
    }
    servers
        .iter()
        .filter_map(|(key, entry)| {
            let path = format!("{path}{}", segment(key));
            let kind = read_entry(key, entry, &path, variables, secrets, v)?;
            Some(Entry {
                key: key.clone(),
                path,
                kind,
            })
        })
        .collect()
}

fn read_entry(
    key: &str,
    entry: &Value,
    path: &str,
    variables: &HashMap<String, String>,
    secrets: &SecretPlaceholders,
    v: &mut Violations,
) -> Option<EntryKind> {
    let Value::Object(entry) = entry else {
        v.add(path, "must be an object");
        return None;
    };
    let text = |field: &str, v: &mut Violations| -> Option<String> {
        match entry.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(value)) => Some(value.clone()),
            Some(_) => {
                v.add(format!("{path}.{field}"), "must be a string");
                None
            }
        }
    };
    let kind = text("type", v).or_else(|| text("transport", v));
    let url_field = if entry.contains_key("url") {
        "url"
    } else {
        "serverUrl"
    };
    let url = text(url_field, v);
    if kind.as_deref() == Some("stdio") || (url.is_none() && entry.contains_key("command")) {
        return Some(EntryKind::Local);
    }
    let transport = match kind.as_deref() {
        None => pb::Transport::Auto,
        Some("http" | "streamable-http" | "streamableHttp" | "streamable_http") => {
            pb::Transport::StreamableHttp
        }
        Some("sse") => pb::Transport::Sse,
        Some(other) => {
            v.add(
                format!("{path}.type"),
                format!("{other:?} is not a transport: use \"http\", \"sse\" or \"stdio\""),
            );
            pb::Transport::Auto
        }
    };
    let Some(url) = url else {
        if !entry.contains_key(url_field) {
            v.add(
                format!("{path}.url"),
                "is required for a remote server (a local one has `command`)",
            );
        }
        return None;
    };
    let url = substitute(&url, variables, &format!("{path}.{url_field}"), v);
    let name = server_name(key);
    if name.is_empty() {
        v.add(
            path.to_owned(),
            "the key gives no server name: it needs a letter or a digit",
        );
    }

    let mut credentials = None;
    let mut request_headers = HashMap::new();
    let mut secret_request_headers = HashMap::new();
    match entry.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(headers)) => {
            let mut read = HeadersRead {
                credentials: &mut credentials,
                request_headers: &mut request_headers,
                secret_request_headers: &mut secret_request_headers,
            };
            read_headers(
                headers,
                &format!("{path}.headers"),
                (variables, secrets),
                &mut read,
                v,
            );
        }
        Some(_) => v.add(format!("{path}.headers"), "must be an object of strings"),
    }
    Some(EntryKind::Remote(Box::new(pb::McpServer {
        name,
        url,
        transport: transport as i32,
        credentials,
        request_headers,
        secret_request_headers,
        ..Default::default()
    })))
}

/// Turns `Authorization: Bearer …` into bearer-token credentials and the
/// first API-key header (its name contains `api-key`, `apikey` or `api_key`,
/// or its value is ExportPack's `${…_API_KEY}` placeholder) into api-key
/// credentials; the rest stay headers.
fn read_headers(
    headers: &Map<String, Value>,
    path: &str,
    (variables, secrets): (&HashMap<String, String>, &SecretPlaceholders),
    read: &mut HeadersRead<'_>,
    v: &mut Violations,
) {
    for (name, value) in headers {
        let header_path = format!("{path}{}", segment(name));
        let Value::String(value) = value else {
            v.add(header_path, "must be a string");
            continue;
        };
        // ExportPack writes an api key as `${MCP_<SERVER>_API_KEY}`.
        let exported_api_key = value.starts_with("${")
            && value.ends_with("_API_KEY}")
            && value.matches("${").count() == 1;
        if let Some((reference, bearer)) = secret_placeholder(name, value, variables, secrets) {
            read.take_secret(name, reference, bearer, exported_api_key);
            continue;
        }
        let value = substitute(value, variables, &header_path, v);
        if let Some(value) = take_credentials(name, value, exported_api_key, read.credentials) {
            read.request_headers.insert(name.clone(), value);
        }
    }
}

/// What an entry's headers become.
struct HeadersRead<'a> {
    credentials: &'a mut Option<pb::Credentials>,
    request_headers: &'a mut HashMap<String, String>,
    secret_request_headers: &'a mut HashMap<String, pb::SecretReference>,
}

impl HeadersRead<'_> {
    /// A header whose value is a stored secret's: bearer-token or api-key
    /// credentials by the rules of [`take_credentials`] (while none are
    /// set), else a header taken from the secret.
    fn take_secret(
        &mut self,
        name: &str,
        reference: pb::SecretReference,
        bearer: bool,
        api_key_placeholder: bool,
    ) {
        use pb::credentials::Kind;
        let lower = name.to_ascii_lowercase();
        let api_key = api_key_placeholder
            || ["api-key", "apikey", "api_key"]
                .iter()
                .any(|marker| lower.contains(marker));
        let kind = match (self.credentials.is_some(), bearer, api_key) {
            (false, true, _) => Kind::BearerToken(pb::BearerTokenCredentials {
                token: String::new(),
                token_secret: Some(reference),
            }),
            (false, false, true) => Kind::ApiKey(pb::ApiKeyCredentials {
                key: String::new(),
                header_name: name.to_owned(),
                key_secret: Some(reference),
            }),
            _ => {
                self.secret_request_headers
                    .insert(name.to_owned(), reference);
                return;
            }
        };
        *self.credentials = Some(pb::Credentials { kind: Some(kind) });
    }
}

/// Makes `Authorization: Bearer …` bearer-token credentials and an API-key
/// header (its name contains `api-key`, `apikey` or `api_key`, or
/// `api_key_placeholder`) api-key credentials, unless `credentials` are set
/// already. Returns the value when the header stays a header.
pub fn take_credentials(
    name: &str,
    value: String,
    api_key_placeholder: bool,
    credentials: &mut Option<pb::Credentials>,
) -> Option<String> {
    use pb::credentials::Kind;
    if credentials.is_some() {
        return Some(value);
    }
    let lower = name.to_ascii_lowercase();
    if lower == "authorization" {
        let (scheme, token) = value.split_once(' ').unwrap_or((value.as_str(), ""));
        if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
            *credentials = Some(pb::Credentials {
                kind: Some(Kind::BearerToken(pb::BearerTokenCredentials {
                    token: token.trim().to_owned(),
                    token_secret: None,
                })),
            });
            return None;
        }
    }
    if api_key_placeholder
        || ["api-key", "apikey", "api_key"]
            .iter()
            .any(|marker| lower.contains(marker))
    {
        *credentials = Some(pb::Credentials {
            kind: Some(Kind::ApiKey(pb::ApiKeyCredentials {
                key: value,
                header_name: name.to_owned(),
                key_secret: None,
            })),
        });
        return None;
    }
    Some(value)
}

/// Replaces `${NAME}` and `${env:NAME}` from `variables`; a placeholder
/// without a value is a violation at `path`.
fn substitute(
    text: &str,
    variables: &HashMap<String, String>,
    path: &str,
    v: &mut Violations,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        let key = name.strip_prefix("env:").unwrap_or(name);
        match variables.get(key) {
            Some(value) => out.push_str(value),
            None => {
                v.add(
                    path.to_owned(),
                    format!("placeholder ${{{name}}} has no value: give `{key}` in `variables`"),
                );
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A server name from a configuration key: lower case, every character
/// other than a-z, 0-9, `_` and `-` turned into `-`, leading `-`/`_`
/// dropped, at most 64 characters.
pub fn server_name(key: &str) -> String {
    let mapped: String = key
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    mapped
        .trim_start_matches(['-', '_'])
        .chars()
        .take(64)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// `.key` for plain keys, `["key"]` for others.
fn segment(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        format!(".{key}")
    } else {
        format!("[{}]", Value::String(key.to_owned()))
    }
}

fn describe(err: &serde_json::Error) -> String {
    // serde_json's message ends with " at line L column C"; the caller says
    // where itself.
    let message = err.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str, variables: &HashMap<String, String>, v: &mut Violations) -> Vec<Entry> {
        read_document(
            json,
            None,
            variables,
            &SecretPlaceholders::new(),
            UrlPolicy::default(),
            v,
        )
    }

    fn fields(v: Violations) -> Vec<String> {
        match v.finish() {
            Ok(()) => Vec::new(),
            Err(crate::error::Error::InvalidArgument(list)) => {
                list.into_iter().map(|f| f.field).collect()
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    fn remote(entry: &Entry) -> &pb::McpServer {
        match &entry.kind {
            EntryKind::Remote(server) => server,
            other => panic!("{other:?} is not a client configuration's remote"),
        }
    }

    #[test]
    fn claude_desktop_config_with_local_and_remote_servers() {
        let json = r#"{"mcpServers": {
            "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
            "Linear Issues": {"url": "https://mcp.linear.app/sse", "type": "sse",
                              "headers": {"Authorization": "Bearer ${LINEAR_TOKEN}", "X-Team": "core"}},
            "search": {"url": "https://search.example.com/mcp", "headers": {"X-Api-Key": "k-123"}}
        }}"#;
        let variables = HashMap::from([("LINEAR_TOKEN".to_owned(), "lin_secret".to_owned())]);
        let mut v = Violations::new();
        let entries = read(json, &variables, &mut v);
        assert!(fields(v).is_empty());
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].kind, EntryKind::Local);
        let linear = remote(&entries[1]);
        assert_eq!(linear.name, "linear-issues");
        assert_eq!(linear.transport, pb::Transport::Sse as i32);
        assert_eq!(
            linear.credentials.as_ref().and_then(|c| c.kind.clone()),
            Some(pb::credentials::Kind::BearerToken(
                pb::BearerTokenCredentials {
                    token: "lin_secret".into(),
                    token_secret: None,
                }
            ))
        );
        assert_eq!(
            linear.request_headers.get("X-Team").map(String::as_str),
            Some("core")
        );
        let search = remote(&entries[2]);
        assert_eq!(search.transport, pb::Transport::Auto as i32);
        assert_eq!(
            search.credentials.as_ref().and_then(|c| c.kind.clone()),
            Some(pb::credentials::Kind::ApiKey(pb::ApiKeyCredentials {
                key: "k-123".into(),
                header_name: "X-Api-Key".into(),
                key_secret: None,
            }))
        );
        assert!(search.request_headers.is_empty());
    }

    #[test]
    fn vs_code_servers_are_read_too() {
        let json = r#"{"mcp": {"servers": {"gh": {"type": "http", "url": "https://api.example.com/mcp"}}}}"#;
        let mut v = Violations::new();
        let entries = read(json, &HashMap::new(), &mut v);
        assert!(fields(v).is_empty());
        assert_eq!(entries[0].path, "config_json.mcp.servers.gh");
        assert_eq!(
            remote(&entries[0]).transport,
            pb::Transport::StreamableHttp as i32
        );
    }

    #[test]
    fn every_problem_is_reported_at_its_json_path() {
        let json = r#"{"mcpServers": {
            "a": {"url": 5},
            "b b": {"url": "https://b.example.com/${MISSING}", "type": "carrier-pigeon"},
            "c": {"url": "https://c.example.com", "headers": {"X": 1}},
            "d": "nope",
            "e": {"args": []}
        }}"#;
        let mut v = Violations::new();
        read(json, &HashMap::new(), &mut v);
        assert_eq!(
            fields(v),
            vec![
                "config_json.mcpServers.a.url",
                "config_json.mcpServers[\"b b\"].type",
                "config_json.mcpServers[\"b b\"].url",
                "config_json.mcpServers.c.headers.X",
                "config_json.mcpServers.d",
                "config_json.mcpServers.e.url",
            ]
        );
    }

    #[test]
    fn invalid_json_names_line_and_column() {
        let mut v = Violations::new();
        read("{\"mcpServers\": {\n  \"a\": }", &HashMap::new(), &mut v);
        let err = v.finish().expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("config_json: is not valid JSON"), "{text}");
        assert!(text.contains("line 2, column 8"), "{text}");
    }

    #[test]
    fn names_are_derived_from_keys() {
        assert_eq!(server_name("My Server (prod)"), "my-server--prod");
        assert_eq!(server_name("__x"), "x");
        assert_eq!(server_name("☃"), "");
    }
}
