//! Re-chunking a collection behind the live one (`cairn collections reindex`).
//!
//! Every document's parsed text is kept at commit ([`crate::DocumentCommit::parsed`]), so
//! a collection can be cut again with other chunk settings without the original bytes.
//! New chunk sets are first written to a staging area that searches never read; one
//! transaction then swaps every staged set in, records the new chunk settings and counts
//! the collection's generation up. A document committed while a reindex runs no longer
//! matches its staged set (another content hash) and makes the swap refuse with its id,
//! so the caller stages it again and retries: the swap never loses a newer version.
//!
//! The swap appends no index changes: the caller builds a shadow index space from the
//! staged sets and swaps it in; a space built for an older generation is rebuilt from the
//! store, so a crash between the two swaps still ends consistent.

use crate::{IndexBatch, Result};
use cairn_types::{Chunk, ChunkingSpec, CollectionId, Document, DocumentId, ParsedDoc, TenantId};

/// One document's new chunk set, cut from the version with `content_hash`.
#[derive(Clone, Debug)]
pub struct StagedSet<'a> {
    pub document: &'a DocumentId,
    pub content_hash: &'a str,
    /// Ids and parents built from `document` (`ChunkId::for_position`).
    pub chunks: &'a [Chunk],
    /// One per chunk (`None` for parents), as in [`crate::DocumentCommit::embeddings`].
    pub embeddings: &'a [Option<Vec<f32>>],
    /// The parsed text, when it was read again from the source file (kept with the
    /// document from now on).
    pub parsed: Option<&'a ParsedDoc>,
}

/// What [`ReindexRepo::swap_staged`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SwapOutcome {
    /// Every staged set is live; the collection is at `generation`.
    Swapped {
        documents: usize,
        chunks: usize,
        generation: i64,
    },
    /// Nothing changed: these documents (at most 256) have no staged set for their
    /// current version.
    Stale(Vec<DocumentId>),
}

/// The staging area and the swap.
pub trait ReindexRepo {
    /// The parsed text kept for a document, if any (documents committed before texts
    /// were kept have none).
    fn document_text(&self, tenant: &TenantId, document: &DocumentId) -> Result<Option<ParsedDoc>>;

    /// Indexed documents of the collection with no staged set for their current version,
    /// with ids after `after`, in id order, at most `limit`.
    fn unstaged_documents(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<Vec<Document>>;

    /// How many indexed documents of the collection have no staged set for their current
    /// version.
    fn count_unstaged(&self, tenant: &TenantId, collection: &CollectionId) -> Result<usize>;

    /// Replaces the staged set of one document of the collection.
    fn stage_chunks(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        set: StagedSet<'_>,
    ) -> Result<()>;

    /// Ids of staged documents after `after`, in id order, at most `limit`.
    fn staged_documents(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<Vec<DocumentId>>;

    /// The stored documents with their staged chunks and embeddings (documents without a
    /// staged set are left out), as an index rebuild reads live ones.
    fn staged_batch(&self, tenant: &TenantId, documents: &[DocumentId]) -> Result<IndexBatch>;

    /// In one transaction: unless some indexed document lacks a staged set for its
    /// current version (then [`SwapOutcome::Stale`] and nothing changes), replaces every
    /// chunk of the collection with the staged sets, records `chunking`, counts the
    /// generation up and empties the staging area.
    fn swap_staged(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        chunking: &ChunkingSpec,
    ) -> Result<SwapOutcome>;

    /// Empties the collection's staging area (an abandoned or failed reindex); returns
    /// the staged documents dropped.
    fn clear_staged(&self, tenant: &TenantId, collection: &CollectionId) -> Result<usize>;
}
