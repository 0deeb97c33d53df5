//! gRPC-Web behind `--grpc-web`: browser-style calls over HTTP/1.1, CORS
//! preflights, and plain gRPC unchanged beside them.

use mcp_registry::pb;
use mcp_registry::registry::Plan;

use crate::helpers::TestApp;

/// A gRPC-Web call over HTTP/1.1: status, response headers, the message and
/// the trailers.
struct WebResponse {
    status: u16,
    headers: reqwest::header::HeaderMap,
    message: Option<Vec<u8>>,
    trailers: String,
}

impl WebResponse {
    /// `grpc-status` from the trailers, or from the headers of a
    /// trailers-only answer.
    fn grpc_status(&self) -> String {
        self.trailers
            .lines()
            .find_map(|line| line.trim().strip_prefix("grpc-status:"))
            .map(|s| s.trim().to_owned())
            .or_else(|| {
                self.headers
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    }
}

/// A plain-HTTP client (reqwest needs a crypto provider even for http://).
fn http_client(http1_only: bool) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder();
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().expect("http client")
}

async fn web_call(
    app: &TestApp,
    method: &str,
    message: &impl prost::Message,
    headers: &[(&str, &str)],
) -> Result<WebResponse, reqwest::Error> {
    let body = message.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(body.len()).expect("len").to_be_bytes());
    framed.extend_from_slice(&body);
    let mut request = http_client(true)
        .post(format!("http://{}/{method}", app.addr))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(framed);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await?;
    let (mut message, mut trailers, mut at) = (None, String::new(), 0);
    while at + 5 <= bytes.len() {
        let flag = bytes[at];
        let len = u32::from_be_bytes([bytes[at + 1], bytes[at + 2], bytes[at + 3], bytes[at + 4]])
            as usize;
        let frame = &bytes[at + 5..(at + 5 + len).min(bytes.len())];
        if flag & 0x80 == 0 {
            message = Some(frame.to_vec());
        } else {
            trailers.push_str(&String::from_utf8_lossy(frame));
        }
        at += 5 + len;
    }
    Ok(WebResponse {
        status,
        headers,
        message,
        trailers,
    })
}

async fn grpc_web_calls_work_over_http1_next_to_plain_grpc(app: TestApp) {
    use prost::Message;
    // Health, unauthenticated as always.
    let health = web_call(
        &app,
        "grpc.health.v1.Health/Check",
        &tonic_health::pb::HealthCheckRequest::default(),
        &[],
    )
    .await
    .expect("health over gRPC-Web");
    assert_eq!(health.status, 200);
    assert_eq!(health.grpc_status(), "0", "{}", health.trailers);
    let answer = tonic_health::pb::HealthCheckResponse::decode(
        health.message.as_deref().expect("a message"),
    )
    .expect("decode");
    assert_eq!(
        answer.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    // An API call with a key, and the same without one.
    let org = app.org("acme", Plan::Pro).await;
    app.create_server(&org.admin, crate::helpers::server("web"))
        .await;
    let listed = web_call(
        &app,
        "mcpregistry.v1.McpServerService/ListMcpServers",
        &pb::ListMcpServersRequest::default(),
        &[
            ("x-api-key", org.viewer.key_id()),
            ("x-api-secret", org.viewer.secret()),
        ],
    )
    .await
    .expect("list over gRPC-Web");
    assert_eq!(listed.grpc_status(), "0", "{}", listed.trailers);
    let page = pb::ListMcpServersResponse::decode(listed.message.as_deref().expect("message"))
        .expect("decode");
    assert_eq!(page.mcp_servers.len(), 1);
    assert_eq!(page.mcp_servers[0].name, "web");
    let refused = web_call(
        &app,
        "mcpregistry.v1.McpServerService/ListMcpServers",
        &pb::ListMcpServersRequest::default(),
        &[],
    )
    .await
    .expect("call");
    assert_eq!(refused.grpc_status(), "16", "UNAUTHENTICATED");

    // A browser's CORS preflight from another origin.
    let preflight = http_client(true)
        .request(
            reqwest::Method::OPTIONS,
            format!(
                "http://{}/mcpregistry.v1.McpServerService/ListMcpServers",
                app.addr
            ),
        )
        .header("origin", "https://console.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-api-key,x-api-secret,x-grpc-web",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{preflight:?}");
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://console.example.com")
    );

    // Plain gRPC (HTTP/2) is unchanged.
    let plain = app
        .servers_as(&org.viewer)
        .list_mcp_servers(pb::ListMcpServersRequest::default())
        .await
        .expect("plain gRPC")
        .into_inner();
    assert_eq!(plain.mcp_servers.len(), 1);
}

/// The answers the caches keep encoded reach gRPC-Web clients as they reach
/// gRPC ones, from the database and from memory.
async fn grpc_web_gets_the_cached_answers(app: TestApp) {
    use prost::Message;
    let org = app.org("acme", Plan::Pro).await;
    let created = app
        .create_server(&org.admin, crate::helpers::server("web"))
        .await;
    crate::helpers::synced(&app, &created.id, &[crate::helpers::tool("a")]).await;
    let pack = app
        .packs_as(&org.admin)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "p".into(),
                description: "a pack".into(),
                servers: vec![pb::PackServer {
                    server_id: created.id.clone(),
                    name: String::new(),
                }],
                ..Default::default()
            }),
        })
        .await
        .expect("pack")
        .into_inner();
    let key = [
        ("x-api-key", org.viewer.key_id()),
        ("x-api-secret", org.viewer.secret()),
    ];
    let get = pb::GetMcpServerRequest {
        lookup: Some(pb::get_mcp_server_request::Lookup::Id(created.id.clone())),
    };
    let resolve = pb::ResolvePackRequest {
        id: pack.id.clone(),
        version: 0,
    };
    let plain_get = app
        .servers_as(&org.viewer)
        .get_mcp_server(get.clone())
        .await;
    let plain_list = (app.servers_as(&org.viewer))
        .list_mcp_servers(pb::ListMcpServersRequest::default())
        .await;
    let plain_resolve = app
        .packs_as(&org.viewer)
        .resolve_pack(resolve.clone())
        .await;
    // Twice each: the second answer is a cache hit.
    for _ in 0..2 {
        let get = web_message(&app, "McpServerService/GetMcpServer", &get, &key).await;
        let got = pb::McpServer::decode(get.as_slice()).expect("decode");
        assert_eq!(Some(&got), plain_get.as_ref().ok().map(|r| r.get_ref()));
        let access = got.access_info.expect("access");
        assert_eq!((access.role(), access.can_edit), (pb::Role::Viewer, false));
        let list = pb::ListMcpServersRequest::default();
        let listed = web_message(&app, "McpServerService/ListMcpServers", &list, &key).await;
        let listed = pb::ListMcpServersResponse::decode(listed.as_slice()).expect("decode");
        assert_eq!(Some(&listed), plain_list.as_ref().ok().map(|r| r.get_ref()));
        let resolved = web_message(&app, "PackService/ResolvePack", &resolve, &key).await;
        let resolved = pb::ResolvePackResponse::decode(resolved.as_slice()).expect("decode");
        assert_eq!(
            Some(&resolved),
            plain_resolve.as_ref().ok().map(|r| r.get_ref())
        );
        assert_eq!(resolved.tools.len(), 1);
    }
}

/// The message of a successful gRPC-Web call of `mcpregistry.v1.<method>`.
async fn web_message(
    app: &TestApp,
    method: &str,
    message: &impl prost::Message,
    headers: &[(&str, &str)],
) -> Vec<u8> {
    let method = format!("mcpregistry.v1.{method}");
    let answer = web_call(app, &method, message, headers)
        .await
        .expect("gRPC-Web call");
    assert_eq!(answer.grpc_status(), "0", "{method}: {}", answer.trailers);
    answer.message.expect("a message")
}

async fn without_the_flag_http1_is_refused(app: TestApp) {
    let result = web_call(
        &app,
        "grpc.health.v1.Health/Check",
        &tonic_health::pb::HealthCheckRequest::default(),
        &[],
    )
    .await;
    // The HTTP/2-only listener drops an HTTP/1.1 request.
    let err = result.err().expect("HTTP/1.1 refused without --grpc-web");
    assert!(err.is_request() || err.is_connect(), "{err:?}");
}

crate::on_sqlite_with!(crate::helpers::Options { grpc_web: true, ..crate::helpers::Options::default() };
    grpc_web_calls_work_over_http1_next_to_plain_grpc,
    grpc_web_gets_the_cached_answers,
);
crate::on_sqlite_with!(crate::helpers::Options::default(); without_the_flag_http1_is_refused);
