//! Stored eval runs: every `cairn eval retrieval|answers|grounding` is kept in the
//! store (unless `--no-store`), and `cairn eval list`, `show RUN` and `compare A B`
//! read them back; `--html FILE` writes the run's or the comparison's offline report.

use super::Context;
use super::eval::bad;
use cairn_engine::eval::report::{compare_html, run_html};
use cairn_engine::eval::runs::{Comparison, compare, dataset_hash};
use cairn_store::EvalRun;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How an eval run is kept.
#[derive(clap::Args, Clone, Debug)]
pub struct Keep {
    /// A name for the run (shown by `cairn eval list`).
    #[arg(long, default_value = "")]
    pub label: String,
    /// Do not store the run.
    #[arg(long)]
    pub no_store: bool,
}

/// What a finished eval hands over to be stored.
pub struct Finished<'a> {
    pub kind: &'a str,
    pub datasets: &'a [PathBuf],
    pub summary: Value,
    pub results: Value,
}

/// Stores a finished eval (unless `--no-store`); returns its id.
pub fn store(
    ctx: &Context,
    engine: &cairn_engine::Engine,
    keep: &Keep,
    done: Finished<'_>,
) -> anyhow::Result<Option<String>> {
    if keep.no_store {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    for path in done.datasets {
        bytes.extend(std::fs::read(path).map_err(|e| bad(format!("{}: {e}", path.display())))?);
    }
    // A run may be the first thing a tenant stores (a grounding eval reads no corpus).
    engine.ensure_tenant(&ctx.tenant).map_err(super::eng)?;
    let run = EvalRun {
        tenant: ctx.tenant.clone(),
        id: uuid::Uuid::now_v7().to_string(),
        kind: done.kind.to_owned(),
        label: keep.label.clone(),
        dataset: done
            .datasets
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        dataset_hash: dataset_hash(&bytes),
        config: engine.eval_snapshot(&ctx.tenant),
        summary: done.summary,
        results: done.results,
        created_at: cairn_types::now_ms(),
    };
    engine
        .store()
        .put_eval_run(&run)
        .map_err(|e| super::eng(e.into()))?;
    Ok(Some(run.id))
}

/// Tells where a stored run went (after the table; `--json` carries it as `run`).
pub fn announce(ctx: &Context, id: Option<&str>) {
    if let (Some(id), false) = (id, ctx.json) {
        outln!("stored as eval run {id} (cairn eval show {id})");
    }
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// The run's id.
    pub run: String,
    /// Also write the run's HTML report here.
    #[arg(long)]
    pub html: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The baseline run.
    pub a: String,
    /// The run compared with it.
    pub b: String,
    /// Also write the comparison's HTML report here.
    #[arg(long)]
    pub html: Option<PathBuf>,
}

pub fn list(ctx: &Context, a: &ListArgs) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    let runs = engine
        .store()
        .list_eval_runs(&ctx.tenant, a.limit.clamp(1, 1_000))
        .map_err(|e| super::eng(e.into()))?;
    if ctx.json {
        ctx.print_json(&serde_json::json!({ "data": runs }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        outln!("no eval runs yet (cairn eval retrieval|answers|grounding stores one)");
    }
    for r in &runs {
        outln!(
            "{}  {:<9} {:<20} {}",
            r.id,
            r.kind,
            if r.label.is_empty() { "-" } else { &r.label },
            r.dataset
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn load(ctx: &Context, id: &str) -> anyhow::Result<EvalRun> {
    ctx.engine()?
        .store()
        .get_eval_run(&ctx.tenant, id)
        .map_err(|e| super::eng(e.into()))
}

fn write_html(path: &Path, html: &str) -> anyhow::Result<()> {
    std::fs::write(path, html).map_err(|e| bad(format!("{}: {e}", path.display())))
}

pub fn show(ctx: &Context, a: &ShowArgs) -> anyhow::Result<ExitCode> {
    let run = load(ctx, &a.run)?;
    if let Some(path) = &a.html {
        write_html(path, &run_html(&run))?;
    }
    if ctx.json {
        ctx.print_json(&serde_json::to_value(&run)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("run      {}", run.id);
    outln!("kind     {}", run.kind);
    outln!("label    {}", run.label);
    outln!("dataset  {} (sha-256 {})", run.dataset, run.dataset_hash);
    outln!("config   {}", run.config);
    outln!("summary  {}", serde_json::to_string_pretty(&run.summary)?);
    if let Some(path) = &a.html {
        outln!("report   {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn compare_runs(ctx: &Context, a: &CompareArgs) -> anyhow::Result<ExitCode> {
    let (ra, rb) = (load(ctx, &a.a)?, load(ctx, &a.b)?);
    if ra.kind != rb.kind {
        return Err(bad(format!(
            "run {} is a {} eval and run {} a {} eval: compare runs of one kind",
            ra.id, ra.kind, rb.id, rb.kind
        )));
    }
    let c = compare(&ra, &rb);
    if let Some(path) = &a.html {
        write_html(path, &compare_html(&ra, &rb, &c))?;
    }
    if ctx.json {
        ctx.print_json(&serde_json::to_value(&c)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_comparison(&c);
    if let Some(path) = &a.html {
        outln!("report {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_comparison(c: &Comparison) {
    if !c.same_dataset {
        outln!("note: the runs used different datasets; questions are paired by id");
    }
    outln!(
        "{:<18} {:<18} {:>4} {:>8} {:>8} {:>8}  {:<19} verdict",
        "config",
        "metric",
        "n",
        "A",
        "B",
        "delta",
        "95% interval"
    );
    for d in &c.deltas {
        let verdict = match d.better {
            Some(true) => "better",
            Some(false) => "worse",
            None => "-",
        };
        outln!(
            "{:<18} {:<18} {:>4} {:>8.3} {:>8.3} {:>+8.3}  [{:>+7.3}, {:>+7.3}] {verdict}",
            d.config,
            d.metric,
            d.n,
            d.a,
            d.b,
            d.delta,
            d.ci_low,
            d.ci_high
        );
    }
    if !c.unmatched_configs.is_empty() {
        outln!(
            "configurations in one run only: {}",
            c.unmatched_configs.join(", ")
        );
    }
    outln!("{} questions flipped", c.flips.len());
    for f in &c.flips {
        outln!(
            "  {:<18} {:<8} {:<12} {} {:.3} -> {:.3}",
            f.config,
            f.id,
            f.kind,
            f.metric,
            f.a,
            f.b
        );
    }
}
