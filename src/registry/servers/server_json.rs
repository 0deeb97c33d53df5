//! ExportMcpServer: a server as a `server.json` document of the official MCP
//! Registry (schema 2025-12-11) with one `remotes[]` entry. Secrets are never
//! written: credentials and sealed headers appear as required secret headers
//! without a value, for whoever imports the document to fill in.

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::registry::Caller;
use crate::registry::servers::{
    AuthType, DEFAULT_API_KEY_HEADER, Lookup, McpServer, Servers, StoredHeaderValue, Transport,
};

/// The schema the exporter writes (and the importer follows).
pub const SCHEMA_URL: &str =
    "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";
/// Longest `description` and `title` the schema allows, in characters.
pub const MAX_TEXT: usize = 100;
/// The version written for a server with neither a registry version nor a
/// synced one.
pub const UNKNOWN_VERSION: &str = "0.0.0";

impl Servers {
    /// Returns the server the caller may see as a server.json document.
    pub async fn export_server_json(
        &self,
        caller: &Caller,
        lookup: Lookup,
    ) -> Result<Value, Error> {
        let view = self.get(caller, lookup).await?;
        Ok(server_json(&view.server))
    }
}

/// Builds the server.json of `server`.
pub fn server_json(server: &McpServer) -> Value {
    let mut document = Map::new();
    document.insert("$schema".into(), json!(SCHEMA_URL));
    document.insert("name".into(), json!(registry_name(server)));
    let description = [&server.description, &server.display_name, &server.name]
        .into_iter()
        .find(|text| !text.is_empty())
        .map_or_else(String::new, |text| cut(text));
    document.insert("description".into(), json!(description));
    if !server.display_name.is_empty() {
        document.insert("title".into(), json!(cut(&server.display_name)));
    }
    document.insert("version".into(), json!(version(server)));
    if !server.documentation_url.is_empty() {
        document.insert("websiteUrl".into(), json!(server.documentation_url));
    }
    if server.icon_url.contains("://") {
        document.insert("icons".into(), json!([{ "src": server.icon_url }]));
    }
    document.insert("remotes".into(), json!([remote(server)]));
    Value::Object(document)
}

/// The stored registry name, else `<reversed URL host>/<name>`.
fn registry_name(server: &McpServer) -> String {
    if !server.registry_name.is_empty() {
        return server.registry_name.clone();
    }
    let host = url::Url::parse(&server.url)
        .ok()
        .and_then(|url| url.domain().map(str::to_owned))
        .filter(|host| !host.is_empty());
    let namespace = match host {
        Some(host) => host.split('.').rev().collect::<Vec<_>>().join("."),
        None => "local".to_owned(),
    };
    format!("{namespace}/{}", server.name)
}

/// The stored registry version, else the version the last sync reported
/// (when it is one the schema takes), else [`UNKNOWN_VERSION`].
fn version(server: &McpServer) -> String {
    if !server.registry_version.is_empty() {
        return server.registry_version.clone();
    }
    server
        .server_info
        .as_ref()
        .and_then(|info| crate::registry::RegistryVersion::parse(info.version.clone()).ok())
        .map_or_else(|| UNKNOWN_VERSION.to_owned(), |v| v.into_inner())
}

/// `text` within [`MAX_TEXT`] characters, cut with `…` when longer.
fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(MAX_TEXT - 1).collect();
    out.push('…');
    out
}

fn remote(server: &McpServer) -> Value {
    let kind = match server.transport {
        Transport::Sse => "sse",
        Transport::StreamableHttp => "streamable-http",
        Transport::Auto => match server.detected_transport {
            Some(Transport::Sse) => "sse",
            _ => "streamable-http",
        },
    };
    let mut headers = Vec::new();
    match server.auth_type {
        // The server's own OAuth (MCP authorization specification): a client
        // discovers it from the 401; no header to declare.
        AuthType::None | AuthType::OAuth2AuthorizationCode => {}
        AuthType::ApiKey => {
            let name = server
                .auth_header_name
                .clone()
                .unwrap_or_else(|| DEFAULT_API_KEY_HEADER.to_owned());
            headers.push(secret(&name, "The API key"));
        }
        AuthType::BearerToken | AuthType::OAuth2ClientCredentials => {
            headers.push(secret("Authorization", "Bearer token: `Bearer <token>`"));
        }
    }
    for header in &server.request_headers {
        headers.push(match &header.value {
            StoredHeaderValue::Plain(value) => json!({ "name": header.name, "value": value }),
            StoredHeaderValue::Sealed(_) | StoredHeaderValue::Secret(_) => {
                secret(&header.name, "A secret value")
            }
        });
    }
    let mut remote = Map::new();
    remote.insert("type".into(), json!(kind));
    remote.insert("url".into(), json!(server.url));
    if !headers.is_empty() {
        remote.insert("headers".into(), Value::Array(headers));
    }
    Value::Object(remote)
}

/// A header whose value is a secret the importer must give.
fn secret(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "description": description,
        "isRequired": true,
        "isSecret": true,
    })
}
