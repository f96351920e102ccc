//! Token counting with a Hugging Face `tokenizer.json` (the embedding model's own), so
//! chunk sizes are measured in the tokens the embedder will actually see.

use crate::{Error, Result};
use cairn_types::TokenCounter;
use std::path::Path;
use tokenizers::Tokenizer;

/// A [`TokenCounter`] backed by a `tokenizer.json`. Truncation and padding configured in
/// the file are switched off: counting must see the whole text.
pub struct HfTokenCounter {
    tokenizer: Tokenizer,
    name: String,
}

impl HfTokenCounter {
    /// Loads `<model_dir>/tokenizer.json`.
    pub fn from_model_dir(model_dir: &Path) -> Result<Self> {
        let path = model_dir.join("tokenizer.json");
        if !path.is_file() {
            let name = model_dir
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let dir = model_dir
                .parent()
                .map_or_else(|| model_dir.to_path_buf(), Path::to_path_buf);
            return Err(Error::NotInstalled { name, dir });
        }
        Self::from_file(&path)
    }

    /// Loads a `tokenizer.json` file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| Error::Tokenizer {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        tokenizer.with_padding(None);
        let name = path.parent().and_then(|p| p.file_name()).map_or_else(
            || "tokenizer".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(Self { tokenizer, name })
    }
}

impl TokenCounter for HfTokenCounter {
    fn token_spans(&self, text: &str) -> Vec<(usize, usize)> {
        let Ok(enc) = self.tokenizer.encode(text, false) else {
            // Encoding plain text does not fail for WordPiece/BPE models; if it ever does,
            // fall back to whitespace words so chunk sizes stay bounded.
            return whitespace_spans(text);
        };
        let mut spans: Vec<(usize, usize)> = enc
            .get_offsets()
            .iter()
            .zip(enc.get_special_tokens_mask())
            .filter(|(_, special)| **special == 0)
            .map(|(o, _)| *o)
            .collect();
        // Offsets are byte offsets into `text`; keep them on char boundaries.
        spans.retain(|(s, e)| text.is_char_boundary(*s) && text.is_char_boundary(*e));
        spans
    }

    fn count(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, false)
            .map_or_else(|_| whitespace_spans(text).len(), |e| e.len())
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Whitespace-separated words as tokens: the count used to size chunks for a remote
/// embedder whose tokenizer is not on this machine (a word is 1–2 tokens of a modern
/// tokenizer, so chunks sized in words stay well inside a remote model's window).
pub struct WordCounter;

impl TokenCounter for WordCounter {
    fn token_spans(&self, text: &str) -> Vec<(usize, usize)> {
        whitespace_spans(text)
    }

    fn name(&self) -> &str {
        "words"
    }
}

fn whitespace_spans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MiniLM's tokenizer from the models directory. Missing, the test fails with the
    /// install command (`NotInstalled` names `scripts/fetch-models.sh`), with or without
    /// `CI`: an early return would pass without counting anything.
    fn minilm() -> HfTokenCounter {
        HfTokenCounter::from_model_dir(&crate::default_models_dir().join("all-minilm-l6-v2"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn counts_wordpiece_tokens_without_truncation() {
        let t = minilm();
        // "pg_stat_statements" splits into several WordPiece tokens.
        assert!(t.count("pg_stat_statements") > 3);
        // Much longer than the file's 128-token truncation.
        let long = "word ".repeat(1000);
        assert_eq!(t.count(&long), 1000);
        let spans = t.token_spans("Hello, world");
        assert_eq!(spans, vec![(0, 5), (5, 6), (7, 12)]);
    }

    #[test]
    fn missing_model_names_the_fetch_command() {
        let err = HfTokenCounter::from_model_dir(Path::new("/nonexistent/models/foo"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("fetch-models.sh foo"), "{err}");
    }
}
