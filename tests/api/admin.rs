//! AdminService end to end, and what the API key table holds at rest.

use mcp_registry::pb;
use mcp_registry::registry::{Plan, Role};
use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::{Auth, TestApp, assert_error, violated_fields};
use crate::on_both_backends;

fn new_org(name: &str, plan: pb::Plan) -> pb::CreateOrganizationRequest {
    pb::CreateOrganizationRequest {
        organization: Some(pb::Organization {
            name: name.into(),
            plan: plan as i32,
            ..Default::default()
        }),
    }
}

fn org_key(org: &str, role: pb::Role) -> pb::CreateApiKeyRequest {
    pb::CreateApiKeyRequest {
        api_key: Some(pb::ApiKey {
            organization_id: org.into(),
            role: role as i32,
            display_name: "ci".into(),
            ..Default::default()
        }),
    }
}

/// Creates the PRO organization "Acme Corp".
async fn acme_corp(app: &TestApp) -> pb::Organization {
    app.admin()
        .create_organization(new_org("Acme Corp", pb::Plan::Pro))
        .await
        .expect("create")
        .into_inner()
}

async fn a_new_organization_gets_an_id_and_an_etag(app: TestApp) {
    let created = acme_corp(&app).await;
    assert!(
        created.id.starts_with("org_") && created.id.len() == 36,
        "{}",
        created.id
    );
    assert_eq!(created.name, "Acme Corp");
    assert_eq!(created.plan(), pb::Plan::Pro);
    assert!(created.created_at.is_some() && !created.etag.is_empty());
}

async fn an_organization_reads_back_as_created(app: TestApp) {
    let created = acme_corp(&app).await;
    let fetched = app
        .admin()
        .get_organization(pb::GetOrganizationRequest {
            id: created.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(fetched, created);
}

async fn a_new_organization_is_listed(app: TestApp) {
    let created = acme_corp(&app).await;
    let listed = app
        .admin()
        .list_organizations(pb::ListOrganizationsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.total_size, 1);
    assert_eq!(listed.organizations, vec![created]);
    assert!(listed.next_page_token.is_empty());
}

async fn listing_organizations_walks_every_page_once_in_creation_order(app: TestApp) {
    let mut admin = app.admin();
    let mut ids = Vec::new();
    for i in 0..7 {
        let org = admin
            .create_organization(new_org(&format!("org {i}"), pb::Plan::Free))
            .await
            .expect("create")
            .into_inner();
        ids.push(org.id);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = admin
            .list_organizations(pb::ListOrganizationsRequest {
                page_size: 3,
                page_token: token.clone(),
            })
            .await
            .expect("page")
            .into_inner();
        pages += 1;
        assert_eq!(page.total_size, 7);
        assert!(page.organizations.len() <= 3);
        seen.extend(page.organizations.into_iter().map(|o| o.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);
}

async fn creating_an_organization_reports_every_invalid_field_at_once(app: TestApp) {
    let mut admin = app.admin();
    let result = admin
        .create_organization(pb::CreateOrganizationRequest {
            organization: Some(pb::Organization {
                name: String::new(),
                plan: 99,
                ..Default::default()
            }),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        vec!["organization.name", "organization.plan"]
    );

    let result = admin
        .create_organization(new_org("ok", pb::Plan::Unspecified))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["organization.plan"]);

    let result = admin
        .create_organization(new_org(&"x".repeat(201), pb::Plan::Pro))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["organization.name"]);

    let result = admin
        .create_organization(pb::CreateOrganizationRequest { organization: None })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["organization"]);
}

async fn a_duplicate_organization_name_already_exists(app: TestApp) {
    let mut admin = app.admin();
    admin
        .create_organization(new_org("Acme", pb::Plan::Pro))
        .await
        .expect("first");
    let result = admin
        .create_organization(new_org("Acme", pb::Plan::Free))
        .await;
    assert_error(result, Code::AlreadyExists, "ALREADY_EXISTS");
}

async fn getting_an_unknown_or_malformed_organization_id_fails_precisely(app: TestApp) {
    let mut admin = app.admin();
    let result = admin
        .get_organization(pb::GetOrganizationRequest {
            id: "org_0123456789abcdef0123456789abcdef".into(),
        })
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
    for id in ["", "acme", "org_XYZ"] {
        let result = admin
            .get_organization(pb::GetOrganizationRequest { id: id.into() })
            .await;
        let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(violated_fields(&status), vec!["id"]);
    }
}

/// Returns an update of organization `id` (no etag when `etag` is empty;
/// an empty mask when `paths` is empty).
fn org_update(
    id: &str,
    change: pb::Organization,
    etag: &str,
    paths: &[&str],
) -> pb::UpdateOrganizationRequest {
    pb::UpdateOrganizationRequest {
        organization: Some(pb::Organization {
            id: id.into(),
            etag: etag.into(),
            ..change
        }),
        update_mask: (!paths.is_empty()).then(|| FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    }
}

/// Returns a change of the name to `name`.
fn named(name: &str) -> pb::Organization {
    pb::Organization {
        name: name.into(),
        ..Default::default()
    }
}

/// Returns the FREE organization "Acme", created by the platform admin.
async fn acme(app: &TestApp) -> pb::Organization {
    app.admin()
        .create_organization(new_org("Acme", pb::Plan::Free))
        .await
        .expect("create")
        .into_inner()
}

/// Moves `org` to ENTERPRISE through a mask of `plan` that also carries a name.
async fn to_enterprise(app: &TestApp, org: &pb::Organization) -> pb::Organization {
    let change = pb::Organization {
        name: "Ignored".into(),
        plan: pb::Plan::Enterprise as i32,
        ..Default::default()
    };
    app.admin()
        .update_organization(org_update(&org.id, change, &org.etag, &["plan"]))
        .await
        .expect("update plan")
        .into_inner()
}

async fn updating_an_organization_changes_only_the_fields_in_its_mask(app: TestApp) {
    let org = acme(&app).await;
    // Only `plan` is in the mask: the name in the request is ignored.
    let updated = to_enterprise(&app, &org).await;
    assert_eq!(updated.plan(), pb::Plan::Enterprise);
    assert_eq!(updated.name, "Acme");
    assert_ne!(updated.etag, org.etag);
    assert_eq!(updated.created_at, org.created_at);
}

async fn updating_an_organization_with_a_stale_etag_is_aborted(app: TestApp) {
    let org = acme(&app).await;
    to_enterprise(&app, &org).await;
    let result = app
        .admin()
        .update_organization(org_update(&org.id, named("Acme 2"), &org.etag, &[]))
        .await;
    assert_error(result, Code::Aborted, "ETAG_MISMATCH");
}

async fn an_organization_update_without_mask_or_etag_changes_the_populated_fields(app: TestApp) {
    let org = acme(&app).await;
    let updated = to_enterprise(&app, &org).await;
    let renamed = app
        .admin()
        .update_organization(org_update(&org.id, named("Acme 2"), "", &[]))
        .await
        .expect("rename")
        .into_inner();
    assert_eq!(renamed.name, "Acme 2");
    assert_eq!(renamed.plan(), pb::Plan::Enterprise);
    assert_ne!(renamed.etag, updated.etag);
}

async fn updating_an_organization_rejects_bad_masks(app: TestApp) {
    let org = acme(&app).await;
    let mut admin = app.admin();
    let paths = ["created_at", "owner", "name"];
    let result = admin
        .update_organization(org_update(&org.id, named(""), "", &paths))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        vec!["update_mask", "update_mask", "organization.name"]
    );
    let result = admin
        .update_organization(org_update(&org.id, named(""), "", &[]))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["update_mask"]);
}

async fn renaming_an_organization_to_a_taken_name_already_exists(app: TestApp) {
    let org = acme(&app).await;
    let mut admin = app.admin();
    admin
        .create_organization(new_org("Other", pb::Plan::Free))
        .await
        .expect("create");
    let result = admin
        .update_organization(org_update(&org.id, named("Other"), "", &[]))
        .await;
    assert_error(result, Code::AlreadyExists, "ALREADY_EXISTS");
}

async fn updating_an_unknown_organization_is_not_found(app: TestApp) {
    let ghost = "org_0123456789abcdef0123456789abcdef";
    let result = app
        .admin()
        .update_organization(org_update(ghost, named("Ghost"), "", &[]))
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
}

/// Creates a MEMBER key of a new organization "acme" (and a VIEWER key of
/// "other"); returns the organization and the key as handed out.
async fn member_key(app: &TestApp) -> (String, pb::ApiKey) {
    let org = app.create_org("acme", Plan::Pro).await;
    let other_org = app.create_org("other", Plan::Pro).await;
    let created = app
        .admin()
        .create_api_key(org_key(&org, pb::Role::Member))
        .await
        .expect("create key")
        .into_inner();
    app.create_key(&other_org, Role::Viewer).await;
    (org, created)
}

async fn a_new_api_key_authenticates_with_the_secret_shown_once(app: TestApp) {
    let (org, created) = member_key(&app).await;
    assert!(created.id.starts_with("key_"));
    assert!(created.secret.starts_with("mcpr_"), "secret shown once");
    assert_eq!(created.organization_id, org);
    assert_eq!(created.role(), pb::Role::Member);
    assert_eq!(created.display_name, "ci");
    assert!(!created.revoked && created.revoked_at.is_none());
    assert_eq!(created.created_by, app.platform.key_id());

    // The new key authenticates (and, as a member, is refused AdminService).
    let auth = Auth::Pair(created.id.clone(), created.secret.clone());
    let result = app
        .admin_as(&auth)
        .list_organizations(pb::ListOrganizationsRequest::default())
        .await;
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
}

async fn api_keys_are_listed_without_secrets(app: TestApp) {
    let (org, created) = member_key(&app).await;
    let mut admin = app.admin();
    let listed = admin
        .list_api_keys(pb::ListApiKeysRequest {
            organization_id: org.clone(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.total_size, 1);
    assert_eq!(listed.api_keys[0].id, created.id);
    assert!(
        listed.api_keys.iter().all(|k| k.secret.is_empty()),
        "never a secret in a list"
    );
    let all = admin
        .list_api_keys(pb::ListApiKeysRequest::default())
        .await
        .expect("list all")
        .into_inner();
    assert_eq!(all.total_size, 3, "platform key, member key, viewer key");
}

async fn revoking_a_key_twice_keeps_the_first_revocation(app: TestApp) {
    let (_, created) = member_key(&app).await;
    let mut admin = app.admin();
    let revoke = || pb::RevokeApiKeyRequest {
        id: created.id.clone(),
    };
    let revoked = admin
        .revoke_api_key(revoke())
        .await
        .expect("revoke")
        .into_inner();
    assert!(revoked.revoked && revoked.revoked_at.is_some());
    assert!(revoked.secret.is_empty());
    let again = admin
        .revoke_api_key(revoke())
        .await
        .expect("revoking twice is fine")
        .into_inner();
    assert_eq!(
        again.revoked_at, revoked.revoked_at,
        "first revocation time kept"
    );
}

async fn revoking_an_unknown_key_is_not_found(app: TestApp) {
    let result = app
        .admin()
        .revoke_api_key(pb::RevokeApiKeyRequest {
            id: "key_0123456789abcdef0123456789abcdef".into(),
        })
        .await;
    assert_error(result, Code::NotFound, "NOT_FOUND");
}

async fn creating_an_api_key_for_an_unknown_organization_is_invalid(app: TestApp) {
    let result = app
        .admin()
        .create_api_key(org_key(
            "org_0123456789abcdef0123456789abcdef",
            pb::Role::Admin,
        ))
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["api_key.organization_id"]);
}

async fn creating_an_api_key_rejects_bad_scopes(app: TestApp) {
    let mut admin = app.admin();
    let result = admin
        .create_api_key(pb::CreateApiKeyRequest {
            api_key: Some(pb::ApiKey::default()),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        vec!["api_key.organization_id", "api_key.role"]
    );

    let org = app.create_org("acme", Plan::Pro).await;
    let result = admin
        .create_api_key(pb::CreateApiKeyRequest {
            api_key: Some(pb::ApiKey {
                organization_id: org,
                role: pb::Role::Admin as i32,
                platform_admin: true,
                ..Default::default()
            }),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        vec!["api_key.organization_id", "api_key.role"]
    );

    let result = admin
        .create_api_key(pb::CreateApiKeyRequest { api_key: None })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["api_key"]);
}

async fn list_requests_reject_negative_page_sizes(app: TestApp) {
    let mut admin = app.admin();
    let result = admin
        .list_organizations(pb::ListOrganizationsRequest {
            page_size: -1,
            page_token: String::new(),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["page_size"]);
    let result = admin
        .list_api_keys(pb::ListApiKeysRequest {
            organization_id: "org_0123456789abcdef0123456789abcdef".into(),
            page_size: -5,
            page_token: String::new(),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["page_size"]);
}

async fn list_requests_reject_tampered_page_tokens(app: TestApp) {
    let mut admin = app.admin();
    for i in 0..3 {
        app.create_org(&format!("org {i}"), Plan::Free).await;
    }
    let one_page = |page_token: String| pb::ListOrganizationsRequest {
        page_size: 1,
        page_token,
    };
    let first = admin
        .list_organizations(one_page(String::new()))
        .await
        .expect("first page")
        .into_inner();
    let token = first.next_page_token;
    assert!(!token.is_empty());

    // Flip one character of the payload: the signature no longer matches.
    let mut tampered: Vec<char> = token.chars().collect();
    tampered[1] = if tampered[1] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    for bad in [tampered.as_str(), "garbage", "e30.AAAA"] {
        let result = admin.list_organizations(one_page(bad.into())).await;
        let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(violated_fields(&status), vec!["page_token"]);
    }

    // A token of one query is refused by another.
    let result = admin
        .list_api_keys(pb::ListApiKeysRequest {
            page_token: token.clone(),
            ..Default::default()
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["page_token"]);

    // The untouched token still works.
    let second = admin
        .list_organizations(one_page(token))
        .await
        .expect("second page")
        .into_inner();
    assert_eq!(second.organizations.len(), 1);
    assert_ne!(second.organizations[0].id, first.organizations[0].id);
}

async fn listing_the_keys_of_an_unknown_organization_is_invalid(app: TestApp) {
    let result = app
        .admin()
        .list_api_keys(pb::ListApiKeysRequest {
            organization_id: "org_0123456789abcdef0123456789abcdef".into(),
            ..Default::default()
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), vec!["organization_id"]);
}

async fn the_api_key_table_holds_no_secret(app: TestApp) {
    let org = app.create_org("acme", Plan::Pro).await;
    let mut secrets = vec![app.platform.secret().to_owned()];
    for role in [Role::Admin, Role::Member, Role::Viewer] {
        secrets.push(app.create_key(&org, role).await.secret().to_owned());
    }
    let via_api = app
        .admin()
        .create_api_key(org_key(&org, pb::Role::Admin))
        .await
        .expect("create")
        .into_inner();
    secrets.push(via_api.secret);

    let rows = app.store.dump_table("api_keys").await.expect("dump");
    assert_eq!(rows.len(), 5);
    for secret in &secrets {
        // Neither the whole secret nor its random part may be stored.
        let random_part = secret.trim_start_matches("mcpr_");
        for row in &rows {
            assert!(!row.contains(random_part), "secret found at rest: {row}");
        }
    }
}

on_both_backends!(
    a_new_organization_gets_an_id_and_an_etag,
    an_organization_reads_back_as_created,
    a_new_organization_is_listed,
    listing_organizations_walks_every_page_once_in_creation_order,
    creating_an_organization_reports_every_invalid_field_at_once,
    a_duplicate_organization_name_already_exists,
    getting_an_unknown_or_malformed_organization_id_fails_precisely,
    updating_an_organization_changes_only_the_fields_in_its_mask,
    updating_an_organization_with_a_stale_etag_is_aborted,
    an_organization_update_without_mask_or_etag_changes_the_populated_fields,
    updating_an_organization_rejects_bad_masks,
    renaming_an_organization_to_a_taken_name_already_exists,
    updating_an_unknown_organization_is_not_found,
    a_new_api_key_authenticates_with_the_secret_shown_once,
    api_keys_are_listed_without_secrets,
    revoking_a_key_twice_keeps_the_first_revocation,
    revoking_an_unknown_key_is_not_found,
    creating_an_api_key_for_an_unknown_organization_is_invalid,
    creating_an_api_key_rejects_bad_scopes,
    list_requests_reject_negative_page_sizes,
    list_requests_reject_tampered_page_tokens,
    listing_the_keys_of_an_unknown_organization_is_invalid,
    the_api_key_table_holds_no_secret,
);
