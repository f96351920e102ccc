//! Chunkers: cut a [`ParsedDoc`] into [`ChunkDraft`]s sized in the embedding model's
//! tokens.
//!
//! Four strategies, chosen per collection by [`ChunkingSpec::kind`] through
//! [`chunker_for`]:
//! - [`RecursiveChunker`] (default): paragraphs, then lines, sentences, words, tokens,
//!   greedily packed with overlap;
//! - [`SlidingChunker`]: fixed token windows with a fixed stride;
//! - [`StructureChunker`]: one chunk per heading section, tables and code kept whole;
//! - [`ParentChildChunker`]: structure sections as parents with small recursive children.
//!
//! Guarantees shared by all of them:
//! - every chunk's text is a trimmed byte range of the body (blocks joined by blank
//!   lines, as [`ParsedDoc::full_text`]), so nothing is invented, and the ranges cover the
//!   whole body, so nothing but whitespace is lost;
//! - `token_count` is the [`TokenCounter`]'s count of the chunk text itself and is at most
//!   the configured limit (each chunk is re-tokenized and shrunk if needed);
//! - `heading_path` and `page` are those of the block the chunk starts in;
//! - an empty or whitespace-only document gives no chunks.
//!
//! Efficiency: the body is tokenized once; split decisions count tokens of byte ranges by
//! binary search over the token spans (see `text`). Only final chunk texts are tokenized
//! again, so the total tokenizer work is about twice the body (three times for
//! parent-child).
//!
//! Where a semantic chunker plugs in: it needs an embedding function, which lives in the
//! models crate and is not available here. It would be a fifth type implementing
//! [`Chunker`], built with `Arc<dyn Fn(&[&str]) -> Vec<Vec<f32>>>` besides the counter:
//! atomize the body into sentences with the same splitter the recursive chunker uses
//! (`Body::atomize` at sentence strength), embed the sentences in batches, cut where the
//! cosine distance between neighbouring sentence windows peaks, and pack the resulting
//! spans with `Body::pack` so the size limit and the verification stay identical. The
//! engine would construct it itself (it owns the embedder) rather than through
//! [`chunker_for`], whose signature only carries a counter.

mod parent_child;
mod recursive;
mod sliding;
mod structure;
mod text;

use std::sync::Arc;

use cairn_types::{ChunkDraft, ChunkerKind, ChunkingSpec, ParsedDoc, TokenCounter};

pub use parent_child::ParentChildChunker;
pub use recursive::RecursiveChunker;
pub use sliding::SlidingChunker;
pub use structure::StructureChunker;

/// A strategy for cutting a parsed document into chunks.
pub trait Chunker: Send + Sync {
    /// Cuts a parsed document into chunk drafts (text, heading path, token count, role,
    /// parent index, page), in reading order.
    fn chunk(&self, doc: &ParsedDoc) -> Vec<ChunkDraft>;

    /// The strategy's config spelling (`recursive`, `sliding`, ...).
    fn name(&self) -> &'static str;
}

/// The chunker a collection's spec asks for, counting tokens with `counter`.
pub fn chunker_for(spec: &ChunkingSpec, counter: Arc<dyn TokenCounter>) -> Box<dyn Chunker> {
    match spec.kind {
        ChunkerKind::Recursive => Box::new(RecursiveChunker::new(
            counter,
            spec.max_tokens,
            spec.overlap_tokens,
        )),
        ChunkerKind::Sliding => Box::new(SlidingChunker::new(
            counter,
            spec.max_tokens,
            spec.overlap_tokens,
        )),
        ChunkerKind::Structure => Box::new(StructureChunker::new(
            counter,
            spec.max_tokens,
            spec.overlap_tokens,
        )),
        ChunkerKind::ParentChild => Box::new(ParentChildChunker::new(
            counter,
            spec.max_tokens,
            spec.child_tokens,
        )),
    }
}
