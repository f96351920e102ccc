//! Uploaded files waiting for their ingest job: the bytes an asynchronous upload sent,
//! kept in the store itself (so every server and `cairn worker` sharing it can read
//! them, and none depends on one node's disk) from the request that enqueued the job
//! until the job is done.
//!
//! Lifetime of an upload's bytes:
//! - stored by [`UploadRepo::enqueue_upload`] in the same transaction as its job, so a
//!   job never exists without its bytes nor bytes without their job;
//! - deleted with the document commit that completes the job
//!   ([`crate::DocumentCommit::upload`]), or by [`UploadRepo::delete_upload`] right
//!   after a job that stores no new version (the content was unchanged);
//! - kept while the job is queued, running or dead (so `cairn jobs retry` can run it
//!   again), and deleted with the job whenever the job goes: a retention sweep of
//!   finished jobs, the deletion of its collection or tenant (`uploads.job_id`
//!   references the job with `ON DELETE CASCADE`), and the erasure of the uploader
//!   (`PrivacyRepo::erase_owner` deletes the owner's upload jobs and their bytes). A
//!   retention sweep keeps the finished jobs of uploads whose uploader is under legal
//!   hold, bytes included.

use crate::Result;
use crate::repo::NewJob;
use cairn_types::{Job, JobId, TenantId, UploadId};

/// An upload to store with its job (the bytes borrowed: an upload is never copied in
/// memory on its way in).
#[derive(Clone, Debug)]
pub struct NewUpload<'a> {
    pub id: UploadId,
    /// The file name as uploaded.
    pub name: String,
    /// The uploading user (`Principal::owner`); erasure of that user deletes it.
    pub owner: Option<String>,
    /// The request's `Idempotency-Key`: at most one stored upload per key and tenant.
    pub idempotency_key: Option<String>,
    /// Hash of everything that defines the upload request (what an idempotency key is
    /// checked against).
    pub request_hash: String,
    /// SHA-256 (hex) of `bytes`.
    pub sha256: String,
    pub bytes: &'a [u8],
}

/// What is stored about an upload, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UploadInfo {
    pub tenant: TenantId,
    pub id: UploadId,
    /// The job that ingests it.
    pub job: JobId,
    pub name: String,
    pub owner: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub created_at: i64,
}

/// An upload with its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredUpload {
    pub info: UploadInfo,
    pub bytes: Vec<u8>,
}

/// Uploaded bytes waiting for their jobs.
pub trait UploadRepo {
    /// Stores the upload and enqueues `job` (whose kind names `upload.id`) in one
    /// transaction, and returns the job. Uploads are never de-duplicated against other
    /// jobs. `Conflict` if another stored upload of the tenant holds the same
    /// idempotency key (nothing is stored then); `NotFound` if the job's collection is
    /// not the tenant's.
    fn enqueue_upload(
        &self,
        tenant: &TenantId,
        upload: &NewUpload<'_>,
        job: &NewJob,
        now: i64,
    ) -> Result<Job>;
    /// The upload with its bytes; `NotFound` once it is gone (or in another tenant).
    fn get_upload(&self, tenant: &TenantId, id: &UploadId) -> Result<StoredUpload>;
    /// The stored upload that holds this idempotency key, if any.
    fn find_upload_by_key(&self, tenant: &TenantId, key: &str) -> Result<Option<UploadInfo>>;
    /// The tenant's stored uploads, oldest first (without their bytes).
    fn list_uploads(&self, tenant: &TenantId) -> Result<Vec<UploadInfo>>;
    /// Deletes the upload's bytes; `false` if they were already gone.
    fn delete_upload(&self, tenant: &TenantId, id: &UploadId) -> Result<bool>;
}

/// `owner`'s stored uploads in `tenant` (what a GDPR export lists).
pub(crate) fn owned_uploads(
    store: &dyn UploadRepo,
    tenant: &TenantId,
    owner: &str,
) -> Result<Vec<UploadInfo>> {
    Ok(store
        .list_uploads(tenant)?
        .into_iter()
        .filter(|u| u.owner.as_deref() == Some(owner))
        .collect())
}
