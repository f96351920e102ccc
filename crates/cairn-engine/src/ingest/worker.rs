//! The worker side of a run: threads that lease jobs, run them, renew their leases, and
//! record success, retry with backoff, or the dead letter.

use super::process::{Prepared, SourceInfo, skip_reason};
use super::scan::mtime_ms;
use super::{DocOutcome, Finding, IngestOptions, IngestReport, ProgressEvent, ProgressSink};
use crate::engine::now_ms;
use crate::{Engine, Error, Result};
use cairn_types::{CollectionId, ErrorCode, Job, JobId, JobKind, JobState, TenantId};
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often an idle worker looks for jobs whose worker died or whose lease expired.
const RECLAIM_EVERY: Duration = Duration::from_secs(1);

/// State shared by the worker threads of one run.
pub(super) struct RunState<'a> {
    pub(super) owner: String,
    pub(super) sink: &'a dyn ProgressSink,
    pub(super) report: Mutex<IngestReport>,
    pub(super) in_flight: Mutex<HashSet<(TenantId, JobId)>>,
}

impl RunState<'_> {
    pub(super) fn report(&self) -> std::sync::MutexGuard<'_, IngestReport> {
        self.report.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<(TenantId, JobId)>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<'a> RunState<'a> {
    pub(super) fn new(sink: &'a dyn ProgressSink, report: IngestReport) -> Self {
        Self {
            owner: super::owner::current(),
            sink,
            report: Mutex::new(report),
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    pub(super) fn into_report(self) -> IngestReport {
        self.report
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Engine {
    pub(super) fn run_workers(
        &self,
        state: &RunState<'_>,
        tenant: &TenantId,
        collections: &[CollectionId],
        workers: usize,
    ) {
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| s.spawn(|| self.worker_loop(state, tenant, collections)))
                .collect();
            s.spawn(|| self.heartbeat_loop(state, &done));
            for h in handles {
                if h.join().is_err() {
                    tracing::error!("an ingest worker thread panicked");
                }
            }
            done.store(true, Ordering::SeqCst);
        });
    }

    /// Renews the leases of in-flight jobs until the run is done.
    pub(super) fn heartbeat_loop(&self, state: &RunState<'_>, done: &AtomicBool) {
        let lease = i64::try_from(self.config.ingest.lease_ms).unwrap_or(i64::MAX);
        let every = Duration::from_millis(self.config.ingest.lease_ms / 4);
        let mut last = Instant::now();
        while !done.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
            if last.elapsed() < every {
                continue;
            }
            last = Instant::now();
            let held: Vec<_> = state.in_flight().iter().cloned().collect();
            for (t, id) in held {
                if let Err(e) = self.store.heartbeat(&t, &id, &state.owner, lease, now_ms()) {
                    tracing::warn!(job = %id, error = %e, "lease renewal failed");
                }
            }
        }
    }

    /// Claims and runs jobs until none of these collections' are queued or running.
    /// While it waits on jobs other workers hold, it puts back those whose worker died or
    /// whose lease expired (a worker killed just as this run started, or on another host).
    fn worker_loop(&self, state: &RunState<'_>, tenant: &TenantId, collections: &[CollectionId]) {
        let lease = i64::try_from(self.config.ingest.lease_ms).unwrap_or(i64::MAX);
        let mut last_reclaim = Instant::now();
        loop {
            match self.store.claim(&state.owner, lease, None, now_ms()) {
                Ok(Some(job)) => self.run_claimed(state, &job),
                Ok(None) => match self.pending_in(tenant, collections) {
                    Ok(0) => return,
                    Ok(_) => {
                        self.reclaim_now_and_then(&mut last_reclaim);
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the job queue; worker stops");
                        return;
                    }
                },
                Err(e) if e.code() == ErrorCode::Transient => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim jobs; worker stops");
                    return;
                }
            }
        }
    }

    /// Runs a claimed job, its lease renewed meanwhile by the heartbeat loop.
    pub(super) fn run_claimed(&self, state: &RunState<'_>, job: &Job) {
        let key = (job.tenant.clone(), job.id.clone());
        state.in_flight().insert(key.clone());
        self.run_job(state, job);
        state.in_flight().remove(&key);
    }

    /// Puts back the jobs of dead workers and expired leases, at most every
    /// [`RECLAIM_EVERY`] (`last`: when it last did).
    pub(super) fn reclaim_now_and_then(&self, last: &mut Instant) {
        if last.elapsed() < RECLAIM_EVERY {
            return;
        }
        *last = Instant::now();
        match self.reclaim_dead_jobs() {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "reclaimed stale job leases"),
            Err(e) => tracing::warn!(error = %e, "cannot reclaim job leases"),
        }
    }

    fn run_job(&self, state: &RunState<'_>, job: &Job) {
        let target = job.kind.target();
        // Each attempt is a trace of its own (when a server collects traces).
        let span = tracing::info_span!(
            target: "cairn::trace",
            "ingest.job",
            otel.name = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_message = tracing::field::Empty,
            openinference.span.kind = tracing::field::Empty,
            cairn.tenant = tracing::field::Empty,
            cairn.job_id = tracing::field::Empty,
            cairn.collection = tracing::field::Empty,
            cairn.source = tracing::field::Empty,
            cairn.attempt = tracing::field::Empty,
        );
        if let Some(sink) = self.trace_sink.get() {
            let ctx = cairn_telemetry::TraceContext {
                trace_id: cairn_telemetry::context::new_trace_id(),
                remote_parent: None,
            };
            if cairn_telemetry::start_trace(&span, ctx, sink.clone()) {
                span.record("otel.name", format!("ingest {}", job.collection).as_str());
                span.record(
                    "openinference.span.kind",
                    cairn_telemetry::names::kind::CHAIN,
                );
                span.record("cairn.tenant", job.tenant.as_str());
                span.record("cairn.job_id", job.id.as_str());
                span.record("cairn.collection", job.collection.as_str());
                span.record("cairn.source", target.as_str());
                span.record("cairn.attempt", u64::from(job.attempts));
            }
        }
        let _entered = span.enter();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &job.kind {
            JobKind::IngestFile {
                path,
                acl,
                metadata,
                force,
            } => {
                let opts = IngestOptions {
                    acl: acl.clone(),
                    metadata: metadata.clone(),
                    force: *force,
                    ..IngestOptions::default()
                };
                self.ingest_file_job(state, job, path, &opts)
            }
            JobKind::IngestUpload { .. } => {
                let done = self.run_upload_job(job)?;
                self.record_success(state, &done.doc, done.outcome, done.chunks, done.bytes);
                Ok(())
            }
        }))
        .unwrap_or_else(|_| {
            Err(Error::new(
                ErrorCode::Internal,
                format!("{target}: internal panic while ingesting"),
            ))
        });
        if let Err(e) = result {
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_message", e.message.as_str());
            self.record_failure(state, job, &target, &e);
        }
    }

    fn ingest_file_job(
        &self,
        state: &RunState<'_>,
        job: &Job,
        path: &str,
        opts: &IngestOptions,
    ) -> Result<()> {
        let tenant = &job.tenant;
        let collection = self.store.get_collection(tenant, &job.collection)?;
        let file = Path::new(path);
        let meta = std::fs::metadata(file).map_err(|e| io_error(path, &e))?;
        // Checked before reading, so an oversized file is never loaded.
        self.check_size(path, meta.len())?;
        let bytes = std::fs::read(file).map_err(|e| io_error(path, &e))?;
        let file_name = file
            .file_name()
            .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned());
        let info = SourceInfo {
            source: path,
            file_name: &file_name,
            mtime: mtime_ms(&meta),
        };
        let size = bytes.len() as u64;
        match self.prepare_document(tenant, &collection, &info, &bytes, opts)? {
            Prepared::Unchanged(id) => {
                self.store
                    .touch_document(tenant, &id, info.mtime, Some(&job.id), now_ms())?;
                state.report().touched += 1;
                state.sink.event(&ProgressEvent::Done {
                    source: path.to_owned(),
                    outcome: DocOutcome::Unchanged,
                    chunks: 0,
                    bytes: size,
                });
            }
            Prepared::Commit {
                mut commit,
                outcome,
            } => {
                commit.job = Some(job.id.clone());
                let chunks = commit.chunks.len();
                let doc = tracing::info_span!("ingest.commit", cairn.chunks = chunks)
                    .in_scope(|| self.store.commit_document(tenant, *commit, now_ms()))?;
                self.record_success(state, &doc, outcome, chunks, size);
            }
        }
        Ok(())
    }

    fn record_success(
        &self,
        state: &RunState<'_>,
        doc: &cairn_types::Document,
        outcome: DocOutcome,
        chunks: usize,
        bytes: u64,
    ) {
        let source_of = |id: &cairn_types::DocumentId| {
            self.store
                .get_document(&doc.tenant, id)
                .map_or_else(|_| id.to_string(), |d| d.source)
        };
        {
            use std::sync::atomic::Ordering::Relaxed;
            let c = &self.ingest_counts;
            c.jobs_succeeded.fetch_add(1, Relaxed);
            c.chunks.fetch_add(chunks as u64, Relaxed);
            c.bytes.fetch_add(bytes, Relaxed);
            if matches!(outcome, DocOutcome::Added | DocOutcome::Updated) {
                c.documents.fetch_add(1, Relaxed);
            }
            let mut r = state.report();
            r.chunks_written += chunks;
            r.bytes_processed += bytes;
            match outcome {
                DocOutcome::Added => r.added += 1,
                DocOutcome::Updated => r.updated += 1,
                DocOutcome::Unchanged => r.touched += 1,
                DocOutcome::Skipped => r.skipped.push(Finding {
                    source: doc.source.clone(),
                    detail: skip_reason(&doc.quality).to_owned(),
                }),
            }
            let q = &doc.quality;
            if q.near_empty {
                r.near_empty.push(doc.source.clone());
            }
            if q.mostly_links {
                r.mostly_links.push(doc.source.clone());
            }
        }
        let q = &doc.quality;
        if let Some(of) = &q.duplicate_of {
            let detail = source_of(of);
            state.report().duplicates.push(Finding {
                source: doc.source.clone(),
                detail,
            });
        }
        if let Some(of) = &q.near_duplicate_of {
            let detail = source_of(of);
            state.report().near_duplicates.push(Finding {
                source: doc.source.clone(),
                detail,
            });
        }
        state.sink.event(&ProgressEvent::Done {
            source: doc.source.clone(),
            outcome,
            chunks,
            bytes,
        });
    }

    fn record_failure(&self, state: &RunState<'_>, job: &Job, path: &str, e: &Error) {
        self.ingest_counts
            .jobs_failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let retry_at = (e.code.is_retryable() && job.attempts < job.max_attempts)
            .then(|| now_ms() + self.backoff_ms(job.attempts));
        let message = e.message.clone();
        let new_state = match self.store.fail_job(
            &job.tenant,
            &job.id,
            e.code,
            &message,
            retry_at,
            now_ms(),
        ) {
            Ok(s) => s,
            Err(err) => {
                tracing::error!(job = %job.id, error = %err, "cannot record job failure; the lease will expire and it will run again");
                JobState::Running
            }
        };
        let will_retry = new_state == JobState::Queued;
        if new_state == JobState::Dead {
            state.report().failed.push(Finding {
                source: path.to_owned(),
                detail: format!("{}: {message}", e.code),
            });
        }
        state.sink.event(&ProgressEvent::Failed {
            source: path.to_owned(),
            code: e.code,
            message,
            will_retry,
        });
    }

    /// Exponential backoff with jitter: base · 2^(attempt-1), capped, plus up to 25 %.
    fn backoff_ms(&self, attempt: u32) -> i64 {
        let entropy = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let i = &self.config.ingest;
        let delay = backoff_delay_ms(i.backoff_base_ms, i.backoff_max_ms, attempt, entropy);
        i64::try_from(delay).unwrap_or(i64::MAX)
    }
}

/// base · 2^(attempt-1), capped at `max`, plus a jitter of up to a quarter of that taken
/// from `entropy`, so workers that failed together do not retry together.
fn backoff_delay_ms(base: u64, max: u64, attempt: u32, entropy: u32) -> u64 {
    let exp = base.saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
    let capped = exp.min(max);
    capped + u64::from(entropy) % (capped / 4 + 1)
}

fn io_error(path: &str, e: &std::io::Error) -> Error {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorCode::NotFound,
        std::io::ErrorKind::PermissionDenied => ErrorCode::InvalidInput,
        _ => ErrorCode::Transient,
    };
    Error::new(code, format!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::backoff_delay_ms;

    #[test]
    fn backoff_doubles_caps_and_jitters_within_a_quarter() {
        assert_eq!(backoff_delay_ms(500, 60_000, 1, 0), 500);
        assert_eq!(backoff_delay_ms(500, 60_000, 2, 0), 1_000);
        assert_eq!(backoff_delay_ms(500, 60_000, 4, 0), 4_000);
        assert_eq!(backoff_delay_ms(500, 60_000, 30, 0), 60_000);
        for entropy in [1, 77, 999, u32::MAX] {
            let d = backoff_delay_ms(500, 60_000, 3, entropy);
            assert!((2_000..=2_500).contains(&d), "{d}");
        }
        assert_ne!(
            backoff_delay_ms(500, 60_000, 3, 7),
            backoff_delay_ms(500, 60_000, 3, 8)
        );
    }
}
