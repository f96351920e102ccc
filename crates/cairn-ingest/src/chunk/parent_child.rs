//! The parent-child chunker: heading sections as parents, small chunks as children.
//!
//! Small chunks embed more precisely; large chunks give the model more context. This
//! chunker produces both: parents are the structure chunker's sections (up to
//! `max_tokens`, no overlap, so no text is embedded twice by accident), and each parent
//! is cut by the recursive algorithm into children of `child_tokens` with an overlap of
//! one eighth of that. Only children are meant to be embedded and retrieved; a hit is
//! answered with its parent's text.
//!
//! Output order is each parent followed by its children, and every child's `parent`
//! is the index of its parent in the returned vector. Children are byte ranges inside
//! their parent's range, so a child's text is always a substring of its parent's.

use std::sync::Arc;

use cairn_types::{ChunkDraft, ChunkRole, ParsedDoc, TokenCounter};

use super::Chunker;
use super::recursive::Limits;
use super::text::Body;

/// Structure sections as [`ChunkRole::Parent`] chunks, each followed by its
/// [`ChunkRole::Child`] chunks.
pub struct ParentChildChunker {
    counter: Arc<dyn TokenCounter>,
    parent: Limits,
    child: Limits,
}

impl ParentChildChunker {
    /// Parents of at most `max_tokens`, children of at most `child_tokens` (capped at
    /// `max_tokens`) overlapping by `child_tokens / 8`.
    pub fn new(counter: Arc<dyn TokenCounter>, max_tokens: usize, child_tokens: usize) -> Self {
        let parent = Limits::new(max_tokens, 0);
        let child_max = child_tokens.clamp(1, parent.max);
        Self {
            counter,
            parent,
            child: Limits::new(child_max, child_max / 8),
        }
    }
}

impl Chunker for ParentChildChunker {
    fn chunk(&self, doc: &ParsedDoc) -> Vec<ChunkDraft> {
        let body = Body::new(doc, self.counter.as_ref());
        if body.is_blank() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for parent in body.structure_pieces(self.parent) {
            let index = out.len();
            out.push(body.draft(parent, ChunkRole::Parent, None));
            for child in body.recursive_pieces(parent.start, parent.end, self.child) {
                out.push(body.draft(child, ChunkRole::Child, Some(index)));
            }
        }
        out
    }

    fn name(&self) -> &'static str {
        "parent_child"
    }
}
