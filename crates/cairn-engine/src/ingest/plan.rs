//! Change detection before any file is read: which scanned files need a job.
//!
//! - A file whose size and mtime match its stored document is unchanged: no job.
//! - A file with no document whose last job died after the file was last modified
//!   (a corrupt or unsupported file that has not changed since) is skipped too, so an
//!   unchanged corpus does no work; `cairn jobs retry` or `--force` re-runs it.
//! - Everything else gets a job (the worker still compares content hashes).

use super::IngestOptions;
use super::scan::FileEntry;
use crate::{Engine, Result};
use cairn_store::{DocumentSummary, JobFilter, NewJob};
use cairn_types::{CollectionId, JobKind, JobState, TenantId};
use std::collections::HashMap;

/// The outcome of planning.
pub(crate) struct Plan {
    pub jobs: Vec<NewJob>,
    pub unchanged: usize,
    pub previously_failed: usize,
    /// Stored documents by source (for `--sync`).
    pub known: HashMap<String, DocumentSummary>,
}

impl Engine {
    pub(crate) fn plan(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        batch: &str,
        files: &[FileEntry],
        opts: &IngestOptions,
    ) -> Result<Plan> {
        let known: HashMap<String, DocumentSummary> = self
            .store
            .document_summaries(tenant, collection)?
            .into_iter()
            .map(|s| (s.source.clone(), s))
            .collect();
        let dead = JobFilter {
            state: Some(JobState::Dead),
            collection: Some(collection.clone()),
            ..JobFilter::default()
        };
        let mut died_at: HashMap<String, i64> = HashMap::new();
        for job in self.store.list_jobs(tenant, &dead)? {
            let JobKind::IngestFile { path, .. } = job.kind;
            let at = died_at.entry(path).or_insert(job.updated_at);
            *at = (*at).max(job.updated_at);
        }
        let mut plan = Plan {
            jobs: Vec::new(),
            unchanged: 0,
            previously_failed: 0,
            known: HashMap::new(),
        };
        for f in files {
            if !opts.force {
                if let Some(s) = known.get(&f.source) {
                    if s.mtime == f.mtime && s.size_bytes == f.size {
                        plan.unchanged += 1;
                        continue;
                    }
                } else if died_at.get(&f.source).is_some_and(|&at| at >= f.mtime) {
                    plan.previously_failed += 1;
                    continue;
                }
            }
            plan.jobs.push(NewJob {
                collection: collection.clone(),
                batch: batch.to_owned(),
                kind: JobKind::IngestFile {
                    path: f.source.clone(),
                    acl: opts.acl.clone(),
                    metadata: opts.metadata.clone(),
                    force: opts.force,
                },
                max_attempts: self.config.ingest.max_attempts,
            });
        }
        plan.known = known;
        Ok(plan)
    }
}
