//! The upload path: bytes handed in directly (the HTTP API's multipart upload), processed
//! synchronously and guarded by an idempotency key.
//!
//! A key first used with some content always returns the document that content produced;
//! reusing it with different content is a `conflict`, and nothing stored changes.

use super::IngestOptions;
use super::process::{Prepared, SourceInfo};
use crate::engine::now_ms;
use crate::{Engine, Error, Result};
use cairn_store::IdempotencyRecord;
use cairn_types::{Acl, CollectionId, Document, ErrorCode, TenantId};

/// Asked right before an upload is stored: `false` means the request that sent it is
/// gone (timed out, disconnected), so nothing may be stored and the upload fails with
/// `cancelled`.
#[derive(Clone, Copy)]
pub struct CommitGate<'a>(pub &'a (dyn Fn() -> bool + Sync));

impl std::fmt::Debug for CommitGate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitGate")
    }
}

/// One uploaded file.
#[derive(Clone, Debug, Default)]
pub struct UploadRequest<'a> {
    /// File name: used for format detection, the fallback title, and the source key
    /// (`upload:<name>`), so uploading the same name again replaces that document.
    pub name: &'a str,
    pub bytes: &'a [u8],
    /// SHA-256 (hex) of `bytes` when the caller hashed them on the way in; `None`
    /// hashes them here.
    pub content_hash: Option<&'a str>,
    /// Checked right before the commit; see [`CommitGate`].
    pub commit_gate: Option<CommitGate<'a>>,
    pub idempotency_key: Option<&'a str>,
    pub acl: Acl,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The uploading user (`Principal::owner`), stamped on the document.
    pub owner: Option<String>,
    /// The tenant's guardrails: their `pii_ingest` policy applies to the text.
    pub guard: Option<std::sync::Arc<cairn_guard::Guard>>,
}

impl Engine {
    /// Ingests uploaded bytes into a collection (created if missing) and returns the
    /// stored document.
    pub fn ingest_bytes(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        req: &UploadRequest<'_>,
    ) -> Result<Document> {
        if req.name.trim().is_empty() || req.name.contains('/') {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                "upload name must be a plain, non-empty file name",
            ));
        }
        let coll = self.ensure_collection(tenant, collection)?;
        self.check_embedder(tenant, collection)?;
        let content_hash = req
            .content_hash
            .map_or_else(|| cairn_ingest::content_hash(req.bytes), str::to_owned);
        let request_hash = request_hash(collection, req, &content_hash);
        let prior = match req.idempotency_key {
            Some(key) => self
                .store
                .get_idempotency(tenant, key)?
                .map(|rec| (key, rec)),
            None => None,
        };
        if let Some((key, rec)) = prior {
            if rec.request_hash != request_hash {
                return Err(Error::new(
                    ErrorCode::Conflict,
                    format!("idempotency key `{key}` was already used with a different upload"),
                ));
            }
            return Ok(self.store.get_document(tenant, &rec.document)?);
        }
        let source = format!("upload:{}", req.name);
        let info = SourceInfo {
            source: &source,
            file_name: req.name,
            mtime: 0,
        };
        let opts = IngestOptions {
            acl: req.acl.clone(),
            metadata: req.metadata.clone(),
            owner: req.owner.clone(),
            guard: req.guard.clone(),
            content_hash: Some(content_hash),
            ..IngestOptions::default()
        };
        match self.prepare_document(tenant, &coll, &info, req.bytes, &opts)? {
            Prepared::Unchanged(id) => Ok(self.store.get_document(tenant, &id)?),
            Prepared::Commit { mut commit, .. } => {
                commit.idempotency = req.idempotency_key.map(|key| IdempotencyRecord {
                    key: key.to_owned(),
                    request_hash,
                    document: commit.doc.id.clone(),
                });
                if req.commit_gate.is_some_and(|gate| !(gate.0)()) {
                    return Err(Error::new(
                        ErrorCode::Cancelled,
                        format!(
                            "the request uploading `{}` ended before it was stored; nothing was stored",
                            req.name
                        ),
                    ));
                }
                let chunks = commit.chunks.len();
                Ok(tracing::info_span!("ingest.commit", cairn.chunks = chunks)
                    .in_scope(|| self.store.commit_document(tenant, *commit, now_ms()))?)
            }
        }
    }
}

/// Hash of everything that defines an upload request: the collection, name, ACL,
/// metadata and owner, and the content by its hash (the bytes are not copied).
fn request_hash(collection: &CollectionId, req: &UploadRequest<'_>, content_hash: &str) -> String {
    let acl = serde_json::to_string(&req.acl).unwrap_or_default();
    let metadata = serde_json::to_string(&req.metadata).unwrap_or_default();
    // Another user's retry with the same key must not return this user's document.
    let owner = req.owner.as_deref().unwrap_or("");
    let parts = [
        collection.as_str(),
        req.name,
        &acl,
        &metadata,
        owner,
        content_hash,
    ];
    let mut buf = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for part in parts {
        buf.extend_from_slice(part.as_bytes());
        buf.push(0);
    }
    cairn_ingest::content_hash(&buf)
}
