//! OAuth 2.1 authorization code for upstream servers (issue 17), against the
//! OAuth fixture: a real authorization server (oidc-provider) protecting a
//! real MCP server (TypeScript SDK), both on 127.0.0.1. The registry
//! discovers the authorization server from the server's 401, registers itself
//! (RFC 7591), builds the authorization URL (PKCE S256, state, resource); the
//! test plays the person with `OAuthFixture::authorize`; the registry
//! exchanges the code, syncs with the token, refreshes it (rotation), needs a
//! new authorization when the refresh token is revoked, revokes it on
//! disconnect, and shares one refresh between two replicas.

use std::collections::HashMap;
use std::time::Duration;

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use serde_json::json;
use tonic::Code;
use url::Url;

use crate::helpers::{Auth, Options, Org, TestApp, assert_error, server, violated_fields};
use crate::oauth::{OAuthFixture, Stats};

/// The redirect URI the deployment allows (never contacted: the fixture's
/// `authorize` stops at the redirect).
const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";

/// Loopback upstreams, the gateway, and one allowed redirect URI.
fn options() -> Options {
    Options {
        gateway: true,
        oauth_redirect_uris: vec![REDIRECT.into(), "https://app.example.com/callback".into()],
        ..crate::helpers::loopback()
    }
}

/// [`options`] with started authorizations expiring after one second.
fn short_states() -> Options {
    Options {
        oauth_state_ttl: Some(Duration::from_secs(1)),
        ..options()
    }
}

/// [`options`] with the metrics listener.
fn with_metrics() -> Options {
    Options {
        metrics: true,
        ..options()
    }
}

/// The fixture with access tokens living `ttl` seconds, or `None` when its
/// packages are missing outside CI.
async fn fixture(ttl: u64) -> Option<OAuthFixture> {
    if !OAuthFixture::installed() {
        return None;
    }
    Some(
        OAuthFixture::start(ttl)
            .await
            .expect("the OAuth fixture starts"),
    )
}

/// Authorization-code credentials, everything discovered.
fn discovered_credentials() -> Option<pb::Credentials> {
    Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::Oauth2AuthorizationCode(
            pb::OAuth2AuthorizationCode::default(),
        )),
    })
}

/// A server at the fixture's MCP endpoint that authorizes with OAuth.
async fn protected(app: &TestApp, auth: &Auth, name: &str, fixture: &OAuthFixture) -> String {
    let mut input = server(name);
    input.url = fixture.mcp_url.clone();
    input.credentials = discovered_credentials();
    app.create_server(auth, input).await.id
}

async fn start(
    app: &TestApp,
    auth: &Auth,
    server_id: &str,
) -> Result<pb::StartOAuthAuthorizationResponse, tonic::Status> {
    app.oauth_as(auth)
        .start_o_auth_authorization(pb::StartOAuthAuthorizationRequest {
            server_id: server_id.into(),
            redirect_uri: REDIRECT.into(),
            scopes: Vec::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn complete(
    app: &TestApp,
    auth: &Auth,
    state: &str,
    code: &str,
) -> Result<pb::OAuthConnection, tonic::Status> {
    app.oauth_as(auth)
        .complete_o_auth_authorization(pb::CompleteOAuthAuthorizationRequest {
            state: state.into(),
            code: code.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn connection(app: &TestApp, auth: &Auth, server_id: &str) -> pb::OAuthConnection {
    app.oauth_as(auth)
        .get_o_auth_connection(pb::GetOAuthConnectionRequest {
            server_id: server_id.into(),
        })
        .await
        .expect("get connection")
        .into_inner()
}

fn audit(
    app: &TestApp,
    auth: &Auth,
) -> pb::audit_service_client::AuditServiceClient<crate::helpers::Authed> {
    pb::audit_service_client::AuditServiceClient::with_interceptor(
        app.channel.clone(),
        auth.clone(),
    )
}

/// The query parameters of a URL.
fn params(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// The person authorizes `server_id` as `account`: start, sign in and
/// consent at the fixture, and the `code` and `state` the redirect carries.
async fn authorize(
    app: &TestApp,
    auth: &Auth,
    fixture: &OAuthFixture,
    server_id: &str,
    account: &str,
) -> (String, String) {
    let started = start(app, auth, server_id).await.expect("start");
    let redirect = fixture
        .authorize(&started.authorization_url, account)
        .await
        .expect("the person authorizes");
    let back = params(&redirect);
    assert_eq!(back.get("state"), Some(&started.state), "{redirect}");
    let code = back
        .get("code")
        .unwrap_or_else(|| panic!("no code in {redirect}"));
    (started.state, code.clone())
}

/// Authorizes `server_id` as `account` and completes it.
async fn connect(
    app: &TestApp,
    auth: &Auth,
    fixture: &OAuthFixture,
    server_id: &str,
    account: &str,
) -> pb::OAuthConnection {
    let (state, code) = authorize(app, auth, fixture, server_id, account).await;
    complete(app, auth, &state, &code).await.expect("complete")
}

async fn stats(fixture: &OAuthFixture) -> Stats {
    fixture.stats().await.expect("fixture stats")
}

async fn get_server(app: &TestApp, auth: &Auth, id: &str) -> pb::McpServer {
    app.servers_as(auth)
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Id(id.into())),
        })
        .await
        .expect("get server")
        .into_inner()
}

/// Calls tool `name` of the pack's only server through the gateway.
async fn call_tool(app: &TestApp, auth: &Auth, pack_id: &str, name: &str) -> serde_json::Value {
    call_tool_for(app, auth, None, pack_id, name).await
}

/// [`call_tool`] acting for the end user `subject`, when given.
async fn call_tool_for(
    app: &TestApp,
    auth: &Auth,
    subject: Option<&str>,
    pack_id: &str,
    name: &str,
) -> serde_json::Value {
    let url = crate::gateway::endpoint(app, pack_id);
    let message = crate::gateway::request(
        "tools/call",
        json!({"name": format!("upstream__{name}"), "arguments": {"message": "hi"}}),
    );
    let headers: Vec<(&str, &[u8])> = subject
        .map(|s| ("x-mcp-registry-subject", s.as_bytes()))
        .into_iter()
        .collect();
    let (status, _, body) = crate::gateway::call_with(&url, auth, &headers, message).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn a_server_is_connected_by_discovery_registration_and_code_then_syncs(app: TestApp) {
    let Some(fixture) = fixture(300).await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let id = protected(&app, &org.member, "upstream", &fixture).await;
    let before = connection(&app, &org.viewer, &id).await;
    assert_eq!(before.status(), pb::ConnectionStatus::NotConnected);

    // Without a connection a sync cannot authenticate: the server is ERROR
    // with the reason a person acts on.
    let refused = app.try_sync(&org.member, &id).await;
    let status = assert_error(refused, Code::FailedPrecondition, "UPSTREAM_AUTH_REQUIRED");
    assert!(
        status.message().contains("StartOAuthAuthorization"),
        "{status:?}"
    );
    let failed = get_server(&app, &org.member, &id).await;
    assert_eq!(failed.status(), pb::ServerStatus::Error);
    let error = failed.last_error.expect("last error");
    assert_eq!(error.reason(), pb::ErrorReason::UpstreamAuthRequired);

    // Start: discovery from the 401, one registration, the request's shape.
    let started = start(&app, &org.member, &id).await.expect("start");
    let url = Url::parse(&started.authorization_url).expect("authorization url");
    assert!(
        started.authorization_url.starts_with(&fixture.issuer),
        "{url} is the fixture's authorization endpoint"
    );
    let query = params(&url);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43, "{query:?}");
    assert_eq!(query["state"], started.state);
    assert!(started.state.len() >= 22, "128 bits or more");
    assert_eq!(query["resource"], fixture.mcp_url);
    assert_eq!(query["redirect_uri"], REDIRECT);
    assert_eq!(query["scope"], "mcp");
    assert!(!query["client_id"].is_empty());
    let expires = started.expire_time.expect("expire time").seconds;
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now + 590..=now + 610).contains(&expires),
        "{expires} vs {now}"
    );
    assert_eq!(stats(&fixture).await.registrations, 1);

    let redirect = fixture
        .authorize(&started.authorization_url, "alice")
        .await
        .expect("authorize");
    let code = params(&redirect)["code"].clone();
    let connected = complete(&app, &org.member, &started.state, &code)
        .await
        .expect("complete");
    assert_eq!(connected.status(), pb::ConnectionStatus::Connected);
    assert_eq!(connected.server_id, id);
    assert_eq!(connected.issuer.trim_end_matches('/'), fixture.issuer);
    assert_eq!(connected.connected_by, org.member.key_id());
    assert_eq!(connected.subject, "");
    assert_eq!(connected.scopes, ["mcp"]);
    assert!(connected.expire_time.is_some() && connected.connect_time.is_some());
    assert_eq!(stats(&fixture).await.authorization_code_grants, 1);

    // The token works: the sync lists the fixture's tools, and a gateway call
    // answers as the account that authorized.
    let run = app.sync(&org.member, &id).await;
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{run:?}");
    let synced = get_server(&app, &org.member, &id).await;
    assert_eq!(synced.status(), pb::ServerStatus::Connected);
    assert_eq!(synced.tool_count, 2);
    let pack = app
        .packs_as(&org.member)
        .create_pack(crate::gateway::dev_pack("oauth", id.clone()))
        .await
        .expect("pack")
        .into_inner();
    let answer = call_tool(&app, &org.member, &pack.id, "whoami").await;
    assert_eq!(answer["result"]["content"][0]["text"], "alice", "{answer}");
    assert_eq!(
        connection(&app, &org.viewer, &id).await.status(),
        pb::ConnectionStatus::Connected
    );

    // Another authorization reuses the registered client.
    start(&app, &org.admin, &id).await.expect("start again");
    assert_eq!(stats(&fixture).await.registrations, 1);
    // The trail names each step, never a secret.
    let events = audit(&app, &org.admin)
        .list_audit_events(pb::ListAuditEventsRequest {
            resource_type: pb::AuditResourceType::McpServer.into(),
            resource_id: id.clone(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .events;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for action in ["mcp_server.oauth_start", "mcp_server.oauth_connect"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
    // No answer carries a token, a code or the client's secret.
    let issued = fixture.issued_secrets().await.expect("issued secrets");
    assert!(!issued.access_tokens.is_empty() && !issued.refresh_tokens.is_empty());
    let answers = format!(
        "{events:?} {connected:?} {run:?} {:?} {:?}",
        get_server(&app, &org.admin, &id).await,
        connection(&app, &org.admin, &id).await,
    );
    assert!(!answers.contains(&started.state));
    for (kind, value) in issued.all() {
        assert!(!answers.contains(&value), "an answer carries an {kind}");
    }
}

async fn the_access_token_is_refreshed_before_it_expires_and_rotation_is_honoured(app: TestApp) {
    // Four-second tokens: refreshed when less than a third of their life is left.
    let Some(fixture) = fixture(4).await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let id = protected(&app, &org.admin, "upstream", &fixture).await;
    connect(&app, &org.admin, &fixture, &id, "alice").await;
    let run = app.sync(&org.admin, &id).await;
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded);
    assert_eq!(stats(&fixture).await.refresh_token_grants, 0);
    for round in 1..=2 {
        tokio::time::sleep(Duration::from_millis(3200)).await;
        let run = app.sync(&org.admin, &id).await;
        assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "round {round}");
        let counted = stats(&fixture).await;
        // Rotation: the fixture refuses a refresh token used twice (and
        // revokes the grant), so a second refresh succeeds only with the
        // token the first one returned.
        assert_eq!(counted.refresh_token_grants, round, "{counted:?}");
        assert_eq!(counted.refresh_token_failures, 0, "{counted:?}");
    }
    let refreshed = connection(&app, &org.admin, &id).await;
    assert_eq!(refreshed.status(), pb::ConnectionStatus::Connected);
    assert!(refreshed.refresh_time.is_some());
    // A fresh token is not refreshed again.
    app.sync(&org.admin, &id).await;
    assert_eq!(stats(&fixture).await.refresh_token_grants, 2);
    let metrics = scrape(&app).await;
    assert!(
        metrics.contains("mcp_registry_oauth_token_refreshes_total{outcome=\"succeeded\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("mcp_registry_oauth_authorizations_total{outcome=\"completed\"}"));
}

async fn a_refused_access_token_is_refreshed_once_and_the_request_retried(app: TestApp) {
    let Some(fixture) = fixture(300).await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let id = protected(&app, &org.admin, "upstream", &fixture).await;
    connect(&app, &org.admin, &fixture, &id, "alice").await;
    let pack = app
        .packs_as(&org.admin)
        .create_pack(crate::gateway::dev_pack("oauth", id.clone()))
        .await
        .expect("pack")
        .into_inner();
    assert_eq!(
        app.sync(&org.admin, &id).await.outcome(),
        pb::SyncOutcome::Succeeded
    );
    let answer = call_tool(&app, &org.admin, &pack.id, "whoami").await;
    assert_eq!(answer["result"]["content"][0]["text"], "alice", "{answer}");

    // The token is revoked long before it expires: the server answers 401,
    // the sync refreshes once and goes on.
    assert!(fixture.revoke_access_tokens().await.expect("revoke") >= 1);
    fixture.reset_stats().await.expect("reset");
    let run = app.sync(&org.admin, &id).await;
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded, "{run:?}");
    let counted = stats(&fixture).await;
    assert_eq!(counted.refresh_token_grants, 1, "{counted:?}");
    assert!(counted.mcp_unauthorized >= 1, "{counted:?}");

    // So does a gateway call on its pooled session.
    assert!(fixture.revoke_access_tokens().await.expect("revoke") >= 1);
    let answer = call_tool(&app, &org.admin, &pack.id, "whoami").await;
    assert_eq!(answer["result"]["content"][0]["text"], "alice", "{answer}");
    let counted = stats(&fixture).await;
    assert_eq!(counted.refresh_token_grants, 2, "{counted:?}");
    assert_eq!(counted.refresh_token_failures, 0, "{counted:?}");
}

async fn scrape(app: &TestApp) -> String {
    let addr = app.metrics_addr.expect("metrics listener");
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body")
}

async fn a_revoked_refresh_token_needs_a_new_authorization_which_repairs_the_server(app: TestApp) {
    let Some(fixture) = fixture(2).await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let id = protected(&app, &org.admin, "upstream", &fixture).await;
    connect(&app, &org.admin, &fixture, &id, "alice").await;
    assert_eq!(
        app.sync(&org.admin, &id).await.outcome(),
        pb::SyncOutcome::Succeeded
    );
    assert!(fixture.revoke_refresh_tokens().await.expect("revoke") >= 1);
    tokio::time::sleep(Duration::from_millis(2200)).await;

    let refused = app.try_sync(&org.admin, &id).await;
    let status = assert_error(refused, Code::FailedPrecondition, "UPSTREAM_AUTH_REQUIRED");
    assert!(
        status.message().contains("StartOAuthAuthorization"),
        "{status:?}"
    );
    let failed = get_server(&app, &org.admin, &id).await;
    assert_eq!(failed.status(), pb::ServerStatus::Error);
    let error = failed.last_error.expect("last error");
    assert_eq!(error.reason(), pb::ErrorReason::UpstreamAuthRequired);
    assert!(error.message.contains("invalid_grant"), "{}", error.message);
    let state = connection(&app, &org.viewer, &id).await;
    assert_eq!(
        state.status(),
        pb::ConnectionStatus::ReauthorizationRequired
    );
    assert!(state.reason.contains("invalid_grant"), "{}", state.reason);
    // Nothing more is asked of the authorization server until someone acts.
    let before = stats(&fixture).await;
    let again = app.try_sync(&org.admin, &id).await;
    assert_error(again, Code::FailedPrecondition, "UPSTREAM_AUTH_REQUIRED");
    assert_eq!(
        stats(&fixture).await.refresh_token_failures,
        before.refresh_token_failures
    );
    let events = audit(&app, &org.admin)
        .list_audit_events(pb::ListAuditEventsRequest {
            action: "mcp_server.oauth_refresh_failed".into(),
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .events;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].actor, "system");

    // Authorizing again repairs it.
    let repaired = connect(&app, &org.admin, &fixture, &id, "bob").await;
    assert_eq!(repaired.status(), pb::ConnectionStatus::Connected);
    assert_eq!(repaired.reason, "");
    let run = app.sync(&org.admin, &id).await;
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded);
    assert_eq!(
        get_server(&app, &org.admin, &id).await.status(),
        pb::ServerStatus::Connected
    );
}

async fn replayed_expired_unknown_and_foreign_states_are_refused(app: TestApp) {
    let Some(fixture) = fixture(300).await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let a = protected(&app, &org.admin, "upstream", &fixture).await;
    let b = protected(&app, &org.admin, "other", &fixture).await;

    // A state is used once.
    let (state, code) = authorize(&app, &org.admin, &fixture, &a, "alice").await;
    complete(&app, &org.admin, &state, &code)
        .await
        .expect("complete");
    let replayed = complete(&app, &org.admin, &state, &code).await;
    let status = assert_error(replayed, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["state"]);
    let unknown = complete(&app, &org.admin, "made-up-state", "code").await;
    let status = assert_error(unknown, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["state"]);
    let empty = complete(&app, &org.admin, "", "").await;
    let status = assert_error(empty, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["state", "code"]);

    // A code issued for another server's authorization: the authorization
    // server refuses it (invalid_grant), and the state is used up.
    let (state_a, _) = authorize(&app, &org.admin, &fixture, &a, "alice").await;
    let (_, code_b) = authorize(&app, &org.admin, &fixture, &b, "alice").await;
    let crossed = complete(&app, &org.admin, &state_a, &code_b).await;
    let status = assert_error(crossed, Code::FailedPrecondition, "UPSTREAM_AUTH_FAILED");
    assert!(status.message().contains("invalid_grant"), "{status:?}");
    let again = complete(&app, &org.admin, &state_a, &code_b).await;
    assert_error(again, Code::InvalidArgument, "INVALID_ARGUMENT");

    // Another organization's state is unknown to it.
    let other = app.org("globex", Plan::Pro).await;
    let (state, code) = authorize(&app, &org.admin, &fixture, &b, "alice").await;
    let foreign = complete(&app, &other.admin, &state, &code).await;
    let status = assert_error(foreign, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["state"]);
    complete(&app, &org.admin, &state, &code)
        .await
        .expect("its own organization completes it");
}

async fn an_expired_state_is_refused(app: TestApp) {
    let Some(fixture) = fixture(300).await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let id = protected(&app, &org.admin, "upstream", &fixture).await;
    let (state, code) = authorize(&app, &org.admin, &fixture, &id, "alice").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let expired = complete(&app, &org.admin, &state, &code).await;
    let status = assert_error(expired, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["state"]);
    assert!(status.message().contains("expired"), "{status:?}");
    assert_eq!(stats(&fixture).await.authorization_code_grants, 0);
}

async fn expired_authorizations_are_pruned(app: TestApp) {
    let Some(fixture) = fixture(300).await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let id = protected(&app, &org.admin, "upstream", &fixture).await;
    let first = start(&app, &org.admin, &id).await.expect("start");
    start(&app, &org.admin, &id).await.expect("start");
    let now = mcp_registry::registry::now_micros();
    assert_eq!(
        app.store.prune_oauth_states(now, 100).await.expect("prune"),
        0
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let now = mcp_registry::registry::now_micros();
    assert_eq!(
        app.store.prune_oauth_states(now, 1).await.expect("prune"),
        1
    );
    assert_eq!(
        app.store.prune_oauth_states(now, 100).await.expect("prune"),
        1
    );
    let gone = complete(&app, &org.admin, &first.state, "code").await;
    let status = assert_error(gone, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert!(status.message().contains("unknown"), "{status:?}");
}

async fn starting_is_refused_for_bad_input_other_servers_and_weaker_keys(app: TestApp) {
    let Some(fixture) = fixture(300).await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let id = protected(&app, &org.member, "upstream", &fixture).await;
    let mut oauth = app.oauth_as(&org.admin);
    let request = |server_id: &str, redirect_uri: &str| pb::StartOAuthAuthorizationRequest {
        server_id: server_id.into(),
        redirect_uri: redirect_uri.into(),
        scopes: Vec::new(),
    };
    // A redirect URI must be exactly one the deployment allows.
    for uri in [
        "http://127.0.0.1:9/oauth/callback/",
        "https://evil.example.com/callback",
        "http://127.0.0.1:9/oauth/callback?x=1",
    ] {
        let refused = oauth.start_o_auth_authorization(request(&id, uri)).await;
        let status = assert_error(refused, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(violated_fields(&status), ["redirect_uri"], "{uri}");
    }
    let refused = oauth
        .start_o_auth_authorization(pb::StartOAuthAuthorizationRequest {
            server_id: "nope".into(),
            redirect_uri: String::new(),
            scopes: vec!["two words".into()],
        })
        .await;
    let status = assert_error(refused, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        ["server_id", "redirect_uri", "scopes"]
    );
    assert_eq!(
        stats(&fixture).await,
        Stats::default(),
        "nothing was asked upstream"
    );

    // Another organization's server is not found, whatever the call.
    let other = app.org("globex", Plan::Pro).await;
    let theirs = app.oauth_as(&other.admin);
    let missing = theirs
        .clone()
        .start_o_auth_authorization(request(&id, REDIRECT))
        .await;
    assert_error(missing, Code::NotFound, "NOT_FOUND");
    let missing = theirs
        .clone()
        .get_o_auth_connection(pb::GetOAuthConnectionRequest {
            server_id: id.clone(),
        })
        .await;
    assert_error(missing, Code::NotFound, "NOT_FOUND");
    let missing = theirs
        .clone()
        .delete_o_auth_connection(pb::DeleteOAuthConnectionRequest {
            server_id: id.clone(),
        })
        .await;
    assert_error(missing, Code::NotFound, "NOT_FOUND");

    // Viewers read only; a MEMBER connects only the servers it owns.
    let viewer = start(&app, &org.viewer, &id).await;
    assert_error(viewer, Code::PermissionDenied, "PERMISSION_DENIED");
    let not_owner = start(&app, &org.member2, &id).await;
    assert_error(not_owner, Code::PermissionDenied, "PERMISSION_DENIED");
    start(&app, &org.member, &id)
        .await
        .expect("the owner starts");

    // Every URL of the flow passes the SSRF guard: an issuer at the cloud
    // metadata address is refused before any connection, whatever the flags.
    let mut guarded = server("guarded");
    guarded.credentials = Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::Oauth2AuthorizationCode(
            pb::OAuth2AuthorizationCode {
                issuer: "http://169.254.169.254/".into(),
                ..Default::default()
            },
        )),
    });
    let guarded = app.create_server(&org.admin, guarded).await.id;
    let refused = start(&app, &org.admin, &guarded).await;
    let status = assert_error(refused, Code::Unavailable, "UPSTREAM_UNREACHABLE");
    assert!(status.message().contains("SSRF guard"), "{status:?}");

    // A server with another auth type has no OAuth connection.
    let plain = app.create_server(&org.admin, server("plain")).await.id;
    let refused = start(&app, &org.admin, &plain).await;
    assert_error(refused, Code::FailedPrecondition, "FAILED_PRECONDITION");
    let refused = app
        .oauth_as(&org.viewer)
        .get_o_auth_connection(pb::GetOAuthConnectionRequest { server_id: plain })
        .await;
    assert_error(refused, Code::FailedPrecondition, "FAILED_PRECONDITION");
}

async fn disconnecting_revokes_at_the_authorization_server(app: TestApp) {
    let Some(fixture) = fixture(300).await else {
        return;
    };
    let org: Org = app.org("acme", Plan::Pro).await;
    let id = protected(&app, &org.admin, "upstream", &fixture).await;
    connect(&app, &org.admin, &fixture, &id, "alice").await;
    let delete = || async {
        app.oauth_as(&org.admin)
            .delete_o_auth_connection(pb::DeleteOAuthConnectionRequest {
                server_id: id.clone(),
            })
            .await
    };
    delete().await.expect("delete");
    assert_eq!(stats(&fixture).await.revocations, 1);
    assert_eq!(
        connection(&app, &org.viewer, &id).await.status(),
        pb::ConnectionStatus::NotConnected
    );
    assert_error(delete().await, Code::NotFound, "NOT_FOUND");
    let refused = app.try_sync(&org.admin, &id).await;
    assert_error(refused, Code::FailedPrecondition, "UPSTREAM_AUTH_REQUIRED");
    let events = audit(&app, &org.admin)
        .list_audit_events(pb::ListAuditEventsRequest {
            action: "mcp_server.oauth_disconnect".into(),
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .events;
    assert_eq!(events.len(), 1);
    let revoked = events[0]
        .changes
        .iter()
        .find(|c| c.field == "oauth_connection.revoked")
        .expect("revoked change");
    assert_eq!(
        revoked.new_value.as_ref().and_then(|v| v.kind.clone()),
        Some(prost_types::value::Kind::BoolValue(true))
    );
}

crate::on_both_backends_with!(super::options();
    a_server_is_connected_by_discovery_registration_and_code_then_syncs,
    a_revoked_refresh_token_needs_a_new_authorization_which_repairs_the_server,
    replayed_expired_unknown_and_foreign_states_are_refused,
    starting_is_refused_for_bad_input_other_servers_and_weaker_keys,
    disconnecting_revokes_at_the_authorization_server,
    a_refused_access_token_is_refreshed_once_and_the_request_retried,
    per_subject_connections_belong_to_the_subject_that_made_them,
    the_gateway_calls_a_per_subject_server_with_the_calling_users_own_token,
    an_organization_server_through_the_gateway_ignores_the_subject,
);

/// A key's credentials with the end user it acts for.
#[derive(Clone, Debug)]
struct Acting {
    auth: Auth,
    subject: &'static str,
}

impl tonic::service::Interceptor for Acting {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let mut request = self.auth.call(request)?;
        let value = self.subject.parse().expect("a metadata value");
        request
            .metadata_mut()
            .insert("x-mcp-registry-subject", value);
        Ok(request)
    }
}

fn oauth_acting(
    app: &TestApp,
    auth: &Auth,
    subject: &'static str,
) -> pb::o_auth_service_client::OAuthServiceClient<
    tonic::codegen::InterceptedService<tonic::transport::Channel, Acting>,
> {
    let acting = Acting {
        auth: auth.clone(),
        subject,
    };
    pb::o_auth_service_client::OAuthServiceClient::with_interceptor(app.channel.clone(), acting)
}

async fn per_subject_connections_belong_to_the_subject_that_made_them(app: TestApp) {
    let Some(fixture) = fixture(300).await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let service = app
        .admin()
        .create_api_key(pb::CreateApiKeyRequest {
            api_key: Some(pb::ApiKey {
                organization_id: org.id.clone(),
                role: pb::Role::Member as i32,
                acts_for_users: true,
                ..Default::default()
            }),
        })
        .await
        .expect("service key")
        .into_inner();
    let service = Auth::Pair(service.id, service.secret);
    let mut input = server("upstream");
    input.url = fixture.mcp_url.clone();
    input.credentials = Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::Oauth2AuthorizationCode(
            pb::OAuth2AuthorizationCode {
                token_scope: pb::TokenScope::Subject.into(),
                ..Default::default()
            },
        )),
    });
    let id = app.create_server(&org.admin, input).await.id;
    let start_request = || pb::StartOAuthAuthorizationRequest {
        server_id: id.clone(),
        redirect_uri: REDIRECT.into(),
        scopes: Vec::new(),
    };
    // Without a subject there is nobody to connect.
    let refused = start(&app, &org.admin, &id).await;
    assert_error(refused, Code::FailedPrecondition, "FAILED_PRECONDITION");

    // Each end user connects their own account through the service key,
    // which does not own the server.
    let mut connected = Vec::new();
    for (subject, account) in [("alice@example.com", "alice"), ("bob@example.com", "bob")] {
        let mut oauth = oauth_acting(&app, &service, subject);
        let started = oauth
            .start_o_auth_authorization(start_request())
            .await
            .expect("start")
            .into_inner();
        let redirect = fixture
            .authorize(&started.authorization_url, account)
            .await
            .expect("authorize");
        let code = params(&redirect)["code"].clone();
        if subject == "bob@example.com" {
            // Another subject cannot complete it.
            let stolen = oauth_acting(&app, &service, "mallory@example.com")
                .complete_o_auth_authorization(pb::CompleteOAuthAuthorizationRequest {
                    state: started.state.clone(),
                    code: code.clone(),
                })
                .await;
            assert_error(stolen, Code::PermissionDenied, "PERMISSION_DENIED");
            // The state was used up: Bob starts again.
            let started = oauth
                .start_o_auth_authorization(start_request())
                .await
                .expect("start")
                .into_inner();
            let redirect = fixture
                .authorize(&started.authorization_url, account)
                .await
                .expect("authorize");
            let done = oauth
                .complete_o_auth_authorization(pb::CompleteOAuthAuthorizationRequest {
                    state: started.state,
                    code: params(&redirect)["code"].clone(),
                })
                .await
                .expect("complete")
                .into_inner();
            connected.push(done);
            continue;
        }
        let done = oauth
            .complete_o_auth_authorization(pb::CompleteOAuthAuthorizationRequest {
                state: started.state,
                code,
            })
            .await
            .expect("complete")
            .into_inner();
        connected.push(done);
    }
    assert_eq!(connected[0].subject, "alice@example.com");
    assert_eq!(connected[1].subject, "bob@example.com");
    let get = pb::GetOAuthConnectionRequest {
        server_id: id.clone(),
    };
    let carol = oauth_acting(&app, &service, "carol@example.com")
        .get_o_auth_connection(get.clone())
        .await
        .expect("get")
        .into_inner();
    assert_eq!(carol.status(), pb::ConnectionStatus::NotConnected);
    let alice = oauth_acting(&app, &service, "alice@example.com")
        .get_o_auth_connection(get.clone())
        .await
        .expect("get")
        .into_inner();
    assert_eq!(alice.subject, "alice@example.com");
    // Syncs use the subject that connected last (the gateway the caller's:
    // the_gateway_calls_a_per_subject_server_with_the_calling_users_own_token).
    let in_use = connection(&app, &org.viewer, &id).await;
    assert_eq!(in_use.subject, "bob@example.com");
    let run = app.sync(&org.admin, &id).await;
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded);
}

/// A MEMBER service key of `org`.
async fn service_key(app: &TestApp, org: &Org) -> Auth {
    crate::subjects::service_key(app, &org.id, pb::Role::Member).await
}

/// A server at the fixture that keeps one connection per end user.
async fn per_subject(app: &TestApp, auth: &Auth, fixture: &OAuthFixture) -> String {
    let mut input = server("upstream");
    input.url = fixture.mcp_url.clone();
    input.credentials = Some(pb::Credentials {
        kind: Some(pb::credentials::Kind::Oauth2AuthorizationCode(
            pb::OAuth2AuthorizationCode {
                token_scope: pb::TokenScope::Subject.into(),
                ..Default::default()
            },
        )),
    });
    app.create_server(auth, input).await.id
}

/// End user `subject` connects `server_id` as `account`, through `service`.
async fn connect_subject(
    app: &TestApp,
    service: &Auth,
    fixture: &OAuthFixture,
    server_id: &str,
    subject: &'static str,
    account: &str,
) -> pb::OAuthConnection {
    let mut oauth = oauth_acting(app, service, subject);
    let started = oauth
        .start_o_auth_authorization(pb::StartOAuthAuthorizationRequest {
            server_id: server_id.into(),
            redirect_uri: REDIRECT.into(),
            scopes: Vec::new(),
        })
        .await
        .expect("start")
        .into_inner();
    let redirect = fixture
        .authorize(&started.authorization_url, account)
        .await
        .expect("authorize");
    oauth
        .complete_o_auth_authorization(pb::CompleteOAuthAuthorizationRequest {
            state: started.state,
            code: params(&redirect)["code"].clone(),
        })
        .await
        .expect("complete")
        .into_inner()
}

/// `subject`'s own connection to `server_id`, as GetOAuthConnection shows it.
async fn connection_of(
    app: &TestApp,
    service: &Auth,
    subject: &'static str,
    server_id: &str,
) -> pb::OAuthConnection {
    oauth_acting(app, service, subject)
        .get_o_auth_connection(pb::GetOAuthConnectionRequest {
            server_id: server_id.into(),
        })
        .await
        .expect("get connection")
        .into_inner()
}

/// The text of a tool result, and whether it is an error.
fn said(answer: &serde_json::Value) -> (String, bool) {
    let text = answer["result"]["content"][0]["text"].as_str();
    let failed = answer["result"]["isError"] == true;
    (text.unwrap_or_default().to_owned(), failed)
}

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

async fn the_gateway_calls_a_per_subject_server_with_the_calling_users_own_token(app: TestApp) {
    let Some(fixture) = fixture(300).await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let service = service_key(&app, &org).await;
    let id = per_subject(&app, &org.admin, &fixture).await;
    connect_subject(&app, &service, &fixture, &id, ALICE, "alice").await;
    connect_subject(&app, &service, &fixture, &id, BOB, "bob").await;
    let run = app.sync(&org.admin, &id).await;
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded);
    let pack = app
        .packs_as(&org.admin)
        .create_pack(crate::gateway::dev_pack("oauth", id.clone()))
        .await
        .expect("pack")
        .into_inner();
    let whoami = |subject: Option<&'static str>| {
        let (app, service, pack) = (&app, &service, &pack.id);
        async move { said(&call_tool_for(app, service, subject, pack, "whoami").await) }
    };
    // Each user's call goes with that user's token, alternately too: the
    // pooled sessions are per user.
    for subject in [ALICE, BOB, ALICE, BOB, BOB, ALICE] {
        let account = subject.split('@').next().unwrap_or_default();
        assert_eq!(whoami(Some(subject)).await, (account.to_owned(), false));
    }
    // Each user keeps their session: alternating calls open none again.
    fixture.reset_stats().await.expect("reset");
    for subject in [ALICE, BOB, ALICE, BOB] {
        assert!(!whoami(Some(subject)).await.1);
    }
    assert_eq!(
        stats(&fixture).await.mcp_requests,
        4,
        "one request per call"
    );

    // Without a subject, or for a user who has not connected, the call fails
    // naming UPSTREAM_AUTH_REQUIRED and what to do; never another's token.
    let nobody = [
        call_tool_for(&app, &service, None, &pack.id, "whoami").await,
        call_tool(&app, &org.admin, &pack.id, "whoami").await,
    ];
    for answer in nobody {
        let (text, failed) = said(&answer);
        assert!(failed, "{answer}");
        assert!(text.contains("UPSTREAM_AUTH_REQUIRED"), "{text}");
        assert!(text.contains("x-mcp-registry-subject"), "{text}");
        assert!(text.contains("StartOAuthAuthorization"), "{text}");
    }
    let (text, failed) = whoami(Some("carol@example.com")).await;
    assert!(failed, "{text}");
    assert!(text.contains("UPSTREAM_AUTH_REQUIRED"), "{text}");
    assert!(
        text.contains("\"carol@example.com\" has not connected"),
        "{text}"
    );
    assert!(text.contains("StartOAuthAuthorization"), "{text}");
    // A key that does not act for users may not name one.
    let url = crate::gateway::endpoint(&app, &pack.id);
    let message = crate::gateway::request("tools/call", json!({"name": "upstream__whoami"}));
    let headers = [("x-mcp-registry-subject", ALICE.as_bytes())];
    let (status, _, body) = crate::gateway::call_with(&url, &org.admin, &headers, message).await;
    assert_eq!(status, 403, "{body}");

    // A refused token is refreshed for its own user only.
    assert!(fixture.revoke_access_tokens().await.expect("revoke") >= 2);
    fixture.reset_stats().await.expect("reset");
    assert_eq!(whoami(Some(ALICE)).await, ("alice".to_owned(), false));
    assert_eq!(stats(&fixture).await.refresh_token_grants, 1);
    assert!(
        connection_of(&app, &service, ALICE, &id)
            .await
            .refresh_time
            .is_some()
    );
    assert!(
        connection_of(&app, &service, BOB, &id)
            .await
            .refresh_time
            .is_none()
    );
    assert_eq!(whoami(Some(BOB)).await, ("bob".to_owned(), false));
    assert_eq!(stats(&fixture).await.refresh_token_grants, 2);

    // A refused refresh needs that user's re-authorization, not the other's.
    assert!(fixture.revoke_refresh_tokens().await.expect("revoke") >= 2);
    assert!(fixture.revoke_access_tokens().await.expect("revoke") >= 2);
    let (text, failed) = whoami(Some(ALICE)).await;
    assert!(failed, "{text}");
    assert!(text.contains("UPSTREAM_AUTH_REQUIRED"), "{text}");
    assert!(text.contains(ALICE), "{text}");
    let alice = connection_of(&app, &service, ALICE, &id).await;
    assert_eq!(
        alice.status(),
        pb::ConnectionStatus::ReauthorizationRequired
    );
    let bob = connection_of(&app, &service, BOB, &id).await;
    assert_eq!(bob.status(), pb::ConnectionStatus::Connected);
    // Alice connects again and is served again; Bob's connection was not used.
    connect_subject(&app, &service, &fixture, &id, ALICE, "alice").await;
    assert_eq!(whoami(Some(ALICE)).await, ("alice".to_owned(), false));
}

async fn an_organization_server_through_the_gateway_ignores_the_subject(app: TestApp) {
    let Some(fixture) = fixture(300).await else {
        return;
    };
    let org = app.org("acme", Plan::Pro).await;
    let service = service_key(&app, &org).await;
    let id = protected(&app, &org.admin, "upstream", &fixture).await;
    connect(&app, &org.admin, &fixture, &id, "alice").await;
    let run = app.sync(&org.admin, &id).await;
    assert_eq!(run.outcome(), pb::SyncOutcome::Succeeded);
    let pack = app
        .packs_as(&org.admin)
        .create_pack(crate::gateway::dev_pack("oauth", id.clone()))
        .await
        .expect("pack")
        .into_inner();
    for subject in [Some(BOB), Some("carol@example.com"), None] {
        let answer = call_tool_for(&app, &service, subject, &pack.id, "whoami").await;
        assert_eq!(said(&answer), ("alice".to_owned(), false), "{subject:?}");
    }
}

crate::on_both_backends_with!(super::short_states();
    an_expired_state_is_refused,
    expired_authorizations_are_pruned,
);

crate::on_both_backends_with!(super::with_metrics();
    the_access_token_is_refreshed_before_it_expires_and_rotation_is_honoured,
);

/// Two replicas on one PostgreSQL database serve gateway calls to one server
/// whose token just expired, all at once: one refresh request reaches the
/// authorization server, every call answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_refreshing_one_token_make_one_refresh_request() {
    use crate::helpers::{Backend, Instance, TestDatabase, org_with_admin_key};
    use mcp_registry::pb::{
        mcp_server_service_client::McpServerServiceClient,
        o_auth_service_client::OAuthServiceClient, pack_service_client::PackServiceClient,
        sync_service_client::SyncServiceClient,
    };
    let Some(fixture) = fixture(3).await else {
        return;
    };
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let master_key = mcp_registry::crypto::Keyring::generate_entry("test").expect("key");
    let a = Instance::start(&database, &master_key, &options()).await;
    let b = Instance::start(&database, &master_key, &options()).await;
    let store = mcp_registry::store::Store::connect(&database.url)
        .await
        .expect("store");
    let (_, auth) = org_with_admin_key(&store, "acme", Plan::Pro).await;
    let mut input = server("upstream");
    input.url = fixture.mcp_url.clone();
    input.credentials = discovered_credentials();
    let id = crate::helpers::create_id(
        &mut McpServerServiceClient::with_interceptor(a.channel.clone(), auth.clone()),
        input,
    )
    .await;
    let mut oauth = OAuthServiceClient::with_interceptor(a.channel.clone(), auth.clone());
    let started = oauth
        .start_o_auth_authorization(pb::StartOAuthAuthorizationRequest {
            server_id: id.clone(),
            redirect_uri: REDIRECT.into(),
            scopes: Vec::new(),
        })
        .await
        .expect("start")
        .into_inner();
    let redirect = fixture
        .authorize(&started.authorization_url, "alice")
        .await
        .expect("authorize");
    // Completed on the other replica: the state is in the database.
    OAuthServiceClient::with_interceptor(b.channel.clone(), auth.clone())
        .complete_o_auth_authorization(pb::CompleteOAuthAuthorizationRequest {
            state: started.state,
            code: params(&redirect)["code"].clone(),
        })
        .await
        .expect("complete");
    SyncServiceClient::with_interceptor(a.channel.clone(), auth.clone())
        .sync_mcp_server(pb::SyncMcpServerRequest {
            id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("sync");
    let pack = PackServiceClient::with_interceptor(a.channel.clone(), auth.clone())
        .create_pack(crate::gateway::dev_pack("oauth", id))
        .await
        .expect("pack")
        .into_inner();
    let url = |instance: &Instance| {
        let addr = instance.gateway_addr.expect("gateway");
        format!("http://{addr}/mcp/packs/{}", pack.id)
    };
    fixture.reset_stats().await.expect("reset");
    // The refresh takes half a second: the replicas' refreshes overlap.
    fixture.delay_token_endpoint(500).await.expect("delay");
    // The token expires; then eight calls on each replica at once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let message = crate::gateway::request(
        "tools/call",
        json!({"name": "upstream__echo", "arguments": {"message": "together"}}),
    );
    let calls: Vec<_> = (0..16)
        .map(|i| {
            let url = url(if i % 2 == 0 { &a } else { &b });
            let auth = auth.clone();
            let message = message.clone();
            tokio::spawn(async move { crate::gateway::call(&url, &auth, message).await })
        })
        .collect();
    for call in calls {
        let (status, _, body) = call.await.expect("call task");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["content"][0]["text"], "together", "{body}");
    }
    let counted = stats(&fixture).await;
    assert_eq!(counted.refresh_token_grants, 1, "{counted:?}");
    assert_eq!(counted.refresh_token_failures, 0, "{counted:?}");
    a.stop().await;
    b.stop().await;
    database.drop_database().await;
}
