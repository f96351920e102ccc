//! Recursive chunker: exact boundaries on a crafted document, overlap, token fallback,
//! empty input, and the invariants with the real MiniLM tokenizer.

mod chunk_support;

use std::sync::Arc;
use std::time::Instant;

use cairn_ingest::chunk::{Chunker, RecursiveChunker, chunker_for};
use cairn_types::{BlockKind, ChunkRole, ChunkerKind, ChunkingSpec};
use chunk_support::*;

fn guide() -> cairn_types::ParsedDoc {
    doc(vec![
        heading(1, "Guide", &["Guide"]),
        para(
            "Alpha beta gamma delta. Epsilon zeta eta theta. Iota kappa lambda mu.",
            &["Guide"],
        ),
        heading(2, "Install", &["Guide", "Install"]),
        para(
            "One two three four five six seven eight nine ten.",
            &["Guide", "Install"],
        ),
    ])
}

#[test]
fn exact_boundaries_without_overlap() {
    let d = guide();
    let chunks = RecursiveChunker::new(words(), 12, 0).chunk(&d);
    assert_eq!(
        texts(&chunks),
        [
            "Guide\n\nAlpha beta gamma delta. Epsilon zeta eta theta.",
            // The chunk ends where the next section starts rather than carry its heading.
            "Iota kappa lambda mu.",
            "Install\n\nOne two three four five six seven eight nine ten.",
        ]
    );
    assert_eq!(chunks[0].heading_path, ["Guide"]);
    assert_eq!(chunks[1].heading_path, ["Guide"]);
    assert_eq!(chunks[2].heading_path, ["Guide", "Install"]);
    assert_eq!(
        chunks.iter().map(|c| c.token_count).collect::<Vec<_>>(),
        [11, 5, 12]
    );
    assert!(
        chunks
            .iter()
            .all(|c| c.role == ChunkRole::Leaf && c.parent.is_none())
    );
    check_invariants(&d, &chunks, &WordCounter, 12);
}

#[test]
fn exact_boundaries_with_overlap() {
    let d = guide();
    let chunks = RecursiveChunker::new(words(), 12, 4).chunk(&d);
    assert_eq!(
        texts(&chunks),
        [
            "Guide\n\nAlpha beta gamma delta. Epsilon zeta eta theta.",
            // Four tokens of overlap, starting on a word boundary; the chunk stops at the
            // next heading.
            "zeta eta theta. Iota kappa lambda mu.",
            // A new section starts fresh: no overlap reaches back across its heading.
            "Install\n\nOne two three four five six seven eight nine ten.",
        ]
    );
    assert_eq!(chunks[2].heading_path, ["Guide", "Install"]);
    check_invariants(&d, &chunks, &WordCounter, 12);
}

#[test]
fn chunks_end_at_headings_and_small_sections_ride_along() {
    let twenty = |w: &str| vec![w; 20].join(" ");
    let d = doc(vec![
        heading(1, "Alpha", &["Alpha"]),
        para(&twenty("a"), &["Alpha"]),
        heading(1, "Beta", &["Beta"]),
        para("b b b b b", &["Beta"]),
        heading(1, "Gamma", &["Gamma"]),
        para(&twenty("g"), &["Gamma"]),
        heading(1, "Delta", &["Delta"]),
        para(&twenty("d"), &["Delta"]),
    ]);
    let chunks = RecursiveChunker::new(words(), 32, 6).chunk(&d);
    let all = texts(&chunks);
    // Alpha fills a quarter of the budget, so its chunk ends at Beta's heading; the small
    // Beta section rides along with Gamma; Delta starts its own chunk. No overlap drags
    // a section's last words in front of the next heading.
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(
        all[0].starts_with("Alpha") && all[0].ends_with("a a"),
        "{all:?}"
    );
    assert!(
        all[1].starts_with("Beta") && all[1].ends_with("g g"),
        "{all:?}"
    );
    assert!(all[2].starts_with("Delta"), "{all:?}");
    let paths: Vec<_> = chunks.iter().map(|c| c.heading_path.clone()).collect();
    assert_eq!(paths, [["Alpha"], ["Beta"], ["Delta"]]);
    check_invariants(&d, &chunks, &WordCounter, 32);
}

#[test]
fn paragraphs_stay_whole_when_they_fit() {
    let d = doc(vec![
        para("a b c d e f", &[]),
        para("g h i j k l", &[]),
        para("m n o p q r", &[]),
    ]);
    let chunks = RecursiveChunker::new(words(), 12, 0).chunk(&d);
    assert_eq!(
        texts(&chunks),
        ["a b c d e f\n\ng h i j k l", "m n o p q r"]
    );
}

#[test]
fn lines_then_words_then_tokens() {
    // No blank lines: split on line breaks; a line too long for one chunk goes to words;
    // a "word" longer than a chunk is cut on token boundaries.
    let d = doc(vec![para(
        "l1 a b\nl2 c d\nl3 e f g h i j k l m n\nx-y-z-w-v-u-t",
        &[],
    )]);
    let chunks = RecursiveChunker::new(words(), 6, 0).chunk(&d);
    assert_eq!(
        texts(&chunks),
        [
            "l1 a b\nl2 c d",
            "l3 e f g h i",
            "j k l m n",
            "x-y-z-",
            "w-v-u-",
            "t"
        ]
    );
    check_invariants(&d, &chunks, &WordCounter, 6);
}

#[test]
fn empty_and_blank_documents_give_no_chunks() {
    let c = RecursiveChunker::new(words(), 16, 4);
    assert!(c.chunk(&doc(vec![])).is_empty());
    assert!(
        c.chunk(&doc(vec![para("  \n ", &[]), para("", &[])]))
            .is_empty()
    );
}

#[test]
fn chunker_for_picks_the_spec_kind() {
    for (kind, name) in [
        (ChunkerKind::Recursive, "recursive"),
        (ChunkerKind::Sliding, "sliding"),
        (ChunkerKind::Structure, "structure"),
        (ChunkerKind::ParentChild, "parent_child"),
    ] {
        let spec = ChunkingSpec {
            kind,
            ..ChunkingSpec::default()
        };
        assert_eq!(chunker_for(&spec, words()).name(), name);
    }
}

#[test]
fn overlap_is_bounded_and_present_on_long_prose() {
    let blocks = prose(7, 40).iter().map(|p| para(p, &["Doc"])).collect();
    let d = doc(blocks);
    let chunks = RecursiveChunker::new(words(), 80, 10).chunk(&d);
    assert!(chunks.len() > 10);
    check_invariants(&d, &chunks, &WordCounter, 80);
    let mut with_overlap = 0;
    for pair in chunks.windows(2) {
        let shared = overlap(&pair[0].text, &pair[1].text);
        assert!(
            WordCounter.count_str(shared) <= 10,
            "overlap too long: {shared:?}"
        );
        with_overlap += usize::from(!shared.is_empty());
    }
    assert!(
        with_overlap * 10 >= (chunks.len() - 1) * 9,
        "{with_overlap} of {}",
        chunks.len()
    );
}

trait CountStr {
    fn count_str(&self, s: &str) -> usize;
}
impl CountStr for WordCounter {
    fn count_str(&self, s: &str) -> usize {
        cairn_types::TokenCounter::count(self, s)
    }
}

fn realistic_doc(seed: u64, sections: usize) -> cairn_types::ParsedDoc {
    let mut blocks = Vec::new();
    for s in 0..sections {
        let title = format!("Section {s}");
        blocks.push(heading(2, &title, &["Manual", &title]));
        for p in prose(seed + s as u64, 6) {
            blocks.push(para(&p, &["Manual", &title]));
        }
        if s % 3 == 0 {
            blocks.push(block(
                BlockKind::Table,
                "name | value | unit\nshared_buffers | 128 | MB\nwork_mem | 4 | MB",
                &["Manual", &title],
            ));
        }
    }
    doc(blocks)
}

#[test]
fn real_tokenizer_limits_overlap_and_headings() {
    let tok = minilm();
    let d = realistic_doc(11, 12);
    for (max, ov) in [(512, 64), (64, 8), (20, 5)] {
        let chunks = RecursiveChunker::new(Arc::clone(&tok), max, ov).chunk(&d);
        check_invariants(&d, &chunks, tok.as_ref(), max);
        let body = d.full_text();
        let mut from = 0;
        for c in &chunks {
            let at = body[from..].find(&c.text).unwrap() + from;
            from = at;
            let blk = d.blocks.iter().scan(0usize, |pos, b| {
                let start = *pos;
                *pos += b.text.len() + 2;
                Some((start, b))
            });
            let (_, owner) = blk.take_while(|(s, _)| *s <= at).last().unwrap();
            assert_eq!(c.heading_path, owner.heading_path);
        }
        for pair in chunks.windows(2) {
            let shared = overlap(&pair[0].text, &pair[1].text);
            assert!(
                tok.count(shared) <= ov,
                "overlap {} > {ov}: {shared:?}",
                tok.count(shared)
            );
        }
        // Chunks that continue a section overlap their predecessor; a chunk that starts a
        // new section (at its heading) does not reach back into the previous one.
        let continuing: Vec<_> = chunks
            .windows(2)
            .filter(|p| p[0].heading_path == p[1].heading_path)
            .collect();
        let overlapping = continuing
            .iter()
            .filter(|p| !overlap(&p[0].text, &p[1].text).is_empty())
            .count();
        assert!(
            overlapping * 10 >= continuing.len() * 8,
            "max {max}: {overlapping}/{}",
            continuing.len()
        );
        for p in chunks.windows(2) {
            if p[1].text.starts_with("Section ") {
                assert!(
                    overlap(&p[0].text, &p[1].text).is_empty(),
                    "max {max}: overlap across a heading: {:?}",
                    p[1].text
                );
            }
        }
    }
}

#[test]
fn real_tokenizer_throughput() {
    let tok = minilm();
    let d = realistic_doc(3, 280);
    let body = d.full_text();
    let bytes = body.len();
    let start = Instant::now();
    let tokens = tok.count(&body);
    let once = start.elapsed().as_secs_f64();
    let build = if cfg!(debug_assertions) {
        "debug build"
    } else {
        "release build"
    };
    let mb = bytes as f64 / 1e6;
    eprintln!("{mb:.2} MB, {tokens} tokens; one tokenizer pass over it: {once:.2} s ({build})");
    for (name, spec) in [
        ("recursive 512/64", ChunkingSpec::default()),
        (
            "sliding 512/64",
            ChunkingSpec {
                kind: ChunkerKind::Sliding,
                ..ChunkingSpec::default()
            },
        ),
        (
            "structure 512",
            ChunkingSpec {
                kind: ChunkerKind::Structure,
                ..ChunkingSpec::default()
            },
        ),
        (
            "parent_child 512/128",
            ChunkingSpec {
                kind: ChunkerKind::ParentChild,
                ..ChunkingSpec::default()
            },
        ),
    ] {
        let chunker = chunker_for(&spec, Arc::clone(&tok));
        let start = Instant::now();
        let chunks = chunker.chunk(&d);
        let secs = start.elapsed().as_secs_f64();
        let mean = chunks.iter().map(|c| c.token_count).sum::<usize>() / chunks.len().max(1);
        eprintln!(
            "  {name}: {} chunks (mean {mean} tokens) in {secs:.2} s = {:.2} MB/s",
            chunks.len(),
            mb / secs
        );
        assert!(chunks.iter().all(|c| c.token_count <= 512));
    }
}

fn replication() -> cairn_types::ParsedDoc {
    doc(vec![
        heading(1, "Replication", &["Replication"]),
        para(
            "Streaming replication ships WAL records to a standby. The standby replays them \
             continuously. Failover promotes the standby to primary.",
            &["Replication"],
        ),
        heading(2, "Slots", &["Replication", "Slots"]),
        para(
            "Replication slots keep WAL until every consumer has received it.",
            &["Replication", "Slots"],
        ),
    ])
}

#[test]
fn real_tokenizer_exact_boundaries() {
    let tok = minilm();
    let d = replication();
    // MiniLM counts: heading 1, the three sentences 10 + 8 + 9, heading 1, last para 11.
    let counts: Vec<usize> = d.blocks.iter().map(|b| tok.count(&b.text)).collect();
    assert_eq!(counts, [1, 27, 1, 11]);

    let chunks = RecursiveChunker::new(Arc::clone(&tok), 16, 0).chunk(&d);
    assert_eq!(
        texts(&chunks),
        [
            "Replication\n\nStreaming replication ships WAL records to a standby.",
            "The standby replays them continuously.",
            // The chunk stops before the next section's heading, which opens its own.
            "Failover promotes the standby to primary.",
            "Slots\n\nReplication slots keep WAL until every consumer has received it.",
        ]
    );
    let counts: Vec<usize> = chunks.iter().map(|c| c.token_count).collect();
    assert_eq!(counts, [11, 8, 9, 12]);
    assert_eq!(chunks[2].heading_path, ["Replication"]);
    assert_eq!(chunks[3].heading_path, ["Replication", "Slots"]);

    // With overlap: each chunk starts on a word boundary at most 4 tokens back, except
    // the one that opens a new section.
    let chunks = RecursiveChunker::new(Arc::clone(&tok), 16, 4).chunk(&d);
    assert_eq!(
        texts(&chunks),
        [
            "Replication\n\nStreaming replication ships WAL records to a standby.",
            "a standby. The standby replays them continuously.",
            "them continuously. Failover promotes the standby to primary.",
            // No overlap reaches back across the Slots heading.
            "Slots\n\nReplication slots keep WAL until every consumer has received it.",
        ]
    );
    let overlaps: Vec<usize> = chunks
        .windows(2)
        .map(|p| tok.count(overlap(&p[0].text, &p[1].text)))
        .collect();
    assert_eq!(overlaps, [4, 3, 0]);
    check_invariants(&d, &chunks, tok.as_ref(), 16);
}
