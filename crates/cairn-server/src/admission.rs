//! Admission in front of each local model: at most `models.max_concurrent` generations
//! run at once, at most `models.max_queued` requests wait, and the rest are refused at
//! once with `503 overloaded` and a `Retry-After` estimated from recent generations.
//!
//! Waiting is fair between tenants: each tenant has its own line, and a freed slot goes
//! to the next tenant in round-robin order, so one tenant's burst cannot starve another.
//! Waiting is async (no blocking thread is held), and a request whose client disconnects
//! drops its future and leaves the line at once. A [`Permit`] is the right to run; it is
//! moved into the blocking work and frees its slot when dropped.

use crate::error::ApiError;
use cairn_types::{ErrorCode, TenantId};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How many recent waits the percentiles in `/readyz` are computed over.
const WAIT_SAMPLES: usize = 512;

/// One model's queue.
pub struct FairQueue {
    model: String,
    max_concurrent: usize,
    max_queued: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    running: usize,
    queued: usize,
    next_id: u64,
    /// Waiters per tenant, oldest first.
    lines: HashMap<String, VecDeque<Waiter>>,
    /// Tenants with someone waiting, in the order their turn comes.
    turn: VecDeque<String>,
    /// Recent waits in milliseconds (ring buffer).
    waits: VecDeque<u64>,
    /// Smoothed time a permit is held, in milliseconds.
    hold_ms: f64,
    admitted: u64,
    refused: u64,
}

struct Waiter {
    id: u64,
    tx: oneshot::Sender<Permit>,
}

/// The right to run one generation; frees its slot when dropped.
pub struct Permit {
    /// `None` once the slot was handed on (see [`FairQueue::release`]).
    queue: Option<Arc<FairQueue>>,
    since: Instant,
    /// How long this request waited for its slot.
    pub waited: Duration,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(queue) = self.queue.take() {
            queue.release(self.since.elapsed());
        }
    }
}

/// Removes a waiter from its line if its future is dropped before it got a slot.
struct LeaveOnDrop<'a> {
    queue: &'a Arc<FairQueue>,
    tenant: &'a str,
    id: u64,
    armed: bool,
}

impl Drop for LeaveOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.queue.leave(self.tenant, self.id);
        }
    }
}

impl FairQueue {
    pub fn new(model: impl Into<String>, max_concurrent: usize, max_queued: usize) -> Arc<Self> {
        Arc::new(Self {
            model: model.into(),
            max_concurrent: max_concurrent.max(1),
            max_queued,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a slot for `tenant`, or refuses at once when the queue is full.
    pub async fn admit(self: &Arc<Self>, tenant: &TenantId) -> Result<Permit, ApiError> {
        let start = Instant::now();
        let (rx, id) = {
            let mut st = self.lock();
            if st.running < self.max_concurrent && st.queued == 0 {
                st.running += 1;
                st.admitted += 1;
                record_wait(&mut st, 0);
                return Ok(self.permit(Duration::ZERO));
            }
            if st.queued >= self.max_queued {
                st.refused += 1;
                return Err(self.overloaded(&st));
            }
            let (tx, rx) = oneshot::channel();
            st.next_id += 1;
            let id = st.next_id;
            let line = st.lines.entry(tenant.as_str().to_owned()).or_default();
            let first = line.is_empty();
            line.push_back(Waiter { id, tx });
            if first {
                st.turn.push_back(tenant.as_str().to_owned());
            }
            st.queued += 1;
            (rx, id)
        };
        let mut leave = LeaveOnDrop {
            queue: self,
            tenant: tenant.as_str(),
            id,
            armed: true,
        };
        let got = rx.await;
        leave.armed = false;
        match got {
            Ok(mut permit) => {
                permit.waited = start.elapsed();
                let ms = u64::try_from(permit.waited.as_millis()).unwrap_or(u64::MAX);
                record_wait(&mut self.lock(), ms);
                Ok(permit)
            }
            // The sender is only dropped after the waiter was removed from its line,
            // which happens only through `leave` (never for a live waiter).
            Err(_) => Err(ApiError::new(
                ErrorCode::Internal,
                format!("the admission queue of `{}` lost a request", self.model),
            )),
        }
    }

    fn permit(self: &Arc<Self>, waited: Duration) -> Permit {
        Permit {
            queue: Some(self.clone()),
            since: Instant::now(),
            waited,
        }
    }

    fn overloaded(&self, st: &State) -> ApiError {
        // Everyone ahead has to be served, max_concurrent at a time.
        let ahead = (st.queued + st.running) as f64 / self.max_concurrent as f64;
        let secs = ((ahead * st.hold_ms.max(1_000.0)) / 1_000.0).ceil();
        let secs = (secs as u64).clamp(1, 600);
        ApiError::new(
            ErrorCode::Overloaded,
            format!(
                "model `{}` is busy: {} running, {} waiting (models.max_queued = {}); retry in {secs} s",
                self.model, st.running, st.queued, self.max_queued
            ),
        )
        .with_retry_after(secs)
    }

    /// A slot is free: hand it to the next tenant in turn, or give it back.
    fn release(self: &Arc<Self>, held: Duration) {
        let mut st = self.lock();
        let ms = held.as_secs_f64() * 1_000.0;
        st.hold_ms = if st.hold_ms == 0.0 {
            ms
        } else {
            0.8 * st.hold_ms + 0.2 * ms
        };
        loop {
            let Some(tenant) = st.turn.pop_front() else {
                st.running = st.running.saturating_sub(1);
                return;
            };
            let Some(line) = st.lines.get_mut(&tenant) else {
                continue;
            };
            let Some(waiter) = line.pop_front() else {
                st.lines.remove(&tenant);
                continue;
            };
            if line.is_empty() {
                st.lines.remove(&tenant);
            } else {
                st.turn.push_back(tenant);
            }
            st.queued = st.queued.saturating_sub(1);
            st.admitted += 1;
            let permit = Permit {
                queue: Some(self.clone()),
                since: Instant::now(),
                waited: Duration::ZERO,
            };
            // The slot moves to the waiter; `running` is unchanged.
            match waiter.tx.send(permit) {
                Ok(()) => return,
                Err(mut permit) => {
                    // Its future is gone (between leaving and our pop): the slot is
                    // still ours to hand on; disarm the permit so its drop does nothing.
                    permit.queue = None;
                }
            }
        }
    }

    /// A waiter's request is gone: take it out of its line.
    fn leave(&self, tenant: &str, id: u64) {
        let mut st = self.lock();
        let Some(line) = st.lines.get_mut(tenant) else {
            return;
        };
        let before = line.len();
        line.retain(|w| w.id != id);
        let removed = before - line.len();
        if line.is_empty() {
            st.lines.remove(tenant);
            st.turn.retain(|t| t != tenant);
        }
        st.queued = st.queued.saturating_sub(removed);
    }

    /// Depth, slots and recent waits, for `/readyz`.
    pub fn snapshot(&self) -> Value {
        let st = self.lock();
        let mut waits: Vec<u64> = st.waits.iter().copied().collect();
        waits.sort_unstable();
        let pct = |p: f64| -> u64 {
            if waits.is_empty() {
                return 0;
            }
            let i = ((waits.len() - 1) as f64 * p).round() as usize;
            waits[i.min(waits.len() - 1)]
        };
        json!({
            "model": self.model,
            "running": st.running,
            "queued": st.queued,
            "max_concurrent": self.max_concurrent,
            "max_queued": self.max_queued,
            "waiting_tenants": st.turn.len(),
            "wait_ms_p50": pct(0.5),
            "wait_ms_p99": pct(0.99),
            "wait_ms_max": waits.last().copied().unwrap_or(0),
            "admitted": st.admitted,
            "refused": st.refused,
        })
    }
}

/// The response header that tells a client how long its request waited for a
/// generation slot, in milliseconds.
pub const WAIT_HEADER: &str = "x-queue-wait-ms";

/// Adds [`WAIT_HEADER`] to a generation's response.
pub fn stamp_wait(mut res: axum::response::Response, waited: Duration) -> axum::response::Response {
    let ms = waited.as_millis().to_string();
    if let Ok(v) = axum::http::HeaderValue::from_str(&ms) {
        res.headers_mut().insert(WAIT_HEADER, v);
    }
    res
}

fn record_wait(st: &mut State, ms: u64) {
    if st.waits.len() == WAIT_SAMPLES {
        st.waits.pop_front();
    }
    st.waits.push_back(ms);
}

/// The queues of every local model, by model name.
#[derive(Default)]
pub struct Admission {
    queues: Mutex<HashMap<String, Arc<FairQueue>>>,
    max_concurrent: usize,
    max_queued: usize,
}

impl Admission {
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        Self {
            queues: Mutex::new(HashMap::new()),
            max_concurrent,
            max_queued,
        }
    }

    /// The queue of `model`.
    pub fn queue(&self, model: &str) -> Arc<FairQueue> {
        self.queue_of(model, self.max_concurrent)
    }

    /// The queue of `model`, created with `max_concurrent` slots when it is new.
    pub fn queue_of(&self, model: &str, max_concurrent: usize) -> Arc<FairQueue> {
        let mut q = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        q.entry(model.to_owned())
            .or_insert_with(|| FairQueue::new(model, max_concurrent, self.max_queued))
            .clone()
    }

    /// Waits for a slot on `model` for `tenant`.
    pub async fn admit(&self, model: &str, tenant: &TenantId) -> Result<Permit, ApiError> {
        self.queue(model).admit(tenant).await
    }

    /// Waits for a slot on `model`, whose queue has `max_concurrent` slots.
    pub async fn admit_with(
        &self,
        model: &str,
        max_concurrent: usize,
        tenant: &TenantId,
    ) -> Result<Permit, ApiError> {
        self.queue_of(model, max_concurrent).admit(tenant).await
    }

    /// Every queue's snapshot.
    pub fn snapshot(&self) -> Value {
        let q = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<Value> = q.values().map(|q| q.snapshot()).collect();
        list.sort_by(|a, b| a["model"].as_str().cmp(&b["model"].as_str()));
        Value::Array(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::new(s)
    }

    #[tokio::test]
    async fn refuses_past_the_queue_with_retry_after() {
        let q = FairQueue::new("m", 1, 1);
        let running = q.admit(&t("a")).await.unwrap();
        let q2 = q.clone();
        let waiting = tokio::spawn(async move { q2.admit(&t("a")).await.map(|p| p.waited) });
        tokio::task::yield_now().await;
        while q.snapshot()["queued"] != 1 {
            tokio::task::yield_now().await;
        }
        let err = q.admit(&t("b")).await.err().unwrap();
        assert_eq!(err.code, ErrorCode::Overloaded);
        assert!(err.retry_after.is_some_and(|s| s >= 1), "{err:?}");
        drop(running);
        assert!(waiting.await.unwrap().is_ok());
        assert_eq!(q.snapshot()["running"], 0);
        assert_eq!(q.snapshot()["refused"], 1);
    }

    #[tokio::test]
    async fn slots_go_round_robin_between_tenants() {
        let q = FairQueue::new("m", 1, 100);
        let first = q.admit(&t("a")).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Tenant a queues a burst of five, then b and c one each.
        for tenant in ["a", "a", "a", "a", "a", "b", "c"] {
            let (queue, order) = (q.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let p = queue.admit(&t(tenant)).await.unwrap();
                order.lock().unwrap().push(tenant);
                tokio::task::yield_now().await;
                drop(p);
            }));
            while q.snapshot()["queued"].as_u64().unwrap() < tasks.len() as u64 {
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order[..3], ["a", "b", "c"], "{order:?}");
        assert_eq!(q.snapshot()["running"], 0);
        assert_eq!(q.snapshot()["queued"], 0);
    }

    #[tokio::test]
    async fn a_dropped_waiter_leaves_the_queue_at_once() {
        let q = FairQueue::new("m", 1, 1);
        let running = q.admit(&t("a")).await.unwrap();
        let q2 = q.clone();
        let waiting = tokio::spawn(async move {
            let _ = q2.admit(&t("a")).await;
        });
        while q.snapshot()["queued"] != 1 {
            tokio::task::yield_now().await;
        }
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(q.snapshot()["queued"], 0, "the cancelled waiter left");
        // Its place is free for someone else while the slot is still taken.
        let q3 = q.clone();
        let next = tokio::spawn(async move { q3.admit(&t("b")).await.is_ok() });
        while q.snapshot()["queued"] != 1 {
            tokio::task::yield_now().await;
        }
        drop(running);
        assert!(next.await.unwrap());
        assert_eq!(q.snapshot()["running"], 0);
    }
}
