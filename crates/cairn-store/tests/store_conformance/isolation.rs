//! Tenant isolation: tenant `b`, knowing tenant `a`'s ids, can neither read nor change
//! anything of `a`'s.

use crate::support::{Fixture, c, commit, doc, new_job, plain, t};
use cairn_store::{Error, IdempotencyRecord, JobFilter};
use cairn_types::{ErrorCode, JobState};

fn is_not_found<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::NotFound { .. }))
}

both!(tenant_b_cannot_read_tenant_a_by_guessing_ids);
fn tenant_b_cannot_read_tenant_a_by_guessing_ids(s: Fixture) {
    s.create_collection(&t("a"), &c("secret"), "", &Default::default(), 1)
        .unwrap();
    let mut up = plain(doc("a", "secret.txt", "h"), &["secret text", "more"]);
    up.idempotency = Some(IdempotencyRecord {
        key: "k".into(),
        request_hash: "r".into(),
        document: up.doc.id.clone(),
    });
    let d = s.commit_document(&t("a"), up, 1).unwrap();
    let job = s
        .enqueue(&t("a"), &[new_job("/secret")], 1)
        .unwrap()
        .remove(0);
    let b = t("b");

    assert!(is_not_found(s.get_collection(&b, &c("secret"))));
    assert_eq!(s.list_collections(&b).unwrap().len(), 1);
    assert!(is_not_found(s.get_document(&b, &d.id)));
    assert!(
        s.find_by_source(&b, &c("c"), "secret.txt")
            .unwrap()
            .is_none()
    );
    assert!(s.find_by_hash(&b, &c("c"), "h", "other").unwrap().is_none());
    assert!(s.document_summaries(&b, &c("c")).unwrap().is_empty());
    assert!(s.list_documents(&b, None, 100, 0).unwrap().is_empty());
    assert!(s.list_chunks(&b, &d.id).unwrap().is_empty());
    assert_eq!(s.count_chunks(&b, None).unwrap(), 0);
    assert!(s.get_idempotency(&b, "k").unwrap().is_none());
    assert!(is_not_found(s.get_job(&b, &job)));
    assert!(s.list_jobs(&b, &JobFilter::default()).unwrap().is_empty());
    assert!(s.batch_counts(&b, "b1").unwrap().is_empty());
}

both!(tenant_b_cannot_change_tenant_a_by_guessing_ids);
fn tenant_b_cannot_change_tenant_a_by_guessing_ids(s: Fixture) {
    s.create_collection(&t("a"), &c("secret"), "", &Default::default(), 1)
        .unwrap();
    let d = commit(&s, doc("a", "secret.txt", "h"), &["secret text"]);
    let ids = s
        .enqueue(&t("a"), &[new_job("/1"), new_job("/2")], 1)
        .unwrap();
    let running = s.claim("w", 60_000, None, 2).unwrap().unwrap();
    assert_eq!(running.id, ids[0]);
    let b = t("b");

    assert!(is_not_found(s.delete_collection(&b, &c("secret"))));
    assert!(is_not_found(s.delete_document(&b, &d.id)));
    assert!(is_not_found(s.touch_document(&b, &d.id, 99, None, 3)));
    assert!(is_not_found(s.heartbeat(&b, &ids[0], "w", 1, 3)));
    assert!(is_not_found(s.fail_job(
        &b,
        &ids[0],
        ErrorCode::Internal,
        "x",
        None,
        3
    )));
    assert!(is_not_found(s.complete_job(&b, &ids[1], 3)));
    assert!(is_not_found(s.retry_job(&b, &ids[1], 3)));

    // Committing under b with a's source and draft id creates b's own document.
    let mut forged = doc("b", "secret.txt", "evil");
    forged.id = d.id.clone();
    let bd = s.commit_document(&b, plain(forged, &["evil"]), 4).unwrap();
    assert_eq!(
        (bd.tenant.as_str(), bd.id.clone()),
        ("b", d.id.clone()),
        "same id, other tenant: separate rows"
    );

    let a = t("a");
    assert!(s.get_collection(&a, &c("secret")).is_ok());
    let after = s.get_document(&a, &d.id).unwrap();
    assert_eq!(
        (after.mtime, after.content_hash.as_str()),
        (5, "h"),
        "tenant a's document untouched"
    );
    assert_eq!(s.list_chunks(&a, &d.id).unwrap()[0].text, "secret text");
    assert_eq!(s.list_chunks(&b, &d.id).unwrap()[0].text, "evil");
    assert_eq!(s.get_job(&a, &ids[0]).unwrap().state, JobState::Running);
    assert_eq!(s.get_job(&a, &ids[1]).unwrap().state, JobState::Queued);
}
