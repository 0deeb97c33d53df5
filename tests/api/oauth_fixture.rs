//! The OAuth fixture's own test (issue 17): the client side of the MCP
//! authorization flow done by hand against `tests/fixtures/oauth/server.mjs`,
//! so that the fixture the registry's OAuth tests rely on is known to behave
//! like a real authorization server and protected MCP server: 401 with RFC 9728
//! metadata, RFC 8414 metadata, dynamic registration, PKCE S256 and a resource
//! indicator, the code exchange, tokens that expire, refresh with rotation,
//! reuse detection, revocation (RFC 7009 and the control endpoint). No registry
//! and no database: only the fixture runs.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};
use url::Url;

use crate::oauth::{OAuthFixture, Stats, form_body};

/// Returns `bytes` random bytes, base64url without padding.
fn random(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buffer).expect("random");
    URL_SAFE_NO_PAD.encode(buffer)
}

/// A PKCE verifier and its S256 challenge (RFC 7636).
fn pkce() -> (String, String) {
    let verifier = random(32);
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    (verifier, URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

/// Returns the value of `name` in a `WWW-Authenticate: Bearer k="v", …` header.
fn challenge_param(header: &str, name: &str) -> Option<String> {
    let start = header.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &header[start..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// Returns query parameter `name` of `url`.
fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The client side: a registered public client (as MCP clients register) and
/// the AS's metadata.
struct Client {
    http: reqwest::Client,
    metadata: Value,
    client_id: String,
    /// A confidential client's secret (HTTP Basic at the token endpoint).
    secret: Option<String>,
    /// The scope asked for (`None` asks for none).
    scope: Option<&'static str>,
    redirect_uri: String,
    resource: String,
}

impl Client {
    /// Returns the endpoint `name` (`token_endpoint`, …) of the metadata.
    fn endpoint(&self, name: &str) -> String {
        self.metadata[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name}: {}", self.metadata))
            .to_owned()
    }

    /// Returns an authorization URL with PKCE S256, the resource and `state`
    /// (`challenge: None` leaves PKCE out).
    fn authorization_url(
        &self,
        redirect_uri: &str,
        challenge: Option<&str>,
        state: &str,
    ) -> String {
        let mut url = Url::parse(&self.endpoint("authorization_endpoint")).expect("url");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state)
            .append_pair("resource", &self.resource);
        if let Some(scope) = self.scope {
            url.query_pairs_mut().append_pair("scope", scope);
        }
        if let Some(challenge) = challenge {
            url.query_pairs_mut()
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
        url.into()
    }

    /// POSTs `form` to the token endpoint as the client (its id in the form, or
    /// HTTP Basic with its secret); returns the status and the JSON.
    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut form = form.to_vec();
        let mut request = self.http.post(self.endpoint("token_endpoint"));
        match &self.secret {
            Some(secret) => request = request.basic_auth(&self.client_id, Some(secret)),
            None => form.push(("client_id", &self.client_id)),
        }
        let response = request
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_body(&form))
            .send()
            .await
            .expect("token endpoint");
        let status = response.status();
        (status, response.json().await.expect("token answer is JSON"))
    }

    /// Authorizes as `account` with PKCE and exchanges the code; returns the token answer.
    async fn sign_in(&self, fixture: &OAuthFixture, account: &str) -> Value {
        let (verifier, challenge) = pkce();
        let state = random(16);
        let url = self.authorization_url(&self.redirect_uri, Some(&challenge), &state);
        let callback = fixture.authorize(&url, account).await.expect("authorize");
        assert_eq!(
            query(&callback, "state").as_deref(),
            Some(state.as_str()),
            "{callback}"
        );
        // RFC 9207: the AS names itself in the answer.
        assert_eq!(
            query(&callback, "iss").as_deref(),
            Some(fixture.issuer.as_str())
        );
        let code = query(&callback, "code").unwrap_or_else(|| panic!("no code: {callback}"));
        let (status, tokens) = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &self.redirect_uri),
                ("code_verifier", &verifier),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens
    }

    /// Refreshes with `refresh_token`; returns the status and the JSON.
    async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// POSTs one JSON-RPC request to the MCP server with `token` (if any).
    async fn mcp(&self, token: Option<&str>, method: &str, params: Value) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.resource)
            .header(ACCEPT, "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("mcp request")
    }

    /// Calls `whoami` with `token`; returns the account it names.
    async fn whoami(&self, token: &str) -> String {
        let response = self
            .mcp(
                Some(token),
                "tools/call",
                json!({"name": "whoami", "arguments": {}}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let answer: Value = response.json().await.expect("json");
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("whoami: {answer}"))
            .to_owned()
    }
}

/// Returns a token answer's string field `name`.
fn field(tokens: &Value, name: &str) -> String {
    tokens[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name}: {tokens}"))
        .to_owned()
}

/// How the test client registers.
#[derive(Clone, Copy, PartialEq)]
enum Registration {
    /// A public client (`token_endpoint_auth_method: none`) asking for scope `mcp`.
    Public,
    /// A confidential client: registration without an auth method (the AS's
    /// default, `client_secret_basic`) and without grant types, asking for no scope.
    Confidential,
}

/// Discovers the AS from the MCP server's 401, as an MCP client does, and
/// registers a client; checks each step on the way.
async fn discover_and_register(fixture: &OAuthFixture, registration: Registration) -> Client {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client");
    // 1. No token: 401 naming the protected resource metadata.
    let response = http
        .post(&fixture.mcp_url)
        .header(ACCEPT, "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .expect("mcp");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let header = response.headers()[WWW_AUTHENTICATE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(header.starts_with("Bearer "), "{header}");
    let metadata_url = challenge_param(&header, "resource_metadata").expect("resource_metadata");
    assert_eq!(metadata_url, fixture.resource_metadata_url());
    // 2. RFC 9728: the resource and its authorization server.
    let resource: Value = http
        .get(&metadata_url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(resource["resource"], fixture.mcp_url.as_str(), "{resource}");
    assert_eq!(
        resource["authorization_servers"],
        json!([fixture.issuer]),
        "{resource}"
    );
    // 3. RFC 8414 metadata at the issuer.
    let metadata: Value = http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            fixture.issuer
        ))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(metadata["issuer"], fixture.issuer.as_str(), "{metadata}");
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"]),
        "{metadata}"
    );
    assert_eq!(
        metadata["response_types_supported"],
        json!(["code"]),
        "{metadata}"
    );
    for grant in ["authorization_code", "refresh_token"] {
        assert!(
            metadata["grant_types_supported"]
                .as_array()
                .is_some_and(|g| g.contains(&json!(grant))),
            "{grant}: {metadata}"
        );
    }
    // 4. Dynamic registration (RFC 7591), open, with a loopback http redirect
    // URI and an https one.
    let redirect_uri = format!("http://127.0.0.1:{}/callback", crate::mcp::free_port());
    let mut request = json!({
        "client_name": "oauth fixture test",
        "redirect_uris": [redirect_uri, "https://app.example.com/callback"],
    });
    if registration == Registration::Public {
        request["grant_types"] = json!(["authorization_code", "refresh_token"]);
        request["response_types"] = json!(["code"]);
        request["token_endpoint_auth_method"] = json!("none");
    }
    let response = http
        .post(
            metadata["registration_endpoint"]
                .as_str()
                .expect("registration_endpoint"),
        )
        .json(&request)
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::CREATED);
    let registered: Value = response.json().await.expect("json");
    let confidential = registration == Registration::Confidential;
    assert_eq!(
        registered["token_endpoint_auth_method"],
        if confidential {
            "client_secret_basic"
        } else {
            "none"
        },
        "{registered}"
    );
    Client {
        http,
        client_id: field(&registered, "client_id"),
        secret: confidential.then(|| field(&registered, "client_secret")),
        scope: (!confidential).then_some("mcp"),
        metadata,
        redirect_uri,
        resource: fixture.mcp_url.clone(),
    }
}

/// Checks the MCP server with a valid `access` token of `account`: initialize,
/// tools/list, whoami, echo; no GET stream; a token the AS never issued is 401.
async fn check_mcp_server(client: &Client, access: &str, account: &str) {
    let response = client
        .mcp(
            Some(access),
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "1"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(
        answer["result"]["serverInfo"]["name"], "oauth-fixture",
        "{answer}"
    );
    let answer: Value = client
        .mcp(Some(access), "tools/list", json!({}))
        .await
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = answer["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["whoami", "echo"], "{answer}");
    assert_eq!(client.whoami(access).await, account);
    let answer: Value = client
        .mcp(
            Some(access),
            "tools/call",
            json!({"name": "echo", "arguments": {"message": "hi"}}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(answer["result"]["content"][0]["text"], "hi", "{answer}");
    // Stateless: no GET stream.
    let get = client
        .http
        .get(&client.resource)
        .bearer_auth(access)
        .header(ACCEPT, "text/event-stream")
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    // A token the AS never issued is refused.
    let forged = client
        .mcp(Some("not-a-token"), "tools/list", json!({}))
        .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth_fixture_serves_the_whole_mcp_authorization_flow() {
    if !OAuthFixture::installed() {
        return;
    }
    let fixture = OAuthFixture::start(2)
        .await
        .expect("start the OAuth fixture");
    let client = discover_and_register(&fixture, Registration::Public).await;

    // PKCE is required: without a challenge the AS answers the redirect URI
    // (here the https one) with an error.
    let url = client.authorization_url("https://app.example.com/callback", None, "s");
    let refused = fixture.authorize(&url, "alice").await.expect("redirected");
    let (_, challenge) = pkce();
    assert_eq!(refused.host_str(), Some("app.example.com"), "{refused}");
    assert_eq!(
        query(&refused, "error").as_deref(),
        Some("invalid_request"),
        "{refused}"
    );
    // A redirect URI the client did not register: the AS's error page, in words.
    let url = client.authorization_url("https://elsewhere.example.com/cb", Some(&challenge), "s");
    let unregistered = fixture
        .authorize(&url, "alice")
        .await
        .expect_err("error page");
    assert!(
        unregistered
            .0
            .contains("invalid_redirect_uri: redirect_uri did not match"),
        "{unregistered}"
    );
    // An unknown account is an error that says so.
    let url = client.authorization_url(&client.redirect_uri, Some(&challenge), "s");
    let unknown = fixture
        .authorize(&url, "mallory")
        .await
        .expect_err("no such account");
    assert!(unknown.0.contains("unknown account: mallory"), "{unknown}");

    // The code flow: a Bearer access token bound to the MCP server, and a refresh token.
    let tokens = client.sign_in(&fixture, "alice").await;
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    assert_eq!(tokens["expires_in"], 2, "{tokens}");
    assert_eq!(tokens["scope"], "mcp", "{tokens}");
    let (access, refresh) = (
        field(&tokens, "access_token"),
        field(&tokens, "refresh_token"),
    );

    // The MCP server accepts it (the checks of the MCP server itself are in the
    // next test, whose tokens live long enough for many requests).
    assert_eq!(client.whoami(&access).await, "alice");

    // The access token expires (TTL 2 s): 401 again, invalid_token.
    let mut expired = None;
    for _ in 0..60 {
        let response = client.mcp(Some(&access), "tools/list", json!({})).await;
        if response.status() == StatusCode::UNAUTHORIZED {
            expired = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let expired = expired.expect("the access token expires");
    let header = expired.headers()[WWW_AUTHENTICATE].to_str().expect("ascii");
    assert_eq!(
        challenge_param(header, "error").as_deref(),
        Some("invalid_token"),
        "{header}"
    );
    assert!(header.contains("resource_metadata="), "{header}");

    // Refresh: a new access token and a new refresh token (rotation).
    let (status, renewed) = client.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let (access2, refresh2) = (
        field(&renewed, "access_token"),
        field(&renewed, "refresh_token"),
    );
    assert_ne!(refresh2, refresh);
    assert_eq!(client.whoami(&access2).await, "alice");
    // The used refresh token is refused, and its reuse revokes the grant:
    // the new refresh token and access token die with it.
    let (status, reused) = client.refresh(&refresh).await;
    assert_eq!(
        (status, &reused["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant")),
        "{reused}"
    );
    let (status, after) = client.refresh(&refresh2).await;
    assert_eq!(
        (status, &after["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant")),
        "{after}"
    );
    let response = client.mcp(Some(&access2), "tools/list", json!({})).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The control endpoint revokes every refresh token; access tokens live on.
    let tokens = client.sign_in(&fixture, "bob").await;
    let (access3, refresh3) = (
        field(&tokens, "access_token"),
        field(&tokens, "refresh_token"),
    );
    assert_eq!(fixture.revoke_refresh_tokens().await.expect("revoke"), 1);
    let (status, revoked) = client.refresh(&refresh3).await;
    assert_eq!(
        (status, &revoked["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant")),
        "{revoked}"
    );
    assert_eq!(client.whoami(&access3).await, "bob");

    // RFC 7009: revoking the refresh token makes the next refresh fail.
    let tokens = client.sign_in(&fixture, "alice").await;
    let refresh4 = field(&tokens, "refresh_token");
    let response = client
        .http
        .post(client.endpoint("revocation_endpoint"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("token", refresh4.as_str()),
            ("token_type_hint", "refresh_token"),
            ("client_id", &client.client_id),
        ]))
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), StatusCode::OK);
    let (status, revoked) = client.refresh(&refresh4).await;
    assert_eq!(
        (status, &revoked["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant")),
        "{revoked}"
    );

    // What the fixture counted. Every MCP request above but the polling is
    // known; the polling made at least one 401 (the expiry).
    let stats = fixture.stats().await.expect("stats");
    let expected = Stats {
        registrations: 1,
        authorization_code_grants: 3,
        refresh_token_grants: 1,
        refresh_token_failures: 4,
        revocations: 1,
        mcp_requests: stats.mcp_requests,
        mcp_unauthorized: stats.mcp_unauthorized,
    };
    assert_eq!(stats, expected);
    // Unauthorized: the first request, the expiry, access2.
    assert_eq!(stats.mcp_unauthorized, 3, "{stats:?}");
    // The first request, whoami, the polls (1 at least), whoami, access2, whoami.
    assert!(stats.mcp_requests >= 6, "{stats:?}");
    assert_eq!(
        fixture.reset_stats().await.expect("reset"),
        Stats::default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confidential_client_asking_for_no_scope_gets_tokens_for_the_mcp_server() {
    if !OAuthFixture::installed() {
        return;
    }
    let fixture = OAuthFixture::start(60)
        .await
        .expect("start the OAuth fixture");
    let client = discover_and_register(&fixture, Registration::Confidential).await;

    let tokens = client.sign_in(&fixture, "bob").await;
    assert_eq!(tokens["expires_in"], 60, "{tokens}");
    // No scope asked for: the AS's default scope.
    assert_eq!(tokens["scope"], "mcp", "{tokens}");
    check_mcp_server(&client, &field(&tokens, "access_token"), "bob").await;
    let (status, renewed) = client.refresh(&field(&tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(client.whoami(&field(&renewed, "access_token")).await, "bob");

    // The wrong secret is refused as the client, before the refresh token is looked at.
    let impostor = Client {
        secret: Some("wrong".into()),
        ..client
    };
    let (status, refused) = impostor.refresh(&field(&renewed, "refresh_token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["error"], "invalid_client", "{refused}");
    let stats = fixture.stats().await.expect("stats");
    assert_eq!(
        (stats.refresh_token_grants, stats.refresh_token_failures),
        (1, 1),
        "{stats:?}"
    );
}
