//! Index errors.

/// What can go wrong in an index space.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The on-disk index cannot be read: the caller wipes and rebuilds it.
    #[error("index is corrupt: {0}")]
    Corrupt(String),
    /// Disk or lock trouble.
    #[error("index I/O: {0}")]
    Io(String),
    /// A caller mistake (wrong tenant, wrong dimension, bad filter).
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<tantivy::TantivyError> for Error {
    fn from(e: tantivy::TantivyError) -> Self {
        match e {
            tantivy::TantivyError::DataCorruption(c) => Self::Corrupt(format!("{c:?}")),
            other => Self::Io(other.to_string()),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}
