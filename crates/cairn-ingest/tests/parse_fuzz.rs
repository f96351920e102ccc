//! Property-based fuzzing (proptest) of every parser through the public entry points,
//! [`Format::sniff`] and [`parse_with_timeout`], with (a) arbitrary bytes, (b) format
//! token soup (random sequences of each format's syntax) and (c) mutated real documents
//! (bit flips, byte overwrites, truncation, deletion, duplication and splicing of bytes
//! from other seeds; seeds are small documents built here plus every fixture of
//! `scripts/fetch-fixtures.sh` up to [`MAX_SEED_BYTES`]; DOCX also with its XML parts
//! mutated and zipped again, so that the mutations get past the ZIP checksums). Every case must end in a
//! document or an error with one of the stable parse codes; a timeout, a worker that
//! stopped without a result, or a panic in this crate's own code fails the property
//! (a panic caught inside a third-party parser is counted and reported, not failed: it
//! already becomes a `corrupt_file` error by design).
//!
//! The default case counts keep the CI run short. A long run (the numbers in
//! bench/RESULTS.md, "Parser fuzzing (proptest)"):
//!
//! ```text
//! CAIRN_FUZZ_CASES=4000 cargo test -p cairn-ingest --test parse_fuzz -- --nocapture
//! ```
//!
//! `CAIRN_FUZZ_CASES` sets the number of cases of every property (one property per
//! format and input kind); the statistics print with `--nocapture`.

mod fixture_support;

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use cairn_ingest::{Format, parse::parse_with_timeout};
use cairn_types::ErrorCode;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Hang detection only: no parse of these small inputs comes near it.
const LIMIT: Duration = Duration::from_secs(30);

/// Fixture files larger than this are not used as seeds (each case parses one whole seed).
const MAX_SEED_BYTES: u64 = 256 * 1024;

fn cases(default: u32) -> u32 {
    std::env::var("CAIRN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn file_name(format: Format) -> &'static str {
    match format {
        Format::Text => "fuzz.txt",
        Format::Markdown => "fuzz.md",
        Format::Html => "fuzz.html",
        Format::Pdf => "fuzz.pdf",
        Format::Docx => "fuzz.docx",
        Format::Csv => "fuzz.csv",
        Format::Json => "fuzz.json",
    }
}

/// Outcome counts over the whole run, printed by each property.
#[derive(Default)]
struct Stats {
    outcomes: BTreeMap<String, usize>,
    third_party_panics: Vec<String>,
}

static STATS: LazyLock<Mutex<Stats>> = LazyLock::new(Mutex::default);
static EXECUTIONS: AtomicUsize = AtomicUsize::new(0);

/// Sniffs and parses `bytes`; `Err` describes a broken property.
fn check(format: Format, bytes: &[u8]) -> Result<(), String> {
    let name = file_name(format);
    EXECUTIONS.fetch_add(1, Ordering::Relaxed);
    match Format::sniff(name, bytes) {
        Ok(_) => {}
        Err(e) if e.code == ErrorCode::UnsupportedFormat && !e.message.is_empty() => {}
        Err(e) => return Err(format!("sniff: unexpected error {e}")),
    }
    let outcome = parse_with_timeout(format, bytes, name, LIMIT);
    let key = match &outcome {
        Ok(_) => format!("{format} ok"),
        Err(e) => format!("{format} {}", e.code),
    };
    let mut stats = STATS.lock().unwrap_or_else(|p| p.into_inner());
    *stats.outcomes.entry(key).or_default() += 1;
    let Err(e) = outcome else { return Ok(()) };
    if !matches!(
        e.code,
        ErrorCode::CorruptFile
            | ErrorCode::UnsupportedFormat
            | ErrorCode::EmptyDocument
            | ErrorCode::TooLarge
    ) {
        return Err(format!("unexpected error code: {e}"));
    }
    if e.message.trim().is_empty() {
        return Err("empty error message".into());
    }
    if e.message.contains("timed out") || e.message.contains("stopped without a result") {
        return Err(format!("hang or lost worker: {e}"));
    }
    if e.message.contains("crashed") {
        if e.message.contains("cairn-ingest/src") {
            return Err(format!("panic in our own parser code: {e}"));
        }
        stats.third_party_panics.push(e.message.clone());
    }
    Ok(())
}

#[allow(
    clippy::print_stderr,
    reason = "the run statistics are the output of a fuzz run"
)]
fn report(label: &str, started: Instant) {
    let stats = STATS.lock().unwrap_or_else(|p| p.into_inner());
    let mut panics: BTreeMap<String, usize> = BTreeMap::new();
    for message in &stats.third_party_panics {
        // The panic's location is the most useful key.
        let at = message
            .rsplit_once(" at ")
            .map_or(message.as_str(), |(_, at)| at);
        *panics.entry(at.to_owned()).or_default() += 1;
    }
    eprintln!(
        "[parse_fuzz] {label}: {:.1} s; executions so far {}; outcomes {:?}; caught \
         third-party panics {panics:?}",
        started.elapsed().as_secs_f64(),
        EXECUTIONS.load(Ordering::Relaxed),
        stats.outcomes,
    );
}

fn run(label: &str, cases: u32, strategy: impl Strategy<Value = (Format, Vec<u8>)>) {
    let started = Instant::now();
    let mut runner = TestRunner::new(config(cases));
    let result = runner.run(&strategy, |(format, bytes)| {
        check(format, &bytes).map_err(TestCaseError::fail)
    });
    report(label, started);
    if let Err(e) = result {
        panic!("{label}: {e}");
    }
}

fn any_format() -> impl Strategy<Value = Format> {
    prop::sample::select(Format::ALL.to_vec())
}

#[test]
fn arbitrary_bytes_never_break_a_parser() {
    let strategy = (any_format(), prop::collection::vec(any::<u8>(), 0..4096));
    run("arbitrary bytes", cases(2000), strategy);
}

/// Each format's syntax, for token soup that reaches past the first syntax check.
fn tokens(format: Format) -> &'static [&'static str] {
    match format {
        Format::Text => &[
            "word ", "\n", "\r\n", "\n\n", "\t", "\u{feff}", "é", "\0", " ",
        ],
        Format::Markdown => &[
            "# ",
            "## ",
            "> ",
            "- ",
            "* ",
            "1. ",
            "```",
            "~~~",
            "    ",
            "|",
            "| --- |",
            "[",
            "]",
            "(",
            ")",
            "![",
            "*",
            "_",
            "**",
            "`",
            "<div>",
            "</div>",
            "---\n",
            "+++\n",
            "title: x\n",
            "\n",
            "\n\n",
            "text",
            "\\",
            "&amp;",
            "[^1]",
            "<!--",
            "-->",
        ],
        Format::Html => &[
            "<html>",
            "<body>",
            "<div>",
            "</div>",
            "<p>",
            "</p>",
            "<table>",
            "<tr>",
            "<td>",
            "</td>",
            "</tr>",
            "</table>",
            "<h1>",
            "</h1>",
            "<h3>",
            "<ul>",
            "<ol start=3>",
            "<li>",
            "</li>",
            "<pre>",
            "</pre>",
            "<a href=x>",
            "</a>",
            "<br>",
            "<sup>",
            "<sub>",
            "<script>",
            "</script>",
            "<style>",
            "<nav>",
            "<header>",
            "<div class=note>",
            "<div class=sidebar>",
            "<!--",
            "-->",
            "<svg>",
            "<g/>",
            "<math>",
            "<b>",
            "<i>",
            "</b>",
            "<title>",
            "text ",
            "&amp;",
            "&#x0;",
            "<",
            ">",
            "\"",
            "'",
            "=",
            "<meta charset=utf-16>",
            "<template>",
            "<select><option>",
            "<frameset>",
            "<plaintext>",
            "<table><b>",
            "<caption>",
            "<textarea>",
            "<hr>",
        ],
        Format::Pdf => &[
            "%PDF-1.4\n",
            "1 0 obj\n",
            "endobj\n",
            "<<",
            ">>",
            "/Type /Page",
            "/Pages",
            "/Kids [",
            "]",
            "/Contents 4 0 R",
            "stream\n",
            "\nendstream",
            "BT",
            "ET",
            "(text) Tj",
            "/F1 12 Tf",
            "xref\n",
            "trailer\n",
            "/Root 1 0 R",
            "startxref\n",
            "%%EOF",
            "0 ",
            "65535 ",
            "n\n",
            "/Filter /FlateDecode",
            "/Length 10",
            "/ObjStm",
            "/N 3",
            "/First 5",
            "[",
            "(",
            ")",
            "\\",
            "/Encrypt",
            "/Size 9",
        ],
        Format::Docx => &[
            "PK\u{3}\u{4}",
            "word/document.xml",
            "PK\u{1}\u{2}",
            "PK\u{5}\u{6}",
        ],
        Format::Csv => &[
            "a", ",", "\t", "\"", "\"\"", "\n", "\r\n", "key", ";", " ", "é",
        ],
        Format::Json => &[
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            "\"k\"",
            "\"v\"",
            "1",
            "-0.5e9",
            "true",
            "null",
            "\n",
            " ",
            "\\u0000",
            "\"\\ud800\"",
        ],
    }
}

#[test]
fn token_soup_never_breaks_a_parser() {
    let strategy = any_format().prop_flat_map(|format| {
        let soup = prop::collection::vec(prop::sample::select(tokens(format)), 0..400);
        (
            Just(format),
            soup.prop_map(|parts| parts.concat().into_bytes()),
        )
    });
    run("token soup", cases(2000), strategy);
}

/// One edit of a seed document.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    Truncate(usize),
    Delete(usize, usize),
    Duplicate(usize, usize),
    /// Insert `len` bytes of seed `seed` from `from` at `at`: `(seed, from, at, len)`.
    Splice(usize, usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::SetByte(i, v)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), 0usize..512).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<usize>(), 0usize..512).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        2 => (any::<usize>(), any::<usize>(), any::<usize>(), 0usize..512)
            .prop_map(|(s, f, at, n)| Mutation::Splice(s, f, at, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation, seeds: &[(Format, Vec<u8>)]) {
    let len = bytes.len();
    let at = |i: usize| if len == 0 { 0 } else { i % len };
    match *m {
        Mutation::FlipBit(i, b) if len > 0 => bytes[at(i)] ^= 1 << b,
        Mutation::SetByte(i, v) if len > 0 => bytes[at(i)] = v,
        Mutation::Truncate(i) => bytes.truncate(at(i)),
        Mutation::Delete(i, n) => {
            let start = at(i);
            bytes.drain(start..(start + n).min(len));
        }
        Mutation::Duplicate(i, n) => {
            let start = at(i);
            let copy = bytes[start..(start + n).min(len)].to_vec();
            insert(bytes, start, &copy);
        }
        Mutation::Splice(s, f, pos, n) => {
            let other = &seeds[s % seeds.len()].1;
            if !other.is_empty() {
                let from = f % other.len();
                let piece = &other[from..(from + n).min(other.len())];
                insert(bytes, at(pos), piece);
            }
        }
        _ => {}
    }
}

fn insert(bytes: &mut Vec<u8>, at: usize, piece: &[u8]) {
    let tail = bytes.split_off(at);
    bytes.extend_from_slice(piece);
    bytes.extend_from_slice(&tail);
}

/// Small, valid documents of every format, built here.
fn built_seeds() -> Vec<(Format, Vec<u8>)> {
    let docx = {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        for (name, body) in [
            (
                "[Content_Types].xml",
                r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
            ),
            (
                "_rels/.rels",
                r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#,
            ),
            (
                "word/document.xml",
                r#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Title</w:t></w:r></w:p><w:p><w:r><w:t>Body text</w:t><w:tab/><w:t>more</w:t></w:r></w:p><w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:body></w:document>"#,
            ),
            (
                "docProps/core.xml",
                r#"<?xml version="1.0"?><cp:coreProperties xmlns:cp="x" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Seed</dc:title></cp:coreProperties>"#,
            ),
        ] {
            if out.start_file(name, options).is_ok() {
                let _ = out.write_all(body.as_bytes());
            }
        }
        out.finish().map(Cursor::into_inner).unwrap_or_default()
    };
    let pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n\
3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
/Resources << /Font << /F1 5 0 R >> >> >>\nendobj\n\
4 0 obj\n<< /Length 44 >>\nstream\nBT /F1 24 Tf 72 700 Td (Hello seed) Tj ET\n\nendstream\nendobj\n\
5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n\
trailer\n<< /Root 1 0 R /Size 6 >>\n%%EOF\n"
        .to_vec();
    vec![
        (Format::Text, b"First paragraph\nstill first.\n\nSecond \xff paragraph.\r\n".to_vec()),
        (
            Format::Markdown,
            b"---\ntitle: Seed\n---\n# Head\n\n> quote\n\n- a\n  - b\n1. one\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn x() {}\n```\n[link](http://x) ![img](y)\n".to_vec(),
        ),
        (
            Format::Html,
            b"<!doctype html><html><head><title>Seed</title></head><body><nav>menu</nav><h1>Head</h1><p>Para <a href=x>link</a> x<sup>2</sup></p><ol start=2><li>one<li>two</ol><table><tr><th>a<td>b</table><pre>code\n  kept</pre><div class=note><h2>Note</h2>text</div></body></html>".to_vec(),
        ),
        (Format::Pdf, pdf),
        (Format::Docx, docx),
        (Format::Csv, b"name,age,notes\nAda,36,\"quoted, with comma\"\nBob,,\"multi\nline\"\n".to_vec()),
        (
            Format::Json,
            br#"[{"a":{"b":1,"c":[1,2,{"d":"x"}]},"t":"text"},{"n":null,"u":"\u00e9"}]"#.to_vec(),
        ),
        (Format::Json, b"{\"line\":1}\n{\"line\":2}\n".to_vec()),
    ]
}

/// Built seeds plus every fixture up to [`MAX_SEED_BYTES`].
fn seeds() -> Vec<(Format, Vec<u8>)> {
    let mut seeds = built_seeds();
    let exts = ["pdf", "docx", "html", "htm", "md", "csv", "json", "txt"];
    for path in fixture_support::fixture_files(&exts) {
        let small = std::fs::metadata(&path).is_ok_and(|m| m.len() <= MAX_SEED_BYTES);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(format) = Format::from_extension(std::path::Path::new(name)) else {
            continue;
        };
        if let (true, Ok(bytes)) = (small, std::fs::read(&path)) {
            seeds.push((format, bytes));
        }
    }
    seeds
}

static SEEDS: LazyLock<Vec<(Format, Vec<u8>)>> = LazyLock::new(seeds);

fn mutated(format: Format) -> impl Strategy<Value = (Format, Vec<u8>)> {
    let of_format: Vec<usize> = SEEDS
        .iter()
        .enumerate()
        .filter(|(_, (f, _))| *f == format)
        .map(|(i, _)| i)
        .collect();
    assert!(!of_format.is_empty(), "no {format} seed");
    (
        prop::sample::select(of_format),
        prop::collection::vec(mutation(), 1..8),
    )
        .prop_map(move |(seed, edits)| {
            let mut bytes = SEEDS[seed].1.clone();
            for m in &edits {
                apply(&mut bytes, m, &SEEDS);
            }
            (format, bytes)
        })
}

#[test]
fn mutated_pdfs_never_break_the_parser() {
    run("mutated pdf", cases(500), mutated(Format::Pdf));
}

#[test]
fn mutated_docx_never_break_the_parser() {
    run("mutated docx", cases(300), mutated(Format::Docx));
}

/// The entries of one DOCX: `(name, inflated bytes)`.
type Parts = Vec<(String, Vec<u8>)>;

/// The entries of every DOCX seed that opens.
static DOCX_PARTS: LazyLock<Vec<Parts>> = LazyLock::new(|| {
    use std::io::Read;
    let mut out = Vec::new();
    for (format, bytes) in SEEDS.iter() {
        let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(bytes.as_slice())) else {
            continue;
        };
        let mut parts = Vec::new();
        for i in 0..archive.len() {
            let Ok(mut entry) = archive.by_index(i) else {
                continue;
            };
            let mut data = Vec::new();
            if *format == Format::Docx && entry.read_to_end(&mut data).is_ok() {
                parts.push((entry.name().to_owned(), data));
            }
        }
        if parts.iter().any(|(n, _)| n == "word/document.xml") {
            out.push(parts);
        }
    }
    out
});

/// A DOCX whose XML parts are mutated and then zipped again (mutating the archive itself
/// mostly breaks its checksums, so the XML readers would rarely be reached).
fn mutated_docx_xml() -> impl Strategy<Value = (Format, Vec<u8>)> {
    assert!(!DOCX_PARTS.is_empty(), "no DOCX seed opens");
    (
        0..DOCX_PARTS.len(),
        any::<usize>(),
        any::<bool>(),
        prop::collection::vec(mutation(), 1..8),
    )
        .prop_map(|(seed, part, document, edits)| {
            let parts = &DOCX_PARTS[seed];
            let target = if document {
                parts.iter().position(|(n, _)| n == "word/document.xml")
            } else {
                Some(part % parts.len())
            };
            let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            for (i, (name, data)) in parts.iter().enumerate() {
                let mut data = data.clone();
                if Some(i) == target {
                    for m in &edits {
                        apply(&mut data, m, &SEEDS);
                    }
                }
                if out.start_file(name.as_str(), options).is_ok() {
                    let _ = out.write_all(&data);
                }
            }
            let bytes = out.finish().map(Cursor::into_inner).unwrap_or_default();
            (Format::Docx, bytes)
        })
}

#[test]
fn docx_with_mutated_xml_never_break_the_parser() {
    run("docx with mutated xml", cases(600), mutated_docx_xml());
}

#[test]
fn mutated_html_never_break_the_parser() {
    run("mutated html", cases(600), mutated(Format::Html));
}

#[test]
fn mutated_text_formats_never_break_their_parsers() {
    let strategy = prop::sample::select(vec![
        Format::Text,
        Format::Markdown,
        Format::Csv,
        Format::Json,
    ])
    .prop_flat_map(mutated);
    run("mutated txt/md/csv/json", cases(1000), strategy);
}
