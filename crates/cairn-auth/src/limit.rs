//! Rate limiting with token buckets, behind a trait so a shared (Redis) implementation
//! can replace the in-process one without touching callers.
//!
//! A bucket holds up to `capacity` tokens ([`Rate::capacity`]) and refills continuously
//! at `per_minute / 60` tokens per second. Requests [`RateLimiter::acquire`] one or more
//! buckets at once (per key, per tenant, per tenant's token budget, ...) all-or-nothing,
//! so a request limited by one bucket does not drain the others. Work whose size is only
//! known afterwards (generated tokens) is [`RateLimiter::charge`]d later; that may push a
//! bucket below zero, and a bucket in debt refuses further requests until it refills.
//!
//! A bucket that has refilled to capacity is indistinguishable from one never used, so
//! [`MemoryLimiter`] drops such buckets during periodic sweeps: memory is bounded by the
//! number of keys active within one refill period, not by every key ever seen.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Tolerance for float comparisons of bucket levels.
const EPSILON: f64 = 1e-9;
/// The shortest retry hint handed out (a zero `Retry-After` invites a hot loop).
const MIN_RETRY_SECS: f64 = 0.001;
/// The longest retry hint handed out (one year), so huge debts cannot overflow.
const MAX_RETRY_SECS: f64 = 365.0 * 24.0 * 3600.0;
/// How long a request against an unusable rate (zero, negative, NaN) is told to wait.
const DENIED_RETRY: Duration = Duration::from_secs(60);
/// Sweep full buckets at least every this many operations...
const SWEEP_EVERY_OPS: u64 = 4096;
/// ...or whenever the map has doubled past this size since the last sweep.
const SWEEP_MIN_LEN: usize = 1024;

/// A bucket's shape: sustained rate and burst capacity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Sustained tokens per minute. Zero, negative or non-finite denies everything
    /// (to leave something unlimited, do not ask its bucket at all).
    pub per_minute: f64,
    /// Capacity; `0` (or less) means "same as `per_minute`".
    pub burst: f64,
}

impl Rate {
    /// `n` per minute with a burst of `n`.
    pub fn per_minute(n: f64) -> Rate {
        Rate {
            per_minute: n,
            burst: 0.0,
        }
    }

    /// This rate with another burst capacity.
    pub fn with_burst(self, burst: f64) -> Rate {
        Rate { burst, ..self }
    }

    /// The bucket's capacity: `burst` when positive, else `per_minute`.
    pub fn capacity(self) -> f64 {
        if self.burst > 0.0 {
            self.burst
        } else {
            self.per_minute
        }
    }

    /// Refill speed in tokens per second.
    pub fn per_second(self) -> f64 {
        self.per_minute / 60.0
    }

    /// Whether the rate can ever admit anything.
    pub fn is_usable(self) -> bool {
        let cap = self.capacity();
        self.per_minute.is_finite() && self.per_minute > 0.0 && cap.is_finite() && cap > 0.0
    }
}

/// One bucket a request needs tokens from.
#[derive(Clone, Debug, PartialEq)]
pub struct Ask {
    /// The bucket's identity, e.g. `"key:<id>"` or `"tenant:acme:tokens"`.
    pub key: String,
    /// The bucket's shape. A bucket's shape is whatever the latest caller says.
    pub rate: Rate,
    /// Tokens to take. `0` admits when the bucket is not in debt.
    pub cost: f64,
}

impl Ask {
    /// Shorthand constructor.
    pub fn new(key: impl Into<String>, rate: Rate, cost: f64) -> Ask {
        Ask {
            key: key.into(),
            rate,
            cost,
        }
    }
}

/// The outcome of [`RateLimiter::acquire`].
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every bucket had the tokens; they were taken.
    Allowed,
    /// Nothing was taken. `key` is the bucket that needs the longest wait.
    Limited {
        /// When the request would be admitted, if nothing else takes tokens meanwhile.
        retry_after: Duration,
        /// The limiting bucket.
        key: String,
    },
}

impl Verdict {
    /// Whether the request was admitted.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed)
    }

    /// `retry_after` rounded up to whole seconds (for a `Retry-After` header); `None`
    /// when allowed.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Verdict::Allowed => None,
            Verdict::Limited { retry_after, .. } => {
                Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0))
            }
        }
    }
}

/// A store of token buckets.
pub trait RateLimiter: Send + Sync {
    /// All-or-nothing: takes `cost` from every bucket if every bucket has it; otherwise
    /// takes nothing and says how long until the fullest-deficit bucket would allow it.
    /// cost 0 means "admit if the bucket is not in debt (level > 0)". A cost larger than
    /// the capacity is admitted only when the bucket is full (so it cannot wait forever).
    /// Several asks on the same key are summed.
    fn acquire(&self, asks: &[Ask]) -> Verdict;

    /// Charges after the fact (tokens actually used); the bucket may go into debt,
    /// which delays later requests. A negative cost refunds (up to capacity).
    fn charge(&self, key: &str, rate: Rate, cost: f64);

    /// Level (for headers like x-ratelimit-remaining); None if unknown (a backend
    /// that cannot be reached). A key never seen, or swept, is full: `Some(capacity)`.
    fn remaining(&self, key: &str, rate: Rate) -> Option<f64>;
}

/// A clock, injectable for tests.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    level: f64,
    updated: Instant,
    rate: Rate,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            level: rate.capacity(),
            updated: now,
            rate,
        }
    }

    /// The level at `now` under `rate`, without changing the bucket.
    fn level_at(&self, now: Instant, rate: Rate) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.level + elapsed * rate.per_second()).min(rate.capacity())
    }

    fn refill(&mut self, now: Instant, rate: Rate) {
        self.level = self.level_at(now, rate);
        if now > self.updated {
            self.updated = now;
        }
        self.rate = rate;
    }

    fn is_full(&self, now: Instant) -> bool {
        !self.rate.is_usable() || self.level_at(now, self.rate) >= self.rate.capacity() - EPSILON
    }
}

#[derive(Default)]
struct State {
    buckets: HashMap<String, Bucket>,
    ops_since_sweep: u64,
    len_after_sweep: usize,
}

impl State {
    fn level(&self, key: &str, rate: Rate, now: Instant) -> f64 {
        self.buckets
            .get(key)
            .map_or(rate.capacity(), |b| b.level_at(now, rate))
    }

    fn bucket(&mut self, key: &str, rate: Rate, now: Instant) -> &mut Bucket {
        let bucket = self
            .buckets
            .entry(key.to_owned())
            .or_insert_with(|| Bucket::full(rate, now));
        bucket.refill(now, rate);
        bucket
    }

    /// Drops buckets that are full again (equivalent to absent), now and then: after
    /// as many operations as there were buckets (at least `SWEEP_EVERY_OPS`), or when
    /// the map doubled. Either way a sweep's O(n) cost is amortized to O(1) per call.
    fn maybe_sweep(&mut self, now: Instant) {
        self.ops_since_sweep += 1;
        let due = self.ops_since_sweep >= SWEEP_EVERY_OPS.max(self.len_after_sweep as u64);
        let grown = self.buckets.len() >= SWEEP_MIN_LEN.max(self.len_after_sweep * 2);
        if due || grown {
            self.sweep(now);
        }
    }

    fn sweep(&mut self, now: Instant) {
        self.buckets.retain(|_, b| !b.is_full(now));
        self.len_after_sweep = self.buckets.len();
        self.ops_since_sweep = 0;
    }
}

/// How long until a bucket at `level` admits `cost`, or `None` when it does now.
fn wait_for(level: f64, cost: f64, rate: Rate) -> Option<Duration> {
    if !rate.is_usable() {
        return Some(DENIED_RETRY);
    }
    let capacity = rate.capacity();
    let needed = if cost <= 0.0 {
        if level > EPSILON {
            return None;
        }
        0.0
    } else {
        let needed = cost.min(capacity);
        if level >= needed - EPSILON {
            return None;
        }
        needed
    };
    let secs = ((needed - level) / rate.per_second()).clamp(MIN_RETRY_SECS, MAX_RETRY_SECS);
    Some(Duration::from_secs_f64(secs))
}

/// Costs from callers: NaN and negatives mean 0, infinity means "a full bucket".
pub(crate) fn sanitize_cost(cost: f64, rate: Rate) -> f64 {
    if cost.is_nan() || cost <= 0.0 {
        0.0
    } else if cost.is_infinite() {
        rate.capacity()
    } else {
        cost
    }
}

/// In-process token buckets: a mutex around a map. Fine for one server process; use a
/// shared implementation when several processes must share limits.
pub struct MemoryLimiter {
    state: Mutex<State>,
    clock: Clock,
}

impl MemoryLimiter {
    /// A limiter on the real monotonic clock.
    pub fn new() -> MemoryLimiter {
        MemoryLimiter::with_clock(Arc::new(Instant::now))
    }

    /// A limiter on an injected clock (tests freeze and advance it).
    pub fn with_clock(clock: Clock) -> MemoryLimiter {
        MemoryLimiter {
            state: Mutex::new(State::default()),
            clock,
        }
    }

    /// Buckets currently held in memory (full buckets may already be dropped).
    pub fn len(&self) -> usize {
        self.lock().buckets.len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every bucket that has refilled to capacity; returns how many remain.
    pub fn sweep(&self) -> usize {
        let now = (self.clock)();
        let mut state = self.lock();
        state.sweep(now);
        state.buckets.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Bucket updates are single assignments of plain numbers: a panic elsewhere
        // while the lock was held cannot leave a bucket half-written.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        MemoryLimiter::new()
    }
}

impl fmt::Debug for MemoryLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLimiter")
            .field("buckets", &self.len())
            .finish_non_exhaustive()
    }
}

impl RateLimiter for MemoryLimiter {
    fn acquire(&self, asks: &[Ask]) -> Verdict {
        let now = (self.clock)();
        let mut state = self.lock();
        state.maybe_sweep(now);

        // Dry run on scratch levels, so repeated keys add up and nothing is taken
        // unless everything can be.
        let mut scratch: Vec<(&str, f64)> = Vec::with_capacity(asks.len());
        let mut worst: Option<(Duration, &str)> = None;
        for ask in asks {
            let cost = sanitize_cost(ask.cost, ask.rate);
            let level = match scratch.iter().find(|(k, _)| *k == ask.key) {
                Some((_, level)) => *level,
                None => state.level(&ask.key, ask.rate, now),
            };
            if let Some(wait) = wait_for(level, cost, ask.rate)
                && worst.is_none_or(|(w, _)| wait > w)
            {
                worst = Some((wait, ask.key.as_str()));
            }
            match scratch.iter_mut().find(|(k, _)| *k == ask.key) {
                Some((_, l)) => *l = level - cost,
                None => scratch.push((ask.key.as_str(), level - cost)),
            }
        }
        if let Some((retry_after, key)) = worst {
            return Verdict::Limited {
                retry_after,
                key: key.to_owned(),
            };
        }
        for ask in asks {
            let cost = sanitize_cost(ask.cost, ask.rate);
            state.bucket(&ask.key, ask.rate, now).level -= cost;
        }
        Verdict::Allowed
    }

    fn charge(&self, key: &str, rate: Rate, cost: f64) {
        if !cost.is_finite() || cost == 0.0 {
            return;
        }
        let now = (self.clock)();
        let mut state = self.lock();
        state.maybe_sweep(now);
        let bucket = state.bucket(key, rate, now);
        bucket.level = (bucket.level - cost).min(rate.capacity());
    }

    fn remaining(&self, key: &str, rate: Rate) -> Option<f64> {
        if !rate.is_usable() {
            return Some(0.0);
        }
        let now = (self.clock)();
        Some(self.lock().level(key, rate, now))
    }
}
