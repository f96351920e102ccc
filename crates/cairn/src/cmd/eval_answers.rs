//! `cairn eval answers DATASET... --collection C`: answers every question with the
//! grounded answer pipeline (nothing recorded) and prints citation recall@5, keyword
//! accuracy, abstention, grounded share and TTFT / total latency per question kind.

use super::Context;
use super::eval::{bad, keep_per_kind, progress, read_jsonl};
use cairn_engine::eval::answers::{AnswerOutcome, summarize_answers};
use cairn_engine::eval::retrieval::{Question, parse_dataset};
use cairn_types::CollectionId;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Dev sets (JSON lines); questions of kind `unanswerable` measure abstention.
    #[arg(required = true)]
    pub datasets: Vec<PathBuf>,
    /// Collection holding the corpus.
    #[arg(long, short)]
    pub collection: String,
    /// Only the first N questions of each kind.
    #[arg(long)]
    pub per_kind: Option<usize>,
    /// Also print every question's outcome.
    #[arg(long)]
    pub per_question: bool,
    /// Run only retrieval and the checks before generation (no model): measures how
    /// many questions the abstention gate stops, in seconds instead of minutes.
    #[arg(long)]
    pub gate_only: bool,
    #[command(flatten)]
    pub keep: super::eval_runs::Keep,
}

/// Answers every question (`gate_only`: retrieval and the checks before generation,
/// no model), each a trace with its scores, kept and exported as `[telemetry]` says.
pub fn answer_all(
    ctx: &Context,
    engine: &cairn_engine::Engine,
    collection: &CollectionId,
    questions: &[Question],
    gate_only: bool,
) -> anyhow::Result<Vec<AnswerOutcome>> {
    let telemetry = cairn_server::request_trace::telemetry(&ctx.loaded.config)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(t) = &telemetry {
        engine.set_trace_sink(t.sink());
    }
    let answered = (|| {
        // Both models loaded up front, so the first question's latency is not a load.
        engine.embedder().map_err(super::eng)?;
        if !gate_only {
            engine
                .preload(cairn_engine::ModelRole::Generator)
                .map_err(super::eng)?;
        }
        let bar = progress(ctx, questions.len() as u64);
        let mut outcomes = Vec::with_capacity(questions.len());
        for q in questions {
            bar.set_message(q.id.clone());
            outcomes.push(
                engine
                    .eval_answer(&ctx.tenant, collection, q, gate_only)
                    .map_err(super::eng)?,
            );
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(outcomes)
    })();
    // What was traced is written and exported whether or not every question answered.
    if let Some(t) = telemetry {
        t.stop();
    }
    answered
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.3}"))
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    let mut questions = Vec::new();
    for path in &a.datasets {
        questions.extend(read_jsonl(path, parse_dataset)?);
    }
    if let Some(n) = a.per_kind {
        keep_per_kind(&mut questions, n);
    }
    if questions.is_empty() {
        return Err(bad("the dev sets hold no questions"));
    }
    let engine = ctx.engine()?;
    let collection = CollectionId::new(a.collection.clone());
    engine
        .sync_index(&ctx.tenant, &collection)
        .map_err(super::eng)?;
    let outcomes = answer_all(ctx, &engine, &collection, &questions, a.gate_only)?;
    let summary = summarize_answers(&outcomes);
    let run = super::eval_runs::store(
        ctx,
        &engine,
        &a.keep,
        super::eval_runs::Finished {
            kind: "answers",
            datasets: &a.datasets,
            summary: serde_json::to_value(&summary)?,
            results: serde_json::to_value(&outcomes)?,
        },
    )?;
    if ctx.json {
        let mut v = serde_json::json!({
            "datasets": a.datasets, "collection": a.collection,
            "model": ctx.loaded.config.generator,
            "questions": questions.len(), "summary": summary, "run": run,
        });
        if a.per_question {
            v["outcomes"] = serde_json::to_value(&outcomes)?;
        }
        ctx.print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.per_question {
        for o in &outcomes {
            outln!(
                "{:<6} {:<13} {} {:<14} cit@5 {} kw {} conf {:.2} ttft {:>6.0} ms total {:>6.0} ms  {}{}",
                o.id,
                o.kind,
                if o.abstained { "ABSTAIN" } else { "answer " },
                o.abstain_reason.as_deref().unwrap_or(""),
                opt(o.citation_recall_5),
                opt(o.keyword_accuracy),
                o.confidence,
                o.first_token_ms,
                o.total_ms,
                o.cited.join(" "),
                if o.missing.is_empty() {
                    String::new()
                } else {
                    format!(" missing: {}", o.missing.join(", "))
                }
            );
        }
        outln!();
    }
    outln!(
        "{:<13} {:>4} {:>7} {:>7} {:>8} {:>8} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "kind",
        "n",
        "cit@5",
        "keyword",
        "abstain",
        "grounded",
        "conf",
        "ttft p50",
        "ttft p95",
        "total p50",
        "total p95"
    );
    for s in &summary {
        outln!(
            "{:<13} {:>4} {:>7} {:>7} {:>8.3} {:>8.3} {:>6.3} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
            s.kind,
            s.questions,
            opt(s.citation_recall_5),
            opt(s.keyword_accuracy),
            s.abstention_rate,
            s.grounded_share,
            s.confidence,
            s.first_token_p50_ms,
            s.first_token_p95_ms,
            s.total_p50_ms,
            s.total_p95_ms
        );
    }
    outln!("(latencies in ms; model {})", ctx.loaded.config.generator);
    super::eval_runs::announce(ctx, run.as_deref());
    Ok(ExitCode::SUCCESS)
}
