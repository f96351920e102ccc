//! The attribute conventions Cairn's spans follow, pinned.
//!
//! - OpenTelemetry semantic conventions **1.37.0** for HTTP (`http.request.method`,
//!   `http.route`, `http.response.status_code`, `url.path`) and GenAI model calls
//!   (`gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`,
//!   `gen_ai.response.model`, `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`,
//!   `gen_ai.response.finish_reasons`, `gen_ai.request.temperature`,
//!   `gen_ai.request.top_p`, `gen_ai.request.max_tokens`, `gen_ai.request.seed`).
//! - GenAI agent spans: `invoke_agent` (`gen_ai.agent.name`, `gen_ai.agent.id`) and
//!   `execute_tool` (`gen_ai.tool.name`, `gen_ai.tool.call.id`, `gen_ai.tool.type`).
//! - OpenInference (Arize Phoenix; Langfuse reads it too): `openinference.span.kind`
//!   with the kinds below, `input.value`, `output.value`, `session.id`, `user.id`,
//!   `retrieval.documents.<i>.document.{id,score,content}`,
//!   `reranker.output_documents.<i>.document.{id,score}`, `embedding.model_name`.
//! - Cairn's own: `cairn.tenant`, `cairn.request_id`, `cairn.flagged` (an answer with
//!   unsupported claims or stopped by a guardrail: always kept), `cairn.*` stage
//!   counts.

/// The OpenTelemetry semantic-conventions version the attribute names follow.
pub const SEMCONV_VERSION: &str = "1.37.0";

/// OpenInference span kinds (`openinference.span.kind`).
pub mod kind {
    pub const CHAIN: &str = "CHAIN";
    pub const LLM: &str = "LLM";
    pub const RETRIEVER: &str = "RETRIEVER";
    pub const RERANKER: &str = "RERANKER";
    pub const EMBEDDING: &str = "EMBEDDING";
    pub const GUARDRAIL: &str = "GUARDRAIL";
    pub const AGENT: &str = "AGENT";
    pub const TOOL: &str = "TOOL";
}
