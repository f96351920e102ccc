//! `cairn ingest PATH --collection C`

use super::{Context, eng};
use crate::progress::{Bar, Mode};
use cairn_engine::{IngestOptions, IngestReport};
use cairn_types::{Acl, CollectionId};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// File or directory to ingest.
    path: PathBuf,
    /// Target collection (created with the default chunking if missing).
    #[arg(long, short)]
    collection: String,
    /// Remove documents whose files under PATH are gone.
    #[arg(long)]
    sync: bool,
    /// Re-process files even if size and mtime are unchanged.
    #[arg(long)]
    force: bool,
    /// Worker threads (default: ingest.workers).
    #[arg(long)]
    workers: Option<usize>,
    /// Enqueue the jobs and return without running them: `cairn worker` processes (on
    /// this or other hosts, sharing the files' paths) run them.
    #[arg(long)]
    no_wait: bool,
    /// User allowed to read these documents (repeatable). No --acl-* means everyone.
    #[arg(long = "acl-user")]
    acl_users: Vec<String>,
    /// Group allowed to read these documents (repeatable).
    #[arg(long = "acl-group")]
    acl_groups: Vec<String>,
    /// Metadata KEY=VALUE stored on every document (repeatable).
    #[arg(long = "meta", value_parser = parse_kv)]
    meta: Vec<(String, String)>,
    /// List every finding instead of the first few.
    #[arg(long, short)]
    verbose: bool,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected KEY=VALUE, got `{s}`"))
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    // Each job attempt is a trace, kept and exported as `[telemetry]` says.
    let telemetry = cairn_server::request_trace::telemetry(&ctx.loaded.config)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(t) = &telemetry {
        engine.set_trace_sink(t.sink());
    }
    let opts = IngestOptions {
        sync: a.sync,
        force: a.force,
        workers: a.workers,
        no_wait: a.no_wait,
        acl: Acl {
            users: a.acl_users,
            groups: a.acl_groups,
        },
        metadata: a.meta.into_iter().map(|(k, v)| (k, v.into())).collect(),
        owner: None,
        guard: None,
        content_hash: None,
        // A scan: the near-empty rule applies.
        deliberate: false,
    };
    let bar = Bar::new(Mode::for_output(ctx.json));
    let collection = CollectionId::new(a.collection);
    let report = engine
        .ingest_path(&ctx.tenant, &collection, &a.path, &opts, &bar)
        .map_err(eng);
    bar.finish();
    if let Some(t) = telemetry {
        t.stop();
    }
    let report = report?;
    if ctx.json {
        ctx.print_json(&report)?;
    } else {
        print_report(&a.path, &report, a.verbose);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(path: &std::path::Path, r: &IngestReport, verbose: bool) {
    let secs = r.elapsed_ms as f64 / 1000.0;
    outln!(
        "Ingested {} into `{}` in {secs:.1}s (batch {})",
        path.display(),
        r.collection,
        r.batch
    );
    outln!(
        "  files      {} seen, {} unchanged, {} queued{}{}{}",
        r.files_seen,
        r.unchanged,
        r.queued,
        if r.previously_failed > 0 {
            format!(
                ", {} unchanged since they failed (`cairn jobs retry --all-dead` re-runs them)",
                r.previously_failed
            )
        } else {
            String::new()
        },
        if r.resumed > 0 {
            format!(", {} resumed from an interrupted run", r.resumed)
        } else {
            String::new()
        },
        if r.reclaimed > 0 {
            format!(", {} reclaimed from dead workers", r.reclaimed)
        } else {
            String::new()
        },
    );
    outln!(
        "  documents  {} added, {} updated, {} unchanged content, {} skipped, {} failed, {} removed",
        r.added,
        r.updated,
        r.touched,
        r.skipped.len(),
        r.failed.len(),
        r.removed.len()
    );
    outln!(
        "  chunks     {} written · {:.1} docs/s · {:.2} MB/s",
        r.chunks_written,
        r.docs_per_second(),
        if secs > 0.0 {
            r.bytes_processed as f64 / 1e6 / secs
        } else {
            0.0
        }
    );
    outln!(
        "  quality    {} near-empty, {} mostly links, {} exact duplicates, {} near-duplicates",
        r.near_empty.len(),
        r.mostly_links.len(),
        r.duplicates.len(),
        r.near_duplicates.len()
    );
    let limit = if verbose { usize::MAX } else { 5 };
    // Paths under the ingested directory are shown relative to it.
    let prefix = path
        .canonicalize()
        .ok()
        .filter(|p| p.is_dir())
        .map(|p| format!("{}/", p.display()));
    let rel = |s: &str| match &prefix {
        Some(p) => s.replace(p.as_str(), ""),
        None => s.to_owned(),
    };
    let section = |title: &str, items: Vec<String>| {
        if items.is_empty() {
            return;
        }
        outln!("  {title}:");
        for i in items.iter().take(limit) {
            outln!("    {}", rel(i));
        }
        if items.len() > limit {
            outln!(
                "    … and {} more (--verbose lists all)",
                items.len() - limit
            );
        }
    };
    section(
        "failed",
        r.failed
            .iter()
            .map(|f| format!("{}  {}", f.source, f.detail))
            .collect(),
    );
    section(
        "skipped",
        r.skipped
            .iter()
            .map(|f| format!("{}  ({})", f.source, f.detail))
            .collect(),
    );
    section("near-empty", r.near_empty.clone());
    section("mostly links", r.mostly_links.clone());
    section(
        "exact duplicates",
        r.duplicates
            .iter()
            .map(|f| format!("{}  = {}", f.source, f.detail))
            .collect(),
    );
    section(
        "near-duplicates",
        r.near_duplicates
            .iter()
            .map(|f| format!("{}  ≈ {}", f.source, f.detail))
            .collect(),
    );
    section("removed", r.removed.clone());
    section(
        "unreadable",
        r.scan_problems
            .iter()
            .map(|f| format!("{}  {}", f.source, f.detail))
            .collect(),
    );
}
