//! Full-text search over tools (SearchTools), servers (ListMcpServers'
//! `query`) and packs (ListPacks' `query`), and the index from a tool's name
//! to its servers (ListMcpServers' `tool_name`).
//!
//! Both backends tokenize the same way: a token is a maximal run of letters
//! and digits, compared in lower case; everything else separates tokens
//! (`create_issue` is `create` `issue`). The query side (src/registry/search.rs)
//! splits the caller's text by the same rule.
//!
//! The indexes are written by the database itself, in the statement that
//! writes the row, so they are in step with the rows in every transaction: a
//! tool a sync removes is gone from the index when the sync commits, never
//! later, and no code path can forget them.
//!
//! - PostgreSQL: a `search tsvector` column with a GIN index on
//!   `server_capabilities` (tools only: name weight A, title B, description C,
//!   and the server's scope as one lexeme of weight D, so that a search
//!   intersects the caller's scopes in the index; written by a BEFORE trigger,
//!   as a generated column cannot read `mcp_servers`), and stored generated
//!   columns on `mcp_servers` (name A, display name B, description C) and
//!   `packs` (name A, description B). Text is reduced to its letters and
//!   digits (`regexp_replace`) before the `simple` configuration (no stemming,
//!   no stop words) reads it.
//! - SQLite: contentless FTS5 tables (`tool_search`, `server_search`,
//!   `pack_search`, tokenizer `unicode61` without diacritic folding) kept by
//!   triggers. Their rowids come from `*_search_rows` tables with an
//!   `INTEGER PRIMARY KEY` (stable across VACUUM, unlike the implicit rowid of
//!   a table keyed by text) that map each document to its row. A tool's
//!   document also holds its server's scope as one token (the organization
//!   id without its `_`, or `catalog`: the same length for every document,
//!   weight 0 in the ranking), so that a search matches the caller's scopes
//!   inside the index instead of joining every match of every organization.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A tool's title is its own `title`, else `annotations.title`.
const PG_UP: &str = r#"
CREATE FUNCTION mcp_registry_tool_document(kind text, key text, definition text, scope text)
RETURNS tsvector LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN kind = 'tool' THEN
        setweight(to_tsvector('simple'::regconfig, replace(scope, '_', '')), 'D')
        || setweight(to_tsvector('simple'::regconfig,
            regexp_replace(key, '[^[:alnum:]]+', ' ', 'g')), 'A')
        || setweight(to_tsvector('simple'::regconfig,
            regexp_replace(coalesce(definition::jsonb ->> 'title',
                definition::jsonb -> 'annotations' ->> 'title', ''), '[^[:alnum:]]+', ' ', 'g')), 'B')
        || setweight(to_tsvector('simple'::regconfig,
            regexp_replace(coalesce(definition::jsonb ->> 'description', ''),
                '[^[:alnum:]]+', ' ', 'g')), 'C')
    END
$$;
CREATE FUNCTION mcp_registry_tool_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := mcp_registry_tool_document(NEW.kind, NEW.key, NEW.definition,
        (SELECT scope FROM mcp_servers WHERE id = NEW.server_id));
    RETURN NEW;
END
$$;
CREATE FUNCTION mcp_registry_server_scope_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE server_capabilities
    SET search = mcp_registry_tool_document(kind, key, definition, NEW.scope)
    WHERE server_id = NEW.id AND kind = 'tool';
    RETURN NULL;
END
$$;
ALTER TABLE server_capabilities ADD COLUMN search tsvector;
UPDATE server_capabilities c
SET search = mcp_registry_tool_document(c.kind, c.key, c.definition, s.scope)
FROM mcp_servers s WHERE s.id = c.server_id AND c.kind = 'tool';
CREATE TRIGGER server_capabilities_search BEFORE INSERT OR UPDATE OF kind, key, definition
    ON server_capabilities FOR EACH ROW EXECUTE FUNCTION mcp_registry_tool_search();
CREATE TRIGGER mcp_servers_tool_search_scope AFTER UPDATE OF scope ON mcp_servers
    FOR EACH ROW WHEN (OLD.scope IS DISTINCT FROM NEW.scope)
    EXECUTE FUNCTION mcp_registry_server_scope_search();
CREATE INDEX server_capabilities_search_idx ON server_capabilities USING gin (search);
ALTER TABLE mcp_servers ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig,
        regexp_replace(name, '[^[:alnum:]]+', ' ', 'g')), 'A')
    || setweight(to_tsvector('simple'::regconfig,
        regexp_replace(display_name, '[^[:alnum:]]+', ' ', 'g')), 'B')
    || setweight(to_tsvector('simple'::regconfig,
        regexp_replace(description, '[^[:alnum:]]+', ' ', 'g')), 'C')
) STORED;
CREATE INDEX mcp_servers_search_idx ON mcp_servers USING gin (search);
ALTER TABLE packs ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig,
        regexp_replace(name, '[^[:alnum:]]+', ' ', 'g')), 'A')
    || setweight(to_tsvector('simple'::regconfig,
        regexp_replace(description, '[^[:alnum:]]+', ' ', 'g')), 'B')
) STORED;
CREATE INDEX packs_search_idx ON packs USING gin (search);
CREATE INDEX server_capabilities_kind_key_idx ON server_capabilities (kind, key, server_id);
"#;

const PG_DOWN: &str = r#"
DROP TRIGGER IF EXISTS mcp_servers_tool_search_scope ON mcp_servers;
DROP TRIGGER IF EXISTS server_capabilities_search ON server_capabilities;
DROP INDEX IF EXISTS server_capabilities_kind_key_idx;
DROP INDEX IF EXISTS packs_search_idx;
ALTER TABLE packs DROP COLUMN IF EXISTS search;
DROP INDEX IF EXISTS mcp_servers_search_idx;
ALTER TABLE mcp_servers DROP COLUMN IF EXISTS search;
DROP INDEX IF EXISTS server_capabilities_search_idx;
ALTER TABLE server_capabilities DROP COLUMN IF EXISTS search;
DROP FUNCTION IF EXISTS mcp_registry_server_scope_search();
DROP FUNCTION IF EXISTS mcp_registry_tool_search();
DROP FUNCTION IF EXISTS mcp_registry_tool_document(text, text, text, text);
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE tool_search_rows (
    id INTEGER PRIMARY KEY,
    server_id TEXT NOT NULL,
    name TEXT NOT NULL
);
CREATE UNIQUE INDEX tool_search_rows_server_name_idx ON tool_search_rows (server_id, name);
CREATE VIRTUAL TABLE tool_search USING fts5(
    name, title, description, scope,
    content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER server_capabilities_search_insert AFTER INSERT ON server_capabilities
WHEN new.kind = 'tool' BEGIN
    INSERT INTO tool_search_rows (server_id, name) VALUES (new.server_id, new.key);
    INSERT INTO tool_search (rowid, name, title, description, scope)
    SELECT r.id, new.key,
        coalesce(new.definition ->> '$.title', new.definition ->> '$.annotations.title', ''),
        coalesce(new.definition ->> '$.description', ''),
        replace((SELECT scope FROM mcp_servers WHERE id = new.server_id), '_', '')
    FROM tool_search_rows r WHERE r.server_id = new.server_id AND r.name = new.key;
END;
CREATE TRIGGER server_capabilities_search_delete AFTER DELETE ON server_capabilities
WHEN old.kind = 'tool' BEGIN
    DELETE FROM tool_search WHERE rowid IN (
        SELECT id FROM tool_search_rows WHERE server_id = old.server_id AND name = old.key);
    DELETE FROM tool_search_rows WHERE server_id = old.server_id AND name = old.key;
END;
CREATE TRIGGER server_capabilities_search_update AFTER UPDATE ON server_capabilities
WHEN old.kind = 'tool' OR new.kind = 'tool' BEGIN
    DELETE FROM tool_search WHERE old.kind = 'tool' AND rowid IN (
        SELECT id FROM tool_search_rows WHERE server_id = old.server_id AND name = old.key);
    DELETE FROM tool_search_rows
    WHERE old.kind = 'tool' AND server_id = old.server_id AND name = old.key;
    INSERT INTO tool_search_rows (server_id, name)
    SELECT new.server_id, new.key WHERE new.kind = 'tool';
    INSERT INTO tool_search (rowid, name, title, description, scope)
    SELECT r.id, new.key,
        coalesce(new.definition ->> '$.title', new.definition ->> '$.annotations.title', ''),
        coalesce(new.definition ->> '$.description', ''),
        replace((SELECT scope FROM mcp_servers WHERE id = new.server_id), '_', '')
    FROM tool_search_rows r
    WHERE new.kind = 'tool' AND r.server_id = new.server_id AND r.name = new.key;
END;
CREATE TRIGGER mcp_servers_tool_search_scope AFTER UPDATE OF scope ON mcp_servers
WHEN old.scope IS NOT new.scope BEGIN
    DELETE FROM tool_search WHERE rowid IN (
        SELECT id FROM tool_search_rows WHERE server_id = new.id);
    INSERT INTO tool_search (rowid, name, title, description, scope)
    SELECT r.id, c.key,
        coalesce(c.definition ->> '$.title', c.definition ->> '$.annotations.title', ''),
        coalesce(c.definition ->> '$.description', ''),
        replace(new.scope, '_', '')
    FROM tool_search_rows r
    JOIN server_capabilities c ON c.server_id = r.server_id AND c.kind = 'tool' AND c.key = r.name
    WHERE r.server_id = new.id;
END;
INSERT INTO tool_search_rows (server_id, name)
SELECT server_id, key FROM server_capabilities WHERE kind = 'tool';
INSERT INTO tool_search (rowid, name, title, description, scope)
SELECT r.id, c.key,
    coalesce(c.definition ->> '$.title', c.definition ->> '$.annotations.title', ''),
    coalesce(c.definition ->> '$.description', ''),
    replace(s.scope, '_', '')
FROM tool_search_rows r
JOIN server_capabilities c ON c.server_id = r.server_id AND c.kind = 'tool' AND c.key = r.name
JOIN mcp_servers s ON s.id = r.server_id;

CREATE TABLE server_search_rows (id INTEGER PRIMARY KEY, server_id TEXT NOT NULL UNIQUE);
CREATE VIRTUAL TABLE server_search USING fts5(
    name, display_name, description,
    content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER mcp_servers_search_insert AFTER INSERT ON mcp_servers BEGIN
    INSERT INTO server_search_rows (server_id) VALUES (new.id);
    INSERT INTO server_search (rowid, name, display_name, description)
    SELECT r.id, new.name, new.display_name, new.description
    FROM server_search_rows r WHERE r.server_id = new.id;
END;
CREATE TRIGGER mcp_servers_search_delete AFTER DELETE ON mcp_servers BEGIN
    DELETE FROM server_search WHERE rowid IN (
        SELECT id FROM server_search_rows WHERE server_id = old.id);
    DELETE FROM server_search_rows WHERE server_id = old.id;
END;
CREATE TRIGGER mcp_servers_search_update AFTER UPDATE OF name, display_name, description
ON mcp_servers BEGIN
    DELETE FROM server_search WHERE rowid IN (
        SELECT id FROM server_search_rows WHERE server_id = old.id);
    INSERT INTO server_search (rowid, name, display_name, description)
    SELECT r.id, new.name, new.display_name, new.description
    FROM server_search_rows r WHERE r.server_id = new.id;
END;
INSERT INTO server_search_rows (server_id) SELECT id FROM mcp_servers;
INSERT INTO server_search (rowid, name, display_name, description)
SELECT r.id, s.name, s.display_name, s.description
FROM server_search_rows r JOIN mcp_servers s ON s.id = r.server_id;

CREATE TABLE pack_search_rows (id INTEGER PRIMARY KEY, pack_id TEXT NOT NULL UNIQUE);
CREATE VIRTUAL TABLE pack_search USING fts5(
    name, description,
    content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER packs_search_insert AFTER INSERT ON packs BEGIN
    INSERT INTO pack_search_rows (pack_id) VALUES (new.id);
    INSERT INTO pack_search (rowid, name, description)
    SELECT r.id, new.name, new.description FROM pack_search_rows r WHERE r.pack_id = new.id;
END;
CREATE TRIGGER packs_search_delete AFTER DELETE ON packs BEGIN
    DELETE FROM pack_search WHERE rowid IN (SELECT id FROM pack_search_rows WHERE pack_id = old.id);
    DELETE FROM pack_search_rows WHERE pack_id = old.id;
END;
CREATE TRIGGER packs_search_update AFTER UPDATE OF name, description ON packs BEGIN
    DELETE FROM pack_search WHERE rowid IN (SELECT id FROM pack_search_rows WHERE pack_id = old.id);
    INSERT INTO pack_search (rowid, name, description)
    SELECT r.id, new.name, new.description FROM pack_search_rows r WHERE r.pack_id = new.id;
END;
INSERT INTO pack_search_rows (pack_id) SELECT id FROM packs;
INSERT INTO pack_search (rowid, name, description)
SELECT r.id, p.name, p.description FROM pack_search_rows r JOIN packs p ON p.id = r.pack_id;

CREATE INDEX server_capabilities_kind_key_idx ON server_capabilities (kind, key, server_id);
"#;

const SQLITE_DOWN: &str = r#"
DROP INDEX IF EXISTS server_capabilities_kind_key_idx;
DROP TRIGGER IF EXISTS packs_search_insert;
DROP TRIGGER IF EXISTS packs_search_delete;
DROP TRIGGER IF EXISTS packs_search_update;
DROP TABLE IF EXISTS pack_search;
DROP TABLE IF EXISTS pack_search_rows;
DROP TRIGGER IF EXISTS mcp_servers_search_insert;
DROP TRIGGER IF EXISTS mcp_servers_search_delete;
DROP TRIGGER IF EXISTS mcp_servers_search_update;
DROP TABLE IF EXISTS server_search;
DROP TABLE IF EXISTS server_search_rows;
DROP TRIGGER IF EXISTS server_capabilities_search_insert;
DROP TRIGGER IF EXISTS server_capabilities_search_delete;
DROP TRIGGER IF EXISTS server_capabilities_search_update;
DROP TRIGGER IF EXISTS mcp_servers_tool_search_scope;
DROP TABLE IF EXISTS tool_search;
DROP TABLE IF EXISTS tool_search_rows;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = match manager.get_database_backend() {
            DbBackend::Postgres => PG_UP,
            _ => SQLITE_UP,
        };
        manager.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = match manager.get_database_backend() {
            DbBackend::Postgres => PG_DOWN,
            _ => SQLITE_DOWN,
        };
        manager.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }
}
