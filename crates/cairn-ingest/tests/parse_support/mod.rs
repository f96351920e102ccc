//! Shared helpers for the parser tests: parse-or-panic, expect-an-error, find a block.
#![allow(dead_code)]

use cairn_ingest::{Format, parse::parse};
use cairn_types::{ErrorCode, ParsedDoc};

pub fn parse_ok(format: Format, bytes: &[u8], name: &str) -> ParsedDoc {
    match parse(format, bytes, name) {
        Ok(doc) => doc,
        Err(e) => panic!("{name}: {e}"),
    }
}

pub fn err_code(format: Format, bytes: &[u8], name: &str) -> (ErrorCode, String) {
    match parse(format, bytes, name) {
        Ok(doc) => panic!("{name}: expected an error, got {doc:?}"),
        Err(e) => (e.code, e.message),
    }
}

pub fn block<'a>(doc: &'a ParsedDoc, needle: &str) -> &'a cairn_types::Block {
    doc.blocks
        .iter()
        .find(|b| b.text.contains(needle))
        .unwrap_or_else(|| panic!("no block contains {needle:?} in {:#?}", doc.blocks))
}
