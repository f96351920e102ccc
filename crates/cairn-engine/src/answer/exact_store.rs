//! Where the exact caches keep their entries (grounded answers, and the gateway's chat
//! completions): this process's LRU, or, with `[redis] url`, Redis, so every server
//! answers a repeated request from what any of them generated. The caller's key already
//! covers the tenant, the caller's ACL view and (for answers) the collection's change-log
//! head, which every server reads from the one shared store.
//!
//! In Redis an entry is the value's JSON under `cairn:<kind>:<tenant>:<key>` with the
//! cache's TTL (`cache.ttl_secs`); Redis's own memory policy bounds the total, not
//! `cache.max_entries`. Redis is best-effort here: when it cannot be reached, a lookup is
//! a miss and a store is skipped, with an error logged at most every ten seconds.

use crate::lru::Lru;
use cairn_auth::RedisPool;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Exact-cache entries of one kind, in this process or in Redis.
pub struct ExactStore<V> {
    /// `cairn:<kind>:`, the prefix of its keys in Redis.
    prefix: String,
    local: Lru<String, V>,
    /// With `[redis] url`: the shared store (connected on use; a call that finds Redis
    /// down is a miss, the next one tries again).
    redis: Option<RedisPool>,
    ttl: Duration,
}

impl<V: Clone + Serialize + DeserializeOwned> ExactStore<V> {
    /// A store of `kind` entries (`answer`, `chat`); `capacity` 0 turns it off.
    pub fn new(kind: &str, capacity: usize, ttl: Duration, redis_url: &str) -> Self {
        let redis = (capacity > 0 && !redis_url.is_empty())
            .then(|| RedisPool::open(redis_url))
            .and_then(|opened| {
                opened
                    .map_err(|e| {
                        tracing::error!(error = %e, kind, "exact cache: caching in this process only");
                    })
                    .ok()
            });
        Self {
            prefix: format!("cairn:{kind}:"),
            local: Lru::new(capacity, Some(ttl)),
            redis,
            ttl,
        }
    }

    fn redis_key(&self, tenant: &str, key: &str) -> String {
        format!("{}{tenant}:{key}", self.prefix)
    }

    /// The entry under `key` of `tenant`, if any (and still fresh).
    pub fn get(&self, tenant: &str, key: &str) -> Option<V> {
        if self.local.capacity() == 0 {
            return None;
        }
        let Some(redis) = &self.redis else {
            return self.local.get(&key.to_owned());
        };
        let k = self.redis_key(tenant, key);
        match redis.with_connection(|c| redis::cmd("GET").arg(&k).query::<Option<Vec<u8>>>(c)) {
            Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(value) => Some(value),
                Err(e) => {
                    tracing::warn!(error = %e, key = %k, "exact cache: an entry in Redis does not decode; ignored");
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                redis.warn("exact cache", "lookup", "answering without the cache", &e);
                None
            }
        }
    }

    /// Caches `value` under `key` of `tenant`.
    pub fn put(&self, tenant: &str, key: &str, value: &V) {
        if self.local.capacity() == 0 {
            return;
        }
        let Some(redis) = &self.redis else {
            self.local.put(key.to_owned(), value.clone());
            return;
        };
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        let k = self.redis_key(tenant, key);
        let ttl = self.ttl.as_secs().max(1);
        if let Err(e) = redis.with_connection(|c| {
            redis::cmd("SET")
                .arg(&k)
                .arg(bytes)
                .arg("EX")
                .arg(ttl)
                .query::<()>(c)
        }) {
            redis.warn("exact cache", "store", "the entry is not cached", &e);
        }
    }
}
