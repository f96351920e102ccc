//! The background executor of `cairn serve`: every second it claims runs no one is
//! executing (queued after an approval or an asynchronous start, or running under a
//! holder that died or whose lease expired) and drives each on its own thread, at most
//! `slots` at once. Claims skip rows other servers hold, so several servers share the
//! queue.

use crate::exec::{LEASE_MS, now_ms};
use crate::run::Runtime;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How often the executor looks for runs.
const POLL: Duration = Duration::from_secs(1);

/// Claims and drives runs until `stop` is set.
pub fn serve(runtime: Arc<Runtime>, slots: usize, stop: Arc<AtomicBool>) {
    let busy = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let free = slots.saturating_sub(busy.load(Ordering::Relaxed));
        if free > 0
            && let Err(e) = claim_and_spawn(&runtime, free, &busy)
        {
            tracing::warn!(error = %e, "agent executor: claiming runs failed");
        }
        std::thread::sleep(POLL);
    }
}

fn claim_and_spawn(
    runtime: &Arc<Runtime>,
    free: usize,
    busy: &Arc<AtomicUsize>,
) -> crate::Result<()> {
    let store = runtime.engine().store();
    let dead: Vec<String> = store
        .agent_run_holders()?
        .into_iter()
        .filter(|h| h != runtime.holder() && cairn_engine::ingest::holder_is_dead(h))
        .collect();
    let runs = store.claim_agent_runs(runtime.holder(), &dead, now_ms(), LEASE_MS, free)?;
    for run in runs {
        busy.fetch_add(1, Ordering::Relaxed);
        let (rt, held) = (runtime.clone(), busy.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("agent-{}", run.id))
            .spawn(move || {
                let id = run.id.clone();
                tracing::info!(run = %id, agent = %run.agent, "agent executor: driving a run");
                if let Err(e) = rt.drive(run, &mut |_| {}) {
                    tracing::warn!(run = %id, error = %e, "agent executor: the run could not be driven");
                }
                held.fetch_sub(1, Ordering::Relaxed);
            });
        if let Err(e) = spawned {
            busy.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "agent executor: no thread for a run");
        }
    }
    Ok(())
}
