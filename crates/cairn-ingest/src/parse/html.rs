//! HTML: decoding, title, and the walk over what boilerplate removal leaves.
//!
//! Which elements are boilerplate is decided in `html_clean`; the tree walk that turns
//! the rest into blocks is in `html_walk`. Nesting is capped by `html_depth` before the
//! page is parsed.

use std::borrow::Cow;

use cairn_types::ParsedDoc;
use scraper::{Html, Selector};

use super::html_clean::Cleaner;
use super::html_depth::{MAX_HTML_DEPTH, cap_depth};
use super::html_walk::Walker;
use crate::Result;
use crate::normalize::normalize;

pub(crate) fn parse(bytes: &[u8], name: &str) -> Result<ParsedDoc> {
    let mut doc = ParsedDoc::default();
    let source = decode_html(bytes, name, &mut doc.warnings);
    let source = match cap_depth(&source) {
        Cow::Borrowed(_) => Cow::Borrowed(source.as_str()),
        Cow::Owned(capped) => {
            doc.warnings.push(format!(
                "{name}: elements nested deeper than {MAX_HTML_DEPTH} levels were flattened"
            ));
            Cow::Owned(capped)
        }
    };
    let html = Html::parse_document(&source);
    let root = html.root_element();
    let title = Selector::parse("title")
        .ok()
        .and_then(|s| html.select(&s).next())
        .map(|t| normalize(&t.text().collect::<String>()))
        .filter(|t| !t.is_empty());
    let body = Selector::parse("body")
        .ok()
        .and_then(|s| html.select(&s).next())
        .unwrap_or(root);
    let cleaner = Cleaner::new(body);
    let mut walker = Walker::new(&cleaner);
    walker.walk(body);
    walker.flush();
    doc.title = title.or(walker.first_h1.take());
    doc.link_chars = walker.link_chars;
    doc.blocks = walker.blocks;
    Ok(doc)
}

/// Decodes HTML bytes: BOM, else UTF-8, else the `charset` the page declares, else
/// windows-1252 (the web's default for undeclared legacy pages).
fn decode_html(bytes: &[u8], name: &str, warnings: &mut Vec<String>) -> String {
    if encoding_rs::Encoding::for_bom(bytes).is_some() {
        return super::decode_text(bytes, name, warnings);
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_owned();
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_ascii_lowercase();
    let declared = head.find("charset").and_then(|i| {
        let rest = head[i + 7..].trim_start().strip_prefix('=')?.trim_start();
        let rest = rest.trim_start_matches(['"', '\'']);
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))?;
        encoding_rs::Encoding::for_label(&rest.as_bytes()[..end])
    });
    let encoding = declared.unwrap_or(encoding_rs::WINDOWS_1252);
    let (text, _, had_errors) = encoding.decode(bytes);
    if had_errors || declared.is_none() {
        warnings.push(format!(
            "{name}: not valid UTF-8; decoded as {}",
            encoding.name()
        ));
    }
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_charset() {
        let mut w = Vec::new();
        let page = b"<meta charset=\"iso-8859-1\"><p>caf\xe9</p>";
        assert!(decode_html(page, "p.html", &mut w).contains("caf\u{e9}"));
    }
}
