//! Plain text: paragraphs split on blank lines; no title (the engine uses the file name).

use cairn_types::{BlockKind, ParsedDoc};

use super::{decode_text, push_block};
use crate::Result;

pub(crate) fn parse(bytes: &[u8], name: &str) -> Result<ParsedDoc> {
    let mut doc = ParsedDoc::default();
    let text = decode_text(bytes, name, &mut doc.warnings);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut paragraph = String::new();
    for line in text.split('\n') {
        if line.trim().is_empty() {
            push_block(
                &mut doc.blocks,
                BlockKind::Paragraph,
                &paragraph,
                Vec::new(),
            );
            paragraph.clear();
        } else {
            paragraph.push_str(line);
            paragraph.push('\n');
        }
    }
    push_block(
        &mut doc.blocks,
        BlockKind::Paragraph,
        &paragraph,
        Vec::new(),
    );
    Ok(doc)
}

#[cfg(test)]
mod tests {
    #[test]
    fn paragraphs_on_blank_lines() {
        let doc = super::parse(b"one\r\nstill one\r\n\r\n \r\ntwo\xff", "t.txt").unwrap();
        let texts: Vec<&str> = doc.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["one\nstill one", "two\u{FFFD}"]);
        assert_eq!(doc.warnings.len(), 1);
        assert!(doc.title.is_none());
    }
}
