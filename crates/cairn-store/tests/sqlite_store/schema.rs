//! Opening, migrations, persistence, tenants, collections and error mapping.

use crate::support::{c, commit, db_path, doc, new_job, plain, setup, t};
use cairn_store::{
    CollectionRepo, DocumentRepo, Error, IdempotencyRecord, IdempotencyRepo, JobFilter, JobRepo,
    SCHEMA_VERSION, SqliteStore, TenantRepo,
};
use cairn_types::{ChunkerKind, ChunkingSpec, ErrorCode};
use std::sync::Arc;

fn raw(dir: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db_path(dir)).unwrap()
}

fn recorded(conn: &rusqlite::Connection) -> Vec<(i64, i64)> {
    let mut st = conn
        .prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn open_creates_directories_and_uses_wal_with_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    assert!(db_path(dir.path()).is_file());
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    let mode: String = raw(dir.path())
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn migrations_are_recorded_once_and_reopen_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    drop(setup(dir.path()));
    let first = recorded(&raw(dir.path()));
    assert_eq!(first.len(), SCHEMA_VERSION as usize);
    let versions: Vec<i64> = first.iter().map(|m| m.0).collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    assert!(first[0].1 > 0, "applied_at is a wall-clock time");
    for _ in 0..2 {
        let s = SqliteStore::open(&db_path(dir.path())).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    }
    assert_eq!(
        recorded(&raw(dir.path())),
        first,
        "no migration re-applied on reopen"
    );
}

#[test]
fn a_database_from_a_newer_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(setup(dir.path()));
    raw(dir.path())
        .execute("INSERT INTO schema_migrations VALUES (999, 0)", [])
        .unwrap();
    let Err(err) = SqliteStore::open(&db_path(dir.path())) else {
        panic!("opened a newer database")
    };
    let msg = err.to_string();
    assert!(msg.contains("999") && msg.contains("newer"), "{msg}");
}

#[test]
fn a_file_that_is_not_a_database_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    assert!(SqliteStore::open(&path).is_err());
}

#[test]
fn everything_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let d = commit(&s, doc("a", "x.txt", "h1"), &["one", "two"]);
    let job = s.enqueue(&t("a"), &[new_job("/x")], 1).unwrap().remove(0);
    drop(s);
    let s = SqliteStore::open(&db_path(dir.path())).unwrap();
    assert_eq!(s.list_tenants().unwrap().len(), 2);
    assert_eq!(s.get_document(&t("a"), &d.id).unwrap(), d);
    assert_eq!(s.list_chunks(&t("a"), &d.id).unwrap().len(), 2);
    assert_eq!(s.get_job(&t("a"), &job).unwrap().batch, "b1");
}

#[test]
fn in_memory_store_is_complete_and_shareable() {
    let s = Arc::new(SqliteStore::open_in_memory().unwrap());
    s.ensure_tenant(&t("a"), "A", 1).unwrap();
    s.create_collection(&t("a"), &c("c"), "", &ChunkingSpec::default(), 1)
        .unwrap();
    let d = commit(&s, doc("a", "m.txt", "h"), &["p", "c"]);
    let s2 = Arc::clone(&s);
    let n = std::thread::spawn(move || s2.list_chunks(&t("a"), &d.id).unwrap().len())
        .join()
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn tenants_are_created_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
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

#[test]
fn collections_crud_and_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
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

#[test]
fn deleting_a_collection_cascades_to_everything_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
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
    let orphans: i64 = raw(dir.path())
        .query_row(
            "SELECT COUNT(*) FROM chunks WHERE tenant_id = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
}

#[test]
fn undecodable_rows_are_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let d = commit(&s, doc("a", "x.txt", "h1"), &["one"]);
    raw(dir.path())
        .execute(
            "UPDATE documents SET metadata = '{not json' WHERE id = ?1",
            [d.id.as_str()],
        )
        .unwrap();
    let err = s.get_document(&t("a"), &d.id).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert_eq!(err.code(), ErrorCode::StoreError);
}

#[test]
fn a_write_blocked_by_another_process_fails_busy_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let other = raw(dir.path());
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let err = s.enqueue(&t("a"), &[new_job("/x")], 1).unwrap_err();
    assert!(matches!(err, Error::Busy(_)), "{err}");
    assert_eq!(err.code(), ErrorCode::Transient);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(4),
        "waited for the lock first"
    );
    // Readers are not blocked by the other writer.
    assert_eq!(s.list_collections(&t("a")).unwrap().len(), 1);
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(s.enqueue(&t("a"), &[new_job("/x")], 1).unwrap().len(), 1);
}
