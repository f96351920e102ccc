//! `cairn backup --to FILE`: an online copy of the SQLite state store
//! (`SqliteStore::backup_to`, `VACUUM INTO`) taken while servers keep running. The
//! PostgreSQL store is backed up with `pg_dump` instead (docs/deploy.md, "Backup and
//! restore"). The master key and the configuration are files the operator copies; index
//! directories and traces are not needed (indexes are rebuilt from the store).

use super::{Context, fail, st};
use cairn_config::StoreBackend;
use cairn_store::SqliteStore;
use cairn_types::ErrorCode;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The backup file to create (it must not exist).
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    let config = &ctx.loaded.config;
    if config.store_backend == StoreBackend::Postgres {
        return Err(fail(
            ErrorCode::InvalidInput,
            "the PostgreSQL store is backed up with `pg_dump --format=custom` \
             (docs/deploy.md, \"Backup and restore\"); `cairn backup` copies the SQLite store",
        ));
    }
    if !config.store_path.exists() {
        return Err(fail(
            ErrorCode::NotFound,
            format!(
                "no store at {}: nothing to back up",
                config.store_path.display()
            ),
        ));
    }
    let store = SqliteStore::open(&config.store_path).map_err(st)?;
    store.backup_to(&a.to).map_err(st)?;
    let bytes = std::fs::metadata(&a.to).map(|m| m.len()).unwrap_or(0);
    let key = cairn_engine::security::master_key_path(config);
    if ctx.json {
        ctx.print_json(&serde_json::json!({
            "store": config.store_path,
            "backup": a.to,
            "bytes": bytes,
            "master_key_file": key.exists().then_some(&key),
        }))?;
    } else {
        outln!(
            "backed up {} to {} ({bytes} bytes)",
            config.store_path.display(),
            a.to.display()
        );
        if cairn_engine::security::master_key_from_env() {
            outln!("keep a copy of CAIRN_MASTER_KEY too: without it no secret opens");
        } else if key.exists() {
            outln!(
                "keep a copy of the master key {} too: without it no secret opens",
                key.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
