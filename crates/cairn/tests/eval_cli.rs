//! `cairn eval answers` and `cairn eval grounding` end to end with the small real models.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::{cairn, json};
use std::path::Path;

fn home_with_kb() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("cairn.toml"),
        "[models]\ngenerator = \"smollm2-135m-instruct\"\n\n[ingest.quality]\nmin_chars = 10\n\n\
         [answer]\nmax_answer_tokens = 48\n",
    )
    .unwrap();
    let kb = home.path().join("kb");
    std::fs::create_dir(&kb).unwrap();
    std::fs::write(
        kb.join("harbor.md"),
        "# Harbor Lights\n\nThe Harbor Lights festival takes place every year on the first \
         Saturday of March in the town of Vardøhavn. Boats carry lanterns past the old \
         lighthouse at dusk.\n",
    )
    .unwrap();
    std::fs::write(
        kb.join("roasting.md"),
        "# Coffee roasting\n\nDark roasts develop bitter, smoky notes because the sugars \
         caramelize longer. A roast is dropped from the drum after the first or second crack.\n",
    )
    .unwrap();
    assert!(
        cairn(home.path(), &["ingest", "kb", "-c", "kb"])
            .status
            .success()
    );
    home
}

fn write(dir: &Path, name: &str, lines: &[serde_json::Value]) -> String {
    let path = dir.join(name);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn eval_answers_reports_citations_keywords_abstention_and_latency() {
    let home = home_with_kb();
    let set = write(
        home.path(),
        "dev.jsonl",
        &[
            serde_json::json!({"id": "a1", "kind": "close", "question": "When does the Harbor Lights festival take place?", "pages": ["harbor.md"], "keywords": ["March"]}),
            serde_json::json!({"id": "a2", "kind": "paraphrase", "question": "Why do dark roasts taste bitter?", "pages": ["roasting.md"], "keywords": ["caramel"]}),
        ],
    );
    let unanswerable = write(
        home.path(),
        "unanswerable.jsonl",
        &[
            serde_json::json!({"id": "u1", "kind": "unanswerable", "question": "How do I set innodb_buffer_pool_size in my.cnf?", "pages": [], "keywords": []}),
        ],
    );
    let v = json(&cairn(
        home.path(),
        &[
            "--json",
            "eval",
            "answers",
            &set,
            &unanswerable,
            "-c",
            "kb",
            "--per-question",
        ],
    ));
    assert_eq!(v["questions"], 3);
    let rows = v["summary"].as_array().unwrap();
    let row = |k: &str| rows.iter().find(|r| r["kind"] == k).unwrap().clone();
    assert_eq!(row("unanswerable")["abstention_rate"], 1.0);
    assert!(row("unanswerable")["citation_recall_5"].is_null());
    let answerable = row("answerable");
    assert_eq!(answerable["questions"], 2);
    assert!(answerable["citation_recall_5"].as_f64().is_some());
    assert!(answerable["keyword_accuracy"].as_f64().is_some());
    let all = row("all");
    assert_eq!(all["questions"], 3);
    let (ttft, total) = (
        all["first_token_p95_ms"].as_f64().unwrap(),
        all["total_p95_ms"].as_f64().unwrap(),
    );
    assert!(ttft > 0.0 && total >= ttft, "{all}");
    let wanted = |id: &str| {
        if id == "a1" {
            "harbor.md"
        } else {
            "roasting.md"
        }
    };
    for o in v["outcomes"].as_array().unwrap() {
        assert!(!o["answer"].as_str().unwrap().is_empty(), "{o}");
        let cited: Vec<&str> = o["cited"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert!(
            cited
                .iter()
                .all(|c| *c == "harbor.md" || *c == "roasting.md"),
            "{o}"
        );
        if o["kind"] == "unanswerable" {
            assert!(cited.is_empty() && o["abstained"] == true, "{o}");
        } else {
            // The metric follows the real citations of the real answer.
            let hit = cited
                .iter()
                .take(5)
                .any(|c| *c == wanted(o["id"].as_str().unwrap()));
            let expect = if hit { 1.0 } else { 0.0 };
            assert_eq!(o["citation_recall_5"].as_f64().unwrap(), expect, "{o}");
        }
    }
    // Each question is a stored trace carrying its scores (source `eval`).
    let traces = json(&cairn(home.path(), &["--json", "traces", "list"]));
    let evals: Vec<&serde_json::Value> = traces
        .as_array()
        .unwrap_or_else(|| panic!("{traces}"))
        .iter()
        .filter(|t| t["name"] == "eval kb")
        .collect();
    assert_eq!(evals.len(), 3, "{traces}");
    let mut seen_keyword = false;
    for t in evals {
        let id = t["trace_id"].as_str().unwrap();
        let tree = json(&cairn(home.path(), &["--json", "traces", "show", id]));
        let scores = tree["scores"].as_array().unwrap();
        assert!(scores.iter().all(|s| s["source"] == "eval"), "{tree}");
        let root = &tree["spans"][0]["attributes"];
        let qid = root["cairn.eval.question_id"].as_str().unwrap();
        let outcome = v["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == qid)
            .unwrap();
        if let Some(k) = scores.iter().find(|s| s["name"] == "keyword_accuracy") {
            assert_eq!(k["value"], outcome["keyword_accuracy"], "{tree}");
            seen_keyword = true;
        }
        if qid == "u1" {
            let right = scores
                .iter()
                .find(|s| s["name"] == "abstained_correctly")
                .unwrap();
            assert_eq!(right["value"], 1.0);
        }
    }
    assert!(seen_keyword, "no keyword score on any trace");
}

#[test]
fn eval_grounding_separates_supported_from_invented_answers() {
    let home = tempfile::tempdir().unwrap();
    let cases = write(
        home.path(),
        "cases.jsonl",
        &[
            serde_json::json!({"_id": "c1", "knowledge": "The Eiffel Tower in Paris was completed in 1889 for the World's Fair.", "question": "When was the Eiffel Tower completed?", "right_answer": "The Eiffel Tower was completed in 1889.", "hallucinated_answer": "It was built by Krupp steelworks in Essen during 1923."}),
            serde_json::json!({"_id": "c2", "knowledge": "PostgreSQL raises SQLSTATE 40P01 when it detects a deadlock and aborts one transaction.", "question": "Which error code signals a deadlock?", "right_answer": "A deadlock raises SQLSTATE 40P01.", "hallucinated_answer": "Oracle reports ORA-00060 and restarts the listener."}),
            serde_json::json!({"_id": "c3", "knowledge": "Marie Curie won Nobel Prizes in physics (1903) and chemistry (1911).", "question": "In which fields did Marie Curie win Nobel Prizes?", "right_answer": "Physics and chemistry.", "hallucinated_answer": "Literature and economics, in 1950."}),
        ],
    );
    let v = json(&cairn(
        home.path(),
        &["--json", "eval", "grounding", &cases, "--method", "support"],
    ));
    let r = &v["results"][0];
    assert_eq!(r["method"], "support");
    assert_eq!(r["cases"], 3);
    assert_eq!(r["auc"], 1.0, "{r}");
    assert_eq!(r["at_threshold"]["tpr"], 1.0, "{r}");
    assert_eq!(r["at_threshold"]["fpr"], 0.0, "{r}");
    assert!(r["ms_per_check"].as_f64().unwrap() > 0.0);
    // Stored as a run even in a home with nothing else in it.
    assert!(v["run"].is_string(), "{v}");

    let bad = cairn(
        home.path(),
        &["eval", "grounding", &cases, "--method", "vibes"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("[invalid_input]"));
}

/// Every eval is stored as a run: listed newest first, shown (with an offline HTML
/// report), and compared with another run of its kind, per metric with its interval.
#[test]
fn eval_runs_are_stored_listed_shown_and_compared() {
    let home = home_with_kb();
    let h = home.path();
    let set = write(
        h,
        "dev.jsonl",
        &[
            serde_json::json!({"id": "r1", "kind": "close", "question": "When does the Harbor Lights festival take place?", "pages": ["harbor.md"]}),
            serde_json::json!({"id": "r2", "kind": "paraphrase", "question": "Why do dark roasts taste bitter?", "pages": ["roasting.md"]}),
            serde_json::json!({"id": "r3", "kind": "paraphrase", "question": "What do boats carry past the lighthouse?", "pages": ["harbor.md"]}),
        ],
    );
    let eval = |configs: &str, label: &str| {
        let v = json(&cairn(
            h,
            &[
                "--json",
                "eval",
                "retrieval",
                &set,
                "-c",
                "kb",
                "--configs",
                configs,
                "--label",
                label,
            ],
        ));
        v["run"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_owned()
    };
    let base = eval("lexical", "base");
    let next = eval("lexical,dense", "next");
    let out = cairn(
        h,
        &[
            "eval",
            "retrieval",
            &set,
            "-c",
            "kb",
            "--configs",
            "dense",
            "--no-store",
        ],
    );
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("stored as eval run"));

    let list = json(&cairn(h, &["--json", "eval", "list"]));
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [next.as_str(), base.as_str()], "newest first: {list}");
    assert_eq!(list["data"][0]["label"], "next");

    let report = h.join("base.html");
    let shown = json(&cairn(
        h,
        &[
            "--json",
            "eval",
            "show",
            &base,
            "--html",
            report.to_str().unwrap(),
        ],
    ));
    assert_eq!(shown["kind"], "retrieval");
    assert_eq!(shown["dataset_hash"].as_str().unwrap().len(), 64);
    assert!(shown["config"]["models"]["embedder"].is_string(), "{shown}");
    assert!(shown["config"]["prompt_version"].is_string(), "{shown}");
    assert_eq!(shown["results"].as_array().unwrap().len(), 3);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<svg") && html.contains("r1") && html.contains("paraphrase"));
    assert!(!html.contains("<script") && html.contains("mrr_10"));

    let page = h.join("compare.html");
    let c = json(&cairn(
        h,
        &[
            "--json",
            "eval",
            "compare",
            &base,
            &next,
            "--html",
            page.to_str().unwrap(),
        ],
    ));
    assert_eq!(c["same_dataset"], true);
    assert_eq!(c["unmatched_configs"], serde_json::json!(["dense"]));
    let mrr = c["deltas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["config"] == "lexical" && d["metric"] == "mrr_10")
        .unwrap_or_else(|| panic!("{c}"));
    assert_eq!(mrr["n"], 3);
    // The same configuration on the same index: no change, an interval around zero.
    assert_eq!(mrr["delta"], 0.0, "{mrr}");
    assert!(mrr["significant"] == false, "{mrr}");
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(text.contains("paired bootstrap") && text.contains("dense"));

    // Clear errors: an unknown run, runs of different kinds.
    let missing = cairn(h, &["eval", "show", "nope"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("[not_found]"));
    let cases = write(
        h,
        "cases.jsonl",
        &[
            serde_json::json!({"_id": "c1", "knowledge": "The Eiffel Tower was completed in 1889.", "question": "When?", "right_answer": "In 1889.", "hallucinated_answer": "In 1923, in Essen."}),
        ],
    );
    let g = json(&cairn(h, &["--json", "eval", "grounding", &cases]));
    let grounding = g["run"].as_str().unwrap();
    let mixed = cairn(h, &["eval", "compare", &base, grounding]);
    assert!(!mixed.status.success());
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("[invalid_input]"));
}

/// The regression gate CI runs: retrieval, citations, faithfulness and abstention on the
/// repository's own docs stay at or above the floors recorded in eval/gate/floors.json;
/// a floor no run can reach fails with `[regression]` and exit code 1.
#[test]
fn the_regression_gate_holds_its_floors() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(
        h.join("cairn.toml"),
        "[models]\ngenerator = \"smollm2-135m-instruct\"\n\n[answer]\nmax_answer_tokens = 64\n",
    )
    .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let docs = root.join("docs");
    assert!(
        cairn(h, &["ingest", docs.to_str().unwrap(), "-c", "docs"])
            .status
            .success()
    );
    let floors = root.join("eval/gate/floors.json");
    let out = cairn(
        h,
        &[
            "--json",
            "eval",
            "gate",
            floors.to_str().unwrap(),
            "-c",
            "docs",
            "--no-store",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["pass"], true, "below a floor: {v:#}");
    assert!(out.status.success());
    let checks = v["checks"].as_array().unwrap();
    for (eval, metric) in [
        ("retrieval", "mrr_10"),
        ("answers", "citation_recall_5"),
        ("answers", "grounded_share"),
        ("answers", "abstention_rate"),
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["eval"] == eval && c["metric"] == metric),
            "{eval} {metric} is gated: {v}"
        );
    }
    // A synthetic set over the same docs, written by the default chat model: every kept
    // question finds its own page in the top five, so hybrid recall@5 is 1 on it.
    let synth = h.join("synth.jsonl");
    let v = json(&cairn(
        h,
        &[
            "--json",
            "eval",
            "synth",
            "-c",
            "docs",
            "-n",
            "3",
            "--seed",
            "7",
            "--model",
            "qwen2.5-coder-1.5b-instruct",
            "--out",
            synth.to_str().unwrap(),
        ],
    ));
    let report = &v["report"];
    let kept = report["kept"].as_u64().unwrap();
    assert!(kept >= 1, "no question kept: {v}");
    assert_eq!(
        report["attempted"].as_u64().unwrap(),
        kept + report["not_retrieved"].as_u64().unwrap()
            + report["near_duplicate"].as_u64().unwrap()
            + report["unusable"].as_u64().unwrap(),
        "{v}"
    );
    let lines = std::fs::read_to_string(&synth).unwrap();
    assert_eq!(lines.lines().count() as u64, kept);
    for q in v["questions"].as_array().unwrap() {
        assert!(q["question"].as_str().unwrap().ends_with('?'), "{q}");
        assert_eq!(q["kind"], "synthetic");
    }
    let r = json(&cairn(
        h,
        &[
            "--json",
            "eval",
            "retrieval",
            synth.to_str().unwrap(),
            "-c",
            "docs",
            "--configs",
            "hybrid",
            "--no-store",
        ],
    ));
    let all = r["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "all")
        .unwrap();
    assert_eq!(all["metrics"]["recall_5"], 1.0, "{r}");

    // An unreachable floor fails the gate.
    let strict = h.join("strict.json");
    let dataset = root.join("eval/gate/docs-dev.jsonl");
    std::fs::write(
        &strict,
        serde_json::json!({"retrieval": {"dataset": dataset,
            "floors": {"lexical": {"mrr_10": 1.01}}}})
        .to_string(),
    )
    .unwrap();
    let out = cairn(
        h,
        &[
            "eval",
            "gate",
            strict.to_str().unwrap(),
            "-c",
            "docs",
            "--no-store",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[regression]"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BELOW FLOOR"));
}

/// `cairn dataset export`: JSON lines of the kind asked for (what goes into each is
/// tested with real answers in crates/cairn-engine/tests/answer.rs), clear errors.
#[test]
fn dataset_export_writes_json_lines_and_refuses_unknown_kinds() {
    let home = home_with_kb();
    let h = home.path();
    for kind in ["sft", "dpo", "eval"] {
        let out = cairn(h, &["dataset", "export", "--kind", kind, "--since", "7d"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "nothing rated yet");
    }
    let file = h.join("sft.jsonl");
    let out = cairn(
        h,
        &[
            "dataset",
            "export",
            "--kind",
            "sft",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 examples written"));
    assert!(file.is_file());
    // Drift needs asked questions; none yet is said so, and the window is checked.
    let out = cairn(h, &["eval", "drift", "-c", "kb"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no questions asked"));
    let v = json(&cairn(
        h,
        &["--json", "eval", "drift", "-c", "kb", "--weeks", "4"],
    ));
    assert_eq!(v["weeks"], serde_json::json!([]), "{v}");
    let out = cairn(h, &["eval", "drift", "-c", "kb", "--weeks", "1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("[invalid_input]"));
    for bad in [["--kind", "rlhf"], ["--since", "soon"]] {
        let mut args = vec!["dataset", "export"];
        if bad[0] == "--since" {
            args.extend(["--kind", "sft"]);
        }
        args.extend(bad);
        let out = cairn(h, &args);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("[invalid_input]"),
            "{args:?}"
        );
    }
}
