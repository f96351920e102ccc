//! Assistants: a tenant's saved combinations of a collection, instructions and a model,
//! which askers pick (`"assistant": id` in `POST /api/v1/ask`). Editors and above save
//! and delete them; anyone who may ask lists them.

use super::library::audit;
use crate::auth::{Can, Identity, perm};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::{AppState, blocking};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cairn_engine::Engine;
use cairn_store::Assistant;
use cairn_types::{CollectionId, TenantId};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Longest instructions, in characters.
const MAX_INSTRUCTIONS: usize = 4_000;

/// `PUT /api/v1/assistants/{assistant}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssistantBody {
    /// What people see in the picker.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The collection it answers from.
    pub collection: String,
    /// Added to the system prompt after the grounding rules (at most 4,000 characters).
    #[serde(default)]
    pub instructions: String,
    /// The generator (a remote model or route of the tenant's registry); omit for the
    /// tenant's generator.
    #[serde(default)]
    pub model: Option<String>,
}

fn invalid(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid(message).with_param(param)
}

/// Checks a body against the tenant: a slug id, a name, an existing collection, short
/// enough instructions, a model the tenant can answer with.
fn check(e: &Engine, tenant: &TenantId, id: &str, body: &AssistantBody) -> ApiResult<()> {
    if cairn_types::validate_slug(id).is_err() {
        return Err(invalid(
            "assistant",
            "an assistant id is 1-64 characters of a-z, 0-9, '-' or '_'",
        ));
    }
    if body.name.trim().is_empty() || body.name.chars().count() > 200 {
        return Err(invalid("name", "the name must be 1 to 200 characters"));
    }
    if body.instructions.chars().count() > MAX_INSTRUCTIONS {
        return Err(invalid(
            "instructions",
            format!("the instructions are longer than {MAX_INSTRUCTIONS} characters"),
        ));
    }
    e.store()
        .get_collection(tenant, &CollectionId::new(body.collection.clone()))
        .map_err(|err| ApiError::from(err).with_param("collection"))?;
    if let Some(model) = body.model.as_deref().filter(|m| !m.trim().is_empty()) {
        e.answer_model(tenant, model)
            .map_err(|err| ApiError::from(err).with_param("model"))?;
    }
    Ok(())
}

/// The tenant's assistants, by name.
#[utoipa::path(get, path = "/api/v1/assistants", tag = "answers",
    responses((status = 200, description = "`{\"data\": [assistant...]}`", body = Object)))]
pub async fn list_assistants(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        Ok(Json(json!({ "data": e.store().list_assistants(&tenant)? })))
    })
    .await
}

/// One assistant.
#[utoipa::path(get, path = "/api/v1/assistants/{assistant}", tag = "answers",
    params(("assistant" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn get_assistant(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        Ok(Json(json!(e.store().get_assistant(&tenant, &id)?)))
    })
    .await
}

/// Saves an assistant (created, or replaced whole).
#[utoipa::path(put, path = "/api/v1/assistants/{assistant}", tag = "answers",
    params(("assistant" = String, Path)), request_body = AssistantBody,
    responses((status = 200, body = Object), (status = 400, body = Object), (status = 404, body = Object)))]
pub async fn put_assistant(
    State(state): State<AppState>,
    caller: Can<perm::ManageCollections>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssistantBody>,
) -> ApiResult<Json<Value>> {
    let who: Identity = caller.0;
    blocking(&state, move |e, _| {
        check(e, &who.tenant, &id, &body)?;
        let now = crate::gate::now_ms();
        let saved = e.store().put_assistant(&Assistant {
            tenant: who.tenant.clone(),
            id: id.clone(),
            name: body.name.trim().to_owned(),
            description: body.description.trim().to_owned(),
            collection: CollectionId::new(body.collection),
            instructions: body.instructions.trim().to_owned(),
            model: body
                .model
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty()),
            updated_by: who.actor.clone(),
            created_at: now,
            updated_at: now,
        })?;
        audit(
            e,
            &who,
            "assistants.put",
            &id,
            json!({"collection": saved.collection, "model": saved.model}),
        );
        Ok(Json(json!(saved)))
    })
    .await
}

/// Deletes an assistant.
#[utoipa::path(delete, path = "/api/v1/assistants/{assistant}", tag = "answers",
    params(("assistant" = String, Path)),
    responses((status = 204), (status = 404, body = Object)))]
pub async fn delete_assistant(
    State(state): State<AppState>,
    caller: Can<perm::ManageCollections>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        e.store().delete_assistant(&who.tenant, &id)?;
        audit(e, &who, "assistants.delete", &id, json!({}));
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
