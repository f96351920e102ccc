//! The [`Embedder`] trait: texts in, L2-normalized vectors out, with an account of what
//! was truncated. Implemented by the local BERT-family embedder ([`BertEmbedder`]) and the
//! OpenAI-compatible remote provider.

pub(crate) mod bert;
mod pooling;

pub use bert::{BertEmbedder, EmbedderOptions};
pub use pooling::{l2_normalize, masked_mean};

use serde::{Deserialize, Serialize};

/// What truncation did to one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncation {
    /// Tokens the text has (with the model's special tokens).
    pub input_tokens: usize,
    /// Tokens the model saw.
    pub kept_tokens: usize,
}

impl Truncation {
    /// Whether anything was cut.
    pub fn truncated(&self) -> bool {
        self.kept_tokens < self.input_tokens
    }
}

/// Vectors for a batch of texts, in input order.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    /// One unit-length vector per input.
    pub vectors: Vec<Vec<f32>>,
    /// One entry per input.
    pub truncation: Vec<Truncation>,
}

impl Embeddings {
    /// Total tokens the model saw (for usage accounting).
    pub fn tokens(&self) -> usize {
        self.truncation.iter().map(|t| t.kept_tokens).sum()
    }
}

/// A text embedder.
pub trait Embedder: Send + Sync {
    /// The model's identifier.
    fn model_id(&self) -> &str;

    /// The vector dimension.
    fn dim(&self) -> usize;

    /// The longest input in tokens; longer inputs are truncated (and reported).
    fn max_tokens(&self) -> usize;

    /// Embeds a batch of texts.
    fn embed(&self, texts: &[&str]) -> crate::Result<Embeddings>;

    /// Embeds one text.
    fn embed_one(&self, text: &str) -> crate::Result<Vec<f32>> {
        self.embed(&[text])?
            .vectors
            .pop()
            .ok_or_else(|| crate::Error::Inference("the embedder returned no vector".into()))
    }
}

/// Cosine similarity of two vectors (dot product of their normalized forms).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
