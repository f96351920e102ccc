//! Versioned schema migrations, applied in order, each in its own transaction and
//! recorded in `schema_migrations`. Never edit a shipped migration: add a new one.

use super::db;
use crate::{Error, Result};
use rusqlite::Connection;

/// (version, SQL). Every table has `tenant_id` in its key.
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    r#"
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE collections (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    chunking TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE documents (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    format TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    mtime INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    acl_users TEXT NOT NULL,
    acl_groups TEXT NOT NULL,
    status TEXT NOT NULL,
    quality TEXT NOT NULL,
    simhash INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, collection_id, source),
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX documents_by_hash ON documents(tenant_id, collection_id, content_hash);
CREATE TABLE chunks (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    token_count INTEGER NOT NULL,
    role TEXT NOT NULL,
    parent_id TEXT,
    page INTEGER,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX chunks_by_document ON chunks(tenant_id, document_id, ordinal);
CREATE INDEX chunks_by_collection ON chunks(tenant_id, collection_id);
CREATE TABLE jobs (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    kind TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_after INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    last_error TEXT,
    error_code TEXT,
    document_id TEXT,
    chunks INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX jobs_runnable ON jobs(state, run_after);
CREATE INDEX jobs_by_batch ON jobs(tenant_id, batch);
CREATE INDEX jobs_by_dedup ON jobs(tenant_id, dedup_key, state);
CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    document_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
"#,
)];

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn current_version(conn: &Connection) -> Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))
        .map_err(db)
}

/// Applies the migrations this database does not have yet.
pub(crate) fn apply(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(db)?;
    let have = current_version(conn)?;
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if have > newest {
        return Err(Error::Database(format!(
            "database schema version {have} is newer than this binary supports ({newest}); upgrade cairn"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > have) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
        // Another process may have migrated while we waited for the lock.
        if current_version(&tx)? >= *version {
            continue;
        }
        tx.execute_batch(sql).map_err(db)?;
        tx.execute("INSERT INTO schema_migrations(version, applied_at) VALUES (?1, ?2)", (version, now_ms()))
            .map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}
