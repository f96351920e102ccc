//! Shared helpers: the installed test models, loaded once per test binary.

#![allow(dead_code)]

use cairn_models::{BertEmbedder, EmbedderOptions, LocalGenerator, LocalOptions};
use std::path::PathBuf;
use std::sync::OnceLock;

/// `<models dir>/<name>`, or a panic that says how to install it (`scripts/fetch-models.sh`
/// takes the directory name as well as its short alias).
pub fn model_dir(name: &str) -> PathBuf {
    let dir = cairn_models::default_models_dir().join(name);
    assert!(
        dir.join("manifest.json").is_file(),
        "model {name} is not installed in {}; run scripts/fetch-models.sh {name}",
        dir.display()
    );
    dir
}

/// SmolLM2-135M-Instruct (the CI chat model), shared by the tests of one binary.
pub fn smollm2() -> LocalGenerator {
    static MODEL: OnceLock<LocalGenerator> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            LocalGenerator::load(
                &model_dir("smollm2-135m-instruct"),
                &LocalOptions::default(),
            )
            .expect("load SmolLM2")
        })
        .clone()
}

/// all-MiniLM-L6-v2.
pub fn minilm() -> &'static BertEmbedder {
    static MODEL: OnceLock<BertEmbedder> = OnceLock::new();
    MODEL.get_or_init(|| {
        BertEmbedder::load(&model_dir("all-minilm-l6-v2"), &EmbedderOptions::default())
            .expect("load MiniLM")
    })
}

/// The fixture file's path.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("tests/fixtures")
    .join(name)
}
