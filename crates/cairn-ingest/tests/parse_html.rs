//! HTML parsing on pages built by the tests: a page laid out like the PostgreSQL manual
//! (navigation, table of contents, breadcrumbs and footer removed; headings, tables, code
//! and lists kept), inline spacing, sup/sub, link accounting and pathological input.

use cairn_ingest::Format;
use cairn_types::{BlockKind, ErrorCode};

mod parse_support;
use parse_support::{block, err_code, parse_ok};

const PG_PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd"><html xmlns="http://www.w3.org/1999/xhtml"><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8" /><title>8.1. Numeric Types</title><link rel="stylesheet" type="text/css" href="stylesheet.css" /><script>var tracking = "SCRIPTTEXT";</script></head><body id="docContent" class="container-fluid col-10"><div class="navheader"><table width="100%" summary="Navigation header"><tr><th colspan="5" align="center">8.1. Numeric Types</th></tr><tr><td width="10%" align="left"><a accesskey="p" href="datatype.html" title="Chapter 8. Data Types">Prev</a> </td><td width="10%" align="left"><a accesskey="u" href="datatype.html" title="Chapter 8. Data Types">Up</a></td><th width="60%" align="center">Chapter 8. Data Types</th><td width="20%" align="right"> <a accesskey="h" href="index.html" title="PostgreSQL 15.4 Documentation">Home</a> </td><td width="10%" align="right"> <a accesskey="n" href="datatype-money.html" title="8.2. Monetary Types">Next</a></td></tr></table><hr /></div><div class="sect1" id="DATATYPE-NUMERIC"><div class="titlepage"><div><div><h2 class="title" style="clear: both">8.1. Numeric&nbsp;Types</h2></div></div></div><div class="toc"><dl class="toc"><dt><span class="sect2"><a href="datatype-numeric.html#DATATYPE-INT">8.1.1. Integer Types</a></span></dt><dt><span class="sect2"><a href="datatype-numeric.html#DATATYPE-NUMERIC-DECIMAL">8.1.2. Arbitrary Precision Numbers</a></span></dt><dt><span class="sect2"><a href="datatype-numeric.html#DATATYPE-FLOAT">8.1.3. Floating-Point Types</a></span></dt></dl></div><p>Numeric types consist of two-, four-, and eight-byte integers, four- and eight-byte floating-point numbers, and selectable-precision decimals. See <a class="xref" href="datatype.html#DATATYPE-TABLE" title="Table 8.1. Data Types">Table&nbsp;8.1</a> for a list.</p><div class="table" id="DATATYPE-NUMERIC-TABLE"><p class="title"><strong>Table 8.2. Numeric Types</strong></p><div class="table-contents"><table class="table" summary="Numeric Types" border="1"><colgroup><col /><col /></colgroup><thead><tr><th>Name</th><th>Storage Size</th><th>Range</th></tr></thead><tbody><tr><td><code class="type">smallint</code></td><td>2 bytes</td><td>-32768 to +32767</td></tr><tr><td><code class="type">integer</code></td><td>4 bytes</td><td>-2<sup>31</sup> to 2<sup>31</sup>-1</td></tr></tbody></table></div></div><br class="table-break" /><div class="sect2" id="DATATYPE-INT"><div class="titlepage"><div><div><h3 class="title">8.1.1. Integer Types</h3></div></div></div><p>The type <code class="type">integer</code> is the common choice, as it offers the best balance between range, storage size, and performance. A table can hold at most 2<sup>30</sup> rows per partition, and H<sub>2</sub>O is water.</p><div class="note"><h3 class="title">Note</h3><p>Using <span class="type">bigint</span> costs more<br />storage than <em>integer</em>.</p></div><pre class="programlisting">CREATE TABLE t (
    id   integer,
    name text
);</pre><ul class="itemizedlist"><li class="listitem"><p>First point about <code class="literal">smallint</code>.</p></li><li class="listitem"><p>Second point.</p></li></ul></div><div class="sect2" id="DATATYPE-FLOAT"><div class="titlepage"><div><div><h3 class="title">8.1.3. Floating-Point Types</h3></div></div></div><p>Floating-point values follow IEEE&nbsp;754.</p></div></div><div class="breadcrumbs"><a href="index.html">Docs</a> &gt; <a href="datatype.html">Data Types</a></div><footer>Copyright FOOTERTEXT</footer><div class="navfooter"><hr /><table width="100%" summary="Navigation footer"><tr><td width="40%" align="left"><a accesskey="p" href="datatype.html">Prev</a> </td><td width="20%" align="center"><a accesskey="u" href="datatype.html">Up</a></td><td width="40%" align="right"> <a accesskey="n" href="datatype-money.html">Next</a></td></tr><tr><td width="40%" align="left" valign="top">Chapter 8. Data Types </td><td width="20%" align="center"><a accesskey="h" href="index.html">Home</a></td><td width="40%" align="right" valign="top"> 8.2. Monetary Types</td></tr></table></div></body></html>"#;

#[test]
fn html_postgres_docs_page() {
    assert_eq!(
        Format::sniff("datatype-numeric.html", PG_PAGE.as_bytes()).ok(),
        Some(Format::Html)
    );
    let doc = parse_ok(Format::Html, PG_PAGE.as_bytes(), "datatype-numeric.html");
    assert_eq!(doc.title.as_deref(), Some("8.1. Numeric Types"));
    let text = doc.full_text();

    // Navigation, table of contents, breadcrumbs, footer and scripts are gone.
    for absent in [
        "Prev",
        "Next",
        "Home",
        "Monetary",
        "Arbitrary Precision",
        "Docs >",
        "FOOTERTEXT",
        "SCRIPTTEXT",
        "Chapter 8",
    ] {
        assert!(
            !text.contains(absent),
            "{absent:?} should be stripped:\n{text}"
        );
    }

    // Headings and their paths.
    let h2 = block(&doc, "8.1. Numeric Types");
    assert_eq!(h2.kind, BlockKind::Heading { level: 2 });
    assert_eq!(h2.heading_path, ["8.1. Numeric Types"]);
    let int = block(&doc, "is the common choice");
    assert_eq!(int.kind, BlockKind::Paragraph);
    assert_eq!(
        int.heading_path,
        ["8.1. Numeric Types", "8.1.1. Integer Types"]
    );
    let float = block(&doc, "IEEE 754");
    assert_eq!(
        float.heading_path,
        ["8.1. Numeric Types", "8.1.3. Floating-Point Types"]
    );

    // Superscripts and subscripts keep their meaning; nbsp is a space.
    assert!(int.text.contains("at most 2^30 rows"), "{}", int.text);
    assert!(!text.contains("230 rows"));
    assert!(int.text.contains("H_2O is water"), "{}", int.text);
    assert!(text.contains("See Table 8.1 for a list."), "{text}");
    assert!(!text.contains('\u{a0}'));

    // The table is one block, rows on lines, cells joined by " | ".
    let table = block(&doc, "Storage Size");
    assert_eq!(table.kind, BlockKind::Table);
    assert_eq!(
        table.text,
        "Name | Storage Size | Range\nsmallint | 2 bytes | -32768 to +32767\ninteger | 4 bytes | -2^31 to 2^31-1"
    );
    assert_eq!(table.heading_path, ["8.1. Numeric Types"]);

    // Code stays whole with its indentation.
    let code = block(&doc, "CREATE TABLE");
    assert_eq!(code.kind, BlockKind::Code);
    assert_eq!(
        code.text,
        "CREATE TABLE t (\n    id   integer,\n    name text\n);"
    );

    // The admonition's heading does not become part of the heading path; <br> is a newline.
    let note = block(&doc, "costs more");
    assert_eq!(note.text, "Using bigint costs more\nstorage than integer.");
    assert_eq!(
        note.heading_path,
        ["8.1. Numeric Types", "8.1.1. Integer Types"]
    );
    assert_eq!(
        code.heading_path,
        ["8.1. Numeric Types", "8.1.1. Integer Types"]
    );

    // List items, inline code joined with proper spacing.
    let item = block(&doc, "First point");
    assert_eq!(item.kind, BlockKind::ListItem);
    assert_eq!(item.text, "First point about smallint.");
    assert_eq!(block(&doc, "Second point").kind, BlockKind::ListItem);

    // Only the in-text cross reference counts as link text.
    assert_eq!(doc.link_chars, "Table 8.1".len());
}

#[test]
fn html_inline_spacing_and_title_fallback() {
    let page = "<html><body><h1>Main&nbsp;Title</h1><p>alpha<b>beta</b> <i>gamma</i><span>delta</span>\n\
                epsilon,<a href='x'>zeta</a>.</p><div>direct text<p>para</p>tail</div>\
                <ol start='3'><li>three</li><li>four</li></ol><header class='header-anchor'>x</header></body></html>";
    let doc = parse_ok(Format::Html, page.as_bytes(), "p.html");
    assert_eq!(doc.title.as_deref(), Some("Main Title"));
    let texts: Vec<&str> = doc.blocks.iter().map(|b| b.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Main Title",
            "alphabeta gammadelta epsilon,zeta.",
            "direct text",
            "para",
            "tail",
            "3. three",
            "4. four"
        ]
    );
    assert!(
        doc.blocks[1..]
            .iter()
            .all(|b| b.heading_path == ["Main Title"])
    );
}

#[test]
fn html_mostly_links_page_keeps_links_and_counts_them() {
    let mut page = String::from("<html><head><title>Index</title></head><body><h1>Index</h1><dl>");
    for i in 0..40 {
        page.push_str(&format!(
            "<dt>term {i}, <a href='p{i}.html'>Section about topic {i}</a></dt>"
        ));
    }
    page.push_str("</dl></body></html>");
    let doc = parse_ok(Format::Html, page.as_bytes(), "bookindex.html");
    let text_chars = doc.text_chars();
    assert!(
        doc.link_chars * 10 >= text_chars * 6,
        "{} of {text_chars}",
        doc.link_chars
    );
    assert!(doc.full_text().contains("Section about topic 39"));
}

#[test]
fn html_link_dense_block_removed_from_content_page() {
    let mut page = String::from("<html><body><div class='wrapper'><ul>");
    for i in 0..6 {
        page.push_str(&format!("<li><a href='/{i}'>Related page {i}</a></li>"));
    }
    page.push_str("</ul></div><p>");
    page.push_str(&"Real body text about the subject at hand. ".repeat(20));
    page.push_str("</p></body></html>");
    let doc = parse_ok(Format::Html, page.as_bytes(), "a.html");
    assert!(!doc.full_text().contains("Related page"));
    assert_eq!(doc.link_chars, 0);
}

#[test]
fn html_whole_page_wrapped_in_header_div_is_kept() {
    let page = "<body><div id='header'><div class='menu'><a href='/'>Home</a></div>\
                <p>All the content of this old site lives inside the header div.</p></div></body>";
    let doc = parse_ok(Format::Html, page.as_bytes(), "old.html");
    assert_eq!(
        doc.full_text(),
        "All the content of this old site lives inside the header div."
    );
}

#[test]
fn html_pathologically_deep_nesting_does_not_overflow() {
    // Far deeper than the walk recurses (html5ever itself is quadratic in depth, so keep
    // the test quick).
    let depth = 10_000;
    let page = format!(
        "{}<p>bottom text</p>{}",
        "<div><span>".repeat(depth),
        "</span></div>".repeat(depth)
    );
    let doc = parse_ok(Format::Html, page.as_bytes(), "deep.html");
    assert_eq!(doc.full_text(), "bottom text");
}

#[test]
fn parse_time_limit() {
    let big = "word ".repeat(400_000);
    let result = cairn_ingest::parse::parse_with_timeout(
        Format::Markdown,
        big.as_bytes(),
        "big.md",
        std::time::Duration::from_nanos(1),
    );
    let err = result.err().map(|e| (e.code, e.message));
    assert!(
        matches!(&err, Some((ErrorCode::CorruptFile, m)) if m.contains("big.md") && m.contains("timed out")),
        "{err:?}"
    );
}

#[test]
fn html_without_text_is_empty_document() {
    let (code, msg) = err_code(
        Format::Html,
        b"<html><body><script>x()</script></body></html>",
        "e.html",
    );
    assert_eq!(code, ErrorCode::EmptyDocument);
    assert!(msg.contains("e.html"));
}
