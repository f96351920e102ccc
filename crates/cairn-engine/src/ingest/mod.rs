//! Ingestion orchestration: scan → plan (change detection) → durable jobs → workers →
//! report. The per-document work itself is in [`process`].

mod daemon;
pub mod isolate;
mod owner;
mod plan;
pub(crate) mod process;
mod report;
mod run;
mod scan;
mod upload;
mod worker;

pub use daemon::SUMMARY_EVERY;
pub(crate) use owner::hostname as host_name;
/// This process's lease-holder id (`host:pid:start`), and whether a holder is known to
/// be dead (agent runs lease like jobs).
pub use owner::{current as holder_id, is_dead as holder_is_dead};
pub use report::{Finding, IngestReport};
pub use upload::{CommitGate, UploadAccepted, UploadRequest};

use cairn_types::{Acl, ErrorCode};
use serde::Serialize;

/// Options for one `ingest_path` call.
#[derive(Clone, Debug, Default)]
pub struct IngestOptions {
    /// Delete documents of the collection whose files under the path are gone.
    pub sync: bool,
    /// Worker threads; `None` uses `ingest.workers` from the config.
    pub workers: Option<usize>,
    /// Only enqueue the jobs and return: `cairn worker` processes run them.
    pub no_wait: bool,
    /// Re-process files even when size and mtime are unchanged.
    pub force: bool,
    /// Access list stored on every document of this ingest.
    pub acl: Acl,
    /// Metadata merged into every document of this ingest (tags, type, ...).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Owner stamped on the documents (the uploading user); `None` for the operator.
    pub owner: Option<String>,
    /// Guardrails whose `pii_ingest` policy applies to the parsed text before chunking
    /// (`redact` replaces PII by placeholders for good; `flag` only records it).
    pub guard: Option<std::sync::Arc<cairn_guard::Guard>>,
    /// The bytes' SHA-256 (hex) when the caller already computed it (an upload hashed
    /// while it was received); `None` hashes them here.
    pub content_hash: Option<String>,
    /// A document someone sent on purpose (an upload): the near-empty rule, made for the
    /// table-of-contents pages of crawled and scanned sources, does not skip it; a file
    /// with no text at all still fails (`empty_document`).
    pub deliberate: bool,
}

/// What happened to one document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocOutcome {
    /// New document, chunked.
    Added,
    /// Changed document; its chunks were replaced.
    Updated,
    /// Content hash unchanged (only the mtime moved): no work.
    Unchanged,
    /// Stored without chunks by a quality rule.
    Skipped,
}

/// Progress of a long ingest, for progress bars and logs.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ProgressEvent {
    /// The scan finished: `queued` files will be processed (plus `resumed` jobs left by
    /// an interrupted run); `unchanged` were skipped by size and mtime.
    Planned {
        files: usize,
        queued: usize,
        unchanged: usize,
        resumed: usize,
        reclaimed: usize,
    },
    /// A document finished.
    Done {
        source: String,
        outcome: DocOutcome,
        chunks: usize,
        bytes: u64,
    },
    /// A job failed; `will_retry` says whether it goes back to the queue.
    Failed {
        source: String,
        code: ErrorCode,
        message: String,
        will_retry: bool,
    },
    /// `--sync` removed a document whose file is gone.
    Removed { source: String },
}

/// Receives progress events. Must be cheap: it is called from worker threads.
pub trait ProgressSink: Send + Sync {
    fn event(&self, event: &ProgressEvent);
}

/// A sink that ignores everything.
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn event(&self, _: &ProgressEvent) {}
}
