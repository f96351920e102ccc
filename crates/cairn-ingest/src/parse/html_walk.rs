//! The HTML tree walk: turns the kept elements into blocks in reading order.
//!
//! h1–h6 → `Heading` (the heading path); `pre` → `Code` (whitespace kept); a data table →
//! one `Table` block (rows on lines, cells joined by ` | `; tables that hold headings or
//! nested tables are layout and are walked like divs); `li` → `ListItem` (items of an
//! `ol` numbered `1. `, honouring `start` and `value`); everything else
//! block-level (p, dd, dt, blockquote, a div's own text...) → `Paragraph`. Inline elements
//! join with HTML whitespace rules, so words are never glued together; `<br>` is a line
//! break; `x<sup>2</sup>` becomes `x^2` and `H<sub>2</sub>O` becomes `H_2O`, so exponents
//! and indices are never fused into a different number. Headings inside admonitions
//! (`div.note`, `div.warning`...) are kept as paragraphs so they do not capture the rest of
//! the section's heading path.

use cairn_types::{Block, BlockKind};
use scraper::{ElementRef, Node};

use super::html::{element_text, is_boilerplate, is_link_dense};
use super::{HeadingStack, push_block, render_table};
use crate::normalize::normalize_preformatted;

/// Elements whose content flows inline with the surrounding text.
const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn",
    "em", "font", "i", "ins", "kbd", "label", "mark", "q", "s", "samp", "small", "span",
    "strike", "strong", "time", "tt", "u", "var", "wbr", "nobr", "img", "math", "mi", "mo",
    "mn", "ms", "mtext", "mrow", "msup", "msub", "msubsup", "mfrac", "msqrt", "mroot",
    "semantics", "mstyle", "mspace", "ruby", "rt", "rp", "output", "meter", "progress",
];

/// Class tokens of admonition boxes.
const ADMONITIONS: &[&str] = &["note", "tip", "warning", "caution", "important", "admonition"];

/// Text being accumulated, with HTML whitespace collapsing and link accounting.
#[derive(Default)]
pub(crate) struct Inline {
    pub text: String,
    pub link_chars: usize,
    link_depth: usize,
}

impl Inline {
    fn push_text(&mut self, s: &str) {
        for c in s.chars() {
            if c.is_ascii_whitespace() {
                if self.text.is_empty() || self.text.ends_with([' ', '\n']) {
                    continue;
                }
                self.text.push(' ');
            } else {
                self.text.push(c);
            }
            if self.link_depth > 0 {
                self.link_chars += 1;
            }
        }
    }

    /// A mark such as `^` that must touch the preceding text.
    fn push_mark(&mut self, mark: char) {
        self.text.push(mark);
    }

    fn line_break(&mut self) {
        let trimmed = self.text.trim_end_matches(' ').len();
        self.text.truncate(trimmed);
        self.text.push('\n');
    }
}

/// The text of a subtree on one line (block elements become spaces), with the number of
/// characters that sat in links.
pub(crate) fn flat_text(el: ElementRef<'_>) -> (String, usize) {
    let mut out = Inline::default();
    flat_into(el, &mut out);
    (out.text, out.link_chars)
}

fn flat_into(el: ElementRef<'_>, out: &mut Inline) {
    for child in el.children() {
        match child.value() {
            Node::Text(t) => out.push_text(t),
            Node::Element(_) => {
                let Some(child) = ElementRef::wrap(child) else { continue };
                if is_boilerplate(child) {
                    continue;
                }
                match child.value().name() {
                    "br" => out.push_text(" "),
                    "sup" => {
                        out.push_mark('^');
                        flat_into(child, out);
                    }
                    "sub" => {
                        out.push_mark('_');
                        flat_into(child, out);
                    }
                    "a" => {
                        out.link_depth += 1;
                        flat_into(child, out);
                        out.link_depth -= 1;
                    }
                    tag if INLINE_TAGS.contains(&tag) => flat_into(child, out),
                    _ => {
                        out.push_text(" ");
                        flat_into(child, out);
                        out.push_text(" ");
                    }
                }
            }
            _ => {}
        }
    }
}

/// Text of a `pre` element with its whitespace intact.
fn raw_text(el: ElementRef<'_>, out: &mut String) {
    for child in el.children() {
        match child.value() {
            Node::Text(t) => out.push_str(t),
            Node::Element(e) if e.name() == "br" => out.push('\n'),
            Node::Element(_) => {
                if let Some(child) = ElementRef::wrap(child) {
                    if !is_boilerplate(child) {
                        raw_text(child, out);
                    }
                }
            }
            _ => {}
        }
    }
}

pub(crate) struct Walker {
    pub blocks: Vec<Block>,
    pub first_h1: Option<String>,
    pub link_chars: usize,
    headings: HeadingStack,
    buf: Inline,
    /// Enclosing lists: the next item number of an `ol`, `None` for a `ul`.
    lists: Vec<Option<i64>>,
    list_depth: usize,
    admonition_depth: usize,
    prune_link_dense: bool,
}

impl Walker {
    pub(crate) fn new(prune_link_dense: bool) -> Self {
        Self {
            blocks: Vec::new(),
            first_h1: None,
            link_chars: 0,
            headings: HeadingStack::default(),
            buf: Inline::default(),
            lists: Vec::new(),
            list_depth: 0,
            admonition_depth: 0,
            prune_link_dense,
        }
    }

    pub(crate) fn walk(&mut self, el: ElementRef<'_>) {
        for child in el.children() {
            match child.value() {
                Node::Text(t) => self.buf.push_text(t),
                Node::Element(_) => {
                    if let Some(child) = ElementRef::wrap(child) {
                        self.element(child);
                    }
                }
                _ => {}
            }
        }
    }

    /// Emits the accumulated text as a paragraph (or list item inside `li`).
    pub(crate) fn flush(&mut self) {
        let link_depth = self.buf.link_depth;
        let buf = std::mem::replace(&mut self.buf, Inline { link_depth, ..Inline::default() });
        let kind = if self.list_depth > 0 { BlockKind::ListItem } else { BlockKind::Paragraph };
        let before = self.blocks.len();
        push_block(&mut self.blocks, kind, &buf.text, self.headings.path());
        if self.blocks.len() > before {
            self.link_chars += buf.link_chars;
        }
    }

    fn element(&mut self, el: ElementRef<'_>) {
        if is_boilerplate(el) || (self.prune_link_dense && is_link_dense(el)) {
            return;
        }
        let tag = el.value().name();
        match tag {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => self.heading(el, tag),
            "pre" | "listing" | "xmp" | "plaintext" => {
                self.flush();
                let mut raw = String::new();
                raw_text(el, &mut raw);
                let code = normalize_preformatted(&raw);
                if !code.is_empty() {
                    self.blocks.push(Block::new(BlockKind::Code, code, self.headings.path()));
                }
            }
            "table" if !is_layout_table(el) => self.table(el),
            "br" => self.buf.line_break(),
            "hr" => self.flush(),
            "sup" | "sub" => {
                self.buf.push_mark(if tag == "sup" { '^' } else { '_' });
                self.walk(el);
            }
            "a" => {
                self.buf.link_depth += 1;
                self.walk(el);
                self.buf.link_depth -= 1;
            }
            "ul" | "ol" | "menu" | "dir" => {
                self.flush();
                let start = el.value().attr("start").and_then(|v| v.trim().parse().ok());
                self.lists.push((tag == "ol").then_some(start.unwrap_or(1)));
                self.walk(el);
                self.lists.pop();
                self.flush();
            }
            "li" => {
                self.flush();
                self.list_depth += 1;
                if let Some(Some(next)) = self.lists.last_mut() {
                    if let Some(v) = el.value().attr("value").and_then(|v| v.trim().parse().ok()) {
                        *next = v;
                    }
                    self.buf.text.push_str(&format!("{next}. "));
                    *next += 1;
                }
                self.walk(el);
                self.flush();
                self.list_depth -= 1;
            }
            _ if INLINE_TAGS.contains(&tag) => self.walk(el),
            _ => {
                let admonition = el.value().classes().any(|c| ADMONITIONS.contains(&c));
                self.flush();
                self.admonition_depth += usize::from(admonition);
                self.walk(el);
                self.flush();
                self.admonition_depth -= usize::from(admonition);
            }
        }
    }

    fn heading(&mut self, el: ElementRef<'_>, tag: &str) {
        self.flush();
        let (title, links) = element_text(el);
        let title = title.replace('\n', " ");
        if title.is_empty() {
            return;
        }
        self.link_chars += links;
        if self.admonition_depth > 0 {
            let path = self.headings.path();
            self.blocks.push(Block::new(BlockKind::Paragraph, title, path));
            return;
        }
        let level = tag.as_bytes().get(1).map_or(1, |d| d.saturating_sub(b'0'));
        if level == 1 && self.first_h1.is_none() {
            self.first_h1 = Some(title.clone());
        }
        let path = self.headings.enter(level, &title);
        self.blocks.push(Block::new(BlockKind::Heading { level }, title, path));
    }

    fn table(&mut self, el: ElementRef<'_>) {
        self.flush();
        let mut rows = Vec::new();
        for part in el.child_elements() {
            match part.value().name() {
                "caption" => {
                    let (caption, links) = element_text(part);
                    self.link_chars += links;
                    push_block(&mut self.blocks, BlockKind::Paragraph, &caption, self.headings.path());
                }
                "thead" | "tbody" | "tfoot" => {
                    for row in part.child_elements().filter(|r| r.value().name() == "tr") {
                        rows.push(self.row(row));
                    }
                }
                "tr" => rows.push(self.row(part)),
                _ => {}
            }
        }
        let text = render_table(&rows);
        if !text.is_empty() {
            self.blocks.push(Block::new(BlockKind::Table, text, self.headings.path()));
        }
    }

    fn row(&mut self, tr: ElementRef<'_>) -> Vec<String> {
        let mut cells = Vec::new();
        for cell in tr.child_elements().filter(|c| matches!(c.value().name(), "td" | "th")) {
            if is_boilerplate(cell) {
                continue;
            }
            let (text, links) = flat_text(cell);
            self.link_chars += links;
            cells.push(text);
        }
        cells
    }
}

/// A table used for layout: it holds headings or other tables, or is marked so.
fn is_layout_table(el: ElementRef<'_>) -> bool {
    if matches!(el.value().attr("role"), Some("presentation" | "none")) {
        return true;
    }
    el.descendent_elements().skip(1).any(|d| {
        matches!(d.value().name(), "table" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
    })
}
