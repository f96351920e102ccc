//! Parent-child chunker: parents are structure sections, children are small recursive
//! chunks inside them, and every child points at its parent.

mod chunk_support;

use std::sync::Arc;

use cairn_ingest::chunk::{Chunker, ParentChildChunker, StructureChunker};
use cairn_types::{ChunkDraft, ChunkRole, ParsedDoc, TokenCounter};
use chunk_support::*;

/// Checks roles, links, sizes, and that each parent's children cover it.
fn check_family(
    d: &ParsedDoc,
    chunks: &[ChunkDraft],
    counter: &dyn TokenCounter,
    max: usize,
    child: usize,
) {
    let parents: Vec<ChunkDraft> = chunks
        .iter()
        .filter(|c| c.role == ChunkRole::Parent)
        .cloned()
        .collect();
    check_invariants(d, &parents, counter, max);
    assert_eq!(chunks.first().map(|c| c.role), Some(ChunkRole::Parent));
    for (i, c) in chunks.iter().enumerate() {
        match c.role {
            ChunkRole::Parent => assert_eq!(c.parent, None),
            ChunkRole::Child => {
                let p = c
                    .parent
                    .unwrap_or_else(|| panic!("child {i} has no parent"));
                assert!(p < i, "child {i} points forward");
                let parent = &chunks[p];
                assert_eq!(parent.role, ChunkRole::Parent);
                assert!(
                    parent.text.contains(&c.text),
                    "child {i} not inside its parent"
                );
                // Children follow their parent directly: nothing but siblings in between.
                assert!(chunks[p + 1..i].iter().all(|s| s.parent == Some(p)));
            }
            ChunkRole::Leaf => panic!("leaf chunk {i} in parent-child output"),
        }
    }
    for (p, parent) in chunks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.role == ChunkRole::Parent)
    {
        let children: Vec<ChunkDraft> = chunks
            .iter()
            .filter(|c| c.parent == Some(p))
            .cloned()
            .collect();
        assert!(!children.is_empty(), "parent {p} has no children");
        check_invariants(
            &doc(vec![para(&parent.text, &[])]),
            &children,
            counter,
            child,
        );
    }
}

fn manual() -> ParsedDoc {
    let mut blocks = Vec::new();
    for s in 0..6u64 {
        let title = format!("Chapter {s}");
        let path = ["Manual", title.as_str()];
        blocks.push(heading(2, &title, &path));
        for p in prose(40 + s, 2 + s as usize) {
            blocks.push(para(&p, &path));
        }
    }
    doc(blocks)
}

#[test]
fn parents_are_structure_sections_and_children_fit_inside() {
    let d = manual();
    let chunks = ParentChildChunker::new(words(), 200, 24).chunk(&d);
    check_family(&d, &chunks, &WordCounter, 200, 24);
    // Parents are exactly what the structure chunker produces without overlap.
    let parents: Vec<&str> = chunks
        .iter()
        .filter(|c| c.role == ChunkRole::Parent)
        .map(|c| c.text.as_str())
        .collect();
    let sections = StructureChunker::new(words(), 200, 0).chunk(&d);
    assert_eq!(parents, texts(&sections));
    // Children carry the heading path of where they start.
    for c in chunks.iter().filter(|c| c.role == ChunkRole::Child) {
        assert_eq!(c.heading_path.first().map(String::as_str), Some("Manual"));
    }
}

#[test]
fn small_sections_get_one_child_equal_to_the_parent() {
    let d = doc(vec![
        heading(1, "Intro", &["Intro"]),
        para("Short and sweet section text here.", &["Intro"]),
    ]);
    let chunks = ParentChildChunker::new(words(), 100, 20).chunk(&d);
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].role, ChunkRole::Parent);
    assert_eq!(chunks[1].role, ChunkRole::Child);
    assert_eq!(chunks[1].parent, Some(0));
    assert_eq!(chunks[0].text, chunks[1].text);
    assert_eq!(chunks[1].heading_path, ["Intro"]);
}

#[test]
fn empty_document_gives_no_chunks() {
    assert!(
        ParentChildChunker::new(words(), 100, 20)
            .chunk(&doc(vec![]))
            .is_empty()
    );
}

#[test]
fn real_tokenizer_parent_child() {
    let tok = minilm();
    let d = manual();
    for (max, child) in [(512, 128), (256, 64)] {
        let chunks = ParentChildChunker::new(Arc::clone(&tok), max, child).chunk(&d);
        check_family(&d, &chunks, tok.as_ref(), max, child);
        // Children overlap by at most child / 8 tokens.
        for pair in chunks
            .windows(2)
            .filter(|p| p[0].role == ChunkRole::Child && p[0].parent == p[1].parent)
        {
            let shared = overlap(&pair[0].text, &pair[1].text);
            assert!(tok.count(shared) <= child / 8, "{shared:?}");
        }
    }
}
