//! The domain: organizations, API keys, callers and what they may do.
//! Nothing here knows about protobuf or SQL; inputs arrive as validated domain
//! values and results leave as domain values.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod call_log;
pub mod canonical;
pub mod fields;
pub mod model;
pub mod oauth;
pub mod packs;
pub mod retention;
pub mod runs;
pub mod search;
pub mod secrets;
pub mod servers;

pub use admin::Admin;
pub use fields::{
    Category, Description, DisplayName, GatewayUrl, HeaderSet, Icon, PackName, RegistryName,
    RegistryVersion, SecretName, SecretValues, ServerName, Subject, ToolAlias, ToolDescription,
    UpstreamUrl,
};
pub use model::*;

/// Returns the current time in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Makes a new id: `prefix` + `_` + 32 hex digits of a UUIDv7, so ids sort by creation time.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// The 128 bits of an id made by [`new_id`] with `prefix` (its hex digits),
/// or `None` for anything else: a compact cache key, never confused with
/// another id (only the exact shape, lowercase, is read).
pub fn compact_id(prefix: &str, id: &str) -> Option<u128> {
    if !is_valid_id(prefix, id) {
        return None;
    }
    u128::from_str_radix(id.get(prefix.len() + 1..)?, 16).ok()
}

/// Returns whether `id` has the shape of an id made by [`new_id`] with `prefix`.
pub fn is_valid_id(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| {
            hex.len() == 32
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_have_the_documented_shape_and_sort_by_creation() {
        let a = new_id("org");
        let b = new_id("org");
        assert!(is_valid_id("org", &a), "{a}");
        assert!(a < b);
        assert!(!is_valid_id("key", &a));
        assert!(!is_valid_id("org", "org_"));
        assert!(!is_valid_id("org", "org_0123456789ABCDEF0123456789abcdef"));
        assert!(!is_valid_id("org", "org-0123456789abcdef0123456789abcdef"));
        assert_eq!(
            compact_id("org", "org_000000000000000000000000000000ff"),
            Some(255)
        );
        assert_eq!(
            compact_id("org", "org_0123456789ABCDEF0123456789abcdef"),
            None
        );
        assert_eq!(
            compact_id("org", "org_+123456789abcdef0123456789abcdef"),
            None
        );
        assert_eq!(compact_id("mcp", &a), None);
    }
}
