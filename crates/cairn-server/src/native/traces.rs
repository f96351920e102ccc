//! Request traces (`[telemetry] store_traces`): the tenant's traces, filtered, and one
//! trace's span tree. Readable by whoever may read the audit log (owners, admins,
//! auditors); another tenant's trace is `404`, exactly like one that does not exist.

use crate::auth::{Can, perm};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, blocking};
use axum::Json;
use axum::extract::{Path, Query, State};
use cairn_telemetry::{TraceQuery, TraceStore};
use cairn_types::ErrorCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use utoipa::IntoParams;

/// Which traces to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TraceListQuery {
    /// Started at or after: milliseconds since the epoch, or an age such as `15m`,
    /// `2h`, `7d`.
    pub since: Option<String>,
    /// Started before (same forms).
    pub until: Option<String>,
    /// A route template, e.g. `/api/v1/ask`.
    pub route: Option<String>,
    /// The root span's name: `POST /api/v1/ask`, or `ingest <collection>` for an
    /// ingest job.
    pub name: Option<String>,
    /// An HTTP status.
    pub status: Option<i64>,
    /// The model that answered.
    pub model: Option<String>,
    /// The caller (`user:<id>`, `key:<id>`).
    pub user: Option<String>,
    /// At least this slow (ms).
    pub min_ms: Option<f64>,
    /// Only failed (`true`) or only successful (`false`) requests.
    pub error: Option<bool>,
    /// At most this many (default 50, at most 1000).
    pub limit: Option<usize>,
}

/// A time bound: milliseconds since the epoch, or `<n>s|m|h|d` ago.
pub fn time_bound(v: &str, now_ms: i64, param: &'static str) -> ApiResult<i64> {
    cairn_types::time_bound(v, now_ms).map_err(|m| ApiError::invalid(m).with_param(param))
}

fn store(state: &AppState) -> ApiResult<(Arc<cairn_telemetry::Telemetry>, Arc<TraceStore>)> {
    let t = state.telemetry.clone().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "traces are not kept on this server (telemetry.store_traces = false)",
        )
    })?;
    let s = t.store().cloned().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "traces are exported but not stored here (telemetry.store_traces = false)",
        )
    })?;
    Ok((t, s))
}

fn store_error(e: cairn_telemetry::store::StoreError) -> ApiError {
    ApiError::new(ErrorCode::StoreError, e.to_string())
}

/// The tenant's traces, newest first.
#[utoipa::path(get, path = "/api/v1/traces", tag = "traces", params(TraceListQuery),
    responses((status = 200, body = Object), (status = 400, body = Object), (status = 403, body = Object)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Can<perm::ReadAudit>,
    Query(q): Query<TraceListQuery>,
) -> ApiResult<Json<Value>> {
    let (telemetry, store) = store(&state)?;
    let now = crate::gate::now_ms();
    let query = TraceQuery {
        tenant: caller.tenant.as_str().to_owned(),
        since_ms: q
            .since
            .as_deref()
            .map(|v| time_bound(v, now, "since"))
            .transpose()?,
        until_ms: q
            .until
            .as_deref()
            .map(|v| time_bound(v, now, "until"))
            .transpose()?,
        route: q.route,
        name: q.name,
        status: q.status,
        model: q.model,
        user: q.user,
        min_ms: q.min_ms,
        error: q.error,
        limit: q.limit.unwrap_or(50).clamp(1, 1000),
    };
    blocking(&state, move |_, _| {
        // What finished before this request is readable now.
        telemetry.flush(Duration::from_secs(2));
        let rows = store.list(&query).map_err(store_error)?;
        Ok(Json(json!({"object": "list", "data": rows})))
    })
    .await
}

/// One trace with its span tree (`children` nested under each span) and its scores.
/// The id is the trace id (32 hex digits), or the request id it came from.
#[utoipa::path(get, path = "/api/v1/traces/{trace}", tag = "traces",
    params(("trace" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Can<perm::ReadAudit>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (telemetry, store) = store(&state)?;
    let trace_id = cairn_telemetry::parse_trace_id(&id)
        .unwrap_or_else(|| cairn_telemetry::context::trace_id_of(&id));
    let tenant = caller.tenant.as_str().to_owned();
    blocking(&state, move |_, _| {
        telemetry.flush(Duration::from_secs(2));
        match store.get(&tenant, trace_id).map_err(store_error)? {
            Some(t) => Ok(Json(json!(t))),
            None => Err(ApiError::new(
                ErrorCode::NotFound,
                format!("trace `{id}` not found"),
            )),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::time_bound;

    #[test]
    fn time_bounds_are_epochs_or_ages() {
        assert_eq!(time_bound("1000", 5_000, "since").ok(), Some(1_000));
        assert_eq!(time_bound("2s", 5_000, "since").ok(), Some(3_000));
        assert_eq!(time_bound("1h", 3_600_000, "since").ok(), Some(0));
        assert!(time_bound("yesterday", 0, "since").is_err());
        assert!(time_bound("5w", 0, "since").is_err());
        assert!(time_bound("5é", 0, "since").is_err());
        assert!(time_bound("é", 0, "since").is_err());
        assert!(time_bound("99999999999999999d", 0, "since").is_err());
    }
}
