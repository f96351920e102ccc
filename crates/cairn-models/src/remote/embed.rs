//! [`RemoteEmbedder`]: vectors from an OpenAI-compatible `POST /embeddings`.

use super::RemoteConfig;
use crate::embed::{Embedder, Embeddings, Truncation};
use crate::{Error, Result};
use serde_json::{Value, json};

/// Inputs per request.
const BATCH: usize = 256;

/// An embedder backed by a remote OpenAI-compatible API. Remote providers do not say
/// whether they truncated an input: [`Truncation`] reports the server's token count for
/// the batch spread over its inputs only when it gives one, otherwise zeros.
pub struct RemoteEmbedder {
    config: RemoteConfig,
    agent: ureq::Agent,
    dim: usize,
    max_tokens: usize,
}

impl RemoteEmbedder {
    /// An embedder producing `dim`-dimensional vectors; answers of any other size are
    /// errors.
    pub fn new(config: RemoteConfig, dim: usize, max_tokens: usize) -> Self {
        let agent = config.agent();
        Self {
            config,
            agent,
            dim,
            max_tokens,
        }
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<(Vec<Vec<f32>>, usize)> {
        let body = json!({"model": self.config.model, "input": texts, "encoding_format": "float"});
        let value = self
            .config
            .post_json(&self.agent, "embeddings", &body, "embeddings")?;
        let data = value
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no `data` array"))?;
        if data.len() != texts.len() {
            return Err(bad(&format!(
                "{} vectors for {} inputs",
                data.len(),
                texts.len()
            )));
        }
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (position, item) in data.iter().enumerate() {
            let index = item
                .get("index")
                .and_then(Value::as_u64)
                .map_or(position, |i| i as usize);
            let vector: Vec<f32> = item
                .get("embedding")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("an item has no `embedding` array"))?
                .iter()
                .map(|x| x.as_f64().map(|f| f as f32))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("an embedding holds a non-number"))?;
            if vector.len() != self.dim {
                return Err(bad(&format!(
                    "expected {}-dimensional vectors, got {}",
                    self.dim,
                    vector.len()
                )));
            }
            let slot = vectors
                .get_mut(index)
                .ok_or_else(|| bad(&format!("index {index} out of range")))?;
            *slot = Some(normalize(vector));
        }
        let tokens = value
            .pointer("/usage/prompt_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        let vectors = vectors
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("an input got no vector (duplicate index)"))?;
        Ok((vectors, tokens))
    }
}

fn bad(message: &str) -> Error {
    Error::Upstream {
        status: None,
        message: format!("bad embeddings response: {message}"),
    }
}

fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

impl Embedder for RemoteEmbedder {
    fn model_id(&self) -> &str {
        &self.config.model
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn embed(&self, texts: &[&str]) -> Result<Embeddings> {
        let mut vectors = Vec::with_capacity(texts.len());
        let mut truncation = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            let (v, tokens) = self.embed_batch(batch)?;
            let each = tokens / batch.len().max(1);
            truncation.extend(batch.iter().map(|_| Truncation {
                input_tokens: each,
                kept_tokens: each,
            }));
            vectors.extend(v);
        }
        Ok(Embeddings {
            vectors,
            truncation,
        })
    }
}
