//! Search requests and responses.

use cairn_index::SearchFilter;
use cairn_types::{CollectionId, Principal};
use serde::{Deserialize, Serialize};

/// Which retrievers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    Lexical,
    Dense,
    Hybrid,
}

impl SearchMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "lexical" => Some(Self::Lexical),
            "dense" => Some(Self::Dense),
            "hybrid" => Some(Self::Hybrid),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lexical => "lexical",
            Self::Dense => "dense",
            Self::Hybrid => "hybrid",
        }
    }
}

/// How hybrid lists are merged.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fusion {
    /// Reciprocal rank fusion with constant `k`.
    Rrf { k: f32 },
    /// `alpha · dense + (1 − alpha) · lexical` of min-max normalized scores.
    Weighted { alpha: f32 },
}

/// The reranking stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RerankKind {
    None,
    /// Late interaction over the embedder's token vectors.
    Maxsim,
    /// Pointwise relevance by the local generator: P("yes").
    Llm,
    /// A BERT cross-encoder the user supplies (`retrieval.cross_encoder`).
    CrossEncoder,
}

impl RerankKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "maxsim" => Some(Self::Maxsim),
            "llm" => Some(Self::Llm),
            "cross-encoder" | "cross_encoder" => Some(Self::CrossEncoder),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Maxsim => "maxsim",
            Self::Llm => "llm",
            Self::CrossEncoder => "cross-encoder",
        }
    }
}

/// Optional query transforms, run by the local generator before retrieval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transform {
    /// Expand abbreviations and clarify the question.
    Rewrite,
    /// Search the dense side with a hypothetical answer passage.
    Hyde,
    /// 3–5 reformulations, each retrieved and all fused.
    MultiQuery,
    /// Sub-questions for multi-hop questions, each retrieved and fused.
    Decompose,
}

impl Transform {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rewrite" => Some(Self::Rewrite),
            "hyde" => Some(Self::Hyde),
            "multi-query" | "multi_query" => Some(Self::MultiQuery),
            "decompose" => Some(Self::Decompose),
            _ => None,
        }
    }
}

/// Where the strongest evidence goes in the returned list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Best first.
    #[default]
    Rank,
    /// Best at the start and the end, weakest in the middle (for long prompts).
    Edges,
}

/// Context helpers applied to the final hits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextOptions {
    /// Replace child chunks by their parent section (children of one parent collapse).
    #[serde(default)]
    pub expand_parents: bool,
    /// Drop hits whose text mostly repeats a better hit (overlapping windows).
    #[serde(default)]
    pub dedup: bool,
    /// Maximal marginal relevance with this λ (1 = relevance only).
    #[serde(default)]
    pub mmr_lambda: Option<f32>,
    #[serde(default)]
    pub order: Order,
}

/// One search. Unset options take the `[retrieval]` configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchRequest {
    pub collection: CollectionId,
    /// More collections searched with `collection` (an assistant over several, a
    /// conversation's attachments); their hits are merged into one ranking.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collections: Vec<CollectionId>,
    pub query: String,
    #[serde(default)]
    pub mode: Option<SearchMode>,
    #[serde(default)]
    pub fusion: Option<Fusion>,
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default)]
    pub candidates: Option<usize>,
    #[serde(default)]
    pub rerank: Option<RerankKind>,
    #[serde(default)]
    pub filter: SearchFilter,
    #[serde(default)]
    pub transforms: Vec<Transform>,
    #[serde(default)]
    pub context: ContextOptions,
    /// HNSW ef for this search.
    #[serde(default)]
    pub ef_search: Option<usize>,
    /// Who is searching. Set by the server from the request's credentials, never from
    /// the body: when present, it replaces `filter.access` (a client cannot widen its
    /// own view). `None` is the local operator.
    #[serde(skip)]
    pub principal: Option<Principal>,
}

impl SearchRequest {
    /// A search with every option at its configured default.
    pub fn new(collection: CollectionId, query: impl Into<String>) -> Self {
        Self {
            collection,
            collections: Vec::new(),
            query: query.into(),
            mode: None,
            fusion: None,
            top_k: None,
            candidates: None,
            rerank: None,
            filter: SearchFilter::default(),
            transforms: Vec::new(),
            context: ContextOptions::default(),
            ef_search: None,
            principal: None,
        }
    }
}

/// A rank (from 1) and a raw score in one list.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankScore {
    pub rank: usize,
    pub score: f32,
}

/// Per-stage scores of a hit (what `--explain` prints).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HitScores {
    /// BM25 in the original query's lexical list.
    pub lexical: Option<RankScore>,
    /// Cosine in the original query's dense list.
    pub dense: Option<RankScore>,
    /// The fused score (RRF or weighted; the raw score for a single list).
    pub fused: f32,
    /// The reranker's score, if one ran.
    pub rerank: Option<f32>,
}

/// A retrieved chunk with what a citation needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The collection the chunk is in.
    #[serde(default)]
    pub collection: String,
    pub chunk_id: String,
    pub document_id: String,
    pub title: String,
    pub source: String,
    pub heading_path: Vec<String>,
    pub text: String,
    pub page: Option<u32>,
    /// The final ordering score (rerank if it ran, else fused).
    pub score: f32,
    pub scores: HitScores,
    /// The parent chunk this hit was expanded to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expanded_from: Option<String>,
}

/// What a transform produced, so its effect can be traced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransformTrace {
    pub transform: Transform,
    /// The queries (or, for HyDE, the passage) it produced.
    pub output: Vec<String>,
    pub ms: f64,
}

/// Milliseconds per stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub sync_ms: f64,
    pub transform_ms: f64,
    pub lexical_ms: f64,
    pub embed_ms: f64,
    pub dense_ms: f64,
    pub fuse_ms: f64,
    pub hydrate_ms: f64,
    pub rerank_ms: f64,
    pub context_ms: f64,
    pub total_ms: f64,
}

/// A search's results and trace.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchResponse {
    pub query: String,
    pub mode: SearchMode,
    pub rerank: RerankKind,
    pub hits: Vec<SearchHit>,
    pub transforms: Vec<TransformTrace>,
    pub timings: Timings,
}
