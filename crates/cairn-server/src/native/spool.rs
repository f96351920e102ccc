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

/// A multipart upload read: the spooled `file` with its name, and the JSON fields.
pub struct UploadForm {
    pub name: String,
    pub file: Spooled,
    /// The `acl` field, when sent.
    pub acl: Option<cairn_types::Acl>,
    /// The `metadata` field (empty when not sent).
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// Reads a `multipart/form-data` upload: field `file` (spooled under `dir`), and the
/// optional JSON fields `acl` and `metadata` (`acl` only where `takes_acl`).
pub async fn read_form(
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
    dir: &Path,
    takes_acl: bool,
) -> crate::error::ApiResult<UploadForm> {
    use crate::error::ApiError;
    use axum::http::StatusCode;
    use cairn_types::ErrorCode;
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("expected a multipart/form-data upload: {}", e.body_text()),
        )
    })?;
    let too_large = |e: MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::TooLarge,
                "the upload exceeds server.max_upload_bytes",
            )
        } else {
            ApiError::invalid(format!("malformed multipart body: {}", e.body_text()))
        }
    };
    let mut file = None;
    let mut acl = None;
    let mut metadata = serde_json::Map::new();
    while let Some(field) = multipart.next_field().await.map_err(too_large)? {
        match field.name().unwrap_or("") {
            "file" => {
                let name = field
                    .file_name()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::invalid("the `file` field needs a file name"))?;
                let spooled = spool(field, dir).await.map_err(|e| match e {
                    SpoolError::Body(e) => too_large(e),
                    SpoolError::Disk(e) => ApiError::new(
                        ErrorCode::Internal,
                        format!("could not spool the upload to disk: {e}"),
                    ),
                })?;
                file = Some((name, spooled));
            }
            "acl" if takes_acl => {
                let text = field.text().await.map_err(too_large)?;
                acl = Some(serde_json::from_str(&text).map_err(|e| {
                    ApiError::invalid(format!("`acl` is not valid JSON: {e}")).with_param("acl")
                })?);
            }
            "metadata" => {
                let text = field.text().await.map_err(too_large)?;
                metadata = serde_json::from_str(&text).map_err(|e| {
                    ApiError::invalid(format!("`metadata` must be a JSON object: {e}"))
                        .with_param("metadata")
                })?;
            }
            other => {
                let expected = if takes_acl {
                    "file, acl, metadata"
                } else {
                    "file, metadata"
                };
                return Err(ApiError::invalid(format!(
                    "unknown multipart field `{other}` (expected {expected})"
                )));
            }
        }
    }
    let (name, file) = file.ok_or_else(|| ApiError::invalid("the upload has no `file` field"))?;
    Ok(UploadForm {
        name,
        file,
        acl,
        metadata,
    })
}
