//! Evaluation runs as data: a run's per-question scores read back from its stored
//! results, and two runs compared metric by metric with paired-bootstrap 95%
//! confidence intervals and the questions that flipped.

use crate::Engine;
use cairn_store::EvalRun;
use cairn_types::TenantId;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Bootstrap resamples per interval.
const RESAMPLES: usize = 2_000;
/// The bootstrap's seed: the same two runs always give the same intervals.
const SEED: u64 = 0x5eed_ca1f;

/// One question's scores under one configuration of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuestionScores {
    pub config: String,
    pub id: String,
    pub kind: String,
    /// Metric name → value (a metric a question has no value for is absent).
    pub values: BTreeMap<String, f64>,
}

/// Whether a higher value of `metric` is better (latencies are not).
pub fn higher_is_better(metric: &str) -> bool {
    !metric.ends_with("ms")
}

/// The metrics whose value crossing zero (or one, for `abstained`) is a flip worth
/// listing: a relevant page entering or leaving the top five, a cited page, abstaining.
const FLIP_METRICS: &[&str] = &["recall_5", "citation_recall_5", "abstained"];

/// Every question's scores in `run`, by its kind's result shape.
pub fn question_scores(run: &EvalRun) -> Vec<QuestionScores> {
    let rows = run
        .results
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    rows.iter()
        .filter_map(|r| {
            let id = r["id"].as_str()?.to_owned();
            let kind = r["kind"].as_str().unwrap_or("all").to_owned();
            let mut values = BTreeMap::new();
            let mut put = |name: &str, v: &Value| {
                if let Some(x) = v.as_f64().or_else(|| v.as_bool().map(f64::from)) {
                    values.insert(name.to_owned(), x);
                }
            };
            let config = match run.kind.as_str() {
                "retrieval" => {
                    for (name, v) in r["metrics"].as_object().into_iter().flatten() {
                        put(name, v);
                    }
                    put("ms", &r["ms"]);
                    r["config"].as_str().unwrap_or("default").to_owned()
                }
                "grounding" => {
                    for name in ["right", "hallucinated", "correct"] {
                        put(name, &r[name]);
                    }
                    r["method"].as_str().unwrap_or("default").to_owned()
                }
                _ => {
                    for name in [
                        "citation_recall_5",
                        "keyword_accuracy",
                        "abstained",
                        "grounded_share",
                        "confidence",
                        "first_token_ms",
                        "total_ms",
                    ] {
                        put(name, &r[name]);
                    }
                    r["config"].as_str().unwrap_or("answers").to_owned()
                }
            };
            Some(QuestionScores {
                config,
                id,
                kind,
                values,
            })
        })
        .collect()
}

/// One metric of one configuration in both runs, over the questions both scored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricDelta {
    pub config: String,
    pub metric: String,
    /// Questions scored in both runs.
    pub n: usize,
    pub a: f64,
    pub b: f64,
    /// `b - a`.
    pub delta: f64,
    /// The paired-bootstrap 95% interval of `delta`.
    pub ci_low: f64,
    pub ci_high: f64,
    /// The interval excludes 0.
    pub significant: bool,
    /// Whether `b` is better than `a` (by the metric's direction), when significant.
    pub better: Option<bool>,
}

/// A question whose outcome changed between the runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Flip {
    pub config: String,
    pub id: String,
    pub kind: String,
    pub metric: String,
    pub a: f64,
    pub b: f64,
}

/// Two runs side by side.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub kind: String,
    /// Whether both ran the same dataset file (its hash).
    pub same_dataset: bool,
    pub deltas: Vec<MetricDelta>,
    pub flips: Vec<Flip>,
    /// Configurations only one run has.
    pub unmatched_configs: Vec<String>,
}

/// Compares `b` against `a`: every metric of every configuration both have, paired by
/// question id.
pub fn compare(a: &EvalRun, b: &EvalRun) -> Comparison {
    let (qa, qb) = (question_scores(a), question_scores(b));
    let configs =
        |q: &[QuestionScores]| -> BTreeSet<String> { q.iter().map(|s| s.config.clone()).collect() };
    let (ca, cb) = (configs(&qa), configs(&qb));
    let mut deltas = Vec::new();
    let mut flips = Vec::new();
    for config in ca.intersection(&cb) {
        let by_id = |q: &[QuestionScores]| -> BTreeMap<String, QuestionScores> {
            q.iter()
                .filter(|s| &s.config == config)
                .map(|s| (s.id.clone(), s.clone()))
                .collect()
        };
        let (ma, mb) = (by_id(&qa), by_id(&qb));
        let metrics: BTreeSet<&String> = ma.values().flat_map(|s| s.values.keys()).collect();
        for metric in metrics {
            let pairs: Vec<(f64, f64)> = ma
                .iter()
                .filter_map(|(id, sa)| {
                    let x = *sa.values.get(metric)?;
                    let y = *mb.get(id)?.values.get(metric)?;
                    Some((x, y))
                })
                .collect();
            if pairs.is_empty() {
                continue;
            }
            deltas.push(delta(config, metric, &pairs));
            if FLIP_METRICS.contains(&metric.as_str()) {
                for (id, sa) in &ma {
                    let (Some(&x), Some(&y)) = (
                        sa.values.get(metric),
                        mb.get(id).and_then(|s| s.values.get(metric)),
                    ) else {
                        continue;
                    };
                    if (x > 0.0) != (y > 0.0) {
                        flips.push(Flip {
                            config: config.clone(),
                            id: id.clone(),
                            kind: sa.kind.clone(),
                            metric: metric.clone(),
                            a: x,
                            b: y,
                        });
                    }
                }
            }
        }
    }
    Comparison {
        a: a.id.clone(),
        b: b.id.clone(),
        kind: b.kind.clone(),
        same_dataset: a.dataset_hash == b.dataset_hash,
        deltas,
        flips,
        unmatched_configs: ca.symmetric_difference(&cb).cloned().collect(),
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { s / n as f64 }
}

fn delta(config: &str, metric: &str, pairs: &[(f64, f64)]) -> MetricDelta {
    let a = mean(pairs.iter().map(|p| p.0));
    let b = mean(pairs.iter().map(|p| p.1));
    let diffs: Vec<f64> = pairs.iter().map(|p| p.1 - p.0).collect();
    let (ci_low, ci_high) = bootstrap_ci(&diffs);
    let significant = ci_low > 0.0 || ci_high < 0.0;
    MetricDelta {
        config: config.to_owned(),
        metric: metric.to_owned(),
        n: pairs.len(),
        a,
        b,
        delta: b - a,
        ci_low,
        ci_high,
        significant,
        better: significant.then(|| (ci_low > 0.0) == higher_is_better(metric)),
    }
}

/// The 2.5th and 97.5th percentiles of the mean of `diffs` over bootstrap resamples
/// (questions drawn with replacement), with a fixed seed.
pub fn bootstrap_ci(diffs: &[f64]) -> (f64, f64) {
    if diffs.is_empty() {
        return (0.0, 0.0);
    }
    let mut rng = SplitMix::new(SEED);
    let n = diffs.len();
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let sum: f64 = (0..n).map(|_| diffs[rng.below(n)]).sum();
            sum / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |p: f64| means[((RESAMPLES as f64 - 1.0) * p).round() as usize];
    (at(0.025), at(0.975))
}

/// SplitMix64: small, fast, and the same on every machine.
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// SHA-256 of a dataset's bytes, hex.
pub fn dataset_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Engine {
    /// What decides an eval's numbers here: the retrieval, answer and chunking
    /// settings, the models of every role, the prompt version, the binary's version.
    pub fn eval_snapshot(&self, tenant: &TenantId) -> Value {
        let c = &self.config;
        let registry = self.registry(tenant).ok();
        let role = |r: crate::ModelRole| {
            registry
                .as_ref()
                .map(|reg| crate::gateway::role_in(reg, r).to_owned())
        };
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "prompt_version": crate::answer::PROMPT_VERSION,
            "models": {
                "generator": role(crate::ModelRole::Generator),
                "judge": role(crate::ModelRole::Judge),
                "rewriter": role(crate::ModelRole::Rewriter),
                "embedder": c.embedder,
                "reranker": c.reranker_model(),
            },
            "retrieval": c.retrieval,
            "answer": c.answer,
            "chunking": c.chunking,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, results: Value) -> EvalRun {
        EvalRun {
            tenant: TenantId::new("t"),
            id: id.into(),
            kind: "retrieval".into(),
            label: String::new(),
            dataset: "d.jsonl".into(),
            dataset_hash: "h".into(),
            config: json!({}),
            summary: json!([]),
            results,
            created_at: 0,
        }
    }

    fn outcome(config: &str, id: &str, recall_5: f64, mrr: f64) -> Value {
        json!({"config": config, "id": id, "kind": "fact", "ms": 10.0,
               "metrics": {"recall_5": recall_5, "mrr_10": mrr}})
    }

    #[test]
    fn a_clear_gain_is_significant_and_flips_are_listed() {
        let n = 40;
        let a = run(
            "a",
            Value::Array(
                (0..n)
                    .map(|i| outcome("hybrid", &format!("q{i}"), f64::from(i % 2), 0.3))
                    .collect(),
            ),
        );
        let b = run(
            "b",
            Value::Array(
                (0..n)
                    .map(|i| outcome("hybrid", &format!("q{i}"), 1.0, 0.8))
                    .collect(),
            ),
        );
        let c = compare(&a, &b);
        assert!(c.same_dataset && c.unmatched_configs.is_empty());
        let mrr = c.deltas.iter().find(|d| d.metric == "mrr_10").unwrap();
        assert_eq!(mrr.n, 40);
        assert!((mrr.delta - 0.5).abs() < 1e-9, "{mrr:?}");
        assert!(mrr.significant && mrr.better == Some(true), "{mrr:?}");
        // Every second question found nothing in the top five before.
        let flips: Vec<&Flip> = c.flips.iter().filter(|f| f.metric == "recall_5").collect();
        assert_eq!(flips.len(), 20);
        // The same latency on both sides: no change.
        let ms = c.deltas.iter().find(|d| d.metric == "ms").unwrap();
        assert!(!ms.significant && ms.better.is_none());
    }

    #[test]
    fn noise_is_not_significant_and_the_interval_is_reproducible() {
        let diffs: Vec<f64> = (0..30)
            .map(|i| if i % 2 == 0 { 0.1 } else { -0.1 })
            .collect();
        let (lo, hi) = bootstrap_ci(&diffs);
        assert!(lo < 0.0 && hi > 0.0, "{lo} {hi}");
        assert_eq!(bootstrap_ci(&diffs), (lo, hi), "a fixed seed");
        assert!(higher_is_better("mrr_10") && !higher_is_better("total_ms"));
    }

    #[test]
    fn configurations_only_one_run_has_are_named() {
        let a = run("a", json!([outcome("lexical", "q1", 1.0, 1.0)]));
        let b = run("b", json!([outcome("dense", "q1", 1.0, 1.0)]));
        let c = compare(&a, &b);
        assert!(c.deltas.is_empty());
        assert_eq!(c.unmatched_configs, ["dense", "lexical"]);
    }
}
