//! SeaORM entities, one module per table. Private to the store.

pub mod organization {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "organizations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub plan: String,
        pub created_at: i64,
        pub updated_at: i64,
        pub revision: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub organization_id: Option<String>,
        pub role: Option<String>,
        pub platform_admin: bool,
        pub display_name: String,
        pub secret_hash: String,
        pub created_at: i64,
        pub created_by: String,
        pub last_used_at: Option<i64>,
        pub revoked_at: Option<i64>,
        /// JSON array of pack ids; NULL when the key is not pack-limited.
        pub pack_ids: Option<String>,
        /// A service key: its calls may name the end user they act for.
        pub acts_for_users: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod mcp_server {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mcp_servers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub organization_id: Option<String>,
        pub scope: String,
        pub visibility: String,
        pub name: String,
        pub display_name: String,
        pub description: String,
        pub url: String,
        pub icon_url: String,
        pub documentation_url: String,
        pub registry_name: String,
        pub registry_version: String,
        pub category: String,
        pub transport: String,
        pub auth_type: String,
        pub auth_header_name: Option<String>,
        pub credentials: Option<String>,
        pub credentials_updated_at: Option<i64>,
        pub request_headers: String,
        pub approval_policy: String,
        pub tools_enabled: bool,
        pub allowed_tools: String,
        pub config: String,
        pub enabled: bool,
        pub status: String,
        pub detected_transport: Option<String>,
        pub server_info: Option<String>,
        pub last_synced_at: Option<i64>,
        pub last_successful_sync_at: Option<i64>,
        pub last_error: Option<String>,
        pub tool_count: i64,
        pub prompt_count: i64,
        pub resource_count: i64,
        pub resource_template_count: i64,
        pub tool_approvals: String,
        pub next_sync_at: Option<i64>,
        pub created_at: i64,
        pub updated_at: i64,
        pub created_by: String,
        pub modified_by: String,
        /// The end user a service key acted for; NULL for a key acting for itself.
        pub created_by_subject: Option<String>,
        pub modified_by_subject: Option<String>,
        pub revision: i64,
        /// Replica holding the scheduler lease (see store/leases.rs).
        pub lease_owner: Option<String>,
        pub lease_expires_at: Option<i64>,
        pub consecutive_failures: i32,
        /// JSON of the `SecretRef` the credentials use; NULL for none.
        pub credentials_secret: Option<String>,
        /// Counts the writes of syncs (state, capabilities), as `revision`
        /// counts a caller's: stored pack resolutions compare both.
        pub sync_revision: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod server_capability {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "server_capabilities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub server_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub definition: String,
        pub definition_hash: String,
        pub discovered_at: i64,
        pub changed_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pack {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "packs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub organization_id: String,
        pub name: String,
        pub description: String,
        pub version: i64,
        pub created_at: i64,
        pub updated_at: i64,
        pub created_by: String,
        pub modified_by: String,
        /// The end user a service key acted for; NULL for a key acting for itself.
        pub created_by_subject: Option<String>,
        pub modified_by_subject: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pack_resolution {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pack_resolutions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pack_id: String,
        /// The version asked for; 0 for the current members.
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        pub format: String,
        pub inputs: String,
        pub answer: Vec<u8>,
        pub computed_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pack_member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pack_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pack_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub server_id: String,
        pub position: i32,
        /// The pack's tool settings for the member, as JSON (`{}` for none).
        pub tool_settings: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::pack::Entity",
            from = "Column::PackId",
            to = "super::pack::Column::Id"
        )]
        Pack,
    }

    impl Related<super::pack::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Pack.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pack_revision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pack_revisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pack_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        pub author: String,
        pub created_at: i64,
        pub change_kind: String,
        pub changed_servers: String,
        pub updated_fields: String,
        pub restored_from_version: i64,
        pub name: String,
        pub description: String,
        pub members: String,
        /// JSON array of the tool names a TOOL_SETTINGS_UPDATED revision changed.
        pub changed_tools: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sync_run {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sync_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub server_id: String,
        pub scope: String,
        pub server_name: String,
        pub trigger: String,
        pub started_at: i64,
        pub finished_at: Option<i64>,
        pub outcome: String,
        pub transport: Option<String>,
        pub protocol_version: String,
        pub results: String,
        pub changes: String,
        pub error: Option<String>,
        pub instance_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub scope: String,
        pub at: i64,
        pub actor: String,
        /// The end user the actor (a service key) acted for.
        pub actor_subject: Option<String>,
        pub request_id: String,
        pub action: String,
        pub resource_type: String,
        pub resource_id: String,
        /// JSON array of `registry::audit::FieldChange`.
        pub changes: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod tool_call {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tool_calls")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub organization_id: String,
        pub at: i64,
        pub key_id: String,
        pub pack_id: String,
        pub pack_version: i64,
        pub server_id: String,
        pub tool_name: String,
        pub called_name: String,
        pub outcome: String,
        pub detail: String,
        pub duration_micros: i64,
        pub request_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod secret {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "secrets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub organization_id: String,
        pub name: String,
        pub description: String,
        /// JSON array of the value names.
        pub value_names: String,
        /// Sealed JSON object of the values by name (AAD: the secret id).
        pub sealed_values: String,
        pub created_at: i64,
        pub created_by: String,
        pub updated_at: i64,
        pub updated_by: String,
        pub rotated_at: i64,
        pub rotated_by: String,
        pub revision: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod secret_reference {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "secret_references")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub secret_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub server_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod oauth_client {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oauth_clients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub server_id: String,
        pub issuer: String,
        /// JSON array.
        pub redirect_uris: String,
        pub sealed_client: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod oauth_state {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oauth_states")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub state_hash: String,
        pub server_id: String,
        pub scope: String,
        pub subject: String,
        pub redirect_uri: String,
        pub sealed_request: String,
        pub created_by: String,
        pub created_at: i64,
        pub expires_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod oauth_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oauth_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub server_id: String,
        pub scope: String,
        pub subject: String,
        pub issuer: String,
        pub token_endpoint: String,
        pub revocation_endpoint: Option<String>,
        pub resource: String,
        pub client_id: Option<String>,
        pub sealed_tokens: String,
        pub access_expires_at: Option<i64>,
        /// JSON array.
        pub scopes: String,
        pub status: String,
        pub reason: String,
        pub connected_by: String,
        pub connected_at: i64,
        pub refreshed_at: Option<i64>,
        pub version: i64,
        pub refresh_claimed_until: Option<i64>,
        pub refresh_claimed_by: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
