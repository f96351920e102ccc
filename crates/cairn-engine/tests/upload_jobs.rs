//! Asynchronous uploads through the engine (real SQLite, real tokenizer and embedder):
//! the bytes wait in the store with their job, a worker ingests them as a synchronous
//! upload would (idempotency key, owner, ACL, metadata, the tenant's ingest guard),
//! then the bytes are gone; a corrupt file's job dies keeping its bytes; uploads of one
//! name apply in the order they were received.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // tests fail loudly and explain themselves

mod common;

use cairn_engine::ingest::NoProgress;
use cairn_engine::{Engine, UploadAccepted, UploadRequest};
use cairn_store::JobFilter;
use cairn_types::{Acl, CollectionId, ErrorCode, Job, JobState, TenantId};
use common::{engine, prose};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn t() -> TenantId {
    TenantId::new("acme")
}

fn c() -> CollectionId {
    CollectionId::new("docs")
}

/// Runs a worker until no job of the collection is queued or running.
fn drain(e: &Engine) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| e.serve_jobs(1, &stop, &NoProgress));
        let started = Instant::now();
        // Let the worker claim before the first look.
        std::thread::sleep(Duration::from_millis(100));
        while e.store().pending_count(&t(), &c()).unwrap() > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the jobs did not finish"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::SeqCst);
    });
}

fn queued(a: UploadAccepted) -> Job {
    match a {
        UploadAccepted::Queued(job) => job,
        UploadAccepted::Done(doc) => panic!("expected a job, got document {}", doc.id),
    }
}

fn upload<'a>(name: &'a str, bytes: &'a [u8]) -> UploadRequest<'a> {
    UploadRequest {
        name,
        bytes,
        owner: Some("ann".into()),
        ..Default::default()
    }
}

#[test]
fn a_stored_upload_is_ingested_by_a_worker_and_its_bytes_go() {
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(tmp.path(), "");
    e.ensure_collection(&t(), &c()).unwrap();
    let text = format!("# Runbook\n\n{}", prose("failover", 30));
    let mut metadata = serde_json::Map::new();
    metadata.insert("team".into(), "ops".into());
    let req = UploadRequest {
        idempotency_key: Some("k1"),
        acl: Acl {
            users: vec!["ann".into()],
            groups: vec![],
        },
        metadata,
        ..upload("runbook.md", text.as_bytes())
    };
    let job = queued(e.enqueue_upload(&t(), &c(), &req).unwrap());
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.kind.target(), "upload:runbook.md");
    let waiting = e.store().list_uploads(&t()).unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].job, job.id);
    assert_eq!(waiting[0].size_bytes, text.len() as u64);
    assert_eq!(e.store().count_chunks(&t(), Some(&c())).unwrap(), 0);
    // A retry while the job waits gets the same job; another upload with the key is a
    // conflict and stores nothing.
    assert_eq!(
        queued(e.enqueue_upload(&t(), &c(), &req).unwrap()).id,
        job.id
    );
    let other = format!("# Other\n\n{}", prose("vacuum", 30));
    let err = e
        .enqueue_upload(
            &t(),
            &c(),
            &UploadRequest {
                bytes: other.as_bytes(),
                ..req.clone()
            },
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict, "{err:?}");
    assert_eq!(e.store().list_uploads(&t()).unwrap().len(), 1);

    drain(&e);
    let done = e.store().get_job(&t(), &job.id).unwrap();
    assert_eq!(done.state, JobState::Succeeded, "{done:?}");
    let doc = e
        .store()
        .get_document(&t(), done.document.as_ref().unwrap())
        .unwrap();
    assert_eq!(doc.source, "upload:runbook.md");
    assert_eq!(doc.owner.as_deref(), Some("ann"));
    assert_eq!(doc.acl.users, ["ann"]);
    assert_eq!(doc.metadata["team"], "ops");
    assert_eq!(
        doc.mtime, job.created_at,
        "an upload's mtime is when it came in"
    );
    assert!(doc.chunk_count > 0 && done.chunks == doc.chunk_count);
    assert!(e.store().list_uploads(&t()).unwrap().is_empty());
    // The key now answers with the document, synchronously or not.
    match e.enqueue_upload(&t(), &c(), &req).unwrap() {
        UploadAccepted::Done(d) => assert_eq!(d.id, doc.id),
        UploadAccepted::Queued(j) => panic!("queued again: {j:?}"),
    }
    assert_eq!(e.ingest_bytes(&t(), &c(), &req).unwrap().id, doc.id);
    assert!(e.store().list_uploads(&t()).unwrap().is_empty());
}

#[test]
fn a_corrupt_upload_dies_and_keeps_its_bytes_for_a_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(tmp.path(), "");
    e.ensure_collection(&t(), &c()).unwrap();
    let broken = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref";
    let job = queued(
        e.enqueue_upload(&t(), &c(), &upload("broken.pdf", broken))
            .unwrap(),
    );
    drain(&e);
    let dead = e.store().get_job(&t(), &job.id).unwrap();
    assert_eq!(dead.state, JobState::Dead, "{dead:?}");
    assert_eq!(dead.error_code, Some(ErrorCode::CorruptFile), "{dead:?}");
    let kept = e.store().get_upload(&t(), &waiting_id(&e)).unwrap();
    assert_eq!(kept.bytes, broken);
    // `cairn jobs retry` runs it again from the same bytes (and it dies again).
    e.retry_jobs(&t(), std::slice::from_ref(&job.id), &NoProgress)
        .unwrap();
    let again = e.store().get_job(&t(), &job.id).unwrap();
    assert_eq!((again.state, again.attempts), (JobState::Dead, 1));
    assert_eq!(e.store().list_uploads(&t()).unwrap().len(), 1);
}

fn waiting_id(e: &Engine) -> cairn_types::UploadId {
    e.store().list_uploads(&t()).unwrap().remove(0).id
}

#[test]
fn a_refused_upload_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(tmp.path(), "max_file_bytes = 100");
    let text = prose("planner", 30);
    // No such collection: a job needs one (the synchronous path would create it).
    let err = e
        .enqueue_upload(&t(), &c(), &upload("a.md", b"# A\n\nshort"))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound, "{err:?}");
    e.ensure_collection(&t(), &c()).unwrap();
    let err = e
        .enqueue_upload(&t(), &c(), &upload("big.md", text.as_bytes()))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err:?}");
    let err = e
        .enqueue_upload(&t(), &c(), &upload("dir/a.md", b"x"))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput, "{err:?}");
    let gone = || false;
    let err = e
        .enqueue_upload(
            &t(),
            &c(),
            &UploadRequest {
                commit_gate: Some(cairn_engine::CommitGate(&gone)),
                ..upload("a.md", b"# A\n\nshort")
            },
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Cancelled, "{err:?}");
    assert!(e.store().list_uploads(&t()).unwrap().is_empty());
    let jobs = e.store().list_jobs(&t(), &JobFilter::default()).unwrap();
    assert!(jobs.is_empty(), "{jobs:?}");
}

#[test]
fn uploads_of_one_name_apply_in_the_order_they_were_received() {
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(tmp.path(), "");
    e.ensure_collection(&t(), &c()).unwrap();
    let first = format!("# Plan\n\nFIRSTVERSION {}", prose("lock", 30));
    let second = format!("# Plan\n\nSECONDVERSION {}", prose("index", 30));
    let early = queued(
        e.enqueue_upload(&t(), &c(), &upload("plan.md", first.as_bytes()))
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(5));
    let late = queued(
        e.enqueue_upload(&t(), &c(), &upload("plan.md", second.as_bytes()))
            .unwrap(),
    );
    assert_ne!(early.id, late.id, "two uploads of one name are two jobs");
    // The early job is held by a worker that stalls; the late one runs first.
    let held = e
        .store()
        .claim("stalled", 600_000, None, i64::MAX / 2)
        .unwrap();
    assert_eq!(held.unwrap().id, early.id);
    drain_only(&e, &late);
    // The stalled worker's attempt fails; the retry runs after the later upload is in.
    e.store()
        .fail_job(&t(), &early.id, ErrorCode::Transient, "stalled", Some(0), 1)
        .unwrap();
    drain(&e);
    let (early, late) = (
        e.store().get_job(&t(), &early.id).unwrap(),
        e.store().get_job(&t(), &late.id).unwrap(),
    );
    assert_eq!(
        (early.state, late.state),
        (JobState::Succeeded, JobState::Succeeded)
    );
    assert_eq!(early.document, late.document, "one document of that name");
    assert_eq!(early.chunks, 0, "the earlier upload wrote nothing");
    let doc = e
        .store()
        .get_document(&t(), late.document.as_ref().unwrap())
        .unwrap();
    let chunks = e.store().list_chunks(&t(), &doc.id).unwrap();
    assert!(chunks.iter().any(|ch| ch.text.contains("SECONDVERSION")));
    assert!(!chunks.iter().any(|ch| ch.text.contains("FIRSTVERSION")));
    assert!(e.store().list_uploads(&t()).unwrap().is_empty());
}

/// Runs a worker until `job` is finished (other jobs may stay held).
fn drain_only(e: &Engine, job: &Job) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| e.serve_jobs(1, &stop, &NoProgress));
        let started = Instant::now();
        while matches!(
            e.store().get_job(&t(), &job.id).unwrap().state,
            JobState::Queued | JobState::Running
        ) {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the job did not finish"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::SeqCst);
    });
}

#[test]
fn the_tenants_ingest_guard_applies_to_upload_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(tmp.path(), "");
    e.ensure_collection(&t(), &c()).unwrap();
    e.store()
        .set_tenant_settings(
            &t(),
            &serde_json::json!({"guard": {"pii_ingest": "redact"}}),
            1,
        )
        .unwrap();
    let text = format!(
        "# Contacts\n\nWrite to jane.doe@example.com for access. {}",
        prose("replication", 30)
    );
    let job = queued(
        e.enqueue_upload(&t(), &c(), &upload("contacts.md", text.as_bytes()))
            .unwrap(),
    );
    drain(&e);
    let done = e.store().get_job(&t(), &job.id).unwrap();
    assert_eq!(done.state, JobState::Succeeded, "{done:?}");
    let chunks = e
        .store()
        .list_chunks(&t(), done.document.as_ref().unwrap())
        .unwrap();
    assert!(!chunks.is_empty());
    assert!(
        chunks
            .iter()
            .all(|ch| !ch.text.contains("jane.doe@example.com")),
        "{chunks:?}"
    );
    let doc = e
        .store()
        .get_document(&t(), done.document.as_ref().unwrap())
        .unwrap();
    assert!(
        doc.metadata["pii"].is_object(),
        "what was found is recorded: {doc:?}"
    );
}
