//! Asynchronous uploads in-process (the router driven with `tower::ServiceExt::oneshot`,
//! real SQLite, real MiniLM; the ingest workers `cairn serve` runs are
//! `Engine::serve_jobs` on a thread here): `Prefer: respond-async` or `?wait=false`
//! answers `202` with the job once the bytes and the job are in the store, never in
//! `<data_dir>/tmp`; the job ends with a searchable document and the bytes gone, or dead
//! with its bytes until the retention sweep; refusals store nothing; idempotency keys
//! answer with the pending job or the finished document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use cairn_engine::Engine;
use cairn_engine::ingest::NoProgress;
use cairn_server::{AppState, router};
use cairn_store::RetentionCutoffs;
use cairn_types::TenantId;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const FERRIES: &str = "# Ferries\n\nThe Valdermoor ferry to Østerholm leaves at quarter past \
    seven; the crossing takes ninety minutes on the MS Tern.\n";

fn app(dir: &std::path::Path, extra: &str) -> (Router, Arc<Engine>) {
    let toml = format!(
        "data_dir = \"{}\"\n[ingest.quality]\nmin_chars = 10\n{extra}\n[auth]\nmode = \"off\"\n",
        dir.join("data").display(),
    );
    let (config, _) = cairn_config::load_from_str(&toml, "test", &[]).unwrap();
    let engine = Arc::new(Engine::open(config).unwrap());
    (router(AppState::new(engine.clone()).unwrap()), engine)
}

fn tenant() -> TenantId {
    TenantId::new("default")
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    (status, headers, v)
}

/// A multipart upload of `content` as `name` to `uri`, with extra headers.
fn upload(uri: &str, name: &str, content: &[u8], headers: &[(&str, &str)]) -> Request<Body> {
    let boundary = "cairnasyncboundary42";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut b = Request::builder().method("POST").uri(uri).header(
        header::CONTENT_TYPE,
        format!("multipart/form-data; boundary={boundary}"),
    );
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::from(body)).unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).unwrap()
}

fn json_post(uri: &str, body: &Value) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

const ASYNC: &[(&str, &str)] = &[("prefer", "respond-async")];

/// Runs the ingest workers (as `cairn serve` does) until `done` holds.
async fn work_until(engine: &Arc<Engine>, app: &Router, job: &str, done: &[&str]) -> Value {
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || engine.serve_jobs(1, &stop, &NoProgress))
    };
    let started = Instant::now();
    let job = loop {
        let (s, _, v) = send(app, get(&format!("/api/v1/jobs/{job}"))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if done.contains(&v["state"].as_str().unwrap()) {
            break v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the job did not finish: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stop.store(true, Ordering::SeqCst);
    worker.join().unwrap();
    job
}

/// Files under `<data_dir>/tmp` (where uploads are spooled while they arrive).
fn spooled(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir.join("data/tmp")).map_or_else(
        |_| Vec::new(),
        |entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        },
    )
}

#[tokio::test]
async fn an_async_upload_answers_202_and_its_job_makes_it_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let (app, engine) = app(dir.path(), "");
    let (s, _, v) = send(&app, json_post("/api/v1/collections", &json!({"id": "kb"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, h, v) = send(
        &app,
        upload(
            "/api/v1/collections/kb/documents",
            "ferries.md",
            FERRIES.as_bytes(),
            &[("prefer", "wait=10, respond-async")],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let job = &v["job"];
    let id = job["id"].as_str().unwrap();
    assert_eq!(job["state"], "queued", "{v}");
    assert_eq!(job["kind"]["type"], "ingest_upload", "{v}");
    assert_eq!(job["kind"]["name"], "ferries.md", "{v}");
    assert_eq!(
        h.get(header::LOCATION).unwrap(),
        &format!("/api/v1/jobs/{id}")
    );
    assert_eq!(h.get("preference-applied").unwrap(), "respond-async");
    // The bytes are in the store, not in the server's temporary directory.
    let waiting = engine.store().list_uploads(&tenant()).unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].size_bytes, FERRIES.len() as u64);
    assert!(spooled(dir.path()).is_empty(), "{:?}", spooled(dir.path()));
    let (s, _, polled) = send(&app, get(&format!("/api/v1/jobs/{id}"))).await;
    assert_eq!((s, &polled["id"]), (StatusCode::OK, &job["id"]));
    // The upload is audited when it is accepted.
    let (_, _, audit) = send(&app, get("/api/v1/audit")).await;
    let entry = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "documents.upload")
        .unwrap_or_else(|| panic!("no upload in the audit log: {audit}"));
    assert_eq!(entry["target"], id, "{entry}");
    assert_eq!(entry["detail"]["source"], "upload:ferries.md", "{entry}");

    let done = work_until(&engine, &app, id, &["succeeded", "dead"]).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 1, "{done}");
    let doc = done["document"].as_str().unwrap();
    assert!(engine.store().list_uploads(&tenant()).unwrap().is_empty());
    let (s, _, d) = send(&app, get(&format!("/api/v1/documents/{doc}"))).await;
    assert_eq!(
        (s, &d["source"]),
        (StatusCode::OK, &json!("upload:ferries.md"))
    );
    let (s, _, hits) = send(
        &app,
        json_post(
            "/api/v1/search",
            &json!({"collection": "kb", "query": "ferry crossing Østerholm", "top_k": 3}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{hits}");
    assert!(
        hits["hits"][0]["text"]
            .as_str()
            .unwrap()
            .contains("MS Tern"),
        "{hits}"
    );

    // `?wait=false` asks the same; `?wait=true` (the default) ingests in the request.
    let (s, _, v) = send(
        &app,
        upload(
            "/api/v1/collections/kb/documents?wait=false",
            "tern.md",
            b"# Tern\n\nThe MS Tern was built in 1998 at Kiel.",
            &[],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (s, _, v) = send(
        &app,
        upload(
            "/api/v1/collections/kb/documents?wait=true",
            "kiel.md",
            b"# Kiel\n\nKiel is a port city on the Baltic Sea.",
            &[],
        ),
    )
    .await;
    assert_eq!(
        (s, &v["source"]),
        (StatusCode::CREATED, &json!("upload:kiel.md"))
    );
    let (s, _, v) = send(
        &app,
        upload(
            "/api/v1/collections/kb/documents?wait=maybe",
            "x.md",
            b"# X\n\nx",
            &[],
        ),
    )
    .await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_input"))
    );
}

#[tokio::test]
async fn a_corrupt_async_upload_dies_and_keeps_its_bytes_until_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let (app, engine) = app(dir.path(), "");
    engine
        .ensure_collection(&tenant(), &cairn_types::CollectionId::new("kb"))
        .unwrap();
    let broken = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref";
    let (s, _, v) = send(
        &app,
        upload(
            "/api/v1/collections/kb/documents",
            "broken.pdf",
            broken,
            ASYNC,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["job"]["id"].as_str().unwrap().to_owned();
    let dead = work_until(&engine, &app, &id, &["succeeded", "dead"]).await;
    assert_eq!(dead["state"], "dead", "{dead}");
    assert_eq!(dead["error_code"], "corrupt_file", "{dead}");
    assert!(
        dead["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{dead}"
    );
    assert_eq!(engine.store().list_uploads(&tenant()).unwrap().len(), 1);
    // The retention sweep of finished jobs takes the bytes with the job.
    let r = engine
        .store()
        .sweep_expired(
            &tenant(),
            &RetentionCutoffs {
                logs: Some(i64::MAX / 2),
                ..RetentionCutoffs::default()
            },
        )
        .unwrap();
    assert_eq!((r.jobs, r.uploads), (1, 1), "{r:?}");
    assert!(engine.store().list_uploads(&tenant()).unwrap().is_empty());
    let (s, _, _) = send(&app, get(&format!("/api/v1/jobs/{id}"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn refused_async_uploads_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (app, engine) = app(dir.path(), "[server]\nmax_upload_bytes = 4096\n");
    // A collection this tenant does not have (another tenant's name guesses the same).
    let (s, _, v) = send(
        &app,
        upload(
            "/api/v1/collections/theirs/documents",
            "a.md",
            FERRIES.as_bytes(),
            ASYNC,
        ),
    )
    .await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found")),
        "{v}"
    );
    let (s, _, _) = send(&app, get("/api/v1/collections/theirs")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no collection was created");
    engine
        .ensure_collection(&tenant(), &cairn_types::CollectionId::new("kb"))
        .unwrap();
    let big = "x".repeat(5000);
    let (s, _, v) = send(
        &app,
        upload(
            "/api/v1/collections/kb/documents",
            "big.md",
            big.as_bytes(),
            ASYNC,
        ),
    )
    .await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (StatusCode::PAYLOAD_TOO_LARGE, &json!("too_large")),
        "{v}"
    );
    let (s, _, v) = send(
        &app,
        upload(
            "/api/v1/collections/kb/documents",
            "a.md",
            FERRIES.as_bytes(),
            &[("prefer", "respond-async"), ("idempotency-key", "")],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(engine.store().list_uploads(&tenant()).unwrap().is_empty());
    let (_, _, jobs) = send(&app, get("/api/v1/jobs")).await;
    assert_eq!(jobs["data"], json!([]), "{jobs}");
    assert!(spooled(dir.path()).is_empty(), "{:?}", spooled(dir.path()));
}

#[tokio::test]
async fn idempotency_keys_answer_with_the_pending_job_then_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let (app, engine) = app(dir.path(), "");
    engine
        .ensure_collection(&tenant(), &cairn_types::CollectionId::new("kb"))
        .unwrap();
    let keyed = [
        ("prefer", "respond-async"),
        ("idempotency-key", "ferries-1"),
    ];
    let uri = "/api/v1/collections/kb/documents";
    let (s, _, first) = send(&app, upload(uri, "ferries.md", FERRIES.as_bytes(), &keyed)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{first}");
    let (s, _, again) = send(&app, upload(uri, "ferries.md", FERRIES.as_bytes(), &keyed)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{again}");
    assert_eq!(
        again["job"]["id"], first["job"]["id"],
        "a retry gets the same job"
    );
    let (s, _, v) = send(
        &app,
        upload(uri, "other.md", b"# Other\n\nanother file", &keyed),
    )
    .await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (StatusCode::CONFLICT, &json!("conflict")),
        "{v}"
    );
    assert_eq!(engine.store().list_uploads(&tenant()).unwrap().len(), 1);
    let id = first["job"]["id"].as_str().unwrap();
    let done = work_until(&engine, &app, id, &["succeeded", "dead"]).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    // Done: the key answers with the document, as a synchronous upload's retry does.
    let (s, _, doc) = send(&app, upload(uri, "ferries.md", FERRIES.as_bytes(), &keyed)).await;
    assert_eq!(s, StatusCode::CREATED, "{doc}");
    assert_eq!(doc["id"], done["document"]);
    let (s, _, doc) = send(
        &app,
        upload(
            uri,
            "ferries.md",
            FERRIES.as_bytes(),
            &[("idempotency-key", "ferries-1")],
        ),
    )
    .await;
    assert_eq!((s, &doc["id"]), (StatusCode::CREATED, &done["document"]));
}

#[tokio::test]
async fn the_openapi_document_describes_the_async_upload() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), "");
    let (s, _, spec) = send(&app, get("/openapi.json")).await;
    assert_eq!(s, StatusCode::OK);
    let op = &spec["paths"]["/api/v1/collections/{collection}/documents"]["post"];
    assert!(op["responses"]["202"].is_object(), "{op}");
    assert!(
        op["responses"]["202"]["headers"]["Location"].is_object(),
        "{op}"
    );
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in ["collection", "Idempotency-Key", "Prefer", "wait"] {
        assert!(params.contains(&p), "{p} missing: {params:?}");
    }
}
