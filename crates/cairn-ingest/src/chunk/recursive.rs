//! The recursive chunker (the default) and the split-and-pack algorithm that the
//! structure and parent-child chunkers reuse.
//!
//! Algorithm, in two passes over byte positions of the body:
//! 1. **Atomize**: cut a range into pieces that each fit the token limit, trying
//!    separators from strongest to weakest: blank line, line break, sentence end, word
//!    space, and finally token boundaries. A piece that fits is never cut further, so
//!    paragraphs stay whole whenever they can.
//! 2. **Pack**: walk the pieces and greedily extend the current chunk to the last piece
//!    end that still fits. The next chunk starts inside the previous one so that the two
//!    share at most `overlap` tokens, at the strongest separator that still gives a
//!    useful overlap (at least half of it), falling back to a word or token boundary.
//!    Sections are respected: once a chunk holds a quarter of its budget it ends at the
//!    next heading rather than running on into the next section, and an overlap never
//!    reaches back across a heading, so a section's text is filed under its own heading
//!    path and most sections fit the embedder's window whole; a smaller section rides
//!    along with the one after it.
//!
//! Sizes come from the body's token index (one tokenization per document); every
//! emitted chunk is re-tokenized once and shrunk if the count came out too high.

use std::sync::Arc;

use cairn_types::{ChunkDraft, ChunkRole, ParsedDoc, TokenCounter};

use super::Chunker;
use super::text::{Body, Piece, Strength};

/// Size limits for one pass of packing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Largest chunk, in tokens.
    pub max: usize,
    /// Most tokens consecutive chunks may share.
    pub overlap: usize,
}

impl Limits {
    /// Sanitized limits: at least one token per chunk, and an overlap of at most half a
    /// chunk so that every chunk mostly carries new text.
    pub(crate) fn new(max: usize, overlap: usize) -> Self {
        let max = max.max(1);
        Self {
            max,
            overlap: overlap.min(max / 2),
        }
    }
}

impl Body<'_> {
    /// Pushes onto `cuts` the end positions of pieces that cover `start..end` and each
    /// fit `max` tokens, splitting at separators of `level` first, then weaker ones;
    /// `None` means only token boundaries are left.
    pub(crate) fn atomize(
        &self,
        start: usize,
        end: usize,
        level: Option<Strength>,
        max: usize,
        cuts: &mut Vec<usize>,
    ) {
        if self.count(start, end) <= max {
            cuts.push(end);
            return;
        }
        let Some(level) = level else {
            let mut pos = start;
            while self.count(pos, end) > max {
                let next = self.end_after(pos, max, end);
                if next <= pos {
                    break;
                }
                cuts.push(next);
                pos = next;
            }
            cuts.push(end);
            return;
        };
        let mut piece_start = start;
        for &(p, strength) in self.bounds_in(start, end) {
            if strength <= level {
                self.atomize(piece_start, p, level.weaker(), max, cuts);
                piece_start = p;
            }
        }
        self.atomize(piece_start, end, level.weaker(), max, cuts);
    }

    /// Greedily packs the pieces of `start..end` delimited by `cuts` (sorted, last one
    /// `end`) into chunks of at most `limits.max` tokens with up to `limits.overlap`
    /// tokens shared between neighbours. Overlaps never start strictly inside a
    /// `protected` range (tables and code kept whole by the structure chunker).
    pub(crate) fn pack(
        &self,
        start: usize,
        end: usize,
        cuts: &[usize],
        limits: Limits,
        protected: &[(usize, usize)],
    ) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut s = start;
        while s < end {
            let ahead = &cuts[cuts.partition_point(|&c| c <= s)..];
            let fit = ahead.partition_point(|&c| c <= end && self.count(s, c) <= limits.max);
            let mut e = if fit > 0 {
                ahead[fit - 1]
            } else {
                self.end_after(s, limits.max, end)
            };
            if e <= s {
                e = end;
            }
            if e < end
                && let Some(h) = self.section_cut(s, e, limits.max / 4)
            {
                e = h;
            }
            let (e, piece) = self.verified_end(s, e, limits.max, cuts);
            out.extend(piece);
            if e >= end {
                break;
            }
            s = if self.is_section_start(e) {
                e
            } else {
                self.overlap_start(s, e, end, cuts, limits, protected)
            };
        }
        out
    }

    /// Where the chunk after `s..e` starts: inside `s..e` so that the shared tail holds at
    /// most `limits.overlap` tokens and the next piece still fits, or `e` for none.
    fn overlap_start(
        &self,
        s: usize,
        e: usize,
        end: usize,
        cuts: &[usize],
        limits: Limits,
        protected: &[(usize, usize)],
    ) -> usize {
        if limits.overlap == 0 {
            return e;
        }
        let next_cut = cuts
            .get(cuts.partition_point(|&c| c <= e))
            .map_or(end, |&c| c.min(end));
        let budget = limits
            .overlap
            .min(limits.max.saturating_sub(self.count(e, next_cut)));
        if budget == 0 {
            return e;
        }
        let window = self.start_before(e, budget).unwrap_or(s).max(s);
        if let Some(h) = self.last_section_in(window, e) {
            // The overlap would reach back into the previous section: start at its heading.
            return h;
        }
        let allowed = |p: usize| p > s && p < e && !protected.iter().any(|&(a, b)| a < p && p < b);
        let candidates = self.bounds_in(window.saturating_sub(1), e);
        for level in Strength::ALL {
            // The earliest allowed cut of this strength gives the most overlap; take it if
            // it keeps at least half the budget (any word boundary will do at the end).
            let first = candidates
                .iter()
                .find(|&&(p, st)| st <= level && allowed(p));
            let useful = first
                .map(|&(p, _)| p)
                .filter(|&p| level == Strength::Word || self.count(p, e) * 2 >= budget);
            if let Some(p) = useful {
                return p;
            }
        }
        if allowed(window) { window } else { e }
    }

    /// The recursive algorithm over `start..end`: atomize from blank lines down, then pack.
    pub(crate) fn recursive_pieces(&self, start: usize, end: usize, limits: Limits) -> Vec<Piece> {
        let mut cuts = Vec::new();
        self.atomize(start, end, Some(Strength::Paragraph), limits.max, &mut cuts);
        self.pack(start, end, &cuts, limits, &[])
    }
}

/// Splits the whole body recursively (blank line, line, sentence, word, token) and packs
/// the pieces into overlapping chunks of at most `max_tokens` tokens.
pub struct RecursiveChunker {
    counter: Arc<dyn TokenCounter>,
    limits: Limits,
}

impl RecursiveChunker {
    /// A recursive chunker; `overlap_tokens` is capped at half of `max_tokens`.
    pub fn new(counter: Arc<dyn TokenCounter>, max_tokens: usize, overlap_tokens: usize) -> Self {
        Self {
            counter,
            limits: Limits::new(max_tokens, overlap_tokens),
        }
    }
}

impl Chunker for RecursiveChunker {
    fn chunk(&self, doc: &ParsedDoc) -> Vec<ChunkDraft> {
        let body = Body::new(doc, self.counter.as_ref());
        if body.is_blank() {
            return Vec::new();
        }
        body.recursive_pieces(0, body.text.len(), self.limits)
            .into_iter()
            .map(|p| body.draft(p, ChunkRole::Leaf, None))
            .collect()
    }

    fn name(&self) -> &'static str {
        "recursive"
    }
}
