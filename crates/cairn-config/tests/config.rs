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

#[test]
fn the_model_registry_resolves_names_and_refuses_what_would_not() {
    use cairn_config::{ModelRef, RouteStrategy};
    let text = r#"
[models]
generator = "main"
judge = "big"
[[models.remote]]
name = "big"
base_url = "https://api.example.com/v1"
headers = { OpenAI-Organization = "org-1" }
max_concurrent = 4
input_price_per_mtok = 2.5
[[models.remote]]
name = "small"
base_url = "http://127.0.0.1:8000/v1"
model = "served-small"
[[models.routes]]
name = "main"
strategy = "fallback"
targets = ["small", "big"]
"#;
    let (c, _) = load_from_str(text, "t", &[]).unwrap();
    assert!(
        matches!(c.model_ref("main"), ModelRef::Route(r) if r.strategy == RouteStrategy::Fallback && r.targets == ["small", "big"])
    );
    assert!(
        matches!(c.model_ref("big"), ModelRef::Remote(m) if m.model == "big" && m.max_concurrent == 4 && m.first_token_timeout_ms == 60_000)
    );
    assert!(matches!(c.model_ref("small"), ModelRef::Remote(m) if m.model == "served-small"));
    assert!(matches!(
        c.model_ref("qwen2.5-coder-1.5b-instruct"),
        ModelRef::Local
    ));
    assert_eq!(c.judge_model(), "big");
    assert_eq!(
        c.rewriter_model(),
        "main",
        "an unset role is the generator's"
    );
    assert!(!c.is_local("main") && c.is_local("some-local-dir"));
    assert_eq!(c.circuit_breaker.consecutive_failures, 5);
    assert!(!c.cache.exact, "the answer cache is opt-in");
    assert_eq!((c.cache.max_entries, c.cache.ttl_secs), (1000, 3600));
    let env = vars(&[("CAIRN_CACHE__EXACT", "true")]);
    assert!(load_from_str(text, "t", &env).unwrap().0.cache.exact);
    assert_eq!(
        invalid_key(load_from_str("[cache]\nttl_secs = 0\n", "t", &[])),
        "cache.ttl_secs"
    );

    let bad = |extra: &str| invalid_key(load_from_str(&format!("{text}{extra}"), "t", &[]));
    assert_eq!(
        bad("[[models.routes]]\nname = \"r2\"\nstrategy = \"random\"\ntargets = [\"big\"]\n"),
        "models.routes[1].strategy"
    );
    assert_eq!(
        bad("[[models.routes]]\nname = \"r2\"\nstrategy = \"fallback\"\ntargets = [\"nope\"]\n"),
        "models.routes[1].targets",
        "an unknown target"
    );
    assert_eq!(
        bad("[[models.routes]]\nname = \"r2\"\nstrategy = \"fallback\"\ntargets = [\"main\"]\n"),
        "models.routes[1].targets",
        "routes do not nest"
    );
    assert_eq!(
        bad("[[models.routes]]\nname = \"big\"\nstrategy = \"fallback\"\ntargets = [\"small\"]\n"),
        "models.routes[1]",
        "a taken name"
    );
    assert_eq!(
        bad(
            "[[models.remote]]\nname = \"x\"\nbase_url = \"http://h/v1\"\nheaders = { Authorization = \"Bearer k\" }\n"
        ),
        "models.remote[2].headers"
    );
    assert_eq!(
        bad(
            "[[models.remote]]\nname = \"x\"\nbase_url = \"http://h/v1\"\nfirst_token_timeout_ms = 0\n"
        ),
        "models.remote[2].first_token_timeout_ms"
    );
    assert_eq!(
        bad("[models.circuit_breaker]\nerror_rate = 1.5\n"),
        "models.circuit_breaker.error_rate"
    );
    let cascade =
        "[[models.routes]]\nname = \"c\"\nstrategy = \"cascade\"\ntargets = [\"small\", \"big\"]\n";
    let (c2, _) = load_from_str(&format!("{text}{cascade}"), "t", &[]).unwrap();
    assert!(
        matches!(c2.model_ref("c"), ModelRef::Route(r) if r.strategy == RouteStrategy::Cascade && r.escalate_below == 0.5)
    );
    assert_eq!(
        bad(&format!("{cascade}escalate_below = 0\n")),
        "models.routes[1].escalate_below"
    );
}

#[test]
fn the_postgres_backend_needs_a_url_and_never_shows_its_password() {
    use cairn_config::StoreBackend;
    assert_eq!(
        invalid_key(load_from_str("[store]\nbackend = \"postgres\"", "t", &[])),
        "store.url"
    );
    assert_eq!(
        invalid_key(load_from_str(
            "[store]\nbackend = \"postgres\"\nurl = \"mysql://x\"",
            "t",
            &[]
        )),
        "store.url"
    );
    assert_eq!(
        invalid_key(load_from_str("[store]\nbackend = \"oracle\"", "t", &[])),
        "store.backend"
    );
    let env = vars(&[
        ("CAIRN_STORE__BACKEND", "postgres"),
        (
            "CAIRN_STORE__URL",
            "postgres://cairn:s3cret@db.internal:5432/cairn?application_name=x",
        ),
    ]);
    let (c, applied) = load_from_str("", "t", &env).unwrap();
    assert_eq!(applied.len(), 2);
    assert_eq!(c.store_backend, StoreBackend::Postgres);
    assert!(
        c.store_url.contains("s3cret"),
        "the store gets the real URL"
    );
    let shown = serde_json::to_string(&c).unwrap();
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains("postgres://cairn:***@db.internal:5432/cairn?application_name=x"),
        "{shown}"
    );
    assert_eq!(
        cairn_config::redact_url_password("postgres://u@h/d"),
        "postgres://u@h/d"
    );
    assert_eq!(
        cairn_config::redact_url_password("postgres://u:p@ss@h/d"),
        "postgres://u:***@h/d"
    );
}

#[test]
fn searching_in_postgres_needs_the_postgres_store() {
    for (key, value) in [
        ("dense_backend", "pgvector"),
        ("lexical_backend", "postgres"),
    ] {
        assert_eq!(
            invalid_key(load_from_str(
                &format!("[retrieval]\n{key} = \"{value}\"\n"),
                "t",
                &[]
            )),
            format!("retrieval.{key}")
        );
    }
    assert_eq!(
        invalid_key(load_from_str(
            "[retrieval]\ndense_backend = \"faiss\"\n",
            "t",
            &[]
        )),
        "retrieval.dense_backend"
    );
    let (c, _) = load_from_str(
        "[store]\nbackend = \"postgres\"\nurl = \"postgres://u@h/d\"\n\n\
         [retrieval]\ndense_backend = \"pgvector\"\nlexical_backend = \"postgres\"\n",
        "t",
        &[],
    )
    .unwrap();
    assert!(c.retrieval.dense_in_store() && c.retrieval.lexical_in_store());
    let (c, _) = load_from_str("", "t", &[]).unwrap();
    assert_eq!(
        (
            c.retrieval.dense_backend.as_str(),
            c.retrieval.lexical_backend.as_str()
        ),
        ("usearch", "tantivy")
    );
}
