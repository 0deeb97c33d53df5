//! Health, reflection, metrics and the parts of the contract not built yet.

use mcp_registry::pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::StreamExt;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1alpha as ra;

use crate::helpers::{Backend, Options, TestApp, TestDatabase, spawn_app};
use crate::on_both_backends;

async fn health_check_answers_serving_without_an_api_key(app: TestApp) {
    let mut health = HealthClient::new(app.channel.clone());
    for service in [
        "",
        "mcpregistry.v1.AdminService",
        "mcpregistry.v1.McpServerService",
    ] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
}

/// The services every reflection version must list.
const SERVICES: [&str; 5] = [
    "grpc.health.v1.Health",
    "mcpregistry.v1.AdminService",
    "mcpregistry.v1.McpServerService",
    "mcpregistry.v1.PackService",
    "mcpregistry.v1.SyncService",
];

/// Asserts that `names` holds every one of [`SERVICES`].
fn assert_lists_every_service(version: &str, names: &[String]) {
    for service in SERVICES {
        assert!(
            names.iter().any(|n| n == service),
            "{version} lacks {service}: {names:?}"
        );
    }
}

/// Sends `requests` to reflection v1alpha; returns the responses in order.
async fn reflect_v1alpha(
    app: &TestApp,
    requests: Vec<ra::server_reflection_request::MessageRequest>,
) -> Vec<ra::server_reflection_response::MessageResponse> {
    let mut client = ra::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let count = requests.len();
    let requests = requests
        .into_iter()
        .map(|request| ra::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        });
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("reflection v1alpha")
        .into_inner();
    let mut responses = Vec::new();
    for _ in 0..count {
        let Some(Ok(response)) = stream.next().await else {
            panic!("no v1alpha response");
        };
        responses.push(response.message_response.expect("a message"));
    }
    responses
}

async fn reflection_v1_lists_every_service(app: TestApp) {
    use tonic_reflection::pb::v1 as r1;
    let mut client = r1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let request = r1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(r1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection v1")
        .into_inner();
    let Some(Ok(response)) = stream.next().await else {
        panic!("no reflection v1 response");
    };
    let Some(r1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("unexpected v1 response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert_lists_every_service("v1", &names);
}

async fn reflection_v1alpha_lists_every_service(app: TestApp) {
    let list = ra::server_reflection_request::MessageRequest::ListServices(String::new());
    let responses = reflect_v1alpha(&app, vec![list]).await;
    let Some(ra::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        responses.into_iter().next()
    else {
        panic!("unexpected v1alpha response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert_lists_every_service("v1alpha", &names);
}

/// v1alpha also resolves the google.rpc error-detail types for clients
/// such as grpcurl that decode BadRequest and ErrorInfo.
async fn reflection_v1alpha_resolves_the_error_detail_types(app: TestApp) {
    let symbol = ra::server_reflection_request::MessageRequest::FileContainingSymbol(
        "google.rpc.BadRequest".into(),
    );
    let responses = reflect_v1alpha(&app, vec![symbol]).await;
    assert!(
        matches!(
            responses.first(),
            Some(ra::server_reflection_response::MessageResponse::FileDescriptorResponse(_))
        ),
        "google.rpc.BadRequest is not resolvable"
    );
}

on_both_backends!(
    health_check_answers_serving_without_an_api_key,
    reflection_v1_lists_every_service,
    reflection_v1alpha_lists_every_service,
    reflection_v1alpha_resolves_the_error_detail_types,
);

/// Fetches `/metrics` with a minimal HTTP/1.1 request.
pub(crate) async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut body = String::new();
    stream.read_to_string(&mut body).await.expect("read");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    body
}

/// Returns /metrics after one successful and one invalid call, or `None`
/// without the backend.
async fn metrics_after_two_calls(backend: Backend) -> Option<String> {
    let database = TestDatabase::create(backend).await?;
    let (app, guard) = spawn_app(
        database,
        Options {
            metrics: true,
            ..Options::default()
        },
    )
    .await;
    let mut admin = app.admin();
    admin
        .list_organizations(pb::ListOrganizationsRequest::default())
        .await
        .expect("list");
    let _ = admin
        .get_organization(pb::GetOrganizationRequest { id: "bad".into() })
        .await
        .expect_err("invalid id");
    let body = scrape(app.metrics_addr.expect("metrics enabled")).await;
    drop(admin);
    drop(app);
    guard.stop().await;
    Some(body)
}

/// Asserts that some line of `body` holds every one of `needles`.
fn assert_has(body: &str, needles: &[&str]) {
    for needle in needles {
        assert!(body.lines().any(|line| line.contains(needle)), "{body}");
    }
}

async fn metrics_count_rpcs_by_code(backend: Backend) {
    let Some(body) = metrics_after_two_calls(backend).await else {
        return;
    };
    assert_has(
        &body,
        &[
            r#"grpc_server_handled_total{grpc_service="mcpregistry.v1.AdminService",grpc_method="ListOrganizations",grpc_code="OK"}"#,
            r#"grpc_code="INVALID_ARGUMENT""#,
            "GetOrganization",
        ],
    );
}

async fn metrics_record_the_latency_of_rpcs(backend: Backend) {
    let Some(body) = metrics_after_two_calls(backend).await else {
        return;
    };
    assert_has(&body, &["grpc_server_handling_seconds_bucket"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_rpcs_by_code_on_sqlite() {
    metrics_count_rpcs_by_code(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_rpcs_by_code_on_postgres() {
    metrics_count_rpcs_by_code(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_record_the_latency_of_rpcs_on_sqlite() {
    metrics_record_the_latency_of_rpcs(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_record_the_latency_of_rpcs_on_postgres() {
    metrics_record_the_latency_of_rpcs(Backend::Postgres).await;
}
