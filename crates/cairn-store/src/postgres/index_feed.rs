//! The index feed: the change log and the reads an index needs to catch up or rebuild.
//!
//! Readers follow `index_changes` by `seq`. Appends take the feed's global lock (see
//! `commit::log_change`) and keep it until they commit, so sequence numbers become
//! visible in order: a reader that has seen `seq` n will never later find a change below
//! n committed behind its back.

use super::rows::{chunk, document, get};
use super::{PostgresStore, db, to_i64};
use crate::columns::{CHUNK_COLS, DOC_COLS};
use crate::repo::{IndexBatch, IndexChange, IndexFeedRepo, IndexedChunk};
use crate::{Error, Result};
use cairn_types::{Chunk, ChunkId, CollectionId, Document, DocumentId, TenantId};
use postgres::{GenericClient, IsolationLevel};
use std::collections::HashMap;

/// Decodes a little-endian f32 blob.
pub(crate) fn vector(bytes: &[u8]) -> Result<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(Error::Corrupt(format!(
            "embedding blob of {} bytes is not a whole number of f32",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Where a batch's chunks come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChunkTable {
    /// `chunks`: what searches read.
    Live,
    /// `staged_chunks`: a reindex's new sets (same columns); only documents with a
    /// staged set (possibly empty) belong to a batch.
    Staged,
}

impl ChunkTable {
    /// The table's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Live => "chunks",
            Self::Staged => "staged_chunks",
        }
    }
}

/// The documents among `documents` with their chunks from `table`, documents in id order
/// (as SQLite returns them), each one's chunks in ordinal order. Two statements: run it
/// in a repeatable-read transaction for documents and chunks of one snapshot.
pub(crate) fn batch_from(
    conn: &mut impl GenericClient,
    tenant: &TenantId,
    documents: &[DocumentId],
    table: ChunkTable,
    with_embeddings: bool,
) -> Result<IndexBatch> {
    let ids: Vec<&str> = documents.iter().map(DocumentId::as_str).collect();
    let docs = documents_in(conn, tenant, &ids, table)?;
    let found: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    let embedding = if with_embeddings {
        "embedding"
    } else {
        "NULL::bytea"
    };
    let rows = conn
        .query(
            &format!(
                "SELECT {CHUNK_COLS}, {embedding} FROM {}
                 WHERE tenant_id = $1 AND document_id = ANY($2) ORDER BY document_id, ordinal",
                table.name()
            ),
            &[&tenant.as_str(), &found],
        )
        .map_err(db)?;
    let mut by_doc: HashMap<String, Vec<IndexedChunk>> = HashMap::with_capacity(docs.len());
    for r in &rows {
        let c = chunk(r)?;
        let blob: Option<&[u8]> = get(r, 11, "embedding")?;
        let embedding = blob.map(vector).transpose()?;
        by_doc
            .entry(c.document.as_str().to_owned())
            .or_default()
            .push(IndexedChunk {
                chunk: c,
                embedding,
            });
    }
    let chunks = docs
        .iter()
        .flat_map(|d| by_doc.remove(d.id.as_str()).unwrap_or_default())
        .collect();
    Ok(IndexBatch {
        documents: docs,
        chunks,
    })
}

/// Ids of the collection's documents (for [`ChunkTable::Staged`], of its staged sets)
/// after `after`, in id order, at most `limit`.
pub(crate) fn page_ids(
    conn: &mut impl GenericClient,
    table: ChunkTable,
    tenant: &TenantId,
    collection: &CollectionId,
    after: Option<&DocumentId>,
    limit: usize,
) -> Result<Vec<DocumentId>> {
    let (from, id) = match table {
        ChunkTable::Live => ("documents", "id"),
        ChunkTable::Staged => ("staged_documents", "document_id"),
    };
    let after = after.map_or("", DocumentId::as_str);
    conn.query(
        &format!(
            "SELECT {id} FROM {from} WHERE tenant_id = $1 AND collection_id = $2 AND {id} > $3
             ORDER BY {id} LIMIT $4"
        ),
        &[
            &tenant.as_str(),
            &collection.as_str(),
            &after,
            &to_i64(limit),
        ],
    )
    .map_err(db)?
    .iter()
    .map(|r| Ok(DocumentId::new(get::<String>(r, 0, "document id")?)))
    .collect()
}

/// The stored documents among `ids` (for [`ChunkTable::Staged`], those with a staged
/// set), in id order.
fn documents_in(
    conn: &mut impl GenericClient,
    tenant: &TenantId,
    ids: &[&str],
    table: ChunkTable,
) -> Result<Vec<Document>> {
    let staged_only = match table {
        ChunkTable::Live => "",
        ChunkTable::Staged => {
            " AND EXISTS (SELECT 1 FROM staged_documents s
                 WHERE s.tenant_id = documents.tenant_id AND s.document_id = documents.id)"
        }
    };
    conn.query(
        &format!(
            "SELECT {DOC_COLS} FROM documents WHERE tenant_id = $1 AND id = ANY($2){staged_only}
             ORDER BY id"
        ),
        &[&tenant.as_str(), &ids],
    )
    .map_err(db)?
    .iter()
    .map(document)
    .collect()
}

impl IndexFeedRepo for PostgresStore {
    fn index_head(&self, tenant: &TenantId, collection: &CollectionId) -> Result<i64> {
        self.read("reading the index head", |client| {
            let row = client
                .query_one(
                    "SELECT GREATEST(
                        COALESCE((SELECT MAX(seq) FROM index_changes
                                  WHERE tenant_id = $1 AND collection_id = $2), 0),
                        COALESCE((SELECT pruned_through FROM index_log_floor
                                  WHERE tenant_id = $1 AND collection_id = $2), 0))",
                    &[&tenant.as_str(), &collection.as_str()],
                )
                .map_err(db)?;
            get(&row, 0, "seq")
        })
    }

    fn index_changes(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<IndexChange>> {
        self.read("reading index changes", |client| {
            client
                .query(
                    "SELECT seq, document_id FROM index_changes
                     WHERE tenant_id = $1 AND collection_id = $2 AND seq > $3
                     ORDER BY seq LIMIT $4",
                    &[
                        &tenant.as_str(),
                        &collection.as_str(),
                        &after,
                        &to_i64(limit),
                    ],
                )
                .map_err(db)?
                .iter()
                .map(|r| {
                    Ok(IndexChange {
                        seq: get(r, 0, "seq")?,
                        document: DocumentId::new(get::<String>(r, 1, "document_id")?),
                    })
                })
                .collect()
        })
    }

    fn index_documents(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<Vec<DocumentId>> {
        self.read("paging documents for an index rebuild", |client| {
            page_ids(client, ChunkTable::Live, tenant, collection, after, limit)
        })
    }

    fn index_batch(
        &self,
        tenant: &TenantId,
        documents: &[DocumentId],
        with_embeddings: bool,
    ) -> Result<IndexBatch> {
        self.read("reading documents to index", |client| {
            // One snapshot for the documents and their chunks: a commit landing between
            // the two reads cannot pair a document row with another version's chunks.
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(db)?;
            let batch = batch_from(
                &mut tx,
                tenant,
                documents,
                ChunkTable::Live,
                with_embeddings,
            )?;
            tx.commit().map_err(db)?;
            Ok(batch)
        })
    }

    fn get_chunks(&self, tenant: &TenantId, ids: &[ChunkId]) -> Result<Vec<Chunk>> {
        self.read("reading chunks", |client| {
            let strs: Vec<&str> = ids.iter().map(ChunkId::as_str).collect();
            let mut found: HashMap<String, Chunk> = client
                .query(
                    &format!(
                        "SELECT {CHUNK_COLS} FROM chunks WHERE tenant_id = $1 AND id = ANY($2)"
                    ),
                    &[&tenant.as_str(), &strs],
                )
                .map_err(db)?
                .iter()
                .map(|r| chunk(r).map(|c| (c.id.as_str().to_owned(), c)))
                .collect::<Result<_>>()?;
            // In the order given; an id asked for twice is returned once, as under SQLite.
            Ok(ids
                .iter()
                .filter_map(|id| found.remove(id.as_str()))
                .collect())
        })
    }

    fn get_documents(&self, tenant: &TenantId, ids: &[DocumentId]) -> Result<Vec<Document>> {
        self.read("reading documents", |client| {
            let strs: Vec<&str> = ids.iter().map(DocumentId::as_str).collect();
            let mut found: HashMap<String, Document> =
                documents_in(client, tenant, &strs, ChunkTable::Live)?
                    .into_iter()
                    .map(|d| (d.id.as_str().to_owned(), d))
                    .collect();
            Ok(ids
                .iter()
                .filter_map(|id| found.remove(id.as_str()))
                .collect())
        })
    }
}
