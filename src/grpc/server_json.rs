//! Reading the official MCP Registry's `server.json` for ImportMcpConfig
//! (schema 2025-12-11; the 2025-09-29 and 2025-10-17 documents are read the
//! same way): one document, a registry list answer (`servers[]` of
//! `{"server": …, "_meta": …}`, or of documents), or a JSON array of
//! documents. Each `remotes[]` entry becomes a server to create, each
//! `packages[]` entry a local server to skip. The schema's rules are checked
//! here, every problem at its JSON path
//! (`config_json.servers[0].server.remotes[1].headers[0].value`); the rest is
//! checked as CreateMcpServer checks it, and mapped back by [`Paths::field`].

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::error::Violations;
use crate::grpc::import::{Entry, EntryKind, MAX_ENTRIES, ROOT, take_credentials};
use crate::pb;
use crate::registry::servers::server_json::MAX_TEXT;
use crate::registry::servers::{UrlPolicy, validate};
use crate::registry::{DisplayName, RegistryName, RegistryVersion, ServerName, UpstreamUrl};

/// A `remotes[]` entry read into a CreateMcpServer input.
#[derive(Debug, Clone, PartialEq)]
pub struct Remote {
    pub server: pb::McpServer,
    pub registry_name: RegistryName,
    pub registry_version: RegistryVersion,
    /// Names of the request headers declared `isSecret`.
    pub secret_headers: Vec<String>,
    pub paths: Paths,
}

/// Where the fields of a remote's server came from in the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    /// The `server.json` document (`config_json`, `config_json.servers[0].server`).
    pub document: String,
    /// The remote (`<document>.remotes[1]`).
    pub remote: String,
    /// The header that became the credentials.
    pub credentials: Option<String>,
}

impl Paths {
    /// The JSON path of a CreateMcpServer field (`mcp_server.url`) of this
    /// remote's server.
    pub fn field(&self, field: &str) -> String {
        let rest = field.strip_prefix("mcp_server.").unwrap_or(field);
        let head = rest.split(['.', '[']).next().unwrap_or(rest);
        let Self {
            document, remote, ..
        } = self;
        match head {
            "name" => format!("{document}.name"),
            "display_name" => format!("{document}.title"),
            "description" => format!("{document}.description"),
            "documentation_url" => format!("{document}.websiteUrl"),
            "icon_url" => format!("{document}.icons"),
            "url" => format!("{remote}.url"),
            "transport" => format!("{remote}.type"),
            "credentials" | "auth_type" => self
                .credentials
                .clone()
                .unwrap_or_else(|| format!("{remote}.headers")),
            "request_headers" => format!("{remote}.headers"),
            _ => remote.clone(),
        }
    }
}

/// Whether `value` looks like server.json rather than an MCP client
/// configuration: a JSON array, an object with a `servers` array, or an
/// object with `remotes`, `packages` or a `name` holding a `/`.
pub fn detect(value: &Value) -> bool {
    match value {
        Value::Array(_) => true,
        Value::Object(root) => {
            matches!(root.get("servers"), Some(Value::Array(_)))
                || root.contains_key("remotes")
                || root.contains_key("packages")
                || root
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|name| name.contains('/'))
        }
        _ => false,
    }
}

/// Reads the documents of `value` into entries, replacing `{var}` templates
/// from `variables`. Problems go to `v` under JSON paths.
pub fn read(
    value: &Value,
    variables: &HashMap<String, String>,
    policy: UrlPolicy,
    v: &mut Violations,
) -> Vec<Entry> {
    let documents: Vec<(String, &Value)> = match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| unwrap_item(format!("{ROOT}[{i}]"), item))
            .collect(),
        Value::Object(root) => match root.get("servers") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| unwrap_item(format!("{ROOT}.servers[{i}]"), item))
                .collect(),
            _ => vec![(ROOT.to_owned(), value)],
        },
        _ => {
            v.add(
                ROOT,
                "must be a server.json object, a registry list answer or an array",
            );
            return Vec::new();
        }
    };
    if documents.is_empty() {
        v.add(ROOT, "holds no server.json document");
        return Vec::new();
    }
    let mut entries = Vec::new();
    for (path, document) in documents {
        read_document(&path, document, variables, policy, v, &mut entries);
        if entries.len() > MAX_ENTRIES {
            v.add(
                ROOT,
                format!("must have at most {MAX_ENTRIES} remotes and packages"),
            );
            return Vec::new();
        }
    }
    entries
}

/// A list answer's item: `{"server": {...}, "_meta": {...}}`, or a document.
fn unwrap_item(path: String, item: &Value) -> (String, &Value) {
    match item.get("server") {
        Some(server @ Value::Object(_)) => (format!("{path}.server"), server),
        _ => (path, item),
    }
}

/// The key of an entry: its JSON path without the `config_json.` root.
fn key_of(path: &str) -> String {
    path.strip_prefix(ROOT)
        .map(|rest| rest.trim_start_matches('.'))
        .unwrap_or(path)
        .to_owned()
}

/// A JSON object's fields read with their types checked, every mismatch a
/// violation at the field's path.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value, path: &'a str, v: &mut Violations) -> Option<Self> {
        match value {
            Value::Object(object) => Some(Self { object, path }),
            _ => {
                v.add(path, "must be an object");
                None
            }
        }
    }

    fn at(&self, field: &str) -> String {
        format!("{}.{field}", self.path)
    }

    fn text(&self, field: &str, v: &mut Violations) -> Option<&'a str> {
        match self.object.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text),
            Some(_) => {
                v.add(self.at(field), "must be a string");
                None
            }
        }
    }

    fn flag(&self, field: &str, v: &mut Violations) -> bool {
        match self.object.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => {
                v.add(self.at(field), "must be true or false");
                false
            }
        }
    }

    fn array(&self, field: &str, v: &mut Violations) -> &'a [Value] {
        match self.object.get(field) {
            None | Some(Value::Null) => &[],
            Some(Value::Array(items)) => items,
            Some(_) => {
                v.add(self.at(field), "must be an array");
                &[]
            }
        }
    }

    fn object(&self, field: &str, v: &mut Violations) -> Option<&'a Map<String, Value>> {
        match self.object.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Object(object)) => Some(object),
            Some(_) => {
                v.add(self.at(field), "must be an object");
                None
            }
        }
    }
}

/// Text of 1 to [`MAX_TEXT`] characters, as the schema limits `description`
/// and `title`.
fn short_text(text: &str, path: String, v: &mut Violations) {
    let count = text.chars().count();
    if count == 0 {
        v.add(path, "must not be empty");
    } else if count > MAX_TEXT {
        v.add(
            path,
            format!("must be at most {MAX_TEXT} characters (the server.json schema), is {count}"),
        );
    }
}

fn read_document(
    path: &str,
    document: &Value,
    variables: &HashMap<String, String>,
    policy: UrlPolicy,
    v: &mut Violations,
    entries: &mut Vec<Entry>,
) {
    let Some(doc) = Fields::of(document, path, v) else {
        return;
    };
    let name = match doc.text("name", v) {
        Some(name) => v.check(doc.at("name"), RegistryName::parse(name)),
        None => {
            if !doc.object.contains_key("name") {
                v.add(doc.at("name"), "is required (e.g. io.github.user/weather)");
            }
            None
        }
    };
    let version = match doc.text("version", v) {
        Some(version) => v.check(doc.at("version"), RegistryVersion::parse(version)),
        None => {
            if !doc.object.contains_key("version") {
                v.add(doc.at("version"), "is required");
            }
            None
        }
    };
    let description = doc.text("description", v).unwrap_or_default();
    if doc.object.contains_key("description") {
        short_text(description, doc.at("description"), v);
    } else {
        v.add(doc.at("description"), "is required");
    }
    let title = doc.text("title", v).unwrap_or_default();
    if doc.object.contains_key("title") {
        short_text(title, doc.at("title"), v);
    }
    // `websiteUrl` is only kept when it is a URL our rules accept (https);
    // the schema allows any URI, so another one is not an error.
    let website = doc
        .text("websiteUrl", v)
        .and_then(|url| UpstreamUrl::parse(url, policy).ok())
        .map(UpstreamUrl::into_inner)
        .unwrap_or_default();
    let icon = doc
        .array("icons", v)
        .iter()
        .filter_map(|icon| icon.get("src").and_then(Value::as_str))
        .find_map(|src| UpstreamUrl::parse(src, policy).ok())
        .map(UpstreamUrl::into_inner)
        .unwrap_or_default();

    for (i, _) in doc.array("packages", v).iter().enumerate() {
        let package = format!("{}.packages[{i}]", doc.path);
        entries.push(Entry {
            key: key_of(&package),
            path: package,
            kind: EntryKind::Local,
        });
    }
    let remotes = doc.array("remotes", v);
    if remotes.is_empty() && !doc.object.contains_key("packages") {
        v.add(
            doc.at("remotes"),
            "is required: a server.json without remotes has no remote server to import",
        );
    }
    let slug = name.as_ref().and_then(|name| {
        DisplayName::parse(name.as_str())
            .and_then(|d| ServerName::from_display_name(&d))
            .ok()
    });
    let suffixes = suffixes(remotes);
    for (i, remote) in remotes.iter().enumerate() {
        let remote_path = format!("{}.remotes[{i}]", doc.path);
        let read = read_remote(&remote_path, remote, variables, policy, v);
        let (Some(name), Some(version), Some(slug), Some(read)) = (&name, &version, &slug, read)
        else {
            continue;
        };
        let server_name = match suffixes.get(i).and_then(Option::as_deref) {
            Some(suffix) => suffixed(slug.as_str(), suffix),
            None => slug.as_str().to_owned(),
        };
        let ReadRemote {
            transport,
            url,
            credentials,
            request_headers,
            secret_headers,
            credentials_path,
        } = read;
        entries.push(Entry {
            key: key_of(&remote_path),
            path: remote_path.clone(),
            kind: EntryKind::Registry(Box::new(Remote {
                server: pb::McpServer {
                    name: server_name,
                    display_name: title.to_owned(),
                    description: description.to_owned(),
                    url,
                    transport: transport as i32,
                    credentials,
                    request_headers,
                    documentation_url: website.clone(),
                    icon_url: icon.clone(),
                    ..Default::default()
                },
                registry_name: name.clone(),
                registry_version: version.clone(),
                secret_headers,
                paths: Paths {
                    document: doc.path.to_owned(),
                    remote: remote_path,
                    credentials: credentials_path,
                },
            })),
        });
    }
}

/// The name suffix of each remote of a document with several: its type
/// (`http`, `sse`), numbered from the second of a type (`http-2`).
fn suffixes(remotes: &[Value]) -> Vec<Option<String>> {
    if remotes.len() < 2 {
        return vec![None; remotes.len()];
    }
    let mut seen: HashMap<&str, u32> = HashMap::new();
    remotes
        .iter()
        .map(|remote| {
            let kind = match remote.get("type").and_then(Value::as_str) {
                Some("sse") => "sse",
                _ => "http",
            };
            let n = seen.entry(kind).or_insert(0);
            *n += 1;
            Some(match *n {
                1 => kind.to_owned(),
                n => format!("{kind}-{n}"),
            })
        })
        .collect()
}

/// `<base>-<suffix>` within [`ServerName::MAX_LEN`], the base cut to fit.
fn suffixed(base: &str, suffix: &str) -> String {
    let keep = ServerName::MAX_LEN.saturating_sub(suffix.len() + 1);
    let base: String = base.chars().take(keep).collect();
    format!("{}-{suffix}", base.trim_end_matches('-'))
}

/// What a remote holds once its templates are filled.
struct ReadRemote {
    transport: pb::Transport,
    url: String,
    credentials: Option<pb::Credentials>,
    request_headers: HashMap<String, String>,
    secret_headers: Vec<String>,
    credentials_path: Option<String>,
}

fn read_remote(
    path: &str,
    remote: &Value,
    variables: &HashMap<String, String>,
    policy: UrlPolicy,
    v: &mut Violations,
) -> Option<ReadRemote> {
    let remote = Fields::of(remote, path, v)?;
    let transport = match remote.text("type", v) {
        Some("streamable-http") => Some(pb::Transport::StreamableHttp),
        Some("sse") => Some(pb::Transport::Sse),
        Some(other) => {
            v.add(
                remote.at("type"),
                format!("{other:?} is not a remote type: use \"streamable-http\" or \"sse\""),
            );
            None
        }
        None => {
            if !remote.object.contains_key("type") {
                v.add(
                    remote.at("type"),
                    "is required: \"streamable-http\" or \"sse\"",
                );
            }
            None
        }
    };
    let declared = remote.object("variables", v);
    let url = match remote.text("url", v) {
        Some(template) => fill(
            template,
            declared,
            &remote.at("variables"),
            &remote.at("url"),
            variables,
            true,
            v,
        )
        // Checked here so that a remote of an invalid document is checked too.
        .and_then(|url| v.check(remote.at("url"), UpstreamUrl::parse(url, policy)))
        .map(UpstreamUrl::into_inner),
        None => {
            if !remote.object.contains_key("url") {
                v.add(remote.at("url"), "is required");
            }
            None
        }
    };

    let mut credentials = None;
    let mut credentials_path = None;
    let mut request_headers = HashMap::new();
    let mut secret_headers = Vec::new();
    let mut seen = HashSet::new();
    for (j, header) in remote.array("headers", v).iter().enumerate() {
        let header_path = format!("{}.headers[{j}]", remote.path);
        let Some(header) = Fields::of(header, &header_path, v) else {
            continue;
        };
        let Some(name) = header.text("name", v) else {
            if !header.object.contains_key("name") {
                v.add(header.at("name"), "is required");
            }
            continue;
        };
        if let Err(err) = validate::header_name(name) {
            v.add(header.at("name"), err);
            continue;
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            v.add(
                header.at("name"),
                format!("{name:?} is given twice (header names ignore case)"),
            );
            continue;
        }
        let secret = header.flag("isSecret", v);
        let Some(value) = header_value(name, &header, variables, v) else {
            continue;
        };
        if let Err(err) = validate::header_value(name, &value) {
            v.add(header.at("value"), err);
            continue;
        }
        match take_credentials(name, value, false, &mut credentials) {
            None => credentials_path = Some(header_path),
            Some(value) => {
                if secret {
                    secret_headers.push(name.to_owned());
                }
                request_headers.insert(name.to_owned(), value);
            }
        }
    }
    Some(ReadRemote {
        transport: transport?,
        url: url?,
        credentials,
        request_headers,
        secret_headers,
        credentials_path,
    })
}

/// A header's value: `variables[<name>]`, else its `value` with templates
/// filled from its own `variables`, else its `default`. `None` when it has
/// none (a violation when it is required) or a template cannot be filled.
fn header_value(
    name: &str,
    header: &Fields<'_>,
    variables: &HashMap<String, String>,
    v: &mut Violations,
) -> Option<String> {
    let required = header.flag("isRequired", v);
    let declared = header.object("variables", v);
    let template = header.text("value", v);
    let default = header.text("default", v);
    let value = if let Some(given) = variables.get(name) {
        Some(given.clone())
    } else if let Some(template) = template {
        fill(
            template,
            declared,
            &header.at("variables"),
            &header.at("value"),
            variables,
            required,
            v,
        )
    } else if let Some(default) = default {
        Some(default.to_owned())
    } else {
        if required {
            v.add(
                header.at("value"),
                format!("is required: give the value of header {name:?} as `variables[{name:?}]`"),
            );
        }
        None
    };
    let value = value?;
    check_input(header.object, &value, &header.at("value"), v).then_some(value)
}

/// Fills the `{var}` templates of `template`: `variables[var]`, else the
/// declared variable's `value`, else its `default`. A template that cannot
/// be filled is a violation when `required` (at the declared variable, or
/// at `path` when it is not declared); `None` then.
fn fill(
    template: &str,
    declared: Option<&Map<String, Value>>,
    declared_path: &str,
    path: &str,
    variables: &HashMap<String, String>,
    required: bool,
    v: &mut Violations,
) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut complete = true;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('}');
        let var = end.map(|end| &after[..end]);
        let Some(var) = var.filter(|var| is_identifier(var)) else {
            // Not a template: kept as it is, as the schema says.
            out.push('{');
            rest = after;
            continue;
        };
        let decl = declared.and_then(|d| d.get(var));
        let decl_path = format!("{declared_path}.{var}");
        let value = variables.get(var).cloned().or_else(|| {
            let input = decl?;
            input
                .get("value")
                .or_else(|| input.get("default"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        match value {
            Some(value) => {
                if let Some(Value::Object(input)) = decl
                    && !check_input(input, &value, &decl_path, v)
                {
                    complete = false;
                }
                out.push_str(&value);
            }
            None => {
                complete = false;
                if required {
                    let at = if decl.is_some() {
                        decl_path
                    } else {
                        path.to_owned()
                    };
                    v.add(
                        at,
                        format!("is required: give the value of {{{var}}} as `variables[{var:?}]`"),
                    );
                }
            }
        }
        rest = &after[var.len() + 1..];
    }
    out.push_str(rest);
    complete.then_some(out)
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, the schema's template variable names.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks a value against its input's `format` and `choices`; false (and a
/// violation at `path`) when it does not fit. Values are never quoted back:
/// they may be secrets.
fn check_input(input: &Map<String, Value>, value: &str, path: &str, v: &mut Violations) -> bool {
    let format_ok = match input.get("format").and_then(Value::as_str) {
        Some("number") => value.parse::<f64>().is_ok_and(f64::is_finite),
        Some("boolean") => value == "true" || value == "false",
        _ => true,
    };
    if !format_ok {
        v.add(
            path,
            format!(
                "must be a {} value",
                input
                    .get("format")
                    .and_then(Value::as_str)
                    .unwrap_or("string")
            ),
        );
        return false;
    }
    if let Some(Value::Array(choices)) = input.get("choices")
        && !choices.is_empty()
        && !choices.iter().any(|c| c.as_str() == Some(value))
    {
        let listed: Vec<&str> = choices.iter().filter_map(Value::as_str).collect();
        v.add(path, format!("must be one of {}", listed.join(", ")));
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Violations) -> Vec<String> {
        match v.finish() {
            Ok(()) => Vec::new(),
            Err(crate::error::Error::InvalidArgument(list)) => {
                list.into_iter().map(|f| f.field).collect()
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    fn read_str(json: &str, variables: &[(&str, &str)]) -> (Vec<Entry>, Vec<String>) {
        let value: Value = serde_json::from_str(json).expect("json");
        let variables = variables
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut v = Violations::new();
        let entries = read(&value, &variables, UrlPolicy::default(), &mut v);
        (entries, fields(v))
    }

    fn remote(entry: &Entry) -> &Remote {
        match &entry.kind {
            EntryKind::Registry(remote) => remote,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_json_is_told_from_client_configurations() {
        let yes = [
            r#"[]"#,
            r#"{"servers": []}"#,
            r#"{"name": "io.github.a/b"}"#,
            r#"{"remotes": []}"#,
        ];
        for json in yes {
            assert!(detect(&serde_json::from_str(json).expect("json")), "{json}");
        }
        let no = [
            r#"{"servers": {}}"#,
            r#"{"mcpServers": {}}"#,
            r#"{"name": "x"}"#,
        ];
        for json in no {
            assert!(
                !detect(&serde_json::from_str(json).expect("json")),
                "{json}"
            );
        }
    }

    #[test]
    fn templates_are_filled_from_variables_then_declarations() {
        let json = r#"{"name": "com.example/multi", "description": "d", "version": "1.0.0",
            "remotes": [{"type": "streamable-http", "url": "https://{tenant}.example.com/{region}/mcp",
                "variables": {"tenant": {"isRequired": true}, "region": {"default": "eu", "choices": ["eu", "us"]}},
                "headers": [{"name": "X-Workspace", "value": "ws-{ws}", "isRequired": true,
                             "variables": {"ws": {"isRequired": true}}}]}]}"#;
        let (entries, problems) = read_str(json, &[("tenant", "acme"), ("ws", "7")]);
        assert!(problems.is_empty(), "{problems:?}");
        let server = &remote(&entries[0]).server;
        assert_eq!(server.url, "https://acme.example.com/eu/mcp");
        assert_eq!(server.name, "com-example-multi");
        assert_eq!(
            server
                .request_headers
                .get("X-Workspace")
                .map(String::as_str),
            Some("ws-7")
        );
        let (_, problems) = read_str(json, &[]);
        assert_eq!(
            problems,
            vec![
                "config_json.remotes[0].variables.tenant",
                "config_json.remotes[0].headers[0].variables.ws",
            ]
        );
    }

    #[test]
    fn names_of_several_remotes_are_suffixed_by_type() {
        assert_eq!(
            suffixes(
                &serde_json::from_str::<Vec<Value>>(
                    r#"[{"type": "streamable-http"}, {"type": "sse"}, {"type": "streamable-http"}]"#
                )
                .expect("json")
            ),
            vec![
                Some("http".to_owned()),
                Some("sse".to_owned()),
                Some("http-2".to_owned())
            ]
        );
        assert_eq!(suffixed(&"a".repeat(64), "http").len(), 64);
    }

    #[test]
    fn paths_map_create_fields_into_the_document() {
        let paths = Paths {
            document: "config_json.servers[0].server".into(),
            remote: "config_json.servers[0].server.remotes[1]".into(),
            credentials: Some("config_json.servers[0].server.remotes[1].headers[0]".into()),
        };
        assert_eq!(
            paths.field("mcp_server.display_name"),
            "config_json.servers[0].server.title"
        );
        assert_eq!(
            paths.field("mcp_server.url"),
            "config_json.servers[0].server.remotes[1].url"
        );
        assert_eq!(
            paths.field("mcp_server.credentials.bearer_token.token"),
            "config_json.servers[0].server.remotes[1].headers[0]"
        );
    }
}
