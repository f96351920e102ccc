//! Pathological nesting and width: 100k nested HTML elements, Markdown block quotes and
//! lists nested thousands deep, JSON past serde_json's recursion limit, CSV with a huge
//! field or a huge number of columns, and record rendering that would multiply the input.
//! Each must end in text or a stable error code within the parse time limit (the limit
//! only catches hangs; speed is measured in benchmarks).

use std::time::Duration;

use cairn_ingest::{Format, parse::parse_with_timeout};
use cairn_types::{ErrorCode, ParsedDoc};

const LIMIT: Duration = Duration::from_secs(60);

fn parse(format: Format, bytes: &[u8], name: &str) -> cairn_ingest::Result<ParsedDoc> {
    parse_with_timeout(format, bytes, name, LIMIT)
}

fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
    let mut s = String::with_capacity((open.len() + close.len()) * depth + inner.len());
    for _ in 0..depth {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..depth {
        s.push_str(close);
    }
    s
}

fn assert_text(result: cairn_ingest::Result<ParsedDoc>, needle: &str) {
    match result {
        Ok(doc) => assert!(doc.full_text().contains(needle), "{needle} missing"),
        Err(e) => panic!("expected text containing {needle}, got {e}"),
    }
}

#[test]
fn html_100k_nested_divs_keep_their_text() {
    let page = format!(
        "<html><body><p>before</p>{}<p>after</p></body></html>",
        nested("<div>", "deep text", "</div>", 100_000)
    );
    let result = parse(Format::Html, page.as_bytes(), "deep.html");
    let doc = result.unwrap();
    let text = doc.full_text();
    for needle in ["before", "deep text", "after"] {
        assert!(text.contains(needle), "{needle} missing");
    }
    assert!(
        doc.warnings.iter().any(|w| w.contains("flattened")),
        "the nesting cap did not apply: {:?}",
        doc.warnings
    );
}

#[test]
fn html_100k_nested_unclosed_elements_keep_their_text() {
    for (open, name) in [
        ("<div class=sidebar>", "chrome.html"),
        ("<header>", "headers.html"),
        ("<table><tr><td>", "tables.html"),
        ("<b>", "bold.html"),
        ("<ul><li>", "lists.html"),
        ("<blockquote>", "quotes.html"),
    ] {
        let mut page = String::from("<html><body><p>start of page</p>");
        for _ in 0..100_000 {
            page.push_str(open);
        }
        page.push_str("deep text");
        let result = parse(Format::Html, page.as_bytes(), name);
        match result {
            Ok(doc) => assert!(doc.full_text().contains("start of page"), "{name}"),
            Err(e) => assert!(
                matches!(e.code, ErrorCode::TooLarge | ErrorCode::EmptyDocument),
                "{name}: {e}"
            ),
        }
    }
}

#[test]
fn markdown_deep_block_quotes_and_lists() {
    let quotes = format!("{} deep quote\n\nafter\n", ">".repeat(100_000));
    assert_text(
        parse(Format::Markdown, quotes.as_bytes(), "q.md"),
        "deep quote",
    );
    let mut lists = String::new();
    for i in 0..3_000 {
        lists.push_str(&" ".repeat(2 * i));
        lists.push_str("- item\n");
    }
    lists.push_str("\nafter the list\n");
    assert_text(
        parse(Format::Markdown, lists.as_bytes(), "l.md"),
        "after the list",
    );
    let brackets = format!("{}link text{}\n", "[".repeat(50_000), "](x)".repeat(50_000));
    assert_text(
        parse(Format::Markdown, brackets.as_bytes(), "b.md"),
        "link text",
    );
    let emphasis = format!("{}strong{}\n", "*_".repeat(50_000), "_*".repeat(50_000));
    assert_text(
        parse(Format::Markdown, emphasis.as_bytes(), "e.md"),
        "strong",
    );
}

#[test]
fn json_deeper_than_the_recursion_limit_is_too_large() {
    // serde_json stops at 128 levels; the refusal must say so, not "invalid JSON".
    let deep = nested("[", "1", "]", 100_000);
    let err = parse(Format::Json, deep.as_bytes(), "deep.json").unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    assert!(err.message.contains("nested deeper"), "{err}");
    let deep_objects = nested("{\"a\":", "1", "}", 200);
    let err = parse(Format::Json, deep_objects.as_bytes(), "deep.jsonl").unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    // 100 levels is within the limit and still flattens.
    let ok = nested("{\"k\":", "\"leaf\"", "}", 100);
    assert_text(parse(Format::Json, ok.as_bytes(), "ok.json"), "leaf");
}

#[test]
fn json_whose_rendering_would_explode_is_too_large() {
    // A long key path above a wide object: every leaf line repeats the path.
    let key = "k".repeat(10_000);
    let mut json = String::new();
    for _ in 0..100 {
        json.push_str(&format!("{{\"{key}\":"));
    }
    json.push('{');
    for i in 0..100_000 {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!("\"{i}\":1"));
    }
    json.push('}');
    json.push_str(&"}".repeat(100));
    let err = parse(Format::Json, json.as_bytes(), "wide.json").unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
}

#[test]
fn csv_with_a_huge_field_parses() {
    let csv = format!("name,notes\nada,\"{}\"\n", "x".repeat(20 << 20));
    let doc = parse(Format::Csv, csv.as_bytes(), "big.csv").unwrap();
    assert!(doc.full_text().len() > 20 << 20);
}

#[test]
fn csv_with_too_many_columns_is_too_large() {
    let header: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
    let csv = format!("{}\n{}\n", header.join(","), "1,".repeat(100_000));
    let err = parse(Format::Csv, csv.as_bytes(), "wide.csv").unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    assert!(err.message.contains("columns"), "{err}");
}

#[test]
fn csv_whose_rendering_would_explode_is_too_large() {
    // Long column names repeated on every row: the text grows with rows × header size.
    let header: Vec<String> = (0..10_000)
        .map(|i| format!("{}{i}", "h".repeat(200)))
        .collect();
    let mut csv = header.join(",");
    csv.push('\n');
    let row = "x,".repeat(10_000);
    for _ in 0..200 {
        csv.push_str(&row);
        csv.push('\n');
    }
    let err = parse(Format::Csv, csv.as_bytes(), "amplify.csv").unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
}
