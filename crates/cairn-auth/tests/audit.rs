//! The audit hash chain: sealing, verification and every kind of tampering.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_auth::audit::{
    AuditEntry, GENESIS_HASH, canonical_json, entry_hash, seal_entry, verify_chain,
};
use serde_json::json;

fn chain(n: i64) -> Vec<AuditEntry> {
    let mut out: Vec<AuditEntry> = Vec::new();
    for i in 1..=n {
        let entry = seal_entry(
            out.last(),
            1_700_000_000_000 + i,
            "acme",
            &format!("key:k{i}"),
            "documents.delete",
            &format!("doc-{i}"),
            "ok",
            json!({"i": i, "size": 1.5, "tags": ["a", "b"], "nested": {"z": true, "a": null}}),
        );
        out.push(entry);
    }
    out
}

#[test]
fn sealed_chain_verifies() {
    let entries = chain(5);
    assert_eq!(entries[0].seq, 1);
    assert_eq!(entries[0].prev_hash, GENESIS_HASH);
    assert_eq!(GENESIS_HASH.len(), 64);
    assert!(GENESIS_HASH.bytes().all(|b| b == b'0'));
    for pair in entries.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let head = entries.last().unwrap().clone();
    let report = verify_chain(entries.clone(), None);
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checked, 5);
    assert_eq!(report.head_seq, 5);
    assert_eq!(report.head_hash, head.hash);
    let report = verify_chain(entries, Some((5, head.hash.as_str())));
    assert!(report.is_intact(), "{report:?}");
}

#[test]
fn empty_chain() {
    let report = verify_chain(Vec::new(), None);
    assert!(report.is_intact());
    assert_eq!((report.checked, report.head_seq), (0, 0));
    assert_eq!(report.head_hash, GENESIS_HASH);
    assert!(verify_chain(Vec::new(), Some((0, GENESIS_HASH))).is_intact());
    let report = verify_chain(Vec::new(), Some((3, "abc")));
    assert_eq!(report.broken.unwrap().seq, 1);
}

#[test]
fn edited_row_is_detected() {
    let mut entries = chain(5);
    entries[2].actor = "key:someone-else".into();
    let report = verify_chain(entries, None);
    let broken = report.broken.unwrap();
    assert_eq!(broken.seq, 3);
    assert!(broken.reason.contains("modified"), "{}", broken.reason);
    assert_eq!(report.checked, 2);
    assert_eq!(report.head_seq, 2);

    let mut entries = chain(3);
    entries[1].detail["i"] = json!(99);
    assert_eq!(verify_chain(entries, None).broken.unwrap().seq, 2);

    let mut entries = chain(3);
    entries[0].at += 1;
    assert_eq!(verify_chain(entries, None).broken.unwrap().seq, 1);
}

#[test]
fn edited_row_with_recomputed_hash_breaks_the_next_link() {
    let mut entries = chain(5);
    entries[2].outcome = "denied".into();
    entries[2].hash = entries[2].compute_hash();
    let broken = verify_chain(entries, None).broken.unwrap();
    assert_eq!(broken.seq, 4);
    assert!(broken.reason.contains("does not link"), "{}", broken.reason);
}

#[test]
fn deleted_rows_are_gaps() {
    let mut entries = chain(5);
    entries.remove(2);
    let report = verify_chain(entries, None);
    let broken = report.broken.unwrap();
    assert_eq!(broken.seq, 3);
    assert!(broken.reason.contains("gap"), "{}", broken.reason);
    assert_eq!(report.checked, 2);

    let mut entries = chain(3);
    entries.remove(0);
    let broken = verify_chain(entries, None).broken.unwrap();
    assert_eq!(broken.seq, 1);
    assert!(broken.reason.contains("instead of 1"), "{}", broken.reason);
}

#[test]
fn renumbered_rows_after_a_deletion_are_detected() {
    // Delete row 3 and renumber 4,5 to 3,4 (keeping their hashes): the seq is hashed.
    let mut entries = chain(5);
    entries.remove(2);
    entries[2].seq = 3;
    entries[3].seq = 4;
    let broken = verify_chain(entries, None).broken.unwrap();
    assert_eq!(broken.seq, 3);
}

#[test]
fn reordered_and_duplicated_rows_are_detected() {
    let mut entries = chain(4);
    entries.swap(1, 2);
    assert_eq!(verify_chain(entries, None).broken.unwrap().seq, 2);

    let mut entries = chain(3);
    let dup = entries[1].clone();
    entries.insert(2, dup);
    let broken = verify_chain(entries, None).broken.unwrap();
    assert!(broken.reason.contains("duplicate"), "{}", broken.reason);
}

#[test]
fn tail_truncation_needs_the_anchor() {
    let entries = chain(5);
    let head = entries.last().unwrap().clone();
    let truncated: Vec<_> = entries[..3].to_vec();
    assert!(
        verify_chain(truncated.clone(), None).is_intact(),
        "a chain alone cannot tell"
    );
    let report = verify_chain(truncated, Some((head.seq, head.hash.as_str())));
    let broken = report.broken.unwrap();
    assert_eq!(broken.seq, 4);
    assert!(broken.reason.contains("truncated"), "{}", broken.reason);
    assert_eq!(report.head_seq, 3);
}

#[test]
fn rewritten_tail_is_caught_by_the_anchor() {
    let entries = chain(5);
    let head = entries.last().unwrap().clone();
    // Truncate to 3 and append two forged, correctly chained entries.
    let mut forged: Vec<_> = entries[..3].to_vec();
    for i in 0..2 {
        let next = seal_entry(
            forged.last(),
            1,
            "acme",
            "attacker",
            "noop",
            "",
            "ok",
            json!(i),
        );
        forged.push(next);
    }
    assert!(verify_chain(forged.clone(), None).is_intact());
    let broken = verify_chain(forged, Some((5, head.hash.as_str())))
        .broken
        .unwrap();
    assert_eq!(broken.seq, 5);
    assert!(broken.reason.contains("rewritten"), "{}", broken.reason);
}

#[test]
fn entries_after_the_anchor_are_accepted() {
    let entries = chain(6);
    let anchor = entries[3].clone();
    let report = verify_chain(entries, Some((anchor.seq, anchor.hash.as_str())));
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.head_seq, 6);
}

#[test]
fn round_trip_through_json_keeps_the_chain_valid() {
    let entries = chain(4);
    let text = serde_json::to_string(&entries).unwrap();
    let back: Vec<AuditEntry> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, entries);
    assert!(verify_chain(back, None).is_intact());
}

#[test]
fn canonical_json_sorts_keys_recursively() {
    let a = json!({"b": 1, "a": [{"d": 1, "c": "x\"y"}], "é": null});
    assert_eq!(
        canonical_json(&a),
        r#"{"a":[{"c":"x\"y","d":1}],"b":1,"é":null}"#
    );
    let mut m1 = serde_json::Map::new();
    m1.insert("z".into(), json!(1));
    m1.insert("a".into(), json!(2));
    let mut m2 = serde_json::Map::new();
    m2.insert("a".into(), json!(2));
    m2.insert("z".into(), json!(1));
    let h = |d: &serde_json::Value| entry_hash(GENESIS_HASH, 1, 0, "t", "a", "x", "", "ok", d);
    assert_eq!(h(&m1.into()), h(&m2.into()));
}

#[test]
fn encoding_is_unambiguous_and_stable() {
    let d = json!({});
    let h1 = entry_hash(GENESIS_HASH, 1, 0, "acme", "ab", "c", "t", "ok", &d);
    let h2 = entry_hash(GENESIS_HASH, 1, 0, "acme", "a", "bc", "t", "ok", &d);
    let h3 = entry_hash(GENESIS_HASH, 1, 0, "acme", "", "abc", "t", "ok", &d);
    assert_ne!(h1, h2);
    assert_ne!(h2, h3);
    assert_ne!(
        h1,
        entry_hash(GENESIS_HASH, 2, 0, "acme", "ab", "c", "t", "ok", &d)
    );
    assert_ne!(
        h1,
        entry_hash(
            GENESIS_HASH,
            1,
            0,
            "acme",
            "ab",
            "c",
            "t",
            "ok",
            &json!(null)
        )
    );
    assert_eq!(h1.len(), 64);
    assert!(
        h1.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    // Pinned: changing the encoding would orphan every stored chain.
    assert_eq!(h1, KNOWN_HASH);
}

/// Computed independently (Python: hashlib over the documented encoding).
const KNOWN_HASH: &str = "22b2adaefc77ac602846a882fe39804e959fd500080d27449ae46982c2cd37fd";
