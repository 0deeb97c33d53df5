//! Upstream requests for the pack gateway (`tools/call`, `prompts/get`,
//! `resources/read`), made on the server's pooled session
//! ([`crate::sync::pool`]), opened with its sealed credentials and request
//! headers (plaintext in memory only) through the same guard, transport
//! choice and limits as a sync, within the gateway's own deadline. A request
//! carries the end user it is for: a per-subject OAuth server is called with
//! that user's own token, on that user's own session (never another's). A session
//! the upstream no longer knows (404) is opened again and the request sent
//! once more; it cannot have run.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::UpstreamFailure;
use crate::registry::oauth::Requester;
use crate::registry::servers::{McpServer, Transport};
use crate::sync::client::{DiscoveryError, Limits, Wire, open};
use crate::sync::credentials::SessionKey;
use crate::sync::engine::Syncer;
use crate::sync::lifecycle::{AttemptFailure, stored_url};
use crate::sync::pool::Pooled;
use crate::sync::session::{Connection, Sink};

/// What a request made for the pack gateway came to.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamOutcome {
    /// The answer's result, exactly as the upstream sent it.
    Result(Value),
    /// The upstream answered with a JSON-RPC error.
    Error { code: i64, message: String },
    /// The upstream lists the tool with another definition than the
    /// approved one: its hash now (empty when it no longer lists the tool).
    Changed { hash: String },
}

/// One request to an upstream.
pub struct UpstreamRequest<'a> {
    pub method: &'a str,
    pub params: Value,
    /// For `tools/call` under REQUIRE_ALL: the tool and its approved hash,
    /// which the definition the session lists must still have.
    pub approved: Option<(&'a str, &'a str)>,
    /// Where the request's progress notifications go, when the caller asked
    /// for progress.
    pub progress: Option<&'a Sink>,
    /// The end user the gateway caller acts for (`x-mcp-registry-subject`):
    /// whose connection a per-subject OAuth server is called with.
    pub subject: Option<&'a str>,
}

impl UpstreamRequest<'_> {
    /// A `tools/call` of tool `name` with `arguments`.
    pub fn call<'a>(
        name: &'a str,
        arguments: Value,
        approved: Option<&'a str>,
    ) -> UpstreamRequest<'a> {
        UpstreamRequest {
            method: "tools/call",
            params: json!({"name": name, "arguments": arguments}),
            approved: approved.map(|hash| (name, hash)),
            progress: None,
            subject: None,
        }
    }
}

impl Syncer {
    /// Sends `request` to `server` on its pooled session, within `deadline`
    /// (opening the session included).
    pub async fn request(
        &self,
        server: &McpServer,
        request: UpstreamRequest<'_>,
        deadline: Duration,
    ) -> Result<UpstreamOutcome, AttemptFailure> {
        let limits = Limits {
            deadline,
            ..self.inner.settings.limits.clone()
        };
        let requester = Requester::Caller(request.subject);
        // The timeout is awaited in place: `within`, an async fn, would hold
        // the work twice (its argument and the timeout), and every move of
        // this future (it is part of each gateway call's) copies its size.
        let answered = tokio::time::timeout(deadline, async {
            // Credentials the upstream refused are renewed once (an OAuth
            // token refreshed); the request has not run then.
            let mut renewed = false;
            for attempt in 0.. {
                let session = match self.session(server, requester, &limits).await {
                    Err(Failure::Upstream(err)) if refused(&err) && !renewed => {
                        renewed = true;
                        if Box::pin(self.renew(server, requester)).await? {
                            continue;
                        }
                        return Err(Failure::Upstream(err));
                    }
                    opened => opened?,
                };
                let sent = send(&session, &request, &limits).await;
                match sent {
                    Err(_) if session.is_gone() && attempt == 0 => {
                        self.inner.pool.forget(&session);
                    }
                    Err(err) if refused(&err) && !renewed => {
                        self.inner.pool.forget(&session);
                        renewed = true;
                        if !Box::pin(self.renew(server, requester)).await? {
                            return Err(Failure::Upstream(err));
                        }
                    }
                    Err(err) => {
                        self.inner.pool.forget(&session);
                        return Err(Failure::Upstream(err));
                    }
                    Ok(outcome) => return Ok(outcome),
                }
            }
            Err(Failure::Upstream(DiscoveryError::protocol(
                "the upstream session could not be reopened",
            )))
        })
        .await
        .unwrap_or_else(|_| Err(DiscoveryError::timeout(deadline).into()));
        match answered {
            Ok(outcome) => Ok(outcome),
            Err(Failure::Credentials(err)) => Err(err),
            Err(Failure::Upstream(err)) => Err(AttemptFailure::Upstream(err)),
        }
    }

    /// After the upstream refused the credentials: whether they were renewed
    /// and the request may go once more (see `HeaderBuilder::after_refusal`):
    /// the token refreshed is that of the connection `requester` uses.
    async fn renew(&self, server: &McpServer, requester: Requester<'_>) -> Result<bool, Failure> {
        let credentials = &self.inner.credentials;
        Ok(credentials.after_refusal(server, None, requester).await?)
    }

    /// The server's pooled session for `requester`, opened if needed.
    async fn session(
        &self,
        server: &McpServer,
        requester: Requester<'_>,
        limits: &Limits,
    ) -> Result<Arc<Pooled>, Failure> {
        // Any change to the server (its url, transport, credentials,
        // headers) changes `updated_at`, and a rotation of a secret it
        // references that secret's revision: a new session. A per-subject
        // server's sessions are per end user.
        let key: SessionKey = self
            .inner
            .credentials
            .session_key(server, requester)
            .await?;
        // Made (and boxed) only when the pool has no usable session: opening
        // one is large and rare, and a call's future should not carry it.
        let opening = || {
            Box::pin(async {
                let connection = self.connect(server, requester, limits).await?;
                // The upstream announces changes: sync it (coalesced, see
                // [`Syncer::lists_changed`]). Weak: the pool lives in the engine.
                let engine = Arc::downgrade(&self.inner);
                let server_id = server.id.clone();
                Ok(Pooled::new(connection, key.clone()).watch(move || {
                    if let Some(inner) = engine.upgrade() {
                        Syncer { inner }.lists_changed(&server_id);
                    }
                }))
            })
        };
        self.inner.pool.session(&key, opening).await
    }

    /// An initialized session with `server` for `requester` (its sealed
    /// credentials opened for the request headers, the guard, the transport
    /// the last sync found), reading the stream on which the upstream sends
    /// its own messages (`list_changed`).
    pub(super) async fn connect(
        &self,
        server: &McpServer,
        requester: Requester<'_>,
        limits: &Limits,
    ) -> Result<Connection, Failure> {
        let url = stored_url(server).map_err(Failure::from)?;
        let headers = self
            .inner
            .credentials
            .headers(server, requester)
            .await
            .map_err(Failure::from)?;
        let settings = &self.inner.settings;
        let (mut connection, _) = open(
            &self.inner.client,
            &url,
            &headers,
            wire(server),
            limits,
            &settings.policy,
        )
        .await
        .map_err(Failure::Upstream)?;
        if let Connection::Streamable(session) = &mut connection {
            session.listen();
        }
        Ok(connection)
    }
}

/// Why no session could be had.
pub(super) enum Failure {
    Credentials(AttemptFailure),
    Upstream(DiscoveryError),
}

impl From<AttemptFailure> for Failure {
    fn from(err: AttemptFailure) -> Self {
        match err {
            AttemptFailure::Upstream(err) => Self::Upstream(err),
            other => Self::Credentials(other),
        }
    }
}

impl From<DiscoveryError> for Failure {
    fn from(err: DiscoveryError) -> Self {
        Self::Upstream(err)
    }
}

/// Whether the upstream refused the credentials.
fn refused(err: &DiscoveryError) -> bool {
    err.failure == UpstreamFailure::AuthFailed
}

/// Sends `request` on `session` (after the approval check, if any).
async fn send(
    session: &Pooled,
    request: &UpstreamRequest<'_>,
    limits: &Limits,
) -> Result<UpstreamOutcome, DiscoveryError> {
    if let Some((name, approved)) = request.approved {
        let hash = session.tool_hash(name, limits).await?;
        if hash != approved {
            return Ok(UpstreamOutcome::Changed { hash });
        }
    }
    let connection = session.connection()?;
    Ok(
        match connection
            .request(request.method, request.params.clone(), request.progress)
            .await?
        {
            Ok(result) => UpstreamOutcome::Result(result),
            Err(error) => UpstreamOutcome::Error {
                code: error.code,
                message: error.message,
            },
        },
    )
}

/// The transport the last sync found, when the server leaves it open.
fn wire(server: &McpServer) -> Wire {
    match (server.transport, server.detected_transport) {
        (Transport::StreamableHttp, _) | (Transport::Auto, Some(Transport::StreamableHttp)) => {
            Wire::StreamableHttp
        }
        (Transport::Sse, _) | (Transport::Auto, Some(Transport::Sse)) => Wire::Sse,
        (Transport::Auto, _) => Wire::Auto,
    }
}
