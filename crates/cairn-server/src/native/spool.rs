//! Uploads spooled to disk: the multipart `file` field is written to a temporary file
//! under `<data_dir>/tmp` piece by piece while its SHA-256 is computed, so a large
//! upload is never held in memory more than once (when it is parsed) and never hashed
//! twice. The file is removed when the [`Spooled`] value is dropped.

use axum::extract::multipart::{Field, MultipartError};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// An upload on disk.
pub struct Spooled {
    file: tempfile::TempPath,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    pub len: u64,
}

/// Why spooling failed.
pub enum SpoolError {
    /// Reading the body failed (too large, malformed, timed out).
    Body(MultipartError),
    /// The temporary file could not be written.
    Disk(std::io::Error),
}

impl Spooled {
    /// The content, read once.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        std::fs::read(&self.file)
    }
}

/// Writes `field` to a new temporary file in `dir`, hashing it on the way.
pub async fn spool(mut field: Field<'_>, dir: &Path) -> Result<Spooled, SpoolError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(SpoolError::Disk)?;
    let temp = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(dir)
        .map_err(SpoolError::Disk)?;
    let (std_file, path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(std_file);
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(SpoolError::Body)? {
        hasher.update(&chunk);
        len += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(SpoolError::Disk)?;
    }
    file.flush().await.map_err(SpoolError::Disk)?;
    let mut sha256 = String::with_capacity(64);
    for b in hasher.finalize() {
        let _ = write!(sha256, "{b:02x}");
    }
    Ok(Spooled {
        file: path,
        sha256,
        len,
    })
}
