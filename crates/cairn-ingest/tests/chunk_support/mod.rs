//! Shared helpers for the chunker tests: a deterministic word counter, the real MiniLM
//! tokenizer as a counter, document builders and invariant checks that every chunker
//! must pass.
// Test-only helpers: failing loudly (unwrap, panic) is the point.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use cairn_types::{Block, BlockKind, ChunkDraft, ParsedDoc, TokenCounter};

/// Test counter: every run of alphanumerics is one token, every other non-space
/// character is a token of its own.
pub struct WordCounter;

impl TokenCounter for WordCounter {
    fn token_spans(&self, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut word: Option<usize> = None;
        for (i, c) in text.char_indices() {
            if c.is_alphanumeric() {
                word.get_or_insert(i);
                continue;
            }
            if let Some(s) = word.take() {
                out.push((s, i));
            }
            if !c.is_whitespace() {
                out.push((i, i + c.len_utf8()));
            }
        }
        if let Some(s) = word {
            out.push((s, text.len()));
        }
        out
    }

    fn name(&self) -> &str {
        "words"
    }
}

pub fn words() -> Arc<dyn TokenCounter> {
    Arc::new(WordCounter)
}

/// The MiniLM WordPiece tokenizer, truncation and padding off, special tokens skipped.
pub struct MiniLm(tokenizers::Tokenizer);

impl TokenCounter for MiniLm {
    fn token_spans(&self, text: &str) -> Vec<(usize, usize)> {
        let enc = self.0.encode(text, false).unwrap();
        enc.get_offsets()
            .iter()
            .zip(enc.get_special_tokens_mask())
            .filter(|(_, special)| **special == 0)
            .map(|(o, _)| *o)
            .collect()
    }

    fn name(&self) -> &str {
        "all-minilm-l6-v2"
    }
}

/// The real tokenizer. A missing tokenizer fails the test (with the command that installs
/// it), with or without `CI`: a test that returns early passes without testing anything.
pub fn minilm() -> Arc<dyn TokenCounter> {
    let dir = std::env::var_os("CAIRN_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/cairn/models")
        });
    let path = dir.join("all-minilm-l6-v2").join("tokenizer.json");
    assert!(
        path.is_file(),
        "the MiniLM tokenizer {} is missing: run scripts/fetch-models.sh minilm",
        path.display()
    );
    let mut tok = tokenizers::Tokenizer::from_file(&path).unwrap();
    tok.with_truncation(None).unwrap();
    tok.with_padding(None);
    Arc::new(MiniLm(tok))
}

pub fn heading(level: u8, title: &str, path: &[&str]) -> Block {
    block(BlockKind::Heading { level }, title, path)
}

pub fn para(text: &str, path: &[&str]) -> Block {
    block(BlockKind::Paragraph, text, path)
}

pub fn block(kind: BlockKind, text: &str, path: &[&str]) -> Block {
    Block::new(kind, text, path.iter().map(|s| (*s).to_owned()).collect())
}

pub fn doc(blocks: Vec<Block>) -> ParsedDoc {
    ParsedDoc {
        blocks,
        ..ParsedDoc::default()
    }
}

pub fn texts(chunks: &[ChunkDraft]) -> Vec<&str> {
    chunks.iter().map(|c| c.text.as_str()).collect()
}

/// Deterministic pseudo-random numbers (64-bit LCG, high bits).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const VOCAB: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "that",
    "for",
    "it",
    "with",
    "as",
    "on",
    "be",
    "by",
    "this",
    "are",
    "or",
    "from",
    "at",
    "an",
    "which",
    "can",
    "not",
    "when",
    "each",
    "server",
    "query",
    "index",
    "replication",
    "backup",
    "cluster",
    "configuration",
    "table",
    "transaction",
    "lock",
    "checkpoint",
    "vacuum",
    "statistics",
    "planner",
    "memory",
    "disk",
    "connection",
    "timeout",
    "parameter",
    "extension",
    "pg_stat_statements",
    "WAL",
    "autovacuum",
    "shared_buffers",
    "work_mem",
    "latency",
    "throughput",
    "résumé",
    "naïve",
    "Zürich",
    "ISO-8601",
    "https://example.org/docs/v16/index.html",
    "3.14159",
    "e.g.",
    "O(n log n)",
    "failover",
    "standby",
    "primary",
    "snapshot",
    "tuple",
    "heap",
    "B-tree",
    "GiST",
    "JSONB",
];

/// Technical prose: sentences of 6-30 words drawn from a small vocabulary that includes
/// identifiers, URLs, accents and numbers (to exercise WordPiece), grouped in paragraphs.
pub fn prose(seed: u64, paragraphs: usize) -> Vec<String> {
    let mut rng = Lcg(seed);
    (0..paragraphs)
        .map(|_| {
            let sentences = 1 + rng.below(8);
            let mut p = String::new();
            for s in 0..sentences {
                if s > 0 {
                    p.push(' ');
                }
                let n = 6 + rng.below(25);
                for w in 0..n {
                    if w > 0 {
                        p.push_str(if rng.below(12) == 0 { ", " } else { " " });
                    }
                    let word = VOCAB[rng.below(VOCAB.len())];
                    if w == 0 {
                        let mut c = word.chars();
                        if let Some(f) = c.next() {
                            p.extend(f.to_uppercase());
                            p.push_str(c.as_str());
                        }
                    } else {
                        p.push_str(word);
                    }
                }
                p.push(['.', '?', '!', '.', '.'][rng.below(5)]);
            }
            p
        })
        .collect()
}

/// Checks what every chunker guarantees: trimmed, non-empty texts that are ranges of the
/// body in order; recorded counts equal to the counter's and within `max`; and every
/// non-whitespace byte of the body inside some chunk; and words kept whole
/// ([`check_words`]). Roles are not checked here.
pub fn check_invariants(
    doc: &ParsedDoc,
    chunks: &[ChunkDraft],
    counter: &dyn TokenCounter,
    max: usize,
) {
    check_ranges(doc, chunks, counter, max);
    check_words(doc, chunks, counter, max);
}

/// [`check_invariants`] without the whole-word check.
pub fn check_ranges(
    doc: &ParsedDoc,
    chunks: &[ChunkDraft],
    counter: &dyn TokenCounter,
    max: usize,
) {
    let body = doc.full_text();
    let mut covered = vec![false; body.len()];
    // Chunks must be ranges of the body, in order, each starting no later than the first
    // text after the end of the previous one (so together they cover the body). Repeated
    // text makes positions ambiguous, so track every feasible position of each chunk.
    let next_text = |from: usize| {
        body[from..]
            .find(|ch: char| !ch.is_whitespace())
            .map_or(body.len(), |p| p + from)
    };
    // Feasible (start, end) pairs of the previous chunk; the virtual chunk 0..0 first.
    let mut feasible: Vec<(usize, usize)> = vec![(0, 0)];
    for (i, c) in chunks.iter().enumerate() {
        assert!(!c.text.is_empty(), "chunk {i} empty");
        assert_eq!(c.text, c.text.trim(), "chunk {i} not trimmed");
        let real = counter.count(&c.text);
        assert_eq!(c.token_count, real, "chunk {i} token_count");
        assert!(
            real <= max,
            "chunk {i} has {real} tokens > {max}: {:?}",
            c.text
        );
        let lo = feasible[0].0;
        let hi = feasible
            .iter()
            .map(|&(_, e)| next_text(e))
            .max()
            .unwrap_or(0);
        let mut next = Vec::new();
        let mut pos = lo;
        let mut limit = (hi + c.text.len()).min(body.len());
        while !body.is_char_boundary(limit) {
            limit += 1;
        }
        while let Some(p) = body.get(pos..limit).and_then(|rest| rest.find(&c.text)) {
            let at = pos + p;
            if at > hi {
                break;
            }
            // The latest previous start not after `at` has the latest end.
            let k = feasible.partition_point(|&(s, _)| s <= at);
            if k > 0 && at <= next_text(feasible[k - 1].1) {
                next.push((at, at + c.text.len()));
            }
            pos = at + body[at..].chars().next().map_or(1, char::len_utf8);
        }
        assert!(
            !next.is_empty(),
            "chunk {i} is not the next range of the body: {:?}",
            c.text
        );
        for &(s, e) in &next {
            covered[s..e].iter_mut().for_each(|b| *b = true);
        }
        feasible = next;
    }
    let end = feasible.iter().map(|&(_, e)| e).max().unwrap_or(0);
    assert_eq!(
        next_text(end),
        body.len(),
        "text after the last chunk is lost"
    );
    for (i, ch) in body.char_indices() {
        assert!(ch.is_whitespace() || covered[i], "byte {i} ({ch:?}) lost");
    }
}

/// Every whitespace-separated word of the body that fits a chunk is found whole in some
/// chunk (not true for sliding windows, which cut on token boundaries).
pub fn check_words(doc: &ParsedDoc, chunks: &[ChunkDraft], counter: &dyn TokenCounter, max: usize) {
    let body = doc.full_text();
    let whole: std::collections::HashSet<&str> = chunks
        .iter()
        .flat_map(|c| c.text.split_whitespace())
        .collect();
    for word in body.split_whitespace() {
        if whole.contains(word) || counter.count(word) > max {
            continue;
        }
        assert!(
            chunks.iter().any(|c| c.text.contains(word)),
            "word {word:?} lost"
        );
    }
}

/// Longest suffix of `a` that is also a prefix of `b` (the shared overlap text).
pub fn overlap<'a>(a: &str, b: &'a str) -> &'a str {
    let mut best = "";
    for (i, _) in b.char_indices().skip(1).chain([(b.len(), ' ')]) {
        if a.ends_with(&b[..i]) {
            best = &b[..i];
        }
    }
    best.trim()
}
