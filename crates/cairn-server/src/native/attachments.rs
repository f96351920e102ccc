//! Files attached to a conversation: uploaded by its owner, ingested into the
//! conversation's private collection, and searched with its collection for every
//! question asked in it. Only the owner sees, lists or removes them.

use super::library::audit;
use crate::auth::{Can, perm};
use crate::error::{ApiError, ApiResult};
use crate::settings::TenantSettings;
use crate::state::{AppState, blocking};
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use cairn_engine::{CommitGate, UploadRequest};
use cairn_types::{ConversationId, ErrorCode};
use serde_json::{Value, json};
use std::sync::Arc;

/// Attaches a file to a conversation (multipart field `file`, optional `metadata`): it
/// is ingested before the answer (`201` with the document) and readable by the
/// conversation's owner only. At most 20 files per conversation; the same file name
/// again replaces that file.
#[utoipa::path(post, path = "/api/v1/conversations/{conversation}/attachments", tag = "conversations",
    params(("conversation" = String, Path)),
    request_body(content_type = "multipart/form-data", content = crate::schemas::AttachmentForm),
    responses((status = 201, description = "The stored document", body = Object),
              (status = 403, description = "A caller without a user identity", body = Object),
              (status = 404, body = Object), (status = 413, body = Object),
              (status = 415, body = Object), (status = 422, description = "Corrupt or empty file", body = Object)))]
pub async fn attach(
    State(state): State<AppState>,
    caller: Can<perm::Converse>,
    Extension(settings): Extension<Arc<TenantSettings>>,
    Path(conversation): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let form = super::spool::read_form(
        multipart,
        &state.engine.config().data_dir.join("tmp"),
        false,
    )
    .await?;
    let who = caller.0;
    let doc = blocking(&state, move |e, cancel| {
        let conversation = ConversationId::new(conversation);
        e.check_size(&format!("upload:{}", form.name), form.file.len)?;
        let bytes = form.file.read().map_err(|err| {
            ApiError::new(
                ErrorCode::Internal,
                format!("could not read the spooled upload: {err}"),
            )
        })?;
        let may_commit = || cancel.begin_commit();
        let req = UploadRequest {
            name: &form.name,
            bytes: &bytes,
            content_hash: Some(&form.file.sha256),
            commit_gate: Some(CommitGate(&may_commit)),
            idempotency_key: None,
            acl: Default::default(),
            metadata: form.metadata,
            owner: who.principal.owner.clone(),
            guard: Some(settings.guard.clone()),
        };
        let doc = e.attach(&who.tenant, &who.principal, &conversation, &req)?;
        audit(
            e,
            &who,
            "conversations.attach",
            doc.id.as_str(),
            json!({"conversation": conversation.as_str(), "source": doc.source,
                   "bytes": doc.size_bytes}),
        );
        Ok(doc)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!(doc))))
}

/// The files attached to a conversation, oldest first.
#[utoipa::path(get, path = "/api/v1/conversations/{conversation}/attachments", tag = "conversations",
    params(("conversation" = String, Path)),
    responses((status = 200, description = "`{\"data\": [document...]}`", body = Object),
              (status = 404, body = Object)))]
pub async fn list_attachments(
    State(state): State<AppState>,
    caller: Can<perm::Converse>,
    Path(conversation): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let docs = e.attachments(
            &who.tenant,
            &who.principal,
            &ConversationId::new(conversation),
        )?;
        Ok(Json(json!({ "data": docs })))
    })
    .await
}

/// Removes a file from a conversation (it is no longer searched there).
#[utoipa::path(delete, path = "/api/v1/conversations/{conversation}/attachments/{document}", tag = "conversations",
    params(("conversation" = String, Path), ("document" = String, Path)),
    responses((status = 204), (status = 404, body = Object)))]
pub async fn detach(
    State(state): State<AppState>,
    caller: Can<perm::Converse>,
    Path((conversation, document)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let conversation = ConversationId::new(conversation);
        e.detach(&who.tenant, &who.principal, &conversation, &document)?;
        audit(
            e,
            &who,
            "conversations.detach",
            &document,
            json!({"conversation": conversation.as_str()}),
        );
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
