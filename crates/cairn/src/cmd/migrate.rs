//! `cairn migrate [--check]`: brings the configured state store to this binary's schema.
//! On PostgreSQL (`store.backend = "postgres"`) this is the only way the schema changes:
//! servers and workers refuse to start on an unmigrated database, so a deployment runs
//! `cairn migrate` once before rolling out a release. Concurrent runs are safe (one
//! advisory lock). SQLite files are migrated whenever they are opened; for them the
//! command opens the file and reports its version.
//!
//! `cairn migrate --from-sqlite FILE` moves an embedded installation's store into the
//! configured PostgreSQL database: [`super::migrate_sqlite`].

use super::{Context, st};
use cairn_config::StoreBackend;
use cairn_store::{POSTGRES_SCHEMA_VERSION, PostgresStore, SCHEMA_VERSION, SqliteStore};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Only report whether migrations are pending (exit 1 if so); PostgreSQL is left
    /// unchanged (an SQLite file migrates whenever anything opens it).
    #[arg(long)]
    check: bool,
    /// Copy the embedded installation's SQLite store FILE (its data/cairn.db) into the
    /// configured PostgreSQL database, which must hold no Cairn data yet: migrates the
    /// database first, verifies every table's row count and the audit chain.
    #[arg(long, value_name = "FILE", conflicts_with = "check")]
    from_sqlite: Option<PathBuf>,
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    if let Some(file) = &a.from_sqlite {
        return super::migrate_sqlite::run(ctx, file);
    }
    let config = &ctx.loaded.config;
    let (backend, before, applied, needed) = match config.store_backend {
        StoreBackend::Postgres => {
            let url = &config.store_url;
            let before = PostgresStore::schema_version_at(url).map_err(st)?;
            let applied = if a.check || before >= POSTGRES_SCHEMA_VERSION {
                Vec::new()
            } else {
                PostgresStore::migrate(url).map_err(st)?
            };
            ("postgres", before, applied, POSTGRES_SCHEMA_VERSION)
        }
        StoreBackend::Sqlite => {
            if a.check && !config.store_path.exists() {
                ("sqlite", 0, Vec::new(), SCHEMA_VERSION)
            } else {
                let store = SqliteStore::open(&config.store_path).map_err(st)?;
                let version = store.schema_version().map_err(st)?;
                ("sqlite", version, Vec::new(), SCHEMA_VERSION)
            }
        }
    };
    let now = before.max(applied.last().copied().unwrap_or(0));
    let pending = now < needed;
    if ctx.json {
        ctx.print_json(&serde_json::json!({
            "backend": backend,
            "version_before": before,
            "applied": applied,
            "version": now,
            "required": needed,
            "pending": pending,
        }))?;
    } else {
        for v in &applied {
            outln!("applied migration {v}");
        }
        let state = if pending {
            "migrations pending: run `cairn migrate`"
        } else if now > needed {
            "newer than this binary: upgrade Cairn"
        } else {
            "up to date"
        };
        outln!("{backend} store at schema version {now} (this binary needs {needed}): {state}");
    }
    Ok(if pending || now > needed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
