//! `POST /v1/responses`: the Responses API (the openai SDK's `client.responses.create`,
//! the OpenAI Agents SDK's default) over every model Cairn serves. A request is
//! translated into a chat completion (`convert.rs`) and served by the same path as
//! `/v1/chat/completions`: local models, remote models and routes, `cairn-rag:*`
//! assistants, with the same guardrails, queue, limits and metering. The answer is a
//! response object, or with `stream: true` the typed events (`response.created`,
//! `response.output_text.delta`, `response.function_call_arguments.done`,
//! `response.completed`, ...). Responses are not stored: `previous_response_id` is
//! refused and the conversation goes in `input`.

mod convert;

pub use convert::{Echo, EventStream, response};

use super::{Wire, chat_inner};
use crate::auth::{Can, perm};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::request_id::RequestId;
use crate::settings::TenantSettings;
use crate::state::AppState;
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;

/// Creates a model response.
#[utoipa::path(
    post, path = "/v1/responses", tag = "openai",
    request_body = crate::schemas::ResponsesBody,
    responses(
        (status = 200, description = "A response object (`output` of message and function_call items, `usage`, `status`), or with `stream: true` its typed SSE events ending in `response.completed`", body = Object),
        (status = 400, description = "Invalid request (error envelope)", body = Object),
        (status = 404, description = "Unknown model", body = Object),
    )
)]
pub async fn create_response(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Extension(settings): Extension<Arc<TenantSettings>>,
    Extension(rid): Extension<RequestId>,
    ApiJson(req): ApiJson<Value>,
) -> Response {
    let chat = match convert::chat_request(&req).and_then(|c| {
        serde_json::from_value(c).map_err(|e| ApiError::invalid(format!("invalid request: {e}")))
    }) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let wire = Wire::Responses(Echo::of(&req));
    match chat_inner(state, caller.0, settings, rid, chat, wire).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
