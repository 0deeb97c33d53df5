//! Abuse limits: the per-key rate limit, the request size limit, concurrent
//! streams per connection, WatchSyncEvents streams per organization, and
//! client deadlines.

use std::time::Duration;

use mcp_registry::pb;
use mcp_registry::registry::Plan;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{TestApp, assert_error, server};

async fn serving(app: &TestApp) {
    let status = tonic_health::pb::health_client::HealthClient::new(app.channel.clone())
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        status.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
}

async fn a_key_over_its_rate_limit_is_told_when_to_retry(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    // 10 calls per second with a burst of 10: 50 calls in a row cannot all pass.
    let mut refused = None;
    for _ in 0..50 {
        match app
            .servers_as(&org.viewer)
            .list_mcp_servers(pb::ListMcpServersRequest::default())
            .await
        {
            Ok(_) => {}
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let status = assert_error(
        Err::<(), _>(refused.expect("the limit was reached")),
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
    let retry = status
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo with a delay");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(1),
        "{retry:?}"
    );

    // Another key of the same organization has its own quota.
    app.servers_as(&org.member)
        .list_mcp_servers(pb::ListMcpServersRequest::default())
        .await
        .expect("another key is not limited");
    // After the advertised delay the key may call again.
    tokio::time::sleep(retry).await;
    app.servers_as(&org.viewer)
        .list_mcp_servers(pb::ListMcpServersRequest::default())
        .await
        .expect("allowed again after RetryInfo's delay");
    // Health is never limited.
    for _ in 0..20 {
        serving(&app).await;
    }
}

async fn an_oversized_request_is_refused_and_the_service_goes_on(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    let mut big = server("big");
    big.description = "x".repeat(100 * 1024);
    let status = app
        .servers_as(&org.admin)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(big),
        })
        .await
        .expect_err("over the 64 KiB limit");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
    // A request under the limit on the same connection still works.
    app.create_server(&org.admin, server("small")).await;
    serving(&app).await;
}

async fn a_connection_gets_no_more_streams_than_the_limit(app: TestApp) {
    let org = app.org("acme", Plan::Pro).await;
    // Two long-lived streams on the app's one connection use both slots.
    let first = app
        .sync_as(&org.viewer)
        .watch_sync_events(pb::WatchSyncEventsRequest::default())
        .await
        .expect("first stream")
        .into_inner();
    let _second = app
        .sync_as(&org.viewer)
        .watch_sync_events(pb::WatchSyncEventsRequest::default())
        .await
        .expect("second stream")
        .into_inner();
    // A third call on the same connection waits for a free stream …
    let mut client = app.servers_as(&org.viewer);
    let mut third = tokio::spawn(async move {
        client
            .list_mcp_servers(pb::ListMcpServersRequest::default())
            .await
    });
    let waited = tokio::time::timeout(Duration::from_millis(500), &mut third).await;
    assert!(waited.is_err(), "a third stream was opened: {waited:?}");
    // … and runs as soon as one closes.
    drop(first);
    let listed = tokio::time::timeout(Duration::from_secs(20), third)
        .await
        .expect("ran once a stream was free")
        .expect("task");
    listed.expect("the third call succeeded");
}

async fn an_organization_holds_at_most_its_share_of_event_streams(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let other = app.org("other", Plan::Pro).await;
    let watch = |auth: &crate::helpers::Auth| {
        let mut client = app.sync_as(auth);
        async move {
            client
                .watch_sync_events(pb::WatchSyncEventsRequest::default())
                .await
        }
    };
    let first = watch(&acme.viewer).await.expect("first").into_inner();
    let _second = watch(&acme.admin).await.expect("second").into_inner();
    let status = assert_error(
        watch(&acme.member).await,
        Code::ResourceExhausted,
        "TOO_MANY_WATCHERS",
    );
    assert!(status.message().contains("close one"), "{status:?}");
    // Another organization is not affected.
    let _theirs = watch(&other.viewer).await.expect("other org").into_inner();
    // A closed stream frees its place.
    drop(first);
    let mut reopened = None;
    for _ in 0..100 {
        if let Ok(stream) = watch(&acme.member).await {
            reopened = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened.is_some(), "the closed stream's place was freed");
}

async fn a_client_deadline_ends_a_call_that_waits_on_a_hanging_upstream(app: TestApp) {
    let port = crate::helpers::hanging_upstream().await;
    let org = app.org("acme", Plan::Pro).await;
    let mut stuck = server("stuck");
    stuck.url = format!("http://127.0.0.1:{port}/mcp");
    let stuck = app.create_server(&org.admin, stuck).await;
    // Sent by hand so that only the server's reading of `grpc-timeout` can
    // end the call (a tonic client would also enforce it itself). Without
    // the deadline the call would wait for the 10 s sync deadline.
    use prost::Message;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body = pb::SyncMcpServerRequest {
        id: stuck.id,
        ..Default::default()
    }
    .encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(body.len()).expect("len").to_be_bytes());
    framed.extend_from_slice(&body);
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .expect("client")
            .post(format!(
                "http://{}/mcpregistry.v1.SyncService/SyncMcpServer",
                app.addr
            ))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("grpc-timeout", "300m")
            .header("x-api-key", org.admin.key_id())
            .header("x-api-secret", org.admin.secret())
            .body(framed)
            .send(),
    )
    .await
    .expect("the server ended the call at its deadline")
    .expect("response");
    // tonic ends an expired call with CANCELLED ("Timeout expired").
    assert_eq!(
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok()),
        Some("1"),
        "{response:?}"
    );
    serving(&app).await;
}

crate::on_sqlite_with!(crate::helpers::Options { rate_limit: std::num::NonZeroU32::new(10), ..crate::helpers::Options::default() };
    a_key_over_its_rate_limit_is_told_when_to_retry,
);
crate::on_sqlite_with!(crate::helpers::Options { max_message_bytes: Some(64 * 1024), ..crate::helpers::Options::default() };
    an_oversized_request_is_refused_and_the_service_goes_on,
);
crate::on_sqlite_with!(crate::helpers::Options { max_concurrent_streams: Some(2), ..crate::helpers::Options::default() };
    a_connection_gets_no_more_streams_than_the_limit,
);
crate::on_sqlite_with!(crate::helpers::Options { max_watchers_per_org: Some(2), ..crate::helpers::Options::default() };
    an_organization_holds_at_most_its_share_of_event_streams,
);
crate::on_sqlite_with!(crate::helpers::Options { insecure_upstreams: true, private_upstreams: true, sync_timeout: Some(std::time::Duration::from_secs(3)), ..crate::helpers::Options::default() };
    a_client_deadline_ends_a_call_that_waits_on_a_hanging_upstream,
);
