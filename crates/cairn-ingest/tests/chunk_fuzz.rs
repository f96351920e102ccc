//! Randomized (seeded, deterministic) documents through every chunker: odd block mixes,
//! empty blocks, long unbroken words, CJK text without spaces, tiny limits. All shared
//! invariants must hold for each.

mod chunk_support;

use std::sync::Arc;

use cairn_ingest::chunk::chunker_for;
use cairn_types::{BlockKind, ChunkRole, ChunkerKind, ChunkingSpec, ParsedDoc, TokenCounter};
use chunk_support::*;

const ODD: &[&str] = &[
    "",
    "   ",
    "x",
    "supercalifragilisticexpialidocious_and_then_some_more_identifier_text_without_breaks",
    "東京は日本の首都です。大阪は大きな都市です！京都は古い都です？",
    "Ünïcödé façade — naïve “quotes” and emoji 🚀🚀 done.",
    "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p",
    "line one\nline two\n\n\nline after blank lines",
    "https://example.org/a/very/long/path?with=query&and=params#fragment",
];

fn random_doc(seed: u64) -> ParsedDoc {
    let mut rng = Lcg(seed);
    let mut blocks = Vec::new();
    let mut path: Vec<String> = Vec::new();
    for i in 0..(1 + rng.below(30)) {
        let kind = match rng.below(8) {
            0 => BlockKind::Heading {
                level: 1 + rng.below(3) as u8,
            },
            1 => BlockKind::Table,
            2 => BlockKind::Code,
            3 => BlockKind::ListItem,
            _ => BlockKind::Paragraph,
        };
        let text = match rng.below(4) {
            0 => ODD[rng.below(ODD.len())].to_owned(),
            1 => ODD[rng.below(ODD.len())].repeat(1 + rng.below(20)),
            _ => prose(seed * 31 + i as u64, 1).remove(0),
        };
        if let BlockKind::Heading { level } = kind {
            path.truncate(level as usize - 1);
            path.push(text.lines().next().unwrap_or("").to_owned());
        }
        let mut b = block(kind, &text, &[]);
        b.heading_path = path.clone();
        b.page = Some(1 + i as u32 / 4);
        blocks.push(b);
    }
    doc(blocks)
}

fn run_all(counter: &Arc<dyn TokenCounter>, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let d = random_doc(seed);
        let mut rng = Lcg(seed ^ 0x5eed);
        let max = [1, 2, 5, 16, 50, 128][rng.below(6)];
        let overlap = rng.below(max + 1);
        let child = 1 + rng.below(max);
        for kind in [
            ChunkerKind::Recursive,
            ChunkerKind::Sliding,
            ChunkerKind::Structure,
            ChunkerKind::ParentChild,
        ] {
            let spec = ChunkingSpec {
                kind,
                max_tokens: max,
                overlap_tokens: overlap,
                child_tokens: child,
            };
            let chunks = chunker_for(&spec, Arc::clone(counter)).chunk(&d);
            let ctx = format!("seed {seed} {kind:?} max {max} overlap {overlap} child {child}");
            if d.full_text().trim().is_empty() {
                assert!(chunks.is_empty(), "{ctx}");
                continue;
            }
            // Parent-child: the parents must satisfy the shared invariants.
            let main: Vec<_> = chunks
                .iter()
                .filter(|c| c.role != ChunkRole::Child)
                .cloned()
                .collect();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if kind == ChunkerKind::Sliding {
                    check_ranges(&d, &main, counter.as_ref(), max);
                } else {
                    check_invariants(&d, &main, counter.as_ref(), max);
                }
            }));
            assert!(result.is_ok(), "{ctx}");
            for c in chunks.iter().filter(|c| c.role == ChunkRole::Child) {
                assert!(
                    c.token_count <= child,
                    "{ctx}: child of {} tokens",
                    c.token_count
                );
                let Some(p) = c.parent else {
                    panic!("{ctx}: child without parent")
                };
                let parent = &chunks[p];
                assert!(parent.text.contains(&c.text), "{ctx}");
            }
            for c in &chunks {
                assert!(c.page.is_some(), "{ctx}: page lost");
            }
        }
    }
}

#[test]
fn random_documents_with_word_counter() {
    run_all(&words(), 0..150);
}

#[test]
fn random_documents_with_real_tokenizer() {
    let tok = minilm();
    run_all(&tok, 1000..1030);
}
