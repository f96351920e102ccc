//! The engine: the façade the `cairn` binary (and, later, the HTTP server) calls.
//!
//! It wires configuration, the state store, the ingest functions and the tokenizer
//! together. Today it owns ingestion end to end:
//!
//! - [`Engine::ingest_path`] scans a file or directory, skips unchanged files (size and
//!   mtime, then content hash), enqueues one durable job per changed file, runs worker
//!   threads over the batch, and returns an [`IngestReport`].
//! - Workers lease jobs from the store, parse, assess quality, chunk and commit each
//!   document with its chunks and its job in one transaction. Transient failures retry
//!   with exponential backoff; permanent ones (corrupt or unsupported files) go straight
//!   to the dead letter with their reason.
//! - [`Engine::ingest_bytes`] is the upload path, guarded by an idempotency key.
//!
//! Invariants:
//! - Every call names a tenant; nothing here reads across tenants.
//! - A `kill -9` at any point loses nothing acknowledged and duplicates nothing: chunks
//!   are only written by `commit_document`, and jobs of dead workers are reclaimed.
//! - No HTTP, no SQL, no terminal output: progress is reported through [`ProgressSink`].

pub mod answer;
mod engine;
mod error;
pub mod eval;
pub mod gateway;
mod index;
pub mod ingest;
mod judge;
pub mod lru;
mod models;
pub mod search;
pub mod security;
pub mod tenant_models;

pub use answer::{Answer, AnswerEvent, AskRequest};
pub use engine::{Engine, IngestCounts};
pub use error::{Error, Result};
pub use gateway::{ModelRole, TargetStatus};
pub use index::{ReindexReport, SyncReport};
pub use ingest::{
    CommitGate, IngestOptions, IngestReport, ProgressEvent, ProgressSink, UploadAccepted,
    UploadRequest,
};
pub use models::overlay_json;
pub use search::{SearchRequest, SearchResponse};
