//! Quality checks on a parsed document: near-empty pages, pages that are mostly links,
//! and a SimHash fingerprint for near-duplicate detection.
//!
//! Everything here is a pure function of the document. Comparing against other documents
//! (exact duplicates by content hash, near duplicates by SimHash) needs the store, so the
//! engine fills `duplicate_of` and `near_duplicate_of`, using [`find_near_duplicate`] for
//! the latter.
//!
//! SimHash design: features are overlapping 3-word shingles of the lowercased body
//! (alphanumeric words only, so punctuation and whitespace changes do not count), each
//! hashed with 64-bit FNV-1a followed by the MurmurHash3 finalizer (FNV alone mixes its
//! high bits poorly on short inputs, which correlates the fingerprint's bits). Both are
//! fixed functions, so fingerprints are stable across runs, builds and machines and can
//! be stored. Shingles rather than single words make unrelated pages in the same
//! language land far apart (about 32 bits, like random fingerprints) even though they
//! share most of their common words.
//!
//! Choice of the default distance (10 bits), measured on ~2,000-word pages (synthetic
//! pages in `tests/quality.rs`; the same algorithm on 113 pages of the PostgreSQL 15
//! manual with sentences swapped in from other pages):
//! - 1 changed sentence: median 2-3 bits, max 6-8;
//! - 3 changed sentences: median 4, 90th percentile 8, max 10-11;
//! - 5 changed sentences: median 5-6, 90th percentile 9-10;
//! - unrelated pages: median 29-32 bits; among the manual's 214,000 pairs of pages over
//!   300 words only 0.01 % are within 17 bits, and every pair within 10 bits is a
//!   template sibling with nearly identical text (`sql-commit-prepared` /
//!   `sql-rollback-prepared`, `reference` / `sql-commands`).
//!
//! So 3 bits would miss half of the pages edited in a few sentences, while 10 catches
//! nearly all of them and still leaves 6-7 bits of margin to unrelated pages. A 64-bit
//! fingerprint cannot do much better: the chance that a bit flips grows with the share
//! of changed shingles, whatever the hash. The engine's configured value
//! (`ingest.quality.near_dup_max_distance`) overrides this default.

use cairn_types::{DocumentId, ParsedDoc, QualityFlags};

/// Thresholds for the quality checks.
#[derive(Clone, Debug, PartialEq)]
pub struct QualityPolicy {
    /// Fewer body characters than this marks the page near-empty.
    pub min_chars: usize,
    /// A larger share of body characters inside links marks the page mostly links.
    pub link_ratio_threshold: f32,
    /// Largest SimHash Hamming distance still counted as a near duplicate.
    pub near_dup_max_distance: u32,
}

impl Default for QualityPolicy {
    fn default() -> Self {
        Self {
            min_chars: 200,
            link_ratio_threshold: 0.5,
            near_dup_max_distance: 10,
        }
    }
}

/// Measures `doc` against `policy`. Leaves `duplicate_of` and `near_duplicate_of` empty:
/// those need the other documents of the collection.
pub fn assess(doc: &ParsedDoc, policy: &QualityPolicy) -> QualityFlags {
    let text_chars = doc.text_chars();
    let link_ratio = if text_chars == 0 {
        0.0
    } else {
        (doc.link_chars as f32 / text_chars as f32).min(1.0)
    };
    let body = doc.full_text();
    QualityFlags {
        near_empty: text_chars < policy.min_chars,
        mostly_links: text_chars > 0 && link_ratio > policy.link_ratio_threshold,
        duplicate_of: None,
        near_duplicate_of: None,
        simhash: simhash(&body),
        link_ratio,
        text_chars,
    }
}

/// 64-bit SimHash of `text` over lowercase 3-word shingles (single words when the text
/// has fewer than three). Text without any word hashes to 0.
pub fn simhash(text: &str) -> u64 {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return 0;
    }
    let mut weights = [0i64; 64];
    let mut add = |feature: u64| {
        for (bit, w) in weights.iter_mut().enumerate() {
            *w += if feature >> bit & 1 == 1 { 1 } else { -1 };
        }
    };
    if words.len() < 3 {
        words.iter().for_each(|w| add(feature_hash(&[w.as_str()])));
    } else {
        for shingle in words.windows(3) {
            add(feature_hash(&[&shingle[0], &shingle[1], &shingle[2]]));
        }
    }
    weights
        .iter()
        .enumerate()
        .filter(|(_, w)| **w > 0)
        .fold(0u64, |acc, (bit, _)| acc | 1 << bit)
}

/// Number of differing bits.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// The document whose SimHash is closest to `hash`, if within `max_distance` bits (the
/// first one on ties). A zero hash (a page without words) matches nothing.
pub fn find_near_duplicate<'a, I>(hash: u64, others: I, max_distance: u32) -> Option<DocumentId>
where
    I: IntoIterator<Item = (&'a DocumentId, u64)>,
{
    if hash == 0 {
        return None;
    }
    others
        .into_iter()
        .filter(|(_, h)| *h != 0)
        .map(|(id, h)| (hamming(hash, h), id))
        .filter(|(d, _)| *d <= max_distance)
        .min_by_key(|(d, _)| *d)
        .map(|(_, id)| id.clone())
}

/// FNV-1a over the words (separated by a 0xff byte, which never occurs in UTF-8),
/// finished with the MurmurHash3 64-bit mixer.
fn feature_hash(words: &[&str]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            h = (h ^ 0xff).wrapping_mul(PRIME);
        }
        for b in w.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(PRIME);
        }
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}
