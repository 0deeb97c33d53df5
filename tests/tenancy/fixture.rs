//! A loopback upstream on 127.0.0.1 for syncs: a small MCP server (JSON
//! answers, one tool, one prompt, one resource) on any path, an OAuth2
//! token endpoint, and endpoints that refuse, all recording every request
//! they receive (path, headers, body) so tests can check what a sync sent.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;

/// One request the upstream received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Every header, lower-case name and value (lossy UTF-8).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    /// The values of header `name` (any case).
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The running upstream.
pub struct Upstream {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    redirect: Arc<Mutex<String>>,
}

impl Upstream {
    /// Starts the upstream; `/token` hands out `access_token`.
    ///
    /// Paths: `POST /token` answers an OAuth2 token (any client);
    /// `POST /token-deny` answers 401 `invalid_client`; any path ending in
    /// `/deny` answers 401 with `WWW-Authenticate`; any other `POST` is the
    /// MCP server; other methods get 405. Any path starting with
    /// `/redirect` answers 307 to the location set with [`Self::redirect_to`].
    pub async fn start(access_token: String) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let redirect = Arc::new(Mutex::new(String::new()));
        let log = received.clone();
        let location = redirect.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
                let log = log.clone();
                let access_token = access_token.clone();
                let location = location.lock().map(|l| l.clone()).unwrap_or_default();
                async move {
                    let path = uri.path().to_owned();
                    if let Ok(mut log) = log.lock() {
                        log.push(Received {
                            method: method.to_string(),
                            path: path.clone(),
                            headers: headers
                                .iter()
                                .map(|(n, v)| {
                                    (
                                        n.as_str().to_owned(),
                                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                    )
                                })
                                .collect(),
                            body: body.clone(),
                        });
                    }
                    if path.starts_with("/redirect") {
                        return (
                            StatusCode::TEMPORARY_REDIRECT,
                            [(header::LOCATION, location)],
                        )
                            .into_response();
                    }
                    if method != Method::POST {
                        return StatusCode::METHOD_NOT_ALLOWED.into_response();
                    }
                    if path == "/token" {
                        return (
                            [(header::CONTENT_TYPE, "application/json")],
                            serde_json::json!({
                                "access_token": access_token,
                                "token_type": "Bearer",
                                "expires_in": 3600,
                            })
                            .to_string(),
                        )
                            .into_response();
                    }
                    if path == "/token-deny" {
                        return (
                            StatusCode::UNAUTHORIZED,
                            [(header::CONTENT_TYPE, "application/json")],
                            r#"{"error":"invalid_client"}"#,
                        )
                            .into_response();
                    }
                    if path.ends_with("/deny") {
                        return (
                            StatusCode::UNAUTHORIZED,
                            [(header::WWW_AUTHENTICATE, "Bearer")],
                        )
                            .into_response();
                    }
                    mcp_answer(&body)
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the upstream fixture");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            port,
            received,
            redirect,
        }
    }

    /// Where `/redirect…` paths send their clients.
    pub fn redirect_to(&self, location: String) {
        if let Ok(mut redirect) = self.redirect.lock() {
            *redirect = location;
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// The JSON-RPC answer of the MCP server to one request body.
fn mcp_answer(body: &str) -> axum::response::Response {
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let result = match body["method"].as_str() {
        Some("initialize") => serde_json::json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}, "prompts": {}, "resources": {}},
            "serverInfo": {"name": "fixture", "version": "1"},
        }),
        Some("tools/list") => serde_json::json!({"tools": [
            {"name": "echo", "description": "echoes", "inputSchema": {"type": "object"}},
        ]}),
        Some("prompts/list") => serde_json::json!({"prompts": [
            {"name": "greet", "description": "greets"},
        ]}),
        Some("resources/list") => serde_json::json!({"resources": [
            {"uri": "file:///readme", "name": "readme"},
        ]}),
        Some("resources/templates/list") => serde_json::json!({"resourceTemplates": []}),
        _ => return StatusCode::ACCEPTED.into_response(),
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"jsonrpc": "2.0", "id": body["id"], "result": result}).to_string(),
    )
        .into_response()
}
