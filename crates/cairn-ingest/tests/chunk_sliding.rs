//! Sliding-window chunker: window sizes, stride, short last window, heading paths, and
//! the limit with the real MiniLM tokenizer.

mod chunk_support;

use std::sync::Arc;

use cairn_ingest::chunk::{Chunker, SlidingChunker};
use chunk_support::*;

fn numbered(n: usize) -> String {
    (0..n)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn windows_have_fixed_size_and_stride() {
    let d = doc(vec![para(&numbered(100), &["Top"])]);
    let chunker = SlidingChunker::new(words(), 10, 3);
    assert_eq!(chunker.stride(), 7);
    let chunks = chunker.chunk(&d);
    assert_eq!(chunks.len(), 14);
    for (k, c) in chunks.iter().enumerate() {
        let first = k * 7;
        let last = (first + 10).min(100);
        let want = (first..last)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(c.text, want, "window {k}");
        assert_eq!(c.token_count, last - first);
        assert_eq!(c.heading_path, ["Top"]);
    }
    // The last window is short: tokens 91..100.
    assert_eq!(chunks[13].token_count, 9);
    check_ranges(&d, &chunks, &WordCounter, 10);
}

#[test]
fn windows_cross_blocks_and_take_the_starting_block_path() {
    let d = doc(vec![
        heading(1, "A", &["A"]),
        para("one two three four", &["A"]),
        heading(1, "B", &["B"]),
        para("five six seven eight", &["B"]),
    ]);
    let chunks = SlidingChunker::new(words(), 4, 0).chunk(&d);
    assert_eq!(
        texts(&chunks),
        ["A\n\none two three", "four\n\nB\n\nfive six", "seven eight"]
    );
    let paths: Vec<_> = chunks.iter().map(|c| c.heading_path.clone()).collect();
    assert_eq!(paths, [vec!["A"], vec!["A"], vec!["B"]]);
}

#[test]
fn overlap_at_least_window_still_advances() {
    let d = doc(vec![para(&numbered(12), &[])]);
    let chunks = SlidingChunker::new(words(), 4, 9).chunk(&d);
    // Overlap capped at 3: stride 1.
    assert_eq!(chunks.len(), 9);
    check_ranges(&d, &chunks, &WordCounter, 4);
}

#[test]
fn empty_document_gives_no_windows() {
    assert!(
        SlidingChunker::new(words(), 8, 2)
            .chunk(&doc(vec![]))
            .is_empty()
    );
    assert!(
        SlidingChunker::new(words(), 8, 2)
            .chunk(&doc(vec![para(" \n", &[])]))
            .is_empty()
    );
}

#[test]
fn real_tokenizer_windows() {
    let tok = minilm();
    let blocks = prose(5, 60).iter().map(|p| para(p, &["Doc"])).collect();
    let d = doc(blocks);
    let (max, ov) = (128, 32);
    let chunks = SlidingChunker::new(Arc::clone(&tok), max, ov).chunk(&d);
    check_ranges(&d, &chunks, tok.as_ref(), max);
    let total = tok.count(&d.full_text());
    assert_eq!(chunks.len(), (total - ov).div_ceil(max - ov));
    // Full windows, except where a word cut at a window edge re-tokenizes differently.
    let full = chunks[..chunks.len() - 1]
        .iter()
        .filter(|c| c.token_count == max)
        .count();
    assert!(
        full * 10 >= (chunks.len() - 1) * 9,
        "{full} full of {}",
        chunks.len()
    );
    for pair in chunks.windows(2) {
        let shared = overlap(&pair[0].text, &pair[1].text);
        assert!(tok.count(shared) <= ov + 1, "{shared:?}");
        assert!(!shared.is_empty());
    }
}
