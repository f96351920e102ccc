//! End-to-end ingestion through the engine: real files, real SQLite, real tokenizer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // tests fail loudly and explain themselves

mod common;

use cairn_engine::ingest::NoProgress;
use cairn_engine::{IngestOptions, UploadRequest};
use cairn_store::JobFilter;
use cairn_types::{Acl, CollectionId, DocStatus, ErrorCode, JobState, TenantId};
use common::{engine, prose, tick, write};

fn t() -> TenantId {
    TenantId::new("acme")
}

fn c() -> CollectionId {
    CollectionId::new("docs")
}

fn dead_jobs(e: &cairn_engine::Engine) -> Vec<cairn_types::Job> {
    let filter = JobFilter {
        state: Some(JobState::Dead),
        ..Default::default()
    };
    e.store().list_jobs(&t(), &filter).unwrap()
}

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<html><head><title>{title}</title></head><body>\
         <div class=\"navheader\"><table><tr><td><a href=\"a.html\">Prev</a></td>\
         <td><a href=\"up.html\">Up</a></td><td><a href=\"b.html\">Next</a></td></tr></table></div>\
         <h1>{title}</h1><p>{body}</p>\
         <div class=\"navfooter\"><a href=\"a.html\">Prev</a> <a href=\"index.html\">Home</a> <a href=\"b.html\">Next</a></div>\
         </body></html>"
    )
}

#[test]
fn mixed_batch_indexes_good_files_and_dead_letters_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(
        &src,
        "guide.md",
        &format!(
            "# Guide\n\n## Install\n\n{}\n\n## Use\n\n{}",
            prose("install", 20),
            prose("usage", 20)
        ),
    );
    write(
        &src,
        "page.html",
        &html_page("Vacuum basics", &prose("vacuum", 15)),
    );
    write(&src, "notes.txt", &prose("notes", 12));
    write(
        &src,
        "table.csv",
        "name,role\nalice,admin\nbob,viewer\ncarol,editor\n",
    );
    write(
        &src,
        "broken.pdf",
        "%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref",
    );
    std::fs::write(
        src.join("image.bin"),
        [0u8, 159, 146, 150, 255, 0, 1, 2, 3, 250],
    )
    .unwrap();
    write(&src, "records.json", "[{\"name\": \"truncated");
    let e = engine(tmp.path(), "");
    let r = e
        .ingest_path(&t(), &c(), &src, &IngestOptions::default(), &NoProgress)
        .unwrap();

    assert_eq!(r.files_seen, 7);
    assert_eq!(r.queued, 7);
    assert_eq!(r.added + r.skipped.len(), 4, "{r:#?}");
    assert_eq!(r.failed.len(), 3, "{r:#?}");
    let failed: Vec<_> = r
        .failed
        .iter()
        .map(|f| {
            (
                f.source.rsplit('/').next().unwrap().to_owned(),
                f.detail.clone(),
            )
        })
        .collect();
    assert!(
        failed
            .iter()
            .any(|(s, d)| s == "broken.pdf" && d.starts_with("corrupt_file")),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|(s, d)| s == "image.bin" && d.starts_with("unsupported_format")),
        "{failed:?}"
    );

    // Dead jobs carry code and reason.
    let dead = dead_jobs(&e);
    assert_eq!(dead.len(), 3);
    assert!(
        dead.iter()
            .all(|j| j.last_error.as_deref().is_some_and(|m| !m.is_empty())
                && j.error_code.is_some())
    );
    assert!(
        dead.iter().all(|j| j.attempts == 1),
        "permanent errors are not retried"
    );

    // The markdown guide is chunked with heading paths; the HTML page has no navigation text.
    let docs = e.store().list_documents(&t(), Some(&c()), 100, 0).unwrap();
    let guide = docs
        .iter()
        .find(|d| d.source.ends_with("guide.md"))
        .unwrap();
    assert_eq!(guide.title, "Guide");
    assert_eq!(guide.status, DocStatus::Indexed);
    let chunks = e.store().list_chunks(&t(), &guide.id).unwrap();
    assert!(!chunks.is_empty());
    assert!(
        chunks
            .iter()
            .all(|ch| ch.token_count <= 512 && ch.token_count > 0)
    );
    assert!(
        chunks
            .iter()
            .any(|ch| ch.heading_path.first().map(String::as_str) == Some("Guide"))
    );
    let page = docs
        .iter()
        .find(|d| d.source.ends_with("page.html"))
        .unwrap();
    assert_eq!(page.title, "Vacuum basics");
    let text: String = e
        .store()
        .list_chunks(&t(), &page.id)
        .unwrap()
        .iter()
        .map(|c| c.text.clone())
        .collect();
    assert!(text.contains("vacuum section 3"), "{text}");
    assert!(
        !text.contains("Prev") && !text.contains("Next"),
        "navigation leaked: {text}"
    );

    // An unchanged corpus does no work, failed files included; a fixed file runs again.
    let again = e
        .ingest_path(&t(), &c(), &src, &IngestOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(
        (again.queued, again.unchanged, again.previously_failed),
        (0, 4, 3),
        "{again:#?}"
    );
    common::tick();
    let record = serde_json::json!([{ "name": "fixed", "notes": prose("record", 5) }]);
    write(&src, "records.json", &record.to_string());
    let fixed = e
        .ingest_path(&t(), &c(), &src, &IngestOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(
        (fixed.queued, fixed.previously_failed, fixed.added),
        (1, 2, 1),
        "{fixed:#?}"
    );
}

#[test]
fn change_detection_skips_unchanged_replaces_changed_and_syncs_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let a = write(&src, "a.md", &format!("# A\n\n{}", prose("alpha", 30)));
    write(&src, "b.md", &format!("# B\n\n{}", prose("beta", 30)));
    let gone = write(&src, "sub/c.md", &format!("# C\n\n{}", prose("gamma", 30)));
    let e = engine(tmp.path(), "");
    let opts = IngestOptions::default();
    let r1 = e.ingest_path(&t(), &c(), &src, &opts, &NoProgress).unwrap();
    assert_eq!((r1.added, r1.failed.len()), (3, 0), "{r1:#?}");
    let chunks_before = e.store().count_chunks(&t(), Some(&c())).unwrap();

    // Unchanged: no jobs at all.
    let r2 = e.ingest_path(&t(), &c(), &src, &opts, &NoProgress).unwrap();
    assert_eq!(
        (r2.unchanged, r2.queued, r2.chunks_written),
        (3, 0, 0),
        "{r2:#?}"
    );

    // Same bytes, new mtime: the hash check makes it a touch, not a re-chunk.
    tick();
    std::fs::write(&a, std::fs::read(&a).unwrap()).unwrap();
    let r3 = e.ingest_path(&t(), &c(), &src, &opts, &NoProgress).unwrap();
    assert_eq!(
        (r3.queued, r3.touched, r3.updated, r3.chunks_written),
        (1, 1, 0, 0),
        "{r3:#?}"
    );

    // Changed content: chunks replaced, the old text is gone, the document id is kept.
    let doc_a = e
        .store()
        .find_by_source(&t(), &c(), a.canonicalize().unwrap().to_str().unwrap())
        .unwrap()
        .unwrap();
    tick();
    write(&src, "a.md", &format!("# A\n\n{}", prose("omega", 10)));
    let r4 = e.ingest_path(&t(), &c(), &src, &opts, &NoProgress).unwrap();
    assert_eq!(r4.updated, 1, "{r4:#?}");
    let new_chunks = e.store().list_chunks(&t(), &doc_a.id).unwrap();
    let all: String = new_chunks.iter().map(|c| c.text.as_str()).collect();
    assert!(all.contains("omega") && !all.contains("alpha"), "{all}");
    assert_eq!(
        e.store().get_document(&t(), &doc_a.id).unwrap().chunk_count,
        new_chunks.len()
    );

    // Deleted file: kept without --sync, removed with it.
    std::fs::remove_file(&gone).unwrap();
    let r5 = e.ingest_path(&t(), &c(), &src, &opts, &NoProgress).unwrap();
    assert!(r5.removed.is_empty());
    let sync = IngestOptions {
        sync: true,
        ..IngestOptions::default()
    };
    let r6 = e.ingest_path(&t(), &c(), &src, &sync, &NoProgress).unwrap();
    assert_eq!(r6.removed.len(), 1, "{r6:#?}");
    assert!(r6.removed[0].ends_with("sub/c.md"));
    assert_eq!(
        e.store()
            .list_documents(&t(), Some(&c()), 10, 0)
            .unwrap()
            .len(),
        2
    );
    assert!(e.store().count_chunks(&t(), Some(&c())).unwrap() < chunks_before);
}

#[test]
fn exact_duplicates_are_stored_without_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let body = format!("# Same\n\n{}", prose("dup", 20));
    write(&src, "one.md", &body);
    write(&src, "two.md", &body);
    let e = engine(tmp.path(), "");
    // One worker so the order is deterministic.
    let opts = IngestOptions {
        workers: Some(1),
        ..IngestOptions::default()
    };
    let r = e.ingest_path(&t(), &c(), &src, &opts, &NoProgress).unwrap();
    assert_eq!(r.added, 1);
    assert_eq!(r.duplicates.len(), 1, "{r:#?}");
    assert!(
        r.duplicates[0].source.ends_with("two.md") && r.duplicates[0].detail.ends_with("one.md")
    );
    assert_eq!(r.skipped.len(), 1);
    let docs = e.store().list_documents(&t(), Some(&c()), 10, 0).unwrap();
    let two = docs.iter().find(|d| d.source.ends_with("two.md")).unwrap();
    assert_eq!((two.status, two.chunk_count), (DocStatus::Skipped, 0));
}

#[test]
fn upload_idempotency_key_guards_against_duplicates_and_conflicts() {
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(tmp.path(), "");
    let body = prose("upload", 20);
    let req = UploadRequest {
        name: "handbook.txt",
        bytes: body.as_bytes(),
        idempotency_key: Some("key-1"),
        acl: Acl {
            users: vec!["ann".into()],
            groups: vec![],
        },
        metadata: serde_json::Map::new(),
        owner: None,
        guard: None,
        ..Default::default()
    };
    let d1 = e.ingest_bytes(&t(), &c(), &req).unwrap();
    let d2 = e.ingest_bytes(&t(), &c(), &req).unwrap();
    assert_eq!(d1.id, d2.id);
    assert_eq!(d1.acl.users, vec!["ann".to_owned()]);
    let chunks = e.store().count_chunks(&t(), Some(&c())).unwrap();
    assert!(chunks > 0);

    let other = prose("different", 5);
    let err = e
        .ingest_bytes(
            &t(),
            &c(),
            &UploadRequest {
                bytes: other.as_bytes(),
                ..req.clone()
            },
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict);
    // Nothing stored changed.
    assert_eq!(e.store().count_chunks(&t(), Some(&c())).unwrap(), chunks);
    assert_eq!(
        e.store().get_document(&t(), &d1.id).unwrap().content_hash,
        d1.content_hash
    );

    // Oversized uploads are refused with too_large.
    let small = engine(&tmp.path().join("small"), "max_file_bytes = 100");
    let err = small
        .ingest_bytes(
            &t(),
            &c(),
            &UploadRequest {
                idempotency_key: None,
                ..req
            },
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge);
}

#[test]
fn dead_jobs_can_be_retried_after_the_file_is_fixed() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let bad = write(&src, "data.json", "{\"name\": \"cairn\", \"broken\": ");
    let e = engine(tmp.path(), "");
    let r = e
        .ingest_path(&t(), &c(), &src, &IngestOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(r.failed.len(), 1);
    assert!(
        r.failed[0].detail.starts_with("corrupt_file"),
        "{:?}",
        r.failed
    );
    let dead = dead_jobs(&e);
    std::fs::write(&bad, "[{\"name\": \"cairn\", \"kind\": \"platform\"}, {\"name\": \"tantivy\", \"kind\": \"index\"}]").unwrap();
    let r2 = e
        .retry_jobs(&t(), &[dead[0].id.clone()], &NoProgress)
        .unwrap();
    assert_eq!(r2.failed.len(), 0, "{r2:#?}");
    let job = e.store().get_job(&t(), &dead[0].id).unwrap();
    assert_eq!(job.state, JobState::Succeeded);
    let docs = e.store().list_documents(&t(), Some(&c()), 10, 0).unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].format, "json");
}

#[test]
fn tenants_do_not_see_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(
        &src,
        "secret.md",
        &format!("# Secret\n\n{}", prose("secret", 20)),
    );
    let e = engine(tmp.path(), "");
    e.ingest_path(&t(), &c(), &src, &IngestOptions::default(), &NoProgress)
        .unwrap();
    let other = TenantId::new("umbrella");
    e.ensure_tenant(&other).unwrap();
    let docs = e.store().list_documents(&t(), None, 10, 0).unwrap();
    assert_eq!(docs.len(), 1);
    assert!(
        e.store()
            .list_documents(&other, None, 10, 0)
            .unwrap()
            .is_empty()
    );
    assert!(e.store().get_document(&other, &docs[0].id).is_err());
    assert!(
        e.store()
            .list_chunks(&other, &docs[0].id)
            .unwrap()
            .is_empty()
    );
    assert!(e.store().delete_document(&other, &docs[0].id).is_err());
    assert_eq!(e.store().count_chunks(&other, None).unwrap(), 0);
    // The owner still has everything.
    assert!(e.store().count_chunks(&t(), None).unwrap() > 0);
}

#[test]
fn oversized_files_are_dead_lettered_as_too_large_without_stopping_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(&src, "big.md", &format!("# Big\n\n{}", prose("big", 40)));
    write(&src, "small.txt", "Tiny but fine.");
    let e = engine(tmp.path(), "max_file_bytes = 1000");
    let r = e
        .ingest_path(&t(), &c(), &src, &IngestOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(r.failed.len(), 1, "{r:#?}");
    assert!(r.failed[0].source.ends_with("big.md"));
    assert!(
        r.failed[0].detail.starts_with("too_large"),
        "{:?}",
        r.failed
    );
    assert_eq!(r.added + r.skipped.len(), 1);
    let dead = dead_jobs(&e);
    assert_eq!(dead[0].error_code, Some(ErrorCode::TooLarge));
    assert_eq!(dead[0].attempts, 1, "a size limit is not retried");
}

#[test]
fn collections_with_invalid_chunking_are_refused_and_not_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(tmp.path(), "");
    let bad = cairn_types::ChunkingSpec {
        overlap_tokens: 600,
        ..cairn_types::ChunkingSpec::default()
    };
    let err = e.create_collection(&t(), &c(), "", Some(bad)).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert!(err.message.contains("overlap_tokens"), "{}", err.message);
    assert!(e.store().list_collections(&t()).unwrap().is_empty());
}

#[test]
fn a_job_stranded_by_a_vanished_worker_is_taken_over_during_the_run() {
    // A worker on another host claimed b.md and vanished. The next ingest must take the
    // job over once the lease expires instead of waiting on it forever.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(&src, "a.md", &format!("# A\n\n{}", prose("alpha", 40)));
    let b = write(&src, "b.md", &format!("# B\n\n{}", prose("beta", 40)));
    let e = std::sync::Arc::new(engine(tmp.path(), ""));
    e.ensure_tenant(&t()).unwrap();
    e.ensure_collection(&t(), &c()).unwrap();
    let job = cairn_store::NewJob {
        collection: c(),
        batch: "old".into(),
        kind: cairn_types::JobKind::IngestFile {
            path: b.canonicalize().unwrap().display().to_string(),
            acl: Acl::default(),
            metadata: serde_json::Map::new(),
            force: false,
        },
        max_attempts: 3,
    };
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    e.store().enqueue(&t(), &[job], now).unwrap();
    // The lease outlives the run's start-up reclaim and expires while it waits.
    let claimed = e
        .store()
        .claim("elsewhere:1:1", 2_000, None, now)
        .unwrap()
        .unwrap();
    assert_eq!(claimed.state, JobState::Running);

    let (tx, rx) = std::sync::mpsc::channel();
    let engine = e.clone();
    std::thread::spawn(move || {
        let r = engine.ingest_path(&t(), &c(), &src, &IngestOptions::default(), &NoProgress);
        let _ = tx.send(r.map(|r| r.failed.len()));
    });
    let failed = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the ingest waited on the stranded job")
        .unwrap();
    assert_eq!(failed, 0);
    let job = e.store().get_job(&t(), &claimed.id).unwrap();
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    let docs = e.store().list_documents(&t(), Some(&c()), 10, 0).unwrap();
    assert_eq!(docs.len(), 2);
}
