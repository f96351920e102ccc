//! `cairn worker [--threads N]`: runs ingest jobs of every tenant from the shared store
//! until SIGTERM or Ctrl-C, then finishes the jobs in flight and exits. Start as many as
//! the load needs, on any host that sees the ingested files at the paths the jobs name
//! (`cairn ingest --no-wait` enqueues without running). Each finished document is one
//! log line at `CAIRN_LOG=info` (target `cairn::worker`), with a summary every minute.

use super::Context;
use cairn_engine::{ProgressEvent, ProgressSink};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(clap::Args)]
pub struct Args {
    /// Worker threads (default: ingest.workers).
    #[arg(long)]
    threads: Option<usize>,
}

/// Each document done or failed as one log line (also the sink of `cairn serve`'s ingest
/// workers).
pub(super) struct LogProgress;

impl ProgressSink for LogProgress {
    fn event(&self, event: &ProgressEvent) {
        match event {
            ProgressEvent::Done {
                source,
                outcome,
                chunks,
                ..
            } => {
                tracing::info!(target: "cairn::worker", %source, ?outcome, chunks, "document done")
            }
            ProgressEvent::Failed {
                source,
                code,
                message,
                will_retry,
            } => tracing::warn!(
                target: "cairn::worker",
                %source, %code, %message, will_retry, "document failed"
            ),
            ProgressEvent::Planned { .. } | ProgressEvent::Removed { .. } => {}
        }
    }
}

/// Sets `stop` on SIGTERM or SIGINT (on a thread of its own).
fn stop_on_signal(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("cairn-signals".into())
        .spawn(move || {
            runtime.block_on(async {
                let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                else {
                    tracing::error!("cannot listen for SIGTERM");
                    return;
                };
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                tracing::info!(target: "cairn::worker", "stopping: finishing the jobs in flight");
                stop.store(true, Ordering::SeqCst);
            });
        })?;
    Ok(())
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    // Each job attempt is a trace, kept and exported as `[telemetry]` says.
    let telemetry = cairn_server::request_trace::telemetry(&ctx.loaded.config)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(t) = &telemetry {
        engine.set_trace_sink(t.sink());
    }
    // Fail at start, not on the first job, when the embedder or tokenizer is missing.
    engine.token_counter().map_err(super::eng)?;
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signal(stop.clone())?;
    let threads = a.threads.unwrap_or(ctx.loaded.config.ingest.workers).max(1);
    outln!("cairn worker: running ingest jobs with {threads} threads (SIGTERM stops)");
    engine.serve_jobs(threads, &stop, &LogProgress);
    if let Some(t) = telemetry {
        t.stop();
    }
    Ok(ExitCode::SUCCESS)
}
