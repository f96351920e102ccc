//! Durable jobs: enqueue with de-duplication, atomic claim with a lease, heartbeat,
//! failure with retry or dead letter, manual retry, and reclaiming leases of dead owners.

use super::documents::complete_job_tx;
use super::rows::{JOB_COLS, job, to_json};
use super::{SqliteStore, db, not_found};
use crate::repo::{JobFilter, JobRepo, NewJob};
use crate::{Error, Result};
use cairn_types::{ErrorCode, Job, JobId, JobState, TenantId};
use rusqlite::{OptionalExtension, TransactionBehavior};

impl JobRepo for SqliteStore {
    fn enqueue(&self, tenant: &TenantId, jobs: &[NewJob], now: i64) -> Result<Vec<JobId>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        let mut ids = Vec::new();
        {
            let mut active = tx
                .prepare_cached(
                    "SELECT 1 FROM jobs WHERE tenant_id = ?1 AND dedup_key = ?2 AND state IN ('queued', 'running') LIMIT 1",
                )
                .map_err(db)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO jobs(tenant_id, id, collection_id, batch, kind, dedup_key, state, attempts,
                        max_attempts, run_after, chunks, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?8, 0, ?8, ?8)",
                )
                .map_err(db)?;
            for j in jobs {
                let kind = to_json(&j.kind)?;
                let dedup = format!("{}\u{1f}{kind}", j.collection);
                if active.exists((tenant.as_str(), dedup.as_str())).map_err(db)? {
                    continue;
                }
                let id = JobId::generate();
                insert
                    .execute((tenant.as_str(), id.as_str(), j.collection.as_str(), j.batch.as_str(), kind, dedup, j.max_attempts, now))
                    .map_err(|e| match db(e) {
                        Error::Conflict(m) => Error::NotFound { what: format!("collection `{}` in tenant `{tenant}` ({m})", j.collection) },
                        other => other,
                    })?;
                ids.push(id);
            }
        }
        tx.commit().map_err(db)?;
        Ok(ids)
    }

    fn claim(&self, owner: &str, lease_ms: i64, batch: Option<&str>, now: i64) -> Result<Option<Job>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        let picked: Option<(String, String)> = tx
            .query_row(
                "SELECT tenant_id, id FROM jobs WHERE state = 'queued' AND run_after <= ?1
                 AND (?2 IS NULL OR batch = ?2) ORDER BY run_after, created_at, id LIMIT 1",
                (now, batch),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)?;
        let Some((tenant, id)) = picked else { return Ok(None) };
        tx.execute(
            "UPDATE jobs SET state = 'running', lease_owner = ?3, lease_until = ?4, attempts = attempts + 1,
                updated_at = ?5 WHERE tenant_id = ?1 AND id = ?2",
            (&tenant, &id, owner, now.saturating_add(lease_ms), now),
        )
        .map_err(db)?;
        let claimed = tx
            .query_row(&format!("SELECT {JOB_COLS} FROM jobs WHERE tenant_id = ?1 AND id = ?2"), (&tenant, &id), job)
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Some(claimed))
    }

    fn heartbeat(&self, tenant: &TenantId, id: &JobId, owner: &str, lease_ms: i64, now: i64) -> Result<()> {
        let n = self
            .conn()
            .execute(
                "UPDATE jobs SET lease_until = ?4 WHERE tenant_id = ?1 AND id = ?2 AND state = 'running' AND lease_owner = ?3",
                (tenant.as_str(), id.as_str(), owner, now.saturating_add(lease_ms)),
            )
            .map_err(db)?;
        if n == 0 {
            return Err(Error::Conflict(format!("job `{id}` is not running under owner `{owner}`")));
        }
        Ok(())
    }

    fn fail_job(&self, tenant: &TenantId, id: &JobId, code: ErrorCode, message: &str, retry_at: Option<i64>, now: i64) -> Result<JobState> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        let (attempts, max): (u32, u32) = tx
            .query_row(
                "SELECT attempts, max_attempts FROM jobs WHERE tenant_id = ?1 AND id = ?2",
                (tenant.as_str(), id.as_str()),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)?
            .ok_or_else(|| not_found(format!("job `{id}` in tenant `{tenant}`")))?;
        let (state, run_after) = match retry_at {
            Some(at) if attempts < max => (JobState::Queued, at),
            _ => (JobState::Dead, now),
        };
        tx.execute(
            "UPDATE jobs SET state = ?3, run_after = ?4, last_error = ?5, error_code = ?6, lease_owner = NULL,
                lease_until = NULL, updated_at = ?7 WHERE tenant_id = ?1 AND id = ?2",
            (tenant.as_str(), id.as_str(), state.as_str(), run_after, message, code.as_str(), now),
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(state)
    }

    fn complete_job(&self, tenant: &TenantId, id: &JobId, now: i64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        complete_job_tx(&tx, tenant, id, None, 0, now)?;
        tx.commit().map_err(db)
    }

    fn get_job(&self, tenant: &TenantId, id: &JobId) -> Result<Job> {
        self.conn()
            .query_row(&format!("SELECT {JOB_COLS} FROM jobs WHERE tenant_id = ?1 AND id = ?2"), (tenant.as_str(), id.as_str()), job)
            .optional()
            .map_err(db)?
            .ok_or_else(|| not_found(format!("job `{id}` in tenant `{tenant}`")))
    }

    fn list_jobs(&self, tenant: &TenantId, f: &JobFilter) -> Result<Vec<Job>> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {JOB_COLS} FROM jobs WHERE tenant_id = ?1 AND (?2 IS NULL OR state = ?2)
                 AND (?3 IS NULL OR batch = ?3) AND (?4 IS NULL OR collection_id = ?4)
                 ORDER BY created_at DESC, id DESC LIMIT ?5"
            ))
            .map_err(db)?;
        let limit = i64::try_from(f.limit).unwrap_or(i64::MAX);
        let rows = st
            .query_map(
                (tenant.as_str(), f.state.map(JobState::as_str), f.batch.as_deref(), f.collection.as_ref().map(|c| c.as_str()), limit),
                job,
            )
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn retry_job(&self, tenant: &TenantId, id: &JobId, now: i64) -> Result<()> {
        let current = self.get_job(tenant, id)?;
        if current.state != JobState::Dead {
            return Err(Error::Conflict(format!("job `{id}` is {}, only dead jobs can be retried", current.state.as_str())));
        }
        self.conn()
            .execute(
                "UPDATE jobs SET state = 'queued', attempts = 0, run_after = ?3, updated_at = ?3
                 WHERE tenant_id = ?1 AND id = ?2 AND state = 'dead'",
                (tenant.as_str(), id.as_str(), now),
            )
            .map_err(db)?;
        Ok(())
    }

    fn running_owners(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT DISTINCT lease_owner FROM jobs WHERE state = 'running' AND lease_owner IS NOT NULL")
            .map_err(db)?;
        let rows = st.query_map([], |r| r.get(0)).map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn reclaim(&self, dead_owners: &[String], now: i64) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        let mut n = tx
            .execute(
                "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = ?1
                 WHERE state = 'running' AND lease_until < ?1",
                [now],
            )
            .map_err(db)?;
        for owner in dead_owners {
            n += tx
                .execute(
                    "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = ?2
                     WHERE state = 'running' AND lease_owner = ?1",
                    (owner, now),
                )
                .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(n)
    }

    fn batch_counts(&self, tenant: &TenantId, batch: &str) -> Result<Vec<(JobState, usize)>> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT state, COUNT(*) FROM jobs WHERE tenant_id = ?1 AND batch = ?2 GROUP BY state ORDER BY state")
            .map_err(db)?;
        let rows = st
            .query_map((tenant.as_str(), batch), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            let (s, n) = row.map_err(db)?;
            let state = JobState::parse(&s).ok_or_else(|| Error::Corrupt(format!("job state `{s}`")))?;
            out.push((state, usize::try_from(n).unwrap_or(0)));
        }
        Ok(out)
    }
}
