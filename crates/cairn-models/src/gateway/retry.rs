//! Which failures are worth another try, and how long to wait before it.

use crate::Error;
use std::time::Duration;

/// Retries of one call to one target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Tries after the first.
    pub max_retries: u32,
    /// The first wait; it doubles per retry, with jitter (50–100 % of it).
    pub base: Duration,
    /// The longest wait. A `Retry-After` longer than this is not waited for: the call
    /// moves on to the next target instead.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

/// How a failure counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The request itself is wrong (bad parameters, prompt too long, 4xx): no other
    /// try or target will do better; the caller gets the error.
    Caller,
    /// The target failed or is overloaded (connection, timeout, 429, 5xx, a broken
    /// stream): retry, then the next target; counts against its breaker.
    Target,
}

/// How `e` counts.
pub fn classify(e: &Error) -> Failure {
    match e {
        Error::InvalidRequest(_) | Error::ContextLength { .. } => Failure::Caller,
        Error::Upstream {
            status: Some(s), ..
        } if (400..500).contains(s) && *s != 408 && *s != 409 => Failure::Caller,
        _ => Failure::Target,
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based) after `e`, or `None` when `e`
    /// should not be retried on this target.
    pub fn delay(&self, attempt: u32, e: &Error) -> Option<Duration> {
        if attempt >= self.max_retries || classify(e) == Failure::Caller {
            return None;
        }
        if let Error::RateLimited {
            retry_after: Some(wait),
            ..
        } = e
        {
            return (*wait <= self.max).then_some(*wait);
        }
        if matches!(e, Error::Timeout(_)) {
            // A target that let one call time out is not retried: the next target is
            // the faster way to a first token.
            return None;
        }
        let full = self.base.saturating_mul(1 << attempt.min(16)).min(self.max);
        let jitter = 0.5 + 0.5 * rand::random::<f64>();
        Some(full.mul_f64(jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(status: Option<u16>) -> Error {
        Error::Upstream {
            status,
            message: String::new(),
        }
    }

    #[test]
    fn caller_errors_are_not_retried_and_server_errors_are() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, &upstream(Some(400))), None);
        assert_eq!(p.delay(0, &Error::InvalidRequest("x".into())), None);
        let d = p.delay(0, &upstream(Some(503))).unwrap();
        assert!(
            d >= Duration::from_millis(100) && d <= Duration::from_millis(200),
            "{d:?}"
        );
        let d = p.delay(1, &upstream(None)).unwrap();
        assert!(
            d >= Duration::from_millis(200) && d <= Duration::from_millis(400),
            "{d:?}"
        );
        assert_eq!(
            p.delay(2, &upstream(Some(500))),
            None,
            "retries are bounded"
        );
        assert_eq!(p.delay(0, &Error::Timeout("t".into())), None);
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let p = RetryPolicy::default();
        let limited = |s| Error::RateLimited {
            message: String::new(),
            retry_after: Some(Duration::from_secs(s)),
        };
        assert_eq!(p.delay(0, &limited(3)), Some(Duration::from_secs(3)));
        assert_eq!(
            p.delay(0, &limited(60)),
            None,
            "too long: try another target"
        );
    }
}
