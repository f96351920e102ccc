//! Fixtures: a store on either backend with tenants `a` and `b`, each with a collection
//! `c`; the `both!` macro that runs one test body on both backends; direct SQL access
//! for the tests that tamper with rows or try what the schema refuses.

use cairn_store::testing::fresh_postgres_database;
use cairn_store::{DocumentCommit, NewJob, PostgresStore, SqliteStore, Store};
use cairn_types::{
    Acl, Chunk, ChunkId, ChunkRole, ChunkingSpec, CollectionId, DocStatus, Document, DocumentId,
    JobKind, QualityFlags, TenantId,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs a repository-contract test on both backends. `both!(name);` goes right above
/// `fn name(s: Fixture) { … }`, the test written once against the fixture's `dyn Store`,
/// and adds a module `name` (modules and functions have separate namespaces) holding
/// `#[test] fn sqlite()` and `#[test] fn postgres()`, each calling `name` with a fresh
/// fixture of its backend. So `cargo test --test store_conformance postgres` runs the
/// PostgreSQL half. A test function left without its `both!` line is dead code, which
/// the lints refuse.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(crate::support::setup(crate::support::Backend::Sqlite));
            }

            #[test]
            fn postgres() {
                super::$name(crate::support::setup(crate::support::Backend::Postgres));
            }
        }
    };
}

/// The two implementations of [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a fixture's data lives, so that more handles on it can be opened.
enum Database {
    /// A file under a temporary directory (removed when the fixture is dropped).
    Sqlite(tempfile::TempDir),
    /// A fresh database of its own on the test server.
    Postgres(String),
}

/// A store (tenants `a` and `b`, each with collection `c`) and what keeps it alive.
/// Dereferences to the store, so a test calls the repositories on it directly
/// (`&*fixture` is the `&dyn Store`).
pub struct Fixture {
    store: Arc<dyn Store>,
    db: Database,
}

/// A fresh store of `backend` with tenants `a` and `b`, each with collection `c`.
/// PostgreSQL needs `CAIRN_TEST_PG_URL`: without it the test fails, saying how to get a
/// server (it is never skipped).
pub fn setup(backend: Backend) -> Fixture {
    let db = match backend {
        Backend::Sqlite => Database::Sqlite(tempfile::tempdir().unwrap()),
        Backend::Postgres => {
            Database::Postgres(fresh_postgres_database().unwrap_or_else(|e| panic!("{e}")))
        }
    };
    let store = db.open().unwrap();
    add_tenants(&*store);
    Fixture { store, db }
}

/// Adds tenants `a` and `b`, each with collection `c`, to an empty store.
pub fn add_tenants(s: &dyn Store) {
    for tenant in ["a", "b"] {
        s.ensure_tenant(&t(tenant), tenant, 1).unwrap();
        s.create_collection(&t(tenant), &c("c"), "", &ChunkingSpec::default(), 1)
            .unwrap();
    }
}

impl Database {
    fn open(&self) -> cairn_store::Result<Arc<dyn Store>> {
        match self {
            Self::Sqlite(dir) => Ok(Arc::new(SqliteStore::open(&db_path(dir.path()))?)),
            Self::Postgres(url) => Ok(Arc::new(PostgresStore::open(url)?)),
        }
    }
}

impl std::ops::Deref for Fixture {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

impl Fixture {
    pub fn backend(&self) -> Backend {
        match self.db {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// This store, shared (for other threads).
    pub fn handle(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// A second store on the same data: another connection to the same SQLite file, or
    /// another pool on the same PostgreSQL database (how a second node is simulated).
    pub fn another_handle(&self) -> Arc<dyn Store> {
        self.db.open().unwrap()
    }

    /// Opens the same data again, as a new process would, returning the error if the
    /// store refuses it.
    pub fn try_open_again(&self) -> cairn_store::Result<Arc<dyn Store>> {
        self.db.open()
    }

    /// Closes this store (once no thread holds a handle) and opens the same data again.
    pub fn reopen(self) -> Fixture {
        let Fixture { store, db } = self;
        drop(store);
        let store = db.open().unwrap();
        Fixture { store, db }
    }

    /// Runs one SQL statement on the database directly, bypassing the store (to tamper
    /// with a row or to try what the schema refuses). Parameters are written `$1`, `$2`…,
    /// which both SQLite and PostgreSQL accept. Returns the rows changed, or the
    /// database's refusal.
    pub fn execute_raw(&self, sql: &str, params: &[&str]) -> Result<u64, String> {
        match &self.db {
            Database::Sqlite(dir) => raw_sqlite(dir.path())
                .execute(sql, rusqlite::params_from_iter(params))
                .map(|n| u64::try_from(n).unwrap())
                .map_err(|e| e.to_string()),
            Database::Postgres(url) => raw_postgres(url)
                .execute(sql, &pg_params(params))
                .map_err(|e| e.to_string()),
        }
    }

    /// The integer in the first column of the one row `sql` returns (a `COUNT(*)`).
    pub fn query_i64(&self, sql: &str, params: &[&str]) -> i64 {
        match &self.db {
            Database::Sqlite(dir) => raw_sqlite(dir.path())
                .query_row(sql, rusqlite::params_from_iter(params), |r| r.get(0))
                .unwrap(),
            Database::Postgres(url) => raw_postgres(url)
                .query_one(sql, &pg_params(params))
                .unwrap()
                .get(0),
        }
    }

    /// The text in the first column of every row `sql` returns.
    pub fn query_strings(&self, sql: &str) -> Vec<String> {
        match &self.db {
            Database::Sqlite(dir) => raw_sqlite(dir.path())
                .prepare(sql)
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap(),
            Database::Postgres(url) => raw_postgres(url)
                .query(sql, &[])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect(),
        }
    }
}

fn raw_sqlite(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db_path(dir)).unwrap()
}

fn raw_postgres(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

fn pg_params<'a>(params: &'a [&'a str]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

pub fn t(s: &str) -> TenantId {
    TenantId::new(s)
}

pub fn c(s: &str) -> CollectionId {
    CollectionId::new(s)
}

/// Where a SQLite fixture keeps its file under its directory.
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("nested/data/cairn.db")
}

/// A SQLite store on a file under `dir` with tenants `a` and `b`, each with collection
/// `c` (for the tests of SQLite itself).
pub fn sqlite_at(dir: &Path) -> SqliteStore {
    let s = SqliteStore::open(&db_path(dir)).unwrap();
    add_tenants(&s);
    s
}

/// A fresh draft document (new id) for `source` in collection `c`.
pub fn doc(tenant: &str, source: &str, hash: &str) -> Document {
    Document {
        tenant: t(tenant),
        id: DocumentId::generate(),
        collection: c("c"),
        source: source.into(),
        title: format!("title of {source}"),
        format: "text".into(),
        content_hash: hash.into(),
        mtime: 5,
        size_bytes: 10,
        metadata: serde_json::json!({"tag": "x", "n": 1}),
        acl: Acl {
            users: vec!["u".into()],
            groups: vec!["g".into()],
        },
        status: DocStatus::Indexed,
        owner: None,
        quality: QualityFlags {
            simhash: u64::MAX - 7,
            ..QualityFlags::default()
        },
        chunk_count: 0,
        created_at: 10,
        updated_at: 10,
    }
}

/// Chunks as the engine builds them: chunk 0 a parent, the others its children, ids and
/// parent links built from the draft document id.
pub fn chunks(d: &Document, texts: &[&str]) -> Vec<Chunk> {
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
            heading_path: vec!["H".into(), format!("h{i}")],
            token_count: 3 + i,
            role: if i == 0 {
                ChunkRole::Parent
            } else {
                ChunkRole::Child
            },
            parent: (i > 0).then(|| ChunkId::for_position(&d.id, 0)),
            page: (i % 2 == 1).then_some(u32::try_from(i).unwrap()),
        })
        .collect()
}

pub fn plain(d: Document, texts: &[&str]) -> DocumentCommit {
    let chunks = chunks(&d, texts);
    DocumentCommit {
        embeddings: vec![],
        doc: d,
        chunks,
        job: None,
        idempotency: None,
        parsed: None,
        upload: None,
    }
}

/// Commits `d` with chunks `texts` at time 20.
pub fn commit(s: &Fixture, d: Document, texts: &[&str]) -> Document {
    let tenant = d.tenant.clone();
    s.commit_document(&tenant, plain(d, texts), 20).unwrap()
}

pub fn new_job(path: &str) -> NewJob {
    new_job_in("b1", path)
}

pub fn new_job_in(batch: &str, path: &str) -> NewJob {
    NewJob {
        collection: c("c"),
        batch: batch.into(),
        kind: JobKind::IngestFile {
            path: path.into(),
            acl: Acl::default(),
            metadata: serde_json::Map::default(),
            force: false,
        },
        max_attempts: 2,
    }
}
