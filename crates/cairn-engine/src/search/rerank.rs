//! The reranking stage over hydrated candidates.
//!
//! - `maxsim`: late interaction over the embedder's token vectors (query tokens each take
//!   their best-matching passage token; the mean is the score). Needs no extra model.
//! - `llm`: pointwise relevance by the judge model (`models.judge`): the probability of "yes" versus
//!   "no" after a judging prompt. Costs one prompt prefill per candidate, so at most
//!   [`LLM_RERANK_DEPTH`] candidates are judged.
//!
//! Only the first `retrieval.rerank_depth` fused candidates are rescored; the rest keep
//! their fused order below them.
//! - `cross-encoder`: a BERT cross-encoder supplied by the user (not bundled: none can be
//!   downloaded here).

use super::{RerankKind, SearchHit};
use crate::{Engine, Result};
use cairn_types::TenantId;

/// RRF constant when the reranker's order is blended with the retrieval order.
const RERANK_RRF_K: f32 = 60.0;

/// Candidates the LLM reranker judges.
pub const LLM_RERANK_DEPTH: usize = 10;
/// Characters of a passage the LLM judge reads.
const LLM_PASSAGE_CHARS: usize = 1_200;

/// The passage text a reranker scores: heading path, then the chunk.
fn passage(h: &SearchHit) -> String {
    if h.heading_path.is_empty() {
        format!("{}\n{}", h.title, h.text)
    } else {
        format!("{} > {}\n{}", h.title, h.heading_path.join(" > "), h.text)
    }
}

fn maxsim(query: &[Vec<f32>], doc: &[Vec<f32>]) -> f32 {
    if query.is_empty() || doc.is_empty() {
        return 0.0;
    }
    let total: f32 = query
        .iter()
        .map(|q| {
            doc.iter()
                .map(|d| q.iter().zip(d).map(|(a, b)| a * b).sum::<f32>())
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .sum();
    total / query.len() as f32
}

impl Engine {
    /// Scores `hits` with `kind` and sorts them by that score (ties keep their order).
    pub(crate) fn rerank(
        &self,
        tenant: &TenantId,
        query: &str,
        kind: RerankKind,
        hits: &mut [SearchHit],
    ) -> Result<()> {
        let configured = self.config.retrieval.rerank_depth;
        let depth = match kind {
            RerankKind::Llm => LLM_RERANK_DEPTH.min(configured).min(hits.len()),
            _ => configured.min(hits.len()),
        };
        let scores = match kind {
            RerankKind::None => return Ok(()),
            RerankKind::Maxsim => self.maxsim_scores(query, &hits[..depth])?,
            RerankKind::Llm => self.llm_scores(tenant, query, &hits[..depth])?,
            RerankKind::CrossEncoder => {
                let model = self.cross_encoder()?;
                let texts: Vec<String> = hits[..depth].iter().map(passage).collect();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                model.score(query, &refs)?
            }
        };
        // Rank of each candidate by the reranker (1 = best).
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let mut rerank_rank = vec![0usize; scores.len()];
        for (rank, &i) in order.iter().enumerate() {
            rerank_rank[i] = rank + 1;
        }
        let blend = self.config.retrieval.rerank_blend == "rrf";
        for (i, (h, s)) in hits[..depth].iter_mut().zip(scores).enumerate() {
            h.scores.rerank = Some(s);
            h.score = if blend {
                // Reciprocal rank fusion of the retrieval order and the reranker's.
                1.0 / (RERANK_RRF_K + (i + 1) as f32) + 1.0 / (RERANK_RRF_K + rerank_rank[i] as f32)
            } else {
                s
            };
        }
        let (head, _) = hits.split_at_mut(depth);
        head.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(())
    }

    fn maxsim_scores(&self, query: &str, hits: &[SearchHit]) -> Result<Vec<f32>> {
        let embedder = self.embedder()?;
        let q = embedder.token_vectors(&[query])?;
        let texts: Vec<String> = hits.iter().map(passage).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let docs = embedder.token_vectors(&refs)?;
        let q = q.first().map(Vec::as_slice).unwrap_or_default();
        Ok(docs.iter().map(|d| maxsim(q, d)).collect())
    }

    fn llm_scores(&self, tenant: &TenantId, query: &str, hits: &[SearchHit]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(hits.len());
        for h in hits {
            let mut text = passage(h);
            if text.len() > LLM_PASSAGE_CHARS {
                let cut = (0..=LLM_PASSAGE_CHARS)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                text.truncate(cut);
            }
            // The question comes first so every candidate shares the cached prefix.
            out.push(self.judge_yes(
                tenant,
                "You judge search results. Answer with one word: yes or no.",
                &format!(
                    "Question: {query}\n\nPassage:\n{text}\n\nDoes the passage help \
                     answer the question? Answer yes or no."
                ),
            )?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::maxsim;

    #[test]
    fn maxsim_takes_each_query_tokens_best_match() {
        let q = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let d = vec![vec![1.0, 0.0], vec![0.6, 0.8]];
        assert!((maxsim(&q, &d) - 0.9).abs() < 1e-6);
        assert_eq!(maxsim(&q, &[]), 0.0);
    }
}
