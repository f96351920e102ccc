//! Retention sweeps, legal holds and tenant offboarding on PostgreSQL.
//!
//! Every sweep and purge is one transaction that first checks the holds. SQLite's single
//! writer made a hold set concurrently land either before (honoured) or after (the
//! deletion already happened in full); here the tenant's row lock does:
//! - setting or clearing a hold and a sweep take the tenant row `FOR NO KEY UPDATE`,
//!   an erasure check ([`erase_blocker`]) takes it `FOR SHARE`, a purge `FOR UPDATE`; so
//!   a hold change waits for a sweep, erasure or purge under way, and they wait for it.
//!   These modes leave the `FOR KEY SHARE` locks that foreign keys take alone: ordinary
//!   writes of the tenant never wait for a sweep's tenant lock.
//! - what a sweep deletes with a count (answers, conversations, documents) is locked
//!   first (`FOR UPDATE`), then counted and deleted by id: a row renewed meanwhile is
//!   re-checked and kept, and children (feedback, messages, chunks) cannot be added to
//!   a locked row (their foreign key check waits), so the counts are exact.
//!
//! Rows owned by a held user are skipped with one `NOT EXISTS` against `legal_holds`;
//! a row without an owner is never held by a user. The audit log is never touched (its
//! trigger refuses deletes).

use super::commit::log_change;
use super::{PostgresStore, db, not_found};
use crate::lifecycle::{LegalHold, LifecycleRepo, RetentionCutoffs, SweepCounts, TenantPurge};
use crate::{Error, Result};
use cairn_types::{CollectionId, DocumentId, TenantId};
use postgres::{GenericClient, Transaction};

/// `''` in `legal_holds.subject` holds the whole tenant.
const WHOLE_TENANT: &str = "";

/// A row of `alias` is not owned by a held user.
fn not_held(alias: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant_id = {alias}.tenant_id \
         AND h.subject = {alias}.owner)"
    )
}

fn subject(user: Option<&str>) -> &str {
    user.unwrap_or(WHOLE_TENANT)
}

fn to_usize(n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|e| Error::Corrupt(format!("row count {n}: {e}")))
}

/// Takes the tenant row's lock in `mode` (`FOR SHARE`, `FOR NO KEY UPDATE`, `FOR
/// UPDATE`); returns whether the tenant exists.
fn lock_tenant_row(tx: &mut Transaction<'_>, tenant: &TenantId, mode: &str) -> Result<bool> {
    Ok(tx
        .query_opt(
            &format!("SELECT 1 FROM tenants WHERE tenant_id = $1 {mode}"),
            &[&tenant.as_str()],
        )
        .map_err(db)?
        .is_some())
}

fn holds(client: &mut impl GenericClient, tenant: &TenantId) -> Result<Vec<LegalHold>> {
    client
        .query(
            "SELECT subject, reason, set_by, set_at FROM legal_holds
             WHERE tenant_id = $1 ORDER BY subject",
            &[&tenant.as_str()],
        )
        .map_err(db)?
        .iter()
        .map(|row| {
            let subject: String = super::rows::get(row, 0, "subject")?;
            Ok(LegalHold {
                tenant: tenant.clone(),
                user: (subject != WHOLE_TENANT).then_some(subject),
                reason: super::rows::get(row, 1, "reason")?,
                set_by: super::rows::get(row, 2, "set_by")?,
                set_at: super::rows::get(row, 3, "set_at")?,
            })
        })
        .collect()
}

/// Why `user`'s data may not be erased, if a hold forbids it: the tenant's hold, the
/// user's own, or another held user's feedback on the user's answers (erasure would
/// take it along). Takes the tenant row `FOR SHARE` first, so no hold is set or cleared
/// until the caller's transaction (the erasure) ends.
pub(crate) fn erase_blocker(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    user: &str,
) -> Result<Option<String>> {
    lock_tenant_row(tx, tenant, "FOR SHARE")?;
    let held = holds(tx, tenant)?;
    if let Some(h) = held
        .iter()
        .find(|h| h.user.is_none() || h.user.as_deref() == Some(user))
    {
        return Ok(Some(h.describe()));
    }
    if held.is_empty() {
        return Ok(None);
    }
    let other: Option<String> = tx
        .query_opt(
            "SELECT f.owner FROM feedback f
             JOIN legal_holds h ON h.tenant_id = f.tenant_id AND h.subject = f.owner
             JOIN answers a ON a.tenant_id = f.tenant_id AND a.id = f.answer_id
             WHERE f.tenant_id = $1 AND a.owner = $2 LIMIT 1",
            &[&tenant.as_str(), &user],
        )
        .map_err(db)?
        .map(|row| super::rows::get(&row, 0, "owner"))
        .transpose()?;
    Ok(other.map(|o| {
        format!(
            "user {o} of tenant {tenant} is under legal hold and gave feedback on answers of {user}"
        )
    }))
}

/// Ids of the rows `SELECT {alias}.id FROM … WHERE …` finds, each locked `FOR UPDATE`
/// (rows changed meanwhile are re-checked against the condition after the wait).
fn lock_ids(
    tx: &mut Transaction<'_>,
    sql: &str,
    tenant: &TenantId,
    at: i64,
) -> Result<Vec<String>> {
    tx.query(sql, &[&tenant.as_str(), &at])
        .map_err(db)?
        .iter()
        .map(|row| super::rows::get(row, 0, "id"))
        .collect()
}

/// `SELECT COUNT(*) FROM {table} WHERE tenant_id = $1 AND {column} = ANY($2)`.
fn count_of(
    tx: &mut Transaction<'_>,
    table: &str,
    column: &str,
    tenant: &TenantId,
    ids: &[String],
) -> Result<usize> {
    let row = tx
        .query_one(
            &format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1 AND {column} = ANY($2)"),
            &[&tenant.as_str(), &ids],
        )
        .map_err(db)?;
    super::rows::count(&row, 0, "count")
}

fn exec(tx: &mut Transaction<'_>, sql: &str, tenant: &TenantId, at: i64) -> Result<usize> {
    to_usize(tx.execute(sql, &[&tenant.as_str(), &at]).map_err(db)?)
}

/// The usage periods (`d:YYYY-MM-DD`, `m:YYYY-MM`) of the cutoff's day and month: rows
/// of earlier periods ended before the cutoff.
fn periods(at: i64) -> (String, String) {
    let (y, m, d) = cairn_types::civil_from_ms(at);
    (
        format!("d:{y:04}-{m:02}-{d:02}"),
        format!("m:{y:04}-{m:02}"),
    )
}

/// Deletes expired answers and feedback.
fn sweep_answers(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    c: &RetentionCutoffs,
    r: &mut SweepCounts,
) -> Result<()> {
    if let Some(at) = c.feedback {
        r.feedback += exec(
            tx,
            &format!(
                "DELETE FROM feedback AS f WHERE f.tenant_id = $1 AND f.created_at < $2 AND {}",
                not_held("f")
            ),
            tenant,
            at,
        )?;
    }
    if let Some(at) = c.answers {
        // An answer goes with the feedback on it, unless a held user gave some. Locked
        // first: no feedback can be added to these answers until the sweep commits.
        let ids = lock_ids(
            tx,
            &format!(
                "SELECT a.id FROM answers a WHERE a.tenant_id = $1 AND a.created_at < $2
                   AND {} AND NOT EXISTS (
                    SELECT 1 FROM feedback f JOIN legal_holds h
                      ON h.tenant_id = f.tenant_id AND h.subject = f.owner
                    WHERE f.tenant_id = a.tenant_id AND f.answer_id = a.id)
                 FOR UPDATE OF a",
                not_held("a")
            ),
            tenant,
            at,
        )?;
        r.feedback += count_of(tx, "feedback", "answer_id", tenant, &ids)?;
        r.answers += to_usize(
            tx.execute(
                "DELETE FROM answers WHERE tenant_id = $1 AND id = ANY($2)",
                &[&tenant.as_str(), &ids],
            )
            .map_err(db)?,
        )?;
    }
    Ok(())
}

/// Deletes conversations (with their messages) inactive since before the cutoff; their
/// answers that are kept are unlinked, as `delete_conversation` does. Locked first: no
/// message can be appended to them until the sweep commits.
fn sweep_conversations(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    at: i64,
    r: &mut SweepCounts,
) -> Result<()> {
    let ids = lock_ids(
        tx,
        &format!(
            "SELECT c.id FROM conversations c WHERE c.tenant_id = $1 AND c.updated_at < $2
               AND {} FOR UPDATE OF c",
            not_held("c")
        ),
        tenant,
        at,
    )?;
    r.messages += count_of(tx, "messages", "conversation_id", tenant, &ids)?;
    tx.execute(
        "UPDATE answers SET conversation_id = NULL
         WHERE tenant_id = $1 AND conversation_id = ANY($2)",
        &[&tenant.as_str(), &ids],
    )
    .map_err(db)?;
    r.conversations += to_usize(
        tx.execute(
            "DELETE FROM conversations WHERE tenant_id = $1 AND id = ANY($2)",
            &[&tenant.as_str(), &ids],
        )
        .map_err(db)?,
    )?;
    Ok(())
}

/// Deletes audit-exempt logs: usage counters, idempotency keys, finished jobs with
/// their uploads' bytes. A job
/// retried meanwhile is re-checked after its row lock and kept.
fn sweep_logs(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    at: i64,
    r: &mut SweepCounts,
) -> Result<()> {
    let (day, month) = periods(at);
    r.usage_rows += to_usize(
        tx.execute(
            "DELETE FROM usage WHERE tenant_id = $1 AND (
                (period LIKE 'd:%' AND period < $2) OR (period LIKE 'm:%' AND period < $3))",
            &[&tenant.as_str(), &day, &month],
        )
        .map_err(db)?,
    )?;
    // `d:YYYY-MM-DD` without its prefix is the per-model rows' day.
    for table in ["usage_by_model", "usage_by_route"] {
        r.usage_rows += to_usize(
            tx.execute(
                &format!("DELETE FROM {table} WHERE tenant_id = $1 AND day < $2"),
                &[&tenant.as_str(), &day.trim_start_matches("d:")],
            )
            .map_err(db)?,
        )?;
    }
    // Keys of a held user's uploads stay with the uploads.
    r.idempotency_keys += exec(
        tx,
        "DELETE FROM idempotency_keys AS k WHERE k.tenant_id = $1 AND k.created_at < $2
            AND NOT EXISTS (SELECT 1 FROM documents d JOIN legal_holds h
                ON h.tenant_id = d.tenant_id AND h.subject = d.owner
                WHERE d.tenant_id = k.tenant_id AND d.id = k.document_id)",
        tenant,
        at,
    )?;
    // An upload's bytes go with its finished job, unless its uploader is held: then
    // both stay. The expired jobs are locked first, so one retried meanwhile is either
    // re-checked and kept, bytes included, or waits for the sweep.
    r.uploads += exec(
        tx,
        &format!(
            "WITH expired AS (
                SELECT id FROM jobs WHERE tenant_id = $1 AND state IN ('succeeded', 'dead')
                  AND updated_at < $2 FOR UPDATE)
             DELETE FROM uploads AS u WHERE u.tenant_id = $1 AND {}
                AND u.job_id IN (SELECT id FROM expired)",
            not_held("u")
        ),
        tenant,
        at,
    )?;
    r.jobs += exec(
        tx,
        "DELETE FROM jobs AS j WHERE j.tenant_id = $1 AND j.state IN ('succeeded', 'dead')
            AND j.updated_at < $2 AND NOT EXISTS (
                SELECT 1 FROM uploads u WHERE u.tenant_id = j.tenant_id AND u.job_id = j.id)",
        tenant,
        at,
    )?;
    Ok(())
}

/// Deletes documents not written or confirmed since the cutoff, as `delete_document`
/// does: chunks and idempotency keys cascade, and each delete goes to the index change
/// log. The documents are locked first (a commit under way finishes, and a document it
/// renewed is kept), so the chunk count is exact; the change log's lock is taken right
/// before appending.
fn sweep_documents(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    at: i64,
    r: &mut SweepCounts,
) -> Result<()> {
    let ids = lock_ids(
        tx,
        &format!(
            "SELECT d.id FROM documents d WHERE d.tenant_id = $1 AND d.updated_at < $2
               AND {} FOR UPDATE OF d",
            not_held("d")
        ),
        tenant,
        at,
    )?;
    if ids.is_empty() {
        return Ok(());
    }
    r.chunks += count_of(tx, "chunks", "document_id", tenant, &ids)?;
    let gone: Vec<(String, String)> = tx
        .query(
            "DELETE FROM documents WHERE tenant_id = $1 AND id = ANY($2)
             RETURNING id, collection_id",
            &[&tenant.as_str(), &ids],
        )
        .map_err(db)?
        .iter()
        .map(|row| {
            Ok((
                super::rows::get(row, 0, "id")?,
                super::rows::get(row, 1, "collection_id")?,
            ))
        })
        .collect::<Result<_>>()?;
    for (id, coll) in &gone {
        let collection = CollectionId::new(coll.clone());
        log_change(tx, tenant, &collection, &DocumentId::new(id.clone()))?;
        r.collections.push(collection);
    }
    r.documents += gone.len();
    r.collections.sort();
    r.collections.dedup();
    Ok(())
}

impl LifecycleRepo for PostgresStore {
    /// Under the tenant row's `FOR NO KEY UPDATE` lock: waits for a sweep, erasure or
    /// purge under way, which then either saw no hold or sees this one.
    fn put_legal_hold(&self, hold: &LegalHold) -> Result<()> {
        let tenant = &hold.tenant;
        self.write(
            &format!("setting a legal hold in tenant `{tenant}`"),
            |tx| {
                lock_tenant_row(tx, tenant, "FOR NO KEY UPDATE")?;
                tx.execute(
                    "INSERT INTO legal_holds(tenant_id, subject, reason, set_by, set_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT(tenant_id, subject) DO UPDATE SET reason = excluded.reason,
                        set_by = excluded.set_by, set_at = excluded.set_at",
                    &[
                        &tenant.as_str(),
                        &subject(hold.user.as_deref()),
                        &hold.reason.as_str(),
                        &hold.set_by.as_str(),
                        &hold.set_at,
                    ],
                )
                .map_err(|e| super::insert_err(e, String::new, || format!("tenant `{tenant}`")))?;
                Ok(())
            },
        )
    }

    fn clear_legal_hold(&self, tenant: &TenantId, user: Option<&str>) -> Result<()> {
        self.write(
            &format!("clearing a legal hold in tenant `{tenant}`"),
            |tx| {
                lock_tenant_row(tx, tenant, "FOR NO KEY UPDATE")?;
                let n = tx
                    .execute(
                        "DELETE FROM legal_holds WHERE tenant_id = $1 AND subject = $2",
                        &[&tenant.as_str(), &subject(user)],
                    )
                    .map_err(db)?;
                if n == 0 {
                    return Err(not_found(match user {
                        None => format!("legal hold on tenant `{tenant}`"),
                        Some(u) => format!("legal hold on user `{u}` of tenant `{tenant}`"),
                    }));
                }
                Ok(())
            },
        )
    }

    fn legal_holds(&self, tenant: &TenantId) -> Result<Vec<LegalHold>> {
        self.read("listing legal holds", |client| holds(client, tenant))
    }

    /// Under the tenant row's `FOR NO KEY UPDATE` lock: holds stay as read for the
    /// whole sweep, and two sweeps of one tenant run one after the other.
    fn sweep_expired(&self, tenant: &TenantId, cutoffs: &RetentionCutoffs) -> Result<SweepCounts> {
        self.write(
            &format!("sweeping expired data of tenant `{tenant}`"),
            |tx| {
                lock_tenant_row(tx, tenant, "FOR NO KEY UPDATE")?;
                let held = holds(tx, tenant)?;
                if let Some(h) = held.iter().find(|h| h.user.is_none()) {
                    return Err(Error::Conflict(h.describe()));
                }
                let mut r = SweepCounts {
                    held_users: held.into_iter().filter_map(|h| h.user).collect(),
                    ..SweepCounts::default()
                };
                sweep_answers(tx, tenant, cutoffs, &mut r)?;
                if let Some(at) = cutoffs.conversations {
                    sweep_conversations(tx, tenant, at, &mut r)?;
                }
                if let Some(at) = cutoffs.logs {
                    sweep_logs(tx, tenant, at, &mut r)?;
                }
                if let Some(at) = cutoffs.documents {
                    sweep_documents(tx, tenant, at, &mut r)?;
                }
                Ok(r)
            },
        )
    }

    /// Locks the tenant row `FOR UPDATE` (no row referring to the tenant can be added,
    /// no hold changed), then the tenant's collections, documents, conversations and
    /// answers (no document, job, chunk, message or feedback can be added to them, and
    /// commits under way finish first), so every count is exact and nothing is left.
    fn purge_tenant(&self, tenant: &TenantId) -> Result<TenantPurge> {
        self.write(&format!("deleting tenant `{tenant}`"), |tx| {
            if !lock_tenant_row(tx, tenant, "FOR UPDATE")? {
                return Err(not_found(format!("tenant `{tenant}`")));
            }
            if let Some(h) = holds(tx, tenant)?.first() {
                return Err(Error::Conflict(h.describe()));
            }
            for table in ["collections", "documents", "conversations", "answers"] {
                tx.execute(
                    &format!("SELECT 1 FROM {table} WHERE tenant_id = $1 FOR UPDATE"),
                    &[&tenant.as_str()],
                )
                .map_err(db)?;
            }
            purge(tx, tenant)
        })
    }
}

/// Deletes children before parents, so every count is of the table's own rows (no
/// cascade fires) and nothing of the tenant is left. The audit log is not touched.
fn purge(tx: &mut Transaction<'_>, tenant: &TenantId) -> Result<TenantPurge> {
    let mut del = |table: &str| -> Result<usize> {
        to_usize(
            tx.execute(
                &format!("DELETE FROM {table} WHERE tenant_id = $1"),
                &[&tenant.as_str()],
            )
            .map_err(db)?,
        )
    };
    let mut r = TenantPurge {
        index_changes: del("index_changes")?,
        feedback: del("feedback")?,
        answers: del("answers")?,
        messages: del("messages")?,
        conversations: del("conversations")?,
        idempotency_keys: del("idempotency_keys")?,
        chunks: {
            // Kept texts and a reindex's staging go with the documents (not counted).
            for table in ["staged_chunks", "staged_documents", "document_texts"] {
                del(table)?;
            }
            del("chunks")?
        },
        documents: del("documents")?,
        uploads: del("uploads")?,
        jobs: del("jobs")?,
        ..TenantPurge::default()
    };
    let ids: Vec<String> = tx
        .query(
            "DELETE FROM collections WHERE tenant_id = $1 RETURNING id",
            &[&tenant.as_str()],
        )
        .map_err(db)?
        .iter()
        .map(|row| super::rows::get(row, 0, "id"))
        .collect::<Result<_>>()?;
    r.collections = ids.len();
    r.collection_ids = ids.into_iter().map(CollectionId::new).collect();
    r.collection_ids.sort();
    let mut del = |table: &str| -> Result<usize> {
        to_usize(
            tx.execute(
                &format!("DELETE FROM {table} WHERE tenant_id = $1"),
                &[&tenant.as_str()],
            )
            .map_err(db)?,
        )
    };
    r.api_keys = del("api_keys")?;
    r.users = del("users")?;
    r.usage_rows = del("usage")? + del("usage_by_model")? + del("usage_by_route")?;
    r.settings = del("tenant_settings")?;
    r.secrets = del("secrets")?;
    del("agent_steps")?;
    del("agents")?;
    r.agent_runs = del("agent_runs")?;
    del("legal_holds")?;
    r.tenants = del("tenants")?;
    Ok(r)
}
