//! The embedded store on SQLite: opening, connection handling and error mapping.
//!
//! Concurrency: one *writer* connection behind a mutex plus a small pool of read-only
//! *reader* connections. SQLite admits one writer at a time anyway, so in-process writers
//! queue on the mutex instead of spinning on `SQLITE_BUSY`; every write runs in a
//! `BEGIN IMMEDIATE` transaction, which takes the database write lock up front, so two
//! processes never deadlock upgrading a read to a write (the loser waits up to the busy
//! timeout, then gets [`Error::Busy`]). In WAL mode readers never wait for the writer,
//! so searches and listings keep going while a large document commits. An in-memory
//! database (tests) cannot be shared between connections, so it has only the writer,
//! which then serves reads too.
//!
//! Durability: WAL with `synchronous = FULL`. With `NORMAL`, a commit in WAL mode survives
//! a process crash but the last commits may roll back on power loss or an OS crash;
//! Cairn promises that acknowledged work (a stored document, a job's outcome, an enqueued
//! job) is never lost, so those commits sync the WAL: one `fsync` per transaction, small
//! next to parsing and embedding a document. Lease bookkeeping (claim, heartbeat,
//! reclaim) commits with `NORMAL` ([`Durability::Relaxed`]): losing it to a power cut
//! only makes a job run again, and it halves the syncs per ingested document.

mod agents;
mod assistants;
mod audit;
mod backup;
mod collections;
mod commit;
mod conversations;
mod documents;
mod duty;
mod eval_runs;
mod idempotency;
mod identity;
mod index_feed;
mod jobs;
mod lifecycle;
mod migrations;
mod privacy;
mod reindex;
mod replicas;
mod sessions;
mod shared_index;
mod tenant_data;
pub use migrations::SCHEMA_VERSION;
mod rows;
mod tenants;
mod uploads;

use crate::{Error, Result};
use rusqlite::{Connection, ErrorCode as SqlCode, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long a statement waits for another process's lock before failing with `Busy`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle reader connections kept open for reuse; more are opened under load and closed
/// when returned to a full pool.
const MAX_IDLE_READERS: usize = 4;

/// The SQLite implementation of every repository trait. `Send + Sync`: share it between
/// worker threads behind an `Arc`.
pub struct SqliteStore {
    /// `None` for an in-memory database: reads then go through the writer. Declared
    /// first so readers close first: the writer, closing last, checkpoints the WAL.
    readers: Option<ReaderPool>,
    writer: Mutex<Writer>,
}

/// The one read-write connection and the `synchronous` mode it is in.
struct Writer {
    conn: Connection,
    durability: Durability,
}

/// How far a write transaction's commit is pushed to disk before it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// `synchronous = FULL`: the WAL is synced; the commit survives power loss. For
    /// everything a caller is told is done (documents, job outcomes, enqueues).
    Full,
    /// `synchronous = NORMAL`: survives a process crash, but a power loss may undo it.
    /// Only for lease bookkeeping (claim, heartbeat, reclaim), where losing the change
    /// just means a job runs again. The WAL is append-only, so the next full commit
    /// syncs these changes too.
    Relaxed,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Relaxed => "NORMAL",
        }
    }
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Readers lent out now.
    in_use: std::sync::atomic::AtomicUsize,
}

// The store is shared between worker threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SqliteStore>();
};

impl SqliteStore {
    /// Opens the database file, creating it and its parent directories if needed, and
    /// applies the migrations it lacks. Fails if the file was written by a newer Cairn.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Database(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| context(db(e), &format!("opening {}", path.display())))?;
        let writer = Self::init_writer(conn, true)
            .map_err(|e| context(e, &format!("opening {}", path.display())))?;
        let readers = ReaderPool {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            in_use: std::sync::atomic::AtomicUsize::new(0),
        };
        Ok(Self {
            writer: Mutex::new(Writer {
                conn: writer,
                durability: Durability::Full,
            }),
            readers: Some(readers),
        })
    }

    /// A private in-memory database with the full schema (tests). One connection.
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(db)?;
        let writer = Self::init_writer(conn, false)?;
        Ok(Self {
            writer: Mutex::new(Writer {
                conn: writer,
                durability: Durability::Full,
            }),
            readers: None,
        })
    }

    fn init_writer(mut conn: Connection, file: bool) -> Result<Connection> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        if file {
            let mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                .map_err(db)?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(
                    mode,
                    "SQLite refused WAL mode; readers will wait for writers"
                );
            }
        }
        conn.pragma_update(None, "synchronous", Durability::Full.pragma())
            .map_err(db)?;
        // Truncate the WAL back to this size after checkpoints (a big ingest grows it).
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
            .map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        migrations::apply(&mut conn, migrations::MIGRATIONS)?;
        Ok(conn)
    }

    /// The schema version of the Cairn store in the existing file at `path`, read
    /// without migrating or otherwise changing it. A missing file, or an SQLite file that
    /// is not a Cairn state store (another program's, or Cairn's `traces.db`), is refused.
    pub fn schema_version_at(path: &Path) -> Result<i64> {
        let conn = open_existing_read_only(path)?;
        store_version(&conn, path)
    }

    /// The newest schema migration applied to this database.
    pub fn schema_version(&self) -> Result<i64> {
        self.read("reading the schema version", migrations::current_version)
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        // A panic while holding the lock dropped its transaction, which rolled back.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction on the writer and commits with
    /// [`Durability::Full`] if it returns `Ok`; on `Err` (or a panic) everything `f` wrote
    /// is rolled back. `what` names the operation in busy and database errors.
    pub(crate) fn write<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.write_with(Durability::Full, what, f)
    }

    /// [`Self::write`] with the given durability.
    pub(crate) fn write_with<T>(
        &self,
        durability: Durability,
        what: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let run = || {
            let mut w = self.writer();
            if w.durability != durability {
                // Set before each transaction that needs another mode, never restored
                // afterwards, so no failure can leave a full write relaxed.
                w.conn
                    .pragma_update(None, "synchronous", durability.pragma())
                    .map_err(db)?;
                w.durability = durability;
            }
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let out = f(&tx)?;
            tx.commit().map_err(db)?;
            Ok(out)
        };
        run().map_err(|e| context(e, what))
    }

    /// Runs read-only `f` on a reader connection (the writer for an in-memory database).
    pub(crate) fn read<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        let Some(pool) = &self.readers else {
            return f(&self.writer().conn).map_err(|e| context(e, what));
        };
        let conn = match pool.take() {
            Some(conn) => conn,
            None => pool.open().map_err(|e| context(e, what))?,
        };
        use std::sync::atomic::Ordering::Relaxed;
        pool.in_use.fetch_add(1, Relaxed);
        let out = f(&conn).map_err(|e| context(e, what));
        pool.in_use.fetch_sub(1, Relaxed);
        pool.give_back(conn);
        out
    }
}

impl crate::repo::ConnectionStats for SqliteStore {
    /// The read-only connections (the one writer is not counted).
    fn connections(&self) -> crate::repo::Connections {
        let Some(pool) = &self.readers else {
            return crate::repo::Connections::default();
        };
        crate::repo::Connections {
            idle: pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len(),
            in_use: pool.in_use.load(std::sync::atomic::Ordering::Relaxed),
            max: None,
        }
    }
}

impl ReaderPool {
    fn take(&self) -> Option<Connection> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }

    fn open(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(db)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        Ok(conn)
    }
}

/// A read-only connection to the existing database file at `path` (never created).
pub(crate) fn open_existing_read_only(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(not_found(format!("SQLite store file {}", path.display())));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| context(db(e), &format!("opening {}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    Ok(conn)
}

/// The schema version of the Cairn store `conn` is open on (named `path` in errors);
/// refuses a database that is not a Cairn state store.
pub(crate) fn store_version(conn: &Connection, path: &Path) -> Result<i64> {
    let tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master
             WHERE type = 'table' AND name IN ('schema_migrations', 'tenants')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| context(db(e), &format!("reading {}", path.display())))?;
    if tables != 2 {
        return Err(Error::Database(format!(
            "{} is not a Cairn state store (it has no `tenants` and `schema_migrations` \
             tables): point at the embedded installation's data/cairn.db",
            path.display()
        )));
    }
    migrations::current_version(conn)
}

/// Which constraint a failed statement violated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A primary key or unique index.
    Unique,
    /// A foreign key: the parent row is missing.
    ForeignKey,
}

/// The constraint `e` violated, if it is a constraint violation of interest.
pub(crate) fn violation(e: &rusqlite::Error) -> Option<Violation> {
    let code = e.sqlite_error()?.extended_code;
    match code {
        rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
            Some(Violation::Unique)
        }
        rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Violation::ForeignKey),
        _ => None,
    }
}

/// Maps a failed insert: a taken unique key becomes `Conflict(taken())`, a missing
/// parent row `NotFound(parent())`, anything else goes through [`db`].
pub(crate) fn insert_err(
    e: rusqlite::Error,
    taken: impl FnOnce() -> String,
    parent: impl FnOnce() -> String,
) -> Error {
    match violation(&e) {
        Some(Violation::Unique) => Error::Conflict(taken()),
        Some(Violation::ForeignKey) => Error::NotFound { what: parent() },
        None => db(e),
    }
}

/// Maps a rusqlite error to the store's error kinds.
pub(crate) fn db(e: rusqlite::Error) -> Error {
    match violation(&e) {
        Some(Violation::Unique) => return Error::Conflict(e.to_string()),
        Some(Violation::ForeignKey) => {
            return Error::NotFound {
                what: format!("a row referenced by this write ({e})"),
            };
        }
        None => {}
    }
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            SqlCode::DatabaseBusy | SqlCode::DatabaseLocked => Error::Busy(e.to_string()),
            SqlCode::NotADatabase | SqlCode::DatabaseCorrupt => Error::Corrupt(e.to_string()),
            _ => Error::Database(e.to_string()),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => Error::Corrupt(e.to_string()),
        _ => Error::Database(e.to_string()),
    }
}

/// Prefixes the operation to errors whose message would not say what failed.
fn context(e: Error, what: &str) -> Error {
    match e {
        Error::Busy(m) => Error::Busy(format!("{what}: {m}")),
        Error::Corrupt(m) => Error::Corrupt(format!("{what}: {m}")),
        Error::Database(m) => Error::Database(format!("{what}: {m}")),
        other => other,
    }
}

/// `NotFound` for a missing row, naming what was looked for.
pub(crate) fn not_found(what: impl Into<String>) -> Error {
    Error::NotFound { what: what.into() }
}

/// A count or size as SQLite's integer (saturating; real values are far below).
pub(crate) fn to_i64<T: TryInto<i64>>(n: T) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::{JobRepo, TenantRepo};
    use cairn_types::TenantId;

    fn synchronous(s: &SqliteStore) -> i64 {
        s.writer()
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn only_lease_bookkeeping_commits_relaxed() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("x.db")).unwrap();
        assert_eq!(synchronous(&s), 2, "FULL");
        s.reclaim(&[], 0).unwrap();
        assert_eq!(synchronous(&s), 1, "NORMAL");
        s.ensure_tenant(&TenantId::new("a"), "a", 0).unwrap();
        assert_eq!(synchronous(&s), 2, "FULL again for acknowledged work");
    }

    #[test]
    fn a_failed_write_rolls_back_and_keeps_the_store_usable() {
        let s = SqliteStore::open_in_memory().unwrap();
        let err = s
            .write("test", |tx| {
                tx.execute("INSERT INTO tenants VALUES ('x', 'x', 0)", [])
                    .map_err(db)?;
                Err::<(), _>(Error::Conflict("stop".into()))
            })
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)));
        assert!(s.get_tenant(&TenantId::new("x")).is_err(), "rolled back");
        s.ensure_tenant(&TenantId::new("x"), "x", 0).unwrap();
    }
}
