//! Hallucination detection on HaluEval-QA style cases: a knowledge passage, a question,
//! the right answer and a hallucinated one. Each answer is scored against the passage,
//! and a score under the threshold flags it as unsupported. Two scorers:
//!
//! - `support`: what the answer pipeline runs ([`crate::answer`]'s grounding check:
//!   lexical share of content terms plus rescaled embedding cosine);
//! - `llm`: entailment by the generator, P(yes) to "is the answer supported?".
//!
//! Reported: accuracy, the hallucination detection rate (TPR) and the false-flag rate
//! (FPR) at the configured threshold, the best threshold on the set, and ROC AUC.

use crate::answer::{Source, ground};
use crate::{Engine, Result};
use cairn_types::TenantId;
use serde::{Deserialize, Serialize};

/// One case (the `answers.jsonl` that `eval/halueval/build.py` writes).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct GroundingCase {
    #[serde(alias = "_id")]
    pub id: String,
    pub knowledge: String,
    #[serde(default)]
    pub question: String,
    pub right_answer: String,
    pub hallucinated_answer: String,
}

/// Parses JSON lines; the error names the line.
pub fn parse_cases(text: &str) -> std::result::Result<Vec<GroundingCase>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// How an answer is scored against its evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroundingMethod {
    Support,
    Llm,
}

impl GroundingMethod {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "support" => Some(Self::Support),
            "llm" => Some(Self::Llm),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Support => "support",
            Self::Llm => "llm",
        }
    }
}

/// The scores of one case's two answers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredPair {
    pub right: f32,
    pub hallucinated: f32,
}

/// Detection quality at one threshold (an answer scoring below it is flagged).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub threshold: f32,
    /// Correct decisions over both answers of every case.
    pub accuracy: f64,
    /// Hallucinated answers flagged.
    pub tpr: f64,
    /// Right answers flagged.
    pub fpr: f64,
}

/// Detection at `threshold`.
pub fn detection(pairs: &[ScoredPair], threshold: f32) -> Detection {
    let n = pairs.len().max(1) as f64;
    let tp = pairs.iter().filter(|p| p.hallucinated < threshold).count() as f64;
    let fp = pairs.iter().filter(|p| p.right < threshold).count() as f64;
    Detection {
        threshold,
        accuracy: (tp + (n - fp)) / (2.0 * n),
        tpr: tp / n,
        fpr: fp / n,
    }
}

/// The threshold with the best accuracy on `pairs` (an optimistic, in-sample figure).
pub fn best_threshold(pairs: &[ScoredPair]) -> Detection {
    let mut cuts: Vec<f32> = pairs
        .iter()
        .flat_map(|p| [p.right, p.hallucinated])
        .map(|s| s + 1e-6)
        .collect();
    cuts.push(0.0);
    cuts.sort_by(f32::total_cmp);
    cuts.dedup();
    cuts.into_iter()
        .map(|t| detection(pairs, t))
        .max_by(|a, b| a.accuracy.total_cmp(&b.accuracy))
        .unwrap_or_else(|| detection(pairs, 0.0))
}

/// ROC AUC: the probability that a right answer outscores a hallucinated one (ties half).
pub fn auc(pairs: &[ScoredPair]) -> f64 {
    let mut right: Vec<f32> = pairs.iter().map(|p| p.right).collect();
    right.sort_by(f32::total_cmp);
    if right.is_empty() {
        return 0.5;
    }
    let mut wins = 0.0;
    for p in pairs {
        let below = right.partition_point(|&r| r < p.hallucinated);
        let equal = right.partition_point(|&r| r <= p.hallucinated) - below;
        wins += (right.len() - below - equal) as f64 + 0.5 * equal as f64;
    }
    wins / (right.len() * pairs.len()) as f64
}

impl Engine {
    /// The support score the answer pipeline would give each of `claims` against
    /// `evidence` (each the weakest of its sentences; 0 for a sentence stating a name or
    /// number the evidence lacks). One embedding batch: the evidence
    /// is embedded once for all claims.
    pub fn support_of(&self, evidence: &str, claims: &[&str]) -> Result<Vec<f32>> {
        let sentences: Vec<_> = claims.iter().map(|c| ground::claims_of(c)).collect();
        let mut texts: Vec<&str> = sentences.iter().flatten().map(|c| c.1.as_str()).collect();
        texts.push(evidence);
        let mut vectors = self.embedder()?.embed(&texts)?.vectors;
        let evidence_vector = [vectors.pop()];
        let source = [Source {
            n: 1,
            collection: String::new(),
            chunk_id: String::new(),
            document_id: String::new(),
            title: String::new(),
            heading_path: Vec::new(),
            source: String::new(),
            page: None,
            score: 0.0,
            similarity: None,
            text: evidence.to_owned(),
            excerpt: None,
        }];
        let threshold = self.config.answer.support_threshold;
        let mut offset = 0;
        let mut out = Vec::with_capacity(claims.len());
        for (claim, parts) in claims.iter().zip(&sentences) {
            let own = vectors
                .get(offset..offset + parts.len())
                .unwrap_or_default();
            offset += parts.len();
            let g = ground::check(claim, "", &source, own, &evidence_vector, threshold);
            // A sentence stating a name or number the passage lacks has no support.
            let weakest = g
                .claims
                .iter()
                .map(|c| {
                    if c.unverified.is_empty() {
                        c.support
                    } else {
                        0.0
                    }
                })
                .fold(f32::INFINITY, f32::min);
            // No sentence at all is no support.
            out.push(if g.claims.is_empty() {
                0.0
            } else {
                weakest.min(1.0)
            });
        }
        Ok(out)
    }

    /// The generator's P(yes) that `claim` answers `question` as `evidence` says.
    pub fn entailment_of(
        &self,
        tenant: &TenantId,
        evidence: &str,
        question: &str,
        claim: &str,
    ) -> Result<f32> {
        let question = if question.is_empty() {
            String::new()
        } else {
            format!("Question: {question}\n")
        };
        self.judge_yes(
            tenant,
            "You check answers against a passage. Answer with one word: yes or no.",
            &format!(
                "Passage:\n{evidence}\n\n{question}Answer: {claim}\n\nIs the answer \
                 supported by the passage? Answer yes or no."
            ),
        )
    }

    /// Scores both answers of `case` with `method`.
    pub fn score_grounding(
        &self,
        tenant: &TenantId,
        case: &GroundingCase,
        method: GroundingMethod,
    ) -> Result<ScoredPair> {
        let (right, hallucinated) = match method {
            GroundingMethod::Support => {
                let s = self.support_of(
                    &case.knowledge,
                    &[&case.right_answer, &case.hallucinated_answer],
                )?;
                (s[0], s[1])
            }
            GroundingMethod::Llm => (
                self.entailment_of(tenant, &case.knowledge, &case.question, &case.right_answer)?,
                self.entailment_of(
                    tenant,
                    &case.knowledge,
                    &case.question,
                    &case.hallucinated_answer,
                )?,
            ),
        };
        Ok(ScoredPair {
            right,
            hallucinated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(right: f32, hallucinated: f32) -> ScoredPair {
        ScoredPair {
            right,
            hallucinated,
        }
    }

    #[test]
    fn detection_counts_both_answers() {
        let pairs = [p(0.9, 0.2), p(0.4, 0.3), p(0.8, 0.7)];
        let d = detection(&pairs, 0.5);
        assert!((d.tpr - 2.0 / 3.0).abs() < 1e-9);
        assert!((d.fpr - 1.0 / 3.0).abs() < 1e-9);
        assert!((d.accuracy - 4.0 / 6.0).abs() < 1e-9);
        let best = best_threshold(&pairs);
        assert!(best.accuracy >= d.accuracy);
        assert!((best.accuracy - 5.0 / 6.0).abs() < 1e-9, "{best:?}");
    }

    #[test]
    fn auc_is_the_pairwise_win_rate() {
        assert_eq!(auc(&[p(0.9, 0.1), p(0.8, 0.2)]), 1.0);
        assert_eq!(auc(&[p(0.1, 0.9), p(0.2, 0.8)]), 0.0);
        assert_eq!(auc(&[p(0.5, 0.5)]), 0.5);
    }

    #[test]
    fn cases_parse_with_either_id_spelling() {
        let c = parse_cases(
            "{\"_id\":\"q1\",\"knowledge\":\"k\",\"right_answer\":\"a\",\"hallucinated_answer\":\"b\"}\n",
        )
        .unwrap();
        assert_eq!(c[0].id, "q1");
        assert!(parse_cases("{}").unwrap_err().starts_with("line 1"));
    }
}
