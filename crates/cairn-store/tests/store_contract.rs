//! The repository contract, exercised on real SQLite files.

use cairn_store::{
    CollectionRepo, DocumentCommit, DocumentRepo, Error, IdempotencyRecord, IdempotencyRepo, JobFilter,
    JobRepo, NewJob, SqliteStore, TenantRepo,
};
use cairn_types::{
    Acl, Chunk, ChunkId, ChunkRole, ChunkingSpec, CollectionId, DocStatus, Document, DocumentId,
    ErrorCode, JobKind, JobState, QualityFlags, TenantId,
};
use std::sync::Arc;

fn t(s: &str) -> TenantId {
    TenantId::new(s)
}

fn setup(dir: &std::path::Path) -> SqliteStore {
    let s = SqliteStore::open(&dir.join("db/cairn.db")).unwrap();
    for tenant in ["a", "b"] {
        s.ensure_tenant(&t(tenant), tenant, 1).unwrap();
        s.create_collection(&t(tenant), &CollectionId::new("c"), "", &ChunkingSpec::default(), 1).unwrap();
    }
    s
}

fn doc(tenant: &str, source: &str, hash: &str) -> Document {
    Document {
        tenant: t(tenant),
        id: DocumentId::generate(),
        collection: CollectionId::new("c"),
        source: source.into(),
        title: source.into(),
        format: "text".into(),
        content_hash: hash.into(),
        mtime: 5,
        size_bytes: 10,
        metadata: serde_json::json!({"tag": "x"}),
        acl: Acl { users: vec!["u".into()], groups: vec!["g".into()] },
        status: DocStatus::Indexed,
        quality: QualityFlags { simhash: u64::MAX - 7, ..QualityFlags::default() },
        chunk_count: 0,
        created_at: 10,
        updated_at: 10,
    }
}

fn chunks(d: &Document, texts: &[&str]) -> Vec<Chunk> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| Chunk {
            tenant: d.tenant.clone(),
            id: ChunkId::for_position(&d.id, i),
            document: d.id.clone(),
            collection: d.collection.clone(),
            ordinal: i,
            text: (*text).into(),
            heading_path: vec!["H".into()],
            token_count: 3,
            role: if i == 0 { ChunkRole::Parent } else { ChunkRole::Child },
            parent: (i > 0).then(|| ChunkId::for_position(&d.id, 0)),
            page: None,
        })
        .collect()
}

fn commit(s: &SqliteStore, d: Document, texts: &[&str]) -> Document {
    let cs = chunks(&d, texts);
    let tenant = d.tenant.clone();
    s.commit_document(&tenant, DocumentCommit { doc: d, chunks: cs, job: None, idempotency: None }, 20).unwrap()
}

fn new_job(path: &str) -> NewJob {
    NewJob {
        collection: CollectionId::new("c"),
        batch: "b1".into(),
        kind: JobKind::IngestFile { path: path.into(), acl: Acl::default(), metadata: Default::default(), force: false },
        max_attempts: 2,
    }
}

#[test]
fn migrations_are_recorded_and_idempotent_and_data_persists() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    assert_eq!(s.schema_version().unwrap(), 1);
    let d = commit(&s, doc("a", "x.txt", "h1"), &["one", "two"]);
    drop(s);
    let s = SqliteStore::open(&dir.path().join("db/cairn.db")).unwrap();
    assert_eq!(s.schema_version().unwrap(), 1);
    assert_eq!(s.get_document(&t("a"), &d.id).unwrap().title, "x.txt");
    assert_eq!(s.list_chunks(&t("a"), &d.id).unwrap().len(), 2);
}

#[test]
fn collections_conflict_and_cascade() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let err = s.create_collection(&t("a"), &CollectionId::new("c"), "", &ChunkingSpec::default(), 2).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    assert_eq!(s.list_collections(&t("a")).unwrap().len(), 1);
    let d = commit(&s, doc("a", "x.txt", "h1"), &["one"]);
    s.enqueue(&t("a"), &[new_job("/x")], 1).unwrap();
    s.delete_collection(&t("a"), &CollectionId::new("c")).unwrap();
    assert!(matches!(s.get_document(&t("a"), &d.id), Err(Error::NotFound { .. })));
    assert_eq!(s.count_chunks(&t("a"), None).unwrap(), 0);
    assert!(s.list_jobs(&t("a"), &JobFilter { limit: 10, ..Default::default() }).unwrap().is_empty());
    // Tenant b's collection of the same name is untouched.
    assert!(s.get_collection(&t("b"), &CollectionId::new("c")).is_ok());
}

#[test]
fn commit_replaces_chunks_keeps_id_and_rewrites_parents() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let first = commit(&s, doc("a", "x.txt", "h1"), &["p", "c1", "c2"]);
    assert_eq!(first.chunk_count, 3);
    assert_eq!(first.quality.simhash, u64::MAX - 7);
    let second = commit(&s, doc("a", "x.txt", "h2"), &["new parent", "new child"]);
    assert_eq!(second.id, first.id, "replace keeps the document id");
    assert_eq!(second.created_at, first.created_at);
    assert_eq!(second.content_hash, "h2");
    let cs = s.list_chunks(&t("a"), &first.id).unwrap();
    assert_eq!(cs.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["new parent", "new child"]);
    assert_eq!(cs[1].parent.as_ref(), Some(&cs[0].id), "parent id rewritten to the final document id");
    assert_eq!(cs[0].id, ChunkId::for_position(&first.id, 0));
    assert_eq!(s.count_chunks(&t("a"), Some(&CollectionId::new("c"))).unwrap(), 2);
    let sums = s.document_summaries(&t("a"), &CollectionId::new("c")).unwrap();
    assert_eq!(sums.len(), 1);
    assert_eq!(sums[0].simhash, u64::MAX - 7);
}

#[test]
fn idempotency_conflict_rolls_back_the_whole_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let d = doc("a", "up.txt", "h1");
    let rec = IdempotencyRecord { key: "k".into(), request_hash: "r1".into(), document: d.id.clone() };
    let cs = chunks(&d, &["v1"]);
    let stored = s
        .commit_document(&t("a"), DocumentCommit { doc: d, chunks: cs, job: None, idempotency: Some(rec) }, 1)
        .unwrap();
    assert_eq!(s.get_idempotency(&t("a"), "k").unwrap().unwrap().request_hash, "r1");
    assert!(s.get_idempotency(&t("b"), "k").unwrap().is_none(), "keys are per tenant");

    let d2 = doc("a", "up.txt", "h2");
    let rec2 = IdempotencyRecord { key: "k".into(), request_hash: "r2".into(), document: d2.id.clone() };
    let cs2 = chunks(&d2, &["v2"]);
    let err = s
        .commit_document(&t("a"), DocumentCommit { doc: d2, chunks: cs2, job: None, idempotency: Some(rec2) }, 2)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    let after = s.get_document(&t("a"), &stored.id).unwrap();
    assert_eq!(after.content_hash, "h1");
    assert_eq!(s.list_chunks(&t("a"), &stored.id).unwrap()[0].text, "v1");
}

#[test]
fn lookups_by_source_and_hash() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let c = CollectionId::new("c");
    commit(&s, doc("a", "one.txt", "same"), &["x"]);
    assert!(s.find_by_source(&t("a"), &c, "one.txt").unwrap().is_some());
    assert!(s.find_by_source(&t("b"), &c, "one.txt").unwrap().is_none());
    assert_eq!(s.find_by_hash(&t("a"), &c, "same", "two.txt").unwrap().unwrap().source, "one.txt");
    assert!(s.find_by_hash(&t("a"), &c, "same", "one.txt").unwrap().is_none(), "excludes itself");
    assert!(s.find_by_hash(&t("b"), &c, "same", "two.txt").unwrap().is_none());
}

#[test]
fn tenant_b_cannot_reach_tenant_a_by_guessing_ids() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let d = commit(&s, doc("a", "secret.txt", "h"), &["secret text"]);
    let job = s.enqueue(&t("a"), &[new_job("/secret")], 1).unwrap().remove(0);
    let b = t("b");
    assert!(matches!(s.get_document(&b, &d.id), Err(Error::NotFound { .. })));
    assert!(matches!(s.delete_document(&b, &d.id), Err(Error::NotFound { .. })));
    assert!(s.list_chunks(&b, &d.id).unwrap().is_empty());
    assert!(s.list_documents(&b, None, 100, 0).unwrap().is_empty());
    assert_eq!(s.count_chunks(&b, None).unwrap(), 0);
    assert!(matches!(s.get_job(&b, &job), Err(Error::NotFound { .. })));
    assert!(s.retry_job(&b, &job, 2).is_err());
    assert!(s.list_jobs(&b, &JobFilter { limit: 10, ..Default::default() }).unwrap().is_empty());
    assert!(s.touch_document(&b, &d.id, 99, None, 3).is_err());
    assert_eq!(s.get_document(&t("a"), &d.id).unwrap().mtime, 5, "tenant a's row is untouched");
}

#[test]
fn job_lifecycle_dedup_claim_retry_dead_letter_and_reclaim() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let a = t("a");
    let ids = s.enqueue(&a, &[new_job("/1"), new_job("/2")], 100).unwrap();
    assert_eq!(ids.len(), 2);
    assert!(s.enqueue(&a, &[new_job("/1")], 101).unwrap().is_empty(), "active duplicate skipped");

    // Claim in order, with a lease; nothing runnable before run_after.
    let j1 = s.claim("w1", 1000, Some("b1"), 200).unwrap().unwrap();
    assert_eq!((j1.id.clone(), j1.state, j1.attempts), (ids[0].clone(), JobState::Running, 1));
    assert!(s.claim("w1", 1000, Some("other-batch"), 200).unwrap().is_none());
    s.heartbeat(&a, &j1.id, "w1", 1000, 300).unwrap();
    assert!(s.heartbeat(&a, &j1.id, "intruder", 1000, 300).is_err());

    // Transient failure: back to the queue with a backoff; then dead after max attempts.
    assert_eq!(s.fail_job(&a, &j1.id, ErrorCode::Transient, "busy", Some(5_000), 400).unwrap(), JobState::Queued);
    let j2 = s.claim("w1", 1000, None, 500).unwrap().unwrap();
    assert_eq!(j2.id, ids[1], "the retried job waits for its backoff");
    s.complete_job(&a, &j2.id, 600).unwrap();
    assert!(s.claim("w1", 1000, None, 600).unwrap().is_none());
    let again = s.claim("w1", 1000, None, 5_000).unwrap().unwrap();
    assert_eq!((again.id.clone(), again.attempts), (ids[0].clone(), 2));
    assert_eq!(s.fail_job(&a, &again.id, ErrorCode::Transient, "busy again", Some(9_000), 5_100).unwrap(), JobState::Dead);
    let dead = s.get_job(&a, &ids[0]).unwrap();
    assert_eq!((dead.state, dead.error_code, dead.last_error.as_deref()), (JobState::Dead, Some(ErrorCode::Transient), Some("busy again")));
    assert!(s.retry_job(&a, &ids[1], 5_200).is_err(), "only dead jobs can be retried");
    s.retry_job(&a, &ids[0], 5_200).unwrap();
    let revived = s.claim("w2", 1000, None, 5_300).unwrap().unwrap();
    assert_eq!((revived.attempts, revived.state), (1, JobState::Running));
    let counts = s.batch_counts(&a, "b1").unwrap();
    assert!(counts.contains(&(JobState::Running, 1)) && counts.contains(&(JobState::Succeeded, 1)), "{counts:?}");

    // Reclaim: by dead owner at once, by lease expiry later.
    assert_eq!(s.running_owners().unwrap(), vec!["w2".to_owned()]);
    assert_eq!(s.reclaim(&["w2".into()], 5_400).unwrap(), 1);
    let j = s.claim("w3", 1000, None, 5_500).unwrap().unwrap();
    assert_eq!(s.reclaim(&[], 6_000).unwrap(), 0, "lease still valid");
    assert_eq!(s.reclaim(&[], 6_501).unwrap(), 1, "lease expired");
    assert_eq!(s.get_job(&a, &j.id).unwrap().state, JobState::Queued);
}

#[test]
fn concurrent_claims_never_hand_out_a_job_twice() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(setup(dir.path()));
    let jobs: Vec<NewJob> = (0..200).map(|i| new_job(&format!("/f{i}"))).collect();
    assert_eq!(s.enqueue(&t("a"), &jobs, 1).unwrap().len(), 200);
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(j) = s.claim(&format!("w{w}"), 60_000, None, 10).unwrap() {
                    got.push(j.id);
                }
                got
            })
        })
        .collect();
    let mut all: Vec<_> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(all.len(), 200);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200);
}

#[test]
fn a_second_process_connection_sees_committed_work() {
    let dir = tempfile::tempdir().unwrap();
    let s1 = setup(dir.path());
    let s2 = SqliteStore::open(&dir.path().join("db/cairn.db")).unwrap();
    let d = commit(&s1, doc("a", "x.txt", "h"), &["a", "b"]);
    assert_eq!(s2.list_chunks(&t("a"), &d.id).unwrap().len(), 2);
    let job = s2.enqueue(&t("a"), &[new_job("/z")], 1).unwrap().remove(0);
    assert_eq!(s1.claim("w", 100, None, 2).unwrap().unwrap().id, job);
}
