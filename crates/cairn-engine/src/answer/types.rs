//! Ask requests, answers, citations and grounding reports.

use crate::search::{RerankKind, SearchMode, Timings as SearchTimings, Transform};
use cairn_index::SearchFilter;
use cairn_types::{AnswerId, CollectionId, ConversationId, Principal};
use serde::{Deserialize, Serialize};

/// An earlier chat turn supplied by the caller (stateless clients such as the
/// OpenAI-compatible endpoint send the whole history each time).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// `user` or `assistant`.
    pub role: cairn_types::MessageRole,
    pub content: String,
}

/// One question to answer from a collection.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AskRequest {
    pub collection: CollectionId,
    /// More collections searched with `collection` (an assistant over several, a
    /// conversation's attachments).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collections: Vec<CollectionId>,
    pub question: String,
    /// A stored conversation: its history is used and this turn is appended to it.
    #[serde(default)]
    pub conversation: Option<ConversationId>,
    /// History sent by the caller (ignored when `conversation` is set).
    #[serde(default)]
    pub history: Vec<Turn>,
    #[serde(default)]
    pub mode: Option<SearchMode>,
    #[serde(default)]
    pub rerank: Option<RerankKind>,
    #[serde(default)]
    pub transforms: Vec<Transform>,
    /// Chunks retrieved for the context (default `answer.top_k`).
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default)]
    pub filter: SearchFilter,
    /// Most tokens the answer may use (default `answer.max_answer_tokens`).
    #[serde(default)]
    pub max_tokens: Option<usize>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// The generator for this answer: a remote model or route of the tenant's registry,
    /// or a local model the configuration's roles name (default: the generator role).
    #[serde(default)]
    pub model: Option<String>,
    /// An assistant's instructions for the model (set by the server from a saved
    /// assistant, never read from a request body); the grounding rules still apply.
    #[serde(default, skip_deserializing)]
    pub instructions: Option<String>,
    /// Record the answer in the store (so feedback can refer to it). Default true.
    #[serde(default = "yes")]
    pub record: bool,
    /// Who is asking (set by the server, never from the body): replaces
    /// `filter.access`, owns the recorded answer, and must own `conversation`.
    #[serde(skip)]
    pub principal: Option<Principal>,
    /// The tenant's guardrails (set by the server): retrieved chunks are screened for
    /// indirect injection, a canary goes into the system prompt, and the answer is
    /// checked for canary and PII leaks. `None` (the CLI): no screening.
    #[serde(skip)]
    pub guard: Option<std::sync::Arc<cairn_guard::Guard>>,
    /// Stop after retrieval and the checks that run before generation (evaluating the
    /// abstention gate without the model): the answer is empty unless it abstained.
    #[serde(skip)]
    pub stop_before_generation: bool,
}

fn yes() -> bool {
    true
}

impl AskRequest {
    /// A question with every option at its configured default.
    pub fn new(collection: CollectionId, question: impl Into<String>) -> Self {
        Self {
            collection,
            collections: Vec::new(),
            question: question.into(),
            conversation: None,
            history: Vec::new(),
            mode: None,
            rerank: None,
            transforms: Vec::new(),
            top_k: None,
            filter: SearchFilter::default(),
            max_tokens: None,
            temperature: None,
            seed: None,
            model: None,
            instructions: None,
            record: true,
            principal: None,
            guard: None,
            stop_before_generation: false,
        }
    }
}

/// A numbered source placed in the prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The number the answer cites it by (`[n]`).
    pub n: usize,
    /// The collection the chunk is in (empty in answers recorded before it was kept).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub collection: String,
    pub chunk_id: String,
    pub document_id: String,
    pub title: String,
    pub heading_path: Vec<String>,
    pub source: String,
    pub page: Option<u32>,
    /// Retrieval score (fused or reranked).
    pub score: f32,
    /// Cosine similarity to the question, when the dense side found it.
    pub similarity: Option<f32>,
    /// The chunk's text as stored (citations' byte ranges point into it).
    pub text: String,
    /// What the prompt showed of `text` when it was compressed or cut to the budget
    /// (`None`: all of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

/// A source the answer cites, with the quoted span that supports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    pub n: usize,
    pub chunk_id: String,
    pub document_id: String,
    pub title: String,
    pub heading_path: Vec<String>,
    pub source: String,
    pub page: Option<u32>,
    /// The sentence of the source that best supports the citing claims.
    pub quote: String,
    /// Byte range of `quote` in the chunk's text.
    pub quote_start: usize,
    pub quote_end: usize,
    /// True when the model did not write the marker and Cairn attached the source
    /// because it supports a sentence of the answer.
    pub inferred: bool,
}

/// The grounding check of one sentence of the answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimCheck {
    pub text: String,
    /// Byte range in the answer.
    pub start: usize,
    pub end: usize,
    /// The sources the sentence cites.
    pub cites: Vec<usize>,
    /// The source that supports it best.
    pub best_source: Option<usize>,
    /// Share of the sentence's content words found in that source.
    pub lexical: f32,
    /// Cosine similarity of the sentence to that source.
    pub semantic: f32,
    /// Combined support in [0, 1].
    pub support: f32,
    pub supported: bool,
    /// Names and numbers the sentence states that neither the sources nor the question
    /// contain: made up, whatever the scores say (the sentence is then unsupported).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unverified: Vec<String>,
}

/// Why Cairn declined to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbstainReason {
    /// Nothing was retrieved.
    NoEvidence,
    /// The best match is below the similarity threshold.
    WeakEvidence,
    /// The model said the sources do not answer the question.
    ModelDeclined,
    /// Too little of the draft answer is supported by the sources.
    Ungrounded,
    /// A guardrail withheld the answer (see `guardrails`).
    Guardrail,
    /// The question names something (a setting, function, code or product) that no
    /// retrieved source mentions (see `missing_terms`).
    MissingTerms,
    /// The draft states names or numbers that no source contains (see the claims'
    /// `unverified`).
    Unverified,
}

/// Milliseconds per stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AnswerTimings {
    pub condense_ms: f64,
    pub retrieval_ms: f64,
    /// Context compression (sentence scoring and selection).
    #[serde(default)]
    pub compress_ms: f64,
    pub first_token_ms: Option<f64>,
    pub generation_ms: f64,
    pub grounding_ms: f64,
    pub total_ms: f64,
    pub search: SearchTimings,
}

/// Token counts of the generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerUsage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

impl AnswerUsage {
    /// Prompt plus completion tokens.
    pub fn total(&self) -> u64 {
        (self.prompt_tokens + self.completion_tokens) as u64
    }
}

/// A grounded answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Also the trace id: the recorded answer's id.
    pub id: AnswerId,
    pub conversation: Option<ConversationId>,
    pub question: String,
    /// The query retrieval ran with (the follow-up rewritten to stand alone).
    pub standalone_query: String,
    pub answer: String,
    pub citations: Vec<Citation>,
    pub claims: Vec<ClaimCheck>,
    /// Sentences the sources do not support.
    pub unsupported: Vec<String>,
    /// In [0, 1]: retrieval strength and grounded share combined.
    pub confidence: f32,
    pub abstained: bool,
    pub abstain_reason: Option<AbstainReason>,
    /// The generated text when the grounding check replaced it by an abstention.
    pub draft: Option<String>,
    /// Names in the question that no retrieved source mentions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_terms: Vec<String>,
    /// The sources placed in the prompt (the closest sources when abstaining).
    pub sources: Vec<Source>,
    pub prompt_version: String,
    pub model: String,
    pub usage: AnswerUsage,
    pub finish_reason: Option<String>,
    /// Guardrail decisions on the sources and the answer, each with its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<cairn_guard::Decision>,
    pub timings: AnswerTimings,
    /// Whether this answer was served from a cache, and from which stored answer.
    #[serde(default)]
    pub cache: CacheStatus,
    /// A cascade's earlier attempts: which model answered first and why the next one
    /// answered again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<Escalation>,
    /// The trace of the request that produced it (`GET /api/v1/traces/{id}`), when
    /// traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// One attempt of a `cascade` route that was not good enough.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    /// The model that answered.
    pub model: String,
    pub confidence: f32,
    /// Why it was not kept (`confidence 0.31 < 0.5`, `unverified`, ...).
    pub reason: String,
}

/// Which cache served an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheHit {
    /// The same request, same view, same data.
    Exact,
    /// Another question asking the same thing, same view, cited documents unchanged.
    Semantic,
}

/// `cache` of an answer: `{"hit": "exact" | "semantic" | null, "answer_id": ...}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheStatus {
    pub hit: Option<CacheHit>,
    /// The answer it was first computed as.
    pub answer_id: Option<AnswerId>,
}

/// What a streaming ask reports, in order: `Sources` once, `Delta`s, then the answer
/// is returned.
#[derive(Clone, Debug, PartialEq)]
pub enum AnswerEvent {
    /// The retrieved sources, before generation starts.
    Sources(Vec<Source>),
    /// New answer text.
    Delta(String),
}
