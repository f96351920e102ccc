//! The upload path: bytes handed in directly (the HTTP API's multipart upload), guarded
//! by an idempotency key, and either processed at once ([`Engine::ingest_bytes`]) or
//! stored with a durable job that a worker runs ([`Engine::enqueue_upload`], then
//! [`Engine::run_upload_job`]).
//!
//! A key first used with some content always returns the document that content produced
//! (or, while its job is pending, that job); reusing it with different content is a
//! `conflict`, and nothing stored changes.
//!
//! Uploads of one name apply in the order they were received: an upload's document
//! records when it was received as its `mtime`, and the commit of an asynchronous upload
//! never replaces the document of a later one (see `DocumentCommit::upload`).

use super::process::{Prepared, SourceInfo};
use super::{DocOutcome, IngestOptions};
use crate::engine::now_ms;
use crate::{Engine, Error, Result};
use cairn_store::{IdempotencyRecord, NewJob, NewUpload};
use cairn_types::{
    Acl, Collection, CollectionId, Document, ErrorCode, Job, JobId, JobKind, TenantId, UploadId,
};

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
    /// Checked right before the commit (or the enqueue); see [`CommitGate`].
    pub commit_gate: Option<CommitGate<'a>>,
    pub idempotency_key: Option<&'a str>,
    pub acl: Acl,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The uploading user (`Principal::owner`), stamped on the document.
    pub owner: Option<String>,
    /// The tenant's guardrails: their `pii_ingest` policy applies to the text. (An
    /// asynchronous upload's job uses the tenant's guard of the time it runs.)
    pub guard: Option<std::sync::Arc<cairn_guard::Guard>>,
}

/// What an asynchronous upload request got.
#[derive(Clone, Debug)]
pub enum UploadAccepted {
    /// The bytes and their job are stored; a worker will run the job. Also the answer
    /// to a retry whose idempotency key names a pending upload.
    Queued(Job),
    /// The idempotency key was used for this upload before and its job is done: the
    /// document it stored.
    Done(Document),
}

/// Where an upload's document is committed from: the request itself, or a job.
struct Origin<'a> {
    job: Option<&'a JobId>,
    upload: Option<&'a UploadId>,
    /// When the upload was received: the document's `mtime`.
    received_at: i64,
}

/// An upload's stored result.
pub(super) struct Stored {
    pub doc: Document,
    /// `Unchanged` also for an upload a later one of the same name superseded.
    pub outcome: DocOutcome,
    /// Chunks written.
    pub chunks: usize,
    /// Bytes processed.
    pub bytes: u64,
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
        let received_at = now_ms();
        check_name(req.name)?;
        let coll = self.ensure_collection(tenant, collection)?;
        self.check_embedder(tenant, collection)?;
        let content_hash = req
            .content_hash
            .map_or_else(|| cairn_ingest::content_hash(req.bytes), str::to_owned);
        let request_hash = request_hash(collection, req, &content_hash);
        if let Some(doc) = self.idempotent_upload(tenant, req.idempotency_key, &request_hash)? {
            return Ok(doc);
        }
        let origin = Origin {
            job: None,
            upload: None,
            received_at,
        };
        Ok(self
            .store_upload(tenant, &coll, req, content_hash, request_hash, &origin)?
            .doc)
    }

    /// Stores the uploaded bytes with a job that ingests them into an existing
    /// collection (`not_found` otherwise: a job needs its collection), in one
    /// transaction; a worker (`cairn worker`, or the ingest workers of `cairn serve`)
    /// runs it. Validated first as [`Self::ingest_bytes`] validates (name, size,
    /// idempotency key), so a refused upload stores nothing.
    pub fn enqueue_upload(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        req: &UploadRequest<'_>,
    ) -> Result<UploadAccepted> {
        check_name(req.name)?;
        let source = format!("upload:{}", req.name);
        self.store.get_collection(tenant, collection)?;
        self.check_size(&source, req.bytes.len() as u64)?;
        let content_hash = req
            .content_hash
            .map_or_else(|| cairn_ingest::content_hash(req.bytes), str::to_owned);
        let request_hash = request_hash(collection, req, &content_hash);
        if let Some(doc) = self.idempotent_upload(tenant, req.idempotency_key, &request_hash)? {
            return Ok(UploadAccepted::Done(doc));
        }
        if let Some(job) = self.pending_upload(tenant, req.idempotency_key, &request_hash)? {
            return Ok(UploadAccepted::Queued(job));
        }
        let id = UploadId::generate();
        let job = NewJob {
            collection: collection.clone(),
            batch: format!("upload:{id}"),
            kind: JobKind::IngestUpload {
                upload: id.clone(),
                name: req.name.to_owned(),
                acl: req.acl.clone(),
                metadata: req.metadata.clone(),
                owner: req.owner.clone(),
                idempotency_key: req.idempotency_key.map(str::to_owned),
                content_hash: content_hash.clone(),
            },
            max_attempts: self.config.ingest.max_attempts,
        };
        let upload = NewUpload {
            id,
            name: req.name.to_owned(),
            owner: req.owner.clone(),
            idempotency_key: req.idempotency_key.map(str::to_owned),
            request_hash: request_hash.clone(),
            sha256: content_hash,
            bytes: req.bytes,
        };
        if req.commit_gate.is_some_and(|gate| !(gate.0)()) {
            return Err(cancelled(req.name));
        }
        match self.store.enqueue_upload(tenant, &upload, &job, now_ms()) {
            Ok(job) => Ok(UploadAccepted::Queued(job)),
            // Another request with this key was stored first (a client's retry racing
            // its first attempt): answer as a retry after it would have been answered.
            Err(cairn_store::Error::Conflict(m)) => {
                match self.pending_upload(tenant, req.idempotency_key, &request_hash)? {
                    Some(job) => Ok(UploadAccepted::Queued(job)),
                    None => Err(Error::new(ErrorCode::Conflict, m)),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Runs an `ingest_upload` job: reads its bytes from the store and processes them
    /// as [`Self::ingest_bytes`] does (size, format, the idempotency key, the tenant's
    /// ingest guardrails), completing the job and deleting the bytes with the commit.
    pub(super) fn run_upload_job(&self, job: &Job) -> Result<Stored> {
        let JobKind::IngestUpload {
            upload,
            name,
            acl,
            metadata,
            owner,
            idempotency_key,
            content_hash,
        } = &job.kind
        else {
            return Err(Error::new(
                ErrorCode::Internal,
                format!("job `{}` is not an upload", job.id),
            ));
        };
        let tenant = &job.tenant;
        let coll = self.store.get_collection(tenant, &job.collection)?;
        self.check_embedder(tenant, &job.collection)?;
        let stored = self.store.get_upload(tenant, upload)?;
        // The limit may have shrunk since the upload was accepted.
        self.check_size(&job.kind.target(), stored.info.size_bytes)?;
        let req = UploadRequest {
            name,
            bytes: &stored.bytes,
            content_hash: Some(content_hash),
            commit_gate: None,
            idempotency_key: idempotency_key.as_deref(),
            acl: acl.clone(),
            metadata: metadata.clone(),
            owner: owner.clone(),
            guard: Some(self.tenant_guard(tenant)?),
        };
        let request_hash = request_hash(&job.collection, &req, content_hash);
        let origin = Origin {
            job: Some(&job.id),
            upload: Some(upload),
            received_at: job.created_at,
        };
        self.store_upload(
            tenant,
            &coll,
            &req,
            content_hash.clone(),
            request_hash,
            &origin,
        )
    }

    /// The document an idempotency key already stored for this request, if any;
    /// `conflict` if the key was used with another request.
    fn idempotent_upload(
        &self,
        tenant: &TenantId,
        key: Option<&str>,
        request_hash: &str,
    ) -> Result<Option<Document>> {
        let Some(key) = key else { return Ok(None) };
        let Some(rec) = self.store.get_idempotency(tenant, key)? else {
            return Ok(None);
        };
        if rec.request_hash != request_hash {
            return Err(key_reused(key));
        }
        Ok(Some(self.store.get_document(tenant, &rec.document)?))
    }

    /// The job of the stored upload that holds this idempotency key, if any; `conflict`
    /// if that upload is another request.
    fn pending_upload(
        &self,
        tenant: &TenantId,
        key: Option<&str>,
        request_hash: &str,
    ) -> Result<Option<Job>> {
        let Some(key) = key else { return Ok(None) };
        let Some(pending) = self.store.find_upload_by_key(tenant, key)? else {
            return Ok(None);
        };
        if pending.request_hash != request_hash {
            return Err(key_reused(key));
        }
        Ok(Some(self.store.get_job(tenant, &pending.job)?))
    }

    /// Processes and commits one upload (the part both paths share).
    fn store_upload(
        &self,
        tenant: &TenantId,
        coll: &Collection,
        req: &UploadRequest<'_>,
        content_hash: String,
        request_hash: String,
        origin: &Origin<'_>,
    ) -> Result<Stored> {
        let source = format!("upload:{}", req.name);
        let info = SourceInfo {
            source: &source,
            file_name: req.name,
            mtime: origin.received_at,
        };
        let opts = IngestOptions {
            acl: req.acl.clone(),
            metadata: req.metadata.clone(),
            owner: req.owner.clone(),
            guard: req.guard.clone(),
            content_hash: Some(content_hash),
            deliberate: true,
            ..IngestOptions::default()
        };
        match self.prepare_document(tenant, coll, &info, req.bytes, &opts)? {
            Prepared::Unchanged(id) => {
                // The same content is stored: it now counts as received at this upload's
                // time (unless a later upload's is recorded already).
                let existing = self.store.get_document(tenant, &id)?;
                let mtime = existing.mtime.max(origin.received_at);
                self.store
                    .touch_document(tenant, &id, mtime, origin.job, now_ms())?;
                if let Some(upload) = origin.upload {
                    self.store.delete_upload(tenant, upload)?;
                }
                Ok(Stored {
                    doc: self.store.get_document(tenant, &id)?,
                    outcome: DocOutcome::Unchanged,
                    chunks: 0,
                    bytes: req.bytes.len() as u64,
                })
            }
            Prepared::Commit {
                mut commit,
                outcome,
            } => {
                commit.idempotency = req.idempotency_key.map(|key| IdempotencyRecord {
                    key: key.to_owned(),
                    request_hash,
                    document: commit.doc.id.clone(),
                });
                commit.job = origin.job.cloned();
                commit.upload = origin.upload.cloned();
                if req.commit_gate.is_some_and(|gate| !(gate.0)()) {
                    return Err(cancelled(req.name));
                }
                let chunks = commit.chunks.len();
                let doc = tracing::info_span!("ingest.commit", cairn.chunks = chunks)
                    .in_scope(|| self.store.commit_document(tenant, *commit, now_ms()))?;
                let superseded = origin.upload.is_some() && doc.mtime > origin.received_at;
                if superseded {
                    tracing::info!(
                        source = %doc.source,
                        "a later upload of this name is stored already; this one is superseded"
                    );
                }
                Ok(Stored {
                    doc,
                    outcome: if superseded {
                        DocOutcome::Unchanged
                    } else {
                        outcome
                    },
                    chunks: if superseded { 0 } else { chunks },
                    bytes: req.bytes.len() as u64,
                })
            }
        }
    }
}

/// An upload's name must be a plain file name.
fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.contains('/') {
        return Err(Error::new(
            ErrorCode::InvalidInput,
            "upload name must be a plain, non-empty file name",
        ));
    }
    Ok(())
}

fn key_reused(key: &str) -> Error {
    Error::new(
        ErrorCode::Conflict,
        format!("idempotency key `{key}` was already used with a different upload"),
    )
}

fn cancelled(name: &str) -> Error {
    Error::new(
        ErrorCode::Cancelled,
        format!("the request uploading `{name}` ended before it was stored; nothing was stored"),
    )
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
