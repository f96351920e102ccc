//! `cairn eval retrieval DATASET --collection C`: recall@1/5/10, MRR@10 and nDCG@10 per
//! question kind for lexical, dense, hybrid and hybrid+rerank. `eval answers` and
//! `eval grounding` live in their own modules.

use super::Context;
use cairn_engine::eval::retrieval::{Outcome, Question, parse_dataset, score, summarize};
use cairn_engine::search::{RerankKind, SearchMode, SearchRequest, Transform};
use cairn_types::{CollectionId, ErrorCode};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum EvalCmd {
    /// Retrieval quality on a JSONL dev set ({id, kind, question, pages}).
    Retrieval(RetrievalArgs),
    /// Answer quality: citation recall@5, keyword accuracy, abstention, TTFT and total
    /// latency, on dev sets ({id, kind, question, pages, keywords}).
    Answers(super::eval_answers::Args),
    /// Hallucination detection on HaluEval-QA style cases ({_id, knowledge, question,
    /// right_answer, hallucinated_answer}).
    Grounding(super::eval_grounding::Args),
    /// A regression gate: runs the evals a floors file names and fails when a metric
    /// falls below its floor.
    Gate(super::eval_gate::Args),
    /// A synthetic dev set: questions the generator writes from sampled chunks, kept
    /// when they find their own page and are not near-duplicates.
    Synth(super::eval_synth::Args),
    /// Query and retrieval drift of a collection, week by week (PSI).
    Drift(super::eval_drift::Args),
    /// Stored eval runs, newest first.
    List(super::eval_runs::ListArgs),
    /// One stored run: what ran, its configuration and aggregates (`--html` writes
    /// its report).
    Show(super::eval_runs::ShowArgs),
    /// Two stored runs of one kind: per-metric changes with paired-bootstrap 95%
    /// intervals and the questions that flipped (`--html` writes the report).
    Compare(super::eval_runs::CompareArgs),
}

/// A progress bar on stderr when it is a terminal (hidden for `--json` and pipes).
pub fn progress(ctx: &Context, total: u64) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() && !ctx.json {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} · ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Keeps the first `n` questions of each kind.
pub fn keep_per_kind(questions: &mut Vec<Question>, n: usize) {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    questions.retain(|q| {
        let c = seen.entry(q.kind.clone()).or_default();
        *c += 1;
        *c <= n
    });
}

/// Reads a JSONL file with `parse`; errors name the file and line.
pub fn read_jsonl<T>(
    path: &std::path::Path,
    parse: fn(&str) -> Result<Vec<T>, String>,
) -> anyhow::Result<Vec<T>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    parse(&text).map_err(|e| bad(format!("{}: {e}", path.display())))
}

#[derive(clap::Args)]
pub struct RetrievalArgs {
    /// The dev set (JSON lines).
    pub dataset: PathBuf,
    /// Collection holding the corpus.
    #[arg(long, short)]
    pub collection: String,
    /// Configurations to run: lexical, dense, hybrid, hybrid+rerank, or
    /// `<mode>+<reranker>` (e.g. `hybrid+llm`); `+<transform>` adds a query transform.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "lexical,dense,hybrid,hybrid+rerank"
    )]
    pub configs: Vec<String>,
    /// The reranker `+rerank` means (default: retrieval.rerank, or maxsim if none).
    #[arg(long)]
    pub rerank: Option<String>,
    /// Only the first N questions.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only the first N questions of each kind (for slow configurations).
    #[arg(long)]
    pub per_kind: Option<usize>,
    /// Candidates per retriever (default: retrieval.candidates).
    #[arg(long)]
    pub candidates: Option<usize>,
    /// Also print every question's outcome.
    #[arg(long)]
    pub per_question: bool,
    /// Run each configuration a second time and report it as `CONFIG@repeat`: the
    /// latency of a repeated query (its embedding cached). The first pass always starts
    /// with an empty query cache.
    #[arg(long)]
    pub repeat: bool,
    #[command(flatten)]
    pub keep: super::eval_runs::Keep,
}

/// What a retrieval eval searches with.
pub struct Runner<'a> {
    pub engine: &'a cairn_engine::Engine,
    pub tenant: &'a cairn_types::TenantId,
    pub collection: &'a CollectionId,
    pub candidates: Option<usize>,
}

impl Runner<'_> {
    /// Every question under every setup (and pass: `""`, or `"@repeat"` for a second
    /// run with the query cache warm), top 10 each.
    pub fn outcomes(
        &self,
        questions: &[Question],
        setups: &[Setup],
        passes: &[&str],
        bar: &ProgressBar,
    ) -> anyhow::Result<Vec<Outcome>> {
        let mut outcomes = Vec::new();
        for (s, pass) in setups
            .iter()
            .flat_map(|s| passes.iter().map(move |p| (s, *p)))
        {
            let config = format!("{}{pass}", s.name);
            if pass.is_empty() {
                // First-time queries: nothing from an earlier configuration is cached.
                self.engine.clear_query_cache();
            }
            bar.set_message(config.clone());
            for q in questions {
                let mut req = SearchRequest::new(self.collection.clone(), q.question.clone());
                req.mode = Some(s.mode);
                req.rerank = Some(s.rerank);
                req.transforms = s.transforms.clone();
                req.top_k = Some(10);
                req.candidates = self.candidates;
                let resp = self.engine.search(self.tenant, &req).map_err(super::eng)?;
                let sources: Vec<String> = resp.hits.iter().map(|h| h.source.clone()).collect();
                outcomes.push(Outcome {
                    config: config.clone(),
                    id: q.id.clone(),
                    kind: q.kind.clone(),
                    metrics: score(&q.pages, &sources),
                    ms: resp.timings.total_ms - resp.timings.sync_ms,
                    top: sources
                        .iter()
                        .take(5)
                        .map(|s| cairn_engine::eval::retrieval::page_of(s).to_owned())
                        .collect(),
                });
                bar.inc(1);
            }
        }
        Ok(outcomes)
    }
}

pub fn bad(m: impl std::fmt::Display) -> anyhow::Error {
    super::fail(ErrorCode::InvalidInput, m)
}

/// One configuration of a retrieval eval (`hybrid+maxsim`, `dense+hyde`, ...).
pub struct Setup {
    name: String,
    mode: SearchMode,
    rerank: RerankKind,
    transforms: Vec<Transform>,
}

pub fn setup(name: &str, default_rerank: RerankKind) -> anyhow::Result<Setup> {
    let mut parts = name.split('+');
    let mode_s = parts.next().unwrap_or_default();
    let mode = SearchMode::parse(mode_s)
        .ok_or_else(|| bad(format!("config `{name}`: unknown mode `{mode_s}`")))?;
    let mut s = Setup {
        name: name.to_owned(),
        mode,
        rerank: RerankKind::None,
        transforms: Vec::new(),
    };
    for p in parts {
        if p == "rerank" {
            s.rerank = default_rerank;
        } else if let Some(r) = RerankKind::parse(p) {
            s.rerank = r;
        } else if let Some(t) = Transform::parse(p) {
            s.transforms.push(t);
        } else {
            return Err(bad(format!("config `{name}`: unknown part `{p}`")));
        }
    }
    if name.ends_with("+rerank") {
        s.name = format!("{}+{}", mode.as_str(), default_rerank.as_str());
    }
    Ok(s)
}

pub fn run(ctx: &Context, cmd: EvalCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        EvalCmd::Retrieval(a) => retrieval(ctx, a),
        EvalCmd::Answers(a) => super::eval_answers::run(ctx, a),
        EvalCmd::Grounding(a) => super::eval_grounding::run(ctx, a),
        EvalCmd::Gate(a) => super::eval_gate::run(ctx, a),
        EvalCmd::Synth(a) => super::eval_synth::run(ctx, a),
        EvalCmd::Drift(a) => super::eval_drift::run(ctx, a),
        EvalCmd::List(a) => super::eval_runs::list(ctx, &a),
        EvalCmd::Show(a) => super::eval_runs::show(ctx, &a),
        EvalCmd::Compare(a) => super::eval_runs::compare_runs(ctx, &a),
    }
}

fn retrieval(ctx: &Context, a: RetrievalArgs) -> anyhow::Result<ExitCode> {
    let mut questions = read_jsonl(&a.dataset, parse_dataset)?;
    questions.retain(|q| !q.pages.is_empty());
    if let Some(n) = a.per_kind {
        keep_per_kind(&mut questions, n);
    }
    if let Some(n) = a.limit {
        questions.truncate(n);
    }
    let configured =
        RerankKind::parse(&ctx.loaded.config.retrieval.rerank).unwrap_or(RerankKind::None);
    let default_rerank = match a.rerank.as_deref() {
        Some(r) => RerankKind::parse(r).ok_or_else(|| bad(format!("unknown reranker `{r}`")))?,
        None if configured != RerankKind::None => configured,
        None => RerankKind::Maxsim,
    };
    let setups: Vec<Setup> = a
        .configs
        .iter()
        .map(|c| setup(c, default_rerank))
        .collect::<anyhow::Result<_>>()?;
    let engine = ctx.engine()?;
    let collection = CollectionId::new(a.collection.clone());
    // Sync once up front so the first question's latency is not the index build.
    engine
        .sync_index(&ctx.tenant, &collection)
        .map_err(super::eng)?;

    let passes: &[&str] = if a.repeat { &["", "@repeat"] } else { &[""] };
    let bar = progress(ctx, (passes.len() * setups.len() * questions.len()) as u64);
    let run = Runner {
        engine: &engine,
        tenant: &ctx.tenant,
        collection: &collection,
        candidates: a.candidates,
    };
    let outcomes = run.outcomes(&questions, &setups, passes, &bar)?;
    bar.finish_and_clear();
    let summary = summarize(&outcomes);
    let run = super::eval_runs::store(
        ctx,
        &engine,
        &a.keep,
        super::eval_runs::Finished {
            kind: "retrieval",
            datasets: std::slice::from_ref(&a.dataset),
            summary: serde_json::to_value(&summary)?,
            results: serde_json::to_value(&outcomes)?,
        },
    )?;
    if ctx.json {
        let mut v = serde_json::json!({"dataset": a.dataset, "questions": questions.len(),
                                       "summary": summary, "run": run});
        if a.per_question {
            v["outcomes"] = serde_json::to_value(&outcomes)?;
        }
        ctx.print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.per_question {
        for o in &outcomes {
            outln!(
                "{:<18} {:<6} {:<11} r@10 {:.2} mrr {:.2}  {}",
                o.config,
                o.id,
                o.kind,
                o.metrics.recall_10,
                o.metrics.mrr_10,
                o.top.join(" ")
            );
        }
        outln!();
    }
    outln!(
        "{:<11} {:<18} {:>4} {:>6} {:>6} {:>6} {:>7} {:>7} {:>8} {:>8}",
        "kind",
        "config",
        "n",
        "R@1",
        "R@5",
        "R@10",
        "MRR@10",
        "nDCG@10",
        "p50 ms",
        "p95 ms"
    );
    let mut last_kind = String::new();
    for s in &summary {
        if s.kind != last_kind && !last_kind.is_empty() {
            outln!();
        }
        last_kind.clone_from(&s.kind);
        let m = &s.metrics;
        outln!(
            "{:<11} {:<18} {:>4} {:>6.3} {:>6.3} {:>6.3} {:>7.3} {:>7.3} {:>8.1} {:>8.1}",
            s.kind,
            s.config,
            s.questions,
            m.recall_1,
            m.recall_5,
            m.recall_10,
            m.mrr_10,
            m.ndcg_10,
            s.p50_ms,
            s.p95_ms
        );
    }
    super::eval_runs::announce(ctx, run.as_deref());
    Ok(ExitCode::SUCCESS)
}
