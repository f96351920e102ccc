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

/// One uploaded file.
#[derive(Clone, Debug)]
pub struct UploadRequest<'a> {
    /// File name: used for format detection, the fallback title, and the source key
    /// (`upload:<name>`), so uploading the same name again replaces that document.
    pub name: &'a str,
    pub bytes: &'a [u8],
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
        let request_hash = request_hash(collection, req);
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
                Ok(self.store.commit_document(tenant, *commit, now_ms())?)
            }
        }
    }
}

/// Hash of everything that defines an upload request.
fn request_hash(collection: &CollectionId, req: &UploadRequest<'_>) -> String {
    let mut buf = Vec::with_capacity(req.bytes.len() + 256);
    for part in [collection.as_str(), req.name] {
        buf.extend_from_slice(part.as_bytes());
        buf.push(0);
    }
    buf.extend_from_slice(
        serde_json::to_string(&req.acl)
            .unwrap_or_default()
            .as_bytes(),
    );
    buf.push(0);
    buf.extend_from_slice(
        serde_json::to_string(&req.metadata)
            .unwrap_or_default()
            .as_bytes(),
    );
    buf.push(0);
    // Another user's retry with the same key must not return this user's document.
    buf.extend_from_slice(req.owner.as_deref().unwrap_or("").as_bytes());
    buf.push(0);
    buf.extend_from_slice(req.bytes);
    cairn_ingest::content_hash(&buf)
}
