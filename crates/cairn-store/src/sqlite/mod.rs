//! The embedded store on SQLite.
//!
//! One connection behind a mutex: SQLite serializes writers anyway, and every statement
//! here is short (parsing and chunking happen outside the store), so a pool would add
//! little. WAL mode lets other processes (a second CLI, the crash test) read while this
//! one writes. `synchronous = FULL`: an acknowledged commit survives power loss, which is
//! what "a crash loses nothing acknowledged" requires; the cost is one fsync per commit.
//! Writes that must be atomic run in `BEGIN IMMEDIATE` transactions.

mod collections;
mod documents;
mod idempotency;
mod jobs;
mod migrations;
mod rows;
mod tenants;

use crate::{Error, Result};
use rusqlite::{Connection, ErrorCode as SqlCode, OpenFlags};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The SQLite implementation of every repository trait.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Database(format!("cannot create {}: {e}", dir.display())))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| Error::Database(format!("cannot open {}: {e}", path.display())))?;
        Self::init(conn)
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory().map_err(db)?)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        migrations::apply(&mut conn)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The schema version this database is at.
    pub fn schema_version(&self) -> Result<i64> {
        migrations::current_version(&self.conn())
    }
}

/// Maps a rusqlite error to the store's error kinds.
pub(crate) fn db(e: rusqlite::Error) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            SqlCode::DatabaseBusy | SqlCode::DatabaseLocked => Error::Busy(e.to_string()),
            SqlCode::ConstraintViolation => Error::Conflict(e.to_string()),
            _ => Error::Database(e.to_string()),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => Error::Corrupt(e.to_string()),
        _ => Error::Database(e.to_string()),
    }
}

/// `NotFound` for a missing row, naming what was looked for.
pub(crate) fn not_found(what: impl Into<String>) -> Error {
    Error::NotFound { what: what.into() }
}
