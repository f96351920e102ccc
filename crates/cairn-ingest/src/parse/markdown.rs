//! Markdown (CommonMark + tables) via pulldown-cmark.
//!
//! Headings build the heading path; fenced and indented code blocks become one `Code`
//! block each; a table becomes one `Table` block; list items become `ListItem` blocks
//! (ordered ones keep their number: `1. `).
//! Title: `title:` in YAML front matter (`---`) or `title =` in TOML front matter
//! (`+++`), else the first level-1 heading. Front matter is not part of the body. Images
//! and raw HTML contribute no text.

use cairn_types::{Block, BlockKind, ParsedDoc};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::{HeadingStack, decode_text, push_block, render_table};
use crate::Result;
use crate::normalize::{normalize, normalize_preformatted};

pub(crate) fn parse(bytes: &[u8], name: &str) -> Result<ParsedDoc> {
    let mut doc = ParsedDoc::default();
    let source = decode_text(bytes, name, &mut doc.warnings);
    let (front_title, body) = split_front_matter(&source);
    let mut state = State::default();
    for event in Parser::new_ext(body, Options::ENABLE_TABLES) {
        state.event(event);
    }
    state.flush();
    doc.title = front_title.or(state.first_h1);
    doc.blocks = state.blocks;
    doc.link_chars = state.link_chars;
    Ok(doc)
}

#[derive(Default)]
struct State {
    blocks: Vec<Block>,
    headings: HeadingStack,
    first_h1: Option<String>,
    text: String,
    heading: Option<String>,
    code: Option<String>,
    table: Option<Vec<Vec<String>>>,
    item_depth: usize,
    /// Enclosing lists: the next item number of an ordered list, `None` for bullets.
    lists: Vec<Option<u64>>,
    link_depth: usize,
    image_depth: usize,
    link_chars: usize,
}

impl State {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) | Event::Code(t) => self.append(&t),
            Event::SoftBreak => self.append(" "),
            Event::HardBreak => self.append(if self.table.is_some() { " " } else { "\n" }),
            Event::Rule => self.flush(),
            _ => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph | Tag::BlockQuote(_) => self.flush(),
            Tag::List(start) => {
                self.flush();
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                self.item_depth += 1;
                if let Some(Some(next)) = self.lists.last_mut() {
                    self.text.push_str(&format!("{next}. "));
                    *next += 1;
                }
            }
            Tag::Heading { .. } => {
                self.flush();
                self.heading = Some(String::new());
            }
            Tag::CodeBlock(_) => {
                self.flush();
                self.code = Some(String::new());
            }
            Tag::Table(_) => {
                self.flush();
                self.table = Some(Vec::new());
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(rows) = &mut self.table {
                    rows.push(Vec::new());
                }
            }
            Tag::TableCell => {
                if let Some(row) = self.table.as_mut().and_then(|rows| rows.last_mut()) {
                    row.push(String::new());
                }
            }
            Tag::Link { .. } => self.link_depth += 1,
            Tag::Image { .. } => self.image_depth += 1,
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::BlockQuote(_) => self.flush(),
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
            }
            TagEnd::Item => {
                self.flush();
                self.item_depth = self.item_depth.saturating_sub(1);
            }
            TagEnd::Heading(level) => {
                let title = normalize(&self.heading.take().unwrap_or_default());
                if title.is_empty() {
                    return;
                }
                let level = level as u8;
                if level == 1 && self.first_h1.is_none() {
                    self.first_h1 = Some(title.clone());
                }
                let path = self.headings.enter(level, &title);
                self.blocks
                    .push(Block::new(BlockKind::Heading { level }, title, path));
            }
            TagEnd::CodeBlock => {
                let code = normalize_preformatted(&self.code.take().unwrap_or_default());
                if !code.is_empty() {
                    self.blocks
                        .push(Block::new(BlockKind::Code, code, self.headings.path()));
                }
            }
            TagEnd::Table => {
                let table = render_table(&self.table.take().unwrap_or_default());
                if !table.is_empty() {
                    self.blocks
                        .push(Block::new(BlockKind::Table, table, self.headings.path()));
                }
            }
            TagEnd::Link => self.link_depth = self.link_depth.saturating_sub(1),
            TagEnd::Image => self.image_depth = self.image_depth.saturating_sub(1),
            _ => {}
        }
    }

    fn append(&mut self, s: &str) {
        if self.image_depth > 0 {
            return;
        }
        if self.link_depth > 0 {
            self.link_chars += s.chars().filter(|c| !c.is_whitespace()).count();
        }
        let sink = if let Some(code) = &mut self.code {
            code
        } else if let Some(cell) = self
            .table
            .as_mut()
            .and_then(|rows| rows.last_mut())
            .and_then(|row| row.last_mut())
        {
            cell
        } else if let Some(heading) = &mut self.heading {
            heading
        } else {
            &mut self.text
        };
        sink.push_str(s);
    }

    fn flush(&mut self) {
        if self.heading.is_some() || self.code.is_some() || self.table.is_some() {
            return;
        }
        let kind = if self.item_depth > 0 {
            BlockKind::ListItem
        } else {
            BlockKind::Paragraph
        };
        let text = std::mem::take(&mut self.text);
        push_block(&mut self.blocks, kind, &text, self.headings.path());
    }
}

/// Splits YAML (`---`) or TOML (`+++`) front matter off the body; returns its title.
fn split_front_matter(source: &str) -> (Option<String>, &str) {
    let (fence, sep) = if source.starts_with("---") {
        ("---", ':')
    } else if source.starts_with("+++") {
        ("+++", '=')
    } else {
        return (None, source);
    };
    let mut lines = source.split_inclusive('\n');
    if lines.next().map(str::trim_end) != Some(fence) {
        return (None, source);
    }
    let mut offset = fence.len() + source[fence.len()..].find('\n').map_or(0, |i| i + 1);
    let mut title = None;
    for line in lines {
        offset += line.len();
        let trimmed = line.trim_end();
        if trimmed == fence || (fence == "---" && trimmed == "...") {
            return (title, &source[offset.min(source.len())..]);
        }
        if let Some((key, value)) = trimmed.split_once(sep)
            && key.trim().eq_ignore_ascii_case("title")
            && title.is_none()
        {
            let value = normalize(value.trim().trim_matches(|c| c == '"' || c == '\''));
            if !value.is_empty() {
                title = Some(value);
            }
        }
    }
    // No closing fence: not front matter after all.
    (None, source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter() {
        let (t, body) = split_front_matter("---\ntitle: \"Hello\"\ntags: [a]\n---\n# Body\n");
        assert_eq!(t.as_deref(), Some("Hello"));
        assert_eq!(body, "# Body\n");
        let (t, body) = split_front_matter("+++\ntitle = 'Toml'\n+++\ntext");
        assert_eq!((t.as_deref(), body), (Some("Toml"), "text"));
        let (t, body) = split_front_matter("---\nnot closed\n");
        assert_eq!((t, body), (None, "---\nnot closed\n"));
    }

    #[test]
    fn nested_lists_and_links() {
        let md = b"- one [link text](http://x)\n  - nested\n- two\n\npara\n";
        let doc = parse(md, "a.md").unwrap();
        let got: Vec<(BlockKind, &str)> = doc
            .blocks
            .iter()
            .map(|b| (b.kind, b.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (BlockKind::ListItem, "one link text"),
                (BlockKind::ListItem, "nested"),
                (BlockKind::ListItem, "two"),
                (BlockKind::Paragraph, "para"),
            ]
        );
        assert_eq!(doc.link_chars, 8);
    }
}
