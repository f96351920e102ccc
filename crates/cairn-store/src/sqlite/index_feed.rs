//! The index feed: the change log and the reads an index needs to catch up or rebuild.

use super::rows::{CHUNK_COLS, DOC_COLS, chunk, document};
use super::{SqliteStore, db, to_i64};
use crate::repo::{IndexBatch, IndexChange, IndexFeedRepo, IndexedChunk};
use crate::{Error, Result};
use cairn_types::{Chunk, ChunkId, CollectionId, Document, DocumentId, TenantId};
use rusqlite::Connection;
use std::collections::HashMap;

/// Rows per `IN (...)` list (well under SQLite's variable limit).
const IN_LIST: usize = 500;

fn placeholders(n: usize, first: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

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

/// The documents among `documents` with their chunks from `table`, in ordinal order.
pub(crate) fn batch_from(
    conn: &Connection,
    tenant: &TenantId,
    documents: &[DocumentId],
    table: ChunkTable,
    with_embeddings: bool,
) -> Result<IndexBatch> {
    let ids: Vec<&str> = documents.iter().map(DocumentId::as_str).collect();
    let docs = documents_in(conn, tenant, &ids, table)?;
    let name = table.name();
    let mut chunks = Vec::new();
    let mut st = conn
        .prepare_cached(&format!(
            "SELECT {CHUNK_COLS}, embedding FROM {name}
             WHERE tenant_id = ?1 AND document_id = ?2 ORDER BY ordinal"
        ))
        .map_err(db)?;
    for d in &docs {
        let rows = st
            .query_map((tenant.as_str(), d.id.as_str()), |r| {
                let blob: Option<Vec<u8>> = if with_embeddings { r.get(11)? } else { None };
                Ok((chunk(r)?, blob))
            })
            .map_err(db)?;
        for row in rows {
            let (chunk, blob) = row.map_err(db)?;
            let embedding = blob.as_deref().map(vector).transpose()?;
            chunks.push(IndexedChunk { chunk, embedding });
        }
    }
    Ok(IndexBatch {
        documents: docs,
        chunks,
    })
}

/// Ids of the collection's documents (for [`ChunkTable::Staged`], of its staged sets)
/// after `after`, in id order, at most `limit`.
pub(crate) fn page_ids(
    conn: &Connection,
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
    let mut st = conn
        .prepare_cached(&format!(
            "SELECT {id} FROM {from} WHERE tenant_id = ?1 AND collection_id = ?2 AND {id} > ?3
             ORDER BY {id} LIMIT ?4"
        ))
        .map_err(db)?;
    let after = after.map_or("", DocumentId::as_str);
    st.query_map(
        (tenant.as_str(), collection.as_str(), after, to_i64(limit)),
        |r| Ok(DocumentId::new(r.get::<_, String>(0)?)),
    )
    .map_err(db)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(db)
}

/// The stored documents among `ids` (for [`ChunkTable::Staged`], those with a staged set).
fn documents_in(
    conn: &Connection,
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
    let mut out = Vec::with_capacity(ids.len());
    for part in ids.chunks(IN_LIST) {
        let sql = format!(
            "SELECT {DOC_COLS} FROM documents WHERE tenant_id = ?1 AND id IN ({}){staged_only}",
            placeholders(part.len(), 2)
        );
        let mut st = conn.prepare(&sql).map_err(db)?;
        let params = rusqlite::params_from_iter(
            std::iter::once(tenant.as_str()).chain(part.iter().copied()),
        );
        let rows = st
            .query_map(params, document)
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        out.extend(rows);
    }
    Ok(out)
}

impl IndexFeedRepo for SqliteStore {
    fn index_head(&self, tenant: &TenantId, collection: &CollectionId) -> Result<i64> {
        self.read("reading the index head", |conn| {
            conn.prepare_cached(
                "SELECT MAX(
                    COALESCE((SELECT MAX(seq) FROM index_changes
                              WHERE tenant_id = ?1 AND collection_id = ?2), 0),
                    COALESCE((SELECT pruned_through FROM index_log_floor
                              WHERE tenant_id = ?1 AND collection_id = ?2), 0))",
            )
            .and_then(|mut st| st.query_row((tenant.as_str(), collection.as_str()), |r| r.get(0)))
            .map_err(db)
        })
    }

    fn index_changes(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<IndexChange>> {
        self.read("reading index changes", |conn| {
            let mut st = conn
                .prepare_cached(
                    "SELECT seq, document_id FROM index_changes
                     WHERE tenant_id = ?1 AND collection_id = ?2 AND seq > ?3
                     ORDER BY seq LIMIT ?4",
                )
                .map_err(db)?;
            st.query_map(
                (tenant.as_str(), collection.as_str(), after, to_i64(limit)),
                |r| {
                    Ok(IndexChange {
                        seq: r.get(0)?,
                        document: DocumentId::new(r.get::<_, String>(1)?),
                    })
                },
            )
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)
        })
    }

    fn index_documents(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<Vec<DocumentId>> {
        self.read("paging documents for an index rebuild", |conn| {
            page_ids(conn, ChunkTable::Live, tenant, collection, after, limit)
        })
    }

    fn index_batch(
        &self,
        tenant: &TenantId,
        documents: &[DocumentId],
        with_embeddings: bool,
    ) -> Result<IndexBatch> {
        self.read("reading documents to index", |conn| {
            batch_from(conn, tenant, documents, ChunkTable::Live, with_embeddings)
        })
    }

    fn get_chunks(&self, tenant: &TenantId, ids: &[ChunkId]) -> Result<Vec<Chunk>> {
        self.read("reading chunks", |conn| {
            let mut found: HashMap<String, Chunk> = HashMap::with_capacity(ids.len());
            for part in ids.chunks(IN_LIST) {
                let sql = format!(
                    "SELECT {CHUNK_COLS} FROM chunks WHERE tenant_id = ?1 AND id IN ({})",
                    placeholders(part.len(), 2)
                );
                let mut st = conn.prepare(&sql).map_err(db)?;
                let params = rusqlite::params_from_iter(
                    std::iter::once(tenant.as_str()).chain(part.iter().map(ChunkId::as_str)),
                );
                let rows = st.query_map(params, chunk).map_err(db)?;
                for row in rows {
                    let c = row.map_err(db)?;
                    found.insert(c.id.as_str().to_owned(), c);
                }
            }
            Ok(ids
                .iter()
                .filter_map(|id| found.remove(id.as_str()))
                .collect())
        })
    }

    fn get_documents(&self, tenant: &TenantId, ids: &[DocumentId]) -> Result<Vec<Document>> {
        self.read("reading documents", |conn| {
            let strs: Vec<&str> = ids.iter().map(DocumentId::as_str).collect();
            let mut found: HashMap<String, Document> =
                documents_in(conn, tenant, &strs, ChunkTable::Live)?
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
