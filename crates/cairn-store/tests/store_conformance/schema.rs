//! Reopening, a schema newer than the binary, persistence, tenants, collections and
//! error mapping (a row the store cannot decode).

use crate::support::{Fixture, c, commit, doc, new_job, plain, t};
use cairn_store::{Error, IdempotencyRecord, JobFilter};
use cairn_types::{ChunkerKind, ChunkingSpec, ErrorCode};

both!(a_database_from_a_newer_binary_is_refused);
fn a_database_from_a_newer_binary_is_refused(s: Fixture) {
    s.execute_raw("INSERT INTO schema_migrations VALUES (999, 0)", &[])
        .unwrap();
    let Err(err) = s.try_open_again() else {
        panic!("opened a newer database")
    };
    let msg = err.to_string();
    assert!(msg.contains("999") && msg.contains("newer"), "{msg}");
}

both!(everything_persists_across_reopen);
fn everything_persists_across_reopen(s: Fixture) {
    let d = commit(&s, doc("a", "x.txt", "h1"), &["one", "two"]);
    let job = s.enqueue(&t("a"), &[new_job("/x")], 1).unwrap().remove(0);
    let s = s.reopen();
    assert_eq!(s.list_tenants().unwrap().len(), 2);
    assert_eq!(s.get_document(&t("a"), &d.id).unwrap(), d);
    assert_eq!(s.list_chunks(&t("a"), &d.id).unwrap().len(), 2);
    assert_eq!(s.get_job(&t("a"), &job).unwrap().batch, "b1");
}

both!(tenants_are_created_once);
fn tenants_are_created_once(s: Fixture) {
    let again = s.ensure_tenant(&t("a"), "other name", 99).unwrap();
    assert_eq!(
        (again.name.as_str(), again.created_at),
        ("a", 1),
        "existing tenant returned unchanged"
    );
    assert_eq!(s.get_tenant(&t("b")).unwrap().name, "b");
    assert!(matches!(
        s.get_tenant(&t("zzz")),
        Err(Error::NotFound { .. })
    ));
    let ids: Vec<_> = s
        .list_tenants()
        .unwrap()
        .into_iter()
        .map(|x| x.id.0)
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

both!(collections_crud_and_conflict);
fn collections_crud_and_conflict(s: Fixture) {
    let spec = ChunkingSpec {
        kind: ChunkerKind::ParentChild,
        max_tokens: 900,
        overlap_tokens: 0,
        child_tokens: 100,
    };
    let made = s
        .create_collection(&t("a"), &c("b-docs"), "manuals", &spec, 7)
        .unwrap();
    assert_eq!(s.get_collection(&t("a"), &c("b-docs")).unwrap(), made);
    assert_eq!(made.chunking, spec);

    let err = s
        .create_collection(&t("a"), &c("c"), "again", &ChunkingSpec::default(), 2)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("`c`") && m.contains("`a`")),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::Conflict);
    let err = s
        .create_collection(&t("nobody"), &c("x"), "", &ChunkingSpec::default(), 2)
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { what } if what.contains("nobody")),
        "{err}"
    );

    let names: Vec<_> = s
        .list_collections(&t("a"))
        .unwrap()
        .into_iter()
        .map(|x| x.id.0)
        .collect();
    assert_eq!(names, ["b-docs", "c"]);
    s.delete_collection(&t("a"), &c("b-docs")).unwrap();
    assert!(matches!(
        s.get_collection(&t("a"), &c("b-docs")),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_collection(&t("a"), &c("b-docs")),
        Err(Error::NotFound { .. })
    ));
}

both!(deleting_a_collection_cascades_to_everything_in_it);
fn deleting_a_collection_cascades_to_everything_in_it(s: Fixture) {
    let mut up = plain(doc("a", "x.txt", "h1"), &["one", "two"]);
    up.idempotency = Some(IdempotencyRecord {
        key: "k".into(),
        request_hash: "r".into(),
        document: up.doc.id.clone(),
    });
    let d = s.commit_document(&t("a"), up, 2).unwrap();
    assert!(s.get_idempotency(&t("a"), "k").unwrap().is_some());
    s.enqueue(&t("a"), &[new_job("/x")], 1).unwrap();
    let other = commit(&s, doc("b", "x.txt", "h1"), &["b's"]);
    s.delete_collection(&t("a"), &c("c")).unwrap();
    assert!(matches!(
        s.get_document(&t("a"), &d.id),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(s.count_chunks(&t("a"), None).unwrap(), 0);
    assert!(
        s.list_jobs(&t("a"), &JobFilter::default())
            .unwrap()
            .is_empty()
    );
    // Tenant b's collection of the same name is untouched.
    assert_eq!(s.list_chunks(&t("b"), &other.id).unwrap().len(), 1);
    assert!(s.get_idempotency(&t("a"), "k").unwrap().is_none());
    let orphans = s.query_i64("SELECT COUNT(*) FROM chunks WHERE tenant_id = 'a'", &[]);
    assert_eq!(orphans, 0);
}

both!(undecodable_rows_are_reported_as_corrupt);
fn undecodable_rows_are_reported_as_corrupt(s: Fixture) {
    let d = commit(&s, doc("a", "x.txt", "h1"), &["one"]);
    s.execute_raw(
        "UPDATE documents SET metadata = '{not json' WHERE id = $1",
        &[d.id.as_str()],
    )
    .unwrap();
    let err = s.get_document(&t("a"), &d.id).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert_eq!(err.code(), ErrorCode::StoreError);
}
