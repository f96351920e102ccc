//! OpenAPI schemas of request bodies whose Rust types live in crates without utoipa
//! (the engine's `SearchRequest` and `AskRequest`, the tenant settings overlay, the
//! multipart upload) and of the error envelope. They only describe the wire format;
//! tests keep them in step with the types the handlers really deserialize.

#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

/// The one error envelope of every 4xx and 5xx response.
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// The error: a stable code, a message for people, the OpenAI error type, the request
/// field at fault and the request id.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable error code (`invalid_input`, `not_found`, `forbidden`, `overloaded`, ...).
    pub code: String,
    pub message: String,
    /// OpenAI's error type for the status (`invalid_request_error`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub request_id: String,
}

/// Which retrievers run.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    Lexical,
    Dense,
    Hybrid,
}

/// The reranking stage.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RerankKind {
    None,
    Maxsim,
    Llm,
    CrossEncoder,
}

/// A query transform run by the local generator before retrieval.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Transform {
    Rewrite,
    Hyde,
    MultiQuery,
    Decompose,
}

/// How hybrid lists are merged.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[serde(tag = "kind")]
pub enum Fusion {
    /// Reciprocal rank fusion with constant `k`.
    Rrf { k: f32 },
    /// `alpha · dense + (1 − alpha) · lexical`.
    Weighted { alpha: f32 },
}

/// A view of the collection. Ignored for API callers: the server always replaces it
/// with the caller's own principal.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[serde(tag = "kind")]
pub enum Access {
    All,
    Principal {
        user: Option<String>,
        groups: Vec<String>,
    },
}

/// Restricts which documents are searched.
#[derive(Serialize, ToSchema)]
pub struct SearchFilter {
    pub access: Option<Access>,
    /// Full source or file name.
    pub sources: Option<Vec<String>>,
    /// `metadata.type` or the format label (`html`, `pdf`, ...).
    pub kinds: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// Inclusive bounds on the document date, Unix ms.
    pub date_from: Option<i64>,
    pub date_to: Option<i64>,
}

/// Where the strongest evidence goes in the returned list.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Rank,
    Edges,
}

/// Context helpers applied to the final hits.
#[derive(Serialize, ToSchema)]
pub struct ContextOptions {
    pub expand_parents: Option<bool>,
    pub dedup: Option<bool>,
    /// Maximal marginal relevance with this λ (1 = relevance only).
    pub mmr_lambda: Option<f32>,
    pub order: Option<Order>,
}

/// `POST /api/v1/search`. Unset options take the `[retrieval]` configuration.
#[derive(Serialize, ToSchema)]
pub struct SearchBody {
    /// The collection id (a slug).
    pub collection: String,
    /// More collections searched with `collection` (at most 8 in all); the hits are
    /// merged into one ranking, each naming its collection.
    pub collections: Option<Vec<String>>,
    pub query: String,
    pub mode: Option<SearchMode>,
    pub fusion: Option<Fusion>,
    #[schema(minimum = 0)]
    pub top_k: Option<u32>,
    #[schema(minimum = 0)]
    pub candidates: Option<u32>,
    pub rerank: Option<RerankKind>,
    pub filter: Option<SearchFilter>,
    pub transforms: Option<Vec<Transform>>,
    pub context: Option<ContextOptions>,
    /// HNSW ef for this search.
    #[schema(minimum = 0)]
    pub ef_search: Option<u32>,
}

/// Who wrote an earlier turn.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TurnRole {
    User,
    Assistant,
}

/// An earlier chat turn supplied by the caller.
#[derive(Serialize, ToSchema)]
pub struct Turn {
    pub role: TurnRole,
    pub content: String,
}

/// `POST /api/v1/ask`.
#[derive(Serialize, ToSchema)]
pub struct AskBody {
    /// The collection id (a slug).
    pub collection: String,
    /// More collections searched with `collection` (at most 8 in all).
    pub collections: Option<Vec<String>>,
    pub question: String,
    /// A stored conversation of the caller: its history is used and this turn appended.
    pub conversation: Option<String>,
    /// History sent by the caller (ignored when `conversation` is set).
    pub history: Option<Vec<Turn>>,
    pub mode: Option<SearchMode>,
    pub rerank: Option<RerankKind>,
    pub transforms: Option<Vec<Transform>>,
    /// Chunks retrieved for the context (default `answer.top_k`).
    #[schema(minimum = 0)]
    pub top_k: Option<u32>,
    pub filter: Option<SearchFilter>,
    /// Most tokens the answer may use (default `answer.max_answer_tokens`).
    #[schema(minimum = 0)]
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    #[schema(minimum = 0)]
    pub seed: Option<u64>,
    /// Record the answer (so feedback can refer to it). Default true.
    pub record: Option<bool>,
    /// Stream the answer as SSE (as does `Accept: text/event-stream`).
    pub stream: Option<bool>,
    /// The generator: a remote model or route of the tenant's registry (within its
    /// `models.allow`), or a local model the configuration's roles name.
    pub model: Option<String>,
    /// A saved assistant (`GET /api/v1/assistants`): its collection, instructions and
    /// model (unless `model` is given) apply; `collection` is then ignored.
    pub assistant: Option<String>,
}

/// `PUT /api/v1/tenant/settings`: overrides over the configured `[limits]` and
/// `[guard]`, each partial; unknown keys are refused.
#[derive(Serialize, ToSchema)]
pub struct TenantSettingsBody {
    /// Keys of the `[limits]` section (rpm, tpm, burst, quotas, ...).
    #[schema(value_type = Option<Object>)]
    pub limits: Option<serde_json::Value>,
    /// Keys of the `[guard]` policy.
    #[schema(value_type = Option<Object>)]
    pub guard: Option<serde_json::Value>,
    /// `{"allow": ["model", "prefix*", ...]}`: the only models the tenant's callers may
    /// list and use (absent: all).
    #[schema(value_type = Option<Object>)]
    pub models: Option<serde_json::Value>,
}

/// `PUT /api/v1/models/{name}`: a remote model (`base_url`, …) or, with `targets`, a
/// route. Fields as in `[[models.remote]]` / `[[models.routes]]`; unknown ones are
/// refused.
#[derive(Serialize, ToSchema)]
pub struct ModelEntryBody {
    /// Remote model: `http(s)://…/v1`.
    pub base_url: Option<String>,
    /// Remote model: the provider's model name (default: the registry name).
    pub model: Option<String>,
    /// Remote model: `chat` (default), `rerank` or `embeddings`.
    pub api: Option<String>,
    /// Remote model: the name of the tenant secret holding the API key.
    pub api_key_secret: Option<String>,
    /// Remote model: an environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Remote model: extra headers.
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    pub context_length: Option<usize>,
    /// Remote `embeddings` model: the vector size.
    pub dimension: Option<usize>,
    pub connect_timeout_ms: Option<u64>,
    pub first_token_timeout_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub max_concurrent: Option<usize>,
    pub max_retries: Option<u32>,
    pub input_price_per_mtok: Option<f64>,
    pub output_price_per_mtok: Option<f64>,
    /// Route: `fallback`, `round_robin`, `least_busy` or `cascade`.
    pub strategy: Option<String>,
    /// Route: model names, in order.
    pub targets: Option<Vec<String>>,
    /// Route (`cascade`): the confidence under which the next target answers again.
    pub escalate_below: Option<f32>,
}

/// `POST /api/v1/collections/{collection}/documents` (multipart/form-data).
#[derive(Serialize, ToSchema)]
pub struct UploadForm {
    /// The file, with its name in the part's `filename`.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// JSON `{"users": [...], "groups": [...]}`: who may read it (default: everyone).
    pub acl: Option<String>,
    /// JSON object stored as the document's metadata.
    pub metadata: Option<String>,
}

/// `POST /api/v1/conversations/{conversation}/attachments` (multipart/form-data).
#[derive(Serialize, ToSchema)]
pub struct AttachmentForm {
    /// The file, with its name in the part's `filename`.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// JSON object stored as the document's metadata.
    pub metadata: Option<String>,
}

#[cfg(test)]
mod tests {
    use cairn_engine::answer::AskRequest;
    use cairn_engine::search::SearchRequest;
    use cairn_types::CollectionId;
    use std::collections::BTreeSet;

    fn properties(schema: &str) -> BTreeSet<String> {
        let spec = crate::openapi::spec();
        spec["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {schema} in the document"))
            .keys()
            .cloned()
            .collect()
    }

    fn fields(v: serde_json::Value) -> BTreeSet<String> {
        v.as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The documented search body has exactly the fields the engine deserializes.
    #[test]
    fn search_and_ask_schemas_match_the_engine_types() {
        let c = CollectionId::new("kb");
        // (`collections` is left out of the JSON when empty.)
        let mut search = SearchRequest::new(c.clone(), "q");
        search.collections = vec![CollectionId::new("more")];
        let search = serde_json::to_value(search).unwrap();
        assert_eq!(properties("SearchBody"), fields(search));
        let mut ask = AskRequest::new(c, "q");
        ask.collections = vec![CollectionId::new("more")];
        let mut ask = fields(serde_json::to_value(ask).unwrap());
        // The server's own fields; `instructions` is set from an assistant (serialized
        // for the cache keys, never read from a body).
        ask.insert("stream".into());
        ask.insert("assistant".into());
        ask.remove("instructions");
        assert_eq!(properties("AskBody"), ask);
        let filter = serde_json::to_value(cairn_index::SearchFilter::default()).unwrap();
        assert_eq!(properties("SearchFilter"), fields(filter));
    }
}

/// `POST /v1/responses` (the Responses API). Fields not listed are ignored.
#[derive(Serialize, ToSchema)]
pub struct ResponsesBody {
    /// A model, route or `cairn-rag:<collection>` (as on `/v1/chat/completions`).
    pub model: String,
    /// A string, or a list of items: `{"role", "content"}` messages (content a string
    /// or `input_text` / `output_text` parts), `{"type": "function_call", "call_id",
    /// "name", "arguments"}` and `{"type": "function_call_output", "call_id", "output"}`.
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
    /// A system message put first.
    pub instructions: Option<String>,
    /// Send the typed events as SSE.
    pub stream: Option<bool>,
    /// `[{"type": "function", "name", "description", "parameters"}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Vec<serde_json::Value>>,
    /// `auto`, `none`, `required` or `{"type": "function", "name"}`.
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<serde_json::Value>,
    /// `{"format": {"type": "text" | "json_object" | "json_schema", "name", "schema",
    /// "strict"}}`.
    #[schema(value_type = Option<Object>)]
    pub text: Option<serde_json::Value>,
    #[schema(minimum = 1)]
    pub max_output_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub parallel_tool_calls: Option<bool>,
    /// Echoed back in the response.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// `PUT /api/v1/tool-sources/{name}` (`cairn_agent::sources::SourceBody`): an MCP
/// server over streamable HTTP, or an OpenAPI 3 document whose operations become tools.
#[derive(Serialize, ToSchema)]
pub struct ToolSourceBody {
    /// `mcp` or `openapi`.
    pub kind: String,
    /// The path's name (may be omitted).
    pub name: Option<String>,
    pub description: Option<String>,
    /// `mcp`: the server's `http(s)://…/mcp` URL.
    pub url: Option<String>,
    /// `mcp`: the tenant secret sent as `Authorization: Bearer`.
    pub bearer_secret: Option<String>,
    /// `openapi`: the document, as an object or as JSON or YAML text.
    #[schema(value_type = Object)]
    pub document: Option<serde_json::Value>,
    /// `openapi`: where the API is served (default: the document's first `servers` URL).
    pub base_url: Option<String>,
    /// `openapi`: `none`, `bearer`, `header`, `query` or `basic`.
    pub auth: Option<String>,
    /// `openapi`: the header or query parameter of `header` / `query` authentication.
    pub auth_name: Option<String>,
    /// `openapi`: the tenant secret holding the credential.
    pub auth_secret: Option<String>,
    /// `openapi`: the `operationId`s offered (default: all).
    pub operations: Option<Vec<String>>,
    /// Limit on one call, in milliseconds (default 30000).
    pub timeout_ms: Option<u64>,
}

/// `PUT /api/v1/agents/{name}`: an agent (`cairn_config::AgentSpec`; every field
/// optional, defaults as in `[[agents]]`, see docs/agents.md).
#[derive(Serialize, ToSchema)]
pub struct AgentBody {
    /// The path's name (may be omitted).
    pub name: Option<String>,
    pub description: Option<String>,
    /// The system prompt.
    pub instructions: Option<String>,
    /// A model or route of the tenant's registry (default: the generator).
    pub model: Option<String>,
    /// `react` or `plan_execute`.
    pub strategy: Option<String>,
    /// `auto`, `native` or `react`.
    pub protocol: Option<String>,
    /// `search`, `ask`, `get_document`, `calculator`, `sql`, `http_get`, `memory_search`,
    /// `memory_write`, `agent:<name>`, `mcp:<server>[.<tool>]`,
    /// `openapi:<source>[.<operationId>]`.
    pub tools: Option<Vec<String>>,
    pub collections: Option<Vec<String>>,
    pub requires_approval: Option<Vec<String>>,
    /// Tool → least role.
    pub tool_roles: Option<std::collections::BTreeMap<String, String>>,
    pub http_allow_hosts: Option<Vec<String>>,
    pub http_allow_private: Option<bool>,
    pub max_steps: Option<usize>,
    pub max_tool_calls: Option<usize>,
    pub max_tokens: Option<usize>,
    pub max_cost_usd: Option<f64>,
    pub max_seconds: Option<u64>,
    pub max_turn_tokens: Option<usize>,
    pub temperature: Option<f32>,
}
