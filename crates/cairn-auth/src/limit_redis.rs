//! Token buckets shared by every server process, in Redis (`[redis] url`): the same
//! semantics as [`MemoryLimiter`](crate::MemoryLimiter), with each operation one Lua
//! script, so an all-or-nothing acquire across a key's and a tenant's buckets is atomic
//! even when several servers ask at once. The clock is Redis's own (`TIME`), so nodes
//! whose clocks disagree still share one refill schedule.
//!
//! A bucket is a hash `{l: level, u: updated µs}` under `cairn:rl:<key>`, expiring when it
//! would have refilled to capacity (a full bucket and an absent one are the same), so
//! Redis holds only the buckets in use.
//!
//! When Redis cannot be reached, requests are admitted (a rate limiter must not take the
//! service down with it) and the failure is logged; `remaining` answers `None`.

use crate::limit::{Ask, Rate, RateLimiter, Verdict, sanitize_cost};
use crate::redis_pool::{RedisError, RedisPool};
use std::time::Duration;

/// The prefix of every bucket key in Redis.
const PREFIX: &str = "cairn:rl:";
/// Shared by the scripts: the bucket's level now (`level_at`).
const LEVEL_AT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function level_at(key, per_s, cap)
  local v = redis.call('HMGET', key, 'l', 'u')
  if not v[1] then return cap end
  local elapsed = math.max(0, now - tonumber(v[2])) / 1000000
  return math.min(tonumber(v[1]) + elapsed * per_s, cap)
end
local function store(key, level, per_s, cap)
  redis.call('HSET', key, 'l', string.format('%.17g', level), 'u', now)
  local ms = math.ceil((cap - level) / per_s * 1000) + 1000
  redis.call('PEXPIRE', key, math.min(ms, 31536000000))
end
";

/// KEYS: one per ask, in order (repeats allowed); ARGV: per ask `per_s cap cost usable`.
/// Returns `{1}` (taken) or `{0, wait_seconds, index_of_limiting_ask}`.
const ACQUIRE: &str = r"
local EPS, MIN_WAIT, MAX_WAIT, DENIED = 1e-9, 0.001, 31536000, 60
local scratch, rates = {}, {}
local worst, worst_i = -1, 0
for i = 1, #KEYS do
  local key = KEYS[i]
  local per_s, cap = tonumber(ARGV[4*i-3]), tonumber(ARGV[4*i-2])
  local cost, usable = tonumber(ARGV[4*i-1]), ARGV[4*i] == '1'
  local level = scratch[key]
  if level == nil then
    if usable then level = level_at(key, per_s, cap) else level = 0 end
  end
  local wait = nil
  if not usable then
    wait = DENIED
  elseif cost <= 0 then
    if level <= EPS then wait = math.min(math.max((0 - level) / per_s, MIN_WAIT), MAX_WAIT) end
  else
    local needed = math.min(cost, cap)
    if level < needed - EPS then
      wait = math.min(math.max((needed - level) / per_s, MIN_WAIT), MAX_WAIT)
    end
  end
  if wait ~= nil and wait > worst then worst, worst_i = wait, i end
  scratch[key] = level - cost
  rates[key] = {per_s, cap, usable}
end
if worst_i > 0 then return {0, string.format('%.17g', worst), worst_i} end
for key, level in pairs(scratch) do
  local r = rates[key]
  if r[3] then store(key, level, r[1], r[2]) end
end
return {1}
";

/// KEYS[1]; ARGV: `per_s cap cost`. Charges (or refunds) after the fact.
const CHARGE: &str = r"
local per_s, cap, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local level = math.min(level_at(KEYS[1], per_s, cap) - cost, cap)
store(KEYS[1], level, per_s, cap)
return 1
";

/// KEYS[1]; ARGV: `per_s cap`. The level now, as a string.
const REMAINING: &str = r"
return string.format('%.17g', level_at(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])))
";

/// Token buckets in Redis, shared by every process that points at the same server.
pub struct RedisLimiter {
    redis: RedisPool,
    acquire: redis::Script,
    charge: redis::Script,
    remaining: redis::Script,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter").finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Connects to `url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`) and checks the server
    /// answers, so a wrong URL stops the server at start rather than on a request.
    pub fn connect(url: &str) -> Result<RedisLimiter, RedisError> {
        Ok(RedisLimiter {
            redis: RedisPool::connect(url)?,
            acquire: redis::Script::new(&format!("{LEVEL_AT}{ACQUIRE}")),
            charge: redis::Script::new(&format!("{LEVEL_AT}{CHARGE}")),
            remaining: redis::Script::new(&format!("{LEVEL_AT}{REMAINING}")),
        })
    }

    fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        self.redis.with_connection(f)
    }

    fn warn(&self, what: &str, e: &redis::RedisError) {
        self.redis.warn(
            "rate limiter",
            what,
            "admitting requests until it answers",
            e,
        );
    }
}

impl RateLimiter for RedisLimiter {
    fn acquire(&self, asks: &[Ask]) -> Verdict {
        if asks.is_empty() {
            return Verdict::Allowed;
        }
        let mut invocation = self.acquire.prepare_invoke();
        for ask in asks {
            let usable = ask.rate.is_usable();
            invocation
                .key(format!("{PREFIX}{}", ask.key))
                .arg(if usable { ask.rate.per_second() } else { 0.0 })
                .arg(if usable { ask.rate.capacity() } else { 0.0 })
                .arg(sanitize_cost(ask.cost, ask.rate))
                .arg(if usable { "1" } else { "0" });
        }
        let reply: redis::RedisResult<Vec<redis::Value>> =
            self.with_connection(|c| invocation.invoke(c));
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                self.warn("acquire", &e);
                return Verdict::Allowed;
            }
        };
        let taken = matches!(reply.first(), Some(redis::Value::Int(1)));
        if taken {
            return Verdict::Allowed;
        }
        let wait = match reply.get(1) {
            Some(redis::Value::BulkString(b)) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(1.0),
            _ => 1.0,
        };
        let index = match reply.get(2) {
            Some(redis::Value::Int(i)) => usize::try_from(*i).unwrap_or(1),
            _ => 1,
        };
        let key = asks
            .get(index.saturating_sub(1))
            .map_or_else(String::new, |a| a.key.clone());
        Verdict::Limited {
            retry_after: Duration::from_secs_f64(wait.max(0.001)),
            key,
        }
    }

    fn charge(&self, key: &str, rate: Rate, cost: f64) {
        if !cost.is_finite() || cost == 0.0 || !rate.is_usable() {
            return;
        }
        let mut invocation = self.charge.prepare_invoke();
        invocation
            .key(format!("{PREFIX}{key}"))
            .arg(rate.per_second())
            .arg(rate.capacity())
            .arg(cost);
        if let Err(e) = self.with_connection(|c| invocation.invoke::<i64>(c)) {
            self.warn("charge", &e);
        }
    }

    fn remaining(&self, key: &str, rate: Rate) -> Option<f64> {
        if !rate.is_usable() {
            return Some(0.0);
        }
        let mut invocation = self.remaining.prepare_invoke();
        invocation
            .key(format!("{PREFIX}{key}"))
            .arg(rate.per_second())
            .arg(rate.capacity());
        match self.with_connection(|c| invocation.invoke::<String>(c)) {
            Ok(s) => s.parse().ok(),
            Err(e) => {
                self.warn("read", &e);
                None
            }
        }
    }
}
