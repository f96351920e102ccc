//! Store errors.

use cairn_types::ErrorCode;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named row does not exist in this tenant.
    #[error("{what} not found")]
    NotFound { what: String },
    /// A unique key is already taken, or an idempotency key was reused with other content.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database is busy or locked; retrying may succeed.
    #[error("database busy: {0}")]
    Busy(String),
    /// A stored value could not be decoded (corrupt row or schema mismatch).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(String),
}

impl Error {
    /// The stable error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Busy(_) => ErrorCode::Transient,
            Self::Corrupt(_) | Self::Database(_) => ErrorCode::StoreError,
        }
    }
}

/// Result with the store [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
