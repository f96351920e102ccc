//! `cairn migrate --from-sqlite FILE`: moves an embedded installation's state store into
//! the configured PostgreSQL database (`store.backend = "postgres"`).
//!
//! Steps: bring FILE to this binary's SQLite schema (opening it as a store migrates it,
//! as any Cairn command would); apply the PostgreSQL migrations the database lacks; copy
//! every table in one transaction with the counts verified before it commits
//! ([`PostgresStore::import_sqlite`]: an empty database is required, a failure leaves it
//! empty); then recompute the whole audit chain on PostgreSQL. Per-table progress goes
//! to stderr, the per-table counts and a summary to stdout (`--json`: one object).

use super::{Context, fail, st};
use crate::progress::Mode;
use cairn_config::StoreBackend;
use cairn_engine::security::verify_audit_chain;
use cairn_store::{ImportProgress, PostgresStore, SCHEMA_VERSION, SqliteStore};
use cairn_types::ErrorCode;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Seconds between two progress lines for one big table when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub fn run(ctx: &Context, file: &Path) -> anyhow::Result<ExitCode> {
    let config = &ctx.loaded.config;
    if config.store_backend != StoreBackend::Postgres {
        return Err(fail(
            ErrorCode::InvalidConfig,
            "`cairn migrate --from-sqlite` copies into PostgreSQL: set store.backend = \
             \"postgres\" and store.url to the new database (or CAIRN_STORE__BACKEND=postgres \
             CAIRN_STORE__URL=postgres://…)",
        ));
    }
    let mode = Mode::for_output(ctx.json);
    let note = |msg: &str| {
        if mode != Mode::Quiet {
            eprintln!("[migrate] {msg}");
        }
    };

    let version = SqliteStore::schema_version_at(file).map_err(st)?;
    if version < SCHEMA_VERSION {
        drop(SqliteStore::open(file).map_err(st)?);
        note(&format!(
            "migrated {} from SQLite schema version {version} to {SCHEMA_VERSION}",
            file.display()
        ));
    }
    let url = &config.store_url;
    let applied = PostgresStore::migrate(url).map_err(st)?;
    for v in &applied {
        note(&format!("applied PostgreSQL migration {v}"));
    }
    let store = PostgresStore::open(url).map_err(st)?;

    let shown = Progress::new(mode);
    let imported = store.import_sqlite(file, &mut |event| shown.event(event));
    shown.finish();
    let report = imported.map_err(st)?;
    note("copied and verified the row counts; verifying the audit chain");

    let chain = verify_audit_chain(&store).map_err(super::eng)?;
    if let Some(broken) = &chain.broken {
        let source = SqliteStore::open(file)
            .map_err(cairn_engine::Error::from)
            .and_then(|s| verify_audit_chain(&s));
        let before = match source {
            Ok(r) if r.broken.as_ref().is_some_and(|b| b.seq == broken.seq) => {
                "the SQLite store's chain is broken at the same entry: the break predates \
                 the move, which copied it faithfully"
                    .to_owned()
            }
            Ok(r) => format!(
                "the SQLite store's chain verifies differently ({}): the copy is not \
                 faithful; do not use this database",
                r.broken
                    .map_or_else(|| "intact".to_owned(), |b| format!("broken at {}", b.seq))
            ),
            Err(e) => format!("the SQLite store's chain could not be read: {}", e.message),
        };
        return Err(fail(
            ErrorCode::StoreError,
            format!(
                "the rows were moved, but the audit chain on PostgreSQL is broken at entry \
                 {}: {}; {before}",
                broken.seq, broken.reason
            ),
        ));
    }

    if ctx.json {
        let tables: serde_json::Map<String, serde_json::Value> = report
            .tables
            .iter()
            .map(|t| (t.table.clone(), t.rows.into()))
            .collect();
        ctx.print_json(&serde_json::json!({
            "source": file.display().to_string(),
            "migrations_applied": applied,
            "tables": tables,
            "rows": report.total_rows(),
            "index_seq": report.index_seq,
            "hashed_dedup_keys": report.hashed_dedup_keys,
            "audit": chain,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let width = report
        .tables
        .iter()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(5);
    for t in &report.tables {
        outln!("{:<width$}  {:>10}", t.table, t.rows);
    }
    outln!(
        "audit chain intact: {} entries, head {} {}",
        chain.checked,
        chain.head_seq,
        chain.head_hash
    );
    outln!(
        "moved {} rows in {} tables from {} to PostgreSQL, counts verified; the index \
         change log continues after {}",
        report.total_rows(),
        report.tables.len(),
        file.display(),
        report.index_seq
    );
    Ok(ExitCode::SUCCESS)
}

/// Per-table progress on stderr: a bar on a terminal, else a line per table and one
/// every few seconds while a big table copies; nothing with `--json`.
struct Progress {
    mode: Mode,
    bar: ProgressBar,
    last_line: std::sync::Mutex<Instant>,
}

impl Progress {
    fn new(mode: Mode) -> Self {
        let bar = if mode == Mode::Bar {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template(
            "{spinner} {msg:<16} {bar:30.cyan/blue} {pos}/{len} rows · ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("=> "));
        Self {
            mode,
            bar,
            last_line: std::sync::Mutex::new(Instant::now()),
        }
    }

    fn event(&self, event: ImportProgress<'_>) {
        match (self.mode, event) {
            (Mode::Quiet, _) => {}
            (Mode::Bar, ImportProgress::Table { table, rows }) => {
                self.bar.set_length(rows);
                self.bar.set_position(0);
                self.bar.set_message(table.to_owned());
            }
            (Mode::Bar, ImportProgress::Rows { copied, .. }) => self.bar.set_position(copied),
            (Mode::Bar, ImportProgress::Verifying) => {
                self.bar.finish_and_clear();
                eprintln!("[migrate] verifying the row counts");
            }
            (Mode::Lines, ImportProgress::Table { table, rows }) => {
                eprintln!("[migrate] {table}: {rows} rows");
                *self.last() = Instant::now();
            }
            (
                Mode::Lines,
                ImportProgress::Rows {
                    table,
                    copied,
                    rows,
                },
            ) => {
                let mut last = self.last();
                if last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    eprintln!("[migrate] {table}: {copied}/{rows} rows");
                }
            }
            (Mode::Lines, ImportProgress::Verifying) => {
                eprintln!("[migrate] verifying the row counts");
            }
        }
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Instant> {
        self.last_line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
