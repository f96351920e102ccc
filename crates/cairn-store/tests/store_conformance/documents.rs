//! Documents and chunks: atomic replace, rollback, lookups and deletes.

use crate::support::{Fixture, c, chunks, commit, doc, new_job, plain, t};
use cairn_store::{Error, IdempotencyRecord};
use cairn_types::{ChunkId, ChunkRole, DocStatus, DocumentId, ErrorCode, JobState};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

both!(insert_stores_every_field_and_derives_chunk_ids);
fn insert_stores_every_field_and_derives_chunk_ids(s: Fixture) {
    let draft = doc("a", "x.txt", "h1");
    let stored = commit(&s, draft.clone(), &["p", "c1", "c2"]);
    assert_eq!(stored.id, draft.id, "a new document keeps its draft id");
    assert_eq!(stored.chunk_count, 3);
    assert_eq!((stored.created_at, stored.updated_at), (10, 20));
    assert_eq!(
        stored.quality.simhash,
        u64::MAX - 7,
        "u64 survives the i64 column"
    );
    assert_eq!(
        (&stored.metadata, &stored.acl),
        (&draft.metadata, &draft.acl)
    );
    assert_eq!(s.get_document(&t("a"), &stored.id).unwrap(), stored);
    let cs = s.list_chunks(&t("a"), &stored.id).unwrap();
    let expected = chunks(&draft, &["p", "c1", "c2"]);
    assert_eq!(cs, expected, "chunks round-trip, in ordinal order");
    assert_eq!(cs[2].page, None);
    assert_eq!(cs[1].page, Some(1));
    assert_eq!(cs[0].role, ChunkRole::Parent);
}

both!(replace_keeps_the_id_drops_old_chunks_and_rewrites_parents);
fn replace_keeps_the_id_drops_old_chunks_and_rewrites_parents(s: Fixture) {
    let first = commit(&s, doc("a", "x.txt", "h1"), &["p", "c1", "c2"]);
    let mut next = doc("a", "x.txt", "h2");
    next.created_at = 999;
    let draft_id = next.id.clone();
    let second = s
        .commit_document(&t("a"), plain(next, &["new parent", "new child"]), 30)
        .unwrap();
    assert_eq!(
        second.id, first.id,
        "replace keeps the stored id, not the draft's"
    );
    assert_ne!(second.id, draft_id);
    assert_eq!(
        (second.created_at, second.updated_at),
        (first.created_at, 30)
    );
    assert_eq!(
        (second.content_hash.as_str(), second.chunk_count),
        ("h2", 2)
    );
    let cs = s.list_chunks(&t("a"), &first.id).unwrap();
    assert_eq!(
        cs.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
        ["new parent", "new child"]
    );
    assert_eq!(cs[0].id, ChunkId::for_position(&first.id, 0));
    assert_eq!(cs[1].document, first.id);
    assert_eq!(
        cs[1].parent.as_ref(),
        Some(&cs[0].id),
        "parent id rewritten to the final document id"
    );
    assert_eq!(s.count_chunks(&t("a"), Some(&c("c"))).unwrap(), 2);
    assert!(
        s.get_document(&t("a"), &draft_id).is_err(),
        "no row under the draft id"
    );
}

both!(commit_completes_its_job_in_the_same_transaction);
fn commit_completes_its_job_in_the_same_transaction(s: Fixture) {
    let job = s.enqueue(&t("a"), &[new_job("/x")], 1).unwrap().remove(0);
    s.claim("w1", 1_000, None, 2).unwrap().unwrap();
    // The lease expired and another worker took it over: the first one's commit still counts.
    s.reclaim(&[], 5_000).unwrap();
    s.claim("w2", 1_000, None, 5_001).unwrap().unwrap();
    let mut up = plain(doc("a", "x.txt", "h"), &["p", "c"]);
    up.job = Some(job.clone());
    let d = s.commit_document(&t("a"), up, 6_000).unwrap();
    let j = s.get_job(&t("a"), &job).unwrap();
    assert_eq!(
        (j.state, j.document.as_ref(), j.chunks),
        (JobState::Succeeded, Some(&d.id), 2)
    );
    // Succeeded is final: a late failure report changes nothing.
    let after = s
        .fail_job(
            &t("a"),
            &job,
            ErrorCode::Transient,
            "late",
            Some(7_000),
            6_500,
        )
        .unwrap();
    assert_eq!(after, JobState::Succeeded);
    assert_eq!(s.get_job(&t("a"), &job).unwrap().last_error, None);
}

both!(an_unknown_job_rolls_the_commit_back);
fn an_unknown_job_rolls_the_commit_back(s: Fixture) {
    let b_job = s.enqueue(&t("b"), &[new_job("/x")], 1).unwrap().remove(0);
    let mut up = plain(doc("a", "x.txt", "h"), &["p"]);
    up.job = Some(b_job.clone());
    let err = s.commit_document(&t("a"), up, 2).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(
        s.find_by_source(&t("a"), &c("c"), "x.txt")
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.get_job(&t("b"), &b_job).unwrap().state,
        JobState::Queued,
        "tenant b's job untouched"
    );
}

both!(idempotency_conflict_rolls_back_the_whole_commit);
fn idempotency_conflict_rolls_back_the_whole_commit(s: Fixture) {
    let mut up = plain(doc("a", "up.txt", "h1"), &["v1"]);
    up.idempotency = Some(IdempotencyRecord {
        key: "k".into(),
        request_hash: "r1".into(),
        document: DocumentId::new("ignored"),
    });
    let stored = s.commit_document(&t("a"), up, 1).unwrap();
    let rec = s.get_idempotency(&t("a"), "k").unwrap().unwrap();
    assert_eq!(
        (rec.request_hash.as_str(), &rec.document),
        ("r1", &stored.id),
        "records the final id"
    );
    assert!(
        s.get_idempotency(&t("b"), "k").unwrap().is_none(),
        "keys are per tenant"
    );

    // Same key, other request, with a job: nothing of it may stick.
    let job = s.enqueue(&t("a"), &[new_job("/up")], 2).unwrap().remove(0);
    s.claim("w", 10_000, None, 3).unwrap().unwrap();
    let mut up2 = plain(doc("a", "up.txt", "h2"), &["v2", "v2b"]);
    up2.job = Some(job.clone());
    up2.idempotency = Some(IdempotencyRecord {
        key: "k".into(),
        request_hash: "r2".into(),
        document: up2.doc.id.clone(),
    });
    let err = s.commit_document(&t("a"), up2, 4).unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("`k`")),
        "{err}"
    );
    let after = s.get_document(&t("a"), &stored.id).unwrap();
    assert_eq!(after, stored);
    let cs = s.list_chunks(&t("a"), &stored.id).unwrap();
    assert_eq!(
        cs.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
        ["v1"]
    );
    assert_eq!(s.get_job(&t("a"), &job).unwrap().state, JobState::Running);
    assert_eq!(
        s.get_idempotency(&t("a"), "k")
            .unwrap()
            .unwrap()
            .request_hash,
        "r1"
    );

    // The same request again is accepted.
    let mut again = plain(doc("a", "up.txt", "h1"), &["v1"]);
    again.idempotency = Some(IdempotencyRecord {
        key: "k".into(),
        request_hash: "r1".into(),
        document: again.doc.id.clone(),
    });
    assert_eq!(s.commit_document(&t("a"), again, 5).unwrap().id, stored.id);
}

both!(lookups_by_source_hash_and_summaries);
fn lookups_by_source_hash_and_summaries(s: Fixture) {
    let (a, cc) = (t("a"), c("c"));
    let one = commit(&s, doc("a", "one.txt", "same"), &["x"]);
    let mut skipped = doc("a", "empty.txt", "same");
    skipped.status = DocStatus::Skipped;
    commit(&s, skipped, &[]);
    commit(&s, doc("a", "three.txt", "other"), &["y"]);
    assert_eq!(
        s.find_by_source(&a, &cc, "one.txt").unwrap().unwrap().id,
        one.id
    );
    assert!(s.find_by_source(&a, &cc, "nope.txt").unwrap().is_none());
    assert!(
        s.find_by_source(&a, &c("elsewhere"), "one.txt")
            .unwrap()
            .is_none()
    );
    let hit = s.find_by_hash(&a, &cc, "same", "two.txt").unwrap().unwrap();
    assert_eq!(
        (hit.id, hit.source.as_str(), hit.simhash),
        (one.id.clone(), "one.txt", u64::MAX - 7)
    );
    assert!(
        s.find_by_hash(&a, &cc, "same", "one.txt")
            .unwrap()
            .is_none(),
        "excludes itself and skipped docs"
    );

    let sums = s.document_summaries(&a, &cc).unwrap();
    let sources: Vec<_> = sums.iter().map(|x| x.source.as_str()).collect();
    assert_eq!(sources, ["empty.txt", "one.txt", "three.txt"]);
    assert_eq!(
        (
            sums[1].mtime,
            sums[1].size_bytes,
            sums[1].content_hash.as_str()
        ),
        (5, 10, "same")
    );

    let page: Vec<_> = s
        .list_documents(&a, Some(&cc), 2, 1)
        .unwrap()
        .into_iter()
        .map(|d| d.source)
        .collect();
    assert_eq!(page, ["one.txt", "three.txt"]);
    assert_eq!(s.list_documents(&a, None, 10, 0).unwrap().len(), 3);
    assert_eq!(s.list_documents(&a, None, 1, 0).unwrap().len(), 1);
    assert_eq!(s.count_chunks(&a, None).unwrap(), 2);
}

both!(touch_updates_mtime_and_completes_the_job);
fn touch_updates_mtime_and_completes_the_job(s: Fixture) {
    let d = commit(&s, doc("a", "x.txt", "h"), &["p"]);
    let job = s.enqueue(&t("a"), &[new_job("/x")], 1).unwrap().remove(0);
    s.claim("w", 1_000, None, 2).unwrap().unwrap();
    s.touch_document(&t("a"), &d.id, 77, Some(&job), 50)
        .unwrap();
    let after = s.get_document(&t("a"), &d.id).unwrap();
    assert_eq!(
        (after.mtime, after.updated_at, after.content_hash.as_str()),
        (77, 50, "h")
    );
    let j = s.get_job(&t("a"), &job).unwrap();
    assert_eq!(
        (j.state, j.document),
        (JobState::Succeeded, Some(d.id.clone()))
    );
    let missing = DocumentId::generate();
    assert!(matches!(
        s.touch_document(&t("a"), &missing, 1, None, 1),
        Err(Error::NotFound { .. })
    ));
}

both!(delete_cascades_to_chunks_and_idempotency_keys);
fn delete_cascades_to_chunks_and_idempotency_keys(s: Fixture) {
    let keep = commit(&s, doc("a", "keep.txt", "h"), &["k"]);
    let mut up = plain(doc("a", "x.txt", "h"), &["p", "c"]);
    up.idempotency = Some(IdempotencyRecord {
        key: "k".into(),
        request_hash: "r".into(),
        document: up.doc.id.clone(),
    });
    let d = s.commit_document(&t("a"), up, 1).unwrap();
    s.delete_document(&t("a"), &d.id).unwrap();
    assert!(s.list_chunks(&t("a"), &d.id).unwrap().is_empty());
    assert_eq!(s.count_chunks(&t("a"), None).unwrap(), 1);
    assert!(
        s.get_idempotency(&t("a"), "k").unwrap().is_none(),
        "no key left pointing at nothing"
    );
    assert!(matches!(
        s.delete_document(&t("a"), &d.id),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(s.list_chunks(&t("a"), &keep.id).unwrap().len(), 1);
}

both!(duplicate_ordinals_are_a_conflict_and_write_nothing);
fn duplicate_ordinals_are_a_conflict_and_write_nothing(s: Fixture) {
    let mut up = plain(doc("a", "x.txt", "h"), &["p", "c"]);
    up.chunks[1].ordinal = 0;
    let err = s.commit_document(&t("a"), up, 1).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
    assert!(
        s.find_by_source(&t("a"), &c("c"), "x.txt")
            .unwrap()
            .is_none()
    );
}

both!(readers_see_the_old_chunk_set_or_the_new_one_never_a_mix);
fn readers_see_the_old_chunk_set_or_the_new_one_never_a_mix(s: Fixture) {
    let first = commit(&s, doc("a", "x.txt", "v0"), &["v0"; 40]);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (s, done, id) = (s.handle(), Arc::clone(&done), first.id.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) {
                let cs = s.list_chunks(&t("a"), &id).unwrap();
                assert!(!cs.is_empty());
                assert!(
                    cs.iter().all(|c| c.text == cs[0].text),
                    "mixed chunk sets: {} vs others",
                    cs[0].text
                );
                let n: usize = cs[0].text[1..].parse().unwrap();
                assert_eq!(cs.len(), 40 + n % 3, "chunk set of version {n} is complete");
                reads += 1;
            }
            reads
        })
    };
    for v in 1..60 {
        let text = format!("v{v}");
        let texts = vec![text.as_str(); 40 + v % 3];
        commit(&s, doc("a", "x.txt", &text), &texts);
    }
    done.store(true, Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
}

both!(a_store_on_another_connection_sees_committed_work);
fn a_store_on_another_connection_sees_committed_work(s: Fixture) {
    let (s1, s2) = (&s, s.another_handle());
    let d = commit(s1, doc("a", "x.txt", "h"), &["a", "b"]);
    assert_eq!(s2.list_chunks(&t("a"), &d.id).unwrap().len(), 2);
    let job = s2.enqueue(&t("a"), &[new_job("/z")], 1).unwrap().remove(0);
    assert_eq!(s1.claim("w", 100, None, 2).unwrap().unwrap().id, job);
}
