//! The service as an OAuth 2.1 client of upstream MCP servers (the MCP
//! authorization specification): `discovery` finds a server's authorization
//! server, `http` speaks to it (registration, token endpoint, revocation,
//! always through the SSRF guard), `flow` is OAuthService's use cases (start,
//! complete, read, disconnect) on [`crate::sync::engine::Syncer`], and
//! `tokens` hands syncs and gateway calls a fresh access token, with refreshes
//! shared in the process and across replicas. The rules, the model and the
//! sealing are the domain's ([`crate::registry::oauth`]).

pub mod discovery;
pub mod flow;
pub mod http;
pub mod tokens;

use base64::Engine;

/// The PKCE S256 challenge of a verifier (RFC 7636 section 4.2):
/// base64url(SHA-256(verifier)) without padding.
pub fn pkce_challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_rfc_7636_example() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
