//! Uploaded bytes waiting for their jobs on PostgreSQL (see [`crate::upload`]): stored
//! with the job in one transaction, deleted with the commit that completes it or with
//! the job. Two nodes storing uploads with one idempotency key at once meet on the
//! unique index `uploads_by_key`: the second waits for the first and then fails with
//! `Conflict`, its job rolled back with it.

use super::jobs::{insert_job, job_tx};
use super::rows::{count, get};
use super::{PostgresStore, db, insert_err, not_found, to_i64};
use crate::columns::UPLOAD_COLS;
use crate::repo::NewJob;
use crate::upload::{NewUpload, StoredUpload, UploadInfo, UploadRepo};
use crate::{Error, Result};
use cairn_types::{Job, JobId, TenantId, UploadId};
use postgres::{Row, Transaction};

fn upload_not_found(tenant: &TenantId, id: &UploadId) -> Error {
    not_found(format!("upload `{id}` in tenant `{tenant}`"))
}

fn info(row: &Row) -> Result<UploadInfo> {
    Ok(UploadInfo {
        tenant: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        id: UploadId::new(get::<String>(row, 1, "id")?),
        job: JobId::new(get::<String>(row, 2, "job_id")?),
        name: get(row, 3, "name")?,
        owner: get(row, 4, "owner")?,
        idempotency_key: get(row, 5, "idempotency_key")?,
        request_hash: get(row, 6, "request_hash")?,
        sha256: get(row, 7, "sha256")?,
        size_bytes: count(row, 8, "size_bytes")? as u64,
        created_at: get(row, 9, "created_at")?,
    })
}

/// Deletes the upload inside an open transaction; whether it was there.
pub(crate) fn delete_upload_tx(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    id: &UploadId,
) -> Result<bool> {
    let n = tx
        .execute(
            "DELETE FROM uploads WHERE tenant_id = $1 AND id = $2",
            &[&tenant.as_str(), &id.as_str()],
        )
        .map_err(db)?;
    Ok(n > 0)
}

impl UploadRepo for PostgresStore {
    fn enqueue_upload(
        &self,
        tenant: &TenantId,
        upload: &NewUpload<'_>,
        job: &NewJob,
        now: i64,
    ) -> Result<Job> {
        self.write(&format!("storing upload `{}`", upload.name), |tx| {
            let id = insert_job(tx, tenant, job, now)?.ok_or_else(|| {
                Error::Conflict(format!(
                    "upload `{}` is already queued in tenant `{tenant}`",
                    upload.id
                ))
            })?;
            tx.execute(
                "INSERT INTO uploads(tenant_id, id, job_id, name, owner, idempotency_key,
                    request_hash, sha256, size_bytes, bytes, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &tenant.as_str(),
                    &upload.id.as_str(),
                    &id.as_str(),
                    &upload.name,
                    &upload.owner,
                    &upload.idempotency_key,
                    &upload.request_hash,
                    &upload.sha256,
                    &to_i64(upload.bytes.len()),
                    &upload.bytes,
                    &now,
                ],
            )
            .map_err(|e| {
                insert_err(
                    e,
                    || match &upload.idempotency_key {
                        Some(key) => format!(
                            "idempotency key `{key}` is held by another upload in tenant `{tenant}`"
                        ),
                        None => format!("upload id `{}` is taken in tenant `{tenant}`", upload.id),
                    },
                    || format!("tenant `{tenant}`"),
                )
            })?;
            job_tx(tx, tenant, &id)
        })
    }

    fn get_upload(&self, tenant: &TenantId, id: &UploadId) -> Result<StoredUpload> {
        self.read(&format!("reading upload `{id}`"), |client| {
            let row = client
                .query_opt(
                    &format!(
                        "SELECT {UPLOAD_COLS}, bytes FROM uploads WHERE tenant_id = $1 AND id = $2"
                    ),
                    &[&tenant.as_str(), &id.as_str()],
                )
                .map_err(db)?
                .ok_or_else(|| upload_not_found(tenant, id))?;
            Ok(StoredUpload {
                info: info(&row)?,
                bytes: get(&row, 10, "bytes")?,
            })
        })
    }

    fn find_upload_by_key(&self, tenant: &TenantId, key: &str) -> Result<Option<UploadInfo>> {
        self.read("looking up an upload by idempotency key", |client| {
            client
                .query_opt(
                    &format!(
                        "SELECT {UPLOAD_COLS} FROM uploads
                         WHERE tenant_id = $1 AND idempotency_key = $2"
                    ),
                    &[&tenant.as_str(), &key],
                )
                .map_err(db)?
                .map(|row| info(&row))
                .transpose()
        })
    }

    fn list_uploads(&self, tenant: &TenantId) -> Result<Vec<UploadInfo>> {
        self.read(&format!("listing uploads of tenant `{tenant}`"), |client| {
            client
                .query(
                    &format!(
                        "SELECT {UPLOAD_COLS} FROM uploads WHERE tenant_id = $1
                         ORDER BY created_at, id"
                    ),
                    &[&tenant.as_str()],
                )
                .map_err(db)?
                .iter()
                .map(info)
                .collect()
        })
    }

    fn delete_upload(&self, tenant: &TenantId, id: &UploadId) -> Result<bool> {
        self.write(&format!("deleting upload `{id}`"), |tx| {
            delete_upload_tx(tx, tenant, id)
        })
    }
}
