//! Shared plumbing for every chunker: the document body as one string, a token index
//! over it, and the separator boundaries the splitters may cut at.
//!
//! Design: the body is tokenized exactly once. Every later size question ("how many
//! tokens between byte `a` and byte `b`?") is answered from the token spans by binary
//! search, so a chunker can try thousands of candidate cuts without re-running the
//! tokenizer. Only the final text of each chunk is tokenized again, to verify the
//! count (WordPiece and BPE can tokenize a cut-out piece slightly differently from the
//! same bytes in context); see `Body::verified_end`. The one pass is made in segments of
//! about 16 KB cut at blank lines, which no token crosses, because tokenizers are about
//! twice as fast per byte on medium inputs as on one multi-megabyte string.
//!
//! All chunk texts are byte ranges of the body, trimmed, so no chunk can contain text
//! that is not in the source.

use cairn_types::{Block, BlockKind, ChunkDraft, ChunkRole, ParsedDoc, TokenCounter};

/// How strong a separator is; a smaller value is a stronger (earlier-tried) separator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Strength {
    /// A blank line: paragraph and block breaks.
    Paragraph,
    /// A single line break.
    Line,
    /// The end of a sentence (`.`, `?`, `!` followed by whitespace).
    Sentence,
    /// Any other whitespace between words.
    Word,
}

impl Strength {
    /// The next weaker separator, or `None` after words (then only token cuts remain).
    pub(crate) fn weaker(self) -> Option<Self> {
        match self {
            Self::Paragraph => Some(Self::Line),
            Self::Line => Some(Self::Sentence),
            Self::Sentence => Some(Self::Word),
            Self::Word => None,
        }
    }

    pub(crate) const ALL: [Self; 4] = [Self::Paragraph, Self::Line, Self::Sentence, Self::Word];
}

/// A chunk as a trimmed byte range of the body with its verified token count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    pub start: usize,
    pub end: usize,
    pub tokens: usize,
}

/// A parsed document prepared for chunking.
pub(crate) struct Body<'a> {
    pub doc: &'a ParsedDoc,
    pub counter: &'a dyn TokenCounter,
    /// Blocks joined by blank lines, exactly as [`ParsedDoc::full_text`].
    pub text: String,
    /// Byte range of each block's text inside `text`.
    pub ranges: Vec<(usize, usize)>,
    /// Token spans of `text`, sorted by start.
    spans: Vec<(usize, usize)>,
    /// Cut positions: the byte right after each separator, with its strength.
    bounds: Vec<(usize, Strength)>,
    /// Where each heading block after the first block starts: packing ends a chunk at a
    /// section start rather than carrying a few lines of the next section along.
    sections: Vec<usize>,
}

impl<'a> Body<'a> {
    pub(crate) fn new(doc: &'a ParsedDoc, counter: &'a dyn TokenCounter) -> Self {
        let mut text = String::new();
        let mut ranges = Vec::with_capacity(doc.blocks.len());
        for (i, b) in doc.blocks.iter().enumerate() {
            if i > 0 {
                text.push_str("\n\n");
            }
            let start = text.len();
            text.push_str(&b.text);
            ranges.push((start, text.len()));
        }
        let bounds = scan_boundaries(&text);
        let spans = tokenize_in_segments(counter, &text, &bounds);
        let sections = doc
            .blocks
            .iter()
            .zip(&ranges)
            .skip(1)
            .filter(|(b, _)| matches!(b.kind, BlockKind::Heading { .. }))
            .map(|(_, &(start, _))| start)
            .collect();
        Self {
            doc,
            counter,
            text,
            ranges,
            spans,
            bounds,
            sections,
        }
    }

    /// The first section start in `(start, end]` that leaves at least `min_tokens` before
    /// it, if any.
    pub(crate) fn section_cut(&self, start: usize, end: usize, min_tokens: usize) -> Option<usize> {
        let lo = self.sections.partition_point(|&p| p <= start);
        let hi = self.sections.partition_point(|&p| p <= end);
        self.sections[lo..hi]
            .iter()
            .copied()
            .find(|&p| self.count(start, p) >= min_tokens)
    }

    /// The last section start strictly inside `start..end`, if any.
    pub(crate) fn last_section_in(&self, start: usize, end: usize) -> Option<usize> {
        let lo = self.sections.partition_point(|&p| p <= start);
        let hi = self.sections.partition_point(|&p| p < end);
        self.sections[lo..hi].last().copied()
    }

    /// Whether a heading block starts at `pos`.
    pub(crate) fn is_section_start(&self, pos: usize) -> bool {
        self.sections.binary_search(&pos).is_ok()
    }

    /// Whether the body has any non-whitespace text.
    pub(crate) fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// The token spans of the whole body.
    pub(crate) fn spans(&self) -> &[(usize, usize)] {
        &self.spans
    }

    /// Index of the first token starting at or after `pos`.
    pub(crate) fn token_at(&self, pos: usize) -> usize {
        self.spans.partition_point(|&(s, _)| s < pos)
    }

    /// Number of tokens lying entirely inside `start..end`.
    pub(crate) fn count(&self, start: usize, end: usize) -> usize {
        if end <= start {
            return 0;
        }
        let lo = self.token_at(start);
        let mut hi = self.token_at(end);
        while hi > lo && self.spans[hi - 1].1 > end {
            hi -= 1;
        }
        hi - lo
    }

    /// Byte position right after the `n`-th token at or after `start`, capped at `limit`.
    pub(crate) fn end_after(&self, start: usize, n: usize, limit: usize) -> usize {
        let lo = self.token_at(start);
        match self.spans.get(lo + n.max(1) - 1) {
            Some(&(_, e)) if e < limit => e,
            _ => limit,
        }
    }

    /// Start of the token `n` tokens back from `end` (the `n` tokens before `end` then lie
    /// in `result..end`), or `None` when fewer than `n` tokens precede `end`.
    pub(crate) fn start_before(&self, end: usize, n: usize) -> Option<usize> {
        let mut hi = self.token_at(end);
        while hi > 0 && self.spans[hi - 1].1 > end {
            hi -= 1;
        }
        let lo = hi.checked_sub(n)?;
        self.spans.get(lo).map(|&(s, _)| s)
    }

    /// Boundaries strictly inside `start..end`, in order.
    pub(crate) fn bounds_in(&self, start: usize, end: usize) -> &[(usize, Strength)] {
        let lo = self.bounds.partition_point(|&(p, _)| p <= start);
        let hi = self.bounds.partition_point(|&(p, _)| p < end);
        &self.bounds[lo..hi.max(lo)]
    }

    /// `start..end` with surrounding whitespace removed.
    pub(crate) fn trim(&self, start: usize, end: usize) -> (usize, usize) {
        let slice = &self.text[start..end];
        let lead = slice.len() - slice.trim_start().len();
        let trail = slice.len() - slice.trim_end().len();
        if lead == slice.len() {
            (end, end)
        } else {
            (start + lead, end - trail)
        }
    }

    /// Verifies `start..end` by re-tokenizing its trimmed text and moves `end` back until
    /// the text fits `max` tokens. Cuts prefer positions in `cuts`, then token ends, then
    /// characters. Returns the (possibly smaller) end and the trimmed, counted piece, which
    /// is `None` when the range is only whitespace.
    pub(crate) fn verified_end(
        &self,
        start: usize,
        mut end: usize,
        max: usize,
        cuts: &[usize],
    ) -> (usize, Option<Piece>) {
        loop {
            let (ts, te) = self.trim(start, end);
            if ts >= te {
                return (end, None);
            }
            let tokens = self.counter.count(&self.text[ts..te]);
            if tokens <= max {
                return (
                    end,
                    Some(Piece {
                        start: ts,
                        end: te,
                        tokens,
                    }),
                );
            }
            let indexed = self.count(start, end);
            let target = indexed.saturating_sub(tokens - max);
            let first = cuts.partition_point(|&c| c <= start);
            let below = &cuts[first..cuts.partition_point(|&c| c < end)];
            let fitting = below.partition_point(|&c| self.count(start, c) <= target);
            let mut next = if fitting > 0 {
                below[fitting - 1]
            } else if target > 0 {
                self.end_after(start, target, end)
            } else {
                end
            };
            if next >= end || next <= start {
                // Fall back to dropping one character from the end of the trimmed text.
                next = self.text[..te]
                    .char_indices()
                    .next_back()
                    .map_or(start, |(i, _)| i);
            }
            if next <= ts {
                // A single character that the counter still reports as too long: keep it
                // rather than lose text.
                return (
                    te,
                    Some(Piece {
                        start: ts,
                        end: te,
                        tokens,
                    }),
                );
            }
            end = next;
        }
    }

    /// The block that contains byte `pos` (or the last block starting before it).
    pub(crate) fn block_at(&self, pos: usize) -> Option<&'a Block> {
        let i = self.ranges.partition_point(|&(s, _)| s <= pos);
        self.doc.blocks.get(i.checked_sub(1)?)
    }

    /// Turns a piece into a draft; heading path and page come from the starting block.
    pub(crate) fn draft(&self, piece: Piece, role: ChunkRole, parent: Option<usize>) -> ChunkDraft {
        let block = self.block_at(piece.start);
        ChunkDraft {
            text: self.text[piece.start..piece.end].to_owned(),
            heading_path: block.map(|b| b.heading_path.clone()).unwrap_or_default(),
            token_count: piece.tokens,
            role,
            parent,
            page: block.and_then(|b| b.page),
        }
    }
}

/// Bytes per tokenizer call when tokenizing a long body: tokenizers are markedly faster
/// per byte on many medium inputs than on one huge one.
const SEGMENT_BYTES: usize = 16 * 1024;

/// Token spans of `text`, tokenized in segments cut at blank lines (no token spans a
/// blank line), with offsets shifted back into `text` and sorted. Spans that are not valid
/// char-boundary ranges are dropped, so a faulty counter cannot make slicing panic.
fn tokenize_in_segments(
    counter: &dyn TokenCounter,
    text: &str,
    bounds: &[(usize, Strength)],
) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut push = |from: usize, to: usize| {
        let segment = &text[from..to];
        let found = counter.token_spans(segment);
        spans.extend(
            found
                .into_iter()
                .filter(|&(s, e)| {
                    // Spans are trusted only as far as they are usable as slice bounds.
                    s <= e && segment.is_char_boundary(s) && segment.is_char_boundary(e)
                })
                .map(|(s, e)| (s + from, e + from)),
        );
    };
    let mut from = 0;
    for &(p, strength) in bounds {
        if strength == Strength::Paragraph && p - from >= SEGMENT_BYTES {
            push(from, p);
            from = p;
        }
    }
    push(from, text.len());
    spans.sort_by_key(|&(s, e)| (s, e));
    spans
}

/// Finds every cut position in `text`: the byte after each whitespace run that is
/// followed by text, classified by the strongest separator the run forms. Full-width
/// CJK sentence ends (`。！？`) count as sentence cuts even without whitespace.
fn scan_boundaries(text: &str) -> Vec<(usize, Strength)> {
    let mut out = Vec::new();
    let mut run_start: Option<usize> = None;
    let mut newlines = 0usize;
    let mut before_run: Option<char> = None;
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if run_start.is_none() {
                run_start = Some(i);
                before_run = prev;
                newlines = 0;
            }
            if c == '\n' {
                newlines += 1;
            }
        } else {
            if let Some(rs) = run_start.take() {
                if rs > 0 {
                    let strength = match newlines {
                        0 if matches!(before_run, Some('.' | '?' | '!')) => Strength::Sentence,
                        0 => Strength::Word,
                        1 => Strength::Line,
                        _ => Strength::Paragraph,
                    };
                    out.push((i, strength));
                }
            } else if matches!(prev, Some('。' | '！' | '？')) {
                out.push((i, Strength::Sentence));
            }
        }
        prev = Some(c);
    }
    out
}
