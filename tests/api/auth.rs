//! Authentication and the coarse authorization rules of the middleware.

use mcp_registry::pb;
use mcp_registry::pb::mcp_server_service_client::McpServerServiceClient;
use mcp_registry::registry::{Plan, Role};
use tonic::Code;

use crate::helpers::{Auth, TestApp, assert_error};
use crate::on_both_backends;

fn list_orgs() -> pb::ListOrganizationsRequest {
    pb::ListOrganizationsRequest::default()
}

async fn calls_without_a_key_are_unauthenticated(app: TestApp) {
    let result = app
        .admin_as(&Auth::None)
        .list_organizations(list_orgs())
        .await;
    assert_error(result, Code::Unauthenticated, "UNAUTHENTICATED");
    let result = app
        .servers_as(&Auth::None)
        .list_mcp_servers(pb::ListMcpServersRequest::default())
        .await;
    assert_error(result, Code::Unauthenticated, "UNAUTHENTICATED");
}

async fn a_wrong_secret_or_unknown_key_is_unauthenticated(app: TestApp) {
    let wrong_secret = Auth::Pair(app.platform.key_id().to_owned(), "mcpr_wrong".into());
    let result = app
        .admin_as(&wrong_secret)
        .list_organizations(list_orgs())
        .await;
    assert_error(result, Code::Unauthenticated, "UNAUTHENTICATED");

    let unknown = Auth::Pair(
        "key_0123456789abcdef0123456789abcdef".into(),
        app.platform.secret().to_owned(),
    );
    let result = app.admin_as(&unknown).list_organizations(list_orgs()).await;
    assert_error(result, Code::Unauthenticated, "UNAUTHENTICATED");

    let malformed = Auth::Pair("not-a-key".into(), "x".into());
    let result = app
        .admin_as(&malformed)
        .list_organizations(list_orgs())
        .await;
    assert_error(result, Code::Unauthenticated, "UNAUTHENTICATED");
}

async fn the_bearer_form_authenticates_like_the_header_pair(app: TestApp) {
    let bearer = app.platform.as_bearer();
    app.admin_as(&bearer)
        .list_organizations(list_orgs())
        .await
        .expect("bearer accepted");
    let wrong = Auth::Bearer(app.platform.key_id().to_owned(), "mcpr_wrong".into());
    let result = app.admin_as(&wrong).list_organizations(list_orgs()).await;
    assert_error(result, Code::Unauthenticated, "UNAUTHENTICATED");
}

async fn a_single_x_api_key_header_carrying_the_whole_token_authenticates(app: TestApp) {
    let org = app.create_org("acme", Plan::Pro).await;
    let member = app.create_key(&org, Role::Member).await;
    app.servers_as(&member.as_token())
        .list_mcp_servers(pb::ListMcpServersRequest::default())
        .await
        .expect("x-api-key: <key>.<secret> accepted");
    // The caller is the key itself, with its role: a member may create.
    let created = app
        .create_server(&member.as_token(), crate::helpers::server("search"))
        .await;
    assert_eq!(created.created_by, member.key_id());

    let wrong = Auth::Token(member.key_id().to_owned(), "mcpr_wrong".into());
    let result = app
        .servers_as(&wrong)
        .list_mcp_servers(pb::ListMcpServersRequest::default())
        .await;
    assert_error(result, Code::Unauthenticated, "UNAUTHENTICATED");

    // A lone x-api-key that is not a whole token says what to send.
    for lone in [member.key_id(), ""] {
        let mut request = tonic::Request::new(pb::ListMcpServersRequest::default());
        request
            .metadata_mut()
            .insert("x-api-key", lone.parse().expect("ascii"));
        let result = McpServerServiceClient::new(app.channel.clone())
            .list_mcp_servers(request)
            .await;
        let status = assert_error(result, Code::Unauthenticated, "UNAUTHENTICATED");
        assert!(
            status.message().contains("<key>.<secret>"),
            "{lone:?}: {status:?}"
        );
    }
}

async fn a_revoked_key_is_unauthenticated_from_the_next_call_on(app: TestApp) {
    let org = app.create_org("acme", Plan::Pro).await;
    let member = app.create_key(&org, Role::Member).await;
    // The key works before it is revoked.
    app.packs_as(&member)
        .list_packs(pb::ListPacksRequest::default())
        .await
        .expect("works before revocation");

    app.admin()
        .revoke_api_key(pb::RevokeApiKeyRequest {
            id: member.key_id().to_owned(),
        })
        .await
        .expect("revoke");
    let result = app
        .packs_as(&member)
        .list_packs(pb::ListPacksRequest::default())
        .await;
    let status = assert_error(result, Code::Unauthenticated, "UNAUTHENTICATED");
    assert!(status.message().contains("revoked"), "{status:?}");

    // A revoked platform-admin key loses AdminService too.
    let other = app
        .admin()
        .create_api_key(pb::CreateApiKeyRequest {
            api_key: Some(pb::ApiKey {
                platform_admin: true,
                ..Default::default()
            }),
        })
        .await
        .expect("second platform key")
        .into_inner();
    let other_auth = Auth::Pair(other.id.clone(), other.secret.clone());
    app.admin_as(&other_auth)
        .list_organizations(list_orgs())
        .await
        .expect("works before revocation");
    app.admin()
        .revoke_api_key(pb::RevokeApiKeyRequest { id: other.id })
        .await
        .expect("revoke");
    let result = app
        .admin_as(&other_auth)
        .list_organizations(list_orgs())
        .await;
    assert_error(result, Code::Unauthenticated, "UNAUTHENTICATED");
}

async fn a_viewer_key_is_denied_every_write_but_may_read(app: TestApp) {
    let org = app.create_org("acme", Plan::Pro).await;
    let viewer = app.create_key(&org, Role::Viewer).await;
    let result = app
        .servers_as(&viewer)
        .create_mcp_server(pb::CreateMcpServerRequest::default())
        .await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    let result = app
        .packs_as(&viewer)
        .create_pack(pb::CreatePackRequest::default())
        .await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    let result = app
        .sync_as(&viewer)
        .sync_mcp_server(pb::SyncMcpServerRequest::default())
        .await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    // Reads pass.
    app.packs_as(&viewer)
        .list_packs(pb::ListPacksRequest::default())
        .await
        .expect("viewers read packs");
}

async fn organization_keys_of_every_role_are_denied_admin_service(app: TestApp) {
    let org = app.create_org("acme", Plan::Enterprise).await;
    for role in [Role::Admin, Role::Member, Role::Viewer] {
        let key = app.create_key(&org, role).await;
        let mut client = app.admin_as(&key);
        let result = client.list_organizations(list_orgs()).await;
        assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
        let result = client
            .get_organization(pb::GetOrganizationRequest { id: org.clone() })
            .await;
        assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
        // Denied before validation: bad input still answers PERMISSION_DENIED.
        let result = client
            .create_organization(pb::CreateOrganizationRequest::default())
            .await;
        assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    }
}

async fn using_a_key_records_when_it_was_last_used(app: TestApp) {
    let keys = app
        .admin()
        .list_api_keys(pb::ListApiKeysRequest::default())
        .await
        .expect("list")
        .into_inner();
    let me = keys
        .api_keys
        .iter()
        .find(|k| k.id == app.platform.key_id())
        .expect("own key listed");
    assert!(me.last_used_at.is_some(), "{me:?}");
    assert!(me.secret.is_empty());
}

on_both_backends!(
    calls_without_a_key_are_unauthenticated,
    a_wrong_secret_or_unknown_key_is_unauthenticated,
    the_bearer_form_authenticates_like_the_header_pair,
    a_single_x_api_key_header_carrying_the_whole_token_authenticates,
    a_revoked_key_is_unauthenticated_from_the_next_call_on,
    a_viewer_key_is_denied_every_write_but_may_read,
    organization_keys_of_every_role_are_denied_admin_service,
    using_a_key_records_when_it_was_last_used,
);
