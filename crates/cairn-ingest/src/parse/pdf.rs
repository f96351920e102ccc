//! PDF: the text layer, page by page, via pdf-extract (and the lopdf it re-exports).
//!
//! Each page is extracted on its own, with its panics caught, so one broken page costs a
//! warning rather than the document. Lines inside a paragraph are joined; a word split
//! across a line end (`exam-` / `ple`, lowercase on both sides) is re-joined. Title: the
//! Info dictionary's `Title`. A file that needs a password is refused as encrypted
//! (lopdf opens files encrypted with an empty user password by itself). No text on any
//! page means a scanned PDF: `EmptyDocument`, since OCR is not supported.
//!
//! Bounds: `pdf_guard` measures every FlateDecode stream before lopdf loads the file
//! (lopdf and pdf-extract inflate without limits; what is and is not bounded is listed
//! there), and the extracted text is capped at `pdf_guard::MAX_TEXT_BYTES` (`too_large`).
//!
//! pdf-extract does not print; it reports oddities through the `log` crate, which stays
//! silent unless the application installs a `log` bridge (filter target `pdf_extract` and
//! `lopdf` there if that is noisy).

use cairn_types::{Block, BlockKind, ErrorCode, ParsedDoc};
use pdf_extract::{Document, Object, PlainTextOutput, decode_text_string, output_doc_page};

use super::catch_quietly;
use super::pdf_guard::{CappedText, MAX_TEXT_BYTES};
use crate::normalize::normalize;
use crate::{Error, Result};

pub(crate) fn parse(bytes: &[u8], name: &str) -> Result<ParsedDoc> {
    if crate::format::find(&bytes[..bytes.len().min(1024)], b"%PDF-").is_none() {
        return Err(Error::corrupt(format!(
            "{name}: not a PDF file (no %PDF- header)"
        )));
    }
    // lopdf inflates without limits: a decompression bomb is refused before it loads.
    super::pdf_guard::check(bytes, name)?;
    let doc = Document::load_mem(bytes)
        .map_err(|e| Error::corrupt(format!("{name}: unreadable PDF: {e}")))?;
    if doc.is_encrypted() && doc.encryption_state.is_none() {
        return Err(Error::unsupported(format!(
            "{name}: the PDF is encrypted with a password; remove the password to ingest it"
        )));
    }
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let mut out = ParsedDoc {
        title: info_title(&doc),
        pages: Some(u32::try_from(pages.len()).unwrap_or(u32::MAX)),
        ..ParsedDoc::default()
    };
    let mut empty_pages = Vec::new();
    let mut failures = Vec::new();
    let mut text_bytes = 0;
    for &page in &pages {
        let mut sink = CappedText {
            text: Vec::new(),
            before: text_bytes,
            overflowed: false,
        };
        let extracted = catch_quietly(|| {
            let writer: &mut dyn std::io::Write = &mut sink;
            output_doc_page(&doc, &mut PlainTextOutput::new(writer), page)
        });
        if sink.overflowed {
            return Err(Error::new(
                ErrorCode::TooLarge,
                format!(
                    "{name}: more than {MAX_TEXT_BYTES} bytes of text by page {page} \
                     (split the document)"
                ),
            ));
        }
        text_bytes += sink.text.len();
        let extracted =
            extracted.map(|r| r.map(|()| String::from_utf8_lossy(&sink.text).into_owned()));
        let text = match extracted {
            Ok(Ok(text)) => text,
            Ok(Err(e)) => {
                failures.push(format!("page {page}: {e}"));
                continue;
            }
            Err(panic) => {
                failures.push(format!("page {page}: extraction crashed ({panic})"));
                continue;
            }
        };
        let before = out.blocks.len();
        for paragraph in paragraphs(&text) {
            let mut block = Block::new(BlockKind::Paragraph, paragraph, Vec::new());
            block.page = Some(page);
            out.blocks.push(block);
        }
        if out.blocks.len() == before {
            empty_pages.push(page.to_string());
        }
    }
    if out.blocks.is_empty() {
        if let Some(first) = failures.first() {
            return Err(Error::corrupt(format!(
                "{name}: text extraction failed on every page ({} failures; first: {first})",
                failures.len()
            )));
        }
        return Err(Error::new(
            ErrorCode::EmptyDocument,
            format!("{name}: no text layer: scanned PDF? OCR is not supported"),
        ));
    }
    out.warnings
        .extend(failures.into_iter().map(|f| format!("{name}: {f}")));
    if !empty_pages.is_empty() {
        out.warnings.push(format!(
            "{name}: no text layer on page(s) {} (scanned? OCR is not supported)",
            empty_pages.join(", ")
        ));
    }
    Ok(out)
}

/// The Info dictionary's Title, if it has text.
fn info_title(doc: &Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let info = match info {
        Object::Reference(id) => doc.get_object(*id).ok()?,
        other => other,
    };
    let title = info.as_dict().ok()?.get(b"Title").ok()?;
    let title = match title {
        Object::Reference(id) => doc.get_object(*id).ok()?,
        other => other,
    };
    let title = normalize(&decode_text_string(title).ok()?);
    (!title.is_empty()).then_some(title)
}

/// Splits a page's text into normalized paragraphs (blank lines separate them).
pub(crate) fn paragraphs(page: &str) -> Vec<String> {
    let page = normalize(page);
    page.split("\n\n")
        .map(join_lines)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Joins the lines of one paragraph, undoing end-of-line hyphenation.
fn join_lines(paragraph: &str) -> String {
    let mut out = String::with_capacity(paragraph.len());
    for line in paragraph.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if out.is_empty() {
            out.push_str(line);
            continue;
        }
        let before_hyphen = out.strip_suffix('-').and_then(|s| s.chars().next_back());
        match before_hyphen {
            // "exam-" + "ple": a word hyphenated at the line end.
            Some(c) if c.is_lowercase() && line.chars().next().is_some_and(char::is_lowercase) => {
                out.pop();
            }
            // "Well-" + "Known": a compound split at its own hyphen.
            Some(c) if c.is_alphanumeric() => {}
            _ => out.push(' '),
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_dehyphenates() {
        let page = "An exam-\nple of text\nwrapped.\n\n\nSecond Well-\nKnown para-\n graph";
        assert_eq!(
            paragraphs(page),
            ["An example of text wrapped.", "Second Well-Known paragraph"]
        );
    }
}
