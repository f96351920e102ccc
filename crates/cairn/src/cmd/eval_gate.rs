//! `cairn eval gate FLOORS.json -c COLLECTION`: a regression gate for CI. It runs the
//! retrieval eval and the answer eval the floors file names and fails (exit 1) when a
//! metric falls below its recorded floor: MRR@10 or recall@5 per retrieval
//! configuration, citation recall, grounded share (faithfulness) or abstention per
//! answer group. Both runs are stored like any eval.
//!
//! ```json
//! {"retrieval": {"dataset": "docs-dev.jsonl",
//!                "floors": {"hybrid": {"mrr_10": 0.7, "recall_5": 0.85}}},
//!  "answers": {"datasets": ["docs-dev.jsonl", "docs-unanswerable.jsonl"],
//!              "floors": {"answerable": {"citation_recall_5": 0.6},
//!                         "unanswerable": {"abstention_rate": 0.75}}}}
//! ```
//! Dataset paths are relative to the floors file.

use super::Context;
use super::eval::{Runner, bad, progress, read_jsonl, setup};
use cairn_engine::eval::answers::summarize_answers;
use cairn_engine::eval::retrieval::{parse_dataset, summarize};
use cairn_engine::search::RerankKind;
use cairn_types::CollectionId;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The floors file (JSON).
    pub floors: PathBuf,
    /// Collection holding the corpus.
    #[arg(long, short)]
    pub collection: String,
    #[command(flatten)]
    pub keep: super::eval_runs::Keep,
}

type Floors = BTreeMap<String, BTreeMap<String, f64>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Gate {
    #[serde(default)]
    retrieval: Option<RetrievalGate>,
    #[serde(default)]
    answers: Option<AnswersGate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetrievalGate {
    dataset: PathBuf,
    /// Configuration → metric (`mrr_10`, `recall_5`, ...) → floor, over all questions.
    floors: Floors,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswersGate {
    datasets: Vec<PathBuf>,
    /// Group (a kind, `answerable` or `all`) → metric → floor.
    floors: Floors,
}

/// One floor checked.
#[derive(serde::Serialize)]
struct Check {
    eval: &'static str,
    group: String,
    metric: String,
    value: Option<f64>,
    floor: f64,
    pass: bool,
}

fn check(eval: &'static str, floors: &Floors, summary: &Value, key: &str) -> Vec<Check> {
    let rows = summary.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut out = Vec::new();
    for (group, metrics) in floors {
        let row = rows.iter().find(|r| {
            r[key].as_str() == Some(group.as_str())
                && (key == "kind" || r["kind"].as_str() == Some("all"))
        });
        for (metric, &floor) in metrics {
            let value = row.and_then(|r| r["metrics"][metric].as_f64().or(r[metric].as_f64()));
            out.push(Check {
                eval,
                group: group.clone(),
                metric: metric.clone(),
                value,
                floor,
                pass: value.is_some_and(|v| v + 1e-9 >= floor),
            });
        }
    }
    out
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&a.floors)
        .map_err(|e| bad(format!("{}: {e}", a.floors.display())))?;
    let gate: Gate =
        serde_json::from_str(&text).map_err(|e| bad(format!("{}: {e}", a.floors.display())))?;
    let base = a.floors.parent().unwrap_or(Path::new("."));
    let engine = ctx.engine()?;
    let collection = CollectionId::new(a.collection.clone());
    engine
        .sync_index(&ctx.tenant, &collection)
        .map_err(super::eng)?;
    let mut checks = Vec::new();
    let mut runs = Vec::new();
    if let Some(r) = &gate.retrieval {
        let path = base.join(&r.dataset);
        let mut questions = read_jsonl(&path, parse_dataset)?;
        questions.retain(|q| !q.pages.is_empty());
        let setups = r
            .floors
            .keys()
            .map(|c| setup(c, RerankKind::Maxsim))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let bar = progress(ctx, (setups.len() * questions.len()) as u64);
        let runner = Runner {
            engine: &engine,
            tenant: &ctx.tenant,
            collection: &collection,
            candidates: None,
        };
        let outcomes = runner.outcomes(&questions, &setups, &[""], &bar)?;
        bar.finish_and_clear();
        let summary = serde_json::to_value(summarize(&outcomes))?;
        checks.extend(check("retrieval", &r.floors, &summary, "config"));
        runs.push(super::eval_runs::store(
            ctx,
            &engine,
            &a.keep,
            super::eval_runs::Finished {
                kind: "retrieval",
                datasets: std::slice::from_ref(&path),
                summary,
                results: serde_json::to_value(&outcomes)?,
            },
        )?);
    }
    if let Some(g) = &gate.answers {
        let paths: Vec<PathBuf> = g.datasets.iter().map(|d| base.join(d)).collect();
        let mut questions = Vec::new();
        for p in &paths {
            questions.extend(read_jsonl(p, parse_dataset)?);
        }
        let outcomes =
            super::eval_answers::answer_all(ctx, &engine, &collection, &questions, false)?;
        let summary = serde_json::to_value(summarize_answers(&outcomes))?;
        checks.extend(check("answers", &g.floors, &summary, "kind"));
        runs.push(super::eval_runs::store(
            ctx,
            &engine,
            &a.keep,
            super::eval_runs::Finished {
                kind: "answers",
                datasets: &paths,
                summary,
                results: serde_json::to_value(&outcomes)?,
            },
        )?);
    }
    if checks.is_empty() {
        return Err(bad(format!(
            "{}: no floors (give `retrieval` and/or `answers`)",
            a.floors.display()
        )));
    }
    let failed = checks.iter().filter(|c| !c.pass).count();
    let runs: Vec<String> = runs.into_iter().flatten().collect();
    if ctx.json {
        ctx.print_json(&serde_json::json!({
            "pass": failed == 0, "checks": checks, "runs": runs,
        }))?;
    } else {
        outln!(
            "{:<9} {:<14} {:<18} {:>7} {:>7}  result",
            "eval",
            "group",
            "metric",
            "value",
            "floor"
        );
        for c in &checks {
            outln!(
                "{:<9} {:<14} {:<18} {:>7} {:>7.3}  {}",
                c.eval,
                c.group,
                c.metric,
                c.value
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.3}")),
                c.floor,
                if c.pass { "ok" } else { "BELOW FLOOR" }
            );
        }
        for id in &runs {
            outln!("stored as eval run {id}");
        }
    }
    if failed > 0 {
        eprintln!(
            "error: [regression] {failed} of {} metrics fell below their floor in {}; \
             compare the stored runs with an earlier one (cairn eval compare) and, if the \
             change is intended, record the new floors",
            checks.len(),
            a.floors.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
