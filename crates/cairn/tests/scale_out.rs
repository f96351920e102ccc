//! Several servers on one PostgreSQL and one Redis (`store.backend = "postgres"`,
//! `[redis] url`), each with its own data directory (its own index replicas), as a
//! scale-out deployment runs them: a document uploaded through one server is searchable
//! through the other, a tenant's rate limit holds across both, the exact caches (answers,
//! chat completions) in Redis serve on one server what the other generated, and a
//! multi-server configuration without Redis is refused while limits are on.

// Tests fail loudly and explain themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::server::{Server, call, upload};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const PAGE: &str = "# Harbor\n\nThe Port of Valdermoor handles grain and timber. Its \
    lighthouse keeper is called Ingrid Sandvik.\n";
const UPLOADED: &str = "# Ferries\n\nThe Valdermoor ferry to Østerholm leaves at quarter past \
    seven; the crossing takes ninety minutes on the MS Tern.\n";

fn home(db: &str, redis: &str, extra: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("cairn.toml"),
        format!(
            "[ingest.quality]\nmin_chars = 10\n\n[store]\nbackend = \"postgres\"\nurl = \"{db}\"\n\n\
             [redis]\nurl = \"{redis}\"\n\n{extra}"
        ),
    )
    .unwrap();
    home
}

fn search(s: &Server, key: &str, query: &str) -> Vec<String> {
    let r = call(
        "POST",
        &format!("{}/api/v1/search", s.url),
        Some(key),
        Some(&json!({"collection": "kb", "query": query, "top_k": 3})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn ok(out: std::process::Output) {
    assert!(out.status.success());
}

#[test]
fn two_servers_share_documents_and_rate_limits() {
    let db = cairn_store::testing::fresh_postgres_database().unwrap_or_else(|e| panic!("{e}"));
    let redis = cairn_auth::testing::RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    // Per tenant: a burst of 60 requests, refilling at 6 a minute (one every 10 s).
    let limits = "[limits]\nkey_rpm = 0\nkey_tpm = 0\ntenant_tpm = 0\ntenant_rpm = 6\nburst = 10.0\n\n\
        [models]\ngenerator = \"smollm2-135m-instruct\"\n\n[cache]\nexact = true\n";
    let a = home(&db, &redis.url, limits);
    let b = home(&db, &redis.url, limits);
    std::fs::create_dir_all(a.path().join("docs")).unwrap();
    std::fs::write(a.path().join("docs/harbor.md"), PAGE).unwrap();
    ok(common::cairn(
        a.path(),
        &["--tenant", "acme", "ingest", "docs", "-c", "kb"],
    ));
    // A key made through one node's CLI works on every node: it lives in the store.
    let key = common::new_key(b.path(), "acme", "editor", None);
    let server_a = Server::start(a.path());
    let server_b = Server::start(b.path());
    // B never saw the CLI ingest on A's disk: it builds its replica from the store.
    assert!(
        search(&server_b, &key, "lighthouse keeper")[0].contains("Ingrid"),
        "B serves what was ingested through A"
    );
    let r = upload(&server_a.url, &key, "kb", "ferries.md", UPLOADED, None);
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    let uploaded = Instant::now();
    let lag = loop {
        let hits = search(&server_b, &key, "ferry crossing Østerholm");
        if hits.first().is_some_and(|t| t.contains("MS Tern")) {
            break uploaded.elapsed();
        }
        assert!(
            uploaded.elapsed() < Duration::from_secs(30),
            "the upload through A is not searchable through B: {hits:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!("[scale_out] upload on A searchable on B after {lag:?}");

    // The exact answer cache lives in Redis: B serves what A generated.
    let ask = |s: &Server| {
        let r = call(
            "POST",
            &format!("{}/api/v1/ask", s.url),
            Some(&key),
            Some(
                &json!({"collection": "kb", "question": "Who keeps the lighthouse?",
                         "temperature": 0, "max_tokens": 12}),
            ),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
    };
    let first = ask(&server_a);
    assert!(first["cache"]["hit"].is_null(), "{first}");
    let again = ask(&server_b);
    assert_eq!(again["cache"]["hit"], "exact", "{again}");
    assert_eq!(again["cache"]["answer_id"], first["id"]);
    assert_eq!(again["answer"], first["answer"]);
    // And so is the gateway's cache of plain chat completions.
    let chat = |s: &Server| {
        let r = call(
            "POST",
            &format!("{}/v1/chat/completions", s.url),
            Some(&key),
            Some(
                &json!({"model": "smollm2-135m-instruct", "temperature": 0, "max_tokens": 8,
                         "messages": [{"role": "user", "content": "Name a colour."}]}),
            ),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
    };
    let first = chat(&server_a);
    assert!(first["cairn"]["cache"]["hit"].is_null(), "{first}");
    let again = chat(&server_b);
    assert_eq!(again["cairn"]["cache"]["hit"], "exact", "{again}");
    assert_eq!(again["cairn"]["cache"]["answer_id"], first["id"]);

    // Another tenant, its bucket untouched: 90 requests spread over both servers. One
    // shared bucket admits its burst of 60 (plus one refill if this takes 10 s); two
    // per-server buckets would have admitted all 90.
    let globex = common::new_key(a.path(), "globex", "viewer", None);
    let statuses = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for t in 0..6 {
            let s = if t % 2 == 0 { &server_a } else { &server_b };
            let (key, statuses) = (&globex, &statuses);
            scope.spawn(move || {
                for _ in 0..15 {
                    let r = call(
                        "GET",
                        &format!("{}/api/v1/collections", s.url),
                        Some(key),
                        None,
                    );
                    statuses.lock().unwrap().push(r.status);
                }
            });
        }
    });
    let statuses = statuses.into_inner().unwrap();
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(admitted + limited, 90, "{statuses:?}");
    assert!(
        (60..=61).contains(&admitted),
        "two servers admitted {admitted} of 90 under one tenant bucket of 60"
    );
}

/// Every search in PostgreSQL (`retrieval.dense_backend = "pgvector"`,
/// `retrieval.lexical_backend = "postgres"`): a server that never indexed anything
/// answers each search mode from the shared space another one built, holding no vectors
/// and no text index of its own.
#[test]
fn two_servers_search_one_shared_space_in_postgres() {
    let db = cairn_store::testing::fresh_postgres_database().unwrap_or_else(|e| panic!("{e}"));
    let redis = cairn_auth::testing::RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let shared = "[retrieval]\ndense_backend = \"pgvector\"\nlexical_backend = \"postgres\"\n";
    let a = home(&db, &redis.url, shared);
    let b = home(&db, &redis.url, shared);
    std::fs::create_dir_all(a.path().join("docs")).unwrap();
    std::fs::write(a.path().join("docs/harbor.md"), PAGE).unwrap();
    std::fs::write(a.path().join("docs/ferries.md"), UPLOADED).unwrap();
    ok(common::cairn(
        a.path(),
        &["--tenant", "acme", "ingest", "docs", "-c", "kb"],
    ));
    let key = common::new_key(b.path(), "acme", "viewer", None);
    let server_b = Server::start(b.path());
    let top = |mode: &str, query: &str| {
        let r = call(
            "POST",
            &format!("{}/api/v1/search", server_b.url),
            Some(&key),
            Some(&json!({"collection": "kb", "query": query, "top_k": 2, "mode": mode})),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["hits"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    for mode in ["lexical", "dense", "hybrid"] {
        assert!(
            top(mode, "who keeps the lighthouse").contains("Ingrid"),
            "{mode}"
        );
        assert!(
            top(mode, "ferry crossing to Østerholm").contains("MS Tern"),
            "{mode}"
        );
    }
    // The vectors are rows in PostgreSQL; B's own space keeps neither side.
    let mut pg = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    let rows: i64 = pg
        .query_one(
            "SELECT COUNT(*) FROM search_chunks
             WHERE embedding IS NOT NULL AND lexemes IS NOT NULL AND tenant_id = 'acme'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(rows >= 2, "{rows} chunks in the shared space");
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(b.path().join("data/index/acme/kb/meta.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (&meta["local_vectors"], &meta["local_lexical"]),
        (&json!(false), &json!(false)),
        "{meta}"
    );
}

#[test]
fn a_postgres_deployment_without_redis_is_refused_while_limits_are_on() {
    let db = cairn_store::testing::fresh_postgres_database().unwrap_or_else(|e| panic!("{e}"));
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("cairn.toml"),
        format!("[store]\nbackend = \"postgres\"\nurl = \"{db}\"\n"),
    )
    .unwrap();
    let out = common::cairn(home.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[redis] url"), "{err}");
    // A database nobody migrated is refused with the command that fixes it.
    let name = format!("cairn_scale_unmigrated_{}", std::process::id());
    let admin = std::env::var(cairn_store::testing::PG_URL_VAR).unwrap();
    let fresh = cairn_store::create_database(&admin, &name).unwrap();
    let cli = |url: &str, args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"));
        cmd.env("CAIRN_DATA_DIR", home.path().join("data"))
            .env("CAIRN_STORE__BACKEND", "postgres")
            .env("CAIRN_STORE__URL", url)
            .env_remove("CAIRN_CONFIG")
            .current_dir(Path::new("/"))
            .args(args);
        cmd.output().unwrap()
    };
    let out = cli(&fresh, &["collections", "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cairn migrate"), "{err}");
    let out = cli(&fresh, &["--json", "migrate", "--check"]);
    assert_eq!(out.status.code(), Some(1), "pending");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pending"], true);
    assert_eq!(v["version"], 0);
    let out = cli(&fresh, &["--json", "migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pending"], false);
    let every: Vec<i64> = (1..=cairn_store::POSTGRES_SCHEMA_VERSION).collect();
    assert_eq!(v["applied"], json!(every));
    let out = cli(&fresh, &["collections", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&fresh, &["migrate", "--check"]);
    assert!(out.status.success());
}

/// Distinct prose for document `n`, about `words` words (several chunks).
fn long_page(n: usize, words: usize) -> String {
    let vocabulary = [
        "harbor",
        "ledger",
        "timber",
        "beacon",
        "granary",
        "tariff",
        "anchor",
        "pilot",
        "quay",
        "cargo",
        "tide",
        "warehouse",
        "customs",
        "crane",
        "berth",
        "manifest",
    ];
    let mut text = format!("# Report {n}\n\n");
    for i in 0..words {
        let w = vocabulary[(i * 7 + n * 13 + i / 5) % vocabulary.len()];
        text.push_str(w);
        text.push_str(if i % 23 == 22 { ".\n\n" } else { " " });
    }
    text
}

fn jobs(home: &Path) -> Vec<serde_json::Value> {
    let out = common::cairn(
        home,
        &[
            "--json", "--tenant", "acme", "jobs", "list", "--limit", "1000",
        ],
    );
    common::json(&out).as_array().unwrap().clone()
}

#[test]
fn workers_drain_one_queue_and_a_killed_workers_job_runs_again_once() {
    let db = cairn_store::testing::fresh_postgres_database().unwrap_or_else(|e| panic!("{e}"));
    let home = home(&db, "", "[ingest]\nlease_ms = 4000\n");
    // No Redis: workers take no requests, so no rate limits apply to them.
    let toml = std::fs::read_to_string(home.path().join("cairn.toml")).unwrap();
    std::fs::write(
        home.path().join("cairn.toml"),
        toml.replace("[redis]\nurl = \"\"\n", ""),
    )
    .unwrap();
    let h = home.path();
    std::fs::create_dir_all(h.join("docs")).unwrap();
    let files = 6;
    for n in 0..files {
        std::fs::write(h.join(format!("docs/report-{n}.md")), long_page(n, 9_000)).unwrap();
    }
    let out = common::cairn(
        h,
        &[
            "--json",
            "--tenant",
            "acme",
            "ingest",
            "docs",
            "-c",
            "kb",
            "--no-wait",
        ],
    );
    let report = common::json(&out);
    assert_eq!(report["queued"], files, "{report}");
    assert!(jobs(h).iter().all(|j| j["state"] == "queued"));

    let worker = |name: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .env("CAIRN_DATA_DIR", h.join(format!("data-{name}")))
            .env_remove("CAIRN_CONFIG")
            .current_dir(h)
            .args(["worker", "--threads", "1"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut a = worker("a");
    // Kill A (SIGKILL: no chance to clean up) while it holds a job.
    let started = Instant::now();
    let running = loop {
        let list = jobs(h);
        if let Some(j) = list.iter().find(|j| j["state"] == "running") {
            break j["id"].as_str().unwrap().to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "worker A never started a job: {list:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    a.kill().unwrap();
    a.wait().unwrap();
    let mut b = worker("b");
    let started = Instant::now();
    let done = loop {
        let list = jobs(h);
        if list.iter().all(|j| j["state"] == "succeeded") {
            break list;
        }
        assert!(
            !list.iter().any(|j| j["state"] == "dead"),
            "a job died: {list:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "worker B did not finish the queue: {list:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    b.kill().unwrap();
    b.wait().unwrap();
    let killed = done.iter().find(|j| j["id"] == running.as_str()).unwrap();
    assert!(
        killed["attempts"].as_u64().unwrap() >= 2,
        "the job A held when it was killed ran again: {killed}"
    );
    // Every document once, every chunk once: the chunk rows are exactly the sum of the
    // documents' chunk counts, one per (document, ordinal).
    let mut pg = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    let docs: i64 = pg
        .query_one(
            "SELECT COUNT(*) FROM documents WHERE tenant_id = 'acme'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(docs, i64::try_from(files).unwrap());
    let (rows, counted, distinct): (i64, i64, i64) = {
        let r = pg
            .query_one(
                "SELECT (SELECT COUNT(*) FROM chunks WHERE tenant_id = 'acme'),
                        (SELECT SUM(chunk_count)::bigint FROM documents WHERE tenant_id = 'acme'),
                        (SELECT COUNT(DISTINCT (document_id, ordinal)) FROM chunks
                          WHERE tenant_id = 'acme')",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert!(
        rows > i64::try_from(files).unwrap(),
        "several chunks per report"
    );
    assert_eq!((rows, distinct), (counted, counted));
}
