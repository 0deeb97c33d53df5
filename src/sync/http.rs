//! The HTTP client for upstream MCP servers, with the SSRF guard built in:
//! host names resolve only to addresses the guard permits (and the client
//! connects to exactly those), IP-literal URLs and every redirect target are
//! checked before a connection is attempted.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Once};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use url::{Host, Url};

use crate::sync::guard::{GuardPolicy, Refusal};

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// Why the guard refused a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("refused by the SSRF guard: {host} is {refusal}")]
    Refused { host: String, refusal: Refusal },
    #[error("refused by the SSRF guard: {0} resolves to no permitted address")]
    NoPermittedAddress(String),
    #[error("refused: {0:?} is not an http or https URL")]
    Scheme(String),
    #[error("refused: more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    #[error(
        "refused: a redirect to another origin ({0}); the server's credentials and headers would go with it"
    )]
    CrossOrigin(String),
}

/// Checks a URL before any connection: scheme, and the host when it is an IP literal.
pub fn check_url(url: &Url, policy: &GuardPolicy) -> Result<(), GuardError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(GuardError::Scheme(url.to_string()));
    }
    let ip: Option<IpAddr> = match url.host() {
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(Host::Domain(_)) | None => None,
    };
    match ip {
        Some(ip) => policy.permits(ip).map_err(|refusal| GuardError::Refused {
            host: ip.to_string(),
            refusal,
        }),
        None => Ok(()),
    }
}

/// Decides one redirect: the target is checked like the original URL, and
/// must stay on the original origin. A sync's requests carry secrets (API key
/// headers, sensitive custom headers) that reqwest would forward to any host:
/// only its standard credential headers are dropped on a cross-host redirect.
pub fn redirect_decision(
    target: &Url,
    previous: &[Url],
    policy: &GuardPolicy,
) -> Result<(), GuardError> {
    if previous.len() >= MAX_REDIRECTS {
        return Err(GuardError::TooManyRedirects);
    }
    check_url(target, policy)?;
    match previous.first() {
        Some(origin) if origin.origin() != target.origin() => Err(GuardError::CrossOrigin(
            target.origin().ascii_serialization(),
        )),
        _ => Ok(()),
    }
}

/// Resolves host names, keeping only addresses the guard permits.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: GuardPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| policy.permits(addr.ip()).is_ok())
                .collect();
            if permitted.is_empty() {
                return Err(Box::new(GuardError::NoPermittedAddress(host))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

/// Installs the ring crypto provider for rustls once per process (reqwest is
/// built without a default provider, to keep the tree ring-only).
pub fn ensure_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Fails only when another provider is already installed: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Builds the upstream client: guarded resolver and redirects, timeouts, no proxies.
pub fn upstream_client(
    policy: GuardPolicy,
    connect_timeout: Duration,
) -> reqwest::Result<reqwest::Client> {
    ensure_crypto_provider();
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver {
            policy: policy.clone(),
        }))
        .redirect(redirect::Policy::custom(
            move |attempt| match redirect_decision(attempt.url(), attempt.previous(), &policy) {
                Ok(()) => attempt.follow(),
                Err(err) => attempt.error(err),
            },
        ))
        // An environment proxy would bypass the guard's view of the target.
        .no_proxy()
        .connect_timeout(connect_timeout)
        .user_agent(concat!("mcp-registry/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    #[test]
    fn ip_literals_and_schemes_are_checked_before_connecting() {
        let strict = GuardPolicy::default();
        assert!(check_url(&url("https://mcp.example.com/mcp"), &strict).is_ok());
        assert!(check_url(&url("https://93.184.216.34/mcp"), &strict).is_ok());
        for bad in [
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://169.254.169.254/latest",
            "http://[::ffff:10.0.0.1]/",
            "http://10.1.2.3/",
        ] {
            assert!(
                matches!(
                    check_url(&url(bad), &strict),
                    Err(GuardError::Refused { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            check_url(&url("file:///etc/passwd"), &strict),
            Err(GuardError::Scheme(_))
        ));
        let lax = GuardPolicy {
            allow_private: true,
            ..GuardPolicy::default()
        };
        assert!(check_url(&url("http://127.0.0.1:8080/"), &lax).is_ok());
        assert!(check_url(&url("http://169.254.169.254/"), &lax).is_err());
    }

    #[test]
    fn redirects_are_checked_bounded_and_kept_on_the_origin() {
        let strict = GuardPolicy::default();
        let origin = [url("https://mcp.example.com/mcp")];
        assert!(
            redirect_decision(&url("https://mcp.example.com/v2/mcp"), &origin, &strict).is_ok()
        );
        assert!(matches!(
            redirect_decision(&url("http://127.0.0.2/"), &origin, &strict),
            Err(GuardError::Refused { .. })
        ));
        assert!(matches!(
            redirect_decision(&url("https://evil.example.org/mcp"), &origin, &strict),
            Err(GuardError::CrossOrigin(_))
        ));
        // Another port or scheme is another origin too.
        assert!(matches!(
            redirect_decision(&url("https://mcp.example.com:8443/mcp"), &origin, &strict),
            Err(GuardError::CrossOrigin(_))
        ));
        assert!(matches!(
            redirect_decision(&url("http://mcp.example.com/mcp"), &origin, &strict),
            Err(GuardError::CrossOrigin(_))
        ));
        let many = vec![url("https://mcp.example.com/mcp"); MAX_REDIRECTS];
        assert_eq!(
            redirect_decision(&url("https://mcp.example.com/"), &many, &strict),
            Err(GuardError::TooManyRedirects)
        );
    }

    /// A listener on 127.0.0.1 that counts connections and answers 200.
    async fn counting_server() -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                let mut stream = BufReader::new(stream);
                // Read the request head, then answer.
                let mut line = String::new();
                while stream.read_line(&mut line).await.is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = stream
                    .get_mut()
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        (port, count)
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_without_connecting() {
        let (port, count) = counting_server().await;
        let strict =
            upstream_client(GuardPolicy::default(), Duration::from_secs(2)).expect("client");
        let err = strict
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .expect_err("guard refuses localhost");
        let mut chain = Vec::new();
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(current) = source {
            chain.push(current.to_string());
            source = current.source();
        }
        assert!(
            chain
                .iter()
                .any(|message| message.contains("refused by the SSRF guard")),
            "{chain:?}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 0, "no connection was made");

        // Allowed explicitly, the same request reaches the loopback server.
        let lax = upstream_client(
            GuardPolicy {
                allow_private: true,
                ..GuardPolicy::default()
            },
            Duration::from_secs(2),
        )
        .expect("client");
        let response = lax
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .expect("allowed");
        assert_eq!(response.status(), 200);
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }
}
