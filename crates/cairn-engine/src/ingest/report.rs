//! The ingest report: what was done, what was skipped and why, what failed and why, and
//! what the quality checks found.

use serde::Serialize;

/// One finding about one source.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub source: String,
    pub detail: String,
}

/// Summary of one `ingest_path` call.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IngestReport {
    pub batch: String,
    pub collection: String,
    /// Regular files found under the path.
    pub files_seen: usize,
    /// Files skipped before any work because size and mtime matched the store.
    pub unchanged: usize,
    /// Files skipped because their last job died after the file was last modified.
    pub previously_failed: usize,
    /// Jobs enqueued by this run.
    pub queued: usize,
    /// Jobs left by an interrupted run, finished by this one.
    pub resumed: usize,
    /// Jobs of dead workers put back in the queue.
    pub reclaimed: usize,
    pub added: usize,
    pub updated: usize,
    /// Files whose bytes were unchanged (only the mtime moved).
    pub touched: usize,
    /// Stored without chunks by a quality rule.
    pub skipped: Vec<Finding>,
    /// Dead-lettered, with the error code and reason.
    pub failed: Vec<Finding>,
    /// Removed by `--sync`.
    pub removed: Vec<String>,
    pub chunks_written: usize,
    pub bytes_processed: u64,
    pub near_empty: Vec<String>,
    pub mostly_links: Vec<String>,
    /// Exact duplicates: source and the source it duplicates.
    pub duplicates: Vec<Finding>,
    pub near_duplicates: Vec<Finding>,
    /// Directories or files the scan could not read.
    pub scan_problems: Vec<Finding>,
    /// The search index after the run (synced from the store when the run finished).
    pub index: Option<crate::SyncReport>,
    /// Why the index could not be synced (the documents are stored; the next search or
    /// ingest retries).
    pub index_error: Option<String>,
    pub elapsed_ms: u64,
}

impl IngestReport {
    /// Documents processed per second (added, updated, touched or skipped).
    pub fn docs_per_second(&self) -> f64 {
        let n = self.added + self.updated + self.touched + self.skipped.len();
        if self.elapsed_ms == 0 {
            0.0
        } else {
            n as f64 * 1000.0 / self.elapsed_ms as f64
        }
    }
}
