//! Tool sources over HTTP: the MCP servers and OpenAPI documents whose tools a tenant's
//! agents may call (`cairn_agent::sources`). Everyone who may run agents sees the list
//! and what each source offers; owners (who manage the secrets a source sends) add,
//! replace and delete the tenant's own (the configuration's stay as configured).
//! Credentials are named tenant secrets, never part of a source.

use super::library::audit;
use crate::auth::{Can, perm};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::{AppState, blocking};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cairn_agent::sources::{self, SourceBody};
use serde_json::{Value, json};

/// The tool sources the tenant's agents may use: configured ones, then its own.
#[utoipa::path(get, path = "/api/v1/tool-sources", tag = "agents",
    responses((status = 200, description = "`{\"data\": [source...]}`", body = Object)))]
pub async fn list_sources(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        Ok(Json(json!({ "data": sources::list(e, &tenant)? })))
    })
    .await
}

/// One source; the tenant's own come with their OpenAPI document.
#[utoipa::path(get, path = "/api/v1/tool-sources/{name}", tag = "agents",
    params(("name" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn get_source(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        if let Some(configured) = sources::list(e, &tenant)?
            .into_iter()
            .find(|s| s.name == name && s.origin == "config")
        {
            return Ok(Json(json!(configured)));
        }
        Ok(Json(sources::get_saved(e, &tenant, &name)?))
    })
    .await
}

/// The tools a source offers, as an agent's model sees them (an MCP server is asked).
#[utoipa::path(get, path = "/api/v1/tool-sources/{name}/tools", tag = "agents",
    params(("name" = String, Path)),
    responses((status = 200, description = "`{\"data\": [tool...]}`", body = Object),
        (status = 404, body = Object), (status = 502, body = Object)))]
pub async fn source_tools(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        Ok(Json(
            json!({ "data": sources::offered(e, &tenant, &name)? }),
        ))
    })
    .await
}

/// Saves one of the tenant's own sources (created, or replaced whole). Owners, who
/// manage the secrets a source sends.
#[utoipa::path(put, path = "/api/v1/tool-sources/{name}", tag = "agents",
    params(("name" = String, Path)), request_body = crate::schemas::ToolSourceBody,
    responses((status = 200, body = Object), (status = 400, body = Object),
        (status = 403, body = Object), (status = 409, body = Object)))]
pub async fn put_source(
    State(state): State<AppState>,
    caller: Can<perm::ManageTenant>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<SourceBody>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let saved = sources::save(
            e,
            &who.tenant,
            &name,
            &body,
            &who.actor,
            crate::gate::now_ms(),
        )
        .map_err(ApiError::from)?;
        audit(
            e,
            &who,
            "tool_sources.save",
            &saved.name,
            json!({"kind": saved.kind, "settings": saved.settings}),
        );
        Ok(Json(json!(saved)))
    })
    .await
}

/// Deletes one of the tenant's own sources. Owners.
#[utoipa::path(delete, path = "/api/v1/tool-sources/{name}", tag = "agents",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Object), (status = 409, body = Object)))]
pub async fn delete_source(
    State(state): State<AppState>,
    caller: Can<perm::ManageTenant>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        sources::delete(e, &who.tenant, &name)?;
        audit(e, &who, "tool_sources.delete", &name, json!({}));
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
