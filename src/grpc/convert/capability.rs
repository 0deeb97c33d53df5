//! Capability conversions: tools (with their approval state), prompts,
//! resources and resource templates, from the definitions servers sent.

use crate::grpc::convert::wire_enum;
use crate::grpc::json::{object_field, string_field};
use crate::grpc::timestamp;
use crate::pb;
use crate::registry::servers::{Capability, McpServer, ToolApproval};

wire_enum!("tool approval state", ToolApproval => pb::ToolApprovalState {
    NotRequired = NotRequired, Approved = Approved, NotApproved = NotApproved,
    ChangedSinceApproval = ChangedSinceApproval,
});

/// A tool of `server` with its approval state.
pub fn tool_to_pb(server: &McpServer, tool: &Capability) -> pb::Tool {
    let d = &tool.definition;
    let approval_state = server.tool_approval(&tool.key, &tool.definition_hash);
    pb::Tool {
        name: tool.key.clone(),
        title: string_field(d, "title"),
        description: string_field(d, "description"),
        input_schema: object_field(d, "inputSchema"),
        output_schema: object_field(d, "outputSchema"),
        annotations: object_field(d, "annotations"),
        definition_hash: tool.definition_hash.clone(),
        approval_state: pb::ToolApprovalState::from(approval_state) as i32,
        approved_definition_hash: server
            .tool_approvals
            .get(&tool.key)
            .cloned()
            .unwrap_or_default(),
        discovered_at: Some(timestamp(tool.discovered_at)),
        changed_at: Some(timestamp(tool.changed_at)),
    }
}

impl From<&Capability> for pb::Prompt {
    fn from(prompt: &Capability) -> Self {
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
        Self {
            name: prompt.key.clone(),
            title: string_field(d, "title"),
            description: string_field(d, "description"),
            arguments,
            definition_hash: prompt.definition_hash.clone(),
            discovered_at: Some(timestamp(prompt.discovered_at)),
        }
    }
}

impl From<&Capability> for pb::Resource {
    fn from(resource: &Capability) -> Self {
        let d = &resource.definition;
        Self {
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
}

impl From<&Capability> for pb::ResourceTemplate {
    /// A template reads like a resource whose key is a URI template.
    fn from(template: &Capability) -> Self {
        let pb::Resource {
            uri,
            name,
            title,
            description,
            mime_type,
            size: _,
            annotations,
            definition_hash,
            discovered_at,
        } = pb::Resource::from(template);
        Self {
            uri_template: uri,
            name,
            title,
            description,
            mime_type,
            annotations,
            definition_hash,
            discovered_at,
        }
    }
}

/// Splits resources and resource templates of one listing page.
pub fn resources_to_pb(items: &[Capability]) -> (Vec<pb::Resource>, Vec<pb::ResourceTemplate>) {
    use crate::registry::servers::CapabilityKind;
    let (templates, resources): (Vec<&Capability>, Vec<&Capability>) = items
        .iter()
        .partition(|c| c.kind == CapabilityKind::ResourceTemplate);
    (
        resources.into_iter().map(pb::Resource::from).collect(),
        templates
            .into_iter()
            .map(pb::ResourceTemplate::from)
            .collect(),
    )
}
