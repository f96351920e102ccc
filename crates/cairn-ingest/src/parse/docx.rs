//! DOCX via docx-rs, with a quick-xml extraction as the safety net.
//!
//! Paragraph styles `Title` and `Heading 1`–`Heading 6` (or an outline level) become
//! headings (`Title` sits above `Heading 1` in the heading path); numbered, bulleted and
//! `List…`-styled paragraphs become `ListItem`; tables become one `Table` block;
//! table-of-contents paragraphs (`TOC…` styles) are dropped; deleted revisions and field
//! codes are not text. Title: `dc:title` from `docProps/core.xml`, else the first
//! `Title`-styled paragraph.
//!
//! docx-rs fails or panics on some real files and silently skips some content (text in
//! content controls, text boxes). The plain extraction in `docx_xml` therefore also runs,
//! and is used instead (with a warning) when docx-rs fails or yields less than half of
//! its text. docx-rs is not run at all when an XML part is not well-formed or a
//! relationship points at a part of another kind (its readers loop forever on those:
//! `docx_xml::docx_rs_hazard`); the plain extraction then stands alone.
//!
//! docx-rs also runs on its own thread with a time budget: on a file it loops on that the
//! hazard check does not know, the plain extraction stands alone.
//!
//! The archive passes `zip_guard` (entry count, inflated sizes, compression ratio) before
//! either reader touches it, and `docx_xml` reads every part through a bounded reader.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use cairn_types::{Block, BlockKind, ParsedDoc};
use docx_rs::{
    DocumentChild, Docx, InsertChild, MoveToChild, Paragraph, ParagraphChild, ReadDocxOptions, Run,
    RunChild, StructuredDataTagChild, Style, Table, TableCellContent, TableChild, TableRowChild,
};

use super::{HeadingStack, catch_quietly, docx_xml, render_table};
use crate::normalize::normalize;
use crate::{Error, Result};

pub(crate) fn parse(bytes: &[u8], name: &str) -> Result<ParsedDoc> {
    // Before anything inflates a part: a decompression bomb is refused here.
    super::zip_guard::check(bytes, name, "DOCX")?;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        Error::corrupt(format!(
            "{name}: not a valid DOCX (damaged or truncated ZIP archive: {e})"
        ))
    })?;
    if archive.index_for_name("word/document.xml").is_none() {
        return Err(Error::corrupt(format!(
            "{name}: ZIP archive without word/document.xml (not a DOCX document)"
        )));
    }
    let core_title = docx_xml::core_title(&mut archive);
    let mut plain = Emitter::default();
    let plain_result = docx_xml::extract(&mut archive, name, &mut plain);
    let rich = match docx_xml::docx_rs_hazard(&mut archive) {
        // docx-rs can loop forever on such files: it is not run on them.
        Some(why) => Err(why),
        None => read_with_docx_rs(bytes).map(|docx| {
            let mut emitter = Emitter::default();
            emitter.document(&docx);
            emitter
        }),
    };
    let mut warnings = Vec::new();
    let chosen = match (rich, plain_result) {
        (Ok(rich), Err(_)) => rich,
        (Ok(rich), Ok(())) if rich.text_chars() * 2 >= plain.text_chars() => rich,
        (Ok(_), Ok(())) => {
            warnings.push(format!(
                "{name}: docx-rs missed part of the text; plain text extraction used"
            ));
            plain
        }
        (Err(why), Ok(())) => {
            warnings.push(format!("{name}: {why}; plain text extraction used"));
            plain
        }
        (Err(why), Err(e)) => {
            return Err(Error::corrupt(format!("{name}: {why}; {}", e.message)));
        }
    };
    Ok(ParsedDoc {
        title: core_title.or(chosen.title_paragraph),
        blocks: chosen.blocks,
        link_chars: chosen.link_chars,
        pages: None,
        warnings,
    })
}

/// How long docx-rs may read one file before the plain extraction stands alone.
const DOCX_RS_BUDGET: Duration = Duration::from_secs(10);

/// docx-rs on its own thread, given [`DOCX_RS_BUDGET`]: the hazard check catches the
/// malformed parts docx-rs is known to loop forever on, and this catches the ones nobody
/// has found yet (a fuzz run did). A thread that overruns is left behind; in the parse
/// worker process (the default) it ends with the process, after this one document.
fn read_with_docx_rs(bytes: &[u8]) -> std::result::Result<Docx, String> {
    let (tx, rx) = mpsc::sync_channel(1);
    let owned = bytes.to_vec();
    let spawned = thread::Builder::new()
        .name("cairn-docx-rs".into())
        .stack_size(super::WORKER_STACK)
        .spawn(move || {
            let options = ReadDocxOptions::default().with_image_previews(false);
            let _ = tx.send(catch_quietly(|| {
                docx_rs::read_docx_with_options(&owned, options)
            }));
        });
    if let Err(e) = spawned {
        return Err(format!("docx-rs could not start ({e})"));
    }
    match rx.recv_timeout(DOCX_RS_BUDGET) {
        Ok(Ok(Ok(docx))) => Ok(docx),
        Ok(Ok(Err(e))) => Err(format!("docx-rs could not read it: {e}")),
        Ok(Err(panic)) => Err(format!("docx-rs crashed on it: {panic}")),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
            "docx-rs did not finish within {} s",
            DOCX_RS_BUDGET.as_secs()
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("docx-rs stopped without a result".into()),
    }
}

/// What a paragraph's style makes of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParaStyle {
    Title,
    Heading(u8),
    ListItem,
    Body,
    /// Table-of-contents entries: dropped.
    Toc,
}

impl ParaStyle {
    /// From the style id, the style's name, the outline level and numbering.
    pub(crate) fn from_names(
        id: Option<&str>,
        name: Option<&str>,
        outline: Option<usize>,
        numbered: bool,
    ) -> Self {
        let id = id.unwrap_or_default().to_ascii_lowercase();
        let name = name.unwrap_or_default().to_ascii_lowercase();
        if id.starts_with("toc") || name.starts_with("toc ") || name == "toc heading" {
            return Self::Toc;
        }
        if id == "title" || name == "title" {
            return Self::Title;
        }
        let level = [name.strip_prefix("heading"), id.strip_prefix("heading")]
            .into_iter()
            .flatten()
            .find_map(|rest| rest.trim().parse::<usize>().ok())
            .or(outline.filter(|&o| o < 9).map(|o| o + 1));
        if let Some(level) = level {
            return Self::Heading(level.clamp(1, 6) as u8);
        }
        if numbered || id.starts_with("list") || name.starts_with("list") {
            return Self::ListItem;
        }
        Self::Body
    }
}

/// Collects blocks in reading order (shared by the docx-rs and the plain extraction).
#[derive(Default)]
pub(crate) struct Emitter {
    pub blocks: Vec<Block>,
    pub link_chars: usize,
    pub title_paragraph: Option<String>,
    headings: HeadingStack,
    styles: HashMap<String, (String, Option<usize>)>,
}

impl Emitter {
    fn text_chars(&self) -> usize {
        self.blocks.iter().map(|b| b.text.chars().count()).sum()
    }

    pub(crate) fn paragraph(&mut self, raw: &str, style: ParaStyle) {
        let text = normalize(raw);
        if text.is_empty() {
            return;
        }
        let (kind, text) = match style {
            ParaStyle::Toc => return,
            ParaStyle::Title | ParaStyle::Heading(_) => {
                let text = text.replace('\n', " ");
                let (level, depth) = match style {
                    ParaStyle::Heading(l) => (l, l),
                    _ => (1, 0),
                };
                if style == ParaStyle::Title && self.title_paragraph.is_none() {
                    self.title_paragraph = Some(text.clone());
                }
                let path = self.headings.enter(depth, &text);
                self.blocks
                    .push(Block::new(BlockKind::Heading { level }, text, path));
                return;
            }
            ParaStyle::ListItem => (BlockKind::ListItem, text),
            ParaStyle::Body => (BlockKind::Paragraph, text),
        };
        self.blocks
            .push(Block::new(kind, text, self.headings.path()));
    }

    pub(crate) fn table(&mut self, rows: &[Vec<String>]) {
        let text = render_table(rows);
        if !text.is_empty() {
            self.blocks
                .push(Block::new(BlockKind::Table, text, self.headings.path()));
        }
    }

    fn document(&mut self, docx: &Docx) {
        for style in &docx.styles.styles {
            self.styles
                .insert(style.style_id.clone(), style_info(style));
        }
        for child in &docx.document.children {
            match child {
                DocumentChild::Paragraph(p) => self.docx_paragraph(p),
                DocumentChild::Table(t) => {
                    let rows = self.table_rows(t);
                    self.table(&rows);
                }
                DocumentChild::StructuredDataTag(sdt) => {
                    for c in &sdt.children {
                        self.sdt_child(c);
                    }
                }
                _ => {}
            }
        }
    }

    fn sdt_child(&mut self, child: &StructuredDataTagChild) {
        match child {
            StructuredDataTagChild::Paragraph(p) => self.docx_paragraph(p),
            StructuredDataTagChild::Table(t) => {
                let rows = self.table_rows(t);
                self.table(&rows);
            }
            StructuredDataTagChild::Run(r) => {
                let mut text = String::new();
                run_text(r, &mut text);
                self.paragraph(&text, ParaStyle::Body);
            }
            StructuredDataTagChild::StructuredDataTag(sdt) => {
                for c in &sdt.children {
                    self.sdt_child(c);
                }
            }
            _ => {}
        }
    }

    fn docx_paragraph(&mut self, p: &Paragraph) {
        let mut text = String::new();
        let mut links = 0;
        paragraph_text(&p.children, &mut text, &mut links, false);
        let prop = &p.property;
        let id = prop.style.as_ref().map(|s| s.val.as_str());
        let info = id.and_then(|id| self.styles.get(id));
        let numbered = prop
            .numbering_property
            .as_ref()
            .is_some_and(|n| n.id.as_ref().is_none_or(|i| i.id != 0));
        let outline = prop
            .outline_lvl
            .as_ref()
            .map(|o| o.v)
            .or(info.and_then(|i| i.1));
        let style = ParaStyle::from_names(id, info.map(|i| i.0.as_str()), outline, numbered);
        if style != ParaStyle::Toc {
            self.link_chars += links;
        }
        self.paragraph(&text, style);
    }
}

/// Appends the text of paragraph content to `out`, counting link characters in `links`.
fn paragraph_text(children: &[ParagraphChild], out: &mut String, links: &mut usize, link: bool) {
    for child in children {
        let start = out.len();
        match child {
            ParagraphChild::Run(r) => run_text(r, out),
            ParagraphChild::Insert(ins) => {
                for c in &ins.children {
                    if let InsertChild::Run(r) = c {
                        run_text(r, out);
                    }
                }
            }
            ParagraphChild::MoveTo(m) => {
                for c in &m.children {
                    if let MoveToChild::Run(r) = c {
                        run_text(r, out);
                    }
                }
            }
            ParagraphChild::Hyperlink(h) => paragraph_text(&h.children, out, links, true),
            ParagraphChild::StructuredDataTag(sdt) => {
                for c in &sdt.children {
                    match c {
                        StructuredDataTagChild::Run(r) => run_text(r, out),
                        StructuredDataTagChild::Paragraph(p) => {
                            paragraph_text(&p.children, out, links, link)
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        if link && !matches!(child, ParagraphChild::Hyperlink(_)) {
            *links += out[start..].chars().count();
        }
    }
}

impl Emitter {
    fn table_rows(&mut self, table: &Table) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        for TableChild::TableRow(row) in &table.rows {
            let mut cells = Vec::new();
            for TableRowChild::TableCell(cell) in &row.cells {
                let mut text = String::new();
                for content in &cell.children {
                    match content {
                        TableCellContent::Paragraph(p) => {
                            text.push(' ');
                            paragraph_text(&p.children, &mut text, &mut self.link_chars, false);
                        }
                        TableCellContent::Table(t) => {
                            for row in self.table_rows(t) {
                                text.push(' ');
                                text.push_str(&row.join(" "));
                            }
                        }
                        _ => {}
                    }
                }
                cells.push(text);
            }
            rows.push(cells);
        }
        rows
    }
}

/// A style's name and outline level.
fn style_info(style: &Style) -> (String, Option<usize>) {
    let name = serde_json::to_value(&style.name)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    (
        name,
        style.paragraph_property.outline_lvl.as_ref().map(|o| o.v),
    )
}

fn run_text(run: &Run, out: &mut String) {
    for child in &run.children {
        match child {
            RunChild::Text(t) => out.push_str(&t.text),
            RunChild::Tab(_) | RunChild::PTab(_) => out.push(' '),
            RunChild::Break(_) | RunChild::CarriageReturn(_) => out.push('\n'),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ParaStyle;

    #[test]
    fn styles() {
        assert_eq!(
            ParaStyle::from_names(Some("Heading2"), None, None, false),
            ParaStyle::Heading(2)
        );
        assert_eq!(
            ParaStyle::from_names(Some("berschrift1"), Some("heading 1"), None, false),
            ParaStyle::Heading(1)
        );
        assert_eq!(
            ParaStyle::from_names(Some("Title"), Some("Title"), None, false),
            ParaStyle::Title
        );
        assert_eq!(
            ParaStyle::from_names(Some("TOC1"), Some("toc 1"), None, false),
            ParaStyle::Toc
        );
        assert_eq!(
            ParaStyle::from_names(None, None, Some(0), false),
            ParaStyle::Heading(1)
        );
        assert_eq!(
            ParaStyle::from_names(Some("ListBullet"), None, None, false),
            ParaStyle::ListItem
        );
        assert_eq!(
            ParaStyle::from_names(None, None, None, true),
            ParaStyle::ListItem
        );
        assert_eq!(
            ParaStyle::from_names(Some("Normal"), Some("Normal"), None, false),
            ParaStyle::Body
        );
    }
}
