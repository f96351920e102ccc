//! `ingest_path`: scan, plan, enqueue, run workers over the durable queue, report.

use super::scan::{canonical_root, scan};
use super::worker::RunState;
use super::{Finding, IngestOptions, IngestReport, ProgressEvent, ProgressSink, owner};
use crate::engine::now_ms;
use crate::{Engine, Result};
use cairn_types::{CollectionId, JobId, TenantId};
use std::path::Path;
use std::time::Instant;

impl Engine {
    /// Ingests a file or directory into a collection (created if missing) and waits for
    /// the work to finish (with `opts.no_wait`, returns once the jobs are enqueued). Unchanged files do no work; changed files replace their
    /// chunks; with `opts.sync`, documents whose files are gone are deleted.
    pub fn ingest_path(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        path: &Path,
        opts: &IngestOptions,
        sink: &dyn ProgressSink,
    ) -> Result<IngestReport> {
        let started = Instant::now();
        let root = canonical_root(path)?;
        // Fail fast on a missing tokenizer rather than dead-lettering every file.
        self.token_counter()?;
        self.ensure_collection(tenant, collection)?;
        self.check_embedder(tenant, collection)?;
        let batch = JobId::generate().0;
        let report = IngestReport {
            batch: batch.clone(),
            collection: collection.to_string(),
            ..IngestReport::default()
        };
        let state = RunState::new(sink, report);
        let reclaimed = self.reclaim_dead_jobs()?;
        let (files, problems) = scan(&root, self.config.ingest.include_hidden);
        let unreadable: Vec<String> = problems.iter().map(|(p, _)| p.clone()).collect();
        let plan = self.plan(tenant, collection, &batch, &files, opts)?;
        let unchanged = plan.unchanged;
        let queued = self.store.enqueue(tenant, &plan.jobs, now_ms())?.len();
        let pending = self.store.pending_count(tenant, collection)?;
        let resumed = pending.saturating_sub(queued);
        {
            let mut r = state.report();
            r.files_seen = files.len();
            r.unchanged = unchanged;
            r.previously_failed = plan.previously_failed;
            r.queued = queued;
            r.resumed = resumed;
            r.reclaimed = reclaimed;
            r.scan_problems = problems
                .into_iter()
                .map(|(source, detail)| Finding { source, detail })
                .collect();
        }
        sink.event(&ProgressEvent::Planned {
            files: files.len(),
            queued,
            unchanged,
            resumed,
            reclaimed,
        });
        if opts.sync {
            for s in plan.gone(&files, &root, &unreadable) {
                self.store.delete_document(tenant, &s.id)?;
                state.report().removed.push(s.source.clone());
                sink.event(&ProgressEvent::Removed {
                    source: s.source.clone(),
                });
            }
        }
        if opts.no_wait {
            let mut report = state.into_report();
            report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            return Ok(report);
        }
        let workers = opts.workers.unwrap_or(self.config.ingest.workers).max(1);
        self.run_workers(&state, tenant, std::slice::from_ref(collection), workers);
        let mut report = state.into_report();
        self.sync_after_ingest(tenant, collection, &mut report);
        report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(report)
    }

    /// Brings the collection's index up to date; a failure is reported, not fatal (the
    /// store holds everything and the next sync catches up).
    fn sync_after_ingest(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        report: &mut IngestReport,
    ) {
        match self.sync_index(tenant, collection) {
            Ok(r) => report.index = Some(r),
            Err(e) => {
                tracing::warn!(%collection, error = %e, "index sync after ingest failed");
                report.index_error = Some(format!("{}: {}", e.code, e.message));
            }
        }
    }

    /// Puts back in the queue the running jobs of dead local workers and those whose
    /// lease expired.
    pub(super) fn reclaim_dead_jobs(&self) -> Result<usize> {
        let dead: Vec<String> = self
            .store
            .running_owners()?
            .into_iter()
            .filter(|o| owner::is_dead(o))
            .collect();
        Ok(self.store.reclaim(&dead, now_ms())?)
    }

    pub(super) fn pending_in(
        &self,
        tenant: &TenantId,
        collections: &[CollectionId],
    ) -> Result<usize> {
        let mut n = 0;
        for c in collections {
            n += self.store.pending_count(tenant, c)?;
        }
        Ok(n)
    }

    /// Re-queues dead jobs and runs them (with every other runnable job) to completion.
    pub fn retry_jobs(
        &self,
        tenant: &TenantId,
        ids: &[JobId],
        sink: &dyn ProgressSink,
    ) -> Result<IngestReport> {
        let started = Instant::now();
        let mut collections: Vec<CollectionId> = Vec::new();
        for id in ids {
            let job = self.store.get_job(tenant, id)?;
            self.store.retry_job(tenant, id, now_ms())?;
            if !collections.contains(&job.collection) {
                collections.push(job.collection);
            }
        }
        let report = IngestReport {
            queued: ids.len(),
            ..IngestReport::default()
        };
        let state = RunState::new(sink, report);
        sink.event(&ProgressEvent::Planned {
            files: ids.len(),
            queued: ids.len(),
            unchanged: 0,
            resumed: 0,
            reclaimed: 0,
        });
        self.run_workers(&state, tenant, &collections, self.config.ingest.workers);
        let mut report = state.into_report();
        for c in &collections {
            self.sync_after_ingest(tenant, c, &mut report);
        }
        report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(report)
    }
}
