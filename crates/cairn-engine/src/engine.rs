//! [`Engine`]: configuration, store and tokenizer, opened once and shared.

use crate::{Error, Result};
use cairn_config::{Config, StoreBackend};
use cairn_models::HfTokenCounter;
use cairn_store::{PostgresStore, SqliteStore, Store};
use cairn_types::{
    ChunkingSpec, Collection, CollectionId, ErrorCode, TenantId, TokenCounter, validate_slug,
};
use std::sync::{Arc, OnceLock};

/// The engine. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Engine {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    tokenizer: OnceLock<Arc<dyn TokenCounter>>,
    pub(crate) models: crate::models::Models,
    pub(crate) spaces: crate::index::Spaces,
    pub(crate) query_cache: crate::search::QueryCache,
    /// The exact answer cache (`[cache] exact`), keyed as `answer::cache` says.
    pub(crate) answer_cache: crate::answer::exact_store::ExactStore<crate::Answer>,
    /// The semantic answer cache (`[cache] semantic`): see `answer::semantic`.
    pub(crate) semantic_cache: crate::answer::semantic::SemanticCache<Arc<crate::Answer>>,
    /// Each tenant's registry: the file's models plus its own (`tenant_models`).
    pub(crate) registries: crate::tenant_models::Registries,
    /// Where the traces of background work (ingest jobs) go, once a server sets it.
    pub(crate) trace_sink: OnceLock<Arc<dyn cairn_telemetry::Sink>>,
    /// What this process's ingest workers have done (metrics).
    pub(crate) ingest_counts: IngestCounts,
}

/// What this process's ingest job workers have done since it started.
#[derive(Debug, Default)]
pub struct IngestCounts {
    /// Job attempts that succeeded, and that failed (retried later or dead).
    pub jobs_succeeded: std::sync::atomic::AtomicU64,
    pub jobs_failed: std::sync::atomic::AtomicU64,
    /// Documents added or changed, chunks written, bytes read.
    pub documents: std::sync::atomic::AtomicU64,
    pub chunks: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
}

/// Current time in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Engine {
    /// Sends the traces of background work (each ingest job is one) to `sink`; the
    /// first sink set stays.
    pub fn set_trace_sink(&self, sink: Arc<dyn cairn_telemetry::Sink>) {
        let _ = self.trace_sink.set(sink);
    }

    /// What this process's ingest job workers have done since it started.
    pub fn ingest_counts(&self) -> &IngestCounts {
        &self.ingest_counts
    }

    /// Where background work's traces go, when a server or worker collects them.
    pub fn trace_sink(&self) -> Option<Arc<dyn cairn_telemetry::Sink>> {
        self.trace_sink.get().cloned()
    }

    /// Opens the configured store: SQLite is created and migrated if needed; PostgreSQL
    /// must already be migrated (`cairn migrate`).
    pub fn open(config: Config) -> Result<Self> {
        let store: Arc<dyn Store> = match config.store_backend {
            StoreBackend::Sqlite => Arc::new(SqliteStore::open(&config.store_path)?),
            StoreBackend::Postgres => Arc::new(PostgresStore::open(&config.store_url)?),
        };
        Ok(Self::with_store(config, store))
    }

    /// An engine over an already opened store.
    pub fn with_store(config: Config, store: Arc<dyn Store>) -> Self {
        let query_cache = crate::search::QueryCache::new(config.retrieval.query_cache_size);
        let answer_cache = crate::answer::exact_store::ExactStore::new(
            "answer",
            if config.cache.exact {
                config.cache.max_entries
            } else {
                0
            },
            std::time::Duration::from_secs(config.cache.ttl_secs),
            &config.redis_url,
        );
        let semantic_cache = crate::answer::semantic::SemanticCache::new(
            if config.cache.semantic {
                config.cache.max_entries
            } else {
                0
            },
            std::time::Duration::from_secs(config.cache.ttl_secs),
            config.cache.semantic_threshold,
        );
        Self {
            trace_sink: OnceLock::new(),
            ingest_counts: IngestCounts::default(),
            config,
            store,
            tokenizer: OnceLock::new(),
            models: crate::models::Models::default(),
            spaces: crate::index::Spaces::default(),
            query_cache,
            answer_cache,
            semantic_cache,
            registries: crate::tenant_models::Registries::default(),
        }
    }

    /// Replaces the token counter (tests and embedders that bring their own).
    pub fn set_token_counter(&self, counter: Arc<dyn TokenCounter>) -> bool {
        self.tokenizer.set(counter).is_ok()
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The state store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The embedding model's tokenizer, loaded on first use.
    pub fn token_counter(&self) -> Result<Arc<dyn TokenCounter>> {
        if let Some(t) = self.tokenizer.get() {
            return Ok(t.clone());
        }
        let loaded: Arc<dyn TokenCounter> = if self.config.remote_embedder().is_some() {
            Arc::new(cairn_models::WordCounter)
        } else {
            Arc::new(HfTokenCounter::from_model_dir(&self.config.embedder_dir())?)
        };
        Ok(self.tokenizer.get_or_init(|| loaded).clone())
    }

    /// Makes sure the tenant row exists.
    pub fn ensure_tenant(&self, tenant: &TenantId) -> Result<()> {
        validate_slug(tenant.as_str()).map_err(|m| Error::new(ErrorCode::InvalidInput, m))?;
        self.store
            .ensure_tenant(tenant, tenant.as_str(), now_ms())?;
        Ok(())
    }

    /// Creates a collection. `chunking = None` uses the configured default.
    pub fn create_collection(
        &self,
        tenant: &TenantId,
        id: &CollectionId,
        description: &str,
        chunking: Option<ChunkingSpec>,
    ) -> Result<Collection> {
        validate_slug(id.as_str()).map_err(|m| Error::new(ErrorCode::InvalidInput, m))?;
        if crate::answer::attachments::is_attachments_collection(id.as_str()) {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "collection names starting with `{}` are kept for conversations' attached files",
                    crate::answer::attachments::PREFIX
                ),
            ));
        }
        self.ensure_tenant(tenant)?;
        let spec = chunking.unwrap_or_else(|| self.config.chunking.clone());
        spec.validate().map_err(|(field, message)| {
            Error::new(
                ErrorCode::InvalidInput,
                format!("chunking {field}: {message}"),
            )
        })?;
        Ok(self
            .store
            .create_collection(tenant, id, description, &spec, now_ms())?)
    }

    /// Returns the collection, creating it with the default chunking if it is missing.
    pub fn ensure_collection(&self, tenant: &TenantId, id: &CollectionId) -> Result<Collection> {
        self.ensure_tenant(tenant)?;
        match self.store.get_collection(tenant, id) {
            Ok(c) => Ok(c),
            Err(cairn_store::Error::NotFound { .. }) => {
                match self.create_collection(tenant, id, "", None) {
                    // Another process created it meanwhile.
                    Err(e) if e.code == ErrorCode::Conflict => {
                        Ok(self.store.get_collection(tenant, id)?)
                    }
                    other => other,
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a collection with its documents, jobs and search index.
    pub fn delete_collection(&self, tenant: &TenantId, id: &CollectionId) -> Result<()> {
        self.store.delete_collection(tenant, id)?;
        self.drop_index(tenant, id)
    }
}

impl Engine {
    /// A document's text: the parsed blocks kept at ingest, else its chunks (sections,
    /// or leaves; never the children that repeat a section) joined in order. The caller
    /// checks the document's ACL first.
    pub fn document_text(&self, doc: &cairn_types::Document) -> Result<String> {
        if let Some(parsed) = self.store.document_text(&doc.tenant, &doc.id)? {
            let blocks: Vec<&str> = parsed.blocks.iter().map(|b| b.text.as_str()).collect();
            return Ok(blocks.join("\n\n"));
        }
        let chunks = self.store.list_chunks(&doc.tenant, &doc.id)?;
        Ok(chunks
            .iter()
            .filter(|c| c.role != cairn_types::ChunkRole::Child)
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n"))
    }
}
