//! Uploaded bytes waiting for their jobs: stored with the job in one transaction (or
//! neither), deleted with the commit that completes the job, kept while the job is dead
//! and until the retention sweep removes it, and deleted with the job's collection, its
//! tenant and its uploader's erasure. Commits of uploads of one name apply in the order
//! the uploads were received.

use super::support::{Fixture, c, chunks, doc, t};
use cairn_store::{
    DocumentCommit, Error, IdempotencyRecord, JobFilter, LegalHold, NewJob, NewUpload,
    RetentionCutoffs,
};
use cairn_types::{Acl, ErrorCode, Job, JobKind, JobState, UploadId};

const DAY: i64 = 86_400_000;

/// An upload of `name` by `owner` into collection `c`, and its job.
fn upload<'a>(
    name: &str,
    owner: &str,
    key: Option<&str>,
    bytes: &'a [u8],
) -> (NewUpload<'a>, NewJob) {
    let id = UploadId::generate();
    let sha256 = format!("sha-of-{}", String::from_utf8_lossy(bytes));
    let job = NewJob {
        collection: c("c"),
        batch: "upload".into(),
        kind: JobKind::IngestUpload {
            upload: id.clone(),
            name: name.into(),
            acl: Acl::default(),
            metadata: serde_json::Map::new(),
            owner: Some(owner.into()),
            idempotency_key: key.map(String::from),
            content_hash: sha256.clone(),
        },
        max_attempts: 2,
    };
    let up = NewUpload {
        id,
        name: name.into(),
        owner: Some(owner.into()),
        idempotency_key: key.map(String::from),
        request_hash: format!("request-{name}"),
        sha256,
        bytes,
    };
    (up, job)
}

/// Stores an upload in tenant `tenant` at `now`; returns its id and job.
fn store(s: &Fixture, tenant: &str, name: &str, owner: &str, now: i64) -> (UploadId, Job) {
    let (up, job) = upload(name, owner, None, name.as_bytes());
    let j = s.enqueue_upload(&t(tenant), &up, &job, now).unwrap();
    (up.id, j)
}

fn upload_ids(s: &Fixture, tenant: &str) -> Vec<UploadId> {
    s.list_uploads(&t(tenant))
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect()
}

fn job_count(s: &Fixture, tenant: &str) -> usize {
    s.list_jobs(&t(tenant), &JobFilter::default())
        .unwrap()
        .len()
}

/// The commit a worker makes for an upload received at `received`.
fn upload_commit(
    name: &str,
    hash: &str,
    received: i64,
    job: &Job,
    id: &UploadId,
) -> DocumentCommit {
    let mut d = doc("a", &format!("upload:{name}"), hash);
    d.mtime = received;
    let chunks = chunks(&d, &[hash]);
    DocumentCommit {
        doc: d,
        chunks,
        job: Some(job.id.clone()),
        idempotency: None,
        embeddings: vec![],
        parsed: None,
        upload: Some(id.clone()),
    }
}

both!(an_upload_and_its_job_are_stored_together);
fn an_upload_and_its_job_are_stored_together(s: Fixture) {
    let (up, new_job) = upload("notes.md", "alice", Some("k-1"), b"# Notes\n");
    let job = s.enqueue_upload(&t("a"), &up, &new_job, 7).unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!((job.kind.clone(), job.created_at), (new_job.kind, 7));
    assert_eq!(s.get_job(&t("a"), &job.id).unwrap(), job);
    let stored = s.get_upload(&t("a"), &up.id).unwrap();
    assert_eq!(stored.bytes, b"# Notes\n");
    let info = stored.info;
    assert_eq!(
        (info.job.clone(), info.name.as_str(), info.owner.as_deref()),
        (job.id.clone(), "notes.md", Some("alice"))
    );
    assert_eq!(
        (info.size_bytes, info.created_at, info.request_hash.as_str()),
        (8, 7, "request-notes.md")
    );
    assert_eq!(
        s.find_upload_by_key(&t("a"), "k-1").unwrap(),
        Some(info.clone())
    );
    assert_eq!(s.find_upload_by_key(&t("a"), "k-2").unwrap(), None);
    assert_eq!(s.list_uploads(&t("a")).unwrap(), [info]);
    // Two uploads of one name with the same bytes are two jobs: never de-duplicated.
    let (again, _) = store(&s, "a", "notes.md", "alice", 8);
    assert_ne!(again, up.id);
    assert_eq!(job_count(&s, "a"), 2);
    // Another tenant sees none of it.
    assert!(matches!(
        s.get_upload(&t("b"), &up.id),
        Err(Error::NotFound { .. })
    ));
    assert!(s.list_uploads(&t("b")).unwrap().is_empty());
    assert_eq!(s.find_upload_by_key(&t("b"), "k-1").unwrap(), None);
    // Deleting is idempotent.
    assert!(s.delete_upload(&t("a"), &up.id).unwrap());
    assert!(!s.delete_upload(&t("a"), &up.id).unwrap());
}

both!(a_refused_upload_stores_neither_bytes_nor_job);
fn a_refused_upload_stores_neither_bytes_nor_job(s: Fixture) {
    let (first, job) = upload("a.md", "alice", Some("key"), b"first");
    s.enqueue_upload(&t("a"), &first, &job, 1).unwrap();
    // The same idempotency key on another upload: conflict, nothing stored.
    let (second, job) = upload("b.md", "alice", Some("key"), b"second");
    let err = s.enqueue_upload(&t("a"), &second, &job, 2).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
    assert!(err.to_string().contains("key"), "{err}");
    assert_eq!(upload_ids(&s, "a"), std::slice::from_ref(&first.id));
    assert_eq!(job_count(&s, "a"), 1);
    // The same key in another tenant is another key.
    let (other, job) = upload("b.md", "bob", Some("key"), b"second");
    s.enqueue_upload(&t("b"), &other, &job, 2).unwrap();
    // A collection the tenant does not have: not found, nothing stored.
    let (lost, mut job) = upload("c.md", "alice", None, b"third");
    job.collection = c("nope");
    let err = s.enqueue_upload(&t("a"), &lost, &job, 3).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert_eq!(upload_ids(&s, "a"), [first.id]);
    assert_eq!(job_count(&s, "a"), 1);
}

both!(the_commit_that_completes_an_upload_job_deletes_its_bytes);
fn the_commit_that_completes_an_upload_job_deletes_its_bytes(s: Fixture) {
    let (id, job) = store(&s, "a", "x.md", "alice", 100);
    let (other, _) = store(&s, "a", "y.md", "alice", 101);
    let claimed = s.claim("w", 60_000, None, 102).unwrap().unwrap();
    assert_eq!(claimed.id, job.id);
    let mut commit = upload_commit("x.md", "h1", 100, &job, &id);
    commit.idempotency = Some(IdempotencyRecord {
        key: "k".into(),
        request_hash: "r".into(),
        document: commit.doc.id.clone(),
    });
    let d = s.commit_document(&t("a"), commit, 103).unwrap();
    let done = s.get_job(&t("a"), &job.id).unwrap();
    assert_eq!(
        (done.state, done.document.as_ref(), done.chunks),
        (JobState::Succeeded, Some(&d.id), 1)
    );
    assert!(matches!(
        s.get_upload(&t("a"), &id),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        upload_ids(&s, "a"),
        [other],
        "only that upload's bytes went"
    );
    assert_eq!(
        s.get_idempotency(&t("a"), "k").unwrap().unwrap().document,
        d.id
    );
    // A commit that fails (its job is not there) keeps the bytes: the rollback covers them.
    let (kept, job) = store(&s, "a", "z.md", "alice", 104);
    let mut bad = upload_commit("z.md", "h2", 104, &job, &kept);
    bad.job = Some(cairn_types::JobId::new("no-such-job"));
    assert!(s.commit_document(&t("a"), bad, 106).is_err());
    assert!(s.get_upload(&t("a"), &kept).is_ok());
    assert_eq!(s.get_job(&t("a"), &job.id).unwrap().state, JobState::Queued);
}

both!(an_earlier_upload_never_replaces_a_later_one_of_the_same_name);
fn an_earlier_upload_never_replaces_a_later_one_of_the_same_name(s: Fixture) {
    let (early, early_job) = store(&s, "a", "plan.md", "alice", 100);
    let (late, late_job) = store(&s, "a", "plan.md", "bob", 200);
    // The later upload is stored first (the earlier one was retried after a failure).
    let stored = s
        .commit_document(
            &t("a"),
            upload_commit("plan.md", "late", 200, &late_job, &late),
            300,
        )
        .unwrap();
    let head = s.index_head(&t("a"), &c("c")).unwrap();
    let kept = s
        .commit_document(
            &t("a"),
            upload_commit("plan.md", "early", 100, &early_job, &early),
            301,
        )
        .unwrap();
    assert_eq!(kept, stored, "the later upload's document stays, unchanged");
    assert_eq!(s.list_chunks(&t("a"), &stored.id).unwrap()[0].text, "late");
    assert_eq!(
        s.index_head(&t("a"), &c("c")).unwrap(),
        head,
        "nothing for the indexes"
    );
    let job = s.get_job(&t("a"), &early_job.id).unwrap();
    assert_eq!(
        (job.state, job.document.as_ref(), job.chunks),
        (JobState::Succeeded, Some(&stored.id), 0)
    );
    assert!(
        s.list_uploads(&t("a")).unwrap().is_empty(),
        "both uploads' bytes are gone"
    );
    // A still later upload replaces it; equal times replace too.
    let (next, next_job) = store(&s, "a", "plan.md", "alice", 200);
    let replaced = s
        .commit_document(
            &t("a"),
            upload_commit("plan.md", "next", 200, &next_job, &next),
            302,
        )
        .unwrap();
    assert_eq!(
        (replaced.id, replaced.content_hash.as_str()),
        (stored.id.clone(), "next")
    );
    // Commits without an upload (files) are not ordered by mtime: an older file wins.
    let mut file = upload_commit("plan.md", "file", 1, &next_job, &next);
    (file.job, file.upload) = (None, None);
    let d = s.commit_document(&t("a"), file, 303).unwrap();
    assert_eq!((d.content_hash.as_str(), d.mtime), ("file", 1));
}

both!(a_dead_upload_job_keeps_its_bytes_until_the_sweep_removes_it);
fn a_dead_upload_job_keeps_its_bytes_until_the_sweep_removes_it(s: Fixture) {
    let (dead, job) = store(&s, "a", "broken.pdf", "alice", DAY);
    let (held, held_job) = store(&s, "a", "held.pdf", "carol", DAY);
    let (fresh, _) = store(&s, "a", "fresh.pdf", "alice", 50 * DAY);
    for j in [&job, &held_job] {
        s.claim("w", 60_000, None, DAY).unwrap().unwrap();
        let state = s
            .fail_job(
                &t("a"),
                &j.id,
                ErrorCode::CorruptFile,
                "bad xref",
                None,
                DAY,
            )
            .unwrap();
        assert_eq!(state, JobState::Dead);
    }
    assert_eq!(
        upload_ids(&s, "a"),
        [dead.clone(), held.clone(), fresh.clone()]
    );
    // A retry puts the job back with its bytes; it dies again.
    s.retry_job(&t("a"), &job.id, DAY).unwrap();
    assert_eq!(s.claim("w", 60_000, None, DAY).unwrap().unwrap().id, job.id);
    s.fail_job(
        &t("a"),
        &job.id,
        ErrorCode::CorruptFile,
        "bad xref",
        None,
        DAY,
    )
    .unwrap();
    assert!(s.get_upload(&t("a"), &dead).is_ok());
    s.put_legal_hold(&LegalHold {
        tenant: t("a"),
        user: Some("carol".into()),
        reason: "litigation".into(),
        set_by: "operator".into(),
        set_at: DAY,
    })
    .unwrap();
    let logs = RetentionCutoffs {
        logs: Some(40 * DAY),
        ..RetentionCutoffs::default()
    };
    let r = s.sweep_expired(&t("a"), &logs).unwrap();
    assert_eq!((r.jobs, r.uploads), (1, 1), "{r:?}");
    assert_eq!(
        upload_ids(&s, "a"),
        [held, fresh],
        "a held uploader's dead job keeps its bytes; a queued one is not finished"
    );
    assert!(matches!(
        s.get_job(&t("a"), &job.id),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        s.get_job(&t("a"), &held_job.id).unwrap().state,
        JobState::Dead
    );
}

both!(pending_uploads_go_with_their_collection_tenant_and_uploader);
fn pending_uploads_go_with_their_collection_tenant_and_uploader(s: Fixture) {
    store(&s, "a", "one.md", "alice", 1);
    s.delete_collection(&t("a"), &c("c")).unwrap();
    assert!(s.list_uploads(&t("a")).unwrap().is_empty());

    // Erasure: the uploader's bytes and upload jobs, nobody else's.
    let (_, alice_job) = store(&s, "b", "alice.md", "alice", 1);
    let (bob, bob_job) = store(&s, "b", "bob.md", "bob", 1);
    let (_, done_job) = store(&s, "b", "done.md", "alice", 1);
    // A GDPR export lists her pending uploads (not the bytes), nobody else's.
    let export = s.export_owner(&t("b"), "alice").unwrap();
    let names: Vec<&str> = export.uploads.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"alice.md") && names.contains(&"done.md"));
    s.complete_job(&t("b"), &done_job.id, 2).unwrap();
    let r = s.erase_owner(&t("b"), "alice").unwrap();
    assert_eq!((r.uploads, r.jobs), (2, 2), "{r:?}");
    assert_eq!(upload_ids(&s, "b"), [bob]);
    for gone in [&alice_job, &done_job] {
        assert!(matches!(
            s.get_job(&t("b"), &gone.id),
            Err(Error::NotFound { .. })
        ));
    }
    assert!(s.get_job(&t("b"), &bob_job.id).is_ok());

    // Offboarding: every pending upload of the tenant.
    let r = s.purge_tenant(&t("b")).unwrap();
    assert_eq!((r.uploads, r.jobs), (1, 1), "{r:?}");
    assert_eq!(
        s.query_i64("SELECT COUNT(*) FROM uploads WHERE tenant_id = $1", &["b"]),
        0
    );
}
