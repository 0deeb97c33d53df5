//! Rules for the parts of a server that are checked, not kept as a value of
//! their own (header names and values, tool names, credentials). Each says
//! what is wrong in a sentence fragment for a `BadRequest` field violation;
//! values with a type of their own are parsed in [`crate::registry::fields`].

use crate::registry::fields::UpstreamUrl;
use crate::registry::servers::model::{ClientSecret, Credentials, MASK};

/// Largest `config` object, as compact JSON.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// Most names in `allowed_tools`.
pub const MAX_ALLOWED_TOOLS: usize = 1000;
/// Longest secret value (token, key, client secret, header value).
pub const MAX_SECRET_LEN: usize = 8192;

/// Whether plain `http` upstream URLs are allowed (`--allow-insecure-upstreams`).
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlPolicy {
    pub allow_insecure: bool,
}

/// Headers that describe the connection, not the request, and are never
/// forwarded (RFC 9110 section 7.6.1), plus headers the client sets itself.
const FORBIDDEN_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "mcp-session-id",
    "mcp-protocol-version",
];

/// An HTTP field name (RFC 9110 token) of up to 256 characters that the
/// service may send.
pub fn header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name must not be empty".into());
    }
    if name.len() > 256 {
        return Err("header name must be at most 256 characters".into());
    }
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !name.bytes().all(tchar) {
        return Err(format!("{name:?} is not a valid HTTP header name"));
    }
    if FORBIDDEN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "{name:?} is a hop-by-hop or protocol header and cannot be set"
        ));
    }
    Ok(())
}

/// An HTTP field value: visible ASCII, spaces and tabs, up to 8192 characters.
pub fn header_value(name: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_SECRET_LEN {
        return Err(format!(
            "value of {name:?} must be at most {MAX_SECRET_LEN} characters"
        ));
    }
    if !value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return Err(format!(
            "value of {name:?} must be visible ASCII, spaces or tabs (no CR, LF, NUL or other control characters)"
        ));
    }
    if value == MASK {
        return Err(format!(
            "value of {name:?} is the mask {MASK}, which only keeps a stored value on update"
        ));
    }
    Ok(())
}

/// Whether a header carries a secret and is therefore sealed and masked.
pub fn is_sensitive_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || lower.contains("key")
        || lower.contains("token")
        || lower.contains("secret")
}

/// A tool name as MCP allows it: 1 to 128 characters, no whitespace or control characters.
pub fn tool_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("tool names must not be empty".into());
    }
    if name.chars().count() > 128 {
        return Err("tool names must be at most 128 characters".into());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "tool name {name:?} must not contain whitespace or control characters"
        ));
    }
    Ok(())
}

/// A secret value: 1 to 8192 characters without CR, LF or NUL.
fn secret(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} is required"));
    }
    if value.len() > MAX_SECRET_LEN {
        return Err(format!(
            "{what} must be at most {MAX_SECRET_LEN} characters"
        ));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("{what} must not contain CR, LF or NUL"));
    }
    Ok(())
}

/// Checks credentials; returns `(field suffix, problem)` pairs, the suffix
/// relative to `credentials` (for example `.bearer_token.token`).
pub fn credentials(value: &Credentials, policy: UrlPolicy) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    match value {
        Credentials::ApiKey {
            key,
            header_name: name,
        } => {
            if let Err(err) = secret("key", key) {
                problems.push((".api_key.key", err));
            }
            if let Some(name) = name
                && let Err(err) = header_name(name)
            {
                problems.push((".api_key.header_name", err));
            }
            if key
                .bytes()
                .any(|b| !(b == b'\t' || (0x20..0x7f).contains(&b)))
            {
                problems.push((
                    ".api_key.key",
                    "must be visible ASCII to be sent in a header".into(),
                ));
            }
        }
        Credentials::ApiKeySecret {
            secret: _,
            header_name: name,
        } => {
            if let Some(name) = name
                && let Err(err) = header_name(name)
            {
                problems.push((".api_key.header_name", err));
            }
        }
        // The reference was checked where it was read; the secret is
        // checked against the store before the server is written.
        Credentials::BearerTokenSecret { secret: _ } => {}
        Credentials::BearerToken { token } => {
            if let Err(err) = secret("token", token) {
                problems.push((".bearer_token.token", err));
            } else if token.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
                problems.push((
                    ".bearer_token.token",
                    "must be visible ASCII without spaces".into(),
                ));
            }
        }
        Credentials::OAuth2ClientCredentials {
            token_url,
            client_id,
            client_secret,
            scopes,
        } => {
            if let Err(err) = UpstreamUrl::check(token_url, policy) {
                problems.push((".oauth2_client_credentials.token_url", err));
            }
            if let Err(err) = oauth_client_id(client_id) {
                problems.push((".oauth2_client_credentials.client_id", err));
            }
            if let Err(err) = secret("client_secret", client_secret) {
                problems.push((".oauth2_client_credentials.client_secret", err));
            }
            if let Err(err) = oauth_scopes(scopes) {
                problems.push((".oauth2_client_credentials.scopes", err));
            }
        }
        Credentials::OAuth2AuthorizationCode {
            client_id,
            client_secret,
            scopes,
            issuer,
            token_scope: _,
        } => {
            if let Some(client_id) = client_id
                && let Err(err) = oauth_client_id(client_id)
            {
                problems.push((".oauth2_authorization_code.client_id", err));
            }
            match client_secret {
                Some(ClientSecret::Value(value)) => {
                    if let Err(err) = secret("client_secret", value) {
                        problems.push((".oauth2_authorization_code.client_secret", err));
                    }
                }
                // Checked against the store before the server is written.
                Some(ClientSecret::Secret(_)) | None => {}
            }
            if client_secret.is_some() && client_id.is_none() {
                problems.push((
                    ".oauth2_authorization_code.client_secret",
                    "needs client_id (a dynamically registered client brings its own secret)"
                        .into(),
                ));
            }
            if let Some(issuer) = issuer
                && let Err(err) = UpstreamUrl::check(issuer, policy)
            {
                problems.push((".oauth2_authorization_code.issuer", err));
            }
            if let Err(err) = oauth_scopes(scopes) {
                problems.push((".oauth2_authorization_code.scopes", err));
            }
        }
    }
    problems
}

/// An OAuth client id: 1 to 1024 characters without control characters.
fn oauth_client_id(client_id: &str) -> Result<(), String> {
    if client_id.is_empty() {
        return Err("is required".into());
    }
    if client_id.chars().count() > 1024 || client_id.chars().any(char::is_control) {
        return Err("must be at most 1024 characters without control characters".into());
    }
    Ok(())
}

/// OAuth scopes: at most 50, each 1 to 256 characters without white space or
/// control characters.
pub fn oauth_scopes(scopes: &[String]) -> Result<(), String> {
    if scopes.len() > 50 {
        return Err("must hold at most 50 scopes".into());
    }
    if scopes.iter().any(|s| {
        s.is_empty() || s.len() > 256 || s.chars().any(|c| c.is_whitespace() || c.is_control())
    }) {
        return Err(
            "each scope must be 1 to 256 characters without spaces or control characters".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_rules_refuse_hop_by_hop_and_control_characters() {
        assert!(header_name("X-Trace").is_ok());
        for bad in [
            "",
            "Bad Name",
            "Connection",
            "transfer-encoding",
            "Host",
            "mcp-session-id",
            "x\u{e9}",
        ] {
            assert!(header_name(bad).is_err(), "{bad}");
        }
        assert!(header_value("x", "plain value\twith tab").is_ok());
        for bad in ["a\r\nInjected: 1", "nul\0", "ünicode", MASK] {
            assert!(header_value("x", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sensitive_headers_are_recognised_by_name() {
        for name in [
            "Authorization",
            "cookie",
            "X-API-Key",
            "X-Auth-Token",
            "Client-Secret",
            "apikey",
        ] {
            assert!(is_sensitive_header(name), "{name}");
        }
        for name in ["User-Agent", "Accept", "X-Trace"] {
            assert!(!is_sensitive_header(name), "{name}");
        }
    }
}
