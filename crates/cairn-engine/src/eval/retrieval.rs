//! Retrieval metrics over a dev set whose questions name the pages that answer them:
//! recall@1/5/10, MRR@10 and nDCG@10 (binary relevance, each page counted once), grouped
//! by question kind.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// One dev-set line.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Question {
    pub id: String,
    pub kind: String,
    pub question: String,
    /// File names of the answering pages (a hit matches by its source's file name).
    pub pages: Vec<String>,
    /// Terms a correct answer contains (answer evaluation).
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// Parses a JSONL dev set; the error names the line.
pub fn parse_dataset(text: &str) -> Result<Vec<Question>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Metrics of one ranked list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub recall_1: f64,
    pub recall_5: f64,
    pub recall_10: f64,
    pub mrr_10: f64,
    pub ndcg_10: f64,
}

/// The file name of a source path.
pub fn page_of(source: &str) -> &str {
    source.rsplit(['/', '\\']).next().unwrap_or(source)
}

/// Scores a ranked list of hit sources against the relevant pages.
pub fn score(relevant: &[String], ranked_sources: &[String]) -> Metrics {
    let rel: HashSet<&str> = relevant.iter().map(String::as_str).collect();
    if rel.is_empty() {
        return Metrics::default();
    }
    let pages: Vec<&str> = ranked_sources.iter().map(|s| page_of(s)).collect();
    let recall = |k: usize| {
        let found: HashSet<&str> = pages
            .iter()
            .take(k)
            .copied()
            .filter(|p| rel.contains(p))
            .collect();
        found.len() as f64 / rel.len() as f64
    };
    let mrr = pages
        .iter()
        .take(10)
        .position(|p| rel.contains(p))
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0));
    let mut seen = HashSet::new();
    let dcg: f64 = pages
        .iter()
        .take(10)
        .enumerate()
        .filter(|(_, p)| rel.contains(*p) && seen.insert(**p))
        .map(|(i, _)| 1.0 / (i as f64 + 2.0).log2())
        .sum();
    let idcg: f64 = (0..rel.len().min(10))
        .map(|i| 1.0 / (i as f64 + 2.0).log2())
        .sum();
    Metrics {
        recall_1: recall(1),
        recall_5: recall(5),
        recall_10: recall(10),
        mrr_10: mrr,
        ndcg_10: if idcg > 0.0 { dcg / idcg } else { 0.0 },
    }
}

/// Mean metrics and latency of one (configuration, kind) group.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub config: String,
    pub kind: String,
    pub questions: usize,
    pub metrics: Metrics,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// One question's outcome under one configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub config: String,
    pub id: String,
    pub kind: String,
    pub metrics: Metrics,
    pub ms: f64,
    /// File names of the top hits, best first.
    pub top: Vec<String>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The median and 95th percentile of `values` (0 for none).
pub(crate) fn p50_p95(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (percentile(&values, 0.5), percentile(&values, 0.95))
}

/// Groups outcomes by configuration and kind (plus an `all` row per configuration).
pub fn summarize(outcomes: &[Outcome]) -> Vec<Summary> {
    let mut groups: BTreeMap<(String, String), Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        groups
            .entry((o.config.clone(), o.kind.clone()))
            .or_default()
            .push(o);
        groups
            .entry((o.config.clone(), "all".into()))
            .or_default()
            .push(o);
    }
    let order: Vec<String> = outcomes.iter().fold(Vec::new(), |mut acc, o| {
        if !acc.contains(&o.config) {
            acc.push(o.config.clone());
        }
        acc
    });
    let mut out: Vec<Summary> = groups
        .into_iter()
        .map(|((config, kind), os)| {
            let n = os.len() as f64;
            let mean = |f: fn(&Metrics) -> f64| os.iter().map(|o| f(&o.metrics)).sum::<f64>() / n;
            let (p50_ms, p95_ms) = p50_p95(os.iter().map(|o| o.ms).collect());
            Summary {
                config,
                kind,
                questions: os.len(),
                metrics: Metrics {
                    recall_1: mean(|m| m.recall_1),
                    recall_5: mean(|m| m.recall_5),
                    recall_10: mean(|m| m.recall_10),
                    mrr_10: mean(|m| m.mrr_10),
                    ndcg_10: mean(|m| m.ndcg_10),
                },
                p50_ms,
                p95_ms,
            }
        })
        .collect();
    out.sort_by_key(|s| {
        (
            s.kind == "all",
            s.kind.clone(),
            order
                .iter()
                .position(|c| *c == s.config)
                .unwrap_or(usize::MAX),
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn metrics_count_each_page_once() {
        let m = score(
            &s(&["a.html"]),
            &s(&["/x/b.html", "/x/a.html", "/x/a.html"]),
        );
        assert_eq!(m.recall_1, 0.0);
        assert_eq!(m.recall_5, 1.0);
        assert!((m.mrr_10 - 0.5).abs() < 1e-9);
        assert!((m.ndcg_10 - 1.0 / 3f64.log2()).abs() < 1e-9);
    }

    #[test]
    fn two_page_questions_need_both_pages() {
        let m = score(&s(&["a.html", "b.html"]), &s(&["a.html", "c.html"]));
        assert_eq!(m.recall_10, 0.5);
        assert_eq!(m.mrr_10, 1.0);
        let perfect = score(&s(&["a.html", "b.html"]), &s(&["b.html", "a.html"]));
        assert!((perfect.ndcg_10 - 1.0).abs() < 1e-9);
    }

    #[test]
    fn summaries_group_by_kind_with_an_overall_row() {
        let o = |config: &str, kind: &str, r: f64| Outcome {
            config: config.into(),
            id: "q".into(),
            kind: kind.into(),
            metrics: Metrics {
                recall_10: r,
                ..Metrics::default()
            },
            ms: 1.0,
            top: vec![],
        };
        let sum = summarize(&[o("lexical", "close", 1.0), o("lexical", "paraphrase", 0.0)]);
        let all = sum.iter().find(|s| s.kind == "all").unwrap();
        assert_eq!(all.questions, 2);
        assert!((all.metrics.recall_10 - 0.5).abs() < 1e-9);
        assert_eq!(sum.last().unwrap().kind, "all");
    }
}
