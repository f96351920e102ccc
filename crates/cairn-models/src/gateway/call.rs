//! One call to one remote target that is not a generation (a rerank, an embedding
//! batch), guarded like a route's target: refused at once while the target's breaker is
//! open or its `max_concurrent` slots are taken, retried with the target's policy, and
//! its outcome recorded on the breaker.

use super::{RetryPolicy, TargetHealth, classify, retry::Failure};
use crate::embed::{Embedder, Embeddings};
use crate::{Error, Result};
use std::sync::Arc;

/// An embedder whose every batch is a [`guarded_call`]: a remote embedder with its
/// target's retries and breaker.
pub struct GuardedEmbedder {
    name: String,
    inner: Arc<dyn Embedder>,
    health: Arc<TargetHealth>,
    policy: RetryPolicy,
}

impl GuardedEmbedder {
    /// `inner`, called as target `name`.
    pub fn new(
        name: &str,
        inner: Arc<dyn Embedder>,
        health: Arc<TargetHealth>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            name: name.to_owned(),
            inner,
            health,
            policy,
        }
    }
}

impl Embedder for GuardedEmbedder {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn max_tokens(&self) -> usize {
        self.inner.max_tokens()
    }

    fn embed(&self, texts: &[&str]) -> Result<Embeddings> {
        guarded_call(&self.name, &self.health, &self.policy, || {
            self.inner.embed(texts)
        })
    }
}

/// Runs `call` against the target `name` with `health` and `policy`.
pub fn guarded_call<T>(
    name: &str,
    health: &Arc<TargetHealth>,
    policy: &RetryPolicy,
    mut call: impl FnMut() -> Result<T>,
) -> Result<T> {
    if !health.breaker.allow() {
        return Err(Error::Unavailable(format!(
            "`{name}`: its circuit breaker is open after repeated failures"
        )));
    }
    let _slot = health
        .enter()
        .ok_or_else(|| Error::Unavailable(format!("`{name}` is at its max_concurrent requests")))?;
    let mut attempt = 0;
    loop {
        match call() {
            Ok(v) => {
                health.breaker.record(true);
                return Ok(v);
            }
            Err(e) => match policy.delay(attempt, &e) {
                Some(wait) => {
                    tracing::warn!(target = name, attempt, error = %e, "retrying");
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                None => {
                    if classify(&e) == Failure::Target {
                        health.breaker.record(false);
                    }
                    return Err(e);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::{BreakerSettings, BreakerState};
    use std::time::Duration;

    fn health() -> Arc<TargetHealth> {
        let settings = BreakerSettings {
            consecutive_failures: 2,
            error_rate: 1.0,
            window: 10,
            cooldown: Duration::from_secs(60),
        };
        Arc::new(TargetHealth::new(settings, 1))
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 1,
            base: Duration::from_millis(1),
            max: Duration::from_millis(5),
        }
    }

    fn down() -> Error {
        Error::Upstream {
            status: Some(503),
            message: "down".into(),
        }
    }

    #[test]
    fn retries_then_opens_the_breaker_and_refuses() {
        let h = health();
        let mut calls = 0;
        let r: Result<()> = guarded_call("r", &h, &policy(), || {
            calls += 1;
            Err(down())
        });
        assert!(r.is_err());
        assert_eq!(calls, 2, "one retry");
        let _ = guarded_call::<()>("r", &h, &policy(), || Err(down()));
        assert_eq!(h.breaker.state(), BreakerState::Open);
        let mut called = false;
        let r = guarded_call("r", &h, &policy(), || {
            called = true;
            Ok(1)
        });
        assert!(matches!(r, Err(Error::Unavailable(_))) && !called);
    }

    #[test]
    fn a_callers_error_is_neither_retried_nor_held_against_the_target() {
        let h = health();
        let mut calls = 0;
        for _ in 0..3 {
            let _ = guarded_call::<()>("r", &h, &policy(), || {
                calls += 1;
                Err(Error::Upstream {
                    status: Some(400),
                    message: "bad".into(),
                })
            });
        }
        assert_eq!(calls, 3);
        assert_eq!(h.breaker.state(), BreakerState::Closed);
        assert_eq!(guarded_call("r", &h, &policy(), || Ok(7)).unwrap(), 7);
    }
}
