//! Stored evaluation runs.

use super::rows::{get, json};
use super::{PostgresStore, db, insert_err, not_found};
use crate::Result;
use crate::eval_run::{EvalRun, EvalRunHead, EvalRunRepo};
use cairn_types::TenantId;

impl EvalRunRepo for PostgresStore {
    fn put_eval_run(&self, r: &EvalRun) -> Result<()> {
        self.write(&format!("storing eval run `{}`", r.id), |tx| {
            tx.execute(
                "INSERT INTO eval_runs(tenant_id, id, kind, label, dataset, dataset_hash, config,
                    summary, results, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &r.tenant.as_str(),
                    &r.id,
                    &r.kind,
                    &r.label,
                    &r.dataset,
                    &r.dataset_hash,
                    &r.config.to_string(),
                    &r.summary.to_string(),
                    &r.results.to_string(),
                    &r.created_at,
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
        self.read(&format!("reading eval run `{id}`"), |client| {
            let row = client
                .query_opt(
                    "SELECT kind, label, dataset, dataset_hash, config, summary, results,
                        created_at
                     FROM eval_runs WHERE tenant_id = $1 AND id = $2",
                    &[&tenant.as_str(), &id],
                )
                .map_err(db)?
                .ok_or_else(|| not_found(format!("eval run `{id}`")))?;
            Ok(EvalRun {
                tenant: tenant.clone(),
                id: id.to_owned(),
                kind: get(&row, 0, "kind")?,
                label: get(&row, 1, "label")?,
                dataset: get(&row, 2, "dataset")?,
                dataset_hash: get(&row, 3, "dataset_hash")?,
                config: json(&row, 4, "config")?,
                summary: json(&row, 5, "summary")?,
                results: json(&row, 6, "results")?,
                created_at: get(&row, 7, "created_at")?,
            })
        })
    }

    fn list_eval_runs(&self, tenant: &TenantId, limit: usize) -> Result<Vec<EvalRunHead>> {
        self.read("listing eval runs", |client| {
            client
                .query(
                    "SELECT id, kind, label, dataset, dataset_hash, summary, created_at
                     FROM eval_runs WHERE tenant_id = $1
                     ORDER BY created_at DESC, id DESC LIMIT $2",
                    &[&tenant.as_str(), &(limit as i64)],
                )
                .map_err(db)?
                .iter()
                .map(|row| {
                    Ok(EvalRunHead {
                        id: get(row, 0, "id")?,
                        kind: get(row, 1, "kind")?,
                        label: get(row, 2, "label")?,
                        dataset: get(row, 3, "dataset")?,
                        dataset_hash: get(row, 4, "dataset_hash")?,
                        summary: json(row, 5, "summary")?,
                        created_at: get(row, 6, "created_at")?,
                    })
                })
                .collect()
        })
    }

    fn delete_eval_run(&self, tenant: &TenantId, id: &str) -> Result<()> {
        self.write(&format!("deleting eval run `{id}`"), |tx| {
            let n = tx
                .execute(
                    "DELETE FROM eval_runs WHERE tenant_id = $1 AND id = $2",
                    &[&tenant.as_str(), &id],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("eval run `{id}`")));
            }
            Ok(())
        })
    }
}
