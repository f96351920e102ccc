//! `[answer]` and `[server]`: the answer pipeline's and the HTTP server's settings.

use serde::{Deserialize, Serialize};

/// `[answer]`: grounded answering.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnswerSection {
    /// Chunks retrieved for the context (before the token budget trims them).
    pub top_k: usize,
    /// Tokens the answer may use; the context gets what the window leaves.
    pub max_answer_tokens: usize,
    /// Upper bound of prompt tokens for the retrieved context.
    pub max_context_tokens: usize,
    /// Put only the sentences of each source that bear on the question into the prompt
    /// (query-focused extraction; citations still point into the whole chunk).
    pub compress: bool,
    /// With `compress`: tokens of each source the prompt keeps.
    pub source_tokens: usize,
    /// Sampling temperature of answers (0 = greedy, reproducible).
    pub temperature: f32,
    /// Abstain when the best hit's cosine similarity is below this and no hit matched
    /// lexically with `min_lexical_score`.
    pub min_similarity: f32,
    /// BM25 score from which a lexical match alone counts as evidence.
    pub min_lexical_score: f32,
    /// A sentence counts as supported when its support score reaches this.
    pub support_threshold: f32,
    /// Abstain after generation when the grounded share of sentences is below this.
    pub min_grounded: f32,
    /// Abstain before generation when the question names something (a setting,
    /// function, error code, command or product) that no retrieved source mentions.
    pub require_named_terms: bool,
    /// Withhold a draft whose first sentence (the direct answer) names or states what no
    /// source does (a setting, function, code or number); later such sentences are
    /// marked unsupported.
    pub withhold_unverified: bool,
    /// Conversation messages kept verbatim; older ones are summarized.
    pub history_messages: usize,
}

impl Default for AnswerSection {
    fn default() -> Self {
        Self {
            top_k: 5,
            max_answer_tokens: 384,
            max_context_tokens: 3_000,
            compress: true,
            source_tokens: 90,
            temperature: 0.0,
            min_similarity: 0.30,
            min_lexical_score: 8.0,
            support_threshold: 0.5,
            min_grounded: 0.0,
            require_named_terms: true,
            withhold_unverified: true,
            history_messages: 6,
        }
    }
}

/// `[server]`: `cairn serve`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Listen address. Default: `127.0.0.1:8080`.
    pub listen: String,
    /// Largest JSON request body in bytes.
    pub max_body_bytes: usize,
    /// Largest upload in bytes (multipart).
    pub max_upload_bytes: usize,
    /// Non-streaming requests fail with `timeout` after this many seconds.
    pub request_timeout_secs: u64,
    /// On shutdown, in-flight requests and streams get this long to finish.
    pub shutdown_grace_secs: u64,
    /// Largest request head (request line and headers) in bytes; larger ones get
    /// `431`. Default: 16 KiB (at least 8 KiB).
    pub max_header_bytes: usize,
    /// A client must send a request's headers within this many seconds; it is also how
    /// long an idle keep-alive connection stays open. Default: 30.
    pub header_timeout_secs: u64,
    /// A request body must arrive within this many seconds in all, with no gap longer
    /// than `header_timeout_secs` between its pieces; slower bodies fail with `timeout`
    /// and the connection closes. Default: 120.
    pub body_timeout_secs: u64,
    /// Open connections at most; more wait in the listen backlog. Default: 1024.
    pub max_connections: usize,
    /// Concurrent SSE streams (ask, chat completions) per API key or user; more get
    /// `429 rate_limited`. Default: 8.
    pub max_streams_per_key: usize,
    /// Model names `/v1/models` lists besides the `cairn-rag:<collection>` assistants:
    /// the local generator (always) and the embedder.
    pub expose_embedder: bool,
    /// Ingest job threads `cairn serve` runs beside the API (asynchronous uploads, and
    /// any other job in the shared queue). 0: none, the jobs are left to `cairn worker`
    /// processes. Default: 1.
    pub ingest_workers: usize,
    /// Agent runs `cairn serve` executes at once in the background: runs started with
    /// `Prefer: respond-async`, approved runs, and runs of servers that died. 0: none
    /// (other servers take them). Default: 2.
    pub agent_workers: usize,
    /// Host names (or `host:port`) an MCP client may reach `/mcp` under, besides the
    /// loopback names and the listen address: the `Host` header of every `/mcp` request
    /// must name one (DNS-rebinding protection). A server behind a load balancer lists
    /// the name clients use, e.g. `["cairn.example.com"]`.
    pub mcp_allowed_hosts: Vec<String>,
    /// Whether tool sources tenants save through the API (MCP servers, OpenAPI
    /// documents) may reach loopback, private and link-local addresses. Off: an agent's
    /// calls cannot be pointed at the server's own network. Default: false.
    pub tool_sources_allow_private: bool,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 2 * 1024 * 1024,
            max_upload_bytes: 50 * 1024 * 1024,
            request_timeout_secs: 300,
            shutdown_grace_secs: 30,
            max_header_bytes: 16 * 1024,
            header_timeout_secs: 30,
            body_timeout_secs: 120,
            max_connections: 1024,
            max_streams_per_key: 8,
            expose_embedder: true,
            ingest_workers: 1,
            agent_workers: 2,
            mcp_allowed_hosts: Vec::new(),
            tool_sources_allow_private: false,
        }
    }
}

/// `[cache]`: answers served again without recomputing them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSection {
    /// Serve a repeated deterministic question (temperature 0 or a fixed seed, no
    /// conversation) from the exact cache: same tenant, same caller's ACL view, same
    /// collection at the same change-log position, same request, same models, same
    /// guard policy. Default: false.
    pub exact: bool,
    /// Serve a grounded answer to a question that asks the same thing as an earlier one
    /// (same collection, same ACL view, same request otherwise): the questions'
    /// embeddings are at least `semantic_threshold` apart in cosine, they agree on
    /// numbers, names, negation and opposites, and none of the documents the answer
    /// cites changed since. Default: false.
    pub semantic: bool,
    /// Least cosine similarity of two questions' embeddings for a semantic hit, in
    /// (0, 1]. Default: 0.85 (chosen on `eval/cache/pairs-tune.jsonl`; see
    /// bench/RESULTS.md).
    pub semantic_threshold: f32,
    /// Answers kept per process (by each cache). Default: 1000.
    pub max_entries: usize,
    /// Seconds an answer is served from the cache at most. Default: 3600.
    pub ttl_secs: u64,
}

impl Default for CacheSection {
    fn default() -> Self {
        Self {
            exact: false,
            semantic: false,
            semantic_threshold: 0.85,
            max_entries: 1_000,
            ttl_secs: 3_600,
        }
    }
}

/// `[telemetry]`: what Cairn tells monitoring.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySection {
    /// `GET /metrics` without credentials (for a Prometheus on a private network);
    /// `false` (default): it needs an owner's credentials.
    pub metrics_public: bool,
    /// Where spans are exported over OTLP/HTTP (protobuf): a collector's origin
    /// (`/v1/traces` is added) or its full traces URL. Empty (default): no export.
    pub otlp_endpoint: String,
    /// Headers sent with every export (a collector's credentials); `${VAR}` in a value
    /// is replaced by that environment variable.
    pub otlp_headers: std::collections::BTreeMap<String, String>,
    /// One export call's time limit.
    pub otlp_timeout_secs: u64,
    /// Traces waiting for export; beyond it they are dropped (and counted), never
    /// waited for.
    pub otlp_queue: usize,
    /// `service.name` on exported spans.
    pub service_name: String,
    /// Share of ordinary requests whose trace is kept (0 to 1). Errors, requests slower
    /// than `slow_trace_ms` and flagged answers are always kept.
    pub sample_rate: f64,
    pub slow_trace_ms: u64,
    /// Keep traces in the trace store (`GET /api/v1/traces`, `cairn traces`).
    pub store_traces: bool,
    /// The trace store's file. Default: `traces.db` beside the state store.
    pub traces_path: String,
    /// Traces older than this are deleted.
    pub retention_days: u32,
    /// The trace store's size cap: the oldest traces go first.
    pub max_trace_mb: u64,
    /// Put the question and the answer (after the tenant's PII redaction) on traces as
    /// `input.value` / `output.value`.
    pub trace_content: bool,
    /// Series per tenant on `/metrics` (tokens and cost by tenant and model; index lag by
    /// tenant and collection). Off by default: the series grow with the tenants.
    pub metrics_tenant_labels: bool,
    /// PEM file of the certificate authorities an `https` collector's certificate must
    /// chain to (a private CA). Empty: Mozilla's root certificates.
    pub otlp_ca_file: String,
    /// PEM files of a client certificate (with its chain) and its private key, for a
    /// collector that wants mutual TLS. Both or neither.
    pub otlp_client_cert_file: String,
    pub otlp_client_key_file: String,
}

impl Default for TelemetrySection {
    fn default() -> Self {
        Self {
            metrics_public: false,
            otlp_endpoint: String::new(),
            otlp_headers: std::collections::BTreeMap::new(),
            otlp_timeout_secs: 10,
            otlp_queue: 2_048,
            service_name: "cairn".into(),
            sample_rate: 1.0,
            slow_trace_ms: 5_000,
            store_traces: true,
            traces_path: String::new(),
            retention_days: 7,
            max_trace_mb: 256,
            trace_content: false,
            metrics_tenant_labels: false,
            otlp_ca_file: String::new(),
            otlp_client_cert_file: String::new(),
            otlp_client_key_file: String::new(),
        }
    }
}

/// `[logging]`: how the process logs (to stderr; `CAIRN_LOG` picks what).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingSection {
    /// `text` (default, for people) or `json` (one JSON object a line, for collectors).
    pub format: String,
}

impl Default for LoggingSection {
    fn default() -> Self {
        Self {
            format: "text".into(),
        }
    }
}
