//! ExportPack: a pack as the `{"mcpServers": …}` configuration MCP clients read,
//! with every secret replaced by an environment placeholder: each member at its
//! own URL ([`export`]), or the whole pack at its gateway endpoint ([`gateway`]).

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::registry::GatewayUrl;
use crate::registry::packs::model::{Export, ExportTransport, ExportedServer, Pack, Placeholder};
use crate::registry::packs::resolve::unique_name;
use crate::registry::servers::{
    AuthType, DEFAULT_API_KEY_HEADER, McpServer, StoredHeaderValue, Transport,
};

/// The variable a gateway export's client fills with a registry API key.
pub const GATEWAY_KEY_VARIABLE: &str = "MCP_REGISTRY_API_KEY";

/// Builds the configuration of `pack`'s endpoint on the gateway at `gateway`:
/// one entry, named after the pack, at its current version.
pub fn gateway(pack: &Pack, gateway: &GatewayUrl) -> Export {
    let key = pack.name.clone();
    let url = gateway.pack_endpoint(&pack.id);
    let entry = json!({
        "type": "http",
        "url": url,
        "headers": { "Authorization": format!("Bearer ${{{GATEWAY_KEY_VARIABLE}}}") },
    });
    Export {
        pack_id: pack.id.clone(),
        version: pack.version,
        config: json!({ "mcpServers": { key.clone(): entry } }),
        servers: vec![ExportedServer {
            key,
            server_id: String::new(),
            server_name: String::new(),
            transport: ExportTransport::Http,
            url,
        }],
        placeholders: vec![Placeholder {
            name: GATEWAY_KEY_VARIABLE.to_owned(),
            server_id: String::new(),
            header_name: "Authorization".to_owned(),
            description: format!(
                "API key of the organization that owns pack {}, as KEY_ID.SECRET (ideally a key \
                 limited to this pack)",
                pack.name
            ),
        }],
    }
}

/// Builds the configuration for `servers` (in member order).
pub fn export(pack_id: &str, version: i64, servers: &[&McpServer]) -> Export {
    let mut entries = Map::new();
    let mut exported = Vec::with_capacity(servers.len());
    let mut placeholders = Vec::new();
    let mut keys = HashSet::new();
    let mut variables = HashSet::new();
    for server in servers {
        let key = unique_name(&mut keys, server.name.clone());
        let transport = match (server.transport, server.detected_transport) {
            (Transport::Sse, _) | (Transport::Auto, Some(Transport::Sse)) => ExportTransport::Sse,
            _ => ExportTransport::Http,
        };
        let mut headers = Map::new();
        let mut placeholder = |header: &str, suffix: &str, description: String| -> String {
            let name = unique_name(
                &mut variables,
                format!("MCP_{}_{}", env_part(&server.name), suffix),
            );
            placeholders.push(Placeholder {
                name: name.clone(),
                server_id: server.id.clone(),
                header_name: header.to_owned(),
                description,
            });
            format!("${{{name}}}")
        };
        match server.auth_type {
            // An MCP client authorizes itself against such a server (the
            // MCP authorization specification): no header to fill in.
            AuthType::None | AuthType::OAuth2AuthorizationCode => {}
            AuthType::BearerToken => {
                let token = placeholder(
                    "Authorization",
                    "TOKEN",
                    format!("bearer token of server {}", server.name),
                );
                headers.insert(
                    "Authorization".into(),
                    Value::String(format!("Bearer {token}")),
                );
            }
            AuthType::OAuth2ClientCredentials => {
                let token = placeholder(
                    "Authorization",
                    "TOKEN",
                    format!(
                        "OAuth2 access token of server {} (client-credentials grant)",
                        server.name
                    ),
                );
                headers.insert(
                    "Authorization".into(),
                    Value::String(format!("Bearer {token}")),
                );
            }
            AuthType::ApiKey => {
                let header = server
                    .auth_header_name
                    .clone()
                    .unwrap_or_else(|| DEFAULT_API_KEY_HEADER.to_owned());
                let value = placeholder(
                    &header,
                    "API_KEY",
                    format!("api key of server {}", server.name),
                );
                headers.insert(header, Value::String(value));
            }
        }
        for header in &server.request_headers {
            let value = match &header.value {
                StoredHeaderValue::Plain(value) => value.clone(),
                StoredHeaderValue::Sealed(_) | StoredHeaderValue::Secret(_) => placeholder(
                    &header.name,
                    &env_part(&header.name),
                    format!("value of header {} of server {}", header.name, server.name),
                ),
            };
            headers.insert(header.name.clone(), Value::String(value));
        }
        let mut entry = Map::new();
        entry.insert(
            "type".into(),
            Value::String(match transport {
                ExportTransport::Http => "http".into(),
                ExportTransport::Sse => "sse".into(),
            }),
        );
        entry.insert("url".into(), Value::String(server.url.clone()));
        if !headers.is_empty() {
            entry.insert("headers".into(), Value::Object(headers));
        }
        entries.insert(key.clone(), Value::Object(entry));
        exported.push(ExportedServer {
            key,
            server_id: server.id.clone(),
            server_name: server.name.clone(),
            transport,
            url: server.url.clone(),
        });
    }
    Export {
        pack_id: pack_id.to_owned(),
        version,
        config: json!({ "mcpServers": entries }),
        servers: exported,
        placeholders,
    }
}

/// Upper-cases `value` and turns every character other than A-Z and 0-9 into `_`.
fn env_part(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::env_part;

    #[test]
    fn environment_names_are_upper_case_alphanumerics() {
        assert_eq!(env_part("git-hub_2"), "GIT_HUB_2");
        assert_eq!(env_part("X-Api-Key"), "X_API_KEY");
    }
}
