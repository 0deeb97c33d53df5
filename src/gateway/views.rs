//! What the gateway keeps between requests: a pack's resolution with its
//! tools rendered as listed, and its member servers, in answer caches that
//! are invalidated exactly like ResolvePack's and GetMcpServer's (a change
//! to the pack or to any member drops the entry, on every replica).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::registry::cache::Renderer;
use crate::registry::packs::{Resolution, ResolvedTool};
use crate::registry::servers::{McpServer, ServerView};

/// A pack's resolution, ready to list and to look tools up in.
pub struct Offering {
    pub resolution: Resolution,
    /// Each tool as `tools/list` shows it, in resolution order.
    pub listed: Vec<Value>,
    /// Qualified name → index in `resolution.tools`.
    by_name: HashMap<String, usize>,
    weight: u64,
}

impl Offering {
    /// The tool offered under `name`, if any.
    pub fn tool(&self, name: &str) -> Option<&ResolvedTool> {
        self.by_name
            .get(name)
            .and_then(|i| self.resolution.tools.get(*i))
    }
}

/// Renders a resolution for the gateway.
pub const OFFERING: Renderer<Resolution, Arc<Offering>> = Renderer {
    render: offering,
    weigh: |offering| offering.weight,
};

fn offering(resolution: Resolution) -> Arc<Offering> {
    let listed: Vec<Value> = resolution
        .tools
        .iter()
        .map(|tool| with_field(&tool.definition, "name", &tool.qualified_name))
        .collect();
    let by_name = (resolution.tools.iter().enumerate())
        .map(|(i, tool)| (tool.qualified_name.clone(), i))
        .collect();
    // Twice the listed JSON: the definitions are held as listed and as resolved.
    let weight = 1024
        + 2 * listed
            .iter()
            .map(|v| v.to_string().len() as u64 + 256)
            .sum::<u64>();
    Arc::new(Offering {
        resolution,
        listed,
        by_name,
        weight,
    })
}

/// Keeps a member server as the store has it (sealed secrets included).
pub const MEMBER: Renderer<ServerView, Arc<McpServer>> = Renderer {
    render: |view| Arc::new(view.server),
    weigh: |server| {
        let sealed = server.sealed_credentials.as_ref().map_or(0, String::len);
        4096 + (server.url.len() + sealed) as u64
    },
};

/// `definition` with `key` set to `value`: an item as the gateway lists it.
pub fn with_field(definition: &Value, key: &str, value: &str) -> Value {
    let mut map = match definition {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    map.insert(key.into(), Value::String(value.to_owned()));
    Value::Object(map)
}
