//! End-user subjects: a service key (`acts_for_users`) names the user it
//! acts for in `x-mcp-registry-subject`. Servers and packs record it, list
//! filters find "my servers" by it, MEMBER ownership follows it across key
//! rotations, audit events show it; any other key sending it is refused, on
//! gRPC and at the pack gateway alike.

use mcp_registry::pb;
use mcp_registry::pb::audit_service_client::AuditServiceClient;
use mcp_registry::pb::mcp_server_service_client::McpServerServiceClient;
use mcp_registry::pb::pack_service_client::PackServiceClient;
use mcp_registry::registry::Plan;
use tonic::codegen::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::helpers::{Auth, TestApp, assert_error, server, violated_fields};
use crate::on_both_backends;

const SUBJECT: &str = "x-mcp-registry-subject";

/// A key's credentials and, when set, the raw subject metadata it sends.
#[derive(Clone, Debug)]
struct As {
    auth: Auth,
    subject: Option<Vec<u8>>,
}

impl Interceptor for As {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let mut request = self.auth.call(request)?;
        if let Some(subject) = &self.subject {
            let value = tonic::metadata::MetadataValue::try_from(subject.as_slice())
                .expect("a metadata value");
            request.metadata_mut().insert(SUBJECT, value);
        }
        Ok(request)
    }
}

type Subjected = InterceptedService<Channel, As>;

fn acting(auth: &Auth, subject: &str) -> As {
    As {
        auth: auth.clone(),
        subject: Some(subject.as_bytes().to_vec()),
    }
}

fn itself(auth: &Auth) -> As {
    As {
        auth: auth.clone(),
        subject: None,
    }
}

fn servers(app: &TestApp, who: &As) -> McpServerServiceClient<Subjected> {
    McpServerServiceClient::with_interceptor(app.channel.clone(), who.clone())
}

fn packs(app: &TestApp, who: &As) -> PackServiceClient<Subjected> {
    PackServiceClient::with_interceptor(app.channel.clone(), who.clone())
}

/// Creates a service key of `org` with `role` through CreateApiKey.
pub(crate) async fn service_key(app: &TestApp, org: &str, role: pb::Role) -> Auth {
    let key = app
        .admin()
        .create_api_key(pb::CreateApiKeyRequest {
            api_key: Some(pb::ApiKey {
                organization_id: org.into(),
                role: role as i32,
                acts_for_users: true,
                ..Default::default()
            }),
        })
        .await
        .expect("create service key")
        .into_inner();
    assert!(key.acts_for_users);
    Auth::Pair(key.id, key.secret)
}

async fn create(app: &TestApp, who: &As, name: &str) -> Result<pb::McpServer, Status> {
    servers(app, who)
        .create_mcp_server(pb::CreateMcpServerRequest {
            mcp_server: Some(server(name)),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn rename(app: &TestApp, who: &As, id: &str, display: &str) -> Result<pb::McpServer, Status> {
    servers(app, who)
        .update_mcp_server(pb::UpdateMcpServerRequest {
            mcp_server: Some(pb::McpServer {
                id: id.into(),
                display_name: display.into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Names of the servers `who` lists with `filter`.
async fn listed(app: &TestApp, who: &As, filter: pb::McpServerFilter) -> Vec<String> {
    servers(app, who)
        .list_mcp_servers(pb::ListMcpServersRequest {
            filter: Some(filter),
            ..Default::default()
        })
        .await
        .expect("list servers")
        .into_inner()
        .mcp_servers
        .into_iter()
        .map(|s| s.name)
        .collect()
}

fn mine() -> pb::McpServerFilter {
    pb::McpServerFilter {
        mine: true,
        ..Default::default()
    }
}

fn by_subject(subject: &str) -> pb::McpServerFilter {
    pb::McpServerFilter {
        created_by_subject: subject.into(),
        ..Default::default()
    }
}

/// The acceptance bullet: a service key acting for alice creates a server,
/// alice's "my servers" lists it and not bob's, and after the key is rotated
/// (a new service key, the old one revoked) alice still edits it, bob does not.
async fn ownership_follows_the_subject_across_a_key_rotation(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let service = service_key(&app, &acme.id, pb::Role::Member).await;
    let alice = acting(&service, "alice@example.com");
    let bob = acting(&service, "bob");
    let hers = create(&app, &alice, "alices").await.expect("alice creates");
    assert_eq!(hers.created_by, service.key_id());
    assert_eq!(hers.created_by_subject, "alice@example.com");
    assert_eq!(hers.modified_by_subject, "alice@example.com");
    let access = hers.access_info.expect("access info");
    assert!(access.is_creator && access.can_edit, "{access:?}");
    let his = create(&app, &bob, "bobs").await.expect("bob creates");
    let own = create(&app, &itself(&service), "services")
        .await
        .expect("key creates");
    assert_eq!(own.created_by_subject, "");
    app.create_server(&acme.member, server("members")).await;

    assert_eq!(listed(&app, &alice, mine()).await, ["alices"]);
    assert_eq!(listed(&app, &bob, mine()).await, ["bobs"]);
    assert_eq!(listed(&app, &itself(&service), mine()).await, ["services"]);
    assert_eq!(
        listed(&app, &itself(&acme.member), mine()).await,
        ["members"]
    );
    let viewer = itself(&acme.viewer);
    assert_eq!(listed(&app, &viewer, by_subject("bob")).await, ["bobs"]);
    assert!(listed(&app, &viewer, by_subject("carol")).await.is_empty());
    // Bob sees alice's server (same organization) but may not change it.
    let seen = servers(&app, &bob)
        .get_mcp_server(pb::GetMcpServerRequest {
            lookup: Some(pb::get_mcp_server_request::Lookup::Id(hers.id.clone())),
        })
        .await
        .expect("bob reads alice's server")
        .into_inner();
    let access = seen.access_info.expect("access info");
    assert!(!access.is_creator && !access.can_edit, "{access:?}");
    let refused = rename(&app, &bob, &hers.id, "bob's now").await;
    assert_error(refused, Code::PermissionDenied, "PERMISSION_DENIED");
    // The key acting for itself does not own what it created for alice.
    let refused = rename(&app, &itself(&service), &hers.id, "the service's").await;
    assert_error(refused, Code::PermissionDenied, "PERMISSION_DENIED");

    // Rotation: a new service key, the old one revoked.
    let rotated = service_key(&app, &acme.id, pb::Role::Member).await;
    app.admin()
        .revoke_api_key(pb::RevokeApiKeyRequest {
            id: service.key_id().into(),
        })
        .await
        .expect("revoke the old key");
    let renamed = rename(
        &app,
        &acting(&rotated, "alice@example.com"),
        &hers.id,
        "Alice's",
    )
    .await
    .expect("alice edits through the new key");
    assert_eq!(renamed.display_name, "Alice's");
    assert_eq!(renamed.created_by, service.key_id());
    assert_eq!(renamed.modified_by, rotated.key_id());
    assert_eq!(renamed.modified_by_subject, "alice@example.com");
    let refused = rename(&app, &acting(&rotated, "bob"), &hers.id, "nope").await;
    assert_error(refused, Code::PermissionDenied, "PERMISSION_DENIED");
    let alice_now = acting(&rotated, "alice@example.com");
    assert_eq!(listed(&app, &alice_now, mine()).await, ["alices"]);
    rename(&app, &acting(&rotated, "bob"), &his.id, "Bob's")
        .await
        .expect("bob edits his own");
    // An ADMIN key edits whatever its organization's users created.
    rename(&app, &itself(&acme.admin), &hers.id, "by admin")
        .await
        .expect("admin edits");
}

/// A key that is not a service key may not send a subject, whatever its role
/// (PERMISSION_DENIED, even for a read), and a platform-admin key cannot be a
/// service key.
async fn only_service_keys_may_send_a_subject(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    for auth in [&acme.admin, &acme.member, &acme.viewer, &app.platform] {
        let who = acting(auth, "alice");
        let result = create(&app, &who, "impostor").await;
        assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
        let result = servers(&app, &who)
            .list_mcp_servers(pb::ListMcpServersRequest::default())
            .await;
        assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
    }
    let result = app
        .admin()
        .create_api_key(pb::CreateApiKeyRequest {
            api_key: Some(pb::ApiKey {
                platform_admin: true,
                acts_for_users: true,
                ..Default::default()
            }),
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["api_key.acts_for_users"]);
    // Listed keys show the flag.
    let service = service_key(&app, &acme.id, pb::Role::Member).await;
    let keys = app
        .admin()
        .list_api_keys(pb::ListApiKeysRequest {
            organization_id: acme.id.clone(),
            ..Default::default()
        })
        .await
        .expect("list keys")
        .into_inner()
        .api_keys;
    for key in keys {
        assert_eq!(key.acts_for_users, key.id == service.key_id(), "{key:?}");
    }
}

/// An invalid subject is INVALID_ARGUMENT naming the metadata; an invalid
/// `created_by_subject` filter (or one combined with `mine`) names the field.
async fn invalid_subjects_are_refused(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let service = service_key(&app, &acme.id, pb::Role::Member).await;
    let long = "x".repeat(129);
    let bad: [&[u8]; 6] = [
        b"",
        b" alice",
        b"alice ",
        long.as_bytes(),
        b"al\tice",
        b"\xff\xfe",
    ];
    for subject in bad {
        let who = As {
            auth: service.clone(),
            subject: Some(subject.to_vec()),
        };
        let result = create(&app, &who, "bad").await;
        let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(violated_fields(&status), [SUBJECT], "{subject:?}");
    }
    // At the limits: 128 characters (not bytes), inner spaces, non-ASCII.
    let longest = "é".repeat(128);
    let who = As {
        auth: service.clone(),
        subject: Some(longest.as_bytes().to_vec()),
    };
    let created = create(&app, &who, "longest").await.expect("128 characters");
    assert_eq!(created.created_by_subject, longest);
    create(&app, &acting(&service, "Alice Doe"), "spaced")
        .await
        .expect("inner spaces");

    let viewer = itself(&acme.viewer);
    for filter in [
        by_subject(&long),
        by_subject(" padded"),
        pb::McpServerFilter {
            created_by_subject: "alice".into(),
            mine: true,
            ..Default::default()
        },
    ] {
        let result = servers(&app, &viewer)
            .list_mcp_servers(pb::ListMcpServersRequest {
                filter: Some(filter),
                ..Default::default()
            })
            .await;
        let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(violated_fields(&status), ["filter.created_by_subject"]);
    }
    let result = packs(&app, &viewer)
        .list_packs(pb::ListPacksRequest {
            created_by_subject: "\u{0}".into(),
            ..Default::default()
        })
        .await;
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["created_by_subject"]);
}

/// Packs record the subject, list by it, and MEMBER ownership follows it;
/// audit events show the subject of their actor.
async fn packs_and_audit_events_record_the_subject(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let service = service_key(&app, &acme.id, pb::Role::Member).await;
    let alice = acting(&service, "alice");
    let pack = packs(&app, &alice)
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "alices".into(),
                description: "Alice's tools".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("alice creates a pack")
        .into_inner();
    assert_eq!(pack.created_by_subject, "alice");
    packs(&app, &acting(&service, "bob"))
        .create_pack(pb::CreatePackRequest {
            pack: Some(pb::Pack {
                name: "bobs".into(),
                description: "Bob's tools".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("bob creates a pack");
    let names = |response: pb::ListPacksResponse| -> Vec<String> {
        response.packs.into_iter().map(|p| p.name).collect()
    };
    let listed = packs(&app, &alice)
        .list_packs(pb::ListPacksRequest {
            mine: true,
            ..Default::default()
        })
        .await
        .expect("alice's packs")
        .into_inner();
    assert_eq!(names(listed), ["alices"]);
    let listed = packs(&app, &itself(&acme.viewer))
        .list_packs(pb::ListPacksRequest {
            created_by_subject: "bob".into(),
            ..Default::default()
        })
        .await
        .expect("bob's packs")
        .into_inner();
    assert_eq!(names(listed), ["bobs"]);
    let update = |who: &As, description: &str| {
        let mut client = packs(&app, who);
        let request = pb::UpdatePackRequest {
            pack: Some(pb::Pack {
                id: pack.id.clone(),
                description: description.into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["description".into()],
            }),
        };
        async move {
            client
                .update_pack(request)
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let refused = update(&acting(&service, "bob"), "bob's").await;
    assert_error(refused, Code::PermissionDenied, "PERMISSION_DENIED");
    let rotated = service_key(&app, &acme.id, pb::Role::Member).await;
    let updated = update(&acting(&rotated, "alice"), "alice's")
        .await
        .expect("alice updates");
    assert_eq!(updated.modified_by_subject, "alice");
    assert_eq!(updated.modified_by, rotated.key_id());

    let events = AuditServiceClient::with_interceptor(app.channel.clone(), acme.admin.clone())
        .list_audit_events(pb::ListAuditEventsRequest {
            resource_type: pb::AuditResourceType::Pack as i32,
            resource_id: pack.id.clone(),
            ..Default::default()
        })
        .await
        .expect("audit events")
        .into_inner()
        .events;
    let actors: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.actor_subject.as_str()))
        .collect();
    assert_eq!(actors, [("pack.update", "alice"), ("pack.create", "alice")]);
}

/// The subject filters combine with the text search: ListMcpServers
/// `query` with `mine`/`created_by_subject`, and ListPacks `query` with
/// `mine`, whose page tokens are bound to every filter (and to the subject
/// `mine` resolves to).
async fn subject_filters_combine_with_the_text_search(app: TestApp) {
    let acme = app.org("acme", Plan::Pro).await;
    let service = service_key(&app, &acme.id, pb::Role::Member).await;
    let (alice, bob) = (acting(&service, "alice"), acting(&service, "bob"));
    for (who, name, description) in [
        (&alice, "tracker-a", "Jira issues"),
        (&alice, "code-a", "GitHub repositories"),
        (&bob, "tracker-b", "Jira issues"),
    ] {
        servers(&app, who)
            .create_mcp_server(pb::CreateMcpServerRequest {
                mcp_server: Some(pb::McpServer {
                    description: description.into(),
                    ..server(name)
                }),
            })
            .await
            .expect("create server");
    }
    let jira = |filter: pb::McpServerFilter| pb::McpServerFilter {
        query: "jira".into(),
        ..filter
    };
    assert_eq!(listed(&app, &alice, jira(mine())).await, ["tracker-a"]);
    assert_eq!(listed(&app, &bob, jira(mine())).await, ["tracker-b"]);
    let viewer = itself(&acme.viewer);
    assert_eq!(
        listed(&app, &viewer, jira(by_subject("bob"))).await,
        ["tracker-b"]
    );
    assert!(listed(&app, &viewer, jira(mine())).await.is_empty());

    for (who, name) in [
        (&alice, "team-one"),
        (&alice, "solo"),
        (&alice, "team-two"),
        (&bob, "team-bob"),
    ] {
        packs(&app, who)
            .create_pack(pb::CreatePackRequest {
                pack: Some(pb::Pack {
                    name: name.into(),
                    description: format!("{name} tools"),
                    ..Default::default()
                }),
            })
            .await
            .expect("create pack");
    }
    let page = |query: &str, mine: bool, page_token: String| pb::ListPacksRequest {
        page_size: 1,
        page_token,
        query: query.into(),
        mine,
        ..Default::default()
    };
    let list = |who: &As, request: pb::ListPacksRequest| {
        let mut client = packs(&app, who);
        async move {
            client
                .list_packs(request)
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let first = list(&alice, page("team", true, String::new()))
        .await
        .expect("first page");
    assert_eq!(first.total_size, 2);
    let token = first.next_page_token.clone();
    let second = list(&alice, page("team", true, token.clone()))
        .await
        .expect("second page");
    let names: Vec<String> = first
        .packs
        .into_iter()
        .chain(second.packs)
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["team-one", "team-two"]);
    assert!(second.next_page_token.is_empty());
    for (who, query, mine) in [
        (&alice, "team", false),
        (&alice, "tools", true),
        (&bob, "team", true),
    ] {
        let result = list(who, page(query, mine, token.clone())).await;
        let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(
            violated_fields(&status),
            ["page_token"],
            "{query} mine={mine}"
        );
    }
}

/// The pack gateway takes the header under the same rules: a service key's
/// valid subject passes, any other key sending one is 403, an invalid one
/// 400 (both a JSON-RPC error naming the header), and the key comes first.
async fn the_gateway_takes_a_subject_only_from_a_service_key_and_only_valid(app: TestApp) {
    let served = crate::gateway::pack_with(&app, &[crate::helpers::tool("search")]).await;
    let service = service_key(&app, &served.org.id, pb::Role::Viewer).await;
    let url = crate::gateway::endpoint(&app, &served.pack.id);
    let list = || crate::gateway::request("tools/list", serde_json::json!({}));
    let send = |auth: &Auth, subject: &[u8]| {
        let (url, auth, subject) = (url.clone(), auth.clone(), subject.to_vec());
        async move {
            let headers = [(SUBJECT, subject.as_slice())];
            crate::gateway::call_with(&url, &auth, &headers, list()).await
        }
    };
    let (status, _, body) = send(&service, "alice@example.com".as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["tools"].as_array().map(Vec::len), Some(1));
    let org = &served.org;
    for auth in [&org.admin, &org.member, &org.viewer] {
        let (status, _, body) = send(auth, b"alice@example.com").await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], -32001, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(SUBJECT), "{message}");
    }
    let long = "x".repeat(129);
    // HTTP trims a value's outer whitespace, so only inner faults reach it.
    for bad in [long.as_bytes(), b"al\tice", b"\xff\xfe"] {
        let (status, _, body) = send(&service, bad).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(body["error"]["code"], -32001, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("invalid {SUBJECT}: ")),
            "{message}"
        );
    }
    // An unknown key learns nothing about subjects: 401 first.
    let unknown = Auth::Pair(service.key_id().to_owned(), "wrong".into());
    let (status, challenge, _) = send(&unknown, b"\xff").await;
    assert_eq!(status, 401);
    assert!(!challenge.is_empty());
}

on_both_backends!(
    ownership_follows_the_subject_across_a_key_rotation,
    only_service_keys_may_send_a_subject,
    invalid_subjects_are_refused,
    packs_and_audit_events_record_the_subject,
    subject_filters_combine_with_the_text_search,
);

crate::on_both_backends_with!(crate::helpers::Options {
    gateway: true,
    ..crate::helpers::Options::default()
};
    the_gateway_takes_a_subject_only_from_a_service_key_and_only_valid,
);
