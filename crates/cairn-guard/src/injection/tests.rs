#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn score(text: &str) -> InjectionScore {
    InjectionDetector::new().score(text)
}

fn flagged(text: &str) -> bool {
    score(text).is_injection(DEFAULT_THRESHOLD)
}

#[test]
fn patterns_compile() {
    assert_eq!(COMPILED.len(), patterns::FEATURES.len() + patterns::CASED_FEATURES.len());
}

/// Dev aid: `GUARD_EVAL=/path/cases.jsonl cargo test -p cairn-guard dump_eval -- --nocapture`
#[test]
#[allow(clippy::print_stdout)]
fn dump_eval() {
    let Ok(path) = std::env::var("GUARD_EVAL") else { return };
    let data = std::fs::read_to_string(path).unwrap();
    let det = InjectionDetector::new();
    let (mut tp, mut fp, mut pos, mut neg) = (0, 0, 0, 0);
    for line in data.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = v["text"].as_str().unwrap();
        let label = v["label"].as_i64().unwrap() == 1;
        let s = det.score(text);
        let hit = s.is_injection(DEFAULT_THRESHOLD);
        if label { pos += 1; if hit { tp += 1 } } else { neg += 1; if hit { fp += 1 } }
        if hit != label || std::env::var("GUARD_ALL").is_ok() {
            let t: String = text.chars().take(150).collect();
            println!("{} {:.2} {:?}\n    {}", if label { "MISS" } else { "FP  " }, s.score, s.signals.iter().map(|s| (s.name, s.weight)).collect::<Vec<_>>(), t.replace('\n', "\\n"));
        }
    }
    println!("TPR {}/{} FPR {}/{}", tp, pos, fp, neg);
}
