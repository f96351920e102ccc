//! The reindex staging area and the swap (see [`crate::reindex`]).

use super::commit::{ChunkOwner, insert_chunks};
use super::index_feed::{ChunkTable, batch_from, page_ids};
use super::rows::{CHUNK_COLS, DOC_COLS, document, to_json};
use super::{SqliteStore, db, not_found, to_i64};
use crate::reindex::{ReindexRepo, StagedSet, SwapOutcome};
use crate::{Error, IndexBatch, Result};
use cairn_types::{ChunkingSpec, CollectionId, Document, DocumentId, ParsedDoc, TenantId};
use rusqlite::{OptionalExtension, Transaction};

/// The most stale ids a refused swap reports.
const STALE_LIST: usize = 256;

/// Indexed documents of the collection whose current version has no staged set.
const UNSTAGED: &str = "FROM documents WHERE tenant_id = ?1 AND collection_id = ?2
     AND status = 'indexed' AND NOT EXISTS (
        SELECT 1 FROM staged_documents s WHERE s.tenant_id = documents.tenant_id
          AND s.document_id = documents.id AND s.content_hash = documents.content_hash)";

/// Writes (or replaces) a document's kept parsed text.
pub(crate) fn keep_text(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    document: &DocumentId,
    parsed: &ParsedDoc,
) -> Result<()> {
    let json = to_json(parsed)?;
    tx.prepare_cached(
        "INSERT INTO document_texts(tenant_id, document_id, parsed) VALUES (?1, ?2, ?3)
         ON CONFLICT(tenant_id, document_id) DO UPDATE SET parsed = excluded.parsed",
    )
    .and_then(|mut st| st.execute((tenant.as_str(), document.as_str(), json)))
    .map_err(db)?;
    Ok(())
}

impl ReindexRepo for SqliteStore {
    fn document_text(&self, tenant: &TenantId, document: &DocumentId) -> Result<Option<ParsedDoc>> {
        let text: Option<String> = self.read("reading a document's parsed text", |conn| {
            conn.query_row(
                "SELECT parsed FROM document_texts WHERE tenant_id = ?1 AND document_id = ?2",
                (tenant.as_str(), document.as_str()),
                |r| r.get(0),
            )
            .optional()
            .map_err(db)
        })?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| Error::Corrupt(format!("parsed text of document `{document}`: {e}")))
        })
        .transpose()
    }

    fn unstaged_documents(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<Vec<Document>> {
        self.read("listing documents to stage", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {DOC_COLS} {UNSTAGED} AND id > ?4 ORDER BY id LIMIT ?3"
                ))
                .map_err(db)?;
            let after = after.map_or("", DocumentId::as_str);
            st.query_map(
                (tenant.as_str(), collection.as_str(), to_i64(limit), after),
                document,
            )
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)
        })
    }

    fn count_unstaged(&self, tenant: &TenantId, collection: &CollectionId) -> Result<usize> {
        self.read("counting documents to stage", |conn| {
            conn.query_row(
                &format!("SELECT COUNT(*) {UNSTAGED}"),
                (tenant.as_str(), collection.as_str()),
                |r| r.get::<_, i64>(0),
            )
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(db)
        })
    }

    fn stage_chunks(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        set: StagedSet<'_>,
    ) -> Result<()> {
        self.write(&format!("staging chunks of `{}`", set.document), |tx| {
            let in_collection: Option<String> = tx
                .query_row(
                    "SELECT collection_id FROM documents WHERE tenant_id = ?1 AND id = ?2",
                    (tenant.as_str(), set.document.as_str()),
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if in_collection.as_deref() != Some(collection.as_str()) {
                return Err(not_found(format!(
                    "document `{}` in collection `{collection}` of tenant `{tenant}`",
                    set.document
                )));
            }
            // Replacing the staged row drops its chunks (cascade).
            tx.execute(
                "DELETE FROM staged_documents WHERE tenant_id = ?1 AND document_id = ?2",
                (tenant.as_str(), set.document.as_str()),
            )
            .map_err(db)?;
            tx.execute(
                "INSERT INTO staged_documents(tenant_id, document_id, collection_id, content_hash,
                    chunk_count) VALUES (?1, ?2, ?3, ?4, ?5)",
                (
                    tenant.as_str(),
                    set.document.as_str(),
                    collection.as_str(),
                    set.content_hash,
                    to_i64(set.chunks.len()),
                ),
            )
            .map_err(db)?;
            let owner = ChunkOwner {
                tenant,
                collection,
                draft: set.document,
                id: set.document,
            };
            insert_chunks(tx, ChunkTable::Staged, &owner, set.chunks, set.embeddings)?;
            if let Some(parsed) = set.parsed {
                keep_text(tx, tenant, set.document, parsed)?;
            }
            Ok(())
        })
    }

    fn staged_documents(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<Vec<DocumentId>> {
        self.read("paging staged documents", |conn| {
            page_ids(conn, ChunkTable::Staged, tenant, collection, after, limit)
        })
    }

    fn staged_batch(&self, tenant: &TenantId, documents: &[DocumentId]) -> Result<IndexBatch> {
        self.read("reading staged chunks", |conn| {
            batch_from(conn, tenant, documents, ChunkTable::Staged, true)
        })
    }

    fn swap_staged(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        chunking: &ChunkingSpec,
    ) -> Result<SwapOutcome> {
        let spec = to_json(chunking)?;
        self.write(&format!("swapping in the reindexed `{collection}`"), |tx| {
            let t = tenant.as_str();
            let c = collection.as_str();
            let stale: Vec<DocumentId> = {
                let mut st = tx
                    .prepare_cached(&format!("SELECT id {UNSTAGED} ORDER BY id LIMIT ?3"))
                    .map_err(db)?;
                st.query_map((t, c, to_i64(STALE_LIST)), |r| {
                    Ok(DocumentId::new(r.get::<_, String>(0)?))
                })
                .map_err(db)?
                .collect::<rusqlite::Result<_>>()
                .map_err(db)?
            };
            if !stale.is_empty() {
                return Ok(SwapOutcome::Stale(stale));
            }
            tx.execute(
                "DELETE FROM chunks WHERE tenant_id = ?1 AND collection_id = ?2",
                (t, c),
            )
            .map_err(db)?;
            // Sets of documents that are gone, skipped now, or changed are left behind.
            let current = "JOIN documents d ON d.tenant_id = s.tenant_id
                 AND d.id = s.document_id AND d.content_hash = s.content_hash
                 AND d.status = 'indexed'";
            let chunks = tx
                .execute(
                    &format!(
                        "INSERT INTO chunks({CHUNK_COLS}, embedding)
                         SELECT {cols}, k.embedding FROM staged_chunks k
                         JOIN staged_documents s ON s.tenant_id = k.tenant_id
                              AND s.document_id = k.document_id
                         {current}
                         WHERE k.tenant_id = ?1 AND k.collection_id = ?2",
                        cols = CHUNK_COLS
                            .split(',')
                            .map(|col| format!("k.{}", col.trim()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    (t, c),
                )
                .map_err(db)?;
            let documents = tx
                .execute(
                    &format!(
                        "UPDATE documents SET chunk_count = (
                            SELECT s.chunk_count FROM staged_documents s {current}
                            WHERE s.tenant_id = documents.tenant_id
                              AND s.document_id = documents.id)
                         WHERE tenant_id = ?1 AND collection_id = ?2 AND status = 'indexed'"
                    ),
                    (t, c),
                )
                .map_err(db)?;
            let generation: i64 = tx
                .query_row(
                    "UPDATE collections SET chunking = ?3, generation = generation + 1
                     WHERE tenant_id = ?1 AND id = ?2 RETURNING generation",
                    (t, c, &spec),
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?
                .ok_or_else(|| not_found(format!("collection `{c}` in tenant `{t}`")))?;
            tx.execute(
                "DELETE FROM staged_documents WHERE tenant_id = ?1 AND collection_id = ?2",
                (t, c),
            )
            .map_err(db)?;
            Ok(SwapOutcome::Swapped {
                documents,
                chunks,
                generation,
            })
        })
    }

    fn clear_staged(&self, tenant: &TenantId, collection: &CollectionId) -> Result<usize> {
        self.write("clearing the reindex staging area", |tx| {
            tx.execute(
                "DELETE FROM staged_documents WHERE tenant_id = ?1 AND collection_id = ?2",
                (tenant.as_str(), collection.as_str()),
            )
            .map_err(db)
        })
    }
}
