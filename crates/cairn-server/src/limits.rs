//! Rate limits and quotas. Two token buckets per caller (requests per minute, model
//! tokens per minute) and two per tenant, taken all-or-nothing behind the
//! [`RateLimiter`] trait (in memory today; a Redis implementation can follow), and
//! token/cost quotas per tenant per UTC day and month, counted in the store so they
//! survive restarts and are shared by every server process on the database.
//!
//! Token buckets admit a request when they are not in debt and are charged with the
//! tokens actually used when it ends, so a burst can overshoot by at most one request
//! per concurrent caller, then waits for the refill.

use crate::auth::Identity;
use crate::error::ApiError;
use crate::settings::TenantSettings;
use crate::usage_ledger::{Entry, UsageLedger};
use cairn_auth::{Ask, Rate, RateLimiter, Verdict};
use cairn_config::{Config, LimitsSection};
use cairn_store::ModelUsage;
use cairn_types::ErrorCode;

/// The usage periods an instant counts toward: `d:YYYY-MM-DD` and `m:YYYY-MM`.
pub fn periods(ms: i64) -> (String, String) {
    let (y, m, d) = cairn_types::civil_from_ms(ms);
    (
        format!("d:{y:04}-{m:02}-{d:02}"),
        format!("m:{y:04}-{m:02}"),
    )
}

/// Seconds from `ms` to the next UTC midnight (for a quota's `Retry-After`).
fn secs_to_midnight(ms: i64) -> u64 {
    u64::try_from(86_400 - ms.rem_euclid(86_400_000) / 1_000).unwrap_or(60)
}

/// Seconds from `ms` to the start of the next UTC month (when a monthly quota resets).
fn secs_to_next_month(ms: i64) -> u64 {
    let (y, m, d) = cairn_types::civil_from_ms(ms);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    u64::from(days_in_month - d) * 86_400 + secs_to_midnight(ms)
}

fn rate(per_minute: f64, burst: f64) -> Option<Rate> {
    (per_minute > 0.0).then(|| Rate::per_minute(per_minute).with_burst(per_minute * burst))
}

/// The buckets a caller's request takes from: (key, rate, cost).
fn asks(id: &Identity, l: &LimitsSection, requests: f64) -> Vec<Ask> {
    let mut out = Vec::new();
    let tenant = id.tenant.as_str();
    let pairs = [
        (
            format!("{}:rpm", id.bucket),
            id.rpm.unwrap_or(l.key_rpm),
            requests,
        ),
        (
            format!("{}:tpm", id.bucket),
            id.tpm.unwrap_or(l.key_tpm),
            0.0,
        ),
        (format!("tenant:{tenant}:rpm"), l.tenant_rpm, requests),
        (format!("tenant:{tenant}:tpm"), l.tenant_tpm, 0.0),
    ];
    for (key, per_minute, cost) in pairs {
        if let Some(r) = rate(per_minute, l.burst) {
            out.push(Ask::new(key, r, cost));
        }
    }
    out
}

/// The routes that spend model tokens: quotas refuse these, and only these, once used
/// up (a tenant over its quota can still read its usage, settings and documents).
pub fn metered(path: &str) -> bool {
    matches!(
        path,
        "/v1/chat/completions" | "/v1/responses" | "/v1/embeddings" | "/v1/rerank" | "/api/v1/ask"
    )
}

/// Admits one request or answers `429` with `Retry-After`.
pub fn admit(
    limiter: &dyn RateLimiter,
    store: &UsageLedger,
    id: &Identity,
    settings: &TenantSettings,
    now_ms: i64,
    path: &str,
) -> Result<(), ApiError> {
    let l = &settings.limits;
    if let Verdict::Limited { retry_after, key } = limiter.acquire(&asks(id, l, 1.0)) {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let what = if key.ends_with(":tpm") {
            "tokens"
        } else {
            "requests"
        };
        let whose = if key.starts_with("tenant:") {
            "this tenant's"
        } else {
            "this key's"
        };
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            format!("{whose} {what}-per-minute limit is reached; retry in {secs} s"),
        )
        .with_retry_after(secs.max(1)));
    }
    if metered(path) {
        quota(store, id, l, now_ms)?;
    }
    Ok(())
}

/// A caller's own counter for `period` (`d:…|key:…`): swept with the tenant's.
fn caller_period(period: &str, id: &Identity) -> String {
    format!("{period}|{}", id.bucket)
}

/// Refuses once the caller's own daily or monthly budget in dollars is spent.
fn key_budget(
    store: &UsageLedger,
    id: &Identity,
    l: &LimitsSection,
    now: i64,
) -> Result<(), ApiError> {
    let (day, month) = periods(now);
    for (period, label, usd, retry) in [
        (day, "daily", l.key_daily_cost_usd, secs_to_midnight(now)),
        (
            month,
            "monthly",
            l.key_monthly_cost_usd,
            secs_to_next_month(now),
        ),
    ] {
        if usd <= 0.0 {
            continue;
        }
        let used = store
            .usage(&id.tenant, &caller_period(&period, id))?
            .cost_micros as f64
            / 1e6;
        if used >= usd {
            return Err(ApiError::new(
                ErrorCode::QuotaExceeded,
                format!("this key used its {label} budget (${used:.4} of ${usd:.4})"),
            )
            .with_retry_after(retry));
        }
    }
    Ok(())
}

/// Refuses once a daily or monthly token or cost quota is used up.
fn quota(store: &UsageLedger, id: &Identity, l: &LimitsSection, now: i64) -> Result<(), ApiError> {
    key_budget(store, id, l, now)?;
    let quotas_on = l.daily_tokens > 0
        || l.monthly_tokens > 0
        || l.daily_cost_usd > 0.0
        || l.monthly_cost_usd > 0.0;
    if !quotas_on {
        return Ok(());
    }
    let (day, month) = periods(now);
    let checks = [
        (&day, "daily", l.daily_tokens, l.daily_cost_usd),
        (&month, "monthly", l.monthly_tokens, l.monthly_cost_usd),
    ];
    for (period, label, tokens, usd) in checks {
        if tokens == 0 && usd <= 0.0 {
            continue;
        }
        let used = store.usage(&id.tenant, period)?;
        let over_tokens = tokens > 0 && used.tokens >= i64::try_from(tokens).unwrap_or(i64::MAX);
        let used_usd = used.cost_micros as f64 / 1e6;
        let over_cost = usd > 0.0 && used_usd >= usd;
        if over_tokens || over_cost {
            let detail = if over_tokens {
                format!("{} of {tokens} tokens", used.tokens)
            } else {
                format!("${used_usd:.4} of ${usd:.4}")
            };
            let retry = if label == "daily" {
                secs_to_midnight(now)
            } else {
                secs_to_next_month(now)
            };
            return Err(ApiError::new(
                ErrorCode::QuotaExceeded,
                format!("tenant `{}` used its {label} quota ({detail})", id.tenant),
            )
            .with_retry_after(retry));
        }
    }
    Ok(())
}

/// One finished model call: which model did the work and the tokens it took.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The registry name of the model that answered (a route's chosen target).
    pub model: &'a str,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// What `call` cost, in millionths of a dollar: the model's own prices
/// (`input_price_per_mtok`, `output_price_per_mtok`: a token at $X per million is X
/// micro-dollars), or for a model without prices the flat `limits.usd_per_1k_tokens`.
pub fn cost_micros(config: &Config, l: &LimitsSection, call: &Call<'_>) -> i64 {
    let priced = config
        .remote_models
        .iter()
        .find(|m| m.name == call.model)
        .filter(|m| m.input_price_per_mtok > 0.0 || m.output_price_per_mtok > 0.0);
    let micros = match priced {
        Some(m) => {
            call.input_tokens as f64 * m.input_price_per_mtok
                + call.output_tokens as f64 * m.output_price_per_mtok
        }
        None => (call.input_tokens + call.output_tokens) as f64 * l.usd_per_1k_tokens * 1_000.0,
    };
    micros.round() as i64
}

/// Charges a finished call to the token buckets, and to the quota counters and the
/// model's daily row through the usage ledger (written within `FLUSH_EVERY`). Never
/// fails the request: the work is done.
pub fn record(
    limiter: &dyn RateLimiter,
    ledger: &UsageLedger,
    config: &Config,
    id: &Identity,
    settings: &TenantSettings,
    call: &Call<'_>,
    now_ms: i64,
) {
    let l = &settings.limits;
    let tokens = call.input_tokens + call.output_tokens;
    for ask in asks(id, l, 0.0)
        .into_iter()
        .filter(|a| a.key.ends_with(":tpm"))
    {
        limiter.charge(&ask.key, ask.rate, tokens as f64);
    }
    let (day, month) = periods(now_ms);
    let usage = ModelUsage {
        requests: 1,
        input_tokens: i64::try_from(call.input_tokens).unwrap_or(i64::MAX),
        output_tokens: i64::try_from(call.output_tokens).unwrap_or(i64::MAX),
        cost_micros: cost_micros(config, l, call),
    };
    let date = day.trim_start_matches("d:");
    let (key_day, key_month) = (caller_period(&day, id), caller_period(&month, id));
    let all = [
        day.as_str(),
        month.as_str(),
        key_day.as_str(),
        key_month.as_str(),
    ];
    ledger.add(Entry {
        tenant: id.tenant.clone(),
        periods: all.iter().map(|p| (*p).to_owned()).collect(),
        day: date.to_owned(),
        model: call.model.to_owned(),
        usage,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_midnights() {
        assert_eq!(
            periods(1_796_186_472_000),
            ("d:2026-12-02".into(), "m:2026-12".into())
        );
        assert_eq!(periods(0), ("d:1970-01-01".into(), "m:1970-01".into()));
        assert_eq!(secs_to_midnight(86_400_000 - 5_000), 5);
    }

    #[test]
    fn monthly_quota_resets_at_the_start_of_next_month() {
        // 2026-12-02T04:41:12Z: 29 days and 19 h 18 m 48 s to 2027-01-01T00:00Z.
        assert_eq!(secs_to_next_month(1_796_186_472_000), 29 * 86_400 + 69_528);
        // 2024-02-29T12:00Z (leap day): half a day to March.
        assert_eq!(secs_to_next_month(1_709_208_000_000), 43_200);
        // The last second of August.
        let (y, m, d) = cairn_types::civil_from_ms(1_788_220_799_000);
        assert_eq!((y, m, d), (2026, 8, 31));
        assert_eq!(secs_to_next_month(1_788_220_799_000), 1);
    }
}
