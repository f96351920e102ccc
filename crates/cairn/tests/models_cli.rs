//! `cairn generate` and `cairn embed` as a user runs them, on the CI models (SmolLM2,
//! MiniLM).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::cairn;

const SMOL: &str = "smollm2-135m-instruct";

#[test]
fn generate_streams_a_greedy_continuation_and_reports_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cairn(
        tmp.path(),
        &[
            "generate",
            "--model",
            SMOL,
            "--raw",
            "--temperature",
            "0",
            "--max-tokens",
            "6",
            "The capital of France is",
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Paris"));
    let stats = String::from_utf8_lossy(&out.stderr);
    assert!(
        stats.contains("5 prompt tokens") && stats.contains("6 generated"),
        "{stats}"
    );
}

#[test]
fn generate_json_with_a_schema_and_logprobs() {
    let tmp = tempfile::tempdir().unwrap();
    let schema =
        r#"{"type":"object","properties":{"answer":{"enum":["yes","no"]}},"required":["answer"]}"#;
    let out = cairn(
        tmp.path(),
        &[
            "--json",
            "generate",
            "--model",
            SMOL,
            "--temperature",
            "0",
            "--json-schema",
            schema,
            "--logprobs",
            "2",
            "--seed",
            "5",
            "Is SQL declarative?",
        ],
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let answer: serde_json::Value = serde_json::from_str(v["text"].as_str().unwrap()).unwrap();
    assert!(
        answer["answer"] == "yes" || answer["answer"] == "no",
        "{answer}"
    );
    assert_eq!(v["seed"], 5);
    assert_eq!(v["finish_reason"], "stop");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 5);
    // Alternatives are the tokens the schema allows: one where it forces a token.
    for t in v["tokens"].as_array().unwrap() {
        let alts = t["top_logprobs"].as_array().unwrap();
        assert!((1..=2).contains(&alts.len()), "{t}");
        assert_eq!(alts[0]["token_id"], t["token_id"]);
    }
}

#[test]
fn generate_errors_carry_stable_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let bad_schema = cairn(
        tmp.path(),
        &[
            "generate",
            "--model",
            SMOL,
            "--json-schema",
            "{not json",
            "hi",
        ],
    );
    assert!(!bad_schema.status.success());
    assert!(String::from_utf8_lossy(&bad_schema.stderr).contains("[invalid_input]"));
    let missing = cairn(tmp.path(), &["generate", "--model", "no-such-model", "hi"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("[not_found]"));
    let hot = cairn(
        tmp.path(),
        &["generate", "--model", SMOL, "--temperature", "9", "hi"],
    );
    assert!(String::from_utf8_lossy(&hot.stderr).contains("[invalid_input] temperature"));
}

#[test]
fn embed_prints_unit_vectors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cairn(tmp.path(), &["--json", "embed", "vacuum", "analyze"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dim"], 384);
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let e: Vec<f64> = data[0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(e.len(), 384);
    let norm: f64 = e.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
}
