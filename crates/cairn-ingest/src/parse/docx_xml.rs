//! DOCX by streaming its XML with quick-xml: the document title from
//! `docProps/core.xml`, style names from `word/styles.xml`, and a plain extraction of
//! `word/document.xml` (`w:t` runs per `w:p`, tables by `w:tbl`/`w:tr`/`w:tc`) used when
//! docx-rs cannot read a file, or reads less of it. Every part is read through a reader
//! bounded at `zip_guard::MAX_ENTRY_BYTES`, so this module stays bounded even where it is
//! called without the guard having run.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use cairn_types::ErrorCode;

use super::docx::{Emitter, ParaStyle};
use super::zip_guard::MAX_ENTRY_BYTES;
use crate::{Error, Result};

pub(crate) type Archive<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// The text of one archive member, if present (lossy UTF-8), read through a reader
/// bounded at `zip_guard`'s per-entry cap.
pub(crate) fn read_part(archive: &mut Archive<'_>, path: &str) -> Result<Option<String>> {
    read_part_within(archive, path, MAX_ENTRY_BYTES)
}

/// [`read_part`] that refuses (`too_large`) a member inflating past `limit` bytes.
fn read_part_within(archive: &mut Archive<'_>, path: &str, limit: u64) -> Result<Option<String>> {
    let Ok(file) = archive.by_name(path) else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::corrupt(format!("cannot decompress {path}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(Error::new(
            ErrorCode::TooLarge,
            format!("{path} inflates to more than {limit} bytes"),
        ));
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Why docx-rs must not read this archive, if it must not: an XML part (`.xml`,
/// `.rels`) that is not well-formed (a syntax error, a duplicate attribute, mismatched or
/// unclosed elements, no single root), or a relationship whose target part has another
/// root element than its type calls for (a "styles" relationship pointing at the font
/// table).
///
/// docx-rs's element readers loop until they see their own end tag, and its XML reader
/// keeps returning "end of document" past the end: on such parts it spins forever
/// (found by tests/parse_fuzz.rs).
pub(crate) fn docx_rs_hazard(archive: &mut Archive<'_>) -> Option<String> {
    let names: Vec<String> = archive
        .file_names()
        .filter(|n| n.ends_with(".xml") || n.ends_with(".rels"))
        .map(str::to_owned)
        .collect();
    let mut roots = HashMap::new();
    for name in names {
        match read_part(archive, &name) {
            Ok(Some(xml)) => match root_if_well_formed(&xml) {
                Some(root) => {
                    roots.insert(name, root);
                }
                None => return Some(format!("{name} is not well-formed XML")),
            },
            Ok(None) => {}
            Err(e) => return Some(e.message),
        }
    }
    for (rels, base) in [
        ("_rels/.rels", ""),
        ("word/_rels/document.xml.rels", "word/"),
    ] {
        let Ok(Some(xml)) = read_part(archive, rels) else {
            continue;
        };
        for (kind, target) in relationships(&xml) {
            let Some(expected) = expected_root(&kind) else {
                continue;
            };
            let path = match target.strip_prefix('/') {
                Some(absolute) => absolute.to_owned(),
                None => format!("{base}{target}"),
            };
            if let Some(root) = roots.get(&path)
                && root != expected
            {
                return Some(format!(
                    "{path} is the target of a {kind} relationship but its root is <{root}>"
                ));
            }
        }
    }
    None
}

/// The root element each relationship type that docx-rs follows calls for.
fn expected_root(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "officeDocument" => "document",
        "styles" | "stylesWithEffects" => "styles",
        "numbering" => "numbering",
        "settings" => "settings",
        "comments" => "comments",
        "commentsExtended" => "commentsEx",
        "fontTable" => "fonts",
        "webSettings" => "webSettings",
        "theme" => "theme",
        "header" => "hdr",
        "footer" => "ftr",
        "footnotes" => "footnotes",
        "endnotes" => "endnotes",
        "core-properties" => "coreProperties",
        "extended-properties" | "custom-properties" => "Properties",
        _ => return None,
    })
}

/// `(type, target)` of every internal relationship; the type is the last segment of its
/// URI (`styles`, `header`...).
fn relationships(xml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e))
                if local(e.name().as_ref()) == b"Relationship" =>
            {
                if attr(&e, b"TargetMode").as_deref() == Some("External") {
                    continue;
                }
                if let (Some(kind), Some(target)) = (attr(&e, b"Type"), attr(&e, b"Target")) {
                    let kind = kind.rsplit('/').next().unwrap_or_default().to_owned();
                    out.push((kind, target));
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    out
}

/// The root element's local name if the XML is well-formed: every element closed by its
/// own name, exactly one root, no syntax error, no duplicate or broken attribute.
fn root_if_well_formed(xml: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    let mut depth = 0usize;
    let mut root: Option<String> = None;
    loop {
        let event = reader.read_event().ok()?;
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                if e.attributes().any(|a| a.is_err()) {
                    return None;
                }
                if depth == 0 {
                    if root.is_some() {
                        return None;
                    }
                    root = Some(String::from_utf8_lossy(local(e.name().as_ref())).into_owned());
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::End(_) => depth = depth.checked_sub(1)?,
            Event::Eof => return root.filter(|_| depth == 0),
            _ => {}
        }
    }
}

fn local(name: &[u8]) -> &[u8] {
    name.rsplit(|&b| b == b':').next().unwrap_or(name)
}

fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| local(a.key.as_ref()) == key)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

/// Appends the text of a `Text` or `GeneralRef` event.
fn push_event_text(event: &Event<'_>, out: &mut String) {
    match event {
        Event::Text(t) => {
            if let Ok(s) = t.decode() {
                out.push_str(&s);
            }
        }
        Event::CData(t) => out.push_str(&String::from_utf8_lossy(t)),
        Event::GeneralRef(r) => {
            if let Ok(Some(c)) = r.resolve_char_ref() {
                out.push(c);
            } else if let Ok(name) = r.decode()
                && let Some(s) = quick_xml::escape::resolve_predefined_entity(&name)
            {
                out.push_str(s);
            }
        }
        _ => {}
    }
}

/// `dc:title` from `docProps/core.xml`.
pub(crate) fn core_title(archive: &mut Archive<'_>) -> Option<String> {
    let xml = read_part(archive, "docProps/core.xml").ok()??;
    let mut reader = Reader::from_str(&xml);
    let mut in_title = false;
    let mut title = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if local(e.name().as_ref()) == b"title" => in_title = true,
            Ok(Event::End(e)) if local(e.name().as_ref()) == b"title" => break,
            Ok(Event::Eof) | Err(_) => break,
            Ok(event) if in_title => push_event_text(&event, &mut title),
            Ok(_) => {}
        }
    }
    let title = crate::normalize::normalize(&title);
    (!title.is_empty()).then_some(title)
}

/// Style id → style name, from `word/styles.xml`.
pub(crate) fn style_names(archive: &mut Archive<'_>) -> HashMap<String, String> {
    let mut names = HashMap::new();
    let Ok(Some(xml)) = read_part(archive, "word/styles.xml") else {
        return names;
    };
    let mut reader = Reader::from_str(&xml);
    let mut current: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => match local(e.name().as_ref()) {
                b"style" => current = attr(&e, b"styleId"),
                b"name" => {
                    if let (Some(id), Some(name)) = (current.take(), attr(&e, b"val")) {
                        names.insert(id, name);
                    }
                }
                _ => {}
            },
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    names
}

/// A paragraph being read.
#[derive(Default)]
struct Para {
    text: String,
    style: Option<String>,
    numbered: bool,
    outline: Option<usize>,
    links: usize,
}

/// Plain extraction of `word/document.xml` into `out`.
pub(crate) fn extract(archive: &mut Archive<'_>, name: &str, out: &mut Emitter) -> Result<()> {
    let xml = read_part(archive, "word/document.xml")
        .map_err(|e| Error::new(e.code, format!("{name}: {}", e.message)))?
        .ok_or_else(|| Error::corrupt(format!("{name}: no word/document.xml")))?;
    let styles = style_names(archive);
    let mut reader = Reader::from_str(&xml);
    let mut paras: Vec<Para> = Vec::new();
    let mut tables: Vec<Vec<Vec<String>>> = Vec::new();
    let (mut in_text, mut in_run, mut in_link, mut skip_depth) = (false, 0usize, 0usize, 0usize);
    loop {
        let event = reader.read_event().map_err(|e| {
            Error::corrupt(format!(
                "{name}: malformed word/document.xml at byte {}: {e}",
                reader.buffer_position()
            ))
        })?;
        if skip_depth > 0 {
            match &event {
                Event::Start(_) => skip_depth += 1,
                Event::End(_) => skip_depth -= 1,
                Event::Eof => break,
                _ => {}
            }
            continue;
        }
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let empty = matches!(event, Event::Empty(_));
                match local(e.name().as_ref()) {
                    // Deleted text, field codes and duplicate fallback renderings.
                    b"delText" | b"instrText" | b"Fallback" | b"del" | b"moveFrom" if !empty => {
                        skip_depth = 1
                    }
                    b"p" if !empty => paras.push(Para::default()),
                    b"pStyle" => {
                        if let Some(p) = paras.last_mut() {
                            p.style = attr(e, b"val");
                        }
                    }
                    b"numPr" => {
                        if let Some(p) = paras.last_mut() {
                            p.numbered = true;
                        }
                    }
                    b"numId" if attr(e, b"val").as_deref() == Some("0") => {
                        if let Some(p) = paras.last_mut() {
                            p.numbered = false;
                        }
                    }
                    b"outlineLvl" => {
                        if let Some(p) = paras.last_mut() {
                            p.outline = attr(e, b"val").and_then(|v| v.parse().ok());
                        }
                    }
                    b"r" if !empty => in_run += 1,
                    b"hyperlink" if !empty => in_link += 1,
                    b"t" if !empty => in_text = true,
                    b"tab" | b"ptab" if in_run > 0 => push_para(&mut paras, " "),
                    b"br" | b"cr" if in_run > 0 => push_para(&mut paras, "\n"),
                    b"tbl" if !empty => tables.push(Vec::new()),
                    b"tr" if !empty => {
                        if let Some(t) = tables.last_mut() {
                            t.push(Vec::new());
                        }
                    }
                    b"tc" if !empty => {
                        if let Some(row) = tables.last_mut().and_then(|t| t.last_mut()) {
                            row.push(String::new());
                        }
                    }
                    _ => {}
                }
            }
            Event::End(e) => match local(e.name().as_ref()) {
                b"t" => in_text = false,
                b"r" => in_run = in_run.saturating_sub(1),
                b"hyperlink" => in_link = in_link.saturating_sub(1),
                b"p" => {
                    let Some(p) = paras.pop() else { continue };
                    let cell = tables
                        .last_mut()
                        .and_then(|t| t.last_mut())
                        .and_then(|r| r.last_mut());
                    match cell {
                        Some(cell) => {
                            cell.push(' ');
                            cell.push_str(&p.text);
                            out.link_chars += p.links;
                        }
                        None => {
                            let style = ParaStyle::from_names(
                                p.style.as_deref(),
                                p.style
                                    .as_ref()
                                    .and_then(|s| styles.get(s))
                                    .map(String::as_str),
                                p.outline,
                                p.numbered,
                            );
                            if style != ParaStyle::Toc {
                                out.link_chars += p.links;
                            }
                            out.paragraph(&p.text, style);
                        }
                    }
                }
                b"tbl" => {
                    let Some(rows) = tables.pop() else { continue };
                    match tables
                        .last_mut()
                        .and_then(|t| t.last_mut())
                        .and_then(|r| r.last_mut())
                    {
                        // A nested table: its text joins the enclosing cell.
                        Some(cell) => {
                            for row in rows {
                                cell.push(' ');
                                cell.push_str(&row.join(" "));
                            }
                        }
                        None => out.table(&rows),
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            event if in_text => {
                let mut s = String::new();
                push_event_text(event, &mut s);
                if let Some(p) = paras.last_mut() {
                    p.text.push_str(&s);
                    if in_link > 0 {
                        p.links += s.chars().count();
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn push_para(paras: &mut [Para], s: &str) {
    if let Some(p) = paras.last_mut() {
        p.text.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn well_formed(xml: &str) -> bool {
        root_if_well_formed(xml).is_some()
    }

    #[test]
    fn well_formedness() {
        assert!(well_formed("<?xml version=\"1.0\"?><a><b/><c>t</c></a>"));
        assert!(!well_formed("<a x='1' x='2'/>"));
        for bad in [
            "<a><b></a>",
            "<a>",
            "<a></a><b/>",
            "",
            "text",
            "<a></a></a>",
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn part_reads_are_bounded() {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        out.start_file(
            "word/document.xml",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        out.write_all(&[b' '; 10_000]).unwrap();
        let bytes = out.finish().unwrap().into_inner();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes.as_slice())).unwrap();
        let err = read_part_within(&mut archive, "word/document.xml", 9_999).unwrap_err();
        assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
        let whole = read_part_within(&mut archive, "word/document.xml", 10_000).unwrap();
        assert_eq!(whole.map(|s| s.len()), Some(10_000));
    }
}
