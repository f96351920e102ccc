//! Search state kept in the store itself and shared by every node
//! (`retrieval.dense_backend = "pgvector"`, `retrieval.lexical_backend = "postgres"`).
//!
//! A *shared space* is one collection's searchable chunks as one more replica of the
//! change log, held in the database instead of in each server's memory: one row per
//! searchable chunk with its document's filter attributes (ACL principals, sources, type,
//! tags, date), its normalized embedding and its lexemes. Whoever syncs it first (any
//! server, under [`SharedIndexRepo::with_shared_lock`]) applies the changes; the others
//! find it already there. Rows cascade with their document, so deleting or erasing a
//! document removes its vectors in the same transaction.
//!
//! Filters are evaluated inside the same query as the ranking, so a filtered-out chunk
//! never takes a slot in the top-k; the dense side walks pgvector's HNSW graph with
//! iterative scans and falls back to an exact scan when they return fewer than asked.

use crate::Result;
use cairn_types::{CollectionId, TenantId};

/// Which shared space, and what it must hold. A stored space built for another
/// incarnation of the collection or another shape is emptied and starts over.
#[derive(Clone, Copy, Debug)]
pub struct SharedSpace<'a> {
    pub tenant: &'a TenantId,
    pub collection: &'a CollectionId,
    /// The collection's creation time and reindex generation.
    pub created_at: i64,
    pub generation: i64,
    /// The embedder (id, dimension) whose vectors it keeps; `None`: no vectors.
    pub vectors: Option<(&'a str, usize)>,
    /// Whether it keeps lexemes for full-text search.
    pub lexemes: bool,
    /// HNSW shape of the dimension's vector index: (m, ef_construction).
    pub hnsw: (usize, usize),
}

/// One document to (re)index with its searchable chunks.
#[derive(Clone, Debug, Default)]
pub struct SharedDoc {
    pub document: String,
    /// ACL principals (`u:…`, `g:…`); empty: everyone in the tenant.
    pub principals: Vec<String>,
    /// Values the source filter matches (the full source and its file name).
    pub sources: Vec<String>,
    pub kind: String,
    pub tags: Vec<String>,
    /// Unix ms.
    pub date: i64,
    pub chunks: Vec<SharedChunk>,
}

/// One searchable chunk.
#[derive(Clone, Debug, Default)]
pub struct SharedChunk {
    /// The index key of `<document>:<ordinal>`.
    pub key: u64,
    /// Normalized embedding (kept when the space keeps vectors).
    pub vector: Option<Vec<f32>>,
    /// Analyzed terms in order (kept when the space keeps lexemes).
    pub terms: Vec<String>,
}

/// Restrictions on a shared search; empty lists mean "no restriction".
#[derive(Clone, Debug, Default)]
pub struct SharedFilter {
    /// The principal terms a document must carry one of (`*` = public), or `None`.
    pub principals: Option<Vec<String>>,
    pub sources: Vec<String>,
    pub kinds: Vec<String>,
    pub tags: Vec<String>,
    pub date_from: Option<i64>,
    pub date_to: Option<i64>,
}

/// How a dense search was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorPlan {
    /// The HNSW graph (with iterative scans under a filter).
    Graph,
    /// An exact scan of the rows the filter admits (the graph found fewer than asked).
    Exact,
}

/// Dense hits as (key, cosine similarity), best first.
#[derive(Clone, Debug)]
pub struct VectorHits {
    pub hits: Vec<(u64, f32)>,
    pub plan: VectorPlan,
}

/// Counts of a shared space (status and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedCounts {
    pub applied_seq: i64,
    pub chunks: usize,
    pub vectors: usize,
}

/// The shared search state. Only the PostgreSQL store has one; SQLite refuses.
pub trait SharedIndexRepo {
    /// Runs `work` holding the space's cross-node lock (waiting for it): one syncer at
    /// a time per collection.
    fn with_shared_lock(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        work: &mut dyn FnMut(),
    ) -> Result<()>;
    /// The change-log sequence the space has applied; -1 when it was never built or was
    /// just emptied because it was built for another incarnation or shape.
    fn shared_position(&self, space: &SharedSpace<'_>) -> Result<i64>;
    /// The sequence the space has applied when it was built for this incarnation and
    /// shape, without locking or changing anything (`None`: it needs the locked path).
    fn shared_current(&self, space: &SharedSpace<'_>) -> Result<Option<i64>>;
    /// Replaces the rows of `docs` and drops those of `removed`; records `seq` as applied
    /// unless it is negative (a rebuild in progress). Documents deleted meanwhile are
    /// skipped (their rows would cascade away anyway).
    fn shared_apply(
        &self,
        space: &SharedSpace<'_>,
        removed: &[String],
        docs: &[SharedDoc],
        seq: i64,
    ) -> Result<()>;
    /// Nearest `k` chunks to `vector` among those `filter` admits.
    fn shared_vector_search(
        &self,
        space: &SharedSpace<'_>,
        vector: &[f32],
        filter: &SharedFilter,
        k: usize,
        ef_search: usize,
    ) -> Result<VectorHits>;
    /// Full-text top `k` for `terms` (any of them) among the chunks `filter` admits, as
    /// (key, score), best first.
    fn shared_text_search(
        &self,
        space: &SharedSpace<'_>,
        terms: &[String],
        filter: &SharedFilter,
        k: usize,
    ) -> Result<Vec<(u64, f32)>>;
    /// The stored vectors of `keys` (`None` where a key has none).
    fn shared_vectors(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        keys: &[u64],
    ) -> Result<Vec<Option<Vec<f32>>>>;
    /// Position and row counts of the collection's shared space.
    fn shared_counts(&self, tenant: &TenantId, collection: &CollectionId) -> Result<SharedCounts>;
}
