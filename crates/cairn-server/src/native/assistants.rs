//! Assistants: a tenant's saved combinations of collections, instructions and a model,
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
    /// The collection it answers from (or give `collections`).
    #[serde(default)]
    pub collection: Option<String>,
    /// The collections it answers from, in order (at most 8 with `collection`); an
    /// answer searches them all and cites across them.
    #[serde(default)]
    pub collections: Vec<String>,
    /// Added to the system prompt after the grounding rules (at most 4,000 characters).
    #[serde(default)]
    pub instructions: String,
    /// The generator (a remote model or route of the tenant's registry); omit for the
    /// tenant's generator.
    #[serde(default)]
    pub model: Option<String>,
}

/// `collection` then `collections`, without repeats.
fn collections_of(body: &AssistantBody) -> Vec<CollectionId> {
    let mut all: Vec<CollectionId> = Vec::new();
    for c in body.collection.iter().chain(&body.collections) {
        let c = CollectionId::new(c.trim());
        if !all.contains(&c) {
            all.push(c);
        }
    }
    all
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
    let all = collections_of(body);
    if all.is_empty() {
        return Err(invalid(
            "collections",
            "an assistant needs a collection (`collection` or `collections`)",
        ));
    }
    let most = cairn_engine::search::MAX_COLLECTIONS;
    if all.len() > most {
        return Err(invalid(
            "collections",
            format!("an assistant answers from at most {most} collections"),
        ));
    }
    for c in &all {
        let param = if Some(c.as_str()) == body.collection.as_deref() {
            "collection"
        } else {
            "collections"
        };
        // A conversation's attached files are its owner's alone.
        if cairn_engine::answer::attachments::is_attachments_collection(c.as_str()) {
            return Err(invalid(param, format!("collection `{c}` not found")));
        }
        e.store()
            .get_collection(tenant, c)
            .map_err(|err| ApiError::from(err).with_param(param))?;
    }
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
        let mut all = collections_of(&body);
        let first = all.remove(0);
        let saved = e.store().put_assistant(&Assistant {
            tenant: who.tenant.clone(),
            id: id.clone(),
            name: body.name.trim().to_owned(),
            description: body.description.trim().to_owned(),
            collection: first,
            collections: all,
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
            json!({"collection": saved.collection, "collections": saved.collections,
                   "model": saved.model}),
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
