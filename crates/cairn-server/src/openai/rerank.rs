//! `POST /v1/rerank`: relevance scores for caller-supplied documents, in the shape
//! vLLM, Cohere and Jina serve (`{model, query, documents, top_n, return_documents}` →
//! `{results: [{index, relevance_score, document}]}`), over Cairn's rerankers: the
//! built-in `maxsim` and `llm`, the configured reranker, and remote rerank models
//! (see `Engine::rerank_scores`). It reads no stored data; the tokens are charged to the
//! caller's tenant.

use super::unknown_model;
use crate::auth::{Can, perm};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::settings::TenantSettings;
use crate::state::{AppState, blocking};
use axum::Extension;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::ToSchema;

/// Most documents one request may rank.
pub const MAX_DOCUMENTS: usize = 1_000;

/// A document: a string, or an object with `text` (Jina's and Cohere v1's form).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RerankDocument {
    Text(String),
    Object { text: String },
}

impl RerankDocument {
    fn text(&self) -> &str {
        match self {
            Self::Text(t) | Self::Object { text: t } => t,
        }
    }
}

/// `POST /v1/rerank`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RerankRequest {
    /// A reranker name (`GET /v1/models` lists them with `owned_by: "reranker"`);
    /// default: `models.reranker`, else `maxsim`.
    #[serde(default)]
    pub model: Option<String>,
    pub query: String,
    pub documents: Vec<RerankDocument>,
    /// Results returned, best first (default: all).
    #[serde(default)]
    pub top_n: Option<usize>,
    /// Echo each document's text in its result (default: false).
    #[serde(default)]
    pub return_documents: Option<bool>,
}

/// Ranks documents by relevance to a query.
#[utoipa::path(post, path = "/v1/rerank", tag = "openai",
    request_body = RerankRequest,
    responses((status = 200, description = "`{\"id\", \"model\", \"results\": [{\"index\", \"relevance_score\", \"document\"?}], \"usage\": {\"total_tokens\"}}`, best first", body = Object),
              (status = 400, body = Object), (status = 404, description = "Unknown reranker", body = Object)))]
pub async fn rerank(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Extension(settings): Extension<Arc<TenantSettings>>,
    ApiJson(req): ApiJson<RerankRequest>,
) -> ApiResult<Json<Value>> {
    if req.query.trim().is_empty() {
        return Err(ApiError::invalid("query must not be empty").with_param("query"));
    }
    if req.documents.is_empty() || req.documents.len() > MAX_DOCUMENTS {
        return Err(
            ApiError::invalid(format!("documents must hold 1 to {MAX_DOCUMENTS} texts"))
                .with_param("documents"),
        );
    }
    if let Some(i) = req.documents.iter().position(|d| d.text().is_empty()) {
        return Err(
            ApiError::invalid("documents must not be empty").with_param(format!("documents[{i}]"))
        );
    }
    if req.top_n == Some(0) {
        return Err(ApiError::invalid("top_n must be at least 1").with_param("top_n"));
    }
    let engine = state.engine.clone();
    let model = match req.model.clone() {
        Some(m) => m,
        None => match engine.config().reranker_model() {
            "" => cairn_engine::search::MAXSIM.to_owned(),
            m => m.to_owned(),
        },
    };
    if !engine.reranker_names().contains(&model) {
        return Err(unknown_model(&model));
    }
    super::check_allowed(&settings, &model)?;
    let meter = state.meter(&caller, &settings);
    let tenant = caller.tenant.clone();
    let m = model.clone();
    let docs = req.documents.clone();
    let query = req.query.clone();
    let (scores, tokens) = blocking(&state, move |e, _| {
        let texts: Vec<&str> = docs.iter().map(RerankDocument::text).collect();
        let scores = e.rerank_scores(&tenant, &m, &query, &texts)?;
        let counter = e.token_counter()?;
        let tokens = texts.iter().map(|t| counter.count(t)).sum::<usize>()
            + counter.count(&query) * texts.len();
        meter.record(&m, tokens, 0);
        Ok((scores, tokens))
    })
    .await?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order.truncate(req.top_n.unwrap_or(order.len()));
    let with_text = req.return_documents.unwrap_or(false);
    let results: Vec<Value> = order
        .into_iter()
        .map(|i| {
            let mut r = json!({"index": i, "relevance_score": scores[i]});
            if with_text {
                r["document"] = json!({"text": req.documents[i].text()});
            }
            r
        })
        .collect();
    Ok(Json(json!({
        "id": format!("rerank-{}", uuid::Uuid::now_v7().simple()),
        "model": model,
        "results": results,
        "usage": {"total_tokens": tokens},
    })))
}
