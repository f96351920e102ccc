//! The sliding-window chunker: fixed windows of tokens with a fixed stride.
//!
//! Windows are laid over the token spans of the whole body (one tokenization), so each
//! window starts and ends exactly on token boundaries and ignores the document's
//! structure. This is the predictable baseline: every chunk has `max_tokens` tokens
//! except possibly the last, and neighbours share `overlap_tokens` tokens. A window whose
//! re-tokenized text comes out longer than the limit (a word cut at a window edge can
//! tokenize differently) is shortened, and the next window then starts no later than
//! where the shortened one ended, so no text is skipped.

use std::sync::Arc;

use cairn_types::{ChunkDraft, ChunkRole, ParsedDoc, TokenCounter};

use super::Chunker;
use super::text::{Body, Piece};

/// Fixed windows of `max_tokens` tokens, advancing by `max_tokens - overlap_tokens`.
pub struct SlidingChunker {
    counter: Arc<dyn TokenCounter>,
    max_tokens: usize,
    overlap_tokens: usize,
}

impl SlidingChunker {
    /// A sliding-window chunker; `overlap_tokens` is capped at `max_tokens - 1` so that
    /// windows always advance.
    pub fn new(counter: Arc<dyn TokenCounter>, max_tokens: usize, overlap_tokens: usize) -> Self {
        let max_tokens = max_tokens.max(1);
        Self {
            counter,
            max_tokens,
            overlap_tokens: overlap_tokens.min(max_tokens - 1),
        }
    }

    /// Tokens between the starts of consecutive windows.
    pub fn stride(&self) -> usize {
        self.max_tokens - self.overlap_tokens
    }
}

impl Chunker for SlidingChunker {
    fn chunk(&self, doc: &ParsedDoc) -> Vec<ChunkDraft> {
        let body = Body::new(doc, self.counter.as_ref());
        if body.is_blank() {
            return Vec::new();
        }
        let spans = body.spans();
        if spans.is_empty() {
            // Text the tokenizer sees no tokens in: keep it as one chunk rather than drop it.
            let (start, end) = body.trim(0, body.text.len());
            let tokens = self.counter.count(&body.text[start..end]);
            return vec![body.draft(Piece { start, end, tokens }, ChunkRole::Leaf, None)];
        }
        let n = spans.len();
        let mut out = Vec::new();
        let mut first = 0;
        loop {
            let mut last = (first + self.max_tokens).min(n);
            let piece = loop {
                let start = spans[first].0;
                let (start, end) = body.trim(start, spans[last - 1].1.max(start));
                let tokens = self.counter.count(&body.text[start..end]);
                if tokens <= self.max_tokens || last == first + 1 {
                    break Piece { start, end, tokens };
                }
                last -= (tokens - self.max_tokens).min(last - first - 1);
            };
            if piece.start < piece.end {
                out.push(body.draft(piece, ChunkRole::Leaf, None));
            }
            if last >= n {
                break;
            }
            first = (first + self.stride()).min(last);
        }
        out
    }

    fn name(&self) -> &'static str {
        "sliding"
    }
}
