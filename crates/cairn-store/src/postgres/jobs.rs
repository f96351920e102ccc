//! Durable jobs on PostgreSQL: enqueue with de-duplication, claim with a lease, heartbeat,
//! failure with retry or dead letter, manual retry, and reclaiming the leases of expired
//! or dead workers.
//!
//! States: `queued` → (claim) → `running` → `succeeded` | `queued` (retry after a
//! backoff) | `dead`; `dead` → (retry_job) → `queued`; `running` → (reclaim) → `queued`.
//! `succeeded` is final: nothing moves a job out of it.
//!
//! Several `cairn worker` processes share the queue, so each step is safe on its own:
//! - a claim picks its row with `FOR UPDATE SKIP LOCKED`: two claimers never get one job
//!   and never wait for each other (a row another claimer is taking is skipped);
//! - enqueue inserts with `ON CONFLICT … DO NOTHING` on the unique partial index
//!   `jobs_active_by_dedup`, so two nodes enqueueing the same file at once create one job
//!   (the second insert waits for the first transaction, then skips); rows go in in
//!   dedup-key order, so overlapping enqueues never deadlock, and a key over
//!   [`DEDUP_INLINE`] bytes is stored as its SHA-256 (a b-tree entry holds ~2.7 kB);
//! - every state change is one guarded `UPDATE` or runs under the job's row lock, so a
//!   late report never overwrites a newer state.

use super::rows::{get, job, text_enum};
use super::{PostgresStore, db, insert_err, not_found, to_i64};
use crate::columns::{JOB_COLS, to_json};
use crate::repo::{AclViewer, JobFilter, JobRepo, NewJob};
use crate::{Error, Result};
use cairn_types::{CollectionId, DocumentId, ErrorCode, Job, JobId, JobState, TenantId};
use postgres::Transaction;
use postgres::types::ToSql;

/// Dedup keys up to this many bytes are stored as they are, longer ones as a digest.
const DEDUP_INLINE: usize = 1024;

/// A job's dedup key as the `jobs` table stores it: as it is up to [`DEDUP_INLINE`]
/// bytes, else `sha256:` and the hex SHA-256 of its UTF-8 bytes. A b-tree entry cannot
/// exceed ~2.7 kB and a job's kind carries the caller's metadata; collection slugs
/// cannot contain `:`, so a digest never equals a key kept as it is. Enqueues and the
/// import of an SQLite store (which keeps keys whole) both go through this.
pub(crate) fn stored_dedup_key(key: &str) -> std::borrow::Cow<'_, str> {
    use sha2::{Digest, Sha256};
    use std::fmt::Write;
    if key.len() <= DEDUP_INLINE {
        return key.into();
    }
    let digest = Sha256::digest(key.as_bytes());
    let mut stored = String::with_capacity(7 + 2 * digest.len());
    stored.push_str("sha256:");
    for byte in digest {
        let _ = write!(stored, "{byte:02x}");
    }
    stored.into()
}

fn job_not_found(tenant: &TenantId, id: &JobId) -> Error {
    not_found(format!("job `{id}` in tenant `{tenant}`"))
}

/// [`JOB_COLS`] qualified with `alias` (for statements that join another relation).
fn job_cols(alias: &str) -> String {
    JOB_COLS
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The job's current state, if it exists in this tenant; `lock` takes its row lock, so
/// the state cannot change before the transaction ends.
fn state_of(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    id: &JobId,
    lock: bool,
) -> Result<Option<JobState>> {
    let sql = format!(
        "SELECT state FROM jobs WHERE tenant_id = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    tx.query_opt(&sql, &[&tenant.as_str(), &id.as_str()])
        .map_err(db)?
        .map(|row| text_enum(&row, 0, "state", JobState::parse))
        .transpose()
}

/// Marks a queued or running job succeeded inside an open transaction, whoever holds
/// its lease (a reclaimed job finished by its first worker is still done). A job that
/// already succeeded or is dead is left as it is. `NotFound` if the tenant has no such job.
///
/// One guarded `UPDATE`: a concurrent change to the row makes it wait, then re-check
/// the state on the newer version.
pub(crate) fn complete_job_tx(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    id: &JobId,
    document: Option<&DocumentId>,
    chunks: usize,
    now: i64,
) -> Result<()> {
    let n = tx
        .execute(
            "UPDATE jobs SET state = 'succeeded', document_id = $3, chunks = $4,
                lease_owner = NULL, lease_until = NULL, last_error = NULL, error_code = NULL,
                updated_at = $5
             WHERE tenant_id = $1 AND id = $2 AND state IN ('queued', 'running')",
            &[
                &tenant.as_str(),
                &id.as_str(),
                &document.map(DocumentId::as_str),
                &to_i64(chunks),
                &now,
            ],
        )
        .map_err(db)?;
    if n == 0 {
        match state_of(tx, tenant, id, false)? {
            None => return Err(job_not_found(tenant, id)),
            Some(state) => tracing::debug!(job = %id, state = state.as_str(), "job already final"),
        }
    }
    Ok(())
}

/// The insert of one queued job: `$1` tenant, `$2` id, `$3` collection, `$4` batch,
/// `$5` kind, `$6` dedup key, `$7` max attempts, `$8` now. Returns the id, or no row when
/// an equal job is active.
///
/// `$6` is the key as stored ([`stored_dedup_key`]).
const INSERT_JOB: &str = "INSERT INTO jobs(tenant_id, id, collection_id, batch, kind, dedup_key,
        state, attempts, max_attempts, run_after, chunks, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8, 0, $8, $8)
     ON CONFLICT (tenant_id, dedup_key) WHERE state IN ('queued', 'running')
     DO NOTHING
     RETURNING id";

/// Enqueues one job inside an open transaction unless a job equal to it (same
/// collection and kind) is active; returns its id when it was inserted.
pub(crate) fn insert_job(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    j: &NewJob,
    now: i64,
) -> Result<Option<JobId>> {
    let kind = to_json(&j.kind)?;
    // Collection slugs cannot contain the unit separator.
    let dedup = stored_dedup_key(&format!("{}\u{1f}{kind}", j.collection)).into_owned();
    let id = JobId::generate();
    let row = tx
        .query_opt(
            INSERT_JOB,
            &[
                &tenant.as_str(),
                &id.as_str(),
                &j.collection.as_str(),
                &j.batch.as_str(),
                &kind,
                &dedup,
                &i64::from(j.max_attempts),
                &now,
            ],
        )
        .map_err(|e| {
            insert_err(
                e,
                || format!("job id `{id}` is already taken in tenant `{tenant}`"),
                || format!("collection `{}` in tenant `{tenant}`", j.collection),
            )
        })?;
    Ok(row.map(|_| id))
}

/// The job, read inside an open transaction.
pub(crate) fn job_tx(tx: &mut Transaction<'_>, tenant: &TenantId, id: &JobId) -> Result<Job> {
    tx.query_opt(
        &format!("SELECT {JOB_COLS} FROM jobs WHERE tenant_id = $1 AND id = $2"),
        &[&tenant.as_str(), &id.as_str()],
    )
    .map_err(db)?
    .map(|row| job(&row))
    .transpose()?
    .ok_or_else(|| job_not_found(tenant, id))
}

impl JobRepo for PostgresStore {
    /// Each job is one `INSERT … ON CONFLICT (tenant_id, dedup_key) WHERE state IN
    /// ('queued', 'running') DO NOTHING RETURNING id`: a duplicate of a job inserted
    /// earlier in this call, or of an active job committed (or being committed) by
    /// another node, inserts nothing and its id is not returned.
    ///
    /// Ids are generated in the order given (they break claim-order ties, as in SQLite)
    /// and returned in that order, but the rows are inserted in dedup-key order (stable,
    /// so the first of two equal jobs in a call is the one kept): two nodes enqueueing
    /// overlapping sets wait on each other's keys in one global order and never deadlock.
    fn enqueue(&self, tenant: &TenantId, jobs: &[NewJob], now: i64) -> Result<Vec<JobId>> {
        let rows = jobs
            .iter()
            .map(|j| {
                let kind = to_json(&j.kind)?;
                // Collection slugs cannot contain the unit separator.
                let dedup = stored_dedup_key(&format!("{}\u{1f}{kind}", j.collection)).into_owned();
                Ok((j, kind, dedup, JobId::generate()))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|&x, &y| rows[x].2.cmp(&rows[y].2));
        self.write(&format!("enqueuing jobs in tenant `{tenant}`"), |tx| {
            let insert = tx.prepare(INSERT_JOB).map_err(db)?;
            let mut inserted = vec![false; rows.len()];
            for i in order {
                let (j, kind, dedup, id) = &rows[i];
                let row = tx
                    .query_opt(
                        &insert,
                        &[
                            &tenant.as_str(),
                            &id.as_str(),
                            &j.collection.as_str(),
                            &j.batch.as_str(),
                            kind,
                            dedup,
                            &i64::from(j.max_attempts),
                            &now,
                        ],
                    )
                    .map_err(|e| {
                        insert_err(
                            e,
                            || format!("job id `{id}` is already taken in tenant `{tenant}`"),
                            || format!("collection `{}` in tenant `{tenant}`", j.collection),
                        )
                    })?;
                inserted[i] = row.is_some();
            }
            Ok(rows
                .iter()
                .zip(inserted)
                .filter(|(_, kept)| *kept)
                .map(|((_, _, _, id), _)| id.clone())
                .collect())
        })
    }

    /// The pick locks its row with `FOR UPDATE SKIP LOCKED` and the same statement
    /// leases it: a row another claimer holds is skipped, not waited for, and a row
    /// that stopped being runnable meanwhile is re-checked and passed over.
    fn claim(
        &self,
        owner: &str,
        lease_ms: i64,
        batch: Option<&str>,
        now: i64,
    ) -> Result<Option<Job>> {
        self.write("claiming a job", |tx| {
            let row = tx
                .query_opt(
                    &format!(
                        "WITH next AS (
                            SELECT tenant_id, id FROM jobs
                            WHERE state = 'queued' AND run_after <= $1
                              AND ($2::text IS NULL OR batch = $2)
                            ORDER BY run_after, created_at, id
                            LIMIT 1
                            FOR UPDATE SKIP LOCKED)
                         UPDATE jobs j SET state = 'running', lease_owner = $3,
                            lease_until = $4, attempts = j.attempts + 1, updated_at = $1
                         FROM next WHERE j.tenant_id = next.tenant_id AND j.id = next.id
                         RETURNING {}",
                        job_cols("j")
                    ),
                    &[&now, &batch, &owner, &now.saturating_add(lease_ms)],
                )
                .map_err(db)?;
            row.as_ref().map(job).transpose()
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
        self.write(&what, |tx| {
            // Guarded by the owner: after a reclaim (and perhaps a new claim) the old
            // worker's heartbeat matches nothing.
            let n = tx
                .execute(
                    "UPDATE jobs SET lease_until = $4
                     WHERE tenant_id = $1 AND id = $2 AND state = 'running' AND lease_owner = $3",
                    &[
                        &tenant.as_str(),
                        &id.as_str(),
                        &owner,
                        &now.saturating_add(lease_ms),
                    ],
                )
                .map_err(db)?;
            if n == 0 {
                let state =
                    state_of(tx, tenant, id, false)?.ok_or_else(|| job_not_found(tenant, id))?;
                return Err(Error::Conflict(format!(
                    "job `{id}` is {} and not leased by `{owner}`",
                    state.as_str()
                )));
            }
            Ok(())
        })
    }

    /// Reads the job under its row lock (`FOR UPDATE`), so the decision (retry or dead)
    /// and the update see the same attempts and state even if a reclaim or another
    /// report races with it.
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
            let row = tx
                .query_opt(
                    "SELECT state, attempts, max_attempts FROM jobs
                     WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
                    &[&tenant.as_str(), &id.as_str()],
                )
                .map_err(db)?
                .ok_or_else(|| job_not_found(tenant, id))?;
            let current = text_enum(&row, 0, "state", JobState::parse)?;
            let attempts: i64 = get(&row, 1, "attempts")?;
            let max: i64 = get(&row, 2, "max_attempts")?;
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
                "UPDATE jobs SET state = $3, run_after = COALESCE($4::bigint, run_after),
                    last_error = $5, error_code = $6, lease_owner = NULL, lease_until = NULL,
                    updated_at = $7
                 WHERE tenant_id = $1 AND id = $2",
                &[
                    &tenant.as_str(),
                    &id.as_str(),
                    &next.as_str(),
                    &retry_at.filter(|_| next == JobState::Queued),
                    &message,
                    &code.as_str(),
                    &now,
                ],
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
            |client| {
                let row = client
                    .query_opt(
                        &format!("SELECT {JOB_COLS} FROM jobs WHERE tenant_id = $1 AND id = $2"),
                        &[&tenant.as_str(), &id.as_str()],
                    )
                    .map_err(db)?
                    .ok_or_else(|| job_not_found(tenant, id))?;
                job(&row)
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

    /// The state is read under the job's row lock, so the check and the update agree.
    fn retry_job(&self, tenant: &TenantId, id: &JobId, now: i64) -> Result<()> {
        self.write(&format!("retrying job `{id}`"), |tx| {
            match state_of(tx, tenant, id, true)? {
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
                "UPDATE jobs SET state = 'queued', attempts = 0, run_after = $3,
                    lease_owner = NULL, lease_until = NULL, updated_at = $3
                 WHERE tenant_id = $1 AND id = $2",
                &[&tenant.as_str(), &id.as_str(), &now],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn job_state_counts(&self) -> Result<Vec<(String, u64)>> {
        self.read("counting jobs", |client| {
            client
                .query(
                    "SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state",
                    &[],
                )
                .map_err(db)?
                .iter()
                .map(|row| {
                    let n: i64 = get(row, 1, "count")?;
                    Ok((get(row, 0, "state")?, n.max(0) as u64))
                })
                .collect()
        })
    }

    fn running_owners(&self) -> Result<Vec<String>> {
        self.read("listing job owners", |client| {
            client
                .query(
                    "SELECT DISTINCT lease_owner FROM jobs
                     WHERE state = 'running' AND lease_owner IS NOT NULL ORDER BY lease_owner",
                    &[],
                )
                .map_err(db)?
                .iter()
                .map(|row| get(row, 0, "lease_owner"))
                .collect()
        })
    }

    /// One statement: the reclaimable rows are locked in key order (`ORDER BY … FOR
    /// UPDATE`, so two reclaimers never deadlock) and re-checked after any wait (a
    /// heartbeat that renewed the lease meanwhile keeps the job), then updated.
    fn reclaim(&self, dead_owners: &[String], now: i64) -> Result<usize> {
        self.write("reclaiming job leases", |tx| {
            // A job whose worker died on its last allowed attempt goes to the dead letter
            // instead of the queue: a file that kills the process must not loop forever.
            let n = tx
                .execute(
                    "WITH gone AS (
                        SELECT tenant_id, id FROM jobs
                        WHERE state = 'running'
                          AND (lease_until IS NULL OR lease_until < $1 OR lease_owner = ANY($2))
                        ORDER BY tenant_id, id
                        FOR UPDATE)
                     UPDATE jobs j SET
                        state = CASE WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'queued' END,
                        error_code = CASE WHEN j.attempts >= j.max_attempts
                            THEN 'internal' ELSE j.error_code END,
                        last_error = CASE WHEN j.attempts >= j.max_attempts
                            THEN 'the worker died while processing this job on each of its '
                                 || j.attempts::text
                                 || ' attempts (a crash or kill during this file)'
                            ELSE j.last_error END,
                        lease_owner = NULL, lease_until = NULL, updated_at = $1
                     FROM gone WHERE j.tenant_id = gone.tenant_id AND j.id = gone.id",
                    &[&now, &dead_owners],
                )
                .map_err(db)?;
            usize::try_from(n).map_err(|e| Error::Corrupt(format!("reclaimed count {n}: {e}")))
        })
    }

    fn pending_count(&self, tenant: &TenantId, collection: &CollectionId) -> Result<usize> {
        self.read(
            &format!("counting pending jobs of `{collection}`"),
            |client| {
                let row = client
                    .query_one(
                        "SELECT COUNT(*) FROM jobs WHERE tenant_id = $1 AND collection_id = $2
                         AND state IN ('queued', 'running')",
                        &[&tenant.as_str(), &collection.as_str()],
                    )
                    .map_err(db)?;
                super::rows::count(&row, 0, "count")
            },
        )
    }

    fn batch_counts(&self, tenant: &TenantId, batch: &str) -> Result<Vec<(JobState, usize)>> {
        self.read(&format!("counting jobs of batch `{batch}`"), |client| {
            client
                .query(
                    "SELECT state, COUNT(*) FROM jobs WHERE tenant_id = $1 AND batch = $2
                     GROUP BY state ORDER BY state",
                    &[&tenant.as_str(), &batch],
                )
                .map_err(db)?
                .iter()
                .map(|row| {
                    Ok((
                        text_enum(row, 0, "state", JobState::parse)?,
                        super::rows::count(row, 1, "count")?,
                    ))
                })
                .collect()
        })
    }
}

/// The predicate "the ingest ACL in the job's `kind` JSON admits the viewer" (no or
/// empty lists on both sides admit everyone), as SQLite's `acl_clause` decides it:
/// `$user` is the viewer's id (NULL for none), `$groups` a `text[]`.
fn kind_acl_clause(user: usize, groups: usize) -> String {
    let users = "(kind::jsonb #> '{acl,users}')";
    let groups_col = "(kind::jsonb #> '{acl,groups}')";
    // SQLite's json_array_length is 0 for an absent list or one that is not an array.
    let empty = |col: &str| {
        format!("(jsonb_typeof({col}) IS DISTINCT FROM 'array' OR {col} = '[]'::jsonb)")
    };
    format!(
        "(({} AND {}) OR {users} ? ${user} OR {groups_col} ?| ${groups}::text[])",
        empty(users),
        empty(groups_col)
    )
}

impl PostgresStore {
    fn jobs_matching(
        &self,
        tenant: &TenantId,
        f: &JobFilter,
        viewer: Option<&AclViewer>,
    ) -> Result<Vec<Job>> {
        // Only the filters given appear in the SQL, so the indexes on (tenant, collection,
        // state) and (tenant, batch) serve the query; workers poll this while idle.
        let mut sql = format!("SELECT {JOB_COLS} FROM jobs WHERE tenant_id = $1");
        let mut texts = vec![tenant.to_string()];
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
                texts.push(v);
                sql.push_str(&format!(" AND {column} = ${}", texts.len()));
            }
        }
        let next = texts.len() + 1;
        let acl = viewer.map(|v| (v.user.clone(), v.groups.clone()));
        if acl.is_some() {
            sql.push_str(&format!(" AND {}", kind_acl_clause(next, next + 1)));
        }
        // 0 means no limit (what `JobFilter::default()` asks for): LIMIT NULL.
        let limit = (f.limit != 0).then(|| to_i64(f.limit));
        let limit_at = if acl.is_some() { next + 2 } else { next };
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT ${limit_at}"
        ));
        self.read(&format!("listing jobs of tenant `{tenant}`"), |client| {
            let mut params: Vec<&(dyn ToSql + Sync)> =
                texts.iter().map(|t| t as &(dyn ToSql + Sync)).collect();
            if let Some((user, groups)) = &acl {
                params.push(user);
                params.push(groups);
            }
            params.push(&limit);
            client
                .query(&sql, &params)
                .map_err(db)?
                .iter()
                .map(job)
                .collect()
        })
    }
}
