//! The append-only, hash-chained audit log on PostgreSQL: one chain for the whole
//! database, whichever node appends. Rows are only ever inserted (triggers refuse UPDATE,
//! DELETE and TRUNCATE); `audit_head` moves with each insert in the same transaction.
//!
//! Appends from several nodes at once are serialised by the row lock on `audit_head`
//! (`SELECT … FOR UPDATE`): the holder reads the last row, seals the next one, inserts
//! it and moves the head, and only then does the next appender get the lock. Under READ
//! COMMITTED the next appender's read of the last row runs after the lock was granted,
//! so it sees the row the previous holder committed: no two rows share a seq and no row
//! chains from a stale hash.

use super::rows::{get, json};
use super::{PostgresStore, db, to_i64};
use crate::Result;
use crate::columns::to_json;
use crate::security::{AuditDraft, AuditRecord, AuditRepo, AuditSealer};
use cairn_types::TenantId;
use postgres::{Row, Transaction};

const AUDIT_COLS: &str =
    "seq, at, tenant_id, actor, action, target, outcome, detail, prev_hash, hash";

fn record(r: &Row) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: get(r, 0, "seq")?,
        at: get(r, 1, "at")?,
        tenant: get(r, 2, "tenant_id")?,
        actor: get(r, 3, "actor")?,
        action: get(r, 4, "action")?,
        target: get(r, 5, "target")?,
        outcome: get(r, 6, "outcome")?,
        detail: json(r, 7, "detail")?,
        prev_hash: get(r, 8, "prev_hash")?,
        hash: get(r, 9, "hash")?,
    })
}

/// `LIMIT` for `limit` where 0 means all (`LIMIT NULL` is no limit).
fn limit_param(limit: usize) -> Option<i64> {
    (limit != 0).then(|| to_i64(limit))
}

impl AuditRepo for PostgresStore {
    fn append_audit(
        &self,
        d: &AuditDraft,
        genesis: &str,
        seal: AuditSealer<'_>,
    ) -> Result<AuditRecord> {
        let detail = to_json(&d.detail)?;
        self.write(&format!("auditing `{}`", d.action), |tx| {
            append(tx, d, &detail, genesis, seal)
        })
    }

    fn audit_rows(&self, after: i64, limit: usize) -> Result<Vec<AuditRecord>> {
        self.read("reading the audit log", |client| {
            client
                .query(
                    &format!(
                        "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
                    ),
                    &[&after, &limit_param(limit)],
                )
                .map_err(db)?
                .iter()
                .map(record)
                .collect()
        })
    }

    fn tenant_audit(&self, tenant: &TenantId, limit: usize) -> Result<Vec<AuditRecord>> {
        self.read("reading the audit log", |client| {
            client
                .query(
                    &format!(
                        "SELECT {AUDIT_COLS} FROM audit_log WHERE tenant_id = $1
                         ORDER BY seq DESC LIMIT $2"
                    ),
                    &[&tenant.as_str(), &limit_param(limit)],
                )
                .map_err(db)?
                .iter()
                .map(record)
                .collect()
        })
    }

    fn audit_head(&self) -> Result<Option<(i64, String)>> {
        self.read("reading the audit head", |client| {
            client
                .query_opt("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
                .map_err(db)?
                .map(|r| Ok((get(&r, 0, "seq")?, get(&r, 1, "hash")?)))
                .transpose()
        })
    }
}

/// One append inside `tx`: lock the head (creating it on the first append), read the
/// last row, seal the next one, insert it and move the head.
fn append(
    tx: &mut Transaction<'_>,
    d: &AuditDraft,
    detail: &str,
    genesis: &str,
    seal: AuditSealer<'_>,
) -> Result<AuditRecord> {
    // The first append ever creates the head row; concurrent first appenders conflict on
    // its key, wait for the winner's commit and then queue on its lock like the rest.
    tx.execute(
        "INSERT INTO audit_head(id, seq, hash) VALUES (1, 0, $1)
         ON CONFLICT(id) DO NOTHING",
        &[&genesis],
    )
    .map_err(db)?;
    tx.execute("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE", &[])
        .map_err(db)?;
    // The chain continues from the last row itself, so a head row that was tampered
    // with cannot redirect it; verification compares the two.
    let last = tx
        .query_opt(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .map_err(db)?;
    let (seq, prev) = match last {
        Some(r) => (get::<i64>(&r, 0, "seq")? + 1, get::<String>(&r, 1, "hash")?),
        None => (1, genesis.to_owned()),
    };
    let hash = seal(seq, &prev, d);
    tx.execute(
        &format!(
            "INSERT INTO audit_log({AUDIT_COLS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ),
        &[
            &seq, &d.at, &d.tenant, &d.actor, &d.action, &d.target, &d.outcome, &detail, &prev,
            &hash,
        ],
    )
    .map_err(db)?;
    tx.execute(
        "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
        &[&seq, &hash],
    )
    .map_err(db)?;
    Ok(AuditRecord {
        seq,
        at: d.at,
        tenant: d.tenant.clone(),
        actor: d.actor.clone(),
        action: d.action.clone(),
        target: d.target.clone(),
        outcome: d.outcome.clone(),
        detail: d.detail.clone(),
        prev_hash: prev,
        hash,
    })
}
