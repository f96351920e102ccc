//! Moving an embedded installation to PostgreSQL (`cairn migrate --from-sqlite FILE`):
//! every row of an SQLite store file is copied into an empty PostgreSQL database, in
//! one PostgreSQL transaction, and the copy is verified before it commits.
//!
//! - The source is opened read-only and read in one read transaction (one snapshot,
//!   whatever another process does meanwhile). It must be at this binary's SQLite schema
//!   version: an older file is refused here; the CLI brings it up to date first by
//!   opening it as a store, which migrates it as any Cairn command would.
//! - The target must be at this binary's PostgreSQL schema and hold no row in any
//!   table Cairn copies: an import never merges into a live database. The tables are
//!   locked against writers for the duration (`SHARE ROW EXCLUSIVE`), so nothing can
//!   slip in between that check and the commit.
//! - Tables go parents first ([`IMPORTED_TABLES`]), each through one binary `COPY … FROM
//!   STDIN` streamed row by row from the SQLite cursor (chunks with their embeddings
//!   never sit in memory all at once). Columns are matched by name; both schemas are
//!   the same tables with the types translated (`INTEGER` → `bigint`, `REAL` →
//!   `double precision`, `TEXT` → `text`, `BLOB` → `bytea`), and a table or column
//!   found on one side only, or typed differently, fails the import before anything is
//!   copied: a table added to one schema and not the other cannot be left behind.
//! - Values are read by their SQLite type and bound as the matching Rust type; a value
//!   that does not decode (text that is not UTF-8, a type the column does not take)
//!   fails the import naming table, row and column.
//! - What PostgreSQL stores differently is translated: a job's dedup key longer than the
//!   jobs port keeps inline becomes its digest ([`stored_dedup_key`]); `index_changes`
//!   keeps its sequence numbers (so index replicas built from the SQLite store stay in
//!   step) and its identity continues after the highest the SQLite store ever handed out.
//! - The audit chain is copied as it is (seq, hashes, head): nothing is re-sealed.
//! - Verification, still inside the transaction: every table's row count in PostgreSQL
//!   equals the SQLite one, and the audit head is the same. A mismatch or any failure
//!   rolls everything back, leaving the target as empty as it was.

use super::jobs::stored_dedup_key;
use super::{PostgresStore, db};
use crate::sqlite::{SCHEMA_VERSION as SQLITE_SCHEMA_VERSION, open_existing_read_only};
use crate::{Error, Result};
use postgres::Transaction;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

/// PostgreSQL's tables with no SQLite counterpart, not imported: the shared search state,
/// which the first search rebuilds from the imported documents and chunks.
pub const POSTGRES_ONLY_TABLES: &[&str] = &["search_spaces", "search_chunks"];

/// Every table an import copies, parents before the tables whose foreign keys name
/// them. Both schemas hold exactly these (plus each one's `schema_migrations`); the
/// import refuses to run otherwise.
pub const IMPORTED_TABLES: &[&str] = &[
    "tenants",
    "collections",
    "documents",
    "chunks",
    "document_texts",
    "staged_documents",
    "staged_chunks",
    "jobs",
    "uploads",
    "idempotency_keys",
    "index_changes",
    "index_replicas",
    "index_log_floor",
    "conversations",
    "messages",
    "answers",
    "feedback",
    "users",
    "api_keys",
    "audit_log",
    "audit_head",
    "usage",
    "usage_by_model",
    "usage_by_route",
    "tenant_settings",
    "secrets",
    "legal_holds",
    "web_sessions",
    "oidc_logins",
    "agents",
    "tool_sources",
    "eval_runs",
    "agent_runs",
    "agent_steps",
    "assistants",
    "assistant_collections",
];

/// Rows between two [`ImportProgress::Rows`] reports.
const PROGRESS_EVERY: u64 = 2_000;

/// How long the import waits for another session's locks on the target's tables.
const LOCK_WAIT: &str = "10s";

/// What an import reports while it runs.
#[derive(Clone, Copy, Debug)]
pub enum ImportProgress<'a> {
    /// A table's copy starts; `rows` is how many the SQLite store holds.
    Table { table: &'a str, rows: u64 },
    /// `copied` of the table's `rows` are written so far.
    Rows {
        table: &'a str,
        copied: u64,
        rows: u64,
    },
    /// Every table is copied; the counts are being compared.
    Verifying,
}

/// One table of a finished import: the rows it holds, the same on both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableCount {
    pub table: String,
    pub rows: u64,
}

/// What a committed import moved, verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Every copied table in copy order, with its row count.
    pub tables: Vec<TableCount>,
    /// The audit chain's head `(seq, hash)`, the same on both sides (`None`: no audit
    /// entry yet).
    pub audit_head: Option<(i64, String)>,
    /// The highest index change sequence number the SQLite store handed out; the
    /// PostgreSQL log continues after it.
    pub index_seq: i64,
    /// Jobs whose dedup key was long enough to be stored as its digest.
    pub hashed_dedup_keys: u64,
}

impl ImportReport {
    /// Rows copied over all tables.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// How a column's values travel: the SQLite storage class and the PostgreSQL type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Integer,
    Real,
    Text,
    Blob,
}

impl Kind {
    /// The kind of an SQLite column's declared type (tables are STRICT: one of four).
    fn of_sqlite(declared: &str) -> Option<Self> {
        match declared.to_ascii_uppercase().as_str() {
            "INTEGER" => Some(Self::Integer),
            "REAL" => Some(Self::Real),
            "TEXT" => Some(Self::Text),
            "BLOB" => Some(Self::Blob),
            _ => None,
        }
    }

    /// The kind of a PostgreSQL column's `information_schema` data type.
    fn of_postgres(data_type: &str) -> Option<Self> {
        match data_type {
            "bigint" => Some(Self::Integer),
            "double precision" => Some(Self::Real),
            "text" => Some(Self::Text),
            "bytea" => Some(Self::Blob),
            _ => None,
        }
    }

    fn pg_type(self) -> Type {
        match self {
            Self::Integer => Type::INT8,
            Self::Real => Type::FLOAT8,
            Self::Text => Type::TEXT,
            Self::Blob => Type::BYTEA,
        }
    }
}

/// One value on its way from SQLite to PostgreSQL.
enum Cell {
    Integer(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

impl Cell {
    /// Decodes an SQLite value for a column of `kind`; the error says what was found.
    fn decode(value: ValueRef<'_>, kind: Kind) -> std::result::Result<Self, String> {
        Ok(match (kind, value) {
            (Kind::Integer, ValueRef::Null) => Self::Integer(None),
            (Kind::Integer, ValueRef::Integer(i)) => Self::Integer(Some(i)),
            (Kind::Real, ValueRef::Null) => Self::Real(None),
            (Kind::Real, ValueRef::Real(f)) => Self::Real(Some(f)),
            #[allow(clippy::cast_precision_loss)] // what SQLite itself does with REAL
            (Kind::Real, ValueRef::Integer(i)) => Self::Real(Some(i as f64)),
            (Kind::Text, ValueRef::Null) => Self::Text(None),
            (Kind::Text, ValueRef::Text(bytes)) => match std::str::from_utf8(bytes) {
                Ok(s) => Self::Text(Some(s.to_owned())),
                Err(e) => return Err(format!("text that is not valid UTF-8 ({e})")),
            },
            (Kind::Blob, ValueRef::Null) => Self::Blob(None),
            (Kind::Blob, ValueRef::Blob(b)) => Self::Blob(Some(b.to_vec())),
            (kind, other) => {
                return Err(format!(
                    "a {:?} value where the column holds {kind:?}",
                    other.data_type()
                ));
            }
        })
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Integer(v) => v,
            Self::Real(v) => v,
            Self::Text(v) => v,
            Self::Blob(v) => v,
        }
    }
}

/// A table to copy: its columns (PostgreSQL's order) and how each travels.
struct TablePlan {
    name: &'static str,
    columns: Vec<(String, Kind)>,
}

impl TablePlan {
    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(name, _)| quoted(name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An identifier quoted for SQL (both dialects take double quotes).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn sqlite_err(e: rusqlite::Error) -> Error {
    crate::sqlite::db(e)
}

impl PostgresStore {
    /// Copies every row of the SQLite store file at `path` into this database, which
    /// must be empty of Cairn data, verifies the counts and the audit head, and commits;
    /// on any failure nothing is committed. See the module documentation for what is
    /// checked and translated. `progress` hears of each table and every few thousand
    /// rows.
    pub fn import_sqlite(
        &self,
        path: &Path,
        progress: &mut (dyn FnMut(ImportProgress<'_>) + Send),
    ) -> Result<ImportReport> {
        let source = open_existing_read_only(path)?;
        let version = crate::sqlite::store_version(&source, path)?;
        if version != SQLITE_SCHEMA_VERSION {
            let hint = if version < SQLITE_SCHEMA_VERSION {
                "open it with this version of Cairn first (`cairn migrate --from-sqlite` \
                 does), which migrates it"
            } else {
                "it was written by a newer Cairn: upgrade Cairn to move it"
            };
            return Err(Error::Database(format!(
                "{} is at SQLite schema version {version}, this binary reads version \
                 {SQLITE_SCHEMA_VERSION}: {hint}",
                path.display()
            )));
        }
        let shown = path.display().to_string();
        let report = self.write(&format!("importing {shown}"), move |tx| {
            // One snapshot of the source for every read below.
            let snapshot = source.unchecked_transaction().map_err(sqlite_err)?;
            let report = import(&snapshot, tx, progress)?;
            snapshot.finish().map_err(sqlite_err)?;
            Ok(report)
        })?;
        // Fresh statistics for the planner; autovacuum would get there too, later.
        if let Err(e) = self.write("analyzing the imported tables", |tx| {
            tx.batch_execute("ANALYZE").map_err(db)
        }) {
            tracing::warn!(error = %e, "could not analyze the imported tables");
        }
        Ok(report)
    }
}

fn import(
    src: &Connection,
    tx: &mut Transaction<'_>,
    progress: &mut (dyn FnMut(ImportProgress<'_>) + Send),
) -> Result<ImportReport> {
    let plans = plan(src, tx)?;
    lock_empty_target(tx)?;
    let mut tables = Vec::with_capacity(plans.len());
    let mut hashed_dedup_keys = 0;
    for plan in &plans {
        let rows = sqlite_count(src, plan.name)?;
        progress(ImportProgress::Table {
            table: plan.name,
            rows,
        });
        let copied = copy_table(src, tx, plan, rows, &mut hashed_dedup_keys, progress)?;
        tables.push(TableCount {
            table: plan.name.to_owned(),
            rows: copied,
        });
    }
    let index_seq = continue_index_seq(src, tx)?;
    progress(ImportProgress::Verifying);
    verify(src, tx, &tables)?;
    let audit_head = verify_audit_head(src, tx)?;
    Ok(ImportReport {
        tables,
        audit_head,
        index_seq,
        hashed_dedup_keys,
    })
}

/// The tables of each schema (without `schema_migrations`).
fn table_sets(src: &Connection, tx: &mut Transaction<'_>) -> Result<[BTreeSet<String>; 2]> {
    let mut st = src
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table'
               AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> 'schema_migrations'",
        )
        .map_err(sqlite_err)?;
    let sqlite = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(sqlite_err)?
        .collect::<rusqlite::Result<BTreeSet<_>>>()
        .map_err(sqlite_err)?;
    let postgres = tx
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
               AND table_name <> 'schema_migrations' AND table_name <> ALL($1)",
            &[&POSTGRES_ONLY_TABLES],
        )
        .map_err(db)?
        .iter()
        .map(|r| r.try_get::<_, String>(0).map_err(db))
        .collect::<Result<BTreeSet<_>>>()?;
    Ok([sqlite, postgres])
}

/// Checks that both schemas hold exactly [`IMPORTED_TABLES`]'s tables with the same columns
/// of matching types, and returns each table's columns in PostgreSQL's order.
fn plan(src: &Connection, tx: &mut Transaction<'_>) -> Result<Vec<TablePlan>> {
    let known: BTreeSet<String> = IMPORTED_TABLES.iter().map(|t| (*t).to_owned()).collect();
    let [sqlite, postgres] = table_sets(src, tx)?;
    for (side, found) in [
        ("SQLite store", &sqlite),
        ("PostgreSQL database", &postgres),
    ] {
        if let Some(extra) = found.difference(&known).next() {
            return Err(Error::Database(format!(
                "the {side} has a table `{extra}` this import does not know how to move: \
                 nothing was copied (a Cairn bug: the import's table list and the schemas \
                 disagree)"
            )));
        }
        if let Some(missing) = known.difference(found).next() {
            return Err(Error::Database(format!(
                "the {side} has no table `{missing}`: nothing was copied (is it a Cairn \
                 store at this binary's schema version?)"
            )));
        }
    }
    IMPORTED_TABLES
        .iter()
        .map(|&name| {
            let lite = sqlite_columns(src, name)?;
            let pg = postgres_columns(tx, name)?;
            let lite_names: BTreeSet<&str> = lite.iter().map(|(c, _)| c.as_str()).collect();
            let pg_names: BTreeSet<&str> = pg.iter().map(|(c, _)| c.as_str()).collect();
            if lite_names != pg_names {
                return Err(Error::Database(format!(
                    "table `{name}` has columns {lite_names:?} in SQLite but {pg_names:?} in \
                     PostgreSQL: nothing was copied"
                )));
            }
            for (column, kind) in &pg {
                let lite_kind = lite.iter().find(|(c, _)| c == column).map(|(_, k)| *k);
                if lite_kind != Some(*kind) {
                    return Err(Error::Database(format!(
                        "column `{name}.{column}` is {lite_kind:?} in SQLite but {kind:?} in \
                         PostgreSQL: nothing was copied"
                    )));
                }
            }
            Ok(TablePlan { name, columns: pg })
        })
        .collect()
}

fn sqlite_columns(src: &Connection, table: &str) -> Result<Vec<(String, Kind)>> {
    let mut st = src
        .prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
        .map_err(sqlite_err)?;
    let columns = st
        .query_map([table], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(sqlite_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sqlite_err)?;
    columns
        .into_iter()
        .map(|(name, declared)| {
            let kind = Kind::of_sqlite(&declared).ok_or_else(|| {
                Error::Database(format!(
                    "SQLite column `{table}.{name}` has type `{declared}`, which this import \
                     does not move"
                ))
            })?;
            Ok((name, kind))
        })
        .collect()
}

fn postgres_columns(tx: &mut Transaction<'_>, table: &str) -> Result<Vec<(String, Kind)>> {
    tx.query(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1
         ORDER BY ordinal_position",
        &[&table],
    )
    .map_err(db)?
    .iter()
    .map(|r| {
        let name: String = r.try_get(0).map_err(db)?;
        let data_type: String = r.try_get(1).map_err(db)?;
        let kind = Kind::of_postgres(&data_type).ok_or_else(|| {
            Error::Database(format!(
                "PostgreSQL column `{table}.{name}` has type `{data_type}`, which this \
                 import does not fill"
            ))
        })?;
        Ok((name, kind))
    })
    .collect()
}

/// Locks every table against other writers (readers go on) for the rest of the
/// transaction, then refuses a target holding any row.
fn lock_empty_target(tx: &mut Transaction<'_>) -> Result<()> {
    let all = IMPORTED_TABLES
        .iter()
        .map(|t| quoted(t))
        .collect::<Vec<_>>()
        .join(", ");
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        .map_err(db)?;
    tx.batch_execute(&format!("LOCK TABLE {all} IN SHARE ROW EXCLUSIVE MODE"))
        .map_err(|e| {
            if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
                Error::Busy(format!(
                    "another session kept the target's tables locked for {LOCK_WAIT}: stop \
                     the servers and workers using this database, then try again"
                ))
            } else {
                db(e)
            }
        })?;
    for table in IMPORTED_TABLES {
        let taken: bool = tx
            .query_one(
                &format!("SELECT EXISTS (SELECT 1 FROM {})", quoted(table)),
                &[],
            )
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        if taken {
            return Err(Error::Conflict(format!(
                "the PostgreSQL database already holds Cairn data (table `{table}` has \
                 rows): an import only fills an empty database and never merges into a \
                 live one; point store.url at a new database"
            )));
        }
    }
    Ok(())
}

fn sqlite_count(src: &Connection, table: &str) -> Result<u64> {
    let n: i64 = src
        .query_row(
            &format!("SELECT COUNT(*) FROM {}", quoted(table)),
            [],
            |r| r.get(0),
        )
        .map_err(sqlite_err)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Streams one table through a binary `COPY`; returns the rows written.
fn copy_table(
    src: &Connection,
    tx: &mut Transaction<'_>,
    plan: &TablePlan,
    rows: u64,
    hashed_dedup_keys: &mut u64,
    progress: &mut (dyn FnMut(ImportProgress<'_>) + Send),
) -> Result<u64> {
    let table = plan.name;
    let columns = plan.column_list();
    let mut select = src
        .prepare(&format!(
            "SELECT _rowid_, {columns} FROM {} ORDER BY _rowid_",
            quoted(table)
        ))
        .map_err(sqlite_err)?;
    let mut cursor = select.query([]).map_err(sqlite_err)?;
    let types: Vec<Type> = plan.columns.iter().map(|(_, k)| k.pg_type()).collect();
    let sink = tx
        .copy_in(&format!(
            "COPY {} ({columns}) FROM STDIN (FORMAT binary)",
            quoted(table)
        ))
        .map_err(db)?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let dedup_column = (table == "jobs")
        .then(|| plan.columns.iter().position(|(c, _)| c == "dedup_key"))
        .flatten();
    let mut cells = Vec::with_capacity(plan.columns.len());
    let mut copied = 0_u64;
    while let Some(row) = cursor.next().map_err(sqlite_err)? {
        let rowid: i64 = row.get(0).map_err(sqlite_err)?;
        cells.clear();
        for (i, (column, kind)) in plan.columns.iter().enumerate() {
            let value = row.get_ref(i + 1).map_err(sqlite_err)?;
            let cell = Cell::decode(value, *kind).map_err(|found| {
                Error::Corrupt(format!(
                    "SQLite table `{table}`, row {rowid}, column `{column}` holds {found}: \
                     nothing was copied"
                ))
            })?;
            cells.push(cell);
        }
        if let Some(i) = dedup_column
            && let Some(Cell::Text(Some(key))) = cells.get_mut(i)
            && let std::borrow::Cow::Owned(digest) = stored_dedup_key(key)
        {
            *key = digest;
            *hashed_dedup_keys += 1;
        }
        let values: Vec<&(dyn ToSql + Sync)> = cells.iter().map(Cell::as_sql).collect();
        writer.write(&values).map_err(|e| {
            Error::Database(format!(
                "copying row {rowid} of `{table}`: {}: nothing was copied",
                db(e)
            ))
        })?;
        copied += 1;
        if copied.is_multiple_of(PROGRESS_EVERY) {
            progress(ImportProgress::Rows {
                table,
                copied,
                rows,
            });
        }
    }
    let written = writer.finish().map_err(|e| {
        Error::Database(format!("copying `{table}`: {}: nothing was copied", db(e)))
    })?;
    if written != copied {
        return Err(Error::Database(format!(
            "PostgreSQL took {written} rows of `{table}` where {copied} were sent: nothing \
             was copied"
        )));
    }
    Ok(copied)
}

/// Moves the `index_changes` identity past the highest sequence number the SQLite store
/// ever handed out (its AUTOINCREMENT counter, which remembers deleted rows too), so a
/// new change is never numbered like an old one; returns that number.
fn continue_index_seq(src: &Connection, tx: &mut Transaction<'_>) -> Result<i64> {
    let handed_out: i64 = src
        .query_row(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence
                                  WHERE name = 'index_changes'), 0),
                        COALESCE((SELECT MAX(seq) FROM index_changes), 0))",
            [],
            |r| r.get(0),
        )
        .map_err(sqlite_err)?;
    if handed_out > 0 {
        tx.execute(
            "SELECT setval(pg_get_serial_sequence('index_changes', 'seq'), $1)",
            &[&handed_out],
        )
        .map_err(db)?;
    }
    Ok(handed_out)
}

/// Compares every table's row count on both sides (the SQLite side in the snapshot the
/// copy read).
fn verify(src: &Connection, tx: &mut Transaction<'_>, tables: &[TableCount]) -> Result<()> {
    for t in tables {
        let lite = sqlite_count(src, &t.table)?;
        let pg: i64 = tx
            .query_one(&format!("SELECT COUNT(*) FROM {}", quoted(&t.table)), &[])
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        let pg = u64::try_from(pg).unwrap_or(0);
        if lite != pg || t.rows != pg {
            return Err(Error::Database(format!(
                "verification failed: table `{}` has {lite} rows in SQLite, {} were copied \
                 and PostgreSQL counts {pg}: nothing was committed",
                t.table, t.rows
            )));
        }
    }
    Ok(())
}

/// The audit chain's head, checked to be the same on both sides.
fn verify_audit_head(src: &Connection, tx: &mut Transaction<'_>) -> Result<Option<(i64, String)>> {
    let lite = match src.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    }) {
        Ok(head) => Some(head),
        Err(rusqlite::Error::QueryReturnedNoRows) => None,
        Err(e) => return Err(sqlite_err(e)),
    };
    let pg = tx
        .query_opt("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
        .map_err(db)?
        .map(|r| -> Result<(i64, String)> {
            Ok((r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?))
        })
        .transpose()?;
    if lite != pg {
        return Err(Error::Database(format!(
            "verification failed: the audit head is {lite:?} in SQLite but {pg:?} in \
             PostgreSQL: nothing was committed"
        )));
    }
    Ok(pg)
}
