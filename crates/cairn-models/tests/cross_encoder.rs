//! The cross-encoder path with a real BERT encoder: MiniLM's weights plus a classifier
//! head written here (no trained cross-encoder can be downloaded in this environment), so
//! the test checks loading, pair encoding, truncation and batching, not relevance.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use cairn_models::CrossEncoder;
use candle_core::{DType, Device, Tensor};

fn synthetic_cross_encoder(dir: &std::path::Path) {
    let minilm = support::model_dir("all-minilm-l6-v2");
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(minilm.join(f), dir.join(f)).unwrap();
    }
    let mut tensors =
        candle_core::safetensors::load(minilm.join("model.safetensors"), &Device::Cpu).unwrap();
    let w: Vec<f32> = (0..384)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 500.0)
        .collect();
    tensors.insert(
        "classifier.weight".into(),
        Tensor::from_vec(w, (1, 384), &Device::Cpu).unwrap(),
    );
    tensors.insert(
        "classifier.bias".into(),
        Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}

#[test]
fn scores_pairs_deterministically_in_any_batch() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_cross_encoder(dir.path());
    let ce = CrossEncoder::load(dir.path()).unwrap();
    let long = "vacuum reclaims storage ".repeat(400);
    let passages = [
        "VACUUM reclaims storage occupied by dead tuples.",
        "The weather is nice today.",
        long.as_str(),
    ];
    let all = ce.score("what does vacuum do", &passages).unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|s| s.is_finite()));
    for (i, p) in passages.iter().enumerate() {
        let one = ce.score("what does vacuum do", &[p]).unwrap();
        assert!(
            (one[0] - all[i]).abs() < 1e-4,
            "batching changed pair {i}: {} vs {}",
            one[0],
            all[i]
        );
    }
    assert_ne!(all[0], all[1], "different passages, same score");
    let again = ce.score("what does vacuum do", &passages).unwrap();
    assert_eq!(again, all);
}

#[test]
fn a_missing_model_is_not_installed() {
    let dir = tempfile::tempdir().unwrap();
    let err = CrossEncoder::load(dir.path()).err().unwrap();
    assert_eq!(err.code(), cairn_types::ErrorCode::NotFound);
    // Weights without a classifier head are refused with the reason.
    let minilm = support::model_dir("all-minilm-l6-v2");
    let err = CrossEncoder::load(&minilm).err().unwrap();
    assert!(err.to_string().contains("classifier"), "{err}");
}
