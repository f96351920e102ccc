//! Durable jobs: enqueue with de-duplication, atomic claim with a lease, heartbeat,
//! failure with retry or dead letter, manual retry, and reclaiming the leases of expired
//! or dead workers.
//!
//! States: `queued` → (claim) → `running` → `succeeded` | `queued` (retry after a
//! backoff) | `dead`; `dead` → (retry_job) → `queued`; `running` → (reclaim) → `queued`.
//! `succeeded` is final: nothing moves a job out of it.

use super::rows::{JOB_COLS, job, to_json};
use super::{Durability, SqliteStore, db, insert_err, not_found, to_i64};
use crate::repo::{AclViewer, JobFilter, JobRepo, NewJob};
use crate::{Error, Result};
use cairn_types::{CollectionId, DocumentId, ErrorCode, Job, JobId, JobState, TenantId};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params_from_iter};

fn job_not_found(tenant: &TenantId, id: &JobId) -> Error {
    not_found(format!("job `{id}` in tenant `{tenant}`"))
}

/// The job's current state, if it exists in this tenant.
fn state_of(conn: &Connection, tenant: &TenantId, id: &JobId) -> Result<Option<JobState>> {
    let s: Option<String> = conn
        .query_row(
            "SELECT state FROM jobs WHERE tenant_id = ?1 AND id = ?2",
            (tenant.as_str(), id.as_str()),
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    s.map(|s| {
        JobState::parse(&s).ok_or_else(|| Error::Corrupt(format!("job `{id}` has state `{s}`")))
    })
    .transpose()
}

/// Marks a queued or running job succeeded inside an open transaction, whoever holds
/// its lease (a reclaimed job finished by its first worker is still done). A job that
/// already succeeded or is dead is left as it is. `NotFound` if the tenant has no such job.
pub(crate) fn complete_job_tx(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    id: &JobId,
    document: Option<&DocumentId>,
    chunks: usize,
    now: i64,
) -> Result<()> {
    let n = tx
        .execute(
            "UPDATE jobs SET state = 'succeeded', document_id = ?3, chunks = ?4, lease_owner = NULL,
                lease_until = NULL, last_error = NULL, error_code = NULL, updated_at = ?5
             WHERE tenant_id = ?1 AND id = ?2 AND state IN ('queued', 'running')",
            (tenant.as_str(), id.as_str(), document.map(DocumentId::as_str), to_i64(chunks), now),
        )
        .map_err(db)?;
    if n == 0 {
        match state_of(tx, tenant, id)? {
            None => return Err(job_not_found(tenant, id)),
            Some(state) => tracing::debug!(job = %id, state = state.as_str(), "job already final"),
        }
    }
    Ok(())
}

/// Enqueues one job inside an open transaction unless a job equal to it (same collection
/// and kind) is queued or running; returns its id when it was inserted.
pub(crate) fn insert_job(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    j: &NewJob,
    now: i64,
) -> Result<Option<JobId>> {
    let kind = to_json(&j.kind)?;
    // Collection slugs cannot contain the unit separator.
    let dedup = format!("{}\u{1f}{kind}", j.collection);
    let active = tx
        .prepare_cached(
            "SELECT 1 FROM jobs WHERE tenant_id = ?1 AND dedup_key = ?2
               AND state IN ('queued', 'running')",
        )
        .and_then(|mut st| st.exists((tenant.as_str(), dedup.as_str())))
        .map_err(db)?;
    if active {
        return Ok(None);
    }
    let id = JobId::generate();
    let params = (
        tenant.as_str(),
        id.as_str(),
        j.collection.as_str(),
        j.batch.as_str(),
        &kind,
        &dedup,
        j.max_attempts,
        now,
    );
    tx.prepare_cached(
        "INSERT INTO jobs(tenant_id, id, collection_id, batch, kind, dedup_key, state,
            attempts, max_attempts, run_after, chunks, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?8, 0, ?8, ?8)",
    )
    .and_then(|mut st| st.execute(params))
    .map_err(|e| {
        insert_err(
            e,
            || format!("job id `{id}` is already taken in tenant `{tenant}`"),
            || format!("collection `{}` in tenant `{tenant}`", j.collection),
        )
    })?;
    Ok(Some(id))
}

/// The job, read inside an open transaction.
pub(crate) fn job_tx(tx: &Transaction<'_>, tenant: &TenantId, id: &JobId) -> Result<Job> {
    tx.query_row(
        &format!("SELECT {JOB_COLS} FROM jobs WHERE tenant_id = ?1 AND id = ?2"),
        (tenant.as_str(), id.as_str()),
        job,
    )
    .optional()
    .map_err(db)?
    .ok_or_else(|| job_not_found(tenant, id))
}

impl JobRepo for SqliteStore {
    fn enqueue(&self, tenant: &TenantId, jobs: &[NewJob], now: i64) -> Result<Vec<JobId>> {
        self.write(&format!("enqueuing jobs in tenant `{tenant}`"), |tx| {
            let mut ids = Vec::new();
            for j in jobs {
                ids.extend(insert_job(tx, tenant, j, now)?);
            }
            Ok(ids)
        })
    }

    fn claim(
        &self,
        owner: &str,
        lease_ms: i64,
        batch: Option<&str>,
        now: i64,
    ) -> Result<Option<Job>> {
        // One statement inside an immediate transaction: the pick and the lease are
        // atomic, in this process (writer mutex) and across processes (write lock).
        self.write_with(Durability::Relaxed, "claiming a job", |tx| {
            tx.query_row(
                &format!(
                    "UPDATE jobs SET state = 'running', lease_owner = ?3, lease_until = ?4,
                        attempts = attempts + 1, updated_at = ?1
                     WHERE rowid = (
                        SELECT rowid FROM jobs
                        WHERE state = 'queued' AND run_after <= ?1 AND (?2 IS NULL OR batch = ?2)
                        ORDER BY run_after, created_at, id LIMIT 1)
                     RETURNING {JOB_COLS}"
                ),
                (now, batch, owner, now.saturating_add(lease_ms)),
                job,
            )
            .optional()
            .map_err(db)
        })
    }

    fn heartbeat(
        &self,
        tenant: &TenantId,
        id: &JobId,
        owner: &str,
        lease_ms: i64,
        now: i64,
    ) -> Result<()> {
        let what = format!("renewing the lease of job `{id}`");
        self.write_with(Durability::Relaxed, &what, |tx| {
            let n = tx
                .execute(
                    "UPDATE jobs SET lease_until = ?4
                     WHERE tenant_id = ?1 AND id = ?2 AND state = 'running' AND lease_owner = ?3",
                    (
                        tenant.as_str(),
                        id.as_str(),
                        owner,
                        now.saturating_add(lease_ms),
                    ),
                )
                .map_err(db)?;
            if n == 0 {
                let state = state_of(tx, tenant, id)?.ok_or_else(|| job_not_found(tenant, id))?;
                return Err(Error::Conflict(format!(
                    "job `{id}` is {} and not leased by `{owner}`",
                    state.as_str()
                )));
            }
            Ok(())
        })
    }

    fn fail_job(
        &self,
        tenant: &TenantId,
        id: &JobId,
        code: ErrorCode,
        message: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<JobState> {
        self.write(&format!("recording the failure of job `{id}`"), |tx| {
            let (state, attempts, max): (String, u32, u32) = tx
                .query_row(
                    "SELECT state, attempts, max_attempts FROM jobs WHERE tenant_id = ?1 AND id = ?2",
                    (tenant.as_str(), id.as_str()),
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db)?
                .ok_or_else(|| job_not_found(tenant, id))?;
            let current = JobState::parse(&state)
                .ok_or_else(|| Error::Corrupt(format!("job `{id}` has state `{state}`")))?;
            if matches!(current, JobState::Succeeded | JobState::Dead) {
                // Final (or already given up): a late report from a worker whose lease
                // was reclaimed changes nothing.
                return Ok(current);
            }
            let next = match retry_at {
                Some(_) if attempts < max => JobState::Queued,
                _ => JobState::Dead,
            };
            tx.execute(
                "UPDATE jobs SET state = ?3, run_after = COALESCE(?4, run_after), last_error = ?5,
                    error_code = ?6, lease_owner = NULL, lease_until = NULL, updated_at = ?7
                 WHERE tenant_id = ?1 AND id = ?2",
                (
                    tenant.as_str(),
                    id.as_str(),
                    next.as_str(),
                    retry_at.filter(|_| next == JobState::Queued),
                    message,
                    code.as_str(),
                    now,
                ),
            )
            .map_err(db)?;
            Ok(next)
        })
    }

    fn complete_job(&self, tenant: &TenantId, id: &JobId, now: i64) -> Result<()> {
        self.write(&format!("completing job `{id}`"), |tx| {
            complete_job_tx(tx, tenant, id, None, 0, now)
        })
    }

    fn get_job(&self, tenant: &TenantId, id: &JobId) -> Result<Job> {
        self.read(
            &format!("reading job `{id}` in tenant `{tenant}`"),
            |conn| {
                conn.query_row(
                    &format!("SELECT {JOB_COLS} FROM jobs WHERE tenant_id = ?1 AND id = ?2"),
                    (tenant.as_str(), id.as_str()),
                    job,
                )
                .optional()
                .map_err(db)?
                .ok_or_else(|| job_not_found(tenant, id))
            },
        )
    }

    fn list_jobs(&self, tenant: &TenantId, f: &JobFilter) -> Result<Vec<Job>> {
        self.jobs_matching(tenant, f, None)
    }

    fn list_jobs_for(
        &self,
        tenant: &TenantId,
        f: &JobFilter,
        viewer: &AclViewer,
    ) -> Result<Vec<Job>> {
        self.jobs_matching(tenant, f, Some(viewer))
    }

    fn retry_job(&self, tenant: &TenantId, id: &JobId, now: i64) -> Result<()> {
        self.write(&format!("retrying job `{id}`"), |tx| {
            match state_of(tx, tenant, id)? {
                None => return Err(job_not_found(tenant, id)),
                Some(JobState::Dead) => {}
                Some(other) => {
                    return Err(Error::Conflict(format!(
                        "job `{id}` is {}: only dead jobs can be retried",
                        other.as_str()
                    )));
                }
            }
            tx.execute(
                "UPDATE jobs SET state = 'queued', attempts = 0, run_after = ?3, lease_owner = NULL,
                    lease_until = NULL, updated_at = ?3
                 WHERE tenant_id = ?1 AND id = ?2",
                (tenant.as_str(), id.as_str(), now),
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn running_owners(&self) -> Result<Vec<String>> {
        self.read("listing job owners", |conn| {
            let mut st = conn
                .prepare_cached(
                    "SELECT DISTINCT lease_owner FROM jobs
                     WHERE state = 'running' AND lease_owner IS NOT NULL ORDER BY lease_owner",
                )
                .map_err(db)?;
            let rows = st.query_map([], |r| r.get(0)).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn job_state_counts(&self) -> Result<Vec<(String, u64)>> {
        self.read("counting jobs", |conn| {
            let mut st = conn
                .prepare_cached("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state")
                .map_err(db)?;
            let rows = st
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
                })
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn reclaim(&self, dead_owners: &[String], now: i64) -> Result<usize> {
        self.write_with(Durability::Relaxed, "reclaiming job leases", |tx| {
            // A job whose worker died on its last allowed attempt goes to the dead letter
            // instead of the queue: a file that kills the process must not loop forever.
            let requeue = "UPDATE jobs SET
                    state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                    error_code = CASE WHEN attempts >= max_attempts THEN 'internal' ELSE error_code END,
                    last_error = CASE WHEN attempts >= max_attempts
                        THEN 'the worker died while processing this job on each of its ' || attempts
                             || ' attempts (a crash or kill during this file)'
                        ELSE last_error END,
                    lease_owner = NULL, lease_until = NULL, updated_at = ?1
                    WHERE state = 'running'";
            let mut n = tx
                .execute(
                    &format!("{requeue} AND (lease_until IS NULL OR lease_until < ?1)"),
                    [now],
                )
                .map_err(db)?;
            let mut by_owner = tx
                .prepare_cached(&format!("{requeue} AND lease_owner = ?2"))
                .map_err(db)?;
            for owner in dead_owners {
                n += by_owner.execute((now, owner)).map_err(db)?;
            }
            Ok(n)
        })
    }

    fn pending_count(&self, tenant: &TenantId, collection: &CollectionId) -> Result<usize> {
        self.read(
            &format!("counting pending jobs of `{collection}`"),
            |conn| {
                let n: i64 = conn
                    .query_row(
                        "SELECT COUNT(*) FROM jobs WHERE tenant_id = ?1 AND collection_id = ?2
                     AND state IN ('queued', 'running')",
                        (tenant.as_str(), collection.as_str()),
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                usize::try_from(n).map_err(|e| Error::Corrupt(format!("job count {n}: {e}")))
            },
        )
    }

    fn batch_counts(&self, tenant: &TenantId, batch: &str) -> Result<Vec<(JobState, usize)>> {
        self.read(&format!("counting jobs of batch `{batch}`"), |conn| {
            let mut st = conn
                .prepare_cached(
                    "SELECT state, COUNT(*) FROM jobs WHERE tenant_id = ?1 AND batch = ?2
                     GROUP BY state ORDER BY state",
                )
                .map_err(db)?;
            let rows = st
                .query_map((tenant.as_str(), batch), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (s, n) = row.map_err(db)?;
                let state = JobState::parse(&s)
                    .ok_or_else(|| Error::Corrupt(format!("job state `{s}`")))?;
                let n = usize::try_from(n)
                    .map_err(|e| Error::Corrupt(format!("job count {n}: {e}")))?;
                out.push((state, n));
            }
            Ok(out)
        })
    }
}

impl SqliteStore {
    fn jobs_matching(
        &self,
        tenant: &TenantId,
        f: &JobFilter,
        viewer: Option<&AclViewer>,
    ) -> Result<Vec<Job>> {
        // Only the filters given appear in the SQL, so the indexes on (tenant, collection,
        // state) and (tenant, batch) serve the query; workers poll this while idle.
        let mut sql = format!("SELECT {JOB_COLS} FROM jobs WHERE tenant_id = ?");
        let mut params = vec![Value::from(tenant.to_string())];
        let filters = [
            ("state", f.state.map(|s| s.as_str().to_owned())),
            ("batch", f.batch.clone()),
            (
                "collection_id",
                f.collection.as_ref().map(ToString::to_string),
            ),
        ];
        for (column, value) in filters {
            if let Some(v) = value {
                sql.push_str(&format!(" AND {column} = ?"));
                params.push(Value::from(v));
            }
        }
        if let Some(v) = viewer {
            let (clause, user, groups) = super::documents::acl_clause(
                "json_extract(kind, '$.acl.users')",
                "json_extract(kind, '$.acl.groups')",
                v,
            )?;
            sql.push_str(&format!(" AND {clause}"));
            params.push(Value::from(user));
            params.push(Value::from(groups));
        }
        // 0 means no limit (what `JobFilter::default()` asks for).
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
        params.push(Value::from(if f.limit == 0 { -1 } else { to_i64(f.limit) }));
        self.read(&format!("listing jobs of tenant `{tenant}`"), |conn| {
            let mut st = conn.prepare_cached(&sql).map_err(db)?;
            let rows = st.query_map(params_from_iter(params), job).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }
}
