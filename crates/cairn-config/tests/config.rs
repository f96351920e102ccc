#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // tests fail loudly and explain themselves
use cairn_config::{Error, load_from_str};

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn invalid_key(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::Invalid { key, .. }) => key,
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn defaults_are_documented_values() {
    let (c, applied) = load_from_str("data_dir = \"/tmp/cairn-x\"", "t", &[]).unwrap();
    assert!(applied.is_empty());
    assert_eq!(c.chunking.max_tokens, 512);
    assert_eq!(c.chunking.overlap_tokens, 64);
    assert_eq!(c.ingest.max_attempts, 3);
    assert_eq!(
        c.store_path,
        std::path::PathBuf::from("/tmp/cairn-x/cairn.db")
    );
    assert_eq!(c.tenant.as_str(), "default");
}

#[test]
fn env_overrides_file_values() {
    let text = "[ingest]\nworkers = 3\n[chunking]\nstrategy = \"sliding\"\n";
    let env = vars(&[
        ("CAIRN_INGEST__WORKERS", "7"),
        ("CAIRN_INGEST__QUALITY__MIN_CHARS", "50"),
        ("CAIRN_CHUNKING__STRATEGY", "structure"),
        ("CAIRN_DATA_DIR", "/srv/cairn"),
        ("CAIRN_CONFIG", "/ignored.toml"),
        ("UNRELATED", "x"),
    ]);
    let (c, applied) = load_from_str(text, "t", &env).unwrap();
    assert_eq!(c.ingest.workers, 7);
    assert_eq!(c.ingest.quality.min_chars, 50);
    assert_eq!(c.chunking.kind, cairn_types::ChunkerKind::Structure);
    assert_eq!(c.data_dir, std::path::PathBuf::from("/srv/cairn"));
    assert_eq!(applied.len(), 4);
}

#[test]
fn validation_errors_name_the_key() {
    assert_eq!(
        invalid_key(load_from_str("[ingest]\nworkers = 0", "t", &[])),
        "ingest.workers"
    );
    assert_eq!(
        invalid_key(load_from_str("[chunking]\noverlap_tokens = 600", "t", &[])),
        "chunking.overlap_tokens"
    );
    assert_eq!(
        invalid_key(load_from_str("[chunking]\nstrategy = \"magic\"", "t", &[])),
        "chunking.strategy"
    );
    assert_eq!(
        invalid_key(load_from_str(
            "[ingest.quality]\nlink_ratio_threshold = 2.0",
            "t",
            &[]
        )),
        "ingest.quality.link_ratio_threshold"
    );
    assert_eq!(
        invalid_key(load_from_str("tenant = \"Bad Tenant\"", "t", &[])),
        "tenant"
    );
    // Type errors and unknown keys name their path too.
    assert_eq!(
        invalid_key(load_from_str("[ingest]\nworkers = \"many\"", "t", &[])),
        "ingest.workers"
    );
    let key = invalid_key(load_from_str("[ingest]\nwrokers = 2", "t", &[]));
    assert!(key.starts_with("ingest"), "{key}");
    let env = vars(&[("CAIRN_INGEST__MAX_ATTEMPTS", "0")]);
    assert_eq!(
        invalid_key(load_from_str("", "t", &env)),
        "ingest.max_attempts"
    );
}

#[test]
fn malformed_toml_is_a_parse_error_naming_the_file() {
    let err = load_from_str("[ingest\nworkers = 1", "my.toml", &[]).unwrap_err();
    assert!(matches!(err, Error::Parse { .. }));
    assert!(err.to_string().starts_with("my.toml:"), "{err}");
}

#[test]
fn model_settings_have_defaults_paths_and_checks() {
    let text = "[models]\ndir = \"/m\"\n";
    let (c, _) = load_from_str(text, "t", &[]).unwrap();
    assert_eq!(c.generator, "qwen2.5-coder-1.5b-instruct");
    assert_eq!(c.max_context, 8192);
    assert_eq!(c.requant, "q8_0");
    assert_eq!(c.backend, "llama.cpp");
    assert_eq!(
        c.generator_path(),
        std::path::PathBuf::from("/m/qwen2.5-coder-1.5b-instruct")
    );
    assert_eq!(
        c.model_path("/opt/x.gguf"),
        std::path::PathBuf::from("/opt/x.gguf")
    );
    let env = vars(&[("CAIRN_MODELS__REQUANT", "f32")]);
    assert_eq!(load_from_str(text, "t", &env).unwrap().0.requant, "f32");
    assert_eq!(
        invalid_key(load_from_str("[models]\nrequant = \"q2\"", "t", &[])),
        "models.requant"
    );
    let env = vars(&[("CAIRN_MODELS__BACKEND", "candle")]);
    assert_eq!(load_from_str(text, "t", &env).unwrap().0.backend, "candle");
    assert_eq!(
        invalid_key(load_from_str("[models]\nbackend = \"onnx\"", "t", &[])),
        "models.backend"
    );
    assert_eq!(
        invalid_key(load_from_str("[models]\nmax_context = 10", "t", &[])),
        "models.max_context"
    );
    assert_eq!(
        invalid_key(load_from_str("[models]\ngenerator = \" \"", "t", &[])),
        "models.generator"
    );
}
