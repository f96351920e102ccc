//! Structure chunker: one chunk per heading section, tiny sections merged, tables and
//! code kept whole, oversize sections split, and the limit with the real tokenizer.

mod chunk_support;

use std::sync::Arc;

use cairn_ingest::chunk::{Chunker, RecursiveChunker, StructureChunker};
use cairn_types::BlockKind;
use chunk_support::*;

#[test]
fn one_chunk_per_section_with_tiny_sections_merged() {
    let d = doc(vec![
        para(
            "This preface explains the purpose of the whole guide in brief.",
            &[],
        ),
        heading(1, "Guide", &["Guide"]),
        heading(2, "Install", &["Guide", "Install"]),
        para(
            "Download the archive, unpack it and run the installer from a terminal.",
            &["Guide", "Install"],
        ),
        heading(2, "Usage", &["Guide", "Usage"]),
        para(
            "Start the server and open the address it prints in a browser.",
            &["Guide", "Usage"],
        ),
        heading(2, "Appendix", &["Guide", "Appendix"]),
    ]);
    let chunks = StructureChunker::new(words(), 100, 10).chunk(&d);
    assert_eq!(
        texts(&chunks),
        [
            "This preface explains the purpose of the whole guide in brief.",
            // A heading without body is merged into the following section.
            "Guide\n\nInstall\n\nDownload the archive, unpack it and run the installer from a terminal.",
            // A trailing heading without body is merged into the section before it.
            "Usage\n\nStart the server and open the address it prints in a browser.\n\nAppendix",
        ]
    );
    let paths: Vec<_> = chunks.iter().map(|c| c.heading_path.clone()).collect();
    assert_eq!(paths, [vec![], vec!["Guide"], vec!["Guide", "Usage"]]);
    check_invariants(&d, &chunks, &WordCounter, 100);
}

fn config_section() -> cairn_types::ParsedDoc {
    let path = &["Config"];
    doc(vec![
        heading(2, "Config", path),
        para(
            "Settings live in one file and are read once at startup.",
            path,
        ),
        block(
            BlockKind::Table,
            "key | default\nport | 8080\nhost | localhost",
            path,
        ),
        para("Restart the server after every change to the file.", path),
    ])
}

#[test]
fn tables_move_whole_to_the_next_chunk() {
    let d = config_section();
    let chunks = StructureChunker::new(words(), 20, 0).chunk(&d);
    assert_eq!(
        texts(&chunks),
        [
            "Config\n\nSettings live in one file and are read once at startup.",
            "key | default\nport | 8080\nhost | localhost\n\nRestart the server after every change to the file.",
        ]
    );
    assert!(chunks.iter().all(|c| c.heading_path == ["Config"]));
    check_invariants(&d, &chunks, &WordCounter, 20);
}

#[test]
fn overlap_never_starts_inside_a_table() {
    let d = config_section();
    let table = "key | default\nport | 8080\nhost | localhost";
    let chunks = StructureChunker::new(words(), 20, 8).chunk(&d);
    check_invariants(&d, &chunks, &WordCounter, 20);
    assert!(chunks.iter().any(|c| c.text.contains(table)));
    for c in &chunks {
        // A chunk either holds the whole table or none of its rows.
        let rows = ["port | 8080", "host | localhost"];
        let present = rows.iter().filter(|r| c.text.contains(*r)).count();
        assert!(
            present == 0 || c.text.contains(table),
            "partial table in {:?}",
            c.text
        );
    }
}

#[test]
fn code_blocks_stay_whole_even_with_blank_lines() {
    let path = &["Build"];
    let code = "fn main() {\n\n    run();\n}";
    let d = doc(vec![
        heading(2, "Build", path),
        para("Build it first please.", path),
        block(BlockKind::Code, code, path),
    ]);
    let chunks = StructureChunker::new(words(), 12, 0).chunk(&d);
    assert_eq!(
        texts(&chunks),
        [
            "Build\n\nBuild it first please.",
            "fn main() {\n\n    run();\n}"
        ]
    );
    // The recursive chunker cuts the same code block at its blank line.
    let plain = RecursiveChunker::new(words(), 12, 0).chunk(&d);
    assert!(!plain.iter().any(|c| c.text.contains(code)));
}

#[test]
fn oversize_tables_split_on_row_boundaries() {
    let rows: Vec<String> = (0..10).map(|i| format!("row{i} | {i}")).collect();
    let d = doc(vec![
        heading(1, "Data", &["Data"]),
        block(BlockKind::Table, &rows.join("\n"), &["Data"]),
    ]);
    let chunks = StructureChunker::new(words(), 10, 0).chunk(&d);
    check_invariants(&d, &chunks, &WordCounter, 10);
    assert!(chunks.len() >= 3);
    for c in &chunks {
        for line in c.text.lines().filter(|l| l.starts_with("row")) {
            assert!(rows.iter().any(|r| r == line), "cut row {line:?}");
        }
    }
}

#[test]
fn empty_document_gives_no_chunks() {
    assert!(
        StructureChunker::new(words(), 10, 0)
            .chunk(&doc(vec![]))
            .is_empty()
    );
}

#[test]
fn real_tokenizer_sections_tables_and_code() {
    let tok = minilm();
    let mut blocks = Vec::new();
    let mut whole = Vec::new();
    for s in 0..15u64 {
        let title = format!("Topic {s}");
        let path = ["Book", title.as_str()];
        blocks.push(heading(2, &title, &path));
        for p in prose(100 + s, 1 + (s as usize * 7) % 9) {
            blocks.push(para(&p, &path));
        }
        let table = (0..=s % 6)
            .map(|r| format!("param_{r} | {} | see https://example.org/p{r}", r * 64))
            .collect::<Vec<_>>()
            .join("\n");
        blocks.push(block(BlockKind::Table, &table, &path));
        let code = format!("SELECT pg_stat_statements_reset();\n\nVACUUM (ANALYZE) t{s};");
        blocks.push(block(BlockKind::Code, &code, &path));
        blocks.push(para(&prose(200 + s, 1)[0], &path));
        whole.push(table);
        whole.push(code);
    }
    let d = doc(blocks);
    for (max, ov) in [(512, 64), (128, 16)] {
        let chunks = StructureChunker::new(Arc::clone(&tok), max, ov).chunk(&d);
        check_invariants(&d, &chunks, tok.as_ref(), max);
        for w in &whole {
            assert!(
                chunks.iter().any(|c| c.text.contains(w.as_str())),
                "max {max}: split {w:?}"
            );
        }
        // Chunks that start a section start with its heading line and carry its path.
        for c in chunks.iter().filter(|c| c.text.starts_with("Topic ")) {
            let title = c.text.lines().next().unwrap();
            assert_eq!(c.heading_path, ["Book", title]);
        }
    }
}

#[test]
fn real_tokenizer_exact_sections() {
    let tok = minilm();
    let path = &["Replication", "Slots"];
    let d = doc(vec![
        heading(1, "Replication", &["Replication"]),
        para(
            "Streaming replication ships WAL records to a standby. The standby replays them \
             continuously.",
            &["Replication"],
        ),
        heading(2, "Slots", path),
        para(
            "Replication slots keep WAL until every consumer has received it.",
            path,
        ),
        block(BlockKind::Table, "slot | lag\ns1 | 0 MB\ns2 | 16 MB", path),
    ]);
    let chunks = StructureChunker::new(Arc::clone(&tok), 24, 0).chunk(&d);
    assert_eq!(
        texts(&chunks),
        [
            "Replication\n\nStreaming replication ships WAL records to a standby. The standby \
             replays them continuously.",
            "Slots\n\nReplication slots keep WAL until every consumer has received it.",
            // 12 + 14 tokens do not fit 24: the table moves whole to its own chunk.
            "slot | lag\ns1 | 0 MB\ns2 | 16 MB",
        ]
    );
    let counts: Vec<usize> = chunks.iter().map(|c| c.token_count).collect();
    assert_eq!(counts, [19, 12, 14]);
    let paths: Vec<_> = chunks.iter().map(|c| c.heading_path.clone()).collect();
    assert_eq!(paths, [vec!["Replication"], path.to_vec(), path.to_vec()]);
    check_invariants(&d, &chunks, tok.as_ref(), 24);
}
