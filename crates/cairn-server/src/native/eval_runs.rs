//! Stored eval runs (`cairn eval ...` keeps each run): the tenant's runs, one run, and
//! two runs compared, as JSON or as the offline HTML report (`?format=html`).
//! Readable by whoever may read the audit log; another tenant's run is `404`.

use crate::auth::{Can, perm};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, blocking};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cairn_engine::eval::report::{compare_html, run_html};
use cairn_engine::eval::runs::compare;
use cairn_types::ErrorCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

/// How a run or a comparison is returned.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Format {
    /// `json` (default) or `html`: the self-contained report (inline styles and SVG,
    /// no script).
    pub format: Option<String>,
}

impl Format {
    fn html(&self) -> ApiResult<bool> {
        match self.format.as_deref() {
            None | Some("json") => Ok(false),
            Some("html") => Ok(true),
            Some(other) => {
                Err(ApiError::invalid(format!("format `{other}`: json or html"))
                    .with_param("format"))
            }
        }
    }
}

/// A report page: nothing runs in it and nothing loads from elsewhere.
fn html_page(body: String) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// Which runs to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunList {
    /// At most this many, newest first (default 50, at most 1000).
    pub limit: Option<usize>,
}

/// The tenant's eval runs, newest first (without their per-question results).
#[utoipa::path(get, path = "/api/v1/eval-runs", tag = "evaluation",
    params(RunList),
    responses((status = 200, description = "`{\"data\": [run...]}`", body = Object)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Can<perm::ReadAudit>,
    Query(q): Query<RunList>,
) -> ApiResult<Json<serde_json::Value>> {
    let tenant = caller.tenant.clone();
    let limit = q.limit.unwrap_or(50).clamp(1, 1_000);
    blocking(&state, move |e, _| {
        let runs = e.store().list_eval_runs(&tenant, limit)?;
        Ok(Json(json!({"object": "list", "data": runs})))
    })
    .await
}

/// One run: what ran (dataset and its hash, configuration snapshot, models, prompt
/// version), its aggregates and every question's outcome; `?format=html` for the report.
#[utoipa::path(get, path = "/api/v1/eval-runs/{run}", tag = "evaluation",
    params(("run" = String, Path), Format),
    responses((status = 200, description = "The run (JSON) or its report (HTML)", body = Object),
              (status = 404, body = Object)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Can<perm::ReadAudit>,
    Path(id): Path<String>,
    Query(f): Query<Format>,
) -> ApiResult<Response> {
    let html = f.html()?;
    let tenant = caller.tenant.clone();
    let run = blocking(&state, move |e, _| {
        Ok(e.store().get_eval_run(&tenant, &id)?)
    })
    .await?;
    Ok(if html {
        html_page(run_html(&run))
    } else {
        Json(json!(run)).into_response()
    })
}

/// Run `other` compared with run `run` (the baseline): per configuration and metric,
/// both means, the change and its paired-bootstrap 95% interval, and the questions that
/// flipped; `?format=html` for the report.
#[utoipa::path(get, path = "/api/v1/eval-runs/{run}/compare/{other}", tag = "evaluation",
    params(("run" = String, Path), ("other" = String, Path), Format),
    responses((status = 200, description = "The comparison (JSON) or its report (HTML)", body = Object),
              (status = 400, description = "Runs of different kinds", body = Object),
              (status = 404, body = Object)))]
pub async fn compare_runs(
    State(state): State<AppState>,
    caller: Can<perm::ReadAudit>,
    Path((a, b)): Path<(String, String)>,
    Query(f): Query<Format>,
) -> ApiResult<Response> {
    let html = f.html()?;
    let tenant = caller.tenant.clone();
    let (ra, rb) = blocking(&state, move |e, _| {
        Ok((
            e.store().get_eval_run(&tenant, &a)?,
            e.store().get_eval_run(&tenant, &b)?,
        ))
    })
    .await?;
    if ra.kind != rb.kind {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!(
                "run {} is a {} eval and run {} a {} eval: compare runs of one kind",
                ra.id, ra.kind, rb.id, rb.kind
            ),
        ));
    }
    let c = compare(&ra, &rb);
    Ok(if html {
        html_page(compare_html(&ra, &rb, &c))
    } else {
        Json(json!(c)).into_response()
    })
}
