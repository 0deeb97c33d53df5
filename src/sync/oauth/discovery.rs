//! Finding a server's authorization server, per the MCP authorization
//! specification: the server's HTTP 401 names its protected-resource metadata
//! in `WWW-Authenticate: Bearer resource_metadata="…"` ([`parse_challenges`]),
//! else that metadata is at the RFC 9728 well-known URIs
//! ([`resource_metadata_urls`]); its first `authorization_servers` entry is the
//! issuer, whose RFC 8414 or OpenID Connect metadata is read from the
//! well-known URIs the MCP specification lists ([`issuer_metadata_urls`]).
//! Every URL passes the SSRF guard before it is fetched.

use serde_json::Value;
use url::Url;

use crate::sync::client::DiscoveryError;
use crate::sync::oauth::http::OAuthHttp;

/// One challenge of a `WWW-Authenticate` header (RFC 9110 section 11.6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The authentication scheme, as sent (compare ignoring case).
    pub scheme: String,
    /// The auth-params, names lower-cased, quoted values unescaped.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (lower-case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a `WWW-Authenticate` value into its challenges; a malformed value
/// is an error naming where it went wrong (never a panic).
pub fn parse_challenges(value: &str) -> Result<Vec<Challenge>, String> {
    let mut c = Cursor {
        s: value.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        c.skip(|b| matches!(b, b' ' | b'\t' | b','));
        if c.done() {
            return Ok(out);
        }
        let scheme = c.token();
        if scheme.is_empty() {
            return Err(format!(
                "expected an authentication scheme at character {}",
                c.i
            ));
        }
        let mut challenge = Challenge {
            scheme,
            params: Vec::new(),
        };
        loop {
            c.skip(|b| matches!(b, b' ' | b'\t'));
            if c.done() {
                break;
            }
            if c.peek() == Some(b',') {
                c.i += 1;
                continue;
            }
            let mark = c.i;
            let name = c.token();
            if name.is_empty() {
                return Err(format!("unexpected character at {}", c.i));
            }
            c.skip(|b| matches!(b, b' ' | b'\t'));
            if c.peek() != Some(b'=') {
                // Not a parameter: the scheme of the next challenge.
                c.i = mark;
                break;
            }
            c.i += 1;
            c.skip(|b| matches!(b, b' ' | b'\t'));
            let value = if c.peek() == Some(b'"') {
                c.quoted()?
            } else {
                // A token, or the padding of a token68 (`abc==`): kept empty.
                let value = c.token();
                c.skip(|b| b == b'=');
                value
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
            c.skip(|b| matches!(b, b' ' | b'\t'));
            match c.peek() {
                None => break,
                Some(b',') => c.i += 1,
                Some(_) => {
                    return Err(format!(
                        "expected a comma after parameter {name:?} at character {}",
                        c.i
                    ));
                }
            }
        }
        out.push(challenge);
    }
}

/// The Bearer challenge of a `WWW-Authenticate` value, if any.
pub fn bearer_challenge(value: &str) -> Result<Option<Challenge>, String> {
    Ok(parse_challenges(value)?
        .into_iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer")))
}

/// A byte cursor over a header value.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip(&mut self, what: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&what) {
            self.i += 1;
        }
    }

    /// An RFC 9110 token (tchar+), possibly empty.
    fn token(&mut self) -> String {
        let start = self.i;
        self.skip(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// A quoted-string at the cursor (which is on its `"`), unescaped.
    fn quoted(&mut self) -> Result<String, String> {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(format!("unterminated quoted string at character {start}")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b) => out.push(b),
                        None => {
                            return Err(format!("unterminated quoted string at character {start}"));
                        }
                    }
                    self.i += 1;
                }
                Some(b) => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }
}

/// Where a server's RFC 9728 metadata may be, in order: the well-known URI
/// with the server's path inserted, then the origin's (without a path, only
/// the origin's).
pub fn resource_metadata_urls(server: &Url) -> Vec<Url> {
    well_known(server, &["oauth-protected-resource"], false)
}

/// Where an issuer's metadata may be, in the order of the MCP specification:
/// with a path, RFC 8414 with path insertion, OpenID Connect with path
/// insertion, then OpenID Connect appended to the path; without a path, RFC
/// 8414 then OpenID Connect at the origin.
pub fn issuer_metadata_urls(issuer: &Url) -> Vec<Url> {
    well_known(
        issuer,
        &["oauth-authorization-server", "openid-configuration"],
        true,
    )
}

fn well_known(base: &Url, names: &[&str], appended_oidc: bool) -> Vec<Url> {
    let path = base.path().trim_end_matches('/');
    let mut origin = base.clone();
    origin.set_query(None);
    origin.set_fragment(None);
    let at = |p: String| {
        let mut url = origin.clone();
        url.set_path(&p);
        url
    };
    let mut urls = Vec::new();
    if path.is_empty() {
        for name in names {
            urls.push(at(format!("/.well-known/{name}")));
        }
        return urls;
    }
    for name in names {
        urls.push(at(format!("/.well-known/{name}{path}")));
    }
    if appended_oidc {
        urls.push(at(format!("{path}/.well-known/openid-configuration")));
    } else {
        for name in names {
            urls.push(at(format!("/.well-known/{name}")));
        }
    }
    urls
}

/// The RFC 8707 resource of a server URL: without fragment or query (its
/// scheme and host are lower-case already).
pub fn canonical_resource(server: &Url) -> String {
    let mut url = server.clone();
    url.set_fragment(None);
    url.set_query(None);
    url.to_string()
}

/// What the discovery found: the issuer and its endpoints, the resource, and
/// the scopes the server suggests.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub registration_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    /// `token_endpoint_auth_methods_supported` (empty when not given).
    pub auth_methods: Vec<String>,
    /// The RFC 8707 resource to ask tokens for.
    pub resource: String,
    /// The `scope` of the 401's challenge, else the resource metadata's
    /// `scopes_supported`.
    pub suggested_scopes: Vec<String>,
}

fn protocol(message: impl Into<String>) -> DiscoveryError {
    DiscoveryError::protocol(message)
}

/// Discovers the authorization server of `server`: from `issuer` when one is
/// configured, else from the server's 401.
pub async fn discover(
    http: &OAuthHttp,
    server: &Url,
    issuer: Option<&str>,
) -> Result<Discovered, DiscoveryError> {
    let default_resource = canonical_resource(server);
    let (issuer, resource, suggested) = match issuer {
        Some(issuer) => (issuer.to_owned(), default_resource, Vec::new()),
        None => {
            let (metadata_url, challenge_scopes) = probe(http, server).await?;
            let metadata = match metadata_url {
                Some(url) => http.get_json(&url).await?.ok_or_else(|| {
                    protocol(format!(
                        "the protected-resource metadata at {url} named by the server's \
                         WWW-Authenticate is not there"
                    ))
                })?,
                None => find_resource_metadata(http, server).await?,
            };
            let resource = metadata_resource(&metadata, server)?.unwrap_or(default_resource);
            let issuer = metadata
                .get("authorization_servers")
                .and_then(Value::as_array)
                .and_then(|servers| servers.first())
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    protocol("the protected-resource metadata names no authorization_servers")
                })?
                .to_owned();
            let suggested = if challenge_scopes.is_empty() {
                strings(&metadata, "scopes_supported")
            } else {
                challenge_scopes
            };
            (issuer, resource, suggested)
        }
    };
    let metadata = issuer_metadata(http, &issuer).await?;
    let endpoint = |name: &str| -> Result<Option<String>, DiscoveryError> {
        match metadata.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(url)) if Url::parse(url).is_ok() => Ok(Some(url.clone())),
            Some(_) => Err(protocol(format!(
                "the authorization server's {name} is not a URL"
            ))),
        }
    };
    let required = |name: &str| -> Result<String, DiscoveryError> {
        endpoint(name)?
            .ok_or_else(|| protocol(format!("the authorization server's metadata has no {name}")))
    };
    let methods = strings(&metadata, "code_challenge_methods_supported");
    if !methods.iter().any(|m| m == "S256") {
        return Err(protocol(
            "the authorization server does not announce PKCE S256 \
             (code_challenge_methods_supported), which the MCP authorization specification requires",
        ));
    }
    Ok(Discovered {
        authorization_endpoint: required("authorization_endpoint")?,
        token_endpoint: required("token_endpoint")?,
        registration_endpoint: endpoint("registration_endpoint")?,
        revocation_endpoint: endpoint("revocation_endpoint")?,
        auth_methods: strings(&metadata, "token_endpoint_auth_methods_supported"),
        issuer,
        resource,
        suggested_scopes: suggested,
    })
}

/// Asks the server without a token: its 401's Bearer challenge may name the
/// resource metadata and the scopes to ask for.
async fn probe(
    http: &OAuthHttp,
    server: &Url,
) -> Result<(Option<Url>, Vec<String>), DiscoveryError> {
    let initialize = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": crate::sync::client::PROTOCOL_VERSIONS[0],
            "capabilities": {},
            "clientInfo": {"name": "mcp-registry", "version": env!("CARGO_PKG_VERSION")},
        },
    });
    let challenges = http.unauthenticated_challenge(server, &initialize).await?;
    let Some(value) = challenges else {
        return Ok((None, Vec::new()));
    };
    let challenge = bearer_challenge(&value).map_err(|err| {
        protocol(format!(
            "the server's WWW-Authenticate header is malformed: {err}"
        ))
    })?;
    let Some(challenge) = challenge else {
        return Ok((None, Vec::new()));
    };
    let url = match challenge.param("resource_metadata") {
        Some(text) => Some(server.join(text).map_err(|err| {
            protocol(format!(
                "the server's resource_metadata {text:?} is not a URL: {err}"
            ))
        })?),
        None => None,
    };
    let scopes = challenge
        .param("scope")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    Ok((url, scopes))
}

/// Reads the resource metadata at the well-known URIs, the first found.
async fn find_resource_metadata(http: &OAuthHttp, server: &Url) -> Result<Value, DiscoveryError> {
    let urls = resource_metadata_urls(server);
    for url in &urls {
        if let Some(found) = http.get_json(url).await? {
            return Ok(found);
        }
    }
    Err(protocol(format!(
        "the server offers no OAuth protected-resource metadata (no resource_metadata in a \
         WWW-Authenticate on its 401, nothing at {})",
        urls.iter().map(Url::as_str).collect::<Vec<_>>().join(", ")
    )))
}

/// The metadata's `resource`, which must be the server URL or a prefix of
/// it on the same origin (RFC 9728 section 3.3); `None` when absent.
fn metadata_resource(metadata: &Value, server: &Url) -> Result<Option<String>, DiscoveryError> {
    let Some(text) = metadata.get("resource").and_then(Value::as_str) else {
        return Ok(None);
    };
    let resource = Url::parse(text).map_err(|err| {
        protocol(format!(
            "the metadata's resource {text:?} is not a URL: {err}"
        ))
    })?;
    let prefix = resource.path().trim_end_matches('/');
    let covers = resource.origin() == server.origin()
        && (server.path() == resource.path()
            || server.path().starts_with(&format!("{prefix}/"))
            || prefix.is_empty());
    if !covers {
        return Err(protocol(format!(
            "the protected-resource metadata is for {text}, not for the server's URL"
        )));
    }
    Ok(Some(canonical_resource(&resource)))
}

/// Reads the issuer's metadata at the first well-known URI that has it, and
/// checks that it names the same issuer (RFC 8414 section 3.3).
async fn issuer_metadata(http: &OAuthHttp, issuer: &str) -> Result<Value, DiscoveryError> {
    let url = Url::parse(issuer)
        .map_err(|err| protocol(format!("the issuer {issuer:?} is not a URL: {err}")))?;
    let urls = issuer_metadata_urls(&url);
    for url in &urls {
        let Some(metadata) = http.get_json(url).await? else {
            continue;
        };
        let named = metadata.get("issuer").and_then(Value::as_str).unwrap_or("");
        if named.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(protocol(format!(
                "the metadata at {url} is for issuer {named:?}, not {issuer:?}"
            )));
        }
        return Ok(metadata);
    }
    Err(protocol(format!(
        "no authorization server metadata for {issuer} (tried {})",
        urls.iter().map(Url::as_str).collect::<Vec<_>>().join(", ")
    )))
}

/// A metadata field that is a list of strings (other items are skipped).
fn strings(metadata: &Value, name: &str) -> Vec<String> {
    metadata
        .get(name)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    fn strings_of(urls: Vec<Url>) -> Vec<String> {
        urls.into_iter().map(String::from).collect()
    }

    #[test]
    fn a_bearer_challenge_names_the_resource_metadata_and_scope() {
        let value = r#"Bearer error="invalid_token", error_description="No \"token\"", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="files:read files:write""#;
        let challenge = bearer_challenge(value).expect("parses").expect("bearer");
        assert_eq!(
            challenge.param("resource_metadata"),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(challenge.param("error_description"), Some(r#"No "token""#));
        assert_eq!(challenge.param("scope"), Some("files:read files:write"));
    }

    #[test]
    fn several_challenges_and_token68_are_told_apart() {
        let value =
            r#"Negotiate abc==, Basic realm="a, b", BEARER Realm=example , resource_metadata="/m""#;
        let all = parse_challenges(value).expect("parses");
        let schemes: Vec<&str> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Negotiate", "Basic", "BEARER"]);
        assert_eq!(all[1].param("realm"), Some("a, b"));
        let bearer = bearer_challenge(value).expect("parses").expect("bearer");
        assert_eq!(bearer.param("realm"), Some("example"));
        assert_eq!(bearer.param("resource_metadata"), Some("/m"));
        assert_eq!(bearer_challenge("Basic realm=x").expect("parses"), None);
        assert_eq!(parse_challenges("").expect("empty"), Vec::new());
    }

    #[test]
    fn malformed_challenges_are_clear_errors_not_panics() {
        for bad in [
            r#"Bearer resource_metadata="https://x"#,
            r#"Bearer a="b" c"#,
            "Bearer a=b \"c\"",
            "=oops",
            "Bearer é=1",
            "Bearer a=\"\\",
        ] {
            let err = parse_challenges(bad).expect_err(bad);
            assert!(!err.is_empty(), "{bad}");
        }
        // Odd but valid: empty list elements and a lone scheme.
        assert_eq!(parse_challenges(" , Bearer ,").expect("valid").len(), 1);
    }

    #[test]
    fn resource_metadata_urls_insert_the_path_then_try_the_origin() {
        assert_eq!(
            strings_of(resource_metadata_urls(&url(
                "https://mcp.example.com/public/mcp?x=1#f"
            ))),
            [
                "https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ]
        );
        assert_eq!(
            strings_of(resource_metadata_urls(&url("http://127.0.0.1:8080/"))),
            ["http://127.0.0.1:8080/.well-known/oauth-protected-resource"]
        );
    }

    #[test]
    fn issuer_metadata_urls_follow_the_mcp_specification() {
        assert_eq!(
            strings_of(issuer_metadata_urls(&url(
                "https://auth.example.com/tenant1/"
            ))),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            strings_of(issuer_metadata_urls(&url("https://auth.example.com"))),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn the_resource_is_the_server_url_or_a_prefix_on_its_origin() {
        let server = url("https://mcp.example.com/v1/mcp");
        assert_eq!(
            canonical_resource(&url("https://MCP.example.com/v1/mcp?q#f")),
            "https://mcp.example.com/v1/mcp"
        );
        let meta = |resource: &str| serde_json::json!({ "resource": resource });
        assert_eq!(
            metadata_resource(&meta("https://mcp.example.com/v1/mcp"), &server).expect("same"),
            Some("https://mcp.example.com/v1/mcp".to_owned())
        );
        assert!(metadata_resource(&meta("https://mcp.example.com/v1"), &server).is_ok());
        assert!(metadata_resource(&meta("https://mcp.example.com/"), &server).is_ok());
        for other in [
            "https://evil.example.com/v1/mcp",
            "https://mcp.example.com/v2",
            "https://mcp.example.com/v1/mc",
            "not a url",
        ] {
            assert!(metadata_resource(&meta(other), &server).is_err(), "{other}");
        }
        assert_eq!(
            metadata_resource(&serde_json::json!({}), &server).expect("absent"),
            None
        );
    }
}
