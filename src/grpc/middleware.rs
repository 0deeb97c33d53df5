//! The tower layer in front of every RPC. For each request it:
//! 1. takes the client's `x-request-id` (if sane) or makes one, serves the
//!    call in its [`crate::telemetry::REQUEST`] scope (error details, audit
//!    events and log lines name it) and echoes it in the response;
//! 2. authenticates the API key (all paths except health and reflection) and
//!    puts the [`Caller`] in the request extensions, or answers UNAUTHENTICATED;
//!    with the end user of `x-mcp-registry-subject` when a service key sends
//!    it (PERMISSION_DENIED for any other key, INVALID_ARGUMENT when invalid);
//!    a VIEWER key or a pack-limited key calling anything but a read (Get*,
//!    List*, Resolve*, Export*, Watch*) is refused here with PERMISSION_DENIED,
//!    for every service;
//!    then, with `--rate-limit`, charges the call to the key's quota and answers
//!    RESOURCE_EXHAUSTED/RATE_LIMITED with a RetryInfo when it is spent;
//! 3. turns tonic's INTERNAL for a request it cannot decode into
//!    INVALID_ARGUMENT (the client sent it);
//! 4. counts the RPC by its final gRPC code and records its latency, reading
//!    the code from the headers (trailers-only answers) or from the trailers.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use tonic::Code;
use tower::{Layer, Service};

use crate::error::Error;
use crate::registry::auth::{Authenticator, SUBJECT_HEADER};
use crate::registry::{Caller, Role};
use crate::telemetry::{REQUEST, RequestScope};

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// Metadata keys of the two credential styles.
const API_KEY: &str = "x-api-key";
const API_SECRET: &str = "x-api-secret";
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Calls per second per API key (GCRA, a burst of one second's worth).
pub type KeyRateLimiter = governor::DefaultKeyedRateLimiter<String>;

/// Returns the per-key limiter of `rate` calls per second, or none. One
/// limiter serves gRPC and the pack gateway, so a key has one budget.
pub fn key_rate_limiter(rate: Option<std::num::NonZeroU32>) -> Option<Arc<KeyRateLimiter>> {
    rate.map(|rate| Arc::new(KeyRateLimiter::keyed(governor::Quota::per_second(rate))))
}

/// Layer that wraps the router with [`ApiService`].
#[derive(Clone)]
pub struct ApiLayer {
    auth: Arc<Authenticator>,
    limiter: Option<Arc<KeyRateLimiter>>,
}

impl ApiLayer {
    /// `limiter`: the per-key budget ([`key_rate_limiter`]), or no limit.
    pub fn new(auth: Authenticator, limiter: Option<Arc<KeyRateLimiter>>) -> Self {
        Self {
            auth: Arc::new(auth),
            limiter,
        }
    }
}

impl<S> Layer<S> for ApiLayer {
    type Service = ApiService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiService {
            inner,
            auth: self.auth.clone(),
            limiter: self.limiter.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct ApiService<S> {
    inner: S,
    auth: Arc<Authenticator>,
    limiter: Option<Arc<KeyRateLimiter>>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ApiService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<MeteredBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one to call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let limiter = self.limiter.clone();
        let rpc = RpcName::from_path(request.uri().path());
        let scope = RequestScope {
            id: request_id(request.headers()),
            rpc: rpc.method,
        };
        let header_id = HeaderValue::from_str(&scope.id).ok();
        let meter = Meter {
            rpc,
            start: Instant::now(),
            request_id: header_id.clone(),
        };
        let future = async move {
            if rpc.needs_auth {
                let authorized = authenticate(&auth, request.headers())
                    .await
                    .and_then(|caller| authorize(&caller, rpc).map(|()| caller))
                    .and_then(|caller| rate_limit(limiter.as_deref(), &caller).map(|()| caller));
                match authorized {
                    Ok(caller) => {
                        request.extensions_mut().insert(caller);
                    }
                    Err(err) => {
                        let mut response: Response<ResBody> = tonic::Status::from(err).into_http();
                        if let Some(id) = header_id {
                            response.headers_mut().insert(REQUEST_ID_HEADER, id);
                        }
                        return Ok(MeteredBody::wrap(response, meter));
                    }
                }
            }
            let mut response = inner.call(request).await?;
            if let Some(replaced) = undecodable_request(response.headers()) {
                response = replaced.into_http();
            }
            if let Some(id) = header_id {
                response.headers_mut().insert(REQUEST_ID_HEADER, id);
            }
            Ok(MeteredBody::wrap(response, meter))
        };
        Box::pin(REQUEST.scope(scope, future))
    }
}

/// A request tonic could not decode (bad protobuf, broken gRPC framing) is
/// the client's error: tonic answers INTERNAL without details, which this
/// turns into INVALID_ARGUMENT with the usual ErrorInfo, BadRequest and
/// RequestInfo. Every INTERNAL the service itself makes carries details, so
/// those are left alone.
fn undecodable_request(headers: &HeaderMap) -> Option<tonic::Status> {
    let status = tonic::Status::from_header_map(headers)?;
    if status.code() != Code::Internal || headers.contains_key("grpc-status-details-bin") {
        return None;
    }
    Some(tonic::Status::from(Error::invalid(
        "request",
        format!("is not a valid request message: {}", status.message()),
    )))
}

/// Reads the credentials from the metadata and authenticates them.
async fn authenticate(auth: &Authenticator, headers: &HeaderMap) -> Result<Caller, Error> {
    let (key, secret) = credentials(headers)?;
    let subject = headers.get(SUBJECT_HEADER).map(HeaderValue::as_bytes);
    auth.authenticate_for(key, secret, subject).await
}

/// Refuses writes to VIEWER keys and pack-limited keys. Finer rules (creator
/// or ADMIN, platform admin, which reads a limited key may make) are the
/// domain's; this one holds for every RPC, present and future.
fn authorize(caller: &Caller, rpc: RpcName) -> Result<(), Error> {
    if is_read_only(rpc.method) {
        return Ok(());
    }
    match caller {
        Caller::Member {
            role: Role::Viewer, ..
        } => Err(Error::PermissionDenied(
            "viewer api keys may only read (Get, List, Search, Resolve, Export, Watch)".into(),
        )),
        Caller::Member { packs: Some(_), .. } => Err(Error::PermissionDenied(
            "pack-limited api keys may only read (Get, List, Search, Resolve, Export, Watch)"
                .into(),
        )),
        _ => Ok(()),
    }
}

/// Charges one call to the caller's key; RATE_LIMITED when its quota is spent.
pub fn rate_limit(limiter: Option<&KeyRateLimiter>, caller: &Caller) -> Result<(), Error> {
    use governor::clock::{Clock, DefaultClock};
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter
        .check_key(&caller.actor().to_owned())
        .map_err(|not_until| Error::RateLimited {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
}

/// Returns whether an RPC only reads, judged by the AIP verb of its name.
fn is_read_only(method: &str) -> bool {
    ["Get", "List", "Search", "Resolve", "Export", "Watch"]
        .iter()
        .any(|verb| method.starts_with(verb))
}

/// Extracts `(key id, secret)` from `authorization: Bearer <key>.<secret>`,
/// from `x-api-key` + `x-api-secret`, or from `x-api-key: <key>.<secret>`
/// alone (seed 002's single header). Key ids and secrets hold no `.`, so the
/// first one splits the token.
pub fn credentials(headers: &HeaderMap) -> Result<(&str, &str), Error> {
    const MALFORMED: &str = "malformed credentials: send x-api-key and x-api-secret, x-api-key: <key>.<secret>, or authorization: Bearer <key>.<secret>";
    if let Some(value) = headers.get(http::header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| Error::Unauthenticated(MALFORMED))?;
        let (scheme, token) = value
            .split_once(' ')
            .ok_or(Error::Unauthenticated(MALFORMED))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Error::Unauthenticated(MALFORMED));
        }
        return token
            .trim()
            .split_once('.')
            .ok_or(Error::Unauthenticated(MALFORMED));
    }
    match (headers.get(API_KEY), headers.get(API_SECRET)) {
        (Some(key), Some(secret)) => Ok((
            key.to_str()
                .map_err(|_| Error::Unauthenticated(MALFORMED))?,
            secret
                .to_str()
                .map_err(|_| Error::Unauthenticated(MALFORMED))?,
        )),
        (Some(token), None) => token
            .to_str()
            .map_err(|_| Error::Unauthenticated(MALFORMED))?
            .trim()
            .split_once('.')
            .ok_or(Error::Unauthenticated(
                "malformed credentials: x-api-key without x-api-secret must carry the whole token <key>.<secret>",
            )),
        (None, None) => Err(Error::Unauthenticated(
            "missing credentials: send x-api-key and x-api-secret, x-api-key: <key>.<secret>, or authorization: Bearer <key>.<secret>",
        )),
        (None, Some(_)) => Err(Error::Unauthenticated(MALFORMED)),
    }
}

/// Returns the client's request id when it is short printable ASCII, else a new one.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(new_request_id)
}

/// A new request id, `req_` and 32 hex digits: this process's random prefix
/// (64 bits, drawn once) and a counter, so ids never repeat within a process
/// and practically never across replicas. No system call, one allocation:
/// it is made for every request.
fn new_request_id() -> String {
    use std::fmt::Write;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = String::with_capacity(36);
    id.push_str("req_");
    let _ = write!(id, "{prefix:016x}{n:016x}");
    id
}

/// Service and method of an RPC, restricted to known services so that a
/// client sending random paths cannot grow the metrics' label sets.
#[derive(Clone, Copy, Debug)]
struct RpcName {
    service: &'static str,
    method: &'static str,
    needs_auth: bool,
    /// Index in `KNOWN_RPCS`, or its length for an unknown RPC: where its
    /// metric handles are kept ([`RpcMetrics`]).
    index: usize,
}

impl RpcName {
    fn from_path(path: &str) -> Self {
        let known = crate::grpc::KNOWN_RPCS;
        let unknown = Self {
            service: "unknown",
            method: "unknown",
            needs_auth: true,
            index: known.len(),
        };
        let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
            return unknown;
        };
        let Some(index) = known
            .iter()
            .position(|(s, m)| *s == service && *m == method)
        else {
            return Self {
                needs_auth: !is_public_service(service),
                ..unknown
            };
        };
        let (service, method) = known[index];
        Self {
            service,
            method,
            needs_auth: !is_public_service(service),
            index,
        }
    }
}

/// Every gRPC code, in `Code` order (what `grpc_server_handled_total` counts by).
const CODES: usize = 17;

/// One RPC's metric handles, registered once: recording is then a few
/// atomic operations, with no registry look-up or label building per call.
struct RpcMetrics {
    handled: [std::sync::OnceLock<metrics::Counter>; CODES],
    seconds: metrics::Histogram,
}

/// The handles of every known RPC, then of the unknown ones. The recorder is
/// installed first, so that no handle is a no-op left from before it.
fn rpc_metrics(rpc: RpcName) -> &'static RpcMetrics {
    static ALL: std::sync::OnceLock<Box<[RpcMetrics]>> = std::sync::OnceLock::new();
    let all = ALL.get_or_init(|| {
        crate::telemetry::metrics_handle();
        let known = crate::grpc::KNOWN_RPCS;
        (0..=known.len())
            .map(|i| {
                let (service, method) = known.get(i).copied().unwrap_or(("unknown", "unknown"));
                RpcMetrics {
                    handled: Default::default(),
                    seconds: metrics::histogram!(
                        "grpc_server_handling_seconds",
                        "grpc_service" => service,
                        "grpc_method" => method,
                    ),
                }
            })
            .collect()
    });
    &all[rpc.index.min(all.len() - 1)]
}

/// Health and reflection answer without an API key.
fn is_public_service(service: &str) -> bool {
    service.starts_with("grpc.health.") || service.starts_with("grpc.reflection.")
}

/// What to record once the final status of an RPC is known.
struct Meter {
    rpc: RpcName,
    start: Instant,
    /// For the log line: the body finishes outside the request's scope.
    request_id: Option<HeaderValue>,
}

impl Meter {
    fn finish(self, code: Code) {
        let elapsed = self.start.elapsed();
        let code_name = code_name(code);
        let handles = rpc_metrics(self.rpc);
        let slot = (code as usize).min(CODES - 1);
        handles.handled[slot]
            .get_or_init(|| {
                metrics::counter!(
                    "grpc_server_handled_total",
                    "grpc_service" => self.rpc.service,
                    "grpc_method" => self.rpc.method,
                    "grpc_code" => code_name,
                )
            })
            .increment(1);
        handles.seconds.record(elapsed.as_secs_f64());
        let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
        let request_id = self.request_id.as_ref().and_then(|id| id.to_str().ok());
        let request_id = request_id.unwrap_or_default();
        let (service, method) = (self.rpc.service, self.rpc.method);
        if code != Code::Ok {
            tracing::info!(
                request_id,
                service,
                method,
                code = code_name,
                elapsed_ms,
                "rpc finished"
            );
        } else if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!(
                request_id,
                service,
                method,
                code = code_name,
                elapsed_ms,
                "rpc finished"
            );
        }
    }
}

/// Response body that reports the RPC's gRPC code when it becomes known.
pub struct MeteredBody<B> {
    inner: B,
    meter: Option<Meter>,
}

impl<B> MeteredBody<B> {
    fn wrap(response: Response<B>, meter: Meter) -> Response<Self> {
        // A trailers-only answer (every error tonic produces, and our
        // UNAUTHENTICATED) has its grpc-status in the headers already.
        let code = grpc_status(response.headers());
        let meter = match code {
            Some(code) => {
                meter.finish(code);
                None
            }
            None => Some(meter),
        };
        response.map(|inner| Self { inner, meter })
    }
}

impl<B> Drop for MeteredBody<B> {
    fn drop(&mut self) {
        // Dropped before its trailers: the client went away.
        if let Some(meter) = self.meter.take() {
            meter.finish(Code::Cancelled);
        }
    }
}

impl<B> Default for MeteredBody<B>
where
    B: Default,
{
    fn default() -> Self {
        Self {
            inner: B::default(),
            meter: None,
        }
    }
}

impl<B> Body for MeteredBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(meter) = this.meter.take()
                {
                    meter.finish(grpc_status(trailers).unwrap_or(Code::Unknown));
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(meter) = this.meter.take() {
                    meter.finish(Code::Internal);
                }
            }
            Poll::Ready(None) => {
                if let Some(meter) = this.meter.take() {
                    meter.finish(Code::Unknown);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|value| Code::from_bytes(value.as_bytes()))
}

/// Returns the canonical UPPER_SNAKE_CASE name of a gRPC code.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn credentials_come_from_either_style() {
        let h = headers(&[("x-api-key", "key_1"), ("x-api-secret", "s")]);
        assert_eq!(credentials(&h).expect("pair"), ("key_1", "s"));
        let h = headers(&[("authorization", "Bearer key_1.mcpr_abc")]);
        assert_eq!(credentials(&h).expect("bearer"), ("key_1", "mcpr_abc"));
        let h = headers(&[("authorization", "bearer key_1.x")]);
        assert!(credentials(&h).is_ok());
        let h = headers(&[("x-api-key", "key_1.mcpr_abc")]);
        assert_eq!(
            credentials(&h).expect("single header"),
            ("key_1", "mcpr_abc")
        );
        // With its secret beside it, x-api-key is the key id, whatever it holds.
        let h = headers(&[("x-api-key", "key_1.x"), ("x-api-secret", "s")]);
        assert_eq!(credentials(&h).expect("pair"), ("key_1.x", "s"));
    }

    #[test]
    fn incomplete_or_malformed_credentials_are_unauthenticated() {
        for h in [
            headers(&[]),
            headers(&[("x-api-key", "key_1")]),
            headers(&[("x-api-key", "")]),
            headers(&[("x-api-secret", "s")]),
            headers(&[("authorization", "Basic a2V5OnNlY3JldA==")]),
            headers(&[("authorization", "Bearer nodot")]),
            headers(&[("authorization", "Bearer")]),
        ] {
            assert!(matches!(credentials(&h), Err(Error::Unauthenticated(_))));
        }
    }

    #[test]
    fn request_ids_are_taken_when_sane_and_made_otherwise() {
        assert_eq!(request_id(&headers(&[("x-request-id", "abc-1")])), "abc-1");
        assert!(request_id(&headers(&[("x-request-id", "a b")])).starts_with("req_"));
        assert!(request_id(&headers(&[])).starts_with("req_"));
    }

    #[test]
    fn viewers_may_only_read() {
        let viewer = Caller::Member {
            key_id: "key_1".into(),
            organization_id: "org_1".into(),
            role: Role::Viewer,
            packs: None,
            subject: None,
        };
        let rpc = |path| RpcName::from_path(path);
        assert!(authorize(&viewer, rpc("/mcpregistry.v1.PackService/ResolvePack")).is_ok());
        assert!(
            authorize(
                &viewer,
                rpc("/mcpregistry.v1.McpServerService/ListServerTools")
            )
            .is_ok()
        );
        assert!(
            authorize(
                &viewer,
                rpc("/mcpregistry.v1.McpServerService/CreateMcpServer")
            )
            .is_err()
        );
        assert!(authorize(&viewer, rpc("/mcpregistry.v1.SyncService/SyncMcpServer")).is_err());
        // Unknown paths count as writes.
        assert!(authorize(&viewer, rpc("/x.Y/GetZ")).is_err());
    }

    #[test]
    fn pack_limited_keys_may_only_read_whatever_their_role() {
        let limited = Caller::Member {
            key_id: "key_1".into(),
            organization_id: "org_1".into(),
            role: Role::Admin,
            packs: Some(Arc::from(vec!["pack_1".to_owned()])),
            subject: None,
        };
        let rpc = |path| RpcName::from_path(path);
        assert!(authorize(&limited, rpc("/mcpregistry.v1.PackService/GetPack")).is_ok());
        for write in [
            "/mcpregistry.v1.PackService/UpdatePack",
            "/mcpregistry.v1.McpServerService/ApproveTools",
            "/mcpregistry.v1.SyncService/SyncMcpServer",
            "/x.Y/GetZ",
        ] {
            assert!(
                matches!(
                    authorize(&limited, rpc(write)),
                    Err(Error::PermissionDenied(_))
                ),
                "{write}"
            );
        }
    }

    #[test]
    fn unknown_paths_do_not_create_new_metric_labels() {
        let rpc = RpcName::from_path("/evil.Service/Random123");
        assert_eq!((rpc.service, rpc.method), ("unknown", "unknown"));
        assert!(rpc.needs_auth);
        let health = RpcName::from_path("/grpc.health.v1.Health/Check");
        assert_eq!(health.method, "Check");
        assert!(!health.needs_auth);
        assert!(RpcName::from_path("/mcpregistry.v1.AdminService/GetOrganization").needs_auth);
    }
}
