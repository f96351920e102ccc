//! What is particular to the PostgreSQL backend (everything the repositories promise is
//! in the conformance suite, which runs on both backends): explicit migrations, the
//! schema check at open, and calls made from inside a Tokio runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_store::testing::fresh_postgres_database;
use cairn_store::{POSTGRES_SCHEMA_VERSION, PostgresStore, TenantRepo, create_database};
use cairn_types::TenantId;

fn admin_url() -> String {
    std::env::var(cairn_store::testing::PG_URL_VAR).expect(
        "CAIRN_TEST_PG_URL is not set: run scripts/test.sh, or \
         `export CAIRN_TEST_PG_URL=$(scripts/postgres.sh start | tail -n 1)`",
    )
}

#[test]
fn open_refuses_an_unmigrated_database_and_migrate_is_idempotent() {
    let name = format!("cairn_unmigrated_{}", std::process::id());
    let url = create_database(&admin_url(), &name).unwrap();
    let err = PostgresStore::open(&url).err().expect("refused");
    assert!(err.to_string().contains("cairn migrate"), "{err}");
    assert_eq!(
        PostgresStore::migrate(&url).unwrap(),
        (1..=POSTGRES_SCHEMA_VERSION).collect::<Vec<_>>()
    );
    assert!(
        PostgresStore::migrate(&url).unwrap().is_empty(),
        "nothing left to apply"
    );
    let s = PostgresStore::open(&url).unwrap();
    assert_eq!(s.schema_version().unwrap(), POSTGRES_SCHEMA_VERSION);
}

#[test]
fn concurrent_migrators_apply_each_step_once() {
    let name = format!("cairn_racing_{}", std::process::id());
    let url = create_database(&admin_url(), &name).unwrap();
    let applied: Vec<Vec<i64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| PostgresStore::migrate(&url).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total: usize = applied.iter().map(Vec::len).sum();
    assert_eq!(total, usize::try_from(POSTGRES_SCHEMA_VERSION).unwrap());
}

#[test]
fn bad_urls_fail_with_a_clear_message() {
    let err = PostgresStore::open("not a url at all").err().unwrap();
    assert!(err.to_string().contains("store.url"), "{err}");
    let err = PostgresStore::open("postgres://cairn@127.0.0.1:1/none?connect_timeout=2")
        .err()
        .unwrap();
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

#[test]
fn calls_from_async_handlers_work_and_dropping_there_is_safe() {
    let url = fresh_postgres_database().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async move {
        let s = PostgresStore::open(&url).unwrap();
        s.ensure_tenant(&TenantId::new("a"), "A", 1).unwrap();
        let again = s.ensure_tenant(&TenantId::new("a"), "other", 2).unwrap();
        assert_eq!((again.name.as_str(), again.created_at), ("A", 1));
        let listed = tokio::task::spawn(async move {
            let l = s.list_tenants().unwrap();
            drop(s);
            l
        })
        .await
        .unwrap();
        assert_eq!(listed.len(), 1);
    });
    // And from a current-thread runtime (tokio::test's default).
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = PostgresStore::open(&fresh_postgres_database().unwrap()).unwrap();
        assert!(s.list_tenants().unwrap().is_empty());
    });
}

/// A rolling upgrade: a database migrated past this binary's schema is still opened when
/// every newer migration declared itself readable by it (it only added tables), and
/// refused otherwise.
#[test]
fn a_newer_schema_is_opened_only_when_it_declares_itself_readable() {
    let url = fresh_postgres_database().unwrap();
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let future = POSTGRES_SCHEMA_VERSION + 1;
    raw.execute(
        "INSERT INTO schema_migrations(version, applied_at, readable_by) VALUES ($1, 0, $2)",
        &[&future, &POSTGRES_SCHEMA_VERSION],
    )
    .unwrap();
    let s = PostgresStore::open(&url).expect("an additive newer schema is readable");
    assert_eq!(s.schema_version().unwrap(), future);
    raw.execute(
        "UPDATE schema_migrations SET readable_by = $1 WHERE version = $1",
        &[&future],
    )
    .unwrap();
    let err = PostgresStore::open(&url).err().expect("refused");
    assert!(err.to_string().contains("not readable by it"), "{err}");
}
