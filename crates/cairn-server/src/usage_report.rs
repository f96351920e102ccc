//! The usage report (`GET /api/v1/tenant/usage`, `cairn usage`): one tenant's requests,
//! errors, tokens, cost and p50/p95 latency, by day, model and route.

use cairn_store::{RouteUsage, RouteUsageRow, Store};
use cairn_types::TenantId;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn usd(micros: i64) -> f64 {
    micros as f64 / 1e6
}

/// Requests, errors, tokens, cost and latency of `u` as JSON.
fn figures(u: &RouteUsage) -> Value {
    json!({
        "requests": u.requests,
        "errors": u.errors,
        "server_errors": u.server_errors,
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cost_usd": usd(u.cost_micros),
        "p50_ms": u.latency_quantile(0.5),
        "p95_ms": u.latency_quantile(0.95),
    })
}

/// Rows summed by `key`, in key order.
fn by<K: Ord>(
    rows: &[RouteUsageRow],
    key: impl Fn(&RouteUsageRow) -> K,
) -> BTreeMap<K, RouteUsage> {
    let mut out = BTreeMap::new();
    for r in rows {
        out.entry(key(r))
            .or_insert_with(RouteUsage::default)
            .merge(&r.usage);
    }
    out
}

/// The report for `tenant` over the last `days` (today included) at `now_ms`.
pub fn report(
    store: &dyn Store,
    tenant: &TenantId,
    days: u32,
    now_ms: i64,
) -> cairn_store::Result<Value> {
    let (day, month) = crate::limits::periods(now_ms);
    let d = store.usage(tenant, &day)?;
    let m = store.usage(tenant, &month)?;
    let (since, _) = crate::limits::periods(now_ms - (i64::from(days) - 1) * 86_400_000);
    let since = since.trim_start_matches("d:").to_owned();
    let rows = store.model_usage(tenant, &since)?;
    let mut totals: BTreeMap<&str, [i64; 4]> = BTreeMap::new();
    for r in &rows {
        let t = totals.entry(r.model.as_str()).or_default();
        let u = &r.usage;
        for (acc, v) in
            t.iter_mut()
                .zip([u.requests, u.input_tokens, u.output_tokens, u.cost_micros])
        {
            *acc += v;
        }
    }
    let routes = store.route_usage(tenant, &since)?;
    Ok(json!({
        "day": {"period": day, "requests": d.requests, "tokens": d.tokens, "cost_usd": usd(d.cost_micros)},
        "month": {"period": month, "requests": m.requests, "tokens": m.tokens, "cost_usd": usd(m.cost_micros)},
        "since": since,
        "models": totals.iter().map(|(model, [req, inp, out, cost])| json!({
            "model": model, "requests": req, "input_tokens": inp, "output_tokens": out,
            "cost_usd": usd(*cost)
        })).collect::<Vec<_>>(),
        "by_day": rows.iter().map(|r| json!({
            "day": r.day, "model": r.model, "requests": r.usage.requests,
            "input_tokens": r.usage.input_tokens, "output_tokens": r.usage.output_tokens,
            "cost_usd": usd(r.usage.cost_micros)
        })).collect::<Vec<_>>(),
        "requests": {
            "by_day": by(&routes, |r| r.day.clone()).iter().map(|(day, u)| {
                let mut v = figures(u);
                v["day"] = json!(day);
                v
            }).collect::<Vec<_>>(),
            "by_route": by(&routes, |r| r.route.clone()).iter().map(|(route, u)| {
                let mut v = figures(u);
                v["route"] = json!(route);
                v
            }).collect::<Vec<_>>(),
            "by_model": by(&routes, |r| r.model.clone()).iter()
                .filter(|(model, _)| !model.is_empty())
                .map(|(model, u)| {
                    let mut v = figures(u);
                    v["model"] = json!(model);
                    v
                }).collect::<Vec<_>>(),
            "rows": routes.iter().map(|r| {
                let mut v = figures(&r.usage);
                v["day"] = json!(r.day);
                v["route"] = json!(r.route);
                v["model"] = json!(r.model);
                v
            }).collect::<Vec<_>>(),
        },
    }))
}

#[cfg(test)]
mod tests {
    use cairn_store::RouteUsage;

    #[test]
    fn latency_quantiles_come_from_the_buckets() {
        let mut u = RouteUsage::default();
        for ms in [
            3.0, 4.0, 7.0, 40.0, 45.0, 48.0, 49.0, 90.0, 2_000.0, 20_000.0,
        ] {
            u.merge(&RouteUsage::one(200, ms));
        }
        u.merge(&RouteUsage::one(503, 1.0));
        assert_eq!(u.requests, 11);
        assert_eq!((u.errors, u.server_errors), (1, 1));
        let p50 = u.latency_quantile(0.5).unwrap();
        assert!((25.0..=50.0).contains(&p50), "{p50}");
        let p95 = u.latency_quantile(0.95).unwrap();
        assert!(p95 > 5_000.0, "{p95}");
        assert_eq!(RouteUsage::default().latency_quantile(0.5), None);
    }
}
