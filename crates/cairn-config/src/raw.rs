//! The TOML file's shape, with the documented defaults. Unknown keys are errors.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// Where Cairn keeps its state. Default: `$XDG_DATA_HOME/cairn` or `~/.local/share/cairn`.
    pub data_dir: String,
    /// Tenant used by the CLI when none is given. Default: `default`.
    pub tenant: String,
    pub store: StoreSection,
    pub models: ModelsSection,
    pub ingest: IngestSection,
    pub chunking: ChunkingSection,
    pub retrieval: RetrievalSection,
    pub answer: crate::AnswerSection,
    pub cache: crate::CacheSection,
    pub server: crate::ServerSection,
    pub auth: crate::AuthSection,
    pub limits: crate::LimitsSection,
    pub retention: crate::RetentionSection,
    pub telemetry: crate::TelemetrySection,
    pub logging: crate::LoggingSection,
    pub redis: RedisSection,
    /// `[[agents]]`: agents every tenant has (tenants add their own through the API).
    pub agents: Vec<crate::AgentSpec>,
    /// `[[mcp_servers]]`: external MCP servers whose tools agents may call.
    pub mcp_servers: Vec<crate::McpServerSpec>,
    /// `[[openapi_tools]]`: OpenAPI documents whose operations agents may call.
    pub openapi_tools: Vec<crate::OpenApiToolsSpec>,
    /// Guardrail policy (see `cairn_guard::Policy`); checked when the server starts.
    pub guard: toml::Table,
}

/// `[retrieval]`: search defaults (each can be overridden per request).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrievalSection {
    /// `lexical`, `dense` or `hybrid`.
    pub mode: String,
    /// `rrf` or `weighted`.
    pub fusion: String,
    pub rrf_k: f32,
    /// Weight of the dense side in weighted fusion.
    pub alpha: f32,
    /// RRF weight of the lexical list when the query names an identifier (a setting,
    /// function, error code or command: a digit, `_`, `.`, `\\` or `$` inside a word),
    /// so an exact lexical match is not outvoted by near-miss vectors. 1 disables.
    pub identifier_weight: f32,
    /// RRF weight of the dense list (the lexical list weighs 1, or `identifier_weight`).
    pub dense_weight: f32,
    /// Query embeddings kept (LRU, per tenant) so a repeated query skips the embedder.
    /// 0 disables.
    pub query_cache_size: usize,
    /// Candidates taken from each side (and handed to the reranker).
    pub candidates: usize,
    /// Hits returned.
    pub top_k: usize,
    /// `none`, `maxsim`, `llm` or `cross-encoder`.
    pub rerank: String,
    /// Fused candidates the reranker scores (the LLM judge takes at most 10).
    pub rerank_depth: usize,
    /// `replace`: order by the reranker's score; `rrf`: fuse its order with the
    /// retrieval order.
    pub rerank_blend: String,
    /// Directory of a BERT cross-encoder (for `rerank = "cross-encoder"`).
    pub cross_encoder: String,
    pub hnsw_m: usize,
    pub hnsw_ef_construction: usize,
    pub hnsw_ef_search: usize,
    /// Memory the open index spaces (their HNSW graphs and catalogs) may hold in one
    /// process, in MiB; past it the least recently used spaces are closed (they reopen
    /// from disk on their next use). 0: no limit.
    pub index_memory_mb: u64,
    /// Where dense search runs: `usearch` (an HNSW graph in each server's memory, a
    /// replica of the store) or `pgvector` (in PostgreSQL, shared by every server;
    /// needs `store.backend = "postgres"`).
    pub dense_backend: String,
    /// Where lexical search runs: `tantivy` (BM25, a replica in each server's data
    /// directory) or `postgres` (PostgreSQL full-text search, shared; needs
    /// `store.backend = "postgres"`).
    pub lexical_backend: String,
}

impl RetrievalSection {
    /// Whether dense search runs in the store (pgvector).
    pub fn dense_in_store(&self) -> bool {
        self.dense_backend == "pgvector"
    }

    /// Whether lexical search runs in the store (PostgreSQL full-text search).
    pub fn lexical_in_store(&self) -> bool {
        self.lexical_backend == "postgres"
    }
}

impl Default for RetrievalSection {
    fn default() -> Self {
        Self {
            mode: "hybrid".into(),
            fusion: "rrf".into(),
            rrf_k: 60.0,
            alpha: 0.5,
            identifier_weight: 2.0,
            dense_weight: 1.0,
            query_cache_size: 1024,
            candidates: 50,
            top_k: 10,
            rerank: "none".into(),
            rerank_depth: 20,
            rerank_blend: "rrf".into(),
            cross_encoder: String::new(),
            hnsw_m: 16,
            hnsw_ef_construction: 128,
            hnsw_ef_search: 64,
            index_memory_mb: 2048,
            dense_backend: "usearch".into(),
            lexical_backend: "tantivy".into(),
        }
    }
}

/// `[store]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// `sqlite` (embedded, default) or `postgres` (several servers and workers on one
    /// database; needs `url`).
    pub backend: String,
    /// SQLite file. Default: `<data_dir>/cairn.db`.
    pub path: String,
    /// PostgreSQL connection URL (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`), for
    /// `backend = "postgres"`; also `CAIRN_STORE__URL`.
    pub url: String,
}

/// `[redis]`: shared state for several server processes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSection {
    /// `redis://[:PASSWORD@]HOST[:PORT][/DB]`: rate-limit buckets and the auth-check
    /// budget shared by every server. Empty: in-process (one server only).
    pub url: String,
}

/// `[models]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsSection {
    /// Model cache. Default: `$CAIRN_MODELS_DIR` or `~/.cache/cairn/models`.
    pub dir: String,
    /// Embedding model (a directory name under `dir`, or a path). Its tokenizer counts
    /// chunk tokens. Default: `all-minilm-l6-v2`.
    pub embedder: String,
    /// Chat model for answers and chat: a directory name under `dir`, a path to a
    /// `.gguf`, or the name of a `[[models.remote]]` or `[[models.routes]]`. Default:
    /// `qwen2.5-coder-1.5b-instruct`.
    pub generator: String,
    /// Largest context window the local generator allocates for. Default: 8192.
    pub max_context: usize,
    /// Weights in quantization types candle has no SIMD kernel for (Q4_1, Q5_0, Q5_1):
    /// `q8_0` (re-quantize; default), `f16`, `f32` or `keep`.
    pub requant: String,
    /// Library that runs GGUF models: `llama.cpp` (default; ggml's kernels) or `candle`
    /// (Cairn's own pure-Rust forward pass).
    pub backend: String,
    /// Generations the server runs at once per local model (`/v1/chat/completions`,
    /// `/api/v1/ask`, `cairn-rag:*`); the rest wait in a queue fair between tenants.
    /// Default: 1 (one generation already uses every CPU core).
    pub max_concurrent: usize,
    /// Requests that may wait per local model; past it, `503 overloaded` with
    /// `Retry-After`. Default: 16.
    pub max_queued: usize,
    /// Model for the grounding judge and `cairn eval grounding --method llm`: a local
    /// model, a `[[models.remote]]` or a `[[models.routes]]` name. Default: the generator.
    pub judge: String,
    /// Model for query transforms and conversation condensing and summaries. Default:
    /// the generator.
    pub rewriter: String,
    /// Reranker for `retrieval.rerank = "cross-encoder"` and the default of
    /// `POST /v1/rerank`: a local BERT cross-encoder (a directory name under `dir`, or a
    /// path) or a `[[models.remote]]` with `api = "rerank"`. Default: empty
    /// (`retrieval.cross_encoder`).
    pub reranker: String,
    /// OpenAI-compatible remote models (`[[models.remote]]`), usable by name wherever a
    /// model is named: a role above, a route, or a request's `model`. PII is redacted
    /// before every call (tenant policy `pii_remote`) and restored in the answer.
    pub remote: Vec<crate::RemoteModelSection>,
    /// Named groups of models (`[[models.routes]]`) tried by a strategy, usable wherever a
    /// model is named.
    pub routes: Vec<crate::RouteSection>,
    /// `[models.circuit_breaker]`: when a remote target is taken out of rotation.
    pub circuit_breaker: crate::CircuitBreakerSection,
}

/// `[ingest]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSection {
    /// Worker threads processing ingest jobs. Default: number of CPUs.
    pub workers: usize,
    /// Files larger than this are refused with `too_large`. Default: 50 MiB.
    pub max_file_bytes: u64,
    /// Attempts before a job is dead-lettered. Default: 3.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt. Default: 500 ms.
    pub backoff_base_ms: u64,
    /// Cap on the retry delay. Default: 60 s.
    pub backoff_max_ms: u64,
    /// Job lease; a worker that stops heart-beating loses its job after this. Default: 120 s.
    pub lease_ms: u64,
    /// Descend into hidden files and directories. Default: false.
    pub include_hidden: bool,
    /// Where documents are parsed: `process` (a child process per document, killed at
    /// the time limit and held to `parse_memory_mb`) or `thread` (a thread of this process,
    /// which a parser that never returns keeps busy). Default: `process`.
    pub parse_isolation: String,
    /// Time limit of one document's parse, in milliseconds. Default: 120000 (2 min).
    pub parse_timeout_ms: u64,
    /// Address-space cap (RLIMIT_AS) of a parse process, in MiB. Default: 2048.
    pub parse_memory_mb: u64,
    pub quality: QualitySection,
}

/// `[ingest.quality]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualitySection {
    /// Below this many body characters a page is "near-empty". Default: 200.
    pub min_chars: usize,
    /// Above this share of link text a page is "mostly links". Default: 0.5 (the PostgreSQL manual's index and acronym pages measure 0.56 and 0.78; its next highest page 0.34).
    pub link_ratio_threshold: f32,
    /// SimHash distance (bits of 64) at or below which pages are near-duplicates. Default: 10 (few-sentence edits of ~2,000-word pages measure 2-11 bits; unrelated pages of the PostgreSQL manual 17+).
    pub near_dup_max_distance: u32,
    /// Store near-empty pages without chunks. Default: true.
    pub skip_near_empty: bool,
    /// Store mostly-link pages without chunks. Default: true.
    pub skip_mostly_links: bool,
    /// Store exact duplicates without chunks. Default: true.
    pub skip_duplicates: bool,
}

/// `[chunking]`: the default for new collections.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChunkingSection {
    /// `recursive` | `sliding` | `structure` | `parent_child`. Default: `recursive`.
    pub strategy: String,
    /// Default: 512 tokens of the embedding model's tokenizer.
    pub max_tokens: usize,
    /// Default: 64.
    pub overlap_tokens: usize,
    /// Child size for `parent_child`. Default: 128.
    pub child_tokens: usize,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            data_dir: String::new(),
            tenant: "default".into(),
            store: StoreSection::default(),
            models: ModelsSection::default(),
            ingest: IngestSection::default(),
            chunking: ChunkingSection::default(),
            retrieval: RetrievalSection::default(),
            answer: crate::AnswerSection::default(),
            cache: crate::CacheSection::default(),
            server: crate::ServerSection::default(),
            auth: crate::AuthSection::default(),
            limits: crate::LimitsSection::default(),
            retention: crate::RetentionSection::default(),
            telemetry: crate::TelemetrySection::default(),
            redis: RedisSection::default(),
            agents: Vec::new(),
            mcp_servers: Vec::new(),
            openapi_tools: Vec::new(),
            logging: crate::LoggingSection::default(),
            guard: toml::Table::new(),
        }
    }
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            backend: "sqlite".into(),
            path: String::new(),
            url: String::new(),
        }
    }
}

impl Default for ModelsSection {
    fn default() -> Self {
        Self {
            dir: String::new(),
            embedder: "all-minilm-l6-v2".into(),
            generator: "qwen2.5-coder-1.5b-instruct".into(),
            max_context: 8192,
            requant: "q8_0".into(),
            backend: "llama.cpp".into(),
            max_concurrent: 1,
            max_queued: 16,
            judge: String::new(),
            rewriter: String::new(),
            reranker: String::new(),
            remote: Vec::new(),
            routes: Vec::new(),
            circuit_breaker: crate::CircuitBreakerSection::default(),
        }
    }
}

impl Default for IngestSection {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, usize::from),
            max_file_bytes: 50 * 1024 * 1024,
            max_attempts: 3,
            backoff_base_ms: 500,
            backoff_max_ms: 60_000,
            lease_ms: 120_000,
            include_hidden: false,
            parse_isolation: "process".into(),
            parse_timeout_ms: 120_000,
            parse_memory_mb: 2048,
            quality: QualitySection::default(),
        }
    }
}

impl Default for QualitySection {
    fn default() -> Self {
        Self {
            min_chars: 200,
            link_ratio_threshold: 0.5,
            near_dup_max_distance: 10,
            skip_near_empty: true,
            skip_mostly_links: true,
            skip_duplicates: true,
        }
    }
}

impl Default for ChunkingSection {
    fn default() -> Self {
        Self {
            strategy: "recursive".into(),
            max_tokens: 512,
            overlap_tokens: 64,
            child_tokens: 128,
        }
    }
}

impl RawConfig {
    /// Deserializes a TOML table, reporting the dotted key of any type error or unknown key.
    pub fn from_table(table: toml::Table) -> Result<Self> {
        let value = toml::Value::Table(table);
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let key = if path == "." || path.is_empty() {
                "<root>".to_owned()
            } else {
                path
            };
            Error::Invalid {
                key,
                message: e.into_inner().to_string(),
            }
        })
    }
}
