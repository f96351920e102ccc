//! Schemathesis against the `/openapi.json` of a real `cairn serve` (the CI models:
//! SmolLM2 and MiniLM), authenticated as the tenant's owner, every operation, with a
//! bounded example count: no 5xx but a deliberate `503 overloaded` with Retry-After,
//! and every 4xx in the error envelope (checks in tests/python/fuzz_hooks.py, which
//! also caps `max_tokens` so the generation routes are fuzzed too).
//!
//! The interpreter is `$CAIRN_TEST_PYTHON`, else the venv `scripts/python-env.sh` makes
//! (schemathesis is pinned in tests/python/requirements.txt). `CAIRN_FUZZ_EXAMPLES`
//! changes the examples per operation (default 12).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::server::{Server, call};
use serde_json::json;
use std::path::Path;
use std::process::Command;

const GENERATOR: &str = "smollm2-135m-instruct";
/// The default embedder.
const EMBEDDER: &str = "all-minilm-l6-v2";

const NOTES: &str = "# Lighthouse\n\nThe Vardø lighthouse was lit in 1896 and is kept by a \
    volunteer crew. Tours start at noon on Saturdays.\n";

#[test]
fn schemathesis_finds_no_server_errors_and_only_enveloped_client_errors() {
    let py = common::python("schemathesis");
    let probe = Command::new(&py)
        .args(["-c", "import schemathesis"])
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{} cannot import schemathesis: run scripts/python-env.sh (it installs \
         crates/cairn/tests/python/requirements.txt)\n{}",
        py.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // No rate limits (the fuzzer is fast), and a short default answer.
    std::fs::write(
        h.join("cairn.toml"),
        format!(
            "[models]\ngenerator = \"{GENERATOR}\"\n\n[ingest.quality]\nmin_chars = 10\n\n\
             [answer]\nmax_answer_tokens = 16\n\n\
             [limits]\nkey_rpm = 0.0\nkey_tpm = 0.0\ntenant_rpm = 0.0\ntenant_tpm = 0.0\n"
        ),
    )
    .unwrap();
    std::fs::create_dir(h.join("kb")).unwrap();
    std::fs::write(h.join("kb/lighthouse.md"), NOTES).unwrap();
    assert!(
        common::cairn(h, &["ingest", "kb", "-c", "kb"])
            .status
            .success()
    );
    assert!(common::cairn(h, &["secrets", "init-key"]).status.success());
    let key = common::new_key(h, "default", "owner", None);
    let document = common::json(&common::cairn(h, &["--json", "docs", "list"]))[0]["id"].clone();
    let job = common::json(&common::cairn(h, &["--json", "jobs", "list"]))[0]["id"].clone();
    let server = Server::start(h);
    // A conversation with one answer, so their routes are fuzzed past the 404.
    let post = |path: &str, body: serde_json::Value| {
        let r = call(
            "POST",
            &format!("{}{path}", server.url),
            Some(&key),
            Some(&body),
        );
        assert!(r.status < 300, "{path}: {}", r.text);
        r.body
    };
    let conversation = post("/api/v1/conversations", json!({"collection": "kb"}))["id"].clone();
    let answer = post(
        "/api/v1/ask",
        json!({"collection": "kb", "question": "When do tours start?",
               "conversation": conversation, "max_tokens": 8}),
    )["id"]
        .clone();
    post(
        "/api/v1/users",
        json!({"id": "fuzz-user", "role": "member"}),
    );
    let r = call(
        "PUT",
        &format!("{}/api/v1/secrets/smtp", server.url),
        Some(&key),
        Some(&json!({"value": "hunter2"})),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let ids = json!({
        "collection": "kb", "document": document, "job": job, "conversation": conversation,
        "answer": answer, "model": "cairn-rag:kb", "user": "fuzz-user", "name": "smtp",
    });
    let examples = std::env::var("CAIRN_FUZZ_EXAMPLES").unwrap_or_else(|_| "12".into());
    let hooks = Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("tests/python");
    let report = h.join("report");
    let out = Command::new(&py)
        .args([
            "-c",
            "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
            "run",
            &format!("{}/openapi.json", server.url),
            "--header",
            &format!("Authorization: Bearer {key}"),
            "--checks",
            "no_server_error_but_overload,client_errors_use_the_envelope",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            &examples,
            "--seed",
            "13",
            "--workers",
            "2",
            "--request-timeout",
            "120",
            "--suppress-health-check",
            "all",
            "--report",
            "junit",
            "--report-dir",
        ])
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "fuzz_hooks")
        .env("CAIRN_FUZZ_IDS", ids.to_string())
        .env("CAIRN_FUZZ_GENERATOR", GENERATOR)
        .env("CAIRN_FUZZ_EMBEDDER", EMBEDDER)
        .env("PYTHONPATH", &hooks)
        .env("NO_COLOR", "1")
        .current_dir(h)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "--- schemathesis stdout\n{stdout}--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found failures (see above)"
    );
    // Every operation of the document was exercised.
    let spec = call("GET", &format!("{}/openapi.json", server.url), None, None);
    let operations: usize = spec.body["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|ops| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "put", "post", "delete", "patch"].contains(&m.as_str()))
                .count()
        })
        .sum();
    assert!(
        stdout.contains(&format!("Tested: {}", operations - 1)),
        "not every one of the {operations} operations was tested (schemathesis leaves out \
         GET /openapi.json, the document it loads)"
    );
}
