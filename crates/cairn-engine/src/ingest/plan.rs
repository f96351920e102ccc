//! Change detection before any file is read: which scanned files need a job.
//!
//! - A file whose size and mtime match its stored document is unchanged: no job.
//! - A file with no document whose last job died after the file was last modified
//!   (a corrupt or unsupported file that has not changed since) is skipped too, so an
//!   unchanged corpus does no work; `cairn jobs retry` or `--force` re-runs it.
//! - Everything else gets a job (the worker still compares content hashes).

use super::IngestOptions;
use super::scan::{FileEntry, is_under};
use crate::{Engine, Result};
use cairn_store::{DocumentSummary, JobFilter, NewJob};
use cairn_types::{CollectionId, JobKind, JobState, TenantId};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The outcome of planning.
pub(crate) struct Plan {
    pub jobs: Vec<NewJob>,
    pub unchanged: usize,
    pub previously_failed: usize,
    /// Stored documents by source (for `--sync`).
    pub known: HashMap<String, DocumentSummary>,
}

impl Plan {
    /// Stored documents under `root` whose files the scan did not find: what `--sync`
    /// deletes. A path the scan could not read (`unreadable`) hides its files, so nothing
    /// under it counts as gone.
    pub(crate) fn gone<'a>(
        &'a self,
        files: &[FileEntry],
        root: &Path,
        unreadable: &[String],
    ) -> Vec<&'a DocumentSummary> {
        let present: HashSet<&str> = files.iter().map(|f| f.source.as_str()).collect();
        let mut gone: Vec<&DocumentSummary> = self
            .known
            .values()
            .filter(|s| is_under(&s.source, root) && !present.contains(s.source.as_str()))
            .filter(|s| !unreadable.iter().any(|p| is_under(&s.source, Path::new(p))))
            .collect();
        gone.sort_by(|a, b| a.source.cmp(&b.source));
        gone
    }
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
            // Uploads are no files of the tree.
            if let JobKind::IngestFile { path, .. } = job.kind {
                let at = died_at.entry(path).or_insert(job.updated_at);
                *at = (*at).max(job.updated_at);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::DocumentId;

    fn summary(source: &str) -> DocumentSummary {
        DocumentSummary {
            id: DocumentId::new(source),
            source: source.to_owned(),
            content_hash: String::new(),
            mtime: 0,
            size_bytes: 0,
            simhash: 0,
        }
    }

    #[test]
    fn sync_deletes_only_missing_files_under_the_root_and_outside_unreadable_dirs() {
        let known = [
            "/r/a.md",
            "/r/b.md",
            "/r/locked/c.md",
            "/other/d.md",
            "/rx/e.md",
        ];
        let plan = Plan {
            jobs: Vec::new(),
            unchanged: 0,
            previously_failed: 0,
            known: known
                .iter()
                .map(|s| ((*s).to_owned(), summary(s)))
                .collect(),
        };
        let files = [FileEntry {
            source: "/r/a.md".into(),
            mtime: 0,
            size: 0,
        }];
        let gone = plan.gone(&files, Path::new("/r"), &["/r/locked".to_owned()]);
        let gone: Vec<&str> = gone.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(gone, ["/r/b.md"]);
        let all = plan.gone(&files, Path::new("/r"), &[]);
        assert_eq!(
            all.len(),
            2,
            "without the scan problem, locked/c.md counts as gone"
        );
    }
}
