//! The HTTP requests of OAuth: metadata reads, the unauthenticated probe of a
//! server, dynamic client registration (RFC 7591), the token endpoint (code
//! and refresh grants, client authentication per RFC 6749 section 2.3) and
//! revocation (RFC 7009). Every URL is checked (https unless insecure
//! upstreams are allowed, then the SSRF guard) before a connection is made,
//! and goes through the guarded upstream client; answers are read up to
//! [`MAX_BODY`]. No token, code or secret appears in an error.

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use url::Url;

use crate::registry::UpstreamUrl;
use crate::registry::oauth::{ClientAuth, ClientIdentity};
use crate::registry::servers::UrlPolicy;
use crate::sync::client::DiscoveryError;
use crate::sync::guard::GuardPolicy;
use crate::sync::http::check_url;

/// Largest answer read from a metadata, registration or token endpoint.
pub const MAX_BODY: usize = 1 << 20;

/// The longest error text quoted from an authorization server.
const MAX_QUOTED: usize = 300;

/// Sends OAuth's requests through the guarded upstream client.
#[derive(Clone)]
pub struct OAuthHttp {
    client: reqwest::Client,
    guard: GuardPolicy,
    urls: UrlPolicy,
    /// Longest one request may take.
    deadline: Duration,
}

/// A token endpoint's answer.
pub struct TokenAnswer {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
    /// The scopes granted, when the answer says.
    pub scopes: Option<Vec<String>>,
}

/// Why a registration or token request failed.
pub enum Refusal {
    /// The authorization server refused (HTTP 4xx): its `error` and
    /// `error_description`.
    Refused { error: String, description: String },
    /// It could not be asked, or answered something else.
    Failed(DiscoveryError),
}

impl Refusal {
    /// The refusal in words.
    pub fn message(&self, what: &str) -> String {
        match self {
            Self::Refused { error, description } if description.is_empty() => {
                format!("the authorization server refused the {what}: {error}")
            }
            Self::Refused { error, description } => {
                format!("the authorization server refused the {what}: {error} ({description})")
            }
            Self::Failed(err) => format!("{what}: {err}"),
        }
    }
}

impl From<DiscoveryError> for Refusal {
    fn from(err: DiscoveryError) -> Self {
        Self::Failed(err)
    }
}

impl OAuthHttp {
    pub fn new(
        client: reqwest::Client,
        guard: GuardPolicy,
        urls: UrlPolicy,
        deadline: Duration,
    ) -> Self {
        Self {
            client,
            guard,
            urls,
            deadline,
        }
    }

    /// Parses and checks an endpoint URL: https (unless insecure upstreams
    /// are allowed), then the SSRF guard.
    pub fn endpoint(&self, text: &str, what: &str) -> Result<Url, DiscoveryError> {
        UpstreamUrl::check(text, self.urls)
            .map_err(|err| DiscoveryError::protocol(format!("the {what} {text:?} {err}")))?;
        let url = Url::parse(text)
            .map_err(|err| DiscoveryError::protocol(format!("the {what} {text:?}: {err}")))?;
        check_url(&url, &self.guard)
            .map_err(|err| DiscoveryError::unreachable(format!("the {what}: {err}")))?;
        Ok(url)
    }

    /// POSTs `body` to the server without credentials; the `WWW-Authenticate`
    /// value of a 401 answer, `None` for any other answer.
    pub async fn unauthenticated_challenge(
        &self,
        server: &Url,
        body: &Value,
    ) -> Result<Option<String>, DiscoveryError> {
        let server = self.endpoint(server.as_str(), "server URL")?;
        let response = self
            .client
            .post(server)
            .header(ACCEPT, "application/json, text/event-stream")
            .json(body)
            .timeout(self.deadline)
            .send()
            .await
            .map_err(|err| unreachable("the server", &err))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(None);
        }
        let value = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .map(|value| {
                value.to_str().map_err(|_| {
                    DiscoveryError::protocol("the server's WWW-Authenticate header is not ASCII")
                })
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(", ");
        Ok((!value.is_empty()).then_some(value))
    }

    /// GETs a JSON object; `None` when the URL answers a client error (the
    /// document is not there), an error for anything else that is not one.
    pub async fn get_json(&self, url: &Url) -> Result<Option<Value>, DiscoveryError> {
        let url = self.endpoint(url.as_str(), "metadata URL")?;
        let response = self
            .client
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .timeout(self.deadline)
            .send()
            .await
            .map_err(|err| unreachable(url.as_str(), &err))?;
        let status = response.status();
        if status.is_client_error() {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(DiscoveryError::protocol(format!(
                "{url} answered HTTP {status}"
            )));
        }
        let body = read(response, url.as_str()).await?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(value @ Value::Object(_)) => Ok(Some(value)),
            _ => Err(DiscoveryError::protocol(format!(
                "{url} did not answer a JSON object"
            ))),
        }
    }

    /// Registers a client (RFC 7591) with `redirect_uris` and the
    /// authentication method `auth`; the client's identity.
    pub async fn register(
        &self,
        endpoint: &str,
        redirect_uris: &[String],
        auth: ClientAuth,
    ) -> Result<ClientIdentity, Refusal> {
        let url = self.endpoint(endpoint, "registration endpoint")?;
        let method = match auth {
            ClientAuth::None => "none",
            ClientAuth::Basic => "client_secret_basic",
            ClientAuth::Post => "client_secret_post",
        };
        let body = json!({
            "client_name": "mcp-registry",
            "redirect_uris": redirect_uris,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": method,
        });
        let response = self
            .client
            .post(url.clone())
            .header(ACCEPT, "application/json")
            .json(&body)
            .timeout(self.deadline)
            .send()
            .await
            .map_err(|err| unreachable("the registration endpoint", &err))?;
        let (status, answer) = answer(response, "the registration endpoint").await?;
        refused(status, &answer)?;
        let client_id = answer
            .get("client_id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| DiscoveryError::protocol("the registration answer has no client_id"))?
            .to_owned();
        let client_secret = answer
            .get("client_secret")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let auth = match answer
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
        {
            Some("none") => ClientAuth::None,
            Some("client_secret_post") => ClientAuth::Post,
            Some("client_secret_basic") => ClientAuth::Basic,
            _ if client_secret.is_none() => ClientAuth::None,
            _ => auth,
        };
        Ok(ClientIdentity {
            client_id,
            client_secret,
            auth,
        })
    }

    /// Exchanges an authorization code (RFC 6749 4.1.3 with the PKCE
    /// verifier and the RFC 8707 resource).
    pub async fn exchange_code(
        &self,
        endpoint: &str,
        client: &ClientIdentity,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        resource: &str,
    ) -> Result<TokenAnswer, Refusal> {
        self.token_request(
            endpoint,
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", verifier),
                ("redirect_uri", redirect_uri),
                ("resource", resource),
            ],
        )
        .await
    }

    /// Refreshes (RFC 6749 section 6, with the RFC 8707 resource).
    pub async fn refresh(
        &self,
        endpoint: &str,
        client: &ClientIdentity,
        refresh_token: &str,
        resource: &str,
    ) -> Result<TokenAnswer, Refusal> {
        self.token_request(
            endpoint,
            client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("resource", resource),
            ],
        )
        .await
    }

    /// Revokes a token (RFC 7009); `hint` is `refresh_token` or `access_token`.
    pub async fn revoke(
        &self,
        endpoint: &str,
        client: &ClientIdentity,
        token: &str,
        hint: &str,
    ) -> Result<(), Refusal> {
        let url = self.endpoint(endpoint, "revocation endpoint")?;
        let fields = [("token", token), ("token_type_hint", hint)];
        let response = self.form(url, client, &fields).await?;
        let (status, answer) = answer(response, "the revocation endpoint").await?;
        refused(status, &answer)?;
        Ok(())
    }

    async fn token_request(
        &self,
        endpoint: &str,
        client: &ClientIdentity,
        fields: &[(&str, &str)],
    ) -> Result<TokenAnswer, Refusal> {
        let url = self.endpoint(endpoint, "token endpoint")?;
        let response = self.form(url, client, fields).await?;
        let (status, answer) = answer(response, "the token endpoint").await?;
        refused(status, &answer)?;
        let access_token = answer
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| DiscoveryError::protocol("the token answer has no access_token"))?
            .to_owned();
        // A token that cannot travel in a header would fail every request.
        if access_token.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
            return Err(DiscoveryError::protocol(
                "the access token is not visible ASCII without spaces",
            )
            .into());
        }
        Ok(TokenAnswer {
            access_token,
            refresh_token: answer
                .get("refresh_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            // A number, or (some servers) a string of one.
            expires_in: answer.get("expires_in").and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            }),
            scopes: answer
                .get("scope")
                .and_then(Value::as_str)
                .map(|s| s.split_whitespace().map(str::to_owned).collect()),
        })
    }

    /// POSTs a form to `url` as `client` (RFC 6749 section 2.3.1).
    async fn form(
        &self,
        url: Url,
        client: &ClientIdentity,
        fields: &[(&str, &str)],
    ) -> Result<reqwest::Response, DiscoveryError> {
        // The body is built first: the serializer is not `Send`.
        let (body, basic) = client_form(client, fields)?;
        let mut request = self.client.post(url.clone());
        if let Some(value) = basic {
            request = request.header(AUTHORIZATION, value);
        }
        request
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(body)
            .timeout(self.deadline)
            .send()
            .await
            .map_err(|err| unreachable(url.as_str(), &err))
    }
}

/// The form body of a token-endpoint request as `client`, and the Basic
/// `Authorization` value when the client authenticates so (RFC 6749 2.3.1).
fn client_form(
    client: &ClientIdentity,
    fields: &[(&str, &str)],
) -> Result<(String, Option<reqwest::header::HeaderValue>), DiscoveryError> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(fields.iter().filter(|(_, v)| !v.is_empty()));
    let mut basic = None;
    match (client.auth, &client.client_secret) {
        (ClientAuth::Basic, Some(secret)) => {
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(&client.client_id), encode(secret));
            let mut value = reqwest::header::HeaderValue::from_str(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
            .map_err(|_| DiscoveryError::protocol("the client credentials cannot be sent"))?;
            value.set_sensitive(true);
            basic = Some(value);
        }
        (ClientAuth::Post, Some(secret)) => {
            form.append_pair("client_id", &client.client_id);
            form.append_pair("client_secret", secret);
        }
        (ClientAuth::None | ClientAuth::Basic | ClientAuth::Post, _) => {
            form.append_pair("client_id", &client.client_id);
        }
    }
    Ok((form.finish(), basic))
}

/// An error of a request that got no answer.
fn unreachable(what: &str, err: &reqwest::Error) -> DiscoveryError {
    // reqwest's message names the URL, which carries no secret (codes and
    // tokens travel in bodies and headers only).
    DiscoveryError::unreachable(format!("{what}: {err}"))
}

/// The status and JSON body of an answer (an empty or non-JSON body reads
/// as `null`).
async fn answer(
    response: reqwest::Response,
    what: &str,
) -> Result<(StatusCode, Value), DiscoveryError> {
    let status = response.status();
    let body = read(response, what).await?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// A client error is a refusal (with the answer's `error`), a server error
/// a failure; a success passes.
fn refused(status: StatusCode, answer: &Value) -> Result<(), Refusal> {
    if status.is_success() {
        return Ok(());
    }
    let text = |name: &str| {
        let mut text: String = answer
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        if text.len() > MAX_QUOTED {
            let mut end = MAX_QUOTED;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        text
    };
    if status.is_client_error() {
        let error = text("error");
        return Err(Refusal::Refused {
            error: if error.is_empty() {
                format!("HTTP {status}")
            } else {
                error
            },
            description: text("error_description"),
        });
    }
    Err(Refusal::Failed(DiscoveryError::protocol(format!(
        "the authorization server answered HTTP {status}"
    ))))
}

/// Reads a body up to [`MAX_BODY`].
async fn read(mut response: reqwest::Response, what: &str) -> Result<Vec<u8>, DiscoveryError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| DiscoveryError::unreachable(format!("{what}: {err}")))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(DiscoveryError::protocol(format!(
                "{what} answered more than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
