//! Ingestion as pure functions: bytes in, structured text and chunks out.
//!
//! Pipeline for one source: [`Format::sniff`] → [`parse::parse`] (one module per format,
//! boilerplate removed, text passed through [`normalize::normalize`]) →
//! [`quality::assess`] → a [`chunk::Chunker`] chosen by the collection's
//! [`cairn_types::ChunkingSpec`].
//!
//! Invariants:
//! - Nothing here touches the filesystem, the store or the network; callers hand in bytes.
//! - No parser may panic or abort a batch: [`parse::parse`] turns every failure, including
//!   a panic inside a third-party parser, into an [`Error`] with a stable
//!   [`cairn_types::ErrorCode`].
//! - Token counts are always those of the embedding model's tokenizer, supplied through
//!   [`cairn_types::TokenCounter`].

pub mod chunk;
mod error;
mod format;
pub mod normalize;
pub mod parse;
pub mod quality;

pub use error::{Error, Result};
pub use format::Format;

/// SHA-256 of `bytes` as lowercase hex: the content hash used for change detection and
/// exact-duplicate detection.
pub fn content_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}
