//! Connections to the deployment's Redis (`[redis] url`), shared by what lives there: the
//! rate limiter's buckets and the exact answer cache. Synchronous connections with short
//! timeouts, a few kept idle for reuse; a connection that failed mid-call is dropped.
//! Callers treat Redis as best-effort and log failures through [`RedisPool::warn`],
//! which says so at most every ten seconds.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Connect, read and write timeout of one Redis call.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept for reuse.
const MAX_IDLE: usize = 8;
/// At most one warning per this interval.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Why Redis could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("redis.url: {0}")]
pub struct RedisError(pub(crate) String);

/// A small pool of connections to one Redis server.
pub struct RedisPool {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
    last_warning: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPool").finish_non_exhaustive()
    }
}

impl RedisPool {
    /// Connects to `url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`) and checks the server
    /// answers, so a wrong URL stops the server at start rather than on a request.
    pub fn connect(url: &str) -> Result<Self, RedisError> {
        let pool = Self::open(url)?;
        pool.with_connection(|c| redis::cmd("PING").query::<String>(c))
            .map_err(|e| RedisError(format!("cannot reach Redis: {e}")))?;
        Ok(pool)
    }

    /// A pool for `url` that connects on its first call (each call that finds Redis
    /// down fails on its own, and the next one tries again).
    pub fn open(url: &str) -> Result<Self, RedisError> {
        let client = redis::Client::open(url).map_err(|e| {
            RedisError(format!(
                "not a Redis URL ({e}); expected redis://[:PASSWORD@]HOST[:PORT][/DB]"
            ))
        })?;
        Ok(Self {
            client,
            idle: Mutex::new(Vec::new()),
            last_warning: Mutex::new(None),
        })
    }

    /// Runs `f` on a pooled (or new) connection.
    pub fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let c = self.client.get_connection_with_timeout(IO_TIMEOUT)?;
                c.set_read_timeout(Some(IO_TIMEOUT))?;
                c.set_write_timeout(Some(IO_TIMEOUT))?;
                c
            }
        };
        let out = f(&mut conn);
        // A connection that failed mid-call may be out of step: never reuse it.
        if out.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        out
    }

    /// Logs a failed call (`who` and `what` name it, `then` says what happens instead),
    /// at most once per ten seconds.
    pub fn warn(&self, who: &str, what: &str, then: &str, e: &redis::RedisError) {
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            tracing::error!(error = %e, "{who}: Redis {what} failed; {then}");
        }
    }
}
