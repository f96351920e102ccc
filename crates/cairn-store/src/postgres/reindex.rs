//! The reindex staging area and the swap on PostgreSQL (see [`crate::reindex`]).
//!
//! What SQLite's single writer gave, row locks give here:
//! - staging one document locks its row (`FOR NO KEY UPDATE`), so two stagers of the
//!   same document replace each other's set in turn instead of colliding;
//! - the swap locks the collection row (`FOR UPDATE`: no document or job can be added
//!   to it) and then every document of the collection (`FOR SHARE`: none can be
//!   committed again or deleted) before it checks for stale sets, so nothing can change
//!   between the check and the swap. A commit already under way finishes first and the
//!   check sees it.
//!
//! The swap appends no index changes (see [`crate::reindex`]), so it takes no index-feed
//! lock.

use super::commit::{ChunkOwner, insert_chunks};
use super::index_feed::{ChunkTable, batch_from, page_ids};
use super::rows::{document, get};
use super::{PostgresStore, db, not_found, to_i64};
use crate::columns::{CHUNK_COLS, DOC_COLS, to_json};
use crate::reindex::{ReindexRepo, StagedSet, SwapOutcome};
use crate::{Error, IndexBatch, Result};
use cairn_types::{ChunkingSpec, CollectionId, Document, DocumentId, ParsedDoc, TenantId};
use postgres::Transaction;

/// The most stale ids a refused swap reports.
const STALE_LIST: i64 = 256;

/// Indexed documents of the collection whose current version has no staged set.
const UNSTAGED: &str = "FROM documents WHERE tenant_id = $1 AND collection_id = $2
     AND status = 'indexed' AND NOT EXISTS (
        SELECT 1 FROM staged_documents s WHERE s.tenant_id = documents.tenant_id
          AND s.document_id = documents.id AND s.content_hash = documents.content_hash)";

/// Writes (or replaces) a document's kept parsed text.
pub(crate) fn keep_text(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    document: &DocumentId,
    parsed: &ParsedDoc,
) -> Result<()> {
    let json = to_json(parsed)?;
    tx.execute(
        "INSERT INTO document_texts(tenant_id, document_id, parsed) VALUES ($1, $2, $3)
         ON CONFLICT(tenant_id, document_id) DO UPDATE SET parsed = excluded.parsed",
        &[&tenant.as_str(), &document.as_str(), &json],
    )
    .map_err(db)?;
    Ok(())
}

impl ReindexRepo for PostgresStore {
    fn document_text(&self, tenant: &TenantId, document: &DocumentId) -> Result<Option<ParsedDoc>> {
        let text: Option<String> = self.read("reading a document's parsed text", |client| {
            client
                .query_opt(
                    "SELECT parsed FROM document_texts WHERE tenant_id = $1 AND document_id = $2",
                    &[&tenant.as_str(), &document.as_str()],
                )
                .map_err(db)?
                .map(|row| get(&row, 0, "parsed"))
                .transpose()
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
        self.read("listing documents to stage", |client| {
            let after = after.map_or("", DocumentId::as_str);
            client
                .query(
                    &format!("SELECT {DOC_COLS} {UNSTAGED} AND id > $4 ORDER BY id LIMIT $3"),
                    &[
                        &tenant.as_str(),
                        &collection.as_str(),
                        &to_i64(limit),
                        &after,
                    ],
                )
                .map_err(db)?
                .iter()
                .map(document)
                .collect()
        })
    }

    fn count_unstaged(&self, tenant: &TenantId, collection: &CollectionId) -> Result<usize> {
        self.read("counting documents to stage", |client| {
            let row = client
                .query_one(
                    &format!("SELECT COUNT(*) {UNSTAGED}"),
                    &[&tenant.as_str(), &collection.as_str()],
                )
                .map_err(db)?;
            Ok(usize::try_from(get::<i64>(&row, 0, "count")?).unwrap_or(0))
        })
    }

    /// Locks the document's row (`FOR NO KEY UPDATE`) while it replaces the staged set,
    /// so concurrent stagers of one document take turns and the last one's set stays.
    fn stage_chunks(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        set: StagedSet<'_>,
    ) -> Result<()> {
        self.write(&format!("staging chunks of `{}`", set.document), |tx| {
            let in_collection: Option<String> = tx
                .query_opt(
                    "SELECT collection_id FROM documents WHERE tenant_id = $1 AND id = $2
                     FOR NO KEY UPDATE",
                    &[&tenant.as_str(), &set.document.as_str()],
                )
                .map_err(db)?
                .map(|row| get(&row, 0, "collection_id"))
                .transpose()?;
            if in_collection.as_deref() != Some(collection.as_str()) {
                return Err(not_found(format!(
                    "document `{}` in collection `{collection}` of tenant `{tenant}`",
                    set.document
                )));
            }
            // Replacing the staged row drops its chunks (cascade).
            tx.execute(
                "DELETE FROM staged_documents WHERE tenant_id = $1 AND document_id = $2",
                &[&tenant.as_str(), &set.document.as_str()],
            )
            .map_err(db)?;
            tx.execute(
                "INSERT INTO staged_documents(tenant_id, document_id, collection_id, content_hash,
                    chunk_count) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &tenant.as_str(),
                    &set.document.as_str(),
                    &collection.as_str(),
                    &set.content_hash,
                    &to_i64(set.chunks.len()),
                ],
            )
            .map_err(db)?;
            // Staged chunks are built from the document's own id: no draft to rewrite.
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
        self.read("paging staged documents", |client| {
            page_ids(client, ChunkTable::Staged, tenant, collection, after, limit)
        })
    }

    /// The documents among `documents` that have a staged set (in id order), each
    /// followed by its staged chunks in ordinal order, with their embeddings. Read in one
    /// snapshot, so the documents and chunks are of one moment.
    fn staged_batch(&self, tenant: &TenantId, documents: &[DocumentId]) -> Result<IndexBatch> {
        self.read("reading staged chunks", |client| {
            let mut tx = client
                .build_transaction()
                .read_only(true)
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .start()
                .map_err(db)?;
            let batch = batch_from(&mut tx, tenant, documents, ChunkTable::Staged, true)?;
            tx.commit().map_err(db)?;
            Ok(batch)
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
            // The collection row first (it is updated below anyway; holding it keeps new
            // documents out), then its documents (none committed again or deleted until
            // the swap commits). Statements after these see every commit that finished.
            let exists = tx
                .query_opt(
                    "SELECT 1 FROM collections WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
                    &[&t, &c],
                )
                .map_err(db)?
                .is_some();
            if exists {
                tx.execute(
                    "SELECT 1 FROM documents WHERE tenant_id = $1 AND collection_id = $2
                     FOR SHARE",
                    &[&t, &c],
                )
                .map_err(db)?;
            }
            let stale = tx
                .query(
                    &format!("SELECT id {UNSTAGED} ORDER BY id LIMIT $3"),
                    &[&t, &c, &STALE_LIST],
                )
                .map_err(db)?
                .iter()
                .map(|row| Ok(DocumentId::new(get::<String>(row, 0, "id")?)))
                .collect::<Result<Vec<_>>>()?;
            if !stale.is_empty() {
                return Ok(SwapOutcome::Stale(stale));
            }
            tx.execute(
                "DELETE FROM chunks WHERE tenant_id = $1 AND collection_id = $2",
                &[&t, &c],
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
                         WHERE k.tenant_id = $1 AND k.collection_id = $2",
                        cols = CHUNK_COLS
                            .split(',')
                            .map(|col| format!("k.{}", col.trim()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    &[&t, &c],
                )
                .map_err(db)?;
            let documents = tx
                .execute(
                    &format!(
                        "UPDATE documents SET chunk_count = (
                            SELECT s.chunk_count FROM staged_documents s {current}
                            WHERE s.tenant_id = documents.tenant_id
                              AND s.document_id = documents.id)
                         WHERE tenant_id = $1 AND collection_id = $2 AND status = 'indexed'"
                    ),
                    &[&t, &c],
                )
                .map_err(db)?;
            let generation: i64 = tx
                .query_opt(
                    "UPDATE collections SET chunking = $3, generation = generation + 1
                     WHERE tenant_id = $1 AND id = $2 RETURNING generation",
                    &[&t, &c, &spec],
                )
                .map_err(db)?
                .map(|row| get(&row, 0, "generation"))
                .transpose()?
                .ok_or_else(|| not_found(format!("collection `{c}` in tenant `{t}`")))?;
            tx.execute(
                "DELETE FROM staged_documents WHERE tenant_id = $1 AND collection_id = $2",
                &[&t, &c],
            )
            .map_err(db)?;
            let count = |n: u64| {
                usize::try_from(n).map_err(|e| Error::Corrupt(format!("row count {n}: {e}")))
            };
            Ok(SwapOutcome::Swapped {
                documents: count(documents)?,
                chunks: count(chunks)?,
                generation,
            })
        })
    }

    fn clear_staged(&self, tenant: &TenantId, collection: &CollectionId) -> Result<usize> {
        self.write("clearing the reindex staging area", |tx| {
            let n = tx
                .execute(
                    "DELETE FROM staged_documents WHERE tenant_id = $1 AND collection_id = $2",
                    &[&tenant.as_str(), &collection.as_str()],
                )
                .map_err(db)?;
            usize::try_from(n).map_err(|e| Error::Corrupt(format!("row count {n}: {e}")))
        })
    }
}
