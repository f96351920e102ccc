//! `cairn jobs list|retry`

use super::{Context, fail, st, time};
use crate::cmd::eng;
use cairn_store::JobFilter;
use cairn_types::{CollectionId, ErrorCode, JobId, JobState};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum JobsCmd {
    /// List jobs, newest first.
    List {
        /// queued | running | succeeded | dead
        #[arg(long)]
        state: Option<String>,
        #[arg(long, short)]
        collection: Option<String>,
        #[arg(long)]
        batch: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Re-queue dead jobs (by id, or all with --all-dead) and run them.
    Retry {
        ids: Vec<String>,
        #[arg(long)]
        all_dead: bool,
    },
}

pub fn run(ctx: &Context, c: JobsCmd) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    let store = engine.store();
    let t = &ctx.tenant;
    match c {
        JobsCmd::List {
            state,
            collection,
            batch,
            limit,
        } => {
            let state = match state {
                Some(s) => Some(JobState::parse(&s).ok_or_else(|| {
                    fail(
                        ErrorCode::InvalidInput,
                        format!("unknown state `{s}` (queued, running, succeeded, dead)"),
                    )
                })?),
                None => None,
            };
            let filter = JobFilter {
                state,
                batch,
                collection: collection.map(CollectionId::new),
                limit,
            };
            let jobs = store.list_jobs(t, &filter).map_err(st)?;
            if ctx.json {
                return ctx.print_json(&jobs).map(|()| ExitCode::SUCCESS);
            }
            outln!(
                "{:<36}  {:<9} {:>3}  {:<19}  {:<12} TARGET / ERROR",
                "ID",
                "STATE",
                "TRY",
                "UPDATED (UTC)",
                "COLLECTION"
            );
            for j in &jobs {
                let target = j.kind.target();
                outln!(
                    "{:<36}  {:<9} {:>3}  {:<19}  {:<12} {}",
                    j.id,
                    j.state.as_str(),
                    j.attempts,
                    time(j.updated_at),
                    j.collection,
                    target
                );
                if let Some(e) = &j.last_error {
                    let code = j.error_code.map_or("", |c| c.as_str());
                    outln!("{:>86}[{code}] {e}", "");
                }
            }
            outln!("{} job(s)", jobs.len());
        }
        JobsCmd::Retry { ids, all_dead } => {
            let ids: Vec<JobId> = if all_dead {
                let f = JobFilter {
                    state: Some(JobState::Dead),
                    limit: usize::MAX >> 1,
                    ..JobFilter::default()
                };
                store
                    .list_jobs(t, &f)
                    .map_err(st)?
                    .into_iter()
                    .map(|j| j.id)
                    .collect()
            } else {
                ids.into_iter().map(JobId::new).collect()
            };
            if ids.is_empty() {
                return Err(fail(
                    ErrorCode::InvalidInput,
                    "name job ids or pass --all-dead",
                ));
            }
            let report = engine
                .retry_jobs(t, &ids, &cairn_engine::ingest::NoProgress)
                .map_err(eng)?;
            if ctx.json {
                return ctx.print_json(&report).map(|()| ExitCode::SUCCESS);
            }
            outln!(
                "retried {} job(s): {} succeeded, {} failed again",
                ids.len(),
                report.added + report.updated + report.touched + report.skipped.len(),
                report.failed.len()
            );
            for f in &report.failed {
                outln!("  {}  {}", f.source, f.detail);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
