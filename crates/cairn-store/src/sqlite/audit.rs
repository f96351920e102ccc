//! The append-only, hash-chained audit log. Rows are only ever inserted (triggers refuse
//! UPDATE and DELETE); `audit_head` moves with each insert in the same transaction.

use super::rows::{json, to_json};
use super::{SqliteStore, db, to_i64};
use crate::Result;
use crate::security::{AuditDraft, AuditRecord, AuditRepo, AuditSealer};
use cairn_types::TenantId;
use rusqlite::{OptionalExtension, Row};

const AUDIT_COLS: &str =
    "seq, at, tenant_id, actor, action, target, outcome, detail, prev_hash, hash";

fn record(r: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.get(0)?,
        at: r.get(1)?,
        tenant: r.get(2)?,
        actor: r.get(3)?,
        action: r.get(4)?,
        target: r.get(5)?,
        outcome: r.get(6)?,
        detail: json(r, 7, "detail")?,
        prev_hash: r.get(8)?,
        hash: r.get(9)?,
    })
}

impl AuditRepo for SqliteStore {
    fn append_audit(
        &self,
        d: &AuditDraft,
        genesis: &str,
        seal: AuditSealer<'_>,
    ) -> Result<AuditRecord> {
        let detail = to_json(&d.detail)?;
        self.write(&format!("auditing `{}`", d.action), |tx| {
            // The chain continues from the last row itself, so a head row that was
            // tampered with cannot redirect it; verification compares the two.
            let last: Option<(i64, String)> = tx
                .query_row(
                    "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            let (seq, prev) = match last {
                Some((s, h)) => (s + 1, h),
                None => (1, genesis.to_owned()),
            };
            let hash = seal(seq, &prev, d);
            tx.execute(
                &format!(
                    "INSERT INTO audit_log({AUDIT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                rusqlite::params![
                    seq, d.at, d.tenant, d.actor, d.action, d.target, d.outcome, detail, prev, hash
                ],
            )
            .map_err(db)?;
            tx.execute(
                "INSERT INTO audit_head(id, seq, hash) VALUES (1, ?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                (seq, hash.as_str()),
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
        })
    }

    fn audit_rows(&self, after: i64, limit: usize) -> Result<Vec<AuditRecord>> {
        self.read("reading the audit log", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                ))
                .map_err(db)?;
            let lim = if limit == 0 { -1 } else { to_i64(limit) };
            let rows = st.query_map((after, lim), record).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn tenant_audit(&self, tenant: &TenantId, limit: usize) -> Result<Vec<AuditRecord>> {
        self.read("reading the audit log", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {AUDIT_COLS} FROM audit_log WHERE tenant_id = ?1
                     ORDER BY seq DESC LIMIT ?2"
                ))
                .map_err(db)?;
            let lim = if limit == 0 { -1 } else { to_i64(limit) };
            let rows = st.query_map((tenant.as_str(), lim), record).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn audit_head(&self) -> Result<Option<(i64, String)>> {
        self.read("reading the audit head", |conn| {
            conn.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(db)
        })
    }
}
