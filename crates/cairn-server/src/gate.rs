//! The gate every request passes: public routes straight through; everything else is
//! authenticated (401), rate limited and quota checked (429) before any handler runs.
//! The caller's [`Identity`] and its tenant's settings ride in the request's
//! extensions from here on. Failed authentications are audited.

use crate::auth::{AuthFailure, Identity};
use crate::error::ApiError;
use crate::settings::TenantSettings;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cairn_engine::security::AuditEvent;
use cairn_types::{ErrorCode, TenantId};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Failed authentications written to the audit log per minute (the rest are logged).
const AUDITED_FAILURES_PER_MINUTE: f64 = 300.0;

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn admit(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    path: &str,
    client: Option<IpAddr>,
    safe: bool,
) -> Result<(Identity, Arc<TenantSettings>), ApiError> {
    let engine = &state.engine;
    let store = engine.store();
    let now = now_ms();
    let id = match state
        .auth
        .authenticate_from(store, headers, now, client, safe)
    {
        Ok(id) => id,
        Err(AuthFailure {
            error,
            tenant,
            actor,
        }) => {
            // Every failure is logged; the audit log takes at most its budget of them
            // a minute, so a flood of bad credentials cannot flood it too.
            tracing::info!(%path, %actor, reason = %error.message, "authentication failed");
            let budget = cairn_auth::Rate::per_minute(AUDITED_FAILURES_PER_MINUTE);
            let audited = state
                .limiter
                .acquire(&[cairn_auth::Ask::new("audit:auth-failures", budget, 1.0)])
                .is_allowed();
            if error.code == ErrorCode::Unauthorized && audited {
                let tenant = tenant.unwrap_or_else(|| TenantId::new(""));
                engine.audit_or_log(AuditEvent {
                    tenant: &tenant,
                    actor: &actor,
                    action: "auth.failure",
                    target: path,
                    outcome: "denied",
                    detail: serde_json::json!({ "reason": error.message }),
                });
            }
            return Err(error);
        }
    };
    let settings = state.settings.get(engine.config(), store, &id.tenant)?;
    crate::limits::admit(
        state.limiter.as_ref(),
        &state.usage,
        &id,
        &settings,
        now,
        path,
    )?;
    Ok((id, settings))
}

/// The middleware.
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if state.auth.is_public(&path) || crate::ui::is_ui_path(&path) {
        return next.run(req).await;
    }
    let headers = req.headers().clone();
    let safe = req.method().is_safe();
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let st = state.clone();
    // Hash checks and store reads are blocking work.
    let span = tracing::info_span!("gate", cairn.auth = tracing::field::Empty);
    let admitted = tokio::task::spawn_blocking(move || {
        span.in_scope(|| admit(&st, &headers, &path, client, safe))
    })
    .await;
    match admitted {
        Ok(Ok((id, settings))) => {
            if let Some(t) = crate::request_trace::current() {
                t.caller(&id);
            }
            req.extensions_mut().insert(id);
            req.extensions_mut().insert(settings);
            next.run(req).await
        }
        Ok(Err(e)) => e.into_response(),
        Err(join) => ApiError::new(
            ErrorCode::Internal,
            format!("authentication failed: {join}"),
        )
        .into_response(),
    }
}
