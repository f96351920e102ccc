//! Retention sweeps, legal holds and tenant offboarding on SQLite.
//!
//! Every sweep and purge is one write transaction that first checks the holds, so a
//! hold set concurrently either lands before (and is honoured) or after (and the
//! deletion already happened in full). Rows owned by a held user are skipped with one
//! `NOT EXISTS` against `legal_holds`; a row without an owner is never held by a user.

use super::commit::log_change;
use super::{SqliteStore, db, not_found};
use crate::lifecycle::{LegalHold, LifecycleRepo, RetentionCutoffs, SweepCounts, TenantPurge};
use crate::{Error, Result};
use cairn_types::{CollectionId, DocumentId, TenantId};
use rusqlite::{Connection, OptionalExtension, Transaction};

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

fn holds(conn: &Connection, tenant: &TenantId) -> Result<Vec<LegalHold>> {
    let mut st = conn
        .prepare_cached(
            "SELECT subject, reason, set_by, set_at FROM legal_holds
             WHERE tenant_id = ?1 ORDER BY subject",
        )
        .map_err(db)?;
    let rows = st
        .query_map([tenant.as_str()], |r| {
            let subject: String = r.get(0)?;
            Ok(LegalHold {
                tenant: tenant.clone(),
                user: (subject != WHOLE_TENANT).then_some(subject),
                reason: r.get(1)?,
                set_by: r.get(2)?,
                set_at: r.get(3)?,
            })
        })
        .map_err(db)?;
    rows.collect::<rusqlite::Result<_>>().map_err(db)
}

/// Why `user`'s data may not be erased, if a hold forbids it: the tenant's hold, the
/// user's own, or another held user's feedback on the user's answers (erasure would
/// take it along).
pub(crate) fn erase_blocker(
    conn: &Connection,
    tenant: &TenantId,
    user: &str,
) -> Result<Option<String>> {
    let held = holds(conn, tenant)?;
    if let Some(h) = held
        .iter()
        .find(|h| h.user.is_none() || h.user.as_deref() == Some(user))
    {
        return Ok(Some(h.describe()));
    }
    if held.is_empty() {
        return Ok(None);
    }
    let other: Option<String> = conn
        .query_row(
            "SELECT f.owner FROM feedback f
             JOIN legal_holds h ON h.tenant_id = f.tenant_id AND h.subject = f.owner
             JOIN answers a ON a.tenant_id = f.tenant_id AND a.id = f.answer_id
             WHERE f.tenant_id = ?1 AND a.owner = ?2 LIMIT 1",
            (tenant.as_str(), user),
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    Ok(other.map(|o| {
        format!(
            "user {o} of tenant {tenant} is under legal hold and gave feedback on answers of {user}"
        )
    }))
}

fn count(tx: &Transaction<'_>, sql: &str, tenant: &TenantId, at: i64) -> Result<usize> {
    let n: i64 = tx
        .query_row(sql, (tenant.as_str(), at), |r| r.get(0))
        .map_err(db)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

fn exec(tx: &Transaction<'_>, sql: &str, tenant: &TenantId, at: i64) -> Result<usize> {
    tx.execute(sql, (tenant.as_str(), at)).map_err(db)
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
    tx: &Transaction<'_>,
    tenant: &TenantId,
    c: &RetentionCutoffs,
    r: &mut SweepCounts,
) -> Result<()> {
    if let Some(at) = c.feedback {
        r.feedback += exec(
            tx,
            &format!(
                "DELETE FROM feedback AS f WHERE f.tenant_id = ?1 AND f.created_at < ?2 AND {}",
                not_held("f")
            ),
            tenant,
            at,
        )?;
    }
    if let Some(at) = c.answers {
        // An answer goes with the feedback on it, unless a held user gave some.
        let expired = format!(
            "a.tenant_id = ?1 AND a.created_at < ?2 AND {} AND NOT EXISTS (
                SELECT 1 FROM feedback f JOIN legal_holds h
                  ON h.tenant_id = f.tenant_id AND h.subject = f.owner
                WHERE f.tenant_id = a.tenant_id AND f.answer_id = a.id)",
            not_held("a")
        );
        r.feedback += count(
            tx,
            &format!(
                "SELECT COUNT(*) FROM feedback WHERE tenant_id = ?1 AND answer_id IN
                    (SELECT a.id FROM answers a WHERE {expired})"
            ),
            tenant,
            at,
        )?;
        r.answers += exec(
            tx,
            &format!("DELETE FROM answers AS a WHERE {expired}"),
            tenant,
            at,
        )?;
    }
    Ok(())
}

/// Deletes conversations (with their messages) inactive since before the cutoff; their
/// answers that are kept are unlinked, as `delete_conversation` does.
fn sweep_conversations(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    at: i64,
    r: &mut SweepCounts,
) -> Result<()> {
    let expired = format!(
        "c.tenant_id = ?1 AND c.updated_at < ?2 AND {}",
        not_held("c")
    );
    r.messages += count(
        tx,
        &format!(
            "SELECT COUNT(*) FROM messages WHERE tenant_id = ?1 AND conversation_id IN
                (SELECT c.id FROM conversations c WHERE {expired})"
        ),
        tenant,
        at,
    )?;
    exec(
        tx,
        &format!(
            "UPDATE answers SET conversation_id = NULL WHERE tenant_id = ?1 AND conversation_id IN
                (SELECT c.id FROM conversations c WHERE {expired})"
        ),
        tenant,
        at,
    )?;
    r.conversations += exec(
        tx,
        &format!("DELETE FROM conversations AS c WHERE {expired}"),
        tenant,
        at,
    )?;
    Ok(())
}

/// Deletes audit-exempt logs: usage counters, idempotency keys, finished jobs with
/// their uploads' bytes.
fn sweep_logs(tx: &Transaction<'_>, tenant: &TenantId, at: i64, r: &mut SweepCounts) -> Result<()> {
    let (day, month) = periods(at);
    r.usage_rows += tx
        .execute(
            "DELETE FROM usage WHERE tenant_id = ?1 AND (
                (period LIKE 'd:%' AND period < ?2) OR (period LIKE 'm:%' AND period < ?3))",
            (tenant.as_str(), day.as_str(), month.as_str()),
        )
        .map_err(db)?;
    // `d:YYYY-MM-DD` without its prefix is the per-model rows' day.
    for table in ["usage_by_model", "usage_by_route"] {
        r.usage_rows += tx
            .execute(
                &format!("DELETE FROM {table} WHERE tenant_id = ?1 AND day < ?2"),
                (tenant.as_str(), day.trim_start_matches("d:")),
            )
            .map_err(db)?;
    }
    // Keys of a held user's uploads stay with the uploads.
    r.idempotency_keys += exec(
        tx,
        "DELETE FROM idempotency_keys AS k WHERE k.tenant_id = ?1 AND k.created_at < ?2
            AND NOT EXISTS (SELECT 1 FROM documents d JOIN legal_holds h
                ON h.tenant_id = d.tenant_id AND h.subject = d.owner
                WHERE d.tenant_id = k.tenant_id AND d.id = k.document_id)",
        tenant,
        at,
    )?;
    // An upload's bytes go with its finished job, unless its uploader is held: then
    // both stay.
    r.uploads += exec(
        tx,
        &format!(
            "DELETE FROM uploads AS u WHERE u.tenant_id = ?1 AND {} AND EXISTS (
                SELECT 1 FROM jobs j WHERE j.tenant_id = u.tenant_id AND j.id = u.job_id
                  AND j.state IN ('succeeded', 'dead') AND j.updated_at < ?2)",
            not_held("u")
        ),
        tenant,
        at,
    )?;
    r.jobs += exec(
        tx,
        "DELETE FROM jobs AS j WHERE j.tenant_id = ?1 AND j.state IN ('succeeded', 'dead')
            AND j.updated_at < ?2 AND NOT EXISTS (
                SELECT 1 FROM uploads u WHERE u.tenant_id = j.tenant_id AND u.job_id = j.id)",
        tenant,
        at,
    )?;
    Ok(())
}

/// Deletes documents not written or confirmed since the cutoff, through the same path
/// as `delete_document`: chunks and idempotency keys cascade, and each delete goes to
/// the index change log.
fn sweep_documents(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    at: i64,
    r: &mut SweepCounts,
) -> Result<()> {
    let expired = format!(
        "d.tenant_id = ?1 AND d.updated_at < ?2 AND {}",
        not_held("d")
    );
    r.chunks += count(
        tx,
        &format!(
            "SELECT COUNT(*) FROM chunks WHERE tenant_id = ?1 AND document_id IN
                (SELECT d.id FROM documents d WHERE {expired})"
        ),
        tenant,
        at,
    )?;
    let gone: Vec<(String, String)> = {
        let mut st = tx
            .prepare_cached(&format!(
                "DELETE FROM documents AS d WHERE {expired} RETURNING id, collection_id"
            ))
            .map_err(db)?;
        let rows = st
            .query_map((tenant.as_str(), at), |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)?
    };
    for (id, coll) in &gone {
        log_change(
            tx,
            tenant,
            &CollectionId::new(coll.clone()),
            &DocumentId::new(id.clone()),
        )?;
        r.collections.push(CollectionId::new(coll.clone()));
    }
    r.documents += gone.len();
    r.collections.sort();
    r.collections.dedup();
    Ok(())
}

impl LifecycleRepo for SqliteStore {
    fn put_legal_hold(&self, hold: &LegalHold) -> Result<()> {
        let tenant = &hold.tenant;
        self.write(
            &format!("setting a legal hold in tenant `{tenant}`"),
            |tx| {
                tx.execute(
                    "INSERT INTO legal_holds(tenant_id, subject, reason, set_by, set_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(tenant_id, subject) DO UPDATE SET reason = excluded.reason,
                    set_by = excluded.set_by, set_at = excluded.set_at",
                    (
                        tenant.as_str(),
                        subject(hold.user.as_deref()),
                        hold.reason.as_str(),
                        hold.set_by.as_str(),
                        hold.set_at,
                    ),
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
                let n = tx
                    .execute(
                        "DELETE FROM legal_holds WHERE tenant_id = ?1 AND subject = ?2",
                        (tenant.as_str(), subject(user)),
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
        self.read("listing legal holds", |conn| holds(conn, tenant))
    }

    fn sweep_expired(&self, tenant: &TenantId, cutoffs: &RetentionCutoffs) -> Result<SweepCounts> {
        self.write(
            &format!("sweeping expired data of tenant `{tenant}`"),
            |tx| {
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

    fn purge_tenant(&self, tenant: &TenantId) -> Result<TenantPurge> {
        self.write(&format!("deleting tenant `{tenant}`"), |tx| {
            let exists = tx
                .query_row(
                    "SELECT 1 FROM tenants WHERE tenant_id = ?1",
                    [tenant.as_str()],
                    |_| Ok(()),
                )
                .optional()
                .map_err(db)?
                .is_some();
            if !exists {
                return Err(not_found(format!("tenant `{tenant}`")));
            }
            if let Some(h) = holds(tx, tenant)?.first() {
                return Err(Error::Conflict(h.describe()));
            }
            purge(tx, tenant)
        })
    }
}

/// Deletes children before parents, so every count is of the table's own rows (no
/// cascade fires) and nothing of the tenant is left. The audit log is not touched.
fn purge(tx: &Transaction<'_>, tenant: &TenantId) -> Result<TenantPurge> {
    let del = |table: &str| -> Result<usize> {
        tx.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = ?1"),
            [tenant.as_str()],
        )
        .map_err(db)
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
    let ids: Vec<String> = {
        let mut st = tx
            .prepare_cached("DELETE FROM collections WHERE tenant_id = ?1 RETURNING id")
            .map_err(db)?;
        let rows = st
            .query_map([tenant.as_str()], |row| row.get(0))
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)?
    };
    r.collections = ids.len();
    r.collection_ids = ids.into_iter().map(CollectionId::new).collect();
    r.collection_ids.sort();
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
