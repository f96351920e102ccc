//! The OpenAI-compatible API under `/v1`: chat completions (plain models and
//! `cairn-rag:<collection>` assistants), models, embeddings and rerank.

mod agent;
mod chat;
mod chat_cache;
mod checked;
mod rag;
pub mod rerank;
pub mod responses;
mod tools;
pub mod types;

pub use chat_cache::ChatCache;

use crate::admission::stamp_wait;
use crate::auth::{Can, Identity, perm};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::request_id::RequestId;
use crate::settings::TenantSettings;
use crate::state::{AppState, blocking};
use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use cairn_engine::security::Redaction;
use cairn_types::{ErrorCode, TenantId};
use serde_json::{Value, json};
use std::sync::Arc;
use types::{ChatRequest, EmbeddingInput, EmbeddingsRequest, Usage};

/// How a chat completion goes back to the client: as itself, or as a Responses API
/// object (its stream as the Responses API's typed events).
#[derive(Clone)]
pub(crate) enum Wire {
    Chat,
    Responses(responses::Echo),
}

impl Wire {
    /// The body the client gets for a whole chat completion.
    fn body(&self, chat: Value) -> Value {
        match self {
            Self::Chat => chat,
            Self::Responses(echo) => responses::response(echo, &chat),
        }
    }

    /// The rewriting of a stream's chat chunks.
    fn translate(&self) -> Option<crate::sse::Translate> {
        match self {
            Self::Chat => None,
            Self::Responses(echo) => {
                let mut events = responses::EventStream::new(echo.clone());
                Some(Box::new(move |_, chunk| events.on_chunk(chunk)))
            }
        }
    }
}

/// Prefix of the RAG assistants' model names.
pub const RAG_PREFIX: &str = "cairn-rag:";

pub(crate) fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::now_v7().simple())
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unknown_model(model: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ModelNotFound,
        format!("model `{model}` does not exist; GET /v1/models lists the models this server has"),
    )
    .with_param("model")
}

/// Creates a chat completion.
#[utoipa::path(
    post, path = "/v1/chat/completions", tag = "openai",
    request_body = ChatRequest,
    responses(
        (status = 200, description = "A chat.completion object, or with `stream: true` an SSE stream of chat.completion.chunk objects ending in `data: [DONE]`", body = Object),
        (status = 400, description = "Invalid request (error envelope)", body = Object),
        (status = 404, description = "Unknown model", body = Object),
    )
)]
pub async fn chat_completions(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Extension(settings): Extension<Arc<TenantSettings>>,
    Extension(rid): Extension<RequestId>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Response {
    match chat_inner(state, caller.0, settings, rid, req, Wire::Chat).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// The caller's place for one more SSE stream, when the request streams.
fn stream_slot(
    state: &AppState,
    who: &Identity,
    stream: bool,
) -> ApiResult<Option<crate::state::StreamSlot>> {
    stream.then(|| state.streams.open(&who.bucket)).transpose()
}

/// Screens every user-authored message with the tenant's input guardrails.
fn screen_messages(
    state: &AppState,
    who: &Identity,
    settings: &TenantSettings,
    req: &ChatRequest,
) -> ApiResult<()> {
    for (i, m) in req.messages.iter().enumerate() {
        if m.role != "user" {
            continue;
        }
        if let Some(c) = &m.content {
            let text = c
                .text()
                .map_err(|e| ApiError::invalid(e).with_param(format!("messages[{i}]")))?;
            crate::guardrails::screen_input(state, who, settings, &text)
                .map_err(|e| e.with_param(format!("messages[{i}].content")))?;
        }
    }
    Ok(())
}

pub(crate) async fn chat_inner(
    state: AppState,
    who: Identity,
    settings: Arc<TenantSettings>,
    rid: RequestId,
    req: ChatRequest,
    wire: Wire,
) -> ApiResult<Response> {
    check_allowed(&settings, &req.model)?;
    screen_messages(&state, &who, &settings, &req)?;
    let meter = state.meter(&who, &settings);
    if req.messages.is_empty() {
        return Err(ApiError::invalid("messages must not be empty").with_param("messages"));
    }
    if req.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid("only n = 1 is supported").with_param("n"));
    }
    let config = state.engine.config();
    if let Some(collection) = req.model.strip_prefix(RAG_PREFIX) {
        let mut ask = rag::plan(&req, collection)?;
        ask.principal = Some(who.principal.clone());
        ask.guard = Some(settings.guard.clone());
        let tenant = who.tenant.clone();
        let model = req.model.clone();
        let slot = stream_slot(&state, &who, req.stream)?;
        let permit = state.admit_generation(&tenant).await?;
        let waited = permit.waited;
        if let Some(slot) = slot {
            let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
            let res = crate::sse::stream_with(
                &state,
                slot,
                rid.0,
                true,
                wire.translate(),
                move |engine, em| {
                    let _permit = permit;
                    let (usage, answered) =
                        rag::stream(engine, &tenant, &model, &ask, include_usage, em)?;
                    meter.record(&answered, usage.prompt_tokens, usage.completion_tokens);
                    Ok(())
                },
            )
            .await;
            return Ok(stamp_wait(res, waited));
        }
        let body = blocking(&state, move |engine, cancel| {
            let _permit = permit;
            let body = rag::complete(engine, &tenant, &model, &ask, cancel)?;
            record_body(&meter, &body);
            Ok(body)
        })
        .await?;
        return Ok(stamp_wait(Json(wire.body(body)).into_response(), waited));
    }
    if let Some(agent) = req.model.strip_prefix(agent::AGENT_PREFIX) {
        return agent_chat(&state, &who, meter, rid, &req, agent, wire).await;
    }
    let registry = state.engine.registry(&who.tenant)?;
    let local = registry.is_local(&req.model);
    if local && req.model != config.generator {
        return Err(unknown_model(&req.model));
    }
    let cache_key = config
        .cache
        .exact
        .then(|| chat_cache::key(&who, &settings, &req))
        .flatten();
    if let Some(body) = cache_key
        .as_deref()
        .and_then(|k| state.chat_cache.get(who.tenant.as_str(), k))
    {
        return replay(&state, &who, rid, &req, body, wire).await;
    }
    let cache = cache_key.map(|k| (k, state.chat_cache.clone()));
    if !local {
        return remote_chat(state, who, settings, rid, req, wire, cache).await;
    }
    let mut plan = chat::plan(&req, &req.model)?;
    plan.guard = Some(settings.guard.clone());
    let slot = stream_slot(&state, &who, req.stream)?;
    let permit = state.admit_generation(&who.tenant).await?;
    let waited = permit.waited;
    if let Some(slot) = slot {
        let res = crate::sse::stream_with(
            &state,
            slot,
            rid.0,
            true,
            wire.translate(),
            move |engine, em| {
                let _permit = permit;
                let out = chat::stream(engine.traced_generator()?.as_ref(), plan, em)?;
                settle_stream(engine, &who, &meter, &out, cache);
                Ok(())
            },
        )
        .await;
        return Ok(stamp_wait(res, waited));
    }
    let body = blocking(&state, move |engine, cancel| {
        let _permit = permit;
        let (body, decisions) = chat::complete(engine.traced_generator()?.as_ref(), plan, cancel)?;
        crate::guardrails::audit_decisions(engine, &who, &decisions);
        record_body(&meter, &body);
        if let Some((key, cache)) = cache {
            cache.put(who.tenant.as_str(), &key, &body);
        }
        Ok(body)
    })
    .await?;
    Ok(stamp_wait(Json(wire.body(body)).into_response(), waited))
}

/// A `[[models.remote]]` model or a `[[models.routes]]` route: the tenant's `pii_remote`
/// policy redacts every message before a provider sees it; placeholders in the answer
/// are restored. Retries, fallback and circuit breakers are the gateway's
/// (`cairn_engine::gateway`).
async fn remote_chat(
    state: AppState,
    who: Identity,
    settings: Arc<TenantSettings>,
    rid: RequestId,
    req: ChatRequest,
    wire: Wire,
    cache: Option<(String, Arc<ChatCache>)>,
) -> ApiResult<Response> {
    let mut plan = chat::plan_for(&req, &req.model, true)?;
    plan.guard = Some(settings.guard.clone());
    let meter = state.meter(&who, &settings);
    let (model, tenant) = (req.model.clone(), who.tenant.clone());
    let redaction = Redaction::new(settings.guard.clone());
    let open = {
        let redaction = redaction.clone();
        move |engine: &cairn_engine::Engine| -> ApiResult<_> {
            Ok(engine.chat_model(&tenant, &model, &redaction)?)
        }
    };
    let slot = stream_slot(&state, &who, req.stream)?;
    // The model's own queue: fair between tenants, bounded by its max_concurrent.
    let permit = state.admit_model(&who.tenant, &req.model).await?;
    let waited = permit.waited;
    if let Some(slot) = slot {
        let res = crate::sse::stream_with(
            &state,
            slot,
            rid.0,
            true,
            wire.translate(),
            move |engine, em| {
                let _permit = permit;
                let g = open(engine)?;
                if checked::needs_check(&plan) {
                    let out = checked::stream(g.as_ref(), plan, em, &Default::default());
                    crate::guardrails::audit_decisions(engine, &who, &redaction.decisions());
                    let (body, decisions) = out?;
                    crate::guardrails::audit_decisions(engine, &who, &decisions);
                    record_body(&meter, &body);
                    return Ok(());
                }
                let out = chat::stream(g.as_ref(), plan, em);
                crate::guardrails::audit_decisions(engine, &who, &redaction.decisions());
                settle_stream(engine, &who, &meter, &out?, cache);
                Ok(())
            },
        )
        .await;
        return Ok(stamp_wait(res, waited));
    }
    let body = blocking(&state, move |engine, cancel| {
        let _permit = permit;
        let g = open(engine)?;
        let out = checked::complete(g.as_ref(), plan, cancel);
        crate::guardrails::audit_decisions(engine, &who, &redaction.decisions());
        let (body, decisions) = out?;
        crate::guardrails::audit_decisions(engine, &who, &decisions);
        record_body(&meter, &body);
        if let Some((key, cache)) = cache {
            cache.put(who.tenant.as_str(), &key, &body);
        }
        Ok(body)
    })
    .await?;
    Ok(stamp_wait(Json(wire.body(body)).into_response(), waited))
}

/// A cached completion, whole or as a stream; no model runs and nothing is charged.
async fn replay(
    state: &AppState,
    who: &Identity,
    rid: RequestId,
    req: &ChatRequest,
    body: Value,
    wire: Wire,
) -> ApiResult<Response> {
    let Some(slot) = stream_slot(state, who, req.stream)? else {
        return Ok(Json(wire.body(body)).into_response());
    };
    let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
    Ok(
        crate::sse::stream_with(state, slot, rid.0, true, wire.translate(), move |_, em| {
            checked::emit_whole(em, &body, include_usage);
            Ok(())
        })
        .await,
    )
}

/// After a streamed completion: its guardrail decisions audited, its tokens charged to
/// the model that answered, and its whole body kept by the exact cache when it has one.
fn settle_stream(
    engine: &cairn_engine::Engine,
    who: &Identity,
    meter: &crate::state::Meter,
    out: &chat::Streamed,
    cache: Option<(String, Arc<ChatCache>)>,
) {
    crate::guardrails::audit_decisions(engine, who, &out.decisions);
    meter.record(
        &out.answered,
        out.usage.prompt_tokens,
        out.usage.completion_tokens,
    );
    if let (Some(body), Some((key, cache))) = (&out.whole, cache) {
        cache.put(who.tenant.as_str(), &key, body);
    }
}

/// Charges a whole chat completion to the model its `cairn.model` names.
/// A chat with a `cairn-agent:<name>` model: the run, waited for, as a completion (or its
/// chunks).
async fn agent_chat(
    state: &AppState,
    who: &Identity,
    meter: crate::state::Meter,
    rid: RequestId,
    req: &ChatRequest,
    name: &str,
    wire: Wire,
) -> ApiResult<Response> {
    let start = agent::plan(req, name, crate::native::agents::caller(who))?;
    let slot = stream_slot(state, who, req.stream)?;
    let waited = crate::native::agents::run_waiting(state, start, meter, req.model.clone()).await?;
    let model = req.model.clone();
    if let Some(slot) = slot {
        let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
        let events = agent::chunks(&model, &waited, include_usage);
        return Ok(crate::sse::stream_with(
            state,
            slot,
            rid.0,
            true,
            wire.translate(),
            move |_, em| {
                for ev in &events {
                    em.send(None, ev);
                }
                Ok(())
            },
        )
        .await);
    }
    Ok(Json(wire.body(agent::body(&model, &waited))).into_response())
}

fn record_body(meter: &crate::state::Meter, body: &Value) {
    let n = |k: &str| body["usage"][k].as_u64().unwrap_or(0) as usize;
    let model = body["cairn"]["model"]
        .as_str()
        .or_else(|| body["model"].as_str())
        .unwrap_or("");
    meter.record(model, n("prompt_tokens"), n("completion_tokens"));
}

fn model_entry(id: &str, owned_by: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": owned_by})
}

fn model_list(state: &AppState, tenant: &TenantId) -> ApiResult<Vec<Value>> {
    let config = state.engine.config();
    let mut data = Vec::new();
    if config.is_local(&config.generator) {
        data.push(model_entry(&config.generator, "cairn"));
    }
    if config.server.expose_embedder {
        data.push(model_entry(&config.embedder, "cairn"));
    }
    let registry = state.engine.registry(tenant)?;
    for m in &registry.remote_models {
        data.push(model_entry(&m.name, "remote"));
    }
    for r in &registry.routes {
        data.push(model_entry(&r.name, "route"));
    }
    for name in state.engine.reranker_names() {
        if !data.iter().any(|m| m["id"] == name.as_str()) {
            data.push(model_entry(&name, "reranker"));
        }
    }
    for c in state.engine.store().list_collections(tenant)? {
        data.push(model_entry(&format!("{RAG_PREFIX}{}", c.id), "cairn-rag"));
    }
    for a in cairn_agent::registry::list(&state.engine, tenant)? {
        data.push(model_entry(
            &format!("{}{}", agent::AGENT_PREFIX, a.spec.name),
            "cairn-agent",
        ));
    }
    Ok(data)
}

/// The models of [`model_list`] the tenant's allow-list lets its callers use.
fn allowed_list(
    state: &AppState,
    tenant: &TenantId,
    settings: &TenantSettings,
) -> ApiResult<Vec<Value>> {
    Ok(model_list(state, tenant)?
        .into_iter()
        .filter(|m| m["id"].as_str().is_some_and(|id| settings.allows(id)))
        .collect())
}

/// `403 forbidden` unless the tenant's allow-list (`models.allow` in its settings)
/// covers `model`.
pub(crate) fn check_allowed(settings: &TenantSettings, model: &str) -> ApiResult<()> {
    if settings.allows(model) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Forbidden,
        format!("model `{model}` is not in this tenant's allowed models (tenant settings `models.allow`)"),
    )
    .with_param("model"))
}

/// Lists the models: the local generator, the embedder and one RAG assistant per
/// collection.
#[utoipa::path(get, path = "/v1/models", tag = "openai",
    responses((status = 200, description = "`{\"object\": \"list\", \"data\": [model...]}`", body = Object)))]
pub async fn list_models(
    State(state): State<AppState>,
    caller: Can<perm::Search>,
    Extension(settings): Extension<Arc<TenantSettings>>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    let data = blocking(&state.clone(), move |_, _| {
        allowed_list(&state, &tenant, &settings)
    })
    .await?;
    Ok(Json(json!({"object": "list", "data": data})))
}

/// One model.
#[utoipa::path(get, path = "/v1/models/{model}", tag = "openai",
    params(("model" = String, Path, description = "Model id")),
    responses((status = 200, body = Object), (status = 404, description = "Unknown model", body = Object)))]
pub async fn get_model(
    State(state): State<AppState>,
    caller: Can<perm::Search>,
    Extension(settings): Extension<Arc<TenantSettings>>,
    Path(model): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = state.clone();
    let tenant = caller.tenant.clone();
    let data = blocking(&state, move |_, _| allowed_list(&s, &tenant, &settings)).await?;
    data.into_iter()
        .find(|m| m["id"] == model.as_str())
        .map(Json)
        .ok_or_else(|| unknown_model(&model))
}

/// Creates embeddings with the local embedder.
#[utoipa::path(post, path = "/v1/embeddings", tag = "openai",
    request_body = EmbeddingsRequest,
    responses((status = 200, description = "`{\"object\": \"list\", \"data\": [{\"object\": \"embedding\", \"index\", \"embedding\"}], \"usage\"}`", body = Object),
              (status = 400, body = Object), (status = 404, body = Object)))]
pub async fn embeddings(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Extension(settings): Extension<Arc<TenantSettings>>,
    ApiJson(req): ApiJson<EmbeddingsRequest>,
) -> ApiResult<Json<Value>> {
    check_allowed(&settings, &req.model)?;
    let meter = state.meter(&caller, &settings);
    let config = state.engine.config();
    if req.model != config.embedder {
        return Err(unknown_model(&req.model));
    }
    let inputs = match req.input {
        EmbeddingInput::One(s) => vec![s],
        EmbeddingInput::Many(v) => v,
        EmbeddingInput::Tokens(_) => {
            return Err(
                ApiError::invalid("token-id input is not supported; send text").with_param("input"),
            );
        }
    };
    if inputs.is_empty() || inputs.len() > 2_048 {
        return Err(ApiError::invalid("input must hold 1 to 2048 texts").with_param("input"));
    }
    if inputs.iter().any(String::is_empty) {
        return Err(ApiError::invalid("input texts must not be empty").with_param("input"));
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "encoding_format `{other}` is not float or base64"
            ))
            .with_param("encoding_format"));
        }
    };
    let dimensions = req.dimensions;
    let model = req.model.clone();
    let out = blocking(&state, move |engine, _| {
        let embedder = engine.embedder()?;
        if let Some(d) = dimensions.filter(|&d| d != embedder.dim()) {
            return Err(ApiError::invalid(format!(
                "`{model}` has {} dimensions and cannot be shortened to {d}",
                embedder.dim()
            ))
            .with_param("dimensions"));
        }
        let texts: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let out = embedder.embed(&texts)?;
        meter.record(&model, out.tokens(), 0);
        Ok(out)
    })
    .await?;
    let tokens = out.tokens();
    let data: Vec<Value> = out
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": req.model,
        "usage": Usage::new(tokens, 0),
    })))
}
