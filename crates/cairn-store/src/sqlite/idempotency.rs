//! Idempotency keys for uploads: written by `commit_document` in the document's own
//! transaction, read here. Deleting the document deletes its keys, so a key never points
//! at a document that is gone.

use super::{SqliteStore, db};
use crate::Result;
use crate::repo::{IdempotencyRecord, IdempotencyRepo};
use cairn_types::{DocumentId, TenantId};
use rusqlite::{Connection, OptionalExtension, Transaction};

/// The stored record for `key`, if any (inside a transaction or on a reader).
pub(crate) fn lookup(
    conn: &Connection,
    tenant: &TenantId,
    key: &str,
) -> Result<Option<IdempotencyRecord>> {
    conn.query_row(
        "SELECT key, request_hash, document_id FROM idempotency_keys
         WHERE tenant_id = ?1 AND key = ?2",
        (tenant.as_str(), key),
        |r| {
            Ok(IdempotencyRecord {
                key: r.get(0)?,
                request_hash: r.get(1)?,
                document: DocumentId::new(r.get::<_, String>(2)?),
            })
        },
    )
    .optional()
    .map_err(db)
}

impl IdempotencyRepo for SqliteStore {
    fn get_idempotency(&self, tenant: &TenantId, key: &str) -> Result<Option<IdempotencyRecord>> {
        self.read(
            &format!("reading idempotency key `{key}` of tenant `{tenant}`"),
            |conn| lookup(conn, tenant, key),
        )
    }
}

/// Records `rec` for the final document `id` inside the commit's transaction.
pub(crate) fn record(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    rec: &IdempotencyRecord,
    id: &DocumentId,
    now: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO idempotency_keys(tenant_id, key, request_hash, document_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        (
            tenant.as_str(),
            rec.key.as_str(),
            rec.request_hash.as_str(),
            id.as_str(),
            now,
        ),
    )
    .map_err(db)?;
    Ok(())
}
