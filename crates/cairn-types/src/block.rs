//! Structured text: what parsers produce and chunkers consume.

use serde::{Deserialize, Serialize};

/// What a block of text is. Chunkers use this to keep tables and code whole and to
/// start new sections at headings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// A heading; `level` 1 is the outermost.
    Heading { level: u8 },
    /// Running prose.
    Paragraph,
    /// One item of a list.
    ListItem,
    /// A whole table rendered as text (rows on lines, cells separated by ` | `).
    Table,
    /// A code block or preformatted text.
    Code,
    /// One record of a CSV or JSON source, rendered as `key: value` lines.
    Record,
}

/// One block of normalized text with the heading path it sits under.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub kind: BlockKind,
    /// Normalized text of the block (see `cairn_ingest::normalize`).
    pub text: String,
    /// Titles of the enclosing headings, outermost first. A heading block's own path
    /// ends with its own title.
    pub heading_path: Vec<String>,
    /// Page number (1-based) for paginated sources such as PDF.
    pub page: Option<u32>,
}

impl Block {
    /// A block with no page number.
    pub fn new(kind: BlockKind, text: impl Into<String>, heading_path: Vec<String>) -> Self {
        Self {
            kind,
            text: text.into(),
            heading_path,
            page: None,
        }
    }
}

/// A parsed source: its title, its blocks, and the measurements the quality report needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ParsedDoc {
    /// The document title (HTML `<title>`, first heading, PDF/DOCX metadata, file name).
    pub title: Option<String>,
    /// Body blocks in reading order, boilerplate already removed.
    pub blocks: Vec<Block>,
    /// Characters of body text that sat inside links (after boilerplate removal).
    pub link_chars: usize,
    /// Number of pages, for paginated formats.
    pub pages: Option<u32>,
    /// Non-fatal problems the parser worked around (e.g. a page with no text layer).
    pub warnings: Vec<String>,
}

impl ParsedDoc {
    /// Total characters of body text.
    pub fn text_chars(&self) -> usize {
        self.blocks.iter().map(|b| b.text.chars().count()).sum()
    }

    /// The body as one string, blocks separated by blank lines.
    pub fn full_text(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&b.text);
        }
        out
    }
}

/// The role of a chunk in a parent-child layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkRole {
    /// An ordinary chunk: retrieved and shown.
    Leaf,
    /// A parent section: not retrieved directly, returned when a child matches.
    Parent,
    /// A small chunk retrieved on behalf of its parent.
    Child,
}

/// A chunk as produced by a chunker, before it has ids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkDraft {
    pub text: String,
    /// Heading path of the block the chunk starts in.
    pub heading_path: Vec<String>,
    /// Number of tokens in the embedding model's tokenizer.
    pub token_count: usize,
    pub role: ChunkRole,
    /// For a [`ChunkRole::Child`]: the index (in the same output vector) of its parent.
    pub parent: Option<usize>,
    /// Page the chunk starts on, for paginated sources.
    pub page: Option<u32>,
}
