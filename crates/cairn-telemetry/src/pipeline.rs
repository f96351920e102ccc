//! From finished traces to storage and export, off the request path.
//!
//! A request hands its finished trace to a bounded queue and moves on (a full queue
//! drops the trace and counts it; it never blocks). One writer thread decides what to
//! keep — every error, every slow request, every flagged answer, and the rest at
//! `sample_rate` (by trace id, so a trace is kept or not as a whole) — writes kept
//! traces in batches to the [`TraceStore`], hands them to the OTLP exporter's own
//! queue, and sweeps the store (retention, size cap) once a minute. Traces it did not
//! keep wait in a short ring so negative feedback arriving later can still keep them.

use crate::layer::Sink;
use crate::otlp::{Exporter, OtlpSettings};
use crate::span::CompletedTrace;
use crate::store::{Score, StoreError, TraceStore};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How traces are kept and exported.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The trace store's file; `None`: traces are not stored (export only).
    pub store_path: Option<PathBuf>,
    /// Share of ordinary traces kept (0 to 1); errors, slow and flagged ones always.
    pub sample_rate: f64,
    /// A request at least this slow is always kept.
    pub slow_ms: f64,
    pub retention_days: u32,
    /// The store's size cap (bytes of span data).
    pub max_store_bytes: u64,
    /// Finished traces waiting for the writer; more are dropped (and counted).
    pub queue: usize,
    pub otlp: Option<OtlpSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            store_path: None,
            sample_rate: 1.0,
            slow_ms: 5_000.0,
            retention_days: 7,
            max_store_bytes: 256 << 20,
            queue: 4_096,
            otlp: None,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Traces dropped because the writer's queue was full.
    pub dropped: AtomicU64,
    /// Traces kept (stored and/or exported).
    pub kept: AtomicU64,
    /// Traces not kept by sampling.
    pub sampled_out: AtomicU64,
    /// Store writes that failed.
    pub store_errors: AtomicU64,
    /// Spans the collector accepted.
    pub exported_spans: AtomicU64,
    /// Traces dropped because the exporter's queue was full (collector slow or down).
    pub export_dropped: AtomicU64,
    /// Spans in export batches the collector refused or never got.
    pub export_failed_spans: AtomicU64,
}

enum Msg {
    Trace(CompletedTrace),
    Score {
        tenant: String,
        trace_id: u128,
        score: Score,
    },
    Flush(SyncSender<()>),
    Stop,
}

struct Queue {
    tx: SyncSender<Msg>,
    stats: Arc<Stats>,
}

impl Sink for Queue {
    fn complete(&self, trace: CompletedTrace) {
        match self.tx.try_send(Msg::Trace(trace)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The running pipeline.
pub struct Telemetry {
    queue: Arc<Queue>,
    store: Option<Arc<TraceStore>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The writer, to wake for a flush, a score or stop.
    wake: std::thread::Thread,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Whether an ordinary trace is in the sample: decided by a hash of its id (a UUIDv7's
/// bits are not uniform: a timestamp, a version and a variant), so the whole trace is
/// kept or not, the same way on every replica.
pub fn in_sample(trace_id: u128, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    // splitmix64 over both halves.
    let mut x = (trace_id as u64) ^ ((trace_id >> 64) as u64).rotate_left(32);
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x as f64) / (u64::MAX as f64) < rate
}

/// Lowers the calling thread's scheduling priority (nice 10): keeping and exporting
/// traces yields the CPU to requests.
pub(crate) fn background_priority() {
    let tid = rustix::thread::gettid();
    let _ = rustix::process::setpriority_process(Some(tid), 10);
}

/// Why `trace` is kept, or `None`.
pub fn keep_reason(trace: &CompletedTrace, settings: &Settings) -> Option<&'static str> {
    if trace.is_error() {
        Some("error")
    } else if trace.is_flagged() {
        Some("flagged")
    } else if trace.duration_ms() >= settings.slow_ms {
        Some("slow")
    } else if in_sample(trace.trace_id, settings.sample_rate) {
        Some("sampled")
    } else {
        None
    }
}

impl Telemetry {
    /// Opens the store (if any), starts the exporter (if configured) and the writer.
    pub fn start(settings: Settings) -> Result<Self, StoreError> {
        let store = match &settings.store_path {
            Some(p) => Some(Arc::new(TraceStore::open(p)?)),
            None => None,
        };
        let stats = Arc::new(Stats::default());
        let (tx, rx) = sync_channel(settings.queue.max(1));
        let exporter = settings
            .otlp
            .clone()
            .map(|o| Exporter::start(o, stats.clone()));
        let writer = Writer {
            rx,
            store: store.clone(),
            exporter,
            settings,
            stats: stats.clone(),
            pending: Vec::new(),
            passed: VecDeque::new(),
        };
        let handle = std::thread::Builder::new()
            .name("cairn-traces".into())
            .spawn(move || writer.run())?;
        Ok(Self {
            queue: Arc::new(Queue { tx, stats }),
            store,
            wake: handle.thread().clone(),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Where request traces go.
    pub fn sink(&self) -> Arc<dyn Sink> {
        self.queue.clone()
    }

    /// The trace store, when traces are stored.
    pub fn store(&self) -> Option<&Arc<TraceStore>> {
        self.store.as_ref()
    }

    pub fn stats(&self) -> &Stats {
        &self.queue.stats
    }

    /// Waits (up to `limit`) until every trace finished so far is written.
    pub fn flush(&self, limit: Duration) {
        let (ack, done) = sync_channel(1);
        if self.queue.tx.send(Msg::Flush(ack)).is_ok() {
            self.wake.unpark();
            let _ = done.recv_timeout(limit);
        }
    }

    /// Attaches a score to a trace of `tenant` (after any queued write of it). A
    /// negative score keeps a recent trace that sampling had passed over.
    pub fn score(&self, tenant: &str, trace_id: u128, score: Score) {
        let _ = self.queue.tx.try_send(Msg::Score {
            tenant: tenant.to_owned(),
            trace_id,
            score,
        });
        self.wake.unpark();
    }

    /// Writes what is queued and stops the writer (and the exporter, after one last
    /// batch).
    pub fn stop(&self) {
        let _ = self.queue.tx.send(Msg::Stop);
        self.wake.unpark();
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// The root's `cairn.score.<name>` attributes: (name, value).
fn online_scores(trace: &CompletedTrace) -> Vec<(String, f64)> {
    let Some(root) = trace.root() else {
        return Vec::new();
    };
    root.attributes
        .iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix("cairn.score.")?;
            let value = match value {
                crate::AttrValue::Float(v) => *v,
                crate::AttrValue::Int(v) => *v as f64,
                _ => return None,
            };
            Some((name.to_owned(), value))
        })
        .collect()
}

/// Recent traces sampling did not keep, for feedback to resurrect.
const PASSED_KEPT: usize = 512;
/// Traces written per transaction at most.
const BATCH: usize = 128;

struct Writer {
    rx: Receiver<Msg>,
    store: Option<Arc<TraceStore>>,
    exporter: Option<Exporter>,
    settings: Settings,
    stats: Arc<Stats>,
    pending: Vec<(CompletedTrace, &'static str)>,
    passed: VecDeque<CompletedTrace>,
}

impl Writer {
    /// Wakes every 200 ms (or when unparked by a flush, a score or stop) and takes
    /// everything queued at once: a request's hand-off never wakes this thread.
    fn run(mut self) {
        background_priority();
        let mut last_sweep: Option<Instant> = None;
        loop {
            if last_sweep.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                self.sweep();
                last_sweep = Some(Instant::now());
            }
            std::thread::park_timeout(Duration::from_millis(200));
            loop {
                match self.rx.try_recv() {
                    Ok(Msg::Trace(t)) => {
                        self.take(t);
                        if self.pending.len() >= BATCH {
                            self.write();
                        }
                    }
                    Ok(Msg::Score {
                        tenant,
                        trace_id,
                        score,
                    }) => {
                        self.write();
                        self.scored(&tenant, trace_id, &score);
                    }
                    Ok(Msg::Flush(ack)) => {
                        self.write();
                        let _ = ack.try_send(());
                    }
                    Ok(Msg::Stop) | Err(TryRecvError::Disconnected) => {
                        self.write();
                        if let Some(e) = self.exporter.take() {
                            e.stop();
                        }
                        return;
                    }
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.write();
        }
    }

    fn take(&mut self, trace: CompletedTrace) {
        match keep_reason(&trace, &self.settings) {
            Some(reason) => self.pending.push((trace, reason)),
            None => {
                self.stats.sampled_out.fetch_add(1, Ordering::Relaxed);
                if self.passed.len() >= PASSED_KEPT {
                    self.passed.pop_front();
                }
                self.passed.push_back(trace);
            }
        }
    }

    fn write(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        self.stats
            .kept
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if let Some(store) = &self.store {
            // A trace without a tenant (refused before authentication) has no reader.
            let owned: Vec<(&CompletedTrace, &str)> = batch
                .iter()
                .filter(|(t, _)| !t.tenant().is_empty())
                .map(|(t, k)| (t, *k))
                .collect();
            if !owned.is_empty()
                && let Err(e) = store.write(&owned)
            {
                self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(target: "cairn::telemetry", error = %e, "traces not stored");
            }
            // Scores the request recorded on its root (`cairn.score.<name>`, e.g. the
            // grounding check's), stored as the trace's scores.
            for (t, _) in &owned {
                let source = t
                    .root()
                    .and_then(|r| r.attr("cairn.score_source"))
                    .map_or_else(|| "online".to_owned(), |v| v.text());
                for (name, value) in online_scores(t) {
                    let score = Score {
                        name,
                        value,
                        comment: None,
                        source: source.clone(),
                    };
                    if let Err(e) = store.add_score(&t.tenant(), t.trace_id, &score, now_ms()) {
                        self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(target: "cairn::telemetry", error = %e, "score not stored");
                    }
                }
            }
        }
        if let Some(exporter) = &self.exporter {
            for (t, _) in batch {
                exporter.send(t);
            }
        }
    }

    fn scored(&mut self, tenant: &str, trace_id: u128, score: &Score) {
        if score.value < 0.0
            && let Some(i) = self
                .passed
                .iter()
                .position(|t| t.trace_id == trace_id && t.tenant() == tenant)
            && let Some(t) = self.passed.remove(i)
        {
            self.pending.push((t, "feedback"));
            self.write();
        }
        if let Some(store) = &self.store
            && let Err(e) = store.add_score(tenant, trace_id, score, now_ms())
        {
            self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(target: "cairn::telemetry", error = %e, "score not stored");
        }
    }

    fn sweep(&self) {
        let Some(store) = &self.store else { return };
        let cutoff = now_ms() - i64::from(self.settings.retention_days) * 86_400_000;
        if let Err(e) = store.sweep(cutoff, self.settings.max_store_bytes) {
            tracing::warn!(target: "cairn::telemetry", error = %e, "trace sweep failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::in_sample;

    #[test]
    fn sampling_keeps_about_the_rate_of_uuidv7_traces() {
        let ids: Vec<u128> = (0..20_000)
            .map(|_| uuid::Uuid::now_v7().as_u128())
            .collect();
        for rate in [0.01, 0.1, 0.5, 0.9] {
            let kept = ids.iter().filter(|id| in_sample(**id, rate)).count() as f64;
            let share = kept / ids.len() as f64;
            assert!((share - rate).abs() < 0.02, "rate {rate}: kept {share}");
        }
        assert!(ids.iter().all(|id| in_sample(*id, 1.0)));
        assert!(!ids.iter().any(|id| in_sample(*id, 0.0)));
    }
}
