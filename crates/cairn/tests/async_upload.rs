//! Asynchronous uploads against the real binary: `cairn serve` runs their jobs itself
//! (`server.ingest_workers`, default 1); with `ingest_workers = 0` they wait in the store
//! (the bytes with them, nothing under `<data_dir>/tmp`) until a separate `cairn worker`
//! process runs them; another tenant's collection is `404` and a viewer `403`, storing
//! nothing; and the same on PostgreSQL.

// Tests fail loudly and explain themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::server::{Reply, Server, call, upload_async};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const FERRIES: &str = "# Ferries\n\nThe Valdermoor ferry to Østerholm leaves at quarter past \
    seven; the crossing takes ninety minutes on the MS Tern.\n";
const BROKEN_PDF: &str = "%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref";

fn home(config: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("cairn.toml"),
        format!("[ingest.quality]\nmin_chars = 10\n\n{config}"),
    )
    .unwrap();
    home
}

fn create_collection(s: &Server, key: &str, id: &str) {
    let r = call(
        "POST",
        &format!("{}/api/v1/collections", s.url),
        Some(key),
        Some(&json!({ "id": id })),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

/// The accepted upload's job id, after checking the 202 answer.
fn accepted(r: &Reply) -> String {
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["job"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["job"]["kind"]["type"], "ingest_upload", "{}", r.text);
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/api/v1/jobs/{id}").as_str())
    );
    id
}

/// Polls `GET /api/v1/jobs/{id}` until the job is finished.
fn finished(s: &Server, key: &str, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let r = call(
            "GET",
            &format!("{}/api/v1/jobs/{id}", s.url),
            Some(key),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        if r.body["state"] == "succeeded" || r.body["state"] == "dead" {
            return r.body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "job {id} did not finish: {}",
            r.text
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn search(s: &Server, key: &str, collection: &str, query: &str) -> String {
    let r = call(
        "POST",
        &format!("{}/api/v1/search", s.url),
        Some(key),
        Some(&json!({"collection": collection, "query": query, "top_k": 3})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["hits"].to_string()
}

/// Rows of `table` of `tenant` in the SQLite store under `home`.
fn sqlite_rows(home: &Path, table: &str, tenant: &str) -> i64 {
    let db = rusqlite::Connection::open(home.join("data/cairn.db")).unwrap();
    db.query_row(
        &format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = ?1"),
        [tenant],
        |r| r.get(0),
    )
    .unwrap()
}

/// What is under `<data_dir>/tmp`, where uploads are spooled while they arrive.
fn spooled(home: &Path) -> Vec<String> {
    std::fs::read_dir(home.join("data/tmp")).map_or_else(
        |_| Vec::new(),
        |entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        },
    )
}

#[test]
fn cairn_serve_runs_async_uploads_itself() {
    let home = home("");
    let h = home.path();
    let editor = common::new_key(h, "acme", "editor", None);
    let viewer = common::new_key(h, "acme", "viewer", None);
    let globex = common::new_key(h, "globex", "admin", None);
    let s = Server::start(h);
    create_collection(&s, &editor, "kb");

    // Another tenant's collection is not found, a viewer may not upload: nothing stored.
    let r = upload_async(&s.url, &globex, "kb", "gx.md", FERRIES);
    assert_eq!(r.status, 404, "{}", r.text);
    let r = upload_async(&s.url, &viewer, "kb", "viewer.md", FERRIES);
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{}",
        r.text
    );
    for tenant in ["acme", "globex"] {
        assert_eq!(sqlite_rows(h, "uploads", tenant), 0);
        assert_eq!(sqlite_rows(h, "jobs", tenant), 0);
    }

    let job = accepted(&upload_async(&s.url, &editor, "kb", "ferries.md", FERRIES));
    assert!(spooled(h).is_empty(), "{:?}", spooled(h));
    let done = finished(&s, &editor, &job);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(done["document"].is_string(), "{done}");
    assert!(search(&s, &editor, "kb", "ferry crossing Østerholm").contains("MS Tern"));
    assert_eq!(
        sqlite_rows(h, "uploads", "acme"),
        0,
        "the bytes went with the commit"
    );

    // A corrupt file: the job dies with `corrupt_file` and keeps its bytes for a retry.
    let job = accepted(&upload_async(
        &s.url,
        &editor,
        "kb",
        "broken.pdf",
        BROKEN_PDF,
    ));
    let dead = finished(&s, &editor, &job);
    assert_eq!(
        (dead["state"].as_str(), dead["error_code"].as_str()),
        (Some("dead"), Some("corrupt_file")),
        "{dead}"
    );
    assert_eq!(sqlite_rows(h, "uploads", "acme"), 1);
    // Another tenant cannot see the job.
    let r = call(
        "GET",
        &format!("{}/api/v1/jobs/{job}", s.url),
        Some(&globex),
        None,
    );
    assert_eq!(r.status, 404, "{}", r.text);
}

#[test]
fn with_no_ingest_workers_a_cairn_worker_process_runs_the_jobs() {
    let home = home("[server]\ningest_workers = 0\n");
    let h = home.path();
    let editor = common::new_key(h, "acme", "editor", None);
    let s = Server::start(h);
    create_collection(&s, &editor, "kb");
    let job = accepted(&upload_async(&s.url, &editor, "kb", "ferries.md", FERRIES));
    // The bytes wait in the store, not in the server's temporary directory.
    assert_eq!(sqlite_rows(h, "uploads", "acme"), 1);
    assert!(spooled(h).is_empty(), "{:?}", spooled(h));
    std::thread::sleep(Duration::from_millis(1500));
    let r = call(
        "GET",
        &format!("{}/api/v1/jobs/{job}", s.url),
        Some(&editor),
        None,
    );
    assert_eq!(
        r.body["state"], "queued",
        "the server runs no jobs: {}",
        r.text
    );

    let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .env("CAIRN_DATA_DIR", h.join("data"))
        .env_remove("CAIRN_CONFIG")
        .current_dir(h)
        .args(["worker", "--threads", "1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let done = finished(&s, &editor, &job);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    worker.wait().unwrap();
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(sqlite_rows(h, "uploads", "acme"), 0);
    assert!(search(&s, &editor, "kb", "ferry crossing Østerholm").contains("MS Tern"));
}

#[test]
fn async_uploads_on_postgres() {
    let db = cairn_store::testing::fresh_postgres_database().unwrap_or_else(|e| panic!("{e}"));
    // One server: no Redis needed once the rate limits are off.
    let home = home(&format!(
        "[store]\nbackend = \"postgres\"\nurl = \"{db}\"\n\n\
         [limits]\nkey_rpm = 0\nkey_tpm = 0\ntenant_rpm = 0\ntenant_tpm = 0\n"
    ));
    let h = home.path();
    let editor = common::new_key(h, "acme", "editor", None);
    let s = Server::start(h);
    create_collection(&s, &editor, "kb");
    let job = accepted(&upload_async(&s.url, &editor, "kb", "ferries.md", FERRIES));
    assert!(spooled(h).is_empty(), "{:?}", spooled(h));
    let done = finished(&s, &editor, &job);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(search(&s, &editor, "kb", "ferry crossing Østerholm").contains("MS Tern"));
    let mut pg = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    let left: i64 = pg
        .query_one("SELECT COUNT(*) FROM uploads", &[])
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the bytes went with the commit");
}

/// A short note someone uploads on purpose is indexed, synchronously or not, under the
/// default quality rules (`ingest.quality.min_chars` = 200), while the same note found by
/// a directory scan is still skipped as near-empty (the rule exists for the tables of
/// contents of crawled manuals); a file with no text at all is refused.
#[test]
fn short_uploads_are_indexed_while_scans_skip_near_empty_pages() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("cairn.toml"), "").unwrap();
    let note = "# Parking\n\nVisitors park on level two of the Quayside garage; \
                the barrier opens with the code 4471.\n";
    assert!(note.len() < 200);
    std::fs::create_dir(home.path().join("scan")).unwrap();
    std::fs::write(home.path().join("scan/parking.md"), note).unwrap();
    let out = common::cairn(home.path(), &["--json", "ingest", "scan", "-c", "scanned"]);
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["skipped"].as_array().unwrap().len(), 1, "{report}");
    let key = common::new_key(home.path(), "default", "admin", None);
    let s = Server::start(home.path());
    create_collection(&s, &key, "notes");
    let r = common::server::upload(&s.url, &key, "notes", "parking.md", note, None);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "indexed", "{}", r.text);
    let queued = upload_async(
        &s.url,
        &key,
        "notes",
        "gate.md",
        &note.replace("4471", "5582"),
    );
    finished(&s, &key, &accepted(&queued));
    let hits = search(&s, &key, "notes", "Quayside garage barrier code");
    assert!(hits.contains("4471") && hits.contains("5582"), "{hits}");
    let empty = common::server::upload(&s.url, &key, "notes", "blank.md", "   \n", None);
    assert_eq!(empty.status, 422, "{}", empty.text);
    assert_eq!(
        empty.body["error"]["code"], "empty_document",
        "{}",
        empty.text
    );
}
