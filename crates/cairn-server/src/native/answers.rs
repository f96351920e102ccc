//! Search, ask (JSON or SSE), conversations and feedback.

use crate::admission::stamp_wait;
use crate::auth::{Can, perm};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::request_id::RequestId;
use crate::settings::TenantSettings;
use crate::state::{AppState, blocking};
use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_engine::answer::{AnswerEvent, AskRequest};
use cairn_engine::search::SearchRequest;
use cairn_types::{AnswerId, CollectionId, ConversationId, ErrorCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Hybrid search (the engine's `SearchRequest`: collection, query, mode, fusion, top_k,
/// candidates, rerank, filter, transforms, context, ef_search).
#[utoipa::path(post, path = "/api/v1/search", tag = "answers",
    request_body = crate::schemas::SearchBody,
    responses((status = 200, description = "Hits with per-stage scores, transform traces and timings", body = Object),
              (status = 400, body = Object), (status = 404, body = Object)))]
pub async fn search(
    State(state): State<AppState>,
    caller: Can<perm::Search>,
    ApiJson(mut req): ApiJson<SearchRequest>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    req.principal = Some(caller.principal.clone());
    blocking(&state, move |e, _| {
        Ok(Json(json!(e.search(&tenant, &req)?)))
    })
    .await
}

/// `POST /api/v1/ask`: the engine's `AskRequest` plus `stream`.
#[derive(Debug, Deserialize)]
pub struct AskBody {
    #[serde(flatten)]
    pub ask: AskRequest,
    #[serde(default)]
    pub stream: bool,
    /// A saved assistant: its collection, instructions and model (unless `model` is
    /// given) apply.
    #[serde(default)]
    pub assistant: Option<String>,
}

/// A model a caller picked: one the tenant can answer with (never a file on this
/// machine), and within its allow-list.
fn check_model(
    state: &AppState,
    tenant: &cairn_types::TenantId,
    settings: &TenantSettings,
    model: &str,
) -> ApiResult<()> {
    state
        .engine
        .answer_model(tenant, model)
        .map_err(|e| ApiError::from(e).with_param("model"))?;
    crate::openai::check_allowed(settings, model)
}

/// Applies a saved assistant to `req`: its collection and instructions, and its model
/// unless the request names one.
async fn apply_assistant(
    state: &AppState,
    tenant: &cairn_types::TenantId,
    id: String,
    req: &mut AskRequest,
) -> ApiResult<()> {
    let tenant = tenant.clone();
    let a = blocking(state, move |e, _| {
        Ok(e.store().get_assistant(&tenant, &id)?)
    })
    .await
    .map_err(|e| e.with_param("assistant"))?;
    req.collection = a.collection;
    req.collections = a.collections;
    req.instructions = Some(a.instructions).filter(|i| !i.is_empty());
    if req.model.is_none() {
        req.model = a.model;
    }
    Ok(())
}

pub(crate) fn wants_sse(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// Answers a question with citations, grounding flags, confidence and the answer id
/// (its trace id). With `"stream": true` (or `Accept: text/event-stream`) the answer
/// streams as SSE: `sources`, then `delta` events (`{"text": ...}`), then `answer` (the
/// full answer), or `error`.
#[utoipa::path(post, path = "/api/v1/ask", tag = "answers",
    request_body = crate::schemas::AskBody,
    responses((status = 200, description = "Answer (JSON) or an SSE stream", body = Object),
              (status = 400, body = Object), (status = 404, body = Object)))]
pub async fn ask(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Extension(settings): Extension<Arc<TenantSettings>>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AskBody>,
) -> Response {
    let who = caller.0;
    let tenant = who.tenant.clone();
    let mut req = body.ask;
    if let Err(e) = crate::guardrails::screen_input(&state, &who, &settings, &req.question) {
        return e.into_response();
    }
    // Asking within a stored conversation reads and extends it.
    if req.conversation.is_some() && !who.can(cairn_auth::Action::Converse) {
        return crate::auth::forbidden(&who, cairn_auth::Action::Converse).into_response();
    }
    if let Some(id) = body.assistant
        && let Err(e) = apply_assistant(&state, &tenant, id, &mut req).await
    {
        return e.into_response();
    }
    if let Some(model) = req.model.as_deref()
        && let Err(e) = check_model(&state, &tenant, &settings, model)
    {
        return e.into_response();
    }
    req.principal = Some(who.principal.clone());
    req.guard = Some(settings.guard.clone());
    let meter = state.meter(&who, &settings);
    let audit_to = who.clone();
    let trace = crate::request_trace::current();
    let content = state
        .engine
        .config()
        .telemetry
        .trace_content
        .then(|| settings.guard.clone());
    let slot = if body.stream || wants_sse(&headers) {
        match state.streams.open(&who.bucket) {
            Ok(slot) => Some(slot),
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    let permit = match state
        .admit_generation_for(&tenant, req.model.as_deref())
        .await
    {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let waited = permit.waited;
    if let Some(slot) = slot {
        let res = crate::sse::stream(&state, slot, rid.0, false, move |e, em| {
            let _permit = permit;
            let answer = e.ask_streaming(&tenant, &req, &mut |ev| match ev {
                AnswerEvent::Sources(s) => em.send(Some("sources"), &json!(s)),
                AnswerEvent::Delta(t) => em.send(Some("delta"), &json!({ "text": t })),
            })?;
            meter.record(
                &answer.model,
                answer.usage.prompt_tokens,
                answer.usage.completion_tokens,
            );
            crate::guardrails::audit_decisions(e, &audit_to, &answer.guardrails);
            crate::metrics::answered(&answer);
            if let Some(t) = &trace {
                t.answered(&answer, content.as_deref());
            }
            em.send(Some("answer"), &json!(answer));
            Ok(())
        })
        .await;
        return stamp_wait(res, waited);
    }
    match blocking(&state, move |e, cancel| {
        let _permit = permit;
        let a = e.ask_streaming(&tenant, &req, &mut |_| !cancel.is_cancelled())?;
        meter.record(&a.model, a.usage.prompt_tokens, a.usage.completion_tokens);
        crate::guardrails::audit_decisions(e, &audit_to, &a.guardrails);
        crate::metrics::answered(&a);
        if let Some(t) = &trace {
            t.answered(&a, content.as_deref());
        }
        Ok(a)
    })
    .await
    {
        Ok(a) => stamp_wait(Json(json!(a)).into_response(), waited),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/v1/conversations`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    #[serde(default)]
    pub collection: Option<String>,
    #[serde(default)]
    pub title: String,
}

/// Starts a conversation; pass its id as `conversation` to `ask`.
#[utoipa::path(post, path = "/api/v1/conversations", tag = "conversations", request_body = NewConversation,
    responses((status = 201, body = Object), (status = 404, description = "Unknown collection", body = Object)))]
pub async fn create_conversation(
    State(state): State<AppState>,
    caller: Can<perm::Converse>,
    ApiJson(req): ApiJson<NewConversation>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let who = caller.0;
    let c = blocking(&state, move |e, _| {
        let coll = req.collection.map(CollectionId::new);
        Ok(e.create_conversation(&who.tenant, who.owner(), coll.as_ref(), &req.title)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!(c))))
}

/// `GET /api/v1/conversations`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ConversationQuery {
    /// At most this many (default 50).
    pub limit: Option<usize>,
    /// Only conversations whose title or messages contain this text.
    pub q: Option<String>,
}

/// Lists the caller's conversations, most recently updated first; `q` searches their
/// titles and messages.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations",
    params(ConversationQuery), responses((status = 200, body = Object)))]
pub async fn list_conversations(
    State(state): State<AppState>,
    caller: Can<perm::Converse>,
    Query(q): Query<ConversationQuery>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let limit = q.limit.unwrap_or(50);
        let data = match q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => e.search_conversations(&who.tenant, who.owner(), text, limit)?,
            None => e.conversations(&who.tenant, who.owner(), limit)?,
        };
        Ok(Json(json!({ "data": data })))
    })
    .await
}

/// `PATCH /api/v1/conversations/{conversation}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationPatch {
    /// The new title (1 to 500 bytes).
    pub title: String,
}

/// Renames a conversation.
#[utoipa::path(patch, path = "/api/v1/conversations/{conversation}", tag = "conversations",
    params(("conversation" = String, Path)), request_body = ConversationPatch,
    responses((status = 200, body = Object), (status = 400, body = Object), (status = 404, body = Object)))]
pub async fn rename_conversation(
    State(state): State<AppState>,
    caller: Can<perm::Converse>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ConversationPatch>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let c = e.rename_conversation(
            &who.tenant,
            who.owner(),
            &ConversationId::new(id),
            &req.title,
        )?;
        Ok(Json(json!(c)))
    })
    .await
}

/// A conversation with its messages.
#[utoipa::path(get, path = "/api/v1/conversations/{conversation}", tag = "conversations",
    params(("conversation" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn get_conversation(
    State(state): State<AppState>,
    caller: Can<perm::Converse>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let (c, messages) = e.conversation(&who.tenant, who.owner(), &ConversationId::new(id))?;
        let mut v = json!(c);
        v["messages"] = json!(messages);
        Ok(Json(v))
    })
    .await
}

/// Deletes a conversation and its messages (recorded answers and feedback stay).
#[utoipa::path(delete, path = "/api/v1/conversations/{conversation}", tag = "conversations",
    params(("conversation" = String, Path)),
    responses((status = 204), (status = 404, body = Object)))]
pub async fn delete_conversation(
    State(state): State<AppState>,
    caller: Can<perm::Converse>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        e.delete_conversation(&who.tenant, who.owner(), &ConversationId::new(id))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// A recorded answer (its full record) with its feedback.
#[utoipa::path(get, path = "/api/v1/answers/{answer}", tag = "answers",
    params(("answer" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn get_answer(
    State(state): State<AppState>,
    caller: Can<perm::Converse>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let id = AnswerId::new(id);
        let a = e.recorded_answer(&who.tenant, who.owner(), &id)?;
        let fb = e.feedback(&who.tenant, who.owner(), &id)?;
        let mut v = json!(a);
        v["feedback"] = json!(fb);
        Ok(Json(v))
    })
    .await
}

/// `POST /api/v1/answers/{answer}/feedback`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFeedback {
    /// `1` (thumbs up) or `-1` (thumbs down); `"up"` / `"down"` are accepted too.
    #[schema(value_type = Object)]
    pub rating: Value,
    #[serde(default)]
    pub comment: String,
}

/// Records thumbs up/down and a comment on an answer.
#[utoipa::path(post, path = "/api/v1/answers/{answer}/feedback", tag = "answers",
    params(("answer" = String, Path)), request_body = NewFeedback,
    responses((status = 201, body = Object), (status = 400, body = Object), (status = 404, body = Object)))]
pub async fn add_feedback(
    State(state): State<AppState>,
    caller: Can<perm::Converse>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NewFeedback>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let rating: i8 = match &req.rating {
        Value::String(s) if s == "up" => 1,
        Value::String(s) if s == "down" => -1,
        Value::Number(n) if n.as_i64() == Some(1) => 1,
        Value::Number(n) if n.as_i64() == Some(-1) => -1,
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("rating must be 1, -1, \"up\" or \"down\", got {other}"),
            )
            .with_param("rating"));
        }
    };
    let who = caller.0;
    let tenant = who.tenant.clone();
    let comment = req.comment.clone();
    let (fb, trace_id) = blocking(&state, move |e, _| {
        let id = AnswerId::new(id);
        let fb = e.add_feedback(&who.tenant, who.owner(), &id, rating, &req.comment)?;
        // The answer's trace gets the rating as a score.
        let trace_id = e
            .recorded_answer(&who.tenant, who.owner(), &id)
            .ok()
            .and_then(|a| a.record["trace_id"].as_str().map(str::to_owned));
        Ok((fb, trace_id))
    })
    .await?;
    if let (Some(t), Some(id)) = (
        &state.telemetry,
        trace_id
            .as_deref()
            .and_then(cairn_telemetry::parse_trace_id),
    ) {
        t.score(
            tenant.as_str(),
            id,
            cairn_telemetry::Score {
                name: "feedback".into(),
                value: f64::from(rating),
                comment: (!comment.is_empty()).then_some(comment),
                source: "user".into(),
            },
        );
    }
    Ok((StatusCode::CREATED, Json(json!(fb))))
}
