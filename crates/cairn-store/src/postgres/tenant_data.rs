//! Usage counters (quotas), per-tenant settings and sealed secrets on PostgreSQL.
//!
//! Several nodes count the same tenant's requests at once, so no counter is ever read
//! and written back: each is one `INSERT … ON CONFLICT … DO UPDATE SET n = t.n +
//! EXCLUDED.n` statement, which PostgreSQL applies under the row's lock on the row's
//! latest version. The per-route latency histogram is the one value merged in Rust; its
//! row is locked (`FOR UPDATE`) between the read and the write. Settings and secrets are
//! whole-value upserts (the last writer wins, as under SQLite).

use super::rows::get;
use super::{PostgresStore, db, insert_err, not_found};
use crate::Result;
use crate::columns::to_json;
use crate::security::{
    ModelUsage, ModelUsageRow, ResealedSecret, RouteUsage, RouteUsageRow, SealedSecret,
    TenantDataRepo, Usage, reseal_covers, reseal_raced,
};
use cairn_types::TenantId;
use postgres::Transaction;

impl TenantDataRepo for PostgresStore {
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
                "INSERT INTO usage_by_model AS u(tenant_id, day, model, requests,
                    input_tokens, output_tokens, cost_micros)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT(tenant_id, day, model) DO UPDATE SET
                    requests = u.requests + EXCLUDED.requests,
                    input_tokens = u.input_tokens + EXCLUDED.input_tokens,
                    output_tokens = u.output_tokens + EXCLUDED.output_tokens,
                    cost_micros = u.cost_micros + EXCLUDED.cost_micros",
                &[
                    &tenant.as_str(),
                    &day,
                    &model,
                    &d.requests,
                    &d.input_tokens,
                    &d.output_tokens,
                    &d.cost_micros,
                ],
            )
            .map_err(|e| insert_err(e, String::new, || format!("tenant `{tenant}`")))?;
            Ok(())
        })
    }

    fn model_usage(&self, tenant: &TenantId, since_day: &str) -> Result<Vec<ModelUsageRow>> {
        self.read("reading usage", |client| {
            client
                .query(
                    "SELECT day, model, requests, input_tokens, output_tokens, cost_micros
                     FROM usage_by_model WHERE tenant_id = $1 AND day >= $2
                     ORDER BY day, model",
                    &[&tenant.as_str(), &since_day],
                )
                .map_err(db)?
                .iter()
                .map(|r| {
                    Ok(ModelUsageRow {
                        day: get(r, 0, "day")?,
                        model: get(r, 1, "model")?,
                        usage: ModelUsage {
                            requests: get(r, 2, "requests")?,
                            input_tokens: get(r, 3, "input_tokens")?,
                            output_tokens: get(r, 4, "output_tokens")?,
                            cost_micros: get(r, 5, "cost_micros")?,
                        },
                    })
                })
                .collect()
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
            let t = tenant.as_str();
            // A new row starts as `d` itself (the histogram `d`'s, merged into nothing).
            let mut fresh = RouteUsage::default();
            fresh.merge(d);
            let latency = to_json(&fresh.latency_buckets)?;
            // Insert `d` as a new row, or lock the existing one; a row deleted between
            // the two (a purge) is inserted again, so no request goes uncounted.
            let mut old = None;
            for _ in 0..3 {
                let inserted = tx
                    .execute(
                        "INSERT INTO usage_by_route(tenant_id, day, route, model, requests,
                            errors, server_errors, input_tokens, output_tokens, cost_micros,
                            latency)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                         ON CONFLICT(tenant_id, day, route, model) DO NOTHING",
                        &[
                            &t,
                            &day,
                            &route,
                            &model,
                            &d.requests,
                            &d.errors,
                            &d.server_errors,
                            &d.input_tokens,
                            &d.output_tokens,
                            &d.cost_micros,
                            &latency,
                        ],
                    )
                    .map_err(|e| insert_err(e, String::new, || format!("tenant `{tenant}`")))?;
                if inserted == 1 {
                    return Ok(());
                }
                // The row exists (committed: a concurrent inserter was waited for). Lock
                // it, so that no other node merges a histogram between this read and the
                // write.
                old = tx
                    .query_opt(
                        "SELECT latency FROM usage_by_route
                         WHERE tenant_id = $1 AND day = $2 AND route = $3 AND model = $4
                         FOR UPDATE",
                        &[&t, &day, &route, &model],
                    )
                    .map_err(db)?;
                if old.is_some() {
                    break;
                }
            }
            let Some(old) = old else {
                return Err(crate::Error::Busy(format!(
                    "the usage row of route `{route}` kept vanishing while recording"
                )));
            };
            let old: String = get(&old, 0, "latency")?;
            let mut merged = RouteUsage {
                latency_buckets: serde_json::from_str(&old).unwrap_or_default(),
                ..RouteUsage::default()
            };
            merged.merge(d);
            tx.execute(
                "UPDATE usage_by_route SET
                    requests = requests + $5,
                    errors = errors + $6,
                    server_errors = server_errors + $7,
                    input_tokens = input_tokens + $8,
                    output_tokens = output_tokens + $9,
                    cost_micros = cost_micros + $10,
                    latency = $11
                 WHERE tenant_id = $1 AND day = $2 AND route = $3 AND model = $4",
                &[
                    &t,
                    &day,
                    &route,
                    &model,
                    &d.requests,
                    &d.errors,
                    &d.server_errors,
                    &d.input_tokens,
                    &d.output_tokens,
                    &d.cost_micros,
                    &to_json(&merged.latency_buckets)?,
                ],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn route_usage(&self, tenant: &TenantId, since_day: &str) -> Result<Vec<RouteUsageRow>> {
        self.read("reading usage", |client| {
            client
                .query(
                    "SELECT day, route, model, requests, errors, server_errors, input_tokens,
                        output_tokens, cost_micros, latency
                     FROM usage_by_route WHERE tenant_id = $1 AND day >= $2
                     ORDER BY day, route, model",
                    &[&tenant.as_str(), &since_day],
                )
                .map_err(db)?
                .iter()
                .map(|r| {
                    let latency: &str = get(r, 9, "latency")?;
                    Ok(RouteUsageRow {
                        day: get(r, 0, "day")?,
                        route: get(r, 1, "route")?,
                        model: get(r, 2, "model")?,
                        usage: RouteUsage {
                            requests: get(r, 3, "requests")?,
                            errors: get(r, 4, "errors")?,
                            server_errors: get(r, 5, "server_errors")?,
                            input_tokens: get(r, 6, "input_tokens")?,
                            output_tokens: get(r, 7, "output_tokens")?,
                            cost_micros: get(r, 8, "cost_micros")?,
                            latency_buckets: serde_json::from_str(latency).unwrap_or_default(),
                        },
                    })
                })
                .collect()
        })
    }

    fn usage(&self, tenant: &TenantId, period: &str) -> Result<Usage> {
        self.read("reading usage", |client| {
            let Some(r) = client
                .query_opt(
                    "SELECT requests, tokens, cost_micros FROM usage
                     WHERE tenant_id = $1 AND period = $2",
                    &[&tenant.as_str(), &period],
                )
                .map_err(db)?
            else {
                return Ok(Usage::default());
            };
            Ok(Usage {
                requests: get(&r, 0, "requests")?,
                tokens: get(&r, 1, "tokens")?,
                cost_micros: get(&r, 2, "cost_micros")?,
            })
        })
    }

    fn tenant_settings(&self, tenant: &TenantId) -> Result<Option<serde_json::Value>> {
        self.read("reading tenant settings", |client| {
            let Some(r) = client
                .query_opt(
                    "SELECT settings FROM tenant_settings WHERE tenant_id = $1",
                    &[&tenant.as_str()],
                )
                .map_err(db)?
            else {
                return Ok(None);
            };
            let text: &str = get(&r, 0, "settings")?;
            serde_json::from_str(text)
                .map(Some)
                .map_err(|e| crate::Error::Corrupt(format!("tenant settings: {e}")))
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
                "INSERT INTO tenant_settings(tenant_id, settings, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT(tenant_id) DO UPDATE SET settings = EXCLUDED.settings,
                    updated_at = EXCLUDED.updated_at",
                &[&tenant.as_str(), &text, &now],
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
                 VALUES ($1, $2, $3, $4, $5, $5)
                 ON CONFLICT(tenant_id, name) DO UPDATE SET sealed = EXCLUDED.sealed,
                    key_id = EXCLUDED.key_id, updated_at = EXCLUDED.updated_at",
                &[&tenant.as_str(), &name, &sealed, &key_id, &now],
            )
            .map_err(|e| insert_err(e, String::new, || format!("tenant `{tenant}`")))?;
            Ok(())
        })
    }

    fn get_secret(&self, tenant: &TenantId, name: &str) -> Result<Option<(String, String)>> {
        self.read(&format!("reading secret `{name}`"), |client| {
            client
                .query_opt(
                    "SELECT sealed, key_id FROM secrets WHERE tenant_id = $1 AND name = $2",
                    &[&tenant.as_str(), &name],
                )
                .map_err(db)?
                .map(|r| Ok((get(&r, 0, "sealed")?, get(&r, 1, "key_id")?)))
                .transpose()
        })
    }

    fn list_secrets(&self, tenant: &TenantId) -> Result<Vec<(String, String, i64)>> {
        self.read("listing secrets", |client| {
            client
                .query(
                    "SELECT name, key_id, updated_at FROM secrets WHERE tenant_id = $1
                     ORDER BY name",
                    &[&tenant.as_str()],
                )
                .map_err(db)?
                .iter()
                .map(|r| {
                    Ok((
                        get(r, 0, "name")?,
                        get(r, 1, "key_id")?,
                        get(r, 2, "updated_at")?,
                    ))
                })
                .collect()
        })
    }

    fn delete_secret(&self, tenant: &TenantId, name: &str) -> Result<()> {
        self.write(&format!("deleting secret `{name}`"), |tx| {
            let n = tx
                .execute(
                    "DELETE FROM secrets WHERE tenant_id = $1 AND name = $2",
                    &[&tenant.as_str(), &name],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("secret `{name}`")));
            }
            Ok(())
        })
    }

    fn all_secrets(&self) -> Result<Vec<SealedSecret>> {
        self.read("reading every secret", |client| {
            client
                .query(
                    "SELECT tenant_id, name, sealed, key_id FROM secrets
                     ORDER BY tenant_id, name",
                    &[],
                )
                .map_err(db)?
                .iter()
                .map(|r| {
                    Ok(SealedSecret {
                        tenant: TenantId::new(get::<String>(r, 0, "tenant_id")?),
                        name: get(r, 1, "name")?,
                        sealed: get(r, 2, "sealed")?,
                        key_id: get(r, 3, "key_id")?,
                    })
                })
                .collect()
        })
    }

    fn reseal_secrets(&self, resealed: &[ResealedSecret], now: i64) -> Result<usize> {
        self.write("re-sealing every secret", |tx| {
            // SHARE ROW EXCLUSIVE conflicts with every insert, update and delete (and
            // with itself) but not with reads: until the commit no node can add or
            // change a secret, so the count below stays true and no secret is left
            // under the old key. Readers go on meanwhile.
            tx.batch_execute("LOCK TABLE secrets IN SHARE ROW EXCLUSIVE MODE")
                .map_err(db)?;
            let stored: i64 = tx
                .query_one("SELECT count(*) FROM secrets", &[])
                .map_err(db)?
                .try_get(0)
                .map_err(db)?;
            reseal_covers(stored, resealed)?;
            let st = tx
                .prepare(
                    "UPDATE secrets SET sealed = $3, key_id = $4, updated_at = $5
                     WHERE tenant_id = $1 AND name = $2 AND sealed = $6",
                )
                .map_err(db)?;
            for r in resealed {
                let n = tx
                    .execute(
                        &st,
                        &[
                            &r.tenant.as_str(),
                            &r.name,
                            &r.sealed,
                            &r.key_id,
                            &now,
                            &r.was,
                        ],
                    )
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

/// Adds `d` to each period's counters: one upsert per period, each atomic on its own
/// (the addition happens on the row's latest committed version under its lock).
fn add_periods(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    periods: &[&str],
    d: &Usage,
) -> Result<()> {
    if periods.is_empty() {
        return Ok(());
    }
    // Rows are locked in one order whatever order callers list the periods in, so two
    // transactions adding to the same periods never wait on each other in a cycle.
    let mut periods = periods.to_vec();
    periods.sort_unstable();
    let st = tx
        .prepare(
            "INSERT INTO usage AS u(tenant_id, period, requests, tokens, cost_micros)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT(tenant_id, period) DO UPDATE SET
                requests = u.requests + EXCLUDED.requests,
                tokens = u.tokens + EXCLUDED.tokens,
                cost_micros = u.cost_micros + EXCLUDED.cost_micros",
        )
        .map_err(db)?;
    for p in &periods {
        tx.execute(
            &st,
            &[&tenant.as_str(), p, &d.requests, &d.tokens, &d.cost_micros],
        )
        .map_err(|e| insert_err(e, String::new, || format!("tenant `{tenant}`")))?;
    }
    Ok(())
}
