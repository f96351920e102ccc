//! The model registry at run time: `GET /api/v1/models` lists what the tenant's
//! registry holds (the configuration file's models and routes, and the tenant's own),
//! `PUT /api/v1/models/{name}` adds or replaces one of the tenant's own remote models
//! or routes, `DELETE /api/v1/models/{name}` removes one. The tenant's entries are kept
//! in its settings (`models.remote`, `models.routes`), validated by the rules the file's
//! are, and take effect on the next request, without a restart.

use super::library::audit as audit_action;
use crate::auth::{Can, perm};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::{AppState, blocking};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cairn_types::ErrorCode;
use serde_json::{Map, Value, json};

/// The tenant's registry: every model and route it may name, with where each comes
/// from (`config` or `tenant`), and each remote model's circuit breaker and requests in
/// flight as this tenant reaches it (`/readyz`, which is public, shows only the file's);
/// and the model each role uses for this tenant (`roles`: its own `models.generator`,
/// `models.judge`, `models.rewriter` settings over the file's).
#[utoipa::path(get, path = "/api/v1/models", tag = "tenant",
    responses((status = 200, body = Object), (status = 403, body = Object)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Can<perm::ManageTenant>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        let registry = e.registry(&tenant)?;
        let config = e.config();
        let source = |name: &str| {
            if config.is_configured_model(name) {
                "config"
            } else {
                "tenant"
            }
        };
        let mut data = Vec::new();
        if config.is_local(&config.generator) {
            data.push(json!({"name": config.generator, "kind": "local", "source": "config"}));
        }
        for m in &registry.remote_models {
            let mut v = serde_json::to_value(m).unwrap_or_default();
            v["kind"] = json!("remote");
            v["source"] = json!(source(&m.name));
            let status = e.remote_status(&tenant, m);
            v["health"] = json!({"breaker": status.breaker, "in_flight": status.in_flight});
            data.push(v);
        }
        for r in &registry.routes {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["kind"] = json!("route");
            v["source"] = json!(source(&r.name));
            data.push(v);
        }
        let roles = json!({
            "generator": registry.generator,
            "judge": registry.judge_model(),
            "rewriter": registry.rewriter_model(),
        });
        Ok(Json(json!({ "data": data, "roles": roles })))
    })
    .await
}

/// The tenant's stored settings with its `models.remote` / `models.routes` lists
/// (created empty when absent).
fn model_lists(stored: Option<Value>) -> Result<Value, ApiError> {
    let mut settings = stored.unwrap_or_else(|| json!({}));
    let obj = settings
        .as_object_mut()
        .ok_or_else(|| ApiError::invalid("the tenant's stored settings are not an object"))?;
    let models = obj
        .entry("models")
        .or_insert_with(|| Value::Object(Map::new()));
    if models.is_null() {
        *models = Value::Object(Map::new());
    }
    let models = models
        .as_object_mut()
        .ok_or_else(|| ApiError::invalid("the tenant's `models` setting is not an object"))?;
    for key in ["remote", "routes"] {
        let list = models.entry(key).or_insert_with(|| json!([]));
        if list.is_null() {
            *list = json!([]);
        }
    }
    Ok(settings)
}

/// Removes `name` from both lists; whether it was there.
fn remove_named(settings: &mut Value, name: &str) -> bool {
    let mut found = false;
    for key in ["remote", "routes"] {
        if let Some(list) = settings["models"][key].as_array_mut() {
            let before = list.len();
            list.retain(|v| v["name"] != name);
            found |= list.len() != before;
        }
    }
    found
}

/// Validates and stores `settings` as the tenant's, then drops what was cached.
fn store_settings(
    state: &AppState,
    e: &cairn_engine::Engine,
    who: &crate::auth::Identity,
    settings: &Value,
) -> Result<(), ApiError> {
    e.merged_registry(Some(settings))?;
    crate::settings::effective(e.config(), Some(settings))?;
    e.ensure_tenant(&who.tenant)?;
    e.store()
        .set_tenant_settings(&who.tenant, settings, crate::gate::now_ms())?;
    state.settings.invalidate(&who.tenant);
    e.forget_registry(&who.tenant);
    Ok(())
}

/// Adds or replaces the tenant's remote model or route `name`. The body is a
/// `[[models.remote]]` entry (`base_url`, `model`, `api`, `api_key_secret`, …) or a
/// `[[models.routes]]` one (`strategy`, `targets`, …). `201` when it is new.
#[utoipa::path(put, path = "/api/v1/models/{name}", tag = "tenant",
    params(("name" = String, Path)), request_body = crate::schemas::ModelEntryBody,
    responses((status = 200, body = Object), (status = 201, body = Object),
        (status = 400, body = Object), (status = 409, body = Object)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Can<perm::ManageTenant>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let who = caller.0;
    let app = state.clone();
    blocking(&state, move |e, _| {
        if e.config().reserves_model_name(&name) {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("`{name}` is a model of the configuration file; choose another name"),
            ));
        }
        let mut entry = body;
        let obj = entry
            .as_object_mut()
            .ok_or_else(|| ApiError::invalid("the body must be a JSON object"))?;
        match obj.get("name") {
            Some(n) if n != name.as_str() => {
                return Err(ApiError::invalid(format!(
                    "the body names `{n}` but the path names `{name}`"
                ))
                .with_param("name"));
            }
            _ => {
                obj.insert("name".into(), json!(name));
            }
        }
        let list = if obj.contains_key("targets") {
            "routes"
        } else {
            "remote"
        };
        let mut settings = model_lists(e.store().tenant_settings(&who.tenant)?)?;
        let existed = remove_named(&mut settings, &name);
        if let Some(items) = settings["models"][list].as_array_mut() {
            items.push(entry.clone());
        }
        store_settings(&app, e, &who, &settings)?;
        audit_action(e, &who, "models.put", &name, entry.clone());
        let status = if existed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        Ok((status, Json(entry)))
    })
    .await
}

/// Removes the tenant's remote model or route `name` (a route of the tenant's that
/// still names it is reported, and nothing changes).
#[utoipa::path(delete, path = "/api/v1/models/{name}", tag = "tenant",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Object), (status = 409, body = Object)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Can<perm::ManageTenant>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.0;
    let app = state.clone();
    blocking(&state, move |e, _| {
        if e.config().is_configured_model(&name) {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("`{name}` is defined in the configuration file, not by the tenant"),
            ));
        }
        let mut settings = model_lists(e.store().tenant_settings(&who.tenant)?)?;
        if !remove_named(&mut settings, &name) {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("the tenant has no model or route `{name}`"),
            ));
        }
        store_settings(&app, e, &who, &settings).map_err(|err| {
            ApiError::new(
                ErrorCode::Conflict,
                format!("`{name}` cannot be removed: {}", err.message),
            )
        })?;
        audit_action(e, &who, "models.delete", &name, json!({}));
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
