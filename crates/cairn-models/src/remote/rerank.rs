//! [`RemoteReranker`]: relevance scores from a `POST /rerank` endpoint, the protocol
//! vLLM, Cohere and Jina serve (`{model, query, documents}` → `{results: [{index,
//! relevance_score}]}`); Text Embeddings Inference's answer shape (a bare array of
//! `{index, score}`) is read too.

use super::RemoteConfig;
use crate::{Error, Result};
use serde_json::{Value, json};

/// A reranker behind a remote `/rerank` endpoint.
pub struct RemoteReranker {
    config: RemoteConfig,
    agent: ureq::Agent,
}

fn bad(message: &str) -> Error {
    Error::Upstream {
        status: None,
        message: format!("bad rerank response: {message}"),
    }
}

impl RemoteReranker {
    /// A reranker for `config`.
    pub fn new(config: RemoteConfig) -> Self {
        let agent = config.agent();
        Self { config, agent }
    }

    /// A reranker for `config` over an existing client (its connections are reused).
    pub fn with_agent(config: RemoteConfig, agent: ureq::Agent) -> Self {
        Self { config, agent }
    }

    /// The provider's model name.
    pub fn model_id(&self) -> &str {
        &self.config.model
    }

    /// One score per document, in the documents' order (higher: more relevant).
    pub fn score(&self, query: &str, documents: &[&str]) -> Result<Vec<f32>> {
        if documents.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({
            "model": self.config.model,
            "query": query,
            "documents": documents,
            "top_n": documents.len(),
            "return_documents": false,
        });
        let value = self
            .config
            .post_json(&self.agent, "rerank", &body, "rerank")?;
        parse_scores(&value, documents.len())
    }
}

/// Scores by index from either answer shape; every document must get exactly one.
fn parse_scores(value: &Value, n: usize) -> Result<Vec<f32>> {
    let items = value
        .get("results")
        .or_else(|| value.get("data"))
        .unwrap_or(value)
        .as_array()
        .ok_or_else(|| bad("no `results` array"))?;
    let mut scores: Vec<Option<f32>> = vec![None; n];
    for item in items {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("a result has no `index`"))? as usize;
        let score = item
            .get("relevance_score")
            .or_else(|| item.get("score"))
            .and_then(Value::as_f64)
            .ok_or_else(|| bad("a result has no `relevance_score`"))?;
        let slot = scores
            .get_mut(index)
            .ok_or_else(|| bad(&format!("index {index} out of range for {n} documents")))?;
        if slot.replace(score as f32).is_some() {
            return Err(bad(&format!("index {index} scored twice")));
        }
    }
    scores
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad("not every document got a score"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_answer_shapes_are_read_and_checked() {
        let cohere = json!({"results": [{"index": 1, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.2}]});
        assert_eq!(parse_scores(&cohere, 2).unwrap(), [0.2, 0.9]);
        let tei = json!([{"index": 0, "score": 0.5}, {"index": 1, "score": -1.0}]);
        assert_eq!(parse_scores(&tei, 2).unwrap(), [0.5, -1.0]);
        for broken in [
            json!({"results": [{"index": 0, "relevance_score": 0.1}]}),
            json!({"results": [{"index": 2, "relevance_score": 0.1}, {"index": 0, "relevance_score": 0.1}]}),
            json!({"results": [{"index": 0, "relevance_score": 0.1}, {"index": 0, "relevance_score": 0.3}]}),
            json!({"results": [{"index": 0}, {"index": 1, "relevance_score": 0.3}]}),
            json!({"error": "nope"}),
        ] {
            assert!(parse_scores(&broken, 2).is_err(), "{broken}");
        }
    }
}
