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
//! - `cross-encoder`: the reranker role (`models.reranker`, else
//!   `retrieval.cross_encoder`): a BERT cross-encoder supplied by the user (not bundled:
//!   none can be downloaded here) or a remote `/rerank` model.
//!
//! [`Engine::rerank_scores`] serves the same rerankers by name to `POST /v1/rerank`.

use super::{RerankKind, SearchHit};
use crate::{Engine, Error, Result};
use cairn_config::ModelRef;
use cairn_models::RemoteReranker;
use cairn_types::{ErrorCode, TenantId};

/// The built-in reranker over the embedder's token vectors.
pub const MAXSIM: &str = "maxsim";
/// The built-in reranker by the judge model.
pub const LLM: &str = "llm";

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
        let texts: Vec<String> = hits[..depth].iter().map(passage).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let scores = match kind {
            RerankKind::None => return Ok(()),
            RerankKind::Maxsim => self.maxsim_scores(query, &refs)?,
            RerankKind::Llm => self.llm_scores(tenant, query, &refs)?,
            RerankKind::CrossEncoder => {
                let name = self.config.reranker_model();
                if name.is_empty() {
                    return Err(Error::new(
                        ErrorCode::InvalidConfig,
                        "rerank `cross-encoder` needs models.reranker (a BERT cross-encoder \
                         directory, none is bundled, or a remote model with api = \"rerank\")",
                    ));
                }
                self.rerank_scores(tenant, name, query, &refs)?
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

    fn maxsim_scores(&self, query: &str, texts: &[&str]) -> Result<Vec<f32>> {
        let embedder = self.bert()?;
        let q = embedder.token_vectors(&[query])?;
        let docs = embedder.token_vectors(texts)?;
        let q = q.first().map(Vec::as_slice).unwrap_or_default();
        Ok(docs.iter().map(|d| maxsim(q, d)).collect())
    }

    fn llm_scores(&self, tenant: &TenantId, query: &str, texts: &[&str]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(texts.len());
        for text in texts {
            let cut = (0..=LLM_PASSAGE_CHARS.min(text.len()))
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            let text = &text[..cut];
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

    /// Scores `documents` against `query` with the reranker `name`: `maxsim` (the
    /// embedder's token vectors), `llm` (the judge model's P(yes)), a `[[models.remote]]`
    /// with `api = "rerank"` (its `/rerank` endpoint, the texts redacted like any
    /// remote call), or a local BERT cross-encoder directory. Higher is more relevant.
    pub fn rerank_scores(
        &self,
        tenant: &TenantId,
        name: &str,
        query: &str,
        documents: &[&str],
    ) -> Result<Vec<f32>> {
        match name {
            MAXSIM => return self.maxsim_scores(query, documents),
            LLM => return self.llm_scores(tenant, query, documents),
            _ => {}
        }
        match self.config.model_ref(name) {
            ModelRef::Remote(m) if m.api == "rerank" => {
                let redaction = self.default_redaction()?;
                let query = redaction.redact(query);
                let docs: Vec<String> = documents.iter().map(|d| redaction.redact(d)).collect();
                let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
                let config = self.remote_config(tenant, m)?;
                let agent = self.remote_agent(tenant, m, &config);
                let (health, policy) = self.remote_health(tenant, m);
                let reranker = RemoteReranker::with_agent(config, agent);
                Ok(cairn_models::gateway::guarded_call(
                    &m.name,
                    &health,
                    &policy,
                    || reranker.score(&query, &refs),
                )?)
            }
            ModelRef::Remote(m) => Err(Error::new(
                ErrorCode::InvalidInput,
                format!("`{name}` serves `{}`, not rerank", m.api),
            )),
            ModelRef::Route(_) => Err(Error::new(
                ErrorCode::InvalidInput,
                format!("`{name}` is a route of chat models, not a reranker"),
            )),
            ModelRef::Local => Ok(self.cross_encoder(name)?.score(query, documents)?),
        }
    }

    /// The rerankers `POST /v1/rerank` serves: the built-in `maxsim` and `llm`, the
    /// configured reranker, and every remote rerank model.
    pub fn reranker_names(&self) -> Vec<String> {
        let mut names = vec![MAXSIM.to_owned(), LLM.to_owned()];
        let configured = self.config.reranker_model();
        if !configured.is_empty() {
            names.push(configured.to_owned());
        }
        for m in &self.config.remote_models {
            if m.api == "rerank" && !names.contains(&m.name) {
                names.push(m.name.clone());
            }
        }
        names
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
