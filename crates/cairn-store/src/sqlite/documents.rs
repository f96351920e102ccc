//! Documents and chunks. `commit_document` is the one writer of chunks.

use super::rows::{CHUNK_COLS, DOC_COLS, chunk, document, role_str, to_json};
use super::{SqliteStore, db, not_found};
use crate::repo::{DocumentCommit, DocumentRepo, DocumentSummary};
use crate::{Error, Result};
use cairn_types::{Chunk, ChunkId, CollectionId, Document, DocumentId, JobId, TenantId};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior};

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocumentSummary> {
    Ok(DocumentSummary {
        id: DocumentId::new(r.get::<_, String>(0)?),
        source: r.get(1)?,
        content_hash: r.get(2)?,
        mtime: r.get(3)?,
        size_bytes: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        // SimHash is a u64 stored bit-for-bit in SQLite's signed integer.
        simhash: r.get::<_, i64>(5)?.cast_unsigned(),
    })
}

const SUMMARY_COLS: &str = "id, source, content_hash, mtime, size_bytes, simhash";

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Marks a job succeeded inside an open transaction.
pub(crate) fn complete_job_tx(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    job: &JobId,
    document: Option<&DocumentId>,
    chunks: usize,
    now: i64,
) -> Result<()> {
    tx.execute(
        "UPDATE jobs SET state = 'succeeded', document_id = ?3, chunks = ?4, lease_owner = NULL,
                lease_until = NULL, last_error = NULL, error_code = NULL, updated_at = ?5
         WHERE tenant_id = ?1 AND id = ?2",
        (tenant.as_str(), job.as_str(), document.map(DocumentId::as_str), to_i64(chunks), now),
    )
    .map_err(db)?;
    Ok(())
}

fn insert_chunks(tx: &Transaction<'_>, tenant: &TenantId, doc: &DocumentId, old: &DocumentId, chunks: &[Chunk]) -> Result<()> {
    let mut st = tx
        .prepare_cached(&format!("INSERT INTO chunks({CHUNK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"))
        .map_err(db)?;
    // Parent ids were built from the draft document id; rewrite them to the final id.
    let rewrite = |id: &ChunkId| -> String {
        match id.as_str().strip_prefix(old.as_str()) {
            Some(rest) => format!("{doc}{rest}"),
            None => id.to_string(),
        }
    };
    for c in chunks {
        st.execute((
            tenant.as_str(),
            ChunkId::for_position(doc, c.ordinal).as_str(),
            doc.as_str(),
            c.collection.as_str(),
            to_i64(c.ordinal),
            c.text.as_str(),
            to_json(&c.heading_path)?,
            to_i64(c.token_count),
            role_str(c.role),
            c.parent.as_ref().map(rewrite),
            c.page,
        ))
        .map_err(db)?;
    }
    Ok(())
}

impl DocumentRepo for SqliteStore {
    fn commit_document(&self, tenant: &TenantId, commit: DocumentCommit, now: i64) -> Result<Document> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        let d = &commit.doc;
        let existing: Option<(String, i64)> = tx
            .query_row(
                "SELECT id, created_at FROM documents WHERE tenant_id = ?1 AND collection_id = ?2 AND source = ?3",
                (tenant.as_str(), d.collection.as_str(), d.source.as_str()),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)?;
        let (id, created_at) = match existing {
            Some((id, created)) => (DocumentId::new(id), created),
            None => (d.id.clone(), d.created_at),
        };
        tx.execute("DELETE FROM chunks WHERE tenant_id = ?1 AND document_id = ?2", (tenant.as_str(), id.as_str()))
            .map_err(db)?;
        let params = rusqlite::params![
            tenant.as_str(),
            id.as_str(),
            d.collection.as_str(),
            d.source,
            d.title,
            d.format,
            d.content_hash,
            d.mtime,
            i64::try_from(d.size_bytes).unwrap_or(i64::MAX),
            to_json(&d.metadata)?,
            to_json(&d.acl.users)?,
            to_json(&d.acl.groups)?,
            d.status.as_str(),
            to_json(&d.quality)?,
            d.quality.simhash.cast_signed(),
            to_i64(commit.chunks.len()),
            created_at,
            now,
        ];
        tx.execute(
            "INSERT INTO documents(tenant_id, id, collection_id, source, title, format, content_hash, mtime,
                size_bytes, metadata, acl_users, acl_groups, status, quality, simhash, chunk_count,
                created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
             ON CONFLICT(tenant_id, id) DO UPDATE SET title = excluded.title, format = excluded.format,
                content_hash = excluded.content_hash, mtime = excluded.mtime, size_bytes = excluded.size_bytes,
                metadata = excluded.metadata, acl_users = excluded.acl_users, acl_groups = excluded.acl_groups,
                status = excluded.status, quality = excluded.quality, simhash = excluded.simhash,
                chunk_count = excluded.chunk_count, updated_at = excluded.updated_at",
            params,
        )
        .map_err(|e| match db(e) {
            Error::Conflict(m) => Error::NotFound { what: format!("collection `{}` in tenant `{tenant}` ({m})", d.collection) },
            other => other,
        })?;
        insert_chunks(&tx, tenant, &id, &d.id, &commit.chunks)?;
        if let Some(job) = &commit.job {
            complete_job_tx(&tx, tenant, job, Some(&id), commit.chunks.len(), now)?;
        }
        if let Some(rec) = &commit.idempotency {
            let prior: Option<String> = tx
                .query_row(
                    "SELECT request_hash FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2",
                    (tenant.as_str(), rec.key.as_str()),
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            match prior {
                Some(h) if h != rec.request_hash => {
                    return Err(Error::Conflict(format!(
                        "idempotency key `{}` was already used with a different request",
                        rec.key
                    )));
                }
                Some(_) => {}
                None => {
                    tx.execute(
                        "INSERT INTO idempotency_keys(tenant_id, key, request_hash, document_id, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        (tenant.as_str(), rec.key.as_str(), rec.request_hash.as_str(), id.as_str(), now),
                    )
                    .map_err(db)?;
                }
            }
        }
        let stored = tx
            .query_row(&format!("SELECT {DOC_COLS} FROM documents WHERE tenant_id = ?1 AND id = ?2"), (tenant.as_str(), id.as_str()), document)
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(stored)
    }

    fn touch_document(&self, tenant: &TenantId, id: &DocumentId, mtime: i64, job: Option<&JobId>, now: i64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        let n = tx
            .execute(
                "UPDATE documents SET mtime = ?3, updated_at = ?4 WHERE tenant_id = ?1 AND id = ?2",
                (tenant.as_str(), id.as_str(), mtime, now),
            )
            .map_err(db)?;
        if n == 0 {
            return Err(not_found(format!("document `{id}` in tenant `{tenant}`")));
        }
        if let Some(job) = job {
            complete_job_tx(&tx, tenant, job, Some(id), 0, now)?;
        }
        tx.commit().map_err(db)
    }

    fn get_document(&self, tenant: &TenantId, id: &DocumentId) -> Result<Document> {
        self.conn()
            .query_row(&format!("SELECT {DOC_COLS} FROM documents WHERE tenant_id = ?1 AND id = ?2"), (tenant.as_str(), id.as_str()), document)
            .optional()
            .map_err(db)?
            .ok_or_else(|| not_found(format!("document `{id}` in tenant `{tenant}`")))
    }

    fn find_by_source(&self, tenant: &TenantId, collection: &CollectionId, source: &str) -> Result<Option<Document>> {
        self.conn()
            .query_row(
                &format!("SELECT {DOC_COLS} FROM documents WHERE tenant_id = ?1 AND collection_id = ?2 AND source = ?3"),
                (tenant.as_str(), collection.as_str(), source),
                document,
            )
            .optional()
            .map_err(db)
    }

    fn find_by_hash(&self, tenant: &TenantId, collection: &CollectionId, content_hash: &str, excluding_source: &str) -> Result<Option<DocumentSummary>> {
        self.conn()
            .query_row(
                &format!(
                    "SELECT {SUMMARY_COLS} FROM documents WHERE tenant_id = ?1 AND collection_id = ?2
                     AND content_hash = ?3 AND source <> ?4 AND status = 'indexed' ORDER BY source LIMIT 1"
                ),
                (tenant.as_str(), collection.as_str(), content_hash, excluding_source),
                summary,
            )
            .optional()
            .map_err(db)
    }

    fn document_summaries(&self, tenant: &TenantId, collection: &CollectionId) -> Result<Vec<DocumentSummary>> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!("SELECT {SUMMARY_COLS} FROM documents WHERE tenant_id = ?1 AND collection_id = ?2 ORDER BY source"))
            .map_err(db)?;
        let rows = st.query_map((tenant.as_str(), collection.as_str()), summary).map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn list_documents(&self, tenant: &TenantId, collection: Option<&CollectionId>, limit: usize, offset: usize) -> Result<Vec<Document>> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {DOC_COLS} FROM documents WHERE tenant_id = ?1 AND (?2 IS NULL OR collection_id = ?2)
                 ORDER BY collection_id, source LIMIT ?3 OFFSET ?4"
            ))
            .map_err(db)?;
        let rows = st
            .query_map((tenant.as_str(), collection.map(CollectionId::as_str), to_i64(limit), to_i64(offset)), document)
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn delete_document(&self, tenant: &TenantId, id: &DocumentId) -> Result<()> {
        let n = self
            .conn()
            .execute("DELETE FROM documents WHERE tenant_id = ?1 AND id = ?2", (tenant.as_str(), id.as_str()))
            .map_err(db)?;
        if n == 0 {
            return Err(not_found(format!("document `{id}` in tenant `{tenant}`")));
        }
        Ok(())
    }

    fn list_chunks(&self, tenant: &TenantId, document_id: &DocumentId) -> Result<Vec<Chunk>> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!("SELECT {CHUNK_COLS} FROM chunks WHERE tenant_id = ?1 AND document_id = ?2 ORDER BY ordinal"))
            .map_err(db)?;
        let rows = st.query_map((tenant.as_str(), document_id.as_str()), chunk).map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn count_chunks(&self, tenant: &TenantId, collection: Option<&CollectionId>) -> Result<usize> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM chunks WHERE tenant_id = ?1 AND (?2 IS NULL OR collection_id = ?2)",
                (tenant.as_str(), collection.map(CollectionId::as_str)),
                |r| r.get(0),
            )
            .map_err(db)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}
