//! Documents and their chunks: reads, touch and delete. The one writer of chunks is
//! [`commit_tx`] (in `commit.rs`), run by `commit_document` in a single transaction.
//!
//! Every read is one statement, so it sees one committed state: a document's chunk list
//! is the old set or the new one, never a mix.

use super::commit::{commit_tx, log_change};
use super::jobs::complete_job_tx;
use super::rows::{chunk, document, get};
use super::{PostgresStore, db, not_found, to_i64};
use crate::columns::{CHUNK_COLS, DOC_COLS, SUMMARY_COLS};
use crate::repo::{AclViewer, DocumentCommit, DocumentRepo, DocumentSummary};
use crate::{Error, Result};
use cairn_types::{Chunk, CollectionId, Document, DocumentId, JobId, TenantId};
use postgres::{GenericClient, Row};

fn summary(r: &Row) -> Result<DocumentSummary> {
    let size: i64 = get(r, 4, "size_bytes")?;
    Ok(DocumentSummary {
        id: DocumentId::new(get::<String>(r, 0, "id")?),
        source: get(r, 1, "source")?,
        content_hash: get(r, 2, "content_hash")?,
        mtime: get(r, 3, "mtime")?,
        size_bytes: u64::try_from(size)
            .map_err(|e| Error::Corrupt(format!("column 4 (size_bytes): {e}")))?,
        // The SimHash is a u64 stored bit for bit in the signed column.
        simhash: get::<i64>(r, 5, "simhash")?.cast_unsigned(),
    })
}

pub(crate) fn doc_not_found(tenant: &TenantId, id: &DocumentId) -> Error {
    not_found(format!("document `{id}` in tenant `{tenant}`"))
}

/// The stored document, if any (inside a transaction or on a pooled client).
pub(crate) fn load(
    conn: &mut impl GenericClient,
    tenant: &TenantId,
    id: &DocumentId,
) -> Result<Option<Document>> {
    conn.query_opt(
        &format!("SELECT {DOC_COLS} FROM documents WHERE tenant_id = $1 AND id = $2"),
        &[&tenant.as_str(), &id.as_str()],
    )
    .map_err(db)?
    .map(|r| document(&r))
    .transpose()
}

impl DocumentRepo for PostgresStore {
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
        self.write(
            &format!("touching document `{id}` in tenant `{tenant}`"),
            |tx| {
                let n = tx
                    .execute(
                        "UPDATE documents SET mtime = $3, updated_at = $4
                         WHERE tenant_id = $1 AND id = $2",
                        &[&tenant.as_str(), &id.as_str(), &mtime, &now],
                    )
                    .map_err(db)?;
                if n == 0 {
                    return Err(doc_not_found(tenant, id));
                }
                if let Some(job) = job {
                    complete_job_tx(tx, tenant, job, Some(id), 0, now)?;
                }
                Ok(())
            },
        )
    }

    fn get_document(&self, tenant: &TenantId, id: &DocumentId) -> Result<Document> {
        self.read(
            &format!("reading document `{id}` in tenant `{tenant}`"),
            |client| load(client, tenant, id)?.ok_or_else(|| doc_not_found(tenant, id)),
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
            |client| {
                client
                    .query_opt(
                        &format!(
                            "SELECT {DOC_COLS} FROM documents
                             WHERE tenant_id = $1 AND collection_id = $2 AND source = $3"
                        ),
                        &[&tenant.as_str(), &collection.as_str(), &source],
                    )
                    .map_err(db)?
                    .map(|r| document(&r))
                    .transpose()
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
            |client| {
                client
                    .query_opt(
                        &format!(
                            "SELECT {SUMMARY_COLS} FROM documents
                             WHERE tenant_id = $1 AND collection_id = $2 AND content_hash = $3
                               AND source <> $4 AND status = 'indexed'
                             ORDER BY source LIMIT 1"
                        ),
                        &[
                            &tenant.as_str(),
                            &collection.as_str(),
                            &content_hash,
                            &excluding_source,
                        ],
                    )
                    .map_err(db)?
                    .map(|r| summary(&r))
                    .transpose()
            },
        )
    }

    fn document_summaries(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
    ) -> Result<Vec<DocumentSummary>> {
        self.read(
            &format!("listing documents of collection `{collection}`"),
            |client| {
                client
                    .query(
                        &format!(
                            "SELECT {SUMMARY_COLS} FROM documents
                             WHERE tenant_id = $1 AND collection_id = $2 ORDER BY source"
                        ),
                        &[&tenant.as_str(), &collection.as_str()],
                    )
                    .map_err(db)?
                    .iter()
                    .map(summary)
                    .collect()
            },
        )
    }

    fn list_documents(
        &self,
        tenant: &TenantId,
        collection: Option<&CollectionId>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Document>> {
        self.read(
            &format!("listing documents of tenant `{tenant}`"),
            |client| {
                let (limit, offset) = (to_i64(limit), to_i64(offset));
                let base = format!("SELECT {DOC_COLS} FROM documents WHERE tenant_id = $1");
                let rows = match collection {
                    Some(c) => client.query(
                        &format!(
                            "{base} AND collection_id = $2 ORDER BY source LIMIT $3 OFFSET $4"
                        ),
                        &[&tenant.as_str(), &c.as_str(), &limit, &offset],
                    ),
                    None => client.query(
                        &format!("{base} ORDER BY collection_id, source LIMIT $2 OFFSET $3"),
                        &[&tenant.as_str(), &limit, &offset],
                    ),
                }
                .map_err(db)?;
                rows.iter().map(document).collect()
            },
        )
    }

    fn list_documents_for(
        &self,
        tenant: &TenantId,
        collection: Option<&CollectionId>,
        viewer: &AclViewer,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Document>> {
        let (clause, user, groups) = acl_clause("acl_users::jsonb", "acl_groups::jsonb", viewer, 3);
        self.read(
            &format!("listing documents of tenant `{tenant}`"),
            |client| {
                let sql = format!(
                    "SELECT {DOC_COLS} FROM documents WHERE tenant_id = $1
                   AND ($2::text IS NULL OR collection_id = $2) AND {clause}
                 ORDER BY collection_id, source LIMIT $5 OFFSET $6"
                );
                let coll = collection.map(CollectionId::as_str);
                client
                    .query(
                        &sql,
                        &[
                            &tenant.as_str(),
                            &coll,
                            &user,
                            &groups,
                            &to_i64(limit),
                            &to_i64(offset),
                        ],
                    )
                    .map_err(db)?
                    .iter()
                    .map(document)
                    .collect()
            },
        )
    }

    fn delete_document(&self, tenant: &TenantId, id: &DocumentId) -> Result<()> {
        // Foreign keys cascade to the chunks, idempotency keys, kept text and staged set.
        self.write(
            &format!("deleting document `{id}` in tenant `{tenant}`"),
            |tx| {
                let row = tx
                    .query_opt(
                        "DELETE FROM documents WHERE tenant_id = $1 AND id = $2
                         RETURNING collection_id",
                        &[&tenant.as_str(), &id.as_str()],
                    )
                    .map_err(db)?;
                let Some(row) = row else {
                    return Err(doc_not_found(tenant, id));
                };
                let collection = CollectionId::new(get::<String>(&row, 0, "collection_id")?);
                log_change(tx, tenant, &collection, id)
            },
        )
    }

    fn list_chunks(&self, tenant: &TenantId, document_id: &DocumentId) -> Result<Vec<Chunk>> {
        self.read(
            &format!("listing chunks of document `{document_id}`"),
            |client| {
                client
                    .query(
                        &format!(
                            "SELECT {CHUNK_COLS} FROM chunks
                             WHERE tenant_id = $1 AND document_id = $2 ORDER BY ordinal"
                        ),
                        &[&tenant.as_str(), &document_id.as_str()],
                    )
                    .map_err(db)?
                    .iter()
                    .map(chunk)
                    .collect()
            },
        )
    }

    fn count_chunks(&self, tenant: &TenantId, collection: Option<&CollectionId>) -> Result<usize> {
        self.read(&format!("counting chunks of tenant `{tenant}`"), |client| {
            let row = match collection {
                Some(c) => client.query_one(
                    "SELECT COUNT(*) FROM chunks WHERE tenant_id = $1 AND collection_id = $2",
                    &[&tenant.as_str(), &c.as_str()],
                ),
                None => client.query_one(
                    "SELECT COUNT(*) FROM chunks WHERE tenant_id = $1",
                    &[&tenant.as_str()],
                ),
            }
            .map_err(db)?;
            super::rows::count(&row, 0, "count")
        })
    }
}

/// The SQL predicate "the ACL held as JSON arrays by the `jsonb` expressions `users` /
/// `groups` admits the viewer" (empty, absent or non-array lists on both sides admit
/// everyone), using parameters `$first` (the user id, text or NULL) and `$first + 1` (the
/// viewer's groups, `text[]`), and the values of those two parameters in order.
///
/// For the documents table the expressions are `acl_users::jsonb` and
/// `acl_groups::jsonb`; for a job's ingest ACL, `kind::jsonb -> 'acl' -> 'users'` and
/// `… -> 'groups'` (where SQLite uses `json_extract(kind, '$.acl.users')`).
pub(crate) fn acl_clause(
    users: &str,
    groups: &str,
    viewer: &AclViewer,
    first: usize,
) -> (String, Option<String>, Vec<String>) {
    let (user_param, groups_param) = (first, first + 1);
    // `?` and `?|` test for strings among a JSON array's top-level elements, as SQLite's
    // `json_each(…) WHERE value = …` does; they are operators here, not placeholders.
    let clause = format!(
        "((COALESCE(jsonb_array_length(CASE WHEN jsonb_typeof({users}) = 'array'
                                            THEN {users} END), 0) = 0
           AND COALESCE(jsonb_array_length(CASE WHEN jsonb_typeof({groups}) = 'array'
                                                THEN {groups} END), 0) = 0)
          OR (${user_param}::text IS NOT NULL AND jsonb_typeof({users}) = 'array'
              AND {users} ? ${user_param}::text)
          OR (jsonb_typeof({groups}) = 'array' AND {groups} ?| ${groups_param}::text[]))"
    );
    (clause, viewer.user.clone(), viewer.groups.clone())
}
