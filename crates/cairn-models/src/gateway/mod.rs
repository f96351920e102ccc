//! The model gateway's resilience layer: several generators behind one name (a route),
//! tried by a strategy, each call retried with backoff, each target guarded by its own
//! circuit breaker and concurrency limit. A route commits to a target once that target
//! produced its first event: until then any failure moves on to the next target; after
//! it, an error reaches the caller (text already sent is never replaced).

mod breaker;
mod call;
mod retry;

pub use breaker::{BreakerSettings, BreakerState, CircuitBreaker};
pub use call::{GuardedEmbedder, guarded_call};
pub use retry::{Failure, RetryPolicy, classify};

use crate::generate::{GenerateRequest, Generator, StreamEvent, TokenStream};
use crate::{Error, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Callers waiting for any target's slot to be given back, and how they are woken: a
/// counter of given-back slots under a lock, and its condition variable.
static SLOT_WAITERS: AtomicUsize = AtomicUsize::new(0);
static SLOTS_FREED: (Mutex<u64>, Condvar) = (Mutex::new(0), Condvar::new());

/// The given-back count now (read before trying targets, so no wake-up is missed).
fn slots_freed() -> u64 {
    *SLOTS_FREED.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits until a slot is given back after `seen`, or `deadline`.
fn wait_for_slot(seen: u64, deadline: Instant) {
    SLOT_WAITERS.fetch_add(1, Ordering::AcqRel);
    let (lock, freed) = &SLOTS_FREED;
    let mut count = lock.lock().unwrap_or_else(PoisonError::into_inner);
    while *count == seen {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        count = freed
            .wait_timeout(count, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    drop(count);
    SLOT_WAITERS.fetch_sub(1, Ordering::AcqRel);
}

/// The shared state of one target: its breaker and the requests in flight to it.
#[derive(Debug)]
pub struct TargetHealth {
    /// The target's circuit breaker.
    pub breaker: CircuitBreaker,
    in_flight: AtomicUsize,
    /// Requests in flight at once; 0: no limit.
    max_concurrent: usize,
}

impl TargetHealth {
    /// A healthy target.
    pub fn new(breaker: BreakerSettings, max_concurrent: usize) -> Self {
        Self {
            breaker: CircuitBreaker::new(breaker),
            in_flight: AtomicUsize::new(0),
            max_concurrent,
        }
    }

    /// Requests in flight now (streams not yet dropped).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Takes a slot, or `None` at the concurrency limit.
    pub fn enter(self: &Arc<Self>) -> Option<Slot> {
        let taken = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (self.max_concurrent == 0 || n < self.max_concurrent).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| Slot(self.clone()))
    }
}

/// A request's place at a target; given back when dropped.
#[derive(Debug)]
pub struct Slot(Arc<TargetHealth>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        if SLOT_WAITERS.load(Ordering::Acquire) > 0 {
            let (lock, freed) = &SLOTS_FREED;
            let mut count = lock.lock().unwrap_or_else(PoisonError::into_inner);
            *count = count.wrapping_add(1);
            freed.notify_all();
        }
    }
}

/// One model a route can send a request to.
#[derive(Clone)]
pub struct Target {
    /// Its registry name (reported as the model that answered).
    pub name: String,
    pub generator: Arc<dyn Generator>,
    pub health: Arc<TargetHealth>,
    pub retry: RetryPolicy,
}

/// Which target a route tries first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// The configured order.
    Fallback,
    /// The first choice rotates request by request.
    RoundRobin,
    /// Fewest requests in flight first (ties keep the configured order).
    LeastBusy,
}

/// Several targets behind one name.
pub struct RoutedGenerator {
    name: String,
    strategy: Strategy,
    targets: Vec<Target>,
    /// The rotation counter (shared by every request to the route).
    turn: Arc<AtomicUsize>,
    /// How long a request waits for a slot when every target is at its concurrency
    /// limit (and none failed), before it is refused.
    slot_wait: Duration,
}

/// What trying every target once came to, when none answered.
struct NoneAnswered {
    /// Each target and why it was passed over.
    tried: Vec<String>,
    /// Whether every target was passed over only for being at its concurrency limit.
    all_busy: bool,
}

impl RoutedGenerator {
    /// A route over `targets` (at least one); `turn` is the route's shared rotation.
    pub fn new(
        name: &str,
        strategy: Strategy,
        targets: Vec<Target>,
        turn: Arc<AtomicUsize>,
    ) -> Result<Self> {
        if targets.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "route `{name}` has no target"
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            strategy,
            targets,
            turn,
            slot_wait: Duration::ZERO,
        })
    }

    /// Requests wait up to `wait` for a slot when every target is at its concurrency
    /// limit (several routes, or a route and direct calls, share a target, so the
    /// admission queue in front of each cannot see all of its load); without it they
    /// are refused at once.
    pub fn with_slot_wait(mut self, wait: Duration) -> Self {
        self.slot_wait = wait;
        self
    }

    /// The order the targets are tried in for the next request.
    fn order(&self) -> Vec<usize> {
        let n = self.targets.len();
        let mut order: Vec<usize> = (0..n).collect();
        match self.strategy {
            Strategy::Fallback => {}
            Strategy::RoundRobin => {
                let first = self.turn.fetch_add(1, Ordering::Relaxed) % n;
                order.rotate_left(first);
            }
            Strategy::LeastBusy => order.sort_by_key(|&i| self.targets[i].health.in_flight()),
        }
        order
    }
}

/// Calls `target` (with its retries) until it yields a first event.
fn first_event(target: &Target, request: &GenerateRequest) -> Result<(StreamEvent, TokenStream)> {
    let mut attempt = 0;
    loop {
        let result = target
            .generator
            .generate(request.clone())
            .and_then(|mut stream| match stream.next() {
                Some(Ok(event)) => Ok((event, stream)),
                Some(Err(e)) => Err(e),
                None => Err(Error::Upstream {
                    status: None,
                    message: "the stream ended before any event".into(),
                }),
            });
        let e = match result {
            Ok(first) => {
                target.health.breaker.record(true);
                return Ok(first);
            }
            Err(e) => e,
        };
        if classify(&e) == Failure::Caller {
            return Err(e);
        }
        target.health.breaker.record(false);
        match target.retry.delay(attempt, &e) {
            Some(wait) if target.health.breaker.state() == BreakerState::Closed => {
                tracing::debug!(target = %target.name, attempt, ?wait, error = %e, "retrying");
                std::thread::sleep(wait);
                attempt += 1;
            }
            _ => return Err(e),
        }
    }
}

impl Generator for RoutedGenerator {
    fn model_id(&self) -> &str {
        &self.name
    }

    /// The smallest window of its targets, so a prompt fitted to it fits any of them.
    fn context_length(&self) -> usize {
        self.targets
            .iter()
            .map(|t| t.generator.context_length())
            .min()
            .unwrap_or(0)
    }

    fn generate(&self, request: GenerateRequest) -> Result<TokenStream> {
        let deadline = Instant::now() + self.slot_wait;
        loop {
            let seen = slots_freed();
            let none = match self.try_targets(&request)? {
                Ok(stream) => return Ok(stream),
                Err(none) => none,
            };
            if none.all_busy && Instant::now() < deadline {
                wait_for_slot(seen, deadline);
                continue;
            }
            return Err(Error::Unavailable(format!(
                "no model of route `{}` could answer ({})",
                self.name,
                none.tried.join("; ")
            )));
        }
    }
}

impl RoutedGenerator {
    /// Each target once, in this request's order: the committed stream, why none
    /// answered, or the caller's own error (not a reason to try another target).
    fn try_targets(
        &self,
        request: &GenerateRequest,
    ) -> Result<std::result::Result<TokenStream, NoneAnswered>> {
        let mut none = NoneAnswered {
            tried: Vec::new(),
            all_busy: true,
        };
        for i in self.order() {
            let target = &self.targets[i];
            if !target.health.breaker.allow() {
                none.tried.push(format!("{}: circuit open", target.name));
                none.all_busy = false;
                continue;
            }
            let Some(slot) = target.health.enter() else {
                none.tried
                    .push(format!("{}: at its concurrency limit", target.name));
                continue;
            };
            match first_event(target, request) {
                Ok((first, rest)) => {
                    return Ok(Ok(Box::new(Committed {
                        first: Some(first),
                        rest,
                        target: target.clone(),
                        _slot: slot,
                    })));
                }
                Err(e @ (Error::InvalidRequest(_) | Error::Upstream { .. }))
                    if classify(&e) == Failure::Caller =>
                {
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(route = %self.name, target = %target.name, error = %e,
                        "route target failed; trying the next");
                    none.tried.push(format!("{}: {e}", target.name));
                    none.all_busy = false;
                }
            }
        }
        Ok(Err(none))
    }
}

/// A stream committed to one target.
struct Committed {
    first: Option<StreamEvent>,
    rest: TokenStream,
    target: Target,
    _slot: Slot,
}

impl Committed {
    fn named(&self, event: StreamEvent) -> StreamEvent {
        match event {
            StreamEvent::Done(mut finish) => {
                finish.model.get_or_insert_with(|| self.target.name.clone());
                StreamEvent::Done(finish)
            }
            e => e,
        }
    }
}

impl Iterator for Committed {
    type Item = Result<StreamEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        let event = match self.first.take() {
            Some(first) => Ok(first),
            None => self.rest.next()?,
        };
        Some(match event {
            Ok(e) => Ok(self.named(e)),
            Err(e) => {
                self.target.health.breaker.record(false);
                Err(e)
            }
        })
    }
}
