//! `cairn search` and `cairn eval retrieval` end to end on the repository's own docs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::{cairn, json};
use std::path::Path;

fn docs_dir() -> std::path::PathBuf {
    Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../../docs")
}

fn ingest(home: &Path) {
    let docs = docs_dir();
    let out = cairn(home, &["ingest", docs.to_str().unwrap(), "-c", "docs"]);
    assert!(out.status.success());
}

/// `cairn --json search QUERY -c docs -k K`.
fn search_json(home: &Path, query: &str, k: &str) -> serde_json::Value {
    json(&cairn(
        home,
        &["--json", "search", query, "-c", "docs", "-k", k],
    ))
}

/// The question `scripts/quickstart.sh` asks: its answer is the "Change detection"
/// section of docs/ingestion.md, which must be the first source.
#[test]
fn the_quickstart_question_finds_the_change_detection_section() {
    let home = tempfile::tempdir().unwrap();
    ingest(home.path());
    let v = search_json(
        home.path(),
        "How does Cairn detect that a file has not changed since the last ingest?",
        "5",
    );
    let top = &v["hits"][0];
    assert!(
        top["source"].as_str().unwrap().ends_with("ingestion.md"),
        "{v}"
    );
    assert_eq!(
        top["heading_path"],
        serde_json::json!(["Ingestion", "Change detection"]),
        "{v}"
    );
}

#[test]
fn search_explains_every_stage_and_filters() {
    let home = tempfile::tempdir().unwrap();
    ingest(home.path());
    let v = search_json(home.path(), "which chunker keeps tables whole", "3");
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    assert!(
        hits[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("ingestion.md"),
        "{v}"
    );
    assert!(hits[0]["scores"]["lexical"]["rank"].as_u64().is_some());
    assert!(hits[0]["scores"]["dense"]["rank"].as_u64().is_some());
    assert_eq!(v["mode"], "hybrid");

    let text = cairn(
        home.path(),
        &[
            "search",
            "which chunker keeps tables whole",
            "-c",
            "docs",
            "--explain",
            "--rerank",
            "maxsim",
            "-k",
            "2",
        ],
    );
    assert!(text.status.success());
    let s = String::from_utf8_lossy(&text.stdout);
    assert!(
        s.contains("lexical #") && s.contains("dense #") && s.contains("rerank 0."),
        "{s}"
    );

    // A source filter confines the hits, in every mode.
    for mode in ["lexical", "dense", "hybrid"] {
        let v = json(&cairn(
            home.path(),
            &[
                "--json", "search", "chunking", "-c", "docs", "--mode", mode, "--source", "cli.md",
            ],
        ));
        let hits = v["hits"].as_array().unwrap();
        assert!(!hits.is_empty());
        assert!(
            hits.iter()
                .all(|h| h["source"].as_str().unwrap().ends_with("cli.md")),
            "{mode}: {v}"
        );
    }
    // Clear errors with stable codes.
    let bad = cairn(
        home.path(),
        &["search", "x", "-c", "docs", "--mode", "fuzzy"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("[invalid_input]"));
    let missing = cairn(home.path(), &["search", "x", "-c", "nope"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("[not_found]"));

    // `--also`: several collections ranked together, each hit naming its own.
    let notes = home.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(
        notes.join("rota.md"),
        "# On-call rota\n\nThe on-call engineer for the ingestion pipeline rotates every \
         Monday at 09:00; the handover happens in the operations channel. The outgoing \
         engineer lists open incidents, paused jobs and anything waiting on a vendor, and \
         the incoming one confirms they can reach the pager before the hour is out.",
    )
    .unwrap();
    let out = cairn(
        home.path(),
        &["ingest", notes.to_str().unwrap(), "-c", "notes"],
    );
    assert!(out.status.success());
    let v = json(&cairn(
        home.path(),
        &[
            "--json",
            "search",
            "when does the on-call engineer rotate",
            "-c",
            "docs",
            "--also",
            "notes",
            "-k",
            "3",
        ],
    ));
    assert_eq!(v["hits"][0]["collection"], "notes", "{v}");
    assert_eq!(v["hits"][1]["collection"], "docs", "{v}");
    let text = cairn(
        home.path(),
        &[
            "search",
            "on-call rota",
            "-c",
            "docs",
            "--also",
            "notes",
            "-k",
            "1",
        ],
    );
    assert!(String::from_utf8_lossy(&text.stdout).contains("notes: "));
}

#[test]
fn eval_reports_metrics_per_kind_and_config() {
    let home = tempfile::tempdir().unwrap();
    ingest(home.path());
    let set = home.path().join("dev.jsonl");
    std::fs::write(
        &set,
        concat!(
            r#"{"id":"a","kind":"close","question":"How do I see the effective configuration and where each value came from?","pages":["configuration.md","cli.md"]}"#, "\n",
            r#"{"id":"b","kind":"identifier","question":"max_file_bytes","pages":["configuration.md"]}"#, "\n",
            r#"{"id":"c","kind":"paraphrase","question":"what happens to pages that are only navigation links","pages":["ingestion.md"]}"#, "\n",
        ),
    )
    .unwrap();
    let v = json(&cairn(
        home.path(),
        &[
            "--json",
            "eval",
            "retrieval",
            set.to_str().unwrap(),
            "-c",
            "docs",
            "--configs",
            "lexical,dense,hybrid",
        ],
    ));
    assert_eq!(v["questions"], 3);
    let summary = v["summary"].as_array().unwrap();
    let all: Vec<_> = summary.iter().filter(|s| s["kind"] == "all").collect();
    assert_eq!(all.len(), 3);
    for s in &all {
        let r10 = s["metrics"]["recall_10"].as_f64().unwrap();
        assert!(r10 > 0.5, "{s}");
        assert!(s["p95_ms"].as_f64().unwrap() > 0.0);
    }
    let bad = cairn(
        home.path(),
        &["eval", "retrieval", "/nonexistent.jsonl", "-c", "docs"],
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("[invalid_input]"));
}
