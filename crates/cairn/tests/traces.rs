//! Request traces against a real `cairn serve` and a real OTLP receiver (Python,
//! decoding `ExportTraceServiceRequest` with opentelemetry-proto): one `/api/v1/ask`
//! continuing the caller's `traceparent` arrives as one span tree with the right parent
//! links and GenAI / OpenInference attributes; the trace store answers
//! `/api/v1/traces` for its tenant only; feedback becomes a score; a hung collector
//! makes the exporter drop (and count), never makes requests wait.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::server::{Server, call};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python receiver, killed on drop.
struct Receiver {
    child: Child,
    port: u16,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receiver(out: &Path, blackhole: bool) -> Receiver {
    receiver_with(out, if blackhole { &["--blackhole"] } else { &[] })
}

fn receiver_with(out: &Path, args: &[&str]) -> Receiver {
    let python = common::python("opentelemetry-proto");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/otlp_receiver.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(out).args(args);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("receiver said: {line:?} (run scripts/python-env.sh)"))
        .parse()
        .unwrap();
    Receiver { child, port }
}

fn setup(h: &Path, telemetry: &str) {
    common::smollm_kb(h, &format!("[telemetry]\n{telemetry}"));
}

/// The spans the receiver got for `trace`, waiting up to a minute for `at_least`.
fn received(out: &Path, trace: &str, at_least: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let spans: Vec<Value> = std::fs::read_to_string(out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|s| s["trace_id"] == trace)
            .collect();
        if spans.len() >= at_least || Instant::now() > deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_answer_is_one_trace_stored_and_exported_over_otlp() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = h.join("spans.jsonl");
    let rx = receiver(&out, false);
    setup(
        h,
        &format!(
            "otlp_endpoint = \"http://127.0.0.1:{}\"\notlp_headers = {{ x-collector-key = \"k-123\" }}\n\
             trace_content = true\n",
            rx.port
        ),
    );
    let owner = common::new_key(h, "default", "owner", None);
    let member = common::new_key(h, "default", "member", None);
    let stranger = common::new_key(h, "other", "owner", None);
    let s = Server::start(h);
    let url = |p: &str| format!("{}{p}", s.url);

    // An answer, continuing the caller's trace.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent
        .post(&url("/api/v1/ask"))
        .header("Authorization", &format!("Bearer {owner}"))
        .header("traceparent", &format!("00-{caller_trace}-{caller_span}-01"))
        .send_json(json!({
            "collection": "kb",
            "question": "How much do seats on the lighthouse terrace cost? Call me at 555-867-5309.",
            "max_tokens": 16,
            "record": true
        }))
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("x-trace-id").unwrap().to_str().unwrap(),
        caller_trace,
        "the request continues the caller's trace"
    );
    let answer: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        answer["trace_id"], caller_trace,
        "the answer points to its trace"
    );
    // A chat completion points to its trace too (the `cairn` extension).
    let mut res = agent
        .post(&url("/v1/chat/completions"))
        .header("Authorization", &format!("Bearer {owner}"))
        .send_json(json!({"model": "smollm2-135m-instruct", "max_tokens": 4,
            "messages": [{"role": "user", "content": "Say hi."}]}))
        .unwrap();
    assert_eq!(res.status(), 200);
    let chat_trace = res
        .headers()
        .get("x-trace-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let completion: Value =
        serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        completion["cairn"]["trace_id"],
        chat_trace.as_str(),
        "{completion}"
    );

    // Stored: listed for the tenant, with the model and the route.
    let list = call(
        "GET",
        &url("/api/v1/traces?route=/api/v1/ask"),
        Some(&owner),
        None,
    );
    assert_eq!(list.status, 200, "{}", list.text);
    let row = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["trace_id"] == caller_trace)
        .unwrap_or_else(|| panic!("not listed: {}", list.text))
        .clone();
    assert_eq!(row["model"], "smollm2-135m-instruct");
    assert_eq!(row["status"], 200);
    assert!(row["input_tokens"].as_i64().unwrap() > 0);
    // Filters narrow it.
    let none = call(
        "GET",
        &url("/api/v1/traces?model=no-such-model"),
        Some(&owner),
        None,
    );
    assert_eq!(none.body["data"].as_array().unwrap().len(), 0);
    let bad = call(
        "GET",
        &url("/api/v1/traces?since=yesterday"),
        Some(&owner),
        None,
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["code"], "invalid_input");

    // The span tree: one root (the caller's span as its parent), the stages under it.
    let tree = call(
        "GET",
        &url(&format!("/api/v1/traces/{caller_trace}")),
        Some(&owner),
        None,
    );
    assert_eq!(tree.status, 200, "{}", tree.text);
    let roots = tree.body["spans"].as_array().unwrap();
    assert_eq!(roots.len(), 1, "{}", tree.text);
    let root = &roots[0];
    assert_eq!(root["name"], "POST /api/v1/ask");
    assert_eq!(root["parent_id"], caller_span);
    assert_eq!(root["attributes"]["cairn.tenant"], "default");
    // How long generation queued, and whether a cache served the answer.
    assert!(
        root["attributes"]["cairn.queue_wait_ms"].as_f64().is_some(),
        "{}",
        tree.text
    );
    assert_eq!(
        root["attributes"]["cairn.queue_model"],
        "smollm2-135m-instruct"
    );
    assert_eq!(root["attributes"]["cairn.cache"], "miss");
    // trace_content: the question is on the trace, its phone number redacted.
    let input = root["attributes"]["input.value"].as_str().unwrap();
    assert!(input.contains("lighthouse terrace"), "{input}");
    assert!(
        !input.contains("867-5309"),
        "PII stays out of traces: {input}"
    );
    let mut names = Vec::new();
    fn walk(s: &Value, names: &mut Vec<String>) {
        names.push(s["name"].as_str().unwrap().to_owned());
        for c in s["children"].as_array().unwrap() {
            walk(c, names);
        }
    }
    walk(root, &mut names);
    for want in [
        "gate",
        "guardrail.input",
        "retrieval",
        "retrieval.lexical",
        "embedding",
        "retrieval.dense",
        "chat smollm2-135m-instruct",
        "answer.grounding",
        "answer.store",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "no `{want}` span in {names:?}"
        );
    }
    // Other tenants and lesser roles see nothing.
    let path = format!("/api/v1/traces/{caller_trace}");
    assert_eq!(call("GET", &url(&path), Some(&stranger), None).status, 404);
    assert_eq!(call("GET", &url(&path), Some(&member), None).status, 403);
    let theirs = call("GET", &url("/api/v1/traces"), Some(&stranger), None);
    assert!(
        !theirs.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["trace_id"] == caller_trace),
        "another tenant lists the trace: {}",
        theirs.text
    );

    // Exported: the same spans, parent links intact, with GenAI and OpenInference names.
    let n = names.len();
    let spans = received(&out, caller_trace, n);
    assert_eq!(spans.len(), n, "every span exported once");
    assert_eq!(spans[0]["headers"]["x-collector-key"], "k-123");
    assert_eq!(spans[0]["content_type"], "application/x-protobuf");
    assert_eq!(spans[0]["resource"]["service.name"], "cairn");
    let ids: std::collections::HashSet<&str> = spans
        .iter()
        .map(|s| s["span_id"].as_str().unwrap())
        .collect();
    for s in &spans {
        let parent = s["parent_span_id"].as_str().unwrap();
        assert!(
            ids.contains(parent) || parent == caller_span,
            "span {} has a dangling parent {parent}",
            s["name"]
        );
    }
    let by_name = |n: &str| spans.iter().find(|s| s["name"] == n).unwrap();
    let chat = &by_name("chat smollm2-135m-instruct")["attributes"];
    assert_eq!(chat["gen_ai.operation.name"], "chat");
    assert_eq!(chat["gen_ai.request.model"], "smollm2-135m-instruct");
    assert_eq!(chat["gen_ai.provider.name"], "llama.cpp");
    assert_eq!(chat["openinference.span.kind"], "LLM");
    assert!(chat["gen_ai.usage.input_tokens"].as_i64().unwrap() > 0);
    assert!(chat["gen_ai.usage.output_tokens"].as_i64().unwrap() > 0);
    assert!(chat["gen_ai.response.finish_reasons"].is_array());
    assert!(chat.get("gen_ai.request.temperature").is_some());
    let retrieval = &by_name("retrieval")["attributes"];
    assert_eq!(retrieval["openinference.span.kind"], "RETRIEVER");
    assert!(retrieval.get("retrieval.documents.0.document.id").is_some());
    assert_eq!(by_name("POST /api/v1/ask")["kind"], 2, "SERVER");

    // Feedback on the answer becomes a score on its trace.
    let fb = call(
        "POST",
        &url(&format!(
            "/api/v1/answers/{}/feedback",
            answer["id"].as_str().unwrap()
        )),
        Some(&owner),
        Some(&json!({"rating": -1, "comment": "wrong price"})),
    );
    assert_eq!(fb.status, 201, "{}", fb.text);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = call("GET", &url(&path), Some(&owner), None);
        let scores = t.body["scores"].as_array().cloned().unwrap_or_default();
        if let Some(score) = scores.iter().find(|s| s["name"] == "feedback") {
            assert_eq!(score["value"], -1.0);
            assert_eq!(score["source"], "user");
            // The grounding check scored the answer online, when it was written.
            let confidence = scores
                .iter()
                .find(|s| s["name"] == "confidence")
                .unwrap_or_else(|| panic!("no online score: {}", t.text));
            assert_eq!(confidence["source"], "online");
            let c = confidence["value"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&c), "{c}");
            break;
        }
        assert!(Instant::now() < deadline, "no score: {}", t.text);
        std::thread::sleep(Duration::from_millis(100));
    }

    // Usage by route: requests, errors and latency percentiles; by model: tokens.
    let usage = call(
        "GET",
        &url("/api/v1/tenant/usage?days=2"),
        Some(&owner),
        None,
    );
    assert_eq!(usage.status, 200, "{}", usage.text);
    let routes = usage.body["requests"]["by_route"].as_array().unwrap();
    let route = |r: &str| routes.iter().find(|x| x["route"] == r).cloned();
    let ask = route("/api/v1/ask").unwrap_or_else(|| panic!("{}", usage.text));
    assert_eq!(ask["requests"], 1);
    assert!(ask["p50_ms"].as_f64().unwrap() > 0.0);
    assert!(ask["p95_ms"].as_f64().unwrap() >= ask["p50_ms"].as_f64().unwrap());
    assert!(ask["input_tokens"].as_i64().unwrap() > 0);
    let listed = route("/api/v1/traces").unwrap();
    assert!(
        listed["errors"].as_i64().unwrap() >= 1,
        "the 400 counts: {listed}"
    );
    let models = usage.body["requests"]["by_model"].as_array().unwrap();
    assert!(
        models.iter().any(|m| m["model"] == "smollm2-135m-instruct"),
        "{}",
        usage.text
    );
    // Another tenant's report holds none of it.
    let theirs = call("GET", &url("/api/v1/tenant/usage"), Some(&stranger), None);
    assert!(
        !theirs.body["requests"]["by_route"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["route"] == "/api/v1/ask"),
        "{}",
        theirs.text
    );
    let cli = common::cairn(h, &["--json", "usage", "--days", "2"]);
    assert!(cli.status.success());
    let report: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert!(
        report["requests"]["by_route"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["route"] == "/api/v1/ask")
    );

    // `cairn ingest` ran each file as a job: a trace of its own, in the tenant.
    let jobs = call(
        "GET",
        &url("/api/v1/traces?name=ingest%20kb"),
        Some(&owner),
        None,
    );
    let job = jobs.body["data"][0]["trace_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no ingest trace: {}", jobs.text))
        .to_owned();
    let job = call(
        "GET",
        &url(&format!("/api/v1/traces/{job}")),
        Some(&owner),
        None,
    );
    let mut job_spans = Vec::new();
    walk(&job.body["spans"][0], &mut job_spans);
    for want in ["ingest.parse", "ingest.embed", "ingest.commit"] {
        assert!(
            job_spans.iter().any(|n| n == want),
            "no `{want}` in {job_spans:?}"
        );
    }
    // An upload is ingested inside its request: the same stages in the request's trace.
    let up = common::server::upload(
        &s.url,
        &owner,
        "kb",
        "pier.md",
        "# Pier\n\nThe pier opens at dawn and closes at dusk every day.\n",
        None,
    );
    assert!(up.status < 300, "{}", up.text);
    let uploads = call(
        "GET",
        &url("/api/v1/traces?route=/api/v1/collections/%7Bcollection%7D/documents"),
        Some(&owner),
        None,
    );
    let upload = uploads.body["data"][0]["trace_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no upload trace: {}", uploads.text))
        .to_owned();
    let upload = call(
        "GET",
        &url(&format!("/api/v1/traces/{upload}")),
        Some(&owner),
        None,
    );
    let mut upload_spans = Vec::new();
    walk(&upload.body["spans"][0], &mut upload_spans);
    for want in ["ingest.parse", "ingest.embed", "ingest.commit"] {
        assert!(
            upload_spans.iter().any(|n| n == want),
            "no `{want}` in {upload_spans:?}"
        );
    }

    // The CLI reads the same store.
    let cli = common::cairn(h, &["traces", "show", caller_trace]);
    assert!(cli.status.success());
    let text = String::from_utf8_lossy(&cli.stdout);
    assert!(text.contains("retrieval.lexical"), "{text}");
    let cli = common::cairn(h, &["--json", "traces", "list"]);
    let rows: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["trace_id"] == caller_trace)
    );
}

#[test]
fn a_hung_collector_makes_the_exporter_drop_not_the_requests_wait() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let rx = receiver(&h.join("unused.jsonl"), true);
    setup(
        h,
        &format!(
            "otlp_endpoint = \"http://127.0.0.1:{}\"\notlp_timeout_secs = 600\notlp_queue = 2\n\
             store_traces = false\n",
            rx.port
        ),
    );
    let owner = common::new_key(h, "default", "owner", None);
    let s = Server::start(h);
    let url = |p: &str| format!("{}{p}", s.url);
    // The first export hangs for ten minutes; every search still answers.
    let q = json!({"collection": "kb", "query": "terrace seats"});
    for _ in 0..20 {
        assert_eq!(
            call("POST", &url("/api/v1/search"), Some(&owner), Some(&q)).status,
            200
        );
    }
    // Beyond the queue's two places, traces were dropped and counted (once the writer,
    // which batches every 200 ms, handed them over).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = call("GET", &url("/metrics"), Some(&owner), None);
        let dropped: f64 = m
            .text
            .lines()
            .find(|l| l.starts_with("cairn_trace_export_dropped_total "))
            .unwrap_or_else(|| panic!("{}", m.text))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        if dropped >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing dropped:\n{}", m.text);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Traces are not stored here: the API says so.
    let t = call("GET", &url("/api/v1/traces"), Some(&owner), None);
    assert_eq!(t.status, 404, "{}", t.text);
}

#[test]
fn json_logs_carry_one_line_per_request() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(h.join("cairn.toml"), "[logging]\nformat = \"json\"\n").unwrap();
    let owner = common::new_key(h, "default", "owner", None);
    let log_path = h.join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut s = Server::start_with_stderr(h, log.into());
    let r = call(
        "GET",
        &format!("{}/api/v1/collections", s.url),
        Some(&owner),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let missing = call(
        "GET",
        &format!("{}/api/v1/collections/nope", s.url),
        Some(&owner),
        None,
    );
    assert_eq!(missing.status, 404);
    s.terminate();
    s.wait(Duration::from_secs(30));
    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "cairn::request")
        .collect();
    let line = |route: &str| {
        requests
            .iter()
            .find(|l| l["route"] == route)
            .unwrap_or_else(|| panic!("no request line for {route}: {text}"))
    };
    let ok = line("/api/v1/collections");
    assert_eq!(ok["level"], "INFO", "{ok}");
    assert_eq!(ok["status"], 200, "{ok}");
    assert_eq!(ok["method"], "GET");
    assert_eq!(ok["tenant"], "default");
    assert!(ok["ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(ok["request_id"].as_str().unwrap().len(), 36, "{ok}");
    assert_eq!(ok["trace_id"].as_str().unwrap().len(), 32, "{ok}");
    assert_eq!(line("/api/v1/collections/{collection}")["status"], 404);
}

/// `openssl` run in `dir`, failing the test with its output.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian's openssl package) is needed to make test certificates");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn traces_are_exported_over_tls_to_a_collector_with_a_private_ca() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // A private CA and a collector certificate for 127.0.0.1 signed by it.
    openssl(
        h,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Cairn test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        h,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(h.join("san.ext"), "subjectAltName = IP:127.0.0.1\n").unwrap();
    openssl(
        h,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
    let out = h.join("spans.jsonl");
    let cert = h.join("server.pem").display().to_string();
    let key = h.join("server.key").display().to_string();
    let rx = receiver_with(&out, &["--tls", &cert, &key]);
    let endpoint = format!("https://127.0.0.1:{}", rx.port);
    let toml = |extra: &str| {
        format!("[telemetry]\notlp_endpoint = \"{endpoint}\"\nstore_traces = false\n{extra}")
    };

    // Without the CA the collector's certificate is refused: nothing arrives, the
    // failures are counted, and requests are served as usual.
    std::fs::write(h.join("cairn.toml"), toml("")).unwrap();
    let owner = common::new_key(h, "default", "owner", None);
    let s = Server::start(h);
    let r = call(
        "GET",
        &format!("{}/api/v1/collections", s.url),
        Some(&owner),
        None,
    );
    assert_eq!(r.status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = call("GET", &format!("{}/metrics", s.url), Some(&owner), None);
        let failed = m
            .text
            .lines()
            .find(|l| l.starts_with("cairn_trace_export_spans_total{outcome=\"failed\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        if failed > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed export counted: {}",
            m.text
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(std::fs::read_to_string(&out).unwrap_or_default(), "");
    drop(s);

    // With `otlp_ca_file` the spans arrive over TLS.
    let ca = h.join("ca.pem").display().to_string();
    std::fs::write(
        h.join("cairn.toml"),
        toml(&format!("otlp_ca_file = \"{ca}\"\n")),
    )
    .unwrap();
    let s = Server::start(h);
    let r = call(
        "GET",
        &format!("{}/api/v1/collections", s.url),
        Some(&owner),
        None,
    );
    assert_eq!(r.status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&out).unwrap_or_default().is_empty() {
        assert!(Instant::now() < deadline, "no span arrived over TLS");
        std::thread::sleep(Duration::from_millis(200));
    }
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["content_type"], "application/x-protobuf");

    // A CA file that holds no certificate is a clear error at start.
    drop(s);
    std::fs::write(h.join("empty.pem"), "not a certificate").unwrap();
    std::fs::write(
        h.join("cairn.toml"),
        toml(&format!(
            "otlp_ca_file = \"{}\"\n",
            h.join("empty.pem").display()
        )),
    )
    .unwrap();
    let out = common::cairn(h, &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("otlp_ca_file"), "{err}");
}
