//! `cairn worker`: a long-running process that claims ingest jobs of every tenant from
//! the shared store and runs them, until it is told to stop. Several workers (on several
//! hosts, sharing the files' paths) drain one queue: claims never hand one job to two
//! workers, leases are renewed while a job runs, and the jobs of a worker that died are
//! put back (at once for a dead process on this host, at lease expiry elsewhere) and run
//! by another. A commit is one transaction, so a job re-run after its worker was killed
//! leaves its document's chunks exactly once.
//!
//! Memory stays flat however long it runs: the totals are logged (target
//! `cairn::worker`) and reset every [`SUMMARY_EVERY`].

use super::worker::RunState;
use super::{IngestReport, ProgressSink};
use crate::Engine;
use crate::engine::now_ms;
use cairn_types::ErrorCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the running totals are summarized (and reset).
pub const SUMMARY_EVERY: Duration = Duration::from_secs(60);
/// How long an idle worker thread waits before it looks at the queue again.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// Logs the totals since the previous summary (nothing when idle).
fn log_summary(r: &IngestReport) {
    let failed = r.failed.len();
    let skipped = r.skipped.len();
    if r.added + r.updated + r.touched + failed + skipped == 0 {
        return;
    }
    tracing::info!(
        target: "cairn::worker",
        added = r.added,
        updated = r.updated,
        unchanged = r.touched,
        skipped,
        failed,
        chunks = r.chunks_written,
        "ingest jobs done"
    );
}

impl Engine {
    /// Runs ingest jobs of every tenant with `threads` worker threads until `stop` is set;
    /// jobs in flight then finish (their leases renewed meanwhile) before it returns.
    /// `sink` sees each document as it is done; the totals are logged now and then.
    pub fn serve_jobs(&self, threads: usize, stop: &AtomicBool, sink: &dyn ProgressSink) {
        let state = RunState::new(sink, IngestReport::default());
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads.max(1))
                .map(|_| s.spawn(|| self.claim_loop(&state, stop)))
                .collect();
            s.spawn(|| self.heartbeat_loop(&state, &done));
            s.spawn(|| {
                let mut last = Instant::now();
                while !done.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(200));
                    if last.elapsed() >= SUMMARY_EVERY {
                        last = Instant::now();
                        log_summary(&std::mem::take(&mut *state.report()));
                    }
                }
            });
            for w in workers {
                if w.join().is_err() {
                    tracing::error!("an ingest worker thread panicked");
                }
            }
            done.store(true, Ordering::SeqCst);
        });
        log_summary(&state.into_report());
    }

    /// One worker thread: claim any tenant's runnable job, run it; when there is none,
    /// put back dead workers' jobs now and then and wait a little.
    fn claim_loop(&self, state: &RunState<'_>, stop: &AtomicBool) {
        let lease = i64::try_from(self.config.ingest.lease_ms).unwrap_or(i64::MAX);
        let mut last_reclaim = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            match self.store.claim(&state.owner, lease, None, now_ms()) {
                Ok(Some(job)) => self.run_claimed(state, &job),
                Ok(None) => {
                    self.reclaim_now_and_then(&mut last_reclaim);
                    std::thread::sleep(IDLE_POLL);
                }
                Err(e) => {
                    // The store may be restarting or unreachable for a moment: a worker
                    // outlives that rather than exiting.
                    let wait = if e.code() == ErrorCode::Transient {
                        IDLE_POLL
                    } else {
                        tracing::error!(error = %e, "cannot claim jobs; retrying in 5 s");
                        Duration::from_secs(5)
                    };
                    std::thread::sleep(wait);
                }
            }
        }
    }
}
