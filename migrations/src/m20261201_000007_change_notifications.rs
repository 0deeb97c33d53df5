//! PostgreSQL only: every committed change to what the read caches hold is
//! announced on the channel `mcp_registry_changes`, so that every replica
//! drops its cached answers about it. Payloads: `s:<server id>` (a server row
//! or its capabilities), `c:<scope>` (a server of that scope created, deleted,
//! renamed or re-categorized: what listings depend on), `p:<organization id>`
//! (its packs or their members), `k:<api key id>`. PostgreSQL delivers notifications at commit, drops
//! those of rolled-back transactions and merges duplicates within one.
//! SQLite serves one process per file and needs nothing here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE OR REPLACE FUNCTION mcp_registry_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    topic text;
BEGIN
    IF TG_TABLE_NAME = 'mcp_servers' THEN
        IF TG_OP = 'DELETE' THEN
            topic := 's:' || OLD.id;
            PERFORM pg_notify('mcp_registry_changes', 'c:' || OLD.scope);
        ELSE
            topic := 's:' || NEW.id;
            IF TG_OP = 'INSERT' THEN
                PERFORM pg_notify('mcp_registry_changes', 'c:' || NEW.scope);
            ELSIF OLD.name IS DISTINCT FROM NEW.name
                OR OLD.category IS DISTINCT FROM NEW.category THEN
                PERFORM pg_notify('mcp_registry_changes', 'c:' || NEW.scope);
            END IF;
        END IF;
    ELSIF TG_TABLE_NAME = 'server_capabilities' THEN
        topic := 's:' || CASE WHEN TG_OP = 'DELETE' THEN OLD.server_id ELSE NEW.server_id END;
    ELSIF TG_TABLE_NAME = 'packs' THEN
        topic := 'p:' || CASE WHEN TG_OP = 'DELETE' THEN OLD.organization_id ELSE NEW.organization_id END;
    ELSIF TG_TABLE_NAME = 'pack_members' THEN
        SELECT 'p:' || organization_id INTO topic FROM packs
        WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.pack_id ELSE NEW.pack_id END;
    ELSIF TG_TABLE_NAME = 'api_keys' THEN
        topic := 'k:' || CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
    END IF;
    IF topic IS NOT NULL THEN
        PERFORM pg_notify('mcp_registry_changes', topic);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER mcp_servers_notify_change AFTER INSERT OR UPDATE OR DELETE ON mcp_servers
    FOR EACH ROW EXECUTE FUNCTION mcp_registry_notify_change();
CREATE TRIGGER server_capabilities_notify_change AFTER INSERT OR UPDATE OR DELETE ON server_capabilities
    FOR EACH ROW EXECUTE FUNCTION mcp_registry_notify_change();
CREATE TRIGGER packs_notify_change AFTER INSERT OR UPDATE OR DELETE ON packs
    FOR EACH ROW EXECUTE FUNCTION mcp_registry_notify_change();
CREATE TRIGGER pack_members_notify_change AFTER INSERT OR UPDATE OR DELETE ON pack_members
    FOR EACH ROW EXECUTE FUNCTION mcp_registry_notify_change();
CREATE TRIGGER api_keys_notify_change AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION mcp_registry_notify_change();
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS mcp_servers_notify_change ON mcp_servers;
DROP TRIGGER IF EXISTS server_capabilities_notify_change ON server_capabilities;
DROP TRIGGER IF EXISTS packs_notify_change ON packs;
DROP TRIGGER IF EXISTS pack_members_notify_change ON pack_members;
DROP TRIGGER IF EXISTS api_keys_notify_change ON api_keys;
DROP FUNCTION IF EXISTS mcp_registry_notify_change();
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
