//! Stored evaluation runs.

use super::rows::json;
use super::{SqliteStore, db, insert_err, not_found};
use crate::Result;
use crate::eval_run::{EvalRun, EvalRunHead, EvalRunRepo};
use cairn_types::TenantId;
use rusqlite::OptionalExtension;

impl EvalRunRepo for SqliteStore {
    fn put_eval_run(&self, r: &EvalRun) -> Result<()> {
        self.write(&format!("storing eval run `{}`", r.id), |tx| {
            tx.execute(
                "INSERT INTO eval_runs(tenant_id, id, kind, label, dataset, dataset_hash, config,
                    summary, results, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                rusqlite::params![
                    r.tenant.as_str(),
                    r.id,
                    r.kind,
                    r.label,
                    r.dataset,
                    r.dataset_hash,
                    r.config.to_string(),
                    r.summary.to_string(),
                    r.results.to_string(),
                    r.created_at,
                ],
            )
            .map_err(|e| {
                insert_err(
                    e,
                    || format!("eval run `{}` already exists", r.id),
                    || format!("tenant `{}`", r.tenant),
                )
            })?;
            Ok(())
        })
    }

    fn get_eval_run(&self, tenant: &TenantId, id: &str) -> Result<EvalRun> {
        self.read(&format!("reading eval run `{id}`"), |conn| {
            conn.query_row(
                "SELECT kind, label, dataset, dataset_hash, config, summary, results, created_at
                 FROM eval_runs WHERE tenant_id = ?1 AND id = ?2",
                (tenant.as_str(), id),
                |r| {
                    Ok(EvalRun {
                        tenant: tenant.clone(),
                        id: id.to_owned(),
                        kind: r.get(0)?,
                        label: r.get(1)?,
                        dataset: r.get(2)?,
                        dataset_hash: r.get(3)?,
                        config: json(r, 4, "config")?,
                        summary: json(r, 5, "summary")?,
                        results: json(r, 6, "results")?,
                        created_at: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(db)?
            .ok_or_else(|| not_found(format!("eval run `{id}`")))
        })
    }

    fn list_eval_runs(&self, tenant: &TenantId, limit: usize) -> Result<Vec<EvalRunHead>> {
        self.read("listing eval runs", |conn| {
            let mut st = conn
                .prepare_cached(
                    "SELECT id, kind, label, dataset, dataset_hash, summary, created_at
                     FROM eval_runs WHERE tenant_id = ?1
                     ORDER BY created_at DESC, id DESC LIMIT ?2",
                )
                .map_err(db)?;
            let rows = st
                .query_map((tenant.as_str(), limit as i64), |r| {
                    Ok(EvalRunHead {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        label: r.get(2)?,
                        dataset: r.get(3)?,
                        dataset_hash: r.get(4)?,
                        summary: json(r, 5, "summary")?,
                        created_at: r.get(6)?,
                    })
                })
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn delete_eval_run(&self, tenant: &TenantId, id: &str) -> Result<()> {
        self.write(&format!("deleting eval run `{id}`"), |tx| {
            let n = tx
                .execute(
                    "DELETE FROM eval_runs WHERE tenant_id = ?1 AND id = ?2",
                    (tenant.as_str(), id),
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("eval run `{id}`")));
            }
            Ok(())
        })
    }
}
