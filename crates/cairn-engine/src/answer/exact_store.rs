//! Where the exact answer cache keeps its entries: this process's LRU, or, with
//! `[redis] url`, Redis, so every server answers a repeated question from the answer
//! any of them generated. The key (`cache::answer_cache_key`) already covers the tenant,
//! the caller's ACL view and the collection's change-log head, which every server reads
//! from the one shared store.
//!
//! In Redis an entry is the answer's JSON under `cairn:answer:<tenant>:<key>` with the
//! cache's TTL (`cache.ttl_secs`); Redis's own memory policy bounds the total, not
//! `cache.max_entries`. Redis is best-effort here: when it cannot be reached, a lookup is
//! a miss and a store is skipped, with an error logged at most every ten seconds.

use crate::Answer;
use crate::lru::Lru;
use cairn_auth::RedisPool;
use std::sync::OnceLock;
use std::time::Duration;

/// The prefix of every answer key in Redis.
const PREFIX: &str = "cairn:answer:";

pub(crate) struct ExactStore {
    local: Lru<String, Answer>,
    /// `[redis] url` (empty: the local LRU only).
    redis_url: String,
    /// Connected on first use (`None` inside: Redis was configured but unreachable then;
    /// a later store or lookup retries through the pool's own reconnects).
    redis: OnceLock<Option<RedisPool>>,
    ttl: Duration,
}

impl ExactStore {
    pub(crate) fn new(capacity: usize, ttl: Duration, redis_url: &str) -> Self {
        Self {
            local: Lru::new(capacity, Some(ttl)),
            redis_url: if capacity == 0 {
                String::new()
            } else {
                redis_url.to_owned()
            },
            redis: OnceLock::new(),
            ttl,
        }
    }

    fn redis(&self) -> Option<&RedisPool> {
        if self.redis_url.is_empty() {
            return None;
        }
        self.redis
            .get_or_init(|| match RedisPool::connect(&self.redis_url) {
                Ok(pool) => Some(pool),
                Err(e) => {
                    tracing::error!(error = %e, "answer cache: Redis unreachable; caching in this process only");
                    None
                }
            })
            .as_ref()
    }

    fn redis_key(tenant: &str, key: &str) -> String {
        format!("{PREFIX}{tenant}:{key}")
    }

    /// The cached answer under `key`, if any (and still fresh).
    pub(crate) fn get(&self, tenant: &str, key: &str) -> Option<Answer> {
        let Some(redis) = self.redis() else {
            return self.local.get(&key.to_owned());
        };
        let k = Self::redis_key(tenant, key);
        match redis.with_connection(|c| redis::cmd("GET").arg(&k).query::<Option<Vec<u8>>>(c)) {
            Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(answer) => Some(answer),
                Err(e) => {
                    tracing::warn!(error = %e, "answer cache: an entry in Redis does not decode; ignored");
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                redis.warn("answer cache", "lookup", "answering without the cache", &e);
                None
            }
        }
    }

    /// Caches `answer` under `key`.
    pub(crate) fn put(&self, tenant: &str, key: &str, answer: &Answer) {
        let Some(redis) = self.redis() else {
            self.local.put(key.to_owned(), answer.clone());
            return;
        };
        let Ok(bytes) = serde_json::to_vec(answer) else {
            return;
        };
        let k = Self::redis_key(tenant, key);
        let ttl = self.ttl.as_secs().max(1);
        if let Err(e) = redis.with_connection(|c| {
            redis::cmd("SET")
                .arg(&k)
                .arg(bytes)
                .arg("EX")
                .arg(ttl)
                .query::<()>(c)
        }) {
            redis.warn("answer cache", "store", "the answer is not cached", &e);
        }
    }
}
