//! Engine errors: a stable code and a message, converted from each layer's errors.

use cairn_types::ErrorCode;

/// An engine failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Result with the engine [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<cairn_store::Error> for Error {
    fn from(e: cairn_store::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<cairn_ingest::Error> for Error {
    fn from(e: cairn_ingest::Error) -> Self {
        Self::new(e.code, e.message)
    }
}

impl From<cairn_models::Error> for Error {
    fn from(e: cairn_models::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<cairn_config::Error> for Error {
    fn from(e: cairn_config::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<cairn_index::Error> for Error {
    fn from(e: cairn_index::Error) -> Self {
        let code = match e {
            cairn_index::Error::Invalid(_) => ErrorCode::InvalidInput,
            _ => ErrorCode::IndexError,
        };
        Self::new(code, e.to_string())
    }
}
