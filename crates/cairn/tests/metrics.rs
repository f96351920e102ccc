//! `GET /metrics` against a real `cairn serve` after real traffic (a search, an answer
//! from the smallest local model, a refused request): owner-only by default, valid for
//! Debian's `promtool check metrics`, and counting what happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::server::{Server, call};
use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};

/// The value of the one sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no sample `{prefix}` in:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn metrics_are_owner_only_valid_for_promtool_and_count_real_traffic() {
    let promtool = "/usr/bin/promtool";
    assert!(
        std::path::Path::new(promtool).is_file(),
        "no promtool: run `CAIRN_NEED_PROMTOOL=1 scripts/bootstrap.sh` (Debian's prometheus)"
    );
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // Per-tenant series on, and a remote model (never called) for its breaker.
    common::smollm_kb(
        h,
        "[telemetry]\nmetrics_tenant_labels = true\n\n\
         [[models.remote]]\nname = \"far\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
    );
    let owner = common::new_key(h, "default", "owner", None);
    let member = common::new_key(h, "default", "member", None);
    let s = Server::start(h);
    let url = |p: &str| format!("{}{p}", s.url);

    // Owner-only: no credentials 401, a member 403.
    assert_eq!(call("GET", &url("/metrics"), None, None).status, 401);
    assert_eq!(
        call("GET", &url("/metrics"), Some(&member), None).status,
        403
    );

    // Traffic: a search, an answer, a refused request.
    let q = json!({"collection": "kb", "query": "terrace seats"});
    assert_eq!(
        call("POST", &url("/api/v1/search"), Some(&owner), Some(&q)).status,
        200
    );
    let ask = json!({"collection": "kb", "question": "How much do seats on the lighthouse terrace cost?", "max_tokens": 16});
    let r = call("POST", &url("/api/v1/ask"), Some(&owner), Some(&ask));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["model"] == "smollm2-135m-instruct",
        "the model answered: {}",
        r.text
    );
    let doc = "/api/v1/documents/no-such-document";
    assert_eq!(call("GET", &url(doc), Some(&owner), None).status, 404);

    let m = call("GET", &url("/metrics"), Some(&owner), None);
    assert_eq!(m.status, 200);
    let text = m.text;

    // promtool reads it without a complaint (it exits non-zero on errors and lint).
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // What happened is counted, under route templates (never the id).
    let req = |route: &str, method: &str, status: u16| {
        format!(
            "cairn_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"
        )
    };
    assert_eq!(sample(&text, &req("/api/v1/search", "POST", 200)), 1.0);
    assert_eq!(sample(&text, &req("/api/v1/ask", "POST", 200)), 1.0);
    assert_eq!(
        sample(&text, &req("/api/v1/documents/{document}", "GET", 404)),
        1.0
    );
    assert!(sample(&text, &req("/metrics", "GET", 401)) >= 1.0);
    assert!(!text.contains("no-such-document"));
    let model = "smollm2-135m-instruct";
    assert_eq!(
        sample(
            &text,
            &format!("cairn_model_calls_total{{model=\"{model}\"}}")
        ),
        1.0
    );
    assert!(
        sample(
            &text,
            &format!("cairn_model_tokens_total{{model=\"{model}\",direction=\"input\"}}")
        ) > 0.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("cairn_model_time_to_first_token_seconds_count{{model=\"{model}\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "cairn_http_request_duration_seconds_count{route=\"/api/v1/ask\",method=\"POST\"}"
        ),
        1.0
    );
    // The answer waited for its generation slot (counted even when the wait was nil).
    assert_eq!(
        sample(
            &text,
            &format!("cairn_generation_queue_wait_seconds_count{{model=\"{model}\"}}")
        ),
        1.0
    );
    assert!(sample(&text, "process_resident_memory_bytes") > 1e6);
    // Decoding speed per output token, tokens per tenant, the breaker, ingest, index lag.
    assert!(
        sample(
            &text,
            &format!("cairn_model_time_per_output_token_seconds_count{{model=\"{model}\"}}")
        ) >= 1.0
    );
    assert!(
        sample(
            &text,
            &format!(
                "cairn_tenant_model_tokens_total{{tenant=\"default\",model=\"{model}\",direction=\"output\"}}"
            )
        ) > 0.0
    );
    assert_eq!(
        sample(
            &text,
            "cairn_model_breaker_state{model=\"far\",state=\"closed\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "cairn_model_breaker_state{model=\"far\",state=\"open\"}"
        ),
        0.0
    );
    assert_eq!(sample(&text, "cairn_ingest_jobs{state=\"dead\"}"), 0.0);
    assert!(sample(&text, "cairn_store_connections{state=\"idle\"}") >= 1.0);
    assert_eq!(
        sample(
            &text,
            "cairn_index_lag_changes{tenant=\"default\",collection=\"kb\"}"
        ),
        0.0
    );

    // The shipped alert rules pass promtool, and they and the Grafana dashboard query
    // only metrics this server exports.
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let rules = deploy.join("prometheus/cairn-alerts.yml");
    let checked = Command::new(promtool)
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for file in [rules, deploy.join("grafana/cairn-dashboard.json")] {
        let body = std::fs::read_to_string(&file).unwrap();
        let mut used = 0;
        for word in body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !(word.starts_with("cairn_") || word.starts_with("process_")) {
                continue;
            }
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| word.strip_suffix(s))
                .unwrap_or(word);
            assert!(
                families.contains(&family),
                "{}: `{word}` is not exported",
                file.display()
            );
            used += 1;
        }
        assert!(used > 3, "{}", file.display());
    }

    // The same server with `telemetry.metrics_public` lets a scraper in without a key.
    drop(s);
    let mut toml = std::fs::read_to_string(h.join("cairn.toml")).unwrap();
    toml = toml.replace(
        "metrics_tenant_labels = true",
        "metrics_tenant_labels = true\nmetrics_public = true",
    );
    std::fs::write(h.join("cairn.toml"), toml).unwrap();
    let s = Server::start(h);
    let open = call("GET", &format!("{}/metrics", s.url), None, None);
    assert_eq!(open.status, 200, "{}", open.text);
    assert!(
        open.text
            .contains("# TYPE cairn_http_requests_total counter")
    );
}
