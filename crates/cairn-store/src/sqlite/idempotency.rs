//! Idempotency keys for uploads (written by `commit_document`, read here).

use super::{SqliteStore, db};
use crate::Result;
use crate::repo::{IdempotencyRecord, IdempotencyRepo};
use cairn_types::{DocumentId, TenantId};
use rusqlite::OptionalExtension;

impl IdempotencyRepo for SqliteStore {
    fn get_idempotency(&self, tenant: &TenantId, key: &str) -> Result<Option<IdempotencyRecord>> {
        self.conn()
            .query_row(
                "SELECT key, request_hash, document_id FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2",
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
}
