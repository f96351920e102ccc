//! Uploaded bytes waiting for their jobs (see [`crate::upload`]): stored with the job in
//! one transaction, deleted with the commit that completes it or with the job.

use super::jobs::{insert_job, job_tx};
use super::{SqliteStore, db, insert_err, not_found, to_i64};
use crate::columns::UPLOAD_COLS;
use crate::repo::NewJob;
use crate::upload::{NewUpload, StoredUpload, UploadInfo, UploadRepo};
use crate::{Error, Result};
use cairn_types::{Job, JobId, TenantId, UploadId};
use rusqlite::{OptionalExtension, Row, Transaction};

fn upload_not_found(tenant: &TenantId, id: &UploadId) -> Error {
    not_found(format!("upload `{id}` in tenant `{tenant}`"))
}

fn info(row: &Row<'_>) -> rusqlite::Result<UploadInfo> {
    let size: i64 = row.get(8)?;
    Ok(UploadInfo {
        tenant: TenantId::new(row.get::<_, String>(0)?),
        id: UploadId::new(row.get::<_, String>(1)?),
        job: JobId::new(row.get::<_, String>(2)?),
        name: row.get(3)?,
        owner: row.get(4)?,
        idempotency_key: row.get(5)?,
        request_hash: row.get(6)?,
        sha256: row.get(7)?,
        size_bytes: u64::try_from(size).map_err(|e| super::rows::corrupt(8, "size_bytes", e))?,
        created_at: row.get(9)?,
    })
}

/// Deletes the upload inside an open transaction; whether it was there.
pub(crate) fn delete_upload_tx(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    id: &UploadId,
) -> Result<bool> {
    let n = tx
        .prepare_cached("DELETE FROM uploads WHERE tenant_id = ?1 AND id = ?2")
        .and_then(|mut st| st.execute((tenant.as_str(), id.as_str())))
        .map_err(db)?;
    Ok(n > 0)
}

impl UploadRepo for SqliteStore {
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
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                rusqlite::params![
                    tenant.as_str(),
                    upload.id.as_str(),
                    id.as_str(),
                    upload.name,
                    upload.owner,
                    upload.idempotency_key,
                    upload.request_hash,
                    upload.sha256,
                    to_i64(upload.bytes.len()),
                    upload.bytes,
                    now,
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
        self.read(&format!("reading upload `{id}`"), |conn| {
            conn.query_row(
                &format!(
                    "SELECT {UPLOAD_COLS}, bytes FROM uploads WHERE tenant_id = ?1 AND id = ?2"
                ),
                (tenant.as_str(), id.as_str()),
                |row| {
                    Ok(StoredUpload {
                        info: info(row)?,
                        bytes: row.get(10)?,
                    })
                },
            )
            .optional()
            .map_err(db)?
            .ok_or_else(|| upload_not_found(tenant, id))
        })
    }

    fn find_upload_by_key(&self, tenant: &TenantId, key: &str) -> Result<Option<UploadInfo>> {
        self.read("looking up an upload by idempotency key", |conn| {
            conn.query_row(
                &format!(
                    "SELECT {UPLOAD_COLS} FROM uploads WHERE tenant_id = ?1 AND idempotency_key = ?2"
                ),
                (tenant.as_str(), key),
                info,
            )
            .optional()
            .map_err(db)
        })
    }

    fn list_uploads(&self, tenant: &TenantId) -> Result<Vec<UploadInfo>> {
        self.read(&format!("listing uploads of tenant `{tenant}`"), |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {UPLOAD_COLS} FROM uploads WHERE tenant_id = ?1 ORDER BY created_at, id"
                ))
                .map_err(db)?;
            let rows = st.query_map([tenant.as_str()], info).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn delete_upload(&self, tenant: &TenantId, id: &UploadId) -> Result<bool> {
        self.write(&format!("deleting upload `{id}`"), |tx| {
            delete_upload_tx(tx, tenant, id)
        })
    }
}
