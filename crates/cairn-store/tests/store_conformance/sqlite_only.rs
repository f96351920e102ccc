//! What is about SQLite itself, not the repository contract: the file and its
//! directories, WAL, migrations recorded in the file and not re-applied on reopen, a file
//! that is not a database, the in-memory store, the busy timeout when another process
//! holds the write lock, and online backups (`backup_to`) while another process writes. (The contract parts of these, such as reopening, a
//! newer schema refused or corrupt rows, run on both backends in `schema.rs`.)

use crate::support::{c, db_path, doc, new_job, plain, sqlite_at, t};
use cairn_store::{
    CollectionRepo, DocumentRepo, Error, JobRepo, SCHEMA_VERSION, SqliteStore, TenantRepo,
};
use cairn_types::{ChunkingSpec, ErrorCode};
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
    let s = sqlite_at(dir.path());
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
    drop(sqlite_at(dir.path()));
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
fn a_file_that_is_not_a_database_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    assert!(SqliteStore::open(&path).is_err());
}

#[test]
fn in_memory_store_is_complete_and_shareable() {
    let s = Arc::new(SqliteStore::open_in_memory().unwrap());
    s.ensure_tenant(&t("a"), "A", 1).unwrap();
    s.create_collection(&t("a"), &c("c"), "", &ChunkingSpec::default(), 1)
        .unwrap();
    let d = s
        .commit_document(&t("a"), plain(doc("a", "m.txt", "h"), &["p", "c"]), 20)
        .unwrap();
    let s2 = Arc::clone(&s);
    let n = std::thread::spawn(move || s2.list_chunks(&t("a"), &d.id).unwrap().len())
        .join()
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_write_blocked_by_another_process_fails_busy_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_at(dir.path());
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

#[test]
fn an_online_backup_is_a_consistent_copy_taken_while_another_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(sqlite_at(dir.path()));
    let first = s
        .commit_document(&t("a"), plain(doc("a", "one.txt", "h1"), &["p", "c"]), 10)
        .unwrap();
    // A second process keeps committing while the backup runs.
    let writer = SqliteStore::open(&db_path(dir.path())).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let committing = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let d = doc("b", &format!("w{n}.txt"), &format!("hw{n}"));
                writer
                    .commit_document(&t("b"), plain(d, &["x"]), 11)
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let target = dir.path().join("backups/cairn-backup.db");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    s.backup_to(&target).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = committing.join().unwrap();
    assert!(written > 0);
    assert!(!dir.path().join("backups/cairn-backup.db.partial").exists());

    // The copy opens as a store of its own, with every row up to its snapshot and whole
    // documents only (each with its chunks).
    let copy = SqliteStore::open(&target).unwrap();
    assert_eq!(copy.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(copy.list_chunks(&t("a"), &first.id).unwrap().len(), 2);
    let docs = copy
        .list_documents(&t("b"), Some(&c("c")), 100_000, 0)
        .unwrap();
    assert!(docs.len() <= written);
    for d in &docs {
        assert_eq!(copy.list_chunks(&t("b"), &d.id).unwrap().len(), 1);
    }
    // A backup never replaces a file.
    let err = s.backup_to(&target).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
}
