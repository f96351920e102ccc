//! Token counting, as a seam between the chunkers (which need counts in the embedding
//! model's tokenizer) and the models crate (which owns tokenizers).

/// Counts tokens the way the embedding model will.
pub trait TokenCounter: Send + Sync {
    /// Byte spans `(start, end)` of each token in `text`, in order, excluding special
    /// tokens such as `[CLS]`/`[SEP]`. Spans index into `text` and lie on char boundaries.
    fn token_spans(&self, text: &str) -> Vec<(usize, usize)>;

    /// Number of tokens in `text`, excluding special tokens.
    fn count(&self, text: &str) -> usize {
        self.token_spans(text).len()
    }

    /// A short name for reports (e.g. the tokenizer's model).
    fn name(&self) -> &str;
}
