//! Quality checks: near-empty and link-heavy pages, SimHash stability, and near-duplicate
//! detection measured on realistic ~2,000-word pages.
//!
//! The pages are generated from a Zipf-weighted English vocabulary (frequent function
//! words, a long tail of content words) so that unrelated pages share their common words
//! the way real pages do. On real pages, `bench/pg-manual.sh` reports the near-duplicates
//! the same checks find in the PostgreSQL manual.

use cairn_ingest::quality::{QualityPolicy, assess, find_near_duplicate, hamming, simhash};
use cairn_types::{Block, BlockKind, DocumentId, ParsedDoc};

const WORDS: &str = "the of and to a in is that for it as with was on be by this are or from at \
an which not have but can all their has one were more when there will so also other its been \
if into some about these than only may time two new would could first any each most use used \
system data server table index query value user file page set number function column database \
row type name results process using example following shown must should default case order \
key error option command text list change without both between same different because after \
before during while where however therefore instead since although then such many much very \
every several another those under over through against within along across behind beyond \
replication backup cluster configuration transaction lock checkpoint vacuum statistics planner \
memory disk connection timeout parameter extension latency throughput failover standby primary \
snapshot tuple heap partition trigger view schema role privilege sequence constraint domain \
operator aggregate window cursor prepared statement plan cost estimate buffer cache segment log \
archive restore recovery timeline slot subscription publication logical physical streaming \
synchronous asynchronous commit rollback savepoint isolation level serializable repeatable read \
committed phantom anomaly deadlock wait event monitor progress report analyze explain verbose \
format output input encoding collation locale character string integer numeric float boolean \
date interval array range json document search vector ranking dictionary parser template \
configure install upgrade migrate compile build package library header module loader path \
directory permission owner group socket port address host network protocol message authentication \
password certificate encryption method mapping rule policy security label comment description";

/// Deterministic pseudo-random numbers (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// A sentence of 8-28 words, word ranks drawn from a Zipf(1) distribution.
fn sentence(rng: &mut Lcg) -> String {
    static ZIPF: std::sync::OnceLock<(Vec<&'static str>, Vec<f64>)> = std::sync::OnceLock::new();
    let (vocab, cumulative) = ZIPF.get_or_init(|| {
        let vocab: Vec<&str> = WORDS.split_whitespace().collect();
        let cumulative = (1..=vocab.len())
            .scan(0.0, |acc, r| {
                *acc += 1.0 / r as f64;
                Some(*acc)
            })
            .collect();
        (vocab, cumulative)
    });
    let total = cumulative[cumulative.len() - 1];
    let len = 8 + (rng.next() % 21) as usize;
    let words: Vec<&str> = (0..len)
        .map(|_| {
            let x = (rng.next() % 1_000_000) as f64 / 1_000_000.0 * total;
            vocab[cumulative.partition_point(|&c| c <= x).min(vocab.len() - 1)]
        })
        .collect();
    let mut s = words.join(" ");
    s.push('.');
    s
}

/// A page of about `words` words as sentences.
fn page(seed: u64, words: usize) -> Vec<String> {
    let mut rng = Lcg(seed);
    let mut out = Vec::new();
    let mut n = 0;
    while n < words {
        let s = sentence(&mut rng);
        n += s.split_whitespace().count();
        out.push(s);
    }
    out
}

/// `base` with `k` sentences, spread over the page, replaced by fresh ones.
fn edited(base: &[String], k: usize, seed: u64) -> Vec<String> {
    let mut rng = Lcg(seed);
    let mut out = base.to_vec();
    for i in 0..k {
        let at = (i + 1) * out.len() / (k + 1);
        out[at] = sentence(&mut rng);
    }
    out
}

fn join(sentences: &[String]) -> String {
    sentences.join(" ")
}

fn doc_of(text: &str, link_chars: usize) -> ParsedDoc {
    ParsedDoc {
        blocks: vec![Block::new(BlockKind::Paragraph, text, vec![])],
        link_chars,
        ..ParsedDoc::default()
    }
}

/// Distances between `base` pages and their copies with `k` sentences changed, sorted.
fn edit_distances(k: usize, pages: u64) -> Vec<u32> {
    let mut ds: Vec<u32> = (0..pages)
        .map(|seed| {
            let base = page(seed, 2000);
            hamming(
                simhash(&join(&base)),
                simhash(&join(&edited(&base, k, seed + 999))),
            )
        })
        .collect();
    ds.sort_unstable();
    ds
}

#[test]
fn pages_differing_by_a_few_sentences_are_near_duplicates() {
    let max = QualityPolicy::default().near_dup_max_distance;
    for k in [1usize, 3, 5, 10] {
        let ds = edit_distances(k, 50);
        eprintln!(
            "{k} of ~110 sentences changed: min {} median {} p90 {} max {}",
            ds[0], ds[25], ds[45], ds[49]
        );
    }
    // One changed sentence: always found.
    assert!(edit_distances(1, 50).iter().all(|&d| d <= max));
    // A few changed sentences: found on nearly every page.
    let three = edit_distances(3, 50);
    assert!(
        three.iter().filter(|&&d| d <= max).count() >= 48,
        "{three:?}"
    );
    assert!(three[25] <= 5, "{three:?}");
    // The measured page pair used as the example.
    let base = page(42, 2000);
    let copy = edited(&base, 3, 7);
    assert!(join(&base).split_whitespace().count() >= 2000);
    let d = hamming(simhash(&join(&base)), simhash(&join(&copy)));
    assert!(d <= max, "distance {d}");
}

#[test]
fn unrelated_pages_of_the_same_length_are_far_apart() {
    let hashes: Vec<u64> = (0..30u64)
        .map(|s| simhash(&join(&page(10_000 + s, 2000))))
        .collect();
    let mut ds = Vec::new();
    for i in 0..hashes.len() {
        for j in i + 1..hashes.len() {
            ds.push(hamming(hashes[i], hashes[j]));
        }
    }
    ds.sort_unstable();
    eprintln!(
        "unrelated pages ({} pairs): min {} p1 {} median {} max {}",
        ds.len(),
        ds[0],
        ds[ds.len() / 100],
        ds[ds.len() / 2],
        ds[ds.len() - 1]
    );
    assert!(ds[0] > 15, "closest unrelated pair at {} bits", ds[0]);
    assert!(ds[ds.len() / 2] >= 26);
}

#[test]
fn simhash_is_stable_and_ignores_case_punctuation_and_spacing() {
    let a = simhash("The quick brown fox jumps over the lazy dog.");
    assert_eq!(
        a,
        simhash("the QUICK brown, fox -- jumps\n\nover the   lazy dog")
    );
    // A fixed function of the text: the value must never change between builds, since
    // fingerprints are stored.
    assert_eq!(a, GOLDEN);
    assert_ne!(a, simhash("The quick brown fox jumps over the lazy cat."));
    assert_eq!(simhash(""), 0);
    assert_eq!(simhash(" ... !! "), 0);
    assert_ne!(simhash("hello"), 0);
    assert_ne!(simhash("hello"), simhash("world"));
}

/// Cross-checked with an independent Python implementation of the same definition.
const GOLDEN: u64 = 12_348_495_317_174_393_386;

#[test]
fn hamming_counts_differing_bits() {
    assert_eq!(hamming(0, 0), 0);
    assert_eq!(hamming(0b1011, 0b0001), 2);
    assert_eq!(hamming(u64::MAX, 0), 64);
}

#[test]
fn assess_fills_measurements_and_flags() {
    let policy = QualityPolicy::default();
    assert_eq!(policy.min_chars, 200);
    assert!((policy.link_ratio_threshold - 0.5).abs() < f32::EPSILON);

    let text = join(&page(1, 100));
    let flags = assess(&doc_of(&text, 0), &policy);
    assert!(!flags.near_empty && !flags.mostly_links);
    assert_eq!(flags.text_chars, text.chars().count());
    assert_eq!(flags.simhash, simhash(&text));
    assert_eq!(flags.link_ratio, 0.0);
    assert!(flags.duplicate_of.is_none() && flags.near_duplicate_of.is_none());

    let short = assess(&doc_of("Only a few words here.", 0), &policy);
    assert!(short.near_empty);
    let empty = assess(&ParsedDoc::default(), &policy);
    assert!(empty.near_empty && !empty.mostly_links);
    assert_eq!(
        (empty.text_chars, empty.simhash, empty.link_ratio),
        (0, 0, 0.0)
    );

    let chars = text.chars().count();
    let links = assess(&doc_of(&text, chars * 7 / 10), &policy);
    assert!(links.mostly_links);
    assert!((links.link_ratio - 0.7).abs() < 0.01);
    let some_links = assess(&doc_of(&text, chars / 2), &policy);
    assert!(!some_links.mostly_links);
    // More link characters than text (a parser counting differently) caps at 1.
    assert_eq!(assess(&doc_of(&text, chars * 2), &policy).link_ratio, 1.0);
}

#[test]
fn assess_hashes_the_whole_body_across_blocks() {
    let d = ParsedDoc {
        blocks: vec![
            Block::new(BlockKind::Heading { level: 1 }, "Title words here", vec![]),
            Block::new(BlockKind::Paragraph, "and the body text follows", vec![]),
        ],
        ..ParsedDoc::default()
    };
    let flags = assess(&d, &QualityPolicy::default());
    assert_eq!(
        flags.simhash,
        simhash("Title words here and the body text follows")
    );
}

#[test]
fn find_near_duplicate_returns_the_closest_within_distance() {
    let ids: Vec<DocumentId> = (0..4).map(|i| DocumentId(format!("doc-{i}"))).collect();
    let h = 0b1111_0000u64;
    let others = vec![
        (&ids[0], h ^ 0b111),     // 3 bits
        (&ids[1], h ^ 0b1),       // 1 bit
        (&ids[2], h ^ 0xff_0000), // 8 bits
        (&ids[3], !h),            // 64 bits
    ];
    assert_eq!(
        find_near_duplicate(h, others.clone(), 3),
        Some(ids[1].clone())
    );
    assert_eq!(find_near_duplicate(h, others.clone(), 0), None);
    assert_eq!(
        find_near_duplicate(h, others[2..].to_vec(), 10),
        Some(ids[2].clone())
    );
    assert_eq!(find_near_duplicate(h, others[3..].to_vec(), 32), None);
    // Ties go to the first candidate.
    let tie = vec![(&ids[0], h ^ 0b10), (&ids[1], h ^ 0b1)];
    assert_eq!(find_near_duplicate(h, tie, 3), Some(ids[0].clone()));
    // Pages without words (hash 0) never match.
    assert_eq!(find_near_duplicate(0, vec![(&ids[0], 0)], 3), None);
    assert_eq!(find_near_duplicate(0b1, vec![(&ids[0], 0)], 3), None);
    assert_eq!(
        find_near_duplicate(h, Vec::<(&DocumentId, u64)>::new(), 3),
        None
    );
}

#[test]
fn near_duplicate_pages_are_found_through_the_policy() {
    let policy = QualityPolicy::default();
    let base = join(&page(5, 2000));
    let copy = join(&edited(&page(5, 2000), 2, 77));
    let unrelated = join(&page(6, 2000));
    let (a, b, c) = (
        DocumentId("a".into()),
        DocumentId("b".into()),
        DocumentId("c".into()),
    );
    let h = assess(&doc_of(&copy, 0), &policy).simhash;
    let others = vec![
        (&c, simhash(&unrelated)),
        (&a, simhash(&base)),
        (&b, simhash(&unrelated)),
    ];
    assert_eq!(
        find_near_duplicate(h, others, policy.near_dup_max_distance),
        Some(a.clone())
    );
}
