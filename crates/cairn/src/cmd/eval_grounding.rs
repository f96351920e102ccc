//! `cairn eval grounding CASES.jsonl [--method support,llm]`: scores each case's right
//! and hallucinated answer against its passage and prints detection accuracy, TPR and
//! FPR at the configured threshold, the best threshold on the set, ROC AUC and the cost
//! per check.

use super::Context;
use super::eval::{bad, progress, read_jsonl};
use cairn_engine::eval::grounding::{
    GroundingMethod, ScoredPair, auc, best_threshold, detection, parse_cases,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// The cases (JSON lines, as `eval/halueval/build.py` writes `answers.jsonl`).
    pub cases: PathBuf,
    /// Scorers: `support` (what the answer pipeline runs) and/or `llm` (generator
    /// entailment).
    #[arg(long, value_delimiter = ',', default_value = "support")]
    pub method: Vec<String>,
    /// Only the first N cases.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Decision threshold for `llm` (P(yes)); `support` uses answer.support_threshold.
    #[arg(long, default_value_t = 0.5)]
    pub llm_threshold: f32,
    #[command(flatten)]
    pub keep: super::eval_runs::Keep,
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    let mut cases = read_jsonl(&a.cases, parse_cases)?;
    if let Some(n) = a.limit {
        cases.truncate(n);
    }
    if cases.is_empty() {
        return Err(bad("no cases"));
    }
    let methods: Vec<GroundingMethod> = a
        .method
        .iter()
        .map(|m| {
            GroundingMethod::parse(m)
                .ok_or_else(|| bad(format!("unknown method `{m}`: support or llm")))
        })
        .collect::<anyhow::Result<_>>()?;
    let engine = ctx.engine()?;
    let mut rows = Vec::new();
    let mut per_case = Vec::new();
    for method in methods {
        match method {
            GroundingMethod::Support => engine.embedder().map(drop),
            GroundingMethod::Llm => engine.preload(cairn_engine::ModelRole::Judge),
        }
        .map_err(super::eng)?;
        let bar = progress(ctx, cases.len() as u64);
        bar.set_message(method.as_str());
        let start = Instant::now();
        let mut pairs: Vec<ScoredPair> = Vec::with_capacity(cases.len());
        for c in &cases {
            pairs.push(
                engine
                    .score_grounding(&ctx.tenant, c, method)
                    .map_err(super::eng)?,
            );
            bar.inc(1);
        }
        bar.finish_and_clear();
        let ms_per_check = start.elapsed().as_secs_f64() * 1e3 / (2 * cases.len()) as f64;
        let threshold = match method {
            GroundingMethod::Support => ctx.loaded.config.answer.support_threshold,
            GroundingMethod::Llm => a.llm_threshold,
        };
        for (c, p) in cases.iter().zip(&pairs) {
            // Each answer judged at the threshold: the right one kept, the other flagged.
            let correct = (f64::from(u8::from(p.right >= threshold))
                + f64::from(u8::from(p.hallucinated < threshold)))
                / 2.0;
            per_case.push(serde_json::json!({
                "method": method.as_str(), "id": c.id, "kind": "all",
                "right": p.right, "hallucinated": p.hallucinated, "correct": correct,
            }));
        }
        rows.push(serde_json::json!({
            "method": method.as_str(),
            "cases": cases.len(),
            "at_threshold": detection(&pairs, threshold),
            "best": best_threshold(&pairs),
            "auc": auc(&pairs),
            "ms_per_check": ms_per_check,
        }));
    }
    let run = super::eval_runs::store(
        ctx,
        &engine,
        &a.keep,
        super::eval_runs::Finished {
            kind: "grounding",
            datasets: std::slice::from_ref(&a.cases),
            summary: serde_json::Value::Array(rows.clone()),
            results: serde_json::Value::Array(per_case),
        },
    )?;
    if ctx.json {
        ctx.print_json(&serde_json::json!({"cases": a.cases, "results": rows, "run": run}))?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<8} {:>5} {:>9} {:>8} {:>6} {:>6} {:>9} {:>8} {:>6} {:>10}",
        "method",
        "cases",
        "threshold",
        "accuracy",
        "TPR",
        "FPR",
        "best thr",
        "best acc",
        "AUC",
        "ms/check"
    );
    for r in &rows {
        let f = |k: &str, f: &str| r[k][f].as_f64().unwrap_or(f64::NAN);
        outln!(
            "{:<8} {:>5} {:>9.3} {:>8.3} {:>6.3} {:>6.3} {:>9.3} {:>8.3} {:>6.3} {:>10.1}",
            r["method"].as_str().unwrap_or_default(),
            r["cases"],
            f("at_threshold", "threshold"),
            f("at_threshold", "accuracy"),
            f("at_threshold", "tpr"),
            f("at_threshold", "fpr"),
            f("best", "threshold"),
            f("best", "accuracy"),
            r["auc"].as_f64().unwrap_or(f64::NAN),
            r["ms_per_check"].as_f64().unwrap_or(f64::NAN)
        );
    }
    super::eval_runs::announce(ctx, run.as_deref());
    Ok(ExitCode::SUCCESS)
}
