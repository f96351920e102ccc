//! Answer quality over a dev set ([`Question`]s with answering pages and keywords):
//!
//! - **citation recall@5**: the share of a question's pages among the documents of the
//!   answer's first five citations;
//! - **keyword accuracy**: the share of the question's keywords the answer contains
//!   (case-insensitive);
//! - **abstention**: how often Cairn said it does not know, on unanswerable questions
//!   (wanted) and on answerable ones (a miss);
//! - grounded share of sentences, confidence, time to first token and total time.

use super::retrieval::{Question, p50_p95, page_of};
use crate::answer::{Answer, AnswerEvent, AskRequest};
use crate::{Engine, Result};
use cairn_types::{CollectionId, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// The kind that marks questions the corpus cannot answer.
pub const UNANSWERABLE: &str = "unanswerable";

/// One question's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AnswerOutcome {
    pub id: String,
    pub kind: String,
    pub abstained: bool,
    /// Why it abstained (`missing_terms`, `weak_evidence`, `unverified`, ...).
    #[serde(default)]
    pub abstain_reason: Option<String>,
    /// Question names no source mentions, and draft names or numbers no source has.
    #[serde(default)]
    pub missing: Vec<String>,
    /// `None` for unanswerable questions.
    pub citation_recall_5: Option<f64>,
    pub keyword_accuracy: Option<f64>,
    /// Supported sentences / all sentences (1 when there are none).
    pub grounded_share: f64,
    pub confidence: f64,
    /// From the request to the first answer text (abstentions included).
    pub first_token_ms: f64,
    pub total_ms: f64,
    pub completion_tokens: usize,
    pub answer: String,
    /// File names of the cited documents, in citation order.
    pub cited: Vec<String>,
}

/// The share of `pages` among the documents of the first five citations.
pub fn citation_recall_5(pages: &[String], cited_sources: &[String]) -> f64 {
    let wanted: HashSet<&str> = pages.iter().map(String::as_str).collect();
    if wanted.is_empty() {
        return 0.0;
    }
    let found: HashSet<&str> = cited_sources
        .iter()
        .take(5)
        .map(|s| page_of(s))
        .filter(|p| wanted.contains(p))
        .collect();
    found.len() as f64 / wanted.len() as f64
}

/// The share of `keywords` that `answer` contains, ignoring case and runs of spaces.
pub fn keyword_accuracy(keywords: &[String], answer: &str) -> f64 {
    if keywords.is_empty() {
        return 0.0;
    }
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let text = norm(answer);
    let hits = keywords.iter().filter(|k| text.contains(&norm(k))).count();
    hits as f64 / keywords.len() as f64
}

/// Scores one answer against its question.
pub fn outcome(q: &Question, a: &Answer, first_token_ms: f64) -> AnswerOutcome {
    let answerable = q.kind != UNANSWERABLE && !q.pages.is_empty();
    let cited: Vec<String> = a
        .citations
        .iter()
        .map(|c| page_of(&c.source).to_owned())
        .collect();
    let supported = a.claims.iter().filter(|c| c.supported).count();
    AnswerOutcome {
        id: q.id.clone(),
        kind: q.kind.clone(),
        abstained: a.abstained,
        abstain_reason: a
            .abstain_reason
            .and_then(|r| serde_json::to_value(r).ok())
            .and_then(|v| v.as_str().map(str::to_owned)),
        missing: a
            .missing_terms
            .iter()
            .chain(a.claims.iter().flat_map(|c| c.unverified.iter()))
            .cloned()
            .collect(),
        citation_recall_5: answerable.then(|| citation_recall_5(&q.pages, &cited)),
        keyword_accuracy: answerable.then(|| {
            if a.abstained {
                0.0
            } else {
                keyword_accuracy(&q.keywords, &a.answer)
            }
        }),
        grounded_share: if a.claims.is_empty() {
            1.0
        } else {
            supported as f64 / a.claims.len() as f64
        },
        confidence: f64::from(a.confidence),
        first_token_ms,
        total_ms: a.timings.total_ms,
        completion_tokens: a.usage.completion_tokens,
        answer: a.answer.clone(),
        cited,
    }
}

impl Engine {
    /// Answers `q` from `collection` without recording it, timing the first text.
    /// `stop_before_generation`: only retrieval and the abstention gate run.
    pub fn eval_answer(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        q: &Question,
        stop_before_generation: bool,
    ) -> Result<AnswerOutcome> {
        let mut req = AskRequest::new(collection.clone(), q.question.clone());
        req.record = false;
        req.stop_before_generation = stop_before_generation;
        // A trace of its own (when a sink collects traces) carrying the question's
        // scores: `cairn traces` and the trace store show an evaluation like traffic.
        let span = tracing::info_span!(target: "cairn::trace", "eval.answer");
        if let Some(sink) = self.trace_sink() {
            let ctx = cairn_telemetry::TraceContext {
                trace_id: cairn_telemetry::context::new_trace_id(),
                remote_parent: None,
            };
            cairn_telemetry::start_trace(&span, ctx, sink);
        }
        let _entered = span.enter();
        let start = Instant::now();
        let mut first: Option<f64> = None;
        let answer = self.ask_streaming(tenant, &req, &mut |ev| {
            if let AnswerEvent::Delta(t) = ev
                && first.is_none()
                && !t.is_empty()
            {
                first = Some(start.elapsed().as_secs_f64() * 1e3);
            }
            true
        })?;
        let first_token_ms = first.unwrap_or(answer.timings.total_ms);
        let out = outcome(q, &answer, first_token_ms);
        record_scores(&span, tenant, collection, q, &out);
        Ok(out)
    }
}

/// The question and its outcome on the evaluation's trace: `cairn.score.<metric>`
/// attributes become the trace's scores (source `eval`).
fn record_scores(
    span: &tracing::Span,
    tenant: &TenantId,
    collection: &CollectionId,
    q: &Question,
    o: &AnswerOutcome,
) {
    use cairn_telemetry::AttrValue::{Bool, Float, Str};
    let s = |v: &str| Str(v.to_owned());
    let mut attrs = vec![
        ("otel.name".to_owned(), s(&format!("eval {collection}"))),
        (
            "openinference.span.kind".to_owned(),
            s(cairn_telemetry::names::kind::CHAIN),
        ),
        ("cairn.tenant".to_owned(), s(tenant.as_str())),
        ("cairn.score_source".to_owned(), s("eval")),
        ("cairn.eval.question_id".to_owned(), s(&q.id)),
        ("cairn.eval.kind".to_owned(), s(&q.kind)),
        ("input.value".to_owned(), s(&q.question)),
        ("cairn.abstained".to_owned(), Bool(o.abstained)),
        (
            "cairn.score.grounded_share".to_owned(),
            Float(o.grounded_share),
        ),
        ("cairn.score.confidence".to_owned(), Float(o.confidence)),
    ];
    if let Some(v) = o.citation_recall_5 {
        attrs.push(("cairn.score.citation_recall_5".to_owned(), Float(v)));
    }
    if let Some(v) = o.keyword_accuracy {
        attrs.push(("cairn.score.keyword_accuracy".to_owned(), Float(v)));
    }
    if q.kind == "unanswerable" {
        let right = if o.abstained { 1.0 } else { 0.0 };
        attrs.push(("cairn.score.abstained_correctly".to_owned(), Float(right)));
    }
    cairn_telemetry::record_attrs(span, attrs);
}

/// Means and latency percentiles of one question kind (plus `answerable` and `all`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AnswerSummary {
    pub kind: String,
    pub questions: usize,
    /// Mean over answerable questions (`None` when the group has none).
    pub citation_recall_5: Option<f64>,
    pub keyword_accuracy: Option<f64>,
    pub abstention_rate: f64,
    pub grounded_share: f64,
    pub confidence: f64,
    pub first_token_p50_ms: f64,
    pub first_token_p95_ms: f64,
    pub total_p50_ms: f64,
    pub total_p95_ms: f64,
}

fn summary(kind: &str, os: &[&AnswerOutcome]) -> AnswerSummary {
    let n = os.len().max(1) as f64;
    let mean_opt = |f: fn(&AnswerOutcome) -> Option<f64>| {
        let v: Vec<f64> = os.iter().filter_map(|o| f(o)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let (ttft_p50, ttft_p95) = p50_p95(os.iter().map(|o| o.first_token_ms).collect());
    let (total_p50, total_p95) = p50_p95(os.iter().map(|o| o.total_ms).collect());
    AnswerSummary {
        kind: kind.to_owned(),
        questions: os.len(),
        citation_recall_5: mean_opt(|o| o.citation_recall_5),
        keyword_accuracy: mean_opt(|o| o.keyword_accuracy),
        abstention_rate: os.iter().filter(|o| o.abstained).count() as f64 / n,
        grounded_share: os.iter().map(|o| o.grounded_share).sum::<f64>() / n,
        confidence: os.iter().map(|o| o.confidence).sum::<f64>() / n,
        first_token_p50_ms: ttft_p50,
        first_token_p95_ms: ttft_p95,
        total_p50_ms: total_p50,
        total_p95_ms: total_p95,
    }
}

/// One row per kind, then `answerable` (every kind but unanswerable) and `all`.
pub fn summarize_answers(outcomes: &[AnswerOutcome]) -> Vec<AnswerSummary> {
    let mut kinds: BTreeMap<&str, Vec<&AnswerOutcome>> = BTreeMap::new();
    for o in outcomes {
        kinds.entry(o.kind.as_str()).or_default().push(o);
    }
    let mut out: Vec<AnswerSummary> = kinds.iter().map(|(k, os)| summary(k, os)).collect();
    let answerable: Vec<&AnswerOutcome> = outcomes
        .iter()
        .filter(|o| o.citation_recall_5.is_some())
        .collect();
    if !answerable.is_empty() {
        out.push(summary("answerable", &answerable));
    }
    let all: Vec<&AnswerOutcome> = outcomes.iter().collect();
    out.push(summary("all", &all));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn citation_recall_counts_pages_among_the_first_five_citations() {
        let pages = s(&["a.html", "b.html"]);
        assert_eq!(
            citation_recall_5(&pages, &s(&["/d/a.html", "/d/c.html"])),
            0.5
        );
        assert_eq!(
            citation_recall_5(&pages, &s(&["b.html", "a.html", "a.html"])),
            1.0
        );
        let late = s(&["c", "c", "c", "c", "c", "a.html"]);
        assert_eq!(citation_recall_5(&pages, &late), 0.0);
        assert_eq!(citation_recall_5(&[], &late), 0.0);
    }

    #[test]
    fn keywords_match_case_and_spacing_insensitively() {
        let k = s(&["VACUUM FULL", "ACCESS EXCLUSIVE", "pg_repack"]);
        let a = "Vacuum  full rewrites the table under an access exclusive lock [1].";
        assert!((keyword_accuracy(&k, a) - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(keyword_accuracy(&[], a), 0.0);
    }

    #[test]
    fn summaries_split_answerable_from_unanswerable() {
        let o = |kind: &str, abstained: bool, recall: Option<f64>, ms: f64| AnswerOutcome {
            id: "q".into(),
            kind: kind.into(),
            abstained,
            abstain_reason: None,
            missing: Vec::new(),
            citation_recall_5: recall,
            keyword_accuracy: recall,
            grounded_share: 1.0,
            confidence: 0.5,
            first_token_ms: ms / 2.0,
            total_ms: ms,
            completion_tokens: 10,
            answer: String::new(),
            cited: vec![],
        };
        let rows = summarize_answers(&[
            o("close", false, Some(1.0), 100.0),
            o("close", true, Some(0.0), 300.0),
            o(UNANSWERABLE, true, None, 50.0),
        ]);
        let get = |k: &str| rows.iter().find(|r| r.kind == k).unwrap();
        assert_eq!(get("close").citation_recall_5, Some(0.5));
        assert_eq!(get("close").abstention_rate, 0.5);
        assert_eq!(get(UNANSWERABLE).citation_recall_5, None);
        assert_eq!(get(UNANSWERABLE).abstention_rate, 1.0);
        assert_eq!(get("answerable").questions, 2);
        assert_eq!(get("all").questions, 3);
        assert_eq!(get("all").total_p95_ms, 300.0);
    }
}
