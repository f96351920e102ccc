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

use ego_tree::NodeId;
use ego_tree::iter::Edge;

use super::html_clean::Cleaner;
use super::{HeadingStack, push_block, render_table};
use crate::normalize::{normalize, normalize_preformatted};

/// Elements whose content flows inline with the surrounding text.
#[rustfmt::skip]
const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em",
    "font", "i", "ins", "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strike",
    "strong", "time", "tt", "u", "var", "wbr", "nobr", "img", "math", "mi", "mo", "mn", "ms",
    "mtext", "mrow", "msup", "msub", "msubsup", "mfrac", "msqrt", "mroot", "semantics", "mstyle",
    "mspace", "ruby", "rt", "rp", "output", "meter", "progress",
];

/// Class tokens of admonition boxes.
const ADMONITIONS: &[&str] = &[
    "note",
    "tip",
    "warning",
    "caution",
    "important",
    "admonition",
];

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

/// The text of a subtree on one line (block elements become spaces), appended to `out`.
/// Iterative, so a pathologically deep tree cannot exhaust the stack.
fn flat_into(el: ElementRef<'_>, cleaner: &Cleaner, out: &mut Inline) {
    let mut skip: Option<NodeId> = None;
    for edge in el.traverse() {
        match edge {
            Edge::Open(node) if skip.is_none() && node.id() != el.id() => match node.value() {
                Node::Text(t) => out.push_text(t),
                Node::Element(e) => {
                    if ElementRef::wrap(node).is_some_and(|c| cleaner.removed(c)) {
                        skip = Some(node.id());
                        continue;
                    }
                    match e.name() {
                        "br" => out.push_text(" "),
                        "sup" => out.push_mark('^'),
                        "sub" => out.push_mark('_'),
                        "a" => out.link_depth += 1,
                        tag if INLINE_TAGS.contains(&tag) => {}
                        _ => out.push_text(" "),
                    }
                }
                _ => {}
            },
            Edge::Close(node) if skip == Some(node.id()) => skip = None,
            Edge::Close(node) if skip.is_none() && node.id() != el.id() => {
                if let Node::Element(e) = node.value() {
                    match e.name() {
                        "a" => out.link_depth = out.link_depth.saturating_sub(1),
                        tag if INLINE_TAGS.contains(&tag)
                            || matches!(tag, "br" | "sup" | "sub") => {}
                        _ => out.push_text(" "),
                    }
                }
            }
            _ => {}
        }
    }
}

/// Text of a `pre` element with its whitespace intact (iterative).
fn raw_text(el: ElementRef<'_>, cleaner: &Cleaner) -> String {
    let mut out = String::new();
    let mut skip: Option<NodeId> = None;
    for edge in el.traverse() {
        match edge {
            Edge::Open(node) if skip.is_none() => match node.value() {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) if e.name() == "br" => out.push('\n'),
                Node::Element(_)
                    if node.id() != el.id()
                        && ElementRef::wrap(node).is_some_and(|c| cleaner.removed(c)) =>
                {
                    skip = Some(node.id());
                }
                _ => {}
            },
            Edge::Close(node) if skip == Some(node.id()) => skip = None,
            _ => {}
        }
    }
    out
}

/// Below this many nested elements the walk stops recursing and takes the text flat.
const MAX_DEPTH: usize = 256;

pub(crate) struct Walker<'c> {
    pub blocks: Vec<Block>,
    pub first_h1: Option<String>,
    pub link_chars: usize,
    headings: HeadingStack,
    buf: Inline,
    /// Enclosing lists: the next item number of an `ol`, `None` for a `ul`.
    lists: Vec<Option<i64>>,
    list_depth: usize,
    admonition_depth: usize,
    depth: usize,
    cleaner: &'c Cleaner,
}

impl<'c> Walker<'c> {
    pub(crate) fn new(cleaner: &'c Cleaner) -> Self {
        Self {
            blocks: Vec::new(),
            first_h1: None,
            link_chars: 0,
            headings: HeadingStack::default(),
            buf: Inline::default(),
            lists: Vec::new(),
            list_depth: 0,
            admonition_depth: 0,
            depth: 0,
            cleaner,
        }
    }

    pub(crate) fn walk(&mut self, el: ElementRef<'_>) {
        if self.depth >= MAX_DEPTH {
            flat_into(el, self.cleaner, &mut self.buf);
            return;
        }
        self.depth += 1;
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
        self.depth -= 1;
    }

    /// Normalized one-line text of an element; its link characters are counted.
    fn flat(&mut self, el: ElementRef<'_>) -> String {
        let mut inline = Inline::default();
        flat_into(el, self.cleaner, &mut inline);
        self.link_chars += inline.link_chars;
        normalize(&inline.text).replace('\n', " ")
    }

    /// Emits the accumulated text as a paragraph (or list item inside `li`).
    pub(crate) fn flush(&mut self) {
        let link_depth = self.buf.link_depth;
        let buf = std::mem::replace(
            &mut self.buf,
            Inline {
                link_depth,
                ..Inline::default()
            },
        );
        let kind = if self.list_depth > 0 {
            BlockKind::ListItem
        } else {
            BlockKind::Paragraph
        };
        let before = self.blocks.len();
        push_block(&mut self.blocks, kind, &buf.text, self.headings.path());
        if self.blocks.len() > before {
            self.link_chars += buf.link_chars;
        }
    }

    fn element(&mut self, el: ElementRef<'_>) {
        if self.cleaner.removed(el) {
            return;
        }
        let tag = el.value().name();
        match tag {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => self.heading(el, tag),
            "pre" | "listing" | "xmp" | "plaintext" => {
                self.flush();
                let code = normalize_preformatted(&raw_text(el, self.cleaner));
                if !code.is_empty() {
                    self.blocks
                        .push(Block::new(BlockKind::Code, code, self.headings.path()));
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
        let title = self.flat(el);
        if title.is_empty() {
            return;
        }
        if self.admonition_depth > 0 {
            let path = self.headings.path();
            self.blocks
                .push(Block::new(BlockKind::Paragraph, title, path));
            return;
        }
        let level = tag.as_bytes().get(1).map_or(1, |d| d.saturating_sub(b'0'));
        if level == 1 && self.first_h1.is_none() {
            self.first_h1 = Some(title.clone());
        }
        let path = self.headings.enter(level, &title);
        self.blocks
            .push(Block::new(BlockKind::Heading { level }, title, path));
    }

    fn table(&mut self, el: ElementRef<'_>) {
        self.flush();
        let mut rows = Vec::new();
        for part in el.child_elements() {
            match part.value().name() {
                "caption" => {
                    let caption = self.flat(part);
                    push_block(
                        &mut self.blocks,
                        BlockKind::Paragraph,
                        &caption,
                        self.headings.path(),
                    );
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
            self.blocks
                .push(Block::new(BlockKind::Table, text, self.headings.path()));
        }
    }

    fn row(&mut self, tr: ElementRef<'_>) -> Vec<String> {
        let mut cells = Vec::new();
        for cell in tr
            .child_elements()
            .filter(|c| matches!(c.value().name(), "td" | "th"))
        {
            if !self.cleaner.removed(cell) {
                cells.push(self.flat(cell));
            }
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
        matches!(
            d.value().name(),
            "table" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
        )
    })
}
