//! The audit log's hash chain. Storage lives elsewhere; this module is the math.
//!
//! Each entry's `hash` is SHA-256 over the previous entry's hash and every field of the
//! entry, so editing, deleting or reordering any row breaks every later link. The
//! encoding is unambiguous: a domain tag, then each field as a big-endian u64 length
//! followed by its bytes (`seq` and `at` as 8-byte big-endian integers), with `detail`
//! rendered as canonical JSON (object keys sorted, no whitespace), so the hash does not
//! depend on how a database round-trips JSON.
//!
//! A chain alone cannot reveal that its newest rows were cut off (the shorter chain is
//! still valid). Keeping the head `(seq, hash)` somewhere else (a metrics system, a
//! log line, a second database) and passing it to [`verify_chain`] as an anchor closes
//! that gap.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN: &[u8] = b"cairn-audit-v1";

/// One row of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3, ... per chain, without gaps.
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// Tenant the action happened in.
    pub tenant: String,
    /// Who did it (`key:<lookup>`, `user:<sub>`, `system`).
    pub actor: String,
    /// What (`keys.create`, `documents.delete`, ...).
    pub action: String,
    /// On what (an id, a name; empty when not applicable).
    pub target: String,
    /// `ok`, `denied`, `error`, ...
    pub outcome: String,
    /// Anything else, as JSON.
    pub detail: Value,
    /// The previous entry's `hash` ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// [`entry_hash`] of this entry.
    pub hash: String,
}

impl AuditEntry {
    /// Recomputes this entry's hash from its fields (ignoring the stored `hash`).
    pub fn compute_hash(&self) -> String {
        entry_hash(
            &self.prev_hash,
            self.seq,
            self.at,
            &self.tenant,
            &self.actor,
            &self.action,
            &self.target,
            &self.outcome,
            &self.detail,
        )
    }
}

/// Renders JSON canonically: object keys sorted by their UTF-8 bytes, no whitespace,
/// strings and numbers as serde_json writes them.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn put(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

/// SHA-256 (lowercase hex) over the length-prefixed encoding of an entry.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at: i64,
    tenant: &str,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    detail: &Value,
) -> String {
    let mut hasher = Sha256::new();
    put(&mut hasher, DOMAIN);
    put(&mut hasher, prev_hash.as_bytes());
    put(&mut hasher, &seq.to_be_bytes());
    put(&mut hasher, &at.to_be_bytes());
    for field in [tenant, actor, action, target, outcome] {
        put(&mut hasher, field.as_bytes());
    }
    put(&mut hasher, canonical_json(detail).as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Builds the entry that follows `prev` (or the first entry when `prev` is `None`).
#[allow(clippy::too_many_arguments)]
pub fn seal_entry(
    prev: Option<&AuditEntry>,
    at: i64,
    tenant: &str,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    detail: Value,
) -> AuditEntry {
    let (seq, prev_hash) = match prev {
        Some(p) => (p.seq + 1, p.hash.clone()),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let mut entry = AuditEntry {
        seq,
        at,
        tenant: tenant.to_owned(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        outcome: outcome.to_owned(),
        detail,
        prev_hash,
        hash: String::new(),
    };
    entry.hash = entry.compute_hash();
    entry
}

/// The result of [`verify_chain`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainReport {
    /// Entries that verified before the first break (all of them when intact).
    pub checked: usize,
    /// The last verified entry's seq (0 when none).
    pub head_seq: i64,
    /// The last verified entry's hash ([`GENESIS_HASH`] when none).
    pub head_hash: String,
    /// The first problem found, if any.
    pub broken: Option<ChainBreak>,
}

impl ChainReport {
    /// Whether no problem was found.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Where and why a chain failed verification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainBreak {
    /// The seq at which the chain is broken (the expected seq for gaps and truncation).
    pub seq: i64,
    /// What is wrong, for people.
    pub reason: String,
}

/// Verifies entries given in seq order (all of a chain, from seq 1).
///
/// Checks that seqs start at 1 and are contiguous (a gap means deleted rows), that each
/// `prev_hash` is the previous entry's `hash`, and that each stored hash matches the
/// recomputed one (an edited row). With `anchor = Some((seq, hash))`, a head recorded
/// elsewhere, the chain must reach `seq` and its entry there must have `hash` (tail
/// truncation, or a rewritten tail). Entries after the anchor are accepted: they were
/// appended after the anchor was taken, and their links are checked like any other.
pub fn verify_chain<I: IntoIterator<Item = AuditEntry>>(
    entries: I,
    anchor: Option<(i64, &str)>,
) -> ChainReport {
    let mut report = ChainReport {
        checked: 0,
        head_seq: 0,
        head_hash: GENESIS_HASH.to_owned(),
        broken: None,
    };
    for entry in entries {
        let expected = report.head_seq + 1;
        let problem = if entry.seq != expected {
            Some(if entry.seq < expected {
                format!(
                    "entry seq {} appears after seq {} (duplicate or out of order)",
                    entry.seq, report.head_seq
                )
            } else if report.head_seq == 0 {
                format!(
                    "chain starts at seq {} instead of 1: entries 1..{} are missing",
                    entry.seq,
                    entry.seq - 1
                )
            } else {
                format!(
                    "gap: seq {} follows seq {}: entries {}..{} are missing",
                    entry.seq,
                    report.head_seq,
                    expected,
                    entry.seq - 1
                )
            })
        } else if entry.prev_hash != report.head_hash {
            Some(format!(
                "entry {} does not link to entry {}: prev_hash differs",
                entry.seq, report.head_seq
            ))
        } else if entry.compute_hash() != entry.hash {
            Some(format!(
                "entry {} was modified: its hash does not match its contents",
                entry.seq
            ))
        } else {
            None
        };
        if let Some(reason) = problem {
            report.broken = Some(ChainBreak {
                seq: expected,
                reason,
            });
            return report;
        }
        if let Some((anchor_seq, anchor_hash)) = anchor
            && entry.seq == anchor_seq
            && entry.hash != anchor_hash
        {
            report.broken = Some(ChainBreak {
                seq: entry.seq,
                reason: format!(
                    "entry {} differs from the recorded head: the chain was rewritten",
                    entry.seq
                ),
            });
            return report;
        }
        report.checked += 1;
        report.head_seq = entry.seq;
        report.head_hash = entry.hash;
    }
    if let Some((anchor_seq, anchor_hash)) = anchor {
        if anchor_seq <= 0 {
            // An anchor taken of an empty chain.
            if anchor_hash != GENESIS_HASH {
                report.broken = Some(ChainBreak {
                    seq: 1,
                    reason: format!("the recorded head (seq {anchor_seq}) is not the genesis hash"),
                });
            }
        } else if report.head_seq < anchor_seq {
            report.broken = Some(ChainBreak {
                seq: report.head_seq + 1,
                reason: format!(
                    "truncated: the chain ends at seq {} but the recorded head is seq {anchor_seq}",
                    report.head_seq
                ),
            });
        }
    }
    report
}
