//! A circuit breaker per target: closed (calls go through) until N consecutive failures
//! or an error rate over the last calls opens it; open (calls skip the target) for a
//! cooldown; then half-open: one probe goes through, and its outcome closes the breaker
//! or opens it again.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// When a breaker opens and how long it stays open.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerSettings {
    /// Consecutive failures that open it.
    pub consecutive_failures: u32,
    /// Failure share over the last `window` calls that opens it (once `window` calls
    /// were seen).
    pub error_rate: f32,
    /// Calls the error rate is measured over.
    pub window: usize,
    /// How long it stays open before a probe.
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            error_rate: 0.5,
            window: 20,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// A breaker's state, as reported in `/readyz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive: u32,
    recent: VecDeque<bool>,
    /// When it opened, or when the half-open probe went out.
    since: Instant,
    probe_out: bool,
}

/// One target's breaker; shared by every request to that target.
#[derive(Debug)]
pub struct CircuitBreaker {
    settings: BreakerSettings,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive: 0,
                recent: VecDeque::new(),
                since: Instant::now(),
                probe_out: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current state (an open breaker past its cooldown reads as half-open).
    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match inner.state {
            BreakerState::Open if inner.since.elapsed() >= self.settings.cooldown => {
                BreakerState::HalfOpen
            }
            s => s,
        }
    }

    /// Whether a call may go to the target now. In half-open, only one probe at a time
    /// (a probe whose outcome never came back is replaced after another cooldown).
    pub fn allow(&self) -> bool {
        let mut inner = self.lock();
        let now = Instant::now();
        match inner.state {
            BreakerState::Closed => true,
            BreakerState::Open => {
                if now.duration_since(inner.since) < self.settings.cooldown {
                    return false;
                }
                inner.state = BreakerState::HalfOpen;
                inner.probe_out = true;
                inner.since = now;
                true
            }
            BreakerState::HalfOpen => {
                if inner.probe_out && now.duration_since(inner.since) < self.settings.cooldown {
                    return false;
                }
                inner.probe_out = true;
                inner.since = now;
                true
            }
        }
    }

    /// Records a call's outcome.
    pub fn record(&self, ok: bool) {
        let mut inner = self.lock();
        let s = self.settings;
        match inner.state {
            BreakerState::HalfOpen | BreakerState::Open => {
                if ok {
                    inner.state = BreakerState::Closed;
                    inner.consecutive = 0;
                    inner.recent.clear();
                } else {
                    inner.state = BreakerState::Open;
                    inner.since = Instant::now();
                }
                inner.probe_out = false;
            }
            BreakerState::Closed => {
                inner.consecutive = if ok { 0 } else { inner.consecutive + 1 };
                inner.recent.push_back(ok);
                while inner.recent.len() > s.window {
                    inner.recent.pop_front();
                }
                let failures = inner.recent.iter().filter(|ok| !**ok).count();
                let rate_trips = inner.recent.len() >= s.window
                    && failures as f32 >= s.error_rate * inner.recent.len() as f32;
                if inner.consecutive >= s.consecutive_failures || rate_trips {
                    inner.state = BreakerState::Open;
                    inner.since = Instant::now();
                    inner.recent.clear();
                    inner.consecutive = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(cooldown_ms: u64) -> CircuitBreaker {
        CircuitBreaker::new(BreakerSettings {
            consecutive_failures: 3,
            error_rate: 0.5,
            window: 10,
            cooldown: Duration::from_millis(cooldown_ms),
        })
    }

    #[test]
    fn consecutive_failures_open_then_a_probe_closes_it() {
        let b = breaker(40);
        b.record(false);
        b.record(false);
        assert_eq!(b.state(), BreakerState::Closed);
        b.record(false);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.allow(), "one probe");
        assert!(!b.allow(), "only one probe at a time");
        b.record(true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow());
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let b = breaker(30);
        for _ in 0..3 {
            b.record(false);
        }
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        b.record(false);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
    }

    #[test]
    fn the_error_rate_over_the_window_opens_it() {
        let b = breaker(1000);
        for i in 0..10 {
            // Alternating: never 3 failures in a row, but half of the window fails.
            b.record(i % 2 == 0);
        }
        assert_eq!(b.state(), BreakerState::Open);
        let c = breaker(1000);
        for i in 0..10 {
            c.record(i % 3 != 0);
        }
        assert_eq!(c.state(), BreakerState::Closed, "4 of 10 is under the rate");
    }
}
