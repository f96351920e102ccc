//! Parsing of the text formats (plain text, Markdown, CSV/TSV, JSON/JSON Lines) and format
//! detection, on inputs built by the tests themselves.

use cairn_ingest::Format;
use cairn_types::{BlockKind, ErrorCode};

mod parse_support;
use parse_support::{block, err_code, parse_ok};

#[test]
fn markdown_structure() {
    let md = "---\ntitle: Front Title\nauthor: x\n---\n# Heading One\n\nIntro with [a link](http://x) and `code`.\n\n\
              ## Section A\n\n- item one\n- item two\n\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\n\n\
              | Col A | Col B |\n|-------|-------|\n| a1 | b1 |\n| a2 | b2 |\n\n### Deeper\n\nDeep text.\n\n## Section B\n\nB text.\n";
    let doc = parse_ok(Format::Markdown, md.as_bytes(), "doc.md");
    assert_eq!(doc.title.as_deref(), Some("Front Title"));
    assert!(!doc.full_text().contains("author"));
    let intro = block(&doc, "Intro");
    assert_eq!(intro.text, "Intro with a link and code.");
    assert_eq!(intro.heading_path, ["Heading One"]);
    assert_eq!(doc.link_chars, "alink".len());
    let item = block(&doc, "item two");
    assert_eq!(
        (item.kind, item.heading_path.clone()),
        (
            BlockKind::ListItem,
            vec!["Heading One".into(), "Section A".into()]
        )
    );
    let code = block(&doc, "fn main");
    assert_eq!(code.kind, BlockKind::Code);
    assert_eq!(code.text, "fn main() {\n    println!(\"hi\");\n}");
    let table = block(&doc, "Col A");
    assert_eq!(table.kind, BlockKind::Table);
    assert_eq!(table.text, "Col A | Col B\na1 | b1\na2 | b2");
    assert_eq!(
        block(&doc, "Deep text").heading_path,
        ["Heading One", "Section A", "Deeper"]
    );
    assert_eq!(
        block(&doc, "B text").heading_path,
        ["Heading One", "Section B"]
    );

    let plain = parse_ok(
        Format::Markdown,
        b"Text\n\n# First H1\n\n# Second H1\n",
        "n.md",
    );
    assert_eq!(plain.title.as_deref(), Some("First H1"));
}

#[test]
fn text_paragraphs_and_encodings() {
    let doc = parse_ok(
        Format::Text,
        b"First para\nline two\n\n\n\nSecond\xa0para",
        "t.txt",
    );
    assert_eq!(doc.title, None);
    let texts: Vec<&str> = doc.blocks.iter().map(|b| b.text.as_str()).collect();
    assert_eq!(texts, ["First para\nline two", "Second\u{FFFD}para"]);

    let mut utf16 = vec![0xFF, 0xFE];
    for unit in "Hello\u{00A0}UTF-16".encode_utf16() {
        utf16.extend(unit.to_le_bytes());
    }
    let doc = parse_ok(Format::Text, &utf16, "u.txt");
    assert_eq!(doc.full_text(), "Hello UTF-16");
    let (code, _) = err_code(Format::Text, b"  \n\n \t ", "blank.txt");
    assert_eq!(code, ErrorCode::EmptyDocument);
}

#[test]
fn csv_and_tsv_records() {
    let csv = b"name,city,note\nAda,London,\n\"Grace, R.\",Arlington,admiral\n";
    let doc = parse_ok(Format::Csv, csv, "people.csv");
    let texts: Vec<&str> = doc.blocks.iter().map(|b| b.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "name: Ada\ncity: London",
            "name: Grace, R.\ncity: Arlington\nnote: admiral"
        ]
    );
    assert!(doc.blocks.iter().all(|b| b.kind == BlockKind::Record));
    let doc = parse_ok(Format::Csv, b"a\tb\n1\t2\n", "x.tsv");
    assert_eq!(doc.blocks[0].text, "a: 1\nb: 2");
}

#[test]
fn json_records() {
    let json =
        br#"[{"id": 1, "user": {"name": "Ada", "langs": ["en", "fr"]}, "gone": null}, {"id": 2}]"#;
    let doc = parse_ok(Format::Json, json, "data.json");
    // Key order follows serde_json's map (sorted unless `preserve_order` is enabled).
    let records: Vec<Vec<&str>> = doc
        .blocks
        .iter()
        .map(|b| {
            let mut lines: Vec<&str> = b.text.lines().collect();
            lines.sort_unstable();
            lines
        })
        .collect();
    assert_eq!(
        records,
        [
            vec!["id: 1", "user.langs: en, fr", "user.name: Ada"],
            vec!["id: 2"]
        ]
    );
    assert!(doc.blocks.iter().all(|b| b.kind == BlockKind::Record));

    let single = parse_ok(Format::Json, br#"{"a": {"b": {"c": "deep"}}}"#, "one.json");
    assert_eq!(single.full_text(), "a.b.c: deep");

    let lines = b"{\"k\": \"v1\"}\n\n{\"k\": \"v2\"}\n";
    for name in ["log.jsonl", "log.ndjson", "log.json"] {
        let doc = parse_ok(Format::Json, lines, name);
        let texts: Vec<&str> = doc.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["k: v1", "k: v2"], "{name}");
    }
}

#[test]
fn malformed_json_is_corrupt_with_position() {
    let (code, msg) = err_code(Format::Json, b"{\n  \"a\": 1,\n  \"b\": \n}", "bad.json");
    assert_eq!(code, ErrorCode::CorruptFile);
    assert!(msg.contains("bad.json") && msg.contains("line 4"), "{msg}");
    let (code, msg) = err_code(Format::Json, b"{\"ok\": 1}\n{broken\n", "bad.jsonl");
    assert_eq!(code, ErrorCode::CorruptFile);
    assert!(msg.contains("line 2"), "{msg}");
}

#[test]
fn sniffing() {
    assert_eq!(
        Format::sniff("notes.txt", b"%PDF-1.4\n").ok(),
        Some(Format::Pdf)
    );
    assert_eq!(
        Format::sniff("x.HTM", b"<p>hi</p>").ok(),
        Some(Format::Html)
    );
    assert_eq!(Format::as_str(Format::Docx), "docx");
    let err = Format::sniff("blob.txt", &[0u8, 1, 2, 3, 0, 0, 0xFF, 0x10]).err();
    let err = err.map(|e| (e.code, e.message));
    assert!(
        matches!(&err, Some((ErrorCode::UnsupportedFormat, m)) if m.contains("blob.txt")),
        "{err:?}"
    );
    let err = Format::sniff("movie.mp4", b"....ftypisom")
        .err()
        .map(|e| e.code);
    assert_eq!(err, Some(ErrorCode::UnsupportedFormat));
}
