//! The structure chunker: one chunk per heading section.
//!
//! A section is a heading block plus the non-heading blocks that follow it up to the
//! next heading of any level (text before the first heading forms its own section). The
//! chunk text starts with the heading line, so the embedder sees the title with the body.
//!
//! - Tiny sections (a heading with no body, or under 1/16 of the limit) are merged into
//!   the following section when the two fit together; a tiny last section is merged into
//!   the one before it. This avoids chunks that hold only a title.
//! - A section over the limit is split with the recursive algorithm
//!   ([`super::recursive`]), except that each block is its own first-level piece and a
//!   table or code block that fits the limit is one indivisible piece: it lands whole in
//!   one chunk and no overlap starts inside it. A table or code block that does not fit
//!   is split on line boundaries first.

use std::sync::Arc;

use cairn_types::{BlockKind, ChunkDraft, ChunkRole, ParsedDoc, TokenCounter};

use super::Chunker;
use super::recursive::Limits;
use super::text::{Body, Piece, Strength};

/// A run of blocks `first..=last` that forms one (possibly merged) heading section.
#[derive(Clone, Copy, Debug)]
struct Section {
    first: usize,
    last: usize,
    has_body: bool,
}

impl Body<'_> {
    fn section_range(&self, sec: Section) -> (usize, usize) {
        (self.ranges[sec.first].0, self.ranges[sec.last].1)
    }

    /// Heading sections, in order, with tiny ones merged.
    fn sections(&self, max: usize) -> Vec<Section> {
        let mut raw: Vec<Section> = Vec::new();
        for (i, block) in self.doc.blocks.iter().enumerate() {
            let heading = matches!(block.kind, BlockKind::Heading { .. });
            match raw.last_mut() {
                Some(sec) if !heading => {
                    sec.last = i;
                    sec.has_body |= !block.text.trim().is_empty();
                }
                _ => raw.push(Section {
                    first: i,
                    last: i,
                    has_body: !heading,
                }),
            }
        }
        let tiny = |sec: Section| {
            let (s, e) = self.section_range(sec);
            !sec.has_body || self.count(s, e) * 16 < max
        };
        let fits = |a: Section, b: Section| {
            self.count(self.ranges[a.first].0, self.ranges[b.last].1) <= max
        };
        let join = |a: Section, b: Section| Section {
            first: a.first,
            last: b.last,
            has_body: a.has_body || b.has_body,
        };
        let mut merged: Vec<Section> = Vec::with_capacity(raw.len());
        for sec in raw {
            match merged.last_mut() {
                Some(prev) if tiny(*prev) && fits(*prev, sec) => *prev = join(*prev, sec),
                _ => merged.push(sec),
            }
        }
        if let [.., prev, last] = merged.as_slice() {
            let (prev, last) = (*prev, *last);
            if tiny(last) && fits(prev, last) {
                merged.pop();
                merged.pop();
                merged.push(join(prev, last));
            }
        }
        merged
    }

    /// Structure chunks of the whole body: one per section, oversize sections split.
    pub(crate) fn structure_pieces(&self, limits: Limits) -> Vec<Piece> {
        let mut out = Vec::new();
        for sec in self.sections(limits.max) {
            let (start, end) = self.section_range(sec);
            let (ts, te) = self.trim(start, end);
            if ts >= te {
                continue;
            }
            if self.count(start, end) <= limits.max {
                let tokens = self.counter.count(&self.text[ts..te]);
                if tokens <= limits.max {
                    out.push(Piece {
                        start: ts,
                        end: te,
                        tokens,
                    });
                    continue;
                }
            }
            out.extend(self.split_section(sec, limits));
        }
        out
    }

    /// Splits an oversize section, keeping fitting tables and code blocks whole.
    fn split_section(&self, sec: Section, limits: Limits) -> Vec<Piece> {
        let (start, end) = self.section_range(sec);
        let mut cuts = Vec::new();
        let mut protected = Vec::new();
        for i in sec.first..=sec.last {
            let piece_start = self.ranges[i].0;
            let piece_end = if i < sec.last {
                self.ranges[i + 1].0
            } else {
                end
            };
            let level = match self.doc.blocks[i].kind {
                BlockKind::Table | BlockKind::Code => {
                    if self.count(piece_start, piece_end) <= limits.max {
                        protected.push(self.ranges[i]);
                    }
                    Strength::Line
                }
                _ => Strength::Paragraph,
            };
            self.atomize(piece_start, piece_end, Some(level), limits.max, &mut cuts);
        }
        self.pack(start, end, &cuts, limits, &protected)
    }
}

/// One chunk per heading section; see the module documentation.
pub struct StructureChunker {
    counter: Arc<dyn TokenCounter>,
    limits: Limits,
}

impl StructureChunker {
    /// A structure chunker. `overlap_tokens` only applies between the parts of a section
    /// that had to be split (capped at half of `max_tokens`).
    pub fn new(counter: Arc<dyn TokenCounter>, max_tokens: usize, overlap_tokens: usize) -> Self {
        Self {
            counter,
            limits: Limits::new(max_tokens, overlap_tokens),
        }
    }
}

impl Chunker for StructureChunker {
    fn chunk(&self, doc: &ParsedDoc) -> Vec<ChunkDraft> {
        let body = Body::new(doc, self.counter.as_ref());
        if body.is_blank() {
            return Vec::new();
        }
        body.structure_pieces(self.limits)
            .into_iter()
            .map(|p| body.draft(p, ChunkRole::Leaf, None))
            .collect()
    }

    fn name(&self) -> &'static str {
        "structure"
    }
}
