//! The OAuth fixture (`tests/fixtures/oauth/server.mjs`) as a child process: a
//! real authorization server (oidc-provider) protecting a real MCP server (the
//! TypeScript SDK), both on 127.0.0.1. [`OAuthFixture::start`] runs it,
//! [`OAuthFixture::authorize`] plays the person at the login and consent pages,
//! and the control endpoints count what happened and revoke refresh tokens.
//!
//! The process needs `MCP_REGISTRY_TEST_OIDC_PROVIDER` and
//! `MCP_REGISTRY_TEST_TS_SDK` (set by `./scripts/test`); it is killed when the
//! fixture is dropped.

use std::collections::BTreeMap;
use std::fmt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

/// The accounts the fixture's login page accepts.
pub const ACCOUNTS: [&str; 2] = ["alice", "bob"];

/// The variables naming what the fixture imports.
const VARIABLES: [(&str, &str); 2] = [
    ("MCP_REGISTRY_TEST_OIDC_PROVIDER", "oidc-provider"),
    ("MCP_REGISTRY_TEST_TS_SDK", "the TypeScript MCP SDK"),
];

/// How many redirects and form posts one [`OAuthFixture::authorize`] follows.
const MAX_STEPS: usize = 16;

/// Why a fixture call failed, in words (the AS's own error text where it gave one).
pub struct OAuthError(pub String);

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Plain text, so that `expect` shows the message as written.
impl fmt::Debug for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OAuthError {}

fn fail<T>(message: impl Into<String>) -> Result<T, OAuthError> {
    Err(OAuthError(message.into()))
}

/// What the fixture counted since it started (or since [`OAuthFixture::reset_stats`]).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// Dynamic client registrations that succeeded.
    pub registrations: u64,
    /// Authorization codes exchanged for tokens.
    pub authorization_code_grants: u64,
    /// Refresh tokens exchanged for tokens.
    pub refresh_token_grants: u64,
    /// Refresh requests refused (used, revoked, unknown or another client's token).
    pub refresh_token_failures: u64,
    /// Revocation requests (RFC 7009) answered 200.
    pub revocations: u64,
    /// HTTP requests to `/mcp`, authorized or not.
    pub mcp_requests: u64,
    /// Requests to `/mcp` answered 401.
    pub mcp_unauthorized: u64,
}

/// What the authorization server issued ([`OAuthFixture::issued_secrets`]).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct IssuedSecrets {
    pub access_tokens: Vec<String>,
    pub refresh_tokens: Vec<String>,
    pub codes: Vec<String>,
    pub client_secrets: Vec<String>,
}

impl IssuedSecrets {
    /// Every value, labelled by kind.
    pub fn all(&self) -> Vec<(&'static str, String)> {
        let kinds = [
            ("oauth access token", &self.access_tokens),
            ("oauth refresh token", &self.refresh_tokens),
            ("oauth authorization code", &self.codes),
            ("oauth client secret", &self.client_secrets),
        ];
        kinds
            .into_iter()
            .flat_map(|(kind, values)| values.iter().map(move |v| (kind, v.clone())))
            .collect()
    }
}

/// The running fixture; the process is killed when this is dropped.
pub struct OAuthFixture {
    /// The authorization server's issuer, `http://127.0.0.1:<A>`.
    pub issuer: String,
    /// The protected MCP endpoint (also the resource), `http://127.0.0.1:<B>/mcp`.
    pub mcp_url: String,
    /// The control endpoints' base, `http://127.0.0.1:<B>/control`.
    pub control_url: String,
    http: reqwest::Client,
    stderr: Arc<Mutex<Vec<String>>>,
    _child: Child,
}

impl OAuthFixture {
    /// Whether the fixture's packages are installed. Outside CI a test without
    /// them is skipped (this says so and returns false); with `CI=true` it
    /// returns true and [`OAuthFixture::start`] names what is missing.
    pub fn installed() -> bool {
        let missing = VARIABLES
            .iter()
            .any(|(var, _)| std::env::var_os(var).is_none());
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        if missing && !ci {
            eprintln!("skipping: the OAuth fixture's packages are not set (./scripts/test sets them)");
        }
        !missing || ci
    }

    /// Starts the fixture with access tokens living `access_token_ttl_secs`
    /// seconds and waits (30 s at most) for the line naming its URLs.
    pub async fn start(access_token_ttl_secs: u64) -> Result<Self, OAuthError> {
        // reqwest is built without a default TLS provider; one test may come first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut command = Command::new("node");
        for (var, what) in VARIABLES {
            match std::env::var(var) {
                Ok(path) if std::path::Path::new(&path).exists() => command.env(var, path),
                _ => {
                    return fail(format!(
                        "the OAuth fixture needs {what}: {var} is not set or names no folder \
                         (run ./scripts/test, which installs it and sets the variable)"
                    ));
                }
            };
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oauth/server.mjs");
        let mut child = command
            .arg(script)
            .arg(access_token_ttl_secs.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| OAuthError(format!("cannot run node for the OAuth fixture: {e}")))?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(pipe) = child.stderr.take() {
            let kept = stderr.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut kept) = kept.lock() {
                        kept.push(line);
                    }
                }
            });
        }
        let Some(stdout) = child.stdout.take() else {
            return fail("the OAuth fixture has no stdout");
        };
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        // Nothing more is printed, but the pipe is drained all the same.
        let first = match first {
            Ok(Ok(Some(line))) => line,
            outcome => {
                // Give the stderr reader a moment to collect the cause.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let log = stderr.lock().map(|l| l.join("\n")).unwrap_or_default();
                return fail(format!(
                    "the OAuth fixture did not start ({}):\n{log}",
                    match outcome {
                        Err(_) => "no line within 30 s".to_owned(),
                        Ok(Err(e)) => format!("reading its output: {e}"),
                        Ok(Ok(None)) => "it exited".to_owned(),
                        Ok(Ok(Some(_))) => String::new(),
                    }
                ));
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        #[derive(Deserialize)]
        struct Started {
            issuer: String,
            mcp: String,
            control: String,
        }
        let started: Started = serde_json::from_str(&first)
            .map_err(|e| OAuthError(format!("the OAuth fixture printed {first:?}: {e}")))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OAuthError(format!("http client: {e}")))?;
        Ok(Self {
            issuer: started.issuer,
            mcp_url: started.mcp,
            control_url: started.control,
            http,
            stderr,
            _child: child,
        })
    }

    /// Returns the RFC 9728 metadata URL the MCP server's 401 names
    /// (`http://127.0.0.1:<B>/.well-known/oauth-protected-resource/mcp`).
    pub fn resource_metadata_url(&self) -> String {
        match Url::parse(&self.mcp_url) {
            Ok(mut url) => {
                let path = format!("/.well-known/oauth-protected-resource{}", url.path());
                url.set_path(&path);
                url.into()
            }
            Err(_) => self.mcp_url.clone(),
        }
    }

    /// Returns what the fixture wrote to stderr so far (warnings, errors).
    pub fn logs(&self) -> Vec<String> {
        self.stderr.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Plays the person: opens `authorization_url` (the client's authorization
    /// request), signs in as `account` and allows what was asked, following the
    /// AS's redirects by hand with its cookies, and returns the redirect to the
    /// client's `redirect_uri` without following it. It carries `code` and
    /// `state`, or `error` when the AS refused after checking the redirect URI.
    /// An error page, an unknown account or anything unexpected is an error
    /// holding the page's text.
    pub async fn authorize(&self, authorization_url: &str, account: &str) -> Result<Url, OAuthError> {
        let mut url = Url::parse(authorization_url)
            .map_err(|e| OAuthError(format!("authorization URL {authorization_url:?}: {e}")))?;
        let Some(redirect_uri) = url
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned())
        else {
            return fail(format!("the authorization URL has no redirect_uri: {authorization_url}"));
        };
        let mut cookies = BTreeMap::new();
        // The next request: a GET, or a POST of a form.
        let mut form: Option<Vec<(&str, &str)>> = None;
        for _ in 0..MAX_STEPS {
            let request = match form.take() {
                Some(fields) => self
                    .http
                    .post(url.clone())
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form_body(&fields)),
                None => self.http.get(url.clone()),
            };
            let response = request
                .header(COOKIE, cookie_header(&cookies))
                .send()
                .await
                .map_err(|e| OAuthError(format!("{url}: {e}")))?;
            keep_cookies(&mut cookies, response.headers());
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let next = url
                    .join(&location)
                    .map_err(|e| OAuthError(format!("{status} from {url} to {location:?}: {e}")))?;
                if is_redirect_to(&next, &redirect_uri) {
                    return Ok(next);
                }
                url = next;
                continue;
            }
            let body = response.text().await.unwrap_or_default();
            if status != StatusCode::OK {
                return fail(format!("{status} at {url}: {}", page_text(&body)));
            }
            let Some((action, prompt)) = form_of(&body) else {
                return fail(format!("no form at {url}: {}", page_text(&body)));
            };
            form = Some(match prompt.as_str() {
                "login" => vec![("login", account)],
                "consent" => Vec::new(),
                other => return fail(format!("unknown prompt {other:?} at {url}")),
            });
            url = url
                .join(&action)
                .map_err(|e| OAuthError(format!("form action {action:?} at {url}: {e}")))?;
        }
        fail(format!("no redirect to {redirect_uri} after {MAX_STEPS} steps (last {url})"))
    }

    /// Returns what the fixture counted.
    pub async fn stats(&self) -> Result<Stats, OAuthError> {
        let url = format!("{}/stats", self.control_url);
        let response = self.http.get(&url).send().await;
        self.control_answer(&url, response).await
    }

    /// Sets every count back to zero.
    pub async fn reset_stats(&self) -> Result<Stats, OAuthError> {
        let url = format!("{}/reset-stats", self.control_url);
        let response = self.http.post(&url).send().await;
        self.control_answer(&url, response).await
    }

    /// Makes the token endpoint wait `ms` milliseconds before it handles each
    /// request (0: none), so that concurrent refreshes overlap.
    pub async fn delay_token_endpoint(&self, ms: u64) -> Result<(), OAuthError> {
        #[derive(Deserialize)]
        struct Delay {
            #[allow(dead_code)]
            ms: u64,
        }
        let url = format!("{}/token-delay", self.control_url);
        let response = self
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .body(format!("{{\"ms\":{ms}}}"))
            .send()
            .await;
        let _: Delay = self.control_answer(&url, response).await?;
        Ok(())
    }

    /// Returns every secret value the authorization server issued so far:
    /// access and refresh tokens, authorization codes, client secrets.
    pub async fn issued_secrets(&self) -> Result<IssuedSecrets, OAuthError> {
        let url = format!("{}/secrets", self.control_url);
        let response = self.http.get(&url).send().await;
        self.control_answer(&url, response).await
    }

    /// Destroys every access token issued so far (refresh tokens stay): the
    /// MCP server answers 401 to them. Returns how many there were.
    pub async fn revoke_access_tokens(&self) -> Result<u64, OAuthError> {
        #[derive(Deserialize)]
        struct Revoked {
            revoked: u64,
        }
        let url = format!("{}/revoke-access-tokens", self.control_url);
        let response = self.http.post(&url).send().await;
        let revoked: Revoked = self.control_answer(&url, response).await?;
        Ok(revoked.revoked)
    }

    /// Destroys every refresh token issued so far (access tokens stay valid
    /// until they expire): the next refresh with any of them is `invalid_grant`.
    /// Returns how many there were.
    pub async fn revoke_refresh_tokens(&self) -> Result<u64, OAuthError> {
        #[derive(Deserialize)]
        struct Revoked {
            revoked: u64,
        }
        let url = format!("{}/revoke-refresh-tokens", self.control_url);
        let response = self.http.post(&url).send().await;
        let revoked: Revoked = self.control_answer(&url, response).await?;
        Ok(revoked.revoked)
    }

    /// Reads a control endpoint's JSON answer.
    async fn control_answer<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<T, OAuthError> {
        let response = response.map_err(|e| OAuthError(format!("{url}: {e}")))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status != StatusCode::OK {
            return fail(format!("{status} at {url}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| OAuthError(format!("{url} answered {body:?}: {e}")))
    }
}

/// Encodes `fields` as an `application/x-www-form-urlencoded` body (reqwest is
/// built without its `form` feature).
pub fn form_body(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// Whether `url` is the client's `redirect_uri` (same URL but for the query).
fn is_redirect_to(url: &Url, redirect_uri: &str) -> bool {
    let Ok(expected) = Url::parse(redirect_uri) else {
        return false;
    };
    url.scheme() == expected.scheme()
        && url.host_str() == expected.host_str()
        && url.port_or_known_default() == expected.port_or_known_default()
        && url.path() == expected.path()
}

/// Takes in the `Set-Cookie` headers of an answer; an expired cookie is forgotten.
fn keep_cookies(cookies: &mut BTreeMap<String, String>, headers: &reqwest::header::HeaderMap) {
    for value in headers.get_all(SET_COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        let mut parts = value.split(';');
        let Some((name, content)) = parts.next().and_then(|p| p.split_once('=')) else {
            continue;
        };
        let expired = parts.any(|attribute| {
            let attribute = attribute.trim().to_ascii_lowercase();
            attribute == "max-age=0" || attribute.starts_with("expires=thu, 01 jan 1970")
        });
        if expired || content.is_empty() {
            cookies.remove(name.trim());
        } else {
            cookies.insert(name.trim().to_owned(), content.trim().to_owned());
        }
    }
}

/// Returns the `Cookie` header carrying every cookie kept.
fn cookie_header(cookies: &BTreeMap<String, String>) -> String {
    cookies
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Returns the first form's `action` and `data-prompt` on a page.
fn form_of(html: &str) -> Option<(String, String)> {
    let start = html.find("<form")?;
    let tag = &html[start..start + html[start..].find('>')?];
    let attribute = |name: &str| {
        let value = &tag[tag.find(&format!("{name}=\""))? + name.len() + 2..];
        Some(value[..value.find('"')?].replace("&amp;", "&"))
    };
    Some((attribute("action")?, attribute("data-prompt")?))
}

/// Returns a page's text: the head and tags dropped, white space folded, common
/// entities read.
fn page_text(html: &str) -> String {
    let body = match (html.find("<head"), html.find("</head>")) {
        (Some(start), Some(end)) if start < end => format!("{}{}", &html[..start], &html[end..]),
        _ => html.to_owned(),
    };
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
