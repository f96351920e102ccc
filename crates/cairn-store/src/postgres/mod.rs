//! The scale-out store on PostgreSQL: connections, transactions and error mapping.
//!
//! Several `cairn serve` and `cairn worker` processes share one database, so what
//! SQLite's single writer gave for free is explicit here:
//! - job claims take rows with `FOR UPDATE SKIP LOCKED` (two claimers never get one job);
//! - the audit chain is appended under a row lock on its head (`audit_head`);
//! - the index change log is appended under a global transaction-scoped advisory lock
//!   ([`lock_index_feed`]), so change sequence numbers become visible in order and a
//!   replica following the log by `seq` never skips a change committed late;
//! - a read-check-then-write runs as one `INSERT … ON CONFLICT` (idempotency keys, job
//!   dedup) or under a row lock (a conversation's row before its next message; the
//!   tenant's row for legal holds against sweeps, erasure and offboarding);
//! - counters are updated with `UPDATE … SET n = n + $1` in one statement.
//!
//! Connections: a small pool of `postgres::Client`s (the synchronous client, which runs
//! its own single-threaded Tokio runtime per connection). A runtime cannot be entered from
//! inside another, and the repository traits are called from async handlers, so a call
//! made on a Tokio thread runs on a short-lived scoped thread ([`off_runtime`]).
//!
//! Moving an embedded installation here: [`import`] (`cairn migrate --from-sqlite`).
//!
//! Schema: [`migrations`]. A server never migrates on its own: `cairn migrate` does
//! ([`PostgresStore::migrate`]), and [`PostgresStore::open`] refuses a database whose
//! schema is older or newer than this binary's.

mod agents;
mod assistants;
mod audit;
mod collections;
mod commit;
mod conversations;
mod documents;
mod duty;
mod eval_runs;
mod idempotency;
mod identity;
mod import;
mod index_feed;
mod jobs;
mod lifecycle;
mod migrations;
mod privacy;
mod reindex;
mod replicas;
mod rows;
mod sessions;
mod shared_index;
mod tenant_data;
mod tenants;
mod uploads;

pub use import::{IMPORTED_TABLES, ImportProgress, ImportReport, POSTGRES_ONLY_TABLES, TableCount};
pub use migrations::SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION;

use crate::{Error, Result};
use postgres::error::SqlState;
use postgres::{Client, NoTls, Transaction};
use std::str::FromStr;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// Connections a store opens at most unless the URL's pool size says otherwise.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// How long a call waits for a free connection before failing with `Busy`.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// The PostgreSQL implementation of every repository trait. `Send + Sync`.
pub struct PostgresStore {
    pool: Pool,
}

struct Pool {
    config: postgres::Config,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Client>,
    /// Connections open now, idle or in use.
    open: usize,
}

const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PostgresStore>();
};

impl crate::repo::ConnectionStats for PostgresStore {
    fn connections(&self) -> crate::repo::Connections {
        let state = self
            .pool
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::repo::Connections {
            idle: state.idle.len(),
            in_use: state.open.saturating_sub(state.idle.len()),
            max: Some(self.pool.max),
        }
    }
}

/// Runs `f` where a blocking PostgreSQL call may run: on this thread outside a Tokio
/// runtime, else on a scoped thread (the client's own runtime cannot start inside one).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Parses a `postgres://` URL (or a `key=value` connection string) and names the store
/// in `pg_stat_activity`.
fn parse_url(url: &str) -> Result<postgres::Config> {
    let mut config = postgres::Config::from_str(url).map_err(|e| {
        Error::Database(format!(
            "store.url is not a PostgreSQL connection URL ({e}); expected \
             postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        ))
    })?;
    if config.get_application_name().is_none() {
        config.application_name("cairn");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_ssl_mode() == postgres::config::SslMode::Require {
        return Err(Error::Database(
            "store.url asks for sslmode=require, but this build connects without TLS; \
             use a loopback or private-network connection (sslmode=disable or prefer)"
                .into(),
        ));
    }
    Ok(config)
}

impl PostgresStore {
    /// Connects to the database at `url` and checks that its schema is this binary's
    /// ([`SCHEMA_VERSION`](migrations::SCHEMA_VERSION)); an unmigrated or older database
    /// is refused with the command that migrates it.
    pub fn open(url: &str) -> Result<Self> {
        let store = Self::connect(url, DEFAULT_POOL_SIZE)?;
        let version = store.schema_version()?;
        match version.cmp(&migrations::SCHEMA_VERSION) {
            std::cmp::Ordering::Equal => Ok(store),
            std::cmp::Ordering::Less => Err(Error::Database(format!(
                "the PostgreSQL store is at schema version {version}, this binary needs {}: \
                 run `cairn migrate` first",
                migrations::SCHEMA_VERSION
            ))),
            std::cmp::Ordering::Greater => {
                let binary = migrations::SCHEMA_VERSION;
                if store.with_client("reading the schema version", |c| {
                    migrations::readable_by(c, binary)
                })? {
                    tracing::warn!(
                        database = version,
                        binary,
                        "the PostgreSQL store was migrated by a newer Cairn whose schema \
                         this one still reads (a rolling upgrade): upgrade this node"
                    );
                    Ok(store)
                } else {
                    Err(Error::Database(format!(
                        "the PostgreSQL store is at schema version {version}, newer than \
                         this binary's {binary} and not readable by it: upgrade Cairn"
                    )))
                }
            }
        }
    }

    /// Applies the migrations the database at `url` lacks (under an advisory lock, so
    /// two migrators never race) and returns the versions applied.
    pub fn migrate(url: &str) -> Result<Vec<i64>> {
        let store = Self::connect(url, 1)?;
        store.with_client("migrating the PostgreSQL store", migrations::apply)
    }

    /// The schema version of the database at `url` (0: never migrated), without
    /// requiring it to be this binary's.
    pub fn schema_version_at(url: &str) -> Result<i64> {
        Self::connect(url, 1)?.schema_version()
    }

    /// Connects without checking the schema (pool of at most `max` connections).
    fn connect(url: &str, max: usize) -> Result<Self> {
        let config = parse_url(url)?;
        let store = Self {
            pool: Pool {
                config,
                max: max.max(1),
                state: Mutex::new(PoolState::default()),
                freed: Condvar::new(),
            },
        };
        // Fail now, with the server's own message, rather than on the first request.
        store.with_client("connecting to PostgreSQL", |_| Ok(()))?;
        Ok(store)
    }

    /// The newest schema migration applied (0 for an empty database).
    pub fn schema_version(&self) -> Result<i64> {
        self.with_client("reading the schema version", migrations::current_version)
    }

    /// Runs `f` inside one transaction and commits if it returns `Ok`; on `Err` (or a
    /// panic) everything it wrote is rolled back. `what` names the operation in errors.
    pub(crate) fn write<T: Send>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T> + Send,
    ) -> Result<T> {
        self.with_client(what, |client| {
            let mut tx = client.transaction().map_err(db)?;
            let out = f(&mut tx)?;
            tx.commit().map_err(db)?;
            Ok(out)
        })
    }

    /// Runs read-only `f` on a pooled connection (no explicit transaction: each
    /// statement sees the database as of its start).
    pub(crate) fn read<T: Send>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Client) -> Result<T> + Send,
    ) -> Result<T> {
        self.with_client(what, f)
    }

    fn with_client<T: Send>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Client) -> Result<T> + Send,
    ) -> Result<T> {
        off_runtime(|| {
            let mut client = self.pool.take()?;
            let out = f(&mut client);
            self.pool.give_back(client);
            out
        })
        .map_err(|e| context(e, what))
    }
}

/// Creates database `name` on the server `admin_url` connects to and returns the URL of
/// the new database (same server and credentials). For tests and first-time set-up.
pub fn create_database(admin_url: &str, name: &str) -> Result<String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::Database(format!(
            "database name `{name}`: use letters, digits and underscores only"
        )));
    }
    let admin = PostgresStore::connect(admin_url, 1)?;
    admin.with_client(&format!("creating database {name}"), |client| {
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(db)
    })?;
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let Some((server, _)) = base
        .strip_prefix("postgres://")
        .or_else(|| base.strip_prefix("postgresql://"))
        .map(|rest| rest.split_once('/').unwrap_or((rest, "")))
    else {
        return Err(Error::Database(
            "the admin URL must be a postgres:// URL to derive the new database's".into(),
        ));
    };
    let mut url = format!("postgres://{server}/{name}");
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection, a new one if fewer than `max` are open, else the next one
    /// given back (up to [`POOL_WAIT`]).
    fn take(&self) -> Result<Client> {
        let mut state = self.lock();
        loop {
            if let Some(client) = state.idle.pop() {
                if client.is_closed() {
                    state.open = state.open.saturating_sub(1);
                    continue;
                }
                return Ok(client);
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return self.config.connect(NoTls).map_err(|e| {
                    self.lock().open -= 1;
                    self.freed.notify_one();
                    Error::Busy(format!("cannot connect to PostgreSQL: {e}"))
                });
            }
            let (next, timeout) = self
                .freed
                .wait_timeout(state, POOL_WAIT)
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            if timeout.timed_out() && state.idle.is_empty() && state.open >= self.max {
                return Err(Error::Busy(format!(
                    "all {} PostgreSQL connections stayed busy for {} s",
                    self.max,
                    POOL_WAIT.as_secs()
                )));
            }
        }
    }

    fn give_back(&self, client: Client) {
        let mut state = self.lock();
        if client.is_closed() {
            state.open = state.open.saturating_sub(1);
        } else {
            state.idle.push(client);
        }
        drop(state);
        self.freed.notify_one();
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Each client owns a runtime, which must not be dropped on a Tokio thread.
        let idle = std::mem::take(&mut self.pool.lock().idle);
        off_runtime(move || drop(idle));
    }
}

/// Takes the index change log's transaction-scoped advisory lock, right before appending
/// to it: appends then commit in `seq` order, so a reader that has seen `seq` n has seen
/// every change below it.
pub(crate) fn lock_index_feed(tx: &mut Transaction<'_>) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock(2, 0)", &[])
        .map_err(db)?;
    Ok(())
}

/// Maps a failed insert: a taken unique key becomes `Conflict(taken())`, a missing
/// parent row `NotFound(parent())`, anything else goes through [`db`].
pub(crate) fn insert_err(
    e: postgres::Error,
    taken: impl FnOnce() -> String,
    parent: impl FnOnce() -> String,
) -> Error {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => Error::Conflict(taken()),
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => Error::NotFound { what: parent() },
        _ => db(e),
    }
}

/// Maps a PostgreSQL error to the store's error kinds.
pub(crate) fn db(e: postgres::Error) -> Error {
    let message = match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    };
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => Error::Conflict(message),
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => Error::NotFound {
            what: format!("a row referenced by this write ({message})"),
        },
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::LOCK_NOT_AVAILABLE
                || *c == SqlState::TOO_MANY_CONNECTIONS
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW =>
        {
            Error::Busy(message)
        }
        Some(_) => Error::Database(message),
        None if e.is_closed() => Error::Busy(format!("the PostgreSQL connection closed: {e}")),
        // No SQLSTATE: a value that does not decode into its Rust type.
        None if message.contains("deserializing") => Error::Corrupt(message),
        None => Error::Database(message),
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

/// A count or size as PostgreSQL's `bigint` (saturating; real values are far below).
pub(crate) fn to_i64<T: TryInto<i64>>(n: T) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}
