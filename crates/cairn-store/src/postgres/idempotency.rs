//! Idempotency keys for uploads: written by `commit_document` in the document's own
//! transaction, read here. Deleting the document deletes its keys (foreign key cascade),
//! so a key never points at a document that is gone.
//!
//! Two nodes may present the same key at once. The commit looks the key up first (a
//! cheap early `Conflict` for a key already committed with another request), but what
//! decides is [`claim`]: one `INSERT … ON CONFLICT DO NOTHING` on the key's primary key.
//! When another transaction holds the same key uncommitted, that insert waits for it to
//! end; if it committed, the insert does nothing and the winner's record is read back and
//! compared, exactly as if it had been there before. So the loser fails with the same
//! `Conflict` as a late request (different request) or succeeds without a second record
//! (same request), never with a raw unique violation.

use super::{PostgresStore, db, rows::get};
use crate::repo::{IdempotencyRecord, IdempotencyRepo};
use crate::{Error, Result};
use cairn_types::{DocumentId, TenantId};
use postgres::{GenericClient, Transaction};

/// How often [`claim`] retries when the record it lost to disappears before it can be
/// read (its document was deleted in between): each retry is a fresh insert.
const CLAIM_TRIES: usize = 3;

/// The stored record for `key`, if any (inside a transaction or on a pooled client).
pub(crate) fn lookup(
    conn: &mut impl GenericClient,
    tenant: &TenantId,
    key: &str,
) -> Result<Option<IdempotencyRecord>> {
    let row = conn
        .query_opt(
            "SELECT key, request_hash, document_id FROM idempotency_keys
             WHERE tenant_id = $1 AND key = $2",
            &[&tenant.as_str(), &key],
        )
        .map_err(db)?;
    row.map(|r| {
        Ok(IdempotencyRecord {
            key: get(&r, 0, "key")?,
            request_hash: get(&r, 1, "request_hash")?,
            document: DocumentId::new(get::<String>(&r, 2, "document_id")?),
        })
    })
    .transpose()
}

/// The `Conflict` for a key already used with another request.
pub(crate) fn key_conflict(tenant: &TenantId, key: &str) -> Error {
    Error::Conflict(format!(
        "idempotency key `{key}` was already used with a different request in tenant \
         `{tenant}`"
    ))
}

impl IdempotencyRepo for PostgresStore {
    fn get_idempotency(&self, tenant: &TenantId, key: &str) -> Result<Option<IdempotencyRecord>> {
        self.read(
            &format!("reading idempotency key `{key}` of tenant `{tenant}`"),
            |client| lookup(client, tenant, key),
        )
    }
}

/// Records `rec` for the final document `id` inside the commit's transaction, unless the
/// key is already stored for the same request (then the stored record stands, as under
/// SQLite). `Conflict` if it is stored for another request, including by a transaction
/// that committed while this one waited on the key.
pub(crate) fn claim(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    rec: &IdempotencyRecord,
    id: &DocumentId,
    now: i64,
) -> Result<()> {
    let insert = tx
        .prepare(
            "INSERT INTO idempotency_keys(tenant_id, key, request_hash, document_id, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT(tenant_id, key) DO NOTHING",
        )
        .map_err(db)?;
    for _ in 0..CLAIM_TRIES {
        let inserted = tx
            .execute(
                &insert,
                &[
                    &tenant.as_str(),
                    &rec.key.as_str(),
                    &rec.request_hash.as_str(),
                    &id.as_str(),
                    &now,
                ],
            )
            .map_err(db)?;
        if inserted == 1 {
            return Ok(());
        }
        // READ COMMITTED: this statement sees the record the insert ran into.
        match lookup(tx, tenant, &rec.key)? {
            Some(prior) if prior.request_hash == rec.request_hash => return Ok(()),
            Some(_) => return Err(key_conflict(tenant, &rec.key)),
            None => {}
        }
    }
    Err(Error::Busy(format!(
        "idempotency key `{}` of tenant `{tenant}` kept changing while it was recorded",
        rec.key
    )))
}
