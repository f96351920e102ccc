//! `cairn migrate --from-sqlite FILE` end to end: an embedded installation (documents
//! ingested with the local embedder, an API key and its audit entry) moves into a
//! PostgreSQL database that was never migrated; afterwards `cairn search`, `cairn docs
//! list` and `cairn audit verify` give on PostgreSQL what they gave on SQLite, from the
//! same data directory (whose index files stay in step: change sequence numbers are
//! kept) and from a fresh one (which builds its index from the store). A second move
//! into the now non-empty database is refused, as is the flag without PostgreSQL
//! configured.
//!
//! Needs a PostgreSQL server (`CAIRN_TEST_PG_URL`; scripts/test.sh starts one) and the
//! embedder in the model cache.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::{cairn, json};
use std::path::Path;
use std::process::{Command, Output};

const PAGES: [(&str, &str); 3] = [
    (
        "harbor.md",
        "# Harbor\n\nThe Port of Valdermoor handles grain and timber. Its lighthouse keeper \
         is called Ingrid Sandvik.\n",
    ),
    (
        "ferries.md",
        "# Ferries\n\nThe Valdermoor ferry to Østerholm leaves at quarter past seven; the \
         crossing takes ninety minutes on the MS Tern.\n",
    ),
    (
        "market.md",
        "# Market\n\nThe fish market opens at five in the morning on weekdays and sells \
         cod, herring and king crab by the kilo.\n",
    ),
];

const QUERIES: [&str; 3] = [
    "who keeps the lighthouse",
    "how long is the ferry crossing",
    "when does the fish market open",
];

/// `cairn ARGS` in `home` on the PostgreSQL database `url`.
fn cairn_pg(home: &Path, url: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .env("CAIRN_DATA_DIR", home.join("data"))
        .env("CAIRN_STORE__BACKEND", "postgres")
        .env("CAIRN_STORE__URL", url)
        .env_remove("CAIRN_CONFIG")
        .current_dir(home)
        .args(args)
        .output()
        .unwrap();
    eprintln!(
        "$ cairn {} (on PostgreSQL)\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What an installation answers: the documents (every field) and, per query, the hits'
/// sources and texts.
fn answers(run: impl Fn(&[&str]) -> Output) -> serde_json::Value {
    let docs = json(&run(&["--json", "docs", "list"]));
    let hits: Vec<serde_json::Value> = QUERIES
        .iter()
        .map(|q| {
            let v = json(&run(&["--json", "search", q, "-c", "kb", "-k", "3"]));
            v["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| serde_json::json!([h["source"], h["text"]]))
                .collect()
        })
        .collect();
    serde_json::json!({"docs": docs, "hits": hits})
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_embedded_installation_moves_to_postgres_and_answers_the_same() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(h.join("cairn.toml"), "[ingest.quality]\nmin_chars = 10\n").unwrap();
    std::fs::create_dir(h.join("kb")).unwrap();
    for (name, text) in PAGES {
        std::fs::write(h.join("kb").join(name), text).unwrap();
    }
    assert!(cairn(h, &["ingest", "kb", "-c", "kb"]).status.success());
    common::new_key(h, "default", "viewer", None);
    let on_sqlite = answers(|args| cairn(h, args));
    assert_eq!(on_sqlite["docs"].as_array().unwrap().len(), 3);
    let audit = json(&cairn(h, &["--json", "audit", "verify"]));
    assert!(audit["checked"].as_u64().unwrap() >= 1, "{audit}");

    // A database nobody migrated yet: the move applies the schema first.
    let admin = std::env::var(cairn_store::testing::PG_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "CAIRN_TEST_PG_URL is not set: run scripts/test.sh, or `export \
             CAIRN_TEST_PG_URL=$(scripts/postgres.sh start | tail -n 1)`"
        )
    });
    let name = format!("cairn_migrate_cli_{}", std::process::id());
    let url = cairn_store::create_database(&admin, &name).unwrap();
    let file = h.join("data/cairn.db");
    let file = file.to_str().unwrap();
    let out = cairn_pg(h, &url, &["--json", "migrate", "--from-sqlite", file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let every: Vec<i64> = (1..=cairn_store::POSTGRES_SCHEMA_VERSION).collect();
    assert_eq!(report["migrations_applied"], serde_json::json!(every));
    assert_eq!(report["tables"]["documents"], 3);
    assert!(report["tables"]["chunks"].as_u64().unwrap() >= 3);
    assert_eq!(report["tables"]["api_keys"], 1);
    assert_eq!(report["audit"]["checked"], audit["checked"]);
    assert_eq!(report["audit"]["head_hash"], audit["head_hash"]);
    assert!(report["audit"]["broken"].is_null());

    // Same data directory: its index files follow the copied change log.
    assert_eq!(answers(|args| cairn_pg(h, &url, args)), on_sqlite);
    // A new node: it builds its index from the store.
    let node = tempfile::tempdir().unwrap();
    assert_eq!(answers(|args| cairn_pg(node.path(), &url, args)), on_sqlite);
    let verified = json(&cairn_pg(h, &url, &["--json", "audit", "verify"]));
    assert_eq!(verified["checked"], audit["checked"]);
    assert!(verified["broken"].is_null(), "{verified}");

    // The database now holds data: a second move is refused and changes nothing.
    let again = cairn_pg(h, &url, &["migrate", "--from-sqlite", file]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("[conflict]"), "{}", stderr(&again));
    assert_eq!(answers(|args| cairn_pg(node.path(), &url, args)), on_sqlite);

    // The human report: one line per table, then the chain and a summary, on another
    // fresh database.
    let url2 = cairn_store::testing::fresh_postgres_database().unwrap_or_else(|e| panic!("{e}"));
    let out = cairn_pg(h, &url2, &["migrate", "--from-sqlite", file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("documents") && l.ends_with(" 3")),
        "{text}"
    );
    assert!(text.contains("audit chain intact"), "{text}");
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.starts_with("moved ") && l.contains("counts verified")),
        "{text}"
    );
    assert!(
        stderr(&out).contains("[migrate] chunks:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_flag_needs_postgres_configured() {
    let home = tempfile::tempdir().unwrap();
    let out = cairn(home.path(), &["migrate", "--from-sqlite", "data/cairn.db"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("[invalid_config]") && err.contains("store.backend"),
        "{err}"
    );
    assert!(
        !home.path().join("data/cairn.db").exists(),
        "nothing was created"
    );
}
