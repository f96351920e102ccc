//! Validation of [`RawConfig`] into the runtime [`Config`]. Every error names its key.

use crate::{Error, RawConfig, Result};
use cairn_types::{ChunkerKind, ChunkingSpec, TenantId};
use serde::Serialize;
use std::path::PathBuf;

/// Which state store to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    Sqlite,
    Postgres,
}

/// Serializes a connection URL with its password replaced by `***`.
fn redacted_url<S: serde::Serializer>(url: &str, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url_password(url))
}

/// `url` with the password of its user-info part replaced by `***` (for logs and
/// `cairn config`).
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Validated ingest settings.
#[derive(Clone, Debug, Serialize)]
pub struct IngestSettings {
    pub workers: usize,
    pub max_file_bytes: u64,
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub lease_ms: u64,
    pub include_hidden: bool,
    /// Where documents are parsed (`ingest.parse_isolation`).
    pub parse_isolation: ParseIsolation,
    /// Time limit of one document's parse, in milliseconds.
    pub parse_timeout_ms: u64,
    /// Address-space cap of a parse process, in MiB.
    pub parse_memory_mb: u64,
    pub quality: QualitySettings,
}

/// Where documents are parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParseIsolation {
    /// A child process per document, killed at the time limit, its memory capped.
    Process,
    /// A thread of the calling process: a parser that never returns keeps its thread.
    Thread,
}

impl ParseIsolation {
    /// The setting's value, or `None` for an unknown one.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "process" => Some(Self::Process),
            "thread" => Some(Self::Thread),
            _ => None,
        }
    }
}

/// Validated quality policy.
#[derive(Clone, Debug, Serialize)]
pub struct QualitySettings {
    pub min_chars: usize,
    pub link_ratio_threshold: f32,
    pub near_dup_max_distance: u32,
    pub skip_near_empty: bool,
    pub skip_mostly_links: bool,
    pub skip_duplicates: bool,
}

/// The effective, validated configuration.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    pub data_dir: PathBuf,
    pub tenant: TenantId,
    pub store_backend: StoreBackend,
    pub store_path: PathBuf,
    /// `store.url` (PostgreSQL); serialized with its password hidden.
    #[serde(serialize_with = "redacted_url")]
    pub store_url: String,
    /// `redis.url` (empty: no Redis); serialized with its password hidden.
    #[serde(serialize_with = "redacted_url")]
    pub redis_url: String,
    pub models_dir: PathBuf,
    pub embedder: String,
    pub generator: String,
    /// Remote models by name (validated: unique names, http(s) URLs).
    pub remote_models: Vec<crate::RemoteModelSection>,
    /// Routes by name (validated: known strategy, targets that resolve).
    pub routes: Vec<crate::registry::Route>,
    /// `models.judge` as written (empty: the generator); see [`Config::judge_model`].
    pub judge: String,
    /// `models.rewriter` as written (empty: the generator).
    pub rewriter: String,
    /// `models.reranker` as written (empty: `retrieval.cross_encoder`).
    pub reranker: String,
    /// `[models.circuit_breaker]`.
    pub circuit_breaker: crate::CircuitBreakerSection,
    pub max_context: usize,
    pub requant: String,
    /// GGUF backend (`models.backend`: `llama.cpp` or `candle`).
    pub backend: String,
    /// Concurrent generations per local model (`models.max_concurrent`, at least 1).
    pub max_concurrent: usize,
    /// Waiting requests per local model (`models.max_queued`).
    pub max_queued: usize,
    pub ingest: IngestSettings,
    pub chunking: ChunkingSpec,
    pub retrieval: crate::RetrievalSection,
    pub answer: crate::AnswerSection,
    /// `[cache]`.
    pub cache: crate::CacheSection,
    pub server: crate::ServerSection,
    pub auth: crate::AuthSection,
    pub limits: crate::LimitsSection,
    /// `[retention]`: default retention periods and the sweep interval.
    pub retention: crate::RetentionSection,
    pub telemetry: crate::TelemetrySection,
    /// The trace store's file (`telemetry.traces_path`, resolved).
    pub traces_path: PathBuf,
    pub logging: crate::LoggingSection,
    /// The `[guard]` table as JSON, for `cairn_guard::Policy`.
    pub guard: serde_json::Value,
    /// `[[agents]]` (checked: names, tools, delegation without cycles).
    pub agents: Vec<crate::AgentSpec>,
    /// `[[mcp_servers]]`: external MCP servers agents may call.
    pub mcp_servers: Vec<crate::McpServerSpec>,
    /// `[[openapi_tools]]`: OpenAPI documents whose operations agents may call.
    pub openapi_tools: Vec<crate::OpenApiToolsSpec>,
}

/// The smallest `ingest.parse_memory_mb`: the parse process maps the whole binary and a
/// 64 MiB parser stack before it reads a byte.
pub const MIN_PARSE_MEMORY_MB: u64 = 256;

fn invalid(key: &str, message: impl Into<String>) -> Error {
    Error::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// Expands a leading `~/`.
fn expand(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None => PathBuf::from(p),
    }
}

impl RawConfig {
    /// Checks every value and resolves paths.
    pub fn validate(self) -> Result<Config> {
        let data_dir = if self.data_dir.is_empty() {
            std::env::var_os("XDG_DATA_HOME")
                .map_or_else(|| home().join(".local/share"), PathBuf::from)
                .join("cairn")
        } else {
            expand(&self.data_dir)
        };
        cairn_types::validate_slug(&self.tenant).map_err(|m| invalid("tenant", m))?;
        let store_backend = match self.store.backend.as_str() {
            "sqlite" => StoreBackend::Sqlite,
            "postgres" => {
                if self.store.url.trim().is_empty() {
                    return Err(invalid(
                        "store.url",
                        "store.backend = \"postgres\" needs a connection URL \
                         (postgres://USER:PASSWORD@HOST:PORT/DATABASE; or CAIRN_STORE__URL)",
                    ));
                }
                if !(self.store.url.starts_with("postgres://")
                    || self.store.url.starts_with("postgresql://"))
                {
                    return Err(invalid(
                        "store.url",
                        "expected a postgres:// or postgresql:// URL",
                    ));
                }
                StoreBackend::Postgres
            }
            other => {
                return Err(invalid(
                    "store.backend",
                    format!("unknown backend `{other}` (expected `sqlite` or `postgres`)"),
                ));
            }
        };
        let store_path = if self.store.path.is_empty() {
            data_dir.join("cairn.db")
        } else {
            expand(&self.store.path)
        };
        let traces_path = if self.telemetry.traces_path.is_empty() {
            store_path.with_file_name("traces.db")
        } else {
            expand(&self.telemetry.traces_path)
        };
        self.check_telemetry()?;
        let models_dir = if !self.models.dir.is_empty() {
            expand(&self.models.dir)
        } else if let Some(d) = std::env::var_os("CAIRN_MODELS_DIR") {
            PathBuf::from(d)
        } else {
            home().join(".cache/cairn/models")
        };
        if self.models.embedder.trim().is_empty() {
            return Err(invalid("models.embedder", "must name a model"));
        }
        if self.models.generator.trim().is_empty() {
            return Err(invalid("models.generator", "must name a model"));
        }
        if !(256..=131_072).contains(&self.models.max_context) {
            return Err(invalid(
                "models.max_context",
                format!(
                    "must be between 256 and 131072, got {}",
                    self.models.max_context
                ),
            ));
        }
        if !(1..=256).contains(&self.models.max_concurrent) {
            return Err(invalid(
                "models.max_concurrent",
                format!(
                    "must be between 1 and 256, got {}",
                    self.models.max_concurrent
                ),
            ));
        }
        if self.models.max_queued > 100_000 {
            return Err(invalid(
                "models.max_queued",
                format!("must be at most 100000, got {}", self.models.max_queued),
            ));
        }
        if !["q8_0", "f16", "f32", "keep"].contains(&self.models.requant.as_str()) {
            return Err(invalid(
                "models.requant",
                format!(
                    "must be q8_0, f16, f32 or keep, got `{}`",
                    self.models.requant
                ),
            ));
        }
        if !["llama.cpp", "candle"].contains(&self.models.backend.as_str()) {
            return Err(invalid(
                "models.backend",
                format!("must be llama.cpp or candle, got `{}`", self.models.backend),
            ));
        }
        let i = &self.ingest;
        if i.workers == 0 || i.workers > 256 {
            return Err(invalid(
                "ingest.workers",
                format!("must be between 1 and 256 (got {})", i.workers),
            ));
        }
        if i.max_file_bytes == 0 {
            return Err(invalid("ingest.max_file_bytes", "must be greater than 0"));
        }
        if i.max_attempts == 0 {
            return Err(invalid("ingest.max_attempts", "must be at least 1"));
        }
        if i.backoff_max_ms < i.backoff_base_ms {
            return Err(invalid(
                "ingest.backoff_max_ms",
                "must be at least ingest.backoff_base_ms",
            ));
        }
        if i.lease_ms < 1_000 {
            return Err(invalid(
                "ingest.lease_ms",
                format!("must be at least 1000 (got {})", i.lease_ms),
            ));
        }
        let parse_isolation = ParseIsolation::parse(&i.parse_isolation).ok_or_else(|| {
            invalid(
                "ingest.parse_isolation",
                format!("must be process or thread, got `{}`", i.parse_isolation),
            )
        })?;
        if i.parse_timeout_ms < 100 {
            return Err(invalid(
                "ingest.parse_timeout_ms",
                format!("must be at least 100 (got {})", i.parse_timeout_ms),
            ));
        }
        if !(MIN_PARSE_MEMORY_MB..=1 << 30).contains(&i.parse_memory_mb) {
            return Err(invalid(
                "ingest.parse_memory_mb",
                format!(
                    "must be between {MIN_PARSE_MEMORY_MB} and {} (got {})",
                    1u64 << 30,
                    i.parse_memory_mb
                ),
            ));
        }
        let q = &i.quality;
        if !(0.0..=1.0).contains(&q.link_ratio_threshold) {
            return Err(invalid(
                "ingest.quality.link_ratio_threshold",
                "must be between 0 and 1",
            ));
        }
        if q.near_dup_max_distance > 32 {
            return Err(invalid(
                "ingest.quality.near_dup_max_distance",
                "must be at most 32 (bits of a 64-bit SimHash)",
            ));
        }
        let c = &self.chunking;
        let kind = ChunkerKind::parse(&c.strategy).ok_or_else(|| {
            invalid("chunking.strategy", format!("unknown strategy `{}` (expected recursive, sliding, structure or parent_child)", c.strategy))
        })?;
        let chunking = ChunkingSpec {
            kind,
            max_tokens: c.max_tokens,
            overlap_tokens: c.overlap_tokens,
            child_tokens: c.child_tokens,
        };
        chunking
            .validate()
            .map_err(|(field, message)| invalid(&format!("chunking.{field}"), message))?;
        let r = &self.retrieval;
        let one_of = |key: &str, v: &str, allowed: &[&str]| -> Result<()> {
            if allowed.contains(&v) {
                Ok(())
            } else {
                Err(invalid(
                    key,
                    format!("must be one of {}, got `{v}`", allowed.join(", ")),
                ))
            }
        };
        one_of("retrieval.mode", &r.mode, &["lexical", "dense", "hybrid"])?;
        one_of("retrieval.fusion", &r.fusion, &["rrf", "weighted"])?;
        one_of(
            "retrieval.rerank_blend",
            &r.rerank_blend,
            &["rrf", "replace"],
        )?;
        one_of(
            "retrieval.rerank",
            &r.rerank,
            &["none", "maxsim", "llm", "cross-encoder"],
        )?;
        one_of(
            "retrieval.dense_backend",
            &r.dense_backend,
            &["usearch", "pgvector"],
        )?;
        one_of(
            "retrieval.lexical_backend",
            &r.lexical_backend,
            &["tantivy", "postgres"],
        )?;
        for (key, shared) in [
            ("retrieval.dense_backend", r.dense_in_store()),
            ("retrieval.lexical_backend", r.lexical_in_store()),
        ] {
            if shared && store_backend != StoreBackend::Postgres {
                return Err(invalid(
                    key,
                    "searching in PostgreSQL needs store.backend = \"postgres\" \
                     (the embedded store searches its own tantivy and usearch indexes)",
                ));
            }
        }
        if r.rrf_k.is_nan() || r.rrf_k <= 0.0 {
            return Err(invalid("retrieval.rrf_k", "must be positive"));
        }
        if !(0.0..=1.0).contains(&r.alpha) {
            return Err(invalid("retrieval.alpha", "must be between 0 and 1"));
        }
        if !(0.1..=10.0).contains(&r.dense_weight) {
            return Err(invalid(
                "retrieval.dense_weight",
                "must be between 0.1 and 10",
            ));
        }
        if !(1.0..=10.0).contains(&r.identifier_weight) {
            return Err(invalid(
                "retrieval.identifier_weight",
                "must be between 1 and 10",
            ));
        }
        if r.top_k == 0 || r.candidates < r.top_k || r.candidates > 1_000 {
            return Err(invalid(
                "retrieval.candidates",
                "need 1 <= top_k <= candidates <= 1000",
            ));
        }
        if r.rerank_depth == 0 || r.rerank_depth > 1_000 {
            return Err(invalid(
                "retrieval.rerank_depth",
                "must be between 1 and 1000",
            ));
        }
        if r.hnsw_m < 4 || r.hnsw_ef_construction < 8 || r.hnsw_ef_search < 8 {
            return Err(invalid(
                "retrieval.hnsw_m",
                "need hnsw_m >= 4 and ef values >= 8",
            ));
        }
        if r.rerank == "cross-encoder" && r.cross_encoder.trim().is_empty() {
            return Err(invalid(
                "retrieval.cross_encoder",
                "rerank = \"cross-encoder\" needs the model directory",
            ));
        }
        let retrieval = self.retrieval.clone();
        let a = &self.answer;
        if a.top_k == 0 || a.top_k > 50 {
            return Err(invalid("answer.top_k", "must be between 1 and 50"));
        }
        if a.max_answer_tokens < 16 || a.max_context_tokens < 128 {
            return Err(invalid(
                "answer.max_answer_tokens",
                "need max_answer_tokens >= 16 and max_context_tokens >= 128",
            ));
        }
        if !(0.0..=2.0).contains(&a.temperature) {
            return Err(invalid("answer.temperature", "must be between 0 and 2"));
        }
        for (key, v) in [
            ("answer.min_similarity", a.min_similarity),
            ("answer.support_threshold", a.support_threshold),
            ("answer.min_grounded", a.min_grounded),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(key, "must be between 0 and 1"));
            }
        }
        let s = &self.server;
        if s.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "server.listen",
                format!("`{}` is not an address like 127.0.0.1:8080", s.listen),
            ));
        }
        if s.max_body_bytes < 1024 || s.request_timeout_secs == 0 {
            return Err(invalid(
                "server.max_body_bytes",
                "need max_body_bytes >= 1024 and request_timeout_secs >= 1",
            ));
        }
        if s.max_header_bytes < 8 * 1024 {
            return Err(invalid("server.max_header_bytes", "must be at least 8192"));
        }
        if s.header_timeout_secs == 0 || s.body_timeout_secs == 0 {
            return Err(invalid(
                "server.header_timeout_secs",
                "header_timeout_secs and body_timeout_secs must be at least 1",
            ));
        }
        if s.max_connections == 0 || s.max_streams_per_key == 0 {
            return Err(invalid(
                "server.max_connections",
                "max_connections and max_streams_per_key must be at least 1",
            ));
        }
        let auth = &self.auth;
        if !matches!(auth.mode.as_str(), "required" | "off") {
            return Err(invalid(
                "auth.mode",
                format!("`{}`: expected `required` or `off`", auth.mode),
            ));
        }
        if !auth.key_checks_per_minute.is_finite() || auth.key_checks_per_minute < 1.0 {
            return Err(invalid("auth.key_checks_per_minute", "must be at least 1"));
        }
        if self.cache.ttl_secs == 0 {
            return Err(invalid("cache.ttl_secs", "must be at least 1"));
        }
        let t = self.cache.semantic_threshold;
        if !(t > 0.0 && t <= 1.0) {
            return Err(invalid(
                "cache.semantic_threshold",
                format!("must be in (0, 1], got {t}"),
            ));
        }
        self.limits
            .check()
            .map_err(|(key, message)| invalid(&key, message))?;
        let redis_url = self.redis.url.trim().to_owned();
        let known_scheme = ["redis://", "rediss://"]
            .iter()
            .any(|scheme| redis_url.starts_with(scheme));
        if !redis_url.is_empty() && !known_scheme {
            return Err(invalid(
                "redis.url",
                "expected redis://[:PASSWORD@]HOST[:PORT][/DB]",
            ));
        }
        self.retention
            .periods()
            .check()
            .map_err(|(key, message)| invalid(&key, message))?;
        let (remote_models, routes) = crate::registry::validate(&self.models)?;
        crate::raw_agents::check_mcp(&self.mcp_servers)?;
        crate::raw_openapi::check_openapi(&self.openapi_tools, &self.mcp_servers)?;
        crate::raw_agents::check_all(&self.agents, &self.mcp_servers, &self.openapi_tools)?;
        let guard = serde_json::to_value(&self.guard)
            .map_err(|e| invalid("guard", format!("cannot read the table: {e}")))?;
        Ok(Config {
            retrieval,
            answer: self.answer.clone(),
            cache: self.cache.clone(),
            server: self.server.clone(),
            auth: self.auth.clone(),
            limits: self.limits.clone(),
            retention: self.retention.clone(),
            telemetry: self.telemetry.clone(),
            traces_path,
            logging: self.logging.clone(),
            guard,
            data_dir,
            tenant: TenantId::new(self.tenant.clone()),
            store_backend,
            store_path,
            store_url: self.store.url.clone(),
            redis_url: redis_url.clone(),
            models_dir,
            embedder: self.models.embedder.clone(),
            generator: self.models.generator.clone(),
            remote_models,
            routes,
            judge: self.models.judge.clone(),
            rewriter: self.models.rewriter.clone(),
            reranker: self.models.reranker.clone(),
            circuit_breaker: self.models.circuit_breaker.clone(),
            max_context: self.models.max_context,
            requant: self.models.requant.clone(),
            backend: self.models.backend.clone(),
            max_concurrent: self.models.max_concurrent,
            max_queued: self.models.max_queued,
            ingest: IngestSettings {
                workers: i.workers,
                max_file_bytes: i.max_file_bytes,
                max_attempts: i.max_attempts,
                backoff_base_ms: i.backoff_base_ms,
                backoff_max_ms: i.backoff_max_ms,
                lease_ms: i.lease_ms,
                include_hidden: i.include_hidden,
                parse_isolation,
                parse_timeout_ms: i.parse_timeout_ms,
                parse_memory_mb: i.parse_memory_mb,
                quality: QualitySettings {
                    min_chars: q.min_chars,
                    link_ratio_threshold: q.link_ratio_threshold,
                    near_dup_max_distance: q.near_dup_max_distance,
                    skip_near_empty: q.skip_near_empty,
                    skip_mostly_links: q.skip_mostly_links,
                    skip_duplicates: q.skip_duplicates,
                },
            },
            chunking,
            agents: self.agents.clone(),
            mcp_servers: self.mcp_servers.clone(),
            openapi_tools: self.openapi_tools.clone(),
        })
    }
}

impl Config {
    /// The embedding model's directory: `embedder` as a path if it is one, else under
    /// `models_dir`.
    pub fn embedder_dir(&self) -> PathBuf {
        self.model_path(&self.embedder)
    }

    /// The chat model's directory or file, resolved like [`Config::embedder_dir`].
    pub fn generator_path(&self) -> PathBuf {
        self.model_path(&self.generator)
    }

    /// A model named by `name`: a path if it looks like one, else under `models_dir`.
    pub fn model_path(&self, name: &str) -> PathBuf {
        let p = expand(name);
        if p.is_absolute() || name.contains('/') {
            p
        } else {
            self.models_dir.join(name)
        }
    }
}

impl RawConfig {
    /// `[telemetry]` and `[logging]`.
    fn check_telemetry(&self) -> Result<()> {
        let t = &self.telemetry;
        if !(0.0..=1.0).contains(&t.sample_rate) {
            return Err(invalid("telemetry.sample_rate", "must be between 0 and 1"));
        }
        let http = ["http://", "https://"];
        if !t.otlp_endpoint.is_empty() && !http.iter().any(|p| t.otlp_endpoint.starts_with(p)) {
            return Err(invalid(
                "telemetry.otlp_endpoint",
                "must be an http:// or https:// URL (OTLP over HTTP)",
            ));
        }
        if t.otlp_timeout_secs == 0 {
            return Err(invalid("telemetry.otlp_timeout_secs", "must be at least 1"));
        }
        if t.otlp_queue == 0 {
            return Err(invalid("telemetry.otlp_queue", "must be at least 1"));
        }
        if t.retention_days == 0 {
            return Err(invalid("telemetry.retention_days", "must be at least 1"));
        }
        if t.max_trace_mb == 0 {
            return Err(invalid("telemetry.max_trace_mb", "must be at least 1"));
        }
        if !matches!(self.logging.format.as_str(), "text" | "json") {
            return Err(invalid(
                "logging.format",
                format!("`{}`: expected `text` or `json`", self.logging.format),
            ));
        }
        Ok(())
    }
}
