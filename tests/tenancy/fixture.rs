//! The loopback upstream of the tenancy suites, built with the shared fake
//! MCP server: one tool, one prompt, one resource on any path, an OAuth2
//! token endpoint, and endpoints that refuse, all logging every request they
//! receive (path, headers, body) so tests can check what a sync sent.

use crate::mcp::{McpServer, Running};

/// Starts the upstream; `/token` hands out `access_token` to any client.
///
/// Paths: `POST /token` answers an OAuth2 token; `POST /token-deny` answers
/// 401 `invalid_client`; any path ending in `/deny` answers 401 with
/// `WWW-Authenticate`; any other `POST` is the MCP server; other methods get
/// 405. Any path starting with `/redirect` answers 307 to the location set
/// with [`Running::redirect_to`].
pub async fn upstream(access_token: &str) -> Running {
    McpServer::new()
        .tool("echo", "echoes")
        .prompt("greet", "greets")
        .resource("file:///readme", "readme")
        .token_endpoint("/token", access_token)
        .refusing_token_endpoint("/token-deny")
        .deny_paths_ending("/deny")
        .redirect("/redirect", "")
        .start()
        .await
}
