//! Tenant administration: the audit log, settings (limits, guardrail policy, retention
//! periods; legal holds shown read-only), usage against quotas, and secrets sealed at
//! rest.

use super::library::audit as audit_action;
use crate::auth::{Can, perm};
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::state::{AppState, blocking};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

/// Listing size.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    pub limit: Option<usize>,
}

/// The tenant's audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "tenant", params(AuditQuery),
    responses((status = 200, body = Object), (status = 403, body = Object)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Can<perm::ReadAudit>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        Ok(Json(
            json!({ "data": e.tenant_audit(&tenant, q.limit.unwrap_or(100))? }),
        ))
    })
    .await
}

/// Recomputes the audit log's whole hash chain (one chain for the database: every
/// tenant's entries are links of it) and says whether it is intact. Nothing of other
/// tenants' entries is returned.
#[utoipa::path(post, path = "/api/v1/audit/verify", tag = "tenant",
    responses((status = 200, description = "`{\"intact\": bool, \"reason\": null or text, \"verified_at\": ms}`", body = Object),
              (status = 403, body = Object)))]
pub async fn verify_audit(
    State(state): State<AppState>,
    caller: Can<perm::ReadAudit>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let report = e.verify_audit()?;
        let intact = report.is_intact();
        let reason = report.broken.map(|b| b.reason);
        audit_action(
            e,
            &who,
            "audit.verify",
            who.tenant.as_str(),
            json!({"intact": intact}),
        );
        Ok(Json(json!({
            "intact": intact,
            "reason": reason,
            "verified_at": crate::gate::now_ms(),
        })))
    })
    .await
}

/// The tenant's stored overrides and the effective settings, with its legal holds
/// (read-only here: only the operator sets or lifts them, `cairn tenants hold`).
#[utoipa::path(get, path = "/api/v1/tenant/settings", tag = "tenant",
    responses((status = 200, body = Object)))]
pub async fn get_settings(
    State(state): State<AppState>,
    caller: Can<perm::ManageTenant>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        let stored = e.store().tenant_settings(&tenant)?;
        let eff = crate::settings::effective(e.config(), stored.as_ref())?;
        let retention = cairn_engine::security::retention_for(e.config(), stored.as_ref())?;
        Ok(Json(json!({
            "stored": stored.unwrap_or_else(|| json!({})),
            "effective": {"limits": eff.limits, "guard": eff.guard.policy(), "retention": retention},
            "legal_holds": e.legal_holds(&tenant)?,
        })))
    })
    .await
}

/// Replaces the tenant's overrides: `{"limits": {...}, "guard": {...}, "retention":
/// {...}}` over the configured `[limits]`, `[guard]` and `[retention]` periods.
/// Validated before anything is stored.
#[utoipa::path(put, path = "/api/v1/tenant/settings", tag = "tenant",
    request_body = crate::schemas::TenantSettingsBody,
    responses((status = 200, body = Object), (status = 400, body = Object)))]
pub async fn put_settings(
    State(state): State<AppState>,
    caller: Can<perm::ManageTenant>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    let cache = state.settings.clone();
    blocking(&state, move |e, _| {
        let eff = crate::settings::effective(e.config(), Some(&body))?;
        let retention = cairn_engine::security::retention_for(e.config(), Some(&body))
            .map_err(|err| crate::error::ApiError::from(err).with_param("retention"))?;
        e.merged_registry(Some(&body))
            .map_err(|err| crate::error::ApiError::from(err).with_param("models"))?;
        e.ensure_tenant(&who.tenant)?;
        e.store()
            .set_tenant_settings(&who.tenant, &body, crate::gate::now_ms())?;
        cache.invalidate(&who.tenant);
        e.forget_registry(&who.tenant);
        audit_action(
            e,
            &who,
            "tenant.settings",
            who.tenant.as_str(),
            body.clone(),
        );
        Ok(Json(json!({
            "stored": body,
            "effective": {"limits": eff.limits, "guard": eff.guard.policy(), "retention": retention},
        })))
    })
    .await
}

/// Tokens, cost and requests counted today and this month (UTC) against the quotas, and
/// the last `days` by day, model and route: requests, errors, tokens, cost and p50/p95
/// latency.
#[utoipa::path(get, path = "/api/v1/tenant/usage", tag = "tenant", params(UsageQuery),
    responses((status = 200, body = Object), (status = 400, body = Object)))]
pub async fn usage(
    State(state): State<AppState>,
    caller: Can<perm::ReadAudit>,
    Query(q): Query<UsageQuery>,
) -> ApiResult<Json<Value>> {
    let days = q.days.unwrap_or(31);
    if !(1..=400).contains(&days) {
        return Err(crate::error::ApiError::invalid("days must be 1 to 400").with_param("days"));
    }
    let tenant = caller.tenant.clone();
    let ledger = state.usage.clone();
    blocking(&state, move |e, _| {
        // Read what was charged so far, including what is still in memory.
        ledger.flush();
        let report = crate::usage_report::report(e.store(), &tenant, days, crate::gate::now_ms())?;
        Ok(Json(report))
    })
    .await
}

/// The window of the per-model breakdown.
#[derive(Debug, Deserialize, IntoParams)]
pub struct UsageQuery {
    /// Days back, today included (1 to 400; default 31).
    pub days: Option<u32>,
}

/// Secret names with the master key that sealed them (values are never returned).
#[utoipa::path(get, path = "/api/v1/secrets", tag = "tenant",
    responses((status = 200, body = Object)))]
pub async fn list_secrets(
    State(state): State<AppState>,
    caller: Can<perm::ManageTenant>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        let list: Vec<Value> = e
            .store()
            .list_secrets(&tenant)?
            .into_iter()
            .map(|(name, key_id, at)| json!({"name": name, "key_id": key_id, "updated_at": at}))
            .collect();
        Ok(Json(json!({ "data": list })))
    })
    .await
}

/// `PUT /api/v1/secrets/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    pub value: String,
}

/// Seals (AES-256-GCM) and stores a secret.
#[utoipa::path(put, path = "/api/v1/secrets/{name}", tag = "tenant",
    params(("name" = String, Path)), request_body = SecretValue,
    responses((status = 204), (status = 400, body = Object)))]
pub async fn put_secret(
    State(state): State<AppState>,
    caller: Can<perm::ManageTenant>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<SecretValue>,
) -> ApiResult<StatusCode> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        e.put_secret(&who.tenant, &name, &req.value)?;
        audit_action(e, &who, "secrets.put", &name, json!({}));
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Deletes a secret.
#[utoipa::path(delete, path = "/api/v1/secrets/{name}", tag = "tenant",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Object)))]
pub async fn delete_secret(
    State(state): State<AppState>,
    caller: Can<perm::ManageTenant>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        e.store().delete_secret(&who.tenant, &name)?;
        audit_action(e, &who, "secrets.delete", &name, json!({}));
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
