//! Queries on `oauth_clients`, `oauth_states` and `oauth_tokens` (migration
//! 18): registered clients, pending authorizations taken once, and
//! connections whose refresh is claimed on their version, so that one
//! replica refreshes a token while the others wait for the new version.

use anyhow::Context;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::error::Error;
use crate::registry::Micros;
use crate::registry::audit::AuditEvent;
use crate::registry::oauth::{
    Connection, ConnectionStatus, PendingAuthorization, Refreshed, RegisteredClient,
};
use crate::store::audit::insert_audit_event;
use crate::store::entities::{mcp_server, oauth_client, oauth_state, oauth_token};
use crate::store::{Store, Topic};

impl Store {
    /// Stores a client registered for a server.
    pub async fn insert_oauth_client(&self, client: &RegisteredClient) -> Result<(), Error> {
        let row = oauth_client::ActiveModel {
            id: Set(client.id.clone()),
            server_id: Set(client.server_id.clone()),
            issuer: Set(client.issuer.clone()),
            redirect_uris: Set(
                serde_json::to_string(&client.redirect_uris).map_err(Error::internal)?
            ),
            sealed_client: Set(client.sealed.clone()),
            created_at: Set(client.created_at),
        };
        oauth_client::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(|err| match err.sql_err() {
                // The server was deleted meanwhile.
                Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => Error::NotFound {
                    kind: "mcp server",
                    id: client.server_id.clone(),
                },
                _ => Error::from(err),
            })?;
        Ok(())
    }

    /// Returns the newest client registered for `server_id` at `issuer`.
    pub async fn latest_oauth_client(
        &self,
        server_id: &str,
        issuer: &str,
    ) -> Result<Option<RegisteredClient>, Error> {
        oauth_client::Entity::find()
            .filter(oauth_client::Column::ServerId.eq(server_id))
            .filter(oauth_client::Column::Issuer.eq(issuer))
            .order_by_desc(oauth_client::Column::Id)
            .one(&self.db)
            .await?
            .map(client_to_domain)
            .transpose()
    }

    /// Returns the registered client with `id`.
    pub async fn get_oauth_client(&self, id: &str) -> Result<Option<RegisteredClient>, Error> {
        oauth_client::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(client_to_domain)
            .transpose()
    }

    /// Stores a started authorization with its audit event.
    pub async fn insert_oauth_state(
        &self,
        pending: &PendingAuthorization,
        event: &AuditEvent,
    ) -> Result<(), Error> {
        let row = oauth_state::ActiveModel {
            state_hash: Set(pending.state_hash.clone()),
            server_id: Set(pending.server_id.clone()),
            scope: Set(pending.scope.clone()),
            subject: Set(pending.subject.clone()),
            redirect_uri: Set(pending.redirect_uri.clone()),
            sealed_request: Set(pending.sealed.clone()),
            created_by: Set(pending.created_by.clone()),
            created_at: Set(pending.created_at),
            expires_at: Set(pending.expires_at),
        };
        let txn = self.begin_write().await?;
        oauth_state::Entity::insert(row)
            .exec_without_returning(&txn)
            .await?;
        insert_audit_event(&txn, event).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Takes (deletes and returns) the pending authorization with
    /// `state_hash` when it belongs to `scope`, expired or not: a state is
    /// used once. Concurrent takes of one state: one gets it, the others
    /// `None` (the delete is conditional and counted).
    pub async fn take_oauth_state(
        &self,
        state_hash: &str,
        scope: &str,
    ) -> Result<Option<PendingAuthorization>, Error> {
        let txn = self.begin_write().await?;
        let Some(row) = oauth_state::Entity::find_by_id(state_hash)
            .filter(oauth_state::Column::Scope.eq(scope))
            .one(&txn)
            .await?
        else {
            txn.rollback().await?;
            return Ok(None);
        };
        let deleted = oauth_state::Entity::delete_many()
            .filter(oauth_state::Column::StateHash.eq(state_hash))
            .exec(&txn)
            .await?;
        if deleted.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(None);
        }
        txn.commit().await?;
        Ok(Some(PendingAuthorization {
            state_hash: row.state_hash,
            server_id: row.server_id,
            scope: row.scope,
            subject: row.subject,
            redirect_uri: row.redirect_uri,
            sealed: row.sealed_request,
            created_by: row.created_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }))
    }

    /// Deletes up to `limit` authorizations that expired before `before`;
    /// returns how many.
    pub async fn prune_oauth_states(&self, before: Micros, limit: u64) -> Result<u64, Error> {
        let expired = oauth_state::Entity::find()
            .select_only()
            .column(oauth_state::Column::StateHash)
            .filter(oauth_state::Column::ExpiresAt.lt(before))
            .order_by_asc(oauth_state::Column::ExpiresAt)
            .limit(limit)
            .into_tuple::<String>()
            .all(&self.db)
            .await?;
        if expired.is_empty() {
            return Ok(0);
        }
        let deleted = oauth_state::Entity::delete_many()
            .filter(oauth_state::Column::StateHash.is_in(expired))
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected)
    }

    /// Stores a completed authorization: replaces the connection of the same
    /// server and subject, makes the server due for a sync now (when
    /// enabled), and records `event`, in one transaction.
    pub async fn save_oauth_connection(
        &self,
        connection: &Connection,
        event: &AuditEvent,
    ) -> Result<(), Error> {
        let row = connection_to_row(connection)?;
        let txn = self.begin_write().await?;
        oauth_token::Entity::delete_many()
            .filter(oauth_token::Column::ServerId.eq(connection.server_id.as_str()))
            .filter(oauth_token::Column::Subject.eq(connection.subject.as_str()))
            .exec(&txn)
            .await?;
        oauth_token::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(|err| match err.sql_err() {
                Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => Error::NotFound {
                    kind: "mcp server",
                    id: connection.server_id.clone(),
                },
                _ => Error::from(err),
            })?;
        mcp_server::Entity::update_many()
            .col_expr(
                mcp_server::Column::NextSyncAt,
                Expr::value(connection.connected_at),
            )
            .filter(mcp_server::Column::Id.eq(connection.server_id.as_str()))
            .filter(mcp_server::Column::Enabled.eq(true))
            .exec(&txn)
            .await?;
        insert_audit_event(&txn, event).await?;
        txn.commit().await?;
        self.changed(Topic::Server(&connection.server_id));
        Ok(())
    }

    /// Returns the connection of `server_id` and `subject` (`''`: the
    /// organization's).
    pub async fn get_oauth_connection(
        &self,
        server_id: &str,
        subject: &str,
    ) -> Result<Option<Connection>, Error> {
        oauth_token::Entity::find()
            .filter(oauth_token::Column::ServerId.eq(server_id))
            .filter(oauth_token::Column::Subject.eq(subject))
            .one(&self.db)
            .await?
            .map(connection_to_domain)
            .transpose()
    }

    /// Returns the connection with `id`.
    pub async fn get_oauth_connection_by_id(&self, id: &str) -> Result<Option<Connection>, Error> {
        oauth_token::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(connection_to_domain)
            .transpose()
    }

    /// Returns every connection of a server.
    pub async fn oauth_connections_of(&self, server_id: &str) -> Result<Vec<Connection>, Error> {
        oauth_token::Entity::find()
            .filter(oauth_token::Column::ServerId.eq(server_id))
            .all(&self.db)
            .await?
            .into_iter()
            .map(connection_to_domain)
            .collect()
    }

    /// Claims the refresh of connection `id` at `version` for `owner` until
    /// `until`, unless another claim holds (one that has not expired at
    /// `now`) or the version moved on. One statement: of concurrent claims,
    /// one wins, on every replica.
    pub async fn claim_oauth_refresh(
        &self,
        id: &str,
        version: i64,
        owner: &str,
        now: Micros,
        until: Micros,
    ) -> Result<bool, Error> {
        let result = oauth_token::Entity::update_many()
            .col_expr(oauth_token::Column::RefreshClaimedUntil, Expr::value(until))
            .col_expr(oauth_token::Column::RefreshClaimedBy, Expr::value(owner))
            .filter(oauth_token::Column::Id.eq(id))
            .filter(oauth_token::Column::Version.eq(version))
            .filter(
                Condition::any()
                    .add(oauth_token::Column::RefreshClaimedUntil.is_null())
                    .add(oauth_token::Column::RefreshClaimedUntil.lt(now)),
            )
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Stores what the refresh claimed by `owner` at `version` came to (new
    /// tokens, or re-authorization required with `event`) as the next
    /// version, releasing the claim. `false` when the claim was lost (it
    /// expired and another replica moved the version on).
    pub async fn finish_oauth_refresh(
        &self,
        id: &str,
        version: i64,
        owner: &str,
        outcome: &Refreshed,
        event: Option<&AuditEvent>,
    ) -> Result<bool, Error> {
        let mut row = oauth_token::ActiveModel {
            version: Set(version + 1),
            refresh_claimed_until: Set(None),
            refresh_claimed_by: Set(None),
            ..Default::default()
        };
        match outcome {
            Refreshed::Tokens {
                sealed_tokens,
                access_expires_at,
                scopes,
                at,
            } => {
                row.sealed_tokens = Set(sealed_tokens.clone());
                row.access_expires_at = Set(*access_expires_at);
                row.scopes = Set(serde_json::to_string(scopes).map_err(Error::internal)?);
                row.refreshed_at = Set(Some(*at));
            }
            Refreshed::Refused { reason } => {
                row.status = Set(ConnectionStatus::ReauthorizationRequired
                    .as_str()
                    .to_owned());
                row.reason = Set(reason.clone());
            }
        }
        let txn = self.begin_write().await?;
        let result = oauth_token::Entity::update_many()
            .set(row)
            .filter(oauth_token::Column::Id.eq(id))
            .filter(oauth_token::Column::Version.eq(version))
            .filter(oauth_token::Column::RefreshClaimedBy.eq(owner))
            .exec(&txn)
            .await?;
        if result.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        if let Some(event) = event {
            insert_audit_event(&txn, event).await?;
        }
        txn.commit().await?;
        Ok(true)
    }

    /// Releases `owner`'s claim on connection `id` at `version` without a
    /// change (the refresh failed for a reason a retry may fix).
    pub async fn release_oauth_claim(
        &self,
        id: &str,
        version: i64,
        owner: &str,
    ) -> Result<(), Error> {
        oauth_token::Entity::update_many()
            .col_expr(
                oauth_token::Column::RefreshClaimedUntil,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(
                oauth_token::Column::RefreshClaimedBy,
                Expr::value(Option::<String>::None),
            )
            .filter(oauth_token::Column::Id.eq(id))
            .filter(oauth_token::Column::Version.eq(version))
            .filter(oauth_token::Column::RefreshClaimedBy.eq(owner))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Marks connection `id` at `version` as needing re-authorization
    /// (expired without a refresh token), with `event`; `false` when the
    /// version moved on meanwhile.
    pub async fn require_oauth_reauthorization(
        &self,
        id: &str,
        version: i64,
        reason: &str,
        event: &AuditEvent,
    ) -> Result<bool, Error> {
        let txn = self.begin_write().await?;
        let result = oauth_token::Entity::update_many()
            .col_expr(
                oauth_token::Column::Status,
                Expr::value(ConnectionStatus::ReauthorizationRequired.as_str()),
            )
            .col_expr(oauth_token::Column::Reason, Expr::value(reason))
            .col_expr(oauth_token::Column::Version, Expr::value(version + 1))
            .filter(oauth_token::Column::Id.eq(id))
            .filter(oauth_token::Column::Version.eq(version))
            .exec(&txn)
            .await?;
        if result.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        insert_audit_event(&txn, event).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Deletes connection `id` with its audit event; `false` when it was
    /// already gone.
    pub async fn delete_oauth_connection(
        &self,
        id: &str,
        event: &AuditEvent,
    ) -> Result<bool, Error> {
        let txn = self.begin_write().await?;
        let result = oauth_token::Entity::delete_many()
            .filter(oauth_token::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        if result.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        insert_audit_event(&txn, event).await?;
        txn.commit().await?;
        Ok(true)
    }
}

fn client_to_domain(row: oauth_client::Model) -> Result<RegisteredClient, Error> {
    let redirect_uris = serde_json::from_str(&row.redirect_uris)
        .with_context(|| format!("oauth client {} has invalid redirect_uris", row.id))
        .map_err(Error::internal)?;
    Ok(RegisteredClient {
        id: row.id,
        server_id: row.server_id,
        issuer: row.issuer,
        redirect_uris,
        sealed: row.sealed_client,
        created_at: row.created_at,
    })
}

fn connection_to_row(c: &Connection) -> Result<oauth_token::ActiveModel, Error> {
    Ok(oauth_token::ActiveModel {
        id: Set(c.id.clone()),
        server_id: Set(c.server_id.clone()),
        scope: Set(c.scope.clone()),
        subject: Set(c.subject.clone()),
        issuer: Set(c.issuer.clone()),
        token_endpoint: Set(c.token_endpoint.clone()),
        revocation_endpoint: Set(c.revocation_endpoint.clone()),
        resource: Set(c.resource.clone()),
        client_id: Set(c.client.clone()),
        sealed_tokens: Set(c.sealed_tokens.clone()),
        access_expires_at: Set(c.access_expires_at),
        scopes: Set(serde_json::to_string(&c.scopes).map_err(Error::internal)?),
        status: Set(c.status.as_str().to_owned()),
        reason: Set(c.reason.clone()),
        connected_by: Set(c.connected_by.clone()),
        connected_at: Set(c.connected_at),
        refreshed_at: Set(c.refreshed_at),
        version: Set(c.version),
        refresh_claimed_until: Set(None),
        refresh_claimed_by: NotSet,
    })
}

fn connection_to_domain(row: oauth_token::Model) -> Result<Connection, Error> {
    let scopes = serde_json::from_str(&row.scopes)
        .with_context(|| format!("oauth connection {} has invalid scopes", row.id))
        .map_err(Error::internal)?;
    let status = ConnectionStatus::parse(&row.status)
        .with_context(|| format!("oauth connection {} has status {:?}", row.id, row.status))
        .map_err(Error::internal)?;
    Ok(Connection {
        id: row.id,
        server_id: row.server_id,
        scope: row.scope,
        subject: row.subject,
        issuer: row.issuer,
        token_endpoint: row.token_endpoint,
        revocation_endpoint: row.revocation_endpoint,
        resource: row.resource,
        client: row.client_id,
        sealed_tokens: row.sealed_tokens,
        access_expires_at: row.access_expires_at,
        scopes,
        status,
        reason: row.reason,
        connected_by: row.connected_by,
        connected_at: row.connected_at,
        refreshed_at: row.refreshed_at,
        version: row.version,
    })
}
