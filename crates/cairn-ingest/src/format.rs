//! Format detection: magic bytes first, file extension second.
//!
//! A PDF named `report.txt` is still read as a PDF; a ZIP archive is a DOCX only when it
//! holds `word/document.xml`; binary data under a text extension is refused rather than
//! turned into garbage text.

use std::io::Cursor;
use std::path::Path;

use crate::{Error, Result};

/// A document format Cairn can parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Text,
    Markdown,
    Html,
    Pdf,
    Docx,
    Csv,
    Json,
}

/// How many leading bytes the content checks look at.
const SNIFF_LEN: usize = 8192;

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 7] = [
        Format::Text,
        Format::Markdown,
        Format::Html,
        Format::Pdf,
        Format::Docx,
        Format::Csv,
        Format::Json,
    ];

    /// The format whose [`Format::as_str`] name is `name`, if any.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The format a file extension names (case-insensitive), if any.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" | "log" | "rst" => Format::Text,
            "md" | "markdown" => Format::Markdown,
            "html" | "htm" | "xhtml" => Format::Html,
            "pdf" => Format::Pdf,
            "docx" => Format::Docx,
            "csv" | "tsv" => Format::Csv,
            "json" | "jsonl" | "ndjson" => Format::Json,
            _ => return None,
        })
    }

    /// Detects the format of `bytes`, the content of the file called `name`.
    ///
    /// Magic bytes win (`%PDF-`, a ZIP holding `word/document.xml`, an HTML doctype or
    /// `<html>` tag); otherwise the extension decides. Binary content under a text
    /// extension, a known binary type, or an unknown extension is `UnsupportedFormat`.
    pub fn sniff(name: &str, bytes: &[u8]) -> Result<Format> {
        let head = &bytes[..bytes.len().min(SNIFF_LEN)];
        if find(&head[..head.len().min(1024)], b"%PDF-").is_some() {
            return Ok(Format::Pdf);
        }
        let by_ext = Format::from_extension(Path::new(name));
        if head.starts_with(b"PK\x03\x04") {
            return match zip_has_document_xml(bytes) {
                Some(true) => Ok(Format::Docx),
                // A damaged archive named .docx: let the parser report it as corrupt.
                None if by_ext == Some(Format::Docx) => Ok(Format::Docx),
                Some(false) => Err(Error::unsupported(format!(
                    "{name}: a ZIP archive without word/document.xml (not a DOCX document)"
                ))),
                None => Err(Error::unsupported(format!(
                    "{name}: an unreadable ZIP archive"
                ))),
            };
        }
        if looks_like_html(head) {
            return Ok(Format::Html);
        }
        if let Some(kind) = binary_kind(head) {
            return Err(Error::unsupported(format!(
                "{name}: {kind}, not a supported document"
            )));
        }
        match by_ext {
            // Binary formats without their magic: the parser reports what is wrong.
            Some(f @ (Format::Pdf | Format::Docx)) => Ok(f),
            Some(f) if looks_binary(head) => Err(Error::unsupported(format!(
                "{name}: named as {} but the content is binary data",
                f.as_str()
            ))),
            Some(f) => Ok(f),
            None => {
                let ext = Path::new(name).extension().and_then(|e| e.to_str());
                match ext {
                    None if !head.is_empty() && !looks_binary(head) => Ok(Format::Text),
                    None => Err(Error::unsupported(format!(
                        "{name}: no file extension and the content is not text"
                    ))),
                    Some(ext) => Err(Error::unsupported(format!(
                        "{name}: unsupported file type .{ext} (supported: txt, md, html, pdf, \
                         docx, csv, tsv, json, jsonl)"
                    ))),
                }
            }
        }
    }

    /// The stable lowercase name of the format.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Position of `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `Some(true)` if the archive opens and has `word/document.xml`, `None` if it does not open.
fn zip_has_document_xml(bytes: &[u8]) -> Option<bool> {
    let archive = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    Some(archive.file_names().any(|n| n == "word/document.xml"))
}

/// An HTML doctype or `<html` tag at the start (after a BOM, whitespace, an XML
/// declaration or comments).
fn looks_like_html(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(2048)]).to_ascii_lowercase();
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        if rest.starts_with("<!doctype html") || rest.starts_with("<html") {
            return true;
        }
        let skip_to = if rest.starts_with("<?xml") {
            rest.find("?>").map(|i| i + 2)
        } else if rest.starts_with("<!--") {
            rest.find("-->").map(|i| i + 3)
        } else {
            None
        };
        match skip_to {
            Some(i) => rest = rest[i..].trim_start(),
            None => return false,
        }
    }
}

/// Names well-known binary formats by their magic bytes.
fn binary_kind(head: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
            "a legacy Office (OLE2) file such as .doc or .xls",
        ),
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF87a", "a GIF image"),
        (b"GIF89a", "a GIF image"),
        (b"\x1F\x8B", "gzip-compressed data"),
        (b"\x7FELF", "an ELF executable"),
        (b"{\\rtf", "an RTF document"),
        (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
        (b"Rar!", "a RAR archive"),
        (b"SQLite format 3\0", "an SQLite database"),
    ];
    MAGIC
        .iter()
        .find(|(m, _)| head.starts_with(m))
        .map(|(_, k)| *k)
}

/// Binary rather than text: NUL bytes (without a UTF-16 BOM) or many control characters.
pub(crate) fn looks_binary(head: &[u8]) -> bool {
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return false;
    }
    if head.contains(&0) {
        return true;
    }
    let controls = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0C | 0x1B))
        .count();
    controls * 20 > head.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert_eq!(
            Format::from_extension(Path::new("a/B.MD")),
            Some(Format::Markdown)
        );
        assert_eq!(
            Format::from_extension(Path::new("x.ndjson")),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_extension(Path::new("x.tsv")),
            Some(Format::Csv)
        );
        assert_eq!(Format::from_extension(Path::new("x.exe")), None);
        assert_eq!(Format::from_extension(Path::new("README")), None);
    }

    #[test]
    fn magic_beats_extension() {
        assert_eq!(
            Format::sniff("r.txt", b"%PDF-1.7\n...").ok(),
            Some(Format::Pdf)
        );
        let xhtml = b"<?xml version=\"1.0\"?>\n<!DOCTYPE html PUBLIC \"x\"><html></html>";
        assert_eq!(Format::sniff("page", xhtml).ok(), Some(Format::Html));
        assert_eq!(
            Format::sniff("n.md", b"<!-- c -->\n<HTML>").ok(),
            Some(Format::Html)
        );
        assert_eq!(
            Format::sniff("n.md", b"# Title").ok(),
            Some(Format::Markdown)
        );
        assert_eq!(
            Format::sniff("LICENSE", b"MIT License").ok(),
            Some(Format::Text)
        );
    }

    #[test]
    fn refusals_name_the_file() {
        let err = Format::sniff("photo.txt", b"\x89PNG\r\n\x1a\n\0\0").err();
        let err = err.map(|e| (e.code, e.message));
        assert!(
            matches!(&err, Some((cairn_types::ErrorCode::UnsupportedFormat, m)) if m.contains("photo.txt") && m.contains("PNG"))
        );
        let err = Format::sniff("x.bin", b"hello")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(err.contains("x.bin") && err.contains(".bin"), "{err}");
        let err = Format::sniff("d.csv", b"a,b\0\0\x01\x02")
            .err()
            .map(|e| e.message);
        assert!(err.is_some_and(|m| m.contains("binary")));
    }
}
