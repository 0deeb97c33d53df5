//! AuditService conversions: listing requests into filters, events and call
//! records into messages.

use crate::error::Violations;
use crate::grpc::convert::{check_id, enum_field, micros_at_or_after, wire_enum};
use crate::grpc::json::json_to_value;
use crate::grpc::timestamp;
use crate::pb;
use crate::registry::Micros;
use crate::registry::audit::{
    AuditEvent, CallFilter, CallOutcome, EventFilter, FieldChange, ResourceType, ToolCall,
};

wire_enum!("audit resource type", ResourceType => pb::AuditResourceType {
    McpServer = McpServer, Pack = Pack, Organization = Organization, ApiKey = ApiKey,
    Secret = Secret,
});
wire_enum!("tool call outcome", CallOutcome => pb::ToolCallOutcome {
    Ok = Ok, Error = Error, Refused = Refused,
});

/// A listing request, read: the filter (every bad field a violation) and
/// the page parameters.
pub struct Listing<F> {
    pub filter: F,
    pub page_size: i32,
    pub page_token: String,
}

/// `[start, end)`, each valid, `end` after `start`.
fn time_range(
    start: Option<prost_types::Timestamp>,
    end: Option<prost_types::Timestamp>,
    v: &mut Violations,
) -> (Option<Micros>, Option<Micros>) {
    let start = start.and_then(|t| v.check("start", micros_at_or_after(&t)));
    let end = end.and_then(|t| v.check("end", micros_at_or_after(&t)));
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        v.add("start", "must be before end");
        v.add("end", "must be after start");
    }
    (start, end)
}

/// A filter field that may be empty (no filter); else an id of `prefix`.
fn optional_id(v: &mut Violations, field: &str, prefix: &str, id: String) -> Option<String> {
    if id.is_empty() {
        return None;
    }
    check_id(v, field, prefix, &id);
    Some(id)
}

/// Empty means no filter.
fn optional(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// A free-text filter (an actor, an action, a resource id): empty for none,
/// else at most 128 printable characters. Never a control character: the
/// databases would refuse a NUL, and no stored value holds one.
fn optional_text(v: &mut Violations, field: &str, text: String) -> Option<String> {
    if text.chars().count() > 128 {
        v.add(field, "must be at most 128 characters");
        return None;
    }
    if text.chars().any(char::is_control) {
        v.add(field, "must not contain control characters");
        return None;
    }
    optional(text)
}

impl Listing<EventFilter> {
    /// Reads a ListAuditEvents request.
    pub fn read(request: pb::ListAuditEventsRequest, v: &mut Violations) -> Self {
        let pb::ListAuditEventsRequest {
            page_size,
            page_token,
            organization_id,
            resource_type,
            resource_id,
            actor,
            action,
            start,
            end,
        } = request;
        let kind = v
            .check("resource_type", enum_field::<ResourceType>(resource_type))
            .flatten();
        let resource = match (kind, optional_text(v, "resource_id", resource_id)) {
            (Some(kind), id) => Some((kind, id)),
            (None, Some(_)) => {
                v.add("resource_id", "needs resource_type");
                None
            }
            (None, None) => None,
        };
        let (start, end) = time_range(start, end, v);
        Self {
            filter: EventFilter {
                organization_id: optional_id(v, "organization_id", "org", organization_id),
                resource,
                actor: optional_text(v, "actor", actor),
                action: optional_text(v, "action", action),
                start,
                end,
            },
            page_size,
            page_token,
        }
    }
}

impl Listing<CallFilter> {
    /// Reads a ListToolCalls request.
    pub fn read(request: pb::ListToolCallsRequest, v: &mut Violations) -> Self {
        let pb::ListToolCallsRequest {
            page_size,
            page_token,
            organization_id,
            pack_id,
            server_id,
            key_id,
            outcome,
            start,
            end,
        } = request;
        let outcome = v
            .check("outcome", enum_field::<CallOutcome>(outcome))
            .flatten();
        let (start, end) = time_range(start, end, v);
        Self {
            filter: CallFilter {
                organization_id: optional_id(v, "organization_id", "org", organization_id),
                pack_id: optional_id(v, "pack_id", "pack", pack_id),
                server_id: optional_id(v, "server_id", "mcp", server_id),
                key_id: optional_id(v, "key_id", "key", key_id),
                outcome,
                start,
                end,
            },
            page_size,
            page_token,
        }
    }
}

impl From<FieldChange> for pb::AuditChange {
    fn from(change: FieldChange) -> Self {
        Self {
            field: change.field,
            old_value: change.old.as_ref().map(json_to_value),
            new_value: change.new.as_ref().map(json_to_value),
            secret: change.secret,
        }
    }
}

impl From<AuditEvent> for pb::AuditEvent {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id,
            organization_id: event.organization_id.unwrap_or_default(),
            time: Some(timestamp(event.at)),
            actor: event.actor,
            actor_subject: event.actor_subject.unwrap_or_default(),
            request_id: event.request_id,
            action: event.action,
            resource_type: pb::AuditResourceType::from(event.resource_type) as i32,
            resource_id: event.resource_id,
            changes: event.changes.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<ToolCall> for pb::ToolCall {
    fn from(call: ToolCall) -> Self {
        Self {
            id: call.id,
            organization_id: call.organization_id,
            time: Some(timestamp(call.at)),
            key_id: call.key_id,
            pack_id: call.pack_id,
            pack_version: call.pack_version,
            server_id: call.server_id,
            tool_name: call.tool_name,
            called_name: call.called_name,
            outcome: pb::ToolCallOutcome::from(call.outcome) as i32,
            detail: call.detail,
            duration_micros: call.duration_micros,
            request_id: call.request_id,
        }
    }
}
