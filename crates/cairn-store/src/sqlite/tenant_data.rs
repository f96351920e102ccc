//! Usage counters (quotas), per-tenant settings and sealed secrets.

use super::rows::to_json;
use super::{SqliteStore, db, insert_err, not_found};
use crate::Result;
use crate::security::{
    ModelUsage, ModelUsageRow, ResealedSecret, RouteUsage, RouteUsageRow, SealedSecret,
    TenantDataRepo, Usage, reseal_covers, reseal_raced,
};
use cairn_types::TenantId;
use rusqlite::OptionalExtension;

impl TenantDataRepo for SqliteStore {
    fn add_usage(&self, tenant: &TenantId, periods: &[&str], d: &Usage) -> Result<()> {
        self.write("recording usage", |tx| add_periods(tx, tenant, periods, d))
    }

    fn add_model_usage(
        &self,
        tenant: &TenantId,
        periods: &[&str],
        day: &str,
        model: &str,
        d: &ModelUsage,
    ) -> Result<()> {
        let total = Usage {
            requests: d.requests,
            tokens: d.input_tokens.saturating_add(d.output_tokens),
            cost_micros: d.cost_micros,
        };
        self.write("recording usage", |tx| {
            add_periods(tx, tenant, periods, &total)?;
            tx.execute(
                "INSERT INTO usage_by_model(tenant_id, day, model, requests, input_tokens,
                    output_tokens, cost_micros) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(tenant_id, day, model) DO UPDATE SET
                    requests = requests + excluded.requests,
                    input_tokens = input_tokens + excluded.input_tokens,
                    output_tokens = output_tokens + excluded.output_tokens,
                    cost_micros = cost_micros + excluded.cost_micros",
                (
                    tenant.as_str(),
                    day,
                    model,
                    d.requests,
                    d.input_tokens,
                    d.output_tokens,
                    d.cost_micros,
                ),
            )
            .map_err(|e| insert_err(e, String::new, || format!("tenant `{tenant}`")))?;
            Ok(())
        })
    }

    fn model_usage(&self, tenant: &TenantId, since_day: &str) -> Result<Vec<ModelUsageRow>> {
        self.read("reading usage", |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT day, model, requests, input_tokens, output_tokens, cost_micros
                     FROM usage_by_model WHERE tenant_id = ?1 AND day >= ?2
                     ORDER BY day, model",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map((tenant.as_str(), since_day), |r| {
                    Ok(ModelUsageRow {
                        day: r.get(0)?,
                        model: r.get(1)?,
                        usage: ModelUsage {
                            requests: r.get(2)?,
                            input_tokens: r.get(3)?,
                            output_tokens: r.get(4)?,
                            cost_micros: r.get(5)?,
                        },
                    })
                })
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn add_route_usage(
        &self,
        tenant: &TenantId,
        day: &str,
        route: &str,
        model: &str,
        d: &RouteUsage,
    ) -> Result<()> {
        self.write("recording usage", |tx| {
            let key = (tenant.as_str(), day, route, model);
            let old: Option<String> = tx
                .query_row(
                    "SELECT latency FROM usage_by_route
                     WHERE tenant_id = ?1 AND day = ?2 AND route = ?3 AND model = ?4",
                    key,
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            let mut merged = RouteUsage {
                latency_buckets: old
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default(),
                ..RouteUsage::default()
            };
            merged.merge(d);
            tx.execute(
                "INSERT INTO usage_by_route(tenant_id, day, route, model, requests, errors,
                    server_errors, input_tokens, output_tokens, cost_micros, latency)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT(tenant_id, day, route, model) DO UPDATE SET
                    requests = requests + excluded.requests,
                    errors = errors + excluded.errors,
                    server_errors = server_errors + excluded.server_errors,
                    input_tokens = input_tokens + excluded.input_tokens,
                    output_tokens = output_tokens + excluded.output_tokens,
                    cost_micros = cost_micros + excluded.cost_micros,
                    latency = excluded.latency",
                rusqlite::params![
                    tenant.as_str(),
                    day,
                    route,
                    model,
                    d.requests,
                    d.errors,
                    d.server_errors,
                    d.input_tokens,
                    d.output_tokens,
                    d.cost_micros,
                    to_json(&merged.latency_buckets)?,
                ],
            )
            .map_err(|e| insert_err(e, String::new, || format!("tenant `{tenant}`")))?;
            Ok(())
        })
    }

    fn route_usage(&self, tenant: &TenantId, since_day: &str) -> Result<Vec<RouteUsageRow>> {
        self.read("reading usage", |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT day, route, model, requests, errors, server_errors, input_tokens,
                        output_tokens, cost_micros, latency
                     FROM usage_by_route WHERE tenant_id = ?1 AND day >= ?2
                     ORDER BY day, route, model",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map((tenant.as_str(), since_day), |r| {
                    let latency: String = r.get(9)?;
                    Ok(RouteUsageRow {
                        day: r.get(0)?,
                        route: r.get(1)?,
                        model: r.get(2)?,
                        usage: RouteUsage {
                            requests: r.get(3)?,
                            errors: r.get(4)?,
                            server_errors: r.get(5)?,
                            input_tokens: r.get(6)?,
                            output_tokens: r.get(7)?,
                            cost_micros: r.get(8)?,
                            latency_buckets: serde_json::from_str(&latency).unwrap_or_default(),
                        },
                    })
                })
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn usage(&self, tenant: &TenantId, period: &str) -> Result<Usage> {
        self.read("reading usage", |conn| {
            Ok(conn
                .query_row(
                    "SELECT requests, tokens, cost_micros FROM usage
                     WHERE tenant_id = ?1 AND period = ?2",
                    (tenant.as_str(), period),
                    |r| {
                        Ok(Usage {
                            requests: r.get(0)?,
                            tokens: r.get(1)?,
                            cost_micros: r.get(2)?,
                        })
                    },
                )
                .optional()
                .map_err(db)?
                .unwrap_or_default())
        })
    }

    fn tenant_settings(&self, tenant: &TenantId) -> Result<Option<serde_json::Value>> {
        self.read("reading tenant settings", |conn| {
            let text: Option<String> = conn
                .query_row(
                    "SELECT settings FROM tenant_settings WHERE tenant_id = ?1",
                    [tenant.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            text.map(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| crate::Error::Corrupt(format!("tenant settings: {e}")))
            })
            .transpose()
        })
    }

    fn set_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &serde_json::Value,
        now: i64,
    ) -> Result<()> {
        let text = to_json(settings)?;
        self.write("saving tenant settings", |tx| {
            tx.execute(
                "INSERT INTO tenant_settings(tenant_id, settings, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(tenant_id) DO UPDATE SET settings = excluded.settings,
                    updated_at = excluded.updated_at",
                (tenant.as_str(), text.as_str(), now),
            )
            .map_err(|e| insert_err(e, String::new, || format!("tenant `{tenant}`")))?;
            Ok(())
        })
    }

    fn put_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        sealed: &str,
        key_id: &str,
        now: i64,
    ) -> Result<()> {
        self.write(&format!("storing secret `{name}`"), |tx| {
            tx.execute(
                "INSERT INTO secrets(tenant_id, name, sealed, key_id, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT(tenant_id, name) DO UPDATE SET sealed = excluded.sealed,
                    key_id = excluded.key_id, updated_at = excluded.updated_at",
                (tenant.as_str(), name, sealed, key_id, now),
            )
            .map_err(|e| insert_err(e, String::new, || format!("tenant `{tenant}`")))?;
            Ok(())
        })
    }

    fn get_secret(&self, tenant: &TenantId, name: &str) -> Result<Option<(String, String)>> {
        self.read(&format!("reading secret `{name}`"), |conn| {
            conn.query_row(
                "SELECT sealed, key_id FROM secrets WHERE tenant_id = ?1 AND name = ?2",
                (tenant.as_str(), name),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)
        })
    }

    fn list_secrets(&self, tenant: &TenantId) -> Result<Vec<(String, String, i64)>> {
        self.read("listing secrets", |conn| {
            let mut st = conn
                .prepare_cached(
                    "SELECT name, key_id, updated_at FROM secrets WHERE tenant_id = ?1 ORDER BY name",
                )
                .map_err(db)?;
            let rows = st
                .query_map([tenant.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn delete_secret(&self, tenant: &TenantId, name: &str) -> Result<()> {
        self.write(&format!("deleting secret `{name}`"), |tx| {
            let n = tx
                .execute(
                    "DELETE FROM secrets WHERE tenant_id = ?1 AND name = ?2",
                    (tenant.as_str(), name),
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("secret `{name}`")));
            }
            Ok(())
        })
    }

    fn all_secrets(&self) -> Result<Vec<SealedSecret>> {
        self.read("reading every secret", |conn| {
            let mut st = conn
                .prepare(
                    "SELECT tenant_id, name, sealed, key_id FROM secrets
                     ORDER BY tenant_id, name",
                )
                .map_err(db)?;
            let rows = st
                .query_map([], |r| {
                    Ok(SealedSecret {
                        tenant: TenantId::new(r.get::<_, String>(0)?),
                        name: r.get(1)?,
                        sealed: r.get(2)?,
                        key_id: r.get(3)?,
                    })
                })
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn reseal_secrets(&self, resealed: &[ResealedSecret], now: i64) -> Result<usize> {
        // `BEGIN IMMEDIATE` holds the write lock from the count to the commit: no other
        // writer, in this process or another, can add or change a secret in between.
        self.write("re-sealing every secret", |tx| {
            let stored: i64 = tx
                .query_row("SELECT count(*) FROM secrets", [], |r| r.get(0))
                .map_err(db)?;
            reseal_covers(stored, resealed)?;
            let mut st = tx
                .prepare(
                    "UPDATE secrets SET sealed = ?3, key_id = ?4, updated_at = ?5
                     WHERE tenant_id = ?1 AND name = ?2 AND sealed = ?6",
                )
                .map_err(db)?;
            for r in resealed {
                let n = st
                    .execute((
                        r.tenant.as_str(),
                        r.name.as_str(),
                        r.sealed.as_str(),
                        r.key_id.as_str(),
                        now,
                        r.was.as_str(),
                    ))
                    .map_err(db)?;
                if n != 1 {
                    return Err(reseal_raced(format!(
                        "secret `{}` of tenant `{}` is gone or was replaced",
                        r.name, r.tenant
                    )));
                }
            }
            Ok(resealed.len())
        })
    }
}

/// Adds `d` to each period's counters.
fn add_periods(
    tx: &rusqlite::Transaction<'_>,
    tenant: &TenantId,
    periods: &[&str],
    d: &Usage,
) -> Result<()> {
    for p in periods {
        tx.execute(
            "INSERT INTO usage(tenant_id, period, requests, tokens, cost_micros)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(tenant_id, period) DO UPDATE SET
                requests = requests + excluded.requests,
                tokens = tokens + excluded.tokens,
                cost_micros = cost_micros + excluded.cost_micros",
            (tenant.as_str(), *p, d.requests, d.tokens, d.cost_micros),
        )
        .map_err(|e| insert_err(e, String::new, || format!("tenant `{tenant}`")))?;
    }
    Ok(())
}
