//! Cairn's state store: tenants, collections, documents, chunks, jobs (with the bytes of
//! uploads waiting for theirs) and idempotency keys,
//! plus the security and data-lifecycle repositories (retention, legal holds, offboarding).
//!
//! Callers program against the repository traits in [`repo`] (bundled as [`Store`]); the
//! embedded implementation is [`SqliteStore`] (WAL mode, versioned migrations), the
//! scale-out one [`PostgresStore`] (several servers and workers on one database; its own
//! migrations, applied by `cairn migrate`). Both pass one conformance suite
//! (`tests/store_conformance.rs`). [`PostgresStore::import_sqlite`] moves an embedded
//! store into an empty PostgreSQL database (`cairn migrate --from-sqlite`).
//!
//! Invariants:
//! - Every row has a tenant column and every read or write names the tenant; a query
//!   never returns another tenant's row, whatever ids it is given.
//! - [`repo::DocumentRepo::commit_document`] is the only way chunks are written, and it
//!   replaces a document's chunks and completes its job in one transaction, so a crash at
//!   any moment leaves either the old chunk set or the new one, never a mix.
//! - Every chunk write and document delete appends to the index change log
//!   ([`repo::IndexFeedRepo`]) in the same transaction: search indexes catch up from it.
//! - SQL lives in this crate only.

pub mod agent;
pub mod assistant;
mod columns;
pub mod duty;
mod error;
pub mod eval_run;
pub mod lifecycle;
mod postgres;
pub mod reindex;
pub mod replica;
pub mod repo;
pub mod security;
pub mod session;
pub mod shared_index;
mod sqlite;
#[doc(hidden)]
pub mod testing;
pub mod upload;

pub use agent::{AgentDefinition, AgentRepo, AgentRun, AgentStep, RunState, SavedSpec, ToolSource};
pub use assistant::{Assistant, AssistantRepo};
pub use duty::DutyRepo;
pub use error::{Error, Result};
pub use eval_run::{EvalRun, EvalRunHead, EvalRunRepo};
pub use lifecycle::{LegalHold, LifecycleRepo, RetentionCutoffs, SweepCounts, TenantPurge};
pub use postgres::{
    IMPORTED_TABLES, ImportProgress, ImportReport, POSTGRES_ONLY_TABLES, POSTGRES_SCHEMA_VERSION,
    PostgresStore, TableCount, create_database,
};
pub use reindex::{ReindexRepo, StagedSet, SwapOutcome};
pub use replica::{PruneReport, ReplicaRepo};
pub use repo::{
    AclViewer, AnswerRepo, CollectionRepo, ConnectionStats, Connections, ConversationRepo,
    DocumentCommit, DocumentRepo, DocumentSummary, IdempotencyRecord, IdempotencyRepo, IndexBatch,
    IndexChange, IndexFeedRepo, IndexedChunk, JobFilter, JobRepo, NewJob, Store, TenantRepo,
};
pub use security::{
    AuditDraft, AuditRecord, AuditRepo, AuditSealer, ErasureReport, IdentityRepo,
    LATENCY_BOUNDS_MS, ModelUsage, ModelUsageRow, PrivacyRepo, ResealedSecret, RouteUsage,
    RouteUsageRow, SealedSecret, TenantDataRepo, Usage, UserExport,
};
pub use session::{PendingLogin, SessionRepo, WebSession};
pub use shared_index::{
    SharedChunk, SharedCounts, SharedDoc, SharedFilter, SharedIndexRepo, SharedSpace, VectorHits,
    VectorPlan,
};
pub use sqlite::{SCHEMA_VERSION, SqliteStore};
pub use upload::{NewUpload, StoredUpload, UploadInfo, UploadRepo};

/// Milliseconds since the Unix epoch (when a migration was applied).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
