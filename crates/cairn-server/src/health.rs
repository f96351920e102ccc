//! `/healthz` (the process answers) and `/readyz` (the store answers, the models are
//! installed, and the server is not draining), with the generation queues' depth and
//! recent waits, and each remote model's circuit breaker and requests in flight.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: 503 with the failing checks, or 200.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Object), (status = 503, description = "Not ready; `checks` says why", body = Object)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let draining = state.draining.load(Ordering::Relaxed);
    let engine = state.engine.clone();
    let checks = tokio::task::spawn_blocking(move || {
        let config = engine.config();
        let store = match engine.store().list_tenants() {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("error: {e}"),
        };
        // A remote embedder is checked by use (ingest and search report its errors).
        let embedder = if config.remote_embedder().is_some() || config.embedder_dir().exists() {
            "ok".to_owned()
        } else {
            format!("missing: {}", config.embedder_dir().display())
        };
        // A remote or routed generator is not a readiness check: its targets'
        // breakers are reported under `models` instead.
        let generator = if !config.is_local(&config.generator) || config.generator_path().exists() {
            "ok".to_owned()
        } else {
            format!("missing: {}", config.generator_path().display())
        };
        let checks = json!({"store": store, "embedder": embedder, "generator": generator});
        (checks, engine.gateway_status())
    })
    .await
    .unwrap_or_else(|e| (json!({"store": format!("error: {e}")}), Vec::new()));
    let (checks, models) = checks;
    let generation = state.admission.snapshot();
    let ok = !draining
        && checks
            .as_object()
            .is_some_and(|o| o.values().all(|v| v == "ok"));
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ok { "ready" } else if draining { "draining" } else { "not_ready" },
            "checks": checks,
            "generation": generation,
            "models": models
        })),
    )
}
