//! Documents and their chunks: reads, touch and delete. The one writer of chunks is
//! [`commit_tx`] (in `commit.rs`), run by `commit_document` in a single transaction.

use super::commit::{commit_tx, log_change};
use super::jobs::complete_job_tx;
use super::rows::{CHUNK_COLS, DOC_COLS, SUMMARY_COLS, chunk, document};
use super::{SqliteStore, db, not_found, to_i64};
use crate::repo::{AclViewer, DocumentCommit, DocumentRepo, DocumentSummary};
use crate::{Error, Result};
use cairn_types::{Chunk, CollectionId, Document, DocumentId, JobId, TenantId};
use rusqlite::{Connection, OptionalExtension};

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocumentSummary> {
    let size: i64 = r.get(4)?;
    Ok(DocumentSummary {
        id: DocumentId::new(r.get::<_, String>(0)?),
        source: r.get(1)?,
        content_hash: r.get(2)?,
        mtime: r.get(3)?,
        size_bytes: u64::try_from(size).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Integer, e.into())
        })?,
        // The SimHash is a u64 stored bit for bit in SQLite's signed integer.
        simhash: r.get::<_, i64>(5)?.cast_unsigned(),
    })
}

pub(crate) fn doc_not_found(tenant: &TenantId, id: &DocumentId) -> Error {
    not_found(format!("document `{id}` in tenant `{tenant}`"))
}

pub(crate) fn load(
    conn: &Connection,
    tenant: &TenantId,
    id: &DocumentId,
) -> Result<Option<Document>> {
    conn.query_row(
        &format!("SELECT {DOC_COLS} FROM documents WHERE tenant_id = ?1 AND id = ?2"),
        (tenant.as_str(), id.as_str()),
        document,
    )
    .optional()
    .map_err(db)
}

impl DocumentRepo for SqliteStore {
    fn commit_document(
        &self,
        tenant: &TenantId,
        commit: DocumentCommit,
        now: i64,
    ) -> Result<Document> {
        let what = format!("committing `{}` in tenant `{tenant}`", commit.doc.source);
        self.write(&what, |tx| commit_tx(tx, tenant, commit, now))
    }

    fn touch_document(
        &self,
        tenant: &TenantId,
        id: &DocumentId,
        mtime: i64,
        job: Option<&JobId>,
        now: i64,
    ) -> Result<()> {
        self.write(&format!("touching document `{id}` in tenant `{tenant}`"), |tx| {
            let n = tx
                .execute(
                    "UPDATE documents SET mtime = ?3, updated_at = ?4 WHERE tenant_id = ?1 AND id = ?2",
                    (tenant.as_str(), id.as_str(), mtime, now),
                )
                .map_err(db)?;
            if n == 0 {
                return Err(doc_not_found(tenant, id));
            }
            if let Some(job) = job {
                complete_job_tx(tx, tenant, job, Some(id), 0, now)?;
            }
            Ok(())
        })
    }

    fn get_document(&self, tenant: &TenantId, id: &DocumentId) -> Result<Document> {
        self.read(
            &format!("reading document `{id}` in tenant `{tenant}`"),
            |conn| load(conn, tenant, id)?.ok_or_else(|| doc_not_found(tenant, id)),
        )
    }

    fn find_by_source(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        source: &str,
    ) -> Result<Option<Document>> {
        self.read(
            &format!("looking up `{source}` in collection `{collection}`"),
            |conn| {
                conn.query_row(
                    &format!(
                        "SELECT {DOC_COLS} FROM documents
                     WHERE tenant_id = ?1 AND collection_id = ?2 AND source = ?3"
                    ),
                    (tenant.as_str(), collection.as_str(), source),
                    document,
                )
                .optional()
                .map_err(db)
            },
        )
    }

    fn find_by_hash(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        content_hash: &str,
        excluding_source: &str,
    ) -> Result<Option<DocumentSummary>> {
        self.read(
            &format!("looking up a content hash in collection `{collection}`"),
            |conn| {
                conn.query_row(
                    &format!(
                        "SELECT {SUMMARY_COLS} FROM documents
                     WHERE tenant_id = ?1 AND collection_id = ?2 AND content_hash = ?3
                       AND source <> ?4 AND status = 'indexed'
                     ORDER BY source LIMIT 1"
                    ),
                    (
                        tenant.as_str(),
                        collection.as_str(),
                        content_hash,
                        excluding_source,
                    ),
                    summary,
                )
                .optional()
                .map_err(db)
            },
        )
    }

    fn document_summaries(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
    ) -> Result<Vec<DocumentSummary>> {
        self.read(&format!("listing documents of collection `{collection}`"), |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {SUMMARY_COLS} FROM documents WHERE tenant_id = ?1 AND collection_id = ?2
                     ORDER BY source"
                ))
                .map_err(db)?;
            let rows = st.query_map((tenant.as_str(), collection.as_str()), summary).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn list_documents(
        &self,
        tenant: &TenantId,
        collection: Option<&CollectionId>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Document>> {
        self.read(&format!("listing documents of tenant `{tenant}`"), |conn| {
            let (limit, offset) = (to_i64(limit), to_i64(offset));
            let base = format!("SELECT {DOC_COLS} FROM documents WHERE tenant_id = ?1");
            let rows = match collection {
                Some(c) => conn
                    .prepare_cached(&format!(
                        "{base} AND collection_id = ?2 ORDER BY source LIMIT ?3 OFFSET ?4"
                    ))
                    .and_then(|mut st| {
                        st.query_map((tenant.as_str(), c.as_str(), limit, offset), document)?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    }),
                None => conn
                    .prepare_cached(&format!(
                        "{base} ORDER BY collection_id, source LIMIT ?2 OFFSET ?3"
                    ))
                    .and_then(|mut st| {
                        st.query_map((tenant.as_str(), limit, offset), document)?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    }),
            };
            rows.map_err(db)
        })
    }

    fn list_documents_for(
        &self,
        tenant: &TenantId,
        collection: Option<&CollectionId>,
        viewer: &AclViewer,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Document>> {
        let (clause, user, groups) = acl_clause("acl_users", "acl_groups", viewer)?;
        self.read(&format!("listing documents of tenant `{tenant}`"), |conn| {
            let sql = format!(
                "SELECT {DOC_COLS} FROM documents WHERE tenant_id = ?
                   AND (? IS NULL OR collection_id = ?) AND {clause}
                 ORDER BY collection_id, source LIMIT ? OFFSET ?"
            );
            let coll = collection.map(CollectionId::as_str);
            let mut st = conn.prepare_cached(&sql).map_err(db)?;
            let rows = st
                .query_map(
                    rusqlite::params![
                        tenant.as_str(),
                        coll,
                        coll,
                        user,
                        groups,
                        to_i64(limit),
                        to_i64(offset)
                    ],
                    document,
                )
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn delete_document(&self, tenant: &TenantId, id: &DocumentId) -> Result<()> {
        // Foreign keys cascade to the chunks and idempotency keys.
        self.write(
            &format!("deleting document `{id}` in tenant `{tenant}`"),
            |tx| {
                let collection: Option<String> = tx
                    .query_row(
                        "DELETE FROM documents WHERE tenant_id = ?1 AND id = ?2
                         RETURNING collection_id",
                        (tenant.as_str(), id.as_str()),
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db)?;
                let Some(collection) = collection else {
                    return Err(doc_not_found(tenant, id));
                };
                log_change(tx, tenant, &CollectionId::new(collection), id)
            },
        )
    }

    fn list_chunks(&self, tenant: &TenantId, document_id: &DocumentId) -> Result<Vec<Chunk>> {
        self.read(
            &format!("listing chunks of document `{document_id}`"),
            |conn| {
                let mut st = conn
                    .prepare_cached(&format!(
                        "SELECT {CHUNK_COLS} FROM chunks WHERE tenant_id = ?1 AND document_id = ?2
                     ORDER BY ordinal"
                    ))
                    .map_err(db)?;
                let rows = st
                    .query_map((tenant.as_str(), document_id.as_str()), chunk)
                    .map_err(db)?;
                rows.collect::<rusqlite::Result<_>>().map_err(db)
            },
        )
    }

    fn count_chunks(&self, tenant: &TenantId, collection: Option<&CollectionId>) -> Result<usize> {
        self.read(&format!("counting chunks of tenant `{tenant}`"), |conn| {
            let n: i64 = match collection {
                Some(c) => conn.query_row(
                    "SELECT COUNT(*) FROM chunks WHERE tenant_id = ?1 AND collection_id = ?2",
                    (tenant.as_str(), c.as_str()),
                    |r| r.get(0),
                ),
                None => conn.query_row(
                    "SELECT COUNT(*) FROM chunks WHERE tenant_id = ?1",
                    [tenant.as_str()],
                    |r| r.get(0),
                ),
            }
            .map_err(db)?;
            usize::try_from(n).map_err(|e| Error::Corrupt(format!("chunk count {n}: {e}")))
        })
    }
}

/// The SQL predicate "the ACL stored as JSON arrays in `users_col` / `groups_col` admits
/// the viewer" (empty or absent lists on both sides admit everyone), and its two
/// parameters in order: the user id and the viewer's groups as a JSON array.
pub(crate) fn acl_clause(
    users_col: &str,
    groups_col: &str,
    viewer: &AclViewer,
) -> Result<(String, Option<String>, String)> {
    let groups = super::rows::to_json(&viewer.groups)?;
    let clause = format!(
        "((COALESCE(json_array_length({users_col}), 0) = 0
             AND COALESCE(json_array_length({groups_col}), 0) = 0)
          OR EXISTS (SELECT 1 FROM json_each(COALESCE({users_col}, '[]')) WHERE value = ?)
          OR EXISTS (SELECT 1 FROM json_each(COALESCE({groups_col}, '[]'))
                     WHERE value IN (SELECT value FROM json_each(?))))"
    );
    Ok((clause, viewer.user.clone(), groups))
}
