//! Decompression bombs and malformed XML in DOCX uploads: archives built here with the `zip` crate must be
//! refused with a stable code (`too_large` for sizes, entry counts and ratios over the
//! caps, `corrupt_file` for forged headers) before any parser inflates them, while real
//! DOCX files (the fixtures of `scripts/fetch-fixtures.sh`) still parse.

mod fixture_support;

use std::io::{Cursor, Write};
use std::time::Duration;

use cairn_ingest::{Format, parse::parse_with_timeout};
use cairn_types::ErrorCode;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

const LIMIT: Duration = Duration::from_secs(60);

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
</Types>"#;

const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
</Relationships>"#;

fn document_xml(text: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"#
    )
}

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

/// A DOCX holding `document` as `word/document.xml`, then `extra` entries written by
/// the callback.
fn docx_with(document: &str, extra: impl FnOnce(&mut zip::ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let build = || -> zip::result::ZipResult<Vec<u8>> {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        out.start_file("[Content_Types].xml", deflated())?;
        out.write_all(CONTENT_TYPES.as_bytes())?;
        out.start_file("_rels/.rels", deflated())?;
        out.write_all(RELS.as_bytes())?;
        out.start_file("word/document.xml", deflated())?;
        out.write_all(document.as_bytes())?;
        extra(&mut out);
        Ok(out.finish()?.into_inner())
    };
    build().unwrap_or_else(|e| panic!("building the test DOCX: {e}"))
}

fn parse_docx(bytes: &[u8]) -> cairn_ingest::Result<cairn_types::ParsedDoc> {
    assert_eq!(Format::sniff("upload.docx", bytes).ok(), Some(Format::Docx));
    parse_with_timeout(Format::Docx, bytes, "upload.docx", LIMIT)
}

#[test]
fn a_small_docx_built_here_passes_the_guard() {
    let bytes = docx_with(&document_xml("Hello from a tiny document."), |_| {});
    let doc = parse_docx(&bytes).unwrap();
    assert!(doc.full_text().contains("tiny document"), "{doc:?}");
}

#[test]
fn one_gib_of_zeros_is_too_large() {
    let bytes = docx_with(&document_xml("cover text"), |out| {
        out.start_file("word/media/zeros.bin", deflated()).unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            out.write_all(&chunk).unwrap();
        }
    });
    assert!(bytes.len() < 8 << 20, "the bomb is {} bytes", bytes.len());
    let err = parse_docx(&bytes).unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    assert!(err.message.contains("zeros.bin"), "{err}");
}

#[test]
fn many_small_bombs_add_up_to_too_large() {
    // Each entry alone is under the ratio floor; together they are far over the ratio.
    let bytes = docx_with(&document_xml("cover text"), |out| {
        let chunk = vec![b'x'; 1 << 20];
        for i in 0..600 {
            out.start_file(format!("word/media/part{i}.bin"), deflated())
                .unwrap();
            out.write_all(&chunk).unwrap();
        }
    });
    let err = parse_docx(&bytes).unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
}

#[test]
fn too_many_entries_are_too_large() {
    let bytes = docx_with(&document_xml("cover text"), |out| {
        for i in 0..5000 {
            out.start_file(format!("word/empty{i}.xml"), deflated())
                .unwrap();
        }
    });
    let err = parse_docx(&bytes).unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    assert!(err.message.contains("entries"), "{err}");
}

/// Overwrites the uncompressed size of every entry called `name`, in its local header and
/// its central-directory record.
fn forge_uncompressed_size(bytes: &mut [u8], name: &str, size: u32) {
    let mut patched = 0;
    for (signature, size_at, name_at) in [(b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)] {
        let mut i = 0;
        while i + name_at + name.len() <= bytes.len() {
            if &bytes[i..i + 4] == signature
                && &bytes[i + name_at..i + name_at + name.len()] == name.as_bytes()
            {
                bytes[i + size_at..i + size_at + 4].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
            i += 1;
        }
    }
    assert_eq!(patched, 2, "{name}: headers not found");
}

#[test]
fn a_header_that_understates_the_size_is_corrupt() {
    let text: String = (0..40_000).map(|i| format!("{i} ")).collect();
    let mut bytes = docx_with(&document_xml(&text), |_| {});
    forge_uncompressed_size(&mut bytes, "word/document.xml", 1000);
    let err = parse_docx(&bytes).unwrap_err();
    assert_eq!(err.code, ErrorCode::CorruptFile, "{err}");
    assert!(err.message.contains("declares"), "{err}");
}

#[test]
fn a_header_that_overstates_the_size_is_too_large() {
    let mut bytes = docx_with(&document_xml("cover text"), |_| {});
    forge_uncompressed_size(&mut bytes, "word/document.xml", u32::MAX - 1);
    let err = parse_docx(&bytes).unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
}

#[test]
fn real_docx_fixtures_pass_the_guard() {
    let files = fixture_support::fixture_files(&["docx"]);
    assert!(!files.is_empty(), "no DOCX fixtures found");
    let mut refused = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x.docx");
        if let Err(e) = parse_with_timeout(Format::Docx, &bytes, name, LIMIT)
            && e.code == ErrorCode::TooLarge
        {
            refused.push(format!("{}: {e}", path.display()));
        }
    }
    assert!(
        refused.is_empty(),
        "real DOCX refused as too large: {refused:#?}"
    );
}

/// docx-rs loops forever on some unclosed XML (found by parse_fuzz.rs); such parts are
/// now read by the plain extraction alone. Every truncation of a small document must end
/// well inside the time limit, with text or a stable error.
#[test]
fn truncated_xml_parts_never_hang() {
    let full = r#"<?xml version="1.0" encoding="UTF-8"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Title here</w:t></w:r></w:p><w:p><w:r><w:t xml:space="preserve">Body </w:t></w:r><w:hyperlink r:id="rId9"><w:r><w:t>link</w:t></w:r></w:hyperlink></w:p><w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl><w:sdt><w:sdtContent><w:p><w:r><w:t>sdt</w:t></w:r></w:p></w:sdtContent></w:sdt></w:body></w:document>"#;
    let mut hung = Vec::new();
    for cut in (60..full.len()).step_by(7) {
        let bytes = docx_with(&full[..cut], |_| {});
        let outcome = parse_with_timeout(Format::Docx, &bytes, "cut.docx", Duration::from_secs(20));
        if let Err(e) = outcome {
            assert!(
                matches!(e.code, ErrorCode::CorruptFile | ErrorCode::EmptyDocument),
                "cut at {cut}: {e}"
            );
            if e.message.contains("timed out") {
                hung.push(cut);
            }
        }
    }
    assert!(hung.is_empty(), "parses that timed out, by cut: {hung:?}");
}

/// A relationship that points a "styles" part at the font table made docx-rs spin
/// forever (found by parse_fuzz.rs, from a python-docx fixture whose `Target` attribute
/// was duplicated). Such archives are read by the plain extraction alone.
#[test]
fn a_relationship_to_a_part_of_another_kind_does_not_hang() {
    const DOC_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="fontTable.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/fontTable" Target="fontTable.xml"/>
</Relationships>"#;
    const DUPLICATE_TARGET: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles/x" Target="fontTable.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/fontTable" Target="fontTable.xml"/>
</Relationships>"#;
    const FONTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<w:fonts xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:font w:name="Calibri"><w:family w:val="swiss"/></w:font></w:fonts>"#;
    for rels in [DOC_RELS, DUPLICATE_TARGET] {
        let bytes = docx_with(&document_xml("Text that must survive."), |out| {
            out.start_file("word/_rels/document.xml.rels", deflated())
                .unwrap();
            out.write_all(rels.as_bytes()).unwrap();
            out.start_file("word/fontTable.xml", deflated()).unwrap();
            out.write_all(FONTS.as_bytes()).unwrap();
        });
        let doc = parse_with_timeout(Format::Docx, &bytes, "rels.docx", Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(doc.full_text().contains("must survive"), "{doc:?}");
        assert!(
            doc.warnings
                .iter()
                .any(|w| w.contains("plain text extraction")),
            "{:?}",
            doc.warnings
        );
    }
}
