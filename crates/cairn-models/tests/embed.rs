#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
//! The candle MiniLM embedder against sentence-transformers: vectors recorded once from
//! the reference (`bench/reference/embed_fixture.py`) must be matched to cosine ≥ 0.999,
//! truncation must be reported, and batching must not change results.

mod support;

use cairn_models::Embedder;
use cairn_models::embed::cosine;
use serde_json::Value;

#[test]
fn matches_sentence_transformers_vectors() {
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(support::fixture("minilm_reference.json")).unwrap(),
    )
    .unwrap();
    let items = fixture["items"].as_array().unwrap();
    let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().unwrap()).collect();
    let out = support::minilm().embed(&texts).unwrap();
    let mut worst = 1.0f32;
    for (item, (vector, trunc)) in items.iter().zip(out.vectors.iter().zip(&out.truncation)) {
        let reference: Vec<f32> = item["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let cos = cosine(vector, &reference);
        worst = worst.min(cos);
        assert!(cos >= 0.999, "cos {cos} for {:?}", item["text"]);
        assert_eq!(
            trunc.kept_tokens as u64,
            item["tokens"].as_u64().unwrap(),
            "{:?}",
            item["text"]
        );
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
    eprintln!(
        "{} texts, worst cosine to sentence-transformers {worst:.6}",
        items.len()
    );
}

#[test]
fn known_pair_similarity_and_dimension() {
    let m = support::minilm();
    assert_eq!(m.dim(), 384);
    assert_eq!(m.max_tokens(), 256);
    let out = m
        .embed(&["A man is eating food.", "A man is eating a piece of bread."])
        .unwrap();
    let cos = cosine(&out.vectors[0], &out.vectors[1]);
    assert!((cos - 0.7553).abs() < 0.001, "{cos}");
}

#[test]
fn long_text_is_truncated_and_reported() {
    let long = "PostgreSQL uses multiversion concurrency control. ".repeat(60);
    let out = support::minilm().embed(&[long.as_str(), "short"]).unwrap();
    let t = out.truncation[0];
    assert!(t.truncated(), "{t:?}");
    assert_eq!(t.kept_tokens, 256);
    assert!(t.input_tokens > 400, "{t:?}");
    assert!(!out.truncation[1].truncated());
}

#[test]
fn batch_results_equal_one_by_one_results() {
    let m = support::minilm();
    let texts = [
        "vacuum reclaims storage",
        "a much longer sentence about write-ahead logging and checkpoints in PostgreSQL",
        "x",
    ];
    let batch = m.embed(&texts).unwrap();
    for (text, vector) in texts.iter().zip(&batch.vectors) {
        let alone = m.embed_one(text).unwrap();
        assert!(cosine(&alone, vector) > 0.99999, "{text}");
    }
    assert!(m.embed(&[]).unwrap().vectors.is_empty());
}
